//! One contract-test suite per port, run against every adapter.
//!
//! Each function drives an adapter through one behaviour the port promises and panics with a clear
//! message when it is not kept. An adapter's test file builds the adapter (embedded, or AWS against
//! a local API server) and calls every function here, so all adapters are held to the same cases.
//! Enabled by the `contract` feature; used only from tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::dispatch::{Dispatch, Trip};
use crate::planning::{ALERT_TEXT, Alert, InventoryRequest};
use crate::ports::{AlertQueue, InventoryQuery, Ledger, ReadingSink, Recorded};
use crate::reading::Reading;

/// A valid reading for tests.
pub fn reading(store: &str, product: &str, stock: i32, threshold: i32, ts: i64) -> Reading {
    let mut r = Reading {
        store_id: store.into(),
        product_id: product.into(),
        product_name: format!("Bánh mì {product}"),
        current_stock: stock,
        threshold_level: threshold,
        is_stock_low: stock < threshold,
        check_timestamp: ts,
        notification_sent: false,
        restock_status: String::new(),
        event_id: None,
        max_stock: None,
    };
    r.ensure_event_id();
    r
}

/// An alert for tests.
pub fn alert(n: usize, planned_at: i64) -> Alert {
    Alert {
        alert_id: format!("00000000-0000-4000-8000-{n:012}"),
        store_id: format!("STORE_{}", n % 7 + 1),
        product_id: format!("PRD_{}", n % 5),
        product_name: "Sữa tươi".into(),
        alert: ALERT_TEXT.into(),
        current_stock: 1,
        threshold_level: 10,
        projected_stock: 1,
        restock_qty: 19,
        reading_time: planned_at - 60,
        planned_at,
        query_id: "contract".into(),
        sales_per_hour: Some(2.5),
        hours_to_stockout: Some(0.4),
        explanation: None,
    }
}

fn by_event(readings: Vec<Reading>) -> BTreeMap<String, Reading> {
    readings
        .into_iter()
        .map(|r| (r.event_id.clone().expect("test readings carry ids"), r))
        .collect()
}

/// Reading sink: every accepted reading is delivered exactly as given once flushed.
pub async fn sink_delivers_every_reading_unchanged<S, F>(sink: &dyn ReadingSink, stored: S)
where
    S: Fn() -> F,
    F: Future<Output = Vec<Reading>>,
{
    let now = 1_764_000_000;
    let sent: Vec<Reading> = (0..1_234)
        .map(|i| {
            reading(
                &format!("STORE_{}", i % 10),
                &format!("PRD_{}", i % 5),
                i % 40,
                10,
                now + i as i64,
            )
        })
        .collect();
    for chunk in sent.chunks(100) {
        sink.put(chunk).await.expect("put accepts valid readings");
    }
    let stats = sink.flush().await.expect("flush succeeds");
    assert_eq!(
        stats.accepted, 1_234,
        "every reading is counted as accepted"
    );
    assert_eq!(
        stats.delivered, 1_234,
        "every reading is delivered after flush"
    );
    assert!(stats.objects >= 1);
    let got = by_event(stored().await);
    assert_eq!(
        got,
        by_event(sent),
        "stored readings equal the sent ones, names included"
    );
}

/// Reading sink: flushing an empty buffer writes nothing and fails nothing.
pub async fn sink_flush_of_nothing_is_harmless(sink: &dyn ReadingSink) {
    let stats = sink.flush().await.expect("flush succeeds");
    assert_eq!((stats.accepted, stats.delivered, stats.objects), (0, 0, 0));
}

