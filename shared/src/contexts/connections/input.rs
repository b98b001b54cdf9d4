//! Connections: input types and their validation.

use super::*;

// ---------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------

/// Longest message a connection request may carry.
pub const MAX_MESSAGE_CHARS: u64 = 300;

/// A pending request: stored as `REQIN#<sender>` in the target's partition (entity
/// `ConnectionRequest`) and as `REQOUT#<target>` in the sender's (entity
/// `OutgoingConnectionRequest`), with the same attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRequest {
    pub sender_id: UserId,
    pub target_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created_at: String,
}

// ---------------------------------------------------------------------------------
// Requests and connections
// ---------------------------------------------------------------------------------

/// `POST /v1/connections/requests`: exactly one of `userId` and `handle`.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConnectionRequest {
    pub user_id: Option<String>,
    pub handle: Option<String>,
    #[validate(
        length(max = "MAX_MESSAGE_CHARS"),
        custom(function = "validation::plain_text")
    )]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RequestDirection {
    Incoming,
    Outgoing,
}

impl RequestDirection {
    /// `?direction=incoming|outgoing`, incoming when absent.
    pub fn parse(raw: Option<&str>) -> AppResult<Self> {
        match raw {
            None | Some("incoming") => Ok(Self::Incoming),
            Some("outgoing") => Ok(Self::Outgoing),
            Some(_) => Err(AppError::bad_field(
                "direction",
                "must be incoming or outgoing",
            )),
        }
    }
}
