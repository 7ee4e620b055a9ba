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
    /// The snapshot table the Athena planner compacts into and plans over; empty for full scans.
    pub const SNAPSHOT_TABLE: &str = "STORE_SNAPSHOT_TABLE";
    /// Where Athena writes results, when the workgroup does not enforce its own.
    pub const ATHENA_OUTPUT: &str = "STORE_ATHENA_OUTPUT";
    /// `athena` or `datafusion`: which engine runs the planning SQL on the AWS backend.
    pub const QUERY_ENGINE: &str = "STORE_QUERY_ENGINE";
    /// `json` or `parquet`: the format of the reading objects the delivery stream writes.
    pub const LAKE_FORMAT: &str = "STORE_LAKE_FORMAT";
    /// A file of `NAME=value` lines (the stack outputs written by `scripts/deploy.sh`) filling
    /// in the names above that neither a flag nor the environment gives.
    pub const ENV_FILE: &str = "STORE_ENV_FILE";
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
    /// A file of `NAME=value` lines (e.g. the stack outputs from `scripts/deploy.sh`) for the
    /// settings below that no flag or variable sets.
    #[arg(long, env = env::ENV_FILE, global = true)]
    pub env_file: Option<std::path::PathBuf>,
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
    /// The readings table [default: readings].
    #[arg(long, env = env::READINGS_TABLE, global = true)]
    pub readings_table: Option<String>,
    /// The snapshot table the planner folds closed hours into and plans over, so a run scans
    /// the new data, not the history (Athena: a table in the lake bucket; the embedded engine
    /// keeps its snapshot in the data folder and only reads whether this is empty); empty:
    /// no snapshot, every run scans the whole window [default: latest_snapshot].
    #[arg(long, env = env::SNAPSHOT_TABLE, global = true)]
    pub snapshot_table: Option<String>,
    /// Athena's result location (`s3://…/`), when the workgroup does not enforce one.
    #[arg(long, env = env::ATHENA_OUTPUT, global = true)]
    pub athena_output: Option<String>,
    /// The engine that runs the planning SQL on the AWS backend [default: athena].
    #[arg(long, env = env::QUERY_ENGINE, value_enum, global = true)]
    pub query_engine: Option<QueryEngine>,
    /// Format of the reading objects in the bucket (stack output `LakeFormat`: `json` unless
    /// the delivery stream converts to Parquet); read by DataFusion over S3 [default: json].
    #[arg(long, env = env::LAKE_FORMAT, global = true)]
    pub lake_format: Option<store_model::ObjectFormat>,
}

/// The settings every app shares: which backend, where the embedded one keeps its data, and where
/// the AWS resources are.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendSettings {
    /// Where the embedded backend keeps the lake, queue and state (and the AWS backend its spool).
    #[arg(
        long,
        env = "STORE_DATA_DIR",
        default_value = "./store-data",
        global = true
    )]
    pub data_dir: std::path::PathBuf,
    /// `local` (embedded engines) or `aws`.
    #[arg(long, env = "STORE_BACKEND", default_value = "local", global = true)]
    pub backend: store_model::Backend,
    /// Where the AWS resources are (with `--backend aws`).
    #[command(flatten)]
    pub aws: AwsSettings,
}

/// The AWS side of a process: its settings completed from the env file, the one SDK
/// configuration, and the clients built from it.
#[derive(Debug, Clone)]
pub struct AwsConnection {
    /// The settings, env file applied.
    pub settings: AwsSettings,
    /// The SDK configuration.
    pub config: SdkConfig,
    /// The clients.
    pub clients: AwsClients,
}

impl BackendSettings {
    /// Completes the AWS settings, loads the SDK configuration and builds the clients, once.
    pub async fn connect_aws(&self) -> Result<AwsConnection, SettingsError> {
        let settings = self.aws.clone().with_env_file()?;
        let config = sdk_config(&settings).await?;
        let clients = AwsClients::new(&config);
        Ok(AwsConnection {
            settings,
            config,
            clients,
        })
    }
}

/// A setting the chosen backend needs is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The env file cannot be read.
    #[error("cannot read the env file {path}: {source}")]
    EnvFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A value in the env file does not parse.
    #[error("the env file {path} sets {name} to a value that is not valid: {reason}")]
    EnvFileValue {
        /// The file.
        path: std::path::PathBuf,
        /// The variable.
        name: String,
        /// Why.
        reason: String,
    },
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

/// Parses `NAME=value` lines; blank lines, `#` comments and an `export ` prefix are allowed, and
/// values may be quoted.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_owned(), unquoted.to_owned())
        })
        .collect()
}

