//! The inventory reading: one stock observation of one product in one store.
//!
//! The field set is the seed workshop's Glue schema plus two optional fields of ours (`event_id`,
//! `max_stock`), so records produced by the seed's StoreApp are read unchanged. Parsing goes
//! through [`Reading::from_json_value`], which checks every rule and names the field that broke it;
//! a record is never half-accepted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::schema::READING_COLUMNS;
use crate::text::{Field, refused_char, repeated_keys};

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
        // A JSON map keeps the last value of a repeated key; which one the writer meant is
        // unknowable, so a record naming a contract field twice is refused. (The typed path
        // refuses such a record on its own, so only the general path needs this.)
        if value.is_object()
            && let Some(key) = repeated_keys(line).into_iter().find_map(|k| {
                READING_COLUMNS
                    .iter()
                    .find(|(f, _)| *f == k)
                    .map(|(f, _)| *f)
            })
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
            let kind = if matches!(field, "store_id" | "product_id") {
                Field::Id
            } else {
                Field::Text
            };
            if let Some(why) = refused_char(value, kind) {
                return Err(ValidationError::new(field, why));
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
mod tests;
