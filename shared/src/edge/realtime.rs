//! The WebSocket API's routes. `$connect` records the connection and marks the user
//! online, `$disconnect` forgets it (and its room subscriptions) and marks the user
//! offline once their last connection is gone. Chat actions (`sendMessage`,
//! `editMessage`, `deleteMessage`, `typing`, `markRead`, `setPresence`, `subscribe`,
//! `unsubscribe`, `ping`) each get one reply frame through `@connections`: an ack or a
//! structured error. A change an action stores (a message sent, edited or deleted, a
//! read receipt) is pushed to the room from here before the ack, under a claim the
//! table's stream backs up (see `chat::push_live`); typing and presence are ephemeral
//! and are pushed from here only.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::contexts::chat::{self, LiveChange, LiveClaim, Presence, RateLimit, RoomEvent};
use crate::contexts::realtime::{self, push::Pusher};
use crate::core::config::{self, ConfigError};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_epoch_millis, now_epoch_seconds, now_rfc3339};
use crate::core::rate_limit::RatePolicies;
use crate::edge::ws::{self, Action, ClientFrame, ServerFrame, TypingState};
use crate::table::store::Store;

/// What the realtime function holds across invocations.
pub struct Realtime {
    store: Store,
    pusher: Pusher,
    send_limit: RateLimit,
    /// Per-user limits of the other actions, by action name (`RATE_LIMIT_ACTIONS`).
    action_limits: RatePolicies,
    typing_seconds: i64,
    /// How long this function's claim on pushing its own changes lasts, in ms.
    live_push_claim_ms: i64,
    /// Rooms' subscriber lists by version, kept between invocations.
    subscribers: chat::SubscriberCache,
}

/// Each user's actions per window when `RATE_LIMIT_ACTIONS` does not say otherwise.
/// `sendMessage` has its own limit (chat's send window) and `ping` is free.
pub const DEFAULT_ACTION_LIMITS: &str = "typing=30/60,setPresence=10/60,editMessage=30/60,\
deleteMessage=30/60,markRead=120/60,subscribe=60/60,unsubscribe=60/60";

impl Realtime {
    /// Reads `TABLE_NAME`, the chat send limit and `CHAT_TYPING_SECONDS` once; a bad value
    /// fails the cold start.
    pub fn from_env(aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            store: Store::from_sdk_config(aws, config::required("TABLE_NAME")?),
            pusher: crate::edge::ws::pusher(aws),
            send_limit: RateLimit::from_env()?,
            action_limits: RatePolicies::from_env("RATE_LIMIT_ACTIONS", DEFAULT_ACTION_LIMITS)?,
            typing_seconds: config::optional_number(
                "CHAT_TYPING_SECONDS",
                chat::DEFAULT_TYPING_SECONDS,
            )?,
            live_push_claim_ms: config::optional_number(
                "CHAT_LIVE_PUSH_CLAIM_MS",
                chat::DEFAULT_LIVE_PUSH_CLAIM_MS,
            )?,
            subscribers: chat::SubscriberCache::new(),
        })
    }

    /// Serves one WebSocket event; the status API Gateway gets back.
    pub async fn serve(&self, event: WebSocketEvent) -> Value {
        // Boxed: the routes' futures nest deep enough to overflow the compiler's
        // layout depth in the function's `main` otherwise.
        let status = match Box::pin(route(self, event)).await {
            Ok(()) => 200,
            Err(error) => {
                tracing::error!(%error, "websocket route failed");
                error.status()
            }
        };
        json!({ "statusCode": status })
    }
}

/// The parts of an API Gateway WebSocket event this function reads. The authorizer
/// context is flat (`principalId`, `userId`, ...), unlike the HTTP API's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketEvent {
    request_context: RequestContext,
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    route_key: String,
    connection_id: String,
    #[serde(default)]
    authorizer: Option<serde_json::Map<String, Value>>,
}

/// The last second the connection's token is honoured, from the authorizer's
/// `tokenExpiresAt` (a number, or a numeric string as some integrations pass context
/// values). `None` for a connection authorized before it was passed.
fn honoured_until(context: &RequestContext) -> Option<i64> {
    let exp = context.authorizer.as_ref()?.get("tokenExpiresAt")?;
    let exp = exp
        .as_i64()
        .or_else(|| exp.as_str().and_then(|s| s.parse().ok()))?;
    Some(crate::core::auth::honoured_until(exp))
}

