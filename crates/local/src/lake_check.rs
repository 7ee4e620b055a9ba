//! Keeps malformed data out of the planner's way without losing it.
//!
//! Before a planning query reads the window's partitions, every object it has not seen before is
//! checked: each NDJSON line against the reading contract, each Parquet object's footer. An object
//! with bad lines is moved to `quarantine/<its key>`, a report of each bad line (line number, field,
//! reason) is written beside it, and its good lines are written back as `<name>-valid.json` in the
//! same partition. An unreadable Parquet object is quarantined whole; rows of a readable one that
//! lack a required value (which the planning SQL leaves out) are counted from its footer and
//! reported with the object's name. Objects that passed are
//! remembered (by key and size) so each object is read once, not once per run.

use std::path::Path;
use std::sync::Mutex;

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use rusqlite::{Connection, params};
use serde::Serialize;
use store_model::Reading;
use store_model::lake::{QUARANTINE_PREFIX, READINGS_PREFIX};
use store_model::planning::printable;
use tracing::warn;

use crate::folder::{LakeFolder, ObjectInfo};

/// Longest object name (its last path segment) the planner reads.
pub const MAX_OBJECT_NAME_BYTES: usize = 200;

/// An I/O error that names the path it happened on.
fn named(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!("{}: {e}", printable(&path.display().to_string())),
    )
}

/// Suffix of objects rewritten with only the valid lines of a quarantined one.
const VALID_SUFFIX: &str = "-valid";

/// What a check of the window found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Objects the query may read.
    pub objects: Vec<ObjectInfo>,
    /// Malformed lines and unreadable objects found (all quarantined).
    pub malformed: u64,
}

/// One bad line of a quarantined object.
#[derive(Debug, Serialize)]
struct BadLine<'a> {
    object: &'a str,
    line: usize,
    field: &'a str,
    reason: &'a str,
    record: &'a str,
}

/// Checks reading objects once each, and quarantines what is malformed.
pub struct LakeCheck {
    lake: LakeFolder,
    seen: Mutex<Connection>,
}

impl LakeCheck {
    /// Opens the check, remembering checked objects in the SQLite file at `state`.
    pub fn open(lake: LakeFolder, state: &Path) -> Result<Self, rusqlite::Error> {
        if let Some(dir) = state.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(state)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS checked_objects (key TEXT PRIMARY KEY, size INTEGER NOT NULL)")?;
        Ok(Self {
            lake,
            seen: Mutex::new(conn),
        })
    }

    fn already_checked(&self, object: &ObjectInfo) -> bool {
        let conn = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.query_row(
            "SELECT 1 FROM checked_objects WHERE key = ?1 AND size = ?2",
            params![object.key, object.size as i64],
            |_| Ok(()),
        )
        .is_ok()
    }

    fn remember(&self, object: &ObjectInfo) {
        let conn = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = conn.execute(
            "INSERT OR REPLACE INTO checked_objects (key, size) VALUES (?1, ?2)",
            params![object.key, object.size as i64],
        ) {
            warn!(key = %object.key, error = %e, "could not remember a checked object; it will be checked again");
        }
    }

