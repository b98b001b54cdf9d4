//! `GET /v1/health` (whether the table is reachable), `GET /v1/openapi.json` (the whole
//! HTTP API's document) and the HTTP API's `$default` route (problem+json 404/405 for
//! requests no route takes). No authentication, so load balancers and uptime checks can
//! call it. Its routes are `agora::edge::routes::health`.

use agora::config;
use agora::edge::http;
use agora::edge::routes::health::{self, Health};
use agora::store::Store;

pub async fn run() -> Result<(), lambda_http::Error> {
    let table = config::required("TABLE_NAME")?;
    let health = Health::new(Store::from_environment(table).await);
    http::run(health::router(health)).await
}
