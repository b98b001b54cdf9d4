//! DynamoDB request counts per API call on the local stack (a report, not a timed test):
//! every read endpoint and the main writes are called at two data sizes — a small one
//! (3 connections, incoming and outgoing requests, blocks, topics in a category and a
//! tag, edits, replies, reactions, likes, comments and search hits) and a large one (60 of
//! each) — with the same page size, and the table shows how many DynamoDB operations each
//! call made, as counted by the SDK interceptor of `shared/src/store.rs` and exposed by
//! the edge as `x-agora-dynamodb-requests` (`AGORA_EXPOSE_REQUEST_COUNTS=1`). A call
//! whose count differs between the sizes is marked `no`.
//!
//! Profiles, topics, replies, reactions and activities are arranged through the HTTP
//! API; connections, requests, blocks, edit history, likes and comments are written as
//! items in the contract's shapes (`docs/data-model.md`), because moto copies the whole
//! table for every TransactWriteItems and thousands of API writes exhaust its memory.
//! The stream functions still process them (notifications, feed fan-out, counters).
//!
//! Run after a build with `cargo run -p agora-tests --bin request_counts -- [small]
//! [large]` (defaults 3 and 60); the exit status is non-zero only when the data could
//! not be arranged (a call that could not be measured shows its error in the table).

use std::time::Duration;

use agora_tests::{AUDIENCE, ISSUER, JWT_SECRET, TestStack, new_user, spawn_with};
use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

/// The page size of every list call, at both sizes.
const PAGE: usize = 20;
/// Concurrent calls while arranging data (the measured calls are sequential).
const PARALLEL: usize = 1;
/// Upper bound for the stream functions to settle after each arranging phase.
const SETTLE: Duration = Duration::from_secs(600);

/// One measured call: its status, body and DynamoDB operation count.
struct Call {
    status: u16,
    body: Value,
    requests: Option<u64>,
}

/// A table row: the count at each size, or the failure that prevented it.
struct Row {
    endpoint: String,
    kind: &'static str,
    small: Result<u64, String>,
    large: Result<u64, String>,
}

/// A token with `roles` (categories need `admin`).
fn token(user: &str, roles: &[&str]) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "sub": user, "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "exp": now + 3600, "roles": roles,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap_or_default()
}

async fn call(
    stack: &TestStack,
    method: Method,
    path: &str,
    user: &str,
    roles: &[&str],
    body: Option<&Value>,
    idempotency_key: Option<&str>,
) -> anyhow::Result<Call> {
    let mut request = stack
        .http
        .request(method.clone(), stack.url(path))
        .bearer_auth(token(user, roles));
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("{method} {path}"))?;
    let status = response.status().as_u16();
    let requests = agora_tests::dynamodb_requests_of(&response);
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Call {
        status,
        body,
        requests,
    })
}

