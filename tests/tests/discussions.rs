//! Discussions, end to end: real HTTP requests through the local stack into the
//! `discussions` function, counters kept from the table's stream by the fan-out function
//! (`stream-fanout`), against moto's DynamoDB.

use agora_tests::{
    Reply, StreamRecord, TestStack, assert_problem, field_of_items, new_user, spawn,
    token_with_roles, unique_handle,
};
use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// A request of `user` carrying `roles` (the harness's other requests are plain members').
async fn call_as(
    stack: &TestStack,
    method: Method,
    path: &str,
    user: &str,
    roles: &[&str],
    body: Option<Value>,
) -> anyhow::Result<Reply> {
    let mut request = stack
        .http
        .request(method, stack.url(path))
        .bearer_auth(token_with_roles(user, roles));
    if let Some(body) = body {
        request = request.json(&body);
    }
    stack.raw(request).await
}

/// An admin creates a category; returns its id.
async fn category(stack: &TestStack, id: &str, parent: Option<&str>) -> anyhow::Result<String> {
    let admin = new_user("admin");
    let mut body = json!({"id": id, "name": format!("Category {id}")});
    if let Some(parent) = parent {
        body["parentId"] = json!(parent);
    }
    let reply = call_as(
        stack,
        Method::POST,
        "/v1/categories",
        &admin,
        &["admin"],
        Some(body),
    )
    .await?;
    anyhow::ensure!(reply.status == 201, "category failed: {reply:?}");
    Ok(id.to_owned())
}

/// Creates a topic and returns it.
async fn topic(stack: &TestStack, author: &str, body: Value) -> anyhow::Result<Value> {
    stack.post_created("/v1/topics", author, body).await
}

/// Creates a topic and returns its id.
async fn id_of_new_topic(stack: &TestStack, author: &str, body: Value) -> anyhow::Result<String> {
    Ok(id_of(&topic(stack, author, body).await?, "topicId"))
}

fn simple_topic(category: &str, title: &str) -> Value {
    json!({"title": title, "body": "What do you think?", "categoryId": category})
}

/// Replies to a topic (or to one of its replies) and returns the reply.
async fn reply_to(
    stack: &TestStack,
    author: &str,
    topic_id: &str,
    parent: Option<&str>,
    body: &str,
) -> anyhow::Result<Value> {
    let mut input = json!({"body": body});
    if let Some(parent) = parent {
        input["parentReplyId"] = json!(parent);
    }
    stack
        .post_created(&format!("/v1/topics/{topic_id}/replies"), author, input)
        .await
}

/// Replies to a topic (or to one of its replies) and returns the reply's id.
async fn id_of_new_reply(
    stack: &TestStack,
    author: &str,
    topic_id: &str,
    parent: Option<&str>,
    body: &str,
) -> anyhow::Result<String> {
    Ok(id_of(
        &reply_to(stack, author, topic_id, parent, body).await?,
        "replyId",
    ))
}

/// `who` reacts with `reaction` to `target` (the topic itself or one of its replies).
async fn react(
    stack: &TestStack,
    who: &str,
    topic_id: &str,
    target: &str,
    reaction: &str,
) -> anyhow::Result<Reply> {
    stack
        .put(
            &format!("/v1/topics/{topic_id}/reactions/{target}"),
            who,
            json!({ "reaction": reaction }),
        )
        .await
}

fn id_of(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}

/// The stored topic item (counters included), read straight from the table.
async fn stored_topic(stack: &TestStack, topic_id: &str) -> anyhow::Result<Value> {
    stack
        .item(&format!("TOPIC#{topic_id}"), "META")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no topic item"))
}

/// The stored reply item (counters included), read straight from the table.
async fn stored_reply(stack: &TestStack, topic_id: &str, reply_id: &str) -> anyhow::Result<Value> {
    stack
        .item(&format!("TOPIC#{topic_id}"), &format!("REPLY#{reply_id}"))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reply item"))
}

/// Waits until the stored topic satisfies `done`.
async fn topic_eventually(
    stack: &TestStack,
    topic_id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    stack
        .eventually(what, || async {
            let topic = stored_topic(stack, topic_id).await?;
            Ok(done(&topic).then_some(topic))
        })
        .await
}

// ---------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn admins_build_the_category_tree_and_nobody_else_can() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let admin = new_user("admin");
    let member = new_user("member");
    let create = |id: &str, parent: Option<&str>, who: &str, roles: &'static [&'static str]| {
        let mut body = json!({"id": id, "name": id.to_uppercase(), "description": "About it"});
        if let Some(parent) = parent {
            body["parentId"] = json!(parent);
        }
        let (stack, who) = (&stack, who.to_owned());
        async move {
            call_as(
                stack,
                Method::POST,
                "/v1/categories",
                &who,
                roles,
                Some(body),
            )
            .await
        }
    };

    assert_eq!(
        create("programming", None, &admin, &["admin"])
            .await?
            .status,
        201
    );
    assert_eq!(
        create("finance", None, &admin, &["admin"]).await?.status,
        201
    );
    let child = create("rust", Some("programming"), &admin, &["admin"]).await?;
    let grandchild = create("async", Some("rust"), &admin, &["admin"]).await?;
    let too_deep = create("tokio", Some("async"), &admin, &["admin"]).await?;
    let by_member = create("gossip", None, &member, &["member"]).await?;
    let by_moderator = create("gossip", None, &member, &["moderator"]).await?;
    let duplicate = create("rust", None, &admin, &["admin"]).await?;
    let orphan = create("orphan", Some("nowhere"), &admin, &["admin"]).await?;
    let bad_id = create("Bad Id!", None, &admin, &["admin"]).await?;

    assert_eq!(child.status, 201, "{child:?}");
    assert_eq!(child.body["path"], "programming#rust");
    assert_eq!(child.body["depth"], 2);
    assert_eq!(grandchild.status, 201);
    assert_problem(&too_deep, 422, Some("parentId"));
    assert_problem(&by_member, 403, None);
    assert_problem(&by_moderator, 403, None);
    assert_problem(&duplicate, 409, None);
    assert_problem(&orphan, 422, Some("parentId"));
    assert_problem(&bad_id, 422, Some("id"));
    let first = stack.get("/v1/categories?limit=3", &member).await?;
    assert_eq!(
        field_of_items(&first.body, "categoryId"),
        vec!["finance", "programming", "rust"],
        "depth-first by path"
    );
    let cursor = first.next_cursor();
    let second = stack
        .get(&format!("/v1/categories?limit=3&cursor={cursor}"), &member)
        .await?;
    assert_eq!(field_of_items(&second.body, "categoryId"), vec!["async"]);
    Ok(())
}

// ---------------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_topic_carries_tags_hashtags_mentions_attachments_and_counts_views() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let cat = category(&stack, "rust", None).await?;
    let ana = new_user("ana");
    let bo = new_user("bo");
    let bo_handle = unique_handle("bo");
    stack
        .create_profile(&bo, json!({"handle": bo_handle, "displayName": "Bo"}))
        .await?;

    let created = topic(
        &stack,
        &ana,
        json!({
            "title": "Async traits in 2026?",
            "body": format!("Hey @{bo_handle} and @nobody_here, thoughts on #Async?\n```\n#include <x>\n```"),
            "categoryId": cat,
            "tags": ["Rust", "#traits"],
            "attachments": [
                {"kind": "code", "language": "rust", "code": "trait A { async fn f(); }"},
                {"kind": "link", "url": "https://blog.rust-lang.org", "title": "Blog"},
                {"kind": "image", "url": "https://cdn.example.com/a.png", "alt": "diagram"}
            ]
        }),
    )
    .await?;
    let topic_id = id_of(&created, "topicId");

    assert_eq!(created["authorId"], ana.as_str());
    assert_eq!(created["tags"], json!(["rust", "traits", "async"]));
    assert_eq!(
        created["mentions"],
        json!([bo.as_str()]),
        "unknown handles are dropped"
    );
    assert_eq!(created["attachments"].as_array().map(Vec::len), Some(3));
    assert_eq!(created["solved"], false);
    assert_eq!(created["replyCount"], 0);
    let first = stack.get(&format!("/v1/topics/{topic_id}"), &bo).await?;
    let second = stack.get(&format!("/v1/topics/{topic_id}"), &bo).await?;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(second.body["replies"]["items"], json!([]));
    topic_eventually(&stack, &topic_id, "both views counted", |t| {
        t["viewCount"] == 2
    })
    .await?;
    for path in [
        format!("/v1/topics?category={cat}"),
        "/v1/topics?tag=async".to_owned(),
        "/v1/topics?tag=%23Traits".to_owned(),
        format!("/v1/topics?author={ana}"),
    ] {
        let page = stack.get(&path, &bo).await?;
        assert_eq!(page.status, 200, "{path}: {page:?}");
        assert_eq!(
            field_of_items(&page.body, "topicId"),
            vec![topic_id.clone()],
            "{path}"
        );
    }
    let unknown = stack
        .get("/v1/topics/01J00000000000000000000000", &bo)
        .await?;
    assert_problem(&unknown, 404, None);
    Ok(())
}

