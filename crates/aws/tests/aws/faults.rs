//! What the local AWS server never does, injected into the SDK clients: Firehose partial failures
//! and its call limits, Athena's QUEUED/RUNNING/FAILED states, multi-page results and timeouts, and
//! SQS batch entries that fail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
use aws_sdk_athena::operation::stop_query_execution::StopQueryExecutionOutput;
use aws_sdk_athena::types::{
    AthenaError, ColumnInfo, Datum, QueryExecution, QueryExecutionState, QueryExecutionStatistics,
    QueryExecutionStatus, ResultSet, ResultSetMetadata, Row,
};
use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchOutput;
use aws_sdk_firehose::types::PutRecordBatchResponseEntry;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use store_aws::firehose::MAX_BYTES_PER_CALL;
use store_aws::{
    AthenaConfig, AthenaInventoryQuery, FirehoseReadingSink, FirehoseSinkConfig, S3Objects,
    S3Snapshots, SqsAlertQueue,
};
use store_model::contract::{alert, reading};
use store_model::ports::{AlertQueue, InventoryQuery, READINGS_PER_PUT, ReadingSink};
use store_model::{InventoryRequest, Reading};

fn readings(n: usize) -> Vec<Reading> {
    (0..n)
        .map(|i| {
            reading(
                &format!("STORE_{}", i % 9),
                &format!("PRD_{i}"),
                3,
                10,
                1_764_000_000 + i as i64,
            )
        })
        .collect()
}

fn fast(config: FirehoseSinkConfig) -> FirehoseSinkConfig {
    FirehoseSinkConfig {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..config
    }
}

/// Every call's records, as the mock saw them.
type Calls = Arc<Mutex<Vec<Vec<Vec<u8>>>>>;

fn ok_entry() -> PutRecordBatchResponseEntry {
    PutRecordBatchResponseEntry::builder()
        .record_id("id")
        .build()
}

fn failed_entry() -> PutRecordBatchResponseEntry {
    PutRecordBatchResponseEntry::builder()
        .error_code("ServiceUnavailableException")
        .error_message("Slow down.")
        .build()
}

/// A Firehose client whose answer to each call is decided by `fail(call, record)`.
fn firehose(
    calls: Calls,
    fail: impl Fn(usize, &[u8]) -> bool + Send + Sync + 'static,
) -> aws_sdk_firehose::Client {
    let rule = mock!(aws_sdk_firehose::Client::put_record_batch).then_compute_output(move |req| {
        let records: Vec<Vec<u8>> = req
            .records()
            .iter()
            .map(|r| r.data().as_ref().to_vec())
            .collect();
        let mut log = calls.lock().unwrap();
        let call = log.len();
        let entries: Vec<PutRecordBatchResponseEntry> = records
            .iter()
            .map(|r| {
                if fail(call, r) {
                    failed_entry()
                } else {
                    ok_entry()
                }
            })
            .collect();
        log.push(records);
        PutRecordBatchOutput::builder()
            .failed_put_count(entries.iter().filter(|e| e.error_code().is_some()).count() as i32)
            .set_request_responses(Some(entries))
            .build()
            .unwrap()
    });
    mock_client!(aws_sdk_firehose, RuleMode::MatchAny, [&rule])
}

#[tokio::test]
async fn firehose_retries_only_the_failed_entries_of_a_partial_failure() {
    let calls = Calls::default();
    // The first call fails the readings of STORE_3; later calls succeed.
    let client = firehose(calls.clone(), |call, r| {
        call == 0 && String::from_utf8_lossy(r).contains("\"STORE_3\"")
    });
    let spool = tempfile::TempDir::new().unwrap();
    let sink = FirehoseReadingSink::new(client, fast(FirehoseSinkConfig::new("s", spool.path())));
    let sent = readings(90);
    sink.put(&sent).await.unwrap();
    let stats = sink.flush().await.unwrap();

    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "one call, then one retry");
    assert_eq!(calls[0].len(), 90);
    assert_eq!(
        calls[1].len(),
        10,
        "only the ten failed entries are sent again"
    );
    assert!(
        calls[1]
            .iter()
            .all(|r| String::from_utf8_lossy(r).contains("\"STORE_3\""))
    );
    assert_eq!(
        (
            stats.accepted,
            stats.delivered,
            stats.retried,
            stats.spooled
        ),
        (90, 90, 10, 0)
    );
    assert_eq!(stats.objects, 2, "API calls are counted");
}

