//! Notifications, end to end: source items (requests, connections, topics, replies,
//! reactions) are written directly in the issue-3 item contract's shapes, the local
//! stack's stream pump feeds them to the real `notifier` binary, and the real
//! `notifications` binary serves them over HTTP; pushes arrive on a real WebSocket.

use std::time::Duration;

use agora_tests::{Reply, TestStack, assert_problem, new_user, spawn, token_for};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const T0: &str = "2026-01-01T10:00:00.000Z";

fn at(second: u32) -> String {
    format!("2026-01-01T10:00:{second:02}.000Z")
}

/// Converts plain JSON into DynamoDB JSON (the shape of a stream image).
fn dynamo_json(value: &Value) -> Value {
    match value {
        Value::String(s) => json!({ "S": s }),
        Value::Number(n) => json!({ "N": n.to_string() }),
        Value::Bool(b) => json!({ "BOOL": b }),
        Value::Null => json!({ "NULL": true }),
        Value::Array(items) => json!({ "L": items.iter().map(dynamo_json).collect::<Vec<_>>() }),
        Value::Object(_) => json!({ "M": image(value) }),
    }
}

fn image(item: &Value) -> Option<Value> {
    item.as_object().map(|fields| {
        Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), dynamo_json(v)))
                .collect(),
        )
    })
}

/// One INSERT stream record of `item`, as the table's stream would deliver it.
fn insert_record(item: &Value, sequence: u64) -> Value {
    json!({
        "eventID": format!("redelivered-{sequence}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": { "PK": { "S": item["PK"] }, "SK": { "S": item["SK"] } },
            "NewImage": image(item),
            "SequenceNumber": format!("{sequence:030}"),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
    })
}

async fn put(stack: &TestStack, item: &Value) -> anyhow::Result<()> {
    stack
        .dynamodb()
        .await
        .put_item()
        .table_name(stack.table())
        .set_item(Some(serde_dynamo::to_item(item)?))
        .send()
        .await?;
    Ok(())
}

/// Re-invokes the notifier with a batch, as Lambda does when it redelivers one.
async fn redeliver(stack: &TestStack, items: &[&Value]) -> anyhow::Result<()> {
    let records: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| insert_record(item, i as u64 + 1))
        .collect();
    let response = stack
        .stack
        .invoker()
        .invoke("NotifierFunction", json!({ "Records": records }))
        .await?;
    anyhow::ensure!(
        response["batchItemFailures"]
            .as_array()
            .is_none_or(|f| f.is_empty()),
        "the redelivered batch failed: {response}"
    );
    Ok(())
}

fn connection_request(sender: &str, target: &str) -> Value {
    json!({
        "PK": format!("USER#{target}"), "SK": format!("REQIN#{sender}"),
        "entity": "ConnectionRequest", "senderId": sender, "targetId": target,
        "message": "Let's connect", "createdAt": T0
    })
}

fn topic(id: &str, author: &str, mentions: &[&str], created: &str) -> Value {
    json!({
        "PK": format!("TOPIC#{id}"), "SK": "META", "entity": "Topic", "topicId": id,
        "authorId": author, "categoryId": "general", "title": "How do I test streams?",
        "body": "Asking for a friend", "tags": ["rust"], "mentions": mentions,
        "createdAt": created, "updatedAt": created, "deleted": false, "replyCount": 0,
        "reactionCounts": {}, "viewCount": 0, "pinned": false
    })
}

