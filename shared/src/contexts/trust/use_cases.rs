//! Trust: applying stream records and topic reads to the stats, and reading them.

use super::*;
use crate::core::ids::{now_epoch_seconds, now_rfc3339};
use crate::table::store;

/// The record was applied already.
const RECORD_NEW: &str = "record_new";
/// The account's `since` is this early or earlier already.
const EARLIER_SINCE: &str = "earlier_since";
/// The account entered the topic already.
const FIRST_READ: &str = "first_read";

/// The update of one account's stats: its identity, its `since` when given, and
/// additions to its counts.
fn stats_update(user: &UserId, since: Option<&str>, adds: &[(Stat, i64)]) -> Expr {
    let mut sets = vec!["entity = :entity", "userId = :user"];
    if since.is_some() {
        sets.push("since = :since");
    }
    let mut text = format!("SET {}", sets.join(", "));
    if !adds.is_empty() {
        let added: Vec<String> = adds
            .iter()
            .enumerate()
            .map(|(i, (stat, _))| format!("{} :d{i}", stat.attribute()))
            .collect();
        text.push_str(&format!(" ADD {}", added.join(", ")));
    }
    let mut update = Expr::new(text)
        .value(":entity", AttributeValue::S(TRUST_STATS.to_owned()))
        .value(":user", AttributeValue::S(user.as_str().to_owned()));
    if let Some(at) = since {
        update = update.value(":since", AttributeValue::S(at.to_owned()));
    }
    for (i, (_, delta)) in adds.iter().enumerate() {
        update = update.value(format!(":d{i}"), AttributeValue::N(delta.to_string()));
    }
    update
}

/// The key and update of one stat change.
fn change_update(change: &StatChange) -> (Key, Expr) {
    match change {
        StatChange::Add { user, stat, delta } => (
            stats_key(user),
            stats_update(user, None, &[(*stat, *delta)]),
        ),
        StatChange::Since { user, at } => (stats_key(user), stats_update(user, Some(at), &[])),
    }
}

/// Applies one stream record's stat changes, once: the record's marker and the updates
/// in one transaction, so a redelivered record changes nothing.
#[tracing::instrument(skip(store, changes), fields(changes = changes.len()))]
pub async fn apply_record(store: &Store, event_id: &str, changes: &[StatChange]) -> AppResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let marker = TrustRecord {
        event_id: event_id.to_owned(),
        expires_at: now_epoch_seconds() + RECORD_TTL_SECONDS,
    };
    let transaction = changes.iter().fold(
        store
            .transaction()
            .put_entity(&marker, Some(Condition::absent(RECORD_NEW))),
        |transaction, change| {
            let (key, update) = change_update(change);
            // An account's age runs from the earliest `createdAt` its profile had.
            let earlier = match change {
                StatChange::Since { at, .. } => Some(Condition::new(
                    EARLIER_SINCE,
                    Expr::new("attribute_not_exists(since) OR since > :since")
                        .value(":since", AttributeValue::S(at.clone())),
                )),
                StatChange::Add { .. } => None,
            };
            transaction.update(&key, update, earlier)
        },
    );
    match transaction.commit().await {
        Ok(()) => Ok(()),
        Err(error) if error.failed(RECORD_NEW) || error.failed(EARLIER_SINCE) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Records that `read.reader` entered a topic and was shown `read.posts` posts, the
/// first time only: the topic-read marker and the stats' additions in one transaction.
#[tracing::instrument(skip(store))]
pub async fn record_read(store: &Store, read: &TopicRead) -> AppResult<()> {
    let marker = TopicReadMarker {
        reader: read.reader.clone(),
        topic_id: read.topic_id.clone(),
        posts: read.posts,
        at: now_rfc3339(),
    };
    let key = stats_key(&read.reader);
    let update = stats_update(
        &read.reader,
        None,
        &[
            (Stat::TopicsEntered, 1),
            (Stat::PostsRead, i64::from(read.posts)),
        ],
    );
    let result = store
        .transaction()
        .put_entity(&marker, Some(Condition::absent(FIRST_READ)))
        .update(&key, update, None)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(FIRST_READ) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// An account's stats (none before its first counted event).
pub async fn stats_of(store: &Store, user: &UserId) -> AppResult<Option<TrustStats>> {
    store
        .get_item(&stats_key(user))
        .await?
        .map(store::from_item)
        .transpose()
}

/// The stats in an item read elsewhere (the caller's standing read); an item that does
/// not decode counts as no stats (level 0), never as an error of the request.
pub fn stats_in(item: Option<store::Item>) -> Option<TrustStats> {
    item.and_then(|item| match store::from_item(item) {
        Ok(stats) => Some(stats),
        Err(error) => {
            tracing::warn!(%error, "trust stats that do not decode: level 0");
            None
        }
    })
}

/// An account's level now.
pub async fn level(store: &Store, user: &UserId) -> AppResult<TrustLevel> {
    Ok(level_of(
        stats_of(store, user).await?.as_ref(),
        now_epoch_seconds(),
    ))
}

/// What `me` reads of my trust (`GET /v1/me/trust`): one GetItem.
#[tracing::instrument(skip(store))]
pub async fn my_trust(store: &Store, me: &UserId) -> AppResult<TrustView> {
    let stats = stats_of(store, me).await?;
    Ok(view_of(me, stats.as_ref(), now_epoch_seconds()))
}
