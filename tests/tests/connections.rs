//! Connections, end to end: requests, connections, blocks and suggestions through the
//! local stack's HTTP API into the real `connections` (and `profiles`) function
//! binaries, against moto's DynamoDB.

use agora_tests::{
    Reply, StreamRecord, TestStack, assert_problem, field_of_items, new_user, spawn, unique_handle,
};
use reqwest::Method;
use serde_json::{Value, json};

/// A user with a public profile; `extra` overrides or adds profile fields.
async fn member(stack: &TestStack, name: &str, extra: Value) -> anyhow::Result<(String, String)> {
    let user = new_user(name);
    let handle = unique_handle(name);
    let mut body = json!({
        "handle": handle,
        "displayName": format!("{name} Tester"),
        "privacy": {"profileVisibility": "public"},
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    stack.create_profile(&user, body).await?;
    Ok((user, handle))
}

/// One user per name, each with a plain public profile (see [`member`]).
async fn members<const N: usize>(
    stack: &TestStack,
    names: [&str; N],
) -> anyhow::Result<[String; N]> {
    let mut users = Vec::with_capacity(N);
    for name in names {
        users.push(member(stack, name, json!({})).await?.0);
    }
    users
        .try_into()
        .map_err(|_| anyhow::anyhow!("one user per name"))
}

/// `from` asks `to` to connect.
async fn request(stack: &TestStack, from: &str, to: &str) -> anyhow::Result<Reply> {
    stack
        .post("/v1/connections/requests", from, json!({"userId": to}))
        .await
}

/// `target` accepts the request `sender` sent them.
async fn accept(stack: &TestStack, target: &str, sender: &str) -> anyhow::Result<Reply> {
    stack
        .post(
            &format!("/v1/connections/requests/{sender}/accept"),
            target,
            json!({}),
        )
        .await
}

/// `blocker` blocks `blocked`.
async fn block(stack: &TestStack, blocker: &str, blocked: &str) -> anyhow::Result<Reply> {
    stack
        .put(&format!("/v1/blocks/{blocked}"), blocker, json!({}))
        .await
}

/// `blocker` lifts their block of `blocked`.
async fn unblock(stack: &TestStack, blocker: &str, blocked: &str) -> anyhow::Result<Reply> {
    stack
        .delete(&format!("/v1/blocks/{blocked}"), blocker)
        .await
}

/// The other users' ids of a list page.
fn ids(reply: &Reply) -> Vec<String> {
    field_of_items(&reply.body, "userId")
}

fn sort_keys(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i["SK"].as_str().map(str::to_owned))
        .collect()
}

/// The items of the pair lock of `a` and `b` (none while the pair is free).
async fn pair_lock(stack: &TestStack, a: &str, b: &str) -> anyhow::Result<Vec<Value>> {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    stack.partition(&format!("PAIR#{low}#{high}")).await
}

#[tokio::test]
async fn an_accepted_request_connects_both_users_and_lists_them_with_profiles() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, _) = member(&stack, "ana", json!({"location": "Lisbon"})).await?;
    let (bea, bea_handle) = member(&stack, "bea", json!({"location": "Porto"})).await?;

    let sent = stack
        .post(
            "/v1/connections/requests",
            &ana,
            json!({"handle": format!("@{bea_handle}"), "message": "  Hi Bea!  "}),
        )
        .await?;
    assert_eq!(sent.status, 201, "{sent:?}");
    assert_eq!(sent.body["userId"], bea.as_str());
    assert_eq!(sent.body["message"], "Hi Bea!");

    let incoming = stack
        .get("/v1/connections/requests?direction=incoming", &bea)
        .await?;
    assert_eq!(ids(&incoming), vec![ana.clone()]);
    let item = &incoming.body["items"][0];
    assert_eq!(item["direction"], "incoming");
    assert_eq!(item["message"], "Hi Bea!");
    assert_eq!(item["profile"]["displayName"], "ana Tester");
    assert!(
        item["profile"].get("location").is_none(),
        "a stranger sees no connections-only field"
    );
    let outgoing = stack
        .get("/v1/connections/requests?direction=outgoing", &ana)
        .await?;
    assert_eq!(ids(&outgoing), vec![bea.clone()]);

    let accepted = accept(&stack, &bea, &ana).await?;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.body["requestedBy"], ana.as_str());

    let anas = stack.get("/v1/connections", &ana).await?;
    let beas = stack.get("/v1/connections", &bea).await?;
    assert_eq!(ids(&anas), vec![bea.clone()]);
    assert_eq!(ids(&beas), vec![ana.clone()]);
    assert_eq!(
        anas.body["items"][0]["profile"]["location"], "Porto",
        "a connection sees connections-only fields"
    );
    assert_eq!(
        anas.body["items"][0]["profile"]["relationship"],
        "connection"
    );
    for (user, direction) in [(&bea, "incoming"), (&ana, "outgoing")] {
        let list = stack
            .get(
                &format!("/v1/connections/requests?direction={direction}"),
                user,
            )
            .await?;
        assert!(ids(&list).is_empty(), "{list:?}");
    }
    let pair = pair_lock(&stack, &ana, &bea).await?;
    assert_eq!(pair.len(), 1);
    assert_eq!(pair[0]["state"], "connected", "the pair lock stays held");
    let ana_items = sort_keys(&stack.partition(&format!("USER#{ana}")).await?);
    assert!(ana_items.contains(&format!("CONN#{bea}")));
    assert!(!ana_items.iter().any(|sk| sk.starts_with("REQ")));
    Ok(())
}

