//! StoreTruckApp: takes restock alerts off the queue, routes trucks, and records deliveries.
//!
//! The queue hands alerts over and the ledger keeps them: a received alert is accepted as an open
//! order (create-if-absent) and only then deleted, and trucks are planned from the open orders.
//! Waiting for a truck is therefore not a failed receive, and a queue's receive count (and its
//! dead-letter queue) counts only alerts that could not be accepted.
//!
//! [`Dispatcher::try_execute_task`] is one step of the dispatcher; `watch` is a thin loop around
//! it that stops on a shutdown signal, and `once` calls it one time. A step:
//!
//! 1. **finishes** trips a stopped dispatcher claimed without recording all their dispatches, and
//!    records the deliveries that are due (create-if-absent, so two dispatchers never record one
//!    twice);
//! 2. **accepts** what the queue holds, ten messages at a time for the batch window: a body that
//!    is not an alert, or an alert for a store with no known location, goes to the dead-letter
//!    queue with the reason; an alert becomes an open order, and its message is deleted once the
//!    order is recorded (an alert accepted before, redelivered, is simply deleted);
//! 3. **plans** routes for the open orders with the free trucks ([`store_model::routing`]);
//! 4. **claims** each route's truck by creating its next trip in the ledger, create-if-absent: a
//!    dispatcher that finds the trip taken by another re-plans without that truck; then records
//!    every dispatch of the trip, create-if-absent under its dispatch id, so a piece is never
//!    carried twice.
//!
//! Depends on `store-model` (ports, routing) for the dispatcher, and on `store-runtime` for the
//! command line's wiring only ([`cli`]).

pub mod board;
pub mod cli;
pub mod console;
pub mod map;
pub mod ops;
pub mod report;
mod run;

use run::Stop;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use store_model::ledger::dispatch_id_of_key;
use store_model::places::{Fleet, Stores, Truck};
use store_model::planning::printable;
use store_model::ports::{
    AlertQueue, Clock, CloseReason, Ledger, MESSAGES_PER_CALL, OrderClosure, PortError,
    QueueMessage, Recorded,
};
use store_model::routing::{
    Demand, Piece, Route, RoutingOptions, Unassigned, plan_routes, split_demand,
};
use store_model::{Alert, Delivery, Dispatch, Trip};
use tracing::{info, warn};

/// How far back the dispatcher looks for open orders and dispatches still on the road.
pub const LOOKBACK_SECONDS: i64 = 2 * 24 * 3600;

/// Most open orders routed together in one step (the oldest first). Orders no route can reach
/// (a store that left the store list) take no place among them.
pub const MAX_ORDERS_PER_STEP: usize = 500;

/// How long an order may stay open: older, it is closed with its reason (expired, or its store
/// unknown) and the planner's expiry lets a new alert take its place. Half the lookback, so a
/// dispatcher stopped for up to a day still finds every order it must close.
pub const ORDER_MAX_AGE_SECONDS: i64 = LOOKBACK_SECONDS / 2;

/// Most messages accepted in one step.
pub const MAX_ACCEPTS_PER_STEP: usize = 500;

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchReport {
    /// Alerts taken off the queue and recorded as open orders.
    pub accepted: usize,
    /// Routes driven by this step.
    pub routes: Vec<Route>,
    /// Dispatches recorded by this step, in route order.
    pub dispatched: Vec<Dispatch>,
    /// Deliveries recorded by this step.
    pub delivered: Vec<Delivery>,
    /// Open orders (or pieces of them) waiting for a truck, with the reason.
    pub unassigned: Vec<Unassigned>,
    /// Alerts accepted before (redeliveries), deleted from the queue without a second order.
    pub duplicates: usize,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: usize,
    /// Messages or trips left to be retried after an error.
    pub retried: usize,
    /// Trips another dispatcher claimed first; their work was planned again.
    pub lost_claims: usize,
    /// Orders closed with their reason by this step.
    pub closed: Vec<OrderClosure>,
}

