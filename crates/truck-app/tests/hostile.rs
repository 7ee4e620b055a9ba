//! What one bad record must not do to the fleet: a huge order, a damaged ledger file, orders
//! for stores that left the store list.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use store_local::FolderLedger;
use store_model::contract::alert;
use store_model::ports::{AlertQueue, CloseReason, Ledger};
use store_model::{Alert, ConfigFile, Dispatch, Trip};
use store_truck_app::{BatchReport, ExecutionOutcome, ORDER_MAX_AGE_SECONDS};
use tempfile::TempDir;

use common::*;

/// The report of a step, whatever its outcome.
async fn step(d: &store_truck_app::Dispatcher) -> BatchReport {
    match d.try_execute_task().await.expect("the step runs") {
        ExecutionOutcome::TaskCompleted(r) => r,
        ExecutionOutcome::NoFreeTruck { report, .. } => report,
        ExecutionOutcome::EmptyQueue => BatchReport::default(),
    }
}

/// Writes `bytes` over the object at `key` in the lake folder.
fn damage(ledger: &FolderLedger, key: &str, bytes: &[u8]) {
    let path = ledger.store().path(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_huge_order_is_dead_lettered_with_the_reason_and_the_fleet_goes_on() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let mut alerts = alerts_of(15, 20);
    // Past any order the queue accepts, and within it but past the pieces an order may become.
    alerts[3].restock_qty = i64::from(i32::MAX);
    alerts[7].restock_qty = 400 * 100 + 1;
    queue.send(&alerts).await.unwrap();
    let d = dispatcher(Arc::new(queue.clone()), Arc::new(ledger));
    let started = std::time::Instant::now();
    let r = step(&d).await;
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert_eq!((r.accepted, r.dead_lettered), (13, 2), "{r:?}");
    assert_eq!(r.dispatched.len(), 13);
    let mut reasons: Vec<String> = queue
        .dead_letters()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.reason)
        .collect();
    reasons.sort();
    assert!(
        reasons[0].contains("`restock_qty` must be between 1 and 1000000"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("too large") && reasons[1].contains("101 truckloads"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn an_order_recorded_too_large_is_closed_with_its_reason_not_cut() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    // Accepted by a dispatcher before the bound existed.
    let mut huge = alert(0, T0 - 60);
    huge.restock_qty = 999_999;
    ledger.record_order(&huge).await.unwrap();
    queue.send(&alerts_of(4, 10)[1..]).await.unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let d = dispatcher(Arc::new(queue), ledger.clone());
    let r = step(&d).await;
    assert_eq!(r.dispatched.len(), 3, "{r:?}");
    assert_eq!(r.closed.len(), 1);
    assert_eq!(r.closed[0].reason, CloseReason::TooLarge);
    assert_eq!(r.closed[0].undelivered, 999_999);
    let closed = ledger.closures_since(0).await.unwrap();
    assert_eq!(closed, r.closed);
    // Closed once: the next step neither closes nor routes it again.
    let again = step(&d).await;
    assert!(
        again.closed.is_empty() && again.dispatched.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_damaged_trip_parks_its_truck_and_every_other_truck_keeps_working() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    damage(&ledger, &Trip::ledger_key("TRUCK_1", 1), b"{garbage");
    queue.send(&alerts_of(6, 300)).await.unwrap();
    let ledger = Arc::new(ledger);
    let d = dispatcher(Arc::new(queue), ledger.clone());
    let r = step(&d).await;
    assert!(!r.routes.is_empty(), "{r:?}");
    assert!(r.routes.iter().all(|route| route.truck_id != "TRUCK_1"));
    let parked = d.parked(T0).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].0, "TRUCK_1");
    assert!(parked[0].1.contains("off the road"), "{parked:?}");
    // Set aside with a note, and reported.
    let damaged = ledger.damaged();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0].key, "ledger/trips/TRUCK_1/000000000001.json");
    let note = ledger
        .store()
        .path("ledger/quarantine/trips/TRUCK_1/000000000001.json.note.json");
    let note = std::fs::read_to_string(note).unwrap();
    assert!(note.contains("{garbage"), "{note}");
    // Repaired (removed) by an operator, the truck is back.
    std::fs::remove_file(ledger.store().path(&Trip::ledger_key("TRUCK_1", 1))).unwrap();
    assert!(d.parked(T0).await.unwrap().is_empty());
    assert!(ledger.damaged().is_empty());
}

