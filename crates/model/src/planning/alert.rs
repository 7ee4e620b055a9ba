//! A restock alert: its deterministic id, what became of it, and how it prints.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::policy::OrderExplanation;
use crate::text::{Field, refused_char};

/// Namespace of alert ids (UUID v5).
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0xa1e7_0001_5e0d_4b7a_8c11_4d2b_9e6f_7a01);

/// The text the seed puts in every alert message.
pub const ALERT_TEXT: &str = "Stock low";

/// An alert already in the ledger, with what happened to it since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStatus {
    /// The alert as it was sent.
    pub alert: Alert,
    /// The deliveries recorded for it (more than one when a truck could not carry it whole).
    pub deliveries: Vec<Delivered>,
}

/// Units of an alert that reached the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// When they arrived, epoch seconds.
    pub delivered_at: i64,
    /// How many.
    pub quantity: i64,
}

impl AlertStatus {
    /// Alerts grouped by the shelf (store and product) they answer.
    pub fn by_shelf(statuses: &[AlertStatus]) -> HashMap<(&str, &str), Vec<&AlertStatus>> {
        let mut by_shelf: HashMap<(&str, &str), Vec<&AlertStatus>> = HashMap::new();
        for s in statuses {
            by_shelf
                .entry((s.alert.store_id.as_str(), s.alert.product_id.as_str()))
                .or_default()
                .push(s);
        }
        by_shelf
    }

    /// Units of the alert still on their way as of a reading taken at `reading_time`: all of
    /// it but what was delivered before the reading (a delivery in the reading's second or
    /// later is not yet reflected in it). An alert with nothing delivered after the reading
    /// stops counting once it is `expiry` seconds old, so a lost truck does not hide a need
    /// forever.
    pub fn on_the_way(&self, reading_time: i64, now: i64, expiry: i64) -> i64 {
        let delivered_before: i64 = self
            .deliveries
            .iter()
            .filter(|d| d.delivered_at < reading_time)
            .map(|d| d.quantity)
            .sum();
        let arriving_later = self
            .deliveries
            .iter()
            .any(|d| d.delivered_at >= reading_time);
        if arriving_later || now - self.alert.planned_at < expiry {
            (self.alert.restock_qty - delivered_before).max(0)
        } else {
            0
        }
    }
}

/// A restock alert: the SQS message body, and a line of the planner's alert ledger.
///
/// Keeps the seed's keys (`store_id`, `product_name`, `alert`) so its truck function reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Deterministic id: the same reading always yields the same alert id.
    pub alert_id: String,
    /// Store to restock.
    pub store_id: String,
    /// Product to restock.
    pub product_id: String,
    /// Product name, for people.
    pub product_name: String,
    /// Always [`ALERT_TEXT`].
    pub alert: String,
    /// Stock of the reading the alert answers.
    pub current_stock: i64,
    /// Reorder point of that reading.
    pub threshold_level: i64,
    /// Stock plus what is already on its way.
    pub projected_stock: i64,
    /// Units to bring.
    pub restock_qty: i64,
    /// Event time of the reading, epoch seconds.
    pub reading_time: i64,
    /// When the planner sent the alert, epoch seconds.
    pub planned_at: i64,
    /// The planning run (query execution) that produced it.
    pub query_id: String,
    /// Units sold per hour over the window (stock drop plus deliveries, over the time between
    /// the first and the latest reading); absent with fewer than two readings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_per_hour: Option<f64>,
    /// Hours until the shelf is empty at that pace; absent when nothing sells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours_to_stockout: Option<f64>,
    /// Which policy rule and numbers set the quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<OrderExplanation>,
}

impl Alert {
    /// Whether the shelf joined a delivery its store got anyway (the forecast rule's
    /// [`super::JOINED_RULE`]) rather than being ordered below its own reorder point.
    pub fn joined_delivery(&self) -> bool {
        self.explanation
            .as_ref()
            .is_some_and(|e| e.rules.iter().any(|r| r.starts_with(super::JOINED_RULE)))
    }

