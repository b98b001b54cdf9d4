//! Trust levels, as in Discourse: what an account's level lets it do. The moderation
//! context computes the level from the stats the stream keeps; the limits live here so
//! that every context applies the same ones.

use serde::{Deserialize, Serialize};

/// An account's trust level, 0 (new) to 3 (regular). New accounts get the strictest
/// limits; they relax as the level rises.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct TrustLevel(u8);

impl TrustLevel {
    /// A new account.
    pub const NEW: Self = Self(0);
    pub const BASIC: Self = Self(1);
    pub const MEMBER: Self = Self(2);
    pub const REGULAR: Self = Self(3);

    /// The level of this number, capped at the highest.
    pub fn of(level: u8) -> Self {
        Self(level.min(Self::REGULAR.0))
    }

    pub fn number(self) -> u8 {
        self.0
    }

    /// What an account of this level may do.
    pub fn limits(self) -> TrustLimits {
        match self.0 {
            0 => TrustLimits {
                posts_per_hour: 10,
                links_per_post: Some(2),
                stranger_dms_per_day: Some(0),
            },
            1 => TrustLimits {
                posts_per_hour: 30,
                links_per_post: Some(5),
                stranger_dms_per_day: Some(10),
            },
            2 => TrustLimits {
                posts_per_hour: 60,
                links_per_post: Some(10),
                stranger_dms_per_day: None,
            },
            _ => TrustLimits {
                posts_per_hour: 120,
                links_per_post: None,
                stranger_dms_per_day: None,
            },
        }
    }
}

impl std::fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The limits of one trust level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrustLimits {
    /// Topics, replies, activities and comments written per clock hour.
    pub posts_per_hour: u32,
    /// Links in one post; none is no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links_per_post: Option<u32>,
    /// New direct conversations a day with people one is not connected to (0: none);
    /// none is no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stranger_dms_per_day: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_relaxes_or_stays_as_the_level_rises() {
        let levels = [0, 1, 2, 3].map(|l| TrustLevel::of(l).limits());
        let unlimited = |limit: Option<u32>| limit.unwrap_or(u32::MAX);

        for pair in levels.windows(2) {
            assert!(pair[0].posts_per_hour < pair[1].posts_per_hour);
            assert!(unlimited(pair[0].links_per_post) <= unlimited(pair[1].links_per_post));
            assert!(
                unlimited(pair[0].stranger_dms_per_day) <= unlimited(pair[1].stranger_dms_per_day)
            );
        }
        assert_eq!(levels[0].stranger_dms_per_day, Some(0));
        assert_eq!(TrustLevel::of(9), TrustLevel::REGULAR);
    }
}
