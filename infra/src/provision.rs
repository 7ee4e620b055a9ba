//! The stack's data resources created through the SDK APIs directly, for an AWS-compatible
//! endpoint (such as a local test server, whose CloudFormation skips Firehose, Glue and Athena).
//!
//! Every step is idempotent, so provisioning again finishes what a failed run started. The IAM
//! role and the Lambda function are the template's business (`scripts/deploy.sh`): here the apps
//! and the planner CLI use the caller's own credentials.

use anyhow::{Context, Result};
use aws_sdk_athena::types::{
    EncryptionConfiguration as AthenaEncryption, EncryptionOption, ResultConfiguration,
    WorkGroupConfiguration,
};
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
};
use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use store_model::lake::PARTITION_COLUMN;
use store_model::snapshot::{SNAPSHOT_PARTITION_COLUMN, SNAPSHOT_TABLE, SNAPSHOTS_PREFIX};
use store_runtime::env;
use tracing::warn;

use crate::stack::*;

/// What the apps need to find the provisioned resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// `NAME=value` pairs, named by [`store_runtime::env`].
    pub settings: Vec<(&'static str, String)>,
}

impl Outputs {
    /// The settings as an env file the apps read with `--env-file`.
    pub fn env_file(&self) -> String {
        self.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

/// How to provision.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// The stack's names.
    pub names: StackNames,
    /// The readings prefix; Firehose's `!{timestamp:…}` expression by default. A server that
    /// does not evaluate expressions needs a literal partition here.
    pub readings_prefix: String,
}

/// A create call's result, where an error with one of `exists` codes means it was there already.
fn created_or_exists<T, E>(result: Result<T, E>, exists: &[&str], what: &str) -> Result<()>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|c| exists.contains(&c)) => Ok(()),
        Err(e) => Err(e).context(format!("creating {what}")),
    }
}

/// Creates (or completes) the bucket, queues, delivery stream, database, table and workgroup.
pub async fn provision(
    config: &aws_config::SdkConfig,
    options: &ProvisionOptions,
) -> Result<Outputs> {
    let names = &options.names;
    let region = config
        .region()
        .map(|r| r.to_string())
        .context("no region")?;
    let sts = aws_sdk_sts::Client::new(config);
    let account = sts
        .get_caller_identity()
        .send()
        .await
        .context("finding the account (sts:GetCallerIdentity)")?
        .account()
        .unwrap_or("000000000000")
        .to_owned();
    names
        .check_limits(&account, &region)
        .map_err(anyhow::Error::msg)?;
    let bucket = names.bucket(&account, &region);
    let s3 = store_aws::AwsClients::new(config).s3;

    let target = Target {
        config,
        names,
        account: &account,
        region: &region,
        bucket: &bucket,
    };
    lake_bucket(&target, &s3).await?;
    lifecycle(&s3, &bucket).await?;
    let (queue_url, dlq_url) = alert_queues(&target).await?;
    let stream = delivery_stream(&target, &options.readings_prefix).await?;
    let database = catalog(&target).await?;
    let workgroup = workgroup(&target).await?;

    let mut settings = vec![(env::REGION, region)];
    if let Some(endpoint) = config.endpoint_url() {
        settings.push((env::ENDPOINT_URL, endpoint.to_owned()));
    }
    settings.extend([
        (env::LAKE_BUCKET, bucket),
        (env::DELIVERY_STREAM, stream),
        (env::ALERT_QUEUE_URL, queue_url),
        (env::DEAD_LETTER_QUEUE_URL, dlq_url),
        (env::ATHENA_WORKGROUP, workgroup),
        (env::GLUE_DATABASE, database),
        (env::READINGS_TABLE, READINGS_TABLE.to_owned()),
        (env::SNAPSHOT_TABLE, SNAPSHOT_TABLE.to_owned()),
        // The readings table above is NDJSON.
        (
            env::LAKE_FORMAT,
            store_model::ObjectFormat::Json.to_string(),
        ),
    ]);
    Ok(Outputs { settings })
}

/// A Glue table over one prefix of the lake, partitioned by one projected string column.
struct TableSpec {
    name: &'static str,
    columns: Vec<(&'static str, &'static str)>,
    partition: &'static str,
    location: String,
    /// Input and output formats.
    formats: (&'static str, &'static str),
    serde: SerDeInfo,
    parameters: Vec<(String, String)>,
}

