//! Chat and presence end to end: real HTTP requests into `ChatFunction`, real WebSocket
//! clients through the local stack's WebSocket API into `RealtimeFunction`, and the
//! table's stream into `ChatDeliveryFunction` pushing through `@connections`.
//!
//! Connections and blocks are arranged by writing their items directly (the shapes are
//! the shared item contract).

use std::collections::HashSet;
use std::time::Duration;

use agora_tests::{
    Reply, StreamRecord, TestStack, WsClient, assert_problem, field_of_items, new_user, spawn,
    spawn_with, token_overriding,
};
use serde_json::{Value, json};

/// Two new users, Ana and Bo, connected, and the direct conversation Ana opened with Bo:
/// `(ana, bo, room)`.
async fn two_connected_users_in_a_dm(
    stack: &TestStack,
) -> anyhow::Result<(String, String, String)> {
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    stack.connect_directly(&ana, &bo).await?;
    let room = dm(stack, &ana, &bo).await?;
    Ok((ana, bo, room))
}

/// Asks to open (or find) the direct conversation of `from` with `to`.
async fn open_dm(stack: &TestStack, from: &str, to: &str) -> anyhow::Result<Reply> {
    stack
        .post("/v1/rooms/dm", from, json!({"userId": to}))
        .await
}

/// Opens the DM between two connected users and returns its room id.
async fn dm(stack: &TestStack, a: &str, b: &str) -> anyhow::Result<String> {
    let reply = open_dm(stack, a, b).await?;
    anyhow::ensure!(
        reply.status == 201 || reply.status == 200,
        "dm failed: {reply:?}"
    );
    Ok(reply.body["roomId"].as_str().unwrap_or_default().to_owned())
}

/// Creates a group room owned by `owner` with `members` and returns its id.
async fn group(
    stack: &TestStack,
    owner: &str,
    name: &str,
    members: &[&str],
) -> anyhow::Result<String> {
    let room = stack
        .post_created(
            "/v1/rooms",
            owner,
            json!({"name": name, "memberIds": members}),
        )
        .await?;
    Ok(room["roomId"].as_str().unwrap_or_default().to_owned())
}

/// Asks to create a group room described by `body`.
async fn create_group(stack: &TestStack, owner: &str, body: Value) -> anyhow::Result<Reply> {
    stack.post("/v1/rooms", owner, body).await
}

/// Posts a message (`body`) to a room over REST, as it is.
async fn post_message(
    stack: &TestStack,
    user: &str,
    room: &str,
    body: Value,
) -> anyhow::Result<Reply> {
    stack
        .post(&format!("/v1/rooms/{room}/messages"), user, body)
        .await
}

/// Sends `text` to a room over REST and returns the stored message.
async fn send_rest(stack: &TestStack, user: &str, room: &str, text: &str) -> anyhow::Result<Value> {
    stack
        .post_created(
            &format!("/v1/rooms/{room}/messages"),
            user,
            json!({"text": text, "clientMessageId": ulid::Ulid::new().to_string()}),
        )
        .await
}

/// Adds `members` to a group room on behalf of `by`.
async fn add_members(
    stack: &TestStack,
    by: &str,
    room: &str,
    members: &[&str],
) -> anyhow::Result<Reply> {
    stack
        .post(
            &format!("/v1/rooms/{room}/members"),
            by,
            json!({"userIds": members}),
        )
        .await
}

/// A WebSocket client of `user`, subscribed to `room`.
async fn subscribed(stack: &TestStack, user: &str, room: &str) -> anyhow::Result<WsClient> {
    let mut client = WsClient::connect(stack, user).await?;
    let ack = client
        .request(json!({"action": "subscribe", "roomId": room}))
        .await?;
    anyhow::ensure!(ack["type"] == "ack", "subscribe failed: {ack}");
    Ok(client)
}

/// How many messages the room holds in the table.
async fn stored_messages(stack: &TestStack, room: &str) -> anyhow::Result<usize> {
    stack
        .count_entities(&format!("ROOM#{room}"), "Message")
        .await
}

fn send_frame(room: &str, text: &str, client_id: &str) -> Value {
    json!({"action": "sendMessage", "roomId": room, "text": text, "clientMessageId": client_id})
}

fn is_message(frame: &Value, id: &str) -> bool {
    frame["type"] == "message" && frame["message"]["messageId"] == id
}

/// The `messageId` of a message, an ack or a stored message.
fn message_id(message: &Value) -> String {
    message["messageId"].as_str().unwrap_or_default().to_owned()
}

/// The message ids of a history page.
fn ids(page: &Value) -> Vec<String> {
    field_of_items(page, "messageId")
}

#[tokio::test]
async fn a_direct_conversation_is_one_room_per_pair_and_follows_each_users_policy()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, stranger, open) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("dee"),
    );
    stack.connect_directly(&ana, &bo).await?;
    // A stranger at trust level 1 may start a conversation (level 0 may not: trust.rs).
    stack.trusted_at(&stranger, 1).await?;
    let opted_in = stack
        .put(
            "/v1/me/chat-preferences",
            &open,
            json!({"allowDmsFrom": "anyone"}),
        )
        .await?;

    let first = open_dm(&stack, &ana, &bo).await?;
    let again = open_dm(&stack, &bo, &ana).await?;
    let refused = open_dm(&stack, &stranger, &ana).await?;
    let welcomed = open_dm(&stack, &stranger, &open).await?;
    let myself = open_dm(&stack, &ana, &ana).await?;
    let malformed = open_dm(&stack, &ana, "no#hash").await?;

    assert_eq!(opted_in.status, 200, "{opted_in:?}");
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.body["kind"], "dm");
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        again.body["roomId"], first.body["roomId"],
        "found again by the other user"
    );
    assert_problem(&refused, 403, None);
    assert_eq!(welcomed.status, 201, "{welcomed:?}");
    assert_problem(&myself, 422, Some("userId"));
    assert_problem(&malformed, 422, Some("userId"));
    Ok(())
}

#[tokio::test]
async fn blocked_users_and_non_members_can_never_message() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let outsider = new_user("out");
    let mut outsider_socket = WsClient::connect(&stack, &outsider).await?;

    let not_member = outsider_socket
        .request(send_frame(&room, "let me in", "c1"))
        .await?;
    let not_member_rest = post_message(
        &stack,
        &outsider,
        &room,
        json!({"text": "hi", "clientMessageId": "c1"}),
    )
    .await?;
    let history_denied = stack
        .get(&format!("/v1/rooms/{room}/messages"), &outsider)
        .await?;
    stack.block_directly(&bo, &ana).await?;
    let blocked_send = post_message(
        &stack,
        &ana,
        &room,
        json!({"text": "hi", "clientMessageId": "c2"}),
    )
    .await?;
    let blocked_open = open_dm(&stack, &ana, &bo).await?;
    let blocked_group =
        create_group(&stack, &ana, json!({"name": "Sneaky", "memberIds": [bo]})).await?;

    assert_eq!(not_member["type"], "error");
    assert_eq!(not_member["code"], "notMember");
    assert_eq!(not_member["action"], "sendMessage");
    assert_problem(&not_member_rest, 403, None);
    assert_problem(&history_denied, 403, None);
    assert_problem(&blocked_send, 403, None);
    assert_problem(&blocked_open, 403, None);
    assert_problem(&blocked_group, 403, None);
    assert_eq!(
        stored_messages(&stack, &room).await?,
        0,
        "nothing was stored"
    );
    Ok(())
}

