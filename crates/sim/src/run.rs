//! One run: the real planner, queue, dispatcher, router and ledger over the embedded backend,
//! fed by simulated shelves, on a virtual clock.
//!
//! Hour by hour: shoppers buy (see [`crate::shelf`]); trucks arrive at their ETAs and fill
//! shelves; at the hour's end every shelf whose stock changed (or that has been quiet for the
//! heartbeat) reports through the reading sink into the lake; on the planning cadence the
//! planner runs; then the dispatcher takes the alerts, routes and dispatches. Nothing sleeps:
//! the clock jumps to the next event, the dispatcher stepping at the end of each quarter hour in
//! which a truck returns to its depot (it may take the next trip then), and at the end of each
//! hour in which a truck reaches a stop, before that hour's shoppers are played to its end: a
//! delivery keeps its exact ETA on the shelf, and is in the ledger before the planner runs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use store_local::{
    DataDir, DataFusionInventoryQuery, FirehoseConfig, FolderLedger, LocalFirehoseSink,
    QueueConfig, SqliteAlertQueue,
};
use store_model::demand::{ShelfDemand, mix};
use store_model::places::{Fleet, Stores};
use store_model::planning::PlanningEvent;
use store_model::policy::ReorderPolicy;
use store_model::ports::{AlertQueue, Clock, Ledger, READINGS_PER_PUT, ReadingSink};
use store_model::random::SplitMix64;
use store_model::routing::RoutingOptions;
use store_model::{Delivery, Reading};
use store_planning_app::Planner;
use store_truck_app::{BatchReport, Dispatcher, ExecutionOutcome};

use crate::kpis::{DayKpis, GroupKpis, Kpis, RunShape, Totals, date_of, quantile, round4, share};
use crate::scenario::{InitialStock, Scenario};
use crate::shelf::{Sales, Shelf};

/// The dispatcher steps at the end of the quarter hour a truck returns in.
const STEP_SECONDS: i64 = 900;
/// ...and at the end of the hour a truck reaches a stop in.
const HOUR_SECONDS: i64 = 3600;
/// Most dispatcher steps at one moment (each accepts up to 500 alerts).
const MAX_STEPS_AT_ONCE: usize = 64;
/// Lead-time histogram: one-hour bins up to this many hours, the last holding the rest.
const LEAD_TIME_BINS: usize = 49;

/// The simulated chain's shelves and what they counted, day by day.
struct World {
    shelves: Vec<Shelf>,
    demand: Vec<ShelfDemand>,
    /// Index of each store and each product: shelf `store * products + product`.
    store_index: HashMap<String, usize>,
    product_index: HashMap<String, usize>,
    store_ids: Vec<String>,
    product_ids: Vec<String>,
    product_names: Vec<String>,
    days: Vec<DayKpis>,
    /// Per day, the sum of hour-end stock over every shelf.
    on_hand_hours: Vec<f64>,
    /// Per store and per product: sums of hour-end stock.
    store_on_hand: Vec<f64>,
    product_on_hand: Vec<f64>,
    store_day_stockout_s: Vec<Vec<f64>>,
    store_delivered: Vec<u64>,
    product_delivered: Vec<u64>,
    open_shelf_hours: f64,
    /// The first simulated second.
    start: i64,
}

impl World {
    /// The day (0-based) of a moment; the run's end counts in its last day.
    fn day_of(&self, t: i64) -> usize {
        let day = (t - self.start).div_euclid(86_400).max(0) as usize;
        day.min(self.days.len().saturating_sub(1))
    }

    /// The shelf of a store and product, looked up without copying either id.
    fn shelf_of(&self, store_id: &str, product_id: &str) -> Option<usize> {
        let store = *self.store_index.get(store_id)?;
        let product = *self.product_index.get(product_id)?;
        Some(store * self.product_ids.len() + product)
    }

