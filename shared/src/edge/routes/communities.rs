//! The communities function: communities, discovery, membership, join requests, roles,
//! bans and invite links.

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_id;
use crate::contexts::communities::{
    self, BanInput, BanView, CommunityPatch, CommunityView, CourseLink, Discovery, Following,
    InvitePreview, InviteView, JoinInput, JoinOutcome, JoinRequestView, Member, MemberView,
    NewCommunity, NewInvite, NewResource, Resource, RoleInput,
};
use crate::core::cursor::Page;
use crate::edge::http::{ApiResult, Caller, Json, JsonOrEmpty, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "communities";

/// The function's router.
pub fn router(api: Arc<Api>) -> axum::Router {
    crate::edge::http::router(routes(), api)
}

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(create_community, discover_communities))
        .routes(routes!(my_communities))
        .routes(routes!(get_community, update_community, delete_community))
        .routes(routes!(join_community))
        .routes(routes!(follow_community))
        .routes(routes!(link_community_course))
        .routes(routes!(add_community_resource, list_community_resources))
        .routes(routes!(delete_community_resource))
        .routes(routes!(list_community_members))
        .routes(routes!(remove_community_member))
        .routes(routes!(change_community_role))
        .routes(routes!(list_community_join_requests))
        .routes(routes!(approve_community_join_request))
        .routes(routes!(drop_community_join_request))
        .routes(routes!(list_community_bans))
        .routes(routes!(ban_from_community, unban_from_community))
        .routes(routes!(create_community_invite, list_community_invites))
        .routes(routes!(revoke_community_invite))
        .routes(routes!(preview_community_invite))
        .routes(routes!(accept_community_invite))
}

/// Create a community; I become its owner and first member.
#[utoipa::path(post, path = "/v1/communities", tag = TAG,
    request_body(content = NewCommunity, example = json!({
        "name": "Budget Builders", "slug": "budget-builders",
        "description": "Saving for the first flat, together.",
        "tags": ["budgeting", "saving"], "kind": "public"})),
    responses((status = 201, body = CommunityView, description = "The community",
        headers(("location" = String, description = "The community's URL")))))]
async fn create_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(input): Json<NewCommunity>,
) -> ApiResult {
    let community = communities::create_community(&api.store, &me, input).await?;
    let location = format!("/v1/communities/{}", community.community_id);
    Ok(HttpResponse::json(201, &community)?.with_header("location", location))
}

/// Find public and private communities: newest first, by name prefix (`q`) or by `tag`.
/// Secret communities are never listed.
#[utoipa::path(get, path = "/v1/communities", tag = TAG,
    params(
        ("q" = Option<String>, Query, description = "Name prefix (1-80 characters)"),
        ("tag" = Option<String>, Query, description = "A tag; not with `q`"),
        PageParams,
    ),
    responses((status = 200, body = Page<CommunityView>, description = "A page of communities")))]
async fn discover_communities(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let discovery = Discovery::parse(query.get("q"), query.get("tag"))?;
    let page = communities::discover(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &discovery,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// The communities I belong to, with my role in each.
#[utoipa::path(get, path = "/v1/me/communities", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<CommunityView>, description = "A page of my communities")))]
async fn my_communities(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let page = communities::my_communities(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// A community, by id or by a listed community's slug, with my status and role in it.
/// A secret community I am not in is a 404, as if it did not exist.
#[utoipa::path(get, path = "/v1/communities/{communityId}", tag = TAG,
    params(("communityId" = String, Path, description = "The community's id, or its slug")),
    responses((status = 200, body = CommunityView, description = "The community")))]
async fn get_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(reference): Path<String>,
) -> ApiResult {
    let community = communities::get_community(&api.store, &me, &reference).await?;
    Ok(HttpResponse::json(200, &community)?)
}

/// Change a community's settings (admins and the owner). Absent fields are unchanged;
/// `null` clears `description`, `guidelines` or `coverImageUrl`.
#[utoipa::path(patch, path = "/v1/communities/{communityId}", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = CommunityPatch, example = json!({"kind": "private", "requirePostApproval": true})),
    responses((status = 200, body = CommunityView, description = "The changed community")))]
