//! Step 1: demands cut into pieces no larger than a truck, packed into visits per store.

use std::collections::HashMap;

use crate::places::{GeoPoint, Stores};

use super::{Demand, Piece, Unassigned, assemble::unassigned_of};

/// A visit: pieces for one store, at most one truckload.
#[derive(Debug, Clone)]
pub(super) struct Visit {
    /// Index into [`Visits::stores`].
    pub(super) store: usize,
    pub(super) pieces: Vec<Piece>,
    /// Units of all its pieces.
    pub(super) load: i64,
}

/// A batch's visits, with the stores they go to in the order stores first appear.
pub(super) struct Visits {
    pub(super) stores: Vec<(String, GeoPoint)>,
    pub(super) visits: Vec<Visit>,
}

impl Visits {
    /// Cuts each demand to `cap` (the largest truck of the fleet) and packs each store's pieces
    /// into visits. A demand with no store location, or with no free truck (`free_room` 0),
    /// goes to `unassigned` with its reason; pieces dispatched earlier are left out.
    pub(super) fn of(
        demands: &[Demand],
        stores: &Stores,
        cap: i64,
        free_room: i64,
        unassigned: &mut Vec<Unassigned>,
    ) -> Self {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut points: Vec<(String, GeoPoint)> = Vec::new();
        let mut pieces_of: Vec<Vec<Piece>> = Vec::new();
        for d in demands {
            if d.quantity <= 0 {
                continue;
            }
            let Some(site) = stores.get(&d.store_id) else {
                unassigned.push(unassigned_of(
                    d,
                    format!("no location for store `{}` in the store list", d.store_id),
                ));
                continue;
            };
            if free_room == 0 {
                unassigned.push(unassigned_of(d, "no truck is free".into()));
                continue;
            }
            let i = *index.entry(d.store_id.as_str()).or_insert_with(|| {
                points.push((d.store_id.clone(), site.point()));
                pieces_of.push(Vec::new());
                points.len() - 1
            });
            pieces_of[i].extend(
                split_demand(d, cap)
                    .into_iter()
                    .filter(|piece| !d.dispatched_pieces.contains(&piece.piece)),
            );
        }
        let visits = pieces_of
            .into_iter()
            .enumerate()
            .flat_map(|(store, pieces)| pack(store, pieces, cap))
            .collect();
        Self {
            stores: points,
            visits,
        }
    }

    /// Where a visit goes.
    pub(super) fn point_of(&self, visit: &Visit) -> GeoPoint {
        self.stores[visit.store].1
    }

    /// The id of the store a visit goes to.
    pub(super) fn store_id_of(&self, visit: &Visit) -> &str {
        &self.stores[visit.store].0
    }
}

/// First-fit decreasing: one store's pieces into visits of at most `cap` units.
fn pack(store: usize, mut pieces: Vec<Piece>, cap: i64) -> Vec<Visit> {
    pieces.sort_by(|a, b| {
        b.quantity
            .cmp(&a.quantity)
            .then(a.demand_id.cmp(&b.demand_id))
    });
    let mut bins: Vec<Visit> = Vec::new();
    for piece in pieces {
        match bins.iter_mut().find(|b| b.load + piece.quantity <= cap) {
            Some(b) => {
                b.load += piece.quantity;
                b.pieces.push(piece);
            }
            None => bins.push(Visit {
                store,
                load: piece.quantity,
                pieces: vec![piece],
            }),
        }
    }
    bins
}

/// Cuts a demand into near-equal pieces no larger than `cap`.
pub fn split_demand(demand: &Demand, cap: i64) -> Vec<Piece> {
    let n = ((demand.quantity + cap - 1) / cap).max(1);
    let (base, extra) = (demand.quantity / n, demand.quantity % n);
    (0..n)
        .map(|k| Piece {
            demand_id: demand.demand_id.clone(),
            piece: (k + 1) as u32,
            pieces: n as u32,
            quantity: base + i64::from(k < extra),
        })
        .collect()
}