    /// Why the alert was sent and what it ordered, in one line for people: the stock and what
    /// was on its way against the level that applied, the forecast's numbers when the forecast
    /// rule decided (demand a day and its error, lead time, review period, z for the target
    /// service level, safety stock), why the threshold rule decided instead when it did, and
    /// the order-up-to level. What the operations page shows for an alert.
    pub fn why(&self) -> String {
        let on_way = self.projected_stock - self.current_stock;
        let have = if on_way > 0 {
            format!("stock {} + {on_way} on its way", self.current_stock)
        } else {
            format!("stock {}", self.current_stock)
        };
        let e = self.explanation.as_ref();
        let ordered = match e {
            Some(e) => format!(
                "{} ordered, up to {} ({})",
                self.restock_qty,
                e.order_up_to,
                e.rules.join("; ")
            ),
            None => format!("{} ordered", self.restock_qty),
        };
        match (
            e.and_then(|e| e.forecast.as_ref()),
            e.and_then(|e| e.fallback.as_deref()),
        ) {
            (Some(f), _) => {
                let level = if self.projected_stock >= f.reorder_point {
                    format!(
                        "within a day of the reorder point {} (can-order point {}): joins its store's delivery",
                        f.reorder_point, f.can_order_point
                    )
                } else {
                    format!("below the reorder point {}", f.reorder_point)
                };
                format!("{have}, {level}; forecast {}; {ordered}", f.numbers())
            }
            (None, Some(why)) => format!(
                "{have}, below the threshold {} (threshold rule: {why}); {ordered}",
                self.threshold_level
            ),
            (None, None) => format!(
                "{have}, below the threshold {}; {ordered}",
                self.threshold_level
            ),
        }
    }

    /// Checks an alert received from the queue, a message anyone with the queue's permission
    /// could have written: its id names ledger objects, so it must be an alert id (a UUID in
    /// its usual form), and its text fields keep the limits readings keep at the door.
    pub fn check_received(&self) -> Result<(), String> {
        let canonical = Uuid::parse_str(&self.alert_id)
            .map(|u| u.hyphenated().to_string() == self.alert_id)
            .unwrap_or(false);
        if !canonical {
            return Err(format!(
                "`alert_id` {:?} is not an alert id (a UUID such as 6f1c…-…)",
                printable(&self.alert_id.chars().take(64).collect::<String>())
            ));
        }
        for (field, value, max) in [
            ("store_id", &self.store_id, crate::reading::MAX_ID_CHARS),
            ("product_id", &self.product_id, crate::reading::MAX_ID_CHARS),
            (
                "product_name",
                &self.product_name,
                crate::reading::MAX_NAME_CHARS,
            ),
        ] {
            let chars = value.chars().count();
            if value.is_empty() && field != "product_name" {
                return Err(format!("`{field}` is empty"));
            }
            if chars > max {
                return Err(format!(
                    "`{field}` has {chars} characters; at most {max} are allowed"
                ));
            }
            let kind = if field == "product_name" {
                Field::Text
            } else {
                Field::Id
            };
            if let Some(why) = refused_char(value, kind) {
                return Err(format!("`{field}` {why}"));
            }
        }
        let max = crate::policy::MAX_ORDER_QTY_LIMIT;
        if !(1..=max).contains(&self.restock_qty) {
            return Err(format!(
                "`restock_qty` must be between 1 and {max}, got {}",
                self.restock_qty
            ));
        }
        Ok(())
    }

    /// The seed's human line for this alert.
    pub fn human_line(&self) -> String {
        format!(
            "⚠️ Store {} is low on '{}'. Alerting delivery team.",
            printable(&self.store_id),
            printable(&self.product_name)
        )
    }
}

pub use crate::text::printable;

/// The deterministic id of the alert answering one reading.
///
/// The reading is identified by its `event_id`, or by its event time when it has none (records of
/// the seed's StoreApp carry no id).
pub fn alert_id(
    store_id: &str,
    product_id: &str,
    event_id: Option<&str>,
    check_timestamp: i64,
) -> String {
    let reading = event_id.map_or_else(|| format!("t{check_timestamp}"), |id| format!("e{id}"));
    let key = format!("{store_id}\u{1f}{product_id}\u{1f}{reading}");
    Uuid::new_v5(&ALERT_NAMESPACE, key.as_bytes()).to_string()
}
