//! The dispatcher against the embedded queue and ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use store_local::{DataDir, FolderLedger, QueueConfig, SqliteAlertQueue};
use store_model::contract::alert;
use store_model::planning::AlertStatus;
use store_model::ports::{
    AlertQueue, ErrorKind, Ledger, PortError, QueueDepth, QueueMessage, Recorded,
};
use store_model::routing::RoutingOptions;
use store_model::{Alert, Delivery, Dispatch, Trip};
use store_model::{ConfigFile, Fleet, Stores};
use store_truck_app::{Dispatcher, ExecutionOutcome};
use tempfile::TempDir;

const VISIBILITY: Duration = Duration::from_millis(400);

fn open(dir: &TempDir) -> (SqliteAlertQueue, FolderLedger) {
    open_with(dir, 5)
}

/// The embedded queue and ledger in `dir`, dead-lettering after `max_receive_count` receives.
fn open_with(dir: &TempDir, max_receive_count: u32) -> (SqliteAlertQueue, FolderLedger) {
    let data = DataDir::new(dir.path());
    let queue = SqliteAlertQueue::open(
        &data.queue_path(),
        QueueConfig {
            visibility_timeout: VISIBILITY,
            max_receive_count,
            ..QueueConfig::default()
        },
    )
    .unwrap();
    (queue, FolderLedger::new(data.lake().unwrap()))
}

const T0: i64 = 1_764_000_100;

fn dispatcher(queue: Arc<dyn AlertQueue>, ledger: Arc<dyn Ledger>) -> Dispatcher {
    dispatcher_at(queue, ledger, Arc::new(AtomicI64::new(T0)))
}

/// A dispatcher whose clock the test moves.
fn dispatcher_at(
    queue: Arc<dyn AlertQueue>,
    ledger: Arc<dyn Ledger>,
    now: Arc<AtomicI64>,
) -> Dispatcher {
    Dispatcher {
        queue,
        ledger,
        fleet: Fleet::shipped(),
        stores: Stores::shipped(),
        routing: RoutingOptions::default(),
        wait: Duration::from_secs(1),
        batch_window: Duration::from_millis(300),
        time_scale: 1.0,
        clock: Arc::new(move || now.load(Ordering::SeqCst)),
    }
}

/// `n` alerts of `qty` units each.
fn alerts_of(n: usize, qty: i64) -> Vec<Alert> {
    (0..n)
        .map(|i| {
            let mut a = alert(i, 1_764_000_000);
            a.restock_qty = qty;
            a
        })
        .collect()
}

/// Every one of `alerts` alerts of `qty` units is carried in full, and no piece twice.
fn assert_each_unit_carried_once(all: &[Dispatch], alerts: usize, qty: i64) {
    let mut per_alert: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for x in all {
        assert!(
            ids.insert(x.dispatch_id.as_str()),
            "{} twice",
            x.dispatch_id
        );
        *per_alert.entry(x.alert_id.as_str()).or_default() += x.quantity;
    }
    assert_eq!(per_alert.len(), alerts, "every alert is dispatched");
    assert!(per_alert.values().all(|&q| q == qty), "{per_alert:?}");
}

/// Each truck's trips, by departure: each leaves after the previous one is back. Returns the
/// number of trips.
fn assert_no_truck_on_two_trips(all: &[Dispatch]) -> usize {
    let mut trips: std::collections::BTreeMap<(&str, i64), i64> = std::collections::BTreeMap::new();
    for x in all {
        trips.insert((x.truck_id.as_str(), x.dispatched_at), x.truck_back_at);
    }
    let trips: Vec<_> = trips.into_iter().collect();
    for w in trips.windows(2) {
        let (((t1, _), back1), ((t2, left2), _)) = (w[0], w[1]);
        assert!(
            t1 != t2 || left2 >= back1,
            "{t1} left at {left2} before it was back at {back1}"
        );
    }
    trips.len()
}

/// A queue whose process "dies" at the delete: everything before it happened, the delete did not.
struct DiesBeforeDelete {
    inner: SqliteAlertQueue,
    died: AtomicBool,
}

