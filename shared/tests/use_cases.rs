//! Use cases whose rules live in their writes' conditions, run without moto: against an
//! in-process DynamoDB (see `support`). Each failure these check is read by the
//! condition's name, so they also hold the transactions' named conditions to account on
//! a second engine.

mod support;

use agora::auth::Principal;
use agora::chat::{self, RateLimit};
use agora::connections::{self, Relationship};
use agora::core::trust::TrustLevel;
use agora::cursor::CursorCodec;
use agora::feed;
use agora::ids::UserId;
use agora::notifications::{self, NotificationType};
use agora::store::{AttributeValue, Item, Key, Store};
use agora::stream::{Change, ChangeKind};
use agora::table::entity::Entity;
use agora::{AppError, discussions};
use agora::{profiles, realtime};
use serde_json::json;
use support::{memory_table, user};

fn input<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("a test input: {e}"))
}

async fn profile(store: &Store, id: &str, handle: &str) -> anyhow::Result<UserId> {
    let me = user(id);
    profiles::create_profile(
        store,
        &me,
        input(json!({"handle": handle, "displayName": handle})),
    )
    .await?;
    Ok(me)
}

async fn connected(store: &Store, a: &UserId, b: &UserId) -> anyhow::Result<()> {
    connections::send_request(store, a, input(json!({"userId": b.as_str()})))
        .await
        .map_err(|e| anyhow::anyhow!("send a request: {e:?}"))?;
    connections::accept_request(store, b, a)
        .await
        .map_err(|e| anyhow::anyhow!("accept it: {e:?}"))?;
    Ok(())
}

async fn ana_and_bob(store: &Store) -> anyhow::Result<(UserId, UserId)> {
    Ok((
        profile(store, "01J0000000000000000000ANA1", "ana").await?,
        profile(store, "01J0000000000000000000BB01", "bob").await?,
    ))
}

async fn public_activity(store: &Store, author: &UserId) -> anyhow::Result<feed::ActivityView> {
    Ok(feed::post_activity(
        store,
        author,
        input(json!({"verb": "share", "visibility": "public", "text": "hello"})),
    )
    .await?)
}

/// The item stored under `key`, as the table returns it.
async fn stored(store: &Store, key: &Key) -> anyhow::Result<Item> {
    store
        .get_item(key)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no item at {key:?}"))
}

