//! Moderation, end to end: texts screened through the moderation queue land in the
//! review queue they belong to, and only the moderators who may act on them read it.

use std::time::Duration;

use agora_tests::{
    Reply, TestStack, WsClient, assert_problem, community, id_of, new_user, spawn,
    token_with_roles, unique_handle,
};
use serde_json::{Value, json};

const SCAM: &str = "Guaranteed returns of 20% a week, send your deposit now";

/// `method path` (with a JSON `body`, if any) as `user` with `roles`.
async fn call_as(
    stack: &TestStack,
    method: reqwest::Method,
    (user, roles): (&str, &[&str]),
    path: &str,
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

/// `GET path` as `user` with `roles`.
async fn get_as(
    stack: &TestStack,
    user: &str,
    roles: &[&str],
    path: &str,
) -> anyhow::Result<Reply> {
    call_as(stack, reqwest::Method::GET, (user, roles), path, None).await
}

/// `POST path` with `body` as `user` with `roles`.
async fn post_as(
    stack: &TestStack,
    user: &str,
    roles: &[&str],
    path: &str,
    body: Value,
) -> anyhow::Result<Reply> {
    call_as(
        stack,
        reqwest::Method::POST,
        (user, roles),
        path,
        Some(body),
    )
    .await
}

/// `PUT path` with `body` as `user` with `roles`.
async fn put_as(
    stack: &TestStack,
    user: &str,
    roles: &[&str],
    path: &str,
    body: Value,
) -> anyhow::Result<Reply> {
    call_as(stack, reqwest::Method::PUT, (user, roles), path, Some(body)).await
}

/// Reads a review queue (`community`: its own, else the global one) as `user` with
/// `roles`.
async fn queue(
    stack: &TestStack,
    user: &str,
    roles: &[&str],
    community: Option<&str>,
) -> anyhow::Result<Reply> {
    let path = match community {
        Some(id) => format!("/v1/moderation/queue?communityId={id}"),
        None => "/v1/moderation/queue".to_owned(),
    };
    get_as(stack, user, roles, &path).await
}

/// `author` posts a topic (in `community`, else in `category`) and returns its id.
async fn topic(
    stack: &TestStack,
    author: &str,
    place: (&str, &str),
    body: &str,
) -> anyhow::Result<String> {
    let (field, id) = place;
    let input = json!({"title": "Side income", "body": body, field: id});
    let created = stack.post_created("/v1/topics", author, input).await?;
    Ok(created["topicId"].as_str().unwrap_or_default().to_owned())
}

/// The topic ids in a queue page.
fn topics_in(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["content"]["topicId"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn hidden_texts_wait_in_their_queue_and_only_its_moderators_read_it() -> anyhow::Result<()> {
    // Arrange: a scam topic outside communities, and one in Cora's community, where
    // Mia is a member; Pia owns another community.
    let stack = spawn().await?;
    let (ana, cora, mia, pia, modo) = (
        new_user("ana"),
        new_user("cora"),
        new_user("mia"),
        new_user("pia"),
        new_user("modo"),
    );
    let ours = id_of(&community(&stack, &cora, "public", json!({})).await?);
    let theirs = id_of(&community(&stack, &pia, "public", json!({})).await?);
    let joined = stack
        .post(&format!("/v1/communities/{ours}/join"), &mia, json!({}))
        .await?;
    anyhow::ensure!(joined.status < 300, "{joined:?}");
    let money = stack.new_category("Money").await?;
    let global = topic(&stack, &ana, ("categoryId", &money), SCAM).await?;
    let local = topic(&stack, &cora, ("communityId", &ours), SCAM).await?;
    let clean = topic(&stack, &ana, ("categoryId", &money), "How do you budget?").await?;

    // Act
    let global_queue = stack
        .eventually("the global queue", || async {
            let page = queue(&stack, &modo, &["moderator"], None).await?;
            Ok(topics_in(&page.body).contains(&global).then_some(page))
        })
        .await?;
    let community_queue = stack
        .eventually("the community's queue", || async {
            let page = queue(&stack, &cora, &[], Some(&ours)).await?;
            Ok(topics_in(&page.body).contains(&local).then_some(page))
        })
        .await?;
    let platform_reads_ours = queue(&stack, &modo, &["moderator"], Some(&ours)).await?;
    let member = queue(&stack, &mia, &[], Some(&ours)).await?;
    let other_owner = queue(&stack, &pia, &[], Some(&ours)).await?;
    let other_owner_own = queue(&stack, &pia, &[], Some(&theirs)).await?;
    let user_global = queue(&stack, &ana, &[], None).await?;
    let owner_global = queue(&stack, &cora, &[], None).await?;
    let malformed = queue(&stack, &modo, &["moderator"], Some("not%20an%20id")).await?;

    // Assert
    let entry = global_queue.body["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|i| i["content"]["topicId"] == global.as_str())
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["content"]["kind"], "topic");
    assert_eq!(entry["content"]["categories"], json!(["scam"]));
    assert_eq!(entry["authorId"], ana.as_str());
    assert_eq!(entry["status"], "open");
    assert_eq!(entry["screening"]["status"], "hidden");
    assert_eq!(entry["text"]["body"], SCAM);
    assert!(
        !topics_in(&global_queue.body).contains(&local),
        "not global"
    );
    assert!(
        !topics_in(&global_queue.body).contains(&clean),
        "clean texts wait nowhere"
    );
    assert_eq!(topics_in(&community_queue.body), vec![local.clone()]);
    assert_eq!(
        community_queue.body["items"][0]["communityId"],
        ours.as_str()
    );
    assert_eq!(topics_in(&platform_reads_ours.body), vec![local]);
    assert_problem(&member, 403, None);
    assert_problem(&other_owner, 403, None);
    assert_eq!(other_owner_own.status, 200, "{other_owner_own:?}");
    assert!(topics_in(&other_owner_own.body).is_empty());
    assert_problem(&user_global, 403, None);
    assert_problem(&owner_global, 403, None);
    assert_problem(&malformed, 400, Some("communityId"));
    Ok(())
}

/// Decides review item `review` as `user` with `roles`.
async fn decide(
    stack: &TestStack,
    user: &str,
    roles: &[&str],
    review: &str,
    body: Value,
) -> anyhow::Result<Reply> {
    post_as(
        stack,
        user,
        roles,
        &format!("/v1/moderation/queue/{review}"),
        body,
    )
    .await
}

/// The `reviewId` of `topic` once it waits in the global queue.
async fn review_of(stack: &TestStack, moderator: &str, topic: &str) -> anyhow::Result<String> {
    stack
        .eventually("the topic in the queue", || async {
            let page = queue(stack, moderator, &["moderator"], None).await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["content"]["topicId"] == topic)
                .and_then(|i| i["reviewId"].as_str().map(str::to_owned)))
        })
        .await
}

#[tokio::test]
async fn a_moderator_approves_or_removes_and_a_removed_text_stays_hidden_whatever_edits_follow()
-> anyhow::Result<()> {
    // Arrange: two scam topics in the global queue.
    let stack = spawn().await?;
    let (ana, bo, cora, modo) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cora"),
        new_user("modo"),
    );
    let money = stack.new_category("Money").await?;
    let approved = topic(&stack, &ana, ("categoryId", &money), SCAM).await?;
    let removed = topic(&stack, &ana, ("categoryId", &money), SCAM).await?;
    let (to_approve, to_remove) = (
        review_of(&stack, &modo, &approved).await?,
        review_of(&stack, &modo, &removed).await?,
    );
    let ours = id_of(&community(&stack, &cora, "public", json!({})).await?);
    let local = topic(&stack, &cora, ("communityId", &ours), SCAM).await?;
    let local_review = stack
        .eventually("the community's queue", || async {
            let page = queue(&stack, &cora, &[], Some(&ours)).await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|entry| entry["content"]["topicId"] == local.as_str())
                .and_then(|entry| entry["reviewId"].as_str().map(str::to_owned)))
        })
        .await?;
    let approve = json!({"action": "approve", "reason": "Sarcasm, not a scam"});
    let remove = json!({"action": "remove", "reason": "An advance-fee scam"});

    // Act
    let by_member = decide(&stack, &bo, &[], &to_approve, approve.clone()).await?;
    let by_community_owner = decide(&stack, &cora, &[], &to_approve, approve.clone()).await?;
    let bad_action = decide(
        &stack,
        &modo,
        &["moderator"],
        &to_approve,
        json!({"action": "ban", "reason": "x"}),
    )
    .await?;
    let no_reason = decide(
        &stack,
        &modo,
        &["moderator"],
        &to_approve,
        json!({"action": "approve", "reason": ""}),
    )
    .await?;
    let unknown = decide(
        &stack,
        &modo,
        &["moderator"],
        "VE9QSUMjeHxNRVRB",
        approve.clone(),
    )
    .await?;
    let malformed = decide(&stack, &modo, &["moderator"], "%%%", approve.clone()).await?;
    let approving = decide(&stack, &modo, &["moderator"], &to_approve, approve.clone()).await?;
    let again = decide(&stack, &modo, &["moderator"], &to_approve, remove.clone()).await?;
    let removing = decide(&stack, &modo, &["moderator"], &to_remove, remove.clone()).await?;
    let edited = stack
        .patch(
            &format!("/v1/topics/{removed}"),
            &ana,
            json!({"body": "How do you budget?"}),
        )
        .await?;
    // A later text queued after the edit is checked: the edit's job was worked before.
    let later = topic(&stack, &ana, ("categoryId", &money), SCAM).await?;
    review_of(&stack, &modo, &later).await?;
    let approved_to_bo = stack.get(&format!("/v1/topics/{approved}"), &bo).await?;
    let removed_to_bo = stack.get(&format!("/v1/topics/{removed}"), &bo).await?;
    let removed_to_ana = stack.get(&format!("/v1/topics/{removed}"), &ana).await?;
    let left = queue(&stack, &modo, &["moderator"], None).await?;
    let by_its_moderator = decide(&stack, &cora, &[], &local_review, approve).await?;

    // Assert
    assert_problem(&by_member, 403, None);
    assert_problem(&by_community_owner, 403, None);
    assert!(
        bad_action.status == 400 || bad_action.status == 422,
        "{bad_action:?}"
    );
    assert_problem(&no_reason, 422, Some("reason"));
    assert_problem(&unknown, 404, None);
    assert_problem(&malformed, 404, None);
    assert_eq!(approving.status, 200, "{approving:?}");
    assert_eq!(approving.body["status"], "approved");
    assert_eq!(approving.body["decision"]["decidedBy"], modo.as_str());
    assert_eq!(approving.body["decision"]["reason"], "Sarcasm, not a scam");
    assert_problem(&again, 409, None);
    assert_eq!(removing.body["status"], "removed", "{removing:?}");
    assert_eq!(edited.status, 200, "{edited:?}");
    assert_eq!(approved_to_bo.status, 200, "approved: shown again");
    assert_problem(&removed_to_bo, 404, None);
    assert_eq!(
        removed_to_ana.body["topic"]["screening"]["status"], "removed",
        "its clean edit does not bring it back"
    );
    assert_eq!(
        removed_to_ana.body["topic"]["screening"]["reviewedBy"],
        modo.as_str()
    );
    let waiting = topics_in(&left.body);
    assert!(
        !waiting.contains(&approved) && !waiting.contains(&removed),
        "{waiting:?}"
    );
    assert!(waiting.contains(&later));
    assert_eq!(by_its_moderator.status, 200, "{by_its_moderator:?}");
    assert_eq!(by_its_moderator.body["communityId"], ours.as_str());
    assert_eq!(by_its_moderator.body["content"]["topicId"], local.as_str());
    Ok(())
}

