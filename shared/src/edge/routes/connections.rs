//! The connections function: requests, connections, blocks and suggestions.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_id;
use crate::contexts::connections::{
    self, BlockView, Connection, ConnectionView, MuteView, NewConnectionRequest, RequestDirection,
    RequestView, Suggestion,
};
use crate::core::cursor::Page;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::edge::http::{ApiResult, Caller, Json, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "connections";

/// How old a user's stored suggestions may get before a read asks for new ones.
#[derive(Debug, Clone, Copy)]
pub struct SuggestionSettings {
    pub max_age_ms: i64,
}

impl SuggestionSettings {
    /// `SUGGESTIONS_MAX_AGE_SECONDS` (default an hour), read once.
    pub fn from_env() -> Result<Self, crate::core::config::ConfigError> {
        let seconds: i64 =
            crate::core::config::optional_number("SUGGESTIONS_MAX_AGE_SECONDS", 3600)?;
        Ok(Self {
            max_age_ms: seconds.saturating_mul(1000),
        })
    }
}

/// The function's router: the routes, with the suggestion settings.
pub fn router(api: Arc<Api>, settings: SuggestionSettings) -> axum::Router {
    crate::edge::http::router(routes(), api).layer(axum::Extension(settings))
}

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(list_connections))
        .routes(routes!(remove_connection))
        .routes(routes!(send_request, list_requests))
        .routes(routes!(cancel_request))
        .routes(routes!(accept_request))
        .routes(routes!(reject_request))
        .routes(routes!(ignore_request))
        .routes(routes!(suggestions))
        .routes(routes!(list_blocks))
        .routes(routes!(block_user, unblock_user))
        .routes(routes!(list_mutes))
        .routes(routes!(mute_user, unmute_user))
}

/// My connections, each with the other user's profile as I may see it.
#[utoipa::path(get, path = "/v1/connections", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<ConnectionView>, description = "A page of connections")))]
async fn list_connections(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let page = connections::list_connections(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Remove a connection, from either side.
#[utoipa::path(delete, path = "/v1/connections/{userId}", tag = TAG,
    params(("userId" = String, Path, description = "The other user")),
    responses((status = 204, description = "Removed")))]
async fn remove_connection(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(other): Path<String>,
) -> ApiResult {
    connections::remove_connection(&api.store, &me.user_id, &user_id(&other)?).await?;
    Ok(HttpResponse::no_content())
}

/// Send a connection request to a user (by id or `@handle`).
// The example names a demo user of the local stack (`infra/local/src/demo.rs`).
#[utoipa::path(post, path = "/v1/connections/requests", tag = TAG,
    request_body(content = NewConnectionRequest,
        example = json!({"userId": "demo-eli", "message": "Let's connect!"})),
    responses((status = 201, body = RequestView, description = "The request, pending",
        headers(("location" = String, description = "The request's URL")))))]
async fn send_request(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(input): Json<NewConnectionRequest>,
) -> ApiResult {
    let sent = connections::send_request(&api.store, &me.user_id, input).await?;
    let location = format!("/v1/connections/requests/{}", sent.target_id);
    let view = RequestView::of(sent, RequestDirection::Outgoing);
    Ok(HttpResponse::json(201, &view)?.with_header("location", location))
}

/// Pending requests to me (default) or from me.
#[utoipa::path(get, path = "/v1/connections/requests", tag = TAG,
    params(
        ("direction" = Option<String>, Query, description = "`incoming` (default) or `outgoing`"),
        PageParams,
    ),
    responses((status = 200, body = Page<RequestView>, description = "A page of requests")))]
async fn list_requests(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let direction = RequestDirection::parse(query.get("direction"))?;
    let page = connections::list_requests(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        direction,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Cancel my request to a user.
#[utoipa::path(delete, path = "/v1/connections/requests/{userId}", tag = TAG,
    params(("userId" = String, Path, description = "The user I asked")),
    responses((status = 204, description = "Cancelled")))]
async fn cancel_request(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(target): Path<String>,
) -> ApiResult {
    connections::cancel_request(&api.store, &me.user_id, &user_id(&target)?).await?;
    Ok(HttpResponse::no_content())
}

/// Accept a request from a user: we are connected.
#[utoipa::path(post, path = "/v1/connections/requests/{userId}/accept", tag = TAG,
    params(("userId" = String, Path, description = "The sender")),
    responses((status = 200, body = Connection, description = "The connection")))]
async fn accept_request(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(sender): Path<String>,
) -> ApiResult {
    let sender = user_id(&sender)?;
    let connection = connections::accept_request(&api.store, &me.user_id, &sender).await?;
    Ok(HttpResponse::json(200, &connection)?)
}

