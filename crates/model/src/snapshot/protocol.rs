//! The snapshot protocol, written once for the lake folder and the bucket: fold the hours closed
//! since the current generation (and late objects in hours already folded) into generation n,
//! commit it by creating `_commits/<n>.json` if absent, adopt the winner's generation when
//! another planner committed n first, and collect the data of superseded generations.
//!
//! Two ports carry what differs: a [`SnapshotStore`] (the folder or the bucket: objects, listing,
//! create-if-absent, delete) and a [`SnapshotWriter`] (the engine that writes a run's data:
//! DataFusion's Parquet writer, Athena's `UNLOAD`).

use async_trait::async_trait;
use tracing::{info, warn};
use uuid::Uuid;

use super::{
    Fold, LateCheck, ListedObject, SNAPSHOT_COMMITS_PREFIX, SNAPSHOT_FORMAT, SNAPSHOTS_PREFIX,
    SnapshotCommit, SnapshotStep, snapshot_commit_key, snapshot_generation_of, snapshot_run,
    snapshot_run_prefix, snapshot_step,
};
use crate::lake::READINGS_PREFIX;
use crate::ledger::LedgerStore;
use crate::ports::PortError;

const OPERATION: &str = "planning snapshot";

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When the store last wrote it, epoch seconds on the store's own clock.
    pub modified: i64,
}

/// Where snapshot generations live: the ledger's object operations, plus listings with sizes and
/// times, and deletion.
#[async_trait]
pub trait SnapshotStore: LedgerStore {
    /// Every object under `prefix`, sorted by key.
    async fn objects(&self, prefix: &str) -> Result<Vec<StoredObject>, PortError>;
    /// Objects under `prefix` in `dt=` partitions at or after `min_dt`, sorted by key; earlier
    /// partitions are not listed at all.
    async fn objects_since(
        &self,
        prefix: &str,
        min_dt: &str,
    ) -> Result<Vec<StoredObject>, PortError>;
    /// Deletes `keys`; a key already gone is no error.
    async fn delete(&self, keys: Vec<String>) -> Result<(), PortError>;
}

/// What an engine wrote for a fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Written<R> {
    /// Where the generation's data is, as the engine reads it back: one object, or the run
    /// prefix.
    pub data_key: String,
    /// Rows written (store and product pairs), when the engine reports them.
    pub rows: Option<u64>,
    /// Raw readings folded in, when the engine reports them.
    pub folded_readings: Option<u64>,
    /// What else the engine measured (bytes scanned, rows left out).
    pub report: R,
}

/// The engine side of a fold: writes generation `fold.generation`'s data under
/// [`snapshot_run_prefix`]`(run)`, from the raw partitions of `fold` and the `previous`
/// generation's data. It writes nothing else; a run that fails is discarded by the protocol.
#[async_trait]
pub trait SnapshotWriter: Send + Sync {
    /// The engine's own measurements of a fold.
    type Report: Default + Send;

    /// Writes one run's data.
    async fn write(
        &self,
        fold: &Fold,
        run: &str,
        previous: Option<&SnapshotCommit>,
    ) -> Result<Written<Self::Report>, PortError>;
}

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Nothing within the window is closed yet: the run scans the lake.
    Scan,
    /// The current generation already reaches the watermark.
    UpToDate,
    /// This run committed a new generation.
    Committed,
    /// Another run committed the generation first; this one adopted it.
    Adopted,
}

/// The generation a run plans over, how it came to be, and the writer's report of this run's
/// fold (the default when it folded nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed<R> {
    /// The generation to plan over; none for [`Refresh::Scan`].
    pub commit: Option<SnapshotCommit>,
    /// How the run came by it: folded and committed, adopted, already current, or none.
    pub how: Refresh,
    /// What the writer measured.
    pub report: R,
}

/// The snapshot generations in one store.
#[derive(Debug, Clone)]
pub struct Snapshots<S> {
    store: S,
}

fn bad_commit(key: &str, e: serde_json::Error) -> PortError {
    PortError::permanent(OPERATION, format!("{key} is not a snapshot commit: {e}"), e)
}

