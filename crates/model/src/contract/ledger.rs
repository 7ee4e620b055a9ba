//! Ledger cases.

use super::alert;
use crate::dispatch::{Dispatch, Trip};
use crate::ledger::{LedgerStore, ObjectLedger, quarantine_note_key};
use crate::planning::{Alert, PlanningRun};
use crate::ports::{CloseReason, Ledger, OrderClosure, Recorded};

/// Ledger: alerts and planning runs are recorded and read back; a dispatch and a delivery are
/// recorded once.
pub async fn ledger_records_alerts_dispatches_and_deliveries_once(ledger: &dyn Ledger) {
    let planned = 1_764_000_000;
    let alerts: Vec<Alert> = (0..3).map(|n| alert(n, planned)).collect();
    ledger
        .record_alerts("run-1", &alerts)
        .await
        .expect("record alerts");
    let old = alert(9, planned - 48 * 3600);
    ledger
        .record_alerts("run-0", std::slice::from_ref(&old))
        .await
        .expect("record alerts");

    let mut got = ledger
        .alerts_since(planned - 3600)
        .await
        .expect("read alerts");
    got.sort_by(|a, b| a.alert.alert_id.cmp(&b.alert.alert_id));
    assert_eq!(
        got.iter().map(|s| s.alert.clone()).collect::<Vec<_>>(),
        alerts
    );
    assert!(got.iter().all(|s| s.deliveries.is_empty()));

    let runs = [
        run("q-old", planned - 48 * 3600),
        run("q-1", planned),
        run("q-2", planned + 60),
    ];
    for r in runs.iter().rev() {
        ledger.record_run(r).await.expect("record run");
    }
    assert_eq!(
        ledger.runs_since(planned - 3600).await.expect("read runs"),
        runs[1..].to_vec(),
        "runs of the window, oldest first"
    );

    let first = dispatch(&alerts[0], planned + 10);
    assert_eq!(
        ledger.record_dispatch(&first).await.expect("dispatch"),
        Recorded::Created
    );
    let mut second = first.clone();
    second.dispatched_at += 99;
    second.truck_id = "OTHER".into();
    assert_eq!(
        ledger.record_dispatch(&second).await.expect("dispatch"),
        Recorded::AlreadyRecorded(first.clone()),
        "a second dispatch of the same alert is refused and the first is returned"
    );
    assert_eq!(
        ledger
            .dispatches_since(planned - 3600)
            .await
            .expect("dispatches"),
        vec![first]
    );

    // Alert 1 was cut into two pieces; each is delivered on its own.
    let mut pieces = [
        dispatch(&alerts[1], planned + 10),
        dispatch(&alerts[1], planned + 10),
    ];
    for (k, p) in pieces.iter_mut().enumerate() {
        p.dispatch_id = format!("{}~{}of2", p.alert_id, k + 1);
        p.quantity = 10 + k as i64;
    }
    let deliveries = [
        pieces[0].delivered(planned + 500),
        pieces[1].delivered(planned + 700),
    ];
    for d in &deliveries {
        assert_eq!(
            ledger.record_delivery(d).await.expect("delivery"),
            Recorded::Created
        );
    }
    assert!(matches!(
        ledger
            .record_delivery(&deliveries[0])
            .await
            .expect("delivery"),
        Recorded::AlreadyRecorded(_)
    ));
    let got = ledger
        .alerts_since(planned - 3600)
        .await
        .expect("read alerts");
    let delivered: Vec<(i64, i64)> = got
        .iter()
        .flat_map(|s| &s.deliveries)
        .map(|d| (d.delivered_at, d.quantity))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        delivered,
        vec![(planned + 500, 10), (planned + 700, 11)],
        "both pieces are seen with their alert"
    );
    assert_eq!(
        ledger
            .deliveries_since(planned - 3600)
            .await
            .expect("deliveries")
            .to_vec(),
        deliveries.to_vec(),
        "deliveries are listed oldest first"
    );
}

