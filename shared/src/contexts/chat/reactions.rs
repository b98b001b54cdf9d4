//! Chat delivery: a stored message (new, edited or deleted), a read receipt, a member
//! joining or leaving goes to every connection subscribed to its room through
//! `@connections`; closed connections (410) are forgotten. Once per room per batch,
//! members' inboxes move to the latest message and members with no subscribed
//! connection get a notification (grouped per room).
//!
//! A change made over the WebSocket API was pushed by its route already (see
//! [`super::push_live`]): its record carries the route's claim, and this reaction
//! pushes it only if the route has not marked it pushed by the end of the claim (the
//! route died between its write and its posts). The route's "pushed" mark is itself a
//! change of the item, which tells nobody anything.
//!
//! Guarantee: every stored message reaches every reachable connection subscribed when
//! its record is processed, at least once (a record that fails for another reason is
//! retried, so connections that already had it may see it again: events carry the
//! message id and version, and clients keep one copy per id). A post that fails (other
//! than 410) is retried for that connection alone; a connection still failing is
//! skipped, so one bad connection never re-delivers to the others or holds up the room.
//! Its client catches up from history, as after a reconnect.

use std::collections::{HashMap, HashSet};

use futures_util::future::LocalBoxFuture;
use tokio::sync::Mutex;
use tracing::instrument;

use crate::contexts::chat::{self, LiveMarks, LivePush, Member, Message, RoomEvent, Subscription};
use crate::contexts::realtime::push::Pusher;
use crate::contexts::{moderation, notifications};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::table::entity::Entity;
use crate::table::store::{self, Store};
use crate::table::stream::{Change, ChangeKind, Reaction, ReactionBatch};

pub const ENTITIES: &[&str] = &[Message::NAME, Member::NAME];

/// Rooms of one batch delivered at the same time.
const ROOMS_AT_ONCE: usize = 16;

pub struct ChatDelivery {
    store: Store,
    pusher: Pusher,
    /// Rooms' subscribers and members by [`chat::ROOM_VERSION`], kept between batches.
    rooms: std::sync::Mutex<HashMap<String, KeptRoom>>,
}

/// A room's audience as read at a version: who watches it and who belongs to it.
#[derive(Clone)]
struct KeptRoom {
    version: u64,
    subscribers: std::sync::Arc<[Subscription]>,
    members: std::sync::Arc<[UserId]>,
}

/// Rooms whose audience the reaction keeps; past that it starts over.
const ROOMS_KEPT: usize = 1024;

