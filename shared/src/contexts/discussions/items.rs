//! Discussions: item types stored in the table (their keys, index keys and entity names), and the views built from them.

use super::*;

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

    /// `USER#<moderator> / REVIEWED#<topicId>`: finds the topics a moderator reviewed
    /// when their account is erased.
    pub fn reviewed_by(moderator: &UserId, topic_id: &str) -> Key {
        Key::new(
            crate::table::keys::user_partition(moderator),
            format!("REVIEWED#{topic_id}"),
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

    /// GSI1 partition of a community's topics waiting for approval.
    pub fn pending_partition(community_id: &str) -> String {
        format!("CPENDING#{community_id}")
    }

    /// GSI1/2/3 partition of a community's topics.
    pub fn community_partition(community_id: &str) -> String {
        format!("CTOPICS#{community_id}")
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

/// `USER#<moderator> / REVIEWED#<topicId>` (entity `TopicReview`): the topics a
/// moderator approved or rejected, so erasing their account finds each `reviewedBy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicReview {
    pub moderator_id: UserId,
    pub topic_id: String,
}

impl Entity for TopicReview {
    const NAME: &'static str = "TopicReview";

    fn key(&self) -> Key {
        keys::reviewed_by(&self.moderator_id, &self.topic_id)
    }
}

/// Where a topic stands with its community's moderators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TopicStatus {
    #[default]
    Published,
    Pending,
    Rejected,
}

impl TopicStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicStatus::Published => "published",
            TopicStatus::Pending => "pending",
            TopicStatus::Rejected => "rejected",
        }
    }
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

/// `CATEGORY#<id> / META`: one per id.
impl Entity for Category {
    const NAME: &'static str = "Category";

    fn key(&self) -> Key {
        keys::category(&self.category_id)
    }
}

/// The same category as its entry in the tree, `CATEGORIES / <path>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CategoryInTree<'a>(pub &'a Category);

impl Entity for CategoryInTree<'_> {
    const NAME: &'static str = Category::NAME;

    fn key(&self) -> Key {
        keys::category_listing(&self.0.path)
    }
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub topic_id: String,
    pub author_id: UserId,
    /// Empty for a community's topic.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category_id: String,
    /// The community the topic belongs to: only what its members may see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// `pending` while a community that requires post approval waits for a moderator;
    /// `rejected` when one turned it down. Only its author and the community's
    /// moderators see it until it is `published`.
    #[serde(default)]
    pub status: TopicStatus,
    /// The moderator who approved or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<UserId>,
    /// Why it was rejected, when the moderator said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
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
    /// Locked by a moderator: readable, but it takes no new replies.
    #[serde(default)]
    pub locked: bool,
    /// When it was locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_at: Option<String>,
    /// A community moderator's announcement: every member of the community is notified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub announcement: bool,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default = "zero_counts")]
    pub reaction_counts: BTreeMap<String, i64>,
    #[serde(default)]
    pub view_count: i64,
    /// Guards the derived listing keys (pin flag, activity, score) against lost updates.
    #[serde(default)]
    pub version: i64,
    /// The automatic moderation verdict on its current text (absent until checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<moderation::Screening>,
}

/// A live topic is listed in its category three ways: newest (GSI1), latest activity
/// (GSI2) and top (GSI3), pinned first; a deleted one leaves the listings.
impl Entity for Topic {
    const NAME: &'static str = "Topic";

