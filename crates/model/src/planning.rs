//! Planning: from the latest reading of each store and product to restock alerts.
//!
//! The rules, in order:
//! 1. Per (store, product) only the latest reading in the lookback window counts (latest by
//!    `check_timestamp`, `event_id` breaking ties). The query engines compute it with the one
//!    [`planning_sql`] text.
//! 2. `projected = current_stock + outstanding`, where outstanding is the quantity already
//!    alerted (whether waiting for a truck or in transit) that the reading does not yet reflect.
//! 3. Low when `projected < threshold_level`; restock quantity = order-up-to level - projected.
//! 4. Every alert has a deterministic id derived from the reading it answers, so planning twice
//!    over the same data yields the same ids, and a consumer can drop duplicates.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::lake::dt_partition;
use crate::policy::OrderExplanation;
use crate::reading::CLOCK_SKEW_SECONDS;

/// Namespace of alert ids (UUID v5).
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0xa1e7_0001_5e0d_4b7a_8c11_4d2b_9e6f_7a01);

/// The text the seed puts in every alert message.
pub const ALERT_TEXT: &str = "Stock low";

/// Default lookback window of a planning run.
pub const DEFAULT_LOOKBACK_HOURS: u32 = 24;
/// Longest lookback a planning event may ask for (90 days).
pub const MAX_LOOKBACK_HOURS: u32 = 24 * 90;

/// The latest reading of one store and product in the window, as the planning SQL returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestReading {
    /// Store id.
    pub store_id: String,
    /// Product id.
    pub product_id: String,
    /// Product name of the latest reading.
    pub product_name: String,
    /// Stock of the latest reading.
    pub current_stock: i64,
    /// Reorder point of the latest reading.
    pub threshold_level: i64,
    /// Order-up-to level of the latest reading, if it carried one.
    pub max_stock: Option<i64>,
    /// Event time of the latest reading.
    pub check_timestamp: i64,
    /// Event id of the latest reading, if it carried one.
    pub event_id: Option<String>,
    /// How many readings of this store and product the window held.
    pub readings: u64,
    /// Stock of the earliest reading in the window (for the sales velocity).
    pub first_stock: i64,
    /// Event time of the earliest reading in the window.
    pub first_timestamp: i64,
}

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
            if value.chars().any(char::is_control) {
                return Err(format!("`{field}` contains control characters"));
            }
        }
        if self.restock_qty <= 0 {
            return Err(format!(
                "`restock_qty` must be at least 1, got {}",
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

/// `text` safe to print to a terminal: control characters (which a foreign record in the lake may
/// still carry past the checks at the door) are written as escapes, never sent raw.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

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

pub use crate::policy::ReorderPolicy;

/// Why a low reading produced no alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    /// This very reading was already answered by an alert.
    AlreadyAlerted,
    /// Earlier alerts still on their way lift the projected stock to the reorder point.
    CoveredByOutstanding,
}

/// A low reading that produced no alert, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    /// Store id.
    pub store_id: String,
    /// Product id.
    pub product_id: String,
    /// Stock of the latest reading.
    pub current_stock: i64,
    /// Stock plus what is on its way.
    pub projected_stock: i64,
    /// Why no alert was sent.
    pub reason: SuppressReason,
}

/// What one planning pass decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanDecision {
    /// New alerts, most urgent first: soonest out of stock, then largest shortfall below the
    /// reorder point.
    pub alerts: Vec<Alert>,
    /// Low readings already covered.
    pub suppressed: Vec<Suppressed>,
    /// Known stores that sent no reading in the window.
    pub silent_stores: Vec<String>,
}

/// Everything [`plan`] needs besides the readings.
#[derive(Debug, Clone)]
pub struct PlanContext<'a> {
    /// The reorder policy.
    pub policy: &'a ReorderPolicy,
    /// Alerts in the ledger that may still count, with their delivery status.
    pub ledger: &'a [AlertStatus],
    /// Now, epoch seconds.
    pub now: i64,
    /// Id of this planning run.
    pub query_id: &'a str,
    /// The stores expected to report (from the store locations); those without a reading in
    /// the window are reported as silent.
    pub known_stores: &'a [String],
}

/// Quantity already on its way to a store for a product, as of a reading's time: see
/// [`AlertStatus::on_the_way`]. `sent` holds the alerts of the reading's store and product.
pub fn outstanding_quantity<'s>(
    reading: &LatestReading,
    sent: impl IntoIterator<Item = &'s AlertStatus>,
    policy: &ReorderPolicy,
    now: i64,
) -> i64 {
    let expiry = policy.alert_expiry_seconds();
    sent.into_iter()
        .map(|s| s.on_the_way(reading.check_timestamp, now, expiry))
        .sum()
}

