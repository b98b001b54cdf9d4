//! The moderation endpoint group: reports and the review queues. Its routes and handlers are
//! `agora::edge::routes::moderation`; this binary only builds the state and serves them.

use std::sync::Arc;

use agora::config::{ApiConfig, ReportConfig};
use agora::edge::routes::moderation;
use agora::edge::{Api, http};

pub async fn run() -> Result<(), lambda_http::Error> {
    // All configuration is read before any client is built, so a bad value fails at once.
    let sdk = aws_config::load_from_env().await;
    let config = ApiConfig::from_env(&sdk)?;
    let reports = ReportConfig::from_env()?;
    let api = Arc::new(Api::new(&config, &sdk));
    let pusher = agora::edge::ws::pusher(&sdk);
    http::run(moderation::router(api, reports, pusher)).await
}
