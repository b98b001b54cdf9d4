//! Communities: input types and their validation.

use super::*;

/// Shortest and longest life of an invite link, in hours, and its default.
pub const INVITE_HOURS: std::ops::RangeInclusive<u32> = 1..=720;
pub const DEFAULT_INVITE_HOURS: u32 = 168;

/// `POST /v1/communities`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCommunity {
    #[validate(
        length(min = 1, max = 80),
        custom(function = "validation::single_line")
    )]
    pub name: String,
    /// 2-40 of `a-z 0-9 -`; unique among listed communities.
    #[validate(custom(function = "validation::slug"))]
    pub slug: String,
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub description: Option<String>,
    #[validate(length(max = 5000), custom(function = "validation::plain_text"))]
    pub guidelines: Option<String>,
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub cover_image_url: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "validation::tag_list"))]
    pub tags: Vec<String>,
    pub kind: CommunityKind,
    #[serde(default)]
    pub require_post_approval: bool,
    /// Makes it a learning circle: `{skill, level}`.
    #[validate(nested)]
    pub circle: Option<Circle>,
}

/// `PATCH /v1/communities/{communityId}`: absent fields are unchanged; `null` clears
/// an optional text.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommunityPatch {
    #[validate(
        length(min = 1, max = 80),
        custom(function = "validation::single_line")
    )]
    pub name: Option<String>,
    #[validate(custom(function = "validation::slug"))]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 5000), custom(function = "validation::plain_text"))]
    pub guidelines: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub cover_image_url: Option<Option<String>>,
    #[validate(custom(function = "validation::tag_list"))]
    pub tags: Option<Vec<String>>,
    pub kind: Option<CommunityKind>,
    pub require_post_approval: Option<bool>,
    /// `null` makes it a plain community again.
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(nested)]
    pub circle: Option<Option<Circle>>,
}

/// `POST /v1/communities/{communityId}/join`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinInput {
    /// Shown to the moderators with a private community's join request.
    #[validate(length(max = 500), custom(function = "validation::plain_text"))]
    pub message: Option<String>,
}

/// `PUT /v1/communities/{communityId}/following`, and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Following {
    pub following: bool,
}

/// `PUT /v1/communities/{communityId}/members/{userId}/role`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleInput {
    pub role: Role,
}

/// `PUT /v1/communities/{communityId}/bans/{userId}`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BanInput {
    #[validate(length(max = 500), custom(function = "validation::plain_text"))]
    pub reason: Option<String>,
}

/// `POST /v1/communities/{communityId}/invites`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewInvite {
    /// 1-720 hours (30 days); 168 (a week) when absent.
    #[validate(range(min = 1, max = 720))]
    pub expires_in_hours: Option<u32>,
}

/// How `GET /v1/communities` finds communities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// Every listed community, newest first.
    Newest,
    /// Listed communities whose normalized name starts with this.
    NamePrefix(String),
    /// Listed communities with this tag, newest first.
    Tag(String),
}

impl Discovery {
    /// From the `q` and `tag` query parameters; both at once is a 400.
    pub fn parse(q: Option<&str>, tag: Option<&str>) -> AppResult<Self> {
        match (q, tag) {
            (Some(_), Some(_)) => Err(AppError::bad_field("tag", "give either q or tag, not both")),
            (Some(q), None) => {
                let prefix = profiles::normalize_name(q);
                if prefix.is_empty() || prefix.chars().count() > 80 {
                    return Err(AppError::bad_field("q", "must be 1 to 80 characters"));
                }
                Ok(Discovery::NamePrefix(prefix))
            }
            (None, Some(tag)) => {
                let tag = validation::normalize_tag(tag);
                if !validation::valid_tag(&tag) {
                    return Err(AppError::bad_field(
                        "tag",
                        "must be 1 to 40 letters, digits, - or _",
                    ));
                }
                Ok(Discovery::Tag(tag))
            }
            (None, None) => Ok(Discovery::Newest),
        }
    }

    /// What a cursor is bound to, so it cannot continue another search.
    pub fn cursor_scope(&self) -> String {
        match self {
            Discovery::Newest => "communities:newest".to_owned(),
            Discovery::NamePrefix(prefix) => format!("communities:q={prefix}"),
            Discovery::Tag(tag) => format!("communities:tag={tag}"),
        }
    }
}

/// A community id in a path: a ULID. Anything else is no community (404).
pub fn valid_community_id(raw: &str) -> bool {
    raw.len() == 26 && ulid::Ulid::from_string(raw).is_ok()
}

/// An invite code in a path: 26 characters of Crockford base32.
pub fn valid_invite_code(raw: &str) -> bool {
    raw.len() == 26
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// `PUT /v1/communities/{communityId}/course`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CourseLink {
    /// A course I teach.
    pub course_id: String,
}

/// `POST /v1/communities/{communityId}/resources`: a link or a file (`url`), or a note.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewResource {
    pub kind: ResourceKind,
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: String,
    /// Required for a link or a file; not for a note.
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub url: Option<String>,
    /// Required for a note (≤ 5000); not for a link or a file.
    #[validate(
        length(min = 1, max = 5000),
        custom(function = "validation::plain_text")
    )]
    pub note: Option<String>,
}

impl NewResource {
    /// The field rules [`Validate`] cannot say: a link or file has a `url` and no note,
    /// a note has a `note` and no url.
    pub fn check_kind(&self) -> AppResult<()> {
        match (self.kind, &self.url, &self.note) {
            (ResourceKind::Link | ResourceKind::File, None, _) => Err(AppError::invalid_field(
                "url",
                "is required for a link or a file",
            )),
            (ResourceKind::Link | ResourceKind::File, Some(_), Some(_)) => Err(
                AppError::invalid_field("note", "must be absent for a link or a file"),
            ),
            (ResourceKind::Note, _, None) => {
                Err(AppError::invalid_field("note", "is required for a note"))
            }
            (ResourceKind::Note, Some(_), Some(_)) => {
                Err(AppError::invalid_field("url", "must be absent for a note"))
            }
            _ => Ok(()),
        }
    }
}