fn reaction(topic_id: &str, target_author: &str, reactor: &str, created: &str) -> Value {
    json!({
        "PK": format!("TOPIC#{topic_id}"), "SK": format!("REACT#{topic_id}#{reactor}"),
        "entity": "Reaction", "topicId": topic_id, "targetId": topic_id,
        "targetAuthorId": target_author, "userId": reactor, "reaction": "like",
        "createdAt": created
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new())
}

async fn list(stack: &TestStack, user: &str, query: &str) -> anyhow::Result<Reply> {
    stack.get(&format!("/v1/notifications{query}"), user).await
}

async fn items(stack: &TestStack, user: &str) -> anyhow::Result<Vec<Value>> {
    let reply = list(stack, user, "").await?;
    anyhow::ensure!(reply.status == 200, "list failed: {reply:?}");
    Ok(reply.body["items"].as_array().cloned().unwrap_or_default())
}

async fn unread(stack: &TestStack, user: &str) -> anyhow::Result<u64> {
    let reply = stack.get("/v1/notifications/unread-count", user).await?;
    anyhow::ensure!(reply.status == 200, "count failed: {reply:?}");
    Ok(reply.body["unread"].as_u64().unwrap_or(u64::MAX))
}

/// Waits until `user` has exactly `count` notifications and returns them.
async fn await_items(stack: &TestStack, user: &str, count: usize) -> anyhow::Result<Vec<Value>> {
    stack
        .eventually(&format!("{count} notifications for {user}"), || async {
            let found = items(stack, user).await?;
            Ok((found.len() == count).then_some(found))
        })
        .await
}

async fn public_profile(stack: &TestStack, user: &str, name: &str) -> anyhow::Result<()> {
    let handle = format!("h_{}", &ulid::Ulid::new().to_string().to_lowercase()[16..]);
    stack
        .create_profile(user, json!({ "handle": handle, "displayName": name }))
        .await?;
    let reply = stack
        .put(
            "/v1/me/privacy",
            user,
            json!({ "profileVisibility": "public" }),
        )
        .await?;
    anyhow::ensure!(reply.status == 200, "privacy failed: {reply:?}");
    Ok(())
}

#[tokio::test]
async fn a_connection_request_notifies_its_target_once_even_when_the_stream_redelivers_it()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    public_profile(&stack, &ana, "Ana Lima").await?;
    let request = connection_request(&ana, &bo);

    put(&stack, &request).await?;
    let found = await_items(&stack, &bo, 1).await?;
    redeliver(&stack, &[&request, &request]).await?;

    assert_eq!(found[0]["type"], "connectionRequest");
    assert_eq!(found[0]["actorId"], ana.as_str());
    assert_eq!(found[0]["read"], false);
    assert_eq!(
        found[0]["summary"],
        "Ana Lima sent you a connection request"
    );
    assert_eq!(items(&stack, &bo).await?.len(), 1, "no duplicate");
    assert_eq!(unread(&stack, &bo).await?, 1, "the count is exact");
    assert!(
        items(&stack, &ana).await?.is_empty(),
        "the sender hears nothing"
    );
    Ok(())
}

#[tokio::test]
async fn an_accepted_connection_notifies_the_requester_only() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let copy = |owner: &str, other: &str| {
        json!({
            "PK": format!("USER#{owner}"), "SK": format!("CONN#{other}"),
            "entity": "Connection", "userId": owner, "otherUserId": other,
            "requestedBy": ana, "createdAt": T0
        })
    };

    put(&stack, &copy(&ana, &bo)).await?;
    put(&stack, &copy(&bo, &ana)).await?;
    let found = await_items(&stack, &ana, 1).await?;

    assert_eq!(found[0]["type"], "connectionAccepted");
    assert_eq!(found[0]["actorId"], bo.as_str());
    assert_eq!(
        found[0]["summary"], "Someone accepted your connection request",
        "a private profile's name is not shown"
    );
    assert!(items(&stack, &bo).await?.is_empty());
    assert_eq!(unread(&stack, &ana).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_reply_notifies_the_parent_and_topic_authors_and_the_mentioned_but_never_its_author()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy, dee) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("dee"),
    );
    let topic_id = unique("t");
    let reply = json!({
        "PK": format!("TOPIC#{topic_id}"), "SK": "REPLY#r0#r1", "entity": "Reply",
        "replyId": "r1", "topicId": topic_id, "authorId": cy, "parentReplyId": "r0",
        "parentAuthorId": bo, "topicAuthorId": ana, "mentions": [dee, cy, bo],
        "body": "Same here", "createdAt": T0, "deleted": false
    });

    put(&stack, &reply).await?;
    let to_bo = await_items(&stack, &bo, 1).await?;
    let to_ana = await_items(&stack, &ana, 1).await?;
    let to_dee = await_items(&stack, &dee, 1).await?;
    redeliver(&stack, &[&reply]).await?;

    assert_eq!(to_bo[0]["type"], "reply");
    assert_eq!(to_bo[0]["summary"], "Someone replied to your reply");
    assert_eq!(to_bo[0]["object"]["topicId"], topic_id.as_str());
    assert_eq!(to_bo[0]["object"]["replyId"], "r1");
    assert_eq!(to_ana[0]["type"], "reply");
    assert_eq!(to_ana[0]["summary"], "Someone replied to your topic");
    assert_eq!(to_dee[0]["type"], "mention");
    assert!(items(&stack, &cy).await?.is_empty(), "never yourself");
    for user in [&ana, &bo, &dee] {
        assert_eq!(unread(&stack, user).await?, 1, "exact after redelivery");
    }
    Ok(())
}

