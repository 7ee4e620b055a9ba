//! The Lambda's event (what a planning run is asked) and result (what it did).

use serde::{Deserialize, Serialize};

use super::{Alert, DEFAULT_LOOKBACK_HOURS, MAX_LOOKBACK_HOURS, Suppressed, printable};

/// The planning event (the Lambda's input). Every field is optional: `{}` is a valid event.
/// Unknown fields are an error, so a typo is not silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanningEvent {
    /// Hours of readings to consider (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback_hours: Option<u32>,
    /// Plan and report, but send and record nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Only plan for these stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ids: Option<Vec<String>>,
    /// Send at most this many alerts (the most urgent first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A planning event that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid planning event: `{field}` {reason}")]
pub struct EventError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl PlanningEvent {
    /// Parses an event from JSON, naming the offending field on error.
    pub fn from_json(json: &str) -> Result<Self, EventError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| EventError {
            field: "event",
            reason: e.to_string(),
        })?;
        // serde would also take a struct from a JSON array (`[]` is an empty event to it).
        if !value.is_object() {
            return Err(EventError {
                field: "event",
                reason: "must be a JSON object, e.g. {} or {\"lookback_hours\": 6}".into(),
            });
        }
        if let Some(key) = crate::text::repeated_keys(json).into_iter().next() {
            return Err(EventError {
                field: "event",
                reason: format!(
                    "names `{}` twice; which value is meant is unclear, so the event is refused",
                    printable(&key.chars().take(64).collect::<String>())
                ),
            });
        }
        let event: Self = serde_json::from_value(value).map_err(|e| EventError {
            field: "event",
            reason: e.to_string(),
        })?;
        event.validate()?;
        Ok(event)
    }

    /// Checks the ranges of every field.
    pub fn validate(&self) -> Result<(), EventError> {
        if let Some(h) = self.lookback_hours
            && !(1..=MAX_LOOKBACK_HOURS).contains(&h)
        {
            return Err(EventError {
                field: "lookback_hours",
                reason: format!("must be between 1 and {MAX_LOOKBACK_HOURS}, got {h}"),
            });
        }
        if self.limit == Some(0) {
            return Err(EventError {
                field: "limit",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(ids) = &self.store_ids {
            if ids.is_empty() {
                return Err(EventError {
                    field: "store_ids",
                    reason: "must name at least one store when present".into(),
                });
            }
            if ids.iter().any(|s| s.trim().is_empty()) {
                return Err(EventError {
                    field: "store_ids",
                    reason: "must not contain empty ids".into(),
                });
            }
            if let Some(why) = ids
                .iter()
                .find_map(|s| crate::text::refused_char(s, crate::text::Field::Id))
            {
                return Err(EventError {
                    field: "store_ids",
                    reason: why,
                });
            }
        }
        Ok(())
    }

    /// The lookback window in hours.
    pub fn lookback(&self) -> u32 {
        self.lookback_hours.unwrap_or(DEFAULT_LOOKBACK_HOURS)
    }
}

/// The planning result (the Lambda's output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanningResult {
    /// Id of the query execution behind this run.
    pub query_id: String,
    /// Which engine ran the planning SQL (`datafusion`, `athena`).
    pub engine: String,
    /// Readings in the window.
    pub readings_scanned: u64,
    /// Bytes the engine read.
    pub bytes_scanned: u64,
    /// Records skipped because they were malformed (quarantined, with the reason).
    pub malformed_skipped: u64,
    /// Alerts sent to the queue in this run.
    pub alerts_sent: usize,
    /// Low readings already covered by earlier alerts.
    pub alerts_suppressed: usize,
    /// Whether this was a dry run (nothing sent or recorded).
    pub dry_run: bool,
    /// The alerts of this run.
    pub alerts: Vec<Alert>,
    /// The low readings that produced no alert, and why.
    pub suppressed: Vec<Suppressed>,
    /// Known stores that sent no reading in the window: not an alert, but worth a look (a
    /// broken scanner, a closed store, a lost network).
    #[serde(default)]
    pub silent_stores: Vec<String>,
    /// The seed's human lines, one per listed alert.
    pub messages: Vec<String>,
    /// Alerts that could not be sent (a record in the lake breaking the limits at the door, so
    /// its alert would break the queue's): reported here, every other alert sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsendable: Vec<Unsendable>,
    /// Entries of the lists above left out to keep the result small (see
    /// [`PlanningResult::bound_lists`]); none when everything is listed.
    #[serde(default, skip_serializing_if = "Unlisted::is_empty")]
    pub unlisted: Unlisted,
    /// The ledger object holding every alert of this run, one JSON line each (none for a dry
    /// run, or when there are no alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts_object: Option<String>,
}

/// How many entries of each list of a [`PlanningResult`] were left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unlisted {
    /// Alerts (and their messages) left out: the least urgent ones.
    pub alerts: usize,
    /// Suppressed low readings left out.
    pub suppressed: usize,
    /// Silent stores left out.
    pub silent_stores: usize,
    /// Unsendable alerts left out.
    pub unsendable: usize,
}

