//! The planning handler, called with event fixtures against the embedded adapters.

use std::sync::Arc;

use store_local::{
    DataDir, DataFusionInventoryQuery, FirehoseConfig, FolderLedger, LocalFirehoseSink,
    QueueConfig, SqliteAlertQueue,
};
use store_model::contract::reading;
use store_model::planning::LatestReading;
use store_model::planning::{PlanningRun, ReorderPolicy, SuppressReason};
use store_model::ports::Clock;
use store_model::ports::{
    AlertQueue, InventoryQuery, InventorySnapshot, Ledger, PortError, ReadingSink,
};
use store_model::{ObjectFormat, PlanningEvent, Reading};
use store_planning_app::{Planner, PlanningError};
use tempfile::TempDir;

const NOW: i64 = 1_764_000_000;

struct World {
    _dir: TempDir,
    sink: LocalFirehoseSink,
    queue: Arc<SqliteAlertQueue>,
    ledger: Arc<FolderLedger>,
    planner: Planner,
}

fn world() -> World {
    let dir = TempDir::new().unwrap();
    let data = DataDir::new(dir.path());
    let lake = data.lake().unwrap();
    let clock: Clock = Arc::new(|| NOW);
    let sink = LocalFirehoseSink::new(
        lake.clone(),
        FirehoseConfig {
            format: ObjectFormat::Json,
            ..FirehoseConfig::default()
        },
        clock.clone(),
    );
    let queue =
        Arc::new(SqliteAlertQueue::open(&data.queue_path(), QueueConfig::default()).unwrap());
    let ledger = Arc::new(FolderLedger::new(lake.clone()));
    let planner = Planner {
        query: Arc::new(DataFusionInventoryQuery::new(lake, &data.state_dir()).unwrap()),
        queue: queue.clone(),
        ledger: ledger.clone(),
        policy: ReorderPolicy::plain(2, 24),
        known_stores: (1..=10).map(|i| format!("STORE_{i}")).collect(),
        clock,
    };
    World {
        _dir: dir,
        sink,
        queue,
        ledger,
        planner,
    }
}

