//! The activity feed, end to end: real HTTP requests through the local stack into the
//! `feed` function, and the table's stream into the fan-out function (`stream-fanout`),
//! against moto.
//!
//! Connections, blocks, topics and replies are arranged by writing their items directly
//! (the shapes are the shared item contract), so these tests do not depend on the
//! connections and discussions endpoints.

use std::collections::HashMap;

use agora_tests::{
    Reply, StreamRecord, TestStack, assert_problem, connection_item, field_of_items, new_user,
    spawn, spawn_with,
};
use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::{Value, json};

fn now() -> String {
    agora::ids::now_rfc3339()
}

/// Four new users: Ana; Bea and Caio, who are connected to her (each sent the request);
/// and Dan, a stranger to all three. `(ana, bea, caio, dan)`.
async fn ana_connected_to_bea_and_caio_and_stranger_dan(
    stack: &TestStack,
) -> anyhow::Result<(String, String, String, String)> {
    let (ana, bea, caio, dan) = (
        new_user("ana"),
        new_user("bea"),
        new_user("caio"),
        new_user("dan"),
    );
    stack.connect_directly(&bea, &ana).await?;
    stack.connect_directly(&caio, &ana).await?;
    Ok((ana, bea, caio, dan))
}

fn lesson(visibility: &str) -> Value {
    json!({
        "verb": "lessonCompleted", "visibility": visibility, "text": "Finally got lifetimes!",
        "object": {"lessonId": "rust-101-07", "title": "Lifetimes", "courseTitle": "Rust 101"}
    })
}

/// Posts an activity and returns its id.
async fn post_activity(stack: &TestStack, user: &str, body: Value) -> anyhow::Result<String> {
    let activity = stack.post_created("/v1/activities", user, body).await?;
    Ok(activity["activityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A share of `text` (no original) with the given visibility.
fn share(visibility: &str, text: &str) -> Value {
    json!({"verb": "share", "visibility": visibility, "text": text})
}

/// `user` likes `activity`.
async fn like(stack: &TestStack, user: &str, activity: &str) -> anyhow::Result<Reply> {
    stack
        .put(&format!("/v1/activities/{activity}/like"), user, json!({}))
        .await
}

/// The activity ids of a feed or timeline page.
fn ids(reply: &Reply) -> Vec<String> {
    field_of_items(&reply.body, "activityId")
}

async fn feed_ids(stack: &TestStack, user: &str) -> anyhow::Result<Vec<String>> {
    let reply = stack.get("/v1/feed?limit=100", user).await?;
    anyhow::ensure!(reply.status == 200, "feed failed: {reply:?}");
    Ok(ids(&reply))
}

async fn timeline_ids(stack: &TestStack, user: &str) -> anyhow::Result<Vec<String>> {
    let reply = stack.get("/v1/timeline?limit=100", user).await?;
    anyhow::ensure!(reply.status == 200, "timeline failed: {reply:?}");
    Ok(ids(&reply))
}

/// Waits until `user`'s home feed holds (or no longer holds) `activity`.
async fn await_in_feed(
    stack: &TestStack,
    user: &str,
    activity: &str,
    present: bool,
) -> anyhow::Result<()> {
    stack
        .eventually(
            &format!("{activity} in {user}'s feed = {present}"),
            || async {
                let found = feed_ids(stack, user).await?.iter().any(|id| id == activity);
                Ok((found == present).then_some(()))
            },
        )
        .await
}

/// The entry for `activity` on the first page of `user`'s home feed (Null when absent).
async fn feed_entry(stack: &TestStack, user: &str, activity: &str) -> anyhow::Result<Value> {
    let feed = stack.get("/v1/feed", user).await?;
    Ok(feed.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["activityId"] == activity))
        .cloned()
        .unwrap_or_default())
}

/// Waits until `user` sees `activity` with `count` likes: the like shards are settled
/// onto the activity by the stream.
async fn await_like_count(
    stack: &TestStack,
    user: &str,
    activity: &str,
    count: i64,
) -> anyhow::Result<Value> {
    stack
        .eventually(&format!("{activity} with {count} likes"), || async {
            let view = stack
                .get(&format!("/v1/activities/{activity}"), user)
                .await?;
            Ok((view.body["likeCount"] == count).then_some(view.body))
        })
        .await
}

/// The stored activities of a user (through the pointers in their partition).
async fn activities_of(stack: &TestStack, user: &str) -> anyhow::Result<Vec<Value>> {
    let mut activities = Vec::new();
    for pointer in stack.partition(&format!("USER#{user}")).await? {
        if pointer["entity"] == "AuthoredActivity" {
            let id = pointer["activityId"].as_str().unwrap_or_default();
            activities.extend(
                stack
                    .partition(&format!("ACT#{id}"))
                    .await?
                    .into_iter()
                    .filter(|i| i["SK"] == "META"),
            );
        }
    }
    Ok(activities)
}

/// The INSERT records of these items (`(pk, sk)`), rebuilt from their state in the table,
/// for delivering them to the fan-out function (`stream-fanout`) again.
async fn inserts_of(stack: &TestStack, keys: &[(&str, &str)]) -> anyhow::Result<Vec<StreamRecord>> {
    let mut records = Vec::new();
    for (index, (pk, sk)) in keys.iter().enumerate() {
        let item = stack
            .item(pk, sk)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no item {pk}/{sk}"))?;
        records.push(StreamRecord::insert(&item).sequence(1000 + index as u64));
    }
    Ok(records)
}

#[tokio::test]
async fn an_activity_reaches_exactly_the_feeds_its_visibility_allows() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea, caio, dan) = ana_connected_to_bea_and_caio_and_stranger_dan(&stack).await?;

    let for_connections = post_activity(&stack, &ana, lesson("connections")).await?;
    let private = post_activity(&stack, &ana, lesson("private")).await?;
    let public = post_activity(
        &stack,
        &ana,
        json!({"verb": "goalShared", "visibility": "public",
               "object": {"goal": "Save 15% of my salary", "targetDate": "2026-12-31"}}),
    )
    .await?;

    for reader in [&bea, &caio] {
        await_in_feed(&stack, reader, &public, true).await?;
        await_in_feed(&stack, reader, &for_connections, true).await?;
        assert!(!feed_ids(&stack, reader).await?.contains(&private));
    }
    await_in_feed(&stack, &ana, &private, true).await?;
    let mine = feed_ids(&stack, &ana).await?;
    assert!(mine.contains(&public) && mine.contains(&for_connections));
    assert_eq!(feed_ids(&stack, &dan).await?, Vec::<String>::new());
    let timeline = timeline_ids(&stack, &dan).await?;
    assert!(timeline.contains(&public));
    assert!(!timeline.contains(&for_connections) && !timeline.contains(&private));

    let seen = stack
        .get(&format!("/v1/activities/{for_connections}"), &bea)
        .await?;
    assert_eq!(seen.status, 200, "{seen:?}");
    assert_eq!(seen.body["verb"], "lessonCompleted");
    assert_eq!(seen.body["object"]["title"], "Lifetimes");
    assert_eq!(seen.body["likedByMe"], false);
    let stranger = stack
        .get(&format!("/v1/activities/{for_connections}"), &dan)
        .await?;
    assert_problem(&stranger, 404, None);
    let connection = stack
        .get(&format!("/v1/activities/{private}"), &bea)
        .await?;
    assert_problem(&connection, 404, None);
    let public_view = stack.get(&format!("/v1/activities/{public}"), &dan).await?;
    assert_eq!(public_view.status, 200, "{public_view:?}");
    Ok(())
}

