//! A local AWS API server (`moto_server`) for the tests: its address, clients for it, and fresh
//! resources per test, so tests share one server without seeing each other's data.

use std::io::{Read, Write};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};
use aws_sdk_s3::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use store_aws::AwsClients;

/// The variable `scripts/test.sh` sets to the server it started.
pub const ENDPOINT_VAR: &str = "STORE_TEST_AWS_ENDPOINT";
/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// The server's address; these tests need one, so its absence is a failure, not a skip.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set: run `scripts/test.sh`, which starts moto_server, or start one \
             (`moto_server -H 127.0.0.1 -p 5000`) and set {ENDPOINT_VAR}=http://127.0.0.1:5000"
        )
    })
}

/// SDK configuration for the server, with its fake credentials.
pub async fn sdk() -> SdkConfig {
    sdk_in(REGION).await
}

/// SDK configuration for the server in another region (the server keeps regions apart).
pub async fn sdk_in(region: &'static str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// Clients for the server.
pub async fn clients() -> AwsClients {
    AwsClients::new(&sdk().await)
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A fresh bucket.
pub async fn bucket(c: &AwsClients) -> String {
    let name = unique("lake");
    c.s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket");
    name
}

/// A fresh bucket in `region` (a client of that region's server view).
pub async fn bucket_in(c: &AwsClients, region: &str, prefix: &str) -> String {
    let name = unique(prefix);
    c.s3.create_bucket()
        .bucket(&name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    name
}

/// A fresh Athena workgroup that lets each query name its result location (the server writes
/// results only where the request says).
pub async fn workgroup(c: &AwsClients) -> String {
    let name = unique("planning");
    c.athena
        .create_work_group()
        .name(&name)
        .configuration(
            aws_sdk_athena::types::WorkGroupConfiguration::builder()
                .enforce_work_group_configuration(false)
                .build(),
        )
        .send()
        .await
        .expect("create workgroup");
    name
}

/// A fresh Direct PUT delivery stream into `bucket` under `prefix` (moto writes each call as one
/// object under the prefix as given; it evaluates no `!{timestamp:…}` expressions).
pub async fn delivery_stream(c: &AwsClients, bucket: &str, prefix: &str) -> String {
    let name = unique("readings");
    c.firehose
        .create_delivery_stream()
        .delivery_stream_name(&name)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .role_arn("arn:aws:iam::123456789012:role/firehose")
                .prefix(prefix)
                .build()
                .expect("destination"),
        )
        .send()
        .await
        .expect("create delivery stream");
    name
}

/// A fresh queue with a dead-letter queue after `max_receives`; returns both URLs.
pub async fn queues(
    c: &AwsClients,
    visibility_seconds: u32,
    max_receives: u32,
) -> (String, String) {
    let dlq = c
        .sqs
        .create_queue()
        .queue_name(unique("alerts-dlq"))
        .send()
        .await
        .expect("create dead-letter queue");
    let dlq_url = dlq.queue_url().expect("url").to_owned();
    let arn = c
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dead-letter arn")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let queue = c
        .sqs
        .create_queue()
        .queue_name(unique("alerts"))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives})
                .to_string(),
        )
        .send()
        .await
        .expect("create queue");
    (queue.queue_url().expect("url").to_owned(), dlq_url)
}

/// Every object's bytes under `prefix`.
pub async fn objects(c: &AwsClients, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let list =
        c.s3.list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
    let mut out = Vec::new();
    for o in list.contents() {
        let key = o.key().expect("key").to_owned();
        let body =
            c.s3.get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .expect("get")
                .body
                .collect()
                .await
                .expect("body")
                .to_vec();
        out.push((key, body));
    }
    out
}

/// POSTs JSON to the server's own API (`/moto-api/...`), over plain HTTP/1.1.
pub fn post_moto_api(path: &str, body: &serde_json::Value) {
    let endpoint = endpoint();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split_whitespace().nth(1).unwrap_or("");
    assert!(
        status.starts_with('2'),
        "moto API {path} answered: {response}"
    );
}
