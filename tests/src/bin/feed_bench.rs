//! Feed benchmark on the local stack (not a timed test): the time for one activity to
//! reach N connections' home feeds through the fan-out (the stream step queues the
//! audience as deliveries on the fan-out queue; the feed worker writes them in
//! parallel), and p50/p99 of the home-feed read (`GET /v1/feed?limit=20`). Build the
//! binaries optimized first, then run
//!
//! ```sh
//! cargo build --profile local-opt --bins
//! AGORA_BINARIES_DIR=target/local-opt cargo run --profile local-opt -p agora-tests \
//!     --bin feed_bench -- [connections, default 2000] [reads, default 200]
//! ```
//!
//! The fan-out is timed from the POST until every follower's entry is readable: a
//! sample of 100 followers is polled until all of theirs landed, then the followers
//! not yet seen are checked (BatchGetItem) until none is missing, so the polling itself
//! does not load moto with thousands of reads per round.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use agora_tests::{new_user, spawn, token_for};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn connection(user: &str, other: &str, requested_by: &str, at: &str) -> serde_json::Value {
    json!({
        "PK": format!("USER#{user}"), "SK": format!("CONN#{other}"), "entity": "Connection",
        "userId": user, "otherUserId": other, "requestedBy": requested_by, "createdAt": at,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let connections: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let reads: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let stack = spawn().await?;
    let client = stack.dynamodb().await;
    let table = stack.table();
    let author = new_user("author");
    let followers: Vec<String> = (0..connections)
        .map(|i| new_user(&format!("f{i}")))
        .collect();
    let at = agora::ids::now_rfc3339();

    // Home-feed reads first, on an idle stack (the 2,000 connection items below would
    // keep every stream function and moto busy for a while): a reader connected to the
    // author, with 20 entries of their own.
    let reader = &followers[0];
    stack
        .put_items(&[connection(reader, &author, &author, &at)])
        .await?;
    for i in 0..20 {
        stack
            .post(
                "/v1/activities",
                reader,
                json!({"verb": "share", "visibility": "private", "text": format!("note {i}")}),
            )
            .await?;
    }
    let full = Instant::now() + Duration::from_secs(120);
    loop {
        let page = stack.get("/v1/feed?limit=20", reader).await?;
        if page.body["items"].as_array().is_some_and(|a| a.len() == 20) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < full,
            "the reader's feed never filled: {page:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = stack.url("/v1/feed?limit=20");
    let token = token_for(reader);
    let mut samples = Vec::with_capacity(reads);
    for i in 0..reads + 5 {
        let sent = Instant::now();
        let response = stack
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?;
        let body: serde_json::Value = response.json().await?;
        if i >= 5 {
            // The first few warm the function's process up.
            samples.push(sent.elapsed());
        }
        anyhow::ensure!(
            body["items"].as_array().is_some_and(|a| a.len() == 20),
            "short page: {body}"
        );
    }
    samples.sort();

    println!(
        "GET /v1/feed?limit=20: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    // Arrange: the author's side of each connection (what the fan-out pages through);
    // requestedBy = author on this side generates no connectionMade activities.
    let items: Vec<_> = followers
        .iter()
        .map(|f| connection(&author, f, &author, &at))
        .collect();
    stack.put_items(&items).await?;

    // Let the stream functions work off those 2,000 records first (the notifier's last
    // act on them is the author's unread counter), so the fan-out is timed alone.
    let drained = Instant::now() + Duration::from_secs(600);
    loop {
        let counter = client
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
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Act: one activity; poll the followers' feed keys until every one holds it.
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
    let deadline = started + Duration::from_secs(600);
    // Which of `users` hold the entry (BatchGetItem, 100 keys each).
    let landed_among = |users: Vec<String>| {
        let client = client.clone();
        let table = table.clone();
        let activity = activity.clone();
        async move {
            let mut landed = HashSet::new();
            for chunk in users.chunks(100) {
                let keys = chunk
                    .iter()
                    .map(|f| {
                        HashMap::from([
                            ("PK".to_owned(), AttributeValue::S(format!("FEED#{f}"))),
                            ("SK".to_owned(), AttributeValue::S(activity.clone())),
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
                    for item in output
                        .responses
                        .and_then(|mut r| r.remove(&table))
                        .unwrap_or_default()
                    {
                        if let Some(AttributeValue::S(pk)) = item.get("PK") {
                            landed.insert(pk.trim_start_matches("FEED#").to_owned());
                        }
                    }
                    request = output.unprocessed_keys.and_then(|mut u| u.remove(&table));
                }
            }
            Ok::<_, anyhow::Error>(landed)
        }
    };
    // A sample spread over the audience (every k-th follower) first.
    let step = (connections / 100).max(1);
    let sample: Vec<String> = followers.iter().step_by(step).cloned().collect();
    loop {
        let landed = landed_among(sample.clone()).await?;
        if landed.len() == sample.len() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of the sample after 600 s",
            landed.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sampled = started.elapsed();
    let mut missing: Vec<String> = followers.clone();
    loop {
        let landed = landed_among(missing.clone()).await?;
        missing.retain(|f| !landed.contains(f));
        if missing.is_empty() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} feeds still missing after 600 s",
            missing.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fan_out = started.elapsed();
    let steps = stack.partition(&format!("FANOUT#{activity}")).await?.len() + 1;

    println!(
        "fan-out: one activity reached {connections} connections' feeds in {:.2} s (sample of {} complete at {:.2} s; {steps} stream steps)",
        fan_out.as_secs_f64(),
        sample.len(),
        sampled.as_secs_f64()
    );
    Ok(())
}
