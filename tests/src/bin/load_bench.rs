//! Mixed-workload benchmark on the local stack (a report, not a timed test): N simulated
//! users, each with a profile, ten connections, a chat room of ten and an open
//! WebSocket, browse, post, react, chat and read notifications at the ratios of
//! [`MIX`] for a fixed time, each waiting a random think time between actions. It
//! prints, per endpoint, the calls, failures, p50/p99 latency and the DynamoDB requests
//! the answering function made (`x-agora-dynamodb-requests`); then throughput, the
//! chat's send-to-receive latency, and every AWS call the stack's functions made during
//! the run (the synchronous ones and the stream and queue work the actions caused), as
//! counted by the local stack's IAM proxy, per user action.
//!
//! `cargo run -p agora-tests --bin load_bench -- [users] [seconds] [think ms]` (default
//! 50 users, 60 s, 1,000 ms mean think time). Set `AGORA_BINARIES_DIR` to optimized
//! binaries (`cargo build --profile local-opt --bins`, then
//! `AGORA_BINARIES_DIR=target/local-opt`), otherwise `target/debug` is used. The limits
//! are the template's defaults: a simulated user who writes too fast gets the same 429
//! a real one would, and it is counted as a failure. The figures of the last run are in
//! `docs/capacity.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_tests::{TestStack, new_user, spawn_with, token_for, token_with_roles};
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::{SinkExt, future};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Writer = Arc<Mutex<SplitSink<Socket, Message>>>;

/// One user action of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Action {
    HomeFeed,
    Timeline,
    TopicList,
    TopicPage,
    Replies,
    Profile,
    Notifications,
    UnreadCount,
    Inbox,
    RoomHistory,
    Connections,
    Like,
    Comment,
    PostActivity,
    Reply,
    React,
    ReadAllNotifications,
    SendChatMessage,
}

/// The mix, in actions per hundred: reads dominate, as in any social product (the
/// 90-9-1 rule of participation); chat is the most frequent write.
const MIX: [(Action, u32); 18] = [
    (Action::HomeFeed, 20),
    (Action::Timeline, 4),
    (Action::TopicList, 4),
    (Action::TopicPage, 8),
    (Action::Replies, 6),
    (Action::Profile, 8),
    (Action::Notifications, 8),
    (Action::UnreadCount, 6),
    (Action::Inbox, 4),
    (Action::RoomHistory, 5),
    (Action::Connections, 2),
    (Action::Like, 6),
    (Action::Comment, 2),
    (Action::PostActivity, 2),
    (Action::Reply, 2),
    (Action::React, 3),
    (Action::ReadAllNotifications, 2),
    (Action::SendChatMessage, 8),
];

impl Action {
    fn label(self) -> &'static str {
        match self {
            Action::HomeFeed => "GET /v1/feed",
            Action::Timeline => "GET /v1/timeline",
            Action::TopicList => "GET /v1/topics",
            Action::TopicPage => "GET /v1/topics/{id}",
            Action::Replies => "GET /v1/topics/{id}/replies",
            Action::Profile => "GET /v1/profiles/{id}",
            Action::Notifications => "GET /v1/notifications",
            Action::UnreadCount => "GET /v1/notifications/unread-count",
            Action::Inbox => "GET /v1/rooms",
            Action::RoomHistory => "GET /v1/rooms/{id}/messages",
            Action::Connections => "GET /v1/connections",
            Action::Like => "PUT /v1/activities/{id}/like",
            Action::Comment => "POST /v1/activities/{id}/comments",
            Action::PostActivity => "POST /v1/activities",
            Action::Reply => "POST /v1/topics/{id}/replies",
            Action::React => "PUT /v1/topics/{id}/reactions/{id}",
            Action::ReadAllNotifications => "POST /v1/notifications/read-all",
            Action::SendChatMessage => "WS sendMessage (to ack)",
        }
    }
}

/// Connections per user (each user is connected to the next and previous halves).
const CONNECTIONS: usize = 10;
/// Members per chat room.
const ROOM_SIZE: usize = 10;
/// Topics to browse and reply to.
const TOPICS: usize = 10;
/// Execution environments per function (the local stack's default is 4).
const CONCURRENCY: usize = 16;