impl BatchReport {
    /// Adds another step's report.
    pub fn absorb(&mut self, other: &BatchReport) {
        self.accepted += other.accepted;
        self.routes.extend(other.routes.iter().cloned());
        self.dispatched.extend(other.dispatched.iter().cloned());
        self.delivered.extend(other.delivered.iter().cloned());
        self.unassigned.extend(other.unassigned.iter().cloned());
        self.duplicates += other.duplicates;
        self.dead_lettered += other.dead_lettered;
        self.retried += other.retried;
        self.lost_claims += other.lost_claims;
        self.closed.extend(other.closed.iter().cloned());
    }

    /// Whether anything happened.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The step's figures as the truck app's metrics, with the orders open after it.
    pub fn metric_values(&self, open_orders: usize) -> Vec<(store_model::metrics::Metric, f64)> {
        use store_model::metrics::{
            DEAD_LETTERED, DELIVERIES, DISPATCHES, OPEN_ORDERS, ORDERS_CLOSED,
        };
        vec![
            (DISPATCHES, self.dispatched.len() as f64),
            (DELIVERIES, self.delivered.len() as f64),
            (OPEN_ORDERS, open_orders as f64),
            (DEAD_LETTERED, self.dead_lettered as f64),
            (ORDERS_CLOSED, self.closed.len() as f64),
        ]
    }

    /// Whether nothing happened but orders waiting (which wait the same way every step).
    fn only_waiting(&self) -> bool {
        Self {
            unassigned: Vec::new(),
            ..self.clone()
        }
        .is_empty()
    }
}

/// Whether a step found work.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionOutcome {
    /// Alerts were accepted, trucks dispatched or deliveries recorded.
    TaskCompleted(BatchReport),
    /// The queue had nothing within the wait time and no order is open.
    EmptyQueue,
    /// Orders are open and every truck is on the road; the first is back at this epoch second.
    NoFreeTruck {
        /// What the step did (alerts accepted, deliveries recorded).
        report: BatchReport,
        /// When the first truck is back.
        until: i64,
    },
}

/// An open order: an accepted alert and the pieces of it already on a truck.
#[derive(Debug, Clone)]
pub struct OpenOrder {
    /// The alert.
    pub alert: Alert,
    /// Its pieces already dispatched (or claimed on a trip).
    pub dispatched_pieces: Vec<u32>,
}

/// The dispatcher and its adapters.
pub struct Dispatcher {
    /// Where alerts come from.
    pub queue: Arc<dyn AlertQueue>,
    /// Where orders, trips, dispatches and deliveries are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// Depots and trucks.
    pub fleet: Fleet,
    /// Store locations.
    pub stores: Stores,
    /// Effort of the route improvement.
    pub routing: RoutingOptions,
    /// How long a receive waits for a first message.
    pub wait: Duration,
    /// How long alerts are gathered after the first one, to be routed together; zero takes
    /// what is queued at that moment (up to [`MAX_ACCEPTS_PER_STEP`]) and no more.
    pub batch_window: Duration,
    /// Divides every travel and service time (1 is real time; demos and tests run faster).
    pub time_scale: f64,
    /// Epoch seconds now.
    pub clock: Clock,
}

/// The state of the road at the start of a step.
struct Road {
    /// Dispatches of the lookback window.
    dispatches: Vec<Dispatch>,
    /// Each truck's latest trip.
    trips: HashMap<String, Trip>,
    /// Trucks kept off the road, with why (their latest trip is unreadable).
    parked: Vec<(String, String)>,
    /// Dispatch ids whose records are damaged: their pieces count as taken.
    damaged_dispatches: HashSet<String>,
}

