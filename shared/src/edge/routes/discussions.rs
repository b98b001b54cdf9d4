//! The discussions function: categories, topics, threaded replies, edit history,
//! reactions, accepted answers and pins.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contexts::discussions::{
    self, AcceptInput, Category, HistoryEntry, LockInput, NewCategory, NewReply, NewTopic,
    PinInput, Reaction, ReactionInput, RejectInput, Reply, ReplyPatch, Review, Topic, TopicPatch,
    TopicQuery, TopicWithReplies, ViewQueue,
};
use crate::contexts::trust;
use crate::core::cursor::Page;
use crate::edge::http::{ApiResult, Caller, Json, JsonOrEmpty, Path, Query, Trust};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "discussions";

/// The function's router: the routes, with the topic-views queue topic pages send to.
pub fn router(api: Arc<Api>, views: ViewQueue) -> axum::Router {
    crate::edge::http::router(routes(), api).layer(Extension(views))
}

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(create_category, list_categories))
        .routes(routes!(create_topic, list_topics))
        .routes(routes!(view_topic, edit_topic, delete_topic))
        .routes(routes!(topic_history))
        .routes(routes!(list_replies, create_reply))
        .routes(routes!(edit_reply, delete_reply))
        .routes(routes!(reply_history))
        .routes(routes!(set_reaction, remove_reaction))
        .routes(routes!(accept_answer, clear_accepted_answer))
        .routes(routes!(set_pinned))
        .routes(routes!(set_locked))
        .routes(routes!(approve_topic))
        .routes(routes!(reject_topic))
}

/// Create a category (role `admin` only).
// The example's parent is the local stack's demo category (`infra/local/src/demo.rs`).
#[utoipa::path(post, path = "/v1/categories", tag = TAG,
    request_body(content = NewCategory, example = json!({
        "id": "rust-async", "name": "Async Rust", "parentId": "rust"})),
    responses((status = 201, body = Category, description = "The category")))]
async fn create_category(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(input): Json<NewCategory>,
) -> ApiResult {
    let category = discussions::create_category(&api.store, &me, input).await?;
    Ok(HttpResponse::json(201, &category)?)
}

/// The category tree, depth-first.
#[utoipa::path(get, path = "/v1/categories", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<Category>, description = "A page of categories")))]
async fn list_categories(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let page = discussions::list_categories(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Start a topic.
// The example names the local stack's demo category (`infra/local/src/demo.rs`).
#[utoipa::path(post, path = "/v1/topics", tag = TAG,
    request_body(content = NewTopic, example = json!({
        "title": "Which book first?", "body": "Where would you start?", "categoryId": "rust",
        "tags": ["books"]})),
    responses((status = 201, body = Topic, description = "The topic",
        headers(("location" = String, description = "The topic's URL")))))]
async fn create_topic(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Trust(level): Trust,
    Json(input): Json<NewTopic>,
) -> ApiResult {
    trust::check_links(level, &input.title, "title")?;
    trust::check_links(level, &input.body, "body")?;
    let topic = discussions::create_topic(&api.store, &me.user_id, input).await?;
    Ok(HttpResponse::json(201, &topic)?
        .with_header("location", format!("/v1/topics/{}", topic.topic_id)))
}

/// Topics of a community, a category, a tag or an author (exactly one of them). A
/// community's topics are listed only there: never under a tag, nor under their author
/// for anyone but the author.
#[utoipa::path(get, path = "/v1/topics", tag = TAG,
    params(
        ("community" = Option<String>, Query, description = "A community id (its members', or anyone's if it is public)"),
        ("status" = Option<String>, Query, description = "With `community`: `pending` lists the topics waiting for its moderators' approval (moderators only)"),
        ("category" = Option<String>, Query, example = "rust", description = "A category id"),
        ("tag" = Option<String>, Query, description = "A tag"),
        ("author" = Option<String>, Query, description = "A user id"),
        ("sort" = Option<String>, Query, description = "`newest` (default), `activity` or `top` (category only)"),
        ("solved" = Option<bool>, Query, description = "Only solved or unsolved topics"),
        PageParams,
    ),
    responses((status = 200, body = Page<Topic>, description = "A page of topics")))]
async fn list_topics(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let topics = TopicQuery::parse_in(
        query.get("community"),
        query.get("status"),
        query.get("category"),
        query.get("tag"),
        query.get("author"),
        query.get("sort"),
        query.get("solved"),
    )?;
    let page = discussions::list_topics(
        &api.store,
        api.cursors().await?,
        &me,
        &topics,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// A topic and its first replies in thread order (counts a view: `viewCount` includes it
/// within about 10 seconds).
#[utoipa::path(get, path = "/v1/topics/{topicId}", tag = TAG,
    params(("topicId" = String, Path, description = "The topic"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many replies, 1 to 100 (default 20)")),
    responses((status = 200, body = TopicWithReplies, description = "The topic and its first replies")))]
async fn view_topic(
    State(api): State<Arc<Api>>,
    Extension(views): Extension<ViewQueue>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
    query: Query,
) -> ApiResult {
    let view = discussions::view_topic(
        &api.store,
        api.cursors().await?,
        &views,
        &me,
        &topic_id,
        query.limit()?,
    )
    .await?;
    Ok(HttpResponse::json(200, &view)?)
}

/// Edit my topic; the replaced version goes to the history.
#[utoipa::path(patch, path = "/v1/topics/{topicId}", tag = TAG, request_body = TopicPatch,
    params(("topicId" = String, Path, description = "The topic")),
    responses((status = 200, body = Topic, description = "The edited topic")))]
