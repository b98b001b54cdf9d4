//! Lambda event-source mappings against moto: a DynamoDB stream pump and an SQS pump.
//!
//! Both read their source through the AWS SDK (pointed at moto), build the exact event
//! Lambda builds, call the function through [`Invoke`] and then do what Lambda does with
//! the outcome:
//!
//! [`StreamPump`] (DynamoDB Streams; each shard in its own task, parents before children;
//! the records come from the stream's shared [`StreamReader`], which reads each shard
//! from moto once for every mapping on the stream):
//! - records of a shard are delivered in order, in batches of at most `BatchSize`,
//!   waiting up to `MaximumBatchingWindowInSeconds` to fill a batch;
//! - `FilterCriteria` patterns are applied (see [`matches_filters`]); records that match
//!   no pattern are skipped as processed, as in Lambda;
//! - with `ReportBatchItemFailures`, `{"batchItemFailures":[{"itemIdentifier": seq}]}`
//!   checkpoints the records before the lowest failed one and retries from it; an
//!   invalid identifier fails the whole batch;
//! - a function error retries the batch, split in two first when
//!   `BisectBatchOnFunctionError` (down to single records; a split is not a retry);
//! - failures are counted per record (the first record of the failing batch); after
//!   `MaximumRetryAttempts` retries, or once a record is older than
//!   `MaximumRecordAgeInSeconds` (`-1`: the stream's 24 h retention), Lambda's on-failure
//!   record goes to the on-failure SQS queue (when configured) and the shard moves past
//!   the batch, so a shard is never blocked for good.
//!
//! [`SqsPump`] (long polling, one poller):
//! - batches of at most `BatchSize` (several receives within the batching window when
//!   `BatchSize` > 10), Lambda's SQS event;
//! - success deletes the batch; with `ReportBatchItemFailures` all but the listed
//!   `messageId`s are deleted (an invalid identifier fails the whole batch); a function
//!   error deletes nothing; messages that match no filter are deleted unprocessed;
//! - failed messages become visible again after
//!   [`PumpOptions::sqs_retry_visibility`] (or the queue's own visibility timeout), and
//!   the queue's `RedrivePolicy` moves a message to its dead-letter queue once it was
//!   received `maxReceiveCount` times: moto does that on receive, as SQS does (checked by
//!   the tests), so the pump does not re-implement it.
//!
//! - `ParallelizationFactor` (N > 1): the shard's records are dealt out to N lanes by a
//!   hash of their partition key (the table's hash key), and each lane batches, invokes,
//!   retries, bisects and gives up on its own, concurrently with the others; a partition
//!   key's records stay in order, and one key's failing record holds back only its lane.
//!
//! Not emulated: tumbling windows, FIFO message-group blocking, the 6 MB payload cap,
//! and scaling to several concurrent SQS pollers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName,
};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::model::{Invoke, InvokeError, SqsSourceSpec, StreamSourceSpec};
use crate::stream_reader::{ShardCursor, StreamReader, StreamReaders, StreamRecord};

/// Timing knobs of the pumps; the defaults suit an interactive local stack, tests
/// shorten them.
#[derive(Debug, Clone)]
pub struct PumpOptions {
    /// Pause between polls of a shard that had nothing new (Lambda polls ~4 times/s).
    pub poll_interval: Duration,
    /// Pause before retrying a failed stream batch or after an SDK error.
    pub retry_backoff: Duration,
    /// How often a stream's shard list is re-read to find new (child) shards.
    pub shard_discovery_interval: Duration,
    /// SQS long-poll wait per receive (whole seconds, at most 20).
    pub sqs_wait_time: Duration,
    /// Visibility timeout given to SQS messages whose processing failed, so they come
    /// back soon; `None` leaves the queue's own visibility timeout, as Lambda does.
    pub sqs_retry_visibility: Option<Duration>,
    /// Runs every schedule at this period instead of its own rate (tests compress a
    /// minute into a second or two); `None` keeps the template's rate.
    pub schedule_period: Option<Duration>,
}

impl Default for PumpOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            retry_backoff: Duration::from_millis(500),
            shard_discovery_interval: Duration::from_secs(5),
            sqs_wait_time: Duration::from_secs(1),
            sqs_retry_visibility: Some(Duration::from_secs(1)),
            schedule_period: None,
        }
    }
}

/// A running pump.
pub struct PumpHandle {
    name: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PumpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PumpHandle")
            .field("name", &self.name)
            .field("finished", &self.task.is_finished())
            .finish()
    }
}

impl PumpHandle {
    /// `<function logical id>/<event source name>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops polling; a batch being invoked is given 5 s to finish, then abandoned
    /// (its records are delivered again by the next pump, as after a Lambda restart).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(pump = %self.name, "pump did not stop in time; aborting it");
            self.task.abort();
        }
    }
}

/// What a [`StreamPump`] needs beyond the template's event source.
#[derive(Debug, Clone)]
pub struct StreamPumpConfig {
    pub function_logical_id: String,
    /// `requestContext.functionArn` of on-failure records.
    pub function_arn: String,
    pub region: String,
    pub source: StreamSourceSpec,
    /// Physical name of the table whose latest stream is read.
    pub table_name: String,
    /// Physical name of the on-failure destination queue, if any.
    pub on_failure_queue_name: Option<String>,
    pub options: PumpOptions,
}

/// A DynamoDB Streams event-source mapping.
#[derive(Debug)]
pub struct StreamPump;

impl StreamPump {
    /// Resolves the table's stream and the on-failure queue (failing fast when either is
    /// missing) and starts polling.
    pub async fn spawn(
        sdk: &aws_config::SdkConfig,
        readers: &StreamReaders,
        invoker: Arc<dyn Invoke>,
        config: StreamPumpConfig,
    ) -> anyhow::Result<PumpHandle> {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let table = dynamodb
            .describe_table()
            .table_name(&config.table_name)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "describing table {}: {}",
                    config.table_name,
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?;
        let stream_arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| anyhow::anyhow!("table {} has no stream", config.table_name))?
            .to_owned();
        let partition_key = table
            .table()
            .map(|t| t.key_schema())
            .unwrap_or_default()
            .iter()
            .find(|k| k.key_type() == &aws_sdk_dynamodb::types::KeyType::Hash)
            .map(|k| k.attribute_name().to_owned())
            .ok_or_else(|| anyhow::anyhow!("table {} has no hash key", config.table_name))?;
        let on_failure_queue_url = match &config.on_failure_queue_name {
            Some(name) => Some(queue_url(&sqs, name).await?),
            None => None,
        };
        let name = format!("{}/{}", config.function_logical_id, config.source.name);
        let (stop, stopped) = watch::channel(false);
        let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
        let reader = readers.reader(
            &streams,
            &stream_arn,
            &config.region,
            config.options.poll_interval,
        );
        let ctx = Arc::new(StreamCtx {
            name: name.clone(),
            streams,
            reader,
            sqs,
            invoker,
            on_failure_queue_url,
            partition_key,
            stop: StopSignal(stopped),
            config,
        });
        tracing::info!(pump = %name, stream = %ctx.reader.stream_arn(), "stream pump started");
        let task = tokio::spawn(run_stream(ctx));
        Ok(PumpHandle { name, stop, task })
    }
}

struct StreamCtx {
    name: String,
    streams: aws_sdk_dynamodbstreams::Client,
    reader: Arc<StreamReader>,
    sqs: aws_sdk_sqs::Client,
    invoker: Arc<dyn Invoke>,
    on_failure_queue_url: Option<String>,
    /// The table's hash key attribute: what `ParallelizationFactor` lanes are keyed by.
    partition_key: String,
    stop: StopSignal,
    config: StreamPumpConfig,
}

impl StreamCtx {
    fn stopping(&self) -> bool {
        self.stop.is_set()
    }

    async fn pause(&self, duration: Duration) -> bool {
        self.stop.pause(duration).await
    }
}

/// A pump's view of its [`PumpHandle::shutdown`].
#[derive(Clone)]
struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the pump is stopping.
    async fn wait(&self) {
        let mut stop = self.0.clone();
        let _ = stop.wait_for(|stopping| *stopping).await;
    }

    /// Sleeps, returning `false` early when the pump is stopping.
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => !self.is_set(),
            _ = self.wait() => false,
        }
    }
}

/// The coordinator: finds shards and runs one task per shard, children after parents.
async fn run_stream(ctx: Arc<StreamCtx>) {
    let mut started: HashSet<String> = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut workers: JoinSet<String> = JoinSet::new();
    let mut first_pass = true;
    loop {
        match describe_shards(&ctx).await {
            Ok(shards) => {
                let known: HashSet<&str> = shards.iter().map(|(id, _)| id.as_str()).collect();
                for (shard_id, parent) in &shards {
                    if started.contains(shard_id) {
                        continue;
                    }
                    let parent_done = match parent {
                        None => true,
                        Some(parent) => {
                            finished.contains(parent)
                                || (!known.contains(parent.as_str()) && !started.contains(parent))
                        }
                    };
                    if !parent_done {
                        continue;
                    }
                    // Only the shards open when the mapping starts begin at LATEST; later
                    // (child) shards hold only new records and are read from their start.
                    let start = if first_pass
                        && ctx
                            .config
                            .source
                            .starting_position
                            .eq_ignore_ascii_case("LATEST")
                    {
                        ShardIteratorType::Latest
                    } else {
                        ShardIteratorType::TrimHorizon
                    };
                    started.insert(shard_id.clone());
                    let worker_ctx = ctx.clone();
                    let shard = shard_id.clone();
                    workers.spawn(async move {
                        run_shard(worker_ctx, shard.clone(), start).await;
                        shard
                    });
                }
                first_pass = false;
            }
            Err(error) => {
                tracing::warn!(pump = %ctx.name, %error, "describing the stream failed");
            }
        }
        tokio::select! {
            _ = ctx.stop.wait() => {
                workers.shutdown().await;
                return;
            }
            Some(done) = workers.join_next(), if !workers.is_empty() => {
                // A finished parent may unblock its children: look again right away.
                if let Ok(shard) = done {
                    tracing::debug!(pump = %ctx.name, %shard, "shard finished");
                    finished.insert(shard);
                }
            }
            _ = tokio::time::sleep(ctx.config.options.shard_discovery_interval) => {}
        }
    }
}

