//! The dispatcher when things fail: a process that dies between accepting and deleting, or
//! between claiming a trip and recording it, two dispatchers racing for a truck, and shutdown in
//! the middle of recording.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use store_local::{FolderLedger, SqliteAlertQueue};
use store_model::contract::alert;
use store_model::planning::{AlertStatus, PlanningRun};
use store_model::ports::{
    AlertQueue, DamagedRecord, ErrorKind, Ledger, OrderClosure, PortError, QueueDepth,
    QueueMessage, Recorded,
};
use store_model::{Alert, Delivery, Dispatch, Trip};
use store_truck_app::ExecutionOutcome;
use tempfile::TempDir;

use common::*;

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
    async fn record_run(&self, run: &PlanningRun) -> Result<(), PortError> {
        self.inner.record_run(run).await
    }
    async fn runs_since(&self, since: i64) -> Result<Vec<PlanningRun>, PortError> {
        self.inner.runs_since(since).await
    }
    async fn close_order(&self, c: &OrderClosure) -> Result<Recorded<OrderClosure>, PortError> {
        self.inner.close_order(c).await
    }
    async fn closures_since(&self, since: i64) -> Result<Vec<OrderClosure>, PortError> {
        self.inner.closures_since(since).await
    }
    fn damaged(&self) -> Vec<DamagedRecord> {
        self.inner.damaged()
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
        advance_past_every_trip(&folder, &now).await;
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