#[tokio::test]
async fn bad_topic_input_is_refused_naming_the_field_and_writes_nothing() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let ana = new_user("ana");
    let base = simple_topic(&cat, "Fine title");
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("title", json!("t".repeat(201))), 422, "title"),
        (with("title", json!("")), 422, "title"),
        (with("body", json!("b".repeat(20_001))), 422, "body"),
        (with("body", json!("   ")), 422, "body"),
        (
            with(
                "tags",
                json!((0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()),
            ),
            422,
            "tags",
        ),
        (with("tags", json!(["a b"])), 422, "tags"),
        (
            with(
                "attachments",
                json!([{"kind": "image", "url": "javascript:alert(1)"}]),
            ),
            422,
            "attachments[0].url",
        ),
        (
            with(
                "attachments",
                json!([{"kind": "video", "url": "https://x.io"}]),
            ),
            400,
            "attachments[0].kind",
        ),
        (
            with("categoryId", json!("no-such-category")),
            422,
            "categoryId",
        ),
        (with("pinned", json!(true)), 400, "body"),
        (with("title", json!(12)), 400, "title"),
    ];

    for (body, status, field) in cases {
        let reply = stack.post("/v1/topics", &ana, body).await?;
        if status == 400 && field == "body" {
            assert_problem(&reply, 400, None);
            assert!(
                reply.body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("unknown field")
            );
        } else {
            assert_problem(&reply, status, Some(field));
        }
    }

    assert!(stack.partition(&format!("USER#{ana}")).await?.is_empty());
    let listed = stack
        .get(&format!("/v1/topics?category={cat}"), &ana)
        .await?;
    assert_eq!(listed.body["items"], json!([]));
    assert_problem(&stack.get("/v1/topics", &ana).await?, 400, Some("category"));
    assert_problem(
        &stack.get("/v1/topics?tag=x&sort=best", &ana).await?,
        400,
        Some("sort"),
    );
    assert_problem(
        &stack
            .get(&format!("/v1/topics?category={cat}&solved=maybe"), &ana)
            .await?,
        400,
        Some("solved"),
    );
    assert_problem(
        &stack
            .get(&format!("/v1/topics?category={cat}&cursor=forged"), &ana)
            .await?,
        400,
        Some("cursor"),
    );
    let anonymous = stack
        .call(Method::POST, "/v1/topics", None, Some(&base))
        .await?;
    assert_problem(&anonymous, 401, None);
    Ok(())
}

// ---------------------------------------------------------------------------------
// Replies and counts
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn replies_thread_in_order_paginate_and_are_counted_exactly() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let topic_id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Threads")).await?;

    let r1 = reply_to(&stack, &bo, &topic_id, None, "first").await?;
    let r2 = reply_to(&stack, &cy, &topic_id, None, "second").await?;
    let r1a = reply_to(
        &stack,
        &ana,
        &topic_id,
        Some(&id_of(&r1, "replyId")),
        "to first",
    )
    .await?;
    let r1a1 = reply_to(
        &stack,
        &bo,
        &topic_id,
        Some(&id_of(&r1a, "replyId")),
        "deeper",
    )
    .await?;

    assert_eq!(
        r1["parentAuthorId"],
        ana.as_str(),
        "a top-level reply answers the topic"
    );
    assert_eq!(r1a["parentAuthorId"], bo.as_str());
    assert_eq!(r1a["topicAuthorId"], ana.as_str());
    assert_eq!(r1a1["depth"], 3);
    let expected: Vec<String> = [&r1, &r1a, &r1a1, &r2]
        .iter()
        .map(|r| id_of(r, "replyId"))
        .collect();
    let first = stack
        .get(&format!("/v1/topics/{topic_id}/replies?limit=3"), &cy)
        .await?;
    let cursor = first.next_cursor();
    let second = stack
        .get(
            &format!("/v1/topics/{topic_id}/replies?limit=3&cursor={cursor}"),
            &cy,
        )
        .await?;
    let mut thread = field_of_items(&first.body, "replyId");
    thread.extend(field_of_items(&second.body, "replyId"));
    assert_eq!(thread, expected, "thread order: depth first, oldest first");
    let other_scope = stack
        .get(&format!("/v1/topics?category={cat}&cursor={cursor}"), &cy)
        .await?;
    assert_problem(&other_scope, 400, Some("cursor"));
    let counted = topic_eventually(&stack, &topic_id, "four replies counted", |t| {
        t["replyCount"] == 4
    })
    .await?;
    assert!(counted["lastActivityAt"].as_str() > counted["createdAt"].as_str());
    let shown = stack
        .get(&format!("/v1/topics/{topic_id}?limit=2"), &cy)
        .await?;
    assert_eq!(shown.body["topic"]["replyCount"], 4);
    assert_eq!(
        field_of_items(&shown.body["replies"], "replyId"),
        expected[..2].to_vec()
    );
    // The counter settles at 4 and stays there.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(stored_topic(&stack, &topic_id).await?["replyCount"], 4);
    Ok(())
}

#[tokio::test]
async fn threads_are_bounded_in_depth_and_bad_replies_write_nothing() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let ana = new_user("ana");
    let topic_id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Deep")).await?;
    let mut parent: Option<String> = None;
    for level in 1..=6 {
        let reply = reply_to(
            &stack,
            &ana,
            &topic_id,
            parent.as_deref(),
            &format!("level {level}"),
        )
        .await?;
        parent = Some(id_of(&reply, "replyId"));
    }

    let too_deep = stack
        .post(
            &format!("/v1/topics/{topic_id}/replies"),
            &ana,
            json!({"body": "level 7", "parentReplyId": parent}),
        )
        .await?;
    let unknown_parent = stack
        .post(
            &format!("/v1/topics/{topic_id}/replies"),
            &ana,
            json!({"body": "x", "parentReplyId": "01J00000000000000000000000"}),
        )
        .await?;
    let blank = stack
        .post(
            &format!("/v1/topics/{topic_id}/replies"),
            &ana,
            json!({"body": ""}),
        )
        .await?;
    let unknown_topic = stack
        .post(
            "/v1/topics/01J00000000000000000000000/replies",
            &ana,
            json!({"body": "x"}),
        )
        .await?;

    assert_problem(&too_deep, 422, Some("parentReplyId"));
    assert_problem(&unknown_parent, 422, Some("parentReplyId"));
    assert_problem(&blank, 422, Some("body"));
    assert_problem(&unknown_topic, 404, None);
    let replies = stack
        .count_entities(&format!("TOPIC#{topic_id}"), "Reply")
        .await?;
    assert_eq!(replies, 6);
    Ok(())
}