#[tokio::test]
async fn an_erased_moderators_decisions_stay_made_by_no_one_and_an_erased_authors_review_items_go()
-> anyhow::Result<()> {
    // Arrange: Modo removes one of Ana's topics.
    let stack = spawn().await?;
    let (ana, modo) = (new_user("ana"), new_user("modo"));
    let money = stack.new_category("Money").await?;
    let removed = topic(&stack, &ana, ("categoryId", &money), SCAM).await?;
    let review = review_of(&stack, &modo, &removed).await?;
    let decided = decide(
        &stack,
        &modo,
        &["moderator"],
        &review,
        json!({"action": "remove", "reason": "An advance-fee scam"}),
    )
    .await?;
    anyhow::ensure!(decided.status == 200, "{decided:?}");

    // Act: Modo's account goes, then Ana's.
    let modo_deleted = stack.delete_account(&modo).await?;
    stack
        .await_erasure(&modo, std::time::Duration::from_secs(60))
        .await?;
    let topic_after_modo = stack.item(&format!("TOPIC#{removed}"), "META").await?;
    let review_after_modo = stack
        .item(&format!("REVIEW#TOPIC#{removed}|META"), "META")
        .await?;
    let naming_modo = stack.items_mentioning(&modo).await?;
    let ana_deleted = stack.delete_account(&ana).await?;
    stack
        .await_erasure(&ana, std::time::Duration::from_secs(60))
        .await?;
    let review_after_ana = stack
        .item(&format!("REVIEW#TOPIC#{removed}|META"), "META")
        .await?;

    // Assert
    assert!(modo_deleted.status < 300, "{modo_deleted:?}");
    assert!(ana_deleted.status < 300, "{ana_deleted:?}");
    let topic_after_modo = topic_after_modo.unwrap_or_default();
    assert_eq!(topic_after_modo["screening"]["status"], "removed");
    assert_eq!(topic_after_modo["screening"]["reviewedBy"], "~erased");
    let review_after_modo = review_after_modo.unwrap_or_default();
    assert_eq!(review_after_modo["decision"]["decidedBy"], "~erased");
    assert_eq!(review_after_modo["decision"]["action"], "remove");
    assert!(review_after_modo.get("GSI3PK").is_none());
    assert!(
        naming_modo.iter().all(|i| i["PK"]
            .as_str()
            .is_some_and(|pk| pk.starts_with("DELETED#"))),
        "{naming_modo:#?}"
    );
    assert!(review_after_ana.is_none(), "{review_after_ana:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------

/// `user` reports `content` for `reason`, with `note`.
async fn report(
    stack: &TestStack,
    user: &str,
    content: Value,
    reason: &str,
    note: Option<&str>,
) -> anyhow::Result<Reply> {
    let mut body = json!({"content": content, "reason": reason});
    if let Some(note) = note {
        body["note"] = json!(note);
    }
    stack.post("/v1/reports", user, body).await
}

/// `author` replies `body` to `topic`; returns the reply's id.
async fn reply(stack: &TestStack, author: &str, topic: &str, body: &str) -> anyhow::Result<String> {
    let created = stack
        .post_created(
            &format!("/v1/topics/{topic}/replies"),
            author,
            json!({"body": body}),
        )
        .await?;
    Ok(created["replyId"].as_str().unwrap_or_default().to_owned())
}

/// The first reply of `topic` as `reader` reads it.
async fn first_reply(stack: &TestStack, reader: &str, topic: &str) -> anyhow::Result<Value> {
    let page = stack
        .get(&format!("/v1/topics/{topic}/replies"), reader)
        .await?;
    anyhow::ensure!(page.status == 200, "{page:?}");
    Ok(page.body["items"][0].clone())
}

/// The global queue's entry whose content has `field` = `id`, once it is there.
async fn queued(
    stack: &TestStack,
    moderator: &str,
    field: &str,
    id: &str,
) -> anyhow::Result<Value> {
    stack
        .eventually("the item in the global queue", || async {
            let page = queue(stack, moderator, &["moderator"], None).await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["content"][field] == id)
                .cloned())
        })
        .await
}

/// Reads review item `review` as `user` with `roles`.
async fn review_item(
    stack: &TestStack,
    user: &str,
    roles: &[&str],
    review: &str,
) -> anyhow::Result<Reply> {
    get_as(
        stack,
        user,
        roles,
        &format!("/v1/moderation/queue/{review}"),
    )
    .await
}

