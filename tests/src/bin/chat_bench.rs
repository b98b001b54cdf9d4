//! Chat load benchmark on the local stack (not a timed test): one room of 200 connected
//! clients and 20 rooms of 10, 5,000 messages in all sent over the WebSocket API.
//! Reports send-to-receive latency (p50/p99/max over every delivery), messages lost,
//! duplicates received, messages received out of id order, and `@connections` calls
//! per message.
//!
//! `cargo run -p agora-tests --bin chat_bench -- [messages] [rate/s] [big room]
//! [small rooms] [small room size]`; set `AGORA_BINARIES_DIR` to a folder of optimized
//! function binaries (`cargo build --profile local-opt --bins`, see the README),
//! otherwise `target/debug` is used. The figures of the last run are in `docs/chat.md`.
//!
//! Channel mode, `chat_bench channel [messages] [rate/s] [members] [connected]`: one
//! community of `members` (default 10,000; written straight into the table, beyond the
//! `connected` ones who join through the API), a channel, and `connected` (default 500)
//! of them connected and subscribed to it; every message goes to the channel. Its
//! figures are in `docs/communities.md`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_tests::{TestStack, new_user, spawn_with, token_for};
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Writer = Arc<Mutex<SplitSink<Socket, Message>>>;

/// What the receivers saw.
#[derive(Default)]
struct Tally {
    /// clientMessageId → when it was sent and to how many subscribers.
    sent: HashMap<String, (Instant, usize)>,
    /// (client, messageId) pairs received, to spot duplicates.
    received: HashSet<(usize, String)>,
    /// The last message id each client received per room, to spot reordering.
    last_seen: HashMap<(usize, String), String>,
    /// Messages that arrived after a message with a greater id of the same room.
    out_of_order: usize,
    latencies: Vec<Duration>,
    /// Send to the sender's ack (stored, pushed to the room, then acked).
    ack_latencies: Vec<Duration>,
    duplicates: usize,
    acks: usize,
    errors: Vec<Value>,
    subscribed: usize,
}

/// Execution environments per function (Lambda's default account limit is 1,000).
const CONCURRENCY: usize = 24;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn allow_anyone(stack: &TestStack, users: &[String]) -> anyhow::Result<()> {
    let items: Vec<Value> = users
        .iter()
        .map(|user| json!({"PK": format!("USER#{user}"), "SK": "CHATPREFS", "allowDmsFrom": "anyone"}))
        .collect();
    stack.put_items(&items).await
}

/// A group with `members[0]` as its creator and 48 others, then 49 more per request (the
/// most one transaction holds).
async fn room_of(stack: &TestStack, name: &str, members: &[String]) -> anyhow::Result<String> {
    let first: Vec<&String> = members.iter().skip(1).take(48).collect();
    let created = stack
        .post(
            "/v1/rooms",
            &members[0],
            json!({"name": name, "memberIds": first}),
        )
        .await?;
    anyhow::ensure!(created.status == 201, "room failed: {created:?}");
    let room = created.body["roomId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for chunk in members[49.min(members.len())..].chunks(49) {
        let added = stack
            .post(
                &format!("/v1/rooms/{room}/members"),
                &members[0],
                json!({"userIds": chunk}),
            )
            .await?;
        anyhow::ensure!(added.status == 200, "adding members failed: {added:?}");
    }
    Ok(room)
}

/// Connects one client; its reader task records every message event and reply.
async fn client(
    stack: &TestStack,
    index: usize,
    user: &str,
    tally: Arc<Mutex<Tally>>,
) -> anyhow::Result<Writer> {
    let url = format!("{}?token={}", stack.websocket_url(), token_for(user));
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    let (writer, mut reader) = socket.split();
    tokio::spawn(async move {
        while let Some(Ok(message)) = reader.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let arrived = Instant::now();
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let mut tally = tally.lock().await;
            match frame["type"].as_str() {
                Some("message") => {
                    let id = frame["message"]["messageId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let client_id = frame["message"]["clientMessageId"]
                        .as_str()
                        .unwrap_or_default();
                    let sent = tally.sent.get(client_id).map(|(at, _)| *at);
                    let room = frame["roomId"].as_str().unwrap_or_default().to_owned();
                    if let Some(previous) = tally.last_seen.insert((index, room), id.clone())
                        && previous > id
                    {
                        tally.out_of_order += 1;
                    }
                    if !tally.received.insert((index, id)) {
                        tally.duplicates += 1;
                    } else if let Some(sent) = sent {
                        tally.latencies.push(arrived - sent);
                    }
                }
                Some("ack") if frame["action"] == "sendMessage" => {
                    tally.acks += 1;
                    let client_id = frame["clientMessageId"].as_str().unwrap_or_default();
                    if let Some((sent, _)) = tally.sent.get(client_id).copied() {
                        tally.ack_latencies.push(arrived - sent);
                    }
                }
                Some("ack") if frame["action"] == "subscribe" => tally.subscribed += 1,
                Some("error") => tally.errors.push(frame),
                _ => {}
            }
        }
    });
    Ok(Arc::new(Mutex::new(writer)))
}

