//! Notifications, end to end: source items (requests, connections, topics, replies,
//! reactions) are written directly in the issue-3 item contract's shapes, the local
//! stack's stream pump feeds them to the real `notifier` binary, and the real
//! `notifications` binary serves them over HTTP; pushes arrive on a real WebSocket.

use std::time::Duration;

use agora_tests::{
    Reply, StreamRecord, TestStack, WsClient, assert_problem, block_items, connection_item,
    field_of_items, new_user, spawn, unique_handle,
};
use serde_json::{Value, json};

const T0: &str = "2026-01-01T10:00:00.000Z";

/// The longest a test waits for the notifier to push a notification.
const PUSH_WAIT: Duration = Duration::from_secs(30);

fn at(second: u32) -> String {
    format!("2026-01-01T10:00:{second:02}.000Z")
}

/// Re-invokes the notifier with the INSERTs of `items` as one batch, as Lambda does when
/// it redelivers one.
async fn redeliver(stack: &TestStack, items: &[&Value]) -> anyhow::Result<()> {
    let records: Vec<StreamRecord> = (1..)
        .zip(items)
        .map(|(sequence, item)| {
            StreamRecord::insert(item)
                .event_id(format!("redelivered-{sequence}"))
                .sequence(sequence)
        })
        .collect();
    stack.redeliver_batch("NotifierFunction", &records).await
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

/// Waits until `user` has exactly one notification, a group of `actors` actors, and
/// returns the list.
async fn await_one_group(stack: &TestStack, user: &str, actors: u64) -> anyhow::Result<Vec<Value>> {
    stack
        .eventually(&format!("one group of {actors} for {user}"), || async {
            let found = items(stack, user).await?;
            Ok((found.len() == 1 && found[0]["actorCount"] == actors).then_some(found))
        })
        .await
}

/// The next frame pushed to `socket`, within [`PUSH_WAIT`].
async fn next_push(socket: &mut WsClient) -> anyhow::Result<Value> {
    socket
        .next_within(PUSH_WAIT)
        .await?
        .ok_or_else(|| anyhow::anyhow!("nothing was pushed within {PUSH_WAIT:?}"))
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
    let handle = unique_handle("h");
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

    stack.put_item(&request).await?;
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

    stack
        .put_item(&connection_item(&ana, &bo, &ana, T0))
        .await?;
    stack
        .put_item(&connection_item(&bo, &ana, &ana, T0))
        .await?;
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
        "body": "Same here", "depth": 2, "createdAt": T0, "updatedAt": T0, "deleted": false
    });

    stack.put_item(&reply).await?;
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

    stack.put_item(&item).await?;
    let mention = await_items(&stack, &bo, 1).await?;
    // Another change to the topic (a view count) notifies nobody; the accepted answer does.
    item["viewCount"] = json!(5);
    stack.put_item(&item).await?;
    item["acceptedReplyId"] = json!("r1");
    item["acceptedReplyAuthorId"] = json!(cy);
    item["updatedAt"] = json!(at(5));
    stack.put_item(&item).await?;
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
        stack.put_item(item).await?;
    }
    let grouped = await_one_group(&stack, &ana, 4).await?;
    let unread_before_read = unread(&stack, &ana).await?;
    let id = grouped[0]["notificationId"].as_str().unwrap_or_default();
    let read = stack
        .post(&format!("/v1/notifications/{id}/read"), &ana, json!({}))
        .await?;
    let unread_after_read = unread(&stack, &ana).await?;
    let fifth = reaction(&topic_id, &ana, &new_user("fay"), &at(9));
    stack.put_item(&fifth).await?;
    let reopened = await_one_group(&stack, &ana, 5).await?;
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
    for item in block_items(&ana, &cy, T0) {
        stack.put_item(&item).await?;
    }
    let ana_topic = unique("t");

    stack
        .put_item(&reaction(&ana_topic, &ana, &bo, &at(1)))
        .await?;
    stack
        .put_item(&topic(&unique("t"), &cy, &[&ana], &at(2)))
        .await?;
    stack.put_item(&connection_request(&ana, &cy)).await?;
    // A control record after the others: once it shows, the others were processed.
    stack
        .put_item(&topic(&unique("t"), &dee, &[&ana], &at(3)))
        .await?;
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
    for item in block_items(&dee, &ana, T0) {
        stack.put_item(&item).await?;
    }
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
            .request_with_idempotency_key(
                reqwest::Method::PUT,
                "/v1/notifications/preferences",
                &ana,
                "prefs-1",
            )
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
        stack
            .put_item(&topic(&unique("t"), &bo, &[&ana], &at(second)))
            .await?;
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
    let unread_ids = field_of_items(&unread_list.body, "notificationId");
    assert_eq!(unread_ids.len(), 2);
    assert!(!unread_ids.contains(&first));
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
        stack
            .put_item(&topic(id, &bo, &[&ana], &at(i as u32 + 1)))
            .await?;
    }
    await_items(&stack, &ana, 3).await?;

    let first = list(&stack, &ana, "?limit=2").await?;
    let cursor = first.next_cursor();
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
    stack
        .put_item(&topic(&unique("t"), &bo, &[&ana], T0))
        .await?;
    let found = await_items(&stack, &ana, 1).await?;
    let id = found[0]["notificationId"].as_str().unwrap_or_default();

    // What TTL expiry does: the item disappears and the stream reports a REMOVE.
    stack
        .delete_item(&format!("USER#{ana}"), &format!("NOTIF#{id}"))
        .await?;

    stack
        .eventually("the count to drop to zero", || async {
            Ok((unread(&stack, &ana).await? == 0).then_some(()))
        })
        .await?;
    assert!(items(&stack, &ana).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_new_notification_arrives_on_every_open_websocket_of_its_recipient() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let mut phone = WsClient::connect(&stack, &bo).await?;
    let mut laptop = WsClient::connect(&stack, &bo).await?;

    stack.put_item(&connection_request(&ana, &bo)).await?;
    let on_phone = next_push(&mut phone).await?;
    let on_laptop = next_push(&mut laptop).await?;

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
        stack
            .put_item(
                &json!({ "PK": pk, "SK": sk, "entity": "Connection", "connectionId": stale,
                         "userId": bo, "connectedAt": T0, "expiresAt": 4_102_444_800u64 }),
            )
            .await?;
    }

    stack.put_item(&connection_request(&ana, &bo)).await?;
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

