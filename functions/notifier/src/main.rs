//! Turns the table's stream into notifications: each record of a connection request, a
//! connection, a topic, a reply or a reaction may notify someone (see
//! `agora::notifications::intents_of`). New notifications are pushed to every open
//! WebSocket connection of their recipient; a connection that answers 410 Gone is
//! forgotten. Records are applied idempotently, so a redelivered batch changes nothing.

use std::sync::Arc;

use agora::batch;
use agora::notifications::{self, Change, ChangeKind};
use agora::push::Pusher;
use agora::store::Store;
use agora::{AppResult, config, telemetry};
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};

struct State {
    store: Store,
    pusher: Pusher,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let aws = aws_config::load_from_env().await;
    let state = Arc::new(State {
        store: Store::from_sdk_config(&aws, table),
        pusher: Pusher::from_sdk_config(&aws),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let state = state.clone();
        async move {
            let response: DynamoDbEventResponse =
                batch::stream_in_order(&event.payload, |record| handle(&state, record)).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

fn change_of(record: EventRecord) -> Option<Change> {
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        _ => return None,
    };
    let image = |item: serde_dynamo::Item| (!item.is_empty()).then_some(item);
    Some(Change {
        kind,
        event_id: record.event_id,
        old: image(record.change.old_image),
        new: image(record.change.new_image),
    })
}

async fn handle(state: &State, record: EventRecord) -> AppResult<()> {
    let Some(change) = change_of(record) else {
        return Ok(());
    };
    let delivered = notifications::apply_change(&state.store, &change).await?;
    for notification in delivered {
        // The notification is stored: pushing is best effort (the list and the count
        // are the source of truth), so a failed push never fails the record.
        if let Err(error) = state
            .pusher
            .push_notification(&state.store, notification)
            .await
        {
            tracing::warn!(%error, "pushing a notification failed");
        }
    }
    Ok(())
}