#[async_trait]
impl AlertQueue for DiesBeforeDelete {
    async fn send(&self, alerts: &[Alert]) -> Result<(), PortError> {
        self.inner.send(alerts).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, _: &[String]) -> Result<(), PortError> {
        self.died.store(true, Ordering::SeqCst);
        Err(PortError::new(
            ErrorKind::Permanent,
            "delete alerts",
            "process killed",
        ))
    }
    async fn extend_visibility(&self, h: &str, t: Duration) -> Result<(), PortError> {
        self.inner.extend_visibility(h, t).await
    }
    async fn dead_letter(&self, m: &QueueMessage, r: &str) -> Result<(), PortError> {
        self.inner.dead_letter(m, r).await
    }
    async fn depth(&self) -> Result<QueueDepth, PortError> {
        self.inner.depth().await
    }
}

#[tokio::test]
async fn a_crash_after_accepting_but_before_deleting_does_not_dispatch_twice() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let alerts: Vec<Alert> = (0..3).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&alerts).await.unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);

    // First run: the orders are recorded, then the process dies before the delete.
    let dying = Arc::new(DiesBeforeDelete {
        inner: queue.clone(),
        died: AtomicBool::new(false),
    });
    let first = dispatcher(dying.clone(), ledger.clone())
        .try_execute_task()
        .await;
    assert!(first.is_err() && dying.died.load(Ordering::SeqCst));
    assert_eq!(ledger.orders_since(0).await.unwrap(), alerts);
    assert_eq!(ledger.dispatches_since(0).await.unwrap().len(), 0);

    // Restart: the messages come back after their visibility timeout and are recognised; the
    // open orders are dispatched once.
    tokio::time::sleep(VISIBILITY + Duration::from_millis(200)).await;
    let restarted = dispatcher(Arc::new(queue.clone()), ledger.clone());
    let ExecutionOutcome::TaskCompleted(report) = restarted.try_execute_task().await.unwrap()
    else {
        panic!("the open orders are dispatched");
    };
    assert_eq!((report.duplicates, report.accepted), (3, 0), "{report:?}");
    assert_eq!(report.dispatched.len(), 3);
    assert_eq!(ledger.dispatches_since(0).await.unwrap().len(), 3);
    assert_eq!(
        queue.depth().await.unwrap(),
        QueueDepth::default(),
        "the redeliveries are deleted"
    );
    assert_eq!(
        restarted.try_execute_task().await.unwrap(),
        ExecutionOutcome::EmptyQueue
    );
}

/// A ledger over the folder that can stop between a trip's claim and its dispatch records, and
/// can hold every dispatcher at its first claim until all of them have planned.
struct Faulty {
    inner: FolderLedger,
    /// While set, recording a dispatch fails as if the process had died.
    dead: AtomicBool,
    /// Dispatchers meet here before their first claim.
    meet: Option<Arc<tokio::sync::Barrier>>,
    met: AtomicBool,
    /// Asks for shutdown (as Ctrl-C would) at the first dispatch it records, then records slowly.
    stop: Option<Arc<tokio::sync::Notify>>,
}

impl Faulty {
    fn new(inner: FolderLedger) -> Self {
        Self {
            inner,
            dead: AtomicBool::new(false),
            meet: None,
            met: AtomicBool::new(false),
            stop: None,
        }
    }
}

#[async_trait]
impl Ledger for Faulty {
    async fn record_alerts(&self, run: &str, alerts: &[Alert]) -> Result<(), PortError> {
        self.inner.record_alerts(run, alerts).await
    }
    async fn alerts_since(&self, since: i64) -> Result<Vec<AlertStatus>, PortError> {
        self.inner.alerts_since(since).await
    }
    async fn record_dispatch(&self, d: &Dispatch) -> Result<Recorded<Dispatch>, PortError> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(PortError::new(
                ErrorKind::Permanent,
                "record dispatch",
                "process killed",
            ));
        }
        if let Some(stop) = &self.stop {
            stop.notify_one();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.inner.record_dispatch(d).await
    }
    async fn dispatches_since(&self, since: i64) -> Result<Vec<Dispatch>, PortError> {
        self.inner.dispatches_since(since).await
    }
    async fn record_delivery(&self, d: &Delivery) -> Result<Recorded<Delivery>, PortError> {
        self.inner.record_delivery(d).await
    }
    async fn deliveries_since(&self, since: i64) -> Result<Vec<Delivery>, PortError> {
        self.inner.deliveries_since(since).await
    }
    async fn record_order(&self, alert: &Alert) -> Result<Recorded<Alert>, PortError> {
        self.inner.record_order(alert).await
    }
    async fn orders_since(&self, since: i64) -> Result<Vec<Alert>, PortError> {
        self.inner.orders_since(since).await
    }
    async fn claim_trip(&self, trip: &Trip) -> Result<Recorded<Trip>, PortError> {
        if let Some(meet) = &self.meet
            && !self.met.swap(true, Ordering::SeqCst)
        {
            // A dispatcher with nothing to plan never comes; do not wait for it forever.
            let _ = tokio::time::timeout(Duration::from_secs(3), meet.wait()).await;
        }
        self.inner.claim_trip(trip).await
    }
    async fn latest_trip(&self, truck: &str) -> Result<Option<Trip>, PortError> {
        self.inner.latest_trip(truck).await
    }
}