#[tokio::test]
async fn reactions_are_one_per_user_per_target_changeable_removable_and_counted_exactly()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let topic_id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "React")).await?;
    let reply_id = id_of_new_reply(&stack, &bo, &topic_id, None, "an answer").await?;
    let on_topic = format!("/v1/topics/{topic_id}/reactions/{topic_id}");
    let on_reply = format!("/v1/topics/{topic_id}/reactions/{reply_id}");

    let liked = stack
        .put(&on_topic, &bo, json!({"reaction": "like"}))
        .await?;
    stack
        .put(&on_topic, &bo, json!({"reaction": "like"}))
        .await?;
    stack
        .put(&on_topic, &cy, json!({"reaction": "like"}))
        .await?;
    stack
        .put(&on_topic, &cy, json!({"reaction": "love"}))
        .await?;
    stack
        .put(&on_reply, &ana, json!({"reaction": "helpful"}))
        .await?;
    stack
        .put(&on_reply, &cy, json!({"reaction": "haha"}))
        .await?;
    let removed = stack.delete(&on_reply, &cy).await?;
    let removed_again = stack.delete(&on_reply, &cy).await?;
    let unknown_kind = stack
        .put(&on_topic, &bo, json!({"reaction": "angry"}))
        .await?;
    let unknown_target = stack
        .put(
            &format!("/v1/topics/{topic_id}/reactions/01J00000000000000000000000"),
            &bo,
            json!({"reaction": "like"}),
        )
        .await?;

    assert_eq!(liked.status, 200, "{liked:?}");
    assert_eq!(liked.body["targetAuthorId"], ana.as_str());
    assert_eq!(removed.status, 204);
    assert_eq!(removed_again.status, 204);
    assert_problem(&unknown_kind, 400, Some("reaction"));
    assert_problem(&unknown_target, 404, None);
    let topic = topic_eventually(&stack, &topic_id, "topic reactions", |t| {
        t["reactionCounts"]["like"] == 1 && t["reactionCounts"]["love"] == 1
    })
    .await?;
    assert_eq!(topic["reactionCounts"]["haha"], 0);
    let reply = stack
        .eventually("reply reactions", || async {
            let reply = stored_reply(&stack, &topic_id, &reply_id).await?;
            Ok(
                (reply["reactionCounts"]["helpful"] == 1 && reply["reactionCounts"]["haha"] == 0)
                    .then_some(reply),
            )
        })
        .await?;
    assert_eq!(reply["reactionCounts"]["like"], 0);
    let reactions = stack
        .count_entities(&format!("TOPIC#{topic_id}"), "Reaction")
        .await?;
    assert_eq!(reactions, 3, "bo and cy on the topic, ana on the reply");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let settled = stored_topic(&stack, &topic_id).await?;
    assert_eq!(settled["reactionCounts"]["like"], 1);
    assert_eq!(settled["reactionCounts"]["love"], 1);
    Ok(())
}

/// The INSERT record the stream delivered for an item of a topic, rebuilt from its
/// processed marker (which names the record's event id) and the item itself.
async fn delivered_insert(
    stack: &TestStack,
    topic_id: &str,
    sort_key: &str,
    sequence: u64,
) -> anyhow::Result<StreamRecord> {
    // Test-only inspection: the product never scans.
    let markers = stack
        .dynamodb()
        .await
        .scan()
        .table_name(stack.table())
        .filter_expression("entity = :e AND topicId = :t AND sourceSk = :s")
        .expression_attribute_values(":e", AttributeValue::S("ProcessedStreamRecord".into()))
        .expression_attribute_values(":t", AttributeValue::S(topic_id.into()))
        .expression_attribute_values(":s", AttributeValue::S(sort_key.into()))
        .send()
        .await?;
    let markers = markers.items.unwrap_or_default();
    anyhow::ensure!(markers.len() == 1, "one marker for {sort_key}: {markers:?}");
    let event_id = markers[0]
        .get("eventId")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let item = stack
        .item(&format!("TOPIC#{topic_id}"), sort_key)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no item {sort_key}"))?;
    Ok(StreamRecord::insert(&item)
        .event_id(event_id)
        .sequence(sequence))
}

#[tokio::test]
async fn a_redelivered_stream_batch_leaves_every_count_exact() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let topic_id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Twice")).await?;
    let reply_id = id_of_new_reply(&stack, &bo, &topic_id, None, "once").await?;
    react(&stack, &bo, &topic_id, &topic_id, "wow").await?;
    react(&stack, &ana, &topic_id, &reply_id, "helpful").await?;
    topic_eventually(&stack, &topic_id, "counted once", |t| {
        t["replyCount"] == 1 && t["reactionCounts"]["wow"] == 1
    })
    .await?;
    stack
        .eventually("reply reaction counted", || async {
            let reply = stored_reply(&stack, &topic_id, &reply_id).await?;
            Ok((reply["reactionCounts"]["helpful"] == 1).then_some(()))
        })
        .await?;
    let batch = [
        delivered_insert(&stack, &topic_id, &format!("REPLY#{reply_id}"), 1).await?,
        delivered_insert(&stack, &topic_id, &format!("REACT#{topic_id}#{bo}"), 2).await?,
        delivered_insert(&stack, &topic_id, &format!("REACT#{reply_id}#{ana}"), 3).await?,
    ];

    let first = stack
        .invoke_stream_function("StreamFanoutFunction", &batch)
        .await?;
    let second = stack
        .invoke_stream_function("StreamFanoutFunction", &batch)
        .await?;

    assert_eq!(first["batchItemFailures"], json!([]), "{first}");
    assert_eq!(second["batchItemFailures"], json!([]), "{second}");
    let topic = stored_topic(&stack, &topic_id).await?;
    assert_eq!(topic["replyCount"], 1);
    assert_eq!(topic["reactionCounts"]["wow"], 1);
    let reply = stored_reply(&stack, &topic_id, &reply_id).await?;
    assert_eq!(reply["reactionCounts"]["helpful"], 1);
    Ok(())
}

// ---------------------------------------------------------------------------------
// Edits, deletes, answers, pins
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn authors_edit_with_a_history_and_nobody_else_may() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let created = topic(
        &stack,
        &ana,
        json!({"title": "Old title", "body": "About #old things", "categoryId": cat}),
    )
    .await?;
    let topic_id = id_of(&created, "topicId");
    let reply_id = id_of_new_reply(&stack, &bo, &topic_id, None, "first draft").await?;

    let edited = stack
        .patch(
            &format!("/v1/topics/{topic_id}"),
            &ana,
            json!({"title": "New title", "body": "Now about #new things"}),
        )
        .await?;
    let by_other = stack
        .patch(
            &format!("/v1/topics/{topic_id}"),
            &bo,
            json!({"title": "Hijack"}),
        )
        .await?;
    let moderator_edit = call_as(
        &stack,
        Method::PATCH,
        &format!("/v1/topics/{topic_id}"),
        &bo,
        &["moderator"],
        Some(json!({"title": "Mod"})),
    )
    .await?;
    let empty = stack
        .patch(&format!("/v1/topics/{topic_id}"), &ana, json!({}))
        .await?;
    let too_long = stack
        .patch(
            &format!("/v1/topics/{topic_id}"),
            &ana,
            json!({"title": "t".repeat(201)}),
        )
        .await?;
    let reply_edit = stack
        .patch(
            &format!("/v1/topics/{topic_id}/replies/{reply_id}"),
            &bo,
            json!({"body": "second draft"}),
        )
        .await?;
    let reply_by_other = stack
        .patch(
            &format!("/v1/topics/{topic_id}/replies/{reply_id}"),
            &ana,
            json!({"body": "not yours"}),
        )
        .await?;

    assert_eq!(edited.status, 200, "{edited:?}");
    assert_eq!(edited.body["title"], "New title");
    assert_eq!(edited.body["edited"], true);
    assert_eq!(edited.body["tags"], json!(["new"]));
    assert_problem(&by_other, 403, None);
    assert_problem(&moderator_edit, 403, None);
    assert_problem(&empty, 400, None);
    assert_problem(&too_long, 422, Some("title"));
    assert_eq!(reply_edit.status, 200, "{reply_edit:?}");
    assert_eq!(reply_edit.body["body"], "second draft");
    assert_problem(&reply_by_other, 403, None);
    let history = stack
        .get(&format!("/v1/topics/{topic_id}/history"), &bo)
        .await?;
    assert_eq!(history.status, 200, "{history:?}");
    assert_eq!(history.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(history.body["items"][0]["title"], "Old title");
    assert_eq!(history.body["items"][0]["body"], "About #old things");
    assert_eq!(history.body["items"][0]["editorId"], ana.as_str());
    let reply_history = stack
        .get(
            &format!("/v1/topics/{topic_id}/replies/{reply_id}/history"),
            &ana,
        )
        .await?;
    assert_eq!(reply_history.body["items"][0]["body"], "first draft");
    let old_tag = stack.get("/v1/topics?tag=old", &bo).await?;
    let new_tag = stack.get("/v1/topics?tag=new", &bo).await?;
    assert_eq!(
        old_tag.body["items"],
        json!([]),
        "the tag index follows edits"
    );
    assert_eq!(
        field_of_items(&new_tag.body, "topicId"),
        vec![topic_id.clone()]
    );
    Ok(())
}