#[tokio::test]
async fn a_second_request_from_either_side_is_a_conflict() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea] = members(&stack, ["ana", "bea"]).await?;

    assert_eq!(request(&stack, &ana, &bea).await?.status, 201);
    let again = request(&stack, &ana, &bea).await?;
    let reverse = request(&stack, &bea, &ana).await?;

    assert_problem(&again, 409, None);
    assert_problem(&reverse, 409, None);
    let requests: Vec<String> = sort_keys(&stack.partition(&format!("USER#{bea}")).await?)
        .into_iter()
        .filter(|sk| sk.starts_with("REQ"))
        .collect();
    assert_eq!(requests, vec![format!("REQIN#{ana}")]);

    accept(&stack, &bea, &ana).await?;
    assert_problem(&request(&stack, &bea, &ana).await?, 409, None);
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_from_both_sides_have_exactly_one_winner() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea] = members(&stack, ["ana", "bea"]).await?;

    let (one, two) = tokio::join!(request(&stack, &ana, &bea), request(&stack, &bea, &ana));

    let mut statuses = vec![one?.status, two?.status];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 409]);
    let mut requests: Vec<String> = Vec::new();
    for user in [&ana, &bea] {
        requests.extend(
            sort_keys(&stack.partition(&format!("USER#{user}")).await?)
                .into_iter()
                .filter(|sk| sk.starts_with("REQIN#")),
        );
    }
    assert_eq!(
        requests.len(),
        1,
        "exactly one request exists: {requests:?}"
    );
    assert_eq!(pair_lock(&stack, &ana, &bea).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn reject_cancel_and_remove_free_the_pair_for_a_new_request() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea] = members(&stack, ["ana", "bea"]).await?;
    let reject = format!("/v1/connections/requests/{ana}/reject");

    // Reject: gone for both, and the sender may ask again.
    request(&stack, &ana, &bea).await?;
    assert_eq!(stack.post(&reject, &bea, json!({})).await?.status, 204);
    let outgoing = stack
        .get("/v1/connections/requests?direction=outgoing", &ana)
        .await?;
    assert!(ids(&outgoing).is_empty());
    assert_problem(&stack.post(&reject, &bea, json!({})).await?, 404, None);

    // Cancel by the sender: gone from the target's list.
    assert_eq!(request(&stack, &ana, &bea).await?.status, 201);
    let cancel = format!("/v1/connections/requests/{bea}");
    // Bea cancelling "her request to herself" is a 422 on her own id.
    assert_problem(&stack.delete(&cancel, &bea).await?, 422, Some("userId"));
    assert_eq!(stack.delete(&cancel, &ana).await?.status, 204);
    let incoming = stack.get("/v1/connections/requests", &bea).await?;
    assert!(ids(&incoming).is_empty());
    assert!(pair_lock(&stack, &ana, &bea).await?.is_empty());

    // Only the target accepts; then either side removes the connection.
    assert_eq!(request(&stack, &ana, &bea).await?.status, 201);
    let by_sender = accept(&stack, &ana, &bea).await?;
    assert_problem(&by_sender, 404, None);
    accept(&stack, &bea, &ana).await?;
    let removed = stack
        .delete(&format!("/v1/connections/{ana}"), &bea)
        .await?;
    assert_eq!(removed.status, 204);
    assert!(ids(&stack.get("/v1/connections", &ana).await?).is_empty());
    assert!(pair_lock(&stack, &ana, &bea).await?.is_empty());
    assert_problem(
        &stack
            .delete(&format!("/v1/connections/{bea}"), &ana)
            .await?,
        404,
        None,
    );
    assert_eq!(request(&stack, &bea, &ana).await?.status, 201);
    Ok(())
}

