//! The moderation function: the review queues (the global one for the platform's
//! moderators, a community's for its moderators).

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contexts::communities::{self, Permission};
use crate::contexts::moderation::{self, NewDecision, ReviewView};
use crate::core::auth::Principal;
use crate::core::cursor::Page;
use crate::core::error::{AppError, AppResult};
use crate::edge::http::{ApiResult, Caller, Json, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::reactions::SCREENED;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "moderation";

/// The function's router.
pub fn router(api: Arc<Api>) -> axum::Router {
    crate::edge::http::router(routes(), api)
}

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(review_queue))
        .routes(routes!(decide))
}

/// May `me` read the review queue of `community` (`None`: the global one)? The global
/// queue is the platform's moderators'; a community's is its moderators', admins' and
/// owner's, and the platform's moderators'. A community the caller may not see is its
/// 404; otherwise a 403.
async fn may_review(api: &Api, me: &Principal, community: Option<&str>) -> AppResult<()> {
    let platform = me.has_role(communities::PLATFORM_MODERATOR_ROLE);
    let Some(community) = community else {
        return match platform {
            true => Ok(()),
            false => Err(AppError::Forbidden(
                "only the platform's moderators read the global review queue".into(),
            )),
        };
    };
    let loaded = communities::read_as(&api.store, &me.user_id, platform, community).await?;
    communities::require(
        loaded.community.kind,
        &loaded.standing,
        Permission::Moderate,
    )
}

/// A review queue, oldest first: what automatic moderation hid and nobody has reviewed
/// yet, each with its text now and the verdict that hid it. Without `communityId`: the
/// global queue (topics, replies, messages and names outside communities, activities
/// and comments), for the platform's moderators (role `moderator`). With it: that
/// community's queue, for its moderators, admins and owner.
#[utoipa::path(get, path = "/v1/moderation/queue", tag = TAG,
    params(
        ("communityId" = Option<String>, Query, description = "A community's queue instead of the global one"),
        PageParams,
    ),
    responses((status = 200, body = Page<ReviewView>, description = "A page of the queue")))]
async fn review_queue(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let community = query.get("communityId");
    if let Some(id) = community
        && !communities::valid_community_id(id)
    {
        return Err(AppError::bad_field("communityId", "is not a community id").into());
    }
    let limit = query.limit()?;
    may_review(&api, &me, community).await?;
    let page = moderation::review_queue(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &SCREENED,
        community,
        limit,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Decide a review item (whoever may read its queue): `approve` shows the item to
/// everyone again; `remove` keeps it hidden from everyone but its author, whatever
/// edits follow. The decision, its reason and its moderator stay on the review item,
/// which leaves the queue. A review item decided, cleared or flagged again for a newer
/// text meanwhile is a 409.
#[utoipa::path(post, path = "/v1/moderation/queue/{reviewId}", tag = TAG,
    params(("reviewId" = String, Path, description = "The review item (its `reviewId`)")),
    request_body(content = NewDecision, example = json!({"action": "remove", "reason": "An advance-fee scam"})),
    responses((status = 200, body = ReviewView, description = "The decided review item")))]
async fn decide(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(review_id): Path<String>,
    Json(input): Json<NewDecision>,
) -> ApiResult {
    let review = moderation::review_by_id(&api.store, &review_id).await?;
    may_review(&api, &me, review.community_id.as_deref()).await?;
    let decided = moderation::decide(&api.store, &me.user_id, review, input).await?;
    let view = ReviewView::of(decided, None)
        .ok_or_else(|| AppError::Internal("a review item of no screened item".into()))?;
    Ok(HttpResponse::json(200, &view)?)
}
