//! What the template's intrinsic functions evaluate to in one account and region, as
//! CloudFormation would evaluate them: so the policies can be checked against the ARNs the services
//! really act on (a test here, `parliament` in `scripts/test.sh`), not against the template's
//! unevaluated text.
//!
//! Each resource type's `Ref` and `Arn` follow the CloudFormation reference: a log group's
//! `Arn` ends in `:*`, a queue's `Ref` is its URL, a role's name is generated.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Where the stack is deployed, and the parameter values it is deployed with.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The stack name.
    pub stack: String,
    /// The account id.
    pub account: String,
    /// The region.
    pub region: String,
    /// Parameter values; parameters not named here take their defaults.
    pub parameters: BTreeMap<String, String>,
}

impl Deployment {
    /// A deployment of `stack` in a sample account and region, with `parameters`.
    pub fn sample(stack: &str, parameters: &[(&str, &str)]) -> Self {
        Self {
            stack: stack.to_owned(),
            account: "123456789012".to_owned(),
            region: "ap-southeast-1".to_owned(),
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// A template evaluated for one deployment.
pub struct Resolved {
    template: Value,
    deployment: Deployment,
}

impl Resolved {
    /// Evaluates `template` (the synthesized JSON) for `deployment`.
    pub fn new(template: Value, deployment: Deployment) -> Self {
        Self {
            template,
            deployment,
        }
    }

    /// Every IAM role's inline policies, evaluated: `(role logical id, policy name, document)`.
    pub fn role_policies(&self) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (id, resource) in self.resources() {
            if resource["Type"] != "AWS::IAM::Role" {
                continue;
            }
            for policy in resource["Properties"]["Policies"]
                .as_array()
                .into_iter()
                .flatten()
            {
                out.push((
                    id.clone(),
                    policy["PolicyName"].as_str().unwrap_or_default().to_owned(),
                    self.eval(&policy["PolicyDocument"]),
                ));
            }
        }
        out
    }

    /// Whether the role `logical_id` may take `action` on `arn`: an `Allow` statement of its
    /// policies names the action (or a pattern of it) and a resource pattern matching the ARN.
    pub fn allows(&self, logical_id: &str, action: &str, arn: &str) -> bool {
        let list = |v: &Value| -> Vec<String> {
            match v {
                Value::Array(items) => items.iter().map(text).collect(),
                other => vec![text(other)],
            }
        };
        self.role_policies()
            .iter()
            .filter(|(role, _, _)| role == logical_id)
            .flat_map(|(_, _, doc)| doc["Statement"].as_array().cloned().unwrap_or_default())
            .filter(|s| s["Effect"] == "Allow")
            .any(|s| {
                list(&s["Action"])
                    .iter()
                    .any(|a| arn_matches(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                    && list(&s["Resource"]).iter().any(|r| arn_matches(r, arn))
            })
    }

    /// A resource's property, evaluated.
    pub fn property(&self, logical_id: &str, name: &str) -> Value {
        self.eval(&self.template["Resources"][logical_id]["Properties"][name])
    }

    fn resources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.template["Resources"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
    }

    /// Evaluates every intrinsic function in `value`; `AWS::NoValue` becomes `null`.
    pub fn eval(&self, value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.eval(v))
                    .filter(|v| !v.is_null())
                    .collect(),
            ),
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                match key.as_str() {
                    "Ref" => self.reference(arg.as_str().unwrap_or_default()),
                    "Fn::GetAtt" => self.attribute(
                        arg[0].as_str().unwrap_or_default(),
                        arg[1].as_str().unwrap_or_default(),
                    ),
                    "Fn::Sub" => json!(self.substitute(arg.as_str().unwrap_or_default())),
                    "Fn::Join" => {
                        let parts: Vec<String> = match self.eval(&arg[1]) {
                            Value::Array(items) => items.iter().map(text).collect(),
                            other => vec![text(&other)],
                        };
                        json!(parts.join(arg[0].as_str().unwrap_or_default()))
                    }
                    "Fn::Split" => {
                        let whole = text(&self.eval(&arg[1]));
                        json!(
                            whole
                                .split(arg[0].as_str().unwrap_or_default())
                                .collect::<Vec<_>>()
                        )
                    }
                    "Fn::If" => {
                        if self.condition(arg[0].as_str().unwrap_or_default()) {
                            self.eval(&arg[1])
                        } else {
                            self.eval(&arg[2])
                        }
                    }
                    _ => {
                        Value::Object(map.iter().map(|(k, v)| (k.clone(), self.eval(v))).collect())
                    }
                }
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.eval(v)))
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn condition(&self, name: &str) -> bool {
        self.truth(&self.template["Conditions"][name])
    }

    fn truth(&self, expr: &Value) -> bool {
        if let Some(args) = expr.get("Fn::Equals") {
            return self.eval(&args[0]) == self.eval(&args[1]);
        }
        if let Some(args) = expr.get("Fn::Not") {
            return !self.truth(&args[0]);
        }
        if let Some(name) = expr.get("Condition").and_then(Value::as_str) {
            return self.condition(name);
        }
        panic!("a condition this evaluator does not know: {expr}")
    }

    fn reference(&self, name: &str) -> Value {
        let d = &self.deployment;
        match name {
            "AWS::StackName" => return json!(d.stack),
            "AWS::AccountId" => return json!(d.account),
            "AWS::Region" => return json!(d.region),
            "AWS::Partition" => return json!("aws"),
            "AWS::URLSuffix" => return json!("amazonaws.com"),
            "AWS::NoValue" => return Value::Null,
            _ => {}
        }
        if let Some(parameter) = self.template["Parameters"].get(name) {
            return json!(
                d.parameters
                    .get(name)
                    .cloned()
                    .or_else(|| parameter["Default"].as_str().map(str::to_owned))
                    .unwrap_or_default()
            );
        }
        let resource = &self.template["Resources"][name];
        let props = &resource["Properties"];
        let named = |field: &str| self.eval(&props[field]);
        match resource["Type"].as_str().unwrap_or_default() {
            "AWS::S3::Bucket" => named("BucketName"),
            "AWS::Logs::LogGroup" => named("LogGroupName"),
            "AWS::Logs::LogStream" => named("LogStreamName"),
            "AWS::KinesisFirehose::DeliveryStream" => named("DeliveryStreamName"),
            "AWS::Lambda::Function" => named("FunctionName"),
            "AWS::Athena::WorkGroup" => named("Name"),
            "AWS::Glue::Database" => self.eval(&props["DatabaseInput"]["Name"]),
            "AWS::Glue::Table" => self.eval(&props["TableInput"]["Name"]),
            "AWS::SQS::Queue" => json!(format!(
                "https://sqs.{}.amazonaws.com/{}/{}",
                d.region,
                d.account,
                text(&named("QueueName"))
            )),
            "AWS::IAM::Role" => json!(format!("{}-{name}-ABCDEFGHIJKL", d.stack)),
            other => panic!("`Ref` of {name} ({other}) is not known to this evaluator"),
        }
    }

    fn attribute(&self, name: &str, attribute: &str) -> Value {
        let d = &self.deployment;
        let resource = &self.template["Resources"][name];
        let id = text(&self.reference(name));
        let (region, account) = (&d.region, &d.account);
        let arn = match (resource["Type"].as_str().unwrap_or_default(), attribute) {
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{id}"),
            ("AWS::Logs::LogGroup", "Arn") => {
                format!("arn:aws:logs:{region}:{account}:log-group:{id}:*")
            }
            ("AWS::SQS::Queue", "Arn") => {
                let queue = id.rsplit('/').next().unwrap_or_default();
                format!("arn:aws:sqs:{region}:{account}:{queue}")
            }
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{account}:role/{id}"),
            ("AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{region}:{account}:function:{id}")
            }
            ("AWS::KinesisFirehose::DeliveryStream", "Arn") => {
                format!("arn:aws:firehose:{region}:{account}:deliverystream/{id}")
            }
            (kind, _) => panic!("{kind}.{attribute} is not known to this evaluator"),
        };
        json!(arn)
    }

    /// `Fn::Sub`: `${Name}` and `${Name.Attribute}` replaced, `${!Literal}` kept as `${Literal}`.
    fn substitute(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').expect("a closed ${…}");
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&text(&self.attribute(resource, attribute)));
            } else {
                out.push_str(&text(&self.reference(name)));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// Whether an IAM resource pattern (`*` any run of characters, `?` one) matches `arn`.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x == y => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_iam_does() {
        assert!(arn_matches(
            "arn:aws:logs:r:1:log-group:g:*",
            "arn:aws:logs:r:1:log-group:g:log-stream:s"
        ));
        assert!(!arn_matches(
            "arn:aws:logs:r:1:log-group:g:*:log-stream:s",
            "arn:aws:logs:r:1:log-group:g:log-stream:s"
        ));
        assert!(arn_matches("a?c", "abc") && !arn_matches("a?c", "ac"));
    }
}
