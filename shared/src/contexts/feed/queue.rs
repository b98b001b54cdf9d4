//! Feed: the fan-out queue (`FeedFanoutQueue`), where the stream's fan-out step queues
//! one [`FeedDelivery`] per page of an audience for the feed worker to write in parallel.

use super::*;
use crate::core::queue::{QueueSender, SendError};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot encode a delivery: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Send(#[from] SendError),
}

impl From<QueueError> for AppError {
    fn from(error: QueueError) -> Self {
        AppError::internal(error)
    }
}

/// The fan-out queue, from `FEED_FANOUT_QUEUE_URL`.
#[derive(Debug, Clone)]
pub struct DeliveryQueue {
    sender: QueueSender,
}

impl DeliveryQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sender: QueueSender::new(client, url),
        }
    }

    /// Queues the deliveries ([`QueueSender::send_all`]: ten to a SendMessageBatch,
    /// refused entries sent again); an error if some still are not (the stream record
    /// is then retried; deliveries are idempotent).
    pub async fn send(&self, deliveries: &[FeedDelivery]) -> Result<(), QueueError> {
        let bodies = deliveries
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.sender.send_all(&bodies).await?)
    }
}
