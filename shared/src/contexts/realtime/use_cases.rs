//! Realtime: use cases: the operations the edge calls, which write.

#[allow(unused_imports)]
use super::*;

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
