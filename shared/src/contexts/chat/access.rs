//! Chat: access patterns: the reads this context serves from the table.

use super::*;

// ---------------------------------------------------------------------------------
// Rooms
// ---------------------------------------------------------------------------------

pub async fn get_preferences(store: &Store, user: &UserId) -> AppResult<ChatPreferences> {
    Ok(store
        .get::<ChatPreferences>(&keys::preferences(user))
        .await?
        .unwrap_or_default())
}

/// Refuses `me` reaching `other` (a new direct conversation, or adding them to a
/// group): never across a block, and strangers only when they accept anyone.
pub(super) async fn check_reachable(
    store: &Store,
    me: &UserId,
    other: &UserId,
    field: &str,
) -> AppResult<Relationship> {
    if me == other {
        return Err(AppError::invalid_field(field, "must be someone else"));
    }
    if graph::blocked_between(store, me, other).await? {
        return Err(AppError::Forbidden("you cannot message this user".into()));
    }
    let relationship = graph::relationship(store, me, other).await?;
    let policy = get_preferences(store, other).await?.allow_dms_from;
    if !dm_allowed(policy, relationship) {
        return Err(AppError::Forbidden(
            "this user accepts messages from their connections only".into(),
        ));
    }
    Ok(relationship)
}

/// Whether an account at trust `level` may start one more direct conversation with
/// someone it is not connected to: level 0 may not (403); level 1 may a few a day (a
/// counter, `stranger-dms`; past it a 429); higher levels may freely.
pub(super) async fn allow_stranger_dm(
    store: &Store,
    me: &UserId,
    level: TrustLevel,
) -> AppResult<()> {
    match level.limits().stranger_dms_per_day {
        None => Ok(()),
        Some(0) => Err(AppError::Forbidden(format!(
            "accounts at trust level {level} may start conversations with their connections only"
        ))),
        Some(quota) => {
            let policy = RatePolicy {
                name: "stranger-dms".to_owned(),
                quota,
                window_seconds: 86_400,
            };
            let decision =
                crate::table::rate_limit::hit(store, me, &policy, now_epoch_seconds()).await?;
            if decision.allowed {
                Ok(())
            } else {
                Err(decision.refusal())
            }
        }
    }
}

pub async fn get_room(store: &Store, room_id: &str) -> AppResult<Option<Room>> {
    store.get(&keys::room(room_id)).await
}

/// The room and my member item, or 404 (no room) / 403 (not a member). One BatchGetItem.
pub async fn room_as_member(
    store: &Store,
    me: &UserId,
    room_id: &str,
) -> AppResult<(Room, Member)> {
    let items = store
        .batch_get_items(&[keys::room(room_id), keys::member(room_id, me)])
        .await?;
    let mut room = None;
    let mut member = None;
    for item in items {
        match item
            .get(store::SK)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
        {
            Some("META") => room = Some(store::from_item::<Room>(item)?),
            Some(_) => member = Some(store::from_item::<Member>(item)?),
            None => {}
        }
    }
    let room = room.ok_or_else(no_room)?;
    if room.kind == RoomKind::Channel {
        let member = channel_member(store, me, &room, member).await?;
        return Ok((room, member));
    }
    let member = member.ok_or_else(not_member)?;
    Ok((room, member))
}

/// Am I a member? One BatchGetItem (a channel: one GetItem more, see
/// [`room_as_member`]).
pub async fn require_member(store: &Store, me: &UserId, room_id: &str) -> AppResult<Member> {
    room_as_member(store, me, room_id)
        .await
        .map(|(_, member)| member)
}

/// The community member item that admits `me` to a channel.
pub(super) fn community_member_key(room: &Room, me: &UserId) -> AppResult<Key> {
    let community_id = room.community_id.as_deref().ok_or_else(no_room)?;
    Ok(communities::keys::member(community_id, me))
}

/// My member item of a channel: a channel's members are its community's, so my
/// community member item decides (one GetItem); a member's first use of the channel
/// stores their member item ([`join_channel`]).
async fn channel_member(
    store: &Store,
    me: &UserId,
    room: &Room,
    member: Option<Member>,
) -> AppResult<Member> {
    match member {
        Some(member) => {
            let admitted = store
                .get::<communities::Member>(&community_member_key(room, me)?)
                .await?
                .is_some_and(|m| m.has_access(now_epoch_seconds()));
            if !admitted {
                return Err(outside_channel(store, room).await);
            }
            Ok(member)
        }
        None => join_channel(store, me, room).await,
    }
}