/// Inventory query: the latest reading per store and product wins, ties broken by event id, and
/// the window and store filter hold.
pub async fn query_returns_latest_reading_per_store_and_product(
    sink: &dyn ReadingSink,
    query: &dyn InventoryQuery,
    now: i64,
) {
    let mut tie_a = reading("STORE_2", "PRD_1", 5, 10, now - 100);
    tie_a.event_id = Some("00000000-0000-4000-8000-00000000000a".into());
    let mut tie_b = reading("STORE_2", "PRD_1", 6, 10, now - 100);
    tie_b.event_id = Some("00000000-0000-4000-8000-00000000000b".into());
    let mut with_max = reading("STORE_3", "PRD_2", 1, 10, now - 10);
    with_max.max_stock = Some(40);
    let readings = vec![
        reading("STORE_1", "PRD_1", 3, 10, now - 300),
        reading("STORE_1", "PRD_1", 12, 10, now - 200), // latest: wins
        reading("STORE_1", "PRD_1", 4, 10, now - 250),  // arrives late, older: loses
        tie_b,
        tie_a, // same time: the greater event id (b) wins
        with_max,
        reading("STORE_9", "PRD_9", 0, 10, now - 30 * 3600), // outside a 24 h window
    ];
    sink.put(&readings).await.expect("put");
    sink.flush().await.expect("flush");

    let snapshot = query
        .latest_readings(&InventoryRequest::new(now, 24, vec![]))
        .await
        .expect("the planning query runs");
    let got: Vec<(String, String, i64, Option<i64>)> = snapshot
        .latest
        .iter()
        .map(|l| {
            (
                l.store_id.clone(),
                l.product_id.clone(),
                l.current_stock,
                l.max_stock,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("STORE_1".into(), "PRD_1".into(), 12, None),
            ("STORE_2".into(), "PRD_1".into(), 6, None),
            ("STORE_3".into(), "PRD_2".into(), 1, Some(40)),
        ],
        "one latest reading per store and product, inside the window"
    );
    let store1 = &snapshot.latest[0];
    assert_eq!(store1.readings, 3);
    assert_eq!(store1.check_timestamp, now - 200);
    assert_eq!(store1.product_name, "Bánh mì PRD_1");
    assert_eq!(snapshot.readings_scanned, 6);
    assert!(!snapshot.query_id.is_empty());

    let only = query
        .latest_readings(&InventoryRequest::new(
            now,
            24,
            vec!["STORE_3".into(), "x' OR '1'='1".into()],
        ))
        .await
        .expect("the filtered query runs");
    assert_eq!(
        only.latest.len(),
        1,
        "store filter is applied (and values are bound, not spliced)"
    );
    assert_eq!(only.latest[0].store_id, "STORE_3");
}

/// Inventory query: an empty lake is no error.
pub async fn query_of_empty_lake_is_empty(query: &dyn InventoryQuery, now: i64) {
    let snapshot = query
        .latest_readings(&InventoryRequest::new(now, 24, vec![]))
        .await
        .expect("an empty lake is not an error");
    assert!(snapshot.latest.is_empty());
    assert_eq!(snapshot.readings_scanned, 0);
}

/// Alert queue: sent alerts come back in batches of at most ten and are gone once deleted.
pub async fn queue_delivers_batches_and_deletes(queue: &dyn AlertQueue) {
    let sent: Vec<Alert> = (0..25).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&sent).await.expect("send");
    let mut got = Vec::new();
    while got.len() < 25 {
        let batch = queue
            .receive(10, Duration::from_secs(1))
            .await
            .expect("receive");
        assert!(
            !batch.is_empty(),
            "all 25 alerts come back, got {}",
            got.len()
        );
        assert!(batch.len() <= 10);
        let handles: Vec<String> = batch.iter().map(|m| m.receipt_handle.clone()).collect();
        got.extend(batch);
        queue.delete(&handles).await.expect("delete");
    }
    let mut bodies: Vec<Alert> = got
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("bodies are alerts"))
        .collect();
    bodies.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
    assert_eq!(bodies, sent, "every alert arrives once, unchanged");
    assert!(got.iter().all(|m| m.receive_count == 1));
    let empty = queue
        .receive(10, Duration::from_millis(200))
        .await
        .expect("receive");
    assert!(empty.is_empty(), "deleted messages do not come back");
}