#[tokio::test]
async fn bad_activity_input_is_refused_naming_the_field_and_writes_nothing() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = new_user("ana");

    let cases = [
        (
            json!({"verb": "discussionPosted", "object": {}}),
            400,
            "verb",
        ),
        (json!({"verb": "lessonCompleted"}), 422, "object"),
        (
            json!({"verb": "lessonCompleted", "object": {"lessonId": "a b", "title": "T"}}),
            422,
            "object.lessonId",
        ),
        (
            json!({"verb": "badgeEarned", "object": {"badgeId": "b1", "name": "N", "imageUrl": "javascript:x"}}),
            422,
            "object.imageUrl",
        ),
        (
            json!({"verb": "goalShared", "object": {"goal": 7}}),
            400,
            "object.goal",
        ),
        (json!({"verb": "share", "text": "   "}), 422, "text"),
        (
            json!({"verb": "share", "text": "hi", "visibility": "friends"}),
            400,
            "visibility",
        ),
        (
            json!({"verb": "share", "text": "hi", "admin": true}),
            400,
            "admin",
        ),
    ];
    for (body, status, field) in cases {
        let reply = stack.post("/v1/activities", &ana, body).await?;
        assert_problem(&reply, status, Some(field));
    }
    let anonymous = stack
        .call(
            Method::POST,
            "/v1/activities",
            None,
            Some(&json!({"verb": "share", "text": "hi"})),
        )
        .await?;
    assert_problem(&anonymous, 401, None);
    let comment = stack
        .post(
            "/v1/activities/01JD7Z5K8M3Q9R2T4V6W8X0Y1Z/comments",
            &ana,
            json!({"text": ""}),
        )
        .await?;
    assert_problem(&comment, 422, Some("text"));

    assert!(activities_of(&stack, &ana).await?.is_empty());
    assert!(feed_ids(&stack, &ana).await?.is_empty());
    let unknown = stack.get("/v1/activities/not-an-id", &ana).await?;
    assert_problem(&unknown, 404, None);
    Ok(())
}

