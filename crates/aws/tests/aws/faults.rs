//! What the local AWS server never does, injected into the SDK clients: Firehose partial failures
//! and its call limits, and SQS batch entries that fail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchOutput;
use aws_sdk_firehose::types::PutRecordBatchResponseEntry;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use store_aws::firehose::MAX_BYTES_PER_CALL;
use store_aws::{FirehoseReadingSink, FirehoseSinkConfig, SqsAlertQueue};
use store_model::Reading;
use store_model::contract::{alert, reading};
use store_model::ports::{AlertQueue, READINGS_PER_PUT, ReadingSink};

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
