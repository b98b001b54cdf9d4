//! Feed: item types stored in the table (their keys, index keys and entity names), and the views built from them.

use super::*;

pub mod keys {
    use super::*;

    pub fn activity_partition(activity_id: &str) -> String {
        format!("ACT#{activity_id}")
    }

    /// `ACT#<activityId> / META`
    pub fn activity(activity_id: &str) -> Key {
        Key::new(activity_partition(activity_id), "META")
    }

    /// The activity's likes, counted on shards `ACT#<id>#likeCount#<k> / COUNTER`
    /// and settled onto its `likeCountShards` by the stream (see
    /// [`crate::table::counter`]).
    pub fn like_counter(activity_id: &str) -> ShardedCounter {
        ShardedCounter::new(activity(activity_id), "likeCount")
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
    /// `ANSWERED#<topicId> / <replyId>`: see [`PublishedAnswer`](super::PublishedAnswer).
    pub fn published_answer(topic_id: &str, reply_id: &str) -> Key {
        Key::new(format!("ANSWERED#{topic_id}"), reply_id)
    }

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
    /// Every lesson of a course complete: its certificate.
    CourseCompleted,
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
    /// Likes counted on the item itself (before likes were sharded); see
    /// [`Activity::likes`].
    #[serde(default)]
    pub like_count: i64,
    /// Likes counted on the like shards, as the stream last settled them.
    #[serde(default)]
    pub like_count_shards: BTreeMap<String, i64>,
    #[serde(default)]
    pub comment_count: i64,
    #[serde(default)]
    pub share_count: i64,
    /// The automatic moderation verdict on its text (absent until checked, or for an
    /// activity without text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<moderation::Screening>,
}

impl Activity {
    /// Whether `viewer` may see it as far as moderation goes: a hidden one only its
    /// author.
    pub fn shown_to(&self, viewer: &UserId) -> bool {
        moderation::shown_to(self.screening.as_ref(), &self.author_id == viewer, false)
    }

    /// How many like it: exact once the stream has settled the like shards.
    pub fn likes(&self) -> i64 {
        crate::table::counter::total(self.like_count, &self.like_count_shards)
    }

    /// For a share: the shared activity. Its author is read from it, never copied, so
    /// a share does not name the person it shares.
    pub fn original(&self) -> Option<String> {
        if self.verb != Verb::Share {
            return None;
        }
        let id = self.object.get("originalActivityId")?.as_str()?;
        Some(id.to_owned())
    }

    /// For an activity about a discussion: its topic, whose title is read when the
    /// activity is shown (never copied, so a deleted or erased topic leaves no title
    /// behind in other people's activities).
    pub fn topic_id(&self) -> Option<String> {
        if !matches!(
            self.verb,
            Verb::DiscussionPosted | Verb::ReplyPosted | Verb::AnswerAccepted
        ) {
            return None;
        }
        Some(self.object.get("topicId")?.as_str()?.to_owned())
    }

