//! The compacted latest-state snapshot that makes a planning run cost what the new data costs:
//! its layout (run and commit keys), its rules (when to fold, which late objects to fold again)
//! and, in [`protocol`], the one state machine both stores follow. Depends on `lake` (keys and
//! partitions) and `ports` (errors); no I/O of its own.

mod protocol;

pub use protocol::{
    Refresh, Refreshed, SnapshotStore, SnapshotWriter, Snapshots, StoredObject, Written,
};

use uuid::Uuid;

use crate::lake::{dt_partition, partition_of};

/// Where the compacted latest-state snapshots live.
pub const SNAPSHOTS_PREFIX: &str = "snapshots/latest/";

/// How long after an arrival hour ends objects may still land in it: Firehose's longest
/// buffering interval (900 s) with a margin.
pub const SETTLE_SECONDS: i64 = 20 * 60;

/// The snapshot watermark at `now`: every `dt` partition before it is closed (its hour ended more
/// than [`SETTLE_SECONDS`] ago) and can be folded into the snapshot; partitions from it on are
/// read raw.
pub fn snapshot_watermark(now: i64) -> String {
    dt_partition(now - SETTLE_SECONDS)
}

/// The name of one snapshot generation's data: its generation, zero-padded so names sort like
/// generations, and the id of the run that wrote it (two planners may write the same generation
/// at once; only the committed run's data is ever read).
pub fn snapshot_run(generation: u64, id: Uuid) -> String {
    format!("{generation:012}-{id}")
}

/// The prefix holding a run's data: `snapshots/latest/run=000000000042-<uuid>/`. The snapshot
/// table's `run` column is projected from this path, so a query names exactly one run.
pub fn snapshot_run_prefix(run: &str) -> String {
    format!("{SNAPSHOTS_PREFIX}{SNAPSHOT_PARTITION_COLUMN}={run}/")
}

/// The key of a snapshot's data in a lake folder: one Parquet object under its run prefix.
pub fn snapshot_data_key(run: &str) -> String {
    format!("{}part-0.parquet", snapshot_run_prefix(run))
}

/// The generation of a snapshot data key (`snapshots/latest/run=000000000042-…/…` is 42).
pub fn snapshot_generation_of(key: &str) -> Option<u64> {
    let run = key
        .split('/')
        .find_map(|s| s.strip_prefix(&format!("{SNAPSHOT_PARTITION_COLUMN}=")))?;
    run.get(..12)?.parse().ok()
}

/// The key of a snapshot's commit record, created if absent: the generation exists once this
/// object does, so of two planners compacting at once exactly one commits each generation.
pub fn snapshot_commit_key(generation: u64) -> String {
    format!("{SNAPSHOTS_PREFIX}_commits/{generation:012}.json")
}

/// The prefix of the commit records.
pub const SNAPSHOT_COMMITS_PREFIX: &str = "snapshots/latest/_commits/";

/// The snapshot table (Glue), over every run's data under [`SNAPSHOTS_PREFIX`].
pub const SNAPSHOT_TABLE: &str = "latest_snapshot";

/// The snapshot table's partition column: the run, projected from the path and named by every
/// query, so a query reads one committed run and nothing else.
pub const SNAPSHOT_PARTITION_COLUMN: &str = "run";

/// The layout of the snapshot's data this code writes and reads. A generation of an older
/// layout is never read: the next fold starts a new one from the raw partitions.
///
/// 1: the latest reading; 2: and the shelf's demand state (`fc_*`).
pub const SNAPSHOT_FORMAT: u32 = 2;

fn first_format() -> u32 {
    1
}