#[tokio::test]
async fn topics_replies_connections_and_accepted_answers_generate_one_activity_each_even_when_redelivered()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea) = (new_user("ana"), new_user("bea"));
    stack.connect_directly(&ana, &bea).await?;
    let topic_id = ulid::Ulid::new().to_string();
    let reply_id = ulid::Ulid::new().to_string();
    let topic_pk = format!("TOPIC#{topic_id}");
    let reply_sk = format!("REPLY#{reply_id}");

    stack
        .put_item(&json!({
            "PK": topic_pk, "SK": "META", "entity": "Topic", "topicId": topic_id, "authorId": ana,
            "categoryId": "budgeting", "title": "Envelope budgeting in 2026?", "body": "Does it still work?",
            "tags": ["budget"], "mentions": [], "createdAt": now(), "updatedAt": now(),
            "lastActivityAt": now(), "deleted": false, "replyCount": 0, "reactionCounts": {},
            "viewCount": 0, "pinned": false, "version": 1,
        }))
        .await?;
    let topic_insert = inserts_of(&stack, &[(&topic_pk, "META")]).await?;
    stack
        .put_item(&json!({
            "PK": topic_pk, "SK": reply_sk, "entity": "Reply", "replyId": reply_id, "topicId": topic_id,
            "authorId": bea, "parentAuthorId": ana, "topicAuthorId": ana, "mentions": [],
            "body": "Yes, with a spreadsheet.", "depth": 1, "createdAt": now(), "updatedAt": now(),
            "deleted": false,
        }))
        .await?;
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(topic_pk.clone()))
        .key("SK", AttributeValue::S("META".into()))
        .update_expression("SET acceptedReplyId = :r, acceptedReplyAuthorId = :a, updatedAt = :u")
        .expression_attribute_values(":r", AttributeValue::S(reply_id.clone()))
        .expression_attribute_values(":a", AttributeValue::S(bea.clone()))
        .expression_attribute_values(":u", AttributeValue::S(now()))
        .send()
        .await?;

    let verbs = |activities: &[Value]| -> Vec<String> {
        let mut verbs: Vec<String> = activities
            .iter()
            .filter_map(|a| a["verb"].as_str().map(str::to_owned))
            .collect();
        verbs.sort();
        verbs
    };
    stack
        .eventually("generated activities", || async {
            let all = [
                activities_of(&stack, &ana).await?,
                activities_of(&stack, &bea).await?,
            ]
            .concat();
            Ok((all.len() == 4).then_some(()))
        })
        .await?;
    assert_eq!(
        verbs(&activities_of(&stack, &ana).await?),
        ["discussionPosted"]
    );
    assert_eq!(
        verbs(&activities_of(&stack, &bea).await?),
        ["answerAccepted", "connectionMade", "replyPosted"]
    );
    let answer = activities_of(&stack, &bea)
        .await?
        .into_iter()
        .find(|a| a["verb"] == "answerAccepted")
        .unwrap_or_default();
    assert_eq!(answer["object"]["replyId"], reply_id.as_str());
    assert!(
        answer["object"].get("title").is_none() && answer["object"].get("topicAuthorId").is_none(),
        "the stored activity copies neither the title nor the topic's author: {answer}"
    );
    let answer_id = answer["activityId"].as_str().unwrap_or_default().to_owned();
    let shown = stack
        .get(&format!("/v1/activities/{answer_id}"), &ana)
        .await?;
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.body["object"]["title"], "Envelope budgeting in 2026?");
    let discussion = activities_of(&stack, &ana).await?[0]["activityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    await_in_feed(&stack, &bea, &discussion, true).await?;
    assert!(timeline_ids(&stack, &bea).await?.contains(&discussion));

    // Act: the stream delivers the topic, the reply and both connection mirrors again.
    stack
        .redeliver_batch("StreamFanoutFunction", &topic_insert)
        .await?;
    stack
        .redeliver_batch("StreamFanoutFunction", &topic_insert)
        .await?;
    let again = inserts_of(
        &stack,
        &[
            (&topic_pk, &reply_sk),
            (&format!("USER#{ana}"), &format!("CONN#{bea}")),
            (&format!("USER#{bea}"), &format!("CONN#{ana}")),
        ],
    )
    .await?;
    stack
        .redeliver_batch("StreamFanoutFunction", &again)
        .await?;

    assert_eq!(activities_of(&stack, &ana).await?.len(), 1);
    assert_eq!(activities_of(&stack, &bea).await?.len(), 3);
    let bea_feed = feed_ids(&stack, &bea).await?;
    assert_eq!(bea_feed.iter().filter(|id| **id == discussion).count(), 1);

    // The title shown is the topic's own: renamed, then gone with the topic.
    let set_topic = |expression: &'static str, value: AttributeValue| {
        let (stack, topic_pk) = (&stack, topic_pk.clone());
        async move {
            stack
                .dynamodb()
                .await
                .update_item()
                .table_name(stack.table())
                .key("PK", AttributeValue::S(topic_pk))
                .key("SK", AttributeValue::S("META".into()))
                .update_expression(expression)
                .expression_attribute_values(":v", value)
                .send()
                .await
        }
    };
    set_topic(
        "SET title = :v",
        AttributeValue::S("Envelopes, revisited".into()),
    )
    .await?;
    let renamed = stack
        .get(&format!("/v1/activities/{answer_id}"), &bea)
        .await?;
    set_topic("SET deleted = :v", AttributeValue::Bool(true)).await?;
    let orphaned = stack
        .get(&format!("/v1/activities/{answer_id}"), &bea)
        .await?;

    assert_eq!(renamed.body["object"]["title"], "Envelopes, revisited");
    assert_eq!(orphaned.status, 200, "{orphaned:?}");
    assert!(
        orphaned.body["object"].get("title").is_none(),
        "no title once the topic is deleted: {}",
        orphaned.body
    );
    Ok(())
}