async fn describe_shards(ctx: &StreamCtx) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = ctx
            .streams
            .describe_stream()
            .stream_arn(ctx.reader.stream_arn())
            .set_exclusive_start_shard_id(start.clone())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("{}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(e))
            })?;
        let Some(description) = out.stream_description() else {
            break;
        };
        for shard in description.shards() {
            if let Some(id) = shard.shard_id() {
                shards.push((id.to_owned(), shard.parent_shard_id().map(str::to_owned)));
            }
        }
        match description.last_evaluated_shard_id() {
            Some(last) if start.as_deref() != Some(last) => start = Some(last.to_owned()),
            _ => break,
        }
    }
    Ok(shards)
}

/// A stream record read from a shard and not yet checkpointed.
type PendingRecord = StreamRecord;

/// Records taken from the shared reader per read (a `GetRecords` page).
const READ_LIMIT: usize = 1000;

/// Why a batch is given up.
enum Discard {
    RetriesExhausted { function_error: bool },
    RecordAgeExceeded,
}

/// Reads one shard: a single worker, or with a `ParallelizationFactor` of N, a dealer
/// and N lane workers. Returns once the shard is closed and fully processed.
async fn run_shard(ctx: Arc<StreamCtx>, shard_id: String, start: ShardIteratorType) {
    let cursor = ctx.reader.open(&shard_id, start);
    let factor = usize::try_from(ctx.config.source.parallelization_factor.max(1)).unwrap_or(1);
    if factor == 1 {
        ShardWorker::new(ctx, shard_id, Source::Cursor(cursor))
            .run()
            .await;
        return;
    }
    let mut lanes = JoinSet::new();
    let mut senders = Vec::with_capacity(factor);
    for lane in 0..factor {
        let (sender, receiver) = mpsc::unbounded_channel();
        senders.push(sender);
        let worker = ShardWorker::new(
            ctx.clone(),
            shard_id.clone(),
            Source::Lane { lane, receiver },
        );
        lanes.spawn(worker.run());
    }
    deal(&ctx, &shard_id, cursor, senders).await;
    while lanes.join_next().await.is_some() {}
}

/// Deals a shard's records out to lanes by their partition key until the shard is
/// closed (dropping the senders then tells each lane that nothing more comes).
async fn deal(
    ctx: &StreamCtx,
    shard_id: &str,
    mut cursor: ShardCursor,
    lanes: Vec<mpsc::UnboundedSender<StreamRecord>>,
) {
    let options = &ctx.config.options;
    while !ctx.stopping() {
        match cursor.read(READ_LIMIT).await {
            Ok(read) => {
                let idle = read.records.is_empty();
                for record in read.records {
                    let lane = lane_of(&record.event, &ctx.partition_key, lanes.len());
                    if lanes[lane].send(record).is_err() {
                        // A lane only stops when the pump does.
                        return;
                    }
                }
                if read.closed {
                    return;
                }
                if idle && !ctx.pause(options.poll_interval).await {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(pump = %ctx.name, shard = %shard_id, %error, "reading the shard failed");
                if !ctx.pause(options.retry_backoff).await {
                    return;
                }
            }
        }
    }
}

/// The lane of a stream record: a stable hash (FNV-1a) of its partition key's value.
fn lane_of(event: &Value, partition_key: &str, lanes: usize) -> usize {
    let key = event["dynamodb"]["Keys"][partition_key].to_string();
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    usize::try_from(hash % lanes.max(1) as u64).unwrap_or(0)
}

/// Where a worker's records come from.
enum Source {
    /// The shard itself (no parallelization).
    Cursor(ShardCursor),
    /// One lane of a parallelized shard.
    Lane {
        lane: usize,
        receiver: mpsc::UnboundedReceiver<StreamRecord>,
    },
}

struct ShardWorker {
    ctx: Arc<StreamCtx>,
    shard_id: String,
    source: Source,
    /// The shard has no further records (`NextShardIterator` absent).
    closed: bool,
    pending: VecDeque<PendingRecord>,
    /// Since when the first pending record waits for a batch to fill.
    filling_since: Option<Instant>,
    /// Sizes of the sub-batches still to run after a bisection, front first.
    plan: VecDeque<usize>,
    /// Failed invocations counted against a record (as the first of a failing batch).
    failures: HashMap<String, u32>,
}

impl ShardWorker {
    fn new(ctx: Arc<StreamCtx>, shard_id: String, source: Source) -> Self {
        Self {
            ctx,
            shard_id,
            source,
            closed: false,
            pending: VecDeque::new(),
            filling_since: None,
            plan: VecDeque::new(),
            failures: HashMap::new(),
        }
    }

    fn batch_size(&self) -> usize {
        usize::try_from(self.ctx.config.source.batch_size.max(1)).unwrap_or(1)
    }

    async fn run(mut self) {
        let options = self.ctx.config.options.clone();
        while !self.ctx.stopping() {
            let mut read_something = false;
            if !self.closed && self.pending.len() < self.batch_size() {
                match self.read().await {
                    Ok(count) => read_something = count > 0,
                    Err(error) => {
                        tracing::warn!(pump = %self.ctx.name, shard = %self.shard_id, %error, "reading the shard failed");
                        if !self.ctx.pause(options.retry_backoff).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            if self.pending.is_empty() {
                self.filling_since = None;
                if self.closed {
                    tracing::debug!(pump = %self.ctx.name, shard = %self.shard_id, "shard closed and drained");
                    return;
                }
                if !self.idle(options.poll_interval).await {
                    return;
                }
                continue;
            }
            let since = *self.filling_since.get_or_insert_with(Instant::now);
            let window = Duration::from_secs(u64::from(
                self.ctx.config.source.maximum_batching_window_seconds,
            ));
            let retrying = self
                .pending
                .front()
                .is_some_and(|r| self.failures.contains_key(&r.sequence_number))
                || !self.plan.is_empty();
            if self.pending.len() < self.batch_size()
                && !self.closed
                && !retrying
                && since.elapsed() < window
            {
                if read_something {
                    continue;
                }
                let wait = options
                    .poll_interval
                    .min(window.saturating_sub(since.elapsed()));
                if !self.ctx.pause(wait).await {
                    return;
                }
                continue;
            }
            if self.discard_expired().await {
                continue;
            }
            let failed = self.process_batch().await;
            if self.pending.is_empty() {
                self.filling_since = None;
            }
            if failed && !self.ctx.pause(options.retry_backoff).await {
                return;
            }
        }
    }

    /// Takes the next records from the shared reader (or the lane); returns how many
    /// were appended.
    async fn read(&mut self) -> anyhow::Result<usize> {
        match &mut self.source {
            Source::Cursor(cursor) => {
                let read = cursor.read(READ_LIMIT).await?;
                self.closed = read.closed;
                let appended = read.records.len();
                self.pending.extend(read.records);
                Ok(appended)
            }
            Source::Lane { receiver, .. } => {
                let mut appended = 0;
                while appended < READ_LIMIT {
                    match receiver.try_recv() {
                        Ok(record) => {
                            self.pending.push_back(record);
                            appended += 1;
                        }
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            self.closed = true;
                            break;
                        }
                    }
                }
                Ok(appended)
            }
        }
    }

    /// Waits for records with nothing pending: a poll interval on the shard, or until
    /// the dealer hands the lane a record. `false` when the pump is stopping.
    async fn idle(&mut self, poll_interval: Duration) -> bool {
        let Source::Lane { lane, receiver } = &mut self.source else {
            return self.ctx.pause(poll_interval).await;
        };
        tokio::select! {
            record = receiver.recv() => {
                match record {
                    Some(record) => self.pending.push_back(record),
                    None => {
                        tracing::debug!(pump = %self.ctx.name, shard = %self.shard_id, lane = *lane, "lane closed");
                        self.closed = true;
                    }
                }
                !self.ctx.stopping()
            }
            _ = self.ctx.stop.wait() => false,
        }
    }

    /// Hands records older than `MaximumRecordAgeInSeconds` at the head of the shard to
    /// the on-failure destination; returns whether any were discarded.
    async fn discard_expired(&mut self) -> bool {
        let configured = self.ctx.config.source.maximum_record_age_seconds;
        // -1: records live as long as the stream keeps them (24 h).
        let max_age = if configured < 0 {
            time::Duration::hours(24)
        } else {
            time::Duration::seconds(i64::from(configured))
        };
        let now = OffsetDateTime::now_utc();
        let expired = self
            .pending
            .iter()
            .take(self.batch_size())
            .take_while(|r| now - r.arrival > max_age)
            .count();
        if expired == 0 {
            return false;
        }
        self.give_up(expired, Discard::RecordAgeExceeded).await;
        true
    }

    /// Invokes the function with the next batch and applies the outcome; returns whether
    /// the batch (or part of it) failed.
    async fn process_batch(&mut self) -> bool {
        let size = self
            .plan
            .front()
            .copied()
            .unwrap_or_else(|| self.batch_size())
            .min(self.pending.len())
            .max(1);
        let patterns = &self.ctx.config.source.filter_patterns;
        let selected: Vec<&PendingRecord> = self
            .pending
            .iter()
            .take(size)
            .filter(|r| matches_filters(patterns, &r.event))
            .collect();
        if selected.is_empty() {
            tracing::debug!(pump = %self.ctx.name, shard = %self.shard_id, size, "batch filtered out");
            self.complete(size);
            return false;
        }
        let records: Vec<Value> = selected.iter().map(|r| r.event.clone()).collect();
        let sequence_numbers: Vec<String> =
            selected.iter().map(|r| r.sequence_number.clone()).collect();
        let first = sequence_numbers.first().cloned().unwrap_or_default();
        let last = sequence_numbers.last().cloned().unwrap_or_default();
        tracing::info!(
            pump = %self.ctx.name,
            shard = %self.shard_id,
            records = records.len(),
            first_sequence_number = %first,
            last_sequence_number = %last,
            "invoking stream batch"
        );
        let answer = self
            .ctx
            .invoker
            .invoke(
                &self.ctx.config.function_logical_id,
                json!({ "Records": records }),
            )
            .await;
        let report = self.ctx.config.source.report_batch_item_failures;
        match batch_outcome(answer, report, &sequence_numbers) {
            BatchOutcome::Success => {
                tracing::info!(pump = %self.ctx.name, shard = %self.shard_id, records = size, "stream batch succeeded");
                self.complete(size);
                false
            }
            BatchOutcome::ItemsFailed { first_failed } => {
                // Everything before the lowest failed record is done.
                let done = self
                    .pending
                    .iter()
                    .take(size)
                    .position(|r| r.sequence_number == first_failed)
                    .unwrap_or(0);
                tracing::info!(
                    pump = %self.ctx.name,
                    shard = %self.shard_id,
                    succeeded = done,
                    failed_from = %first_failed,
                    "stream batch partially failed; retrying from the failed record"
                );
                self.checkpoint(done);
                if let Some(front) = self.plan.front_mut() {
                    *front = size - done;
                }
                self.count_failure(size - done, false).await;
                true
            }
            BatchOutcome::FunctionError(error) => {
                let bisect = self.ctx.config.source.bisect_batch_on_function_error && size > 1;
                tracing::info!(
                    pump = %self.ctx.name,
                    shard = %self.shard_id,
                    records = size,
                    %error,
                    bisect,
                    "stream batch failed"
                );
                if bisect {
                    let first_half = size.div_ceil(2);
                    self.plan.pop_front();
                    self.plan.push_front(size - first_half);
                    self.plan.push_front(first_half);
                } else {
                    self.count_failure(size, true).await;
                }
                true
            }
        }
    }

    /// Counts a failed invocation of the `size` records at the head; gives the batch up
    /// when its retries are exhausted.
    async fn count_failure(&mut self, size: usize, function_error: bool) {
        let Some(front) = self.pending.front() else {
            return;
        };
        let count = self
            .failures
            .entry(front.sequence_number.clone())
            .or_insert(0);
        *count += 1;
        let attempts = *count;
        let max_retries = self.ctx.config.source.maximum_retry_attempts;
        if max_retries >= 0 && i64::from(attempts) > i64::from(max_retries) {
            self.give_up(size, Discard::RetriesExhausted { function_error })
                .await;
        }
    }

    /// Moves past the first `size` records after sending Lambda's on-failure record.
    async fn give_up(&mut self, size: usize, why: Discard) {
        let batch: Vec<PendingRecord> = self.pending.iter().take(size).cloned().collect();
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return;
        };
        let invoke_count = self
            .failures
            .get(&first.sequence_number)
            .copied()
            .unwrap_or(0);
        let (condition, function_error) = match why {
            Discard::RetriesExhausted { function_error } => {
                ("RetryAttemptsExhausted", function_error)
            }
            Discard::RecordAgeExceeded => ("RecordAgeExceeded", false),
        };
        let mut response_context = Map::new();
        response_context.insert("statusCode".into(), json!(200));
        response_context.insert("executedVersion".into(), json!("$LATEST"));
        if function_error {
            response_context.insert("functionError".into(), json!("Unhandled"));
        }
        let record = json!({
            "requestContext": {
                "requestId": uuid(),
                "functionArn": self.ctx.config.function_arn,
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": iso8601_millis(OffsetDateTime::now_utc()),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": iso8601_seconds(first.arrival),
                "approximateArrivalOfLastRecord": iso8601_seconds(last.arrival),
                "batchSize": batch.len(),
                "streamArn": self.ctx.reader.stream_arn(),
            },
        });
        tracing::warn!(
            pump = %self.ctx.name,
            shard = %self.shard_id,
            condition,
            start_sequence_number = %first.sequence_number,
            end_sequence_number = %last.sequence_number,
            records = batch.len(),
            "discarding stream batch"
        );
        match &self.ctx.on_failure_queue_url {
            Some(queue_url) => self.send_on_failure(queue_url, &record.to_string()).await,
            None => {
                tracing::warn!(pump = %self.ctx.name, "no on-failure destination; the batch is dropped")
            }
        }
        self.complete(size);
    }

    async fn send_on_failure(&self, queue_url: &str, body: &str) {
        for attempt in 1..=3 {
            match self
                .ctx
                .sqs
                .send_message()
                .queue_url(queue_url)
                .message_body(body)
                .send()
                .await
            {
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(
                        pump = %self.ctx.name,
                        attempt,
                        error = %aws_sdk_sqs::error::DisplayErrorContext(error),
                        "sending the on-failure record failed"
                    );
                    if !self.ctx.pause(self.ctx.config.options.retry_backoff).await {
                        return;
                    }
                }
            }
        }
        // Moving on regardless: a shard must not be blocked by its failure destination.
        tracing::error!(pump = %self.ctx.name, record = %body, "on-failure record lost");
    }

    /// The first `size` pending records are done (and so is that much of the current
    /// sub-batch, when bisecting).
    fn complete(&mut self, size: usize) {
        self.checkpoint(size);
        match self.plan.front_mut() {
            Some(front) if *front > size => *front -= size,
            Some(_) => {
                self.plan.pop_front();
            }
            None => {}
        }
    }

    fn checkpoint(&mut self, count: usize) {
        for record in self.pending.drain(..count.min(self.pending.len())) {
            self.failures.remove(&record.sequence_number);
        }
    }
}

enum BatchOutcome {
    Success,
    /// With `ReportBatchItemFailures`: the lowest failed record of the batch.
    ItemsFailed {
        first_failed: String,
    },
    FunctionError(InvokeError),
}

/// Lambda's reading of a batch response. `ids` are the batch's item identifiers in
/// batch order (sequence numbers, or SQS message ids).
fn batch_outcome(answer: Result<Value, InvokeError>, report: bool, ids: &[String]) -> BatchOutcome {
    let response = match answer {
        Ok(response) => response,
        Err(error) => return BatchOutcome::FunctionError(error),
    };
    if !report {
        return BatchOutcome::Success;
    }
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return BatchOutcome::Success,
        Some(Value::Array(items)) if items.is_empty() => return BatchOutcome::Success,
        Some(Value::Array(items)) => items,
        Some(_) => {
            return BatchOutcome::ItemsFailed {
                first_failed: ids.first().cloned().unwrap_or_default(),
            };
        }
    };
    let mut first_index: Option<usize> = None;
    for item in failures {
        let position = item
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .and_then(|id| ids.iter().position(|candidate| candidate == id));
        match position {
            Some(index) => first_index = Some(first_index.map_or(index, |i| i.min(index))),
            // A null, empty or unknown identifier fails the whole batch, as in Lambda.
            None => first_index = Some(0),
        }
    }
    BatchOutcome::ItemsFailed {
        first_failed: ids
            .get(first_index.unwrap_or(0))
            .cloned()
            .unwrap_or_default(),
    }
}

