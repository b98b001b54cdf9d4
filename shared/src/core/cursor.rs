//! Opaque, tamper-proof pagination cursors.
//!
//! A cursor is DynamoDB's `LastEvaluatedKey`, sealed with XChaCha20-Poly1305 under a key
//! derived from the cursor key (the secret `CURSOR_SECRET_ID` names). The query's scope (endpoint and filters) is the
//! associated data, so a cursor only opens for the query that issued it: a client can
//! neither read keys out of it nor forge or replay one elsewhere.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::core::error::AppError;
use crate::core::ids::UserId;

/// A position in a query: key attribute name to string value (every Agora key is `S`).
pub type PageKey = BTreeMap<String, String>;

/// Page sizes a client may ask for; the default keeps a page one small Query.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Clone)]
pub struct CursorCodec {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(<sealed>)")
    }
}

impl CursorCodec {
    pub fn new(secret: &str) -> Self {
        let key = Sha256::new()
            .chain_update(b"agora-cursor-v1\0")
            .chain_update(secret.as_bytes())
            .finalize();
        Self {
            cipher: XChaCha20Poly1305::new(&key),
        }
    }

    /// Seals `key` for `viewer` and `scope` (the endpoint and its filters): the cursor
    /// opens only for the same user and the same query.
    pub fn seal(&self, viewer: &UserId, scope: &str, key: &PageKey) -> Result<String, AppError> {
        let aad = bound(viewer, scope);
        let plaintext = serde_json::to_vec(key).map_err(AppError::internal)?;
        let mut nonce_bytes = [0u8; 24];
        getrandom::fill(&mut nonce_bytes).map_err(AppError::internal)?;
        let nonce = XNonce::from_slice(&nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(AppError::internal)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a cursor from the `cursor` query parameter; anything that does not open
    /// for this viewer and scope (another user's cursor included) is a 400 naming the
    /// parameter.
    /// The cursor of the next page, when there is one.
    pub fn seal_next(
        &self,
        viewer: &UserId,
        scope: &str,
        next: Option<PageKey>,
    ) -> Result<Option<String>, AppError> {
        next.map(|key| self.seal(viewer, scope, &key)).transpose()
    }

    pub fn open(&self, viewer: &UserId, scope: &str, cursor: &str) -> Result<PageKey, AppError> {
        let aad = bound(viewer, scope);
        let invalid = || AppError::bad_field("cursor", "is not a valid cursor for this query");
        if cursor.len() > 2048 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        if bytes.len() < 24 + 16 {
            return Err(invalid());
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plaintext = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| invalid())?;
        serde_json::from_slice(&plaintext).map_err(|_| invalid())
    }
}

/// The associated data a cursor is sealed with: the viewer, then the scope.
fn bound(viewer: &UserId, scope: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(viewer.as_str().len() + 1 + scope.len());
    aad.extend_from_slice(viewer.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(scope.as_bytes());
    aad
}

/// Reads `limit`: absent means the default; out of range is a 400 naming the parameter.
pub fn parse_limit(raw: Option<&str>) -> Result<u32, AppError> {
    match raw {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                AppError::bad_field(
                    "limit",
                    format!("must be an integer from 1 to {MAX_PAGE_SIZE}"),
                )
            }),
    }
}

/// One page of a list endpoint.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items may follow; pass it back as `cursor`.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ana() -> UserId {
        UserId::parse("ana").unwrap()
    }

    fn key() -> PageKey {
        PageKey::from([
            ("PK".to_owned(), "USER#a".to_owned()),
            ("SK".to_owned(), "PROFILE".to_owned()),
        ])
    }

    #[test]
    fn a_sealed_cursor_opens_to_the_same_key_under_its_scope() {
        let codec = CursorCodec::new("a-cursor-secret-of-at-least-32-bytes");

        let cursor = codec.seal(&ana(), "search:name=an", &key()).unwrap();

        assert_eq!(
            codec.open(&ana(), "search:name=an", &cursor).unwrap(),
            key()
        );
    }

    #[test]
    fn a_cursor_reveals_nothing_of_its_key() {
        let codec = CursorCodec::new("a-cursor-secret-of-at-least-32-bytes");

        let cursor = codec.seal(&ana(), "s", &key()).unwrap();

        assert!(!cursor.contains("USER"));
        assert!(
            URL_SAFE_NO_PAD
                .decode(&cursor)
                .unwrap()
                .windows(4)
                .all(|w| w != b"USER")
        );
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let codec = CursorCodec::new("a-cursor-secret-of-at-least-32-bytes");
        let cursor = codec.seal(&ana(), "s", &key()).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;

        let result = codec.open(&ana(), "s", &URL_SAFE_NO_PAD.encode(bytes));

        assert!(matches!(result, Err(AppError::BadRequest { .. })));
    }

    #[test]
    fn a_cursor_from_another_query_or_secret_is_refused() {
        let codec = CursorCodec::new("a-cursor-secret-of-at-least-32-bytes");
        let other = CursorCodec::new("another-cursor-secret-32-bytes-long!");
        let cursor = codec.seal(&ana(), "search:name=an", &key()).unwrap();

        assert!(codec.open(&ana(), "search:skill=rust", &cursor).is_err());
        assert!(other.open(&ana(), "search:name=an", &cursor).is_err());
        assert!(
            codec
                .open(&ana(), "search:name=an", "not base64 !!")
                .is_err()
        );
        assert!(codec.open(&ana(), "search:name=an", "").is_err());
    }

    #[test]
    fn another_users_cursor_for_the_same_query_is_refused() {
        let codec = CursorCodec::new("a-cursor-secret-of-at-least-32-bytes");
        let bea = UserId::parse("bea").unwrap();
        let cursor = codec.seal(&ana(), "feed", &key()).unwrap();

        let replayed = codec.open(&bea, "feed", &cursor);

        assert!(matches!(replayed, Err(AppError::BadRequest { .. })));
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(parse_limit(Some("5")).unwrap(), 5);
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("101")).is_err());
        assert!(parse_limit(Some("ten")).is_err());
    }
}
