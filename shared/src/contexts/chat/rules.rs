//! Chat: pure rules: decisions, write plans, visibility and counters, with no I/O.

use super::*;

/// Messages expire this many days after they were sent unless the room says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// Attempts at winning a busy room's ordering condition before giving up with 409.
pub(super) const SEND_ATTEMPTS: u32 = 12;

/// A typing indicator lasts this long unless renewed (clients renew every ~3 s).
pub const DEFAULT_TYPING_SECONDS: i64 = 5;

/// How many of a user's rooms (the most recently active) hear about their presence changes.
pub const PRESENCE_FANOUT_ROOMS: u32 = 50;

/// Longest preview of the latest message kept on the room.
pub(super) const PREVIEW_CHARS: usize = 140;

pub(super) fn first_version() -> u64 {
    1
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

pub(super) fn retention_seconds(days: u32) -> i64 {
    i64::from(days) * 24 * 3600
}

/// The `Forbidden` detail that means "not a member" (error frames say `notMember`).
pub const NOT_MEMBER: &str = "you are not a member of this room";

pub(super) fn not_member() -> AppError {
    AppError::Forbidden(NOT_MEMBER.into())
}

pub(super) fn no_room() -> AppError {
    AppError::NotFound("no such room".into())
}

/// A few milliseconds of jitter, so racing senders do not retry in lockstep.
pub(super) fn rand_jitter() -> u8 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    byte[0] % 8
}

/// The hook a [`Pusher`](crate::contexts::realtime::push::Pusher) runs for a closed
/// connection: its room subscriptions go (see [`forget_connection`]).
pub fn forget_subscriptions() -> crate::contexts::realtime::push::Forget {
    std::sync::Arc::new(|store: Store, connection_id: String| {
        Box::pin(async move { forget_connection(&store, &connection_id).await })
    })
}

