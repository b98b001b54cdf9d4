//! Feed: input types and their validation.

use super::*;

/// Longest text of an activity, share message or comment.
pub const MAX_TEXT_CHARS: u64 = 2000;

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
pub(super) struct LessonObject {
    #[validate(length(min = 1, max = 64), custom(function = "reference"))]
    pub(super) lesson_id: String,
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub(super) title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub(super) course_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub(super) url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BadgeObject {
    #[validate(length(min = 1, max = 64), custom(function = "reference"))]
    pub(super) badge_id: String,
    #[validate(
        length(min = 1, max = 100),
        custom(function = "validation::single_line")
    )]
    pub(super) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub(super) image_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct GoalObject {
    #[validate(
        length(min = 1, max = 280),
        custom(function = "validation::single_line")
    )]
    pub(super) goal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "calendar_date"))]
    pub(super) target_date: Option<String>,
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

pub(super) fn invalid(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Ids of the client's own domain (lessons, badges): printable, no key separator.
pub(super) fn reference(value: &str) -> Result<(), ValidationError> {
    if value.chars().all(|c| c.is_ascii_graphic() && c != '#') {
        Ok(())
    } else {
        Err(invalid(
            "reference",
            "must be printable ASCII without spaces or '#'",
        ))
    }
}

pub(super) fn calendar_date(value: &str) -> Result<(), ValidationError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|_| ())
        .map_err(|_| invalid("date", "must be a date as YYYY-MM-DD"))
}

pub(super) fn non_blank_text(value: &str) -> Result<(), ValidationError> {
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

// ---------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------

pub(super) fn parse_time(rfc3339: &str) -> AppResult<time::OffsetDateTime> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map_err(|e| AppError::internal(format!("bad timestamp {rfc3339}: {e}")))
}

/// A valid activity id is a ULID (it becomes part of keys).
pub fn parse_activity_id(raw: &str) -> AppResult<String> {
    ulid::Ulid::from_string(raw)
        .map(|id| id.to_string())
        .map_err(|_| AppError::NotFound(format!("no activity {raw}")))
}
