//! The events context's part of account erasure and export: my answers (each seat or
//! waitlist place given back), and the events I host (they stay their community's; the
//! host becomes `~erased`), and my secret calendar URL.

use crate::contexts::events::{self, keys};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ERASED_USER, ErasureStep, ExportStep, Next};
use crate::table::keys::user_partition;
use crate::table::store::{Expr, Index, Key, KeyQuery, Store};

const PREFIXES: &[&str] = &[keys::MY_RSVP_PREFIX];
const FEED: &[&str] = &[keys::MY_CALENDAR_FEED];

pub const STEPS: AccountSteps = AccountSteps {
    context: "events",
    erasure: &[
        ErasureStep {
            name: "rsvps",
            run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
        },
        ErasureStep {
            name: "events-hosted",
            run: |store, me, _cursor, limit| Box::pin(forget_hosted(store, me, limit)),
        },
        ErasureStep {
            name: "calendar-feed",
            run: |store, me, cursor, limit| Box::pin(close_feed(store, me, cursor, limit)),
        },
    ],
    export: &[
        ExportStep {
            name: "rsvps",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_prefixes(store, &user_partition(me), PREFIXES, cursor, limit).await
                })
            },
        },
        ExportStep {
            name: "events-hosted",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_page(
                        store,
                        KeyQuery::partition(keys::hosted_by(me))
                            .on(Index::Gsi2)
                            .limit(limit.clamp(1, 100)),
                        cursor,
                        |_| true,
                    )
                    .await
                })
            },
        },
        ExportStep {
            name: "calendar-feed",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_prefixes(store, &user_partition(me), FEED, cursor, limit).await
                })
            },
        },
    ],
    nothing_because: None,
};

/// Drains my answers: each leaves its occurrence (its counts follow, the waitlist moves
/// up), then its pointer goes.
async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        PREFIXES,
        cursor,
        limit,
        |item| async move {
            let event = jobs::attr(&item, "eventId").unwrap_or_default();
            let occurrence = jobs::attr(&item, "occurrenceId").unwrap_or_default();
            events::forget_rsvp(store, me, event, occurrence).await?;
            Ok(Vec::<Key>::new())
        },
    )
    .await
}

/// My calendar URL stops working: its feed item goes with my pointer to it.
async fn close_feed(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        FEED,
        cursor,
        limit,
        |item| async move {
            let digest = jobs::attr(&item, "digest").unwrap_or_default();
            Ok(vec![keys::calendar_feed(digest)])
        },
    )
    .await
}

/// The events I host keep their place in their community: `hostId` ✱, and they leave
/// my GSI2 partition, a page per call.
async fn forget_hosted(store: &Store, me: &UserId, limit: u32) -> AppResult<Chunk> {
    let page = limit.clamp(1, 100);
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::hosted_by(me))
                .on(Index::Gsi2)
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
                Expr::new("SET hostId = :nobody REMOVE GSI2PK, GSI2SK")
                    .value(":nobody", jobs::text(ERASED_USER)),
                Expr::new("hostId = :me").value(":me", jobs::text(me.as_str())),
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
