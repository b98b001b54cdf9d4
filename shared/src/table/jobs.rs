//! The vocabulary of account jobs (erasure and export) that every context speaks: a
//! context declares its steps here, the `account` layer runs them in bounded chunks.
//!
//! A step does at most `limit` units of work per call and says where to continue: either
//! it is done, or it continues (optionally from a cursor it chose). Most erasure steps
//! *drain* a prefix of the user's partition: each call reads the first page of pointers,
//! erases what they point at, then deletes the pointers, so the next call starts from
//! the beginning again and needs no cursor; a repeated call (a redelivered chunk) finds
//! the same or fewer items and does no harm.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;

use crate::core::cursor::PageKey;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::table::store::{self, Expr, Item, Key, KeyQuery, Store, dynamo_error};

/// The user id that replaces a deleted user's id where others' items keep a reference
/// (e.g. the author of a wiped topic). `~` is refused by [`UserId::parse`], so no real
/// user can ever have it.
pub const ERASED_USER: &str = "~erased";

/// Erased text in items that stay (titles of wiped topics).
pub const ERASED_TEXT: &str = "[deleted]";

/// Where a step stands after one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Done,
    /// More to do; continue from this cursor (a drain continues from the start).
    Continue(Option<String>),
}

/// One call of an erasure step: how much it did and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub work: u32,
    pub next: Next,
}

impl Chunk {
    pub fn done(work: u32) -> Self {
        Self {
            work,
            next: Next::Done,
        }
    }
}

/// One call of an export step: the records it read (JSON objects, keys removed) and
/// where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportChunk {
    pub records: Vec<serde_json::Value>,
    pub next: Next,
}

pub type StepFuture<'a, T> = Pin<Box<dyn Future<Output = AppResult<T>> + Send + 'a>>;

/// An erasure step: `run(store, user, cursor, limit)` does at most about `limit` units
/// of work. Steps must be idempotent: a chunk may run twice.
#[derive(Clone, Copy)]
pub struct ErasureStep {
    pub name: &'static str,
    pub run: for<'a> fn(&'a Store, &'a UserId, Option<String>, u32) -> StepFuture<'a, Chunk>,
}

/// An export step: `run(store, user, cursor, limit)` reads at most about `limit` items.
#[derive(Clone, Copy)]
pub struct ExportStep {
    pub name: &'static str,
    pub run: for<'a> fn(&'a Store, &'a UserId, Option<String>, u32) -> StepFuture<'a, ExportChunk>,
}

/// What a context contributes to account erasure and export. A context that stores
/// nothing about a user says why in `nothing_because` (and lists no steps).
#[derive(Clone, Copy)]
pub struct AccountSteps {
    pub context: &'static str,
    pub erasure: &'static [ErasureStep],
    pub export: &'static [ExportStep],
    pub nothing_because: Option<&'static str>,
}

