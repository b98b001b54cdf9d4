//! The discussions endpoint group: a thin adapter from HTTP to `agora::discussions`.
//! Its routes and handlers are `agora::edge::routes::discussions` (one declaration for the
//! router and the OpenAPI document); this binary only builds the state and serves them.

use std::sync::Arc;

use agora::config::{self, ApiConfig};
use agora::discussions::ViewQueue;
use agora::edge::{Api, http, routes};

pub async fn run() -> Result<(), lambda_http::Error> {
    // All configuration is read before any client is built, so a bad value fails at once.
    let sdk = aws_config::load_from_env().await;
    let config = ApiConfig::from_env(&sdk)?;
    let views_queue = config::required("TOPIC_VIEWS_QUEUE_URL")?;
    let views = ViewQueue::new(aws_sdk_sqs::Client::new(&sdk), views_queue);
    let api = Arc::new(Api::new(&config, &sdk));
    http::run(routes::discussions::router(api, views)).await
}