#[tokio::test]
async fn three_people_reporting_a_reply_hide_it_until_a_moderator_approves_it() -> anyhow::Result<()>
{
    // Arrange: Bo's reply to Ana's topic; Cy, Di, Ed and Fi read the thread.
    let stack = spawn().await?;
    let (ana, bo, cy, di, ed, fi, modo) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("di"),
        new_user("ed"),
        new_user("fi"),
        new_user("modo"),
    );
    let money = stack.new_category("Money").await?;
    let thread = topic(&stack, &ana, ("categoryId", &money), "How do you budget?").await?;
    const TEXT: &str = "Index funds, mostly, and a spreadsheet.";
    let reply_id = reply(&stack, &bo, &thread, TEXT).await?;
    let content = json!({"kind": "reply", "topicId": thread, "replyId": reply_id});

    // Act
    let first = report(&stack, &cy, content.clone(), "spam", Some("Sells a course")).await?;
    let repeated = report(&stack, &cy, content.clone(), "harassment", None).await?;
    let second = report(&stack, &di, content.clone(), "spam", None).await?;
    let after_two = first_reply(&stack, &ana, &thread).await?;
    let third = report(&stack, &ed, content.clone(), "scam", None).await?;
    let after_three = first_reply(&stack, &ana, &thread).await?;
    let as_author = first_reply(&stack, &bo, &thread).await?;
    let entry = queued(&stack, &modo, "replyId", &reply_id).await?;
    let review_id = entry["reviewId"].as_str().unwrap_or_default().to_owned();
    let detail = review_item(&stack, &modo, &["moderator"], &review_id).await?;
    let by_member = review_item(&stack, &cy, &[], &review_id).await?;
    let notice = stack
        .eventually("the author's contentHidden notice", || async {
            let page = stack.get("/v1/notifications?limit=50", &bo).await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["type"] == "contentHidden")
                .cloned())
        })
        .await?;
    let approved = decide(
        &stack,
        &modo,
        &["moderator"],
        &review_id,
        json!({"action": "approve", "reason": "A fair answer"}),
    )
    .await?;
    let after_approval = first_reply(&stack, &ana, &thread).await?;
    let fourth = report(&stack, &fi, content.clone(), "spam", None).await?;
    let after_fourth = first_reply(&stack, &ana, &thread).await?;

    // Assert
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.body["content"]["replyId"], reply_id.as_str());
    assert_eq!(first.body["reason"], "spam");
    assert_eq!(
        repeated.status, 200,
        "a repeat answers the first: {repeated:?}"
    );
    assert_eq!(repeated.body["reason"], "spam");
    assert_eq!(repeated.body["note"], "Sells a course");
    assert_eq!(second.status, 201, "{second:?}");
    assert_eq!(after_two["body"], TEXT, "two people are not enough");
    assert_eq!(third.status, 201, "{third:?}");
    assert_eq!(after_three["body"], "[hidden by moderation]");
    assert_eq!(as_author["body"], TEXT, "its author still reads it");
    assert_eq!(as_author["screening"]["status"], "reported");
    assert_eq!(entry["reports"], 3);
    assert_eq!(entry["status"], "open");
    assert_eq!(entry["content"]["reported"], true);
    assert_eq!(entry["authorId"], bo.as_str());
    assert_eq!(entry["text"]["body"], TEXT);
    assert_eq!(detail.status, 200, "{detail:?}");
    let reporters: Vec<&str> = detail.body["reportList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["reporterId"].as_str())
        .collect();
    assert_eq!(reporters, vec![cy.as_str(), di.as_str(), ed.as_str()]);
    assert_eq!(detail.body["reportList"][0]["reason"], "spam");
    assert_eq!(detail.body["reportList"][0]["note"], "Sells a course");
    assert!(detail.body["authorHistory"].is_array(), "{detail:?}");
    assert_problem(&by_member, 403, None);
    assert_eq!(notice["object"]["content"]["replyId"], reply_id.as_str());
    assert_eq!(notice["object"]["content"]["reported"], true);
    assert_eq!(approved.status, 200, "{approved:?}");
    assert_eq!(approved.body["reports"], 3);
    assert_eq!(after_approval["body"], TEXT, "approval restores it");
    assert_eq!(fourth.status, 201, "{fourth:?}");
    assert_eq!(
        after_fourth["body"], TEXT,
        "a moderator's approval stands against later reports"
    );
    Ok(())
}

#[tokio::test]
async fn an_edit_does_not_release_a_reported_topic_and_its_new_verdict_is_kept_for_the_moderator()
-> anyhow::Result<()> {
    // Arrange: Ana's topic, checked clean, reported by three people.
    let stack = spawn().await?;
    let (ana, bo, cy, di, modo) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("di"),
        new_user("modo"),
    );
    let money = stack.new_category("Money").await?;
    let id = topic(&stack, &ana, ("categoryId", &money), "How do you budget?").await?;
    let checked = |wanted: &'static str| {
        let (stack, ana, id) = (&stack, &ana, &id);
        async move {
            stack
                .eventually("the topic's verdict", || async {
                    let read = stack.get(&format!("/v1/topics/{id}"), ana).await?;
                    let screening = read.body["topic"]["screening"].clone();
                    Ok((screening["status"] == wanted).then_some(screening))
                })
                .await
        }
    };
    let clean = checked("clean").await?;
    for reporter in [&bo, &cy, &di] {
        let reported = report(
            &stack,
            reporter,
            json!({"kind": "topic", "topicId": id}),
            "other",
            None,
        )
        .await?;
        anyhow::ensure!(reported.status == 201, "{reported:?}");
    }
    let held = checked("reported").await?;

    // Act: Ana edits it to another clean text; the worker checks the edit.
    let edited = stack
        .patch(
            &format!("/v1/topics/{id}"),
            &ana,
            json!({"body": "How do you budget, week to week?"}),
        )
        .await?;
    let rechecked = stack
        .eventually("the edit's verdict", || async {
            let read = stack.get(&format!("/v1/topics/{id}"), &ana).await?;
            let screening = read.body["topic"]["screening"].clone();
            Ok((screening["checkedAt"] != held["checkedAt"]).then_some(screening))
        })
        .await?;
    let as_other = stack.get(&format!("/v1/topics/{id}"), &bo).await?;
    let entry = queued(&stack, &modo, "topicId", &id).await?;

    // Assert
    assert_eq!(clean["status"], "clean");
    assert_eq!(edited.status, 200, "{edited:?}");
    assert_eq!(
        rechecked["status"], "reported",
        "held until reviewed: {rechecked}"
    );
    assert_problem(&as_other, 404, None);
    assert_eq!(entry["screening"]["status"], "reported");
    assert_eq!(entry["text"]["body"], "How do you budget, week to week?");
    Ok(())
}