/// The open orders of a step, sorted by what can be done with them.
struct Orders {
    /// Orders a route can reach, oldest first.
    routable: Vec<OpenOrder>,
    /// Orders no route can reach yet, with why (they stay open until their age is up).
    unroutable: Vec<Unassigned>,
    /// Orders to close, with their reason.
    to_close: Vec<OrderClosure>,
}

impl Dispatcher {
    /// One step: finish and deliver, accept what is queued, then dispatch open orders.
    pub async fn try_execute_task(&self) -> Result<ExecutionOutcome, PortError> {
        self.step(&mut Stop::never()).await
    }

    /// One step that stops waiting for messages when `stop` is asked. Only the waits are raced
    /// against it: the ledger writes and deletes of a step always run to their end.
    pub(crate) async fn step(&self, stop: &mut Stop) -> Result<ExecutionOutcome, PortError> {
        let now = (self.clock)();
        let mut report = BatchReport::default();
        let mut road = self.road(now).await?;
        self.finish_trips(&mut road, now, &mut report).await?;
        report.delivered = self.deliver_due(&road.dispatches, now).await?;
        let free = free_trucks(&self.fleet, &road, now);
        let orders = self.open_orders(now, &road).await?;
        self.close_orders(&orders.to_close, &mut report).await?;
        report.unassigned.extend(orders.unroutable);
        let mut open = orders.routable;
        // With trucks free and orders open there is work already: take what is queued, no wait.
        let wait = if free.is_empty() || open.is_empty() {
            self.wait
        } else {
            Duration::ZERO
        };
        let accepted = self.accept(wait, stop, &mut report).await?;
        let planned: HashSet<String> = open.iter().map(|o| o.alert.alert_id.clone()).collect();
        open.extend(
            accepted
                .into_iter()
                .filter(|a| !planned.contains(&a.alert_id))
                .map(|alert| OpenOrder {
                    alert,
                    dispatched_pieces: Vec::new(),
                }),
        );
        if open.is_empty() {
            return Ok(if report.only_waiting() {
                ExecutionOutcome::EmptyQueue
            } else {
                ExecutionOutcome::TaskCompleted(report)
            });
        }
        if free.is_empty() {
            let until = road_until(&road, now);
            return Ok(ExecutionOutcome::NoFreeTruck { report, until });
        }
        open.truncate(MAX_ORDERS_PER_STEP);
        let unroutable = std::mem::take(&mut report.unassigned);
        self.dispatch(open, free, &mut road, &mut report).await?;
        report.unassigned.extend(unroutable);
        Ok(ExecutionOutcome::TaskCompleted(report))
    }

    /// The dispatches of the window and every truck's latest trip. A truck whose latest trip is
    /// damaged is parked (kept off the road, with why) and the others go on.
    async fn road(&self, now: i64) -> Result<Road, PortError> {
        let dispatches = self.ledger.dispatches_since(now - LOOKBACK_SECONDS).await?;
        let mut trips = HashMap::new();
        let mut parked = Vec::new();
        for truck in &self.fleet.trucks {
            match self.ledger.latest_trip(&truck.truck_id).await {
                Ok(Some(trip)) => {
                    trips.insert(truck.truck_id.clone(), trip);
                }
                Ok(None) => {}
                Err(e) if self.trip_damaged(&truck.truck_id) => {
                    parked.push((truck.truck_id.clone(), e.message));
                }
                Err(e) => return Err(e),
            }
        }
        let damaged_dispatches = self
            .ledger
            .damaged()
            .iter()
            .filter(|d| d.key.starts_with(store_model::lake::DISPATCHES_PREFIX))
            .filter_map(|d| dispatch_id_of_key(&d.key).map(str::to_owned))
            .collect();
        Ok(Road {
            dispatches,
            trips,
            parked,
            damaged_dispatches,
        })
    }

    /// Whether the ledger found one of the truck's trips damaged.
    fn trip_damaged(&self, truck_id: &str) -> bool {
        let prefix = Trip::truck_prefix(truck_id);
        self.ledger
            .damaged()
            .iter()
            .any(|d| d.key.starts_with(&prefix))
    }