/// A small deterministic generator (xorshift64*): the bench needs spread, not secrecy.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn action(&mut self) -> Action {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut roll = (self.next() % u64::from(total)) as u32;
        for (action, weight) in MIX {
            if roll < weight {
                return action;
            }
            roll -= weight;
        }
        MIX[0].0
    }

    /// A think time with mean `mean` (uniform over 0..2×mean).
    fn think(&mut self, mean: Duration) -> Duration {
        let millis = mean.as_millis() as u64;
        Duration::from_millis(self.next() % (2 * millis).max(1))
    }
}

/// What one endpoint did during the run.
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    failures: usize,
    first_failure: Option<String>,
    dynamodb_requests: u64,
    counted: u64,
}

/// The run's shared state: the ids the users act on and what they measured.
#[derive(Default)]
struct Run {
    activities: Vec<String>,
    stats: HashMap<Action, Stats>,
    /// clientMessageId → when it was sent.
    sent: HashMap<String, Instant>,
    /// clientMessageId → the sender's ack arrived.
    acked: HashMap<String, Instant>,
    deliveries: Vec<Duration>,
}

struct World {
    users: Vec<String>,
    rooms: Vec<String>,
    topics: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn call(
    stack: &TestStack,
    method: Method,
    path: &str,
    user: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Option<u64>, Value)> {
    let mut request = stack
        .http
        .request(method, stack.url(path))
        .bearer_auth(token_for(user));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let requests = agora_tests::dynamodb_requests_of(&response);
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, requests, body))
}

async fn arrange_call(
    stack: &TestStack,
    method: Method,
    path: &str,
    user: &str,
    body: Value,
    want: u16,
) -> anyhow::Result<Value> {
    let (status, _, reply) = call(stack, method, path, user, Some(body)).await?;
    anyhow::ensure!(status == want, "{path} answered {status}: {reply}");
    Ok(reply)
}

/// Profiles, connections (written as items), chat preferences, rooms, topics and one
/// activity per user.
async fn arrange(stack: &TestStack, n: usize) -> anyhow::Result<World> {
    let users: Vec<String> = (0..n).map(|i| new_user(&format!("load{i}"))).collect();
    for (c, chunk) in users.chunks(8).enumerate() {
        future::try_join_all(chunk.iter().enumerate().map(|(i, user)| {
            // Plain words only: a random name can trip the text check and hide the profile.
            let number = c * 8 + i;
            arrange_call(
                stack,
                Method::POST,
                "/v1/profiles",
                user,
                json!({"handle": format!("learner{number}x{}", &user[user.len() - 6..].to_lowercase()),
                       "displayName": format!("Learner {number}"),
                       "occupation": "Learner", "privacy": {"profileVisibility": "public"}}),
                201,
            )
        }))
        .await?;
    }
    let at = agora::ids::now_rfc3339();
    let mut items = Vec::new();
    for (i, user) in users.iter().enumerate() {
        for step in 1..=CONNECTIONS / 2 {
            let other = &users[(i + step) % n];
            if other != user {
                items.push(agora_tests::connection_item(user, other, user, &at));
                items.push(agora_tests::connection_item(other, user, user, &at));
            }
        }
        items.push(
            json!({"PK": format!("USER#{user}"), "SK": "CHATPREFS", "allowDmsFrom": "anyone"}),
        );
    }
    stack.put_items(&items).await?;
    let mut rooms = Vec::new();
    for members in users.chunks(ROOM_SIZE).filter(|m| m.len() > 1) {
        let room = arrange_call(
            stack,
            Method::POST,
            "/v1/rooms",
            &members[0],
            json!({"name": format!("Study group {}", rooms.len()), "memberIds": &members[1..]}),
            201,
        )
        .await?;
        rooms.push(room["roomId"].as_str().unwrap_or_default().to_owned());
    }
    let admin = new_user("loadadmin");
    let category = stack
        .http
        .post(stack.url("/v1/categories"))
        .bearer_auth(token_with_roles(&admin, &["admin"]))
        .json(&json!({"id": "load", "name": "Load"}))
        .send()
        .await?;
    anyhow::ensure!(
        category.status().as_u16() == 201,
        "category: {}",
        category.status()
    );
    let mut topics = Vec::new();
    for i in 0..TOPICS {
        let topic = arrange_call(
            stack,
            Method::POST,
            "/v1/topics",
            &users[i % n],
            json!({"title": format!("How do you study topic {i}?"), "body": "Tips welcome.",
                   "categoryId": "load"}),
            201,
        )
        .await?;
        topics.push(topic["topicId"].as_str().unwrap_or_default().to_owned());
    }
    Ok(World {
        users,
        rooms,
        topics,
    })
}

