//! Moderation queue latency on the local stack (not a timed test): the time from a
//! profile write to its verdict, through the table's stream, the reaction that queues
//! the job, the moderation queue (SQS, batches of up to 10 with a 1 s batching window,
//! as the template sets) and the worker's classifier.
//!
//! ```sh
//! cargo build --profile local-opt --bins
//! AGORA_BINARIES_DIR=target/local-opt target/local-opt/moderation_bench [count] [rate/s] [profiles|replies]
//! ```
//!
//! `profiles` (the default): `count` (default 200) profiles are created at `rate` per
//! second (default 10), every other one with a phone number in its bio (flagged as
//! personal data). Each is timed from its `POST /v1/profiles` answer until `GET /v1/me`
//! shows a verdict, polled every 10 ms (so a figure may be up to 10 ms late).
//!
//! `replies`: `count` replies spread over 20 topics, at `rate` per second, every other
//! one a scam
//! (hidden); each is timed from its `POST` answer until its item in the table carries a
//! `screening`, read every 100 ms straight from DynamoDB (the path every text type
//! takes: stream, screening reaction, queue, worker). Figures in
//! `docs/benchmarks/moderation.md`.

use std::time::{Duration, Instant};

use agora_tests::{new_user, spawn, unique_handle};
use serde_json::json;

const POLL: Duration = Duration::from_millis(10);

/// The `replies` mode's topics, replied to in turn.
const TOPICS: usize = 20;

/// How often the `replies` mode reads each reply's item: every 10 ms for up to 200
/// replies at once would load moto (on 2 cores) more than the path it measures.
const REPLY_POLL: Duration = Duration::from_millis(100);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let profiles: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let rate: f64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10.0);
    let mode = args.next().unwrap_or_else(|| "profiles".to_owned());
    let stack = std::sync::Arc::new(spawn().await?);
    if mode == "replies" {
        return replies(stack, profiles, rate).await;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..profiles {
        let stack = stack.clone();
        let slot = started + Duration::from_secs_f64(n as f64 / rate);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(slot.into()).await;
            let user = new_user(&format!("p{n}"));
            let flagged = n % 2 == 1;
            let bio = if flagged {
                "Call me on +351 912 345 678 about budgets"
            } else {
                "I teach budgeting to freelancers"
            };
            stack
                .create_profile(
                    &user,
                    json!({"handle": unique_handle("bench"), "displayName": "Bench User",
                           "bio": bio}),
                )
                .await?;
            let written = Instant::now();
            let deadline = written + Duration::from_secs(120);
            loop {
                let me = stack.get("/v1/me", &user).await?;
                let status = me.body["moderation"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if status != "pending" {
                    let expected = if flagged { "flagged" } else { "clean" };
                    return anyhow::Ok((written.elapsed(), status == expected));
                }
                anyhow::ensure!(Instant::now() < deadline, "no verdict for {user} in 120 s");
                tokio::time::sleep(POLL).await;
            }
        }));
    }
    let mut latencies = Vec::with_capacity(profiles);
    let mut right = 0;
    for task in tasks {
        let (latency, correct) = task.await??;
        latencies.push(latency);
        right += usize::from(correct);
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "moderation queue: {profiles} profiles at {rate}/s, half with a phone number in the bio"
    );
    println!("verdicts as expected: {right} of {profiles}");
    println!(
        "write-to-verdict latency: p50={:.0} ms p99={:.0} ms max={:.0} ms (polled every {} ms)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        POLL.as_millis()
    );
    Ok(())
}

/// The `replies` mode: see the module's documentation.
async fn replies(
    stack: std::sync::Arc<agora_tests::TestStack>,
    count: usize,
    rate: f64,
) -> anyhow::Result<()> {
    let category = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    let admin = stack
        .raw(
            stack
                .http
                .post(stack.url("/v1/categories"))
                .bearer_auth(agora_tests::token_with_roles(
                    &new_user("admin"),
                    &["admin"],
                ))
                .json(&json!({"id": category, "name": "Bench"})),
        )
        .await?;
    anyhow::ensure!(admin.status == 201, "{admin:?}");
    let mut topics = Vec::new();
    for _ in 0..TOPICS {
        let topic = stack
            .post_created(
                "/v1/topics",
                &new_user("host"),
                json!({"title": "Side income", "body": "How do you earn more?", "categoryId": category}),
            )
            .await?;
        topics.push(topic["topicId"].as_str().unwrap_or_default().to_owned());
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..count {
        let (stack, topic_id) = (stack.clone(), topics[n % TOPICS].clone());
        let slot = started + Duration::from_secs_f64(n as f64 / rate);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(slot.into()).await;
            let hidden = n % 2 == 1;
            let body = if hidden {
                "Guaranteed returns of 20% a week, send your deposit now"
            } else {
                "I put 10% aside every month"
            };
            let reply = stack
                .post_created(
                    &format!("/v1/topics/{topic_id}/replies"),
                    &new_user(&format!("r{n}")),
                    json!({ "body": body }),
                )
                .await?;
            let written = Instant::now();
            let reply_id = reply["replyId"].as_str().unwrap_or_default().to_owned();
            let deadline = written + Duration::from_secs(120);
            loop {
                let item = stack
                    .item(&format!("TOPIC#{topic_id}"), &format!("REPLY#{reply_id}"))
                    .await?
                    .unwrap_or_default();
                if let Some(status) = item["screening"]["status"].as_str() {
                    let expected = if hidden { "hidden" } else { "clean" };
                    return anyhow::Ok((written.elapsed(), status == expected));
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "no verdict for {reply_id} in 120 s"
                );
                tokio::time::sleep(REPLY_POLL).await;
            }
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut right = 0;
    for task in tasks {
        let (latency, correct) = task.await??;
        latencies.push(latency);
        right += usize::from(correct);
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "moderation queue: {count} replies to {TOPICS} topics at {rate}/s, half of them scams"
    );
    println!("verdicts as expected: {right} of {count}");
    println!(
        "write-to-verdict latency: p50={:.0} ms p99={:.0} ms max={:.0} ms (read every {} ms)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        REPLY_POLL.as_millis()
    );
    Ok(())
}