    fn new(scenario: &Scenario, stores: &Stores) -> Self {
        let c = &scenario.chain;
        let s = &scenario.shelves;
        let (first_day, _) = scenario.demand.local_day_hour(scenario.start());
        let store_ids = stores.ids();
        let store_count = store_ids.len();
        let product_ids: Vec<String> = (1..=c.products).map(|i| format!("PRD_{i}")).collect();
        let product_names: Vec<String> = (1..=c.products)
            .map(store_model::demand::product_name)
            .collect();
        let mut shelves = Vec::with_capacity(store_count * c.products);
        let mut demand = Vec::with_capacity(store_count * c.products);
        for store in 0..store_count {
            for product in 0..c.products {
                let number = (store * c.products + product) as u64;
                let d = scenario.demand.shelf(c.seed, number, first_day, c.days);
                let mut rng = SplitMix64::new(mix(c.seed, number, u64::MAX - 1000));
                let cover = s.threshold_days_min
                    + (s.threshold_days_max - s.threshold_days_min) * rng.unit();
                let threshold = ((d.per_day * cover).ceil() as i32).max(s.min_threshold);
                let capacity = ((d.per_day * s.capacity_days).ceil() as i32)
                    .max(s.min_capacity)
                    .max(threshold.saturating_mul(2));
                let start = match s.initial {
                    InitialStock::Full => i64::from(capacity),
                    // Between the reorder point and full.
                    InitialStock::Random => {
                        i64::from(threshold)
                            + (rng.unit() * f64::from(capacity - threshold + 1)).floor() as i64
                    }
                };
                shelves.push(Shelf::new(
                    store,
                    product,
                    threshold,
                    capacity,
                    start.min(i64::from(capacity)),
                ));
                demand.push(d);
            }
        }
        let store_index = store_ids.iter().cloned().zip(0..).collect();
        let product_index = product_ids.iter().cloned().zip(0..).collect();
        let days = (0..c.days)
            .map(|d| DayKpis {
                date: date_of(first_day + i64::from(d)),
                ..DayKpis::default()
            })
            .collect();
        Self {
            shelves,
            demand,
            store_index,
            product_index,
            store_day_stockout_s: vec![vec![0.0; c.days as usize]; store_count],
            store_on_hand: vec![0.0; store_count],
            product_on_hand: vec![0.0; c.products],
            store_delivered: vec![0; store_count],
            product_delivered: vec![0; c.products],
            store_ids,
            product_ids,
            product_names,
            days,
            on_hand_hours: vec![0.0; c.days as usize],
            open_shelf_hours: 0.0,
            start: scenario.start(),
        }
    }

    fn count(&mut self, day: usize, shelf: usize, sales: Sales) {
        let d = &mut self.days[day];
        d.demand_units += sales.demanded;
        d.lost_units += sales.lost;
        d.stockout_shelf_hours += sales.stockout_s / 3600.0;
        let store = self.shelves[shelf].store;
        self.store_day_stockout_s[store][day] += sales.stockout_s;
    }
}

/// The virtual clock every part reads.
struct VirtualClock(Arc<AtomicI64>);

impl VirtualClock {
    fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
    fn clock(&self) -> Clock {
        let now = self.0.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    }
}

/// What the trucks did, from the dispatcher's reports.
#[derive(Default)]
struct Road {
    trips: u64,
    km: f64,
    load: i64,
    capacity: i64,
    delivered_units: u64,
    dead_lettered: u64,
    lead_times_h: Vec<f64>,
    /// Each delivery that ended a shelf's cycle: its alert, and whether the cycle stayed in
    /// stock.
    cycle_ends: Vec<(String, bool)>,
    /// Moments the dispatcher must step at (quarter-hour ends with a return, hour ends with an
    /// ETA).
    events: BTreeSet<i64>,
}

/// A finished run: its KPIs, and how much work it was.
pub struct Outcome {
    /// The KPIs.
    pub kpis: Kpis,
    /// Shelf-hours simulated.
    pub shelf_hours: u64,
    /// Where the wall time went (never part of the KPIs, which must not depend on it).
    pub time: TimeSpent,
}

