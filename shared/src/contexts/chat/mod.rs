//! Chat: rooms (direct messages, groups, and community channels later), members,
//! messages, read receipts, typing, presence and live-event subscriptions.
//!
//! Ordering: a room's META item holds the id of its latest message, and a message is
//! written in one transaction with a conditional update of that id (it must still be the
//! one read). Ids are ULIDs made strictly greater than the previous one, so a room's
//! messages commit in id order: a client that saw message X and fetches "after X" can
//! never miss a message committed later with a smaller id. The transaction also carries
//! the client message id item (`attribute_not_exists`), so a retried send is stored once
//! and acked with the original id.
//!
//! Delivery runs from the table's stream (the fan-out function's chat reaction,
//! `agora::reactions::ChatDelivery`): a message acked to its sender is stored, and its stream record reaches every subscribed
//! connection even if the sending Lambda dies right after the write.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::contexts::graph::{self, Relationship};
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::Entity;
use crate::table::store::Returning;
use crate::table::store::{self, AttributeValue, Expr, Index, Item, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, WriteError};

pub mod erasure;

/// Longest message text, in characters. 4,000 characters of 4-byte UTF-8 plus the
/// event envelope stay far below API Gateway's 128 KB message limit.
pub const MAX_MESSAGE_CHARS: u64 = 4000;
/// Messages expire this many days after they were sent unless the room says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
pub const MAX_RETENTION_DAYS: u32 = 365;
/// Largest group conversation.
pub const MAX_GROUP_MEMBERS: u32 = 250;
/// Members one request may add: with their two items each and the room's, a request is
/// one transaction of at most 100 items.
pub const MAX_MEMBERS_PER_REQUEST: u64 = 49;
/// Members a new group may start with besides its creator (same transaction bound).
pub const MAX_INITIAL_MEMBERS: u64 = MAX_MEMBERS_PER_REQUEST - 1;
/// Room names.
pub const MAX_ROOM_NAME_CHARS: u64 = 80;
/// A client message id is kept as long as a message can live, so any retry is caught.
const CLIENT_MESSAGE_ID_MAX: usize = 64;
/// Attempts at winning a busy room's ordering condition before giving up with 409.
const SEND_ATTEMPTS: u32 = 12;
/// A typing indicator lasts this long unless renewed (clients renew every ~3 s).
pub const DEFAULT_TYPING_SECONDS: i64 = 5;
/// How many of a user's rooms (the most recently active) hear about their presence changes.
pub const PRESENCE_FANOUT_ROOMS: u32 = 50;
/// Longest preview of the latest message kept on the room.
const PREVIEW_CHARS: usize = 140;

pub mod reactions;

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
    /// A community's channel: membership follows the community (the communities issue).
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
}

fn first_version() -> u64 {
    1
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
}

// ---------------------------------------------------------------------------------
// Wire inputs
// ---------------------------------------------------------------------------------

fn invalid(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn message_text(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(invalid("blank", "must not be blank"));
    }
    validation::plain_text(value)
}

fn client_message_id(value: &str) -> Result<(), ValidationError> {
    let valid = !value.is_empty()
        && value.len() <= CLIENT_MESSAGE_ID_MAX
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "clientMessageId",
            "must be 1-64 characters of letters, digits and - _ . :",
        ))
    }
}

fn message_id_field(value: &str) -> Result<(), ValidationError> {
    if ulid::Ulid::from_string(value).is_ok() {
        Ok(())
    } else {
        Err(invalid("messageId", "must be a message id"))
    }
}

/// `POST /v1/rooms/{roomId}/messages`, and the `sendMessage` action.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMessage {
    #[validate(
        length(min = 1, max = "MAX_MESSAGE_CHARS"),
        custom(function = "message_text")
    )]
    pub text: String,
    #[validate(custom(function = "message_id_field"))]
    pub reply_to: Option<String>,
    #[validate(custom(function = "client_message_id"))]
    pub client_message_id: String,
}

