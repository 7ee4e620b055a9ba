//! Object keys of the lake, shared by every writer and reader so the local folder and the S3
//! bucket hold the same keys.
//!
//! Readings land under `readings/dt=YYYY-MM-DD-HH/`, where `dt` is the arrival hour, exactly as
//! Firehose's `!{timestamp:yyyy-MM-dd-HH}` prefix expression names it. The ledger uses the same
//! `dt=` partitioning under its own prefixes, so one SQL engine can read stock and orders together.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

/// Prefix of the readings table.
pub const READINGS_PREFIX: &str = "readings/";
/// Prefix of objects a delivery could not write (Firehose's error output prefix).
pub const ERRORS_PREFIX: &str = "errors/";
/// Prefix where malformed objects and records are moved, with a note of why.
pub const QUARANTINE_PREFIX: &str = "quarantine/";
/// Prefix of the planner's alert ledger.
pub const ALERTS_PREFIX: &str = "ledger/alerts/";
/// Prefix of recorded truck dispatches.
pub const DISPATCHES_PREFIX: &str = "ledger/dispatches/";
/// Prefix of recorded deliveries.
pub const DELIVERIES_PREFIX: &str = "ledger/deliveries/";

/// How reading objects are encoded. One setting shared by infra, the Firehose and the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectFormat {
    /// Apache Parquet, as Firehose record-format conversion writes it.
    #[default]
    Parquet,
    /// Newline-delimited JSON, one record per line, every line ending in `\n`.
    Json,
}

impl ObjectFormat {
    /// The file extension (without the dot) of objects in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Json => "json",
        }
    }
}

impl std::str::FromStr for ObjectFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Self::Parquet),
            "json" | "ndjson" => Ok(Self::Json),
            other => Err(format!(
                "unknown format `{other}`: expected `parquet` or `json`"
            )),
        }
    }
}

impl std::fmt::Display for ObjectFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

/// The type of a readings table column, as the Glue catalog names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `string`
    String,
    /// `int` (32 bits)
    Int,
    /// `bigint` (64 bits)
    BigInt,
    /// `boolean`
    Boolean,
}

impl ColumnType {
    /// The Glue (Hive) type name.
    pub fn glue_name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::BigInt => "bigint",
            Self::Boolean => "boolean",
        }
    }
}

/// The readings table's columns, in order, without the `dt` partition: the seed's keys, then
/// `event_id` and `max_stock`. The Glue table, the Arrow schema and the Parquet files follow this.
pub const READING_COLUMNS: [(&str, ColumnType); 11] = [
    ("store_id", ColumnType::String),
    ("product_id", ColumnType::String),
    ("product_name", ColumnType::String),
    ("current_stock", ColumnType::Int),
    ("threshold_level", ColumnType::Int),
    ("is_stock_low", ColumnType::Boolean),
    ("check_timestamp", ColumnType::BigInt),
    ("notification_sent", ColumnType::Boolean),
    ("restock_status", ColumnType::String),
    ("event_id", ColumnType::String),
    ("max_stock", ColumnType::Int),
];

/// The partition column of the readings table: the UTC hour, `YYYY-MM-DD-HH`.
pub const PARTITION_COLUMN: &str = "dt";

