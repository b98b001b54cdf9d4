//! Community chat channels, end to end: channels made through `ChatFunction`, live
//! events through the local stack's WebSocket API into `RealtimeFunction`, and the
//! table's stream (the fan-out function's channel reaction) ending the access of
//! whoever leaves the community.

use std::time::Duration;

use agora_tests::{
    TestStack, WsClient, accept, assert_problem, community, id_of, invite, new_user, spawn,
};
use serde_json::{Value, json};

/// A community of `kind` whose owner made a channel, with one member besides the
/// owner: `(community, channel, owner, member)`.
async fn community_with_channel(
    stack: &TestStack,
    kind: &str,
) -> anyhow::Result<(String, String, String, String)> {
    let (owner, member) = (new_user("owner"), new_user("member"));
    let community = id_of(&community(stack, &owner, kind, json!({})).await?);
    let code = invite(stack, &community, &owner).await?;
    accept(stack, &code, &member).await?;
    let channel = new_channel(stack, &community, &owner, "general").await?;
    Ok((community, channel, owner, member))
}

/// `admin` makes a channel named `name`; returns its room id.
async fn new_channel(
    stack: &TestStack,
    community: &str,
    admin: &str,
    name: &str,
) -> anyhow::Result<String> {
    let channel = stack
        .post_created(
            &format!("/v1/communities/{community}/channels"),
            admin,
            json!({"name": name}),
        )
        .await?;
    Ok(channel["roomId"].as_str().unwrap_or_default().to_owned())
}

/// A WebSocket client of `user`, and the reply to its subscribe to `room`.
async fn subscribing(
    stack: &TestStack,
    user: &str,
    room: &str,
) -> anyhow::Result<(WsClient, Value)> {
    let mut client = WsClient::connect(stack, user).await?;
    let reply = client
        .request(json!({"action": "subscribe", "roomId": room}))
        .await?;
    Ok((client, reply))
}

fn send_frame(room: &str, text: &str) -> Value {
    json!({"action": "sendMessage", "roomId": room, "text": text,
        "clientMessageId": ulid::Ulid::new().to_string()})
}

fn message_with(text: &'static str) -> impl Fn(&Value) -> bool {
    move |frame: &Value| frame["type"] == "message" && frame["message"]["text"] == text
}

/// Sends `text` over REST as `user`; returns the reply's status.
async fn send_rest(stack: &TestStack, user: &str, room: &str, text: &str) -> anyhow::Result<u16> {
    let reply = stack
        .post(
            &format!("/v1/rooms/{room}/messages"),
            user,
            json!({"text": text, "clientMessageId": ulid::Ulid::new().to_string()}),
        )
        .await?;
    Ok(reply.status)
}

#[tokio::test]
async fn a_communitys_members_chat_in_its_channel_and_outsiders_hear_nothing() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (community, channel, owner, member) = community_with_channel(&stack, "private").await?;
    let outsider = new_user("outsider");
    let (mut owner_socket, owner_ack) = subscribing(&stack, &owner, &channel).await?;
    let (mut member_socket, member_ack) = subscribing(&stack, &member, &channel).await?;
    let (_outsider_socket, outsider_reply) = subscribing(&stack, &outsider, &channel).await?;

    let sent = owner_socket
        .request(send_frame(&channel, "welcome, everyone"))
        .await?;
    let heard = member_socket
        .expect("the owner's message", message_with("welcome, everyone"))
        .await?;
    let member_sent = send_rest(&stack, &member, &channel, "thanks!").await?;
    let owner_heard = owner_socket
        .expect("the member's message", message_with("thanks!"))
        .await?;
    let listed = stack
        .get(&format!("/v1/communities/{community}/channels"), &member)
        .await?;
    let history = stack
        .get(&format!("/v1/rooms/{channel}/messages"), &member)
        .await?;
    let outsider_history = stack
        .get(&format!("/v1/rooms/{channel}/messages"), &outsider)
        .await?;
    let outsider_send = send_rest(&stack, &outsider, &channel, "let me in").await?;
    let inbox = stack.get("/v1/rooms", &member).await?;
    let archive = stack
        .put(
            &format!("/v1/rooms/{channel}/archive"),
            &member,
            json!({"archived": true}),
        )
        .await?;
    let leave_room = stack
        .delete(&format!("/v1/rooms/{channel}/members/me"), &member)
        .await?;

    assert_eq!(owner_ack["type"], "ack", "{owner_ack}");
    assert_eq!(member_ack["type"], "ack", "{member_ack}");
    assert_eq!(outsider_reply["code"], "notMember", "{outsider_reply}");
    assert_eq!(sent["type"], "ack", "{sent}");
    assert_eq!(heard["roomId"], channel.as_str());
    assert_eq!(member_sent, 201);
    assert_eq!(owner_heard["message"]["senderId"], member.as_str());
    assert_eq!(listed.status, 200, "{listed:?}");
    let channels = listed.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(channels.len(), 1, "{channels:?}");
    assert_eq!(channels[0]["roomId"], channel.as_str());
    assert_eq!(channels[0]["kind"], "channel");
    assert_eq!(channels[0]["communityId"], community.as_str());
    assert_eq!(channels[0]["name"], "general");
    assert_eq!(history.status, 200);
    assert_eq!(history.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(outsider_history.status, 403, "{outsider_history:?}");
    assert_eq!(outsider_send, 403);
    assert_eq!(inbox.status, 200);
    assert!(
        !inbox.body.to_string().contains(&channel),
        "a channel is not in its members' inboxes: {}",
        inbox.body
    );
    assert_eq!(archive.status, 409, "{archive:?}");
    assert_eq!(leave_room.status, 409, "{leave_room:?}");
    Ok(())
}

