//! Truck dispatches and deliveries: what the truck app records in the ledger.
//!
//! A dispatch is one alert (or one piece of an alert too big for a truck) on one stop of one
//! route. It is recorded under a key derived from its dispatch id with create-if-absent
//! semantics, so an alert delivered twice by the queue (or re-read after a crash between
//! recording and deleting) can never produce a second truck. A delivery is recorded the same way
//! when the truck reaches the stop.
//!
//! A truck's trip is claimed first: trip `n + 1` of a truck is created only if absent, so when two
//! dispatchers pick the same free truck at once, one of them finds the other's trip and re-plans
//! without that truck. The trip carries its dispatches, so a dispatcher that stops between the
//! claim and the dispatch records leaves enough behind for the next one to finish recording them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::lake::{DELIVERIES_PREFIX, DISPATCHES_PREFIX, TRIPS_PREFIX, ledger_object_key};
use crate::planning::{Alert, printable};
use crate::routing::Route;

/// One alert, or one piece of it, put on a truck.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// The alert id, or `<alert id>~<k>of<n>` for a piece.
    pub dispatch_id: String,
    /// The alert this dispatch answers.
    pub alert_id: String,
    /// Store to deliver to.
    pub store_id: String,
    /// Product to deliver.
    pub product_id: String,
    /// Product name, for people.
    pub product_name: String,
    /// Units loaded.
    pub quantity: i64,
    /// The truck carrying it.
    pub truck_id: String,
    /// The route (truck trip) it rides on.
    pub route_id: String,
    /// The truck's depot.
    pub depot_id: String,
    /// Position of the store on the route, from 1.
    pub stop: u32,
    /// km from the previous stop (or the depot) to this one.
    pub leg_km: f64,
    /// km of the whole trip, back to the depot included.
    pub route_km: f64,
    /// Expected arrival at the store, epoch seconds.
    pub eta: i64,
    /// When the truck is expected back at its depot, free for the next trip.
    pub truck_back_at: i64,
    /// When the alert was planned (fixes the ledger partition, so the key is known up front).
    pub planned_at: i64,
    /// When the truck left, epoch seconds.
    pub dispatched_at: i64,
}

impl Dispatch {
    /// The dispatches of a planned route leaving at `departed`: one per piece on each stop.
    /// `time_scale` divides every duration (1 is real time; a demo runs faster).
    pub fn for_route(
        route: &Route,
        alerts: &HashMap<&str, &Alert>,
        departed: i64,
        time_scale: f64,
    ) -> Vec<Self> {
        let route_id = route_id(&route.truck_id, departed);
        let back = after(departed, route.duration_s, time_scale);
        let mut out = Vec::new();
        for (i, stop) in route.stops.iter().enumerate() {
            for piece in &stop.pieces {
                let Some(alert) = alerts.get(piece.demand_id.as_str()) else {
                    continue;
                };
                out.push(Self {
                    dispatch_id: piece.dispatch_id(),
                    alert_id: alert.alert_id.clone(),
                    store_id: alert.store_id.clone(),
                    product_id: alert.product_id.clone(),
                    product_name: alert.product_name.clone(),
                    quantity: piece.quantity,
                    truck_id: route.truck_id.clone(),
                    route_id: route_id.clone(),
                    depot_id: route.depot_id.clone(),
                    stop: (i + 1) as u32,
                    leg_km: stop.leg_km,
                    route_km: route.distance_km,
                    eta: after(departed, stop.arrive_after_s, time_scale),
                    truck_back_at: back,
                    planned_at: alert.planned_at,
                    dispatched_at: departed,
                });
            }
        }
        out
    }

    /// The ledger key of a dispatch.
    pub fn ledger_key(dispatch_id: &str, planned_at: i64) -> String {
        ledger_object_key(DISPATCHES_PREFIX, planned_at, dispatch_id)
    }

