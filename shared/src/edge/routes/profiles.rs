//! The profiles function: profiles, my profile and privacy, and my account's export
//! and erasure (`agora::account`).

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::account;
use crate::contexts::profiles::{
    self, NewProfile, PrivacySettings, Profile, ProfilePatch, ProfileSearch, ProfileView,
};
use crate::core::cursor::Page;
use crate::edge::http::{ApiResult, Caller, Json, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "profiles";

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(create_profile, search_profiles))
        .routes(routes!(view_profile))
        .routes(routes!(my_profile, update_my_profile, delete_my_account))
        .routes(routes!(export_my_data))
        .routes(routes!(my_privacy, set_my_privacy))
}

/// Create my profile.
#[utoipa::path(post, path = "/v1/profiles", tag = TAG, request_body = NewProfile,
    responses((status = 201, body = Profile, description = "My new profile",
        headers(("location" = String, description = "The profile's URL")))))]
async fn create_profile(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(input): Json<NewProfile>,
) -> ApiResult {
    let profile = profiles::create_profile(&api.store, &me.user_id, input).await?;
    Ok(HttpResponse::json(201, &profile)?
        .with_header("location", format!("/v1/profiles/{}", profile.user_id)))
}

/// Search public profiles by name prefix (`q`) or skill.
#[utoipa::path(get, path = "/v1/profiles", tag = TAG,
    params(
        ("q" = Option<String>, Query, description = "A display-name or handle prefix"),
        ("skill" = Option<String>, Query, description = "A skill"),
        PageParams,
    ),
    responses((status = 200, body = Page<ProfileView>, description = "A page of profiles")))]
async fn search_profiles(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let search = ProfileSearch::parse(query.get("q"), query.get("skill"))?;
    let page = profiles::search_profiles(
        &api.store,
        &api.cursors,
        &me.user_id,
        &search,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// A profile as I may see it (hidden fields absent).
#[utoipa::path(get, path = "/v1/profiles/{profileRef}", tag = TAG,
    params(("profileRef" = String, Path, description = "A user id or `@handle`")),
    responses((status = 200, body = ProfileView, description = "The profile")))]
async fn view_profile(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(reference): Path<String>,
) -> ApiResult {
    let view = profiles::view_profile(&api.store, &me.user_id, &reference).await?;
    Ok(HttpResponse::json(200, &view)?)
}

/// My whole profile, with privacy, moderation and version.
#[utoipa::path(get, path = "/v1/me", tag = TAG,
    responses((status = 200, body = Profile, description = "My profile")))]
async fn my_profile(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let profile = profiles::get_my_profile(&api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &profile)?)
}

/// Update my profile: absent fields unchanged, `null` clears.
#[utoipa::path(patch, path = "/v1/me", tag = TAG, request_body = ProfilePatch,
    responses((status = 200, body = Profile, description = "My updated profile")))]
async fn update_my_profile(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(patch): Json<ProfilePatch>,
) -> ApiResult {
    let profile = profiles::update_profile(&api.store, &me.user_id, patch).await?;
    Ok(HttpResponse::json(200, &profile)?)
}

/// Delete my account and everything of mine (repeatable).
#[utoipa::path(delete, path = "/v1/me", tag = TAG,
    responses((status = 204, description = "Deleted")))]
async fn delete_my_account(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    account::delete_account(&api.store, &me.user_id).await?;
    Ok(HttpResponse::no_content())
}

/// All my data as JSON.
#[utoipa::path(get, path = "/v1/me/export", tag = TAG,
    responses((status = 200, body = Object, description = "Everything stored about me",
        headers(("content-disposition" = String, description = "An attachment")))))]
async fn export_my_data(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let export = account::export_my_data(&api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &export)?.with_header(
        "content-disposition",
        "attachment; filename=\"agora-export.json\"",
    ))
}

/// My privacy settings.
#[utoipa::path(get, path = "/v1/me/privacy", tag = TAG,
    responses((status = 200, body = PrivacySettings, description = "My privacy settings")))]
async fn my_privacy(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let profile: Profile = profiles::get_my_profile(&api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &profile.privacy)?)
}

/// Replace my privacy settings (absent fields take the privacy-first defaults).
#[utoipa::path(put, path = "/v1/me/privacy", tag = TAG, request_body = PrivacySettings,
    responses((status = 200, body = PrivacySettings, description = "My privacy settings")))]
async fn set_my_privacy(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(privacy): Json<PrivacySettings>,
) -> ApiResult {
    let profile = profiles::set_privacy(&api.store, &me.user_id, privacy).await?;
    Ok(HttpResponse::json(200, &profile.privacy)?)
}
