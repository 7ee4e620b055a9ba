//! IAM and resource policies, each statement naming its actions and resources explicitly.
//!
//! Resources are given as JSON values so the same statements serve the template (with `Fn::Sub`
//! or `Fn::GetAtt`) and the SDK provisioning (with plain ARNs).

use serde_json::{Value, json};

/// Denies every S3 request to the bucket that does not use TLS.
pub fn tls_only_bucket_policy(bucket_arn: impl Into<Value>) -> Value {
    let arn = bucket_arn.into();
    let objects = match &arn {
        Value::String(s) => json!(format!("{s}/*")),
        other => json!({"Fn::Join": ["", [other, "/*"]]}),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    })
}
