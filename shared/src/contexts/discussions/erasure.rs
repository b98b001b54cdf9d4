//! The discussions context's part of account erasure and export: my topics and replies
//! (wiped in place, author erased, so others' threads keep their shape), their edit
//! history, their tag index items, and my reactions.

use crate::contexts::discussions::{self, keys};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportChunk, ExportStep};
use crate::table::keys::user_partition;
use crate::table::store::{Key, Store};

const PREFIXES: &[&str] = &["TOPIC#", "REPLY#", "REACT#"];

pub const STEPS: AccountSteps = AccountSteps {
    context: "discussions",
    erasure: &[ErasureStep {
        name: "topicsRepliesReactions",
        run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
    }],
    export: &[ExportStep {
        name: "topicsRepliesReactions",
        run: |store, me, cursor, limit| Box::pin(export(store, me, cursor, limit)),
    }],
    nothing_because: None,
};

async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        PREFIXES,
        cursor,
        limit,
        |item| async move {
            if let Some(sk) = jobs::attr(&item, "SK") {
                discussions::erase_for_account(store, me, sk).await?;
            }
            Ok(Vec::<Key>::new())
        },
    )
    .await
}

/// My topics, replies and reactions as stored (with their text), not the pointers.
async fn export(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<ExportChunk> {
    jobs::export_pointed(store, &user_partition(me), PREFIXES, cursor, limit, |sk| {
        if let Some(topic_id) = sk.strip_prefix("TOPIC#") {
            Some(keys::topic(topic_id))
        } else if let Some((topic_id, reply_id)) =
            sk.strip_prefix("REPLY#").and_then(|r| r.split_once('#'))
        {
            Some(keys::reply(topic_id, reply_id))
        } else {
            let (topic_id, target_id) = sk.strip_prefix("REACT#")?.split_once('#')?;
            Some(keys::reaction(topic_id, target_id, me))
        }
    })
    .await
}
