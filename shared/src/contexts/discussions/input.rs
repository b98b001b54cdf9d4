//! Discussions: input types and their validation.

use super::*;

/// Deepest reply: a reply to a reply at this depth is refused.
pub const MAX_REPLY_DEPTH: usize = 6;

/// Deepest category (root = 1).
pub const MAX_CATEGORY_DEPTH: usize = 3;

pub use crate::core::validation::{MAX_TAGS, slug, tag_list, valid_tag};

pub const MAX_MENTIONS: usize = 10;

pub const MAX_ATTACHMENTS: usize = 5;

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
    /// The category of a platform topic; give this or `communityId`.
    #[validate(custom(function = "slug"))]
    pub category_id: Option<String>,
    /// The community a topic belongs to (its members post there); give this or
    /// `categoryId`.
    pub community_id: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "tag_list"))]
    pub tags: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// A community topic its moderators (and admins and owner) post as an announcement:
    /// every member is notified.
    #[serde(default)]
    pub announcement: bool,
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

/// `POST /v1/topics/{topicId}/reject`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectInput {
    /// Shown to the author.
    #[validate(length(max = 500), custom(function = "validation::plain_text"))]
    pub reason: Option<String>,
}

/// `PUT /v1/topics/{topicId}/pin`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinInput {
    pub pinned: bool,
}

/// `PUT /v1/topics/{topicId}/lock`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockInput {
    /// `true`: no new replies (it stays readable); `false`: open again.
    pub locked: bool,
}

pub(super) fn rule(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

pub(super) fn body_text(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(rule("blank", "must not be blank"));
    }
    validation::plain_text(value)
}

/// Runs the derive rules and the hand-written ones, and reports them all together.
pub(super) fn check_with<T: Validate>(value: &T, mut extra: Vec<FieldError>) -> AppResult<()> {
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

/// Which topics a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicScope {
    Category(String),
    Community(String),
    /// A community's topics waiting for approval (its moderators only).
    Pending(String),
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
        Self::parse_in(None, None, category, tag, author, sort, solved)
    }

    /// From `community` (with `status=pending` for its approval queue) | `category` |
    /// `tag` | `author` (exactly one), `sort`, `solved`.
    pub fn parse_in(
        community: Option<&str>,
        status: Option<&str>,
        category: Option<&str>,
        tag: Option<&str>,
        author: Option<&str>,
        sort: Option<&str>,
        solved: Option<&str>,
    ) -> AppResult<Self> {
        let scope = match (community, category, tag, author) {
            (Some(c), None, None, None) => match status {
                None | Some("published") => TopicScope::Community(c.to_owned()),
                Some("pending") => TopicScope::Pending(c.to_owned()),
                Some(_) => {
                    return Err(AppError::bad_field(
                        "status",
                        "must be published or pending",
                    ));
                }
            },
            (None, category, tag, author) => {
                if status.is_some() {
                    return Err(AppError::bad_field(
                        "status",
                        "only a community's topics are filtered by status",
                    ));
                }
                Self::platform_scope(category, tag, author)?
            }
            _ => {
                return Err(AppError::bad_field(
                    "community",
                    "give exactly one of community, category, tag or author",
                ));
            }
        };
        Self::with_scope(scope, sort, solved)
    }

    fn platform_scope(
        category: Option<&str>,
        tag: Option<&str>,
        author: Option<&str>,
    ) -> AppResult<TopicScope> {
        Ok(match (category, tag, author) {
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
                    "give exactly one of community, category, tag or author",
                ));
            }
        })
    }

    fn with_scope(scope: TopicScope, sort: Option<&str>, solved: Option<&str>) -> AppResult<Self> {
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

    pub(super) fn cursor_scope(&self) -> String {
        let scope = match &self.scope {
            TopicScope::Category(c) => format!("category={c}"),
            TopicScope::Community(c) => format!("community={c}"),
            TopicScope::Pending(c) => format!("pending={c}"),
            TopicScope::Tag(t) => format!("tag={t}"),
            TopicScope::Author(a) => format!("author={a}"),
        };
        format!("topics:{scope}:{:?}:{:?}", self.sort, self.solved)
    }
}
