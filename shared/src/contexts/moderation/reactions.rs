//! Moderation: queues the screening of every user-written text. On each INSERT or
//! MODIFY of a screened item type whose text changed, a [`ModerationJob::ModerateText`]
//! to the moderation queue: a stream batch's jobs go ten to a SendMessageBatch, and a
//! record fails only if its own job was not queued. A redelivered record sends the same
//! job again, which the worker answers the same way (its verdict is idempotent).

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use std::collections::HashMap;

use super::{ModerationJob, Screened, screening_needed};
use crate::core::error::{AppError, AppResult};
use crate::core::queue::QueueSender;
use crate::table::store::Item;
use crate::table::stream::{Change, Reaction, ReactionBatch};

pub struct ScreeningRequests {
    queue: QueueSender,
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
            queue: QueueSender::new(sqs, queue_url),
            screened,
            entities,
        }
    }

    /// The job a change queues, if its text is new or changed.
    fn job_of(&self, change: &Change) -> Option<ModerationJob> {
        let screened = change
            .entity()
            .and_then(|entity| self.screened.iter().find(|s| s.entity == entity))?;
        let image = |image: &Option<serde_dynamo::Item>| image.clone().map(Item::from);
        let (old, new) = (image(&change.old), image(&change.new));
        let digest = screening_needed(old.as_ref(), new.as_ref(), screened)?;
        Some(ModerationJob::ModerateText {
            entity: screened.entity.to_owned(),
            pk: change.pk.clone(),
            sk: change.sk.clone(),
            digest,
        })
    }
}

/// One batch's jobs, by the event id of the record that queues each, all sent at the
/// first record's turn ([`QueueSender::send_each`]: ten to a SendMessageBatch); each
/// record then answers its own job's outcome.
struct ScreeningBatch<'a> {
    reaction: &'a ScreeningRequests,
    jobs: Vec<(String, Result<String, String>)>,
    sent: tokio::sync::OnceCell<HashMap<String, Result<(), String>>>,
}

impl ScreeningBatch<'_> {
    async fn send_all(&self) -> HashMap<String, Result<(), String>> {
        let mut outcomes = HashMap::new();
        let mut queued = Vec::new();
        let mut bodies = Vec::new();
        for (event_id, body) in &self.jobs {
            match body {
                Ok(body) => {
                    queued.push(event_id.clone());
                    bodies.push(body.clone());
                }
                Err(error) => {
                    outcomes.insert(event_id.clone(), Err(error.clone()));
                }
            }
        }
        let results = self.reaction.queue.send_each(&bodies).await;
        for (event_id, result) in queued.into_iter().zip(results) {
            outcomes.insert(event_id, result.map_err(|e| e.to_string()));
        }
        outcomes
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        if !self
            .jobs
            .iter()
            .any(|(event_id, _)| *event_id == change.event_id)
        {
            return Ok(());
        }
        let sent = self.sent.get_or_init(|| self.send_all()).await;
        match sent.get(&change.event_id) {
            Some(Err(error)) => Err(AppError::Internal(format!(
                "queueing the screening of {}|{}: {error}",
                change.pk, change.sk
            ))),
            _ => Ok(()),
        }
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

    fn batch<'a>(&'a self, changes: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        let jobs = changes
            .iter()
            .filter_map(|change| {
                let job = self.job_of(change)?;
                let body = serde_json::to_string(&job).map_err(|e| e.to_string());
                Some((change.event_id.clone(), body))
            })
            .collect();
        Box::new(ScreeningBatch {
            reaction: self,
            jobs,
            sent: tokio::sync::OnceCell::new(),
        })
    }
}

impl ReactionBatch for ScreeningBatch<'_> {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
