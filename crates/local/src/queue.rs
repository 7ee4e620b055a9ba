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
use store_model::ports::{AlertQueue, ErrorKind, PortError, QueueDepth, QueueMessage};
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
        .map_err(|e| db_error("create queue", e))
        .and_then(|()| match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(PortError::permanent(
                "create queue",
                format!("cannot create {}", path.display()),
                e,
            )),
        });
    let _ = std::fs::remove_file(&tmp);
    created
}

/// Opens the queue file at `path`, which holds the queue's tables, for this process.
fn open_connection(path: &Path) -> Result<Connection, Failure> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // A queue file exists only with its tables (it is created whole): one without them was
    // emptied or damaged, and taking it for an empty queue would lose its messages silently.
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('messages', 'dead_letters')",
            [],
            |row| row.get(0),
        )?;
    if tables != 2 {
        return Err(Failure::Port(PortError::new(
            ErrorKind::Permanent,
            "open queue",
            format!(
                "{} exists but holds no queue (it was emptied or damaged), so the messages it held are gone; \
                 the planner can send the alerts still outstanding again (`store-planning-app resend-outstanding`), \
                 after the file is moved away (a new queue is created in its place)",
                path.display()
            ),
        )));
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn db_error(operation: &'static str, e: rusqlite::Error) -> PortError {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    if busy {
        PortError::transient(operation, "the queue database is busy; retry", e)
    } else {
        PortError::permanent(operation, "queue database error", e)
    }
}

/// Why a queue operation failed: the database, or the operation's own verdict. The work of an
/// operation returns this, and [`Failure::into_port`] names the operation once.
enum Failure {
    Db(rusqlite::Error),
    Port(PortError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e)
    }
}

impl From<PortError> for Failure {
    fn from(e: PortError) -> Self {
        Self::Port(e)
    }
}

impl Failure {
    fn into_port(self, operation: &'static str) -> PortError {
        match self {
            Self::Db(e) => db_error(operation, e),
            Self::Port(e) => e,
        }
    }
}

