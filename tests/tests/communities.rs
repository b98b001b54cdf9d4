//! Communities, end to end: creating, finding, joining, requests, invites, roles, bans
//! and the permission matrix, through the local stack's HTTP API into the real
//! `communities` function, against moto's DynamoDB.

use agora_tests::{
    Reply, TestStack, accept, assert_problem, community, field_of_items, give_role, id_of, invite,
    new_user, spawn, unique_slug,
};
use reqwest::Method;
use serde_json::{Value, json};

async fn member_count(stack: &TestStack, community: &str, user: &str) -> anyhow::Result<i64> {
    let read = stack
        .get(&format!("/v1/communities/{community}"), user)
        .await?;
    anyhow::ensure!(read.status == 200, "read failed: {read:?}");
    Ok(read.body["memberCount"].as_i64().unwrap_or(-1))
}

fn ids(reply: &Reply, field: &str) -> Vec<String> {
    field_of_items(&reply.body, field)
}

#[tokio::test]
async fn a_public_community_is_found_by_name_prefix_and_tag_and_anyone_joins_it_at_once()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, joiner) = (new_user("owner"), new_user("joiner"));
    let word = format!("zq{}", ulid::Ulid::new().to_string().to_lowercase());
    let tag = format!("t{}", &word[..12]);
    let created = community(
        &stack,
        &owner,
        "public",
        json!({"name": format!("{word} Savers"), "tags": [format!("#{}", tag.to_uppercase())],
               "description": "Money, together.", "coverImageUrl": "https://example.com/c.png"}),
    )
    .await?;
    let id = id_of(&created);
    assert_eq!(created["memberCount"], 1);
    assert_eq!(created["myRole"], "owner");
    assert_eq!(created["tags"], json!([tag]));

    let by_name = stack
        .get(&format!("/v1/communities?q={}", &word[..10]), &joiner)
        .await?;
    let by_tag = stack
        .get(&format!("/v1/communities?tag={tag}"), &joiner)
        .await?;
    let by_slug = stack
        .get(
            &format!("/v1/communities/{}", created["slug"].as_str().unwrap_or("")),
            &joiner,
        )
        .await?;
    let joined = stack
        .post(&format!("/v1/communities/{id}/join"), &joiner, json!({}))
        .await?;
    let again = stack
        .call(
            Method::POST,
            &format!("/v1/communities/{id}/join"),
            Some(&joiner),
            None,
        )
        .await?;

    assert_eq!(ids(&by_name, "communityId"), vec![id.clone()]);
    assert_eq!(ids(&by_tag, "communityId"), vec![id.clone()]);
    assert_eq!(by_slug.body["communityId"], id.as_str());
    assert_eq!(by_slug.body.get("myStatus"), None);
    assert_eq!(joined.status, 201, "{joined:?}");
    assert_eq!(joined.body, json!({"status": "member", "role": "member"}));
    assert_eq!(
        again.status, 200,
        "a second join changes nothing: {again:?}"
    );
    assert_eq!(member_count(&stack, &id, &joiner).await?, 2);
    let mine = stack.get("/v1/me/communities", &joiner).await?;
    assert_eq!(ids(&mine, "communityId"), vec![id.clone()]);
    assert_eq!(mine.body["items"][0]["myRole"], "member");
    let members = stack
        .get(
            &format!("/v1/communities/{id}/members"),
            &new_user("passer"),
        )
        .await?;
    assert_eq!(
        members.status, 200,
        "a public community's members are public"
    );
    let mut listed = ids(&members, "userId");
    listed.sort();
    let mut expected = vec![owner, joiner];
    expected.sort();
    assert_eq!(listed, expected);
    Ok(())
}

#[tokio::test]
async fn a_private_communitys_join_request_waits_until_a_moderator_approves_or_denies_it()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, asker, denied) = (new_user("owner"), new_user("asker"), new_user("denied"));
    let id = id_of(&community(&stack, &owner, "private", json!({})).await?);

    let asked = stack
        .post(
            &format!("/v1/communities/{id}/join"),
            &asker,
            json!({"message": "I keep a budget sheet."}),
        )
        .await?;
    let members_before = stack
        .get(&format!("/v1/communities/{id}/members"), &asker)
        .await?;
    let seen = stack.get(&format!("/v1/communities/{id}"), &asker).await?;
    stack
        .post(&format!("/v1/communities/{id}/join"), &denied, json!({}))
        .await?;
    let queue = stack
        .get(&format!("/v1/communities/{id}/join-requests"), &owner)
        .await?;
    let approved = stack
        .post(
            &format!("/v1/communities/{id}/join-requests/{asker}/approve"),
            &owner,
            json!({}),
        )
        .await?;
    let dropped = stack
        .delete(
            &format!("/v1/communities/{id}/join-requests/{denied}"),
            &owner,
        )
        .await?;
    let approved_twice = stack
        .post(
            &format!("/v1/communities/{id}/join-requests/{asker}/approve"),
            &owner,
            json!({}),
        )
        .await?;

    assert_eq!(asked.status, 202, "{asked:?}");
    assert_eq!(asked.body, json!({"status": "pending"}));
    assert_problem(&members_before, 403, None);
    assert_eq!(seen.body["myStatus"], "pending");
    let mut waiting = ids(&queue, "userId");
    waiting.sort();
    let mut expected = vec![asker.clone(), denied.clone()];
    expected.sort();
    assert_eq!(waiting, expected);
    assert_eq!(queue.body["items"].as_array().map(|a| a.len()), Some(2));
    assert_eq!(approved.status, 200, "{approved:?}");
    assert_eq!(approved.body["role"], "member");
    assert_eq!(dropped.status, 204);
    assert_problem(&approved_twice, 404, None);
    assert_eq!(member_count(&stack, &id, &asker).await?, 2);
    let denied_view = stack.get(&format!("/v1/communities/{id}"), &denied).await?;
    assert_eq!(denied_view.body.get("myStatus"), None, "{denied_view:?}");
    let left_queue = stack
        .get(&format!("/v1/communities/{id}/join-requests"), &owner)
        .await?;
    assert!(ids(&left_queue, "userId").is_empty());
    Ok(())
}

#[tokio::test]
async fn a_member_let_in_by_a_moderator_is_told_who_approved_them_and_one_who_joined_alone_is_not()
-> anyhow::Result<()> {
    // Arrange: one user asks to join a private community; another joins a public one
    let stack = spawn().await?;
    let (owner, asker, joiner) = (new_user("owner"), new_user("asker"), new_user("joiner"));
    let private = id_of(&community(&stack, &owner, "private", json!({})).await?);
    let public = id_of(&community(&stack, &owner, "public", json!({})).await?);
    stack
        .post(
            &format!("/v1/communities/{private}/join"),
            &asker,
            json!({}),
        )
        .await?;
    let joined = stack
        .post(
            &format!("/v1/communities/{public}/join"),
            &joiner,
            json!({}),
        )
        .await?;
    anyhow::ensure!(joined.status == 201, "{joined:?}");

    // Act
    let approved = stack
        .post(
            &format!("/v1/communities/{private}/join-requests/{asker}/approve"),
            &owner,
            json!({}),
        )
        .await?;
    let notification = stack
        .eventually("the approval's notification", || async {
            let page = stack.get("/v1/notifications", &asker).await?;
            Ok(page.body["items"]
                .as_array()
                .and_then(|items| items.first().cloned()))
        })
        .await?;
    // The joiner's member record was written before the approval's (the local stack's
    // stream keeps the table's order): once the approval is notified, it has passed.
    let joiners_own = stack.get("/v1/notifications", &joiner).await?;

    // Assert
    assert_eq!(approved.body["approvedBy"], owner.as_str());
    assert_eq!(notification["type"], "joinRequestApproved");
    assert_eq!(notification["actorId"], owner.as_str());
    assert_eq!(notification["object"]["communityId"], private.as_str());
    assert!(
        notification["summary"]
            .as_str()
            .is_some_and(|s| s.ends_with("approved your request to join the community")),
        "{notification}"
    );
    assert_eq!(joiners_own.body["items"], json!([]));
    Ok(())
}

#[tokio::test]
async fn a_secret_community_is_never_listed_found_or_shown_to_outsiders() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, outsider) = (new_user("owner"), new_user("outsider"));
    let word = format!("zs{}", ulid::Ulid::new().to_string().to_lowercase());
    let tag = format!("s{}", &word[..12]);
    let slug = unique_slug("hidden");
    let secret = community(
        &stack,
        &owner,
        "secret",
        json!({"name": format!("{word} Hideout"), "slug": slug, "tags": [tag]}),
    )
    .await?;
    let id = id_of(&secret);

    let newest = stack.get("/v1/communities?limit=100", &outsider).await?;
    let by_name = stack
        .get(&format!("/v1/communities?q={word}"), &outsider)
        .await?;
    let by_tag = stack
        .get(&format!("/v1/communities?tag={tag}"), &outsider)
        .await?;
    let by_id = stack
        .get(&format!("/v1/communities/{id}"), &outsider)
        .await?;
    let by_slug = stack
        .get(&format!("/v1/communities/{slug}"), &outsider)
        .await?;
    let missing = stack
        .get(&format!("/v1/communities/{}", ulid::Ulid::new()), &outsider)
        .await?;
    let members = stack
        .get(&format!("/v1/communities/{id}/members"), &outsider)
        .await?;
    let join = stack
        .post(&format!("/v1/communities/{id}/join"), &outsider, json!({}))
        .await?;
    let same_slug = community(&stack, &new_user("other"), "public", json!({"slug": slug})).await;

    assert!(!ids(&newest, "communityId").contains(&id));
    assert!(ids(&by_name, "communityId").is_empty());
    assert!(ids(&by_tag, "communityId").is_empty());
    for refused in [&by_id, &by_slug, &members, &join] {
        assert_problem(refused, 404, None);
        assert_eq!(
            refused.body["detail"], missing.body["detail"],
            "{refused:?}"
        );
    }
    assert!(
        same_slug.is_ok(),
        "a secret community's slug is not claimed, so it cannot be probed: {same_slug:?}"
    );
    let owner_view = stack.get(&format!("/v1/communities/{id}"), &owner).await?;
    assert_eq!(owner_view.body["kind"], "secret");
    Ok(())
}

#[tokio::test]
async fn an_invite_link_admits_its_holder_until_it_is_revoked_or_expires() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, guest, late, stale) = (
        new_user("owner"),
        new_user("guest"),
        new_user("late"),
        new_user("stale"),
    );
    let id = id_of(&community(&stack, &owner, "secret", json!({})).await?);
    let code = invite(&stack, &id, &owner).await?;

    let preview = stack.get(&format!("/v1/invites/{code}"), &guest).await?;
    let accepted = stack
        .post(&format!("/v1/invites/{code}/accept"), &guest, json!({}))
        .await?;
    let accepted_again = stack
        .post(&format!("/v1/invites/{code}/accept"), &guest, json!({}))
        .await?;
    let listed = stack
        .get(&format!("/v1/communities/{id}/invites"), &owner)
        .await?;
    let revoked = stack
        .delete(&format!("/v1/communities/{id}/invites/{code}"), &owner)
        .await?;
    let after_revoke = stack
        .post(&format!("/v1/invites/{code}/accept"), &late, json!({}))
        .await?;
    let expiring = invite(&stack, &id, &owner).await?;
    let mut item = stack
        .item(&format!("CINVITE#{expiring}"), "INVITE")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the invite item"))?;
    item["validUntilEpoch"] = json!(agora::ids::now_epoch_seconds() - 1);
    stack.put_item(&item).await?;
    let expired_preview = stack
        .get(&format!("/v1/invites/{expiring}"), &stale)
        .await?;
    let expired = stack
        .post(&format!("/v1/invites/{expiring}/accept"), &stale, json!({}))
        .await?;

    assert_eq!(preview.status, 200, "{preview:?}");
    assert_eq!(preview.body["community"]["communityId"], id.as_str());
    assert_eq!(accepted.status, 201, "{accepted:?}");
    assert_eq!(accepted_again.status, 200);
    assert_eq!(ids(&listed, "code"), vec![code.clone()]);
    assert_eq!(revoked.status, 204);
    assert_problem(&after_revoke, 404, None);
    assert_problem(&expired_preview, 404, None);
    assert_problem(&expired, 404, None);
    assert_eq!(member_count(&stack, &id, &owner).await?, 2);
    let guest_view = stack.get(&format!("/v1/communities/{id}"), &guest).await?;
    assert_eq!(guest_view.body["myRole"], "member");
    Ok(())
}