/// A committed snapshot: one row per store and product, the latest reading of every `dt`
/// partition before `watermark`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotCommit {
    /// The data's layout ([`SNAPSHOT_FORMAT`]); 1 for a generation that names none.
    #[serde(default = "first_format")]
    pub format: u32,
    /// Generation, from 1.
    pub generation: u64,
    /// Partitions before this one are folded in.
    pub watermark: String,
    /// ... from this one on: a run whose window reaches further back scans the lake instead.
    pub covers_from: String,
    /// The run whose data this generation is ([`snapshot_run`]).
    pub run: String,
    /// The data: the object (lake folder) or the run prefix (bucket).
    pub data_key: String,
    /// Its size.
    pub data_bytes: u64,
    /// Rows (store and product pairs), when the engine reports them (Athena's UNLOAD does not).
    pub rows: Option<u64>,
    /// Readings folded into this generation from raw partitions, when the engine reports them.
    pub folded_readings: Option<u64>,
    /// When it was written, epoch seconds.
    pub created_at: i64,
    /// What the fold had seen of the raw objects it is answerable for (see [`LateCheck`]); absent
    /// in generations written before late objects were looked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<SeenObjects>,
}

/// A raw object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key.
    pub key: String,
    /// When the store last wrote it, epoch seconds on the store's own clock.
    pub modified: i64,
}

/// The newest raw objects a fold listed before it read the lake, in the partitions it answers
/// for: everything it listed was folded, so an object in those partitions that is newer than
/// `through` (less [`LATE_SLACK_SECONDS`]) and not among `recent` arrived after the fold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeenObjects {
    /// The latest modification time listed, epoch seconds on the store's clock.
    pub through: i64,
    /// The keys listed with a modification time within the slack before `through`.
    pub recent: Vec<String>,
}

/// Objects modified this close before the newest one listed may still become visible after it
/// (a write's time is when it started): they are told apart by key, not by time.
pub const LATE_SLACK_SECONDS: i64 = 300;

/// How far back late objects are looked for: Firehose retries delivery to S3 for up to 24 hours
/// and names the object after its arrival hour, so an object can land in an hour folded a day ago.
pub const LATE_HORIZON_SECONDS: i64 = 25 * 3600;

/// Late objects: raw objects that landed in partitions a generation had already folded.
pub struct LateCheck;

impl LateCheck {
    /// The first partition a run at `now` lists before it folds: the partitions a generation
    /// answers for (from `current`'s `covers_from`, or the window's start for a first fold)
    /// within [`LATE_HORIZON_SECONDS`].
    pub fn list_from(current: Option<&SnapshotCommit>, now: i64, window_dt: &str) -> String {
        let covers_from = current.map_or(window_dt, |c| c.covers_from.as_str());
        dt_partition(now - LATE_HORIZON_SECONDS).max(covers_from.to_owned())
    }

    /// The partitions below `current`'s watermark holding objects it has not folded, sorted
    /// (none without a generation, or for one that did not record what it saw).
    pub fn partitions(current: Option<&SnapshotCommit>, listing: &[ListedObject]) -> Vec<String> {
        let Some((current, seen)) = current.and_then(|c| Some((c, c.seen.as_ref()?))) else {
            return Vec::new();
        };
        let mut late: Vec<String> = listing
            .iter()
            .filter(|o| o.modified > seen.through - LATE_SLACK_SECONDS)
            .filter(|o| !seen.recent.contains(&o.key))
            .filter_map(|o| partition_of(&o.key))
            .filter(|dt| *dt >= current.covers_from.as_str() && *dt < current.watermark.as_str())
            .map(str::to_owned)
            .collect();
        late.sort();
        late.dedup();
        late
    }

    /// What a fold to `watermark` has seen, from the listing it took before reading.
    pub fn seen(listing: &[ListedObject], watermark: &str) -> SeenObjects {
        let folded: Vec<&ListedObject> = listing
            .iter()
            .filter(|o| partition_of(&o.key).is_some_and(|dt| dt < watermark))
            .collect();
        let through = folded.iter().map(|o| o.modified).max().unwrap_or(0);
        SeenObjects {
            through,
            recent: folded
                .iter()
                .filter(|o| o.modified > through - LATE_SLACK_SECONDS)
                .map(|o| o.key.clone())
                .collect(),
        }
    }
}

