//! The single-table store: one DynamoDB table, generic key-based operations.
//!
//! Bounded contexts own their item types and key builders and express each access
//! pattern as one function on top of these primitives (see `docs/data-model.md`).
//! Every read is a GetItem, a BatchGetItem or a Query; nothing here scans.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue,
    TransactWriteItem, Update, WriteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::cursor::PageKey;
use crate::core::error::{AppError, AppResult};
use crate::table::transaction::{Condition, WriteError};

/// The table's attribute values, as the store reads and writes them.
pub use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

tokio::task_local! {
    /// The keys that ride along with a request's first BatchGetItem (see [`Rider`]).
    static RIDER: std::sync::Arc<Rider>;
}

/// Keys a request reads along with its first BatchGetItem, so a check every request
/// needs (the caller's account tombstone and standing, `edge::http`) costs no request of
/// its own on the pages that batch-read anyway. The keys join the batch's keys (in the
/// same strongly consistent read), and what they found is kept here, apart from the
/// caller's results. A request that makes no BatchGetItem leaves them unread:
/// [`Rider::outcome`] says so, and the caller reads the keys itself.
#[derive(Debug)]
pub struct Rider {
    keys: Vec<Key>,
    found: std::sync::OnceLock<Vec<Option<Item>>>,
}

impl Rider {
    pub fn new(keys: Vec<Key>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            keys,
            found: std::sync::OnceLock::new(),
        })
    }

    /// What a BatchGetItem of the request found under the keys, in their order: `None`
    /// when none ran (an item that does not exist is a `None` in the list).
    pub fn outcome(&self) -> Option<Vec<Option<Item>>> {
        self.found.get().cloned()
    }

    /// Runs `request` with this rider on its first BatchGetItem.
    pub async fn carry<F: std::future::Future>(
        self: std::sync::Arc<Self>,
        request: F,
    ) -> F::Output {
        RIDER.scope(self, request).await
    }
}

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// The TTL attribute (epoch seconds) the table's TimeToLiveSpecification names.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// The overloaded global secondary indexes, each with `<name>PK` / `<name>SK` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Gsi1,
    Gsi2,
    Gsi3,
}

impl Index {
    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1",
            Index::Gsi2 => "GSI2",
            Index::Gsi3 => "GSI3",
        }
    }
    pub fn pk(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1PK",
            Index::Gsi2 => "GSI2PK",
            Index::Gsi3 => "GSI3PK",
        }
    }
    pub fn sk(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1SK",
            Index::Gsi2 => "GSI2SK",
            Index::Gsi3 => "GSI3SK",
        }
    }
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    pub fn to_item(&self) -> Item {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(self.pk.clone())),
            (SK.to_owned(), AttributeValue::S(self.sk.clone())),
        ])
    }
}

/// One Query: a partition, an optional sort-key prefix, a direction and a page.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    pub index: Option<Index>,
    pub partition: String,
    pub sort_prefix: Option<String>,
    /// Sort keys from the first to the second, inclusive (instead of a prefix).
    pub sort_between: Option<(String, String)>,
    /// A strongly consistent read (the base table only).
    pub consistent: bool,
    pub newest_first: bool,
    pub limit: u32,
    pub start: Option<PageKey>,
    /// A filter applied after the key condition (it does not change what is read,
    /// only what is returned).
    pub filter: Option<Expr>,
}

impl KeyQuery {
    pub fn partition(partition: impl Into<String>) -> Self {
        Self {
            index: None,
            partition: partition.into(),
            sort_prefix: None,
            sort_between: None,
            consistent: false,
            newest_first: false,
            limit: 100,
            start: None,
            filter: None,
        }
    }
    /// Newest (highest sort key) first.
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }
    pub fn filter(mut self, filter: Expr) -> Self {
        self.filter = Some(filter);
        self
    }
    pub fn on(mut self, index: Index) -> Self {
        self.index = Some(index);
        self
    }
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sort_prefix = Some(prefix.into());
        self
    }
    /// Reads what every write before it wrote (the base table only).
    pub fn consistent(mut self) -> Self {
        self.consistent = true;
        self
    }
    /// Sort keys from `low` to `high`, both included.
    pub fn between(mut self, low: impl Into<String>, high: impl Into<String>) -> Self {
        self.sort_between = Some((low.into(), high.into()));
        self
    }
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
    pub fn start(mut self, start: Option<PageKey>) -> Self {
        self.start = start;
        self
    }
}

