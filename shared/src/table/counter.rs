//! Write-sharded counters, for counters that one item cannot take alone (a viral
//! activity's likes: DynamoDB allows 1,000 write units per second per partition, and a
//! transactional write costs two).
//!
//! A [`ShardedCounter`] names the item that shows the count (its *owner*, e.g.
//! `ACT#<id> / META`) and the counter (`likeCount`). Writes never touch the owner: each
//! change adds to one of [`SHARDS`] shard items, `<owner PK>#<counter>#<k> / COUNTER`
//! (entity `CounterShard`), chosen by a stable hash of who changes it, so one member's
//! +1 and −1 land on the same shard and no shard goes below zero. Each shard is its own
//! partition, so the writes spread over [`SHARDS`] partitions.
//!
//! The table's stream settles the shards onto the owner ([`settle`]): it copies each
//! shard's latest value into the owner's map `<counter>Shards` (`{"<k>": value}`), one
//! `SET` of an absolute value per shard item per stream batch. Copying a value (not
//! adding a delta) makes a redelivered record harmless, and the stream keeps each
//! item's records in order, so a later value is never overwritten by an earlier one.
//! The shown count is the owner's base counter plus the map's values
//! ([`total`]): exact once the stream has caught up, typically within a second or two.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::core::error::AppResult;
use crate::table::store::{AttributeValue, Expr, Key, Returning, Store};
use crate::table::stream::Change;
use crate::table::transaction::{Condition, Transaction};

/// Shards per counter: 8 shards take 8× one partition's writes.
pub const SHARDS: u8 = 8;

/// The entity of a shard item.
pub const SHARD_ENTITY: &str = "CounterShard";

const SHARD_SK: &str = "COUNTER";

/// One counter of one owner item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedCounter {
    pub owner: Key,
    pub name: &'static str,
}

impl ShardedCounter {
    pub fn new(owner: Key, name: &'static str) -> Self {
        Self { owner, name }
    }

    /// The shard that `member`'s changes go to (a stable hash: the same on every run
    /// and every machine).
    pub fn shard_of(member: &str) -> u8 {
        Sha256::digest(member.as_bytes())[0] % SHARDS
    }

    pub fn shard_key(&self, shard: u8) -> Key {
        Key::new(format!("{}#{}#{shard}", self.owner.pk, self.name), SHARD_SK)
    }

    /// Every shard's key (what deleting the owner deletes with it).
    pub fn shard_keys(&self) -> Vec<Key> {
        (0..SHARDS).map(|shard| self.shard_key(shard)).collect()
    }

    /// Adds `delta` to `member`'s shard, in the transaction.
    pub fn add<'a>(
        &self,
        transaction: Transaction<'a>,
        member: &str,
        delta: i64,
    ) -> Transaction<'a> {
        let shard = Self::shard_of(member);
        let update = Expr::new(
            "SET #count = if_not_exists(#count, :zero) + :delta, #entity = :entity, \
             #ownerPk = :ownerPk, #ownerSk = :ownerSk, #counter = :counter, #shard = :shard",
        )
        .name("#count", "count")
        .name("#entity", "entity")
        .name("#ownerPk", "ownerPk")
        .name("#ownerSk", "ownerSk")
        .name("#counter", "counter")
        .name("#shard", "shard")
        .value(":zero", number(0))
        .value(":delta", number(delta))
        .value(":entity", AttributeValue::S(SHARD_ENTITY.to_owned()))
        .value(":ownerPk", AttributeValue::S(self.owner.pk.clone()))
        .value(":ownerSk", AttributeValue::S(self.owner.sk.clone()))
        .value(":counter", AttributeValue::S(self.name.to_owned()))
        .value(":shard", number(shard));
        transaction.update(&self.shard_key(shard), update, None)
    }
}

/// The owner's attribute holding counter `name`'s settled shards.
pub fn settled_attribute(name: &str) -> String {
    format!("{name}Shards")
}

/// The count an owner shows: its base counter (what was counted on the item itself)
/// plus its settled shards.
pub fn total(base: i64, settled: &BTreeMap<String, i64>) -> i64 {
    base.saturating_add(settled.values().sum::<i64>())
}

/// A shard's value as one stream image holds it, with the owner and counter it
/// belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardValue {
    pub owner: Key,
    pub counter: String,
    pub shard: u8,
    pub value: i64,
}

