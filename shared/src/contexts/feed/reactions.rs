//! Feed: generates activities from topics, replies, connections and accepted answers,
//! and fans activities and their deletion out into home feeds and the public timeline.
//! The fan-out reads the audience a page at a time and queues it as deliveries on the
//! fan-out queue, which the feed worker writes in parallel; reading is bounded per
//! invocation (one budget per batch) and continues through progress items (see
//! `crate::contexts::feed`), so no batch times out whatever the audience.

use futures_util::future::LocalBoxFuture;

use crate::contexts::discussions::{Reply, Topic};
use crate::contexts::feed::{self, DeliveryQueue, FanoutBudget, FanoutSettings};
use crate::core::error::AppResult;
use crate::table::counter;
use crate::table::entity::Entity;
use crate::table::store::Store;
use crate::table::stream::{Change, Reaction, ReactionBatch};

/// Sources of activities (connections: social ones, keyed `CONN#`), activities
/// themselves, and fan-out progress items.
pub const ENTITIES: &[&str] = &[
    Topic::NAME,
    Reply::NAME,
    crate::contexts::connections::Connection::NAME,
    feed::Activity::NAME,
    feed::FanoutProgress::NAME,
    crate::contexts::courses::Enrollment::NAME,
];

pub struct FeedFanout {
    store: Store,
    queue: DeliveryQueue,
    settings: FanoutSettings,
}

impl FeedFanout {
    pub fn new(store: Store, queue: DeliveryQueue, settings: FanoutSettings) -> Self {
        Self {
            store,
            queue,
            settings,
        }
    }
}

impl Reaction for FeedFanout {
    fn name(&self) -> &'static str {
        "feed"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(FeedBatch {
            reaction: self,
            // One budget per invocation, shared by every record of the batch.
            budget: FanoutBudget::new(self.settings.max_pages_per_invocation),
        })
    }
}

struct FeedBatch<'a> {
    reaction: &'a FeedFanout,
    budget: FanoutBudget,
}

impl ReactionBatch for FeedBatch<'_> {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        // Boxed: the domain future is deep enough to overflow the compiler's layout limit.
        Box::pin(feed::on_change(
            &self.reaction.store,
            &self.reaction.queue,
            self.reaction.settings,
            &self.budget,
            change,
        ))
    }

    fn finish(&self) {
        let pages = self.budget.taken();
        if pages > 0 {
            crate::core::telemetry::emit_counts("FeedFanout", &[("FanoutPages", u64::from(pages))]);
        }
    }
}

/// Like shards (see [`crate::table::counter`]).
pub const TALLY_ENTITIES: &[&str] = &[counter::SHARD_ENTITY];

/// Settles activities' like shards onto the activities: one write per shard item per
/// batch, whatever the number of likes in it.
pub struct LikeTally {
    store: Store,
}

impl LikeTally {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Reaction for LikeTally {
    fn name(&self) -> &'static str {
        "like-tally"
    }

    fn entities(&self) -> &'static [&'static str] {
        TALLY_ENTITIES
    }

    /// Shard items are settled side by side (each one's records in order).
    fn lanes(&self) -> usize {
        usize::from(counter::SHARDS)
    }

    fn batch<'a>(&'a self, changes: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(TallyBatch {
            store: &self.store,
            latest: counter::latest_records(changes),
        })
    }
}

struct TallyBatch<'a> {
    store: &'a Store,
    latest: std::collections::HashSet<&'a str>,
}

impl ReactionBatch for TallyBatch<'_> {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            if !self.latest.contains(change.event_id.as_str()) {
                // A later record of the same shard in this batch carries a newer value.
                return Ok(());
            }
            match change.new.as_ref().and_then(counter::shard_value) {
                Some(value) => counter::settle(self.store, &value).await,
                // A removed shard (its activity was deleted): nothing to settle.
                None => Ok(()),
            }
        })
    }
}