async fn update_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    Json(patch): Json<CommunityPatch>,
) -> ApiResult {
    let community = communities::update_community(&api.store, &me, &community_id, patch).await?;
    Ok(HttpResponse::json(200, &community)?)
}

/// Delete a community (its owner). It is a 404 everywhere at once; its members,
/// requests, bans and invites are removed in the background within seconds. Its topics
/// stay unreadable (a topic of a deleted community is a 404).
#[utoipa::path(delete, path = "/v1/communities/{communityId}", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    responses((status = 204, description = "Deleted")))]
async fn delete_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
) -> ApiResult {
    communities::delete_community_by_owner(&api.store, &me, &community_id).await?;
    Ok(HttpResponse::no_content())
}

/// Join: a public community adds me at once (201); a private one records my request for
/// its moderators (202); a secret one is invite only (403). A member gets 200.
#[utoipa::path(post, path = "/v1/communities/{communityId}/join", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = JoinInput, example = json!({"message": "I run a savings group at work."})),
    responses(
        (status = 200, body = JoinOutcome, description = "I am a member already"),
        (status = 201, body = JoinOutcome, description = "I am a member now"),
        (status = 202, body = JoinOutcome, description = "My request waits for a moderator"),
    ))]
async fn join_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    JsonOrEmpty(input): JsonOrEmpty<JoinInput>,
) -> ApiResult {
    let (status, outcome) = communities::join(&api.store, &me, &community_id, input).await?;
    Ok(HttpResponse::json(status, &outcome)?)
}

/// Link the community to a course, one to one and for good (an admin or the owner who
/// is also the course's instructor). From then on joining needs an active enrollment
/// in the course, a learner's access ends when their enrollment does, and the course's
/// instructors act as moderators. Members from before stay. Linking the same course
/// again changes nothing.
#[utoipa::path(put, path = "/v1/communities/{communityId}/course", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = CourseLink, example = json!({"courseId": "01JDQ3S8ZK6W2Y4C9V1X5B7N3M"})),
    responses((status = 200, body = CommunityView, description = "The community, with its `courseId`")))]
async fn link_community_course(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    Json(input): Json<CourseLink>,
) -> ApiResult {
    let community = communities::link_course(&api.store, &me, &community_id, input).await?;
    Ok(HttpResponse::json(200, &community)?)
}

/// Share a resource with the community (its members): a `link` or a `file` (`url`:
/// the file is hosted elsewhere), or a `note`. A learning circle's shared resources.
#[utoipa::path(post, path = "/v1/communities/{communityId}/resources", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = NewResource, example = json!({"kind": "link", "title": "The Rust Book", "url": "https://doc.rust-lang.org/book/"})),
    responses((status = 201, body = Resource, description = "The resource")))]
async fn add_community_resource(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    Json(input): Json<NewResource>,
) -> ApiResult {
    let resource = communities::add_resource(&api.store, &me, &community_id, input).await?;
    Ok(HttpResponse::json(201, &resource)?)
}

/// The community's shared resources, newest first (whoever may read its posts).
#[utoipa::path(get, path = "/v1/communities/{communityId}/resources", tag = TAG,
    params(("communityId" = String, Path, description = "The community"), PageParams),
    responses((status = 200, body = Page<Resource>, description = "A page of resources")))]
async fn list_community_resources(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = communities::list_resources(
        &api.store,
        api.cursors().await?,
        &me,
        &community_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Remove a shared resource (whoever shared it, or the community's moderators).
#[utoipa::path(delete, path = "/v1/communities/{communityId}/resources/{resourceId}", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("resourceId" = String, Path, description = "The resource"),
    ),
    responses((status = 204, description = "Removed")))]
async fn delete_community_resource(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, resource_id)): Path<(String, String)>,
) -> ApiResult {
    communities::delete_resource(&api.store, &me, &community_id, &resource_id).await?;
    Ok(HttpResponse::no_content())
}