#[tokio::test]
async fn a_report_of_what_the_reporter_cannot_see_or_of_their_own_is_refused() -> anyhow::Result<()>
{
    // Arrange: Ana's topic, Bo's group (Ana is not in it), Bo's connections-only activity, and
    // Cora's secret community.
    let stack = spawn().await?;
    let (ana, bo, cora) = (new_user("ana"), new_user("bo"), new_user("cora"));
    let money = stack.new_category("Money").await?;
    let own = topic(&stack, &ana, ("categoryId", &money), "How do you budget?").await?;
    let room = stack
        .post_created("/v1/rooms", &bo, json!({"name": "Savers", "memberIds": []}))
        .await?;
    let room_id = room["roomId"].as_str().unwrap_or_default().to_owned();
    let activity = stack
        .post_created(
            "/v1/activities",
            &bo,
            json!({"verb": "share", "visibility": "connections", "text": "Saved 10%"}),
        )
        .await?;
    let activity_id = activity["activityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = id_of(&community(&stack, &cora, "secret", json!({})).await?);
    let unknown_topic = ulid::Ulid::new().to_string();

    // Act
    let try_report = |content: Value| report(&stack, &ana, content, "spam", None);
    let own_topic = try_report(json!({"kind": "topic", "topicId": own})).await?;
    let no_topic = try_report(json!({"kind": "topic", "topicId": unknown_topic})).await?;
    let bad_id = try_report(json!({"kind": "topic", "topicId": "x#META"})).await?;
    let long_id =
        try_report(json!({"kind": "reply", "topicId": own, "replyId": "r".repeat(5000)})).await?;
    let no_reply = try_report(
        json!({"kind": "reply", "topicId": own, "replyId": "01J9Z8Q4V6XK2M3N4P5R6S7T8V"}),
    )
    .await?;
    let not_in_room = try_report(json!({"kind": "room", "roomId": room_id})).await?;
    let hidden_activity =
        try_report(json!({"kind": "activity", "activityId": activity_id})).await?;
    let secret_community = try_report(json!({"kind": "community", "communityId": secret})).await?;
    let unknown_kind = try_report(json!({"kind": "poll", "pollId": "p"})).await?;
    let long_note = report(
        &stack,
        &bo,
        json!({"kind": "topic", "topicId": own}),
        "spam",
        Some(&"n".repeat(1001)),
    )
    .await?;
    let bad_reason = report(
        &stack,
        &bo,
        json!({"kind": "topic", "topicId": own}),
        "boring",
        None,
    )
    .await?;

    // Assert
    assert_problem(&own_topic, 400, Some("content"));
    assert_problem(&no_topic, 404, None);
    assert_problem(&bad_id, 400, Some("content.topicId"));
    assert_problem(&long_id, 400, Some("content.replyId"));
    assert_problem(&no_reply, 404, None);
    assert_problem(&not_in_room, 403, None);
    assert_problem(&hidden_activity, 404, None);
    assert_problem(&secret_community, 404, None);
    assert_eq!(unknown_kind.status, 400, "{unknown_kind:?}");
    assert_problem(&long_note, 422, Some("note"));
    assert_eq!(bad_reason.status, 400, "{bad_reason:?}");
    Ok(())
}

#[tokio::test]
async fn an_erased_reporters_reports_go_and_the_items_tally_stays() -> anyhow::Result<()> {
    // Arrange: three people report Ana's topic; it waits in the global queue.
    let stack = spawn().await?;
    let (ana, bo, cy, di, modo) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("di"),
        new_user("modo"),
    );
    let money = stack.new_category("Money").await?;
    let id = topic(&stack, &ana, ("categoryId", &money), "How do you budget?").await?;
    for reporter in [&bo, &cy, &di] {
        let reported = report(
            &stack,
            reporter,
            json!({"kind": "topic", "topicId": id}),
            "spam",
            Some("Looks like an ad"),
        )
        .await?;
        anyhow::ensure!(reported.status == 201, "{reported:?}");
    }
    let review_id = queued(&stack, &modo, "topicId", &id).await?["reviewId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Act
    stack.delete_account(&cy).await?;
    let detail = review_item(&stack, &modo, &["moderator"], &review_id).await?;

    // Assert
    assert_eq!(detail.status, 200, "{detail:?}");
    let reporters: Vec<&str> = detail.body["reportList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["reporterId"].as_str())
        .collect();
    assert_eq!(reporters, vec![bo.as_str(), di.as_str()]);
    assert_eq!(detail.body["reports"], 3, "the tally names nobody");
    Ok(())
}

// ---------------------------------------------------------------------------------
// Actions on accounts
// ---------------------------------------------------------------------------------

/// A user with a profile.
async fn someone(stack: &TestStack, name: &str) -> anyhow::Result<String> {
    let user = new_user(name);
    stack
        .create_profile(
            &user,
            json!({"handle": unique_handle(name), "displayName": format!("{name} Example")}),
        )
        .await?;
    Ok(user)
}

/// `moderator` (with `roles`) acts on `user`'s account.
async fn act_on(
    stack: &TestStack,
    moderator: &str,
    roles: &[&str],
    user: &str,
    body: Value,
) -> anyhow::Result<Reply> {
    let path = format!("/v1/moderation/users/{user}/actions");
    post_as(stack, moderator, roles, &path, body).await
}

#[tokio::test]
async fn a_suspended_user_may_only_read_export_and_delete_their_own_data_until_reinstated()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let bo = someone(&stack, "bo").await?;
    let modo = new_user("modo");
    let money = stack.new_category("Money").await?;
    let before = topic(&stack, &bo, ("categoryId", &money), "How do you budget?").await?;

    // Act
    let suspended = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "suspend", "reason": "Repeated scam links", "hours": 24}),
    )
    .await?;
    let post = stack
        .post(
            "/v1/topics",
            &bo,
            json!({"title": "Again", "body": "Hello", "categoryId": money}),
        )
        .await?;
    let read_others = stack.get(&format!("/v1/topics/{before}"), &bo).await?;
    let report = stack
        .post(
            "/v1/reports",
            &bo,
            json!({"content": {"kind": "topic", "topicId": before}, "reason": "spam"}),
        )
        .await?;
    let own = stack.get("/v1/me", &bo).await?;
    let own_notifications = stack.get("/v1/notifications", &bo).await?;
    let export = stack.post("/v1/me/exports", &bo, json!({})).await?;
    let standing = get_as(
        &stack,
        &modo,
        &["moderator"],
        &format!("/v1/moderation/users/{bo}"),
    )
    .await?;
    let reinstated = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "reinstate", "reason": "Appeal upheld"}),
    )
    .await?;
    let post_again = stack
        .post(
            "/v1/topics",
            &bo,
            json!({"title": "Again", "body": "Hello", "categoryId": money}),
        )
        .await?;

    // Assert
    assert_eq!(suspended.status, 200, "{suspended:?}");
    assert!(
        suspended.body["suspendedUntil"].is_string(),
        "{suspended:?}"
    );
    assert_eq!(suspended.body["lastAction"]["action"], "suspend");
    assert_problem(&post, 403, None);
    assert!(
        post.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("suspended until") && d.contains("Repeated scam links")),
        "{post:?}"
    );
    assert_problem(&read_others, 403, None);
    assert_problem(&report, 403, None);
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own_notifications.status, 200, "{own_notifications:?}");
    assert_eq!(export.status, 202, "{export:?}");
    assert_eq!(
        standing.body["suspendedUntil"],
        suspended.body["suspendedUntil"]
    );
    assert_eq!(reinstated.status, 200, "{reinstated:?}");
    assert_eq!(post_again.status, 201, "{post_again:?}");
    Ok(())
}

#[tokio::test]
async fn a_muted_user_may_not_post_over_http_or_websocket_but_may_do_everything_else()
-> anyhow::Result<()> {
    // Arrange: Bo is in a group room with an open socket.
    let stack = spawn().await?;
    let bo = someone(&stack, "bo").await?;
    let modo = new_user("modo");
    let room = stack
        .post_created("/v1/rooms", &bo, json!({"name": "Savers", "memberIds": []}))
        .await?;
    let room_id = room["roomId"].as_str().unwrap_or_default().to_owned();
    let mut socket = WsClient::connect(&stack, &bo).await?;

    // Act
    let muted = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "mute", "reason": "Cool down", "hours": 2}),
    )
    .await?;
    let topic_post = stack
        .post("/v1/topics", &bo, json!({"title": "Hi", "body": "Hello"}))
        .await?;
    let activity = stack
        .post(
            "/v1/activities",
            &bo,
            json!({"verb": "share", "visibility": "public", "text": "Saved 10%"}),
        )
        .await?;
    let profile = stack
        .patch("/v1/me", &bo, json!({"headline": "Saver"}))
        .await?;
    let feed = stack.get("/v1/feed", &bo).await?;
    let sent = socket
        .request(json!({"action": "sendMessage", "roomId": room_id, "text": "hi", "clientMessageId": "c1"}))
        .await?;
    let ping = socket.request(json!({"action": "ping"})).await?;

    // Assert
    assert_eq!(muted.status, 200, "{muted:?}");
    assert!(muted.body["mutedUntil"].is_string(), "{muted:?}");
    assert_problem(&topic_post, 403, None);
    assert_problem(&activity, 403, None);
    assert_eq!(profile.status, 200, "{profile:?}");
    assert_eq!(feed.status, 200, "{feed:?}");
    assert_eq!(sent["type"], "error", "{sent}");
    assert_eq!(sent["code"], "forbidden", "{sent}");
    assert_eq!(ping["type"], "pong", "{ping}");
    Ok(())
}

#[tokio::test]
async fn banning_a_user_closes_their_open_websockets_and_they_cannot_connect_again()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let bo = someone(&stack, "bo").await?;
    let modo = new_user("modo");
    let mut socket = WsClient::connect(&stack, &bo).await?;

    // Act
    let banned = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "ban", "reason": "Fraud"}),
    )
    .await?;

    // Assert
    assert_eq!(banned.status, 200, "{banned:?}");
    assert_eq!(banned.body["banned"], true);
    assert!(
        socket.closed_within(Duration::from_secs(10)).await,
        "the server closed the socket"
    );
    assert!(
        WsClient::connect(&stack, &bo).await.is_err(),
        "a new socket is refused"
    );
    Ok(())
}

