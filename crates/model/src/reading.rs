//! The inventory reading: one stock observation of one product in one store.
//!
//! The field set is the seed workshop's Glue schema plus two optional fields of ours (`event_id`,
//! `max_stock`), so records produced by the seed's StoreApp are read unchanged. Parsing goes
//! through [`Reading::from_json_value`], which checks every rule and names the field that broke it;
//! a record is never half-accepted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Namespace for event ids derived from a reading's content (UUID v5), so the same input record
/// always gets the same id and ties between readings are broken the same way on every run.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x5a1e_0b1d_7e57_4c2a_9d6b_2f3e_8a41_c0de);

/// Epoch seconds above this are almost certainly milliseconds (this is the year 5138).
const MAX_PLAUSIBLE_EPOCH_SECONDS: i64 = 100_000_000_000;

/// A validated inventory reading, as it is written to the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// Store the reading was taken in.
    pub store_id: String,
    /// Product the reading is about.
    pub product_id: String,
    /// Human name of the product (any UTF-8, e.g. "Bánh mì").
    pub product_name: String,
    /// Units on the shelf when the reading was taken.
    pub current_stock: i32,
    /// Reorder point: the reading is low when `current_stock < threshold_level`.
    pub threshold_level: i32,
    /// Written for compatibility with the seed; always recomputed, never trusted when read.
    pub is_stock_low: bool,
    /// Event time, epoch seconds UTC.
    pub check_timestamp: i64,
    /// Written `false` for compatibility with the seed.
    pub notification_sent: bool,
    /// Compatibility field of the seed; carried through unchanged.
    pub restock_status: String,
    /// Unique id of the reading (UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Order-up-to level; when absent the reorder policy supplies one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stock: Option<i32>,
}

/// Why a record was rejected: the field and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct ValidationError {
    /// The offending field (or `record` when the record as a whole is unusable).
    pub field: &'static str,
    /// What is wrong and what was expected.
    pub reason: String,
}

impl ValidationError {
    /// A broken rule of `field`, and why.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// The most bytes one record may hold: Firehose's limit on a record (1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;
/// The most characters of a store or product id.
pub const MAX_ID_CHARS: usize = 128;
/// The most characters of a product name.
pub const MAX_NAME_CHARS: usize = 256;
/// The most characters of a restock status.
pub const MAX_STATUS_CHARS: usize = 64;
/// The earliest plausible check time: 2000-01-01T00:00:00Z.
pub const EARLIEST_CHECK_TIMESTAMP: i64 = 946_684_800;
/// How far ahead of the receiving clock a check time may be (a store's clock runs fast): 15
/// minutes. The door's default, and what the planner's fold allows.
pub const CLOCK_SKEW_SECONDS: i64 = 15 * 60;

/// The fields of the contract: a record naming one of them twice is refused.
const CONTRACT_FIELDS: [&str; 11] = [
    "store_id",
    "product_id",
    "product_name",
    "current_stock",
    "threshold_level",
    "is_stock_low",
    "check_timestamp",
    "notification_sent",
    "restock_status",
    "event_id",
    "max_stock",
];

/// The first contract field a JSON object names twice, if any. (A JSON map keeps the last
/// value of a repeated key; which one the writer meant is unknowable, so the record is refused.
/// The typed path refuses such a record on its own, so only the general path needs this.)
struct Duplicate(Option<&'static str>);

impl<'de> serde::Deserialize<'de> for Duplicate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Duplicate;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Duplicate, A::Error> {
                let mut seen = [false; CONTRACT_FIELDS.len()];
                let mut first = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if let Some(i) = CONTRACT_FIELDS.iter().position(|f| *f == key) {
                        if seen[i] && first.is_none() {
                            first = Some(CONTRACT_FIELDS[i]);
                        }
                        seen[i] = true;
                    }
                }
                Ok(Duplicate(first))
            }
        }
        d.deserialize_map(Keys)
    }
}