/// Wall time by part of the loop.
#[derive(Debug, Clone, Default)]
pub struct TimeSpent {
    /// Shoppers and sensors (drawing demand, playing shelves, building readings).
    pub shelves: Duration,
    /// The reading sink (encoding and writing the hour's object).
    pub sink: Duration,
    /// The planner's runs.
    pub planner: Duration,
    /// The dispatcher's steps.
    pub dispatcher: Duration,
    /// Reading the ledger back and checking the invariants.
    pub accounting: Duration,
    /// Each planning run's time, in order: whether it follows the new hour or the history.
    pub planning_runs: Vec<Duration>,
    /// The dispatcher's steps.
    pub dispatcher_steps: u64,
}

impl TimeSpent {
    /// One line per part, and the planning runs of the first and the last day.
    pub fn summary(&self) -> String {
        let total = self.shelves + self.sink + self.planner + self.dispatcher + self.accounting;
        let pct = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9);
        let mean_ms = |runs: &[Duration]| {
            runs.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / runs.len().max(1) as f64
        };
        let day = 24.min(self.planning_runs.len());
        let first = &self.planning_runs[..day];
        let last = &self.planning_runs[self.planning_runs.len() - day..];
        format!(
            "shelves {:.1} s ({:.0}%), sink {:.1} s ({:.0}%), planner {:.1} s ({:.0}%), dispatcher {:.1} s ({:.0}%, {} steps), accounting {:.1} s; planning run mean {:.0} ms on the first day, {:.0} ms on the last",
            self.shelves.as_secs_f64(),
            pct(self.shelves),
            self.sink.as_secs_f64(),
            pct(self.sink),
            self.planner.as_secs_f64(),
            pct(self.planner),
            self.dispatcher.as_secs_f64(),
            pct(self.dispatcher),
            self.dispatcher_steps,
            self.accounting.as_secs_f64(),
            mean_ms(first),
            mean_ms(last),
        )
    }
}