#[tokio::test]
async fn a_message_sent_over_the_websocket_is_acked_stored_once_and_reaches_the_other_member()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;

    let ack = ana_socket
        .request(send_frame(&room, "Hello Bo!", "hello-1"))
        .await?;
    let retry = ana_socket
        .request(send_frame(&room, "Hello Bo!", "hello-1"))
        .await?;
    let id = message_id(&ack);
    let received = bo_socket
        .expect("the message on Bo's socket", |f| is_message(f, &id))
        .await?;
    let no_second_copy = bo_socket
        .stays_quiet(Duration::from_secs(2), |f| f["type"] == "message")
        .await?;

    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["action"], "sendMessage");
    assert_eq!(ack["duplicate"], false);
    assert_eq!(ack["seq"], 1);
    assert!(ack["sentAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(retry["type"], "ack");
    assert_eq!(
        retry["messageId"], ack["messageId"],
        "the retry is acked with the original id"
    );
    assert_eq!(retry["duplicate"], true);
    assert_eq!(received["roomId"], room.as_str());
    assert_eq!(received["message"]["text"], "Hello Bo!");
    assert_eq!(received["message"]["senderId"], ana.as_str());
    assert!(no_second_copy, "the retry delivered nothing twice");
    let history = stack
        .get(&format!("/v1/rooms/{room}/messages"), &bo)
        .await?;
    assert_eq!(ids(&history.body), vec![id]);
    Ok(())
}

#[tokio::test]
async fn concurrent_senders_messages_arrive_in_id_order_with_no_gap() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&ana, &cy).await?;
    let room = group(&stack, &ana, "Study group", &[&bo, &cy]).await?;
    let mut watcher = subscribed(&stack, &cy, &room).await?;

    // Two members send 10 messages each at the same time, over REST.
    let sends = [&ana, &bo].map(|sender| {
        let stack = &stack;
        let room = room.clone();
        async move {
            let mut acked = Vec::new();
            for i in 0..10 {
                acked.push(send_rest(stack, sender, &room, &format!("{sender} #{i}")).await?);
            }
            Ok::<_, anyhow::Error>(acked)
        }
    });
    let [first, second] = sends;
    let (first, second) = tokio::try_join!(first, second)?;
    let mut delivered = Vec::new();
    while delivered.len() < 20 {
        let frame = watcher
            .expect("twenty messages", |f| f["type"] == "message")
            .await?;
        delivered.push(frame["message"].clone());
    }

    let delivered_ids: Vec<&str> = delivered
        .iter()
        .filter_map(|m| m["messageId"].as_str())
        .collect();
    let mut sorted = delivered_ids.clone();
    sorted.sort();
    assert_eq!(delivered_ids, sorted, "events arrive in id order");
    let seqs: Vec<u64> = delivered.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>(), "no gap, no duplicate");
    let acked: HashSet<String> = first
        .iter()
        .chain(second.iter())
        .filter_map(|m| m["messageId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(acked, delivered_ids.iter().map(|s| s.to_string()).collect());
    Ok(())
}

#[tokio::test]
async fn a_client_that_reconnects_catches_up_from_its_last_message_with_no_gap_or_duplicate()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let seen = send_rest(&stack, &ana, &room, "before the tunnel").await?;
    let seen_id = message_id(&seen);
    bo_socket
        .expect("the first message", |f| is_message(f, &seen_id))
        .await?;
    bo_socket.close().await?;

    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(send_rest(&stack, &ana, &room, &format!("while away {i}")).await?);
    }
    let mut back = subscribed(&stack, &bo, &room).await?;
    let after_subscribe = send_rest(&stack, &ana, &room, "welcome back").await?;
    // Catch-up reads every page after the last message seen.
    let mut fetched = Vec::new();
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let query = if cursor.is_empty() {
            format!("after={seen_id}&limit=3")
        } else {
            format!("after={seen_id}&limit=3&cursor={cursor}")
        };
        let page = stack
            .get(&format!("/v1/rooms/{room}/messages?{query}"), &bo)
            .await?;
        anyhow::ensure!(page.status == 200, "catch-up failed: {page:?}");
        fetched.extend(ids(&page.body));
        pages += 1;
        match page.body["nextCursor"].as_str() {
            Some(next) if pages < 10 => cursor = next.to_owned(),
            _ => break,
        }
    }
    let live_id = message_id(&after_subscribe);
    let live = back
        .expect("the message sent after subscribing", |f| {
            is_message(f, &live_id)
        })
        .await?;

    let mut expected: Vec<String> = missed.iter().map(message_id).collect();
    expected.push(live_id.clone());
    // Every missed message is in the catch-up read; the live one may be in both (the
    // client keeps one copy per id).
    let mut union: Vec<String> = fetched.clone();
    if !union.contains(&live_id) {
        union.push(live_id);
    }
    assert_eq!(
        union, expected,
        "oldest first, nothing missing, nothing twice"
    );
    assert_eq!(live["message"]["text"], "welcome back");
    assert!(pages >= 2, "the catch-up was paginated");
    Ok(())
}

#[tokio::test]
async fn typing_is_pushed_to_others_and_expires_by_itself() -> anyhow::Result<()> {
    let stack = spawn_with(|options| {
        options
            .environment_overrides
            .insert("CHAT_TYPING_SECONDS".into(), "3".into());
    })
    .await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;

    let ack = ana_socket
        .request(json!({"action": "typing", "roomId": room, "state": "start"}))
        .await?;
    let event = bo_socket
        .expect("Ana typing", |f| f["type"] == "typing")
        .await?;
    let while_typing = stack.get(&format!("/v1/rooms/{room}"), &bo).await?;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let after_expiry = stack.get(&format!("/v1/rooms/{room}"), &bo).await?;
    let own_echo = ana_socket
        .stays_quiet(Duration::from_millis(300), |f| f["type"] == "typing")
        .await?;

    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(event["userId"], ana.as_str());
    assert_eq!(event["typing"], true);
    let expires_at = event["expiresAt"].as_i64().unwrap_or_default();
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    assert!(
        expires_at > now_ms - 3000 && expires_at <= now_ms + 2000,
        "{event}"
    );
    assert_eq!(while_typing.body["typing"], json!([ana]));
    assert_eq!(after_expiry.body["typing"], json!([]));
    assert!(own_echo, "the typer's own connection is not told");
    Ok(())
}

#[tokio::test]
async fn presence_goes_online_on_connect_offline_after_the_last_disconnect_and_follows_choices()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let is_ana = |status: &'static str| {
        let ana = ana.clone();
        move |f: &Value| {
            f["type"] == "presence"
                && f["presence"]["userId"] == ana.as_str()
                && f["presence"]["status"] == status
        }
    };

    let never_seen = stack.get("/v1/presence", &bo).await?;
    let mut ana_socket = WsClient::connect(&stack, &ana).await?;
    bo_socket.expect("Ana online", is_ana("online")).await?;
    let busy = ana_socket
        .request(json!({"action": "setPresence", "status": "busy"}))
        .await?;
    bo_socket.expect("Ana busy", is_ana("busy")).await?;
    let over_rest = stack
        .get(&format!("/v1/rooms/{room}/presence"), &bo)
        .await?;
    let of_connections = stack.get("/v1/presence", &bo).await?;
    let offline_refused = ana_socket
        .request(json!({"action": "setPresence", "status": "offline"}))
        .await?;
    ana_socket.close().await?;
    bo_socket.expect("Ana offline", is_ana("offline")).await?;
    let after = stack.get("/v1/presence", &bo).await?;

    assert_eq!(busy["type"], "ack", "{busy}");
    let ana_in = |reply: &Reply| {
        reply.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|p| p["userId"] == ana.as_str()))
            .cloned()
            .unwrap_or_default()
    };
    let status_of = |reply: &Reply| ana_in(reply)["status"].clone();
    assert_eq!(status_of(&never_seen), "offline");
    assert!(
        ana_in(&never_seen).get("updatedAt").is_none(),
        "never seen online: no time: {never_seen:?}"
    );
    assert!(
        ana_in(&of_connections)["updatedAt"].is_string(),
        "{of_connections:?}"
    );
    assert_eq!(status_of(&over_rest), "busy");
    assert_eq!(status_of(&of_connections), "busy");
    assert_eq!(offline_refused["code"], "badPayload");
    assert_eq!(status_of(&after), "offline");
    Ok(())
}