#[tokio::test]
async fn soft_deletes_keep_the_thread_with_tombstones_and_moderators_may_delete()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let (ana, bo, cy, mod_user) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("mod"),
    );
    let topic_id = id_of_new_topic(
        &stack,
        &ana,
        json!({"title": "Doomed", "body": "#gone soon", "categoryId": cat}),
    )
    .await?;
    let parent = id_of_new_reply(&stack, &bo, &topic_id, None, "secret words").await?;
    let child = id_of_new_reply(&stack, &cy, &topic_id, Some(&parent), "answering").await?;
    topic_eventually(&stack, &topic_id, "two replies", |t| t["replyCount"] == 2).await?;

    let by_stranger = stack
        .delete(&format!("/v1/topics/{topic_id}/replies/{parent}"), &cy)
        .await?;
    let by_author = stack
        .delete(&format!("/v1/topics/{topic_id}/replies/{parent}"), &bo)
        .await?;
    let again = stack
        .delete(&format!("/v1/topics/{topic_id}/replies/{parent}"), &bo)
        .await?;
    let answer_deleted = stack
        .post(
            &format!("/v1/topics/{topic_id}/replies"),
            &cy,
            json!({"body": "x", "parentReplyId": parent}),
        )
        .await?;

    assert_problem(&by_stranger, 403, None);
    assert_eq!(by_author.status, 204);
    assert_eq!(again.status, 204);
    assert_problem(&answer_deleted, 422, Some("parentReplyId"));
    let thread = stack
        .get(&format!("/v1/topics/{topic_id}/replies"), &cy)
        .await?;
    assert_eq!(
        field_of_items(&thread.body, "replyId"),
        vec![parent.clone(), child.clone()]
    );
    assert_eq!(thread.body["items"][0]["body"], "[deleted]");
    assert_eq!(thread.body["items"][0]["deleted"], true);
    assert_eq!(thread.body["items"][1]["body"], "answering");
    topic_eventually(&stack, &topic_id, "one live reply", |t| {
        t["replyCount"] == 1
    })
    .await?;

    let topic_by_member = stack.delete(&format!("/v1/topics/{topic_id}"), &bo).await?;
    let topic_by_moderator = call_as(
        &stack,
        Method::DELETE,
        &format!("/v1/topics/{topic_id}"),
        &mod_user,
        &["moderator"],
        None,
    )
    .await?;

    assert_problem(&topic_by_member, 403, None);
    assert_eq!(topic_by_moderator.status, 204);
    let shown = stack.get(&format!("/v1/topics/{topic_id}"), &cy).await?;
    assert_eq!(shown.body["topic"]["deleted"], true);
    assert_eq!(shown.body["topic"]["title"], "[deleted]");
    assert_eq!(shown.body["topic"]["body"], "[deleted]");
    assert_eq!(
        shown.body["replies"]["items"].as_array().map(Vec::len),
        Some(2)
    );
    let listed = stack
        .get(&format!("/v1/topics?category={cat}"), &cy)
        .await?;
    assert_eq!(listed.body["items"], json!([]));
    assert_eq!(
        stack.get("/v1/topics?tag=gone", &cy).await?.body["items"],
        json!([])
    );
    let reply_to_deleted = stack
        .post(
            &format!("/v1/topics/{topic_id}/replies"),
            &cy,
            json!({"body": "late"}),
        )
        .await?;
    assert_problem(&reply_to_deleted, 409, None);
    let history = stack
        .get(&format!("/v1/topics/{topic_id}/history"), &cy)
        .await?;
    assert_problem(&history, 404, None);
    Ok(())
}

#[tokio::test]
async fn the_author_or_a_moderator_accepts_one_answer_and_listings_filter_by_solved()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "qa", None).await?;
    let (ana, bo, cy, mod_user) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("mod"),
    );
    let question = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Question")).await?;
    let open = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Open")).await?;
    let answer = id_of_new_reply(&stack, &bo, &question, None, "the answer").await?;
    let better = id_of_new_reply(&stack, &cy, &question, None, "a better one").await?;
    let path = format!("/v1/topics/{question}/accepted-answer");

    let by_stranger = stack.put(&path, &cy, json!({"replyId": answer})).await?;
    let accepted = stack.put(&path, &ana, json!({"replyId": answer})).await?;
    let unknown = stack
        .put(
            &path,
            &ana,
            json!({"replyId": "01J00000000000000000000000"}),
        )
        .await?;

    assert_problem(&by_stranger, 403, None);
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.body["solved"], true);
    assert_eq!(accepted.body["acceptedReplyId"], answer.as_str());
    assert_eq!(accepted.body["acceptedReplyAuthorId"], bo.as_str());
    assert_problem(&unknown, 422, Some("replyId"));
    let solved = stack
        .get(&format!("/v1/topics?category={cat}&solved=true"), &cy)
        .await?;
    let unsolved = stack
        .get(&format!("/v1/topics?category={cat}&solved=false"), &cy)
        .await?;
    let by_author = stack
        .get(&format!("/v1/topics?author={ana}&solved=true"), &cy)
        .await?;
    assert_eq!(
        field_of_items(&solved.body, "topicId"),
        vec![question.clone()]
    );
    assert_eq!(
        field_of_items(&unsolved.body, "topicId"),
        vec![open.clone()]
    );
    assert_eq!(
        field_of_items(&by_author.body, "topicId"),
        vec![question.clone()]
    );

    let by_moderator = call_as(
        &stack,
        Method::PUT,
        &path,
        &mod_user,
        &["moderator"],
        Some(json!({"replyId": better})),
    )
    .await?;
    assert_eq!(by_moderator.status, 200, "{by_moderator:?}");
    assert_eq!(
        by_moderator.body["acceptedReplyAuthorId"],
        cy.as_str(),
        "one answer at a time"
    );
    stack
        .delete(&format!("/v1/topics/{question}/replies/{better}"), &cy)
        .await?;
    let after = stack.get(&format!("/v1/topics/{question}"), &ana).await?;
    assert_eq!(
        after.body["topic"]["solved"], false,
        "a deleted answer unsolves"
    );
    let cleared = stack.delete(&path, &ana).await?;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["solved"], false);
    Ok(())
}

#[tokio::test]
async fn moderators_pin_topics_first_and_listings_sort_by_newest_activity_and_top()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let (ana, bo, mod_user) = (new_user("ana"), new_user("bo"), new_user("mod"));
    let oldest = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Oldest")).await?;
    let middle = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Middle")).await?;
    let newest = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Newest")).await?;
    // Activity on the oldest; reactions make the middle one top.
    reply_to(&stack, &bo, &oldest, None, "bump").await?;
    for who in [&ana, &bo] {
        react(&stack, who, &middle, &middle, "helpful").await?;
    }
    for reactor in [new_user("x"), new_user("y"), new_user("z")] {
        react(&stack, &reactor, &middle, &middle, "love").await?;
    }
    topic_eventually(&stack, &middle, "middle scored", |t| {
        t["reactionCounts"]["love"] == 3
    })
    .await?;
    topic_eventually(&stack, &oldest, "oldest active", |t| t["replyCount"] == 1).await?;
    let list = |sort: &str| {
        let path = format!("/v1/topics?category={cat}&sort={sort}");
        let (stack, bo) = (&stack, bo.clone());
        async move {
            Ok::<_, anyhow::Error>(field_of_items(
                &stack.get(&path, &bo).await?.body,
                "topicId",
            ))
        }
    };

    assert_eq!(
        list("newest").await?,
        vec![newest.clone(), middle.clone(), oldest.clone()]
    );
    assert_eq!(
        list("activity").await?,
        vec![oldest.clone(), newest.clone(), middle.clone()]
    );
    assert_eq!(
        list("top").await?,
        vec![middle.clone(), oldest.clone(), newest.clone()]
    );

    let by_member = stack
        .put(
            &format!("/v1/topics/{oldest}/pin"),
            &ana,
            json!({"pinned": true}),
        )
        .await?;
    let pinned = call_as(
        &stack,
        Method::PUT,
        &format!("/v1/topics/{newest}/pin"),
        &mod_user,
        &["moderator"],
        Some(json!({"pinned": true})),
    )
    .await?;
    let bad = call_as(
        &stack,
        Method::PUT,
        &format!("/v1/topics/{newest}/pin"),
        &mod_user,
        &["moderator"],
        Some(json!({"pinned": "yes"})),
    )
    .await?;

    assert_problem(&by_member, 403, None);
    assert_eq!(pinned.status, 200, "{pinned:?}");
    assert_eq!(pinned.body["pinned"], true);
    assert_problem(&bad, 400, Some("pinned"));
    assert_eq!(
        list("top").await?,
        vec![newest.clone(), middle.clone(), oldest.clone()]
    );
    assert_eq!(list("activity").await?[0], newest);
    let page = stack
        .get(&format!("/v1/topics?category={cat}&limit=2"), &bo)
        .await?;
    let cursor = page.next_cursor();
    let rest = stack
        .get(
            &format!("/v1/topics?category={cat}&limit=2&cursor={cursor}"),
            &bo,
        )
        .await?;
    assert_eq!(
        field_of_items(&page.body, "topicId"),
        vec![newest.clone(), middle.clone()]
    );
    assert_eq!(field_of_items(&rest.body, "topicId"), vec![oldest.clone()]);
    // A new reaction re-ranks without losing the pin.
    reply_to(&stack, &bo, &middle, None, "late activity").await?;
    topic_eventually(&stack, &middle, "middle active", |t| t["replyCount"] == 1).await?;
    assert_eq!(list("activity").await?, vec![newest, middle, oldest]);
    Ok(())
}

