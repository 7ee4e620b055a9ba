//! The settings every app shares, from flags, `STORE_*` variables and the env file.
//!
//! Every setting is optional as parsed; the env file fills what no flag or variable set, and the
//! defaults apply after that (through the accessors), so a value in the env file is never hidden
//! by a default. The names are one table, [`SETTINGS`]: the env file is read through it, written
//! back through it, and `store-infra` names the stack's outputs with the same [`env`] constants.

use std::path::{Path, PathBuf};

use store_model::{Backend, ObjectFormat};

/// The environment variable names the apps read and the infra code writes.
pub mod env {
    /// `local` or `aws`.
    pub const BACKEND: &str = "STORE_BACKEND";
    /// Where the embedded backend keeps its data (and the AWS backend its spool).
    pub const DATA_DIR: &str = "STORE_DATA_DIR";
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
    /// The CloudWatch namespace of the stack's own metrics (`StoreInventory/<stack>`); the
    /// truck app publishes there on the AWS backend when it is set.
    pub const METRICS_NAMESPACE: &str = "STORE_METRICS_NAMESPACE";
    /// A file of `NAME=value` lines (the stack outputs written by `scripts/deploy.sh`) filling
    /// in the names above that neither a flag nor the environment gives.
    pub const ENV_FILE: &str = "STORE_ENV_FILE";
}

/// Where the embedded backend keeps its data when nothing says otherwise.
pub const DEFAULT_DATA_DIR: &str = "./store-data";
/// The readings table when nothing says otherwise.
pub const DEFAULT_READINGS_TABLE: &str = "readings";

/// Which engine runs the planning SQL on the AWS backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueryEngine {
    /// Athena over the Glue table (the default on AWS).
    #[default]
    Athena,
    /// DataFusion reading the S3 lake directly: no Athena needed, good for small lakes.
    Datafusion,
}

impl std::str::FromStr for QueryEngine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true)
    }
}

impl std::fmt::Display for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Athena => "athena",
            Self::Datafusion => "datafusion",
        })
    }
}

/// What the one SDK configuration of a process is loaded with.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SdkSettings {
    /// AWS region; required with `--backend aws` (or from the shared config file).
    #[arg(long, env = env::REGION, global = true)]
    pub region: Option<String>,
    /// Endpoint of an AWS-compatible API server, for every service (e.g. a local test server).
    #[arg(long, env = env::ENDPOINT_URL, global = true)]
    pub endpoint_url: Option<String>,
}

/// The settings every app shares: which backend, where the embedded one keeps its data, and
/// where the AWS resources are (the stack's outputs).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BackendSettings {
    /// `local` (embedded engines) or `aws` [default: local].
    #[arg(long, env = env::BACKEND, global = true)]
    pub backend: Option<Backend>,
    /// Where the embedded backend keeps the lake, queue and state (and the AWS backend its
    /// spool) [default: ./store-data].
    #[arg(long, env = env::DATA_DIR, global = true)]
    pub data_dir: Option<PathBuf>,
    /// A file of `NAME=value` lines (e.g. the stack outputs from `scripts/deploy.sh`) for the
    /// settings that no flag or variable sets.
    #[arg(long, env = env::ENV_FILE, global = true)]
    pub env_file: Option<PathBuf>,
    /// Region and endpoint.
    #[command(flatten)]
    pub sdk: SdkSettings,
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
    pub lake_format: Option<ObjectFormat>,
    /// The CloudWatch namespace of the stack's metrics (stack output `MetricsNamespace`); the
    /// truck app publishes its own there on the AWS backend when it is set.
    #[arg(long, env = env::METRICS_NAMESPACE, global = true)]
    pub metrics_namespace: Option<String>,
}

/// One setting: the variable (and env file name) it is read from, its flag, and how it moves
/// between the settings and the text of an env file.
pub struct Setting {
    /// The environment variable, and the name in an env file.
    pub env: &'static str,
    /// The flag, without `--`.
    pub flag: &'static str,
    /// The value as an env file writes it; `None` when unset.
    get: fn(&BackendSettings) -> Option<String>,
    /// Sets the value from env file text unless it is set already.
    fill: fn(&mut BackendSettings, &str) -> Result<(), String>,
}

/// A setting whose value is text.
macro_rules! text {
    ($env:expr, $flag:literal, $($field:ident).+) => {
        Setting {
            env: $env,
            flag: $flag,
            get: |s| s.$($field).+.clone(),
            fill: |s, v| {
                s.$($field).+.get_or_insert_with(|| v.to_owned());
                Ok(())
            },
        }
    };
}