    /// Trucks kept off the road at `now`, with why; reads only.
    pub async fn parked(&self, now: i64) -> Result<Vec<(String, String)>, PortError> {
        Ok(self.road(now).await?.parked)
    }

    /// Records the dispatches a stopped dispatcher claimed a trip for but did not record. (One
    /// still running may be recording them at this moment: the records are create-if-absent and
    /// the same, so whichever writes first, they are written once.)
    async fn finish_trips(
        &self,
        road: &mut Road,
        now: i64,
        report: &mut BatchReport,
    ) -> Result<(), PortError> {
        let recorded: HashSet<String> = road
            .dispatches
            .iter()
            .map(|d| d.dispatch_id.clone())
            .collect();
        let left: Vec<Dispatch> = road
            .trips
            .values()
            .flat_map(|t| &t.dispatches)
            .filter(|d| {
                !recorded.contains(&d.dispatch_id) && d.planned_at >= now - LOOKBACK_SECONDS
            })
            .cloned()
            .collect();
        for dispatch in left {
            if road.damaged_dispatches.contains(&dispatch.dispatch_id) {
                continue;
            }
            if let Recorded::Created = self.ledger.record_dispatch(&dispatch).await? {
                info!(dispatch_id = %dispatch.dispatch_id, truck = %dispatch.truck_id, "recorded a dispatch of a trip left unfinished");
                road.dispatches.push(dispatch.clone());
                report.dispatched.push(dispatch);
            }
        }
        Ok(())
    }

    /// Open orders at `now`, oldest first (those a route can reach, then the others), and the
    /// trucks free then; reads only.
    pub async fn waiting(&self, now: i64) -> Result<(Vec<OpenOrder>, Vec<Truck>), PortError> {
        let road = self.road(now).await?;
        let orders = self.open_orders(now, &road).await?;
        let unroutable: HashSet<&str> = orders
            .unroutable
            .iter()
            .map(|u| u.demand_id.as_str())
            .collect();
        let all = self.ledger.orders_since(now - LOOKBACK_SECONDS).await?;
        let mut open = orders.routable.clone();
        open.extend(
            all.into_iter()
                .filter(|a| unroutable.contains(a.alert_id.as_str()))
                .map(|alert| OpenOrder {
                    alert,
                    dispatched_pieces: Vec::new(),
                }),
        );
        Ok((open, free_trucks(&self.fleet, &road, now)))
    }