// ---------------------------------------------------------------------------------
// Blocks, idempotency
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn blocked_users_never_see_each_others_topics_or_replies() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let anas = id_of_new_topic(
        &stack,
        &ana,
        json!({"title": "Ana's", "body": "#shared", "categoryId": cat}),
    )
    .await?;
    let cys = id_of_new_topic(&stack, &cy, simple_topic(&cat, "Cy's")).await?;
    let bos_reply = id_of_new_reply(&stack, &bo, &cys, None, "from bo").await?;
    reply_to(&stack, &ana, &cys, None, "from ana").await?;
    stack.block_directly(&ana, &bo).await?;

    let listed = stack
        .get(&format!("/v1/topics?category={cat}"), &bo)
        .await?;
    let by_tag = stack.get("/v1/topics?tag=shared", &bo).await?;
    let by_author = stack.get(&format!("/v1/topics?author={ana}"), &bo).await?;
    let direct = stack.get(&format!("/v1/topics/{anas}"), &bo).await?;
    let reply = stack
        .post(
            &format!("/v1/topics/{anas}/replies"),
            &bo,
            json!({"body": "hi"}),
        )
        .await?;
    let reacted = react(&stack, &bo, &anas, &anas, "sad").await?;
    let thread_for_ana = stack
        .get(&format!("/v1/topics/{cys}/replies"), &ana)
        .await?;
    let thread_for_cy = stack.get(&format!("/v1/topics/{cys}/replies"), &cy).await?;
    let answer_bo = stack
        .post(
            &format!("/v1/topics/{cys}/replies"),
            &ana,
            json!({"body": "to bo", "parentReplyId": bos_reply}),
        )
        .await?;

    assert_eq!(
        field_of_items(&listed.body, "topicId"),
        vec![cys.clone()],
        "the blocker's topic is hidden"
    );
    assert_eq!(by_tag.body["items"], json!([]));
    assert_eq!(by_author.body["items"], json!([]));
    assert_problem(&direct, 404, None);
    assert_problem(&reply, 404, None);
    assert_problem(&reacted, 404, None);
    let authors = |page: &Value| field_of_items(page, "authorId");
    assert_eq!(
        authors(&thread_for_ana.body),
        vec![ana.clone()],
        "bo's reply is hidden from ana"
    );
    assert_eq!(authors(&thread_for_cy.body), vec![bo.clone(), ana.clone()]);
    assert_problem(&answer_bo, 422, Some("parentReplyId"));
    Ok(())
}

#[tokio::test]
async fn writes_honour_idempotency_keys() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "general", None).await?;
    let ana = new_user("ana");
    let send = |key: &str, body: Value| {
        stack.raw(
            stack
                .request_with_idempotency_key(Method::POST, "/v1/topics", &ana, key)
                .json(&body),
        )
    };

    let first = send("topic-1", simple_topic(&cat, "Once")).await?;
    let retry = send("topic-1", simple_topic(&cat, "Once")).await?;
    let other_body = send("topic-1", simple_topic(&cat, "Different")).await?;
    let topic_id = id_of(&first.body, "topicId");
    let reply_request = || {
        stack
            .request_with_idempotency_key(
                Method::POST,
                &format!("/v1/topics/{topic_id}/replies"),
                &ana,
                "reply-1",
            )
            .json(&json!({"body": "only once"}))
    };
    let reply = stack.raw(reply_request()).await?;
    let reply_retry = stack.raw(reply_request()).await?;

    assert_eq!(first.status, 201);
    assert_eq!(retry.status, 201);
    assert_eq!(
        retry.body, first.body,
        "the retry replays the first response"
    );
    assert_problem(&other_body, 422, Some("Idempotency-Key"));
    let topics = stack
        .count_entities(&format!("USER#{ana}"), "TopicByAuthor")
        .await?;
    assert_eq!(topics, 1);
    assert_eq!(reply_retry.body, reply.body);
    topic_eventually(&stack, &topic_id, "one reply", |t| t["replyCount"] == 1).await?;
    let replies = stack
        .count_entities(&format!("TOPIC#{topic_id}"), "Reply")
        .await?;
    assert_eq!(replies, 1);
    Ok(())
}