impl ChatDelivery {
    pub fn new(store: Store, pusher: Pusher) -> Self {
        Self {
            store,
            pusher,
            rooms: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The room's subscribers and members at `version` (the room's
    /// `subscriptionsVersion` a message was stored under): kept from an earlier batch,
    /// or read (two Queries) and kept. Without a version (a message stored before
    /// messages carried one) they are read and not kept.
    async fn room_at(&self, room_id: &str, version: Option<u64>) -> AppResult<KeptRoom> {
        let kept = |rooms: &HashMap<String, KeptRoom>| {
            version.and_then(|v| rooms.get(room_id).filter(|k| k.version == v).cloned())
        };
        if let Some(found) = kept(
            &self
                .rooms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ) {
            return Ok(found);
        }
        let (subscribers, members) = tokio::try_join!(
            chat::subscribers(&self.store, room_id),
            chat::room_members(&self.store, room_id)
        )?;
        let found = KeptRoom {
            version: version.unwrap_or(0),
            subscribers: subscribers.into(),
            members: members.into(),
        };
        if let Some(version) = version {
            let mut rooms = self
                .rooms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if rooms.len() >= ROOMS_KEPT && !rooms.contains_key(room_id) {
                rooms.clear();
            }
            if rooms.get(room_id).is_none_or(|k| k.version <= version) {
                rooms.insert(room_id.to_owned(), found.clone());
            }
        }
        Ok(found)
    }
}

impl Reaction for ChatDelivery {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    /// Rooms are independent: their records run concurrently, each room's in order
    /// (a room's items share a partition key).
    fn lanes(&self) -> usize {
        ROOMS_AT_ONCE
    }

    fn batch<'a>(&'a self, changes: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(ChatBatch {
            reaction: self,
            last_per_room: last_message_per_room(changes),
            pushed: pushed_in(changes),
            subscribers: Mutex::new(HashMap::new()),
            audiences: Mutex::new(HashMap::new()),
        })
    }
}

/// What one change means for the room's clients.
enum RoomChange {
    Message {
        message: Message,
        new: bool,
    },
    Read(Member),
    Joined(Member),
    Left(Member),
    /// A member item of a channel went: no event, only their subscriptions go.
    LeftChannel(Member),
    /// Moderation hid a message: clients withdraw it, the room's preview hides it.
    Withdrawn(Message),
}

fn parse<T: serde::de::DeserializeOwned>(image: Option<&serde_dynamo::Item>) -> AppResult<T> {
    let image = image.ok_or_else(|| AppError::internal("a stream record lacks its image"))?;
    store::from_item(image.clone())
}

/// Whether an image is a channel's item ([`chat::IN_CHANNEL`]).
fn in_channel(image: Option<&serde_dynamo::Item>) -> bool {
    image
        .and_then(|image| image.get(chat::IN_CHANNEL))
        .is_some_and(|v| matches!(v, serde_dynamo::AttributeValue::Bool(true)))
}

fn room_change_of(change: &Change) -> AppResult<Option<RoomChange>> {
    let (new, old) = (change.new.as_ref(), change.old.as_ref());
    Ok(match (change.kind, change.entity()) {
        // A channel's members are its community's: a member item appears on first use
        // and goes when they leave the community, which tells the channel nothing.
        (ChangeKind::Insert, Some(Member::NAME)) if in_channel(new) => None,
        (ChangeKind::Remove, Some(Member::NAME)) if in_channel(old) => {
            // Still: their subscriptions go (a retry of the community reaction's own).
            let member: Member = parse(old)?;
            Some(RoomChange::LeftChannel(member))
        }
        (ChangeKind::Insert, Some(Message::NAME)) => Some(RoomChange::Message {
            message: parse(new)?,
            new: true,
        }),
        (ChangeKind::Modify, Some(Message::NAME)) => {
            let before: Message = parse(old)?;
            let after: Message = parse(new)?;
            let hidden =
                moderation::became_hidden(before.screening.as_ref(), after.screening.as_ref());
            // An edit or a delete moves the version; a "pushed" mark does not; a
            // verdict that hides it withdraws it.
            if after.version != before.version {
                Some(RoomChange::Message {
                    message: after,
                    new: false,
                })
            } else if hidden && !after.deleted {
                Some(RoomChange::Withdrawn(after))
            } else {
                None
            }
        }
        (ChangeKind::Insert, Some(Member::NAME)) => Some(RoomChange::Joined(parse(new)?)),
        (ChangeKind::Remove, Some(Member::NAME)) => Some(RoomChange::Left(parse(old)?)),
        (ChangeKind::Modify, Some(Member::NAME)) => {
            let before: Member = parse(old)?;
            let after: Member = parse(new)?;
            // A read position moved forward by markRead (a send moves the sender's own
            // position too, which is no news to anyone).
            let by_read = new
                .and_then(|n| n.get("readVia"))
                .is_some_and(|v| matches!(v, serde_dynamo::AttributeValue::S(s) if s == "read"));
            (after.read_seq > before.read_seq && by_read).then_some(RoomChange::Read(after))
        }
        _ => None,
    })
}

/// The token of the change a room change pushes (see [`chat::live_push`]).
fn token_of(change: &RoomChange) -> Option<u64> {
    match change {
        RoomChange::Message { message, .. } => Some(message.version),
        RoomChange::Read(member) => Some(member.read_seq),
        RoomChange::Joined(_)
        | RoomChange::Left(_)
        | RoomChange::LeftChannel(_)
        | RoomChange::Withdrawn(_) => None,
    }
}

/// The changes of the batch that routes marked pushed, by item and token: their own
/// records need not be looked up.
fn pushed_in(changes: &[&Change]) -> HashSet<(String, String, i64)> {
    // A route's mark of a change shows in the record of the mark (new image) and in the
    // records of later writes of the item (old and new images) until another mark
    // replaces it.
    changes
        .iter()
        .flat_map(|change| {
            [change.new.as_ref(), change.old.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|image| LiveMarks::of_image(image).pushed_by_route())
                .map(|pushed| (change.pk.clone(), change.sk.clone(), pushed))
        })
        .collect()
}

/// The event id of the last new message of each room in the batch: where the
/// once-per-room work (inboxes, notifications) happens.
fn last_message_per_room(changes: &[&Change]) -> HashSet<String> {
    let mut last: HashMap<String, String> = HashMap::new();
    for change in changes {
        if let Ok(Some(RoomChange::Message { message, new: true })) = room_change_of(change) {
            last.insert(message.room_id, change.event_id.clone());
        }
    }
    last.into_values().collect()
}

struct ChatBatch<'a> {
    reaction: &'a ChatDelivery,
    last_per_room: HashSet<String>,
    /// Changes marked pushed within the batch ([`pushed_in`]).
    pushed: HashSet<(String, String, i64)>,
    /// Subscribers are read once per room per batch.
    subscribers: Mutex<HashMap<String, Vec<Subscription>>>,
    /// Who of them may hear of an actor (blocks either way left out): read once per
    /// (room, actor) per batch, so a burst of one sender's messages costs one read.
    audiences: Mutex<HashMap<(String, UserId), Vec<Subscription>>>,
}