#[tokio::test]
async fn a_fan_out_to_300_connections_lands_exactly_once_each_in_parallel_deliveries_even_when_redelivered()
-> anyhow::Result<()> {
    // Deliveries of 20 recipients, one Query page (10 deliveries, 200 connections) per
    // stream invocation: 300 connections are 15 deliveries queued by 2 stream steps.
    let stack = spawn_with(|options| {
        options.environment_overrides.extend([
            ("FEED_FANOUT_PAGE_SIZE".to_owned(), "20".to_owned()),
            (
                "FEED_FANOUT_PAGES_PER_INVOCATION".to_owned(),
                "1".to_owned(),
            ),
        ]);
    })
    .await?;
    let author = new_user("star");
    let followers: Vec<String> = (0..300).map(|i| new_user(&format!("f{i}"))).collect();
    // Only the author's side is needed to page their connections; requestedBy = author
    // on the author's side generates no connectionMade activity.
    let at = now();
    let author_side: Vec<Value> = followers
        .iter()
        .map(|f| connection_item(&author, f, &author, &at))
        .collect();
    stack.put_items(&author_side).await?;

    let activity = post_activity(
        &stack,
        &author,
        json!({"verb": "badgeEarned", "visibility": "connections",
               "object": {"badgeId": "streak-30", "name": "30-day streak"}}),
    )
    .await?;

    let client = stack.dynamodb().await;
    // How many followers' feeds hold the entry: one BatchGetItem per 100 keys.
    let count_entries = || async {
        let mut landed = 0usize;
        for chunk in followers.chunks(100) {
            let keys = chunk
                .iter()
                .map(|f| {
                    HashMap::from([
                        ("PK".to_owned(), AttributeValue::S(format!("FEED#{f}"))),
                        ("SK".to_owned(), AttributeValue::S(activity.clone())),
                    ])
                })
                .collect();
            let mut request = Some(
                aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()?,
            );
            while let Some(pending) = request.take() {
                let output = client
                    .batch_get_item()
                    .request_items(stack.table(), pending)
                    .send()
                    .await?;
                landed += output
                    .responses
                    .and_then(|mut r| r.remove(&stack.table()))
                    .map(|items| items.len())
                    .unwrap_or(0);
                request = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&stack.table()));
            }
        }
        Ok::<_, anyhow::Error>(landed)
    };
    // Every follower's feed holds this one entry and nothing else.
    let entries_per_feed = || async {
        let mut counts = Vec::new();
        for follower in &followers {
            let output = client
                .query()
                .table_name(stack.table())
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(format!("FEED#{follower}")))
                .send()
                .await?;
            counts.push(output.items.unwrap_or_default().len());
        }
        Ok::<_, anyhow::Error>(counts)
    };
    stack
        .eventually("the fan-out to 300 connections", || async {
            Ok((count_entries().await? == 300).then_some(()))
        })
        .await?;
    let progress = stack.partition(&format!("FANOUT#{activity}")).await?;
    let steps: Vec<&Value> = progress.iter().map(|p| &p["SK"]).collect();
    // Two stream steps queued the 15 deliveries (not one step per page of 20).
    assert_eq!(steps, vec!["put#00001"], "one continuation: {progress:?}");

    // Act: the activity's INSERT and the first continuation are delivered again.
    let again = inserts_of(
        &stack,
        &[
            (&format!("ACT#{activity}"), "META"),
            (&format!("FANOUT#{activity}"), "put#00001"),
        ],
    )
    .await?;
    stack
        .redeliver_batch("StreamFanoutFunction", &again)
        .await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    assert_eq!(count_entries().await?, 300);
    assert!(entries_per_feed().await?.iter().all(|n| *n == 1));
    // Reads re-check connections-only entries against the reader's connection item.
    let reader = &followers[299];
    stack
        .put_item(&connection_item(reader, &author, &author, &at))
        .await?;
    let feed = stack.get("/v1/feed", reader).await?;
    assert_eq!(ids(&feed).iter().filter(|id| **id == activity).count(), 1);

    // Deleting fans out the same way and empties every feed.
    let deleted = stack
        .delete(&format!("/v1/activities/{activity}"), &author)
        .await?;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    stack
        .eventually("the delete fan-out to 300 connections", || async {
            Ok((count_entries().await? == 0).then_some(()))
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn likes_are_one_per_user_and_counts_stay_exact_under_retries() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea, caio, dan) = ana_connected_to_bea_and_caio_and_stranger_dan(&stack).await?;
    let activity = post_activity(&stack, &ana, lesson("connections")).await?;
    let like = format!("/v1/activities/{activity}/like");

    for _ in 0..2 {
        let reply = stack.put(&like, &bea, json!({})).await?;
        assert_eq!(reply.status, 204, "{reply:?}");
    }
    let keyed =
        |user: &str| stack.request_with_idempotency_key(Method::PUT, &like, user, "like-once-1");
    assert_eq!(stack.raw(keyed(&caio)).await?.status, 204);
    assert_eq!(stack.raw(keyed(&caio)).await?.status, 204);
    let stranger = stack.put(&like, &dan, json!({})).await?;
    assert_problem(&stranger, 404, None);

    let view = await_like_count(&stack, &bea, &activity, 2).await?;
    assert_eq!(view["likedByMe"], true);
    await_in_feed(&stack, &caio, &activity, true).await?;
    let entry = feed_entry(&stack, &caio, &activity).await?;
    assert_eq!(entry["likeCount"], 2);
    assert_eq!(entry["likedByMe"], true);

    for _ in 0..2 {
        let reply = stack.delete(&like, &bea).await?;
        assert_eq!(reply.status, 204, "{reply:?}");
    }
    // Mine is exact at once; the count once the stream settled it.
    let view = stack
        .get(&format!("/v1/activities/{activity}"), &bea)
        .await?;
    assert_eq!(view.body["likedByMe"], false);
    await_like_count(&stack, &bea, &activity, 1).await?;
    Ok(())
}

