//! Test harness: each test spawns its own local stack (own table, queues, functions and
//! free loopback ports) from the real `template.yaml`, against one moto server per run.

use std::path::PathBuf;
use std::time::Duration;

use agora_local::moto::Moto;
use agora_local::stack::{LocalStack, StackOptions, unique_stack_name};
use anyhow::Context;
use serde_json::Value;

mod account;
mod arrange;
mod stream;

pub use account::{JOB_TIMEOUT, clone_with_new_id, token_now};
pub use arrange::{
    accept, block_items, community, connection_item, give_role, id_of, invite, unique_handle,
    unique_slug,
};
pub use stream::{StreamRecord, dynamodb_json};

pub const JWT_SECRET: &str = "test-only-hs256-secret-of-more-than-32-bytes";
pub const ISSUER: &str = "agora-local";
pub const AUDIENCE: &str = "agora";

/// Upper bound for anything asynchronous (stream and queue processing) to show up.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// One moto per test process (or the run's, via `AGORA_MOTO_ENDPOINT`); each test has
/// its own table and queues in it.
static MOTO: tokio::sync::OnceCell<Moto> = tokio::sync::OnceCell::const_new();

pub struct TestStack {
    pub stack: LocalStack,
    pub http: reqwest::Client,
}

/// Starts a fresh stack for one test.
pub async fn spawn() -> anyhow::Result<TestStack> {
    spawn_with(|_| {}).await
}

/// Starts a fresh stack after `configure` adjusts its options (e.g. environment
/// overrides for a benchmark).
pub async fn spawn_with(configure: impl FnOnce(&mut StackOptions)) -> anyhow::Result<TestStack> {
    let root = repo_root();
    let binaries_dir = std::env::var("AGORA_BINARIES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/debug"));
    let moto = MOTO
        .get_or_try_init(|| async {
            let venv = std::env::var("AGORA_VENV")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join(".venv"));
            Moto::from_env_or_start(&venv).await
        })
        .await
        .context("moto is not available; run the suite with infra/test")?;
    let stack_name = unique_stack_name("t");
    let log_dir = root.join("target/test-logs").join(&stack_name);
    let jwt_secret_name = format!("{stack_name}/jwt-hs256");
    let mut options = StackOptions::new(root.join("template.yaml"), stack_name, moto.endpoint());
    options.binaries_dir = binaries_dir;
    // Each function's output, per test stack, for reading after a failure.
    options.log_dir = Some(log_dir);
    // The HS256 key lives in Secrets Manager (moto), as an operator would create it
    // before deploying; the template names it and the functions read it at cold start.
    options
        .secrets
        .insert(jwt_secret_name.clone(), JWT_SECRET.to_owned());
    options.parameter_overrides = [
        ("JwtHs256SecretName", jwt_secret_name.as_str()),
        ("JwtIssuer", ISSUER),
        ("JwtAudience", AUDIENCE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    configure(&mut options);
    let stack = tokio::time::timeout(Duration::from_secs(60), LocalStack::spawn(options))
        .await
        .context("the local stack did not start within 60 s")??;
    agora_local::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    Ok(TestStack { stack, http })
}

/// A valid HS256 token for `user`, a plain member.
pub fn token_for(user: &str) -> String {
    token_with(user, JWT_SECRET, 3600)
}

/// An HS256 token for `user` signed with `secret`, valid for `ttl_secs` (negative:
/// already expired).
pub fn token_with(user: &str, secret: &str, ttl_secs: i64) -> String {
    signed_token(user, &["member"], secret, ttl_secs)
}

/// A valid token for `user` carrying `roles` (the other tokens are plain members).
pub fn token_with_roles(user: &str, roles: &[&str]) -> String {
    signed_token(user, roles, JWT_SECRET, 3600)
}

fn signed_token(user: &str, roles: &[&str], secret: &str, ttl_secs: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    token_with_claims(
        secret,
        serde_json::json!({
            "sub": user, "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + ttl_secs, "roles": roles,
        }),
    )
}

/// A valid member token for `user` (an hour), with `overrides` replacing or adding
/// claims (`nbf`, `iat`, …).
pub fn token_overriding(user: &str, overrides: serde_json::Value) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = serde_json::json!({
        "sub": user, "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "exp": now + 3600, "roles": ["member"],
    });
    if let (Some(claims), Some(overrides)) = (claims.as_object_mut(), overrides.as_object()) {
        claims.extend(overrides.clone());
    }
    token_with_claims(JWT_SECRET, claims)
}