/// The members, with their roles. Anyone may list a public community's members; a
/// private or secret one's, only its members.
#[utoipa::path(get, path = "/v1/communities/{communityId}/members", tag = TAG,
    params(("communityId" = String, Path, description = "The community"), PageParams),
    responses((status = 200, body = Page<MemberView>, description = "A page of members")))]
async fn list_community_members(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = communities::list_members(
        &api.store,
        api.cursors().await?,
        &me,
        &community_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Leave (my own id), or remove a member of a lower role (moderators and above).
#[utoipa::path(delete, path = "/v1/communities/{communityId}/members/{userId}", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("userId" = String, Path, description = "The member; my own id to leave"),
    ),
    responses((status = 204, description = "No longer a member")))]
async fn remove_community_member(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, user)): Path<(String, String)>,
) -> ApiResult {
    communities::remove_member(&api.store, &me, &community_id, &user_id(&user)?).await?;
    Ok(HttpResponse::no_content())
}

/// Give a member a role below my own (admins and the owner); `owner` hands ownership
/// over (the owner only; they become an admin).
#[utoipa::path(put, path = "/v1/communities/{communityId}/members/{userId}/role", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("userId" = String, Path, description = "The member"),
    ),
    request_body(content = RoleInput, example = json!({"role": "moderator"})),
    responses((status = 200, body = Member, description = "The member with their new role")))]
async fn change_community_role(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, user)): Path<(String, String)>,
    Json(input): Json<RoleInput>,
) -> ApiResult {
    let member =
        communities::change_role(&api.store, &me, &community_id, &user_id(&user)?, input).await?;
    Ok(HttpResponse::json(200, &member)?)
}

/// Pending join requests, oldest first (moderators and above).
#[utoipa::path(get, path = "/v1/communities/{communityId}/join-requests", tag = TAG,
    params(("communityId" = String, Path, description = "The community"), PageParams),
    responses((status = 200, body = Page<JoinRequestView>, description = "A page of requests")))]
async fn list_community_join_requests(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = communities::list_join_requests(
        &api.store,
        api.cursors().await?,
        &me,
        &community_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Approve a join request (moderators and above): its sender becomes a member.
#[utoipa::path(post, path = "/v1/communities/{communityId}/join-requests/{userId}/approve", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("userId" = String, Path, description = "Who asked"),
    ),
    responses((status = 200, body = Member, description = "The new member")))]
async fn approve_community_join_request(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, user)): Path<(String, String)>,
) -> ApiResult {
    let member =
        communities::approve_join_request(&api.store, &me, &community_id, &user_id(&user)?).await?;
    Ok(HttpResponse::json(200, &member)?)
}

/// Deny a join request (moderators and above), or withdraw my own.
#[utoipa::path(delete, path = "/v1/communities/{communityId}/join-requests/{userId}", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("userId" = String, Path, description = "Who asked; my own id to withdraw"),
    ),
    responses((status = 204, description = "The request is gone")))]
async fn drop_community_join_request(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, user)): Path<(String, String)>,
) -> ApiResult {
    communities::drop_join_request(&api.store, &me, &community_id, &user_id(&user)?).await?;
    Ok(HttpResponse::no_content())
}

/// Banned users (moderators and above).
#[utoipa::path(get, path = "/v1/communities/{communityId}/bans", tag = TAG,
    params(("communityId" = String, Path, description = "The community"), PageParams),
    responses((status = 200, body = Page<BanView>, description = "A page of bans")))]
async fn list_community_bans(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = communities::list_bans(
        &api.store,
        api.cursors().await?,
        &me,
        &community_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Ban a user (moderators and above, over members of a lower role): they stop being a
/// member and cannot join, ask to, or accept an invite until unbanned.
#[utoipa::path(put, path = "/v1/communities/{communityId}/bans/{userId}", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("userId" = String, Path, description = "Who to ban"),
    ),
    request_body(content = BanInput, example = json!({"reason": "Spam after two warnings"})),
    responses((status = 200, body = BanView, description = "The ban")))]