pub(super) fn now_epoch_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
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

    // The items of chat's entity types, each compared with the item the hand-written
    // code wrote before them (attribute by attribute, S or N or BOOL as it was).

    fn expected(attributes: &[(&str, AttributeValue)]) -> Item {
        attributes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    fn group(last_message_at: Option<&str>) -> Room {
        Room {
            room_id: "R1".into(),
            kind: RoomKind::Group,
            name: Some("G".into()),
            community_id: None,
            dm_user_ids: vec![],
            created_by: id("ana"),
            created_at: "2026-03-01T09:00:00.000Z".into(),
            retention_days: 30,
            member_count: 2,
            message_count: 4,
            last_message_id: last_message_at.map(|_| "M4".to_owned()),
            last_message_at: last_message_at.map(str::to_owned),
            last_message: None,
        }
    }

    #[test]
    fn a_membership_is_in_the_inbox_by_the_rooms_latest_message_as_before() -> AppResult<()> {
        let (busy, quiet) = (group(Some("2026-03-01T10:00:00.000Z")), group(None));
        let at = "2026-03-01T11:00:00.000Z";

        let (_, busy_item) = member_items(&busy, &id("bo"), &id("ana"), at)?;
        let (_, quiet_item) = member_items(&quiet, &id("bo"), &id("ana"), at)?;

        let membership = |sort: &str| {
            expected(&[
                ("PK", s("USER#bo")),
                ("SK", s("ROOM#R1")),
                ("entity", s("RoomMembership")),
                ("roomId", s("R1")),
                ("userId", s("bo")),
                ("joinedAt", s(at)),
                ("archived", AttributeValue::Bool(false)),
                ("GSI2PK", s("INBOX#bo")),
                ("GSI2SK", s(sort)),
            ])
        };
        assert_eq!(busy_item, membership("2026-03-01T10:00:00.000Z#R1"));
        assert_eq!(quiet_item, membership("2026-03-01T11:00:00.000Z#R1"));
        Ok(())
    }

    #[test]
    fn a_dm_lock_item_holds_only_its_room_id() -> AppResult<()> {
        let lock = DmLock {
            users: (id("bo"), id("ana")),
            room_id: "R1".into(),
        };

        let item = lock.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("DM#ana#bo")),
                ("SK", s("DM")),
                ("entity", s("DmLock")),
                ("roomId", s("R1")),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_client_message_id_item_points_at_its_message_until_it_expires() -> AppResult<()> {
        let pointer = ClientMessageId {
            room_id: "R1".into(),
            sender_id: id("bo"),
            client_message_id: "c-1".into(),
            message_id: "M5".into(),
            expires_at: 1_774_951_200,
        };

        let item = pointer.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("ROOM#R1")),
                ("SK", s("CMID#bo#c-1")),
                ("entity", s("ClientMessageId")),
                ("messageId", s("M5")),
                ("expiresAt", n(1_774_951_200)),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_subscription_is_stored_on_the_room_and_on_the_connection_as_before() -> AppResult<()> {
        let subscription = Subscription {
            room_id: "R1".into(),
            connection_id: "conn1".into(),
            user_id: id("bo"),
            honoured_until: None,
        };
        let room_side = RoomSubscription {
            subscription: &subscription,
            expires_at: 1_772_367_000,
        };

        let (on_room, on_connection) = (
            room_side.item()?,
            ConnectionSubscription(room_side.clone()).item()?,
        );

        let item = |pk: &str, sk: &str| {
            expected(&[
                ("PK", s(pk)),
                ("SK", s(sk)),
                ("entity", s("RoomSubscription")),
                ("roomId", s("R1")),
                ("connectionId", s("conn1")),
                ("userId", s("bo")),
                ("expiresAt", n(1_772_367_000)),
            ])
        };
        assert_eq!(on_room, item("ROOM#R1", "SUB#conn1"));
        assert_eq!(on_connection, item("WSCONN#conn1", "SUB#R1"));
        Ok(())
    }

    #[test]
    fn a_typing_item_expires_the_whole_second_after_its_indicator() -> AppResult<()> {
        let indicator = TypingIndicator {
            room_id: "R1".into(),
            user_id: id("bo"),
            expires_at_ms: 1_772_359_200_500,
        };

        let item = indicator.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("ROOM#R1")),
                ("SK", s("TYPING#bo")),
                ("entity", s("Typing")),
                ("userId", s("bo")),
                ("expiresAtMs", n(1_772_359_200_500_i64)),
                ("expiresAt", n(1_772_359_201)),
            ])
        );
        Ok(())
    }

    #[test]
    fn chat_preferences_are_stored_in_the_users_partition_as_before() -> AppResult<()> {
        let preferences = ChatPreferences {
            allow_dms_from: DmPolicy::Anyone,
        };
        let me = id("bo");

        let item = UserChatPreferences {
            user_id: &me,
            preferences: &preferences,
        }
        .item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("USER#bo")),
                ("SK", s("CHATPREFS")),
                ("entity", s("ChatPreferences")),
                ("allowDmsFrom", s("anyone")),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_send_window_is_the_item_its_first_counted_send_creates() -> AppResult<()> {
        let window = SendWindow {
            user_id: id("bo"),
            window: 177_235_920,
            window_seconds: 10,
            sends: 1,
        };

        let item = window.item()?;

        // `ADD sends :one SET #ttl = :ttl, entity = :entity` on an absent item.
        assert_eq!(
            item,
            expected(&[
                ("PK", s("USER#bo")),
                ("SK", s("RATE#send#177235920")),
                ("sends", n(1)),
                ("expiresAt", n(1_772_359_220)),
                ("entity", s("SendWindow")),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_sent_message_carries_its_rooms_retention_as_before() -> AppResult<()> {
        let message = Message {
            room_id: "R1".into(),
            message_id: "M5".into(),
            seq: 5,
            sender_id: id("bo"),
            text: "hi".into(),
            reply_to: None,
            client_message_id: "c-1".into(),
            sent_at: "2026-03-01T10:00:00.000Z".into(),
            edited: false,
            edited_at: None,
            deleted: false,
            version: 1,
        };

        let item = RetainedMessage {
            message: &message,
            expires_at: 1_774_951_200,
        }
        .item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("ROOM#R1")),
                ("SK", s("MSG#M5")),
                ("entity", s("Message")),
                ("roomId", s("R1")),
                ("messageId", s("M5")),
                ("seq", n(5)),
                ("senderId", s("bo")),
                ("text", s("hi")),
                ("clientMessageId", s("c-1")),
                ("sentAt", s("2026-03-01T10:00:00.000Z")),
                ("edited", AttributeValue::Bool(false)),
                ("deleted", AttributeValue::Bool(false)),
                ("version", n(1)),
                ("expiresAt", n(1_774_951_200)),
            ])
        );
        Ok(())
    }
}
