//! Helpers of the dispatcher tests: the embedded queue and ledger in a temporary folder, the
//! shipped fleet, and the checks every test makes of what was dispatched.
#![allow(dead_code)] // each test binary uses its own share of them

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use store_local::{DataDir, FolderLedger, QueueConfig, SqliteAlertQueue};
use store_model::contract::alert;
use store_model::ports::{AlertQueue, Ledger};
use store_model::routing::RoutingOptions;
use store_model::{Alert, Dispatch};
use store_model::{ConfigFile, Fleet, Stores};
use store_truck_app::Dispatcher;
use tempfile::TempDir;

pub const VISIBILITY: Duration = Duration::from_millis(400);

pub fn open(dir: &TempDir) -> (SqliteAlertQueue, FolderLedger) {
    open_with(dir, 5)
}

/// The embedded queue and ledger in `dir`, dead-lettering after `max_receive_count` receives.
pub fn open_with(dir: &TempDir, max_receive_count: u32) -> (SqliteAlertQueue, FolderLedger) {
    let data = DataDir::new(dir.path());
    let queue = SqliteAlertQueue::open(
        &data.queue_path(),
        QueueConfig {
            visibility_timeout: VISIBILITY,
            max_receive_count,
            ..QueueConfig::default()
        },
    )
    .unwrap();
    (queue, FolderLedger::new(data.lake().unwrap()))
}

pub const T0: i64 = 1_764_000_100;

pub fn dispatcher(queue: Arc<dyn AlertQueue>, ledger: Arc<dyn Ledger>) -> Dispatcher {
    dispatcher_at(queue, ledger, Arc::new(AtomicI64::new(T0)))
}

/// A dispatcher whose clock the test moves.
pub fn dispatcher_at(
    queue: Arc<dyn AlertQueue>,
    ledger: Arc<dyn Ledger>,
    now: Arc<AtomicI64>,
) -> Dispatcher {
    Dispatcher {
        queue,
        ledger,
        fleet: Fleet::shipped(),
        stores: Stores::shipped(),
        routing: RoutingOptions::default(),
        wait: Duration::from_secs(1),
        batch_window: Duration::from_millis(300),
        time_scale: 1.0,
        clock: Arc::new(move || now.load(Ordering::SeqCst)),
    }
}

/// `n` alerts of `qty` units each.
pub fn alerts_of(n: usize, qty: i64) -> Vec<Alert> {
    (0..n)
        .map(|i| {
            let mut a = alert(i, 1_764_000_000);
            a.restock_qty = qty;
            a
        })
        .collect()
}

/// Every one of `alerts` alerts of `qty` units is carried in full, and no piece twice.
pub fn assert_each_unit_carried_once(all: &[Dispatch], alerts: usize, qty: i64) {
    let mut per_alert: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for x in all {
        assert!(
            ids.insert(x.dispatch_id.as_str()),
            "{} twice",
            x.dispatch_id
        );
        *per_alert.entry(x.alert_id.as_str()).or_default() += x.quantity;
    }
    assert_eq!(per_alert.len(), alerts, "every alert is dispatched");
    assert!(per_alert.values().all(|&q| q == qty), "{per_alert:?}");
}

/// Each truck's trips, by departure: each leaves after the previous one is back. Returns the
/// number of trips.
pub fn assert_no_truck_on_two_trips(all: &[Dispatch]) -> usize {
    let mut trips: std::collections::BTreeMap<(&str, i64), i64> = std::collections::BTreeMap::new();
    for x in all {
        trips.insert((x.truck_id.as_str(), x.dispatched_at), x.truck_back_at);
    }
    let trips: Vec<_> = trips.into_iter().collect();
    for w in trips.windows(2) {
        let (((t1, _), back1), ((t2, left2), _)) = (w[0], w[1]);
        assert!(
            t1 != t2 || left2 >= back1,
            "{t1} left at {left2} before it was back at {back1}"
        );
    }
    trips.len()
}

/// Moves the clock past the return of every truck that has been dispatched (never back).
pub async fn advance_past_every_trip(ledger: &dyn Ledger, now: &AtomicI64) {
    let t = now.load(Ordering::SeqCst);
    let dispatches = ledger.dispatches_since(0).await.unwrap();
    let back = dispatches
        .iter()
        .map(|x| x.truck_back_at)
        .max()
        .unwrap_or(t);
    now.store(back.max(t) + 1, Ordering::SeqCst);
}
