//! The chat function: rooms (direct conversations and groups), members, message
//! history, edits, read positions, archive and presence. Live events reach clients over
//! the WebSocket API.

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contexts::chat::{
    self, ChannelEntry, ChatPreferences, HistoryFrom, InboxEntry, Member, Message, MessageEdit,
    NewChannel, NewGroup, NewMembers, NewMessage, PreferencesInput, Presence, RateLimit, Room,
    RoomDetail, RoomPatch,
};
use crate::core::cursor::Page;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::edge::http::{ApiResult, ApiState, Caller, Json, Path, Query, Trust};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "chat";

/// What chat serves with: the shared API state plus the per-user send limit.
pub struct ChatState {
    pub api: Api,
    pub send_limit: RateLimit,
}

/// Chat's router state.
pub type Chat = Arc<ChatState>;

impl ApiState for Chat {
    fn api(&self) -> &Api {
        &self.api
    }
}

pub fn routes() -> OpenApiRouter<Chat> {
    OpenApiRouter::new()
        .routes(routes!(inbox, create_group))
        .routes(routes!(open_dm))
        .routes(routes!(room_detail, update_room))
        .routes(routes!(list_members, add_members))
        .routes(routes!(leave_room))
        .routes(routes!(set_archived))
        .routes(routes!(history, send_message))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(mark_read))
        .routes(routes!(room_presence))
        .routes(routes!(connections_presence))
        .routes(routes!(get_preferences, set_preferences))
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(delete_channel))
}

/// `POST /v1/rooms/dm`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DmInput {
    /// The other user.
    user_id: String,
}

/// `PUT /v1/rooms/{roomId}/archive`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveInput {
    archived: bool,
}

/// `POST /v1/rooms/{roomId}/read`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadInput {
    /// The last message read.
    message_id: String,
}

/// The members a `POST /v1/rooms/{roomId}/members` added.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Added {
    added: Vec<UserId>,
}

fn history_from(query: &Query) -> AppResult<HistoryFrom> {
    match (query.get("before"), query.get("after")) {
        (Some(_), Some(_)) => Err(AppError::bad_field(
            "after",
            "give at most one of before and after",
        )),
        (Some(before), None) => Ok(HistoryFrom::Before(Some(chat::parse_message_id(
            "before", before,
        )?))),
        (None, Some(after)) => Ok(HistoryFrom::After(chat::parse_message_id("after", after)?)),
        (None, None) => Ok(HistoryFrom::Before(None)),
    }
}

/// My inbox, latest message first, with unread counts and a preview.
#[utoipa::path(get, path = "/v1/rooms", tag = TAG,
    params(("archived" = Option<bool>, Query, description = "Archived rooms instead"), PageParams),
    responses((status = 200, body = Page<InboxEntry>, description = "A page of rooms")))]
async fn inbox(State(chat): State<Chat>, Caller(me): Caller, query: Query) -> ApiResult {
    let archived = query.flag("archived")?;
    let limit = query.limit()?;
    let page = chat::inbox(
        &chat.api.store,
        chat.api.cursors().await?,
        &me.user_id,
        archived,
        limit,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Create a group room.
#[utoipa::path(post, path = "/v1/rooms", tag = TAG, request_body = NewGroup,
    responses((status = 201, body = Room, description = "The room",
        headers(("location" = String, description = "The room's URL")))))]
async fn create_group(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Json(input): Json<NewGroup>,
) -> ApiResult {
    let room = chat::create_group(&chat.api.store, &me.user_id, input).await?;
    Ok(HttpResponse::json(201, &room)?
        .with_header("location", format!("/v1/rooms/{}", room.room_id)))
}

/// Open (or find) the direct conversation with a user.
// The example names a demo user of the local stack (`infra/local/src/demo.rs`).
#[utoipa::path(post, path = "/v1/rooms/dm", tag = TAG,
    request_body(content = DmInput, example = json!({"userId": "demo-bruno"})),
    responses(
        (status = 201, body = Room, description = "A new conversation",
            headers(("location" = String, description = "The room's URL"))),
        (status = 200, body = Room, description = "The existing conversation",
            headers(("location" = String, description = "The room's URL"))),
    ))]
async fn open_dm(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Trust(level): Trust,
    Json(input): Json<DmInput>,
) -> ApiResult {
    let other = UserId::parse(&input.user_id)
        .map_err(|_| AppError::invalid_field("userId", "is not a user id"))?;
    let (room, created) = chat::open_dm(&chat.api.store, &me.user_id, &other, level).await?;
    let status = if created { 201 } else { 200 };
    Ok(HttpResponse::json(status, &room)?
        .with_header("location", format!("/v1/rooms/{}", room.room_id)))
}

/// A room with its members' read positions and who is typing.
#[utoipa::path(get, path = "/v1/rooms/{roomId}", tag = TAG,
    params(("roomId" = String, Path, description = "The room")),
    responses((status = 200, body = RoomDetail, description = "The room")))]
