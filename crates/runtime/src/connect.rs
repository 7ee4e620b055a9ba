//! One `connect` for every app: the settings (env file merged) in, the ports of the chosen
//! backend out. An app asks for the ports it uses; each is built once, when asked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "local")]
use anyhow::Context;
use anyhow::Result;
use store_model::Backend;
#[cfg(feature = "local")]
use store_model::ports::MetricsPublisher;
use store_model::ports::{AlertQueue, InventoryQuery, Ledger, ReadingSink};

use crate::aws::AwsConnection;
use crate::settings::{BackendSettings, QueryEngine};

/// What the embedded queue is opened with (an SQS queue has its own settings, and its redrive
/// policy its own receive count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// How long a received message stays hidden from other consumers.
    pub visibility_timeout: Duration,
    /// Receives after which an undeleted message is dead-lettered.
    pub max_receive_count: u32,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: 5,
        }
    }
}

/// A reading sink, and where it spools what it cannot deliver (AWS only).
pub struct Sink {
    /// The sink.
    pub sink: Arc<dyn ReadingSink>,
    /// The spool file, when the sink has one.
    pub spool: Option<PathBuf>,
}

/// The chosen backend, connected.
pub enum Connection {
    /// The embedded engines in the data folder.
    #[cfg(feature = "local")]
    Local {
        /// The settings.
        settings: Box<BackendSettings>,
        /// The data folder.
        dir: store_local::DataDir,
    },
    /// The AWS services.
    Aws(Box<AwsConnection>),
}

impl BackendSettings {
    /// Merges the env file, then connects to the backend it names: opens the data folder, or
    /// loads the SDK configuration and builds the clients.
    pub async fn connect(self) -> Result<Connection> {
        let settings = self.with_env_file()?;
        match settings.backend() {
            Backend::Local => local(settings),
            Backend::Aws => Ok(Connection::Aws(Box::new(
                AwsConnection::new(settings).await?,
            ))),
        }
    }
}

#[cfg(feature = "local")]
fn local(settings: BackendSettings) -> Result<Connection> {
    let dir = store_local::DataDir::new(settings.data_dir());
    Ok(Connection::Local {
        settings: Box::new(settings),
        dir,
    })
}

/// A CloudWatch client from the process's one SDK configuration.
#[cfg(feature = "local")]
fn aws_sdk_cloudwatch_client(config: &aws_config::SdkConfig) -> store_aws::cloudwatch::Client {
    store_aws::cloudwatch::Client::new(config)
}

#[cfg(not(feature = "local"))]
fn local(_: BackendSettings) -> Result<Connection> {
    anyhow::bail!(
        "this build has no embedded backend (built without the `embedded` feature); use --backend aws"
    )
}

impl Connection {
    /// The settings, env file merged.
    pub fn settings(&self) -> &BackendSettings {
        match self {
            #[cfg(feature = "local")]
            Self::Local { settings, .. } => settings,
            Self::Aws(aws) => &aws.settings,
        }
    }

    /// The data folder: the embedded backend's everything, the AWS backend's spool.
    pub fn data_dir(&self) -> PathBuf {
        self.settings().data_dir().to_path_buf()
    }