async fn ban_from_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, user)): Path<(String, String)>,
    JsonOrEmpty(input): JsonOrEmpty<BanInput>,
) -> ApiResult {
    let ban = communities::ban(&api.store, &me, &community_id, &user_id(&user)?, input).await?;
    Ok(HttpResponse::json(200, &ban)?)
}

/// Lift a ban (moderators and above).
#[utoipa::path(delete, path = "/v1/communities/{communityId}/bans/{userId}", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("userId" = String, Path, description = "Who to unban"),
    ),
    responses((status = 204, description = "Unbanned")))]
async fn unban_from_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, user)): Path<(String, String)>,
) -> ApiResult {
    communities::unban(&api.store, &me, &community_id, &user_id(&user)?).await?;
    Ok(HttpResponse::no_content())
}

/// Make an invite link (moderators and above). Anyone holding its code may join, whatever
/// the community's kind, until it expires or is revoked.
#[utoipa::path(post, path = "/v1/communities/{communityId}/invites", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = NewInvite, example = json!({"expiresInHours": 48})),
    responses((status = 201, body = InviteView, description = "The invite")))]
async fn create_community_invite(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    JsonOrEmpty(input): JsonOrEmpty<NewInvite>,
) -> ApiResult {
    let invite = communities::create_invite(&api.store, &me, &community_id, input).await?;
    let location = format!("/v1/invites/{}", invite.code);
    Ok(HttpResponse::json(201, &invite)?.with_header("location", location))
}

/// Invite links that still work, newest first (moderators and above).
#[utoipa::path(get, path = "/v1/communities/{communityId}/invites", tag = TAG,
    params(("communityId" = String, Path, description = "The community"), PageParams),
    responses((status = 200, body = Page<InviteView>, description = "A page of invites")))]
async fn list_community_invites(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = communities::list_invites(
        &api.store,
        api.cursors().await?,
        &me,
        &community_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Revoke an invite link (moderators and above): it stops working at once.
#[utoipa::path(delete, path = "/v1/communities/{communityId}/invites/{code}", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("code" = String, Path, description = "The invite's code"),
    ),
    responses((status = 204, description = "Revoked")))]
async fn revoke_community_invite(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((community_id, code)): Path<(String, String)>,
) -> ApiResult {
    communities::revoke_invite(&api.store, &me, &community_id, &code).await?;
    Ok(HttpResponse::no_content())
}

/// What an invite is to: the community (even a secret one) and when the invite expires.
#[utoipa::path(get, path = "/v1/invites/{code}", tag = TAG,
    params(("code" = String, Path, description = "The invite's code")),
    responses((status = 200, body = InvitePreview, description = "The invite")))]
async fn preview_community_invite(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(code): Path<String>,
) -> ApiResult {
    let preview = communities::preview_invite(&api.store, &me, &code).await?;
    Ok(HttpResponse::json(200, &preview)?)
}

/// Accept an invite: I join as a member (201), or am one already (200).
#[utoipa::path(post, path = "/v1/invites/{code}/accept", tag = TAG,
    params(("code" = String, Path, description = "The invite's code")),
    responses(
        (status = 200, body = JoinOutcome, description = "I am a member already"),
        (status = 201, body = JoinOutcome, description = "I am a member now"),
    ))]
async fn accept_community_invite(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(code): Path<String>,
) -> ApiResult {
    let (status, outcome) = communities::accept_invite(&api.store, &me, &code).await?;
    Ok(HttpResponse::json(status, &outcome)?)
}

/// Follow a community (members): each new topic in it notifies me (`communityPost`).
/// `{"following": false}` stops. Repeatable.
#[utoipa::path(put, path = "/v1/communities/{communityId}/following", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = Following, example = json!({"following": true})),
    responses((status = 200, body = Following, description = "Whether I follow it now")))]
async fn follow_community(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    Json(input): Json<Following>,
) -> ApiResult {
    let following =
        communities::set_following(&api.store, &me, &community_id, input.following).await?;
    Ok(HttpResponse::json(200, &Following { following })?)
}
