//! Notifications: derived only from the table's stream (never by the write path), stored
//! in the recipient's partition, with an exact unread counter.
//!
//! Items (all in `USER#<recipient>`, so account deletion removes them with the partition):
//! - `NOTIF#<notificationId>` entity "Notification": GSI2 `NOTIFS#<user>` /
//!   `<updatedAt>#<id>` (every notification, newest activity first) and, while unread
//!   only, GSI1 `UNREAD#<user>` / `<updatedAt>#<id>` (a sparse index: reading removes it).
//! - `NOTIFCOUNT` entity "NotificationCounter" `{unread}`: one GetItem for the badge.
//! - `NOTIFPREFS` entity "NotificationPreferences" `{muted: [types]}`.
//! - `NOTIFACTOR#<groupId>#<actor>` entity "NotificationActor": who already counts in a
//!   grouped notification (reactions), so a redelivered reaction adds nobody twice.
//!
//! Exactness under redelivery: a notification's id is a hash of its source (the stream
//! record's item key and the recipient), so a redelivered record targets the same key;
//! the put is conditional (`attribute_not_exists`) and the counter's `ADD` is in the same
//! transaction, so a duplicate changes nothing. Grouped notifications are updated under
//! optimistic concurrency (`version`), with the actor marker in the same transaction.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contexts::graph::{self, Relationship};
use crate::contexts::profiles;
use crate::contexts::realtime::push::{Pusher, Report};
use crate::core::cursor::{CursorCodec, Page};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_epoch_seconds, now_rfc3339};
use crate::table::entity::{Entity, IndexKey};
use crate::table::keys::user_partition;
use crate::table::store::{self, AttributeValue, Expr, Index, Item, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, Transaction};

pub mod erasure;

/// Notifications expire (TTL) after 90 days; the stream's REMOVE record of an unread one
/// decrements the counter, so expiry keeps the count exact.
pub const NOTIFICATION_TTL_SECONDS: i64 = 90 * 24 * 3600;
/// Markers of processed REMOVE records live as long as the stream keeps records.
pub const PROCESSED_TTL_SECONDS: i64 = 2 * 24 * 3600;
/// Actors named in a grouped notification ("Ana, Bo and 3 others").
pub const RECENT_ACTORS: usize = 3;
/// Mark-all-read handles at most this many notifications per call (one GSI page).
pub const MARK_ALL_PAGE: u32 = 100;
/// Items per transaction when marking many read: 24 notifications + the counter.
const MARK_ALL_CHUNK: usize = 24;
/// Optimistic-concurrency attempts on a grouped notification before the record fails
/// (and the stream retries it).
const GROUP_ATTEMPTS: usize = 5;
const CONSUMER: &str = "notifier";

pub mod reactions;
pub mod keys {
    use super::*;

    /// `USER#<user> / NOTIF#<notificationId>`.
    pub fn notification(user: &UserId, notification_id: &str) -> Key {
        Key::new(user_partition(user), format!("NOTIF#{notification_id}"))
    }

    /// `USER#<user> / NOTIFCOUNT`: the unread counter.
    pub fn counter(user: &UserId) -> Key {
        Key::new(user_partition(user), "NOTIFCOUNT")
    }

    /// `USER#<user> / NOTIFPREFS`: muted types.
    pub fn preferences(user: &UserId) -> Key {
        Key::new(user_partition(user), "NOTIFPREFS")
    }

    /// `USER#<user> / NOTIFACTOR#<groupId>#<actor>`: the actor counts in the group.
    pub fn group_actor(user: &UserId, group_id: &str, actor: &UserId) -> Key {
        Key::new(
            user_partition(user),
            format!("NOTIFACTOR#{group_id}#{actor}"),
        )
    }

    /// GSI2 partition of all of a user's notifications.
    pub fn all_partition(user: &UserId) -> String {
        format!("NOTIFS#{user}")
    }

    /// GSI1 partition of a user's unread notifications (sparse).
    pub fn unread_partition(user: &UserId) -> String {
        format!("UNREAD#{user}")
    }

    /// `PROCESSED#notifier#<eventId> / PROCESSED`: a stream record already applied.
    pub fn processed(event_id: &str) -> Key {
        Key::new(format!("PROCESSED#{CONSUMER}#{event_id}"), "PROCESSED")
    }
}

// ---------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum NotificationType {
    ConnectionRequest,
    ConnectionAccepted,
    Reply,
    Mention,
    Reaction,
    AnswerAccepted,
    /// Chat messages in a room while I had no connection subscribed to it (grouped per
    /// room).
    Message,
}

impl NotificationType {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::ConnectionRequest => "connectionRequest",
            NotificationType::ConnectionAccepted => "connectionAccepted",
            NotificationType::Reply => "reply",
            NotificationType::Mention => "mention",
            NotificationType::Reaction => "reaction",
            NotificationType::AnswerAccepted => "answerAccepted",
            NotificationType::Message => "message",
        }
    }
}

/// What of the recipient's a reply or reaction is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TargetKind {
    Topic,
    Reply,
}

/// What a notification points at, for the client to link to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kind: Option<TargetKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// The latest message of a grouped message notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// A stored notification (the item, without keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub notification_id: String,
    /// The recipient.
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// The latest actor.
    pub actor_id: UserId,
    /// Latest first, at most [`RECENT_ACTORS`].
    pub recent_actor_ids: Vec<UserId>,
    pub actor_count: u32,
    pub object: NotificationObject,
    pub read: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl Notification {
    fn sort_key(&self) -> String {
        format!("{}#{}", self.updated_at, self.notification_id)
    }

    fn to_item(&self) -> AppResult<Item> {
        self.item()
    }
}

/// In the recipient's partition; every notification is in the all-notifications index
/// (GSI2), an unread one also in the unread index (GSI1); it expires after 90 days.
impl Entity for Notification {
    const NAME: &'static str = "Notification";

    fn key(&self) -> Key {
        keys::notification(&self.user_id, &self.notification_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        let mut keys = vec![IndexKey::new(
            Index::Gsi2,
            keys::all_partition(&self.user_id),
            self.sort_key(),
        )];
        if !self.read {
            keys.push(IndexKey::new(
                Index::Gsi1,
                keys::unread_partition(&self.user_id),
                self.sort_key(),
            ));
        }
        keys
    }

    fn expires_at(&self) -> Option<i64> {
        Some(now_epoch_seconds() + NOTIFICATION_TTL_SECONDS)
    }
}

/// A notification as its recipient reads it (list, push frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub notification_id: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub actor_id: UserId,
    pub actor_ids: Vec<UserId>,
    pub actor_count: u32,
    pub object: NotificationObject,
    pub read: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Grows with every change of the notification: a client that receives the same
    /// notification twice (pushes are at least once) keeps the higher version.
    pub version: u64,
    /// "Ana and 3 others reacted to your topic".
    pub summary: String,
}