impl Reading {
    /// Checks the event time against the receiving clock: not before 2000, not more than
    /// `skew_seconds` ahead of `now` (a reading from the future would stay a shelf's latest
    /// until that time comes, hiding every real reading).
    pub fn check_time(&self, now: i64, skew_seconds: i64) -> Result<(), ValidationError> {
        if self.check_timestamp < EARLIEST_CHECK_TIMESTAMP {
            return Err(ValidationError::new(
                "check_timestamp",
                format!(
                    "{} is before 2000-01-01 ({EARLIEST_CHECK_TIMESTAMP}); epoch seconds are expected",
                    self.check_timestamp
                ),
            ));
        }
        if self.check_timestamp > now.saturating_add(skew_seconds) {
            return Err(ValidationError::new(
                "check_timestamp",
                format!(
                    "{} is {} s ahead of this machine's clock ({now}); at most {skew_seconds} s is allowed (is the store's clock or the unit wrong? epoch seconds are expected)",
                    self.check_timestamp,
                    self.check_timestamp - now
                ),
            ));
        }
        Ok(())
    }

    /// Parses and validates one JSON record (one line of NDJSON; a UTF-8 byte-order mark before
    /// it, as some exports write at the start of a file, is not part of the record).
    pub fn from_json_str(line: &str) -> Result<Self, ValidationError> {
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        if line.len() > MAX_RECORD_BYTES {
            return Err(ValidationError::new(
                "record",
                format!(
                    "is {} bytes; a record holds at most {MAX_RECORD_BYTES} (Firehose's limit)",
                    line.len()
                ),
            ));
        }
        // Fast path: a record whose fields all have the expected JSON types decodes straight
        // into a typed view (no intermediate map) and goes through the same checks. Anything
        // else takes the general path, which names the field and the rule.
        if let Ok(fast) = serde_json::from_str::<TypedRecord<'_>>(line) {
            return fast.validate()?.within_limits();
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| ValidationError::new("record", format!("not valid JSON: {e}")))?;
        if value.is_object()
            && let Ok(Duplicate(Some(key))) = serde_json::from_str::<Duplicate>(line)
        {
            return Err(ValidationError::new(
                key,
                "appears twice in the record; which one is meant is unclear",
            ));
        }
        Self::from_json_value(&value)
    }

    /// The limits of every text field: a length in characters, and no control characters (they
    /// would reach terminals and logs as escape sequences).
    fn within_limits(self) -> Result<Self, ValidationError> {
        for (field, value, max) in [
            ("store_id", &self.store_id, MAX_ID_CHARS),
            ("product_id", &self.product_id, MAX_ID_CHARS),
            ("product_name", &self.product_name, MAX_NAME_CHARS),
            ("restock_status", &self.restock_status, MAX_STATUS_CHARS),
        ] {
            let chars = value.chars().count();
            if chars > max {
                return Err(ValidationError::new(
                    field,
                    format!("has {chars} characters; at most {max} are allowed"),
                ));
            }
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                return Err(ValidationError::new(
                    field,
                    format!("must not contain control characters (found {:?})", c),
                ));
            }
        }
        Ok(self)
    }

    /// Validates a decoded JSON value against every rule of the reading contract.
    ///
    /// Unknown fields are ignored, as Glue and Athena ignore them; the compatibility fields
    /// default when absent. `is_stock_low` is recomputed from the stock figures.
    pub fn from_json_value(value: &Value) -> Result<Self, ValidationError> {
        let Value::Object(map) = value else {
            return Err(ValidationError::new(
                "record",
                format!("expected a JSON object, got {}", kind_of(value)),
            ));
        };
        let store_id = required_text(map, "store_id")?;
        let product_id = required_text(map, "product_id")?;
        let product_name = required_string(map, "product_name")?;
        let current_stock = required_count(map, "current_stock")?;
        let threshold_level = required_count(map, "threshold_level")?;
        let check_timestamp = required_epoch(map, "check_timestamp")?;
        optional_bool(map, "is_stock_low")?;
        let notification_sent = optional_bool(map, "notification_sent")?.unwrap_or(false);
        let restock_status = optional_string(map, "restock_status")?.unwrap_or_default();
        let event_id = optional_string(map, "event_id")?
            .map(|id| canonical_uuid(&id))
            .transpose()?;
        let max_stock = match map.get("max_stock") {
            None | Some(Value::Null) => None,
            Some(_) => Some(required_count(map, "max_stock")?),
        };
        Self {
            is_stock_low: current_stock < threshold_level,
            store_id,
            product_id,
            product_name,
            current_stock,
            threshold_level,
            check_timestamp,
            notification_sent,
            restock_status,
            event_id,
            max_stock,
        }
        .within_limits()
    }

    /// Gives the reading an `event_id` if it has none, derived from its content so that the
    /// same record always gets the same id.
    pub fn ensure_event_id(&mut self) {
        if self.event_id.is_none() {
            let key = format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
                self.store_id,
                self.product_id,
                self.check_timestamp,
                self.current_stock,
                self.threshold_level,
                self.product_name
            );
            self.event_id = Some(Uuid::new_v5(&EVENT_NAMESPACE, key.as_bytes()).to_string());
        }
    }

    /// Whether the shelf is below its reorder point (strict, as in the seed).
    pub fn is_low(&self) -> bool {
        self.current_stock < self.threshold_level
    }
}