fn room_of(world: &World, user_index: usize) -> Option<&String> {
    world.rooms.get(user_index / ROOM_SIZE)
}

/// Connects `user`, subscribes to its room, and records acks and deliveries.
async fn socket(
    stack: &TestStack,
    user: &str,
    room: Option<&String>,
    run: Arc<Mutex<Run>>,
) -> anyhow::Result<Writer> {
    let url = format!("{}?token={}", stack.websocket_url(), token_for(user));
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    let (writer, mut reader) = socket.split();
    let writer = Arc::new(Mutex::new(writer));
    tokio::spawn(async move {
        while let Some(Ok(message)) = reader.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let arrived = Instant::now();
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let mut run = run.lock().await;
            match frame["type"].as_str() {
                Some("message") => {
                    let client_id = frame["message"]["clientMessageId"]
                        .as_str()
                        .unwrap_or_default();
                    if let Some(sent) = run.sent.get(client_id).copied() {
                        run.deliveries.push(arrived - sent);
                    }
                }
                Some("ack") if frame["action"] == "sendMessage" => {
                    let client_id = frame["clientMessageId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    run.acked.insert(client_id, arrived);
                }
                _ => {}
            }
        }
    });
    if let Some(room) = room {
        writer
            .lock()
            .await
            .send(Message::text(
                json!({"action": "subscribe", "roomId": room}).to_string(),
            ))
            .await?;
    }
    Ok(writer)
}