fn user_of(context: &RequestContext) -> AppResult<UserId> {
    let user = context
        .authorizer
        .as_ref()
        .and_then(|a| a.get("userId").or_else(|| a.get("principalId")))
        .and_then(Value::as_str)
        .ok_or_else(|| AppError::Unauthorized("the connection has no authorized user".into()))?;
    UserId::parse(user)
}

async fn route(state: &Realtime, event: WebSocketEvent) -> AppResult<()> {
    let context = &event.request_context;
    let store = &state.store;
    match context.route_key.as_str() {
        "$connect" => {
            let user = user_of(context)?;
            realtime::admit_connection(store, &user).await?;
            realtime::record_connection(
                store,
                &user,
                &context.connection_id,
                honoured_until(context),
            )
            .await?;
            if let Some(presence) = chat::came_online(store, &user).await? {
                announce_presence(state, &presence).await;
            }
            Ok(())
        }
        "$disconnect" => {
            let record: Option<realtime::ConnectionRecord> = store
                .get(&realtime::keys::connection(&context.connection_id))
                .await?;
            state
                .pusher
                .forget_connection(store, &context.connection_id)
                .await?;
            if let Some(record) = record
                && let Some(presence) = chat::maybe_offline(store, &record.user_id).await?
            {
                announce_presence(state, &presence).await;
            }
            Ok(())
        }
        _ if honoured_until(context).is_some_and(|until| now_epoch_seconds() > until) => {
            // Nothing more for this socket: the client reconnects with a fresh token.
            state
                .pusher
                .end_expired(store, &context.connection_id)
                .await
        }
        _ => {
            let frame = ClientFrame::parse(event.body.as_deref());
            let reply = match (user_of(context), frame.parsed) {
                (Err(error), _) | (_, Err(error)) => {
                    let error = match error {
                        AppError::NotFound(detail) if detail == ws::UNKNOWN_ACTION => {
                            return reply_unknown(state, context, frame.action, frame.request_id)
                                .await;
                        }
                        other => other,
                    };
                    let mut reply =
                        ServerFrame::error(&error, frame.action.as_deref(), frame.request_id);
                    if frame.action.is_none()
                        && let ServerFrame::Error { code, .. } = &mut reply
                    {
                        // Not a JSON object with an action at all.
                        *code = ws::ErrorCode::BadFrame;
                    }
                    reply
                }
                (Ok(user), Ok(action)) => {
                    let name = frame.action.clone().unwrap_or_default();
                    let result = match allowed(state, &user, &name).await {
                        Ok(()) => act(state, &user, context, action).await,
                        Err(error) => Err(error),
                    };
                    match result {
                        Ok(ActResult::Pong) => ServerFrame::Pong {
                            connection_id: context.connection_id.clone(),
                            user_id: user,
                            server_time: now_rfc3339(),
                            request_id: frame.request_id,
                        },
                        Ok(ActResult::Ack(result)) => ServerFrame::Ack {
                            action: name,
                            request_id: frame.request_id,
                            result,
                        },
                        Err(error) => {
                            if matches!(error, AppError::Internal(_)) {
                                tracing::error!(%error, action = %name, "action failed");
                            }
                            ServerFrame::error(&error, Some(&name), frame.request_id)
                        }
                    }
                }
            };
            send(state, &context.connection_id, &reply).await
        }
    }
}

async fn reply_unknown(
    state: &Realtime,
    context: &RequestContext,
    action: Option<String>,
    request_id: Option<String>,
) -> AppResult<()> {
    let frame = ServerFrame::Error {
        code: ws::ErrorCode::UnknownAction,
        message: "frames are JSON objects with a known \"action\"".into(),
        action,
        request_id,
        errors: vec![],
        retry_after_seconds: None,
    };
    send(state, &context.connection_id, &frame).await
}

/// Whether `me` may take `action`: their standing allows it (one GetItem; see
/// `moderation::judge_action`; `sendMessage` checks it in its own transaction
/// instead, and `ping` is always allowed), and it is within its limit.
async fn allowed(state: &Realtime, me: &UserId, action: &str) -> AppResult<()> {
    if !matches!(action, "sendMessage" | "ping") {
        let standing = crate::contexts::moderation::standing_of(&state.store, me).await?;
        crate::contexts::moderation::judge_action(standing.as_ref(), &now_rfc3339(), action)?;
    }
    within_limit(state, me, action).await
}