#[tokio::test]
async fn read_receipts_reach_the_room_and_clear_the_readers_unread_count() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let mut bo_socket = WsClient::connect(&stack, &bo).await?;
    let mut last = Value::Null;
    for i in 0..3 {
        last = send_rest(&stack, &ana, &room, &format!("news {i}")).await?;
    }
    let last_id = message_id(&last);
    let unread_before = stack.get("/v1/rooms", &bo).await?;

    let ack = bo_socket
        .request(json!({"action": "markRead", "roomId": room, "messageId": last_id}))
        .await?;
    let receipt = ana_socket
        .expect("Bo's read receipt", |f| {
            f["type"] == "readReceipt" && f["userId"] == bo.as_str()
        })
        .await?;
    let unread_after = stack.get("/v1/rooms", &bo).await?;
    let detail = stack.get(&format!("/v1/rooms/{room}"), &ana).await?;

    assert_eq!(
        unread_before.body["items"][0]["unreadCount"], 3,
        "{unread_before:?}"
    );
    assert_eq!(
        unread_before.body["items"][0]["lastMessage"]["text"],
        "news 2"
    );
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(receipt["messageId"], last_id.as_str());
    assert_eq!(unread_after.body["items"][0]["unreadCount"], 0);
    let bo_member = detail.body["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["userId"] == bo.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(bo_member["lastReadMessageId"], last_id.as_str());
    Ok(())
}

#[tokio::test]
async fn the_inbox_sorts_rooms_by_latest_message_and_archiving_moves_a_room_aside()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&ana, &cy).await?;
    let with_bo = dm(&stack, &ana, &bo).await?;
    let with_cy = dm(&stack, &ana, &cy).await?;
    let team = group(&stack, &ana, "Team", &[&bo, &cy]).await?;
    let rooms = |reply: &Reply| field_of_items(&reply.body, "roomId");
    // The inbox order is moved by the stream reaction, after the send has answered. Each
    // message is awaited until its room leads Ana's inbox before the next is sent: the
    // order the three messages give (team, cy, bo) is also the rooms' creation order, so
    // waiting for it alone could pass before any reaction ran, and a late reaction could
    // then reorder the pages read below. A room leads only once its entry has moved to
    // its newest message (each message is later than every entry awaited before it).
    let leads = |room: &String, what: &'static str| {
        let (stack, ana, room) = (&stack, &ana, room.clone());
        async move {
            stack
                .eventually(what, || async {
                    let reply = stack.get("/v1/rooms", ana).await?;
                    Ok((rooms(&reply).first() == Some(&room)).then_some(()))
                })
                .await
        }
    };
    send_rest(&stack, &bo, &with_bo, "first").await?;
    leads(&with_bo, "the DM with Bo first").await?;
    send_rest(&stack, &cy, &with_cy, "second").await?;
    leads(&with_cy, "the DM with Cy first").await?;
    send_rest(&stack, &bo, &team, "third").await?;
    leads(&team, "the team first").await?;

    let ordered = stack.get("/v1/rooms", &ana).await?;
    send_rest(&stack, &bo, &with_bo, "fourth").await?;
    leads(&with_bo, "the bumped room first").await?;
    let archived = stack
        .put(
            &format!("/v1/rooms/{with_cy}/archive"),
            &ana,
            json!({"archived": true}),
        )
        .await?;
    let inbox = stack.get("/v1/rooms?limit=1", &ana).await?;
    let cursor = inbox.body["nextCursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second_page = stack
        .get(&format!("/v1/rooms?limit=1&cursor={cursor}"), &ana)
        .await?;
    let archive = stack.get("/v1/rooms?archived=true", &ana).await?;
    let bad_flag = stack.get("/v1/rooms?archived=maybe", &ana).await?;

    assert_eq!(
        rooms(&ordered),
        vec![team.clone(), with_cy.clone(), with_bo.clone()],
        "{ordered:?}"
    );
    assert_eq!(ordered.body["items"][0]["unreadCount"], 1, "{ordered:?}");
    assert_eq!(ordered.body["items"][0]["name"], "Team");
    assert_eq!(archived.status, 204, "{archived:?}");
    assert_eq!(rooms(&inbox), vec![with_bo.clone()]);
    assert_eq!(rooms(&second_page), vec![team]);
    assert_eq!(rooms(&archive), vec![with_cy]);
    assert_eq!(archive.body["items"][0]["archived"], true);
    assert_problem(&bad_flag, 400, Some("archived"));
    Ok(())
}

