//! Demo data for `agora-local up --demo`: a few users with public profiles, created
//! through the public HTTP API (the same path a client takes), and a development token
//! for each, printed so the README's curl and WebSocket examples work at once.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::stack::LocalStack;

struct DemoUser {
    id: &'static str,
    handle: &'static str,
    name: &'static str,
    headline: &'static str,
    skills: &'static [&'static str],
    goal: &'static str,
}

const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        id: "demo-ana",
        handle: "ana",
        name: "Ana Lima",
        headline: "Data engineer learning Rust",
        skills: &["Rust", "SQL", "Python"],
        goal: "Ship a serverless API",
    },
    DemoUser {
        id: "demo-bruno",
        handle: "bruno",
        name: "Bruno Costa",
        headline: "Personal-finance coach",
        skills: &["Budgeting", "Investing"],
        goal: "Teach index investing",
    },
    DemoUser {
        id: "demo-chen",
        handle: "chen",
        name: "Chen Wei",
        headline: "Frontend developer",
        skills: &["TypeScript", "React", "Rust"],
        goal: "Learn WebAssembly",
    },
    DemoUser {
        id: "demo-dara",
        handle: "dara",
        name: "Dara Okafor",
        headline: "Career switcher into UX",
        skills: &["Figma", "Research"],
        goal: "Land a first UX role",
    },
];

/// A token lifetime long enough for a working day with the local stack.
const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// The JWT settings the stack's functions were given, read from the resolved template.
struct JwtSettings {
    secret: String,
    issuer: String,
    audience: String,
}

fn jwt_settings(stack: &LocalStack) -> anyhow::Result<JwtSettings> {
    let env = stack
        .model()
        .functions
        .iter()
        .map(|f| &f.environment)
        .find(|env| env.contains_key("JWT_HS256_SECRET"))
        .context("no function has JWT_HS256_SECRET")?;
    let get = |name: &str| env.get(name).cloned().unwrap_or_default();
    let settings = JwtSettings {
        secret: get("JWT_HS256_SECRET"),
        issuer: get("JWT_ISSUER"),
        audience: get("JWT_AUDIENCE"),
    };
    anyhow::ensure!(
        settings.secret.len() >= 32,
        "demo tokens need the JwtHs256Secret parameter (32+ bytes)"
    );
    Ok(settings)
}

/// Mints an HS256 development token for `user`.
pub fn dev_token(
    settings_secret: &str,
    issuer: &str,
    audience: &str,
    user: &str,
) -> anyhow::Result<String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ttl = i64::try_from(TOKEN_TTL.as_secs())?;
    let claims = json!({
        "sub": user, "iss": issuer, "aud": audience,
        "iat": now, "exp": now + ttl, "roles": ["member"],
    });
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(settings_secret.as_bytes()),
    )?)
}

/// Seeds demo users and prints their tokens. Safe to repeat: an existing profile (409)
/// is left as it is.
pub async fn seed(stack: &LocalStack) -> anyhow::Result<()> {
    let settings = jwt_settings(stack)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut tokens = Vec::new();
    for DemoUser {
        id: user,
        handle,
        name,
        headline,
        skills,
        goal,
    } in DEMO_USERS
    {
        let token = dev_token(&settings.secret, &settings.issuer, &settings.audience, user)?;
        let response = http
            .post(format!("{}/v1/profiles", stack.http_url()))
            .bearer_auth(&token)
            .json(&json!({
                "handle": handle,
                "displayName": name,
                "headline": headline,
                "skills": skills,
                "learningGoals": [goal],
                "timezone": "UTC",
                "privacy": {"profileVisibility": "public"},
            }))
            .send()
            .await
            .with_context(|| format!("creating the demo profile of {user}"))?;
        let status = response.status().as_u16();
        anyhow::ensure!(
            status == 201 || status == 409,
            "creating the demo profile of {user}: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
        tokens.push((*user, *handle, token));
    }
    println!();
    println!("Demo users (tokens valid for 12 hours):");
    for (user, handle, token) in &tokens {
        println!("  {user:<11} @{handle:<6} {token}");
    }
    if let Some((_, _, token)) = tokens.first() {
        println!();
        println!("Try:");
        println!(
            "  curl -H 'authorization: Bearer {token}' {}/v1/me",
            stack.http_url()
        );
        println!(
            "  curl -H 'authorization: Bearer {token}' '{}/v1/profiles?q=b'",
            stack.http_url()
        );
        if let Some(ws) = stack.websocket_url() {
            println!("  websocat '{ws}?token={token}'   then send {{\"action\":\"ping\"}}");
        }
    }
    Ok(())
}
