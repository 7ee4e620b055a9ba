//! Planning: from the latest reading of each store and product to restock alerts.
//!
//! The rules, in order:
//! 1. Per (store, product) only the latest reading in the lookback window counts (latest by
//!    `check_timestamp`; at the same second the lower stock, then the greater `event_id`, so the
//!    content decides, never the order of arrival). The query engines compute it with the one
//!    [`planning_sql`] text.
//! 2. `projected = current_stock + outstanding`, where outstanding is the quantity already
//!    alerted (whether waiting for a truck or in transit) that the reading does not yet reflect.
//! 3. Low when `projected < threshold_level`; restock quantity = order-up-to level - projected.
//! 4. Every alert has a deterministic id derived from the reading it answers, so planning twice
//!    over the same data yields the same ids, and a consumer can drop duplicates.
//!
//! The folder holds the alert itself ([`alert`]), the rules ([`rules`]), the Lambda's event and
//! result ([`event`]), the record a run leaves ([`run`]) and the SQL text both engines run ([`sql`]). Depends on `policy`, `latest`,
//! `lake` (partition names) and `reading` (the clock skew bound); nothing here does I/O.

mod alert;
mod event;
mod rules;
mod run;
mod sql;
#[cfg(test)]
mod tests;

pub use crate::latest::LatestReading;
pub use crate::policy::ReorderPolicy;
pub use alert::{ALERT_TEXT, Alert, AlertStatus, Delivered, alert_id, printable};
pub use event::{
    EventError, MAX_ALERT_BODY_BYTES, MAX_LISTED, MAX_LISTED_BYTES, PlanningEvent, PlanningResult,
    Unlisted, Unsendable,
};
pub use rules::{
    JOIN_SHARE_PRIOR, JOINED_RULE, JoinedShares, PlanContext, PlanDecision, SuppressReason,
    Suppressed, hours_to_stockout, lead_times, outstanding_quantity, plan, sales_per_hour,
};
pub use run::PlanningRun;
pub use sql::{
    InventoryRequest, SqlParam, compaction_sql, folded_partition_params, incremental_planning_sql,
    planning_sql, rejected_rows_sql, replace_placeholders,
};

/// Default lookback window of a planning run.
pub const DEFAULT_LOOKBACK_HOURS: u32 = 24;
/// Longest lookback a planning event may ask for (90 days).
pub const MAX_LOOKBACK_HOURS: u32 = 24 * 90;