/// Units sold per hour between the first and the latest reading of the window: the stock drop
/// plus what was delivered in between. `None` with fewer than two readings, no time between
/// them, or stock that rose more than recorded deliveries explain (an unrecorded restock).
pub fn sales_per_hour<'s>(
    reading: &LatestReading,
    sent: impl IntoIterator<Item = &'s AlertStatus>,
) -> Option<f64> {
    let span = reading.check_timestamp - reading.first_timestamp;
    if reading.readings < 2 || span <= 0 {
        return None;
    }
    let delivered: i64 = sent
        .into_iter()
        .flat_map(|s| &s.deliveries)
        .filter(|d| {
            d.delivered_at >= reading.first_timestamp && d.delivered_at < reading.check_timestamp
        })
        .map(|d| d.quantity)
        .sum();
    let sold = reading.first_stock + delivered - reading.current_stock;
    (sold >= 0).then(|| sold as f64 * 3600.0 / span as f64)
}

/// Hours until `stock` runs out at `per_hour`: 0 for an empty shelf, `None` when the pace is
/// unknown or nothing sells.
pub fn hours_to_stockout(stock: i64, per_hour: Option<f64>) -> Option<f64> {
    if stock <= 0 {
        return Some(0.0);
    }
    per_hour.filter(|v| *v > 0.0).map(|v| stock as f64 / v)
}

