//! Identifier newtypes. Ids Agora mints are ULIDs (sortable by creation time); a user id
//! is the identity provider's `sub` claim, which Agora treats as an opaque token.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::core::error::AppError;

/// The authenticated user's id: the JWT subject.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Subjects are opaque, but they become parts of keys, so `#` (our key separator)
    /// and control characters are refused.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let valid = !raw.is_empty()
            && raw.len() <= 128
            && raw.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@' | '|')
            });
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AppError::bad_field(
                "userId",
                "must be 1-128 characters of letters, digits and - _ . : @ |",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fresh ULID, as a 26-character string.
pub fn new_ulid() -> String {
    ulid::Ulid::new().to_string()
}

/// Current time as RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

pub fn format_rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let millis = at.millisecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        millis
    )
}

/// A bearer secret for a URL: 256 random bits as 43 characters of unpadded base64url.
/// Store only its [`secret_digest`].
pub fn new_secret() -> Result<String, AppError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AppError::internal)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `raw` has the shape of a [`new_secret`] (so a malformed one is never looked up).
pub fn is_secret(raw: &str) -> bool {
    raw.len() == 43
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The SHA-256 of a secret, hex: what is stored and looked up in its place.
pub fn secret_digest(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn now_epoch_seconds() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn now_epoch_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_that_differ_and_are_stored_as_digests() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();

        assert!(is_secret(&a) && is_secret(&b));
        assert_ne!(a, b);
        assert_eq!(secret_digest(&a).len(), 64);
        assert_ne!(secret_digest(&a), secret_digest(&b));
        assert_eq!(secret_digest(&a), secret_digest(&a));
        assert!(!is_secret(&a[1..]), "too short");
        assert!(!is_secret(&format!("{}/", &a[1..])), "not base64url");
    }

    #[test]
    fn a_cognito_style_subject_is_a_valid_user_id() {
        assert!(UserId::parse("3f1c2d4e-1111-2222-3333-444455556666").is_ok());
    }

    #[test]
    fn a_subject_with_the_key_separator_is_refused() {
        assert!(UserId::parse("alice#PROFILE").is_err());
        assert!(UserId::parse("").is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let at = time::macros::datetime!(2026-11-23 09:05:07.123 UTC);
        assert_eq!(format_rfc3339(at), "2026-11-23T09:05:07.123Z");
    }
}
