//! Chat: input types and their validation.

use super::*;

/// Longest message text, in characters. 4,000 characters of 4-byte UTF-8 plus the
/// event envelope stay far below API Gateway's 128 KB message limit.
pub const MAX_MESSAGE_CHARS: u64 = 4000;

pub const MAX_RETENTION_DAYS: u32 = 365;

/// Largest group conversation.
pub const MAX_GROUP_MEMBERS: u32 = 250;

/// Members one request may add: with their two items each and the room's, a request is
/// one transaction of at most 100 items.
pub const MAX_MEMBERS_PER_REQUEST: u64 = 49;

/// Members a new group may start with besides its creator (same transaction bound).
pub const MAX_INITIAL_MEMBERS: u64 = MAX_MEMBERS_PER_REQUEST - 1;

/// Channels one community may have.
pub const MAX_CHANNELS: u32 = 20;

/// Room names.
pub const MAX_ROOM_NAME_CHARS: u64 = 80;

/// A client message id is kept as long as a message can live, so any retry is caught.
pub(super) const CLIENT_MESSAGE_ID_MAX: usize = 64;

// ---------------------------------------------------------------------------------
// Wire inputs
// ---------------------------------------------------------------------------------

pub(super) fn invalid(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

pub(super) fn message_text(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(invalid("blank", "must not be blank"));
    }
    validation::plain_text(value)
}

pub(super) fn client_message_id(value: &str) -> Result<(), ValidationError> {
    let valid = !value.is_empty()
        && value.len() <= CLIENT_MESSAGE_ID_MAX
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "clientMessageId",
            "must be 1-64 characters of letters, digits and - _ . :",
        ))
    }
}

pub(super) fn message_id_field(value: &str) -> Result<(), ValidationError> {
    if ulid::Ulid::from_string(value).is_ok() {
        Ok(())
    } else {
        Err(invalid("messageId", "must be a message id"))
    }
}

/// `POST /v1/rooms/{roomId}/messages`, and the `sendMessage` action.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMessage {
    #[validate(
        length(min = 1, max = "MAX_MESSAGE_CHARS"),
        custom(function = "message_text")
    )]
    pub text: String,
    #[validate(custom(function = "message_id_field"))]
    pub reply_to: Option<String>,
    #[validate(custom(function = "client_message_id"))]
    pub client_message_id: String,
}

/// `PATCH /v1/rooms/{roomId}/messages/{messageId}`, and the `editMessage` action.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageEdit {
    #[validate(
        length(min = 1, max = "MAX_MESSAGE_CHARS"),
        custom(function = "message_text")
    )]
    pub text: String,
}

/// `POST /v1/rooms`: a group conversation.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGroup {
    #[validate(
        length(min = 1, max = "MAX_ROOM_NAME_CHARS"),
        custom(function = "validation::single_line")
    )]
    pub name: String,
    #[serde(default)]
    #[validate(length(max = "MAX_INITIAL_MEMBERS"))]
    pub member_ids: Vec<String>,
    #[validate(range(min = 1, max = "MAX_RETENTION_DAYS"))]
    pub retention_days: Option<u32>,
}

/// `POST /v1/communities/{communityId}/channels`: a community's channel.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewChannel {
    #[validate(
        length(min = 1, max = "MAX_ROOM_NAME_CHARS"),
        custom(function = "validation::single_line")
    )]
    pub name: String,
    #[validate(range(min = 1, max = "MAX_RETENTION_DAYS"))]
    pub retention_days: Option<u32>,
}

/// `PATCH /v1/rooms/{roomId}`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomPatch {
    #[validate(
        length(min = 1, max = "MAX_ROOM_NAME_CHARS"),
        custom(function = "validation::single_line")
    )]
    pub name: Option<String>,
    #[validate(range(min = 1, max = "MAX_RETENTION_DAYS"))]
    pub retention_days: Option<u32>,
}

/// `POST /v1/rooms/{roomId}/members`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMembers {
    #[validate(length(min = 1, max = "MAX_MEMBERS_PER_REQUEST"))]
    pub user_ids: Vec<String>,
}

/// Parses user ids of a list field, naming the bad entry.
pub fn parse_user_ids(field: &str, raw: &[String]) -> AppResult<Vec<UserId>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, id) in raw.iter().enumerate() {
        let user = UserId::parse(id)
            .map_err(|_| AppError::invalid_field(format!("{field}[{i}]"), "is not a user id"))?;
        if seen.insert(user.clone()) {
            out.push(user);
        }
    }
    Ok(out)
}

/// A room id is a ULID (it becomes part of keys).
pub fn parse_room_id(raw: &str) -> AppResult<String> {
    ulid::Ulid::from_string(raw)
        .map(|u| u.to_string())
        .map_err(|_| AppError::bad_field("roomId", "is not a room id"))
}

pub fn parse_message_id(field: &str, raw: &str) -> AppResult<String> {
    ulid::Ulid::from_string(raw)
        .map(|u| u.to_string())
        .map_err(|_| AppError::bad_field(field, "is not a message id"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ChatPreferencesInput)]
pub struct PreferencesInput {
    pub allow_dms_from: DmPolicy,
}

/// Which way a history page reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryFrom {
    /// Newest first, from the latest message (or before the given id).
    Before(Option<String>),
    /// Oldest first, after the given id: what a reconnecting client missed.
    After(String),
}
