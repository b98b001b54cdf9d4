//! Profiles: input types and their validation.

use super::*;

// ---------------------------------------------------------------------------------
// Wire DTOs
// ---------------------------------------------------------------------------------

/// `POST /v1/profiles`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProfile {
    pub handle: String,
    #[validate(
        length(min = 1, max = 80),
        custom(function = "validation::single_line")
    )]
    pub display_name: String,
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub bio: Option<String>,
    #[validate(length(max = 120), custom(function = "validation::single_line"))]
    pub headline: Option<String>,
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub occupation: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "validation::labels"))]
    pub skills: Vec<String>,
    #[serde(default)]
    #[validate(custom(function = "validation::labels"))]
    pub interests: Vec<String>,
    #[serde(default)]
    #[validate(custom(function = "validation::sentences"))]
    pub learning_goals: Vec<String>,
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub avatar_url: Option<String>,
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub location: Option<String>,
    #[validate(custom(function = "validation::timezone"))]
    pub timezone: Option<String>,
    /// Optional at creation; absent means the privacy-first defaults.
    pub privacy: Option<PrivacySettings>,
}

/// `PATCH /v1/me`: an absent field is unchanged, `null` clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilePatch {
    pub handle: Option<String>,
    #[validate(
        length(min = 1, max = 80),
        custom(function = "validation::single_line")
    )]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 120), custom(function = "validation::single_line"))]
    pub headline: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub occupation: Option<Option<String>>,
    #[validate(custom(function = "validation::labels"))]
    pub skills: Option<Vec<String>>,
    #[validate(custom(function = "validation::labels"))]
    pub interests: Option<Vec<String>>,
    #[validate(custom(function = "validation::sentences"))]
    pub learning_goals: Option<Vec<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(custom(function = "validation::timezone"))]
    pub timezone: Option<Option<String>>,
}

/// What to search public profiles by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSearch {
    NamePrefix(String),
    Skill(String),
}

impl ProfileSearch {
    pub fn parse(name: Option<&str>, skill: Option<&str>) -> AppResult<Self> {
        match (name, skill) {
            (Some(_), Some(_)) => Err(AppError::bad_field(
                "q",
                "search by q or by skill, not both",
            )),
            (Some(q), None) => {
                let normalized = normalize_name(q);
                if normalized.is_empty() || normalized.chars().count() > 80 {
                    return Err(AppError::bad_field("q", "must be 1 to 80 characters"));
                }
                Ok(Self::NamePrefix(normalized))
            }
            (None, Some(skill)) => {
                let normalized = normalize_label(skill);
                if normalized.is_empty()
                    || normalized.chars().count() > 40
                    || normalized.contains('#')
                {
                    return Err(AppError::bad_field("skill", "must be 1 to 40 characters"));
                }
                Ok(Self::Skill(normalized))
            }
            (None, None) => Err(AppError::bad_field("q", "give q (name prefix) or skill")),
        }
    }

    pub(super) fn scope(&self) -> String {
        match self {
            Self::NamePrefix(q) => format!("profiles/search/name/{q}"),
            Self::Skill(s) => format!("profiles/search/skill/{s}"),
        }
    }
}
