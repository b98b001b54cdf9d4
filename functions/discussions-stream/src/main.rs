//! Keeps discussion counters from the table's stream: reply counts and latest activity
//! of topics, reaction counts of topics and replies. Each record is applied exactly
//! once (a processed-record marker in the same transaction as the counter update), so a
//! redelivered record or a retried batch never counts twice.

use std::sync::Arc;

use agora::discussions;
use agora::store::Store;
use agora::{AppResult, batch, config, telemetry};
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let store = Arc::new(Store::from_environment(table).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let store = store.clone();
        async move {
            let response: DynamoDbEventResponse =
                batch::stream_in_order(&event.payload, |record| handle(&store, record)).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

fn image(item: &serde_dynamo::Item) -> Option<serde_dynamo::Item> {
    (!item.is_empty()).then(|| item.clone())
}

async fn handle(store: &Store, record: EventRecord) -> AppResult<()> {
    let old = discussions::counted_record(image(&record.change.old_image))?;
    let new = discussions::counted_record(image(&record.change.new_image))?;
    let Some(change) = discussions::counter_change(old.as_ref(), new.as_ref()) else {
        return Ok(());
    };
    discussions::apply_counter_change(store, &record.event_id, &change).await
}