/// Runs `scenario` under `policy` (named `policy_name` in the KPIs) in the data folder
/// `work` (created empty), and checks the run's invariants.
pub async fn run(
    scenario: &Scenario,
    policy_name: &str,
    policy: ReorderPolicy,
    work: &Path,
    progress: &dyn Fn(u32, u32),
) -> Result<Outcome> {
    let stores = scenario.stores()?;
    let fleet = scenario.fleet()?;
    let start = scenario.start();
    let hours = i64::from(scenario.chain.days) * 24;
    let end = start + hours * 3600;
    let virtual_clock = VirtualClock(Arc::new(AtomicI64::new(start)));
    let clock = virtual_clock.clock();

    let dir = DataDir::new(work);
    // A run's lake is scratch: nothing in it outlives the run, so writes skip the disk flush
    // (they stay atomic and create-if-absent, which is what the pipeline's rules rest on).
    let lake = dir
        .lake()
        .with_context(|| format!("opening the lake in {}", work.display()))?
        .scratch();
    let sink = LocalFirehoseSink::new(
        lake.clone(),
        FirehoseConfig {
            // One object per hour: everything is flushed at the hour's end.
            buffer_bytes: 256 * 1024 * 1024,
            buffer_interval: Duration::from_secs(3600),
            ..FirehoseConfig::default()
        },
        clock.clone(),
    );
    let queue: Arc<dyn AlertQueue> = Arc::new(
        SqliteAlertQueue::open(&dir.queue_path(), QueueConfig::default())
            .context("opening the alert queue")?,
    );
    let ledger: Arc<dyn Ledger> = Arc::new(FolderLedger::new(lake.clone()));
    let query = DataFusionInventoryQuery::new(lake, &dir.state_dir())
        .context("opening the query engine")?;
    let planner = Planner {
        query: Arc::new(query),
        queue: queue.clone(),
        ledger: ledger.clone(),
        policy,
        known_stores: stores.ids(),
        clock: clock.clone(),
    };
    let dispatcher = Dispatcher {
        queue: queue.clone(),
        ledger: ledger.clone(),
        fleet: fleet.clone(),
        stores: stores.clone(),
        routing: RoutingOptions {
            rounds: scenario.fleet.routing_rounds,
            ..RoutingOptions::default()
        },
        wait: Duration::ZERO,
        batch_window: Duration::ZERO,
        time_scale: 1.0,
        clock: clock.clone(),
    };

    let mut world = World::new(scenario, &stores);
    let mut road = Road::default();
    let mut totals = Totals::default();
    let seed = scenario.chain.seed;
    let heartbeat = i64::from(scenario.sensors.heartbeat_hours) * 3600;
    let event = PlanningEvent {
        lookback_hours: Some(scenario.planner.lookback_hours),
        ..PlanningEvent::default()
    };

    let mut time = TimeSpent::default();
    for h in 0..hours {
        let started = Instant::now();
        let hour_start = start + h * 3600;
        let hour_end = hour_start + 3600;
        let day = (h / 24) as usize;
        let open = scenario.demand.is_open(hour_start);
        let shoppers = scenario.demand.hour(hour_start);
        for (i, shelf) in world.shelves.iter_mut().enumerate() {
            let units = scenario
                .demand
                .units_in(seed, i as u64, &world.demand[i], &shoppers);
            shelf.begin_hour(hour_start, units, open);
        }
        time.shelves += started.elapsed();
        // Trucks reaching stops and depots within the hour (its end included: a delivery in
        // the last quarter hour is on the shelf for the shoppers after it).
        while let Some(&t) = road.events.range(hour_start + 1..=hour_end).next() {
            road.events.remove(&t);
            virtual_clock.set(t);
            let started = Instant::now();
            time.dispatcher_steps += step(&dispatcher, &mut world, &mut road, day, t, end).await?;
            time.dispatcher += started.elapsed();
        }
        // The hour's end: the rest of the shoppers.
        let started = Instant::now();
        let mut readings = Vec::new();
        let at = hour_end - 1;
        for i in 0..world.shelves.len() {
            let sales = world.shelves[i].advance(hour_end);
            world.count(day, i, sales);
            let shelf = &world.shelves[i];
            let stock = shelf.stock as f64;
            world.on_hand_hours[day] += stock;
            world.store_on_hand[shelf.store] += stock;
            world.product_on_hand[shelf.product] += stock;
            let due = match shelf.reported {
                None => true,
                Some((when, last)) => last != shelf.stock || at - when >= heartbeat,
            };
            if due {
                readings.push(reading_of(&world, i, at));
                world.shelves[i].reported = Some((at, world.shelves[i].stock));
            }
        }
        if open {
            world.open_shelf_hours += world.shelves.len() as f64;
        }
        time.shelves += started.elapsed();
        let started = Instant::now();
        virtual_clock.set(at);
        for chunk in readings.chunks(READINGS_PER_PUT) {
            sink.put(chunk).await.context("sending readings")?;
        }
        sink.flush().await.context("delivering readings")?;
        totals.readings_sent += readings.len() as u64;
        time.sink += started.elapsed();
        virtual_clock.set(hour_end);
        if (h + 1) % i64::from(scenario.planner.every_hours) == 0 {
            let started = Instant::now();
            let result = planner
                .handle(event.clone())
                .await
                .with_context(|| format!("planning at hour {h}"))?;
            totals.planning_runs += 1;
            totals.alerts_sent += result.alerts_sent as u64;
            totals.alerts_suppressed += result.alerts_suppressed as u64;
            let alerts_day = world.day_of(hour_end);
            world.days[alerts_day].alerts_sent += result.alerts_sent as u64;
            time.planner += started.elapsed();
            time.planning_runs.push(started.elapsed());
        }
        let started = Instant::now();
        time.dispatcher_steps +=
            step(&dispatcher, &mut world, &mut road, day, hour_end, end).await?;
        time.dispatcher += started.elapsed();
        progress((h + 1) as u32, hours as u32);
    }
    virtual_clock.set(end);
    let started = Instant::now();
    let kpis = account(
        scenario,
        policy_name,
        &fleet,
        &stores,
        &world,
        &road,
        totals,
        &*ledger,
        &*queue,
        start,
    )
    .await?;
    time.accounting = started.elapsed();
    Ok(Outcome {
        kpis,
        shelf_hours: world.shelves.len() as u64 * hours as u64,
        time,
    })
}

