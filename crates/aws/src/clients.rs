//! The service clients, built once per process from one SDK configuration (which the apps'
//! runtime loads) and shared by the adapters.

use aws_config::SdkConfig;

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
