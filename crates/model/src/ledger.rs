//! The ledger's layout and rules, over any object store (an S3 bucket, or the lake folder).
//!
//! - `ledger/alerts/dt=…/run-<query id>.json`: the alerts of one planning run, one JSON per line.
//! - `ledger/dispatches/dt=…/<dispatch id>.json`: one dispatch per piece of an alert (the alert
//!   id when it travels whole), created only if absent, so a redelivered alert finds its
//!   dispatch instead of making a second one.
//! - `ledger/deliveries/dt=…/<dispatch id>.json`: one delivery per dispatch, likewise.
//! - `ledger/orders/dt=…/<alert id>.json`: an alert the truck app took off the queue, an open
//!   order until every piece of it is dispatched; created only if absent.
//! - `ledger/trips/<truck id>/<trip number>.json`: a truck's trips, numbered from 1; trip `n + 1`
//!   is created only if absent, which is how a dispatcher claims a free truck.
//! - `ledger/runs/dt=…/run-<query id>.json`: what a planning run read and sent, written after
//!   its alerts.
//! - `ledger/closed/dt=…/<alert id>.json`: an open order closed without a whole delivery, with
//!   the reason (expired, store unknown, too large); created only if absent.
//! - `ledger/quarantine/<key under ledger/>.note.json`: a note on a record that could not be
//!   read (a torn or foreign write). The record stays where it is: its key still counts, so a
//!   damaged dispatch's piece is not carried twice and a damaged trip keeps its truck parked.
//!
//! Dispatch, delivery and order keys are partitioned by the alert's planning hour, so they are
//! found from the alert alone. An adapter only provides the object operations of
//! [`LedgerStore`]; [`ObjectLedger`] holds everything else, so both backends keep the same ledger.
//! Objects written create-if-absent never change, so the ledger keeps those it has read and
//! fetches only new ones.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::dispatch::{Delivery, Dispatch, Trip};
use crate::lake::{
    ALERTS_PREFIX, CLOSED_PREFIX, DELIVERIES_PREFIX, DISPATCHES_PREFIX, LEDGER_QUARANTINE_PREFIX,
    ORDERS_PREFIX, RUNS_PREFIX, dt_partition, ledger_object_key,
};
use crate::planning::{Alert, AlertStatus, Delivered, PlanningRun};
use crate::ports::{DamagedRecord, Ledger, OrderClosure, PortError, Recorded};

/// The object operations a ledger needs.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Writes an object, replacing any with the same key.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), PortError>;
    /// Writes an object unless the key exists; returns the existing object's bytes if it does.
    async fn create(&self, key: &str, bytes: Vec<u8>) -> Result<Option<Vec<u8>>, PortError>;
    /// Keys under `prefix` in partitions `dt=<min_dt>` and later.
    async fn keys_since(&self, prefix: &str, min_dt: &str) -> Result<Vec<String>, PortError>;
    /// Keys under `prefix` that sort after `start_after` (every key under it when empty).
    async fn keys_after(&self, prefix: &str, start_after: &str) -> Result<Vec<String>, PortError>;
    /// The objects at `keys` (skipping any that vanished), in any order.
    async fn get_all(&self, keys: Vec<String>) -> Result<Vec<(String, Vec<u8>)>, PortError>;
}

/// A [`Ledger`] over a [`LedgerStore`].
#[derive(Debug, Clone)]
pub struct ObjectLedger<S> {
    store: S,
    known: Arc<Mutex<Known>>,
}

/// One object's records, decoded: a `Vec` of its prefix's record type.
type Decoded = Arc<dyn std::any::Any + Send + Sync>;

/// What the ledger has read of objects that never change.
#[derive(Default)]
struct Known {
    /// The records of create-if-absent objects by prefix and key, decoded (a `Vec` of the
    /// prefix's record type), while they are inside the window being read: each is read and
    /// parsed once.
    objects: HashMap<String, PrefixCache>,
    /// The latest trip seen of each truck.
    trips: HashMap<String, Trip>,
    /// Records found unreadable, by key, with why.
    damaged: std::collections::BTreeMap<String, String>,
}

/// The decoded objects of one prefix, each marked with the latest read that listed it.
#[derive(Default)]
struct PrefixCache {
    /// Reads of the prefix so far.
    reads: u64,
    /// By key: the records, and the read that last listed the object.
    objects: HashMap<String, (Decoded, u64)>,
}

impl std::fmt::Debug for Known {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Known")
            .field(
                "objects",
                &self
                    .objects
                    .values()
                    .map(|p| p.objects.len())
                    .sum::<usize>(),
            )
            .field("trips", &self.trips)
            .field("damaged", &self.damaged)
            .finish()
    }
}