#[tokio::test]
async fn firehose_calls_stay_within_500_records_and_4_mib() {
    let calls = Calls::default();
    let client = firehose(calls.clone(), |_, _| false);
    let spool = tempfile::TempDir::new().unwrap();
    let sink = FirehoseReadingSink::new(client, fast(FirehoseSinkConfig::new("s", spool.path())));
    sink.put(&readings(1_234)).await.unwrap();
    // Big readings (about 300 KiB each): the byte limit cuts these calls, not the count.
    let mut big = readings(30);
    for r in &mut big {
        r.product_name = "Bánh mì ".repeat(30_000);
    }
    sink.put(&big).await.unwrap();
    let stats = sink.flush().await.unwrap();

    let calls = calls.lock().unwrap();
    let counts: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert!(counts.iter().all(|&n| n <= READINGS_PER_PUT), "{counts:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.iter().map(Vec::len).sum::<usize>() <= MAX_BYTES_PER_CALL)
    );
    assert_eq!(
        counts.iter().sum::<usize>(),
        1_264,
        "every reading sent once"
    );
    assert!(
        calls.iter().flatten().all(|r| r.ends_with(b"\n")),
        "each record ends with a newline"
    );
    assert_eq!(
        &counts[..2],
        &[500, 500],
        "small readings fill calls to the record limit"
    );
    assert_eq!(stats.delivered, 1_264);
    assert!(
        calls.iter().any(|c| c.len() < READINGS_PER_PUT
            && c.iter().map(Vec::len).sum::<usize>() > 3 * 1024 * 1024),
        "the byte limit, not the record limit, cut the calls of big readings"
    );
}

#[tokio::test]
async fn firehose_spools_what_keeps_failing_and_the_spool_replays() {
    let calls = Calls::default();
    let client = firehose(calls.clone(), |_, r| {
        String::from_utf8_lossy(r).contains("\"STORE_5\"")
    });
    let spool = tempfile::TempDir::new().unwrap();
    let config = FirehoseSinkConfig {
        max_attempts: 3,
        ..fast(FirehoseSinkConfig::new("s", spool.path()))
    };
    let sink = FirehoseReadingSink::new(client, config);
    let sent = readings(45);
    sink.put(&sent).await.unwrap();
    let stats = sink.flush().await.unwrap();
    assert_eq!(
        calls.lock().unwrap().len(),
        3,
        "three attempts, then the spool"
    );
    assert_eq!((stats.delivered, stats.spooled, stats.retried), (40, 5, 10));

    let text = std::fs::read_to_string(sink.spool_path()).unwrap();
    let spooled: Vec<Reading> = text
        .lines()
        .map(|l| Reading::from_json_str(l).unwrap())
        .collect();
    let expected: Vec<Reading> = sent
        .into_iter()
        .filter(|r| r.store_id == "STORE_5")
        .collect();
    assert_eq!(
        spooled, expected,
        "the spool holds exactly the undelivered readings, replayable"
    );
}

#[tokio::test]
async fn firehose_rejects_an_oversized_reading_before_any_call() {
    let calls = Calls::default();
    let client = firehose(calls.clone(), |_, _| false);
    let spool = tempfile::TempDir::new().unwrap();
    let sink = FirehoseReadingSink::new(client, FirehoseSinkConfig::new("s", spool.path()));
    let mut batch = readings(3);
    batch[1].product_name = "x".repeat(1_100_000);
    let e = sink.put(&batch).await.unwrap_err();
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("at most 1024000 bytes"), "{e}");
    let stats = sink.flush().await.unwrap();
    assert_eq!((stats.accepted, stats.objects), (0, 0));
    assert!(calls.lock().unwrap().is_empty());
}

fn column(name: &str, ty: &str) -> ColumnInfo {
    ColumnInfo::builder().name(name).r#type(ty).build().unwrap()
}

const HEADER: [&str; 11] = [
    "store_id",
    "product_id",
    "product_name",
    "current_stock",
    "threshold_level",
    "max_stock",
    "check_timestamp",
    "event_id",
    "readings",
    "first_stock",
    "first_timestamp",
];