impl std::fmt::Debug for AccountSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSteps")
            .field("context", &self.context)
            .field(
                "erasure",
                &self.erasure.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .field(
                "export",
                &self.export.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Pointers handled concurrently within one chunk.
const CONCURRENCY: usize = 8;

/// A string attribute value.
pub fn text(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub fn number(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A boolean attribute value.
pub fn flag(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

/// A string list attribute value.
pub fn text_list<I: IntoIterator<Item = String>>(values: I) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(AttributeValue::S).collect())
}

/// A string attribute of an item.
pub fn attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The key of an item.
pub fn key_of(item: &Item) -> Option<Key> {
    Some(Key::new(attr(item, store::PK)?, attr(item, store::SK)?))
}

/// An item as a JSON record for an export: keys and index attributes removed.
pub fn export_record(item: Item) -> AppResult<serde_json::Value> {
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
        store::TTL_ATTRIBUTE,
    ] {
        value.remove(key);
    }
    Ok(serde_json::Value::Object(value))
}

/// Opaque cursors of steps are page keys as JSON.
pub fn encode_page_key(key: Option<PageKey>) -> AppResult<Option<String>> {
    key.map(|k| serde_json::to_string(&k).map_err(AppError::internal))
        .transpose()
}

pub fn decode_page_key(cursor: Option<&str>) -> AppResult<Option<PageKey>> {
    cursor
        .map(|c| serde_json::from_str(c).map_err(AppError::internal))
        .transpose()
}

impl Store {
    /// TransactWriteItems of parts built with `put_op`, `delete_op`, `update_op`, …
    pub async fn transact(
        &self,
        parts: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> AppResult<()> {
        self.client()
            .transact_write_items()
            .set_transact_items(Some(parts))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo_error)
    }

    /// UpdateItem under a condition: `Ok(false)` when the condition fails.
    pub async fn update_where(&self, key: &Key, update: Expr, condition: Expr) -> AppResult<bool> {
        let op = self.update_op(key, update, Some(condition))?;
        let Some(update) = op.update else {
            return Err(AppError::internal("update_op built no update"));
        };
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match dynamo_error(error) {
                AppError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Puts items in chunks of 25 (BatchWriteItem), retrying unprocessed ones: bulk
    /// writes of jobs and of test arrangements.
    pub async fn batch_put(&self, items: Vec<Item>) -> AppResult<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                        .map_err(AppError::internal)
                })
                .collect::<AppResult<_>>()?;
            for attempt in 0..8u32 {
                if pending.is_empty() {
                    break;
                }
                let output = self
                    .client()
                    .batch_write_item()
                    .request_items(self.table(), pending.clone())
                    .send()
                    .await
                    .map_err(dynamo_error)?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(self.table()))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
            }
            if !pending.is_empty() {
                return Err(AppError::internal("batch put left unprocessed items"));
            }
        }
        Ok(())
    }
}

/// Deletes the items under `prefixes` of `partition`, page by page ([`drain`] with
/// nothing else to erase or delete).
pub async fn delete_all(
    store: &Store,
    partition: &str,
    prefixes: &[&str],
    cursor: Option<String>,
    limit: u32,
) -> AppResult<Chunk> {
    drain(store, partition, prefixes, cursor, limit, |_| async {
        Ok(Vec::new())
    })
    .await
}

/// Drains pointers under `prefixes` of `partition`, in order: each call reads one page
/// (at most `limit`, ≤ 100) of the current prefix, runs `each` on every pointer (at most
/// [`CONCURRENCY`] at once; it erases what the pointer points at and returns further keys
/// to delete), then deletes the pointers and those keys. The cursor is the index of the
/// current prefix. A prefix is done when its first page comes back empty.
pub async fn drain<F, Fut>(
    store: &Store,
    partition: &str,
    prefixes: &[&str],
    cursor: Option<String>,
    limit: u32,
    each: F,
) -> AppResult<Chunk>
where
    F: Fn(Item) -> Fut,
    Fut: Future<Output = AppResult<Vec<Key>>>,
{
    let mut index: usize = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut work = 0u32;
    while let Some(prefix) = prefixes.get(index) {
        if work >= limit {
            return Ok(Chunk {
                work,
                next: Next::Continue(Some(index.to_string())),
            });
        }
        let page = (limit - work).clamp(1, 100);
        let mut query = KeyQuery::partition(partition).limit(page);
        if !prefix.is_empty() {
            query = query.prefix(*prefix);
        }
        let (items, _) = store.query(&query).await?;
        if items.is_empty() {
            index += 1;
            continue;
        }
        work += u32::try_from(items.len()).unwrap_or(u32::MAX);
        let mut doomed: Vec<Key> = items.iter().filter_map(key_of).collect();
        let each = &each;
        let extra: Vec<AppResult<Vec<Key>>> = futures_util::stream::iter(items)
            .map(each)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for keys in extra {
            doomed.extend(keys?);
        }
        let mut seen = std::collections::HashSet::new();
        doomed.retain(|key| seen.insert(key.clone()));
        store.batch_delete(&doomed).await?;
    }
    Ok(Chunk::done(work))
}

/// Reads one page of a query for an export step: the records and the cursor of the
/// next page.
pub async fn export_page(
    store: &Store,
    query: KeyQuery,
    cursor: Option<String>,
    keep: impl Fn(&Item) -> bool,
) -> AppResult<ExportChunk> {
    let query = query.start(decode_page_key(cursor.as_deref())?);
    let (items, next) = store.query(&query).await?;
    let records = items
        .into_iter()
        .filter(|item| keep(item))
        .map(export_record)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(ExportChunk {
        records,
        next: match next {
            Some(key) => Next::Continue(encode_page_key(Some(key))?),
            None => Next::Done,
        },
    })
}