/// The reading a shelf's sensor sends at `at`.
fn reading_of(world: &World, i: usize, at: i64) -> Reading {
    let shelf = &world.shelves[i];
    let stock = i32::try_from(shelf.stock).unwrap_or(i32::MAX);
    let low = stock < shelf.threshold;
    let mut r = Reading {
        store_id: world.store_ids[shelf.store].clone(),
        product_id: world.product_ids[shelf.product].clone(),
        product_name: world.product_names[shelf.product].clone(),
        current_stock: stock,
        threshold_level: shelf.threshold,
        is_stock_low: low,
        check_timestamp: at,
        notification_sent: false,
        restock_status: if low { "LOW" } else { "OK" }.to_owned(),
        event_id: None,
        max_stock: Some(shelf.capacity),
    };
    r.ensure_event_id();
    r
}

/// The dispatcher's steps at `now`, until it has nothing more to do then; deliveries fill the
/// shelves at their ETAs, and every new ETA and return becomes an event. Returns how many steps
/// it took.
async fn step(
    dispatcher: &Dispatcher,
    world: &mut World,
    road: &mut Road,
    day: usize,
    now: i64,
    end: i64,
) -> Result<u64> {
    for steps in 1..=MAX_STEPS_AT_ONCE as u64 {
        let outcome = dispatcher.try_execute_task().await.context("dispatching")?;
        let (report, more) = match outcome {
            ExecutionOutcome::EmptyQueue => return Ok(steps),
            ExecutionOutcome::NoFreeTruck { report, .. } => (report, false),
            ExecutionOutcome::TaskCompleted(report) => {
                let more = report.accepted > 0 || !report.dispatched.is_empty();
                (report, more)
            }
        };
        absorb(world, road, &report, day, now, end);
        if !more {
            return Ok(steps);
        }
    }
    Ok(MAX_STEPS_AT_ONCE as u64)
}

/// Applies a step's report: deliveries to shelves (in time order), trips and km to the road.
/// Sales up to a delivery count in `day`, the day of the hour being played.
fn absorb(
    world: &mut World,
    road: &mut Road,
    report: &BatchReport,
    day: usize,
    now: i64,
    end: i64,
) {
    let mut delivered: Vec<&Delivery> = report.delivered.iter().collect();
    delivered
        .sort_by(|a, b| (a.delivered_at, &a.dispatch_id).cmp(&(b.delivered_at, &b.dispatch_id)));
    for d in delivered {
        let Some(i) = world.shelf_of(&d.store_id, &d.product_id) else {
            continue;
        };
        let in_stock_before = world.shelves[i].cycles_in_stock;
        let (sales, _) = world.shelves[i].deliver(d.delivered_at, d.quantity);
        let in_stock = world.shelves[i].cycles_in_stock > in_stock_before;
        road.cycle_ends.push((d.alert_id.clone(), in_stock));
        world.count(day, i, sales);
        let units = d.quantity.max(0) as u64;
        let delivered_day = world.day_of(d.delivered_at);
        world.days[delivered_day].units_delivered += units;
        world.store_delivered[world.shelves[i].store] += units;
        world.product_delivered[world.shelves[i].product] += units;
        road.delivered_units += units;
        road.lead_times_h
            .push((d.delivered_at - d.planned_at) as f64 / 3600.0);
    }
    for route in &report.routes {
        road.trips += 1;
        road.km += route.distance_km;
        road.load += route.load;
        road.capacity += route.capacity;
        let trip_day = world.day_of(now);
        world.days[trip_day].trips += 1;
        world.days[trip_day].truck_km += route.distance_km;
    }
    // Slots are counted from the run's start (a whole local hour).
    let start = world.start;
    let slot_end = |t: i64, len: i64| start + (t - start + len - 1).div_euclid(len) * len;
    for d in &report.dispatched {
        for slot in [
            slot_end(d.eta, HOUR_SECONDS),
            slot_end(d.truck_back_at, STEP_SECONDS),
        ] {
            if slot > now && slot <= end {
                road.events.insert(slot);
            }
        }
    }
    road.dead_lettered += report.dead_lettered as u64;
}

