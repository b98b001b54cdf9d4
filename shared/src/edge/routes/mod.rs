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

/// A path parameter's text as its domain parses it: a malformed user id names the
/// parameter.
pub(crate) fn user_param(raw: &str) -> crate::core::error::AppResult<crate::core::ids::UserId> {
    crate::core::ids::UserId::parse(raw)
        .map_err(|_| crate::core::error::AppError::bad_field("userId", "is not a valid user id"))
}
