//! WebSocket connections. The connection item is written on `$connect` and removed on
//! `$disconnect`; notifications and chat find a user's open connections through the
//! mirror item in the user's partition.

use serde::{Deserialize, Serialize};

use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_epoch_seconds, now_rfc3339};
use crate::table::store::{self, AttributeValue, Key, KeyQuery, Store};

pub mod erasure;

/// API Gateway closes a WebSocket after 2 hours; the records outlive that a little so a
/// lost `$disconnect` is cleaned by TTL.
pub const CONNECTION_TTL_SECONDS: i64 = 2 * 3600 + 600;

pub mod push;

pub mod keys {
    use super::*;

    /// `WSCONN#<connectionId> / META`: find the user of a connection.
    pub fn connection(connection_id: &str) -> Key {
        Key::new(format!("WSCONN#{connection_id}"), "META")
    }

    /// `USER#<id> / WSCONN#<connectionId>`: a user's open connections, one Query.
    pub fn user_connection(user: &UserId, connection_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(user),
            format!("WSCONN#{connection_id}"),
        )
    }
}

/// Items outside the user's partition that an item inside it points at, deleted with
/// the account.
pub fn owned_elsewhere(sort_key: &str) -> Option<Key> {
    sort_key.strip_prefix("WSCONN#").map(keys::connection)
}

/// Connection ids come from API Gateway; they become parts of keys.
pub fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | '-' | '_' | '+' | '/'))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRecord {
    pub connection_id: String,
    pub user_id: UserId,
    pub connected_at: String,
}

/// Record an open connection (both items in one transaction).
pub async fn record_connection(store: &Store, user: &UserId, connection_id: &str) -> AppResult<()> {
    if !valid_connection_id(connection_id) {
        return Err(AppError::bad_field(
            "connectionId",
            "is not a valid connection id",
        ));
    }
    let record = ConnectionRecord {
        connection_id: connection_id.to_owned(),
        user_id: user.clone(),
        connected_at: now_rfc3339(),
    };
    let expires_at = now_epoch_seconds() + CONNECTION_TTL_SECONDS;
    let mut transaction = store.transaction();
    for key in [
        keys::connection(connection_id),
        keys::user_connection(user, connection_id),
    ] {
        let mut item = store::to_item(&record)?;
        item.extend(key.to_item());
        item.insert("entity".into(), AttributeValue::S("Connection".into()));
        item.insert(
            store::TTL_ATTRIBUTE.into(),
            AttributeValue::N(expires_at.to_string()),
        );
        transaction = transaction.put(item, None);
    }
    Ok(transaction.commit().await?)
}

/// Forget a connection. Deleting absent items is a no-op, so a repeated `$disconnect`
/// or a 410 Gone found later are both fine.
pub async fn remove_connection(store: &Store, connection_id: &str) -> AppResult<()> {
    let record: Option<ConnectionRecord> = store.get(&keys::connection(connection_id)).await?;
    let mut doomed = vec![keys::connection(connection_id)];
    if let Some(record) = record {
        doomed.push(keys::user_connection(&record.user_id, connection_id));
    }
    store.batch_delete(&doomed).await
}

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
