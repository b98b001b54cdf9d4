//! The functions' AWS endpoint: a loopback proxy in front of moto that enforces each
//! function's role ([`crate::iam`]) before passing a request on unchanged.
//!
//! Functions get its URL as `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_S3` (so presigned
//! S3 URLs a function signs point here too, and are checked against the signer's role,
//! as in AWS). Requests not signed by one of the stack's functions pass unchecked.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::faults::Faults;
use crate::iam::{Enforcer, RequestParts};

/// Larger than any request a function sends (S3 parts are 5 to 8 MiB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Headers that belong to one hop, not to the request moto should see.
const HOP_HEADERS: [&str; 7] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "expect",
    "upgrade",
];

#[derive(Clone)]
struct ProxyState {
    enforcer: Arc<Enforcer>,
    faults: Arc<Faults>,
    upstream: String,
    client: reqwest::Client,
}

/// A running proxy.
pub struct IamProxy {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for IamProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamProxy")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl IamProxy {
    /// Serves on `listener`, passing allowed requests to moto at `upstream`.
    pub fn start(
        listener: tokio::net::TcpListener,
        enforcer: Arc<Enforcer>,
        faults: Arc<Faults>,
        upstream: &str,
    ) -> anyhow::Result<Self> {
        let local_addr = listener.local_addr()?;
        crate::install_crypto_provider();
        let state = ProxyState {
            enforcer,
            faults,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
        };
        let app = Router::new().fallback(proxy).with_state(state);
        let (shutdown, mut stop) = watch::channel(false);
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "IAM proxy stopped");
            }
        });
        Ok(Self {
            local_addr,
            shutdown,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the functions' `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.server)
            .await
            .is_err()
        {
            tracing::warn!("IAM proxy did not stop in time");
        }
    }
}

async fn proxy(State(state): State<ProxyState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(error) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, error.to_string()).into_response();
        }
    };
    let query = parts.uri.query();
    // The function to kill once this call is carried out, if it trips a fault.
    let mut kill = None;
    if let Some(principal) = state.enforcer.principal(&parts.headers, query) {
        let request = RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query,
            headers: &parts.headers,
            body: &body,
        };
        if let Err(refusal) = state.enforcer.check(principal, &request) {
            return refusal.response().map(Body::from);
        }
        if state.faults.armed_for(&principal.function) {
            let operation =
                crate::iam::authorizations(&request, state.enforcer.partition()).operation;
            if state.faults.trips(&principal.function, &operation) {
                kill = Some(principal.function.clone());
            }
        }
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let mut forward = state
        .client
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", state.upstream),
        )
        .body(body);
    for (name, value) in &parts.headers {
        if !HOP_HEADERS.contains(&name.as_str()) {
            forward = forward.header(name, value);
        }
    }
    let answer = match forward.send().await {
        Ok(answer) => answer,
        Err(error) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("moto did not answer: {error}"),
            )
                .into_response();
        }
    };
    if let Some(function) = kill {
        // Carried out; the caller dies before it hears so.
        let _ = answer.bytes().await;
        state.faults.kill(&function);
        return (
            StatusCode::BAD_GATEWAY,
            "the caller was killed (fault injection)",
        )
            .into_response();
    }
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        // Content-Length stays: a HEAD answer has no body but the object's length.
        if name == http::header::CONTENT_LENGTH || !HOP_HEADERS.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    match answer.bytes().await {
        Ok(bytes) => response
            .body(Body::from(bytes))
            .unwrap_or_else(|error| (StatusCode::BAD_GATEWAY, error.to_string()).into_response()),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            format!("moto's answer was cut: {error}"),
        )
            .into_response(),
    }
}
