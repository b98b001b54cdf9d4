//! Demo data for `agora-local up --demo`: a few users with public profiles, connected
//! to each other, a direct conversation and a group room with a few messages, all
//! created through the public HTTP API (the same path a client takes), and a development
//! token for each user, printed so the README's curl and WebSocket examples work at once
//! and offered by the browser client's sign-in (`GET /local/demo-users`).

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::stack::LocalStack;
use crate::web::DemoUserToken;

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
    DemoUser {
        id: "demo-eli",
        handle: "eli",
        name: "Eli Novak",
        headline: "Budgeting for freelancers",
        skills: &["Budgeting", "Writing"],
        goal: "Find a mentor in data",
    },
];

/// Connection requests `(from, to)` left pending: Ana has one to answer (and the API
/// fuzzer, which calls as Ana, a request to accept, ignore or reject).
const DEMO_PENDING_REQUESTS: &[(&str, &str)] = &[("demo-eli", "demo-ana")];

/// Connection requests `(from, to)`; each is accepted.
const DEMO_CONNECTIONS: &[(&str, &str)] = &[
    ("demo-ana", "demo-bruno"),
    ("demo-ana", "demo-chen"),
    ("demo-ana", "demo-dara"),
    ("demo-bruno", "demo-chen"),
    ("demo-chen", "demo-dara"),
];

/// The demo group, created by its first member's user.
const DEMO_GROUP: &str = "Rust learners";
const DEMO_GROUP_MEMBERS: &[&str] = &["demo-ana", "demo-bruno", "demo-chen"];

/// Messages `(sender, clientMessageId, text)` of the demo group, then of Ana and Bruno's
/// direct conversation. The client message ids make a repeated seed store them once.
const DEMO_GROUP_MESSAGES: &[(&str, &str, &str)] = &[
    (
        "demo-ana",
        "demo-group-1",
        "Welcome! This room is for everyone learning Rust.",
    ),
    (
        "demo-chen",
        "demo-group-2",
        "Hi all. I'm compiling my first WebAssembly module this week.",
    ),
    (
        "demo-bruno",
        "demo-group-3",
        "Nice! Anyone up for a study session on Thursday?",
    ),
];
const DEMO_DM_MESSAGES: &[(&str, &str, &str)] = &[
    (
        "demo-bruno",
        "demo-dm-1",
        "Hi Ana, thanks for connecting! How is the serverless API going?",
    ),
    ("demo-ana", "demo-dm-2", "Almost there: chat works now."),
    ("demo-bruno", "demo-dm-3", "Great, show me on Friday?"),
];

/// The demo discussion category (created with an admin token: only admins create
/// categories) and a topic in it, started by Ana when the category is new. The
/// category id is also the example of `POST /v1/topics` in the OpenAPI document, so the
/// API fuzzer (infra/api-fuzz) creates topics and reaches the operations that need one.
pub const DEMO_CATEGORY: &str = "rust";
const DEMO_CATEGORY_NAME: &str = "Rust";
const DEMO_TOPIC: (&str, &str, &str) = (
    "demo-ana",
    "Which book first: the Rust Book or Rust for Rustaceans?",
    "I know some Python and SQL. Where would you start?",
);

/// The demo community: public, owned by Ana, every demo user a member, with a topic.
const DEMO_COMMUNITY: (&str, &str, &str) = (
    "rust-learners",
    "Rust Learners",
    "A study circle for people learning Rust, from the first chapter to async.",
);
const DEMO_COMMUNITY_TOPIC: (&str, &str) = (
    "Study session on Thursday?",
    "Let's read chapter 8 together and bring one question each.",
);

/// The demo community's `#general` channel: (sender, client message id, text).
const DEMO_CHANNEL_MESSAGES: &[(&str, &str, &str)] = &[
    (
        "demo-ana",
        "demo-channel-1",
        "Welcome to #general, everyone!",
    ),
    (
        "demo-bruno",
        "demo-channel-2",
        "Hi! Who is up for Thursday's session?",
    ),
];

/// A token lifetime long enough for a working day with the local stack.
const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// The JWT settings the stack's functions were given: issuer and audience from the
/// resolved template, the HS256 key from the secret `JWT_HS256_SECRET_ID` names.
struct JwtSettings {
    secret: String,
    issuer: String,
    audience: String,
}

async fn jwt_settings(stack: &LocalStack) -> anyhow::Result<JwtSettings> {
    let env = stack
        .model()
        .functions
        .iter()
        .map(|f| &f.environment)
        .find(|env| {
            env.get("JWT_HS256_SECRET_ID")
                .is_some_and(|id| !id.is_empty())
        })
        .context(
            "demo tokens need the JwtHs256SecretName parameter (and the secret, see --secret)",
        )?;
    let get = |name: &str| env.get(name).cloned().unwrap_or_default();
    let id = get("JWT_HS256_SECRET_ID");
    let secrets = crate::provision::secrets_client(stack.moto_endpoint(), &stack.model().region);
    let secret = secrets
        .get_secret_value()
        .secret_id(&id)
        .send()
        .await
        .with_context(|| format!("reading the HS256 key from secret {id}"))?
        .secret_string()
        .unwrap_or_default()
        .to_owned();
    let settings = JwtSettings {
        secret,
        issuer: get("JWT_ISSUER"),
        audience: get("JWT_AUDIENCE"),
    };
    anyhow::ensure!(
        settings.secret.len() >= 32,
        "demo tokens need an HS256 key of 32+ bytes in secret {id}"
    );
    Ok(settings)
}

