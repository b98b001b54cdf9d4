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
