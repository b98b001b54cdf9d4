//! Reacts to profile changes on the table's stream: keeps the skill search index and the
//! occupation / learning-goal indexes of connection suggestions in step, and queues
//! moderation of changed text. Every effect is idempotent, so a redelivered
//! record is harmless.

use std::sync::Arc;

use agora::batch;
use agora::moderation::ModerationJob;
use agora::profiles::{self, Profile};
use agora::store::{self, Store};
use agora::{AppError, AppResult, config, telemetry};
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};

struct State {
    store: Store,
    sqs: aws_sdk_sqs::Client,
    moderation_queue_url: String,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let moderation_queue_url = config::required("MODERATION_QUEUE_URL")?;
    let aws = aws_config::load_from_env().await;
    let state = Arc::new(State {
        store: Store::from_sdk_config(&aws, table),
        sqs: aws_sdk_sqs::Client::new(&aws),
        moderation_queue_url,
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

fn image(item: &serde_dynamo::Item) -> AppResult<Option<Profile>> {
    if item.is_empty() {
        return Ok(None);
    }
    profiles::profile_from_item(item.clone()).map(Some)
}

async fn handle(state: &State, record: EventRecord) -> AppResult<()> {
    let keys: std::collections::HashMap<String, String> =
        store::from_item(record.change.keys.clone()).unwrap_or_default();
    let (Some(pk), Some(sk)) = (keys.get("PK"), keys.get("SK")) else {
        return Ok(());
    };
    if !profiles::is_profile_key(pk, sk) {
        return Ok(());
    }
    let old = image(&record.change.old_image)?;
    let new = image(&record.change.new_image)?;
    profiles::reindex_skills(&state.store, old.as_ref(), new.as_ref()).await?;
    profiles::reindex_match_attributes(&state.store, old.as_ref(), new.as_ref()).await?;
    if let Some(profile) = new
        .as_ref()
        .filter(|_| profiles::needs_moderation(old.as_ref(), new.as_ref()))
    {
        let job = ModerationJob::ModerateProfile {
            user_id: profile.user_id.clone(),
            version: profile.version,
        };
        state
            .sqs
            .send_message()
            .queue_url(&state.moderation_queue_url)
            .message_body(serde_json::to_string(&job).map_err(AppError::internal)?)
            .send()
            .await
            .map_err(|e| AppError::internal(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}
