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
    /// The last second the connection's token is honoured (epoch seconds); absent on
    /// connections recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honoured_until: Option<i64>,
}

impl ConnectionRecord {
    /// Where a push to this connection goes.
    pub fn target(&self) -> push::Target {
        push::Target {
            connection_id: self.connection_id.clone(),
            honoured_until: self.honoured_until,
        }
    }

    /// Both items of an open connection, expiring at `expires_at` (epoch seconds).
    pub fn entries(&self, expires_at: i64) -> (ConnectionEntry, UserConnectionEntry) {
        (
            ConnectionEntry {
                record: self.clone(),
                expires_at,
            },
            UserConnectionEntry {
                record: self.clone(),
                expires_at,
            },
        )
    }
}

/// `WSCONN#<connectionId> / META` (entity `Connection`): the user of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionEntry {
    #[serde(flatten)]
    pub record: ConnectionRecord,
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for ConnectionEntry {
    const NAME: &'static str = "Connection";

    fn key(&self) -> Key {
        keys::connection(&self.record.connection_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// `USER#<id> / WSCONN#<connectionId>` (entity `Connection`, like [`ConnectionEntry`]):
/// the mirror in the user's partition, with the same attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserConnectionEntry {
    #[serde(flatten)]
    pub record: ConnectionRecord,
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for UserConnectionEntry {
    const NAME: &'static str = ConnectionEntry::NAME;

    fn key(&self) -> Key {
        keys::user_connection(&self.record.user_id, &self.record.connection_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConnectionRecord {
        ConnectionRecord {
            connection_id: "abc=".into(),
            user_id: UserId::parse("ana").unwrap(),
            connected_at: "t1".into(),
            honoured_until: None,
        }
    }

    /// An item as the hand-written code stored it, written out attribute by attribute.
    fn stored(value: serde_json::Value) -> crate::table::store::Item {
        store::to_item(&value).unwrap()
    }

    #[test]
    fn both_items_of_a_connection_are_stored_as_before() {
        let (entry, mirror) = record().entries(1_700_000_000);

        let entry = entry.item().unwrap();
        let mirror = mirror.item().unwrap();

        assert_eq!(
            entry,
            stored(serde_json::json!({
                "PK": "WSCONN#abc=", "SK": "META", "entity": "Connection",
                "connectionId": "abc=", "userId": "ana", "connectedAt": "t1",
                "expiresAt": 1_700_000_000,
            }))
        );
        assert_eq!(
            mirror,
            stored(serde_json::json!({
                "PK": "USER#ana", "SK": "WSCONN#abc=", "entity": "Connection",
                "connectionId": "abc=", "userId": "ana", "connectedAt": "t1",
                "expiresAt": 1_700_000_000,
            }))
        );
        assert_eq!(
            store::from_item::<ConnectionRecord>(mirror).unwrap(),
            record()
        );
    }
}
