//! The profiles function: profiles, my profile and privacy, and my account's export
//! and erasure (`agora::account`).

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::account::erasure::{self, ErasureTicket};
use crate::account::export::{self, Archives, ExportView};
use crate::account::queue::JobQueue;
use crate::contexts::profiles::{
    self, NewProfile, PrivacySettings, Profile, ProfilePatch, ProfileSearch, ProfileView,
};
use crate::contexts::realtime::push::Pusher;
use crate::contexts::trust::{self, TrustView};
use crate::core::cursor::Page;
use crate::edge::http::{ApiResult, ApiState, Caller, Json, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "profiles";

/// What the profiles function serves with: the shared API state plus what account jobs
/// need — their queue, the `@connections` client (closing a deleted account's sockets)
/// and the export bucket (download URLs).
pub struct ProfilesState {
    pub api: Api,
    pub jobs: JobQueue,
    pub pusher: Pusher,
    pub archives: Archives,
}

/// The profiles router's state.
pub type Profiles = Arc<ProfilesState>;

impl ApiState for Profiles {
    fn api(&self) -> &Api {
        &self.api
    }
}

pub fn routes() -> OpenApiRouter<Profiles> {
    OpenApiRouter::new()
        .routes(routes!(create_profile, search_profiles))
        .routes(routes!(view_profile))
        .routes(routes!(my_profile, update_my_profile, delete_my_account))
        .routes(routes!(request_export))
        .routes(routes!(get_export))
        .routes(routes!(my_privacy, set_my_privacy))
        .routes(routes!(my_trust))
}

/// Create my profile.
#[utoipa::path(post, path = "/v1/profiles", tag = TAG, request_body = NewProfile,
    responses((status = 201, body = Profile, description = "My new profile",
        headers(("location" = String, description = "The profile's URL")))))]
async fn create_profile(
    State(state): State<Profiles>,
    Caller(me): Caller,
    Json(input): Json<NewProfile>,
) -> ApiResult {
    let profile = profiles::create_profile(&state.api.store, &me.user_id, input).await?;
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
    State(state): State<Profiles>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let search = ProfileSearch::parse(query.get("q"), query.get("skill"))?;
    let page = profiles::search_profiles(
        &state.api.store,
        state.api.cursors().await?,
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
    State(state): State<Profiles>,
    Caller(me): Caller,
    Path(reference): Path<String>,
) -> ApiResult {
    let mut view = profiles::view_profile(&state.api.store, &me.user_id, &reference).await?;
    view.trust_level = Some(trust::level(&state.api.store, &view.user_id).await?);
    Ok(HttpResponse::json(200, &view)?)
}

/// My trust level, the stats it follows from, what it allows, and what the next level
/// asks. The stats lag my activity by the stream's delay (about a second).
#[utoipa::path(get, path = "/v1/me/trust", tag = TAG,
    responses((status = 200, body = TrustView, description = "My trust")))]
async fn my_trust(State(state): State<Profiles>, Caller(me): Caller) -> ApiResult {
    let view = trust::my_trust(&state.api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &view)?)
}

/// My whole profile, with privacy, moderation and version.
#[utoipa::path(get, path = "/v1/me", tag = TAG,
    responses((status = 200, body = Profile, description = "My profile")))]
async fn my_profile(State(state): State<Profiles>, Caller(me): Caller) -> ApiResult {
    let profile = profiles::get_my_profile(&state.api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &profile)?)
}

/// Update my profile: absent fields unchanged, `null` clears.
#[utoipa::path(patch, path = "/v1/me", tag = TAG, request_body = ProfilePatch,
    responses((status = 200, body = Profile, description = "My updated profile")))]
async fn update_my_profile(
    State(state): State<Profiles>,
    Caller(me): Caller,
    Json(patch): Json<ProfilePatch>,
) -> ApiResult {
    let profile = profiles::update_profile(&state.api.store, &me.user_id, patch).await?;
    Ok(HttpResponse::json(200, &profile)?)
}

/// Delete my account: from now on its tokens are refused and its sockets closed; its
/// data is erased by a job, in checkpointed chunks (see `docs/data-model.md`).
#[utoipa::path(delete, path = "/v1/me", tag = TAG,
    responses((status = 202, body = ErasureTicket, description = "Erasure under way")))]
async fn delete_my_account(State(state): State<Profiles>, Caller(me): Caller) -> ApiResult {
    let ticket =
        erasure::request_erasure(&state.api.store, &state.jobs, &state.pusher, &me.user_id).await?;
    Ok(HttpResponse::json(202, &ticket)?)
}

/// Start an export of everything I wrote; poll it for the download URL.
#[utoipa::path(post, path = "/v1/me/exports", tag = TAG,
    responses((status = 202, body = ExportView, description = "The export job",
        headers(("location" = String, description = "The export's URL")))))]
async fn request_export(State(state): State<Profiles>, Caller(me): Caller) -> ApiResult {
    let job = export::request_export(&state.api.store, &state.jobs, &me.user_id).await?;
    Ok(HttpResponse::json(202, &job)?
        .with_header("location", format!("/v1/me/exports/{}", job.export_id)))
}

/// An export of mine: its status, and once ready a download URL that expires.
#[utoipa::path(get, path = "/v1/me/exports/{exportId}", tag = TAG,
    params(("exportId" = String, Path, description = "The export's id")),
    responses((status = 200, body = ExportView, description = "The export")))]
async fn get_export(
    State(state): State<Profiles>,
    Caller(me): Caller,
    Path(export_id): Path<String>,
) -> ApiResult {
    let view =
        export::get_export(&state.api.store, &state.archives, &me.user_id, &export_id).await?;
    Ok(HttpResponse::json(200, &view)?)
}

/// My privacy settings.
#[utoipa::path(get, path = "/v1/me/privacy", tag = TAG,
    responses((status = 200, body = PrivacySettings, description = "My privacy settings")))]
async fn my_privacy(State(state): State<Profiles>, Caller(me): Caller) -> ApiResult {
    let profile: Profile = profiles::get_my_profile(&state.api.store, &me.user_id).await?;
    Ok(HttpResponse::json(200, &profile.privacy)?)
}

/// Replace my privacy settings (absent fields take the privacy-first defaults).
#[utoipa::path(put, path = "/v1/me/privacy", tag = TAG, request_body = PrivacySettings,
    responses((status = 200, body = PrivacySettings, description = "My privacy settings")))]
async fn set_my_privacy(
    State(state): State<Profiles>,
    Caller(me): Caller,
    Json(privacy): Json<PrivacySettings>,
) -> ApiResult {
    let profile = profiles::set_privacy(&state.api.store, &me.user_id, privacy).await?;
    Ok(HttpResponse::json(200, &profile.privacy)?)
}