impl Unlisted {
    /// Whether nothing was left out.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The most entries a result lists of each kind (alerts, suppressed readings, silent stores,
/// unsendable alerts).
pub const MAX_LISTED: usize = 1_000;

/// The most bytes the listed entries take together (as JSON). With the counts, a result stays
/// well under the 6 MB a synchronous Lambda invocation can return, whatever the number of alerts.
pub const MAX_LISTED_BYTES: usize = 4 * 1024 * 1024;

impl PlanningResult {
    /// Cuts each list to its first entries (alerts come most urgent first) within
    /// [`MAX_LISTED`] and, all lists together, [`MAX_LISTED_BYTES`], and counts what was left
    /// out in [`Self::unlisted`]; writes the listed alerts' [`Self::messages`]. Every alert
    /// stays in the run's ledger object.
    pub fn bound_lists(&mut self) {
        let mut budget = Budget(MAX_LISTED_BYTES);
        self.messages.clear();
        for alert in self.alerts.iter().take(MAX_LISTED) {
            let line = alert.human_line();
            if !budget.take(json_size(alert).saturating_add(json_size(&line))) {
                break;
            }
            self.messages.push(line);
        }
        let listed = self.messages.len();
        self.unlisted.alerts += self.alerts.len() - listed;
        self.alerts.truncate(listed);
        self.unlisted.suppressed += budget.keep(&mut self.suppressed);
        self.unlisted.unsendable += budget.keep(&mut self.unsendable);
        self.unlisted.silent_stores += budget.keep(&mut self.silent_stores);
    }
}

/// Bytes left for listed entries.
struct Budget(usize);

impl Budget {
    fn take(&mut self, bytes: usize) -> bool {
        let fits = bytes <= self.0;
        if fits {
            self.0 -= bytes;
        }
        fits
    }

    /// Keeps the first entries of `list` that fit; returns how many were left out.
    fn keep<T: Serialize>(&mut self, list: &mut Vec<T>) -> usize {
        let mut n = 0;
        while n < list.len().min(MAX_LISTED) && self.take(json_size(&list[n])) {
            n += 1;
        }
        let left = list.len() - n;
        list.truncate(n);
        left
    }
}

/// A value's size as JSON, with the comma that separates it from the next.
fn json_size<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |b| b.len() + 1)
}

/// An alert left unsent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsendable {
    /// The alert's id.
    pub alert_id: String,
    /// Its store (cut to the id limit, control characters escaped).
    pub store_id: String,
    /// Its product (likewise).
    pub product_id: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The most bytes of an alert's body: well under SQS's 256 KiB, which an alert within the
/// limits at the door never comes near (about 1 KiB).
pub const MAX_ALERT_BODY_BYTES: usize = 64 * 1024;

impl Unsendable {
    /// The alerts of `alerts` the queue can carry, and the rest, each with its reason.
    pub fn split(alerts: Vec<Alert>) -> (Vec<Alert>, Vec<Unsendable>) {
        let mut ok = Vec::with_capacity(alerts.len());
        let mut bad = Vec::new();
        for alert in alerts {
            let size = serde_json::to_vec(&alert).map_or(usize::MAX, |b| b.len());
            let problem = alert.check_received().err().or_else(|| {
                (size > MAX_ALERT_BODY_BYTES).then(|| {
                    format!("the alert is {size} bytes; at most {MAX_ALERT_BODY_BYTES} are sent")
                })
            });
            match problem {
                None => ok.push(alert),
                Some(reason) => {
                    let cut = |s: &str| {
                        printable(
                            &s.chars()
                                .take(crate::reading::MAX_ID_CHARS)
                                .collect::<String>(),
                        )
                        .into_owned()
                    };
                    bad.push(Unsendable {
                        alert_id: alert.alert_id.clone(),
                        store_id: cut(&alert.store_id),
                        product_id: cut(&alert.product_id),
                        reason,
                    });
                }
            }
        }
        (ok, bad)
    }
}
