//! Stream-sharing benchmark on the local stack (not a timed test): chat send-to-receive
//! latency while a large feed fan-out runs on the same table stream. An author with
//! 2,000 connections posts one activity; during the fan-out (and once before it, on an
//! idle stream) one member of a two-person room sends chat messages at a steady rate
//! and the other measures when each arrives.
//!
//! `cargo run -p agora-tests --bin stream_bench -- [connections] [messages/s]
//! [parallelization factor | template]`; a factor replaces the fan-out function's
//! `ParallelizationFactor` in a copy of the template (to compare with 1), a path runs
//! another template (e.g. `git show <rev>:template.yaml`, with that revision's function
//! binaries in `AGORA_BINARIES_DIR`). Set
//! `AGORA_BINARIES_DIR` as for the other benchmarks (`target/debug` otherwise).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_tests::{TestStack, new_user, repo_root, spawn_with, token_for};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::{SinkExt, future};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// clientMessageId → when it was sent, and when it arrived.
#[derive(Default)]
struct Tally {
    sent: HashMap<String, Instant>,
    latencies: HashMap<String, Duration>,
    subscribed: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn connection(user: &str, other: &str, requested_by: &str, at: &str) -> Value {
    json!({
        "PK": format!("USER#{user}"), "SK": format!("CONN#{other}"), "entity": "Connection",
        "userId": user, "otherUserId": other, "requestedBy": requested_by, "createdAt": at,
    })
}

async fn client(
    stack: &TestStack,
    user: &str,
    tally: Arc<Mutex<Tally>>,
) -> anyhow::Result<SplitSink<Socket, Message>> {
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
                    let id = frame["message"]["clientMessageId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(sent) = tally.sent.get(&id).copied() {
                        tally.latencies.entry(id).or_insert(arrived - sent);
                    }
                }
                Some("ack") if frame["action"] == "subscribe" => tally.subscribed += 1,
                _ => {}
            }
        }
    });
    Ok(writer)
}

/// How many followers' feeds hold `activity`.
async fn landed(stack: &TestStack, followers: &[String], activity: &str) -> anyhow::Result<usize> {
    let client = stack.dynamodb().await;
    let table = stack.table();
    let mut landed = 0;
    for chunk in followers.chunks(100) {
        let keys = chunk
            .iter()
            .map(|f| {
                HashMap::from([
                    ("PK".to_owned(), AttributeValue::S(format!("FEED#{f}"))),
                    ("SK".to_owned(), AttributeValue::S(activity.to_owned())),
                ])
            })
            .collect();
        let mut request = Some(KeysAndAttributes::builder().set_keys(Some(keys)).build()?);
        while let Some(pending) = request.take() {
            let output = client
                .batch_get_item()
                .request_items(&table, pending)
                .send()
                .await?;
            landed += output
                .responses
                .and_then(|mut r| r.remove(&table))
                .map(|items| items.len())
                .unwrap_or(0);
            request = output.unprocessed_keys.and_then(|mut u| u.remove(&table));
        }
    }
    Ok(landed)
}

