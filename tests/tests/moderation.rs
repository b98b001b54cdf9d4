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