#[tokio::test]
async fn only_platform_moderators_act_on_accounts_and_bad_actions_name_their_field()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let (bo, cy) = (someone(&stack, "bo").await?, someone(&stack, "cy").await?);
    let modo = someone(&stack, "modo").await?;
    let warn = json!({"action": "warn", "reason": "Be kind"});
    let refused = [
        (json!({"action": "shame", "reason": "x"}), 400, None),
        (
            json!({"action": "suspend", "reason": "x"}),
            400,
            Some("hours"),
        ),
        (
            json!({"action": "warn", "reason": "x", "hours": 3}),
            400,
            Some("hours"),
        ),
        (
            json!({"action": "mute", "reason": "x", "hours": 100000}),
            422,
            Some("hours"),
        ),
        (json!({"action": "warn", "reason": ""}), 422, Some("reason")),
    ];

    // Act
    let by_user = act_on(&stack, &cy, &[], &bo, warn.clone()).await?;
    let standing_by_user = stack
        .get(&format!("/v1/moderation/users/{bo}"), &cy)
        .await?;
    let mut bad_inputs = Vec::new();
    for (body, _, _) in &refused {
        bad_inputs.push(act_on(&stack, &modo, &["moderator"], &bo, body.clone()).await?);
    }
    let on_self = act_on(&stack, &modo, &["moderator"], &modo, warn.clone()).await?;
    let nobody = new_user("nobody");
    let unknown_user = act_on(&stack, &modo, &["moderator"], &nobody, warn.clone()).await?;
    let bad_user = act_on(&stack, &modo, &["moderator"], "a%20b", warn.clone()).await?;
    let warned = act_on(&stack, &modo, &["moderator"], &bo, warn.clone()).await?;
    let warned_again = act_on(&stack, &modo, &["moderator"], &bo, warn).await?;
    let still_posts = stack
        .post(
            "/v1/activities",
            &bo,
            json!({"verb": "share", "visibility": "public", "text": "Sorry"}),
        )
        .await?;

    // Assert
    assert_problem(&by_user, 403, None);
    assert_problem(&standing_by_user, 403, None);
    for ((body, status, field), reply) in refused.iter().zip(&bad_inputs) {
        assert_eq!(reply.status, *status, "{body}: {reply:?}");
        assert_problem(reply, *status, *field);
    }
    assert_problem(&on_self, 400, Some("userId"));
    assert_problem(&unknown_user, 404, None);
    assert_problem(&bad_user, 400, Some("userId"));
    assert_eq!(warned.body["warnings"], 1, "{warned:?}");
    assert_eq!(warned_again.body["warnings"], 2, "{warned_again:?}");
    assert_eq!(
        still_posts.status, 201,
        "a warning restricts nothing: {still_posts:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------

/// The audit log as `reader` (with `roles`) reads it with `filters` (a query string).
async fn audit(
    stack: &TestStack,
    reader: &str,
    roles: &[&str],
    filters: &str,
) -> anyhow::Result<Reply> {
    get_as(
        stack,
        reader,
        roles,
        &format!("/v1/moderation/audit?{filters}"),
    )
    .await
}

/// The `action`s of a page of audit entries, in order.
fn actions_in(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_audit_log_records_automated_verdicts_and_moderators_actions_newest_first()
-> anyhow::Result<()> {
    // Arrange: Bo's scam topic is hidden by the classifier; a moderator removes it,
    // then warns and mutes Bo.
    let stack = spawn().await?;
    let bo = someone(&stack, "bo").await?;
    let modo = new_user("modo");
    let money = stack.new_category("Money").await?;
    let scam = topic(&stack, &bo, ("categoryId", &money), SCAM).await?;
    let review = review_of(&stack, &modo, &scam).await?;
    let removed = decide(
        &stack,
        &modo,
        &["moderator"],
        &review,
        json!({"action": "remove", "reason": "An advance-fee scam"}),
    )
    .await?;
    anyhow::ensure!(removed.status == 200, "{removed:?}");
    for body in [
        json!({"action": "warn", "reason": "Scam posts"}),
        json!({"action": "mute", "reason": "Scam posts", "hours": 12}),
    ] {
        let acted = act_on(&stack, &modo, &["moderator"], &bo, body).await?;
        anyhow::ensure!(acted.status == 200, "{acted:?}");
    }
    let by = |filters: String| {
        let stack = &stack;
        let modo = modo.clone();
        async move { audit(stack, &modo, &["moderator"], &filters).await }
    };

    // Act
    let about_bo = by(format!("userId={bo}")).await?;
    let automated = by(format!("userId={bo}&automated=true")).await?;
    let by_modo = by(format!("actorId={modo}&limit=2")).await?;
    let next = by(format!(
        "actorId={modo}&limit=2&cursor={}",
        by_modo.body["nextCursor"].as_str().unwrap_or_default()
    ))
    .await?;
    let mutes = by(format!("userId={bo}&action=mute")).await?;
    let by_member = audit(&stack, &bo, &[], "").await?;
    let bad_action = by("action=shame".into()).await?;
    let bad_automated = by("automated=maybe".into()).await?;
    let bad_user = by("userId=a%20b".into()).await?;

    // Assert
    assert_eq!(about_bo.status, 200, "{about_bo:?}");
    assert_eq!(
        actions_in(&about_bo.body),
        vec!["mute", "warn", "remove", "hide"]
    );
    let hidden = &automated.body["items"][0];
    assert_eq!(actions_in(&automated.body), vec!["hide"]);
    assert_eq!(hidden["automated"], true);
    assert!(hidden.get("actorId").is_none(), "{hidden}");
    assert!(
        hidden["confidence"].as_f64().is_some_and(|c| c >= 0.8),
        "{hidden}"
    );
    assert_eq!(hidden["content"]["topicId"], scam.as_str());
    assert_eq!(actions_in(&by_modo.body), vec!["mute", "warn"]);
    assert!(by_modo.body["items"][0]["until"].is_string(), "{by_modo:?}");
    assert_eq!(actions_in(&next.body), vec!["remove"]);
    assert_eq!(next.body["items"][0]["reason"], "An advance-fee scam");
    assert_eq!(next.body["items"][0]["actorId"], modo.as_str());
    assert_eq!(actions_in(&mutes.body), vec!["mute"]);
    assert_problem(&by_member, 403, None);
    assert_problem(&bad_action, 400, Some("action"));
    assert_problem(&bad_automated, 400, Some("automated"));
    assert_problem(&bad_user, 400, Some("userId"));
    Ok(())
}

#[tokio::test]
async fn erasing_an_account_keeps_its_audit_entries_naming_no_one() -> anyhow::Result<()> {
    // Arrange: a moderator warns Bo; both accounts are then erased in turn.
    let stack = spawn().await?;
    let bo = someone(&stack, "bo").await?;
    let modo = someone(&stack, "modo").await?;
    let reason = format!("Be kind {}", ulid::Ulid::new());
    let warned = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "warn", "reason": reason}),
    )
    .await?;
    anyhow::ensure!(warned.status == 200, "{warned:?}");
    let reader = new_user("auditor");

    // Act
    stack.delete_account(&bo).await?;
    stack.delete_account(&modo).await?;
    let about_bo = audit(&stack, &reader, &["moderator"], &format!("userId={bo}")).await?;
    let by_modo = audit(&stack, &reader, &["moderator"], &format!("actorId={modo}")).await?;
    // Other tests write to the log meanwhile: page through the warnings.
    let mut kept = None;
    let mut filters = "action=warn&limit=100".to_owned();
    for _ in 0..50 {
        let page = audit(&stack, &reader, &["moderator"], &filters).await?;
        anyhow::ensure!(page.status == 200, "{page:?}");
        kept = page.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["reason"] == reason.as_str())
            .cloned();
        match page.body["nextCursor"].as_str() {
            Some(next) if kept.is_none() => {
                filters = format!("action=warn&limit=100&cursor={next}")
            }
            _ => break,
        }
    }

    // Assert
    assert!(actions_in(&about_bo.body).is_empty(), "{about_bo:?}");
    assert!(actions_in(&by_modo.body).is_empty(), "{by_modo:?}");
    let kept = kept.unwrap_or_default();
    assert_eq!(kept["userId"], "~erased", "{kept}");
    assert_eq!(kept["actorId"], "~erased", "{kept}");
    Ok(())
}

// ---------------------------------------------------------------------------------
// Appeals
// ---------------------------------------------------------------------------------

/// The open appeals of the global queue, as `moderator` reads them.
async fn appeals(stack: &TestStack, reader: &str, roles: &[&str]) -> anyhow::Result<Reply> {
    get_as(stack, reader, roles, "/v1/moderation/appeals?limit=100").await
}

/// `moderator` decides appeal `appeal`.
async fn decide_appeal(
    stack: &TestStack,
    moderator: &str,
    appeal: &str,
    body: Value,
) -> anyhow::Result<Reply> {
    let path = format!("/v1/moderation/appeals/{appeal}");
    post_as(stack, moderator, &["moderator"], &path, body).await
}

/// `user`'s `appealDecided` notification, once it is there.
async fn appeal_notice(stack: &TestStack, user: &str) -> anyhow::Result<Value> {
    stack
        .eventually("the appellant's appealDecided notice", || async {
            let page = stack.get("/v1/notifications?limit=50", user).await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["type"] == "appealDecided")
                .cloned())
        })
        .await
}

