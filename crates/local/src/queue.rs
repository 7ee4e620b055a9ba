//! The embedded alert queue: SQLite with the semantics of an SQS standard queue.
//!
//! - A received message becomes invisible for the visibility timeout and gets a fresh receipt
//!   handle; it is only gone once deleted with that handle. If the consumer dies, the message
//!   becomes visible again: at-least-once delivery.
//! - Every receipt increments the receive count; a message received `max_receive_count` times
//!   without being deleted is moved to the dead-letter table on the next receive attempt (SQS's
//!   redrive policy). A consumer can also dead-letter a message at once, with a reason.
//! - Receives long-poll: they wait up to the given time for a first message.
//!
//! The database runs in WAL mode and every operation is one `IMMEDIATE` transaction, so several
//! processes (say, two truck apps) can share the queue safely.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use store_model::Alert;
use store_model::ports::{AlertQueue, PortError, QueueDepth, QueueMessage};
use store_model::ports::{MAX_MESSAGE_BYTES, MESSAGES_PER_CALL};
use uuid::Uuid;

/// Queue attributes, as an SQS queue and its redrive policy have them.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// How long a received message stays invisible.
    pub visibility_timeout: Duration,
    /// Receives after which an undeleted message goes to the dead-letter table.
    pub max_receive_count: u32,
    /// How often a long poll looks again.
    pub poll_interval: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: 5,
            poll_interval: Duration::from_millis(50),
        }
    }
}

/// A message in the dead-letter table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The original message id.
    pub message_id: String,
    /// The original body.
    pub body: String,
    /// Receives before it was moved.
    pub receive_count: u32,
    /// Why it was moved.
    pub reason: String,
}

