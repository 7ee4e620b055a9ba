//! StoreTruckApp: takes restock alerts off the queue, routes trucks, and records deliveries.
//!
//! [`Dispatcher::try_execute_task`] is one step of the dispatcher; `watch` is a thin loop around
//! it that stops on a shutdown signal, and `once` calls it one time. A step:
//!
//! 1. records the deliveries that are due: a dispatched stop whose arrival time has passed is
//!    delivered, create-if-absent, so two dispatchers never record one twice;
//! 2. finds the free trucks (those back at their depot); with none, it receives nothing and says
//!    when the first one returns, so waiting alerts are not counted as failed receives;
//! 3. gathers a batch of alerts for the batch window. A body that is not an alert, or an alert
//!    for a store with no known location, goes to the dead-letter queue with the reason; an
//!    alert already dispatched (SQS delivers at least once; a crash may come between recording
//!    and deleting) is acknowledged without a new truck;
//! 4. plans routes for the rest with [`store_model::routing`] and records every dispatch in the
//!    ledger, create-if-absent under its dispatch id;
//! 5. only then deletes the dispatched messages. Alerts no free truck could take stay queued,
//!    hidden until the first truck is back, and a message whose dispatch could not be recorded
//!    comes back after its visibility timeout.

pub mod board;
pub mod report;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use store_model::places::{Fleet, Stores, Truck};
use store_model::ports::{AlertQueue, Ledger, PortError, QueueMessage, Recorded};
use store_model::routing::{Demand, Route, RoutingOptions, Unassigned, plan_routes, split_demand};
use store_model::{Alert, Delivery, Dispatch};
use tracing::{info, warn};

/// How far back the dispatcher looks for dispatches still on the road.
pub const LOOKBACK_SECONDS: i64 = 2 * 24 * 3600;

/// Most alerts routed together in one batch.
pub const MAX_BATCH: usize = 500;

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchReport {
    /// Routes driven by this batch.
    pub routes: Vec<Route>,
    /// Dispatches recorded by this batch, in route order.
    pub dispatched: Vec<Dispatch>,
    /// Deliveries recorded by this step.
    pub delivered: Vec<Delivery>,
    /// Alerts left queued, with the reason.
    pub unassigned: Vec<Unassigned>,
    /// Alerts that had been dispatched already (redeliveries), acknowledged without a new truck.
    pub duplicates: usize,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: usize,
    /// Messages left on the queue to be retried after an error.
    pub retried: usize,
}

impl BatchReport {
    /// Adds another step's report.
    pub fn absorb(&mut self, other: &BatchReport) {
        self.routes.extend(other.routes.iter().cloned());
        self.dispatched.extend(other.dispatched.iter().cloned());
        self.delivered.extend(other.delivered.iter().cloned());
        self.unassigned.extend(other.unassigned.iter().cloned());
        self.duplicates += other.duplicates;
        self.dead_lettered += other.dead_lettered;
        self.retried += other.retried;
    }

    /// Whether anything happened.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether a step found work.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionOutcome {
    /// A batch was handled (or deliveries recorded).
    TaskCompleted(BatchReport),
    /// The queue had nothing within the wait time.
    EmptyQueue,
    /// Every truck is on the road; the first is back at this epoch second.
    NoFreeTruck {
        /// Deliveries recorded by this step.
        delivered: Vec<Delivery>,
        /// When the first truck is back.
        until: i64,
    },
}

