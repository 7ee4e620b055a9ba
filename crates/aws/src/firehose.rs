//! Readings into Kinesis Data Firehose with `PutRecordBatch`.
//!
//! Readings are packed into calls up to the service's limits (500 records, 4 MiB, 1,000 KiB per
//! record), one JSON object per record with a trailing newline so the delivered objects are NDJSON.
//! Several calls are in flight at once. A call can succeed while some of its entries fail
//! (`FailedPutCount` > 0); only those entries are sent again, with exponential backoff and full
//! jitter, up to a limit. What still fails is appended to a spool file of NDJSON readings, which
//! `store-app send` replays; nothing is dropped, and the totals say how much was sent, retried and
//! spooled.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_firehose::Client;
use aws_sdk_firehose::error::SdkError;
use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use rand::Rng;
use store_model::Reading;
use store_model::ports::{ErrorKind, PortError, READINGS_PER_PUT, ReadingSink, SinkStats};
use tokio::task::JoinSet;
use tracing::{error, instrument, warn};

/// Most bytes of record data in one call.
pub const MAX_BYTES_PER_CALL: usize = 4 * 1024 * 1024;
/// Largest record Firehose accepts.
pub const MAX_RECORD_BYTES: usize = 1_000 * 1024;

/// How the sink batches, retries and spools.
#[derive(Debug, Clone)]
pub struct FirehoseSinkConfig {
    /// The delivery stream.
    pub stream_name: String,
    /// Calls in flight at once.
    pub max_in_flight: usize,
    /// Attempts per record (the first included) before it is spooled.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles with each attempt, with full jitter.
    pub base_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// A partly filled batch is sent once its oldest record has waited this long.
    pub linger: Duration,
    /// Where undeliverable readings are spooled.
    pub spool_dir: PathBuf,
}

impl FirehoseSinkConfig {
    /// Defaults for `stream_name`, spooling into `spool_dir`.
    pub fn new(stream_name: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            stream_name: stream_name.into(),
            max_in_flight: 4,
            max_attempts: 6,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            linger: Duration::from_secs(1),
            spool_dir: spool_dir.into(),
        }
    }
}

/// Readings that could not be delivered, appended to one NDJSON file per sink.
struct Spool {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl Spool {
    fn new(dir: &Path, stream: &str) -> Self {
        let stamp = epoch_stamp();
        let path = dir.join(format!(
            "firehose-{stream}-{stamp}-{}.ndjson",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        Self {
            path,
            file: Mutex::new(None),
        }
    }

    /// Appends records (each a JSON line) and syncs them to disk.
    fn append(&self, records: &[Vec<u8>]) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            *file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let f = file.as_mut().expect("opened above");
        for r in records {
            f.write_all(r)?;
        }
        f.sync_data()
    }
}

fn epoch_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    secs.to_string()
}

struct Buffer {
    records: Vec<Vec<u8>>,
    bytes: usize,
    oldest: Option<Instant>,
    in_flight: JoinSet<Result<(), PortError>>,
}

/// Everything a batch task needs, shared by the sink and its tasks.
struct Shared {
    client: Client,
    config: FirehoseSinkConfig,
    stats: Mutex<SinkStats>,
    spool: Spool,
}

/// The AWS [`ReadingSink`].
pub struct FirehoseReadingSink {
    shared: Arc<Shared>,
    buffer: tokio::sync::Mutex<Buffer>,
}

impl FirehoseReadingSink {
    /// A sink putting to `config.stream_name` through `client`.
    pub fn new(client: Client, config: FirehoseSinkConfig) -> Self {
        let spool = Spool::new(&config.spool_dir, &config.stream_name);
        Self {
            shared: Arc::new(Shared {
                client,
                config,
                stats: Mutex::new(SinkStats::default()),
                spool,
            }),
            buffer: tokio::sync::Mutex::new(Buffer {
                records: Vec::new(),
                bytes: 0,
                oldest: None,
                in_flight: JoinSet::new(),
            }),
        }
    }

    /// The spool file; it exists only if something was spooled.
    pub fn spool_path(&self) -> &Path {
        &self.shared.spool.path
    }

