//! Truck dispatches and deliveries: what the truck app records in the ledger.
//!
//! A dispatch is recorded under a key derived from the alert it answers, with create-if-absent
//! semantics, so an alert delivered twice by the queue (or re-read after a crash between recording
//! and deleting) can never produce a second truck.

use serde::{Deserialize, Serialize};

use crate::lake::{DELIVERIES_PREFIX, DISPATCHES_PREFIX, ledger_object_key};
use crate::planning::Alert;

/// A truck of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truck {
    /// Truck id.
    pub truck_id: String,
    /// Units it can carry.
    pub capacity: i64,
}

/// The default fleet until a fleet file is configured.
pub fn default_fleet() -> Vec<Truck> {
    (1..=3)
        .map(|i| Truck {
            truck_id: format!("TRUCK_{i}"),
            capacity: 500,
        })
        .collect()
}

/// One alert put on a truck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispatch {
    /// Same as the alert id: one dispatch per alert.
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
    /// When the alert was planned (fixes the ledger partition, so the key is known up front).
    pub planned_at: i64,
    /// When the truck was dispatched, epoch seconds.
    pub dispatched_at: i64,
}

impl Dispatch {
    /// Puts an alert on a truck of the fleet. Trucks are chosen per store, so one store's
    /// alerts ride together; capacity-aware routing replaces this with the fleet planner.
    pub fn for_alert(alert: &Alert, fleet: &[Truck], now: i64) -> Self {
        let truck_id = if fleet.is_empty() {
            "UNASSIGNED".to_owned()
        } else {
            let h = alert
                .store_id
                .bytes()
                .fold(0_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            fleet[(h % fleet.len() as u64) as usize].truck_id.clone()
        };
        Self {
            dispatch_id: alert.alert_id.clone(),
            alert_id: alert.alert_id.clone(),
            store_id: alert.store_id.clone(),
            product_id: alert.product_id.clone(),
            product_name: alert.product_name.clone(),
            quantity: alert.restock_qty,
            truck_id,
            planned_at: alert.planned_at,
            dispatched_at: now,
        }
    }

    /// The ledger key of the dispatch answering an alert.
    pub fn ledger_key(alert_id: &str, planned_at: i64) -> String {
        ledger_object_key(DISPATCHES_PREFIX, planned_at, alert_id)
    }

    /// The human line shown when the dispatch happens.
    pub fn human_line(&self) -> String {
        format!(
            "🚚 {} dispatched to {} with {} x '{}'",
            self.truck_id, self.store_id, self.quantity, self.product_name
        )
    }
}

/// A delivery completed at a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The alert whose goods were delivered.
    pub alert_id: String,
    /// Store delivered to.
    pub store_id: String,
    /// Product delivered.
    pub product_id: String,
    /// Units delivered.
    pub quantity: i64,
    /// The alert's planning time (fixes the ledger partition).
    pub planned_at: i64,
    /// When the goods arrived, epoch seconds.
    pub delivered_at: i64,
}

impl Delivery {
    /// The ledger key of the delivery for an alert.
    pub fn ledger_key(alert_id: &str, planned_at: i64) -> String {
        ledger_object_key(DELIVERIES_PREFIX, planned_at, alert_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::ALERT_TEXT;

    fn alert(store: &str) -> Alert {
        Alert {
            alert_id: format!("a-{store}"),
            store_id: store.into(),
            product_id: "PRD_1".into(),
            product_name: "Rau cải".into(),
            alert: ALERT_TEXT.into(),
            current_stock: 1,
            threshold_level: 10,
            projected_stock: 1,
            restock_qty: 19,
            reading_time: 10,
            planned_at: 3600 * 5 + 7,
            query_id: "q".into(),
        }
    }

    #[test]
    fn dispatch_carries_the_alert_and_its_key_is_known_from_the_alert_alone() {
        let a = alert("STORE_1");
        let d = Dispatch::for_alert(&a, &default_fleet(), 99);
        assert_eq!(d.dispatch_id, a.alert_id);
        assert_eq!(d.quantity, 19);
        assert_eq!(
            Dispatch::ledger_key(&a.alert_id, a.planned_at),
            "ledger/dispatches/dt=1970-01-01-05/a-STORE_1.json"
        );
    }

    #[test]
    fn one_store_rides_one_truck() {
        let fleet = default_fleet();
        let a = Dispatch::for_alert(&alert("STORE_7"), &fleet, 1);
        let mut b_alert = alert("STORE_7");
        b_alert.product_id = "PRD_2".into();
        let b = Dispatch::for_alert(&b_alert, &fleet, 1);
        assert_eq!(a.truck_id, b.truck_id);
        assert_eq!(
            Dispatch::for_alert(&alert("S"), &[], 1).truck_id,
            "UNASSIGNED"
        );
    }
}