/// `PATCH /v1/rooms/{roomId}/messages/{messageId}`, and the `editMessage` action.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageEdit {
    #[validate(
        length(min = 1, max = "MAX_MESSAGE_CHARS"),
        custom(function = "message_text")
    )]
    pub text: String,
}

/// `POST /v1/rooms`: a group conversation.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGroup {
    #[validate(
        length(min = 1, max = "MAX_ROOM_NAME_CHARS"),
        custom(function = "validation::single_line")
    )]
    pub name: String,
    #[serde(default)]
    #[validate(length(max = "MAX_INITIAL_MEMBERS"))]
    pub member_ids: Vec<String>,
    #[validate(range(min = 1, max = "MAX_RETENTION_DAYS"))]
    pub retention_days: Option<u32>,
}

/// `PATCH /v1/rooms/{roomId}`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomPatch {
    #[validate(
        length(min = 1, max = "MAX_ROOM_NAME_CHARS"),
        custom(function = "validation::single_line")
    )]
    pub name: Option<String>,
    #[validate(range(min = 1, max = "MAX_RETENTION_DAYS"))]
    pub retention_days: Option<u32>,
}

/// `POST /v1/rooms/{roomId}/members`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMembers {
    #[validate(length(min = 1, max = "MAX_MEMBERS_PER_REQUEST"))]
    pub user_ids: Vec<String>,
}

/// Parses user ids of a list field, naming the bad entry.
pub fn parse_user_ids(field: &str, raw: &[String]) -> AppResult<Vec<UserId>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, id) in raw.iter().enumerate() {
        let user = UserId::parse(id)
            .map_err(|_| AppError::invalid_field(format!("{field}[{i}]"), "is not a user id"))?;
        if seen.insert(user.clone()) {
            out.push(user);
        }
    }
    Ok(out)
}

/// A room id is a ULID (it becomes part of keys).
pub fn parse_room_id(raw: &str) -> AppResult<String> {
    ulid::Ulid::from_string(raw)
        .map(|u| u.to_string())
        .map_err(|_| AppError::bad_field("roomId", "is not a room id"))
}

pub fn parse_message_id(field: &str, raw: &str) -> AppResult<String> {
    ulid::Ulid::from_string(raw)
        .map(|u| u.to_string())
        .map_err(|_| AppError::bad_field(field, "is not a message id"))
}

// ---------------------------------------------------------------------------------
// Pure rules
// ---------------------------------------------------------------------------------

/// The next message id of a room: a fresh ULID, or the previous id plus one when the
/// clock has not moved past it, so ids strictly increase in commit order.
pub fn next_message_id(previous: Option<&str>) -> String {
    let fresh = ulid::Ulid::new();
    match previous.and_then(|p| ulid::Ulid::from_string(p).ok()) {
        Some(previous) if fresh <= previous => previous.increment().unwrap_or(previous).to_string(),
        _ => fresh.to_string(),
    }
}

/// The first characters of a message, for the inbox.
pub fn preview_text(text: &str) -> String {
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    preview
}

/// May `sender` start a direct conversation with `target`?
pub fn dm_allowed(policy: DmPolicy, relationship: Relationship) -> bool {
    match relationship {
        Relationship::SelfView => false,
        Relationship::Connection => true,
        Relationship::Stranger => policy == DmPolicy::Anyone,
    }
}

/// Unread messages for a member of a room.
pub fn unread(room: &Room, member: Option<&Member>) -> u64 {
    room.message_count
        .saturating_sub(member.map_or(0, |m| m.read_seq))
}

fn retention_seconds(days: u32) -> i64 {
    i64::from(days) * 24 * 3600
}

// ---------------------------------------------------------------------------------
// Item helpers
// ---------------------------------------------------------------------------------

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl Entity for Room {
    const NAME: &'static str = "Room";

    fn key(&self) -> Key {
        keys::room(&self.room_id)
    }
}

impl Entity for Member {
    const NAME: &'static str = "RoomMember";

    fn key(&self) -> Key {
        keys::member(&self.room_id, &self.user_id)
    }
}

/// A message's TTL follows its room's retention, so the sender adds it.
impl Entity for Message {
    const NAME: &'static str = "Message";