/// The TTL of a stored item (epoch seconds).
fn expires_at(item: &Item) -> anyhow::Result<i64> {
    Ok(item
        .get(agora::store::TTL_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .ok_or_else(|| anyhow::anyhow!("no TTL in {item:?}"))?
        .parse()?)
}

fn conflict_saying(result: Result<impl std::fmt::Debug, AppError>, words: &str) {
    match result {
        Err(AppError::Conflict(message)) => {
            assert!(message.contains(words), "{message:?} should say {words:?}")
        }
        other => panic!("expected a conflict saying {words:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_handle_is_claimed_once_and_a_second_profile_is_refused() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let ana = profile(store, "01J0000000000000000000ANA1", "ana").await?;

    let same_handle = profiles::create_profile(
        store,
        &user("01J0000000000000000000BB01"),
        input(json!({"handle": "ana", "displayName": "Other Ana"})),
    )
    .await;
    let second_profile = profiles::create_profile(
        store,
        &ana,
        input(json!({"handle": "ana2", "displayName": "Ana"})),
    )
    .await;

    conflict_saying(same_handle, "handle 'ana' is already taken");
    conflict_saying(second_profile, "already have a profile");
    assert_eq!(
        profiles::user_by_handle(store, &profiles::Handle::parse("ana")?).await?,
        Some(ana)
    );
    Ok(())
}

#[tokio::test]
async fn a_request_accepted_connects_both_and_a_block_undoes_it() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;

    connections::send_request(store, &ana, input(json!({"userId": bo.as_str()}))).await?;
    let again = connections::send_request(store, &bo, input(json!({"userId": ana.as_str()}))).await;
    connections::accept_request(store, &bo, &ana).await?;
    let accepted_twice = connections::accept_request(store, &bo, &ana).await;
    let while_connected = connections::relationship(store, &ana, &bo).await?;
    connections::block_user(store, &bo, &ana).await?;
    let after_block = connections::relationship(store, &ana, &bo).await?;
    let to_blocker =
        connections::send_request(store, &ana, input(json!({"userId": bo.as_str()}))).await;

    conflict_saying(again, "already exists");
    assert!(
        matches!(accepted_twice, Err(AppError::NotFound(_))),
        "{accepted_twice:?}"
    );
    assert_eq!(while_connected, Relationship::Connection);
    assert_eq!(after_block, Relationship::Stranger);
    assert!(
        matches!(to_blocker, Err(AppError::NotFound(_))),
        "{to_blocker:?}"
    );
    Ok(())
}

#[tokio::test]
async fn ignoring_a_request_twice_is_a_404_and_cancelling_frees_the_pair() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;
    connections::send_request(store, &ana, input(json!({"userId": bo.as_str()}))).await?;

    connections::ignore_request(store, &bo, &ana).await?;
    let ignored_again = connections::ignore_request(store, &bo, &ana).await;
    connections::cancel_request(store, &ana, &bo).await?;
    let asked_again =
        connections::send_request(store, &ana, input(json!({"userId": bo.as_str()}))).await;

    assert!(
        matches!(ignored_again, Err(AppError::NotFound(_))),
        "{ignored_again:?}"
    );
    assert!(asked_again.is_ok(), "{asked_again:?}");
    Ok(())
}

/// What the stream's `LikeTally` does: each like shard's value copied onto the activity.
async fn settle_like_shards(store: &Store, activity_id: &str) -> anyhow::Result<()> {
    let shards = store
        .batch_get_items(&feed::keys::like_counter(activity_id).shard_keys())
        .await?;
    for shard in shards {
        if let Some(value) = agora::table::counter::shard_value(&shard.into()) {
            agora::table::counter::settle(store, &value).await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_like_counts_once_and_a_deleted_activity_cannot_be_liked() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let ana = profile(store, "01J0000000000000000000ANA1", "ana").await?;
    let activity = public_activity(store, &ana).await?;
    let id = activity.activity_id.clone();

    feed::like(store, &ana, &id).await?;
    feed::like(store, &ana, &id).await?;
    settle_like_shards(store, &id).await?;
    let liked = feed::get_activity(store, &ana, &id).await?;
    feed::unlike(store, &ana, &id).await?;
    feed::unlike(store, &ana, &id).await?;
    settle_like_shards(store, &id).await?;
    let unliked = feed::get_activity(store, &ana, &id).await?;
    feed::delete_activity(store, &ana, &id).await?;
    let on_deleted = feed::like(store, &ana, &id).await;

    assert_eq!((liked.like_count, liked.liked_by_me), (1, Some(true)));
    assert_eq!((unliked.like_count, unliked.liked_by_me), (0, Some(false)));
    assert!(
        matches!(on_deleted, Err(AppError::NotFound(_))),
        "{on_deleted:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_comment_counts_on_its_activity() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let ana = profile(store, "01J0000000000000000000ANA1", "ana").await?;
    let activity = public_activity(store, &ana).await?;

    feed::add_comment(
        store,
        &ana,
        &activity.activity_id,
        input(json!({"text": "first"})),
    )
    .await?;
    let counted = feed::get_activity(store, &ana, &activity.activity_id).await?;

    assert_eq!(counted.comment_count, 1);
    Ok(())
}

#[tokio::test]
async fn a_dm_is_opened_once_and_a_resent_message_is_a_duplicate() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;
    connected(store, &ana, &bo).await?;
    let message = || input(json!({"text": "hi", "clientMessageId": "c-1"}));

    let (room, created) = chat::open_dm(store, &ana, &bo, TrustLevel::NEW)
        .await
        .map_err(|e| anyhow::anyhow!("open: {e:?}"))?;
    let (same_room, created_again) = chat::open_dm(store, &bo, &ana, TrustLevel::NEW).await?;
    let first = chat::send_message(
        store,
        &ana,
        &room.room_id,
        message(),
        RateLimit::default(),
        None,
    )
    .await?;
    let resent = chat::send_message(
        store,
        &ana,
        &room.room_id,
        message(),
        RateLimit::default(),
        None,
    )
    .await?;

    assert!(created && !created_again);
    assert_eq!(same_room.room_id, room.room_id);
    assert!(!first.duplicate);
    assert!(resent.duplicate);
    assert_eq!(resent.message.message_id, first.message.message_id);
    Ok(())
}

#[tokio::test]
async fn a_message_in_flight_when_its_account_is_deleted_is_refused_and_a_recreated_account_sends()
-> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;
    connected(store, &ana, &bo).await?;
    let (room, _) = chat::open_dm(store, &ana, &bo, TrustLevel::NEW).await?;
    let send = |n: u32| {
        chat::send_message(
            store,
            &ana,
            &room.room_id,
            input(json!({"text": "hi", "clientMessageId": format!("c-{n}")})),
            RateLimit::default(),
            None,
        )
    };
    let tombstone = profiles::keys::deleted_account(&ana);

    // `DELETE /v1/me` writes the tombstone first; a new profile removes it.
    let mut item = tombstone.to_item();
    item.insert("status".into(), AttributeValue::S("erasing".into()));
    store.put(item).await?;
    let in_flight = send(1).await;
    store.batch_delete(&[tombstone]).await?;
    let recreated = send(2).await;

    assert!(
        matches!(in_flight, Err(AppError::Forbidden(_))),
        "{in_flight:?}"
    );
    assert!(recreated.is_ok(), "{recreated:?}");
    Ok(())
}

#[tokio::test]
async fn sends_past_the_limit_are_refused_with_a_retry_time() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;
    connected(store, &ana, &bo).await?;
    let (room, _) = chat::open_dm(store, &ana, &bo, TrustLevel::NEW).await?;
    let limit = RateLimit {
        max: 2,
        window_seconds: 3600,
    };
    let send = |n: u32| {
        chat::send_message(
            store,
            &ana,
            &room.room_id,
            input(json!({"text": "hi", "clientMessageId": format!("c-{n}")})),
            limit,
            None,
        )
    };

    send(1).await?;
    send(2).await?;
    let third = send(3).await;

    assert!(
        matches!(third, Err(AppError::RateLimited { retry_after_seconds }) if retry_after_seconds >= 1),
        "{third:?}"
    );
    Ok(())
}

#[tokio::test]
async fn only_its_sender_edits_a_message_and_a_deleted_one_stays_deleted() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;
    connected(store, &ana, &bo).await?;
    let (room, _) = chat::open_dm(store, &ana, &bo, TrustLevel::NEW).await?;
    let sent = chat::send_message(
        store,
        &ana,
        &room.room_id,
        input(json!({"text": "hi", "clientMessageId": "c-1"})),
        RateLimit::default(),
        None,
    )
    .await?;
    let id = sent.message.message_id.clone();

    let by_other = chat::edit_message(
        store,
        &bo,
        &room.room_id,
        &id,
        input(json!({"text": "x"})),
        None,
    )
    .await;
    let edited = chat::edit_message(
        store,
        &ana,
        &room.room_id,
        &id,
        input(json!({"text": "hey"})),
        None,
    )
    .await?;
    chat::delete_message(store, &ana, &room.room_id, &id, None).await?;
    let deleted_again = chat::delete_message(store, &ana, &room.room_id, &id, None).await?;
    let edit_deleted = chat::edit_message(
        store,
        &ana,
        &room.room_id,
        &id,
        input(json!({"text": "y"})),
        None,
    )
    .await;

    assert!(
        matches!(by_other, Err(AppError::Forbidden(_))),
        "{by_other:?}"
    );
    assert_eq!(edited.text, "hey");
    assert!(deleted_again.deleted);
    conflict_saying(edit_deleted, "deleted");
    Ok(())
}

