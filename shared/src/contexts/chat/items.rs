//! Chat: item types stored in the table (their keys, index keys and entity names), and the views built from them.

use super::*;

pub mod keys {
    use super::*;

    pub fn room_partition(room_id: &str) -> String {
        format!("ROOM#{room_id}")
    }

    /// `ROOM#<roomId> / META`
    pub fn room(room_id: &str) -> Key {
        Key::new(room_partition(room_id), "META")
    }

    /// `DM#<min>#<max> / DM`: one direct-message room per pair, either way round.
    pub fn dm_lock(a: &UserId, b: &UserId) -> Key {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        Key::new(format!("DM#{low}#{high}"), "DM")
    }

    /// `ROOM#<roomId> / MEMBER#<userId>`: the room's side, with the read position.
    pub fn member(room_id: &str, user: &UserId) -> Key {
        Key::new(room_partition(room_id), format!("MEMBER#{user}"))
    }

    /// `USER#<userId> / ROOM#<roomId>`: the user's side (inbox entry).
    pub fn membership(user: &UserId, room_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(user),
            format!("ROOM#{room_id}"),
        )
    }

    /// GSI2 partition of a user's inbox (or of their archived rooms).
    pub fn inbox(user: &UserId, archived: bool) -> String {
        if archived {
            format!("ARCHIVED#{user}")
        } else {
            format!("INBOX#{user}")
        }
    }

    /// GSI2 sort key of an inbox entry: latest message first when read descending.
    pub fn inbox_sort(last_message_at: &str, room_id: &str) -> String {
        format!("{last_message_at}#{room_id}")
    }

    /// `ROOM#<roomId> / MSG#<messageId>`: messages in id (= commit) order.
    pub fn message(room_id: &str, message_id: &str) -> Key {
        Key::new(room_partition(room_id), format!("MSG#{message_id}"))
    }

    /// `ROOM#<roomId> / CMID#<userId>#<clientMessageId>`: a retried send finds it.
    pub fn client_message(room_id: &str, user: &UserId, client_message_id: &str) -> Key {
        Key::new(
            room_partition(room_id),
            format!("CMID#{user}#{client_message_id}"),
        )
    }

    /// `ROOM#<roomId> / SUB#<connectionId>`: a connection receiving the room's events.
    pub fn subscription(room_id: &str, connection_id: &str) -> Key {
        Key::new(room_partition(room_id), format!("SUB#{connection_id}"))
    }

    /// `WSCONN#<connectionId> / SUB#<roomId>`: lets `$disconnect` drop the connection's
    /// subscriptions.
    pub fn connection_subscription(connection_id: &str, room_id: &str) -> Key {
        Key::new(format!("WSCONN#{connection_id}"), format!("SUB#{room_id}"))
    }

    /// `ROOM#<roomId> / TYPING#<userId>`
    pub fn typing(room_id: &str, user: &UserId) -> Key {
        Key::new(room_partition(room_id), format!("TYPING#{user}"))
    }

    /// `USER#<userId> / PRESENCE`
    pub fn presence(user: &UserId) -> Key {
        Key::new(crate::table::keys::user_partition(user), "PRESENCE")
    }

    /// `USER#<userId> / CHATPREFS`: who may start a direct conversation with me.
    pub fn preferences(user: &UserId) -> Key {
        Key::new(crate::table::keys::user_partition(user), "CHATPREFS")
    }

    /// GSI1 partition of a community's channels (their META items), by room id.
    pub fn channels_of(community_id: &str) -> String {
        format!("CHANNELS#{community_id}")
    }

    /// `CHANNELS#<communityId> / COUNT`: how many channels a community has.
    pub fn channel_count(community_id: &str) -> Key {
        Key::new(channels_of(community_id), "COUNT")
    }

    /// `USER#<userId> / RATE#send#<window>`: sends counted per fixed window.
    pub fn send_window(user: &UserId, window: i64) -> Key {
        Key::new(
            crate::table::keys::user_partition(user),
            format!("RATE#send#{window}"),
        )
    }
}

// ---------------------------------------------------------------------------------
// Items and views
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RoomKind {
    Dm,
    Group,
    /// A community's channel: its members are the community's members.
    Channel,
}

/// The latest message of a room, as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub message_id: String,
    pub sender_id: UserId,
    pub text: String,
    pub sent_at: String,
    #[serde(default)]
    pub deleted: bool,
}