    fn key(&self) -> Key {
        keys::message(&self.room_id, &self.message_id)
    }
}

impl Entity for Presence {
    const NAME: &'static str = "Presence";

    fn key(&self) -> Key {
        keys::presence(&self.user_id)
    }
}

fn item_of<T: Serialize>(value: &T, key: &Key, entity: &str) -> AppResult<Item> {
    let mut item = store::to_item(value)?;
    item.extend(key.to_item());
    item.insert("entity".into(), s(entity));
    Ok(item)
}

/// The `Forbidden` detail that means "not a member" (error frames say `notMember`).
pub const NOT_MEMBER: &str = "you are not a member of this room";

fn not_member() -> AppError {
    AppError::Forbidden(NOT_MEMBER.into())
}

fn no_room() -> AppError {
    AppError::NotFound("no such room".into())
}

/// The member pair of items (room side, user side) for a new member.
fn member_items(
    room: &Room,
    user: &UserId,
    added_by: &UserId,
    at: &str,
) -> AppResult<(Item, Item)> {
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
    let member_item = member.item()?;
    let membership = Membership {
        room_id: room.room_id.clone(),
        user_id: user.clone(),
        joined_at: at.to_owned(),
        archived: false,
    };
    let mut membership_item = item_of(
        &membership,
        &keys::membership(user, &room.room_id),
        "RoomMembership",
    )?;
    let sort_at = room.last_message_at.as_deref().unwrap_or(at);
    membership_item.insert("GSI2PK".into(), s(keys::inbox(user, false)));
    membership_item.insert("GSI2SK".into(), s(keys::inbox_sort(sort_at, &room.room_id)));
    Ok((member_item, membership_item))
}

// ---------------------------------------------------------------------------------
// Rooms
// ---------------------------------------------------------------------------------

pub async fn get_preferences(store: &Store, user: &UserId) -> AppResult<ChatPreferences> {
    Ok(store
        .get::<ChatPreferences>(&keys::preferences(user))
        .await?
        .unwrap_or_default())
}

/// `PUT /v1/me/chat-preferences`
pub async fn set_preferences(
    store: &Store,
    me: &UserId,
    preferences: ChatPreferences,
) -> AppResult<ChatPreferences> {
    let item = item_of(&preferences, &keys::preferences(me), "ChatPreferences")?;
    store.put(item).await?;
    Ok(preferences)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ChatPreferencesInput)]
pub struct PreferencesInput {
    pub allow_dms_from: DmPolicy,
}

impl From<PreferencesInput> for ChatPreferences {
    fn from(input: PreferencesInput) -> Self {
        Self {
            allow_dms_from: input.allow_dms_from,
        }
    }
}

/// Refuses `me` reaching `other` (a new direct conversation, or adding them to a
/// group): never across a block, and strangers only when they accept anyone.
async fn check_reachable(store: &Store, me: &UserId, other: &UserId, field: &str) -> AppResult<()> {
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
    Ok(())
}

/// `POST /v1/rooms/dm`: the direct conversation with `other`, created on first use and
/// found again by either user. Returns the room and whether it was created.
pub async fn open_dm(store: &Store, me: &UserId, other: &UserId) -> AppResult<(Room, bool)> {
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
    check_reachable(store, me, other, "userId").await?;
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
    };
    let mut lock_item = lock.to_item();
    lock_item.insert("entity".into(), s("DmLock"));
    lock_item.insert("roomId".into(), s(&room.room_id));
    let mut transaction = store
        .transaction()
        .put(lock_item, Some(Condition::absent(DM_FREE)))
        .put(room.item()?, Some(Condition::absent(ROOM_NEW)));
    for user in [me, other] {
        let (member, membership) = member_items(&room, user, me, &at)?;
        transaction = transaction.put(member, None).put(membership, None);
    }
    match transaction.commit().await {
        Ok(()) => Ok((room, true)),
        // The other user opened it at the same moment: theirs is the room.
        Err(error) if error.failed(DM_FREE) => Box::pin(open_dm(store, me, other)).await,
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
    let member = member.ok_or_else(not_member)?;
    Ok((room, member))
}