/// Reads a shard item's image; `None` for anything else.
pub fn shard_value(image: &serde_dynamo::Item) -> Option<ShardValue> {
    let text = |name: &str| match image.get(name) {
        Some(serde_dynamo::AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    };
    let number = |name: &str| match image.get(name) {
        Some(serde_dynamo::AttributeValue::N(value)) => value.parse::<i64>().ok(),
        _ => None,
    };
    if text("entity")? != SHARD_ENTITY {
        return None;
    }
    Some(ShardValue {
        owner: Key::new(text("ownerPk")?, text("ownerSk")?),
        counter: text("counter")?,
        shard: u8::try_from(number("shard")?)
            .ok()
            .filter(|k| *k < SHARDS)?,
        value: number("count")?,
    })
}

/// Copies one shard's value onto its owner. An owner that no longer exists takes
/// nothing (its shards go with it); an owner written before it had the map gets one.
pub async fn settle(store: &Store, value: &ShardValue) -> AppResult<()> {
    let attribute = settled_attribute(&value.counter);
    let owner = &value.owner;
    let into_map = || {
        store.update(
            owner,
            Expr::new("SET #settled.#shard = :value")
                .name("#settled", attribute.clone())
                .name("#shard", value.shard.to_string())
                .value(":value", number(value.value)),
            Some(Condition::new(
                SETTLED_MAP,
                Expr::new("attribute_exists(#settled)").name("#settled", attribute.clone()),
            )),
            Returning::Nothing,
        )
    };
    match into_map().await {
        Err(error) if error.failed(SETTLED_MAP) => {}
        other => return other.map(|_| ()).map_err(Into::into),
    }
    // No map yet: start it, unless the owner is gone or another settle started it.
    let first = store
        .update(
            owner,
            Expr::new("SET #settled = :map")
                .name("#settled", attribute.clone())
                .value(
                    ":map",
                    AttributeValue::M(
                        [(value.shard.to_string(), number(value.value))]
                            .into_iter()
                            .collect(),
                    ),
                ),
            Some(Condition::new(
                OWNER_WITHOUT_MAP,
                Expr::new("attribute_exists(PK) AND attribute_not_exists(#settled)")
                    .name("#settled", attribute.clone()),
            )),
            Returning::Nothing,
        )
        .await;
    match first {
        Ok(_) => Ok(()),
        Err(error) if error.failed(OWNER_WITHOUT_MAP) => match into_map().await {
            // Still no map: the owner is gone.
            Err(error) if error.failed(SETTLED_MAP) => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        },
        Err(error) => Err(error.into()),
    }
}

/// The records of a stream batch worth settling: each shard item's last one (its
/// value supersedes the earlier ones'), by event id.
pub fn latest_records<'a>(changes: &[&'a Change]) -> HashSet<&'a str> {
    let mut last: HashMap<&str, &str> = HashMap::new();
    for change in changes {
        last.insert(change.pk.as_str(), change.event_id.as_str());
    }
    last.into_values().collect()
}

const SETTLED_MAP: &str = "SETTLED_MAP";
const OWNER_WITHOUT_MAP: &str = "OWNER_WITHOUT_MAP";

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> ShardedCounter {
        ShardedCounter::new(Key::new("ACT#01", "META"), "likeCount")
    }

    #[test]
    fn a_member_always_lands_on_the_same_shard_and_members_spread_over_all_of_them() {
        let shards: std::collections::BTreeSet<u8> = (0..200)
            .map(|i| ShardedCounter::shard_of(&format!("user-{i}")))
            .collect();

        assert_eq!(
            ShardedCounter::shard_of("user-7"),
            ShardedCounter::shard_of("user-7")
        );
        assert_eq!(shards.len(), usize::from(SHARDS), "{shards:?}");
    }

    #[test]
    fn each_shard_is_its_own_partition_next_to_its_owner() {
        let keys = counter().shard_keys();

        assert_eq!(keys.len(), usize::from(SHARDS));
        assert_eq!(keys[3], Key::new("ACT#01#likeCount#3", "COUNTER"));
        let partitions: std::collections::BTreeSet<&str> =
            keys.iter().map(|k| k.pk.as_str()).collect();
        assert_eq!(partitions.len(), keys.len());
    }

    #[test]
    fn the_shown_count_is_the_base_plus_the_settled_shards() {
        let settled = [("0".to_owned(), 3), ("5".to_owned(), 2)]
            .into_iter()
            .collect();

        assert_eq!(total(4, &settled), 9);
        assert_eq!(total(4, &BTreeMap::new()), 4);
    }

    #[test]
    fn a_shard_image_names_its_owner_counter_shard_and_value() {
        let image: serde_dynamo::Item = serde_dynamo::to_item(serde_json::json!({
            "PK": "ACT#01#likeCount#5", "SK": "COUNTER", "entity": SHARD_ENTITY,
            "ownerPk": "ACT#01", "ownerSk": "META", "counter": "likeCount",
            "shard": 5, "count": 2,
        }))
        .unwrap();

        assert_eq!(
            shard_value(&image),
            Some(ShardValue {
                owner: Key::new("ACT#01", "META"),
                counter: "likeCount".into(),
                shard: 5,
                value: 2,
            })
        );
    }

    #[test]
    fn an_image_of_another_entity_or_an_out_of_range_shard_is_no_shard_value() {
        let image = |entity: &str, shard: u8| -> serde_dynamo::Item {
            serde_dynamo::to_item(serde_json::json!({
                "entity": entity, "ownerPk": "ACT#01", "ownerSk": "META",
                "counter": "likeCount", "shard": shard, "count": 1,
            }))
            .unwrap()
        };

        assert_eq!(shard_value(&image("Activity", 1)), None);
        assert_eq!(shard_value(&image(SHARD_ENTITY, SHARDS)), None);
    }
}