/// `ROOM#<roomId> / META`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    pub room_id: String,
    pub kind: RoomKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// A direct conversation's two users (empty for other kinds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dm_user_ids: Vec<UserId>,
    pub created_by: UserId,
    pub created_at: String,
    pub retention_days: u32,
    pub member_count: u32,
    /// How many messages were ever sent: a message's `seq` is its position.
    #[serde(default)]
    pub message_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Preview>,
    /// Who set a group's current name (its creator, or its last renamer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_by: Option<UserId>,
    /// The automatic moderation verdict on its name (absent until checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<crate::contexts::moderation::Screening>,
}

impl Room {
    /// The room as `viewer` sees it: a name moderation hid only whoever set it reads.
    pub fn for_viewer(mut self, viewer: &UserId) -> Self {
        let named_by_viewer = self.name_by.as_ref().unwrap_or(&self.created_by) == viewer;
        if self.name.is_some()
            && !crate::contexts::moderation::shown_to(
                self.screening.as_ref(),
                named_by_viewer,
                false,
            )
        {
            self.name = Some(crate::contexts::moderation::HIDDEN_TEXT.into());
        }
        self
    }
}

/// `ROOM#<roomId> / MEMBER#<userId>`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub room_id: String,
    pub user_id: UserId,
    pub joined_at: String,
    pub added_by: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_at: Option<String>,
    /// `seq` of the last message read: unread = the room's `messageCount` − this.
    #[serde(default)]
    pub read_seq: u64,
}

/// `USER#<userId> / ROOM#<roomId>`: the user's own flags on a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub room_id: String,
    pub user_id: UserId,
    pub joined_at: String,
    #[serde(default)]
    pub archived: bool,
}

/// `ROOM#<roomId> / MSG#<messageId>`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub room_id: String,
    pub message_id: String,
    /// The message's position in its room (1, 2, ...).
    pub seq: u64,
    pub sender_id: UserId,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub client_message_id: String,
    pub sent_at: String,
    #[serde(default)]
    pub edited: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    /// Grows with each edit or delete: clients keep the highest version they saw.
    #[serde(default = "first_version")]
    pub version: u64,
    /// The automatic moderation verdict on its current text (absent until checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<crate::contexts::moderation::Screening>,
}

impl Message {
    /// The message as `viewer` sees it: a hidden one's text only its sender reads.
    pub fn for_viewer(mut self, viewer: &UserId) -> Self {
        if !crate::contexts::moderation::shown_to(
            self.screening.as_ref(),
            &self.sender_id == viewer,
            false,
        ) {
            self.text = crate::contexts::moderation::HIDDEN_TEXT.into();
        }
        self
    }
}

/// A room in my inbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    #[serde(flatten)]
    pub room: Room,
    pub unread_count: u64,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<String>,
}

/// A community's channel, as its members list them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelEntry {
    #[serde(flatten)]
    pub room: Room,
    pub unread_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<String>,
}

/// A room with its members' read positions and who is typing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomDetail {
    #[serde(flatten)]
    pub room: Room,
    pub unread_count: u64,
    pub archived: bool,
    pub members: Vec<Member>,
    pub typing: Vec<UserId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PresenceStatus {
    Online,
    Away,
    Busy,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub user_id: UserId,
    pub status: PresenceStatus,
    /// When the status last changed; absent for a user never seen online.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum DmPolicy {
    /// The default: only my connections may start a direct conversation with me.
    #[default]
    Connections,
    Anyone,
}

/// Stored as `USER#<u> / CHATPREFS`; also the body of `PUT /v1/me/chat-preferences`
/// (where unknown fields are refused by [`parse_preferences`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatPreferences {
    #[serde(default)]
    pub allow_dms_from: DmPolicy,
}

/// A subscribed connection of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub room_id: String,
    pub connection_id: String,
    pub user_id: UserId,
    /// The last second the connection's token is honoured (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honoured_until: Option<i64>,
}

impl Subscription {
    /// Where a push to this subscriber goes.
    pub fn target(&self) -> crate::contexts::realtime::push::Target {
        crate::contexts::realtime::push::Target {
            connection_id: self.connection_id.clone(),
            honoured_until: self.honoured_until,
        }
    }
}

// ---------------------------------------------------------------------------------
// Item helpers
// ---------------------------------------------------------------------------------

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl Entity for Room {
    const NAME: &'static str = "Room";

    fn key(&self) -> Key {
        keys::room(&self.room_id)
    }

    /// A channel is listed under its community (GSI1 `CHANNELS#<communityId>`).
    fn index_keys(&self) -> Vec<IndexKey> {
        match (&self.kind, &self.community_id) {
            (RoomKind::Channel, Some(community_id)) => vec![IndexKey::new(
                Index::Gsi1,
                keys::channels_of(community_id),
                &self.room_id,
            )],
            _ => Vec::new(),
        }
    }
}