async fn edit_topic(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Trust(level): Trust,
    Path(topic_id): Path<String>,
    Json(patch): Json<TopicPatch>,
) -> ApiResult {
    if let Some(title) = &patch.title {
        trust::check_links(level, title, "title")?;
    }
    if let Some(body) = &patch.body {
        trust::check_links(level, body, "body")?;
    }
    let topic = discussions::edit_topic(&api.store, &me.user_id, &topic_id, patch).await?;
    Ok(HttpResponse::json(200, &topic)?)
}

/// Soft-delete a topic (author or `moderator`; repeatable).
#[utoipa::path(delete, path = "/v1/topics/{topicId}", tag = TAG,
    params(("topicId" = String, Path, description = "The topic")),
    responses((status = 204, description = "Deleted")))]
async fn delete_topic(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
) -> ApiResult {
    discussions::delete_topic(&api.store, &me, &topic_id).await?;
    Ok(HttpResponse::no_content())
}

/// The versions a topic's edits replaced, oldest first.
#[utoipa::path(get, path = "/v1/topics/{topicId}/history", tag = TAG,
    params(("topicId" = String, Path, description = "The topic"), PageParams),
    responses((status = 200, body = Page<HistoryEntry>, description = "A page of versions")))]
async fn topic_history(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = discussions::list_history(
        &api.store,
        api.cursors().await?,
        &me,
        &topic_id,
        None,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// A topic's replies in thread order.
#[utoipa::path(get, path = "/v1/topics/{topicId}/replies", tag = TAG,
    params(("topicId" = String, Path, description = "The topic"), PageParams),
    responses((status = 200, body = Page<Reply>, description = "A page of replies")))]
async fn list_replies(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = discussions::list_replies(
        &api.store,
        api.cursors().await?,
        &me,
        &topic_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Reply to a topic, or to a reply (`parentReplyId`; threads at most 6 deep).
#[utoipa::path(post, path = "/v1/topics/{topicId}/replies", tag = TAG, request_body = NewReply,
    params(("topicId" = String, Path, description = "The topic")),
    responses((status = 201, body = Reply, description = "The reply")))]
async fn create_reply(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Trust(level): Trust,
    Path(topic_id): Path<String>,
    Json(input): Json<NewReply>,
) -> ApiResult {
    trust::check_links(level, &input.body, "body")?;
    let reply = discussions::create_reply(&api.store, &me.user_id, &topic_id, input).await?;
    Ok(HttpResponse::json(201, &reply)?)
}

/// Edit my reply; the replaced version goes to the history.
#[utoipa::path(patch, path = "/v1/topics/{topicId}/replies/{replyId}", tag = TAG,
    request_body = ReplyPatch,
    params(("topicId" = String, Path, description = "The topic"),
        ("replyId" = String, Path, description = "The reply (its thread path)")),
    responses((status = 200, body = Reply, description = "The edited reply")))]
async fn edit_reply(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Trust(level): Trust,
    Path((topic_id, reply_id)): Path<(String, String)>,
    Json(patch): Json<ReplyPatch>,
) -> ApiResult {
    trust::check_links(level, &patch.body, "body")?;
    let reply =
        discussions::edit_reply(&api.store, &me.user_id, &topic_id, &reply_id, patch).await?;
    Ok(HttpResponse::json(200, &reply)?)
}

/// Soft-delete a reply (author or `moderator`).
#[utoipa::path(delete, path = "/v1/topics/{topicId}/replies/{replyId}", tag = TAG,
    params(("topicId" = String, Path, description = "The topic"),
        ("replyId" = String, Path, description = "The reply")),
    responses((status = 204, description = "Deleted")))]
async fn delete_reply(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((topic_id, reply_id)): Path<(String, String)>,
) -> ApiResult {
    discussions::delete_reply(&api.store, &me, &topic_id, &reply_id).await?;
    Ok(HttpResponse::no_content())
}

/// The versions a reply's edits replaced, oldest first.
#[utoipa::path(get, path = "/v1/topics/{topicId}/replies/{replyId}/history", tag = TAG,
    params(("topicId" = String, Path, description = "The topic"),
        ("replyId" = String, Path, description = "The reply"), PageParams),
    responses((status = 200, body = Page<HistoryEntry>, description = "A page of versions")))]