#[tokio::test]
async fn the_member_count_stays_exact_under_concurrent_joins_and_leaves() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let owner = new_user("owner");
    let id = id_of(&community(&stack, &owner, "public", json!({})).await?);
    let joiners: Vec<String> = (0..24).map(|i| new_user(&format!("j{i}"))).collect();

    let join_path = format!("/v1/communities/{id}/join");
    let joins = futures_util::future::join_all(
        joiners
            .iter()
            .map(|user| stack.post(&join_path, user, json!({}))),
    )
    .await;
    let after_joins = member_count(&stack, &id, &owner).await?;
    // Each leaver asks twice at once: only one of the two may count.
    let leave_paths: Vec<(String, &String)> = joiners
        .iter()
        .take(10)
        .flat_map(|user| {
            let path = format!("/v1/communities/{id}/members/{user}");
            [(path.clone(), user), (path, user)]
        })
        .collect();
    let leaves = futures_util::future::join_all(
        leave_paths
            .iter()
            .map(|(path, user)| stack.call(Method::DELETE, path, Some(user.as_str()), None)),
    )
    .await;
    let after_leaves = member_count(&stack, &id, &owner).await?;

    for join in joins {
        assert_eq!(join?.status, 201);
    }
    assert_eq!(after_joins, 25);
    let statuses: Vec<u16> = leaves
        .into_iter()
        .map(|r| r.map(|r| r.status))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(after_leaves, 15);
    let stored = stack
        .count_entities(&format!("COMMUNITY#{id}"), "CommunityMember")
        .await?;
    assert_eq!(stored, 15, "the count matches the member items");
    Ok(())
}

#[tokio::test]
async fn a_banned_user_loses_their_membership_and_cannot_come_back_until_unbanned()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, troll) = (new_user("owner"), new_user("troll"));
    let id = id_of(&community(&stack, &owner, "public", json!({})).await?);
    stack
        .post(&format!("/v1/communities/{id}/join"), &troll, json!({}))
        .await?;
    let code = invite(&stack, &id, &owner).await?;

    let banned = stack
        .put(
            &format!("/v1/communities/{id}/bans/{troll}"),
            &owner,
            json!({"reason": "spam"}),
        )
        .await?;
    let count = member_count(&stack, &id, &owner).await?;
    let join = stack
        .post(&format!("/v1/communities/{id}/join"), &troll, json!({}))
        .await?;
    let accept_invite = stack
        .post(&format!("/v1/invites/{code}/accept"), &troll, json!({}))
        .await?;
    let view = stack.get(&format!("/v1/communities/{id}"), &troll).await?;
    let bans = stack
        .get(&format!("/v1/communities/{id}/bans"), &owner)
        .await?;
    let ban_self = stack
        .put(
            &format!("/v1/communities/{id}/bans/{owner}"),
            &owner,
            json!({}),
        )
        .await?;
    let unbanned = stack
        .delete(&format!("/v1/communities/{id}/bans/{troll}"), &owner)
        .await?;
    let rejoin = stack
        .post(&format!("/v1/communities/{id}/join"), &troll, json!({}))
        .await?;

    assert_eq!(banned.status, 200, "{banned:?}");
    assert_eq!(banned.body["reason"], "spam");
    assert_eq!(count, 1);
    assert_problem(&join, 403, None);
    assert_problem(&accept_invite, 403, None);
    assert_eq!(view.body["myStatus"], "banned");
    assert_eq!(ids(&bans, "userId"), vec![troll.clone()]);
    assert_problem(&ban_self, 422, Some("userId"));
    assert_eq!(unbanned.status, 204);
    assert_eq!(rejoin.status, 201);
    assert_eq!(member_count(&stack, &id, &owner).await?, 2);
    Ok(())
}

#[tokio::test]
async fn roles_are_given_below_ones_own_and_the_owner_hands_ownership_over() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, admin, member) = (new_user("owner"), new_user("admin"), new_user("member"));
    let id = id_of(&community(&stack, &owner, "private", json!({})).await?);
    let code = invite(&stack, &id, &owner).await?;
    accept(&stack, &code, &admin).await?;
    accept(&stack, &code, &member).await?;
    give_role(&stack, &id, &owner, &admin, "admin").await?;

    let admin_makes_admin = stack
        .put(
            &format!("/v1/communities/{id}/members/{member}/role"),
            &admin,
            json!({"role": "admin"}),
        )
        .await?;
    let admin_makes_instructor = stack
        .put(
            &format!("/v1/communities/{id}/members/{member}/role"),
            &admin,
            json!({"role": "instructor"}),
        )
        .await?;
    let admin_demotes_owner = stack
        .put(
            &format!("/v1/communities/{id}/members/{owner}/role"),
            &admin,
            json!({"role": "member"}),
        )
        .await?;
    let owner_leaves = stack
        .delete(&format!("/v1/communities/{id}/members/{owner}"), &owner)
        .await?;
    let handed_over = stack
        .put(
            &format!("/v1/communities/{id}/members/{admin}/role"),
            &owner,
            json!({"role": "owner"}),
        )
        .await?;
    let members = stack
        .get(&format!("/v1/communities/{id}/members"), &member)
        .await?;
    let former_owner_leaves = stack
        .delete(&format!("/v1/communities/{id}/members/{owner}"), &owner)
        .await?;

    assert_problem(&admin_makes_admin, 403, None);
    assert_eq!(
        admin_makes_instructor.status, 200,
        "{admin_makes_instructor:?}"
    );
    assert_eq!(admin_makes_instructor.body["role"], "instructor");
    assert_problem(&admin_demotes_owner, 403, None);
    assert_problem(&owner_leaves, 409, None);
    assert_eq!(handed_over.status, 200, "{handed_over:?}");
    let role_of = |user: &str| {
        members.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|m| m["userId"] == user))
            .map(|m| m["role"].clone())
    };
    assert_eq!(role_of(&admin), Some(json!("owner")));
    assert_eq!(role_of(&owner), Some(json!("admin")));
    assert_eq!(role_of(&member), Some(json!("instructor")));
    let community = stack.get(&format!("/v1/communities/{id}"), &member).await?;
    assert_eq!(community.body["ownerId"], admin.as_str());
    assert_eq!(former_owner_leaves.status, 204, "{former_owner_leaves:?}");
    Ok(())
}

#[tokio::test]
async fn a_settings_change_moves_the_slug_and_tags_and_making_it_secret_hides_it()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, reader) = (new_user("owner"), new_user("reader"));
    let old_tag = format!("o{}", &ulid::Ulid::new().to_string().to_lowercase()[..12]);
    let new_tag = format!("n{}", &ulid::Ulid::new().to_string().to_lowercase()[..12]);
    let created = community(
        &stack,
        &owner,
        "public",
        json!({"tags": [old_tag], "description": "old"}),
    )
    .await?;
    let id = id_of(&created);
    let old_slug = created["slug"].as_str().unwrap_or_default().to_owned();
    let new_slug = unique_slug("renamed");

    let changed = stack
        .patch(
            &format!("/v1/communities/{id}"),
            &owner,
            json!({"slug": new_slug, "tags": [new_tag], "description": null,
                   "requirePostApproval": true}),
        )
        .await?;
    let by_old_slug = stack
        .get(&format!("/v1/communities/{old_slug}"), &reader)
        .await?;
    let by_new_slug = stack
        .get(&format!("/v1/communities/{new_slug}"), &reader)
        .await?;
    let by_old_tag = stack
        .get(&format!("/v1/communities?tag={old_tag}"), &reader)
        .await?;
    let by_new_tag = stack
        .get(&format!("/v1/communities?tag={new_tag}"), &reader)
        .await?;
    let hidden = stack
        .patch(
            &format!("/v1/communities/{id}"),
            &owner,
            json!({"kind": "secret"}),
        )
        .await?;
    let after_hiding = stack
        .get(&format!("/v1/communities?tag={new_tag}"), &reader)
        .await?;
    let by_id_after = stack.get(&format!("/v1/communities/{id}"), &reader).await?;

    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body.get("description"), None);
    assert_eq!(changed.body["requirePostApproval"], true);
    assert_problem(&by_old_slug, 404, None);
    assert_eq!(by_new_slug.body["communityId"], id.as_str());
    assert!(ids(&by_old_tag, "communityId").is_empty());
    assert_eq!(ids(&by_new_tag, "communityId"), vec![id.clone()]);
    assert_eq!(hidden.status, 200, "{hidden:?}");
    assert!(ids(&after_hiding, "communityId").is_empty());
    assert_problem(&by_id_after, 404, None);
    Ok(())
}

#[tokio::test]
async fn bad_community_input_is_a_problem_naming_the_field() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let owner = new_user("owner");
    let taken = community(&stack, &owner, "public", json!({})).await?;
    let id = id_of(&taken);

    let cases = [
        (
            json!({"name": "", "slug": unique_slug("a"), "kind": "public"}),
            "name",
        ),
        (
            json!({"name": "x", "slug": "Not A Slug", "kind": "public"}),
            "slug",
        ),
        (
            json!({"name": "x", "slug": unique_slug("b"), "kind": "open"}),
            "kind",
        ),
        (
            json!({"name": "x", "slug": unique_slug("c"), "kind": "public",
                   "coverImageUrl": "javascript:alert(1)"}),
            "coverImageUrl",
        ),
        (
            json!({"name": "x", "slug": unique_slug("d"), "kind": "public", "tags": ["a b"]}),
            "tags",
        ),
        (
            json!({"name": "x", "slug": unique_slug("e"), "kind": "public", "owner": "me"}),
            "owner",
        ),
    ];
    for (body, field) in cases {
        let refused = stack.post("/v1/communities", &owner, body).await?;
        assert!(matches!(refused.status, 400 | 422), "{field}: {refused:?}");
        assert_problem(&refused, refused.status, Some(field));
    }
    let duplicate = stack
        .post(
            "/v1/communities",
            &owner,
            json!({"name": "x", "slug": taken["slug"], "kind": "public"}),
        )
        .await?;
    assert_problem(&duplicate, 409, None);
    let long_invite = stack
        .post(
            &format!("/v1/communities/{id}/invites"),
            &owner,
            json!({"expiresInHours": 721}),
        )
        .await?;
    assert_problem(&long_invite, 422, Some("expiresInHours"));
    let bad_role = stack
        .put(
            &format!("/v1/communities/{id}/members/{owner}/role"),
            &owner,
            json!({"role": "emperor"}),
        )
        .await?;
    assert_problem(&bad_role, 400, Some("role"));
    let both = stack.get("/v1/communities?q=a&tag=b", &owner).await?;
    assert_problem(&both, 400, Some("tag"));
    let bad_user = stack
        .delete(&format!("/v1/communities/{id}/members/a%23b"), &owner)
        .await?;
    assert_problem(&bad_user, 400, Some("userId"));
    let bad_id = stack.get("/v1/communities/NOT-AN-ID", &owner).await?;
    assert_problem(&bad_id, 404, None);
    Ok(())
}