    /// Sends the buffered records as one call, waiting first while too many are in flight.
    async fn dispatch(&self, buffer: &mut Buffer) -> Result<(), PortError> {
        if buffer.records.is_empty() {
            return Ok(());
        }
        while buffer.in_flight.len() >= self.shared.config.max_in_flight.max(1) {
            join_one(&mut buffer.in_flight).await?;
        }
        let records = std::mem::take(&mut buffer.records);
        buffer.bytes = 0;
        buffer.oldest = None;
        buffer
            .in_flight
            .spawn(self.shared.clone().send_batch(records));
        Ok(())
    }
}

async fn join_one(set: &mut JoinSet<Result<(), PortError>>) -> Result<(), PortError> {
    match set.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(PortError::permanent(
            "put readings",
            "a Firehose batch task failed",
            e,
        )),
        None => Ok(()),
    }
}

/// Whether a failed call is worth sending again (the SDK has already retried it a few times).
fn call_is_retryable(e: &SdkError<PutRecordBatchError>) -> bool {
    match e.as_service_error() {
        Some(PutRecordBatchError::ServiceUnavailableException(_)) => true,
        Some(_) => false,
        None => !matches!(e, SdkError::ConstructionFailure(_)),
    }
}

/// Exponential backoff with full jitter: a random wait up to `base * 2^(attempt-1)`, capped.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(max);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut SinkStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Sends one batch until every record is delivered or out of attempts; spools the rest.
    #[instrument(skip_all, fields(records = records.len()))]
    async fn send_batch(self: Arc<Self>, records: Vec<Vec<u8>>) -> Result<(), PortError> {
        let mut pending = records;
        let mut attempt = 0;
        let reason = loop {
            attempt += 1;
            let entries: Vec<Record> = pending
                .iter()
                .map(|data| Record::builder().data(Blob::new(data.clone())).build())
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    PortError::permanent("put readings", "could not build a Firehose record", e)
                })?;
            self.count(|s| s.objects += 1);
            let result = self
                .client
                .put_record_batch()
                .delivery_stream_name(&self.config.stream_name)
                .set_records(Some(entries))
                .send()
                .await;
            let reason = match result {
                Ok(out) => {
                    let (left, first) = self.settle(pending, &out, attempt);
                    if left.is_empty() {
                        return Ok(());
                    }
                    pending = left;
                    first
                }
                Err(e) => {
                    let retryable = call_is_retryable(&e);
                    let message = format!("{}", aws_sdk_firehose::error::DisplayErrorContext(&e));
                    warn!(attempt, retryable, error = %message, "PutRecordBatch failed");
                    if !retryable {
                        break message;
                    }
                    message
                }
            };
            if attempt >= self.config.max_attempts {
                break reason;
            }
            self.count(|s| s.retried += pending.len() as u64);
            tokio::time::sleep(backoff(
                self.config.base_backoff,
                self.config.max_backoff,
                attempt,
            ))
            .await;
        };
        self.spool_undelivered(pending, attempt, reason).await
    }

    /// Counts what a call delivered; returns the records it did not take (all of them when the
    /// response does not line up with the request) and the first entry's error.
    fn settle(
        &self,
        pending: Vec<Vec<u8>>,
        out: &aws_sdk_firehose::operation::put_record_batch::PutRecordBatchOutput,
        attempt: u32,
    ) -> (Vec<Vec<u8>>, String) {
        let responses = out.request_responses();
        let failed: Vec<usize> = if responses.len() == pending.len() {
            (0..pending.len())
                .filter(|&i| responses[i].error_code().is_some())
                .collect()
        } else {
            // A response that does not line up with the request: trust none of it.
            (0..pending.len()).collect()
        };
        let delivered: Vec<usize> = (0..pending.len())
            .filter(|i| failed.binary_search(i).is_err())
            .collect();
        let delivered_bytes: usize = delivered.iter().map(|&i| pending[i].len()).sum();
        self.count(|s| {
            s.delivered += delivered.len() as u64;
            s.bytes += delivered_bytes as u64;
        });
        if failed.is_empty() {
            return (Vec::new(), String::new());
        }
        let first = failed
            .first()
            .and_then(|&i| responses.get(i))
            .map(|r| {
                format!(
                    "{}: {}",
                    r.error_code().unwrap_or("?"),
                    r.error_message().unwrap_or("")
                )
            })
            .unwrap_or_else(|| "the response did not match the request".into());
        warn!(failed = failed.len(), attempt, error = %first, "Firehose rejected part of a batch");
        let left = pending
            .into_iter()
            .enumerate()
            .filter(|(i, _)| failed.binary_search(i).is_ok())
            .map(|(_, record)| record)
            .collect();
        (left, first)
    }

    /// Appends records Firehose would not take after the last attempt to the spool file.
    async fn spool_undelivered(
        self: Arc<Self>,
        pending: Vec<Vec<u8>>,
        attempt: u32,
        reason: String,
    ) -> Result<(), PortError> {
        let shared = self.clone();
        let count = pending.len() as u64;
        tokio::task::spawn_blocking(move || shared.spool.append(&pending))
            .await
            .map_err(|e| PortError::permanent("spool readings", "spool task failed", e))?
            .map_err(|e| {
                PortError::permanent(
                    "spool readings",
                    format!(
                        "{count} undelivered readings could not be written to {}",
                        self.spool.path.display()
                    ),
                    e,
                )
            })?;
        self.count(|s| s.spooled += count);
        error!(
            readings = count,
            attempts = attempt,
            %reason,
            spool = %self.spool.path.display(),
            "readings undeliverable to Firehose were spooled; replay them with `store-app send`"
        );
        Ok(())
    }
}