/// Ledger: an alert is accepted as an open order once; a truck's trip number is claimed once,
/// and the latest trip is what the ledger says, not what one copy of it remembers.
pub async fn ledger_keeps_orders_and_claims_each_trip_once(
    ledger: &dyn Ledger,
    another_copy: &dyn Ledger,
) {
    let planned = 1_764_000_000;
    let alerts: Vec<Alert> = (0..3).map(|n| alert(n, planned + n as i64)).collect();
    for a in &alerts {
        assert_eq!(
            ledger.record_order(a).await.expect("order"),
            Recorded::Created
        );
    }
    let mut changed = alerts[0].clone();
    changed.restock_qty += 5;
    assert_eq!(
        another_copy.record_order(&changed).await.expect("order"),
        Recorded::AlreadyRecorded(alerts[0].clone()),
        "an order is accepted once, as first recorded"
    );
    let old = alert(7, planned - 72 * 3600);
    ledger.record_order(&old).await.expect("order");
    assert_eq!(
        ledger.orders_since(planned - 3600).await.expect("orders"),
        alerts,
        "orders in the window, oldest first"
    );
    // Across hours, recorded out of order, read from the store and again from what the reader
    // keeps: oldest first, then by id; one recorded between the reads takes its place.
    let spread: Vec<Alert> = (10..16)
        .rev()
        .map(|n| alert(n, planned + 7200 - 3600 * (n as i64 % 3)))
        .collect();
    for a in &spread[1..] {
        ledger.record_order(a).await.expect("order");
    }
    let sorted = |mut v: Vec<Alert>| {
        v.sort_by(|a, b| (a.planned_at, &a.alert_id).cmp(&(b.planned_at, &b.alert_id)));
        v
    };
    let first_read = ledger.orders_since(planned - 3600).await.expect("orders");
    assert_eq!(
        first_read,
        sorted(alerts.iter().chain(&spread[1..]).cloned().collect())
    );
    ledger.record_order(&spread[0]).await.expect("order");
    for _ in 0..2 {
        assert_eq!(
            another_copy
                .orders_since(planned - 3600)
                .await
                .expect("orders"),
            sorted(alerts.iter().chain(&spread).cloned().collect()),
            "the same orders, in the same order, however often they are read"
        );
    }

    assert_eq!(ledger.latest_trip("TRUCK_1").await.expect("trip"), None);
    let trip = |n: u64, truck: &str, at: i64| Trip {
        truck_id: truck.into(),
        trip: n,
        route_id: crate::dispatch::route_id(truck, at),
        departed: at,
        back_at: at + 1800,
        dispatches: vec![dispatch(&alerts[n as usize % 3], at)],
    };
    let first = trip(1, "TRUCK_1", planned + 10);
    assert_eq!(
        ledger.claim_trip(&first).await.expect("claim"),
        Recorded::Created
    );
    // Another dispatcher, which has not seen it, claims the same trip number: it loses.
    let rival = trip(1, "TRUCK_1", planned + 20);
    assert_eq!(
        another_copy.claim_trip(&rival).await.expect("claim"),
        Recorded::AlreadyRecorded(first.clone())
    );
    assert_eq!(
        ledger
            .claim_trip(&trip(1, "TRUCK_2", planned + 20))
            .await
            .expect("claim"),
        Recorded::Created,
        "trip numbers are per truck"
    );
    // Trip numbers past 9 sort after 9: the latest is the highest number.
    for n in 2..=11 {
        assert_eq!(
            another_copy
                .claim_trip(&trip(n, "TRUCK_1", planned + 100 * n as i64))
                .await
                .expect("claim"),
            Recorded::Created
        );
    }
    let latest = ledger.latest_trip("TRUCK_1").await.expect("trip");
    assert_eq!(
        latest.map(|t| t.trip),
        Some(11),
        "the other copy's trips are seen"
    );
    assert_eq!(
        another_copy
            .latest_trip("TRUCK_2")
            .await
            .expect("trip")
            .map(|t| t.departed),
        Some(planned + 20)
    );
    assert_eq!(ledger.latest_trip("TRUCK_9").await.expect("trip"), None);
}

