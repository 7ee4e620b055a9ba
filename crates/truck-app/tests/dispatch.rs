//! The dispatcher against the embedded queue and ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use store_local::{DataDir, FolderLedger, QueueConfig, SqliteAlertQueue};
use store_model::Alert;
use store_model::contract::alert;
use store_model::dispatch::default_fleet;
use store_model::ports::{AlertQueue, Ledger, PortError, QueueDepth, QueueMessage};
use store_truck_app::{Dispatcher, ExecutionOutcome};
use tempfile::TempDir;

const VISIBILITY: Duration = Duration::from_millis(400);

fn open(dir: &TempDir) -> (SqliteAlertQueue, FolderLedger) {
    let data = DataDir::new(dir.path());
    let queue = SqliteAlertQueue::open(
        &data.queue_path(),
        QueueConfig {
            visibility_timeout: VISIBILITY,
            max_receive_count: 5,
            ..QueueConfig::default()
        },
    )
    .unwrap();
    (queue, FolderLedger::new(data.lake().unwrap()))
}

fn dispatcher(queue: Arc<dyn AlertQueue>, ledger: Arc<dyn Ledger>) -> Dispatcher {
    Dispatcher {
        queue,
        ledger,
        fleet: default_fleet(),
        wait: Duration::from_secs(1),
        clock: Arc::new(|| 1_764_000_100),
    }
}

/// A queue whose process "dies" at the delete: everything before it happened, the delete did not.
struct DiesBeforeDelete {
    inner: SqliteAlertQueue,
    died: AtomicBool,
}

#[async_trait]
impl AlertQueue for DiesBeforeDelete {
    async fn send(&self, alerts: &[Alert]) -> Result<(), PortError> {
        self.inner.send(alerts).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, _: &[String]) -> Result<(), PortError> {
        self.died.store(true, Ordering::SeqCst);
        Err(PortError::permanent(
            "delete alerts",
            "process killed",
            None,
        ))
    }
    async fn extend_visibility(&self, h: &str, t: Duration) -> Result<(), PortError> {
        self.inner.extend_visibility(h, t).await
    }
    async fn dead_letter(&self, m: &QueueMessage, r: &str) -> Result<(), PortError> {
        self.inner.dead_letter(m, r).await
    }
    async fn depth(&self) -> Result<QueueDepth, PortError> {
        self.inner.depth().await
    }
}

#[tokio::test]
async fn a_crash_after_recording_but_before_deleting_does_not_dispatch_twice() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let alerts: Vec<Alert> = (0..3).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&alerts).await.unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);

    // First run: dispatches are recorded, then the process dies before the delete.
    let dying = Arc::new(DiesBeforeDelete {
        inner: queue.clone(),
        died: AtomicBool::new(false),
    });
    let first = dispatcher(dying.clone(), ledger.clone())
        .try_execute_task()
        .await;
    assert!(first.is_err() && dying.died.load(Ordering::SeqCst));
    assert_eq!(ledger.dispatches_since(0).await.unwrap().len(), 3);

    // Restart: the messages come back after their visibility timeout and are recognised.
    tokio::time::sleep(VISIBILITY + Duration::from_millis(200)).await;
    let restarted = dispatcher(Arc::new(queue.clone()), ledger.clone());
    let ExecutionOutcome::TaskCompleted(report) = restarted.try_execute_task().await.unwrap()
    else {
        panic!("the undeleted alerts must come back");
    };
    assert_eq!(report.duplicates, 3, "each redelivered alert is recognised");
    assert!(report.dispatched.is_empty(), "no second truck is sent");
    assert_eq!(ledger.dispatches_since(0).await.unwrap().len(), 3);
    assert_eq!(
        queue.depth().await.unwrap(),
        QueueDepth::default(),
        "the redeliveries are deleted"
    );
}

#[tokio::test]
async fn alerts_are_dispatched_recorded_and_deleted() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    let alerts: Vec<Alert> = (0..12).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&alerts).await.unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let d = dispatcher(Arc::new(queue.clone()), ledger.clone());
    let mut dispatched = Vec::new();
    while let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() {
        assert!(r.dispatched.len() <= 10);
        dispatched.extend(r.dispatched);
    }
    assert_eq!(dispatched.len(), 12);
    let recorded = ledger.dispatches_since(0).await.unwrap();
    assert_eq!(recorded.len(), 12);
    for a in &alerts {
        let d = recorded
            .iter()
            .find(|d| d.alert_id == a.alert_id)
            .expect("every alert has its dispatch");
        assert_eq!(
            (d.store_id.as_str(), d.quantity),
            (a.store_id.as_str(), a.restock_qty)
        );
    }
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
}

#[tokio::test]
async fn messages_that_are_not_alerts_go_to_dead_letters_with_the_reason() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    // Garbage, and the seed's own three-key message, which lacks what a dispatch needs.
    queue
        .send_bodies(vec![
            "not json".into(),
            r#"{"store_id":"STORE_4","product_name":"Bánh mì","alert":"Stock low"}"#.into(),
        ])
        .await
        .unwrap();
    queue.send(&[alert(1, 1_764_000_000)]).await.unwrap();
    let d = dispatcher(Arc::new(queue.clone()), Arc::new(ledger));
    let ExecutionOutcome::TaskCompleted(r) = d.try_execute_task().await.unwrap() else {
        panic!("there is work")
    };
    assert_eq!((r.dispatched.len(), r.dead_lettered), (1, 2));
    let dead = queue.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead.iter()
            .all(|m| m.reason.starts_with("not a restock alert")),
        "{dead:?}"
    );
    assert!(
        dead.iter().any(|m| m.reason.contains("missing field")),
        "{dead:?}"
    );
    assert_eq!(
        d.try_execute_task().await.unwrap(),
        ExecutionOutcome::EmptyQueue
    );
}

#[tokio::test]
async fn the_watch_loop_stops_on_shutdown() {
    let dir = TempDir::new().unwrap();
    let (queue, ledger) = open(&dir);
    queue
        .send(&[alert(1, 1_764_000_000), alert(2, 1_764_000_000)])
        .await
        .unwrap();
    let d = dispatcher(Arc::new(queue), Arc::new(ledger));
    let mut seen = 0;
    d.run_until(tokio::time::sleep(Duration::from_millis(1500)), |r| {
        seen += r.dispatched.len()
    })
    .await;
    assert_eq!(seen, 2);
}
