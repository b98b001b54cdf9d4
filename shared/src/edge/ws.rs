//! The WebSocket protocol: typed client frames (actions) and server frames, and how a
//! domain error becomes an error frame. Handlers in the realtime function use these.

use serde::{Deserialize, Serialize};

use crate::contexts::realtime::push::Pusher;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;

/// The `@connections` client every function pushes with: a connection found closed also
/// loses its room subscriptions (chat keeps them per connection).
pub fn pusher(config: &aws_config::SdkConfig) -> Pusher {
    let expired = serde_json::to_vec(&ServerFrame::token_expired()).unwrap_or_default();
    Pusher::from_sdk_config(config)
        .forgetting(crate::contexts::chat::forget_subscriptions())
        .telling_expired(expired)
}

/// A frame sent to a client in answer to one of its actions.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerFrame {
    #[serde(rename_all = "camelCase")]
    Pong {
        connection_id: String,
        user_id: UserId,
        server_time: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// The action succeeded; `result` holds what it returns (e.g. the stored message's
    /// id and time for `sendMessage`).
    #[serde(rename_all = "camelCase")]
    Ack {
        action: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        #[serde(flatten)]
        #[schema(value_type = Object)]
        result: serde_json::Map<String, serde_json::Value>,
    },
    #[serde(rename_all = "camelCase")]
    Error {
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        action: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        errors: Vec<crate::core::error::FieldError>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_seconds: Option<u64>,
    },
}

/// Why an action failed, as the error frame's `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// Not a JSON object with an `action`.
    BadFrame,
    UnknownAction,
    /// The action's fields are missing, of the wrong type or break a rule (`errors`).
    BadPayload,
    NotMember,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    TooLarge,
    Unauthorized,
    /// The token the socket was opened with has expired: the server closes the socket
    /// right after this frame; reconnect with a fresh token.
    TokenExpired,
    Internal,
}

impl ServerFrame {
    /// The last frame of a socket whose token expired.
    pub fn token_expired() -> Self {
        ServerFrame::Error {
            code: ErrorCode::TokenExpired,
            message: "the token this connection was opened with has expired; reconnect with a fresh token".into(),
            action: None,
            request_id: None,
            errors: vec![],
            retry_after_seconds: None,
        }
    }

    /// The error frame for a failed action.
    pub fn error(error: &AppError, action: Option<&str>, request_id: Option<String>) -> Self {
        let (code, errors, retry_after_seconds) = match error {
            AppError::BadRequest { errors, .. } | AppError::Validation(errors) => {
                (ErrorCode::BadPayload, errors.clone(), None)
            }
            AppError::Forbidden(message) if message == crate::contexts::chat::NOT_MEMBER => {
                (ErrorCode::NotMember, vec![], None)
            }
            AppError::Forbidden(_) => (ErrorCode::Forbidden, vec![], None),
            AppError::NotFound(_) => (ErrorCode::NotFound, vec![], None),
            AppError::Conflict(_) => (ErrorCode::Conflict, vec![], None),
            AppError::RateLimited {
                retry_after_seconds,
            } => (ErrorCode::RateLimited, vec![], Some(*retry_after_seconds)),
            AppError::PayloadTooLarge(_) => (ErrorCode::TooLarge, vec![], None),
            AppError::Unauthorized(_) => (ErrorCode::Unauthorized, vec![], None),
            AppError::MethodNotAllowed(_) | AppError::Internal(_) => {
                (ErrorCode::Internal, vec![], None)
            }
        };
        let message = match error {
            // Internal causes are logged, never sent.
            AppError::Internal(_) => "something went wrong; retry".to_owned(),
            AppError::BadRequest { detail, .. } => detail.clone(),
            AppError::Validation(_) => "the action's fields break a rule".to_owned(),
            other => other.to_string(),
        };
        ServerFrame::Error {
            code,
            message,
            action: action.map(str::to_owned),
            request_id,
            errors,
            retry_after_seconds,
        }
    }
}