/// Applies the planning rules to the latest readings.
pub fn plan(latest: &[LatestReading], ctx: &PlanContext<'_>) -> PlanDecision {
    let mut by_key: HashMap<(&str, &str), Vec<&AlertStatus>> = HashMap::new();
    for s in ctx.ledger {
        by_key
            .entry((s.alert.store_id.as_str(), s.alert.product_id.as_str()))
            .or_default()
            .push(s);
    }
    let known: HashSet<&str> = ctx
        .ledger
        .iter()
        .map(|s| s.alert.alert_id.as_str())
        .collect();
    let mut decision = PlanDecision::default();
    for reading in latest {
        if reading.current_stock >= reading.threshold_level {
            continue;
        }
        let sent = by_key
            .get(&(reading.store_id.as_str(), reading.product_id.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let outstanding = outstanding_quantity(reading, sent.iter().copied(), ctx.policy, ctx.now);
        let projected = reading.current_stock + outstanding;
        let id = alert_id(
            &reading.store_id,
            &reading.product_id,
            reading.event_id.as_deref(),
            reading.check_timestamp,
        );
        let suppressed = |reason| Suppressed {
            store_id: reading.store_id.clone(),
            product_id: reading.product_id.clone(),
            current_stock: reading.current_stock,
            projected_stock: projected,
            reason,
        };
        if known.contains(id.as_str()) {
            decision
                .suppressed
                .push(suppressed(SuppressReason::AlreadyAlerted));
        } else if projected >= reading.threshold_level {
            decision
                .suppressed
                .push(suppressed(SuppressReason::CoveredByOutstanding));
        } else {
            let order = ctx.policy.order(reading, projected);
            let velocity = sales_per_hour(reading, sent.iter().copied());
            decision.alerts.push(Alert {
                alert_id: id,
                store_id: reading.store_id.clone(),
                product_id: reading.product_id.clone(),
                product_name: reading.product_name.clone(),
                alert: ALERT_TEXT.to_owned(),
                current_stock: reading.current_stock,
                threshold_level: reading.threshold_level,
                projected_stock: projected,
                restock_qty: order.quantity,
                reading_time: reading.check_timestamp,
                planned_at: ctx.now,
                query_id: ctx.query_id.to_owned(),
                sales_per_hour: velocity.map(|v| (v * 100.0).round() / 100.0),
                hours_to_stockout: hours_to_stockout(reading.current_stock, velocity)
                    .map(|h| (h * 100.0).round() / 100.0),
                explanation: Some(order),
            });
        }
    }
    decision.alerts.sort_by(|a, b| {
        let shortfall = |x: &Alert| x.threshold_level - x.projected_stock;
        let hours = |x: &Alert| x.hours_to_stockout.unwrap_or(f64::INFINITY);
        hours(a)
            .total_cmp(&hours(b))
            .then_with(|| shortfall(b).cmp(&shortfall(a)))
            .then_with(|| a.store_id.cmp(&b.store_id))
            .then_with(|| a.product_id.cmp(&b.product_id))
    });
    let reporting: HashSet<&str> = latest.iter().map(|r| r.store_id.as_str()).collect();
    decision.silent_stores = ctx
        .known_stores
        .iter()
        .filter(|s| !reporting.contains(s.as_str()))
        .cloned()
        .collect();
    decision
}

/// The planning event (the Lambda's input). Every field is optional: `{}` is a valid event.
/// Unknown fields are an error, so a typo is not silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanningEvent {
    /// Hours of readings to consider (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback_hours: Option<u32>,
    /// Plan and report, but send and record nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Only plan for these stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ids: Option<Vec<String>>,
    /// Send at most this many alerts (the most urgent first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A planning event that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid planning event: `{field}` {reason}")]
pub struct EventError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl PlanningEvent {
    /// Parses an event from JSON, naming the offending field on error.
    pub fn from_json(json: &str) -> Result<Self, EventError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| EventError {
            field: "event",
            reason: e.to_string(),
        })?;
        // serde would also take a struct from a JSON array (`[]` is an empty event to it).
        if !value.is_object() {
            return Err(EventError {
                field: "event",
                reason: "must be a JSON object, e.g. {} or {\"lookback_hours\": 6}".into(),
            });
        }
        let event: Self = serde_json::from_value(value).map_err(|e| EventError {
            field: "event",
            reason: e.to_string(),
        })?;
        event.validate()?;
        Ok(event)
    }

    /// Checks the ranges of every field.
    pub fn validate(&self) -> Result<(), EventError> {
        if let Some(h) = self.lookback_hours
            && !(1..=MAX_LOOKBACK_HOURS).contains(&h)
        {
            return Err(EventError {
                field: "lookback_hours",
                reason: format!("must be between 1 and {MAX_LOOKBACK_HOURS}, got {h}"),
            });
        }
        if self.limit == Some(0) {
            return Err(EventError {
                field: "limit",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(ids) = &self.store_ids {
            if ids.is_empty() {
                return Err(EventError {
                    field: "store_ids",
                    reason: "must name at least one store when present".into(),
                });
            }
            if ids.iter().any(|s| s.trim().is_empty()) {
                return Err(EventError {
                    field: "store_ids",
                    reason: "must not contain empty ids".into(),
                });
            }
        }
        Ok(())
    }

    /// The lookback window in hours.
    pub fn lookback(&self) -> u32 {
        self.lookback_hours.unwrap_or(DEFAULT_LOOKBACK_HOURS)
    }
}

/// The planning result (the Lambda's output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanningResult {
    /// Id of the query execution behind this run.
    pub query_id: String,
    /// Which engine ran the planning SQL (`datafusion`, `athena`).
    pub engine: String,
    /// Readings in the window.
    pub readings_scanned: u64,
    /// Bytes the engine read.
    pub bytes_scanned: u64,
    /// Records skipped because they were malformed (quarantined, with the reason).
    pub malformed_skipped: u64,
    /// Alerts sent to the queue in this run.
    pub alerts_sent: usize,
    /// Low readings already covered by earlier alerts.
    pub alerts_suppressed: usize,
    /// Whether this was a dry run (nothing sent or recorded).
    pub dry_run: bool,
    /// The alerts of this run.
    pub alerts: Vec<Alert>,
    /// The low readings that produced no alert, and why.
    pub suppressed: Vec<Suppressed>,
    /// Known stores that sent no reading in the window: not an alert, but worth a look (a
    /// broken scanner, a closed store, a lost network).
    #[serde(default)]
    pub silent_stores: Vec<String>,
    /// The seed's human lines, one per alert.
    pub messages: Vec<String>,
    /// Alerts that could not be sent (a record in the lake breaking the limits at the door, so
    /// its alert would break the queue's): reported here, every other alert sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsendable: Vec<Unsendable>,
}

/// An alert left unsent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsendable {
    /// The alert's id.
    pub alert_id: String,
    /// Its store (cut to the id limit, control characters escaped).
    pub store_id: String,
    /// Its product (likewise).
    pub product_id: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The most bytes of an alert's body: well under SQS's 256 KiB, which an alert within the
/// limits at the door never comes near (about 1 KiB).
pub const MAX_ALERT_BODY_BYTES: usize = 64 * 1024;

impl Unsendable {
    /// The alerts of `alerts` the queue can carry, and the rest, each with its reason.
    pub fn split(alerts: Vec<Alert>) -> (Vec<Alert>, Vec<Unsendable>) {
        let mut ok = Vec::with_capacity(alerts.len());
        let mut bad = Vec::new();
        for alert in alerts {
            let size = serde_json::to_vec(&alert).map_or(usize::MAX, |b| b.len());
            let problem = alert.check_received().err().or_else(|| {
                (size > MAX_ALERT_BODY_BYTES).then(|| {
                    format!("the alert is {size} bytes; at most {MAX_ALERT_BODY_BYTES} are sent")
                })
            });
            match problem {
                None => ok.push(alert),
                Some(reason) => {
                    let cut = |s: &str| {
                        printable(
                            &s.chars()
                                .take(crate::reading::MAX_ID_CHARS)
                                .collect::<String>(),
                        )
                        .into_owned()
                    };
                    bad.push(Unsendable {
                        alert_id: alert.alert_id.clone(),
                        store_id: cut(&alert.store_id),
                        product_id: cut(&alert.product_id),
                        reason,
                    });
                }
            }
        }
        (ok, bad)
    }
}

/// A value bound to a `?` parameter of the planning SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    /// A string.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
}

/// What a planning query asks the engine for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRequest {
    /// Start of the window, epoch seconds (inclusive).
    pub window_start: i64,
    /// End of the window, epoch seconds (inclusive).
    pub window_end: i64,
    /// Only these stores, when non-empty.
    pub store_ids: Vec<String>,
    /// When the caller needs an answer (a Lambda invocation's deadline, less time to reply):
    /// work still running then is stopped, and the query fails as out of time.
    pub deadline: Option<std::time::Instant>,
}

