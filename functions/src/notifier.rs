//! The notification function: the other reader of the table's stream. Turns records
//! into notifications and pushes them to open WebSocket connections (see
//! `agora::reactions::Notifier`); records are applied idempotently, in shard order.

use std::sync::Arc;

use agora::edge::stream;
use agora::store::Store;
use agora::{config, reactions};
use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};

pub async fn run() -> Result<(), lambda_runtime::Error> {
    let table = config::required("TABLE_NAME")?;
    let aws = aws_config::load_from_env().await;
    let store = Store::from_sdk_config(&aws, table);
    let pusher = agora::edge::ws::pusher(&aws);
    let reactions = Arc::new(reactions::notification(&store, &pusher));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let reactions = reactions.clone();
        async move { Ok::<_, lambda_runtime::Error>(stream::react(&event.payload, &reactions).await) }
    }))
    .await
}
