//! Announcement fan-out benchmark on the local stack (not a timed test): the time for
//! one community announcement to notify every member, through the notifier's
//! stream-driven steps of 100 (`POSTFANOUT#<topicId> / STEP#<n>`), and what it cost the
//! table per recipient.
//!
//! ```sh
//! cargo build --profile local-opt --bins
//! AGORA_BINARIES_DIR=target/local-opt cargo run --profile local-opt -p agora-tests \
//!     --bin announce_bench -- [members, default 10000]
//! ```
//!
//! The members are written straight into the table (member items only); the clock runs
//! from the announcement's POST until its last step is gone, and the last member (by
//! user id, the last page) is then checked to hold the notification. Figures in
//! `docs/communities.md`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agora_tests::{TestStack, community, id_of, new_user, spawn};
use serde_json::json;

/// The DynamoDB calls `function` made so far.
fn calls_of(stack: &TestStack, function: &str) -> u64 {
    stack
        .stack
        .aws_calls()
        .iter()
        .filter(|((f, call), _)| f == function && call.starts_with("dynamodb:"))
        .map(|(_, n)| n)
        .sum()
}

/// Waits until `function` has made no DynamoDB call for `quiet`.
async fn settle(stack: &TestStack, function: &str, quiet: Duration) {
    let mut last = calls_of(stack, function);
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = calls_of(stack, function);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let members: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let stack = spawn().await?;
    let owner = new_user("owner");
    let id = id_of(&community(&stack, &owner, "public", json!({})).await?);
    let mut users: Vec<String> = (0..members).map(|i| new_user(&format!("m{i}"))).collect();
    users.sort();
    stack.add_members_directly(&id, &users).await?;
    // The notifier reads every member item's INSERT record first (they notify no one).
    settle(&stack, "NotifierFunction", Duration::from_secs(3)).await;
    let before = stack.stack.aws_calls();

    let started = Instant::now();
    let topic = stack
        .post_created(
            "/v1/topics",
            &owner,
            json!({"title": "To everyone", "body": "Hello all.", "communityId": id,
                   "announcement": true}),
        )
        .await?;
    let topic = topic["topicId"].as_str().unwrap_or_default().to_owned();
    let steps = format!("POSTFANOUT#{topic}");
    let mut seen_a_step = false;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let pending = !stack.partition(&steps).await?.is_empty();
        seen_a_step |= pending;
        if (seen_a_step || started.elapsed() > Duration::from_secs(5)) && !pending {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the fan-out did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    let last = &users[users.len() - 1];
    let page = stack.get("/v1/notifications?limit=5", last).await?;
    let reached = page.body["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|n| n["type"] == "announcement" && n["object"]["topicId"] == topic.as_str())
    });

    let after = stack.stack.aws_calls();
    let mut by_call: BTreeMap<String, u64> = BTreeMap::new();
    for ((function, call), n) in &after {
        let grown = n - before.get(&(function.clone(), call.clone())).unwrap_or(&0);
        if function == "NotifierFunction" && call.starts_with("dynamodb:") && grown > 0 {
            by_call.insert(call.clone(), grown);
        }
    }
    println!(
        "announcement to {members} members: {} steps of 100, all notified after {:.1} s ({:.0} recipients/s); the last member holds it: {reached}",
        members.div_ceil(100),
        elapsed.as_secs_f64(),
        members as f64 / elapsed.as_secs_f64()
    );
    println!("NotifierFunction DynamoDB calls per recipient:");
    for (call, n) in by_call {
        println!("  {call:<30} {:>6.2}", n as f64 / members.max(1) as f64);
    }
    anyhow::ensure!(reached, "the last member was not notified");
    Ok(())
}