    /// Open orders: accepted alerts of the window, not closed, with pieces not yet on a truck
    /// (a piece whose dispatch record is damaged counts as on a truck). Those a route can reach
    /// come oldest first; those it cannot stay open with why until their age is up; an order
    /// past [`ORDER_MAX_AGE_SECONDS`], or too large to cut into truckloads, is to be closed.
    async fn open_orders(&self, now: i64, road: &Road) -> Result<Orders, PortError> {
        let since = now - LOOKBACK_SECONDS;
        let orders = self.ledger.orders_since(since).await?;
        let closed: HashSet<String> = self
            .ledger
            .closures_since(since)
            .await?
            .into_iter()
            .map(|c| c.alert_id)
            .collect();
        let taken: HashSet<&str> = road
            .dispatches
            .iter()
            .chain(road.trips.values().flat_map(|t| &t.dispatches))
            .map(|d| d.dispatch_id.as_str())
            .chain(road.damaged_dispatches.iter().map(String::as_str))
            .collect();
        let cap = self.fleet.max_capacity();
        let mut out = Orders {
            routable: Vec::new(),
            unroutable: Vec::new(),
            to_close: Vec::new(),
        };
        for alert in orders {
            if closed.contains(&alert.alert_id) {
                continue;
            }
            let pieces = match split_demand(&demand_of(&alert, Vec::new()), cap) {
                Ok(pieces) => pieces,
                Err(why) => {
                    let left = alert.restock_qty;
                    out.to_close
                        .push(closure(&alert, left, now, CloseReason::TooLarge, why));
                    continue;
                }
            };
            let (done, left): (Vec<&Piece>, Vec<&Piece>) = pieces
                .iter()
                .partition(|p| taken.contains(p.dispatch_id().as_str()));
            if left.is_empty() {
                continue;
            }
            let undelivered: i64 = left.iter().map(|p| p.quantity).sum();
            let known_store = self.stores.get(&alert.store_id).is_some();
            if now - alert.planned_at > ORDER_MAX_AGE_SECONDS {
                let hours = ORDER_MAX_AGE_SECONDS / 3600;
                let (reason, detail) = if known_store {
                    (
                        CloseReason::Expired,
                        format!("no truck took it within {hours} h of its alert"),
                    )
                } else {
                    (
                        CloseReason::StoreUnknown,
                        format!(
                            "store `{}` is not in the store list; open {hours} h with no route to it",
                            printable(&alert.store_id)
                        ),
                    )
                };
                out.to_close
                    .push(closure(&alert, undelivered, now, reason, detail));
                continue;
            }
            if !known_store {
                out.unroutable.push(Unassigned {
                    demand_id: alert.alert_id.clone(),
                    store_id: alert.store_id.clone(),
                    quantity: undelivered,
                    reason: format!(
                        "no location for store `{}` in the store list; the order is closed {} h after its alert unless the store is added back",
                        printable(&alert.store_id),
                        ORDER_MAX_AGE_SECONDS / 3600
                    ),
                });
                continue;
            }
            out.routable.push(OpenOrder {
                dispatched_pieces: done.iter().map(|p| p.piece).collect(),
                alert,
            });
        }
        Ok(out)
    }

    /// Records each closure (create-if-absent: another dispatcher may close the same order).
    async fn close_orders(
        &self,
        closures: &[OrderClosure],
        report: &mut BatchReport,
    ) -> Result<(), PortError> {
        for c in closures {
            match self.ledger.close_order(c).await? {
                Recorded::Created => {
                    warn!(alert_id = %c.alert_id, store = %printable(&c.store_id), reason = %c.reason, detail = %c.detail, undelivered = c.undelivered, "order closed");
                    report.closed.push(c.clone());
                }
                Recorded::AlreadyRecorded(_) | Recorded::Damaged(_) => {}
            }
        }
        Ok(())
    }

    /// Takes what the queue holds for the batch window (waiting up to `wait` for a first
    /// message), accepting each receive as it comes, so no message waits in flight on others.
    /// Returns the alerts newly recorded as open orders.
    async fn accept(
        &self,
        wait: Duration,
        stop: &mut Stop,
        report: &mut BatchReport,
    ) -> Result<Vec<Alert>, PortError> {
        let mut accepted = Vec::new();
        let Some(received) = stop.or(self.queue.receive(MESSAGES_PER_CALL, wait)).await else {
            return Ok(accepted);
        };
        let mut received = received?;
        if received.is_empty() {
            return Ok(accepted);
        }
        // No window: take what is queued already, without waiting for more (a simulation on a
        // virtual clock, where every message of the hour is there at once).
        let no_window = self.batch_window.is_zero();
        let deadline = tokio::time::Instant::now() + self.batch_window;
        let mut taken = 0;
        loop {
            taken += received.len();
            accepted.extend(self.accept_messages(&received, report).await?);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if (left.is_zero() && !no_window) || taken >= MAX_ACCEPTS_PER_STEP {
                return Ok(accepted);
            }
            let more = self.queue.receive(
                MESSAGES_PER_CALL.min(MAX_ACCEPTS_PER_STEP - taken),
                left.min(Duration::from_secs(1)),
            );
            match stop.or(more).await {
                Some(more) => received = more?,
                None => return Ok(accepted),
            }
            if no_window && received.is_empty() {
                return Ok(accepted);
            }
        }
    }

