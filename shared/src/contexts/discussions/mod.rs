//! Discussions: categories (a hierarchy created by admins), topics, threaded replies,
//! reactions, Q&A (accepted answers), pinning, edit history and soft delete.
//!
//! Items (keys in [`keys`], documented in `docs/data-model.md`):
//! - `CATEGORY#<id> / META` and `CATEGORIES / <path>` entity "Category": the first
//!   makes ids unique and is what topics check, the second lists the tree in
//!   depth-first order (the path is the ancestors' ids joined by `#`).
//! - `TOPIC#<topicId> / META` entity "Topic", in its category's listings through GSI1
//!   (newest), GSI2 (latest activity) and GSI3 (top), each sort key prefixed by the
//!   pinned flag so pinned topics come first. A soft-deleted topic loses its GSI keys.
//! - `USER#<author> / TOPIC#<topicId>` entity "TopicByAuthor" and
//!   `TAG#<tag> / TOPIC#<topicId>` entity "TopicByTag": listings by author and by tag.
//! - `TOPIC#<topicId> / REPLY#<path>` entity "Reply": the path is the ULIDs of the
//!   reply's ancestors and its own joined by `-`, and it *is* the reply's id, so thread
//!   order is sort-key order and a reply is found by key without a lookup.
//! - `TOPIC#<topicId> / REACT#<targetId>#<userId>` entity "Reaction" (the target is the
//!   topic's id or a reply's id): one per user per target, by key.
//! - `TOPIC#<topicId> / HIST#<targetId>#<editId>` entity "EditHistory": the version
//!   an edit replaced.
//! - `PROCESSED#discussions-stream#<eventId> / PROCESSED`: a stream record already
//!   counted, written in the same transaction as the counter it changed.
//!
//! Reply and reaction counts are never written by the API: the stream function derives
//! them from the Reply and Reaction records ([`counter_change`], [`apply_counter_change`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::contexts::graph;
use crate::contexts::profiles::{self, Handle};
use crate::core::auth::Principal;
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult, FieldError};
use crate::core::ids::{UserId, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::{Entity, IndexKey};
use crate::table::store::{
    self, AttributeValue, Expr, Index, Item, Key, KeyQuery, Returning, Store,
};
use crate::table::transaction::{Condition, WriteError};

pub mod erasure;

/// Who may create categories.
pub const ADMIN_ROLE: &str = "admin";
/// Who may pin, delete others' content and accept answers on others' topics.
pub const MODERATOR_ROLE: &str = "moderator";
/// Deepest reply: a reply to a reply at this depth is refused.
pub const MAX_REPLY_DEPTH: usize = 6;
/// Deepest category (root = 1).
pub const MAX_CATEGORY_DEPTH: usize = 3;
pub const MAX_TAGS: usize = 10;
pub const MAX_MENTIONS: usize = 10;
pub const MAX_ATTACHMENTS: usize = 5;
/// What readers see instead of deleted text.
pub const TOMBSTONE: &str = "[deleted]";
/// The stream consumer's name in its processed-record markers.
pub const STREAM_CONSUMER: &str = "discussions-stream";
/// Markers outlive the stream's 24 h retention, so no redelivery can miss one.
const MARKER_TTL_SECONDS: i64 = 2 * 24 * 3600;
/// Optimistic-concurrency attempts of the stream's topic counter update.
const COUNTER_ATTEMPTS: usize = 8;

pub mod reactions;
pub mod keys {
    use super::*;

    pub const CATEGORIES: &str = "CATEGORIES";
    pub const REPLY_PREFIX: &str = "REPLY#";

    /// `CATEGORY#<id> / META`: one per id.
    pub fn category(id: &str) -> Key {
        Key::new(format!("CATEGORY#{id}"), "META")
    }

    /// `CATEGORIES / <path>`: the tree in depth-first order.
    pub fn category_listing(path: &str) -> Key {
        Key::new(CATEGORIES, path)
    }

    pub fn topic_partition(topic_id: &str) -> String {
        format!("TOPIC#{topic_id}")
    }

    /// `TOPIC#<id> / META`.
    pub fn topic(topic_id: &str) -> Key {
        Key::new(topic_partition(topic_id), "META")
    }

    /// `TOPIC#<id> / REPLY#<path>` (the path is the reply id).
    pub fn reply(topic_id: &str, reply_id: &str) -> Key {
        Key::new(
            topic_partition(topic_id),
            format!("{REPLY_PREFIX}{reply_id}"),
        )
    }

    /// `TOPIC#<id> / REACT#<targetId>#<userId>`.
    pub fn reaction(topic_id: &str, target_id: &str, user: &UserId) -> Key {
        Key::new(
            topic_partition(topic_id),
            format!("REACT#{target_id}#{user}"),
        )
    }

    /// `TOPIC#<id> / HIST#<targetId>#<editId>`.
    pub fn history(topic_id: &str, target_id: &str, edit_id: &str) -> Key {
        Key::new(
            topic_partition(topic_id),
            format!("{}{edit_id}", history_prefix(target_id)),
        )
    }

    pub fn history_prefix(target_id: &str) -> String {
        format!("HIST#{target_id}#")
    }

    /// `USER#<author> / TOPIC#<id>`: in the author's partition, so account deletion
    /// finds the author's topics.
    pub fn by_author(author: &UserId, topic_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(author),
            format!("TOPIC#{topic_id}"),
        )
    }

    /// `USER#<author> / REPLY#<topicId>#<replyId>`: finds the author's replies when
    /// the account is deleted.
    pub fn reply_by_author(author: &UserId, topic_id: &str, reply_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(author),
            format!("REPLY#{topic_id}#{reply_id}"),
        )
    }

    /// `USER#<user> / REACT#<topicId>#<targetId>`: finds the user's reactions when the
    /// account is deleted.
    pub fn reaction_by_user(user: &UserId, topic_id: &str, target_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(user),
            format!("REACT#{topic_id}#{target_id}"),
        )
    }

    /// `TAG#<tag> / TOPIC#<id>`.
    pub fn by_tag(tag: &str, topic_id: &str) -> Key {
        Key::new(format!("TAG#{tag}"), format!("TOPIC#{topic_id}"))
    }

    /// GSI2/GSI3 partition of a tag's index items (activity and top sorts).
    pub fn tag_listing(tag: &str) -> String {
        format!("TAG#{tag}")
    }

    /// GSI2/GSI3 partition of an author's index items (activity and top sorts).
    pub fn author_listing(author: &UserId) -> String {
        format!("AUTHOR#{author}")
    }

    /// GSI1/2/3 partition of a category's topics.
    pub fn category_partition(category_id: &str) -> String {
        format!("CAT#{category_id}")
    }

    fn pin(pinned: bool) -> char {
        if pinned { '1' } else { '0' }
    }

    /// GSI1SK: newest first (descending), pinned before the rest.
    pub fn newest_sort(pinned: bool, topic_id: &str) -> String {
        format!("{}#{topic_id}", pin(pinned))
    }

    /// GSI2SK: latest activity first.
    pub fn activity_sort(pinned: bool, last_activity_at: &str, topic_id: &str) -> String {
        format!("{}#{last_activity_at}#{topic_id}", pin(pinned))
    }

    /// GSI3SK: highest score first; zero-padded so string order is numeric order.
    pub fn top_sort(pinned: bool, score: i64, topic_id: &str) -> String {
        format!("{}#{:012}#{topic_id}", pin(pinned), score.max(0))
    }

    /// `PROCESSED#discussions-stream#<eventId> / PROCESSED`.
    pub fn processed(event_id: &str) -> Key {
        Key::new(
            format!("PROCESSED#{STREAM_CONSUMER}#{event_id}"),
            "PROCESSED",
        )
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
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ReactionKind {
    Like,
    Love,
    Helpful,
    Haha,
    Wow,
    Sad,
}

impl ReactionKind {
    pub const ALL: [ReactionKind; 6] = [
        ReactionKind::Like,
        ReactionKind::Love,
        ReactionKind::Helpful,
        ReactionKind::Haha,
        ReactionKind::Wow,
        ReactionKind::Sad,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReactionKind::Like => "like",
            ReactionKind::Love => "love",
            ReactionKind::Helpful => "helpful",
            ReactionKind::Haha => "haha",
            ReactionKind::Wow => "wow",
            ReactionKind::Sad => "sad",
        }
    }
}

/// Every kind at zero: counters exist from creation, so the stream can add to them.
fn zero_counts() -> BTreeMap<String, i64> {
    ReactionKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), 0))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub category_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Ancestors' ids and its own, joined by `#`.
    pub path: String,
    pub depth: u32,
    pub created_at: String,
    pub created_by: UserId,
}

/// Something attached to a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Attachment {
    Code {
        language: String,
        code: String,
    },
    Link {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    Image {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alt: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub topic_id: String,
    pub author_id: UserId,
    pub category_id: String,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Users mentioned with `@handle`, resolved at write.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub edited: bool,
    pub last_activity_at: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_reply_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_reply_author_id: Option<UserId>,
    #[serde(default)]
    pub solved: bool,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default = "zero_counts")]
    pub reaction_counts: BTreeMap<String, i64>,
    #[serde(default)]
    pub view_count: i64,
    /// Guards the derived listing keys (pin flag, activity, score) against lost updates.
    #[serde(default)]
    pub version: i64,
}

/// A live topic is listed in its category three ways: newest (GSI1), latest activity
/// (GSI2) and top (GSI3), pinned first; a deleted one leaves the listings.
impl Entity for Topic {
    const NAME: &'static str = "Topic";

