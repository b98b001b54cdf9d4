//! Turns the table's stream into notifications: each record of a connection request, a
//! connection, a topic, a reply or a reaction may notify someone (see
//! `agora::notifications::intents_of`). New notifications are pushed to every open
//! WebSocket connection of their recipient; a connection that answers 410 Gone is
//! forgotten. Records are applied idempotently, so a redelivered batch changes nothing.

use std::sync::Arc;

use agora::batch;
use agora::notifications::{self, Change, ChangeKind, Notification, NotificationFrame};
use agora::realtime;
use agora::store::Store;
use agora::{AppError, AppResult, config, telemetry};
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use lambda_runtime::{LambdaEvent, service_fn};

struct State {
    store: Store,
    connections: aws_sdk_apigatewaymanagement::Client,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let aws = aws_config::load_from_env().await;
    let state = Arc::new(State {
        store: Store::from_sdk_config(&aws, table),
        // The endpoint comes from AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI (the template
        // in AWS, the local stack here).
        connections: aws_sdk_apigatewaymanagement::Client::new(&aws),
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
        if let Err(error) = push(state, notification).await {
            tracing::warn!(%error, "pushing a notification failed");
        }
    }
    Ok(())
}

/// Sends the notification to every open connection of its recipient.
async fn push(state: &State, notification: Notification) -> AppResult<()> {
    let recipient = notification.user_id.clone();
    let open = realtime::connections_of(&state.store, &recipient).await?;
    if open.is_empty() {
        return Ok(());
    }
    let unread = notifications::unread_count(&state.store, &recipient).await?;
    let view = notifications::views(&state.store, &recipient, vec![notification])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("a rendered notification went missing"))?;
    let frame = NotificationFrame::new(view, unread.unread);
    let data = serde_json::to_vec(&frame).map_err(AppError::internal)?;
    for connection in open {
        let result = state
            .connections
            .post_to_connection()
            .connection_id(&connection.connection_id)
            .data(Blob::new(data.clone()))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) =>
            {
                // The client left without a $disconnect: forget the stale record.
                realtime::remove_connection(&state.store, &connection.connection_id).await?;
            }
            Err(error) => tracing::warn!(
                connection_id = %connection.connection_id,
                error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(error),
                "a push failed"
            ),
        }
    }
    Ok(())
}
