//! Graph: access patterns: the reads this context serves from the table.

#[allow(unused_imports)]
use super::*;

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

/// The other users named by block items (`BLOCK#<other>`, `BLOCKEDBY#<other>`) of one
/// user's partition.
fn blocked_users_in<'a>(items: impl IntoIterator<Item = &'a Item>) -> HashSet<UserId> {
    items
        .into_iter()
        .filter_map(sort_key)
        .filter_map(|sk| {
            sk.strip_prefix("BLOCK#")
                .or_else(|| sk.strip_prefix("BLOCKEDBY#"))
                .and_then(|id| UserId::parse(id).ok())
        })
        .collect()
}

/// Of `others`, those who block `viewer` or whom `viewer` blocks — one BatchGetItem per
/// 50 users, so a page of content is filtered with a constant number of requests.
pub async fn blocked_among(
    store: &Store,
    viewer: &UserId,
    others: &[UserId],
) -> AppResult<HashSet<UserId>> {
    let keys = block_keys(viewer, others);
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let found = store.batch_get_items(&keys).await?;
    Ok(blocked_users_in(&found))
}

/// The keys that say whether `viewer` and each of `others` block one another (two per
/// other: `viewer`'s `BLOCK#` and `BLOCKEDBY#` items), for a reader that fetches them in
/// its own BatchGetItem; [`blocked_in`] reads the answer from what it found.
pub fn block_keys(viewer: &UserId, others: &[UserId]) -> Vec<Key> {
    let unique: BTreeSet<&UserId> = others.iter().filter(|o| *o != viewer).collect();
    unique
        .into_iter()
        .flat_map(|other| [keys::block(viewer, other), keys::blocked_by(viewer, other)])
        .collect()
}

/// Of the items a batch of [`block_keys`] (among other keys) found, the users `viewer`
/// blocks or is blocked by.
pub fn blocked_in<'a>(
    viewer: &UserId,
    found: impl IntoIterator<Item = &'a Item>,
) -> HashSet<UserId> {
    let partition = user_partition(viewer);
    blocked_users_in(
        found
            .into_iter()
            .filter(|item| item.get(store::PK).and_then(|pk| pk.as_s().ok()) == Some(&partition)),
    )
}

/// Access pattern: everyone `user` blocks or is blocked by — one Query of the user's
/// own block items, `PK=USER#<user> AND begins_with(SK, BLOCK)` (`BLOCK#<other>` and
/// `BLOCKEDBY#<other>`), all pages. One request however many others are in question
/// (a room's subscribers), where [`blocked_among`] asks for two keys per other.
pub async fn blocks_of(store: &Store, user: &UserId) -> AppResult<HashSet<UserId>> {
    let found = store
        .query_matching(
            KeyQuery::partition(user_partition(user))
                .prefix("BLOCK")
                .limit(1000),
        )
        .await?;
    Ok(blocked_users_in(&found))
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

/// The keys that say whether `viewer` mutes each of `others` (one per other), for a
/// reader that fetches them in its own BatchGetItem; [`muted_in`] reads the answer.
pub fn mute_keys(viewer: &UserId, others: &[UserId]) -> Vec<Key> {
    let unique: BTreeSet<&UserId> = others.iter().filter(|o| *o != viewer).collect();
    unique
        .into_iter()
        .map(|other| keys::mute(viewer, other))
        .collect()
}

/// Of the items a batch of [`mute_keys`] (among other keys) found, the users `viewer`
/// mutes.
pub fn muted_in<'a>(viewer: &UserId, found: impl IntoIterator<Item = &'a Item>) -> HashSet<UserId> {
    let partition = user_partition(viewer);
    found
        .into_iter()
        .filter(|item| item.get(store::PK).and_then(|pk| pk.as_s().ok()) == Some(&partition))
        .filter_map(sort_key)
        .filter_map(|sk| {
            sk.strip_prefix("MUTE#")
                .and_then(|id| UserId::parse(id).ok())
        })
        .collect()
}

/// Of `others`, those who block `viewer`, whom `viewer` blocks, or whom `viewer` mutes:
/// what a feed leaves out. One BatchGetItem per 33 users.
pub async fn hidden_among(
    store: &Store,
    viewer: &UserId,
    others: &[UserId],
) -> AppResult<HashSet<UserId>> {
    let mut keys = block_keys(viewer, others);
    keys.extend(mute_keys(viewer, others));
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let found = store.batch_get_items(&keys).await?;
    let mut hidden = blocked_in(viewer, found.iter());
    hidden.extend(muted_in(viewer, found.iter()));
    Ok(hidden)
}

/// Whether `recipient` should hear nothing from `actor`: a block either way, or
/// `recipient` mutes `actor`. One BatchGetItem of three keys.
pub async fn silenced(store: &Store, recipient: &UserId, actor: &UserId) -> AppResult<bool> {
    if recipient == actor {
        return Ok(false);
    }
    let found = store
        .batch_get_items(&[
            keys::block(recipient, actor),
            keys::block(actor, recipient),
            keys::mute(recipient, actor),
        ])
        .await?;
    Ok(!found.is_empty())
}