/// One simulated user: actions of the mix until `until`.
#[allow(clippy::too_many_arguments)]
async fn user_loop(
    stack: Arc<TestStack>,
    world: Arc<World>,
    index: usize,
    writer: Writer,
    run: Arc<Mutex<Run>>,
    think: Duration,
    until: Instant,
) {
    let mut dice = Dice::new(index as u64 + 1);
    let user = world.users[index].clone();
    let mut sent = 0usize;
    // Spread the users' first actions over one think time.
    tokio::time::sleep(dice.think(think / 2)).await;
    while Instant::now() < until {
        let action = dice.action();
        let topic = world.topics[dice.below(world.topics.len())].clone();
        let other = world.users[dice.below(world.users.len())].clone();
        let activity = {
            let run = run.lock().await;
            (!run.activities.is_empty())
                .then(|| run.activities[dice.below(run.activities.len())].clone())
        };
        let room = room_of(&world, index).cloned();
        let started = Instant::now();
        let outcome: anyhow::Result<(u16, Option<u64>, Value)> = match action {
            Action::HomeFeed => call(&stack, Method::GET, "/v1/feed?limit=20", &user, None).await,
            Action::Timeline => {
                call(&stack, Method::GET, "/v1/timeline?limit=20", &user, None).await
            }
            Action::TopicList => {
                call(
                    &stack,
                    Method::GET,
                    "/v1/topics?category=load&limit=20",
                    &user,
                    None,
                )
                .await
            }
            Action::TopicPage => {
                call(
                    &stack,
                    Method::GET,
                    &format!("/v1/topics/{topic}"),
                    &user,
                    None,
                )
                .await
            }
            Action::Replies => {
                let path = format!("/v1/topics/{topic}/replies?limit=20");
                call(&stack, Method::GET, &path, &user, None).await
            }
            Action::Profile => {
                call(
                    &stack,
                    Method::GET,
                    &format!("/v1/profiles/{other}"),
                    &user,
                    None,
                )
                .await
            }
            Action::Notifications => {
                call(
                    &stack,
                    Method::GET,
                    "/v1/notifications?limit=20",
                    &user,
                    None,
                )
                .await
            }
            Action::UnreadCount => {
                let path = "/v1/notifications/unread-count";
                call(&stack, Method::GET, path, &user, None).await
            }
            Action::Inbox => call(&stack, Method::GET, "/v1/rooms?limit=20", &user, None).await,
            Action::RoomHistory => match &room {
                Some(room) => {
                    let path = format!("/v1/rooms/{room}/messages?limit=50");
                    call(&stack, Method::GET, &path, &user, None).await
                }
                None => continue,
            },
            Action::Connections => {
                call(&stack, Method::GET, "/v1/connections?limit=20", &user, None).await
            }
            Action::Like => match &activity {
                Some(id) => {
                    let path = format!("/v1/activities/{id}/like");
                    call(&stack, Method::PUT, &path, &user, None).await
                }
                None => continue,
            },
            Action::Comment => match &activity {
                Some(id) => {
                    let path = format!("/v1/activities/{id}/comments");
                    let body = json!({"text": "Nice work, keep going!"});
                    call(&stack, Method::POST, &path, &user, Some(body)).await
                }
                None => continue,
            },
            Action::PostActivity => {
                let body = json!({
                    "verb": "lessonCompleted", "visibility": "public",
                    "text": "Another lesson done.",
                    "object": {"lessonId": "rust-101-07", "title": "Lifetimes", "courseTitle": "Rust 101"}
                });
                let outcome = call(&stack, Method::POST, "/v1/activities", &user, Some(body)).await;
                if let Ok((201, _, body)) = &outcome
                    && let Some(id) = body["activityId"].as_str()
                {
                    run.lock().await.activities.push(id.to_owned());
                }
                outcome
            }
            Action::Reply => {
                let path = format!("/v1/topics/{topic}/replies");
                let body = json!({"body": "I keep a spaced-repetition deck for it."});
                call(&stack, Method::POST, &path, &user, Some(body)).await
            }
            Action::React => {
                let path = format!("/v1/topics/{topic}/reactions/{topic}");
                let body = json!({"reaction": "like"});
                call(&stack, Method::PUT, &path, &user, Some(body)).await
            }
            Action::ReadAllNotifications => {
                let path = "/v1/notifications/read-all";
                call(&stack, Method::POST, path, &user, Some(json!({}))).await
            }
            Action::SendChatMessage => match &room {
                Some(room) => {
                    sent += 1;
                    let client_id = format!("u{index}m{sent}");
                    run.lock().await.sent.insert(client_id.clone(), started);
                    let frame = json!({"action": "sendMessage", "roomId": room,
                                       "text": format!("message {sent}"), "clientMessageId": client_id});
                    let written = writer
                        .lock()
                        .await
                        .send(Message::text(frame.to_string()))
                        .await;
                    match written {
                        Ok(()) => wait_for_ack(&run, &client_id).await,
                        Err(error) => Err(error.into()),
                    }
                }
                None => continue,
            },
        };
        let elapsed = started.elapsed();
        let mut run = run.lock().await;
        let stats = run.stats.entry(action).or_default();
        match outcome {
            Ok((status, requests, _)) if status < 400 => {
                stats.latencies.push(elapsed);
                if let Some(requests) = requests {
                    stats.dynamodb_requests += requests;
                    stats.counted += 1;
                }
            }
            Ok((status, _, body)) => {
                stats.failures += 1;
                stats
                    .first_failure
                    .get_or_insert_with(|| format!("{status} {body}"));
            }
            Err(error) => {
                stats.failures += 1;
                stats.first_failure.get_or_insert_with(|| error.to_string());
            }
        }
        drop(run);
        tokio::time::sleep(dice.think(think)).await;
    }
}

