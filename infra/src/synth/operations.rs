//! What tells the operator when the stack is unwell: alarms (to an SNS topic, with an email
//! subscription when one is given at deploy time) and a dashboard.
//!
//! Every alarm watches a metric an AWS service publishes for a resource of this stack, with a
//! description that says what it means and what to do; [`ALARMS`] is the one list the template,
//! its test and the README's table come from.

use serde_json::{Value, json};
use store_model::metrics::{self, Metric};

use super::ids::*;
use super::params;
use crate::stack::PLANNER_TIMEOUT_SECONDS;
use crate::template::{Parameter, Resource, Template, get_att, if_then, no_value, reference, sub};

/// The alarm topic.
pub const ALARM_TOPIC: &str = "AlarmTopic";
/// The condition true when an alarm email was given.
const HAS_ALARM_EMAIL: &str = "HasAlarmEmail";
/// The dashboard.
pub const DASHBOARD: &str = "OperationsDashboard";
/// The managed policy an operator attaches to the identity the truck app runs as.
pub const TRUCK_METRICS_POLICY: &str = "TruckAppMetricsPolicy";

/// Seconds after which data waiting in Firehose is late: fifteen buffer intervals.
pub const FRESHNESS_SECONDS: u32 = 900;
/// The planner's duration, in milliseconds, that is too near its timeout: 80%.
pub const DURATION_NEAR_TIMEOUT_MS: u32 = PLANNER_TIMEOUT_SECONDS * 1000 * 8 / 10;