fn row(values: [Option<&str>; 11]) -> Row {
    Row::builder()
        .set_data(Some(
            values
                .iter()
                .map(|v| {
                    Datum::builder()
                        .set_var_char_value(v.map(str::to_owned))
                        .build()
                })
                .collect(),
        ))
        .build()
}

fn execution(state: QueryExecutionState, error: Option<(&str, bool)>) -> GetQueryExecutionOutput {
    let mut status = QueryExecutionStatus::builder().state(state);
    if let Some((reason, retryable)) = error {
        status = status.state_change_reason(reason).athena_error(
            AthenaError::builder()
                .error_type(1002)
                .retryable(retryable)
                .build(),
        );
    }
    GetQueryExecutionOutput::builder()
        .query_execution(
            QueryExecution::builder()
                .query_execution_id("q-1")
                .status(status.build())
                .statistics(
                    QueryExecutionStatistics::builder()
                        .data_scanned_in_bytes(123_456)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn athena_config() -> AthenaConfig {
    AthenaConfig {
        first_poll: Duration::from_millis(1),
        max_poll: Duration::from_millis(5),
        ..AthenaConfig::new("wg", "db", "readings")
    }
}

#[tokio::test]
async fn athena_polls_through_queued_and_running_and_reads_every_page() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution)
        .match_requests(|r| {
            r.execution_parameters() == ["'2025-11-23-16'", "1763913600", "1764000000", "'STORE_1'"]
                && r.query_string()
                    .is_some_and(|q| !q.contains("STORE_1") && q.contains("\"readings\""))
                && r.work_group() == Some("wg")
        })
        .then_output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        });
    let poll = mock!(aws_sdk_athena::Client::get_query_execution)
        .sequence()
        .output(|| execution(QueryExecutionState::Queued, None))
        .output(|| execution(QueryExecutionState::Running, None))
        .times(2)
        .output(|| execution(QueryExecutionState::Succeeded, None))
        .build();
    let columns: Vec<ColumnInfo> = HEADER
        .iter()
        .map(|c| {
            column(
                c,
                if c.ends_with("_id") || *c == "product_name" {
                    "varchar"
                } else {
                    "bigint"
                },
            )
        })
        .collect();
    let header = row(HEADER.map(Some));
    let first = row([
        Some("STORE_1"),
        Some("PRD_1"),
        Some("Phở bò"),
        Some("3"),
        Some("10"),
        None,
        Some("1763999000"),
        Some("e-1"),
        Some("7"),
        Some("9"),
        Some("1763990000"),
    ]);
    let second = row([
        Some("STORE_1"),
        Some("PRD_2"),
        None,
        Some("0"),
        Some("5"),
        Some("40"),
        Some("1763999100"),
        None,
        Some("2"),
        Some("1"),
        Some("1763999000"),
    ]);
    let page_one = {
        let columns = columns.clone();
        move || {
            GetQueryResultsOutput::builder()
                .result_set(
                    ResultSet::builder()
                        .result_set_metadata(
                            ResultSetMetadata::builder()
                                .set_column_info(Some(columns.clone()))
                                .build(),
                        )
                        .rows(header.clone())
                        .rows(first.clone())
                        .build(),
                )
                .next_token("page-2")
                .build()
        }
    };
    let page_two = move || {
        GetQueryResultsOutput::builder()
            .result_set(
                ResultSet::builder()
                    .result_set_metadata(
                        ResultSetMetadata::builder()
                            .set_column_info(Some(columns.clone()))
                            .build(),
                    )
                    .rows(second.clone())
                    .build(),
            )
            .build()
    };
    let results = mock!(aws_sdk_athena::Client::get_query_results)
        .sequence()
        .output(page_one)
        .output(page_two)
        .build();
    let client = mock_client!(
        aws_sdk_athena,
        RuleMode::Sequential,
        [&start, &poll, &results]
    );
    let query = AthenaInventoryQuery::new(client, athena_config());
    let snapshot = query
        .latest_readings(&InventoryRequest::new(
            1_764_000_000,
            24,
            vec!["STORE_1".into()],
        ))
        .await
        .unwrap();
    assert_eq!(poll.num_calls(), 4, "queued, running twice, succeeded");
    assert_eq!(results.num_calls(), 2, "both pages are read");
    assert_eq!(snapshot.query_id, "q-1");
    assert_eq!(snapshot.engine, "athena");
    assert_eq!(snapshot.bytes_scanned, 123_456);
    assert_eq!(snapshot.readings_scanned, 9);
    let got: Vec<_> = snapshot
        .latest
        .iter()
        .map(|l| {
            (
                l.product_id.as_str(),
                l.product_name.as_str(),
                l.current_stock,
                l.max_stock,
                l.event_id.as_deref(),
                (l.first_stock, l.first_timestamp),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("PRD_1", "Phở bò", 3, None, Some("e-1"), (9, 1_763_990_000)),
            ("PRD_2", "", 0, Some(40), None, (1, 1_763_999_000))
        ]
    );
}