async fn reply_history(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((topic_id, reply_id)): Path<(String, String)>,
    query: Query,
) -> ApiResult {
    let page = discussions::list_history(
        &api.store,
        api.cursors().await?,
        &me,
        &topic_id,
        Some(&reply_id),
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// React to the topic (`targetId` = the topic id) or one of its replies; PUT again to
/// change.
#[utoipa::path(put, path = "/v1/topics/{topicId}/reactions/{targetId}", tag = TAG,
    request_body = ReactionInput,
    params(("topicId" = String, Path, description = "The topic"),
        ("targetId" = String, Path, description = "The topic id or a reply id")),
    responses((status = 200, body = Reaction, description = "My reaction")))]
async fn set_reaction(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((topic_id, target_id)): Path<(String, String)>,
    Json(input): Json<ReactionInput>,
) -> ApiResult {
    let reaction =
        discussions::set_reaction(&api.store, &me.user_id, &topic_id, &target_id, input).await?;
    Ok(HttpResponse::json(200, &reaction)?)
}

/// Take my reaction back.
#[utoipa::path(delete, path = "/v1/topics/{topicId}/reactions/{targetId}", tag = TAG,
    params(("topicId" = String, Path, description = "The topic"),
        ("targetId" = String, Path, description = "The topic id or a reply id")),
    responses((status = 204, description = "Removed")))]
async fn remove_reaction(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((topic_id, target_id)): Path<(String, String)>,
) -> ApiResult {
    discussions::remove_reaction(&api.store, &me.user_id, &topic_id, &target_id).await?;
    Ok(HttpResponse::no_content())
}

/// Mark a reply as the accepted answer (the topic's author or a `moderator`).
#[utoipa::path(put, path = "/v1/topics/{topicId}/accepted-answer", tag = TAG,
    request_body = AcceptInput,
    params(("topicId" = String, Path, description = "The topic")),
    responses((status = 200, body = Topic, description = "The topic, solved")))]
async fn accept_answer(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
    Json(input): Json<AcceptInput>,
) -> ApiResult {
    let topic = discussions::accept_answer(&api.store, &me, &topic_id, &input.reply_id).await?;
    Ok(HttpResponse::json(200, &topic)?)
}

/// Withdraw the accepted answer.
#[utoipa::path(delete, path = "/v1/topics/{topicId}/accepted-answer", tag = TAG,
    params(("topicId" = String, Path, description = "The topic")),
    responses((status = 200, body = Topic, description = "The topic, unsolved")))]
async fn clear_accepted_answer(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
) -> ApiResult {
    let topic = discussions::clear_accepted_answer(&api.store, &me, &topic_id).await?;
    Ok(HttpResponse::json(200, &topic)?)
}

/// Pin or unpin a topic (`moderator` only).
#[utoipa::path(put, path = "/v1/topics/{topicId}/pin", tag = TAG, request_body = PinInput,
    params(("topicId" = String, Path, description = "The topic")),
    responses((status = 200, body = Topic, description = "The topic")))]
async fn set_pinned(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
    Json(input): Json<PinInput>,
) -> ApiResult {
    let topic = discussions::set_pinned(&api.store, &me, &topic_id, input.pinned).await?;
    Ok(HttpResponse::json(200, &topic)?)
}

/// Lock or unlock a topic (moderators: the community's, or the platform's for topics
/// outside communities). A locked topic stays readable and takes no new replies (`409`).
#[utoipa::path(put, path = "/v1/topics/{topicId}/lock", tag = TAG, request_body = LockInput,
    params(("topicId" = String, Path, description = "The topic")),
    responses((status = 200, body = Topic, description = "The topic")))]
async fn set_locked(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
    Json(input): Json<LockInput>,
) -> ApiResult {
    let topic = discussions::set_locked(&api.store, &me, &topic_id, input.locked).await?;
    Ok(HttpResponse::json(200, &topic)?)
}

/// Approve a topic held for its community's approval (the community's moderators): it is
/// published, and its author and the users it mentions are notified.
#[utoipa::path(post, path = "/v1/topics/{topicId}/approve", tag = TAG,
    params(("topicId" = String, Path, description = "The pending topic")),
    responses((status = 200, body = Topic, description = "The published topic")))]
async fn approve_topic(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
) -> ApiResult {
    let topic = discussions::review_topic(&api.store, &me, &topic_id, Review::Approve).await?;
    Ok(HttpResponse::json(200, &topic)?)
}

/// Reject a topic held for its community's approval (the community's moderators): only
/// its author still sees it, with the reason, and is notified.
#[utoipa::path(post, path = "/v1/topics/{topicId}/reject", tag = TAG,
    params(("topicId" = String, Path, description = "The pending topic")),
    request_body(content = RejectInput, example = json!({"reason": "Please post this in the weekly thread."})),
    responses((status = 200, body = Topic, description = "The rejected topic")))]
async fn reject_topic(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(topic_id): Path<String>,
    JsonOrEmpty(input): JsonOrEmpty<RejectInput>,
) -> ApiResult {
    crate::core::validation::check(&input)?;
    let review = Review::Reject(input.reason);
    let topic = discussions::review_topic(&api.store, &me, &topic_id, review).await?;
    Ok(HttpResponse::json(200, &topic)?)
}
