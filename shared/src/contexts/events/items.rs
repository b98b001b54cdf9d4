//! Events: item types stored in the table (their keys, index keys and entity names),
//! and the views built from them.

use super::*;

pub mod keys {
    use super::*;

    pub const META: &str = "META";
    pub const REMINDER: &str = "REMINDER";
    pub const RSVP_PREFIX: &str = "RSVP#";
    pub const WAIT_PREFIX: &str = "WAIT#";
    pub const OCCURRENCE_PREFIX: &str = "OCC#";
    /// My RSVPs, in my partition, by the occurrence's start.
    pub const MY_RSVP_PREFIX: &str = "RSVP#";
    /// GSI3 partition of the reminders due, by time.
    pub const REMINDERS_DUE: &str = "EVREMIND";
    /// My calendar feed's pointer, in my partition.
    pub const MY_CALENDAR_FEED: &str = "CALFEED";

    /// `CALFEED#<digest> / META`: whose calendar a secret URL opens.
    pub fn calendar_feed(digest: &str) -> Key {
        Key::new(format!("CALFEED#{digest}"), META)
    }

    /// `USER#<userId> / CALFEED`: my calendar feed (one at a time).
    pub fn my_calendar_feed(user: &UserId) -> Key {
        Key::new(user_partition(user), MY_CALENDAR_FEED)
    }

    pub fn partition(event_id: &str) -> String {
        format!("EVENT#{event_id}")
    }

    /// `EVENT#<id> / META`.
    pub fn event(event_id: &str) -> Key {
        Key::new(partition(event_id), META)
    }

    /// GSI2 partition of the events a user hosts.
    pub fn hosted_by(host: &UserId) -> String {
        format!("EVHOST#{host}")
    }

    /// GSI1 partition of a community's events.
    pub fn of_community(community_id: &str) -> String {
        format!("CEVENTS#{community_id}")
    }

    /// `EVENT#<id> / OCC#<occurrence>`.
    pub fn occurrence(event_id: &str, occurrence: &str) -> Key {
        Key::new(
            partition(event_id),
            format!("{OCCURRENCE_PREFIX}{occurrence}"),
        )
    }

    /// The sort-key prefix of an occurrence's RSVPs.
    pub fn rsvps_of(occurrence: &str) -> String {
        format!("{RSVP_PREFIX}{occurrence}#")
    }

    /// `EVENT#<id> / RSVP#<occurrence>#<userId>`.
    pub fn rsvp(event_id: &str, occurrence: &str, user: &UserId) -> Key {
        Key::new(
            partition(event_id),
            format!("{}{user}", rsvps_of(occurrence)),
        )
    }

    /// `USER#<userId> / RSVP#<start:012>#<eventId>`.
    pub fn my_rsvp(user: &UserId, start: i64, event_id: &str) -> Key {
        Key::new(
            user_partition(user),
            format!("{MY_RSVP_PREFIX}{:012}#{event_id}", start.max(0)),
        )
    }

    /// The sort-key prefix of an occurrence's waitlist.
    pub fn waitlist_of(occurrence: &str) -> String {
        format!("{WAIT_PREFIX}{occurrence}#")
    }

    /// `EVENT#<id> / WAIT#<occurrence>#<place:010>`.
    pub fn wait_entry(event_id: &str, occurrence: &str, place: u64) -> Key {
        Key::new(
            partition(event_id),
            format!("{}{place:010}", waitlist_of(occurrence)),
        )
    }

    /// `EVENT#<id> / REMINDER`.
    pub fn reminder(event_id: &str) -> Key {
        Key::new(partition(event_id), REMINDER)
    }

    /// `EVENTFANOUT#<id>#<occurrence>#<kind> / STEP#<n>`.
    pub fn fanout(event_id: &str, occurrence: &str, kind: &str, step: u32) -> Key {
        Key::new(
            format!("EVENTFANOUT#{event_id}#{occurrence}#{kind}"),
            format!("STEP#{step:06}"),
        )
    }
}

// ---------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------

/// How often an event recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub fn rrule(self) -> &'static str {
        match self {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
        }
    }
}

/// An event's recurrence: every `interval` days, weeks or months, `count` times or
/// until a local date (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recurrence {
    pub frequency: Frequency,
    /// 1 to 12 (default 1).
    #[serde(default = "one")]
    pub interval: u32,
    /// 1 to 100; not with `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// A local date `YYYY-MM-DD`, the last day an occurrence may start; not with `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

