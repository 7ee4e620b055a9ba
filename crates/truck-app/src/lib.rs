//! StoreTruckApp: takes restock alerts off the queue and dispatches trucks.
//!
//! [`Dispatcher::try_execute_task`] handles one batch and says whether there was work; `watch` is a
//! thin loop around it that stops on a shutdown signal, and `once` calls it one time (as the seed's
//! truck function handles one batch). For every message:
//!
//! 1. parse the alert; a body that is not an alert goes to the dead-letter queue with the reason;
//! 2. record the dispatch in the ledger, create-if-absent under the alert's id, so an alert seen
//!    twice (SQS delivers at least once; a crash may come between steps 2 and 3) finds its
//!    dispatch instead of sending a second truck;
//! 3. only then delete the message. A message whose dispatch could not be recorded is left alone
//!    and comes back after its visibility timeout.

use std::sync::Arc;
use std::time::Duration;

use store_model::ports::{AlertQueue, Ledger, PortError, QueueMessage, Recorded};
use store_model::{Alert, Dispatch, Truck};
use tracing::{Instrument, info, info_span, warn};

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Dispatches recorded by this batch, in order.
    pub dispatched: Vec<Dispatch>,
    /// Alerts that had been dispatched already (redeliveries), acknowledged without a new truck.
    pub duplicates: usize,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: usize,
    /// Messages left on the queue to be retried.
    pub retried: usize,
}

/// Whether a call found work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionOutcome {
    /// A batch was handled.
    TaskCompleted(BatchReport),
    /// The queue had nothing within the wait time.
    EmptyQueue,
}

/// The dispatcher and its adapters.
pub struct Dispatcher {
    /// Where alerts come from.
    pub queue: Arc<dyn AlertQueue>,
    /// Where dispatches are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// The trucks.
    pub fleet: Vec<Truck>,
    /// How long a receive waits for a first message.
    pub wait: Duration,
    /// Epoch seconds now.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

enum Handled {
    Dispatched(Dispatch),
    Duplicate,
    DeadLettered,
}

impl Dispatcher {
    /// Receives one batch and handles every message in it.
    pub async fn try_execute_task(&self) -> Result<ExecutionOutcome, PortError> {
        let messages = self.queue.receive(10, self.wait).await?;
        if messages.is_empty() {
            return Ok(ExecutionOutcome::EmptyQueue);
        }
        let mut report = BatchReport::default();
        let mut done = Vec::with_capacity(messages.len());
        for message in &messages {
            let span = info_span!("alert message", message_id = %message.message_id, receive_count = message.receive_count);
            match self.handle(message).instrument(span).await {
                Ok(Handled::Dispatched(d)) => {
                    done.push(message.receipt_handle.clone());
                    report.dispatched.push(d);
                }
                Ok(Handled::Duplicate) => {
                    done.push(message.receipt_handle.clone());
                    report.duplicates += 1;
                }
                Ok(Handled::DeadLettered) => report.dead_lettered += 1,
                Err(e) => {
                    warn!(message_id = %message.message_id, error = %e, "dispatch not recorded; the message will be retried");
                    report.retried += 1;
                }
            }
        }
        self.queue.delete(&done).await?;
        Ok(ExecutionOutcome::TaskCompleted(report))
    }

    async fn handle(&self, message: &QueueMessage) -> Result<Handled, PortError> {
        let alert: Alert = match serde_json::from_str(&message.body) {
            Ok(a) => a,
            Err(e) => {
                let reason = format!("not a restock alert: {e}");
                warn!(%reason, "moving message to the dead-letter queue");
                self.queue.dead_letter(message, &reason).await?;
                return Ok(Handled::DeadLettered);
            }
        };
        let dispatch = Dispatch::for_alert(&alert, &self.fleet, (self.clock)());
        match self.ledger.record_dispatch(&dispatch).await? {
            Recorded::Created => {
                info!(alert_id = %alert.alert_id, truck = %dispatch.truck_id, "dispatched");
                Ok(Handled::Dispatched(dispatch))
            }
            Recorded::AlreadyRecorded(first) => {
                info!(alert_id = %alert.alert_id, truck = %first.truck_id, "already dispatched; acknowledging the redelivery");
                Ok(Handled::Duplicate)
            }
        }
    }

    /// Handles batches until `shutdown` resolves, calling `on_batch` after each one. Queue
    /// errors are reported and retried after a pause, so a passing outage does not end the watch.
    pub async fn run_until(
        &self,
        shutdown: impl Future<Output = ()>,
        mut on_batch: impl FnMut(&BatchReport),
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                outcome = self.try_execute_task() => match outcome {
                    Ok(ExecutionOutcome::TaskCompleted(report)) => on_batch(&report),
                    Ok(ExecutionOutcome::EmptyQueue) => {}
                    Err(e) => {
                        warn!(error = %e, "receiving alerts failed; trying again shortly");
                        tokio::select! {
                            () = &mut shutdown => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                },
            }
        }
    }
}
