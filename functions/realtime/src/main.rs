//! The WebSocket API's routes: `$connect` records the connection, `$disconnect` forgets
//! it, `ping` answers with a pong frame through the `@connections` API, and `$default`
//! answers an unknown action with an error frame.

use std::sync::Arc;

use agora::ids::{UserId, now_rfc3339};
use agora::realtime::{self, ServerFrame};
use agora::store::Store;
use agora::{AppError, AppResult, config, telemetry};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};

struct State {
    store: Store,
    connections: aws_sdk_apigatewaymanagement::Client,
}

/// The parts of an API Gateway WebSocket event this function reads. The authorizer
/// context is flat (`principalId`, `userId`, ...), unlike the HTTP API's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebSocketEvent {
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

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let aws = aws_config::load_from_env().await;
    let state = Arc::new(State {
        store: Store::from_sdk_config(&aws, table),
        // The endpoint comes from AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI, set by the
        // template in AWS and by the local stack here.
        connections: aws_sdk_apigatewaymanagement::Client::new(&aws),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WebSocketEvent>| {
        let state = state.clone();
        async move {
            let status = match route(&state, event.payload).await {
                Ok(()) => 200,
                Err(error) => {
                    tracing::error!(%error, "websocket route failed");
                    error.status()
                }
            };
            Ok::<_, Error>(json!({ "statusCode": status }))
        }
    }))
    .await
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

async fn route(state: &State, event: WebSocketEvent) -> AppResult<()> {
    let context = &event.request_context;
    match context.route_key.as_str() {
        "$connect" => {
            let user = user_of(context)?;
            realtime::record_connection(&state.store, &user, &context.connection_id).await
        }
        "$disconnect" => realtime::remove_connection(&state.store, &context.connection_id).await,
        "ping" => {
            let frame = ServerFrame::Pong {
                connection_id: context.connection_id.clone(),
                user_id: user_of(context)?,
                server_time: now_rfc3339(),
            };
            send(state, &context.connection_id, &frame).await
        }
        _ => {
            let action = event
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
            let frame = ServerFrame::Error {
                code: if action.is_some() {
                    "unknownAction"
                } else {
                    "badFrame"
                }
                .into(),
                message: "frames are JSON objects with a known \"action\"".into(),
                action,
            };
            send(state, &context.connection_id, &frame).await
        }
    }
}

/// Posts a frame to one connection; a connection that is gone (410) is forgotten.
async fn send(state: &State, connection_id: &str, frame: &ServerFrame) -> AppResult<()> {
    let data = serde_json::to_vec(frame).map_err(AppError::internal)?;
    let result = state
        .connections
        .post_to_connection()
        .connection_id(connection_id)
        .data(Blob::new(data))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_gone_exception()) =>
        {
            realtime::remove_connection(&state.store, connection_id).await
        }
        Err(error) => Err(AppError::internal(
            aws_sdk_apigatewaymanagement::error::DisplayErrorContext(error),
        )),
    }
}