fn one() -> u32 {
    1
}

/// What I answer an invitation with. `waitlisted` is where a `going` lands when the
/// occurrence is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RsvpStatus {
    Going,
    Maybe,
    NotGoing,
    Waitlisted,
}

impl RsvpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RsvpStatus::Going => "going",
            RsvpStatus::Maybe => "maybe",
            RsvpStatus::NotGoing => "notGoing",
            RsvpStatus::Waitlisted => "waitlisted",
        }
    }

    /// Whether a reminder, a change or a cancellation reaches this answer.
    pub fn attends(self) -> bool {
        self != RsvpStatus::NotGoing
    }
}

/// `EVENT#<id> / META` (entity `Event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_id: String,
    pub community_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Local date and time in `time_zone`, `YYYY-MM-DDTHH:MM`.
    pub start: String,
    pub end: String,
    pub time_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub host_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
    /// Minutes before each occurrence that its attendees are reminded (0: never).
    pub reminder_minutes: u32,
    /// Each occurrence's start (epoch seconds, ascending).
    pub occurrences: Vec<i64>,
    pub duration_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
    #[serde(default)]
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Event {
    /// When its last occurrence ends (epoch seconds).
    pub fn last_end(&self) -> i64 {
        self.occurrences.last().copied().unwrap_or(0) + self.duration_seconds
    }
}

impl Entity for Event {
    const NAME: &'static str = "Event";

    fn key(&self) -> Key {
        keys::event(&self.event_id)
    }

    /// Under its host (GSI2 `EVHOST#<hostId>`: erasure and export find it), and under
    /// its community until cancelled.
    fn index_keys(&self) -> Vec<IndexKey> {
        let mut index = vec![IndexKey::new(
            Index::Gsi2,
            keys::hosted_by(&self.host_id),
            &self.event_id,
        )];
        if self.cancelled_at.is_none() {
            index.push(IndexKey::new(
                Index::Gsi1,
                keys::of_community(&self.community_id),
                format!("{:012}#{}", self.last_end().max(0), self.event_id),
            ));
        }
        index
    }
}

/// `EVENT#<id> / OCC#<occurrence>` (entity `EventOccurrence`): exact counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OccurrenceCounts {
    #[serde(default)]
    pub going: i64,
    #[serde(default)]
    pub waitlisted: i64,
    /// The place the next waitlisted answer takes.
    #[serde(default)]
    pub next_place: u64,
}

/// `EVENT#<id> / RSVP#<occurrence>#<userId>` (entity `Rsvp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rsvp {
    pub event_id: String,
    pub occurrence_id: String,
    /// The occurrence's start (epoch seconds).
    pub starts_at: i64,
    pub user_id: UserId,
    pub status: RsvpStatus,
    /// The waitlist place while `waitlisted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<u64>,
    pub responded_at: String,
}

impl Entity for Rsvp {
    const NAME: &'static str = "Rsvp";

    fn key(&self) -> Key {
        keys::rsvp(&self.event_id, &self.occurrence_id, &self.user_id)
    }
}

/// `USER#<userId> / RSVP#<start:012>#<eventId>` (entity `RsvpOfUser`): my answer, found
/// by time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MyRsvp(pub Rsvp);

impl Entity for MyRsvp {
    const NAME: &'static str = "RsvpOfUser";

    fn key(&self) -> Key {
        keys::my_rsvp(&self.0.user_id, self.0.starts_at, &self.0.event_id)
    }
}

/// `EVENT#<id> / WAIT#<occurrence>#<place>` (entity `WaitlistEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitEntry {
    pub event_id: String,
    pub occurrence_id: String,
    pub place: u64,
    pub user_id: UserId,
}

impl Entity for WaitEntry {
    const NAME: &'static str = "WaitlistEntry";

    fn key(&self) -> Key {
        keys::wait_entry(&self.event_id, &self.occurrence_id, self.place)
    }
}

/// `EVENT#<id> / REMINDER` (entity `EventReminder`): the next reminder due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reminder {
    pub event_id: String,
    /// The occurrence it is for (its start, epoch seconds).
    pub starts_at: i64,
    /// When it is sent (epoch seconds).
    pub due: i64,
}

impl Entity for Reminder {
    const NAME: &'static str = "EventReminder";

