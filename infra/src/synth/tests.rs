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

/// The metrics each AWS namespace publishes that the stack watches, with their dimensions, as
/// the services document them (SQS, Lambda, Firehose, Athena CloudWatch metrics pages).
const AWS_METRICS: &[(&str, &str, &[&str])] = &[
    (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        &["QueueName"],
    ),
    (
        "AWS/SQS",
        "ApproximateNumberOfMessagesNotVisible",
        &["QueueName"],
    ),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", &["QueueName"]),
    ("AWS/Lambda", "Errors", &["FunctionName"]),
    ("AWS/Lambda", "Throttles", &["FunctionName"]),
    ("AWS/Lambda", "Duration", &["FunctionName"]),
    ("AWS/Lambda", "Invocations", &["FunctionName"]),
    (
        "AWS/Firehose",
        "DeliveryToS3.DataFreshness",
        &["DeliveryStreamName"],
    ),
    (
        "AWS/Firehose",
        "DeliveryToS3.Success",
        &["DeliveryStreamName"],
    ),
    (
        "AWS/Firehose",
        "DeliveryToS3.Records",
        &["DeliveryStreamName"],
    ),
    ("AWS/Firehose", "IncomingRecords", &["DeliveryStreamName"]),
    (
        "AWS/Athena",
        "TotalExecutionTime",
        &["QueryState", "QueryType", "WorkGroup"],
    ),
];

/// The logical id a `Ref` or `Fn::GetAtt` names.
fn named_resource(value: &Value) -> Option<&str> {
    value["Ref"]
        .as_str()
        .or_else(|| value["Fn::GetAtt"][0].as_str())
}

#[test]
fn every_alarm_names_an_existing_metric_and_resource_and_notifies_the_topic() {
    let t: Value = serde_json::from_str(&template().to_json()).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    let alarms: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert_eq!(alarms.len(), operations::ALARMS.len());
    for (id, alarm) in alarms {
        let p = &alarm["Properties"];
        let (namespace, metric) = (
            p["Namespace"].as_str().unwrap(),
            p["MetricName"].as_str().unwrap(),
        );
        let known = AWS_METRICS
            .iter()
            .find(|(n, m, _)| *n == namespace && *m == metric)
            .unwrap_or_else(|| panic!("{id}: {namespace} publishes no {metric} we know of"));
        let mut names: Vec<&str> = p["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, known.2, "{id}: the metric's dimensions");
        for d in p["Dimensions"].as_array().unwrap() {
            if let Some(target) = named_resource(&d["Value"]) {
                assert!(resources.contains_key(target), "{id}: no resource {target}");
            }
        }
        assert!(
            p["Dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| named_resource(&d["Value"]).is_some()),
            "{id}: watches no resource of the stack"
        );
        assert_eq!(p["AlarmActions"][0]["Ref"], operations::ALARM_TOPIC, "{id}");
        let description = p["AlarmDescription"].as_str().unwrap();
        assert!(
            description.len() > 60,
            "{id}: say what it means and what to do"
        );
    }
    assert_eq!(
        resources[operations::ALARM_TOPIC]["Properties"]["KmsMasterKeyId"],
        "alias/aws/sns"
    );
}

#[test]
fn the_dashboard_shows_only_metrics_that_exist() {
    let t: Value = serde_json::from_str(&template().to_json()).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    let sub = &resources[operations::DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"];
    let body: Value = serde_json::from_str(sub[0].as_str().unwrap()).unwrap();
    let variables = sub[1].as_object().unwrap();
    let own: Vec<&str> = store_model::metrics::PLANNER_METRICS
        .iter()
        .chain(&store_model::metrics::TRUCK_METRICS)
        .map(|m| m.name)
        .collect();
    let mut shown = 0;
    for w in body["widgets"].as_array().unwrap() {
        for row in w["properties"]["metrics"].as_array().unwrap() {
            let (namespace, metric) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
            if namespace == "${Namespace}" {
                assert!(own.contains(&metric), "{metric} is not one of ours");
            } else {
                assert!(
                    AWS_METRICS
                        .iter()
                        .any(|(n, m, _)| *n == namespace && *m == metric),
                    "{namespace} {metric}"
                );
            }
            // Every `${Name}` it uses is given, and names a resource of the stack.
            for cell in row.as_array().unwrap().iter().filter_map(Value::as_str) {
                if let Some(name) = cell.strip_prefix("${").and_then(|c| c.strip_suffix('}')) {
                    let value = &variables[name];
                    assert!(!value.is_null(), "${{{name}}} is not filled");
                    if let Some(target) = named_resource(value) {
                        assert!(
                            resources.contains_key(target) || target.starts_with("AWS::"),
                            "{target}"
                        );
                    }
                }
            }
            shown += 1;
        }
    }
    assert!(shown >= 15, "{shown}");
    // The planner's own metrics land in the namespace the dashboard reads.
    let vars = &resources[PLANNER]["Properties"]["Environment"]["Variables"];
    assert_eq!(vars[env::METRICS_NAMESPACE], variables["Namespace"]);
}

#[test]
fn each_queue_policy_names_its_own_queue_only_and_the_lake_goes_with_a_failed_create() {
    let t: Value = serde_json::from_str(&template().to_json()).unwrap();
    let resources = &t["Resources"];
    for (policy, queue) in [
        (QUEUE_POLICY, ALERT_QUEUE),
        (DEAD_LETTER_QUEUE_POLICY, DEAD_LETTER_QUEUE),
    ] {
        let p = &resources[policy]["Properties"];
        assert_eq!(p["Queues"], json!([{"Ref": queue}]));
        let statements = p["PolicyDocument"]["Statement"].as_array().unwrap();
        for s in statements {
            assert_eq!(
                s["Resource"],
                json!({"Fn::GetAtt": [queue, "Arn"]}),
                "{policy}"
            );
        }
    }
    assert_eq!(
        resources[LAKE_BUCKET]["DeletionPolicy"],
        "RetainExceptOnCreate"
    );
    assert_eq!(resources[LAKE_BUCKET]["UpdateReplacePolicy"], "Retain");
}

#[test]
fn the_truck_app_may_publish_to_its_stack_namespace_only() {
    let t: Value = serde_json::from_str(&template().to_json()).unwrap();
    let policy = &t["Resources"][operations::TRUCK_METRICS_POLICY]["Properties"]["PolicyDocument"];
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Action"], "cloudwatch:PutMetricData");
    let namespace = &s["Condition"]["StringEquals"]["cloudwatch:namespace"];
    let planner =
        &t["Resources"][PLANNER]["Properties"]["Environment"]["Variables"][env::METRICS_NAMESPACE];
    assert_eq!(namespace, planner, "the namespace the dashboard reads");
}