/// A call that must succeed with `expected` while arranging data.
async fn arrange(
    stack: &TestStack,
    method: Method,
    path: &str,
    user: &str,
    body: Value,
    expected: u16,
) -> anyhow::Result<Value> {
    let roles: &[&str] = if path == "/v1/categories" {
        &["admin"]
    } else {
        &["member"]
    };
    // A loaded machine makes moto slow (functions time out, moto answers 500): retry
    // under one Idempotency-Key. A failed attempt may still have committed, so after one
    // a 4xx (already exists, already accepted) counts as done.
    let key = ulid::Ulid::new().to_string();
    let mut uncertain = false;
    for attempt in 1..=8u32 {
        let reply = call(
            stack,
            method.clone(),
            path,
            user,
            roles,
            Some(&body),
            Some(&key),
        )
        .await;
        let retry = match &reply {
            Ok(r) if r.status == expected => return Ok(r.body.clone()),
            Ok(r)
                if r.status == 409
                    && r.body["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("in progress")) =>
            {
                true
            }
            Ok(r) if r.status >= 500 => true,
            Ok(r) if uncertain && r.status < 500 => {
                eprintln!(
                    "  {method} {path}: {} after a failed attempt; taken as done",
                    r.status
                );
                return Ok(Value::Null);
            }
            Ok(r) => anyhow::bail!("{method} {path} as {user}: {} {}", r.status, r.body),
            Err(_) => true,
        };
        if retry && attempt < 8 {
            if !matches!(&reply, Ok(r) if r.status == 409) {
                uncertain = true;
            }
            tokio::time::sleep(Duration::from_secs(u64::from(attempt.min(4)) * 2)).await;
        } else {
            let reply = reply?;
            anyhow::bail!("{method} {path} as {user}: {} {}", reply.status, reply.body);
        }
    }
    anyhow::bail!("{method} {path} as {user}: no attempt succeeded")
}

/// Runs arranging calls a few at a time; fails on the first failure.
async fn all<F>(calls: Vec<F>) -> anyhow::Result<Vec<Value>>
where
    F: std::future::Future<Output = anyhow::Result<Value>>,
{
    futures_util::stream::iter(calls)
        .buffered(PARALLEL)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn field(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_default().to_owned()
}

/// The users and objects of one data size.
struct World {
    n: usize,
    /// `sm` or `lg`: names, handles, skills and tags of this size start with it.
    tag: &'static str,
    hub: String,
    /// Connected to the hub.
    connected: Vec<String>,
    /// Sent the hub a request (pending).
    incoming: Vec<String>,
    /// The hub sent them a request (pending).
    outgoing: Vec<String>,
    /// Blocked by the hub.
    blocked: Vec<String>,
    /// Strangers: the search hits and suggestions; they reply, react, like and comment.
    strangers: Vec<String>,
    category: String,
    topic: String,
    activity: String,
    /// The hub's private community: the connected users are members (each started a
    /// topic in it), the incoming ones asked to join, the blocked ones are banned.
    community: String,
    /// Its chat channel: the hub and each connected member sent a message in it.
    channel: String,
    /// The hub's free course of `n` lessons: each connected user enrolled, completed
    /// its first lesson and reviewed it.
    course: String,
    /// The hub's weekly event in its community: each connected user answered going to
    /// its first occurrence and shared a resource.
    event: String,
}

impl World {
    fn new(n: usize, tag: &'static str) -> Self {
        let users = |role: &str| (0..n).map(|_| new_user(&format!("{tag}{role}"))).collect();
        Self {
            n,
            tag,
            hub: new_user(&format!("{tag}hub")),
            connected: users("conn"),
            incoming: users("in"),
            outgoing: users("out"),
            blocked: users("blk"),
            strangers: users("srch"),
            category: format!("cat-{tag}"),
            topic: String::new(),
            activity: String::new(),
            community: String::new(),
            course: String::new(),
            event: String::new(),
            channel: String::new(),
        }
    }
}

fn profile(handle: &str, name: &str, skill: Option<&str>) -> Value {
    let mut body = json!({
        "handle": handle, "displayName": name, "occupation": "Engineer",
        "privacy": {"profileVisibility": "public"},
    });
    if let Some(skill) = skill {
        body["skills"] = json!([skill]);
    }
    body
}

/// The profiles of a size: the hub and the strangers.
async fn create_profiles(stack: &TestStack, w: &World) -> anyhow::Result<()> {
    let t = w.tag;
    let hub = profile(
        &format!("{t}hub"),
        &format!("{t}hub Owner"),
        Some(&format!("{t}skill")),
    );
    arrange(stack, Method::POST, "/v1/profiles", &w.hub, hub, 201).await?;
    // Only the strangers need profiles (search hits, suggestions); the other groups are
    // written as items below, and their missing profiles cost the lists no request.
    let mut calls = Vec::new();
    for (i, user) in w.strangers.iter().enumerate() {
        let body = profile(
            &format!("{t}srch{i:03}"),
            &format!("{t}srch {i:03}"),
            Some(&format!("{t}skill")),
        );
        calls.push(arrange(
            stack,
            Method::POST,
            "/v1/profiles",
            user,
            body,
            201,
        ));
    }
    all(calls).await?;
    Ok(())
}

/// Topics, edits, replies and reactions of a size; returns its first topic.
async fn create_discussions(stack: &TestStack, w: &mut World) -> anyhow::Result<()> {
    let t = w.tag;
    let mut topics = Vec::new();
    for i in 0..w.n {
        let body = json!({
            "title": format!("{t} topic {i}"), "body": "What do you think?",
            "categoryId": w.category, "tags": [format!("{t}tag")],
        });
        let topic = arrange(stack, Method::POST, "/v1/topics", &w.hub, body, 201).await?;
        let id = field(&topic, "topicId");
        if !id.is_empty() {
            topics.push(id);
        }
    }
    w.topic = topics.first().cloned().context("no topic")?;
    // One edit through the API, the rest as history items (each edit is a transaction,
    // and moto copies the whole table for every transaction).
    let path = format!("/v1/topics/{}", w.topic);
    let body = json!({"body": "What do you think? (edited)"});
    arrange(stack, Method::PATCH, &path, &w.hub, body, 200).await?;
    let at = agora::ids::now_rfc3339();
    let history = (1..w.n)
        .map(|i| {
            let edit = ulid::Ulid::new().to_string();
            json!({"PK": format!("TOPIC#{}", w.topic), "SK": format!("HIST#{}#{edit}", w.topic),
                   "entity": "EditHistory", "topicId": w.topic, "targetId": w.topic, "editId": edit,
                   "editorId": w.hub, "editedAt": at, "body": format!("draft {i}")})
        })
        .collect();
    put_items(stack, history).await?;
    let replies = format!("/v1/topics/{}/replies", w.topic);
    let reactions = format!("/v1/topics/{0}/reactions/{0}", w.topic);
    let mut calls = Vec::new();
    for (i, user) in w.strangers.iter().enumerate() {
        calls.push(arrange(
            stack,
            Method::POST,
            &replies,
            user,
            json!({"body": format!("Reply {i}")}),
            201,
        ));
    }
    all(calls).await?;
    let mut calls = Vec::new();
    for user in &w.strangers {
        calls.push(arrange(
            stack,
            Method::PUT,
            &reactions,
            user,
            json!({"reaction": "like"}),
            200,
        ));
    }
    all(calls).await?;
    Ok(())
}

/// The hub's activities (three), likes and comments on the first one.
async fn create_activities(stack: &TestStack, w: &mut World) -> anyhow::Result<()> {
    let mut first = None;
    for i in 0..3 {
        let body =
            json!({"verb": "share", "visibility": "public", "text": format!("{} note {i}", w.tag)});
        let activity = arrange(stack, Method::POST, "/v1/activities", &w.hub, body, 201).await?;
        let id = field(&activity, "activityId");
        if !id.is_empty() {
            first.get_or_insert(id);
        }
    }
    w.activity = first.context("no activity")?;
    // Likes and comments as items (the contract's shapes), the counters set to match.
    let at = agora::ids::now_rfc3339();
    let pk = format!("ACT#{}", w.activity);
    let mut items = Vec::new();
    for (i, user) in w.strangers.iter().enumerate() {
        items.push(
            json!({"PK": pk, "SK": format!("LIKE#{user}"), "entity": "ActivityLike",
                          "activityId": w.activity, "userId": user, "createdAt": at}),
        );
        let comment = ulid::Ulid::new().to_string();
        items.push(
            json!({"PK": pk, "SK": format!("COMMENT#{comment}"), "entity": "ActivityComment",
                          "commentId": comment, "activityId": w.activity, "authorId": user,
                          "text": format!("Comment {i}"), "createdAt": at}),
        );
    }
    put_items(stack, items).await?;
    let count = AttributeValue::N(w.strangers.len().to_string());
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S("META".into()))
        .update_expression("SET likeCount = :n, commentCount = :n")
        .expression_attribute_values(":n", count)
        .send()
        .await?;
    Ok(())
}

/// Connections, pending requests both ways and blocks of the hub, as the items the
/// connections function writes (their stream records still reach the notifier and the
/// feed fan-out). Each member's side of a connection is the accepter's, so its
/// connectionMade activity fans out to the hub.
/// The hub's private community (see [`World::community`]), arranged through the API.
async fn create_community(stack: &TestStack, w: &mut World) -> anyhow::Result<()> {
    let hub = w.hub.as_str();
    let body = json!({"name": format!("{} circle", w.tag), "slug": format!("{}-circle-{}", w.tag, ulid::Ulid::new().to_string().to_lowercase()),
                      "kind": "private", "tags": [format!("{}ctag", w.tag)]});
    let community = arrange(stack, Method::POST, "/v1/communities", hub, body, 201).await?;
    let id = field(&community, "communityId");
    let invite = arrange(
        stack,
        Method::POST,
        &format!("/v1/communities/{id}/invites"),
        hub,
        json!({}),
        201,
    )
    .await?;
    let accept = format!("/v1/invites/{}/accept", field(&invite, "code"));
    for member in &w.connected {
        arrange(stack, Method::POST, &accept, member, json!({}), 201).await?;
        let topic = json!({"title": "Hello circle", "body": "Glad to be here", "communityId": id});
        arrange(stack, Method::POST, "/v1/topics", member, topic, 201).await?;
    }
    let join = format!("/v1/communities/{id}/join");
    for asker in &w.incoming {
        arrange(stack, Method::POST, &join, asker, json!({}), 202).await?;
    }
    for banned in &w.blocked {
        let path = format!("/v1/communities/{id}/bans/{banned}");
        arrange(stack, Method::PUT, &path, hub, json!({}), 200).await?;
    }
    let path = format!("/v1/communities/{id}/channels");
    let channel = arrange(
        stack,
        Method::POST,
        &path,
        hub,
        json!({"name": "general"}),
        201,
    )
    .await?;
    let channel = field(&channel, "roomId");
    let send = format!("/v1/rooms/{channel}/messages");
    for sender in std::iter::once(hub).chain(w.connected.iter().map(String::as_str)) {
        let message = json!({"text": "hello", "clientMessageId": ulid::Ulid::new().to_string()});
        arrange(stack, Method::POST, &send, sender, message, 201).await?;
    }
    let body = json!({"title": "Weekly meetup", "start": "2027-06-01T18:00", "end": "2027-06-01T19:00",
                      "timeZone": "UTC", "location": "Library",
                      "recurrence": {"frequency": "weekly", "count": 10}});
    let event = arrange(
        stack,
        Method::POST,
        &format!("/v1/communities/{id}/events"),
        hub,
        body,
        201,
    )
    .await?;
    let event = field(&event, "eventId");
    for member in &w.connected {
        let rsvp = format!("/v1/events/{event}/occurrences/1/rsvp");
        arrange(
            stack,
            Method::PUT,
            &rsvp,
            member,
            json!({"status": "going"}),
            200,
        )
        .await?;
        let resource = json!({"kind": "link", "title": "A link", "url": "https://example.com/r"});
        arrange(
            stack,
            Method::POST,
            &format!("/v1/communities/{id}/resources"),
            member,
            resource,
            201,
        )
        .await?;
    }
    w.community = id;
    w.channel = channel;
    w.event = event;
    create_course(stack, w).await
}

/// The hub's course (see [`World::course`]), arranged through the API.
async fn create_course(stack: &TestStack, w: &mut World) -> anyhow::Result<()> {
    let hub = w.hub.as_str();
    let body = json!({"title": format!("{} course", w.tag), "level": "beginner",
                      "category": format!("{}-courses", w.tag),
                      "price": {"amountCents": 0, "currency": "EUR"}, "published": true});
    let course = arrange(stack, Method::POST, "/v1/courses", hub, body, 201).await?;
    let id = field(&course, "courseId");
    let lessons = format!("/v1/courses/{id}/lessons");
    let mut first = None;
    for n in 0..w.n {
        let lesson =
            json!({"title": format!("Lesson {n}"), "videoUrl": "https://videos.example.com/v"});
        let lesson = arrange(stack, Method::POST, &lessons, hub, lesson, 201).await?;
        first.get_or_insert_with(|| field(&lesson, "lessonId"));
    }
    let first = first.context("no lesson")?;
    for learner in &w.connected {
        let enroll = format!("/v1/courses/{id}/enrollment");
        arrange(stack, Method::POST, &enroll, learner, json!({}), 201).await?;
        let done = format!("/v1/courses/{id}/lessons/{first}/completion");
        arrange(stack, Method::PUT, &done, learner, json!({}), 200).await?;
        let review = format!("/v1/courses/{id}/review");
        arrange(
            stack,
            Method::PUT,
            &review,
            learner,
            json!({"rating": 4}),
            201,
        )
        .await?;
    }
    w.course = id;
    Ok(())
}

async fn create_network(stack: &TestStack, w: &World) -> anyhow::Result<()> {
    let at = agora::ids::now_rfc3339();
    let hub = w.hub.as_str();
    let pair = |a: &str, b: &str, state: &str, sender: &str, target: &str| {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        json!({"PK": format!("PAIR#{lo}#{hi}"), "SK": "PAIR", "entity": "ConnectionPair",
               "state": state, "senderId": sender, "targetId": target, "ignored": false,
               "createdAt": at, "updatedAt": at})
    };
    let request = |sender: &str, target: &str| {
        let attrs = json!({"senderId": sender, "targetId": target,
                           "message": "Let's connect", "createdAt": at});
        let mut incoming = json!({"PK": format!("USER#{target}"), "SK": format!("REQIN#{sender}"),
                                  "entity": "ConnectionRequest"});
        let mut outgoing = json!({"PK": format!("USER#{sender}"), "SK": format!("REQOUT#{target}"),
                                  "entity": "OutgoingConnectionRequest"});
        for item in [&mut incoming, &mut outgoing] {
            if let (Some(item), Some(attrs)) = (item.as_object_mut(), attrs.as_object()) {
                item.extend(attrs.clone());
            }
        }
        [
            incoming,
            outgoing,
            pair(sender, target, "pending", sender, target),
        ]
    };
    let mut items = Vec::new();
    for member in &w.connected {
        for (user, other) in [(hub, member.as_str()), (member.as_str(), hub)] {
            items.push(
                json!({"PK": format!("USER#{user}"), "SK": format!("CONN#{other}"),
                              "entity": "Connection", "userId": user, "otherUserId": other,
                              "requestedBy": hub, "createdAt": at}),
            );
        }
        items.push(pair(hub, member, "connected", hub, member));
    }
    for member in &w.incoming {
        items.extend(request(member, hub));
    }
    for member in &w.outgoing {
        items.extend(request(hub, member));
    }
    for member in &w.blocked {
        items.push(json!({"PK": format!("USER#{hub}"), "SK": format!("BLOCK#{member}"),
                          "entity": "Block", "blockerId": hub, "blockedId": member, "createdAt": at}));
        items.push(json!({"PK": format!("USER#{member}"), "SK": format!("BLOCKEDBY#{hub}"),
                          "entity": "BlockedBy", "blockerId": hub, "blockedId": member, "createdAt": at}));
    }
    put_items(stack, items).await
}

/// Writes items in the contract's shapes with BatchWriteItem (as the feed tests do).
async fn put_items(stack: &TestStack, items: Vec<Value>) -> anyhow::Result<()> {
    stack.put_items(&items).await
}

/// Items in a partition (optionally under an SK prefix), straight from the table.
async fn count_items(
    stack: &TestStack,
    client: &aws_sdk_dynamodb::Client,
    pk: &str,
    sk_prefix: &str,
) -> anyhow::Result<u64> {
    let mut total = 0u64;
    let mut start = None;
    loop {
        let mut query = client
            .query()
            .table_name(stack.table())
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .select(Select::Count)
            .set_exclusive_start_key(start);
        query = if sk_prefix.is_empty() {
            query.key_condition_expression("PK = :pk")
        } else {
            query
                .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
                .expression_attribute_values(":sk", AttributeValue::S(sk_prefix.to_owned()))
        };
        let output = query
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        total += output.count as u64;
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(total);
        }
    }
}