    fn key(&self) -> Key {
        keys::reminder(&self.event_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        vec![IndexKey::new(
            Index::Gsi3,
            keys::REMINDERS_DUE,
            format!("{:012}#{}", self.due.max(0), self.event_id),
        )]
    }
}

/// `CALFEED#<digest> / META` (entity `CalendarFeed`): the secret calendar URL whose
/// SHA-256 is `digest` opens `userId`'s upcoming occurrences. The secret itself is
/// never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarFeed {
    pub digest: String,
    pub user_id: UserId,
    pub created_at: String,
}

impl Entity for CalendarFeed {
    const NAME: &'static str = "CalendarFeed";

    fn key(&self) -> Key {
        keys::calendar_feed(&self.digest)
    }
}

/// `USER#<userId> / CALFEED` (entity `CalendarFeedOfUser`): which feed is mine, so a
/// new one replaces it and erasure finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MyCalendarFeed(pub CalendarFeed);

impl Entity for MyCalendarFeed {
    const NAME: &'static str = "CalendarFeedOfUser";

    fn key(&self) -> Key {
        keys::my_calendar_feed(&self.0.user_id)
    }
}

/// A new secret calendar URL: shown once, then only its digest is kept.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarFeedView {
    /// The feed's path, to append to the API's base URL (`https://…/v1/calendars/…`).
    /// Anyone who has it can read my upcoming occurrences: treat it as a password.
    pub path: String,
    /// The secret in the path.
    pub token: String,
    pub created_at: String,
}

/// What an [`EventFanout`] tells attendees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FanoutKind {
    Reminder,
    Changed,
    Cancelled,
}

impl FanoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FanoutKind::Reminder => "reminder",
            FanoutKind::Changed => "changed",
            FanoutKind::Cancelled => "cancelled",
        }
    }
}

/// `EVENTFANOUT#<id>#<occurrence>#<kind> / STEP#<n>` (entity `EventFanout`): one step
/// of telling attendees, a page at a time, run by the notifier (as a community post's
/// fan-out is). A reminder reaches one occurrence's attendees; a change or a
/// cancellation those of every occurrence (`occurrence` is `all`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFanout {
    pub event_id: String,
    pub community_id: String,
    pub occurrence: String,
    pub kind: FanoutKind,
    /// Who caused it (the host, or whoever changed or cancelled the event).
    pub actor_id: UserId,
    /// The notifications' time, and what makes a change's notification new.
    pub at: String,
    pub step: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<PageKey>,
}

/// Attendees per [`EventFanout`] step.
pub const EVENT_FANOUT_PAGE: u32 = 100;

impl Entity for EventFanout {
    const NAME: &'static str = "EventFanout";

    fn key(&self) -> Key {
        keys::fanout(
            &self.event_id,
            &self.occurrence,
            self.kind.as_str(),
            self.step,
        )
    }

    fn expires_at(&self) -> Option<i64> {
        Some(now_epoch_seconds() + 24 * 3600)
    }
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

/// One occurrence of an event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OccurrenceView {
    /// Its place in the event (`1` for the first): what answers name. It stays when
    /// the event's time changes.
    pub occurrence_id: String,
    /// RFC 3339 UTC.
    pub starts_at: String,
    pub ends_at: String,
    /// In the event's time zone, with its offset.
    pub local_start: String,
    /// Exact counts (absent when listed with events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub going: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitlisted: Option<i64>,
    /// My answer, when I gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_rsvp: Option<RsvpStatus>,
}

/// An event as a reader sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub event_id: String,
    pub community_id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub start: String,
    pub end: String,
    pub time_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub host_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
    pub reminder_minutes: u32,
    pub occurrence_count: usize,
    /// The occurrences in the range asked for (or the next ones).
    pub occurrences: Vec<OccurrenceView>,
    pub cancelled: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// An attendee of an occurrence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttendeeView {
    pub user_id: UserId,
    pub status: RsvpStatus,
    pub responded_at: String,
}

/// My answer to one occurrence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RsvpView {
    pub event_id: String,
    pub occurrence_id: String,
    pub status: RsvpStatus,
    pub going: i64,
    pub waitlisted: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

/// One of my upcoming occurrences.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyEventView {
    pub status: RsvpStatus,
    pub occurrence: OccurrenceView,
    pub event: EventView,
}
