//! The notifications endpoint group: a thin adapter from HTTP to `agora::notifications`.
//! Notifications themselves are created by the `notifier` stream function only.

use agora::auth::Principal;
use agora::config::ApiConfig;
use agora::cursor::parse_limit;
use agora::edge::{self, Api, HttpRequest, HttpResponse, match_path};
use agora::notifications::{self, PreferencesInput};
use agora::{AppError, AppResult, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let api = Api::new(&ApiConfig::from_env()?).await;
    edge::run_api(api, route, serve).await
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

fn unread_filter(raw: Option<&str>) -> AppResult<bool> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(AppError::bad_field("unread", "must be true or false")),
    }
}

async fn serve(
    api: &Api,
    principal: &Principal,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let store = &api.store;
    let me = &principal.user_id;
    match (route, request.method.as_str()) {
        (Route::List, "GET") => {
            let unread = unread_filter(request.query_param("unread"))?;
            let limit = parse_limit(request.query_param("limit"))?;
            let page = notifications::list_notifications(
                store,
                &api.cursors,
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
