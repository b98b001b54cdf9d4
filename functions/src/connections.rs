//! The connections endpoint group: requests, connections, blocks and suggestions.
//! Its routes and handlers are `agora::edge::routes::connections` (one declaration for the
//! router and the OpenAPI document); this binary only builds the state and serves them.

use std::sync::Arc;

use agora::config::ApiConfig;
use agora::edge::routes::connections::{self, SuggestionSettings};
use agora::edge::{Api, http};

pub async fn run() -> Result<(), lambda_http::Error> {
    // All configuration is read before any client is built, so a bad value fails at once.
    let sdk = aws_config::load_from_env().await;
    let config = ApiConfig::from_env(&sdk)?;
    let settings = SuggestionSettings::from_env()?;
    let api = Arc::new(Api::new(&config, &sdk));
    http::run(connections::router(api, settings)).await
}