#[tokio::test]
async fn a_member_who_leaves_or_is_banned_loses_the_channel_and_its_live_events_at_once()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, channel, owner, leaver) = community_with_channel(&stack, "public").await?;
    let banned = new_user("banned");
    let joined = stack
        .post(
            &format!("/v1/communities/{community}/join"),
            &banned,
            json!({}),
        )
        .await?;
    anyhow::ensure!(joined.status == 201, "{joined:?}");
    let (mut owner_socket, _) = subscribing(&stack, &owner, &channel).await?;
    let (mut leaver_socket, _) = subscribing(&stack, &leaver, &channel).await?;
    let (mut banned_socket, _) = subscribing(&stack, &banned, &channel).await?;
    owner_socket
        .request(send_frame(&channel, "before they left"))
        .await?;
    leaver_socket
        .expect("the first message", message_with("before they left"))
        .await?;
    banned_socket
        .expect("the first message", message_with("before they left"))
        .await?;

    let left = stack
        .delete(
            &format!("/v1/communities/{community}/members/{leaver}"),
            &leaver,
        )
        .await?;
    let ban = stack
        .put(
            &format!("/v1/communities/{community}/bans/{banned}"),
            &owner,
            json!({}),
        )
        .await?;
    // At once, before the stream has run: REST and new subscriptions are refused.
    let leaver_send = send_rest(&stack, &leaver, &channel, "still here?").await?;
    let banned_history = stack
        .get(&format!("/v1/rooms/{channel}/messages"), &banned)
        .await?;
    let resubscribe = leaver_socket
        .request(json!({"action": "subscribe", "roomId": channel}))
        .await?;
    let live_send = banned_socket
        .request(send_frame(&channel, "from the banned"))
        .await?;
    // Then the stream ends their subscriptions and drops their member items.
    let room_partition = format!("ROOM#{channel}");
    stack
        .eventually("the ex-members' channel items go", || async {
            let items = stack.partition(&room_partition).await?;
            let theirs = items.iter().any(|item| {
                let sk = item["SK"].as_str().unwrap_or_default();
                (sk.starts_with("SUB#") || sk.starts_with("MEMBER#"))
                    && (item["userId"] == leaver.as_str() || item["userId"] == banned.as_str())
            });
            Ok((!theirs).then_some(()))
        })
        .await?;
    owner_socket
        .request(send_frame(&channel, "after they left"))
        .await?;

    assert_eq!(left.status, 204, "{left:?}");
    assert_eq!(ban.status, 200, "{ban:?}");
    assert_eq!(leaver_send, 403);
    assert_eq!(banned_history.status, 403, "{banned_history:?}");
    assert_eq!(resubscribe["code"], "notMember", "{resubscribe}");
    assert_eq!(live_send["code"], "notMember", "{live_send}");
    assert!(
        leaver_socket
            .stays_quiet(Duration::from_millis(1000), message_with("after they left"))
            .await?,
        "the member who left hears nothing more"
    );
    assert!(
        banned_socket
            .stays_quiet(Duration::from_millis(300), message_with("after they left"))
            .await?,
        "the banned member hears nothing more"
    );
    Ok(())
}

