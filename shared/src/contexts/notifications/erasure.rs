//! The notifications context's part of account erasure and export: first the
//! notifications that name me in other users' partitions (followed from my
//! `SENTNOTIF#` pointers: I leave each, and one that named only me is deleted), then my
//! notifications, grouped-notification actor markers, unread counter and preferences
//! (all under `NOTIF` in my partition).

use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportStep};
use crate::table::keys::user_partition;
use crate::table::store::Store;
use crate::table::store::{self, Item, Key};

pub const STEPS: AccountSteps = AccountSteps {
    context: "notifications",
    erasure: &[
        ErasureStep {
            name: "notifications-naming-me",
            run: |store, me, cursor, limit| Box::pin(leave_others(store, me, cursor, limit)),
        },
        ErasureStep {
            name: "notifications",
            run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
        },
    ],
    export: &[ExportStep {
        name: "notifications",
        run: |store, me, cursor, limit| {
            Box::pin(async move {
                jobs::export_prefixes(
                    store,
                    &user_partition(me),
                    &["NOTIFPREFS", "NOTIF#"],
                    cursor,
                    limit,
                )
                .await
            })
        },
    }],
    nothing_because: None,
};

/// `NOTIF` covers `NOTIF#`, `NOTIFACTOR#`, `NOTIFCOUNT` and `NOTIFPREFS`. The actors'
/// pointers to my notifications name me too: each goes with its notification (a single
/// notification's one actor) or its marker (every actor of a group has one).
async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        &["NOTIF"],
        cursor,
        limit,
        |item| async move { Ok(actor_pointer(me, &item).into_iter().collect()) },
    )
    .await
}

/// The actor's [`SentNotification`](super::SentNotification) pointer to one of my
/// notifications or group markers.
fn actor_pointer(me: &UserId, item: &Item) -> Option<Key> {
    let sort_key = item.get(store::SK)?.as_s().ok()?;
    if let Some(rest) = sort_key.strip_prefix("NOTIFACTOR#") {
        let (group_id, actor) = rest.split_once('#')?;
        let actor = UserId::parse(actor).ok()?;
        return Some(super::keys::sent(&actor, me, group_id));
    }
    let notification: super::Notification = store::from_item(item.clone()).ok()?;
    Some(super::keys::sent(
        &notification.actor_id,
        me,
        &notification.notification_id,
    ))
}

/// Follows my `SENTNOTIF#` pointers: takes me out of each notification they point at.
async fn leave_others(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        &[super::SENT_PREFIX],
        cursor,
        limit,
        |item| async move {
            if let Some(sent) = sent_of(item) {
                super::forget_actor(store, &sent.recipient_id, &sent.notification_id, me).await?;
            }
            Ok(vec![])
        },
    )
    .await
}

fn sent_of(item: Item) -> Option<super::SentNotification> {
    store::from_item(item).ok()
}
