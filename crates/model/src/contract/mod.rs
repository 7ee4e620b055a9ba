//! One contract-test suite per port, run against every adapter.
//!
//! Each function drives an adapter through one behaviour the port promises and panics with a clear
//! message when it is not kept. An adapter's test file builds the adapter (embedded, or AWS against
//! a local API server) and calls every function here, so all adapters are held to the same cases.
//! Enabled by the `contract` feature; used only from tests.

mod ledger;
mod queue;
mod snapshot;

pub use ledger::{
    ledger_closes_orders_once_and_sets_damaged_records_aside,
    ledger_keeps_orders_and_claims_each_trip_once,
    ledger_records_alerts_dispatches_and_deliveries_once,
};
pub use queue::{
    queue_dead_letters_and_extends_visibility, queue_delivers_batches_and_deletes,
    queue_long_polls, queue_moves_poison_messages_to_dead_letters,
    queue_redelivers_after_visibility_timeout, queue_refuses_oversized_receives,
};
pub use snapshot::snapshot_store_commits_each_generation_once_and_collects_old_runs;

use std::collections::BTreeMap;

use crate::planning::{ALERT_TEXT, Alert, InventoryRequest};
use crate::ports::{InventoryQuery, ReadingSink};
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

/// Inventory query: the latest reading per store and product wins; at the same second the lower
/// stock, then the greater event id, whatever the order of arrival; the window and store
/// filter hold.
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
    // One reading sent twice under one id and time, with different stock, in both orders.
    let mut twice_low = reading("STORE_4", "PRD_1", 2, 10, now - 50);
    twice_low.event_id = Some("00000000-0000-4000-8000-0000000000cc".into());
    let mut twice_high = twice_low.clone();
    twice_high.current_stock = 30;
    let mut reversed_low = twice_low.clone();
    reversed_low.store_id = "STORE_5".into();
    let mut reversed_high = twice_high.clone();
    reversed_high.store_id = "STORE_5".into();
    let readings = vec![
        reading("STORE_1", "PRD_1", 3, 10, now - 300),
        reading("STORE_1", "PRD_1", 12, 10, now - 200), // latest: wins
        reading("STORE_1", "PRD_1", 4, 10, now - 250),  // arrives late, older: loses
        tie_b,
        tie_a, // same time: the lower stock (a's 5) wins over the greater event id
        with_max,
        reading("STORE_9", "PRD_9", 0, 10, now - 30 * 3600), // outside a 24 h window
        twice_low,
        twice_high,
        reversed_high,
        reversed_low,
    ];
    // Two puts, so the pairs also straddle objects.
    sink.put(&readings[..9]).await.expect("put");
    sink.flush().await.expect("flush");
    sink.put(&readings[9..]).await.expect("put");
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
            ("STORE_2".into(), "PRD_1".into(), 5, None),
            ("STORE_3".into(), "PRD_2".into(), 1, Some(40)),
            ("STORE_4".into(), "PRD_1".into(), 2, None),
            ("STORE_5".into(), "PRD_1".into(), 2, None),
        ],
        "one latest reading per store and product, inside the window"
    );
    let store1 = &snapshot.latest[0];
    assert_eq!(store1.readings, 3);
    assert_eq!(store1.check_timestamp, now - 200);
    assert_eq!(store1.product_name, "Bánh mì PRD_1");
    assert_eq!(snapshot.readings_scanned, 10);
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
