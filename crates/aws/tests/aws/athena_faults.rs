//! What the local AWS server never does to Athena, injected into the SDK client: QUEUED, RUNNING
//! and FAILED states, multi-page results, timeouts, and compactions that fail or outlast the
//! caller's deadline.

use std::time::Duration;

use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
use aws_sdk_athena::operation::stop_query_execution::StopQueryExecutionOutput;
use aws_sdk_athena::types::{
    AthenaError, ColumnInfo, Datum, QueryExecution, QueryExecutionState, QueryExecutionStatistics,
    QueryExecutionStatus, ResultSet, ResultSetMetadata, Row,
};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use store_aws::{AthenaConfig, AthenaInventoryQuery, S3Objects, S3Snapshots};
use store_model::InventoryRequest;
use store_model::ports::InventoryQuery;

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
