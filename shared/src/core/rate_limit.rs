//! Per-user rate limits, the pure part: policies (`quota` calls per `window` seconds,
//! fixed windows), read from the environment, the decision for a count, and the
//! `RateLimit-Policy` / `RateLimit` header values of the IETF httpapi draft
//! (draft-ietf-httpapi-ratelimit-headers): `"<name>";q=<quota>;w=<window>` and
//! `"<name>";r=<remaining>;t=<seconds to reset>`. The counting (one UpdateItem) is
//! the table layer's (`table::rate_limit`).

use std::collections::BTreeMap;

use crate::core::config::{self, ConfigError};
use crate::core::error::AppError;

/// At most `quota` calls per user in each fixed `window_seconds` window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePolicy {
    /// Names the policy in the headers and keys the counter (one budget per name).
    pub name: String,
    pub quota: u32,
    pub window_seconds: i64,
}

impl RatePolicy {
    /// `"<quota>/<window seconds>"`, both positive integers (e.g. `120/60`).
    pub fn parse(name: &str, spec: &str) -> Result<Self, String> {
        let (quota, window) = spec
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{spec:?} is not <quota>/<window seconds>"))?;
        let quota: u32 = quota
            .trim()
            .parse()
            .map_err(|_| format!("quota {quota:?} is not a positive integer"))?;
        let window_seconds: i64 = window
            .trim()
            .parse()
            .map_err(|_| format!("window {window:?} is not a positive integer"))?;
        if quota == 0 || window_seconds <= 0 {
            return Err(format!("{spec:?}: quota and window must be positive"));
        }
        Ok(Self {
            name: name.to_owned(),
            quota,
            window_seconds,
        })
    }

    /// `"<name>=<quota>/<window seconds>"` (e.g. `profiles=120/60`): one named policy.
    pub fn parse_named(spec: &str) -> Result<Self, String> {
        let (name, limit) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?} is not <name>=<quota>/<window seconds>"))?;
        let name = name.trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "policy name {name:?}: letters, digits, - and _ only"
            ));
        }
        Self::parse(name, limit)
    }

    /// The named policy in `variable` (`<name>=<quota>/<window>`), or `default` (in
    /// the same form) when it is unset. A malformed value fails the cold start.
    pub fn from_env(variable: &'static str, default: &str) -> Result<Self, ConfigError> {
        let spec = config::optional(variable).unwrap_or_else(|| default.to_owned());
        Self::parse_named(&spec).map_err(|reason| ConfigError::Invalid {
            name: variable,
            reason,
        })
    }

    /// The start (epoch seconds) of the window holding `now`.
    pub fn window_start(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.window_seconds)
    }

    /// `RateLimit-Policy`: `"<name>";q=<quota>;w=<window>`.
    pub fn policy_header(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.name, self.quota, self.window_seconds
        )
    }
}

/// Named policies, e.g. one per WebSocket action: `name=<quota>/<window>,...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePolicies(BTreeMap<String, RatePolicy>);

impl RatePolicies {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut policies = BTreeMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, limit) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not <name>=<quota>/<window seconds>"))?;
            let policy = RatePolicy::parse_named(&format!("{}={limit}", name.trim()))?;
            policies.insert(policy.name.clone(), policy);
        }
        Ok(Self(policies))
    }

    /// The policies in `variable`, each replacing the one of the same name in
    /// `defaults`. A malformed value fails the cold start.
    pub fn from_env(variable: &'static str, defaults: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::Invalid {
            name: variable,
            reason,
        };
        let mut policies = Self::parse(defaults).map_err(invalid)?;
        if let Some(spec) = config::optional(variable) {
            policies.0.extend(Self::parse(&spec).map_err(invalid)?.0);
        }
        Ok(policies)
    }

    pub fn get(&self, name: &str) -> Option<&RatePolicy> {
        self.0.get(name)
    }
}

/// What a policy decides about one call, given the calls already counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Calls left in this window after this one.
    pub remaining: u32,
    /// Seconds until the window resets (at least 1).
    pub reset_seconds: i64,
}

