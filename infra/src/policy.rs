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

/// One `Allow` statement: the actions, each named, on the resources, each named.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// What the statement is for.
    pub sid: &'static str,
    /// The actions, e.g. `sqs:SendMessage`; never a wildcard.
    pub actions: Vec<&'static str>,
    /// The resources (ARNs, or intrinsics giving ARNs); never `*`.
    pub resources: Vec<Value>,
}

impl Statement {
    /// A statement allowing `actions` on `resources`.
    pub fn allow(sid: &'static str, actions: &[&'static str], resources: Vec<Value>) -> Self {
        Self {
            sid,
            actions: actions.to_vec(),
            resources,
        }
    }

    /// Why the statement is not least-privilege, if it is not: an empty or wildcard action or
    /// resource.
    pub fn problem(&self) -> Option<String> {
        if self.actions.is_empty() || self.resources.is_empty() {
            return Some(format!("{}: names no action or no resource", self.sid));
        }
        if let Some(a) = self
            .actions
            .iter()
            .find(|a| a.contains('*') || !a.contains(':'))
        {
            return Some(format!(
                "{}: action {a:?} is not one named action",
                self.sid
            ));
        }
        if let Some(r) = self.resources.iter().find(|r| r.as_str() == Some("*")) {
            return Some(format!("{}: resource {r} is a wildcard", self.sid));
        }
        None
    }

    fn to_json(&self) -> Value {
        json!({
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": self.actions,
            "Resource": self.resources,
        })
    }
}

/// An identity policy document.
pub fn document(statements: &[Statement]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": statements.iter().map(Statement::to_json).collect::<Vec<_>>(),
    })
}

/// The trust policy letting `service` assume a role, for this account only.
pub fn trust(service: &str, confused_deputy_guard: bool) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": { "Service": service },
        "Action": "sts:AssumeRole",
    });
    if confused_deputy_guard {
        statement["Condition"] = json!({
            "StringEquals": { "sts:ExternalId": { "Ref": "AWS::AccountId" } }
        });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_problems() {
        let ok = Statement::allow("Ok", &["sqs:SendMessage"], vec![json!("arn:aws:sqs:x:1:q")]);
        assert_eq!(ok.problem(), None);
        let star_action = Statement::allow("A", &["sqs:*"], vec![json!("arn")]);
        assert!(star_action.problem().unwrap().contains("sqs:*"));
        let star_resource = Statement::allow("R", &["sqs:SendMessage"], vec![json!("*")]);
        assert!(star_resource.problem().unwrap().contains("wildcard"));
        assert!(
            Statement::allow("E", &[], vec![json!("arn")])
                .problem()
                .is_some()
        );
    }

    #[test]
    fn the_bucket_policy_denies_plain_http_to_bucket_and_objects() {
        let p = tls_only_bucket_policy("arn:aws:s3:::b");
        let s = &p["Statement"][0];
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(s["Resource"], json!(["arn:aws:s3:::b", "arn:aws:s3:::b/*"]));
        assert_eq!(s["Condition"]["Bool"]["aws:SecureTransport"], "false");
    }
}
