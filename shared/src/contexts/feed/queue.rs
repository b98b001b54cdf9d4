//! Feed: the fan-out queue (`FeedFanoutQueue`), where the stream's fan-out step queues
//! one [`FeedDelivery`] per page of an audience for the feed worker to write in parallel.

use futures_util::StreamExt;

use super::*;

/// How many SendMessageBatch calls one [`DeliveryQueue::send`] keeps in flight.
const SEND_CONCURRENCY: usize = 4;

/// Attempts for the entries of a SendMessageBatch that SQS did not take.
const SEND_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot encode a delivery: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("sqs: {0}")]
    Sqs(String),
    #[error("the fan-out queue refused {count} deliveries, first: {reason}")]
    Refused { count: usize, reason: String },
}

impl From<QueueError> for AppError {
    fn from(error: QueueError) -> Self {
        AppError::internal(error)
    }
}

/// The fan-out queue, from `FEED_FANOUT_QUEUE_URL`.
#[derive(Debug, Clone)]
pub struct DeliveryQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl DeliveryQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Queues the deliveries, ten to a SendMessageBatch, several batches at a time;
    /// entries SQS did not take are sent again, and an error is returned if some still
    /// are not (the stream record is then retried; deliveries are idempotent).
    pub async fn send(&self, deliveries: &[FeedDelivery]) -> Result<(), QueueError> {
        let bodies = deliveries
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        let chunk = usize::try_from(DELIVERIES_PER_PAGE).unwrap_or(10);
        let results: Vec<Result<(), QueueError>> = futures_util::stream::iter(bodies.chunks(chunk))
            .map(|batch| self.send_batch(batch))
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        let mut pending: Vec<(String, &String)> = bodies
            .iter()
            .enumerate()
            .map(|(index, body)| (index.to_string(), body))
            .collect();
        let mut last_reason = String::new();
        for attempt in 0..SEND_ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body.as_str())
                        .build()
                        .map_err(|e| QueueError::Sqs(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    QueueError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            let failed: std::collections::HashSet<String> = output
                .failed()
                .iter()
                .map(|f| {
                    last_reason = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                    f.id().to_owned()
                })
                .collect();
            pending.retain(|(id, _)| failed.contains(id));
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Refused {
                count: pending.len(),
                reason: last_reason,
            })
        }
    }
}
