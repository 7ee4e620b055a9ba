//! The alert queue on Amazon SQS: a standard queue with a redrive policy to a dead-letter queue.
//!
//! Sends go out as `SendMessageBatch` calls of at most ten entries and 256 KiB; entries the service
//! failed on its side are sent again with backoff, entries it refused as malformed are an error
//! naming them. Receives long-poll and ask for `ApproximateReceiveCount`, so the app sees how often
//! a message came back; SQS itself moves a message to the dead-letter queue after the redrive
//! policy's `maxReceiveCount`. Deletes go out in batches of ten, after the work is recorded.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use store_model::planning::Alert;
use store_model::ports::{AlertQueue, ErrorKind, PortError, QueueDepth, QueueMessage};
use store_model::ports::{MAX_MESSAGE_BYTES, MESSAGES_PER_CALL};
use tracing::{instrument, warn};

use crate::errors::{Permanent, sdk_error};
use crate::firehose::backoff;

/// Longest long poll SQS allows.
const MAX_WAIT: Duration = Duration::from_secs(20);
/// Attempts for batch entries that failed on the service's side.
const ENTRY_ATTEMPTS: u32 = 5;

/// The AWS [`AlertQueue`].
#[derive(Debug, Clone)]
pub struct SqsAlertQueue {
    client: Client,
    queue_url: String,
    dead_letter_queue_url: String,
}

/// SQS's errors that retrying cannot help.
const PERMANENT: Permanent = Permanent {
    codes: &[
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "InvalidParameterValue",
        "AccessDenied",
        "AccessDeniedException",
        "ReceiptHandleIsInvalid",
    ],
    statuses: &[],
};

fn entry_errors(operation: &'static str, failed: &[&BatchResultErrorEntry]) -> PortError {
    let detail: Vec<String> = failed
        .iter()
        .map(|f| {
            format!(
                "entry {}: {} {}",
                f.id(),
                f.code(),
                f.message().unwrap_or_default()
            )
        })
        .collect();
    let message = detail.join("; ");
    let kind = if failed.iter().any(|f| f.sender_fault()) {
        ErrorKind::Permanent
    } else {
        ErrorKind::Transient
    };
    PortError::new(kind, operation, message)
}

/// Rounds a wait up to whole seconds, as SQS counts them.
fn whole_seconds(d: Duration, max: Duration) -> i32 {
    let d = d.min(max);
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)) as i32
}

/// Splits bodies into batches of at most ten entries and 256 KiB.
fn batches(bodies: &[String]) -> Vec<Vec<(usize, &str)>> {
    let mut out: Vec<Vec<(usize, &str)>> = Vec::new();
    let mut bytes = 0;
    for (i, body) in bodies.iter().enumerate() {
        let fits = out.last().is_some_and(|b| {
            b.len() < MESSAGES_PER_CALL && bytes + body.len() <= MAX_MESSAGE_BYTES
        });
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += body.len();
        out.last_mut().expect("pushed above").push((i, body));
    }
    out
}

/// Runs one batch call until no entry fails, resending only the entries that failed on the
/// service's side (with backoff); an entry refused as malformed, or out of attempts, is an error.
/// `call` sends the given `(id, item)` entries and returns the failed ones.
async fn resend_failed_entries<T, F, Fut>(
    operation: &'static str,
    mut pending: Vec<(usize, T)>,
    mut call: F,
) -> Result<(), PortError>
where
    T: Clone,
    F: FnMut(Vec<(usize, T)>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<BatchResultErrorEntry>, PortError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failed = call(pending.clone()).await?;
        if failed.is_empty() {
            return Ok(());
        }
        let failed: Vec<&BatchResultErrorEntry> = failed.iter().collect();
        let error = entry_errors(operation, &failed);
        if !error.is_retryable() || attempt >= ENTRY_ATTEMPTS {
            return Err(error);
        }
        warn!(operation, failed = failed.len(), attempt, error = %error, "resending failed batch entries");
        let failed_ids: Vec<&str> = failed.iter().map(|f| f.id()).collect();
        pending.retain(|(i, _)| failed_ids.contains(&i.to_string().as_str()));
        tokio::time::sleep(backoff(
            Duration::from_millis(100),
            Duration::from_secs(2),
            attempt,
        ))
        .await;
    }
}