async fn failing_query(state: QueryExecutionState, retryable: bool) -> store_model::PortError {
    let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-1")
            .build()
    });
    let poll = mock!(aws_sdk_athena::Client::get_query_execution).then_output(move || {
        execution(
            state.clone(),
            Some((
                "COLUMN_NOT_FOUND: line 3:8: Column 'x' cannot be resolved",
                retryable,
            )),
        )
    });
    let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &poll]);
    AthenaInventoryQuery::new(client, athena_config())
        .latest_readings(&InventoryRequest::new(1_764_000_000, 24, vec![]))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn athena_failures_carry_the_reason_and_whether_a_retry_can_help() {
    let e = failing_query(QueryExecutionState::Failed, false).await;
    assert!(
        e.to_string().contains("Column 'x' cannot be resolved"),
        "{e}"
    );
    assert!(e.to_string().contains("FAILED"), "{e}");
    assert!(!e.is_retryable());
    let e = failing_query(QueryExecutionState::Failed, true).await;
    assert!(e.is_retryable());
    let e = failing_query(QueryExecutionState::Cancelled, false).await;
    assert!(e.to_string().contains("CANCELLED"), "{e}");
}

#[tokio::test]
async fn athena_stops_a_query_that_outlasts_its_timeout() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-1")
            .build()
    });
    let poll = mock!(aws_sdk_athena::Client::get_query_execution)
        .then_output(|| execution(QueryExecutionState::Running, None));
    let stop = mock!(aws_sdk_athena::Client::stop_query_execution)
        .match_requests(|r| r.query_execution_id() == Some("q-1"))
        .then_output(|| StopQueryExecutionOutput::builder().build());
    let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &poll, &stop]);
    let config = AthenaConfig {
        timeout: Duration::from_millis(50),
        ..athena_config()
    };
    let e = AthenaInventoryQuery::new(client, config)
        .latest_readings(&InventoryRequest::new(1_764_000_000, 24, vec![]))
        .await
        .unwrap_err();
    assert!(e.is_retryable());
    assert!(e.to_string().contains("did not finish"), "{e}");
    assert_eq!(
        stop.num_calls(),
        1,
        "the query is stopped, not left running"
    );
}

fn sqs_send(
    fail_first: bool,
    sender_fault: bool,
    calls: Arc<Mutex<Vec<Vec<String>>>>,
) -> aws_sdk_sqs::Client {
    let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(move |req| {
        let ids: Vec<String> = req.entries().iter().map(|e| e.id().to_owned()).collect();
        let mut log = calls.lock().unwrap();
        let first_call = log.is_empty();
        log.push(ids.clone());
        let mut out = SendMessageBatchOutput::builder();
        for id in &ids {
            if first_call && fail_first && id == "3" {
                out = out.failed(
                    BatchResultErrorEntry::builder()
                        .id(id)
                        .code(if sender_fault {
                            "InvalidMessageContents"
                        } else {
                            "InternalError"
                        })
                        .sender_fault(sender_fault)
                        .build()
                        .unwrap(),
                );
            } else {
                out = out.successful(
                    SendMessageBatchResultEntry::builder()
                        .id(id)
                        .message_id(format!("m-{id}"))
                        .md5_of_message_body("x")
                        .build()
                        .unwrap(),
                );
            }
        }
        // Both lists are required in the output, even when empty.
        let successful = out.get_successful().clone().unwrap_or_default();
        let failed = out.get_failed().clone().unwrap_or_default();
        out.set_successful(Some(successful))
            .set_failed(Some(failed))
            .build()
            .unwrap()
    });
    mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule])
}

