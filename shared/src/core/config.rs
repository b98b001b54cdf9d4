//! Typed configuration, read from the environment once at cold start.
//!
//! The same binary runs in AWS, under `cargo lambda watch` and in the local stack, so
//! configuration comes only from environment variables. A missing or malformed value
//! fails the cold start with a message naming the variable.

use std::env;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// Local/dev: HS256 with a shared secret.
    pub hs256_secret: Option<String>,
    /// Production: RS256 keys from an OIDC provider's JWKS (e.g. Cognito).
    pub jwks_url: Option<String>,
    /// The claim that lists the caller's roles (`cognito:groups` for Cognito).
    pub roles_claim: String,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwks_url", &self.jwks_url)
            .field("roles_claim", &self.roles_claim)
            .finish()
    }
}

impl JwtConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let hs256_secret = optional("JWT_HS256_SECRET");
        let jwks_url = optional("JWT_JWKS_URL");
        if hs256_secret.is_none() && jwks_url.is_none() {
            return Err(ConfigError::Invalid {
                name: "JWT_HS256_SECRET",
                reason: "set JWT_HS256_SECRET (local) or JWT_JWKS_URL (OIDC provider)".into(),
            });
        }
        if let Some(secret) = &hs256_secret
            && secret.len() < 32
        {
            return Err(ConfigError::Invalid {
                name: "JWT_HS256_SECRET",
                reason: "must be at least 32 bytes".into(),
            });
        }
        Ok(Self {
            issuer: required("JWT_ISSUER")?,
            audience: required("JWT_AUDIENCE")?,
            hs256_secret,
            jwks_url,
            roles_claim: optional("JWT_ROLES_CLAIM").unwrap_or_else(|| "roles".to_owned()),
        })
    }
}

/// Configuration of an HTTP endpoint-group function.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table_name: String,
    pub jwt: JwtConfig,
    pub cursor_secret: String,
    /// Every write of one user to this endpoint group: `RATE_LIMIT_WRITES`, as
    /// `<group>=<quota>/<window seconds>` (default `writes=120/60`).
    pub write_limit: crate::core::rate_limit::RatePolicy,
}

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let cursor_secret = required("CURSOR_SECRET")?;
        if cursor_secret.len() < 32 {
            return Err(ConfigError::Invalid {
                name: "CURSOR_SECRET",
                reason: "must be at least 32 bytes".into(),
            });
        }
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            jwt: JwtConfig::from_env()?,
            cursor_secret,
            write_limit: crate::core::rate_limit::RatePolicy::from_env(
                "RATE_LIMIT_WRITES",
                DEFAULT_WRITE_LIMIT,
            )?,
        })
    }
}

/// Each user's writes per endpoint group when `RATE_LIMIT_WRITES` is unset.
pub const DEFAULT_WRITE_LIMIT: &str = "writes=120/60";

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// A variable that is unset or blank counts as absent (CloudFormation passes "" for
/// parameters left at an empty default).
pub fn optional(name: &'static str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// An optional positive integer variable; unset means `default`.
pub fn optional_number<T: std::str::FromStr + PartialOrd + Default>(
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match optional(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .ok()
            .filter(|v| *v > T::default())
            .ok_or(ConfigError::Invalid {
                name,
                reason: "must be a positive integer".into(),
            }),
    }
}
