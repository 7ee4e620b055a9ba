//! StorePlanningApp: finds which stores need which products restocked, and alerts the trucks.
//!
//! [`Planner::handle`] is the whole planning run, the same under the Lambda runtime and from the
//! `invoke` command: run the planning SQL over the lake's window, weigh each low reading against
//! what earlier alerts already have on the way, send the new alerts to the queue, and record them
//! in the ledger. The handler borrows its adapters, built once per process by `main`.
//!
//! Alerts are sent before they are recorded. If the run dies in between, the next run plans the
//! same readings again and sends alerts with the same deterministic ids, which the truck app
//! recognises as already dispatched: a duplicate is harmless, a lost alert would not be.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent};
use store_model::planning::{PlanContext, ReorderPolicy, plan};
use store_model::ports::{AlertQueue, InventoryQuery, Ledger, PortError};
use store_model::{InventoryRequest, PlanningEvent, PlanningResult};
use tracing::{info, instrument};

/// Why a planning run failed. Each variant is a distinct `error_type` for the Lambda runtime.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// The event breaks the contract; fix the event.
    #[error(transparent)]
    InvalidEvent(#[from] store_model::planning::EventError),
    /// The planning query failed.
    #[error("planning query failed: {0}")]
    Query(#[source] PortError),
    /// Reading or writing the ledger failed.
    #[error("alert ledger failed: {0}")]
    Ledger(#[source] PortError),
    /// Sending alerts failed; nothing was recorded, so the next run sends them again.
    #[error("sending alerts failed: {0}")]
    Queue(#[source] PortError),
}

impl PlanningError {
    /// A short stable name of the failure, for the Lambda runtime's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) => "InvalidEvent",
            Self::Query(_) => "QueryFailed",
            Self::Ledger(_) => "LedgerFailed",
            Self::Queue(_) => "QueueFailed",
        }
    }
}

impl From<PlanningError> for Diagnostic {
    fn from(e: PlanningError) -> Self {
        Self {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The Lambda entry point: the event as it arrived (so an unknown field is our `InvalidEvent`,
/// not a runtime deserialization failure), planned by [`Planner::handle`].
#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn lambda_handler(
    planner: &Planner,
    event: LambdaEvent<serde_json::Value>,
) -> Result<PlanningResult, PlanningError> {
    let event = if event.payload.is_null() {
        PlanningEvent::default()
    } else {
        PlanningEvent::from_json(&event.payload.to_string())?
    };
    planner.handle(event).await
}

/// The planning run with its adapters.
pub struct Planner {
    /// Where the latest readings come from.
    pub query: Arc<dyn InventoryQuery>,
    /// Where alerts go.
    pub queue: Arc<dyn AlertQueue>,
    /// Where alerts are recorded, and dispatches and deliveries read.
    pub ledger: Arc<dyn Ledger>,
    /// The reorder policy.
    pub policy: ReorderPolicy,
    /// Stores expected to report; those silent in the window are listed in the result.
    pub known_stores: Vec<String>,
    /// Epoch seconds now; injected so tests fix the time.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Planner {
    /// Runs one planning pass for an event.
    #[instrument(skip_all, fields(lookback = event.lookback(), dry_run = event.dry_run.unwrap_or(false)), err)]
    pub async fn handle(&self, event: PlanningEvent) -> Result<PlanningResult, PlanningError> {
        event.validate()?;
        let now = (self.clock)();
        let request = InventoryRequest::new(
            now,
            event.lookback(),
            event.store_ids.clone().unwrap_or_default(),
        );
        let snapshot = self
            .query
            .latest_readings(&request)
            .await
            .map_err(PlanningError::Query)?;
        let since = now
            - self
                .policy
                .alert_expiry_seconds()
                .max(i64::from(event.lookback()) * 3600);
        let known_stores: Vec<String> = match &event.store_ids {
            Some(ids) => self
                .known_stores
                .iter()
                .filter(|s| ids.contains(s))
                .cloned()
                .collect(),
            None => self.known_stores.clone(),
        };
        let ledger = self
            .ledger
            .alerts_since(since)
            .await
            .map_err(PlanningError::Ledger)?;
        let ctx = PlanContext {
            policy: &self.policy,
            ledger: &ledger,
            now,
            query_id: &snapshot.query_id,
            known_stores: &known_stores,
        };
        let mut decision = plan(&snapshot.latest, &ctx);
        if let Some(limit) = event.limit {
            decision.alerts.truncate(limit);
        }
        let dry_run = event.dry_run.unwrap_or(false);
        if !dry_run && !decision.alerts.is_empty() {
            self.queue
                .send(&decision.alerts)
                .await
                .map_err(PlanningError::Queue)?;
            self.ledger
                .record_alerts(&snapshot.query_id, &decision.alerts)
                .await
                .map_err(PlanningError::Ledger)?;
        }
        info!(
            query_id = %snapshot.query_id,
            alerts = decision.alerts.len(),
            suppressed = decision.suppressed.len(),
            silent_stores = decision.silent_stores.len(),
            "planning run done"
        );
        Ok(PlanningResult {
            messages: decision.alerts.iter().map(|a| a.human_line()).collect(),
            query_id: snapshot.query_id,
            engine: snapshot.engine,
            readings_scanned: snapshot.readings_scanned,
            bytes_scanned: snapshot.bytes_scanned,
            malformed_skipped: snapshot.malformed_skipped,
            alerts_sent: if dry_run { 0 } else { decision.alerts.len() },
            alerts_suppressed: decision.suppressed.len(),
            dry_run,
            alerts: decision.alerts,
            suppressed: decision.suppressed,
            silent_stores: decision.silent_stores,
        })
    }
}