#[tokio::test]
async fn comments_page_in_order_and_shares_repost_public_activities_only() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea, caio, dan) = (
        new_user("ana"),
        new_user("bea"),
        new_user("caio"),
        new_user("dan"),
    );
    stack.connect_directly(&bea, &ana).await?;
    stack.connect_directly(&caio, &bea).await?;
    let public = post_activity(
        &stack,
        &ana,
        share("public", "Index funds beat my stock picks."),
    )
    .await?;
    let connections_only = post_activity(&stack, &ana, lesson("connections")).await?;
    let comments = format!("/v1/activities/{public}/comments");

    for text in ["Same here", "Which index?", "VWCE"] {
        let reply = stack.post(&comments, &dan, json!({"text": text})).await?;
        assert_eq!(reply.status, 201, "{reply:?}");
        assert_eq!(reply.body["text"], text);
    }
    let first = stack.get(&format!("{comments}?limit=2"), &bea).await?;
    let texts = |reply: &Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .map(|i| {
                i.iter()
                    .filter_map(|c| c["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(texts(&first), ["Same here", "Which index?"]);
    let cursor = first.body["nextCursor"].as_str().unwrap_or_default();
    let second = stack
        .get(&format!("{comments}?limit=2&cursor={cursor}"), &bea)
        .await?;
    assert_eq!(texts(&second), ["VWCE"]);
    let hidden = stack
        .post(
            &format!("/v1/activities/{connections_only}/comments"),
            &dan,
            json!({"text": "hi"}),
        )
        .await?;
    assert_problem(&hidden, 404, None);

    let shared = stack
        .post(
            &format!("/v1/activities/{public}/shares"),
            &bea,
            json!({"text": "Worth reading", "visibility": "connections"}),
        )
        .await?;
    assert_eq!(shared.status, 201, "{shared:?}");
    assert_eq!(shared.body["verb"], "share");
    assert_eq!(shared.body["original"]["activityId"], public.as_str());
    assert_eq!(shared.body["original"]["authorId"], ana.as_str());
    let share_id = shared.body["activityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let stored = stack.partition(&format!("ACT#{share_id}")).await?;
    assert!(
        !stored
            .iter()
            .any(|item| item.to_string().contains(ana.as_str())),
        "the share names its original only by id: {stored:?}"
    );
    let refused = stack
        .post(
            &format!("/v1/activities/{connections_only}/shares"),
            &bea,
            json!({}),
        )
        .await?;
    assert_problem(&refused, 403, None);

    await_in_feed(&stack, &caio, &share_id, true).await?;
    let entry = feed_entry(&stack, &caio, &share_id).await?;
    assert_eq!(entry["text"], "Worth reading");
    assert_eq!(
        entry["original"]["text"],
        "Index funds beat my stock picks."
    );
    let original = stack.get(&format!("/v1/activities/{public}"), &dan).await?;
    assert_eq!(original.body["shareCount"], 1);
    assert_eq!(original.body["commentCount"], 3);

    // The original's deletion leaves the share without its embedded original.
    assert_eq!(
        stack
            .delete(&format!("/v1/activities/{public}"), &ana)
            .await?
            .status,
        204
    );
    let entry = feed_entry(&stack, &caio, &share_id).await?;
    assert!(entry["original"].is_null(), "{entry}");
    Ok(())
}

#[tokio::test]
async fn deleting_an_activity_removes_it_everywhere_and_only_its_author_may() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, bea, dan) = (new_user("ana"), new_user("bea"), new_user("dan"));
    stack.connect_directly(&bea, &ana).await?;
    let connections_only = post_activity(&stack, &ana, lesson("connections")).await?;
    let public = post_activity(&stack, &ana, share("public", "Hello world")).await?;
    await_in_feed(&stack, &bea, &public, true).await?;
    await_in_feed(&stack, &bea, &connections_only, true).await?;
    like(&stack, &bea, &public).await?;

    let by_connection = stack
        .delete(&format!("/v1/activities/{public}"), &bea)
        .await?;
    assert_problem(&by_connection, 403, None);
    let by_stranger = stack
        .delete(&format!("/v1/activities/{connections_only}"), &dan)
        .await?;
    assert_problem(&by_stranger, 404, None);
    for _ in 0..2 {
        let reply = stack
            .delete(&format!("/v1/activities/{public}"), &ana)
            .await?;
        assert_eq!(reply.status, 204, "{reply:?}");
    }

    await_in_feed(&stack, &bea, &public, false).await?;
    await_in_feed(&stack, &ana, &public, false).await?;
    stack
        .eventually("the timeline entry removed", || async {
            let gone = stack
                .partition(&format!(
                    "TIMELINE#{}",
                    agora::feed::day_bucket(agora::ids::now_epoch_seconds())
                ))
                .await?
                .iter()
                .all(|e| e["activityId"] != public.as_str());
            Ok(gone.then_some(()))
        })
        .await?;
    assert!(!timeline_ids(&stack, &dan).await?.contains(&public));
    assert_problem(
        &stack.get(&format!("/v1/activities/{public}"), &ana).await?,
        404,
        None,
    );
    assert_problem(&like(&stack, &bea, &public).await?, 404, None);
    let children = stack.partition(&format!("ACT#{public}")).await?;
    assert!(
        children.iter().all(|i| i["SK"] == "META"),
        "likes went with it"
    );

    // Deleting the account removes the author's remaining activity from every feed.
    let gone = stack.delete_account(&ana).await?;
    assert_eq!(gone.status, 202, "{gone:?}");
    await_in_feed(&stack, &bea, &connections_only, false).await?;
    assert!(
        stack
            .partition(&format!("ACT#{connections_only}"))
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn blocked_authors_are_hidden_from_feeds_timeline_comments_and_reads() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea, dan) = (new_user("ana"), new_user("bea"), new_user("dan"));
    stack.connect_directly(&bea, &ana).await?;
    let public = post_activity(&stack, &ana, share("public", "Public thoughts")).await?;
    let dans = post_activity(&stack, &dan, share("public", "Dan here")).await?;
    await_in_feed(&stack, &bea, &public, true).await?;
    stack
        .post(
            &format!("/v1/activities/{dans}/comments"),
            &ana,
            json!({"text": "Hi Dan"}),
        )
        .await?;
    assert!(timeline_ids(&stack, &dan).await?.contains(&public));

    stack.block_directly(&dan, &ana).await?;
    stack.block_directly(&ana, &bea).await?;

    assert!(!timeline_ids(&stack, &dan).await?.contains(&public));
    assert!(!timeline_ids(&stack, &ana).await?.contains(&dans));
    assert_problem(
        &stack.get(&format!("/v1/activities/{public}"), &dan).await?,
        404,
        None,
    );
    assert_problem(
        &stack.get(&format!("/v1/activities/{dans}"), &ana).await?,
        404,
        None,
    );
    assert!(!feed_ids(&stack, &bea).await?.contains(&public));
    let comments = stack
        .get(&format!("/v1/activities/{dans}/comments"), &dan)
        .await?;
    assert_eq!(comments.body["items"], json!([]), "{comments:?}");
    Ok(())
}

#[tokio::test]
async fn feed_pages_follow_their_cursor_and_bad_paging_is_refused() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = new_user("ana");
    let mut posted = Vec::new();
    for text in ["one", "two", "three"] {
        posted.push(post_activity(&stack, &ana, share("private", text)).await?);
    }
    for id in &posted {
        await_in_feed(&stack, &ana, id, true).await?;
    }

    let first = stack.get("/v1/feed?limit=2", &ana).await?;
    assert_eq!(ids(&first), [posted[2].clone(), posted[1].clone()]);
    let cursor = first.body["nextCursor"].as_str().unwrap_or_default();
    let second = stack
        .get(&format!("/v1/feed?limit=2&cursor={cursor}"), &ana)
        .await?;
    assert_eq!(ids(&second), [posted[0].clone()]);

    assert_problem(
        &stack.get("/v1/feed?cursor=forged", &ana).await?,
        400,
        Some("cursor"),
    );
    assert_problem(
        &stack
            .get(&format!("/v1/timeline?cursor={cursor}"), &ana)
            .await?,
        400,
        Some("cursor"),
    );
    assert_problem(
        &stack.get("/v1/feed?limit=0", &ana).await?,
        400,
        Some("limit"),
    );
    let timeline = stack.get("/v1/timeline?limit=5", &ana).await?;
    assert_eq!(timeline.status, 200);
    assert!(
        timeline.body["nextCursor"].is_string(),
        "the timeline continues into the previous day"
    );
    Ok(())
}

#[tokio::test]
async fn deleting_an_account_removes_its_likes_comments_and_home_feed() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, leaver) = (new_user("ana"), new_user("leaver"));
    stack.connect_directly(&leaver, &ana).await?;
    let activity = post_activity(&stack, &ana, lesson("connections")).await?;
    let liked = like(&stack, &leaver, &activity).await?;
    assert_eq!(liked.status, 204, "{liked:?}");
    let commented = stack
        .post(
            &format!("/v1/activities/{activity}/comments"),
            &leaver,
            json!({"text": "my parting words"}),
        )
        .await?;
    assert_eq!(commented.status, 201, "{commented:?}");
    await_in_feed(&stack, &leaver, &activity, true).await?;
    // The stream's own writes for the leaver (the connection's notification) land first.
    stack
        .eventually("the connection notification", || async {
            let items = stack.partition(&format!("USER#{leaver}")).await?;
            Ok(items
                .iter()
                .any(|i| i["entity"] == "Notification")
                .then_some(()))
        })
        .await?;

    let deleted = stack.delete_account(&leaver).await?;

    assert_eq!(deleted.status, 202, "{deleted:?}");
    let view = await_like_count(&stack, &ana, &activity, 0).await?;
    assert_eq!(view["commentCount"], 0, "{view:?}");
    let comments = stack
        .get(&format!("/v1/activities/{activity}/comments"), &ana)
        .await?;
    assert_eq!(comments.body["items"], json!([]), "{comments:?}");
    let serialized = serde_json::to_string(&stack.partition(&format!("ACT#{activity}")).await?)?;
    assert!(!serialized.contains("my parting words"), "no copy survives");
    assert!(
        !serialized.contains(&leaver),
        "no item of the leaver survives"
    );
    assert!(stack.partition(&format!("FEED#{leaver}")).await?.is_empty());
    assert!(stack.partition(&format!("USER#{leaver}")).await?.is_empty());
    Ok(())
}