/// The refusal of someone outside a channel's community: `403 notMember`, except that
/// a secret (or deleted) community's channel is a room that does not exist (`404`), so
/// that no one learns of a secret community from its channels. One GetItem.
pub(super) async fn outside_channel(store: &Store, room: &Room) -> AppError {
    let Some(community_id) = room.community_id.as_deref() else {
        return no_room();
    };
    match communities::is_listed(store, community_id).await {
        Ok(true) => not_member(),
        Ok(false) => no_room(),
        Err(error) => error,
    }
}

/// `GET /v1/communities/{communityId}/channels`: the community's channels (at most
/// [`MAX_CHANNELS`], one page), each with my unread count. Members only (a secret
/// community's outsiders get its 404). One BatchGetItem for the community, one Query,
/// one BatchGetItem of my member items.
pub async fn community_channels(
    store: &Store,
    me: &Principal,
    community_id: &str,
) -> AppResult<Vec<ChannelEntry>> {
    let loaded = communities::load(store, me, community_id).await?;
    if !loaded.standing.is_member() {
        return Err(AppError::Forbidden(
            "only the community's members see its channels".into(),
        ));
    }
    let channels = channels_of(store, community_id).await?;
    let mine: HashMap<String, Member> = store
        .batch_get::<Member>(
            &channels
                .iter()
                .map(|room| keys::member(&room.room_id, &me.user_id))
                .collect::<Vec<_>>(),
        )
        .await?
        .into_iter()
        .map(|m| (m.room_id.clone(), m))
        .collect();
    Ok(channels
        .into_iter()
        .map(|room| {
            let member = mine.get(&room.room_id);
            ChannelEntry {
                // Before my first visit: everything is unread.
                unread_count: unread(&room, member),
                last_read_message_id: member.and_then(|m| m.last_read_message_id.clone()),
                room: room.for_viewer(&me.user_id),
            }
        })
        .collect())
}

/// A community's channels (GSI1 `CHANNELS#<communityId>`): one Query.
pub async fn channels_of(store: &Store, community_id: &str) -> AppResult<Vec<Room>> {
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::channels_of(community_id))
                .on(Index::Gsi1)
                .limit(MAX_CHANNELS),
        )
        .await?;
    items.into_iter().map(store::from_item).collect()
}

/// `GET /v1/rooms/{roomId}`: the room, its members' read positions (first 100) and who
/// is typing now.
pub async fn room_detail(store: &Store, me: &UserId, room_id: &str) -> AppResult<RoomDetail> {
    let (room, mine) = room_as_member(store, me, room_id).await?;
    let membership: Option<Membership> = store.get(&keys::membership(me, room_id)).await?;
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::room_partition(room_id))
                .prefix("MEMBER#")
                .limit(100),
        )
        .await?;
    let members = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<Member>>>()?;
    let typing = typing_now(store, room_id).await?;
    Ok(RoomDetail {
        unread_count: unread(&room, Some(&mine)),
        archived: membership.is_some_and(|m| m.archived),
        room: room.for_viewer(me),
        members,
        typing,
    })
}

