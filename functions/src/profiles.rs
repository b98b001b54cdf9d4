//! The profiles endpoint group: profiles, privacy, my account's export and erasure.
//! Its routes and handlers are `agora::edge::routes::profiles` (one declaration for the
//! router and the OpenAPI document); this binary only builds the state and serves them.

use std::sync::Arc;

use agora::account::export::Archives;
use agora::account::queue::JobQueue;
use agora::config::{self, ApiConfig};
use agora::edge::routes::profiles::{self, ProfilesState};
use agora::edge::{Api, http};

pub async fn run() -> Result<(), lambda_http::Error> {
    // All configuration is read before any client is built, so a bad value fails at once.
    let sdk = aws_config::load_from_env().await;
    let config = ApiConfig::from_env(&sdk)?;
    let jobs_queue = config::required("ACCOUNT_JOBS_QUEUE_URL")?;
    let state = Arc::new(ProfilesState {
        api: Api::new(&config, &sdk),
        jobs: JobQueue::new(&sdk, jobs_queue),
        pusher: agora::edge::ws::pusher(&sdk),
        archives: Archives::from_env(&sdk)?,
    });
    http::run(http::router(profiles::routes(), state)).await
}
