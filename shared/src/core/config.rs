//! Typed configuration, read from the environment once at cold start.
//!
//! The same binary runs in AWS, under `cargo lambda watch` and in the local stack, so
//! configuration comes only from environment variables. A missing or malformed value
//! fails the cold start with a message naming the variable.
//!
//! Secrets are never in the environment: a variable names a Secrets Manager secret
//! (`*_SECRET_ID`, a name or an ARN). The variable is checked at cold start; the value
//! is read once per execution environment: by the first request that needs it, or,
//! in an environment Lambda initializes ahead of demand (provisioned concurrency), in the
//! background from the cold start on (see [`Secret`]). An on-demand cold start itself
//! makes no network call, so it stays as short as a function without secrets; a rotated
//! secret takes effect in environments started after the rotation.

use std::env;
use std::sync::Arc;

use tokio::sync::OnceCell;

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

/// Reads the secrets the environment names.
#[derive(Debug, Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    /// With the function's SDK configuration (region, credentials, and
    /// `AWS_ENDPOINT_URL*` against the local stack).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    /// The secret that variable `name` names (read as [`Secret::get`] says); `None`
    /// when the variable is unset or blank. The value must be a string of at least
    /// `min_len` bytes.
    pub fn optional(&self, name: &'static str, min_len: usize) -> Option<Secret> {
        let id = optional(name)?;
        let secret = Secret {
            source: Some(Arc::new(SecretSource {
                client: self.client.clone(),
                name,
                id,
                min_len,
            })),
            value: Arc::new(OnceCell::new()),
        };
        secret.prefetch();
        Some(secret)
    }

    /// As [`optional`](Self::optional), for a variable that must be set.
    pub fn required(&self, name: &'static str, min_len: usize) -> Result<Secret, ConfigError> {
        self.optional(name, min_len)
            .ok_or(ConfigError::Missing(name))
    }
}

/// A secret's value, read from Secrets Manager at most once per execution environment:
/// by its first caller, or from init where Lambda initializes ahead of demand (see
/// `prefetch`). A failed read is retried by the next caller, never cached.
#[derive(Clone)]
pub struct Secret {
    source: Option<Arc<SecretSource>>,
    value: Arc<OnceCell<Arc<str>>>,
}

struct SecretSource {
    client: aws_sdk_secretsmanager::Client,
    name: &'static str,
    id: String,
    min_len: usize,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "Secret({} = {})", source.name, source.id),
            None => f.write_str("Secret(<fixed>)"),
        }
    }
}

impl Secret {
    /// A value known up front (tests, and tools that sign with a key they hold).
    pub fn fixed(value: impl Into<Arc<str>>) -> Self {
        Self {
            source: None,
            value: Arc::new(OnceCell::new_with(Some(value.into()))),
        }
    }

    /// The value: at once when it has been read, otherwise after the read in flight
    /// (or a new one, when the last failed). A failure names the variable and the
    /// secret, in the log and in the error.
    pub async fn get(&self) -> Result<Arc<str>, ConfigError> {
        let source = self.source.clone();
        self.value
            .get_or_try_init(|| async move {
                match source {
                    Some(source) => source.read().await,
                    None => Err(ConfigError::Invalid {
                        name: "secret",
                        reason: "a fixed secret has no value".into(),
                    }),
                }
            })
            .await
            .cloned()
    }

    /// In an environment initialized ahead of demand (Lambda sets
    /// `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`), starts the read in the
    /// background, so the first request finds the value; its init is off any request's
    /// path. An on-demand environment reads on first use instead: its init is on the
    /// first request's path, and a read started there would only compete with it.
    fn prefetch(&self) {
        let ahead_of_demand = optional("AWS_LAMBDA_INITIALIZATION_TYPE")
            .is_some_and(|kind| kind == "provisioned-concurrency");
        if ahead_of_demand && tokio::runtime::Handle::try_current().is_ok() {
            let secret = self.clone();
            tokio::spawn(async move {
                // A failure is logged by `read` and retried by the first caller.
                let _ = secret.get().await;
            });
        }
    }
}

impl SecretSource {
    async fn read(&self) -> Result<Arc<str>, ConfigError> {
        let (name, id, min_len) = (self.name, &self.id, self.min_len);
        let output = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|source| ConfigError::Secret {
                name,
                id: id.clone(),
                source: Box::new(source),
            });
        let value = output.and_then(|output| match output.secret_string() {
            Some(value) if value.len() >= min_len => Ok(Arc::from(value)),
            Some(_) => Err(ConfigError::Invalid {
                name,
                reason: format!("secret {id} must hold at least {min_len} bytes"),
            }),
            None => Err(ConfigError::Invalid {
                name,
                reason: format!("secret {id} has no string value"),
            }),
        });
        // One readable JSON line in the function's log per failed read.
        value.inspect_err(|error| tracing::error!(%error, "configuration failed"))
    }
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// HS256 with a shared key (the local stack, or a token issuer sharing the key),
    /// read from the Secrets Manager secret `JWT_HS256_SECRET_ID` names.
    pub hs256_secret: Option<Secret>,
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
    /// Reads the variables; the HS256 key (with `JWT_HS256_SECRET_ID`) is read from
    /// Secrets Manager as [`Secret::get`] says.
    pub fn from_env(secrets: &Secrets) -> Result<Self, ConfigError> {
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
            hs256_secret: secrets.optional("JWT_HS256_SECRET_ID", 32),
            jwks_url,
            roles_claim,
        })
    }
}

