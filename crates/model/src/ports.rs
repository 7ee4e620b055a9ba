//! The ports: what the apps need from the outside world, as traits.
//!
//! Each has an AWS adapter (Firehose, Athena, SQS, S3) and an embedded one (local Firehose,
//! DataFusion, SQLite, folder), and one contract-test suite that every adapter passes. Adapters
//! convert their technology's types and errors at the edge; nothing here knows which one runs.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::dispatch::{Delivery, Dispatch, Trip};
use crate::planning::{Alert, AlertStatus, InventoryRequest, LatestReading, PlanningRun};
use crate::reading::Reading;

/// A clock returning epoch seconds, injected into every app and adapter that needs the time, so
/// tests control it.
pub type Clock = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    std::sync::Arc::new(|| chrono::Utc::now().timestamp())
}

/// How a port operation failed, so callers know whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A passing condition (throttling, timeouts, a busy database): retrying may succeed.
    Transient,
    /// The request or the data is wrong, or the resource is missing: retrying will not help.
    Permanent,
    /// The caller's deadline came first: the work was stopped and nothing half-done was kept;
    /// trying again (with more time, or after the part that finished) may succeed.
    OutOfTime,
}

/// The error of every port.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct PortError {
    /// Whether a retry can help.
    pub kind: ErrorKind,
    /// What was being done (`put readings`, `receive alerts`, ...).
    pub operation: &'static str,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    /// An error of a kind, without an underlying error (a service's verdict, a failed entry).
    pub fn new(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            operation,
            message: message.into(),
            source: None,
        }
    }

    /// An error that may pass if retried.
    pub fn transient(
        operation: &'static str,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind: ErrorKind::Transient,
            operation,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An error that retrying will not fix, caused by `source` (without one: [`PortError::new`]).
    pub fn permanent(
        operation: &'static str,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            operation,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether the operation may succeed if retried.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Transient | ErrorKind::OutOfTime)
    }
}

/// What a reading sink has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkStats {
    /// Readings accepted by `put`.
    pub accepted: u64,
    /// Readings durably written (objects flushed, or acknowledged by the service).
    pub delivered: u64,
    /// Objects (or API calls) written.
    pub objects: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Readings retried after a partial failure.
    pub retried: u64,
    /// Readings that could not be delivered and were spooled locally for replay.
    pub spooled: u64,
}

/// The most messages one queue call sends, receives or deletes: SQS's limit, which the embedded
/// queue keeps too.
pub const MESSAGES_PER_CALL: usize = 10;

/// The largest message body, and the most body bytes in one send: SQS's limit, kept by the
/// embedded queue too.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The most readings an app hands a [`ReadingSink`] in one `put`: Firehose's limit of records per
/// `PutRecordBatch` call, so one put is at most one call.
pub const READINGS_PER_PUT: usize = 500;

/// Where readings go: Firehose on AWS, the local Firehose otherwise.
#[async_trait]
pub trait ReadingSink: Send + Sync {
    /// Accepts readings; they are buffered and written when a buffer fills or its interval passes.
    async fn put(&self, readings: &[Reading]) -> Result<(), PortError>;
    /// Writes the buffer if its interval has passed; called on a timer so a quiet stream is still
    /// delivered. Sinks without time-based buffering need not override it.
    async fn flush_if_due(&self) -> Result<(), PortError> {
        Ok(())
    }
    /// Writes everything buffered, and returns the totals so far.
    async fn flush(&self) -> Result<SinkStats, PortError>;
    /// The totals so far, without writing anything (what was delivered before a failure).
    fn stats(&self) -> SinkStats;
}

/// What the planning query found in the lake.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventorySnapshot {
    /// Id of the query execution.
    pub query_id: String,
    /// Engine name (`datafusion`, `athena`).
    pub engine: String,
    /// Latest reading per store and product.
    pub latest: Vec<LatestReading>,
    /// Readings in the window.
    pub readings_scanned: u64,
    /// Bytes read by the engine.
    pub bytes_scanned: u64,
    /// Malformed records or objects skipped (and quarantined).
    pub malformed_skipped: u64,
}

/// The planning query: Athena on AWS, DataFusion otherwise.
#[async_trait]
pub trait InventoryQuery: Send + Sync {
    /// Runs the planning SQL for a window.
    async fn latest_readings(
        &self,
        request: &InventoryRequest,
    ) -> Result<InventorySnapshot, PortError>;
}

/// A message taken from the alert queue. It stays invisible to other consumers until its
/// visibility timeout passes; deleting it needs its receipt handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The queue's id of the message.
    pub message_id: String,
    /// The handle of this receipt, needed to delete it or change its visibility.
    pub receipt_handle: String,
    /// The raw body (an [`Alert`] as JSON, when well formed).
    pub body: String,
    /// How many times the message has been received, this receipt included.
    pub receive_count: u32,
}

/// Messages in the queue, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted.
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead: u64,
}

/// The alert queue: SQS on AWS, SQLite otherwise. At-least-once, like SQS.
#[async_trait]
pub trait AlertQueue: Send + Sync {
    /// Sends alerts, in batches of at most ten; entries that fail are retried.
    async fn send(&self, alerts: &[Alert]) -> Result<(), PortError>;
    /// Receives up to `max` (at most ten) messages, waiting up to `wait` for the first one.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueMessage>, PortError>;
    /// Deletes received messages by receipt handle (after their work is durably recorded).
    async fn delete(&self, receipt_handles: &[String]) -> Result<(), PortError>;
    /// Keeps a received message invisible for `timeout` more, when work takes longer.
    async fn extend_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), PortError>;
    /// Moves a received message that cannot be processed to the dead-letter queue, with why.
    async fn dead_letter(&self, message: &QueueMessage, reason: &str) -> Result<(), PortError>;
    /// Counts the messages in each state.
    async fn depth(&self) -> Result<QueueDepth, PortError>;
}

