//! Where the AWS resources are, and the one SDK configuration every client is built from.
//!
//! The names come from the stack's outputs (see `store-infra`), passed as flags or as the
//! environment variables in [`env`], which the infra code writes under the same names. The SDK
//! configuration is loaded once per process, like cargo-lambda's `sdk_config()`: region (required),
//! standard retries, timeouts, and an optional endpoint for an AWS-compatible server.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The environment variable names the apps read and the infra code writes.
pub mod env {
    /// AWS region (the SDK's own name).
    pub const REGION: &str = "AWS_REGION";
    /// Endpoint of an AWS-compatible server, e.g. `http://127.0.0.1:5000` (the SDK's own name).
    pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    /// The lake bucket.
    pub const LAKE_BUCKET: &str = "STORE_LAKE_BUCKET";
    /// The Firehose delivery stream readings are put to.
    pub const DELIVERY_STREAM: &str = "STORE_DELIVERY_STREAM";
    /// URL of the alert queue.
    pub const ALERT_QUEUE_URL: &str = "STORE_ALERT_QUEUE_URL";
    /// URL of the alert queue's dead-letter queue.
    pub const DEAD_LETTER_QUEUE_URL: &str = "STORE_DEAD_LETTER_QUEUE_URL";
    /// The Athena workgroup the planning query runs in.
    pub const ATHENA_WORKGROUP: &str = "STORE_ATHENA_WORKGROUP";
    /// The Glue database holding the readings table.
    pub const GLUE_DATABASE: &str = "STORE_GLUE_DATABASE";
    /// The readings table.
    pub const READINGS_TABLE: &str = "STORE_READINGS_TABLE";
    /// Where Athena writes results, when the workgroup does not enforce its own.
    pub const ATHENA_OUTPUT: &str = "STORE_ATHENA_OUTPUT";
    /// `athena` or `datafusion`: which engine runs the planning SQL on the AWS backend.
    pub const QUERY_ENGINE: &str = "STORE_QUERY_ENGINE";
    /// Where undeliverable readings are spooled for replay.
    pub const SPOOL_DIR: &str = "STORE_SPOOL_DIR";
}

/// Which engine runs the planning SQL on the AWS backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueryEngine {
    /// Athena over the Glue table (the default on AWS).
    #[default]
    Athena,
    /// DataFusion reading the S3 lake directly: no Athena needed, good for small lakes.
    Datafusion,
}

/// The AWS settings shared by the three apps. Each app requires the names it uses, through the
/// `require_*` methods, so a missing one is reported by its flag and variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsSettings {
    /// AWS region; required with `--backend aws` (or from the shared config file).
    #[arg(long, env = env::REGION, global = true)]
    pub region: Option<String>,
    /// Endpoint of an AWS-compatible API server, for every service (e.g. a local test server).
    #[arg(long, env = env::ENDPOINT_URL, global = true)]
    pub endpoint_url: Option<String>,
    /// The lake bucket (stack output `LakeBucketName`).
    #[arg(long, env = env::LAKE_BUCKET, global = true)]
    pub lake_bucket: Option<String>,
    /// The Firehose delivery stream (stack output `DeliveryStreamName`).
    #[arg(long, env = env::DELIVERY_STREAM, global = true)]
    pub delivery_stream: Option<String>,
    /// The alert queue URL (stack output `AlertQueueUrl`).
    #[arg(long, env = env::ALERT_QUEUE_URL, global = true)]
    pub alert_queue_url: Option<String>,
    /// The dead-letter queue URL (stack output `DeadLetterQueueUrl`).
    #[arg(long, env = env::DEAD_LETTER_QUEUE_URL, global = true)]
    pub dead_letter_queue_url: Option<String>,
    /// The Athena workgroup (stack output `AthenaWorkgroup`).
    #[arg(long, env = env::ATHENA_WORKGROUP, global = true)]
    pub athena_workgroup: Option<String>,
    /// The Glue database (stack output `GlueDatabase`).
    #[arg(long, env = env::GLUE_DATABASE, global = true)]
    pub glue_database: Option<String>,
    /// The readings table.
    #[arg(long, env = env::READINGS_TABLE, default_value = "readings", global = true)]
    pub readings_table: String,
    /// Athena's result location (`s3://…/`), when the workgroup does not enforce one.
    #[arg(long, env = env::ATHENA_OUTPUT, global = true)]
    pub athena_output: Option<String>,
    /// The engine that runs the planning SQL on the AWS backend.
    #[arg(long, env = env::QUERY_ENGINE, value_enum, default_value_t, global = true)]
    pub query_engine: QueryEngine,
}

