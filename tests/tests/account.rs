//! Account erasure and export as jobs: `DELETE /v1/me` locks the account at once and
//! erases it in checkpointed chunks; `POST /v1/me/exports` writes an archive to S3 and
//! hands out a presigned URL that expires.

use std::time::{Duration, Instant};

use agora_tests::{
    JOB_TIMEOUT, TestStack, WsClient, clone_with_new_id, connection_item, new_user, spawn,
    spawn_with, token_now, unique_handle,
};
use reqwest::Method;
use serde_json::{Value, json};

fn profile(handle: &str, name: &str) -> Value {
    json!({
        "handle": handle, "displayName": name, "skills": ["Rust"],
        "occupation": "Engineer", "learningGoals": ["Go"],
        "privacy": {"profileVisibility": "public"},
    })
}

async fn member(stack: &TestStack, name: &str) -> anyhow::Result<String> {
    let user = new_user(name);
    stack
        .create_profile(
            &user,
            profile(&unique_handle(name), &format!("{name} Example")),
        )
        .await?;
    Ok(user)
}

fn id(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}

async fn item(stack: &TestStack, pk: &str, sk: &str) -> anyhow::Result<Value> {
    stack
        .item(pk, sk)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no item {pk} / {sk}"))
}

async fn send(stack: &TestStack, user: &str, room: &str, text: &str) -> anyhow::Result<Value> {
    stack
        .post_created(
            &format!("/v1/rooms/{room}/messages"),
            user,
            json!({"text": text, "clientMessageId": ulid::Ulid::new().to_string()}),
        )
        .await
}

/// How many bulk copies of each kind of item to write. Kinds that the stream functions
/// derive much from (topics, replies, activities: activities, fan-out, notifications)
/// are kept lower than the cheap ones, so the arrangement settles in reasonable time.
#[derive(Clone, Copy)]
struct Mix {
    topics: usize,
    replies: usize,
    activities: usize,
    comments: usize,
    messages: usize,
    notifications: usize,
    feed_entries: usize,
}

/// What the big arrangement made, for the assertions.
struct Arranged {
    topic: String,
    bea_topic: String,
    bea_activity: String,
    dm: String,
    group: String,
    ghosts: Vec<String>,
    direct_items: usize,
}