/// Am I a member? One GetItem.
pub async fn require_member(store: &Store, me: &UserId, room_id: &str) -> AppResult<Member> {
    store
        .get::<Member>(&keys::member(room_id, me))
        .await?
        .ok_or_else(not_member)
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
        room,
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
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
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
        next_cursor: next.map(|k| cursors.seal(&scope, &k)).transpose()?,
    })
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
    if patch.name.is_some() && room.kind != RoomKind::Group {
        return Err(AppError::invalid_field("name", "only groups have a name"));
    }
    let mut sets = Vec::new();
    let mut values = Vec::new();
    let mut names = Vec::new();
    if let Some(name) = &patch.name {
        sets.push("#name = :name");
        names.push(("#name", "name"));
        values.push((":name", s(name.trim())));
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
    let grow = Expr::new("ADD memberCount :count").value(":count", n(count));
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
/// only be archived). Repeatable.
pub async fn leave_room(store: &Store, me: &UserId, room_id: &str) -> AppResult<()> {
    let Some(room) = get_room(store, room_id).await? else {
        return Err(no_room());
    };
    if room.kind == RoomKind::Dm {
        return Err(AppError::Conflict(
            "a direct conversation cannot be left; archive it instead".into(),
        ));
    }
    let shrink = Expr::new("ADD memberCount :minus").value(":minus", n(-1));
    let result = store
        .transaction()
        .delete(&keys::member(room_id, me), Some(Condition::present(MEMBER)))
        .delete(&keys::membership(me, room_id), None)
        .update(&keys::room(room_id), shrink, None)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(()),
        // Left before: nothing to do.
        Err(error) if error.failed(MEMBER) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// `PUT /v1/rooms/{roomId}/archive`: moves the room between my inbox and my archive.
pub async fn set_archived(
    store: &Store,
    me: &UserId,
    room_id: &str,
    archived: bool,
) -> AppResult<()> {
    let (room, _) = room_as_member(store, me, room_id).await?;
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
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
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
                room,
            })
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: next.map(|k| cursors.seal(&scope, &k)).transpose()?,
    })
}

