//! Idempotent writes, with the semantics of AWS Lambda Powertools' idempotency utility
//! (which Rust lacks): a client retry with the same `Idempotency-Key` gets the first
//! result and writes nothing; a duplicate that arrives while the first is still running
//! gets a 409; the same key with a different payload gets a 422; records expire, and
//! expiry is checked on read, not left to TTL (which may lag by days).
//!
//! Record: `USER#<user> / IDEMPOTENCY#<key>` (in the user's partition, so account
//! deletion removes the stored responses with everything else) with `status` (`INPROGRESS` or
//! `COMPLETED`), `payloadHash`, `expiresAt` (epoch seconds, also the TTL attribute),
//! `inProgressExpiresAt` and, once completed, the stored `response`.

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_epoch_seconds};
use crate::table::store::{self, Key, Store, dynamo_error};

/// How long a completed result is replayed for a retry.
pub const RECORD_TTL_SECONDS: i64 = 24 * 3600;

pub mod keys {
    use super::*;

    /// Keys are scoped per user, so one user's key never collides with another's.
    pub fn record(user: &UserId, key: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(user),
            format!("IDEMPOTENCY#{key}"),
        )
    }
}

/// The response replayed to a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredResponse {
    pub status: u16,
    /// JSON body as text (absent for 204).
    pub body: Option<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    status: String,
    payload_hash: String,
    expires_at: i64,
    #[serde(default)]
    response: Option<StoredResponse>,
}

/// Validates a client's `Idempotency-Key`: 1-128 printable ASCII characters without `#`.
pub fn parse_key(raw: &str) -> AppResult<String> {
    let valid = !raw.is_empty()
        && raw.len() <= 128
        && raw.chars().all(|c| c.is_ascii_graphic() && c != '#');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(AppError::bad_field(
            "Idempotency-Key",
            "must be 1 to 128 printable ASCII characters without '#'",
        ))
    }
}

/// Hash of what makes two requests "the same": method, path and body.
pub fn payload_hash(method: &str, path: &str, body: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(method.as_bytes())
        .chain_update([0])
        .chain_update(path.as_bytes())
        .chain_update([0])
        .chain_update(body)
        .finalize();
    hex::encode(digest)
}

/// Runs `operation` at most once per `(user, key)` within the record's lifetime.
///
/// `in_progress_timeout_seconds` should be the function's timeout: after it, a record
/// still `INPROGRESS` belongs to an invocation that died, and a retry may take over.
pub async fn run_once<F, Fut>(
    store: &Store,
    user: &UserId,
    key: &str,
    hash: &str,
    in_progress_timeout_seconds: i64,
    operation: F,
) -> AppResult<StoredResponse>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = AppResult<StoredResponse>>,
{
    let record_key = keys::record(user, key);
    let now = now_epoch_seconds();
    let mut item = record_key.to_item();
    item.insert(
        "entity".into(),
        AttributeValue::S("IdempotencyRecord".into()),
    );
    item.insert("status".into(), AttributeValue::S("INPROGRESS".into()));
    item.insert("payloadHash".into(), AttributeValue::S(hash.to_owned()));
    item.insert(
        store::TTL_ATTRIBUTE.into(),
        AttributeValue::N((now + RECORD_TTL_SECONDS).to_string()),
    );
    item.insert(
        "inProgressExpiresAt".into(),
        AttributeValue::N((now + in_progress_timeout_seconds).to_string()),
    );
    let claimed = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression(
            "attribute_not_exists(PK) OR expiresAt < :now \
             OR (#status = :inprogress AND inProgressExpiresAt < :now)",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(":inprogress", AttributeValue::S("INPROGRESS".into()))
        .send()
        .await;
    if let Err(error) = claimed {
        // The key exists: replay, refuse a different payload, or report in-progress.
        return match dynamo_error(error) {
            AppError::Conflict(_) => replay(store, &record_key, hash, now).await,
            other => Err(other),
        };
    }
    match operation().await {
        Ok(response) => {
            let stored = serde_dynamo::to_attribute_value::<_, AttributeValue>(&response)
                .map_err(AppError::internal)?;
            let completed = store
                .client()
                .update_item()
                .table_name(store.table())
                .set_key(Some(record_key.to_item()))
                .update_expression("SET #status = :completed, #response = :response")
                // The operation may have removed the record itself (account deletion
                // wipes the user's partition); then there is nothing to complete.
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#response", "response")
                .expression_attribute_values(":completed", AttributeValue::S("COMPLETED".into()))
                .expression_attribute_values(":response", stored)
                .send()
                .await;
            match completed.map_err(dynamo_error) {
                Ok(_) | Err(AppError::Conflict(_)) => Ok(response),
                Err(other) => Err(other),
            }
        }
        Err(error) => {
            // A failed attempt is not remembered: the client may retry with the same key.
            // One DeleteItem, which every role that takes writes grants (BatchWriteItem
            // is not granted to all of them).
            store.delete(&record_key).await?;
            Err(error)
        }
    }
}

async fn replay(store: &Store, key: &Key, hash: &str, now: i64) -> AppResult<StoredResponse> {
    let record: Record = store
        .get(key)
        .await?
        .ok_or_else(|| AppError::Conflict("the request is being retried concurrently".into()))?;
    if record.payload_hash != hash {
        return Err(AppError::invalid_field(
            "Idempotency-Key",
            "was already used for a different request",
        ));
    }
    match (record.status.as_str(), record.response) {
        ("COMPLETED", Some(response)) if record.expires_at >= now => Ok(response),
        _ => Err(AppError::Conflict(
            "a request with this Idempotency-Key is still in progress".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_short_printable_and_separator_free() {
        assert!(parse_key("7f3a1c2e-retry-1").is_ok());
        assert!(parse_key("").is_err());
        assert!(parse_key("has space").is_err());
        assert!(parse_key("a#b").is_err());
        assert!(parse_key(&"k".repeat(129)).is_err());
    }

    #[test]
    fn the_payload_hash_changes_with_method_path_or_body() {
        let base = payload_hash("POST", "/v1/x", b"{}");

        assert_eq!(base, payload_hash("POST", "/v1/x", b"{}"));
        assert_ne!(base, payload_hash("PUT", "/v1/x", b"{}"));
        assert_ne!(base, payload_hash("POST", "/v1/y", b"{}"));
        assert_ne!(base, payload_hash("POST", "/v1/x", b"{\"a\":1}"));
    }
}