/// Reject a request: it disappears for both; the sender may ask again.
#[utoipa::path(post, path = "/v1/connections/requests/{userId}/reject", tag = TAG,
    params(("userId" = String, Path, description = "The sender")),
    responses((status = 204, description = "Rejected")))]
async fn reject_request(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(sender): Path<String>,
) -> ApiResult {
    connections::reject_request(&api.store, &me.user_id, &user_id(&sender)?).await?;
    Ok(HttpResponse::no_content())
}

/// Dismiss a request without telling the sender.
#[utoipa::path(post, path = "/v1/connections/requests/{userId}/ignore", tag = TAG,
    params(("userId" = String, Path, description = "The sender")),
    responses((status = 204, description = "Ignored")))]
async fn ignore_request(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(sender): Path<String>,
) -> ApiResult {
    connections::ignore_request(&api.store, &me.user_id, &user_id(&sender)?).await?;
    Ok(HttpResponse::no_content())
}

/// People I may know, best first (one ranked list, no cursor).
#[utoipa::path(get, path = "/v1/connections/suggestions", tag = TAG,
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 50,
        description = "How many, 1 to 50 (default 20)")),
    responses((status = 200, body = Page<Suggestion>, description = "Suggestions")))]
async fn suggestions(
    State(api): State<Arc<Api>>,
    Extension(settings): Extension<SuggestionSettings>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let limit = parse_suggestion_limit(query.get("limit"))?;
    let items =
        connections::suggestions(&api.store, &me.user_id, limit, settings.max_age_ms).await?;
    // Suggestions are one ranked list, kept fresh by the stream.
    let page = Page {
        items,
        next_cursor: None,
    };
    Ok(HttpResponse::json(200, &page)?)
}

/// Users I block (who blocks me is never shown).
#[utoipa::path(get, path = "/v1/blocks", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<BlockView>, description = "A page of blocks")))]
async fn list_blocks(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let page = connections::list_blocks(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// A block as its `PUT` answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    user_id: UserId,
    /// RFC 3339.
    blocked_at: String,
}

/// Block a user (repeatable): removes any connection or request between us.
#[utoipa::path(put, path = "/v1/blocks/{userId}", tag = TAG,
    params(("userId" = String, Path, description = "The user to block")),
    responses((status = 200, body = Blocked, description = "Blocked")))]
async fn block_user(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(other): Path<String>,
) -> ApiResult {
    let block = connections::block_user(&api.store, &me.user_id, &user_id(&other)?).await?;
    let blocked = Blocked {
        user_id: block.blocked_id,
        blocked_at: block.created_at,
    };
    Ok(HttpResponse::json(200, &blocked)?)
}

/// Unblock a user (repeatable).
#[utoipa::path(delete, path = "/v1/blocks/{userId}", tag = TAG,
    params(("userId" = String, Path, description = "The user to unblock")),
    responses((status = 204, description = "Unblocked")))]
async fn unblock_user(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(other): Path<String>,
) -> ApiResult {
    connections::unblock_user(&api.store, &me.user_id, &user_id(&other)?).await?;
    Ok(HttpResponse::no_content())
}

/// Users I mute: I get no notifications from them and none of their content in my
/// feeds (they are not told; nothing else changes).
#[utoipa::path(get, path = "/v1/mutes", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<MuteView>, description = "A page of mutes")))]
async fn list_mutes(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let page = connections::list_mutes(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// A mute as its `PUT` answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Muted {
    user_id: UserId,
    /// RFC 3339.
    muted_at: String,
}

/// Mute a user (repeatable): no notifications from them and none of their content in
/// my home feed or the timeline. Lighter than a block: nothing else changes.
#[utoipa::path(put, path = "/v1/mutes/{userId}", tag = TAG,
    params(("userId" = String, Path, description = "The user to mute")),
    responses((status = 200, body = Muted, description = "Muted")))]
async fn mute_user(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(other): Path<String>,
) -> ApiResult {
    let mute = connections::mute_user(&api.store, &me.user_id, &user_id(&other)?).await?;
    let muted = Muted {
        user_id: mute.muted_id,
        muted_at: mute.created_at,
    };
    Ok(HttpResponse::json(200, &muted)?)
}

/// Unmute a user (repeatable).
#[utoipa::path(delete, path = "/v1/mutes/{userId}", tag = TAG,
    params(("userId" = String, Path, description = "The user to unmute")),
    responses((status = 204, description = "Unmuted")))]
async fn unmute_user(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(other): Path<String>,
) -> ApiResult {
    connections::unmute_user(&api.store, &me.user_id, &user_id(&other)?).await?;
    Ok(HttpResponse::no_content())
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
