//! Batch helpers for stream and SQS functions, with Lambda's partial-failure contract
//! (`ReportBatchItemFailures`): Rust has no Powertools, so this fills that gap.

use std::future::Future;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::core::error::AppResult;

/// Processes stream records in order and stops at the first failure, reporting its
/// sequence number: Lambda then retries from that record, so a shard's order holds and
/// no later record overtakes a failed one. Handlers must be idempotent, because records
/// before a failure in a retried batch were already applied once.
pub async fn stream_in_order<F, Fut>(event: &StreamEvent, handle: F) -> DynamoDbEventResponse
where
    F: Fn(EventRecord) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    // One key: every record in one ordered group.
    stream_by_key(event, |_| (), 1, handle).await
}

/// Processes SQS messages independently and reports the ones that failed; only those
/// are redelivered, and after the queue's `maxReceiveCount` they go to its DLQ.
pub async fn sqs_each<F, Fut>(event: &SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        if let Err(error) = handle(message.clone()).await {
            tracing::error!(message_id = ?message.message_id, %error, "message failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Like [`sqs_each`], but up to `concurrency` messages are handled at a time (for
/// workers whose messages are independent, e.g. feed deliveries). Each failed message
/// is reported on its own, in the order of the batch.
pub async fn sqs_concurrent<F, Fut>(
    event: &SqsEvent,
    concurrency: usize,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    use futures_util::StreamExt;

    let handle = &handle;
    let mut failed: Vec<(usize, String)> =
        futures_util::stream::iter(event.records.iter().enumerate())
            .map(|(position, message)| async move {
                let outcome = handle(message.clone()).await;
                outcome.err().map(|error| {
                    tracing::error!(message_id = ?message.message_id, %error, "message failed");
                    (position, message.message_id.clone().unwrap_or_default())
                })
            })
            .buffer_unordered(concurrency.max(1))
            .filter_map(|failed| async move { failed })
            .collect()
            .await;
    failed.sort();
    let mut response = SqsBatchResponse::default();
    for (_, id) in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Like [`stream_in_order`], but records with different keys (e.g. chat rooms) are
/// processed concurrently, at most `concurrency` keys at a time, while each key's
/// records keep their order and stop at that key's first failure. The earliest failed
/// record is reported, so Lambda retries from it: records after it that succeeded are
/// delivered again (handlers are idempotent, and at-least-once consumers expect it).
pub async fn stream_by_key<K, FK, F, Fut>(
    event: &StreamEvent,
    key_of: FK,
    concurrency: usize,
    handle: F,
) -> DynamoDbEventResponse
where
    K: Eq + std::hash::Hash,
    FK: Fn(&EventRecord) -> K,
    F: Fn(EventRecord) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    let failed =
        earliest_failure_by_key(event.records.iter().map(&key_of), concurrency, |position| {
            let record = &event.records[position];
            let handled = handle(record.clone());
            async move {
                handled.await.inspect_err(|error| {
                    tracing::error!(
                        event_id = ?record.event_id,
                        sequence_number = ?record.change.sequence_number,
                        %error,
                        "stream record failed; the batch is retried from it"
                    );
                })
            }
        })
        .await;
    let mut response = DynamoDbEventResponse::default();
    if let Some(earliest) = failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = event.records[earliest].change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// The ordering core of [`stream_by_key`], for items of any kind: `keys` gives each
/// item's key, in order; items with the same key are handled in order, stopping at
/// that key's first failure, and up to `concurrency` keys at a time. Returns the
/// position of the earliest failed item.
pub async fn earliest_failure_by_key<K, F, Fut>(
    keys: impl IntoIterator<Item = K>,
    concurrency: usize,
    handle: F,
) -> Option<usize>
where
    K: Eq + std::hash::Hash,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    use futures_util::StreamExt;

    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index_of: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    for (position, key) in keys.into_iter().enumerate() {
        let group = *index_of.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(position);
    }
    let handle = &handle;
    futures_util::stream::iter(groups)
        .map(|positions| async move {
            for position in positions {
                if handle(position).await.is_err() {
                    return Some(position);
                }
            }
            None
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|failed| async move { failed })
        .fold(None, |earliest: Option<usize>, failed| async move {
            Some(earliest.map_or(failed, |e| e.min(failed)))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::AppError;

    fn event(ids: &[&str]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = ids
            .iter()
            .map(|id| {
                let mut message = SqsMessage::default();
                message.message_id = Some((*id).to_owned());
                message.body = Some((*id).to_owned());
                message
            })
            .collect();
        event
    }

    #[tokio::test]
    async fn concurrent_messages_report_each_failure_alone_in_batch_order() {
        let batch = event(&["ok-1", "bad-2", "ok-3", "bad-4", "ok-5"]);

        let response = sqs_concurrent(&batch, 3, |message| async move {
            match message.body.as_deref() {
                Some(body) if body.starts_with("bad") => Err(AppError::internal("refused")),
                _ => Ok(()),
            }
        })
        .await;

        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["bad-2", "bad-4"]);
    }
}