impl AwsSettings {
    /// Fills the settings no flag or variable set from the env file, when there is one. Every
    /// name in [`env`] is read back (the stack's outputs and `store-infra provision` write them);
    /// a value that does not parse is an error naming the file and the name.
    pub fn with_env_file(mut self) -> Result<Self, SettingsError> {
        let Some(path) = self.env_file.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::EnvFile {
            path: path.clone(),
            source,
        })?;
        for (name, value) in parse_env_file(&text) {
            self.fill(&name, value)
                .map_err(|reason| SettingsError::EnvFileValue {
                    path: path.clone(),
                    name: name.clone(),
                    reason,
                })?;
        }
        Ok(self)
    }

    /// Sets the setting named by the environment variable `name` to `value` unless it is set
    /// already; names of other programs are ignored.
    fn fill(&mut self, name: &str, value: String) -> Result<(), String> {
        fn keep<T>(field: &mut Option<T>, value: Result<T, String>) -> Result<(), String> {
            if field.is_none() {
                *field = Some(value?);
            }
            Ok(())
        }
        let text = Ok(value.clone());
        match name {
            env::REGION => keep(&mut self.region, text),
            env::ENDPOINT_URL => keep(&mut self.endpoint_url, text),
            env::LAKE_BUCKET => keep(&mut self.lake_bucket, text),
            env::DELIVERY_STREAM => keep(&mut self.delivery_stream, text),
            env::ALERT_QUEUE_URL => keep(&mut self.alert_queue_url, text),
            env::DEAD_LETTER_QUEUE_URL => keep(&mut self.dead_letter_queue_url, text),
            env::ATHENA_WORKGROUP => keep(&mut self.athena_workgroup, text),
            env::GLUE_DATABASE => keep(&mut self.glue_database, text),
            env::READINGS_TABLE => keep(&mut self.readings_table, text),
            env::SNAPSHOT_TABLE => keep(&mut self.snapshot_table, text),
            env::ATHENA_OUTPUT => keep(&mut self.athena_output, text),
            env::QUERY_ENGINE => keep(
                &mut self.query_engine,
                <QueryEngine as clap::ValueEnum>::from_str(&value, true),
            ),
            env::LAKE_FORMAT => keep(&mut self.lake_format, value.parse()),
            _ => Ok(()),
        }
    }

    /// The value of the setting named by the environment variable `name`, as the env file
    /// writes it; `None` when it is unset or `name` is not a setting of the apps.
    pub fn value_of(&self, name: &str) -> Option<String> {
        match name {
            env::REGION => self.region.clone(),
            env::ENDPOINT_URL => self.endpoint_url.clone(),
            env::LAKE_BUCKET => self.lake_bucket.clone(),
            env::DELIVERY_STREAM => self.delivery_stream.clone(),
            env::ALERT_QUEUE_URL => self.alert_queue_url.clone(),
            env::DEAD_LETTER_QUEUE_URL => self.dead_letter_queue_url.clone(),
            env::ATHENA_WORKGROUP => self.athena_workgroup.clone(),
            env::GLUE_DATABASE => self.glue_database.clone(),
            env::READINGS_TABLE => self.readings_table.clone(),
            env::SNAPSHOT_TABLE => self.snapshot_table.clone(),
            env::ATHENA_OUTPUT => self.athena_output.clone(),
            env::QUERY_ENGINE => self
                .query_engine
                .and_then(|e| clap::ValueEnum::to_possible_value(&e))
                .map(|v| v.get_name().to_owned()),
            env::LAKE_FORMAT => self.lake_format.map(|f| f.to_string()),
            _ => None,
        }
    }

    /// The engine that runs the planning SQL.
    pub fn query_engine(&self) -> QueryEngine {
        self.query_engine.unwrap_or_default()
    }

    /// The format of the reading objects.
    pub fn lake_format(&self) -> store_model::ObjectFormat {
        self.lake_format.unwrap_or(store_model::ObjectFormat::Json)
    }

    /// The snapshot table, or `None` when every run scans the whole window.
    pub fn snapshot_table(&self) -> Result<Option<&str>, SettingsError> {
        match self.snapshot_table.as_deref() {
            None => Ok(Some(store_model::snapshot::SNAPSHOT_TABLE)),
            Some("") => Ok(None),
            Some(t) => plain_table(t, "snapshot-table").map(Some),
        }
    }

    /// The alert queue and its dead-letter queue.
    pub fn alert_queue(&self, clients: &AwsClients) -> Result<crate::SqsAlertQueue, SettingsError> {
        Ok(crate::SqsAlertQueue::new(
            clients.sqs.clone(),
            self.require_alert_queue_url()?,
            self.require_dead_letter_queue_url()?,
        ))
    }

    /// The ledger in the lake bucket.
    pub fn ledger(&self, clients: &AwsClients) -> Result<crate::S3Ledger, SettingsError> {
        Ok(crate::S3Ledger::new(crate::S3Objects::new(
            clients.s3.clone(),
            self.require_lake_bucket()?,
        )))
    }

    /// The Firehose sink, spooling undeliverable readings into `spool_dir`.
    pub fn reading_sink(
        &self,
        clients: &AwsClients,
        spool_dir: &std::path::Path,
    ) -> Result<crate::FirehoseReadingSink, SettingsError> {
        Ok(crate::FirehoseReadingSink::new(
            clients.firehose.clone(),
            crate::FirehoseSinkConfig::new(self.require_delivery_stream()?, spool_dir),
        ))
    }

    /// The Athena planning query.
    pub fn athena_query(
        &self,
        clients: &AwsClients,
    ) -> Result<crate::AthenaInventoryQuery, SettingsError> {
        let query = crate::AthenaInventoryQuery::new(
            clients.athena.clone(),
            crate::AthenaConfig {
                output_location: self.athena_output.clone().filter(|o| !o.is_empty()),
                ..crate::AthenaConfig::new(
                    self.require_athena_workgroup()?,
                    self.require_glue_database()?,
                    self.readings_table()?,
                )
            },
        );
        let Some(table) = self.snapshot_table()? else {
            return Ok(query);
        };
        Ok(query.with_snapshots(crate::S3Snapshots::new(
            crate::S3Objects::new(clients.s3.clone(), self.require_lake_bucket()?),
            table,
        )))
    }

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
        plain_table(
            self.readings_table.as_deref().unwrap_or("readings"),
            "readings-table",
        )
    }
}

