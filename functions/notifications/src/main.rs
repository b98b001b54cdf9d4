//! The notifications endpoint group: a thin adapter from HTTP to `agora::notifications`.
//! Notifications themselves are created by the `notifier` stream function only.

use std::sync::Arc;

use agora::auth::Authenticator;
use agora::config::ApiConfig;
use agora::cursor::{CursorCodec, parse_limit};
use agora::edge::{self, HttpRequest, HttpResponse, match_path};
use agora::ids::UserId;
use agora::notifications::{self, PreferencesInput};
use agora::store::Store;
use agora::{AppError, AppResult, telemetry};

struct State {
    store: Store,
    auth: Authenticator,
    cursors: CursorCodec,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = ApiConfig::from_env()?;
    let state = Arc::new(State {
        store: Store::from_environment(&config.table_name).await,
        auth: Authenticator::new(config.jwt.clone()),
        cursors: CursorCodec::new(&config.cursor_secret),
    });
    edge::run_http(state, handle).await
}

/// The routes of this group; the template maps the same paths to this function.
enum Route {
    List,
    UnreadCount,
    ReadAll,
    Preferences,
    Read(String),
}

fn route(path: &str) -> Option<Route> {
    if let Some(params) = match_path("/v1/notifications/{notificationId}/read", path) {
        return params.get("notificationId").cloned().map(Route::Read);
    }
    match path.trim_end_matches('/') {
        "/v1/notifications" => Some(Route::List),
        "/v1/notifications/unread-count" => Some(Route::UnreadCount),
        "/v1/notifications/read-all" => Some(Route::ReadAll),
        "/v1/notifications/preferences" => Some(Route::Preferences),
        _ => None,
    }
}

async fn handle(state: Arc<State>, request: HttpRequest) -> AppResult<HttpResponse> {
    let route = route(&request.path)
        .ok_or_else(|| AppError::NotFound(format!("no resource at {}", request.path)))?;
    let (state, request) = (&state, &request);
    edge::serve_authenticated(&state.store, &state.auth, request, |principal| async move {
        serve(state, &principal.user_id, route, request).await
    })
    .await
}

fn unread_filter(raw: Option<&str>) -> AppResult<bool> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(AppError::bad_field("unread", "must be true or false")),
    }
}

async fn serve(
    state: &State,
    me: &UserId,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let store = &state.store;
    match (route, request.method.as_str()) {
        (Route::List, "GET") => {
            let unread = unread_filter(request.query_param("unread"))?;
            let limit = parse_limit(request.query_param("limit"))?;
            let page = notifications::list_notifications(
                store,
                &state.cursors,
                me,
                unread,
                limit,
                request.query_param("cursor"),
            )
            .await?;
            HttpResponse::json(200, &page)
        }
        (Route::List, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::UnreadCount, "GET") => {
            HttpResponse::json(200, &notifications::unread_count(store, me).await?)
        }
        (Route::UnreadCount, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Read(id), "POST") => {
            notifications::mark_read(store, me, &id).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Read(_), _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::ReadAll, "POST") => {
            HttpResponse::json(200, &notifications::mark_all_read(store, me).await?)
        }
        (Route::ReadAll, _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::Preferences, "GET") => {
            HttpResponse::json(200, &notifications::get_preferences(store, me).await?)
        }
        (Route::Preferences, "PUT") => {
            let input: PreferencesInput = request.json()?;
            HttpResponse::json(
                200,
                &notifications::set_preferences(store, me, input).await?,
            )
        }
        (Route::Preferences, _) => Err(AppError::MethodNotAllowed("GET, PUT".into())),
    }
}