/// A record whose fields have the expected JSON types, borrowed from the line where possible.
/// Unknown fields are ignored, as in the general path; a duplicate field fails here and is then
/// decided by the general path (the last value wins there).
#[derive(Deserialize)]
struct TypedRecord<'a> {
    #[serde(borrow)]
    store_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    product_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    product_name: std::borrow::Cow<'a, str>,
    current_stock: i64,
    threshold_level: i64,
    check_timestamp: i64,
    #[serde(default)]
    is_stock_low: Option<bool>,
    #[serde(default)]
    notification_sent: Option<bool>,
    #[serde(default, borrow)]
    restock_status: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    event_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    max_stock: Option<i64>,
}

impl TypedRecord<'_> {
    /// The rules of [`Reading::from_json_value`], on typed values.
    fn validate(self) -> Result<Reading, ValidationError> {
        let text = |field: &'static str, s: std::borrow::Cow<'_, str>| {
            if s.trim().is_empty() {
                Err(ValidationError::new(field, "must not be empty"))
            } else {
                Ok(s.into_owned())
            }
        };
        let store_id = text("store_id", self.store_id)?;
        let product_id = text("product_id", self.product_id)?;
        let current_stock = count("current_stock", self.current_stock)?;
        let threshold_level = count("threshold_level", self.threshold_level)?;
        let check_timestamp = epoch("check_timestamp", self.check_timestamp)?;
        let _ = self.is_stock_low;
        let event_id = self.event_id.map(|id| canonical_uuid(&id)).transpose()?;
        let max_stock = self.max_stock.map(|m| count("max_stock", m)).transpose()?;
        Ok(Reading {
            is_stock_low: current_stock < threshold_level,
            store_id,
            product_id,
            product_name: self.product_name.into_owned(),
            current_stock,
            threshold_level,
            check_timestamp,
            notification_sent: self.notification_sent.unwrap_or(false),
            restock_status: self
                .restock_status
                .map(|s| s.into_owned())
                .unwrap_or_default(),
            event_id,
            max_stock,
        })
    }
}

/// An event id in its canonical hyphenated form.
fn canonical_uuid(id: &str) -> Result<String, ValidationError> {
    Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ValidationError::new("event_id", format!("`{id}` is not a UUID")))
}

/// Epoch seconds: not negative, and not milliseconds.
fn epoch(field: &'static str, n: i64) -> Result<i64, ValidationError> {
    if n < 0 {
        return Err(ValidationError::new(
            field,
            format!("must be epoch seconds >= 0, got {n}"),
        ));
    }
    if n > MAX_PLAUSIBLE_EPOCH_SECONDS {
        return Err(ValidationError::new(
            field,
            format!("{n} looks like milliseconds; expected epoch seconds"),
        ));
    }
    Ok(n)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn required<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a Value, ValidationError> {
    match map.get(field) {
        None | Some(Value::Null) => Err(ValidationError::new(field, "is required")),
        Some(v) => Ok(v),
    }
}

fn required_string(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<String, ValidationError> {
    match required(map, field)? {
        Value::String(s) => Ok(s.clone()),
        other => Err(ValidationError::new(
            field,
            format!("expected a string, got {}", kind_of(other)),
        )),
    }
}

fn required_text(map: &Map<String, Value>, field: &'static str) -> Result<String, ValidationError> {
    let s = required_string(map, field)?;
    if s.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    Ok(s)
}

fn integer(value: &Value, field: &'static str) -> Result<i64, ValidationError> {
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            ValidationError::new(field, format!("expected a whole number, got {n}"))
        }),
        other => Err(ValidationError::new(
            field,
            format!("expected an integer, got {}", kind_of(other)),
        )),
    }
}

