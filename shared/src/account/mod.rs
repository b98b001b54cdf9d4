//! Use cases that span every context: exporting and erasing an account, as jobs that
//! run in bounded, checkpointed chunks on the account-jobs queue.
//!
//! Each context declares its own steps (`contexts/<context>/erasure.rs`, a
//! [`AccountSteps`] constant); [`CONTEXTS`] lists them in the order erasure runs them,
//! and a test fails when a context folder is missing from it, so a new context cannot
//! forget its part.

pub mod erasure;
pub mod export;
pub mod queue;

use std::sync::LazyLock;

use crate::contexts::{
    chat, communities, connections, courses, discussions, events, feed, graph, moderation,
    notifications, profiles, realtime, trust,
};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{AccountSteps, Chunk, ErasureStep, ExportChunk, ExportStep};
use crate::table::store::Store;

pub use export::Archives;

/// Every context's part, in erasure order. Order matters where a step reads what a
/// later one deletes: feed reads my connections (activities that name me, entries in
/// my connections' feeds) before connections deletes them; chat forgets my sockets'
/// subscriptions before realtime deletes the connection records.
pub const CONTEXTS: &[AccountSteps] = &[
    profiles::erasure::STEPS,
    feed::erasure::STEPS,
    discussions::erasure::STEPS,
    chat::erasure::STEPS,
    communities::erasure::STEPS,
    courses::erasure::STEPS,
    events::erasure::STEPS,
    notifications::erasure::STEPS,
    realtime::erasure::STEPS,
    connections::erasure::STEPS,
    graph::erasure::STEPS,
    moderation::erasure::STEPS,
    trust::erasure::STEPS,
];

/// One step of the erasure plan: a context's step, or one of the account's own last two
/// (my export archives in S3, then whatever is left in my partition).
#[derive(Clone, Copy)]
pub enum PlannedStep {
    Context(&'static str, ErasureStep),
    ExportArchives,
    Partition,
}

impl PlannedStep {
    pub fn qualified_name(&self) -> String {
        match self {
            PlannedStep::Context(context, step) => format!("{context}.{}", step.name),
            PlannedStep::ExportArchives => "account.exportArchives".into(),
            PlannedStep::Partition => "account.partition".into(),
        }
    }

    pub async fn run(
        &self,
        store: &Store,
        archives: &Archives,
        me: &UserId,
        cursor: Option<String>,
        limit: u32,
    ) -> AppResult<Chunk> {
        match self {
            PlannedStep::Context(_, step) => (step.run)(store, me, cursor, limit).await,
            PlannedStep::ExportArchives => archives.delete_all_of(me).await,
            PlannedStep::Partition => erasure::sweep_partition(store, me, cursor, limit).await,
        }
    }
}

/// The erasure plan: every context's steps in [`CONTEXTS`] order, then the account's.
pub static ERASURE_PLAN: LazyLock<Vec<PlannedStep>> = LazyLock::new(|| {
    CONTEXTS
        .iter()
        .flat_map(|c| {
            c.erasure
                .iter()
                .map(|s| PlannedStep::Context(c.context, *s))
        })
        .chain([PlannedStep::ExportArchives, PlannedStep::Partition])
        .collect()
});

/// The export plan: every context's export steps, in [`CONTEXTS`] order.
pub static EXPORT_PLAN: LazyLock<Vec<(&'static str, ExportStep)>> = LazyLock::new(|| {
    CONTEXTS
        .iter()
        .flat_map(|c| c.export.iter().map(|s| (c.context, *s)))
        .collect()
});

/// Runs one export step (the plan's `index`th).
pub async fn run_export_step(
    store: &Store,
    me: &UserId,
    index: usize,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Option<(&'static str, ExportChunk)>> {
    match EXPORT_PLAN.get(index) {
        Some((context, step)) => Ok(Some((context, (step.run)(store, me, cursor, limit).await?))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context_folders() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/contexts");
        let mut folders: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {dir:?}: {e}"))
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        folders
    }

    #[test]
    fn every_context_folder_declares_its_erasure_and_export_part() {
        let registered: Vec<&str> = CONTEXTS.iter().map(|c| c.context).collect();
        for folder in context_folders() {
            assert!(
                registered.contains(&folder.as_str()),
                "contexts/{folder} has no AccountSteps in account::CONTEXTS: add \
                 contexts/{folder}/erasure.rs with its erasure (and export) steps"
            );
        }
    }

    #[test]
    fn a_context_without_erasure_steps_says_why() {
        for context in CONTEXTS {
            assert!(
                !context.erasure.is_empty()
                    || context.nothing_because.is_some_and(|why| !why.is_empty()),
                "{} erases nothing and does not say why",
                context.context
            );
        }
    }

    #[test]
    fn each_context_is_registered_once_and_step_names_are_unique() {
        let mut names: Vec<String> = ERASURE_PLAN.iter().map(|s| s.qualified_name()).collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
        let mut contexts: Vec<&str> = CONTEXTS.iter().map(|c| c.context).collect();
        contexts.sort_unstable();
        contexts.dedup();
        assert_eq!(contexts.len(), CONTEXTS.len());
    }

    #[test]
    fn feed_reads_my_connections_before_connections_erases_them() {
        let position = |name: &str| {
            ERASURE_PLAN
                .iter()
                .position(|s| s.qualified_name() == name)
                .unwrap_or_else(|| panic!("{name} is not planned"))
        };
        assert!(position("feed.feedEntries") < position("connections.connections"));
        assert!(position("feed.connectionActivities") < position("connections.connections"));
        assert!(position("chat.subscriptions") < position("realtime.connections"));
        assert_eq!(
            ERASURE_PLAN.last().map(|s| s.qualified_name()).as_deref(),
            Some("account.partition")
        );
    }
}
