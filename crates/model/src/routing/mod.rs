//! Dispatch planning: from a batch of restock demands to truck routes.
//!
//! 1. **Split.** A demand larger than the biggest truck is cut into near-equal pieces that each
//!    fit; the pieces depend only on the demand and the fleet, so their ids are stable when the
//!    same alert is planned again. A store's pieces are packed into visits (first-fit
//!    decreasing), each at most one truckload.
//! 2. **Construct.** Clarke-Wright savings per depot (each visit goes to its nearest depot), then
//!    routes are matched to the depot's free trucks, largest load to largest truck; what does not
//!    fit is inserted where it costs least, in any truck with room.
//! 3. **Improve.** Local search over granular neighbourhoods (each visit's nearest visits):
//!    relocate a visit or a pair of visits (also reversed), swap visits, 2-opt within a route and
//!    2-opt* between routes, to a local optimum; then an iterated ruin-and-recreate (remove a
//!    cluster of nearby visits, reinsert each at its cheapest place, search again), accepting by
//!    record-to-record travel, for a bounded number of rounds.
//!
//! Everything is deterministic: the same input and options give the same routes. Distances are
//! great-circle km; times are distance over the truck's speed plus the service time per stop.

mod assemble;
mod construct;
mod moves;
mod problem;
mod ruin;
mod search;
mod split;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::places::{Fleet, GeoPoint, Stores, Truck};

pub use assemble::MAX_ROUTE_SECONDS;
pub use problem::{Problem, Solution, Vehicle};
use split::Visits;
pub use split::{MAX_PIECES_PER_DEMAND, split_demand};

/// Units a store needs for one alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demand {
    /// The alert id.
    pub demand_id: String,
    /// Store to deliver to.
    pub store_id: String,
    /// Units to deliver.
    pub quantity: i64,
    /// Numbers of the pieces already dispatched (by an earlier batch), left out now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dispatched_pieces: Vec<u32>,
}

/// A demand, or one piece of a demand cut to fit a truck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// The demand (alert) id.
    pub demand_id: String,
    /// 1-based piece number.
    pub piece: u32,
    /// How many pieces the demand was cut into.
    pub pieces: u32,
    /// Units in this piece.
    pub quantity: i64,
}

impl Piece {
    /// The dispatch id: the alert id for a whole demand, `<alert id>~<k>of<n>` for a piece.
    pub fn dispatch_id(&self) -> String {
        if self.pieces == 1 {
            self.demand_id.clone()
        } else {
            format!("{}~{}of{}", self.demand_id, self.piece, self.pieces)
        }
    }

    /// The alert id, piece number and piece count a dispatch id names (the inverse of
    /// [`Piece::dispatch_id`]); an error for an id it could not have made.
    pub fn parse_dispatch_id(id: &str) -> Result<(&str, u32, u32), String> {
        let Some((alert, piece)) = id.rsplit_once('~') else {
            return Ok((id, 1, 1));
        };
        let parsed = piece
            .split_once("of")
            .and_then(|(k, n)| Some((k.parse::<u32>().ok()?, n.parse::<u32>().ok()?)))
            .filter(|&(k, n)| n >= 2 && (1..=n).contains(&k) && !alert.is_empty());
        match parsed {
            Some((k, n)) if format!("{k}of{n}") == piece => Ok((alert, k, n)),
            _ => Err(format!(
                "`{}` is not a dispatch id (`<alert id>` or `<alert id>~<k>of<n>`)",
                crate::text::printable(id)
            )),
        }
    }
}

/// One stop of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    /// Store visited.
    pub store_id: String,
    /// What is unloaded there.
    pub pieces: Vec<Piece>,
    /// Units unloaded.
    pub load: i64,
    /// km from the previous stop (or the depot).
    pub leg_km: f64,
    /// Seconds from departure to arrival at this stop.
    pub arrive_after_s: i64,
}

/// A truck's route: depot, stops, depot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// The truck.
    pub truck_id: String,
    /// Where it starts and ends.
    pub depot_id: String,
    /// Stops in order.
    pub stops: Vec<Stop>,
    /// Units loaded.
    pub load: i64,
    /// The truck's capacity.
    pub capacity: i64,
    /// Total km, back to the depot included.
    pub distance_km: f64,
    /// Seconds from departure until the truck is back at its depot.
    pub duration_s: i64,
}

/// A demand that could not be put on a truck, and why. It stays queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unassigned {
    /// The demand (alert) id.
    pub demand_id: String,
    /// Its store.
    pub store_id: String,
    /// Units not assigned.
    pub quantity: i64,
    /// Why no truck took it, for the operator (e.g. no free truck has room).
    pub reason: String,
}

/// Routes for a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutePlan {
    /// One route per truck used.
    pub routes: Vec<Route>,
    /// Demands left for a later batch.
    pub unassigned: Vec<Unassigned>,
}

impl RoutePlan {
    /// Total km of every route.
    pub fn total_km(&self) -> f64 {
        self.routes.iter().map(|r| r.distance_km).sum()
    }
}

/// How hard the improvement phase works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingOptions {
    /// Ruin-and-recreate rounds after the first local optimum.
    pub rounds: usize,
    /// Neighbours considered per visit by the local search.
    pub neighbours: usize,
    /// Seed of the ruin choices.
    pub seed: u64,
}

impl Default for RoutingOptions {
    fn default() -> Self {
        Self {
            rounds: 300,
            neighbours: 16,
            seed: 0x5eed,
        }
    }
}

/// Plans routes for the demands with the given trucks (the free ones; each makes one trip).
///
/// Demands are cut to the largest truck of the whole fleet, not of the free trucks, so an
/// alert is cut the same way whichever trucks happen to be free: a piece's id never changes
/// between batches, and a piece already dispatched is never sent again.
pub fn plan_routes(
    fleet: &Fleet,
    trucks: &[Truck],
    stores: &Stores,
    demands: &[Demand],
    options: &RoutingOptions,
) -> RoutePlan {
    let mut unassigned = Vec::new();
    let free_room = trucks.iter().map(|t| t.capacity).max().unwrap_or(0);
    let batch = Visits::of(
        demands,
        stores,
        fleet.max_capacity(),
        free_room,
        &mut unassigned,
    );
    if batch.visits.is_empty() {
        return RoutePlan {
            routes: Vec::new(),
            unassigned,
        };
    }
    let vehicles: Vec<Vehicle> = trucks
        .iter()
        .filter_map(|t| {
            fleet.depot(&t.depot_id).map(|d| Vehicle {
                depot: d.point(),
                capacity: t.capacity,
            })
        })
        .collect();
    let points: Vec<GeoPoint> = batch.visits.iter().map(|v| batch.point_of(v)).collect();
    let loads: Vec<i64> = batch.visits.iter().map(|v| v.load).collect();
    let problem = Problem::new(&vehicles, &points, &loads);
    let solution = problem.solve(options);
    let routes = assemble::routes(&problem, &solution, &batch, fleet, trucks);
    unassigned.extend(assemble::unrouted(&solution, &batch, trucks));
    RoutePlan { routes, unassigned }
}
