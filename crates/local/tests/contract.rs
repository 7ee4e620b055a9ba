//! The ports' contract suites, run against the embedded adapters.

use std::sync::Arc;
use std::time::Duration;

use store_local::{
    DataFusionInventoryQuery, FirehoseConfig, FolderLedger, LakeFolder, LocalFirehoseSink,
    QueueConfig, SqliteAlertQueue,
};
use store_model::contract;
use store_model::ports::Clock;
use store_model::{ObjectFormat, Reading};
use tempfile::TempDir;

const NOW: i64 = 1_764_000_000;

fn fixed_clock() -> Clock {
    Arc::new(|| NOW)
}

fn lake(dir: &TempDir) -> LakeFolder {
    LakeFolder::open(dir.path(), "lake").unwrap()
}

fn sink(dir: &TempDir, format: ObjectFormat) -> LocalFirehoseSink {
    let config = FirehoseConfig {
        format,
        buffer_bytes: 64 * 1024,
        ..FirehoseConfig::default()
    };
    LocalFirehoseSink::new(lake(dir), config, fixed_clock())
}

/// Reads every reading object back, in either format, through the query engine's reader.
async fn stored(dir: &TempDir) -> Vec<Reading> {
    use datafusion::arrow::array::RecordBatch;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let lake = lake(dir);
    let mut out = Vec::new();
    for o in lake.list("readings/").unwrap() {
        assert!(
            o.key
                .starts_with("readings/dt=2025-11-24-16/store-readings-1-2025-11-24-16-00-00-"),
            "{}",
            o.key
        );
        if o.key.ends_with(".json") {
            let text = std::fs::read_to_string(lake.path(&o.key)).unwrap();
            assert!(
                text.ends_with('\n'),
                "every NDJSON record ends with a newline"
            );
            out.extend(text.lines().map(|l| Reading::from_json_str(l).unwrap()));
        } else {
            let file = std::fs::File::open(lake.path(&o.key)).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
            let mut buf = Vec::new();
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
            for b in &batches {
                writer.write(b).unwrap();
            }
            writer.finish().unwrap();
            out.extend(
                String::from_utf8(buf)
                    .unwrap()
                    .lines()
                    .map(|l| Reading::from_json_str(l).unwrap()),
            );
        }
    }
    out
}

#[tokio::test]
async fn local_firehose_delivers_every_reading_in_ndjson() {
    let dir = TempDir::new().unwrap();
    let s = sink(&dir, ObjectFormat::Json);
    contract::sink_delivers_every_reading_unchanged(&s, || stored(&dir)).await;
}

#[tokio::test]
async fn local_firehose_delivers_every_reading_in_parquet() {
    let dir = TempDir::new().unwrap();
    let s = sink(&dir, ObjectFormat::Parquet);
    contract::sink_delivers_every_reading_unchanged(&s, || stored(&dir)).await;
}

#[tokio::test]
async fn local_firehose_flush_of_nothing_is_harmless() {
    let dir = TempDir::new().unwrap();
    contract::sink_flush_of_nothing_is_harmless(&sink(&dir, ObjectFormat::Json)).await;
}

#[tokio::test]
async fn datafusion_query_returns_latest_reading_per_store_and_product() {
    for format in [ObjectFormat::Json, ObjectFormat::Parquet] {
        let dir = TempDir::new().unwrap();
        let query = DataFusionInventoryQuery::new(lake(&dir), &dir.path().join("state")).unwrap();
        contract::query_returns_latest_reading_per_store_and_product(
            &sink(&dir, format),
            &query,
            NOW,
        )
        .await;
    }
}

#[tokio::test]
async fn datafusion_query_of_empty_lake_is_empty() {
    let dir = TempDir::new().unwrap();
    let query = DataFusionInventoryQuery::new(lake(&dir), &dir.path().join("state")).unwrap();
    contract::query_of_empty_lake_is_empty(&query, NOW).await;
}

fn queue(dir: &TempDir, visibility: Duration, max_receive_count: u32) -> SqliteAlertQueue {
    let config = QueueConfig {
        visibility_timeout: visibility,
        max_receive_count,
        ..QueueConfig::default()
    };
    SqliteAlertQueue::open(&dir.path().join("queue/alerts.db"), config).unwrap()
}

#[tokio::test]
async fn sqlite_queue_delivers_batches_and_deletes() {
    let dir = TempDir::new().unwrap();
    contract::queue_delivers_batches_and_deletes(&queue(&dir, Duration::from_secs(30), 5)).await;
}

