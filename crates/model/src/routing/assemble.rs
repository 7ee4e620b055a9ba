//! From the solver's node indices back to routes and reasons people can read.

use crate::places::{Fleet, Truck};

use super::problem::{Problem, Solution};
use super::split::Visits;
use super::{Demand, Route, Stop, Unassigned};

/// One route per vehicle the solution uses, with legs, arrival times and loads.
pub(super) fn routes(
    problem: &Problem,
    solution: &Solution,
    batch: &Visits,
    fleet: &Fleet,
    trucks: &[Truck],
) -> Vec<Route> {
    let service_s = fleet.service_minutes * 60.0;
    solution
        .routes
        .iter()
        .enumerate()
        .filter(|(_, nodes)| !nodes.is_empty())
        .map(|(vehicle, nodes)| {
            let truck = &trucks[vehicle];
            let speed_m_per_s = truck.speed_kmh / 3.6;
            let depot = problem.depot_index(vehicle);
            let (mut at, mut t, mut km) = (depot, 0.0_f64, 0.0_f64);
            let mut stops = Vec::with_capacity(nodes.len());
            for &n in nodes {
                let visit = &batch.visits[n];
                let leg = problem.distance(at, problem.node_index(n));
                km += leg;
                t += leg * 1000.0 / speed_m_per_s;
                stops.push(Stop {
                    store_id: batch.store_id_of(visit).to_owned(),
                    pieces: visit.pieces.clone(),
                    load: visit.load,
                    leg_km: round3(leg),
                    arrive_after_s: whole_seconds(t),
                });
                t += service_s;
                at = problem.node_index(n);
            }
            let back = problem.distance(at, depot);
            Route {
                truck_id: truck.truck_id.clone(),
                depot_id: truck.depot_id.clone(),
                load: stops.iter().map(|s| s.load).sum(),
                capacity: truck.capacity,
                stops,
                distance_km: round3(km + back),
                duration_s: whole_seconds(t + back * 1000.0 / speed_m_per_s),
            }
        })
        .collect()
}

/// The pieces of the visits no vehicle could take, with the batch's size against the room.
pub(super) fn unrouted(solution: &Solution, batch: &Visits, trucks: &[Truck]) -> Vec<Unassigned> {
    let room: i64 = trucks.iter().map(|t| t.capacity).sum();
    let needed: i64 = batch.visits.iter().map(|v| v.load).sum();
    let reason = format!(
        "no free truck has room: the batch needs {needed} units, the {} free truck(s) carry {room}",
        trucks.len()
    );
    solution
        .unrouted
        .iter()
        .flat_map(|&n| {
            let visit = &batch.visits[n];
            visit.pieces.iter().map(|piece| Unassigned {
                demand_id: piece.demand_id.clone(),
                store_id: batch.store_id_of(visit).to_owned(),
                quantity: piece.quantity,
                reason: reason.clone(),
            })
        })
        .collect()
}

/// A demand left out whole, with why.
pub(super) fn unassigned_of(d: &Demand, reason: String) -> Unassigned {
    Unassigned {
        demand_id: d.demand_id.clone(),
        store_id: d.store_id.clone(),
        quantity: d.quantity,
        reason,
    }
}

/// Seconds as a whole number, never past [`MAX_ROUTE_SECONDS`]: the fleet's ranges keep every
/// route far below it (the longest leg on Earth at the slowest speed is under a month), and a
/// float that still got there must not wrap the clock when added to a departure time.
fn whole_seconds(s: f64) -> i64 {
    if s.is_nan() {
        return MAX_ROUTE_SECONDS;
    }
    s.round().clamp(0.0, MAX_ROUTE_SECONDS as f64) as i64
}

/// The longest a route may take, in seconds: a year.
pub const MAX_ROUTE_SECONDS: i64 = 365 * 24 * 3600;

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