/// A Glue table name the SQL can quote: lowercase letters, digits and underscores.
fn plain_table<'t>(t: &'t str, flag: &'static str) -> Result<&'t str, SettingsError> {
    let plain = !t.is_empty()
        && t.len() <= 255
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(t)
    } else {
        Err(SettingsError::Invalid {
            flag,
            reason: format!("{t:?} must be lowercase letters, digits and underscores"),
        })
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
    fn the_env_file_fills_only_what_is_unset() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("stack.env");
        std::fs::write(
            &path,
            "# stack outputs\nexport STORE_LAKE_BUCKET=\"lake-1\"\nSTORE_ALERT_QUEUE_URL='https://q'\n\nAWS_REGION=eu-west-1\nOTHER=x\n",
        )
        .unwrap();
        let s = AwsSettings {
            env_file: Some(path),
            region: Some("ap-southeast-1".into()),
            ..AwsSettings::default()
        }
        .with_env_file()
        .unwrap();
        assert_eq!(s.lake_bucket.as_deref(), Some("lake-1"));
        assert_eq!(s.alert_queue_url.as_deref(), Some("https://q"));
        assert_eq!(
            s.region.as_deref(),
            Some("ap-southeast-1"),
            "a flag wins over the file"
        );
        let missing = AwsSettings {
            env_file: Some(dir.path().join("nope.env")),
            ..AwsSettings::default()
        };
        assert!(
            missing
                .with_env_file()
                .unwrap_err()
                .to_string()
                .contains("nope.env")
        );
    }

    #[test]
    fn the_table_name_must_be_a_plain_identifier() {
        let mut s = AwsSettings::default();
        assert_eq!(s.readings_table().unwrap(), "readings");
        s.readings_table = Some("readings; DROP TABLE x".into());
        assert!(s.readings_table().is_err());
    }

    #[test]
    fn typed_settings_come_from_the_env_file_too() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("stack.env");
        std::fs::write(
            &path,
            "STORE_LAKE_FORMAT=parquet\nSTORE_QUERY_ENGINE=datafusion\nSTORE_SNAPSHOT_TABLE=\n",
        )
        .unwrap();
        let s = AwsSettings {
            env_file: Some(path.clone()),
            ..AwsSettings::default()
        }
        .with_env_file()
        .unwrap();
        assert_eq!(s.lake_format(), store_model::ObjectFormat::Parquet);
        assert_eq!(s.query_engine(), QueryEngine::Datafusion);
        assert_eq!(
            s.snapshot_table().unwrap(),
            None,
            "empty turns snapshots off"
        );
        assert_eq!(
            AwsSettings::default().snapshot_table().unwrap(),
            Some(store_model::snapshot::SNAPSHOT_TABLE)
        );
        std::fs::write(&path, "STORE_LAKE_FORMAT=csv\n").unwrap();
        let e = AwsSettings {
            env_file: Some(path),
            ..AwsSettings::default()
        }
        .with_env_file()
        .unwrap_err()
        .to_string();
        assert!(e.contains("STORE_LAKE_FORMAT"), "{e}");
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