/// One page of my items under `prefixes` of `partition` (in order), for export steps.
/// The cursor is `<prefix index>|<page key>`.
pub async fn page_of_prefixes(
    store: &Store,
    partition: &str,
    prefixes: &[&str],
    cursor: Option<String>,
    limit: u32,
) -> AppResult<(Vec<Item>, Next)> {
    let (mut index, mut start) = match cursor.as_deref().and_then(|c| c.split_once('|')) {
        Some((index, key)) => (
            index.parse::<usize>().map_err(AppError::internal)?,
            decode_page_key(Some(key).filter(|k| !k.is_empty()))?,
        ),
        None => (0, None),
    };
    while let Some(prefix) = prefixes.get(index) {
        let query = KeyQuery::partition(partition)
            .prefix(*prefix)
            .limit(limit.clamp(1, 500))
            .start(start.take());
        let (items, next) = store.query(&query).await?;
        if let Some(key) = next {
            let key = encode_page_key(Some(key))?.unwrap_or_default();
            return Ok((items, Next::Continue(Some(format!("{index}|{key}")))));
        }
        index += 1;
        if !items.is_empty() {
            let next = if index < prefixes.len() {
                Next::Continue(Some(format!("{index}|")))
            } else {
                Next::Done
            };
            return Ok((items, next));
        }
    }
    Ok((vec![], Next::Done))
}

/// An export step over my items under `prefixes`, exported as they are.
pub async fn export_prefixes(
    store: &Store,
    partition: &str,
    prefixes: &[&str],
    cursor: Option<String>,
    limit: u32,
) -> AppResult<ExportChunk> {
    let (items, next) = page_of_prefixes(store, partition, prefixes, cursor, limit).await?;
    let records = items
        .into_iter()
        .map(export_record)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(ExportChunk { records, next })
}

/// Like [`export_prefixes`], but each pointer is replaced by the item it points at
/// (`resolve` maps a pointer's sort key to that item's key; BatchGetItem reads them), so
/// the export holds what I wrote rather than pointers. A pointer `resolve` does not map
/// is exported as it is.
pub async fn export_pointed(
    store: &Store,
    partition: &str,
    prefixes: &[&str],
    cursor: Option<String>,
    limit: u32,
    resolve: impl Fn(&str) -> Option<Key>,
) -> AppResult<ExportChunk> {
    let (items, next) =
        page_of_prefixes(store, partition, prefixes, cursor, limit.min(100)).await?;
    let mut keys = Vec::new();
    let mut records = Vec::new();
    for item in items {
        match attr(&item, store::SK).and_then(&resolve) {
            Some(key) => keys.push(key),
            None => records.push(export_record(item)?),
        }
    }
    for item in store.batch_get_items(&keys).await? {
        records.push(export_record(item)?);
    }
    Ok(ExportChunk { records, next })
}

/// Replaces `user` by [`ERASED_USER`] in the named attributes of every item a Query
/// matches (all pages), each with UpdateItem `SET a = :nobody` if `a = :me` (so a
/// repeat changes nothing). Returns how many items it changed.
pub async fn anonymize_matching(
    store: &Store,
    query: KeyQuery,
    attributes: &[&str],
    user: &UserId,
) -> AppResult<u32> {
    let mut changed = 0;
    for item in store.query_matching(query).await? {
        let Some(key) = key_of(&item) else {
            continue;
        };
        for attribute in attributes {
            if attr(&item, attribute) != Some(user.as_str()) {
                continue;
            }
            let done = store
                .update_where(
                    &key,
                    Expr::new("SET #a = :nobody")
                        .name("#a", *attribute)
                        .value(":nobody", text(ERASED_USER)),
                    Expr::new("#a = :me")
                        .name("#a", *attribute)
                        .value(":me", text(user.as_str())),
                )
                .await?;
            changed += u32::from(done);
        }
    }
    Ok(changed)
}