// ---------------------------------------------------------------------------------
// The permission matrix (docs/communities.md), endpoint by role
// ---------------------------------------------------------------------------------

const ROLES: [&str; 6] = [
    "outsider",
    "banned",
    "member",
    "moderator",
    "admin",
    "owner",
];

/// A community with one user per role of [`ROLES`] and a standing invite.
struct Cast {
    id: String,
    kind: &'static str,
    code: String,
    users: Vec<(&'static str, String)>,
    /// A topic the member started (held for approval) and the owner approved.
    topic: String,
    /// A chat channel the owner made.
    channel: String,
    /// The course the community is linked to: its members are enrolled in it.
    course: Option<String>,
    /// An event the owner made.
    event: String,
}

impl Cast {
    fn user(&self, role: &str) -> &str {
        self.users
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, u)| u.as_str())
            .unwrap_or_default()
    }

    fn owner(&self) -> &str {
        self.user("owner")
    }
}

async fn cast(stack: &TestStack, kind: &'static str) -> anyhow::Result<Cast> {
    let users: Vec<(&'static str, String)> = ROLES.iter().map(|r| (*r, new_user(r))).collect();
    // Regulars (trust level 3): the matrix posts more than a new account may in an hour.
    for (_, user) in &users {
        stack.trusted_at(user, 3).await?;
    }
    let owner = users[5].1.clone();
    let id = id_of(&community(stack, &owner, kind, json!({"requirePostApproval": true})).await?);
    let code = invite(stack, &id, &owner).await?;
    let mut cast = Cast {
        id,
        kind,
        code,
        users,
        topic: String::new(),
        channel: String::new(),
        course: None,
        event: String::new(),
    };
    for role in ["banned", "member", "moderator", "admin"] {
        accept(stack, &cast.code, cast.user(role)).await?;
    }
    give_role(stack, &cast.id, &owner, cast.user("moderator"), "moderator").await?;
    give_role(stack, &cast.id, &owner, cast.user("admin"), "admin").await?;
    let banned = stack
        .put(
            &format!("/v1/communities/{}/bans/{}", cast.id, cast.user("banned")),
            &owner,
            json!({}),
        )
        .await?;
    anyhow::ensure!(banned.status == 200, "ban failed: {banned:?}");
    cast.topic = topic_in(stack, &cast, cast.user("member")).await?;
    let approved = stack
        .post(
            &format!("/v1/topics/{}/approve", cast.topic),
            &owner,
            json!({}),
        )
        .await?;
    anyhow::ensure!(approved.status == 200, "approval failed: {approved:?}");
    cast.channel = channel_in(stack, &cast.id, &owner).await?;
    cast.event = event_in(stack, &cast.id, &owner).await?;
    Ok(cast)
}

/// An event `organizer` makes in `community`; returns its id.
async fn event_in(stack: &TestStack, community: &str, organizer: &str) -> anyhow::Result<String> {
    let event = stack
        .post_created(
            &format!("/v1/communities/{community}/events"),
            organizer,
            json!({"title": "Meetup", "start": "2027-06-01T18:00", "end": "2027-06-01T19:00",
                   "timeZone": "UTC", "location": "Library"}),
        )
        .await?;
    Ok(event["eventId"].as_str().unwrap_or_default().to_owned())
}

/// A channel `admin` makes in `community`; returns its room id.
async fn channel_in(stack: &TestStack, community: &str, admin: &str) -> anyhow::Result<String> {
    let channel = stack
        .post_created(
            &format!("/v1/communities/{community}/channels"),
            admin,
            json!({"name": "general"}),
        )
        .await?;
    Ok(channel["roomId"].as_str().unwrap_or_default().to_owned())
}

/// A topic `author` starts in the cast's community (held for approval unless they
/// moderate it).
async fn topic_in(stack: &TestStack, cast: &Cast, author: &str) -> anyhow::Result<String> {
    let topic = stack
        .post_created(
            "/v1/topics",
            author,
            json!({"title": "A topic", "body": "text", "communityId": cast.id}),
        )
        .await?;
    Ok(topic["topicId"].as_str().unwrap_or_default().to_owned())
}

/// A fresh member of the cast's community (through its standing invite, enrolled first
/// when it is course-linked).
async fn fresh_member(stack: &TestStack, cast: &Cast) -> anyhow::Result<String> {
    let user = new_user("target");
    enroll_if_linked(stack, cast, &user, json!({})).await?;
    accept(stack, &cast.code, &user).await?;
    Ok(user)
}

/// When the cast's community is course-linked, its owner (the course's instructor)
/// enrolls `user` with `grant`.
async fn enroll_if_linked(
    stack: &TestStack,
    cast: &Cast,
    user: &str,
    grant: Value,
) -> anyhow::Result<()> {
    if let Some(course) = &cast.course {
        let granted = stack
            .put(
                &format!("/v1/courses/{course}/enrollments/{user}"),
                cast.owner(),
                grant,
            )
            .await?;
        anyhow::ensure!(granted.status == 201, "enrollment failed: {granted:?}");
    }
    Ok(())
}

/// A fresh pending join request to the cast's community, from a learner of its course
/// when it is course-linked.
async fn fresh_request_to(stack: &TestStack, cast: &Cast) -> anyhow::Result<String> {
    let user = new_user("asker");
    enroll_if_linked(stack, cast, &user, json!({})).await?;
    request_from(stack, &cast.id, user).await
}

/// A fresh pending join request (written as the API writes it, since a secret
/// community takes none through the API).
async fn fresh_request(stack: &TestStack, community: &str) -> anyhow::Result<String> {
    request_from(stack, community, new_user("asker")).await
}

async fn request_from(stack: &TestStack, community: &str, user: String) -> anyhow::Result<String> {
    let at = agora::ids::now_rfc3339();
    let attributes = json!({"communityId": community, "userId": user, "createdAt": at});
    let mut request = attributes.clone();
    request["PK"] = json!(format!("COMMUNITY#{community}"));
    request["SK"] = json!(format!("JOINREQ#{user}"));
    request["entity"] = json!("CommunityJoinRequest");
    let mut mirror = attributes;
    mirror["PK"] = json!(format!("USER#{user}"));
    mirror["SK"] = json!(format!("CJOINREQ#{community}"));
    mirror["entity"] = json!("CommunityJoinRequestByUser");
    stack.put_items(&[request, mirror]).await?;
    Ok(user)
}

/// The status `role` gets from one endpoint, each on a target of its own.
async fn status_of(
    stack: &TestStack,
    cast: &Cast,
    endpoint: &str,
    role: &str,
) -> anyhow::Result<u16> {
    let id = &cast.id;
    let me = cast.user(role);
    let reply = match endpoint {
        "read" => stack.get(&format!("/v1/communities/{id}"), me).await?,
        "members" => {
            stack
                .get(&format!("/v1/communities/{id}/members"), me)
                .await?
        }
        "join-requests" => {
            stack
                .get(&format!("/v1/communities/{id}/join-requests"), me)
                .await?
        }
        "bans" => stack.get(&format!("/v1/communities/{id}/bans"), me).await?,
        "invites" => {
            stack
                .get(&format!("/v1/communities/{id}/invites"), me)
                .await?
        }
        "join" => {
            stack
                .post(&format!("/v1/communities/{id}/join"), me, json!({}))
                .await?
        }
        "settings" => {
            stack
                .patch(
                    &format!("/v1/communities/{id}"),
                    me,
                    json!({"description": format!("by {role}")}),
                )
                .await?
        }
        "invite" => {
            stack
                .post(&format!("/v1/communities/{id}/invites"), me, json!({}))
                .await?
        }
        "revoke" => {
            let code = invite(stack, id, cast.owner()).await?;
            stack
                .delete(&format!("/v1/communities/{id}/invites/{code}"), me)
                .await?
        }
        "ban" => {
            let target = new_user("target");
            stack
                .put(
                    &format!("/v1/communities/{id}/bans/{target}"),
                    me,
                    json!({}),
                )
                .await?
        }
        "unban" => {
            let target = new_user("target");
            let banned = stack
                .put(
                    &format!("/v1/communities/{id}/bans/{target}"),
                    cast.owner(),
                    json!({}),
                )
                .await?;
            anyhow::ensure!(banned.status == 200, "{banned:?}");
            stack
                .delete(&format!("/v1/communities/{id}/bans/{target}"), me)
                .await?
        }
        "approve" => {
            let asker = fresh_request_to(stack, cast).await?;
            stack
                .post(
                    &format!("/v1/communities/{id}/join-requests/{asker}/approve"),
                    me,
                    json!({}),
                )
                .await?
        }
        "deny" => {
            let asker = fresh_request_to(stack, cast).await?;
            stack
                .delete(&format!("/v1/communities/{id}/join-requests/{asker}"), me)
                .await?
        }
        "remove" => {
            let target = fresh_member(stack, cast).await?;
            stack
                .delete(&format!("/v1/communities/{id}/members/{target}"), me)
                .await?
        }
        "role" => {
            let target = fresh_member(stack, cast).await?;
            stack
                .put(
                    &format!("/v1/communities/{id}/members/{target}/role"),
                    me,
                    json!({"role": "instructor"}),
                )
                .await?
        }
        "topic-read" => stack.get(&format!("/v1/topics/{}", cast.topic), me).await?,
        "topic-list" => stack.get(&format!("/v1/topics?community={id}"), me).await?,
        "topic-reply" => {
            stack
                .post(
                    &format!("/v1/topics/{}/replies", cast.topic),
                    me,
                    json!({"body": "a reply"}),
                )
                .await?
        }
        "topic-create" => {
            stack
                .post(
                    "/v1/topics",
                    me,
                    json!({"title": "Mine", "body": "text", "communityId": id}),
                )
                .await?
        }
        "topic-approve" => {
            let author = fresh_member(stack, cast).await?;
            let held = topic_in(stack, cast, &author).await?;
            stack
                .post(&format!("/v1/topics/{held}/approve"), me, json!({}))
                .await?
        }
        "topic-pin" => {
            stack
                .put(
                    &format!("/v1/topics/{}/pin", cast.topic),
                    me,
                    json!({"pinned": true}),
                )
                .await?
        }
        "topic-lock" => {
            let locked = topic_in(stack, cast, cast.owner()).await?;
            stack
                .put(
                    &format!("/v1/topics/{locked}/lock"),
                    me,
                    json!({"locked": true}),
                )
                .await?
        }
        "topic-delete" => {
            let doomed = topic_in(stack, cast, cast.owner()).await?;
            stack.delete(&format!("/v1/topics/{doomed}"), me).await?
        }
        "follow" => {
            stack
                .put(
                    &format!("/v1/communities/{id}/following"),
                    me,
                    json!({"following": true}),
                )
                .await?
        }
        "announce" => {
            stack
                .post(
                    "/v1/topics",
                    me,
                    json!({"title": "News", "body": "text", "communityId": id,
                           "announcement": true}),
                )
                .await?
        }
        "channels" => {
            stack
                .get(&format!("/v1/communities/{id}/channels"), me)
                .await?
        }
        "channel-create" => {
            stack
                .post(
                    &format!("/v1/communities/{id}/channels"),
                    me,
                    json!({"name": format!("by {role}")}),
                )
                .await?
        }
        "channel-delete" => {
            let doomed = channel_in(stack, id, cast.owner()).await?;
            stack
                .delete(&format!("/v1/communities/{id}/channels/{doomed}"), me)
                .await?
        }
        "channel-history" => {
            stack
                .get(&format!("/v1/rooms/{}/messages", cast.channel), me)
                .await?
        }
        "channel-send" => {
            stack
                .post(
                    &format!("/v1/rooms/{}/messages", cast.channel),
                    me,
                    json!({"text": "hello", "clientMessageId": ulid::Ulid::new().to_string()}),
                )
                .await?
        }
        "events" => stack
            .get(
                &format!(
                    "/v1/communities/{id}/events?from=2027-01-01T00:00:00Z&to=2027-12-01T00:00:00Z"
                ),
                me,
            )
            .await?,
        "event-create" => {
            stack
                .post(
                    &format!("/v1/communities/{id}/events"),
                    me,
                    json!({"title": format!("by {role}"), "start": "2027-07-01T18:00",
                           "end": "2027-07-01T19:00", "timeZone": "UTC", "location": "Hall"}),
                )
                .await?
        }
        "event-read" => stack.get(&format!("/v1/events/{}", cast.event), me).await?,
        "event-rsvp" => {
            stack
                .put(
                    &format!("/v1/events/{}/occurrences/1/rsvp", cast.event),
                    me,
                    json!({"status": "going"}),
                )
                .await?
        }
        "event-attendees" => {
            stack
                .get(
                    &format!("/v1/events/{}/occurrences/1/attendees", cast.event),
                    me,
                )
                .await?
        }
        "resources" => {
            stack
                .get(&format!("/v1/communities/{id}/resources"), me)
                .await?
        }
        "resource-add" => {
            stack
                .post(
                    &format!("/v1/communities/{id}/resources"),
                    me,
                    json!({"kind": "note", "title": "Tip", "note": format!("from {role}")}),
                )
                .await?
        }
        other => anyhow::bail!("no endpoint {other}"),
    };
    Ok(reply.status)
}

/// What each role gets from each endpoint of a private community, in [`ROLES`] order
/// (outsider, banned, member, moderator, admin, owner).
const PRIVATE_MATRIX: [(&str, [u16; 6]); 37] = [
    ("read", [200, 200, 200, 200, 200, 200]),
    ("members", [403, 403, 200, 200, 200, 200]),
    ("join-requests", [403, 403, 403, 200, 200, 200]),
    ("bans", [403, 403, 403, 200, 200, 200]),
    ("invites", [403, 403, 403, 200, 200, 200]),
    ("settings", [403, 403, 403, 403, 200, 200]),
    ("invite", [403, 403, 403, 201, 201, 201]),
    ("revoke", [403, 403, 403, 204, 204, 204]),
    ("ban", [403, 403, 403, 200, 200, 200]),
    ("unban", [403, 403, 403, 204, 204, 204]),
    ("approve", [403, 403, 403, 200, 200, 200]),
    ("deny", [403, 403, 403, 204, 204, 204]),
    ("remove", [403, 403, 403, 204, 204, 204]),
    ("role", [403, 403, 403, 403, 200, 200]),
    ("topic-read", [404, 404, 200, 200, 200, 200]),
    ("topic-list", [403, 403, 200, 200, 200, 200]),
    ("topic-reply", [404, 404, 201, 201, 201, 201]),
    ("topic-create", [403, 403, 201, 201, 201, 201]),
    ("topic-approve", [404, 404, 404, 200, 200, 200]),
    ("topic-pin", [404, 404, 403, 200, 200, 200]),
    ("topic-lock", [404, 404, 403, 200, 200, 200]),
    ("topic-delete", [404, 404, 403, 204, 204, 204]),
    ("follow", [403, 403, 200, 200, 200, 200]),
    ("announce", [403, 403, 403, 201, 201, 201]),
    ("channels", [403, 403, 200, 200, 200, 200]),
    ("channel-history", [403, 403, 200, 200, 200, 200]),
    ("channel-send", [403, 403, 201, 201, 201, 201]),
    ("channel-create", [403, 403, 403, 403, 201, 201]),
    ("channel-delete", [403, 403, 403, 403, 204, 204]),
    ("events", [403, 403, 200, 200, 200, 200]),
    ("event-create", [403, 403, 403, 201, 201, 201]),
    ("event-read", [403, 403, 200, 200, 200, 200]),
    ("event-rsvp", [403, 403, 200, 200, 200, 200]),
    ("event-attendees", [403, 403, 200, 200, 200, 200]),
    ("resources", [403, 403, 200, 200, 200, 200]),
    ("resource-add", [403, 403, 201, 201, 201, 201]),
    // Last: a public community's outsider joins by it.
    ("join", [202, 403, 200, 200, 200, 200]),
];

/// A secret community: the same, except that whoever is not in it (outsiders, banned
/// users) gets the 404 of a community that does not exist, everywhere (starting a
/// topic in it names the body's `communityId`: 422, as for a missing one).
fn secret_matrix() -> Vec<(&'static str, [u16; 6])> {
    PRIVATE_MATRIX
        .iter()
        .map(|(endpoint, statuses)| {
            let mut statuses = *statuses;
            let hidden = if *endpoint == "topic-create" || *endpoint == "announce" {
                422
            } else {
                404
            };
            statuses[0] = hidden;
            statuses[1] = hidden;
            (*endpoint, statuses)
        })
        .collect()
}

/// A public community: its members are public, and anyone joins at once.
fn public_matrix() -> Vec<(&'static str, [u16; 6])> {
    PRIVATE_MATRIX
        .iter()
        .map(|(endpoint, statuses)| match *endpoint {
            "members" | "topic-read" | "topic-list" | "events" | "event-read" | "resources" => {
                (*endpoint, [200; 6])
            }
            "join" => (*endpoint, [201, 403, 200, 200, 200, 200]),
            "topic-reply" => (*endpoint, [201, 403, 201, 201, 201, 201]),
            "topic-pin" | "topic-lock" => (*endpoint, [403, 403, 403, 200, 200, 200]),
            "topic-delete" => (*endpoint, [403, 403, 403, 204, 204, 204]),
            _ => (*endpoint, *statuses),
        })
        .collect()
}

#[tokio::test]
async fn every_community_endpoint_answers_each_role_as_the_permission_matrix_says()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let matrices = [
        ("public", public_matrix()),
        ("private", PRIVATE_MATRIX.to_vec()),
        ("secret", secret_matrix()),
    ];
    let mut mismatches = Vec::new();
    let mut cells = 0;

    for (kind, matrix) in matrices {
        let cast = cast(&stack, kind).await?;
        for (endpoint, expected) in &matrix {
            for (role, want) in ROLES.iter().zip(expected) {
                let got = status_of(&stack, &cast, endpoint, role).await?;
                cells += 1;
                if got != *want {
                    mismatches.push(format!(
                        "{} {endpoint} as {role}: {got}, expected {want}",
                        cast.kind
                    ));
                }
            }
        }
    }

    assert_eq!(cells, 666);
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    Ok(())
}

