//! The ports' contract suites, run against the AWS adapters on the local AWS API server.

use std::time::Duration;

use store_aws::{FirehoseReadingSink, FirehoseSinkConfig, S3Ledger, S3Objects, SqsAlertQueue};
use store_local::DataFusionInventoryQuery;
use store_model::lake::dt_partition;
use store_model::ports::ReadingSink;
use store_model::{ObjectFormat, Reading, contract};

use crate::moto;

const NOW: i64 = 1_764_000_000;

async fn sink(
    c: &store_aws::AwsClients,
    bucket: &str,
    spool: &tempfile::TempDir,
) -> FirehoseReadingSink {
    let prefix = format!("readings/dt={}/", dt_partition(NOW));
    let stream = moto::delivery_stream(c, bucket, &prefix).await;
    FirehoseReadingSink::new(
        c.firehose.clone(),
        FirehoseSinkConfig::new(stream, spool.path()),
    )
}

#[tokio::test]
async fn firehose_delivers_every_reading_unchanged() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    let spool = tempfile::TempDir::new().unwrap();
    let s = sink(&c, &bucket, &spool).await;
    contract::sink_delivers_every_reading_unchanged(&s, || async {
        let mut out = Vec::new();
        for (key, bytes) in moto::objects(&c, &bucket, "readings/").await {
            let text = String::from_utf8(bytes).unwrap();
            assert!(
                text.ends_with('\n'),
                "{key}: every record ends with a newline"
            );
            out.extend(text.lines().map(|l| Reading::from_json_str(l).unwrap()));
        }
        out
    })
    .await;
    let stats = s.flush().await.unwrap();
    assert_eq!(
        stats.objects, 3,
        "1,234 small readings take three calls of at most 500"
    );
    assert_eq!(stats.spooled, 0);
    assert!(!s.spool_path().exists(), "nothing was spooled");
}

#[tokio::test]
async fn firehose_flush_of_nothing_is_harmless() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    let spool = tempfile::TempDir::new().unwrap();
    contract::sink_flush_of_nothing_is_harmless(&sink(&c, &bucket, &spool).await).await;
}

async fn query_over(bucket: &str) -> DataFusionInventoryQuery {
    let store = store_aws::lake_store::lake_object_store(&moto::sdk().await, bucket).unwrap();
    DataFusionInventoryQuery::over_bucket(&format!("s3://{bucket}"), store, ObjectFormat::Json)
}

#[tokio::test]
async fn datafusion_over_s3_returns_latest_reading_per_store_and_product() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    let spool = tempfile::TempDir::new().unwrap();
    contract::query_returns_latest_reading_per_store_and_product(
        &sink(&c, &bucket, &spool).await,
        &query_over(&bucket).await,
        NOW,
    )
    .await;
}

#[tokio::test]
async fn datafusion_over_an_empty_s3_lake_is_empty() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    contract::query_of_empty_lake_is_empty(&query_over(&bucket).await, NOW).await;
}

async fn queue(visibility_seconds: u32, max_receives: u32) -> SqsAlertQueue {
    let c = moto::clients().await;
    let (url, dlq) = moto::queues(&c, visibility_seconds, max_receives).await;
    SqsAlertQueue::new(c.sqs.clone(), url, dlq)
}

#[tokio::test]
async fn sqs_delivers_batches_and_deletes() {
    contract::queue_delivers_batches_and_deletes(&queue(30, 5).await).await;
}

#[tokio::test]
async fn sqs_refuses_oversized_receives() {
    contract::queue_refuses_oversized_receives(&queue(30, 5).await).await;
}

#[tokio::test]
async fn sqs_redelivers_after_visibility_timeout() {
    contract::queue_redelivers_after_visibility_timeout(&queue(1, 5).await, Duration::from_secs(1))
        .await;
}

#[tokio::test]
async fn sqs_long_polls() {
    contract::queue_long_polls(&queue(30, 5).await).await;
}

#[tokio::test]
async fn sqs_dead_letters_and_extends_visibility() {
    contract::queue_dead_letters_and_extends_visibility(&queue(30, 5).await).await;
}

#[tokio::test]
async fn sqs_moves_poison_messages_to_dead_letters() {
    contract::queue_moves_poison_messages_to_dead_letters(
        &queue(1, 3).await,
        Duration::from_secs(1),
        3,
    )
    .await;
}

#[tokio::test]
async fn s3_ledger_records_alerts_dispatches_and_deliveries_once() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    contract::ledger_records_alerts_dispatches_and_deliveries_once(&S3Ledger::new(S3Objects::new(
        c.s3.clone(),
        bucket,
    )))
    .await;
}

#[tokio::test]
async fn s3_ledger_keeps_orders_and_claims_each_trip_once() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    let copy = || S3Ledger::new(S3Objects::new(c.s3.clone(), bucket.clone()));
    contract::ledger_keeps_orders_and_claims_each_trip_once(&copy(), &copy()).await;
}

#[tokio::test]
async fn s3_ledger_closes_orders_once_and_sets_damaged_records_aside() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    contract::ledger_closes_orders_once_and_sets_damaged_records_aside(&S3Ledger::new(
        S3Objects::new(c.s3.clone(), bucket),
    ))
    .await;
}

#[tokio::test]
async fn s3_snapshot_store_commits_each_generation_once_and_collects_old_runs() {
    let c = moto::clients().await;
    let bucket = moto::bucket(&c).await;
    contract::snapshot_store_commits_each_generation_once_and_collects_old_runs(S3Objects::new(
        c.s3.clone(),
        bucket,
    ))
    .await;
}