/// Creates a table unless it exists.
async fn create_table(glue: &aws_sdk_glue::Client, database: &str, spec: TableSpec) -> Result<()> {
    let columns: Vec<Column> = spec
        .columns
        .into_iter()
        .map(|(name, ty)| Column::builder().name(name).r#type(ty).build())
        .collect::<Result<_, _>>()?;
    let mut table = TableInput::builder()
        .name(spec.name)
        .table_type("EXTERNAL_TABLE")
        .partition_keys(
            Column::builder()
                .name(spec.partition)
                .r#type("string")
                .build()?,
        )
        .storage_descriptor(
            StorageDescriptor::builder()
                .set_columns(Some(columns))
                .location(spec.location)
                .input_format(spec.formats.0)
                .output_format(spec.formats.1)
                .serde_info(spec.serde)
                .build(),
        );
    for (k, v) in spec.parameters {
        table = table.parameters(k, v);
    }
    created_or_exists(
        glue.create_table()
            .database_name(database)
            .table_input(table.build()?)
            .send()
            .await
            .map_err(|e| e.into_service_error()),
        &["AlreadyExistsException"],
        &format!("the {} table", spec.name),
    )
}

/// Where `provision` creates things: the account, region, names and bucket.
struct Target<'a> {
    config: &'a aws_config::SdkConfig,
    names: &'a StackNames,
    account: &'a str,
    region: &'a str,
    bucket: &'a str,
}

/// The lake bucket: encrypted, private, TLS only (unless the endpoint is plain HTTP), versioned.
async fn lake_bucket(t: &Target<'_>, s3: &aws_sdk_s3::Client) -> Result<()> {
    let config = t.config;
    let region = t.region.to_owned();
    let bucket = t.bucket.to_owned();
    // The lake bucket: encrypted, private, TLS only, versioned, with expiring scratch objects.
    let mut create = s3.create_bucket().bucket(&bucket);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    created_or_exists(
        create.send().await.map_err(|e| e.into_service_error()),
        &["BucketAlreadyOwnedByYou"],
        &format!("bucket {bucket}"),
    )?;
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .context("blocking public access")?;
    s3.put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()?,
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()?,
        )
        .send()
        .await
        .context("encrypting the bucket")?;
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .context("versioning the bucket")?;
    // A TLS-only policy on a plain-HTTP endpoint (a local server) would lock everyone out.
    let plain_http = config
        .endpoint_url()
        .is_some_and(|e| e.starts_with("http://"));
    if plain_http {
        warn!("plain-HTTP endpoint: the TLS-only bucket policy is left out");
    } else {
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(
                crate::policy::tls_only_bucket_policy(format!("arn:aws:s3:::{bucket}")).to_string(),
            )
            .send()
            .await
            .context("setting the TLS-only bucket policy")?;
    }
    Ok(())
}

/// The bucket's lifecycle: query results and error objects expire, replaced versions too.
async fn lifecycle(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let expire = |id: &str, prefix: &str, days: i32| -> Result<LifecycleRule> {
        Ok(LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
            .expiration(LifecycleExpiration::builder().days(days).build())
            .build()?)
    };
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(expire(
                    "expire-query-results",
                    QUERY_RESULTS_PREFIX,
                    QUERY_RESULTS_EXPIRY_DAYS,
                )?)
                .rules(expire(
                    "expire-error-objects",
                    ERRORS_PREFIX,
                    ERROR_OBJECTS_EXPIRY_DAYS,
                )?)
                .rules(
                    LifecycleRule::builder()
                        .id("expire-replaced-versions")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(NONCURRENT_VERSIONS_EXPIRY_DAYS)
                                .build(),
                        )
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await
        .context("setting the bucket lifecycle")?;

    Ok(())
}

/// The alert queue and its dead-letter queue, encrypted by SQS: their URLs.
async fn alert_queues(t: &Target<'_>) -> Result<(String, String)> {
    let config = t.config;
    let names = t.names;
    let account = t.account;
    let region = t.region.to_owned();
    // The alert queue and its dead-letter queue, encrypted by SQS.
    let sqs = aws_sdk_sqs::Client::new(config);
    let dlq_url = sqs
        .create_queue()
        .queue_name(names.dead_letter_queue())
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            DEAD_LETTER_RETENTION_SECONDS.to_string(),
        )
        .send()
        .await
        .context("creating the dead-letter queue")?
        .queue_url()
        .context("no dead-letter queue url")?
        .to_owned();
    let dlq_arn = format!(
        "arn:aws:sqs:{region}:{account}:{}",
        names.dead_letter_queue()
    );
    let queue_url = sqs
        .create_queue()
        .queue_name(names.alert_queue())
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            ALERT_VISIBILITY_SECONDS.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
                .to_string(),
        )
        .send()
        .await
        .context("creating the alert queue")?
        .queue_url()
        .context("no alert queue url")?
        .to_owned();

    Ok((queue_url, dlq_url))
}

