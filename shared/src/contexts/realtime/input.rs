//! Realtime: input types and their validation.

#[allow(unused_imports)]
use super::*;

/// Connection ids come from API Gateway; they become parts of keys.
pub fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | '-' | '_' | '+' | '/'))
}