#[tokio::test]
async fn members_edit_and_delete_only_their_own_messages_and_every_subscriber_hears()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let sent = send_rest(&stack, &ana, &room, "Meet at 5?").await?;
    let id = message_id(&sent);

    let edit = ana_socket
        .request(
            json!({"action": "editMessage", "roomId": room, "messageId": id, "text": "Meet at 6?"}),
        )
        .await?;
    let edited = bo_socket
        .expect("the edit", |f| f["type"] == "messageEdited")
        .await?;
    let not_mine = stack
        .patch(
            &format!("/v1/rooms/{room}/messages/{id}"),
            &bo,
            json!({"text": "Never"}),
        )
        .await?;
    let deleted = stack
        .delete(&format!("/v1/rooms/{room}/messages/{id}"), &ana)
        .await?;
    let deleted_event = bo_socket
        .expect("the delete", |f| f["type"] == "messageDeleted")
        .await?;
    let deleted_again = stack
        .delete(&format!("/v1/rooms/{room}/messages/{id}"), &ana)
        .await?;
    let edit_deleted = stack
        .patch(
            &format!("/v1/rooms/{room}/messages/{id}"),
            &ana,
            json!({"text": "Back"}),
        )
        .await?;
    let history = stack
        .get(&format!("/v1/rooms/{room}/messages"), &bo)
        .await?;

    assert_eq!(edit["type"], "ack", "{edit}");
    assert_eq!(edit["version"], 2);
    assert_eq!(edited["message"]["text"], "Meet at 6?");
    assert_eq!(edited["message"]["edited"], true);
    assert!(edited["message"]["editedAt"].is_string());
    assert_problem(&not_mine, 403, None);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(deleted_event["message"]["deleted"], true);
    assert_eq!(deleted_event["message"]["text"], "");
    assert_eq!(deleted_event["message"]["version"], 3);
    assert_eq!(deleted_again.status, 204, "deleting twice is a no-op");
    assert_problem(&edit_deleted, 409, None);
    assert_eq!(
        history.body["items"][0]["deleted"], true,
        "the tombstone keeps its place"
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_and_malformed_frames_get_clear_errors_and_store_nothing() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, _bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut socket = WsClient::connect(&stack, &ana).await?;
    let too_long = "x".repeat(4001);

    socket.send_text("this is not json").await?;
    let not_json = socket
        .expect("an error for non-JSON", |f| f["type"] == "error")
        .await?;
    socket
        .send_text(r#"{"action":"dance","requestId":"r-dance"}"#)
        .await?;
    let unknown = socket
        .expect("an error for an unknown action", |f| {
            f["requestId"] == "r-dance"
        })
        .await?;
    let missing = socket
        .request(json!({"action": "sendMessage", "roomId": room}))
        .await?;
    let blank = socket.request(send_frame(&room, "   ", "c-blank")).await?;
    let long = socket
        .request(send_frame(&room, &too_long, "c-long"))
        .await?;
    let bad_room = socket
        .request(send_frame("not-a-room", "hi", "c-room"))
        .await?;
    let wrong_type = socket
        .request(json!({"action": "typing", "roomId": room, "state": "dancing"}))
        .await?;
    let still_alive = socket.request(json!({"action": "ping"})).await?;
    let rest_blank = post_message(
        &stack,
        &ana,
        &room,
        json!({"text": "", "clientMessageId": "c9"}),
    )
    .await?;
    let rest_unknown_field = post_message(
        &stack,
        &ana,
        &room,
        json!({"text": "hi", "clientMessageId": "c9", "x": 1}),
    )
    .await?;
    let bad_after = stack
        .get(&format!("/v1/rooms/{room}/messages?after=zzz"), &ana)
        .await?;
    let bad_group = create_group(
        &stack,
        &ana,
        json!({"name": "", "memberIds": ["ok", "bad#id"]}),
    )
    .await?;
    let crowd: Vec<String> = (0..49).map(|i| format!("user-{i}")).collect();
    let too_many = create_group(&stack, &ana, json!({"name": "Crowd", "memberIds": crowd})).await?;

    assert_eq!(not_json["code"], "badFrame");
    assert_eq!(unknown["code"], "unknownAction");
    assert_eq!(unknown["action"], "dance");
    assert_eq!(missing["code"], "badPayload");
    assert_eq!(blank["code"], "badPayload");
    assert_eq!(blank["errors"][0]["field"], "text");
    assert_eq!(long["code"], "badPayload");
    assert_eq!(bad_room["code"], "badPayload");
    assert_eq!(bad_room["errors"][0]["field"], "roomId");
    assert_eq!(wrong_type["code"], "badPayload");
    assert_eq!(wrong_type["errors"][0]["field"], "state");
    assert_eq!(still_alive["type"], "pong");
    assert_problem(&rest_blank, 422, Some("text"));
    assert_problem(&rest_unknown_field, 400, None);
    assert_problem(&bad_after, 400, Some("after"));
    assert_problem(&bad_group, 422, Some("name"));
    assert_problem(&too_many, 422, Some("memberIds"));
    assert_eq!(
        stored_messages(&stack, &room).await?,
        0,
        "nothing was stored"
    );
    Ok(())
}

#[tokio::test]
async fn sends_past_the_rate_limit_get_a_rate_limited_error_frame() -> anyhow::Result<()> {
    let stack = spawn_with(|options| {
        options
            .parameter_overrides
            .insert("ChatSendLimit".into(), "3".into());
        options
            .parameter_overrides
            // Windows are fixed; one this long is never crossed during the test.
            .insert("ChatSendWindowSeconds".into(), "100000000".into());
    })
    .await?;
    let (ana, _bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut socket = WsClient::connect(&stack, &ana).await?;

    let mut replies = Vec::new();
    for i in 0..4 {
        replies.push(
            socket
                .request(send_frame(&room, "spam", &format!("c{i}")))
                .await?,
        );
    }
    let retry_of_first = socket.request(send_frame(&room, "spam", "c0")).await?;

    assert!(
        replies[..3].iter().all(|r| r["type"] == "ack"),
        "{replies:?}"
    );
    assert_eq!(replies[3]["code"], "rateLimited");
    assert!(
        replies[3]["retryAfterSeconds"]
            .as_u64()
            .is_some_and(|s| (1..=100_000_000).contains(&s))
    );
    assert_eq!(
        retry_of_first["type"], "ack",
        "a retry of a stored send is still acked"
    );
    assert_eq!(retry_of_first["duplicate"], true);
    Ok(())
}

#[tokio::test]
async fn members_without_a_subscribed_connection_get_one_notification_per_room()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&ana, &cy).await?;
    let room = group(&stack, &ana, "Book club", &[&bo, &cy]).await?;
    let _watching = subscribed(&stack, &bo, &room).await?;
    // Cy is connected but looking elsewhere: no subscription to this room.
    let mut cy_socket = WsClient::connect(&stack, &cy).await?;

    send_rest(&stack, &ana, &room, "Chapter 1?").await?;
    let second = send_rest(&stack, &ana, &room, "Chapter 2?").await?;
    let pushed = cy_socket
        .expect("a message notification", |f| {
            f["type"] == "notification"
                && f["notification"]["object"]["messageId"] == second["messageId"]
        })
        .await?;
    let cy_list = stack.get("/v1/notifications", &cy).await?;
    let bo_list = stack.get("/v1/notifications", &bo).await?;

    assert_eq!(pushed["notification"]["type"], "message");
    assert_eq!(pushed["notification"]["object"]["roomId"], room.as_str());
    let messages: Vec<&Value> = cy_list.body["items"]
        .as_array()
        .map(|items| items.iter().filter(|n| n["type"] == "message").collect())
        .unwrap_or_default();
    assert_eq!(messages.len(), 1, "grouped per room: {cy_list:?}");
    assert_eq!(messages[0]["actorCount"], 1, "one sender");
    assert!(
        !bo_list.body["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|n| n["type"] == "message")),
        "a subscribed member is not notified"
    );
    Ok(())
}

#[tokio::test]
async fn a_redelivered_stream_batch_repeats_events_with_the_same_id_and_version_and_stores_nothing()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let sent = send_rest(&stack, &ana, &room, "once").await?;
    let id = message_id(&sent);
    let first = bo_socket
        .expect("the message", |f| is_message(f, &id))
        .await?;
    let stored = stack.partition(&format!("ROOM#{room}")).await?;
    let item = stored
        .iter()
        .find(|i| i["entity"] == "Message")
        .cloned()
        .unwrap_or_default();

    // What Lambda does when a batch is retried: the same record again.
    let record = StreamRecord::insert(&item).event_id("redelivered-1");
    let response = stack
        .invoke_stream_function("StreamFanoutFunction", &[record])
        .await?;
    let again = bo_socket
        .expect("the redelivered event", |f| is_message(f, &id))
        .await?;

    assert!(
        response["batchItemFailures"]
            .as_array()
            .is_none_or(|f| f.is_empty()),
        "{response}"
    );
    assert_eq!(again["message"]["messageId"], first["message"]["messageId"]);
    assert_eq!(again["message"]["version"], first["message"]["version"]);
    // Messages expire by TTL after the room's retention (90 days by default).
    let ninety_days = 90 * 24 * 3600;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires_at = item["expiresAt"].as_i64().unwrap_or_default();
    assert!(
        (now + ninety_days - 120..=now + ninety_days).contains(&expires_at),
        "{item}"
    );
    assert_eq!(stored_messages(&stack, &room).await?, 1, "stored once");
    Ok(())
}