/// The roles of a course-linked community: the others', a learner whose enrollment
/// ended, and an instructor (who moderates, since roles come from the course).
const LINKED_ROLES: [&str; 8] = [
    "outsider",
    "banned",
    "expired",
    "member",
    "instructor",
    "moderator",
    "admin",
    "owner",
];

/// A private community linked to a course its owner teaches, with one user per role
/// of [`LINKED_ROLES`]; the `expired` learner's enrollment has ended when it returns.
async fn linked_cast(stack: &TestStack) -> anyhow::Result<Cast> {
    let users: Vec<(&'static str, String)> =
        LINKED_ROLES.iter().map(|r| (*r, new_user(r))).collect();
    for (_, user) in &users {
        stack.trusted_at(user, 3).await?;
    }
    let owner = users[7].1.clone();
    let course = stack
        .post_created(
            "/v1/courses",
            &owner,
            json!({"title": "Matrix 101", "level": "beginner", "category": "matrix",
                   "price": {"amountCents": 100, "currency": "EUR"}, "published": true}),
        )
        .await?;
    let course = course["courseId"].as_str().unwrap_or_default().to_owned();
    let id = id_of(
        &community(
            stack,
            &owner,
            "private",
            json!({"requirePostApproval": true}),
        )
        .await?,
    );
    let linked = stack
        .put(
            &format!("/v1/communities/{id}/course"),
            &owner,
            json!({"courseId": course}),
        )
        .await?;
    anyhow::ensure!(linked.status == 200, "link failed: {linked:?}");
    let code = invite(stack, &id, &owner).await?;
    let mut cast = Cast {
        id,
        kind: "course-linked private",
        code,
        users,
        topic: String::new(),
        channel: String::new(),
        course: Some(course),
        event: String::new(),
    };
    let ends = (time::OffsetDateTime::now_utc() + time::Duration::seconds(4))
        .format(&time::format_description::well_known::Rfc3339)?;
    let ends_at = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    for role in [
        "banned",
        "expired",
        "member",
        "instructor",
        "moderator",
        "admin",
    ] {
        let grant = if role == "expired" {
            json!({"expiresAt": ends})
        } else {
            json!({})
        };
        enroll_if_linked(stack, &cast, cast.user(role), grant).await?;
        accept(stack, &cast.code, cast.user(role)).await?;
    }
    for role in ["instructor", "moderator", "admin"] {
        give_role(stack, &cast.id, &owner, cast.user(role), role).await?;
    }
    let banned = stack
        .put(
            &format!("/v1/communities/{}/bans/{}", cast.id, cast.user("banned")),
            &owner,
            json!({}),
        )
        .await?;
    anyhow::ensure!(banned.status == 200, "ban failed: {banned:?}");
    cast.topic = topic_in(stack, &cast, cast.user("member")).await?;
    let approved = stack
        .post(
            &format!("/v1/topics/{}/approve", cast.topic),
            &owner,
            json!({}),
        )
        .await?;
    anyhow::ensure!(approved.status == 200, "approval failed: {approved:?}");
    cast.channel = channel_in(stack, &cast.id, &owner).await?;
    cast.event = event_in(stack, &cast.id, &owner).await?;
    tokio::time::sleep_until(ends_at).await;
    Ok(cast)
}

/// A course-linked private community: a learner whose enrollment ended is an outsider
/// again, an instructor acts as a moderator, and no one joins without an enrollment.
fn linked_matrix() -> Vec<(&'static str, [u16; 8])> {
    PRIVATE_MATRIX
        .iter()
        .map(
            |(endpoint, [outsider, banned, member, moderator, admin, owner])| {
                let statuses = if *endpoint == "join" {
                    [
                        403, 403, 403, *member, *moderator, *moderator, *admin, *owner,
                    ]
                } else {
                    [
                        *outsider, *banned, *outsider, *member, *moderator, *moderator, *admin,
                        *owner,
                    ]
                };
                (*endpoint, statuses)
            },
        )
        .collect()
}

#[tokio::test]
async fn every_endpoint_of_a_course_linked_community_answers_each_role_with_an_ended_enrollment_as_an_outsider()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let cast = linked_cast(&stack).await?;
    let mut mismatches = Vec::new();
    let mut cells = 0;

    for (endpoint, expected) in linked_matrix() {
        for (role, want) in LINKED_ROLES.iter().zip(expected) {
            let got = status_of(&stack, &cast, endpoint, role).await?;
            cells += 1;
            if got != want {
                mismatches.push(format!("{endpoint} as {role}: {got}, expected {want}"));
            }
        }
    }

    assert_eq!(cells, 296);
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    Ok(())
}

