//! Discussions: the topic-views queue (`TopicViewsQueue`). A topic page sends one
//! [`TopicView`] instead of writing the topic, and the views worker adds a batch's
//! views to each topic in one write (see [`super::count_views`]).

use super::*;

/// The views queue, from `TOPIC_VIEWS_QUEUE_URL`.
#[derive(Debug, Clone)]
pub struct ViewQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl ViewQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Queues one view of a topic (one SendMessage).
    pub async fn send(&self, view: &TopicView) -> AppResult<()> {
        let body = serde_json::to_string(view).map_err(AppError::internal)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AppError::internal(format!(
                    "sqs: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ))
            })
    }
}