#[tokio::test]
async fn a_secret_communitys_channel_is_a_room_that_does_not_exist_to_outsiders()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, channel, _owner, member) = community_with_channel(&stack, "secret").await?;
    let outsider = new_user("outsider");

    let member_read = stack.get(&format!("/v1/rooms/{channel}"), &member).await?;
    let outsider_read = stack
        .get(&format!("/v1/rooms/{channel}"), &outsider)
        .await?;
    let outsider_history = stack
        .get(&format!("/v1/rooms/{channel}/messages"), &outsider)
        .await?;
    let outsider_list = stack
        .get(&format!("/v1/communities/{community}/channels"), &outsider)
        .await?;
    let (_socket, outsider_subscribe) = subscribing(&stack, &outsider, &channel).await?;
    let missing = stack
        .get(&format!("/v1/rooms/{}", ulid::Ulid::new()), &outsider)
        .await?;

    assert_eq!(member_read.status, 200, "{member_read:?}");
    assert_eq!(member_read.body["kind"], "channel");
    assert_eq!(outsider_read.status, 404, "{outsider_read:?}");
    for field in ["type", "title", "status", "detail"] {
        assert_eq!(
            outsider_read.body[field], missing.body[field],
            "the same answer as no room"
        );
    }
    assert_eq!(outsider_history.status, 404);
    assert_eq!(outsider_list.status, 404);
    assert_eq!(
        outsider_subscribe["code"], "notFound",
        "{outsider_subscribe}"
    );
    Ok(())
}

#[tokio::test]
async fn a_deleted_channel_or_community_takes_its_channels_messages_and_subscriptions_with_it()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, channel, owner, member) = community_with_channel(&stack, "public").await?;
    let second = new_channel(&stack, &community, &owner, "random").await?;
    let (mut socket, _) = subscribing(&stack, &member, &channel).await?;
    send_rest(&stack, &member, &channel, "a message").await?;
    send_rest(&stack, &member, &second, "another").await?;
    socket
        .expect("the member's own message", message_with("a message"))
        .await?;

    let deleted = stack
        .delete(
            &format!("/v1/communities/{community}/channels/{channel}"),
            &owner,
        )
        .await?;
    let again = stack
        .delete(
            &format!("/v1/communities/{community}/channels/{channel}"),
            &owner,
        )
        .await?;
    let history = stack
        .get(&format!("/v1/rooms/{channel}/messages"), &member)
        .await?;
    let left_in_channel = stack.partition(&format!("ROOM#{channel}")).await?;
    let community_deleted = stack
        .delete(&format!("/v1/communities/{community}"), &owner)
        .await?;
    let second_partition = format!("ROOM#{second}");
    stack
        .eventually("the deleted community's channel goes", || async {
            Ok(stack
                .partition(&second_partition)
                .await?
                .is_empty()
                .then_some(()))
        })
        .await?;
    let second_history = stack
        .get(&format!("/v1/rooms/{second}/messages"), &member)
        .await?;

    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(again.status, 404, "{again:?}");
    assert_eq!(history.status, 404, "{history:?}");
    assert!(left_in_channel.is_empty(), "{left_in_channel:?}");
    assert_eq!(community_deleted.status, 204, "{community_deleted:?}");
    assert_eq!(second_history.status, 404);
    assert_eq!(
        stack
            .item(&format!("USER#{member}"), &format!("ROOM#{second}"))
            .await?,
        None,
        "the member's side of the channel went too"
    );
    Ok(())
}