impl SqliteAlertQueue {
    /// Opens (or creates) the queue database at `path`.
    pub fn open(path: &Path, config: QueueConfig) -> Result<Self, PortError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                PortError::permanent("open queue", format!("cannot create {}", dir.display()), e)
            })?;
        }
        if !path.exists() {
            create_queue_file(path)?;
        }
        let conn = open_connection(path).map_err(|e| e.into_port("open queue"))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            config,
        })
    }

    /// Runs blocking database work off the async runtime.
    async fn with_conn<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, PortError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|e| PortError::permanent(operation, "queue task failed", e))?
        .map_err(|e| e.into_port(operation))
    }

    /// Sends raw bodies (the port sends alerts; tests and tools may send anything).
    pub async fn send_bodies(&self, bodies: Vec<String>) -> Result<Vec<String>, PortError> {
        if let Some(b) = bodies.iter().find(|b| b.len() > MAX_MESSAGE_BYTES) {
            return Err(PortError::new(
                ErrorKind::Permanent,
                "send alerts",
                format!(
                    "a message of {} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit",
                    b.len()
                ),
            ));
        }
        self.with_conn("send alerts", move |conn| {
            let mut ids = Vec::with_capacity(bodies.len());
            for chunk in bodies.chunks(MESSAGES_PER_CALL) {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = now_ms();
                {
                    let mut insert = tx
                        .prepare_cached(
                            "INSERT INTO messages (message_id, body, sent_at_ms, visible_at_ms) VALUES (?1, ?2, ?3, ?3)",
                        )?;
                    for body in chunk {
                        let id = Uuid::new_v4().to_string();
                        insert
                            .execute(params![id, body, now])?;
                        ids.push(id);
                    }
                }
                tx.commit()?;
            }
            Ok(ids)
        })
        .await
    }

    fn try_receive(
        conn: &mut Connection,
        max: usize,
        config: &QueueConfig,
    ) -> Result<Vec<QueueMessage>, Failure> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        let max_receives = i64::from(config.max_receive_count);
        tx.execute(
            "INSERT OR REPLACE INTO dead_letters (message_id, body, receive_count, reason, sent_at_ms, moved_at_ms)
             SELECT message_id, body, receive_count,
                    'received ' || receive_count || ' times without being deleted', sent_at_ms, ?1
             FROM messages INDEXED BY messages_by_receive_count
             WHERE receive_count >= ?2 AND visible_at_ms <= ?1",
            params![now, max_receives],
        )?;
        tx.execute(
            "DELETE FROM messages INDEXED BY messages_by_receive_count
             WHERE receive_count >= ?2 AND visible_at_ms <= ?1",
            params![now, max_receives],
        )?;
        let candidates: Vec<(i64, String, String, u32)> = {
            let mut stmt = tx
                // In send order (the rowid), skipping what is in flight: this stops after `max`
                // rows instead of sorting every visible message.
                .prepare_cached("SELECT seq, message_id, body, receive_count FROM messages NOT INDEXED WHERE visible_at_ms <= ?1 ORDER BY seq LIMIT ?2")?;
            stmt.query_map(params![now, max as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let visible_at = now + config.visibility_timeout.as_millis() as i64;
        let mut out = Vec::with_capacity(candidates.len());
        for (seq, message_id, body, count) in candidates {
            let handle = Uuid::new_v4().simple().to_string();
            tx.prepare_cached(
                "UPDATE messages SET receipt_handle = ?1, receive_count = receive_count + 1, visible_at_ms = ?2 WHERE seq = ?3",
            )
            .and_then(|mut stmt| stmt.execute(params![handle, visible_at, seq]))?;
            out.push(QueueMessage {
                message_id,
                receipt_handle: handle,
                body,
                receive_count: count + 1,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// The dead-letter table's messages, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, PortError> {
        self.with_conn("list dead letters", |conn| {
            let mut stmt = conn
                .prepare("SELECT message_id, body, receive_count, reason FROM dead_letters ORDER BY moved_at_ms, message_id")?;
            stmt.query_map([], |row| {
                Ok(DeadLetter {
                    message_id: row.get(0)?,
                    body: row.get(1)?,
                    receive_count: row.get(2)?,
                    reason: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()
            .map_err(Failure::from)
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
                    PortError::permanent("send alerts", "could not encode an alert", e)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.send_bodies(bodies).await.map(drop)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        if !(1..=MESSAGES_PER_CALL).contains(&max) {
            return Err(PortError::new(
                ErrorKind::Permanent,
                "receive alerts",
                format!("can receive 1 to {MESSAGES_PER_CALL} messages at a time, asked for {max}"),
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
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                {
                    let mut delete =
                        tx.prepare_cached("DELETE FROM messages WHERE receipt_handle = ?1")?;
                    for handle in chunk {
                        // Like SQS, deleting with a stale handle is not an error: the work is done.
                        delete.execute(params![handle])?;
                    }
                }
                tx.commit()?;
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
                )?;
            if n == 0 {
                return Err(PortError::new(ErrorKind::Permanent, "change visibility", "the receipt handle is no longer valid (the message was deleted or received again)").into());
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
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let moved = tx
                .execute(
                    "INSERT OR REPLACE INTO dead_letters (message_id, body, receive_count, reason, sent_at_ms, moved_at_ms)
                     SELECT message_id, body, receive_count, ?2, sent_at_ms, ?3 FROM messages WHERE receipt_handle = ?1",
                    params![handle, reason, now_ms()],
                )?;
            if moved == 0 {
                return Err(PortError::new(ErrorKind::Permanent, "dead-letter alert", "the receipt handle is no longer valid").into());
            }
            tx.execute("DELETE FROM messages WHERE receipt_handle = ?1", params![handle])?;
            Ok(tx.commit()?)
        })
        .await
    }

    async fn depth(&self) -> Result<QueueDepth, PortError> {
        self.with_conn("queue depth", |conn| {
            let now = now_ms();
            let count = |sql: &str| -> Result<u64, Failure> {
                conn.query_row(sql, params![now], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|n| n.unwrap_or(0) as u64)
                    .map_err(Failure::from)
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
