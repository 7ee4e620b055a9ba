//! A CloudFormation template as typed Rust: intrinsic functions, resources with their logical ids,
//! parameters, conditions and outputs. Everything lands in sorted maps, so synthesizing the same
//! stack always gives the same bytes (the snapshot test relies on it).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

/// `{"Ref": id}`: a resource's primary name or ARN, or a parameter's value.
pub fn reference(logical_id: &str) -> Value {
    json!({ "Ref": logical_id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub fn get_att(logical_id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [logical_id, attribute] })
}

/// `{"Fn::Sub": text}`, with `${AWS::Region}`, `${Resource}` and `${Resource.Attr}` expanded.
pub fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `{"Fn::If": [condition, then, else]}`.
pub fn if_then(condition: &str, then: Value, otherwise: Value) -> Value {
    json!({ "Fn::If": [condition, then, otherwise] })
}

/// `{"Ref": "AWS::NoValue"}`: leaves a property out.
pub fn no_value() -> Value {
    reference("AWS::NoValue")
}

/// A checkov check this resource does not pass, and why that is right here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The check id, e.g. `CKV_AWS_18`.
    pub id: &'static str,
    /// Why the check does not apply to this resource, as the template's metadata records it.
    pub reason: &'static str,
}

/// One resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// `AWS::Service::Thing`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// Its properties.
    #[serde(rename = "Properties")]
    pub properties: Value,
    /// Explicit ordering, where references do not imply it.
    #[serde(rename = "DependsOn", skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// `Retain` for what holds data.
    #[serde(rename = "DeletionPolicy", skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    /// Same as the deletion policy, on replacement.
    #[serde(
        rename = "UpdateReplacePolicy",
        skip_serializing_if = "Option::is_none"
    )]
    pub update_replace_policy: Option<&'static str>,
    /// Checkov skips, with reasons.
    #[serde(rename = "Metadata", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// A condition gating the resource.
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    pub condition: Option<&'static str>,
}

impl Resource {
    /// A resource of `kind` with `properties`.
    pub fn new(kind: &'static str, properties: Value) -> Self {
        Self {
            kind,
            properties,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
            metadata: None,
            condition: None,
        }
    }

    /// Keeps the resource (and its data) when the stack is deleted or it is replaced, except
    /// when the stack's first creation rolls back: then the resource (still empty) goes with it,
    /// so a failed first deployment can simply be run again.
    pub fn retained(mut self) -> Self {
        self.deletion_policy = Some("RetainExceptOnCreate");
        self.update_replace_policy = Some("Retain");
        self
    }

    /// Records checkov checks that do not apply, each with its reason.
    pub fn skipping(mut self, skips: &[Skip]) -> Self {
        let list: Vec<Value> = skips
            .iter()
            .map(|s| json!({ "id": s.id, "comment": s.reason }))
            .collect();
        self.metadata = Some(json!({ "checkov": { "skip": list } }));
        self
    }

    /// Creates this after `others`.
    pub fn after(mut self, others: &[&str]) -> Self {
        self.depends_on = others.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    /// `String`, `Number`, …
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// What it is for.
    #[serde(rename = "Description")]
    pub description: &'static str,
    /// Its default.
    #[serde(rename = "Default", skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
    /// The values it may take.
    #[serde(rename = "AllowedValues", skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<&'static str>,
}

/// A stack output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    /// What it is (the env variable the apps read it as).
    #[serde(rename = "Description")]
    pub description: String,
    /// Its value.
    #[serde(rename = "Value")]
    pub value: Value,
}

/// A whole template.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Template {
    /// The template format version.
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub version: &'static str,
    /// What the stack is.
    #[serde(rename = "Description")]
    pub description: &'static str,
    /// Parameters by name.
    #[serde(rename = "Parameters", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<&'static str, Parameter>,
    /// Conditions by name.
    #[serde(rename = "Conditions", skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<&'static str, Value>,
    /// Resources by logical id.
    #[serde(rename = "Resources")]
    pub resources: BTreeMap<String, Resource>,
    /// Outputs by name.
    #[serde(rename = "Outputs", skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<&'static str, Output>,
}

impl Template {
    /// An empty template.
    pub fn new(description: &'static str) -> Self {
        Self {
            version: "2010-09-09",
            description,
            ..Self::default()
        }
    }

    /// Adds a resource; a logical id used twice is a bug in the stack code.
    pub fn add(&mut self, logical_id: &str, resource: Resource) {
        let previous = self.resources.insert(logical_id.to_owned(), resource);
        assert!(previous.is_none(), "logical id {logical_id} is used twice");
    }

    /// The template as pretty JSON with every object's keys sorted, ending in a newline.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("a template always serializes");
        let mut text =
            serde_json::to_string_pretty(&sorted(value)).expect("a template always serializes");
        text.push('\n');
        text
    }
}

/// Rebuilds every object with its keys in sorted order. `serde_json`'s map keeps insertion order
/// when any crate in the build enables its `preserve_order` feature, so sorting here is what
/// keeps the output the same in every build.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let entries: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intrinsics_have_their_cloudformation_shape() {
        assert_eq!(reference("Lake"), json!({"Ref": "Lake"}));
        assert_eq!(get_att("Q", "Arn"), json!({"Fn::GetAtt": ["Q", "Arn"]}));
        assert_eq!(sub("${Lake}/*"), json!({"Fn::Sub": "${Lake}/*"}));
    }

    #[test]
    fn output_is_deterministic_and_sorted() {
        let mut a = Template::new("t");
        a.add("B", Resource::new("AWS::SQS::Queue", json!({})));
        a.add("A", Resource::new("AWS::SQS::Queue", json!({})));
        let mut b = Template::new("t");
        b.add("A", Resource::new("AWS::SQS::Queue", json!({})));
        b.add("B", Resource::new("AWS::SQS::Queue", json!({})));
        assert_eq!(a.to_json(), b.to_json());
        assert!(a.to_json().find("\"A\"").unwrap() < a.to_json().find("\"B\"").unwrap());
    }

    #[test]
    #[should_panic(expected = "used twice")]
    fn a_logical_id_cannot_be_used_twice() {
        let mut t = Template::new("t");
        t.add("A", Resource::new("AWS::SQS::Queue", json!({})));
        t.add("A", Resource::new("AWS::SQS::Queue", json!({})));
    }
}
