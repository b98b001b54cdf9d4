//! The routes of each HTTP function, one module per function: thin handlers, each
//! declared once with `#[utoipa::path]`, so the function's axum router and the OpenAPI
//! document ([`super::openapi::document`]) come from the same declaration. The template
//! maps the same paths to the function (`tests/tests/routes.rs` keeps them in step).

pub mod chat;
pub mod communities;
pub mod connections;
pub mod courses;
pub mod discussions;
pub mod events;
pub mod feed;
pub mod health;
pub mod moderation;
pub mod notifications;
pub mod profiles;

use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;

/// A `{userId}` path parameter: a malformed id is a 400 naming the parameter.
pub(crate) fn user_id(raw: &str) -> AppResult<UserId> {
    UserId::parse(raw).map_err(|_| AppError::bad_field("userId", "is not a valid user id"))
}
