//! The moderation context's part of account erasure and export: the review items of
//! what I wrote (my moderation history, found on GSI2 `MODHIST#<me>`). Profile jobs
//! carry a user id and a version only; verdicts live on the items, which their own
//! contexts erase.

use crate::contexts::moderation::history_partition;
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportStep, Next};
use crate::table::store::{Index, KeyQuery, Store};

pub const STEPS: AccountSteps = AccountSteps {
    context: "moderation",
    erasure: &[ErasureStep {
        name: "review-items",
        run: |store, me, _cursor, limit| Box::pin(erase(store, me, limit)),
    }],
    export: &[ExportStep {
        name: "review-items",
        run: |store, me, cursor, limit| {
            Box::pin(
                async move { jobs::export_page(store, history(me, limit), cursor, |_| true).await },
            )
        },
    }],
    nothing_because: None,
};

fn history(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(history_partition(me))
        .on(Index::Gsi2)
        .limit(limit.clamp(1, 100))
}

/// Deletes a page of my review items (one Query of GSI2, then one DeleteItem each).
async fn erase(store: &Store, me: &UserId, limit: u32) -> AppResult<Chunk> {
    let query = history(me, limit);
    let page = query.limit;
    let (items, _) = store.query(&query).await?;
    let work = u32::try_from(items.len()).unwrap_or(u32::MAX);
    for key in items.iter().filter_map(jobs::key_of) {
        store.delete(&key).await?;
    }
    if items.len() < page as usize {
        return Ok(Chunk::done(work));
    }
    Ok(Chunk {
        work,
        next: Next::Continue(None),
    })
}
