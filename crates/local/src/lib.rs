//! Embedded adapters: the whole pipeline on one machine, with no AWS account.
//!
//! Each type implements one port of `store-model` with an embedded engine that keeps the AWS
//! service's semantics:
//!
//! | port | adapter | stands in for |
//! |---|---|---|
//! | reading sink | [`LocalFirehoseSink`] | Kinesis Data Firehose writing to S3 |
//! | inventory query | [`DataFusionInventoryQuery`] | Athena over the Glue table |
//! | alert queue | [`SqliteAlertQueue`] | an SQS queue with a dead-letter queue |
//! | ledger | [`FolderLedger`] | ledger objects in S3 |
//!
//! The lake is a folder (`<data-dir>/s3/<bucket>/`) holding exactly the keys the S3 bucket would,
//! so data written by one backend reads the same way in the other.
//!
//! Depends on `store-model` only (and DataFusion, SQLite); the runtime picks it for `--backend local`.

pub mod firehose;
pub mod folder;
pub mod fuse;
pub mod lake_check;
pub mod ledger;
pub mod max_by;
pub mod ndjson;
pub mod query;
pub mod queue;
pub mod schema;
pub mod snapshot;

pub use firehose::{FirehoseConfig, LocalFirehoseSink};
pub use folder::LakeFolder;
pub use ledger::FolderLedger;
pub use query::DataFusionInventoryQuery;
pub use queue::{QueueConfig, SqliteAlertQueue};

/// The bucket name used for the lake folder when none is configured.
pub const DEFAULT_BUCKET: &str = "store-inventory-lake";

/// Where the embedded backend keeps everything: one folder, laid out as
///
/// ```text
/// <data-dir>/s3/<bucket>/…      the lake (readings, ledger, quarantine), same keys as S3
/// <data-dir>/queue/alerts.db    the alert queue and its dead letters
/// <data-dir>/state/             the planner's memory of checked objects
/// <data-dir>/rejects/           records `store-app send` refused, with the reasons
/// ```
#[derive(Debug, Clone)]
pub struct DataDir {
    root: std::path::PathBuf,
}

impl DataDir {
    /// The data folder at `root` (created on first use).
    pub fn new(root: impl Into<std::path::PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The lake bucket folder.
    pub fn lake(&self) -> std::io::Result<LakeFolder> {
        LakeFolder::open(&self.root, DEFAULT_BUCKET)
    }

    /// The alert queue database.
    pub fn queue_path(&self) -> std::path::PathBuf {
        self.root.join("queue").join("alerts.db")
    }

    /// The planner's state folder.
    pub fn state_dir(&self) -> std::path::PathBuf {
        self.root.join("state")
    }

    /// The folder of rejected input records.
    pub fn rejects_dir(&self) -> std::path::PathBuf {
        self.root.join("rejects")
    }

    /// The folder of readings a delivery stream did not take, kept for replay with `send`.
    pub fn spool_dir(&self) -> std::path::PathBuf {
        self.root.join("spool")
    }
}