/// The failed item identifiers of an SQS batch, or `None` when the whole batch failed.
fn sqs_failed_ids(
    answer: &Result<Value, InvokeError>,
    report: bool,
    ids: &[String],
) -> Option<HashSet<String>> {
    let response = answer.as_ref().ok()?;
    if !report {
        return Some(HashSet::new());
    }
    match response.get("batchItemFailures") {
        None | Some(Value::Null) => Some(HashSet::new()),
        Some(Value::Array(items)) => {
            let mut failed = HashSet::new();
            for item in items {
                let id = item
                    .get("itemIdentifier")
                    .and_then(Value::as_str)
                    .filter(|id| ids.iter().any(|candidate| candidate == id))?;
                failed.insert(id.to_owned());
            }
            Some(failed)
        }
        Some(_) => None,
    }
}

/// What an [`SqsPump`] needs beyond the template's event source.
#[derive(Debug, Clone)]
pub struct SqsPumpConfig {
    pub function_logical_id: String,
    pub region: String,
    pub source: SqsSourceSpec,
    /// Physical name of the queue.
    pub queue_name: String,
    pub options: PumpOptions,
}

/// An SQS event-source mapping.
#[derive(Debug)]
pub struct SqsPump;

impl SqsPump {
    /// Resolves the queue (failing fast when it is missing) and starts polling.
    pub async fn spawn(
        sdk: &aws_config::SdkConfig,
        invoker: Arc<dyn Invoke>,
        config: SqsPumpConfig,
    ) -> anyhow::Result<PumpHandle> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue_url = queue_url(&sqs, &config.queue_name).await?;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let queue_arn = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("queue {} has no ARN", config.queue_name))?;
        let name = format!("{}/{}", config.function_logical_id, config.source.name);
        let (stop, stopped) = watch::channel(false);
        let pump = SqsWorker {
            name: name.clone(),
            sqs,
            invoker,
            queue_url,
            queue_arn,
            stop: StopSignal(stopped),
            config,
        };
        tracing::info!(pump = %name, queue = %pump.queue_arn, "SQS pump started");
        let task = tokio::spawn(pump.run());
        Ok(PumpHandle { name, stop, task })
    }
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<String> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "queue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("queue {name} has no URL"))
}

struct SqsWorker {
    name: String,
    sqs: aws_sdk_sqs::Client,
    invoker: Arc<dyn Invoke>,
    queue_url: String,
    queue_arn: String,
    stop: StopSignal,
    config: SqsPumpConfig,
}

impl SqsWorker {
    fn stopping(&self) -> bool {
        self.stop.is_set()
    }

    async fn pause(&self, duration: Duration) -> bool {
        self.stop.pause(duration).await
    }