/// Waits up to 10 s for the sender's ack of `client_id`.
async fn wait_for_ack(
    run: &Arc<Mutex<Run>>,
    client_id: &str,
) -> anyhow::Result<(u16, Option<u64>, Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if run.lock().await.acked.contains_key(client_id) {
            return Ok((200, None, Value::Null));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    anyhow::bail!("no ack within 10 s")
}

/// The functions' log files of this stack and how long each is now.
fn log_sizes(dir: &std::path::Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let function = name.strip_suffix(".log")?.to_owned();
                    Some((function, entry.metadata().ok()?.len()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Invocations, summed duration (ms) and memory (MB) per function, from the `REPORT`
/// lines the local stack wrote after `from` (as Lambda writes them).
fn reports_since(
    dir: &std::path::Path,
    from: &BTreeMap<String, u64>,
) -> BTreeMap<String, (u64, f64, f64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut out = BTreeMap::new();
    for function in log_sizes(dir).keys() {
        let Ok(mut file) = std::fs::File::open(dir.join(format!("{function}.log"))) else {
            continue;
        };
        let start = from.get(function).copied().unwrap_or(0);
        let mut text = String::new();
        if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_string(&mut text).is_err() {
            continue;
        }
        let field = |line: &str, name: &str| -> Option<f64> {
            let rest = &line[line.find(name)? + name.len()..];
            rest.split_whitespace().next()?.parse().ok()
        };
        for line in text.lines().filter(|l| l.starts_with("REPORT RequestId:")) {
            let entry: &mut (u64, f64, f64) = out.entry(function.clone()).or_default();
            entry.0 += 1;
            entry.1 += field(line, "Duration:").unwrap_or(0.0);
            entry.2 = field(line, "Memory Size:").unwrap_or(entry.2);
        }
    }
    out
}

/// Which functions answer users directly; the others work the stream and the queues.
fn is_synchronous(function: &str) -> bool {
    !matches!(
        function,
        "StreamFanoutFunction"
            | "NotifierFunction"
            | "FeedWorkerFunction"
            | "TopicViewsFunction"
            | "ModerationWorkerFunction"
            | "AccountJobsFunction"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut next =
        |default: u64| -> u64 { args.next().and_then(|n| n.parse().ok()).unwrap_or(default) };
    let n = next(50).max(2) as usize;
    let seconds = next(60).max(1);
    let think = Duration::from_millis(next(1000).max(1));

    let stack = spawn_with(|options| {
        options
            .environment_overrides
            .insert("AGORA_EXPOSE_REQUEST_COUNTS".into(), "1".into());
        options.max_concurrency_per_function = CONCURRENCY;
    })
    .await?;
    eprintln!("arranging {n} users…");
    let world = arrange(&stack, n).await?;
    let run = Arc::new(Mutex::new(Run::default()));
    // One activity per user, so feeds and likes have something to act on.
    for chunk in world.users.chunks(8) {
        let posted = future::try_join_all(chunk.iter().map(|user| {
            arrange_call(
                &stack,
                Method::POST,
                "/v1/activities",
                user,
                json!({"verb": "goalShared", "visibility": "public", "text": "Learning Rust this month",
                       "object": {"goal": "Finish Rust 101", "targetDate": "2026-12-31"}}),
                201,
            )
        }))
        .await?;
        let mut run = run.lock().await;
        run.activities.extend(
            posted
                .iter()
                .filter_map(|a| a["activityId"].as_str().map(str::to_owned)),
        );
    }
    let mut writers = Vec::with_capacity(n);
    for (index, user) in world.users.iter().enumerate() {
        writers.push(socket(&stack, user, room_of(&world, index), run.clone()).await?);
    }
    // Let the arranging writes' stream work and the subscriptions settle.
    tokio::time::sleep(Duration::from_secs(10)).await;

    let stack = Arc::new(stack);
    let world = Arc::new(world);
    let log_dir = agora_tests::repo_root()
        .join("target/test-logs")
        .join(stack.stack.stack_name());
    let logs_before = log_sizes(&log_dir);
    let calls_before = stack.stack.aws_calls();
    let posts_before = stack.stack.connection_posts();
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(index, writer)| {
            tokio::spawn(user_loop(
                stack.clone(),
                world.clone(),
                index,
                writer,
                run.clone(),
                think,
                until,
            ))
        })
        .collect();
    future::join_all(tasks).await;
    let acting = started.elapsed();
    // The stream and queue work the last actions caused.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let calls_after = stack.stack.aws_calls();
    let reports = reports_since(&log_dir, &logs_before);
    let posts = stack.stack.connection_posts() - posts_before;

    let mut run = run.lock().await;
    let mut deliveries = std::mem::take(&mut run.deliveries);
    let mut rows: Vec<(Action, &mut Stats)> = run.stats.iter_mut().map(|(a, s)| (*a, s)).collect();
    rows.sort_by_key(|(action, _)| *action);
    let mut actions = 0usize;
    println!(
        "{n} users, {seconds} s, mean think time {} ms, {CONCURRENCY} environments per function",
        think.as_millis()
    );
    println!(
        "{:<40} {:>6} {:>5} {:>9} {:>9} {:>9}",
        "endpoint", "calls", "fail", "p50 ms", "p99 ms", "DDB req"
    );
    for (action, stats) in &mut rows {
        stats.latencies.sort();
        let calls = stats.latencies.len() + stats.failures;
        actions += calls;
        let ddb = if stats.counted == 0 {
            "-".to_owned()
        } else {
            format!(
                "{:.2}",
                stats.dynamodb_requests as f64 / stats.counted as f64
            )
        };
        println!(
            "{:<40} {:>6} {:>5} {:>9.1} {:>9.1} {:>9}",
            action.label(),
            calls,
            stats.failures,
            millis(percentile(&stats.latencies, 0.50)),
            millis(percentile(&stats.latencies, 0.99)),
            ddb
        );
    }
    let mut all: Vec<Duration> = rows
        .iter()
        .flat_map(|(_, s)| s.latencies.iter().copied())
        .collect();
    all.sort();
    println!(
        "all actions: {actions} in {:.1} s = {:.1} actions/s; p50 {:.1} ms, p99 {:.1} ms",
        acting.as_secs_f64(),
        actions as f64 / acting.as_secs_f64(),
        millis(percentile(&all, 0.50)),
        millis(percentile(&all, 0.99)),
    );
    deliveries.sort();
    println!(
        "chat: {} deliveries, send-to-receive p50 {:.1} ms, p99 {:.1} ms; @connections posts {posts} ({:.2} per action)",
        deliveries.len(),
        millis(percentile(&deliveries, 0.50)),
        millis(percentile(&deliveries, 0.99)),
        posts as f64 / actions.max(1) as f64
    );
    for (action, stats) in &rows {
        if let Some(failure) = &stats.first_failure {
            println!(
                "first failure of {}: {}",
                action.label(),
                failure.chars().take(300).collect::<String>()
            );
        }
    }

    // Every AWS call during the run, per user action.
    let mut by_operation: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut by_function: BTreeMap<String, u64> = BTreeMap::new();
    for ((function, operation), count) in &calls_after {
        let before = calls_before
            .get(&(function.clone(), operation.clone()))
            .copied()
            .unwrap_or(0);
        let during = count - before;
        if during == 0 {
            continue;
        }
        let entry = by_operation.entry(operation.clone()).or_default();
        if is_synchronous(function) {
            entry.0 += during;
        } else {
            entry.1 += during;
        }
        *by_function.entry(function.clone()).or_default() += during;
    }
    let per_action = |count: u64| count as f64 / actions.max(1) as f64;
    println!(
        "\nAWS calls during the run, per user action (synchronous: the function that answered; async: stream and queue functions)"
    );
    println!(
        "{:<36} {:>8} {:>8} {:>10} {:>10}",
        "operation", "sync", "async", "sync/act", "async/act"
    );
    let (mut ddb_sync, mut ddb_async) = (0, 0);
    for (operation, (sync, asynchronous)) in &by_operation {
        if operation.starts_with("dynamodb:") {
            ddb_sync += sync;
            ddb_async += asynchronous;
        }
        println!(
            "{operation:<36} {sync:>8} {asynchronous:>8} {:>10.3} {:>10.3}",
            per_action(*sync),
            per_action(*asynchronous)
        );
    }
    println!(
        "DynamoDB requests per user action: {:.2} synchronous + {:.2} from the stream and queues = {:.2}",
        per_action(ddb_sync),
        per_action(ddb_async),
        per_action(ddb_sync + ddb_async)
    );
    println!("\nAWS calls by function during the run:");
    for (function, count) in &by_function {
        println!(
            "  {function:<28} {count:>8} ({:.3} per action)",
            per_action(*count)
        );
    }
    println!(
        "\nInvocations and duration by function during the run (local stack REPORT lines; GB-s as Lambda bills them, rounded up to the ms)"
    );
    println!(
        "{:<28} {:>8} {:>10} {:>12} {:>12}",
        "function", "invokes", "per act", "mean ms", "GB-ms/act"
    );
    let (mut invocations, mut gb_ms) = (0u64, 0.0f64);
    for (function, (count, total_ms, memory_mb)) in &reports {
        let function_gb_ms = (total_ms + *count as f64 * 0.5) * memory_mb / 1024.0;
        invocations += count;
        gb_ms += function_gb_ms;
        println!(
            "{function:<28} {count:>8} {:>10.3} {:>12.1} {:>12.2}",
            per_action(*count),
            total_ms / (*count).max(1) as f64,
            function_gb_ms / actions.max(1) as f64
        );
    }
    println!(
        "all functions: {:.3} invocations and {:.2} GB-ms per user action",
        per_action(invocations),
        gb_ms / actions.max(1) as f64
    );
    Ok(())
}
