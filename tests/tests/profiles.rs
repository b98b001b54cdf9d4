//! Profiles, end to end: real HTTP requests through the local stack's HTTP API into the
//! real `profiles` function binary, against moto's DynamoDB.

use agora_tests::{
    JWT_SECRET, Reply, connection_item, new_user, spawn, spawn_with, token_overriding, token_with,
    unique_handle,
};
use reqwest::Method;
use serde_json::{Value, json};

fn ana(handle: &str) -> Value {
    json!({
        "handle": handle,
        "displayName": "Ana Lima",
        "bio": "I teach Rust to finance people.",
        "headline": "Data engineer",
        "skills": ["Rust", "SQL", "rust"],
        "interests": ["investing"],
        "learningGoals": ["Ship a Lambda"],
        "location": "Lisbon",
        "timezone": "Europe/Lisbon",
        "avatarUrl": "https://cdn.example.com/ana.png"
    })
}

/// [`agora_tests::assert_problem`], and the problem document's own `status` and `type`
/// are right too.
fn assert_problem(reply: &Reply, status: u16, field: Option<&str>) {
    agora_tests::assert_problem(reply, status, field);
    assert_eq!(reply.body["status"], status);
    assert!(
        reply.body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/"))
    );
}

#[tokio::test]
async fn health_reports_the_table_reachable_without_a_token() -> anyhow::Result<()> {
    let stack = spawn().await?;

    let reply = stack.call(Method::GET, "/v1/health", None, None).await?;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["table"], "reachable");
    Ok(())
}

#[tokio::test]
async fn a_user_creates_reads_updates_exports_and_deletes_their_profile() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");
    let handle = unique_handle("ana");

    let created = stack.create_profile(&user, ana(&handle)).await?;
    assert_eq!(created["userId"], user.as_str());
    assert_eq!(created["handle"], handle.as_str());
    assert_eq!(
        created["skills"],
        json!(["Rust", "SQL"]),
        "case-insensitive duplicates dropped"
    );
    assert_eq!(
        created["privacy"]["profileVisibility"], "private",
        "private by default"
    );
    assert_eq!(created["version"], 1);

    let me = stack.get("/v1/me", &user).await?;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["displayName"], "Ana Lima");

    let patched = stack
        .patch(
            "/v1/me",
            &user,
            json!({"headline": null, "bio": "Now teaching Go too."}),
        )
        .await?;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.body["bio"], "Now teaching Go too.");
    assert!(
        patched.body.get("headline").is_none(),
        "null clears a field"
    );
    assert_eq!(
        patched.body["displayName"], "Ana Lima",
        "absent fields are unchanged"
    );
    assert_eq!(patched.body["version"], 2);

    let export = stack.export_ready(&user).await?;
    let url = export["downloadUrl"].as_str().unwrap_or_default();
    let (status, archive) = stack.download(url).await?;
    assert_eq!(status, 200, "{archive}");
    let archive: serde_json::Value = serde_json::from_str(&archive)?;
    assert_eq!(archive["userId"], user.as_str());
    assert_eq!(
        archive["contexts"]["profiles"][0]["bio"],
        "Now teaching Go too."
    );

    // Deleting with an Idempotency-Key must not leave its own replay record behind.
    let deleted = stack
        .raw(stack.request_with_idempotency_key(Method::DELETE, "/v1/me", &user, "delete-me"))
        .await?;
    assert_eq!(deleted.status, 202, "{deleted:?}");
    stack.await_erasure(&user, agora_tests::JOB_TIMEOUT).await?;
    assert_eq!(stack.get("/v1/me", &user).await?.status, 404);
    assert!(stack.partition(&format!("USER#{user}")).await?.is_empty());
    assert!(
        stack
            .partition(&format!("HANDLE#{handle}"))
            .await?
            .is_empty()
    );

    // The handle is free again for someone else.
    let other = new_user("bea");
    assert_eq!(
        stack
            .post("/v1/profiles", &other, ana(&handle))
            .await?
            .status,
        201
    );
    Ok(())
}

