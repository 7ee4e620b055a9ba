//! The compacted latest-state snapshot of the lake folder: what makes a planning run cost what
//! the new data costs, not what the history costs.
//!
//! A snapshot generation holds one row per store and product: its latest reading over every
//! closed `dt` partition before the generation's watermark (and from `covers_from` on). A run
//! first folds the partitions closed since the last generation into a new one (the previous
//! snapshot plus those partitions, nothing older), then plans over the snapshot and the open
//! partitions. Generations are committed by creating `_commits/<generation>.json` if absent, so
//! when two planners compact at once one commits and the other adopts its generation; readers
//! only ever see committed, complete generations.

use std::io;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use store_model::lake::{
    SNAPSHOT_COMMITS_PREFIX, SNAPSHOTS_PREFIX, SeenObjects, SnapshotCommit, snapshot_commit_key,
    snapshot_data_key, snapshot_generation_of, snapshot_run, snapshot_run_prefix,
};
use uuid::Uuid;

use crate::folder::LakeFolder;

/// The snapshot generations in a lake folder.
#[derive(Clone)]
pub struct Snapshots {
    lake: LakeFolder,
}

/// A generation about to be committed.
pub struct NewGeneration<'a> {
    /// Its number.
    pub generation: u64,
    /// Partitions before this one are folded in.
    pub watermark: &'a str,
    /// ... from this one on.
    pub covers_from: &'a str,
    /// Raw readings this fold read.
    pub folded_readings: u64,
    /// The raw objects the fold listed before it read ([`store_model::lake::LateCheck::seen`]).
    pub seen: SeenObjects,
    /// Epoch seconds now.
    pub now: i64,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The current generation already reaches the watermark.
    UpToDate,
    /// This run committed a new generation.
    Committed,
    /// Another run committed the generation first; this one adopted it.
    Adopted,
}

impl Snapshots {
    /// The snapshots of `lake`.
    pub fn new(lake: LakeFolder) -> Self {
        Self { lake }
    }

    /// The latest committed generation, if any.
    pub fn current(&self) -> io::Result<Option<SnapshotCommit>> {
        let commits = self.lake.list(SNAPSHOT_COMMITS_PREFIX)?;
        let Some(last) = commits.iter().rfind(|o| o.key.ends_with(".json")) else {
            return Ok(None);
        };
        let bytes = self.lake.get(&last.key)?.unwrap_or_default();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", last.key)))
    }

    /// The path of a generation's data, for the query engine.
    pub fn data_path(&self, commit: &SnapshotCommit) -> std::path::PathBuf {
        self.lake.path(&commit.data_key)
    }

    /// Writes a generation's rows and commits it unless another run committed the same
    /// generation first (then its data is removed and the winner's commit returned).
    pub fn commit(
        &self,
        new: NewGeneration<'_>,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> io::Result<(SnapshotCommit, Refresh)> {
        let NewGeneration {
            generation,
            watermark,
            covers_from,
            folded_readings,
            seen,
            now,
        } = new;
        let run = snapshot_run(generation, Uuid::new_v4());
        let data_key = snapshot_data_key(&run);
        let bytes = encode(schema, batches)?;
        self.lake.put(&data_key, &bytes)?;
        let commit = SnapshotCommit {
            generation,
            watermark: watermark.to_owned(),
            covers_from: covers_from.to_owned(),
            run,
            data_key: data_key.clone(),
            data_bytes: bytes.len() as u64,
            rows: Some(batches.iter().map(|b| b.num_rows() as u64).sum()),
            folded_readings: Some(folded_readings),
            created_at: now,
            seen: Some(seen),
        };
        let record = serde_json::to_vec(&commit)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if self
            .lake
            .put_if_absent(&snapshot_commit_key(generation), &record)?
        {
            self.collect_garbage(generation);
            return Ok((commit, Refresh::Committed));
        }
        let _ = std::fs::remove_dir_all(self.lake.path(&snapshot_run_prefix(&commit.run)));
        let winner = self.current()?.ok_or_else(|| {
            io::Error::other("a snapshot commit vanished while it was being read")
        })?;
        Ok((winner, Refresh::Adopted))
    }

    /// Removes the data of generations older than the one before `current` (a reader may still
    /// be reading that one). Commit records stay: they are tiny, and they keep generation
    /// numbers from being reused.
    fn collect_garbage(&self, current: u64) {
        let Ok(objects) = self.lake.list(SNAPSHOTS_PREFIX) else {
            return;
        };
        for o in objects {
            if snapshot_generation_of(&o.key).is_some_and(|g| g + 1 < current) {
                let path = self.lake.path(&o.key);
                let _ = std::fs::remove_file(&path);
                if let Some(run_dir) = path.parent() {
                    let _ = std::fs::remove_dir(run_dir);
                }
            }
        }
    }
}

fn encode(schema: SchemaRef, batches: &[RecordBatch]) -> io::Result<Vec<u8>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(io::Error::other)?;
    for b in batches {
        writer.write(b).map_err(io::Error::other)?;
    }
    writer.close().map_err(io::Error::other)?;
    Ok(out)
}