fn event(fixture: &str) -> PlanningEvent {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    PlanningEvent::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn feed(w: &World, readings: &[Reading]) {
    w.sink.put(readings).await.unwrap();
    w.sink.flush().await.unwrap();
}

#[tokio::test]
async fn plans_alerts_sends_them_and_suppresses_them_on_the_next_run() {
    let w = world();
    feed(
        &w,
        &[
            reading("STORE_1", "PRD_1", 2, 10, NOW - 600),
            reading("STORE_1", "PRD_1", 30, 10, NOW - 7200), // older and fine: the latest (2) counts
            reading("STORE_2", "PRD_1", 15, 10, NOW - 60),
            reading("STORE_3", "PRD_4", 0, 12, NOW - 60),
        ],
    )
    .await;
    let first = w.planner.handle(event("empty-event.json")).await.unwrap();
    assert_eq!(first.engine, "datafusion");
    assert_eq!(first.readings_scanned, 4);
    assert_eq!(first.alerts_sent, 2);
    let stores: Vec<_> = first
        .alerts
        .iter()
        .map(|a| (a.store_id.as_str(), a.restock_qty))
        .collect();
    assert_eq!(
        stores,
        [("STORE_3", 24), ("STORE_1", 18)],
        "most urgent first: STORE_3 is out of stock, STORE_1 runs out in minutes"
    );
    // STORE_1 sold 28 units in 6,600 s: 15.27 an hour, so its 2 units last 0.13 h.
    assert_eq!(first.alerts[0].hours_to_stockout, Some(0.0));
    assert_eq!(first.alerts[1].sales_per_hour, Some(15.27));
    assert_eq!(first.alerts[1].hours_to_stockout, Some(0.13));
    let why = first.alerts[1].explanation.as_ref().unwrap();
    assert_eq!((why.order_up_to, why.quantity), (20, 18));
    assert_eq!(
        first.silent_stores,
        (4..=10).map(|i| format!("STORE_{i}")).collect::<Vec<_>>(),
        "stores 4 to 10 sent no reading"
    );
    assert!(
        first
            .alerts
            .iter()
            .all(|a| a.query_id == first.query_id && a.planned_at == NOW)
    );
    assert_eq!(
        first.messages[0],
        "⚠️ Store STORE_3 is low on 'Bánh mì PRD_4'. Alerting delivery team."
    );
    assert_eq!(w.queue.depth().await.unwrap().visible, 2);
    assert_eq!(w.ledger.alerts_since(NOW - 10).await.unwrap().len(), 2);
    assert_eq!(
        w.ledger.runs_since(NOW - 10).await.unwrap(),
        vec![PlanningRun {
            query_id: first.query_id.clone(),
            engine: "datafusion".into(),
            planned_at: NOW,
            lookback_hours: 24,
            readings_scanned: 4,
            bytes_scanned: first.bytes_scanned,
            malformed_skipped: 0,
            alerts_sent: 2,
            alerts_suppressed: 0,
            silent_stores: 7,
            unsendable: 0,
        }],
        "the run left its record for whoever watches"
    );

    let second = w.planner.handle(event("empty-event.json")).await.unwrap();
    assert_eq!(
        (second.alerts_sent, second.alerts_suppressed),
        (0, 2),
        "idempotent"
    );
    assert!(
        second
            .suppressed
            .iter()
            .all(|s| s.reason == SuppressReason::AlreadyAlerted)
    );
    assert_eq!(
        w.queue.depth().await.unwrap().visible,
        2,
        "nothing new was sent"
    );
}

#[tokio::test]
async fn a_dry_run_sends_and_records_nothing() {
    let w = world();
    feed(&w, &[reading("STORE_1", "PRD_1", 2, 10, NOW - 600)]).await;
    let r = w.planner.handle(event("dry-run-event.json")).await.unwrap();
    assert!(r.dry_run);
    assert_eq!((r.alerts.len(), r.alerts_sent), (1, 0));
    assert_eq!(w.queue.depth().await.unwrap().visible, 0);
    assert!(w.ledger.alerts_since(0).await.unwrap().is_empty());
    assert!(w.ledger.runs_since(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_lookback_bounds_the_window() {
    let w = world();
    feed(&w, &[reading("STORE_1", "PRD_1", 2, 10, NOW - 7 * 3600)]).await;
    let r = w.planner.handle(event("dry-run-event.json")).await.unwrap();
    assert_eq!(
        (r.readings_scanned, r.alerts.len()),
        (0, 0),
        "a 6-hour lookback skips a 7-hour-old reading"
    );
    let r = w
        .planner
        .handle(PlanningEvent {
            dry_run: Some(true),
            ..PlanningEvent::default()
        })
        .await
        .unwrap();
    assert_eq!(r.alerts.len(), 1, "the default 24-hour lookback sees it");
}

#[tokio::test]
async fn store_filter_and_limit_apply() {
    let w = world();
    feed(
        &w,
        &[
            reading("STORE_1", "PRD_1", 2, 10, NOW - 60),
            reading("STORE_2", "PRD_1", 2, 10, NOW - 60),
            reading("STORE_2", "PRD_2", 0, 10, NOW - 60),
        ],
    )
    .await;
    let r = w
        .planner
        .handle(event("one-store-event.json"))
        .await
        .unwrap();
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(
        (
            r.alerts[0].store_id.as_str(),
            r.alerts[0].product_id.as_str()
        ),
        ("STORE_2", "PRD_2")
    );
}

#[tokio::test]
async fn unknown_event_fields_are_refused() {
    let path = format!(
        "{}/tests/fixtures/misspelt-event.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let err = PlanningEvent::from_json(&std::fs::read_to_string(path).unwrap()).unwrap_err();
    let err = PlanningError::from(err);
    assert_eq!(err.error_type(), "InvalidEvent");
    assert!(err.to_string().contains("lookback_hour"), "{err}");
}

#[tokio::test]
async fn malformed_lines_in_the_lake_are_quarantined_and_counted_not_fatal() {
    let w = world();
    feed(&w, &[reading("STORE_1", "PRD_1", 2, 10, NOW - 60)]).await;
    // A foreign writer put a bad object in the window's partition.
    let lake = DataDir::new(w._dir.path()).lake().unwrap();
    let good = serde_json::to_string(&reading("STORE_5", "PRD_1", 1, 10, NOW - 30)).unwrap();
    let key = "readings/dt=2025-11-24-16/foreign-1-2025-11-24-16-00-00-x.json";
    lake.put(
        key,
        format!("{good}\n{{\"store_id\": 7}}\nnot json\n").as_bytes(),
    )
    .unwrap();
    let r = w.planner.handle(event("dry-run-event.json")).await.unwrap();
    assert_eq!(r.malformed_skipped, 2);
    assert_eq!(
        r.alerts.len(),
        2,
        "the good line of the bad object still counts"
    );
    assert!(
        lake.get(key).unwrap().is_none(),
        "the bad object left the table"
    );
    let report = String::from_utf8(
        lake.get(&format!("quarantine/{key}.errors.json"))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        report.contains("\"line\":2") && report.contains("\"field\":\"store_id\""),
        "{report}"
    );
    assert!(
        lake.get(&format!("quarantine/{key}")).unwrap().is_some(),
        "the original is kept"
    );
    let again = w.planner.handle(event("dry-run-event.json")).await.unwrap();
    assert_eq!((again.malformed_skipped, again.alerts.len()), (0, 2));
}

fn lambda_event(fixture: &str) -> lambda_runtime::LambdaEvent<serde_json::Value> {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let payload: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default())
}

#[tokio::test]
async fn the_lambda_handler_plans_an_event_with_a_default_context() {
    let w = world();
    feed(&w, &[reading("STORE_4", "PRD_2", 1, 10, NOW - 60)]).await;
    let result =
        store_planning_app::lambda_handler(&w.planner, None, lambda_event("empty-event.json"))
            .await
            .unwrap();
    assert_eq!(result.alerts_sent, 1);
    let json = serde_json::to_value(&result).unwrap();
    for key in [
        "query_id",
        "engine",
        "readings_scanned",
        "bytes_scanned",
        "alerts_sent",
        "alerts_suppressed",
        "alerts",
    ] {
        assert!(json.get(key).is_some(), "the result carries `{key}`");
    }
}

#[tokio::test]
async fn the_lambda_handler_reports_a_bad_event_as_a_typed_diagnostic() {
    let w = world();
    let e =
        store_planning_app::lambda_handler(&w.planner, None, lambda_event("misspelt-event.json"))
            .await
            .unwrap_err();
    let diagnostic = lambda_runtime::Diagnostic::from(e);
    assert_eq!(diagnostic.error_type, "InvalidEvent");
    assert!(
        diagnostic.error_message.contains("unknown field"),
        "{}",
        diagnostic.error_message
    );
    assert!(
        w.queue.depth().await.unwrap().visible == 0,
        "nothing was sent"
    );
}

/// The lake as Athena might return it: whatever a foreign writer put there, past the door.
struct ForeignLake(Vec<LatestReading>);

#[async_trait::async_trait]
impl InventoryQuery for ForeignLake {
    async fn latest_readings(
        &self,
        _: &store_model::InventoryRequest,
    ) -> Result<InventorySnapshot, PortError> {
        Ok(InventorySnapshot {
            query_id: "foreign".into(),
            engine: "test".into(),
            latest: self.0.clone(),
            readings_scanned: self.0.len() as u64,
            ..InventorySnapshot::default()
        })
    }
}

#[tokio::test]
async fn an_alert_the_queue_cannot_carry_is_reported_and_every_other_is_sent() {
    let mut w = world();
    let low = |store: &str, product: &str, name: String| LatestReading {
        store_id: store.into(),
        product_id: product.into(),
        product_name: name,
        current_stock: 1,
        threshold_level: 10,
        max_stock: Some(20),
        check_timestamp: NOW - 60,
        event_id: None,
        readings: 1,
        first_stock: 1,
        first_timestamp: NOW - 60,
        demand: None,
    };
    // A 300 KB product name: its alert body would exceed SQS's 256 KiB.
    w.planner.query = Arc::new(ForeignLake(vec![
        low("STORE_1", "PRD_1", "Phở".into()),
        low("STORE_2", "PRD_9", "x".repeat(300_000)),
        low("STORE_3", "PRD_4", "Bánh mì".into()),
    ]));
    let run = w.planner.handle(event("empty-event.json")).await.unwrap();
    assert_eq!(run.alerts_sent, 2, "{:?}", run.unsendable);
    assert_eq!(run.unsendable.len(), 1);
    let bad = &run.unsendable[0];
    assert_eq!(
        (bad.store_id.as_str(), bad.product_id.as_str()),
        ("STORE_2", "PRD_9")
    );
    assert!(bad.reason.contains("product_name"), "{}", bad.reason);
    assert!(run.alerts.iter().all(|a| a.store_id != "STORE_2"));
    assert_eq!(w.queue.depth().await.unwrap().visible, 2);
    assert_eq!(w.ledger.alerts_since(NOW - 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_oversized_record_in_the_local_lake_is_quarantined_and_planning_goes_on() {
    let w = world();
    let mut huge = reading("STORE_2", "PRD_9", 1, 10, NOW - 60);
    huge.product_name = "x".repeat(300_000);
    feed(
        &w,
        &[
            reading("STORE_1", "PRD_1", 2, 10, NOW - 600),
            huge,
            reading("STORE_3", "PRD_4", 0, 12, NOW - 60),
        ],
    )
    .await;
    let run = w.planner.handle(event("empty-event.json")).await.unwrap();
    assert_eq!((run.alerts_sent, run.malformed_skipped), (2, 1));
    assert_eq!(w.queue.depth().await.unwrap().visible, 2);
}

/// A queue whose sends take longer than the invocation has left.
struct SlowQueue(Arc<SqliteAlertQueue>);

#[async_trait::async_trait]
impl AlertQueue for SlowQueue {
    async fn send(&self, alerts: &[store_model::Alert]) -> Result<(), PortError> {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        self.0.send(alerts).await
    }
    async fn receive(
        &self,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<store_model::ports::QueueMessage>, PortError> {
        self.0.receive(max, wait).await
    }
    async fn delete(&self, handles: &[String]) -> Result<(), PortError> {
        self.0.delete(handles).await
    }
    async fn extend_visibility(
        &self,
        handle: &str,
        timeout: std::time::Duration,
    ) -> Result<(), PortError> {
        self.0.extend_visibility(handle, timeout).await
    }
    async fn dead_letter(
        &self,
        message: &store_model::ports::QueueMessage,
        reason: &str,
    ) -> Result<(), PortError> {
        self.0.dead_letter(message, reason).await
    }
    async fn depth(&self) -> Result<store_model::ports::QueueDepth, PortError> {
        self.0.depth().await
    }
}

#[tokio::test]
async fn the_steps_after_the_query_keep_the_deadline_and_the_next_run_resumes() {
    let mut w = world();
    feed(&w, &[reading("STORE_1", "PRD_1", 2, 10, NOW - 600)]).await;
    let fast = w.planner.queue.clone();
    w.planner.queue = Arc::new(SlowQueue(w.queue.clone()));
    let started = std::time::Instant::now();
    // The query itself is quick; the send would take 5 s past a deadline 1.5 s away.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    let err = w
        .planner
        .handle_by(PlanningEvent::default(), Some(deadline))
        .await
        .unwrap_err();
    assert!(matches!(err, PlanningError::OutOfTime(_)), "{err}");
    assert!(
        err.to_string().contains("sending and recording the alerts"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        w.ledger.alerts_since(0).await.unwrap().is_empty(),
        "nothing recorded"
    );
    // The next run, with time, sends and records it.
    w.planner.queue = fast;
    let next = w.planner.handle(PlanningEvent::default()).await.unwrap();
    assert_eq!(next.alerts_sent, 1);
    assert_eq!(w.ledger.alerts_since(0).await.unwrap().len(), 1);
}

#[tokio::test]
async fn two_runs_over_one_window_send_each_alert_once() {
    let w = world();
    feed(
        &w,
        &[
            reading("STORE_1", "PRD_1", 2, 10, NOW - 600),
            reading("STORE_2", "PRD_3", 1, 10, NOW - 300),
        ],
    )
    .await;
    // As an AWS CLI that retries an Invoke it timed out on would: the same event twice.
    let first = w.planner.handle(PlanningEvent::default()).await.unwrap();
    let second = w.planner.handle(PlanningEvent::default()).await.unwrap();
    assert_eq!((first.alerts_sent, second.alerts_sent), (2, 0));
    assert_eq!(second.alerts_suppressed, 2);
    assert_eq!(
        w.queue.depth().await.unwrap().visible,
        2,
        "each alert on the queue once"
    );
}

#[test]
fn a_run_s_metrics_line_is_embedded_metric_format() {
    let result = store_model::PlanningResult {
        query_id: "q".into(),
        engine: "athena".into(),
        readings_scanned: 600,
        bytes_scanned: 4096,
        malformed_skipped: 0,
        alerts_sent: 3,
        alerts_suppressed: 1,
        dry_run: false,
        alerts: Vec::new(),
        suppressed: Vec::new(),
        silent_stores: Vec::new(),
        unsendable: Vec::new(),
        unlisted: Default::default(),
        alerts_object: None,
        messages: Vec::new(),
    };
    let steps = store_planning_app::StepTimes {
        query: std::time::Duration::from_millis(1200),
        ..Default::default()
    };
    let line = steps.emf_line("StoreInventory/s", &result);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "StoreInventory/s"
    );
    assert_eq!(v["ReadingsScanned"], 600.0);
    assert_eq!(v["AlertsSent"], 3.0);
    assert_eq!(v["QueryMilliseconds"], 1200.0);
    assert_eq!(
        v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len(),
        store_model::metrics::PLANNER_METRICS.len()
    );
}