impl InventoryRequest {
    /// The window ending at `now` and reaching back `lookback_hours`.
    pub fn new(now: i64, lookback_hours: u32, store_ids: Vec<String>) -> Self {
        Self {
            window_start: now - i64::from(lookback_hours) * 3600,
            window_end: now,
            store_ids,
            deadline: None,
        }
    }

    /// The same request, to be answered by `deadline`.
    pub fn with_deadline(mut self, deadline: Option<std::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The bound values of [`planning_sql`], in placeholder order.
    pub fn params(&self) -> Vec<SqlParam> {
        let mut params = vec![
            SqlParam::Text(dt_partition(self.window_start)),
            SqlParam::Int(self.window_start),
            SqlParam::Int(self.window_end),
        ];
        params.extend(self.store_ids.iter().cloned().map(SqlParam::Text));
        params
    }

    /// The planning SQL for this request.
    pub fn sql(&self, table: &str) -> String {
        planning_sql(table, self.store_ids.len())
    }
}

/// `sql` with each `?` placeholder outside quotes replaced by `replace(n)` (`n` counting from 0);
/// a `None` keeps the `?`. Each engine's binding is one closure over this.
pub fn replace_placeholders(sql: &str, mut replace: impl FnMut(usize) -> Option<String>) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut n, mut quoted) = (0, false);
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                match replace(n) {
                    Some(value) => out.push_str(&value),
                    None => out.push(c),
                }
                n += 1;
            }
            _ => out.push(c),
        }
    }
    out
}

/// The one planning SQL, in the common subset of Athena (Trino) and DataFusion.
///
/// `?` placeholders carry every user-supplied value (window and store ids); nothing is spliced
/// into the text. The `dt >= ?` predicate prunes partitions (Athena partition projection, DataFusion
/// listing-table pruning); `check_timestamp` then bounds the event time. `max_by` picks, per store
/// and product, the columns of the reading with the greatest `row(event time, event id)`, which Trino has built in and DataFusion gets as a user-defined aggregate, so neither
/// engine has to sort the rows. Rows that break the contract's rules are left out here too, in
/// case a foreign writer put them in the lake.
pub fn planning_sql(table: &str, store_filter_len: usize) -> String {
    let stores = store_filter(store_filter_len);
    format!(
        "SELECT store_id, product_id,
{LATEST_AGGREGATES},
{WINDOW_AGGREGATES}
FROM (
{raw}
) latest_candidates
GROUP BY store_id, product_id
ORDER BY store_id, product_id",
        raw = raw_candidates(table, &stores)
    )
}

/// The raw readings of the window (from the `dt >= ?` partition on) that may be the latest.
fn raw_candidates(table: &str, stores: &str) -> String {
    format!(
        "  SELECT {CANDIDATE_COLUMNS}
  FROM {table}
  WHERE dt >= ?
    AND check_timestamp >= ? AND check_timestamp <= ?
    AND {VALID_ROWS}{stores}"
    )
}

/// The latest reading's columns, by `ord` (event time, then event id): one text for every
/// planning and compaction query.
const LATEST_AGGREGATES: &str = "       max_by(product_name, ord) AS product_name,
       max_by(current_stock, ord) AS current_stock,
       max_by(threshold_level, ord) AS threshold_level,
       max_by(max_stock, ord) AS max_stock,
       max(check_timestamp) AS check_timestamp,
       max_by(event_id, ord) AS event_id";

/// The window's reading count and its first reading (for the sales velocity).
const WINDOW_AGGREGATES: &str = "       count(*) AS readings,
       min_by(current_stock, ord) AS first_stock,
       min(check_timestamp) AS first_timestamp";

/// The columns a planning query aggregates, with the orders of the latest and first reading.
const CANDIDATE_COLUMNS: &str = "store_id, product_id, product_name, current_stock, \
threshold_level, max_stock, check_timestamp, event_id, \
row(check_timestamp, coalesce(event_id, '')) AS ord";

/// The validity filters every planning SQL applies to raw readings (a foreign writer may have put
/// rows that break the contract in the lake, and Athena's JSON SerDe reads a malformed line as
/// nulls). `check_timestamp IS NOT NULL` is explicit even where a window bound on it would leave
/// such rows out: Trino refuses to compare the `row(check_timestamp, …)` key of a row whose time
/// is null, so one such row reaching `max_by` fails the whole query.
/// The earliest check time, [`crate::reading::EARLIEST_CHECK_TIMESTAMP`], is written out.
const VALID_ROWS: &str = "check_timestamp IS NOT NULL AND check_timestamp >= 946684800 \
AND store_id <> '' AND product_id <> '' AND current_stock >= 0 AND threshold_level >= 0";

/// What a fold keeps: valid rows no later than the fold's clock plus the allowed skew (the last
/// `?`), so a reading from the far future can never become a shelf's latest in the snapshot.
fn fold_valid_rows() -> String {
    format!("{VALID_ROWS} AND check_timestamp <= ?")
}