    /// The human line shown when the dispatch happens.
    pub fn human_line(&self) -> String {
        format!(
            "🚚 {} dispatched to {} with {} x '{}' (stop {}, ETA {})",
            self.truck_id,
            printable(&self.store_id),
            self.quantity,
            printable(&self.product_name),
            self.stop,
            clock(self.eta)
        )
    }

    /// The delivery of this dispatch, arriving at `delivered_at`.
    pub fn delivered(&self, delivered_at: i64) -> Delivery {
        Delivery {
            dispatch_id: self.dispatch_id.clone(),
            alert_id: self.alert_id.clone(),
            store_id: self.store_id.clone(),
            product_id: self.product_id.clone(),
            quantity: self.quantity,
            truck_id: self.truck_id.clone(),
            planned_at: self.planned_at,
            delivered_at,
        }
    }
}

/// The time `seconds` of route time after `departed`, the route's time divided by `time_scale`
/// (at least 1). Route times are within a year (the fleet's ranges); the sum saturates rather
/// than wrapping whatever a caller passes, so no time is ever before the departure.
fn after(departed: i64, seconds: i64, time_scale: f64) -> i64 {
    let scale = if time_scale >= 1.0 { time_scale } else { 1.0 };
    departed.saturating_add((seconds.max(0) as f64 / scale).round() as i64)
}

/// One trip of one truck: from its depot, along its stops, and back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// The truck.
    pub truck_id: String,
    /// The truck's trip number, from 1: trip `n + 1` can only be claimed by one dispatcher.
    pub trip: u64,
    /// The route id its dispatches carry.
    pub route_id: String,
    /// When the truck left its depot, epoch seconds.
    pub departed: i64,
    /// When it is expected back, free for the next trip.
    pub back_at: i64,
    /// What it carries, one dispatch per piece, in stop order.
    pub dispatches: Vec<Dispatch>,
}

impl Trip {
    /// Trip number `trip` of a planned route leaving at `departed`.
    pub fn for_route(
        route: &Route,
        trip: u64,
        alerts: &HashMap<&str, &Alert>,
        departed: i64,
        time_scale: f64,
    ) -> Self {
        let dispatches = Dispatch::for_route(route, alerts, departed, time_scale);
        let back_at = after(departed, route.duration_s, time_scale);
        Self {
            truck_id: route.truck_id.clone(),
            trip,
            route_id: route_id(&route.truck_id, departed),
            departed,
            back_at,
            dispatches,
        }
    }

    /// The folder of a truck's trips in the ledger.
    pub fn truck_prefix(truck_id: &str) -> String {
        format!("{TRIPS_PREFIX}{truck_id}/")
    }

    /// The ledger key of a truck's trip: numbered so keys sort in trip order.
    pub fn ledger_key(truck_id: &str, trip: u64) -> String {
        format!("{}{trip:012}.json", Self::truck_prefix(truck_id))
    }
}

/// The id of a truck's trip: the truck and its departure time.
pub fn route_id(truck_id: &str, departed: i64) -> String {
    format!("{truck_id}@{departed}")
}

/// `HH:MM:SS` UTC of an epoch second, for people.
pub fn clock(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map_or_else(|| epoch.to_string(), |t| t.format("%H:%M:%S").to_string())
}

/// `epoch` as a UTC time of day when it falls on the same UTC day as `now`, with its date
/// otherwise (`2026-12-08 04:35:35`), so a time on another day is never read as today's.
pub fn clock_near(epoch: i64, now: i64) -> String {
    let day = |t: i64| t.div_euclid(86_400);
    if day(epoch) == day(now) {
        clock(epoch)
    } else {
        chrono::DateTime::from_timestamp(epoch, 0).map_or_else(
            || epoch.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    }
}

/// Units delivered at a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The dispatch delivered.
    pub dispatch_id: String,
    /// The alert whose goods were delivered.
    pub alert_id: String,
    /// Store delivered to.
    pub store_id: String,
    /// Product delivered.
    pub product_id: String,
    /// Units delivered.
    pub quantity: i64,
    /// The truck that brought them.
    pub truck_id: String,
    /// The alert's planning time (fixes the ledger partition).
    pub planned_at: i64,
    /// When the goods arrived, epoch seconds.
    pub delivered_at: i64,
}

