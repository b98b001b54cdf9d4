//! The chat endpoint group: rooms (direct conversations and groups), members, message
//! history, edits, read positions, archive and presence — a thin adapter from HTTP to
//! `agora::chat`. Live events reach clients over the WebSocket API.

use agora::auth::Principal;
use agora::chat::{
    self, HistoryFrom, MessageEdit, NewGroup, NewMembers, NewMessage, PreferencesInput, RateLimit,
    RoomPatch,
};
use agora::config::ApiConfig;
use agora::cursor::{Page, parse_limit};
use agora::edge::{self, Api, HttpRequest, HttpResponse, match_path};
use agora::ids::UserId;
use agora::{AppError, AppResult, telemetry};
use serde::Deserialize;
use serde_json::json;

/// What chat serves with: the shared API state plus the per-user send limit.
struct ChatState {
    api: Api,
    send_limit: RateLimit,
}

impl AsRef<Api> for ChatState {
    fn as_ref(&self) -> &Api {
        &self.api
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    // All configuration is read before the store is built, so a bad value fails at once.
    let config = ApiConfig::from_env()?;
    let send_limit = agora::chat::RateLimit::from_env()?;
    let state = ChatState {
        api: Api::new(&config).await,
        send_limit,
    };
    edge::run_api(state, route, serve).await
}

enum Route {
    Rooms,
    Dm,
    Room(String),
    Members(String),
    LeaveRoom(String),
    Archive(String),
    Messages(String),
    Message(String, String),
    Read(String),
    RoomPresence(String),
    Presence,
    Preferences,
}

/// Builds a route from a room id.
type RoomRoute = fn(String) -> Route;

fn route(path: &str) -> Option<Route> {
    match path.trim_end_matches('/') {
        "/v1/rooms" => return Some(Route::Rooms),
        "/v1/rooms/dm" => return Some(Route::Dm),
        "/v1/presence" => return Some(Route::Presence),
        "/v1/me/chat-preferences" => return Some(Route::Preferences),
        _ => {}
    }
    if let Some(p) = match_path("/v1/rooms/{roomId}/messages/{messageId}", path) {
        return Some(Route::Message(
            p.get("roomId")?.clone(),
            p.get("messageId")?.clone(),
        ));
    }
    let room = |template: &str| match_path(template, path)?.get("roomId").cloned();
    if let Some(id) = room("/v1/rooms/{roomId}/members/me") {
        return Some(Route::LeaveRoom(id));
    }
    let routes: [(&str, RoomRoute); 6] = [
        ("/v1/rooms/{roomId}/members", Route::Members),
        ("/v1/rooms/{roomId}/archive", Route::Archive),
        ("/v1/rooms/{roomId}/messages", Route::Messages),
        ("/v1/rooms/{roomId}/read", Route::Read),
        ("/v1/rooms/{roomId}/presence", Route::RoomPresence),
        ("/v1/rooms/{roomId}", Route::Room),
    ];
    routes
        .into_iter()
        .find_map(|(template, make)| room(template).map(make))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DmInput {
    user_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ArchiveInput {
    archived: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReadInput {
    message_id: String,
}

fn flag(request: &HttpRequest, name: &str) -> AppResult<bool> {
    match request.query_param(name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(AppError::bad_field(name, "must be true or false")),
    }
}

fn history_from(request: &HttpRequest) -> AppResult<HistoryFrom> {
    match (request.query_param("before"), request.query_param("after")) {
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

async fn serve(
    state: &ChatState,
    principal: &Principal,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let (store, cursors) = (&state.api.store, &state.api.cursors);
    let me = &principal.user_id;
    let limit = || parse_limit(request.query_param("limit"));
    let cursor = request.query_param("cursor");
    match (route, request.method.as_str()) {
        (Route::Rooms, "GET") => {
            let archived = flag(request, "archived")?;
            let limit = limit()?;
            HttpResponse::json(
                200,
                &chat::inbox(store, cursors, me, archived, limit, cursor).await?,
            )
        }
        (Route::Rooms, "POST") => {
            let room = chat::create_group(store, me, request.json::<NewGroup>()?).await?;
            Ok(HttpResponse::json(201, &room)?
                .with_header("location", format!("/v1/rooms/{}", room.room_id)))
        }
        (Route::Rooms, _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Dm, "POST") => {
            let input: DmInput = request.json()?;
            let other = UserId::parse(&input.user_id)
                .map_err(|_| AppError::invalid_field("userId", "is not a user id"))?;
            let (room, created) = chat::open_dm(store, me, &other).await?;
            let status = if created { 201 } else { 200 };
            Ok(HttpResponse::json(status, &room)?
                .with_header("location", format!("/v1/rooms/{}", room.room_id)))
        }
        (Route::Dm, _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::Room(id), "GET") => {
            let id = chat::parse_room_id(&id)?;
            HttpResponse::json(200, &chat::room_detail(store, me, &id).await?)
        }
        (Route::Room(id), "PATCH") => {
            let id = chat::parse_room_id(&id)?;
            let patch: RoomPatch = request.json()?;
            HttpResponse::json(200, &chat::update_room(store, me, &id, patch).await?)
        }
        (Route::Room(_), _) => Err(AppError::MethodNotAllowed("GET, PATCH".into())),
        (Route::Members(id), "GET") => {
            let id = chat::parse_room_id(&id)?;
            let limit = limit()?;
            HttpResponse::json(
                200,
                &chat::list_members(store, cursors, me, &id, limit, cursor).await?,
            )
        }
        (Route::Members(id), "POST") => {
            let id = chat::parse_room_id(&id)?;
            let input: NewMembers = request.json()?;
            let added = chat::add_members(store, me, &id, input).await?;
            HttpResponse::json(200, &json!({ "added": added }))
        }
        (Route::Members(_), _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::LeaveRoom(id), "DELETE") => {
            chat::leave_room(store, me, &chat::parse_room_id(&id)?).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::LeaveRoom(_), _) => Err(AppError::MethodNotAllowed("DELETE".into())),
        (Route::Archive(id), "PUT") => {
            let input: ArchiveInput = request.json()?;
            chat::set_archived(store, me, &chat::parse_room_id(&id)?, input.archived).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Archive(_), _) => Err(AppError::MethodNotAllowed("PUT".into())),
        (Route::Messages(id), "GET") => {
            let id = chat::parse_room_id(&id)?;
            let from = history_from(request)?;
            let limit = limit()?;
            HttpResponse::json(
                200,
                &chat::history(store, cursors, me, &id, from, limit, cursor).await?,
            )
        }
        (Route::Messages(id), "POST") => {
            let id = chat::parse_room_id(&id)?;
            let input: NewMessage = request.json()?;
            let sent = chat::send_message(store, me, &id, input, state.send_limit).await?;
            // A retried send answers 200 with the message stored the first time.
            let status = if sent.duplicate { 200 } else { 201 };
            HttpResponse::json(status, &sent.message)
        }
        (Route::Messages(_), _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Message(room, message), "PATCH") => {
            let room = chat::parse_room_id(&room)?;
            let message = chat::parse_message_id("messageId", &message)?;
            let edit: MessageEdit = request.json()?;
            HttpResponse::json(
                200,
                &chat::edit_message(store, me, &room, &message, edit).await?,
            )
        }
        (Route::Message(room, message), "DELETE") => {
            let room = chat::parse_room_id(&room)?;
            let message = chat::parse_message_id("messageId", &message)?;
            chat::delete_message(store, me, &room, &message).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Message(..), _) => Err(AppError::MethodNotAllowed("PATCH, DELETE".into())),
        (Route::Read(id), "POST") => {
            let id = chat::parse_room_id(&id)?;
            let input: ReadInput = request.json()?;
            let message = chat::parse_message_id("messageId", &input.message_id)?;
            HttpResponse::json(200, &chat::mark_read(store, me, &id, &message).await?)
        }
        (Route::Read(_), _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::RoomPresence(id), "GET") => {
            let id = chat::parse_room_id(&id)?;
            let items = chat::room_presence(store, me, &id).await?;
            HttpResponse::json(
                200,
                &Page {
                    items,
                    next_cursor: None,
                },
            )
        }
        (Route::RoomPresence(_), _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Presence, "GET") => {
            let limit = limit()?;
            HttpResponse::json(
                200,
                &chat::connections_presence(store, cursors, me, limit, cursor).await?,
            )
        }
        (Route::Presence, _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Preferences, "GET") => {
            HttpResponse::json(200, &chat::get_preferences(store, me).await?)
        }
        (Route::Preferences, "PUT") => {
            let input: PreferencesInput = request.json()?;
            HttpResponse::json(200, &chat::set_preferences(store, me, input.into()).await?)
        }
        (Route::Preferences, _) => Err(AppError::MethodNotAllowed("GET, PUT".into())),
    }
}
