//! Input validation on top of the `validator` crate: its errors become field-level
//! [`FieldError`]s named as the client sent them (camelCase), plus the few rules
//! `validator` has no attribute for.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::core::error::{AppError, FieldError};

/// Validates a wire DTO; every broken rule is reported, not only the first.
pub fn check<T: Validate>(value: &T) -> Result<(), AppError> {
    value.validate().map_err(|errors| {
        let mut fields = Vec::new();
        collect(&errors, "", &mut fields);
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        AppError::Validation(fields)
    })
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let name = format!("{prefix}{}", camel_case(field));
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(
                list.iter()
                    .map(|e| FieldError::new(name.clone(), message_of(e))),
            ),
            ValidationErrorsKind::Struct(inner) => collect(inner, &format!("{name}."), out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{name}[{index}]."), out);
                }
            }
        }
    }
}

fn message_of(error: &ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            _ => "has an invalid length".to_owned(),
        },
        "url" => "must be a valid URL".to_owned(),
        other => format!("is invalid ({other})"),
    }
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn error(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Slugs (category ids, community slugs): 2-40 of `a-z 0-9 -`, not starting or ending
/// with `-`.
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
        Err(error(
            "slug",
            "must be 2 to 40 characters of a-z, 0-9 and -, not starting or ending with -",
        ))
    }
}

/// Most tags a topic or a community carries.
pub const MAX_TAGS: usize = 10;

/// A tag, without its leading `#`: 1-40 letters, digits, `-` or `_`.
pub fn valid_tag(tag: &str) -> bool {
    (1..=40).contains(&tag.chars().count())
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// Tags: at most [`MAX_TAGS`], each 1-40 letters, digits, `-` or `_` (a leading `#` is
/// dropped).
pub fn tag_list(values: &[String]) -> Result<(), ValidationError> {
    if values.len() > MAX_TAGS {
        return Err(error("count", "must have at most 10 entries"));
    }
    if values
        .iter()
        .any(|t| !valid_tag(t.trim().trim_start_matches('#')))
    {
        return Err(error(
            "tag",
            "each entry must be 1 to 40 letters, digits, - or _",
        ));
    }
    Ok(())
}

/// A tag as it is stored and looked up: trimmed, without `#`, lower case.
pub fn normalize_tag(tag: &str) -> String {
    tag.trim().trim_start_matches('#').to_lowercase()
}

/// An optional text as stored: trimmed, and none when blank.
pub fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Tags as stored: normalized, distinct, in the order given.
pub fn normalized_tags(tags: &[String]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    tags.iter()
        .map(|t| normalize_tag(t))
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

/// Distinguishes "absent" (outer `None`, via `default`) from `null` (`Some(None)`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// No control characters (they break rendering and logs) in free text.
pub fn plain_text(value: &str) -> Result<(), ValidationError> {
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(error("text", "must not contain control characters"));
    }
    Ok(())
}

/// A non-blank single line.
pub fn single_line(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(error("blank", "must not be blank"));
    }
    if value.chars().any(char::is_control) {
        return Err(error(
            "text",
            "must be a single line without control characters",
        ));
    }
    Ok(())
}

/// A list of short labels (skills, interests, tags): each 1-40 characters, one line.
pub fn labels(values: &[String]) -> Result<(), ValidationError> {
    if values.len() > 30 {
        return Err(error("count", "must have at most 30 entries"));
    }
    for value in values {
        let length = value.trim().chars().count();
        if length == 0 || length > 40 || value.contains('#') {
            return Err(error(
                "label",
                "each entry must be 1 to 40 characters, without '#'",
            ));
        }
        single_line(value)?;
    }
    Ok(())
}

/// A list of sentences (learning goals): at most 10, each 1-160 characters.
pub fn sentences(values: &[String]) -> Result<(), ValidationError> {
    if values.len() > 10 {
        return Err(error("count", "must have at most 10 entries"));
    }
    for value in values {
        let length = value.trim().chars().count();
        if length == 0 || length > 160 {
            return Err(error("sentence", "each entry must be 1 to 160 characters"));
        }
        single_line(value)?;
    }
    Ok(())
}

/// An absolute `https` (or `http`) URL, as browsers will fetch it.
pub fn web_url(value: &str) -> Result<(), ValidationError> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Ok(()),
        _ => Err(error("url", "must be an absolute http(s) URL")),
    }
}

/// An IANA time-zone name such as `Europe/Lisbon` or `UTC`.
pub fn timezone(value: &str) -> Result<(), ValidationError> {
    let valid = value.len() <= 64
        && !value.is_empty()
        && value.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
        && value.starts_with(|c: char| c.is_ascii_uppercase());
    if valid {
        Ok(())
    } else {
        Err(error(
            "timezone",
            "must be an IANA time zone such as Europe/Lisbon",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Validate)]
    struct Sample {
        #[validate(length(min = 3, max = 5))]
        display_name: String,
        #[validate(custom(function = "web_url"))]
        avatar_url: String,
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_camel_case_field() {
        let sample = Sample {
            display_name: "ab".into(),
            avatar_url: "ftp://x".into(),
        };

        let Err(AppError::Validation(errors)) = check(&sample) else {
            panic!("expected validation errors");
        };

        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field, "avatarUrl");
        assert_eq!(errors[1].field, "displayName");
        assert_eq!(errors[1].message, "must be 3 to 5 characters long");
    }

    #[test]
    fn labels_refuse_blank_long_and_separator_entries() {
        assert!(labels(&["rust".into(), "Data Science".into()]).is_ok());
        assert!(labels(&[" ".into()]).is_err());
        assert!(labels(&["x".repeat(41)]).is_err());
        assert!(labels(&["a#b".into()]).is_err());
        assert!(labels(&vec!["a".to_owned(); 31]).is_err());
    }

    #[test]
    fn timezones_look_like_iana_names() {
        assert!(timezone("Europe/Lisbon").is_ok());
        assert!(timezone("America/Argentina/Buenos_Aires").is_ok());
        assert!(timezone("UTC").is_ok());
        assert!(timezone("europe/lisbon").is_err());
        assert!(timezone("Europe//Lisbon").is_err());
        assert!(timezone("").is_err());
    }

    #[test]
    fn only_absolute_web_urls_are_accepted() {
        assert!(web_url("https://cdn.example.com/a.png").is_ok());
        assert!(web_url("javascript:alert(1)").is_err());
        assert!(web_url("/relative.png").is_err());
    }
}