#[tokio::test]
async fn a_topic_mention_and_an_accepted_answer_notify_their_users() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let topic_id = unique("t");
    let mut item = topic(&topic_id, &ana, &[&bo], T0);

    put(&stack, &item).await?;
    let mention = await_items(&stack, &bo, 1).await?;
    // Another change to the topic (a view count) notifies nobody; the accepted answer does.
    item["viewCount"] = json!(5);
    put(&stack, &item).await?;
    item["acceptedReplyId"] = json!("r1");
    item["acceptedReplyAuthorId"] = json!(cy);
    item["updatedAt"] = json!(at(5));
    put(&stack, &item).await?;
    let accepted = await_items(&stack, &cy, 1).await?;

    assert_eq!(mention[0]["type"], "mention");
    assert_eq!(mention[0]["summary"], "Someone mentioned you in a topic");
    assert_eq!(accepted[0]["type"], "answerAccepted");
    assert_eq!(accepted[0]["actorId"], ana.as_str());
    assert_eq!(accepted[0]["object"]["replyId"], "r1");
    assert_eq!(items(&stack, &bo).await?.len(), 1);
    assert!(items(&stack, &ana).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn reactions_on_one_target_are_grouped_counted_once_each_and_reopen_when_read()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = new_user("ana");
    let reactors: Vec<String> = ["bo", "cy", "dee", "eve"].map(new_user).to_vec();
    let topic_id = unique("t");
    let reactions: Vec<Value> = reactors
        .iter()
        .enumerate()
        .map(|(i, who)| reaction(&topic_id, &ana, who, &at(i as u32 + 1)))
        .collect();

    for item in &reactions {
        put(&stack, item).await?;
    }
    let grouped = stack
        .eventually("four reactors in one group", || async {
            let found = items(&stack, &ana).await?;
            Ok((found.len() == 1 && found[0]["actorCount"] == 4).then_some(found))
        })
        .await?;
    let unread_before_read = unread(&stack, &ana).await?;
    let id = grouped[0]["notificationId"].as_str().unwrap_or_default();
    let read = stack
        .post(&format!("/v1/notifications/{id}/read"), &ana, json!({}))
        .await?;
    let unread_after_read = unread(&stack, &ana).await?;
    let fifth = reaction(&topic_id, &ana, &new_user("fay"), &at(9));
    put(&stack, &fifth).await?;
    let reopened = stack
        .eventually("a fifth reactor reopening the group", || async {
            let found = items(&stack, &ana).await?;
            Ok((found.len() == 1 && found[0]["actorCount"] == 5).then_some(found))
        })
        .await?;
    // Lambda redelivers the whole history: nobody counts twice, the count stays exact.
    let everyone: Vec<&Value> = reactions.iter().chain([&fifth]).collect();
    redeliver(&stack, &everyone).await?;
    let after_redelivery = items(&stack, &ana).await?;

    assert_eq!(grouped[0]["type"], "reaction");
    assert_eq!(
        grouped[0]["summary"],
        "Someone and 3 others reacted to your topic"
    );
    assert_eq!(grouped[0]["actorIds"].as_array().map(Vec::len), Some(3));
    assert_eq!(unread_before_read, 1, "one group, one unread");
    assert_eq!(read.status, 204, "{read:?}");
    assert_eq!(unread_after_read, 0);
    assert_eq!(reopened[0]["read"], false);
    assert_eq!(
        reopened[0]["summary"],
        "Someone and 4 others reacted to your topic"
    );
    assert_eq!(after_redelivery.len(), 1);
    assert_eq!(
        after_redelivery[0]["actorCount"], 5,
        "redelivery adds nobody"
    );
    assert_eq!(unread(&stack, &ana).await?, 1);
    Ok(())
}