/// A condition or update expression with the `#name` / `:value` placeholders it uses, so
/// each transaction part carries exactly what its expressions reference.
#[derive(Debug, Clone)]
pub struct Expr {
    text: String,
    names: Names,
    values: Values,
}

type Names = HashMap<String, String>;
type Values = HashMap<String, AttributeValue>;

impl Expr {
    /// An expression; bind its placeholders with [`Expr::name`] and [`Expr::value`].
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    /// Binds `#placeholder` to an attribute name (a reserved word or a name chosen at run time).
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// An update that gives each of `attributes` the value it has in `item`, and removes
    /// those `item` lacks (a cleared field, an index key the item no longer carries).
    pub fn set_or_remove(item: &Item, attributes: &[&str]) -> Self {
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        for (at, attribute) in attributes.iter().enumerate() {
            if item.contains_key(*attribute) {
                sets.push(format!("#u{at} = :u{at}"));
            } else {
                removes.push(format!("#u{at}"));
            }
        }
        let mut text = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            text.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let mut update = Self::new(text);
        for (at, attribute) in attributes.iter().enumerate() {
            update = update.name(format!("#u{at}"), *attribute);
            if let Some(value) = item.get(*attribute) {
                update = update.value(format!(":u{at}"), value.clone());
            }
        }
        update
    }

    /// The same placeholders under another expression text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    /// Both conditions: `(self) AND (other)`, with the placeholders of both (each
    /// placeholder must mean the same in both).
    pub fn and(mut self, other: Expr) -> Self {
        self.text = format!("({}) AND ({})", self.text, other.text);
        self.names.extend(other.names);
        self.values.extend(other.values);
        self
    }

    /// Binds `:placeholder` to a value.
    pub fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    /// The request fields, each left unset when empty (DynamoDB rejects empty maps).
    fn parts(expression: Option<Expr>) -> (Option<String>, Option<Names>, Option<Values>) {
        match expression {
            Some(Expr {
                text,
                names,
                values,
            }) => (
                Some(text),
                Some(names).filter(|n| !n.is_empty()),
                Some(values).filter(|v| !v.is_empty()),
            ),
            None => (None, None, None),
        }
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

/// Adds the placeholders another expression of the same operation binds; binding one
/// placeholder to two different things is a bug, reported rather than silently resolved.
fn bind_all<V: PartialEq>(
    bound: &mut HashMap<String, V>,
    more: HashMap<String, V>,
) -> AppResult<()> {
    for (placeholder, value) in more {
        if bound.get(&placeholder).is_some_and(|old| *old != value) {
            return Err(AppError::internal(format!(
                "placeholder {placeholder} is bound twice"
            )));
        }
        bound.insert(placeholder, value);
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Builds the client from the standard AWS configuration chain (region, credentials,
    /// and `AWS_ENDPOINT_URL*` for the local stack).
    pub async fn from_environment(table: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::from_sdk_config(&config, table)
    }

    /// A store whose client counts its operations (see [`dynamodb_requests`]).
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(request_count::CountOperations)
            .build();
        Self::new(Client::from_conf(conf), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A TransactWriteItems with named conditions.
    pub fn transaction(&self) -> crate::table::transaction::Transaction<'_> {
        crate::table::transaction::Transaction::new(self)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether the table answers (the health check).
    pub async fn ping(&self) -> AppResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo_error)
    }

    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> AppResult<Option<T>> {
        self.get_item(key).await?.map(from_item).transpose()
    }

    /// GetItem, strongly consistent (a user reads their own writes). While the request
    /// has a [`Rider`] waiting, it is a BatchGetItem of the key and the rider's instead
    /// (one request, the same read units).
    pub async fn get_item(&self, key: &Key) -> AppResult<Option<Item>> {
        let rider_waiting = RIDER
            .try_with(|rider| rider.found.get().is_none())
            .unwrap_or(false);
        if rider_waiting {
            return Ok(self.batch_get_items(std::slice::from_ref(key)).await?.pop());
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error)?;
        Ok(output.item)
    }

    /// PutItem without a condition: for items that are simply replaced (preferences,
    /// presence, typing, tombstones).
    pub async fn put(&self, item: Item) -> AppResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo_error)
    }

    /// Puts an item if `condition` holds; a failure names the condition.
    pub async fn put_if(&self, item: Item, condition: Condition) -> Result<(), WriteError> {
        let (name, expr) = condition.into_parts();
        let (text, names, values) = Expr::parts(Some(expr));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(text)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| single_write_error(error, name))
    }

