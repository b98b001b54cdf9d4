//! The profiles endpoint group: a thin adapter from HTTP to `agora::profiles`.

use agora::account::queue::JobQueue;
use agora::account::{Archives, erasure, export};
use agora::auth::Principal;
use agora::config::{self, ApiConfig};
use agora::cursor::parse_limit;
use agora::edge::{self, Api, HttpRequest, HttpResponse, match_path};
use agora::profiles::{self, NewProfile, PrivacySettings, ProfilePatch, ProfileSearch};
use agora::push::Pusher;
use agora::{AppError, AppResult, telemetry};

/// The API state plus what account jobs need: their queue, the `@connections` client
/// (closing a deleted account's sockets) and the export bucket (download URLs).
struct Profiles {
    api: Api,
    jobs: JobQueue,
    pusher: Pusher,
    archives: Archives,
}

impl AsRef<Api> for Profiles {
    fn as_ref(&self) -> &Api {
        &self.api
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let api = Api::new(&ApiConfig::from_env()?).await;
    let sdk = aws_config::load_from_env().await;
    let state = Profiles {
        api,
        jobs: JobQueue::new(&sdk, config::required("ACCOUNT_JOBS_QUEUE_URL")?),
        pusher: Pusher::from_sdk_config(&sdk),
        archives: Archives::from_env(&sdk)?,
    };
    edge::run_api(state, route, serve).await
}

/// The routes of this group; the template maps the same paths to this function.
enum Route {
    Profiles,
    Profile(String),
    Me,
    MyExports,
    MyExport(String),
    MyPrivacy,
}

fn route(path: &str) -> Option<Route> {
    if let Some(params) = match_path("/v1/profiles/{profileRef}", path) {
        return params.get("profileRef").cloned().map(Route::Profile);
    }
    if let Some(params) = match_path("/v1/me/exports/{exportId}", path) {
        return params.get("exportId").cloned().map(Route::MyExport);
    }
    match path.trim_end_matches('/') {
        "/v1/profiles" => Some(Route::Profiles),
        "/v1/me" => Some(Route::Me),
        "/v1/me/exports" => Some(Route::MyExports),
        "/v1/me/privacy" => Some(Route::MyPrivacy),
        _ => None,
    }
}

async fn serve(
    state: &Profiles,
    principal: &Principal,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let api = &state.api;
    let store = &api.store;
    let me = &principal.user_id;
    match (route, request.method.as_str()) {
        (Route::Profiles, "POST") => {
            let input: NewProfile = request.json()?;
            let profile = profiles::create_profile(store, me, input).await?;
            Ok(HttpResponse::json(201, &profile)?
                .with_header("location", format!("/v1/profiles/{}", profile.user_id)))
        }
        (Route::Profiles, "GET") => {
            let search =
                ProfileSearch::parse(request.query_param("q"), request.query_param("skill"))?;
            let limit = parse_limit(request.query_param("limit"))?;
            let page = profiles::search_profiles(
                store,
                &api.cursors,
                me,
                &search,
                limit,
                request.query_param("cursor"),
            )
            .await?;
            HttpResponse::json(200, &page)
        }
        (Route::Profiles, _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Profile(reference), "GET") => {
            let view = profiles::view_profile(store, me, &reference).await?;
            HttpResponse::json(200, &view)
        }
        (Route::Profile(_), _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Me, "GET") => HttpResponse::json(200, &profiles::get_my_profile(store, me).await?),
        (Route::Me, "PATCH") => {
            let patch: ProfilePatch = request.json()?;
            HttpResponse::json(200, &profiles::update_profile(store, me, patch).await?)
        }
        (Route::Me, "DELETE") => {
            let ticket = erasure::request_erasure(store, &state.jobs, &state.pusher, me).await?;
            HttpResponse::json(202, &ticket)
        }
        (Route::Me, _) => Err(AppError::MethodNotAllowed("GET, PATCH, DELETE".into())),
        (Route::MyExports, "POST") => {
            let job = export::request_export(store, &state.jobs, me).await?;
            Ok(HttpResponse::json(202, &job)?
                .with_header("location", format!("/v1/me/exports/{}", job.export_id)))
        }
        (Route::MyExports, _) => Err(AppError::MethodNotAllowed("POST".into())),
        (Route::MyExport(id), "GET") => HttpResponse::json(
            200,
            &export::get_export(store, &state.archives, me, &id).await?,
        ),
        (Route::MyExport(_), _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::MyPrivacy, "GET") => {
            HttpResponse::json(200, &profiles::get_my_profile(store, me).await?.privacy)
        }
        (Route::MyPrivacy, "PUT") => {
            let privacy: PrivacySettings = request.json()?;
            HttpResponse::json(
                200,
                &profiles::set_privacy(store, me, privacy).await?.privacy,
            )
        }
        (Route::MyPrivacy, _) => Err(AppError::MethodNotAllowed("GET, PUT".into())),
    }
}
