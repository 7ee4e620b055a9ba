//! The compacted latest-state snapshot in the lake bucket, for the Athena planner.
//!
//! The protocol is [`store_model::snapshot::Snapshots`], the same as the lake folder's: a
//! generation's data is written by one run under `snapshots/latest/run=<generation>-<uuid>/` (here
//! by Athena's `UNLOAD`), and the generation exists once `_commits/<generation>.json` does. The
//! commit is a conditional `PutObject` (`If-None-Match: *`), so of two planners compacting at once
//! exactly one commits; the other deletes its own data and plans over the winner's. Queries name
//! the committed run in the snapshot table's injected `run` partition, so uncommitted or
//! superseded data is never read.

use std::ops::Deref;

use async_trait::async_trait;
use store_model::lake::{PARTITION_COLUMN, partition_of};
use store_model::ports::PortError;
use store_model::snapshot::{SNAPSHOT_PARTITION_COLUMN, SnapshotStore, Snapshots, StoredObject};

use crate::S3Objects;

/// The snapshot generations in the lake bucket, and the Glue table over them.
#[derive(Debug, Clone)]
pub struct S3Snapshots {
    snapshots: Snapshots<S3Objects>,
    table: String,
}

impl S3Snapshots {
    /// The snapshots in `objects`' bucket, read through the Glue table `table`.
    pub fn new(objects: S3Objects, table: impl Into<String>) -> Self {
        Self {
            snapshots: Snapshots::new(objects),
            table: table.into(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        self.snapshots.store().bucket()
    }

    /// The snapshot table as a query source naming one run: the run is the source's only `?`,
    /// which the injected partition projection turns into the run's location.
    pub fn source(&self) -> String {
        format!(
            "(SELECT * FROM \"{}\" WHERE {SNAPSHOT_PARTITION_COLUMN} = ?) snapshot",
            self.table
        )
    }
}

impl Deref for S3Snapshots {
    type Target = Snapshots<S3Objects>;

    fn deref(&self) -> &Self::Target {
        &self.snapshots
    }
}

#[async_trait]
impl SnapshotStore for S3Objects {
    async fn objects(&self, prefix: &str) -> Result<Vec<StoredObject>, PortError> {
        self.list_stored(prefix, None).await
    }

    async fn objects_since(
        &self,
        prefix: &str,
        min_dt: &str,
    ) -> Result<Vec<StoredObject>, PortError> {
        // Keys sort like partitions: start just before the first key of `dt=<min_dt>`.
        let start_after = format!("{prefix}{PARTITION_COLUMN}={min_dt}");
        let mut objects = self.list_stored(prefix, Some(&start_after)).await?;
        objects.retain(|o| partition_of(&o.key).is_some_and(|dt| dt >= min_dt));
        Ok(objects)
    }

    async fn delete(&self, keys: Vec<String>) -> Result<(), PortError> {
        S3Objects::delete(self, &keys).await
    }
}