#[tokio::test]
async fn groups_grow_by_members_who_may_reach_the_new_member_and_shrink_when_they_leave()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy, stranger) = (
        new_user("ana"),
        new_user("bo"),
        new_user("cy"),
        new_user("zed"),
    );
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&bo, &cy).await?;
    let room = group(&stack, &ana, "Growing", &[&bo]).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;

    let by_bo = add_members(&stack, &bo, &room, &[&cy]).await?;
    let joined = ana_socket
        .expect("Cy joined", |f| {
            f["type"] == "memberJoined" && f["userId"] == cy.as_str()
        })
        .await?;
    let by_stranger = add_members(&stack, &stranger, &room, &[&stranger]).await?;
    let unreachable = add_members(&stack, &ana, &room, &[&stranger]).await?;
    let left = stack
        .delete(&format!("/v1/rooms/{room}/members/me"), &cy)
        .await?;
    let left_event = ana_socket
        .expect("Cy left", |f| {
            f["type"] == "memberLeft" && f["userId"] == cy.as_str()
        })
        .await?;
    let cy_reads = stack
        .get(&format!("/v1/rooms/{room}/messages"), &cy)
        .await?;
    let detail = stack.get(&format!("/v1/rooms/{room}"), &ana).await?;
    let leave_dm = {
        let dm_room = dm(&stack, &ana, &bo).await?;
        stack
            .delete(&format!("/v1/rooms/{dm_room}/members/me"), &ana)
            .await?
    };

    assert_eq!(by_bo.status, 200, "{by_bo:?}");
    assert_eq!(by_bo.body["added"], json!([cy]));
    assert_eq!(joined["roomId"], room.as_str());
    assert_problem(&by_stranger, 403, None);
    assert_problem(&unreachable, 403, None);
    assert_eq!(left.status, 204, "{left:?}");
    assert_eq!(left_event["roomId"], room.as_str());
    assert_problem(&cy_reads, 403, None);
    assert_eq!(detail.body["memberCount"], 2);
    assert_problem(&leave_dm, 409, None);
    Ok(())
}

#[tokio::test]
async fn a_watched_rooms_inbox_entry_catches_up_when_its_watcher_unsubscribes() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    stack.connect_directly(&ana, &bo).await?;
    let direct = dm(&stack, &ana, &bo).await?;
    let team = group(&stack, &bo, "Team", &[&ana]).await?;
    let mut ana_socket = subscribed(&stack, &ana, &direct).await?;
    send_rest(&stack, &bo, &team, "in the group").await?;
    let latest = send_rest(&stack, &bo, &direct, "in the DM, later").await?;
    let latest_id = message_id(&latest);
    ana_socket
        .expect("the DM message", |f| is_message(f, &latest_id))
        .await?;
    let first_room = |reply: &Reply| reply.body["items"][0]["roomId"].as_str().map(str::to_owned);

    let left = ana_socket
        .request(json!({"action": "unsubscribe", "roomId": direct}))
        .await?;
    let inbox = stack
        .eventually("the DM first in Ana's inbox", || async {
            let reply = stack.get("/v1/rooms", &ana).await?;
            Ok((first_room(&reply).as_deref() == Some(direct.as_str())).then_some(reply))
        })
        .await?;

    assert_eq!(left["type"], "ack", "{left}");
    assert_eq!(
        inbox.body["items"][0]["lastMessage"]["text"],
        "in the DM, later"
    );
    assert_eq!(inbox.body["items"][1]["roomId"], team.as_str());
    Ok(())
}

/// Frames that carry `user`'s activity in a room: messages and typing.
fn activity_of(user: &str) -> impl Fn(&Value) -> bool + '_ {
    move |frame: &Value| {
        (frame["type"] == "message" && frame["message"]["senderId"] == user)
            || (frame["type"] == "typing" && frame["userId"] == user)
    }
}

#[tokio::test]
async fn an_ex_member_hears_nothing_more_from_the_room_once_they_leave() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&ana, &cy).await?;
    let room = group(&stack, &ana, "Leavers", &[&bo, &cy]).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let mut cy_socket = subscribed(&stack, &cy, &room).await?;
    // The sending function has seen the room's subscribers, Bo's among them.
    ana_socket
        .request(send_frame(&room, "before Bo left", "c-before"))
        .await?;
    bo_socket
        .expect("Ana's first message", |f| {
            f["type"] == "message" && f["message"]["text"] == "before Bo left"
        })
        .await?;

    let left = stack
        .delete(&format!("/v1/rooms/{room}/members/me"), &bo)
        .await?;
    settle().await;
    let resubscribe = bo_socket
        .request(json!({"action": "subscribe", "roomId": room}))
        .await?;
    settle().await;
    ana_socket
        .request(json!({"action": "typing", "roomId": room, "state": "start"}))
        .await?;
    settle().await;
    ana_socket
        .request(send_frame(&room, "after Bo left", "c-after"))
        .await?;
    cy_socket
        .expect("Ana's message", |f| {
            f["type"] == "message" && f["message"]["text"] == "after Bo left"
        })
        .await?;

    assert!(left.status < 300, "{left:?}");
    assert_eq!(resubscribe["code"], "notMember", "{resubscribe}");
    assert!(
        bo_socket
            .stays_quiet(Duration::from_millis(1000), activity_of(&ana))
            .await?,
        "the ex-member's socket hears nothing more"
    );
    Ok(())
}

#[tokio::test]
async fn a_user_who_blocks_another_hears_nothing_of_theirs_in_a_shared_group() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&cy, &ana).await?;
    stack.connect_directly(&cy, &bo).await?;
    stack.block_directly(&bo, &ana).await?;
    let room = group(&stack, &cy, "Mixed company", &[&ana, &bo]).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let mut cy_socket = subscribed(&stack, &cy, &room).await?;

    ana_socket
        .request(json!({"action": "typing", "roomId": room, "state": "start"}))
        .await?;
    ana_socket
        .request(send_frame(&room, "from Ana", "c-ana"))
        .await?;
    bo_socket
        .request(send_frame(&room, "from Bo", "c-bo"))
        .await?;
    cy_socket
        .expect("Ana's message", |f| {
            f["type"] == "message" && f["message"]["text"] == "from Ana"
        })
        .await?;
    cy_socket
        .expect("Bo's message", |f| {
            f["type"] == "message" && f["message"]["text"] == "from Bo"
        })
        .await?;

    assert!(
        bo_socket
            .stays_quiet(Duration::from_millis(1000), activity_of(&ana))
            .await?,
        "Bo, who blocks Ana, hears nothing of hers"
    );
    assert!(
        ana_socket
            .stays_quiet(Duration::from_millis(300), activity_of(&bo))
            .await?,
        "nor does Ana hear Bo"
    );
    Ok(())
}

#[tokio::test]
async fn a_connection_whose_posts_fail_costs_the_other_subscribers_no_duplicate()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&ana, &cy).await?;
    let room = group(&stack, &ana, "Flaky network", &[&bo, &cy]).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let mut cy_socket = subscribed(&stack, &cy, &room).await?;
    let pong = cy_socket.request(json!({"action": "ping"})).await?;
    let cy_connection = pong["connectionId"].as_str().unwrap_or_default().to_owned();
    let is_text = |text: &'static str| {
        move |f: &Value| f["type"] == "message" && f["message"]["text"] == text
    };

    // Every post to Cy's connection fails (5xx) while Ana sends three messages.
    stack.stack.fail_posts_to(&cy_connection, u32::MAX);
    for text in ["one", "two", "three"] {
        send_rest(&stack, &ana, &room, text).await?;
    }
    for text in ["one", "two", "three"] {
        bo_socket.expect(text, is_text(text)).await?;
    }
    let bo_quiet = bo_socket
        .stays_quiet(Duration::from_millis(1500), |f| f["type"] == "message")
        .await?;
    // Then one post to Cy fails once: retried for Cy alone.
    stack.stack.fail_posts_to(&cy_connection, 1);
    send_rest(&stack, &ana, &room, "four").await?;
    let cy_got = cy_socket.expect("four", is_text("four")).await?;
    bo_socket.expect("four", is_text("four")).await?;
    let bo_quiet_after = bo_socket
        .stays_quiet(Duration::from_millis(800), |f| f["type"] == "message")
        .await?;

    assert!(bo_quiet, "Bo got no message twice while Cy's posts failed");
    assert!(bo_quiet_after, "nor after Cy's one failed post");
    assert_eq!(cy_got["message"]["text"], "four");
    Ok(())
}

/// A token of `user` whose `exp` has passed but which the 30 s clock leeway still
/// honours for `seconds` more: a socket opened with it is closed soon after.
fn token_honoured_for(user: &str, seconds: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    token_overriding(user, json!({"exp": now - 30 + seconds}))
}