#[tokio::test]
async fn an_ignored_request_leaves_the_targets_list_while_the_sender_still_sees_it_pending()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea] = members(&stack, ["ana", "bea"]).await?;
    request(&stack, &ana, &bea).await?;
    let ignore = format!("/v1/connections/requests/{ana}/ignore");

    let ignored = stack.post(&ignore, &bea, json!({})).await?;

    assert_eq!(ignored.status, 204, "{ignored:?}");
    assert!(ids(&stack.get("/v1/connections/requests", &bea).await?).is_empty());
    let outgoing = stack
        .get("/v1/connections/requests?direction=outgoing", &ana)
        .await?;
    assert_eq!(ids(&outgoing), vec![bea.clone()], "the sender is not told");
    assert_problem(&request(&stack, &ana, &bea).await?, 409, None);
    assert_problem(&request(&stack, &bea, &ana).await?, 409, None);
    assert_problem(&stack.post(&ignore, &bea, json!({})).await?, 404, None);
    // The target may still change their mind.
    let accepted = accept(&stack, &bea, &ana).await?;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(ids(&stack.get("/v1/connections", &ana).await?), vec![bea]);
    Ok(())
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field_and_write_nothing() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea] = members(&stack, ["ana", "bea"]).await?;
    let path = "/v1/connections/requests";

    let long = stack
        .post(
            path,
            &ana,
            json!({"userId": bea, "message": "x".repeat(301)}),
        )
        .await?;
    let unknown = stack
        .post(path, &ana, json!({"userId": bea, "admin": true}))
        .await?;
    let both = stack
        .post(path, &ana, json!({"userId": bea, "handle": "bea_x"}))
        .await?;
    let neither = stack.post(path, &ana, json!({"message": "hi"})).await?;
    let to_self = stack.post(path, &ana, json!({"userId": ana})).await?;
    let bad_id = stack.post(path, &ana, json!({"userId": "a#b"})).await?;
    let nobody = stack
        .post(path, &ana, json!({"userId": new_user("ghost")}))
        .await?;
    let no_handle = stack
        .post(path, &ana, json!({"handle": "nobody_here"}))
        .await?;
    let profileless = stack
        .post(path, &new_user("zed"), json!({"userId": bea}))
        .await?;

    assert_problem(&long, 422, Some("message"));
    assert_problem(&unknown, 400, None);
    assert_problem(&both, 400, Some("userId"));
    assert_problem(&neither, 400, Some("userId"));
    assert_problem(&to_self, 422, Some("userId"));
    assert_problem(&bad_id, 422, Some("userId"));
    assert_problem(&nobody, 404, None);
    assert_problem(&no_handle, 404, None);
    assert_problem(&profileless, 404, None);
    let exactly_300 = stack
        .post(
            path,
            &ana,
            json!({"userId": bea, "message": "é".repeat(300)}),
        )
        .await?;
    assert_eq!(exactly_300.status, 201, "300 characters are allowed");
    stack.delete(&format!("{path}/{bea}"), &ana).await?;

    assert_problem(
        &stack
            .get(&format!("{path}?direction=sideways"), &ana)
            .await?,
        400,
        Some("direction"),
    );
    assert_problem(
        &stack.get("/v1/connections?limit=0", &ana).await?,
        400,
        Some("limit"),
    );
    assert_problem(
        &stack.get("/v1/connections?cursor=forged", &ana).await?,
        400,
        Some("cursor"),
    );
    assert_problem(
        &stack
            .get("/v1/connections/suggestions?limit=51", &ana)
            .await?,
        400,
        Some("limit"),
    );
    assert_problem(&block(&stack, &ana, &ana).await?, 422, Some("userId"));
    assert_problem(
        &stack
            .post("/v1/connections/requests/a%23b/accept", &ana, json!({}))
            .await?,
        400,
        Some("userId"),
    );
    let anonymous = stack
        .call(Method::GET, "/v1/connections", None, None)
        .await?;
    assert_problem(&anonymous, 401, None);

    for user in [&ana, &bea] {
        let items = sort_keys(&stack.partition(&format!("USER#{user}")).await?);
        // The one valid request (300 characters) notified bea, whenever the notifier
        // gets to its record (with ana's pointer to that notification); the profile's
        // trust stats come from its own record; every bad request wrote nothing.
        assert!(
            items.iter().all(|sk| sk == "PROFILE"
                || sk == "TRUST"
                || sk.starts_with("IDEMPOTENCY#")
                || (user == &bea && sk.starts_with("NOTIF"))
                || (user == &ana && sk.starts_with(&format!("SENTNOTIF#{bea}#")))),
            "nothing written: {items:?}"
        );
    }
    assert!(pair_lock(&stack, &ana, &bea).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_block_removes_the_connection_stops_requests_and_is_invisible_to_the_blocked_user()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea, cid] = members(&stack, ["ana", "bea", "cid"]).await?;
    stack.connect_through_the_api(&ana, &bea).await?;
    assert_eq!(request(&stack, &cid, &ana).await?.status, 201);

    let blocked = block(&stack, &ana, &bea).await?;
    let blocked_cid = block(&stack, &ana, &cid).await?;

    assert_eq!(blocked.status, 200, "{blocked:?}");
    assert_eq!(blocked.body["userId"], bea.as_str());
    assert_eq!(blocked_cid.status, 200);
    assert!(ids(&stack.get("/v1/connections", &bea).await?).is_empty());
    assert!(ids(&stack.get("/v1/connections", &ana).await?).is_empty());
    assert!(ids(&stack.get("/v1/connections/requests", &ana).await?).is_empty());
    let cid_outgoing = stack
        .get("/v1/connections/requests?direction=outgoing", &cid)
        .await?;
    assert!(ids(&cid_outgoing).is_empty(), "the pending request is gone");
    assert!(pair_lock(&stack, &ana, &bea).await?.is_empty());
    assert!(pair_lock(&stack, &ana, &cid).await?.is_empty());

    // The blocked user cannot tell a block from a user who does not exist.
    let from_blocked = request(&stack, &bea, &ana).await?;
    let ghost = new_user("ghost");
    let to_nobody = request(&stack, &bea, &ghost).await?;
    assert_problem(&from_blocked, 404, None);
    assert_problem(&to_nobody, 404, None);
    assert_eq!(
        from_blocked.body["detail"]
            .as_str()
            .map(|d| d.replace(&ana, "<id>")),
        to_nobody.body["detail"]
            .as_str()
            .map(|d| d.replace(&ghost, "<id>")),
    );
    assert_problem(&request(&stack, &ana, &bea).await?, 404, None);
    assert!(ids(&stack.get("/v1/blocks", &bea).await?).is_empty());
    let export = stack.get("/v1/me/export", &bea).await?;
    assert!(
        !export.body.to_string().contains("BlockedBy") && !export.body.to_string().contains(&ana),
        "the blocked user's export says nothing of the block: {export:?}"
    );
    let mut anas_blocks = ids(&stack.get("/v1/blocks", &ana).await?);
    anas_blocks.sort();
    let mut expected = vec![bea.clone(), cid.clone()];
    expected.sort();
    assert_eq!(anas_blocks, expected);

    // Blocking again keeps the first block; unblocking lets requests through again.
    let again = block(&stack, &ana, &bea).await?;
    assert_eq!(again.body["blockedAt"], blocked.body["blockedAt"]);
    assert_eq!(unblock(&stack, &ana, &bea).await?.status, 204);
    assert_eq!(
        unblock(&stack, &ana, &bea).await?.status,
        204,
        "unblocking is repeatable"
    );
    assert_eq!(request(&stack, &bea, &ana).await?.status, 201);
    Ok(())
}

