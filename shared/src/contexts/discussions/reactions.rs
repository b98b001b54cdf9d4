//! Discussions: keeps reply counts and latest activity of topics, and reaction counts
//! of topics and replies. Each record is applied exactly once (a processed-record marker
//! in the same transaction as the counter update), so a redelivered record or a retried
//! batch never counts twice.

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use crate::contexts::discussions;
use crate::contexts::discussions::Reply;
use crate::core::error::AppResult;
use crate::table::entity::Entity;
use crate::table::store::Store;
use crate::table::stream::{Change, Reaction, ReactionBatch};

pub const ENTITIES: &[&str] = &[Reply::NAME, discussions::Reaction::NAME];

pub struct DiscussionCounters {
    store: Store,
}

impl DiscussionCounters {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        let old = discussions::counted_record(change.old.clone())?;
        let new = discussions::counted_record(change.new.clone())?;
        let Some(counter) = discussions::counter_change(old.as_ref(), new.as_ref()) else {
            return Ok(());
        };
        discussions::apply_counter_change(&self.store, &change.event_id, &counter).await
    }
}

impl Reaction for DiscussionCounters {
    fn name(&self) -> &'static str {
        "discussions"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &DiscussionCounters {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