#[tokio::test]
async fn a_subscriber_whose_token_expires_is_told_and_closed_and_gets_no_more_events()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut bo_socket = WsClient::connect_with_token(&stack, &token_honoured_for(&bo, 8)).await?;
    let ack = bo_socket
        .request(json!({"action": "subscribe", "roomId": room}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");

    tokio::time::sleep(Duration::from_secs(10)).await;
    send_rest(&stack, &ana, &room, "after Bo's token expired").await?;
    let frames = bo_socket
        .frames_until_closed(Duration::from_secs(20))
        .await?;

    let last = frames.last().cloned().unwrap_or_default();
    assert_eq!(last["type"], "error", "{frames:?}");
    assert_eq!(last["code"], "tokenExpired");
    assert!(
        !frames.iter().any(|f| f["type"] == "message"),
        "the message never reached the expired socket: {frames:?}"
    );
    Ok(())
}

#[tokio::test]
async fn typing_past_its_limit_gets_a_rate_limited_frame_and_pushes_nothing_more()
-> anyhow::Result<()> {
    let stack = spawn_with(|options| {
        options
            .parameter_overrides
            .insert("WebSocketActionLimits".into(), "typing=2/3600".into());
    })
    .await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let typing = json!({"action": "typing", "roomId": room, "state": "start"});

    let first = ana_socket.request(typing.clone()).await?;
    let second = ana_socket.request(typing.clone()).await?;
    let third = ana_socket.request(typing).await?;
    let pong = ana_socket.request(json!({"action": "ping"})).await?;

    assert_eq!(
        (first["type"].as_str(), second["type"].as_str()),
        (Some("ack"), Some("ack"))
    );
    assert_eq!(third["type"], "error", "{third}");
    assert_eq!(third["code"], "rateLimited");
    assert!(
        third["retryAfterSeconds"]
            .as_u64()
            .is_some_and(|s| (1..=3600).contains(&s))
    );
    assert_eq!(pong["type"], "pong", "ping is not limited");
    let heard = |f: &Value| f["type"] == "typing";
    bo_socket.expect("the first typing", heard).await?;
    bo_socket.expect("the second typing", heard).await?;
    assert!(
        bo_socket
            .stays_quiet(Duration::from_millis(1500), heard)
            .await?,
        "the refused typing reaches nobody"
    );
    Ok(())
}

/// Ana's group with Bo and Cy (both connected to Ana), and a socket of each subscribed
/// to it, in that order: `(ana, bo, room, [ana's, bo's, cy's socket])`.
async fn three_subscribed_in_a_group(
    stack: &TestStack,
    name: &str,
) -> anyhow::Result<(String, String, String, [WsClient; 3])> {
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&ana, &cy).await?;
    let room = group(stack, &ana, name, &[&bo, &cy]).await?;
    let sockets = [
        subscribed(stack, &ana, &room).await?,
        subscribed(stack, &bo, &room).await?,
        subscribed(stack, &cy, &room).await?,
    ];
    Ok((ana, bo, room, sockets))
}

/// The table's stream is not read at all: only the WebSocket routes can push.
fn without_the_stream(options: &mut agora_local::stack::StackOptions) {
    options
        .disabled_event_sources
        .insert("StreamFanoutFunction".into());
}

/// The stack's functions hold their claim on pushing their own changes this long (ms).
fn claiming_for(millis: u32) -> impl FnOnce(&mut agora_local::stack::StackOptions) {
    move |options| {
        options
            .environment_overrides
            .insert("CHAT_LIVE_PUSH_CLAIM_MS".into(), millis.to_string());
    }
}

fn is_edit_of(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "messageEdited" && f["message"]["messageId"] == id
}

fn is_receipt_of<'a>(user: &'a str, id: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |f| f["type"] == "readReceipt" && f["userId"] == user && f["messageId"] == id
}

#[tokio::test]
async fn changes_made_over_the_websocket_reach_the_room_from_their_route_without_the_stream()
-> anyhow::Result<()> {
    // The table's stream is not read at all: only the routes can push.
    let stack = spawn_with(without_the_stream).await?;
    let (ana, bo, room, [mut ana_socket, mut bo_socket, mut cy_socket]) =
        three_subscribed_in_a_group(&stack, "No stream").await?;

    let sent = ana_socket
        .request(send_frame(&room, "straight to you", "direct-1"))
        .await?;
    let id = message_id(&sent);
    let edited = ana_socket
        .request(
            json!({"action": "editMessage", "roomId": room, "messageId": id, "text": "edited"}),
        )
        .await?;
    let read = bo_socket
        .request(json!({"action": "markRead", "roomId": room, "messageId": id}))
        .await?;

    assert_eq!(sent["type"], "ack", "{sent}");
    assert_eq!(edited["type"], "ack", "{edited}");
    assert_eq!(read["type"], "ack", "{read}");
    for socket in [&mut ana_socket, &mut bo_socket, &mut cy_socket] {
        let message = socket.expect("the message", |f| is_message(f, &id)).await?;
        let edit = socket.expect("the edit", is_edit_of(&id)).await?;
        socket
            .expect("Bo's read receipt", is_receipt_of(&bo, &id))
            .await?;
        assert_eq!(message["message"]["text"], "straight to you");
        assert_eq!(message["message"]["senderId"], ana.as_str());
        assert_eq!(edit["message"]["text"], "edited");
        assert_eq!(edit["message"]["version"], 2);
    }
    Ok(())
}

#[tokio::test]
async fn a_change_its_route_pushed_is_not_pushed_again_by_the_stream_after_the_claim_ends()
-> anyhow::Result<()> {
    let stack = spawn_with(claiming_for(1_000)).await?;
    let (_ana, bo, room, [mut ana_socket, mut bo_socket, mut cy_socket]) =
        three_subscribed_in_a_group(&stack, "Once only").await?;

    let sent = ana_socket
        .request(send_frame(&room, "just once", "once-1"))
        .await?;
    let id = message_id(&sent);
    ana_socket
        .request(
            json!({"action": "editMessage", "roomId": room, "messageId": id, "text": "still once"}),
        )
        .await?;
    bo_socket
        .request(json!({"action": "markRead", "roomId": room, "messageId": id}))
        .await?;

    for socket in [&mut ana_socket, &mut bo_socket, &mut cy_socket] {
        socket.expect("the message", |f| is_message(f, &id)).await?;
        socket.expect("the edit", is_edit_of(&id)).await?;
        socket
            .expect("Bo's read receipt", is_receipt_of(&bo, &id))
            .await?;
        // Past the claim and the stream's turn: nothing of it comes twice.
        let quiet = socket
            .stays_quiet(Duration::from_millis(3_000), |f| {
                is_message(f, &id) || is_edit_of(&id)(f) || is_receipt_of(&bo, &id)(f)
            })
            .await?;
        assert!(quiet, "a change reached a socket twice");
    }
    Ok(())
}

#[tokio::test]
async fn a_route_whose_posts_outlast_its_claim_renews_it_and_every_socket_gets_the_message_once()
-> anyhow::Result<()> {
    let stack = spawn_with(claiming_for(1_000)).await?;
    let (_ana, _bo, room, [mut ana_socket, mut bo_socket, mut cy_socket]) =
        three_subscribed_in_a_group(&stack, "Slow posts").await?;
    let pong = cy_socket.request(json!({"action": "ping"})).await?;
    let cy_connection = pong["connectionId"].as_str().unwrap_or_default().to_owned();
    let is_text = |f: &Value| f["type"] == "message" && f["message"]["text"] == "slow";

    // The route's post to Cy takes 2.5 times its 1 s claim.
    stack
        .stack
        .delay_posts_to(&cy_connection, Duration::from_millis(2_500), 1);
    let sent = ana_socket
        .request(send_frame(&room, "slow", "slow-1"))
        .await?;
    let mut quiet = Vec::new();
    for socket in [&mut ana_socket, &mut bo_socket, &mut cy_socket] {
        socket.expect("the message", is_text).await?;
        quiet.push(
            socket
                .stays_quiet(Duration::from_millis(2_000), is_text)
                .await?,
        );
    }

    assert_eq!(sent["type"], "ack", "{sent}");
    assert_eq!(quiet, [true, true, true], "no socket got the message twice");
    Ok(())
}