#[tokio::test]
async fn a_community_holds_twenty_channels_and_bad_channel_input_names_the_field()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, _channel, owner, member) = community_with_channel(&stack, "public").await?;
    let path = format!("/v1/communities/{community}/channels");
    for n in 2..=20 {
        new_channel(&stack, &community, &owner, &format!("channel {n}")).await?;
    }

    let twenty_first = stack
        .post(&path, &owner, json!({"name": "one more"}))
        .await?;
    let blank = stack.post(&path, &owner, json!({"name": " "})).await?;
    let long = stack
        .post(&path, &owner, json!({"name": "x".repeat(81)}))
        .await?;
    let retention = stack
        .post(&path, &owner, json!({"name": "ok", "retentionDays": 0}))
        .await?;
    let unknown = stack
        .post(&path, &owner, json!({"name": "ok", "kind": "group"}))
        .await?;
    let by_member = stack.post(&path, &member, json!({"name": "mine"})).await?;
    let missing = stack
        .post(
            &format!("/v1/communities/{}/channels", ulid::Ulid::new()),
            &owner,
            json!({"name": "nowhere"}),
        )
        .await?;
    let listed = stack.get(&path, &member).await?;

    assert_eq!(twenty_first.status, 409, "{twenty_first:?}");
    assert_problem(&blank, 422, Some("name"));
    assert_problem(&long, 422, Some("name"));
    assert_problem(&retention, 422, Some("retentionDays"));
    assert!(
        (400..500).contains(&unknown.status),
        "an unknown field is refused: {unknown:?}"
    );
    assert_eq!(by_member.status, 403, "{by_member:?}");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(20));
    Ok(())
}

#[tokio::test]
async fn an_erased_users_channel_messages_go_with_their_account_even_after_they_left()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, channel, owner, member) = community_with_channel(&stack, "public").await?;
    send_rest(&stack, &member, &channel, "mine").await?;
    send_rest(&stack, &owner, &channel, "the owner's").await?;
    let left = stack
        .delete(
            &format!("/v1/communities/{community}/members/{member}"),
            &member,
        )
        .await?;
    anyhow::ensure!(left.status == 204, "{left:?}");
    let member_key = format!("MEMBER#{member}");
    stack
        .eventually("the stream drops the ex-member's channel item", || async {
            Ok(stack
                .item(&format!("ROOM#{channel}"), &member_key)
                .await?
                .is_none()
                .then_some(()))
        })
        .await?;

    let erased = stack.delete("/v1/me", &member).await?;
    let channel_partition = format!("ROOM#{channel}");
    let member_id = member.clone();
    stack
        .eventually("the member's channel items go", || async {
            let items = stack.partition(&channel_partition).await?;
            let theirs = items.iter().any(|item| {
                item["senderId"] == member_id.as_str() || item["userId"] == member_id.as_str()
            });
            Ok((!theirs).then_some(()))
        })
        .await?;
    let history = stack
        .get(&format!("/v1/rooms/{channel}/messages"), &owner)
        .await?;

    assert!(erased.status < 300, "{erased:?}");
    let texts: Vec<&str> = history.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(texts, vec!["the owner's"]);
    Ok(())
}

#[tokio::test]
async fn a_channels_community_moderators_delete_anyones_message_and_members_only_their_own()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, channel, owner, author) = community_with_channel(&stack, "public").await?;
    let other = new_user("other");
    let joined = stack
        .post(
            &format!("/v1/communities/{community}/join"),
            &other,
            json!({}),
        )
        .await?;
    anyhow::ensure!(joined.status == 201, "{joined:?}");
    let (mut author_socket, _) = subscribing(&stack, &author, &channel).await?;
    let sent = author_socket
        .request(send_frame(&channel, "something rude"))
        .await?;
    let message = sent["messageId"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/rooms/{channel}/messages/{message}");

    let by_member = stack.delete(&path, &other).await?;
    let edit_by_owner = stack
        .patch(&path, &owner, json!({"text": "something nice"}))
        .await?;
    let by_owner = stack.delete(&path, &owner).await?;
    let again = stack.delete(&path, &owner).await?;
    let history = stack
        .get(&format!("/v1/rooms/{channel}/messages"), &other)
        .await?;
    let heard = author_socket
        .expect("the deletion", |f| {
            f["type"] == "messageDeleted" && f["message"]["messageId"] == message.as_str()
        })
        .await?;

    assert_eq!(sent["type"], "ack", "{sent}");
    assert_eq!(by_member.status, 403, "{by_member:?}");
    assert_eq!(edit_by_owner.status, 403, "{edit_by_owner:?}");
    assert_eq!(by_owner.status, 204, "{by_owner:?}");
    assert_eq!(again.status, 204, "{again:?}");
    let stored = &history.body["items"][0];
    assert_eq!(stored["messageId"], message.as_str());
    assert_eq!(stored["deleted"], true);
    assert_eq!(stored["text"], "");
    assert_eq!(stored["senderId"], author.as_str());
    assert_eq!(heard["message"]["deleted"], true);
    Ok(())
}