#[tokio::test]
async fn blocks_hide_profiles_and_search_results_both_ways() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let skill = json!({"skills": ["Zig"]});
    let (ana, ana_handle) = member(&stack, "ana", skill.clone()).await?;
    let (bea, _) = member(&stack, "bea", skill.clone()).await?;
    let (cid, _) = member(&stack, "cid", json!({})).await?;
    let found_by = |user: String, path: &'static str| {
        let stack = &stack;
        async move { Ok::<_, anyhow::Error>(ids(&stack.get(path, &user).await?)) }
    };
    stack
        .eventually("both in the skill index", || async {
            let found = found_by(cid.clone(), "/v1/profiles?skill=zig").await?;
            Ok((found.len() == 2).then_some(()))
        })
        .await?;
    assert_eq!(
        stack
            .get(&format!("/v1/profiles/{ana}"), &bea)
            .await?
            .status,
        200
    );

    block(&stack, &ana, &bea).await?;

    for (viewer, hidden) in [(&bea, &ana), (&ana, &bea)] {
        assert_problem(
            &stack.get(&format!("/v1/profiles/{hidden}"), viewer).await?,
            404,
            None,
        );
        let by_skill = found_by(viewer.clone(), "/v1/profiles?skill=zig").await?;
        let by_name = found_by(viewer.clone(), "/v1/profiles?q=a").await?;
        let by_name_b = found_by(viewer.clone(), "/v1/profiles?q=b").await?;
        assert!(!by_skill.contains(hidden), "{by_skill:?}");
        assert!(!by_name.contains(hidden) && !by_name_b.contains(hidden));
    }
    assert_problem(
        &stack
            .get(&format!("/v1/profiles/@{ana_handle}"), &bea)
            .await?,
        404,
        None,
    );
    let third = found_by(cid.clone(), "/v1/profiles?skill=zig").await?;
    assert_eq!(third.len(), 2, "others still see both");
    Ok(())
}