fn token_with_claims(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

/// A unique user id per test, so no two tests share a user.
pub fn new_user(name: &str) -> String {
    format!("{name}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Asserts an RFC 9457 problem with `status`, naming `field` among its `errors` if given.
pub fn assert_problem(reply: &Reply, status: u16, field: Option<&str>) {
    assert_eq!(reply.status, status, "unexpected reply: {reply:?}");
    assert_eq!(reply.content_type, "application/problem+json", "{reply:?}");
    if let Some(field) = field {
        let fields: Vec<&str> = reply.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field),
            "expected field {field} in {reply:?}"
        );
    }
}

/// A status and JSON body (Null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    /// The page's `nextCursor`, empty when there is none.
    pub fn next_cursor(&self) -> String {
        self.body["nextCursor"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The `field` of every entry of a list page's `items`, in order (entries without it
/// are skipped).
pub fn field_of_items(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The DynamoDB requests the answering function reported for `response`
/// (`x-agora-dynamodb-requests`, sent with `AGORA_EXPOSE_REQUEST_COUNTS=1`).
pub fn dynamodb_requests_of(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("x-agora-dynamodb-requests")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Starts a stack whose functions report each call's DynamoDB requests in
/// `x-agora-dynamodb-requests` ([`TestStack::dynamodb_requests_of_get`]).
pub async fn spawn_counting_requests() -> anyhow::Result<TestStack> {
    spawn_with(|o| {
        o.environment_overrides
            .insert("AGORA_EXPOSE_REQUEST_COUNTS".into(), "1".into());
    })
    .await
}

impl TestStack {
    /// A discussion category named `name`, made by a platform admin; its id.
    pub async fn new_category(&self, name: &str) -> anyhow::Result<String> {
        let id = format!("cat{}", ulid::Ulid::new().to_string().to_lowercase());
        let reply = self
            .raw(
                self.http
                    .post(self.url("/v1/categories"))
                    .bearer_auth(token_with_roles(&new_user("admin"), &["admin"]))
                    .json(&serde_json::json!({"id": id, "name": name})),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "category: {reply:?}");
        Ok(id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.stack.http_url().trim_end_matches('/'), path)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        user: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(user) = user {
            request = request.bearer_auth(token_for(user));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        reply(request.send().await?).await
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
        reply(request.send().await?).await
    }

    /// The DynamoDB requests the answering function made for `GET path` as `user` (a
    /// stack of [`spawn_counting_requests`]); fails unless the answer is 200.
    pub async fn dynamodb_requests_of_get(&self, path: &str, user: &str) -> anyhow::Result<u64> {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token_for(user))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "GET {path}: {}",
            response.status()
        );
        dynamodb_requests_of(&response)
            .ok_or_else(|| anyhow::anyhow!("no x-agora-dynamodb-requests header"))
    }

    pub async fn get(&self, path: &str, user: &str) -> anyhow::Result<Reply> {
        self.call(reqwest::Method::GET, path, Some(user), None)
            .await
    }

    pub async fn post(&self, path: &str, user: &str, body: Value) -> anyhow::Result<Reply> {
        self.call(reqwest::Method::POST, path, Some(user), Some(&body))
            .await
    }

    pub async fn patch(&self, path: &str, user: &str, body: Value) -> anyhow::Result<Reply> {
        self.call(reqwest::Method::PATCH, path, Some(user), Some(&body))
            .await
    }

    pub async fn put(&self, path: &str, user: &str, body: Value) -> anyhow::Result<Reply> {
        self.call(reqwest::Method::PUT, path, Some(user), Some(&body))
            .await
    }

    pub async fn delete(&self, path: &str, user: &str) -> anyhow::Result<Reply> {
        self.call(reqwest::Method::DELETE, path, Some(user), None)
            .await
    }

    /// POSTs `body` to create something and returns what was created; fails unless the
    /// answer is 201 Created.
    pub async fn post_created(&self, path: &str, user: &str, body: Value) -> anyhow::Result<Value> {
        let reply = self.post(path, user, body).await?;
        anyhow::ensure!(
            reply.status == 201,
            "POST {path} created nothing: {reply:?}"
        );
        Ok(reply.body)
    }

    /// Creates a profile and asserts it worked.
    pub async fn create_profile(&self, user: &str, body: Value) -> anyhow::Result<Value> {
        self.post_created("/v1/profiles", user, body).await
    }

    /// A request of `user` carrying `Idempotency-Key: key`, for a test to send (and send
    /// again) with [`TestStack::raw`].
    pub fn request_with_idempotency_key(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &str,
        key: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(token_for(user))
            .header("idempotency-key", key)
    }

    pub fn table(&self) -> String {
        self.stack.table_name().unwrap_or_default().to_owned()
    }

    pub fn websocket_url(&self) -> String {
        self.stack.websocket_url().unwrap_or_default()
    }

    pub fn connections_url(&self) -> String {
        self.stack.connections_url().unwrap_or_default()
    }

    /// A DynamoDB client on the stack's moto, to arrange and inspect raw items.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.stack.moto_endpoint())
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&config)
    }

    /// An SDK configuration that signs as `function` (its access key) on the endpoint
    /// the functions use, so every call is held to that function's role, as the
    /// function's own calls are.
    pub async fn sdk_config_as(&self, function: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.stack.functions_aws_endpoint())
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                agora_local::iam::access_key_id(function),
                "test",
                None,
                None,
                "tests",
            ))
            .load()
            .await
    }

    /// A client of the stack's `@connections` management API, to push to, describe or
    /// drop a WebSocket connection the way the server side does.
    pub async fn management_client(&self) -> aws_sdk_apigatewaymanagement::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.connections_url())
            .credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await;
        aws_sdk_apigatewaymanagement::Client::new(&config)
    }

    /// Writes items (JSON objects with their keys) straight into the table, 25 per
    /// BatchWriteItem, retrying unprocessed ones: arranging data without the API.
    pub async fn put_items(&self, items: &[Value]) -> anyhow::Result<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let client = self.dynamodb().await;
        let table = self.table();
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|value| {
                    let item = serde_dynamo::to_item(value)?;
                    Ok(WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                        .build())
                })
                .collect::<anyhow::Result<_>>()?;
            while !pending.is_empty() {
                let output = client
                    .batch_write_item()
                    .request_items(&table, pending)
                    .send()
                    .await?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Gives `user` the record of an account at trust `level` (0–3): stats meeting
    /// exactly that level's requirement, written straight into the table (what months
    /// of reading and taking part would leave). Level 0 removes any.
    pub async fn trusted_at(&self, user: &str, level: u8) -> anyhow::Result<()> {
        use agora::contexts::trust::REQUIREMENTS;
        let Some(requirement) = REQUIREMENTS.iter().find(|r| r.level.number() == level) else {
            return self.delete_item(&format!("USER#{user}"), "TRUST").await;
        };
        let since = time::OffsetDateTime::now_utc()
            - time::Duration::days(requirement.account_age_days + 1);
        self.put_item(&serde_json::json!({
            "PK": format!("USER#{user}"),
            "SK": "TRUST",
            "entity": "TrustStats",
            "userId": user,
            "since": since.format(&time::format_description::well_known::Rfc3339)?,
            "topicsEntered": requirement.topics_entered,
            "postsRead": requirement.posts_read,
            "replies": requirement.replies,
            "reactionsReceived": requirement.reactions_received,
            "acceptedAnswers": requirement.accepted_answers,
            "flagsUpheld": 0,
        }))
        .await
    }

    /// Writes one item (a JSON object with its keys) straight into the table with
    /// PutItem, replacing any item with the same keys.
    pub async fn put_item(&self, item: &Value) -> anyhow::Result<()> {
        self.dynamodb()
            .await
            .put_item()
            .table_name(self.table())
            .set_item(Some(serde_dynamo::to_item(item)?))
            .send()
            .await?;
        Ok(())
    }

    /// Deletes one item straight from the table (what TTL expiry or another service's
    /// removal does).
    pub async fn delete_item(&self, pk: &str, sk: &str) -> anyhow::Result<()> {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.dynamodb()
            .await
            .delete_item()
            .table_name(self.table())
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .send()
            .await?;
        Ok(())
    }

    /// One item of the table as plain JSON (consistent read), `None` when absent.
    pub async fn item(&self, pk: &str, sk: &str) -> anyhow::Result<Option<Value>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let output = self
            .dynamodb()
            .await
            .get_item()
            .table_name(self.table())
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(output.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// How many items of the given `entity` one partition holds.
    pub async fn count_entities(&self, pk: &str, entity: &str) -> anyhow::Result<usize> {
        Ok(self
            .partition(pk)
            .await?
            .iter()
            .filter(|item| item["entity"] == entity)
            .count())
    }

    /// Every item in one partition of the stack's table.
    pub async fn partition(&self, pk: &str) -> anyhow::Result<Vec<Value>> {
        let output = self
            .dynamodb()
            .await
            .query()
            .table_name(self.table())
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item(item)?))
            .collect()
    }

    /// Polls `probe` until it returns `Some`, or fails after [`EVENTUALLY`].
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut probe: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            if let Some(value) = probe().await? {
                return Ok(value);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn reply(response: reqwest::Response) -> anyhow::Result<Reply> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok(Reply {
        status,
        content_type,
        body,
    })
}