    fn key(&self) -> Key {
        keys::topic(&self.topic_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        if self.deleted {
            return Vec::new();
        }
        let partition = keys::category_partition(&self.category_id);
        vec![
            IndexKey::new(
                Index::Gsi1,
                &partition,
                keys::newest_sort(self.pinned, &self.topic_id),
            ),
            IndexKey::new(
                Index::Gsi2,
                &partition,
                keys::activity_sort(self.pinned, &self.last_activity_at, &self.topic_id),
            ),
            IndexKey::new(
                Index::Gsi3,
                &partition,
                keys::top_sort(self.pinned, self.score(), &self.topic_id),
            ),
        ]
    }
}

impl Topic {
    /// What "top" ranks by: replies weigh twice a reaction.
    pub fn score(&self) -> i64 {
        2 * self.reply_count + self.reaction_counts.values().sum::<i64>()
    }

    fn to_item(&self) -> AppResult<Item> {
        self.item()
    }

    /// The GSI2 (latest activity) and GSI3 (top) keys of a tag or author index item:
    /// the same order as the category's, without pinning (pins are per category).
    fn index_listing_keys(&self, partition: &str) -> Item {
        Item::from([
            ("GSI2PK".into(), s(partition)),
            (
                "GSI2SK".into(),
                s(&keys::activity_sort(
                    false,
                    &self.last_activity_at,
                    &self.topic_id,
                )),
            ),
            ("GSI3PK".into(), s(partition)),
            (
                "GSI3SK".into(),
                s(&keys::top_sort(false, self.score(), &self.topic_id)),
            ),
        ])
    }

    /// The tag and author index items of this topic, with their listing keys.
    fn index_items(&self) -> Vec<Item> {
        let by_author = std::iter::once((
            keys::by_author(&self.author_id, &self.topic_id),
            "TopicByAuthor",
            keys::author_listing(&self.author_id),
        ));
        let by_tag = self.tags.iter().map(|tag| {
            (
                keys::by_tag(tag, &self.topic_id),
                "TopicByTag",
                keys::tag_listing(tag),
            )
        });
        by_author
            .chain(by_tag)
            .map(|(key, entity, partition)| {
                let mut item = index_item(key, entity, &self.topic_id);
                item.extend(self.index_listing_keys(&partition));
                item
            })
            .collect()
    }

    /// The topic as readers see it: deleted text is a tombstone.
    pub fn for_readers(mut self) -> Self {
        if self.deleted {
            self.title = TOMBSTONE.into();
            self.body = TOMBSTONE.into();
            self.tags.clear();
            self.attachments.clear();
            self.mentions.clear();
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    /// The reply's thread path: its ancestors' ULIDs and its own, joined by `-`.
    pub reply_id: String,
    pub topic_id: String,
    pub author_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_reply_id: Option<String>,
    /// Author of what this answers: the parent reply, or the topic.
    pub parent_author_id: UserId,
    pub topic_author_id: UserId,
    #[serde(default)]
    pub mentions: Vec<UserId>,
    pub body: String,
    pub depth: u32,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub edited: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default = "zero_counts")]
    pub reaction_counts: BTreeMap<String, i64>,
    #[serde(default)]
    pub version: i64,
}

impl Entity for Reply {
    const NAME: &'static str = "Reply";

    fn key(&self) -> Key {
        keys::reply(&self.topic_id, &self.reply_id)
    }
}

impl Reply {
    fn to_item(&self) -> AppResult<Item> {
        self.item()
    }

    pub fn for_readers(mut self) -> Self {
        if self.deleted {
            self.body = TOMBSTONE.into();
            self.mentions.clear();
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    pub topic_id: String,
    /// The topic's id or a reply's id.
    pub target_id: String,
    pub target_author_id: UserId,
    pub user_id: UserId,
    pub reaction: ReactionKind,
    pub created_at: String,
}

/// The version an edit replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub topic_id: String,
    pub target_id: String,
    pub edit_id: String,
    pub editor_id: UserId,
    pub edited_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
}

/// A topic with the first page of its replies in thread order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicWithReplies {
    pub topic: Topic,
    pub replies: Page<Reply>,
}

// ---------------------------------------------------------------------------------
// Wire DTOs and validation
// ---------------------------------------------------------------------------------

/// `POST /v1/categories`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCategory {
    #[validate(custom(function = "slug"))]
    pub id: String,
    #[validate(
        length(min = 1, max = 80),
        custom(function = "validation::single_line")
    )]
    pub name: String,
    #[validate(length(max = 500), custom(function = "validation::plain_text"))]
    pub description: Option<String>,
    #[validate(custom(function = "slug"))]
    pub parent_id: Option<String>,
}

/// `POST /v1/topics`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTopic {
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: String,
    #[validate(length(min = 1, max = 20000), custom(function = "body_text"))]
    pub body: String,
    #[validate(custom(function = "slug"))]
    pub category_id: String,
    #[serde(default)]
    #[validate(custom(function = "tag_list"))]
    pub tags: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `PATCH /v1/topics/{topicId}`: absent fields are unchanged.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopicPatch {
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: Option<String>,
    #[validate(length(min = 1, max = 20000), custom(function = "body_text"))]
    pub body: Option<String>,
    #[validate(custom(function = "tag_list"))]
    pub tags: Option<Vec<String>>,
    pub attachments: Option<Vec<Attachment>>,
}

/// `POST /v1/topics/{topicId}/replies`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewReply {
    #[validate(length(min = 1, max = 20000), custom(function = "body_text"))]
    pub body: String,
    pub parent_reply_id: Option<String>,
}

/// `PATCH /v1/topics/{topicId}/replies/{replyId}`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyPatch {
    #[validate(length(min = 1, max = 20000), custom(function = "body_text"))]
    pub body: String,
}

/// `PUT /v1/topics/{topicId}/reactions/{targetId}`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReactionInput {
    pub reaction: ReactionKind,
}

/// `PUT /v1/topics/{topicId}/accepted-answer`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptInput {
    pub reply_id: String,
}

/// `PUT /v1/topics/{topicId}/pin`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinInput {
    pub pinned: bool,
}

fn rule(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Category ids: 2-40 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn slug(value: &str) -> Result<(), ValidationError> {
    let valid = (2..=40).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(rule(
            "slug",
            "must be 2 to 40 characters of a-z, 0-9 and -, not starting or ending with -",
        ))
    }
}

fn body_text(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(rule("blank", "must not be blank"));
    }
    validation::plain_text(value)
}

fn valid_tag(tag: &str) -> bool {
    (1..=40).contains(&tag.chars().count())
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// Tags: at most 10, each 1-40 letters, digits, `-` or `_` (a leading `#` is dropped).
pub fn tag_list(values: &[String]) -> Result<(), ValidationError> {
    if values.len() > MAX_TAGS {
        return Err(rule("count", "must have at most 10 entries"));
    }
    if values
        .iter()
        .any(|t| !valid_tag(t.trim().trim_start_matches('#')))
    {
        return Err(rule(
            "tag",
            "each entry must be 1 to 40 letters, digits, - or _",
        ));
    }
    Ok(())
}

fn attachment_errors(attachments: &[Attachment], field: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if attachments.len() > MAX_ATTACHMENTS {
        errors.push(FieldError::new(field, "must have at most 5 entries"));
    }
    for (index, attachment) in attachments.iter().enumerate() {
        let at = |name: &str| format!("{field}[{index}].{name}");
        let text = |name: &str, value: &str, max: usize, multiline: bool| {
            let length = value.chars().count();
            let ok = if multiline {
                validation::plain_text(value).is_ok()
            } else {
                validation::single_line(value).is_ok()
            };
            (length == 0 || length > max || !ok).then(|| {
                FieldError::new(at(name), format!("must be 1 to {max} characters of text"))
            })
        };
        let url_error = |url: &str| {
            (url.len() > 2048 || validation::web_url(url).is_err())
                .then(|| FieldError::new(at("url"), "must be an absolute http(s) URL"))
        };
        match attachment {
            Attachment::Code { language, code } => {
                errors.extend(text("language", language, 30, false));
                errors.extend(text("code", code, 10_000, true));
            }
            Attachment::Link { url, title } => {
                errors.extend(url_error(url));
                if let Some(title) = title {
                    errors.extend(text("title", title, 200, false));
                }
            }
            Attachment::Image { url, alt } => {
                errors.extend(url_error(url));
                if let Some(alt) = alt {
                    errors.extend(text("alt", alt, 300, false));
                }
            }
        }
    }
    errors
}

/// Runs the derive rules and the hand-written ones, and reports them all together.
fn check_with<T: Validate>(value: &T, mut extra: Vec<FieldError>) -> AppResult<()> {
    let mut errors = match check(value) {
        Ok(()) => vec![],
        Err(AppError::Validation(errors)) => errors,
        Err(other) => return Err(other),
    };
    errors.append(&mut extra);
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Err(AppError::Validation(errors))
}

/// A reply id from a path or body: 1 to [`MAX_REPLY_DEPTH`] ULIDs joined by `-`.
pub fn parse_reply_id(raw: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = raw.split('-').collect();
    let valid = (1..=MAX_REPLY_DEPTH).contains(&segments.len())
        && segments.iter().all(|s| ulid::Ulid::from_string(s).is_ok());
    valid.then_some(segments)
}

pub fn valid_topic_id(raw: &str) -> bool {
    raw.len() == 26 && ulid::Ulid::from_string(raw).is_ok()
}

// ---------------------------------------------------------------------------------
// Text: hashtags and mentions (pure)
// ---------------------------------------------------------------------------------

/// Lines outside fenced code blocks: `#include` in a code sample is not a hashtag.
fn prose_lines(body: &str) -> impl Iterator<Item = &str> {
    let mut in_fence = false;
    body.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            return false;
        }
        !in_fence
    })
}

