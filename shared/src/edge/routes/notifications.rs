//! The notifications function: my notifications, unread count, read marks and
//! preferences. Notifications themselves are created by the stream only.

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contexts::notifications::{
    self, MarkAllResult, NotificationView, Preferences, PreferencesInput, UnreadCount,
};
use crate::core::cursor::Page;
use crate::edge::http::{ApiResult, Caller, Json, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "notifications";

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
        .routes(routes!(get_preferences, set_preferences))
}

/// My notifications, newest activity first.
#[utoipa::path(get, path = "/v1/notifications", tag = TAG,
    params(("unread" = Option<bool>, Query, description = "Unread ones only"), PageParams),
    responses((status = 200, body = Page<NotificationView>, description = "A page of notifications")))]
async fn list_notifications(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let page = notifications::list_notifications(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.flag("unread")?,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// How many of my notifications are unread.
#[utoipa::path(get, path = "/v1/notifications/unread-count", tag = TAG,
    responses((status = 200, body = UnreadCount, description = "The unread count")))]
async fn unread_count(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let count = notifications::unread_count(&api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &count)?)
}

/// Mark one notification read (repeatable).
#[utoipa::path(post, path = "/v1/notifications/{notificationId}/read", tag = TAG,
    operation_id = "mark_notification_read",
    params(("notificationId" = String, Path, description = "The notification")),
    responses((status = 204, description = "Read")))]
async fn mark_read(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    notifications::mark_read(&api.store, &me.user_id, &id).await?;
    Ok(HttpResponse::no_content())
}

/// Mark up to 100 notifications read; call again while `more`.
#[utoipa::path(post, path = "/v1/notifications/read-all", tag = TAG,
    responses((status = 200, body = MarkAllResult, description = "How many were marked")))]
async fn mark_all_read(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let marked = notifications::mark_all_read(&api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &marked)?)
}

/// My muted notification types.
#[utoipa::path(get, path = "/v1/notifications/preferences", tag = TAG,
    operation_id = "get_notification_preferences",
    responses((status = 200, body = Preferences, description = "My preferences")))]
async fn get_preferences(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let preferences = notifications::get_preferences(&api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &preferences)?)
}

/// Replace my muted notification types.
#[utoipa::path(put, path = "/v1/notifications/preferences", tag = TAG,
    operation_id = "set_notification_preferences",
    request_body = PreferencesInput,
    responses((status = 200, body = Preferences, description = "My preferences")))]
async fn set_preferences(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(input): Json<PreferencesInput>,
) -> ApiResult {
    let preferences = notifications::set_preferences(&api.store, &me.user_id, input).await?;
    Ok(HttpResponse::json(200, &preferences)?)
}