/// A required non-negative count.
fn required_count(map: &Map<String, Value>, field: &'static str) -> Result<i32, ValidationError> {
    count(field, integer(required(map, field)?, field)?)
}

/// A non-negative count that fits the Glue `int` column.
fn count(field: &'static str, n: i64) -> Result<i32, ValidationError> {
    if n < 0 {
        return Err(ValidationError::new(
            field,
            format!("must be >= 0, got {n}"),
        ));
    }
    i32::try_from(n)
        .map_err(|_| ValidationError::new(field, format!("{n} is larger than {}", i32::MAX)))
}

fn required_epoch(map: &Map<String, Value>, field: &'static str) -> Result<i64, ValidationError> {
    epoch(field, integer(required(map, field)?, field)?)
}

fn optional_bool(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<bool>, ValidationError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ValidationError::new(
            field,
            format!("expected a boolean, got {}", kind_of(other)),
        )),
    }
}

fn optional_string(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ValidationError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ValidationError::new(
            field,
            format!("expected a string, got {}", kind_of(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_record() -> Value {
        json!({
            "store_id": "STORE_4",
            "product_id": "PRD_5",
            "product_name": "Bánh mì",
            "current_stock": 3,
            "threshold_level": 10,
            "is_stock_low": false,
            "check_timestamp": 1_764_000_000,
            "notification_sent": false,
            "restock_status": "PENDING"
        })
    }

    fn rejected(mut record: Value, field: &str, value: Value) -> ValidationError {
        record[field] = value;
        Reading::from_json_value(&record).expect_err("record should be rejected")
    }

    fn missing(field: &str) -> ValidationError {
        let mut record = seed_record();
        record.as_object_mut().unwrap().remove(field);
        Reading::from_json_value(&record).expect_err("record should be rejected")
    }

    #[test]
    fn the_typed_fast_path_decides_exactly_as_the_general_path() {
        let lines = [
            r#"{"store_id":"S","product_id":"P","product_name":"Bánh mì","current_stock":3,"threshold_level":10,"check_timestamp":1764000000}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"Phở","current_stock":3,"threshold_level":10,"check_timestamp":1764000000,"event_id":"A1E70001-5E0D-4B7A-8C11-4D2B9E6F7A01","max_stock":30,"is_stock_low":true,"notification_sent":null,"restock_status":"LOW","extra":[1]}"#,
            r#"{"store_id":" ","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":-1,"threshold_level":10,"check_timestamp":1}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3000000000,"threshold_level":10,"check_timestamp":1}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1764000000000}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1,"event_id":"nope"}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1,"max_stock":-5}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3.5,"threshold_level":10,"check_timestamp":1}"#,
            r#"{"store_id":"S","product_id":"P","product_name":null,"current_stock":3,"threshold_level":10,"check_timestamp":1}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":"3","threshold_level":10,"check_timestamp":1}"#,
        ];
        // (A field named twice is refused before either path: see the test of that.)
        for line in lines {
            let general = serde_json::from_str::<Value>(line)
                .map_err(|e| ValidationError::new("record", e.to_string()))
                .and_then(|v| Reading::from_json_value(&v));
            assert_eq!(Reading::from_json_str(line), general, "{line}");
        }
    }

    #[test]
    fn text_fields_have_limits_and_no_control_characters() {
        let err = rejected(seed_record(), "product_name", json!("x".repeat(300_000)));
        assert_eq!(err.field, "product_name");
        assert!(err.reason.contains("at most 256"), "{err}");
        let err = rejected(seed_record(), "store_id", json!("S".repeat(129)));
        assert_eq!(err.field, "store_id");
        for hostile in [
            "\u{1b}[2J",
            "a\u{1b}]0;title\u{7}",
            "line\nbreak",
            "\u{9b}31m",
        ] {
            for field in ["store_id", "product_id", "product_name"] {
                let err = rejected(seed_record(), field, json!(hostile));
                assert_eq!(err.field, field, "{hostile:?}");
                assert!(err.reason.contains("control characters"), "{err}");
                // The typed fast path refuses it the same way.
                let mut record = seed_record();
                record[field] = json!(hostile);
                let fast = Reading::from_json_str(&record.to_string()).unwrap_err();
                assert_eq!(fast, err);
            }
        }
        // Vietnamese names up to the limit pass.
        let mut record = seed_record();
        record["product_name"] = json!("Bánh mì ".repeat(32).trim_end());
        assert!(Reading::from_json_str(&record.to_string()).is_ok());
    }

    #[test]
    fn a_record_over_firehose_s_limit_is_refused_before_it_is_parsed() {
        let mut record = seed_record();
        record["restock_status"] = json!("x".repeat(MAX_RECORD_BYTES));
        let err = Reading::from_json_str(&record.to_string()).unwrap_err();
        assert_eq!(err.field, "record");
        assert!(err.reason.contains("at most 1024000"), "{err}");
    }

    #[test]
    fn a_field_named_twice_is_refused_on_both_paths() {
        // Typed (every value of its type) and general (a string stock) paths.
        for line in [
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"current_stock":30,"threshold_level":10,"check_timestamp":1764000000}"#,
            r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":"3","threshold_level":10,"check_timestamp":1764000000,"store_id":"T"}"#,
        ] {
            let err = Reading::from_json_str(line).unwrap_err();
            assert!(
                err.to_string().contains("twice") || err.to_string().contains("duplicate"),
                "{err}"
            );
        }
        // A repeated key the contract does not know is ignored, as any unknown key is.
        let ok = r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1764000000,"x":1,"x":2}"#;
        assert!(Reading::from_json_str(ok).is_ok());
    }

    #[test]
    fn check_times_before_2000_or_past_the_clock_and_its_skew_are_refused() {
        let mut r = Reading::from_json_value(&seed_record()).unwrap();
        let now = 1_764_000_000;
        r.check_timestamp = now + 900;
        assert!(r.check_time(now, 900).is_ok());
        r.check_timestamp = now + 901;
        let err = r.check_time(now, 900).unwrap_err();
        assert_eq!(err.field, "check_timestamp");
        assert!(err.reason.contains("901 s ahead"), "{err}");
        r.check_timestamp = now + 10 * 365 * 86_400;
        assert!(r.check_time(now, 900).is_err());
        r.check_timestamp = 946_684_799;
        assert!(
            r.check_time(now, 900)
                .unwrap_err()
                .reason
                .contains("before 2000")
        );
        // Milliseconds where seconds belong are far in the future.
        r.check_timestamp = now * 1000;
        assert!(r.check_time(now, 900).is_err());
    }

    #[test]
    fn a_byte_order_mark_before_a_record_is_not_part_of_it() {
        let line = format!("\u{feff}{}", seed_record());
        assert_eq!(
            Reading::from_json_str(&line).unwrap(),
            Reading::from_json_value(&seed_record()).unwrap()
        );
    }

    #[test]
    fn seed_record_is_accepted_and_low_flag_recomputed() {
        let r = Reading::from_json_value(&seed_record()).unwrap();
        assert_eq!(r.product_name, "Bánh mì");
        assert!(
            r.is_stock_low,
            "is_stock_low must be recomputed, not trusted"
        );
        assert_eq!(r.event_id, None);
        assert_eq!(r.max_stock, None);
        assert_eq!(r.restock_status, "PENDING");
    }

    #[test]
    fn vietnamese_names_round_trip_exactly() {
        let r = Reading::from_json_value(&seed_record()).unwrap();
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("Bánh mì"));
        assert_eq!(Reading::from_json_str(&line).unwrap(), r);
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for field in [
            "store_id",
            "product_id",
            "product_name",
            "current_stock",
            "threshold_level",
            "check_timestamp",
        ] {
            let err = missing(field);
            assert_eq!(err.field, field);
            assert_eq!(err.reason, "is required");
        }
    }

    #[test]
    fn ids_must_not_be_empty() {
        assert_eq!(
            rejected(seed_record(), "store_id", json!("  ")).field,
            "store_id"
        );
        assert_eq!(
            rejected(seed_record(), "product_id", json!("")).field,
            "product_id"
        );
    }

    #[test]
    fn empty_product_name_is_allowed_but_must_be_a_string() {
        let mut record = seed_record();
        record["product_name"] = json!("");
        assert!(Reading::from_json_value(&record).is_ok());
        let err = rejected(seed_record(), "product_name", json!(5));
        assert_eq!(err.field, "product_name");
        assert!(err.reason.contains("expected a string"));
    }

    #[test]
    fn stock_figures_must_be_non_negative_integers() {
        for field in ["current_stock", "threshold_level", "max_stock"] {
            let err = rejected(seed_record(), field, json!(-1));
            assert_eq!(err.field, field);
            assert!(err.reason.contains(">= 0"), "{err}");
            assert!(
                rejected(seed_record(), field, json!(2.5))
                    .reason
                    .contains("whole number")
            );
            assert!(
                rejected(seed_record(), field, json!("7"))
                    .reason
                    .contains("integer")
            );
            assert!(
                rejected(seed_record(), field, json!(3_000_000_000_i64))
                    .reason
                    .contains("larger")
            );
        }
    }

    #[test]
    fn check_timestamp_must_be_epoch_seconds() {
        assert_eq!(
            rejected(seed_record(), "check_timestamp", json!(-5)).field,
            "check_timestamp"
        );
        let err = rejected(
            seed_record(),
            "check_timestamp",
            json!(1_764_000_000_000_i64),
        );
        assert!(err.reason.contains("milliseconds"), "{err}");
        let err = rejected(seed_record(), "check_timestamp", json!("2026-01-01"));
        assert!(err.reason.contains("integer"), "{err}");
    }

    #[test]
    fn compatibility_flags_must_be_booleans() {
        assert_eq!(
            rejected(seed_record(), "is_stock_low", json!("yes")).field,
            "is_stock_low"
        );
        assert_eq!(
            rejected(seed_record(), "notification_sent", json!(1)).field,
            "notification_sent"
        );
        assert_eq!(
            rejected(seed_record(), "restock_status", json!(1)).field,
            "restock_status"
        );
    }

    #[test]
    fn event_id_must_be_a_uuid_when_present() {
        let err = rejected(seed_record(), "event_id", json!("abc"));
        assert_eq!(err.field, "event_id");
        let mut record = seed_record();
        record["event_id"] = json!("6F9619FF-8B86-D011-B42D-00C04FC964FF");
        let r = Reading::from_json_value(&record).unwrap();
        assert_eq!(
            r.event_id.as_deref(),
            Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
        );
    }

    #[test]
    fn non_objects_and_bad_json_are_rejected_as_records() {
        assert_eq!(Reading::from_json_str("[1,2]").unwrap_err().field, "record");
        let err = Reading::from_json_str("{\"store_id\": ").unwrap_err();
        assert_eq!(err.field, "record");
        assert!(err.reason.contains("not valid JSON"));
    }

    #[test]
    fn low_is_strictly_below_the_reorder_point() {
        let mut record = seed_record();
        record["current_stock"] = json!(10);
        assert!(!Reading::from_json_value(&record).unwrap().is_low());
        record["current_stock"] = json!(9);
        assert!(Reading::from_json_value(&record).unwrap().is_low());
    }

    #[test]
    fn derived_event_id_is_deterministic_and_kept_when_given() {
        let mut a = Reading::from_json_value(&seed_record()).unwrap();
        let mut b = a.clone();
        a.ensure_event_id();
        b.ensure_event_id();
        assert_eq!(a.event_id, b.event_id);
        let mut c = a.clone();
        c.current_stock += 1;
        c.event_id = None;
        c.ensure_event_id();
        assert_ne!(a.event_id, c.event_id);
        let kept = a.event_id.clone();
        a.ensure_event_id();
        assert_eq!(a.event_id, kept);
    }
}