#[tokio::test]
async fn exactly_one_of_many_concurrent_creates_wins_a_handle() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let handle = unique_handle("race");
    let users: Vec<String> = (0..8).map(|i| new_user(&format!("racer{i}"))).collect();

    let replies = futures_util::future::join_all(
        users
            .iter()
            .map(|user| stack.post("/v1/profiles", user, ana(&handle))),
    )
    .await;

    let statuses: Vec<u16> = replies
        .into_iter()
        .map(|r| r.map(|r| r.status))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    let owner = stack.partition(&format!("HANDLE#{handle}")).await?;
    assert_eq!(owner.len(), 1);
    let winner = owner[0]["userId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(stack.get("/v1/me", &winner).await?.status, 200);
    for loser in users.iter().filter(|u| **u != winner) {
        assert_eq!(
            stack.get("/v1/me", loser).await?.status,
            404,
            "loser wrote nothing"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_second_profile_or_a_taken_handle_is_a_conflict() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana_id, bea_id) = (new_user("ana"), new_user("bea"));
    let (h1, h2) = (unique_handle("ana"), unique_handle("bea"));
    stack.create_profile(&ana_id, ana(&h1)).await?;
    stack.create_profile(&bea_id, ana(&h2)).await?;

    let again = stack
        .post("/v1/profiles", &ana_id, ana(&unique_handle("x")))
        .await?;
    let steal = stack
        .patch("/v1/me", &bea_id, json!({"handle": h1.to_uppercase()}))
        .await?;

    assert_problem(&again, 409, None);
    assert_problem(&steal, 409, None);
    assert_eq!(
        stack.get("/v1/me", &bea_id).await?.body["handle"],
        h2.as_str()
    );
    Ok(())
}

#[tokio::test]
async fn a_handle_change_moves_the_claim() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");
    let (old, new) = (unique_handle("old"), unique_handle("new"));
    stack.create_profile(&user, ana(&old)).await?;

    let reply = stack.patch("/v1/me", &user, json!({"handle": new})).await?;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(stack.partition(&format!("HANDLE#{old}")).await?.is_empty());
    assert_eq!(stack.partition(&format!("HANDLE#{new}")).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn visibility_rules_decide_what_another_user_sees() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, stranger, friend) = (new_user("ana"), new_user("eve"), new_user("bob"));
    let handle = unique_handle("ana");
    stack.create_profile(&owner, ana(&handle)).await?;

    // Private by default: strangers get a 404, by id and by handle.
    assert_problem(
        &stack
            .get(&format!("/v1/profiles/{owner}"), &stranger)
            .await?,
        404,
        None,
    );
    assert_problem(
        &stack
            .get(&format!("/v1/profiles/@{handle}"), &stranger)
            .await?,
        404,
        None,
    );
    assert_eq!(
        stack
            .get(&format!("/v1/profiles/{owner}"), &owner)
            .await?
            .status,
        200
    );

    // Opt in to public: strangers see public fields only.
    let privacy = stack
        .put(
            "/v1/me/privacy",
            &owner,
            json!({"profileVisibility": "public"}),
        )
        .await?;
    assert_eq!(privacy.status, 200, "{privacy:?}");
    assert_eq!(privacy.body["fields"]["timezone"], "private");
    let seen = stack
        .get(&format!("/v1/profiles/@{handle}"), &stranger)
        .await?;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body["displayName"], "Ana Lima");
    assert_eq!(seen.body["skills"], json!(["Rust", "SQL"]));
    assert!(
        seen.body.get("location").is_none(),
        "connections-only field hidden"
    );
    assert!(seen.body.get("timezone").is_none(), "private field hidden");
    assert!(seen.body.get("privacy").is_none() && seen.body.get("version").is_none());
    assert_eq!(seen.body["relationship"], "none");

    // A connection (arranged directly in the table) also sees connections-only fields.
    let now = agora::ids::now_rfc3339();
    stack
        .put_item(&connection_item(&friend, &owner, &friend, &now))
        .await?;
    let as_friend = stack.get(&format!("/v1/profiles/{owner}"), &friend).await?;
    assert_eq!(as_friend.body["location"], "Lisbon");
    assert_eq!(as_friend.body["relationship"], "connection");
    assert!(as_friend.body.get("timezone").is_none());

    // Per-field: hiding skills from everyone hides them from strangers.
    stack
        .put(
            "/v1/me/privacy",
            &owner,
            json!({"profileVisibility": "public", "fields": {"skills": "private"}}),
        )
        .await?;
    let hidden = stack
        .get(&format!("/v1/profiles/{owner}"), &stranger)
        .await?;
    assert!(hidden.body.get("skills").is_none());
    Ok(())
}