/// Words following `marker` at a word start (so `a@b.com` and `page#anchor` don't count).
fn marked_words(body: &str, marker: char, allowed: fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose_lines(body) {
        let chars: Vec<char> = line.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c != marker {
                continue;
            }
            let starts_word = i == 0 || {
                let before = chars[i - 1];
                before.is_whitespace() || "([{,;:!?\"'".contains(before)
            };
            if !starts_word {
                continue;
            }
            let word: String = chars[i + 1..].iter().take_while(|c| allowed(**c)).collect();
            if !word.is_empty() {
                out.push(word);
            }
        }
    }
    out
}

/// `#hashtags` in a body, lower-cased, with at least one letter (`#1` is an issue number).
pub fn hashtags(body: &str) -> Vec<String> {
    marked_words(body, '#', |c| c.is_alphanumeric() || c == '-' || c == '_')
        .into_iter()
        .map(|w| w.trim_end_matches(['-', '_']).to_lowercase())
        .filter(|w| valid_tag(w) && w.chars().any(char::is_alphabetic))
        .collect()
}

/// `@handles` in a body, lower-cased, distinct, at most [`MAX_MENTIONS`].
pub fn mentioned_handles(body: &str) -> Vec<Handle> {
    let mut seen = BTreeSet::new();
    marked_words(body, '@', |c| c.is_ascii_alphanumeric() || c == '_')
        .into_iter()
        .filter_map(|w| Handle::parse(&w).ok())
        .filter(|h| seen.insert(h.as_str().to_owned()))
        .take(MAX_MENTIONS)
        .collect()
}

/// The topic's tags: explicit ones first, then hashtags, distinct, at most [`MAX_TAGS`].
pub fn topic_tags(explicit: &[String], body: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    explicit
        .iter()
        .map(|t| t.trim().trim_start_matches('#').to_lowercase())
        .chain(hashtags(body))
        .filter(|t| seen.insert(t.clone()))
        .take(MAX_TAGS)
        .collect()
}

/// Resolves `@handles` to user ids: one BatchGetItem of the handle claims. Unknown
/// handles and the author are dropped.
async fn resolve_mentions(store: &Store, author: &UserId, body: &str) -> AppResult<Vec<UserId>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct HandleClaim {
        user_id: UserId,
    }
    let handles = mentioned_handles(body);
    if handles.is_empty() {
        return Ok(vec![]);
    }
    let keys: Vec<Key> = handles.iter().map(profiles::keys::handle).collect();
    let claims: Vec<HandleClaim> = store.batch_get(&keys).await?;
    let mut seen = BTreeSet::new();
    Ok(claims
        .into_iter()
        .map(|c| c.user_id)
        .filter(|id| id != author && seen.insert(id.clone()))
        .collect())
}

// ---------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn index_item(key: Key, entity: &str, topic_id: &str) -> Item {
    let mut item = key.to_item();
    item.insert("entity".into(), s(entity));
    item.insert("topicId".into(), s(topic_id));
    item
}

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("no such {what}"))
}

fn is_moderator(principal: &Principal) -> bool {
    principal.has_role(MODERATOR_ROLE)
}

async fn get_topic(store: &Store, topic_id: &str) -> AppResult<Option<Topic>> {
    if !valid_topic_id(topic_id) {
        return Ok(None);
    }
    store.get(&keys::topic(topic_id)).await
}

/// A topic the viewer may see: absent, or hidden by a block either way, is a 404.
pub async fn visible_topic(store: &Store, viewer: &UserId, topic_id: &str) -> AppResult<Topic> {
    let topic = get_topic(store, topic_id)
        .await?
        .ok_or_else(|| not_found("topic"))?;
    if graph::blocked_between(store, viewer, &topic.author_id).await? {
        return Err(not_found("topic"));
    }
    Ok(topic)
}

async fn get_reply(store: &Store, topic_id: &str, reply_id: &str) -> AppResult<Option<Reply>> {
    if parse_reply_id(reply_id).is_none() {
        return Ok(None);
    }
    store.get(&keys::reply(topic_id, reply_id)).await
}

/// Drops what authors the viewer blocks or is blocked by wrote: one BatchGetItem.
async fn without_blocked<T>(
    store: &Store,
    viewer: &UserId,
    items: Vec<T>,
    author: impl Fn(&T) -> &UserId,
) -> AppResult<Vec<T>> {
    let authors: Vec<UserId> = items.iter().map(|i| author(i).clone()).collect();
    if authors.is_empty() {
        return Ok(items);
    }
    let blocked = graph::blocked_among(store, viewer, &authors).await?;
    Ok(items
        .into_iter()
        .filter(|i| !blocked.contains(author(i)))
        .collect())
}

fn seal(cursors: &CursorCodec, scope: &str, next: Option<PageKey>) -> AppResult<Option<String>> {
    next.map(|key| cursors.seal(scope, &key)).transpose()
}

// ---------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------

/// Create a category (admins): TransactWriteItems of the id claim and the tree entry,
/// both `attribute_not_exists`, after a GetItem of the parent.
pub async fn create_category(
    store: &Store,
    principal: &Principal,
    input: NewCategory,
) -> AppResult<Category> {
    if !principal.has_role(ADMIN_ROLE) {
        return Err(AppError::Forbidden("only admins create categories".into()));
    }
    check(&input)?;
    let (path, depth) = match &input.parent_id {
        None => (input.id.clone(), 1),
        Some(parent_id) => {
            let parent: Category = store
                .get(&keys::category(parent_id))
                .await?
                .ok_or_else(|| AppError::invalid_field("parentId", "no such category"))?;
            if parent.depth as usize >= MAX_CATEGORY_DEPTH {
                return Err(AppError::invalid_field(
                    "parentId",
                    "categories nest at most 3 levels deep",
                ));
            }
            (format!("{}#{}", parent.path, input.id), parent.depth + 1)
        }
    };
    let category = Category {
        category_id: input.id,
        name: input.name.trim().to_owned(),
        description: input.description,
        parent_id: input.parent_id,
        path,
        depth,
        created_at: now_rfc3339(),
        created_by: principal.user_id.clone(),
    };
    let item = |key: Key| -> AppResult<Item> {
        let mut item = store::to_item(&category)?;
        item.extend(key.to_item());
        item.insert("entity".into(), s("Category"));
        Ok(item)
    };
    match store
        .transaction()
        .put(
            item(keys::category(&category.category_id))?,
            Some(Condition::absent(CATEGORY_NEW)),
        )
        .put(
            item(keys::category_listing(&category.path))?,
            Some(Condition::absent(CATEGORY_NEW)),
        )
        .commit()
        .await
    {
        Ok(()) => Ok(category),
        Err(error) if error.failed(CATEGORY_NEW) => {
            Err(AppError::Conflict("the category id is taken".into()))
        }
        Err(error) => Err(error.into()),
    }
}