    /// Moves out of `readings/` what the query would read but the check does not accept: a
    /// symlink (to a file or a `dt=` folder: the lake is what is in it, not what it points to),
    /// a hidden object (a writer's in-progress `.tmp` file aside), a name with control
    /// characters or longer than [`MAX_OBJECT_NAME_BYTES`]. Each goes to `quarantine/` with a
    /// note of why. Returns how many were moved.
    fn quarantine_strays(&self, min_dt: &str) -> std::io::Result<u64> {
        let root = self.lake.path(READINGS_PREFIX);
        let mut moved = 0;
        let mut dirs = Vec::new();
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(named(e, &root)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| named(e, &root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(dt) = name.strip_prefix("dt=") else {
                continue;
            };
            let kind = entry.file_type().map_err(|e| named(e, &entry.path()))?;
            if kind.is_symlink() {
                moved += self.move_stray(
                    &format!("{READINGS_PREFIX}{name}"),
                    "a symlinked partition folder",
                )?;
            } else if kind.is_dir() && dt >= min_dt {
                dirs.push(entry.path());
            }
        }
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| named(e, &dir))? {
                let entry = entry.map_err(|e| named(e, &dir))?;
                let path = entry.path();
                let kind = entry.file_type().map_err(|e| named(e, &path))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let reason = if kind.is_symlink() {
                    Some("a symlink")
                } else if kind.is_dir() {
                    dirs.push(path.clone());
                    None
                } else if name.starts_with('.') && !name.ends_with(".tmp") {
                    Some("a hidden object")
                } else if name.chars().any(char::is_control) {
                    Some("a name with control characters")
                } else if name.len() > MAX_OBJECT_NAME_BYTES {
                    Some("a name longer than 200 bytes")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    let key = path
                        .strip_prefix(self.lake.root())
                        .expect("the walk stays in the lake")
                        .to_string_lossy()
                        .into_owned();
                    moved += self.move_stray(&key, reason)?;
                }
            }
        }
        Ok(moved)
    }

    fn move_stray(&self, key: &str, reason: &str) -> std::io::Result<u64> {
        warn!(object = %printable(key), %reason, "object quarantined: the planner does not read it");
        let note = serde_json::json!({ "object": key, "reason": reason });
        // The name itself may be what is wrong: the quarantined copy gets a safe one, and the
        // note keeps the original.
        let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
        let safe: String = name
            .chars()
            .map(|c| if c.is_control() || c == '.' { '_' } else { c })
            .take(64)
            .collect();
        let target = format!(
            "{QUARANTINE_PREFIX}{dir}/stray-{}-{safe}",
            uuid::Uuid::new_v4().simple()
        );
        self.lake
            .put(
                &format!("{target}.errors.json"),
                note.to_string().as_bytes(),
            )
            .map_err(|e| named(e, &self.lake.path(&target)))?;
        self.lake
            .rename(key, &target)
            .map_err(|e| named(e, &self.lake.path(key)))?;
        Ok(1)
    }

    /// Checks every reading object in partitions from `min_dt` on; returns the usable ones.
    pub fn check_since(&self, min_dt: &str) -> std::io::Result<CheckReport> {
        let mut report = CheckReport::default();
        report.malformed += self.quarantine_strays(min_dt)?;
        for object in self.lake.list_partitions_since(READINGS_PREFIX, min_dt)? {
            let is_json = object.key.ends_with(".json");
            let is_parquet = object.key.ends_with(".parquet");
            if !(is_json || is_parquet) {
                continue;
            }
            if self.already_checked(&object) {
                report.objects.push(object);
                continue;
            }
            let outcome = if is_json {
                match self.lake.get(&object.key)? {
                    Some(bytes) => self.check_json(&object.key, &bytes)?,
                    None => continue, // moved by a concurrent run
                }
            } else {
                match self.check_parquet(&object.key) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    other => other?,
                }
            };
            match outcome {
                Outcome::Good { rejected } => {
                    report.malformed += rejected;
                    self.remember(&object);
                    report.objects.push(object);
                }
                Outcome::Quarantined {
                    malformed,
                    replacement,
                } => {
                    report.malformed += malformed;
                    if let Some(r) = replacement {
                        self.remember(&r);
                        report.objects.push(r);
                    }
                }
            }
        }
        report.objects.sort_by(|a, b| a.key.cmp(&b.key));
        report.objects.dedup_by(|a, b| a.key == b.key);
        Ok(report)
    }

    fn check_json(&self, key: &str, bytes: &[u8]) -> std::io::Result<Outcome> {
        let text = String::from_utf8_lossy(bytes);
        let mut good = String::new();
        let mut bad = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match Reading::from_json_str(line) {
                Ok(_) => {
                    good.push_str(line);
                    good.push('\n');
                }
                Err(e) => bad.push((n + 1, e, line)),
            }
        }
        if bad.is_empty() {
            return Ok(Outcome::Good { rejected: 0 });
        }
        let mut report = Vec::new();
        for (line, err, record) in &bad {
            warn!(object = %key, line, field = err.field, reason = %err.reason, "malformed reading quarantined");
            let entry = BadLine {
                object: key,
                line: *line,
                field: err.field,
                reason: &err.reason,
                record,
            };
            serde_json::to_writer(&mut report, &entry).map_err(std::io::Error::other)?;
            report.push(b'\n');
        }
        let replacement = if good.is_empty() {
            None
        } else {
            let valid_key = format!("{}{VALID_SUFFIX}.json", key.trim_end_matches(".json"));
            self.lake.put_if_absent(&valid_key, good.as_bytes())?;
            let modified = std::fs::metadata(self.lake.path(&valid_key))?
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            Some(ObjectInfo {
                size: good.len() as u64,
                modified,
                key: valid_key,
            })
        };
        self.quarantine(key, &report)?;
        Ok(Outcome::Quarantined {
            malformed: bad.len() as u64,
            replacement,
        })
    }

    fn check_parquet(&self, key: &str) -> std::io::Result<Outcome> {
        let file = std::fs::File::open(self.lake.path(key))?;
        let problem = match SerializedFileReader::new(file) {
            Err(e) => Some(format!("not a readable Parquet object: {e}")),
            Ok(reader) => {
                let schema = reader.metadata().file_metadata().schema_descr();
                let has = |name: &str| schema.columns().iter().any(|c| c.name() == name);
                match REQUIRED_COLUMNS.into_iter().find(|c| !has(c)) {
                    Some(c) => Some(format!("Parquet object lacks the required column `{c}`")),
                    None => {
                        let rejected = rows_with_null_required_values(reader.metadata());
                        if rejected > 0 {
                            warn!(object = %key, rows = rejected, "rows without a required value (a null store, product, stock, reorder point or check time) are left out of planning");
                        }
                        return Ok(Outcome::Good { rejected });
                    }
                }
            }
        };
        let Some(reason) = problem else {
            return Ok(Outcome::Good { rejected: 0 });
        };
        warn!(object = %key, %reason, "malformed reading object quarantined");
        let entry = BadLine {
            object: key,
            line: 0,
            field: "record",
            reason: &reason,
            record: "",
        };
        let mut report = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        report.push(b'\n');
        self.quarantine(key, &report)?;
        Ok(Outcome::Quarantined {
            malformed: 1,
            replacement: None,
        })
    }

    fn quarantine(&self, key: &str, report: &[u8]) -> std::io::Result<()> {
        let target = format!("{QUARANTINE_PREFIX}{key}");
        self.lake.put(&format!("{target}.errors.json"), report)?;
        self.lake.rename(key, &target)?;
        Ok(())
    }
}

/// The columns every usable reading has a value in.
const REQUIRED_COLUMNS: [&str; 5] = [
    "store_id",
    "product_id",
    "current_stock",
    "threshold_level",
    "check_timestamp",
];

/// Rows of a Parquet object that the planning SQL leaves out for a null required value, from
/// the footer's statistics (no data page is read): per row group, the most nulls of any required
/// column, so a row with several nulls counts once where they coincide.
fn rows_with_null_required_values(
    metadata: &datafusion::parquet::file::metadata::ParquetMetaData,
) -> u64 {
    metadata
        .row_groups()
        .iter()
        .map(|group| {
            group
                .columns()
                .iter()
                .filter(|c| REQUIRED_COLUMNS.contains(&c.column_descr().name()))
                .filter_map(|c| c.statistics().and_then(|s| s.null_count_opt()))
                .max()
                .unwrap_or(0)
        })
        .sum()
}

enum Outcome {
    /// Every row may be read; `rejected` of them lack a required value, which the planning SQL
    /// leaves out.
    Good { rejected: u64 },
    Quarantined {
        malformed: u64,
        replacement: Option<ObjectInfo>,
    },
}
