//! The profiles endpoint group: a thin adapter from HTTP to `agora::profiles`.

use agora::auth::Principal;
use agora::config::ApiConfig;
use agora::cursor::parse_limit;
use agora::edge::{self, Api, HttpRequest, HttpResponse, match_path};
use agora::profiles::{self, NewProfile, PrivacySettings, ProfilePatch, ProfileSearch};
use agora::{AppError, AppResult, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let api = Api::new(&ApiConfig::from_env()?).await;
    edge::run_api(api, route, serve).await
}

/// The routes of this group; the template maps the same paths to this function.
enum Route {
    Profiles,
    Profile(String),
    Me,
    MyExport,
    MyPrivacy,
}

fn route(path: &str) -> Option<Route> {
    if let Some(params) = match_path("/v1/profiles/{profileRef}", path) {
        return params.get("profileRef").cloned().map(Route::Profile);
    }
    match path.trim_end_matches('/') {
        "/v1/profiles" => Some(Route::Profiles),
        "/v1/me" => Some(Route::Me),
        "/v1/me/export" => Some(Route::MyExport),
        "/v1/me/privacy" => Some(Route::MyPrivacy),
        _ => None,
    }
}

async fn serve(
    api: &Api,
    principal: &Principal,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
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
            agora::account::delete_account(store, me).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Me, _) => Err(AppError::MethodNotAllowed("GET, PATCH, DELETE".into())),
        (Route::MyExport, "GET") => {
            let export = agora::account::export_my_data(store, me).await?;
            Ok(HttpResponse::json(200, &export)?.with_header(
                "content-disposition",
                "attachment; filename=\"agora-export.json\"",
            ))
        }
        (Route::MyExport, _) => Err(AppError::MethodNotAllowed("GET".into())),
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