impl ReactionBatch for ChatBatch<'_> {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.deliver(change))
    }
}

impl ChatBatch<'_> {
    async fn subscribers_of(&self, room_id: &str) -> AppResult<Vec<Subscription>> {
        let mut cache = self.subscribers.lock().await;
        if let Some(found) = cache.get(room_id) {
            return Ok(found.clone());
        }
        let found = chat::subscribers(&self.reaction.store, room_id).await?;
        cache.insert(room_id.to_owned(), found.clone());
        Ok(found)
    }

    async fn audience_of(&self, room_id: &str, actor: &UserId) -> AppResult<Vec<Subscription>> {
        let key = (room_id.to_owned(), actor.clone());
        if let Some(found) = self.audiences.lock().await.get(&key) {
            return Ok(found.clone());
        }
        let subscribers = self.subscribers_of(room_id).await?;
        let found = chat::audience(&self.reaction.store, actor, &subscribers).await?;
        self.audiences.lock().await.insert(key, found.clone());
        Ok(found)
    }

    /// Whether this reaction pushes the change: at once when no route claimed it, not
    /// when it is marked pushed, and after the route's claim ended unmarked.
    async fn ours_to_push(&self, change: &Change, room_change: &RoomChange) -> AppResult<bool> {
        let (Some(token), Some(image)) = (token_of(room_change), change.new.as_ref()) else {
            return Ok(true);
        };
        match chat::live_push(LiveMarks::of_image(image), token) {
            LivePush::Stream => Ok(true),
            LivePush::Done => Ok(false),
            // A route's mark covers its own change only: a later change's mark does not
            // say this one was pushed (its `message` event is not a `messageEdited`).
            LivePush::Claimed { .. }
                if self.pushed.iter().any(|(pk, sk, pushed)| {
                    pk == &change.pk && sk == &change.sk && *pushed == token as i64
                }) =>
            {
                Ok(false)
            }
            LivePush::Superseded => Ok(true),
            LivePush::Claimed { until_ms } => {
                let key = store::Key::new(change.pk.clone(), change.sk.clone());
                let taken =
                    chat::take_over_push(&self.reaction.store, &key, token, until_ms).await?;
                if taken {
                    tracing::warn!(
                        pk = %change.pk,
                        sk = %change.sk,
                        token,
                        "the route did not push its change in time: pushing it from the stream"
                    );
                }
                Ok(taken)
            }
        }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn deliver(&self, change: &Change) -> AppResult<()> {
        let Some(room_change) = room_change_of(change)? else {
            return Ok(());
        };
        if let RoomChange::LeftChannel(member) = &room_change {
            chat::forget_subscriptions_to(&self.reaction.store, &member.user_id, &member.room_id)
                .await?;
            self.subscribers.lock().await.remove(&member.room_id);
            self.audiences
                .lock()
                .await
                .retain(|(room, _), _| room != &member.room_id);
            return Ok(());
        }
        if !self.ours_to_push(change, &room_change).await? {
            return self.after_push(change, &room_change).await;
        }
        let (room_id, event) = event_of(&room_change);
        if let RoomChange::Left(member) = &room_change {
            // The ex-member's subscriptions go (a retry of `leave_room`'s own clean-up),
            // and this batch reads the room's subscribers again.
            chat::forget_subscriptions_to(&self.reaction.store, &member.user_id, &room_id).await?;
            self.subscribers.lock().await.remove(&room_id);
            self.audiences
                .lock()
                .await
                .retain(|(room, _), _| room != &room_id);
        }
        let data = serde_json::to_vec(&event).map_err(AppError::internal)?;
        let audience = self.audience_of(&room_id, actor_of(&room_change)).await?;
        let targets: Vec<_> = audience.iter().map(Subscription::target).collect();
        let posting = std::time::Instant::now();
        let (store, pusher) = (&self.reaction.store, &self.reaction.pusher);
        let report = pusher.broadcast(store, &targets, &data).await;
        tracing::info!(
            room_id = %room_id,
            subscribers = targets.len(),
            delivered = report.delivered,
            gone = report.gone,
            failed = report.failed,
            expired = report.expired,
            post_ms = posting.elapsed().as_millis() as u64,
            "event delivered"
        );
        if report.gone > 0 || report.expired > 0 {
            // Forgotten connections must not be posted to again in this batch.
            self.subscribers.lock().await.remove(&room_id);
            self.audiences
                .lock()
                .await
                .retain(|(room, _), _| room != &room_id);
        }
        if report.failed > 0 {
            // Each failed post was retried for its connection alone. Failing the record
            // would re-deliver to every other subscriber and hold up the room; the
            // skipped clients catch up from history, as after any reconnect.
            tracing::warn!(
                room_id = %room_id,
                skipped = report.failed,
                "connections whose posts kept failing were skipped"
            );
        }
        self.after_push(change, &room_change).await
    }

    /// What follows a change whoever pushed it: the once-per-room work after the
    /// room's latest new message of the batch.
    async fn after_push(&self, change: &Change, room_change: &RoomChange) -> AppResult<()> {
        if let RoomChange::Withdrawn(message) = room_change {
            return chat::refresh_preview(&self.reaction.store, message).await;
        }
        // A channel's message costs no work per member: its community's members have
        // no inbox entry of it and are not notified of it.
        if let RoomChange::Message { message, new: true } = room_change
            && self.last_per_room.contains(&change.event_id)
            && !in_channel(change.new.as_ref())
        {
            let started = std::time::Instant::now();
            let version = change
                .new
                .as_ref()
                .and_then(|image| image.get(chat::ROOM_VERSION))
                .and_then(|v| match v {
                    serde_dynamo::AttributeValue::N(n) => n.parse().ok(),
                    _ => None,
                });
            let room = self.reaction.room_at(&message.room_id, version).await?;
            self.after_latest_message(message, &room).await?;
            tracing::info!(
                room_id = %message.room_id,
                after_ms = started.elapsed().as_millis() as u64,
                "inboxes and notifications done"
            );
        }
        Ok(())
    }

    /// Once per room per batch: inboxes move to the latest message, and members with no
    /// subscribed connection are notified (and pushed the notification if connected).
    async fn after_latest_message(&self, message: &Message, room: &KeptRoom) -> AppResult<()> {
        let (store, pusher) = (&self.reaction.store, &self.reaction.pusher);
        let watching: HashSet<UserId> =
            room.subscribers.iter().map(|s| s.user_id.clone()).collect();
        chat::touch_inboxes(
            store,
            &message.room_id,
            &message.sent_at,
            &room.members,
            &watching,
        )
        .await?;
        for member in room.members.iter().cloned() {
            if watching.contains(&member) || member == message.sender_id {
                continue;
            }
            let notified = crate::contexts::notifications::notify_message(
                store,
                &member,
                &message.sender_id,
                &message.room_id,
                &message.message_id,
                &message.sent_at,
            )
            .await?;
            if let Some(notification) = notified
                && let Err(error) = notifications::push(pusher, store, notification).await
            {
                // Stored: the list and the count are the source of truth.
                tracing::warn!(%error, "pushing a message notification failed");
            }
        }
        Ok(())
    }
}

