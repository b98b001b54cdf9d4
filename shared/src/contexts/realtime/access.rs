//! Realtime: access patterns: the reads this context serves from the table.

#[allow(unused_imports)]
use super::*;

/// A user's open connections: one Query on the user's partition.
pub async fn connections_of(store: &Store, user: &UserId) -> AppResult<Vec<ConnectionRecord>> {
    let (items, _) = store
        .query(
            &KeyQuery::partition(crate::table::keys::user_partition(user))
                .prefix("WSCONN#")
                .limit(100),
        )
        .await?;
    items.into_iter().map(store::from_item).collect()
}

/// How many connections the user holds open: one Query. Records left behind by a
/// socket that outlived its token, or by a lost `$disconnect`, do not count.
pub async fn open_connection_count(store: &Store, user: &UserId) -> AppResult<usize> {
    let now = now_epoch_seconds();
    Ok(connections_of(store, user)
        .await?
        .iter()
        .filter(|c| !c.target().expired_at(now))
        .count())
}