/// `GET /v1/rooms/{roomId}/members`: paginated.
pub async fn list_members(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    room_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Member>> {
    require_member(store, me, room_id).await?;
    let scope = format!("room-members:{room_id}");
    let start = cursor.map(|c| cursors.open(me, &scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::room_partition(room_id))
                .prefix("MEMBER#")
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok(Page {
        items: items
            .into_iter()
            .map(store::from_item)
            .collect::<AppResult<Vec<Member>>>()?,
        next_cursor: next.map(|k| cursors.seal(me, &scope, &k)).transpose()?,
    })
}

/// `GET /v1/rooms`: my rooms, latest message first, with unread counts and previews.
/// One Query of my inbox index + one BatchGetItem of the page's rooms and my member
/// items, whatever the number of rooms or messages.
pub async fn inbox(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    archived: bool,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<InboxEntry>> {
    let limit = limit.min(50);
    let scope = format!("inbox:{archived}");
    let start = cursor.map(|c| cursors.open(me, &scope, c)).transpose()?;
    let mut query = KeyQuery::partition(keys::inbox(me, archived))
        .on(Index::Gsi2)
        .limit(limit)
        .start(start);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let room_ids: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("roomId")?.as_s().ok().cloned())
        .collect();
    let keys: Vec<Key> = room_ids
        .iter()
        .flat_map(|r| [keys::room(r), keys::member(r, me)])
        .collect();
    let mut rooms = HashMap::new();
    let mut members = HashMap::new();
    for item in store.batch_get_items(&keys).await? {
        match item
            .get(store::SK)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
        {
            Some("META") => {
                let room: Room = store::from_item(item)?;
                rooms.insert(room.room_id.clone(), room);
            }
            Some(_) => {
                let member: Member = store::from_item(item)?;
                members.insert(member.room_id.clone(), member);
            }
            None => {}
        }
    }
    let items = room_ids
        .iter()
        .filter_map(|id| {
            let room = rooms.remove(id)?;
            let member = members.get(id);
            Some(InboxEntry {
                unread_count: unread(&room, member),
                last_read_message_id: member.and_then(|m| m.last_read_message_id.clone()),
                archived,
                room: room.for_viewer(me),
            })
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: next.map(|k| cursors.seal(me, &scope, &k)).transpose()?,
    })
}

pub(super) async fn stored_client_message(
    store: &Store,
    room_id: &str,
    me: &UserId,
    client_message_id: &str,
) -> AppResult<Option<Message>> {
    let Some(pointer) = store
        .get_item(&keys::client_message(room_id, me, client_message_id))
        .await?
    else {
        return Ok(None);
    };
    let Some(message_id) = pointer.get("messageId").and_then(|v| v.as_s().ok()) else {
        return Ok(None);
    };
    store.get(&keys::message(room_id, message_id)).await
}

/// `GET /v1/rooms/{roomId}/messages`: members only; messages of users I block (or who
/// block me) are left out. Two requests per page: the Query of the page, then one
/// BatchGetItem of my member item and the blocks between me and the page's senders.
/// Nothing of the page leaves unless the member item is there.
pub async fn history(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    room_id: &str,
    from: HistoryFrom,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Message>> {
    let partition = keys::room_partition(room_id);
    let (scope, newest_first, anchor) = match &from {
        HistoryFrom::Before(anchor) => (
            format!(
                "history:{room_id}:before:{}",
                anchor.as_deref().unwrap_or("")
            ),
            true,
            anchor.clone(),
        ),
        HistoryFrom::After(anchor) => (
            format!("history:{room_id}:after:{anchor}"),
            false,
            Some(anchor.clone()),
        ),
    };
    let start = match cursor {
        Some(cursor) => Some(cursors.open(me, &scope, cursor)?),
        // Exclusive start at the anchor message's key (it need not exist any more).
        None => anchor.map(|id| {
            PageKey::from([
                (store::PK.to_owned(), partition.clone()),
                (store::SK.to_owned(), format!("MSG#{id}")),
            ])
        }),
    };
    let mut query = KeyQuery::partition(partition)
        .prefix("MSG#")
        .limit(limit)
        .start(start);
    query.newest_first = newest_first;
    let (items, next) = store.query(&query).await?;
    let messages = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<Message>>>()?;
    let senders: Vec<UserId> = messages.iter().map(|m| m.sender_id.clone()).collect();
    let (member_key, room_key) = (keys::member(room_id, me), keys::room(room_id));
    let mut wanted = vec![member_key.clone(), room_key.clone()];
    wanted.extend(graph::block_keys(me, &senders));
    let found = store.batch_get_items(&wanted).await?;
    let find = |key: &Key| {
        found.iter().find(|item| {
            item.get(store::PK).and_then(|v| v.as_s().ok()) == Some(&key.pk)
                && item.get(store::SK).and_then(|v| v.as_s().ok()) == Some(&key.sk)
        })
    };
    let room: Room = store::from_item(find(&room_key).cloned().ok_or_else(no_room)?)?;
    let member = find(&member_key)
        .cloned()
        .map(store::from_item::<Member>)
        .transpose()?;
    match (room.kind, member) {
        // A channel's members are its community's (one GetItem more).
        (RoomKind::Channel, member) => {
            channel_member(store, me, &room, member).await?;
        }
        (_, Some(_)) => {}
        (_, None) => return Err(not_member()),
    }
    let blocked = graph::blocked_in(me, found.iter());
    Ok(Page {
        items: messages
            .into_iter()
            .filter(|m| !blocked.contains(&m.sender_id))
            .map(|m| m.for_viewer(me))
            .collect(),
        next_cursor: next.map(|k| cursors.seal(me, &scope, &k)).transpose()?,
    })
}

/// A room's subscribed connections: one Query per 1,000.
pub async fn subscribers(store: &Store, room_id: &str) -> AppResult<Vec<Subscription>> {
    store
        .query_matching(
            KeyQuery::partition(keys::room_partition(room_id))
                .prefix("SUB#")
                .limit(1000),
        )
        .await?
        .into_iter()
        .map(store::from_item)
        .collect()
}

/// A room's members, every page (one Query per 100).
pub async fn room_members(store: &Store, room_id: &str) -> AppResult<Vec<UserId>> {
    let mut everyone = Vec::new();
    let mut start = None;
    loop {
        let (items, next) = store
            .query(
                &KeyQuery::partition(keys::room_partition(room_id))
                    .prefix("MEMBER#")
                    .limit(100)
                    .start(start),
            )
            .await?;
        for item in items {
            everyone.push(store::from_item::<Member>(item)?.user_id);
        }
        match next {
            Some(next) => start = Some(next),
            None => return Ok(everyone),
        }
    }
}

/// Rooms' subscriber lists by [`SUBSCRIPTIONS_VERSION`], kept by a WebSocket function
/// between invocations: a live send reads the room's version anyway, and a list read at
/// that version is reused until the version moves (one Query per room and version
/// instead of one per send). At most [`SubscriberCache::ROOMS`] rooms; past that it
/// starts over.
#[derive(Debug, Default)]
pub struct SubscriberCache {
    rooms: std::sync::Mutex<HashMap<String, KeptSubscribers>>,
}

/// A room's subscribers as read at a version.
type KeptSubscribers = (u64, std::sync::Arc<[Subscription]>);

impl SubscriberCache {
    pub const ROOMS: usize = 1024;

    pub fn new() -> Self {
        Self::default()
    }

    /// The room's subscribers at `version`: kept, or read (and kept) when this function
    /// holds none for that version.
    pub async fn subscribers(
        &self,
        store: &Store,
        room_id: &str,
        version: u64,
    ) -> AppResult<std::sync::Arc<[Subscription]>> {
        if let Some(kept) = self.kept(room_id, version) {
            return Ok(kept);
        }
        let found: std::sync::Arc<[Subscription]> = subscribers(store, room_id).await?.into();
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rooms.len() >= Self::ROOMS && !rooms.contains_key(room_id) {
            rooms.clear();
        }
        // A list read for a later version stays: versions only grow.
        if rooms.get(room_id).is_none_or(|(kept, _)| *kept <= version) {
            rooms.insert(room_id.to_owned(), (version, found.clone()));
        }
        Ok(found)
    }

    fn kept(&self, room_id: &str, version: u64) -> Option<std::sync::Arc<[Subscription]>> {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rooms
            .get(room_id)
            .filter(|(kept, _)| *kept == version)
            .map(|(_, list)| list.clone())
    }

    /// Drops a room's list (a push found one of its connections gone).
    pub fn forget(&self, room_id: &str) {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(room_id);
    }
}

/// Who is typing in a room now (expired indicators are ignored before TTL removes them).
pub async fn typing_now(store: &Store, room_id: &str) -> AppResult<Vec<UserId>> {
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::room_partition(room_id))
                .prefix("TYPING#")
                .limit(100),
        )
        .await?;
    let now = now_epoch_millis();
    Ok(items
        .iter()
        .filter(|item| {
            item.get("expiresAtMs")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|at| at > now)
        })
        .filter_map(|item| UserId::parse(item.get("userId")?.as_s().ok()?).ok())
        .collect())
}