/// Counts one action of `me` against its limit (one UpdateItem): past it, the action
/// is refused with `rateLimited` and `retryAfterSeconds`. Actions without a policy
/// (`ping`; `sendMessage`, which chat limits itself) are not counted. A counter that
/// cannot be read lets the action through.
async fn within_limit(state: &Realtime, me: &UserId, action: &str) -> AppResult<()> {
    let Some(policy) = state.action_limits.get(action) else {
        return Ok(());
    };
    match crate::table::rate_limit::hit(&state.store, me, policy, now_epoch_seconds()).await {
        Ok(decision) if !decision.allowed => Err(decision.refusal()),
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, action, "an action limit could not be counted; allowing");
            Ok(())
        }
    }
}

enum ActResult {
    Pong,
    Ack(Map<String, Value>),
}

fn ack(value: Value) -> ActResult {
    match value {
        Value::Object(map) => ActResult::Ack(map),
        _ => ActResult::Ack(Map::new()),
    }
}

async fn act(
    state: &Realtime,
    me: &UserId,
    context: &RequestContext,
    action: Action,
) -> AppResult<ActResult> {
    let store = &state.store;
    let connection_id = context.connection_id.as_str();
    Ok(match action {
        Action::Ping => ActResult::Pong,
        Action::SendMessage { room_id, message } => {
            let claim = state.claim();
            let sent =
                chat::send_message(store, me, &room_id, message, state.send_limit, Some(claim))
                    .await?;
            if !sent.duplicate {
                let event = RoomEvent::Message {
                    room_id: room_id.clone(),
                    message: sent.message.clone(),
                };
                push_message(state, &sent.message, &event, claim, sent.audience.as_ref()).await;
            }
            let m = sent.message;
            ack(json!({
                "roomId": m.room_id, "messageId": m.message_id, "clientMessageId": m.client_message_id,
                "seq": m.seq, "sentAt": m.sent_at, "duplicate": sent.duplicate,
            }))
        }
        Action::EditMessage {
            room_id,
            message_id,
            edit,
        } => {
            let claim = state.claim();
            let m = chat::edit_message(store, me, &room_id, &message_id, edit, Some(claim)).await?;
            let event = RoomEvent::MessageEdited {
                room_id: room_id.clone(),
                message: m.clone(),
            };
            push_message(state, &m, &event, claim, None).await;
            ack(
                json!({ "roomId": m.room_id, "messageId": m.message_id, "version": m.version, "editedAt": m.edited_at }),
            )
        }
        Action::DeleteMessage {
            room_id,
            message_id,
        } => {
            let claim = state.claim();
            let m = chat::delete_message(store, me, &room_id, &message_id, Some(claim)).await?;
            let event = RoomEvent::MessageDeleted {
                room_id: room_id.clone(),
                message: m.clone(),
            };
            push_message(state, &m, &event, claim, None).await;
            ack(json!({ "roomId": m.room_id, "messageId": m.message_id, "version": m.version }))
        }
        Action::Typing {
            room_id,
            state: typing,
        } => {
            let started = typing == TypingState::Start;
            let expires_at =
                chat::set_typing(store, me, &room_id, started, state.typing_seconds).await?;
            let event = RoomEvent::Typing {
                room_id: room_id.clone(),
                user_id: me.clone(),
                typing: started,
                expires_at,
            };
            to_room(state, &room_id, me, &event, Some(connection_id)).await?;
            ack(json!({ "roomId": room_id, "typing": started, "expiresAt": expires_at }))
        }
        Action::MarkRead {
            room_id,
            message_id,
        } => {
            let claim = state.claim();
            let (member, moved) =
                chat::mark_read(store, me, &room_id, &message_id, Some(claim)).await?;
            if moved {
                let event = RoomEvent::ReadReceipt {
                    room_id: room_id.clone(),
                    user_id: me.clone(),
                    message_id: member.last_read_message_id.clone().unwrap_or_default(),
                    read_at: member.last_read_at.clone().unwrap_or_default(),
                };
                let change = LiveChange {
                    room_id: &room_id,
                    event: &event,
                    actor: me,
                    key: chat::keys::member(&room_id, me),
                    token: member.read_seq,
                    known: None,
                };
                push_live(state, change, claim).await;
            }
            ack(json!({ "roomId": room_id, "lastReadMessageId": member.last_read_message_id }))
        }
        Action::SetPresence { status } => {
            let presence = chat::set_presence(store, me, status).await?;
            announce_presence(state, &presence).await;
            ack(json!({ "status": presence.status, "updatedAt": presence.updated_at }))
        }
        Action::Subscribe { room_id } => {
            let room = chat::subscribe(store, me, &room_id, connection_id, honoured_until(context))
                .await?;
            // A client catches up with `GET /v1/rooms/{roomId}/messages?after=<last id seen>`
            // after this ack: anything newer reaches it as events.
            ack(json!({ "roomId": room_id, "lastMessageId": room.last_message_id }))
        }
        Action::Unsubscribe { room_id } => {
            chat::unsubscribe(store, me, &room_id, connection_id).await?;
            ack(json!({ "roomId": room_id }))
        }
    })
}