/// The frame pushed to the recipient's open WebSocket connections.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationFrame {
    #[serde(rename = "type")]
    pub frame_type: &'static str,
    pub notification: NotificationView,
    pub unread_count: u64,
}

impl NotificationFrame {
    pub fn new(notification: NotificationView, unread_count: u64) -> Self {
        Self {
            frame_type: "notification",
            notification,
            unread_count,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    #[serde(default)]
    pub muted: BTreeSet<NotificationType>,
}

/// `PUT /v1/notifications/preferences`: the complete set of muted types.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferencesInput {
    pub muted: Vec<NotificationType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreadCount {
    pub unread: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkAllResult {
    /// Notifications this call marked read.
    pub marked: u32,
    /// More unread notifications remain: call again.
    pub more: bool,
}

// ---------------------------------------------------------------------------------
// From stream records to intents (pure)
// ---------------------------------------------------------------------------------

/// The stream's typed change (one type for every context).
pub use crate::table::stream::{Change, ChangeKind};

/// The attributes of the source items (connections, discussions) this module reads, as
/// the issue-3 item contract names them. Everything is optional: a record that lacks
/// what a rule needs simply produces no notification.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    #[serde(rename = "PK", default)]
    pk: String,
    #[serde(rename = "SK", default)]
    sk: String,
    #[serde(default)]
    entity: String,
    sender_id: Option<String>,
    target_id: Option<String>,
    user_id: Option<String>,
    other_user_id: Option<String>,
    requested_by: Option<String>,
    topic_id: Option<String>,
    reply_id: Option<String>,
    author_id: Option<String>,
    parent_reply_id: Option<String>,
    parent_author_id: Option<String>,
    topic_author_id: Option<String>,
    target_author_id: Option<String>,
    accepted_reply_id: Option<String>,
    accepted_reply_author_id: Option<String>,
    reaction: Option<String>,
    #[serde(default)]
    mentions: Vec<String>,
    #[serde(default)]
    deleted: bool,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn source(image: Option<&serde_dynamo::Item>) -> AppResult<Option<Source>> {
    match image {
        Some(item) if !item.is_empty() => store::from_item(item.clone()).map(Some),
        _ => Ok(None),
    }
}

fn user(raw: Option<&String>) -> Option<UserId> {
    raw.and_then(|r| UserId::parse(r).ok())
}

/// A notification to create or to fold into a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub recipient: UserId,
    pub actor: UserId,
    pub kind: NotificationType,
    pub object: NotificationObject,
    /// The source's time: the notification's time (deterministic under redelivery).
    pub at: String,
    /// What makes this notification unique; its id is a hash of it and the recipient.
    pub identity: String,
    /// Folded into one notification per (recipient, target, type).
    pub grouped: bool,
}

impl Intent {
    pub fn notification_id(&self) -> String {
        hash_id(&[
            self.kind.as_str(),
            self.recipient.as_str(),
            self.identity.as_str(),
        ])
    }
}

/// A deterministic 32-hex-digit id (128 bits of SHA-256) of the parts.
pub fn hash_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..16])
}

pub fn valid_notification_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The notifications one stream record calls for, before preferences and blocks. Pure:
/// the same record always yields the same intents.
pub fn intents_of(change: &Change) -> AppResult<Vec<Intent>> {
    let new = source(change.new.as_ref())?;
    let old = source(change.old.as_ref())?;
    let mut intents = match (change.kind, new) {
        (ChangeKind::Insert, Some(new)) if !new.deleted => inserted(&new),
        (ChangeKind::Modify, Some(new)) if !new.deleted => modified(old.as_ref(), &new),
        _ => vec![],
    };
    // Never notify yourself; one notification per recipient per record (a reply to my
    // topic that also mentions me is a reply notification, not two).
    let mut seen = HashSet::new();
    intents.retain(|i| i.recipient != i.actor && seen.insert(i.recipient.clone()));
    Ok(intents)
}