/// A setting whose value parses (`FromStr`) and prints (`Display`).
macro_rules! parsed {
    ($env:expr, $flag:literal, $field:ident) => {
        Setting {
            env: $env,
            flag: $flag,
            get: |s| s.$field.as_ref().map(ToString::to_string),
            fill: |s, v| {
                if s.$field.is_none() {
                    s.$field = Some(v.parse().map_err(|e| format!("{e}"))?);
                }
                Ok(())
            },
        }
    };
}

/// Every setting an env file may hold, by its variable name.
pub const SETTINGS: [Setting; 16] = [
    parsed!(env::BACKEND, "backend", backend),
    Setting {
        env: env::DATA_DIR,
        flag: "data-dir",
        get: |s| s.data_dir.as_ref().map(|d| d.display().to_string()),
        fill: |s, v| {
            s.data_dir.get_or_insert_with(|| PathBuf::from(v));
            Ok(())
        },
    },
    text!(env::REGION, "region", sdk.region),
    text!(env::ENDPOINT_URL, "endpoint-url", sdk.endpoint_url),
    text!(env::LAKE_BUCKET, "lake-bucket", lake_bucket),
    text!(env::DELIVERY_STREAM, "delivery-stream", delivery_stream),
    text!(env::ALERT_QUEUE_URL, "alert-queue-url", alert_queue_url),
    text!(
        env::DEAD_LETTER_QUEUE_URL,
        "dead-letter-queue-url",
        dead_letter_queue_url
    ),
    text!(env::ATHENA_WORKGROUP, "athena-workgroup", athena_workgroup),
    text!(env::GLUE_DATABASE, "glue-database", glue_database),
    text!(env::READINGS_TABLE, "readings-table", readings_table),
    text!(env::SNAPSHOT_TABLE, "snapshot-table", snapshot_table),
    text!(env::ATHENA_OUTPUT, "athena-output", athena_output),
    parsed!(env::QUERY_ENGINE, "query-engine", query_engine),
    parsed!(env::LAKE_FORMAT, "lake-format", lake_format),
    text!(
        env::METRICS_NAMESPACE,
        "metrics-namespace",
        metrics_namespace
    ),
];

