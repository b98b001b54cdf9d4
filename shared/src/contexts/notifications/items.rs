//! Notifications: item types stored in the table (their keys, index keys and entity names), and the views built from them.

use super::*;

pub mod keys {
    use super::*;

    /// `USER#<user> / NOTIF#<notificationId>`.
    pub fn notification(user: &UserId, notification_id: &str) -> Key {
        Key::new(user_partition(user), format!("NOTIF#{notification_id}"))
    }

    /// `USER#<user> / NOTIFCOUNT`: the unread counter.
    /// `POSTFANOUT#<topicId> / STEP#<n>`
    pub fn post_fanout(topic_id: &str, step: u32) -> Key {
        Key::new(format!("POSTFANOUT#{topic_id}"), format!("STEP#{step:06}"))
    }

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

    /// `USER#<actor> / SENTNOTIF#<recipient>#<notificationId>`: a notification that names
    /// the actor in another user's partition, so erasing the actor finds it.
    pub fn sent(actor: &UserId, recipient: &UserId, notification_id: &str) -> Key {
        Key::new(
            user_partition(actor),
            format!("{SENT_PREFIX}{recipient}#{notification_id}"),
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
    /// A moderator approved my request to join a community.
    JoinRequestApproved,
    /// A community's moderator published my topic that waited for approval.
    PostApproved,
    /// A new topic in a community I follow.
    CommunityPost,
    /// An announcement in a community I am a member of.
    Announcement,
    /// A community's moderator turned my topic down.
    PostRejected,
    /// An occurrence I answered (going, maybe or waitlisted) starts soon.
    EventReminder,
    /// An event I answered moved (time, place or recurrence).
    EventChanged,
    /// An event I answered was cancelled.
    EventCancelled,
    /// A seat freed up and I moved up from the waitlist: I am going.
    EventSeatGranted,
    /// Moderation hid something I wrote (`object.content` says what, and why).
    ContentHidden,
    /// A moderator decided my appeal (`object.appealStatus`: upheld or denied;
    /// `object.content`: the item, for an appeal of content).
    AppealDecided,
    /// A moderator acted on my account (`object.accountAction`: warn, mute, suspend,
    /// ban or reinstate, the reason, and until when).
    AccountActioned,
}

impl NotificationType {
    /// Whether its actor is its recipient: something happened to me (a seat came free)
    /// rather than someone did something. Every other type names someone else.
    pub fn is_about_the_actor(self) -> bool {
        matches!(
            self,
            NotificationType::EventSeatGranted
                | NotificationType::ContentHidden
                | NotificationType::AppealDecided
                | NotificationType::AccountActioned
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::ConnectionRequest => "connectionRequest",
            NotificationType::ConnectionAccepted => "connectionAccepted",
            NotificationType::Reply => "reply",
            NotificationType::Mention => "mention",
            NotificationType::Reaction => "reaction",
            NotificationType::AnswerAccepted => "answerAccepted",
            NotificationType::Message => "message",
            NotificationType::JoinRequestApproved => "joinRequestApproved",
            NotificationType::PostApproved => "postApproved",
            NotificationType::PostRejected => "postRejected",
            NotificationType::CommunityPost => "communityPost",
            NotificationType::Announcement => "announcement",
            NotificationType::EventReminder => "eventReminder",
            NotificationType::EventChanged => "eventChanged",
            NotificationType::EventCancelled => "eventCancelled",
            NotificationType::EventSeatGranted => "eventSeatGranted",
            NotificationType::ContentHidden => "contentHidden",
            NotificationType::AppealDecided => "appealDecided",
            NotificationType::AccountActioned => "accountActioned",
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The occurrence a reminder is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence_id: Option<String>,
    /// What moderation hid, and why (`contentHidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<moderation::ContentRef>,
    /// For `appealDecided`: `upheld` or `denied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal_status: Option<moderation::AppealStatus>,
    /// For `accountActioned`: what a moderator did to my account, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_action: Option<moderation::AccountAction>,
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
    pub(super) fn sort_key(&self) -> String {
        format!("{}#{}", self.updated_at, self.notification_id)
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

/// `USER#<user> / NOTIFPREFS`: a user's [`Preferences`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationPreferences {
    #[serde(skip)]
    pub user_id: UserId,
    #[serde(flatten)]
    pub preferences: Preferences,
}

impl Entity for NotificationPreferences {
    const NAME: &'static str = "NotificationPreferences";

    fn key(&self) -> Key {
        keys::preferences(&self.user_id)
    }
}

/// `USER#<user> / NOTIFCOUNT`: the unread counter. It is never put whole: the first
/// `ADD unread` creates it and names its entity (see `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NotificationCounter<'a> {
    #[serde(skip)]
    pub user_id: &'a UserId,
    pub unread: i64,
}

impl Entity for NotificationCounter<'_> {
    const NAME: &'static str = "NotificationCounter";

    fn key(&self) -> Key {
        keys::counter(self.user_id)
    }
}

/// `USER#<user> / NOTIFACTOR#<groupId>#<actor>`: the actor already counts in the grouped
/// notification, so a redelivered record adds nobody twice. Only keys and a TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationActor {
    #[serde(skip)]
    pub recipient: UserId,
    #[serde(skip)]
    pub group_id: String,
    #[serde(skip)]
    pub actor: UserId,
    /// Expires with the notifications (epoch seconds).
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for NotificationActor {
    const NAME: &'static str = "NotificationActor";

    fn key(&self) -> Key {
        keys::group_actor(&self.recipient, &self.group_id, &self.actor)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// `PROCESSED#notifier#<eventId> / PROCESSED`: a stream REMOVE record already applied.
/// Only keys and a TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessedRecord {
    #[serde(skip)]
    pub event_id: String,
    /// Kept as long as the stream keeps records (epoch seconds).
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for ProcessedRecord {
    const NAME: &'static str = "ProcessedRecord";

    fn key(&self) -> Key {
        keys::processed(&self.event_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
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

/// The sort-key prefix of [`SentNotification`] pointers.
pub const SENT_PREFIX: &str = "SENTNOTIF#";

/// In the actor's partition: a notification naming them in `recipient`'s partition.
/// Written in the notification's transaction and expiring with it; account erasure
/// follows it to withdraw the actor from that notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentNotification {
    pub actor_id: UserId,
    pub recipient_id: UserId,
    pub notification_id: String,
}

impl SentNotification {
    pub fn of(actor: &UserId, recipient: &UserId, notification_id: &str) -> Self {
        Self {
            actor_id: actor.clone(),
            recipient_id: recipient.clone(),
            notification_id: notification_id.to_owned(),
        }
    }
}

impl Entity for SentNotification {
    const NAME: &'static str = "SentNotification";

    fn key(&self) -> Key {
        keys::sent(&self.actor_id, &self.recipient_id, &self.notification_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(now_epoch_seconds() + NOTIFICATION_TTL_SECONDS)
    }
}

/// `POSTFANOUT#<topicId> / STEP#<n>`: one step of telling a community of a new topic
/// (its followers, or every member for an announcement), a page of
/// [`POST_FANOUT_PAGE`] at a time. Each step is its own INSERT record: the notifier
/// runs it, writes the next step (with where the page ended) and deletes this one in one
/// transaction, so a redelivered step that was done changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostFanout {
    pub topic_id: String,
    pub community_id: String,
    pub author_id: UserId,
    #[serde(default)]
    pub announcement: bool,
    /// The topic's publication time: the notifications' time.
    pub at: String,
    pub step: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<crate::core::cursor::PageKey>,
}

/// Recipients per [`PostFanout`] step.
pub const POST_FANOUT_PAGE: u32 = 100;

impl Entity for PostFanout {
    const NAME: &'static str = "PostFanout";

    fn key(&self) -> Key {
        keys::post_fanout(&self.topic_id, self.step)
    }

    /// A step nobody ran within a day is dropped.
    fn expires_at(&self) -> Option<i64> {
        Some(now_epoch_seconds() + 24 * 3600)
    }
}