    fn key(&self) -> Key {
        keys::topic(&self.topic_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        if self.deleted || self.status == TopicStatus::Rejected {
            return Vec::new();
        }
        if self.status == TopicStatus::Pending {
            // Only in its community's approval queue, oldest first.
            return self
                .community_id
                .iter()
                .map(|c| IndexKey::new(Index::Gsi1, keys::pending_partition(c), &self.topic_id))
                .collect();
        }
        let partition = match &self.community_id {
            Some(community) => keys::community_partition(community),
            None => keys::category_partition(&self.category_id),
        };
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

    pub(super) fn to_item(&self) -> AppResult<Item> {
        self.item()
    }

    /// The author index item of this topic and, outside communities, its tag index items,
    /// with their listing keys.
    pub(super) fn index_items(&self) -> AppResult<Vec<Item>> {
        let sorts = ListingSorts::of(self);
        let by_author = TopicByAuthor {
            author_id: self.author_id.clone(),
            topic_id: self.topic_id.clone(),
            sorts: sorts.clone(),
        };
        // A community's topics are listed in the community only, never under a tag
        // every user can list.
        let listed_tags: &[String] = if self.community_id.is_some() {
            &[]
        } else {
            &self.tags
        };
        let by_tag = listed_tags.iter().map(|tag| TopicByTag {
            tag: tag.clone(),
            topic_id: self.topic_id.clone(),
            sorts: sorts.clone(),
        });
        std::iter::once(by_author.item())
            .chain(by_tag.map(|item| item.item()))
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The automatic moderation verdict on its current text (absent until checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<moderation::Screening>,
}

impl Entity for Reply {
    const NAME: &'static str = "Reply";

    fn key(&self) -> Key {
        keys::reply(&self.topic_id, &self.reply_id)
    }
}

impl Reply {
    pub(super) fn to_item(&self) -> AppResult<Item> {
        self.item()
    }

    pub fn for_readers(mut self) -> Self {
        if self.deleted {
            self.body = TOMBSTONE.into();
            self.mentions.clear();
        }
        self
    }

    /// The reply as `viewer` sees it: a hidden reply keeps its place in the thread, its
    /// text shown only to its author and the moderators.
    pub fn for_viewer(self, viewer: &UserId, moderator: bool) -> Self {
        let mut reply = self.for_readers();
        if !moderation::shown_to(
            reply.screening.as_ref(),
            &reply.author_id == viewer,
            moderator,
        ) {
            reply.body = moderation::HIDDEN_TEXT.into();
            reply.mentions.clear();
        }
        reply
    }
}

/// The GSI2 (latest activity) and GSI3 (top) sort keys of a topic's tag and author
/// index items: the same order as the category's, without pinning (pins are per
/// category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingSorts {
    pub activity: String,
    pub top: String,
}

impl ListingSorts {
    pub fn of(topic: &Topic) -> Self {
        Self {
            activity: keys::activity_sort(false, &topic.last_activity_at, &topic.topic_id),
            top: keys::top_sort(false, topic.score(), &topic.topic_id),
        }
    }

    fn index_keys(&self, partition: &str) -> Vec<IndexKey> {
        vec![
            IndexKey::new(Index::Gsi2, partition, &self.activity),
            IndexKey::new(Index::Gsi3, partition, &self.top),
        ]
    }
}

/// `USER#<author> / TOPIC#<id>`: the author's listing of the topic (GSI2/GSI3
/// `AUTHOR#<author>`), and how account deletion finds the author's topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicByAuthor {
    #[serde(skip)]
    pub author_id: UserId,
    pub topic_id: String,
    #[serde(skip)]
    pub sorts: ListingSorts,
}

impl Entity for TopicByAuthor {
    const NAME: &'static str = "TopicByAuthor";

    fn key(&self) -> Key {
        keys::by_author(&self.author_id, &self.topic_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        self.sorts
            .index_keys(&keys::author_listing(&self.author_id))
    }
}

/// `TAG#<tag> / TOPIC#<id>`: the tag's listing of the topic (GSI2/GSI3 `TAG#<tag>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicByTag {
    #[serde(skip)]
    pub tag: String,
    pub topic_id: String,
    #[serde(skip)]
    pub sorts: ListingSorts,
}

impl Entity for TopicByTag {
    const NAME: &'static str = "TopicByTag";

    fn key(&self) -> Key {
        keys::by_tag(&self.tag, &self.topic_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        self.sorts.index_keys(&keys::tag_listing(&self.tag))
    }
}

/// `USER#<author> / REPLY#<topicId>#<replyId>`: finds the author's replies when the
/// account is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyByAuthor {
    #[serde(skip)]
    pub author_id: UserId,
    pub topic_id: String,
    #[serde(skip)]
    pub reply_id: String,
}

impl Entity for ReplyByAuthor {
    const NAME: &'static str = "ReplyByAuthor";

    fn key(&self) -> Key {
        keys::reply_by_author(&self.author_id, &self.topic_id, &self.reply_id)
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

/// `TOPIC#<id> / REACT#<targetId>#<userId>`: one per user per target by key.
impl Entity for Reaction {
    const NAME: &'static str = "Reaction";

    fn key(&self) -> Key {
        keys::reaction(&self.topic_id, &self.target_id, &self.user_id)
    }
}

/// `USER#<user> / REACT#<topicId>#<targetId>`: finds the user's reactions when the
/// account is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionByUser {
    #[serde(skip)]
    pub user_id: UserId,
    pub topic_id: String,
    #[serde(skip)]
    pub target_id: String,
}

impl Entity for ReactionByUser {
    const NAME: &'static str = "ReactionByUser";

    fn key(&self) -> Key {
        keys::reaction_by_user(&self.user_id, &self.topic_id, &self.target_id)
    }
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

/// `TOPIC#<id> / HIST#<targetId>#<editId>`
impl Entity for HistoryEntry {
    const NAME: &'static str = "EditHistory";

    fn key(&self) -> Key {
        keys::history(&self.topic_id, &self.target_id, &self.edit_id)
    }
}

/// `PROCESSED#discussions-stream#<eventId> / PROCESSED`: a stream record counted once,
/// TTL [`MARKER_TTL_SECONDS`] after it was counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedStreamRecord {
    pub consumer: String,
    pub event_id: String,
    pub topic_id: String,
    /// The sort key of the record's item, for operators.
    pub source_sk: String,
    #[serde(skip)]
    pub expires_at: i64,
}

impl Entity for ProcessedStreamRecord {
    const NAME: &'static str = "ProcessedStreamRecord";

    fn key(&self) -> Key {
        keys::processed(&self.event_id)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// A message on the topic-views queue: someone read the topic's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicView {
    pub topic_id: String,
    /// Who read it (absent in views queued before readers were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_id: Option<UserId>,
    /// The posts the page showed: the topic and its first page of replies.
    #[serde(default)]
    pub posts: u32,
}

/// A topic with the first page of its replies in thread order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicWithReplies {
    pub topic: Topic,
    pub replies: Page<Reply>,
}

// ---------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

// ---------------------------------------------------------------------------------
// Counters, from the stream
// ---------------------------------------------------------------------------------

/// The records the stream function counts. Anything else is ignored.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "entity")]
pub enum CountedRecord {
    Reply(Box<Reply>),
    Reaction(Reaction),
    #[serde(other)]
    Other,
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

/// The text of topics and replies, screened by moderation (a reply goes to its topic's
/// community's queue).
pub const SCREENED: &[crate::contexts::moderation::Screened] = &[
    crate::contexts::moderation::Screened {
        entity: Topic::NAME,
        text: &["title", "body"],
        author: &["authorId"],
        community: crate::contexts::moderation::CommunityOf::Own("communityId"),
        posts: true,
    },
    crate::contexts::moderation::Screened {
        entity: Reply::NAME,
        text: &["body"],
        author: &["authorId"],
        community: crate::contexts::moderation::CommunityOf::Parent("communityId"),
        posts: true,
    },
];
