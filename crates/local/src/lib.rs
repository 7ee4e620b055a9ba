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

pub mod firehose;
pub mod folder;
pub mod lake_check;
pub mod ledger;
pub mod max_by;
pub mod query;
pub mod queue;
pub mod schema;

pub use firehose::{FirehoseConfig, LocalFirehoseSink};
pub use folder::LakeFolder;
pub use ledger::FolderLedger;
pub use query::DataFusionInventoryQuery;
pub use queue::{QueueConfig, SqliteAlertQueue};

/// The bucket name used for the lake folder when none is configured.
pub const DEFAULT_BUCKET: &str = "store-inventory-lake";