/// On a channel's message and member items: the stream's chat reaction does no
/// per-member work for them (no inbox entries, no message notifications, no
/// `memberJoined`/`memberLeft` events), so a message costs work per subscribed
/// connection, not per member of the community.
pub const IN_CHANNEL: &str = "inChannel";

/// `CHANNELS#<communityId> / COUNT`: a community's channels, at most [`MAX_CHANNELS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelCount {
    pub community_id: String,
    pub channels: u32,
}

impl Entity for ChannelCount {
    const NAME: &'static str = "ChannelCount";

    fn key(&self) -> Key {
        keys::channel_count(&self.community_id)
    }
}

impl Entity for Member {
    const NAME: &'static str = "RoomMember";

    fn key(&self) -> Key {
        keys::member(&self.room_id, &self.user_id)
    }
}

/// A message as sent: see [`RetainedMessage`] for its TTL.
impl Entity for Message {
    const NAME: &'static str = "Message";

    fn key(&self) -> Key {
        keys::message(&self.room_id, &self.message_id)
    }
}

/// A message with its TTL, which follows its room's retention (known to the sender),
/// and the claim of the WebSocket route that pushes it itself, if one does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetainedMessage<'a> {
    #[serde(flatten)]
    pub message: &'a Message,
    #[serde(skip)]
    pub expires_at: i64,
    /// [`LIVE_PUSH_UNTIL`]: set when the sending route pushes the message itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_push_until: Option<i64>,
    /// [`ROOM_VERSION`]: the room's [`SUBSCRIPTIONS_VERSION`] the message was stored
    /// under.
    pub room_version: u64,
    /// [`IN_CHANNEL`]: the message is a channel's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_channel: bool,
}

/// On a message item: the room's [`SUBSCRIPTIONS_VERSION`] when it was stored. The
/// stream's chat reaction keeps each room's subscribers and members by that version
/// between batches, and reads them again only when it moved.
pub const ROOM_VERSION: &str = "roomVersion";

/// On a message or member item: the epoch millisecond until which the WebSocket route
/// that made its latest change (a send, edit, delete or read receipt) pushes that change
/// to the room itself. The stream's chat reaction leaves the push to the route until
/// then, and takes it over if the route has not marked it done ([`LIVE_PUSHED`]).
/// Absent when the change came over REST: the stream pushes it at once.
pub const LIVE_PUSH_UNTIL: &str = "livePushUntil";

/// On a message or member item: the token of the latest change whose push is done (a
/// message's `version`, a member's `readSeq`), set by the route after pushing it or by
/// the stream when it takes the push over. Whoever sets it first pushes; the other
/// does not.
pub const LIVE_PUSHED: &str = "livePushed";

/// On a message or member item: who marked [`LIVE_PUSHED`], `route` or `stream`. The
/// stream marks a change before it pushes it, so a retry of its record finds its own
/// mark and pushes again; a route marks after its posts, so its mark means done.
pub const LIVE_PUSHED_BY: &str = "livePushedBy";

/// Who pushes a change (see [`LIVE_PUSHED_BY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedBy {
    Route,
    Stream,
}

impl PushedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Route => "route",
            Self::Stream => "stream",
        }
    }
}

impl Entity for RetainedMessage<'_> {
    const NAME: &'static str = Message::NAME;

    fn key(&self) -> Key {
        self.message.key()
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

impl Entity for Presence {
    const NAME: &'static str = "Presence";

    fn key(&self) -> Key {
        keys::presence(&self.user_id)
    }
}

/// `USER#<userId> / ROOM#<roomId>`: the user's side of a membership, their inbox entry
/// (GSI2 `INBOX#<userId>` or `ARCHIVED#<userId>`, latest message first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RoomMembership {
    pub membership: Membership,
    /// When the room's latest message was sent (or the membership began): the inbox
    /// order. `None` for a channel, which is not in the inbox.
    #[serde(skip)]
    pub sort_at: Option<String>,
}

impl Entity for RoomMembership {
    const NAME: &'static str = "RoomMembership";

    fn key(&self) -> Key {
        keys::membership(&self.membership.user_id, &self.membership.room_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        let membership = &self.membership;
        self.sort_at
            .iter()
            .map(|sort_at| {
                IndexKey::new(
                    Index::Gsi2,
                    keys::inbox(&membership.user_id, membership.archived),
                    keys::inbox_sort(sort_at, &membership.room_id),
                )
            })
            .collect()
    }
}

/// `DM#<low>#<high> / DM`: the direct conversation of a pair, either way round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DmLock {
    #[serde(skip)]
    pub users: (UserId, UserId),
    pub room_id: String,
}