#[tokio::test]
async fn suggestions_rank_people_by_shared_attributes_and_exclude_the_right_people()
-> anyhow::Result<()> {
    // A stored list older than a second is computed again: the first read may come
    // before the profile indexes caught up.
    let stack = agora_tests::spawn_with(|options| {
        options
            .environment_overrides
            .insert("SUGGESTIONS_MAX_AGE_SECONDS".into(), "1".into());
    })
    .await?;
    let public_goals =
        json!({"profileVisibility": "public", "fields": {"learningGoals": "public"}});
    let (me, _) = member(
        &stack,
        "me",
        json!({"skills": ["Rust", "SQL"], "occupation": "Data Engineer",
               "learningGoals": ["Ship a Lambda"], "privacy": public_goals}),
    )
    .await?;
    let rust = json!({"skills": ["rust"]});
    let (dan, _) = member(
        &stack,
        "dan",
        json!({"skills": ["RUST", "sql"], "occupation": "data engineer",
               "learningGoals": ["ship a lambda"], "privacy": public_goals}),
    )
    .await?;
    let (eve, _) = member(&stack, "eve", rust.clone()).await?;
    let (gus, _) = member(&stack, "gus", rust.clone()).await?; // my connection
    let (hal, _) = member(&stack, "hal", rust.clone()).await?; // I asked them
    let (ivy, _) = member(&stack, "ivy", rust.clone()).await?; // they asked me
    let (jon, _) = member(&stack, "jon", rust.clone()).await?; // I block them
    let (kim, _) = member(&stack, "kim", rust.clone()).await?; // they block me
    let (mia, _) = member(&stack, "mia", json!({})).await?; // only a mutual connection
    let (pat, _) = member(
        &stack,
        "pat",
        json!({"skills": ["rust"], "privacy": {"profileVisibility": "connections"}}),
    )
    .await?; // not public
    let (_ned, _) = member(&stack, "ned", json!({"skills": ["cobol"]})).await?; // nothing shared
    stack.connect_through_the_api(&me, &gus).await?;
    stack.connect_through_the_api(&gus, &mia).await?;
    stack.connect_through_the_api(&gus, &pat).await?;
    request(&stack, &me, &hal).await?;
    request(&stack, &ivy, &me).await?;
    block(&stack, &me, &jon).await?;
    block(&stack, &kim, &me).await?;

    let suggested = stack
        .eventually("the indexes to catch up", || async {
            let reply = stack.get("/v1/connections/suggestions", &me).await?;
            anyhow::ensure!(reply.status == 200, "{reply:?}");
            let found = ids(&reply);
            let dan_has_occupation = reply.body["items"][0]["reasons"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["type"] == "sameOccupation"));
            Ok((found.len() == 3 && dan_has_occupation).then_some(reply))
        })
        .await?;

    assert_eq!(ids(&suggested), vec![dan.clone(), mia.clone(), eve.clone()]);
    let top = &suggested.body["items"][0];
    assert_eq!(top["score"], 2 * 2 + 2 + 3, "two skills, occupation, goal");
    let reasons: Vec<&str> = top["reasons"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        reasons,
        vec!["sharedSkills", "sameLearningGoal", "sameOccupation"]
    );
    assert_eq!(top["reasons"][0]["skills"], json!(["RUST", "sql"]));
    assert_eq!(top["profile"]["userId"], dan.as_str());
    let mutual = &suggested.body["items"][1];
    assert_eq!(
        mutual["reasons"],
        json!([{"type": "mutualConnections", "count": 1}])
    );
    assert_eq!(mutual["score"], 4);
    for excluded in [&me, &gus, &hal, &ivy, &jon, &kim, &pat] {
        assert!(!ids(&suggested).contains(excluded), "{excluded} suggested");
    }
    let limited = stack
        .get("/v1/connections/suggestions?limit=1", &me)
        .await?;
    assert_eq!(ids(&limited), vec![dan]);
    Ok(())
}

