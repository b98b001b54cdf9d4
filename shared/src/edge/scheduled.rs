//! The scheduler function: what runs on the clock (an EventBridge schedule rule, every
//! minute). Each tick is idempotent and bounded: a tick that fails is retried by
//! Lambda's asynchronous invocation, and what one tick leaves the next one does.
//!
//! A tick sends the event reminders that are due (each starts a fan-out to the
//! occurrence's attendees, which the notifier runs: notifications and WebSocket pushes),
//! then sweeps the learners whose access to a course-linked community ended: access
//! already stops at the second it ends (every read and write checks it); the sweep makes
//! the membership, the member count and the channels' subscriptions follow.

use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::instrument;

use crate::contexts::{communities, events};
use crate::core::error::AppResult;
use crate::core::ids::now_epoch_seconds;
use crate::table::store::Store;

/// Members removed per sweep page.
const SWEEP_PAGE: u32 = 100;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// Reminders sent (each to one occurrence's attendees).
    pub reminders: u32,
    /// Learners whose ended access was swept out of their community.
    pub access_ended: u32,
}

/// One tick: pages of the sweep until one is not full or `budget` is spent.
#[instrument(skip(store))]
pub async fn tick(store: &Store, budget: Duration) -> AppResult<Tick> {
    let started = Instant::now();
    let mut done = Tick::default();
    loop {
        let sent = events::send_due_reminders(store, now_epoch_seconds(), SWEEP_PAGE).await?;
        done.reminders += sent;
        if sent < SWEEP_PAGE || started.elapsed() >= budget {
            break;
        }
    }
    loop {
        let removed =
            communities::sweep_ended_access(store, now_epoch_seconds(), SWEEP_PAGE).await?;
        done.access_ended += removed;
        if removed < SWEEP_PAGE || started.elapsed() >= budget {
            break;
        }
    }
    tracing::info!(
        reminders = done.reminders,
        access_ended = done.access_ended,
        "tick done"
    );
    Ok(done)
}
