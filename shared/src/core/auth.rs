//! Bearer-token authentication with `jsonwebtoken`.
//!
//! Two modes share one code path: HS256 with a shared secret (local stack, tests, demo
//! tokens) and RS256 with keys from an OIDC provider's JWKS (Cognito and friends). The
//! issuer and audience are always checked and expiry is always enforced; the subject
//! becomes the [`UserId`], the configured claim becomes the roles.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use tokio::sync::RwLock;

use crate::core::config::JwtConfig;
use crate::core::error::AppError;
use crate::core::ids::UserId;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub roles: Vec<String>,
    /// The token's `iat` (epoch seconds), when it has one: a deleted account refuses
    /// tokens issued before its deletion.
    pub issued_at: Option<i64>,
    /// The token's `exp` (epoch seconds; verification requires it).
    pub expires_at: i64,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The last second the token is honoured: its `exp` plus the clock leeway that
    /// verification allows. A WebSocket opened with the token is closed after it.
    pub fn honoured_until(&self) -> i64 {
        honoured_until(self.expires_at)
    }
}

/// The last second a token expiring at `exp` is honoured (`exp` plus the leeway).
pub fn honoured_until(exp: i64) -> i64 {
    exp.saturating_add(i64::try_from(CLOCK_LEEWAY_SECONDS).unwrap_or(0))
}

/// Why a token was refused. Details go to the log; the client sees one generic message
/// per kind so a forger learns nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing => AppError::Unauthorized("a bearer token is required".into()),
            AuthError::Expired => AppError::Unauthorized("the token has expired".into()),
            AuthError::Invalid(_) => AppError::Unauthorized("the token is not valid".into()),
            AuthError::KeysUnavailable(cause) => AppError::Internal(cause),
        }
    }
}

/// How long fetched JWKS keys are trusted before a refresh, and the minimum gap between
/// refreshes triggered by an unknown `kid` (so forged kids cannot hammer the provider).
const JWKS_TTL: Duration = Duration::from_secs(3600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Authenticator {
    config: JwtConfig,
    /// Built on the first JWKS fetch (an HS256 stack never builds it, and no cold
    /// start waits for its TLS set-up).
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
    jwks: Arc<RwLock<Option<CachedKeys>>>,
}

struct CachedKeys {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(config: JwtConfig) -> Self {
        Self {
            config,
            http: Arc::new(std::sync::OnceLock::new()),
            jwks: Arc::new(RwLock::new(None)),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            crate::core::tls::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap_or_default()
        })
    }

    /// Verifies an `Authorization` header value (`Bearer <jwt>`).
    pub async fn authenticate_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Invalid("not a bearer token".into()))?;
        self.verify(token.trim()).await
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => {
                let secret =
                    self.config.hs256_secret.as_ref().ok_or_else(|| {
                        AuthError::Invalid("HS256 tokens are not accepted".into())
                    })?;
                let secret = secret
                    .get()
                    .await
                    .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
                DecodingKey::from_secret(secret.as_bytes())
            }
            Algorithm::RS256 => {
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("RS256 token without kid".into()))?;
                self.jwks_key(&kid).await?
            }
            other => return Err(AuthError::Invalid(format!("algorithm {other:?} refused"))),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = CLOCK_LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e.to_string()),
        })?;
        let principal = principal_from_claims(&data.claims, &self.config.roles_claim)?;
        issued_in_the_past(principal.issued_at, crate::core::ids::now_epoch_seconds())?;
        Ok(principal)
    }

    async fn jwks_key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        {
            let cache = self.jwks.read().await;
            if let Some(cached) = cache.as_ref() {
                let fresh = cached.fetched_at.elapsed() < JWKS_TTL;
                if let Some(key) = cached.keys.get(kid).filter(|_| fresh) {
                    return Ok(key.clone());
                }
                if fresh && cached.fetched_at.elapsed() < JWKS_MIN_REFRESH {
                    return Err(AuthError::Invalid(format!("unknown kid {kid}")));
                }
            }
        }
        let url = self
            .config
            .jwks_url
            .as_ref()
            .ok_or_else(|| AuthError::Invalid("RS256 tokens are not accepted".into()))?;
        let set: JwkSet = self
            .http()
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        let found = keys.get(kid).cloned();
        *self.jwks.write().await = Some(CachedKeys {
            keys,
            fetched_at: Instant::now(),
        });
        found.ok_or_else(|| AuthError::Invalid(format!("unknown kid {kid}")))
    }
}

/// How far the issuer's clock may be from ours, for `exp`, `nbf` and `iat`.
pub const CLOCK_LEEWAY_SECONDS: u64 = 30;

/// A token issued in the future (beyond the leeway) is refused: it would outlive a
/// deletion that revoked every token issued before it.
fn issued_in_the_past(issued_at: Option<i64>, now: i64) -> Result<(), AuthError> {
    let leeway = i64::try_from(CLOCK_LEEWAY_SECONDS).unwrap_or(i64::MAX);
    match issued_at {
        Some(iat) if iat > now.saturating_add(leeway) => {
            Err(AuthError::Invalid("iat is in the future".into()))
        }
        _ => Ok(()),
    }
}