fn inserted(item: &Source) -> Vec<Intent> {
    let at = item.created_at.clone().unwrap_or_else(now_rfc3339);
    let identity = format!("{}|{}|{}", item.pk, item.sk, at);
    let intent = |recipient: UserId, actor: UserId, kind, object| Intent {
        recipient,
        actor,
        kind,
        object,
        at: at.clone(),
        identity: identity.clone(),
        grouped: false,
    };
    match item.entity.as_str() {
        "ConnectionRequest" if item.sk.starts_with("REQIN#") => {
            match (user(item.target_id.as_ref()), user(item.sender_id.as_ref())) {
                (Some(target), Some(sender)) => vec![intent(
                    target,
                    sender,
                    NotificationType::ConnectionRequest,
                    NotificationObject::default(),
                )],
                _ => vec![],
            }
        }
        // Both directions of a connection are written; only the requester's copy
        // (userId == requestedBy) notifies, so the requester hears once.
        "Connection" if item.sk.starts_with("CONN#") => {
            match (
                user(item.user_id.as_ref()),
                user(item.other_user_id.as_ref()),
                user(item.requested_by.as_ref()),
            ) {
                (Some(owner), Some(accepter), Some(requester)) if owner == requester => {
                    vec![intent(
                        requester,
                        accepter,
                        NotificationType::ConnectionAccepted,
                        NotificationObject::default(),
                    )]
                }
                _ => vec![],
            }
        }
        "Topic" => {
            let Some(author) = user(item.author_id.as_ref()) else {
                return vec![];
            };
            let object = NotificationObject {
                topic_id: item.topic_id.clone(),
                target_id: item.topic_id.clone(),
                target_kind: Some(TargetKind::Topic),
                ..NotificationObject::default()
            };
            mentions(item)
                .map(|m| intent(m, author.clone(), NotificationType::Mention, object.clone()))
                .collect()
        }
        "Reply" => {
            let Some(author) = user(item.author_id.as_ref()) else {
                return vec![];
            };
            let object = |target_kind| NotificationObject {
                topic_id: item.topic_id.clone(),
                reply_id: item.reply_id.clone(),
                target_id: item
                    .parent_reply_id
                    .clone()
                    .or_else(|| item.topic_id.clone()),
                target_kind: Some(target_kind),
                ..NotificationObject::default()
            };
            let parent_kind = if item.parent_reply_id.is_some() {
                TargetKind::Reply
            } else {
                TargetKind::Topic
            };
            let mut out = Vec::new();
            if let Some(parent_author) = user(item.parent_author_id.as_ref()) {
                out.push(intent(
                    parent_author,
                    author.clone(),
                    NotificationType::Reply,
                    object(parent_kind),
                ));
            }
            if let Some(topic_author) = user(item.topic_author_id.as_ref()) {
                out.push(intent(
                    topic_author,
                    author.clone(),
                    NotificationType::Reply,
                    object(TargetKind::Topic),
                ));
            }
            let mention = NotificationObject {
                target_id: item.reply_id.clone(),
                target_kind: Some(TargetKind::Reply),
                ..object(parent_kind)
            };
            out.extend(mentions(item).map(|m| {
                intent(
                    m,
                    author.clone(),
                    NotificationType::Mention,
                    mention.clone(),
                )
            }));
            out
        }
        "Reaction" => {
            match (
                user(item.target_author_id.as_ref()),
                user(item.user_id.as_ref()),
            ) {
                (Some(target_author), Some(reactor)) => {
                    let target_kind = if item.target_id == item.topic_id {
                        TargetKind::Topic
                    } else {
                        TargetKind::Reply
                    };
                    vec![Intent {
                        recipient: target_author,
                        actor: reactor,
                        kind: NotificationType::Reaction,
                        object: NotificationObject {
                            topic_id: item.topic_id.clone(),
                            target_id: item.target_id.clone(),
                            target_kind: Some(target_kind),
                            reaction: item.reaction.clone(),
                            ..NotificationObject::default()
                        },
                        at,
                        // One group per target: its id does not depend on the reactor.
                        identity: format!("target|{}", item.target_id.clone().unwrap_or_default()),
                        grouped: true,
                    }]
                }
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

fn mentions(item: &Source) -> impl Iterator<Item = UserId> + '_ {
    item.mentions.iter().filter_map(|m| UserId::parse(m).ok())
}

fn modified(old: Option<&Source>, new: &Source) -> Vec<Intent> {
    if new.entity != "Topic" {
        return vec![];
    }
    let Some(accepted) = new.accepted_reply_id.clone() else {
        return vec![];
    };
    if old.and_then(|o| o.accepted_reply_id.as_ref()) == Some(&accepted) {
        return vec![];
    }
    match (
        user(new.accepted_reply_author_id.as_ref()),
        user(new.author_id.as_ref()),
    ) {
        (Some(answerer), Some(topic_author)) => vec![Intent {
            recipient: answerer,
            actor: topic_author,
            kind: NotificationType::AnswerAccepted,
            object: NotificationObject {
                topic_id: new.topic_id.clone(),
                reply_id: Some(accepted.clone()),
                target_id: Some(accepted.clone()),
                target_kind: Some(TargetKind::Reply),
                ..NotificationObject::default()
            },
            at: new.updated_at.clone().unwrap_or_else(now_rfc3339),
            identity: format!("{}|accepted|{accepted}", new.pk),
            grouped: false,
        }],
        _ => vec![],
    }
}

/// A grouped notification after one more actor (pure).
pub fn fold_into_group(existing: Option<Notification>, intent: &Intent) -> Notification {
    match existing {
        None => fresh(intent),
        Some(mut group) => {
            group.actor_count += 1;
            group.actor_id = intent.actor.clone();
            group.recent_actor_ids.retain(|a| a != &intent.actor);
            group.recent_actor_ids.insert(0, intent.actor.clone());
            group.recent_actor_ids.truncate(RECENT_ACTORS);
            if intent.at > group.updated_at {
                group.updated_at = intent.at.clone();
            }
            group.object.reaction = intent.object.reaction.clone();
            group.object.message_id = intent.object.message_id.clone();
            group.read = false;
            group.version += 1;
            group
        }
    }
}

fn fresh(intent: &Intent) -> Notification {
    Notification {
        notification_id: intent.notification_id(),
        user_id: intent.recipient.clone(),
        kind: intent.kind,
        actor_id: intent.actor.clone(),
        recent_actor_ids: vec![intent.actor.clone()],
        actor_count: 1,
        object: intent.object.clone(),
        read: false,
        created_at: intent.at.clone(),
        updated_at: intent.at.clone(),
        version: 1,
    }
}

/// The sentence a client shows. `actor` is the latest actor's name as the recipient
/// may see it (`None`: hidden by privacy).
pub fn summary(notification: &Notification, actor: Option<&str>) -> String {
    let who = actor.unwrap_or("Someone");
    let others = notification.actor_count.saturating_sub(1);
    let who = match others {
        0 => who.to_owned(),
        1 => format!("{who} and 1 other"),
        n => format!("{who} and {n} others"),
    };
    let your = match notification.object.target_kind {
        Some(TargetKind::Reply) => "your reply",
        _ => "your topic",
    };
    match notification.kind {
        NotificationType::ConnectionRequest => format!("{who} sent you a connection request"),
        NotificationType::ConnectionAccepted => {
            format!("{who} accepted your connection request")
        }
        NotificationType::Reply => format!("{who} replied to {your}"),
        NotificationType::Mention => match notification.object.target_kind {
            Some(TargetKind::Reply) => format!("{who} mentioned you in a reply"),
            _ => format!("{who} mentioned you in a topic"),
        },
        NotificationType::Reaction => format!("{who} reacted to {your}"),
        NotificationType::AnswerAccepted => format!("{who} accepted your answer"),
        NotificationType::Message => match others {
            0 => format!("{who} sent you a message"),
            _ => format!("{who} sent you messages"),
        },
    }
}

// ---------------------------------------------------------------------------------
// Access patterns: the notifier (stream side)
// ---------------------------------------------------------------------------------

/// Applies one stream record: creates or updates the notifications it calls for and
/// returns those that are new or changed (to push), or, for a removed unread
/// notification (TTL expiry), keeps the counter exact.
pub async fn apply_change(store: &Store, change: &Change) -> AppResult<Vec<Notification>> {
    if change.kind == ChangeKind::Remove {
        forget_removed(store, change).await?;
        for intent in withdrawn_of(change)? {
            withdraw(store, &intent).await?;
        }
        return Ok(vec![]);
    }
    let mut delivered = Vec::new();
    for intent in intents_of(change)? {
        if let Some(notification) = deliver(store, &intent).await? {
            delivered.push(notification);
        }
    }
    Ok(delivered)
}

/// Creates (or folds into its group) one notification unless the recipient muted its
/// type or either user blocks the other. `None`: nothing changed (muted, blocked, or a
/// redelivered record).
pub async fn deliver(store: &Store, intent: &Intent) -> AppResult<Option<Notification>> {
    let preferences = get_preferences(store, &intent.recipient).await?;
    if preferences.muted.contains(&intent.kind) {
        return Ok(None);
    }
    if graph::blocked_between(store, &intent.recipient, &intent.actor).await? {
        return Ok(None);
    }
    if intent.grouped {
        return deliver_grouped(store, intent).await;
    }
    let notification = fresh(intent);
    let result = account_alive(store, &notification.user_id)
        .put(
            notification.to_item()?,
            Some(Condition::absent(NOTIFICATION_NEW)),
        )
        .update(&keys::counter(&notification.user_id), count(1), None)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(Some(notification)),
        // The recipient deleted their account.
        Err(error) if error.failed(ACCOUNT_ALIVE) => Ok(None),
        // The notification exists: this record was applied before, perhaps by an
        // attempt that died before pushing. Push it again while unread.
        Err(error) if error.failed(NOTIFICATION_NEW) => {
            unread_again(store, &notification.user_id, &notification.notification_id).await
        }
        Err(error) => Err(error.into()),
    }
}

/// The stored notification if it is still unread (a redelivered record re-pushes it).
async fn unread_again(
    store: &Store,
    user: &UserId,
    notification_id: &str,
) -> AppResult<Option<Notification>> {
    let stored: Option<Notification> = store
        .get(&keys::notification(user, notification_id))
        .await?;
    Ok(stored.filter(|n| !n.read))
}

/// A chat message for a member who had no connection subscribed to its room: one
/// notification per (recipient, room), unread again with each newer message. Applied in
/// message-id order (a room's records share a stream shard), so a message no newer than
/// the group's latest was applied before: a redelivery, which only re-pushes. `None`:
/// nothing to push (muted, blocked, or already read).
pub async fn notify_message(
    store: &Store,
    recipient: &UserId,
    sender: &UserId,
    room_id: &str,
    message_id: &str,
    at: &str,
) -> AppResult<Option<Notification>> {
    if recipient == sender {
        return Ok(None);
    }
    let preferences = get_preferences(store, recipient).await?;
    if preferences.muted.contains(&NotificationType::Message)
        || graph::blocked_between(store, recipient, sender).await?
    {
        return Ok(None);
    }
    let intent = Intent {
        recipient: recipient.clone(),
        actor: sender.clone(),
        kind: NotificationType::Message,
        object: NotificationObject {
            room_id: Some(room_id.to_owned()),
            message_id: Some(message_id.to_owned()),
            ..NotificationObject::default()
        },
        at: at.to_owned(),
        identity: format!("room|{room_id}"),
        grouped: true,
    };
    let group_id = intent.notification_id();
    let key = keys::notification(recipient, &group_id);
    for _ in 0..GROUP_ATTEMPTS {
        let existing: Option<Notification> = store.get(&key).await?;
        if let Some(group) = &existing
            && group.object.message_id.as_deref() >= Some(message_id)
        {
            return Ok(existing.filter(|g| !g.read));
        }
        let turns_unread = existing.as_ref().is_none_or(|g| g.read);
        let condition = group_unchanged(existing.as_ref());
        let group = match existing {
            None => fresh(&intent),
            Some(group) => {
                // Counts distinct senders (among those it remembers), not messages.
                let known_sender = group.recent_actor_ids.contains(sender);
                let mut folded = fold_into_group(Some(group), &intent);
                if known_sender {
                    folded.actor_count = folded.actor_count.saturating_sub(1).max(1);
                }
                folded
            }
        };
        let mut transaction =
            account_alive(store, recipient).put(group.to_item()?, Some(condition));
        if turns_unread {
            transaction = transaction.update(&keys::counter(recipient), count(1), None);
        }
        match transaction.commit().await {
            Ok(()) => return Ok(Some(group)),
            Err(error) if error.failed(ACCOUNT_ALIVE) => return Ok(None),
            // Someone changed the group since we read it: read again.
            Err(error) if error.failed(GROUP_UNCHANGED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the message notification kept changing; the record is retried".into(),
    ))
}

async fn deliver_grouped(store: &Store, intent: &Intent) -> AppResult<Option<Notification>> {
    let group_id = intent.notification_id();
    let key = keys::notification(&intent.recipient, &group_id);
    let mut marker = keys::group_actor(&intent.recipient, &group_id, &intent.actor).to_item();
    marker.insert(
        "entity".into(),
        AttributeValue::S("NotificationActor".into()),
    );
    marker.insert(
        store::TTL_ATTRIBUTE.into(),
        AttributeValue::N((now_epoch_seconds() + NOTIFICATION_TTL_SECONDS).to_string()),
    );
    for _ in 0..GROUP_ATTEMPTS {
        let existing: Option<Notification> = store.get(&key).await?;
        // The counter moves only when the group turns unread (new, or read before).
        let turns_unread = existing.as_ref().is_none_or(|g| g.read);
        let condition = group_unchanged(existing.as_ref());
        let group = fold_into_group(existing, intent);
        let mut transaction = account_alive(store, &intent.recipient)
            .put(marker.clone(), Some(Condition::absent(ACTOR_NEW)))
            .put(group.to_item()?, Some(condition));
        if turns_unread {
            transaction = transaction.update(&keys::counter(&group.user_id), count(1), None);
        }
        match transaction.commit().await {
            Ok(()) => return Ok(Some(group)),
            // The recipient deleted their account.
            Err(error) if error.failed(ACCOUNT_ALIVE) => return Ok(None),
            // This actor already counts: a redelivered reaction (re-pushed while
            // unread, as above).
            Err(error) if error.failed(ACTOR_NEW) => {
                return unread_again(store, &intent.recipient, &group_id).await;
            }
            // Someone changed the group since we read it: read again.
            Err(error) if error.failed(GROUP_UNCHANGED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the grouped notification kept changing; the record is retried".into(),
    ))
}

/// The grouped notifications a removed item leaves: a reaction taken back (or removed
/// with its author's account) withdraws its actor from the group. Pure.
pub fn withdrawn_of(change: &Change) -> AppResult<Vec<Intent>> {
    let Some(old) = source(change.old.as_ref())? else {
        return Ok(vec![]);
    };
    if change.kind != ChangeKind::Remove || old.entity != "Reaction" {
        return Ok(vec![]);
    }
    Ok(inserted(&old)
        .into_iter()
        .filter(|i| i.grouped && i.recipient != i.actor)
        .collect())
}

/// A grouped notification after one actor left it (pure); `None` when nobody is left.
/// `others` refills the recent actors when the leaver was the last one known.
pub fn shrink_group(
    mut group: Notification,
    actor: &UserId,
    others: &[UserId],
) -> Option<Notification> {
    group.actor_count = group.actor_count.checked_sub(1).filter(|c| *c > 0)?;
    group.recent_actor_ids.retain(|a| a != actor);
    if group.recent_actor_ids.is_empty() {
        group.recent_actor_ids = others
            .iter()
            .filter(|a| *a != actor)
            .take(RECENT_ACTORS)
            .cloned()
            .collect();
    }
    if let Some(latest) = group.recent_actor_ids.first() {
        group.actor_id = latest.clone();
    }
    group.version += 1;
    Some(group)
}

/// Takes one actor out of their group: TransactWriteItems — Delete the actor's marker
/// (`attribute_exists`: an actor leaves once, so a redelivered REMOVE changes nothing)
/// and Put the smaller group, or Delete it when nobody is left, under `version`. A deleted
/// unread group leaves the unread count through its own REMOVE record
/// ([`forget_removed`]), like an expired one.
async fn withdraw(store: &Store, intent: &Intent) -> AppResult<()> {
    let group_id = intent.notification_id();
    let key = keys::notification(&intent.recipient, &group_id);
    let marker = keys::group_actor(&intent.recipient, &group_id, &intent.actor);
    for _ in 0..GROUP_ATTEMPTS {
        let existing: Option<Notification> = store.get(&key).await?;
        let mut transaction = store
            .transaction()
            .delete(&marker, Some(Condition::present(ACTOR_COUNTED)));
        if let Some(group) = existing {
            let unchanged = group_unchanged(Some(&group));
            let others = if group.recent_actor_ids.iter().all(|a| a == &intent.actor) {
                group_actors(store, &intent.recipient, &group_id).await?
            } else {
                vec![]
            };
            transaction = match shrink_group(group, &intent.actor, &others) {
                Some(smaller) => transaction.put(smaller.to_item()?, Some(unchanged)),
                None => transaction.delete(&key, Some(unchanged)),
            };
        }
        match transaction.commit().await {
            Ok(()) => return Ok(()),
            // Not (or no longer) counted: withdrawn before, or never notified.
            Err(error) if error.failed(ACTOR_COUNTED) => return Ok(()),
            // Someone changed the group since we read it: read again.
            Err(error) if error.failed(GROUP_UNCHANGED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the grouped notification kept changing; the record is retried".into(),
    ))
}

/// Up to a few actors still counted in a group: Query `PK=USER#<r> AND
/// begins_with(SK, NOTIFACTOR#<groupId>#)`.
async fn group_actors(store: &Store, recipient: &UserId, group_id: &str) -> AppResult<Vec<UserId>> {
    let prefix = format!("NOTIFACTOR#{group_id}#");
    let (items, _) = store
        .query(
            &KeyQuery::partition(crate::table::keys::user_partition(recipient))
                .prefix(prefix.clone())
                .limit(u32::try_from(RECENT_ACTORS + 1).unwrap_or(4)),
        )
        .await?;
    Ok(items
        .iter()
        .filter_map(|item| item.get(store::SK)?.as_s().ok()?.strip_prefix(&prefix))
        .filter_map(|id| UserId::parse(id).ok())
        .collect())
}

/// A removed notification (TTL expiry) that was unread leaves the count. The processed
/// marker is written in the same transaction as the decrement, so a redelivered REMOVE
/// changes nothing; a missing counter (the account was deleted) is left missing.
async fn forget_removed(store: &Store, change: &Change) -> AppResult<()> {
    let Some(old) = change.old.as_ref().filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    let Ok(removed) = store::from_item::<Notification>(old.clone()) else {
        return Ok(());
    };
    if removed.read {
        return Ok(());
    }
    let mut marker = keys::processed(&change.event_id).to_item();
    marker.insert("entity".into(), AttributeValue::S("ProcessedRecord".into()));
    marker.insert(
        store::TTL_ATTRIBUTE.into(),
        AttributeValue::N((now_epoch_seconds() + PROCESSED_TTL_SECONDS).to_string()),
    );
    let result = store
        .transaction()
        .put(marker, Some(Condition::absent(RECORD_NEW)))
        .update(
            &keys::counter(&removed.user_id),
            Expr::new("ADD unread :delta").value(":delta", AttributeValue::N("-1".into())),
            Some(Condition::new(
                COUNTER_POSITIVE,
                Expr::new("attribute_exists(PK) AND unread > :zero")
                    .value(":zero", AttributeValue::N("0".into())),
            )),
        )
        .commit()
        .await;
    match result {
        Ok(()) => Ok(()),
        // Applied before, or nothing left to count down.
        Err(error) if error.failed(RECORD_NEW) || error.failed(COUNTER_POSITIVE) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A ConditionCheck that `user` has not deleted their account (see
/// `profiles::keys::deleted_account`): a notification never outlives the account sweep.
fn account_alive<'a>(store: &'a Store, user: &UserId) -> Transaction<'a> {
    store.transaction().check(
        &profiles::keys::deleted_account(user),
        Condition::absent(ACCOUNT_ALIVE),
    )
}

/// `ADD unread :delta` on the counter (creating it at the first notification).
fn count(delta: i64) -> Expr {
    Expr::new("ADD unread :delta SET entity = :entity")
        .value(":delta", AttributeValue::N(delta.to_string()))
        .value(":entity", AttributeValue::S("NotificationCounter".into()))
}

/// A group is written only as it was read: absent, or at the version read.
fn group_unchanged(existing: Option<&Notification>) -> Condition {
    match existing {
        None => Condition::absent(GROUP_UNCHANGED),
        Some(group) => Condition::new(
            GROUP_UNCHANGED,
            Expr::new("version = :version")
                .value(":version", AttributeValue::N(group.version.to_string())),
        ),
    }
}

// The conditions of the notifier's transactions, by name.
/// The recipient has no deletion tombstone.
const ACCOUNT_ALIVE: &str = "account_alive";
/// The notification is not stored yet.
const NOTIFICATION_NEW: &str = "notification_new";
/// The actor's marker in a group is not stored yet.
const ACTOR_NEW: &str = "actor_new";
/// The actor's marker in a group is stored.
const ACTOR_COUNTED: &str = "actor_counted";
/// The group is as it was read (absent, or at the version read).
const GROUP_UNCHANGED: &str = "group_unchanged";
/// The stream record has not been applied before.
const RECORD_NEW: &str = "record_new";
/// The unread counter exists and is above zero.
const COUNTER_POSITIVE: &str = "counter_positive";
/// A notification being marked read is still unread.
const STILL_UNREAD: &str = "still_unread";

// ---------------------------------------------------------------------------------
// Access patterns: the recipient (API side)
// ---------------------------------------------------------------------------------

/// Unread count: GetItem `USER#<me> / NOTIFCOUNT`.
pub async fn unread_count(store: &Store, me: &UserId) -> AppResult<UnreadCount> {
    let unread = store
        .get_item(&keys::counter(me))
        .await?
        .and_then(|item| item.get("unread").and_then(|v| v.as_n().ok()).cloned())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(UnreadCount {
        unread: u64::try_from(unread).unwrap_or(0),
    })
}

/// My notifications, newest activity first: Query GSI2 `NOTIFS#<me>` (or, unread only,
/// GSI1 `UNREAD#<me>`), descending; then one BatchGetItem to hide users blocked either
/// way and one to name the actors as I may see them.
pub async fn list_notifications(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    unread_only: bool,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<NotificationView>> {
    let scope = format!("notifications:{me}:unread={unread_only}");
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (index, partition) = if unread_only {
        (Index::Gsi1, keys::unread_partition(me))
    } else {
        (Index::Gsi2, keys::all_partition(me))
    };
    let mut query = KeyQuery::partition(partition)
        .on(index)
        .limit(limit)
        .start(start);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let notifications: Vec<Notification> = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<_>>()?;
    let actors: Vec<UserId> = notifications.iter().map(|n| n.actor_id.clone()).collect();
    let blocked = graph::blocked_among(store, me, &actors).await?;
    let visible: Vec<Notification> = notifications
        .into_iter()
        .filter(|n| !blocked.contains(&n.actor_id))
        .collect();
    let items = views(store, me, visible).await?;
    let next_cursor = next.map(|k| cursors.seal(&scope, &k)).transpose()?;
    Ok(Page { items, next_cursor })
}

/// Renders notifications for their recipient: one BatchGetItem reads the actors'
/// profiles and my connection items with them, so each name is shown as I may see it.
pub async fn views(
    store: &Store,
    me: &UserId,
    notifications: Vec<Notification>,
) -> AppResult<Vec<NotificationView>> {
    let actors: Vec<UserId> = notifications
        .iter()
        .map(|n| n.actor_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut keys_to_read = Vec::with_capacity(actors.len() * 2);
    for actor in &actors {
        keys_to_read.push(profiles::keys::profile(actor));
        keys_to_read.push(graph::keys::connection(me, actor));
    }
    let found = store.batch_get_items(&keys_to_read).await?;
    let mut connected = HashSet::new();
    let mut profiles_by_user = HashMap::new();
    for item in found {
        let sk = item
            .get(store::SK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if let Some(other) = sk.strip_prefix("CONN#") {
            connected.insert(other.to_owned());
        } else if sk == "PROFILE"
            && let Ok(profile) = profiles::profile_from_item(item)
        {
            profiles_by_user.insert(profile.user_id.clone(), profile);
        }
    }
    Ok(notifications
        .into_iter()
        .map(|n| {
            let relationship = if &n.actor_id == me {
                Relationship::SelfView
            } else if connected.contains(n.actor_id.as_str()) {
                Relationship::Connection
            } else {
                Relationship::Stranger
            };
            let name = profiles_by_user
                .get(&n.actor_id)
                .and_then(|p| profiles::view_as(p, relationship))
                .map(|v| v.display_name);
            NotificationView {
                summary: summary(&n, name.as_deref()),
                notification_id: n.notification_id,
                kind: n.kind,
                actor_id: n.actor_id,
                actor_ids: n.recent_actor_ids,
                actor_count: n.actor_count,
                object: n.object,
                read: n.read,
                created_at: n.created_at,
                updated_at: n.updated_at,
                version: n.version,
            }
        })
        .collect())
}

/// Mark one read: TransactWriteItems — Update the notification (`read = false` →
/// true, leaves the unread index, bumps `version`) + `ADD unread -1`. Already read is a
/// no-op; another user's or a missing notification is a 404.
pub async fn mark_read(store: &Store, me: &UserId, notification_id: &str) -> AppResult<()> {
    if !valid_notification_id(notification_id) {
        return Err(AppError::NotFound("no such notification".into()));
    }
    let key = keys::notification(me, notification_id);
    match mark_read_items(store, me, std::slice::from_ref(&key)).await {
        Ok(()) => Ok(()),
        Err(AppError::Conflict(_)) => match store.get::<Notification>(&key).await? {
            Some(_) => Ok(()),
            None => Err(AppError::NotFound("no such notification".into())),
        },
        Err(other) => Err(other),
    }
}

/// Mark all read, bounded: one Query of GSI1 `UNREAD#<me>` (at most [`MARK_ALL_PAGE`])
/// and transactions of 24 notifications + the counter. Work per call is constant; a
/// user with more unread calls again while `more` is true (the client loops), so the
/// total is O(unread) spread over calls that each stay far below the API timeout.
pub async fn mark_all_read(store: &Store, me: &UserId) -> AppResult<MarkAllResult> {
    let mut query = KeyQuery::partition(keys::unread_partition(me))
        .on(Index::Gsi1)
        .limit(MARK_ALL_PAGE);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let keys_found: Vec<Key> = items
        .iter()
        .filter_map(|item| {
            let pk = item.get(store::PK)?.as_s().ok()?;
            let sk = item.get(store::SK)?.as_s().ok()?;
            Some(Key::new(pk.clone(), sk.clone()))
        })
        .collect();
    let mut marked = 0u32;
    for chunk in keys_found.chunks(MARK_ALL_CHUNK) {
        match mark_read_items(store, me, chunk).await {
            Ok(()) => marked += u32::try_from(chunk.len()).unwrap_or(0),
            // One of them was read meanwhile (or the index lagged): go one by one.
            Err(AppError::Conflict(_)) => {
                for key in chunk {
                    match mark_read_items(store, me, std::slice::from_ref(key)).await {
                        Ok(()) => marked += 1,
                        Err(AppError::Conflict(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
            Err(other) => return Err(other),
        }
    }
    Ok(MarkAllResult {
        marked,
        more: next.is_some(),
    })
}

/// One transaction: each notification read (if it was unread), the counter lowered by
/// their number. Any already read cancels all (a 409), so the count stays exact.
async fn mark_read_items(store: &Store, me: &UserId, notifications: &[Key]) -> AppResult<()> {
    let mut transaction = store.transaction();
    for key in notifications {
        let update = Expr::new("SET #read = :true, version = version + :one REMOVE GSI1PK, GSI1SK")
            .name("#read", "read")
            .value(":true", AttributeValue::Bool(true))
            .value(":one", AttributeValue::N("1".into()));
        let unread = Expr::new("#read = :false").value(":false", AttributeValue::Bool(false));
        transaction = transaction.update(key, update, Some(Condition::new(STILL_UNREAD, unread)));
    }
    let delta = -i64::try_from(notifications.len()).unwrap_or(0);
    // Any already read fails `STILL_UNREAD`: a 409, and the caller goes one by one.
    Ok(transaction
        .update(&keys::counter(me), count(delta), None)
        .commit()
        .await?)
}

/// My preferences: GetItem `USER#<me> / NOTIFPREFS` (absent: nothing muted).
pub async fn get_preferences(store: &Store, user: &UserId) -> AppResult<Preferences> {
    Ok(store
        .get(&keys::preferences(user))
        .await?
        .unwrap_or_default())
}

/// Replace my preferences: PutItem `USER#<me> / NOTIFPREFS`.
pub async fn set_preferences(
    store: &Store,
    me: &UserId,
    input: PreferencesInput,
) -> AppResult<Preferences> {
    let preferences = Preferences {
        muted: input.muted.into_iter().collect(),
    };
    let mut item = store::to_item(&preferences)?;
    item.extend(keys::preferences(me).to_item());
    item.insert(
        "entity".into(),
        AttributeValue::S("NotificationPreferences".into()),
    );
    store.put(item).await?;
    Ok(preferences)
}

/// Pushes a stored notification to every open connection of its recipient, with the
/// recipient's unread count.
pub async fn push(pusher: &Pusher, store: &Store, notification: Notification) -> AppResult<Report> {
    let recipient: UserId = notification.user_id.clone();
    let open = crate::contexts::realtime::connections_of(store, &recipient).await?;
    if open.is_empty() {
        return Ok(Report::default());
    }
    let unread = unread_count(store, &recipient).await?;
    let view = views(store, &recipient, vec![notification])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("a rendered notification went missing"))?;
    let frame = NotificationFrame::new(view, unread.unread);
    let data = serde_json::to_vec(&frame).map_err(AppError::internal)?;
    let ids: Vec<String> = open.into_iter().map(|c| c.connection_id).collect();
    Ok(pusher.broadcast(store, &ids, &data).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(value: serde_json::Value) -> serde_dynamo::Item {
        serde_dynamo::to_item(value).unwrap()
    }

    fn change(kind: ChangeKind, old: Option<serde_json::Value>, new: serde_json::Value) -> Change {
        let key = |name: &str| {
            [Some(&new), old.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|v| v[name].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (pk, sk) = (key("PK"), key("SK"));
        Change::new(kind, pk, sk, old.map(image), Some(image(new))).at("e1", "1")
    }

    fn id(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    #[test]
    fn a_connection_request_notifies_its_target() {
        let record = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "USER#bo", "SK": "REQIN#ana", "entity": "ConnectionRequest",
                   "senderId": "ana", "targetId": "bo", "createdAt": "2026-01-01T00:00:00.000Z"}),
        );

        let intents = intents_of(&record).unwrap();

        assert_eq!(intents.len(), 1);
        assert_eq!(intents[0].recipient, id("bo"));
        assert_eq!(intents[0].actor, id("ana"));
        assert_eq!(intents[0].kind, NotificationType::ConnectionRequest);
    }

    #[test]
    fn only_the_requesters_copy_of_a_connection_notifies() {
        let copy = |owner: &str, other: &str| {
            change(
                ChangeKind::Insert,
                None,
                json!({"PK": format!("USER#{owner}"), "SK": format!("CONN#{other}"),
                       "entity": "Connection", "userId": owner, "otherUserId": other,
                       "requestedBy": "ana", "createdAt": "2026-01-01T00:00:00.000Z"}),
            )
        };

        let requester = intents_of(&copy("ana", "bo")).unwrap();
        let accepter = intents_of(&copy("bo", "ana")).unwrap();

        assert_eq!(requester.len(), 1);
        assert_eq!(requester[0].recipient, id("ana"));
        assert_eq!(requester[0].actor, id("bo"));
        assert!(accepter.is_empty());
    }

    #[test]
    fn a_websocket_connection_item_is_not_a_social_connection() {
        let record = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "USER#ana", "SK": "WSCONN#abc", "entity": "Connection",
                   "userId": "ana", "connectionId": "abc"}),
        );

        assert!(intents_of(&record).unwrap().is_empty());
    }

    #[test]
    fn a_reply_notifies_the_parent_and_topic_authors_and_mentions_once_each() {
        let record = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "TOPIC#t1", "SK": "REPLY#r0#r1", "entity": "Reply", "replyId": "r1",
                   "topicId": "t1", "authorId": "cy", "parentReplyId": "r0",
                   "parentAuthorId": "bo", "topicAuthorId": "ana",
                   "mentions": ["bo", "dee", "cy"], "createdAt": "2026-01-01T00:00:00.000Z"}),
        );

        let intents = intents_of(&record).unwrap();
        let by = |who: &str| intents.iter().find(|i| i.recipient == id(who)).unwrap();

        assert_eq!(intents.len(), 3, "bo once, ana, dee; never the author");
        assert_eq!(by("bo").kind, NotificationType::Reply);
        assert_eq!(by("bo").object.target_kind, Some(TargetKind::Reply));
        assert_eq!(by("ana").kind, NotificationType::Reply);
        assert_eq!(by("ana").object.target_kind, Some(TargetKind::Topic));
        assert_eq!(by("dee").kind, NotificationType::Mention);
    }

    #[test]
    fn a_deleted_or_self_directed_item_notifies_nobody() {
        let deleted = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "TOPIC#t1", "SK": "META", "entity": "Topic", "topicId": "t1",
                   "authorId": "ana", "mentions": ["bo"], "deleted": true}),
        );
        let own = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "TOPIC#t1", "SK": "REACT#t1#ana", "entity": "Reaction", "topicId": "t1",
                   "targetId": "t1", "targetAuthorId": "ana", "userId": "ana", "reaction": "like"}),
        );

        assert!(intents_of(&deleted).unwrap().is_empty());
        assert!(intents_of(&own).unwrap().is_empty());
    }

    #[test]
    fn reactions_on_one_target_share_one_group_id() {
        let reaction = |who: &str| {
            change(
                ChangeKind::Insert,
                None,
                json!({"PK": "TOPIC#t1", "SK": format!("REACT#t1#{who}"), "entity": "Reaction",
                       "topicId": "t1", "targetId": "t1", "targetAuthorId": "ana",
                       "userId": who, "reaction": "like", "createdAt": "2026-01-01T00:00:00.000Z"}),
            )
        };

        let first = intents_of(&reaction("bo")).unwrap().remove(0);
        let second = intents_of(&reaction("cy")).unwrap().remove(0);

        assert!(first.grouped);
        assert_eq!(first.notification_id(), second.notification_id());
        assert!(valid_notification_id(&first.notification_id()));
    }

    #[test]
    fn an_accepted_answer_notifies_once_when_it_appears() {
        let topic = |accepted: Option<&str>| {
            json!({"PK": "TOPIC#t1", "SK": "META", "entity": "Topic", "topicId": "t1",
                   "authorId": "ana", "acceptedReplyId": accepted,
                   "acceptedReplyAuthorId": accepted.map(|_| "bo"),
                   "updatedAt": "2026-01-02T00:00:00.000Z"})
        };

        let accepted = intents_of(&change(
            ChangeKind::Modify,
            Some(topic(None)),
            topic(Some("r1")),
        ))
        .unwrap();
        let unchanged = intents_of(&change(
            ChangeKind::Modify,
            Some(topic(Some("r1"))),
            topic(Some("r1")),
        ))
        .unwrap();

        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].recipient, id("bo"));
        assert_eq!(accepted[0].kind, NotificationType::AnswerAccepted);
        assert!(unchanged.is_empty());
    }

    #[test]
    fn folding_actors_counts_each_and_names_the_latest_first() {
        let intent = |who: &str, at: &str| Intent {
            recipient: id("ana"),
            actor: id(who),
            kind: NotificationType::Reaction,
            object: NotificationObject {
                target_kind: Some(TargetKind::Topic),
                ..NotificationObject::default()
            },
            at: at.into(),
            identity: "target|t1".into(),
            grouped: true,
        };
        let mut group = fold_into_group(None, &intent("bo", "2026-01-01T00:00:01.000Z"));
        group.read = true;

        for (who, at) in [
            ("cy", "2026-01-01T00:00:02.000Z"),
            ("dee", "2026-01-01T00:00:03.000Z"),
            ("eve", "2026-01-01T00:00:04.000Z"),
        ] {
            group = fold_into_group(Some(group), &intent(who, at));
        }

        assert_eq!(group.actor_count, 4);
        assert_eq!(group.recent_actor_ids, vec![id("eve"), id("dee"), id("cy")]);
        assert_eq!(group.updated_at, "2026-01-01T00:00:04.000Z");
        assert!(!group.read, "a new reaction makes the group unread again");
        assert_eq!(group.version, 4);
        assert_eq!(
            summary(&group, Some("Eve")),
            "Eve and 3 others reacted to your topic"
        );
        assert_eq!(
            summary(&fresh(&intent("bo", "t")), None),
            "Someone reacted to your topic"
        );
    }

    #[test]
    fn an_actor_leaving_shrinks_the_group_names_the_next_latest_and_empties_it_last() {
        let intent = |who: &str| Intent {
            recipient: id("ana"),
            actor: id(who),
            kind: NotificationType::Reaction,
            object: NotificationObject::default(),
            at: "2026-01-01T00:00:01.000Z".into(),
            identity: "target|t1".into(),
            grouped: true,
        };
        let mut group = fold_into_group(None, &intent("bo"));
        group = fold_into_group(Some(group), &intent("cy"));

        let without_cy = shrink_group(group.clone(), &id("cy"), &[]).unwrap();
        let only_known_left = Notification {
            recent_actor_ids: vec![id("cy")],
            ..group.clone()
        };
        let refilled = shrink_group(only_known_left, &id("cy"), &[id("bo"), id("cy")]).unwrap();
        let empty = shrink_group(shrink_group(group, &id("cy"), &[]).unwrap(), &id("bo"), &[]);

        assert_eq!(without_cy.actor_count, 1);
        assert_eq!(without_cy.actor_id, id("bo"));
        assert_eq!(without_cy.recent_actor_ids, vec![id("bo")]);
        assert_eq!(without_cy.version, 3);
        assert_eq!(refilled.recent_actor_ids, vec![id("bo")]);
        assert_eq!(refilled.actor_id, id("bo"));
        assert!(empty.is_none());
    }

    #[test]
    fn notification_ids_are_deterministic_and_per_recipient() {
        assert_eq!(hash_id(&["a", "b"]), hash_id(&["a", "b"]));
        assert_ne!(hash_id(&["a", "b"]), hash_id(&["ab", ""]));
        assert!(valid_notification_id(&hash_id(&["x"])));
        assert!(!valid_notification_id("NOTIF#x"));
    }

    #[test]
    fn an_unknown_type_in_preferences_is_refused() {
        let ok: Result<PreferencesInput, _> = serde_json::from_str(r#"{"muted":["reaction"]}"#);
        let bad: Result<PreferencesInput, _> = serde_json::from_str(r#"{"muted":["spam"]}"#);

        assert_eq!(ok.unwrap().muted, vec![NotificationType::Reaction]);
        assert!(bad.is_err());
    }
}