#[async_trait]
impl ReadingSink for FirehoseReadingSink {
    async fn put(&self, readings: &[Reading]) -> Result<(), PortError> {
        let mut encoded = Vec::with_capacity(readings.len());
        for r in readings {
            let mut json = serde_json::to_vec(r).map_err(|e| {
                PortError::permanent("put readings", "could not encode a reading", e)
            })?;
            json.push(b'\n');
            if json.len() > MAX_RECORD_BYTES {
                return Err(PortError::new(
                    ErrorKind::Permanent,
                    "put readings",
                    format!(
                        "the reading of store {} product {} is {} bytes as JSON; Firehose takes at most {MAX_RECORD_BYTES} bytes per record (none of this call's readings were accepted)",
                        r.store_id,
                        r.product_id,
                        json.len()
                    ),
                ));
            }
            encoded.push(json);
        }
        let mut buffer = self.buffer.lock().await;
        self.shared.count(|s| s.accepted += encoded.len() as u64);
        for json in encoded {
            if buffer.records.len() == READINGS_PER_PUT
                || buffer.bytes + json.len() > MAX_BYTES_PER_CALL
            {
                self.dispatch(&mut buffer).await?;
            }
            buffer.bytes += json.len();
            buffer.records.push(json);
            buffer.oldest.get_or_insert_with(Instant::now);
        }
        if buffer.records.len() == READINGS_PER_PUT {
            self.dispatch(&mut buffer).await?;
        }
        Ok(())
    }

    async fn flush_if_due(&self) -> Result<(), PortError> {
        let mut buffer = self.buffer.lock().await;
        if buffer
            .oldest
            .is_some_and(|t| t.elapsed() >= self.shared.config.linger)
        {
            self.dispatch(&mut buffer).await?;
        }
        // Collect finished calls so their errors surface while streaming.
        while let Some(done) = buffer.in_flight.try_join_next() {
            done.map_err(|e| {
                PortError::permanent("put readings", "a Firehose batch task failed", e)
            })??;
        }
        Ok(())
    }

    async fn flush(&self) -> Result<SinkStats, PortError> {
        let mut buffer = self.buffer.lock().await;
        self.dispatch(&mut buffer).await?;
        while !buffer.in_flight.is_empty() {
            join_one(&mut buffer.in_flight).await?;
        }
        Ok(self.stats())
    }

    fn stats(&self) -> SinkStats {
        *self.shared.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for _ in 0..100 {
            assert!(backoff(base, max, 1) <= base);
            assert!(backoff(base, max, 3) <= base * 4);
            assert!(backoff(base, max, 30) <= max);
        }
    }
}
