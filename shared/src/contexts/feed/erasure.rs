//! The feed context's part of account erasure and export. Order matters: the steps
//! that read my connections run before the connections context's step deletes them.
//!
//! 1. `connectionActivities`: the `connectionMade` activity of each of my connections
//!    (derived id, whoever authored it) is tombstoned: it names me.
//! 2. `feedEntries`: my activities' entries in my connections' home feeds (keys known
//!    from both lists; deleting an absent key is a no-op).
//! 3. `activities`: each of my activities with everything under it (likes, comments),
//!    its timeline entry and any fan-out progress item.
//! 4. `likesAndComments`: my likes and comments on others' activities, counters fixed.
//! 5. `homeFeed`: my own home feed.

use serde::{Deserialize, Serialize};

use crate::contexts::feed::{
    self, ConnectionImage, day_bucket, derived_activity_id, keys, parse_time,
};
use crate::core::cursor::PageKey;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportChunk, ExportStep, Next};
use crate::table::keys::user_partition;
use crate::table::store::{self, Key, KeyQuery, Store};

pub const STEPS: AccountSteps = AccountSteps {
    context: "feed",
    erasure: &[
        ErasureStep {
            name: "connectionActivities",
            run: |store, me, cursor, limit| {
                Box::pin(connection_activities(store, me, cursor, limit))
            },
        },
        ErasureStep {
            name: "feedEntries",
            run: |store, me, cursor, limit| Box::pin(feed_entries(store, me, cursor, limit)),
        },
        ErasureStep {
            name: "activities",
            run: |store, me, cursor, limit| Box::pin(activities(store, me, cursor, limit)),
        },
        ErasureStep {
            name: "likesAndComments",
            run: |store, me, cursor, limit| Box::pin(likes_and_comments(store, me, cursor, limit)),
        },
        ErasureStep {
            name: "homeFeed",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::delete_all(store, &keys::feed_partition(me), &[""], cursor, limit).await
                })
            },
        },
    ],
    export: &[ExportStep {
        name: "activitiesLikesComments",
        run: |store, me, cursor, limit| Box::pin(export(store, me, cursor, limit)),
    }],
    nothing_because: None,
};

/// Tombstones the `connectionMade` activity of each of my connections (read-only over
/// my `CONN#` items; the cursor is their page key).
async fn connection_activities(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Chunk> {
    let query = KeyQuery::partition(user_partition(me))
        .prefix("CONN#")
        .limit(limit.clamp(1, 100))
        .start(jobs::decode_page_key(cursor.as_deref())?);
    let (items, next) = store.query(&query).await?;
    let work = u32::try_from(items.len()).unwrap_or(u32::MAX);
    for item in items {
        let connection: ConnectionImage = store::from_item(item)?;
        let (low, high) = if connection.user_id <= connection.other_user_id {
            (&connection.user_id, &connection.other_user_id)
        } else {
            (&connection.other_user_id, &connection.user_id)
        };
        let id = derived_activity_id(
            &connection.created_at,
            &format!("connectionMade#{low}#{high}"),
        )?;
        feed::tombstone(store, &id, None).await?;
    }
    Ok(Chunk {
        work,
        next: match next {
            Some(key) => Next::Continue(jobs::encode_page_key(Some(key))?),
            None => Next::Done,
        },
    })
}

/// Where the feed-entry sweep stands: a page of my connections × pages of my activities.
#[derive(Debug, Default, Serialize, Deserialize)]
struct EntriesCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connections: Option<PageKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activities: Option<PageKey>,
}

/// Connections per page of the sweep; each page × 100 activities is 100 BatchWriteItems.
const CONNECTIONS_PER_PAGE: u32 = 25;

