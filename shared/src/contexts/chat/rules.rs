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

// ---------------------------------------------------------------------------------
// Live pushes: the WebSocket route pushes its own changes; the stream backs it up
// ---------------------------------------------------------------------------------

/// How long a WebSocket route's claim on pushing its change lasts, unless
/// `CHAT_LIVE_PUSH_CLAIM_MS` says otherwise. Past it, the stream pushes a change the
/// route has not marked done.
pub const DEFAULT_LIVE_PUSH_CLAIM_MS: i64 = 5_000;

/// When the stream first looks again at a change whose route is still within its
/// claim; each later look waits twice as long (50, 100, 200, ... ms), so a route that
/// finishes soon is seen soon and a dead one costs a handful of reads, not one per tick.
pub const LIVE_PUSH_FIRST_POLL_MS: i64 = 50;

/// The wait before the stream's `attempt`-th look (from 0) at a claimed change: see
/// [`LIVE_PUSH_FIRST_POLL_MS`].
pub fn live_push_poll_ms(attempt: u32) -> i64 {
    LIVE_PUSH_FIRST_POLL_MS.saturating_mul(1_i64 << attempt.min(16))
}

/// A route's claim on pushing a change it made: from `started_ms` to `until_ms` (epoch
/// milliseconds), stored with the change as [`LIVE_PUSH_UNTIL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveClaim {
    pub started_ms: i64,
    pub until_ms: i64,
}

impl LiveClaim {
    pub fn starting(now_ms: i64, window_ms: i64) -> Self {
        Self {
            started_ms: now_ms,
            until_ms: now_ms.saturating_add(window_ms.max(1)),
        }
    }

    /// Whether the route may still begin pushing at `now_ms`: only in the first half of
    /// its claim, so the push ends well before the stream may take it over (a route that
    /// was slow to get there leaves the push to the stream rather than risk both).
    pub fn pushable_at(&self, now_ms: i64) -> bool {
        now_ms < self.renew_due_ms()
    }

    /// When a route still posting renews its claim: halfway through it, so a renewal
    /// has the claim's second half to be stored before the stream may take over.
    pub fn renew_due_ms(&self) -> i64 {
        self.started_ms + (self.until_ms - self.started_ms) / 2
    }

    /// The same claim renewed at `now_ms` for as long again.
    pub fn renewed(&self, now_ms: i64) -> Self {
        Self::starting(now_ms, self.until_ms - self.started_ms)
    }
}

/// What the stream does about pushing one change, from the item's image as the change
/// left it and the change's token (a message's `version`, a member's `readSeq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivePush {
    /// No route claimed it (it came over REST), or the stream took it over already:
    /// push now.
    Stream,
    /// Pushed already (by the route, or by an earlier delivery of this record).
    Done,
    /// A route claimed it until this epoch millisecond: wait for the route to mark it
    /// done, and take it over after that.
    Claimed { until_ms: i64 },
    /// A later change of the item is marked pushed, which says nothing of this one
    /// (a message's `message` event is not its later `messageEdited`): once this
    /// change's claim ended, the stream pushes it without a mark (at least once).
    Superseded,
}

/// An item's live-push attributes: its route's claim ([`LIVE_PUSH_UNTIL`]) and the
/// token last marked pushed ([`LIVE_PUSHED`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveMarks {
    pub until_ms: Option<i64>,
    pub pushed: Option<i64>,
    /// The stream, not a route, marked `pushed` ([`LIVE_PUSHED_BY`]).
    pub by_stream: bool,
}