/// Who caused the change: blocks between them and a subscriber keep it from them.
fn actor_of(change: &RoomChange) -> &UserId {
    match change {
        RoomChange::Message { message, .. } | RoomChange::Withdrawn(message) => &message.sender_id,
        RoomChange::Read(member)
        | RoomChange::Joined(member)
        | RoomChange::Left(member)
        | RoomChange::LeftChannel(member) => &member.user_id,
    }
}

/// The room and the event its clients get.
fn event_of(change: &RoomChange) -> (String, RoomEvent) {
    match change {
        RoomChange::Message { message, new } => {
            let room_id = message.room_id.clone();
            let message = message.clone();
            let event = match (new, message.deleted) {
                (true, _) => RoomEvent::Message {
                    room_id: room_id.clone(),
                    message,
                },
                (false, true) => RoomEvent::MessageDeleted {
                    room_id: room_id.clone(),
                    message,
                },
                (false, false) => RoomEvent::MessageEdited {
                    room_id: room_id.clone(),
                    message,
                },
            };
            (room_id, event)
        }
        RoomChange::Withdrawn(message) => (
            message.room_id.clone(),
            RoomEvent::MessageWithdrawn {
                room_id: message.room_id.clone(),
                message_id: message.message_id.clone(),
                sender_id: message.sender_id.clone(),
            },
        ),
        RoomChange::Read(member) => (
            member.room_id.clone(),
            RoomEvent::ReadReceipt {
                room_id: member.room_id.clone(),
                user_id: member.user_id.clone(),
                message_id: member.last_read_message_id.clone().unwrap_or_default(),
                read_at: member.last_read_at.clone().unwrap_or_default(),
            },
        ),
        RoomChange::Joined(member) => (
            member.room_id.clone(),
            RoomEvent::MemberJoined {
                room_id: member.room_id.clone(),
                user_id: member.user_id.clone(),
            },
        ),
        RoomChange::Left(member) | RoomChange::LeftChannel(member) => (
            member.room_id.clone(),
            RoomEvent::MemberLeft {
                room_id: member.room_id.clone(),
                user_id: member.user_id.clone(),
            },
        ),
    }
}

/// What a community's changes mean for its channels: a member who leaves it (left,
/// removed, banned, erased) leaves its channels, and a deleted community's channels go.
pub const CHANNEL_ENTITIES: &[&str] = &[
    crate::contexts::communities::Member::NAME,
    crate::contexts::communities::Community::NAME,
];

pub struct ChannelMembership {
    store: Store,
}

impl ChannelMembership {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        use crate::contexts::communities::{Community, Member as CommunityMember};
        match (change.kind, change.entity()) {
            (ChangeKind::Remove, Some(CommunityMember::NAME)) => {
                let member: CommunityMember = parse(change.old.as_ref())?;
                chat::forget_channel_member(&self.store, &member.user_id, &member.community_id)
                    .await
            }
            (ChangeKind::Modify | ChangeKind::Insert, Some(Community::NAME)) => {
                let community: Community = parse(change.new.as_ref())?;
                match community.deleted_at {
                    Some(_) => chat::remove_channels_of(&self.store, &community.community_id).await,
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

impl Reaction for ChannelMembership {
    fn name(&self) -> &'static str {
        "channel-membership"
    }

    fn entities(&self) -> &'static [&'static str] {
        CHANNEL_ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &ChannelMembership {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