/// Deletes `FEED#<connection>/<my activity>` for every pair, a page of connections by a
/// page of activities at a time. One unit of work is one BatchWriteItem (25 keys).
async fn feed_entries(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Chunk> {
    let mut at: EntriesCursor = match cursor.as_deref() {
        Some(raw) => serde_json::from_str(raw).map_err(AppError::internal)?,
        None => EntriesCursor::default(),
    };
    let partition = user_partition(me);
    let mut work = 0u32;
    loop {
        if work >= limit {
            let raw = serde_json::to_string(&at).map_err(AppError::internal)?;
            return Ok(Chunk {
                work,
                next: Next::Continue(Some(raw)),
            });
        }
        let (connections, next_connections) = store
            .query(
                &KeyQuery::partition(partition.clone())
                    .prefix("CONN#")
                    .limit(CONNECTIONS_PER_PAGE)
                    .start(at.connections.clone()),
            )
            .await?;
        let readers: Vec<UserId> = connections
            .iter()
            .filter_map(|item| jobs::attr(item, "otherUserId"))
            .filter_map(|id| UserId::parse(id).ok())
            .collect();
        if readers.is_empty() {
            return Ok(Chunk::done(work + 1));
        }
        let (activities, next_activities) = store
            .query(
                &KeyQuery::partition(partition.clone())
                    .prefix("ACTIVITY#")
                    .limit(100)
                    .start(at.activities.clone()),
            )
            .await?;
        let doomed: Vec<Key> = activities
            .iter()
            .filter_map(|item| jobs::attr(item, "activityId"))
            .flat_map(|activity| {
                readers
                    .iter()
                    .map(move |reader| keys::feed_entry(reader, activity))
            })
            .collect();
        work += 1 + u32::try_from(doomed.len().div_ceil(25)).unwrap_or(u32::MAX);
        store.batch_delete(&doomed).await?;
        match next_activities {
            Some(next) => at.activities = Some(next),
            None => {
                at.activities = None;
                match next_connections {
                    Some(next) => at.connections = Some(next),
                    None => return Ok(Chunk::done(work)),
                }
            }
        }
    }
}

/// Each of my activities goes with its whole `ACT#` partition (the activity, likes and
/// comments on it), its timeline entry and fan-out progress items.
async fn activities(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        &["ACTIVITY#"],
        cursor,
        limit,
        |item| async move {
            let Some(activity_id) = jobs::attr(&item, "activityId") else {
                return Ok(vec![]);
            };
            store
                .delete_matching(
                    KeyQuery::partition(keys::activity_partition(activity_id)).limit(100),
                )
                .await?;
            store
                .delete_matching(KeyQuery::partition(format!("FANOUT#{activity_id}")).limit(100))
                .await?;
            let mut elsewhere = vec![keys::feed_entry(me, activity_id)];
            if let Some(created_at) = jobs::attr(&item, "createdAt") {
                let day = day_bucket(parse_time(created_at)?.unix_timestamp());
                elsewhere.push(keys::timeline_entry(&day, activity_id));
            }
            Ok(elsewhere)
        },
    )
    .await
}

async fn likes_and_comments(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        &["ACTLIKE#", "ACTCOMMENT#"],
        cursor,
        limit,
        |item| async move {
            if let Some(sk) = jobs::attr(&item, "SK") {
                feed::erase_for_account(store, me, sk).await?;
            }
            Ok(vec![])
        },
    )
    .await
}

/// My activities and comments with their text; my likes as pointers (which activity).
async fn export(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<ExportChunk> {
    jobs::export_pointed(
        store,
        &user_partition(me),
        &["ACTIVITY#", "ACTCOMMENT#", "ACTLIKE#"],
        cursor,
        limit,
        |sk| {
            if let Some(activity_id) = sk.strip_prefix("ACTIVITY#") {
                Some(keys::activity(activity_id))
            } else {
                let (activity_id, comment_id) = sk.strip_prefix("ACTCOMMENT#")?.split_once('#')?;
                Some(keys::comment(activity_id, comment_id))
            }
        },
    )
    .await
}