/// Seconds from now, as RFC 3339.
fn in_seconds(seconds: i64) -> anyhow::Result<String> {
    Ok(
        (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
            .format(&time::format_description::well_known::Rfc3339)?,
    )
}

#[tokio::test]
async fn a_course_linked_community_admits_only_enrolled_learners_and_their_access_ends_with_the_enrollment()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (teacher, learner, outsider) = (
        new_user("teacher"),
        new_user("learner"),
        new_user("outsider"),
    );
    let course = stack
        .post_created(
            "/v1/courses",
            &teacher,
            json!({"title": "Investing basics", "level": "beginner", "category": "investing",
                   "price": {"amountCents": 4900, "currency": "EUR"}, "published": true}),
        )
        .await?;
    let course = course["courseId"].as_str().unwrap_or_default().to_owned();
    let community = id_of(&community(&stack, &teacher, "public", json!({})).await?);
    let channel = new_channel(&stack, &community, &teacher, "study-group").await?;
    let enrollments = format!("/v1/courses/{course}/enrollments/{learner}");
    let granted = stack
        .put(&enrollments, &teacher, json!({"expiresAt": in_seconds(6)?}))
        .await?;
    anyhow::ensure!(granted.status == 201, "{granted:?}");

    let linked = stack
        .put(
            &format!("/v1/communities/{community}/course"),
            &teacher,
            json!({"courseId": course}),
        )
        .await?;
    let linked_by_other = stack
        .put(
            &format!("/v1/communities/{community}/course"),
            &learner,
            json!({"courseId": course}),
        )
        .await?;
    let outsider_join = stack
        .post(
            &format!("/v1/communities/{community}/join"),
            &outsider,
            json!({}),
        )
        .await?;
    let learner_join = stack
        .post(
            &format!("/v1/communities/{community}/join"),
            &learner,
            json!({}),
        )
        .await?;
    let members = stack
        .get(&format!("/v1/communities/{community}/members"), &teacher)
        .await?;
    let (mut teacher_socket, _) = subscribing(&stack, &teacher, &channel).await?;
    let (mut learner_socket, subscribed) = subscribing(&stack, &learner, &channel).await?;
    teacher_socket
        .request(send_frame(&channel, "welcome"))
        .await?;
    learner_socket
        .expect("the welcome", message_with("welcome"))
        .await?;
    let course_view = stack
        .get(&format!("/v1/courses/{course}"), &learner)
        .await?;

    assert_eq!(linked.status, 200, "{linked:?}");
    assert_eq!(linked.body["courseId"], course.as_str());
    assert_problem(&linked_by_other, 403, None);
    assert_problem(&outsider_join, 403, None);
    assert_eq!(learner_join.status, 201, "{learner_join:?}");
    let listed = members.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let learner_listed = listed.iter().find(|m| m["userId"] == learner.as_str());
    assert!(
        learner_listed.is_some_and(|m| m["accessUntil"].is_string()),
        "the learner's access end is listed: {members:?}"
    );
    assert_eq!(subscribed["type"], "ack", "{subscribed}");
    assert_eq!(course_view.body["communityId"], community.as_str());

    // The enrollment ends: everything ends with it, before any sweep has run.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let view = stack
        .get(&format!("/v1/communities/{community}"), &learner)
        .await?;
    let rest_send = send_rest(&stack, &learner, &channel, "still here?").await?;
    let live_send = learner_socket
        .request(send_frame(&channel, "hello?"))
        .await?;
    let topic = stack
        .post(
            "/v1/topics",
            &learner,
            json!({"title": "Q", "body": "text", "communityId": community}),
        )
        .await?;
    let rejoin = stack
        .post(
            &format!("/v1/communities/{community}/join"),
            &learner,
            json!({}),
        )
        .await?;
    teacher_socket
        .request(send_frame(&channel, "after the end"))
        .await?;

    assert_eq!(view.body["myStatus"], "expired", "{view:?}");
    assert_eq!(view.body.get("myRole"), None);
    assert_eq!(rest_send, 403);
    assert_eq!(live_send["code"], "notMember", "{live_send}");
    assert_problem(&topic, 403, None);
    assert_problem(&rejoin, 403, None);
    assert!(
        learner_socket
            .stays_quiet(Duration::from_millis(1000), message_with("after the end"))
            .await?,
        "a learner whose access ended hears nothing more"
    );

    // Renewed by the instructor: the stream gives the access back.
    let renewed = stack
        .put(&enrollments, &teacher, json!({"expiresAt": null}))
        .await?;
    anyhow::ensure!(renewed.status == 200, "{renewed:?}");
    stack
        .eventually("the renewed learner's access", || async {
            let view = stack
                .get(&format!("/v1/communities/{community}"), &learner)
                .await?;
            Ok((view.body["myStatus"] == "member").then_some(()))
        })
        .await?;
    let back = send_rest(&stack, &learner, &channel, "back again").await?;
    assert_eq!(back, 201);

    // Revoked: the stream removes the member, and the count follows.
    let revoked = stack.delete(&enrollments, &teacher).await?;
    assert_eq!(revoked.status, 204);
    let after = stack
        .eventually("the revoked learner's removal", || async {
            let view = stack
                .get(&format!("/v1/communities/{community}"), &learner)
                .await?;
            Ok(view.body.get("myStatus").is_none().then_some(view))
        })
        .await?;
    assert_eq!(after.body["memberCount"], 1, "{after:?}");
    Ok(())
}