/// The demo user whose token carries the `moderator` role.
pub const DEMO_MODERATOR: &str = "demo-bruno";

/// Mints an HS256 development token for `user`.
pub fn dev_token(
    settings_secret: &str,
    issuer: &str,
    audience: &str,
    user: &str,
) -> anyhow::Result<String> {
    dev_token_with_roles(settings_secret, issuer, audience, user, &["member"])
}

/// Mints an HS256 development token for `user` with these roles.
pub fn dev_token_with_roles(
    settings_secret: &str,
    issuer: &str,
    audience: &str,
    user: &str,
    roles: &[&str],
) -> anyhow::Result<String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ttl = i64::try_from(TOKEN_TTL.as_secs())?;
    let claims = json!({
        "sub": user, "iss": issuer, "aud": audience,
        "iat": now, "exp": now + ttl, "roles": roles,
    });
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(settings_secret.as_bytes()),
    )?)
}

/// Seeds demo users, their connections and rooms, and prints their tokens. Safe to
/// repeat: existing profiles, connections, rooms and messages are left as they are.
pub async fn seed(stack: &LocalStack) -> anyhow::Result<()> {
    let settings = jwt_settings(stack).await?;
    crate::install_crypto_provider();
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
        // Bruno is the demo's platform moderator (the moderation page's queues).
        let roles: &[&str] = if *user == DEMO_MODERATOR {
            &["member", "moderator"]
        } else {
            &["member"]
        };
        let token = dev_token_with_roles(
            &settings.secret,
            &settings.issuer,
            &settings.audience,
            user,
            roles,
        )?;
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
    let api = DemoApi {
        http: &http,
        base: stack.http_url(),
        tokens: &tokens,
    };
    api.connect_users().await?;
    api.create_rooms().await?;
    let admin = dev_token_with_roles(
        &settings.secret,
        &settings.issuer,
        &settings.audience,
        "demo-admin",
        &["admin"],
    )?;
    api.create_discussions(&admin).await?;
    api.create_community().await?;
    stack.set_demo_users(
        DEMO_USERS
            .iter()
            .zip(&tokens)
            .map(|(user, (_, _, token))| DemoUserToken {
                user_id: user.id.to_owned(),
                handle: user.handle.to_owned(),
                display_name: user.name.to_owned(),
                token: token.clone(),
            })
            .collect(),
    );
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
    if let Some(url) = stack.web_url() {
        println!();
        println!(
            "Chat in the browser: open {url} and pick a demo user (a second tab as another user)."
        );
    }
    Ok(())
}

/// The demo's calls to the public HTTP API, as one of the demo users.
struct DemoApi<'a> {
    http: &'a reqwest::Client,
    base: String,
    tokens: &'a [(&'static str, &'static str, String)],
}