/// A feed delivery message for `recipients` (the fan-out queue's wire form) of the
/// stored activity `activity`.
async fn delivery(
    stack: &TestStack,
    activity: &str,
    op: &str,
    recipients: &[String],
) -> anyhow::Result<Value> {
    let stored = stack
        .item(&format!("ACT#{activity}"), "META")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no activity {activity}"))?;
    Ok(json!({
        "entry": {
            "activityId": stored["activityId"], "authorId": stored["authorId"],
            "verb": stored["verb"], "visibility": stored["visibility"],
            "createdAt": stored["createdAt"],
        },
        "op": op,
        "recipients": recipients,
    }))
}

/// Hands `messages` (`(messageId, body)`) to the feed worker as one SQS batch and returns
/// the message ids it reported as failed.
async fn invoke_feed_worker(
    stack: &TestStack,
    messages: &[(&str, Value)],
) -> anyhow::Result<Vec<String>> {
    stack
        .invoke_queue_function("FeedWorkerFunction", messages)
        .await
}

/// How many entries each of `users`' home feeds holds.
async fn feed_sizes(stack: &TestStack, users: &[String]) -> anyhow::Result<Vec<usize>> {
    let mut sizes = Vec::with_capacity(users.len());
    for user in users {
        sizes.push(stack.partition(&format!("FEED#{user}")).await?.len());
    }
    Ok(sizes)
}

