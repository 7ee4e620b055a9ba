//! The lake bucket as an `object_store`, so DataFusion can run the planning SQL on S3 directly.
//!
//! Requests are signed with the SDK's own credential chain (profiles, SSO, the Lambda role, …), so
//! this view of the bucket needs no settings of its own; the endpoint override of an
//! AWS-compatible server carries over, with path-style addressing.

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::config::SharedCredentialsProvider;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AwsCredential};

use store_model::ports::{ErrorKind, PortError};

const OPERATION: &str = "open the lake bucket";

/// Hands the SDK's credentials to `object_store`.
#[derive(Debug)]
struct SdkCredentials(SharedCredentialsProvider);

#[async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_owned(),
            secret_key: c.secret_access_key().to_owned(),
            token: c.session_token().map(str::to_owned),
        }))
    }
}

/// The bucket as an object store, with the SDK configuration's region, endpoint and credentials.
pub fn lake_object_store(
    config: &SdkConfig,
    bucket: &str,
) -> Result<Arc<dyn ObjectStore>, PortError> {
    let credentials = config.credentials_provider().ok_or_else(|| {
        PortError::new(
            ErrorKind::Permanent,
            OPERATION,
            "no AWS credentials are configured",
        )
    })?;
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(config.region().map(|r| r.as_ref()).unwrap_or("us-east-1"))
        .with_credentials(Arc::new(SdkCredentials(credentials)));
    if let Some(endpoint) = config.endpoint_url() {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    let store = builder
        .build()
        .map_err(|e| PortError::permanent(OPERATION, format!("bucket {bucket}: {e}"), e))?;
    Ok(Arc::new(store))
}
