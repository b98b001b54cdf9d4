//! The trust context's part of account erasure and export: my stats and the topics I
//! entered (`USER#<me>/TRUST`, `READ#…`: exported, then deleted). Processed-record
//! markers name no one.

use crate::contexts::trust::{READ_PREFIX, STATS_SK};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportStep};
use crate::table::keys::user_partition;
use crate::table::store::Store;

const PREFIXES: &[&str] = &[STATS_SK, READ_PREFIX];

pub const STEPS: AccountSteps = AccountSteps {
    context: "trust",
    erasure: &[ErasureStep {
        name: "trust",
        run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
    }],
    export: &[ExportStep {
        name: "trust",
        run: |store, me, cursor, limit| {
            Box::pin(async move {
                jobs::export_prefixes(store, &user_partition(me), PREFIXES, cursor, limit).await
            })
        },
    }],
    nothing_because: None,
};

async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::delete_all(store, &user_partition(me), PREFIXES, cursor, limit).await
}