fn store_filter(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("\n    AND store_id IN ({})", vec!["?"; n].join(", "))
    }
}

/// The compaction SQL: folds the raw partitions `[?, ?)` and `late` more named ones (and the
/// previous snapshot, when there is one) into one row per store and product holding its latest
/// reading, the same `max_by` order as the planning SQL.
pub fn compaction_sql(table: &str, previous: Option<&str>, late: usize) -> String {
    let cols = "store_id, product_id, product_name, current_stock, threshold_level, max_stock, \
                check_timestamp, event_id, row(check_timestamp, coalesce(event_id, '')) AS ord";
    let previous = previous.map_or_else(String::new, |p| {
        format!(
            "  SELECT {cols}, CAST(0 AS BIGINT) AS folded FROM {p}\n  WHERE check_timestamp IS NOT NULL\n  UNION ALL\n"
        )
    });
    let hours = folded_partitions(late);
    format!(
        "SELECT store_id, product_id,
{LATEST_AGGREGATES},
       sum(folded) AS folded
FROM (
{previous}  SELECT {cols}, CAST(1 AS BIGINT) AS folded FROM {table}
  WHERE {hours} AND {valid}
) folded
GROUP BY store_id, product_id",
        valid = fold_valid_rows()
    )
}

/// The raw partitions a fold reads: `[?, ?)`, and `late` partitions below it named one by one.
fn folded_partitions(late: usize) -> String {
    if late == 0 {
        "dt >= ? AND dt < ?".to_owned()
    } else {
        format!(
            "(dt >= ? AND dt < ? OR dt IN ({}))",
            vec!["?"; late].join(", ")
        )
    }
}

/// The bound values of [`compaction_sql`]'s raw partitions (after the previous run's, if any)
/// and of its latest acceptable check time, the fold's `now` plus [`CLOCK_SKEW_SECONDS`].
pub fn folded_partition_params(
    from: &str,
    watermark: &str,
    late: &[String],
    now: i64,
) -> Vec<SqlParam> {
    [from, watermark]
        .into_iter()
        .map(str::to_owned)
        .chain(late.iter().cloned())
        .map(SqlParam::Text)
        .chain([SqlParam::Int(now + CLOCK_SKEW_SECONDS)])
        .collect()
}

/// Counts the raw rows of the partitions [`compaction_sql`] folds that it leaves out as breaking
/// the contract (a null, implausibly old or future check time, an empty key, a negative
/// stock), so a fold reports what it
/// skipped. A comparison with a null is unknown, not false: `coalesce` makes such a row count as
/// rejected.
pub fn rejected_rows_sql(table: &str, late: usize) -> String {
    format!(
        "SELECT count(*) AS rejected FROM {table}
WHERE {} AND NOT coalesce({}, false)",
        folded_partitions(late),
        fold_valid_rows()
    )
}

/// The planning SQL over a snapshot and the raw partitions from its watermark on: the same
/// latest reading per store and product as [`planning_sql`] over the whole lake, reading only the
/// snapshot (one row per pair) and the new data.
///
/// Two figures differ from a full scan: `readings` counts the snapshot's row as one reading,
/// and the first reading of the window (for the sales velocity) is the earliest of the
/// snapshot's latest reading and the new readings, so the velocity covers the time since the
/// watermark.
pub fn incremental_planning_sql(table: &str, snapshot: &str, store_filter_len: usize) -> String {
    let stores = store_filter(store_filter_len);
    format!(
        "SELECT store_id, product_id,
{LATEST_AGGREGATES},
{WINDOW_AGGREGATES}
FROM (
  SELECT {CANDIDATE_COLUMNS} FROM {snapshot}
  WHERE check_timestamp >= ? AND check_timestamp <= ?{stores}
  UNION ALL
{raw}
) latest_candidates
GROUP BY store_id, product_id
ORDER BY store_id, product_id",
        raw = raw_candidates(table, &stores)
    )
}