#[tokio::test]
async fn a_trip_claimed_by_a_dispatcher_that_stopped_is_finished_by_the_next() {
    let dir = TempDir::new().unwrap();
    let (queue, folder) = open(&dir);
    let alerts: Vec<Alert> = (0..4).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&alerts).await.unwrap();
    let faulty = Arc::new(Faulty::new(folder));
    faulty.dead.store(true, Ordering::SeqCst);
    let now = Arc::new(AtomicI64::new(T0));
    let d = dispatcher_at(Arc::new(queue.clone()), faulty.clone(), now.clone());
    let ExecutionOutcome::TaskCompleted(first) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    assert!(first.dispatched.is_empty() && !first.routes.is_empty());
    assert_eq!(first.retried, 4, "{first:?}");

    // A new dispatcher a little later records what the claimed trips carry, on the same trucks.
    faulty.dead.store(false, Ordering::SeqCst);
    now.store(T0 + 120, Ordering::SeqCst);
    let d = dispatcher_at(Arc::new(queue.clone()), faulty.clone(), now.clone());
    let ExecutionOutcome::TaskCompleted(second) = d.try_execute_task().await.unwrap() else {
        panic!("the trips are finished")
    };
    assert_eq!(second.dispatched.len(), 4);
    assert!(second.routes.is_empty(), "no new trip: {second:?}");
    let trucks: std::collections::BTreeSet<&str> =
        first.routes.iter().map(|r| r.truck_id.as_str()).collect();
    assert!(
        second
            .dispatched
            .iter()
            .all(|x| trucks.contains(x.truck_id.as_str()))
    );
    assert_eq!(
        d.try_execute_task().await.unwrap(),
        ExecutionOutcome::EmptyQueue
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_never_put_one_truck_on_two_trips_at_once() {
    let dir = TempDir::new().unwrap();
    let (queue, _) = open(&dir);
    let alerts = alerts_of(14, 90);
    queue.send(&alerts).await.unwrap();
    let meet = Arc::new(tokio::sync::Barrier::new(2));
    let now = Arc::new(AtomicI64::new(T0));
    let copy = || {
        let (q, folder) = open(&dir);
        let mut ledger = Faulty::new(folder);
        ledger.meet = Some(meet.clone());
        let mut d = dispatcher_at(Arc::new(q), Arc::new(ledger), now.clone());
        d.time_scale = 1000.0;
        d
    };
    let (a, b) = (copy(), copy());
    let mut lost = 0;
    for _ in 0..30 {
        let (ra, rb) = tokio::join!(a.try_execute_task(), b.try_execute_task());
        for r in [ra.unwrap(), rb.unwrap()] {
            if let ExecutionOutcome::TaskCompleted(r) = r {
                lost += r.lost_claims;
            }
        }
        let (_, folder) = open(&dir);
        let dispatched: i64 = folder
            .dispatches_since(0)
            .await
            .unwrap()
            .iter()
            .map(|x| x.quantity)
            .sum();
        if dispatched == 14 * 90 {
            break;
        }
        let back = folder
            .dispatches_since(0)
            .await
            .unwrap()
            .iter()
            .map(|x| x.truck_back_at)
            .max()
            .unwrap_or(T0);
        now.store(back.max(now.load(Ordering::SeqCst)) + 1, Ordering::SeqCst);
    }
    assert!(
        lost > 0,
        "the two met at their claims, so one lost at least one truck"
    );
    let (_, folder) = open(&dir);
    let all = folder.dispatches_since(0).await.unwrap();
    assert_each_unit_carried_once(&all, 14, 90);
    assert_no_truck_on_two_trips(&all);
    assert_eq!(queue.dead_letters().await.unwrap(), vec![]);
}

#[tokio::test]
async fn alerts_are_dispatched_recorded_and_deleted() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let alerts: Vec<Alert> = (0..12).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&alerts).await.unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let d = dispatcher(Arc::new(queue.clone()), ledger.clone());
    let mut dispatched = Vec::new();
    while let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() {
        assert!(r.unassigned.is_empty(), "the fleet carries 1,300 units");
        dispatched.extend(r.dispatched);
    }
    assert_eq!(dispatched.len(), 12);
    let recorded = ledger.dispatches_since(0).await.unwrap();
    assert_eq!(recorded.len(), 12);
    for a in &alerts {
        let d = recorded
            .iter()
            .find(|d| d.alert_id == a.alert_id)
            .expect("every alert has its dispatch");
        assert_eq!(
            (d.store_id.as_str(), d.quantity),
            (a.store_id.as_str(), a.restock_qty)
        );
    }
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
}