impl Entity for DmLock {
    const NAME: &'static str = "DmLock";

    fn key(&self) -> Key {
        keys::dm_lock(&self.users.0, &self.users.1)
    }
}

/// `ROOM#<roomId> / CMID#<userId>#<clientMessageId>`: the message a client message id
/// was stored as, so a retried send finds it; expires with the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientMessageId {
    #[serde(skip)]
    pub room_id: String,
    #[serde(skip)]
    pub sender_id: UserId,
    #[serde(skip)]
    pub client_message_id: String,
    pub message_id: String,
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for ClientMessageId {
    const NAME: &'static str = "ClientMessageId";

    fn key(&self) -> Key {
        keys::client_message(&self.room_id, &self.sender_id, &self.client_message_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// `ROOM#<roomId> / SUB#<connectionId>`: a connection receiving the room's events,
/// with the connection's TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RoomSubscription<'a> {
    pub subscription: &'a Subscription,
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for RoomSubscription<'_> {
    const NAME: &'static str = "RoomSubscription";

    fn key(&self) -> Key {
        keys::subscription(&self.subscription.room_id, &self.subscription.connection_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// The same subscription as `WSCONN#<connectionId> / SUB#<roomId>`, so `$disconnect`
/// finds the connection's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ConnectionSubscription<'a>(pub RoomSubscription<'a>);

impl Entity for ConnectionSubscription<'_> {
    const NAME: &'static str = RoomSubscription::NAME;

    fn key(&self) -> Key {
        let subscription = self.0.subscription;
        keys::connection_subscription(&subscription.connection_id, &subscription.room_id)
    }

    fn expires_at(&self) -> Option<i64> {
        self.0.expires_at()
    }
}

/// `ROOM#<roomId> / TYPING#<userId>`: an indicator until `expiresAtMs` (epoch
/// milliseconds); TTL removes it the whole second after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingIndicator {
    #[serde(skip)]
    pub room_id: String,
    pub user_id: UserId,
    pub expires_at_ms: i64,
}

impl Entity for TypingIndicator {
    const NAME: &'static str = "Typing";

    fn key(&self) -> Key {
        keys::typing(&self.room_id, &self.user_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at_ms.div_euclid(1000) + 1)
    }
}

/// `USER#<userId> / CHATPREFS`: a user's [`ChatPreferences`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UserChatPreferences<'a> {
    #[serde(skip)]
    pub user_id: &'a UserId,
    pub preferences: &'a ChatPreferences,
}

impl Entity for UserChatPreferences<'_> {
    const NAME: &'static str = "ChatPreferences";

    fn key(&self) -> Key {
        keys::preferences(self.user_id)
    }
}

/// `USER#<userId> / RATE#send#<window>`: a user's sends in one fixed window. Only ever
/// written by an update (`ADD sends`), which creates this item on the window's first
/// send; it expires two windows after the window began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendWindow {
    #[serde(skip)]
    pub user_id: UserId,
    #[serde(skip)]
    pub window: i64,
    #[serde(skip)]
    pub window_seconds: i64,
    pub sends: u32,
}

impl Entity for SendWindow {
    const NAME: &'static str = "SendWindow";

    fn key(&self) -> Key {
        keys::send_window(&self.user_id, self.window)
    }

    fn expires_at(&self) -> Option<i64> {
        Some((self.window + 2) * self.window_seconds)
    }
}

/// The member pair of items (room side, user side) for a new member.
pub(super) fn member_items(
    room: &Room,
    user: &UserId,
    added_by: &UserId,
    at: &str,
) -> AppResult<(Item, Item)> {
    new_member(room, user, added_by, at).map(|(_, items)| items)
}

/// A new member, and its pair of items (room side, user side).
pub(super) fn new_member(
    room: &Room,
    user: &UserId,
    added_by: &UserId,
    at: &str,
) -> AppResult<(Member, (Item, Item))> {
    let member = Member {
        room_id: room.room_id.clone(),
        user_id: user.clone(),
        joined_at: at.to_owned(),
        added_by: added_by.clone(),
        last_read_message_id: room.last_message_id.clone(),
        last_read_at: None,
        // A new member starts with nothing unread.
        read_seq: room.message_count,
    };
    let mut member_item = member.item()?;
    let channel = room.kind == RoomKind::Channel;
    if channel {
        member_item.insert(IN_CHANNEL.into(), AttributeValue::Bool(true));
    }
    let membership = Membership {
        room_id: room.room_id.clone(),
        user_id: user.clone(),
        joined_at: at.to_owned(),
        archived: false,
    };
    let membership_item = RoomMembership {
        membership,
        sort_at: (!channel).then(|| room.last_message_at.as_deref().unwrap_or(at).to_owned()),
    }
    .item()?;
    Ok((member, (member_item, membership_item)))
}