impl InventoryRequest {
    /// The bound values of [`incremental_planning_sql`] for a snapshot up to `watermark`.
    pub fn incremental_params(&self, watermark: &str) -> Vec<SqlParam> {
        let stores = self.store_ids.iter().cloned().map(SqlParam::Text);
        let mut params = vec![
            SqlParam::Int(self.window_start),
            SqlParam::Int(self.window_end),
        ];
        params.extend(stores.clone());
        // The raw side never reaches back before the window either.
        let from = dt_partition(self.window_start).max(watermark.to_owned());
        params.extend([
            SqlParam::Text(from),
            SqlParam::Int(self.window_start),
            SqlParam::Int(self.window_end),
        ]);
        params.extend(stores);
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(store: &str, stock: i64, threshold: i64, ts: i64) -> LatestReading {
        LatestReading {
            store_id: store.into(),
            product_id: "PRD_5".into(),
            product_name: "Bánh mì".into(),
            current_stock: stock,
            threshold_level: threshold,
            max_stock: None,
            check_timestamp: ts,
            event_id: None,
            readings: 1,
            first_stock: stock,
            first_timestamp: ts,
        }
    }

    fn ctx<'a>(policy: &'a ReorderPolicy, ledger: &'a [AlertStatus], now: i64) -> PlanContext<'a> {
        PlanContext {
            policy,
            ledger,
            now,
            query_id: "q-1",
            known_stores: &[],
        }
    }

    fn sent(alert: Alert, delivered_at: Option<i64>) -> AlertStatus {
        let deliveries = delivered_at
            .map(|at| Delivered {
                delivered_at: at,
                quantity: alert.restock_qty,
            })
            .into_iter()
            .collect();
        AlertStatus { alert, deliveries }
    }

    #[test]
    fn low_reading_alerts_up_to_the_order_level() {
        let policy = ReorderPolicy::plain(2, 24);
        let d = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
        assert_eq!(d.alerts.len(), 1);
        let a = &d.alerts[0];
        assert_eq!(a.projected_stock, 3);
        assert_eq!(a.restock_qty, 17, "order up to 2 x threshold = 20");
        assert_eq!(a.alert, "Stock low");
        assert_eq!(
            a.human_line(),
            "⚠️ Store STORE_4 is low on 'Bánh mì'. Alerting delivery team."
        );
    }

    #[test]
    fn at_the_reorder_point_is_not_low() {
        let policy = ReorderPolicy::plain(2, 24);
        let d = plan(&[reading("STORE_1", 10, 10, 100)], &ctx(&policy, &[], 200));
        assert!(d.alerts.is_empty());
        assert!(d.suppressed.is_empty());
    }

    #[test]
    fn max_stock_sets_the_order_up_to_level_but_never_below_the_reorder_point() {
        let policy = ReorderPolicy::plain(2, 24);
        let mut r = reading("STORE_1", 2, 10, 100);
        r.max_stock = Some(50);
        assert_eq!(
            plan(&[r.clone()], &ctx(&policy, &[], 200)).alerts[0].restock_qty,
            48
        );
        r.max_stock = Some(4);
        assert_eq!(plan(&[r], &ctx(&policy, &[], 200)).alerts[0].restock_qty, 8);
    }

    #[test]
    fn alert_ids_are_deterministic_per_reading() {
        let a = alert_id("S", "P", None, 100);
        assert_eq!(a, alert_id("S", "P", None, 100));
        assert_ne!(a, alert_id("S", "P", None, 101));
        assert_ne!(a, alert_id("S", "P2", None, 100));
        assert_ne!(
            alert_id("S", "P", Some("x"), 100),
            alert_id("S", "P", Some("y"), 100)
        );
    }

    #[test]
    fn replanning_the_same_reading_is_suppressed_as_already_alerted() {
        let policy = ReorderPolicy::plain(2, 24);
        let latest = [reading("STORE_4", 3, 10, 100)];
        let first = plan(&latest, &ctx(&policy, &[], 200));
        let ledger = vec![sent(first.alerts[0].clone(), None)];
        let second = plan(&latest, &ctx(&policy, &ledger, 300));
        assert!(second.alerts.is_empty());
        assert_eq!(second.suppressed.len(), 1);
        assert_eq!(second.suppressed[0].reason, SuppressReason::AlreadyAlerted);
        assert_eq!(second.suppressed[0].projected_stock, 20);
    }

    #[test]
    fn undelivered_alert_covers_a_newer_lower_reading() {
        let policy = ReorderPolicy::plain(2, 24);
        let first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
        let ledger = vec![sent(first.alerts[0].clone(), None)];
        let d = plan(
            &[reading("STORE_4", 1, 10, 300)],
            &ctx(&policy, &ledger, 400),
        );
        assert!(d.alerts.is_empty());
        assert_eq!(d.suppressed[0].reason, SuppressReason::CoveredByOutstanding);
        assert_eq!(d.suppressed[0].projected_stock, 18);
    }

    #[test]
    fn outstanding_that_does_not_cover_the_need_orders_the_rest() {
        let policy = ReorderPolicy::plain(2, 24);
        let mut first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
        first.alerts[0].restock_qty = 2;
        let ledger = vec![sent(first.alerts[0].clone(), None)];
        let d = plan(
            &[reading("STORE_4", 1, 10, 300)],
            &ctx(&policy, &ledger, 400),
        );
        assert_eq!(d.alerts.len(), 1);
        assert_eq!(d.alerts[0].projected_stock, 3);
        assert_eq!(d.alerts[0].restock_qty, 17);
    }

    #[test]
    fn delivered_alert_stops_counting_once_a_later_reading_reflects_it() {
        let policy = ReorderPolicy::plain(2, 24);
        let first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
        let ledger = vec![sent(first.alerts[0].clone(), Some(250))];
        // A reading taken before the delivery cannot reflect it: still covered.
        let before = plan(
            &[reading("STORE_4", 2, 10, 240)],
            &ctx(&policy, &ledger, 260),
        );
        assert!(before.alerts.is_empty());
        // A reading taken after the delivery already includes it: a new need is alerted.
        let after = plan(
            &[reading("STORE_4", 2, 10, 300)],
            &ctx(&policy, &ledger, 400),
        );
        assert_eq!(after.alerts.len(), 1);
        assert_eq!(after.alerts[0].projected_stock, 2);
    }

    #[test]
    fn undelivered_alert_expires_so_a_need_is_never_suppressed_forever() {
        let policy = ReorderPolicy::plain(2, 24);
        let first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
        let ledger = vec![sent(first.alerts[0].clone(), None)];
        let later = 200 + policy.alert_expiry_seconds();
        let d = plan(
            &[reading("STORE_4", 3, 10, later - 10)],
            &ctx(&policy, &ledger, later),
        );
        assert_eq!(d.alerts.len(), 1);
    }

    #[test]
    fn outstanding_of_other_stores_and_products_does_not_count() {
        let policy = ReorderPolicy::plain(2, 24);
        let first = plan(&[reading("STORE_1", 3, 10, 100)], &ctx(&policy, &[], 200));
        let ledger = vec![sent(first.alerts[0].clone(), None)];
        let mut other_product = reading("STORE_2", 3, 10, 150);
        other_product.product_id = "PRD_1".into();
        let d = plan(
            &[reading("STORE_2", 3, 10, 150), other_product],
            &ctx(&policy, &ledger, 200),
        );
        assert_eq!(d.alerts.len(), 2);
    }

    #[test]
    fn alerts_come_most_urgent_first() {
        let policy = ReorderPolicy::plain(2, 24);
        let d = plan(
            &[
                reading("A", 9, 10, 1),
                reading("B", 0, 10, 1),
                reading("C", 5, 10, 1),
            ],
            &ctx(&policy, &[], 2),
        );
        let order: Vec<&str> = d.alerts.iter().map(|a| a.store_id.as_str()).collect();
        assert_eq!(order, ["B", "C", "A"]);
    }

    #[test]
    fn empty_event_is_valid_and_unknown_fields_are_errors() {
        assert_eq!(
            PlanningEvent::from_json("{}").unwrap(),
            PlanningEvent::default()
        );
        let err = PlanningEvent::from_json(r#"{"lookback_hour": 3}"#).unwrap_err();
        assert!(err.reason.contains("unknown field"), "{err}");
    }

    #[test]
    fn human_lines_never_carry_terminal_escapes() {
        let policy = ReorderPolicy::plain(2, 24);
        let mut a =
            plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200)).alerts[0].clone();
        a.store_id = "S\u{1b}[2J".into();
        a.product_name = "B\u{e1}nh\u{1b}]0;pwned\u{7}".into();
        let line = a.human_line();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(
            line,
            "⚠️ Store S\\u{1b}[2J is low on 'Bánh\\u{1b}]0;pwned\\u{7}'. Alerting delivery team."
        );
    }