#[tokio::test]
async fn muted_types_and_blocked_users_create_no_notification() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy, dee) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("dee"),
    );
    let muted = stack
        .put(
            "/v1/notifications/preferences",
            &ana,
            json!({ "muted": ["reaction"] }),
        )
        .await?;
    // Ana blocks Cy (both block items, as the connections group writes them).
    put(
        &stack,
        &json!({ "PK": format!("USER#{ana}"), "SK": format!("BLOCK#{cy}"), "entity": "Block",
                 "blockerId": ana, "blockedId": cy, "createdAt": T0 }),
    )
    .await?;
    put(
        &stack,
        &json!({ "PK": format!("USER#{cy}"), "SK": format!("BLOCKEDBY#{ana}"),
                 "entity": "BlockedBy", "blockerId": ana, "blockedId": cy, "createdAt": T0 }),
    )
    .await?;
    let ana_topic = unique("t");

    put(&stack, &reaction(&ana_topic, &ana, &bo, &at(1))).await?;
    put(&stack, &topic(&unique("t"), &cy, &[&ana], &at(2))).await?;
    put(&stack, &connection_request(&ana, &cy)).await?;
    // A control record after the others: once it shows, the others were processed.
    put(&stack, &topic(&unique("t"), &dee, &[&ana], &at(3))).await?;
    let found = await_items(&stack, &ana, 1).await?;

    assert_eq!(muted.status, 200, "{muted:?}");
    assert_eq!(muted.body, json!({ "muted": ["reaction"] }));
    assert_eq!(
        found[0]["actorId"],
        dee.as_str(),
        "only the control notified"
    );
    assert_eq!(unread(&stack, &ana).await?, 1);
    // A block made later hides the existing notification too.
    put(
        &stack,
        &json!({ "PK": format!("USER#{dee}"), "SK": format!("BLOCK#{ana}"), "entity": "Block",
                 "blockerId": dee, "blockedId": ana, "createdAt": T0 }),
    )
    .await?;
    put(
        &stack,
        &json!({ "PK": format!("USER#{ana}"), "SK": format!("BLOCKEDBY#{dee}"),
                 "entity": "BlockedBy", "blockerId": dee, "blockedId": ana, "createdAt": T0 }),
    )
    .await?;
    assert!(items(&stack, &ana).await?.is_empty(), "hidden once blocked");
    assert!(
        items(&stack, &cy).await?.is_empty(),
        "no request from a blocked user"
    );
    Ok(())
}

#[tokio::test]
async fn preferences_replace_the_muted_types_and_refuse_unknown_ones() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = new_user("ana");

    let initial = stack.get("/v1/notifications/preferences", &ana).await?;
    let unknown = stack
        .put(
            "/v1/notifications/preferences",
            &ana,
            json!({ "muted": ["reaction", "spam"] }),
        )
        .await?;
    let extra = stack
        .put(
            "/v1/notifications/preferences",
            &ana,
            json!({ "muted": [], "email": true }),
        )
        .await?;
    let missing = stack
        .put("/v1/notifications/preferences", &ana, json!({}))
        .await?;
    let after_bad_input = stack.get("/v1/notifications/preferences", &ana).await?;
    let request = || {
        stack
            .http
            .put(stack.url("/v1/notifications/preferences"))
            .bearer_auth(token_for(&ana))
            .header("idempotency-key", "prefs-1")
            .json(&json!({ "muted": ["mention", "reaction", "mention"] }))
    };
    let first = stack.raw(request()).await?;
    let retry = stack.raw(request()).await?;
    let anonymous = stack
        .call(
            reqwest::Method::GET,
            "/v1/notifications/preferences",
            None,
            None,
        )
        .await?;

    assert_eq!(initial.status, 200);
    assert_eq!(initial.body, json!({ "muted": [] }));
    assert_problem(&unknown, 400, Some("muted[1]"));
    assert_problem(&extra, 400, None);
    assert_problem(&missing, 400, None);
    assert_eq!(
        after_bad_input.body,
        json!({ "muted": [] }),
        "nothing written"
    );
    assert_eq!(first.status, 200);
    assert_eq!(first.body, json!({ "muted": ["mention", "reaction"] }));
    assert_eq!(retry.body, first.body);
    assert_problem(&anonymous, 401, None);
    Ok(())
}

