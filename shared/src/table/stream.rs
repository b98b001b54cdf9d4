//! The table's stream, typed: every record is decoded once into a [`Change`] and handed
//! to each [`Reaction`] that declared its entity.
//!
//! The table's stream has two readers (AWS throttles more than two per shard): the
//! fan-out function, which runs every projection and fan-out reaction of the contexts
//! (see the edge's `reactions` registries), and the notifier. A new context adds a reaction to the
//! fan-out function's registry, not a function or an event-source mapping.

use futures_util::future::LocalBoxFuture;
use serde_dynamo::AttributeValue;

use crate::core::error::AppResult;

/// What happened to the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// One table change from the stream, free of Lambda types.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    /// The record's `eventID`: what processed-record markers are keyed by.
    pub event_id: String,
    /// The record's position in its shard (what a batch item failure names).
    pub sequence_number: String,
    pub pk: String,
    pub sk: String,
    /// The item before the change (absent for an INSERT).
    pub old: Option<serde_dynamo::Item>,
    /// The item after the change (absent for a REMOVE).
    pub new: Option<serde_dynamo::Item>,
    /// The item's `entity` attribute (of the new image, or of the old one for a REMOVE).
    pub entity: Option<String>,
}

pub(crate) fn string_of(item: &serde_dynamo::Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

impl Change {
    /// A change of the item keyed `pk`/`sk`; empty images count as absent.
    pub fn new(
        kind: ChangeKind,
        pk: impl Into<String>,
        sk: impl Into<String>,
        old: Option<serde_dynamo::Item>,
        new: Option<serde_dynamo::Item>,
    ) -> Self {
        let old = old.filter(|i| !i.is_empty());
        let new = new.filter(|i| !i.is_empty());
        let entity = new
            .as_ref()
            .and_then(|i| string_of(i, "entity"))
            .or_else(|| old.as_ref().and_then(|i| string_of(i, "entity")));
        Self {
            kind,
            event_id: String::new(),
            sequence_number: String::new(),
            pk: pk.into(),
            sk: sk.into(),
            old,
            new,
            entity,
        }
    }

    /// The same change, as the record `event_id` at `sequence_number`.
    pub fn at(mut self, event_id: impl Into<String>, sequence_number: impl Into<String>) -> Self {
        self.event_id = event_id.into();
        self.sequence_number = sequence_number.into();
        self
    }

    pub fn entity(&self) -> Option<&str> {
        self.entity.as_deref()
    }

    /// Whether the item is one of `entities`.
    pub fn is_one_of(&self, entities: &[&str]) -> bool {
        self.entity().is_some_and(|e| entities.contains(&e))
    }
}

/// One context's reaction to table changes.
///
/// Reactions must be idempotent: a failed record is retried together with the records
/// after it, which may already have been applied (by this reaction or another one).
pub trait Reaction: Send + Sync {
    /// A short name, for logs.
    fn name(&self) -> &'static str;

    /// The entities it reacts to (see [`Change::entity`]); other changes never reach it.
    fn entities(&self) -> &'static [&'static str];

    /// How many partition keys of one batch it works on at once, each key's changes in
    /// order; 1 (the default) applies the batch's changes in shard order.
    fn lanes(&self) -> usize {
        1
    }

    /// Starts on one batch, given every change of it that it will get (in shard
    /// order): per-batch state, such as a budget or a cache, lives in the result.
    fn batch<'a>(&'a self, changes: &[&'a Change]) -> Box<dyn ReactionBatch + 'a>;
}

/// A reaction working on one batch.
pub trait ReactionBatch: Send + Sync {
    /// Applies one change; an error fails the record (and every later one of its key).
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>>;

    /// Called once after the batch's last change (applied or failed): per-batch totals,
    /// such as metrics, are reported here.
    fn finish(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(entity: &str) -> serde_dynamo::Item {
        let mut item =
            serde_dynamo::Item::from(std::collections::HashMap::<String, AttributeValue>::new());
        item.insert("entity".into(), AttributeValue::S(entity.into()));
        item
    }

    #[test]
    fn a_change_takes_its_entity_from_the_new_image_or_else_the_old_one() {
        let inserted = Change::new(ChangeKind::Insert, "P", "S", None, Some(item("Message")));
        let removed = Change::new(ChangeKind::Remove, "P", "S", Some(item("RoomMember")), None);

        assert_eq!(inserted.entity(), Some("Message"));
        assert_eq!(removed.entity(), Some("RoomMember"));
        assert!(removed.is_one_of(&["Message", "RoomMember"]));
        assert!(!inserted.is_one_of(&["Topic"]));
    }

    #[test]
    fn an_empty_image_counts_as_absent() {
        let empty =
            serde_dynamo::Item::from(std::collections::HashMap::<String, AttributeValue>::new());

        let change = Change::new(ChangeKind::Remove, "P", "S", Some(empty), None);

        assert!(change.old.is_none());
        assert_eq!(change.entity(), None);
    }
}