/// The dispatcher and its adapters.
pub struct Dispatcher {
    /// Where alerts come from.
    pub queue: Arc<dyn AlertQueue>,
    /// Where dispatches and deliveries are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// Depots and trucks.
    pub fleet: Fleet,
    /// Store locations.
    pub stores: Stores,
    /// Effort of the route improvement.
    pub routing: RoutingOptions,
    /// How long a receive waits for a first message.
    pub wait: Duration,
    /// How long alerts are gathered after the first one, to be routed together.
    pub batch_window: Duration,
    /// Divides every travel and service time (1 is real time; demos and tests run faster).
    pub time_scale: f64,
    /// Epoch seconds now.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Dispatcher {
    /// One step: deliveries due, then one batch of alerts for the free trucks.
    pub async fn try_execute_task(&self) -> Result<ExecutionOutcome, PortError> {
        let now = (self.clock)();
        let dispatches = self.ledger.dispatches_since(now - LOOKBACK_SECONDS).await?;
        let delivered = self.deliver_due(&dispatches, now).await?;
        let free = free_trucks(&self.fleet, &dispatches, now);
        if free.is_empty() {
            let until = dispatches
                .iter()
                .map(|d| d.truck_back_at)
                .filter(|&t| t > now)
                .min()
                .unwrap_or(now + 1);
            return Ok(ExecutionOutcome::NoFreeTruck { delivered, until });
        }
        let messages = self.gather().await?;
        if messages.is_empty() {
            return Ok(if delivered.is_empty() {
                ExecutionOutcome::EmptyQueue
            } else {
                ExecutionOutcome::TaskCompleted(BatchReport {
                    delivered,
                    ..BatchReport::default()
                })
            });
        }
        let mut report = BatchReport {
            delivered,
            ..BatchReport::default()
        };
        let dispatched: HashSet<&str> = dispatches.iter().map(|d| d.dispatch_id.as_str()).collect();
        let cap = self.fleet.max_capacity();
        let mut done = Vec::with_capacity(messages.len());
        let mut batch: Vec<(Alert, &QueueMessage)> = Vec::new();
        let mut demands: Vec<Demand> = Vec::new();
        let mut seen = HashSet::new();
        for message in &messages {
            let alert: Alert = match serde_json::from_str(&message.body) {
                Ok(a) => a,
                Err(e) => {
                    self.dead_letter(message, &format!("not a restock alert: {e}"))
                        .await?;
                    report.dead_lettered += 1;
                    continue;
                }
            };
            if self.stores.get(&alert.store_id).is_none() {
                let reason = format!(
                    "no location for store `{}` in the store list; add it to the stores file and redrive",
                    alert.store_id
                );
                self.dead_letter(message, &reason).await?;
                report.dead_lettered += 1;
                continue;
            }
            // The pieces the alert is cut into, and those an earlier batch already sent.
            let demand = Demand {
                demand_id: alert.alert_id.clone(),
                store_id: alert.store_id.clone(),
                quantity: alert.restock_qty,
                dispatched_pieces: Vec::new(),
            };
            let pieces = split_demand(&demand, cap);
            let done_pieces: Vec<u32> = pieces
                .iter()
                .filter(|p| dispatched.contains(p.dispatch_id().as_str()))
                .map(|p| p.piece)
                .collect();
            if done_pieces.len() == pieces.len() || !seen.insert(alert.alert_id.clone()) {
                info!(alert_id = %alert.alert_id, "already dispatched; acknowledging the redelivery");
                done.push(message.receipt_handle.clone());
                report.duplicates += 1;
                continue;
            }
            demands.push(Demand {
                dispatched_pieces: done_pieces,
                ..demand
            });
            batch.push((alert, message));
        }
        let plan = plan_routes(&self.fleet, &free, &self.stores, &demands, &self.routing);
        let alerts: HashMap<&str, &Alert> = batch
            .iter()
            .map(|(a, _)| (a.alert_id.as_str(), a))
            .collect();
        let handle_of: HashMap<&str, &QueueMessage> = batch
            .iter()
            .map(|(a, m)| (a.alert_id.as_str(), *m))
            .collect();
        let departed = (self.clock)();
        // An alert is done when every piece of it is recorded; a failed record leaves it queued.
        let mut failed: HashSet<String> = HashSet::new();
        let mut recorded: HashSet<String> = HashSet::new();
        for route in &plan.routes {
            for dispatch in Dispatch::for_route(route, &alerts, departed, self.time_scale) {
                match self.ledger.record_dispatch(&dispatch).await {
                    Ok(Recorded::Created) => {
                        info!(dispatch_id = %dispatch.dispatch_id, truck = %dispatch.truck_id, "dispatched");
                        recorded.insert(dispatch.alert_id.clone());
                        report.dispatched.push(dispatch);
                    }
                    Ok(Recorded::AlreadyRecorded(first)) => {
                        info!(dispatch_id = %first.dispatch_id, truck = %first.truck_id, "already dispatched");
                        recorded.insert(dispatch.alert_id.clone());
                    }
                    Err(e) => {
                        warn!(dispatch_id = %dispatch.dispatch_id, error = %e, "dispatch not recorded; the alert will be retried");
                        failed.insert(dispatch.alert_id.clone());
                    }
                }
            }
        }
        let waiting: HashSet<&str> = plan
            .unassigned
            .iter()
            .map(|u| u.demand_id.as_str())
            .collect();
        // Waiting work comes back when the first truck on the road (out before this batch, or
        // leaving now) is expected back at its depot; soon, if none is out.
        let first_back = dispatches
            .iter()
            .map(|d| d.truck_back_at)
            .chain(
                plan.routes
                    .iter()
                    .map(|r| departed + (r.duration_s as f64 / self.time_scale).ceil() as i64),
            )
            .filter(|&t| t > now)
            .min()
            .map_or(1, |t| t - now)
            .clamp(1, 12 * 3600) as u64;
        for (alert_id, message) in &handle_of {
            if failed.contains(*alert_id) {
                report.retried += 1;
            } else if waiting.contains(alert_id) {
                self.queue
                    .extend_visibility(&message.receipt_handle, Duration::from_secs(first_back))
                    .await?;
            } else if recorded.contains(*alert_id) {
                done.push(message.receipt_handle.clone());
            }
        }
        report.routes = plan.routes;
        report.unassigned = plan.unassigned;
        self.queue.delete(&done).await?;
        Ok(ExecutionOutcome::TaskCompleted(report))
    }