/// The category tree, depth-first: Query `PK=CATEGORIES`.
pub async fn list_categories(
    store: &Store,
    cursors: &CursorCodec,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Category>> {
    let scope = "categories";
    let start = cursor.map(|c| cursors.open(scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::CATEGORIES)
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok(Page {
        items: items
            .into_iter()
            .map(store::from_item)
            .collect::<AppResult<_>>()?,
        next_cursor: seal(cursors, scope, next)?,
    })
}

// ---------------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------------

/// Create a topic: TransactWriteItems — Put the topic, its author and tag index items,
/// and a ConditionCheck that the category exists.
pub async fn create_topic(store: &Store, me: &UserId, input: NewTopic) -> AppResult<Topic> {
    check_with(&input, attachment_errors(&input.attachments, "attachments"))?;
    let topic_id = new_ulid();
    let now = now_rfc3339();
    let topic = Topic {
        topic_id: topic_id.clone(),
        author_id: me.clone(),
        category_id: input.category_id,
        title: input.title.trim().to_owned(),
        tags: topic_tags(&input.tags, &input.body),
        mentions: resolve_mentions(store, me, &input.body).await?,
        body: input.body,
        attachments: input.attachments,
        created_at: now.clone(),
        updated_at: now.clone(),
        edited: false,
        last_activity_at: now,
        deleted: false,
        accepted_reply_id: None,
        accepted_reply_author_id: None,
        solved: false,
        pinned: false,
        reply_count: 0,
        reaction_counts: zero_counts(),
        view_count: 0,
        version: 1,
    };
    let mut transaction = store
        .transaction()
        .check(
            &keys::category(&topic.category_id),
            Condition::present(CATEGORY_EXISTS),
        )
        .put(topic.to_item()?, Some(Condition::absent(TOPIC_NEW)));
    for item in topic.index_items() {
        transaction = transaction.put(item, None);
    }
    match transaction.commit().await {
        Ok(()) => Ok(topic),
        Err(error) if error.failed(CATEGORY_EXISTS) => {
            Err(AppError::invalid_field("categoryId", "no such category"))
        }
        Err(error) => Err(error.into()),
    }
}

/// Read a topic as a visitor: GetItem, the block check (BatchGetItem), then one
/// UpdateItem `ADD viewCount 1` that returns the counted topic, and the first page of
/// replies (Query).
pub async fn view_topic(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    topic_id: &str,
    limit: u32,
) -> AppResult<TopicWithReplies> {
    let topic = visible_topic(store, viewer, topic_id).await?;
    let counted = store
        .update(
            &keys::topic(&topic.topic_id),
            Expr::new("ADD viewCount :one").value(":one", n(1)),
            Some(Condition::present(TOPIC_THERE)),
            Returning::AllNew,
        )
        .await?;
    let topic: Topic = match counted {
        Some(item) => store::from_item(item)?,
        None => topic,
    };
    let replies = list_replies_of(store, cursors, viewer, &topic, limit, None).await?;
    Ok(TopicWithReplies {
        topic: topic.for_readers(),
        replies,
    })
}

/// Which topics a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicScope {
    Category(String),
    Tag(String),
    Author(UserId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicSort {
    Newest,
    Activity,
    Top,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicQuery {
    pub scope: TopicScope,
    pub sort: TopicSort,
    /// `Some(true)`: solved only; `Some(false)`: unsolved only.
    pub solved: Option<bool>,
}

impl TopicQuery {
    /// From `category` | `tag` | `author` (exactly one), `sort`, `solved`.
    pub fn parse(
        category: Option<&str>,
        tag: Option<&str>,
        author: Option<&str>,
        sort: Option<&str>,
        solved: Option<&str>,
    ) -> AppResult<Self> {
        let scope = match (category, tag, author) {
            (Some(c), None, None) => {
                slug(c).map_err(|_| AppError::bad_field("category", "is not a category id"))?;
                TopicScope::Category(c.to_owned())
            }
            (None, Some(t), None) => {
                let tag = t.trim().trim_start_matches('#').to_lowercase();
                if !valid_tag(&tag) {
                    return Err(AppError::bad_field("tag", "is not a valid tag"));
                }
                TopicScope::Tag(tag)
            }
            (None, None, Some(a)) => TopicScope::Author(
                UserId::parse(a).map_err(|_| AppError::bad_field("author", "is not a user id"))?,
            ),
            _ => {
                return Err(AppError::bad_field(
                    "category",
                    "give exactly one of category, tag or author",
                ));
            }
        };
        let sort = match sort {
            None | Some("newest") => TopicSort::Newest,
            Some("activity") => TopicSort::Activity,
            Some("top") => TopicSort::Top,
            Some(_) => {
                return Err(AppError::bad_field(
                    "sort",
                    "must be newest, activity or top",
                ));
            }
        };
        let solved = match solved {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(AppError::bad_field("solved", "must be true or false")),
        };
        Ok(Self {
            scope,
            sort,
            solved,
        })
    }

    fn cursor_scope(&self) -> String {
        let scope = match &self.scope {
            TopicScope::Category(c) => format!("category={c}"),
            TopicScope::Tag(t) => format!("tag={t}"),
            TopicScope::Author(a) => format!("author={a}"),
        };
        format!("topics:{scope}:{:?}:{:?}", self.sort, self.solved)
    }
}

/// One page of topics. A category is one Query on GSI1 (newest), GSI2 (latest
/// activity) or GSI3 (top), descending, pinned first; the solved filter is a
/// FilterExpression of the same Query. A tag or an author is one Query of the index
/// partition plus one BatchGetItem of the topics. Blocked authors' topics are dropped
/// (one BatchGetItem). Filters may leave a page shorter than `limit`; `nextCursor`
/// continues.
pub async fn list_topics(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    query: &TopicQuery,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Topic>> {
    let scope = query.cursor_scope();
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (topics, next) = match &query.scope {
        TopicScope::Category(category) => {
            let index = match query.sort {
                TopicSort::Newest => Index::Gsi1,
                TopicSort::Activity => Index::Gsi2,
                TopicSort::Top => Index::Gsi3,
            };
            let (items, next) = query_category(
                store,
                index,
                &keys::category_partition(category),
                query.solved,
                limit,
                start,
            )
            .await?;
            let topics = items
                .into_iter()
                .map(store::from_item)
                .collect::<AppResult<Vec<Topic>>>()?;
            (topics, next)
        }
        TopicScope::Tag(_) | TopicScope::Author(_) => {
            let listing = match &query.scope {
                TopicScope::Tag(tag) => keys::tag_listing(tag),
                TopicScope::Author(author) => keys::author_listing(author),
                TopicScope::Category(_) => unreachable_scope()?,
            };
            let partition_query = match (query.sort, &query.scope) {
                (TopicSort::Activity, _) => KeyQuery::partition(listing).on(Index::Gsi2),
                (TopicSort::Top, _) => KeyQuery::partition(listing).on(Index::Gsi3),
                (TopicSort::Newest, TopicScope::Tag(tag)) => {
                    KeyQuery::partition(keys::by_tag(tag, "").pk)
                }
                (TopicSort::Newest, TopicScope::Author(author)) => {
                    KeyQuery::partition(crate::table::keys::user_partition(author)).prefix("TOPIC#")
                }
                (TopicSort::Newest, TopicScope::Category(_)) => unreachable_scope()?,
            };
            let mut partition_query = partition_query.limit(limit).start(start);
            partition_query.newest_first = true;
            let (items, next) = store.query(&partition_query).await?;
            let keys: Vec<Key> = items
                .iter()
                .filter_map(|i| i.get("topicId")?.as_s().ok())
                .map(|id| keys::topic(id))
                .collect();
            let topics = store
                .batch_get::<Topic>(&keys)
                .await?
                .into_iter()
                .filter(|t| !t.deleted && query.solved.is_none_or(|s| t.solved == s))
                .collect();
            (topics, next)
        }
    };
    let topics = without_blocked(store, viewer, topics, |t| &t.author_id).await?;
    Ok(Page {
        items: topics.into_iter().map(Topic::for_readers).collect(),
        next_cursor: seal(cursors, &scope, next)?,
    })
}

fn unreachable_scope<T>() -> AppResult<T> {
    Err(AppError::internal("category scope in the index branch"))
}

/// One Query of a category's listing index, descending, with the optional solved filter.
/// (The store's `KeyQuery` has no filter; this is the same single Query with one.)
async fn query_category(
    store: &Store,
    index: Index,
    partition: &str,
    solved: Option<bool>,
    limit: u32,
    start: Option<PageKey>,
) -> AppResult<(Vec<Item>, Option<PageKey>)> {
    let mut query = KeyQuery::partition(partition)
        .on(index)
        .newest_first()
        .limit(limit)
        .start(start);
    if let Some(solved) = solved {
        query = query
            .filter(Expr::new("solved = :solved").value(":solved", AttributeValue::Bool(solved)));
    }
    store.query(&query).await
}

/// Edit my topic: TransactWriteItems — Put the replaced version as history, Update the
/// topic (`updatedAt` unchanged since the read, not deleted), and the tag index items
/// that changed.
pub async fn edit_topic(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    patch: TopicPatch,
) -> AppResult<Topic> {
    let attachment_problems = patch
        .attachments
        .as_deref()
        .map(|a| attachment_errors(a, "attachments"))
        .unwrap_or_default();
    check_with(&patch, attachment_problems)?;
    if patch.title.is_none()
        && patch.body.is_none()
        && patch.tags.is_none()
        && patch.attachments.is_none()
    {
        return Err(AppError::bad_field(
            "body",
            "give at least one field to change",
        ));
    }
    let old = visible_topic(store, me, topic_id).await?;
    if &old.author_id != me {
        return Err(AppError::Forbidden("only the author edits a topic".into()));
    }
    if old.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    let now = now_rfc3339();
    let mut topic = old.clone();
    if let Some(title) = patch.title {
        topic.title = title.trim().to_owned();
    }
    if let Some(body) = patch.body {
        topic.mentions = resolve_mentions(store, me, &body).await?;
        topic.body = body;
    }
    if let Some(attachments) = patch.attachments {
        topic.attachments = attachments;
    }
    if patch.tags.is_some() || topic.body != old.body {
        // Without new explicit tags, keep the old explicit ones: the old tags minus the
        // hashtags of the old body (those follow the body).
        let explicit = patch.tags.unwrap_or_else(|| {
            let old_hashtags = hashtags(&old.body);
            old.tags
                .iter()
                .filter(|t| !old_hashtags.contains(t))
                .cloned()
                .collect()
        });
        topic.tags = topic_tags(&explicit, &topic.body);
    }
    topic.updated_at = now.clone();
    topic.edited = true;
    let history = HistoryEntry {
        topic_id: old.topic_id.clone(),
        target_id: old.topic_id.clone(),
        edit_id: new_ulid(),
        editor_id: me.clone(),
        edited_at: now.clone(),
        title: Some(old.title.clone()),
        body: old.body.clone(),
        tags: Some(old.tags.clone()),
        attachments: Some(old.attachments.clone()),
    };
    let update = Expr::new(
        "SET title = :title, body = :body, tags = :tags, attachments = :attachments, \
         mentions = :mentions, updatedAt = :now, edited = :true",
    )
    .value(":title", s(&topic.title))
    .value(":body", s(&topic.body))
    .value(":tags", to_value(&topic.tags)?)
    .value(":attachments", to_value(&topic.attachments)?)
    .value(":mentions", to_value(&topic.mentions)?)
    .value(":now", s(&now))
    .value(":true", AttributeValue::Bool(true));
    let unchanged = Expr::new("updatedAt = :read AND deleted = :false")
        .value(":read", s(&old.updated_at))
        .value(":false", AttributeValue::Bool(false));
    let mut transaction = store
        .transaction()
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::new(TOPIC_UNCHANGED, unchanged)),
        )
        .put(history_item(&history)?, None);
    let before: BTreeSet<&String> = old.tags.iter().collect();
    let after: BTreeSet<&String> = topic.tags.iter().collect();
    for removed in before.difference(&after) {
        transaction = transaction.delete(&keys::by_tag(removed, topic_id), None);
    }
    // Added tags get index items with the topic's current listing keys.
    let added: BTreeSet<String> = after
        .difference(&before)
        .map(|tag| keys::by_tag(tag, topic_id).pk)
        .collect();
    for item in topic.index_items() {
        if item
            .get(store::PK)
            .and_then(|pk| pk.as_s().ok())
            .is_some_and(|pk| added.contains(pk))
        {
            transaction = transaction.put(item, None);
        }
    }
    transaction.commit().await?;
    Ok(topic.for_readers())
}

fn to_value<T: Serialize>(value: &T) -> AppResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(AppError::internal)
}

fn history_item(entry: &HistoryEntry) -> AppResult<Item> {
    let mut item = store::to_item(entry)?;
    item.extend(keys::history(&entry.topic_id, &entry.target_id, &entry.edit_id).to_item());
    item.insert("entity".into(), s("EditHistory"));
    Ok(item)
}

/// Soft-delete a topic (its author or a moderator): TransactWriteItems — Update
/// `deleted = true` (out of the category listings, `version` bumped so the stream's
/// counter update re-reads it) and Delete its tag index items. The thread stays; readers
/// see a tombstone. Repeating it is a no-op.
pub async fn delete_topic(store: &Store, principal: &Principal, topic_id: &str) -> AppResult<()> {
    let me = &principal.user_id;
    let topic = visible_topic(store, me, topic_id).await?;
    if &topic.author_id != me && !is_moderator(principal) {
        return Err(AppError::Forbidden(
            "only the author or a moderator deletes a topic".into(),
        ));
    }
    if topic.deleted {
        return Ok(());
    }
    let update = Expr::new(
        "SET deleted = :true, updatedAt = :now, version = version + :one \
         REMOVE GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK",
    )
    .value(":true", AttributeValue::Bool(true))
    .value(":now", s(&now_rfc3339()))
    .value(":one", n(1));
    let mut transaction = store.transaction().update(
        &keys::topic(topic_id),
        update,
        Some(Condition::present(TOPIC_THERE)),
    );
    for tag in &topic.tags {
        transaction = transaction.delete(&keys::by_tag(tag, topic_id), None);
    }
    transaction.commit().await?;
    Ok(())
}

/// Pin or unpin (moderators): UpdateItem of the flag and the three listing sort keys,
/// under `version` (the stream rewrites the same keys).
pub async fn set_pinned(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    pinned: bool,
) -> AppResult<Topic> {
    if !is_moderator(principal) {
        return Err(AppError::Forbidden("only moderators pin topics".into()));
    }
    let mut topic = visible_topic(store, &principal.user_id, topic_id).await?;
    if topic.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    topic.pinned = pinned;
    let mut update = Expr::new(
        "SET pinned = :pinned, GSI1SK = :newest, GSI2SK = :activity, GSI3SK = :top, \
         version = :next",
    )
    .value(":pinned", AttributeValue::Bool(pinned))
    .value(":next", n(topic.version + 1));
    let unchanged = Expr::new("version = :read AND deleted = :false")
        .value(":false", AttributeValue::Bool(false))
        .value(":read", n(topic.version));
    for (name, value) in [
        (":newest", keys::newest_sort(pinned, topic_id)),
        (
            ":activity",
            keys::activity_sort(pinned, &topic.last_activity_at, topic_id),
        ),
        (":top", keys::top_sort(pinned, topic.score(), topic_id)),
    ] {
        update = update.value(name, s(&value));
    }
    store
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::new(TOPIC_UNCHANGED, unchanged)),
            Returning::Nothing,
        )
        .await?;
    topic.version += 1;
    Ok(topic.for_readers())
}