fn principal_from_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    roles_claim: &str,
) -> Result<Principal, AuthError> {
    let sub = claims
        .get("sub")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| AuthError::Invalid("sub claim missing".into()))?;
    let user_id = UserId::parse(sub).map_err(|_| AuthError::Invalid("sub is not usable".into()))?;
    let roles = match claims.get(roles_claim) {
        Some(serde_json::Value::Array(values)) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        // Some providers send a space-separated string (OAuth `scope` style).
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let issued_at = claims.get("iat").and_then(serde_json::Value::as_i64);
    // NumericDate may be fractional; whole seconds are enough here.
    let expires_at = claims
        .get("exp")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
        .ok_or_else(|| AuthError::Invalid("exp claim missing".into()))?;
    Ok(Principal {
        user_id,
        roles,
        issued_at,
        expires_at,
    })
}

#[derive(Debug, Serialize)]
struct DevClaims<'a> {
    sub: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    roles: &'a [String],
}

/// Mints an HS256 token, as the local stack does for demo users and tests do for callers.
pub fn mint_hs256(
    secret: &str,
    issuer: &str,
    audience: &str,
    subject: &str,
    roles: &[String],
    ttl: Duration,
) -> Result<String, AppError> {
    let now = crate::core::ids::now_epoch_seconds();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let claims = DevClaims {
        sub: subject,
        iss: issuer,
        aud: audience,
        iat: now,
        exp: now.saturating_add(ttl),
        roles,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-local-secret-that-is-32-bytes-long!!";

    fn authenticator() -> Authenticator {
        Authenticator::new(JwtConfig {
            issuer: "agora-local".into(),
            audience: "agora".into(),
            hs256_secret: Some(crate::core::config::Secret::fixed(SECRET)),
            jwks_url: None,
            roles_claim: "roles".into(),
        })
    }

    fn token(secret: &str, issuer: &str, audience: &str, ttl_secs: i64) -> String {
        let now = crate::core::ids::now_epoch_seconds();
        let claims = serde_json::json!({
            "sub": "user-1", "iss": issuer, "aud": audience,
            "iat": now, "exp": now + ttl_secs, "roles": ["admin"]
        });
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_valid_token_yields_its_subject_and_roles() {
        let principal = authenticator()
            .verify(&token(SECRET, "agora-local", "agora", 300))
            .await
            .unwrap();

        assert_eq!(principal.user_id.as_str(), "user-1");
        assert!(principal.has_role("admin"));
    }

    fn token_with(claims: serde_json::Value) -> String {
        let now = crate::core::ids::now_epoch_seconds();
        let mut all = serde_json::json!({
            "sub": "user-1", "iss": "agora-local", "aud": "agora", "iat": now, "exp": now + 300
        });
        if let (Some(all), Some(extra)) = (all.as_object_mut(), claims.as_object()) {
            all.extend(extra.clone());
        }
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &all,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_token_not_valid_yet_or_issued_in_the_future_is_refused() {
        let now = crate::core::ids::now_epoch_seconds();
        let auth = authenticator();

        let not_yet = auth
            .verify(&token_with(serde_json::json!({"nbf": now + 600})))
            .await;
        let from_the_future = auth
            .verify(&token_with(serde_json::json!({"iat": now + 600})))
            .await;
        let within_leeway = auth
            .verify(&token_with(
                serde_json::json!({"iat": now + 10, "nbf": now + 10}),
            ))
            .await;

        assert!(matches!(not_yet, Err(AuthError::Invalid(_))), "{not_yet:?}");
        assert!(
            matches!(from_the_future, Err(AuthError::Invalid(_))),
            "{from_the_future:?}"
        );
        assert!(within_leeway.is_ok(), "{within_leeway:?}");
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_as_expired() {
        let result = authenticator()
            .verify(&token(SECRET, "agora-local", "agora", -3600))
            .await;

        assert_eq!(result, Err(AuthError::Expired));
    }

    #[tokio::test]
    async fn a_token_signed_with_another_secret_is_refused() {
        let forged = token(
            "another-secret-that-is-also-32-bytes!!",
            "agora-local",
            "agora",
            300,
        );

        let result = authenticator().verify(&forged).await;

        assert!(matches!(result, Err(AuthError::Invalid(_))));
    }

    #[tokio::test]
    async fn a_token_for_another_issuer_or_audience_is_refused() {
        let auth = authenticator();

        let wrong_issuer = auth
            .verify(&token(SECRET, "someone-else", "agora", 300))
            .await;
        let wrong_audience = auth
            .verify(&token(SECRET, "agora-local", "other-app", 300))
            .await;

        assert!(matches!(wrong_issuer, Err(AuthError::Invalid(_))));
        assert!(matches!(wrong_audience, Err(AuthError::Invalid(_))));
    }

    #[tokio::test]
    async fn a_missing_or_non_bearer_header_is_refused() {
        let auth = authenticator();

        assert_eq!(
            auth.authenticate_header(None).await,
            Err(AuthError::Missing)
        );
        assert!(matches!(
            auth.authenticate_header(Some("Basic abc")).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn an_unsigned_token_is_refused() {
        // alg "none": header {"alg":"none","typ":"JWT"}, payload with a valid subject.
        let forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTEifQ.";

        let result = authenticator().verify(forged).await;

        assert!(matches!(result, Err(AuthError::Invalid(_))));
    }

    #[tokio::test]
    async fn a_minted_dev_token_verifies() {
        let minted = mint_hs256(
            SECRET,
            "agora-local",
            "agora",
            "demo-ana",
            &["member".to_owned()],
            Duration::from_secs(60),
        )
        .unwrap();

        let principal = authenticator().verify(&minted).await.unwrap();

        assert_eq!(principal.user_id.as_str(), "demo-ana");
        assert_eq!(principal.roles, vec!["member".to_owned()]);
    }
}