// ---------------------------------------------------------------------------------
// DynamoDB requests per read
// ---------------------------------------------------------------------------------

/// A populated community: its id, its slug and its owner.
type Populated = (String, String, String);

/// One measured read: its name, its path for a community, and its request budget.
type Read = (&'static str, fn(&Populated) -> String, u64);

/// A public community of `members` members (and the owner), each with a profile, a
/// pending request and a ban, with `tag`; returns its id, slug and owner.
async fn populated(stack: &TestStack, members: usize, tag: &str) -> anyhow::Result<Populated> {
    let owner = new_user("owner");
    let created = community(stack, &owner, "public", json!({"tags": [tag]})).await?;
    let id = id_of(&created);
    let code = invite(stack, &id, &owner).await?;
    for n in 0..members {
        let user = new_user(&format!("m{n}"));
        stack
            .create_profile(
                &user,
                json!({"handle": agora_tests::unique_handle("m"), "displayName": format!("Member {n}"),
                       "privacy": {"profileVisibility": "public"}}),
            )
            .await?;
        accept(stack, &code, &user).await?;
        fresh_request(stack, &id).await?;
        let banned = stack
            .put(
                &format!("/v1/communities/{id}/bans/{}", new_user("banned")),
                &owner,
                json!({}),
            )
            .await?;
        anyhow::ensure!(banned.status == 200, "ban failed: {banned:?}");
    }
    Ok((
        id,
        created["slug"].as_str().unwrap_or_default().to_owned(),
        owner,
    ))
}

#[tokio::test]
async fn community_reads_take_the_same_few_dynamodb_requests_at_any_size() -> anyhow::Result<()> {
    // Arrange: a community of 2 members and one of 25, with the same tag
    let stack = agora_tests::spawn_counting_requests().await?;
    let tag = format!("rc{}", &ulid::Ulid::new().to_string().to_lowercase()[..12]);
    let small = populated(&stack, 2, &tag).await?;
    let large = populated(&stack, 25, &tag).await?;
    let reads: [Read; 8] = [
        ("community by id", |c| format!("/v1/communities/{}", c.0), 1),
        (
            "community by slug",
            |c| format!("/v1/communities/{}", c.1),
            2,
        ),
        (
            "members",
            |c| format!("/v1/communities/{}/members?limit=20", c.0),
            3,
        ),
        (
            "join requests",
            |c| format!("/v1/communities/{}/join-requests?limit=20", c.0),
            3,
        ),
        (
            "bans",
            |c| format!("/v1/communities/{}/bans?limit=20", c.0),
            2,
        ),
        (
            "invites",
            |c| format!("/v1/communities/{}/invites?limit=20", c.0),
            2,
        ),
        (
            "my communities",
            |_| "/v1/me/communities?limit=20".to_owned(),
            2,
        ),
        (
            "discover newest",
            |_| "/v1/communities?limit=20".to_owned(),
            2,
        ),
    ];

    // Act
    let mut measured = Vec::new();
    for (name, path, _) in &reads {
        let at_small = stack
            .dynamodb_requests_of_get(&path(&small), &small.2)
            .await?;
        let at_large = stack
            .dynamodb_requests_of_get(&path(&large), &large.2)
            .await?;
        measured.push((*name, at_small, at_large));
    }
    let by_tag = stack
        .dynamodb_requests_of_get(&format!("/v1/communities?tag={tag}&limit=20"), &small.2)
        .await?;
    let by_name = stack
        .dynamodb_requests_of_get("/v1/communities?q=public&limit=20", &small.2)
        .await?;

    // Assert: a read that makes a BatchGetItem carries the token's tombstone check on it;
    // one that only queries pays a GetItem for it.
    for ((name, at_small, at_large), (_, _, budget)) in measured.iter().zip(&reads) {
        assert_eq!(at_small, at_large, "{name} grows with the community");
        assert_eq!(at_small, budget, "{name}");
    }
    assert_eq!(by_tag, 2, "a tag: its Query and one BatchGetItem");
    assert_eq!(
        by_name, 2,
        "a name prefix: one Query of GSI1 (and the token's tombstone GetItem)"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// Account erasure
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn erasing_an_owner_hands_their_community_on_and_leaves_nothing_of_them() -> anyhow::Result<()>
{
    // Arrange: Ana owns a community with an admin and a member (whose held topic she
    // approved), owns one alone, asks to join a private one, is banned from a fourth,
    // banned someone, and made an invite
    let stack = spawn().await?;
    let (ana, admin, member, other_owner, troll) = (
        new_user("ana"),
        new_user("admin"),
        new_user("member"),
        new_user("other"),
        new_user("troll"),
    );
    let shared = id_of(
        &community(
            &stack,
            &ana,
            "public",
            json!({"tags": ["erasure"], "requirePostApproval": true}),
        )
        .await?,
    );
    let alone = community(&stack, &ana, "public", json!({})).await?;
    let alone_id = id_of(&alone);
    let code = invite(&stack, &shared, &ana).await?;
    accept(&stack, &code, &member).await?;
    accept(&stack, &code, &admin).await?;
    give_role(&stack, &shared, &ana, &admin, "admin").await?;
    let held = stack
        .post_created(
            "/v1/topics",
            &member,
            json!({"title": "Held", "body": "text", "communityId": shared}),
        )
        .await?;
    let held_id = held["topicId"].as_str().unwrap_or_default().to_owned();
    let approved = stack
        .post(&format!("/v1/topics/{held_id}/approve"), &ana, json!({}))
        .await?;
    anyhow::ensure!(approved.status == 200, "{approved:?}");
    let banned_troll = stack
        .put(
            &format!("/v1/communities/{shared}/bans/{troll}"),
            &ana,
            json!({}),
        )
        .await?;
    anyhow::ensure!(banned_troll.status == 200, "{banned_troll:?}");
    let private = id_of(&community(&stack, &other_owner, "private", json!({})).await?);
    let asked = stack
        .post(&format!("/v1/communities/{private}/join"), &ana, json!({}))
        .await?;
    anyhow::ensure!(asked.status == 202, "{asked:?}");
    let banning = id_of(&community(&stack, &other_owner, "public", json!({})).await?);
    let banned_ana = stack
        .put(
            &format!("/v1/communities/{banning}/bans/{ana}"),
            &other_owner,
            json!({}),
        )
        .await?;
    anyhow::ensure!(banned_ana.status == 200, "{banned_ana:?}");

    // Act
    stack.delete_account(&ana).await?;

    // Assert
    let handed = stack
        .get(&format!("/v1/communities/{shared}"), &member)
        .await?;
    assert_eq!(handed.body["ownerId"], admin.as_str(), "{handed:?}");
    assert_eq!(handed.body["memberCount"], 2);
    let gone = stack
        .get(&format!("/v1/communities/{alone_id}"), &member)
        .await?;
    assert_problem(&gone, 404, None);
    let slug = alone["slug"].as_str().unwrap_or_default();
    assert!(
        stack
            .item(&format!("CSLUG#{slug}"), "CSLUG")
            .await?
            .is_none()
    );
    let invite_after = stack.get(&format!("/v1/invites/{code}"), &member).await?;
    assert_problem(&invite_after, 404, None);
    let requests = stack
        .get(
            &format!("/v1/communities/{private}/join-requests"),
            &other_owner,
        )
        .await?;
    assert!(ids(&requests, "userId").is_empty());
    let bans = stack
        .get(&format!("/v1/communities/{shared}/bans"), &admin)
        .await?;
    assert_eq!(ids(&bans, "userId"), vec![troll.clone()], "the ban stays");
    assert_eq!(bans.body["items"][0]["bannedBy"], "~erased");
    let topic = stack.get(&format!("/v1/topics/{held_id}"), &member).await?;
    assert_eq!(topic.body["topic"]["reviewedBy"], "~erased");
    let left = stack.items_mentioning(&ana).await?;
    let left: Vec<&Value> = left
        .iter()
        .filter(|item| item["entity"] != "DeletedAccount")
        .collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
    Ok(())
}

// ---------------------------------------------------------------------------------
// Topics in communities
// ---------------------------------------------------------------------------------

/// A user with a public profile and a handle (so they can be mentioned); returns both.
async fn person(stack: &TestStack, name: &str) -> anyhow::Result<(String, String)> {
    let user = new_user(name);
    let handle = agora_tests::unique_handle(name);
    stack
        .create_profile(
            &user,
            json!({"handle": handle, "displayName": format!("{name} Example"),
                   "privacy": {"profileVisibility": "public"}}),
        )
        .await?;
    Ok((user, handle))
}

/// Whether a page of activities (feed or timeline) holds one about `topic`.
fn mentions_topic(page: &Reply, topic: &str) -> bool {
    page.body["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|a| a["object"]["topicId"] == topic))
}

fn has_notification(page: &Reply, kind: &str, topic: &str) -> bool {
    page.body["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|n| n["type"] == kind && n["object"]["topicId"] == topic)
    })
}

#[tokio::test]
async fn a_topic_in_a_private_community_reaches_no_one_outside_it() -> anyhow::Result<()> {
    // Arrange: Ana owns a private community that Mo belongs to; Xu is Ana's connection
    // but not a member, with a socket open
    let stack = spawn().await?;
    let (ana, _) = person(&stack, "ana").await?;
    let (mo, mo_handle) = person(&stack, "mo").await?;
    let (xu, xu_handle) = person(&stack, "xu").await?;
    stack.connect_through_the_api(&ana, &xu).await?;
    stack.connect_through_the_api(&ana, &mo).await?;
    let private = id_of(&community(&stack, &ana, "private", json!({})).await?);
    let code = invite(&stack, &private, &ana).await?;
    accept(&stack, &code, &mo).await?;
    let control_category = stack.new_category("Control").await?;
    let mut xu_socket = agora_tests::WsClient::connect(&stack, &xu).await?;

    // Act: a topic in the community that mentions both, then a public one that
    // mentions Xu (what Xu does receive shows the stream got that far)
    let secret = stack
        .post_created(
            "/v1/topics",
            &ana,
            json!({"title": "Our plans", "communityId": private, "tags": ["plans"],
                   "body": format!("@{mo_handle} @{xu_handle} the budget #plans")}),
        )
        .await?;
    let secret_id = secret["topicId"].as_str().unwrap_or_default().to_owned();
    let control = stack
        .post_created(
            "/v1/topics",
            &ana,
            json!({"title": "Hello", "categoryId": control_category,
                   "body": format!("@{xu_handle} hi")}),
        )
        .await?;
    let control_id = control["topicId"].as_str().unwrap_or_default().to_owned();

    // Assert: Xu hears of the public topic, and by then of nothing in the community
    let xu_feed = stack
        .eventually("the public topic in Xu's feed", || async {
            let feed = stack.get("/v1/feed", &xu).await?;
            Ok(mentions_topic(&feed, &control_id).then_some(feed))
        })
        .await?;
    assert!(!mentions_topic(&xu_feed, &secret_id), "{xu_feed:?}");
    let xu_notes = stack
        .eventually("Xu's mention in the public topic", || async {
            let page = stack.get("/v1/notifications", &xu).await?;
            Ok(has_notification(&page, "mention", &control_id).then_some(page))
        })
        .await?;
    assert!(
        !has_notification(&xu_notes, "mention", &secret_id),
        "{xu_notes:?}"
    );
    let pushed = xu_socket
        .expect("the public mention's push", |f| {
            f["notification"]["object"]["topicId"] == control_id.as_str()
        })
        .await?;
    assert_eq!(pushed["notification"]["type"], "mention");
    assert!(
        xu_socket
            .stays_quiet(std::time::Duration::from_millis(300), |f| {
                f.to_string().contains(&secret_id)
            })
            .await?,
        "nothing of the community's topic is pushed to Xu"
    );
    let timeline = stack.get("/v1/timeline", &xu).await?;
    assert!(mentions_topic(&timeline, &control_id));
    assert!(!mentions_topic(&timeline, &secret_id));
    let mo_notes = stack
        .eventually("Mo's mention in the community topic", || async {
            let page = stack.get("/v1/notifications", &mo).await?;
            Ok(has_notification(&page, "mention", &secret_id).then_some(page))
        })
        .await?;
    assert!(has_notification(&mo_notes, "mention", &secret_id));
    assert_eq!(
        secret["mentions"],
        json!([mo.clone()]),
        "only members are mentioned"
    );

    for refused in [
        stack.get(&format!("/v1/topics/{secret_id}"), &xu).await?,
        stack
            .get(&format!("/v1/topics/{secret_id}/replies"), &xu)
            .await?,
        stack
            .get(&format!("/v1/topics/{secret_id}/history"), &xu)
            .await?,
        stack
            .post(
                &format!("/v1/topics/{secret_id}/replies"),
                &xu,
                json!({"body": "hi"}),
            )
            .await?,
        stack
            .put(
                &format!("/v1/topics/{secret_id}/reactions/{secret_id}"),
                &xu,
                json!({"reaction": "like"}),
            )
            .await?,
    ] {
        assert_problem(&refused, 404, None);
    }
    let listing = stack
        .get(&format!("/v1/topics?community={private}"), &xu)
        .await?;
    assert_problem(&listing, 403, None);
    let by_tag = stack.get("/v1/topics?tag=plans", &xu).await?;
    assert!(!ids(&by_tag, "topicId").contains(&secret_id));
    let by_author = stack.get(&format!("/v1/topics?author={ana}"), &xu).await?;
    let by_author = ids(&by_author, "topicId");
    assert!(by_author.contains(&control_id) && !by_author.contains(&secret_id));

    let as_member = stack.get(&format!("/v1/topics/{secret_id}"), &mo).await?;
    assert_eq!(as_member.status, 200);
    let members_listing = stack
        .get(&format!("/v1/topics?community={private}"), &mo)
        .await?;
    assert_eq!(ids(&members_listing, "topicId"), vec![secret_id.clone()]);
    let replied = stack
        .post(
            &format!("/v1/topics/{secret_id}/replies"),
            &mo,
            json!({"body": format!("@{xu_handle} agreed")}),
        )
        .await?;
    assert_eq!(replied.status, 201, "{replied:?}");
    assert_eq!(replied.body["mentions"], json!([]));
    Ok(())
}

#[tokio::test]
async fn a_public_communitys_topics_are_read_by_anyone_and_started_by_members_only()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, member, passer, troll) = (
        new_user("owner"),
        new_user("member"),
        new_user("passer"),
        new_user("troll"),
    );
    let public = id_of(&community(&stack, &owner, "public", json!({})).await?);
    for user in [&member, &troll] {
        stack
            .post(&format!("/v1/communities/{public}/join"), user, json!({}))
            .await?;
    }
    stack
        .put(
            &format!("/v1/communities/{public}/bans/{troll}"),
            &owner,
            json!({}),
        )
        .await?;

    let by_member = stack
        .post(
            "/v1/topics",
            &member,
            json!({"title": "Tips", "body": "Save first.", "communityId": public}),
        )
        .await?;
    let by_passer = stack
        .post(
            "/v1/topics",
            &passer,
            json!({"title": "Spam", "body": "Buy now.", "communityId": public}),
        )
        .await?;
    let by_troll = stack
        .post(
            "/v1/topics",
            &troll,
            json!({"title": "Spam", "body": "Buy now.", "communityId": public}),
        )
        .await?;
    let both = stack
        .post(
            "/v1/topics",
            &member,
            json!({"title": "x", "body": "y", "communityId": public, "categoryId": "general"}),
        )
        .await?;
    let topic = by_member.body["topicId"].as_str().unwrap_or_default();
    let read = stack.get(&format!("/v1/topics/{topic}"), &passer).await?;
    let listed = stack
        .get(&format!("/v1/topics?community={public}"), &passer)
        .await?;
    let passer_reply = stack
        .post(
            &format!("/v1/topics/{topic}/replies"),
            &passer,
            json!({"body": "Thanks"}),
        )
        .await?;
    let troll_reply = stack
        .post(
            &format!("/v1/topics/{topic}/replies"),
            &troll,
            json!({"body": "Buy now"}),
        )
        .await?;
    let secret = id_of(&community(&stack, &owner, "secret", json!({})).await?);
    let secret_listing = stack
        .get(&format!("/v1/topics?community={secret}"), &passer)
        .await?;
    let secret_post = stack
        .post(
            "/v1/topics",
            &passer,
            json!({"title": "x", "body": "y", "communityId": secret}),
        )
        .await?;

    assert_eq!(by_member.status, 201, "{by_member:?}");
    assert_eq!(by_member.body["communityId"], public.as_str());
    assert_problem(&by_passer, 403, None);
    assert_problem(&by_troll, 403, None);
    assert_problem(&both, 422, Some("categoryId"));
    assert_eq!(read.status, 200);
    assert_eq!(ids(&listed, "topicId"), vec![topic.to_owned()]);
    assert_eq!(
        passer_reply.status, 201,
        "anyone replies in a public community"
    );
    assert_problem(&troll_reply, 403, None);
    assert_problem(&secret_listing, 404, None);
    assert_problem(&secret_post, 422, Some("communityId"));
    Ok(())
}

#[tokio::test]
async fn community_moderators_moderate_their_communitys_topics_and_no_one_elses()
-> anyhow::Result<()> {
    // Arrange: Mod moderates a public community where Mem posted; Other moderates another
    let stack = spawn().await?;
    let (owner, moderator, member, other_owner) = (
        new_user("owner"),
        new_user("mod"),
        new_user("member"),
        new_user("other"),
    );
    let public = id_of(&community(&stack, &owner, "public", json!({})).await?);
    for user in [&moderator, &member] {
        stack
            .post(&format!("/v1/communities/{public}/join"), user, json!({}))
            .await?;
    }
    give_role(&stack, &public, &owner, &moderator, "moderator").await?;
    id_of(&community(&stack, &other_owner, "public", json!({})).await?);
    let post = |title: &'static str| {
        let (stack, member, public) = (&stack, &member, &public);
        async move {
            stack
                .post_created(
                    "/v1/topics",
                    member,
                    json!({"title": title, "body": "text", "communityId": public}),
                )
                .await
        }
    };
    let first = post("first").await?;
    let second = post("second").await?;
    let (first, second) = (
        first["topicId"].as_str().unwrap_or_default().to_owned(),
        second["topicId"].as_str().unwrap_or_default().to_owned(),
    );

    // Act
    let pin_by_member = stack
        .put(
            &format!("/v1/topics/{first}/pin"),
            &member,
            json!({"pinned": true}),
        )
        .await?;
    let pin_by_other = stack
        .put(
            &format!("/v1/topics/{first}/pin"),
            &other_owner,
            json!({"pinned": true}),
        )
        .await?;
    let delete_by_other = stack
        .delete(&format!("/v1/topics/{second}"), &other_owner)
        .await?;
    let pinned = stack
        .put(
            &format!("/v1/topics/{first}/pin"),
            &moderator,
            json!({"pinned": true}),
        )
        .await?;
    let deleted = stack
        .delete(&format!("/v1/topics/{second}"), &moderator)
        .await?;
    let listing = stack
        .get(&format!("/v1/topics?community={public}"), &member)
        .await?;

    // Assert
    assert_problem(&pin_by_member, 403, None);
    assert_problem(&pin_by_other, 403, None);
    assert_problem(&delete_by_other, 403, None);
    assert_eq!(pinned.status, 200, "{pinned:?}");
    assert_eq!(pinned.body["pinned"], true);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(ids(&listing, "topicId"), vec![first.clone()]);
    Ok(())
}

