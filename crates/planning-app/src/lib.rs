//! StorePlanningApp: finds which stores need which products restocked, and alerts the trucks.
//!
//! [`Planner::handle`] is the whole planning run, the same under the Lambda runtime and from the
//! `invoke` command: run the planning SQL over the lake's window, weigh each low reading against
//! what earlier alerts already have on the way, send the new alerts to the queue, and record them
//! in the ledger. The handler borrows its adapters, built once per process by `main`.
//!
//! A run that sends leaves a record of what it read and sent in the ledger ([`PlanningRun`]),
//! after its alerts, for whoever watches the pipeline.
//!
//! Alerts are sent before they are recorded. If the run dies in between, the next run plans the
//! same readings again and sends alerts with the same deterministic ids, which the truck app
//! recognises as already dispatched: a duplicate is harmless, a lost alert would not be.
//!
//! Depends on `store-model` (ports, rules) for the handler, and on `store-runtime` for the command
//! line's wiring only ([`cli`]).

pub mod cli;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use store_model::ledger::alerts_object_key;
use store_model::planning::{PlanContext, PlanningRun, ReorderPolicy, Unlisted, Unsendable, plan};
use store_model::ports::{AlertQueue, Clock, ErrorKind, InventoryQuery, Ledger, PortError};
use store_model::{Alert, InventoryRequest, PlanningEvent, PlanningResult};
use tracing::{info, instrument, warn};

/// Why a planning run failed. Each variant is a distinct `error_type` for the Lambda runtime.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// The event breaks the contract; fix the event.
    #[error(transparent)]
    InvalidEvent(#[from] store_model::planning::EventError),
    /// The invocation's deadline came first. During the query: its queries were stopped and
    /// nothing was committed, sent or recorded. After it: what was sent is recorded, or is sent
    /// again with the same ids by the next run (a dispatcher accepts an alert once). Invoke again
    /// (a finished fold is kept), or give the function more time.
    #[error(
        "planning run cut short by the invocation's deadline (invoke again: nothing half done is kept, and alerts not recorded are sent again with the same ids): {0}"
    )]
    OutOfTime(#[source] PortError),
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
            Self::OutOfTime(_) => "DeadlineExceeded",
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

/// Time kept back from an invocation's deadline: to stop running queries, remove what they
/// half wrote, and reply before the function is cut off (a quarter of the time when the whole
/// invocation has less than four times this).
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(10);

/// The Lambda entry point: the event as it arrived (so an unknown field is our `InvalidEvent`,
/// not a runtime deserialization failure), planned by [`Planner::handle_by`] to the
/// invocation's deadline less [`DEADLINE_RESERVE`].
/// With `metrics_namespace`, each run that finishes writes one CloudWatch embedded metric format
/// line to standard output (readings and bytes scanned, alerts sent and suppressed, the time of
/// each step), which Lambda's log capture turns into metrics: no API call, no permission.
#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn lambda_handler(
    planner: &Planner,
    metrics_namespace: Option<&str>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<PlanningResult, PlanningError> {
    let deadline = invocation_deadline(event.context.deadline, SystemTime::now());
    tracing::info!(
        deadline_ms = event.context.deadline,
        work_ms = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_millis()),
        "invocation"
    );
    let event = if event.payload.is_null() {
        PlanningEvent::default()
    } else {
        PlanningEvent::from_json(&event.payload.to_string())?
    };
    let (result, steps) = planner.handle_timed(event, deadline).await?;
    if let Some(namespace) = metrics_namespace {
        println!("{}", steps.emf_line(namespace, &result));
    }
    Ok(result)
}

/// How long each step of a run took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimes {
    /// The planning query (fold and plan).
    pub query: Duration,
    /// Reading the ledger and deciding.
    pub decide: Duration,
    /// Sending the alerts and recording them and the run.
    pub send: Duration,
}