/// Automatic moderation, as the moderation worker applies it: `ENABLE_AUTO_MODERATION`
/// (`true` or `false`; default `true`) and `MODERATION_CONFIDENCE_THRESHOLD` (above 0
/// and at most 1; default 0.8), the template's `EnableAutoModeration` and
/// `ModerationConfidenceThreshold` parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModerationConfig {
    pub enabled: bool,
    pub threshold: f64,
}

impl ModerationConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(
            optional("ENABLE_AUTO_MODERATION").as_deref(),
            optional("MODERATION_CONFIDENCE_THRESHOLD").as_deref(),
        )
    }

    /// The settings from the two variables' values (`None`: unset). Pure.
    pub fn parse(enabled: Option<&str>, threshold: Option<&str>) -> Result<Self, ConfigError> {
        let enabled = match enabled.map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "ENABLE_AUTO_MODERATION",
                    reason: "must be true or false".into(),
                });
            }
        };
        let threshold = match threshold {
            None => 0.8,
            Some(raw) => raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| *t > 0.0 && *t <= 1.0)
                .ok_or(ConfigError::Invalid {
                    name: "MODERATION_CONFIDENCE_THRESHOLD",
                    reason: "must be a number above 0 and at most 1".into(),
                })?,
        };
        Ok(Self { enabled, threshold })
    }
}

/// Reports: `REPORT_THRESHOLD`, how many different people must report an item before
/// it is hidden until reviewed (1 to 1,000; default 3), the template's
/// `ReportThreshold` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportConfig {
    pub threshold: u32,
}

impl ReportConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(optional("REPORT_THRESHOLD").as_deref())
    }

    /// The settings from the variable's value (`None`: unset). Pure.
    pub fn parse(threshold: Option<&str>) -> Result<Self, ConfigError> {
        let threshold = match threshold {
            None => 3,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|t| (1..=1000).contains(t))
                .ok_or(ConfigError::Invalid {
                    name: "REPORT_THRESHOLD",
                    reason: "must be a whole number from 1 to 1000".into(),
                })?,
        };
        Ok(Self { threshold })
    }
}

/// Configuration of an HTTP endpoint-group function.
#[derive(Clone)]
pub struct ApiConfig {
    pub table_name: String,
    pub jwt: JwtConfig,
    pub cursor_secret: Secret,
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
    /// Reads the variables; the cursor key (`CURSOR_SECRET_ID`) and the JWT settings'
    /// secret are read from Secrets Manager as [`Secret::get`] says, with the
    /// function's one SDK configuration.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let table_name = required("TABLE_NAME")?;
        let write_limit = crate::core::rate_limit::RatePolicy::from_env(
            "RATE_LIMIT_WRITES",
            DEFAULT_WRITE_LIMIT,
        )?;
        // Fail on a missing variable before any request to Secrets Manager.
        required("CURSOR_SECRET_ID")?;
        let secrets = Secrets::new(sdk);
        let jwt = JwtConfig::from_env(&secrets)?;
        let cursor_secret = secrets.required("CURSOR_SECRET_ID", 32)?;
        Ok(Self {
            table_name,
            jwt,
            cursor_secret,
            write_limit,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderation_settings_default_to_on_at_0_8_and_refuse_what_they_cannot_mean() {
        let default = ModerationConfig::parse(None, None).unwrap();
        let off = ModerationConfig::parse(Some("false"), Some("0.95")).unwrap();

        assert_eq!(
            default,
            ModerationConfig {
                enabled: true,
                threshold: 0.8
            }
        );
        assert_eq!(
            off,
            ModerationConfig {
                enabled: false,
                threshold: 0.95
            }
        );
        for (enabled, threshold) in [
            (Some("yes"), None),
            (None, Some("0")),
            (None, Some("1.5")),
            (None, Some("high")),
        ] {
            assert!(
                ModerationConfig::parse(enabled, threshold).is_err(),
                "{enabled:?} {threshold:?}"
            );
        }
    }

    #[test]
    fn the_report_threshold_defaults_to_3_and_refuses_what_it_cannot_mean() {
        assert_eq!(ReportConfig::parse(None).unwrap().threshold, 3);
        assert_eq!(ReportConfig::parse(Some(" 5 ")).unwrap().threshold, 5);
        for raw in ["0", "1001", "-1", "two", "2.5", ""] {
            assert!(ReportConfig::parse(Some(raw)).is_err(), "{raw:?}");
        }
    }
}