#[tokio::test]
async fn an_author_appeals_a_removal_once_and_an_upheld_appeal_shows_the_item_again()
-> anyhow::Result<()> {
    // Arrange: Bo's scam topic is hidden, then removed by a moderator.
    let stack = spawn().await?;
    let (bo, cy, modo) = (new_user("bo"), new_user("cy"), new_user("modo"));
    let money = stack.new_category("Money").await?;
    let scam = topic(&stack, &bo, ("categoryId", &money), SCAM).await?;
    let review = review_of(&stack, &modo, &scam).await?;
    let removed = decide(
        &stack,
        &modo,
        &["moderator"],
        &review,
        json!({"action": "remove", "reason": "An advance-fee scam"}),
    )
    .await?;
    anyhow::ensure!(removed.status == 200, "{removed:?}");
    let statement = json!({"reviewId": review, "statement": "It was satire"});

    // Act
    let by_other = stack.post("/v1/appeals", &cy, statement.clone()).await?;
    let appealed = stack.post("/v1/appeals", &bo, statement.clone()).await?;
    let again = stack.post("/v1/appeals", &bo, statement).await?;
    let blank = stack
        .post(
            "/v1/appeals",
            &bo,
            json!({"reviewId": review, "statement": "   "}),
        )
        .await?;
    let appeal_id = appealed.body["appealId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let queue_by_member = appeals(&stack, &cy, &[]).await?;
    let queue = appeals(&stack, &modo, &["moderator"]).await?;
    let hidden_before = stack.get(&format!("/v1/topics/{scam}"), &cy).await?;
    let upheld = decide_appeal(
        &stack,
        &modo,
        &appeal_id,
        json!({"outcome": "uphold", "reason": "Satire, in context"}),
    )
    .await?;
    let decided_again = decide_appeal(
        &stack,
        &modo,
        &appeal_id,
        json!({"outcome": "deny", "reason": "No"}),
    )
    .await?;
    let shown_after = stack.get(&format!("/v1/topics/{scam}"), &cy).await?;
    let notice = appeal_notice(&stack, &bo).await?;
    let in_audit = audit(
        &stack,
        &modo,
        &["moderator"],
        &format!("userId={bo}&action=appealUpheld"),
    )
    .await?;

    // Assert
    assert_problem(&by_other, 404, None);
    assert_eq!(appealed.status, 201, "{appealed:?}");
    assert_eq!(appealed.body["action"], "remove");
    assert_eq!(appealed.body["status"], "open");
    assert_eq!(appealed.body["content"]["topicId"], scam.as_str());
    assert_problem(&again, 409, None);
    assert_problem(&blank, 422, Some("statement"));
    assert_problem(&queue_by_member, 403, None);
    let queued: Vec<&str> = queue.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["appealId"].as_str())
        .collect();
    assert!(queued.contains(&appeal_id.as_str()), "{queue:?}");
    assert_problem(&hidden_before, 404, None);
    assert_eq!(upheld.status, 200, "{upheld:?}");
    assert_eq!(upheld.body["status"], "upheld");
    assert_problem(&decided_again, 409, None);
    assert_eq!(
        shown_after.status, 200,
        "upheld shows it again: {shown_after:?}"
    );
    assert_eq!(notice["object"]["appealStatus"], "upheld");
    assert_eq!(notice["object"]["content"]["topicId"], scam.as_str());
    assert_eq!(actions_in(&in_audit.body), vec!["appealUpheld"]);
    Ok(())
}

#[tokio::test]
async fn a_suspended_user_may_appeal_their_suspension_and_a_denied_appeal_keeps_it()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let bo = someone(&stack, "bo").await?;
    let modo = new_user("modo");
    let suspended = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "suspend", "reason": "Spam", "hours": 48}),
    )
    .await?;
    anyhow::ensure!(suspended.status == 200, "{suspended:?}");
    let statement = json!({"statement": "I was hacked"});

    // Act
    let appealed = stack.post("/v1/appeals", &bo, statement.clone()).await?;
    let again = stack.post("/v1/appeals", &bo, statement.clone()).await?;
    let appeal_id = appealed.body["appealId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let denied = decide_appeal(
        &stack,
        &modo,
        &appeal_id,
        json!({"outcome": "deny", "reason": "The posts came from your device"}),
    )
    .await?;
    let still_suspended = stack
        .post(
            "/v1/activities",
            &bo,
            json!({"verb": "share", "text": "Hi"}),
        )
        .await?;
    let notice = appeal_notice(&stack, &bo).await?;
    let reinstated = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "reinstate", "reason": "Time served"}),
    )
    .await?;
    let nothing_left = stack.post("/v1/appeals", &bo, statement).await?;

    // Assert
    assert_eq!(
        appealed.status, 201,
        "a suspended account may appeal: {appealed:?}"
    );
    assert_eq!(appealed.body["action"], "suspend");
    assert!(appealed.body.get("content").is_none(), "{appealed:?}");
    assert_problem(&again, 409, None);
    assert_eq!(denied.status, 200, "{denied:?}");
    assert_eq!(denied.body["status"], "denied");
    assert_problem(&still_suspended, 403, None);
    assert_eq!(notice["object"]["appealStatus"], "denied");
    assert_eq!(reinstated.status, 200, "{reinstated:?}");
    assert_problem(&nothing_left, 409, None);
    Ok(())
}