impl SqsAlertQueue {
    /// The queue at `queue_url`, with its dead-letter queue at `dead_letter_queue_url`.
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_queue_url: dead_letter_queue_url.into(),
        }
    }

    /// Sends raw bodies; only entries that failed on the service's side are sent again.
    pub async fn send_bodies(&self, bodies: &[String]) -> Result<(), PortError> {
        if let Some((i, b)) = bodies
            .iter()
            .enumerate()
            .find(|(_, b)| b.len() > MAX_MESSAGE_BYTES)
        {
            return Err(PortError::new(
                ErrorKind::Permanent,
                "send alerts",
                format!(
                    "message {i} is {} bytes; SQS takes at most {MAX_MESSAGE_BYTES}",
                    b.len()
                ),
            ));
        }
        for batch in batches(bodies) {
            resend_failed_entries("send alerts", batch, |pending| async move {
                let entries: Vec<SendMessageBatchRequestEntry> = pending
                    .iter()
                    .map(|(i, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(*body)
                            .build()
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| PortError::permanent("send alerts", "bad batch entry", e))?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sdk_error("send alerts", e, &PERMANENT))?;
                Ok(out.failed().to_vec())
            })
            .await?;
        }
        Ok(())
    }

    async fn approximate_counts(&self, url: &str) -> Result<(u64, u64), PortError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| sdk_error("queue depth", e, &PERMANENT))?;
        let get = |name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}

#[async_trait]
impl AlertQueue for SqsAlertQueue {
    #[instrument(skip_all, fields(alerts = alerts.len()), err)]
    async fn send(&self, alerts: &[Alert]) -> Result<(), PortError> {
        let bodies: Vec<String> = alerts
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()
            .map_err(|e| PortError::permanent("send alerts", "could not encode an alert", e))?;
        self.send_bodies(&bodies).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueMessage>, PortError> {
        if !(1..=MESSAGES_PER_CALL).contains(&max) {
            return Err(PortError::new(
                ErrorKind::Permanent,
                "receive alerts",
                format!("can receive 1 to {MESSAGES_PER_CALL} messages at a time, not {max}"),
            ));
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(whole_seconds(wait, MAX_WAIT))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error("receive alerts", e, &PERMANENT))?;
        out.messages()
            .iter()
            .map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                match (m.message_id(), m.receipt_handle()) {
                    (Some(id), Some(handle)) => Ok(QueueMessage {
                        message_id: id.to_owned(),
                        receipt_handle: handle.to_owned(),
                        body: m.body().unwrap_or_default().to_owned(),
                        receive_count,
                    }),
                    _ => Err(PortError::new(
                        ErrorKind::Permanent,
                        "receive alerts",
                        "SQS returned a message without an id or receipt handle",
                    )),
                }
            })
            .collect()
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<(), PortError> {
        for chunk in receipt_handles.chunks(MESSAGES_PER_CALL) {
            let batch: Vec<(usize, &String)> = chunk.iter().enumerate().collect();
            resend_failed_entries("delete alerts", batch, |pending| async move {
                let entries: Vec<DeleteMessageBatchRequestEntry> = pending
                    .iter()
                    .map(|(i, handle)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(handle.as_str())
                            .build()
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| PortError::permanent("delete alerts", "bad batch entry", e))?;
                let out = self
                    .client
                    .delete_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sdk_error("delete alerts", e, &PERMANENT))?;
                Ok(out.failed().to_vec())
            })
            .await?;
        }
        Ok(())
    }

    async fn extend_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), PortError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(whole_seconds(timeout, Duration::from_secs(12 * 3600)))
            .send()
            .await
            .map_err(|e| sdk_error("extend visibility", e, &PERMANENT))?;
        Ok(())
    }

    async fn dead_letter(&self, message: &QueueMessage, reason: &str) -> Result<(), PortError> {
        let text = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| PortError::permanent("dead-letter", "bad message attribute", e))
        };
        self.client
            .send_message()
            .queue_url(&self.dead_letter_queue_url)
            .message_body(&message.body)
            .message_attributes("reason", text(reason)?)
            .message_attributes("source_message_id", text(&message.message_id)?)
            .message_attributes("receive_count", text(&message.receive_count.to_string())?)
            .send()
            .await
            .map_err(|e| sdk_error("dead-letter", e, &PERMANENT))?;
        self.delete(std::slice::from_ref(&message.receipt_handle))
            .await
    }

    async fn depth(&self) -> Result<QueueDepth, PortError> {
        let (visible, in_flight) = self.approximate_counts(&self.queue_url).await?;
        let (dead, dead_in_flight) = self.approximate_counts(&self.dead_letter_queue_url).await?;
        Ok(QueueDepth {
            visible,
            in_flight,
            dead: dead + dead_in_flight,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib() {
        let small: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        let big: Vec<String> = (0..5).map(|_| "x".repeat(100 * 1024)).collect();
        let sizes: Vec<usize> = batches(&big).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        let indices: Vec<usize> = batches(&big).concat().iter().map(|(i, _)| *i).collect();
        assert_eq!(
            indices,
            vec![0, 1, 2, 3, 4],
            "every body is sent once, in order"
        );
    }

    #[test]
    fn waits_round_up_to_whole_seconds_within_the_limit() {
        assert_eq!(whole_seconds(Duration::ZERO, MAX_WAIT), 0);
        assert_eq!(whole_seconds(Duration::from_millis(200), MAX_WAIT), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2), MAX_WAIT), 2);
        assert_eq!(whole_seconds(Duration::from_secs(60), MAX_WAIT), 20);
    }
}
