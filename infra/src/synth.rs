//! The stack as a CloudFormation template.
//!
//! Names derive from the stack name (`${AWS::StackName}`), limits and the table from
//! [`crate::stack`], the function's environment from the apps' own variable names
//! ([`store_runtime::env`]), and each role's permissions from explicit statements
//! ([`crate::policy`]). Every checkov check the stack does not pass is skipped in the resource's
//! metadata, with the reason.

use serde_json::{Value, json};
use store_model::lake::{PARTITION_COLUMN, READINGS_PREFIX};
use store_model::snapshot::{SNAPSHOT_PARTITION_COLUMN, SNAPSHOT_TABLE, SNAPSHOTS_PREFIX};
use store_runtime::env;

use crate::policy::{document, tls_only_bucket_policy, trust};
use crate::stack::*;
use crate::template::{
    Output, Parameter, Resource, Skip, Template, get_att, if_then, no_value, reference, sub,
};

/// Logical ids, for references across resources and for tests.
pub mod ids {
    /// The lake bucket.
    pub const LAKE_BUCKET: &str = "LakeBucket";
    /// Its policy.
    pub const LAKE_BUCKET_POLICY: &str = "LakeBucketPolicy";
    /// Firehose's role.
    pub const FIREHOSE_ROLE: &str = "DeliveryStreamRole";
    /// Firehose's log group.
    pub const FIREHOSE_LOGS: &str = "DeliveryStreamLogGroup";
    /// Firehose's log stream.
    pub const FIREHOSE_LOG_STREAM: &str = "DeliveryStreamLogStream";
    /// The delivery stream.
    pub const DELIVERY_STREAM: &str = "DeliveryStream";
    /// The Glue database.
    pub const DATABASE: &str = "GlueDatabase";
    /// The readings table.
    pub const TABLE: &str = "ReadingsTable";
    /// The Glue table over the compacted snapshots.
    pub const SNAPSHOT_GLUE_TABLE: &str = "SnapshotTable";
    /// The Athena workgroup.
    pub const WORKGROUP: &str = "AthenaWorkGroup";
    /// The dead-letter queue.
    pub const DEAD_LETTER_QUEUE: &str = "DeadLetterQueue";
    /// The alert queue.
    pub const ALERT_QUEUE: &str = "AlertQueue";
    /// The alert queue's TLS-only policy.
    pub const QUEUE_POLICY: &str = "AlertQueuePolicy";
    /// The dead-letter queue's TLS-only policy.
    pub const DEAD_LETTER_QUEUE_POLICY: &str = "DeadLetterQueuePolicy";
    /// The planner's role.
    pub const PLANNER_ROLE: &str = "PlannerRole";
    /// The planner's log group.
    pub const PLANNER_LOGS: &str = "PlannerLogGroup";
    /// The planner function.
    pub const PLANNER: &str = "PlannerFunction";
}

use ids::*;

/// Template parameters.
pub mod params {
    /// Bucket holding the planner's zip.
    pub const CODE_BUCKET: &str = "PlannerCodeBucket";
    /// Key of the planner's zip.
    pub const CODE_KEY: &str = "PlannerCodeKey";
    /// `json` or `parquet`.
    pub const LAKE_FORMAT: &str = "LakeFormat";
    /// Executions reserved for the planner; 0 reserves none.
    pub const RESERVED_CONCURRENCY: &str = "PlannerReservedConcurrency";
    /// Email the alarms notify; empty for none.
    pub const ALARM_EMAIL: &str = "AlarmEmail";
}

/// The queues are encrypted at rest with SQS-managed keys, which the check does not recognise.
const SQS_MANAGED_ENCRYPTION: Skip = Skip {
    id: "CKV_AWS_27",
    reason: "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); a KMS key would add KMS calls and a key policy for no extra protection of restock alerts.",
};

/// The condition true when Firehose converts records to Parquet.
const PARQUET: &str = "ConvertToParquet";

/// The condition true when the planner has reserved concurrency.
const RESERVE_CONCURRENCY: &str = "ReservePlannerConcurrency";

/// The stack outputs and the app setting each one fills.
pub const OUTPUTS: [(&str, &str); 9] = [
    ("LakeBucketName", env::LAKE_BUCKET),
    ("DeliveryStreamName", env::DELIVERY_STREAM),
    ("AlertQueueUrl", env::ALERT_QUEUE_URL),
    ("DeadLetterQueueUrl", env::DEAD_LETTER_QUEUE_URL),
    ("AthenaWorkgroup", env::ATHENA_WORKGROUP),
    ("GlueDatabase", env::GLUE_DATABASE),
    ("LakeFormat", env::LAKE_FORMAT),
    ("MetricsNamespace", env::METRICS_NAMESPACE),
    ("Region", env::REGION),
];

