//! `docs/asyncapi.json` is the WebSocket API's document the frame types generate.
//! Regenerate it with `UPDATE_ASYNCAPI=1 cargo test -p agora-shared --test asyncapi`.

use std::path::Path;

use agora::edge::ws::{ACTIONS, ClientFrame, UNKNOWN_ACTION};
use agora::{AppError, edge::asyncapi};

fn generated() -> String {
    serde_json::to_string_pretty(&asyncapi::document())
        .map(|json| json + "\n")
        .unwrap_or_else(|e| panic!("serialize the document: {e}"))
}

#[test]
fn the_committed_asyncapi_document_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/asyncapi.json");
    let generated = generated();

    if std::env::var("UPDATE_ASYNCAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();

    assert!(
        committed == generated,
        "docs/asyncapi.json differs from the document the frame types generate; regenerate \
         it: UPDATE_ASYNCAPI=1 cargo test -p agora-shared --test asyncapi"
    );
}

#[test]
fn the_parser_knows_exactly_the_documented_actions() {
    let unknown = |action: &str| {
        let frame = ClientFrame::parse(Some(&format!(r#"{{"action":"{action}"}}"#)));
        matches!(frame.parsed, Err(AppError::NotFound(ref m)) if m == UNKNOWN_ACTION)
    };

    let refused: Vec<&str> = ACTIONS.iter().copied().filter(|a| unknown(a)).collect();

    assert!(refused.is_empty(), "documented but refused: {refused:?}");
    assert!(unknown("launchRocket"));
}

#[test]
fn every_frame_has_a_message_with_a_schema() {
    let document = asyncapi::document();
    let messages = &document["components"]["messages"];
    let schemas = &document["components"]["schemas"];

    for action in ACTIONS {
        assert_eq!(
            messages[action]["payload"]["allOf"][1]["properties"]["action"]["const"],
            action
        );
    }
    for (message, schema) in [
        ("reply", "ServerFrame"),
        ("roomEvent", "RoomEvent"),
        ("notification", "NotificationFrame"),
    ] {
        assert!(messages[message].is_object(), "no message {message}");
        assert!(schemas[schema].is_object(), "no schema {schema}");
    }
    assert_eq!(document["asyncapi"], "3.0.0");
}
