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
    pub(super) fn of(activity: Activity, liked_by_me: Option<bool>) -> Self {
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
// Writes
// ---------------------------------------------------------------------------------

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn activity_item(activity: &Activity) -> AppResult<Item> {
    let mut item = store::to_item(activity)?;
    item.extend(keys::activity(&activity.activity_id).to_item());
    item.insert("entity".into(), s("Activity"));
    let (gsi_pk, gsi_sk) = keys::by_author(&activity.author_id, &activity.activity_id);
    item.insert("GSI1PK".into(), s(gsi_pk));
    item.insert("GSI1SK".into(), s(gsi_sk));
    Ok(item)
}

/// A pointer in a user's partition to something of theirs stored elsewhere.
pub(super) fn pointer_item(key: Key, activity_id: &str) -> Item {
    let mut item = key.to_item();
    item.insert("entity".into(), s("ActivityPointer"));
    item.insert("activityId".into(), s(activity_id));
    item
}

pub(super) fn put_request(item: Item) -> AppResult<BatchWrite> {
    Ok(BatchWrite::Put(item))
}

pub(super) fn delete_request(key: &Key) -> AppResult<BatchWrite> {
    Ok(BatchWrite::Delete(key.clone()))
}

/// A feed or timeline entry item: its content derives only from the activity, so a
/// repeated put writes exactly the same item.
pub(super) fn entry_item(
    key: &Key,
    entry: &FeedEntry,
    entity: &str,
    ttl_seconds: i64,
) -> AppResult<Item> {
    let mut item = store::to_item(entry)?;
    item.extend(key.to_item());
    item.insert("entity".into(), s(entity));
    let created = parse_time(&entry.created_at)?.unix_timestamp();
    item.insert(store::TTL_ATTRIBUTE.into(), n(created + ttl_seconds));
    Ok(item)
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TopicImage {
    pub(super) topic_id: String,
    pub(super) author_id: UserId,
    #[serde(default)]
    pub(super) category_id: Option<String>,
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