/// Ana gets a bit of everything through the API, then thousands of copies of the same
/// items through batch writes; the stream functions then derive their activities, feed
/// entries, notifications and inbox moves.
async fn arrange_a_busy_account(
    stack: &TestStack,
    ana: &str,
    bea: &str,
    mix: Mix,
) -> anyhow::Result<Arranged> {
    let category = stack.new_category("Erasure").await?;
    stack.connect_through_the_api(ana, bea).await?;
    let topic = stack
        .post_created(
            "/v1/topics",
            ana,
            json!({"title": "Ana's plans ana-secret-title", "body": "ana-secret-topic #bulk", "categoryId": category}),
        )
        .await?;
    let topic_id = id(&topic, "topicId");
    let bea_topic = stack
        .post_created(
            "/v1/topics",
            bea,
            json!({"title": "Bea asks", "body": "What now?", "categoryId": category}),
        )
        .await?;
    let bea_topic_id = id(&bea_topic, "topicId");
    let reply = stack
        .post_created(
            &format!("/v1/topics/{bea_topic_id}/replies"),
            ana,
            json!({"body": "ana-secret-reply"}),
        )
        .await?;
    let reply_id = id(&reply, "replyId");
    let reacted = stack
        .put(
            &format!("/v1/topics/{bea_topic_id}/reactions/{bea_topic_id}"),
            ana,
            json!({"reaction": "like"}),
        )
        .await?;
    anyhow::ensure!(reacted.status < 300, "react: {reacted:?}");
    let activity = stack
        .post_created(
            "/v1/activities",
            ana,
            json!({"verb": "share", "visibility": "connections", "text": "ana-secret-activity"}),
        )
        .await?;
    let activity_id = id(&activity, "activityId");
    let bea_activity = stack
        .post_created(
            "/v1/activities",
            bea,
            json!({"verb": "share", "visibility": "public", "text": "Bea's goal"}),
        )
        .await?;
    let bea_activity_id = id(&bea_activity, "activityId");
    let comment = stack
        .post_created(
            &format!("/v1/activities/{bea_activity_id}/comments"),
            ana,
            json!({"text": "ana-secret-comment"}),
        )
        .await?;
    let comment_id = id(&comment, "commentId");
    let liked = stack
        .put(
            &format!("/v1/activities/{bea_activity_id}/like"),
            ana,
            json!({}),
        )
        .await?;
    anyhow::ensure!(liked.status < 300, "like: {liked:?}");
    let prefs = stack
        .put(
            "/v1/notifications/preferences",
            ana,
            json!({"muted": ["reaction"]}),
        )
        .await?;
    anyhow::ensure!(prefs.status == 200, "prefs: {prefs:?}");
    let dm = stack
        .post("/v1/rooms/dm", ana, json!({"userId": bea}))
        .await?;
    anyhow::ensure!(dm.status == 201, "dm: {dm:?}");
    let dm = id(&dm.body, "roomId");
    let group = stack
        .post_created(
            "/v1/rooms",
            ana,
            json!({"name": "Ana's group", "memberIds": [bea]}),
        )
        .await?;
    let group = id(&group, "roomId");
    let dm_message = send(stack, ana, &dm, "ana-secret-dm").await?;
    let group_message = send(stack, ana, &group, "ana-secret-group").await?;
    send(stack, bea, &dm, "Bea answers").await?;
    let bea_reply = stack
        .post_created(
            &format!("/v1/topics/{topic_id}/replies"),
            bea,
            json!({"body": "Bea replies"}),
        )
        .await?;
    // Bea's answer in Ana's discussion is accepted (an activity of Bea's about it), and
    // Bea shares a public activity of Ana's.
    let accepted = stack
        .put(
            &format!("/v1/topics/{topic_id}/accepted-answer"),
            ana,
            json!({"replyId": id(&bea_reply, "replyId")}),
        )
        .await?;
    anyhow::ensure!(accepted.status < 300, "accept: {accepted:?}");
    let public = stack
        .post_created(
            "/v1/activities",
            ana,
            json!({"verb": "share", "visibility": "public", "text": "ana-public-activity"}),
        )
        .await?;
    stack
        .post_created(
            &format!("/v1/activities/{}/shares", id(&public, "activityId")),
            bea,
            json!({"text": "Bea shares"}),
        )
        .await?;
    let user = format!("USER#{ana}");
    let notification = stack
        .eventually("a notification for ana", || async {
            let items = stack.query_all(None, &user).await?;
            Ok(items.into_iter().find(|i| i["entity"] == "Notification"))
        })
        .await?;
    let notification_id = id(&notification, "notificationId");

    // Templates: the stored items of each kind, copied with fresh ids.
    let topic_items = vec![
        item(stack, &format!("TOPIC#{topic_id}"), "META").await?,
        item(stack, &user, &format!("TOPIC#{topic_id}")).await?,
        item(stack, "TAG#bulk", &format!("TOPIC#{topic_id}")).await?,
    ];
    let reply_items = vec![
        item(
            stack,
            &format!("TOPIC#{bea_topic_id}"),
            &format!("REPLY#{reply_id}"),
        )
        .await?,
        item(stack, &user, &format!("REPLY#{bea_topic_id}#{reply_id}")).await?,
    ];
    let activity_items = vec![
        item(stack, &format!("ACT#{activity_id}"), "META").await?,
        item(stack, &user, &format!("ACTIVITY#{activity_id}")).await?,
    ];
    let comment_items = vec![
        item(
            stack,
            &format!("ACT#{bea_activity_id}"),
            &format!("COMMENT#{comment_id}"),
        )
        .await?,
        item(
            stack,
            &user,
            &format!("ACTCOMMENT#{bea_activity_id}#{comment_id}"),
        )
        .await?,
    ];
    let mut message_items = Vec::new();
    for (room, message) in [(&dm, &dm_message), (&group, &group_message)] {
        let message_id = id(&message["message"], "messageId");
        let message_id = if message_id.is_empty() {
            id(message, "messageId")
        } else {
            message_id
        };
        let stored = item(stack, &format!("ROOM#{room}"), &format!("MSG#{message_id}")).await?;
        let client_id = id(&stored, "clientMessageId");
        let cmid = item(
            stack,
            &format!("ROOM#{room}"),
            &format!("CMID#{ana}#{client_id}"),
        )
        .await?;
        message_items.push((message_id, client_id, vec![stored, cmid]));
    }

    let feed_entry = stack
        .eventually("bea's activity in ana's feed", || async {
            let entries = stack.query_all(None, &format!("FEED#{ana}")).await?;
            Ok(entries
                .into_iter()
                .find(|e| e["SK"] == bea_activity_id.as_str()))
        })
        .await?;
    let mut bulk: Vec<Value> = Vec::new();
    for _ in 0..mix.topics {
        bulk.extend(clone_with_new_id(&topic_items, &topic_id)?.1);
    }
    for _ in 0..mix.replies {
        bulk.extend(clone_with_new_id(&reply_items, &reply_id)?.1);
    }
    for _ in 0..mix.activities {
        bulk.extend(clone_with_new_id(&activity_items, &activity_id)?.1);
    }
    for _ in 0..mix.comments {
        bulk.extend(clone_with_new_id(&comment_items, &comment_id)?.1);
    }
    for i in 0..mix.messages {
        let (message_id, client_id, items) = &message_items[i % message_items.len()];
        let (_, items) = clone_with_new_id(items, message_id)?;
        bulk.extend(clone_with_new_id(&items, client_id)?.1);
    }
    for _ in 0..mix.notifications {
        bulk.extend(clone_with_new_id(std::slice::from_ref(&notification), &notification_id)?.1);
    }
    for _ in 0..mix.feed_entries {
        bulk.extend(clone_with_new_id(std::slice::from_ref(&feed_entry), &bea_activity_id)?.1);
    }
    let ghosts: Vec<String> = (0..2).map(|i| new_user(&format!("ghost{i}"))).collect();
    let at = agora::ids::now_rfc3339();
    for ghost in &ghosts {
        let (low, high) = if ana < ghost.as_str() {
            (ana, ghost.as_str())
        } else {
            (ghost.as_str(), ana)
        };
        bulk.push(connection_item(ana, ghost, ghost, &at));
        bulk.push(connection_item(ghost, ana, ghost, &at));
        bulk.push(json!({
            "PK": format!("PAIR#{low}#{high}"), "SK": "PAIR", "entity": "ConnectionPair",
            "state": "connected", "senderId": ghost, "targetId": ana, "ignored": false,
            "createdAt": at, "updatedAt": at,
        }));
    }
    stack.put_items(&bulk).await?;
    // Bea's activity now carries every comment in its counter.
    let mut counted = item(stack, &format!("ACT#{bea_activity_id}"), "META").await?;
    counted["commentCount"] = json!(mix.comments + 1);
    stack.put_item(&counted).await?;
    Ok(Arranged {
        topic: topic_id,
        bea_topic: bea_topic_id,
        bea_activity: bea_activity_id,
        dm,
        group,
        ghosts,
        direct_items: bulk.len(),
    })
}