impl<S: SnapshotStore> Snapshots<S> {
    /// The snapshots in `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The latest committed generation, if any.
    pub async fn current(&self) -> Result<Option<SnapshotCommit>, PortError> {
        let commits = self.store.objects(SNAPSHOT_COMMITS_PREFIX).await?;
        let Some(last) = commits.iter().rfind(|o| o.key.ends_with(".json")) else {
            return Ok(None);
        };
        let Some((key, bytes)) = self.store.get_all(vec![last.key.clone()]).await?.pop() else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| bad_commit(&key, e))
    }

    /// Brings the snapshot up to the watermark of `now` for a window starting in partition
    /// `window_dt`: folds with `writer` when hours have closed or late objects landed, commits,
    /// or adopts the generation another run committed first.
    pub async fn refresh<W: SnapshotWriter>(
        &self,
        now: i64,
        window_dt: &str,
        writer: &W,
    ) -> Result<Refreshed<W::Report>, PortError> {
        let current = self.current().await?;
        // Listed before anything is read: every object listed here is folded by this run, and
        // one that is not (a late delivery into a folded hour) is found by the next.
        let list_from = LateCheck::list_from(current.as_ref(), now, window_dt);
        let listing: Vec<ListedObject> = self
            .store
            .objects_since(READINGS_PREFIX, &list_from)
            .await?
            .into_iter()
            .map(|o| ListedObject {
                key: o.key,
                modified: o.modified,
            })
            .collect();
        let late = LateCheck::partitions(current.as_ref(), &listing);
        if !late.is_empty() {
            info!(
                ?late,
                "objects arrived in folded hours; folding those hours again"
            );
        }
        let fold = match snapshot_step(current.as_ref(), now, window_dt, late) {
            SnapshotStep::Current(c) => return Ok(refreshed(Some(c), Refresh::UpToDate)),
            SnapshotStep::Scan => return Ok(refreshed(None, Refresh::Scan)),
            SnapshotStep::Fold(fold) => fold,
        };
        let run = snapshot_run(fold.generation, Uuid::new_v4());
        // A generation of an older layout is not built on (see `snapshot_step`).
        let previous = current.as_ref().filter(|c| c.format >= SNAPSHOT_FORMAT);
        let written = match writer.write(&fold, &run, previous).await {
            Ok(written) => written,
            Err(e) => {
                // A stopped or failed write may have left part of the run: remove it (it is
                // never read either way, as nothing commits it).
                self.discard(&run).await;
                return Err(e);
            }
        };
        let data_bytes = self.run_bytes(&run).await?;
        let seen = LateCheck::seen(&listing, &fold.watermark);
        let (commit, how) = self
            .commit(SnapshotCommit {
                format: SNAPSHOT_FORMAT,
                generation: fold.generation,
                watermark: fold.watermark,
                covers_from: fold.covers_from,
                run,
                data_key: written.data_key,
                data_bytes,
                rows: written.rows,
                folded_readings: written.folded_readings,
                created_at: now,
                seen: Some(seen),
            })
            .await?;
        Ok(Refreshed {
            commit: Some(commit),
            how,
            report: written.report,
        })
    }

    /// The bytes of a run's data.
    pub async fn run_bytes(&self, run: &str) -> Result<u64, PortError> {
        let objects = self.store.objects(&snapshot_run_prefix(run)).await?;
        Ok(objects.iter().map(|o| o.size).sum())
    }

    /// Commits `commit` unless another run committed its generation first; then this run's data
    /// is deleted and the winner's commit returned.
    pub async fn commit(
        &self,
        commit: SnapshotCommit,
    ) -> Result<(SnapshotCommit, Refresh), PortError> {
        let key = snapshot_commit_key(commit.generation);
        let record = serde_json::to_vec(&commit)
            .map_err(|e| PortError::permanent(OPERATION, "cannot encode the commit", e))?;
        match self.store.create(&key, record).await? {
            None => {
                info!(generation = commit.generation, run = %commit.run, "snapshot committed");
                self.collect_garbage(commit.generation).await;
                Ok((commit, Refresh::Committed))
            }
            Some(existing) => {
                let winner: SnapshotCommit =
                    serde_json::from_slice(&existing).map_err(|e| bad_commit(&key, e))?;
                info!(generation = winner.generation, run = %winner.run, "another planner committed this generation first; adopting it");
                self.discard(&commit.run).await;
                Ok((winner, Refresh::Adopted))
            }
        }
    }

    /// Deletes the data of an uncommitted run (lost a race, stopped or failed part-way). A
    /// failure is logged, not returned: an uncommitted run is never read.
    pub async fn discard(&self, run: &str) {
        let own = match self.store.objects(&snapshot_run_prefix(run)).await {
            Ok(objects) => objects.into_iter().map(|o| o.key).collect::<Vec<_>>(),
            Err(e) => {
                warn!(error = %e, run, "could not list an uncommitted snapshot run; it is never read");
                return;
            }
        };
        if let Err(e) = self.store.delete(own).await {
            warn!(error = %e, run, "could not delete an uncommitted snapshot run; it is never read");
        }
    }

    /// Deletes the data of generations older than the one before `current` (a planner may still
    /// be reading that one). Commit records stay: they are tiny and keep generations unique. A
    /// failure is logged, not returned: the data is unreferenced either way.
    async fn collect_garbage(&self, current: u64) {
        let old = match self.store.objects(SNAPSHOTS_PREFIX).await {
            Ok(objects) => objects
                .into_iter()
                .filter(|o| snapshot_generation_of(&o.key).is_some_and(|g| g + 1 < current))
                .map(|o| o.key)
                .collect::<Vec<_>>(),
            Err(e) => {
                warn!(error = %e, "could not list old snapshot data");
                return;
            }
        };
        if let Err(e) = self.store.delete(old).await {
            warn!(error = %e, "could not delete old snapshot data");
        }
    }
}

fn refreshed<R: Default>(commit: Option<SnapshotCommit>, how: Refresh) -> Refreshed<R> {
    Refreshed {
        commit,
        how,
        report: R::default(),
    }
}
