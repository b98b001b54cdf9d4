//! Batch helpers for stream and SQS functions, with Lambda's partial-failure contract
//! (`ReportBatchItemFailures`): Rust has no Powertools, so this fills that gap.

use std::future::Future;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::error::AppResult;

/// Processes stream records in order and stops at the first failure, reporting its
/// sequence number: Lambda then retries from that record, so a shard's order holds and
/// no later record overtakes a failed one. Handlers must be idempotent, because records
/// before a failure in a retried batch were already applied once.
pub async fn stream_in_order<F, Fut>(event: &StreamEvent, mut handle: F) -> DynamoDbEventResponse
where
    F: FnMut(EventRecord) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        if let Err(error) = handle(record.clone()).await {
            tracing::error!(
                event_id = ?record.event_id,
                sequence_number = ?record.change.sequence_number,
                %error,
                "stream record failed; the batch is retried from it"
            );
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
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
