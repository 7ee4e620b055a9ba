//! The live operations page: `store-truck-app serve`.
//!
//! One task watches the pipeline through the ports every app already uses: the ledger (alerts,
//! dispatches, deliveries, planning runs), the queue's depth, and every so often the planning
//! query for the latest readings. It turns what it saw into a [`view::View`] and publishes it
//! whenever it changes. Each browser gets the page with the view of the moment, then every new
//! view as a server-sent event, and draws it without reloading. Nothing here writes to the
//! pipeline (its readings query is read-only: the lake is read as it is, over the snapshot
//! already committed), except the planner when `--allow-invoke` lets the page run it: the same
//! [`Planner::handle`] as `invoke` and the Lambda.
//!
//! ```text
//!   ports ──► observe ──► view ──► watch channel ──► GET /api/events (SSE) ──► page
//!                                                 └─► GET /api/view, GET / (first view)
//!   POST /api/plan ──► Planner::handle ──► wakes observe
//! ```

mod http;
pub mod page;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use store_model::places::{Fleet, Stores};
use store_model::planning::InventoryRequest;
use store_model::ports::{AlertQueue, Clock, InventoryQuery, Ledger, PortError};
use store_planning_app::Planner;
use tokio::sync::{Notify, watch};
use tracing::warn;

pub use http::serve;
use view::{Observed, Places, Shelves, View};

use crate::LOOKBACK_SECONDS;
use crate::map::Projection;

/// What the page watches, and how often.
pub struct Ops {
    /// Depots and trucks.
    pub fleet: Fleet,
    /// Store locations.
    pub stores: Stores,
    /// The ledger.
    pub ledger: Arc<dyn Ledger>,
    /// The alert queue (read for its depth only).
    pub queue: Arc<dyn AlertQueue>,
    /// The planning query, for the latest readings.
    pub query: Arc<dyn InventoryQuery>,
    /// The planner, when the page may run it.
    pub planner: Option<Planner>,
    /// Seconds after which an undelivered alert stops counting as on its way.
    pub alert_expiry_seconds: i64,
    /// Hours of readings the shelves are read from.
    pub lookback_hours: u32,
    /// How often the ledger and the queue are read.
    pub refresh: Duration,
    /// How often the latest readings are queried.
    pub readings_every: Duration,
    /// Epoch seconds now.
    pub clock: Clock,
    /// A finished `store-sim` run's report (`report.html` or `compare.html`), shown at
    /// `/simulation`.
    pub simulation: Option<Arc<str>>,
}

/// The largest simulation report `serve --simulation` shows.
pub const MAX_SIMULATION_REPORT_BYTES: u64 = 32 * 1024 * 1024;

impl Ops {
    fn places(&self) -> Places<'_> {
        Places {
            fleet: &self.fleet,
            stores: &self.stores,
            projection: Projection::of_places(&self.fleet, &self.stores),
            alert_expiry_seconds: self.alert_expiry_seconds,
        }
    }

    /// The map the page draws.
    pub fn map(&self) -> String {
        page::map(&self.fleet, &self.stores, &self.places().projection)
    }

    /// The latest readings, from the planning query.
    async fn read_shelves(&self, now: i64) -> Result<Shelves, String> {
        // A viewer never changes the lake: no quarantine, no fold, no UNLOAD.
        let request = InventoryRequest::new(now, self.lookback_hours, Vec::new()).read_only();
        let snapshot = self
            .query
            .latest_readings(&request)
            .await
            .map_err(|e| format!("latest readings: {e}"))?;
        Ok(Shelves::of(
            snapshot.latest,
            now,
            snapshot.engine,
            self.lookback_hours,
            snapshot.readings_scanned,
        ))
    }

    /// What the ledger and the queue say now; what cannot be read is listed as a problem.
    async fn observe(&self, now: i64, shelves: Option<Shelves>) -> Observed {
        let since = now - LOOKBACK_SECONDS.max(self.alert_expiry_seconds);
        let (alerts, dispatches, deliveries, runs, closures, queue) = tokio::join!(
            self.ledger.alerts_since(since),
            self.ledger.dispatches_since(since),
            self.ledger.deliveries_since(since),
            self.ledger.runs_since(since),
            self.ledger.closures_since(since),
            self.queue.depth(),
        );
        let mut problems = Vec::new();
        let mut seen = Observed {
            now,
            shelves,
            alerts: or_problem("alerts", alerts, &mut problems).unwrap_or_default(),
            dispatches: or_problem("dispatches", dispatches, &mut problems).unwrap_or_default(),
            deliveries: or_problem("deliveries", deliveries, &mut problems).unwrap_or_default(),
            runs: or_problem("planning runs", runs, &mut problems).unwrap_or_default(),
            closures: or_problem("closed orders", closures, &mut problems).unwrap_or_default(),
            queue: or_problem("queue", queue, &mut problems),
            problems,
        };
        // After the reads: what they found damaged is known by then.
        let ledger = crate::ledger_problems(self.ledger.as_ref(), &self.fleet, now).await;
        if let Some(lines) = or_problem("trips", ledger, &mut seen.problems) {
            seen.problems.extend(lines);
        }
        seen
    }

    /// Publishes a new view whenever what the page shows changes (the clock alone does not
    /// count), until `stop` turns true. `wake` asks for a fresh look at once, readings included.
    async fn watch(
        &self,
        views: watch::Sender<Arc<str>>,
        wake: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
    ) {
        let places = self.places();
        let allow_invoke = self.planner.is_some();
        let mut shelves: Option<Shelves> = None;
        let mut shelves_problem: Option<String> = None;
        let mut readings_due = tokio::time::Instant::now();
        let mut last: Option<View> = None;
        loop {
            let now = (self.clock)();
            if tokio::time::Instant::now() >= readings_due {
                match self.read_shelves(now).await {
                    Ok(s) => {
                        shelves = Some(s);
                        shelves_problem = None;
                    }
                    Err(e) => {
                        warn!(error = %e, "the operations page could not read the latest readings");
                        shelves_problem = Some(e);
                    }
                }
                readings_due = tokio::time::Instant::now() + self.readings_every;
            }
            let mut seen = self.observe(now, shelves.take()).await;
            seen.problems.extend(shelves_problem.clone());
            let fresh = view::view(&places, &seen, allow_invoke);
            shelves = seen.shelves.take();
            let changed = match &mut last {
                Some(l) => {
                    l.now = fresh.now;
                    *l != fresh
                }
                None => true,
            };
            if changed {
                match serde_json::to_string(&fresh) {
                    Ok(json) => {
                        views.send_replace(json.into());
                    }
                    Err(e) => warn!(error = %e, "the operations view could not be encoded"),
                }
                last = Some(fresh);
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(self.refresh) => {}
                () = wake.notified() => readings_due = tokio::time::Instant::now(),
            }
        }
    }
}

/// The value read, or none with a line saying what could not be read.
fn or_problem<T>(what: &str, read: Result<T, PortError>, problems: &mut Vec<String>) -> Option<T> {
    read.map_err(|e| problems.push(format!("{what}: {e}"))).ok()
}