#[tokio::test]
async fn lists_are_paginated_with_cursors_scoped_to_their_owner() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let [me] = members(&stack, ["me"]).await?;
    let mut others = members(&stack, ["ana", "bea", "cid"]).await?.to_vec();
    for user in &others {
        stack.connect_through_the_api(user, &me).await?;
    }
    let [dan] = members(&stack, ["dan"]).await?;
    for user in &others {
        block(&stack, &dan, user).await?;
    }

    let first = stack.get("/v1/connections?limit=2", &me).await?;
    let cursor = first.next_cursor();
    let second = stack
        .get(&format!("/v1/connections?limit=2&cursor={cursor}"), &me)
        .await?;
    let replayed = stack
        .get(
            &format!("/v1/connections?limit=2&cursor={cursor}"),
            &others[0],
        )
        .await?;
    let other_list = stack
        .get(
            &format!("/v1/connections/requests?limit=2&cursor={cursor}"),
            &me,
        )
        .await?;

    assert_eq!(ids(&first).len(), 2);
    assert!(!cursor.is_empty());
    assert_eq!(ids(&second).len(), 1);
    assert!(second.body["nextCursor"].is_null());
    let mut all: Vec<String> = ids(&first).into_iter().chain(ids(&second)).collect();
    all.sort();
    others.sort();
    assert_eq!(all, others);
    assert_problem(&replayed, 400, Some("cursor"));
    assert_problem(&other_list, 400, Some("cursor"));
    let blocks = stack.get("/v1/blocks?limit=2", &dan).await?;
    let block_cursor = blocks.next_cursor();
    let rest = stack
        .get(&format!("/v1/blocks?limit=2&cursor={block_cursor}"), &dan)
        .await?;
    assert_eq!(ids(&blocks).len() + ids(&rest).len(), 3);
    Ok(())
}

#[tokio::test]
async fn retried_writes_with_an_idempotency_key_replay_the_first_response() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea] = members(&stack, ["ana", "bea"]).await?;
    let send = |body: Value| {
        stack.raw(
            stack
                .request_with_idempotency_key(
                    Method::POST,
                    "/v1/connections/requests",
                    &ana,
                    "send-1",
                )
                .json(&body),
        )
    };

    let first = send(json!({"userId": bea})).await?;
    let retry = send(json!({"userId": bea})).await?;
    let changed = send(json!({"userId": bea, "message": "other"})).await?;

    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(retry.status, 201, "the retry replays the 201, not a 409");
    assert_eq!(retry.body, first.body);
    assert_problem(&changed, 422, None);
    let accept = || {
        stack.raw(stack.request_with_idempotency_key(
            Method::POST,
            &format!("/v1/connections/requests/{ana}/accept"),
            &bea,
            "accept-1",
        ))
    };
    assert_eq!(accept().await?.status, 200);
    assert_eq!(accept().await?.status, 200);
    let block = || {
        stack.raw(stack.request_with_idempotency_key(
            Method::PUT,
            &format!("/v1/blocks/{bea}"),
            &ana,
            "block-1",
        ))
    };
    assert_eq!(block().await?.status, 200);
    assert_eq!(block().await?.body["userId"], bea.as_str());
    Ok(())
}

