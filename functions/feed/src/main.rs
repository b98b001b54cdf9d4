//! The activity-feed endpoint group: a thin adapter from HTTP to `agora::feed`.

use agora::auth::Principal;
use agora::config::ApiConfig;
use agora::cursor::parse_limit;
use agora::edge::{self, Api, HttpRequest, HttpResponse, match_path};
use agora::feed::{self, NewActivity, NewComment, NewShare};
use agora::{AppError, AppResult, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let api = Api::new(&ApiConfig::from_env()?).await;
    edge::run_api(api, route, serve).await
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

async fn serve(
    api: &Api,
    principal: &Principal,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let store = &api.store;
    let me = &principal.user_id;
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
            let page = feed::list_comments(store, &api.cursors, me, &id, limit()?, cursor).await?;
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
            &feed::home_feed(store, &api.cursors, me, limit()?, cursor).await?,
        ),
        (Route::Feed, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Timeline, "GET") => HttpResponse::json(
            200,
            &feed::public_timeline(store, &api.cursors, me, limit()?, cursor).await?,
        ),
        (Route::Timeline, _) => Err(AppError::MethodNotAllowed("GET".into())),
    }
}