/// Mark a reply as the accepted answer (the topic's author or a moderator): GetItem of
/// the reply, then UpdateItem of the topic (`acceptedReplyId`, its author, `solved`).
/// Another reply replaces the previous one.
pub async fn accept_answer(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    reply_id: &str,
) -> AppResult<Topic> {
    let me = &principal.user_id;
    let mut topic = visible_topic(store, me, topic_id).await?;
    if &topic.author_id != me && !is_moderator(principal) {
        return Err(AppError::Forbidden(
            "only the topic's author or a moderator accepts an answer".into(),
        ));
    }
    if topic.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    let reply = get_reply(store, topic_id, reply_id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| AppError::invalid_field("replyId", "no such reply in this topic"))?;
    let now = now_rfc3339();
    let update = Expr::new(
        "SET acceptedReplyId = :reply, acceptedReplyAuthorId = :author, solved = :true, \
         updatedAt = :now",
    )
    .value(":reply", s(&reply.reply_id))
    .value(":author", s(reply.author_id.as_str()))
    .value(":true", AttributeValue::Bool(true))
    .value(":now", s(&now));
    let open_topic = Expr::new("attribute_exists(PK) AND deleted = :false")
        .value(":false", AttributeValue::Bool(false));
    store
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::new(TOPIC_OPEN, open_topic)),
            Returning::Nothing,
        )
        .await?;
    topic.accepted_reply_id = Some(reply.reply_id);
    topic.accepted_reply_author_id = Some(reply.author_id);
    topic.solved = true;
    topic.updated_at = now;
    Ok(topic.for_readers())
}

/// Withdraw the accepted answer: the topic is unsolved again.
pub async fn clear_accepted_answer(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
) -> AppResult<Topic> {
    let me = &principal.user_id;
    let mut topic = visible_topic(store, me, topic_id).await?;
    if &topic.author_id != me && !is_moderator(principal) {
        return Err(AppError::Forbidden(
            "only the topic's author or a moderator changes the accepted answer".into(),
        ));
    }
    let now = now_rfc3339();
    let update = Expr::new(
        "SET solved = :false, updatedAt = :now REMOVE acceptedReplyId, acceptedReplyAuthorId",
    )
    .value(":false", AttributeValue::Bool(false))
    .value(":now", s(&now));
    store
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::present(TOPIC_THERE)),
            Returning::Nothing,
        )
        .await?;
    topic.accepted_reply_id = None;
    topic.accepted_reply_author_id = None;
    topic.solved = false;
    topic.updated_at = now;
    Ok(topic.for_readers())
}

// ---------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------

/// Reply to a topic or to a reply: GetItem topic (+ parent reply), block checks, then
/// TransactWriteItems — Put the reply + ConditionCheck the topic is not deleted. The
/// reply count and the topic's activity are the stream function's job.
pub async fn create_reply(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    input: NewReply,
) -> AppResult<Reply> {
    check(&input)?;
    let topic = visible_topic(store, me, topic_id).await?;
    if topic.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    let own_id = new_ulid();
    let (reply_id, parent_author, depth) = match &input.parent_reply_id {
        None => (own_id, topic.author_id.clone(), 1u32),
        Some(parent_id) => {
            let parent = get_reply(store, topic_id, parent_id)
                .await?
                .ok_or_else(|| {
                    AppError::invalid_field("parentReplyId", "no such reply in this topic")
                })?;
            if parent.deleted {
                return Err(AppError::invalid_field(
                    "parentReplyId",
                    "the reply was deleted",
                ));
            }
            if parent.depth as usize >= MAX_REPLY_DEPTH {
                return Err(AppError::invalid_field(
                    "parentReplyId",
                    "the thread is too deep to answer this reply",
                ));
            }
            if graph::blocked_between(store, me, &parent.author_id).await? {
                return Err(AppError::invalid_field(
                    "parentReplyId",
                    "no such reply in this topic",
                ));
            }
            (
                format!("{}-{own_id}", parent.reply_id),
                parent.author_id,
                parent.depth + 1,
            )
        }
    };
    let now = now_rfc3339();
    let reply = Reply {
        reply_id,
        topic_id: topic.topic_id.clone(),
        author_id: me.clone(),
        parent_reply_id: input.parent_reply_id,
        parent_author_id: parent_author,
        topic_author_id: topic.author_id.clone(),
        mentions: resolve_mentions(store, me, &input.body).await?,
        body: input.body,
        depth,
        created_at: now.clone(),
        updated_at: now,
        edited: false,
        deleted: false,
        reaction_counts: zero_counts(),
        version: 1,
    };
    let open_topic = Expr::new("attribute_exists(PK) AND deleted = :false")
        .value(":false", AttributeValue::Bool(false));
    match store
        .transaction()
        .check(
            &keys::topic(topic_id),
            Condition::new(TOPIC_OPEN, open_topic),
        )
        .put(reply.to_item()?, Some(Condition::absent(REPLY_NEW)))
        .put(
            index_item(
                keys::reply_by_author(me, topic_id, &reply.reply_id),
                "ReplyByAuthor",
                topic_id,
            ),
            None,
        )
        .commit()
        .await
    {
        Ok(()) => Ok(reply),
        Err(error) if error.failed(TOPIC_OPEN) => {
            Err(AppError::Conflict("the topic is deleted".into()))
        }
        Err(error) => Err(error.into()),
    }
}

/// A page of a topic's replies in thread order: Query `PK=TOPIC#<t> AND
/// begins_with(SK, REPLY#)`, blocked authors dropped.
pub async fn list_replies(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    topic_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Reply>> {
    let topic = visible_topic(store, viewer, topic_id).await?;
    list_replies_of(store, cursors, viewer, &topic, limit, cursor).await
}

async fn list_replies_of(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    topic: &Topic,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Reply>> {
    let scope = format!("replies:{}", topic.topic_id);
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::topic_partition(&topic.topic_id))
                .prefix(keys::REPLY_PREFIX)
                .limit(limit)
                .start(start),
        )
        .await?;
    let replies = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<Reply>>>()?;
    let replies = without_blocked(store, viewer, replies, |r| &r.author_id).await?;
    Ok(Page {
        items: replies.into_iter().map(Reply::for_readers).collect(),
        next_cursor: seal(cursors, &scope, next)?,
    })
}