/// An alarm of the stack.
pub struct Alarm {
    /// Its logical id.
    pub id: &'static str,
    /// The AWS namespace of its metric.
    pub namespace: &'static str,
    /// The metric.
    pub metric: &'static str,
    /// The metric's dimension name and the resource (logical id) whose name fills it, with the
    /// attribute to read (`None`: `Ref`).
    pub dimension: (&'static str, &'static str, Option<&'static str>),
    /// More dimensions with fixed values.
    pub fixed: &'static [(&'static str, &'static str)],
    /// `Sum`, `Maximum`, `Average`, `SampleCount`.
    pub statistic: &'static str,
    /// CloudWatch's comparison operator.
    pub comparison: &'static str,
    /// The threshold.
    pub threshold: f64,
    /// Seconds per period.
    pub period: u32,
    /// Periods that must breach.
    pub periods: u32,
    /// What it means and what to do.
    pub description: &'static str,
}

/// Every alarm of the stack.
pub const ALARMS: [Alarm; 7] = [
    Alarm {
        id: "DeadLetterAlarm",
        namespace: "AWS/SQS",
        metric: "ApproximateNumberOfMessagesVisible",
        dimension: ("QueueName", DEAD_LETTER_QUEUE, Some("QueueName")),
        fixed: &[],
        statistic: "Maximum",
        comparison: "GreaterThanOrEqualToThreshold",
        threshold: 1.0,
        period: 300,
        periods: 1,
        description: "An alert is in the dead-letter queue: a message the truck app could not accept (not an alert, a store with no location, an order too large). Read its reason with `store-truck-app status` or the SQS console (the message attribute), fix the stores file or the data, then redrive it to the alert queue.",
    },
    Alarm {
        id: "PlannerErrorsAlarm",
        namespace: "AWS/Lambda",
        metric: "Errors",
        dimension: ("FunctionName", PLANNER, None),
        fixed: &[],
        statistic: "Sum",
        comparison: "GreaterThanOrEqualToThreshold",
        threshold: 1.0,
        period: 300,
        periods: 1,
        description: "A planning run failed. Its error is in the log group /aws/lambda/<stack>-planner (errorType, errorMessage); an OutOfTime run resumes on the next invocation, anything else needs a look before planning again.",
    },
    Alarm {
        id: "PlannerThrottlesAlarm",
        namespace: "AWS/Lambda",
        metric: "Throttles",
        dimension: ("FunctionName", PLANNER, None),
        fixed: &[],
        statistic: "Sum",
        comparison: "GreaterThanOrEqualToThreshold",
        threshold: 1.0,
        period: 300,
        periods: 1,
        description: "A planning invocation was throttled: the account's concurrency (or the planner's reservation) is used up. Invoke again later, or raise PlannerReservedConcurrency.",
    },
    Alarm {
        id: "PlannerDurationAlarm",
        namespace: "AWS/Lambda",
        metric: "Duration",
        dimension: ("FunctionName", PLANNER, None),
        fixed: &[],
        statistic: "Maximum",
        comparison: "GreaterThanOrEqualToThreshold",
        threshold: DURATION_NEAR_TIMEOUT_MS as f64,
        period: 300,
        periods: 1,
        description: "A planning run took 80% of its timeout: the window or the lake has grown. Look at QueryMilliseconds on the dashboard; shorten the lookback, keep the snapshot table on, or raise the timeout.",
    },
    Alarm {
        id: "DeliveryFreshnessAlarm",
        namespace: "AWS/Firehose",
        metric: "DeliveryToS3.DataFreshness",
        dimension: ("DeliveryStreamName", DELIVERY_STREAM, None),
        fixed: &[],
        statistic: "Maximum",
        comparison: "GreaterThanThreshold",
        threshold: FRESHNESS_SECONDS as f64,
        period: 300,
        periods: 2,
        description: "Readings have waited in the delivery stream for more than 15 minutes: Firehose cannot write to the lake. Read the log group /aws/kinesisfirehose/<stack>-readings and the bucket's errors/ prefix.",
    },
    Alarm {
        id: "DeliverySuccessAlarm",
        namespace: "AWS/Firehose",
        metric: "DeliveryToS3.Success",
        dimension: ("DeliveryStreamName", DELIVERY_STREAM, None),
        fixed: &[],
        statistic: "Average",
        comparison: "LessThanThreshold",
        threshold: 1.0,
        period: 300,
        periods: 1,
        description: "Some deliveries to the lake failed (Firehose retries them for 24 h). Read the log group /aws/kinesisfirehose/<stack>-readings; check the bucket policy, the role and, with Parquet, the Glue table.",
    },
    Alarm {
        id: "AthenaFailedQueriesAlarm",
        namespace: "AWS/Athena",
        metric: "TotalExecutionTime",
        dimension: ("WorkGroup", WORKGROUP, None),
        fixed: &[("QueryState", "FAILED"), ("QueryType", "DML")],
        statistic: "SampleCount",
        comparison: "GreaterThanOrEqualToThreshold",
        threshold: 1.0,
        period: 300,
        periods: 1,
        description: "A planning query failed in Athena. Its error is in the workgroup's query history (<stack>-planning); a scan past the workgroup's cutoff, a table out of step with the objects, or a foreign object in the lake are the usual causes.",
    },
];

/// What a dimension's value is in the template.
fn resource_name(id: &str, attribute: Option<&str>) -> Value {
    match attribute {
        Some(a) => get_att(id, a),
        None => reference(id),
    }
}

/// The alarm parameter, the topic, its subscription, the alarms and the dashboard.
pub fn operations(t: &mut Template) {
    t.parameters.insert(
        params::ALARM_EMAIL,
        Parameter {
            kind: "String",
            description: "Email address the alarms notify (a subscription to confirm); empty: the alarms go to the topic only.",
            default: Some(""),
            allowed_values: vec![],
        },
    );
    t.conditions.insert(
        HAS_ALARM_EMAIL,
        json!({"Fn::Not": [{"Fn::Equals": [reference(params::ALARM_EMAIL), ""]}]}),
    );
    t.add(
        ALARM_TOPIC,
        Resource::new(
            "AWS::SNS::Topic",
            json!({
                "TopicName": sub("${AWS::StackName}-alarms"),
                "KmsMasterKeyId": "alias/aws/sns",
                "Subscription": if_then(
                    HAS_ALARM_EMAIL,
                    json!([{"Protocol": "email", "Endpoint": reference(params::ALARM_EMAIL)}]),
                    no_value()
                )
            }),
        ),
    );
    t.add(
        "AlarmTopicPolicy",
        Resource::new(
            "AWS::SNS::TopicPolicy",
            json!({
                "Topics": [reference(ALARM_TOPIC)],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "CloudWatchAlarmsOfThisAccount",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": reference(ALARM_TOPIC),
                        "Condition": {"StringEquals": {"aws:SourceAccount": reference("AWS::AccountId")}}
                    }, {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sns:Publish",
                        "Resource": reference(ALARM_TOPIC),
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                    }]
                }
            }),
        ),
    );
    for a in &ALARMS {
        let mut dimensions = vec![
            json!({"Name": a.dimension.0, "Value": resource_name(a.dimension.1, a.dimension.2)}),
        ];
        dimensions.extend(a.fixed.iter().map(|(n, v)| json!({"Name": n, "Value": v})));
        t.add(
            a.id,
            Resource::new(
                "AWS::CloudWatch::Alarm",
                json!({
                    "AlarmName": sub(&format!("${{AWS::StackName}}-{}", a.id.trim_end_matches("Alarm"))),
                    "AlarmDescription": a.description,
                    "Namespace": a.namespace,
                    "MetricName": a.metric,
                    "Dimensions": dimensions,
                    "Statistic": a.statistic,
                    "ComparisonOperator": a.comparison,
                    "Threshold": a.threshold,
                    "Period": a.period,
                    "EvaluationPeriods": a.periods,
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [reference(ALARM_TOPIC)],
                    "OKActions": [reference(ALARM_TOPIC)]
                }),
            ),
        );
    }
    // PutMetricData acts on no resource (only `*` is valid); the namespace condition keeps the
    // truck app to the stack's own.
    t.add(
        TRUCK_METRICS_POLICY,
        Resource::new(
            "AWS::IAM::ManagedPolicy",
            json!({
                "Description": "Attach to the identity store-truck-app runs as: lets it publish its metrics (dispatches, deliveries, open orders, dead letters, closed orders) to this stack's namespace only.",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "PublishTruckMetricsToThisStack",
                        "Effect": "Allow",
                        "Action": "cloudwatch:PutMetricData",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"cloudwatch:namespace": super::metrics_namespace()}}
                    }]
                }
            }),
        ),
    );
    t.add(
        DASHBOARD,
        Resource::new(
            "AWS::CloudWatch::Dashboard",
            json!({
                "DashboardName": sub("${AWS::StackName}-operations"),
                "DashboardBody": {"Fn::Sub": [dashboard_body(), {
                    "Namespace": super::metrics_namespace(),
                    "DeliveryStream": reference(DELIVERY_STREAM),
                    "Planner": reference(PLANNER),
                    "AlertQueueName": get_att(ALERT_QUEUE, "QueueName"),
                    "DeadLetterQueueName": get_att(DEAD_LETTER_QUEUE, "QueueName"),
                    "WorkGroup": reference(WORKGROUP)
                }]}
            }),
        ),
    );
}