#[tokio::test]
async fn sqs_resends_only_entries_that_failed_on_the_service_side() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let queue = SqsAlertQueue::new(sqs_send(true, false, calls.clone()), "q", "dlq");
    let alerts: Vec<_> = (0..12).map(|n| alert(n, 1)).collect();
    queue.send(&alerts).await.unwrap();
    let calls = calls.lock().unwrap();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        vec![10, 1, 2],
        "ten, the one failed entry again, then the last two"
    );
    assert_eq!(calls[1], vec!["3".to_owned()]);
}

#[tokio::test]
async fn sqs_entries_refused_as_malformed_are_an_error_naming_them() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let queue = SqsAlertQueue::new(sqs_send(true, true, calls.clone()), "q", "dlq");
    let alerts: Vec<_> = (0..5).map(|n| alert(n, 1)).collect();
    let e = queue.send(&alerts).await.unwrap_err();
    assert!(!e.is_retryable());
    assert!(
        e.to_string().contains("entry 3: InvalidMessageContents"),
        "{e}"
    );
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "a sender fault is not retried"
    );
}

#[tokio::test]
async fn a_failed_compaction_fails_the_run_and_commits_nothing() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution)
        .match_requests(|r| r.query_string().is_some_and(|q| q.starts_with("UNLOAD")))
        .then_output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-unload")
                .build()
        });
    let poll = mock!(aws_sdk_athena::Client::get_query_execution).then_output(|| {
        execution(
            QueryExecutionState::Failed,
            Some(("HIVE_PATH_ALREADY_EXISTS: Target directory", false)),
        )
    });
    let athena = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &poll]);
    let list = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_output(|| ListObjectsV2Output::builder().build());
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &put]);
    let e = AthenaInventoryQuery::new(athena, athena_config())
        .with_snapshots(S3Snapshots::new(
            S3Objects::new(s3, "lake"),
            "latest_snapshot",
        ))
        .latest_readings(&InventoryRequest::new(1_764_000_000, 24, vec![]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HIVE_PATH_ALREADY_EXISTS"), "{e}");
    assert_eq!(
        start.num_calls(),
        1,
        "no planning query after a failed compaction"
    );
    assert_eq!(put.num_calls(), 0, "no commit without the compacted data");
}

#[tokio::test]
async fn an_unload_still_running_at_the_callers_deadline_is_stopped_and_its_data_removed() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-unload")
            .build()
    });
    let poll = mock!(aws_sdk_athena::Client::get_query_execution)
        .then_output(|| execution(QueryExecutionState::Running, None));
    let stop = mock!(aws_sdk_athena::Client::stop_query_execution)
        .match_requests(|r| r.query_execution_id() == Some("q-unload"))
        .then_output(|| StopQueryExecutionOutput::builder().build());
    let athena = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &poll, &stop]);
    // The stopped UNLOAD left one part in its run prefix.
    let run_listing = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| r.prefix().is_some_and(|p| p.contains("run=")))
        .then_output(|| {
            ListObjectsV2Output::builder()
                .contents(
                    aws_sdk_s3::types::Object::builder()
                        .key("snapshots/latest/run=000000000001-x/part-0.parquet")
                        .size(4)
                        .build(),
                )
                .build()
        });
    let list = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_output(|| ListObjectsV2Output::builder().build());
    let delete = mock!(aws_sdk_s3::Client::delete_objects)
        .match_requests(|r| {
            r.delete().is_some_and(|d| {
                d.objects().len() == 1 && d.objects()[0].key().ends_with("part-0.parquet")
            })
        })
        .then_output(|| {
            aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput::builder().build()
        });
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let s3 = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&run_listing, &list, &delete, &put]
    );
    let deadline = std::time::Instant::now() + Duration::from_millis(50);
    let e = AthenaInventoryQuery::new(athena, athena_config())
        .with_snapshots(S3Snapshots::new(
            S3Objects::new(s3, "lake"),
            "latest_snapshot",
        ))
        .latest_readings(
            &InventoryRequest::new(1_764_000_000, 24, vec![]).with_deadline(Some(deadline)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, store_model::ports::ErrorKind::OutOfTime, "{e}");
    assert!(e.to_string().contains("deadline"), "{e}");
    assert_eq!(
        stop.num_calls(),
        1,
        "the UNLOAD is stopped, not left running"
    );
    assert_eq!(delete.num_calls(), 1, "what it wrote is removed");
    assert_eq!(put.num_calls(), 0, "nothing is committed");
    assert_eq!(start.num_calls(), 1, "no plan after the cut");
}
