//! Per-user rate limits, the counting: one UpdateItem per call, on a fixed-window
//! counter `RATE#<hash of the user> / <policy>#<window start>` that adds one only while
//! under the quota (so refused calls do not count) and expires two windows later by
//! TTL. The counter lives outside the user's partition and its key does not name the
//! user, so it is neither exported nor erased: it holds a count for minutes, then it is
//! gone.

use sha2::{Digest, Sha256};

use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::core::rate_limit::{RateDecision, RatePolicy};
use crate::table::store::{self, AttributeValue, Expr, Key, Returning, Store};
use crate::table::transaction::Condition;

/// The counter refused the call: the window's quota is used.
const UNDER_QUOTA: &str = "under_quota";

/// The entity name of the counter items.
pub const ENTITY: &str = "RateCounter";

pub mod keys {
    use super::*;

    /// `RATE#<hash of the user id> / <policy>#<window start>`: the key never names
    /// the user, so a counter left for a few minutes after an erasure (a refused
    /// request of an erased account still counts) holds nothing that names them.
    pub fn counter(user: &UserId, policy: &RatePolicy, window_start: i64) -> Key {
        let digest = Sha256::digest(user.as_str().as_bytes());
        Key::new(
            format!("RATE#{}", hex::encode(&digest[..16])),
            format!("{}#{window_start}", policy.name),
        )
    }
}

/// The update adding one call to a window's counter (expiring two windows later).
fn one_more(policy: &RatePolicy, window_start: i64) -> Expr {
    let number = |n: i64| AttributeValue::N(n.to_string());
    Expr::new("ADD #count :one SET #ttl = :ttl, entity = :entity")
        .name("#count", "count")
        .name("#ttl", store::TTL_ATTRIBUTE)
        .value(":one", number(1))
        .value(":ttl", number(window_start + 2 * policy.window_seconds))
        .value(":entity", AttributeValue::S(ENTITY.to_owned()))
}

/// Counts one call of `user` under `policy` at `now` (epoch seconds) and decides it.
pub async fn hit(
    store: &Store,
    user: &UserId,
    policy: &RatePolicy,
    now: i64,
) -> AppResult<RateDecision> {
    let window_start = policy.window_start(now);
    let update = one_more(policy, window_start);
    let number = |n: i64| AttributeValue::N(n.to_string());
    let under_quota = Condition::new(
        UNDER_QUOTA,
        Expr::new("attribute_not_exists(#count) OR #count < :quota")
            .name("#count", "count")
            .value(":quota", number(i64::from(policy.quota))),
    );
    let key = keys::counter(user, policy, window_start);
    let counted = match store
        .update(&key, update, Some(under_quota), Returning::AllNew)
        .await
    {
        Ok(item) => Some(match count_in(item.as_ref()) {
            0 => u64::from(policy.quota),
            counted => counted,
        }),
        Err(error) if error.failed(UNDER_QUOTA) => None,
        Err(error) => return Err(error.into()),
    };
    Ok(RateDecision::of(policy, counted, now))
}

/// The count of a counter item read elsewhere (0 without one).
pub fn count_in(item: Option<&store::Item>) -> u64 {
    item.and_then(|i| i.get("count"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Counts one call of `user` under `policy` at `now` whatever the quota (a call decided
/// beforehand from a read count, and counted only once it succeeded).
pub async fn count(store: &Store, user: &UserId, policy: &RatePolicy, now: i64) -> AppResult<()> {
    let window_start = policy.window_start(now);
    let update = one_more(policy, window_start);
    store
        .update(
            &keys::counter(user, policy, window_start),
            update,
            None,
            Returning::Nothing,
        )
        .await?;
    Ok(())
}
