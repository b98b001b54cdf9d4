//! Latency benchmark of the local stack: p50/p90/p99 of `GET /v1/health` and of a
//! profile read (`GET /v1/profiles/{id}`), each through the HTTP API, the real function
//! binary and moto. Run with `infra/bench` (or `cargo run --release -p agora-tests --bin
//! latency -- [requests]`) after a build; numbers go to stdout.

use std::time::{Duration, Instant};

use agora_tests::{new_user, spawn, token_for};
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    requests: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(requests);
    // Warm up: the first call cold-starts the function's process.
    for _ in 0..5 {
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await?.error_for_status()?;
    }
    for _ in 0..requests {
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let response = request.send().await?.error_for_status()?;
        response.bytes().await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples)
}

fn report(name: &str, samples: &[Duration]) {
    println!(
        "{name:<28} n={:<5} p50={:>7.2} ms  p90={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        samples.len(),
        percentile(samples, 0.50).as_secs_f64() * 1e3,
        percentile(samples, 0.90).as_secs_f64() * 1e3,
        percentile(samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let stack = spawn().await?;
    let owner = new_user("bench");
    stack
        .create_profile(
            &owner,
            json!({"handle": format!("bench_{}", &owner[owner.len() - 8..]), "displayName": "Bench Mark",
                   "skills": ["Rust"], "privacy": {"profileVisibility": "public"}}),
        )
        .await?;
    let viewer = token_for(&new_user("viewer"));

    let health = measure(&stack.http, &stack.url("/v1/health"), None, requests).await?;
    let profile = measure(
        &stack.http,
        &stack.url(&format!("/v1/profiles/{owner}")),
        Some(&viewer),
        requests,
    )
    .await?;

    report("GET /v1/health", &health);
    report("GET /v1/profiles/{id}", &profile);
    Ok(())
}