/// What the stream functions produce for the hubs: feed entries, notifications, skill
/// index entries and the first topic's counters.
async fn snapshot(stack: &TestStack, worlds: &[&World]) -> anyhow::Result<Vec<u64>> {
    let client = stack.dynamodb().await;
    let mut values = Vec::new();
    for w in worlds {
        values.push(count_items(stack, &client, &format!("FEED#{}", w.hub), "").await?);
        values.push(count_items(stack, &client, &format!("USER#{}", w.hub), "NOTIF").await?);
        values.push(count_items(stack, &client, &format!("SKILL#{}skill", w.tag), "").await?);
        if !w.topic.is_empty() {
            let topic = stack.partition(&format!("TOPIC#{}", w.topic)).await?;
            let meta = topic.iter().find(|i| i["SK"] == "META");
            let number = |v: &Value| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or(0)
            };
            values.push(meta.map(|m| number(&m["replyCount"])).unwrap_or(0));
            values.push(
                meta.map(|m| number(&m["reactionCounts"]["like"]))
                    .unwrap_or(0),
            );
        }
    }
    Ok(values)
}

/// Waits until the stream functions are done: the snapshot meets `ready` and stays the
/// same for three seconds.
async fn settle(
    stack: &TestStack,
    worlds: &[&World],
    what: &str,
    ready: impl Fn(&[u64]) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    let mut last = Vec::new();
    let mut same = 0;
    loop {
        let now = snapshot(stack, worlds).await?;
        same = if now == last { same + 1 } else { 0 };
        if ready(&now) && same >= 3 {
            eprintln!("  settled ({what}): {now:?}");
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the stream did not settle ({what}) within {SETTLE:?}: {now:?}"
        );
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One endpoint measured at both sizes; `reads` are called once first to warm up.
struct Bench<'a> {
    stack: &'a TestStack,
    rows: Vec<Row>,
}

impl Bench<'_> {
    async fn once(
        &self,
        method: Method,
        path: &str,
        user: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Result<u64, String> {
        // An overloaded moto makes a function time out now and then (502/500): the
        // same call again (a timed-out write may have committed: then it shows its 4xx).
        let mut attempt = 0;
        let reply = loop {
            attempt += 1;
            let reply = call(
                self.stack,
                method.clone(),
                path,
                user,
                &["member"],
                body,
                None,
            )
            .await
            .map_err(|e| format!("{e:#}"))?;
            if reply.status < 500 || attempt == 3 {
                break reply;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        if reply.status != expected {
            return Err(format!("HTTP {}", reply.status));
        }
        reply
            .requests
            .ok_or_else(|| "no x-agora-dynamodb-requests header".to_owned())
    }

    async fn read(&mut self, endpoint: &str, small: (&str, &str), large: (&str, &str)) {
        let mut counts = Vec::new();
        for (path, user) in [small, large] {
            // Warm-up call (a cold start), then the measured one.
            let _ = self.once(Method::GET, path, user, None, 200).await;
            counts.push(self.once(Method::GET, path, user, None, 200).await);
        }
        self.push(endpoint, "read", counts);
    }

    async fn write(
        &mut self,
        endpoint: &str,
        method: Method,
        expected: u16,
        small: (&str, &str, Value),
        large: (&str, &str, Value),
    ) {
        let mut counts = Vec::new();
        for (path, user, body) in [small, large] {
            counts.push(
                self.once(method.clone(), path, user, Some(&body), expected)
                    .await,
            );
        }
        self.push(endpoint, "write", counts);
    }

    fn push(&mut self, endpoint: &str, kind: &'static str, counts: Vec<Result<u64, String>>) {
        let mut counts = counts.into_iter();
        let missing = || Err("not measured".to_owned());
        self.rows.push(Row {
            endpoint: endpoint.to_owned(),
            kind,
            small: counts.next().unwrap_or_else(missing),
            large: counts.next().unwrap_or_else(missing),
        });
    }
}

/// The first notification id of a user's list.
async fn first_notification(stack: &TestStack, user: &str) -> anyhow::Result<String> {
    let reply = call(
        stack,
        Method::GET,
        "/v1/notifications?unread=true&limit=1",
        user,
        &["member"],
        None,
        None,
    )
    .await?;
    let id = reply.body["items"][0]["notificationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(!id.is_empty(), "{user} has no unread notification");
    Ok(id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let small_n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let large_n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(60);
    anyhow::ensure!(
        small_n >= 1 && large_n > small_n,
        "usage: request_counts [small >= 1] [large > small]"
    );
    let stack = spawn_with(|o| {
        o.environment_overrides
            .insert("AGORA_EXPOSE_REQUEST_COUNTS".into(), "1".into());
    })
    .await?;
    let started = std::time::Instant::now();
    let mut small = World::new(small_n, "sm");
    let mut large = World::new(large_n, "lg");
    let viewer = new_user("viewer");
    let admin = new_user("admin");

    eprintln!("arranging profiles ({small_n} and {large_n} per group)…");
    arrange(
        &stack,
        Method::POST,
        "/v1/profiles",
        &viewer,
        profile("viewer", "Viewer", None),
        201,
    )
    .await?;
    create_profiles(&stack, &small).await?;
    create_profiles(&stack, &large).await?;
    eprintln!("  profiles in {:.0?}", started.elapsed());

    // The global lists (categories, public timeline) are measured small first, before
    // the large size exists.
    let mut categories = vec![small.category.clone(), large.category.clone()];
    categories.extend((categories.len()..small_n).map(|i| format!("cat-extra-{i:03}")));
    for id in &categories {
        let body = json!({"id": id, "name": format!("Category {id}")});
        arrange(&stack, Method::POST, "/v1/categories", &admin, body, 201).await?;
    }
    create_activities(&stack, &mut small).await?;
    settle(&stack, &[&small], "small activities", |s| {
        s[0] >= small_n as u64 && s[2] >= small_n as u64
    })
    .await?;
    let mut bench = Bench {
        stack: &stack,
        rows: Vec::new(),
    };
    let page = format!("limit={PAGE}");
    let mut small_globals = Vec::new();
    for path in [
        format!("/v1/categories?{page}"),
        format!("/v1/timeline?{page}"),
    ] {
        let _ = bench.once(Method::GET, &path, &viewer, None, 200).await;
        small_globals.push(bench.once(Method::GET, &path, &viewer, None, 200).await);
    }
    for i in categories.len()..large_n {
        let id = format!("cat-extra-{i:03}");
        let body = json!({"id": id, "name": format!("Category {id}")});
        arrange(&stack, Method::POST, "/v1/categories", &admin, body, 201).await?;
    }

    eprintln!(
        "arranging discussions, activities and networks ({:.0?})…",
        started.elapsed()
    );
    create_discussions(&stack, &mut small).await?;
    eprintln!("  create_discussions done ({:.0?})", started.elapsed());
    create_discussions(&stack, &mut large).await?;
    eprintln!("  create_discussions done ({:.0?})", started.elapsed());
    create_activities(&stack, &mut large).await?;
    eprintln!("  create_activities done ({:.0?})", started.elapsed());
    create_network(&stack, &small).await?;
    eprintln!("  create_network done ({:.0?})", started.elapsed());
    create_network(&stack, &large).await?;
    eprintln!("  create_network done ({:.0?})", started.elapsed());
    create_community(&stack, &mut small).await?;
    create_community(&stack, &mut large).await?;
    eprintln!("  create_community done ({:.0?})", started.elapsed());
    let (s, l) = (small_n as u64, large_n as u64);
    settle(&stack, &[&small, &large], "everything", |v| {
        // feed ≥ topics + activities; notifications ≥ incoming requests + replies; the
        // reply and reaction counters caught up (then three unchanged snapshots)
        v[0] >= s + 3
            && v[1] >= 2 * s
            && v[3] >= s
            && v[4] >= s
            && v[5] >= l + 3
            && v[6] >= 2 * l
            && v[8] >= l
            && v[9] >= l
    })
    .await?;
    eprintln!("arranged in {:.0?}; measuring…", started.elapsed());

    let (sm, lg) = (&small, &large);
    let (sh, lh) = (sm.hub.as_str(), lg.hub.as_str());
    let v = viewer.as_str();
    let both = |f: &dyn Fn(&World) -> String| (f(sm), f(lg));

    // Profiles.
    bench
        .read("GET /v1/me", ("/v1/me", sh), ("/v1/me", lh))
        .await;
    let (a, b) = both(&|w| format!("/v1/profiles/{}", w.hub));
    bench.read("GET /v1/profiles/{id}", (&a, v), (&b, v)).await;
    let (a, b) = both(&|w| format!("/v1/profiles?q={}srch&{page}", w.tag));
    bench.read("GET /v1/profiles?q=", (&a, v), (&b, v)).await;
    let (a, b) = both(&|w| format!("/v1/profiles?skill={}skill&{page}", w.tag));
    bench
        .read("GET /v1/profiles?skill=", (&a, v), (&b, v))
        .await;

    // Connections.
    let list = format!("/v1/connections?{page}");
    bench
        .read("GET /v1/connections", (&list, sh), (&list, lh))
        .await;
    let incoming = format!("/v1/connections/requests?direction=incoming&{page}");
    bench
        .read(
            "GET /v1/connections/requests?direction=incoming",
            (&incoming, sh),
            (&incoming, lh),
        )
        .await;
    let outgoing = format!("/v1/connections/requests?direction=outgoing&{page}");
    bench
        .read(
            "GET /v1/connections/requests?direction=outgoing",
            (&outgoing, sh),
            (&outgoing, lh),
        )
        .await;
    let suggestions = format!("/v1/connections/suggestions?{page}");
    bench
        .read(
            "GET /v1/connections/suggestions",
            (&suggestions, sh),
            (&suggestions, lh),
        )
        .await;
    let blocks = format!("/v1/blocks?{page}");
    bench
        .read("GET /v1/blocks", (&blocks, sh), (&blocks, lh))
        .await;

    // Discussions.
    let mut globals = small_globals.into_iter();
    let path = format!("/v1/categories?{page}");
    let _ = bench.once(Method::GET, &path, v, None, 200).await;
    let large_categories = bench.once(Method::GET, &path, v, None, 200).await;
    let first = globals.next().unwrap_or_else(|| Err("not measured".into()));
    bench.push("GET /v1/categories", "read", vec![first, large_categories]);
    for sort in ["newest", "activity", "top"] {
        let (a, b) = both(&|w| format!("/v1/topics?category={}&sort={sort}&{page}", w.category));
        bench
            .read(
                &format!("GET /v1/topics?category=&sort={sort}"),
                (&a, v),
                (&b, v),
            )
            .await;
    }
    let (a, b) = both(&|w| format!("/v1/topics?tag={}tag&{page}", w.tag));
    bench.read("GET /v1/topics?tag=", (&a, v), (&b, v)).await;
    let (a, b) = both(&|w| format!("/v1/topics?author={}&{page}", w.hub));
    bench.read("GET /v1/topics?author=", (&a, v), (&b, v)).await;
    let (a, b) = both(&|w| format!("/v1/topics/{}", w.topic));
    bench.read("GET /v1/topics/{id}", (&a, v), (&b, v)).await;
    let (a, b) = both(&|w| format!("/v1/topics/{}/replies?{page}", w.topic));
    bench
        .read("GET /v1/topics/{id}/replies", (&a, v), (&b, v))
        .await;
    let (a, b) = both(&|w| format!("/v1/topics/{}/history?{page}", w.topic));
    bench
        .read("GET /v1/topics/{id}/history", (&a, v), (&b, v))
        .await;

    // Communities (read by their owner, the hub).
    for (name, path) in [
        ("GET /v1/communities/{id}", ""),
        ("GET /v1/communities/{id}/members", "/members"),
        ("GET /v1/communities/{id}/join-requests", "/join-requests"),
        ("GET /v1/communities/{id}/bans", "/bans"),
        ("GET /v1/communities/{id}/invites", "/invites"),
    ] {
        let (a, b) = both(&|w| format!("/v1/communities/{}{path}?{page}", w.community));
        bench.read(name, (&a, sh), (&b, lh)).await;
    }
    let mine = format!("/v1/me/communities?{page}");
    bench
        .read("GET /v1/me/communities", (&mine, sh), (&mine, lh))
        .await;
    let (a, b) = both(&|w| format!("/v1/communities?tag={}ctag&{page}", w.tag));
    bench
        .read("GET /v1/communities?tag=", (&a, v), (&b, v))
        .await;
    let (a, b) = both(&|w| format!("/v1/communities?q={}%20circle&{page}", w.tag));
    bench.read("GET /v1/communities?q=", (&a, v), (&b, v)).await;
    let (a, b) = both(&|w| format!("/v1/topics?community={}&{page}", w.community));
    bench
        .read("GET /v1/topics?community=", (&a, sh), (&b, lh))
        .await;
    let (a, b) = both(&|w| format!("/v1/communities/{}/channels", w.community));
    bench
        .read("GET /v1/communities/{id}/channels", (&a, sh), (&b, lh))
        .await;
    let (a, b) = both(&|w| format!("/v1/rooms/{}/messages?{page}", w.channel));
    bench
        .read("GET /v1/rooms/{channel}/messages", (&a, sh), (&b, lh))
        .await;
    let (a, b) = both(&|w| format!("/v1/rooms/{}", w.channel));
    bench
        .read("GET /v1/rooms/{channel}", (&a, sh), (&b, lh))
        .await;

    // Events and resources (read by the hub, who organizes them).
    let range = "from=2027-01-01T00:00:00Z&to=2027-12-01T00:00:00Z";
    let (a, b) = both(&|w| format!("/v1/communities/{}/events?{range}&{page}", w.community));
    bench
        .read("GET /v1/communities/{id}/events", (&a, sh), (&b, lh))
        .await;
    let (a, b) = both(&|w| format!("/v1/events/{}", w.event));
    bench.read("GET /v1/events/{id}", (&a, sh), (&b, lh)).await;
    let (a, b) = both(&|w| format!("/v1/events/{}/occurrences?{range}", w.event));
    bench
        .read("GET /v1/events/{id}/occurrences", (&a, sh), (&b, lh))
        .await;
    let (a, b) = both(&|w| format!("/v1/events/{}/occurrences/1/attendees?{page}", w.event));
    bench
        .read(
            "GET /v1/events/{id}/occurrences/{n}/attendees",
            (&a, sh),
            (&b, lh),
        )
        .await;
    let (a, b) = both(&|w| format!("/v1/communities/{}/resources?{page}", w.community));
    bench
        .read("GET /v1/communities/{id}/resources", (&a, sh), (&b, lh))
        .await;

    // Courses (read by their instructor, the hub; the catalog by the viewer).
    for (name, path) in [
        ("GET /v1/courses/{id}", ""),
        ("GET /v1/courses/{id}/lessons", "/lessons"),
        ("GET /v1/courses/{id}/enrollments", "/enrollments"),
        ("GET /v1/courses/{id}/reviews", "/reviews"),
    ] {
        let (a, b) = both(&|w| format!("/v1/courses/{}{path}?{page}", w.course));
        bench.read(name, (&a, sh), (&b, lh)).await;
    }
    let (a, b) = both(&|w| format!("/v1/courses?category={}-courses&{page}", w.tag));
    bench
        .read("GET /v1/courses?category=", (&a, v), (&b, v))
        .await;

    // Feed.
    let feed = format!("/v1/feed?{page}");
    bench.read("GET /v1/feed", (&feed, sh), (&feed, lh)).await;
    let path = format!("/v1/timeline?{page}");
    let _ = bench.once(Method::GET, &path, v, None, 200).await;
    let large_timeline = bench.once(Method::GET, &path, v, None, 200).await;
    let first = globals.next().unwrap_or_else(|| Err("not measured".into()));
    bench.push("GET /v1/timeline", "read", vec![first, large_timeline]);
    let (a, b) = both(&|w| format!("/v1/activities/{}", w.activity));
    bench
        .read("GET /v1/activities/{id}", (&a, v), (&b, v))
        .await;
    let (a, b) = both(&|w| format!("/v1/activities/{}/comments?{page}", w.activity));
    bench
        .read("GET /v1/activities/{id}/comments", (&a, v), (&b, v))
        .await;

    // Notifications.
    let all_notifications = format!("/v1/notifications?{page}");
    bench
        .read(
            "GET /v1/notifications",
            (&all_notifications, sh),
            (&all_notifications, lh),
        )
        .await;
    let unread = format!("/v1/notifications?unread=true&{page}");
    bench
        .read(
            "GET /v1/notifications?unread=true",
            (&unread, sh),
            (&unread, lh),
        )
        .await;
    let count = "/v1/notifications/unread-count";
    bench
        .read(
            "GET /v1/notifications/unread-count",
            (count, sh),
            (count, lh),
        )
        .await;
    let prefs = "/v1/notifications/preferences";
    bench
        .read(
            "GET /v1/notifications/preferences",
            (prefs, sh),
            (prefs, lh),
        )
        .await;

    // Writes, against the small and the large objects.
    let newcomers = (new_user("smnew"), new_user("lgnew"));
    bench
        .write(
            "POST /v1/profiles",
            Method::POST,
            201,
            (
                "/v1/profiles",
                &newcomers.0,
                profile("smsrchnew", "smsrch new", Some("smskill")),
            ),
            (
                "/v1/profiles",
                &newcomers.1,
                profile("lgsrchnew", "lgsrch new", Some("lgskill")),
            ),
        )
        .await;
    let send = "/v1/connections/requests";
    bench
        .write(
            "POST /v1/connections/requests",
            Method::POST,
            201,
            (send, &newcomers.0, json!({"userId": sh})),
            (send, &newcomers.1, json!({"userId": lh})),
        )
        .await;
    let (a, b) = (
        format!("/v1/connections/requests/{}/accept", newcomers.0),
        format!("/v1/connections/requests/{}/accept", newcomers.1),
    );
    bench
        .write(
            "POST /v1/connections/requests/{id}/accept",
            Method::POST,
            200,
            (&a, sh, json!({})),
            (&b, lh, json!({})),
        )
        .await;
    let topic_body = |w: &World| {
        json!({"title": "One more", "body": "Still thinking", "categoryId": w.category,
               "tags": [format!("{}tag", w.tag)]})
    };
    bench
        .write(
            "POST /v1/topics",
            Method::POST,
            201,
            ("/v1/topics", sh, topic_body(sm)),
            ("/v1/topics", lh, topic_body(lg)),
        )
        .await;
    let (a, b) = both(&|w| format!("/v1/topics/{}/replies", w.topic));
    bench
        .write(
            "POST /v1/topics/{id}/replies",
            Method::POST,
            201,
            (&a, v, json!({"body": "Me too"})),
            (&b, v, json!({"body": "Me too"})),
        )
        .await;
    let (a, b) = both(&|w| format!("/v1/topics/{0}/reactions/{0}", w.topic));
    bench
        .write(
            "PUT /v1/topics/{id}/reactions/{target}",
            Method::PUT,
            200,
            (&a, v, json!({"reaction": "helpful"})),
            (&b, v, json!({"reaction": "helpful"})),
        )
        .await;
    let activity = json!({"verb": "share", "visibility": "connections", "text": "Hello"});
    bench
        .write(
            "POST /v1/activities",
            Method::POST,
            201,
            ("/v1/activities", sh, activity.clone()),
            ("/v1/activities", lh, activity),
        )
        .await;
    let (a, b) = both(&|w| format!("/v1/activities/{}/like", w.activity));
    bench
        .write(
            "PUT /v1/activities/{id}/like",
            Method::PUT,
            204,
            (&a, v, json!({})),
            (&b, v, json!({})),
        )
        .await;
    let (a, b) = both(&|w| format!("/v1/activities/{}/comments", w.activity));
    bench
        .write(
            "POST /v1/activities/{id}/comments",
            Method::POST,
            201,
            (&a, v, json!({"text": "Nice"})),
            (&b, v, json!({"text": "Nice"})),
        )
        .await;
    let (a, b) = (
        format!(
            "/v1/notifications/{}/read",
            first_notification(&stack, sh).await?
        ),
        format!(
            "/v1/notifications/{}/read",
            first_notification(&stack, lh).await?
        ),
    );
    bench
        .write(
            "POST /v1/notifications/{id}/read",
            Method::POST,
            204,
            (&a, sh, json!({})),
            (&b, lh, json!({})),
        )
        .await;
    let read_all = "/v1/notifications/read-all";
    bench
        .write(
            "POST /v1/notifications/read-all",
            Method::POST,
            200,
            (read_all, sh, json!({})),
            (read_all, lh, json!({})),
        )
        .await;

    print_table(&bench.rows, small_n, large_n);
    // A call that could not be measured (e.g. a function timing out on an overloaded
    // moto) is a gap in the report, not a setup failure.
    for row in bench
        .rows
        .iter()
        .filter(|r| r.small.is_err() || r.large.is_err())
    {
        eprintln!("not measured at both sizes: {}", row.endpoint);
    }
    Ok(())
}

fn print_table(rows: &[Row], small: usize, large: usize) {
    let show = |r: &Result<u64, String>| match r {
        Ok(n) => n.to_string(),
        Err(e) => format!("error: {e}"),
    };
    let width = rows
        .iter()
        .map(|r| r.endpoint.len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:<5}  {:>9}  {:>9}  constant?",
        "endpoint",
        "kind",
        format!("small({small})"),
        format!("large({large})"),
    );
    println!("{}", "-".repeat(width + 42));
    for row in rows {
        let constant = match (&row.small, &row.large) {
            (Ok(a), Ok(b)) if a == b => "yes",
            (Ok(_), Ok(_)) => "no",
            _ => "?",
        };
        println!(
            "{:<width$}  {:<5}  {:>9}  {:>9}  {constant}",
            row.endpoint,
            row.kind,
            show(&row.small),
            show(&row.large),
        );
    }
    println!(
        "(limit={PAGE} on every list; counts are DynamoDB operations per call, retries not counted)"
    );
}
