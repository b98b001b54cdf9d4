//! Trust levels, end to end: the stream and the topic-views worker keep each account's
//! stats, the level follows from them, shows on the profile, and sets the limits on
//! posts per hour, links per post and new conversations with strangers.

use agora_tests::{Reply, TestStack, assert_problem, new_user, spawn, token_for, unique_handle};
use serde_json::{Value, json};

/// `author` posts a topic in `category` and returns its id.
async fn topic(
    stack: &TestStack,
    author: &str,
    category: &str,
    body: &str,
) -> anyhow::Result<Reply> {
    stack
        .post(
            "/v1/topics",
            author,
            json!({"title": "How do I start?", "body": body, "categoryId": category}),
        )
        .await
}

fn id(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}

/// `author` replies to `topic_id` and returns the reply's id.
async fn reply(
    stack: &TestStack,
    author: &str,
    topic_id: &str,
    body: &str,
) -> anyhow::Result<String> {
    let created = stack
        .post_created(
            &format!("/v1/topics/{topic_id}/replies"),
            author,
            json!({ "body": body }),
        )
        .await?;
    Ok(id(&created, "replyId"))
}

/// Makes `user`'s profile, then moves its `createdAt` `days` back (what an account
/// made that long ago has).
async fn profile_made_days_ago(stack: &TestStack, user: &str, days: i64) -> anyhow::Result<()> {
    stack
        .create_profile(
            user,
            json!({"handle": unique_handle("trusted"), "displayName": "Bo",
                "privacy": {"profileVisibility": "public"}}),
        )
        .await?;
    let at = time::OffsetDateTime::now_utc() - time::Duration::days(days);
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(stack.table())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .update_expression("SET createdAt = :at")
        .expression_attribute_values(
            ":at",
            aws_sdk_dynamodb::types::AttributeValue::S(
                at.format(&time::format_description::well_known::Rfc3339)?,
            ),
        )
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn reading_replying_and_being_answered_raise_an_accounts_level_which_its_profile_shows()
-> anyhow::Result<()> {
    // Arrange: five regulars post a topic of three replies each (one each, so that no
    // one posts a burst); Bo's account is two days old.
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    profile_made_days_ago(&stack, &bo, 2).await?;
    let category = stack.new_category("Getting started").await?;
    let mut topics = Vec::new();
    for n in 0..5 {
        let author = if n == 0 {
            ana.clone()
        } else {
            new_user("regular")
        };
        stack.trusted_at(&author, 3).await?;
        let created = topic(&stack, &author, &category, &format!("Question {n}")).await?;
        let topic_id = id(&created.body, "topicId");
        for r in 0..3 {
            reply(&stack, &author, &topic_id, &format!("Answer {r}")).await?;
        }
        topics.push(topic_id);
    }
    let before = stack.get("/v1/me/trust", &bo).await?;

    // Act: Bo reads every topic (the first one twice), replies to it, and Ana likes and
    // accepts his reply.
    for topic_id in topics.iter().chain(topics.first()) {
        let read = stack.get(&format!("/v1/topics/{topic_id}"), &bo).await?;
        anyhow::ensure!(read.status == 200, "{read:?}");
    }
    let answer = reply(&stack, &bo, &topics[0], "Start with the book").await?;
    let liked = stack
        .put(
            &format!("/v1/topics/{}/reactions/{answer}", topics[0]),
            &ana,
            json!({"reaction": "like"}),
        )
        .await?;
    let accepted = stack
        .put(
            &format!("/v1/topics/{}/accepted-answer", topics[0]),
            &ana,
            json!({"replyId": answer}),
        )
        .await?;
    let trust = stack
        .eventually("Bo's stats", || async {
            let trust = stack.get("/v1/me/trust", &bo).await?.body;
            Ok((trust["topicsEntered"] == 5 && trust["acceptedAnswers"] == 1).then_some(trust))
        })
        .await?;
    let profile = stack.get(&format!("/v1/profiles/{bo}"), &ana).await?;

    // Assert
    assert_eq!(before.status, 200, "{before:?}");
    assert_eq!(before.body["level"], 0);
    assert_eq!(before.body["nextLevel"]["level"], 1);
    assert!(
        liked.status < 300 && accepted.status < 300,
        "{liked:?} {accepted:?}"
    );
    assert_eq!(
        trust["topicsEntered"], 5,
        "the second reading counts once: {trust}"
    );
    assert_eq!(
        trust["postsRead"], 20,
        "a topic and three replies each: {trust}"
    );
    assert_eq!(trust["replies"], 1);
    assert_eq!(trust["reactionsReceived"], 1);
    assert_eq!(trust["acceptedAnswers"], 1);
    assert_eq!(trust["flagsUpheld"], 0);
    assert_eq!(trust["accountAgeDays"], 2);
    assert_eq!(trust["level"], 1, "{trust}");
    assert_eq!(trust["limits"]["postsPerHour"], 30);
    assert_eq!(trust["nextLevel"]["level"], 2);
    assert_eq!(profile.status, 200, "{profile:?}");
    assert_eq!(profile.body["trustLevel"], 1);
    Ok(())
}

#[tokio::test]
async fn a_new_account_may_post_ten_times_an_hour_and_a_member_more() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (newcomer, member) = (new_user("cy"), new_user("dee"));
    stack.trusted_at(&member, 2).await?;
    let category = stack.new_category("Introductions").await?;

    let mut newcomers = Vec::new();
    let mut members = Vec::new();
    for n in 0..10 {
        newcomers.push(
            topic(&stack, &newcomer, &category, &format!("Hello {n}"))
                .await?
                .status,
        );
        members.push(
            topic(&stack, &member, &category, &format!("Hi {n}"))
                .await?
                .status,
        );
    }
    let eleventh = stack
        .http
        .post(stack.url("/v1/topics"))
        .bearer_auth(token_for(&newcomer))
        .json(&json!({"title": "Hello again", "body": "Eleven", "categoryId": category}))
        .send()
        .await?;
    members.push(topic(&stack, &member, &category, "Hi again").await?.status);

    assert_eq!(newcomers, vec![201; 10]);
    assert_eq!(eleventh.status(), 429);
    assert_eq!(members, vec![201; 11]);
    let header = |name: &str| {
        eleventh
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("retry-after").parse::<u64>()? > 0);
    let policy = header("ratelimit-policy");
    assert_eq!(policy, "\"posts\";q=10;w=3600");
    Ok(())
}

