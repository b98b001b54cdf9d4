//! The activity feed: activities, fan-out on write into home feeds and the public
//! timeline, likes, comments, shares and deletion.
//!
//! Items (see `docs/data-model.md`):
//! - `ACT#<activityId> / META` — the activity (entity `Activity`), GSI1
//!   `USER#<author> / ACT#<activityId>`; its likes `ACT#<id> / LIKE#<userId>` and comments
//!   `ACT#<id> / COMMENT#<commentId>` live in the same partition, and the counters on
//!   META change in the same transaction as the like or comment, so they are exact.
//! - `USER#<author> / ACTIVITY#<activityId>` — points the author's partition at the
//!   activity, so deleting the account deletes the activity (see [`owned_elsewhere`]).
//! - `FEED#<userId> / <activityId>` — a home-feed entry, TTL 30 days after the activity.
//! - `TIMELINE#<yyyy-mm-dd> / <activityId>` — a public-timeline entry, TTL 7 days.
//! - `FANOUT#<activityId> / <put|delete>#<step>` — fan-out progress, TTL 1 day.
//!
//! Activity ids are ULIDs, so a feed partition sorted by sort key is sorted by time.
//! Activities generated from the stream (a topic, reply, connection or accepted answer)
//! get a *derived* ULID: the source's timestamp plus 80 bits of a hash of the source, so a
//! redelivered record derives the same id and the conditional put creates nothing twice.
//! Deleting is a soft delete (a tombstone with a TTL longer than the stream's 24 h
//! retention), so a late redelivery of the source cannot resurrect a deleted activity.
//!
//! ## Fan-out (the feed reaction of the stream fan-out function `StreamFanoutFunction`)
//! An Activity INSERT starts a *put* fan-out; an Activity turning `deleted` (or removed
//! with the account) starts a *delete* fan-out, the same way. Step 0 writes the author's
//! own entry and the timeline entry, then pages through the author's connections
//! (`graph::connection_ids_page`), writing one entry per connection with
//! BatchWriteItem. An invocation may process at most `max_pages_per_invocation` pages in
//! total (a [`FanoutBudget`] shared by every record of the stream batch), so one batch
//! never times out whatever the audience. When the budget runs out, the job writes a
//! progress item `FANOUT#<id> / <op>#<step+1>` holding the connection cursor, with
//! `attribute_not_exists`; its own INSERT record continues the work in a later
//! invocation. Everything is idempotent under retries and redelivery:
//! - feed keys are deterministic and their contents derive only from the activity, so a
//!   repeated put writes the same item (never a second entry) and a repeated delete is a
//!   no-op;
//! - the continuation of step n is step n+1 by key; a redelivered step finds it existing
//!   (conditional put fails) and stops, so the chain never forks into duplicates;
//! - a put step re-reads the activity first and stops if it was deleted meanwhile.
//!
//! Reads re-check every entry against its activity (one BatchGetItem per page), so an
//! entry that a racing put re-created after a delete, or one left in the feed of a user
//! who is no longer a connection, is never shown; TTL removes it later.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use validator::{Validate, ValidationError};

use crate::contexts::graph;
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult, FieldError};
use crate::core::ids::{UserId, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::store::{
    self, AttributeValue, BatchWrite, Expr, Item, Key, KeyQuery, Returning, Store,
};
use crate::table::transaction::{Condition, Transaction, WriteError};

pub mod erasure;

/// Home-feed entries expire this long after their activity was created.
pub const FEED_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// Public-timeline entries expire after this long; the timeline reads back as many days.
pub const TIMELINE_DAYS: i64 = 7;
pub const TIMELINE_TTL_SECONDS: i64 = TIMELINE_DAYS * 24 * 3600;
/// A deleted activity's tombstone outlives the stream's 24 h retention, so no
/// redelivered source record can create it again.
pub const TOMBSTONE_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Progress items only need to live until the fan-out finishes.
pub const FANOUT_JOB_TTL_SECONDS: i64 = 24 * 3600;
/// Longest text of an activity, share message or comment.
pub const MAX_TEXT_CHARS: u64 = 2000;

pub mod reactions;
pub mod keys {
    use super::*;

    pub fn activity_partition(activity_id: &str) -> String {
        format!("ACT#{activity_id}")
    }

    /// `ACT#<activityId> / META`
    pub fn activity(activity_id: &str) -> Key {
        Key::new(activity_partition(activity_id), "META")
    }

    /// GSI1 of an activity: `USER#<author> / ACT#<activityId>` (a user's activities).
    pub fn by_author(author: &UserId, activity_id: &str) -> (String, String) {
        (
            crate::table::keys::user_partition(author),
            format!("ACT#{activity_id}"),
        )
    }

    /// `USER#<author> / ACTIVITY#<activityId>`: deleted with the account, which then
    /// deletes the activity it points at.
    pub fn authored(author: &UserId, activity_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(author),
            format!("ACTIVITY#{activity_id}"),
        )
    }

    /// `ACT#<activityId> / LIKE#<userId>`: one like per user by key.
    pub fn like(activity_id: &str, user: &UserId) -> Key {
        Key::new(activity_partition(activity_id), format!("LIKE#{user}"))
    }

    /// `USER#<user> / ACTLIKE#<activityId>`: finds the user's likes when the account
    /// is deleted.
    pub fn liked_by(user: &UserId, activity_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(user),
            format!("ACTLIKE#{activity_id}"),
        )
    }

    /// `USER#<user> / ACTCOMMENT#<activityId>#<commentId>`: finds the user's comments
    /// when the account is deleted.
    pub fn commented_by(user: &UserId, activity_id: &str, comment_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(user),
            format!("ACTCOMMENT#{activity_id}#{comment_id}"),
        )
    }

    /// `ACT#<activityId> / COMMENT#<commentId>`: comments in time order.
    pub fn comment(activity_id: &str, comment_id: &str) -> Key {
        Key::new(
            activity_partition(activity_id),
            format!("COMMENT#{comment_id}"),
        )
    }

    pub fn feed_partition(user: &UserId) -> String {
        format!("FEED#{user}")
    }

    /// `FEED#<userId> / <activityId>`
    pub fn feed_entry(user: &UserId, activity_id: &str) -> Key {
        Key::new(feed_partition(user), activity_id)
    }

    pub fn timeline_partition(day: &str) -> String {
        format!("TIMELINE#{day}")
    }

    /// `TIMELINE#<yyyy-mm-dd> / <activityId>`
    pub fn timeline_entry(day: &str, activity_id: &str) -> Key {
        Key::new(timeline_partition(day), activity_id)
    }

    /// `FANOUT#<activityId> / <op>#<step>`: the fan-out's continuation.
    pub fn fanout_step(activity_id: &str, op: FanoutOp, step: u32) -> Key {
        Key::new(
            format!("FANOUT#{activity_id}"),
            format!("{}#{step:05}", op.as_str()),
        )
    }
}

/// Items elsewhere that an item of a user's partition points at (account deletion).
pub fn owned_elsewhere(sort_key: &str) -> Option<Key> {
    sort_key.strip_prefix("ACTIVITY#").map(keys::activity)
}

