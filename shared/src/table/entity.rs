//! Item types of the single table, declared once: each says its `entity` name, its
//! primary key, the index keys it carries and its TTL, and [`Entity::item`] builds the
//! whole item from them (after the pattern of modyne's `Entity`). Stream filters,
//! reactions and tests refer to [`Entity::NAME`], never to a string of their own.

use serde::Serialize;

use crate::core::error::AppResult;
use crate::table::store::{self, AttributeValue, Index, Item, Key, TTL_ATTRIBUTE};

/// One index key of an item: the index and its partition and sort values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub index: Index,
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(index: Index, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// An item type of the table.
pub trait Entity: Serialize + Sized {
    /// The `entity` attribute every item of this type carries.
    const NAME: &'static str;

    /// The item's primary key.
    fn key(&self) -> Key;

    /// The index keys it carries (indexes are sparse: only those it appears in).
    fn index_keys(&self) -> Vec<IndexKey> {
        Vec::new()
    }

    /// When DynamoDB's TTL removes it (epoch seconds), for types that expire.
    fn expires_at(&self) -> Option<i64> {
        None
    }

    /// The whole item: the value's attributes, then its key, index keys, entity name and
    /// TTL (which win over attributes of the same name).
    fn item(&self) -> AppResult<Item> {
        let mut item = store::to_item(self)?;
        item.extend(self.key().to_item());
        for key in self.index_keys() {
            item.insert(key.index.pk().to_owned(), AttributeValue::S(key.pk));
            item.insert(key.index.sk().to_owned(), AttributeValue::S(key.sk));
        }
        item.insert("entity".into(), AttributeValue::S(Self::NAME.to_owned()));
        if let Some(at) = self.expires_at() {
            item.insert(TTL_ATTRIBUTE.into(), AttributeValue::N(at.to_string()));
        }
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Thing {
        thing_id: String,
        entity: String,
    }

    impl Entity for Thing {
        const NAME: &'static str = "Thing";

        fn key(&self) -> Key {
            Key::new(format!("THING#{}", self.thing_id), "META")
        }

        fn index_keys(&self) -> Vec<IndexKey> {
            vec![IndexKey::new(Index::Gsi2, "THINGS", &self.thing_id)]
        }

        fn expires_at(&self) -> Option<i64> {
            Some(42)
        }
    }

    fn text(item: &Item, name: &str) -> Option<String> {
        item.get(name).and_then(|v| v.as_s().ok()).cloned()
    }

    #[test]
    fn an_entity_item_carries_its_keys_index_keys_name_and_ttl() -> AppResult<()> {
        let thing = Thing {
            thing_id: "t1".into(),
            entity: "a forged name".into(),
        };

        let item = thing.item()?;

        assert_eq!(text(&item, "PK").as_deref(), Some("THING#t1"));
        assert_eq!(text(&item, "SK").as_deref(), Some("META"));
        assert_eq!(text(&item, "GSI2PK").as_deref(), Some("THINGS"));
        assert_eq!(text(&item, "GSI2SK").as_deref(), Some("t1"));
        assert_eq!(text(&item, "entity").as_deref(), Some("Thing"));
        assert_eq!(text(&item, "thingId").as_deref(), Some("t1"));
        assert_eq!(
            item.get(TTL_ATTRIBUTE).and_then(|v| v.as_n().ok()).cloned(),
            Some("42".to_owned())
        );
        Ok(())
    }
}