impl Delivery {
    /// The ledger key of the delivery of a dispatch.
    pub fn ledger_key(dispatch_id: &str, planned_at: i64) -> String {
        ledger_object_key(DELIVERIES_PREFIX, planned_at, dispatch_id)
    }

    /// The human line shown when the goods arrive.
    pub fn human_line(&self) -> String {
        format!(
            "📦 {} delivered {} x {} to {}",
            self.truck_id,
            self.quantity,
            printable(&self.product_id),
            printable(&self.store_id)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::ALERT_TEXT;
    use crate::routing::{Piece, Stop};

    fn alert(id: &str, store: &str, qty: i64) -> Alert {
        Alert {
            alert_id: id.into(),
            store_id: store.into(),
            product_id: "PRD_1".into(),
            product_name: "Rau cải".into(),
            alert: ALERT_TEXT.into(),
            current_stock: 1,
            threshold_level: 10,
            projected_stock: 1,
            restock_qty: qty,
            reading_time: 10,
            planned_at: 3600 * 5 + 7,
            query_id: "q".into(),
            sales_per_hour: None,
            hours_to_stockout: None,
            explanation: None,
        }
    }

    fn stop(store: &str, pieces: Vec<Piece>, at: i64) -> Stop {
        Stop {
            store_id: store.into(),
            load: pieces.iter().map(|p| p.quantity).sum(),
            pieces,
            leg_km: 2.5,
            arrive_after_s: at,
        }
    }

    fn piece(id: &str, k: u32, n: u32, q: i64) -> Piece {
        Piece {
            demand_id: id.into(),
            piece: k,
            pieces: n,
            quantity: q,
        }
    }

    #[test]
    fn a_route_becomes_one_dispatch_per_piece_with_scaled_etas() {
        let (a, b) = (alert("a", "STORE_1", 19), alert("b", "STORE_2", 900));
        let alerts: HashMap<&str, &Alert> = [("a", &a), ("b", &b)].into_iter().collect();
        let route = Route {
            truck_id: "TRUCK_1".into(),
            depot_id: "D".into(),
            stops: vec![
                stop("STORE_1", vec![piece("a", 1, 1, 19)], 600),
                stop("STORE_2", vec![piece("b", 2, 3, 300)], 1800),
            ],
            load: 319,
            capacity: 400,
            distance_km: 9.0,
            duration_s: 3000,
        };
        let d = Dispatch::for_route(&route, &alerts, 1000, 10.0);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].dispatch_id, "a");
        assert_eq!(d[1].dispatch_id, "b~2of3");
        assert_eq!((d[0].eta, d[1].eta, d[1].truck_back_at), (1060, 1180, 1300));
        assert_eq!((d[0].stop, d[1].stop), (1, 2));
        assert_eq!(d[1].route_id, "TRUCK_1@1000");
        assert_eq!(
            Dispatch::ledger_key(&d[1].dispatch_id, d[1].planned_at),
            "ledger/dispatches/dt=1970-01-01-05/b~2of3.json"
        );
        let delivery = d[1].delivered(1180);
        assert_eq!((delivery.quantity, delivery.alert_id.as_str()), (300, "b"));
        assert!(
            d[0].human_line()
                .starts_with("🚚 TRUCK_1 dispatched to STORE_1 with 19 x 'Rau cải' (stop 1")
        );
        let trip = Trip::for_route(&route, 7, &alerts, 1000, 10.0);
        assert_eq!(trip.dispatches, d);
        assert_eq!(
            (trip.back_at, trip.route_id.as_str()),
            (1300, "TRUCK_1@1000")
        );
        assert_eq!(
            Trip::ledger_key("TRUCK_1", 7),
            "ledger/trips/TRUCK_1/000000000007.json"
        );
        assert!(Trip::ledger_key("T", 10) > Trip::ledger_key("T", 9));
    }

