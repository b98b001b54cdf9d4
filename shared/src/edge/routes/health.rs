//! The health function: `GET /v1/health`, the OpenAPI document and the HTTP API's
//! `$default` route (problem+json 404 for an unknown path, 405 with `Allow` for a known
//! path and another method). No authentication.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::AppError;
use crate::edge::HttpResponse;
use crate::edge::http::{ApiResult, LazyRouteIndex, finish};
use crate::edge::openapi::{self, RouteIndex};
use crate::table::store::Store;

const TAG: &str = "health";

/// What the health function serves with.
#[derive(Clone)]
pub struct Health {
    store: Arc<Store>,
    /// The whole API's document, serialized once per execution environment, on its
    /// first use (building it is most of what a cold start would otherwise do).
    document: Arc<std::sync::LazyLock<Result<Vec<u8>, String>>>,
    routes: Arc<LazyRouteIndex>,
}

impl Health {
    pub fn new(store: Store) -> Self {
        Self {
            store: Arc::new(store),
            routes: Arc::new(LazyRouteIndex::new(Box::new(|| {
                RouteIndex::new(&openapi::document())
            }))),
            document: Arc::new(std::sync::LazyLock::new(|| {
                openapi::document()
                    .to_json()
                    .map(String::into_bytes)
                    .map_err(|error| error.to_string())
            })),
        }
    }
}

pub fn routes() -> OpenApiRouter<Health> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(openapi_document))
}

/// The health function's router: its routes, and every other request as `$default`
/// (404, or 405 for a path of the whole API's document).
pub fn router(health: Health) -> Router {
    let (router, _) = routes().split_for_parts();
    let index = Arc::clone(&health.routes);
    finish(router, index).with_state(health)
}

/// Whether the table is reachable.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// `ok` or `degraded`.
    status: String,
    /// `reachable` or `unreachable`.
    table: String,
    /// The server's time, RFC 3339.
    time: String,
}

/// Whether the API and its table are up (no token needed).
#[utoipa::path(get, path = "/v1/health", tag = TAG, security(()),
    responses(
        (status = 200, body = HealthReport, description = "Up, the table is reachable"),
        (status = 503, body = HealthReport, description = "The table is unreachable"),
    ))]
async fn health(State(health): State<Health>) -> ApiResult {
    let (status, table) = match health.store.ping().await {
        Ok(()) => (200, "reachable"),
        Err(error) => {
            tracing::error!(%error, "health check: table unreachable");
            (503, "unreachable")
        }
    };
    let report = HealthReport {
        status: if status == 200 { "ok" } else { "degraded" }.to_owned(),
        table: table.to_owned(),
        time: crate::core::ids::now_rfc3339(),
    };
    Ok(HttpResponse::json(status, &report)?.with_header("cache-control", "no-store"))
}

/// This document: the OpenAPI 3.1 description of the whole HTTP API (no token needed).
#[utoipa::path(get, path = "/v1/openapi.json", tag = TAG, security(()),
    responses((status = 200, body = Object, description = "The OpenAPI 3.1 document")))]
async fn openapi_document(State(health): State<Health>) -> ApiResult {
    let document = std::sync::LazyLock::force(&health.document)
        .as_ref()
        .map_err(|error| AppError::Internal(format!("the OpenAPI document: {error}")))?;
    Ok(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(document.clone()),
    })
}