#[tokio::test]
async fn deleting_an_account_erases_its_discussion_content_but_keeps_others_threads()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let category = category(&stack, "erasure", None).await?;
    let (leaver, stayer) = (new_user("leaver"), new_user("stayer"));
    let own_topic = topic(&stack, &leaver, simple_topic(&category, "My secret plans")).await?;
    let own_topic_id = id_of(&own_topic, "topicId");
    let stayer_reply = reply_to(&stack, &stayer, &own_topic_id, None, "Nice plans").await?;
    let other_topic = topic(&stack, &stayer, simple_topic(&category, "Stayer's topic")).await?;
    let other_topic_id = id_of(&other_topic, "topicId");
    let leaver_reply =
        reply_to(&stack, &leaver, &other_topic_id, None, "my private opinion").await?;
    let reacted = react(&stack, &leaver, &other_topic_id, &other_topic_id, "like").await?;
    assert!(reacted.status < 300, "{reacted:?}");
    stack
        .eventually("the reaction to be counted", || async {
            let topic = stored_topic(&stack, &other_topic_id).await?;
            Ok((topic["reactionCounts"]["like"] == 1).then_some(()))
        })
        .await?;

    let deleted = stack.delete_account(&leaver).await?;

    assert_eq!(deleted.status, 202, "{deleted:?}");
    let erased_topic = stored_topic(&stack, &own_topic_id).await?;
    assert_eq!(erased_topic["deleted"], true);
    assert_eq!(erased_topic["title"], "[deleted]");
    assert_eq!(erased_topic["body"], "");
    let other_items = stack.partition(&format!("TOPIC#{other_topic_id}")).await?;
    let leaver_reply_item = other_items
        .iter()
        .find(|item| item["replyId"] == leaver_reply["replyId"])
        .cloned()
        .unwrap_or_default();
    assert_eq!(leaver_reply_item["deleted"], true);
    assert_eq!(leaver_reply_item["body"], "");
    let serialized = serde_json::to_string(&other_items)?;
    assert!(
        !serialized.contains("my private opinion"),
        "no copy of the text survives"
    );
    assert!(
        !other_items.iter().any(|item| item["entity"] == "Reaction"),
        "the reaction is gone"
    );
    stack
        .eventually("the reaction count to drop", || async {
            let topic = stored_topic(&stack, &other_topic_id).await?;
            Ok((topic["reactionCounts"]["like"] == 0).then_some(()))
        })
        .await?;
    // Someone else's reply in the erased topic's thread is untouched.
    let own_items = stack.partition(&format!("TOPIC#{own_topic_id}")).await?;
    assert!(
        own_items
            .iter()
            .any(|item| item["replyId"] == stayer_reply["replyId"] && item["body"] == "Nice plans")
    );
    assert!(stack.partition(&format!("USER#{leaver}")).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn tag_and_author_listings_sort_by_newest_activity_and_top() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "sorting", None).await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let tagged =
        |title: &str| json!({"title": title, "body": "Thoughts? #ownership", "categoryId": cat});
    let oldest = id_of_new_topic(&stack, &ana, tagged("Oldest")).await?;
    let middle = id_of_new_topic(&stack, &ana, tagged("Middle")).await?;
    let newest = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Newest")).await?;
    // The newest gets the tag by an edit, after its creation.
    let edited = stack
        .patch(
            &format!("/v1/topics/{newest}"),
            &ana,
            json!({"tags": ["ownership"]}),
        )
        .await?;
    assert_eq!(edited.status, 200, "{edited:?}");
    reply_to(&stack, &bo, &oldest, None, "bump").await?;
    for reactor in [new_user("x"), new_user("y"), new_user("z")] {
        let reacted = react(&stack, &reactor, &middle, &middle, "love").await?;
        assert!(reacted.status < 300, "{reacted:?}");
    }
    let listed = |query: String| {
        let (stack, bo) = (&stack, bo.clone());
        async move {
            let reply = stack.get(&format!("/v1/topics?{query}"), &bo).await?;
            anyhow::ensure!(reply.status == 200, "listing failed: {reply:?}");
            Ok::<_, anyhow::Error>(field_of_items(&reply.body, "topicId"))
        }
    };
    let expected = [
        (
            "newest",
            vec![newest.clone(), middle.clone(), oldest.clone()],
        ),
        (
            "activity",
            vec![oldest.clone(), newest.clone(), middle.clone()],
        ),
        ("top", vec![middle.clone(), oldest.clone(), newest.clone()]),
    ];

    for scope in ["tag=ownership".to_owned(), format!("author={ana}")] {
        for (sort, order) in &expected {
            let query = format!("{scope}&sort={sort}");
            stack
                .eventually(&format!("{query} in order"), || async {
                    Ok((&listed(query.clone()).await? == order).then_some(()))
                })
                .await?;
        }
    }
    let first = stack
        .get("/v1/topics?tag=ownership&sort=top&limit=2", &bo)
        .await?;
    let cursor = first.next_cursor();
    let rest = stack
        .get(
            &format!("/v1/topics?tag=ownership&sort=top&limit=2&cursor={cursor}"),
            &bo,
        )
        .await?;
    assert_eq!(field_of_items(&first.body, "topicId"), vec![middle, oldest]);
    assert_eq!(field_of_items(&rest.body, "topicId"), vec![newest]);
    Ok(())
}

/// `user`'s answerAccepted activities as stored, live or tombstoned.
async fn answer_activities(stack: &TestStack, user: &str) -> anyhow::Result<Vec<Value>> {
    let mut found = Vec::new();
    for pointer in stack.partition(&format!("USER#{user}")).await? {
        if pointer["entity"] != "AuthoredActivity" {
            continue;
        }
        let id = pointer["activityId"].as_str().unwrap_or_default();
        found.extend(
            stack
                .partition(&format!("ACT#{id}"))
                .await?
                .into_iter()
                .filter(|item| item["SK"] == "META" && item["verb"] == "answerAccepted"),
        );
    }
    Ok(found)
}

/// Waits until `user` has `total` answerAccepted activities of which `live` are not
/// deleted.
async fn await_answers(
    stack: &TestStack,
    user: &str,
    total: usize,
    live: usize,
) -> anyhow::Result<Vec<Value>> {
    stack
        .eventually(
            &format!("{user}: {total} answer activities, {live} live"),
            || async {
                let found = answer_activities(stack, user).await?;
                let alive = found.iter().filter(|a| a["deleted"] == false).count();
                Ok((found.len() == total && alive == live).then_some(found))
            },
        )
        .await
}

#[tokio::test]
async fn toggling_an_accepted_answer_publishes_one_activity_and_clearing_takes_it_back()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let cat = category(&stack, "toggles", None).await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    let question = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Question")).await?;
    let answer = id_of_new_reply(&stack, &bo, &question, None, "the answer").await?;
    let better = id_of_new_reply(&stack, &cy, &question, None, "a better one").await?;
    let path = format!("/v1/topics/{question}/accepted-answer");
    let accept = |reply: &str| stack.put(&path, &ana, json!({"replyId": reply}));

    assert_eq!(accept(&answer).await?.status, 200);
    await_answers(&stack, &bo, 1, 1).await?;
    for _ in 0..3 {
        let cleared = stack.delete(&path, &ana).await?;
        assert!(cleared.status < 300, "{cleared:?}");
        await_answers(&stack, &bo, 1, 0).await?;
        assert_eq!(accept(&answer).await?.status, 200);
    }
    assert_eq!(accept(&better).await?.status, 200);

    let cys = await_answers(&stack, &cy, 1, 1).await?;
    let bos = await_answers(&stack, &bo, 1, 0).await?;
    assert_eq!(cys[0]["object"]["replyId"], better.as_str());
    assert_eq!(bos[0]["deleted"], true, "bo's answer was replaced: {bos:?}");
    Ok(())
}

#[tokio::test]
async fn a_topic_page_is_read_with_three_dynamodb_requests_and_a_page_of_replies_with_three()
-> anyhow::Result<()> {
    // Arrange: a topic with replies from two people, one of whom the reader blocks.
    let stack = agora_tests::spawn_counting_requests().await?;
    let cat = category(&stack, "budgeting", None).await?;
    let (ana, bo, cy, reader) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("reader"),
    );
    let topic_id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Budgeting tips?")).await?;
    id_of_new_reply(&stack, &bo, &topic_id, None, "Envelopes work for me").await?;
    id_of_new_reply(&stack, &cy, &topic_id, None, "A spreadsheet").await?;
    stack.block_directly(&reader, &cy).await?;

    // Act
    let page = stack
        .dynamodb_requests_of_get(&format!("/v1/topics/{topic_id}"), &reader)
        .await?;
    let replies_path = format!("/v1/topics/{topic_id}/replies");
    let replies = stack
        .dynamodb_requests_of_get(&replies_path, &reader)
        .await?;
    let shown = stack.get(&replies_path, &reader).await?;

    // Assert: GetItem and Query side by side, one BatchGetItem for the blocks (and the
    // caller's account check on the GetItem); the view is queued, not written.
    assert_eq!(page, 3, "topic page");
    assert_eq!(replies, 3, "replies");
    assert_eq!(
        field_of_items(&shown.body, "authorId"),
        vec![bo.clone()],
        "the blocked author's reply is hidden"
    );
    Ok(())
}

#[tokio::test]
async fn views_of_a_topic_are_counted_in_one_write_per_batch_and_never_by_the_read()
-> anyhow::Result<()> {
    // Arrange: a topic and five readers.
    let stack = spawn().await?;
    let cat = category(&stack, "views", None).await?;
    let ana = new_user("ana");
    let topic_id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Popular?")).await?;
    let readers: Vec<String> = (0..5).map(|i| new_user(&format!("reader{i}"))).collect();
    let writes_before = updates_by(&stack, "DiscussionsFunction");

    // Act: five reads at once.
    let path = format!("/v1/topics/{topic_id}");
    let pages =
        futures_util::future::try_join_all(readers.iter().map(|r| stack.get(&path, r))).await?;
    let counted = topic_eventually(&stack, &topic_id, "five views counted", |t| {
        t["viewCount"] == 5
    })
    .await?;

    // Assert: every read answered without writing the topic; the views were added in
    // fewer writes than reads (one per batch).
    assert!(pages.iter().all(|p| p.status == 200), "{pages:?}");
    assert_eq!(updates_by(&stack, "DiscussionsFunction"), writes_before);
    let view_writes = updates_by(&stack, "TopicViewsFunction");
    assert!(
        (1..5).contains(&view_writes),
        "five views in {view_writes} writes"
    );
    assert_eq!(counted["viewCount"], 5);
    Ok(())
}

