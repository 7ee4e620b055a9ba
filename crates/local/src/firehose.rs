//! The local Firehose: buffers readings and writes them to the lake folder as Firehose would.
//!
//! Like a Direct PUT delivery stream it buffers until a size or an interval is reached (whichever
//! comes first), then writes one object named `<stream>-1-<arrival time>-<uuid>` under the arrival
//! hour's `readings/dt=…/` partition, in NDJSON (a newline after every record) or Parquet. A final
//! [`ReadingSink::flush`] writes what is left, so nothing accepted is lost on shutdown.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use store_model::lake::reading_object_key;
use store_model::ports::{ErrorKind, PortError, ReadingSink, SinkStats};
use store_model::{ObjectFormat, Reading};
use tracing::debug;
use uuid::Uuid;

use store_model::ports::Clock;

use crate::folder::LakeFolder;
use crate::schema::{reading_schema, readings_to_batch};

/// Largest up-front reservation of an NDJSON buffer.
const MAX_RESERVE: usize = 128 * 1024 * 1024;

/// Buffering and naming of the local delivery stream (Firehose's buffering hints).
#[derive(Debug, Clone)]
pub struct FirehoseConfig {
    /// Delivery stream name, the first part of every object name.
    pub stream_name: String,
    /// Object format.
    pub format: ObjectFormat,
    /// Flush when this many bytes (as NDJSON) are buffered.
    pub buffer_bytes: usize,
    /// Flush when the oldest buffered reading is this old.
    pub buffer_interval: Duration,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        Self {
            stream_name: "store-readings".into(),
            format: ObjectFormat::Parquet,
            buffer_bytes: 5 * 1024 * 1024,
            buffer_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct Buffer {
    json: Vec<u8>,
    readings: Vec<Reading>,
    approx_bytes: usize,
    count: u64,
    first_arrival: Option<i64>,
}

struct State {
    buffer: Buffer,
    stats: SinkStats,
}

/// The embedded [`ReadingSink`].
pub struct LocalFirehoseSink {
    lake: LakeFolder,
    config: FirehoseConfig,
    clock: Clock,
    state: Mutex<State>,
    /// Serialises writes so objects land in arrival order.
    write_lock: tokio::sync::Mutex<()>,
}

impl LocalFirehoseSink {
    /// A delivery stream into `lake`.
    pub fn new(lake: LakeFolder, config: FirehoseConfig, clock: Clock) -> Self {
        Self {
            lake,
            config,
            clock,
            state: Mutex::new(State {
                buffer: Buffer::default(),
                stats: SinkStats::default(),
            }),
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the oldest buffered reading has waited for the buffer interval.
    fn is_due(&self) -> bool {
        let now = (self.clock)();
        self.lock()
            .buffer
            .first_arrival
            .is_some_and(|first| now - first >= self.config.buffer_interval.as_secs() as i64)
    }

    async fn write_buffer(&self) -> Result<(), PortError> {
        let _order = self.write_lock.lock().await;
        let buffer = std::mem::take(&mut self.lock().buffer);
        let Some(arrival) = buffer.first_arrival else {
            return Ok(());
        };
        let count = buffer.count;
        let key = reading_object_key(
            &self.config.stream_name,
            arrival,
            Uuid::new_v4(),
            self.config.format,
        );
        let bytes = match self.config.format {
            ObjectFormat::Json => buffer.json,
            ObjectFormat::Parquet => encode_parquet(&buffer.readings)?,
        };
        let lake = self.lake.clone();
        let size = bytes.len() as u64;
        let written_key = key.clone();
        let bytes =
            tokio::task::spawn_blocking(move || lake.put(&written_key, &bytes).map(|()| bytes))
                .await
                .map_err(|e| {
                    PortError::permanent("write readings object", "writer task failed", e)
                })?
                .map_err(|e| {
                    PortError::transient(
                        "write readings object",
                        format!("could not write `{key}`"),
                        e,
                    )
                })?;
        debug!(%key, readings = count, bytes = size, "delivered object");
        let mut state = self.lock();
        state.stats.delivered += count;
        state.stats.objects += 1;
        state.stats.bytes += size;
        // Hand the written buffer's memory back for the next object when nothing was buffered
        // meanwhile: a full buffer is tens of MiB, and growing a fresh one costs page faults
        // and copies on every object.
        if self.config.format == ObjectFormat::Json && state.buffer.json.capacity() == 0 {
            let mut recycled = bytes;
            recycled.clear();
            state.buffer.json = recycled;
        }
        Ok(())
    }
}

/// About how long a reading is as an NDJSON line: the fixed keys and figures plus its strings.
fn approx_json_size(r: &Reading) -> usize {
    190 + r.store_id.len()
        + r.product_id.len()
        + r.product_name.len()
        + r.restock_status.len()
        + r.event_id.as_ref().map_or(0, String::len)
}

/// Encodes readings as one Parquet object (Snappy, as Firehose's conversion writes it).
pub fn encode_parquet(readings: &[Reading]) -> Result<Vec<u8>, PortError> {
    let fail = |e: &dyn std::fmt::Display| {
        PortError::new(
            ErrorKind::Permanent,
            "encode parquet",
            format!("could not encode readings: {e}"),
        )
    };
    let batch = readings_to_batch(readings).map_err(|e| fail(&e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, reading_schema(), Some(props)).map_err(|e| fail(&e))?;
    writer.write(&batch).map_err(|e| fail(&e))?;
    writer.close().map_err(|e| fail(&e))?;
    Ok(out)
}

#[async_trait]
impl ReadingSink for LocalFirehoseSink {
    async fn put(&self, readings: &[Reading]) -> Result<(), PortError> {
        let full = {
            let now = (self.clock)();
            let mut state = self.lock();
            let State { buffer, stats } = &mut *state;
            if self.config.format == ObjectFormat::Json && buffer.json.capacity() == 0 {
                // One allocation for the whole object instead of doubling up to it.
                buffer
                    .json
                    .reserve(self.config.buffer_bytes.min(MAX_RESERVE) + 64 * 1024);
            }
            for r in readings {
                match self.config.format {
                    ObjectFormat::Json => {
                        serde_json::to_writer(&mut buffer.json, r).map_err(|e| {
                            PortError::permanent("put readings", "could not encode a reading", e)
                        })?;
                        buffer.json.push(b'\n');
                    }
                    ObjectFormat::Parquet => {
                        // The buffering hint is in NDJSON bytes; the rows are encoded at flush.
                        buffer.approx_bytes += approx_json_size(r);
                        buffer.readings.push(r.clone());
                    }
                }
            }
            if !readings.is_empty() {
                buffer.first_arrival.get_or_insert(now);
            }
            buffer.count += readings.len() as u64;
            stats.accepted += readings.len() as u64;
            let size = buffer.json.len() + buffer.approx_bytes;
            let aged = buffer
                .first_arrival
                .is_some_and(|first| now - first >= self.config.buffer_interval.as_secs() as i64);
            size >= self.config.buffer_bytes || aged
        };
        if full {
            self.write_buffer().await?;
        }
        Ok(())
    }

    async fn flush_if_due(&self) -> Result<(), PortError> {
        if self.is_due() {
            self.write_buffer().await?;
        }
        Ok(())
    }

    async fn flush(&self) -> Result<SinkStats, PortError> {
        self.write_buffer().await?;
        Ok(self.lock().stats)
    }

    fn stats(&self) -> SinkStats {
        self.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use store_model::contract::reading;

    fn sink(
        dir: &std::path::Path,
        buffer_bytes: usize,
        clock: Arc<AtomicI64>,
    ) -> LocalFirehoseSink {
        let config = FirehoseConfig {
            format: ObjectFormat::Json,
            buffer_bytes,
            buffer_interval: Duration::from_secs(60),
            ..FirehoseConfig::default()
        };
        let lake = LakeFolder::open(dir, "b").unwrap();
        LocalFirehoseSink::new(lake, config, Arc::new(move || clock.load(Ordering::SeqCst)))
    }

    fn objects(dir: &std::path::Path) -> usize {
        LakeFolder::open(dir, "b")
            .unwrap()
            .list("readings/")
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn a_full_buffer_is_written_without_waiting_for_flush() {
        let dir = tempfile::tempdir().unwrap();
        let s = sink(dir.path(), 1_000, Arc::new(AtomicI64::new(1_000)));
        s.put(&[reading("S", "P", 1, 2, 1)]).await.unwrap();
        assert_eq!(objects(dir.path()), 0, "a small buffer waits");
        let many: Vec<_> = (0..10).map(|i| reading("S", "P", i, 2, 1)).collect();
        s.put(&many).await.unwrap();
        assert_eq!(
            objects(dir.path()),
            1,
            "crossing the size hint writes an object"
        );
    }

    #[tokio::test]
    async fn an_old_buffer_is_written_when_its_interval_passes() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(1_000));
        let s = sink(dir.path(), usize::MAX, clock.clone());
        s.put(&[reading("S", "P", 1, 2, 1)]).await.unwrap();
        s.flush_if_due().await.unwrap();
        assert_eq!(objects(dir.path()), 0);
        clock.store(1_060, Ordering::SeqCst);
        s.flush_if_due().await.unwrap();
        assert_eq!(objects(dir.path()), 1, "the interval hint writes an object");
        let stats = s.flush().await.unwrap();
        assert_eq!((stats.accepted, stats.delivered, stats.objects), (1, 1, 1));
    }

    #[tokio::test]
    async fn objects_are_named_by_the_arrival_of_their_first_reading() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(1_764_000_000));
        let s = sink(dir.path(), usize::MAX, clock.clone());
        s.put(&[reading("S", "P", 1, 2, 1)]).await.unwrap();
        clock.store(1_764_000_000 + 7_200, Ordering::SeqCst);
        s.put(&[reading("S", "P", 1, 2, 2)]).await.unwrap();
        s.flush().await.unwrap();
        let keys = LakeFolder::open(dir.path(), "b")
            .unwrap()
            .list("readings/")
            .unwrap();
        assert!(
            keys[0]
                .key
                .starts_with("readings/dt=2025-11-24-16/store-readings-1-2025-11-24-16-00-00-"),
            "{keys:?}"
        );
    }
}
