//! `GET /v1/health`: reports whether the table is reachable. No authentication, so
//! load balancers and uptime checks can call it.

use std::sync::Arc;

use agora::edge::{self, HttpRequest, HttpResponse};
use agora::store::Store;
use agora::{AppError, AppResult, config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let store = Arc::new(Store::from_environment(table).await);
    edge::run_http(store, handle).await
}

async fn handle(store: Arc<Store>, request: HttpRequest) -> AppResult<HttpResponse> {
    if request.method != "GET" {
        return Err(AppError::MethodNotAllowed("GET".into()));
    }
    let (status, table) = match store.ping().await {
        Ok(()) => (200, "reachable"),
        Err(error) => {
            tracing::error!(%error, "health check: table unreachable");
            (503, "unreachable")
        }
    };
    let body = serde_json::json!({
        "status": if status == 200 { "ok" } else { "degraded" },
        "table": table,
        "time": agora::ids::now_rfc3339(),
    });
    Ok(HttpResponse::json(status, &body)?.with_header("cache-control", "no-store"))
}
