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
/// Prefix of open orders: alerts the truck app has accepted from the queue.
pub const ORDERS_PREFIX: &str = "ledger/orders/";
/// Prefix of truck trips, one folder per truck, numbered: the claim that puts a truck on the road.
pub const TRIPS_PREFIX: &str = "ledger/trips/";
/// Prefix of planning runs: one record per run that sent its alerts.
pub const RUNS_PREFIX: &str = "ledger/runs/";
/// Prefix of closed orders: open orders closed without a whole delivery, with the reason.
pub const CLOSED_PREFIX: &str = "ledger/closed/";
/// Prefix of the notes on damaged ledger records (the records themselves stay in place).
pub const LEDGER_QUARANTINE_PREFIX: &str = "ledger/quarantine/";

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

/// The first second of a `dt` partition (`YYYY-MM-DD-HH`, UTC), or `None` for another text.
pub fn partition_start(dt: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(&format!("{dt}:00:00"), "%Y-%m-%d-%H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
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

/// Extracts the `dt` value from a key such as `readings/dt=2026-11-26-13/x.json`.
pub fn partition_of(key: &str) -> Option<&str> {
    key.split('/')
        .find_map(|segment| segment.strip_prefix("dt="))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_starts_at_its_hour() {
        let t = 1_764_165_600 + 3 * 3600;
        assert_eq!(partition_start(&dt_partition(t + 1799)), Some(t));
        assert_eq!(partition_start("2026-13-01-00"), None);
        assert_eq!(partition_start("x"), None);
    }

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