/// The whole stack.
pub fn template() -> Template {
    let mut t = Template::new(
        "Store inventory streaming pipeline: lake, delivery stream, catalog, planning query, alert queues and the planner function.",
    );
    parameters(&mut t);
    lake(&mut t);
    ingest(&mut t);
    catalog(&mut t);
    snapshot_catalog(&mut t);
    queues(&mut t);
    planner_role(&mut t);
    planner(&mut t);
    operations::operations(&mut t);
    outputs(&mut t);
    t
}

/// The stack's metrics namespace, `StoreInventory/<stack>`.
pub(crate) fn metrics_namespace() -> Value {
    json!({"Fn::Join": ["", [store_model::metrics::NAMESPACE_PREFIX, reference("AWS::StackName")]]})
}

/// The parameters and the conditions they drive.
fn parameters(t: &mut Template) {
    t.parameters.insert(
        params::CODE_BUCKET,
        Parameter {
            kind: "String",
            description: "Bucket holding the planner's bootstrap.zip (scripts/deploy.sh uploads it).",
            default: None,
            allowed_values: vec![],
        },
    );
    t.parameters.insert(
        params::CODE_KEY,
        Parameter {
            kind: "String",
            description: "Key of the planner's bootstrap.zip.",
            default: None,
            allowed_values: vec![],
        },
    );
    t.parameters.insert(
        params::LAKE_FORMAT,
        Parameter {
            kind: "String",
            description: "Objects Firehose writes: json (NDJSON as sent) or parquet (converted with the Glue table's schema).",
            default: Some("json"),
            allowed_values: vec!["json", "parquet"],
        },
    );
    t.parameters.insert(
        params::RESERVED_CONCURRENCY,
        Parameter {
            kind: "Number",
            description: "Concurrent executions reserved for the planner (and its cap); 0 reserves none. A reservation needs the account to keep 100 unreserved executions, which new accounts (quota 10) do not have. Planners running at once are safe without one: snapshot commits are conditional and alert ids deterministic.",
            default: Some("0"),
            allowed_values: vec![],
        },
    );
    t.conditions.insert(
        RESERVE_CONCURRENCY,
        json!({"Fn::Not": [{"Fn::Equals": [reference(params::RESERVED_CONCURRENCY), "0"]}]}),
    );
    t.conditions.insert(
        PARQUET,
        json!({"Fn::Equals": [reference(params::LAKE_FORMAT), "parquet"]}),
    );
}

/// The lake bucket, encrypted, versioned, private, with its lifecycle.
fn lake(t: &mut Template) {
    // The lake.
    let expire = |id: &str, prefix: &str, days: i32| json!({"Id": id, "Status": "Enabled", "Prefix": prefix, "ExpirationInDays": days});
    t.add(
        LAKE_BUCKET,
        Resource::new(
            "AWS::S3::Bucket",
            json!({
                "BucketName": sub("${AWS::StackName}-lake-${AWS::AccountId}-${AWS::Region}"),
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
                    "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BucketKeyEnabled": true
                }]},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": true, "BlockPublicPolicy": true,
                    "IgnorePublicAcls": true, "RestrictPublicBuckets": true
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": [
                    expire("expire-query-results", QUERY_RESULTS_PREFIX, QUERY_RESULTS_EXPIRY_DAYS),
                    expire("expire-error-objects", ERRORS_PREFIX, ERROR_OBJECTS_EXPIRY_DAYS),
                    {"Id": "expire-replaced-versions", "Status": "Enabled",
                     "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSIONS_EXPIRY_DAYS},
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}
                ]},
                "Tags": [{"Key": "app", "Value": "store-inventory"}]
            }),
        )
        .retained()
        .skipping(&[Skip {
            id: "CKV_AWS_18",
            reason: "Access logging needs a second bucket per stack; the TLS-only policy, blocked public access and CloudTrail cover who reads the lake.",
        }]),
    );
    t.add(
        LAKE_BUCKET_POLICY,
        Resource::new(
            "AWS::S3::BucketPolicy",
            json!({
                "Bucket": reference(LAKE_BUCKET),
                "PolicyDocument": tls_only_bucket_policy(bucket_arn()),
            }),
        ),
    );
}