    /// The lake folder of the embedded backend.
    #[cfg(feature = "local")]
    pub fn lake(&self) -> Result<Option<store_local::LakeFolder>> {
        match self {
            Self::Local { dir, .. } => open_lake(dir).map(Some),
            Self::Aws(_) => Ok(None),
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> Result<Arc<dyn Ledger>> {
        Ok(match self {
            #[cfg(feature = "local")]
            Self::Local { dir, .. } => Arc::new(store_local::FolderLedger::new(open_lake(dir)?)),
            Self::Aws(aws) => Arc::new(aws.ledger()?),
        })
    }

    /// Where the app's own metrics go: CloudWatch, on the AWS backend with a metrics namespace
    /// set (the stack output `MetricsNamespace`); nowhere otherwise.
    #[cfg(feature = "local")]
    pub fn metrics(&self) -> Option<Arc<dyn MetricsPublisher>> {
        match self {
            Self::Local { .. } => None,
            Self::Aws(aws) => {
                let namespace = aws.settings.metrics_namespace.clone()?;
                Some(Arc::new(store_aws::CloudWatchMetrics::new(
                    aws_sdk_cloudwatch_client(&aws.config),
                    namespace,
                )))
            }
        }
    }

    /// The alert queue; `options` apply to the embedded queue.
    pub fn alert_queue(&self, options: QueueOptions) -> Result<Arc<dyn AlertQueue>> {
        Ok(match self {
            #[cfg(feature = "local")]
            Self::Local { dir, .. } => {
                let config = store_local::QueueConfig {
                    visibility_timeout: options.visibility_timeout,
                    max_receive_count: options.max_receive_count,
                    ..store_local::QueueConfig::default()
                };
                Arc::new(
                    store_local::SqliteAlertQueue::open(&dir.queue_path(), config)
                        .context("opening the alert queue")?,
                )
            }
            Self::Aws(aws) => {
                let _ = options;
                Arc::new(aws.alert_queue()?)
            }
        })
    }

    /// The reading sink; `local` configures the embedded delivery stream.
    #[cfg(feature = "local")]
    pub fn reading_sink(&self, local: store_local::FirehoseConfig) -> Result<Sink> {
        match self {
            Self::Local { dir, .. } => {
                let lake = open_lake(dir)?;
                Ok(Sink {
                    sink: Arc::new(store_local::LocalFirehoseSink::new(
                        lake,
                        local,
                        store_model::ports::system_clock(),
                    )),
                    spool: None,
                })
            }
            Self::Aws(aws) => {
                let spool_dir = store_local::DataDir::new(aws.settings.data_dir()).spool_dir();
                let sink = aws.reading_sink(&spool_dir)?;
                let spool = Some(sink.spool_path().to_path_buf());
                Ok(Sink {
                    sink: Arc::new(sink),
                    spool,
                })
            }
        }
    }

    /// The planning query: DataFusion over the lake folder (incremental unless the snapshot
    /// table is empty), or on AWS the configured engine.
    pub fn inventory_query(&self) -> Result<Arc<dyn InventoryQuery>> {
        match self {
            #[cfg(feature = "local")]
            Self::Local { settings, dir } => {
                let lake = open_lake(dir)?;
                // An empty snapshot table turns the snapshot off here too.
                let incremental = settings.snapshot_table()?.is_some();
                let query = store_local::DataFusionInventoryQuery::new(lake, &dir.state_dir())
                    .context("opening the query engine")?
                    .with_incremental(incremental);
                Ok(Arc::new(query))
            }
            Self::Aws(aws) => match aws.settings.query_engine() {
                QueryEngine::Athena => Ok(Arc::new(aws.athena_query()?)),
                QueryEngine::Datafusion => datafusion_over_s3(aws),
            },
        }
    }
}

#[cfg(feature = "local")]
fn open_lake(dir: &store_local::DataDir) -> Result<store_local::LakeFolder> {
    dir.lake()
        .with_context(|| format!("opening the lake in {}", dir.root().display()))
}

#[cfg(feature = "local")]
fn datafusion_over_s3(aws: &AwsConnection) -> Result<Arc<dyn InventoryQuery>> {
    let bucket = aws.settings.require(crate::env::LAKE_BUCKET)?;
    let store = store_aws::lake_store::lake_object_store(&aws.config, &bucket)?;
    Ok(Arc::new(
        store_local::DataFusionInventoryQuery::over_bucket(
            &format!("s3://{bucket}"),
            store,
            aws.settings.lake_format(),
        ),
    ))
}

#[cfg(not(feature = "local"))]
fn datafusion_over_s3(_: &AwsConnection) -> Result<Arc<dyn InventoryQuery>> {
    anyhow::bail!("this build has no embedded engine; use --query-engine athena")
}
