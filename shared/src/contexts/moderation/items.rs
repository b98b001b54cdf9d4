//! Moderation: item types stored in the table (their keys, index keys and entity names), and the views built from them.

#[allow(unused_imports)]
use super::*;

/// A message on the moderation queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ModerationJob {
    /// Check the free text of one version of a profile.
    #[serde(rename_all = "camelCase")]
    ModerateProfile { user_id: UserId, version: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Flagged,
}
