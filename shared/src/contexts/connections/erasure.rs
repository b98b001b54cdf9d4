//! The connections context's part of account erasure and export: my connections,
//! requests, blocks and mutes, with their other sides and pair locks; erasure also removes my
//! suggestion list (derived, not exported).

use crate::contexts::connections;
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportStep};
use crate::table::keys::user_partition;
use crate::table::store::{Key, Store};

/// `BLOCK#` does not match `BLOCKEDBY#`: a block placed on me is its owner's record.
const PREFIXES: &[&str] = &["CONN#", "REQIN#", "REQOUT#", "BLOCK#", "MUTE#"];

/// What erasure drains: the above and my `SUGGESTED` list.
const ERASED: &[&str] = &["CONN#", "REQIN#", "REQOUT#", "BLOCK#", "MUTE#", "SUGGESTED"];

pub const STEPS: AccountSteps = AccountSteps {
    context: "connections",
    erasure: &[ErasureStep {
        name: "connections",
        run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
    }],
    export: &[ExportStep {
        name: "connections",
        run: |store, me, cursor, limit| {
            Box::pin(async move {
                jobs::export_prefixes(store, &user_partition(me), PREFIXES, cursor, limit).await
            })
        },
    }],
    nothing_because: None,
};

/// Drains my connections, requests and blocks: each goes with its other side (the
/// other user's mirror, the pair lock, my block's `BLOCKEDBY#` mirror).
async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        ERASED,
        cursor,
        limit,
        |item| async move {
            let elsewhere: Vec<Key> = jobs::attr(&item, "SK")
                .map(|sk| connections::owned_elsewhere(me, sk))
                .unwrap_or_default();
            Ok(elsewhere)
        },
    )
    .await
}