impl StepTimes {
    /// The run's metrics as one embedded metric format line.
    pub fn emf_line(&self, namespace: &str, result: &PlanningResult) -> String {
        use store_model::metrics::{
            ALERTS_SENT, ALERTS_SUPPRESSED, BYTES_SCANNED, DECIDE_MILLISECONDS, QUERY_MILLISECONDS,
            READINGS_SCANNED, SEND_MILLISECONDS, emf_line,
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        emf_line(
            namespace,
            now_ms,
            &[
                (READINGS_SCANNED, result.readings_scanned as f64),
                (BYTES_SCANNED, result.bytes_scanned as f64),
                (ALERTS_SENT, result.alerts_sent as f64),
                (ALERTS_SUPPRESSED, result.alerts_suppressed as f64),
                (QUERY_MILLISECONDS, ms(self.query)),
                (DECIDE_MILLISECONDS, ms(self.decide)),
                (SEND_MILLISECONDS, ms(self.send)),
            ],
        )
    }
}

/// `work`, unless `deadline` comes first: then the run stops with [`PlanningError::OutOfTime`],
/// naming the step. Every step after the query is resumable: alerts are sent before they are
/// recorded, and an alert sent but not recorded is sent again, with the same id, next run.
async fn by_deadline<T>(
    deadline: Option<Instant>,
    step: &'static str,
    work: impl Future<Output = Result<T, PlanningError>>,
) -> Result<T, PlanningError> {
    let Some(deadline) = deadline else {
        return work.await;
    };
    match tokio::time::timeout_at(deadline.into(), work).await {
        Ok(done) => done,
        Err(_) => Err(PlanningError::OutOfTime(PortError::new(
            ErrorKind::OutOfTime,
            step,
            format!("the deadline came during {step}; it was stopped"),
        ))),
    }
}

/// A deadline below this (2001-09-09 in epoch milliseconds) is the time left, not a time.
const RELATIVE_DEADLINE_BELOW_MS: u64 = 1_000_000_000_000;

/// When the work of an invocation must be done: its deadline (epoch milliseconds, as the
/// runtime gives it; 0 when there is none, as under a test's default context) less the reserve.
pub fn invocation_deadline(deadline_ms: u64, now: SystemTime) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // `cargo lambda watch` sends the function's timeout itself (600000) where Lambda sends an
    // epoch time; no real deadline falls before 2001, so such a value is time left.
    let left = if deadline_ms < RELATIVE_DEADLINE_BELOW_MS {
        Duration::from_millis(deadline_ms)
    } else {
        Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    };
    // A function given little time (Lambda's default is 3 s, and `cargo lambda watch` emulates
    // it) keeps a quarter of it in reserve rather than all of it.
    Some(Instant::now() + left.saturating_sub(DEADLINE_RESERVE.min(left / 4)))
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
    pub clock: Clock,
}

impl Planner {
    /// Runs one planning pass for an event, with no deadline.
    pub async fn handle(&self, event: PlanningEvent) -> Result<PlanningResult, PlanningError> {
        self.handle_by(event, None).await
    }

    /// Sends again the alerts still outstanding: recorded by a planning run within the alert
    /// expiry, with no delivery, and not accepted by a dispatcher (no open order), for when the
    /// queue lost its messages. An alert still waiting in the queue is sent twice, which is
    /// harmless: a dispatcher accepts an alert once. Returns the alerts sent.
    pub async fn resend_outstanding(&self) -> Result<Vec<Alert>, PlanningError> {
        let now = (self.clock)();
        let since = now - self.policy.alert_expiry_seconds();
        let statuses = self
            .ledger
            .alerts_since(since)
            .await
            .map_err(PlanningError::Ledger)?;
        let accepted: std::collections::HashSet<String> = self
            .ledger
            .orders_since(since)
            .await
            .map_err(PlanningError::Ledger)?
            .into_iter()
            .map(|a| a.alert_id)
            .collect();
        let outstanding: Vec<Alert> = statuses
            .into_iter()
            .filter(|s| s.deliveries.is_empty() && !accepted.contains(&s.alert.alert_id))
            .map(|s| s.alert)
            .collect();
        let (sendable, unsendable) = Unsendable::split(outstanding);
        for u in &unsendable {
            warn!(alert_id = %u.alert_id, reason = %u.reason, "alert not sent");
        }
        if !sendable.is_empty() {
            self.queue
                .send(&sendable)
                .await
                .map_err(PlanningError::Queue)?;
        }
        info!(resent = sendable.len(), "outstanding alerts sent again");
        Ok(sendable)
    }

    /// The stores expected to report in this run: the known ones, narrowed to the event's.
    fn known_stores_of(&self, event: &PlanningEvent) -> Vec<String> {
        match &event.store_ids {
            Some(ids) => self
                .known_stores
                .iter()
                .filter(|s| ids.contains(s))
                .cloned()
                .collect(),
            None => self.known_stores.clone(),
        }
    }

    /// Sends the alerts, then records them in the ledger under the run's query id.
    async fn send(&self, query_id: &str, alerts: &[Alert]) -> Result<(), PlanningError> {
        if alerts.is_empty() {
            return Ok(());
        }
        self.queue
            .send(alerts)
            .await
            .map_err(PlanningError::Queue)?;
        self.ledger
            .record_alerts(query_id, alerts)
            .await
            .map_err(PlanningError::Ledger)
    }