async fn send(writer: &Writer, frame: Value) -> anyhow::Result<()> {
    writer
        .lock()
        .await
        .send(Message::text(frame.to_string()))
        .await?;
    Ok(())
}

/// A public community of `connected` users who join through the API and `silent` more
/// members written straight into the table, and a channel its owner (the first
/// connected user) made: returns the channel's room id.
async fn channel_of(
    stack: &TestStack,
    connected: &[String],
    silent: usize,
) -> anyhow::Result<String> {
    let owner = &connected[0];
    let community = stack
        .post_created(
            "/v1/communities",
            owner,
            json!({"name": "Bench circle", "slug": agora_tests::unique_slug("bench"), "kind": "public"}),
        )
        .await?;
    let community = agora_tests::id_of(&community);
    for user in &connected[1..] {
        let joined = stack
            .post(
                &format!("/v1/communities/{community}/join"),
                user,
                json!({}),
            )
            .await?;
        anyhow::ensure!(joined.status == 201, "join failed: {joined:?}");
    }
    let members: Vec<String> = (0..silent).map(|i| new_user(&format!("m{i}"))).collect();
    stack.add_members_directly(&community, &members).await?;
    let channel = stack
        .post_created(
            &format!("/v1/communities/{community}/channels"),
            owner,
            json!({"name": "general"}),
        )
        .await?;
    Ok(channel["roomId"].as_str().unwrap_or_default().to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let channel_mode = args.peek().is_some_and(|first| first == "channel");
    if channel_mode {
        args.next();
    }
    let mut next =
        |default: usize| -> usize { args.next().and_then(|n| n.parse().ok()).unwrap_or(default) };
    let messages = next(5000);
    let rate = next(40).max(1);
    // In channel mode: the community's members and the connected ones among them.
    let (big_size, small_rooms, small_size, members) = if channel_mode {
        let members = next(10_000);
        let connected = next(500).min(members);
        (connected, 0, 0, members)
    } else {
        (next(200), next(20), next(10), 0)
    };

    let stack = spawn_with(|options| {
        // The benchmark measures delivery, not the per-user send limit.
        options
            .parameter_overrides
            .insert("ChatSendLimit".into(), "1000000".into());
        // Lambda runs as many environments as there are messages in flight; the local
        // stack's default of 4 per function would queue sends that now push to their
        // room before they return.
        options.max_concurrency_per_function = CONCURRENCY;
    })
    .await?;
    let tally = Arc::new(Mutex::new(Tally::default()));

    // Arrange: users who accept anyone, the rooms, every client connected, then
    // subscribed (so connects announce presence to nobody yet).
    let big: Vec<String> = (0..big_size).map(|i| new_user(&format!("b{i}"))).collect();
    let smalls: Vec<Vec<String>> = (0..small_rooms)
        .map(|r| {
            (0..small_size)
                .map(|i| new_user(&format!("s{r}x{i}")))
                .collect()
        })
        .collect();
    let everyone: Vec<String> = big.iter().chain(smalls.iter().flatten()).cloned().collect();
    allow_anyone(&stack, &everyone).await?;
    let mut rooms: Vec<(String, Vec<usize>)> = Vec::new();
    let big_room = if channel_mode {
        channel_of(&stack, &big, members - big_size).await?
    } else {
        room_of(&stack, "Big room", &big).await?
    };
    rooms.push((big_room, (0..big_size).collect()));
    for (r, members) in smalls.iter().enumerate() {
        let offset = big_size + r * small_size;
        rooms.push((
            room_of(&stack, &format!("Room {r}"), members).await?,
            (offset..offset + small_size).collect(),
        ));
    }
    let mut writers = Vec::with_capacity(everyone.len());
    for (index, user) in everyone.iter().enumerate() {
        writers.push(client(&stack, index, user, tally.clone()).await?);
    }
    for (room, members) in &rooms {
        for &member in members {
            send(
                &writers[member],
                json!({"action": "subscribe", "roomId": room}),
            )
            .await?;
        }
    }
    let subscribed_by = Instant::now() + Duration::from_secs(120);
    while tally.lock().await.subscribed < everyone.len() {
        anyhow::ensure!(Instant::now() < subscribed_by, "subscriptions timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let presence and join events drain before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts_before = stack.stack.connection_posts();
    let calls_before = stack.stack.aws_calls();

    // Act: one message in five goes to the big room, the rest round the small ones.
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut expected = 0usize;
    for i in 0..messages {
        let (room, members) = if i % 5 == 0 || small_rooms == 0 {
            &rooms[0]
        } else {
            &rooms[1 + (i % small_rooms.max(1))]
        };
        let sender = if small_rooms == 0 {
            members[i % members.len()]
        } else {
            members[(i / 5) % members.len()]
        };
        let client_id = format!("m{i}");
        expected += members.len();
        tally
            .lock()
            .await
            .sent
            .insert(client_id.clone(), (Instant::now(), members.len()));
        send(
            &writers[sender],
            json!({"action": "sendMessage", "roomId": room, "text": format!("message {i}"), "clientMessageId": client_id}),
        )
        .await?;
        let due = started + interval * (i as u32 + 1);
        tokio::time::sleep_until(due.into()).await;
    }
    let sending = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let received = tally.lock().await.received.len();
        if received >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A little longer, to catch late duplicates.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elapsed = started.elapsed();
    let posts = stack.stack.connection_posts() - posts_before;
    let calls_after = stack.stack.aws_calls();

    let mut tally = tally.lock().await;
    tally.latencies.sort();
    tally.ack_latencies.sort();
    let received = tally.received.len();
    if channel_mode {
        println!(
            "channel mode: a community of {members} members, {big_size} of them connected and subscribed to its channel"
        );
    }
    println!(
        "clients: {} ({} in one room, {small_rooms} rooms of {small_size}); messages: {messages} sent at {rate}/s over {:.1} s; all delivered after {:.1} s",
        everyone.len(),
        big_size,
        sending.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "acks: {}; error frames: {}; deliveries expected: {expected}, received: {received}, lost: {}, duplicates: {}, out of order: {}",
        tally.acks,
        tally.errors.len(),
        expected.saturating_sub(received),
        tally.duplicates,
        tally.out_of_order
    );
    println!(
        "send-to-receive latency over {} deliveries: p50={:.1} ms p99={:.1} ms max={:.1} ms",
        tally.latencies.len(),
        percentile(&tally.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&tally.latencies, 0.99).as_secs_f64() * 1e3,
        tally
            .latencies
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    );
    println!(
        "send-to-ack latency over {} acks: p50={:.1} ms p99={:.1} ms",
        tally.ack_latencies.len(),
        percentile(&tally.ack_latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&tally.ack_latencies, 0.99).as_secs_f64() * 1e3,
    );
    println!(
        "@connections calls: {posts} ({:.2} per message, {:.3} per delivery; acks included)",
        posts as f64 / messages.max(1) as f64,
        posts as f64 / expected.max(1) as f64
    );
    if let Some(first) = tally.errors.first() {
        println!("first error frame: {first}");
    }
    // What each message cost the table (moto serves every one of these calls).
    println!("DynamoDB calls per message sent, by function:");
    for ((function, call), after) in &calls_after {
        let grown = after
            - calls_before
                .get(&(function.clone(), call.clone()))
                .copied()
                .unwrap_or(0);
        if grown > 0 && call.starts_with("dynamodb:") {
            println!(
                "  {function:<24} {call:<30} {:>8.2}",
                grown as f64 / messages.max(1) as f64
            );
        }
    }
    Ok(())
}