#[tokio::test]
async fn search_finds_public_profiles_by_name_prefix_and_skill_page_by_page() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let viewer = new_user("viewer");
    let mut publics = Vec::new();
    for i in 0..3 {
        let user = new_user(&format!("zed{i}"));
        let mut body = ana(&unique_handle(&format!("zed{i}")));
        body["displayName"] = json!(format!("Zelda Quux {i}"));
        body["skills"] = json!(["Kotlin"]);
        body["privacy"] = json!({"profileVisibility": "public"});
        stack.create_profile(&user, body).await?;
        publics.push(user);
    }
    let private = new_user("hidden");
    let mut body = ana(&unique_handle("hid"));
    body["displayName"] = json!("Zelda Private");
    body["skills"] = json!(["Kotlin"]);
    stack.create_profile(&private, body).await?;

    // Name prefix: two pages of two, private profile absent.
    let first = stack.get("/v1/profiles?q=zelda&limit=2", &viewer).await?;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["items"].as_array().map(Vec::len), Some(2));
    let cursor = first.next_cursor();
    assert!(!cursor.is_empty());
    let second = stack
        .get(
            &format!("/v1/profiles?q=zelda&limit=2&cursor={cursor}"),
            &viewer,
        )
        .await?;
    let names: Vec<String> = first.body["items"]
        .as_array()
        .into_iter()
        .chain(second.body["items"].as_array())
        .flatten()
        .filter_map(|p| p["displayName"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, vec!["Zelda Quux 0", "Zelda Quux 1", "Zelda Quux 2"]);

    // A cursor from one query does not open another.
    let replayed = stack
        .get(&format!("/v1/profiles?q=zel&cursor={cursor}"), &viewer)
        .await?;
    assert_problem(&replayed, 400, Some("cursor"));

    // Skill search comes from the index the stream function maintains.
    let found = stack
        .eventually("the skill index", || async {
            let reply = stack
                .get("/v1/profiles?skill=kotlin&limit=10", &viewer)
                .await?;
            let items = reply.body["items"].as_array().cloned().unwrap_or_default();
            Ok((items.len() == 3).then_some(items))
        })
        .await?;
    assert!(found.iter().all(|p| {
        p["displayName"]
            .as_str()
            .is_some_and(|n| n.starts_with("Zelda Quux"))
    }));
    Ok(())
}

#[tokio::test]
async fn bad_input_of_every_kind_is_a_clear_4xx_and_writes_nothing() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("bad");
    let url = stack.url("/v1/profiles");
    let token = agora_tests::token_for(&user);
    let post = |body: &'static str| {
        stack
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
    };

    let malformed = stack.raw(post("{\"handle\": ")).await?;
    assert_problem(&malformed, 400, Some("body"));

    let wrong_type = stack
        .raw(post(
            r#"{"handle":"okay_handle","displayName":"A","skills":"rust"}"#,
        ))
        .await?;
    assert_problem(&wrong_type, 400, Some("skills"));

    let unknown = stack
        .raw(post(
            r#"{"handle":"okay_handle","displayName":"A","isAdmin":true}"#,
        ))
        .await?;
    assert_problem(&unknown, 400, None);
    assert!(
        unknown.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("isAdmin"))
    );

    let long_bio = "x".repeat(2001);
    let oversized = stack
        .post(
            "/v1/profiles",
            &user,
            json!({"handle": "okay_handle", "displayName": "A", "bio": long_bio, "avatarUrl": "javascript:alert(1)"}),
        )
        .await?;
    assert_problem(&oversized, 422, Some("bio"));
    assert_problem(&oversized, 422, Some("avatarUrl"));

    let bad_handle = stack
        .post(
            "/v1/profiles",
            &user,
            json!({"handle": "no spaces!", "displayName": "A"}),
        )
        .await?;
    assert_problem(&bad_handle, 422, Some("handle"));

    let huge = stack
        .raw(
            stack
                .http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"handle":"h","displayName":"{}"}}"#,
                    "x".repeat(70_000)
                )),
        )
        .await?;
    assert_problem(&huge, 413, None);

    let bad_cursor = stack.get("/v1/profiles?q=ana&cursor=forged", &user).await?;
    assert_problem(&bad_cursor, 400, Some("cursor"));
    let bad_limit = stack.get("/v1/profiles?q=ana&limit=5000", &user).await?;
    assert_problem(&bad_limit, 400, Some("limit"));

    let missing = stack.call(Method::GET, "/v1/me", None, None).await?;
    assert_problem(&missing, 401, None);
    let expired = stack
        .raw(
            stack
                .http
                .get(stack.url("/v1/me"))
                .bearer_auth(token_with(&user, JWT_SECRET, -3600)),
        )
        .await?;
    assert_problem(&expired, 401, None);
    let forged = stack
        .raw(stack.http.get(stack.url("/v1/me")).bearer_auth(token_with(
            &user,
            "someone-elses-secret-that-is-32-bytes",
            3600,
        )))
        .await?;
    assert_problem(&forged, 401, None);
    let in_an_hour = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    for future in [json!({"nbf": in_an_hour}), json!({"iat": in_an_hour})] {
        let early = stack
            .raw(
                stack
                    .http
                    .get(stack.url("/v1/me"))
                    .bearer_auth(token_overriding(&user, future.clone())),
            )
            .await?;
        assert_problem(&early, 401, None);
    }

    let wrong_method = stack
        .call(Method::PUT, "/v1/me", Some(&user), Some(&json!({})))
        .await?;
    assert!(matches!(wrong_method.status, 404 | 405), "{wrong_method:?}");

    // Nothing of any of these was written.
    assert!(stack.partition(&format!("USER#{user}")).await?.is_empty());
    assert!(stack.partition("HANDLE#okay_handle").await?.is_empty());
    Ok(())
}

