//! Profiles: keeps the skill search index and the occupation / learning-goal indexes
//! of connection suggestions in step with each profile, and queues moderation of
//! changed text. Every effect is idempotent, so a redelivered record is harmless.

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use crate::contexts::moderation::{self, ModerationJob};
use crate::contexts::profiles::{self, Profile};
use crate::core::error::AppResult;
use crate::table::entity::Entity;
use crate::table::store::Store;
use crate::table::stream::{Change, Reaction, ReactionBatch};

pub const ENTITIES: &[&str] = &[Profile::NAME];

pub struct ProfileProjections {
    store: Store,
    sqs: aws_sdk_sqs::Client,
    moderation_queue_url: String,
}

impl ProfileProjections {
    pub fn new(store: Store, sqs: aws_sdk_sqs::Client, moderation_queue_url: String) -> Self {
        Self {
            store,
            sqs,
            moderation_queue_url,
        }
    }

    fn image(item: Option<&serde_dynamo::Item>) -> AppResult<Option<Profile>> {
        item.map(|i| profiles::profile_from_item(i.clone()))
            .transpose()
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        if !profiles::is_profile_key(&change.pk, &change.sk) {
            return Ok(());
        }
        let old = Self::image(change.old.as_ref())?;
        let new = Self::image(change.new.as_ref())?;
        profiles::reindex_skills(&self.store, old.as_ref(), new.as_ref()).await?;
        profiles::reindex_match_attributes(&self.store, old.as_ref(), new.as_ref()).await?;
        if let Some(profile) = new
            .as_ref()
            .filter(|_| profiles::needs_moderation(old.as_ref(), new.as_ref()))
        {
            let job = ModerationJob::ModerateProfile {
                user_id: profile.user_id.clone(),
                version: profile.version,
            };
            moderation::reactions::send(&self.sqs, &self.moderation_queue_url, &job).await?;
        }
        Ok(())
    }
}

impl Reaction for ProfileProjections {
    fn name(&self) -> &'static str {
        "profiles"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &ProfileProjections {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