/// The end of a run: the ledger read back and checked against what the run counted, and the
/// KPIs. A broken invariant is an error that names it.
#[allow(clippy::too_many_arguments)]
async fn account(
    scenario: &Scenario,
    policy_name: &str,
    fleet: &Fleet,
    stores: &Stores,
    world: &World,
    road: &Road,
    mut totals: Totals,
    ledger: &dyn Ledger,
    queue: &dyn AlertQueue,
    start: i64,
) -> Result<Kpis> {
    let mut broken = Vec::new();
    for s in &world.shelves {
        if let Some(e) = s.balance_error() {
            broken.push(format!(
                "shelf {} {}: {e}",
                world.store_ids[s.store], world.product_ids[s.product]
            ));
        }
    }
    let since = start - 1;
    let statuses = ledger.alerts_since(since).await.context("reading alerts")?;
    let closures = ledger
        .closures_since(since)
        .await
        .context("reading closures")?;
    let deliveries = ledger
        .deliveries_since(since)
        .await
        .context("reading deliveries")?;
    let dispatches = ledger
        .dispatches_since(since)
        .await
        .context("reading dispatches")?;
    let depth = queue.depth().await.context("reading the queue")?;
    if statuses.len() as u64 != totals.alerts_sent {
        broken.push(format!(
            "the planner sent {} alerts but the ledger records {}",
            totals.alerts_sent,
            statuses.len()
        ));
    }
    let delivered_in_ledger: u64 = deliveries.iter().map(|d| d.quantity.max(0) as u64).sum();
    if delivered_in_ledger != road.delivered_units {
        broken.push(format!(
            "the ledger records {delivered_in_ledger} units delivered but shelves received {}",
            road.delivered_units
        ));
    }
    let received: u64 = world.shelves.iter().map(|s| s.received + s.overflow).sum();
    if received != road.delivered_units {
        broken.push(format!(
            "{} units delivered but shelves took {received} (overflow included)",
            road.delivered_units
        ));
    }
    let mut route_km: BTreeMap<&str, f64> = BTreeMap::new();
    for d in &dispatches {
        route_km.insert(&d.route_id, d.route_km);
    }
    let ledger_km: f64 = route_km.values().sum();
    if (ledger_km - road.km).abs() > 1e-6 * road.km.max(1.0) {
        broken.push(format!(
            "trips in the ledger add up to {ledger_km:.3} km but the routes driven to {:.3} km",
            road.km
        ));
    }
    // Every alert is delivered, closed with a reason, or pending (queued, open, on the road).
    let closed: HashSet<&str> = closures.iter().map(|c| c.alert_id.as_str()).collect();
    let joined: HashSet<&str> = statuses
        .iter()
        .filter(|s| s.alert.joined_delivery())
        .map(|s| s.alert.alert_id.as_str())
        .collect();
    totals.alerts_joined = Some(joined.len() as u64);
    let (own, own_in_stock) = road
        .cycle_ends
        .iter()
        .filter(|(alert, _)| !joined.contains(alert.as_str()))
        .fold((0_u64, 0_u64), |(n, k), (_, in_stock)| {
            (n + 1, k + u64::from(*in_stock))
        });
    totals.own_cycle_service_level = Some(share(own_in_stock as f64, own as f64));
    for s in &statuses {
        let got: i64 = s.deliveries.iter().map(|d| d.quantity).sum();
        if got >= s.alert.restock_qty {
            totals.alerts_delivered += 1;
        } else if closed.contains(s.alert.alert_id.as_str()) {
            totals.alerts_closed += 1;
        } else {
            totals.alerts_pending += 1;
        }
    }
    if let Some(c) = closures.iter().find(|c| c.detail.is_empty()) {
        broken.push(format!("order {} closed without a reason", c.alert_id));
    }
    totals.alerts_dead_lettered = road.dead_lettered.max(depth.dead);
    if !broken.is_empty() {
        bail!(
            "the run broke {} invariant(s):\n  {}",
            broken.len(),
            broken.join("\n  ")
        );
    }

    let hours = f64::from(scenario.chain.days) * 24.0;
    let shelves = world.shelves.len() as f64;
    for s in &world.shelves {
        totals.demand_units += s.total.demanded;
        totals.sold_units += s.total.sold;
        totals.lost_units += s.total.lost;
        totals.stockout_shelf_hours += s.total.stockout_s / 3600.0;
        totals.cycles += s.cycles;
        totals.units_overflow += s.overflow;
    }
    let cycles_in_stock: u64 = world.shelves.iter().map(|s| s.cycles_in_stock).sum();
    let on_hand: f64 = world.on_hand_hours.iter().sum::<f64>() / hours;
    totals.lost_share = share(totals.lost_units as f64, totals.demand_units as f64);
    totals.fill_rate = share(totals.sold_units as f64, totals.demand_units as f64);
    totals.stockout_share = share(totals.stockout_shelf_hours, world.open_shelf_hours);
    totals.stockout_shelf_hours = round4(totals.stockout_shelf_hours);
    totals.cycle_service_level = share(cycles_in_stock as f64, totals.cycles as f64);
    totals.avg_on_hand_units = round4(on_hand);
    totals.avg_on_hand_per_shelf = share(on_hand, shelves);
    let sold_per_day = totals.sold_units as f64 / f64::from(scenario.chain.days);
    totals.days_of_cover = share(on_hand, sold_per_day);
    totals.units_delivered = road.delivered_units;
    totals.trips = road.trips;
    totals.truck_km = round4(road.km);
    // A unit that did not fit and went back was driven but not delivered.
    totals.km_per_unit = share(
        road.km,
        road.delivered_units.saturating_sub(totals.units_overflow) as f64,
    );
    totals.truck_utilisation = share(road.load as f64, road.capacity as f64);
    let mut lead = road.lead_times_h.clone();
    lead.sort_by(f64::total_cmp);
    totals.lead_time_hours_p50 = round4(quantile(&lead, 0.5));
    totals.lead_time_hours_p95 = round4(quantile(&lead, 0.95));
    let mut histogram = vec![0_u64; LEAD_TIME_BINS];
    for h in &lead {
        histogram[(h.max(0.0).floor() as usize).min(LEAD_TIME_BINS - 1)] += 1;
    }

    let days = world
        .days
        .iter()
        .zip(&world.on_hand_hours)
        .map(|(d, on_hand)| DayKpis {
            stockout_shelf_hours: round4(d.stockout_shelf_hours),
            avg_on_hand_units: round4(on_hand / 24.0),
            truck_km: round4(d.truck_km),
            ..d.clone()
        })
        .collect();
    let mut by_store: Vec<GroupKpis> = world
        .store_ids
        .iter()
        .enumerate()
        .map(|(i, id)| GroupKpis {
            id: id.clone(),
            units_delivered: world.store_delivered[i],
            avg_on_hand_units: round4(world.store_on_hand[i] / hours),
            stockout_hours_by_day: world.store_day_stockout_s[i]
                .iter()
                .map(|s| round4(s / 3600.0))
                .collect(),
            ..GroupKpis::default()
        })
        .collect();
    let mut by_product: Vec<GroupKpis> = world
        .product_ids
        .iter()
        .enumerate()
        .map(|(i, id)| GroupKpis {
            id: id.clone(),
            units_delivered: world.product_delivered[i],
            avg_on_hand_units: round4(world.product_on_hand[i] / hours),
            ..GroupKpis::default()
        })
        .collect();
    for s in &world.shelves {
        for g in [&mut by_store[s.store], &mut by_product[s.product]] {
            g.demand_units += s.total.demanded;
            g.lost_units += s.total.lost;
            g.stockout_shelf_hours += s.total.stockout_s / 3600.0;
        }
    }
    for g in by_store.iter_mut().chain(by_product.iter_mut()) {
        g.stockout_shelf_hours = round4(g.stockout_shelf_hours);
    }
    Ok(Kpis {
        policy: policy_name.to_owned(),
        scenario: RunShape {
            stores: stores.stores.len(),
            products: scenario.chain.products,
            shelves: world.shelves.len(),
            days: scenario.chain.days,
            seed: scenario.chain.seed,
            start: scenario.chain.start.clone(),
            planning_every_hours: scenario.planner.every_hours,
            trucks: fleet.trucks.len(),
        },
        totals,
        days,
        stores: by_store,
        products: by_product,
        lead_time_hours_histogram: histogram,
    })
}