/// Edit my reply: TransactWriteItems — Put the replaced version as history + Update the
/// reply under `version`.
pub async fn edit_reply(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    reply_id: &str,
    patch: ReplyPatch,
) -> AppResult<Reply> {
    check(&patch)?;
    visible_topic(store, me, topic_id).await?;
    let old = get_reply(store, topic_id, reply_id)
        .await?
        .ok_or_else(|| not_found("reply"))?;
    if &old.author_id != me {
        return Err(AppError::Forbidden("only the author edits a reply".into()));
    }
    if old.deleted {
        return Err(AppError::Conflict("the reply is deleted".into()));
    }
    let now = now_rfc3339();
    let mut reply = old.clone();
    reply.mentions = resolve_mentions(store, me, &patch.body).await?;
    reply.body = patch.body;
    reply.updated_at = now.clone();
    reply.edited = true;
    reply.version += 1;
    let history = HistoryEntry {
        topic_id: topic_id.to_owned(),
        target_id: reply_id.to_owned(),
        edit_id: new_ulid(),
        editor_id: me.clone(),
        edited_at: now.clone(),
        title: None,
        body: old.body.clone(),
        tags: None,
        attachments: None,
    };
    let update = Expr::new(
        "SET body = :body, mentions = :mentions, updatedAt = :now, edited = :true, \
         version = :next",
    )
    .value(":body", s(&reply.body))
    .value(":mentions", to_value(&reply.mentions)?)
    .value(":now", s(&now))
    .value(":true", AttributeValue::Bool(true))
    .value(":next", n(reply.version));
    let unchanged = Expr::new("version = :read AND deleted = :false")
        .value(":read", n(old.version))
        .value(":false", AttributeValue::Bool(false));
    store
        .transaction()
        .update(
            &keys::reply(topic_id, reply_id),
            update,
            Some(Condition::new(REPLY_UNCHANGED, unchanged)),
        )
        .put(history_item(&history)?, None)
        .commit()
        .await?;
    Ok(reply)
}