impl RateDecision {
    /// `counted`: the calls of this window including this one when allowed (the count
    /// after the increment), or `None` when the counter refused it (the quota is used).
    pub fn of(policy: &RatePolicy, counted: Option<u64>, now: i64) -> Self {
        let reset_seconds = (policy.window_start(now) + policy.window_seconds - now).max(1);
        match counted {
            Some(count) => Self {
                allowed: true,
                remaining: u32::try_from(u64::from(policy.quota).saturating_sub(count))
                    .unwrap_or(0),
                reset_seconds,
            },
            None => Self {
                allowed: false,
                remaining: 0,
                reset_seconds,
            },
        }
    }

    /// The decision on one more call when `read` calls of this window were counted
    /// already (a count read before the call, which is counted only if it succeeds).
    pub fn of_read(policy: &RatePolicy, read: u64, now: i64) -> Self {
        if read < u64::from(policy.quota) {
            Self::of(policy, Some(read + 1), now)
        } else {
            Self::of(policy, None, now)
        }
    }

    /// `RateLimit`: `"<name>";r=<remaining>;t=<seconds>`.
    pub fn header(&self, policy: &RatePolicy) -> String {
        format!(
            "\"{}\";r={};t={}",
            policy.name, self.remaining, self.reset_seconds
        )
    }

    /// The 429 for a refused call (`Retry-After` is the reset).
    pub fn refusal(&self) -> AppError {
        AppError::RateLimited {
            retry_after_seconds: u64::try_from(self.reset_seconds).unwrap_or(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_read_before_the_call_allows_it_until_the_quota_is_reached() {
        let policy = RatePolicy::parse("posts", "10/3600").unwrap();

        let ninth = RateDecision::of_read(&policy, 9, 7_200);
        let eleventh = RateDecision::of_read(&policy, 10, 7_200);

        assert!(ninth.allowed);
        assert_eq!(ninth.remaining, 0);
        assert!(!eleventh.allowed);
        assert_eq!(eleventh.reset_seconds, 3_600);
    }

    #[test]
    fn a_policy_is_a_positive_quota_over_a_positive_window() {
        let policy = RatePolicy::parse("writes", " 120 / 60 ").unwrap();

        assert_eq!((policy.quota, policy.window_seconds), (120, 60));
        for bad in ["", "120", "0/60", "10/0", "-1/60", "a/60", "10/b", "10/-5"] {
            assert!(RatePolicy::parse("writes", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_named_policy_names_its_group() {
        let policy = RatePolicy::parse_named("chat-writes=100/60").unwrap();

        assert_eq!(policy.name, "chat-writes");
        assert_eq!(policy.quota, 100);
        for bad in ["100/60", "=100/60", "a b=1/1", "x\"y=1/1", "q=0/60"] {
            assert!(RatePolicy::parse_named(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn named_policies_override_their_defaults_one_by_one() {
        let mut policies = RatePolicies::parse("typing=30/60, setPresence=10/60").unwrap();
        policies
            .0
            .extend(RatePolicies::parse("typing=5/10").unwrap().0);

        assert_eq!(policies.get("typing").map(|p| p.quota), Some(5));
        assert_eq!(policies.get("setPresence").map(|p| p.quota), Some(10));
        assert!(RatePolicies::parse("typing").is_err());
        assert!(RatePolicies::parse("typing=5").is_err());
    }

    #[test]
    fn the_decision_counts_down_and_resets_at_the_end_of_the_fixed_window() {
        let policy = RatePolicy::parse("writes", "3/60").unwrap();
        let now = 1_800_000_015; // 15 s into a minute window

        let first = RateDecision::of(&policy, Some(1), now);
        let last = RateDecision::of(&policy, Some(3), now);
        let refused = RateDecision::of(&policy, None, now);

        assert_eq!((first.allowed, first.remaining), (true, 2));
        assert_eq!((last.allowed, last.remaining), (true, 0));
        assert!(!refused.allowed);
        assert_eq!(first.reset_seconds, 45);
        assert_eq!(
            refused.refusal().to_problem(None).detail,
            "retry after 45 s"
        );
    }

    #[test]
    fn headers_follow_the_ietf_draft_structured_fields() {
        let policy = RatePolicy::parse("chat-writes", "100/60").unwrap();
        let decision = RateDecision::of(&policy, Some(58), 1_800_000_030);

        assert_eq!(policy.policy_header(), "\"chat-writes\";q=100;w=60");
        assert_eq!(decision.header(&policy), "\"chat-writes\";r=42;t=30");
    }
}