/// Ledger: an order is closed once, with its reason; a damaged record (a torn or foreign write)
/// stops no read, is set aside with a note and reported, still blocks a second record under its
/// key, and is no longer reported once removed.
pub async fn ledger_closes_orders_once_and_sets_damaged_records_aside<S: LedgerStore>(
    ledger: &ObjectLedger<S>,
) {
    let planned = 1_764_000_000;
    let alerts: Vec<Alert> = (0..3).map(|n| alert(n, planned)).collect();
    let closure = OrderClosure {
        alert_id: alerts[0].alert_id.clone(),
        store_id: alerts[0].store_id.clone(),
        product_id: alerts[0].product_id.clone(),
        planned_at: planned,
        quantity: 19,
        undelivered: 19,
        closed_at: planned + 90_000,
        reason: CloseReason::StoreUnknown,
        detail: "store left the list".into(),
    };
    assert_eq!(
        ledger.close_order(&closure).await.expect("close"),
        Recorded::Created
    );
    let mut again = closure.clone();
    again.reason = CloseReason::Expired;
    assert_eq!(
        ledger.close_order(&again).await.expect("close"),
        Recorded::AlreadyRecorded(closure.clone()),
        "an order is closed once, with its first reason"
    );
    assert_eq!(
        ledger
            .closures_since(planned - 3600)
            .await
            .expect("closures"),
        vec![closure]
    );
    assert!(ledger.damaged().is_empty());

    // A dispatch overwritten with garbage: reads go on, the record is reported and noted.
    let good = dispatch(&alerts[1], planned + 10);
    ledger.record_dispatch(&good).await.expect("dispatch");
    let bad = dispatch(&alerts[2], planned + 10);
    let key = Dispatch::ledger_key(&bad.dispatch_id, bad.planned_at);
    ledger
        .store()
        .put(&key, b"{oops".to_vec())
        .await
        .expect("damage");
    assert_eq!(
        ledger
            .dispatches_since(planned - 3600)
            .await
            .expect("dispatches"),
        vec![good]
    );
    let damaged = ledger.damaged();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0].key, key);
    assert!(damaged[0].error.contains("line 1"), "{damaged:?}");
    let note = ledger
        .store()
        .get_all(vec![quarantine_note_key(&key)])
        .await
        .expect("note");
    assert_eq!(note.len(), 1, "the damaged record is noted in quarantine");
    assert!(String::from_utf8_lossy(&note[0].1).contains("{oops"));
    // Its key still counts: the piece is not recorded a second time.
    assert!(matches!(
        ledger.record_dispatch(&bad).await.expect("dispatch"),
        Recorded::Damaged(d) if d.key == key
    ));
    // A damaged trip: the error names it, and the truck's other trips are unaffected.
    let trip_key = Trip::ledger_key("TRUCK_7", 1);
    ledger
        .store()
        .put(&trip_key, b"\xff\xfe".to_vec())
        .await
        .expect("damage");
    let err = ledger.latest_trip("TRUCK_7").await.unwrap_err();
    assert!(err.message.contains("off the road"), "{err}");
    assert!(ledger.damaged().iter().any(|d| d.key == trip_key));
}

fn dispatch(alert: &Alert, at: i64) -> Dispatch {
    Dispatch {
        dispatch_id: alert.alert_id.clone(),
        alert_id: alert.alert_id.clone(),
        store_id: alert.store_id.clone(),
        product_id: alert.product_id.clone(),
        product_name: alert.product_name.clone(),
        quantity: alert.restock_qty,
        truck_id: "TRUCK_1".into(),
        route_id: crate::dispatch::route_id("TRUCK_1", at),
        depot_id: "DEPOT".into(),
        stop: 1,
        leg_km: 3.25,
        route_km: 9.5,
        eta: at + 600,
        truck_back_at: at + 1800,
        planned_at: alert.planned_at,
        dispatched_at: at,
    }
}

fn run(query_id: &str, planned_at: i64) -> PlanningRun {
    PlanningRun {
        query_id: query_id.into(),
        engine: "test".into(),
        planned_at,
        lookback_hours: 24,
        readings_scanned: 1_000,
        bytes_scanned: 50_000,
        malformed_skipped: 1,
        alerts_sent: 3,
        alerts_suppressed: 2,
        silent_stores: 1,
        unsendable: 0,
    }
}
