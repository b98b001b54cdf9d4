//! One reader per DynamoDB stream, shared by every event-source mapping on it.
//!
//! Lambda's pollers read a shard once per mapping; against moto that multiplies the
//! stream work by the number of stream functions, all on moto's single Python thread.
//! Here each shard is fetched from moto at most once per poll interval, whatever the
//! number of mappings, and the converted records are kept until every mapping reading
//! the shard has taken them. Each mapping still keeps its own position, batches,
//! filters, retries and checkpoints (in `pumps`), so the semantics are Lambda's.
//!
//! A mapping that needs records the cache already dropped (one started late at
//! `TRIM_HORIZON`) reads them from moto itself until it catches up with the cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::pumps::uuid;

/// Most records one `GetRecords` returns (DynamoDB's own maximum).
const FETCH_LIMIT: i32 = 1000;

/// A stream record in Lambda's event form, with what the pump needs to batch it.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence_number: String,
    pub arrival: OffsetDateTime,
    /// The record exactly as it goes into Lambda's event.
    pub event: Value,
}

/// The stream readers of a stack, one per stream ARN.
#[derive(Debug, Default)]
pub struct StreamReaders {
    readers: Mutex<HashMap<String, Arc<StreamReader>>>,
}

impl StreamReaders {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The reader of `stream_arn`, created on first use. `freshness`: how long a fetch
    /// that found nothing new answers other mappings before moto is asked again.
    pub fn reader(
        &self,
        client: &aws_sdk_dynamodbstreams::Client,
        stream_arn: &str,
        region: &str,
        freshness: Duration,
    ) -> Arc<StreamReader> {
        lock(&self.readers)
            .entry(stream_arn.to_owned())
            .or_insert_with(|| {
                Arc::new(StreamReader {
                    client: client.clone(),
                    stream_arn: stream_arn.to_owned(),
                    region: region.to_owned(),
                    freshness,
                    shards: Mutex::new(HashMap::new()),
                })
            })
            .clone()
    }
}

/// Reads the shards of one stream for all its mappings.
#[derive(Debug)]
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    region: String,
    freshness: Duration,
    shards: Mutex<HashMap<String, Arc<SharedShard>>>,
}

#[derive(Debug, Default)]
struct SharedShard {
    /// Held while fetching from moto, so concurrent readers fetch once.
    fetching: tokio::sync::Mutex<()>,
    cache: Mutex<ShardCache>,
}

#[derive(Debug, Default)]
struct ShardCache {
    /// Fetched records no registered cursor has taken yet, oldest first.
    records: VecDeque<StreamRecord>,
    /// The last record fetched from moto.
    fetched_through: Option<String>,
    /// The last record dropped from `records`; older ones are only in moto.
    dropped_through: Option<String>,
    fetched_at: Option<Instant>,
    /// moto gave no next iterator: the shard holds nothing more.
    closed: bool,
    /// Each cursor's position: the last record it took (`None`: none yet).
    cursors: HashMap<u64, Option<String>>,
    next_cursor: u64,
}

impl ShardCache {
    /// Drops the records every cursor has taken.
    fn trim(&mut self) {
        let Some(lowest) = self.lowest_position() else {
            return;
        };
        while self
            .records
            .front()
            .is_some_and(|r| sequence_cmp(&r.sequence_number, &lowest).is_le())
        {
            if let Some(record) = self.records.pop_front() {
                self.dropped_through = Some(record.sequence_number);
            }
        }
    }

    /// The lowest cursor position, or `None` when some cursor has taken nothing yet
    /// (or there are no cursors: the next one may start at the horizon).
    fn lowest_position(&self) -> Option<String> {
        let mut lowest: Option<&String> = None;
        for position in self.cursors.values() {
            let position = position.as_ref()?;
            if lowest.is_none_or(|l| sequence_cmp(position, l).is_lt()) {
                lowest = Some(position);
            }
        }
        lowest.cloned()
    }

