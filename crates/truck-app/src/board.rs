//! The fleet board: every truck, its latest trip, and each stop's status, as text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use store_model::dispatch::{clock, clock_near};
use store_model::places::{Fleet, Stores};
use store_model::planning::printable;
use store_model::routing::Route;
use store_model::{Delivery, Dispatch};

/// One trip of a truck, rebuilt from its dispatches.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip<'a> {
    /// The route id (`<truck>@<departure>`).
    pub route_id: &'a str,
    /// The truck.
    pub truck_id: &'a str,
    /// Its depot.
    pub depot_id: &'a str,
    /// Departure, epoch seconds.
    pub departed: i64,
    /// Back at the depot, epoch seconds.
    pub back_at: i64,
    /// Stops in order; each holds the dispatches unloaded there.
    pub stops: Vec<Vec<&'a Dispatch>>,
}

impl Trip<'_> {
    /// Units carried.
    pub fn load(&self) -> i64 {
        self.stops.iter().flatten().map(|d| d.quantity).sum()
    }

    /// km of the trip, back to the depot included.
    pub fn km(&self) -> f64 {
        self.stops
            .iter()
            .flatten()
            .map(|d| d.route_km)
            .next()
            .unwrap_or(0.0)
    }
}

/// Groups dispatches into trips, oldest first.
pub fn trips(dispatches: &[Dispatch]) -> Vec<Trip<'_>> {
    let mut by_route: BTreeMap<(i64, &str), Trip<'_>> = BTreeMap::new();
    for d in dispatches {
        let trip = by_route
            .entry((d.dispatched_at, d.route_id.as_str()))
            .or_insert_with(|| Trip {
                route_id: &d.route_id,
                truck_id: &d.truck_id,
                depot_id: &d.depot_id,
                departed: d.dispatched_at,
                back_at: d.truck_back_at,
                stops: Vec::new(),
            });
        let i = d.stop.max(1) as usize - 1;
        if trip.stops.len() <= i {
            trip.stops.resize(i + 1, Vec::new());
        }
        trip.stops[i].push(d);
    }
    by_route.into_values().collect()
}

/// When each dispatch was delivered, by dispatch id.
pub fn delivered_at(deliveries: &[Delivery]) -> HashMap<&str, i64> {
    deliveries
        .iter()
        .map(|d| (d.dispatch_id.as_str(), d.delivered_at))
        .collect()
}

/// The board at `now`: each truck with its latest trip and each stop's status.
pub fn render(
    fleet: &Fleet,
    stores: &Stores,
    dispatches: &[Dispatch],
    deliveries: &[Delivery],
    now: i64,
) -> String {
    let delivered = delivered_at(deliveries);
    let all = trips(dispatches);
    let mut latest: HashMap<&str, &Trip<'_>> = HashMap::new();
    for t in &all {
        latest.insert(t.truck_id, t);
    }
    let mut out = format!("Fleet at {} UTC\n", clock_near(now, now + 86_400));
    for truck in &fleet.trucks {
        let depot = fleet
            .depot(&truck.depot_id)
            .map_or(truck.depot_id.as_str(), |d| d.name.as_str());
        let Some(trip) = latest.get(truck.truck_id.as_str()) else {
            let _ = writeln!(out, "{:<9} at {depot}, no trip yet", truck.truck_id);
            continue;
        };
        let state = if trip.back_at > now {
            format!("on the road, back {}", clock_near(trip.back_at, now))
        } else {
            format!("back at {depot} since {}", clock_near(trip.back_at, now))
        };
        let _ = writeln!(
            out,
            "{:<9} {state}; trip left {} with {}/{} units, {} stop(s), {:.1} km",
            truck.truck_id,
            clock_near(trip.departed, now),
            trip.load(),
            truck.capacity,
            trip.stops.len(),
            trip.km()
        );
        for (i, stop) in trip.stops.iter().enumerate() {
            let Some(first) = stop.first() else { continue };
            let name = stores.get(&first.store_id).map_or("", |s| s.name.as_str());
            let units: i64 = stop.iter().map(|d| d.quantity).sum();
            let status = match delivered.get(first.dispatch_id.as_str()) {
                Some(at) => format!("delivered {}", clock_near(*at, now)),
                None if first.eta <= now => "arriving".to_owned(),
                None => format!("ETA {}", clock_near(first.eta, now)),
            };
            let _ = writeln!(
                out,
                "   {:>2}. {:<9} {:<24} {:>5.1} km {:>4} u  {status}",
                i + 1,
                printable(&first.store_id),
                printable(name),
                first.leg_km,
                units,
            );
        }
    }
    out
}

/// The line shown when a truck leaves.
pub fn departure_line(route: &Route, fleet: &Fleet, time_scale: f64, departed: i64) -> String {
    let depot = fleet
        .depot(&route.depot_id)
        .map_or(route.depot_id.as_str(), |d| d.name.as_str());
    let back = departed + (route.duration_s as f64 / time_scale).round() as i64;
    format!(
        "🛣  {} leaves {depot}: {} stop(s), {:.1} km, {}/{} units, back {}",
        route.truck_id,
        route.stops.len(),
        route.distance_km,
        route.load,
        route.capacity,
        clock(back)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_model::ConfigFile;

    fn dispatch(id: &str, truck: &str, stop: u32, eta: i64) -> Dispatch {
        Dispatch {
            dispatch_id: id.into(),
            alert_id: id.into(),
            store_id: format!("STORE_{stop}"),
            product_id: "PRD_1".into(),
            product_name: "Rau cải".into(),
            quantity: 10 * i64::from(stop),
            truck_id: truck.into(),
            route_id: format!("{truck}@0"),
            depot_id: "DEPOT_TAN_THUAN".into(),
            stop,
            leg_km: 2.0,
            route_km: 7.5,
            eta,
            truck_back_at: 3000,
            planned_at: 0,
            dispatched_at: 0,
        }
    }

    #[test]
    fn the_board_shows_each_truck_its_stops_and_their_status() {
        let fleet = Fleet::shipped();
        let stores = Stores::shipped();
        let dispatches = vec![
            dispatch("a", "TRUCK_1", 1, 600),
            dispatch("b", "TRUCK_1", 2, 1200),
        ];
        let delivered = vec![dispatches[0].delivered(600)];
        let board = render(&fleet, &stores, &dispatches, &delivered, 900);
        assert!(board.contains("TRUCK_1   on the road, back 00:50:00; trip left 00:00:00 with 30/400 units, 2 stop(s), 7.5 km"), "{board}");
        assert!(board.contains("1. STORE_1   Bến Thành (Quận 1)"), "{board}");
        assert!(board.contains("delivered 00:10:00"), "{board}");
        assert!(board.contains("ETA 00:20:00"), "{board}");
        assert!(
            board.contains("TRUCK_2   at Kho Tân Bình, no trip yet"),
            "{board}"
        );
        // Times on another day than now carry their date.
        let next_day = render(&fleet, &stores, &dispatches, &delivered, 86_400 + 10);
        assert!(next_day.contains("since 1970-01-01 00:50:00"), "{next_day}");
        let later = render(&fleet, &stores, &dispatches, &delivered, 4000);
        assert!(
            later.contains("back at Kho Tân Thuận (Quận 7) since 00:50:00"),
            "{later}"
        );
    }
}