fn setting(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// A setting the chosen backend needs is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The env file cannot be read.
    #[error("cannot read the env file {path}: {source}")]
    EnvFile {
        /// The env file named by `--env-file`.
        path: PathBuf,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
    /// A value in the env file does not parse.
    #[error("the env file {path} sets {name} to a value that is not valid: {reason}")]
    EnvFileValue {
        /// The env file named by `--env-file`.
        path: PathBuf,
        /// The variable whose value is wrong.
        name: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A required name is not set.
    #[error("`--{flag}` (or {env}) is required with --backend aws")]
    Missing {
        /// The flag that would set it, without `--`.
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
        /// The flag that set it, without `--`.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
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

impl BackendSettings {
    /// Fills the settings no flag or variable set from the env file, when there is one; names
    /// of other programs are ignored, and a value that does not parse is an error naming the
    /// file and the name.
    pub fn with_env_file(mut self) -> Result<Self, SettingsError> {
        let Some(path) = self.env_file.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::EnvFile {
            path: path.clone(),
            source,
        })?;
        for (name, value) in parse_env_file(&text) {
            let Some(s) = setting(&name) else { continue };
            (s.fill)(&mut self, &value).map_err(|reason| SettingsError::EnvFileValue {
                path: path.clone(),
                name: name.clone(),
                reason,
            })?;
        }
        Ok(self)
    }

    /// The value of the setting named by the environment variable `name`, as the env file
    /// writes it; `None` when it is unset or `name` is not a setting of the apps.
    pub fn value_of(&self, name: &str) -> Option<String> {
        setting(name).and_then(|s| (s.get)(self))
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend.unwrap_or_default()
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.data_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_DATA_DIR))
    }

    /// The engine that runs the planning SQL.
    pub fn query_engine(&self) -> QueryEngine {
        self.query_engine.unwrap_or_default()
    }

    /// The format of the reading objects.
    pub fn lake_format(&self) -> ObjectFormat {
        self.lake_format.unwrap_or(ObjectFormat::Json)
    }

    /// The snapshot table, or `None` when every run scans the whole window.
    pub fn snapshot_table(&self) -> Result<Option<&str>, SettingsError> {
        match self.snapshot_table.as_deref() {
            None => Ok(Some(store_model::snapshot::SNAPSHOT_TABLE)),
            Some("") => Ok(None),
            Some(t) => plain_table(t, "snapshot-table").map(Some),
        }
    }

    /// The readings table name, checked to be a plain identifier (it is part of the SQL text).
    pub fn readings_table(&self) -> Result<&str, SettingsError> {
        plain_table(
            self.readings_table
                .as_deref()
                .unwrap_or(DEFAULT_READINGS_TABLE),
            "readings-table",
        )
    }

    /// The value of a setting the AWS backend cannot do without, by its variable name.
    pub fn require(&self, env: &'static str) -> Result<String, SettingsError> {
        let s = setting(env).expect("a name from the settings table");
        (s.get)(self)
            .filter(|v| !v.trim().is_empty())
            .ok_or(SettingsError::Missing { flag: s.flag, env })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn from_file(text: &str) -> Result<BackendSettings, SettingsError> {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("stack.env");
        std::fs::write(&path, text).unwrap();
        BackendSettings {
            env_file: Some(path),
            ..BackendSettings::default()
        }
        .with_env_file()
    }

    #[test]
    fn missing_names_say_their_flag_and_variable() {
        let s = BackendSettings::default();
        let e = s.require(env::ALERT_QUEUE_URL).unwrap_err().to_string();
        assert_eq!(
            e,
            "`--alert-queue-url` (or STORE_ALERT_QUEUE_URL) is required with --backend aws"
        );
        let blank = BackendSettings {
            lake_bucket: Some("  ".into()),
            ..BackendSettings::default()
        };
        assert!(blank.require(env::LAKE_BUCKET).is_err());
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
        let s = BackendSettings {
            env_file: Some(path),
            sdk: SdkSettings {
                region: Some("ap-southeast-1".into()),
                endpoint_url: None,
            },
            ..BackendSettings::default()
        }
        .with_env_file()
        .unwrap();
        assert_eq!(s.lake_bucket.as_deref(), Some("lake-1"));
        assert_eq!(s.alert_queue_url.as_deref(), Some("https://q"));
        assert_eq!(
            s.sdk.region.as_deref(),
            Some("ap-southeast-1"),
            "a flag wins over the file"
        );
        let missing = BackendSettings {
            env_file: Some(dir.path().join("nope.env")),
            ..BackendSettings::default()
        };
        let e = missing.with_env_file().unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read the env file") && e.contains("nope.env"),
            "{e}"
        );
    }

    #[test]
    fn defaults_apply_after_the_env_file() {
        let s = BackendSettings::default();
        assert_eq!(
            (s.backend(), s.data_dir()),
            (Backend::Local, Path::new(DEFAULT_DATA_DIR))
        );
        let s = from_file("STORE_BACKEND=aws\nSTORE_DATA_DIR=/srv/store\n").unwrap();
        assert_eq!(
            (s.backend(), s.data_dir()),
            (Backend::Aws, Path::new("/srv/store"))
        );
    }

    #[test]
    fn the_table_name_must_be_a_plain_identifier() {
        let mut s = BackendSettings::default();
        assert_eq!(s.readings_table().unwrap(), "readings");
        s.readings_table = Some("readings; DROP TABLE x".into());
        assert!(s.readings_table().is_err());
    }

    #[test]
    fn typed_settings_come_from_the_env_file_too() {
        let s = from_file(
            "STORE_LAKE_FORMAT=parquet\nSTORE_QUERY_ENGINE=datafusion\nSTORE_SNAPSHOT_TABLE=\n",
        )
        .unwrap();
        assert_eq!(s.lake_format(), ObjectFormat::Parquet);
        assert_eq!(s.query_engine(), QueryEngine::Datafusion);
        assert_eq!(
            s.snapshot_table().unwrap(),
            None,
            "empty turns snapshots off"
        );
        assert_eq!(
            BackendSettings::default().snapshot_table().unwrap(),
            Some(store_model::snapshot::SNAPSHOT_TABLE)
        );
        let e = from_file("STORE_LAKE_FORMAT=csv\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("STORE_LAKE_FORMAT"), "{e}");
    }

    #[test]
    fn every_setting_reads_back_what_the_env_file_wrote() {
        let text: String = SETTINGS
            .iter()
            .map(|s| {
                let value = match s.env {
                    env::BACKEND => "aws",
                    env::QUERY_ENGINE => "datafusion",
                    env::LAKE_FORMAT => "parquet",
                    _ => "v-1",
                };
                format!("{}={value}\n", s.env)
            })
            .collect();
        let s = from_file(&text).unwrap();
        for (name, value) in parse_env_file(&text) {
            assert_eq!(s.value_of(&name), Some(value), "{name}");
        }
    }
}