#[tokio::test]
async fn a_new_accounts_post_with_more_than_two_links_is_a_422_naming_the_field_and_a_basic_ones_is_not()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (newcomer, basic) = (new_user("eve"), new_user("fay"));
    stack.trusted_at(&basic, 1).await?;
    let category = stack.new_category("Resources").await?;
    let links = "Read https://a.example/1 then https://b.example/2 and https://c.example/3";
    let open = id(
        &topic(&stack, &basic, &category, "Links?").await?.body,
        "topicId",
    );

    let topic_refused = topic(&stack, &newcomer, &category, links).await?;
    let reply_refused = stack
        .post(
            &format!("/v1/topics/{open}/replies"),
            &newcomer,
            json!({ "body": links }),
        )
        .await?;
    let activity_refused = stack
        .post(
            "/v1/activities",
            &newcomer,
            json!({"verb": "lessonCompleted", "visibility": "public", "text": links,
                "object": {"lessonId": "rust-101-07", "title": "Lifetimes"}}),
        )
        .await?;
    let two_links = topic(
        &stack,
        &newcomer,
        &category,
        "https://a.example and https://b.example",
    )
    .await?;
    let basic_posted = topic(&stack, &basic, &category, links).await?;

    assert_problem(&topic_refused, 422, Some("body"));
    assert_problem(&reply_refused, 422, Some("body"));
    assert_problem(&activity_refused, 422, Some("text"));
    assert_eq!(two_links.status, 201, "{two_links:?}");
    assert_eq!(basic_posted.status, 201, "{basic_posted:?}");
    Ok(())
}

#[tokio::test]
async fn a_new_account_may_not_start_a_conversation_with_a_stranger_and_a_basic_one_may_ten_a_day()
-> anyhow::Result<()> {
    // Arrange: eleven people who accept messages from anyone.
    let stack = spawn().await?;
    let (newcomer, basic, friend) = (new_user("gus"), new_user("hal"), new_user("ivy"));
    stack.trusted_at(&basic, 1).await?;
    stack.connect_directly(&newcomer, &friend).await?;
    let mut open = Vec::new();
    for n in 0..11 {
        let user = new_user(&format!("open{n}"));
        let set = stack
            .put(
                "/v1/me/chat-preferences",
                &user,
                json!({"allowDmsFrom": "anyone"}),
            )
            .await?;
        anyhow::ensure!(set.status == 200, "{set:?}");
        open.push(user);
    }

    // Act
    let refused = stack
        .post("/v1/rooms/dm", &newcomer, json!({"userId": open[0]}))
        .await?;
    let with_a_connection = stack
        .post("/v1/rooms/dm", &newcomer, json!({"userId": friend}))
        .await?;
    let mut started = Vec::new();
    for user in &open {
        started.push(
            stack
                .post("/v1/rooms/dm", &basic, json!({"userId": user}))
                .await?
                .status,
        );
    }
    let found_again = stack
        .post("/v1/rooms/dm", &basic, json!({"userId": open[0]}))
        .await?;

    // Assert
    assert_problem(&refused, 403, None);
    assert_eq!(with_a_connection.status, 201, "{with_a_connection:?}");
    let mut expected = vec![201; 10];
    expected.push(429);
    assert_eq!(started, expected);
    assert_eq!(
        found_again.status, 200,
        "an existing conversation is not a new one"
    );
    Ok(())
}