    /// Receives up to [`MAX_BATCH`] alerts: waits for the first, then gathers for the window.
    async fn gather(&self) -> Result<Vec<QueueMessage>, PortError> {
        let mut messages = self.queue.receive(10, self.wait).await?;
        if messages.is_empty() {
            return Ok(messages);
        }
        let deadline = tokio::time::Instant::now() + self.batch_window;
        while messages.len() < MAX_BATCH {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let more = self
                .queue
                .receive(
                    10.min(MAX_BATCH - messages.len()),
                    left.min(Duration::from_secs(1)),
                )
                .await?;
            messages.extend(more);
        }
        Ok(messages)
    }

    async fn dead_letter(&self, message: &QueueMessage, reason: &str) -> Result<(), PortError> {
        warn!(message_id = %message.message_id, %reason, "moving message to the dead-letter queue");
        self.queue.dead_letter(message, reason).await
    }

    /// Records the delivery of every dispatched stop whose arrival time has passed.
    async fn deliver_due(
        &self,
        dispatches: &[Dispatch],
        now: i64,
    ) -> Result<Vec<Delivery>, PortError> {
        let due: Vec<&Dispatch> = dispatches.iter().filter(|d| d.eta <= now).collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let known: HashSet<String> = self
            .ledger
            .deliveries_since(now - LOOKBACK_SECONDS)
            .await?
            .into_iter()
            .map(|d| d.dispatch_id)
            .collect();
        let mut out = Vec::new();
        for d in due {
            if known.contains(&d.dispatch_id) {
                continue;
            }
            let delivery = d.delivered(d.eta);
            if let Recorded::Created = self.ledger.record_delivery(&delivery).await? {
                info!(dispatch_id = %d.dispatch_id, truck = %d.truck_id, "delivered");
                out.push(delivery);
            }
        }
        Ok(out)
    }

    /// Runs steps until `shutdown` resolves, calling `on_step` after each one that did
    /// something. Queue errors are reported and retried after a pause, so a passing outage does
    /// not end the watch; with every truck out, it sleeps until one is back (at most a second,
    /// so deliveries are still recorded on time).
    pub async fn run_until(
        &self,
        shutdown: impl Future<Output = ()>,
        mut on_step: impl FnMut(&BatchReport),
    ) {
        tokio::pin!(shutdown);
        loop {
            let pause = tokio::select! {
                () = &mut shutdown => return,
                outcome = self.try_execute_task() => match outcome {
                    Ok(ExecutionOutcome::TaskCompleted(report)) => {
                        on_step(&report);
                        None
                    }
                    Ok(ExecutionOutcome::EmptyQueue) => None,
                    Ok(ExecutionOutcome::NoFreeTruck { delivered, .. }) => {
                        if !delivered.is_empty() {
                            on_step(&BatchReport { delivered, ..BatchReport::default() });
                        }
                        Some(Duration::from_secs(1))
                    }
                    Err(e) => {
                        warn!(error = %e, "dispatching failed; trying again shortly");
                        Some(Duration::from_secs(1))
                    }
                },
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Trucks not on the road at `now`: a truck is out from its route's departure until it is
/// back at its depot.
pub fn free_trucks(fleet: &Fleet, dispatches: &[Dispatch], now: i64) -> Vec<Truck> {
    let busy: HashSet<&str> = dispatches
        .iter()
        .filter(|d| d.truck_back_at > now)
        .map(|d| d.truck_id.as_str())
        .collect();
    fleet
        .trucks
        .iter()
        .filter(|t| !busy.contains(t.truck_id.as_str()))
        .cloned()
        .collect()
}