/// Every action a client frame may name: the parser below matches exactly these, and
/// the AsyncAPI document describes each (`edge::asyncapi`).
pub const ACTIONS: [&str; 9] = [
    "ping",
    "sendMessage",
    "editMessage",
    "deleteMessage",
    "typing",
    "markRead",
    "setPresence",
    "subscribe",
    "unsubscribe",
];

/// API Gateway's WebSocket frame limit: larger client frames never reach us, and ours
/// stay below it too.
pub const MAX_CLIENT_FRAME_BYTES: usize = 32 * 1024;

/// `typing`'s `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TypingState {
    Start,
    Stop,
}

/// What a client asked for, parsed and typed.
#[derive(Debug, Clone)]
pub enum Action {
    Ping,
    SendMessage {
        room_id: String,
        message: crate::contexts::chat::NewMessage,
    },
    EditMessage {
        room_id: String,
        message_id: String,
        edit: crate::contexts::chat::MessageEdit,
    },
    DeleteMessage {
        room_id: String,
        message_id: String,
    },
    Typing {
        room_id: String,
        state: TypingState,
    },
    MarkRead {
        room_id: String,
        message_id: String,
    },
    SetPresence {
        status: crate::contexts::chat::PresenceStatus,
    },
    Subscribe {
        room_id: String,
    },
    Unsubscribe {
        room_id: String,
    },
}

/// A client frame: its action name, its correlation id and the parsed action (or why it
/// could not be parsed).
#[derive(Debug)]
pub struct ClientFrame {
    pub action: Option<String>,
    pub request_id: Option<String>,
    pub parsed: AppResult<Action>,
}

/// The fields of an action frame (besides `action` and `requestId`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RoomOnly {
    room_id: String,
}

/// The fields of an action frame (besides `action` and `requestId`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RoomMessage {
    room_id: String,
    message_id: String,
}

/// The fields of an action frame (besides `action` and `requestId`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SendFields {
    room_id: String,
    #[serde(flatten)]
    message: crate::contexts::chat::NewMessage,
}

/// The fields of an action frame (besides `action` and `requestId`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EditFields {
    room_id: String,
    message_id: String,
    text: String,
}

/// The fields of an action frame (besides `action` and `requestId`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TypingFields {
    room_id: String,
    state: TypingState,
}

/// The fields of an action frame (besides `action` and `requestId`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PresenceFields {
    status: crate::contexts::chat::PresenceStatus,
}

/// No fields besides `action` and `requestId`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

/// Deserializes the action's fields, naming the offending one on failure.
fn fields<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> AppResult<T> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." {
            "frame".to_owned()
        } else {
            path
        };
        AppError::bad_field(field, error.into_inner().to_string())
    })
}

impl ClientFrame {
    /// Parses a frame's body. `action` and `requestId` are taken out first, so an error
    /// frame can name them even when the rest is wrong.
    pub fn parse(body: Option<&str>) -> Self {
        let value = body.and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
        let Some(serde_json::Value::Object(mut object)) = value else {
            return Self {
                action: None,
                request_id: None,
                parsed: Err(AppError::bad_field("frame", "must be a JSON object")),
            };
        };
        let action = match object.remove("action") {
            Some(serde_json::Value::String(a)) => Some(a),
            _ => None,
        };
        let request_id = match object.remove("requestId") {
            Some(serde_json::Value::String(r)) if r.len() <= 64 => Some(r),
            _ => None,
        };
        let rest = serde_json::Value::Object(object);
        let parsed = match action.as_deref() {
            None => Err(AppError::bad_field("action", "is required")),
            Some(action) => Self::action(action, rest),
        };
        Self {
            action,
            request_id,
            parsed,
        }
    }