/// Presence of some users as `viewer` may see it: blocked users are left out and anyone
/// without a presence item is offline. One BatchGetItem (+ blocks).
pub async fn presence_of(
    store: &Store,
    viewer: &UserId,
    users: &[UserId],
) -> AppResult<Vec<Presence>> {
    let blocked = graph::blocked_among(store, viewer, users).await?;
    let visible: Vec<&UserId> = users.iter().filter(|u| !blocked.contains(*u)).collect();
    let found: BTreeMap<UserId, Presence> = store
        .batch_get::<Presence>(
            &visible
                .iter()
                .map(|u| keys::presence(u))
                .collect::<Vec<_>>(),
        )
        .await?
        .into_iter()
        .map(|p| (p.user_id.clone(), p))
        .collect();
    Ok(visible
        .into_iter()
        .map(|u| {
            found.get(u).cloned().unwrap_or(Presence {
                user_id: u.clone(),
                status: PresenceStatus::Offline,
                updated_at: String::new(),
            })
        })
        .collect())
}

/// `GET /v1/rooms/{roomId}/presence`: the first 100 members' presence.
pub async fn room_presence(store: &Store, me: &UserId, room_id: &str) -> AppResult<Vec<Presence>> {
    require_member(store, me, room_id).await?;
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::room_partition(room_id))
                .prefix("MEMBER#")
                .limit(100),
        )
        .await?;
    let users: Vec<UserId> = items
        .into_iter()
        .map(|i| store::from_item::<Member>(i).map(|m| m.user_id))
        .collect::<AppResult<_>>()?;
    presence_of(store, me, &users).await
}

