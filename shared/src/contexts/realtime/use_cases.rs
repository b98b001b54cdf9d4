//! Realtime: use cases: the operations the edge calls, which write.

#[allow(unused_imports)]
use super::*;

/// The most WebSockets one user may hold open at once (tabs and devices together).
pub const MAX_CONNECTIONS_PER_USER: usize = 10;

/// Whether the user may open one more connection: 429 once they hold
/// [`MAX_CONNECTIONS_PER_USER`] whose tokens are still honoured (one Query). A
/// connection lost without `$disconnect` counts until its record expires.
pub async fn admit_connection(store: &Store, user: &UserId) -> AppResult<()> {
    let open = open_connection_count(store, user).await?;
    if open >= MAX_CONNECTIONS_PER_USER {
        return Err(AppError::RateLimited {
            retry_after_seconds: 60,
        });
    }
    Ok(())
}

/// Record an open connection (both items in one transaction), with the last second its
/// token is honoured.
pub async fn record_connection(
    store: &Store,
    user: &UserId,
    connection_id: &str,
    honoured_until: Option<i64>,
) -> AppResult<()> {
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
        honoured_until,
    };
    let (entry, mirror) = record.entries(now_epoch_seconds() + CONNECTION_TTL_SECONDS);
    Ok(store
        .transaction()
        .put_entity(&entry, None)
        .put_entity(&mirror, None)
        .commit()
        .await?)
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