#[tokio::test]
async fn marking_one_and_all_read_keeps_the_unread_count_exact() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    for second in 1..=3 {
        put(&stack, &topic(&unique("t"), &bo, &[&ana], &at(second))).await?;
    }
    let all = await_items(&stack, &ana, 3).await?;
    let first = all[0]["notificationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let count_before = unread(&stack, &ana).await?;
    let marked = stack
        .post(&format!("/v1/notifications/{first}/read"), &ana, json!({}))
        .await?;
    let marked_again = stack
        .post(&format!("/v1/notifications/{first}/read"), &ana, json!({}))
        .await?;
    let count_after_one = unread(&stack, &ana).await?;
    let unread_list = list(&stack, &ana, "?unread=true").await?;
    let someone_elses = stack
        .post(&format!("/v1/notifications/{first}/read"), &bo, json!({}))
        .await?;
    let malformed = stack
        .post("/v1/notifications/NOTIF%23x/read", &ana, json!({}))
        .await?;
    let read_all = stack
        .post("/v1/notifications/read-all", &ana, json!({}))
        .await?;
    let count_after_all = unread(&stack, &ana).await?;
    let unread_after_all = list(&stack, &ana, "?unread=true").await?;
    let everything = items(&stack, &ana).await?;
    let read_all_again = stack
        .post("/v1/notifications/read-all", &ana, json!({}))
        .await?;

    assert_eq!(count_before, 3);
    assert_eq!(marked.status, 204, "{marked:?}");
    assert_eq!(marked_again.status, 204, "marking read is repeatable");
    assert_eq!(count_after_one, 2);
    let unread_ids: Vec<&str> = unread_list.body["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["notificationId"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(unread_ids.len(), 2);
    assert!(!unread_ids.contains(&first.as_str()));
    assert_problem(&someone_elses, 404, None);
    assert_problem(&malformed, 404, None);
    assert_eq!(read_all.status, 200, "{read_all:?}");
    assert_eq!(read_all.body, json!({ "marked": 2, "more": false }));
    assert_eq!(count_after_all, 0);
    assert_eq!(unread_after_all.body["items"], json!([]));
    assert_eq!(everything.len(), 3);
    assert!(everything.iter().all(|n| n["read"] == true));
    assert_eq!(read_all_again.body, json!({ "marked": 0, "more": false }));
    assert_eq!(unread(&stack, &bo).await?, 0);
    Ok(())
}

#[tokio::test]
async fn the_list_is_paginated_newest_first_and_refuses_bad_parameters() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let topics: Vec<String> = (0..3).map(|_| unique("t")).collect();
    for (i, id) in topics.iter().enumerate() {
        put(&stack, &topic(id, &bo, &[&ana], &at(i as u32 + 1))).await?;
    }
    await_items(&stack, &ana, 3).await?;

    let first = list(&stack, &ana, "?limit=2").await?;
    let cursor = first.body["nextCursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second = list(&stack, &ana, &format!("?limit=2&cursor={cursor}")).await?;
    let wrong_scope = list(&stack, &ana, &format!("?unread=true&cursor={cursor}")).await?;
    let bad_limit = list(&stack, &ana, "?limit=0").await?;
    let bad_filter = list(&stack, &ana, "?unread=maybe").await?;
    let anonymous = stack
        .call(reqwest::Method::GET, "/v1/notifications", None, None)
        .await?;

    let topic_of = |n: &Value| {
        n["object"]["topicId"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let page_one: Vec<String> = first.body["items"]
        .as_array()
        .map(|a| a.iter().map(topic_of).collect())
        .unwrap_or_default();
    let page_two: Vec<String> = second.body["items"]
        .as_array()
        .map(|a| a.iter().map(topic_of).collect())
        .unwrap_or_default();
    assert_eq!(page_one, vec![topics[2].clone(), topics[1].clone()]);
    assert_eq!(page_two, vec![topics[0].clone()]);
    assert!(second.body["nextCursor"].is_null());
    assert_problem(&wrong_scope, 400, Some("cursor"));
    assert_problem(&bad_limit, 400, Some("limit"));
    assert_problem(&bad_filter, 400, Some("unread"));
    assert_problem(&anonymous, 401, None);
    Ok(())
}

#[tokio::test]
async fn an_expired_unread_notification_leaves_the_count() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    put(&stack, &topic(&unique("t"), &bo, &[&ana], T0)).await?;
    let found = await_items(&stack, &ana, 1).await?;
    let id = found[0]["notificationId"].as_str().unwrap_or_default();

    // What TTL expiry does: the item disappears and the stream reports a REMOVE.
    stack
        .dynamodb()
        .await
        .delete_item()
        .table_name(stack.table())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{ana}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("NOTIF#{id}")),
        )
        .send()
        .await?;

    stack
        .eventually("the count to drop to zero", || async {
            Ok((unread(&stack, &ana).await? == 0).then_some(()))
        })
        .await?;
    assert!(items(&stack, &ana).await?.is_empty());
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(stack: &TestStack, user: &str) -> anyhow::Result<Socket> {
    let url = format!("{}?token={}", stack.websocket_url(), token_for(user));
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    Ok(socket)
}

async fn next_frame(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => anyhow::bail!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_new_notification_arrives_on_every_open_websocket_of_its_recipient() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let mut phone = connect(&stack, &bo).await?;
    let mut laptop = connect(&stack, &bo).await?;

    put(&stack, &connection_request(&ana, &bo)).await?;
    let on_phone = next_frame(&mut phone).await?;
    let on_laptop = next_frame(&mut laptop).await?;

    assert_eq!(on_phone["type"], "notification");
    assert_eq!(on_phone["notification"]["type"], "connectionRequest");
    assert_eq!(on_phone["notification"]["actorId"], ana.as_str());
    assert_eq!(on_phone["unreadCount"], 1);
    assert_eq!(on_laptop, on_phone);
    Ok(())
}

#[tokio::test]
async fn a_stale_connection_answering_410_is_forgotten() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let stale = "staleConn0123=";
    // A connection whose $disconnect was lost: recorded, but no longer open.
    for (pk, sk) in [
        (format!("WSCONN#{stale}"), "META".to_owned()),
        (format!("USER#{bo}"), format!("WSCONN#{stale}")),
    ] {
        put(
            &stack,
            &json!({ "PK": pk, "SK": sk, "entity": "Connection", "connectionId": stale,
                     "userId": bo, "connectedAt": T0, "expiresAt": 4_102_444_800u64 }),
        )
        .await?;
    }

    put(&stack, &connection_request(&ana, &bo)).await?;
    await_items(&stack, &bo, 1).await?;

    stack
        .eventually("the stale connection to be forgotten", || async {
            let user_side = stack.partition(&format!("USER#{bo}")).await?;
            let record = stack.partition(&format!("WSCONN#{stale}")).await?;
            let gone = record.is_empty()
                && !user_side
                    .iter()
                    .any(|i| i["SK"].as_str().is_some_and(|s| s.starts_with("WSCONN#")));
            Ok(gone.then_some(()))
        })
        .await?;
    assert_eq!(unread(&stack, &bo).await?, 1);
    Ok(())
}

