//! The notifications endpoint group: a thin adapter from HTTP to `agora::notifications`.
//! Its routes and handlers are `agora::edge::routes::notifications` (one declaration for the
//! router and the OpenAPI document); this binary only builds the state and serves them.

use std::sync::Arc;

use agora::config::ApiConfig;
use agora::edge::{Api, http, routes};

pub async fn run() -> Result<(), lambda_http::Error> {
    let sdk = aws_config::load_from_env().await;
    let api = Arc::new(Api::new(&ApiConfig::from_env(&sdk)?, &sdk));
    http::run(http::router(routes::notifications::routes(), api)).await
}