#[tokio::test]
async fn deleting_an_account_removes_its_connections_and_requests_on_the_other_side()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let [ana, bea, cid, dan] = members(&stack, ["ana", "bea", "cid", "dan"]).await?;
    stack.connect_through_the_api(&ana, &bea).await?;
    request(&stack, &ana, &cid).await?;
    block(&stack, &ana, &dan).await?;

    assert_eq!(stack.delete_account(&ana).await?.status, 202);

    assert!(ids(&stack.get("/v1/connections", &bea).await?).is_empty());
    assert!(ids(&stack.get("/v1/connections/requests", &cid).await?).is_empty());
    for other in [&bea, &cid, &dan] {
        assert!(pair_lock(&stack, &ana, other).await?.is_empty());
        let items = sort_keys(&stack.partition(&format!("USER#{other}")).await?);
        assert!(
            !items.iter().any(|sk| sk.contains(ana.as_str())),
            "nothing of ana is left with {other}: {items:?}"
        );
    }
    Ok(())
}

/// Hands `record` to the profiles stream function twice (a delivery and its
/// redelivery), asserting that neither attempt reports a failed record.
async fn deliver_twice(stack: &TestStack, record: StreamRecord) -> anyhow::Result<()> {
    for _ in 0..2 {
        let reply = stack
            .invoke_stream_function("StreamFanoutFunction", std::slice::from_ref(&record))
            .await?;
        assert_eq!(reply["batchItemFailures"], json!([]), "{reply}");
    }
    Ok(())
}

#[tokio::test]
async fn redelivered_profile_records_keep_exactly_one_suggestion_index_item_per_attribute()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, _) = member(
        &stack,
        "ana",
        json!({"occupation": "Data Engineer", "learningGoals": ["Ship a Lambda"],
               "privacy": {"profileVisibility": "public", "fields": {"learningGoals": "public"}}}),
    )
    .await?;
    let occupation = "OCCUPATION#data engineer";
    let goal = "GOAL#ship a lambda";
    let mine = |items: Vec<Value>| {
        items
            .into_iter()
            .filter(|i| i["userId"] == ana.as_str())
            .count()
    };
    stack
        .eventually("the indexes", || async {
            let found =
                mine(stack.partition(occupation).await?) + mine(stack.partition(goal).await?);
            Ok((found == 2).then_some(()))
        })
        .await?;
    let profile = stack
        .partition(&format!("USER#{ana}"))
        .await?
        .into_iter()
        .find(|i| i["SK"] == "PROFILE")
        .ok_or_else(|| anyhow::anyhow!("no profile item"))?;
    let insert = StreamRecord::insert(&profile).event_id("e-1");

    deliver_twice(&stack, insert).await?;

    assert_eq!(mine(stack.partition(occupation).await?), 1);
    assert_eq!(mine(stack.partition(goal).await?), 1);
    // The real REMOVE (account deletion) clears them; a redelivered one is harmless. (A
    // removal is checked after deletion so no late moderation update re-adds them.)
    assert_eq!(stack.delete_account(&ana).await?.status, 202);
    stack
        .eventually("the indexes to be cleared", || async {
            let found =
                mine(stack.partition(occupation).await?) + mine(stack.partition(goal).await?);
            Ok((found == 0).then_some(()))
        })
        .await?;
    let remove = StreamRecord::remove(&profile).event_id("e-2");
    deliver_twice(&stack, remove).await?;
    assert_eq!(mine(stack.partition(occupation).await?), 0);
    assert_eq!(mine(stack.partition(goal).await?), 0);
    Ok(())
}

#[tokio::test]
async fn request_and_connection_operations_on_myself_are_refused_not_failed() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let me = new_user("self");

    let accept = stack
        .post(
            &format!("/v1/connections/requests/{me}/accept"),
            &me,
            json!({}),
        )
        .await?;
    let remove = stack.delete(&format!("/v1/connections/{me}"), &me).await?;

    assert_problem(&accept, 422, Some("userId"));
    assert_problem(&remove, 422, Some("userId"));
    Ok(())
}

