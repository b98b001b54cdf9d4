//! The activity-feed endpoint group: a thin adapter from HTTP to `agora::feed`.

use std::sync::Arc;

use agora::auth::Authenticator;
use agora::config::ApiConfig;
use agora::cursor::{CursorCodec, parse_limit};
use agora::edge::{self, HttpRequest, HttpResponse, match_path};
use agora::feed::{self, NewActivity, NewComment, NewShare};
use agora::ids::UserId;
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
    Activities,
    Activity(String),
    Like(String),
    Comments(String),
    Shares(String),
    Feed,
    Timeline,
}

fn route(path: &str) -> Option<Route> {
    let param = |template: &str| {
        match_path(template, path).and_then(|params| params.get("activityId").cloned())
    };
    if let Some(id) = param("/v1/activities/{activityId}/like") {
        return Some(Route::Like(id));
    }
    if let Some(id) = param("/v1/activities/{activityId}/comments") {
        return Some(Route::Comments(id));
    }
    if let Some(id) = param("/v1/activities/{activityId}/shares") {
        return Some(Route::Shares(id));
    }
    if let Some(id) = param("/v1/activities/{activityId}") {
        return Some(Route::Activity(id));
    }
    match path.trim_end_matches('/') {
        "/v1/activities" => Some(Route::Activities),
        "/v1/feed" => Some(Route::Feed),
        "/v1/timeline" => Some(Route::Timeline),
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

async fn serve(
    state: &State,
    me: &UserId,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let store = &state.store;
    let limit = || parse_limit(request.query_param("limit"));
    let cursor = request.query_param("cursor");
    match (route, request.method.as_str()) {
        (Route::Activities, "POST") => {
            let input: NewActivity = request.json()?;
            let activity = feed::post_activity(store, me, input).await?;
            Ok(HttpResponse::json(201, &activity)?.with_header(
                "location",
                format!("/v1/activities/{}", activity.activity_id),
            ))
        }
        (Route::Activities, _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::Activity(id), "GET") => {
            HttpResponse::json(200, &feed::get_activity(store, me, &id).await?)
        }
        (Route::Activity(id), "DELETE") => {
            feed::delete_activity(store, me, &id).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Activity(_), _) => Err(AppError::MethodNotAllowed("GET, DELETE".into())),
        (Route::Like(id), "PUT") => {
            feed::like(store, me, &id).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Like(id), "DELETE") => {
            feed::unlike(store, me, &id).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Like(_), _) => Err(AppError::MethodNotAllowed("PUT, DELETE".into())),
        (Route::Comments(id), "POST") => {
            let input: NewComment = request.json()?;
            let comment = feed::add_comment(store, me, &id, input).await?;
            HttpResponse::json(201, &comment)
        }
        (Route::Comments(id), "GET") => {
            let page =
                feed::list_comments(store, &state.cursors, me, &id, limit()?, cursor).await?;
            HttpResponse::json(200, &page)
        }
        (Route::Comments(_), _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Shares(id), "POST") => {
            let input: NewShare = request.json()?;
            let activity = feed::share(store, me, &id, input).await?;
            Ok(HttpResponse::json(201, &activity)?.with_header(
                "location",
                format!("/v1/activities/{}", activity.activity_id),
            ))
        }
        (Route::Shares(_), _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::Feed, "GET") => HttpResponse::json(
            200,
            &feed::home_feed(store, &state.cursors, me, limit()?, cursor).await?,
        ),
        (Route::Feed, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Timeline, "GET") => HttpResponse::json(
            200,
            &feed::public_timeline(store, &state.cursors, me, limit()?, cursor).await?,
        ),
        (Route::Timeline, _) => Err(AppError::MethodNotAllowed("GET".into())),
    }
}