async fn room_detail(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let detail = chat::room_detail(&chat.api.store, &me.user_id, &id).await?;
    Ok(HttpResponse::json(200, &detail)?)
}

/// Rename a room or change its retention.
#[utoipa::path(patch, path = "/v1/rooms/{roomId}", tag = TAG, request_body = RoomPatch,
    params(("roomId" = String, Path, description = "The room")),
    responses((status = 200, body = Room, description = "The room")))]
async fn update_room(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Json(patch): Json<RoomPatch>,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let room = chat::update_room(&chat.api.store, &me.user_id, &id, patch).await?;
    Ok(HttpResponse::json(200, &room)?)
}

/// A room's members.
#[utoipa::path(get, path = "/v1/rooms/{roomId}/members", tag = TAG,
    params(("roomId" = String, Path, description = "The room"), PageParams),
    responses((status = 200, body = Page<Member>, description = "A page of members")))]
async fn list_members(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
    query: Query,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let limit = query.limit()?;
    let page = chat::list_members(
        &chat.api.store,
        chat.api.cursors().await?,
        &me.user_id,
        &id,
        limit,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Add members to a group.
#[utoipa::path(post, path = "/v1/rooms/{roomId}/members", tag = TAG, request_body = NewMembers,
    params(("roomId" = String, Path, description = "The room")),
    responses((status = 200, body = Added, description = "Who was added")))]
async fn add_members(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Json(input): Json<NewMembers>,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let added = chat::add_members(&chat.api.store, &me.user_id, &id, input).await?;
    Ok(HttpResponse::json(200, &Added { added })?)
}

/// Leave a group.
#[utoipa::path(delete, path = "/v1/rooms/{roomId}/members/me", tag = TAG,
    params(("roomId" = String, Path, description = "The room")),
    responses((status = 204, description = "Left")))]
async fn leave_room(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    chat::leave_room(&chat.api.store, &me.user_id, &chat::parse_room_id(&id)?).await?;
    Ok(HttpResponse::no_content())
}

/// Archive or unarchive a room.
#[utoipa::path(put, path = "/v1/rooms/{roomId}/archive", tag = TAG, request_body = ArchiveInput,
    params(("roomId" = String, Path, description = "The room")),
    responses((status = 204, description = "Done")))]
async fn set_archived(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Json(input): Json<ArchiveInput>,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    chat::set_archived(&chat.api.store, &me.user_id, &id, input.archived).await?;
    Ok(HttpResponse::no_content())
}

/// A room's history, newest first (`before`) or from a message on (`after`).
#[utoipa::path(get, path = "/v1/rooms/{roomId}/messages", tag = TAG,
    params(("roomId" = String, Path, description = "The room"),
        ("before" = Option<String>, Query, description = "Messages before this message id"),
        ("after" = Option<String>, Query, description = "Messages after this message id"),
        PageParams),
    responses((status = 200, body = Page<Message>, description = "A page of messages")))]
async fn history(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
    query: Query,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let from = history_from(&query)?;
    let limit = query.limit()?;
    let page = chat::history(
        &chat.api.store,
        chat.api.cursors().await?,
        &me.user_id,
        &id,
        from,
        limit,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Send a message (`clientMessageId` makes retries safe).
#[utoipa::path(post, path = "/v1/rooms/{roomId}/messages", tag = TAG, request_body = NewMessage,
    params(("roomId" = String, Path, description = "The room")),
    responses(
        (status = 201, body = Message, description = "Sent"),
        (status = 200, body = Message, description = "A retry: the message stored the first time"),
        (status = 429, body = crate::core::error::Problem, content_type = "application/problem+json",
            description = "Over the send limit", headers(("retry-after" = u64))),
    ))]
async fn send_message(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Json(input): Json<NewMessage>,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let sent = chat::send_message(
        &chat.api.store,
        &me.user_id,
        &id,
        input,
        chat.send_limit,
        None,
    )
    .await?;
    // A retried send answers 200 with the message stored the first time.
    let status = if sent.duplicate { 200 } else { 201 };
    Ok(HttpResponse::json(status, &sent.message)?)
}

/// Edit my message.
#[utoipa::path(patch, path = "/v1/rooms/{roomId}/messages/{messageId}", tag = TAG,
    request_body = MessageEdit,
    params(("roomId" = String, Path, description = "The room"),
        ("messageId" = String, Path, description = "The message")),
    responses((status = 200, body = Message, description = "The edited message")))]
async fn edit_message(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path((room, message)): Path<(String, String)>,
    Json(edit): Json<MessageEdit>,
) -> ApiResult {
    let room = chat::parse_room_id(&room)?;
    let message = chat::parse_message_id("messageId", &message)?;
    let edited =
        chat::edit_message(&chat.api.store, &me.user_id, &room, &message, edit, None).await?;
    Ok(HttpResponse::json(200, &edited)?)
}

