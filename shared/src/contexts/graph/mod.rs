//! The social graph: who is connected to whom and who blocks whom. It owns the keys of
//! connection, request, pair-lock and block items and the reads every other context
//! asks: "how do these two relate?" and "whom does this viewer block or get blocked
//! by?". The connections context writes these items; this one only names and reads them.

use std::collections::HashSet;

use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::keys::user_partition;
use crate::table::store::{Item, Key, KeyQuery, Store};

pub mod erasure;

pub mod keys {
    use super::*;

    /// `USER#<a> / CONN#<b>`: written for both directions when a request is accepted.
    pub fn connection(a: &UserId, b: &UserId) -> Key {
        Key::new(user_partition(a), format!("CONN#{b}"))
    }

    /// `USER#<target> / REQIN#<sender>`: an incoming request, in the target's partition.
    pub fn incoming_request(target: &UserId, sender: &UserId) -> Key {
        Key::new(user_partition(target), format!("REQIN#{sender}"))
    }

    /// `USER#<sender> / REQOUT#<target>`: the sender's copy.
    pub fn outgoing_request(sender: &UserId, target: &UserId) -> Key {
        Key::new(user_partition(sender), format!("REQOUT#{target}"))
    }

    /// `PAIR#<min>#<max> / PAIR`: at most one request or connection per pair, whichever
    /// side asks first.
    pub fn pair(a: &UserId, b: &UserId) -> Key {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        Key::new(format!("PAIR#{low}#{high}"), "PAIR")
    }

    /// `USER#<blocker> / BLOCK#<blocked>`.
    pub fn block(blocker: &UserId, blocked: &UserId) -> Key {
        Key::new(user_partition(blocker), format!("BLOCK#{blocked}"))
    }

    /// `USER#<blocked> / BLOCKEDBY#<blocker>`: lets reads of the blocked user's side hide
    /// the blocker, and is never shown to the blocked user.
    pub fn blocked_by(blocked: &UserId, blocker: &UserId) -> Key {
        Key::new(user_partition(blocked), format!("BLOCKEDBY#{blocker}"))
    }
}

/// How the viewer relates to the owner of some content: decides what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    SelfView,
    Connection,
    Stranger,
}

/// Access pattern: "are A and B connected?" — one GetItem.
pub async fn relationship(
    store: &Store,
    viewer: &UserId,
    owner: &UserId,
) -> AppResult<Relationship> {
    if viewer == owner {
        return Ok(Relationship::SelfView);
    }
    let found = store.get_item(&keys::connection(viewer, owner)).await?;
    Ok(if found.is_some() {
        Relationship::Connection
    } else {
        Relationship::Stranger
    })
}

/// Access pattern: "does either of A and B block the other?" — one BatchGetItem.
pub async fn blocked_between(store: &Store, a: &UserId, b: &UserId) -> AppResult<bool> {
    if a == b {
        return Ok(false);
    }
    let found = store
        .batch_get_items(&[keys::block(a, b), keys::block(b, a)])
        .await?;
    Ok(!found.is_empty())
}

/// Of `others`, those who block `viewer` or whom `viewer` blocks — one BatchGetItem per
/// 50 users, so a page of content is filtered with a constant number of requests.
pub async fn blocked_among(
    store: &Store,
    viewer: &UserId,
    others: &[UserId],
) -> AppResult<HashSet<UserId>> {
    let unique: Vec<&UserId> = others
        .iter()
        .filter(|o| *o != viewer)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let keys: Vec<Key> = unique
        .iter()
        .flat_map(|other| [keys::block(viewer, other), keys::blocked_by(viewer, other)])
        .collect();
    let found = store.batch_get_items(&keys).await?;
    Ok(found
        .iter()
        .filter_map(sort_key)
        .filter_map(|sk| {
            sk.strip_prefix("BLOCK#")
                .or_else(|| sk.strip_prefix("BLOCKEDBY#"))
                .and_then(|id| UserId::parse(id).ok())
        })
        .collect())
}

pub fn sort_key(item: &Item) -> Option<&str> {
    item.get(crate::table::store::SK)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Access pattern: one page of a user's connections — Query
/// `PK=USER#<id> AND begins_with(SK, CONN#)`.
pub async fn connection_ids_page(
    store: &Store,
    user: &UserId,
    limit: u32,
    start: Option<crate::core::cursor::PageKey>,
) -> AppResult<(Vec<UserId>, Option<crate::core::cursor::PageKey>)> {
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(user))
                .prefix("CONN#")
                .limit(limit)
                .start(start),
        )
        .await?;
    let ids = items
        .iter()
        .filter_map(sort_key)
        .filter_map(|sk| sk.strip_prefix("CONN#"))
        .filter_map(|id| UserId::parse(id).ok())
        .collect();
    Ok((ids, next))
}