#[tokio::test]
async fn messages_that_are_not_alerts_go_to_dead_letters_with_the_reason() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    // Garbage, and the seed's own three-key message, which lacks what a dispatch needs.
    queue
        .send_bodies(vec![
            "not json".into(),
            r#"{"store_id":"STORE_4","product_name":"Bánh mì","alert":"Stock low"}"#.into(),
        ])
        .await
        .unwrap();
    queue.send(&[alert(1, 1_764_000_000)]).await.unwrap();
    let d = dispatcher(Arc::new(queue.clone()), Arc::new(ledger));
    let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    assert_eq!((r.dispatched.len(), r.dead_lettered), (1, 2));
    let dead = queue.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead.iter()
            .all(|m| m.reason.starts_with("not a restock alert")),
        "{dead:?}"
    );
    assert!(
        dead.iter().any(|m| m.reason.contains("missing field")),
        "{dead:?}"
    );
    assert_eq!(
        d.try_execute_task().await.unwrap(),
        ExecutionOutcome::EmptyQueue
    );
}

#[tokio::test]
async fn the_watch_loop_stops_on_shutdown() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    queue
        .send(&[alert(1, 1_764_000_000), alert(2, 1_764_000_000)])
        .await
        .unwrap();
    let d = dispatcher(Arc::new(queue), Arc::new(ledger));
    let mut seen = 0;
    d.run_until(tokio::time::sleep(Duration::from_millis(1500)), |r| {
        seen += r.dispatched.len()
    })
    .await;
    assert_eq!(seen, 2);
}

#[tokio::test]
async fn shutdown_in_the_middle_of_recording_lets_the_step_finish() {
    let dir = TempDir::new().unwrap();
    let (queue, folder) = open(&dir);
    let alerts: Vec<Alert> = (0..4).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&alerts).await.unwrap();
    let stop = Arc::new(tokio::sync::Notify::new());
    let ledger = Arc::new(Faulty {
        stop: Some(stop.clone()),
        ..Faulty::new(folder)
    });
    let d = dispatcher(Arc::new(queue.clone()), ledger.clone());
    let mut seen = 0;
    d.run_until(stop.notified(), |r| seen += r.dispatched.len())
        .await;
    // The step that was recording when shutdown came recorded every dispatch of its trips.
    let recorded = ledger.dispatches_since(0).await.unwrap();
    assert_eq!((seen, recorded.len()), (4, 4));
    assert_each_unit_carried_once(&recorded, 4, alerts[0].restock_qty);
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
}

#[tokio::test]
async fn alerts_for_unknown_stores_go_to_dead_letters_with_the_reason() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let mut lost = alert(1, 1_764_000_000);
    lost.store_id = "STORE_404".into();
    queue.send(&[lost]).await.unwrap();
    let d = dispatcher(Arc::new(queue.clone()), Arc::new(ledger));
    let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    assert_eq!((r.dispatched.len(), r.dead_lettered), (0, 1));
    let dead = queue.dead_letters().await.unwrap();
    assert!(
        dead[0].reason.contains("no location for store `STORE_404`"),
        "{dead:?}"
    );
}