/// A setting the chosen backend needs is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A required name is not set.
    #[error("`--{flag}` (or {env}) is required with --backend aws")]
    Missing {
        /// The flag.
        flag: &'static str,
        /// Its environment variable.
        env: &'static str,
    },
    /// No region was found in flags, environment or the shared config file.
    #[error("no AWS region: set --region or AWS_REGION (or a region in ~/.aws/config)")]
    NoRegion,
    /// A name does not have the shape AWS gives it.
    #[error("`--{flag}` is not valid: {reason}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// Why.
        reason: String,
    },
}

fn required<'a>(
    value: &'a Option<String>,
    flag: &'static str,
    env: &'static str,
) -> Result<&'a str, SettingsError> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .ok_or(SettingsError::Missing { flag, env })
}

impl AwsSettings {
    /// The lake bucket.
    pub fn require_lake_bucket(&self) -> Result<&str, SettingsError> {
        required(&self.lake_bucket, "lake-bucket", env::LAKE_BUCKET)
    }

    /// The delivery stream.
    pub fn require_delivery_stream(&self) -> Result<&str, SettingsError> {
        required(
            &self.delivery_stream,
            "delivery-stream",
            env::DELIVERY_STREAM,
        )
    }

    /// The alert queue URL.
    pub fn require_alert_queue_url(&self) -> Result<&str, SettingsError> {
        required(
            &self.alert_queue_url,
            "alert-queue-url",
            env::ALERT_QUEUE_URL,
        )
    }

    /// The dead-letter queue URL.
    pub fn require_dead_letter_queue_url(&self) -> Result<&str, SettingsError> {
        required(
            &self.dead_letter_queue_url,
            "dead-letter-queue-url",
            env::DEAD_LETTER_QUEUE_URL,
        )
    }

    /// The Athena workgroup.
    pub fn require_athena_workgroup(&self) -> Result<&str, SettingsError> {
        required(
            &self.athena_workgroup,
            "athena-workgroup",
            env::ATHENA_WORKGROUP,
        )
    }

    /// The Glue database.
    pub fn require_glue_database(&self) -> Result<&str, SettingsError> {
        required(&self.glue_database, "glue-database", env::GLUE_DATABASE)
    }

    /// The readings table name, checked to be a plain identifier (it is part of the SQL text).
    pub fn readings_table(&self) -> Result<&str, SettingsError> {
        let t = self.readings_table.as_str();
        let plain = !t.is_empty()
            && t.len() <= 255
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if plain {
            Ok(t)
        } else {
            Err(SettingsError::Invalid {
                flag: "readings-table",
                reason: format!("{t:?} must be lowercase letters, digits and underscores"),
            })
        }
    }
}

/// Per-attempt timeout; long enough for a 20-second SQS long poll.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the one SDK configuration of the process: region (required), standard retries with
/// backoff, connect and attempt timeouts, and the endpoint override when one is set.
pub async fn sdk_config(settings: &AwsSettings) -> Result<SdkConfig, SettingsError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(100)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(endpoint) = settings.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(SettingsError::NoRegion);
    }
    Ok(config)
}

/// The service clients, built once from one [`SdkConfig`] and shared by the adapters.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// Firehose.
    pub firehose: aws_sdk_firehose::Client,
    /// Athena.
    pub athena: aws_sdk_athena::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// S3; path-style addressing when a custom endpoint is set, as local servers need.
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    /// Builds every client from `config`.
    pub fn new(config: &SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            firehose: aws_sdk_firehose::Client::new(config),
            athena: aws_sdk_athena::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_say_their_flag_and_variable() {
        let s = AwsSettings::default();
        let e = s.require_alert_queue_url().unwrap_err().to_string();
        assert!(e.contains("--alert-queue-url") && e.contains("STORE_ALERT_QUEUE_URL"));
        let blank = AwsSettings {
            lake_bucket: Some("  ".into()),
            ..AwsSettings::default()
        };
        assert!(blank.require_lake_bucket().is_err());
    }

    #[test]
    fn the_table_name_must_be_a_plain_identifier() {
        let mut s = AwsSettings {
            readings_table: "readings".into(),
            ..AwsSettings::default()
        };
        assert_eq!(s.readings_table().unwrap(), "readings");
        s.readings_table = "readings; DROP TABLE x".into();
        assert!(s.readings_table().is_err());
    }

    #[tokio::test]
    async fn region_and_endpoint_reach_the_sdk_config() {
        let s = AwsSettings {
            region: Some("eu-west-1".into()),
            endpoint_url: Some("http://127.0.0.1:1".into()),
            ..AwsSettings::default()
        };
        let config = sdk_config(&s).await.unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
    }
}