impl LiveMarks {
    /// The marks of an item as the table returns it.
    pub fn of(item: &Item) -> Self {
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
        };
        Self {
            until_ms: number(LIVE_PUSH_UNTIL),
            pushed: number(LIVE_PUSHED),
            by_stream: item
                .get(LIVE_PUSHED_BY)
                .and_then(|v| v.as_s().ok())
                .is_some_and(|by| by == PushedBy::Stream.as_str()),
        }
    }

    /// The marks of an item as a stream record's image holds it.
    pub fn of_image(image: &serde_dynamo::Item) -> Self {
        let number = |name: &str| match image.get(name) {
            Some(serde_dynamo::AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        };
        Self {
            until_ms: number(LIVE_PUSH_UNTIL),
            pushed: number(LIVE_PUSHED),
            by_stream: matches!(
                image.get(LIVE_PUSHED_BY),
                Some(serde_dynamo::AttributeValue::S(by)) if by == PushedBy::Stream.as_str()
            ),
        }
    }

    /// The token a route marked pushed (not the stream: its mark comes before its posts).
    pub fn pushed_by_route(&self) -> Option<i64> {
        self.pushed.filter(|_| !self.by_stream)
    }
}

/// Whether the change of `token` on an item with these marks still needs a push, and
/// by whom. A change the stream marked is the stream's to push, again if its record
/// comes again (the stream marks before it posts: a retry must not lose the push).
pub fn live_push(marks: LiveMarks, token: u64) -> LivePush {
    let token = i64::try_from(token).unwrap_or(i64::MAX);
    match marks.pushed {
        Some(pushed) if pushed == token => {
            return if marks.by_stream {
                LivePush::Stream
            } else {
                LivePush::Done
            };
        }
        Some(pushed) if pushed > token => return LivePush::Superseded,
        _ => {}
    }
    match marks.until_ms {
        Some(until_ms) => LivePush::Claimed { until_ms },
        None => LivePush::Stream,
    }
}

