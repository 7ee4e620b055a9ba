//! Tests of `synth`.

use super::*;
use crate::resolve::{Deployment, Resolved};

#[test]
fn every_policy_statement_names_its_actions_and_resources() {
    for s in firehose_statements().iter().chain(&planner_statements()) {
        assert_eq!(s.problem(), None);
    }
}

#[test]
fn the_planner_may_write_only_alerts_and_query_results() {
    let writes = planner_statements()
        .into_iter()
        .find(|s| s.actions.contains(&"s3:PutObject"))
        .unwrap();
    let text = serde_json::to_string(&writes.resources).unwrap();
    assert!(text.contains("ledger/alerts/") && text.contains(QUERY_RESULTS_PREFIX));
    assert!(
        !text.contains("readings/"),
        "the planner never writes readings"
    );
}

#[test]
fn the_function_environment_uses_the_apps_variable_names() {
    let t = template();
    let vars = &t.resources[PLANNER].properties["Environment"]["Variables"];
    for name in [
        env::LAKE_BUCKET,
        env::ALERT_QUEUE_URL,
        env::ATHENA_WORKGROUP,
        env::GLUE_DATABASE,
    ] {
        assert!(vars.get(name).is_some(), "{name}");
    }
}

fn resolved(parameters: &[(&str, &str)]) -> Resolved {
    Resolved::new(
        serde_json::from_str(&template().to_json()).unwrap(),
        Deployment::sample("store-inventory", parameters),
    )
}

const LOGS: &str = "arn:aws:logs:ap-southeast-1:123456789012:log-group:";

#[test]
fn firehose_may_write_its_delivery_error_log_stream() {
    let r = resolved(&[]);
    let stream =
        format!("{LOGS}/aws/kinesisfirehose/store-inventory-readings:log-stream:S3Delivery");
    assert!(r.allows(FIREHOSE_ROLE, "logs:PutLogEvents", &stream));
    let other = format!("{LOGS}/aws/kinesisfirehose/other:log-stream:S3Delivery");
    assert!(!r.allows(FIREHOSE_ROLE, "logs:PutLogEvents", &other));
}

#[test]
fn the_planner_may_write_its_own_log_streams_only() {
    let r = resolved(&[]);
    let group = format!("{LOGS}/aws/lambda/store-inventory-planner");
    let stream = format!("{group}:log-stream:2026/11/28/[$LATEST]0123abcd");
    for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
        assert!(r.allows(PLANNER_ROLE, action, &stream), "{action}");
    }
    let other = format!("{LOGS}/aws/lambda/other:log-stream:x");
    assert!(!r.allows(PLANNER_ROLE, "logs:PutLogEvents", &other));
}