#[tokio::test]
async fn a_damaged_dispatch_or_delivery_stops_nothing_and_nothing_is_carried_twice() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let ledger = Arc::new(ledger);
    let alerts = alerts_of(8, 50);
    queue.send(&alerts).await.unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let d = dispatcher_at(Arc::new(queue.clone()), ledger.clone(), now.clone());
    let first = step(&d).await;
    assert_eq!(first.dispatched.len(), 8);
    // One dispatch and, after the first delivery, one delivery are overwritten with garbage.
    let hit = first.dispatched.iter().max_by_key(|x| x.eta).unwrap();
    damage(
        &ledger,
        &Dispatch::ledger_key(&hit.dispatch_id, hit.planned_at),
        b"{oops",
    );
    let eta = first.dispatched.iter().map(|x| x.eta).min().unwrap();
    now.store(eta, Ordering::SeqCst);
    let delivered = step(&d).await.delivered;
    assert!(!delivered.is_empty());
    let gone = &delivered[0];
    damage(
        &ledger,
        &store_model::Delivery::ledger_key(&gone.dispatch_id, gone.planned_at),
        b"{oops",
    );
    // Every step still runs; no piece is planned again; every undamaged delivery is recorded.
    advance_past_every_trip(ledger.as_ref(), &now).await;
    let mut later = BatchReport::default();
    for _ in 0..3 {
        later.absorb(&step(&d).await);
    }
    assert!(
        later.dispatched.is_empty(),
        "carried twice: {:?}",
        later.dispatched
    );
    let recorded: HashSet<String> = ledger
        .deliveries_since(0)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.dispatch_id)
        .collect();
    let expected: HashSet<String> = first
        .dispatched
        .iter()
        .map(|x| x.dispatch_id.clone())
        .filter(|id| *id != hit.dispatch_id && *id != gone.dispatch_id)
        .collect();
    assert_eq!(recorded, expected);
    let keys: Vec<String> = ledger.damaged().into_iter().map(|x| x.key).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
}

#[tokio::test]
async fn orders_for_vanished_stores_take_no_place_in_the_window_and_close_with_a_reason() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    // 533 orders accepted while their stores were listed, then the stores left the list.
    let planned = T0 - 60;
    let gone: Vec<Alert> = (0..533)
        .map(|i| {
            let mut a = alert(i, planned - 10);
            a.store_id = format!("STORE_GONE_{i}");
            a.restock_qty = 5;
            a
        })
        .collect();
    for a in &gone {
        ledger.record_order(a).await.unwrap();
    }
    let ok: Vec<Alert> = (1000..1100)
        .map(|i| {
            let mut a = alert(i, planned);
            a.restock_qty = 5;
            a
        })
        .collect();
    for a in &ok {
        ledger.record_order(a).await.unwrap();
    }
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let now = Arc::new(AtomicI64::new(T0));
    let d = dispatcher_at(Arc::new(queue), ledger.clone(), now.clone());
    let r = step(&d).await;
    assert!(
        !r.routes.is_empty(),
        "trucks are free and 100 orders routable: {r:?}"
    );
    let gone_ids: HashSet<&str> = gone.iter().map(|a| a.alert_id.as_str()).collect();
    let waiting: Vec<_> = r
        .unassigned
        .iter()
        .filter(|u| gone_ids.contains(u.demand_id.as_str()))
        .collect();
    assert_eq!(waiting.len(), 533);
    assert!(
        waiting[0].reason.contains("not in the store list")
            || waiting[0].reason.contains("no location"),
        "{:?}",
        waiting[0]
    );

    // Past their age, each is closed with its reason, once, and counted; none vanishes.
    now.store(planned + ORDER_MAX_AGE_SECONDS + 1, Ordering::SeqCst);
    let mut total = BatchReport::default();
    for _ in 0..4 {
        total.absorb(&step(&d).await);
        advance_past_every_trip(ledger.as_ref(), &now).await;
    }
    let closed = ledger.closures_since(0).await.unwrap();
    let by_reason = |r: CloseReason| closed.iter().filter(|c| c.reason == r).count();
    assert_eq!(by_reason(CloseReason::StoreUnknown), 533);
    assert_eq!(closed.len(), total.closed.len());
    let dispatched: HashSet<String> = ledger
        .dispatches_since(0)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.alert_id)
        .collect();
    // Every order is accounted for: dispatched, or closed with a reason.
    for a in gone.iter().chain(&ok) {
        assert!(
            dispatched.contains(&a.alert_id) || closed.iter().any(|c| c.alert_id == a.alert_id),
            "{} vanished",
            a.alert_id
        );
    }
    let (open, _) = d.waiting(now.load(Ordering::SeqCst)).await.unwrap();
    assert!(open.is_empty(), "{} still open", open.len());
}

#[tokio::test]
async fn a_truck_due_back_more_than_a_day_ahead_is_a_problem_with_its_date() {
    let dir = TempDir::new().unwrap();
    let (_, ledger) = open(&dir);
    // A trip planned while the clock ran two days ahead.
    let ahead = T0 + 2 * 24 * 3600;
    let trip = Trip {
        truck_id: "TRUCK_2".into(),
        trip: 1,
        route_id: store_model::dispatch::route_id("TRUCK_2", ahead),
        departed: ahead,
        back_at: ahead + 3600,
        dispatches: Vec::new(),
    };
    ledger.claim_trip(&trip).await.unwrap();
    let fleet = store_model::Fleet::shipped();
    let problems = store_truck_app::ledger_problems(&ledger, &fleet, T0)
        .await
        .unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("TRUCK_2 is due back 2025-11-2"),
        "{problems:?}"
    );
    assert!(problems[0].contains("check both clocks"), "{problems:?}");
    // Within a day it is no problem.
    assert!(
        store_truck_app::ledger_problems(&ledger, &fleet, ahead)
            .await
            .unwrap()
            .is_empty()
    );
}
