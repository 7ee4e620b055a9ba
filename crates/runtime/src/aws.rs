//! The AWS side of a process: the one SDK configuration (like cargo-lambda's `sdk_config()`:
//! region required, standard retries, timeouts, an optional endpoint for an AWS-compatible
//! server), the clients built from it, and each port's AWS adapter from the settings.

use std::path::Path;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use store_aws::{
    AthenaConfig, AthenaInventoryQuery, AwsClients, FirehoseReadingSink, FirehoseSinkConfig,
    S3Ledger, S3Objects, S3Snapshots, SqsAlertQueue,
};

use crate::settings::{BackendSettings, SdkSettings, SettingsError, env};

/// Per-attempt timeout; long enough for a 20-second SQS long poll.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the one SDK configuration of the process: region (required), standard retries with
/// backoff, connect and attempt timeouts, and the endpoint override when one is set.
pub async fn sdk_config(settings: &SdkSettings) -> Result<SdkConfig, SettingsError> {
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

/// The AWS side of a process: its settings, the one SDK configuration, and the clients.
#[derive(Debug, Clone)]
pub struct AwsConnection {
    /// The settings, env file applied.
    pub settings: BackendSettings,
    /// The SDK configuration.
    pub config: SdkConfig,
    /// The clients.
    pub clients: AwsClients,
}

impl AwsConnection {
    /// Loads the SDK configuration and builds the clients, once.
    pub async fn new(settings: BackendSettings) -> Result<Self, SettingsError> {
        let config = sdk_config(&settings.sdk).await?;
        let clients = AwsClients::new(&config);
        Ok(Self {
            settings,
            config,
            clients,
        })
    }

    /// The lake bucket's objects.
    fn lake(&self) -> Result<S3Objects, SettingsError> {
        let bucket = self.settings.require(env::LAKE_BUCKET)?;
        Ok(S3Objects::new(self.clients.s3.clone(), bucket))
    }

    /// The alert queue and its dead-letter queue.
    pub fn alert_queue(&self) -> Result<SqsAlertQueue, SettingsError> {
        Ok(SqsAlertQueue::new(
            self.clients.sqs.clone(),
            self.settings.require(env::ALERT_QUEUE_URL)?,
            self.settings.require(env::DEAD_LETTER_QUEUE_URL)?,
        ))
    }

    /// The ledger in the lake bucket.
    pub fn ledger(&self) -> Result<S3Ledger, SettingsError> {
        Ok(S3Ledger::new(self.lake()?))
    }

    /// The Firehose sink, spooling undeliverable readings into `spool_dir`.
    pub fn reading_sink(&self, spool_dir: &Path) -> Result<FirehoseReadingSink, SettingsError> {
        Ok(FirehoseReadingSink::new(
            self.clients.firehose.clone(),
            FirehoseSinkConfig::new(self.settings.require(env::DELIVERY_STREAM)?, spool_dir),
        ))
    }

    /// The Athena planning query, over the snapshot unless the snapshot table is empty.
    pub fn athena_query(&self) -> Result<AthenaInventoryQuery, SettingsError> {
        let s = &self.settings;
        let query = AthenaInventoryQuery::new(
            self.clients.athena.clone(),
            AthenaConfig {
                output_location: s.athena_output.clone().filter(|o| !o.is_empty()),
                ..AthenaConfig::new(
                    s.require(env::ATHENA_WORKGROUP)?,
                    s.require(env::GLUE_DATABASE)?,
                    s.readings_table()?,
                )
            },
        );
        let Some(table) = s.snapshot_table()? else {
            return Ok(query);
        };
        Ok(query.with_snapshots(S3Snapshots::new(self.lake()?, table)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn region_and_endpoint_reach_the_sdk_config() {
        let s = SdkSettings {
            region: Some("eu-west-1".into()),
            endpoint_url: Some("http://127.0.0.1:1".into()),
        };
        let config = sdk_config(&s).await.unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
    }
}