/// Sends messages at `rate`/s until `done` resolves (at least `minimum`), then waits
/// for them to arrive; returns their latencies, sorted, and how many never arrived.
async fn send_while(
    writer: &mut SplitSink<Socket, Message>,
    tally: &Arc<Mutex<Tally>>,
    room: &str,
    label: &str,
    rate: u32,
    minimum: usize,
    done: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut done = std::pin::pin!(done);
    let mut finished = false;
    let mut ids = Vec::new();
    let started = Instant::now();
    while !finished || ids.len() < minimum {
        let id = format!("{label}{}", ids.len());
        tally.lock().await.sent.insert(id.clone(), Instant::now());
        writer
            .send(Message::text(
                json!({"action": "sendMessage", "roomId": room, "text": id, "clientMessageId": id})
                    .to_string(),
            ))
            .await?;
        ids.push(id);
        let due = started + interval * ids.len() as u32;
        if finished {
            tokio::time::sleep_until(due.into()).await;
        } else {
            tokio::select! {
                result = &mut done => { result?; finished = true; }
                _ = tokio::time::sleep_until(due.into()) => {}
            }
        }
    }
    if !finished {
        done.await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let arrived = {
            let tally = tally.lock().await;
            ids.iter()
                .filter(|id| tally.latencies.contains_key(*id))
                .count()
        };
        if arrived == ids.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tally = tally.lock().await;
    let mut latencies: Vec<Duration> = ids
        .iter()
        .filter_map(|id| tally.latencies.get(id).copied())
        .collect();
    latencies.sort();
    let lost = ids.len() - latencies.len();
    Ok((latencies, lost))
}

fn report(what: &str, latencies: &[Duration], lost: usize) {
    println!(
        "chat send-to-receive {what}: n={} p50={:.0} ms p90={:.0} ms p99={:.0} ms max={:.0} ms lost={lost}",
        latencies.len(),
        percentile(latencies, 0.50).as_secs_f64() * 1e3,
        percentile(latencies, 0.90).as_secs_f64() * 1e3,
        percentile(latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let connections: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let rate: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let third = args.next();
    let factor: Option<u32> = third.as_deref().and_then(|n| n.parse().ok());
    let template = match factor {
        // Another template altogether (e.g. an older revision's, to compare with).
        None => third.map(PathBuf::from),
        Some(factor) => {
            let original = std::fs::read_to_string(repo_root().join("template.yaml"))?;
            let changed = original.replace(
                "ParallelizationFactor: 10",
                &format!("ParallelizationFactor: {factor}"),
            );
            anyhow::ensure!(changed != original || factor == 10, "no factor to replace");
            let path =
                std::env::temp_dir().join(format!("stream-bench-{}.yaml", std::process::id()));
            std::fs::write(&path, changed)?;
            Some(path)
        }
    };
    let stack = spawn_with(|options| {
        options
            .parameter_overrides
            .insert("ChatSendLimit".into(), "1000000".into());
        if let Some(path) = &template {
            // Relative paths (CodeUri, the web folder) stay the repository's.
            options.template_path.clone_from(path);
        }
    })
    .await?;
    let client_db = stack.dynamodb().await;
    let table = stack.table();

    // Arrange: the author's connections (drained through the stream first), and a room
    // of two with both members connected and subscribed.
    let author = new_user("author");
    let followers: Vec<String> = (0..connections)
        .map(|i| new_user(&format!("f{i}")))
        .collect();
    let at = agora::ids::now_rfc3339();
    let items: Vec<Value> = followers
        .iter()
        .map(|f| connection(&author, f, &author, &at))
        .collect();
    stack.put_items(&items).await?;
    let drained = Instant::now() + Duration::from_secs(600);
    loop {
        let counter = client_db
            .get_item()
            .table_name(&table)
            .key("PK", AttributeValue::S(format!("USER#{author}")))
            .key("SK", AttributeValue::S("NOTIFCOUNT".into()))
            .send()
            .await?;
        let unread = counter
            .item
            .and_then(|i| i.get("unread").and_then(|v| v.as_n().ok()).cloned())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if unread >= connections || Instant::now() > drained {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let (sender, receiver) = (new_user("sender"), new_user("receiver"));
    let prefs: Vec<Value> = [&sender, &receiver]
        .iter()
        .map(|u| json!({"PK": format!("USER#{u}"), "SK": "CHATPREFS", "allowDmsFrom": "anyone"}))
        .collect();
    stack.put_items(&prefs).await?;
    let created = stack
        .post(
            "/v1/rooms",
            &sender,
            json!({"name": "Bench", "memberIds": [receiver]}),
        )
        .await?;
    anyhow::ensure!(created.status == 201, "room failed: {created:?}");
    let room = created.body["roomId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut writer = client(&stack, &sender, tally.clone()).await?;
    let mut listener = client(&stack, &receiver, tally.clone()).await?;
    listener
        .send(Message::text(
            json!({"action": "subscribe", "roomId": room}).to_string(),
        ))
        .await?;
    let by = Instant::now() + Duration::from_secs(30);
    while tally.lock().await.subscribed < 1 {
        anyhow::ensure!(Instant::now() < by, "subscribing timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Idle stream: chat alone.
    let (idle, idle_lost) = send_while(
        &mut writer,
        &tally,
        &room,
        "idle",
        rate,
        rate as usize * 6,
        future::ready(Ok(())),
    )
    .await?;
    report("on an idle stream", &idle, idle_lost);

    // Act: one activity to every connection, chat messages all along the fan-out.
    let started = Instant::now();
    let reply = stack
        .post(
            "/v1/activities",
            &author,
            json!({"verb": "badgeEarned", "visibility": "connections",
                   "object": {"badgeId": "bench", "name": "Benchmark"}}),
        )
        .await?;
    anyhow::ensure!(reply.status == 201, "post failed: {reply:?}");
    let activity = reply.body["activityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fan_out = std::cell::Cell::new(Duration::ZERO);
    let fanned_out = async {
        let deadline = started + Duration::from_secs(600);
        loop {
            let count = landed(&stack, &followers, &activity).await?;
            if count == connections {
                fan_out.set(started.elapsed());
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "only {count} feeds after 600 s");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let (busy, busy_lost) = send_while(
        &mut writer,
        &tally,
        &room,
        "busy",
        rate,
        rate as usize * 2,
        fanned_out,
    )
    .await?;
    report("during the fan-out", &busy, busy_lost);
    println!(
        "fan-out: one activity reached {connections} connections' feeds in {:.2} s (chat sent at {rate}/s throughout)",
        fan_out.get().as_secs_f64()
    );
    Ok(())
}