/// Moves members' inbox entries to the room's latest message time (run by the delivery
/// function, once per room per stream batch) and returns the members. Members `watching`
/// the room (subscribed) are skipped: their entries catch up when they unsubscribe or
/// disconnect, which keeps a busy room from costing one write per member per batch. An
/// entry a member removed meanwhile (they left) is not recreated.
pub async fn touch_inboxes(
    store: &Store,
    room_id: &str,
    last_message_at: &str,
    watching: &HashSet<UserId>,
) -> AppResult<Vec<UserId>> {
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
        let members: Vec<Member> = items
            .into_iter()
            .map(store::from_item)
            .collect::<AppResult<_>>()?;
        let updates = members
            .iter()
            .filter(|member| !watching.contains(&member.user_id))
            .map(|member| touch_inbox(store, &member.user_id, room_id, last_message_at));
        for result in futures_util::future::join_all(updates).await {
            result?;
        }
        everyone.extend(members.into_iter().map(|m| m.user_id));
        match next {
            Some(next) => start = Some(next),
            None => return Ok(everyone),
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
}

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

/// Counts one send in the current window: one UpdateItem, refused past the limit.
async fn take_send_token(store: &Store, me: &UserId, limit: RateLimit) -> AppResult<()> {
    let now = now_epoch_seconds();
    let window_seconds = limit.window_seconds.max(1);
    let window = now / window_seconds;
    let update = Expr::new("ADD sends :one SET #ttl = :ttl, entity = :entity")
        .name("#ttl", store::TTL_ATTRIBUTE)
        .value(":one", n(1))
        .value(":ttl", n((window + 2) * window_seconds))
        .value(":entity", s("SendWindow"));
    let under_limit = Condition::new(
        UNDER_SEND_LIMIT,
        Expr::new("attribute_not_exists(sends) OR sends < :max").value(":max", n(limit.max)),
    );
    match store
        .update(
            &keys::send_window(me, window),
            update,
            Some(under_limit),
            Returning::Nothing,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.failed(UNDER_SEND_LIMIT) => Err(AppError::RateLimited {
            retry_after_seconds: u64::try_from((window + 1) * window_seconds - now)
                .unwrap_or(1)
                .max(1),
        }),
        Err(error) => Err(error.into()),
    }
}

async fn stored_client_message(
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

/// Sends a message. A retry with the same client message id returns the first message
/// (`duplicate`) and writes nothing. Members only; never across a block in a direct
/// conversation; rate-limited per user.
pub async fn send_message(
    store: &Store,
    me: &UserId,
    room_id: &str,
    input: NewMessage,
    limit: RateLimit,
) -> AppResult<Sent> {
    check(&input)?;
    // One BatchGetItem: the room, my member item and a previous send with this id.
    let pointer_key = keys::client_message(room_id, me, &input.client_message_id);
    let mut room = None;
    let mut member = false;
    let mut stored_id = None;
    for item in store
        .batch_get_items(&[keys::room(room_id), keys::member(room_id, me), pointer_key])
        .await?
    {
        let sk = item
            .get(store::SK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if sk == "META" {
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
        });
    }
    let room = room.ok_or_else(no_room)?;
    if !member {
        return Err(not_member());
    }
    if room.kind == RoomKind::Dm
        && let Some(other) = room.dm_user_ids.iter().find(|u| *u != me)
        && graph::blocked_between(store, me, other).await?
    {
        return Err(AppError::Forbidden("you cannot message this user".into()));
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
    take_send_token(store, me, limit).await?;
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
        };
        let expires_at = now_epoch_seconds() + retention_seconds(room.retention_days);
        let mut message_item = message.item()?;
        message_item.insert(store::TTL_ATTRIBUTE.into(), n(expires_at));
        let mut pointer = keys::client_message(room_id, me, &input.client_message_id).to_item();
        pointer.insert("entity".into(), s("ClientMessageId"));
        pointer.insert("messageId".into(), s(&message_id));
        pointer.insert(store::TTL_ATTRIBUTE.into(), n(expires_at));
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
        let still_last = match &room.last_message_id {
            Some(previous) => {
                Expr::new("lastMessageId = :previous").value(":previous", s(previous))
            }
            None => Expr::from("attribute_exists(PK) AND attribute_not_exists(lastMessageId)"),
        };
        // The sender has read their own message.
        let read_own = Expr::new(
            "SET lastReadMessageId = :id, lastReadAt = :at, readSeq = :seq, readVia = :via",
        )
        .value(":via", s("send"))
        .value(":id", s(&message_id))
        .value(":at", s(&sent_at))
        .value(":seq", n(message.seq));
        let result = store
            .transaction()
            .update(
                &keys::room(room_id),
                advance,
                Some(Condition::new(STILL_LAST, still_last)),
            )
            .put(message_item, Some(Condition::absent(MESSAGE_NEW)))
            .put(pointer, Some(Condition::absent(CLIENT_MESSAGE_NEW)))
            .update(
                &keys::member(room_id, me),
                read_own,
                Some(Condition::present(MEMBER)),
            )
            .commit()
            .await;
        match result {
            Ok(()) => {
                return Ok(Sent {
                    message,
                    duplicate: false,
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
                        });
                    }
                }
                if error.failed(MEMBER) {
                    return Err(not_member());
                }
                if !error.failed(STILL_LAST) && !matches!(error, WriteError::Contended) {
                    return Err(error.into());
                }
                // Someone else's message came first: read the room again and retry.
                tokio::time::sleep(std::time::Duration::from_millis(
                    2 + u64::from(attempt) * 3 + u64::from(rand_jitter()),
                ))
                .await;
                room = get_room(store, room_id).await?.ok_or_else(no_room)?;
            }
        }
    }
    Err(AppError::Conflict(
        "the room is busy; retry the send with the same clientMessageId".into(),
    ))
}