    fn action(action: &str, rest: serde_json::Value) -> AppResult<Action> {
        let room = |raw: &str| crate::contexts::chat::parse_room_id(raw);
        let message = |raw: &str| crate::contexts::chat::parse_message_id("messageId", raw);
        Ok(match action {
            "ping" => {
                fields::<Empty>(rest)?;
                Action::Ping
            }
            "sendMessage" => {
                let f: SendFields = fields(rest)?;
                Action::SendMessage {
                    room_id: room(&f.room_id)?,
                    message: f.message,
                }
            }
            "editMessage" => {
                let f: EditFields = fields(rest)?;
                Action::EditMessage {
                    room_id: room(&f.room_id)?,
                    message_id: message(&f.message_id)?,
                    edit: crate::contexts::chat::MessageEdit { text: f.text },
                }
            }
            "deleteMessage" => {
                let f: RoomMessage = fields(rest)?;
                Action::DeleteMessage {
                    room_id: room(&f.room_id)?,
                    message_id: message(&f.message_id)?,
                }
            }
            "typing" => {
                let f: TypingFields = fields(rest)?;
                Action::Typing {
                    room_id: room(&f.room_id)?,
                    state: f.state,
                }
            }
            "markRead" => {
                let f: RoomMessage = fields(rest)?;
                Action::MarkRead {
                    room_id: room(&f.room_id)?,
                    message_id: message(&f.message_id)?,
                }
            }
            "setPresence" => {
                let f: PresenceFields = fields(rest)?;
                if f.status == crate::contexts::chat::PresenceStatus::Offline {
                    return Err(AppError::invalid_field(
                        "status",
                        "must be online, away or busy (offline follows your connections)",
                    ));
                }
                Action::SetPresence { status: f.status }
            }
            "subscribe" => Action::Subscribe {
                room_id: room(&fields::<RoomOnly>(rest)?.room_id)?,
            },
            "unsubscribe" => Action::Unsubscribe {
                room_id: room(&fields::<RoomOnly>(rest)?.room_id)?,
            },
            _ => return Err(AppError::NotFound(UNKNOWN_ACTION.into())),
        })
    }
}

/// The `NotFound` detail of an action name the server does not know.
pub const UNKNOWN_ACTION: &str = "unknown action";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_frame_parses_into_its_typed_action_with_its_request_id() {
        let frame = ClientFrame::parse(Some(
            r#"{"action":"sendMessage","requestId":"r1","roomId":"01J00000000000000000000000","text":"hi","clientMessageId":"c1"}"#,
        ));

        assert_eq!(frame.action.as_deref(), Some("sendMessage"));
        assert_eq!(frame.request_id.as_deref(), Some("r1"));
        assert!(matches!(frame.parsed, Ok(Action::SendMessage { .. })));
    }

    #[test]
    fn bad_frames_name_what_is_wrong() {
        let not_json = ClientFrame::parse(Some("hello"));
        let missing = ClientFrame::parse(Some(
            r#"{"action":"typing","roomId":"01J00000000000000000000000"}"#,
        ));
        let unknown_field = ClientFrame::parse(Some(
            r#"{"action":"subscribe","roomId":"01J00000000000000000000000","x":1}"#,
        ));
        let bad_room = ClientFrame::parse(Some(r#"{"action":"subscribe","roomId":"nope"}"#));

        assert!(matches!(not_json.parsed, Err(AppError::BadRequest { .. })));
        let field = |frame: &ClientFrame| match &frame.parsed {
            Err(AppError::BadRequest { errors, .. }) => errors[0].field.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(field(&missing), "frame");
        assert!(field(&unknown_field) == "frame" || field(&unknown_field) == "x");
        assert_eq!(field(&bad_room), "roomId");
    }

    #[test]
    fn an_error_frame_carries_its_code_and_never_an_internal_cause() {
        let frame = ServerFrame::error(&AppError::internal("db exploded"), Some("ping"), None);
        let json = serde_json::to_value(&frame).unwrap();

        assert_eq!(json["code"], "internal");
        assert!(!json.to_string().contains("exploded"));
    }
}
