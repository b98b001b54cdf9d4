//! Development pages the local stack serves beside the HTTP API, on the same origin:
//!
//! - `GET /app/...`: the static browser client (the repository's `web/` folder);
//! - `GET /local/config`: the URLs the page needs (`httpApi`, `webSocket`);
//! - `GET /local/demo-users`: the demo users and their development tokens, once
//!   `agora-local up --demo` has seeded them (an empty list before).
//!
//! None of this is part of `template.yaml` or of API Gateway: in AWS the page is hosted
//! elsewhere and told the API and WebSocket URLs. The `/local/` answers carry no CORS
//! headers, so only pages of this origin (the client under `/app/`) can read the tokens.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;

/// The path prefix of the browser client.
pub const APP_PREFIX: &str = "/app/";

/// A demo user the page offers at sign-in.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoUserToken {
    pub user_id: String,
    pub handle: String,
    pub display_name: String,
    pub token: String,
}

/// What the development pages serve.
#[derive(Debug)]
pub struct LocalPages {
    /// The canonical `web/` folder, when it exists.
    web_dir: Option<PathBuf>,
    http_url: String,
    websocket_url: Option<String>,
    demo_users: RwLock<Vec<DemoUserToken>>,
}

impl LocalPages {
    /// `web_dir` is ignored (with a warning) when it is not a readable folder.
    pub fn new(web_dir: Option<&Path>, http_url: String, websocket_url: Option<String>) -> Self {
        let web_dir = web_dir.and_then(|dir| match dir.canonicalize() {
            Ok(dir) if dir.is_dir() => Some(dir),
            _ => {
                tracing::warn!(dir = %dir.display(), "no web folder: the browser client is not served");
                None
            }
        });
        Self {
            web_dir,
            http_url,
            websocket_url,
            demo_users: RwLock::new(Vec::new()),
        }
    }

    /// `http://127.0.0.1:<port>/app/` when the client is served.
    pub fn app_url(&self) -> Option<String> {
        self.web_dir
            .as_ref()
            .map(|_| format!("{}{APP_PREFIX}", self.http_url))
    }

    /// Replaces the demo users `GET /local/demo-users` lists.
    pub fn set_demo_users(&self, users: Vec<DemoUserToken>) {
        match self.demo_users.write() {
            Ok(mut guard) => *guard = users,
            Err(poisoned) => *poisoned.into_inner() = users,
        }
    }

    fn demo_users(&self) -> Vec<DemoUserToken> {
        match self.demo_users.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The development routes; merged in front of the HTTP API's catch-all.
pub fn router(pages: Arc<LocalPages>) -> Router {
    Router::new()
        .route("/app", get(|| async { Redirect::permanent(APP_PREFIX) }))
        .route("/app/", get(index))
        .route("/app/{*path}", get(file))
        .route("/local/config", get(config))
        .route("/local/demo-users", get(demo_users))
        .with_state(pages)
}

async fn config(State(pages): State<Arc<LocalPages>>) -> Response {
    axum::Json(json!({
        "httpApi": pages.http_url,
        "webSocket": pages.websocket_url,
    }))
    .into_response()
}

async fn demo_users(State(pages): State<Arc<LocalPages>>) -> Response {
    let mut response = axum::Json(json!({ "items": pages.demo_users() })).into_response();
    // Tokens: never cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn index(State(pages): State<Arc<LocalPages>>) -> Response {
    serve(&pages, "").await
}

async fn file(State(pages): State<Arc<LocalPages>>, UrlPath(path): UrlPath<String>) -> Response {
    serve(&pages, &path).await
}

async fn serve(pages: &LocalPages, request_path: &str) -> Response {
    let Some(root) = &pages.web_dir else {
        return not_found();
    };
    let Some(mut path) = resolve(root, request_path) else {
        return not_found();
    };
    if path.is_dir() {
        path.push("index.html");
    }
    // A symbolic link must not lead out of the folder either.
    let Ok(canonical) = tokio::fs::canonicalize(&path).await else {
        return not_found();
    };
    if !canonical.starts_with(root) || !canonical.is_file() {
        return not_found();
    }
    match tokio::fs::read(&canonical).await {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&canonical)),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }
        Err(error) => {
            tracing::warn!(%error, path = %canonical.display(), "reading a web file failed");
            not_found()
        }
    }
}

/// The file a (percent-decoded) request path names under `root`, or `None` for any path
/// that could leave it: `..`, `.`, hidden names, backslashes, NUL, drive prefixes.
pub fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in request_path.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(['\\', '\0', ':']) {
            return None;
        }
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) => path.push(name),
            _ => return None,
        }
    }
    Some(path)
}

/// The content type of a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "message": "Not Found" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_folder_resolve_to_nothing() {
        let root = Path::new("/srv/web");

        for path in [
            "..",
            "../etc/passwd",
            "a/../../x",
            "./index.html",
            ".git/config",
            "a\\..\\b",
            "c:/x",
            "a\0b",
        ] {
            assert_eq!(resolve(root, path), None, "{path:?}");
        }
        assert_eq!(
            resolve(root, "app.js"),
            Some(PathBuf::from("/srv/web/app.js"))
        );
        assert_eq!(
            resolve(root, "img//logo.png"),
            Some(PathBuf::from("/srv/web/img/logo.png"))
        );
        assert_eq!(resolve(root, ""), Some(PathBuf::from("/srv/web")));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type(Path::new("index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("app.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("style.css")),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("blob")), "application/octet-stream");
    }
}