    /// Runs one planning pass whose every step must be done by `deadline`.
    pub async fn handle_by(
        &self,
        event: PlanningEvent,
        deadline: Option<Instant>,
    ) -> Result<PlanningResult, PlanningError> {
        self.handle_timed(event, deadline).await.map(|(r, _)| r)
    }

    /// [`Self::handle_by`], with the time each step took.
    #[instrument(skip_all, fields(lookback = event.lookback(), dry_run = event.dry_run.unwrap_or(false)), err)]
    pub async fn handle_timed(
        &self,
        event: PlanningEvent,
        deadline: Option<Instant>,
    ) -> Result<(PlanningResult, StepTimes), PlanningError> {
        event.validate()?;
        let mut steps = StepTimes::default();
        let started = Instant::now();
        let now = (self.clock)();
        let request = InventoryRequest::new(
            now,
            event.lookback(),
            event.store_ids.clone().unwrap_or_default(),
        )
        .with_deadline(deadline);
        let snapshot = self
            .query
            .latest_readings(&request)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::OutOfTime => PlanningError::OutOfTime(e),
                _ => PlanningError::Query(e),
            })?;
        let since = now
            - self
                .policy
                .alert_expiry_seconds()
                .max(i64::from(event.lookback()) * 3600);
        steps.query = started.elapsed();
        let started = Instant::now();
        let known_stores = self.known_stores_of(&event);
        let ledger = by_deadline(deadline, "reading the alert ledger", async {
            self.ledger
                .alerts_since(since)
                .await
                .map_err(PlanningError::Ledger)
        })
        .await?;
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
        // An alert the queue cannot carry (from a record past the door's limits) is reported,
        // and every other one is still sent.
        let (sendable, unsendable) = Unsendable::split(std::mem::take(&mut decision.alerts));
        decision.alerts = sendable;
        for u in &unsendable {
            warn!(alert_id = %u.alert_id, store = %u.store_id, product = %u.product_id, reason = %u.reason, "alert not sent");
        }
        let dry_run = event.dry_run.unwrap_or(false);
        steps.decide = started.elapsed();
        let started = Instant::now();
        if !dry_run {
            by_deadline(
                deadline,
                "sending and recording the alerts",
                self.send(&snapshot.query_id, &decision.alerts),
            )
            .await?;
        }
        info!(
            query_id = %snapshot.query_id,
            alerts = decision.alerts.len(),
            suppressed = decision.suppressed.len(),
            silent_stores = decision.silent_stores.len(),
            "planning run done"
        );
        let alerts_object = match decision.alerts.first() {
            Some(first) if !dry_run => {
                Some(alerts_object_key(&snapshot.query_id, first.planned_at))
            }
            _ => None,
        };
        let mut result = PlanningResult {
            messages: Vec::new(),
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
            unsendable,
            unlisted: Unlisted::default(),
            alerts_object,
        };
        if !dry_run {
            let run = PlanningRun::of(&result, now, event.lookback());
            by_deadline(deadline, "recording the run", async {
                self.ledger
                    .record_run(&run)
                    .await
                    .map_err(PlanningError::Ledger)
            })
            .await?;
        }
        steps.send = started.elapsed();
        result.bound_lists();
        Ok((result, steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_ends_before_the_invocation_does() {
        let now = SystemTime::now();
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert_eq!(
            invocation_deadline(0, now),
            None,
            "no deadline, none imposed"
        );
        let deadline = invocation_deadline(now_ms + 60_000, now).unwrap();
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(50) && left > Duration::from_secs(45),
            "{left:?}"
        );
        // A short invocation (Lambda's default 3 s) keeps a quarter in reserve, not all of it.
        let short = invocation_deadline(now_ms + 3_000, now).unwrap();
        let left = short.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_millis(2250) && left > Duration::from_millis(2000),
            "{left:?}"
        );
        // The emulator's deadline: the timeout itself, in milliseconds.
        let emulated = invocation_deadline(600_000, now).unwrap();
        let left = emulated.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(590) && left > Duration::from_secs(585),
            "{left:?}"
        );
        // Past it already: the work must stop at once.
        let late = invocation_deadline(now_ms.saturating_sub(1_000), now).unwrap();
        assert!(late <= Instant::now());
    }

    #[test]
    fn a_run_cut_short_is_its_own_error_type() {
        let e = PlanningError::OutOfTime(PortError::new(
            ErrorKind::OutOfTime,
            "planning query",
            "query q was still running at the caller's deadline; it was stopped",
        ));
        let d = Diagnostic::from(e);
        assert_eq!(d.error_type, "DeadlineExceeded");
        assert!(
            d.error_message.contains("invoke again"),
            "{}",
            d.error_message
        );
    }
}
