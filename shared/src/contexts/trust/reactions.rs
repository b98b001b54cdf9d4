//! Trust: keeps each account's stats from the table's stream (see the module's docs).
//! Each record is applied once (a processed-record marker in the same transaction).

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use crate::contexts::trust;
use crate::core::error::AppResult;
use crate::table::store::Store;
use crate::table::stream::{Change, Reaction, ReactionBatch};

/// The records whose changes count: profiles (the account's age), replies, reactions,
/// topics (their accepted answer) and audit entries (removals).
pub const ENTITIES: &[&str] = &["Profile", "Reply", "Reaction", "Topic", "AuditEntry"];

pub struct TrustKeeper {
    store: Store,
}

impl TrustKeeper {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        let Some(entity) = change.entity() else {
            return Ok(());
        };
        let changes = trust::stat_changes(entity, change.old.as_ref(), change.new.as_ref());
        trust::apply_record(&self.store, &change.event_id, &changes).await
    }
}

impl Reaction for TrustKeeper {
    fn name(&self) -> &'static str {
        "trust"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &TrustKeeper {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
