//! The record a planning run leaves in the ledger: when it ran, what it read and what it sent,
//! so anyone watching (the operations page, an operator reading the bucket) sees the last run
//! whoever made it: the Lambda, `invoke`, or the page's own button.

use serde::{Deserialize, Serialize};

use super::PlanningResult;
use crate::lake::{RUNS_PREFIX, ledger_object_key};

/// One planning run that sent its alerts (dry runs record nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanningRun {
    /// Id of the query execution behind the run; the run's alerts object is named after it.
    pub query_id: String,
    /// Which engine ran the planning SQL (`datafusion`, `athena`).
    pub engine: String,
    /// When the run planned, epoch seconds.
    pub planned_at: i64,
    /// Hours of readings it considered.
    pub lookback_hours: u32,
    /// Readings in the window.
    pub readings_scanned: u64,
    /// Bytes the engine read.
    pub bytes_scanned: u64,
    /// Records skipped as malformed (and quarantined).
    pub malformed_skipped: u64,
    /// Alerts sent to the queue.
    pub alerts_sent: usize,
    /// Low readings already covered by earlier alerts.
    pub alerts_suppressed: usize,
    /// Known stores that sent no reading in the window.
    pub silent_stores: usize,
    /// Alerts that could not be sent.
    pub unsendable: usize,
}

impl PlanningRun {
    /// The record of a run's result, counted before its lists were bounded.
    pub fn of(result: &PlanningResult, planned_at: i64, lookback_hours: u32) -> Self {
        Self {
            query_id: result.query_id.clone(),
            engine: result.engine.clone(),
            planned_at,
            lookback_hours,
            readings_scanned: result.readings_scanned,
            bytes_scanned: result.bytes_scanned,
            malformed_skipped: result.malformed_skipped,
            alerts_sent: result.alerts_sent,
            alerts_suppressed: result.alerts_suppressed,
            silent_stores: result.silent_stores.len() + result.unlisted.silent_stores,
            unsendable: result.unsendable.len() + result.unlisted.unsendable,
        }
    }

    /// The ledger object of the record: `ledger/runs/dt=<hour>/run-<query id>.json`.
    pub fn ledger_key(&self) -> String {
        ledger_object_key(
            RUNS_PREFIX,
            self.planned_at,
            &format!("run-{}", self.query_id),
        )
    }
}