/// A new generation to write: the raw partitions `[from, watermark)` and the current generation,
/// when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// The new generation.
    pub generation: u64,
    /// The first partition to fold.
    pub from: String,
    /// The partition the new generation reaches (exclusive).
    pub watermark: String,
    /// The first partition the new generation covers.
    pub covers_from: String,
    /// Partitions below `from` that the current generation folded but that received objects
    /// since: folded again (folding a reading twice changes nothing: the latest reading stays
    /// the same, and only readings after the previous latest count as sales).
    pub late: Vec<String>,
}

impl Fold {
    /// The first second of the watermark's hour: the demand state's `fc_at` after this fold
    /// (0 for a watermark that is not a partition, which [`snapshot_step`] never makes).
    pub fn at(&self) -> i64 {
        crate::lake::partition_start(&self.watermark).unwrap_or(0)
    }
}

/// What a planning run does about the snapshot before it plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStep {
    /// The current generation reaches the watermark: plan over it.
    Current(SnapshotCommit),
    /// Fold raw partitions into a new generation, then plan over it.
    Fold(Fold),
    /// Nothing is closed yet within the window: scan the lake.
    Scan,
}

/// The step for a run at `now` whose window starts in partition `window_dt`, given the latest
/// committed generation and the partitions it folded that have received objects since
/// ([`LateCheck::partitions`]). One rule for the lake folder and the bucket.
pub fn snapshot_step(
    current: Option<&SnapshotCommit>,
    now: i64,
    window_dt: &str,
    late: Vec<String>,
) -> SnapshotStep {
    let watermark = snapshot_watermark(now);
    let (from, covers_from, generation) = match current {
        // A generation of an older layout is not built on: start again from the window.
        Some(c) if c.format < SNAPSHOT_FORMAT => {
            (window_dt.to_owned(), window_dt.to_owned(), c.generation + 1)
        }
        Some(c) if c.watermark >= watermark => {
            if late.is_empty() {
                return SnapshotStep::Current(c.clone());
            }
            // Only late objects to fold: the watermark stays where it is.
            return SnapshotStep::Fold(Fold {
                generation: c.generation + 1,
                from: c.watermark.clone(),
                watermark: c.watermark.clone(),
                covers_from: c.covers_from.clone(),
                late,
            });
        }
        Some(c) => (c.watermark.clone(), c.covers_from.clone(), c.generation + 1),
        None => (window_dt.to_owned(), window_dt.to_owned(), 1),
    };
    if from >= watermark {
        return SnapshotStep::Scan;
    }
    SnapshotStep::Fold(Fold {
        generation,
        from,
        watermark,
        covers_from,
        late,
    })
}

