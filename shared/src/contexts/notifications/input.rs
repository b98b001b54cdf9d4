//! Notifications: input types and their validation.

use super::*;

/// `PUT /v1/notifications/preferences`: the complete set of muted types.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferencesInput {
    pub muted: Vec<NotificationType>,
}

/// The attributes of the source items (connections, discussions) this module reads, as
/// the issue-3 item contract names them. Everything is optional: a record that lacks
/// what a rule needs simply produces no notification.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Source {
    #[serde(rename = "PK", default)]
    pub(super) pk: String,
    #[serde(rename = "SK", default)]
    pub(super) sk: String,
    #[serde(default)]
    pub(super) entity: String,
    pub(super) sender_id: Option<String>,
    pub(super) target_id: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) other_user_id: Option<String>,
    pub(super) requested_by: Option<String>,
    pub(super) topic_id: Option<String>,
    pub(super) reply_id: Option<String>,
    pub(super) author_id: Option<String>,
    pub(super) parent_reply_id: Option<String>,
    pub(super) parent_author_id: Option<String>,
    pub(super) topic_author_id: Option<String>,
    pub(super) target_author_id: Option<String>,
    pub(super) accepted_reply_id: Option<String>,
    pub(super) accepted_reply_author_id: Option<String>,
    pub(super) reaction: Option<String>,
    pub(super) community_id: Option<String>,
    pub(super) approved_by: Option<String>,
    pub(super) status: Option<String>,
    pub(super) reviewed_by: Option<String>,
    pub(super) joined_at: Option<String>,
    pub(super) event_id: Option<String>,
    pub(super) occurrence_id: Option<String>,
    pub(super) responded_at: Option<String>,
    pub(super) place: Option<u64>,
    #[serde(default)]
    pub(super) mentions: Vec<String>,
    #[serde(default)]
    pub(super) deleted: bool,
    #[serde(default)]
    pub(super) announcement: bool,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
}

pub fn valid_notification_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}