#[tokio::test]
async fn a_topic_held_for_approval_is_seen_by_its_author_and_moderators_only_until_approved()
-> anyhow::Result<()> {
    // Arrange: a public community that requires post approval, with a moderator, the
    // author and another member; the author's connection Xu is not a member
    let stack = spawn().await?;
    let owner = new_user("owner");
    let (author, _) = person(&stack, "author").await?;
    let (other, other_handle) = person(&stack, "other").await?;
    let (xu, _) = person(&stack, "xu").await?;
    let moderator = new_user("mod");
    stack.connect_through_the_api(&author, &xu).await?;
    let id = id_of(
        &community(
            &stack,
            &owner,
            "public",
            json!({"requirePostApproval": true}),
        )
        .await?,
    );
    for user in [&author, &other, &moderator] {
        stack
            .post(&format!("/v1/communities/{id}/join"), user, json!({}))
            .await?;
    }
    give_role(&stack, &id, &owner, &moderator, "moderator").await?;
    let control_category = stack.new_category("Control").await?;
    let post = |user: String, title: &'static str, body: String| {
        let (stack, id) = (&stack, &id);
        async move {
            stack
                .post_created(
                    "/v1/topics",
                    &user,
                    json!({"title": title, "body": body, "communityId": id}),
                )
                .await
        }
    };

    // Act: the author posts (held), then a topic elsewhere that also mentions Other
    let held = post(author.clone(), "Held", format!("@{other_handle} look")).await?;
    let held_id = held["topicId"].as_str().unwrap_or_default().to_owned();
    let control = stack
        .post_created(
            "/v1/topics",
            &author,
            json!({"title": "Elsewhere", "categoryId": control_category,
                   "body": format!("@{other_handle} hi")}),
        )
        .await?;
    let control_id = control["topicId"].as_str().unwrap_or_default().to_owned();
    let by_moderator = post(moderator.clone(), "Rules", "Be kind.".into()).await?;

    // Assert: held, seen by its author and the moderators only, mentioning no one yet
    assert_eq!(held["status"], "pending");
    assert_eq!(
        by_moderator["status"], "published",
        "a moderator's topic is not held"
    );
    let other_notes = stack
        .eventually("Other's mention elsewhere", || async {
            let page = stack.get("/v1/notifications", &other).await?;
            Ok(has_notification(&page, "mention", &control_id).then_some(page))
        })
        .await?;
    assert!(!has_notification(&other_notes, "mention", &held_id));
    assert_problem(
        &stack.get(&format!("/v1/topics/{held_id}"), &other).await?,
        404,
        None,
    );
    assert_eq!(
        stack
            .get(&format!("/v1/topics/{held_id}"), &author)
            .await?
            .status,
        200
    );
    assert_eq!(
        stack
            .get(&format!("/v1/topics/{held_id}"), &moderator)
            .await?
            .status,
        200
    );
    let listing = stack
        .get(&format!("/v1/topics?community={id}"), &other)
        .await?;
    assert!(!ids(&listing, "topicId").contains(&held_id));
    let queue_path = format!("/v1/topics?community={id}&status=pending");
    let queue = stack.get(&queue_path, &moderator).await?;
    assert_eq!(ids(&queue, "topicId"), vec![held_id.clone()]);
    assert_problem(&stack.get(&queue_path, &other).await?, 403, None);
    let early_reply = stack
        .post(
            &format!("/v1/topics/{held_id}/replies"),
            &author,
            json!({"body": "bump"}),
        )
        .await?;
    assert_problem(&early_reply, 409, None);
    let self_approval = stack
        .post(&format!("/v1/topics/{held_id}/approve"), &author, json!({}))
        .await?;
    assert_problem(&self_approval, 403, None);

    // Act: the moderator approves it
    let approved = stack
        .post(
            &format!("/v1/topics/{held_id}/approve"),
            &moderator,
            json!({}),
        )
        .await?;
    let again = stack
        .post(
            &format!("/v1/topics/{held_id}/approve"),
            &moderator,
            json!({}),
        )
        .await?;

    // Assert: published, listed, announced, and its author and mentions notified
    assert_eq!(approved.status, 200, "{approved:?}");
    assert_eq!(approved.body["status"], "published");
    assert_problem(&again, 409, None);
    let listing = stack
        .get(&format!("/v1/topics?community={id}"), &other)
        .await?;
    assert!(ids(&listing, "topicId").contains(&held_id));
    let author_note = stack
        .eventually("the author's approval notification", || async {
            let page = stack.get("/v1/notifications", &author).await?;
            Ok(page.body["items"]
                .as_array()
                .and_then(|items| items.iter().find(|n| n["type"] == "postApproved").cloned()))
        })
        .await?;
    assert_eq!(author_note["actorId"], moderator.as_str());
    assert_eq!(author_note["object"]["topicId"], held_id.as_str());
    stack
        .eventually("Other's mention once published", || async {
            let page = stack.get("/v1/notifications", &other).await?;
            Ok(has_notification(&page, "mention", &held_id).then_some(()))
        })
        .await?;
    stack
        .eventually("the published topic in Xu's feed", || async {
            let feed = stack.get("/v1/feed", &xu).await?;
            Ok(mentions_topic(&feed, &held_id).then_some(()))
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_rejected_topic_stays_with_its_author_and_tells_them_why() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, author, other) = (new_user("owner"), new_user("author"), new_user("other"));
    let id = id_of(
        &community(
            &stack,
            &owner,
            "private",
            json!({"requirePostApproval": true}),
        )
        .await?,
    );
    let code = invite(&stack, &id, &owner).await?;
    accept(&stack, &code, &author).await?;
    accept(&stack, &code, &other).await?;
    let held = stack
        .post_created(
            "/v1/topics",
            &author,
            json!({"title": "Buy my course", "body": "now", "communityId": id}),
        )
        .await?;
    let held_id = held["topicId"].as_str().unwrap_or_default().to_owned();

    let long_reason = stack
        .post(
            &format!("/v1/topics/{held_id}/reject"),
            &owner,
            json!({"reason": "x".repeat(501)}),
        )
        .await?;
    let rejected = stack
        .post(
            &format!("/v1/topics/{held_id}/reject"),
            &owner,
            json!({"reason": "No promotions, please."}),
        )
        .await?;
    let as_author = stack.get(&format!("/v1/topics/{held_id}"), &author).await?;
    let as_other = stack.get(&format!("/v1/topics/{held_id}"), &other).await?;
    let queue = stack
        .get(&format!("/v1/topics?community={id}&status=pending"), &owner)
        .await?;
    let note = stack
        .eventually("the author's rejection notification", || async {
            let page = stack.get("/v1/notifications", &author).await?;
            Ok(page.body["items"]
                .as_array()
                .and_then(|items| items.iter().find(|n| n["type"] == "postRejected").cloned()))
        })
        .await?;

    assert_problem(&long_reason, 422, Some("reason"));
    assert_eq!(rejected.status, 200, "{rejected:?}");
    assert_eq!(as_author.body["topic"]["status"], "rejected");
    assert_eq!(
        as_author.body["topic"]["rejectionReason"],
        "No promotions, please."
    );
    assert_problem(&as_other, 404, None);
    assert!(ids(&queue, "topicId").is_empty());
    assert_eq!(note["actorId"], owner.as_str());
    Ok(())
}