#[tokio::test]
async fn an_upheld_appeal_of_a_mute_reinstates_the_account() -> anyhow::Result<()> {
    // Arrange: Bo is muted and appeals.
    let stack = spawn().await?;
    let bo = someone(&stack, "bo").await?;
    let modo = new_user("modo");
    let muted = act_on(
        &stack,
        &modo,
        &["moderator"],
        &bo,
        json!({"action": "mute", "reason": "Heated thread", "hours": 24}),
    )
    .await?;
    anyhow::ensure!(muted.status == 200, "{muted:?}");
    let post = json!({"verb": "share", "visibility": "public", "text": "Hello again"});
    let while_muted = stack.post("/v1/activities", &bo, post.clone()).await?;
    let appealed = stack
        .post("/v1/appeals", &bo, json!({"statement": "I quoted someone"}))
        .await?;
    let appeal_id = appealed.body["appealId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Act
    let upheld = decide_appeal(
        &stack,
        &modo,
        &appeal_id,
        json!({"outcome": "uphold", "reason": "A quotation"}),
    )
    .await?;
    let after = stack.post("/v1/activities", &bo, post).await?;

    // Assert
    assert_problem(&while_muted, 403, None);
    assert_eq!(appealed.body["action"], "mute", "{appealed:?}");
    assert_eq!(upheld.body["status"], "upheld", "{upheld:?}");
    assert_eq!(after.status, 201, "reinstated: {after:?}");
    Ok(())
}

#[tokio::test]
async fn erasing_a_reporter_appellant_or_moderator_leaves_nothing_that_names_them()
-> anyhow::Result<()> {
    // Arrange: Bo reports Cy's topic; Modo warns Bo and Cy; Bo appeals, Modo denies it;
    // Modo restricts words for Bo, who posts.
    let stack = spawn().await?;
    let (bo, cy, modo) = (
        someone(&stack, "bo").await?,
        someone(&stack, "cy").await?,
        someone(&stack, "modo").await?,
    );
    let money = stack.new_category("Money").await?;
    let cys = topic(&stack, &cy, ("categoryId", &money), "How do you budget?").await?;
    let reported = stack
        .post(
            "/v1/reports",
            &bo,
            json!({"content": {"kind": "topic", "topicId": cys}, "reason": "spam"}),
        )
        .await?;
    anyhow::ensure!(reported.status == 201, "{reported:?}");
    for user in [&bo, &cy] {
        let warned = act_on(
            &stack,
            &modo,
            &["moderator"],
            user,
            json!({"action": "warn", "reason": "Keep it civil"}),
        )
        .await?;
        anyhow::ensure!(warned.status == 200, "{warned:?}");
    }
    let appealed = stack
        .post("/v1/appeals", &bo, json!({"statement": "I was civil"}))
        .await?;
    let appeal_id = appealed.body["appealId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let denied = decide_appeal(
        &stack,
        &modo,
        &appeal_id,
        json!({"outcome": "deny", "reason": "You were not"}),
    )
    .await?;
    anyhow::ensure!(denied.status == 200, "{denied:?}");
    appeal_notice(&stack, &bo).await?;

    // Words restricted for Bo, and his burst counter (a post of his was checked).
    let restricted = put_as(
        &stack,
        &modo,
        &["moderator"],
        &format!("/v1/moderation/users/{bo}/restricted-words"),
        json!({"words": ["megacoin"]}),
    )
    .await?;
    anyhow::ensure!(restricted.status == 200, "{restricted:?}");
    let bos = topic(&stack, &bo, ("categoryId", &money), "How do you save?").await?;
    verdict(&stack, &format!("TOPIC#{bos}"), "META").await?;
    anyhow::ensure!(
        stack
            .partition(&format!("USER#{bo}"))
            .await?
            .iter()
            .any(|item| item["entity"] == "PostBurst"),
        "Bo's burst counter is there before the erasure"
    );

    // Act
    stack.delete_account(&bo).await?;
    stack.delete_account(&modo).await?;
    let cys_standing = get_as(
        &stack,
        &new_user("auditor"),
        &["moderator"],
        &format!("/v1/moderation/users/{cy}"),
    )
    .await?;

    // Assert
    for erased in [&bo, &modo] {
        let left: Vec<Value> = stack
            .items_mentioning(erased)
            .await?
            .into_iter()
            .filter(|item| {
                item["PK"] != format!("DELETED#{erased}")
                    && !matches!(
                        item["entity"].as_str(),
                        Some("ProcessedRecord" | "ProcessedStreamRecord")
                    )
            })
            .collect();
        assert!(left.is_empty(), "{erased} is still named: {left:#?}");
    }
    assert_eq!(cys_standing.body["warnings"], 1, "{cys_standing:?}");
    assert_eq!(cys_standing.body["lastAction"]["by"], "~erased");
    Ok(())
}

/// The verdict status on the item keyed `pk`/`sk`, once the worker wrote one.
async fn verdict(stack: &TestStack, pk: &str, sk: &str) -> anyhow::Result<String> {
    stack
        .eventually("the item's verdict", || async {
            let item = stack.item(pk, sk).await?;
            Ok(item.and_then(|i| i["screening"]["status"].as_str().map(str::to_owned)))
        })
        .await
}

#[tokio::test]
async fn a_communitys_restricted_words_hide_what_is_posted_in_it_and_nowhere_else()
-> anyhow::Result<()> {
    // Arrange: Cora's community, where Mia is a member; Pia owns another one.
    let stack = spawn().await?;
    let (cora, mia, pia) = (new_user("cora"), new_user("mia"), new_user("pia"));
    let ours = id_of(&community(&stack, &cora, "public", json!({})).await?);
    let theirs = id_of(&community(&stack, &pia, "public", json!({})).await?);
    let joined = stack
        .post(&format!("/v1/communities/{ours}/join"), &mia, json!({}))
        .await?;
    anyhow::ensure!(joined.status < 300, "{joined:?}");
    let money = stack.new_category("Money").await?;
    let words = format!("/v1/moderation/communities/{ours}/restricted-words");

    // Act
    let set = stack
        .put(
            &words,
            &cora,
            json!({"words": [" MegaCoin ", "megacoin", "double your money"]}),
        )
        .await?;
    let inside = topic(&stack, &mia, ("communityId", &ours), "Is MEGACOIN legit?").await?;
    let outside = topic(&stack, &mia, ("categoryId", &money), "Is MEGACOIN legit?").await?;
    let clean_inside = topic(&stack, &mia, ("communityId", &ours), "How do you budget?").await?;
    let read = stack.get(&words, &mia).await?;
    let read_by_owner = stack.get(&words, &cora).await?;
    let by_member = stack.put(&words, &mia, json!({"words": []})).await?;
    let by_other_owner = stack.get(&words, &pia).await?;
    let platform = get_as(&stack, &new_user("modo"), &["moderator"], &words).await?;
    let blank = stack
        .put(&words, &cora, json!({"words": ["ok", " "]}))
        .await?;
    let too_many: Vec<String> = (0..201).map(|i| format!("w{i}")).collect();
    let many = stack.put(&words, &cora, json!({"words": too_many})).await?;
    let unknown_field = stack
        .put(&words, &cora, json!({"words": [], "extra": 1}))
        .await?;
    let malformed = stack
        .get(
            "/v1/moderation/communities/not%20an%20id/restricted-words",
            &cora,
        )
        .await?;
    let theirs_by_cora = stack
        .put(
            &format!("/v1/moderation/communities/{theirs}/restricted-words"),
            &cora,
            json!({"words": ["x"]}),
        )
        .await?;

    // Assert
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["words"], json!(["MegaCoin", "double your money"]));
    assert_eq!(set.body["communityId"], ours.as_str());
    assert_eq!(read_by_owner.body["words"], set.body["words"]);
    assert_problem(&read, 403, None);
    assert_problem(&by_member, 403, None);
    assert_problem(&by_other_owner, 403, None);
    assert_eq!(platform.status, 200, "{platform:?}");
    assert_problem(&blank, 422, Some("words[1]"));
    assert_problem(&many, 422, Some("words"));
    assert_problem(&unknown_field, 400, None);
    assert_problem(&malformed, 400, Some("communityId"));
    assert_problem(&theirs_by_cora, 403, None);
    let entry = stack
        .eventually("the topic in the community's queue", || async {
            let page = queue(&stack, &cora, &[], Some(&ours)).await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["content"]["topicId"] == inside.as_str())
                .cloned())
        })
        .await?;
    assert_eq!(entry["content"]["categories"], json!(["restrictedKeyword"]));
    let topic_key = |id: &str| format!("TOPIC#{id}");
    assert_eq!(
        verdict(&stack, &topic_key(&outside), "META").await?,
        "clean"
    );
    assert_eq!(
        verdict(&stack, &topic_key(&clean_inside), "META").await?,
        "clean"
    );
    let still = stack.get(&words, &cora).await?;
    assert_eq!(
        still.body["words"], set.body["words"],
        "refused writes changed nothing"
    );
    Ok(())
}

#[tokio::test]
async fn an_accounts_restricted_words_follow_it_everywhere_and_only_platform_moderators_set_them()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let (ana, bea) = (someone(&stack, "ana").await?, someone(&stack, "bea").await?);
    let modo = new_user("modo");
    let money = stack.new_category("Money").await?;
    let path = |user: &str| format!("/v1/moderation/users/{user}/restricted-words");

    // Act
    let set = put_as(
        &stack,
        &modo,
        &["moderator"],
        &path(&ana),
        json!({"words": ["megacoin"]}),
    )
    .await?;
    let by_herself = stack.put(&path(&ana), &ana, json!({"words": []})).await?;
    let read_by_herself = stack.get(&path(&ana), &ana).await?;
    let unknown = put_as(
        &stack,
        &modo,
        &["moderator"],
        &path(&new_user("nobody")),
        json!({"words": ["x"]}),
    )
    .await?;
    let malformed = get_as(&stack, &modo, &["moderator"], &path("not%20an%20id")).await?;
    let never_set = get_as(&stack, &modo, &["moderator"], &path(&bea)).await?;
    let hers = topic(&stack, &ana, ("categoryId", &money), "MegaCoin to the moon").await?;
    let theirs = topic(&stack, &bea, ("categoryId", &money), "MegaCoin to the moon").await?;

    // Assert
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["userId"], ana.as_str());
    assert_eq!(set.body["words"], json!(["megacoin"]));
    assert_problem(&by_herself, 403, None);
    assert_problem(&read_by_herself, 403, None);
    assert_problem(&unknown, 404, None);
    assert_problem(&malformed, 400, Some("userId"));
    assert_eq!(never_set.status, 200, "{never_set:?}");
    assert_eq!(never_set.body["words"], json!([]));
    let entry = queued(&stack, &modo, "topicId", &hers).await?;
    assert_eq!(entry["content"]["categories"], json!(["restrictedKeyword"]));
    assert_eq!(
        verdict(&stack, &format!("TOPIC#{theirs}"), "META").await?,
        "clean"
    );
    Ok(())
}

#[tokio::test]
async fn a_burst_of_replies_from_one_author_is_hidden_as_spam_and_others_posts_are_not()
-> anyhow::Result<()> {
    // Arrange: a topic; 12 short replies from Ana at once (the writes allow 120 a
    // minute), so at least 6 are checked within one UTC minute.
    let stack = spawn().await?;
    let (ana, bea) = (new_user("ana"), new_user("bea"));
    // A regular (trust level 3), whose hour allows 12 posts.
    stack.trusted_at(&ana, 3).await?;
    let money = stack.new_category("Money").await?;
    let thread = topic(&stack, &bea, ("categoryId", &money), "How do you budget?").await?;

    // Act
    let mut replies = Vec::new();
    for _ in 0..12 {
        replies.push(reply(&stack, &ana, &thread, "Same here").await?);
    }
    let hers = reply(&stack, &bea, &thread, "Same here").await?;

    // Assert
    let mut hidden = 0;
    for id in &replies {
        if verdict(&stack, &format!("TOPIC#{thread}"), &format!("REPLY#{id}")).await? == "hidden" {
            hidden += 1;
        }
    }
    assert!(hidden >= 1, "no reply of the burst was hidden");
    assert!(
        hidden <= 7,
        "{hidden} hidden: only posts past 5 in a minute are"
    );
    assert_eq!(
        verdict(&stack, &format!("TOPIC#{thread}"), &format!("REPLY#{hers}")).await?,
        "clean",
        "another author's reply is not part of the burst"
    );
    let entry = queued(&stack, &new_user("modo"), "topicId", &thread).await?;
    assert_eq!(entry["content"]["categories"], json!(["spam"]));
    assert_eq!(entry["authorId"], ana.as_str());
    Ok(())
}