// ---------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Verb {
    DiscussionPosted,
    ReplyPosted,
    ConnectionMade,
    AnswerAccepted,
    LessonCompleted,
    BadgeEarned,
    GoalShared,
    Share,
}

/// Who may see an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActivityVisibility {
    Public,
    Connections,
    Private,
}

impl ActivityVisibility {
    /// Whether a viewer who is (or is not) the author or a connection may see it.
    pub fn allows(self, is_author: bool, is_connection: bool) -> bool {
        match self {
            ActivityVisibility::Public => true,
            ActivityVisibility::Connections => is_author || is_connection,
            ActivityVisibility::Private => is_author,
        }
    }
}

/// The stored activity (`ACT#<id> / META`, minus its keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub activity_id: String,
    pub author_id: UserId,
    pub verb: Verb,
    pub visibility: ActivityVisibility,
    #[serde(default)]
    pub object: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub like_count: i64,
    #[serde(default)]
    pub comment_count: i64,
    #[serde(default)]
    pub share_count: i64,
}

impl Activity {
    /// For a share: the shared activity and its author.
    pub fn original(&self) -> Option<(String, UserId)> {
        if self.verb != Verb::Share {
            return None;
        }
        let id = self.object.get("originalActivityId")?.as_str()?;
        let author = self.object.get("originalAuthorId")?.as_str()?;
        Some((id.to_owned(), UserId::parse(author).ok()?))
    }

    pub fn entry(&self) -> FeedEntry {
        let original = self.original();
        FeedEntry {
            activity_id: self.activity_id.clone(),
            author_id: self.author_id.clone(),
            verb: self.verb,
            visibility: self.visibility,
            created_at: self.created_at.clone(),
            original_activity_id: original.as_ref().map(|(id, _)| id.clone()),
            original_author_id: original.map(|(_, author)| author),
        }
    }
}

/// A home-feed or timeline entry: what a reader needs to plan a page with a constant
/// number of requests (whose content to fetch, whom to check for blocks and
/// connections). Content and counters are read from the activities themselves, so an
/// entry never shows a stale count or a deleted activity, and stays small (one write
/// unit per fan-out put).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedEntry {
    pub activity_id: String,
    pub author_id: UserId,
    pub verb: Verb,
    pub visibility: ActivityVisibility,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_activity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_author_id: Option<UserId>,
}

/// An activity as a reader sees it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityView {
    pub activity_id: String,
    pub author_id: UserId,
    pub verb: Verb,
    pub visibility: ActivityVisibility,
    pub object: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub created_at: String,
    pub like_count: i64,
    pub comment_count: i64,
    pub share_count: i64,
    /// Absent on an embedded original.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liked_by_me: Option<bool>,
    /// For a share: the shared activity, or absent once it was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub original: Option<Box<ActivityView>>,
}

impl ActivityView {
    fn of(activity: Activity, liked_by_me: Option<bool>) -> Self {
        Self {
            activity_id: activity.activity_id,
            author_id: activity.author_id,
            verb: activity.verb,
            visibility: activity.visibility,
            object: activity.object,
            text: activity.text,
            created_at: activity.created_at,
            like_count: activity.like_count,
            comment_count: activity.comment_count,
            share_count: activity.share_count,
            liked_by_me,
            original: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub comment_id: String,
    pub activity_id: String,
    pub author_id: UserId,
    pub text: String,
    pub created_at: String,
}

// ---------------------------------------------------------------------------------
// Wire DTOs
// ---------------------------------------------------------------------------------

/// The verbs a client may post; the others are generated from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClientVerb {
    LessonCompleted,
    BadgeEarned,
    GoalShared,
    /// A free-text share (`text` only); re-posting an activity is `POST .../shares`.
    Share,
}

/// `POST /v1/activities`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewActivity {
    pub verb: ClientVerb,
    /// Defaults to `connections`.
    #[serde(default)]
    pub visibility: Option<ActivityVisibility>,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LessonObject {
    #[validate(length(min = 1, max = 64), custom(function = "reference"))]
    lesson_id: String,
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    course_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BadgeObject {
    #[validate(length(min = 1, max = 64), custom(function = "reference"))]
    badge_id: String,
    #[validate(
        length(min = 1, max = 100),
        custom(function = "validation::single_line")
    )]
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    image_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GoalObject {
    #[validate(
        length(min = 1, max = 280),
        custom(function = "validation::single_line")
    )]
    goal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "calendar_date"))]
    target_date: Option<String>,
}

/// `POST /v1/activities/{id}/comments`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewComment {
    #[validate(length(min = 1, max = 2000), custom(function = "non_blank_text"))]
    pub text: String,
}

/// `POST /v1/activities/{id}/shares`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewShare {
    #[serde(default)]
    #[validate(length(min = 1, max = 2000), custom(function = "non_blank_text"))]
    pub text: Option<String>,
    /// Defaults to `connections`.
    #[serde(default)]
    pub visibility: Option<ActivityVisibility>,
}

fn invalid(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Ids of the client's own domain (lessons, badges): printable, no key separator.
fn reference(value: &str) -> Result<(), ValidationError> {
    if value.chars().all(|c| c.is_ascii_graphic() && c != '#') {
        Ok(())
    } else {
        Err(invalid(
            "reference",
            "must be printable ASCII without spaces or '#'",
        ))
    }
}

fn calendar_date(value: &str) -> Result<(), ValidationError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|_| ())
        .map_err(|_| invalid("date", "must be a date as YYYY-MM-DD"))
}

fn non_blank_text(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(invalid("blank", "must not be blank"));
    }
    validation::plain_text(value)
}

/// A client activity that passed validation, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidActivity {
    pub verb: Verb,
    pub visibility: ActivityVisibility,
    pub object: Map<String, Value>,
    pub text: Option<String>,
}

/// Validates a client activity into the stored verb, object and text.
pub fn validate_new_activity(input: NewActivity) -> AppResult<ValidActivity> {
    let mut errors = Vec::new();
    if let Some(text) = &input.text {
        let length = text.chars().count() as u64;
        if length == 0 || length > MAX_TEXT_CHARS {
            errors.push(FieldError::new("text", "must be 1 to 2000 characters long"));
        } else if let Err(error) = non_blank_text(text) {
            errors.push(FieldError::new(
                "text",
                error.message.map(|m| m.to_string()).unwrap_or_default(),
            ));
        }
    }
    let (verb, object) = match input.verb {
        ClientVerb::Share => {
            if input.object.is_some() {
                errors.push(FieldError::new(
                    "object",
                    "must be absent for a free-text share",
                ));
            }
            if input.text.is_none() {
                errors.push(FieldError::new("text", "is required for a share"));
            }
            (Verb::Share, Map::new())
        }
        ClientVerb::LessonCompleted => (
            Verb::LessonCompleted,
            typed_object::<LessonObject>(input.object, &mut errors)?,
        ),
        ClientVerb::BadgeEarned => (
            Verb::BadgeEarned,
            typed_object::<BadgeObject>(input.object, &mut errors)?,
        ),
        ClientVerb::GoalShared => (
            Verb::GoalShared,
            typed_object::<GoalObject>(input.object, &mut errors)?,
        ),
    };
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(AppError::Validation(errors));
    }
    let visibility = input.visibility.unwrap_or(ActivityVisibility::Connections);
    Ok(ValidActivity {
        verb,
        visibility,
        object,
        text: input.text,
    })
}