/// Items that may keep a deleted user's id, by design (docs/data-model.md, "Account
/// erasure and export"): the tombstone that refuses their tokens, and the stream
/// consumers' processed-record markers (a source key, TTL).
fn allowed_leftover(item: &Value, user: &str) -> bool {
    item["PK"] == format!("DELETED#{user}")
        || matches!(
            item["entity"].as_str(),
            Some("ProcessedRecord" | "ProcessedStreamRecord")
        )
}

#[tokio::test]
async fn an_account_with_thousands_of_items_is_erased_in_chunks_and_no_access_pattern_finds_it()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea) = (member(&stack, "ana").await?, member(&stack, "bea").await?);
    let mix = Mix {
        topics: 100,
        replies: 100,
        activities: 100,
        comments: 250,
        messages: 600,
        notifications: 1500,
        feed_entries: 1000,
    };
    let arranged = arrange_a_busy_account(&stack, &ana, &bea, mix).await?;
    let before = stack.await_quiet(&ana, Duration::from_secs(900)).await?;
    assert!(
        before >= 5000,
        "the account holds at least 5,000 items ({before}, {} written in bulk)",
        arranged.direct_items
    );

    let started = Instant::now();
    let deleted = stack.delete("/v1/me", &ana).await?;
    assert_eq!(deleted.status, 202, "{deleted:?}");
    let job = stack.await_erasure(&ana, Duration::from_secs(600)).await?;
    let took = started.elapsed();
    eprintln!(
        "erasure of {before} items mentioning the user ({} written in bulk) took {:.1} s in {} chunks",
        arranged.direct_items,
        took.as_secs_f64(),
        job["chunk"]
    );
    assert!(
        job["chunk"].as_u64().unwrap_or_default() > 1,
        "it ran in several chunks"
    );
    stack.await_quiet(&ana, Duration::from_secs(120)).await?;

    // Nothing in the whole table names her, except what the data model keeps on purpose.
    let left: Vec<Value> = stack
        .items_mentioning(&ana)
        .await?
        .into_iter()
        .filter(|item| !allowed_leftover(item, &ana))
        .collect();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for item in &left {
        let pk = item["PK"].as_str().unwrap_or_default();
        let prefix = pk.split('#').next().unwrap_or_default();
        *kinds
            .entry(format!("{prefix} {}", item["entity"]))
            .or_default() += 1;
    }
    assert!(
        left.is_empty(),
        "{} items still name ana: {kinds:?}; e.g. {:#?}",
        left.len(),
        &left[..left.len().min(3)]
    );
    for text in [
        "ana-secret-title",
        "ana-secret-topic",
        "ana-secret-reply",
        "ana-secret-activity",
        "ana-public-activity",
        "ana-secret-comment",
        "ana-secret-dm",
        "ana-secret-group",
    ] {
        assert!(
            stack.items_mentioning(text).await?.is_empty(),
            "{text} survives"
        );
    }

    // And per access pattern, as the product reads them.
    let empty = |items: Vec<Value>, what: &str| {
        assert!(items.is_empty(), "{what}: {items:#?}");
    };
    empty(
        stack.query_all(None, &format!("USER#{ana}")).await?,
        "#12 my partition",
    );
    empty(
        stack.query_all(None, &format!("FEED#{ana}")).await?,
        "#21 my home feed",
    );
    empty(
        stack
            .query_all(Some("GSI1"), &format!("USER#{ana}"))
            .await?,
        "activities by author",
    );
    empty(
        stack
            .query_all(Some("GSI2"), &format!("AUTHOR#{ana}"))
            .await?,
        "#19 topics by author",
    );
    empty(
        stack
            .query_all(Some("GSI3"), &format!("AUTHOR#{ana}"))
            .await?,
        "#19 top topics by author",
    );
    empty(
        stack
            .query_all(Some("GSI2"), &format!("NOTIFS#{ana}"))
            .await?,
        "#23 notifications",
    );
    empty(
        stack
            .query_all(Some("GSI1"), &format!("UNREAD#{ana}"))
            .await?,
        "#23 unread",
    );
    empty(
        stack
            .query_all(Some("GSI2"), &format!("INBOX#{ana}"))
            .await?,
        "#42 inbox",
    );
    empty(
        stack
            .query_all(Some("GSI2"), &format!("ARCHIVED#{ana}"))
            .await?,
        "#42 archive",
    );
    for reader in arranged.ghosts.iter().chain([&bea]) {
        let entries = stack.query_all(None, &format!("FEED#{reader}")).await?;
        empty(
            entries
                .into_iter()
                .filter(|e| e["authorId"] == ana.as_str())
                .collect(),
            "#21 others' feeds",
        );
        assert!(
            stack
                .item(&format!("USER#{reader}"), &format!("CONN#{ana}"))
                .await?
                .is_none(),
            "#7"
        );
    }
    for pk in ["TAG#bulk", "SKILL#rust", "OCCUPATION#engineer", "GOAL#go"] {
        let items = stack.query_all(None, pk).await?;
        empty(
            items
                .into_iter()
                .filter(|i| i.to_string().contains(&ana))
                .collect(),
            pk,
        );
    }
    let topic = item(&stack, &format!("TOPIC#{}", arranged.topic), "META").await?;
    assert_eq!(
        (topic["deleted"].clone(), topic["body"].clone()),
        (json!(true), json!(""))
    );
    let thread = stack
        .query_all(None, &format!("TOPIC#{}", arranged.bea_topic))
        .await?;
    assert!(
        thread
            .iter()
            .filter(|i| i["entity"] == "Reply")
            .all(|r| r["body"] == "" && r["authorId"] != ana.as_str()),
        "#20 replies wiped"
    );
    let comments = stack
        .query_all(None, &format!("ACT#{}", arranged.bea_activity))
        .await?;
    let meta = comments
        .iter()
        .find(|i| i["SK"] == "META")
        .cloned()
        .unwrap_or_default();
    assert_eq!(meta["commentCount"], 0, "#22d counters follow");
    for room in [&arranged.dm, &arranged.group] {
        let items = stack.query_all(None, &format!("ROOM#{room}")).await?;
        empty(
            items
                .iter()
                .filter(|i| i.to_string().contains(&ana))
                .cloned()
                .collect(),
            "#39 room history, members, subscriptions",
        );
        assert_eq!(
            items.iter().filter(|i| i["entity"] == "Message").count(),
            usize::from(room == &arranged.dm),
            "bea's message stays"
        );
    }
    Ok(())
}

