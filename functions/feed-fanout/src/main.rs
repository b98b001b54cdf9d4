//! Generates activities from the table's stream (topics, replies, connections, accepted
//! answers) and fans activities and their deletion out into home feeds and the public
//! timeline. The fan-out is bounded per invocation and continues through progress items
//! (see `agora::feed`), so no batch times out whatever the author's audience.

use std::sync::Arc;

use agora::batch;
use agora::feed::{self, Change, ChangeKind, FanoutBudget, FanoutSettings};
use agora::store::{self, Store};
use agora::{AppResult, config, telemetry};
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};

struct State {
    store: Store,
    settings: FanoutSettings,
}

fn number(name: &'static str, default: u32) -> Result<u32, config::ConfigError> {
    match config::optional(name) {
        None => Ok(default),
        Some(raw) => {
            raw.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(config::ConfigError::Invalid {
                    name,
                    reason: "must be a positive integer".into(),
                })
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let settings = FanoutSettings {
        page_size: number("FEED_FANOUT_PAGE_SIZE", 100)?,
        max_pages_per_invocation: number("FEED_FANOUT_PAGES_PER_INVOCATION", 4)?,
    };
    let state = Arc::new(State {
        store: Store::from_environment(table).await,
        settings,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let state = state.clone();
        async move {
            // One budget per invocation, shared by every record of the batch.
            let budget = FanoutBudget::new(state.settings.max_pages_per_invocation);
            let response: DynamoDbEventResponse =
                batch::stream_in_order(&event.payload, |record| handle(&state, &budget, record))
                    .await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

fn image(item: &serde_dynamo::Item) -> Option<serde_dynamo::Item> {
    (!item.is_empty()).then(|| item.clone())
}

async fn handle(state: &State, budget: &FanoutBudget, record: EventRecord) -> AppResult<()> {
    let keys: std::collections::HashMap<String, String> =
        store::from_item(record.change.keys.clone()).unwrap_or_default();
    let (Some(pk), Some(sk)) = (keys.get("PK"), keys.get("SK")) else {
        return Ok(());
    };
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        _ => return Ok(()),
    };
    let change = Change {
        kind,
        pk: pk.clone(),
        sk: sk.clone(),
        old: image(&record.change.old_image),
        new: image(&record.change.new_image),
    };
    // Boxed: the domain future is deep enough to overflow the compiler's layout limit.
    Box::pin(feed::on_change(
        &state.store,
        state.settings,
        budget,
        &change,
    ))
    .await
}