/// A widget of metrics: `(namespace, metric, dimensions…, options)` rows as CloudWatch's
/// dashboard body writes them, `${…}` filled by the template.
fn widget(title: &str, x: u32, y: u32, stat: &str, period: u32, rows: Vec<Value>) -> Value {
    json!({
        "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
        "properties": {
            "title": title, "region": "${AWS::Region}", "stat": stat, "period": period,
            "view": "timeSeries", "metrics": rows
        }
    })
}

/// A row of one of the pipeline's own metrics.
fn own(m: Metric) -> Value {
    json!(["${Namespace}", m.name])
}

/// The dashboard's body: readings in, planning runs, the queue, dead letters, the trucks.
fn dashboard_body() -> String {
    let widgets = vec![
        widget(
            "Readings in (Firehose)",
            0,
            0,
            "Sum",
            3600,
            vec![
                json!([
                    "AWS/Firehose",
                    "IncomingRecords",
                    "DeliveryStreamName",
                    "${DeliveryStream}"
                ]),
                json!([
                    "AWS/Firehose",
                    "DeliveryToS3.Records",
                    "DeliveryStreamName",
                    "${DeliveryStream}"
                ]),
            ],
        ),
        widget(
            "Delivery to the lake: age of the oldest reading (s)",
            12,
            0,
            "Maximum",
            300,
            vec![json!([
                "AWS/Firehose",
                "DeliveryToS3.DataFreshness",
                "DeliveryStreamName",
                "${DeliveryStream}"
            ])],
        ),
        widget(
            "Planning runs: duration (ms) and errors",
            0,
            6,
            "Maximum",
            3600,
            vec![
                json!(["AWS/Lambda", "Duration", "FunctionName", "${Planner}"]),
                json!(["AWS/Lambda", "Errors", "FunctionName", "${Planner}", {"stat": "Sum"}]),
                json!(["AWS/Lambda", "Invocations", "FunctionName", "${Planner}", {"stat": "Sum"}]),
            ],
        ),
        widget(
            "Planning runs: readings and bytes scanned",
            12,
            6,
            "Sum",
            3600,
            vec![own(metrics::READINGS_SCANNED), own(metrics::BYTES_SCANNED)],
        ),
        widget(
            "Planning runs: alerts sent and suppressed",
            0,
            12,
            "Sum",
            3600,
            vec![own(metrics::ALERTS_SENT), own(metrics::ALERTS_SUPPRESSED)],
        ),
        widget(
            "Planning runs: time per step (ms)",
            12,
            12,
            "Maximum",
            3600,
            vec![
                own(metrics::QUERY_MILLISECONDS),
                own(metrics::DECIDE_MILLISECONDS),
                own(metrics::SEND_MILLISECONDS),
            ],
        ),
        widget(
            "Alert queue: depth and age of the oldest (s)",
            0,
            18,
            "Maximum",
            300,
            vec![
                json!([
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${AlertQueueName}"
                ]),
                json!([
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesNotVisible",
                    "QueueName",
                    "${AlertQueueName}"
                ]),
                json!([
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "QueueName",
                    "${AlertQueueName}"
                ]),
            ],
        ),
        widget(
            "Dead letters",
            12,
            18,
            "Maximum",
            300,
            vec![
                json!([
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${DeadLetterQueueName}"
                ]),
                own(metrics::DEAD_LETTERED),
            ],
        ),
        widget(
            "Trucks: dispatches, deliveries and closed orders per hour",
            0,
            24,
            "Sum",
            3600,
            vec![
                own(metrics::DISPATCHES),
                own(metrics::DELIVERIES),
                own(metrics::ORDERS_CLOSED),
            ],
        ),
        widget(
            "Open orders",
            12,
            24,
            "Maximum",
            300,
            vec![own(metrics::OPEN_ORDERS)],
        ),
    ];
    // Keys sorted, as in the rest of the template: the same text in every build.
    crate::template::sorted(json!({"widgets": widgets})).to_string()
}