    #[test]
    fn an_event_must_be_an_object() {
        for not_an_object in ["[]", "[24, true]", "null", "3", "\"{}\""] {
            let err = PlanningEvent::from_json(not_an_object).unwrap_err();
            assert!(
                err.reason.contains("must be a JSON object"),
                "{not_an_object}: {err}"
            );
        }
    }

    #[test]
    fn event_ranges_are_checked() {
        assert_eq!(
            PlanningEvent::from_json(r#"{"lookback_hours": 0}"#)
                .unwrap_err()
                .field,
            "lookback_hours"
        );
        assert_eq!(
            PlanningEvent::from_json(r#"{"limit": 0}"#)
                .unwrap_err()
                .field,
            "limit"
        );
        assert_eq!(
            PlanningEvent::from_json(r#"{"store_ids": []}"#)
                .unwrap_err()
                .field,
            "store_ids"
        );
        assert_eq!(
            PlanningEvent::from_json(r#"{"store_ids": [""]}"#)
                .unwrap_err()
                .field,
            "store_ids"
        );
        let e = PlanningEvent::from_json(
            r#"{"lookback_hours": 6, "dry_run": true, "store_ids": ["S1"], "limit": 3}"#,
        )
        .unwrap();
        assert_eq!(e.lookback(), 6);
    }

    #[test]
    fn sql_binds_every_value_as_a_parameter() {
        let req = InventoryRequest::new(
            1_764_000_000,
            24,
            vec!["STORE_1'; DROP".into(), "S2".into()],
        );
        let sql = req.sql("readings");
        assert!(
            !sql.contains("STORE_1"),
            "values must not be spliced into SQL"
        );
        assert_eq!(sql.matches('?').count(), req.params().len());
        assert!(sql.contains("store_id IN (?, ?)"));
        assert_eq!(req.params()[0], SqlParam::Text("2025-11-23-16".into()));
        assert!(
            !InventoryRequest::new(0, 1, vec![])
                .sql("t")
                .contains("IN (")
        );
    }

    fn with_history(stock: i64, first_stock: i64, first_ts: i64, ts: i64) -> LatestReading {
        LatestReading {
            first_stock,
            first_timestamp: first_ts,
            readings: 5,
            ..reading("STORE_4", stock, 10, ts)
        }
    }

    #[test]
    fn velocity_counts_the_stock_drop_and_the_deliveries_in_between() {
        // 40 -> 4 over two hours: 18 an hour.
        let r = with_history(4, 40, 0, 7200);
        assert_eq!(sales_per_hour(&r, []), Some(18.0));
        // A delivery of 20 at 1 h also sold: (40 + 20 - 4) / 2 h = 28 an hour. One after the
        // latest reading is not in it.
        let mut a = plan(
            &[reading("STORE_4", 1, 10, 0)],
            &ctx(&ReorderPolicy::plain(2, 24), &[], 0),
        )
        .alerts
        .remove(0);
        a.restock_qty = 30;
        let s = AlertStatus {
            alert: a,
            deliveries: vec![
                Delivered {
                    delivered_at: 3600,
                    quantity: 20,
                },
                Delivered {
                    delivered_at: 7200,
                    quantity: 10,
                },
            ],
        };
        assert_eq!(sales_per_hour(&r, [&s]), Some(28.0));
        // Unknown with one reading, no time between readings, or an unexplained rise.
        assert_eq!(
            sales_per_hour(
                &LatestReading {
                    readings: 1,
                    ..r.clone()
                },
                []
            ),
            None
        );
        assert_eq!(sales_per_hour(&with_history(4, 40, 7200, 7200), []), None);
        assert_eq!(sales_per_hour(&with_history(50, 40, 0, 7200), []), None);
    }

    #[test]
    fn hours_to_stockout_follow_the_pace_and_an_empty_shelf_is_most_urgent() {
        assert_eq!(hours_to_stockout(9, Some(18.0)), Some(0.5));
        assert_eq!(hours_to_stockout(0, None), Some(0.0));
        assert_eq!(hours_to_stockout(9, Some(0.0)), None, "nothing sells");
        assert_eq!(hours_to_stockout(9, None), None);
        let policy = ReorderPolicy::plain(2, 24);
        let readings = [
            // Slow: 8 units at 2 an hour = 4 h.
            LatestReading {
                store_id: "SLOW".into(),
                ..with_history(8, 12, 0, 7200)
            },
            // Fast: 6 units at 18 an hour = 0.33 h.
            LatestReading {
                store_id: "FAST".into(),
                ..with_history(6, 42, 0, 7200)
            },
            // Pace unknown, deepest below the reorder point.
            LatestReading {
                store_id: "UNKNOWN".into(),
                readings: 1,
                ..with_history(1, 1, 7200, 7200)
            },
            // Empty.
            LatestReading {
                store_id: "EMPTY".into(),
                ..with_history(0, 20, 0, 7200)
            },
        ];
        let d = plan(&readings, &ctx(&policy, &[], 8000));
        let order: Vec<&str> = d.alerts.iter().map(|a| a.store_id.as_str()).collect();
        assert_eq!(order, ["EMPTY", "FAST", "SLOW", "UNKNOWN"]);
        assert_eq!(d.alerts[1].sales_per_hour, Some(18.0));
        assert_eq!(d.alerts[1].hours_to_stockout, Some(0.33));
    }

    #[test]
    fn stores_without_a_reading_in_the_window_are_silent() {
        let policy = ReorderPolicy::plain(2, 24);
        let known: Vec<String> = ["STORE_1", "STORE_4", "STORE_9"].map(String::from).to_vec();
        let c = PlanContext {
            known_stores: &known,
            ..ctx(&policy, &[], 200)
        };
        let d = plan(&[reading("STORE_4", 30, 10, 100)], &c);
        assert_eq!(d.silent_stores, ["STORE_1", "STORE_9"]);
        assert!(d.alerts.is_empty(), "a silent store is not an alert");
    }

    #[test]
    fn a_partial_delivery_leaves_the_rest_on_its_way() {
        let policy = ReorderPolicy::plain(2, 24);
        let alert = plan(&[reading("STORE_4", 2, 10, 100)], &ctx(&policy, &[], 100))
            .alerts
            .remove(0);
        assert_eq!(alert.restock_qty, 18);
        let status = AlertStatus {
            alert,
            deliveries: vec![Delivered {
                delivered_at: 150,
                quantity: 10,
            }],
        };
        // A reading after the first piece arrived reflects it; 8 units are still on their way.
        assert_eq!(status.on_the_way(200, 300, 3600), 8);
        // A reading taken before it: all 18.
        assert_eq!(status.on_the_way(120, 300, 3600), 18);
        // In the same second as the delivery: not yet reflected.
        assert_eq!(status.on_the_way(150, 300, 3600), 18);
        // Expired with nothing arriving after the reading: no longer counted.
        assert_eq!(status.on_the_way(200, 100 + 3600, 3600), 0);
    }
}
