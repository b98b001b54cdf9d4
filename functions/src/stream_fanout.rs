//! The fan-out function: one of the two readers of the table's stream. Every record is
//! decoded once and handed to each projection and fan-out reaction of the contexts that
//! declared its entity (profiles, discussions, feed, chat: see `agora::reactions`);
//! the reactions run concurrently, each key's records in order, and a record that fails
//! in any of them is reported for retry (they are all idempotent).

use std::sync::Arc;

use agora::edge::stream;
use agora::reactions::{self, FanoutConfig};
use agora::store::Store;
use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};

pub async fn run() -> Result<(), lambda_runtime::Error> {
    let config = FanoutConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let store = Store::from_sdk_config(&aws, config.table_name.clone());
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let pusher = agora::edge::ws::pusher(&aws);
    let reactions = Arc::new(reactions::fanout(&store, &sqs, &pusher, &config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let reactions = reactions.clone();
        async move { Ok::<_, lambda_runtime::Error>(stream::react(&event.payload, &reactions).await) }
    }))
    .await
}
