//! The chat endpoint group: rooms (direct conversations and groups), members, message
//! history, edits, read positions, archive and presence. Its routes and handlers are
//! `agora::edge::routes::chat`; live events reach clients over the WebSocket API.

use std::sync::Arc;

use agora::chat::RateLimit;
use agora::config::ApiConfig;
use agora::edge::routes::chat::{self, ChatState};
use agora::edge::{Api, http};

pub async fn run() -> Result<(), lambda_http::Error> {
    // All configuration is read before any client is built, so a bad value fails at once.
    let sdk = aws_config::load_from_env().await;
    let config = ApiConfig::from_env(&sdk)?;
    let send_limit = RateLimit::from_env()?;
    let state = Arc::new(ChatState {
        api: Api::new(&config, &sdk),
        send_limit,
    });
    http::run(http::router(chat::routes(), state)).await
}
