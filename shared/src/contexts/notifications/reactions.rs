//! Notifications: each record of a connection request, a connection, a community member
//! let in by a moderator, a topic, a reply or a reaction may notify someone (see `crate::contexts::notifications::intents_of`). New
//! notifications are pushed to every open WebSocket connection of their recipient; a
//! connection that answers 410 Gone is forgotten. Records are applied idempotently, so
//! a redelivered batch changes nothing.

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use crate::contexts::realtime::push::Pusher;
use crate::contexts::{communities, connections, discussions, notifications};
use crate::core::error::AppResult;
use crate::table::entity::Entity;
use crate::table::store::Store;
use crate::table::stream::{Change, Reaction, ReactionBatch};

/// Sources of notifications, and notifications themselves (a removed one leaves the
/// unread count).
pub const ENTITIES: &[&str] = &[
    connections::ConnectionRequest::NAME,
    connections::Connection::NAME,
    communities::Member::NAME,
    discussions::Topic::NAME,
    discussions::Reply::NAME,
    discussions::Reaction::NAME,
    notifications::Notification::NAME,
    notifications::PostFanout::NAME,
    crate::contexts::events::EventFanout::NAME,
    crate::contexts::events::Rsvp::NAME,
    crate::contexts::moderation::ReviewItem::NAME,
    crate::contexts::moderation::Appeal::NAME,
    crate::contexts::moderation::AuditEntry::NAME,
];

pub struct Notifier {
    store: Store,
    pusher: Pusher,
}

impl Notifier {
    pub fn new(store: Store, pusher: Pusher) -> Self {
        Self { store, pusher }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        let delivered = notifications::apply_change(&self.store, change).await?;
        for notification in delivered {
            // The notification is stored: pushing is best effort (the list and the count
            // are the source of truth), so a failed push never fails the record.
            if let Err(error) = super::push(&self.pusher, &self.store, notification).await {
                tracing::warn!(%error, "pushing a notification failed");
            }
        }
        Ok(())
    }
}

impl Reaction for Notifier {
    fn name(&self) -> &'static str {
        "notifier"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &Notifier {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