    /// Whether a cursor at `position` needs records the cache has dropped.
    fn behind(&self, position: Option<&String>) -> bool {
        match (&self.dropped_through, position) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(dropped), Some(position)) => sequence_cmp(position, dropped).is_lt(),
        }
    }

    /// Up to `limit` cached records after `position`.
    fn after(&self, position: Option<&String>, limit: usize) -> Vec<StreamRecord> {
        self.records
            .iter()
            .filter(|r| position.is_none_or(|p| sequence_cmp(&r.sequence_number, p).is_gt()))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// What one read of a cursor gave.
#[derive(Debug)]
pub struct ShardRead {
    /// New records, in shard order.
    pub records: Vec<StreamRecord>,
    /// The shard is closed and this cursor has read all of it.
    pub closed: bool,
}

impl StreamReader {
    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// A cursor on `shard_id` starting at `start` (`TRIM_HORIZON` or `LATEST`).
    pub fn open(self: &Arc<Self>, shard_id: &str, start: ShardIteratorType) -> ShardCursor {
        let shard = lock(&self.shards)
            .entry(shard_id.to_owned())
            .or_default()
            .clone();
        let id = {
            let mut cache = lock(&shard.cache);
            let id = cache.next_cursor;
            cache.next_cursor += 1;
            cache.cursors.insert(id, None);
            id
        };
        ShardCursor {
            reader: Arc::clone(self),
            shard_id: shard_id.to_owned(),
            shard,
            id,
            position: None,
            at_latest: start == ShardIteratorType::Latest,
        }
    }

    /// `GetShardIterator` after `after` (or from the horizon) and one `GetRecords`.
    /// Every fetch takes a fresh iterator: moto binds an iterator to the shard object,
    /// which a restored table replaces, and AWS iterators expire after 15 minutes.
    async fn fetch(
        &self,
        shard_id: &str,
        after: Option<&String>,
    ) -> anyhow::Result<(Vec<StreamRecord>, bool)> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id);
        let request = match after {
            Some(sequence_number) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence_number),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = request.send().await.map_err(|e| {
            anyhow::anyhow!("{}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(e))
        })?;
        let iterator = out
            .shard_iterator()
            .ok_or_else(|| anyhow::anyhow!("no shard iterator for {shard_id}"))?;
        let out = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(FETCH_LIMIT)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("{}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(e))
            })?;
        let records = out
            .records()
            .iter()
            .filter_map(|r| self.convert(r))
            // Never hand out a record twice, whatever the iterator returned.
            .filter(|r| after.is_none_or(|a| sequence_cmp(&r.sequence_number, a).is_gt()))
            .collect();
        Ok((records, out.next_shard_iterator().is_none()))
    }

    /// The record in Lambda's DynamoDB event form.
    fn convert(&self, record: &aws_sdk_dynamodbstreams::types::Record) -> Option<StreamRecord> {
        let change = record.dynamodb()?;
        let sequence_number = change.sequence_number()?.to_owned();
        let arrival = change
            .approximate_creation_date_time()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
            .unwrap_or_else(OffsetDateTime::now_utc);
        let mut dynamodb = Map::new();
        dynamodb.insert(
            "ApproximateCreationDateTime".into(),
            json!(arrival.unix_timestamp()),
        );
        dynamodb.insert("Keys".into(), image_json(change.keys()));
        if let Some(image) = change.new_image() {
            dynamodb.insert("NewImage".into(), image_json(Some(image)));
        }
        if let Some(image) = change.old_image() {
            dynamodb.insert("OldImage".into(), image_json(Some(image)));
        }
        dynamodb.insert("SequenceNumber".into(), json!(sequence_number));
        dynamodb.insert("SizeBytes".into(), json!(change.size_bytes().unwrap_or(0)));
        if let Some(view) = change.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
        let mut event = Map::new();
        event.insert(
            "eventID".into(),
            json!(record.event_id().map(str::to_owned).unwrap_or_else(uuid)),
        );
        event.insert(
            "eventName".into(),
            json!(record.event_name().map(|n| n.as_str()).unwrap_or("MODIFY")),
        );
        event.insert("eventVersion".into(), json!("1.1"));
        event.insert("eventSource".into(), json!("aws:dynamodb"));
        event.insert("awsRegion".into(), json!(self.region));
        event.insert("dynamodb".into(), Value::Object(dynamodb));
        event.insert("eventSourceARN".into(), json!(self.stream_arn));
        if let Some(identity) = record.user_identity() {
            // TTL deletions carry the DynamoDB service as their principal.
            event.insert(
                "userIdentity".into(),
                json!({ "type": identity.r#type(), "principalId": identity.principal_id() }),
            );
        }
        Some(StreamRecord {
            sequence_number,
            arrival,
            event: Value::Object(event),
        })
    }
}

/// One mapping's position in a shard. Dropping it lets the cache forget what only it
/// still needed.
#[derive(Debug)]
pub struct ShardCursor {
    reader: Arc<StreamReader>,
    shard_id: String,
    shard: Arc<SharedShard>,
    id: u64,
    /// The last record this cursor took.
    position: Option<String>,
    /// Started at `LATEST` and not yet placed at the shard's end.
    at_latest: bool,
}

impl Drop for ShardCursor {
    fn drop(&mut self) {
        let mut cache = lock(&self.shard.cache);
        cache.cursors.remove(&self.id);
        cache.trim();
    }
}

impl ShardCursor {
    /// Up to `limit` records after this cursor's position, fetching from moto when the
    /// cache has nothing newer and its last fetch is older than the reader's freshness.
    pub async fn read(&mut self, limit: usize) -> anyhow::Result<ShardRead> {
        if self.at_latest {
            self.place_at_end().await?;
        }
        if lock(&self.shard.cache).behind(self.position.as_ref()) {
            // Records the cache dropped before this cursor took them: straight from moto.
            let (records, closed) = self
                .reader
                .fetch(&self.shard_id, self.position.as_ref())
                .await?;
            let records: Vec<StreamRecord> = records.into_iter().take(limit).collect();
            self.advance(&records);
            return Ok(ShardRead {
                closed: closed && records.is_empty(),
                records,
            });
        }
        if let Some(read) = self.take_cached(limit) {
            return Ok(read);
        }
        let shard = Arc::clone(&self.shard);
        let _fetching = shard.fetching.lock().await;
        // Another cursor may have fetched while this one waited.
        if let Some(read) = self.take_cached(limit) {
            return Ok(read);
        }
        let (after, fresh) = {
            let cache = lock(&self.shard.cache);
            let fresh = cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.reader.freshness);
            (cache.fetched_through.clone(), fresh)
        };
        if !fresh {
            self.fetch_into_cache(after).await?;
        }
        Ok(self.take_cached(limit).unwrap_or(ShardRead {
            records: Vec::new(),
            closed: lock(&self.shard.cache).closed,
        }))
    }

    /// Cached records after this cursor's position, if there are any.
    fn take_cached(&mut self, limit: usize) -> Option<ShardRead> {
        let records = lock(&self.shard.cache).after(self.position.as_ref(), limit);
        if records.is_empty() {
            return None;
        }
        self.advance(&records);
        Some(ShardRead {
            records,
            closed: false,
        })
    }

    /// Appends one fetch after `after` to the cache (the caller holds `fetching`).
    async fn fetch_into_cache(&self, after: Option<String>) -> anyhow::Result<usize> {
        let (records, closed) = self.reader.fetch(&self.shard_id, after.as_ref()).await?;
        let count = records.len();
        let mut cache = lock(&self.shard.cache);
        if let Some(last) = records.last() {
            cache.fetched_through = Some(last.sequence_number.clone());
        }
        cache.records.extend(records);
        cache.fetched_at = Some(Instant::now());
        cache.closed = closed;
        Ok(count)
    }

    /// A `LATEST` cursor starts after the last record in the shard now: fetch until a
    /// page comes back short (moto had no more at that moment), then take the cache's
    /// end as the position.
    async fn place_at_end(&mut self) -> anyhow::Result<()> {
        let shard = Arc::clone(&self.shard);
        let _fetching = shard.fetching.lock().await;
        loop {
            let after = lock(&self.shard.cache).fetched_through.clone();
            if self.fetch_into_cache(after).await? < FETCH_LIMIT as usize {
                break;
            }
        }
        let end = lock(&self.shard.cache).fetched_through.clone();
        if let Some(end) = end {
            self.set_position(end);
        }
        self.at_latest = false;
        Ok(())
    }

    fn advance(&mut self, records: &[StreamRecord]) {
        if let Some(last) = records.last() {
            self.set_position(last.sequence_number.clone());
        }
    }

    fn set_position(&mut self, sequence_number: String) {
        self.position = Some(sequence_number.clone());
        let mut cache = lock(&self.shard.cache);
        cache.cursors.insert(self.id, Some(sequence_number));
        cache.trim();
    }
}

/// A poisoned lock only means another task panicked mid-update of plain data; the
/// cache stays usable (at worst a record is fetched again and filtered as seen).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Orders sequence numbers numerically (they exceed 64 bits).
pub fn sequence_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => (a.len(), a).cmp(&(b.len(), b)),
    }
}

fn image_json(image: Option<&HashMap<String, AttributeValue>>) -> Value {
    let mut out = Map::new();
    if let Some(image) = image {
        for (name, value) in image {
            out.insert(name.clone(), attribute_json(value));
        }
    }
    Value::Object(out)
}

/// An attribute value in DynamoDB JSON, as stream events carry it.
fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Ss(items) => json!({ "SS": items }),
        AttributeValue::Ns(items) => json!({ "NS": items }),
        AttributeValue::Bs(items) => {
            json!({ "BS": items.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::M(fields) => json!({ "M": image_json(Some(fields)) }),
        AttributeValue::L(items) => {
            json!({ "L": items.iter().map(attribute_json).collect::<Vec<_>>() })
        }
        AttributeValue::Null(is_null) => json!({ "NULL": is_null }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        _ => Value::Null,
    }
}