#[tokio::test]
async fn a_topic_in_a_missing_category_names_the_field() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let ana = profile(store, "01J0000000000000000000ANA1", "ana").await?;

    let result = discussions::create_topic(
        store,
        &ana,
        input(json!({
            "categoryId": "no-such-category",
            "title": "A question",
            "body": "How do lifetimes work?",
        })),
    )
    .await;

    match result {
        Err(AppError::BadRequest { errors, .. }) | Err(AppError::Validation(errors)) => {
            assert!(errors.iter().any(|e| e.field == "categoryId"), "{errors:?}")
        }
        other => panic!("expected a 4xx naming categoryId, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_new_handle_moves_the_claim_and_a_public_profile_is_indexed() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let ana = profile(store, "01J0000000000000000000ANA1", "ana").await?;

    let renamed = profiles::update_profile(
        store,
        &ana,
        input(json!({"handle": "ana_2", "skills": ["Rust"], "occupation": "Teacher"})),
    )
    .await?;
    let public = profiles::set_privacy(
        store,
        &ana,
        input(json!({"profileVisibility": "public", "fields": {"learningGoals": "public"}})),
    )
    .await?;
    profiles::reindex_skills(store, Some(&renamed), Some(&public)).await?;
    profiles::reindex_match_attributes(store, Some(&renamed), Some(&public)).await?;
    let name = public.normalized_name();

    assert_eq!(
        profiles::user_by_handle(store, &profiles::Handle::parse("ana_2")?).await?,
        Some(ana.clone())
    );
    assert_eq!(
        profiles::user_by_handle(store, &profiles::Handle::parse("ana")?).await?,
        None
    );
    assert_eq!(
        stored(store, &profiles::keys::profile(&ana)).await?,
        public.item()?
    );
    assert_eq!(profiles::get_profile(store, &ana).await?, Some(public));
    let skill = profiles::SkillIndex {
        skill: "rust".into(),
        user_id: ana.clone(),
        normalized_name: name.clone(),
    };
    assert_eq!(stored(store, &skill.key()).await?, skill.item()?);
    let occupation = profiles::OccupationIndex {
        occupation: "teacher".into(),
        user_id: ana.clone(),
        normalized_name: name,
    };
    assert_eq!(stored(store, &occupation.key()).await?, occupation.item()?);
    Ok(())
}

#[tokio::test]
async fn a_category_topic_reply_reaction_and_edit_are_stored_and_listed() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bob) = ana_and_bob(store).await?;
    let admin = Principal {
        user_id: ana.clone(),
        roles: vec!["admin".into()],
        issued_at: None,
        expires_at: i64::MAX,
    };
    let bob_reading = Principal {
        user_id: bob.clone(),
        roles: vec![],
        issued_at: None,
        expires_at: i64::MAX,
    };
    let cursors = CursorCodec::new("test");
    let category = json!({"id": "rust", "name": "Rust"});

    discussions::create_category(store, &admin, input(category.clone())).await?;
    let again = discussions::create_category(store, &admin, input(category)).await;
    let topic = discussions::create_topic(
        store,
        &ana,
        input(json!({"categoryId": "rust", "title": "Lifetimes", "body": "How? #borrowck"})),
    )
    .await?;
    let reply = discussions::create_reply(
        store,
        &bob,
        &topic.topic_id,
        input(json!({"body": "Like scopes."})),
    )
    .await?;
    discussions::set_reaction(
        store,
        &bob,
        &topic.topic_id,
        &reply.reply_id,
        input(json!({"reaction": "helpful"})),
    )
    .await?;
    discussions::edit_topic(
        store,
        &ana,
        &topic.topic_id,
        input(json!({"tags": ["borrowck", "lifetimes"]})),
    )
    .await?;

    let categories = discussions::list_categories(store, &cursors, &ana, 10, None).await?;
    let listed = |tag: Option<&str>, author: Option<&str>, sort: &str| {
        let query = discussions::TopicQuery::parse(None, tag, author, Some(sort), None);
        let (cursors, bob) = (&cursors, &bob_reading);
        async move {
            let page = discussions::list_topics(store, cursors, bob, &query?, 10, None).await?;
            Ok::<_, AppError>(
                page.items
                    .into_iter()
                    .map(|t| t.topic_id)
                    .collect::<Vec<_>>(),
            )
        }
    };
    let by_added_tag = listed(Some("lifetimes"), None, "activity").await?;
    let by_author = listed(None, Some(ana.as_str()), "top").await?;
    let history = discussions::list_history(
        store,
        &cursors,
        &bob_reading,
        &topic.topic_id,
        None,
        10,
        None,
    )
    .await?;

    conflict_saying(again, "taken");
    let ids: Vec<&str> = categories
        .items
        .iter()
        .map(|c| c.category_id.as_str())
        .collect();
    assert_eq!(ids, ["rust"]);
    assert_eq!(by_added_tag, [topic.topic_id.as_str()]);
    assert_eq!(by_author, [topic.topic_id.as_str()]);
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].body, "How? #borrowck");
    Ok(())
}

