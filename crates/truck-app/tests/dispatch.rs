//! The dispatcher against the embedded queue and ledger.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use store_model::Alert;
use store_model::contract::alert;
use store_model::ports::{AlertQueue, Ledger, QueueDepth};
use store_model::routing::RoutingOptions;
use store_truck_app::ExecutionOutcome;
use tempfile::TempDir;

use common::*;

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

#[tokio::test]
async fn a_zero_batch_window_takes_everything_queued_in_one_step() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    // 25 alerts: more than one receive (at most ten messages) brings.
    queue.send(&alerts_of(25, 10)).await.unwrap();
    let mut d = dispatcher(Arc::new(queue.clone()), ledger.clone());
    d.batch_window = Duration::ZERO;
    let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    assert_eq!((r.accepted, r.dispatched.len()), (25, 25), "{r:?}");
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
    // An empty queue ends the step at once: nothing waits for a window.
    assert!(matches!(
        d.try_execute_task().await.unwrap(),
        ExecutionOutcome::EmptyQueue
    ));
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
        advance_past_every_trip(&*ledger, &now).await;
    }
    let all = ledger.dispatches_since(0).await.unwrap();
    assert_each_unit_carried_once(&all, ALERTS, 3);
    assert_eq!(queue.dead_letters().await.unwrap(), vec![]);
    let trips = assert_no_truck_on_two_trips(&all);
    assert!(trips >= 12, "{trips} trips for 15,000 units");
    eprintln!("{ALERTS} alerts in {steps} steps, {trips} trips");
}