#[tokio::test]
async fn sqlite_queue_refuses_oversized_receives() {
    let dir = TempDir::new().unwrap();
    contract::queue_refuses_oversized_receives(&queue(&dir, Duration::from_secs(30), 5)).await;
}

#[tokio::test]
async fn sqlite_queue_redelivers_after_visibility_timeout() {
    let dir = TempDir::new().unwrap();
    let v = Duration::from_millis(500);
    contract::queue_redelivers_after_visibility_timeout(&queue(&dir, v, 5), v).await;
}

#[tokio::test]
async fn sqlite_queue_long_polls() {
    let dir = TempDir::new().unwrap();
    contract::queue_long_polls(&queue(&dir, Duration::from_secs(30), 5)).await;
}

#[tokio::test]
async fn sqlite_queue_dead_letters_and_extends_visibility() {
    let dir = TempDir::new().unwrap();
    contract::queue_dead_letters_and_extends_visibility(&queue(&dir, Duration::from_secs(30), 5))
        .await;
}

#[tokio::test]
async fn sqlite_queue_moves_poison_messages_to_dead_letters() {
    let dir = TempDir::new().unwrap();
    let v = Duration::from_millis(300);
    contract::queue_moves_poison_messages_to_dead_letters(&queue(&dir, v, 3), v, 3).await;
}

#[tokio::test]
async fn folder_ledger_records_alerts_dispatches_and_deliveries_once() {
    let dir = TempDir::new().unwrap();
    contract::ledger_records_alerts_dispatches_and_deliveries_once(&FolderLedger::new(lake(&dir)))
        .await;
}

#[tokio::test]
async fn folder_ledger_keeps_orders_and_claims_each_trip_once() {
    let dir = TempDir::new().unwrap();
    contract::ledger_keeps_orders_and_claims_each_trip_once(
        &FolderLedger::new(lake(&dir)),
        &FolderLedger::new(lake(&dir)),
    )
    .await;
}

#[tokio::test]
async fn folder_ledger_closes_orders_once_and_sets_damaged_records_aside() {
    let dir = TempDir::new().unwrap();
    contract::ledger_closes_orders_once_and_sets_damaged_records_aside(&FolderLedger::new(lake(
        &dir,
    )))
    .await;
}

#[tokio::test]
async fn folder_snapshot_store_commits_each_generation_once_and_collects_old_runs() {
    let dir = TempDir::new().unwrap();
    contract::snapshot_store_commits_each_generation_once_and_collects_old_runs(lake(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_of_one_queue_database_never_get_the_same_message() {
    use store_model::ports::AlertQueue;
    let dir = TempDir::new().unwrap();
    let a = queue(&dir, Duration::from_secs(30), 5);
    let b = queue(&dir, Duration::from_secs(30), 5);
    let alerts: Vec<_> = (0..60).map(|n| contract::alert(n, 1)).collect();
    a.send(&alerts).await.unwrap();
    let drain = |q: SqliteAlertQueue| async move {
        let mut ids = Vec::new();
        loop {
            let got = q.receive(10, Duration::from_millis(200)).await.unwrap();
            if got.is_empty() {
                return ids;
            }
            ids.extend(got.into_iter().map(|m| m.message_id));
        }
    };
    let (x, y) = tokio::join!(tokio::spawn(drain(a)), tokio::spawn(drain(b)));
    let mut all: Vec<String> = x.unwrap().into_iter().chain(y.unwrap()).collect();
    assert_eq!(all.len(), 60);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60, "no message was handed to both consumers");
}

#[tokio::test]
async fn an_emptied_queue_file_is_an_error_not_an_empty_queue() {
    use store_model::ports::AlertQueue;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("queue/alerts.db");
    let q = SqliteAlertQueue::open(&path, QueueConfig::default()).unwrap();
    q.send(&[contract::alert(1, 1_764_000_000)]).await.unwrap();
    drop(q);
    // `truncate -s 0` of the file (and its journal): the messages are gone.
    std::fs::write(&path, b"").unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let err = SqliteAlertQueue::open(&path, QueueConfig::default())
        .err()
        .expect("an existing file without the queue's tables is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("holds no queue") && msg.contains("resend"),
        "{msg}"
    );
    // A new file is a new, empty queue.
    let fresh = SqliteAlertQueue::open(&dir.path().join("other/alerts.db"), QueueConfig::default())
        .unwrap();
    assert_eq!(fresh.depth().await.unwrap(), Default::default());
}
