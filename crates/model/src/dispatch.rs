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
        let scaled = |s: i64| (s as f64 / time_scale).round() as i64;
        let route_id = route_id(&route.truck_id, departed);
        let back = departed + scaled(route.duration_s);
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
                    eta: departed + scaled(stop.arrive_after_s),
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
        let back_at = departed + (route.duration_s as f64 / time_scale).round() as i64;
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
}
