//! The WebSocket API end to end: a real WebSocket client through the local stack's
//! WebSocket API into the real `ws-authorizer` and `realtime` functions, and the real
//! `aws-sdk-apigatewaymanagement` client against the `@connections` endpoint.

use std::time::Duration;

use agora_tests::{
    JWT_SECRET, TestStack, WsClient, new_user, spawn, token_for, token_overriding, token_with,
};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(stack: &TestStack, token: Option<&str>) -> anyhow::Result<Socket> {
    let base = stack.websocket_url();
    let url = match token {
        Some(token) => format!("{base}?token={token}"),
        None => base,
    };
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    Ok(socket)
}

/// The next JSON text frame, within a bounded time.
async fn next_frame(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => anyhow::bail!("unexpected frame {other:?}"),
        }
    }
}

async fn ping(socket: &mut Socket) -> anyhow::Result<Value> {
    socket
        .send(Message::text(json!({"action": "ping"}).to_string()))
        .await?;
    next_frame(socket).await
}

fn refused_with(error: anyhow::Error) -> Option<u16> {
    match error.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
        Some(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_connect_without_a_valid_token_is_refused() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");

    let missing = connect(&stack, None).await.err().and_then(refused_with);
    let forged = connect(
        &stack,
        Some(&token_with(&user, "not-the-secret-but-32-bytes-long!!", 60)),
    )
    .await
    .err()
    .and_then(refused_with);
    let expired = connect(&stack, Some(&token_with(&user, JWT_SECRET, -3600)))
        .await
        .err()
        .and_then(refused_with);
    let in_an_hour = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let not_yet = connect(
        &stack,
        Some(&token_overriding(&user, json!({"nbf": in_an_hour}))),
    )
    .await
    .err()
    .and_then(refused_with);

    assert_eq!(missing, Some(401));
    assert_eq!(forged, Some(401));
    assert_eq!(expired, Some(401));
    assert_eq!(not_yet, Some(401));
    assert!(stack.partition(&format!("USER#{user}")).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_connection_is_recorded_answers_ping_and_is_forgotten_on_close() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");

    let mut socket = connect(&stack, Some(&token_for(&user))).await?;
    let pong = ping(&mut socket).await?;

    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["userId"], user.as_str());
    let connection_id = pong["connectionId"].as_str().unwrap_or_default().to_owned();
    let records: Vec<Value> = stack
        .partition(&format!("USER#{user}"))
        .await?
        .into_iter()
        .filter(|item| item["entity"] == "Connection")
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["SK"], format!("WSCONN#{connection_id}"));
    assert!(
        records[0]["expiresAt"].as_i64().is_some(),
        "connection records expire"
    );

    socket.close(None).await?;
    stack
        .eventually("the $disconnect cleanup", || async {
            let left = stack.partition(&format!("USER#{user}")).await?;
            // What stays is the user's presence, now offline.
            let cleaned = left
                .iter()
                .all(|item| item["entity"] == "Presence" && item["status"] == "offline");
            Ok(cleaned.then_some(()))
        })
        .await?;
    assert!(
        stack
            .partition(&format!("WSCONN#{connection_id}"))
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_action_or_a_malformed_frame_gets_an_error_frame() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let mut socket = connect(&stack, Some(&token_for(&new_user("ana")))).await?;

    socket
        .send(Message::text(json!({"action": "fly"}).to_string()))
        .await?;
    let unknown = next_frame(&mut socket).await?;
    socket.send(Message::text("not json at all")).await?;
    let malformed = next_frame(&mut socket).await?;

    assert_eq!(unknown["type"], "error");
    assert_eq!(unknown["code"], "unknownAction");
    assert_eq!(unknown["action"], "fly");
    assert_eq!(malformed["type"], "error");
    assert_eq!(malformed["code"], "badFrame");
    // The connection survives both.
    assert_eq!(ping(&mut socket).await?["type"], "pong");
    Ok(())
}

#[tokio::test]
async fn the_management_api_posts_describes_and_deletes_connections() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let mut socket = connect(&stack, Some(&token_for(&new_user("ana")))).await?;
    let connection_id = ping(&mut socket).await?["connectionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let client = stack.management_client().await;

    client
        .post_to_connection()
        .connection_id(&connection_id)
        .data(Blob::new(br#"{"type":"hello"}"#.to_vec()))
        .send()
        .await?;
    let pushed = next_frame(&mut socket).await?;
    let described = client
        .get_connection()
        .connection_id(&connection_id)
        .send()
        .await?;
    client
        .delete_connection()
        .connection_id(&connection_id)
        .send()
        .await?;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if message.is_close() {
                return true;
            }
        }
        true
    })
    .await?;
    let gone = client
        .post_to_connection()
        .connection_id(&connection_id)
        .data(Blob::new(b"late".to_vec()))
        .send()
        .await
        .err()
        .and_then(|e| e.into_service_error().is_gone_exception().then_some(()));

    assert_eq!(pushed, json!({"type": "hello"}));
    assert!(described.connected_at().is_some());
    assert!(closed);
    assert!(gone.is_some(), "a closed connection answers 410 Gone");
    Ok(())
}

#[tokio::test]
async fn a_frame_sent_after_the_token_expired_gets_token_expired_and_the_socket_closes()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");
    // `exp` passed 22 s ago: the 30 s leeway honours the token for 8 s more.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = token_overriding(&user, json!({"exp": now - 22}));
    let mut socket = WsClient::connect_with_token(&stack, &token).await?;
    let pong = socket.request(json!({"action": "ping"})).await?;
    assert_eq!(pong["type"], "pong", "{pong}");

    tokio::time::sleep(Duration::from_secs(10)).await;
    socket
        .send_text(&json!({"action": "ping"}).to_string())
        .await?;
    let frames = socket.frames_until_closed(Duration::from_secs(20)).await?;

    assert_eq!(
        frames.len(),
        1,
        "no pong, only the expiry frame: {frames:?}"
    );
    assert_eq!(frames[0]["code"], "tokenExpired");
    Ok(())
}

#[tokio::test]
async fn a_user_holding_ten_sockets_is_refused_an_eleventh_until_one_closes() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let user = new_user("ana");
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(connect(&stack, Some(&token_for(&user))).await?);
    }

    let eleventh = connect(&stack, Some(&token_for(&user)))
        .await
        .err()
        .and_then(refused_with);
    let other_user = connect(&stack, Some(&token_for(&new_user("bo")))).await;
    if let Some(mut first) = open.pop() {
        first.close(None).await?;
    }
    let after_a_close = stack
        .eventually("room for one more socket", || async {
            Ok(connect(&stack, Some(&token_for(&user))).await.ok())
        })
        .await;

    assert_eq!(eleventh, Some(429));
    assert!(other_user.is_ok(), "the limit is per user");
    assert!(after_a_close.is_ok(), "a closed socket frees its place");
    Ok(())
}
