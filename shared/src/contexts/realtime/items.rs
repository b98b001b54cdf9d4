//! Realtime: item types stored in the table (their keys, index keys and entity names), and the views built from them.

#[allow(unused_imports)]
use super::*;

/// API Gateway closes a WebSocket after 2 hours; the records outlive that a little so a
/// lost `$disconnect` is cleaned by TTL.
pub const CONNECTION_TTL_SECONDS: i64 = 2 * 3600 + 600;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRecord {
    pub connection_id: String,
    pub user_id: UserId,
    pub connected_at: String,
}
