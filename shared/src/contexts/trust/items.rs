//! Trust: the stats item, the topic-read markers and the processed-record markers.

use super::*;

/// An account's stats, as the stream keeps them: `USER#<id> / TRUST` (entity
/// `TrustStats`). Counts are signed: a removal is applied as a negative addition, and
/// a removal whose addition was never counted (older than the stats) may leave one
/// below zero, which counts as zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustStats {
    /// When the account's profile was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default)]
    pub topics_entered: i64,
    #[serde(default)]
    pub posts_read: i64,
    #[serde(default)]
    pub replies: i64,
    #[serde(default)]
    pub reactions_received: i64,
    #[serde(default)]
    pub accepted_answers: i64,
    #[serde(default)]
    pub flags_upheld: i64,
}

/// The entity name of the stats item.
pub const TRUST_STATS: &str = "TrustStats";

/// `USER#<reader> / READ#<topicId>`: the account entered the topic, and was shown
/// `posts` posts then (entity `TopicRead`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicReadMarker {
    #[serde(skip)]
    pub reader: UserId,
    pub topic_id: String,
    pub posts: u32,
    pub at: String,
}

impl Entity for TopicReadMarker {
    const NAME: &'static str = "TopicRead";

    fn key(&self) -> Key {
        read_key(&self.reader, &self.topic_id)
    }
}

/// `PROCESSED#trust#<eventId> / PROCESSED`: a stream record whose stat changes are
/// applied (entity `TrustRecord`; only keys and a TTL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustRecord {
    #[serde(skip)]
    pub event_id: String,
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for TrustRecord {
    const NAME: &'static str = "TrustRecord";

    fn key(&self) -> Key {
        record_key(&self.event_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// The sort-key prefix of an account's topic-read markers.
pub const READ_PREFIX: &str = "READ#";

/// The sort key of an account's stats.
pub const STATS_SK: &str = "TRUST";

/// How long a processed-record marker is kept (the stream keeps records 24 hours).
pub const RECORD_TTL_SECONDS: i64 = 24 * 60 * 60;

/// `USER#<id> / TRUST`.
pub fn stats_key(user: &UserId) -> Key {
    Key::new(crate::table::keys::user_partition(user), STATS_SK)
}

/// `USER#<id> / READ#<topicId>`.
pub fn read_key(user: &UserId, topic_id: &str) -> Key {
    Key::new(
        crate::table::keys::user_partition(user),
        format!("{READ_PREFIX}{topic_id}"),
    )
}

/// `PROCESSED#trust#<eventId> / PROCESSED`.
pub fn record_key(event_id: &str) -> Key {
    Key::new(format!("PROCESSED#trust#{event_id}"), "PROCESSED")
}

/// A stat of [`TrustStats`], by its attribute name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    TopicsEntered,
    PostsRead,
    Replies,
    ReactionsReceived,
    AcceptedAnswers,
    FlagsUpheld,
}

impl Stat {
    pub fn attribute(self) -> &'static str {
        match self {
            Self::TopicsEntered => "topicsEntered",
            Self::PostsRead => "postsRead",
            Self::Replies => "replies",
            Self::ReactionsReceived => "reactionsReceived",
            Self::AcceptedAnswers => "acceptedAnswers",
            Self::FlagsUpheld => "flagsUpheld",
        }
    }
}

/// What one stream record does to one account's stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatChange {
    /// Adds `delta` to a stat of `user`.
    Add {
        user: UserId,
        stat: Stat,
        delta: i64,
    },
    /// The account was made at `at` (its profile's `createdAt`).
    Since { user: UserId, at: String },
}

/// Someone opened a topic's page and was shown `posts` posts (the topic and its first
/// page of replies): what the topic-views worker records once per account and topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRead {
    pub reader: UserId,
    pub topic_id: String,
    pub posts: u32,
}

/// An account's trust as it reads it (`GET /v1/me/trust`): its level, the stats it was
/// computed from, what the level allows, and what the next one asks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrustView {
    pub user_id: UserId,
    pub level: TrustLevel,
    /// Days since the account's profile was made.
    pub account_age_days: i64,
    /// Topics opened at least once.
    pub topics_entered: i64,
    /// Posts shown on the first opening of each topic (the topic and its first page of
    /// replies).
    pub posts_read: i64,
    pub replies: i64,
    /// Reactions to the account's topics and replies by others.
    pub reactions_received: i64,
    /// The account's replies accepted as answers.
    pub accepted_answers: i64,
    /// The account's posts moderators removed.
    pub flags_upheld: i64,
    pub limits: TrustLimits,
    /// What the next level asks, unless the account is at the highest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_level: Option<Requirement>,
}

/// What a trust level asks of an account: at least these (and at most
/// `maxFlagsUpheld` removals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    pub level: TrustLevel,
    pub account_age_days: i64,
    pub topics_entered: i64,
    pub posts_read: i64,
    pub replies: i64,
    pub reactions_received: i64,
    pub accepted_answers: i64,
    pub max_flags_upheld: i64,
}