/// Each action a role needs on a resource, from the AWS documentation of the service that
/// acts (the README's permissions table lists the same, with the documents).
#[test]
fn every_role_may_do_what_its_services_need() {
    let r = resolved(&[]);
    let lake = "arn:aws:s3:::store-inventory-lake-123456789012-ap-southeast-1";
    let glue = "arn:aws:glue:ap-southeast-1:123456789012:";
    let planner_needs: Vec<(&str, String)> = vec![
        // Athena's query-result location.
        ("s3:GetBucketLocation", lake.into()),
        ("s3:ListBucket", lake.into()),
        ("s3:ListBucketMultipartUploads", lake.into()),
        ("s3:GetObject", format!("{lake}/athena-results/q.csv")),
        ("s3:PutObject", format!("{lake}/athena-results/q.csv")),
        (
            "s3:AbortMultipartUpload",
            format!("{lake}/athena-results/q.csv"),
        ),
        (
            "s3:ListMultipartUploadParts",
            format!("{lake}/athena-results/q.csv"),
        ),
        // What the query reads, and what UNLOAD writes.
        (
            "s3:GetObject",
            format!("{lake}/readings/dt=2026-11-28-10/a.json"),
        ),
        (
            "s3:PutObject",
            format!("{lake}/snapshots/latest/run=000000000001-x/part-0"),
        ),
        (
            "s3:DeleteObject",
            format!("{lake}/snapshots/latest/run=000000000001-x/part-0"),
        ),
        (
            "s3:PutObject",
            format!("{lake}/snapshots/latest/_commits/000000000001.json"),
        ),
        (
            "s3:PutObject",
            format!("{lake}/ledger/alerts/dt=2026-11-28-10/a.json"),
        ),
        (
            "s3:PutObject",
            format!("{lake}/ledger/runs/dt=2026-11-28-10/run-a.json"),
        ),
        // The catalog, and the `default` database Athena may ask for.
        ("glue:GetDatabase", format!("{glue}database/default")),
        (
            "glue:GetDatabase",
            format!("{glue}database/store_inventory"),
        ),
        (
            "glue:GetTable",
            format!("{glue}table/store_inventory/readings"),
        ),
        (
            "glue:GetTable",
            format!("{glue}table/store_inventory/latest_snapshot"),
        ),
        (
            "athena:StopQueryExecution",
            "arn:aws:athena:ap-southeast-1:123456789012:workgroup/store-inventory-planning".into(),
        ),
        (
            "sqs:SendMessage",
            "arn:aws:sqs:ap-southeast-1:123456789012:store-inventory-alerts".into(),
        ),
    ];
    for (action, arn) in &planner_needs {
        assert!(
            r.allows(PLANNER_ROLE, action, arn),
            "planner: {action} on {arn}"
        );
    }
    let firehose_needs: Vec<(&str, String)> = vec![
        (
            "s3:PutObject",
            format!("{lake}/readings/dt=2026-11-28-10/a"),
        ),
        (
            "s3:PutObject",
            format!("{lake}/errors/format-conversion-failed/dt=2026-11-28-10/a"),
        ),
        ("s3:ListBucketMultipartUploads", lake.into()),
        (
            "glue:GetTableVersions",
            format!("{glue}table/store_inventory/readings"),
        ),
    ];
    for (action, arn) in &firehose_needs {
        assert!(
            r.allows(FIREHOSE_ROLE, action, arn),
            "firehose: {action} on {arn}"
        );
    }
    // And nothing beyond: the planner deletes no reading, writes no reading, sends to no
    // other queue; Firehose writes nothing outside its prefixes.
    for (action, arn) in [
        (
            "s3:DeleteObject",
            format!("{lake}/readings/dt=2026-11-28-10/a.json"),
        ),
        (
            "s3:PutObject",
            format!("{lake}/readings/dt=2026-11-28-10/a.json"),
        ),
        (
            "s3:DeleteObject",
            format!("{lake}/snapshots/latest/_commits/000000000001.json"),
        ),
        (
            "sqs:SendMessage",
            "arn:aws:sqs:ap-southeast-1:123456789012:other".into(),
        ),
    ] {
        assert!(
            !r.allows(PLANNER_ROLE, action, &arn),
            "planner must not: {action} on {arn}"
        );
    }
    assert!(!r.allows(FIREHOSE_ROLE, "s3:PutObject", &format!("{lake}/ledger/x")));
}

#[test]
fn reserved_concurrency_is_opt_in() {
    let none = resolved(&[]).property(PLANNER, "ReservedConcurrentExecutions");
    assert_eq!(none, Value::Null, "no reservation unless asked for");
    let some = resolved(&[(params::RESERVED_CONCURRENCY, "3")])
        .property(PLANNER, "ReservedConcurrentExecutions");
    assert_eq!(some, json!("3"));
}

#[test]
fn outputs_become_the_env_file() {
    let outputs: Vec<Value> = OUTPUTS
        .iter()
        .map(|(k, _)| json!({"OutputKey": k, "OutputValue": format!("v-{k}")}))
        .collect();
    let text = env_file_from_outputs(&json!(outputs)).unwrap();
    assert!(text.contains("STORE_LAKE_BUCKET=v-LakeBucketName\n"));
    assert!(
        env_file_from_outputs(&json!([]))
            .unwrap_err()
            .contains("LakeBucketName")
    );
}