#[tokio::test]
async fn a_view_of_a_topic_that_is_gone_is_dropped_and_a_malformed_one_is_not_retried()
-> anyhow::Result<()> {
    // Arrange: views queued straight onto the queue, as a stale or broken sender would,
    // with the discussions function's grant.
    let stack = spawn().await?;
    let cat = category(&stack, "gone", None).await?;
    let ana = new_user("ana");
    let topic_id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Still here")).await?;
    let queue = stack
        .stack
        .queue_url("TopicViewsQueue")
        .unwrap_or_default()
        .to_owned();
    let sender = aws_sdk_sqs::Client::new(&stack.sdk_config_as("DiscussionsFunction").await);
    let admin = aws_sdk_sqs::Client::new(&stack.stack.sdk_config().await);
    let missing = "01JNOSUCHTOPIC000000000000";

    // Act
    for body in [
        json!({"topicId": missing}).to_string(),
        "not a view".to_owned(),
        json!({"topicId": topic_id}).to_string(),
    ] {
        sender
            .send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await?;
    }
    let counted = topic_eventually(&stack, &topic_id, "the good view counted", |t| {
        t["viewCount"] == 1
    })
    .await?;
    let left = stack
        .eventually("the queue emptied", || async {
            let attributes = admin
                .get_queue_attributes()
                .queue_url(&queue)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await?;
            let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
                attributes
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(u64::MAX)
            };
            let left = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .saturating_add(count(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ));
            Ok((left == 0).then_some(left))
        })
        .await?;

    // Assert: counted once, nothing created for the missing topic, nothing left to retry.
    assert_eq!(counted["viewCount"], 1);
    assert_eq!(left, 0);
    assert_eq!(
        stack
            .count_entities(&format!("TOPIC#{missing}"), "Topic")
            .await?,
        0
    );
    Ok(())
}

/// The UpdateItem calls `function` made so far.
fn updates_by(stack: &TestStack, function: &str) -> u64 {
    stack
        .stack
        .aws_calls()
        .get(&(function.to_owned(), "dynamodb:UpdateItem".to_owned()))
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_moderators_pin_and_lock_succeed_while_the_stream_counts_replies() -> anyhow::Result<()> {
    // Arrange: replies whose stream records move the topic's version while a
    // moderator acts on it.
    let stack = spawn().await?;
    let cat = category(&stack, &format!("race-{}", new_user("c")), None).await?;
    let (ana, moderator) = (new_user("ana"), new_user("mod"));
    let id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Busy topic")).await?;
    let toggle = |path: &'static str, field: &'static str, on: bool| {
        let (stack, id, moderator) = (&stack, id.clone(), moderator.clone());
        async move {
            call_as(
                stack,
                Method::PUT,
                &format!("/v1/topics/{id}/{path}"),
                &moderator,
                &["moderator"],
                Some(json!({ field: on })),
            )
            .await
        }
    };

    // Act: twelve people reply at once; meanwhile the moderator pins and unpins,
    // then locks and unlocks, twelve times.
    let replies = futures_util::future::join_all((0..12).map(|i| {
        let (stack, id) = (&stack, id.clone());
        async move {
            stack
                .post(
                    &format!("/v1/topics/{id}/replies"),
                    &new_user(&format!("r{i}")),
                    json!({"body": format!("reply {i}")}),
                )
                .await
        }
    }));
    let actions = async {
        let mut answers = Vec::new();
        for round in 0..12 {
            let on = round % 2 == 0;
            answers.push((on, "pinned", toggle("pin", "pinned", on).await?));
            answers.push((on, "locked", toggle("lock", "locked", on).await?));
        }
        anyhow::Ok(answers)
    };
    let (replies, answers) = tokio::join!(replies, actions);

    // Assert
    for (on, field, answer) in answers? {
        assert_eq!(answer.status, 200, "{field} -> {on}: {answer:?}");
        assert_eq!(answer.body[field], on, "{answer:?}");
    }
    let created = replies
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == 201))
        .count();
    assert!(created > 0, "some replies land while the topic is open");
    Ok(())
}

#[tokio::test]
async fn a_locked_topic_stays_readable_and_takes_no_new_replies_until_a_moderator_unlocks_it()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let cat = category(&stack, &format!("lock-{}", new_user("c")), None).await?;
    let (ana, bo, moderator) = (new_user("ana"), new_user("bo"), new_user("mod"));
    let id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Lock me")).await?;
    let earlier = id_of_new_reply(&stack, &bo, &id, None, "first").await?;
    let lock = |locked: Value| {
        let (stack, id, moderator) = (&stack, id.clone(), moderator.clone());
        async move {
            call_as(
                stack,
                Method::PUT,
                &format!("/v1/topics/{id}/lock"),
                &moderator,
                &["moderator"],
                Some(json!({ "locked": locked })),
            )
            .await
        }
    };
    let reply = |body: &'static str| {
        let (stack, id, bo) = (&stack, id.clone(), bo.clone());
        async move {
            stack
                .post(
                    &format!("/v1/topics/{id}/replies"),
                    &bo,
                    json!({"body": body}),
                )
                .await
        }
    };

    // Act
    let by_author = stack
        .put(
            &format!("/v1/topics/{id}/lock"),
            &ana,
            json!({"locked": true}),
        )
        .await?;
    let locked = lock(json!(true)).await?;
    let again = lock(json!(true)).await?;
    let refused = reply("second").await?;
    let read = stack.get(&format!("/v1/topics/{id}"), &bo).await?;
    let edited = stack
        .patch(
            &format!("/v1/topics/{id}/replies/{earlier}"),
            &bo,
            json!({"body": "first, edited"}),
        )
        .await?;
    let bad = lock(json!("yes")).await?;
    let unlocked = lock(json!(false)).await?;
    let accepted = reply("second, after all").await?;
    let replies = stack.get(&format!("/v1/topics/{id}/replies"), &bo).await?;

    // Assert
    assert_problem(&by_author, 403, None);
    assert_eq!(locked.status, 200, "{locked:?}");
    assert_eq!(locked.body["locked"], true);
    assert!(locked.body["lockedAt"].is_string());
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        again.body["lockedAt"], locked.body["lockedAt"],
        "a repeat changes nothing (the stream's counters may move the version)"
    );
    assert_problem(&refused, 409, None);
    assert_eq!(read.status, 200);
    assert_eq!(read.body["topic"]["locked"], true);
    assert_eq!(edited.status, 200, "authors still edit: {edited:?}");
    assert_problem(&bad, 400, Some("locked"));
    assert_eq!(unlocked.body["locked"], false);
    assert!(unlocked.body.get("lockedAt").is_none());
    assert_eq!(accepted.status, 201, "{accepted:?}");
    assert_eq!(
        replies.body["items"].as_array().map(Vec::len),
        Some(2),
        "only the replies made while open"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// Screening: topics and replies through the moderation queue
// ---------------------------------------------------------------------------------

const SCAM: &str = "Guaranteed returns of 20% a week, send your deposit now";

/// The topic as its author reads it once the moderation worker has checked its text.
async fn screened_topic(stack: &TestStack, author: &str, id: &str) -> anyhow::Result<Value> {
    stack
        .eventually("the topic's verdict", || async {
            let read = stack.get(&format!("/v1/topics/{id}"), author).await?;
            Ok(read.body["topic"]
                .get("screening")
                .is_some()
                .then(|| read.body["topic"].clone()))
        })
        .await
}

/// The `contentHidden` notifications of `user`.
async fn hidden_notices(stack: &TestStack, user: &str) -> anyhow::Result<Vec<Value>> {
    let page = stack.get("/v1/notifications?limit=50", user).await?;
    anyhow::ensure!(page.status == 200, "{page:?}");
    Ok(page.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["type"] == "contentHidden")
        .cloned()
        .collect())
}