/// Ingest: the delivery stream, its role and its logs.
fn ingest(t: &mut Template) {
    // Ingest.
    t.add(
        FIREHOSE_LOGS,
        Resource::new(
            "AWS::Logs::LogGroup",
            json!({
                "LogGroupName": sub("/aws/kinesisfirehose/${AWS::StackName}-readings"),
                "RetentionInDays": LOG_RETENTION_DAYS
            }),
        )
        .skipping(&[Skip {
            id: "CKV_AWS_158",
            reason: "Delivery error messages hold no secrets; CloudWatch Logs encrypts them at rest by default.",
        }]),
    );
    t.add(
        FIREHOSE_LOG_STREAM,
        Resource::new(
            "AWS::Logs::LogStream",
            json!({"LogGroupName": reference(FIREHOSE_LOGS), "LogStreamName": "S3Delivery"}),
        ),
    );
    t.add(
        FIREHOSE_ROLE,
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": trust("firehose.amazonaws.com", true),
                "Policies": [{
                    "PolicyName": "deliver-readings",
                    "PolicyDocument": document(&firehose_statements())
                }]
            }),
        ),
    );
    let parquet = json!({
        "Enabled": true,
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
        "SchemaConfiguration": {
            "DatabaseName": reference(DATABASE),
            "TableName": READINGS_TABLE,
            "RoleARN": get_att(FIREHOSE_ROLE, "Arn"),
            "Region": reference("AWS::Region")
        }
    });
    t.add(
        DELIVERY_STREAM,
        Resource::new(
            "AWS::KinesisFirehose::DeliveryStream",
            json!({
                "DeliveryStreamName": sub("${AWS::StackName}-readings"),
                "DeliveryStreamType": "DirectPut",
                "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
                "ExtendedS3DestinationConfiguration": {
                    "BucketARN": bucket_arn(),
                    "RoleARN": get_att(FIREHOSE_ROLE, "Arn"),
                    "Prefix": READINGS_PREFIX_EXPRESSION,
                    "ErrorOutputPrefix": ERRORS_PREFIX_EXPRESSION,
                    "BufferingHints": {"SizeInMBs": BUFFER_MIB, "IntervalInSeconds": BUFFER_SECONDS},
                    "CompressionFormat": "UNCOMPRESSED",
                    "CloudWatchLoggingOptions": {
                        "Enabled": true,
                        "LogGroupName": reference(FIREHOSE_LOGS),
                        "LogStreamName": reference(FIREHOSE_LOG_STREAM)
                    },
                    "DataFormatConversionConfiguration": if_then(PARQUET, parquet, no_value())
                }
            }),
        )
        .after(&[TABLE]),
    );
}

/// The catalog and the query: the readings table and the Athena workgroup.
fn catalog(t: &mut Template) {
    // The catalog and the query.
    let columns: Vec<Value> = glue_columns()
        .into_iter()
        .map(|(name, ty)| json!({"Name": name, "Type": ty}))
        .collect();
    let parameters = in_the_lake_bucket(table_parameters("BUCKET"), PARTITION_COLUMN);
    t.add(
        DATABASE,
        Resource::new(
            "AWS::Glue::Database",
            json!({
                "CatalogId": reference("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": {"Fn::Join": ["_", {"Fn::Split": ["-", reference("AWS::StackName")]}]},
                    "Description": "Store inventory lake"
                }
            }),
        ),
    );
    t.add(
        TABLE,
        Resource::new(
            "AWS::Glue::Table",
            json!({
                "CatalogId": reference("AWS::AccountId"),
                "DatabaseName": reference(DATABASE),
                "TableInput": {
                    "Name": READINGS_TABLE,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": parameters,
                    "PartitionKeys": [{"Name": PARTITION_COLUMN, "Type": "string"}],
                    "StorageDescriptor": {
                        "Columns": columns,
                        "Location": sub(&format!("s3://${{{LAKE_BUCKET}}}/{READINGS_PREFIX}")),
                        "InputFormat": if_then(PARQUET,
                            json!(PARQUET_INPUT_FORMAT),
                            json!(TEXT_INPUT_FORMAT)),
                        "OutputFormat": if_then(PARQUET,
                            json!(PARQUET_OUTPUT_FORMAT),
                            json!(TEXT_OUTPUT_FORMAT)),
                        "SerdeInfo": if_then(PARQUET,
                            json!({"SerializationLibrary": PARQUET_SERDE}),
                            json!({"SerializationLibrary": JSON_SERDE,
                                   "Parameters": {"ignore.malformed.json": "true"}}))
                    }
                }
            }),
        ),
    );
}

