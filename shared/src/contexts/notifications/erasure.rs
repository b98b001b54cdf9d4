//! The notifications context's part of account erasure and export: my notifications,
//! grouped-notification actor markers, unread counter and preferences (all under
//! `NOTIF` in my partition).

use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportStep};
use crate::table::keys::user_partition;
use crate::table::store::Store;

pub const STEPS: AccountSteps = AccountSteps {
    context: "notifications",
    erasure: &[ErasureStep {
        name: "notifications",
        run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
    }],
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

/// `NOTIF` covers `NOTIF#`, `NOTIFACTOR#`, `NOTIFCOUNT` and `NOTIFPREFS`.
async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        &["NOTIF"],
        cursor,
        limit,
        |_| async { Ok(vec![]) },
    )
    .await
}