#[tokio::test]
async fn an_open_connection_is_stored_twice_and_forgotten_once() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let ana = user("01J0000000000000000000ANA1");

    realtime::record_connection(store, &ana, "abc=", None).await?;
    let open = realtime::connections_of(store, &ana).await?;
    let entry = stored(store, &realtime::keys::connection("abc=")).await?;
    let mirror = stored(store, &realtime::keys::user_connection(&ana, "abc=")).await?;
    realtime::remove_connection(store, "abc=").await?;

    assert_eq!(open.len(), 1);
    let (expected_entry, expected_mirror) = open[0].entries(expires_at(&entry)?);
    assert_eq!(entry, expected_entry.item()?);
    assert_eq!(mirror, expected_mirror.item()?);
    assert!(realtime::connections_of(store, &ana).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn preferences_are_stored_and_read_back() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let ana = user("01J0000000000000000000ANA1");

    let set = notifications::set_preferences(
        store,
        &ana,
        input(json!({"muted": ["mention", "message"]})),
    )
    .await?;
    let read = notifications::get_preferences(store, &ana).await?;

    assert_eq!(read, set);
    assert!(read.muted.contains(&NotificationType::Mention));
    let expected = notifications::NotificationPreferences {
        user_id: ana.clone(),
        preferences: set,
    };
    assert_eq!(
        stored(store, &notifications::keys::preferences(&ana)).await?,
        expected.item()?
    );
    Ok(())
}