#[tokio::test]
async fn tokens_are_refused_and_sockets_closed_right_after_delete() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = member(&stack, "ana").await?;
    let before = token_now(&ana);
    let mut socket = WsClient::connect(&stack, &ana).await?;

    let deleted = stack
        .raw(stack.request_with_token(Method::DELETE, "/v1/me", &before))
        .await?;

    assert_eq!(deleted.status, 202, "{deleted:?}");
    assert!(deleted.body["jobId"].is_string() && deleted.body["requestedAt"].is_string());
    for (method, path) in [
        (Method::GET, "/v1/me"),
        (Method::PATCH, "/v1/me"),
        (Method::GET, "/v1/feed"),
        (Method::POST, "/v1/me/exports"),
    ] {
        let reply = stack
            .raw(
                stack
                    .request_with_token(method.clone(), path, &before)
                    .json(&json!({})),
            )
            .await?;
        assert!(
            matches!(reply.status, 401 | 403),
            "{method} {path}: {reply:?}"
        );
        assert_eq!(reply.content_type, "application/problem+json");
    }
    assert!(
        socket.closed_within(Duration::from_secs(10)).await,
        "the server closed the socket"
    );
    assert!(
        WsClient::connect_with_token(&stack, &before).await.is_err(),
        "a new socket is refused"
    );

    stack.await_erasure(&ana, JOB_TIMEOUT).await?;
    let after = stack
        .raw(stack.request_with_token(Method::GET, "/v1/me", &before))
        .await?;
    assert_eq!(after.status, 401, "the old token stays refused: {after:?}");
    assert_eq!(
        stack.get("/v1/me", &ana).await?.status,
        404,
        "a new sign-in has no profile"
    );
    Ok(())
}