#[tokio::test]
async fn the_scheduler_sweeps_a_learner_whose_access_ended_out_of_the_community_and_its_channels()
-> anyhow::Result<()> {
    // The stack runs the template's every-minute schedule each second.
    let stack = agora_tests::spawn_with(|options| {
        options.pump_options.schedule_period = Some(Duration::from_secs(1));
    })
    .await?;
    let (teacher, learner) = (new_user("teacher"), new_user("learner"));
    let course = stack
        .post_created(
            "/v1/courses",
            &teacher,
            json!({"title": "Saving", "level": "beginner", "category": "saving",
                   "price": {"amountCents": 0, "currency": "EUR"}, "published": true}),
        )
        .await?;
    let course = course["courseId"].as_str().unwrap_or_default().to_owned();
    let community = id_of(&community(&stack, &teacher, "private", json!({})).await?);
    let channel = new_channel(&stack, &community, &teacher, "general").await?;
    stack
        .put(
            &format!("/v1/communities/{community}/course"),
            &teacher,
            json!({"courseId": course}),
        )
        .await?;
    stack
        .put(
            &format!("/v1/courses/{course}/enrollments/{learner}"),
            &teacher,
            // Time enough to arrange the rest on a loaded machine before it ends.
            json!({"expiresAt": in_seconds(10)?}),
        )
        .await?;
    let code = invite(&stack, &community, &teacher).await?;
    accept(&stack, &code, &learner).await?;
    let (_socket, subscribed) = subscribing(&stack, &learner, &channel).await?;
    anyhow::ensure!(subscribed["type"] == "ack", "{subscribed}");
    let joined = stack
        .get(&format!("/v1/communities/{community}"), &teacher)
        .await?;

    let swept = stack
        .eventually("the sweep of the ended access", || async {
            let view = stack
                .get(&format!("/v1/communities/{community}"), &teacher)
                .await?;
            Ok((view.body["memberCount"] == 1).then_some(view))
        })
        .await?;
    let room_partition = format!("ROOM#{channel}");
    stack
        .eventually("the learner's channel subscription goes", || async {
            let items = stack.partition(&room_partition).await?;
            let theirs = items.iter().any(|item| {
                item["SK"].as_str().unwrap_or_default().starts_with("SUB#")
                    && item["userId"] == learner.as_str()
            });
            Ok((!theirs).then_some(()))
        })
        .await?;
    let mine = stack.get("/v1/me/communities", &learner).await?;
    let learner_view = stack
        .get(&format!("/v1/communities/{community}"), &learner)
        .await?;

    assert_eq!(joined.body["memberCount"], 2, "{joined:?}");
    assert_eq!(swept.body["memberCount"], 1);
    assert_eq!(mine.body["items"], json!([]), "{mine:?}");
    assert_eq!(
        learner_view.body.get("myStatus"),
        None,
        "swept: no longer even expired"
    );
    assert!(
        stack
            .item(
                &format!("COMMUNITY#{community}"),
                &format!("MEMBER#{learner}")
            )
            .await?
            .is_none()
    );
    Ok(())
}