/// `GET /v1/presence`: my connections' presence, one page.
pub async fn connections_presence(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Presence>> {
    let scope = "presence:connections";
    let start = cursor.map(|c| cursors.open(me, scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(crate::table::keys::user_partition(me))
                .prefix("CONN#")
                .limit(limit)
                .start(start),
        )
        .await?;
    let users: Vec<UserId> = items
        .iter()
        .filter_map(|i| UserId::parse(i.get(store::SK)?.as_s().ok()?.strip_prefix("CONN#")?).ok())
        .collect();
    Ok(Page {
        items: presence_of(store, me, &users).await?,
        next_cursor: next.map(|k| cursors.seal(me, scope, &k)).transpose()?,
    })
}

/// The rooms whose subscribers hear my presence: my [`PRESENCE_FANOUT_ROOMS`] most
/// recently active rooms (my inbox index, latest message first; archived rooms are not
/// in it), where someone is most likely watching.
pub async fn rooms_of(store: &Store, me: &UserId) -> AppResult<Vec<String>> {
    let mut query = KeyQuery::partition(keys::inbox(me, false))
        .on(Index::Gsi2)
        .limit(PRESENCE_FANOUT_ROOMS);
    query.newest_first = true;
    let (items, _) = store.query(&query).await?;
    Ok(items
        .iter()
        .filter_map(|i| i.get("roomId")?.as_s().ok().cloned())
        .collect())
}

/// Who among a room's `subscribers` may hear of something `actor` did (a message, an
/// edit, a read receipt, typing, presence): not a user who blocks the actor or whom the
/// actor blocks, as on every other surface. One Query of the actor's block items (`graph::blocks_of`) when others subscribe.
pub async fn audience(
    store: &Store,
    actor: &UserId,
    subscribers: &[Subscription],
) -> AppResult<Vec<Subscription>> {
    if subscribers.iter().all(|s| &s.user_id == actor) {
        return Ok(subscribers.to_vec());
    }
    // The actor's own block items: one Query, whatever the room's size.
    let blocked = graph::blocks_of(store, actor).await?;
    Ok(audience_among(&blocked, subscribers))
}

/// The subscribers who may hear of an actor who blocks, or is blocked by, `blocked`.
pub fn audience_among(
    blocked: &HashSet<UserId>,
    subscribers: &[Subscription],
) -> Vec<Subscription> {
    subscribers
        .iter()
        .filter(|s| !blocked.contains(&s.user_id))
        .cloned()
        .collect()
}
