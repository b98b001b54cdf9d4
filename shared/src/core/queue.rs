//! Sending messages to an SQS queue: ten to a SendMessageBatch (SQS's limit), several
//! batches in flight, and the entries SQS did not take sent again, as the AWS SDKs'
//! batch helpers do. Each message's outcome is reported on its own, so a stream
//! reaction can fail exactly the records whose messages were not queued.

use futures_util::StreamExt;

/// Messages per SendMessageBatch: SQS takes at most 10.
pub const MESSAGES_PER_BATCH: usize = 10;

/// How many SendMessageBatch calls one send keeps in flight.
const SEND_CONCURRENCY: usize = 4;

/// Attempts for the entries of a SendMessageBatch that SQS did not take.
const SEND_ATTEMPTS: u32 = 3;

/// Why a message was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The call itself failed (its whole batch is not queued).
    #[error("sqs: {0}")]
    Sqs(String),
    /// SQS refused the entry every time it was sent.
    #[error("the queue refused the message: {0}")]
    Refused(String),
}

/// One queue, by its URL.
#[derive(Debug, Clone)]
pub struct QueueSender {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl QueueSender {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Sends every body; the outcome of each, in the bodies' order.
    pub async fn send_each(&self, bodies: &[String]) -> Vec<Result<(), SendError>> {
        let mut chunks: Vec<(usize, Vec<Result<(), SendError>>)> =
            futures_util::stream::iter(bodies.chunks(MESSAGES_PER_BATCH).enumerate())
                .map(|(index, chunk)| async move { (index, self.send_batch(chunk).await) })
                .buffer_unordered(SEND_CONCURRENCY)
                .collect()
                .await;
        chunks.sort_by_key(|(index, _)| *index);
        chunks
            .into_iter()
            .flat_map(|(_, results)| results)
            .collect()
    }

    /// Sends every body; the first failure if any was not queued.
    pub async fn send_all(&self, bodies: &[String]) -> Result<(), SendError> {
        self.send_each(bodies).await.into_iter().collect()
    }

    /// One batch of at most ten bodies, its refused entries sent again: each body's
    /// outcome.
    async fn send_batch(&self, bodies: &[String]) -> Vec<Result<(), SendError>> {
        let mut outcomes: Vec<Result<(), SendError>> = vec![Ok(()); bodies.len()];
        let mut pending: Vec<usize> = (0..bodies.len()).collect();
        for attempt in 0..SEND_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|&index| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(bodies[index].as_str())
                        .build()
                        .map_err(|e| SendError::Sqs(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>();
            let sent = match entries {
                Ok(entries) => self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| {
                        SendError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                    }),
                Err(error) => Err(error),
            };
            let output = match sent {
                Ok(output) => output,
                Err(error) => {
                    for &index in &pending {
                        outcomes[index] = Err(error.clone());
                    }
                    return outcomes;
                }
            };
            let mut refused = Vec::new();
            for failure in output.failed() {
                if let Some(index) = failure
                    .id()
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < bodies.len())
                {
                    outcomes[index] = Err(SendError::Refused(format!(
                        "{}: {}",
                        failure.code(),
                        failure.message().unwrap_or_default()
                    )));
                    refused.push(index);
                }
            }
            for &index in &pending {
                if !refused.contains(&index) {
                    outcomes[index] = Ok(());
                }
            }
            pending = refused;
        }
        outcomes
    }
}