/// The most bytes of a damaged record copied into its quarantine note.
const NOTE_EXCERPT_BYTES: usize = 4096;

/// The key of the note on a damaged ledger record.
pub fn quarantine_note_key(key: &str) -> String {
    let under = key.strip_prefix("ledger/").unwrap_or(key);
    format!("{LEDGER_QUARANTINE_PREFIX}{under}.note.json")
}

/// The dispatch id a dispatch or delivery record's key names (its file name).
pub fn dispatch_id_of_key(key: &str) -> Option<&str> {
    key.rsplit_once('/')?.1.strip_suffix(".json")
}

/// The prefixes whose objects are written once and never changed, so a read parses each object
/// once and keeps it. Named one by one: a prefix not here (the alerts', or a new one) is read
/// afresh every time, never cached by mistake.
const IMMUTABLE_PREFIXES: [&str; 5] = [
    DISPATCHES_PREFIX,
    DELIVERIES_PREFIX,
    ORDERS_PREFIX,
    CLOSED_PREFIX,
    RUNS_PREFIX,
];

/// Whether the objects under `prefix` are written once and never changed.
fn immutable(prefix: &str) -> bool {
    IMMUTABLE_PREFIXES.contains(&prefix)
}

/// A record that did not parse, skipped by a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableLine {
    /// The key of the object holding the line.
    pub key: String,
    /// The line, from 1.
    pub line: usize,
    /// Why it did not parse.
    pub error: String,
}

/// One JSON record per line.
pub fn encode_lines<T: Serialize>(records: &[T]) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = Vec::new();
    for r in records {
        serde_json::to_writer(&mut bytes, r)?;
        bytes.push(b'\n');
    }
    Ok(bytes)
}

/// The records of one object, and the lines that did not parse.
pub fn decode_lines<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> (Vec<T>, Vec<UnreadableLine>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in String::from_utf8_lossy(bytes).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(r) => records.push(r),
            Err(e) => bad.push(UnreadableLine {
                key: key.to_owned(),
                line: n + 1,
                error: e.to_string(),
            }),
        }
    }
    (records, bad)
}

fn encode_error(operation: &'static str, e: serde_json::Error) -> PortError {
    PortError::permanent(operation, "could not encode the record", e)
}