/// Parses `object` as `T` (a wrong shape is a 400 naming `object.<path>`), validates it
/// (broken rules are collected as `object.<field>`) and returns its normalized form.
fn typed_object<T>(
    object: Option<Value>,
    errors: &mut Vec<FieldError>,
) -> AppResult<Map<String, Value>>
where
    T: serde::de::DeserializeOwned + Serialize + Validate,
{
    let Some(object) = object else {
        errors.push(FieldError::new("object", "is required for this verb"));
        return Ok(Map::new());
    };
    let typed: T = serde_path_to_error::deserialize(object).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." || path.is_empty() {
            "object".to_owned()
        } else {
            format!("object.{path}")
        };
        AppError::bad_field(field, error.into_inner().to_string())
    })?;
    if let Err(AppError::Validation(fields)) = check(&typed) {
        errors.extend(
            fields
                .into_iter()
                .map(|f| FieldError::new(format!("object.{}", f.field), f.message)),
        );
    }
    match serde_json::to_value(&typed).map_err(AppError::internal)? {
        Value::Object(map) => Ok(map),
        _ => Err(AppError::internal(
            "an activity object is not a JSON object",
        )),
    }
}

// ---------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------

fn parse_time(rfc3339: &str) -> AppResult<time::OffsetDateTime> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map_err(|e| AppError::internal(format!("bad timestamp {rfc3339}: {e}")))
}

/// A ULID for an activity derived from its source: the source's time (so feeds sort it
/// by when it happened) and 80 bits of a hash of `source` (so it is the same on every
/// redelivery).
pub fn derived_activity_id(created_at: &str, source: &str) -> AppResult<String> {
    let at = parse_time(created_at)?;
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let digest = Sha256::digest(source.as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    Ok(ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string())
}

/// The timeline day bucket (`yyyy-mm-dd`, UTC) of an epoch second.
pub fn day_bucket(epoch_seconds: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A valid activity id is a ULID (it becomes part of keys).
pub fn parse_activity_id(raw: &str) -> AppResult<String> {
    ulid::Ulid::from_string(raw)
        .map(|id| id.to_string())
        .map_err(|_| AppError::NotFound(format!("no activity {raw}")))
}

/// Limits how many connection pages one invocation of the fan-out function processes,
/// across all records of its batch.
#[derive(Debug)]
pub struct FanoutBudget(AtomicU32);

impl FanoutBudget {
    pub fn new(pages: u32) -> Self {
        Self(AtomicU32::new(pages))
    }

    /// Takes one page from the budget; false when it is spent.
    pub fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// Fan-out knobs (from the function's environment).
#[derive(Debug, Clone, Copy)]
pub struct FanoutSettings {
    /// Connections per Query page (and per group of BatchWriteItem calls).
    pub page_size: u32,
    /// Pages one invocation may process before continuing through a progress item.
    pub max_pages_per_invocation: u32,
}

// ---------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn activity_item(activity: &Activity) -> AppResult<Item> {
    let mut item = store::to_item(activity)?;
    item.extend(keys::activity(&activity.activity_id).to_item());
    item.insert("entity".into(), s("Activity"));
    let (gsi_pk, gsi_sk) = keys::by_author(&activity.author_id, &activity.activity_id);
    item.insert("GSI1PK".into(), s(gsi_pk));
    item.insert("GSI1SK".into(), s(gsi_sk));
    Ok(item)
}

/// A pointer in a user's partition to something of theirs stored elsewhere.
fn pointer_item(key: Key, activity_id: &str) -> Item {
    let mut item = key.to_item();
    item.insert("entity".into(), s("ActivityPointer"));
    item.insert("activityId".into(), s(activity_id));
    item
}

/// Adds `delta` to a counter of a live (existing, not deleted) activity.
fn bump_counter<'a>(
    transaction: Transaction<'a>,
    activity_id: &str,
    counter: &str,
    delta: i64,
) -> Transaction<'a> {
    let update = Expr::new("SET #counter = if_not_exists(#counter, :zero) + :delta")
        .name("#counter", counter)
        .value(":zero", n(0))
        .value(":delta", n(delta));
    let live = Expr::new("attribute_exists(PK) AND #deleted = :false")
        .name("#deleted", "deleted")
        .value(":false", AttributeValue::Bool(false));
    transaction.update(
        &keys::activity(activity_id),
        update,
        Some(Condition::new(ACTIVITY_LIVE, live)),
    )
}

// The conditions of the feed's transactions, by name.
/// The activity exists and is not deleted.
const ACTIVITY_LIVE: &str = "activity_live";
/// The activity is not stored yet (a redelivered source finds it).
const ACTIVITY_NEW: &str = "activity_new";
/// The like, or the comment, is not stored yet.
const REACTION_NEW: &str = "reaction_new";
/// The like, or the comment, is stored.
const REACTION_THERE: &str = "reaction_there";
/// The fan-out step is not queued yet.
const STEP_NEW: &str = "step_new";