/// An update expression: `set` (a `SET` clause) with the route's claim on pushing the
/// change added to it, or without a claim a `REMOVE` of any earlier one (the stream
/// then pushes this change at once); `rest` (say `ADD version :one`) follows.
pub(super) fn claimed_update(set: &str, rest: &str, claim: Option<LiveClaim>) -> Expr {
    match claim {
        Some(claim) => Expr::new(
            format!("{set}, {LIVE_PUSH_UNTIL} = :livePushUntil {rest}")
                .trim()
                .to_owned(),
        )
        .value(":livePushUntil", n(claim.until_ms)),
        None => Expr::new(format!("{set} {rest} REMOVE {LIVE_PUSH_UNTIL}").replace("  ", " ")),
    }
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

    fn image(pairs: &[(&str, i64)]) -> Item {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), AttributeValue::N(value.to_string())))
            .collect()
    }

    #[test]
    fn a_change_no_route_claimed_is_pushed_by_the_stream_at_once() {
        let marks = LiveMarks::of(&image(&[("version", 1)]));

        assert_eq!(live_push(marks, 1), LivePush::Stream);
    }

    #[test]
    fn a_claimed_change_waits_for_its_route_until_the_claim_ends() {
        let marks = LiveMarks::of(&image(&[(LIVE_PUSH_UNTIL, 5_000)]));

        assert_eq!(live_push(marks, 1), LivePush::Claimed { until_ms: 5_000 });
    }

    #[test]
    fn a_change_marked_pushed_is_not_pushed_again_but_an_older_one_is_not_covered_by_it() {
        let marks = LiveMarks::of(&image(&[(LIVE_PUSH_UNTIL, 5_000), (LIVE_PUSHED, 3)]));

        assert_eq!(live_push(marks, 3), LivePush::Done);
        assert_eq!(live_push(marks, 2), LivePush::Superseded);
        assert_eq!(live_push(marks, 4), LivePush::Claimed { until_ms: 5_000 });
    }

    #[test]
    fn a_stream_image_and_a_table_item_give_the_same_marks() {
        let item = image(&[(LIVE_PUSH_UNTIL, 9), (LIVE_PUSHED, 2)]);
        let stream_image: serde_dynamo::Item = item.clone().into();

        assert_eq!(LiveMarks::of_image(&stream_image), LiveMarks::of(&item));
        assert_eq!(
            LiveMarks::of(&item),
            LiveMarks {
                until_ms: Some(9),
                pushed: Some(2),
                by_stream: false,
            }
        );
    }

    #[test]
    fn a_change_the_stream_marked_is_pushed_again_when_its_record_comes_again() {
        let mut item = image(&[(LIVE_PUSH_UNTIL, 5_000), (LIVE_PUSHED, 1)]);
        item.insert(LIVE_PUSHED_BY.into(), AttributeValue::S("stream".into()));
        let marks = LiveMarks::of(&item);

        assert_eq!(live_push(marks, 1), LivePush::Stream);
        assert_eq!(marks.pushed_by_route(), None);
        assert_eq!(LiveMarks::of_image(&item.into()), marks);
    }

    #[test]
    fn an_update_carries_its_routes_claim_or_removes_an_earlier_one() {
        let claim = LiveClaim::starting(0, 5_000);

        let claimed = format!(
            "{:?}",
            claimed_update("SET a = :a", "ADD version :one", Some(claim))
        );
        let unclaimed = format!("{:?}", claimed_update("SET a = :a", "", None));

        assert!(
            claimed.contains("SET a = :a, livePushUntil = :livePushUntil ADD version :one"),
            "{claimed}"
        );
        assert!(claimed.contains("5000"), "{claimed}");
        assert!(
            unclaimed.contains("SET a = :a REMOVE livePushUntil"),
            "{unclaimed}"
        );
    }

    #[test]
    fn the_stream_looks_again_at_a_claimed_change_after_doubling_waits() {
        let waits: Vec<i64> = (0..5).map(live_push_poll_ms).collect();

        assert_eq!(waits, vec![50, 100, 200, 400, 800]);
        assert!(live_push_poll_ms(60) > 0, "no overflow");
    }

    #[test]
    fn a_route_begins_pushing_only_in_the_first_half_of_its_claim() {
        let claim = LiveClaim::starting(1_000, 4_000);

        assert_eq!(claim.until_ms, 5_000);
        assert!(claim.pushable_at(1_000));
        assert!(claim.pushable_at(2_999));
        assert!(!claim.pushable_at(3_000));
        assert!(!claim.pushable_at(6_000));
    }

    #[test]
    fn a_route_still_posting_renews_its_claim_halfway_for_as_long_again() {
        let claim = LiveClaim::starting(1_000, 4_000);

        let renewed = claim.renewed(3_100);

        assert_eq!(claim.renew_due_ms(), 3_000);
        assert_eq!(renewed, LiveClaim::starting(3_100, 4_000));
        assert_eq!(renewed.until_ms, 7_100);
        assert_eq!(renewed.renew_due_ms(), 5_100);
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
            name_by: None,
            screening: None,
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
            name_by: None,
            screening: None,
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
    fn a_channels_member_items_stay_out_of_the_inbox_and_mark_the_member_as_a_channels()
    -> AppResult<()> {
        let channel = Room {
            kind: RoomKind::Channel,
            community_id: Some("C1".into()),
            ..group(Some("2026-03-01T10:00:00.000Z"))
        };

        let (member, membership) =
            member_items(&channel, &id("bo"), &id("bo"), "2026-03-01T11:00:00.000Z")?;
        let room = channel.item()?;

        assert_eq!(member.get(IN_CHANNEL), Some(&AttributeValue::Bool(true)));
        assert!(!membership.contains_key("GSI2PK") && !membership.contains_key("GSI2SK"));
        assert_eq!(room.get("GSI1PK"), Some(&s("CHANNELS#C1")));
        assert_eq!(room.get("GSI1SK"), Some(&s("R1")));
        let (group_member, _) = member_items(&group(None), &id("bo"), &id("ana"), "x")?;
        assert!(!group_member.contains_key(IN_CHANNEL));
        assert!(!group(None).item()?.contains_key("GSI1PK"));
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
            screening: None,
        };

        let item = RetainedMessage {
            message: &message,
            expires_at: 1_774_951_200,
            live_push_until: None,
            room_version: 0,
            in_channel: false,
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
                ("roomVersion", n(0)),
                ("expiresAt", n(1_774_951_200)),
            ])
        );
        Ok(())
    }
}