/// Where an app's own metrics go: CloudWatch on AWS (the truck app's dispatches, deliveries,
/// open orders, dead letters); the embedded backend keeps none.
#[async_trait]
pub trait MetricsPublisher: Send + Sync {
    /// Publishes one value of each metric, now.
    async fn publish(&self, values: &[(crate::metrics::Metric, f64)]) -> Result<(), PortError>;
}

/// Whether a create-if-absent write created the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded<T> {
    /// This call created it.
    Created,
    /// It was there already (a redelivery); here is what was recorded.
    AlreadyRecorded(T),
    /// Something is recorded under the key already, but it cannot be read (a torn or foreign
    /// write). It was quarantined with a note; the key still counts as taken, so what it
    /// claimed is never done twice.
    Damaged(DamagedRecord),
}

/// A ledger record that could not be read, set aside with a note (under
/// `ledger/quarantine/`) and left in place: its key still blocks a second record, so a damaged
/// dispatch's piece is not carried again and a damaged trip keeps its truck off the road until an
/// operator repairs or removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamagedRecord {
    /// The object's key.
    pub key: String,
    /// Why it cannot be read (the first unreadable line and the parser's error).
    pub error: String,
}

/// Why an open order was closed without being delivered whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// It stayed open past the dispatcher's age limit: no truck could take it in time.
    Expired,
    /// Its store left the store list, so no route can reach it.
    StoreUnknown,
    /// It asks for more than trucks can carry in the pieces one order may be cut into.
    TooLarge,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Expired => "expired",
            Self::StoreUnknown => "store unknown",
            Self::TooLarge => "too large",
        })
    }
}

/// An open order closed with its reason: recorded in the ledger so no order leaves the
/// dispatcher's view unaccounted for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderClosure {
    /// The order's alert id.
    pub alert_id: String,
    /// Its store.
    pub store_id: String,
    /// Its product.
    pub product_id: String,
    /// When its alert was planned (fixes the ledger partition).
    pub planned_at: i64,
    /// Units ordered.
    pub quantity: i64,
    /// Units not dispatched when it was closed.
    pub undelivered: i64,
    /// When it was closed, epoch seconds.
    pub closed_at: i64,
    /// Why.
    pub reason: CloseReason,
    /// The reason in words, for the operator.
    pub detail: String,
}

/// The ledger of alerts, open orders, trips, dispatches and deliveries, in the lake (S3 objects,
/// or files). Everything but a run's alerts is written create-if-absent and never changed, which
/// is what makes several planners and dispatchers at once safe.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records the alerts of a planning run.
    async fn record_alerts(&self, run_id: &str, alerts: &[Alert]) -> Result<(), PortError>;
    /// Alerts planned at or after `since`, with their delivery status.
    async fn alerts_since(&self, since: i64) -> Result<Vec<AlertStatus>, PortError>;
    /// Records a dispatch unless one is recorded under the same dispatch id already.
    async fn record_dispatch(&self, dispatch: &Dispatch) -> Result<Recorded<Dispatch>, PortError>;
    /// Dispatches of alerts planned at or after `since`, oldest first.
    async fn dispatches_since(&self, since: i64) -> Result<Vec<Dispatch>, PortError>;
    /// Records a delivery unless one is recorded for the same dispatch already.
    async fn record_delivery(&self, delivery: &Delivery) -> Result<Recorded<Delivery>, PortError>;
    /// Deliveries of alerts planned at or after `since`, oldest first.
    async fn deliveries_since(&self, since: i64) -> Result<Vec<Delivery>, PortError>;
    /// Records an alert taken off the queue as an open order, unless it is one already.
    async fn record_order(&self, alert: &Alert) -> Result<Recorded<Alert>, PortError>;
    /// Orders of alerts planned at or after `since`, oldest first.
    async fn orders_since(&self, since: i64) -> Result<Vec<Alert>, PortError>;
    /// Claims a truck for a trip: creates trip number `trip.trip` of the truck unless another
    /// dispatcher has created it, whose trip is then returned.
    async fn claim_trip(&self, trip: &Trip) -> Result<Recorded<Trip>, PortError>;
    /// The truck's latest trip, if it ever made one.
    async fn latest_trip(&self, truck_id: &str) -> Result<Option<Trip>, PortError>;
    /// Closes an open order with its reason, unless it is closed already.
    async fn close_order(
        &self,
        closure: &OrderClosure,
    ) -> Result<Recorded<OrderClosure>, PortError>;
    /// Orders closed whose alerts were planned at or after `since`, oldest first.
    async fn closures_since(&self, since: i64) -> Result<Vec<OrderClosure>, PortError>;
    /// The damaged records this ledger has come across so far (each quarantined with a note),
    /// by key.
    fn damaged(&self) -> Vec<DamagedRecord>;
    /// Records a planning run that sent its alerts.
    async fn record_run(&self, run: &PlanningRun) -> Result<(), PortError>;
    /// Planning runs at or after `since`, oldest first.
    async fn runs_since(&self, since: i64) -> Result<Vec<PlanningRun>, PortError>;
}