    async fn run(self) {
        while !self.stopping() {
            let batch = tokio::select! {
                batch = self.receive_batch() => batch,
                _ = self.stop.wait() => return,
            };
            match batch {
                Ok(messages) if messages.is_empty() => {}
                Ok(messages) => self.process(messages).await,
                Err(error) => {
                    tracing::warn!(pump = %self.name, %error, "receiving from the queue failed");
                    if !self
                        .pause(
                            self.config
                                .options
                                .retry_backoff
                                .max(Duration::from_secs(1)),
                        )
                        .await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Up to `BatchSize` messages: one long poll, then more receives while the batching
    /// window is open and the batch is not full.
    async fn receive_batch(&self) -> anyhow::Result<Vec<aws_sdk_sqs::types::Message>> {
        let batch_size = usize::try_from(self.config.source.batch_size.max(1)).unwrap_or(1);
        let window = Duration::from_secs(u64::from(
            self.config.source.maximum_batching_window_seconds,
        ));
        let started = Instant::now();
        let wait = i32::try_from(self.config.options.sqs_wait_time.as_secs().min(20)).unwrap_or(1);
        let mut messages = Vec::new();
        loop {
            let want = i32::try_from((batch_size - messages.len()).min(10)).unwrap_or(10);
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(want)
                .wait_time_seconds(if messages.is_empty() { wait } else { 0 })
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            let received = out.messages().to_vec();
            let got_some = !received.is_empty();
            messages.extend(received);
            if messages.len() >= batch_size || started.elapsed() >= window || self.stopping() {
                return Ok(messages);
            }
            if !got_some {
                if messages.is_empty() {
                    return Ok(messages);
                }
                let rest = window.saturating_sub(started.elapsed());
                if !self
                    .pause(self.config.options.poll_interval.min(rest))
                    .await
                {
                    return Ok(messages);
                }
            }
        }
    }

    async fn process(&self, messages: Vec<aws_sdk_sqs::types::Message>) {
        let records: Vec<(String, String, Value)> = messages
            .iter()
            .map(|m| {
                (
                    m.message_id().unwrap_or_default().to_owned(),
                    m.receipt_handle().unwrap_or_default().to_owned(),
                    self.record(m),
                )
            })
            .collect();
        let patterns = &self.config.source.filter_patterns;
        let (selected, filtered_out): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|(_, _, record)| matches_filters(patterns, &sqs_filter_view(record)));
        if !filtered_out.is_empty() {
            // Lambda deletes messages no filter matches.
            tracing::debug!(pump = %self.name, count = filtered_out.len(), "deleting filtered-out messages");
            self.delete(
                filtered_out
                    .iter()
                    .map(|(_, handle, _)| handle.clone())
                    .collect(),
            )
            .await;
        }
        if selected.is_empty() {
            return;
        }
        let ids: Vec<String> = selected.iter().map(|(id, _, _)| id.clone()).collect();
        tracing::info!(pump = %self.name, messages = ids.len(), "invoking SQS batch");
        let event =
            json!({ "Records": selected.iter().map(|(_, _, r)| r.clone()).collect::<Vec<_>>() });
        let answer = self
            .invoker
            .invoke(&self.config.function_logical_id, event)
            .await;
        if let Err(error) = &answer {
            tracing::info!(pump = %self.name, %error, "SQS batch failed; nothing deleted");
        }
        let failed = sqs_failed_ids(&answer, self.config.source.report_batch_item_failures, &ids)
            .unwrap_or_else(|| ids.iter().cloned().collect());
        let (failed_handles, done_handles): (Vec<_>, Vec<_>) = selected
            .iter()
            .map(|(id, handle, _)| (failed.contains(id), handle.clone()))
            .partition(|(is_failed, _)| *is_failed);
        tracing::info!(
            pump = %self.name,
            succeeded = done_handles.len(),
            failed = failed_handles.len(),
            "SQS batch done"
        );
        self.delete(done_handles.into_iter().map(|(_, h)| h).collect())
            .await;
        if let Some(visibility) = self.config.options.sqs_retry_visibility {
            self.make_visible_after(
                failed_handles.into_iter().map(|(_, h)| h).collect(),
                visibility,
            )
            .await;
        }
    }

    /// The message as a record of Lambda's SQS event.
    fn record(&self, message: &aws_sdk_sqs::types::Message) -> Value {
        let mut attributes = Map::new();
        if let Some(system) = message.attributes() {
            for (name, value) in system {
                attributes.insert(name.as_str().to_owned(), json!(value));
            }
        }
        let mut message_attributes = Map::new();
        if let Some(custom) = message.message_attributes() {
            for (name, value) in custom {
                let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
                let mut attribute = Map::new();
                if let Some(s) = value.string_value() {
                    attribute.insert("stringValue".into(), json!(s));
                }
                if let Some(b) = value.binary_value() {
                    attribute.insert("binaryValue".into(), json!(b64(b.as_ref())));
                }
                attribute.insert("stringListValues".into(), json!(value.string_list_values()));
                attribute.insert(
                    "binaryListValues".into(),
                    json!(
                        value
                            .binary_list_values()
                            .iter()
                            .map(|b| b64(b.as_ref()))
                            .collect::<Vec<_>>()
                    ),
                );
                attribute.insert("dataType".into(), json!(value.data_type()));
                message_attributes.insert(name.clone(), Value::Object(attribute));
            }
        }
        let mut record = Map::new();
        record.insert("messageId".into(), json!(message.message_id()));
        record.insert("receiptHandle".into(), json!(message.receipt_handle()));
        record.insert("body".into(), json!(message.body().unwrap_or_default()));
        record.insert("attributes".into(), Value::Object(attributes));
        record.insert(
            "messageAttributes".into(),
            Value::Object(message_attributes),
        );
        record.insert("md5OfBody".into(), json!(message.md5_of_body()));
        if let Some(md5) = message.md5_of_message_attributes() {
            record.insert("md5OfMessageAttributes".into(), json!(md5));
        }
        record.insert("eventSource".into(), json!("aws:sqs"));
        record.insert("eventSourceARN".into(), json!(self.queue_arn));
        record.insert("awsRegion".into(), json!(self.config.region));
        Value::Object(record)
    }

    async fn delete(&self, handles: Vec<String>) {
        for chunk in handles.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(out) if !out.failed().is_empty() => {
                    tracing::warn!(pump = %self.name, failed = ?out.failed(), "some messages could not be deleted");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    pump = %self.name,
                    error = %aws_sdk_sqs::error::DisplayErrorContext(error),
                    "deleting processed messages failed; they will be delivered again"
                ),
            }
        }
    }

    async fn make_visible_after(&self, handles: Vec<String>, visibility: Duration) {
        let seconds = i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX);
        for chunk in handles.chunks(10) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, handle)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(seconds)
                        .build()
                        .ok()
                })
                .collect();
            if let Err(error) = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                tracing::warn!(
                    pump = %self.name,
                    error = %aws_sdk_sqs::error::DisplayErrorContext(error),
                    "could not shorten the visibility of failed messages"
                );
            }
        }
    }
}

/// Lambda filters an SQS record's `body` as JSON when it is JSON.
fn sqs_filter_view(record: &Value) -> Value {
    let mut view = record.clone();
    if let Some(parsed) = record
        .get("body")
        .and_then(Value::as_str)
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
        && let Some(fields) = view.as_object_mut()
    {
        fields.insert("body".into(), parsed);
    }
    view
}

/// Lambda event filtering (`FilterCriteria.Filters[].Pattern`, EventBridge pattern
/// syntax): a record passes when there are no patterns or any pattern matches.
///
/// Supported: nested field objects, value lists of literals (strings, numbers,
/// booleans, `null`), `{"prefix"}`, `{"suffix"}`, `{"equals-ignore-case"}`,
/// `{"anything-but": value | [values] | {"prefix"}}`, `{"exists": bool}` and
/// `{"numeric": [op, n, ...]}`. Other operators never match (and are logged).
pub fn matches_filters(patterns: &[Value], event: &Value) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|pattern| {
            let pattern = match pattern {
                // Patterns are written as JSON strings in templates; accept both.
                Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                other => other.clone(),
            };
            matches_object(&pattern, Some(event))
        })
}

fn matches_object(pattern: &Value, value: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(name, sub)| matches_field(sub, value.and_then(|v| v.get(name)))),
        _ => false,
    }
}

fn matches_field(pattern: &Value, value: Option<&Value>) -> bool {
    match pattern {
        Value::Object(_) => matches_object(pattern, value),
        Value::Array(alternatives) => alternatives.iter().any(|alt| matches_rule(alt, value)),
        _ => false,
    }
}

fn matches_rule(rule: &Value, value: Option<&Value>) -> bool {
    if let Some(Value::Object(op)) = Some(rule)
        && let Some(Value::Bool(should_exist)) = op.get("exists")
    {
        return value.is_some_and(|v| !v.is_null()) == *should_exist;
    }
    if let Some(Value::Array(items)) = value {
        return items.iter().any(|item| matches_rule(rule, Some(item)));
    }
    match rule {
        Value::Object(op) => {
            let Some((name, arg)) = op.iter().next() else {
                return false;
            };
            let text = value.and_then(Value::as_str);
            match (name.as_str(), arg) {
                ("prefix", Value::String(prefix)) => {
                    text.is_some_and(|t| t.starts_with(prefix.as_str()))
                }
                ("suffix", Value::String(suffix)) => {
                    text.is_some_and(|t| t.ends_with(suffix.as_str()))
                }
                ("equals-ignore-case", Value::String(other)) => {
                    text.is_some_and(|t| t.eq_ignore_ascii_case(other))
                }
                ("anything-but", excluded) => {
                    let excluded: Vec<Value> = match excluded {
                        Value::Array(items) => items.clone(),
                        Value::Object(_) => vec![excluded.clone()],
                        one => vec![one.clone()],
                    };
                    value.is_some() && !excluded.iter().any(|x| matches_rule(x, value))
                }
                ("numeric", Value::Array(conditions)) => numeric_matches(conditions, value),
                _ => {
                    tracing::warn!(operator = %name, "unsupported filter operator; the record does not match");
                    false
                }
            }
        }
        Value::Null => value.is_none_or(Value::is_null),
        Value::Number(n) => value
            .and_then(number_of)
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        literal => value == Some(literal),
    }
}

fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn numeric_matches(conditions: &[Value], value: Option<&Value>) -> bool {
    let Some(actual) = value.and_then(number_of) else {
        return false;
    };
    conditions.chunks(2).all(|pair| {
        let (Some(op), Some(bound)) = (
            pair.first().and_then(Value::as_str),
            pair.get(1).and_then(number_of),
        ) else {
            return false;
        };
        match op {
            "=" => actual == bound,
            "<" => actual < bound,
            "<=" => actual <= bound,
            ">" => actual > bound,
            ">=" => actual >= bound,
            _ => false,
        }
    })
}