#[tokio::test]
async fn trucks_deliver_after_their_travel_time_and_are_free_again_when_back() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let alerts: Vec<Alert> = (0..7).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&alerts).await.unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let d = dispatcher_at(Arc::new(queue.clone()), ledger.clone(), now.clone());
    let ExecutionOutcome::TaskCompleted(first) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    assert_eq!(first.dispatched.len(), 7);
    assert!(first.delivered.is_empty());
    for route in &first.routes {
        assert!(route.load <= route.capacity);
        // Stops in order, each reached after the previous one.
        assert!(
            route
                .stops
                .windows(2)
                .all(|w| w[0].arrive_after_s < w[1].arrive_after_s)
        );
    }
    let first_eta = first.dispatched.iter().map(|x| x.eta).min().unwrap();
    let last_back = first
        .dispatched
        .iter()
        .map(|x| x.truck_back_at)
        .max()
        .unwrap();
    assert!(first_eta > T0, "travel takes time");

    // At the first ETA exactly the stops due are delivered, once.
    now.store(first_eta, Ordering::SeqCst);
    let step = d.try_execute_task().await.unwrap();
    let delivered = match step {
        ExecutionOutcome::TaskCompleted(r) => r.delivered,
        ExecutionOutcome::NoFreeTruck { report, .. } => report.delivered,
        ExecutionOutcome::EmptyQueue => Vec::new(),
    };
    let due: Vec<_> = first
        .dispatched
        .iter()
        .filter(|x| x.eta <= first_eta)
        .collect();
    assert_eq!(delivered.len(), due.len());
    assert!(delivered.iter().all(|x| x.delivered_at <= first_eta));

    // When every truck is back, everything is delivered and the trucks take new work.
    now.store(last_back, Ordering::SeqCst);
    let _ = d.try_execute_task().await.unwrap();
    assert_eq!(ledger.deliveries_since(0).await.unwrap().len(), 7);
    let statuses = ledger.alerts_since(0).await.unwrap();
    assert!(
        statuses.is_empty(),
        "these alerts were never recorded by a planner"
    );
    assert_eq!(d.waiting(last_back).await.unwrap().1.len(), 4);
}

