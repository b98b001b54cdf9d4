//! Courses: input types and their validation.

use super::*;

/// `POST /v1/courses`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCourse {
    #[validate(
        length(min = 1, max = 120),
        custom(function = "validation::single_line")
    )]
    pub title: String,
    #[validate(length(max = 5000), custom(function = "validation::plain_text"))]
    pub description: Option<String>,
    pub level: Level,
    /// 2-40 of `a-z 0-9 -`, such as `personal-finance`.
    #[validate(custom(function = "validation::slug"))]
    pub category: String,
    #[serde(default)]
    #[validate(custom(function = "validation::tag_list"))]
    pub tags: Vec<String>,
    #[validate(nested)]
    pub price: Price,
    /// Defaults to false: only the instructor sees an unpublished course.
    #[serde(default)]
    pub published: bool,
    /// How many days a learner's own enrollment lasts (1-3650); absent: for ever.
    #[validate(range(min = 1, max = 3650, message = "must be 1 to 3650"))]
    pub access_days: Option<u32>,
}

/// `PATCH /v1/courses/{courseId}`: absent fields are unchanged; `null` clears
/// `description` or `accessDays`.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CoursePatch {
    #[validate(
        length(min = 1, max = 120),
        custom(function = "validation::single_line")
    )]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 5000), custom(function = "validation::plain_text"))]
    pub description: Option<Option<String>>,
    pub level: Option<Level>,
    #[validate(custom(function = "validation::slug"))]
    pub category: Option<String>,
    #[validate(custom(function = "validation::tag_list"))]
    pub tags: Option<Vec<String>>,
    #[validate(nested)]
    pub price: Option<Price>,
    pub published: Option<bool>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(range(min = 1, max = 3650, message = "must be 1 to 3650"))]
    pub access_days: Option<Option<u32>>,
}

/// `POST /v1/courses/{courseId}/lessons`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLesson {
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: String,
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub summary: Option<String>,
    #[serde(default)]
    pub preview: bool,
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub video_url: Option<String>,
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub content_url: Option<String>,
    #[validate(range(min = 1, max = 1440, message = "must be 1 to 1440"))]
    pub duration_minutes: Option<u32>,
    /// Where it goes, 1 for first; absent: last.
    #[validate(range(min = 1, max = 200, message = "must be 1 to 200"))]
    pub position: Option<usize>,
}

/// `PATCH /v1/courses/{courseId}/lessons/{lessonId}`: absent fields are unchanged;
/// `null` clears an optional one; `position` moves the lesson.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LessonPatch {
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub summary: Option<Option<String>>,
    pub preview: Option<bool>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub video_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub content_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(range(min = 1, max = 1440, message = "must be 1 to 1440"))]
    pub duration_minutes: Option<Option<u32>>,
    #[validate(range(min = 1, max = 200, message = "must be 1 to 200"))]
    pub position: Option<usize>,
}

/// `PUT /v1/courses/{courseId}/enrollments/{userId}`: the instructor enrolls a learner,
/// or changes when their enrollment ends.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollmentGrant {
    /// RFC 3339, in the future and at most 3650 days away; `null`: never; absent: the
    /// course's `accessDays` from now (or never).
    #[serde(default, deserialize_with = "validation::nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<String>>,
}

impl EnrollmentGrant {
    /// The chosen expiry, checked against `now` (epoch seconds).
    pub fn parse(&self, now: i64) -> AppResult<Option<Option<time::OffsetDateTime>>> {
        let Some(chosen) = &self.expires_at else {
            return Ok(None);
        };
        let Some(text) = chosen else {
            return Ok(Some(None));
        };
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                AppError::invalid_field("expiresAt", "must be an RFC 3339 date and time")
            })?;
        let epoch = at.unix_timestamp();
        if epoch <= now {
            return Err(AppError::invalid_field(
                "expiresAt",
                "must be in the future",
            ));
        }
        if epoch > now + i64::from(MAX_ACCESS_DAYS) * 86_400 {
            return Err(AppError::invalid_field(
                "expiresAt",
                "must be at most 3650 days away",
            ));
        }
        Ok(Some(Some(at)))
    }
}

/// `PUT /v1/courses/{courseId}/review`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewInput {
    /// 1 to 5.
    #[validate(range(min = 1, max = 5, message = "must be 1 to 5"))]
    pub rating: u8,
    #[validate(length(max = 5000), custom(function = "validation::plain_text"))]
    pub text: Option<String>,
}

/// How the catalog is read: newest first, or one category's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catalog {
    Newest,
    Category(String),
}

impl Catalog {
    pub fn parse(category: Option<&str>) -> AppResult<Self> {
        match category {
            None => Ok(Catalog::Newest),
            Some(category) => {
                validation::slug(category).map_err(|_| {
                    AppError::bad_field("category", "must be 2-40 of a-z, 0-9 and -")
                })?;
                Ok(Catalog::Category(category.to_owned()))
            }
        }
    }

    pub fn cursor_scope(&self) -> String {
        match self {
            Catalog::Newest => "courses".into(),
            Catalog::Category(category) => format!("courses:category:{category}"),
        }
    }
}