/// The snapshot table over the compacted runs.
fn snapshot_catalog(t: &mut Template) {
    let snapshot_columns: Vec<Value> = snapshot_glue_columns()
        .into_iter()
        .map(|(name, ty)| json!({"Name": name, "Type": ty}))
        .collect();
    let snapshot_parameters = in_the_lake_bucket(
        snapshot_table_parameters("BUCKET"),
        SNAPSHOT_PARTITION_COLUMN,
    );
    t.add(
        SNAPSHOT_GLUE_TABLE,
        Resource::new(
            "AWS::Glue::Table",
            json!({
                "CatalogId": reference("AWS::AccountId"),
                "DatabaseName": reference(DATABASE),
                "TableInput": {
                    "Name": SNAPSHOT_TABLE,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": snapshot_parameters,
                    "PartitionKeys": [{"Name": SNAPSHOT_PARTITION_COLUMN, "Type": "string"}],
                    "StorageDescriptor": {
                        "Columns": snapshot_columns,
                        "Location": sub(&format!("s3://${{{LAKE_BUCKET}}}/{SNAPSHOTS_PREFIX}")),
                        "InputFormat": PARQUET_INPUT_FORMAT,
                        "OutputFormat": PARQUET_OUTPUT_FORMAT,
                        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE}
                    }
                }
            }),
        ),
    );
    t.add(
        WORKGROUP,
        Resource::new(
            "AWS::Athena::WorkGroup",
            json!({
                "Name": sub("${AWS::StackName}-planning"),
                "RecursiveDeleteOption": true,
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": true,
                    "PublishCloudWatchMetricsEnabled": true,
                    "BytesScannedCutoffPerQuery": BYTES_SCANNED_CUTOFF,
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": {
                        "OutputLocation": sub(&format!("s3://${{{LAKE_BUCKET}}}/{QUERY_RESULTS_PREFIX}")),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}
                    }
                }
            }),
        ),
    );
}

/// The alert queue and its dead-letter queue.
fn queues(t: &mut Template) {
    // The alert queues.
    t.add(
        DEAD_LETTER_QUEUE,
        Resource::new(
            "AWS::SQS::Queue",
            json!({
                "QueueName": sub("${AWS::StackName}-alerts-dlq"),
                "SqsManagedSseEnabled": true,
                "MessageRetentionPeriod": DEAD_LETTER_RETENTION_SECONDS
            }),
        )
        .skipping(&[SQS_MANAGED_ENCRYPTION]),
    );
    t.add(
        ALERT_QUEUE,
        Resource::new(
            "AWS::SQS::Queue",
            json!({
                "QueueName": sub("${AWS::StackName}-alerts"),
                "SqsManagedSseEnabled": true,
                "VisibilityTimeout": ALERT_VISIBILITY_SECONDS,
                "RedrivePolicy": {
                    "deadLetterTargetArn": get_att(DEAD_LETTER_QUEUE, "Arn"),
                    "maxReceiveCount": MAX_RECEIVE_COUNT
                }
            }),
        )
        .skipping(&[SQS_MANAGED_ENCRYPTION]),
    );
    // One policy per queue, naming only its own queue.
    for (policy, queue) in [
        (QUEUE_POLICY, ALERT_QUEUE),
        (DEAD_LETTER_QUEUE_POLICY, DEAD_LETTER_QUEUE),
    ] {
        t.add(
            policy,
            Resource::new(
                "AWS::SQS::QueuePolicy",
                json!({
                    "Queues": [reference(queue)],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": get_att(queue, "Arn"),
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                        }]
                    }
                }),
            ),
        );
    }
}

/// The planner's role and logs.
fn planner_role(t: &mut Template) {
    // The planner.
    t.add(
        PLANNER_LOGS,
        Resource::new(
            "AWS::Logs::LogGroup",
            json!({
                "LogGroupName": sub("/aws/lambda/${AWS::StackName}-planner"),
                "RetentionInDays": LOG_RETENTION_DAYS
            }),
        )
        .skipping(&[Skip {
            id: "CKV_AWS_158",
            reason: "Planner logs hold store and product ids, no secrets; CloudWatch Logs encrypts them at rest by default.",
        }]),
    );
    t.add(
        PLANNER_ROLE,
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": trust("lambda.amazonaws.com", false),
                "Policies": [{
                    "PolicyName": "plan-restocks",
                    "PolicyDocument": document(&planner_statements())
                }]
            }),
        ),
    );
}