    pub fn entry(&self) -> FeedEntry {
        FeedEntry {
            activity_id: self.activity_id.clone(),
            author_id: self.author_id.clone(),
            verb: self.verb,
            visibility: self.visibility,
            created_at: self.created_at.clone(),
            original_activity_id: self.original(),
            topic_id: self.topic_id(),
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
    /// The discussion an activity is about, whose title the reader fetches with the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
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
    /// How many like it. Likes are counted on write shards that the stream settles,
    /// so this follows a like within a second or two (`likedByMe` changes at once).
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
    /// The automatic moderation verdict on its text; a hidden activity reaches only
    /// its author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screening: Option<moderation::Screening>,
}

impl ActivityView {
    pub(super) fn of(activity: Activity, liked_by_me: Option<bool>) -> Self {
        let like_count = activity.likes();
        Self {
            activity_id: activity.activity_id,
            author_id: activity.author_id,
            verb: activity.verb,
            visibility: activity.visibility,
            object: activity.object,
            text: activity.text,
            created_at: activity.created_at,
            like_count,
            comment_count: activity.comment_count,
            share_count: activity.share_count,
            liked_by_me,
            original: None,
            screening: activity.screening,
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
    /// The automatic moderation verdict on its text (absent until checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<moderation::Screening>,
}

impl Comment {
    /// The comment as `viewer` sees it: a hidden one's text only its author reads.
    pub fn for_viewer(mut self, viewer: &UserId) -> Self {
        if !moderation::shown_to(self.screening.as_ref(), &self.author_id == viewer, false) {
            self.text = moderation::HIDDEN_TEXT.into();
        }
        self
    }
}

// ---------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `ACT#<activityId> / META`, listed under its author on GSI1.
impl Entity for Activity {
    const NAME: &'static str = "Activity";

    fn key(&self) -> Key {
        keys::activity(&self.activity_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        let (pk, sk) = keys::by_author(&self.author_id, &self.activity_id);
        vec![IndexKey::new(Index::Gsi1, pk, sk)]
    }
}

/// `USER#<author> / ACTIVITY#<activityId>`: the author's partition points at the
/// activity, so deleting the account deletes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthoredActivity {
    /// In the key only.
    #[serde(skip)]
    pub author_id: UserId,
    pub activity_id: String,
    pub created_at: String,
}

impl AuthoredActivity {
    pub fn of(activity: &Activity) -> Self {
        Self {
            author_id: activity.author_id.clone(),
            activity_id: activity.activity_id.clone(),
            created_at: activity.created_at.clone(),
        }
    }
}

impl Entity for AuthoredActivity {
    const NAME: &'static str = "AuthoredActivity";

    fn key(&self) -> Key {
        keys::authored(&self.author_id, &self.activity_id)
    }
}

/// `ANSWERED#<topicId> / <replyId>`: the one answerAccepted activity published for a
/// reply accepted in a topic. Accepting the same reply again (after clearing it, or by a
/// redelivered record) publishes nothing more; clearing or switching the answer
/// tombstones the activity it points at. Names no user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedAnswer {
    pub topic_id: String,
    pub reply_id: String,
    pub activity_id: String,
}

impl Entity for PublishedAnswer {
    const NAME: &'static str = "PublishedAnswer";

    fn key(&self) -> Key {
        keys::published_answer(&self.topic_id, &self.reply_id)
    }
}

/// `ACT#<activityId> / LIKE#<userId>`: one like per user by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityLike {
    pub activity_id: String,
    pub user_id: UserId,
    pub created_at: String,
}

impl Entity for ActivityLike {
    const NAME: &'static str = "ActivityLike";

    fn key(&self) -> Key {
        keys::like(&self.activity_id, &self.user_id)
    }
}

/// `ACT#<activityId> / COMMENT#<commentId>`
impl Entity for Comment {
    const NAME: &'static str = "ActivityComment";

    fn key(&self) -> Key {
        keys::comment(&self.activity_id, &self.comment_id)
    }
}

/// What an [`ActivityPointer`] stands for in its user's partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointedAt {
    /// `USER#<user> / ACTLIKE#<activityId>`
    Like,
    /// `USER#<user> / ACTCOMMENT#<activityId>#<commentId>`
    Comment { comment_id: String },
}

/// A pointer in a user's partition to their like or comment on an activity, so
/// deleting the account finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityPointer {
    /// In the key only.
    #[serde(skip)]
    pub user_id: UserId,
    #[serde(skip)]
    pub pointed_at: PointedAt,
    pub activity_id: String,
}

impl Entity for ActivityPointer {
    const NAME: &'static str = "ActivityPointer";

    fn key(&self) -> Key {
        match &self.pointed_at {
            PointedAt::Like => keys::liked_by(&self.user_id, &self.activity_id),
            PointedAt::Comment { comment_id } => {
                keys::commented_by(&self.user_id, &self.activity_id, comment_id)
            }
        }
    }
}

pub(super) fn put_request(item: Item) -> AppResult<BatchWrite> {
    Ok(BatchWrite::Put(item))
}

pub(super) fn delete_request(key: &Key) -> AppResult<BatchWrite> {
    Ok(BatchWrite::Delete(key.clone()))
}

/// When a feed or timeline entry expires: `ttl_seconds` after its activity.
fn entry_expiry(entry: &FeedEntry, ttl_seconds: i64) -> AppResult<i64> {
    Ok(parse_time(&entry.created_at)?.unix_timestamp() + ttl_seconds)
}

/// `FEED#<userId> / <activityId>`: a home-feed entry, TTL [`FEED_TTL_SECONDS`] after
/// the activity. Its content derives only from the activity, so a repeated put writes
/// exactly the same item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct HomeFeedEntry<'a> {
    #[serde(skip)]
    pub user_id: &'a UserId,
    pub entry: &'a FeedEntry,
    #[serde(skip)]
    expires_at: i64,
}

impl<'a> HomeFeedEntry<'a> {
    pub fn new(user_id: &'a UserId, entry: &'a FeedEntry) -> AppResult<Self> {
        Ok(Self {
            user_id,
            entry,
            expires_at: entry_expiry(entry, FEED_TTL_SECONDS)?,
        })
    }
}

