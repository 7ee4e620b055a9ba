//! The ledger as files in the lake folder, in the same layout the S3 ledger uses.
//!
//! - `ledger/alerts/dt=…/run-<query id>.json`: the alerts of one planning run, one JSON per line.
//! - `ledger/dispatches/dt=…/<alert id>.json`: one dispatch per alert, created only if absent, so
//!   a redelivered alert finds its dispatch instead of making a second one.
//! - `ledger/deliveries/dt=…/<alert id>.json`: one delivery per alert, likewise.
//!
//! Dispatch and delivery keys are partitioned by the alert's planning hour, so they are found from
//! the alert alone.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store_model::lake::{
    ALERTS_PREFIX, DELIVERIES_PREFIX, DISPATCHES_PREFIX, dt_partition, ledger_object_key,
};
use store_model::planning::{Alert, AlertStatus};
use store_model::ports::{Ledger, PortError, Recorded};
use store_model::{Delivery, Dispatch};
use tracing::warn;

use crate::folder::LakeFolder;

/// The embedded [`Ledger`].
#[derive(Debug, Clone)]
pub struct FolderLedger {
    lake: LakeFolder,
}

impl FolderLedger {
    /// A ledger in the lake folder.
    pub fn new(lake: LakeFolder) -> Self {
        Self { lake }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&LakeFolder) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, PortError> {
        let lake = self.lake.clone();
        tokio::task::spawn_blocking(move || work(&lake))
            .await
            .map_err(|e| PortError::permanent(operation, "ledger task failed", Some(Box::new(e))))?
            .map_err(|e| PortError::transient(operation, "ledger file access failed", e))
    }

    /// Every record in the partitions under `prefix` since `since`, skipping (and reporting)
    /// lines that do not parse.
    async fn read_since<T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &'static str,
        prefix: &'static str,
        since: i64,
    ) -> Result<Vec<T>, PortError> {
        self.blocking(operation, move |lake| {
            let mut out = Vec::new();
            for object in lake.list_partitions_since(prefix, &dt_partition(since))? {
                let Some(bytes) = lake.get(&object.key)? else { continue };
                for (n, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str(line) {
                        Ok(record) => out.push(record),
                        Err(e) => warn!(key = %object.key, line = n + 1, error = %e, "skipping unreadable ledger line"),
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn create<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        operation: &'static str,
        key: String,
        record: &T,
    ) -> Result<Recorded<T>, PortError> {
        let mut bytes = serde_json::to_vec(record).map_err(|e| {
            PortError::permanent(operation, "could not encode the record", Some(Box::new(e)))
        })?;
        bytes.push(b'\n');
        let existing = self
            .blocking(operation, move |lake| {
                if lake.put_if_absent(&key, &bytes)? {
                    Ok(None)
                } else {
                    Ok(lake.get(&key)?)
                }
            })
            .await?;
        match existing {
            None => Ok(Recorded::Created),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Recorded::AlreadyRecorded)
                .map_err(|e| {
                    PortError::permanent(
                        operation,
                        "the recorded entry is unreadable",
                        Some(Box::new(e)),
                    )
                }),
        }
    }
}

#[async_trait]
impl Ledger for FolderLedger {
    async fn record_alerts(&self, run_id: &str, alerts: &[Alert]) -> Result<(), PortError> {
        let Some(first) = alerts.first() else {
            return Ok(());
        };
        let key = ledger_object_key(ALERTS_PREFIX, first.planned_at, &format!("run-{run_id}"));
        let mut bytes = Vec::new();
        for a in alerts {
            serde_json::to_writer(&mut bytes, a).map_err(|e| {
                PortError::permanent(
                    "record alerts",
                    "could not encode an alert",
                    Some(Box::new(e)),
                )
            })?;
            bytes.push(b'\n');
        }
        self.blocking("record alerts", move |lake| lake.put(&key, &bytes))
            .await
    }

    async fn alerts_since(&self, since: i64) -> Result<Vec<AlertStatus>, PortError> {
        let alerts: Vec<Alert> = self
            .read_since("read alert ledger", ALERTS_PREFIX, since)
            .await?;
        let deliveries: Vec<Delivery> = self
            .read_since("read deliveries", DELIVERIES_PREFIX, since)
            .await?;
        let delivered: std::collections::HashMap<String, i64> = deliveries
            .into_iter()
            .map(|d| (d.alert_id, d.delivered_at))
            .collect();
        let mut seen = std::collections::HashSet::new();
        Ok(alerts
            .into_iter()
            .filter(|a| a.planned_at >= since && seen.insert(a.alert_id.clone()))
            .map(|alert| AlertStatus {
                delivered_at: delivered.get(&alert.alert_id).copied(),
                alert,
            })
            .collect())
    }

    async fn record_dispatch(&self, dispatch: &Dispatch) -> Result<Recorded<Dispatch>, PortError> {
        let key = Dispatch::ledger_key(&dispatch.alert_id, dispatch.planned_at);
        self.create("record dispatch", key, dispatch).await
    }

    async fn dispatches_since(&self, since: i64) -> Result<Vec<Dispatch>, PortError> {
        let mut all: Vec<Dispatch> = self
            .read_since("read dispatches", DISPATCHES_PREFIX, since)
            .await?;
        all.retain(|d| d.planned_at >= since);
        all.sort_by(|a, b| {
            (a.dispatched_at, &a.dispatch_id).cmp(&(b.dispatched_at, &b.dispatch_id))
        });
        Ok(all)
    }

    async fn record_delivery(&self, delivery: &Delivery) -> Result<Recorded<Delivery>, PortError> {
        let key = Delivery::ledger_key(&delivery.alert_id, delivery.planned_at);
        self.create("record delivery", key, delivery).await
    }
}
