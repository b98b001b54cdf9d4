//! Chat: use cases: the operations the edge calls, which write.

use super::*;

/// `PUT /v1/me/chat-preferences`
pub async fn set_preferences(
    store: &Store,
    me: &UserId,
    preferences: ChatPreferences,
) -> AppResult<ChatPreferences> {
    let item = UserChatPreferences {
        user_id: me,
        preferences: &preferences,
    }
    .item()?;
    store.put(item).await?;
    Ok(preferences)
}

/// `POST /v1/rooms/dm`: the direct conversation with `other`, created on first use and
/// found again by either user. Returns the room and whether it was created.
/// Starting one with someone I am not connected to is limited by my trust `level`
/// ([`allow_stranger_dm`]); finding an existing one is not.
pub async fn open_dm(
    store: &Store,
    me: &UserId,
    other: &UserId,
    level: TrustLevel,
) -> AppResult<(Room, bool)> {
    let lock = keys::dm_lock(me, other);
    if let Some(existing) = store.get_item(&lock).await? {
        let room_id = existing
            .get("roomId")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if graph::blocked_between(store, me, other).await? {
            return Err(AppError::Forbidden("you cannot message this user".into()));
        }
        let room = get_room(store, &room_id).await?.ok_or_else(no_room)?;
        return Ok((room, false));
    }
    if check_reachable(store, me, other, "userId").await? == Relationship::Stranger {
        allow_stranger_dm(store, me, level).await?;
    }
    let at = now_rfc3339();
    let room = Room {
        room_id: new_ulid(),
        kind: RoomKind::Dm,
        name: None,
        community_id: None,
        dm_user_ids: vec![me.clone(), other.clone()],
        created_by: me.clone(),
        created_at: at.clone(),
        retention_days: DEFAULT_RETENTION_DAYS,
        member_count: 2,
        message_count: 0,
        last_message_id: None,
        last_message_at: None,
        last_message: None,
        name_by: None,
        screening: None,
    };
    let lock = DmLock {
        users: (me.clone(), other.clone()),
        room_id: room.room_id.clone(),
    };
    let mut transaction = store
        .transaction()
        .put_entity(&lock, Some(Condition::absent(DM_FREE)))
        .put(room.item()?, Some(Condition::absent(ROOM_NEW)));
    for user in [me, other] {
        let (member, membership) = member_items(&room, user, me, &at)?;
        transaction = transaction.put(member, None).put(membership, None);
    }
    match transaction.commit().await {
        Ok(()) => Ok((room, true)),
        // The other user opened it at the same moment: theirs is the room.
        Err(error) if error.failed(DM_FREE) => Box::pin(open_dm(store, me, other, level)).await,
        Err(error) => Err(error.into()),
    }
}

/// `POST /v1/rooms`: a named group with me and the given members.
pub async fn create_group(store: &Store, me: &UserId, input: NewGroup) -> AppResult<Room> {
    check(&input)?;
    let members = parse_user_ids("memberIds", &input.member_ids)?;
    for (i, member) in members.iter().enumerate() {
        check_reachable(store, me, member, &format!("memberIds[{i}]")).await?;
    }
    let at = now_rfc3339();
    let room = Room {
        room_id: new_ulid(),
        kind: RoomKind::Group,
        name: Some(input.name.trim().to_owned()),
        community_id: None,
        dm_user_ids: vec![],
        created_by: me.clone(),
        created_at: at.clone(),
        retention_days: input.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
        member_count: u32::try_from(members.len() + 1).unwrap_or(u32::MAX),
        message_count: 0,
        last_message_id: None,
        last_message_at: None,
        last_message: None,
        name_by: Some(me.clone()),
        screening: None,
    };
    let mut transaction = store
        .transaction()
        .put(room.item()?, Some(Condition::absent(ROOM_NEW)));
    for user in std::iter::once(me).chain(members.iter()) {
        let (member, membership) = member_items(&room, user, me, &at)?;
        transaction = transaction.put(member, None).put(membership, None);
    }
    transaction.commit().await?;
    Ok(room)
}

/// `PATCH /v1/rooms/{roomId}`: a group's name; any room's retention. Members only.
pub async fn update_room(
    store: &Store,
    me: &UserId,
    room_id: &str,
    patch: RoomPatch,
) -> AppResult<Room> {
    check(&patch)?;
    let (room, _) = room_as_member(store, me, room_id).await?;
    if room.kind == RoomKind::Channel {
        require_channel_admin(store, me, &room).await?;
    } else if patch.name.is_some() && room.kind != RoomKind::Group {
        return Err(AppError::invalid_field(
            "name",
            "only groups and channels have a name",
        ));
    }
    let mut sets = Vec::new();
    let mut values = Vec::new();
    let mut names = Vec::new();
    if let Some(name) = &patch.name {
        sets.push("#name = :name");
        sets.push("nameBy = :me");
        names.push(("#name", "name"));
        values.push((":name", s(name.trim())));
        values.push((":me", s(me.as_str())));
    }
    if let Some(days) = patch.retention_days {
        sets.push("retentionDays = :days");
        values.push((":days", n(days)));
    }
    if sets.is_empty() {
        return Ok(room);
    }
    let mut update = Expr::new(format!("SET {}", sets.join(", ")));
    for (placeholder, attribute) in names {
        update = update.name(placeholder, attribute);
    }
    for (placeholder, value) in values {
        update = update.value(placeholder, value);
    }
    let updated = store
        .update(
            &keys::room(room_id),
            update,
            Some(Condition::present(ROOM_THERE)),
            Returning::AllNew,
        )
        .await?;
    store::from_item(updated.unwrap_or_default())
}