/// The owner's moderation status, once it is no longer pending.
async fn verdict(stack: &agora_tests::TestStack, owner: &str) -> anyhow::Result<Value> {
    stack
        .eventually("a moderation verdict", || async {
            let me = stack.get("/v1/me", owner).await?;
            Ok((me.body["moderation"]["status"] != "pending").then_some(me.body))
        })
        .await
}

/// What a stranger finds of `skill` and of the name prefix `name`: the user ids.
async fn found_by(
    stack: &agora_tests::TestStack,
    viewer: &str,
    query: &str,
) -> anyhow::Result<Vec<String>> {
    let reply = stack
        .get(&format!("/v1/profiles?{query}&limit=50"), viewer)
        .await?;
    anyhow::ensure!(reply.status == 200, "{reply:?}");
    Ok(reply.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["userId"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test]
async fn a_profile_flagged_by_the_moderation_queue_is_hidden_whole_and_leaves_every_search()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (owner, stranger) = (new_user("troll"), new_user("eve"));
    // A unique suffix of q and x only, drawn again until the text check (the same pure
    // rule the worker applies) finds the name clean: some runs of x read as a word it
    // flags.
    let skill = loop {
        let bits = ulid::Ulid::new().random();
        let suffix: String = (0..24)
            .map(|i| if bits >> i & 1 == 1 { 'q' } else { 'x' })
            .collect();
        let skill = format!("weaving{suffix}");
        let name = format!("Quimby {skill}");
        if agora::moderation::check_text([name.as_str(), skill.as_str()])
            == agora::moderation::Verdict::Clean
        {
            break skill;
        }
    };
    let mut body = ana(&unique_handle("troll"));
    body["displayName"] = json!(format!("Quimby {skill}"));
    body["skills"] = json!([skill]);
    body["privacy"] = json!({"profileVisibility": "public", "fields": {"skills": "public"}});
    stack.create_profile(&owner, body).await?;
    let (by_skill, by_name) = (format!("skill={skill}"), format!("q=quimby%20{skill}"));
    assert_eq!(
        verdict(&stack, &owner).await?["moderation"]["status"],
        "clean"
    );
    stack
        .eventually("the skill index", || async {
            let found = found_by(&stack, &stranger, &by_skill).await?;
            Ok(found.contains(&owner).then_some(()))
        })
        .await?;
    assert!(
        found_by(&stack, &stranger, &by_name)
            .await?
            .contains(&owner)
    );

    let edit = stack
        .patch(
            "/v1/me",
            &owner,
            json!({"bio": "you are all f u c k i n g idiots"}),
        )
        .await?;
    assert_eq!(edit.status, 200, "{edit:?}");
    let mine = verdict(&stack, &owner).await?;

    assert_eq!(mine["moderation"]["status"], "flagged");
    assert!(mine["bio"].is_string(), "the owner still sees everything");
    let seen = stack
        .get(&format!("/v1/profiles/{owner}"), &stranger)
        .await?;
    assert_problem(&seen, 404, None);
    assert!(
        !found_by(&stack, &stranger, &by_name)
            .await?
            .contains(&owner)
    );
    stack
        .eventually("the skill index to drop the flagged profile", || async {
            let index = stack.partition(&format!("SKILL#{skill}")).await?;
            Ok(index.is_empty().then_some(()))
        })
        .await?;
    assert!(found_by(&stack, &stranger, &by_skill).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_worker_flags_personal_data_naming_the_category_at_the_configured_threshold()
-> anyhow::Result<()> {
    // Arrange: the default stack (threshold 0.8), one at 0.9, and one with automatic
    // moderation off; each gets a profile whose bio has a phone number (0.85).
    let stacks = [
        ("default", spawn().await?),
        (
            "strict",
            spawn_with(|o| {
                o.environment_overrides
                    .insert("MODERATION_CONFIDENCE_THRESHOLD".into(), "0.9".into());
            })
            .await?,
        ),
        (
            "off",
            spawn_with(|o| {
                o.environment_overrides
                    .insert("ENABLE_AUTO_MODERATION".into(), "false".into());
            })
            .await?,
        ),
    ];
    let mut verdicts = Vec::new();

    // Act
    for (name, stack) in &stacks {
        let owner = new_user(name);
        let mut body = ana(&unique_handle(name));
        body["bio"] = json!("Call me on +351 912 345 678 to talk about budgets");
        stack.create_profile(&owner, body).await?;
        verdicts.push(verdict(stack, &owner).await?["moderation"].clone());
    }

    // Assert
    assert_eq!(verdicts[0]["status"], "flagged", "{verdicts:?}");
    assert_eq!(verdicts[0]["categories"], json!(["pii"]));
    assert_eq!(verdicts[0]["confidence"], 0.85);
    assert_eq!(verdicts[1]["status"], "clean", "0.85 is under 0.9");
    assert_eq!(verdicts[1]["categories"], json!(["pii"]), "the hint stays");
    assert_eq!(verdicts[2]["status"], "clean");
    assert!(
        verdicts[2].get("categories").is_none(),
        "nothing was checked"
    );
    Ok(())
}

#[tokio::test]
async fn a_non_text_edit_right_after_a_text_edit_still_gets_its_verdict() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let owner = new_user("quick");
    stack
        .create_profile(&owner, ana(&unique_handle("quick")))
        .await?;
    assert_eq!(
        verdict(&stack, &owner).await?["moderation"]["status"],
        "clean"
    );

    let text = stack
        .patch(
            "/v1/me",
            &owner,
            json!({"bio": "you are all f u c k i n g idiots"}),
        )
        .await?;
    let timezone = stack
        .patch("/v1/me", &owner, json!({"timezone": "America/Recife"}))
        .await?;

    assert_eq!(
        (text.status, timezone.status),
        (200, 200),
        "{text:?} {timezone:?}"
    );
    let mine = verdict(&stack, &owner).await?;
    assert_eq!(mine["moderation"]["status"], "flagged", "{mine}");
    assert_eq!(mine["moderation"]["checkedVersion"], mine["version"]);
    Ok(())
}

async fn post_with_key(
    stack: &agora_tests::TestStack,
    user: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<Reply> {
    stack
        .raw(
            stack
                .request_with_idempotency_key(Method::POST, "/v1/profiles", user, key)
                .json(body),
        )
        .await
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_replays_the_first_response() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");
    let body = ana(&unique_handle("ana"));

    let first = post_with_key(&stack, &user, "create-1", &body).await?;
    let retry = post_with_key(&stack, &user, "create-1", &body).await?;
    let without_key = stack.post("/v1/profiles", &user, body.clone()).await?;

    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(
        retry.status, 201,
        "the retry is answered like the first: {retry:?}"
    );
    assert_eq!(retry.body, first.body);
    assert_problem(&without_key, 409, None);
    let items = stack.partition(&format!("USER#{user}")).await?;
    let profiles = items.iter().filter(|i| i["SK"] == "PROFILE").count();
    assert_eq!(profiles, 1, "one profile written");
    Ok(())
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_body_is_refused() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");
    post_with_key(&stack, &user, "k1", &ana(&unique_handle("ana"))).await?;

    let reused = post_with_key(&stack, &user, "k1", &ana(&unique_handle("other"))).await?;
    let malformed = post_with_key(&stack, &user, "has space", &ana(&unique_handle("x"))).await?;

    assert_problem(&reused, 422, Some("Idempotency-Key"));
    assert_problem(&malformed, 400, Some("Idempotency-Key"));
    Ok(())
}

#[tokio::test]
async fn a_duplicate_while_the_first_request_is_in_progress_is_a_conflict() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("ana");
    let body = ana(&unique_handle("ana"));
    // Arrange the record a still-running first attempt holds (same payload hash).
    let hash = agora::idempotency::payload_hash(
        "POST",
        "/v1/profiles",
        serde_json::to_vec(&body)?.as_slice(),
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    stack
        .put_item(&json!({
            "PK": format!("USER#{user}"), "SK": "IDEMPOTENCY#k-running", "status": "INPROGRESS",
            "payloadHash": hash, "expiresAt": now + 3600, "inProgressExpiresAt": now + 30,
        }))
        .await?;

    let duplicate = post_with_key(&stack, &user, "k-running", &body).await?;

    assert_problem(&duplicate, 409, None);
    assert_eq!(
        stack.get("/v1/me", &user).await?.status,
        404,
        "nothing was created"
    );
    Ok(())
}