/// The planner function, its environment and its concurrency.
fn planner(t: &mut Template) {
    let mut variables = serde_json::Map::new();
    for (name, value) in [
        ("STORE_BACKEND", json!("aws")),
        (env::LAKE_BUCKET, reference(LAKE_BUCKET)),
        (env::ALERT_QUEUE_URL, reference(ALERT_QUEUE)),
        (env::DEAD_LETTER_QUEUE_URL, reference(DEAD_LETTER_QUEUE)),
        (env::ATHENA_WORKGROUP, reference(WORKGROUP)),
        (env::GLUE_DATABASE, reference(DATABASE)),
        (env::READINGS_TABLE, json!(READINGS_TABLE)),
        (env::SNAPSHOT_TABLE, json!(SNAPSHOT_TABLE)),
        (env::LAKE_FORMAT, reference(params::LAKE_FORMAT)),
        (env::QUERY_ENGINE, json!("athena")),
        (env::METRICS_NAMESPACE, metrics_namespace()),
    ] {
        variables.insert(name.to_owned(), value);
    }
    t.add(
        PLANNER,
        Resource::new(
            "AWS::Lambda::Function",
            json!({
                "FunctionName": sub("${AWS::StackName}-planner"),
                "Description": "StorePlanningApp: finds low stock and sends restock alerts.",
                "Runtime": "provided.al2023",
                "Architectures": ["arm64"],
                "Handler": "bootstrap",
                "Code": {"S3Bucket": reference(params::CODE_BUCKET), "S3Key": reference(params::CODE_KEY)},
                "Role": get_att(PLANNER_ROLE, "Arn"),
                "Timeout": PLANNER_TIMEOUT_SECONDS,
                "MemorySize": 256,
                "ReservedConcurrentExecutions": if_then(
                    RESERVE_CONCURRENCY,
                    reference(params::RESERVED_CONCURRENCY),
                    no_value()
                ),
                "Environment": {"Variables": variables},
                "LoggingConfig": {"LogFormat": "JSON", "LogGroup": reference(PLANNER_LOGS)}
            }),
        )
        .skipping(&[
            Skip {
                id: "CKV_AWS_116",
                reason: "The planner is invoked synchronously by hand; a dead-letter queue only catches asynchronous invocations.",
            },
            Skip {
                id: "CKV_AWS_117",
                reason: "It reaches only AWS service endpoints; a VPC would add NAT costs and no isolation.",
            },
            Skip {
                id: "CKV_AWS_173",
                reason: "The environment holds resource names only, no secrets; Lambda encrypts it at rest with an AWS key.",
            },
        ]),
    );

    for (name, variable) in OUTPUTS {
        let value = match name {
            "LakeBucketName" => reference(LAKE_BUCKET),
            "DeliveryStreamName" => reference(DELIVERY_STREAM),
            "AlertQueueUrl" => reference(ALERT_QUEUE),
            "DeadLetterQueueUrl" => reference(DEAD_LETTER_QUEUE),
            "AthenaWorkgroup" => reference(WORKGROUP),
            "GlueDatabase" => reference(DATABASE),
            "LakeFormat" => reference(params::LAKE_FORMAT),
            "MetricsNamespace" => metrics_namespace(),
            _ => reference("AWS::Region"),
        };
        t.outputs.insert(
            name,
            Output {
                description: format!("{variable} for the apps"),
                value,
            },
        );
    }
}

/// The stack outputs.
fn outputs(t: &mut Template) {
    t.outputs.insert(
        "TruckAppMetricsPolicyArn",
        Output {
            description:
                "Attach to the identity store-truck-app runs as, so it may publish its metrics"
                    .into(),
            value: reference(operations::TRUCK_METRICS_POLICY),
        },
    );
    t.outputs.insert(
        "PlannerFunctionName",
        Output {
            description:
                "The planner function, for `cargo lambda invoke --remote` and `aws lambda invoke`"
                    .into(),
            value: reference(PLANNER),
        },
    );
}

/// Turns `describe-stacks` outputs (`[{"OutputKey": …, "OutputValue": …}]`) into the apps'
/// env file.
pub fn env_file_from_outputs(outputs: &Value) -> Result<String, String> {
    let list = outputs.as_array().ok_or(
        "expected the JSON list of `aws cloudformation describe-stacks --query Stacks[0].Outputs`",
    )?;
    let mut text = String::new();
    for (key, variable) in OUTPUTS {
        let value = list
            .iter()
            .find(|o| o["OutputKey"] == key)
            .and_then(|o| o["OutputValue"].as_str())
            .ok_or(format!("the stack has no output {key}"))?;
        text.push_str(&format!("{variable}={value}\n"));
    }
    Ok(text)
}

mod iam;
pub mod operations;
#[cfg(test)]
mod tests;

use iam::*;
pub use iam::{firehose_statements, planner_statements};