/// `POST /v1/rooms/{roomId}/members`: a member adds people to a group. Each new member
/// must be reachable by the adder (see [`check_reachable`]); members already in are
/// skipped. Returns the members added.
pub async fn add_members(
    store: &Store,
    me: &UserId,
    room_id: &str,
    input: NewMembers,
) -> AppResult<Vec<UserId>> {
    check(&input)?;
    let users = parse_user_ids("userIds", &input.user_ids)?;
    let (room, _) = room_as_member(store, me, room_id).await?;
    if room.kind != RoomKind::Group {
        return Err(AppError::Forbidden(
            "members can be added to groups only".into(),
        ));
    }
    let existing: HashSet<UserId> = store
        .batch_get::<Member>(
            &users
                .iter()
                .map(|u| keys::member(room_id, u))
                .collect::<Vec<_>>(),
        )
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let new: Vec<UserId> = users
        .into_iter()
        .filter(|u| !existing.contains(u))
        .collect();
    if new.is_empty() {
        return Ok(new);
    }
    for (i, user) in new.iter().enumerate() {
        check_reachable(store, me, user, &format!("userIds[{i}]")).await?;
    }
    let count = u32::try_from(new.len()).unwrap_or(u32::MAX);
    // Members are part of the room's audience: kept lists of it are stale now.
    let grow = Expr::new(format!(
        "ADD memberCount :count, {SUBSCRIPTIONS_VERSION} :one"
    ))
    .value(":count", n(count))
    .value(":one", n(1));
    let room_left = Expr::new("attribute_exists(PK) AND memberCount <= :room")
        .value(":room", n(MAX_GROUP_MEMBERS.saturating_sub(count)));
    let at = now_rfc3339();
    let mut transaction = store.transaction().update(
        &keys::room(room_id),
        grow,
        Some(Condition::new(ROOM_HAS_SPACE, room_left)),
    );
    for user in &new {
        let (member, membership) = member_items(&room, user, me, &at)?;
        transaction = transaction
            .put(member, Some(Condition::absent(NOT_MEMBER_YET)))
            .put(membership, None);
    }
    match transaction.commit().await {
        Ok(()) => Ok(new),
        Err(error) if error.failed(ROOM_HAS_SPACE) => Err(AppError::Conflict(format!(
            "a group holds at most {MAX_GROUP_MEMBERS} members"
        ))),
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /v1/rooms/{roomId}/members/me`: leave a group (a direct conversation can
/// only be archived). My side of the membership leaves the inbox and stays (with
/// `leftAt`), for my export and erasure. Repeatable.
pub async fn leave_room(store: &Store, me: &UserId, room_id: &str) -> AppResult<()> {
    let Some(room) = get_room(store, room_id).await? else {
        return Err(no_room());
    };
    match room.kind {
        RoomKind::Dm => {
            return Err(AppError::Conflict(
                "a direct conversation cannot be left; archive it instead".into(),
            ));
        }
        RoomKind::Channel => {
            return Err(AppError::Conflict(
                "a channel's members are its community's: leave the community instead".into(),
            ));
        }
        RoomKind::Group => {}
    }
    let shrink = Expr::new(format!(
        "ADD memberCount :minus, {SUBSCRIPTIONS_VERSION} :one"
    ))
    .value(":minus", n(-1))
    .value(":one", n(1));
    // My side stays, out of the inbox: it is how my export and erasure find the
    // messages I wrote in the group.
    let out_of_inbox = Expr::new("SET #left = :now REMOVE GSI2PK, GSI2SK")
        .name("#left", "leftAt")
        .value(":now", s(now_rfc3339()));
    let result = store
        .transaction()
        .delete(&keys::member(room_id, me), Some(Condition::present(MEMBER)))
        .update(&keys::membership(me, room_id), out_of_inbox, None)
        .update(&keys::room(room_id), shrink, None)
        .commit()
        .await;
    match result {
        // Left now, or before (a retry finishes the clean-up).
        Ok(()) => forget_subscriptions_to(store, me, room_id).await,
        Err(error) if error.failed(MEMBER) => forget_subscriptions_to(store, me, room_id).await,
        Err(error) => Err(error.into()),
    }
}

/// An ex-member's sockets stop receiving the room's events: their subscriptions to it
/// (both sides) go. A subscribe cannot race this back in, since it checks membership in
/// its own transaction.
pub async fn forget_subscriptions_to(store: &Store, me: &UserId, room_id: &str) -> AppResult<()> {
    let connections = crate::contexts::realtime::connections_of(store, me).await?;
    let keys: Vec<Key> = connections
        .iter()
        .flat_map(|c| {
            [
                keys::subscription(room_id, &c.connection_id),
                keys::connection_subscription(&c.connection_id, room_id),
            ]
        })
        .collect();
    if !keys.is_empty() {
        store.batch_delete(&keys).await?;
        subscriptions_changed(store, room_id).await?;
    }
    Ok(())
}

/// `PUT /v1/rooms/{roomId}/archive`: moves the room between my inbox and my archive.
pub async fn set_archived(
    store: &Store,
    me: &UserId,
    room_id: &str,
    archived: bool,
) -> AppResult<()> {
    let (room, _) = room_as_member(store, me, room_id).await?;
    if room.kind == RoomKind::Channel {
        return Err(AppError::Conflict(
            "channels are not in the inbox, so they cannot be archived".into(),
        ));
    }
    let sort_at = room.last_message_at.unwrap_or(room.created_at);
    let update = Expr::new("SET archived = :archived, GSI2PK = :inbox, GSI2SK = :sort")
        .value(":archived", AttributeValue::Bool(archived))
        .value(":inbox", s(keys::inbox(me, archived)))
        .value(":sort", s(keys::inbox_sort(&sort_at, room_id)));
    match store
        .update(
            &keys::membership(me, room_id),
            update,
            Some(Condition::present(MEMBER)),
            Returning::Nothing,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.failed(MEMBER) => Err(not_member()),
        Err(error) => Err(error.into()),
    }
}

/// Moves the inbox entries of the room's `members` to its latest message time (run by
/// the delivery function, once per room per stream batch; one conditional UpdateItem
/// each, concurrently). Members `watching` the room (subscribed) are skipped: their
/// entries catch up when they unsubscribe or disconnect, which keeps a busy room from
/// costing one write per member per batch. An entry a member removed meanwhile (they
/// left) is not recreated.
pub async fn touch_inboxes(
    store: &Store,
    room_id: &str,
    last_message_at: &str,
    members: &[UserId],
    watching: &HashSet<UserId>,
) -> AppResult<()> {
    let updates = members
        .iter()
        .filter(|member| !watching.contains(*member))
        .map(|member| touch_inbox(store, member, room_id, last_message_at));
    for result in futures_util::future::join_all(updates).await {
        result?;
    }
    Ok(())
}

/// The send-window update a send's transaction carries: one more send in `me`'s
/// current window, refused ([`UNDER_SEND_LIMIT`]) at the limit. Nothing is counted
/// unless the message is stored.
pub(super) fn send_token(limit: RateLimit, now: i64) -> (i64, Expr, Condition) {
    let window_seconds = limit.window_seconds.max(1);
    let window = now / window_seconds;
    let update = Expr::new("ADD sends :one SET #ttl = :ttl, entity = :entity")
        .name("#ttl", store::TTL_ATTRIBUTE)
        .value(":one", n(1))
        .value(":ttl", n((window + 2) * window_seconds))
        .value(":entity", s(SendWindow::NAME));
    let under_limit = Condition::new(
        UNDER_SEND_LIMIT,
        Expr::new("attribute_not_exists(sends) OR sends < :max").value(":max", n(limit.max)),
    );
    (window, update, under_limit)
}

/// The refusal of a send past the limit: retry when the window ends.
fn send_refused(limit: RateLimit, now: i64) -> AppError {
    let window_seconds = limit.window_seconds.max(1);
    let window = now / window_seconds;
    AppError::RateLimited {
        retry_after_seconds: u64::try_from((window + 1) * window_seconds - now)
            .unwrap_or(1)
            .max(1),
    }
}

/// The condition of a send on its room: the last message is still the one read
/// ([`STILL_LAST`]) and the room's subscriptions are still at the version read, so
/// the subscriber list the send pushes to is the one of its moment.
fn still_last(last_message_id: Option<&str>, subscriptions_version: u64) -> Condition {
    let subscriptions = if subscriptions_version == 0 {
        format!("attribute_not_exists({SUBSCRIPTIONS_VERSION})")
    } else {
        format!("{SUBSCRIPTIONS_VERSION} = :subscriptions")
    };
    let expr = match last_message_id {
        Some(previous) => Expr::new(format!("lastMessageId = :previous AND {subscriptions}"))
            .value(":previous", s(previous)),
        None => Expr::new(format!(
            "attribute_exists(PK) AND attribute_not_exists(lastMessageId) AND {subscriptions}"
        )),
    };
    let expr = if subscriptions_version == 0 {
        expr
    } else {
        expr.value(":subscriptions", n(subscriptions_version))
    };
    Condition::new(STILL_LAST, expr)
}

/// The room and its [`SUBSCRIPTIONS_VERSION`]: one GetItem.
async fn room_with_subscriptions_version(
    store: &Store,
    room_id: &str,
) -> AppResult<(Option<Room>, u64)> {
    let Some(item) = store.get_item(&keys::room(room_id)).await? else {
        return Ok((None, 0));
    };
    let version = item
        .get(SUBSCRIPTIONS_VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((Some(store::from_item(item)?), version))
}

/// Sends a message. A retry with the same client message id returns the first message
/// (`duplicate`) and writes nothing. Members only; never across a block in a direct
/// conversation; rate-limited per user. With a `claim`, the caller pushes the new
/// message to the room itself ([`push_live`]); without one, the stream does.
pub async fn send_message(
    store: &Store,
    me: &UserId,
    room_id: &str,
    input: NewMessage,
    limit: RateLimit,
    claim: Option<LiveClaim>,
) -> AppResult<Sent> {
    check(&input)?;
    // One BatchGetItem: the room, my member item and a previous send with this id; a
    // live send reads my blocks beside it, for the DM check and its push.
    let pointer_key = keys::client_message(room_id, me, &input.client_message_id);
    let my_blocks = async {
        match claim {
            Some(_) => graph::blocks_of(store, me).await.map(Some),
            None => Ok(None),
        }
    };
    let wanted = [keys::room(room_id), keys::member(room_id, me), pointer_key];
    let (items, my_blocks) = tokio::try_join!(store.batch_get_items(&wanted), my_blocks)?;
    let mut room = None;
    let mut subscriptions_version = 0;
    let mut member = false;
    let mut stored_id = None;
    for item in items {
        let sk = item
            .get(store::SK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if sk == "META" {
            subscriptions_version = item
                .get(SUBSCRIPTIONS_VERSION)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            room = Some(store::from_item::<Room>(item)?);
        } else if sk.starts_with("MEMBER#") {
            member = true;
        } else {
            stored_id = item.get("messageId").and_then(|v| v.as_s().ok()).cloned();
        }
    }
    if let Some(message_id) = stored_id
        && let Some(message) = store.get(&keys::message(room_id, &message_id)).await?
    {
        return Ok(Sent {
            message,
            duplicate: true,
            audience: None,
        });
    }
    let room = room.ok_or_else(no_room)?;
    // A channel's sender must still be in its community when the message commits.
    let community_member = match room.kind {
        RoomKind::Channel => Some(community_member_key(&room, me)?),
        _ => None,
    };
    if !member {
        match room.kind {
            RoomKind::Channel => {
                join_channel(store, me, &room).await?;
            }
            _ => return Err(not_member()),
        }
    }
    if room.kind == RoomKind::Dm
        && let Some(other) = room.dm_user_ids.iter().find(|u| *u != me)
    {
        let blocked = match &my_blocks {
            Some(blocks) => blocks.contains(other),
            None => graph::blocked_between(store, me, other).await?,
        };
        if blocked {
            return Err(AppError::Forbidden("you cannot message this user".into()));
        }
    }
    if let Some(reply_to) = &input.reply_to
        && store
            .get_item(&keys::message(room_id, reply_to))
            .await?
            .is_none()
    {
        return Err(AppError::invalid_field(
            "replyTo",
            "no such message in this room",
        ));
    }
    let mut room = room;
    for attempt in 0..SEND_ATTEMPTS {
        let message_id = next_message_id(room.last_message_id.as_deref());
        let sent_at = now_rfc3339();
        let message = Message {
            room_id: room_id.to_owned(),
            message_id: message_id.clone(),
            seq: room.message_count + 1,
            sender_id: me.clone(),
            text: input.text.clone(),
            reply_to: input.reply_to.clone(),
            client_message_id: input.client_message_id.clone(),
            sent_at: sent_at.clone(),
            edited: false,
            edited_at: None,
            deleted: false,
            version: 1,
            screening: None,
        };
        let expires_at = now_epoch_seconds() + retention_seconds(room.retention_days);
        let retained = RetainedMessage {
            message: &message,
            expires_at,
            live_push_until: claim.map(|c| c.until_ms),
            room_version: subscriptions_version,
            in_channel: room.kind == RoomKind::Channel,
        };
        let pointer = ClientMessageId {
            room_id: room_id.to_owned(),
            sender_id: me.clone(),
            client_message_id: input.client_message_id.clone(),
            message_id: message_id.clone(),
            expires_at,
        };
        let preview = Preview {
            message_id: message_id.clone(),
            sender_id: me.clone(),
            text: preview_text(&input.text),
            sent_at: sent_at.clone(),
            deleted: false,
        };
        let advance = Expr::new(
            "SET lastMessageId = :id, lastMessageAt = :at, lastMessage = :preview, \
             messageCount = :seq",
        )
        .value(":id", s(&message_id))
        .value(":at", s(&sent_at))
        .value(":preview", AttributeValue::M(store::to_item(&preview)?))
        .value(":seq", n(message.seq));
        let still_last = still_last(room.last_message_id.as_deref(), subscriptions_version);
        // The sender has read their own message.
        let read_own = Expr::new(
            "SET lastReadMessageId = :id, lastReadAt = :at, readSeq = :seq, readVia = :via",
        )
        .value(":via", s("send"))
        .value(":id", s(&message_id))
        .value(":at", s(&sent_at))
        .value(":seq", n(message.seq));
        let (send_window, count_send, under_limit) = send_token(limit, now_epoch_seconds());
        let mut transaction = store.transaction();
        if let Some(key) = &community_member {
            transaction = transaction.check(
                key,
                communities::member_with_access(COMMUNITY_MEMBER, now_epoch_seconds()),
            );
        }
        let result = transaction
            .update(&keys::room(room_id), advance, Some(still_last))
            .put_entity(&retained, Some(Condition::absent(MESSAGE_NEW)))
            .put_entity(&pointer, Some(Condition::absent(CLIENT_MESSAGE_NEW)))
            .update(
                &keys::member(room_id, me),
                read_own,
                Some(Condition::present(MEMBER)),
            )
            // Counted only when the message is stored.
            .update(
                &keys::send_window(me, send_window),
                count_send,
                Some(under_limit),
            )
            // A frame already in flight when the account was deleted stores nothing.
            .check(
                &profiles::keys::deleted_account(me),
                Condition::absent(SENDER_ALIVE),
            )
            // Nor does a muted, suspended or banned account's (no read of its own).
            .check(
                &crate::contexts::moderation::standing_key(me),
                Condition::new(
                    SENDER_FREE,
                    crate::contexts::moderation::free_to_post(&now_rfc3339()),
                ),
            )
            .commit()
            .await;
        match result {
            Ok(()) => {
                return Ok(Sent {
                    message,
                    duplicate: false,
                    audience: my_blocks.map(|blocked| KnownAudience {
                        subscriptions_version,
                        blocked,
                    }),
                });
            }
            Err(error) => {
                if error.failed(CLIENT_MESSAGE_NEW) {
                    // A concurrent retry of the same send won.
                    if let Some(message) =
                        stored_client_message(store, room_id, me, &input.client_message_id).await?
                    {
                        return Ok(Sent {
                            message,
                            duplicate: true,
                            audience: None,
                        });
                    }
                }
                if error.failed(UNDER_SEND_LIMIT) {
                    return Err(send_refused(limit, now_epoch_seconds()));
                }
                if error.failed(MEMBER) {
                    return Err(not_member());
                }
                if error.failed(COMMUNITY_MEMBER) {
                    return Err(outside_channel(store, &room).await);
                }
                if error.failed(SENDER_ALIVE) {
                    return Err(AppError::Forbidden("this account is being deleted".into()));
                }
                if error.failed(SENDER_FREE) {
                    return Err(AppError::Forbidden(
                        "your account is muted or suspended: you may not post".into(),
                    ));
                }
                if !error.failed(STILL_LAST) && !matches!(error, WriteError::Contended) {
                    return Err(error.into());
                }
                // Someone else's message came first: read the room again and retry.
                tokio::time::sleep(std::time::Duration::from_millis(
                    2 + u64::from(attempt) * 3 + u64::from(rand_jitter()),
                ))
                .await;
                let (again, version) = room_with_subscriptions_version(store, room_id).await?;
                room = again.ok_or_else(no_room)?;
                subscriptions_version = version;
            }
        }
    }
    Err(AppError::Conflict(
        "the room is busy; retry the send with the same clientMessageId".into(),
    ))
}

// The conditions of this context's transactions, by name.
/// The sender's account is not being erased.
pub(super) const SENDER_ALIVE: &str = "sender_alive";
/// The sender's account is not muted, suspended or banned.
const SENDER_FREE: &str = "sender_free";

/// No direct conversation between the two exists yet.
pub(super) const DM_FREE: &str = "dm_free";

/// The room is not stored yet.
pub(super) const ROOM_NEW: &str = "room_new";

/// The group has room for the members being added.
pub(super) const ROOM_HAS_SPACE: &str = "room_has_space";

/// The user is not a member of the room yet.
pub(super) const NOT_MEMBER_YET: &str = "not_member_yet";

/// The user is a member of the room.
pub(super) const MEMBER: &str = "member";

/// The user is a member of the channel's community.
pub(super) const COMMUNITY_MEMBER: &str = "community_member";

/// The community has room for another channel.
pub(super) const CHANNEL_SPACE: &str = "channel_space";

/// The community is there and not deleted.
pub(super) const COMMUNITY_LIVE: &str = "community_live";

/// The room's last message is still the one read before the send.
pub(super) const STILL_LAST: &str = "still_last";

/// The message is not stored yet.
pub(super) const MESSAGE_NEW: &str = "message_new";

/// No message with this client message id is stored yet.
pub(super) const CLIENT_MESSAGE_NEW: &str = "client_message_new";

/// The room exists.
pub(super) const ROOM_THERE: &str = "room_there";

/// The sender's send window is under the limit.
pub(super) const UNDER_SEND_LIMIT: &str = "under_send_limit";

/// The message is mine and not deleted.
pub(super) const OWN_LIVE_MESSAGE: &str = "own_live_message";

/// The message is not deleted (a moderator deletes it).
pub(super) const LIVE_MESSAGE: &str = "live_message";

/// A read receipt moves my read position forward.
pub(super) const READ_FORWARD: &str = "read_forward";

/// My inbox entry sorts earlier than the new time.
pub(super) const INBOX_LATER: &str = "inbox_later";

/// Edits my message: its text, `edited`, `editedAt`, `version` + 1. The caller
/// holding a `claim` then tells the room ([`push_live`]); otherwise the stream does.
pub async fn edit_message(
    store: &Store,
    me: &UserId,
    room_id: &str,
    message_id: &str,
    edit: MessageEdit,
    claim: Option<LiveClaim>,
) -> AppResult<Message> {
    check(&edit)?;
    require_member(store, me, room_id).await?;
    let output = change_message(
        store,
        room_id,
        message_id,
        "SET #text = :text, edited = :true, editedAt = :now",
        &edit.text,
        claim,
        Changer::Sender(me),
    )
    .await;
    let message: Message = match output {
        Ok(updated) => store::from_item(updated.unwrap_or_default())?,
        Err(error) => {
            return Err(explain_refused_change(store, me, room_id, message_id, error).await);
        }
    };
    refresh_preview(store, &message).await?;
    Ok(message)
}

/// Soft-deletes my message: the text goes, a tombstone stays in the history. Deleting
/// it again is a no-op. A `claim` as for [`edit_message`].
pub async fn delete_message<'a>(
    store: &Store,
    me: &'a UserId,
    room_id: &str,
    message_id: &str,
    claim: Option<LiveClaim>,
) -> AppResult<Message> {
    let (room, _) = room_as_member(store, me, room_id).await?;
    let delete = |by: Changer<'a>| {
        change_message(
            store,
            room_id,
            message_id,
            "SET #text = :text, deleted = :true, editedAt = :now",
            "",
            claim,
            by,
        )
    };
    let message: Message = match delete(Changer::Sender(me)).await {
        Ok(updated) => store::from_item(updated.unwrap_or_default())?,
        Err(error) => {
            let existing: Option<Message> = store.get(&keys::message(room_id, message_id)).await?;
            // A channel's community moderators delete anyone's message in it.
            let moderator = match &existing {
                Some(found) if &found.sender_id != me && room.kind == RoomKind::Channel => {
                    moderates_channel(store, me, &room).await?
                }
                _ => false,
            };
            match existing {
                // Deleted already (by me, or by a moderator when I moderate): the same
                // outcome as the first time.
                Some(existing) if existing.deleted && (&existing.sender_id == me || moderator) => {
                    return Ok(existing);
                }
                Some(_) if moderator => match delete(Changer::Moderator).await {
                    Ok(updated) => store::from_item(updated.unwrap_or_default())?,
                    Err(error) => {
                        return Err(
                            explain_refused_change(store, me, room_id, message_id, error).await,
                        );
                    }
                },
                _ => {
                    return Err(
                        explain_refused_change(store, me, room_id, message_id, error).await,
                    );
                }
            }
        }
    };
    refresh_preview(store, &message).await?;
    Ok(message)
}

/// Whether `me` moderates a channel's community (its moderators, admins and owner).
async fn moderates_channel(store: &Store, me: &UserId, room: &Room) -> AppResult<bool> {
    let community_id = room.community_id.as_deref().ok_or_else(no_room)?;
    let loaded = communities::read_as(store, me, false, community_id).await?;
    Ok(communities::allows(
        loaded.community.kind,
        &loaded.standing,
        communities::Permission::Moderate,
    ))
}

/// Who changes a message: its sender, or a moderator of the channel it is in (who may
/// delete it, not edit it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Changer<'a> {
    Sender(&'a UserId),
    Moderator,
}

/// One change to my own, not deleted message: `set` (a `SET` clause) sets `#text` to
/// `text` and whatever else it names (`:true`, `:now`); `version` goes up by one, and
/// the change carries the route's `claim` on pushing it (or none). Returns the message
/// as it is now, or the refusal for [`explain_refused_change`].
pub(super) async fn change_message(
    store: &Store,
    room_id: &str,
    message_id: &str,
    set: &str,
    text: &str,
    claim: Option<LiveClaim>,
    by: Changer<'_>,
) -> Result<Option<Item>, WriteError> {
    let update = claimed_update(set, "ADD version :one", claim)
        .name("#text", "text")
        .value(":text", s(text))
        .value(":true", AttributeValue::Bool(true))
        .value(":now", s(now_rfc3339()))
        .value(":one", n(1));
    let mine_and_live = match by {
        Changer::Sender(me) => Condition::new(
            OWN_LIVE_MESSAGE,
            Expr::new("attribute_exists(PK) AND senderId = :me AND deleted = :false")
                .value(":false", AttributeValue::Bool(false))
                .value(":me", s(me.as_str())),
        ),
        Changer::Moderator => Condition::new(
            LIVE_MESSAGE,
            Expr::new("attribute_exists(PK) AND deleted = :false")
                .value(":false", AttributeValue::Bool(false)),
        ),
    };
    store
        .update(
            &keys::message(room_id, message_id),
            update,
            Some(mine_and_live),
            Returning::AllNew,
        )
        .await
}

/// Why an edit or delete was refused: no such message (404), someone else's (403),
/// deleted (409).
pub(super) async fn explain_refused_change(
    store: &Store,
    me: &UserId,
    room_id: &str,
    message_id: &str,
    error: WriteError,
) -> AppError {
    match error {
        error if error.failed(OWN_LIVE_MESSAGE) => match store
            .get::<Message>(&keys::message(room_id, message_id))
            .await
        {
            Ok(Some(message)) if &message.sender_id != me => {
                AppError::Forbidden("only its sender may change a message".into())
            }
            Ok(Some(_)) => AppError::Conflict("the message was deleted".into()),
            Ok(None) => AppError::NotFound("no such message".into()),
            Err(error) => error,
        },
        other => other.into(),
    }
}

/// Keeps the room's preview in step when its latest message changes.
pub(super) async fn refresh_preview(store: &Store, message: &Message) -> AppResult<()> {
    let preview = Preview {
        message_id: message.message_id.clone(),
        sender_id: message.sender_id.clone(),
        text: if crate::contexts::moderation::is_hidden(message.screening.as_ref()) {
            crate::contexts::moderation::HIDDEN_TEXT.to_owned()
        } else {
            preview_text(&message.text)
        },
        sent_at: message.sent_at.clone(),
        deleted: message.deleted,
    };
    let update = Expr::new("SET lastMessage = :preview")
        .value(":preview", AttributeValue::M(store::to_item(&preview)?));
    let still_last = Condition::new(
        STILL_LAST,
        Expr::new("lastMessageId = :id").value(":id", s(&message.message_id)),
    );
    match store
        .update(
            &keys::room(&message.room_id),
            update,
            Some(still_last),
            Returning::Nothing,
        )
        .await
    {
        // A later message is the preview now: nothing to refresh.
        Ok(_) => Ok(()),
        Err(error) if error.failed(STILL_LAST) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Marks the room read up to `message_id` (a read receipt). Moving backwards is a
/// no-op. Returns my member item after the change, and whether it moved (only then
/// is there a receipt to push: by the caller holding a `claim`, else by the stream).
pub async fn mark_read(
    store: &Store,
    me: &UserId,
    room_id: &str,
    message_id: &str,
    claim: Option<LiveClaim>,
) -> AppResult<(Member, bool)> {
    let member = require_member(store, me, room_id).await?;
    let message: Message = store
        .get(&keys::message(room_id, message_id))
        .await?
        .ok_or_else(|| AppError::invalid_field("messageId", "no such message in this room"))?;
    if member.read_seq >= message.seq {
        return Ok((member, false));
    }
    let at = now_rfc3339();
    let update = claimed_update(
        "SET lastReadMessageId = :id, lastReadAt = :at, readSeq = :seq, readVia = :via",
        "",
        claim,
    )
    .value(":via", s("read"))
    .value(":id", s(message_id))
    .value(":at", s(&at))
    .value(":seq", n(message.seq));
    let forward = Condition::new(
        READ_FORWARD,
        "attribute_exists(PK) AND (attribute_not_exists(readSeq) OR readSeq < :seq)",
    );
    match store
        .update(
            &keys::member(room_id, me),
            update,
            Some(forward),
            Returning::AllNew,
        )
        .await
    {
        Ok(updated) => Ok((store::from_item(updated.unwrap_or_default())?, true)),
        // Read that far already (or left meanwhile): the member item as it is.
        Err(error) if error.failed(READ_FORWARD) => {
            Ok((require_member(store, me, room_id).await?, false))
        }
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------
// Live events: subscriptions, typing, presence
// ---------------------------------------------------------------------------------

/// Subscribes a connection to a room's live events (members only). Both items carry
/// the connection's TTL, so a lost `$disconnect` cleans itself up.
pub async fn subscribe(
    store: &Store,
    me: &UserId,
    room_id: &str,
    connection_id: &str,
    honoured_until: Option<i64>,
) -> AppResult<Room> {
    let (room, _) = room_as_member(store, me, room_id).await?;
    // A learner's subscription to a course-linked community's channel ends with their
    // access, as a token's does (one GetItem).
    let honoured_until = match room.kind {
        RoomKind::Channel => {
            let access_until = store
                .get::<communities::Member>(&community_member_key(&room, me)?)
                .await?
                .and_then(|m| m.access_until);
            match (honoured_until, access_until) {
                (Some(token), Some(access)) => Some(token.min(access)),
                (token, access) => token.or(access),
            }
        }
        _ => honoured_until,
    };
    let subscription = Subscription {
        room_id: room_id.to_owned(),
        connection_id: connection_id.to_owned(),
        user_id: me.clone(),
        honoured_until,
    };
    let room_side = RoomSubscription {
        subscription: &subscription,
        expires_at: now_epoch_seconds() + crate::contexts::realtime::CONNECTION_TTL_SECONDS,
    };
    let mut transaction = store
        .transaction()
        .put_entity(&room_side, None)
        .put_entity(&ConnectionSubscription(room_side.clone()), None)
        // Still a member when the subscription lands (see `leave_room`).
        .check(&keys::member(room_id, me), Condition::present(MEMBER));
    if room.kind == RoomKind::Channel {
        // And still in the channel's community (see `forget_channel_member`).
        transaction = transaction.check(
            &community_member_key(&room, me)?,
            communities::member_with_access(COMMUNITY_MEMBER, now_epoch_seconds()),
        );
    }
    match transaction.commit().await {
        Ok(()) => {
            subscriptions_changed(store, room_id).await?;
            Ok(room)
        }
        Err(error) if error.failed(MEMBER) => Err(not_member()),
        Err(error) if error.failed(COMMUNITY_MEMBER) => Err(outside_channel(store, &room).await),
        Err(error) => Err(error.into()),
    }
}

/// Bumps the room's [`SUBSCRIPTIONS_VERSION`] after its subscriptions changed (and
/// before the change is acknowledged): a send that read the old version no longer
/// commits, and kept subscriber lists of the old version are not used again. Retried
/// when a send's transaction holds the room item; nothing for a room that is gone.
pub async fn subscriptions_changed(store: &Store, room_id: &str) -> AppResult<()> {
    let bump = || Expr::new(format!("ADD {SUBSCRIPTIONS_VERSION} :one")).value(":one", n(1));
    for attempt in 0..SEND_ATTEMPTS {
        match store
            .update(
                &keys::room(room_id),
                bump(),
                Some(Condition::present(ROOM_THERE)),
                Returning::Nothing,
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) if error.failed(ROOM_THERE) => return Ok(()),
            Err(WriteError::Contended) => {
                tokio::time::sleep(std::time::Duration::from_millis(
                    2 + u64::from(attempt) * 3 + u64::from(rand_jitter()),
                ))
                .await;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict("the room is busy; retry".into()))
}

/// Ends a connection's subscription; my inbox entry catches up with the room (it is
/// not moved while I watch the room, see [`touch_inboxes`]).
pub async fn unsubscribe(
    store: &Store,
    me: &UserId,
    room_id: &str,
    connection_id: &str,
) -> AppResult<()> {
    store
        .batch_delete(&[
            keys::subscription(room_id, connection_id),
            keys::connection_subscription(connection_id, room_id),
        ])
        .await?;
    subscriptions_changed(store, room_id).await?;
    touch_own_inbox(store, me, room_id).await
}

/// Moves my inbox entry of a room to the room's latest message: GetItem room +
/// conditional UpdateItem.
pub(super) async fn touch_own_inbox(store: &Store, me: &UserId, room_id: &str) -> AppResult<()> {
    let Some(room) = get_room(store, room_id).await? else {
        return Ok(());
    };
    let Some(at) = room.last_message_at else {
        return Ok(());
    };
    touch_inbox(store, me, room_id, &at).await
}

/// Moves one inbox entry forward (never back, never recreating a removed one).
pub(super) async fn touch_inbox(
    store: &Store,
    user: &UserId,
    room_id: &str,
    at: &str,
) -> AppResult<()> {
    let update = Expr::new("SET GSI2SK = :sort").value(":sort", s(keys::inbox_sort(at, room_id)));
    let later = Condition::new(INBOX_LATER, "attribute_exists(PK) AND (GSI2SK < :sort)");
    match store
        .update(
            &keys::membership(user, room_id),
            update,
            Some(later),
            Returning::Nothing,
        )
        .await
    {
        // Gone, or already sorted at least that late: nothing to do.
        Ok(_) => Ok(()),
        Err(error) if error.failed(INBOX_LATER) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Drops every subscription of a closed connection: Query `PK=WSCONN#<c> AND
/// begins_with(SK, SUB#)` + BatchWriteItem deletes.
pub async fn forget_connection(store: &Store, connection_id: &str) -> AppResult<()> {
    let (items, _) = store
        .query(
            &KeyQuery::partition(format!("WSCONN#{connection_id}"))
                .prefix("SUB#")
                .limit(100),
        )
        .await?;
    let subscriptions: Vec<Subscription> = items
        .into_iter()
        .filter_map(|item| store::from_item::<Subscription>(item).ok())
        .collect();
    let doomed: Vec<Key> = subscriptions
        .iter()
        .flat_map(|sub| {
            [
                keys::subscription(&sub.room_id, connection_id),
                keys::connection_subscription(connection_id, &sub.room_id),
            ]
        })
        .collect();
    store.batch_delete(&doomed).await?;
    for sub in &subscriptions {
        subscriptions_changed(store, &sub.room_id).await?;
        touch_own_inbox(store, &sub.user_id, &sub.room_id).await?;
    }
    Ok(())
}

/// Starts (or renews) or stops my typing indicator in a room. Returns when it expires
/// (epoch milliseconds), `None` when stopped.
pub async fn set_typing(
    store: &Store,
    me: &UserId,
    room_id: &str,
    typing: bool,
    seconds: i64,
) -> AppResult<Option<i64>> {
    require_member(store, me, room_id).await?;
    if !typing {
        store.batch_delete(&[keys::typing(room_id, me)]).await?;
        return Ok(None);
    }
    // Milliseconds for the indicator itself; whole seconds (rounded up) for TTL.
    let expires_at_ms = now_epoch_millis() + seconds.max(1) * 1000;
    let indicator = TypingIndicator {
        room_id: room_id.to_owned(),
        user_id: me.clone(),
        expires_at_ms,
    };
    store.put(indicator.item()?).await?;
    Ok(Some(expires_at_ms))
}

/// Sets my presence. `Offline` is what others see when I have no open connection.
pub async fn set_presence(
    store: &Store,
    me: &UserId,
    status: PresenceStatus,
) -> AppResult<Presence> {
    let presence = Presence {
        user_id: me.clone(),
        status,
        updated_at: now_rfc3339(),
    };
    store.put(presence.item()?).await?;
    Ok(presence)
}

/// On `$connect`: online, unless I chose away or busy before. Returns the new presence
/// when it changed.
pub async fn came_online(store: &Store, me: &UserId) -> AppResult<Option<Presence>> {
    let current: Option<Presence> = store.get(&keys::presence(me)).await?;
    match current {
        Some(p)
            if matches!(
                p.status,
                PresenceStatus::Online | PresenceStatus::Away | PresenceStatus::Busy
            ) =>
        {
            Ok(None)
        }
        _ => set_presence(store, me, PresenceStatus::Online)
            .await
            .map(Some),
    }
}

/// On `$disconnect`: offline once my last connection is gone. Returns the new presence
/// when it changed.
pub async fn maybe_offline(store: &Store, me: &UserId) -> AppResult<Option<Presence>> {
    if !crate::contexts::realtime::connections_of(store, me)
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let current: Option<Presence> = store.get(&keys::presence(me)).await?;
    if current
        .as_ref()
        .is_some_and(|p| p.status == PresenceStatus::Offline)
    {
        return Ok(None);
    }
    set_presence(store, me, PresenceStatus::Offline)
        .await
        .map(Some)
}

// ---------------------------------------------------------------------------------
// Live pushes: a WebSocket route pushes its own change; the stream backs it up
// ---------------------------------------------------------------------------------

/// The change is not marked pushed yet (neither it nor a later one).
pub(super) const NOT_PUSHED_YET: &str = "not_pushed_yet";
/// How many times the stream looks at a claimed change before it fails the record (to
/// be delivered again) rather than wait on.
const MAX_TAKE_OVER_LOOKS: u32 = 64;
/// A route's claim renewal: the change is not marked pushed and no longer claim covers it.
const CLAIM_RENEWABLE: &str = "claim_renewable";

/// A change a WebSocket route made under a [`LiveClaim`] and pushes itself: the event,
/// who caused it (a block between them and a subscriber keeps it from that
/// subscriber), the item it changed and the change's token (a message's `version`, a
/// member's `readSeq`).
#[derive(Debug)]
pub struct LiveChange<'a> {
    pub room_id: &'a str,
    pub event: &'a RoomEvent,
    pub actor: &'a UserId,
    pub key: Key,
    pub token: u64,
    /// What the change's use case already knows of its audience (a live send).
    pub known: Option<&'a KnownAudience>,
}

/// Pushes a change this route made under `claim` to the room's subscribers who may
/// hear of its actor, as the stream would, then marks it pushed so the stream does
/// not push it again. A route that gets here in the second half of its claim leaves
/// the push to the stream (`None`): the stream may take over once the claim ends, and
/// the two must not both push.
#[instrument(skip_all, fields(room_id = %change.room_id, token = change.token))]
pub async fn push_live(
    store: &Store,
    pusher: &Pusher,
    cache: &SubscriberCache,
    change: LiveChange<'_>,
    claim: LiveClaim,
) -> AppResult<Option<Report>> {
    if !claim.pushable_at(now_epoch_millis()) {
        tracing::warn!("too late to push the change: the stream will");
        return Ok(None);
    }
    let targets: Vec<_> = match change.known {
        // A live send: the subscribers at the version it committed under (kept
        // between invocations) and the sender's blocks it read beside its send.
        Some(known) => {
            let subscribers = cache
                .subscribers(store, change.room_id, known.subscriptions_version)
                .await?;
            audience_among(&known.blocked, &subscribers)
        }
        None => {
            audience(
                store,
                change.actor,
                &subscribers(store, change.room_id).await?,
            )
            .await?
        }
    }
    .iter()
    .map(Subscription::target)
    .collect();
    let data = serde_json::to_vec(change.event).map_err(AppError::internal)?;
    let Some(report) = broadcast_under_claim(store, pusher, &change, claim, &targets, &data).await
    else {
        return Ok(None);
    };
    if report.gone > 0 {
        // Its subscriptions are forgotten now, and the room's version moved.
        cache.forget(change.room_id);
    }
    mark_pushed(
        store,
        &change.key,
        change.token,
        PushedBy::Route,
        now_epoch_millis(),
    )
    .await?;
    Ok(Some(report))
}

/// Posts `data` to `targets`, renewing the route's claim halfway through it for as long
/// as the posts last (a large room, throttled posts), so the stream does not take the
/// push over while the route is still posting. `None` when a renewal found the change
/// taken over (by the stream, or superseded by a later change's mark): the posts stop
/// there and the stream pushes the change.
async fn broadcast_under_claim(
    store: &Store,
    pusher: &Pusher,
    change: &LiveChange<'_>,
    mut claim: LiveClaim,
    targets: &[crate::contexts::realtime::push::Target],
    data: &[u8],
) -> Option<Report> {
    let posts = pusher.broadcast(store, targets, data);
    tokio::pin!(posts);
    loop {
        let wait = (claim.renew_due_ms() - now_epoch_millis()).max(0);
        tokio::select! {
            report = &mut posts => return Some(report),
            () = tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())) => {
                let renewed = claim.renewed(now_epoch_millis());
                match renew_claim(store, &change.key, change.token, renewed).await {
                    Ok(true) => claim = renewed,
                    Ok(false) => {
                        tracing::warn!("the change was taken over while its route posted: stopping");
                        return None;
                    }
                    // The stream may take over at the claim's end: at least once.
                    Err(error) => {
                        tracing::warn!(%error, "renewing the claim on a push failed");
                        claim = renewed;
                    }
                }
            }
        }
    }
}

/// Extends a route's claim on pushing the change of `token` to `claim.until_ms`,
/// unless it or a later change is marked pushed already (`false`: the route stops).
/// A claim already lasting longer (a later change's) is kept: it covers this one too.
async fn renew_claim(store: &Store, key: &Key, token: u64, claim: LiveClaim) -> AppResult<bool> {
    let update =
        Expr::new(format!("SET {LIVE_PUSH_UNTIL} = :until")).value(":until", n(claim.until_ms));
    let unmarked_and_shorter = Condition::new(
        CLAIM_RENEWABLE,
        Expr::new(format!(
            "attribute_exists(PK) AND (attribute_not_exists({LIVE_PUSHED}) OR {LIVE_PUSHED} < :token) \
             AND (attribute_not_exists({LIVE_PUSH_UNTIL}) OR {LIVE_PUSH_UNTIL} < :until)"
        ))
        .value(":token", n(token))
        .value(":until", n(claim.until_ms)),
    );
    match store
        .update(key, update, Some(unmarked_and_shorter), Returning::Nothing)
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error.failed(CLAIM_RENEWABLE) => Ok(store
            .get_item(key)
            .await?
            .is_some_and(|item| LiveMarks::of(&item).pushed.is_none_or(|p| p < token as i64))),
        Err(error) => Err(error.into()),
    }
}

/// Marks the change of `token` on `key` pushed `by` a route (after its posts) or the
/// stream (before them, and only once no claim on the item lasts past `now_ms`: a
/// route still posting renews its claim), unless it or a later change is marked
/// already: `true` when this call marked it.
pub async fn mark_pushed(
    store: &Store,
    key: &Key,
    token: u64,
    by: PushedBy,
    now_ms: i64,
) -> AppResult<bool> {
    let update = Expr::new(format!(
        "SET {LIVE_PUSHED} = :token, {LIVE_PUSHED_BY} = :by"
    ))
    .value(":token", n(token))
    .value(":by", s(by.as_str()));
    let unmarked = format!(
        "attribute_exists(PK) AND (attribute_not_exists({LIVE_PUSHED}) OR {LIVE_PUSHED} < :token)"
    );
    let unmarked = Expr::new(unmarked).value(":token", n(token));
    let first = Condition::new(
        NOT_PUSHED_YET,
        match by {
            PushedBy::Route => unmarked,
            PushedBy::Stream => unmarked
                .and(Expr::new(format!(
                    "attribute_not_exists({LIVE_PUSH_UNTIL}) OR {LIVE_PUSH_UNTIL} <= :now"
                )))
                .value(":now", n(now_ms)),
        },
    );
    match store
        .update(key, update, Some(first), Returning::Nothing)
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error.failed(NOT_PUSHED_YET) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// The stream's side of a change a route claimed until `until_ms`: looks again after
/// doubling waits ([`live_push_poll_ms`]) while the claim lasts, following the claim
/// when its route renews it. `false` when the route marked it pushed (or the item is
/// gone); `true` when the claim ended unmarked and the stream marked it (now, or on an
/// earlier delivery of this record), so the caller pushes it (the route died, or was
/// too slow to start).
pub async fn take_over_push(
    store: &Store,
    key: &Key,
    token: u64,
    mut until_ms: i64,
) -> AppResult<bool> {
    // Each look either waits for the claim or finds the claim's end moved: a route
    // renews it only while it posts, which its function's timeout bounds.
    for attempt in 0..MAX_TAKE_OVER_LOOKS {
        let now = now_epoch_millis();
        if now >= until_ms && mark_pushed(store, key, token, PushedBy::Stream, now).await? {
            return Ok(true);
        }
        if now < until_ms {
            let wait = (until_ms - now).min(live_push_poll_ms(attempt));
            tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())).await;
        }
        let Some(item) = store.get_item(key).await? else {
            return Ok(false);
        };
        let marks = LiveMarks::of(&item);
        // A renewed claim (this change's route still posting, or a later change's).
        until_ms = until_ms.max(marks.until_ms.unwrap_or(i64::MIN));
        let now = now_epoch_millis();
        match live_push(marks, token) {
            LivePush::Done => return Ok(false),
            LivePush::Stream => return Ok(true),
            // A later change is marked: whether this one was pushed is not known
            // here (its route's mark would have come before the later change was
            // written, and the batch's records did not show it), so once the claim
            // ended it is pushed, unmarked: at least once rather than never.
            LivePush::Superseded if now >= until_ms => return Ok(true),
            LivePush::Superseded | LivePush::Claimed { .. } => {}
        }
    }
    tracing::warn!(
        token,
        "the claim on a change kept moving: leaving it to a redelivery"
    );
    Err(AppError::internal(
        "a claimed change was neither pushed nor released",
    ))
}

// ---------------------------------------------------------------------------------
// Community channels
// ---------------------------------------------------------------------------------

/// A community member's first use of a channel stores their member items (the room's
/// side, with their read position, and theirs, which is not in the inbox), under a
/// check that they are in the community. Repeatable. No member count or subscriptions
/// version moves: a channel's audience is its subscribers.
pub(super) async fn join_channel(store: &Store, me: &UserId, room: &Room) -> AppResult<Member> {
    let at = now_rfc3339();
    let (member, items) = new_member(room, me, me, &at)?;
    let (member_item, membership_item) = items;
    let result = store
        .transaction()
        .put(member_item, Some(Condition::absent(NOT_MEMBER_YET)))
        .put(membership_item, None)
        .check(
            &community_member_key(room, me)?,
            communities::member_with_access(COMMUNITY_MEMBER, now_epoch_seconds()),
        )
        .commit()
        .await;
    match result {
        Ok(()) => Ok(member),
        Err(error) if error.failed(COMMUNITY_MEMBER) => Err(outside_channel(store, room).await),
        // A concurrent first use stored it.
        Err(error) if error.failed(NOT_MEMBER_YET) => store
            .get::<Member>(&keys::member(&room.room_id, me))
            .await?
            .ok_or_else(not_member),
        Err(error) => Err(error.into()),
    }
}

/// Channels are managed by the community's admins and owner (its `EditSettings`
/// permission).
async fn require_channel_admin(store: &Store, me: &UserId, room: &Room) -> AppResult<()> {
    let community_id = room.community_id.as_deref().ok_or_else(no_room)?;
    let loaded = communities::read_as(store, me, false, community_id).await?;
    communities::require(
        loaded.community.kind,
        &loaded.standing,
        communities::Permission::EditSettings,
    )
}

/// `POST /v1/communities/{communityId}/channels`: a new channel (admins and the owner;
/// at most [`MAX_CHANNELS`] per community). Every member of the community may use it at
/// once.
#[instrument(skip(store, input))]
pub async fn create_channel(
    store: &Store,
    me: &Principal,
    community_id: &str,
    input: NewChannel,
) -> AppResult<Room> {
    check(&input)?;
    communities::load_for(
        store,
        me,
        community_id,
        communities::Permission::EditSettings,
    )
    .await?;
    let room = Room {
        room_id: new_ulid(),
        kind: RoomKind::Channel,
        name: Some(input.name.trim().to_owned()),
        community_id: Some(community_id.to_owned()),
        dm_user_ids: vec![],
        created_by: me.user_id.clone(),
        created_at: now_rfc3339(),
        retention_days: input.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
        member_count: 0,
        message_count: 0,
        last_message_id: None,
        last_message_at: None,
        last_message: None,
        name_by: None,
        screening: None,
    };
    let count = Expr::new("ADD channels :one SET communityId = :community, entity = :entity")
        .value(":one", n(1))
        .value(":community", s(community_id))
        .value(":entity", s(ChannelCount::NAME));
    let space = Condition::new(
        CHANNEL_SPACE,
        Expr::new("attribute_not_exists(channels) OR channels < :max")
            .value(":max", n(MAX_CHANNELS)),
    );
    let live = Condition::new(
        COMMUNITY_LIVE,
        "attribute_exists(PK) AND attribute_not_exists(deletedAt)",
    );
    let result = store
        .transaction()
        .put(room.item()?, Some(Condition::absent(ROOM_NEW)))
        .update(&keys::channel_count(community_id), count, Some(space))
        .check(&communities::keys::community(community_id), live)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(room),
        Err(error) if error.failed(CHANNEL_SPACE) => Err(AppError::Conflict(format!(
            "a community has at most {MAX_CHANNELS} channels"
        ))),
        Err(error) if error.failed(COMMUNITY_LIVE) => Err(communities::no_such_community()),
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /v1/communities/{communityId}/channels/{roomId}`: admins and the owner.
/// The channel is a 404 at once; its subscriptions end, and its members and messages
/// go after ([`clear_channel`]). Repeatable (a second delete is a 404).
#[instrument(skip(store))]
pub async fn delete_channel(
    store: &Store,
    me: &Principal,
    community_id: &str,
    room_id: &str,
) -> AppResult<()> {
    communities::load_for(
        store,
        me,
        community_id,
        communities::Permission::EditSettings,
    )
    .await?;
    let room = get_room(store, room_id)
        .await?
        .filter(|room| {
            room.kind == RoomKind::Channel && room.community_id.as_deref() == Some(community_id)
        })
        .ok_or_else(|| AppError::NotFound("no such channel in this community".into()))?;
    remove_channel(store, &room).await
}

/// Removes a channel's room item and its place in the count; then [`clear_channel`].
pub(super) async fn remove_channel(store: &Store, room: &Room) -> AppResult<()> {
    let community_id = room.community_id.as_deref().ok_or_else(no_room)?;
    let uncount = Expr::new("ADD channels :minus").value(":minus", n(-1));
    let result = store
        .transaction()
        .delete(
            &keys::room(&room.room_id),
            Some(Condition::present(ROOM_THERE)),
        )
        .update(&keys::channel_count(community_id), uncount, None)
        .commit()
        .await;
    match result {
        Ok(()) => clear_channel(store, &room.room_id).await,
        // Removed already: a retry finishes the clearing.
        Err(error) if error.failed(ROOM_THERE) => clear_channel(store, &room.room_id).await,
        Err(error) => Err(error.into()),
    }
}

/// Everything left of a removed channel: its subscriptions (both sides), member items
/// with their mirrors, messages, client message ids and typing indicators, one Query
/// page of 200 at a time until none is left.
pub async fn clear_channel(store: &Store, room_id: &str) -> AppResult<()> {
    loop {
        let (items, _) = store
            .query(&KeyQuery::partition(keys::room_partition(room_id)).limit(200))
            .await?;
        if items.is_empty() {
            return Ok(());
        }
        let mut doomed = Vec::with_capacity(items.len() * 2);
        for item in &items {
            let Some(sk) = item.get(store::SK).and_then(|v| v.as_s().ok()) else {
                continue;
            };
            doomed.push(Key::new(keys::room_partition(room_id), sk.clone()));
            if let Some(connection_id) = sk.strip_prefix("SUB#") {
                doomed.push(keys::connection_subscription(connection_id, room_id));
            } else if let Some(user) = sk.strip_prefix("MEMBER#") {
                let user = UserId::parse(user).map_err(AppError::internal)?;
                doomed.push(keys::membership(&user, room_id));
            }
        }
        store.batch_delete(&doomed).await?;
    }
}

/// Someone left a channel's community (left, removed, banned, erased, or the community
/// was deleted): their member item of each of its channels goes, and every
/// subscription of theirs to them ends. Run by the stream (the community member
/// item's removal); sends and subscribes check the community themselves meanwhile.
/// Their own side (`USER#<u> / ROOM#<channel>`, in no inbox) stays: it is how their
/// export and erasure find the messages they wrote there.
#[instrument(skip(store))]
pub async fn forget_channel_member(
    store: &Store,
    user: &UserId,
    community_id: &str,
) -> AppResult<()> {
    for room in channels_of(store, community_id).await? {
        store
            .batch_delete(&[keys::member(&room.room_id, user)])
            .await?;
        forget_subscriptions_to(store, user, &room.room_id).await?;
    }
    Ok(())
}

/// A deleted community's channels go ([`remove_channel`]).
#[instrument(skip(store))]
pub async fn remove_channels_of(store: &Store, community_id: &str) -> AppResult<()> {
    for room in channels_of(store, community_id).await? {
        remove_channel(store, &room).await?;
    }
    Ok(())
}