/// Soft-delete my message.
#[utoipa::path(delete, path = "/v1/rooms/{roomId}/messages/{messageId}", tag = TAG,
    params(("roomId" = String, Path, description = "The room"),
        ("messageId" = String, Path, description = "The message")),
    responses((status = 204, description = "Deleted")))]
async fn delete_message(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path((room, message)): Path<(String, String)>,
) -> ApiResult {
    let room = chat::parse_room_id(&room)?;
    let message = chat::parse_message_id("messageId", &message)?;
    chat::delete_message(&chat.api.store, &me.user_id, &room, &message, None).await?;
    Ok(HttpResponse::no_content())
}

/// A read receipt up to a message.
#[utoipa::path(post, path = "/v1/rooms/{roomId}/read", tag = TAG, request_body = ReadInput,
    operation_id = "mark_room_read",
    params(("roomId" = String, Path, description = "The room")),
    responses((status = 200, body = Member, description = "My membership with its read position")))]
async fn mark_read(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Json(input): Json<ReadInput>,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let message = chat::parse_message_id("messageId", &input.message_id)?;
    let (member, _) = chat::mark_read(&chat.api.store, &me.user_id, &id, &message, None).await?;
    Ok(HttpResponse::json(200, &member)?)
}

/// Presence of a room's members.
#[utoipa::path(get, path = "/v1/rooms/{roomId}/presence", tag = TAG,
    params(("roomId" = String, Path, description = "The room")),
    responses((status = 200, body = Page<Presence>, description = "The members' presence")))]
async fn room_presence(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let id = chat::parse_room_id(&id)?;
    let items = chat::room_presence(&chat.api.store, &me.user_id, &id).await?;
    let page = Page {
        items,
        next_cursor: None,
    };
    Ok(HttpResponse::json(200, &page)?)
}

/// Presence of my connections.
#[utoipa::path(get, path = "/v1/presence", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<Presence>, description = "A page of presence")))]
async fn connections_presence(
    State(chat): State<Chat>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let limit = query.limit()?;
    let page = chat::connections_presence(
        &chat.api.store,
        chat.api.cursors().await?,
        &me.user_id,
        limit,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Who may open a direct conversation with me.
#[utoipa::path(get, path = "/v1/me/chat-preferences", tag = TAG,
    operation_id = "get_chat_preferences",
    responses((status = 200, body = ChatPreferences, description = "My chat preferences")))]
async fn get_preferences(State(chat): State<Chat>, Caller(me): Caller) -> ApiResult {
    let preferences = chat::get_preferences(&chat.api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &preferences)?)
}

/// Set who may open a direct conversation with me.
#[utoipa::path(put, path = "/v1/me/chat-preferences", tag = TAG,
    operation_id = "set_chat_preferences", request_body = PreferencesInput,
    responses((status = 200, body = ChatPreferences, description = "My chat preferences")))]
async fn set_preferences(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Json(input): Json<PreferencesInput>,
) -> ApiResult {
    let preferences = chat::set_preferences(&chat.api.store, &me.user_id, input.into()).await?;
    Ok(HttpResponse::json(200, &preferences)?)
}

/// A community's chat channels, each with my unread count (members only; at most 20,
/// in one response).
#[utoipa::path(get, path = "/v1/communities/{communityId}/channels", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    responses((status = 200, body = Channels, description = "The community's channels")))]
async fn list_channels(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
) -> ApiResult {
    let items = chat::community_channels(&chat.api.store, &me, &community_id).await?;
    Ok(HttpResponse::json(200, &Channels { items })?)
}

/// A community's channels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Channels {
    items: Vec<ChannelEntry>,
}

/// Create a channel in a community (its admins and owner).
#[utoipa::path(post, path = "/v1/communities/{communityId}/channels", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = NewChannel, example = json!({"name": "general"})),
    responses((status = 201, body = Room, description = "The channel",
        headers(("location" = String, description = "The channel's room URL")))))]
async fn create_channel(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    Json(input): Json<NewChannel>,
) -> ApiResult {
    let room = chat::create_channel(&chat.api.store, &me, &community_id, input).await?;
    Ok(HttpResponse::json(201, &room)?
        .with_header("location", format!("/v1/rooms/{}", room.room_id)))
}

/// Delete a channel with its messages (the community's admins and owner).
#[utoipa::path(delete, path = "/v1/communities/{communityId}/channels/{roomId}", tag = TAG,
    params(("communityId" = String, Path, description = "The community"),
        ("roomId" = String, Path, description = "The channel")),
    responses((status = 204, description = "Deleted")))]
async fn delete_channel(
    State(chat): State<Chat>,
    Caller(me): Caller,
    Path((community_id, room_id)): Path<(String, String)>,
) -> ApiResult {
    let room_id = chat::parse_room_id(&room_id)?;
    chat::delete_channel(&chat.api.store, &me, &community_id, &room_id).await?;
    Ok(HttpResponse::no_content())
}