#[tokio::test]
async fn a_recreated_account_can_open_a_direct_conversation_with_the_same_person_again()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea) = (member(&stack, "ana").await?, member(&stack, "bea").await?);
    stack.connect_through_the_api(&ana, &bea).await?;
    let first = stack
        .post("/v1/rooms/dm", &ana, json!({"userId": bea}))
        .await?;
    assert_eq!(first.status, 201, "{first:?}");

    stack.delete_account(&ana).await?;
    stack
        .create_profile(&ana, profile(&unique_handle("ana"), "Ana Again"))
        .await?;
    stack.connect_through_the_api(&ana, &bea).await?;
    let again = stack
        .post("/v1/rooms/dm", &ana, json!({"userId": bea}))
        .await?;

    assert_eq!(again.status, 201, "a new room, not the old one: {again:?}");
    assert_ne!(again.body["roomId"], first.body["roomId"]);
    Ok(())
}

#[tokio::test]
async fn a_redelivered_erasure_chunk_changes_nothing() -> anyhow::Result<()> {
    let stack = spawn_with(|options| {
        options
            .environment_overrides
            .insert("ACCOUNT_JOB_CHUNK_WORK".into(), "5".into());
    })
    .await?;
    let (ana, bea) = (member(&stack, "ana").await?, member(&stack, "bea").await?);
    stack.connect_through_the_api(&ana, &bea).await?;
    // Twelve posts in a minute: a member's (level 2) limit allows them.
    stack.trusted_at(&ana, 2).await?;
    for i in 0..12 {
        stack
            .post_created(
                "/v1/activities",
                &ana,
                json!({"verb": "share", "visibility": "public", "text": format!("goal {i}")}),
            )
            .await?;
    }
    let ticket = stack.delete_account(&ana).await?;
    let job = stack.erasure_job(&ana).await?.unwrap_or_default();
    assert!(
        job["chunk"].as_u64().unwrap_or_default() > 3,
        "several chunks: {job}"
    );
    // The account comes back; then every chunk message of the old job arrives again.
    stack
        .create_profile(&ana, profile(&unique_handle("ana"), "Ana Again"))
        .await?;

    let records: Vec<Value> = (0..job["chunk"].as_u64().unwrap_or_default())
        .map(|chunk| {
            json!({
                "messageId": format!("redelivered-{chunk}"),
                "body": json!({"kind": "erasure", "userId": ana, "jobId": ticket.body["jobId"], "chunk": chunk}).to_string(),
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    let answer = stack
        .stack
        .invoker()
        .invoke("AccountJobsFunction", json!({"Records": records}))
        .await
        .map_err(|e| anyhow::anyhow!("invoke: {e}"))?;

    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(
        stack.get("/v1/me", &ana).await?.status,
        200,
        "the new profile is untouched"
    );
    Ok(())
}

#[tokio::test]
async fn an_export_archive_holds_the_text_of_what_i_wrote_and_its_url_expires() -> anyhow::Result<()>
{
    let stack = spawn_with(|options| {
        options.environment_overrides.extend([
            ("EXPORT_URL_SECONDS".to_owned(), "2".to_owned()),
            ("ACCOUNT_JOB_CHUNK_WORK".to_owned(), "3".to_owned()),
        ]);
    })
    .await?;
    let (ana, bea) = (member(&stack, "ana").await?, member(&stack, "bea").await?);
    let mix = Mix {
        topics: 2,
        replies: 2,
        activities: 2,
        comments: 2,
        messages: 4,
        notifications: 2,
        feed_entries: 2,
    };
    let arranged = arrange_a_busy_account(&stack, &ana, &bea, mix).await?;

    let ready = stack.export_ready(&ana).await?;
    let (status, body) = stack
        .download(ready["downloadUrl"].as_str().unwrap_or_default())
        .await?;

    assert_eq!(status, 200, "{body}");
    for text in [
        "ana-secret-topic",
        "ana-secret-reply",
        "ana-secret-activity",
        "ana-secret-comment",
        "ana-secret-dm",
        "ana-secret-group",
        "\"muted\"",
    ] {
        assert!(body.contains(text), "the archive holds {text}");
    }
    let archive: Value = serde_json::from_str(&body)?;
    assert_eq!(archive["userId"], ana.as_str());
    assert!(
        archive["contexts"]["connections"]
            .as_array()
            .is_some_and(|c| c.len() >= 3),
        "connections"
    );
    assert!(!body.contains("Bea answers"), "only what I wrote");
    assert!(ready["expiresAt"].is_string());
    let _ = arranged;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (expired, _) = stack
        .download(ready["downloadUrl"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(expired, 403, "the URL has expired");
    let again = stack
        .get(
            &format!(
                "/v1/me/exports/{}",
                ready["exportId"].as_str().unwrap_or_default()
            ),
            &ana,
        )
        .await?;
    assert_eq!(again.status, 200);
    assert_ne!(
        again.body["downloadUrl"], ready["downloadUrl"],
        "a fresh URL on each read"
    );
    assert_eq!(
        stack
            .get(
                &format!(
                    "/v1/me/exports/{}",
                    ready["exportId"].as_str().unwrap_or_default()
                ),
                &bea
            )
            .await?
            .status,
        404,
        "only mine"
    );
    Ok(())
}

#[tokio::test]
async fn erasing_a_learner_and_host_gives_back_their_seat_review_and_enrollment_and_anonymizes_their_events()
-> anyhow::Result<()> {
    // Arrange: Ana teaches a course, organizes a community with an event and shares a
    // resource; Bea is enrolled, reviewed it, holds the event's only seat; Cy waits.
    let stack = spawn().await?;
    let (ana, bea, cy) = (
        member(&stack, "ana").await?,
        member(&stack, "bea").await?,
        member(&stack, "cy").await?,
    );
    let course = stack
        .post_created(
            "/v1/courses",
            &ana,
            json!({"title": "Saving", "level": "beginner", "category": "saving",
                   "price": {"amountCents": 0, "currency": "EUR"}, "published": true}),
        )
        .await?;
    let course = course["courseId"].as_str().unwrap_or_default().to_owned();
    stack
        .post(&format!("/v1/courses/{course}/enrollment"), &bea, json!({}))
        .await?;
    stack
        .put(
            &format!("/v1/courses/{course}/review"),
            &bea,
            json!({"rating": 2}),
        )
        .await?;
    let community = stack
        .post_created(
            "/v1/communities",
            &ana,
            json!({"name": "Savers", "slug": format!("savers-{}", &bea[bea.len() - 8..]),
                   "kind": "public", "circle": {"skill": "Saving", "level": "beginner"}}),
        )
        .await?;
    let community = community["communityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for user in [&bea, &cy] {
        stack
            .post(
                &format!("/v1/communities/{community}/join"),
                user,
                json!({}),
            )
            .await?;
    }
    let event = stack
        .post_created(
            &format!("/v1/communities/{community}/events"),
            &ana,
            json!({"title": "Clinic", "start": "2027-06-01T18:00", "end": "2027-06-01T19:00",
                   "timeZone": "UTC", "location": "Library", "capacity": 1}),
        )
        .await?;
    let event = event["eventId"].as_str().unwrap_or_default().to_owned();
    let rsvp = format!("/v1/events/{event}/occurrences/1/rsvp");
    stack.put(&rsvp, &bea, json!({"status": "going"})).await?;
    let waiting = stack.put(&rsvp, &cy, json!({"status": "going"})).await?;
    anyhow::ensure!(waiting.body["status"] == "waitlisted", "{waiting:?}");
    stack
        .post(
            &format!("/v1/communities/{community}/resources"),
            &bea,
            json!({"kind": "note", "title": "Tip", "note": "Pay yourself first."}),
        )
        .await?;
    let feed = stack
        .post("/v1/me/events/calendar-feed", &bea, json!({}))
        .await?;
    let feed_path = feed.body["path"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(feed.status == 201, "{feed:?}");

    // Act: Bea's account goes, then Ana's.
    stack.delete_account(&bea).await?;
    let feed_after = stack
        .call(reqwest::Method::GET, &feed_path, None, None)
        .await?;
    let course_after_bea = stack.get(&format!("/v1/courses/{course}"), &cy).await?;
    let cy_now = stack.get(&format!("/v1/events/{event}"), &cy).await?;
    let resources = stack
        .get(&format!("/v1/communities/{community}/resources"), &cy)
        .await?;
    stack.delete_account(&ana).await?;
    let course_after_ana = stack.get(&format!("/v1/courses/{course}"), &cy).await?;
    let event_after_ana = stack.get(&format!("/v1/events/{event}"), &cy).await?;

    // Assert
    assert_eq!(
        course_after_bea.body["enrollmentCount"], 0,
        "{course_after_bea:?}"
    );
    assert_eq!(course_after_bea.body["ratingCount"], 0);
    assert_eq!(
        cy_now.body["occurrences"][0]["myRsvp"], "going",
        "Bea's seat went to the head of the line: {cy_now:?}"
    );
    assert_eq!(cy_now.body["occurrences"][0]["going"], 1);
    assert_eq!(cy_now.body["occurrences"][0]["waitlisted"], 0);
    assert_eq!(resources.body["items"], json!([]), "her resource went");
    assert_eq!(feed_after.status, 404, "her calendar URL stopped working");
    assert_eq!(course_after_ana.status, 404, "her course went with her");
    assert_eq!(
        event_after_ana.status, 200,
        "the event stays the community's"
    );
    assert_eq!(event_after_ana.body["hostId"], "~erased");
    for user in [&bea, &ana] {
        let left: Vec<Value> = stack
            .items_mentioning(user)
            .await?
            .into_iter()
            .filter(|item| item["entity"] != "DeletedAccount")
            .collect();
        assert!(left.is_empty(), "nothing names {user}: {left:#?}");
    }
    Ok(())
}
