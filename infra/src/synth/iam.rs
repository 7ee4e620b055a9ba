//! Each role's permissions, statement by statement: least privilege on the stack's own
//! resources, named from the stack name.

use serde_json::{Value, json};
use store_model::lake::READINGS_PREFIX;
use store_model::snapshot::{SNAPSHOT_PARTITION_COLUMN, SNAPSHOT_TABLE, SNAPSHOTS_PREFIX};

use super::ids::*;
use crate::policy::Statement;
use crate::stack::*;
use crate::template::{get_att, sub};

pub(super) fn bucket_arn() -> Value {
    get_att(LAKE_BUCKET, "Arn")
}

pub(super) fn bucket_objects(prefix: &str) -> Value {
    sub(&format!("${{{LAKE_BUCKET}.Arn}}/{prefix}*"))
}

/// The catalog, the database and `tables`.
pub(super) fn glue_arns(tables: &[&str]) -> Vec<Value> {
    let mut arns = vec![
        sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
        sub(&format!(
            "arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/${{{DATABASE}}}"
        )),
    ];
    arns.extend(tables.iter().map(|table| {
        sub(&format!(
            "arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/${{{DATABASE}}}/{table}"
        ))
    }));
    arns
}

/// The ARN of the log group `logical_id` followed by `suffix` (`:*` for its streams,
/// `:log-stream:NAME` for one), built from its name: the group's `Arn` attribute already ends in
/// `:*`, so nothing can be appended to it.
pub(super) fn log_group_arn(logical_id: &str, suffix: &str) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{logical_id}}}{suffix}"
    ))
}

/// Table parameters written for the bucket `BUCKET`, as `Fn::Sub` values naming the lake bucket;
/// the projection template's `${column}` stays literal for Athena.
pub(super) fn in_the_lake_bucket(
    parameters: Vec<(String, String)>,
    column: &str,
) -> serde_json::Map<String, Value> {
    parameters
        .into_iter()
        .map(|(k, v)| {
            let v = if v.contains("BUCKET") {
                sub(&v
                    .replace("BUCKET", &format!("${{{LAKE_BUCKET}}}"))
                    .replace(&format!("${{{column}}}"), &format!("${{!{column}}}")))
            } else {
                json!(v)
            };
            (k, v)
        })
        .collect()
}

/// The delivery stream role's statements: write the lake, read the table (for Parquet), log.
pub fn firehose_statements() -> Vec<Statement> {
    vec![
        Statement::allow(
            "WriteTheLake",
            &[
                "s3:AbortMultipartUpload",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
                "s3:PutObject",
            ],
            vec![
                bucket_arn(),
                bucket_objects(READINGS_PREFIX),
                bucket_objects(ERRORS_PREFIX),
            ],
        ),
        Statement::allow(
            "ReadTheTableForParquetConversion",
            &[
                "glue:GetTable",
                "glue:GetTableVersion",
                "glue:GetTableVersions",
            ],
            glue_arns(&[READINGS_TABLE]),
        ),
        Statement::allow(
            "LogDeliveryErrors",
            &["logs:PutLogEvents"],
            vec![log_group_arn(
                FIREHOSE_LOGS,
                &format!(":log-stream:${{{FIREHOSE_LOG_STREAM}}}"),
            )],
        ),
    ]
}

/// The planner's statements: run the query in its workgroup, read the lake and ledger, write
/// alerts to the ledger, results to their prefix and snapshots to theirs, collect old snapshot
/// data, send alerts, log.
pub fn planner_statements() -> Vec<Statement> {
    let mut statements = query_statements();
    statements.extend(lake_statements());
    statements
}

/// The planner's Athena and Glue permissions: run queries in the workgroup, read the catalog.
fn query_statements() -> Vec<Statement> {
    vec![
        Statement::allow(
            "RunThePlanningQuery",
            &[
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
            ],
            vec![sub(&format!(
                "arn:${{AWS::Partition}}:athena:${{AWS::Region}}:${{AWS::AccountId}}:workgroup/${{{WORKGROUP}}}"
            ))],
        ),
        Statement::allow(
            "ReadTheCatalog",
            &["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            glue_arns(&[READINGS_TABLE, SNAPSHOT_TABLE]),
        ),
        // Athena may look up the catalog's `default` database whatever the query's database is.
        Statement::allow(
            "ReadTheDefaultDatabase",
            &["glue:GetDatabase"],
            vec![
                sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
                sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/default"),
            ],
        ),
    ]
}

/// The planner's lake, queue and log permissions.
fn lake_statements() -> Vec<Statement> {
    vec![
        // Athena lists the lake, the result location and an UNLOAD's (empty) target with the
        // caller's permissions, multipart uploads included.
        Statement::allow(
            "ListTheLake",
            &[
                "s3:GetBucketLocation",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
            ],
            vec![bucket_arn()],
        ),
        Statement::allow(
            "ReadReadingsAndLedger",
            &["s3:GetObject"],
            vec![
                bucket_objects(READINGS_PREFIX),
                bucket_objects("ledger/"),
                bucket_objects(QUERY_RESULTS_PREFIX),
                bucket_objects(SNAPSHOTS_PREFIX),
            ],
        ),
        Statement::allow(
            "WriteAlertsResultsAndSnapshots",
            &[
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            vec![
                bucket_objects("ledger/alerts/"),
                bucket_objects("ledger/runs/"),
                bucket_objects(QUERY_RESULTS_PREFIX),
                bucket_objects(SNAPSHOTS_PREFIX),
            ],
        ),
        Statement::allow(
            "CollectSupersededSnapshotRuns",
            &["s3:DeleteObject"],
            vec![bucket_objects(&format!(
                "{SNAPSHOTS_PREFIX}{SNAPSHOT_PARTITION_COLUMN}="
            ))],
        ),
        Statement::allow(
            "SendAlerts",
            &["sqs:SendMessage"],
            vec![get_att(ALERT_QUEUE, "Arn")],
        ),
        Statement::allow(
            "Log",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![log_group_arn(PLANNER_LOGS, ":*")],
        ),
    ]
}