// The conditions of this context's transactions, by name.
/// No direct conversation between the two exists yet.
const DM_FREE: &str = "dm_free";
/// The room is not stored yet.
const ROOM_NEW: &str = "room_new";
/// The group has room for the members being added.
const ROOM_HAS_SPACE: &str = "room_has_space";
/// The user is not a member of the room yet.
const NOT_MEMBER_YET: &str = "not_member_yet";
/// The user is a member of the room.
const MEMBER: &str = "member";
/// The room's last message is still the one read before the send.
const STILL_LAST: &str = "still_last";
/// The message is not stored yet.
const MESSAGE_NEW: &str = "message_new";
/// No message with this client message id is stored yet.
const CLIENT_MESSAGE_NEW: &str = "client_message_new";
/// The room exists.
const ROOM_THERE: &str = "room_there";
/// The sender's send window is under the limit.
const UNDER_SEND_LIMIT: &str = "under_send_limit";
/// The message is mine and not deleted.
const OWN_LIVE_MESSAGE: &str = "own_live_message";
/// A read receipt moves my read position forward.
const READ_FORWARD: &str = "read_forward";
/// My inbox entry sorts earlier than the new time.
const INBOX_LATER: &str = "inbox_later";

/// A few milliseconds of jitter, so racing senders do not retry in lockstep.
fn rand_jitter() -> u8 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    byte[0] % 8
}

/// Which way a history page reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryFrom {
    /// Newest first, from the latest message (or before the given id).
    Before(Option<String>),
    /// Oldest first, after the given id: what a reconnecting client missed.
    After(String),
}

