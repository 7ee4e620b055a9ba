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
            let pieces = match split_demand(d, cap) {
                Ok(pieces) => pieces,
                Err(reason) => {
                    unassigned.push(unassigned_of(d, reason));
                    continue;
                }
            };
            pieces_of[i].extend(
                pieces
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

/// First-fit decreasing: one store's pieces into visits of at most `cap` units. Each piece goes
/// to the first visit with room for it, found in O(log n) through a tree of the visits' room,
/// so packing is O(n log n) in the pieces however many there are.
fn pack(store: usize, mut pieces: Vec<Piece>, cap: i64) -> Vec<Visit> {
    pieces.sort_by(|a, b| {
        b.quantity
            .cmp(&a.quantity)
            .then(a.demand_id.cmp(&b.demand_id))
    });
    let mut room = RoomTree::new(pieces.len());
    let mut bins: Vec<Visit> = Vec::new();
    for piece in pieces {
        match room.first_with(piece.quantity) {
            Some(i) if i < bins.len() => {
                let b = &mut bins[i];
                b.load += piece.quantity;
                b.pieces.push(piece);
                room.set(i, cap - b.load);
            }
            _ => {
                room.set(bins.len(), cap - piece.quantity);
                bins.push(Visit {
                    store,
                    load: piece.quantity,
                    pieces: vec![piece],
                });
            }
        }
    }
    bins
}

/// The room left in each visit, as a tree of maxima: the first visit with room for a load is
/// found by walking down from the root. Visits not opened yet have no room.
struct RoomTree {
    /// Leaves from `size`; node `k` holds the largest room below it.
    max: Vec<i64>,
    size: usize,
}

impl RoomTree {
    fn new(n: usize) -> Self {
        let size = n.max(1).next_power_of_two();
        Self {
            max: vec![i64::MIN; 2 * size],
            size,
        }
    }

    fn set(&mut self, i: usize, room: i64) {
        let mut k = self.size + i;
        self.max[k] = room;
        while k > 1 {
            k /= 2;
            self.max[k] = self.max[2 * k].max(self.max[2 * k + 1]);
        }
    }

    /// The first visit with at least `load` units of room.
    fn first_with(&self, load: i64) -> Option<usize> {
        if self.max[1] < load {
            return None;
        }
        let mut k = 1;
        while k < self.size {
            k = if self.max[2 * k] >= load {
                2 * k
            } else {
                2 * k + 1
            };
        }
        Some(k - self.size)
    }
}

/// The most pieces (truckloads) one demand may be cut into. An alert needing more is refused
/// with the reason rather than cut: the largest order the policy allows (`max_order_qty`) is
/// far below this times any real truck, and a bound keeps one record from holding the fleet.
pub const MAX_PIECES_PER_DEMAND: i64 = 100;

/// Cuts a demand into near-equal pieces no larger than `cap`; a demand that would need more
/// than [`MAX_PIECES_PER_DEMAND`] pieces is refused with the reason (nothing is allocated for
/// it).
pub fn split_demand(demand: &Demand, cap: i64) -> Result<Vec<Piece>, String> {
    let cap = cap.max(1);
    let n = (demand.quantity.max(0) / cap + i64::from(demand.quantity % cap > 0)).max(1);
    if n > MAX_PIECES_PER_DEMAND {
        return Err(format!(
            "{} units need {n} truckloads of at most {cap}; one order may fill at most {MAX_PIECES_PER_DEMAND} (lower the policy's max_order_qty, or split the order)",
            demand.quantity
        ));
    }
    let (base, extra) = (demand.quantity / n, demand.quantity % n);
    Ok((0..n)
        .map(|k| Piece {
            demand_id: demand.demand_id.clone(),
            piece: (k + 1) as u32,
            pieces: n as u32,
            quantity: base + i64::from(k < extra),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// First-fit decreasing by a scan of every open visit: the rule `pack` must keep.
    fn pack_by_scan(mut pieces: Vec<Piece>, cap: i64) -> Vec<Vec<Piece>> {
        pieces.sort_by(|a, b| {
            b.quantity
                .cmp(&a.quantity)
                .then(a.demand_id.cmp(&b.demand_id))
        });
        let mut bins: Vec<(i64, Vec<Piece>)> = Vec::new();
        for piece in pieces {
            match bins
                .iter_mut()
                .find(|(load, _)| load + piece.quantity <= cap)
            {
                Some((load, b)) => {
                    *load += piece.quantity;
                    b.push(piece);
                }
                None => bins.push((piece.quantity, vec![piece])),
            }
        }
        bins.into_iter().map(|(_, b)| b).collect()
    }

    proptest! {
        #[test]
        fn packing_is_first_fit_decreasing(
            sizes in proptest::collection::vec(1_i64..=50, 0..300),
            cap in 50_i64..=120,
        ) {
            let pieces: Vec<Piece> = sizes
                .iter()
                .enumerate()
                .map(|(i, &q)| Piece {
                    demand_id: format!("d{i:03}"),
                    piece: 1,
                    pieces: 1,
                    quantity: q,
                })
                .collect();
            let got: Vec<Vec<Piece>> = pack(0, pieces.clone(), cap)
                .into_iter()
                .map(|v| {
                    assert_eq!(v.load, v.pieces.iter().map(|p| p.quantity).sum::<i64>());
                    assert!(v.load <= cap);
                    v.pieces
                })
                .collect();
            prop_assert_eq!(got, pack_by_scan(pieces, cap));
        }
    }
}