/// `user`'s suggested user ids, as a read returns them.
async fn suggested(stack: &TestStack, user: &str) -> anyhow::Result<Vec<String>> {
    let reply = stack.get("/v1/connections/suggestions", user).await?;
    anyhow::ensure!(reply.status == 200, "{reply:?}");
    Ok(ids(&reply))
}

#[tokio::test]
async fn stored_suggestions_are_read_with_two_dynamodb_requests() -> anyhow::Result<()> {
    // Arrange: Dan shares my skill, and the skill index already shows him.
    let stack = agora_tests::spawn_counting_requests().await?;
    let (me, _) = member(&stack, "me", json!({"skills": ["Haskell"]})).await?;
    let (dan, _) = member(&stack, "dan", json!({"skills": ["haskell"]})).await?;
    stack
        .eventually("Dan in the skill index", || async {
            let found = stack.get("/v1/profiles?skill=haskell", &me).await?;
            Ok(field_of_items(&found.body, "userId")
                .contains(&dan)
                .then_some(()))
        })
        .await?;
    let first = suggested(&stack, &me).await?;

    // Act
    let requests = stack
        .dynamodb_requests_of_get("/v1/connections/suggestions", &me)
        .await?;

    // Assert: my list and my profile, then the candidates' pair locks, blocks and
    // profiles.
    assert_eq!(first, vec![dan]);
    assert_eq!(requests, 2);
    Ok(())
}

#[tokio::test]
async fn a_new_connection_refreshes_my_suggestions_through_the_stream() -> anyhow::Result<()> {
    // Arrange: Gus is my connection and Mia his; Bo will be mine and Zed is his.
    let stack = spawn().await?;
    let [me, gus, mia, bo, zed] = members(&stack, ["me", "gus", "mia", "bo", "zed"]).await?;
    stack.connect_through_the_api(&me, &gus).await?;
    stack.connect_through_the_api(&gus, &mia).await?;
    stack.connect_through_the_api(&bo, &zed).await?;
    let before = suggested(&stack, &me).await?;

    // Act: my list is stored now; a new connection changes who I may know.
    stack.connect_through_the_api(&me, &bo).await?;
    let after = stack
        .eventually("Zed suggested through Bo", || async {
            let found = suggested(&stack, &me).await?;
            Ok(found.contains(&zed).then_some(found))
        })
        .await?;

    // Assert: Mia (through Gus) before; Zed joins once Bo is my connection, and Bo
    // himself is no longer a suggestion.
    assert_eq!(before, vec![mia.clone()]);
    assert!(after.contains(&mia), "{after:?}");
    assert!(!after.contains(&bo), "{after:?}");
    Ok(())
}

#[tokio::test]
async fn a_stored_suggestion_is_dropped_at_once_when_either_side_blocks_or_asks()
-> anyhow::Result<()> {
    // Arrange: Dan, Eve and Fay share my skill, and my list of them is stored.
    let stack = spawn().await?;
    let (me, _) = member(&stack, "me", json!({"skills": ["Elixir"]})).await?;
    let mut others = Vec::new();
    for name in ["dan", "eve", "fay"] {
        others.push(member(&stack, name, json!({"skills": ["elixir"]})).await?.0);
    }
    let (dan, eve, fay) = (others[0].clone(), others[1].clone(), others[2].clone());
    stack
        .eventually("all three in the skill index", || async {
            let found = stack.get("/v1/profiles?skill=elixir", &me).await?;
            let listed = field_of_items(&found.body, "userId");
            Ok(others.iter().all(|o| listed.contains(o)).then_some(()))
        })
        .await?;
    let before = suggested(&stack, &me).await?;

    // Act: I block Dan, Eve blocks me, and I ask Fay to connect; nothing refreshes the
    // stored list, so the read's own checks must drop them.
    block(&stack, &me, &dan).await?;
    block(&stack, &eve, &me).await?;
    request(&stack, &me, &fay).await?;
    let after = suggested(&stack, &me).await?;

    // Assert
    assert_eq!(before.len(), 3, "{before:?}");
    assert_eq!(after, Vec::<String>::new());
    Ok(())
}
