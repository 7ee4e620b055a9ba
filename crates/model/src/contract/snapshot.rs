//! Snapshot store cases: the one protocol ([`Snapshots`]) over each store.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::lake::{READINGS_PREFIX, dt_partition};
use crate::ports::{ErrorKind, PortError};
use crate::snapshot::{
    Fold, Refresh, SNAPSHOT_COMMITS_PREFIX, SNAPSHOT_FORMAT, SNAPSHOTS_PREFIX, SnapshotCommit,
    SnapshotStore, SnapshotWriter, Snapshots, Written, snapshot_run_prefix,
};

/// Writes four bytes of data for each run, or writes them and then fails.
struct TestWriter<'s, S> {
    store: &'s S,
    fail: bool,
    calls: AtomicUsize,
}

#[async_trait]
impl<S: SnapshotStore> SnapshotWriter for TestWriter<'_, S> {
    type Report = usize;

    async fn write(
        &self,
        fold: &Fold,
        run: &str,
        _previous: Option<&SnapshotCommit>,
    ) -> Result<Written<usize>, PortError> {
        let calls = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let data_key = format!("{}part-0.parquet", snapshot_run_prefix(run));
        self.store.put(&data_key, b"PAR1".to_vec()).await?;
        if self.fail {
            return Err(PortError::new(
                ErrorKind::Permanent,
                "test fold",
                "the engine failed",
            ));
        }
        Ok(Written {
            data_key,
            rows: Some(fold.generation),
            folded_readings: None,
            report: calls,
        })
    }
}

async fn keys<S: SnapshotStore>(store: &S, prefix: &str) -> Vec<String> {
    let objects = store.objects(prefix).await.expect("list");
    objects.into_iter().map(|o| o.key).collect()
}

/// Snapshot store: a refresh folds and commits generation 1, the next refresh in the same hour
/// writes nothing, a failed fold leaves no data and no commit, of two commits of one generation
/// the first wins and the second adopts it (its data deleted), and a commit collects the data of
/// generations older than the one before it while every commit record stays. Listings since a
/// partition leave earlier partitions out and report sizes.
pub async fn snapshot_store_commits_each_generation_once_and_collects_old_runs<S>(store: S)
where
    S: SnapshotStore + Clone,
{
    let now = 1_764_000_000;
    let window_dt = dt_partition(now - 24 * 3600);
    let snapshots = Snapshots::new(store.clone());
    assert_eq!(snapshots.current().await.expect("current"), None);
    let writer = |fail| TestWriter {
        store: &store,
        fail,
        calls: AtomicUsize::new(0),
    };

    let first = writer(false);
    let done = snapshots.refresh(now, &window_dt, &first).await.unwrap();
    assert_eq!((done.how, done.report), (Refresh::Committed, 1));
    let one = done.commit.expect("generation 1");
    assert_eq!((one.generation, one.data_bytes, one.rows), (1, 4, Some(1)));
    assert_eq!(snapshots.current().await.unwrap().as_ref(), Some(&one));

    let again = snapshots
        .refresh(now + 60, &window_dt, &first)
        .await
        .unwrap();
    assert_eq!(
        (again.how, again.commit.as_ref()),
        (Refresh::UpToDate, Some(&one))
    );
    assert_eq!(first.calls.load(Ordering::SeqCst), 1, "nothing new to fold");

    let failing = writer(true);
    let later = now + 2 * 3600;
    assert!(
        snapshots
            .refresh(later, &window_dt, &failing)
            .await
            .is_err()
    );
    let data = keys(&store, SNAPSHOTS_PREFIX).await;
    assert_eq!(
        data.iter()
            .filter(|k| !k.starts_with(SNAPSHOT_COMMITS_PREFIX))
            .count(),
        1,
        "the failed run's data is discarded: {data:?}"
    );
    assert_eq!(snapshots.current().await.unwrap().as_ref(), Some(&one));

    // Two runs commit generation 2: the first wins, the second adopts it.
    let generation_2 = |run: &str| SnapshotCommit {
        format: SNAPSHOT_FORMAT,
        generation: 2,
        run: format!("000000000002-{run}"),
        data_key: snapshot_run_prefix(&format!("000000000002-{run}")),
        ..one.clone()
    };
    let (winner, loser) = (generation_2("winner"), generation_2("loser"));
    for c in [&winner, &loser] {
        let key = format!("{}part-0.parquet", c.data_key);
        store.put(&key, b"PAR1".to_vec()).await.unwrap();
    }
    assert_eq!(
        snapshots.commit(winner.clone()).await.unwrap(),
        (winner.clone(), Refresh::Committed)
    );
    assert_eq!(
        snapshots.commit(loser.clone()).await.unwrap(),
        (winner.clone(), Refresh::Adopted)
    );
    assert!(
        keys(&store, &loser.data_key).await.is_empty(),
        "the loser's data is deleted"
    );
    assert_eq!(snapshots.current().await.unwrap().as_ref(), Some(&winner));

    // Generation 3 collects generation 1's data and keeps generation 2's (it may be being read).
    let third = writer(false);
    let done = snapshots
        .refresh(now + 4 * 3600, &window_dt, &third)
        .await
        .unwrap();
    assert_eq!(done.how, Refresh::Committed);
    assert_eq!(done.commit.map(|c| c.generation), Some(3));
    assert!(
        keys(&store, &one.data_key).await.is_empty(),
        "generation 1 is collected"
    );
    assert_eq!(keys(&store, &winner.data_key).await.len(), 1);
    assert_eq!(
        keys(&store, SNAPSHOT_COMMITS_PREFIX).await.len(),
        3,
        "commit records stay"
    );

    // Listing since a partition.
    for (dt, bytes) in [("2025-11-23-10", 3), ("2025-11-24-10", 5)] {
        let key = format!("{READINGS_PREFIX}dt={dt}/object-{dt}.json");
        store.put(&key, vec![b'x'; bytes]).await.unwrap();
    }
    let since = store
        .objects_since(READINGS_PREFIX, "2025-11-24-00")
        .await
        .unwrap();
    let listed: Vec<(&str, u64)> = since.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(
        listed,
        [("readings/dt=2025-11-24-10/object-2025-11-24-10.json", 5)]
    );
    assert!(since[0].modified > 0, "a listing carries write times");
}
