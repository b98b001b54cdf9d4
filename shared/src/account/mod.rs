//! Use cases that span every context: exporting and erasing an account. Each context
//! owns its items; this module asks each one for its part.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::contexts::profiles::{self, keys};
use crate::contexts::{chat, connections, discussions, feed, realtime};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_rfc3339};
use crate::table::store::{self, Expr, Key, Store, dynamo_error};

/// Everything Agora stores about me, as JSON (GDPR-style export): my partition, read
/// with paginated Queries, plus the handle claim.
pub async fn export_my_data(store: &Store, me: &UserId) -> AppResult<serde_json::Value> {
    let items = store.query_all(&keys::user_partition(me)).await?;
    let mut profile = None;
    let mut records = Vec::new();
    for item in items {
        let sk = item
            .get(store::SK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if sk == "PROFILE" {
            profile = Some(profiles::profile_from_item(item)?);
            continue;
        }
        // Replay records of idempotent requests are operational copies, not data.
        if sk.starts_with("IDEMPOTENCY#") {
            continue;
        }
        // A block is invisible to the blocked user; its mirror is the blocker's record.
        if sk.starts_with("BLOCKEDBY#") {
            continue;
        }
        let mut value: serde_json::Map<String, serde_json::Value> =
            store::from_item(item).map_err(AppError::internal)?;
        for key in [
            store::PK,
            store::SK,
            "GSI1PK",
            "GSI1SK",
            "GSI2PK",
            "GSI2SK",
            "GSI3PK",
            "GSI3SK",
        ] {
            value.remove(key);
        }
        records.push(serde_json::Value::Object(value));
    }
    Ok(serde_json::json!({
        "userId": me,
        "exportedAt": now_rfc3339(),
        "profile": profile,
        "records": records,
    }))
}

/// A deleted account's tombstone outlives the stream's 24-hour retention.
pub const DELETED_ACCOUNT_TTL_SECONDS: i64 = 2 * 24 * 3600;

/// Delete my account: the profile and handle go first in one transaction (the account
/// disappears at once), then every other item of my partition, then items elsewhere that
/// the partition points at (e.g. WebSocket connection records). Derived indexes are
/// cleaned by the stream function from the profile's REMOVE record. Safe to repeat.
pub async fn delete_account(store: &Store, me: &UserId) -> AppResult<()> {
    // First, so that stream consumers stop writing for me before the sweep below.
    let mut tombstone = keys::deleted_account(me).to_item();
    tombstone.insert("entity".into(), AttributeValue::S("DeletedAccount".into()));
    tombstone.insert(
        store::TTL_ATTRIBUTE.into(),
        AttributeValue::N(
            (crate::core::ids::now_epoch_seconds() + DELETED_ACCOUNT_TTL_SECONDS).to_string(),
        ),
    );
    store.put(tombstone).await?;
    if let Some(profile) = profiles::get_profile(store, me).await? {
        let unclaimed_or_mine = Expr::new("attribute_not_exists(PK) OR userId = :me")
            .value(":me", AttributeValue::S(me.as_str().to_owned()));
        store
            .client()
            .transact_write_items()
            .transact_items(store.delete_op(&keys::profile(me), None)?)
            .transact_items(
                store.delete_op(&keys::handle(&profile.handle), Some(unclaimed_or_mine))?,
            )
            .send()
            .await
            .map_err(dynamo_error)?;
    }
    let items = store.query_all(&keys::user_partition(me)).await?;
    let mut doomed: Vec<Key> = Vec::new();
    for item in &items {
        let (Some(pk), Some(sk)) = (
            item.get(store::PK).and_then(|v| v.as_s().ok()),
            item.get(store::SK).and_then(|v| v.as_s().ok()),
        ) else {
            continue;
        };
        // Content others' threads hang on is erased in place rather than deleted.
        discussions::erase_for_account(store, me, sk).await?;
        feed::erase_for_account(store, me, sk).await?;
        doomed.push(Key::new(pk.clone(), sk.clone()));
        doomed.extend(realtime::owned_elsewhere(sk));
        doomed.extend(feed::owned_elsewhere(sk));
        doomed.extend(chat::owned_elsewhere(me, sk));
        doomed.extend(connections::owned_elsewhere(me, sk));
    }
    // A key may be reached twice (e.g. a pair lock); BatchWriteItem refuses duplicates.
    let mut seen = std::collections::HashSet::new();
    doomed.retain(|key| seen.insert(key.clone()));
    store.batch_delete(&doomed).await?;
    feed::delete_home_feed(store, me).await
}
