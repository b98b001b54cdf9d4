//! The communities context's part of account erasure and export: my memberships (an
//! owner's community passes to its next member, or goes with its only member), my join
//! requests, the bans placed on me, the invite links I made and the resources I shared.

use crate::contexts::communities::{self, keys};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ERASED_USER, ErasureStep, ExportStep, Next};
use crate::table::keys::user_partition;
use crate::table::store::{Expr, Index, Key, KeyQuery, Store};

const PREFIXES: &[&str] = &[
    keys::MEMBERSHIP_PREFIX,
    keys::MY_JOIN_REQUEST_PREFIX,
    keys::MY_BAN_PREFIX,
    keys::MY_INVITE_PREFIX,
];

pub const STEPS: AccountSteps = AccountSteps {
    context: "communities",
    erasure: &[
        ErasureStep {
            name: "communities",
            run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
        },
        ErasureStep {
            name: "community-bans-placed",
            run: |store, me, _cursor, limit| Box::pin(forget_bans_placed(store, me, limit)),
        },
        ErasureStep {
            name: "community-resources",
            run: |store, me, _cursor, limit| Box::pin(erase_resources(store, me, limit)),
        },
    ],
    export: &[
        ExportStep {
            name: "communities",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_prefixes(store, &user_partition(me), PREFIXES, cursor, limit).await
                })
            },
        },
        ExportStep {
            name: "community-resources",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_page(
                        store,
                        KeyQuery::partition(keys::resources_by(me))
                            .on(Index::Gsi2)
                            .limit(limit.clamp(1, 100)),
                        cursor,
                        |_| true,
                    )
                    .await
                })
            },
        },
    ],
    nothing_because: None,
};

/// Drains my community pointers: a membership leaves the community (with its count and,
/// for an owner, the hand-over); a request, a ban or an invite goes with its other side.
async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        PREFIXES,
        cursor,
        limit,
        |item| async move {
            let sk = jobs::attr(&item, "SK").unwrap_or_default();
            let community = jobs::attr(&item, "communityId").unwrap_or_default();
            let elsewhere: Vec<Key> = if sk.starts_with(keys::MEMBERSHIP_PREFIX) {
                communities::leave_on_erasure(store, me, community).await?;
                Vec::new()
            } else if sk.starts_with(keys::MY_JOIN_REQUEST_PREFIX) {
                vec![keys::join_request(community, me)]
            } else if sk.starts_with(keys::MY_BAN_PREFIX) {
                vec![keys::ban(community, me)]
            } else if let Some(code) = sk.strip_prefix(keys::MY_INVITE_PREFIX) {
                vec![keys::invite(code)]
            } else {
                Vec::new()
            };
            Ok(elsewhere)
        },
    )
    .await
}

/// The bans I placed as a moderator keep their ban but not my id: each becomes
/// `bannedBy` [`ERASED_USER`] and leaves my GSI1 partition, a page per call (the index
/// is eventually consistent, so a ban already done may show again; its condition makes
/// it a no-op).
async fn forget_bans_placed(store: &Store, me: &UserId, limit: u32) -> AppResult<Chunk> {
    let page = limit.clamp(1, 100);
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::bans_by(me))
                .on(Index::Gsi1)
                .limit(page),
        )
        .await?;
    let work = u32::try_from(items.len()).unwrap_or(u32::MAX);
    for item in &items {
        let Some(key) = jobs::key_of(item) else {
            continue;
        };
        store
            .update_where(
                &key,
                Expr::new("SET bannedBy = :nobody REMOVE GSI1PK, GSI1SK")
                    .value(":nobody", jobs::text(ERASED_USER)),
                Expr::new("bannedBy = :me").value(":me", jobs::text(me.as_str())),
            )
            .await?;
    }
    if items.len() < page as usize {
        return Ok(Chunk::done(work));
    }
    Ok(Chunk {
        work,
        next: Next::Continue(None),
    })
}

/// The resources I shared go, a page of GSI2 `CRESBY#<me>` per call.
async fn erase_resources(store: &Store, me: &UserId, limit: u32) -> AppResult<Chunk> {
    let page = limit.clamp(1, 100);
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::resources_by(me))
                .on(Index::Gsi2)
                .limit(page),
        )
        .await?;
    let doomed: Vec<Key> = items.iter().filter_map(jobs::key_of).collect();
    store.batch_delete(&doomed).await?;
    let work = u32::try_from(items.len()).unwrap_or(u32::MAX);
    if items.len() < page as usize {
        return Ok(Chunk::done(work));
    }
    Ok(Chunk {
        work,
        next: Next::Continue(None),
    })
}