    /// Accepts received messages: dead letters for what cannot be an order, an open order for
    /// each alert, then one delete for every message whose order is recorded.
    async fn accept_messages(
        &self,
        messages: &[QueueMessage],
        report: &mut BatchReport,
    ) -> Result<Vec<Alert>, PortError> {
        let mut accepted = Vec::new();
        let mut done = Vec::with_capacity(messages.len());
        for message in messages {
            let alert = match self.classify(message) {
                Ok(alert) => alert,
                Err(reason) => {
                    self.dead_letter(message, &reason).await?;
                    report.dead_lettered += 1;
                    continue;
                }
            };
            match self.ledger.record_order(&alert).await {
                Ok(Recorded::Created) => {
                    info!(alert_id = %alert.alert_id, store = %alert.store_id, "accepted");
                    done.push(message.receipt_handle.clone());
                    report.accepted += 1;
                    accepted.push(alert);
                }
                Ok(Recorded::AlreadyRecorded(_)) => {
                    info!(alert_id = %alert.alert_id, "accepted before; deleting the redelivery");
                    done.push(message.receipt_handle.clone());
                    report.duplicates += 1;
                }
                // Accepted before, and its order record is damaged since: it is set aside and
                // reported (see `Ledger::damaged`), and a redelivery makes no second order.
                Ok(Recorded::Damaged(d)) => {
                    warn!(alert_id = %alert.alert_id, key = %d.key, "accepted before, and its order record is damaged; deleting the redelivery");
                    done.push(message.receipt_handle.clone());
                    report.duplicates += 1;
                }
                Err(e) => {
                    warn!(alert_id = %alert.alert_id, error = %e, "order not recorded; the message will be received again");
                    report.retried += 1;
                }
            }
        }
        self.queue.delete(&done).await?;
        Ok(accepted)
    }

    /// The alert in a message, or why it cannot become an order.
    fn classify(&self, message: &QueueMessage) -> Result<Alert, String> {
        let alert: Alert =
            serde_json::from_str(&message.body).map_err(|e| format!("not a restock alert: {e}"))?;
        alert
            .check_received()
            .map_err(|e| format!("not a restock alert: {e}"))?;
        if self.stores.get(&alert.store_id).is_none() {
            return Err(format!(
                "no location for store `{}` in the store list; add it to the stores file and redrive",
                printable(&alert.store_id)
            ));
        }
        split_demand(&demand_of(&alert, Vec::new()), self.fleet.max_capacity())
            .map_err(|why| format!("the order is too large: {why}"))?;
        Ok(alert)
    }

