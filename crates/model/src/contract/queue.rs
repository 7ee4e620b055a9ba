//! Alert queue cases.

use std::time::{Duration, Instant};

use super::alert;
use crate::planning::Alert;
use crate::ports::AlertQueue;

/// Alert queue: sent alerts come back in batches of at most ten and are gone once deleted.
pub async fn queue_delivers_batches_and_deletes(queue: &dyn AlertQueue) {
    let sent: Vec<Alert> = (0..25).map(|n| alert(n, 1_764_000_000)).collect();
    queue.send(&sent).await.expect("send");
    let mut got = Vec::new();
    while got.len() < 25 {
        let batch = queue
            .receive(10, Duration::from_secs(1))
            .await
            .expect("receive");
        assert!(
            !batch.is_empty(),
            "all 25 alerts come back, got {}",
            got.len()
        );
        assert!(batch.len() <= 10);
        let handles: Vec<String> = batch.iter().map(|m| m.receipt_handle.clone()).collect();
        got.extend(batch);
        queue.delete(&handles).await.expect("delete");
    }
    let mut bodies: Vec<Alert> = got
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("bodies are alerts"))
        .collect();
    bodies.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
    assert_eq!(bodies, sent, "every alert arrives once, unchanged");
    assert!(got.iter().all(|m| m.receive_count == 1));
    let empty = queue
        .receive(10, Duration::from_millis(200))
        .await
        .expect("receive");
    assert!(empty.is_empty(), "deleted messages do not come back");
}

/// Alert queue: receives of more than ten messages are refused.
pub async fn queue_refuses_oversized_receives(queue: &dyn AlertQueue) {
    assert!(queue.receive(11, Duration::ZERO).await.is_err());
    assert!(queue.receive(0, Duration::ZERO).await.is_err());
}

/// Alert queue: a message received and not deleted returns after its visibility timeout, with
/// a higher receive count. `visibility` is the queue's configured timeout.
pub async fn queue_redelivers_after_visibility_timeout(
    queue: &dyn AlertQueue,
    visibility: Duration,
) {
    queue.send(&[alert(1, 1)]).await.expect("send");
    let first = queue
        .receive(1, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(first.len(), 1);
    let hidden = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert!(
        hidden.is_empty(),
        "a received message is invisible to others"
    );
    tokio::time::sleep(visibility + Duration::from_millis(300)).await;
    let again = queue.receive(1, visibility).await.expect("receive");
    assert_eq!(
        again.len(),
        1,
        "the message comes back after the visibility timeout"
    );
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(
        again[0].receipt_handle, first[0].receipt_handle,
        "each receipt has its own handle"
    );
    queue
        .delete(std::slice::from_ref(&again[0].receipt_handle))
        .await
        .expect("delete");
}

/// Alert queue: a long poll waits for the given time when the queue is empty.
pub async fn queue_long_polls(queue: &dyn AlertQueue) {
    let start = Instant::now();
    let got = queue
        .receive(10, Duration::from_secs(1))
        .await
        .expect("receive");
    assert!(got.is_empty());
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "receive waited {:?}",
        start.elapsed()
    );
}

/// Alert queue: a message can be moved to the dead-letter queue explicitly, and an extended
/// visibility keeps a message hidden.
pub async fn queue_dead_letters_and_extends_visibility(queue: &dyn AlertQueue) {
    let before = queue.depth().await.expect("depth").dead;
    queue.send(&[alert(2, 1), alert(3, 1)]).await.expect("send");
    let got = queue
        .receive(2, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(got.len(), 2);
    queue
        .dead_letter(&got[0], "not an alert")
        .await
        .expect("dead-letter");
    queue
        .extend_visibility(&got[1].receipt_handle, Duration::from_secs(30))
        .await
        .expect("extend visibility");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(
        depth.dead,
        before + 1,
        "the message is in the dead-letter queue"
    );
    assert_eq!(depth.visible, 0);
    queue
        .delete(std::slice::from_ref(&got[1].receipt_handle))
        .await
        .expect("delete");
}

/// Alert queue: a message received `max_receives` times without being deleted ends up in the
/// dead-letter queue instead of coming back forever.
pub async fn queue_moves_poison_messages_to_dead_letters(
    queue: &dyn AlertQueue,
    visibility: Duration,
    max_receives: u32,
) {
    let before = queue.depth().await.expect("depth").dead;
    queue.send(&[alert(4, 1)]).await.expect("send");
    for n in 1..=max_receives {
        let got = queue.receive(1, visibility * 3).await.expect("receive");
        assert_eq!(got.len(), 1, "receive {n} gets the message");
        assert_eq!(got[0].receive_count, n);
        tokio::time::sleep(visibility + Duration::from_millis(300)).await;
    }
    let after = queue
        .receive(1, Duration::from_millis(500))
        .await
        .expect("receive");
    assert!(after.is_empty(), "a poison message does not come back");
    let mut dead = 0;
    for _ in 0..20 {
        dead = queue.depth().await.expect("depth").dead;
        if dead > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        dead,
        before + 1,
        "the poison message is in the dead-letter queue"
    );
}