#[tokio::test]
async fn work_beyond_the_free_trucks_waits_as_an_open_order_until_a_truck_is_back() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    // 7 alerts of 200 units: the four trucks (400, 400, 250, 250) carry six of them.
    let alerts = alerts_of(7, 200);
    queue.send(&alerts).await.unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let mut d = dispatcher_at(Arc::new(queue.clone()), ledger.clone(), now.clone());
    // Trips of about an hour take a few seconds, so the waiting alerts are hidden that long.
    d.time_scale = 1000.0;
    let ExecutionOutcome::TaskCompleted(first) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    let carried: i64 = first.dispatched.iter().map(|x| x.quantity).sum();
    let waiting: i64 = first.unassigned.iter().map(|u| u.quantity).sum();
    assert_eq!(
        carried + waiting,
        7 * 200,
        "every unit is carried or reported"
    );
    assert_eq!(carried, 1_200);
    assert!(!first.unassigned.is_empty());
    assert!(
        first
            .unassigned
            .iter()
            .all(|u| u.reason.contains("no free truck has room"))
    );
    assert_eq!(
        queue.depth().await.unwrap(),
        QueueDepth::default(),
        "every alert is accepted: the one waiting is an open order, not a message in flight"
    );
    assert_eq!(first.accepted, 7);

    // Every truck is out: nothing is received.
    let outcome = d.try_execute_task().await.unwrap();
    assert!(
        matches!(outcome, ExecutionOutcome::NoFreeTruck { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        d.waiting(now.load(Ordering::SeqCst)).await.unwrap().0.len(),
        1
    );
    // Once they are back and the alerts visible again, the rest is dispatched.
    let mut all = first.dispatched.clone();
    for _ in 0..40 {
        let latest = all.iter().map(|x| x.truck_back_at).max().unwrap();
        now.store(latest.max(now.load(Ordering::SeqCst)), Ordering::SeqCst);
        if let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() {
            all.extend(r.dispatched);
        }
        if d.waiting(now.load(Ordering::SeqCst))
            .await
            .unwrap()
            .0
            .is_empty()
        {
            break;
        }
    }
    assert_each_unit_carried_once(&all, 7, 200);
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
}

#[tokio::test]
async fn alerts_that_wait_for_a_truck_are_never_dead_lettered() {
    let dir = TempDir::new().unwrap();
    // Two receives and a message is dead: only a failure to accept may count as one.
    let (queue, ledger) = open_with(&dir, 2);
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    // 30 alerts of 150 units for a fleet of 1,300: several trips' worth.
    let alerts = alerts_of(30, 150);
    queue.send(&alerts).await.unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let mut d = dispatcher_at(Arc::new(queue.clone()), ledger.clone(), now.clone());
    d.time_scale = 1000.0;
    let mut all = Vec::new();
    for _ in 0..40 {
        if let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() {
            all.extend(r.dispatched);
        }
        if all.iter().map(|x| x.quantity).sum::<i64>() == 30 * 150 {
            break;
        }
        // The trucks come back; hidden messages (if any) become visible again.
        let back = all.iter().map(|x| x.truck_back_at).max().unwrap_or(T0);
        now.store(back.max(now.load(Ordering::SeqCst)) + 1, Ordering::SeqCst);
        tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
    }
    assert_eq!(
        queue.dead_letters().await.unwrap(),
        vec![],
        "nothing only waited into the dead letters"
    );
    assert_each_unit_carried_once(&all, 30, 150);
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
}

#[tokio::test]
async fn a_batch_window_longer_than_the_visibility_timeout_loses_and_doubles_nothing() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let mut d = dispatcher(Arc::new(queue.clone()), ledger.clone());
    // The window is four visibility timeouts long: what is received first would be visible
    // again long before the window ends, were it not accepted at once.
    d.batch_window = VISIBILITY * 4;
    let q = queue.clone();
    let sender = tokio::spawn(async move {
        for n in 0..6 {
            q.send(&[alert(n, 1_764_000_000)]).await.unwrap();
            tokio::time::sleep(VISIBILITY / 2).await;
        }
    });
    let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    sender.await.unwrap();
    assert_eq!((r.accepted, r.duplicates, r.retried), (6, 0, 0), "{r:?}");
    assert_eq!(r.dispatched.len(), 6);
    assert_eq!(ledger.dispatches_since(0).await.unwrap().len(), 6);
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
}

/// Load: a backlog of 5,000 alerts for a fleet that carries about a tenth of it at a time is
/// worked off completely, each unit once, nothing dead-lettered, no truck on two trips at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_ten_times_the_fleet_is_worked_off_each_unit_once() {
    const ALERTS: usize = 5_000;
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open_with(&dir, 2);
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    // 3 units each: 15,000 units for a fleet of 1,300 a trip (the four shipped trucks).
    let alerts = alerts_of(ALERTS, 3);
    queue.send(&alerts).await.unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let mut d = dispatcher_at(Arc::new(queue.clone()), ledger.clone(), now.clone());
    d.time_scale = 1000.0;
    d.batch_window = Duration::from_secs(3);
    d.routing = RoutingOptions {
        rounds: 20,
        ..RoutingOptions::default()
    };
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 200, "the backlog is not worked off");
        let _ = d.try_execute_task().await.unwrap();
        let t = now.load(Ordering::SeqCst);
        let (open, _) = d.waiting(t).await.unwrap();
        if open.is_empty() && queue.depth().await.unwrap() == QueueDepth::default() {
            break;
        }
        let back = ledger
            .dispatches_since(0)
            .await
            .unwrap()
            .iter()
            .map(|x| x.truck_back_at)
            .max()
            .unwrap_or(t);
        now.store(back.max(t) + 1, Ordering::SeqCst);
    }
    let all = ledger.dispatches_since(0).await.unwrap();
    assert_each_unit_carried_once(&all, ALERTS, 3);
    assert_eq!(queue.dead_letters().await.unwrap(), vec![]);
    let trips = assert_no_truck_on_two_trips(&all);
    assert!(trips >= 12, "{trips} trips for 15,000 units");
    eprintln!("{ALERTS} alerts in {steps} steps, {trips} trips");
}