/// Alert queue: receives of more than ten messages are refused.
pub async fn queue_refuses_oversized_receives(queue: &dyn AlertQueue) {
    assert!(queue.receive(11, Duration::ZERO).await.is_err());
    assert!(queue.receive(0, Duration::ZERO).await.is_err());
}

/// Alert queue: a message received and not deleted returns after its visibility timeout, with
/// a higher receive count. `visibility` is the queue's configured timeout.
pub async fn queue_redelivers_after_visibility_timeout(
    queue: &dyn AlertQueue,
    visibility: Duration,
) {
    queue.send(&[alert(1, 1)]).await.expect("send");
    let first = queue
        .receive(1, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(first.len(), 1);
    let hidden = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert!(
        hidden.is_empty(),
        "a received message is invisible to others"
    );
    tokio_sleep(visibility + Duration::from_millis(300)).await;
    let again = queue.receive(1, visibility).await.expect("receive");
    assert_eq!(
        again.len(),
        1,
        "the message comes back after the visibility timeout"
    );
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(
        again[0].receipt_handle, first[0].receipt_handle,
        "each receipt has its own handle"
    );
    queue
        .delete(std::slice::from_ref(&again[0].receipt_handle))
        .await
        .expect("delete");
}

/// Alert queue: a long poll waits for the given time when the queue is empty.
pub async fn queue_long_polls(queue: &dyn AlertQueue) {
    let start = Instant::now();
    let got = queue
        .receive(10, Duration::from_secs(1))
        .await
        .expect("receive");
    assert!(got.is_empty());
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "receive waited {:?}",
        start.elapsed()
    );
}

/// Alert queue: a message can be moved to the dead-letter queue explicitly, and an extended
/// visibility keeps a message hidden.
pub async fn queue_dead_letters_and_extends_visibility(queue: &dyn AlertQueue) {
    let before = queue.depth().await.expect("depth").dead;
    queue.send(&[alert(2, 1), alert(3, 1)]).await.expect("send");
    let got = queue
        .receive(2, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(got.len(), 2);
    queue
        .dead_letter(&got[0], "not an alert")
        .await
        .expect("dead-letter");
    queue
        .extend_visibility(&got[1].receipt_handle, Duration::from_secs(30))
        .await
        .expect("extend visibility");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(
        depth.dead,
        before + 1,
        "the message is in the dead-letter queue"
    );
    assert_eq!(depth.visible, 0);
    queue
        .delete(std::slice::from_ref(&got[1].receipt_handle))
        .await
        .expect("delete");
}

/// Alert queue: a message received `max_receives` times without being deleted ends up in the
/// dead-letter queue instead of coming back forever.
pub async fn queue_moves_poison_messages_to_dead_letters(
    queue: &dyn AlertQueue,
    visibility: Duration,
    max_receives: u32,
) {
    let before = queue.depth().await.expect("depth").dead;
    queue.send(&[alert(4, 1)]).await.expect("send");
    for n in 1..=max_receives {
        let got = queue.receive(1, visibility * 3).await.expect("receive");
        assert_eq!(got.len(), 1, "receive {n} gets the message");
        assert_eq!(got[0].receive_count, n);
        tokio_sleep(visibility + Duration::from_millis(300)).await;
    }
    let after = queue
        .receive(1, Duration::from_millis(500))
        .await
        .expect("receive");
    assert!(after.is_empty(), "a poison message does not come back");
    let mut dead = 0;
    for _ in 0..20 {
        dead = queue.depth().await.expect("depth").dead;
        if dead > before {
            break;
        }
        tokio_sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        dead,
        before + 1,
        "the poison message is in the dead-letter queue"
    );
}

/// Ledger: alerts are recorded and read back; a dispatch and a delivery are recorded once.
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

async fn tokio_sleep(d: Duration) {
    tokio::time::sleep(d).await;
}