#[tokio::test]
async fn a_sender_killed_between_its_write_and_its_posts_still_reaches_every_subscriber_once()
-> anyhow::Result<()> {
    let stack = spawn_with(claiming_for(1_500)).await?;
    let (_ana, _bo, room, [mut ana_socket, mut bo_socket, mut cy_socket]) =
        three_subscribed_in_a_group(&stack, "Crash").await?;
    let is_text = |f: &Value| f["type"] == "message" && f["message"]["text"] == "survives";

    // The realtime function dies right after its send's transaction is carried out.
    stack
        .stack
        .kill_after("RealtimeFunction", "TransactWriteItems", 1);
    ana_socket
        .send_text(&send_frame(&room, "survives", "crash-1").to_string())
        .await?;
    let mut received = Vec::new();
    for socket in [&mut ana_socket, &mut bo_socket, &mut cy_socket] {
        received.push(socket.expect("the message", is_text).await?);
    }
    let retry = ana_socket
        .request(send_frame(&room, "survives", "crash-1"))
        .await?;
    let mut quiet = Vec::new();
    for socket in [&mut ana_socket, &mut bo_socket, &mut cy_socket] {
        quiet.push(
            socket
                .stays_quiet(Duration::from_millis(2_500), is_text)
                .await?,
        );
    }

    let id = message_id(&received[0]["message"]);
    assert!(
        received
            .iter()
            .all(|f| f["message"]["messageId"] == id.as_str())
    );
    assert_eq!(retry["type"], "ack", "{retry}");
    assert_eq!(
        retry["duplicate"], true,
        "the message was stored before the crash"
    );
    assert_eq!(retry["messageId"], id.as_str());
    assert_eq!(
        quiet,
        [true, true, true],
        "every subscriber got it exactly once"
    );
    assert_eq!(stored_messages(&stack, &room).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_page_of_room_history_is_read_with_two_dynamodb_requests() -> anyhow::Result<()> {
    // Arrange: a group of three with messages from each, and a block between two of them.
    let stack = agora_tests::spawn_counting_requests().await?;
    let (ana, bo, cy) = (new_user("ana"), new_user("bo"), new_user("cy"));
    stack.connect_directly(&ana, &bo).await?;
    stack.connect_directly(&ana, &cy).await?;
    let room = group(&stack, &ana, "Study group", &[&bo, &cy]).await?;
    for (user, text) in [(&ana, "hi"), (&bo, "hello"), (&cy, "hey")] {
        send_rest(&stack, user, &room, text).await?;
    }
    stack.block_directly(&bo, &cy).await?;

    // Act
    let path = format!("/v1/rooms/{room}/messages?limit=50");
    let requests = stack.dynamodb_requests_of_get(&path, &bo).await?;
    let page = stack.get(&path, &bo).await?;

    // Assert: the page's Query, then one BatchGetItem of the member item, the blocks
    // and the caller's account check; Cy's message is hidden from Bo.
    assert_eq!(requests, 2);
    let senders = field_of_items(&page.body, "senderId");
    assert!(
        senders.contains(&ana) && senders.contains(&bo),
        "{senders:?}"
    );
    assert!(!senders.contains(&cy), "blocked sender hidden: {senders:?}");
    Ok(())
}

#[tokio::test]
async fn a_send_its_route_never_pushed_reaches_everyone_even_after_a_later_edit_was_pushed()
-> anyhow::Result<()> {
    // Arrange: the realtime function dies right after the send's transaction, so the
    // send is stored under its route's claim and pushed by nobody yet.
    let stack = spawn_with(claiming_for(3_000)).await?;
    let (ana, _bo, room, [mut ana_socket, mut bo_socket, mut cy_socket]) =
        three_subscribed_in_a_group(&stack, "Edited early").await?;
    stack
        .stack
        .kill_after("RealtimeFunction", "TransactWriteItems", 1);
    ana_socket
        .send_text(&send_frame(&room, "first words", "early-1").to_string())
        .await?;
    let stored = stack
        .eventually("the stored message", || async {
            let page = stack
                .get(&format!("/v1/rooms/{room}/messages"), &ana)
                .await?;
            Ok(page.body["items"]
                .as_array()
                .and_then(|items| items.first())
                .map(message_id))
        })
        .await?;

    // Act: within the send's claim, its author edits it; that edit's route pushes it
    // and marks it pushed (a later change of the same item).
    let edited = ana_socket
        .request(json!({"action": "editMessage", "roomId": room, "messageId": stored, "text": "better words"}))
        .await?;

    // Assert: the edit and the original message both reach every subscriber (the
    // message once the send's claim ended, from the stream).
    assert_eq!(edited["type"], "ack", "{edited}");
    for socket in [&mut ana_socket, &mut bo_socket, &mut cy_socket] {
        socket.expect("the edit", is_edit_of(&stored)).await?;
        let message = socket
            .expect("the message", |f| is_message(f, &stored))
            .await?;
        assert_eq!(message["message"]["text"], "first words");
    }
    Ok(())
}

/// Lets the invocation that served the last frame end (its reply comes before its end):
/// the next frame is then served by the environment that served it, whose kept state
/// (a room's subscribers) it uses, as the stack reuses the latest idle environment.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The DynamoDB calls `function` made so far, by operation (`dynamodb:Query`, ...).
fn dynamodb_calls_of(stack: &TestStack, function: &str) -> std::collections::BTreeMap<String, u64> {
    stack
        .stack
        .aws_calls()
        .into_iter()
        .filter(|((caller, call), _)| caller == function && call.starts_with("dynamodb:"))
        .map(|((_, call), count)| (call, count))
        .collect()
}

/// What each call grew by between two snapshots of [`dynamodb_calls_of`].
fn calls_between(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .map(|(call, count)| (call.clone(), count - before.get(call).copied().unwrap_or(0)))
        .filter(|(_, grown)| *grown > 0)
        .collect()
}

#[tokio::test]
async fn a_socket_that_subscribes_after_the_room_was_sent_to_hears_the_next_message_from_the_route()
-> anyhow::Result<()> {
    // Only the routes push: a subscriber the sending function does not know of would
    // hear nothing.
    let stack = spawn_with(without_the_stream).await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    stack.connect_directly(&ana, &bo).await?;
    let room = group(&stack, &ana, "Latecomers", &[&bo]).await?;
    let mut ana_socket = subscribed(&stack, &ana, &room).await?;
    let first = ana_socket
        .request(send_frame(&room, "before Bo watched", "late-1"))
        .await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    settle().await;

    let second = ana_socket
        .request(send_frame(&room, "after Bo watched", "late-2"))
        .await?;

    assert_eq!(first["type"], "ack", "{first}");
    assert_eq!(second["type"], "ack", "{second}");
    let heard = bo_socket
        .expect("Ana's second message", |f| {
            is_message(f, &message_id(&second))
        })
        .await?;
    assert_eq!(heard["message"]["text"], "after Bo watched");
    Ok(())
}

#[tokio::test]
async fn a_live_send_costs_four_dynamodb_requests_once_its_function_knows_the_rooms_subscribers()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (_, _, room, [mut ana_socket, mut bo_socket, _cy]) =
        three_subscribed_in_a_group(&stack, "Counted").await?;
    let warm = ana_socket
        .request(send_frame(&room, "warming up", "count-0"))
        .await?;
    bo_socket
        .expect("the first message", |f| is_message(f, &message_id(&warm)))
        .await?;
    settle().await;
    let before = dynamodb_calls_of(&stack, "RealtimeFunction");

    let sent = ana_socket
        .request(send_frame(&room, "counted", "count-1"))
        .await?;
    bo_socket
        .expect("the counted message", |f| is_message(f, &message_id(&sent)))
        .await?;
    let calls = calls_between(&before, &dynamodb_calls_of(&stack, "RealtimeFunction"));

    assert_eq!(sent["type"], "ack", "{sent}");
    // The room, my member item and the client id (BatchGetItem) beside my blocks
    // (Query), the message with its send count (TransactWriteItems), the pushed mark
    // (UpdateItem): the room's subscribers are not read again.
    assert_eq!(
        calls,
        [
            ("dynamodb:BatchGetItem", 1),
            ("dynamodb:Query", 1),
            ("dynamodb:TransactWriteItems", 1),
            ("dynamodb:UpdateItem", 1),
        ]
        .into_iter()
        .map(|(call, count)| (call.to_owned(), count))
        .collect(),
        "{calls:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_member_who_stops_watching_a_room_is_notified_of_its_next_message() -> anyhow::Result<()>
{
    // Arrange: Bo watches the group; a first message reaches him live, not as a
    // notification (and the stream has read the room's audience for it).
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    stack.connect_directly(&ana, &bo).await?;
    let room = group(&stack, &ana, "Watchers", &[&bo]).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let first = send_rest(&stack, &ana, &room, "while Bo watches").await?;
    bo_socket
        .expect("the first message", |f| is_message(f, &message_id(&first)))
        .await?;

    // Act: Bo stops watching; Ana writes again.
    let stopped = bo_socket
        .request(json!({"action": "unsubscribe", "roomId": room}))
        .await?;
    let second = send_rest(&stack, &ana, &room, "after Bo looked away").await?;

    // Assert: the second message is a notification for Bo, the first was not.
    assert_eq!(stopped["type"], "ack", "{stopped}");
    let pushed = bo_socket
        .expect("a message notification", |f| {
            f["type"] == "notification"
                && f["notification"]["object"]["messageId"] == second["messageId"]
        })
        .await?;
    assert_eq!(pushed["notification"]["type"], "message");
    let listed = stack.get("/v1/notifications", &bo).await?;
    let messages: Vec<&Value> = listed.body["items"]
        .as_array()
        .map(|items| items.iter().filter(|n| n["type"] == "message").collect())
        .unwrap_or_default();
    assert_eq!(messages.len(), 1, "{listed:?}");
    assert_eq!(
        messages[0]["object"]["messageId"], second["messageId"],
        "only the message Bo did not watch"
    );
    Ok(())
}

#[tokio::test]
async fn a_member_who_left_a_group_has_their_messages_there_erased_with_their_account()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    stack.connect_directly(&ana, &bo).await?;
    let room = group(&stack, &ana, "Study group", &[&bo]).await?;
    send_rest(&stack, &bo, &room, "from Bo").await?;
    send_rest(&stack, &ana, &room, "from Ana").await?;
    let left = stack
        .delete(&format!("/v1/rooms/{room}/members/me"), &bo)
        .await?;
    let inbox = stack.get("/v1/rooms", &bo).await?;

    let erased = stack.delete("/v1/me", &bo).await?;
    let partition = format!("ROOM#{room}");
    stack
        .eventually("Bo's message to go", || async {
            let items = stack.partition(&partition).await?;
            Ok((!items.iter().any(|item| item["senderId"] == bo.as_str())).then_some(()))
        })
        .await?;
    let history = stack
        .get(&format!("/v1/rooms/{room}/messages"), &ana)
        .await?;

    assert!(left.status < 300, "{left:?}");
    assert!(
        !inbox.body.to_string().contains(&room),
        "a left group is out of the inbox: {}",
        inbox.body
    );
    assert!(erased.status < 300, "{erased:?}");
    let texts: Vec<&str> = history.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(texts, vec!["from Ana"]);
    Ok(())
}

#[tokio::test]
async fn a_delivered_message_moderation_hides_is_withdrawn_from_the_room_and_its_sender_is_told()
-> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let (ana, bo, room) = two_connected_users_in_a_dm(&stack).await?;
    let mut bo_socket = subscribed(&stack, &bo, &room).await?;
    let scam = "Guaranteed returns of 20% a week, send your deposit now";

    // Act: ana's message reaches bo, then its verdict withdraws it.
    let sent = send_rest(&stack, &ana, &room, scam).await?;
    let id = message_id(&sent);
    let delivered = bo_socket
        .expect("the message", |f| is_message(f, &id))
        .await?;
    let withdrawn = bo_socket
        .expect("the withdrawal", |f| f["type"] == "messageWithdrawn")
        .await?;
    let to_bo = stack
        .get(&format!("/v1/rooms/{room}/messages"), &bo)
        .await?;
    let to_ana = stack
        .get(&format!("/v1/rooms/{room}/messages"), &ana)
        .await?;
    let inbox = stack
        .eventually("the preview hidden", || async {
            let inbox = stack.get("/v1/rooms", &bo).await?;
            let preview = inbox.body["items"][0]["lastMessage"]["text"].clone();
            Ok((preview == "[hidden by moderation]").then_some(preview))
        })
        .await;
    let told = stack
        .eventually("the sender's notice", || async {
            let page = stack.get("/v1/notifications", &ana).await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["type"] == "contentHidden")
                .cloned())
        })
        .await?;

    // Assert
    assert_eq!(delivered["message"]["text"], scam);
    assert_eq!(withdrawn["roomId"], room.as_str());
    assert_eq!(withdrawn["messageId"], id.as_str());
    assert_eq!(withdrawn["senderId"], ana.as_str());
    assert_eq!(to_bo.body["items"][0]["text"], "[hidden by moderation]");
    assert_eq!(to_bo.body["items"][0]["screening"]["status"], "hidden");
    assert_eq!(
        to_ana.body["items"][0]["text"], scam,
        "its sender still reads it"
    );
    assert!(inbox.is_ok(), "{inbox:?}");
    assert_eq!(told["object"]["content"]["kind"], "message");
    assert_eq!(told["object"]["content"]["messageId"], id.as_str());
    assert_eq!(told["object"]["content"]["roomId"], room.as_str());
    Ok(())
}

#[tokio::test]
async fn a_group_name_moderation_hides_is_read_only_by_whoever_set_it() -> anyhow::Result<()> {
    // Arrange
    let stack = spawn().await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));
    stack.connect_directly(&ana, &bo).await?;
    let scam = "Guaranteed returns of 20% a week, send your deposit now";

    // Act
    let room = group(&stack, &ana, scam, &[&bo]).await?;
    let to_bo = stack
        .eventually("the name hidden", || async {
            let detail = stack.get(&format!("/v1/rooms/{room}"), &bo).await?;
            Ok((detail.body["name"] == "[hidden by moderation]").then_some(detail))
        })
        .await?;
    let to_ana = stack.get(&format!("/v1/rooms/{room}"), &ana).await?;
    let inbox = stack.get("/v1/rooms", &bo).await?;

    // Assert
    assert_eq!(to_bo.body["screening"]["status"], "hidden");
    assert_eq!(to_ana.body["name"], scam);
    assert_eq!(inbox.body["items"][0]["name"], "[hidden by moderation]");
    Ok(())
}