#[tokio::test]
async fn a_grouped_notification_counts_its_actor_once_and_its_expiry_leaves_the_count()
-> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;
    let intent = notifications::Intent {
        recipient: ana.clone(),
        actor: bo.clone(),
        kind: NotificationType::Reaction,
        object: notifications::NotificationObject::default(),
        at: "2026-01-01T00:00:00.000Z".into(),
        identity: "target|t1".into(),
        grouped: true,
    };
    let group_id = intent.notification_id();

    let first = notifications::deliver(store, &intent).await?;
    let redelivered = notifications::deliver(store, &intent).await?;
    let marker_key = notifications::keys::group_actor(&ana, &group_id, &bo);
    let marker = stored(store, &marker_key).await?;
    let counter_key = notifications::keys::counter(&ana);
    let counter = stored(store, &counter_key).await?;
    let group_key = notifications::keys::notification(&ana, &group_id);
    let group = stored(store, &group_key).await?;
    let expiry = Change::new(
        ChangeKind::Remove,
        group_key.pk.clone(),
        group_key.sk.clone(),
        Some(group.clone().into()),
        None,
    )
    .at("e1", "1");
    notifications::apply_change(store, &expiry).await?;
    notifications::apply_change(store, &expiry).await?;

    let first = first.ok_or_else(|| anyhow::anyhow!("nothing delivered"))?;
    assert_eq!(redelivered.map(|g| g.actor_count), Some(1));
    let expected_marker = notifications::NotificationActor {
        recipient: ana.clone(),
        group_id,
        actor: bo,
        expires_at: expires_at(&marker)?,
    };
    assert_eq!(marker, expected_marker.item()?);
    let mut expected_group = first.item()?;
    expected_group.insert(
        agora::store::TTL_ATTRIBUTE.into(),
        group[agora::store::TTL_ATTRIBUTE].clone(),
    );
    assert_eq!(group, expected_group);
    let counted = |unread| notifications::NotificationCounter {
        user_id: &ana,
        unread,
    };
    assert_eq!(counter, counted(1).item()?);
    assert_eq!(stored(store, &counter_key).await?, counted(0).item()?);
    let processed = stored(store, &notifications::keys::processed("e1")).await?;
    let expected_processed = notifications::ProcessedRecord {
        event_id: "e1".into(),
        expires_at: expires_at(&processed)?,
    };
    assert_eq!(processed, expected_processed.item()?);
    Ok(())
}

#[tokio::test]
async fn preferences_subscriptions_typing_and_the_inbox_are_read_back() -> anyhow::Result<()> {
    let table = memory_table().await?;
    let store = &table.store;
    let (ana, bo) = ana_and_bob(store).await?;

    chat::set_preferences(store, &bo, input(json!({"allowDmsFrom": "anyone"}))).await?;
    let (room, _) = chat::open_dm(store, &ana, &bo, TrustLevel::BASIC).await?;
    chat::subscribe(store, &bo, &room.room_id, "conn-1", None).await?;
    let until = chat::set_typing(store, &ana, &room.room_id, true, 5).await?;

    let preferences = chat::get_preferences(store, &bo).await?;
    let subscribers = chat::subscribers(store, &room.room_id).await?;
    let typing = chat::typing_now(store, &room.room_id).await?;
    let inbox = chat::inbox(store, &CursorCodec::new("test"), &bo, false, 10, None).await?;
    chat::forget_connection(store, "conn-1").await?;
    let after_disconnect = chat::subscribers(store, &room.room_id).await?;

    assert_eq!(preferences.allow_dms_from, chat::DmPolicy::Anyone);
    let subscribed: Vec<&str> = subscribers
        .iter()
        .map(|s| s.connection_id.as_str())
        .collect();
    assert_eq!(subscribed, ["conn-1"]);
    assert!(until.is_some());
    assert_eq!(typing, std::slice::from_ref(&ana));
    let rooms: Vec<&str> = inbox
        .items
        .iter()
        .map(|e| e.room.room_id.as_str())
        .collect();
    assert_eq!(rooms, [room.room_id.as_str()]);
    assert!(after_disconnect.is_empty());
    Ok(())
}
