//! The AWS adapters of the ports: Firehose, Athena, SQS and S3.
//!
//! Each adapter implements one port trait of `store-model` and converts between the SDK's types
//! and the domain's at its edge, so nothing above it knows it talks to AWS. All clients come from
//! one SDK configuration per process (`store-runtime` loads it: region, retries, timeouts, optional
//! endpoint), which is also how the tests point them at a local AWS API server. Depends on
//! `store-model` and the AWS SDK only.
//!
//! | port | adapter |
//! |---|---|
//! | reading sink | [`FirehoseReadingSink`]: `PutRecordBatch`, partial failures retried, the rest spooled |
//! | inventory query | [`AthenaInventoryQuery`]: parameters, polling with backoff, every result page |
//! | alert queue | [`SqsAlertQueue`]: batch send and delete, long poll, receive counts, dead letters |
//! | ledger | [`S3Ledger`]: conditional writes (`If-None-Match`), paginated listings |

pub mod athena;
pub mod clients;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
mod errors;
pub mod firehose;
#[cfg(feature = "lake-object-store")]
pub mod lake_store;
pub mod s3;
pub mod snapshot;
pub mod sqs;

pub use athena::{AthenaConfig, AthenaInventoryQuery};
pub use clients::AwsClients;
#[cfg(feature = "cloudwatch")]
pub use cloudwatch::CloudWatchMetrics;
pub use firehose::{FirehoseReadingSink, FirehoseSinkConfig};
pub use s3::{S3Ledger, S3Objects};
pub use snapshot::S3Snapshots;
pub use sqs::SqsAlertQueue;
