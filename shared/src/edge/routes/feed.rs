//! The feed function: activities, likes, comments, shares, my home feed and the public
//! timeline.

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contexts::feed::{self, ActivityView, Comment, NewActivity, NewComment, NewShare};
use crate::contexts::trust;
use crate::core::cursor::Page;
use crate::edge::http::{ApiResult, Caller, Json, Path, Query, Trust};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "feed";

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(post_activity))
        .routes(routes!(get_activity, delete_activity))
        .routes(routes!(like, unlike))
        .routes(routes!(add_comment, list_comments))
        .routes(routes!(share))
        .routes(routes!(home_feed))
        .routes(routes!(public_timeline))
}

/// Post an activity.
#[utoipa::path(post, path = "/v1/activities", tag = TAG, request_body = NewActivity,
    responses((status = 201, body = ActivityView, description = "The activity",
        headers(("location" = String, description = "The activity's URL")))))]
async fn post_activity(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Trust(level): Trust,
    Json(input): Json<NewActivity>,
) -> ApiResult {
    if let Some(text) = &input.text {
        trust::check_links(level, text, "text")?;
    }
    let activity = feed::post_activity(&api.store, &me.user_id, input).await?;
    Ok(HttpResponse::json(201, &activity)?.with_header(
        "location",
        format!("/v1/activities/{}", activity.activity_id),
    ))
}

/// One activity as I may see it.
#[utoipa::path(get, path = "/v1/activities/{activityId}", tag = TAG,
    params(("activityId" = String, Path, description = "The activity")),
    responses((status = 200, body = ActivityView, description = "The activity")))]
async fn get_activity(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let activity = feed::get_activity(&api.store, &me.user_id, &id).await?;
    Ok(HttpResponse::json(200, &activity)?)
}

/// Delete my activity (repeatable): it leaves every feed.
#[utoipa::path(delete, path = "/v1/activities/{activityId}", tag = TAG,
    params(("activityId" = String, Path, description = "The activity")),
    responses((status = 204, description = "Deleted")))]
async fn delete_activity(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    feed::delete_activity(&api.store, &me.user_id, &id).await?;
    Ok(HttpResponse::no_content())
}

/// Like an activity (a repeat is a no-op).
#[utoipa::path(put, path = "/v1/activities/{activityId}/like", tag = TAG,
    params(("activityId" = String, Path, description = "The activity")),
    responses((status = 204, description = "Liked")))]
async fn like(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    feed::like(&api.store, &me.user_id, &id).await?;
    Ok(HttpResponse::no_content())
}

/// Take my like back.
#[utoipa::path(delete, path = "/v1/activities/{activityId}/like", tag = TAG,
    params(("activityId" = String, Path, description = "The activity")),
    responses((status = 204, description = "Unliked")))]
async fn unlike(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    feed::unlike(&api.store, &me.user_id, &id).await?;
    Ok(HttpResponse::no_content())
}

/// Comment on an activity.
#[utoipa::path(post, path = "/v1/activities/{activityId}/comments", tag = TAG,
    request_body = NewComment,
    params(("activityId" = String, Path, description = "The activity")),
    responses((status = 201, body = Comment, description = "The comment")))]
async fn add_comment(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Trust(level): Trust,
    Path(id): Path<String>,
    Json(input): Json<NewComment>,
) -> ApiResult {
    trust::check_links(level, &input.text, "text")?;
    let comment = feed::add_comment(&api.store, &me.user_id, &id, input).await?;
    Ok(HttpResponse::json(201, &comment)?)
}

/// An activity's comments, oldest first.
#[utoipa::path(get, path = "/v1/activities/{activityId}/comments", tag = TAG,
    params(("activityId" = String, Path, description = "The activity"), PageParams),
    responses((status = 200, body = Page<Comment>, description = "A page of comments")))]
async fn list_comments(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = feed::list_comments(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Re-post a public activity.
#[utoipa::path(post, path = "/v1/activities/{activityId}/shares", tag = TAG,
    request_body = NewShare,
    params(("activityId" = String, Path, description = "The activity to share")),
    responses((status = 201, body = ActivityView, description = "The share",
        headers(("location" = String, description = "The share's URL")))))]
async fn share(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Json(input): Json<NewShare>,
) -> ApiResult {
    let activity = feed::share(&api.store, &me.user_id, &id, input).await?;
    Ok(HttpResponse::json(201, &activity)?.with_header(
        "location",
        format!("/v1/activities/{}", activity.activity_id),
    ))
}

/// My home feed, newest first.
#[utoipa::path(get, path = "/v1/feed", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<ActivityView>, description = "A page of activities")))]
async fn home_feed(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let page = feed::home_feed(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Public activities, newest first, one day per page at most (7 days back).
#[utoipa::path(get, path = "/v1/timeline", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<ActivityView>, description = "A page of activities")))]
async fn public_timeline(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let page = feed::public_timeline(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}