/// `user`'s `accountActioned` notices, newest first, once there are `count`.
async fn account_notices(
    stack: &TestStack,
    user: &str,
    count: usize,
) -> anyhow::Result<Vec<Value>> {
    stack
        .eventually("the account's notices", || async {
            let page = stack.get("/v1/notifications?limit=50", user).await?;
            let notices: Vec<Value> = page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["type"] == "accountActioned")
                .cloned()
                .collect();
            Ok((notices.len() >= count).then_some(notices))
        })
        .await
}

#[tokio::test]
async fn an_account_is_told_of_each_action_on_it_with_the_reason_but_not_who_took_it()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let ana = someone(&stack, "ana").await?;
    let modo = new_user("modo");

    // Act: a warning, a two-hour mute, then reinstatement.
    for body in [
        json!({"action": "warn", "reason": "Keep it civil"}),
        json!({"action": "mute", "reason": "Spamming links", "hours": 2}),
        json!({"action": "reinstate", "reason": "Cooled down"}),
    ] {
        let acted = act_on(&stack, &modo, &["moderator"], &ana, body).await?;
        anyhow::ensure!(acted.status == 200, "{acted:?}");
    }
    let notices = account_notices(&stack, &ana, 3).await?;

    // Assert
    let actions: Vec<&str> = notices
        .iter()
        .filter_map(|n| n["object"]["accountAction"]["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["reinstate", "mute", "warn"], "{notices:#?}");
    assert_eq!(notices.len(), 3, "one notice per action");
    let mute = &notices[1];
    let until = mute["object"]["accountAction"]["until"]
        .as_str()
        .unwrap_or_default();
    assert!(!until.is_empty(), "a mute says until when: {mute}");
    assert_eq!(
        mute["summary"],
        format!("You cannot post until {until}: Spamming links")
    );
    assert_eq!(
        notices[2]["summary"],
        "A moderator warned you: Keep it civil"
    );
    for notice in &notices {
        assert_eq!(
            notice["actorId"],
            ana.as_str(),
            "the moderator is not named"
        );
        assert!(
            !notice.to_string().contains(&modo),
            "the moderator is not named: {notice}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_removal_counts_against_its_authors_trust_and_an_approval_does_not() -> anyhow::Result<()>
{
    // Arrange: two of Ana's scam topics wait in the queue; she is at level 1.
    let stack = spawn().await?;
    let (ana, modo) = (new_user("ana"), new_user("modo"));
    stack.trusted_at(&ana, 1).await?;
    let money = stack.new_category("Money").await?;
    let kept = topic(&stack, &ana, ("categoryId", &money), SCAM).await?;
    let removed = topic(&stack, &ana, ("categoryId", &money), SCAM).await?;
    let (to_keep, to_remove) = (
        review_of(&stack, &modo, &kept).await?,
        review_of(&stack, &modo, &removed).await?,
    );

    // Act
    let approval = json!({"action": "approve", "reason": "A quote"});
    let removal = json!({"action": "remove", "reason": "An advance-fee scam"});
    decide(&stack, &modo, &["moderator"], &to_keep, approval).await?;
    decide(&stack, &modo, &["moderator"], &to_remove, removal).await?;
    let trust = stack
        .eventually("the flag upheld", || async {
            let trust = stack.get("/v1/me/trust", &ana).await?.body;
            Ok((trust["flagsUpheld"] != 0).then_some(trust))
        })
        .await?;

    // Assert: one flag upheld, and level 1 allows at most two.
    assert_eq!(trust["flagsUpheld"], 1, "{trust}");
    assert_eq!(trust["level"], 1, "{trust}");
    Ok(())
}

/// `user`'s public profile named `name`.
async fn public_profile(stack: &TestStack, user: &str, name: &str) -> anyhow::Result<()> {
    stack
        .create_profile(
            user,
            json!({"handle": unique_handle("reported"), "displayName": name,
                   "headline": "Crypto coach", "privacy": {"profileVisibility": "public"}}),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn three_people_reporting_a_profile_hide_it_until_a_moderator_approves_it_and_a_removal_outlasts_edits()
-> anyhow::Result<()> {
    // Arrange: Ivo's and Jon's public profiles; five readers and a moderator.
    let stack = spawn().await?;
    let (ivo, jon, modo) = (new_user("ivo"), new_user("jon"), new_user("modo"));
    let readers: Vec<String> = (0..3).map(|n| new_user(&format!("reader{n}"))).collect();
    public_profile(&stack, &ivo, "Ivo Invest").await?;
    public_profile(&stack, &jon, "Jon Returns").await?;
    let profile_of = |user: &str| json!({"kind": "profile", "userId": user});

    // Act: three people report each profile; the first reports Ivo's twice (a held
    // profile is one its reporters no longer see: reporting it then is a 404).
    let mut reports = Vec::new();
    let mut again = None;
    for reader in &readers {
        for user in [&ivo, &jon] {
            let made = report(&stack, reader, profile_of(user), "scam", None).await?;
            reports.push(made.status);
        }
        if again.is_none() {
            again = Some(report(&stack, reader, profile_of(&ivo), "spam", None).await?);
        }
    }
    let again = again.ok_or_else(|| anyhow::anyhow!("no second report"))?;
    let after_the_hold = report(&stack, &readers[0], profile_of(&ivo), "spam", None).await?;
    let held_to_others = stack
        .get(&format!("/v1/profiles/{ivo}"), &readers[0])
        .await?;
    let held_to_owner = stack.get("/v1/me", &ivo).await?;
    let entry = queued(&stack, &modo, "userId", &ivo).await?;
    let review = entry["reviewId"].as_str().unwrap_or_default().to_owned();
    let jons = queued(&stack, &modo, "userId", &jon).await?;
    let approve = json!({"action": "approve", "reason": "A real coach"});
    let remove = json!({"action": "remove", "reason": "Impersonates a bank"});
    let approved = decide(&stack, &modo, &["moderator"], &review, approve).await?;
    let jons_review = jons["reviewId"].as_str().unwrap_or_default().to_owned();
    let removed = decide(&stack, &modo, &["moderator"], &jons_review, remove).await?;
    let shown_again = stack
        .get(&format!("/v1/profiles/{ivo}"), &readers[1])
        .await?;
    let edited = stack
        .patch("/v1/me", &jon, json!({"headline": "Teacher"}))
        .await?;
    let still_removed = stack
        .get(&format!("/v1/profiles/{jon}"), &readers[1])
        .await?;

    // Assert
    assert_eq!(reports, vec![201; 6]);
    assert_eq!(again.status, 200, "the first report again: {again:?}");
    assert_eq!(again.body["reason"], "scam");
    assert_problem(&after_the_hold, 404, None);
    assert_problem(&held_to_others, 404, None);
    assert_eq!(held_to_owner.status, 200);
    assert_eq!(held_to_owner.body["screening"]["status"], "reported");
    assert_eq!(entry["content"]["kind"], "profile");
    assert_eq!(entry["authorId"], ivo.as_str());
    assert_eq!(entry["text"]["displayName"], "Ivo Invest", "{entry}");
    assert_eq!(entry["content"]["reported"], true);
    assert_eq!(approved.status, 200, "{approved:?}");
    assert_eq!(removed.status, 200, "{removed:?}");
    assert_eq!(shown_again.status, 200, "{shown_again:?}");
    assert_eq!(edited.status, 200, "{edited:?}");
    assert_problem(&still_removed, 404, None);
    Ok(())
}

#[tokio::test]
async fn a_profile_report_of_ones_own_of_one_hidden_from_the_reporter_or_of_a_bad_id_is_refused()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (kim, lea) = (new_user("kim"), new_user("lea"));
    public_profile(&stack, &kim, "Kim").await?;
    stack
        .create_profile(
            &lea,
            json!({"handle": unique_handle("private"), "displayName": "Lea"}),
        )
        .await?;

    let own = report(
        &stack,
        &kim,
        json!({"kind": "profile", "userId": kim}),
        "spam",
        None,
    )
    .await?;
    let private = report(
        &stack,
        &kim,
        json!({"kind": "profile", "userId": lea}),
        "spam",
        None,
    )
    .await?;
    let malformed = report(
        &stack,
        &lea,
        json!({"kind": "profile", "userId": "a#b"}),
        "spam",
        None,
    )
    .await?;

    assert_problem(&own, 400, Some("content"));
    assert_problem(&private, 404, None);
    assert_problem(&malformed, 400, Some("content.userId"));
    Ok(())
}
