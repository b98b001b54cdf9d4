//! Works the feed fan-out queue: each message is one delivery (a page of an audience)
//! whose home-feed entries it writes, or deletes, with concurrent BatchWriteItems. The
//! messages of a batch are handled concurrently and each failed one is reported alone
//! (`ReportBatchItemFailures`); a malformed one, after the queue's retries, lands in its
//! dead-letter queue. Deliveries are idempotent, so redelivery is harmless.

use std::sync::Arc;

use agora::batch;
use agora::feed::{self, FeedDelivery};
use agora::store::Store;
use agora::{AppError, AppResult, config, telemetry};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};

pub async fn run() -> Result<(), lambda_runtime::Error> {
    let table = config::required("TABLE_NAME")?;
    let concurrency: usize = config::optional_number("FEED_WORKER_CONCURRENCY", 10)?;
    let store = Arc::new(Store::from_environment(table).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let store = store.clone();
        async move {
            let response: SqsBatchResponse =
                batch::sqs_concurrent(&event.payload, concurrency, |message| {
                    handle(&store, message)
                })
                .await;
            let delivered = event
                .payload
                .records
                .len()
                .saturating_sub(response.batch_item_failures.len());
            telemetry::emit_counts(
                "FeedDelivery",
                &[
                    ("Deliveries", u64::try_from(delivered).unwrap_or(u64::MAX)),
                    (
                        "FailedDeliveries",
                        u64::try_from(response.batch_item_failures.len()).unwrap_or(u64::MAX),
                    ),
                ],
            );
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

async fn handle(store: &Store, message: SqsMessage) -> AppResult<()> {
    let body = message.body.as_deref().unwrap_or_default();
    let delivery: FeedDelivery = serde_json::from_str(body)
        .map_err(|e| AppError::bad_field("body", format!("not a feed delivery: {e}")))?;
    feed::deliver(store, &delivery).await
}