/// Soft-delete a reply (its author or a moderator): UpdateItem `deleted = true`. Its
/// answers stay in the thread; readers see a tombstone. If it was the accepted answer,
/// the topic is unsolved again (same transaction). Repeating it is a no-op.
pub async fn delete_reply(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    reply_id: &str,
) -> AppResult<()> {
    let me = &principal.user_id;
    let topic = visible_topic(store, me, topic_id).await?;
    let reply = get_reply(store, topic_id, reply_id)
        .await?
        .ok_or_else(|| not_found("reply"))?;
    if &reply.author_id != me && !is_moderator(principal) {
        return Err(AppError::Forbidden(
            "only the author or a moderator deletes a reply".into(),
        ));
    }
    if reply.deleted {
        return Ok(());
    }
    let update = Expr::new("SET deleted = :true, updatedAt = :now, version = version + :one")
        .value(":true", AttributeValue::Bool(true))
        .value(":now", s(&now_rfc3339()))
        .value(":one", n(1));
    let mut transaction = store.transaction().update(
        &keys::reply(topic_id, reply_id),
        update,
        Some(Condition::present(TARGET_THERE)),
    );
    if topic.accepted_reply_id.as_deref() == Some(reply_id) {
        let unsolve = Expr::new(
            "SET solved = :false, updatedAt = :now REMOVE acceptedReplyId, acceptedReplyAuthorId",
        )
        .value(":false", AttributeValue::Bool(false))
        .value(":now", s(&now_rfc3339()));
        let accepted = Expr::new("acceptedReplyId = :reply").value(":reply", s(reply_id));
        transaction = transaction.update(
            &keys::topic(topic_id),
            unsolve,
            Some(Condition::new(ACCEPTED_IS_THIS, accepted)),
        );
    }
    transaction.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// Reactions
// ---------------------------------------------------------------------------------

/// The author of a reaction target (the topic or one of its replies) the viewer may see.
async fn target_author(
    store: &Store,
    viewer: &UserId,
    topic: &Topic,
    target_id: &str,
) -> AppResult<UserId> {
    let (author, deleted) = if target_id == topic.topic_id {
        (topic.author_id.clone(), topic.deleted)
    } else {
        let reply = get_reply(store, &topic.topic_id, target_id)
            .await?
            .ok_or_else(|| not_found("reply"))?;
        if graph::blocked_between(store, viewer, &reply.author_id).await? {
            return Err(not_found("reply"));
        }
        (reply.author_id, reply.deleted)
    };
    if deleted {
        return Err(AppError::Conflict(
            "deleted content takes no reactions".into(),
        ));
    }
    Ok(author)
}

/// React to a topic or a reply, or change my reaction: PutItem
/// `TOPIC#<t> / REACT#<target>#<me>` (one per user per target by key).
pub async fn set_reaction(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    target_id: &str,
    input: ReactionInput,
) -> AppResult<Reaction> {
    let topic = visible_topic(store, me, topic_id).await?;
    let author = target_author(store, me, &topic, target_id).await?;
    let reaction = Reaction {
        topic_id: topic.topic_id.clone(),
        target_id: target_id.to_owned(),
        target_author_id: author,
        user_id: me.clone(),
        reaction: input.reaction,
        created_at: now_rfc3339(),
    };
    let mut item = store::to_item(&reaction)?;
    item.extend(keys::reaction(topic_id, target_id, me).to_item());
    item.insert("entity".into(), s("Reaction"));
    store
        .transaction()
        .put(item, None)
        .put(
            index_item(
                keys::reaction_by_user(me, topic_id, target_id),
                "ReactionByUser",
                topic_id,
            ),
            None,
        )
        .commit()
        .await?;
    Ok(reaction)
}

/// Remove my reaction: DeleteItem by key (absent is fine).
pub async fn remove_reaction(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    target_id: &str,
) -> AppResult<()> {
    let topic = visible_topic(store, me, topic_id).await?;
    if target_id != topic.topic_id && parse_reply_id(target_id).is_none() {
        return Err(not_found("reply"));
    }
    store
        .batch_delete(&[
            keys::reaction(topic_id, target_id, me),
            keys::reaction_by_user(me, topic_id, target_id),
        ])
        .await
}

// ---------------------------------------------------------------------------------
// Account deletion
// ---------------------------------------------------------------------------------

/// Erases what one item of a deleted user's partition points at: the text of their
/// topics and replies is wiped (the items stay as tombstones so other people's threads
/// keep their shape), their edit history is deleted, and their reactions are removed
/// (the stream then corrects the counts). Safe to repeat.
pub async fn erase_for_account(store: &Store, me: &UserId, sort_key: &str) -> AppResult<()> {
    if let Some(topic_id) = sort_key.strip_prefix("TOPIC#") {
        erase_topic(store, me, topic_id).await
    } else if let Some((topic_id, reply_id)) = sort_key
        .strip_prefix("REPLY#")
        .and_then(|rest| rest.split_once('#'))
    {
        erase_reply(store, me, topic_id, reply_id).await
    } else if let Some((topic_id, target_id)) = sort_key
        .strip_prefix("REACT#")
        .and_then(|rest| rest.split_once('#'))
    {
        store
            .batch_delete(&[keys::reaction(topic_id, target_id, me)])
            .await
    } else {
        Ok(())
    }
}

/// The edit history of one target: Query `PK=TOPIC#<t> AND begins_with(SK, HIST#<target>#)`.
async fn delete_history(store: &Store, topic_id: &str, target_id: &str) -> AppResult<()> {
    store
        .delete_matching(
            KeyQuery::partition(keys::topic_partition(topic_id))
                .prefix(keys::history_prefix(target_id))
                .limit(100),
        )
        .await
}

/// Wipes a topic's text and takes it out of every listing. Only the author's own topic
/// is touched (the condition), so a stray pointer can't erase someone else's content.
async fn erase_topic(store: &Store, me: &UserId, topic_id: &str) -> AppResult<()> {
    let Some(topic) = get_topic(store, topic_id).await? else {
        return Ok(());
    };
    if &topic.author_id != me {
        return Ok(());
    }
    // Tags and history first: once the author id is erased, a repeat finds nothing.
    let tags: Vec<Key> = topic
        .tags
        .iter()
        .map(|tag| keys::by_tag(tag, topic_id))
        .collect();
    store.batch_delete(&tags).await?;
    delete_history(store, topic_id, topic_id).await?;
    let erase = Expr::new(
        "SET deleted = :true, #title = :erased, #body = :empty, tags = :none, \
         attachments = :none, mentions = :none, updatedAt = :now, authorId = :nobody \
         REMOVE GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK",
    )
    .name("#title", "title")
    .name("#body", "body")
    .value(":true", AttributeValue::Bool(true))
    .value(":erased", s(ERASED))
    .value(":empty", s(""))
    .value(":none", AttributeValue::L(vec![]))
    .value(":now", s(&now_rfc3339()))
    .value(":nobody", s(crate::table::jobs::ERASED_USER));
    ignore_condition(
        store
            .update(
                &keys::topic(topic_id),
                erase,
                Some(mine(me)),
                Returning::Nothing,
            )
            .await,
    )
}

/// Wipes a reply's text; the reply stays as a tombstone in its thread.
async fn erase_reply(store: &Store, me: &UserId, topic_id: &str, reply_id: &str) -> AppResult<()> {
    delete_history(store, topic_id, reply_id).await?;
    let erase = Expr::new(
        "SET deleted = :true, #body = :empty, mentions = :none, updatedAt = :now, \
         authorId = :nobody",
    )
    .name("#body", "body")
    .value(":true", AttributeValue::Bool(true))
    .value(":empty", s(""))
    .value(":none", AttributeValue::L(vec![]))
    .value(":now", s(&now_rfc3339()))
    .value(":nobody", s(crate::table::jobs::ERASED_USER));
    ignore_condition(
        store
            .update(
                &keys::reply(topic_id, reply_id),
                erase,
                Some(mine(me)),
                Returning::Nothing,
            )
            .await,
    )
}

/// The title an erased topic keeps.
const ERASED: &str = "[deleted]";

/// A failed condition means there is nothing (of mine) to erase: not an error.
/// "It exists and `me` wrote it": erasure touches only my own content.
fn mine(me: &UserId) -> Condition {
    Condition::new(
        MINE,
        Expr::new("attribute_exists(PK) AND authorId = :me").value(":me", s(me.as_str())),
    )
}

/// A write whose condition failed did nothing, and that is fine here (gone, or not
/// mine, or changed meanwhile); other errors pass.
fn ignore_condition(result: Result<Option<Item>, WriteError>) -> AppResult<()> {
    match result {
        Ok(_) | Err(WriteError::ConditionsFailed(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------
// Edit history
// ---------------------------------------------------------------------------------

/// The versions edits replaced, oldest first: Query `PK=TOPIC#<t> AND
/// begins_with(SK, HIST#<target>#)`. Deleted content has no readable history.
pub async fn list_history(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    topic_id: &str,
    reply_id: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<HistoryEntry>> {
    let topic = visible_topic(store, viewer, topic_id).await?;
    let target_id = match reply_id {
        None => {
            if topic.deleted {
                return Err(not_found("topic"));
            }
            topic.topic_id.clone()
        }
        Some(reply_id) => {
            let reply = get_reply(store, topic_id, reply_id)
                .await?
                .filter(|r| !r.deleted)
                .ok_or_else(|| not_found("reply"))?;
            if graph::blocked_between(store, viewer, &reply.author_id).await? {
                return Err(not_found("reply"));
            }
            reply.reply_id
        }
    };
    let scope = format!("history:{topic_id}:{target_id}");
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::topic_partition(topic_id))
                .prefix(keys::history_prefix(&target_id))
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok(Page {
        items: items
            .into_iter()
            .map(store::from_item)
            .collect::<AppResult<_>>()?,
        next_cursor: seal(cursors, &scope, next)?,
    })
}

// ---------------------------------------------------------------------------------
// Counters, from the stream
// ---------------------------------------------------------------------------------

/// The records the stream function counts. Anything else is ignored.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "entity")]
pub enum CountedRecord {
    Reply(Reply),
    Reaction(Reaction),
    #[serde(other)]
    Other,
}

/// Reads a stream image (absent or empty: `None`).
pub fn counted_record(image: Option<serde_dynamo::Item>) -> AppResult<Option<CountedRecord>> {
    match image {
        Some(item) if !item.is_empty() => store::from_item(item).map(Some),
        _ => Ok(None),
    }
}

/// What a counter change applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterTarget {
    Topic(String),
    Reply { topic_id: String, reply_id: String },
}

/// How one record changes the counters of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterChange {
    pub target: CounterTarget,
    pub replies: i64,
    pub reactions: BTreeMap<ReactionKind, i64>,
    /// A new reply is activity on its topic.
    pub activity_at: Option<String>,
    /// The sort key of the record's item, kept on the processed marker for operators.
    pub source: String,
}

/// The counter change one stream record calls for (pure). Replies count while not
/// deleted: an insert adds one, a soft delete or a removal of a live reply takes one
/// away. A reaction adds to its kind, a change moves between kinds, a removal subtracts.
pub fn counter_change(
    old: Option<&CountedRecord>,
    new: Option<&CountedRecord>,
) -> Option<CounterChange> {
    let live = |r: Option<&CountedRecord>| match r {
        Some(CountedRecord::Reply(reply)) if !reply.deleted => Some(reply.clone()),
        _ => None,
    };
    let reaction = |r: Option<&CountedRecord>| match r {
        Some(CountedRecord::Reaction(reaction)) => Some(reaction.clone()),
        _ => None,
    };
    match (old, new) {
        (Some(CountedRecord::Reply(_)), _) | (_, Some(CountedRecord::Reply(_))) => {
            let (before, after) = (live(old), live(new));
            let (delta, reply) = match (&before, &after) {
                (None, Some(reply)) => (1, reply),
                (Some(reply), None) => (-1, reply),
                _ => return None,
            };
            Some(CounterChange {
                target: CounterTarget::Topic(reply.topic_id.clone()),
                replies: delta,
                reactions: BTreeMap::new(),
                // A reply restored or created is activity; a deletion is not.
                activity_at: (delta > 0 && old.is_none()).then(|| reply.created_at.clone()),
                source: keys::reply(&reply.topic_id, &reply.reply_id).sk,
            })
        }
        _ => {
            let (before, after) = (reaction(old), reaction(new));
            let any = after.as_ref().or(before.as_ref())?;
            let mut reactions = BTreeMap::new();
            if let Some(before) = &before {
                *reactions.entry(before.reaction).or_insert(0) -= 1;
            }
            if let Some(after) = &after {
                *reactions.entry(after.reaction).or_insert(0) += 1;
            }
            reactions.retain(|_, delta| *delta != 0);
            if reactions.is_empty() {
                return None;
            }
            let target = if any.target_id == any.topic_id {
                CounterTarget::Topic(any.topic_id.clone())
            } else {
                CounterTarget::Reply {
                    topic_id: any.topic_id.clone(),
                    reply_id: any.target_id.clone(),
                }
            };
            Some(CounterChange {
                target,
                replies: 0,
                reactions,
                activity_at: None,
                source: keys::reaction(&any.topic_id, &any.target_id, &any.user_id).sk,
            })
        }
    }
}

/// The processed-record marker, put only if absent (`RECORD_NEW`), so a redelivered
/// record counts once.
fn marker(event_id: &str, change: &CounterChange) -> Item {
    let mut item = keys::processed(event_id).to_item();
    item.insert("entity".into(), s("ProcessedStreamRecord"));
    item.insert("consumer".into(), s(STREAM_CONSUMER));
    item.insert("eventId".into(), s(event_id));
    let topic_id = match &change.target {
        CounterTarget::Topic(topic_id) | CounterTarget::Reply { topic_id, .. } => topic_id,
    };
    item.insert("topicId".into(), s(topic_id));
    item.insert("sourceSk".into(), s(&change.source));
    item.insert(
        store::TTL_ATTRIBUTE.into(),
        n(now_epoch_seconds() + MARKER_TTL_SECONDS),
    );
    item
}

// The conditions of this context's transactions, by name.
/// The stream record has not been counted before.
const RECORD_NEW: &str = "record_new";
/// The counted item (a reply) is still there.
const TARGET_THERE: &str = "target_there";
/// The topic is at the version read.
const TOPIC_UNCHANGED: &str = "topic_unchanged";
/// The topic's category exists.
const CATEGORY_EXISTS: &str = "category_exists";
/// The topic is not stored yet.
const TOPIC_NEW: &str = "topic_new";
/// The topic exists.
const TOPIC_THERE: &str = "topic_there";
/// The topic exists and is not deleted.
const TOPIC_OPEN: &str = "topic_open";
/// The category id is not taken.
const CATEGORY_NEW: &str = "category_new";
/// The reply is not stored yet.
const REPLY_NEW: &str = "reply_new";
/// The reply is at the version read and not deleted.
const REPLY_UNCHANGED: &str = "reply_unchanged";
/// The topic's accepted answer is the reply being deleted.
const ACCEPTED_IS_THIS: &str = "accepted_is_this";
/// The item exists and its author is the caller.
const MINE: &str = "mine";

/// Applies one record's counter change exactly once: the `PROCESSED#…` marker is put
/// (`attribute_not_exists`) in the same TransactWriteItems as the counter update, so a
/// redelivered record changes nothing. A topic's counters feed its listing keys, so they
/// are read, recomputed and written under `version` (retried on a concurrent change).
pub async fn apply_counter_change(
    store: &Store,
    event_id: &str,
    change: &CounterChange,
) -> AppResult<()> {
    let marker = marker(event_id, change);
    match &change.target {
        CounterTarget::Reply { topic_id, reply_id } => {
            let set: Vec<String> = (0..change.reactions.len())
                .map(|i| format!("#counts.#k{i} = if_not_exists(#counts.#k{i}, :zero) + :d{i}"))
                .collect();
            let mut update = Expr::new(format!("SET {}", set.join(", ")))
                .name("#counts", "reactionCounts")
                .value(":zero", n(0));
            for (i, (kind, delta)) in change.reactions.iter().enumerate() {
                update = update
                    .name(format!("#k{i}"), kind.as_str())
                    .value(format!(":d{i}"), n(*delta));
            }
            let sent = store
                .transaction()
                .put(marker, Some(Condition::absent(RECORD_NEW)))
                .update(
                    &keys::reply(topic_id, reply_id),
                    update,
                    Some(Condition::present(TARGET_THERE)),
                )
                .commit()
                .await;
            match sent {
                Ok(()) => Ok(()),
                // Already counted, or the reply is gone: nothing to do.
                Err(error) if error.failed(RECORD_NEW) || error.failed(TARGET_THERE) => Ok(()),
                Err(error) => Err(error.into()),
            }
        }
        CounterTarget::Topic(topic_id) => {
            for _ in 0..COUNTER_ATTEMPTS {
                let Some(mut topic) = store.get::<Topic>(&keys::topic(topic_id)).await? else {
                    return Ok(());
                };
                let read_version = topic.version;
                topic.reply_count = (topic.reply_count + change.replies).max(0);
                for (kind, delta) in &change.reactions {
                    let count = topic
                        .reaction_counts
                        .entry(kind.as_str().to_owned())
                        .or_insert(0);
                    *count = (*count + delta).max(0);
                }
                if let Some(at) = &change.activity_at
                    && at.as_str() > topic.last_activity_at.as_str()
                {
                    topic.last_activity_at = at.clone();
                }
                topic.version += 1;
                let mut set = vec![
                    "replyCount = :replies",
                    "reactionCounts = :reactions",
                    "lastActivityAt = :activity",
                    "version = :next",
                ];
                if !topic.deleted {
                    set.extend(["GSI2SK = :activitySort", "GSI3SK = :topSort"]);
                }
                let mut update = Expr::new(format!("SET {}", set.join(", ")))
                    .value(":replies", n(topic.reply_count))
                    .value(":reactions", to_value(&topic.reaction_counts)?)
                    .value(":activity", s(&topic.last_activity_at))
                    .value(":next", n(topic.version));
                if !topic.deleted {
                    update = update
                        .value(
                            ":activitySort",
                            s(&keys::activity_sort(
                                topic.pinned,
                                &topic.last_activity_at,
                                topic_id,
                            )),
                        )
                        .value(
                            ":topSort",
                            s(&keys::top_sort(topic.pinned, topic.score(), topic_id)),
                        );
                }
                let unchanged = Expr::new("version = :read").value(":read", n(read_version));
                let sent = store
                    .transaction()
                    .put(marker.clone(), Some(Condition::absent(RECORD_NEW)))
                    .update(
                        &keys::topic(topic_id),
                        update,
                        Some(Condition::new(TOPIC_UNCHANGED, unchanged)),
                    )
                    .commit()
                    .await;
                match sent {
                    Ok(()) => return refresh_index_listings(store, &topic).await,
                    // Counted before; the index refresh may not have finished.
                    Err(error) if error.failed(RECORD_NEW) => {
                        return match store.get::<Topic>(&keys::topic(topic_id)).await? {
                            Some(topic) => refresh_index_listings(store, &topic).await,
                            None => Ok(()),
                        };
                    }
                    Err(error) if error.failed(TOPIC_UNCHANGED) => continue,
                    Err(error) => return Err(error.into()),
                }
            }
            Err(AppError::Conflict(
                "the topic kept changing; the record is retried".into(),
            ))
        }
    }
}

/// Copies a topic's activity and top sort keys to its tag and author index items (one
/// UpdateItem each, concurrently). Derived from the topic alone, so repeating it is
/// harmless; an index item that an edit or delete removed meanwhile is left alone.
async fn refresh_index_listings(store: &Store, topic: &Topic) -> AppResult<()> {
    if topic.deleted {
        return Ok(());
    }
    let updates = topic.index_items().into_iter().map(|item| async move {
        let key = Key::new(
            item.get(store::PK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            item.get(store::SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
        );
        let mut update = Expr::new("SET GSI2PK = :p2, GSI2SK = :s2, GSI3PK = :p3, GSI3SK = :s3");
        for (attribute, placeholder) in [
            ("GSI2PK", ":p2"),
            ("GSI2SK", ":s2"),
            ("GSI3PK", ":p3"),
            ("GSI3SK", ":s3"),
        ] {
            if let Some(value) = item.get(attribute) {
                update = update.value(placeholder, value.clone());
            }
        }
        ignore_condition(
            store
                .update(
                    &key,
                    update,
                    Some(Condition::present(TARGET_THERE)),
                    Returning::Nothing,
                )
                .await,
        )
    });
    for result in futures_util::future::join_all(updates).await {
        result?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    fn reply(deleted: bool) -> CountedRecord {
        CountedRecord::Reply(Reply {
            reply_id: "01J0000000000000000000000A".into(),
            topic_id: "01J0000000000000000000000T".into(),
            author_id: user("bo"),
            parent_reply_id: None,
            parent_author_id: user("ana"),
            topic_author_id: user("ana"),
            mentions: vec![],
            body: "hi".into(),
            depth: 1,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            edited: false,
            deleted,
            reaction_counts: zero_counts(),
            version: 1,
        })
    }

    fn reaction(target: &str, kind: ReactionKind) -> CountedRecord {
        CountedRecord::Reaction(Reaction {
            topic_id: "T".into(),
            target_id: target.into(),
            target_author_id: user("ana"),
            user_id: user("bo"),
            reaction: kind,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        })
    }

    #[test]
    fn a_new_reply_counts_once_and_is_activity() {
        let change = counter_change(None, Some(&reply(false))).unwrap();

        assert_eq!(change.replies, 1);
        assert_eq!(
            change.activity_at.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(
            change.target,
            CounterTarget::Topic("01J0000000000000000000000T".into())
        );
    }

    #[test]
    fn a_soft_deleted_reply_stops_counting_and_an_edit_changes_nothing() {
        let deleted = counter_change(Some(&reply(false)), Some(&reply(true))).unwrap();

        assert_eq!(deleted.replies, -1);
        assert!(deleted.activity_at.is_none());
        assert!(counter_change(Some(&reply(false)), Some(&reply(false))).is_none());
        assert!(counter_change(Some(&reply(true)), None).is_none());
    }

    #[test]
    fn changing_a_reaction_moves_one_between_kinds() {
        let changed = counter_change(
            Some(&reaction("T", ReactionKind::Like)),
            Some(&reaction("T", ReactionKind::Love)),
        )
        .unwrap();
        let same = counter_change(
            Some(&reaction("T", ReactionKind::Like)),
            Some(&reaction("T", ReactionKind::Like)),
        );
        let removed = counter_change(Some(&reaction("R", ReactionKind::Wow)), None).unwrap();

        assert_eq!(
            changed.reactions,
            BTreeMap::from([(ReactionKind::Like, -1), (ReactionKind::Love, 1)])
        );
        assert_eq!(changed.target, CounterTarget::Topic("T".into()));
        assert!(same.is_none());
        assert_eq!(
            removed.target,
            CounterTarget::Reply {
                topic_id: "T".into(),
                reply_id: "R".into()
            }
        );
        assert_eq!(removed.reactions[&ReactionKind::Wow], -1);
    }

    #[test]
    fn hashtags_skip_code_anchors_numbers_and_headings() {
        let body = "# Heading\nLearning #Rust and #serverless-apps, see page#anchor.\n\
                    Issue #12 (#AWS)\n```\n#include <stdio.h>\n```\n#rust again";

        assert_eq!(
            hashtags(body),
            vec!["rust", "serverless-apps", "aws", "rust"]
        );
    }

    #[test]
    fn tags_merge_explicit_and_hashtags_distinct_and_bounded() {
        let explicit = vec!["#Rust".to_owned(), "lambda".to_owned()];
        let body = (0..12).map(|i| format!("#t{i} ")).collect::<String>() + "#rust";

        let tags = topic_tags(&explicit, &body);

        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(&tags[..3], &["rust", "lambda", "t0"]);
    }

    #[test]
    fn mentions_are_word_initial_handles_without_emails() {
        let handles = mentioned_handles("thanks @Ana_1 and @bo, mail me@example.com, @ana_1 @x");

        let names: Vec<&str> = handles.iter().map(Handle::as_str).collect();
        assert_eq!(names, vec!["ana_1"]);
    }

    #[test]
    fn reply_ids_are_bounded_paths_of_ulids() {
        let a = new_ulid();
        let b = new_ulid();

        assert!(parse_reply_id(&a).is_some());
        assert_eq!(
            parse_reply_id(&format!("{a}-{b}")).map(|p| p.len()),
            Some(2)
        );
        assert!(parse_reply_id("nope").is_none());
        assert!(parse_reply_id(&[a.as_str(); MAX_REPLY_DEPTH + 1].join("-")).is_none());
    }

    #[test]
    fn thread_order_is_depth_first_by_time() {
        // ULIDs only order by time across milliseconds; within one they are random.
        let later = || {
            std::thread::sleep(std::time::Duration::from_millis(2));
            new_ulid()
        };
        let (a, b, c, d) = (later(), later(), later(), later());
        let mut paths = vec![d.clone(), format!("{a}-{c}"), a.clone(), format!("{a}-{b}")];

        paths.sort();

        assert_eq!(
            paths,
            vec![a.clone(), format!("{a}-{b}"), format!("{a}-{c}"), d]
        );
    }

    #[test]
    fn listing_keys_put_pinned_first_and_rank_numerically() {
        assert!(keys::newest_sort(true, "A") > keys::newest_sort(false, "Z"));
        assert!(keys::top_sort(false, 10, "A") > keys::top_sort(false, 9, "Z"));
    }

    #[test]
    fn attachments_are_tagged_and_strict() {
        let ok: Vec<Attachment> = serde_json::from_str(
            r#"[{"kind":"code","language":"rust","code":"fn main() {}"},
                {"kind":"link","url":"https://example.com"},
                {"kind":"image","url":"https://cdn.example.com/a.png","alt":"a"}]"#,
        )
        .unwrap();
        let unknown: Result<Attachment, _> =
            serde_json::from_str(r#"{"kind":"link","url":"https://x.io","evil":1}"#);
        let bad_url = attachment_errors(
            &[Attachment::Image {
                url: "javascript:alert(1)".into(),
                alt: None,
            }],
            "attachments",
        );

        assert_eq!(ok.len(), 3);
        assert!(attachment_errors(&ok, "attachments").is_empty());
        assert!(unknown.is_err());
        assert_eq!(bad_url[0].field, "attachments[0].url");
    }

    #[test]
    fn listings_take_exactly_one_scope_and_known_sorts() {
        let q = TopicQuery::parse(Some("rust"), None, None, Some("top"), Some("false")).unwrap();

        assert_eq!(q.sort, TopicSort::Top);
        assert_eq!(q.solved, Some(false));
        assert!(TopicQuery::parse(None, None, None, None, None).is_err());
        assert!(TopicQuery::parse(Some("rust"), Some("x"), None, None, None).is_err());
        assert!(TopicQuery::parse(Some("rust"), None, None, Some("best"), None).is_err());
        assert!(TopicQuery::parse(Some("rust"), None, None, None, Some("yes")).is_err());
    }
}
