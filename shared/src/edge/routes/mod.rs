//! The routes of each HTTP function, one module per function: thin handlers, each
//! declared once with `#[utoipa::path]`, so the function's axum router and the OpenAPI
//! document ([`super::openapi::document`]) come from the same declaration. The template
//! maps the same paths to the function (`tests/tests/routes.rs` keeps them in step).

pub mod chat;
pub mod connections;
pub mod discussions;
pub mod feed;
pub mod health;
pub mod notifications;
pub mod profiles;

use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;

/// The other user of a `{userId}` path parameter: a malformed id is a 400 naming the
/// parameter, and myself a 404, as there is never a request or a connection with myself
/// (these use cases pair two users; with one user twice their transactions would touch
/// one item twice, which DynamoDB refuses).
pub(crate) fn user_param(raw: &str, me: &UserId) -> AppResult<UserId> {
    let other = user_id(raw)?;
    if &other == me {
        return Err(AppError::NotFound(
            "there is no request or connection with yourself".to_owned(),
        ));
    }
    Ok(other)
}

/// A `{userId}` path parameter: a malformed id is a 400 naming the parameter.
pub(crate) fn user_id(raw: &str) -> AppResult<UserId> {
    UserId::parse(raw).map_err(|_| AppError::bad_field("userId", "is not a valid user id"))
}
