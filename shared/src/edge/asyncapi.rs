//! The AsyncAPI 3.0 document of the WebSocket API: every client action and every frame
//! the server sends, with JSON Schemas generated from the same Rust types the realtime
//! function parses and serializes (`edge::ws`, chat's `RoomEvent`, the notification
//! frame). `docs/asyncapi.json` is this document, committed; `shared/tests/asyncapi.rs`
//! fails when they differ, and when an action the parser accepts has no message here.

use serde_json::{Map, Value, json};
use utoipa::OpenApi as _;

use crate::contexts::chat::RoomEvent;
use crate::contexts::notifications::NotificationFrame;
use crate::edge::ws::{
    ACTIONS, EditFields, Empty, PresenceFields, RoomMessage, RoomOnly, SendFields, ServerFrame,
    TypingFields,
};

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    Empty,
    RoomOnly,
    RoomMessage,
    SendFields,
    EditFields,
    TypingFields,
    PresenceFields,
    ServerFrame,
    RoomEvent,
    NotificationFrame
)))]
struct Frames;

/// Each action's fields: the schema a frame with that `action` must match (besides
/// `action` and `requestId`).
fn fields_of(action: &str) -> Option<&'static str> {
    Some(match action {
        "ping" => "Empty",
        "sendMessage" => "SendFields",
        "editMessage" => "EditFields",
        "deleteMessage" | "markRead" => "RoomMessage",
        "typing" => "TypingFields",
        "setPresence" => "PresenceFields",
        "subscribe" | "unsubscribe" => "RoomOnly",
        _ => return None,
    })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The whole document.
pub fn document() -> Value {
    let mut messages = Map::new();
    let mut client = Vec::new();
    for action in ACTIONS {
        let fields = fields_of(action).unwrap_or("Empty");
        messages.insert(
            action.to_owned(),
            json!({
                "name": action,
                "title": format!("{action} (client action)"),
                "contentType": "application/json",
                "payload": {
                    "allOf": [
                        schema_ref(fields),
                        {
                            "type": "object",
                            "required": ["action"],
                            "properties": {
                                "action": { "const": action },
                                "requestId": {
                                    "type": "string",
                                    "maxLength": 64,
                                    "description": "Echoed in the reply frame."
                                }
                            }
                        }
                    ]
                }
            }),
        );
        client.push(json!({ "$ref": format!("#/channels/socket/messages/{action}") }));
    }
    let server = [
        (
            "reply",
            "ServerFrame",
            "The one reply to each action: pong, ack or error.",
        ),
        (
            "roomEvent",
            "RoomEvent",
            "A live event of a subscribed room.",
        ),
        (
            "notification",
            "NotificationFrame",
            "A new or changed notification, with the unread count.",
        ),
    ];
    let mut received = Vec::new();
    for (name, schema, summary) in server {
        messages.insert(
            name.to_owned(),
            json!({
                "name": name,
                "summary": summary,
                "contentType": "application/json",
                "payload": schema_ref(schema),
            }),
        );
        received.push(json!({ "$ref": format!("#/channels/socket/messages/{name}") }));
    }
    let schemas = serde_json::to_value(Frames::openapi().components)
        .ok()
        .and_then(|components| components.get("schemas").cloned())
        .unwrap_or_else(|| json!({}));
    let channel_messages: Map<String, Value> = messages
        .keys()
        .map(|name| {
            (
                name.clone(),
                json!({ "$ref": format!("#/components/messages/{name}") }),
            )
        })
        .collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Agora WebSocket API",
            "version": "1.0.0",
            "description": "Chat and presence over API Gateway's WebSocket API. Connect \
                with `?token=<JWT>`; every client frame is a JSON object with an `action` \
                (and an optional `requestId`) and gets exactly one reply frame. Room \
                events and notifications arrive on their own. Frames are at most 32 KB \
                from the client and 128 KB from the server."
        },
        "servers": {
            "aws": {
                "host": "{apiId}.execute-api.{region}.amazonaws.com",
                "pathname": "/{stage}",
                "protocol": "wss",
                "variables": {
                    "apiId": {}, "region": {}, "stage": { "default": "v1" }
                }
            }
        },
        "channels": {
            "socket": {
                "address": "/",
                "messages": channel_messages
            }
        },
        "operations": {
            "sendAction": {
                "action": "send",
                "channel": { "$ref": "#/channels/socket" },
                "messages": client
            },
            "receiveFrame": {
                "action": "receive",
                "channel": { "$ref": "#/channels/socket" },
                "messages": received
            }
        },
        "components": {
            "messages": messages,
            "schemas": schemas
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_the_parser_accepts_has_its_fields_schema() {
        let missing: Vec<&str> = ACTIONS
            .iter()
            .copied()
            .filter(|action| fields_of(action).is_none())
            .collect();

        assert!(missing.is_empty(), "actions without a schema: {missing:?}");
    }
}