/// Whether a generation can answer a window starting in partition `window_dt`.
pub fn snapshot_covers(commit: &SnapshotCommit, window_dt: &str) -> bool {
    commit.covers_from.as_str() <= window_dt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_runs_sort_by_generation_and_name_their_generation() {
        let run = snapshot_run(42, Uuid::nil());
        let key = snapshot_data_key(&run);
        assert_eq!(
            key,
            "snapshots/latest/run=000000000042-00000000-0000-0000-0000-000000000000/part-0.parquet"
        );
        assert_eq!(snapshot_generation_of(&key), Some(42));
        assert_eq!(snapshot_generation_of(&snapshot_commit_key(42)), None);
        assert!(snapshot_run(9, Uuid::max()) < snapshot_run(10, Uuid::nil()));
    }

    #[test]
    fn snapshot_steps_fold_closed_hours_once() {
        let now = 1_764_165_600 + 3 * 3600 + 30 * 60; // 03:30 on some day
        let window = dt_partition(now - 24 * 3600);
        let SnapshotStep::Fold(Fold {
            generation,
            from,
            watermark,
            covers_from,
            ..
        }) = snapshot_step(None, now, &window, vec![])
        else {
            panic!("a first run folds");
        };
        assert_eq!((generation, &from, &covers_from), (1, &window, &window));
        assert_eq!(watermark, dt_partition(now - SETTLE_SECONDS));
        let commit = SnapshotCommit {
            format: SNAPSHOT_FORMAT,
            generation,
            watermark: watermark.clone(),
            covers_from,
            run: snapshot_run(1, Uuid::nil()),
            data_key: String::new(),
            data_bytes: 0,
            rows: None,
            folded_readings: None,
            created_at: now,
            seen: None,
        };
        assert_eq!(
            snapshot_step(Some(&commit), now + 60, &window, vec![]),
            SnapshotStep::Current(commit.clone())
        );
        let later = snapshot_step(Some(&commit), now + 3600, &window, vec![]);
        assert!(
            matches!(&later, SnapshotStep::Fold(f) if f.generation == 2 && f.from == watermark),
            "{later:?}"
        );
        assert!(snapshot_covers(&commit, &window));
        assert!(!snapshot_covers(&commit, &dt_partition(now - 48 * 3600)));
        // Within the first 20 minutes of the window's own hour nothing is closed yet.
        let fresh = dt_partition(now);
        assert_eq!(snapshot_step(None, now, &fresh, vec![]), SnapshotStep::Scan);
        // Late objects in a folded hour make a generation of their own, same watermark.
        let late = vec![window.clone()];
        assert_eq!(
            snapshot_step(Some(&commit), now + 60, &window, late.clone()),
            SnapshotStep::Fold(Fold {
                generation: 2,
                from: watermark.clone(),
                watermark: watermark.clone(),
                covers_from: window.clone(),
                late,
            })
        );
    }

    #[test]
    fn late_objects_are_those_a_fold_did_not_list() {
        let object = |dt: &str, name: &str, modified: i64| ListedObject {
            key: format!("readings/dt={dt}/{name}.json"),
            modified,
        };
        let t = 1_764_000_000;
        let listing = vec![
            object("2025-11-24-14", "a", t - 3600),
            object("2025-11-24-15", "b", t - 100),
            object("2025-11-24-15", "c", t),
            object("2025-11-24-16", "open", t + 10),
        ];
        let seen = LateCheck::seen(&listing, "2025-11-24-16");
        assert_eq!(seen.through, t, "the open hour is not the fold's");
        assert_eq!(seen.recent.len(), 2, "b and c lie within the slack");
        let commit = SnapshotCommit {
            format: SNAPSHOT_FORMAT,
            generation: 3,
            watermark: "2025-11-24-16".into(),
            covers_from: "2025-11-24-10".into(),
            run: snapshot_run(3, Uuid::nil()),
            data_key: String::new(),
            data_bytes: 0,
            rows: None,
            folded_readings: None,
            created_at: t,
            seen: Some(seen),
        };
        let mut later = listing.clone();
        // Firehose delivers a retried object into hour 14, and one lands whose time is before
        // the newest listed (its write began earlier) but that the fold did not list.
        later.push(object("2025-11-24-14", "retried", t + 900));
        later.push(object("2025-11-24-15", "slow", t - 5));
        later.push(object("2025-11-24-17", "newer-open", t + 950));
        assert_eq!(
            LateCheck::partitions(Some(&commit), &later),
            ["2025-11-24-14", "2025-11-24-15"]
        );
        assert!(LateCheck::partitions(Some(&commit), &listing).is_empty());
        let unknown = SnapshotCommit {
            format: SNAPSHOT_FORMAT,
            seen: None,
            ..commit
        };
        assert!(LateCheck::partitions(Some(&unknown), &later).is_empty());
        assert_eq!(
            LateCheck::list_from(Some(&unknown), t, "x"),
            "2025-11-24-10"
        );
        assert_eq!(
            LateCheck::list_from(None, t, "2025-11-01-00"),
            "2025-11-23-15"
        );
    }
}