#[tokio::test]
async fn a_deleted_community_is_gone_at_once_and_the_stream_clears_what_was_in_it()
-> anyhow::Result<()> {
    // Arrange: a public community with an admin, members, a pending request (in a
    // private one it would be; here a ban) and an invite
    let stack = spawn().await?;
    let (owner, admin, member, troll) = (
        new_user("owner"),
        new_user("admin"),
        new_user("member"),
        new_user("troll"),
    );
    let tag = format!("d{}", &ulid::Ulid::new().to_string().to_lowercase()[..12]);
    let created = community(&stack, &owner, "public", json!({"tags": [tag]})).await?;
    let id = id_of(&created);
    let code = invite(&stack, &id, &owner).await?;
    accept(&stack, &code, &admin).await?;
    accept(&stack, &code, &member).await?;
    give_role(&stack, &id, &owner, &admin, "admin").await?;
    stack
        .put(
            &format!("/v1/communities/{id}/bans/{troll}"),
            &owner,
            json!({}),
        )
        .await?;
    let topic = stack
        .post_created(
            "/v1/topics",
            &member,
            json!({"title": "Hi", "body": "text", "communityId": id}),
        )
        .await?;
    let topic_id = topic["topicId"].as_str().unwrap_or_default().to_owned();

    // Act
    let by_admin = stack
        .delete(&format!("/v1/communities/{id}"), &admin)
        .await?;
    let deleted = stack
        .delete(&format!("/v1/communities/{id}"), &owner)
        .await?;
    let again = stack
        .delete(&format!("/v1/communities/{id}"), &owner)
        .await?;

    // Assert: gone at once for everyone, everywhere
    assert_problem(&by_admin, 403, None);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_problem(&again, 404, None);
    for user in [&owner, &member] {
        assert_problem(
            &stack.get(&format!("/v1/communities/{id}"), user).await?,
            404,
            None,
        );
        let mine = stack.get("/v1/me/communities", user).await?;
        assert!(!ids(&mine, "communityId").contains(&id));
    }
    let slug = created["slug"].as_str().unwrap_or_default();
    assert_problem(
        &stack
            .get(&format!("/v1/communities/{slug}"), &member)
            .await?,
        404,
        None,
    );
    let by_tag = stack
        .get(&format!("/v1/communities?tag={tag}"), &member)
        .await?;
    assert!(ids(&by_tag, "communityId").is_empty());
    let join = stack
        .post(
            &format!("/v1/communities/{id}/join"),
            &new_user("late"),
            json!({}),
        )
        .await?;
    assert_problem(&join, 404, None);
    assert_problem(
        &stack.get(&format!("/v1/invites/{code}"), &member).await?,
        404,
        None,
    );
    assert_problem(
        &stack
            .get(&format!("/v1/topics/{topic_id}"), &member)
            .await?,
        404,
        None,
    );
    // ...and the stream clears the rest: members and their mirrors, the ban, the
    // invite, then the community item itself
    stack
        .eventually("the community's items to be gone", || async {
            let left = stack.items_mentioning(&id).await?;
            let left: Vec<Value> = left
                .into_iter()
                .filter(|item| item["entity"] != "Topic" && item["entity"] != "TopicByAuthor")
                .collect();
            Ok(left.is_empty().then_some(()))
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_platform_moderator_role_reads_and_moderates_a_secret_communitys_topics()
-> anyhow::Result<()> {
    // Arrange: a secret community with approval, a member's held topic and a published one
    let stack = spawn().await?;
    let (owner, member, staff) = (new_user("owner"), new_user("member"), new_user("staff"));
    let id = id_of(
        &community(
            &stack,
            &owner,
            "secret",
            json!({"requirePostApproval": true}),
        )
        .await?,
    );
    let code = invite(&stack, &id, &owner).await?;
    accept(&stack, &code, &member).await?;
    let published = stack
        .post_created(
            "/v1/topics",
            &owner,
            json!({"title": "Welcome", "body": "text", "communityId": id}),
        )
        .await?;
    let held = stack
        .post_created(
            "/v1/topics",
            &member,
            json!({"title": "Held", "body": "text", "communityId": id}),
        )
        .await?;
    let (published, held) = (
        published["topicId"].as_str().unwrap_or_default().to_owned(),
        held["topicId"].as_str().unwrap_or_default().to_owned(),
    );
    let token = agora_tests::token_with_roles(&staff, &["moderator"]);
    let as_staff = |method: Method, path: String| {
        stack.raw(
            stack
                .http
                .request(method, stack.url(&path))
                .bearer_auth(&token),
        )
    };

    // Act
    let topic = as_staff(Method::GET, format!("/v1/topics/{published}")).await?;
    let history = as_staff(Method::GET, format!("/v1/topics/{published}/history")).await?;
    let listing = as_staff(Method::GET, format!("/v1/topics?community={id}")).await?;
    let queue = as_staff(
        Method::GET,
        format!("/v1/topics?community={id}&status=pending"),
    )
    .await?;
    let approved = as_staff(Method::POST, format!("/v1/topics/{held}/approve")).await?;
    let without_the_role = stack
        .get(&format!("/v1/topics/{published}"), &staff)
        .await?;

    // Assert
    assert_eq!(topic.status, 200, "{topic:?}");
    assert_eq!(history.status, 200, "{history:?}");
    assert_eq!(ids(&listing, "topicId"), vec![published.clone()]);
    assert_eq!(ids(&queue, "topicId"), vec![held.clone()]);
    assert_eq!(approved.status, 200, "{approved:?}");
    assert_problem(&without_the_role, 404, None);
    Ok(())
}

// ---------------------------------------------------------------------------------
// Following and announcements
// ---------------------------------------------------------------------------------

/// `user`'s notifications, eventually holding one of `kind` about `topic`.
async fn notified(stack: &TestStack, user: &str, kind: &str, topic: &str) -> anyhow::Result<Reply> {
    stack
        .eventually(&format!("{user}'s {kind} notification"), || async {
            let page = stack.get("/v1/notifications", user).await?;
            Ok(has_notification(&page, kind, topic).then_some(page))
        })
        .await
}

/// `user` follows (or stops following) `community`; fails unless it worked.
async fn follow(
    stack: &TestStack,
    community: &str,
    user: &str,
    following: bool,
) -> anyhow::Result<()> {
    let reply = stack
        .put(
            &format!("/v1/communities/{community}/following"),
            user,
            json!({"following": following}),
        )
        .await?;
    anyhow::ensure!(
        reply.status == 200 && reply.body["following"] == following,
        "follow failed: {reply:?}"
    );
    Ok(())
}

#[tokio::test]
async fn followers_hear_of_each_new_topic_and_members_who_do_not_follow_hear_nothing()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let owner = new_user("owner");
    let (fan, quiet, former, outsider) = (
        new_user("fan"),
        new_user("quiet"),
        new_user("former"),
        new_user("outsider"),
    );
    let id = id_of(&community(&stack, &owner, "public", json!({})).await?);
    for user in [&fan, &quiet, &former] {
        let joined = stack
            .post(&format!("/v1/communities/{id}/join"), user, json!({}))
            .await?;
        anyhow::ensure!(joined.status == 201, "{joined:?}");
    }
    follow(&stack, &id, &fan, true).await?;
    follow(&stack, &id, &fan, true).await?;
    follow(&stack, &id, &former, true).await?;
    follow(&stack, &id, &former, false).await?;
    let outsider_follows = stack
        .put(
            &format!("/v1/communities/{id}/following"),
            &outsider,
            json!({"following": true}),
        )
        .await?;
    let bad_body = stack
        .put(
            &format!("/v1/communities/{id}/following"),
            &fan,
            json!({"following": "yes"}),
        )
        .await?;

    let topic = stack
        .post_created(
            "/v1/topics",
            &owner,
            json!({"title": "News", "body": "Fresh news.", "communityId": id}),
        )
        .await?;
    let topic = topic["topicId"].as_str().unwrap_or_default().to_owned();
    let fans = notified(&stack, &fan, "communityPost", &topic).await?;
    let quiet_page = stack.get("/v1/notifications", &quiet).await?;
    let former_page = stack.get("/v1/notifications", &former).await?;
    let owner_page = stack.get("/v1/notifications", &owner).await?;
    let fan_view = stack.get(&format!("/v1/communities/{id}"), &fan).await?;
    let quiet_view = stack.get(&format!("/v1/communities/{id}"), &quiet).await?;
    let outsider_view = stack
        .get(&format!("/v1/communities/{id}"), &outsider)
        .await?;

    let notification = fans.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|n| n["type"] == "communityPost"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(notification["actorId"], owner.as_str());
    assert_eq!(notification["object"]["communityId"], id.as_str());
    assert!(!mentions_topic(&quiet_page, &topic), "{quiet_page:?}");
    assert!(!mentions_topic(&former_page, &topic), "{former_page:?}");
    assert!(
        !mentions_topic(&owner_page, &topic),
        "no one hears of their own topic"
    );
    assert_eq!(fan_view.body["following"], true);
    assert_eq!(quiet_view.body["following"], false);
    assert!(outsider_view.body.get("following").is_none());
    assert_eq!(outsider_follows.status, 403, "{outsider_follows:?}");
    assert!(
        (400..500).contains(&bad_body.status),
        "a bad body is refused: {bad_body:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_announcement_reaches_every_member_and_only_moderators_post_one() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let owner = new_user("owner");
    let (moderator, member, fan) = (new_user("mod"), new_user("member"), new_user("fan"));
    let id = id_of(
        &community(
            &stack,
            &owner,
            "private",
            json!({"requirePostApproval": true}),
        )
        .await?,
    );
    let code = invite(&stack, &id, &owner).await?;
    for user in [&moderator, &member, &fan] {
        accept(&stack, &code, user).await?;
    }
    give_role(&stack, &id, &owner, &moderator, "moderator").await?;
    follow(&stack, &id, &fan, true).await?;
    let by_member = stack
        .post(
            "/v1/topics",
            &member,
            json!({"title": "Hear ye", "body": "x", "communityId": id, "announcement": true}),
        )
        .await?;
    let category = stack.new_category("Control").await?;
    let outside = stack
        .post(
            "/v1/topics",
            &owner,
            json!({"title": "Hear ye", "body": "x", "categoryId": category, "announcement": true}),
        )
        .await?;

    let announcement = stack
        .post_created(
            "/v1/topics",
            &moderator,
            json!({"title": "Meeting moved", "body": "To Friday.", "communityId": id,
                   "announcement": true}),
        )
        .await?;
    let announced = announcement["topicId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for user in [&owner, &member, &fan] {
        notified(&stack, user, "announcement", &announced).await?;
    }
    // A member's topic waits for approval; its followers hear of it once approved.
    let held = stack
        .post_created(
            "/v1/topics",
            &member,
            json!({"title": "My question", "body": "Anyone?", "communityId": id}),
        )
        .await?;
    let held = held["topicId"].as_str().unwrap_or_default().to_owned();
    let approved = stack
        .post(&format!("/v1/topics/{held}/approve"), &moderator, json!({}))
        .await?;
    notified(&stack, &fan, "communityPost", &held).await?;
    let moderator_page = stack.get("/v1/notifications", &moderator).await?;

    assert_eq!(announcement["announcement"], true);
    assert_eq!(announcement["status"], "published");
    assert_eq!(by_member.status, 403, "{by_member:?}");
    assert_problem(&outside, 422, Some("announcement"));
    assert_eq!(approved.status, 200);
    assert!(
        !has_notification(&moderator_page, "announcement", &announced),
        "the author hears nothing of their own announcement"
    );
    Ok(())
}

#[tokio::test]
async fn an_announcement_to_more_members_than_one_step_holds_reaches_them_all() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let owner = new_user("owner");
    let id = id_of(&community(&stack, &owner, "public", json!({})).await?);
    let mut members: Vec<String> = (0..130).map(|i| new_user(&format!("m{i:03}"))).collect();
    members.sort();
    stack.add_members_directly(&id, &members).await?;

    let topic = stack
        .post_created(
            "/v1/topics",
            &owner,
            json!({"title": "To everyone", "body": "Hello all.", "communityId": id,
                   "announcement": true}),
        )
        .await?;
    let topic = topic["topicId"].as_str().unwrap_or_default().to_owned();
    let (first, last) = (&members[0], &members[members.len() - 1]);
    notified(&stack, first, "announcement", &topic).await?;
    notified(&stack, last, "announcement", &topic).await?;
    let fanout = format!("POSTFANOUT#{topic}");
    stack
        .eventually("the fan-out's steps to go", || async {
            Ok(stack.partition(&fanout).await?.is_empty().then_some(()))
        })
        .await?;
    let mut reached = 0;
    for member in &members {
        let page = stack
            .get("/v1/notifications?unread=true&limit=5", member)
            .await?;
        if has_notification(&page, "announcement", &topic) {
            reached += 1;
        }
    }

    assert_eq!(reached, members.len());
    Ok(())
}

// ---------------------------------------------------------------------------------
// Learning circles
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_learning_circle_has_a_skill_and_a_level_shared_resources_and_meetings_that_are_events()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, member, outsider) = (new_user("owner"), new_user("member"), new_user("outsider"));
    let circle = community(
        &stack,
        &owner,
        "private",
        json!({"circle": {"skill": "Rust", "level": "beginner"}}),
    )
    .await?;
    let id = id_of(&circle);
    let code = invite(&stack, &id, &owner).await?;
    accept(&stack, &code, &member).await?;
    let resources = format!("/v1/communities/{id}/resources");

    let link = stack
        .post(
            &resources,
            &member,
            json!({"kind": "link", "title": "The Book", "url": "https://doc.rust-lang.org/book/"}),
        )
        .await?;
    let note = stack
        .post(
            &resources,
            &owner,
            json!({"kind": "note", "title": "Homework", "note": "Read chapter 4."}),
        )
        .await?;
    let by_outsider = stack
        .post(
            &resources,
            &outsider,
            json!({"kind": "note", "title": "Spam", "note": "Buy now"}),
        )
        .await?;
    let no_url = stack
        .post(
            &resources,
            &member,
            json!({"kind": "file", "title": "Slides"}),
        )
        .await?;
    let both = stack
        .post(
            &resources,
            &member,
            json!({"kind": "note", "title": "x", "note": "y", "url": "https://a.example"}),
        )
        .await?;
    let meeting = stack
        .post(
            &format!("/v1/communities/{id}/events"),
            &owner,
            json!({"title": "Meeting 1", "start": "2027-06-01T18:00", "end": "2027-06-01T19:00",
                   "timeZone": "UTC", "onlineUrl": "https://meet.example.com/rust",
                   "recurrence": {"frequency": "weekly", "count": 6}}),
        )
        .await?;
    let listed = stack.get(&resources, &member).await?;
    let listed_by_outsider = stack.get(&resources, &outsider).await?;
    let note_id = note.body["resourceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let link_id = link.body["resourceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let removed_by_member = stack
        .delete(&format!("{resources}/{note_id}"), &member)
        .await?;
    let removed_by_moderator = stack
        .delete(&format!("{resources}/{link_id}"), &owner)
        .await?;
    let plain = stack
        .patch(
            &format!("/v1/communities/{id}"),
            &owner,
            json!({"circle": null}),
        )
        .await?;
    let bad_level = stack
        .patch(
            &format!("/v1/communities/{id}"),
            &owner,
            json!({"circle": {"skill": "Rust", "level": "guru"}}),
        )
        .await?;

    assert_eq!(
        circle["circle"],
        json!({"skill": "Rust", "level": "beginner"})
    );
    assert_eq!(link.status, 201, "{link:?}");
    assert_eq!(note.status, 201, "{note:?}");
    assert_problem(&by_outsider, 403, None);
    assert_problem(&no_url, 422, Some("url"));
    assert_problem(&both, 422, Some("url"));
    assert_eq!(meeting.status, 201, "{meeting:?}");
    assert_eq!(
        ids(&listed, "resourceId"),
        vec![note_id.clone(), link_id.clone()],
        "newest first"
    );
    assert_problem(&listed_by_outsider, 403, None);
    assert_problem(&removed_by_member, 403, None);
    assert_eq!(removed_by_moderator.status, 204);
    assert_eq!(plain.status, 200, "{plain:?}");
    assert_eq!(plain.body.get("circle"), None);
    assert_problem(&bad_level, 400, Some("circle.level"));
    Ok(())
}

#[tokio::test]
async fn a_community_whose_description_moderation_hides_leaves_discovery_and_shows_no_text_to_outsiders()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let (owner, outsider) = (new_user("owner"), new_user("outsider"));
    let word = format!("scamcircle{}", ulid::Ulid::new().to_string().to_lowercase());
    let created = community(
        &stack,
        &owner,
        "public",
        json!({
            "name": format!("{word} club"),
            "description": "Guaranteed returns of 20% a week, send your deposit now",
        }),
    )
    .await?;
    let id = id_of(&created);
    let clean = id_of(
        &community(
            &stack,
            &owner,
            "public",
            json!({"name": format!("{word} savers"), "description": "Index funds, slowly."}),
        )
        .await?,
    );

    // Act
    let to_owner = stack
        .eventually("the community's verdict", || async {
            let read = stack.get(&format!("/v1/communities/{id}"), &owner).await?;
            Ok(read.body.get("screening").is_some().then_some(read.body))
        })
        .await?;
    let to_outsider = stack
        .get(&format!("/v1/communities/{id}"), &outsider)
        .await?;
    let found = stack
        .get(&format!("/v1/communities?q={}", &word[..14]), &outsider)
        .await?;

    // Assert
    assert_eq!(to_owner["screening"]["status"], "hidden", "{to_owner}");
    assert_eq!(to_owner["name"], format!("{word} club"));
    assert_eq!(to_outsider.status, 200, "{to_outsider:?}");
    assert_eq!(to_outsider.body["name"], "[hidden by moderation]");
    assert!(to_outsider.body.get("description").is_none());
    assert_eq!(
        field_of_items(&found.body, "communityId"),
        vec![clean],
        "only the clean one is found: {found:?}"
    );
    Ok(())
}