#[tokio::test]
async fn a_failed_delivery_is_reported_alone_and_redelivered_deliveries_write_each_entry_once()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let author = new_user("author");
    let readers: Vec<String> = (0..30).map(|i| new_user(&format!("r{i}"))).collect();
    let activity = post_activity(&stack, &author, share("public", "hello")).await?;
    let first = delivery(&stack, &activity, "put", &readers[..15]).await?;
    let second = delivery(&stack, &activity, "put", &readers[15..]).await?;
    let mut malformed = first.clone();
    malformed["recipients"] = json!([readers[0], "not#a-user"]);

    let failed = invoke_feed_worker(
        &stack,
        &[("a", first.clone()), ("bad", malformed), ("b", second)],
    )
    .await?;

    assert_eq!(failed, vec!["bad"], "only the malformed delivery failed");
    assert!(feed_sizes(&stack, &readers).await?.iter().all(|n| *n == 1));
    // Act: the first delivery arrives again (SQS at-least-once).
    let failed = invoke_feed_worker(&stack, &[("a-again", first)]).await?;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(feed_sizes(&stack, &readers).await?.iter().all(|n| *n == 1));
    let page = stack.get("/v1/feed", &readers[3]).await?;
    assert_eq!(ids(&page), vec![activity.clone()]);

    // A put delivery that arrives after the activity's delete writes nothing.
    let deleted = stack
        .delete(&format!("/v1/activities/{activity}"), &author)
        .await?;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let late_readers: Vec<String> = (0..5).map(|i| new_user(&format!("late{i}"))).collect();
    let late = delivery(&stack, &activity, "put", &late_readers).await?;
    let failed = invoke_feed_worker(&stack, &[("late", late)]).await?;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        feed_sizes(&stack, &late_readers)
            .await?
            .iter()
            .all(|n| *n == 0)
    );
    // The delete delivery (and its redelivery) removes the entries it names.
    let retract = delivery(&stack, &activity, "delete", &readers).await?;
    let failed =
        invoke_feed_worker(&stack, &[("del", retract.clone()), ("del-again", retract)]).await?;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(feed_sizes(&stack, &readers).await?.iter().all(|n| *n == 0));
    Ok(())
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_ends_in_the_fan_out_dead_letter_queue() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let queue = stack
        .stack
        .queue_url("FeedFanoutQueue")
        .unwrap_or_default()
        .to_owned();
    let dead_letters = stack
        .stack
        .queue_url("FeedFanoutDeadLetterQueue")
        .unwrap_or_default()
        .to_owned();
    // Sent as the stream fan-out function sends deliveries (its role's grant).
    let sender = aws_sdk_sqs::Client::new(&stack.sdk_config_as("StreamFanoutFunction").await);
    let reader = aws_sdk_sqs::Client::new(&stack.stack.sdk_config().await);

    sender
        .send_message()
        .queue_url(&queue)
        .message_body(r#"{"entry": "not a delivery"}"#)
        .send()
        .await?;

    let body = stack
        .eventually(
            "the malformed delivery in the dead-letter queue",
            || async {
                let received = reader
                    .receive_message()
                    .queue_url(&dead_letters)
                    .wait_time_seconds(1)
                    .send()
                    .await?;
                Ok(received
                    .messages()
                    .first()
                    .and_then(|m| m.body().map(str::to_owned)))
            },
        )
        .await?;
    assert_eq!(body, r#"{"entry": "not a delivery"}"#);
    Ok(())
}

#[tokio::test]
async fn a_home_feed_page_and_a_timeline_page_are_read_with_two_dynamodb_requests()
-> anyhow::Result<()> {
    // Arrange: Ana's feed holds activities of two connections, one of them
    // connections-only, one about a topic, and a block with a stranger exists.
    let stack = agora_tests::spawn_counting_requests().await?;
    let (ana, bea, caio, dan) = ana_connected_to_bea_and_caio_and_stranger_dan(&stack).await?;
    stack.block_directly(&ana, &dan).await?;
    let mut posted = Vec::new();
    for (author, visibility) in [(&bea, "public"), (&caio, "connections"), (&bea, "public")] {
        posted.push(post_activity(&stack, author, lesson(visibility)).await?);
    }
    for activity in &posted {
        await_in_feed(&stack, &ana, activity, true).await?;
    }

    // Act
    let feed = stack
        .dynamodb_requests_of_get("/v1/feed?limit=20", &ana)
        .await?;
    let timeline = stack
        .dynamodb_requests_of_get("/v1/timeline?limit=20", &ana)
        .await?;

    // Assert: one Query of the page and one BatchGetItem for everything it shows (the
    // caller's account check and the blocks ride on it).
    assert_eq!(feed, 2, "home feed");
    assert_eq!(timeline, 2, "timeline");
    Ok(())
}

#[tokio::test]
async fn a_viral_activitys_likes_spread_over_shards_and_the_stream_settles_their_exact_count()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = new_user("star");
    let activity = post_activity(&stack, &ana, share("public", "going viral")).await?;
    let fans: Vec<String> = (0..24).map(|i| new_user(&format!("fan{i}"))).collect();

    let likes =
        futures_util::future::try_join_all(fans.iter().map(|fan| like(&stack, fan, &activity)))
            .await?;
    assert!(likes.iter().all(|reply| reply.status == 204), "{likes:?}");

    // Exact once settled; every fan's own like shows at once.
    await_like_count(&stack, &ana, &activity, 24).await?;
    let mine = stack
        .get(&format!("/v1/activities/{activity}"), &fans[0])
        .await?;
    assert_eq!(mine.body["likedByMe"], true, "{mine:?}");
    // The likes went to the shards, each in its own partition, not to the activity.
    let mut shards = Vec::new();
    for shard in 0..8 {
        let key = format!("ACT#{activity}#likeCount#{shard}");
        if let Some(item) = stack.item(&key, "COUNTER").await? {
            shards.push(item["count"].as_i64().unwrap_or_default());
        }
    }
    assert!(
        shards.len() >= 2,
        "24 fans land on several shards: {shards:?}"
    );
    assert_eq!(shards.iter().sum::<i64>(), 24, "{shards:?}");
    let stored = stack
        .item(&format!("ACT#{activity}"), "META")
        .await?
        .unwrap_or_default();
    assert_eq!(
        stored["likeCount"], 0,
        "no like wrote the activity: {stored}"
    );

    // Half take it back: the settled count follows.
    let like_path = format!("/v1/activities/{activity}/like");
    let unlikes = futures_util::future::try_join_all(
        fans.iter()
            .take(12)
            .map(|fan| stack.delete(&like_path, fan)),
    )
    .await?;
    assert!(
        unlikes.iter().all(|reply| reply.status == 204),
        "{unlikes:?}"
    );
    await_like_count(&stack, &ana, &activity, 12).await?;

    // Deleting the activity deletes its shards with it.
    let deleted = stack
        .delete(&format!("/v1/activities/{activity}"), &ana)
        .await?;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    stack
        .eventually("the like shards deleted with the activity", || async {
            let mut left = 0;
            for shard in 0..8 {
                let key = format!("ACT#{activity}#likeCount#{shard}");
                left += usize::from(stack.item(&key, "COUNTER").await?.is_some());
            }
            Ok((left == 0).then_some(()))
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn an_activity_stored_before_likes_were_sharded_keeps_its_count_and_adds_new_likes()
-> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = spawn().await?;
    let (ana, bea) = (new_user("old"), new_user("newfan"));
    let activity = post_activity(&stack, &ana, share("public", "from before")).await?;
    // As an older version stored it: the count on the item, no settled shards.
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(format!("ACT#{activity}")))
        .key("SK", AttributeValue::S("META".into()))
        .update_expression("SET likeCount = :n REMOVE likeCountShards")
        .expression_attribute_values(":n", AttributeValue::N("5".into()))
        .send()
        .await?;

    let liked = like(&stack, &bea, &activity).await?;

    assert_eq!(liked.status, 204, "{liked:?}");
    await_like_count(&stack, &ana, &activity, 6).await?;
    Ok(())
}

/// The notification types `user` has, with their actors.
async fn notifications_of(stack: &TestStack, user: &str) -> anyhow::Result<Vec<(String, String)>> {
    let page = stack.get("/v1/notifications", user).await?;
    anyhow::ensure!(page.status == 200, "{page:?}");
    Ok(page.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["type"].as_str().unwrap_or_default().to_owned(),
                n["actorId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

#[tokio::test]
async fn a_muted_user_reaches_neither_my_feeds_nor_my_notifications_until_unmuted_and_is_never_told()
-> anyhow::Result<()> {
    // Arrange: Ana mutes Bea (a connection) and Dan (a stranger).
    let stack = spawn().await?;
    let (ana, bea, caio, dan) = ana_connected_to_bea_and_caio_and_stranger_dan(&stack).await?;
    let eve = new_user("eve");
    for user in [&ana, &bea, &dan, &eve] {
        let name = user.split('-').next().unwrap_or("user");
        stack
            .create_profile(
                user,
                json!({"handle": agora_tests::unique_handle(name), "displayName": name}),
            )
            .await?;
    }
    let muted = stack
        .put(&format!("/v1/mutes/{bea}"), &ana, json!({}))
        .await?;
    let again = stack
        .put(&format!("/v1/mutes/{bea}"), &ana, json!({}))
        .await?;
    stack
        .put(&format!("/v1/mutes/{dan}"), &ana, json!({}))
        .await?;
    let myself = stack
        .put(&format!("/v1/mutes/{ana}"), &ana, json!({}))
        .await?;
    let nobody = stack
        .put(&format!("/v1/mutes/{}", new_user("ghost")), &ana, json!({}))
        .await?;

    // Act
    let beas = post_activity(&stack, &bea, share("public", "Bea's news")).await?;
    let dans = post_activity(&stack, &dan, share("public", "Dan's news")).await?;
    let caios = post_activity(&stack, &caio, share("public", "Caio's news")).await?;
    await_in_feed(&stack, &ana, &caios, true).await?;
    for asker in [&dan, &eve] {
        let asked = stack
            .post("/v1/connections/requests", asker, json!({"userId": ana}))
            .await?;
        anyhow::ensure!(asked.status == 201, "{asked:?}");
    }
    stack
        .eventually("Eve's request notification", || async {
            Ok(notifications_of(&stack, &ana)
                .await?
                .iter()
                .any(|(_, actor)| actor == &eve)
                .then_some(()))
        })
        .await?;
    let feed_muted = feed_ids(&stack, &ana).await?;
    let timeline_muted = timeline_ids(&stack, &ana).await?;
    let opened = stack.get(&format!("/v1/activities/{beas}"), &ana).await?;
    let notified = notifications_of(&stack, &ana).await?;
    let unread = stack.get("/v1/notifications/unread-count", &ana).await?;
    let requests = stack.get("/v1/connections/requests", &ana).await?;
    let listed = stack.get("/v1/mutes", &ana).await?;
    let beas_list = stack.get("/v1/mutes", &bea).await?;
    let unmuted = stack.delete(&format!("/v1/mutes/{bea}"), &ana).await?;
    let unmuted_again = stack.delete(&format!("/v1/mutes/{bea}"), &ana).await?;
    let feed_after = feed_ids(&stack, &ana).await?;

    // Assert
    assert_eq!(muted.status, 200, "{muted:?}");
    assert_eq!(muted.body["userId"], bea.as_str());
    assert_eq!(
        again.body["mutedAt"], muted.body["mutedAt"],
        "a repeat keeps the first"
    );
    assert_problem(&myself, 422, Some("userId"));
    assert_problem(&nobody, 404, None);
    assert!(feed_muted.contains(&caios));
    assert!(
        !feed_muted.contains(&beas),
        "a muted connection leaves my feed"
    );
    assert!(!timeline_muted.contains(&beas) && !timeline_muted.contains(&dans));
    assert!(timeline_muted.contains(&caios));
    assert_eq!(
        opened.status, 200,
        "lighter than a block: a link still opens"
    );
    assert!(
        notified.iter().all(|(_, actor)| actor != &dan),
        "no notification from a muted user: {notified:?}"
    );
    assert_eq!(
        unread.body["unread"].as_u64(),
        Some(notified.len() as u64),
        "none was even made for the muted user's request: {unread:?}"
    );
    assert_eq!(
        field_of_items(&requests.body, "userId")
            .iter()
            .filter(|u| *u == &dan)
            .count(),
        1,
        "the request itself stands: {requests:?}"
    );
    let mut listed_ids = field_of_items(&listed.body, "userId");
    listed_ids.sort();
    let mut expected = vec![bea.clone(), dan.clone()];
    expected.sort();
    assert_eq!(listed_ids, expected);
    assert_eq!(beas_list.body["items"], json!([]), "Bea is never told");
    assert_eq!(unmuted.status, 204);
    assert_eq!(unmuted_again.status, 204);
    assert!(feed_after.contains(&beas), "unmuted: her activity is back");
    Ok(())
}

#[tokio::test]
async fn an_activity_or_comment_moderation_hides_leaves_every_feed_but_its_authors()
-> anyhow::Result<()> {
    // Arrange: Ana shares a scam with her connections; Dan comments a scam on a clean
    // public share.
    let stack = spawn().await?;
    let (ana, bea, _caio, dan) = ana_connected_to_bea_and_caio_and_stranger_dan(&stack).await?;
    let scam = "Guaranteed returns of 20% a week, send your deposit now";
    let hidden = post_activity(&stack, &ana, share("public", scam)).await?;
    let clean = post_activity(&stack, &ana, share("public", "Index funds, slowly.")).await?;
    let comments = format!("/v1/activities/{clean}/comments");
    let comment = stack
        .post_created(&comments, &dan, json!({"text": scam}))
        .await?;

    // Act
    let as_author = stack
        .eventually("the activity's verdict", || async {
            let read = stack.get(&format!("/v1/activities/{hidden}"), &ana).await?;
            Ok(read.body.get("screening").is_some().then_some(read.body))
        })
        .await?;
    await_in_feed(&stack, &bea, &clean, true).await?;
    let bea_feed = feed_ids(&stack, &bea).await?;
    let bea_timeline = timeline_ids(&stack, &bea).await?;
    let ana_feed = feed_ids(&stack, &ana).await?;
    let as_other = stack.get(&format!("/v1/activities/{hidden}"), &bea).await?;
    let comment_to_bea = stack
        .eventually("the comment's verdict", || async {
            let page = stack.get(&comments, &bea).await?;
            let first = page.body["items"][0].clone();
            Ok(first.get("screening").is_some().then_some(first))
        })
        .await?;
    let comment_to_dan = stack.get(&comments, &dan).await?;

    // Assert
    assert_eq!(as_author["screening"]["status"], "hidden", "{as_author}");
    assert!(!bea_feed.contains(&hidden), "{bea_feed:?}");
    assert!(!bea_timeline.contains(&hidden), "{bea_timeline:?}");
    assert!(ana_feed.contains(&hidden), "its author still sees it");
    assert_problem(&as_other, 404, None);
    assert_eq!(comment_to_bea["commentId"], comment["commentId"]);
    assert_eq!(comment_to_bea["text"], "[hidden by moderation]");
    assert_eq!(comment_to_dan.body["items"][0]["text"], scam);
    Ok(())
}
