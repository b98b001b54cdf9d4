//! The scheduler function: an EventBridge schedule rule invokes it every minute, and
//! each invocation runs one tick of `agora::edge::scheduled`.

use std::sync::Arc;
use std::time::Duration;

use agora::config;
use agora::edge::scheduled;
use agora::store::Store;
use lambda_runtime::{LambdaEvent, service_fn};

/// The share of the function's timeout a tick may spend on work.
const BUDGET: Duration = Duration::from_secs(40);

pub async fn run() -> Result<(), lambda_runtime::Error> {
    let table = config::required("TABLE_NAME")?;
    let store = Arc::new(Store::from_environment(table).await);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let store = store.clone();
        async move {
            // A failed tick is an error to Lambda, which retries it.
            let done = scheduled::tick(&store, BUDGET).await.map_err(Box::new)?;
            Ok::<_, lambda_runtime::Error>(done)
        }
    }))
    .await
}
