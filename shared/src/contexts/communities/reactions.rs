//! Communities: the stream's reactions. The clean-up of a deleted community: each
//! change of a community item that carries `deletedAt` runs one step
//! ([`communities::clean_up_deleted`]), and a step that deleted something bumps the
//! item again, so the next step follows, until nothing is left and the item itself goes.

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use crate::contexts::communities::{self, Community};
use crate::contexts::courses;
use crate::core::error::AppResult;
use crate::table::entity::Entity;
use crate::table::store::{self, Store};
use crate::table::stream::{Change, ChangeKind, Reaction, ReactionBatch};

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

pub const COURSE_ACCESS_ENTITIES: &[&str] = &[courses::Enrollment::NAME];

/// Course-linked communities follow their learners' enrollments: a changed end moves
/// the member's access end, and a revoked or left enrollment removes the member
/// ([`communities::follow_enrollment`]). Idempotent: a redelivered change finds the
/// member as it left them.
pub struct CourseAccess {
    store: Store,
}

impl CourseAccess {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        let old: Option<courses::Enrollment> =
            change.old.clone().map(store::from_item).transpose()?;
        let new: Option<courses::Enrollment> =
            change.new.clone().map(store::from_item).transpose()?;
        match (change.kind, old, new) {
            (ChangeKind::Modify, Some(old), Some(new))
                if old.expires_at_epoch != new.expires_at_epoch =>
            {
                communities::follow_enrollment(
                    &self.store,
                    &new.course_id,
                    &new.user_id,
                    Some(new.expires_at_epoch),
                )
                .await
            }
            (ChangeKind::Remove, Some(old), _) => {
                communities::follow_enrollment(&self.store, &old.course_id, &old.user_id, None)
                    .await
            }
            _ => Ok(()),
        }
    }
}

impl Reaction for CourseAccess {
    fn name(&self) -> &'static str {
        "course-access"
    }

    fn entities(&self) -> &'static [&'static str] {
        COURSE_ACCESS_ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &CourseAccess {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