/// The embedded [`AlertQueue`].
#[derive(Clone)]
pub struct SqliteAlertQueue {
    conn: Arc<Mutex<Connection>>,
    config: QueueConfig,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id     TEXT NOT NULL UNIQUE,
    body           TEXT NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    visible_at_ms  INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    receipt_handle TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (visible_at_ms, seq);
-- The dead-letter sweep looks only at messages received too often: usually none.
CREATE INDEX IF NOT EXISTS messages_by_receive_count ON messages (receive_count, visible_at_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
    message_id    TEXT PRIMARY KEY,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    sent_at_ms    INTEGER NOT NULL,
    moved_at_ms   INTEGER NOT NULL
);
";

/// Creates a queue file whole: the tables in a temporary file, then a hard link to `path`, so a
/// file at `path` always holds them. Linking fails if the file exists: of two processes
/// creating it at once, one creates it and the other opens that one.
fn create_queue_file(path: &Path) -> Result<(), PortError> {
    let name = path
        .file_name()
        .map_or_else(|| "alerts.db".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let created = Connection::open(&tmp)
        .and_then(|conn| conn.execute_batch(SCHEMA).map(|()| conn))
        .and_then(|conn| conn.close().map_err(|(_, e)| e))
        .map_err(db_error("create queue"))
        .and_then(|()| match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(PortError::permanent(
                "create queue",
                format!("cannot create {}", path.display()),
                Some(Box::new(e)),
            )),
        });
    let _ = std::fs::remove_file(&tmp);
    created
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn db_error(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> PortError {
    move |e| {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            PortError::transient(operation, "the queue database is busy; retry", e)
        } else {
            PortError::permanent(operation, "queue database error", Some(Box::new(e)))
        }
    }
}

impl SqliteAlertQueue {
    /// Opens (or creates) the queue database at `path`.
    pub fn open(path: &Path, config: QueueConfig) -> Result<Self, PortError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                PortError::permanent(
                    "open queue",
                    format!("cannot create {}", dir.display()),
                    Some(Box::new(e)),
                )
            })?;
        }
        if !path.exists() {
            create_queue_file(path)?;
        }
        let conn = Connection::open(path).map_err(db_error("open queue"))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(db_error("open queue"))?;
        // A queue file exists only with its tables (it is created whole): one without them was
        // emptied or damaged, and taking it for an empty queue would lose its messages silently.
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('messages', 'dead_letters')",
                [],
                |row| row.get(0),
            )
            .map_err(db_error("open queue"))?;
        if tables != 2 {
            return Err(PortError::permanent(
                "open queue",
                format!(
                    "{} exists but holds no queue (it was emptied or damaged), so the messages it held are gone; \
                     the planner can send the alerts still outstanding again (`store-planning-app resend-outstanding`), \
                     after the file is moved away (a new queue is created in its place)",
                    path.display()
                ),
                None,
            ));
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error("open queue"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_error("open queue"))?;
        conn.execute_batch(SCHEMA).map_err(db_error("open queue"))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            config,
        })
    }

    /// Runs blocking database work off the async runtime.
    async fn with_conn<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T, PortError> + Send + 'static,
    ) -> Result<T, PortError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|e| PortError::permanent(operation, "queue task failed", Some(Box::new(e))))?
    }

    /// Sends raw bodies (the port sends alerts; tests and tools may send anything).
    pub async fn send_bodies(&self, bodies: Vec<String>) -> Result<Vec<String>, PortError> {
        if let Some(b) = bodies.iter().find(|b| b.len() > MAX_MESSAGE_BYTES) {
            return Err(PortError::permanent(
                "send alerts",
                format!(
                    "a message of {} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit",
                    b.len()
                ),
                None,
            ));
        }
        self.with_conn("send alerts", move |conn| {
            let mut ids = Vec::with_capacity(bodies.len());
            for chunk in bodies.chunks(MESSAGES_PER_CALL) {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db_error("send alerts"))?;
                let now = now_ms();
                {
                    let mut insert = tx
                        .prepare_cached(
                            "INSERT INTO messages (message_id, body, sent_at_ms, visible_at_ms) VALUES (?1, ?2, ?3, ?3)",
                        )
                        .map_err(db_error("send alerts"))?;
                    for body in chunk {
                        let id = Uuid::new_v4().to_string();
                        insert
                            .execute(params![id, body, now])
                            .map_err(db_error("send alerts"))?;
                        ids.push(id);
                    }
                }
                tx.commit().map_err(db_error("send alerts"))?;
            }
            Ok(ids)
        })
        .await
    }

    fn try_receive(
        conn: &mut Connection,
        max: usize,
        config: &QueueConfig,
    ) -> Result<Vec<QueueMessage>, PortError> {
        let err = db_error("receive alerts");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let now = now_ms();
        let max_receives = i64::from(config.max_receive_count);
        tx.execute(
            "INSERT OR REPLACE INTO dead_letters (message_id, body, receive_count, reason, sent_at_ms, moved_at_ms)
             SELECT message_id, body, receive_count,
                    'received ' || receive_count || ' times without being deleted', sent_at_ms, ?1
             FROM messages INDEXED BY messages_by_receive_count
             WHERE receive_count >= ?2 AND visible_at_ms <= ?1",
            params![now, max_receives],
        )
        .map_err(db_error("receive alerts"))?;
        tx.execute(
            "DELETE FROM messages INDEXED BY messages_by_receive_count
             WHERE receive_count >= ?2 AND visible_at_ms <= ?1",
            params![now, max_receives],
        )
        .map_err(db_error("receive alerts"))?;
        let candidates: Vec<(i64, String, String, u32)> = {
            let mut stmt = tx
                // In send order (the rowid), skipping what is in flight: this stops after `max`
                // rows instead of sorting every visible message.
                .prepare_cached("SELECT seq, message_id, body, receive_count FROM messages NOT INDEXED WHERE visible_at_ms <= ?1 ORDER BY seq LIMIT ?2")
                .map_err(db_error("receive alerts"))?;
            stmt.query_map(params![now, max as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(db_error("receive alerts"))?
            .collect::<Result<_, _>>()
            .map_err(db_error("receive alerts"))?
        };
        let visible_at = now + config.visibility_timeout.as_millis() as i64;
        let mut out = Vec::with_capacity(candidates.len());
        for (seq, message_id, body, count) in candidates {
            let handle = Uuid::new_v4().simple().to_string();
            tx.prepare_cached(
                "UPDATE messages SET receipt_handle = ?1, receive_count = receive_count + 1, visible_at_ms = ?2 WHERE seq = ?3",
            )
            .and_then(|mut stmt| stmt.execute(params![handle, visible_at, seq]))
            .map_err(db_error("receive alerts"))?;
            out.push(QueueMessage {
                message_id,
                receipt_handle: handle,
                body,
                receive_count: count + 1,
            });
        }
        tx.commit().map_err(db_error("receive alerts"))?;
        Ok(out)
    }

    /// The dead-letter table's messages, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, PortError> {
        self.with_conn("list dead letters", |conn| {
            let mut stmt = conn
                .prepare("SELECT message_id, body, receive_count, reason FROM dead_letters ORDER BY moved_at_ms, message_id")
                .map_err(db_error("list dead letters"))?;
            stmt.query_map([], |row| {
                Ok(DeadLetter {
                    message_id: row.get(0)?,
                    body: row.get(1)?,
                    receive_count: row.get(2)?,
                    reason: row.get(3)?,
                })
            })
            .map_err(db_error("list dead letters"))?
            .collect::<Result<_, _>>()
            .map_err(db_error("list dead letters"))
        })
        .await
    }
}