/// Puts a new activity and its pointer in the author's partition, plus `extra` items, in
/// one transaction. Returns false when the activity already exists (a redelivered
/// source); a failed `ACTIVITY_LIVE` condition of `extra` (the shared activity is gone)
/// is a 404.
async fn insert_activity<'a>(
    store: &'a Store,
    activity: &Activity,
    extra: impl FnOnce(Transaction<'a>) -> Transaction<'a>,
) -> AppResult<bool> {
    let pointer = keys::authored(&activity.author_id, &activity.activity_id);
    let mut pointer_item = pointer.to_item();
    pointer_item.insert("entity".into(), s("AuthoredActivity"));
    pointer_item.insert("activityId".into(), s(activity.activity_id.clone()));
    pointer_item.insert("createdAt".into(), s(activity.created_at.clone()));
    let transaction = store
        .transaction()
        .put(
            activity_item(activity)?,
            Some(Condition::absent(ACTIVITY_NEW)),
        )
        .put(pointer_item, None);
    match extra(transaction).commit().await {
        Ok(()) => Ok(true),
        Err(error) if error.failed(ACTIVITY_LIVE) => Err(AppError::NotFound(
            "the activity does not exist or was deleted".into(),
        )),
        Err(error) if error.failed(ACTIVITY_NEW) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Soft-deletes an activity: content scrubbed, `deleted` set, TTL set. Returns false when
/// it was already deleted or does not exist (or is not `author`'s).
async fn tombstone(store: &Store, activity_id: &str, author: Option<&UserId>) -> AppResult<bool> {
    let update =
        Expr::new("SET #deleted = :true, #object = :empty, #expires = :expires REMOVE #text")
            .name("#object", "object")
            .name("#text", "text")
            .name("#expires", store::TTL_ATTRIBUTE)
            .value(":true", AttributeValue::Bool(true))
            .value(":empty", AttributeValue::M(HashMap::new()))
            .value(":expires", n(now_epoch_seconds() + TOMBSTONE_TTL_SECONDS));
    let mut live = Expr::new(match author {
        Some(_) => "attribute_exists(PK) AND #deleted = :false AND authorId = :author",
        None => "attribute_exists(PK) AND #deleted = :false",
    })
    .name("#deleted", "deleted")
    .value(":false", AttributeValue::Bool(false));
    if let Some(author) = author {
        live = live.value(":author", s(author.as_str()));
    }
    match store
        .update(
            &keys::activity(activity_id),
            update,
            Some(Condition::new(ACTIVITY_LIVE, live)),
            Returning::Nothing,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error.failed(ACTIVITY_LIVE) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn put_request(item: Item) -> AppResult<BatchWrite> {
    Ok(BatchWrite::Put(item))
}

fn delete_request(key: &Key) -> AppResult<BatchWrite> {
    Ok(BatchWrite::Delete(key.clone()))
}

/// A feed or timeline entry item: its content derives only from the activity, so a
/// repeated put writes exactly the same item.
fn entry_item(key: &Key, entry: &FeedEntry, entity: &str, ttl_seconds: i64) -> AppResult<Item> {
    let mut item = store::to_item(entry)?;
    item.extend(key.to_item());
    item.insert("entity".into(), s(entity));
    let created = parse_time(&entry.created_at)?.unix_timestamp();
    item.insert(store::TTL_ATTRIBUTE.into(), n(created + ttl_seconds));
    Ok(item)
}

// ---------------------------------------------------------------------------------
// Client writes
// ---------------------------------------------------------------------------------

/// `POST /v1/activities`: a client-posted activity.
pub async fn post_activity(
    store: &Store,
    me: &UserId,
    input: NewActivity,
) -> AppResult<ActivityView> {
    let ValidActivity {
        verb,
        visibility,
        object,
        text,
    } = validate_new_activity(input)?;
    let activity = Activity {
        activity_id: new_ulid(),
        author_id: me.clone(),
        verb,
        visibility,
        object,
        text,
        created_at: now_rfc3339(),
        deleted: false,
        like_count: 0,
        comment_count: 0,
        share_count: 0,
    };
    insert_activity(store, &activity, |t| t).await?;
    Ok(ActivityView::of(activity, Some(false)))
}

/// The activity if `viewer` may see it: live, not hidden by a block either way, and
/// its visibility allows the viewer. Anything else is a 404 (existence is not revealed).
pub async fn visible_activity(
    store: &Store,
    viewer: &UserId,
    activity_id: &str,
) -> AppResult<Activity> {
    let not_found = || AppError::NotFound(format!("no activity {activity_id}"));
    let activity_id = parse_activity_id(activity_id)?;
    let activity: Activity = store
        .get(&keys::activity(&activity_id))
        .await?
        .filter(|a: &Activity| !a.deleted)
        .ok_or_else(not_found)?;
    let is_author = &activity.author_id == viewer;
    if !is_author {
        if graph::blocked_between(store, viewer, &activity.author_id).await? {
            return Err(not_found());
        }
        let is_connection = activity.visibility == ActivityVisibility::Connections
            && graph::relationship(store, viewer, &activity.author_id).await?
                == graph::Relationship::Connection;
        if !activity.visibility.allows(false, is_connection) {
            return Err(not_found());
        }
    }
    Ok(activity)
}

/// `GET /v1/activities/{id}`
pub async fn get_activity(
    store: &Store,
    viewer: &UserId,
    activity_id: &str,
) -> AppResult<ActivityView> {
    let activity = visible_activity(store, viewer, activity_id).await?;
    render(store, viewer, vec![activity.entry()])
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("no activity {activity_id}")))
}

/// `DELETE /v1/activities/{id}`: only the author; repeatable. The stream then removes it
/// from every feed.
pub async fn delete_activity(store: &Store, me: &UserId, activity_id: &str) -> AppResult<()> {
    let id = parse_activity_id(activity_id)?;
    let activity: Activity = store
        .get(&keys::activity(&id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no activity {activity_id}")))?;
    if &activity.author_id != me {
        // Someone who may see it learns they may not delete it; others learn nothing.
        visible_activity(store, me, &id).await?;
        return Err(AppError::Forbidden(
            "only the author may delete an activity".into(),
        ));
    }
    tombstone(store, &id, Some(me)).await?;
    Ok(())
}

/// `PUT /v1/activities/{id}/like`: at most one like per user (by key); the counter moves
/// in the same transaction, so it is exact. Liking twice is a no-op.
pub async fn like(store: &Store, me: &UserId, activity_id: &str) -> AppResult<()> {
    let activity = visible_activity(store, me, activity_id).await?;
    let id = activity.activity_id;
    let like = store::to_item(&serde_json::json!({
        "activityId": id, "userId": me, "createdAt": now_rfc3339(),
    }))?;
    let mut item = keys::like(&id, me).to_item();
    item.extend(like);
    item.insert("entity".into(), s("ActivityLike"));
    let transaction = store
        .transaction()
        .put(item, Some(Condition::absent(REACTION_NEW)));
    let result = bump_counter(transaction, &id, "likeCount", 1)
        .put(pointer_item(keys::liked_by(me, &id), &id), None)
        .commit()
        .await;
    counted_write(result, REACTION_NEW, &id)
}

/// `DELETE /v1/activities/{id}/like`: unliking what I do not like is a no-op.
pub async fn unlike(store: &Store, me: &UserId, activity_id: &str) -> AppResult<()> {
    let activity = visible_activity(store, me, activity_id).await?;
    let id = activity.activity_id;
    let transaction = store.transaction().delete(
        &keys::like(&id, me),
        Some(Condition::present(REACTION_THERE)),
    );
    let result = bump_counter(transaction, &id, "likeCount", -1)
        .delete(&keys::liked_by(me, &id), None)
        .commit()
        .await;
    counted_write(result, REACTION_THERE, &id)
}

/// A like/unlike transaction's outcome: item condition failed (already in that state)
/// is a no-op; the activity condition failed is a 404.
fn counted_write(
    result: Result<(), WriteError>,
    already: &'static str,
    activity_id: &str,
) -> AppResult<()> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(ACTIVITY_LIVE) => {
            Err(AppError::NotFound(format!("no activity {activity_id}")))
        }
        Err(error) if error.failed(already) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// `POST /v1/activities/{id}/comments`
pub async fn add_comment(
    store: &Store,
    me: &UserId,
    activity_id: &str,
    input: NewComment,
) -> AppResult<Comment> {
    check(&input)?;
    let activity = visible_activity(store, me, activity_id).await?;
    let comment = Comment {
        comment_id: new_ulid(),
        activity_id: activity.activity_id.clone(),
        author_id: me.clone(),
        text: input.text,
        created_at: now_rfc3339(),
    };
    let mut item = store::to_item(&comment)?;
    item.extend(keys::comment(&comment.activity_id, &comment.comment_id).to_item());
    item.insert("entity".into(), s("ActivityComment"));
    let transaction = store
        .transaction()
        .put(item, Some(Condition::absent(REACTION_NEW)));
    let result = bump_counter(transaction, &comment.activity_id, "commentCount", 1)
        .put(
            pointer_item(
                keys::commented_by(me, &comment.activity_id, &comment.comment_id),
                &comment.activity_id,
            ),
            None,
        )
        .commit()
        .await;
    match result {
        Ok(()) => Ok(comment),
        Err(error) if error.failed(ACTIVITY_LIVE) => {
            Err(AppError::NotFound(format!("no activity {activity_id}")))
        }
        Err(error) => Err(error.into()),
    }
}

/// `GET /v1/activities/{id}/comments`: oldest first, one Query per page, commenters the
/// viewer blocks (or is blocked by) hidden.
pub async fn list_comments(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    activity_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Comment>> {
    let activity = visible_activity(store, viewer, activity_id).await?;
    let scope = format!("activity-comments:{}", activity.activity_id);
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::activity_partition(&activity.activity_id))
                .prefix("COMMENT#")
                .limit(limit)
                .start(start),
        )
        .await?;
    let comments = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<Comment>>>()?;
    let authors: Vec<UserId> = comments.iter().map(|c| c.author_id.clone()).collect();
    let blocked = graph::blocked_among(store, viewer, &authors).await?;
    let items = comments
        .into_iter()
        .filter(|c| !blocked.contains(&c.author_id))
        .collect();
    let next_cursor = next.map(|key| cursors.seal(&scope, &key)).transpose()?;
    Ok(Page { items, next_cursor })
}

/// `POST /v1/activities/{id}/shares`: re-posts a public activity (a share of a share
/// shares its original) with an optional message; the original's share count moves in
/// the same transaction.
pub async fn share(
    store: &Store,
    me: &UserId,
    activity_id: &str,
    input: NewShare,
) -> AppResult<ActivityView> {
    check(&input)?;
    let mut target = visible_activity(store, me, activity_id).await?;
    if let Some((original, _)) = target.original() {
        target = visible_activity(store, me, &original).await?;
    }
    if target.visibility != ActivityVisibility::Public {
        return Err(AppError::Forbidden(
            "only public activities can be shared".into(),
        ));
    }
    let mut object = Map::new();
    object.insert(
        "originalActivityId".into(),
        Value::String(target.activity_id.clone()),
    );
    object.insert(
        "originalAuthorId".into(),
        Value::String(target.author_id.to_string()),
    );
    let activity = Activity {
        activity_id: new_ulid(),
        author_id: me.clone(),
        verb: Verb::Share,
        visibility: input.visibility.unwrap_or(ActivityVisibility::Connections),
        object,
        text: input.text,
        created_at: now_rfc3339(),
        deleted: false,
        like_count: 0,
        comment_count: 0,
        share_count: 0,
    };
    insert_activity(store, &activity, |t| {
        bump_counter(t, &target.activity_id, "shareCount", 1)
    })
    .await?;
    target.share_count += 1;
    let mut view = ActivityView::of(activity, Some(false));
    view.original = Some(Box::new(ActivityView::of(target, None)));
    Ok(view)
}

// ---------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------

/// Turns a page of entries into what the viewer may see, with a constant number of
/// requests: one BatchGetItem for blocks, one BatchGetItem (per 100 keys) for the
/// activities, the viewer's likes, shared originals and, for connections-only
/// activities, the connection item. Deleted activities, hidden authors and activities
/// the viewer may no longer see (e.g. after a connection was removed) are dropped.
async fn render(
    store: &Store,
    viewer: &UserId,
    entries: Vec<FeedEntry>,
) -> AppResult<Vec<ActivityView>> {
    let people: Vec<UserId> = entries
        .iter()
        .flat_map(|e| std::iter::once(e.author_id.clone()).chain(e.original_author_id.clone()))
        .collect();
    let blocked = graph::blocked_among(store, viewer, &people).await?;
    let entries: Vec<FeedEntry> = entries
        .into_iter()
        .filter(|e| {
            !blocked.contains(&e.author_id)
                && e.original_author_id
                    .as_ref()
                    .is_none_or(|o| !blocked.contains(o))
        })
        .collect();
    let mut wanted: Vec<Key> = Vec::new();
    let mut seen = HashSet::new();
    let mut want = |key: Key| {
        if seen.insert(key.clone()) {
            wanted.push(key);
        }
    };
    for entry in &entries {
        want(keys::activity(&entry.activity_id));
        want(keys::like(&entry.activity_id, viewer));
        if let Some(original) = &entry.original_activity_id {
            want(keys::activity(original));
        }
        if &entry.author_id != viewer && entry.visibility == ActivityVisibility::Connections {
            want(graph::keys::connection(viewer, &entry.author_id));
        }
    }
    let found: HashMap<(String, String), Item> = store
        .batch_get_items(&wanted)
        .await?
        .into_iter()
        .filter_map(|item| {
            let pk = item.get(store::PK)?.as_s().ok()?.clone();
            let sk = item.get(store::SK)?.as_s().ok()?.clone();
            Some(((pk, sk), item))
        })
        .collect();
    let has = |key: &Key| found.contains_key(&(key.pk.clone(), key.sk.clone()));
    let activity_of = |id: &str| -> AppResult<Option<Activity>> {
        let key = keys::activity(id);
        found
            .get(&(key.pk, key.sk))
            .cloned()
            .map(store::from_item::<Activity>)
            .transpose()
            .map(|a| a.filter(|a| !a.deleted))
    };
    let mut views = Vec::with_capacity(entries.len());
    for entry in &entries {
        let Some(activity) = activity_of(&entry.activity_id)? else {
            continue;
        };
        let is_author = &activity.author_id == viewer;
        let is_connection = has(&graph::keys::connection(viewer, &activity.author_id));
        if !activity.visibility.allows(is_author, is_connection) {
            continue;
        }
        let liked = has(&keys::like(&activity.activity_id, viewer));
        let original = match &entry.original_activity_id {
            Some(id) => activity_of(id)?
                .filter(|o| o.visibility == ActivityVisibility::Public)
                .map(|o| Box::new(ActivityView::of(o, None))),
            None => None,
        };
        let mut view = ActivityView::of(activity, Some(liked));
        view.original = original;
        views.push(view);
    }
    Ok(views)
}

/// `GET /v1/feed`: my home feed, newest first — one Query on `FEED#<me>` per page.
pub async fn home_feed(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ActivityView>> {
    const SCOPE: &str = "feed";
    let start = cursor.map(|c| cursors.open(SCOPE, c)).transpose()?;
    let mut query = KeyQuery::partition(keys::feed_partition(me))
        .limit(limit)
        .start(start);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let entries = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<FeedEntry>>>()?;
    let items = render(store, me, entries).await?;
    let next_cursor = next.map(|key| cursors.seal(SCOPE, &key)).transpose()?;
    Ok(Page { items, next_cursor })
}

/// `GET /v1/timeline`: public activities, newest first — one Query per page on one day's
/// partition (`TIMELINE#<day>`); when a day is exhausted the cursor moves to the day
/// before, back to [`TIMELINE_DAYS`] days. A page may therefore hold fewer than `limit`
/// items (even none) while `nextCursor` is present.
pub async fn public_timeline(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ActivityView>> {
    const SCOPE: &str = "timeline";
    const DAY: &str = "day";
    let now = now_epoch_seconds();
    let oldest_day = day_bucket(now - (TIMELINE_DAYS - 1) * 86_400);
    let mut position = cursor
        .map(|c| cursors.open(SCOPE, c))
        .transpose()?
        .unwrap_or_default();
    let day = position.remove(DAY).unwrap_or_else(|| day_bucket(now));
    let start = (!position.is_empty()).then_some(position);
    let mut query = KeyQuery::partition(keys::timeline_partition(&day))
        .limit(limit)
        .start(start);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let entries = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<FeedEntry>>>()?;
    let items = render(store, viewer, entries).await?;
    let next_position: Option<PageKey> = match next {
        Some(mut key) => {
            key.insert(DAY.into(), day.clone());
            Some(key)
        }
        None => {
            let previous = day_before(&day)?;
            (previous >= oldest_day).then(|| BTreeMap::from([(DAY.to_owned(), previous)]))
        }
    };
    let next_cursor = next_position
        .map(|key| cursors.seal(SCOPE, &key))
        .transpose()?;
    Ok(Page { items, next_cursor })
}

fn day_before(day: &str) -> AppResult<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, &format)
        .map_err(|_| AppError::bad_field("cursor", "is not a valid cursor for this query"))?;
    let previous = date.previous_day().unwrap_or(date);
    Ok(format!(
        "{:04}-{:02}-{:02}",
        previous.year(),
        u8::from(previous.month()),
        previous.day()
    ))
}

// ---------------------------------------------------------------------------------
// Stream: generation and fan-out
// ---------------------------------------------------------------------------------

/// The stream's typed change (one type for every context).
pub use crate::table::stream::{Change, ChangeKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FanoutOp {
    Put,
    Delete,
}

impl FanoutOp {
    fn as_str(self) -> &'static str {
        match self {
            FanoutOp::Put => "put",
            FanoutOp::Delete => "delete",
        }
    }
}

/// A fan-out in progress (the `FANOUT#` progress item, minus keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FanoutJob {
    pub entry: FeedEntry,
    pub op: FanoutOp,
    pub step: u32,
    /// Where the author's connection pages continue (absent: from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<PageKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TopicImage {
    topic_id: String,
    author_id: UserId,
    #[serde(default)]
    category_id: Option<String>,
    #[serde(default)]
    title: String,
    created_at: String,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    accepted_reply_id: Option<String>,
    #[serde(default)]
    accepted_reply_author_id: Option<UserId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyImage {
    reply_id: String,
    topic_id: String,
    author_id: UserId,
    #[serde(default)]
    parent_reply_id: Option<String>,
    #[serde(default)]
    body: String,
    created_at: String,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionImage {
    user_id: UserId,
    other_user_id: UserId,
    #[serde(default)]
    requested_by: Option<UserId>,
    created_at: String,
}

fn image<T: serde::de::DeserializeOwned>(
    image: Option<&serde_dynamo::Item>,
) -> AppResult<Option<T>> {
    image.map(|i| store::from_item(i.clone())).transpose()
}

/// Handles one stream change: generates activities from topics, replies, connections
/// and accepted answers, and fans activities out (or their deletion) into feeds.
pub async fn on_change(
    store: &Store,
    settings: FanoutSettings,
    budget: &FanoutBudget,
    change: &Change,
) -> AppResult<()> {
    let (pk, sk) = (change.pk.as_str(), change.sk.as_str());
    if pk.starts_with("ACT#") && sk == "META" {
        let old: Option<Activity> = image(change.old.as_ref())?;
        let new: Option<Activity> = image(change.new.as_ref())?;
        let job = |activity: &Activity, op| FanoutJob {
            entry: activity.entry(),
            op,
            step: 0,
            cursor: None,
        };
        let job = match (change.kind, old, new) {
            (ChangeKind::Insert, _, Some(new)) if !new.deleted => job(&new, FanoutOp::Put),
            (ChangeKind::Modify, Some(old), Some(new)) if !old.deleted && new.deleted => {
                job(&new, FanoutOp::Delete)
            }
            (ChangeKind::Remove, Some(old), _) if !old.deleted => job(&old, FanoutOp::Delete),
            _ => return Ok(()),
        };
        return fan_out(store, settings, budget, job).await;
    }
    if pk.starts_with("FANOUT#") {
        if change.kind == ChangeKind::Insert
            && let Some(job) = image::<FanoutJob>(change.new.as_ref())?
        {
            return fan_out(store, settings, budget, job).await;
        }
        return Ok(());
    }
    if pk.starts_with("TOPIC#") && sk == "META" {
        return on_topic(store, change).await;
    }
    if pk.starts_with("TOPIC#") && sk.starts_with("REPLY#") {
        return on_reply(store, change).await;
    }
    if pk.starts_with("USER#") && sk.starts_with("CONN#") && change.kind == ChangeKind::Insert {
        return on_connection(store, change).await;
    }
    Ok(())
}

fn generated(
    activity_id: String,
    author: UserId,
    verb: Verb,
    visibility: ActivityVisibility,
    object: Value,
    created_at: String,
) -> Activity {
    let object = match object {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    };
    Activity {
        activity_id,
        author_id: author,
        verb,
        visibility,
        object,
        text: None,
        created_at,
        deleted: false,
        like_count: 0,
        comment_count: 0,
        share_count: 0,
    }
}

fn discussion_activity_id(topic: &TopicImage) -> AppResult<String> {
    derived_activity_id(
        &topic.created_at,
        &format!("discussionPosted#{}", topic.topic_id),
    )
}

async fn on_topic(store: &Store, change: &Change) -> AppResult<()> {
    let old: Option<TopicImage> = image(change.old.as_ref())?;
    let Some(new) = image::<TopicImage>(change.new.as_ref())? else {
        return Ok(());
    };
    match change.kind {
        ChangeKind::Insert if !new.deleted => {
            let activity = generated(
                discussion_activity_id(&new)?,
                new.author_id.clone(),
                Verb::DiscussionPosted,
                ActivityVisibility::Public,
                serde_json::json!({
                    "topicId": new.topic_id, "title": new.title, "categoryId": new.category_id,
                }),
                new.created_at.clone(),
            );
            insert_activity(store, &activity, |t| t).await?;
        }
        ChangeKind::Modify => {
            let old_accepted = old.as_ref().and_then(|o| o.accepted_reply_id.clone());
            if let (Some(reply_id), Some(reply_author)) =
                (&new.accepted_reply_id, &new.accepted_reply_author_id)
                && old_accepted.as_ref() != Some(reply_id)
                && !new.deleted
            {
                let at = new
                    .updated_at
                    .clone()
                    .unwrap_or_else(|| new.created_at.clone());
                let activity = generated(
                    derived_activity_id(
                        &at,
                        &format!("answerAccepted#{}#{reply_id}", new.topic_id),
                    )?,
                    reply_author.clone(),
                    Verb::AnswerAccepted,
                    ActivityVisibility::Public,
                    serde_json::json!({
                        "topicId": new.topic_id, "replyId": reply_id, "title": new.title,
                        "topicAuthorId": new.author_id,
                    }),
                    at,
                );
                insert_activity(store, &activity, |t| t).await?;
            }
            if new.deleted && old.as_ref().is_some_and(|o| !o.deleted) {
                tombstone(store, &discussion_activity_id(&new)?, None).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn reply_activity_id(reply: &ReplyImage) -> AppResult<String> {
    derived_activity_id(
        &reply.created_at,
        &format!("replyPosted#{}", reply.reply_id),
    )
}

async fn on_reply(store: &Store, change: &Change) -> AppResult<()> {
    let old: Option<ReplyImage> = image(change.old.as_ref())?;
    let Some(new) = image::<ReplyImage>(change.new.as_ref())? else {
        return Ok(());
    };
    match change.kind {
        ChangeKind::Insert if !new.deleted => {
            // The reply item has no title; the feed shows which discussion it answers.
            let Some(topic) = store
                .get::<TopicImage>(&Key::new(format!("TOPIC#{}", new.topic_id), "META"))
                .await?
                .filter(|t| !t.deleted)
            else {
                return Ok(());
            };
            let excerpt: String = new.body.chars().take(280).collect();
            let activity = generated(
                reply_activity_id(&new)?,
                new.author_id.clone(),
                Verb::ReplyPosted,
                ActivityVisibility::Public,
                serde_json::json!({
                    "topicId": new.topic_id, "replyId": new.reply_id, "title": topic.title,
                    "parentReplyId": new.parent_reply_id, "excerpt": excerpt,
                }),
                new.created_at.clone(),
            );
            insert_activity(store, &activity, |t| t).await?;
        }
        ChangeKind::Modify if new.deleted && old.as_ref().is_some_and(|o| !o.deleted) => {
            tombstone(store, &reply_activity_id(&new)?, None).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Both mirror items of a connection arrive; only the accepter's one (the side that did
/// not send the request) generates the activity, so there is one per pair.
async fn on_connection(store: &Store, change: &Change) -> AppResult<()> {
    let Some(connection) = image::<ConnectionImage>(change.new.as_ref())? else {
        return Ok(());
    };
    let accepter_side = match &connection.requested_by {
        Some(sender) => sender == &connection.other_user_id,
        None => connection.user_id < connection.other_user_id,
    };
    if !accepter_side {
        return Ok(());
    }
    let (low, high) = if connection.user_id <= connection.other_user_id {
        (&connection.user_id, &connection.other_user_id)
    } else {
        (&connection.other_user_id, &connection.user_id)
    };
    let activity = generated(
        derived_activity_id(
            &connection.created_at,
            &format!("connectionMade#{low}#{high}"),
        )?,
        connection.user_id.clone(),
        Verb::ConnectionMade,
        ActivityVisibility::Connections,
        serde_json::json!({ "otherUserId": connection.other_user_id }),
        connection.created_at.clone(),
    );
    insert_activity(store, &activity, |t| t).await?;
    Ok(())
}

/// Runs (or continues) a fan-out within the invocation's budget; see the module docs.
pub async fn fan_out(
    store: &Store,
    settings: FanoutSettings,
    budget: &FanoutBudget,
    job: FanoutJob,
) -> AppResult<()> {
    let entry = &job.entry;
    // A deleted account's erasure removes its activities' entries itself (and nothing
    // it writes may name the account afterwards): no fan-out for it, either way.
    if store
        .get_item(&crate::contexts::profiles::keys::deleted_account(
            &entry.author_id,
        ))
        .await?
        .is_some()
    {
        return Ok(());
    }
    if job.op == FanoutOp::Put {
        // A put that started before a delete must not keep writing after it.
        let live = store
            .get::<Activity>(&keys::activity(&entry.activity_id))
            .await?
            .is_some_and(|a| !a.deleted);
        if !live {
            return Ok(());
        }
    }
    if job.step == 0 {
        let mut own = vec![(
            keys::feed_entry(&entry.author_id, &entry.activity_id),
            "FeedEntry",
            FEED_TTL_SECONDS,
        )];
        if entry.visibility == ActivityVisibility::Public {
            let day = day_bucket(parse_time(&entry.created_at)?.unix_timestamp());
            own.push((
                keys::timeline_entry(&day, &entry.activity_id),
                "TimelineEntry",
                TIMELINE_TTL_SECONDS,
            ));
        }
        let requests = own
            .iter()
            .map(|(key, entity, ttl)| match job.op {
                FanoutOp::Put => put_request(entry_item(key, entry, entity, *ttl)?),
                FanoutOp::Delete => delete_request(key),
            })
            .collect::<AppResult<Vec<_>>>()?;
        store.batch_write(requests).await?;
        if job.op == FanoutOp::Delete {
            delete_children(store, &entry.activity_id).await?;
        }
    }
    if entry.visibility == ActivityVisibility::Private {
        return Ok(());
    }
    let mut cursor = job.cursor.clone();
    loop {
        if !budget.take() {
            return continue_later(store, &job, cursor).await;
        }
        let (ids, next) =
            graph::connection_ids_page(store, &entry.author_id, settings.page_size, cursor).await?;
        let requests = ids
            .iter()
            .map(|user| {
                let key = keys::feed_entry(user, &entry.activity_id);
                match job.op {
                    FanoutOp::Put => {
                        put_request(entry_item(&key, entry, "FeedEntry", FEED_TTL_SECONDS)?)
                    }
                    FanoutOp::Delete => delete_request(&key),
                }
            })
            .collect::<AppResult<Vec<_>>>()?;
        store.batch_write(requests).await?;
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// Writes the next step's progress item; if a previous delivery already wrote it, that
/// one carries on and this delivery stops here.
async fn continue_later(store: &Store, job: &FanoutJob, cursor: Option<PageKey>) -> AppResult<()> {
    let next = FanoutJob {
        entry: job.entry.clone(),
        op: job.op,
        step: job.step + 1,
        cursor,
    };
    let mut item = store::to_item(&next)?;
    item.extend(keys::fanout_step(&job.entry.activity_id, job.op, next.step).to_item());
    item.insert("entity".into(), s("FeedFanout"));
    item.insert(
        store::TTL_ATTRIBUTE.into(),
        n(now_epoch_seconds() + FANOUT_JOB_TTL_SECONDS),
    );
    match store.put_if(item, Condition::absent(STEP_NEW)).await {
        // Queued before by an attempt of this same step: once is enough.
        Ok(()) => Ok(()),
        Err(error) if error.failed(STEP_NEW) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A deleted activity's likes and comments go with it (the tombstone stays).
async fn delete_children(store: &Store, activity_id: &str) -> AppResult<()> {
    let items = store
        .query_all(&keys::activity_partition(activity_id))
        .await?;
    let doomed: Vec<Key> = items
        .iter()
        .filter_map(|item| {
            let pk = item.get(store::PK)?.as_s().ok()?;
            let sk = item.get(store::SK)?.as_s().ok()?;
            (sk != "META").then(|| Key::new(pk.clone(), sk.clone()))
        })
        .collect();
    store.batch_delete(&doomed).await
}

// ---------------------------------------------------------------------------------
// Account deletion
// ---------------------------------------------------------------------------------

/// Removes what one item of a deleted user's partition points at in the feed: a like
/// or a comment on someone's activity goes, and the activity's counter drops in the
/// same transaction (when the activity is gone or deleted, the item alone goes). Safe
/// to repeat: a like or comment already removed changes nothing.
pub async fn erase_for_account(store: &Store, me: &UserId, sort_key: &str) -> AppResult<()> {
    let (activity_id, key, counter, condition) =
        if let Some(activity_id) = sort_key.strip_prefix("ACTLIKE#") {
            (
                activity_id,
                keys::like(activity_id, me),
                "likeCount",
                Expr::from("attribute_exists(PK)"),
            )
        } else if let Some((activity_id, comment_id)) = sort_key
            .strip_prefix("ACTCOMMENT#")
            .and_then(|rest| rest.split_once('#'))
        {
            (
                activity_id,
                keys::comment(activity_id, comment_id),
                "commentCount",
                Expr::new("attribute_exists(PK) AND authorId = :me").value(":me", s(me.as_str())),
            )
        } else {
            return Ok(());
        };
    let transaction = store
        .transaction()
        .delete(&key, Some(Condition::new(REACTION_THERE, condition)));
    let result = bump_counter(transaction, activity_id, counter, -1)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(()),
        // No live activity to count on: the item alone goes (if it is mine).
        Err(error) if error.failed(ACTIVITY_LIVE) && !error.failed(REACTION_THERE) => {
            if counter == "likeCount" {
                store.batch_delete(&[key]).await
            } else {
                delete_own_comment(store, me, &key).await
            }
        }
        // Removed before: nothing to do.
        Err(error) if error.failed(REACTION_THERE) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

async fn delete_own_comment(store: &Store, me: &UserId, key: &Key) -> AppResult<()> {
    let mine = Condition::new(
        REACTION_THERE,
        Expr::new("authorId = :me").value(":me", s(me.as_str())),
    );
    match store.delete_if(key, mine).await {
        // Gone, or not mine: nothing of mine to delete.
        Ok(()) => Ok(()),
        Err(error) if error.failed(REACTION_THERE) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Deletes a user's home feed: Query `PK=FEED#<user>` page by page.
pub async fn delete_home_feed(store: &Store, user: &UserId) -> AppResult<()> {
    store
        .delete_matching(KeyQuery::partition(keys::feed_partition(user)).limit(500))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_id_is_the_same_on_every_delivery_and_sorts_by_source_time() {
        let first = derived_activity_id("2026-03-01T10:00:00.000Z", "discussionPosted#A").unwrap();
        let again = derived_activity_id("2026-03-01T10:00:00.000Z", "discussionPosted#A").unwrap();
        let other = derived_activity_id("2026-03-01T10:00:00.000Z", "replyPosted#A").unwrap();
        let later = derived_activity_id("2026-03-01T10:00:00.001Z", "discussionPosted#A").unwrap();

        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(later > first && later > other);
        assert!(ulid::Ulid::from_string(&first).is_ok());
    }

    #[test]
    fn visibility_decides_who_sees_an_activity() {
        use ActivityVisibility::*;
        assert!(Public.allows(false, false));
        assert!(Connections.allows(false, true) && Connections.allows(true, false));
        assert!(!Connections.allows(false, false));
        assert!(Private.allows(true, false) && !Private.allows(false, true));
    }

    #[test]
    fn day_buckets_are_utc_dates_and_step_back_across_months() {
        assert_eq!(day_bucket(0), "1970-01-01");
        assert_eq!(day_bucket(1_772_323_200), "2026-03-01");
        assert_eq!(day_before("2026-03-01").unwrap(), "2026-02-28");
    }

    #[test]
    fn the_budget_is_spent_page_by_page() {
        let budget = FanoutBudget::new(2);
        assert!(budget.take() && budget.take());
        assert!(!budget.take());
    }

    fn new_activity(body: Value) -> AppResult<ValidActivity> {
        validate_new_activity(serde_json::from_value(body).map_err(AppError::internal)?)
    }

    fn fields(result: AppResult<impl std::fmt::Debug>) -> Vec<String> {
        match result {
            Err(AppError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(AppError::BadRequest { errors, .. }) => {
                errors.into_iter().map(|e| e.field).collect()
            }
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_lesson_activity_is_validated_field_by_field() {
        let ValidActivity {
            verb,
            visibility,
            object,
            ..
        } = new_activity(serde_json::json!({
            "verb": "lessonCompleted", "object": {"lessonId": "rust-101", "title": "Ownership"}
        }))
        .unwrap();
        assert_eq!(verb, Verb::LessonCompleted);
        assert_eq!(visibility, ActivityVisibility::Connections);
        assert_eq!(object["title"], "Ownership");

        let bad = new_activity(serde_json::json!({
            "verb": "lessonCompleted", "object": {"lessonId": "a#b", "title": " ", "url": "ftp://x"}
        }));
        assert_eq!(
            fields(bad),
            ["object.lessonId", "object.title", "object.url"]
        );
    }

    #[test]
    fn objects_must_match_their_verb() {
        let missing = new_activity(serde_json::json!({"verb": "badgeEarned"}));
        assert_eq!(fields(missing), ["object"]);
        let unknown = new_activity(serde_json::json!({
            "verb": "badgeEarned", "object": {"badgeId": "b", "name": "N", "extra": 1}
        }));
        assert_eq!(fields(unknown), ["object.extra"]);
        let wrong_type = new_activity(serde_json::json!({
            "verb": "goalShared", "object": {"goal": 5}
        }));
        assert_eq!(fields(wrong_type), ["object.goal"]);
        let bad_date = new_activity(serde_json::json!({
            "verb": "goalShared", "object": {"goal": "Save 10%", "targetDate": "2026-13-01"}
        }));
        assert_eq!(fields(bad_date), ["object.targetDate"]);
    }

    #[test]
    fn a_free_text_share_needs_text_and_no_object() {
        let empty = new_activity(serde_json::json!({"verb": "share", "object": {}}));
        assert_eq!(fields(empty), ["object", "text"]);
        let blank = new_activity(serde_json::json!({"verb": "share", "text": "   "}));
        assert_eq!(fields(blank), ["text"]);
        assert!(
            new_activity(
                serde_json::json!({"verb": "share", "text": "hi", "visibility": "public"})
            )
            .is_ok()
        );
    }
}