impl DemoApi<'_> {
    fn token(&self, user: &str) -> anyhow::Result<&str> {
        self.tokens
            .iter()
            .find(|(id, _, _)| *id == user)
            .map(|(_, _, token)| token.as_str())
            .with_context(|| format!("no demo user {user}"))
    }

    /// `method path` as `user`; the status must be one of `expected`.
    async fn call(
        &self,
        user: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        expected: &[u16],
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.token(user)?);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path} as {user}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        anyhow::ensure!(
            expected.contains(&status),
            "{method} {path} as {user}: HTTP {status}: {text}"
        );
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Each request, then its acceptance, then the requests left pending. A pair
    /// connected (or asked) before gives 409 to the request: left as it is.
    async fn connect_users(&self) -> anyhow::Result<()> {
        for (from, to) in DEMO_CONNECTIONS {
            let (status, _) = self
                .call(
                    from,
                    reqwest::Method::POST,
                    "/v1/connections/requests",
                    Some(json!({"userId": to, "message": "Let's connect on Agora!"})),
                    &[201, 409],
                )
                .await?;
            if status == 201 {
                self.call(
                    to,
                    reqwest::Method::POST,
                    &format!("/v1/connections/requests/{from}/accept"),
                    None,
                    &[200],
                )
                .await?;
            }
        }
        for (from, to) in DEMO_PENDING_REQUESTS {
            self.call(
                from,
                reqwest::Method::POST,
                "/v1/connections/requests",
                Some(json!({"userId": to, "message": "Could we talk about your data work?"})),
                &[201, 409],
            )
            .await?;
        }
        Ok(())
    }

    /// The group (found again by name in its creator's inbox) and Ana and Bruno's
    /// direct conversation, each with a few messages.
    async fn create_rooms(&self) -> anyhow::Result<()> {
        let creator = DEMO_GROUP_MEMBERS.first().copied().unwrap_or("demo-ana");
        let (_, inbox) = self
            .call(
                creator,
                reqwest::Method::GET,
                "/v1/rooms?limit=50",
                None,
                &[200],
            )
            .await?;
        let existing = inbox["items"].as_array().and_then(|rooms| {
            rooms
                .iter()
                .find(|room| room["kind"] == "group" && room["name"] == DEMO_GROUP)
                .and_then(|room| room["roomId"].as_str().map(str::to_owned))
        });
        let group = match existing {
            Some(room_id) => room_id,
            None => {
                let members: Vec<&str> = DEMO_GROUP_MEMBERS
                    .iter()
                    .copied()
                    .filter(|m| *m != creator)
                    .collect();
                let (_, room) = self
                    .call(
                        creator,
                        reqwest::Method::POST,
                        "/v1/rooms",
                        Some(json!({"name": DEMO_GROUP, "memberIds": members})),
                        &[201],
                    )
                    .await?;
                room_id(&room)?
            }
        };
        self.send_all(&group, DEMO_GROUP_MESSAGES).await?;
        let (_, dm) = self
            .call(
                "demo-ana",
                reqwest::Method::POST,
                "/v1/rooms/dm",
                Some(json!({"userId": "demo-bruno"})),
                &[200, 201],
            )
            .await?;
        self.send_all(&room_id(&dm)?, DEMO_DM_MESSAGES).await
    }

    /// The demo category and, when it is new, its first topic. A category created
    /// before gives 409: left as it is, with its topics.
    async fn create_discussions(&self, admin_token: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/v1/categories", self.base))
            .bearer_auth(admin_token)
            .json(&json!({
                "id": DEMO_CATEGORY,
                "name": DEMO_CATEGORY_NAME,
                "description": "Learning Rust together",
            }))
            .send()
            .await
            .context("creating the demo category")?;
        let status = response.status().as_u16();
        anyhow::ensure!(
            status == 201 || status == 409,
            "creating the demo category: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
        if status == 201 {
            let (author, title, body) = DEMO_TOPIC;
            self.call(
                author,
                reqwest::Method::POST,
                "/v1/topics",
                Some(json!({"title": title, "body": body, "categoryId": DEMO_CATEGORY})),
                &[201],
            )
            .await?;
        }
        Ok(())
    }

    /// The demo community, its members and its first topic, when it is new. Its slug
    /// taken (a 409) means it was created before, with its members: left as it is.
    async fn create_community(&self) -> anyhow::Result<()> {
        let owner = DEMO_USERS[0].id;
        let (slug, name, description) = DEMO_COMMUNITY;
        let (status, community) = self
            .call(
                owner,
                reqwest::Method::POST,
                "/v1/communities",
                Some(
                    json!({"slug": slug, "name": name, "description": description,
                            "kind": "public", "tags": ["rust", "study"]}),
                ),
                &[201, 409],
            )
            .await?;
        if status == 409 {
            return Ok(());
        }
        let id = community["communityId"]
            .as_str()
            .context("the demo community has no id")?
            .to_owned();
        for user in &DEMO_USERS[1..] {
            self.call(
                user.id,
                reqwest::Method::POST,
                &format!("/v1/communities/{id}/join"),
                Some(json!({})),
                &[200, 201],
            )
            .await?;
        }
        let (title, body) = DEMO_COMMUNITY_TOPIC;
        self.call(
            owner,
            reqwest::Method::POST,
            "/v1/topics",
            Some(json!({"title": title, "body": body, "communityId": id})),
            &[201],
        )
        .await?;
        let (_, channel) = self
            .call(
                owner,
                reqwest::Method::POST,
                &format!("/v1/communities/{id}/channels"),
                Some(json!({"name": "general"})),
                &[201],
            )
            .await?;
        self.send_all(&room_id(&channel)?, DEMO_CHANNEL_MESSAGES)
            .await?;
        // A weekly study session, starting next week (docs/events.md).
        let next_week = time::OffsetDateTime::now_utc() + time::Duration::days(7);
        let day = format!(
            "{:04}-{:02}-{:02}",
            next_week.year(),
            u8::from(next_week.month()),
            next_week.day()
        );
        self.call(
            owner,
            reqwest::Method::POST,
            &format!("/v1/communities/{id}/events"),
            Some(json!({
                "title": "Weekly study session: The Book, chapter by chapter",
                "start": format!("{day}T18:00"), "end": format!("{day}T19:00"),
                "timeZone": "Europe/Lisbon", "onlineUrl": "https://meet.example.com/rust-learners",
                "capacity": 12, "recurrence": {"frequency": "weekly", "count": 8},
            })),
            &[201],
        )
        .await?;
        Ok(())
    }

    async fn send_all(&self, room: &str, messages: &[(&str, &str, &str)]) -> anyhow::Result<()> {
        for (sender, client_message_id, text) in messages {
            self.call(
                sender,
                reqwest::Method::POST,
                &format!("/v1/rooms/{room}/messages"),
                Some(json!({"text": text, "clientMessageId": client_message_id})),
                &[200, 201],
            )
            .await?;
        }
        Ok(())
    }
}

fn room_id(room: &Value) -> anyhow::Result<String> {
    room["roomId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("a room without roomId: {room}"))
}
