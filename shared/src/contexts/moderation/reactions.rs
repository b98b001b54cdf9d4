//! Moderation: queues the screening of every user-written text. On each INSERT or
//! MODIFY of a screened item type whose text changed, one SendMessage of a
//! [`ModerationJob::ModerateText`] to the moderation queue. A redelivered record sends
//! the same job again, which the worker answers the same way (its verdict is idempotent).

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use super::{ModerationJob, Screened, screening_needed};
use crate::core::error::{AppError, AppResult};
use crate::table::store::Item;
use crate::table::stream::{Change, Reaction, ReactionBatch};

pub struct ScreeningRequests {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    screened: &'static [Screened],
    entities: &'static [&'static str],
}

impl ScreeningRequests {
    /// `entities` names exactly the entities of `screened` (the stream filter's list).
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        screened: &'static [Screened],
        entities: &'static [&'static str],
    ) -> Self {
        Self {
            sqs,
            queue_url,
            screened,
            entities,
        }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        let Some(screened) = change
            .entity()
            .and_then(|entity| self.screened.iter().find(|s| s.entity == entity))
        else {
            return Ok(());
        };
        let image = |image: &Option<serde_dynamo::Item>| image.clone().map(Item::from);
        let (old, new) = (image(&change.old), image(&change.new));
        let Some(digest) = screening_needed(old.as_ref(), new.as_ref(), screened) else {
            return Ok(());
        };
        let job = ModerationJob::ModerateText {
            entity: screened.entity.to_owned(),
            pk: change.pk.clone(),
            sk: change.sk.clone(),
            digest,
        };
        send(&self.sqs, &self.queue_url, &job).await
    }
}

/// One SendMessage of `job` to the moderation queue.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    job: &ModerationJob,
) -> AppResult<()> {
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(serde_json::to_string(job).map_err(AppError::internal)?)
        .send()
        .await
        .map_err(|e| AppError::internal(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    Ok(())
}

impl Reaction for ScreeningRequests {
    fn name(&self) -> &'static str {
        "screening"
    }

    fn entities(&self) -> &'static [&'static str] {
        self.entities
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &ScreeningRequests {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