    #[test]
    fn human_lines_escape_control_characters() {
        let mut a = alert("a", "STORE_\u{1b}[2J", 5);
        a.product_name = "Phở\u{1b}]0;owned\u{7}".into();
        let alerts: HashMap<&str, &Alert> = [("a", &a)].into_iter().collect();
        let route = Route {
            truck_id: "TRUCK_1".into(),
            depot_id: "D".into(),
            stops: vec![stop(&a.store_id, vec![piece("a", 1, 1, 5)], 60)],
            load: 5,
            capacity: 400,
            distance_km: 1.0,
            duration_s: 120,
        };
        let d = &Dispatch::for_route(&route, &alerts, 0, 1.0)[0];
        for line in [d.human_line(), d.delivered(60).human_line()] {
            assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        }
        assert!(
            d.human_line().contains("STORE_\\u{1b}[2J"),
            "{}",
            d.human_line()
        );
    }

    proptest::proptest! {
        /// Any fleet file's numbers either fail validation naming the key, or give trips whose
        /// every time lies between the departure and the truck's return, a route's time within
        /// a year: no saturated float, no wrapped clock.
        #[test]
        fn a_valid_fleet_never_gives_times_before_departure_or_wrapped(
            service_minutes in proptest::prop_oneof![
                proptest::num::f64::ANY, 0.0..2000.0_f64, proptest::strategy::Just(1e300)
            ],
            speed_kmh in proptest::prop_oneof![
                proptest::num::f64::ANY, 0.0..400.0_f64, proptest::strategy::Just(1e-300)
            ],
            capacity in proptest::prop_oneof![proptest::num::i64::ANY, 1..2_000_000_i64],
            batch_window_seconds in proptest::prop_oneof![proptest::num::u64::ANY, 0..5000_u64],
            quantity in 1..5_000_i64,
            time_scale in 1.0..1e6_f64,
        ) {
            use crate::config::ConfigFile;
            use crate::places::{Depot, Fleet, Stores, Truck};
            use crate::routing::{Demand, RoutingOptions, plan_routes};
            let fleet = Fleet {
                service_minutes,
                batch_window_seconds,
                depots: vec![Depot {
                    depot_id: "D".into(),
                    name: "Depot".into(),
                    lat: 10.76,
                    lon: 106.73,
                }],
                trucks: vec![Truck {
                    truck_id: "T".into(),
                    capacity,
                    speed_kmh,
                    depot_id: "D".into(),
                }],
            };
            if let Err(why) = fleet.validate() {
                proptest::prop_assert!(
                    ["service_minutes", "speed_kmh", "capacity", "batch_window_seconds"]
                        .iter()
                        .any(|k| why.contains(k)),
                    "{}", why
                );
                return Ok(());
            }
            let a = alert("a", "STORE_4", quantity);
            let b = alert("b", "STORE_9", 1);
            let alerts: HashMap<&str, &Alert> = [("a", &a), ("b", &b)].into_iter().collect();
            let demands: Vec<Demand> = [&a, &b]
                .iter()
                .map(|x| Demand {
                    demand_id: x.alert_id.clone(),
                    store_id: x.store_id.clone(),
                    quantity: x.restock_qty,
                    dispatched_pieces: vec![],
                })
                .collect();
            let options = RoutingOptions { rounds: 5, ..RoutingOptions::default() };
            let plan = plan_routes(&fleet, &fleet.trucks, &Stores::shipped(), &demands, &options);
            let departed = 1_764_000_000;
            for route in &plan.routes {
                let trip = Trip::for_route(route, 1, &alerts, departed, time_scale);
                proptest::prop_assert!(trip.back_at >= departed);
                proptest::prop_assert!(
                    route.duration_s < crate::routing::MAX_ROUTE_SECONDS,
                    "{}", route.duration_s
                );
                for d in &trip.dispatches {
                    proptest::prop_assert!(departed <= d.eta && d.eta <= trip.back_at);
                    proptest::prop_assert_eq!(d.truck_back_at, trip.back_at);
                }
            }
        }
    }
}
