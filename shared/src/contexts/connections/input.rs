//! Connections: input types and their validation.

use super::*;

/// Longest message a connection request may carry.
pub const MAX_MESSAGE_CHARS: u64 = 300;

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