/// `GET /v1/rooms/{roomId}/messages`: one Query per page; members only. Messages of
/// users I block (or who block me) are left out of group rooms.
pub async fn history(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    room_id: &str,
    from: HistoryFrom,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Message>> {
    require_member(store, me, room_id).await?;
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
        Some(cursor) => Some(cursors.open(&scope, cursor)?),
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
    let blocked = graph::blocked_among(store, me, &senders).await?;
    Ok(Page {
        items: messages
            .into_iter()
            .filter(|m| !blocked.contains(&m.sender_id))
            .collect(),
        next_cursor: next.map(|k| cursors.seal(&scope, &k)).transpose()?,
    })
}

/// Edits my message: its text, `edited`, `editedAt`, `version` + 1. The stream then
/// tells the room.
pub async fn edit_message(
    store: &Store,
    me: &UserId,
    room_id: &str,
    message_id: &str,
    edit: MessageEdit,
) -> AppResult<Message> {
    check(&edit)?;
    require_member(store, me, room_id).await?;
    let output = change_own_message(
        store,
        me,
        room_id,
        message_id,
        "SET #text = :text, edited = :true, editedAt = :now ADD version :one",
        &edit.text,
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
/// it again is a no-op.
pub async fn delete_message(
    store: &Store,
    me: &UserId,
    room_id: &str,
    message_id: &str,
) -> AppResult<Message> {
    require_member(store, me, room_id).await?;
    let output = change_own_message(
        store,
        me,
        room_id,
        message_id,
        "SET #text = :text, deleted = :true, editedAt = :now ADD version :one",
        "",
    )
    .await;
    let message: Message = match output {
        Ok(updated) => store::from_item(updated.unwrap_or_default())?,
        Err(error) => {
            // Already deleted by me: the same outcome as the first time.
            if let Some(existing) = store
                .get::<Message>(&keys::message(room_id, message_id))
                .await?
                && existing.deleted
                && &existing.sender_id == me
            {
                return Ok(existing);
            }
            return Err(explain_refused_change(store, me, room_id, message_id, error).await);
        }
    };
    refresh_preview(store, &message).await?;
    Ok(message)
}

/// One change to my own, not deleted message: `update` sets `#text` to `text` and
/// whatever else it names (`:true`, `:now`, `:one`), bumping `version`; returns the
/// message as it is now, or the refusal for [`explain_refused_change`].
async fn change_own_message(
    store: &Store,
    me: &UserId,
    room_id: &str,
    message_id: &str,
    update: &str,
    text: &str,
) -> Result<Option<Item>, WriteError> {
    let update = Expr::new(update)
        .name("#text", "text")
        .value(":text", s(text))
        .value(":true", AttributeValue::Bool(true))
        .value(":now", s(now_rfc3339()))
        .value(":one", n(1));
    let mine_and_live = Condition::new(
        OWN_LIVE_MESSAGE,
        Expr::new("attribute_exists(PK) AND senderId = :me AND deleted = :false")
            .value(":false", AttributeValue::Bool(false))
            .value(":me", s(me.as_str())),
    );
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
async fn explain_refused_change(
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
async fn refresh_preview(store: &Store, message: &Message) -> AppResult<()> {
    let preview = Preview {
        message_id: message.message_id.clone(),
        sender_id: message.sender_id.clone(),
        text: preview_text(&message.text),
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
/// no-op. Returns my member item after the change.
pub async fn mark_read(
    store: &Store,
    me: &UserId,
    room_id: &str,
    message_id: &str,
) -> AppResult<Member> {
    let member = require_member(store, me, room_id).await?;
    let message: Message = store
        .get(&keys::message(room_id, message_id))
        .await?
        .ok_or_else(|| AppError::invalid_field("messageId", "no such message in this room"))?;
    if member.read_seq >= message.seq {
        return Ok(member);
    }
    let at = now_rfc3339();
    let update =
        Expr::new("SET lastReadMessageId = :id, lastReadAt = :at, readSeq = :seq, readVia = :via")
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
        Ok(updated) => store::from_item(updated.unwrap_or_default()),
        // Read that far already (or left meanwhile): the member item as it is.
        Err(error) if error.failed(READ_FORWARD) => require_member(store, me, room_id).await,
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
) -> AppResult<Room> {
    let (room, _) = room_as_member(store, me, room_id).await?;
    let subscription = Subscription {
        room_id: room_id.to_owned(),
        connection_id: connection_id.to_owned(),
        user_id: me.clone(),
    };
    let expires_at = n(now_epoch_seconds() + crate::contexts::realtime::CONNECTION_TTL_SECONDS);
    let mut transaction = store.transaction();
    for key in [
        keys::subscription(room_id, connection_id),
        keys::connection_subscription(connection_id, room_id),
    ] {
        let mut item = item_of(&subscription, &key, "RoomSubscription")?;
        item.insert(store::TTL_ATTRIBUTE.into(), expires_at.clone());
        transaction = transaction.put(item, None);
    }
    transaction.commit().await?;
    Ok(room)
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
    touch_own_inbox(store, me, room_id).await
}

/// Moves my inbox entry of a room to the room's latest message: GetItem room +
/// conditional UpdateItem.
async fn touch_own_inbox(store: &Store, me: &UserId, room_id: &str) -> AppResult<()> {
    let Some(room) = get_room(store, room_id).await? else {
        return Ok(());
    };
    let Some(at) = room.last_message_at else {
        return Ok(());
    };
    touch_inbox(store, me, room_id, &at).await
}

/// Moves one inbox entry forward (never back, never recreating a removed one).
async fn touch_inbox(store: &Store, user: &UserId, room_id: &str, at: &str) -> AppResult<()> {
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

/// The hook a [`Pusher`](crate::contexts::realtime::push::Pusher) runs for a closed
/// connection: its room subscriptions go (see [`forget_connection`]).
pub fn forget_subscriptions() -> crate::contexts::realtime::push::Forget {
    std::sync::Arc::new(|store: Store, connection_id: String| {
        Box::pin(async move { forget_connection(&store, &connection_id).await })
    })
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
        touch_own_inbox(store, &sub.user_id, &sub.room_id).await?;
    }
    Ok(())
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
    let key = keys::typing(room_id, me);
    if !typing {
        store.batch_delete(&[key]).await?;
        return Ok(None);
    }
    // Milliseconds for the indicator itself; whole seconds (rounded up) for TTL.
    let expires_at_ms = now_epoch_millis() + seconds.max(1) * 1000;
    let mut item = key.to_item();
    item.insert("entity".into(), s("Typing"));
    item.insert("userId".into(), s(me.as_str()));
    item.insert("expiresAtMs".into(), n(expires_at_ms));
    item.insert(
        store::TTL_ATTRIBUTE.into(),
        n(expires_at_ms.div_euclid(1000) + 1),
    );
    store.put(item).await?;
    Ok(Some(expires_at_ms))
}

fn now_epoch_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
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
    let start = cursor.map(|c| cursors.open(scope, c)).transpose()?;
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
        next_cursor: next.map(|k| cursors.seal(scope, &k)).transpose()?,
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

// ---------------------------------------------------------------------------------
// Account deletion
// ---------------------------------------------------------------------------------

/// Items elsewhere that an item of a deleted user's partition points at: my member
/// item of each room (the room side). My messages stay for the other members until
/// their retention ends; their sender id no longer resolves to a profile.
pub fn owned_elsewhere(me: &UserId, sort_key: &str) -> Option<Key> {
    sort_key
        .strip_prefix("ROOM#")
        .map(|room_id| keys::member(room_id, me))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    #[test]
    fn message_ids_strictly_increase_even_when_the_clock_has_not_moved() {
        let future = ulid::Ulid::from_parts(u64::MAX >> 20, 5).to_string();

        let next = next_message_id(Some(&future));
        let fresh = next_message_id(None);
        let after_fresh = next_message_id(Some(&fresh));

        assert!(next > future);
        assert!(after_fresh > fresh);
    }

    #[test]
    fn direct_messages_follow_the_targets_policy_and_never_reach_oneself() {
        assert!(dm_allowed(DmPolicy::Connections, Relationship::Connection));
        assert!(!dm_allowed(DmPolicy::Connections, Relationship::Stranger));
        assert!(dm_allowed(DmPolicy::Anyone, Relationship::Stranger));
        assert!(!dm_allowed(DmPolicy::Anyone, Relationship::SelfView));
    }

    #[test]
    fn the_dm_lock_is_the_same_from_either_side() {
        assert_eq!(
            keys::dm_lock(&id("a"), &id("b")),
            keys::dm_lock(&id("b"), &id("a"))
        );
    }

    #[test]
    fn unread_counts_messages_after_the_read_position() {
        let room = Room {
            room_id: "r".into(),
            kind: RoomKind::Group,
            name: None,
            community_id: None,
            dm_user_ids: vec![],
            created_by: id("a"),
            created_at: "t".into(),
            retention_days: 90,
            member_count: 2,
            message_count: 7,
            last_message_id: None,
            last_message_at: None,
            last_message: None,
        };
        let member = |seq| Member {
            room_id: "r".into(),
            user_id: id("b"),
            joined_at: "t".into(),
            added_by: id("a"),
            last_read_message_id: None,
            last_read_at: None,
            read_seq: seq,
        };

        assert_eq!(unread(&room, Some(&member(3))), 4);
        assert_eq!(unread(&room, Some(&member(9))), 0);
        assert_eq!(unread(&room, None), 7);
    }

    #[test]
    fn previews_are_cut_with_an_ellipsis() {
        let long = "x".repeat(PREVIEW_CHARS + 10);

        assert_eq!(preview_text("hi"), "hi");
        assert_eq!(preview_text(&long).chars().count(), PREVIEW_CHARS + 1);
    }

    #[test]
    fn bad_message_input_names_its_field() {
        let blank = NewMessage {
            text: "  ".into(),
            reply_to: None,
            client_message_id: "c1".into(),
        };
        let bad_id = NewMessage {
            text: "hi".into(),
            reply_to: Some("nope".into()),
            client_message_id: "has space".into(),
        };
        let fields = |input: &NewMessage| match check(input) {
            Err(AppError::Validation(errors)) => {
                errors.into_iter().map(|e| e.field).collect::<Vec<_>>()
            }
            _ => vec![],
        };

        assert_eq!(fields(&blank), vec!["text"]);
        assert_eq!(fields(&bad_id), vec!["clientMessageId", "replyTo"]);
    }
}
