//! The compacted latest-state snapshot in the lake bucket, for the Athena planner.
//!
//! The layout and the rules are the lake folder's ([`store_model::lake`]): a generation's data
//! is written by one run under `snapshots/latest/run=<generation>-<uuid>/` (by Athena's `UNLOAD`),
//! and the generation exists once `_commits/<generation>.json` does. The commit is a conditional
//! `PutObject` (`If-None-Match: *`), so of two planners compacting at once exactly one commits; the
//! other deletes its own data and plans over the winner's. Queries name the committed run in the
//! snapshot table's injected `run` partition, so uncommitted or superseded data is never read.

use store_model::lake::{
    PARTITION_COLUMN, READINGS_PREFIX, SNAPSHOT_COMMITS_PREFIX, SNAPSHOT_PARTITION_COLUMN,
    SNAPSHOTS_PREFIX, SnapshotCommit, partition_of, snapshot_commit_key, snapshot_generation_of,
    snapshot_run_prefix,
};
use store_model::ledger::LedgerStore;
use store_model::ports::PortError;
use tracing::{info, warn};

use crate::S3Objects;

/// The snapshot generations in the lake bucket, and the Glue table over them.
#[derive(Debug, Clone)]
pub struct S3Snapshots {
    objects: S3Objects,
    table: String,
}

const OPERATION: &str = "planning snapshot";

fn bad_commit(key: &str, e: serde_json::Error) -> PortError {
    PortError::permanent(
        OPERATION,
        format!("s3://…/{key} is not a snapshot commit: {e}"),
        Some(Box::new(e)),
    )
}

impl S3Snapshots {
    /// The snapshots in `objects`' bucket, read through the Glue table `table`.
    pub fn new(objects: S3Objects, table: impl Into<String>) -> Self {
        Self {
            objects,
            table: table.into(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        self.objects.bucket()
    }

    /// The snapshot table as a query source naming one run: the run is the source's only `?`,
    /// which the injected partition projection turns into the run's location.
    pub fn source(&self) -> String {
        format!(
            "(SELECT * FROM \"{}\" WHERE {SNAPSHOT_PARTITION_COLUMN} = ?) snapshot",
            self.table
        )
    }

    /// The latest committed generation, if any.
    pub async fn current(&self) -> Result<Option<SnapshotCommit>, PortError> {
        let commits = self.objects.list(SNAPSHOT_COMMITS_PREFIX).await?;
        let Some((key, _)) = commits.iter().rfind(|(k, _)| k.ends_with(".json")) else {
            return Ok(None);
        };
        let Some(bytes) = self.objects.get(key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| bad_commit(key, e))
    }

    /// The bytes of a run's data.
    pub async fn run_bytes(&self, run: &str) -> Result<u64, PortError> {
        Ok(self
            .objects
            .list(&snapshot_run_prefix(run))
            .await?
            .iter()
            .map(|(_, size)| size)
            .sum())
    }

    /// Commits `commit` unless another run committed its generation first; then this run's data
    /// is deleted and the winner's commit returned.
    pub async fn commit(&self, commit: SnapshotCommit) -> Result<SnapshotCommit, PortError> {
        let key = snapshot_commit_key(commit.generation);
        let record = serde_json::to_vec(&commit).map_err(|e| {
            PortError::permanent(OPERATION, "cannot encode the commit", Some(Box::new(e)))
        })?;
        match self.objects.create(&key, record).await? {
            None => {
                info!(generation = commit.generation, run = %commit.run, "snapshot committed");
                self.collect_garbage(commit.generation).await;
                Ok(commit)
            }
            Some(existing) => {
                let winner: SnapshotCommit =
                    serde_json::from_slice(&existing).map_err(|e| bad_commit(&key, e))?;
                info!(generation = winner.generation, run = %winner.run, "another planner committed this generation first; adopting it");
                self.discard(&commit.run).await;
                Ok(winner)
            }
        }
    }

    /// The raw reading objects in partitions from `from_dt` on, with their write times.
    pub async fn raw_objects_since(
        &self,
        from_dt: &str,
    ) -> Result<Vec<store_model::lake::ListedObject>, PortError> {
        // Keys sort like partitions: start just before the first key of `dt=<from_dt>`.
        let start_after = format!("{READINGS_PREFIX}{PARTITION_COLUMN}={from_dt}");
        let mut objects = self
            .objects
            .list_after(READINGS_PREFIX, &start_after)
            .await?;
        objects.retain(|o| partition_of(&o.key).is_some_and(|dt| dt >= from_dt));
        Ok(objects)
    }

    /// Deletes the data of an uncommitted run (lost a race, stopped or failed part-way). A
    /// failure is logged, not returned: an uncommitted run is never read.
    pub async fn discard(&self, run: &str) {
        let own = match self.objects.list(&snapshot_run_prefix(run)).await {
            Ok(objects) => objects.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            Err(e) => {
                warn!(error = %e, run, "could not list an uncommitted snapshot run; it is never read");
                return;
            }
        };
        if let Err(e) = self.objects.delete(&own).await {
            warn!(error = %e, run, "could not delete an uncommitted snapshot run; it is never read");
        }
    }

    /// Deletes the data of generations older than the one before `current` (a planner may still
    /// be reading that one). Commit records stay: they are tiny and keep generations unique. A
    /// failure is logged, not returned: the data is unreferenced either way.
    async fn collect_garbage(&self, current: u64) {
        let old = match self.objects.list(SNAPSHOTS_PREFIX).await {
            Ok(objects) => objects
                .into_iter()
                .filter(|(k, _)| snapshot_generation_of(k).is_some_and(|g| g + 1 < current))
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            Err(e) => {
                warn!(error = %e, "could not list old snapshot data");
                return;
            }
        };
        if let Err(e) = self.objects.delete(&old).await {
            warn!(error = %e, "could not delete old snapshot data");
        }
    }
}