impl From<PreferencesInput> for ChatPreferences {
    fn from(input: PreferencesInput) -> Self {
        Self {
            allow_dms_from: input.allow_dms_from,
        }
    }
}

// ---------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------

/// The outcome of a send: the stored message, and whether it was a retry of an earlier
/// send (same client message id) that stored nothing new.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    pub duplicate: bool,
    /// For a live send (with a claim) that stored the message: what its push needs,
    /// read alongside the send.
    pub audience: Option<KnownAudience>,
}

/// What a live send learned on its way that its push reuses: the room's
/// [`SUBSCRIPTIONS_VERSION`] its message committed under, and the users the sender
/// blocks or is blocked by.
#[derive(Debug, Clone, Default)]
pub struct KnownAudience {
    pub subscriptions_version: u64,
    pub blocked: HashSet<UserId>,
}

/// On a room's META item: bumped after every change to the room's subscriptions
/// (subscribe, unsubscribe, leave, a closed connection) and members (added, left,
/// erased). A live send commits only under
/// the version it read, so a subscriber list read at that version is the list of the
/// message's moment, and a WebSocket function keeps it between invocations
/// ([`SubscriberCache`]) instead of reading it for every send.
pub const SUBSCRIPTIONS_VERSION: &str = "subscriptionsVersion";

/// Per-user send limit: at most `max` sends per `window_seconds` window.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub max: u32,
    pub window_seconds: i64,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            max: 30,
            window_seconds: 10,
        }
    }
}

impl RateLimit {
    /// The per-user chat send limit from the environment: `CHAT_SEND_LIMIT` sends per
    /// `CHAT_SEND_WINDOW_SECONDS`, each a positive integer, with the defaults above.
    pub fn from_env() -> Result<Self, crate::core::config::ConfigError> {
        let default = Self::default();
        Ok(Self {
            max: crate::core::config::optional_number("CHAT_SEND_LIMIT", default.max)?,
            window_seconds: crate::core::config::optional_number(
                "CHAT_SEND_WINDOW_SECONDS",
                default.window_seconds,
            )?,
        })
    }
}

// ---------------------------------------------------------------------------------
// Events (frames pushed to connections)
// ---------------------------------------------------------------------------------

/// An event pushed to a room's subscribed connections.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RoomEvent {
    #[serde(rename_all = "camelCase")]
    Message { room_id: String, message: Message },
    #[serde(rename_all = "camelCase")]
    MessageEdited { room_id: String, message: Message },
    #[serde(rename_all = "camelCase")]
    MessageDeleted { room_id: String, message: Message },
    /// Moderation hid a message already delivered: clients show it as hidden (its
    /// sender still reads it).
    #[serde(rename_all = "camelCase")]
    MessageWithdrawn {
        room_id: String,
        message_id: String,
        sender_id: UserId,
    },
    #[serde(rename_all = "camelCase")]
    Typing {
        room_id: String,
        user_id: UserId,
        typing: bool,
        /// Epoch milliseconds after which clients drop the indicator by themselves.
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
    },
    #[serde(rename_all = "camelCase")]
    ReadReceipt {
        room_id: String,
        user_id: UserId,
        message_id: String,
        read_at: String,
    },
    #[serde(rename_all = "camelCase")]
    Presence { room_id: String, presence: Presence },
    #[serde(rename_all = "camelCase")]
    MemberJoined { room_id: String, user_id: UserId },
    #[serde(rename_all = "camelCase")]
    MemberLeft { room_id: String, user_id: UserId },
}

/// The text of messages and group names, screened by moderation (a community channel's
/// go to its community's queue).
pub const SCREENED: &[crate::contexts::moderation::Screened] = &[
    crate::contexts::moderation::Screened {
        entity: Message::NAME,
        text: &["text"],
        author: &["senderId"],
        community: crate::contexts::moderation::CommunityOf::Parent("communityId"),
        posts: false,
    },
    crate::contexts::moderation::Screened {
        entity: Room::NAME,
        text: &["name"],
        author: &["nameBy", "createdBy"],
        community: crate::contexts::moderation::CommunityOf::Own("communityId"),
        posts: false,
    },
];