/// The delivery stream into the lake, unless it exists: its name.
async fn delivery_stream(t: &Target<'_>, readings_prefix: &str) -> Result<String> {
    let config = t.config;
    let names = t.names;
    let account = t.account;
    let bucket = t.bucket.to_owned();
    // The delivery stream into the lake.
    let firehose = aws_sdk_firehose::Client::new(config);
    let stream = names.delivery_stream();
    let exists = firehose
        .describe_delivery_stream()
        .delivery_stream_name(&stream)
        .send()
        .await
        .is_ok();
    if !exists {
        firehose
            .create_delivery_stream()
            .delivery_stream_name(&stream)
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                    .role_arn(format!(
                        "arn:aws:iam::{account}:role/{}-firehose",
                        names.stack
                    ))
                    .prefix(readings_prefix)
                    .error_output_prefix(ERRORS_PREFIX_EXPRESSION)
                    .buffering_hints(
                        BufferingHints::builder()
                            .size_in_mbs(BUFFER_MIB)
                            .interval_in_seconds(BUFFER_SECONDS)
                            .build(),
                    )
                    .compression_format(CompressionFormat::Uncompressed)
                    .build()?,
            )
            .send()
            .await
            .context("creating the delivery stream")?;
    }

    Ok(stream)
}

/// The catalog: the database, the readings table and the snapshot table. The database's name.
async fn catalog(t: &Target<'_>) -> Result<String> {
    let config = t.config;
    let names = t.names;
    let bucket = t.bucket.to_owned();
    // The catalog: database, and the readings table with partition projection.
    let glue = aws_sdk_glue::Client::new(config);
    let database = names.database();
    created_or_exists(
        glue.create_database()
            .database_input(DatabaseInput::builder().name(&database).build()?)
            .send()
            .await
            .map_err(|e| e.into_service_error()),
        &["AlreadyExistsException"],
        "the Glue database",
    )?;
    create_table(
        &glue,
        &database,
        TableSpec {
            name: READINGS_TABLE,
            columns: glue_columns(),
            partition: PARTITION_COLUMN,
            location: format!("s3://{bucket}/{}", store_model::lake::READINGS_PREFIX),
            formats: (TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT),
            serde: SerDeInfo::builder()
                .serialization_library(JSON_SERDE)
                .parameters("ignore.malformed.json", "true")
                .build(),
            parameters: table_parameters(&bucket),
        },
    )
    .await?;
    // The snapshot table: Parquet written by the planner's compaction, one injected `run`.
    create_table(
        &glue,
        &database,
        TableSpec {
            name: SNAPSHOT_TABLE,
            columns: snapshot_glue_columns(),
            partition: SNAPSHOT_PARTITION_COLUMN,
            location: format!("s3://{bucket}/{SNAPSHOTS_PREFIX}"),
            formats: (PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT),
            serde: SerDeInfo::builder()
                .serialization_library(PARQUET_SERDE)
                .build(),
            parameters: snapshot_table_parameters(&bucket),
        },
    )
    .await?;

    Ok(database)
}

/// The workgroup: its result location and scan cutoff are enforced on every query. Its name.
async fn workgroup(t: &Target<'_>) -> Result<String> {
    let config = t.config;
    let names = t.names;
    let bucket = t.bucket.to_owned();
    // The workgroup: its result location and scan cutoff are enforced on every query.
    let athena = aws_sdk_athena::Client::new(config);
    let workgroup = names.workgroup();
    let created = athena
        .create_work_group()
        .name(&workgroup)
        .configuration(
            WorkGroupConfiguration::builder()
                .enforce_work_group_configuration(true)
                .publish_cloud_watch_metrics_enabled(true)
                .bytes_scanned_cutoff_per_query(BYTES_SCANNED_CUTOFF)
                .result_configuration(
                    ResultConfiguration::builder()
                        .output_location(format!("s3://{bucket}/{QUERY_RESULTS_PREFIX}"))
                        .encryption_configuration(
                            AthenaEncryption::builder()
                                .encryption_option(EncryptionOption::SseS3)
                                .build()?,
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| e.into_service_error());
    // Athena says a workgroup exists with InvalidRequestException.
    created_or_exists(
        created,
        &["InvalidRequestException"],
        "the Athena workgroup",
    )?;

    Ok(workgroup)
}