impl Realtime {
    /// A claim on pushing a change about to be stored, from now.
    fn claim(&self) -> LiveClaim {
        LiveClaim::starting(now_epoch_millis(), self.live_push_claim_ms)
    }
}

/// Pushes a message this action stored (sent, edited or deleted) to its room.
async fn push_message(
    state: &Realtime,
    message: &chat::Message,
    event: &RoomEvent,
    claim: LiveClaim,
    known: Option<&chat::KnownAudience>,
) {
    let change = LiveChange {
        room_id: &message.room_id,
        event,
        actor: &message.sender_id,
        key: chat::keys::message(&message.room_id, &message.message_id),
        token: message.version,
        known,
    };
    push_live(state, change, claim).await;
}

/// Pushes a change this action stored to its room. It is stored, and the stream
/// pushes it if this does not finish: a failure here is logged, never the action's.
async fn push_live(state: &Realtime, change: LiveChange<'_>, claim: LiveClaim) {
    match chat::push_live(
        &state.store,
        &state.pusher,
        &state.subscribers,
        change,
        claim,
    )
    .await
    {
        Ok(Some(report)) => tracing::info!(
            delivered = report.delivered,
            gone = report.gone,
            failed = report.failed,
            expired = report.expired,
            "change pushed"
        ),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "pushing a change failed: the stream will"),
    }
}

/// Pushes an ephemeral event of `actor`'s to a room's subscribers who may hear of them
/// (not across a block), except `skip`, the actor's own connection.
async fn to_room(
    state: &Realtime,
    room_id: &str,
    actor: &UserId,
    event: &RoomEvent,
    skip: Option<&str>,
) -> AppResult<()> {
    let subscribers = chat::subscribers(&state.store, room_id).await?;
    let targets: Vec<_> = chat::audience(&state.store, actor, &subscribers)
        .await?
        .iter()
        .filter(|s| Some(s.connection_id.as_str()) != skip)
        .map(chat::Subscription::target)
        .collect();
    let data = serde_json::to_vec(event).map_err(AppError::internal)?;
    state.pusher.broadcast(&state.store, &targets, &data).await;
    Ok(())
}

/// Tells the subscribers of my rooms (the first few dozen) that my presence changed.
/// Best effort: presence is also readable over REST.
async fn announce_presence(state: &Realtime, presence: &Presence) {
    let rooms = match chat::rooms_of(&state.store, &presence.user_id).await {
        Ok(rooms) => rooms,
        Err(error) => {
            tracing::warn!(%error, "listing rooms for a presence change failed");
            return;
        }
    };
    for room_id in rooms {
        let event = RoomEvent::Presence {
            room_id: room_id.clone(),
            presence: presence.clone(),
        };
        if let Err(error) = to_room(state, &room_id, &presence.user_id, &event, None).await {
            tracing::warn!(%error, "announcing presence failed");
        }
    }
}

/// Posts a reply frame to the connection that sent the action.
async fn send(state: &Realtime, connection_id: &str, frame: &ServerFrame) -> AppResult<()> {
    let data = serde_json::to_vec(frame).map_err(AppError::internal)?;
    state
        .pusher
        .post(&state.store, connection_id, &data)
        .await?;
    Ok(())
}