    /// Plans routes for open orders with the free trucks, claims each truck's next trip, and
    /// records the trip's dispatches. A truck another dispatcher claimed first is dropped and its
    /// route's work planned again with the trucks left.
    async fn dispatch(
        &self,
        open: Vec<OpenOrder>,
        mut free: Vec<Truck>,
        road: &mut Road,
        report: &mut BatchReport,
    ) -> Result<(), PortError> {
        let alerts: HashMap<&str, &Alert> = open
            .iter()
            .map(|o| (o.alert.alert_id.as_str(), &o.alert))
            .collect();
        let mut demands: Vec<Demand> = open
            .iter()
            .map(|o| demand_of(&o.alert, o.dispatched_pieces.clone()))
            .collect();
        loop {
            let plan = plan_routes(&self.fleet, &free, &self.stores, &demands, &self.routing);
            let departed = (self.clock)();
            let mut lost = false;
            for route in &plan.routes {
                let number = road.trips.get(&route.truck_id).map_or(1, |t| t.trip + 1);
                let trip = Trip::for_route(route, number, &alerts, departed, self.time_scale);
                free.retain(|t| t.truck_id != route.truck_id);
                match self.ledger.claim_trip(&trip).await {
                    Ok(Recorded::Created) => {
                        self.record_trip(&trip, report).await;
                        // Pieces on this trip are no longer open, whatever their records say.
                        for d in &trip.dispatches {
                            mark_dispatched(&mut demands, d);
                        }
                        road.trips.insert(trip.truck_id.clone(), trip);
                        report.routes.push(route.clone());
                    }
                    Ok(Recorded::AlreadyRecorded(theirs)) => {
                        info!(truck = %theirs.truck_id, trip = theirs.trip, "another dispatcher took this truck; planning again without it");
                        for d in &theirs.dispatches {
                            mark_dispatched(&mut demands, d);
                        }
                        road.trips.insert(theirs.truck_id.clone(), theirs);
                        report.lost_claims += 1;
                        lost = true;
                    }
                    Ok(Recorded::Damaged(d)) => {
                        warn!(truck = %route.truck_id, key = %d.key, "the truck's next trip is recorded but unreadable; the truck stays off the road until it is repaired, planning again without it");
                        road.parked.push((route.truck_id.clone(), d.error));
                        lost = true;
                    }
                    Err(e) => {
                        warn!(truck = %route.truck_id, error = %e, "trip not claimed; its orders stay open");
                        report.retried += 1;
                    }
                }
            }
            if !lost || free.is_empty() {
                report.unassigned = if lost {
                    plan_routes(&self.fleet, &free, &self.stores, &demands, &self.routing)
                        .unassigned
                } else {
                    plan.unassigned
                };
                return Ok(());
            }
        }
    }