#[tokio::test]
async fn a_reaction_taken_back_shrinks_its_group_and_the_last_one_removes_it() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let topic_id = unique("t");
    let by_bo = reaction(&topic_id, &ana, &bo, &at(1));
    let by_cy = reaction(&topic_id, &ana, &cy, &at(2));
    stack.put_item(&by_bo).await?;
    stack.put_item(&by_cy).await?;
    await_one_group(&stack, &ana, 2).await?;

    stack
        .delete_item(
            &format!("TOPIC#{topic_id}"),
            &format!("REACT#{topic_id}#{cy}"),
        )
        .await?;
    let shrunk = await_one_group(&stack, &ana, 1).await?;
    stack
        .delete_item(
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
    let mut socket = WsClient::connect(&stack, &bo).await?;
    let request = connection_request(&ana, &bo);
    stack.put_item(&request).await?;
    let first = next_push(&mut socket).await?;

    // As if the first attempt died after writing the notification, before pushing.
    redeliver(&stack, &[&request]).await?;
    let again = next_push(&mut socket).await?;

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
    let silence = socket.next_within(Duration::from_millis(800)).await?;
    assert!(
        silence.is_none(),
        "a read notification is not pushed again: {silence:?}"
    );
    Ok(())
}

#[tokio::test]
async fn no_notification_is_created_for_an_account_deleted_before_its_record_arrives()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let deleted = stack.delete_account(&bo).await?;

    // A record about Bo that the stream delivers after the deletion, and one about Cy.
    stack.put_item(&connection_request(&ana, &bo)).await?;
    stack.put_item(&connection_request(&ana, &cy)).await?;
    await_items(&stack, &cy, 1).await?;

    assert_eq!(deleted.status, 202, "{deleted:?}");
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

#[tokio::test]
async fn a_deleted_account_leaves_the_notifications_it_caused_in_other_partitions()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let topic_id = unique("t");
    // Ana asks to connect with Bo (a single notification), and both Ana and Cy react to
    // Bo's topic (one group of two).
    stack.put_item(&connection_request(&ana, &bo)).await?;
    stack
        .put_item(&reaction(&topic_id, &bo, &ana, &at(1)))
        .await?;
    stack
        .put_item(&reaction(&topic_id, &bo, &cy, &at(2)))
        .await?;
    stack
        .eventually("a request and a group of two for Bo", || async {
            let found = items(&stack, &bo).await?;
            Ok((found.len() == 2 && found.iter().any(|n| n["actorCount"] == 2)).then_some(()))
        })
        .await?;
    assert_eq!(unread(&stack, &bo).await?, 2);

    let deleted = stack.delete_account(&ana).await?;
    stack.await_erasure(&ana, Duration::from_secs(60)).await?;

    assert_eq!(deleted.status, 202, "{deleted:?}");
    let left = stack
        .eventually("Bo's notifications without Ana", || async {
            let found = items(&stack, &bo).await?;
            Ok((found.len() == 1 && found[0]["actorCount"] == 1).then_some(found))
        })
        .await?;
    assert_eq!(left[0]["actorId"], cy.as_str());
    assert_eq!(left[0]["actorIds"], json!([cy]));
    stack
        .eventually("Bo's unread count to follow", || async {
            Ok((unread(&stack, &bo).await? == 1).then_some(()))
        })
        .await?;
    let named: Vec<Value> = stack
        .partition(&format!("USER#{bo}"))
        .await?
        .into_iter()
        .filter(|item| item.to_string().contains(ana.as_str()))
        .filter(|item| item["entity"] != "ConnectionRequest")
        .collect();
    assert!(named.is_empty(), "nothing of Bo's names Ana: {named:#?}");
    Ok(())
}

#[tokio::test]
async fn a_notifications_page_is_read_with_two_dynamodb_requests() -> anyhow::Result<()> {
    // Arrange: two connection requests to Bo, one from someone Bo then blocks.
    let stack = agora_tests::spawn_counting_requests().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    public_profile(&stack, &ana, "Ana Lima").await?;
    stack.put_item(&connection_request(&ana, &bo)).await?;
    stack.put_item(&connection_request(&cy, &bo)).await?;
    await_items(&stack, &bo, 2).await?;
    stack.put_items(&block_items(&bo, &cy, T0)).await?;

    // Act
    let requests = stack
        .dynamodb_requests_of_get("/v1/notifications?limit=20", &bo)
        .await?;
    let shown = items(&stack, &bo).await?;

    // Assert: the page's Query, then one BatchGetItem of names, connections, blocks and
    // the caller's account check; the blocked actor's notification is hidden.
    assert_eq!(requests, 2);
    let actors: Vec<&str> = shown.iter().filter_map(|n| n["actorId"].as_str()).collect();
    assert_eq!(actors, vec![ana.as_str()]);
    Ok(())
}
