//! Communities: the clean-up of a deleted community, driven by the table's stream. Each
//! change of a community item that carries `deletedAt` runs one step
//! ([`communities::clean_up_deleted`]), and a step that deleted something bumps the
//! item again, so the next step follows, until nothing is left and the item itself goes.

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use crate::contexts::communities::{self, Community};
use crate::core::error::AppResult;
use crate::table::entity::Entity;
use crate::table::store::{self, Store};
use crate::table::stream::{Change, Reaction, ReactionBatch};

pub const ENTITIES: &[&str] = &[Community::NAME];

pub struct CommunityCleanup {
    store: Store,
}

impl CommunityCleanup {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        let Some(image) = change.new.clone() else {
            return Ok(());
        };
        let community: Community = store::from_item(image)?;
        if community.deleted_at.is_none() {
            return Ok(());
        }
        communities::clean_up_deleted(&self.store, &community.community_id).await
    }
}

impl Reaction for CommunityCleanup {
    fn name(&self) -> &'static str {
        "community-cleanup"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &CommunityCleanup {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