/// A real WebSocket client of the stack's WebSocket API, signed in as one user. Frames
/// that arrive while a test waits for another are kept, in order, for later
/// expectations.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pending: std::collections::VecDeque<Value>,
    next_request: u64,
}

/// The longest a test waits for one frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(20);

impl WsClient {
    pub async fn connect(stack: &TestStack, user: &str) -> anyhow::Result<Self> {
        Self::connect_with_token(stack, &token_for(user)).await
    }

    /// Connects with a given token (e.g. one kept across an account deletion).
    pub async fn connect_with_token(stack: &TestStack, token: &str) -> anyhow::Result<Self> {
        let url = format!("{}?token={token}", stack.websocket_url());
        let (socket, _) =
            tokio::time::timeout(FRAME_WAIT, tokio_tungstenite::connect_async(url)).await??;
        Ok(Self {
            socket,
            pending: Default::default(),
            next_request: 0,
        })
    }

    /// Sends a text frame as it is (malformed frames included).
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        use futures_util::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::text(
                text.to_owned(),
            ))
            .await?;
        Ok(())
    }

    /// Sends an action with a fresh `requestId` and returns its reply (ack, error or
    /// pong), leaving other frames for later.
    pub async fn request(&mut self, mut frame: Value) -> anyhow::Result<Value> {
        self.next_request += 1;
        let id = format!("req-{}", self.next_request);
        frame["requestId"] = Value::String(id.clone());
        self.send_text(&frame.to_string()).await?;
        self.expect(&format!("the reply to {id}"), |f| {
            f["requestId"] == id.as_str()
        })
        .await
    }

    /// The first frame (kept or new) matching `wanted`, within [`FRAME_WAIT`].
    pub async fn expect(
        &mut self,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        self.expect_within(what, FRAME_WAIT, wanted).await
    }

    pub async fn expect_within(
        &mut self,
        what: &str,
        wait: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        if let Some(index) = self.pending.iter().position(&wanted) {
            return self
                .pending
                .remove(index)
                .ok_or_else(|| anyhow::anyhow!("a kept frame vanished"));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next_frame())
                .await
                .map_err(|_| anyhow::anyhow!("timed out waiting for {what}"))??;
            if wanted(&frame) {
                return Ok(frame);
            }
            self.pending.push_back(frame);
        }
    }

    /// True when no frame matching `unwanted` arrives within `wait`.
    pub async fn stays_quiet(
        &mut self,
        wait: Duration,
        unwanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<bool> {
        Ok(self.expect_within("nothing", wait, unwanted).await.is_err())
    }

    /// The next frame (the oldest kept one, or a new one), or `None` when none arrives
    /// within `wait`. Unlike [`WsClient::stays_quiet`], a closed socket is an error.
    pub async fn next_within(&mut self, wait: Duration) -> anyhow::Result<Option<Value>> {
        if let Some(frame) = self.pending.pop_front() {
            return Ok(Some(frame));
        }
        match tokio::time::timeout(wait, self.next_frame()).await {
            Ok(frame) => frame.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// True when the server closes the socket within `wait` (frames before the close
    /// are skipped).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.next_frame()).await {
                Ok(Ok(_)) => continue,
                Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Every frame (kept ones first) until the server closes the socket; an error when
    /// it is still open after `wait`.
    pub async fn frames_until_closed(&mut self, wait: Duration) -> anyhow::Result<Vec<Value>> {
        let mut frames: Vec<Value> = self.pending.drain(..).collect();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.next_frame()).await {
                Ok(Ok(frame)) => frames.push(frame),
                Ok(Err(_)) => return Ok(frames),
                Err(_) => anyhow::bail!("still open after {wait:?}; frames: {frames:?}"),
            }
        }
    }

    /// Every frame received so far that matches `wanted`, taken out of the kept ones.
    pub fn take_kept(&mut self, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (taken, kept): (Vec<Value>, Vec<Value>) =
            self.pending.drain(..).partition(|f| wanted(f));
        self.pending = kept.into();
        taken
    }

    async fn next_frame(&mut self) -> anyhow::Result<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = self
                .socket
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
            match message {
                Message::Text(text) => return Ok(serde_json::from_str(&text)?),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => anyhow::bail!("unexpected frame {other:?}"),
            }
        }
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.socket.close(None).await?;
        Ok(())
    }
}