fn utc(epoch_seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(epoch_seconds, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The `dt` partition value (`YYYY-MM-DD-HH`, UTC) of an instant.
pub fn dt_partition(epoch_seconds: i64) -> String {
    utc(epoch_seconds).format("%Y-%m-%d-%H").to_string()
}

/// The key of a reading object, as Firehose names it:
/// `readings/dt=YYYY-MM-DD-HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.<ext>`.
pub fn reading_object_key(stream: &str, arrival: i64, id: Uuid, format: ObjectFormat) -> String {
    let t = utc(arrival);
    format!(
        "{READINGS_PREFIX}dt={}/{stream}-1-{}-{id}.{}",
        t.format("%Y-%m-%d-%H"),
        t.format("%Y-%m-%d-%H-%M-%S"),
        format.extension()
    )
}

/// The key of a ledger object under `prefix`, partitioned by the hour of `at`.
pub fn ledger_object_key(prefix: &str, at: i64, name: &str) -> String {
    format!("{prefix}dt={}/{name}.json", dt_partition(at))
}

/// Where the compacted latest-state snapshots live.
pub const SNAPSHOTS_PREFIX: &str = "snapshots/latest/";

/// How long after an arrival hour ends objects may still land in it: Firehose's longest
/// buffering interval (900 s) with a margin.
pub const SETTLE_SECONDS: i64 = 20 * 60;

/// The snapshot watermark at `now`: every `dt` partition before it is closed (its hour ended more
/// than [`SETTLE_SECONDS`] ago) and can be folded into the snapshot; partitions from it on are
/// read raw.
pub fn snapshot_watermark(now: i64) -> String {
    dt_partition(now - SETTLE_SECONDS)
}

/// The key of a snapshot's data: `snapshots/latest/gen=000000000042/part-<uuid>.parquet`.
pub fn snapshot_data_key(generation: u64, id: Uuid) -> String {
    format!("{SNAPSHOTS_PREFIX}gen={generation:012}/part-{id}.parquet")
}

/// The key of a snapshot's commit record, created if absent: the generation exists once this
/// object does, so of two planners compacting at once exactly one commits each generation.
pub fn snapshot_commit_key(generation: u64) -> String {
    format!("{SNAPSHOTS_PREFIX}_commits/{generation:012}.json")
}

/// A committed snapshot: one row per store and product, the latest reading of every `dt`
/// partition before `watermark`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotCommit {
    /// Generation, from 1.
    pub generation: u64,
    /// Partitions before this one are folded in.
    pub watermark: String,
    /// ... from this one on: a run whose window reaches further back scans the lake instead.
    pub covers_from: String,
    /// The data object.
    pub data_key: String,
    /// Its size.
    pub data_bytes: u64,
    /// Rows (store and product pairs).
    pub rows: u64,
    /// Readings folded into this generation from raw partitions.
    pub folded_readings: u64,
    /// When it was written, epoch seconds.
    pub created_at: i64,
}

/// Extracts the `dt` value from a key such as `readings/dt=2026-11-26-13/x.json`.
pub fn partition_of(key: &str) -> Option<&str> {
    key.split('/')
        .find_map(|segment| segment.strip_prefix("dt="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dt_is_the_utc_hour() {
        assert_eq!(dt_partition(0), "1970-01-01-00");
        assert_eq!(dt_partition(1_764_165_600 + 59 * 60), "2025-11-26-14");
    }

    #[test]
    fn reading_keys_follow_the_firehose_layout() {
        let id = Uuid::nil();
        let key = reading_object_key("store-readings", 1_764_168_245, id, ObjectFormat::Json);
        assert_eq!(
            key,
            "readings/dt=2025-11-26-14/store-readings-1-2025-11-26-14-44-05-00000000-0000-0000-0000-000000000000.json"
        );
        assert_eq!(partition_of(&key), Some("2025-11-26-14"));
    }

    #[test]
    fn partitions_sort_like_time() {
        let mut hours: Vec<String> = [1_764_168_245_i64, 1_700_000_000, 1_764_000_000]
            .iter()
            .map(|t| dt_partition(*t))
            .collect();
        hours.sort();
        assert_eq!(
            hours,
            vec![
                dt_partition(1_700_000_000),
                dt_partition(1_764_000_000),
                dt_partition(1_764_168_245)
            ]
        );
    }

    #[test]
    fn format_parses_both_spellings() {
        assert_eq!(
            "ndjson".parse::<ObjectFormat>().unwrap(),
            ObjectFormat::Json
        );
        assert_eq!(
            "Parquet".parse::<ObjectFormat>().unwrap(),
            ObjectFormat::Parquet
        );
        assert!("csv".parse::<ObjectFormat>().unwrap_err().contains("csv"));
    }
}
