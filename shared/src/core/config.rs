//! Typed configuration, read from the environment once at cold start.
//!
//! The same binary runs in AWS, under `cargo lambda watch` and in the local stack, so
//! configuration comes only from environment variables. A missing or malformed value
//! fails the cold start with a message naming the variable.
//!
//! Secrets are never in the environment: a variable names a Secrets Manager secret
//! (`*_SECRET_ID`, a name or an ARN) and the configuration reads its value once, at
//! cold start, before the function serves anything. The value then lives in the
//! configuration for the life of the execution environment (a rotated secret takes
//! effect at the next cold start).

use std::env;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("secret {id} (named by {name}) could not be read: {}", reason(.source))]
    Secret {
        name: &'static str,
        id: String,
        #[source]
        source: Box<SdkError<GetSecretValueError>>,
    },
}

/// The service's error code and message (`ResourceNotFoundException: …`), or the whole
/// error context when the request got no answer.
fn reason(error: &SdkError<GetSecretValueError>) -> String {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// Reads the secrets the environment names, each once per cold start.
#[derive(Debug, Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    /// The SDK configuration of the environment (region, credentials, and
    /// `AWS_ENDPOINT_URL*` against the local stack).
    pub async fn from_environment() -> Self {
        Self::new(&aws_config::load_from_env().await)
    }

    /// The string value of the secret that variable `name` names; `None` when the
    /// variable is unset or blank. A secret that cannot be read, or holds no string of
    /// at least `min_len` bytes, is an error naming the variable.
    pub async fn optional(
        &self,
        name: &'static str,
        min_len: usize,
    ) -> Result<Option<String>, ConfigError> {
        let Some(id) = optional(name) else {
            return Ok(None);
        };
        let output = self
            .client
            .get_secret_value()
            .secret_id(&id)
            .send()
            .await
            .map_err(|source| ConfigError::Secret {
                name,
                id: id.clone(),
                source: Box::new(source),
            })
            // One readable JSON line in the function's log before the cold start fails.
            .inspect_err(|error| tracing::error!(%error, "configuration failed"))?;
        match output.secret_string() {
            Some(value) if value.len() >= min_len => Ok(Some(value.to_owned())),
            Some(_) => Err(ConfigError::Invalid {
                name,
                reason: format!("secret {id} must hold at least {min_len} bytes"),
            }),
            None => Err(ConfigError::Invalid {
                name,
                reason: format!("secret {id} has no string value"),
            }),
        }
    }

    /// As [`optional`](Self::optional), for a variable that must be set.
    pub async fn required(
        &self,
        name: &'static str,
        min_len: usize,
    ) -> Result<String, ConfigError> {
        self.optional(name, min_len)
            .await?
            .ok_or(ConfigError::Missing(name))
    }
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// HS256 with a shared key (the local stack, or a token issuer sharing the key),
    /// read from the Secrets Manager secret `JWT_HS256_SECRET_ID` names.
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
    /// Reads the variables, then (with `JWT_HS256_SECRET_ID`) the HS256 key from
    /// Secrets Manager.
    pub async fn from_env(secrets: &Secrets) -> Result<Self, ConfigError> {
        let jwks_url = optional("JWT_JWKS_URL");
        if optional("JWT_HS256_SECRET_ID").is_none() && jwks_url.is_none() {
            return Err(ConfigError::Invalid {
                name: "JWT_JWKS_URL",
                reason: "set JWT_JWKS_URL (OIDC provider) or JWT_HS256_SECRET_ID (a secret holding an HS256 key)".into(),
            });
        }
        let issuer = required("JWT_ISSUER")?;
        let audience = required("JWT_AUDIENCE")?;
        let roles_claim = optional("JWT_ROLES_CLAIM").unwrap_or_else(|| "roles".to_owned());
        Ok(Self {
            issuer,
            audience,
            hs256_secret: secrets.optional("JWT_HS256_SECRET_ID", 32).await?,
            jwks_url,
            roles_claim,
        })
    }
}

/// Configuration of an HTTP endpoint-group function.
#[derive(Clone)]
pub struct ApiConfig {
    pub table_name: String,
    pub jwt: JwtConfig,
    pub cursor_secret: String,
    /// Every write of one user to this endpoint group: `RATE_LIMIT_WRITES`, as
    /// `<group>=<quota>/<window seconds>` (default `writes=120/60`).
    pub write_limit: crate::core::rate_limit::RatePolicy,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("table_name", &self.table_name)
            .field("jwt", &self.jwt)
            .field("cursor_secret", &"<redacted>")
            .field("write_limit", &self.write_limit)
            .finish()
    }
}

impl ApiConfig {
    /// Reads the variables, then the cursor key (`CURSOR_SECRET_ID`) and the JWT
    /// settings' secret from Secrets Manager: once, at cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table_name = required("TABLE_NAME")?;
        // Fail on a missing variable before any request to Secrets Manager.
        required("CURSOR_SECRET_ID")?;
        let secrets = Secrets::from_environment().await;
        // Both secrets at once: one round trip of the cold start, not two.
        let (jwt, cursor_secret) = futures_util::future::try_join(
            JwtConfig::from_env(&secrets),
            secrets.required("CURSOR_SECRET_ID", 32),
        )
        .await?;
        Ok(Self {
            table_name,
            jwt,
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
