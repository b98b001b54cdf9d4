//! The connections endpoint group: requests, connections, blocks and suggestions — a
//! thin adapter from HTTP to `agora::connections`.

use agora::auth::Principal;
use agora::config::ApiConfig;
use agora::connections::{self, NewConnectionRequest, RequestDirection, RequestView};
use agora::cursor::{Page, parse_limit};
use agora::edge::{self, Api, HttpRequest, HttpResponse, match_path};
use agora::ids::UserId;
use agora::{AppError, AppResult, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let api = Api::new(&ApiConfig::from_env()?).await;
    edge::run_api(api, route, serve).await
}

/// What a request on another user's request can do.
#[derive(Clone, Copy)]
enum RequestAction {
    Accept,
    Reject,
    Ignore,
}

/// The routes of this group; the template maps the same paths to this function.
enum Route {
    Connections,
    Connection(String),
    Requests,
    Request(String),
    RequestAction(String, RequestAction),
    Suggestions,
    Blocks,
    Block(String),
}

fn route(path: &str) -> Option<Route> {
    // Literal paths first: `requests` and `suggestions` would also match `{userId}`.
    match path.trim_end_matches('/') {
        "/v1/connections" => return Some(Route::Connections),
        "/v1/connections/requests" => return Some(Route::Requests),
        "/v1/connections/suggestions" => return Some(Route::Suggestions),
        "/v1/blocks" => return Some(Route::Blocks),
        _ => {}
    }
    for (suffix, action) in [
        ("accept", RequestAction::Accept),
        ("reject", RequestAction::Reject),
        ("ignore", RequestAction::Ignore),
    ] {
        let template = format!("/v1/connections/requests/{{userId}}/{suffix}");
        if let Some(params) = match_path(&template, path) {
            return params
                .get("userId")
                .map(|id| Route::RequestAction(id.clone(), action));
        }
    }
    let param = |template: &str| match_path(template, path)?.get("userId").cloned();
    if let Some(id) = param("/v1/connections/requests/{userId}") {
        return Some(Route::Request(id));
    }
    if let Some(id) = param("/v1/connections/{userId}") {
        return Some(Route::Connection(id));
    }
    param("/v1/blocks/{userId}").map(Route::Block)
}

/// A user id in a path: a malformed one names the path parameter.
fn user_param(raw: &str) -> AppResult<UserId> {
    UserId::parse(raw).map_err(|_| AppError::bad_field("userId", "is not a valid user id"))
}

async fn serve(
    api: &Api,
    principal: &Principal,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let (store, cursors) = (&api.store, &api.cursors);
    let me = &principal.user_id;
    let limit = || parse_limit(request.query_param("limit"));
    let cursor = request.query_param("cursor");
    match (route, request.method.as_str()) {
        (Route::Connections, "GET") => HttpResponse::json(
            200,
            &connections::list_connections(store, cursors, me, limit()?, cursor).await?,
        ),
        (Route::Connections, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Connection(other), "DELETE") => {
            connections::remove_connection(store, me, &user_param(&other)?).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Connection(_), _) => Err(AppError::MethodNotAllowed("DELETE".into())),
        (Route::Requests, "POST") => {
            let input: NewConnectionRequest = request.json()?;
            let sent = connections::send_request(store, me, input).await?;
            let location = format!("/v1/connections/requests/{}", sent.target_id);
            let view = RequestView::of(sent, RequestDirection::Outgoing);
            Ok(HttpResponse::json(201, &view)?.with_header("location", location))
        }
        (Route::Requests, "GET") => {
            let direction = RequestDirection::parse(request.query_param("direction"))?;
            let page =
                connections::list_requests(store, cursors, me, direction, limit()?, cursor).await?;
            HttpResponse::json(200, &page)
        }
        (Route::Requests, _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Request(target), "DELETE") => {
            connections::cancel_request(store, me, &user_param(&target)?).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Request(_), _) => Err(AppError::MethodNotAllowed("DELETE".into())),
        (Route::RequestAction(sender, action), "POST") => {
            let sender = user_param(&sender)?;
            match action {
                RequestAction::Accept => {
                    HttpResponse::json(200, &connections::accept_request(store, me, &sender).await?)
                }
                RequestAction::Reject => {
                    connections::reject_request(store, me, &sender).await?;
                    Ok(HttpResponse::no_content())
                }
                RequestAction::Ignore => {
                    connections::ignore_request(store, me, &sender).await?;
                    Ok(HttpResponse::no_content())
                }
            }
        }
        (Route::RequestAction(..), _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::Suggestions, "GET") => {
            let limit = parse_suggestion_limit(request.query_param("limit"))?;
            let items = connections::suggestions(store, me, limit).await?;
            HttpResponse::json(
                200,
                &Page {
                    items,
                    // Suggestions are one ranked list, recomputed on each read.
                    next_cursor: None,
                },
            )
        }
        (Route::Suggestions, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Blocks, "GET") => HttpResponse::json(
            200,
            &connections::list_blocks(store, cursors, me, limit()?, cursor).await?,
        ),
        (Route::Blocks, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Block(other), "PUT") => {
            let block = connections::block_user(store, me, &user_param(&other)?).await?;
            HttpResponse::json(
                200,
                &serde_json::json!({"userId": block.blocked_id, "blockedAt": block.created_at}),
            )
        }
        (Route::Block(other), "DELETE") => {
            connections::unblock_user(store, me, &user_param(&other)?).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Block(_), _) => Err(AppError::MethodNotAllowed("PUT, DELETE".into())),
    }
}

/// Suggestions take `limit` 1-50 (a ranked list, not a paginated one).
fn parse_suggestion_limit(raw: Option<&str>) -> AppResult<u32> {
    let max = connections::suggestion_bounds::MAX_RESULTS;
    match raw {
        None => Ok(20),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                AppError::bad_field("limit", format!("must be an integer from 1 to {max}"))
            }),
    }
}