impl Entity for HomeFeedEntry<'_> {
    const NAME: &'static str = "FeedEntry";

    fn key(&self) -> Key {
        keys::feed_entry(self.user_id, &self.entry.activity_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// `TIMELINE#<yyyy-mm-dd> / <activityId>`: a public-timeline entry in its activity's
/// day, TTL [`TIMELINE_TTL_SECONDS`] after the activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct TimelineEntry<'a> {
    pub entry: &'a FeedEntry,
    #[serde(skip)]
    day: String,
    #[serde(skip)]
    expires_at: i64,
}

impl<'a> TimelineEntry<'a> {
    pub fn new(entry: &'a FeedEntry) -> AppResult<Self> {
        Ok(Self {
            entry,
            day: day_bucket(parse_time(&entry.created_at)?.unix_timestamp()),
            expires_at: entry_expiry(entry, TIMELINE_TTL_SECONDS)?,
        })
    }
}

impl Entity for TimelineEntry<'_> {
    const NAME: &'static str = "TimelineEntry";

    fn key(&self) -> Key {
        keys::timeline_entry(&self.day, &self.entry.activity_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FanoutOp {
    Put,
    Delete,
}

impl FanoutOp {
    pub(super) fn as_str(self) -> &'static str {
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

/// `FANOUT#<activityId> / <op>#<step>`: a fan-out step queued for a later invocation
/// (its INSERT record runs it), TTL [`FANOUT_JOB_TTL_SECONDS`] after it was queued.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct FanoutProgress {
    pub job: FanoutJob,
    #[serde(skip)]
    pub expires_at: i64,
}

impl FanoutProgress {
    /// The step queued now.
    pub fn queued(job: FanoutJob) -> Self {
        Self {
            job,
            expires_at: now_epoch_seconds() + FANOUT_JOB_TTL_SECONDS,
        }
    }
}

impl Entity for FanoutProgress {
    const NAME: &'static str = "FeedFanout";

    fn key(&self) -> Key {
        keys::fanout_step(&self.job.entry.activity_id, self.job.op, self.job.step)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// One page of a fan-out's audience, as a message on the fan-out queue
/// (`FeedFanoutQueue`): write (or delete) `entry` in each recipient's home feed. The
/// recipients are named in the message, so a redelivered message does exactly the same
/// writes again (feed keys are deterministic and entries derive only from the activity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedDelivery {
    pub entry: FeedEntry,
    pub op: FanoutOp,
    pub recipients: Vec<UserId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TopicImage {
    pub(super) topic_id: String,
    pub(super) author_id: UserId,
    #[serde(default)]
    pub(super) category_id: Option<String>,
    /// A community's topic: it becomes an activity only while the community is public.
    #[serde(default)]
    pub(super) community_id: Option<String>,
    /// Absent or `published`: out in the open; `pending` or `rejected`: held by the
    /// community's moderators, no activity.
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) title: String,
    pub(super) created_at: String,
    #[serde(default)]
    pub(super) updated_at: Option<String>,
    #[serde(default)]
    pub(super) deleted: bool,
    #[serde(default)]
    pub(super) accepted_reply_id: Option<String>,
    #[serde(default)]
    pub(super) accepted_reply_author_id: Option<UserId>,
    #[serde(default)]
    pub(super) screening: Option<crate::contexts::moderation::Screening>,
}

impl TopicImage {
    /// Out in the open: not held for (or refused) a community's approval.
    pub(super) fn published(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s == "published")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReplyImage {
    pub(super) reply_id: String,
    pub(super) topic_id: String,
    pub(super) author_id: UserId,
    #[serde(default)]
    pub(super) parent_reply_id: Option<String>,
    #[serde(default)]
    pub(super) body: String,
    pub(super) created_at: String,
    #[serde(default)]
    pub(super) deleted: bool,
    #[serde(default)]
    pub(super) screening: Option<crate::contexts::moderation::Screening>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionImage {
    pub(super) user_id: UserId,
    pub(super) other_user_id: UserId,
    #[serde(default)]
    pub(super) requested_by: Option<UserId>,
    pub(super) created_at: String,
}

/// The text of activities and comments, screened by moderation (the global queue).
pub const SCREENED: &[crate::contexts::moderation::Screened] = &[
    crate::contexts::moderation::Screened {
        entity: Activity::NAME,
        text: &["text"],
        author: &["authorId"],
        community: crate::contexts::moderation::CommunityOf::Nowhere,
        posts: true,
    },
    crate::contexts::moderation::Screened {
        entity: Comment::NAME,
        text: &["text"],
        author: &["authorId"],
        community: crate::contexts::moderation::CommunityOf::Nowhere,
        posts: true,
    },
];