#[tokio::test]
async fn a_topic_moderation_hides_is_seen_only_by_its_author_and_moderators_and_its_author_is_told_why()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let cat = category(&stack, &format!("scr-{}", new_user("c")), None).await?;
    let (ana, bo, moderator) = (new_user("ana"), new_user("bo"), new_user("mod"));
    let id = id_of_new_topic(
        &stack,
        &ana,
        json!({"title": "Easy money", "body": SCAM, "categoryId": cat}),
    )
    .await?;

    // Act
    let as_author = screened_topic(&stack, &ana, &id).await?;
    let as_other = stack.get(&format!("/v1/topics/{id}"), &bo).await?;
    let as_moderator = call_as(
        &stack,
        Method::GET,
        &format!("/v1/topics/{id}"),
        &moderator,
        &["moderator"],
        None,
    )
    .await?;
    let listing = |user: String| {
        let (stack, cat) = (&stack, cat.clone());
        async move {
            let page = stack
                .get(&format!("/v1/topics?category={cat}&limit=50"), &user)
                .await?;
            anyhow::Ok(field_of_items(&page.body, "topicId"))
        }
    };
    let (listed_to_author, listed_to_other) =
        (listing(ana.clone()).await?, listing(bo.clone()).await?);
    let review = stack
        .item(&format!("REVIEW#TOPIC#{id}|META"), "META")
        .await?;
    let notices = stack
        .eventually("the author's notice", || async {
            let notices = hidden_notices(&stack, &ana).await?;
            Ok((!notices.is_empty()).then_some(notices))
        })
        .await?;

    // Assert
    assert_eq!(as_author["screening"]["status"], "hidden", "{as_author}");
    assert_eq!(as_author["screening"]["categories"], json!(["scam"]));
    assert_problem(&as_other, 404, None);
    assert_eq!(as_moderator.status, 200, "{as_moderator:?}");
    assert_eq!(listed_to_author, vec![id.clone()]);
    assert!(listed_to_other.is_empty(), "{listed_to_other:?}");
    let review = review.ok_or_else(|| anyhow::anyhow!("no review item"))?;
    assert_eq!(review["status"], "open");
    assert_eq!(review["GSI1PK"], "MODQ#GLOBAL");
    assert_eq!(review["authorId"], ana.as_str());
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["object"]["content"]["kind"], "topic");
    assert_eq!(notices[0]["object"]["content"]["topicId"], id.as_str());
    assert_eq!(
        notices[0]["object"]["content"]["categories"],
        json!(["scam"])
    );
    assert_eq!(notices[0]["summary"], "Moderation hid your topic (scam)");
    Ok(())
}

#[tokio::test]
async fn an_edit_is_checked_again_and_a_clean_text_brings_the_topic_back_to_everyone()
-> anyhow::Result<()> {
    // Arrange: a clean topic, checked.
    let stack = spawn().await?;
    let cat = category(&stack, &format!("scr-{}", new_user("c")), None).await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    let id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Budget apps")).await?;
    assert_eq!(
        screened_topic(&stack, &ana, &id).await?["screening"]["status"],
        "clean"
    );
    let edit = |body: &'static str| {
        let (stack, id, ana) = (&stack, id.clone(), ana.clone());
        async move {
            stack
                .patch(&format!("/v1/topics/{id}"), &ana, json!({ "body": body }))
                .await
        }
    };
    let status_is = |wanted: &'static str| {
        let (stack, id, ana) = (&stack, id.clone(), ana.clone());
        async move {
            stack
                .eventually(wanted, || async {
                    let read = stack.get(&format!("/v1/topics/{id}"), &ana).await?;
                    Ok((read.body["topic"]["screening"]["status"] == wanted).then_some(()))
                })
                .await
        }
    };

    // Act: a scam edit, then a counter change right after it (a reaction), then a
    // clean edit.
    let scam = edit(SCAM).await?;
    let reacted = react(&stack, &bo, &id, &id, "like").await?;
    status_is("hidden").await?;
    let hidden_to_other = stack.get(&format!("/v1/topics/{id}"), &bo).await?;
    let clean = edit("Which budget app do you use, and why?").await?;
    status_is("clean").await?;
    let shown_to_other = stack.get(&format!("/v1/topics/{id}"), &bo).await?;
    let review = stack
        .item(&format!("REVIEW#TOPIC#{id}|META"), "META")
        .await?;

    // Assert
    assert_eq!(scam.status, 200, "{scam:?}");
    assert!(reacted.status < 300, "{reacted:?}");
    assert_problem(&hidden_to_other, 404, None);
    assert_eq!(clean.status, 200, "{clean:?}");
    assert_eq!(shown_to_other.status, 200, "{shown_to_other:?}");
    let review = review.ok_or_else(|| anyhow::anyhow!("no review item"))?;
    assert_eq!(review["status"], "cleared", "{review}");
    assert!(
        review.get("GSI1PK").is_none(),
        "it left the queue: {review}"
    );
    Ok(())
}

#[tokio::test]
async fn a_hidden_reply_keeps_its_place_in_the_thread_with_its_text_shown_only_to_its_author()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let cat = category(&stack, &format!("scr-{}", new_user("c")), None).await?;
    let (ana, bo, carl) = (new_user("ana"), new_user("bo"), new_user("carl"));
    let id = id_of_new_topic(&stack, &ana, simple_topic(&cat, "Side income")).await?;
    let reply_id = id_of_new_reply(&stack, &bo, &id, None, SCAM).await?;

    // Act
    let as_author = stack
        .eventually("the reply's verdict", || async {
            let page = stack.get(&format!("/v1/topics/{id}/replies"), &bo).await?;
            let reply = page.body["items"][0].clone();
            Ok(reply.get("screening").is_some().then_some(reply))
        })
        .await?;
    let as_other = stack
        .get(&format!("/v1/topics/{id}/replies"), &carl)
        .await?;
    let activity_gone = stack
        .eventually("the reply's activity withdrawn", || async {
            let activities = stack.items_mentioning(&reply_id).await?;
            let live = activities
                .iter()
                .filter(|i| i["entity"] == "Activity" && i["deleted"] != true)
                .count();
            Ok((live == 0).then_some(()))
        })
        .await;

    // Assert
    assert_eq!(as_author["screening"]["status"], "hidden", "{as_author}");
    assert_eq!(as_author["body"], SCAM, "its author still reads it");
    let shown = &as_other.body["items"][0];
    assert_eq!(shown["replyId"], reply_id.as_str());
    assert_eq!(shown["body"], "[hidden by moderation]");
    assert!(activity_gone.is_ok(), "{activity_gone:?}");
    Ok(())
}

#[tokio::test]
async fn a_redelivered_or_stale_moderation_job_changes_nothing() -> anyhow::Result<()> {
    // Arrange: a hidden topic and the job that hid it.
    let stack = spawn().await?;
    let cat = category(&stack, &format!("scr-{}", new_user("c")), None).await?;
    let ana = new_user("ana");
    let id = id_of_new_topic(
        &stack,
        &ana,
        json!({"title": "Easy money", "body": SCAM, "categoryId": cat}),
    )
    .await?;
    let before = screened_topic(&stack, &ana, &id).await?;
    let review = stack
        .item(&format!("REVIEW#TOPIC#{id}|META"), "META")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no review item"))?;
    let job = |digest: &str| {
        json!({"kind": "moderateText", "entity": "Topic", "pk": format!("TOPIC#{id}"),
               "sk": "META", "digest": digest})
    };

    // Act: the same job twice in one batch, a stale one, and a malformed one.
    let failed = stack
        .invoke_queue_function(
            "ModerationWorkerFunction",
            &[
                ("m1", job(review["digest"].as_str().unwrap_or_default())),
                ("m2", job(review["digest"].as_str().unwrap_or_default())),
                ("m3", job("0000")),
                ("m4", json!({"kind": "moderateText", "entity": "Nope"})),
            ],
        )
        .await?;
    let after = screened_topic(&stack, &ana, &id).await?;
    let review_after = stack
        .item(&format!("REVIEW#TOPIC#{id}|META"), "META")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no review item"))?;
    let notices = stack
        .eventually("the author's notice", || async {
            let notices = hidden_notices(&stack, &ana).await?;
            Ok((!notices.is_empty()).then_some(notices))
        })
        .await?;

    // Assert
    assert_eq!(
        failed,
        vec!["m4".to_owned()],
        "only the malformed job fails"
    );
    assert_eq!(after["screening"]["status"], "hidden");
    assert_eq!(
        before["screening"]["categories"],
        after["screening"]["categories"]
    );
    assert_eq!(notices.len(), 1, "told once: {notices:?}");
    assert_eq!(
        review_after, review,
        "the review item is written once per text: it keeps its place in the queue"
    );
    Ok(())
}
