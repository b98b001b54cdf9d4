//! Moderation, end to end: texts screened through the moderation queue land in the
//! review queue they belong to, and only the moderators who may act on them read it.

use agora_tests::{
    Reply, TestStack, assert_problem, community, id_of, new_user, spawn, token_with_roles,
};
use serde_json::{Value, json};

const SCAM: &str = "Guaranteed returns of 20% a week, send your deposit now";

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
    stack
        .raw(
            stack
                .http
                .get(stack.url(&path))
                .bearer_auth(token_with_roles(user, roles)),
        )
        .await
}

/// An admin creates a category; returns its id.
async fn category(stack: &TestStack) -> anyhow::Result<String> {
    let id = format!("mod-{}", ulid::Ulid::new().to_string().to_lowercase());
    let created = stack
        .raw(
            stack
                .http
                .post(stack.url("/v1/categories"))
                .bearer_auth(token_with_roles(&new_user("admin"), &["admin"]))
                .json(&json!({"id": id, "name": "Money"})),
        )
        .await?;
    anyhow::ensure!(created.status == 201, "{created:?}");
    Ok(id)
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
    let money = category(&stack).await?;
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
    stack
        .raw(
            stack
                .http
                .post(stack.url(&format!("/v1/moderation/queue/{review}")))
                .bearer_auth(token_with_roles(user, roles))
                .json(&body),
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
    let money = category(&stack).await?;
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
            Ok(page.body["items"][0]["reviewId"]
                .as_str()
                .map(str::to_owned))
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
    let money = category(&stack).await?;
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