    /// Records every dispatch of a claimed trip. A piece another dispatcher's trip carries
    /// already is left to it; a dispatch that fails to record is recorded by the next step
    /// (see [`Self::finish_trips`]).
    async fn record_trip(&self, trip: &Trip, report: &mut BatchReport) {
        for dispatch in &trip.dispatches {
            match self.ledger.record_dispatch(dispatch).await {
                Ok(Recorded::Created) => {
                    info!(dispatch_id = %dispatch.dispatch_id, truck = %dispatch.truck_id, "dispatched");
                    report.dispatched.push(dispatch.clone());
                }
                // Recorded from this trip by a dispatcher finishing it: the same dispatch.
                Ok(Recorded::AlreadyRecorded(first)) if first == *dispatch => {
                    report.dispatched.push(dispatch.clone());
                }
                Ok(Recorded::AlreadyRecorded(first)) => {
                    info!(dispatch_id = %first.dispatch_id, truck = %first.truck_id, "already on another trip");
                }
                Ok(Recorded::Damaged(d)) => {
                    warn!(dispatch_id = %dispatch.dispatch_id, key = %d.key, "a damaged record holds this piece already; it is not carried twice");
                }
                Err(e) => {
                    warn!(dispatch_id = %dispatch.dispatch_id, error = %e, "dispatch not recorded yet; a later step records it from the trip");
                    report.retried += 1;
                }
            }
        }
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
}

/// The demand of an alert, with the pieces already dispatched.
fn demand_of(alert: &Alert, dispatched_pieces: Vec<u32>) -> Demand {
    Demand {
        demand_id: alert.alert_id.clone(),
        store_id: alert.store_id.clone(),
        quantity: alert.restock_qty,
        dispatched_pieces,
    }
}

/// The closure of an order, now.
fn closure(
    alert: &Alert,
    undelivered: i64,
    now: i64,
    reason: CloseReason,
    detail: String,
) -> OrderClosure {
    OrderClosure {
        alert_id: alert.alert_id.clone(),
        store_id: alert.store_id.clone(),
        product_id: alert.product_id.clone(),
        planned_at: alert.planned_at,
        quantity: alert.restock_qty,
        undelivered,
        closed_at: now,
        reason,
        detail,
    }
}

/// Marks the piece a dispatch carries as dispatched in its demand. A dispatch id this code
/// could not have made marks nothing (and says so).
fn mark_dispatched(demands: &mut [Demand], dispatch: &Dispatch) {
    let piece = match Piece::parse_dispatch_id(&dispatch.dispatch_id) {
        Ok((_, piece, _)) => piece,
        Err(e) => {
            warn!(error = %e, truck = %dispatch.truck_id, "a trip names a dispatch this dispatcher did not make; nothing marked");
            return;
        }
    };
    for d in demands
        .iter_mut()
        .filter(|d| d.demand_id == dispatch.alert_id)
    {
        if !d.dispatched_pieces.contains(&piece) {
            d.dispatched_pieces.push(piece);
        }
    }
}

/// How far ahead of the clock a truck's return may be before it is shown as a problem: a day.
/// A trip due back later was planned with a clock that ran ahead (or this one runs behind).
pub const MAX_RETURN_AHEAD_SECONDS: i64 = 24 * 3600;

/// What an operator must look at in the ledger, one line each: trucks parked because their
/// latest trip is damaged, other damaged records set aside, and trucks due back more than
/// [`MAX_RETURN_AHEAD_SECONDS`] after `now`. Shown by the board, the summary and the page.
pub async fn ledger_problems(
    ledger: &dyn Ledger,
    fleet: &Fleet,
    now: i64,
) -> Result<Vec<String>, PortError> {
    let mut out = Vec::new();
    for truck in &fleet.trucks {
        match ledger.latest_trip(&truck.truck_id).await {
            Ok(Some(trip)) if trip.back_at > now.saturating_add(MAX_RETURN_AHEAD_SECONDS) => {
                out.push(format!(
                    "{} is due back {} UTC, {} h from now: its trip was planned with a clock ahead of this one (or this clock is behind); check both clocks",
                    truck.truck_id,
                    store_model::dispatch::clock_near(trip.back_at, now),
                    (trip.back_at - now) / 3600
                ));
            }
            Ok(_) => {}
            Err(e) => {
                let trip_damaged = ledger
                    .damaged()
                    .iter()
                    .any(|d| d.key.starts_with(&Trip::truck_prefix(&truck.truck_id)));
                if !trip_damaged {
                    return Err(e);
                }
                out.push(format!("{}: {}", truck.truck_id, e.message));
            }
        }
    }
    for d in ledger.damaged() {
        if !d.key.starts_with(store_model::lake::TRIPS_PREFIX) {
            out.push(format!(
                "damaged ledger record {} ({}) set aside: see its note under {}",
                printable(&d.key),
                printable(&d.error),
                store_model::lake::LEDGER_QUARANTINE_PREFIX
            ));
        }
    }
    Ok(out)
}

/// When the first truck on the road is back: soon, if none is out.
fn road_until(road: &Road, now: i64) -> i64 {
    road.dispatches
        .iter()
        .map(|d| d.truck_back_at)
        .chain(road.trips.values().map(|t| t.back_at))
        .filter(|&t| t > now)
        .min()
        .unwrap_or(now + 1)
}

/// Trucks not on the road at `now`: a truck is out from its trip's departure until it is back
/// at its depot (its latest trip says so; dispatches recorded before trips were claimed say it
/// too).
fn free_trucks(fleet: &Fleet, road: &Road, now: i64) -> Vec<Truck> {
    let busy: HashSet<&str> = road
        .dispatches
        .iter()
        .filter(|d| d.truck_back_at > now)
        .map(|d| d.truck_id.as_str())
        .chain(
            road.trips
                .values()
                .filter(|t| t.back_at > now)
                .map(|t| t.truck_id.as_str()),
        )
        .collect();
    fleet
        .trucks
        .iter()
        .filter(|t| !busy.contains(t.truck_id.as_str()))
        .filter(|t| !road.parked.iter().any(|(id, _)| *id == t.truck_id))
        .cloned()
        .collect()
}