    /// Deletes an item (DeleteItem); deleting an absent item is a no-op.
    pub async fn delete(&self, key: &Key) -> AppResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo_error)
    }

    /// Deletes an item if `condition` holds; a failure names the condition.
    pub async fn delete_if(&self, key: &Key, condition: Condition) -> Result<(), WriteError> {
        let (name, expr) = condition.into_parts();
        let (text, names, values) = Expr::parts(Some(expr));
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .set_condition_expression(text)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| single_write_error(error, name))
    }

    /// UpdateItem with an update expression, optionally conditional; returns what
    /// `returning` asks for (`None` for [`Returning::Nothing`]). A failed condition is
    /// reported by its name.
    pub async fn update(
        &self,
        key: &Key,
        update: impl Into<Expr>,
        condition: Option<Condition>,
        returning: Returning,
    ) -> Result<Option<Item>, WriteError> {
        let mut update = update.into();
        let (name, condition) = match condition {
            Some(condition) => {
                let (name, expr) = condition.into_parts();
                bind_all(&mut update.names, expr.names)?;
                bind_all(&mut update.values, expr.values)?;
                (Some(name), Some(expr.text))
            }
            None => (None, None),
        };
        let (expression, names, values) = Expr::parts(Some(update));
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .set_update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(returning.into())
            .send()
            .await
            .map_err(|error| single_write_error(error, name.unwrap_or("unnamed")))?;
        Ok(match returning {
            Returning::Nothing => None,
            _ => output.attributes,
        })
    }

    /// Reads many items by key (chunks of 100, unprocessed keys retried). Missing items are
    /// skipped; order follows `keys`.
    pub async fn batch_get<T: DeserializeOwned>(&self, keys: &[Key]) -> AppResult<Vec<T>> {
        self.batch_get_items(keys)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// What BatchGetItem finds under each of `keys`, in their order (`None`: no item).
    pub async fn batch_get_each(&self, keys: &[Key]) -> AppResult<Vec<Option<Item>>> {
        let mut found: HashMap<(String, String), Item> = self
            .batch_get_items(keys)
            .await?
            .into_iter()
            .filter_map(|item| {
                let pk = item.get(PK)?.as_s().ok()?.clone();
                let sk = item.get(SK)?.as_s().ok()?.clone();
                Some(((pk, sk), item))
            })
            .collect();
        Ok(keys
            .iter()
            .map(|key| found.remove(&(key.pk.clone(), key.sk.clone())))
            .collect())
    }

    pub async fn batch_get_items(&self, keys: &[Key]) -> AppResult<Vec<Item>> {
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        // The request's rider (if any, and not read yet) joins the first batch.
        let rider = RIDER
            .try_with(std::sync::Arc::clone)
            .ok()
            .filter(|rider| rider.found.get().is_none());
        let with_rider: Vec<Key>;
        let keys_to_read = match &rider {
            Some(rider) => {
                with_rider = keys
                    .iter()
                    .cloned()
                    .chain(rider.keys.iter().filter(|k| !keys.contains(k)).cloned())
                    .collect();
                &with_rider[..]
            }
            None => keys,
        };
        for chunk in keys_to_read.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(Key::to_item).collect();
            for attempt in 0..8u32 {
                if pending.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(AppError::internal)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(dynamo_error)?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                        (item.get(PK), item.get(SK))
                    {
                        found.insert((pk.clone(), sk.clone()), item);
                    }
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                backoff(attempt, !pending.is_empty()).await;
            }
            if !pending.is_empty() {
                return Err(AppError::internal("batch get left unprocessed keys"));
            }
        }
        if let Some(rider) = rider {
            let riders = rider
                .keys
                .iter()
                .map(|key| found.get(&(key.pk.clone(), key.sk.clone())).cloned())
                .collect();
            // Another batch of the same request may have carried them already: same read.
            let _ = rider.found.set(riders);
        }
        Ok(keys
            .iter()
            .filter_map(|k| found.remove(&(k.pk.clone(), k.sk.clone())))
            .collect())
    }

    /// One page of a Query; returns the items and the key to continue from.
    pub async fn query(&self, query: &KeyQuery) -> AppResult<(Vec<Item>, Option<PageKey>)> {
        let (pk_attr, sk_attr) = match query.index {
            Some(index) => (index.pk(), index.sk()),
            None => (PK, SK),
        };
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|i| i.name().to_owned()))
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", AttributeValue::S(query.partition.clone()))
            .scan_index_forward(!query.newest_first)
            .set_consistent_read(query.consistent.then_some(true))
            .limit(i32::try_from(query.limit).unwrap_or(100))
            .set_exclusive_start_key(query.start.as_ref().map(page_key_to_item));
        request = match (&query.sort_prefix, &query.sort_between) {
            (_, Some((low, high))) => request
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone())),
            (Some(prefix), None) => request
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone())),
            (None, None) => request.key_condition_expression("#pk = :pk"),
        };
        if let Some(filter) = &query.filter {
            request = request.filter_expression(filter.text.clone());
            for (placeholder, attribute) in &filter.names {
                request = request.expression_attribute_names(placeholder, attribute);
            }
            for (placeholder, value) in &filter.values {
                request = request.expression_attribute_values(placeholder, value.clone());
            }
        }
        let output = request.send().await.map_err(dynamo_error)?;
        let next = output.last_evaluated_key.as_ref().map(item_to_page_key);
        Ok((output.items.unwrap_or_default(), next))
    }

    /// A Put for a TransactWriteItems, optionally conditional.
    pub fn put_op(&self, item: Item, condition: Option<Expr>) -> AppResult<TransactWriteItem> {
        let (condition, names, values) = Expr::parts(condition);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(AppError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A Delete for a TransactWriteItems, optionally conditional (deleting an absent item
    /// unconditionally is a no-op).
    pub fn delete_op(&self, key: &Key, condition: Option<Expr>) -> AppResult<TransactWriteItem> {
        let (condition, names, values) = Expr::parts(condition);
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(AppError::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A ConditionCheck for a TransactWriteItems: a condition on an item it does not write.
    pub fn check_op(&self, key: &Key, condition: impl Into<Expr>) -> AppResult<TransactWriteItem> {
        let (condition, names, values) = Expr::parts(Some(condition.into()));
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(AppError::internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// An Update for a TransactWriteItems, optionally conditional; the two expressions'
    /// placeholders are merged, as DynamoDB shares them across an operation.
    pub fn update_op(
        &self,
        key: &Key,
        update: impl Into<Expr>,
        condition: Option<Expr>,
    ) -> AppResult<TransactWriteItem> {
        let mut update = update.into();
        let condition = match condition {
            Some(condition) => {
                bind_all(&mut update.names, condition.names)?;
                bind_all(&mut update.values, condition.values)?;
                Some(condition.text)
            }
            None => None,
        };
        let (expression, names, values) = Expr::parts(Some(update));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .set_update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(AppError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Every item a Query matches (all pages): for exports, deletion and fan-out, never
    /// for lists.
    pub async fn query_matching(&self, mut query: KeyQuery) -> AppResult<Vec<Item>> {
        let mut items = Vec::new();
        loop {
            let (page, next) = self.query(&query).await?;
            items.extend(page);
            match next {
                Some(next) => query.start = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Every item of a partition (all pages).
    pub async fn query_all(&self, partition: &str) -> AppResult<Vec<Item>> {
        self.query_matching(KeyQuery::partition(partition).limit(500))
            .await
    }

    /// Deletes every base-table item a Query matches (all pages), e.g. a user's home feed
    /// or a target's edit history. Safe to repeat.
    pub async fn delete_matching(&self, query: KeyQuery) -> AppResult<()> {
        let doomed: Vec<Key> = self
            .query_matching(query)
            .await?
            .iter()
            .filter_map(|item| {
                let pk = item.get(PK)?.as_s().ok()?;
                let sk = item.get(SK)?.as_s().ok()?;
                Some(Key::new(pk.clone(), sk.clone()))
            })
            .collect();
        self.batch_delete(&doomed).await
    }

    /// Deletes items by key in chunks of 25, retrying unprocessed ones. Deleting an
    /// absent item is a no-op, so this is safe to repeat.
    pub async fn batch_delete(&self, keys: &[Key]) -> AppResult<()> {
        for chunk in keys.chunks(25) {
            let pending = chunk
                .iter()
                .map(|key| BatchWrite::Delete(key.clone()).into_request())
                .collect::<AppResult<Vec<_>>>()?;
            self.write_chunk(pending).await?;
        }
        Ok(())
    }

    /// Sends one BatchWriteItem chunk (at most 25 writes), retrying its unprocessed
    /// writes with backoff.
    async fn write_chunk(&self, mut pending: Vec<WriteRequest>) -> AppResult<()> {
        for attempt in 0..8u32 {
            if pending.is_empty() {
                return Ok(());
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await
                .map_err(dynamo_error)?;
            pending = output
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            backoff(attempt, !pending.is_empty()).await;
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(AppError::internal("batch write left unprocessed items"))
        }
    }

    /// Writes many items or deletes many keys (BatchWriteItem): chunks of 25 sent
    /// concurrently, unprocessed ones retried with backoff. Not atomic: for derived
    /// copies (feed entries) whose writes are idempotent.
    pub async fn batch_write(&self, writes: Vec<BatchWrite>) -> AppResult<()> {
        let requests = writes
            .into_iter()
            .map(BatchWrite::into_request)
            .collect::<AppResult<Vec<_>>>()?;
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in requests.chunks(25) {
            let store = self.clone();
            let pending = chunk.to_vec();
            tasks.spawn(async move { store.write_chunk(pending).await });
        }
        while let Some(result) = tasks.join_next().await {
            result.map_err(AppError::internal)??;
        }
        Ok(())
    }
}

/// DynamoDB operations made by this process so far. Functions serve one invocation at
/// a time, so the difference across an invocation is that invocation's count: the edge
/// logs it per request, which is how "every read is constant in data size" is measured.
pub fn dynamodb_requests() -> u64 {
    request_count::OPERATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

mod request_count {
    use std::sync::atomic::{AtomicU64, Ordering};

    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::interceptors::Intercept;
    use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
    use aws_smithy_types::config_bag::ConfigBag;

    pub(super) static OPERATIONS: AtomicU64 = AtomicU64::new(0);

    /// Counts operations (not retry attempts) before they are serialized.
    #[derive(Debug)]
    pub(super) struct CountOperations;

    impl Intercept for CountOperations {
        fn name(&self) -> &'static str {
            "CountOperations"
        }

        fn read_before_execution(
            &self,
            _context: &BeforeSerializationInterceptorContextRef<'_>,
            _config: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            OPERATIONS.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }
}

async fn backoff(attempt: u32, needed: bool) {
    if needed {
        tokio::time::sleep(std::time::Duration::from_millis(20u64 << attempt.min(6))).await;
    }
}

pub fn to_item<T: Serialize>(value: &T) -> AppResult<Item> {
    serde_dynamo::to_item(value).map_err(AppError::internal)
}

/// An item's sort key, when it has one.
pub fn sort_key(item: &Item) -> Option<&str> {
    item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Typed values out of a page of items.
pub fn from_items<T: DeserializeOwned>(items: Vec<Item>) -> AppResult<Vec<T>> {
    items.into_iter().map(from_item).collect()
}

/// One attribute value from a typed value (a list, a map), for an update expression.
pub fn to_attribute<T: Serialize>(value: &T) -> AppResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(AppError::internal)
}

/// Reads a typed value out of an item: an SDK item, or a stream image from a Lambda event.
pub fn from_item<T: DeserializeOwned>(item: impl Into<serde_dynamo::Item>) -> AppResult<T> {
    serde_dynamo::from_item(item).map_err(AppError::internal)
}

pub fn page_key_to_item(key: &PageKey) -> Item {
    key.iter()
        .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
        .collect()
}

pub fn item_to_page_key(item: &Item) -> PageKey {
    item.iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone())))
        .collect()
}

/// One write of a [`Store::batch_write`].
#[derive(Debug, Clone)]
pub enum BatchWrite {
    Put(Item),
    Delete(Key),
}

impl BatchWrite {
    fn into_request(self) -> AppResult<WriteRequest> {
        Ok(match self {
            Self::Put(item) => WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(AppError::internal)?,
                )
                .build(),
            Self::Delete(key) => WriteRequest::builder()
                .delete_request(
                    DeleteRequest::builder()
                        .set_key(Some(key.to_item()))
                        .build()
                        .map_err(AppError::internal)?,
                )
                .build(),
        })
    }
}

/// What an UpdateItem returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returning {
    Nothing,
    /// The whole item after the update.
    AllNew,
    /// The whole item before the update.
    AllOld,
}

impl From<Returning> for ReturnValue {
    fn from(returning: Returning) -> Self {
        match returning {
            Returning::Nothing => ReturnValue::None,
            Returning::AllNew => ReturnValue::AllNew,
            Returning::AllOld => ReturnValue::AllOld,
        }
    }
}

/// A single-item write's error: its failed condition by name, or the store's error.
fn single_write_error<E, R>(error: SdkError<E, R>, condition: &'static str) -> WriteError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if error.code() == Some("ConditionalCheckFailedException") {
        WriteError::ConditionsFailed(vec![condition])
    } else if error.code() == Some("TransactionConflictException") {
        // A transaction on the same item was under way.
        WriteError::Contended
    } else {
        WriteError::Store(dynamo_error(error))
    }
}

/// The one place a DynamoDB error becomes an [`AppError`]: a failed condition (alone or
/// inside a cancelled transaction) is a 409, throttling is a 429, anything else a 500
/// whose cause is logged at the edge.
pub fn dynamo_error<E, R>(error: SdkError<E, R>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some("ConditionalCheckFailedException") => {
            AppError::Conflict("the resource already exists or was changed concurrently".into())
        }
        Some("TransactionCanceledException")
            if error
                .message()
                .is_some_and(|m| m.contains("ConditionalCheckFailed")) =>
        {
            AppError::Conflict("the resource already exists or was changed concurrently".into())
        }
        Some("TransactionCanceledException") | Some("TransactionConflictException") => {
            AppError::Conflict("a concurrent request changed the same resource; retry".into())
        }
        Some("ProvisionedThroughputExceededException")
        | Some("ThrottlingException")
        | Some("RequestLimitExceeded") => AppError::RateLimited {
            retry_after_seconds: 1,
        },
        _ => AppError::Internal(format!(
            "dynamodb: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&error)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_key_round_trips_through_a_dynamodb_key() {
        let key = PageKey::from([
            ("PK".to_owned(), "USER#a".to_owned()),
            ("GSI1SK".to_owned(), "ana#a".to_owned()),
        ]);

        assert_eq!(item_to_page_key(&page_key_to_item(&key)), key);
    }

    fn offline_store() -> Store {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        Store::new(Client::from_conf(config), "agora")
    }

    #[test]
    fn a_plain_condition_sends_no_placeholder_maps() -> AppResult<()> {
        let op =
            offline_store().delete_op(&Key::new("A", "B"), Some("attribute_exists(PK)".into()))?;
        let delete = op.delete.ok_or_else(|| AppError::internal("no delete"))?;

        assert_eq!(
            delete.condition_expression.as_deref(),
            Some("attribute_exists(PK)")
        );
        assert_eq!(delete.expression_attribute_names, None);
        assert_eq!(delete.expression_attribute_values, None);
        Ok(())
    }

    #[test]
    fn an_update_carries_the_placeholders_of_both_expressions() -> AppResult<()> {
        let update = Expr::new("SET #n = :v")
            .name("#n", "n")
            .value(":v", AttributeValue::N("1".into()));
        let condition = Expr::new("#state = :s")
            .name("#state", "state")
            .value(":s", AttributeValue::S("x".into()));
        let op = offline_store().update_op(&Key::new("A", "B"), update, Some(condition))?;
        let update = op.update.ok_or_else(|| AppError::internal("no update"))?;

        assert_eq!(update.update_expression, "SET #n = :v");
        assert_eq!(update.condition_expression.as_deref(), Some("#state = :s"));
        assert_eq!(update.expression_attribute_names.map(|n| n.len()), Some(2));
        assert_eq!(update.expression_attribute_values.map(|v| v.len()), Some(2));
        Ok(())
    }

    #[test]
    fn a_placeholder_bound_to_two_values_is_refused() {
        let update = Expr::new("SET a = :v").value(":v", AttributeValue::N("1".into()));
        let condition = Expr::new("b = :v").value(":v", AttributeValue::N("2".into()));

        assert!(
            offline_store()
                .update_op(&Key::new("A", "B"), update, Some(condition))
                .is_err()
        );
    }

    #[test]
    fn index_key_attributes_follow_the_index_name() {
        assert_eq!(Index::Gsi2.name(), "GSI2");
        assert_eq!(Index::Gsi2.pk(), "GSI2PK");
        assert_eq!(Index::Gsi2.sk(), "GSI2SK");
    }
}