async fn delete_key(stack: &TestStack, pk: &str, sk: &str) -> anyhow::Result<()> {
    stack
        .dynamodb()
        .await
        .delete_item()
        .table_name(stack.table())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(sk.to_owned()),
        )
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_reaction_taken_back_shrinks_its_group_and_the_last_one_removes_it() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let topic_id = unique("t");
    let by_bo = reaction(&topic_id, &ana, &bo, &at(1));
    let by_cy = reaction(&topic_id, &ana, &cy, &at(2));
    put(&stack, &by_bo).await?;
    put(&stack, &by_cy).await?;
    stack
        .eventually("two reactors in one group", || async {
            let found = items(&stack, &ana).await?;
            Ok((found.len() == 1 && found[0]["actorCount"] == 2).then_some(()))
        })
        .await?;

    delete_key(
        &stack,
        &format!("TOPIC#{topic_id}"),
        &format!("REACT#{topic_id}#{cy}"),
    )
    .await?;
    let shrunk = stack
        .eventually("cy to leave the group", || async {
            let found = items(&stack, &ana).await?;
            Ok((found.len() == 1 && found[0]["actorCount"] == 1).then_some(found))
        })
        .await?;
    delete_key(
        &stack,
        &format!("TOPIC#{topic_id}"),
        &format!("REACT#{topic_id}#{bo}"),
    )
    .await?;
    stack
        .eventually("the empty group to go", || async {
            Ok(items(&stack, &ana).await?.is_empty().then_some(()))
        })
        .await?;

    assert_eq!(shrunk[0]["actorIds"], json!([bo]));
    assert_eq!(shrunk[0]["actorId"], bo.as_str());
    assert_eq!(shrunk[0]["summary"], "Someone reacted to your topic");
    stack
        .eventually("the unread count to follow the removed group", || async {
            Ok((unread(&stack, &ana).await? == 0).then_some(()))
        })
        .await?;
    let markers = stack.partition(&format!("USER#{ana}")).await?;
    assert!(
        !markers.iter().any(|i| i["entity"] == "NotificationActor"),
        "no actor marker is left: {markers:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_redelivered_record_pushes_its_unread_notification_again_with_the_same_version()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let mut socket = connect(&stack, &bo).await?;
    let request = connection_request(&ana, &bo);
    put(&stack, &request).await?;
    let first = next_frame(&mut socket).await?;

    // As if the first attempt died after writing the notification, before pushing.
    redeliver(&stack, &[&request]).await?;
    let again = next_frame(&mut socket).await?;

    assert_eq!(
        again["notification"]["notificationId"],
        first["notification"]["notificationId"]
    );
    assert_eq!(
        again["notification"]["version"],
        first["notification"]["version"]
    );
    assert_eq!(again["unreadCount"], 1, "the count did not move");
    let id = first["notification"]["notificationId"]
        .as_str()
        .unwrap_or_default();
    let read = stack
        .post(&format!("/v1/notifications/{id}/read"), &bo, json!({}))
        .await?;
    assert_eq!(read.status, 204, "{read:?}");
    redeliver(&stack, &[&request]).await?;
    let silence = tokio::time::timeout(Duration::from_millis(800), next_frame(&mut socket)).await;
    assert!(
        silence.is_err(),
        "a read notification is not pushed again: {silence:?}"
    );
    Ok(())
}

#[tokio::test]
async fn no_notification_is_created_for_an_account_deleted_before_its_record_arrives()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let deleted = stack.delete("/v1/me", &bo).await?;

    // A record about Bo that the stream delivers after the deletion, and one about Cy.
    put(&stack, &connection_request(&ana, &bo)).await?;
    put(&stack, &connection_request(&ana, &cy)).await?;
    await_items(&stack, &cy, 1).await?;

    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert!(
        stack
            .partition(&format!("USER#{bo}"))
            .await?
            .iter()
            .all(|item| item["entity"] == "ConnectionRequest"),
        "only the request item itself, no notification or counter"
    );
    Ok(())
}