#[async_trait]
impl AlertQueue for SqliteAlertQueue {
    async fn send(&self, alerts: &[Alert]) -> Result<(), PortError> {
        let bodies = alerts
            .iter()
            .map(|a| {
                serde_json::to_string(a).map_err(|e| {
                    PortError::permanent(
                        "send alerts",
                        "could not encode an alert",
                        Some(Box::new(e)),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.send_bodies(bodies).await.map(drop)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        if !(1..=MESSAGES_PER_CALL).contains(&max) {
            return Err(PortError::permanent(
                "receive alerts",
                format!("can receive 1 to {MESSAGES_PER_CALL} messages at a time, asked for {max}"),
                None,
            ));
        }
        let deadline = Instant::now() + wait;
        loop {
            let config = self.config.clone();
            let got = self
                .with_conn("receive alerts", move |conn| {
                    Self::try_receive(conn, max, &config)
                })
                .await?;
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(self.config.poll_interval.min(left)).await;
        }
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<(), PortError> {
        let handles = receipt_handles.to_vec();
        self.with_conn("delete alerts", move |conn| {
            for chunk in handles.chunks(MESSAGES_PER_CALL) {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db_error("delete alerts"))?;
                {
                    let mut delete = tx
                        .prepare_cached("DELETE FROM messages WHERE receipt_handle = ?1")
                        .map_err(db_error("delete alerts"))?;
                    for handle in chunk {
                        // Like SQS, deleting with a stale handle is not an error: the work is done.
                        delete
                            .execute(params![handle])
                            .map_err(db_error("delete alerts"))?;
                    }
                }
                tx.commit().map_err(db_error("delete alerts"))?;
            }
            Ok(())
        })
        .await
    }

    async fn extend_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), PortError> {
        let handle = receipt_handle.to_owned();
        self.with_conn("change visibility", move |conn| {
            let n = conn
                .execute(
                    "UPDATE messages SET visible_at_ms = ?1 WHERE receipt_handle = ?2",
                    params![now_ms() + timeout.as_millis() as i64, handle],
                )
                .map_err(db_error("change visibility"))?;
            if n == 0 {
                return Err(PortError::permanent(
                    "change visibility",
                    "the receipt handle is no longer valid (the message was deleted or received again)",
                    None,
                ));
            }
            Ok(())
        })
        .await
    }

    async fn dead_letter(&self, message: &QueueMessage, reason: &str) -> Result<(), PortError> {
        let handle = message.receipt_handle.clone();
        let reason = reason.to_owned();
        self.with_conn("dead-letter alert", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_error("dead-letter alert"))?;
            let moved = tx
                .execute(
                    "INSERT OR REPLACE INTO dead_letters (message_id, body, receive_count, reason, sent_at_ms, moved_at_ms)
                     SELECT message_id, body, receive_count, ?2, sent_at_ms, ?3 FROM messages WHERE receipt_handle = ?1",
                    params![handle, reason, now_ms()],
                )
                .map_err(db_error("dead-letter alert"))?;
            if moved == 0 {
                return Err(PortError::permanent(
                    "dead-letter alert",
                    "the receipt handle is no longer valid",
                    None,
                ));
            }
            tx.execute("DELETE FROM messages WHERE receipt_handle = ?1", params![handle])
                .map_err(db_error("dead-letter alert"))?;
            tx.commit().map_err(db_error("dead-letter alert"))
        })
        .await
    }

    async fn depth(&self) -> Result<QueueDepth, PortError> {
        self.with_conn("queue depth", |conn| {
            let now = now_ms();
            let count = |sql: &str| -> Result<u64, PortError> {
                conn.query_row(sql, params![now], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|n| n.unwrap_or(0) as u64)
                    .map_err(db_error("queue depth"))
            };
            Ok(QueueDepth {
                visible: count("SELECT count(*) FROM messages WHERE visible_at_ms <= ?1")?,
                in_flight: count("SELECT count(*) FROM messages WHERE visible_at_ms > ?1")?,
                dead: count("SELECT count(*) FROM dead_letters WHERE ?1 IS NOT NULL")?,
            })
        })
        .await
    }
}