impl<S: LedgerStore> ObjectLedger<S> {
    /// A ledger in `store`.
    pub fn new(store: S) -> Self {
        Self {
            store,
            known: Arc::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        // Nothing panics while holding the lock; a poisoned one still holds whole entries.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `trip` as its truck's latest, unless a later one is known.
    fn saw_trip(&self, trip: &Trip) {
        let mut known = self.known();
        let newer = known
            .trips
            .get(&trip.truck_id)
            .is_none_or(|t| t.trip < trip.trip);
        if newer {
            known.trips.insert(trip.truck_id.clone(), trip.clone());
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Every record under `prefix` in partitions since `since`, as [`Self::read_since_by`]
    /// with every record kept, in the order listed.
    async fn read_since<T: DeserializeOwned + Clone + Send + Sync + 'static>(
        &self,
        prefix: &str,
        since: i64,
    ) -> Result<Vec<T>, PortError> {
        self.read_since_by(prefix, since, |_| true, |_, _| std::cmp::Ordering::Equal)
            .await
    }

    /// The records under `prefix` in partitions since `since` that `keep` accepts, sorted by
    /// `order` (stable). Lines that do not parse are skipped: the ledger is append-only and
    /// written by this code, so one is a foreign or torn write, and refusing to plan because of
    /// it would stop the pipeline. The records are filtered and sorted by reference and copied
    /// once (a dispatcher reads two days of orders at every step).
    async fn read_since_by<T, K, O>(
        &self,
        prefix: &str,
        since: i64,
        keep: K,
        order: O,
    ) -> Result<Vec<T>, PortError>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
        K: Fn(&T) -> bool,
        O: Fn(&T, &T) -> std::cmp::Ordering,
    {
        let keys = self.store.keys_since(prefix, &dt_partition(since)).await?;
        let immutable = immutable(prefix);
        let mut found: Vec<Decoded> = Vec::with_capacity(keys.len());
        // Objects that never change are parsed once; those that left the listing are forgotten.
        let (missing, read) = if immutable {
            let mut known = self.known();
            let cache = known.objects.entry(prefix.to_owned()).or_default();
            cache.reads += 1;
            let read = cache.reads;
            let mut missing = Vec::new();
            for key in keys {
                match cache.objects.get_mut(&key) {
                    Some((records, seen)) if records.is::<Vec<T>>() => {
                        *seen = read;
                        found.push(records.clone());
                    }
                    _ => missing.push(key),
                }
            }
            cache.objects.retain(|_, (_, seen)| *seen == read);
            (missing, read)
        } else {
            (keys, 0)
        };
        let mut bad_keys = HashSet::new();
        for (key, bytes) in self.store.get_all(missing).await? {
            let (records, bad) = decode_lines::<T>(&key, &bytes);
            let records: Decoded = Arc::new(records);
            if let Some(b) = bad.first() {
                let error = format!("line {}: {}", b.line, b.error);
                self.note_damaged(&key, &bytes, error).await;
                bad_keys.insert(key);
            } else if immutable {
                self.known()
                    .objects
                    .entry(prefix.to_owned())
                    .or_default()
                    .objects
                    .insert(key, (records.clone(), read));
            }
            found.push(records);
        }
        // A damaged object is read again next time (an operator may repair it), and one
        // repaired or removed is no longer reported.
        self.known()
            .damaged
            .retain(|k, _| !k.starts_with(prefix) || bad_keys.contains(k));
        let mut records: Vec<&T> = found
            .iter()
            .filter_map(|d| d.downcast_ref::<Vec<T>>())
            .flatten()
            .filter(|r| keep(r))
            .collect();
        records.sort_by(|a, b| order(a, b));
        Ok(records.into_iter().cloned().collect())
    }

    /// Sets a damaged record aside: remembered (for [`Ledger::damaged`]) and noted under
    /// `ledger/quarantine/` with an excerpt, the first time it is seen. The record stays in
    /// place. Writing the note is best effort: a reader without write access (the planner's
    /// role) still reports the record in its log.
    async fn note_damaged(&self, key: &str, bytes: &[u8], error: String) {
        let new = self
            .known()
            .damaged
            .insert(key.to_owned(), error.clone())
            .is_none();
        if !new {
            return;
        }
        warn!(%key, %error, "a ledger record is unreadable; it is set aside (left in place, noted under ledger/quarantine/) until an operator repairs or removes it");
        let excerpt = String::from_utf8_lossy(&bytes[..bytes.len().min(NOTE_EXCERPT_BYTES)]);
        let note = serde_json::json!({
            "key": key,
            "error": error,
            "bytes": bytes.len(),
            "excerpt": excerpt,
            "what_to_do": "repair the record from the excerpt, or remove it once its truck, order or delivery is accounted for",
        });
        if let Ok(note) = serde_json::to_vec_pretty(&note)
            && let Err(e) = self.store.put(&quarantine_note_key(key), note).await
        {
            warn!(%key, error = %e, "the note on a damaged ledger record could not be written");
        }
    }

    async fn create<T: Serialize + DeserializeOwned>(
        &self,
        operation: &'static str,
        key: String,
        record: &T,
    ) -> Result<Recorded<T>, PortError> {
        let bytes =
            encode_lines(std::slice::from_ref(record)).map_err(|e| encode_error(operation, e))?;
        match self.store.create(&key, bytes).await? {
            None => Ok(Recorded::Created),
            Some(existing) => match self.decode_one::<T>(&key, &existing).await {
                Ok(record) => Ok(Recorded::AlreadyRecorded(record)),
                Err(damaged) => Ok(Recorded::Damaged(damaged)),
            },
        }
    }

    /// The one record of a create-if-absent object, or the object set aside as damaged.
    async fn decode_one<T: DeserializeOwned>(
        &self,
        key: &str,
        bytes: &[u8],
    ) -> Result<T, DamagedRecord> {
        let (mut records, bad) = decode_lines::<T>(key, bytes);
        if records.len() == 1 && bad.is_empty() {
            return Ok(records.remove(0));
        }
        let error = match bad.first() {
            Some(b) => format!("line {}: {}", b.line, b.error),
            None => format!("{} records where one is expected", records.len()),
        };
        self.note_damaged(key, bytes, error.clone()).await;
        Err(DamagedRecord {
            key: key.to_owned(),
            error,
        })
    }
}

/// Joins alerts with their deliveries: each alert once, planned at or after `since`.
pub fn alert_statuses(
    alerts: Vec<Alert>,
    deliveries: Vec<Delivery>,
    since: i64,
) -> Vec<AlertStatus> {
    let mut delivered: HashMap<String, Vec<Delivered>> = HashMap::new();
    for d in deliveries {
        delivered.entry(d.alert_id).or_default().push(Delivered {
            delivered_at: d.delivered_at,
            quantity: d.quantity,
        });
    }
    let mut seen = HashSet::new();
    alerts
        .into_iter()
        .filter(|a| a.planned_at >= since && seen.insert(a.alert_id.clone()))
        .map(|alert| AlertStatus {
            deliveries: delivered.get(&alert.alert_id).cloned().unwrap_or_default(),
            alert,
        })
        .collect()
}

/// The ledger object holding every alert of planning run `run_id`, planned at `planned_at`.
pub fn alerts_object_key(run_id: &str, planned_at: i64) -> String {
    ledger_object_key(ALERTS_PREFIX, planned_at, &format!("run-{run_id}"))
}

#[async_trait]
impl<S: LedgerStore> Ledger for ObjectLedger<S> {
    async fn record_alerts(&self, run_id: &str, alerts: &[Alert]) -> Result<(), PortError> {
        let Some(first) = alerts.first() else {
            return Ok(());
        };
        let key = alerts_object_key(run_id, first.planned_at);
        let bytes = encode_lines(alerts).map_err(|e| encode_error("record alerts", e))?;
        self.store.put(&key, bytes).await
    }

    async fn alerts_since(&self, since: i64) -> Result<Vec<AlertStatus>, PortError> {
        let alerts: Vec<Alert> = self.read_since(ALERTS_PREFIX, since).await?;
        let deliveries: Vec<Delivery> = self.read_since(DELIVERIES_PREFIX, since).await?;
        Ok(alert_statuses(alerts, deliveries, since))
    }

    async fn record_dispatch(&self, dispatch: &Dispatch) -> Result<Recorded<Dispatch>, PortError> {
        let key = Dispatch::ledger_key(&dispatch.dispatch_id, dispatch.planned_at);
        self.create("record dispatch", key, dispatch).await
    }

    async fn dispatches_since(&self, since: i64) -> Result<Vec<Dispatch>, PortError> {
        self.read_since_by(
            DISPATCHES_PREFIX,
            since,
            |d: &Dispatch| d.planned_at >= since,
            |a, b| (a.dispatched_at, &a.dispatch_id).cmp(&(b.dispatched_at, &b.dispatch_id)),
        )
        .await
    }

    async fn record_delivery(&self, delivery: &Delivery) -> Result<Recorded<Delivery>, PortError> {
        let key = Delivery::ledger_key(&delivery.dispatch_id, delivery.planned_at);
        self.create("record delivery", key, delivery).await
    }

    async fn deliveries_since(&self, since: i64) -> Result<Vec<Delivery>, PortError> {
        self.read_since_by(
            DELIVERIES_PREFIX,
            since,
            |d: &Delivery| d.planned_at >= since,
            |a, b| (a.delivered_at, &a.dispatch_id).cmp(&(b.delivered_at, &b.dispatch_id)),
        )
        .await
    }

    async fn record_order(&self, alert: &Alert) -> Result<Recorded<Alert>, PortError> {
        let key = ledger_object_key(ORDERS_PREFIX, alert.planned_at, &alert.alert_id);
        self.create("record order", key, alert).await
    }

    async fn orders_since(&self, since: i64) -> Result<Vec<Alert>, PortError> {
        self.read_since_by(
            ORDERS_PREFIX,
            since,
            |a: &Alert| a.planned_at >= since,
            |a, b| (a.planned_at, &a.alert_id).cmp(&(b.planned_at, &b.alert_id)),
        )
        .await
    }

    async fn claim_trip(&self, trip: &Trip) -> Result<Recorded<Trip>, PortError> {
        let key = Trip::ledger_key(&trip.truck_id, trip.trip);
        let recorded = self.create("claim trip", key, trip).await?;
        match &recorded {
            Recorded::Created => self.saw_trip(trip),
            Recorded::AlreadyRecorded(theirs) => self.saw_trip(theirs),
            Recorded::Damaged(_) => {}
        }
        Ok(recorded)
    }

    async fn latest_trip(&self, truck_id: &str) -> Result<Option<Trip>, PortError> {
        let prefix = Trip::truck_prefix(truck_id);
        let known = self.known().trips.get(truck_id).cloned();
        let after = known
            .as_ref()
            .map(|t| Trip::ledger_key(truck_id, t.trip))
            .unwrap_or_default();
        let keys = self.store.keys_after(&prefix, &after).await?;
        // The newest numbered trip; anything else in the folder is not the ledger's.
        let newest = keys
            .into_iter()
            .filter(|k| {
                k.strip_prefix(&prefix)
                    .and_then(|n| n.strip_suffix(".json"))
                    .is_some_and(|n| n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .max();
        // A damaged trip repaired or removed is no longer reported.
        self.known()
            .damaged
            .retain(|k, _| !k.starts_with(&prefix) || Some(k) == newest.as_ref());
        let Some(key) = newest else {
            return Ok(known);
        };
        let Some((key, bytes)) = self.store.get_all(vec![key]).await?.pop() else {
            return Ok(known);
        };
        match self.decode_one::<Trip>(&key, &bytes).await {
            Ok(trip) => {
                self.known().damaged.remove(&key);
                self.saw_trip(&trip);
                Ok(Some(trip))
            }
            Err(damaged) => Err(PortError::new(
                crate::ports::ErrorKind::Permanent,
                "read trips",
                format!(
                    "the trip {} is unreadable ({}); the truck stays off the road until it is repaired or removed",
                    damaged.key, damaged.error
                ),
            )),
        }
    }

    async fn close_order(
        &self,
        closure: &OrderClosure,
    ) -> Result<Recorded<OrderClosure>, PortError> {
        let key = ledger_object_key(CLOSED_PREFIX, closure.planned_at, &closure.alert_id);
        self.create("close order", key, closure).await
    }

    async fn closures_since(&self, since: i64) -> Result<Vec<OrderClosure>, PortError> {
        self.read_since_by(
            CLOSED_PREFIX,
            since,
            |c: &OrderClosure| c.planned_at >= since,
            |a, b| (a.planned_at, &a.alert_id).cmp(&(b.planned_at, &b.alert_id)),
        )
        .await
    }

    fn damaged(&self) -> Vec<DamagedRecord> {
        self.known()
            .damaged
            .iter()
            .map(|(key, error)| DamagedRecord {
                key: key.clone(),
                error: error.clone(),
            })
            .collect()
    }

    async fn record_run(&self, run: &PlanningRun) -> Result<(), PortError> {
        let bytes =
            encode_lines(std::slice::from_ref(run)).map_err(|e| encode_error("record run", e))?;
        self.store.put(&run.ledger_key(), bytes).await
    }

    async fn runs_since(&self, since: i64) -> Result<Vec<PlanningRun>, PortError> {
        self.read_since_by(
            RUNS_PREFIX,
            since,
            |r: &PlanningRun| r.planned_at >= since,
            |a, b| (a.planned_at, &a.query_id).cmp(&(b.planned_at, &b.query_id)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_write_once_prefixes_are_cached() {
        for p in IMMUTABLE_PREFIXES {
            assert!(immutable(p), "{p}");
        }
        assert!(!immutable(ALERTS_PREFIX));
        assert!(!immutable("ledger/something-new/"));
        assert!(!immutable(LEDGER_QUARANTINE_PREFIX));
    }

    #[test]
    fn lines_round_trip_and_bad_lines_are_reported_with_their_place() {
        let bytes = encode_lines(&[1, 2, 3]).unwrap();
        assert_eq!(bytes, b"1\n2\n3\n");
        let (ok, bad) = decode_lines::<i32>("k", b"1\n\nx\n3\n");
        assert_eq!(ok, vec![1, 3]);
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].key.as_str(), bad[0].line), ("k", 3));
    }

    #[test]
    fn an_alert_is_listed_once_with_its_delivery() {
        let alert = |id: &str, at| Alert {
            alert_id: id.into(),
            store_id: "S".into(),
            product_id: "P".into(),
            product_name: "Phở".into(),
            alert: crate::planning::ALERT_TEXT.into(),
            current_stock: 1,
            threshold_level: 5,
            projected_stock: 1,
            restock_qty: 9,
            reading_time: at - 1,
            planned_at: at,
            query_id: "q".into(),
            sales_per_hour: None,
            hours_to_stockout: None,
            explanation: None,
        };
        let delivery = Delivery {
            dispatch_id: "a".into(),
            truck_id: "T".into(),
            alert_id: "a".into(),
            store_id: "S".into(),
            product_id: "P".into(),
            quantity: 1,
            planned_at: 100,
            delivered_at: 150,
        };
        let got = alert_statuses(
            vec![
                alert("a", 100),
                alert("a", 100),
                alert("b", 100),
                alert("old", 10),
            ],
            vec![delivery],
            50,
        );
        let ids: Vec<(&str, Vec<i64>)> = got
            .iter()
            .map(|s| {
                let at = s.deliveries.iter().map(|d| d.delivered_at).collect();
                (s.alert.alert_id.as_str(), at)
            })
            .collect();
        assert_eq!(ids, vec![("a", vec![150]), ("b", vec![])]);
    }
}