pub(crate) fn uuid() -> String {
    let mut bytes = [0u8; 16];
    crate::websocket::fill_random(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn iso8601_millis(at: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

fn iso8601_seconds(at: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::sync::{Mutex, OnceLock};

    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue as Av, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType, StreamSpecification, StreamViewType,
    };
    use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};

    use super::*;
    use crate::websocket::test_support::FakeInvoker;

    const WAIT: Duration = Duration::from_secs(30);
    const FUNCTION: &str = "StreamFunction";

    /// Exits when stdin closes, i.e. when this test binary ends, however it ends.
    const WATCHDOG: &str = "import os, sys, threading\n\
def _watch():\n    sys.stdin.read()\n    os._exit(0)\n\
threading.Thread(target=_watch, daemon=True).start()\n\
from moto.server import main\n\
main(sys.argv[1:])\n";

    /// One moto for the whole test binary (tests use their own tables and queues).
    fn moto_endpoint() -> anyhow::Result<String> {
        static MOTO: OnceLock<Result<String, String>> = OnceLock::new();
        MOTO.get_or_init(|| start_moto().map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(|e| anyhow::anyhow!(e))
    }

    fn start_moto() -> anyhow::Result<String> {
        if let Ok(endpoint) = std::env::var("AGORA_MOTO_ENDPOINT")
            && !endpoint.trim().is_empty()
        {
            return Ok(endpoint.trim().trim_end_matches('/').to_owned());
        }
        let venv = std::env::var("AGORA_VENV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = std::process::Command::new(venv.join("bin/python"))
            .arg("-c")
            .arg(WATCHDOG)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "starting moto from {} (run infra/setup): {e}",
                    venv.display()
                )
            })?;
        // Kept open (leaked) for the life of the test binary: closing it stops moto.
        if let Some(stdin) = child.stdin.take() {
            std::mem::forget(stdin);
        }
        std::mem::forget(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                let _ = stream.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/") {
                    return Ok(format!("http://127.0.0.1:{port}"));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("moto did not start on port {port}")
    }

    async fn sdk() -> anyhow::Result<aws_config::SdkConfig> {
        Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(moto_endpoint()?)
            .test_credentials()
            .load()
            .await)
    }

    fn unique(prefix: &str) -> String {
        format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
    }

    fn fast_options() -> PumpOptions {
        PumpOptions {
            poll_interval: Duration::from_millis(20),
            retry_backoff: Duration::from_millis(20),
            shard_discovery_interval: Duration::from_secs(1),
            sqs_wait_time: Duration::from_secs(1),
            sqs_retry_visibility: Some(Duration::ZERO),
            schedule_period: Some(Duration::from_millis(50)),
        }
    }

    /// Records each scheduled invocation; fails the first.
    struct Ticks(std::sync::Mutex<Vec<serde_json::Value>>);

    impl Invoke for Ticks {
        fn invoke(
            &self,
            _function: &str,
            event: serde_json::Value,
        ) -> futures_util::future::BoxFuture<'_, Result<serde_json::Value, InvokeError>> {
            let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
            calls.push(event);
            let answer = if calls.len() == 1 {
                Err(InvokeError::FunctionError {
                    error_type: "Boom".into(),
                    error_message: "first tick fails".into(),
                })
            } else {
                Ok(serde_json::json!(null))
            };
            Box::pin(async move { answer })
        }
    }

    #[tokio::test]
    async fn a_schedule_invokes_its_function_each_period_with_eventbridges_event_and_retries_a_failure()
    -> anyhow::Result<()> {
        let ticks = Arc::new(Ticks(std::sync::Mutex::new(Vec::new())));
        let pump = SchedulePump::spawn(
            ticks.clone(),
            SchedulePumpConfig {
                function_logical_id: "SchedulerFunction".into(),
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
                source: crate::model::ScheduleSourceSpec {
                    name: "EveryMinute".into(),
                    expression: "rate(1 minute)".into(),
                    period: Duration::from_secs(60),
                },
                options: fast_options(),
            },
        );

        tokio::time::sleep(Duration::from_millis(400)).await;
        pump.shutdown().await;

        let calls = ticks.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            calls.len() >= 4,
            "a tick each 50 ms, the failed one again: {calls:?}"
        );
        assert_eq!(calls[0]["detail-type"], "Scheduled Event");
        assert_eq!(calls[0]["source"], "aws.events");
        assert_eq!(
            calls[0]["resources"][0],
            "arn:aws:events:us-east-1:123456789012:rule/SchedulerFunction-EveryMinute"
        );
        assert_eq!(calls[0]["id"], calls[1]["id"], "a retry is the same event");
        assert_ne!(
            calls[1]["id"], calls[2]["id"],
            "the next tick is a new event"
        );
        Ok(())
    }

    async fn create_table(
        sdk: &aws_config::SdkConfig,
        name: &str,
    ) -> anyhow::Result<aws_sdk_dynamodb::Client> {
        let ddb = aws_sdk_dynamodb::Client::new(sdk);
        let attribute = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
        };
        ddb.create_table()
            .table_name(name)
            .attribute_definitions(attribute("PK")?)
            .attribute_definitions(attribute("SK")?)
            .key_schema(key("PK", KeyType::Hash)?)
            .key_schema(key("SK", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()?,
            )
            .send()
            .await?;
        Ok(ddb)
    }

    async fn put(
        ddb: &aws_sdk_dynamodb::Client,
        table: &str,
        sk: &str,
        body: &str,
    ) -> anyhow::Result<()> {
        ddb.put_item()
            .table_name(table)
            .item("PK", Av::S("p".into()))
            .item("SK", Av::S(sk.into()))
            .item("body", Av::S(body.into()))
            .send()
            .await?;
        Ok(())
    }

    async fn create_queue(
        sqs: &aws_sdk_sqs::Client,
        name: &str,
        attributes: &[(QueueAttributeName, String)],
    ) -> anyhow::Result<(String, String)> {
        let mut request = sqs.create_queue().queue_name(name);
        for (key, value) in attributes {
            request = request.attributes(key.clone(), value);
        }
        let url = request
            .send()
            .await?
            .queue_url()
            .ok_or_else(|| anyhow::anyhow!("no queue url"))?
            .to_owned();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no queue arn"))?;
        Ok((url, arn))
    }

    fn stream_source() -> StreamSourceSpec {
        StreamSourceSpec {
            name: "Stream".into(),
            table_logical_id: "Table".into(),
            starting_position: "TRIM_HORIZON".into(),
            batch_size: 10,
            maximum_batching_window_seconds: 0,
            report_batch_item_failures: false,
            bisect_batch_on_function_error: false,
            maximum_retry_attempts: -1,
            maximum_record_age_seconds: -1,
            on_failure_queue_logical_id: None,
            parallelization_factor: 1,
            filter_patterns: Vec::new(),
        }
    }

    struct StreamFixture {
        ddb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        table: String,
        failure_queue_url: String,
        sdk: aws_config::SdkConfig,
        failure_queue: String,
    }

    async fn stream_fixture() -> anyhow::Result<StreamFixture> {
        let sdk = sdk().await?;
        let table = unique("table");
        let ddb = create_table(&sdk, &table).await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let failure_queue = unique("stream-failures");
        let (failure_queue_url, _) = create_queue(&sqs, &failure_queue, &[]).await?;
        Ok(StreamFixture {
            ddb,
            sqs,
            table,
            failure_queue_url,
            sdk,
            failure_queue,
        })
    }

    impl StreamFixture {
        async fn spawn(
            &self,
            invoker: Arc<FakeInvoker>,
            source: StreamSourceSpec,
        ) -> anyhow::Result<PumpHandle> {
            self.spawn_sharing(&StreamReaders::default(), invoker, source)
                .await
        }

        /// A pump reading through `readers`, which other pumps may share.
        async fn spawn_sharing(
            &self,
            readers: &StreamReaders,
            invoker: Arc<FakeInvoker>,
            source: StreamSourceSpec,
        ) -> anyhow::Result<PumpHandle> {
            StreamPump::spawn(
                &self.sdk,
                readers,
                invoker,
                StreamPumpConfig {
                    function_logical_id: FUNCTION.into(),
                    function_arn: format!(
                        "arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
                    ),
                    region: "us-east-1".into(),
                    source,
                    table_name: self.table.clone(),
                    on_failure_queue_name: Some(self.failure_queue.clone()),
                    options: fast_options(),
                },
            )
            .await
        }

        /// Waits (bounded) for `count` on-failure records.
        async fn on_failure_records(&self, count: usize) -> anyhow::Result<Vec<Value>> {
            let mut records = Vec::new();
            let deadline = Instant::now() + WAIT;
            while records.len() < count {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "only {} on-failure records: {records:#?}",
                    records.len()
                );
                let out = self
                    .sqs
                    .receive_message()
                    .queue_url(&self.failure_queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await?;
                for message in out.messages() {
                    records.push(serde_json::from_str(message.body().unwrap_or_default())?);
                }
            }
            Ok(records)
        }
    }

    /// The sort keys of a stream event's records, in order.
    fn sort_keys(event: &Value) -> Vec<String> {
        event["Records"]
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .filter_map(|r| r["dynamodb"]["Keys"]["SK"]["S"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn all_sort_keys(calls: &[(String, Value)]) -> Vec<String> {
        calls
            .iter()
            .flat_map(|(_, event)| sort_keys(event))
            .collect()
    }

    fn sequence_of(event: &Value, sk: &str) -> Option<String> {
        event["Records"].as_array()?.iter().find_map(|r| {
            (r["dynamodb"]["Keys"]["SK"]["S"] == sk)
                .then(|| r["dynamodb"]["SequenceNumber"].as_str().map(str::to_owned))
                .flatten()
        })
    }

    fn item_failures(event: &Value, failing: impl Fn(&str) -> bool) -> Value {
        let failures: Vec<Value> = event["Records"]
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .filter(|r| {
                        r["dynamodb"]["Keys"]["SK"]["S"]
                            .as_str()
                            .is_some_and(&failing)
                    })
                    .map(|r| json!({ "itemIdentifier": r["dynamodb"]["SequenceNumber"] }))
                    .collect()
            })
            .unwrap_or_default();
        json!({ "batchItemFailures": failures })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stream_records_reach_the_function_in_order_in_lambda_batches() -> anyhow::Result<()> {
        // Arrange
        let f = stream_fixture().await?;
        let keys: Vec<String> = (0..7).map(|i| format!("item#{i:02}")).collect();
        for key in &keys {
            put(&f.ddb, &f.table, key, "hello").await?;
        }
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(Value::Null)));
        let source = StreamSourceSpec {
            batch_size: 3,
            ..stream_source()
        };

        // Act
        let pump = f.spawn(invoker.clone(), source).await?;
        let calls = invoker
            .wait_until(WAIT, "7 records", |calls| all_sort_keys(calls).len() >= 7)
            .await?;
        pump.shutdown().await;

        // Assert
        assert_eq!(all_sort_keys(&calls), keys, "in order, each once");
        assert!(
            calls.iter().all(|(_, e)| sort_keys(e).len() <= 3),
            "batches of at most 3"
        );
        let event: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(calls[0].1.clone())?;
        let record = &event.records[0];
        assert_eq!(record.event_name, "INSERT");
        assert_eq!(record.event_version.as_deref(), Some("1.1"));
        assert_eq!(record.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(record.aws_region, "us-east-1");
        assert!(
            record
                .event_source_arn
                .as_deref()
                .is_some_and(|arn| arn.starts_with("arn:aws:dynamodb:") && arn.contains(&f.table)),
            "{:?}",
            record.event_source_arn
        );
        let raw = &calls[0].1["Records"][0]["dynamodb"];
        assert_eq!(raw["NewImage"]["body"], json!({ "S": "hello" }));
        assert_eq!(raw["StreamViewType"], "NEW_AND_OLD_IMAGES");
        assert!(raw["ApproximateCreationDateTime"].is_number());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pumps_sharing_a_stream_reader_each_get_every_record_and_retry_alone()
    -> anyhow::Result<()> {
        // Arrange: one pump fails its first batch, the other never fails.
        let f = stream_fixture().await?;
        let keys: Vec<String> = (0..6).map(|i| format!("item#{i:02}")).collect();
        for key in &keys {
            put(&f.ddb, &f.table, key, "x").await?;
        }
        let readers = StreamReaders::default();
        let steady = Arc::new(FakeInvoker::new(|_, _| Ok(Value::Null)));
        let failed_once = Arc::new(Mutex::new(false));
        let flaky = Arc::new(FakeInvoker::new(move |_, _| {
            let mut failed = failed_once
                .lock()
                .map_err(|_| InvokeError::Runtime("poisoned".into()))?;
            if !*failed {
                *failed = true;
                return Err(InvokeError::Runtime("first call fails".into()));
            }
            Ok(Value::Null)
        }));
        let source = StreamSourceSpec {
            batch_size: 2,
            ..stream_source()
        };

        // Act
        let first = f
            .spawn_sharing(&readers, steady.clone(), source.clone())
            .await?;
        let second = f.spawn_sharing(&readers, flaky.clone(), source).await?;
        let steady_calls = steady
            .wait_until(WAIT, "6 records", |calls| all_sort_keys(calls).len() >= 6)
            .await?;
        let flaky_calls = flaky
            .wait_until(WAIT, "6 records after a retry", |calls| {
                all_sort_keys(calls).len() >= 8
            })
            .await?;
        put(&f.ddb, &f.table, "item#06", "x").await?;
        let late = steady
            .wait_until(WAIT, "the new record", |calls| {
                all_sort_keys(calls).len() >= 7
            })
            .await?;
        first.shutdown().await;
        second.shutdown().await;

        // Assert
        assert_eq!(
            all_sort_keys(&steady_calls),
            keys,
            "each record once, in order"
        );
        let mut retried = vec!["item#00".to_owned(), "item#01".to_owned()];
        retried.extend(keys.iter().cloned());
        assert_eq!(
            all_sort_keys(&flaky_calls),
            retried,
            "the failed batch again, then the rest"
        );
        assert_eq!(
            all_sort_keys(&late).last().map(String::as_str),
            Some("item#06")
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cursor_opened_after_the_cache_moved_on_reads_the_older_records_from_moto()
    -> anyhow::Result<()> {
        // Arrange: a first cursor takes three records, so the cache drops them.
        let f = stream_fixture().await?;
        for key in ["a", "b", "c"] {
            put(&f.ddb, &f.table, key, "x").await?;
        }
        let streams = aws_sdk_dynamodbstreams::Client::new(&f.sdk);
        let stream_arn = aws_sdk_dynamodb::Client::new(&f.sdk)
            .describe_table()
            .table_name(&f.table)
            .send()
            .await?
            .table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no stream"))?;
        let shard_id = streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await?
            .stream_description()
            .and_then(|d| d.shards().first())
            .and_then(|s| s.shard_id())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no shard"))?;
        let reader =
            StreamReaders::default().reader(&streams, &stream_arn, "us-east-1", Duration::ZERO);
        let keys = |read: &crate::stream_reader::ShardRead| -> Vec<String> {
            read.records
                .iter()
                .filter_map(|r| r.event["dynamodb"]["Keys"]["SK"]["S"].as_str())
                .map(str::to_owned)
                .collect()
        };
        let mut first = reader.open(&shard_id, ShardIteratorType::TrimHorizon);
        let first_read = first.read(10).await?;

        // Act: a late horizon cursor and a LATEST cursor, then one more record.
        let mut late = reader.open(&shard_id, ShardIteratorType::TrimHorizon);
        let late_read = late.read(10).await?;
        let mut latest = reader.open(&shard_id, ShardIteratorType::Latest);
        let latest_before = latest.read(10).await?;
        put(&f.ddb, &f.table, "d", "x").await?;
        let (first_next, late_next, latest_next) = (
            first.read(10).await?,
            late.read(10).await?,
            latest.read(10).await?,
        );

        // Assert
        assert_eq!(keys(&first_read), ["a", "b", "c"]);
        assert_eq!(keys(&late_read), ["a", "b", "c"], "from moto, not lost");
        assert!(
            latest_before.records.is_empty(),
            "LATEST skips what was there"
        );
        assert_eq!(keys(&first_next), ["d"]);
        assert_eq!(keys(&late_next), ["d"]);
        assert_eq!(keys(&latest_next), ["d"]);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moto_answers_every_attribute_type_and_partition_pages_unchanged() -> anyhow::Result<()>
    {
        // Arrange: one item of every attribute type among items of other partitions,
        // which a partition-scoped Query must not see (moto_fixes.py).
        let f = stream_fixture().await?;
        let item = HashMap::from([
            ("PK".to_owned(), Av::S("typed".into())),
            ("SK".to_owned(), Av::S("a".into())),
            ("s".to_owned(), Av::S("text ✓".into())),
            ("n".to_owned(), Av::N("-12.5".into())),
            (
                "b".to_owned(),
                Av::B(aws_sdk_dynamodb::primitives::Blob::new(vec![0, 159, 255])),
            ),
            ("ss".to_owned(), Av::Ss(vec!["x".into(), "y".into()])),
            ("ns".to_owned(), Av::Ns(vec!["1".into(), "2".into()])),
            (
                "bs".to_owned(),
                Av::Bs(vec![aws_sdk_dynamodb::primitives::Blob::new(vec![1])]),
            ),
            (
                "m".to_owned(),
                Av::M(HashMap::from([("inner".to_owned(), Av::Bool(true))])),
            ),
            (
                "l".to_owned(),
                Av::L(vec![Av::Null(true), Av::S("z".into())]),
            ),
        ]);
        f.ddb
            .put_item()
            .table_name(&f.table)
            .set_item(Some(item.clone()))
            .send()
            .await?;
        for sk in ["b", "c"] {
            f.ddb
                .put_item()
                .table_name(&f.table)
                .item("PK", Av::S("typed".into()))
                .item("SK", Av::S(sk.into()))
                .send()
                .await?;
        }
        for key in ["other#1", "other#2"] {
            put(&f.ddb, &f.table, key, "x").await?;
        }

        // Act: GetItem, then the partition one item per page.
        let got = f
            .ddb
            .get_item()
            .table_name(&f.table)
            .key("PK", Av::S("typed".into()))
            .key("SK", Av::S("a".into()))
            .send()
            .await?;
        let mut pages = Vec::new();
        let mut start = None;
        loop {
            let page = f
                .ddb
                .query()
                .table_name(&f.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", Av::S("typed".into()))
                .limit(1)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            pages.push(
                page.items()
                    .iter()
                    .filter_map(|i| i.get("SK")?.as_s().ok().cloned())
                    .collect::<Vec<_>>(),
            );
            start = page.last_evaluated_key().cloned();
            if start.is_none() || pages.len() > 5 {
                break;
            }
        }

        let prefixed = f
            .ddb
            .query()
            .table_name(&f.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", Av::S("typed".into()))
            .expression_attribute_values(":prefix", Av::S("b".into()))
            .send()
            .await?;

        // Assert
        assert_eq!(got.item(), Some(&item), "every type as it was written");
        assert_eq!(
            prefixed.count(),
            1,
            "begins_with keeps only b: {prefixed:?}"
        );
        let keys: Vec<String> = pages.into_iter().flatten().collect();
        assert_eq!(
            keys,
            ["a", "b", "c"],
            "the partition in order, nothing else"
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partially_failed_batch_is_retried_from_the_failed_record() -> anyhow::Result<()> {
        // Arrange: item#02 fails once.
        let f = stream_fixture().await?;
        for i in 0..5 {
            put(&f.ddb, &f.table, &format!("item#{i:02}"), "x").await?;
        }
        let failed_once = Arc::new(Mutex::new(false));
        let invoker = Arc::new(FakeInvoker::new(move |_, event| {
            let mut failed = failed_once
                .lock()
                .map_err(|_| InvokeError::Runtime("poisoned".into()))?;
            if !*failed && sort_keys(event).iter().any(|k| k == "item#02") {
                *failed = true;
                return Ok(item_failures(event, |k| k == "item#02"));
            }
            Ok(json!({ "batchItemFailures": [] }))
        }));
        let source = StreamSourceSpec {
            report_batch_item_failures: true,
            maximum_retry_attempts: 3,
            ..stream_source()
        };

        // Act
        let pump = f.spawn(invoker.clone(), source).await?;
        let calls = invoker
            .wait_until(WAIT, "the retry", |calls| calls.len() >= 2)
            .await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let calls_after = invoker.calls();
        pump.shutdown().await;

        // Assert
        assert_eq!(
            sort_keys(&calls[0].1),
            ["item#00", "item#01", "item#02", "item#03", "item#04"]
        );
        assert_eq!(
            sort_keys(&calls[1].1),
            ["item#02", "item#03", "item#04"],
            "retried from the failure"
        );
        assert_eq!(
            calls_after.len(),
            2,
            "nothing else was redelivered: {calls_after:#?}"
        );
        Ok(())
    }

    async fn put_keyed(
        ddb: &aws_sdk_dynamodb::Client,
        table: &str,
        pk: &str,
        sk: &str,
    ) -> anyhow::Result<()> {
        ddb.put_item()
            .table_name(table)
            .item("PK", Av::S(pk.into()))
            .item("SK", Av::S(sk.into()))
            .send()
            .await?;
        Ok(())
    }

    fn lane_of_key(pk: &str, lanes: usize) -> usize {
        lane_of(
            &json!({"dynamodb": {"Keys": {"PK": {"S": pk}}}}),
            "PK",
            lanes,
        )
    }

    #[test]
    fn a_partition_key_always_deals_to_the_same_lane() {
        let lanes: Vec<usize> = (0..50)
            .map(|i| lane_of_key(&format!("ROOM#{i}"), 10))
            .collect();

        let again: Vec<usize> = (0..50)
            .map(|i| lane_of_key(&format!("ROOM#{i}"), 10))
            .collect();

        assert_eq!(lanes, again);
        assert!(lanes.iter().all(|l| *l < 10));
        let used: HashSet<usize> = lanes.into_iter().collect();
        assert!(used.len() > 5, "keys spread over the lanes: {used:?}");
        assert_eq!(lane_of_key("anything", 1), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parallelization_factor_keeps_each_key_in_order_and_holds_back_only_a_failing_keys_lane()
    -> anyhow::Result<()> {
        // Arrange: `stuck` fails for good; `neighbour` shares its lane, six rooms do not.
        let f = stream_fixture().await?;
        let factor = 10;
        let stuck_lane = lane_of_key("stuck", factor);
        let neighbour = (0..)
            .map(|i| format!("neighbour-{i}"))
            .find(|k| lane_of_key(k, factor) == stuck_lane)
            .unwrap_or_default();
        let rooms: Vec<String> = (0..)
            .map(|i| format!("room-{i}"))
            .filter(|k| lane_of_key(k, factor) != stuck_lane)
            .take(6)
            .collect();
        put_keyed(&f.ddb, &f.table, "stuck", "poison").await?;
        put_keyed(&f.ddb, &f.table, &neighbour, "neighbour").await?;
        for step in 0..3 {
            for room in &rooms {
                put_keyed(&f.ddb, &f.table, room, &format!("{room}#{step}")).await?;
            }
        }
        let invoker = Arc::new(FakeInvoker::new(|_, event| {
            Ok(item_failures(event, |k| k == "poison"))
        }));
        let source = StreamSourceSpec {
            report_batch_item_failures: true,
            parallelization_factor: u32::try_from(factor)?,
            ..stream_source()
        };

        // Act
        let pump = f.spawn(invoker.clone(), source).await?;
        let calls = invoker
            .wait_until(WAIT, "every room's records and a retried poison", |calls| {
                let keys = all_sort_keys(calls);
                keys.iter().filter(|k| k.starts_with("room-")).count() >= 18
                    && keys.iter().filter(|k| *k == "poison").count() >= 2
            })
            .await?;
        pump.shutdown().await;

        // Assert
        let keys = all_sort_keys(&calls);
        for room in &rooms {
            let seen: Vec<&String> = keys
                .iter()
                .filter(|k| k.starts_with(&format!("{room}#")))
                .collect();
            let expected: Vec<String> = (0..3).map(|s| format!("{room}#{s}")).collect();
            assert_eq!(seen, expected.iter().collect::<Vec<_>>(), "in order, once");
        }
        assert!(
            calls
                .iter()
                .map(|(_, event)| sort_keys(event))
                .filter(|keys| keys.iter().any(|k| k == "neighbour"))
                .all(|keys| keys.first().map(String::as_str) == Some("poison")),
            "a key in the failing key's lane is only retried behind it: {calls:?}"
        );
        assert!(
            calls.iter().all(|(_, event)| {
                let keys = sort_keys(event);
                !(keys.iter().any(|k| k == "poison") && keys.iter().any(|k| k.starts_with("room-")))
            }),
            "the failing key's batches hold no other lane's records"
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poison_record_goes_to_the_on_failure_queue_after_bounded_retries()
    -> anyhow::Result<()> {
        // Arrange: the function always reports `poison` as failed.
        let f = stream_fixture().await?;
        for key in ["a", "poison", "c"] {
            put(&f.ddb, &f.table, key, "x").await?;
        }
        let invoker = Arc::new(FakeInvoker::new(|_, event| {
            Ok(item_failures(event, |k| k == "poison"))
        }));
        let source = StreamSourceSpec {
            report_batch_item_failures: true,
            maximum_retry_attempts: 2,
            on_failure_queue_logical_id: Some("StreamFailureQueue".into()),
            ..stream_source()
        };

        // Act
        let pump = f.spawn(invoker.clone(), source).await?;
        let failures = f.on_failure_records(1).await?;
        put(&f.ddb, &f.table, "later", "x").await?;
        let calls = invoker
            .wait_until(WAIT, "the later record", |calls| {
                all_sort_keys(calls).iter().any(|k| k == "later")
            })
            .await?;
        pump.shutdown().await;

        // Assert
        let keys = all_sort_keys(&calls);
        let poison_deliveries = keys.iter().filter(|k| *k == "poison").count();
        assert_eq!(
            poison_deliveries, 3,
            "one attempt and two retries: {keys:?}"
        );
        assert_eq!(keys.iter().filter(|k| *k == "a").count(), 1);
        assert_eq!(keys.last().map(String::as_str), Some("later"));
        assert_eq!(keys.iter().filter(|k| *k == "later").count(), 1);
        let record = &failures[0];
        let poison_seq = sequence_of(&calls[0].1, "poison");
        let c_seq = sequence_of(&calls[0].1, "c");
        assert_eq!(
            record["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(
            record["requestContext"]["functionArn"],
            format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}")
        );
        assert_eq!(record["version"], "1.0");
        assert!(
            record["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        assert!(record["responseContext"].get("functionError").is_none());
        let info = &record["DDBStreamBatchInfo"];
        assert_eq!(info["startSequenceNumber"].as_str(), poison_seq.as_deref());
        assert_eq!(info["endSequenceNumber"].as_str(), c_seq.as_deref());
        assert_eq!(info["batchSize"], 2);
        assert_eq!(
            info["streamArn"],
            calls[0].1["Records"][0]["eventSourceARN"]
        );
        assert!(info["shardId"].is_string());
        assert!(info["approximateArrivalOfFirstRecord"].is_string());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_function_error_bisects_the_batch_down_to_the_poison_record() -> anyhow::Result<()> {
        // Arrange: the function errors whenever `poison` is in its batch.
        let f = stream_fixture().await?;
        for key in ["a", "b", "poison", "d"] {
            put(&f.ddb, &f.table, key, "x").await?;
        }
        let invoker = Arc::new(FakeInvoker::new(|_, event| {
            if sort_keys(event).iter().any(|k| k == "poison") {
                Err(InvokeError::FunctionError {
                    error_type: "Panic".into(),
                    error_message: "poison".into(),
                })
            } else {
                Ok(Value::Null)
            }
        }));
        let source = StreamSourceSpec {
            batch_size: 4,
            bisect_batch_on_function_error: true,
            maximum_retry_attempts: 1,
            on_failure_queue_logical_id: Some("StreamFailureQueue".into()),
            ..stream_source()
        };

        // Act
        let pump = f.spawn(invoker.clone(), source).await?;
        let failures = f.on_failure_records(1).await?;
        let calls = invoker
            .wait_until(WAIT, "record d", |calls| {
                calls.iter().any(|(_, e)| sort_keys(e) == ["d"])
            })
            .await?;
        pump.shutdown().await;

        // Assert
        let batches: Vec<Vec<String>> = calls.iter().map(|(_, e)| sort_keys(e)).collect();
        assert_eq!(
            batches,
            [
                vec!["a", "b", "poison", "d"],
                vec!["a", "b"],
                vec!["poison", "d"],
                vec!["poison"],
                vec!["poison"],
                vec!["d"],
            ],
        );
        let record = &failures[0];
        assert_eq!(record["DDBStreamBatchInfo"]["batchSize"], 1);
        assert_eq!(
            record["DDBStreamBatchInfo"]["startSequenceNumber"].as_str(),
            sequence_of(&calls[0].1, "poison").as_deref()
        );
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(record["responseContext"]["functionError"], "Unhandled");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_older_than_the_maximum_age_is_discarded() -> anyhow::Result<()> {
        // Arrange: the function always fails and retries are unlimited.
        let f = stream_fixture().await?;
        put(&f.ddb, &f.table, "stale", "x").await?;
        let invoker = Arc::new(FakeInvoker::new(|_, _| {
            Err(InvokeError::Runtime("down".into()))
        }));
        let source = StreamSourceSpec {
            maximum_retry_attempts: -1,
            maximum_record_age_seconds: 1,
            on_failure_queue_logical_id: Some("StreamFailureQueue".into()),
            ..stream_source()
        };

        // Act
        let pump = f.spawn(invoker.clone(), source).await?;
        let failures = f.on_failure_records(1).await?;
        pump.shutdown().await;

        // Assert
        assert_eq!(
            failures[0]["requestContext"]["condition"],
            "RecordAgeExceeded"
        );
        assert_eq!(failures[0]["DDBStreamBatchInfo"]["batchSize"], 1);
        // (On a loaded machine the record may already be too old at its first read, so
        // whether the function was tried at all is not asserted.)
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filter_criteria_skip_records_no_pattern_matches() -> anyhow::Result<()> {
        // Arrange
        let f = stream_fixture().await?;
        for key in ["keep#1", "drop#1", "keep#2"] {
            put(&f.ddb, &f.table, key, "x").await?;
        }
        put(&f.ddb, &f.table, "keep#1", "changed").await?; // MODIFY: filtered out
        put(&f.ddb, &f.table, "keep#end", "x").await?;
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(Value::Null)));
        let source = StreamSourceSpec {
            batch_size: 2,
            filter_patterns: vec![json!({
                "eventName": ["INSERT"],
                "dynamodb": { "Keys": { "SK": { "S": [{ "prefix": "keep#" }] } } },
            })],
            ..stream_source()
        };

        // Act
        let pump = f.spawn(invoker.clone(), source).await?;
        let calls = invoker
            .wait_until(WAIT, "keep#end", |calls| {
                all_sort_keys(calls).iter().any(|k| k == "keep#end")
            })
            .await?;
        pump.shutdown().await;

        // Assert
        assert_eq!(all_sort_keys(&calls), ["keep#1", "keep#2", "keep#end"]);
        Ok(())
    }

    #[test]
    fn event_patterns_match_like_lambda_filters() {
        let record = json!({
            "eventName": "MODIFY",
            "dynamodb": { "NewImage": { "n": { "N": "5" }, "tags": { "SS": ["a", "b"] } } },
        });
        let matches = |pattern: Value| matches_filters(&[pattern], &record);
        assert!(matches(json!({ "eventName": ["INSERT", "MODIFY"] })));
        assert!(!matches(json!({ "eventName": ["REMOVE"] })));
        assert!(matches(
            json!({ "eventName": [{ "anything-but": ["REMOVE"] }] })
        ));
        assert!(matches(
            json!({ "dynamodb": { "NewImage": { "n": { "N": [{ "numeric": [">", 4, "<=", 5] }] } } } })
        ));
        assert!(matches(
            json!({ "dynamodb": { "NewImage": { "tags": { "SS": ["b"] } } } })
        ));
        assert!(matches(
            json!({ "dynamodb": { "OldImage": [{ "exists": false }] } })
        ));
        assert!(!matches(
            json!({ "dynamodb": { "NewImage": [{ "exists": false }] } })
        ));
        assert!(matches(
            json!({ "eventName": [{ "equals-ignore-case": "modify" }] })
        ));
        assert!(
            matches_filters(&[json!(r#"{"eventName":["MODIFY"]}"#)], &record),
            "string patterns"
        );
        assert!(
            matches_filters(&[], &record),
            "no filter: everything passes"
        );
    }

    struct QueueFixture {
        sdk: aws_config::SdkConfig,
        sqs: aws_sdk_sqs::Client,
        name: String,
        url: String,
        arn: String,
    }

    async fn queue_fixture(
        attributes: &[(QueueAttributeName, String)],
    ) -> anyhow::Result<QueueFixture> {
        let sdk = sdk().await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = unique("queue");
        let (url, arn) = create_queue(&sqs, &name, attributes).await?;
        Ok(QueueFixture {
            sdk,
            sqs,
            name,
            url,
            arn,
        })
    }

    fn sqs_source(report: bool, batch_size: u32) -> SqsSourceSpec {
        SqsSourceSpec {
            name: "Queue".into(),
            queue_logical_id: "Queue".into(),
            batch_size,
            maximum_batching_window_seconds: 0,
            report_batch_item_failures: report,
            filter_patterns: Vec::new(),
        }
    }

    impl QueueFixture {
        async fn spawn(
            &self,
            invoker: Arc<FakeInvoker>,
            source: SqsSourceSpec,
        ) -> anyhow::Result<PumpHandle> {
            SqsPump::spawn(
                &self.sdk,
                invoker,
                SqsPumpConfig {
                    function_logical_id: "Worker".into(),
                    region: "us-east-1".into(),
                    source,
                    queue_name: self.name.clone(),
                    options: fast_options(),
                },
            )
            .await
        }

        async fn send(&self, body: &str) -> anyhow::Result<()> {
            self.sqs
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await?;
            Ok(())
        }

        async fn wait_until_empty(&self) -> anyhow::Result<()> {
            let deadline = Instant::now() + WAIT;
            loop {
                let out = self
                    .sqs
                    .get_queue_attributes()
                    .queue_url(&self.url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                    .send()
                    .await?;
                let count: u64 = out
                    .attributes()
                    .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
                    .unwrap_or(u64::MAX);
                if count == 0 {
                    return Ok(());
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "queue still holds {count} messages"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    fn bodies(calls: &[(String, Value)]) -> Vec<String> {
        calls
            .iter()
            .flat_map(|(_, event)| {
                event["Records"]
                    .as_array()
                    .map(|records| {
                        records
                            .iter()
                            .filter_map(|r| r["body"].as_str().map(str::to_owned))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    fn failures_for(event: &Value, failing: impl Fn(&str) -> bool) -> Value {
        let failed: Vec<Value> = event["Records"]
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .filter(|r| r["body"].as_str().is_some_and(&failing))
                    .map(|r| json!({ "itemIdentifier": r["messageId"] }))
                    .collect()
            })
            .unwrap_or_default();
        json!({ "batchItemFailures": failed })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqs_messages_arrive_as_lambdas_sqs_event_and_are_deleted() -> anyhow::Result<()> {
        // Arrange
        let q = queue_fixture(&[]).await?;
        q.sqs
            .send_message()
            .queue_url(&q.url)
            .message_body(r#"{"kind":"report"}"#)
            .message_attributes(
                "source",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("api")
                    .build()?,
            )
            .send()
            .await?;
        q.send("two").await?;
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(Value::Null)));

        // Act
        let pump = q.spawn(invoker.clone(), sqs_source(false, 10)).await?;
        let calls = invoker
            .wait_until(WAIT, "both messages", |calls| bodies(calls).len() >= 2)
            .await?;
        q.wait_until_empty().await?;
        pump.shutdown().await;

        // Assert
        let all = bodies(&invoker.calls());
        assert_eq!(all.len(), 2, "each delivered once: {all:?}");
        let event: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_value(calls[0].1.clone())?;
        let first = &event.records[0];
        assert_eq!(first.event_source.as_deref(), Some("aws:sqs"));
        assert_eq!(first.event_source_arn.as_deref(), Some(q.arn.as_str()));
        assert_eq!(first.aws_region.as_deref(), Some("us-east-1"));
        assert!(first.md5_of_body.is_some());
        for name in [
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        ] {
            assert!(
                first.attributes.contains_key(name),
                "attribute {name}: {:?}",
                first.attributes
            );
        }
        assert_eq!(
            first
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str),
            Some("1")
        );
        let raw = &calls[0].1["Records"][0];
        assert_eq!(raw["body"], r#"{"kind":"report"}"#);
        assert_eq!(raw["messageAttributes"]["source"]["stringValue"], "api");
        assert_eq!(raw["messageAttributes"]["source"]["dataType"], "String");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partially_failed_sqs_batch_redelivers_only_the_failed_message() -> anyhow::Result<()>
    {
        // Arrange: `flaky` fails on its first delivery.
        let q = queue_fixture(&[]).await?;
        for body in ["ok-1", "flaky", "ok-2"] {
            q.send(body).await?;
        }
        let failed_once = Arc::new(Mutex::new(false));
        let invoker = Arc::new(FakeInvoker::new(move |_, event| {
            let mut failed = failed_once
                .lock()
                .map_err(|_| InvokeError::Runtime("poisoned".into()))?;
            if !*failed {
                *failed = true;
                return Ok(failures_for(event, |b| b == "flaky"));
            }
            Ok(json!({ "batchItemFailures": [] }))
        }));

        // Act
        let pump = q.spawn(invoker.clone(), sqs_source(true, 10)).await?;
        let calls = invoker
            .wait_until(WAIT, "the redelivery", |calls| {
                bodies(calls).iter().filter(|b| *b == "flaky").count() >= 2
                    && bodies(calls).len() >= 4
            })
            .await?;
        q.wait_until_empty().await?;
        pump.shutdown().await;

        // Assert
        let all = bodies(&invoker.calls());
        assert_eq!(all.iter().filter(|b| *b == "flaky").count(), 2);
        assert_eq!(all.iter().filter(|b| *b == "ok-1").count(), 1, "{all:?}");
        assert_eq!(all.iter().filter(|b| *b == "ok-2").count(), 1, "{all:?}");
        let redelivery = calls
            .iter()
            .skip(1)
            .flat_map(|(_, e)| e["Records"].as_array().cloned().unwrap_or_default())
            .find(|r| r["body"] == "flaky")
            .ok_or_else(|| anyhow::anyhow!("no redelivery"))?;
        assert_eq!(redelivery["attributes"]["ApproximateReceiveCount"], "2");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poison_message_lands_in_the_dead_letter_queue() -> anyhow::Result<()> {
        // Arrange: moto's RedrivePolicy (maxReceiveCount 2) and a function that errors on `poison`.
        let sdk = sdk().await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let (dlq_url, dlq_arn) = create_queue(&sqs, &unique("dlq"), &[]).await?;
        let redrive = json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2 }).to_string();
        let q = queue_fixture(&[(QueueAttributeName::RedrivePolicy, redrive)]).await?;
        q.send("poison").await?;
        q.send("fine").await?;
        let invoker = Arc::new(FakeInvoker::new(|_, event| {
            if event["Records"][0]["body"] == "poison" {
                Err(InvokeError::FunctionError {
                    error_type: "Panic".into(),
                    error_message: "cannot handle".into(),
                })
            } else {
                Ok(Value::Null)
            }
        }));

        // Act
        let pump = q.spawn(invoker.clone(), sqs_source(false, 1)).await?;
        let deadline = Instant::now() + WAIT;
        let dead = loop {
            let out = sqs
                .receive_message()
                .queue_url(&dlq_url)
                .wait_time_seconds(1)
                .send()
                .await?;
            if let Some(message) = out.messages().first() {
                break message.body().unwrap_or_default().to_owned();
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "nothing in the DLQ; calls: {:#?}",
                invoker.calls()
            );
        };
        q.wait_until_empty().await?;
        pump.shutdown().await;

        // Assert
        assert_eq!(dead, "poison");
        let all = bodies(&invoker.calls());
        assert_eq!(
            all.iter().filter(|b| *b == "poison").count(),
            2,
            "maxReceiveCount deliveries: {all:?}"
        );
        assert_eq!(all.iter().filter(|b| *b == "fine").count(), 1, "{all:?}");
        Ok(())
    }
}

/// What a [`SchedulePump`] needs beyond the template's event source.
#[derive(Debug, Clone)]
pub struct SchedulePumpConfig {
    pub function_logical_id: String,
    pub region: String,
    pub account_id: String,
    pub source: crate::model::ScheduleSourceSpec,
    pub options: PumpOptions,
}

/// An EventBridge schedule rule: invokes the function once per period (the first time
/// one period after start), as EventBridge does, asynchronously: a failed invocation is
/// retried twice, a minute apart at full rate, then dropped (Lambda's default for
/// asynchronous invocations), and the schedule goes on.
#[derive(Debug)]
pub struct SchedulePump;

impl SchedulePump {
    pub fn spawn(invoker: Arc<dyn Invoke>, config: SchedulePumpConfig) -> PumpHandle {
        let name = format!("{}/{}", config.function_logical_id, config.source.name);
        let (stop, stopped) = watch::channel(false);
        let stop_signal = StopSignal(stopped);
        let period = config
            .options
            .schedule_period
            .unwrap_or(config.source.period);
        let rule_arn = format!(
            "arn:aws:events:{}:{}:rule/{}-{}",
            config.region, config.account_id, config.function_logical_id, config.source.name
        );
        tracing::info!(pump = %name, schedule = %config.source.expression, ?period, "schedule started");
        let pump_name = name.clone();
        let task = tokio::spawn(async move {
            while stop_signal.pause(period).await {
                let event = scheduled_event(&config, &rule_arn);
                for attempt in 0..3u32 {
                    match invoker
                        .invoke(&config.function_logical_id, event.clone())
                        .await
                    {
                        Ok(_) => break,
                        Err(error) => {
                            tracing::warn!(pump = %pump_name, attempt, %error, "scheduled invocation failed");
                            if !stop_signal.pause(period.min(Duration::from_secs(60))).await {
                                return;
                            }
                        }
                    }
                }
            }
        });
        PumpHandle { name, stop, task }
    }
}

/// The event EventBridge sends a function on a schedule rule.
fn scheduled_event(config: &SchedulePumpConfig, rule_arn: &str) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    serde_json::json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string().to_lowercase(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": config.account_id,
        "time": now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "region": config.region,
        "resources": [rule_arn],
        "detail": {}
    })
}
