//! The moderation function: reports, the review queues (the global one for the
//! platform's moderators, a community's for its moderators), actions on accounts,
//! the audit log, appeals, and the restricted-words lists the classifier reads.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contexts::communities::{self, Permission};
use crate::contexts::moderation::{
    self, AccountStanding, AppealView, AuditAction, AuditEntry, AuditFilter, NewAppeal,
    NewAppealDecision, NewDecision, NewReport, NewRestrictedWords, NewSanction, QueueEntry,
    ReportReceipt, ReportedContent, RestrictedWords, Restriction, ReviewDetail, WordsScope,
};
use crate::contexts::realtime::{self, push::Pusher};
use crate::contexts::{chat, discussions, feed};
use crate::core::auth::Principal;
use crate::core::config::ReportConfig;
use crate::core::cursor::Page;
use crate::core::error::{AppError, AppResult};
use crate::edge::http::{ApiResult, Caller, Json, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::reactions::REPORTABLE;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "moderation";

/// The function's router.
pub fn router(api: Arc<Api>, reports: ReportConfig, pusher: Pusher) -> axum::Router {
    crate::edge::http::router(routes(), api)
        .layer(Extension(reports))
        .layer(Extension(pusher))
}

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(review_queue))
        .routes(routes!(review_item, decide))
        .routes(routes!(act_on_account))
        .routes(routes!(account_standing))
        .routes(routes!(audit_log))
        .routes(routes!(appeal))
        .routes(routes!(appeal_queue))
        .routes(routes!(decide_appeal))
        .routes(routes!(community_words, set_community_words))
        .routes(routes!(user_words, set_user_words))
}

/// A community's restricted words, for its moderators, admins and owner and the
/// platform's moderators.
#[utoipa::path(get, path = "/v1/moderation/communities/{communityId}/restricted-words", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    responses((status = 200, body = RestrictedWords, description = "The community's list (empty if never set)")))]
async fn community_words(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community): Path<String>,
) -> ApiResult {
    let community = reviewable_community(&api, &me, &community).await?;
    let list = moderation::restricted_words(&api.store, WordsScope::Community(community)).await?;
    Ok(HttpResponse::json(200, &list)?)
}

/// Replace a community's restricted words (its moderators, admins and owner, and the
/// platform's moderators): every text posted in it from then on that contains one,
/// whole and in any case, is hidden as `restrictedKeyword` and goes to the community's
/// review queue. An empty list clears it.
#[utoipa::path(put, path = "/v1/moderation/communities/{communityId}/restricted-words", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = NewRestrictedWords, example = json!({"words": ["megacoin", "double your money"]})),
    responses((status = 200, body = RestrictedWords, description = "The community's list now")))]
async fn set_community_words(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community): Path<String>,
    Json(input): Json<NewRestrictedWords>,
) -> ApiResult {
    let community = reviewable_community(&api, &me, &community).await?;
    let list =
        moderation::set_restricted_words(&api.store, WordsScope::Community(community), input)
            .await?;
    Ok(HttpResponse::json(200, &list)?)
}

/// The community a path names (400 when malformed), once `me` may moderate it.
async fn reviewable_community<'c>(
    api: &Api,
    me: &Principal,
    community: &'c str,
) -> AppResult<&'c str> {
    if !communities::valid_community_id(community) {
        return Err(AppError::bad_field("communityId", "is not a community id"));
    }
    may_review(api, me, Some(community)).await?;
    Ok(community)
}

/// An account's restricted words (the platform's moderators).
#[utoipa::path(get, path = "/v1/moderation/users/{userId}/restricted-words", tag = TAG,
    params(("userId" = String, Path, description = "The account")),
    responses((status = 200, body = RestrictedWords, description = "The account's list (empty if never set)")))]
async fn user_words(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(user): Path<String>,
) -> ApiResult {
    let user = account_for(&me, &user)?;
    let list = moderation::restricted_words(&api.store, WordsScope::User(&user)).await?;
    Ok(HttpResponse::json(200, &list)?)
}

/// Replace an account's restricted words (the platform's moderators): every text the
/// account writes from then on, anywhere, that contains one is hidden as
/// `restrictedKeyword`. An empty list clears it. An unknown account is a 404.
#[utoipa::path(put, path = "/v1/moderation/users/{userId}/restricted-words", tag = TAG,
    params(("userId" = String, Path, description = "The account")),
    request_body(content = NewRestrictedWords, example = json!({"words": ["megacoin"]})),
    responses((status = 200, body = RestrictedWords, description = "The account's list now")))]
async fn set_user_words(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(user): Path<String>,
    Json(input): Json<NewRestrictedWords>,
) -> ApiResult {
    let user = account_for(&me, &user)?;
    let list = moderation::set_restricted_words(&api.store, WordsScope::User(&user), input).await?;
    Ok(HttpResponse::json(200, &list)?)
}

/// Appeal what moderation did, once per action: with `reviewId` (from your
/// `contentHidden` notification's item, or the review queue), the hiding, holding or
/// removal of your item; without it, the last action on your account (a warning, mute,
/// suspension or ban: a suspended or banned account may still appeal). Moderators of
/// the item's queue (the platform's, for an account) decide it; you are told the
/// outcome (`appealDecided`). Someone else's item is a 404; a second appeal of the same
/// action, an item shown again, or an account with nothing to appeal, a 409.
#[utoipa::path(post, path = "/v1/appeals", tag = TAG,
    request_body(content = NewAppeal, example = json!({"reviewId": "VE9QSUMjMDFKOVo4UTRWNlhLMk0zTjRQNVI2UzdUOFZ8TUVUQQ", "statement": "It was a joke between friends"})),
    responses((status = 201, body = AppealView, description = "Appealed")))]
async fn appeal(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(input): Json<NewAppeal>,
) -> ApiResult {
    let appeal = moderation::appeal(&api.store, &me.user_id, input).await?;
    Ok(HttpResponse::json(201, &AppealView::of(appeal))?)
}

/// An appeals queue, oldest first, for whoever may read the matching review queue:
/// without `communityId`, the global one (appeals of accounts, and of content outside
/// communities); with it, that community's.
#[utoipa::path(get, path = "/v1/moderation/appeals", tag = TAG,
    params(
        ("communityId" = Option<String>, Query, description = "A community's queue instead of the global one"),
        PageParams,
    ),
    responses((status = 200, body = Page<AppealView>, description = "A page of open appeals")))]
async fn appeal_queue(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let (community, limit) = queue_of(&api, &me, &query).await?;
    let page = moderation::appeal_queue(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        community,
        limit,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Decide an appeal (whoever may read its queue): `uphold` undoes the action (the item
/// is shown to everyone again, or the account reinstated), `deny` keeps it; the reason
/// goes to the appellant. A decided appeal is a 409.
#[utoipa::path(post, path = "/v1/moderation/appeals/{appealId}", tag = TAG,
    params(("appealId" = String, Path, description = "The appeal (its `appealId`)")),
    request_body(content = NewAppealDecision, example = json!({"outcome": "uphold", "reason": "Context shows it was a joke"})),
    responses((status = 200, body = AppealView, description = "The decided appeal")))]
async fn decide_appeal(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(appeal_id): Path<String>,
    Json(input): Json<NewAppealDecision>,
) -> ApiResult {
    let appeal = moderation::appeal_by_id(&api.store, &appeal_id).await?;
    may_review(&api, &me, appeal.community_id.as_deref()).await?;
    let decided = moderation::decide_appeal(&api.store, &me.user_id, appeal, input).await?;
    Ok(HttpResponse::json(200, &AppealView::of(decided))?)
}

/// The moderation audit log, newest first (the platform's moderators): every hidden
/// text, held item, decision and action on an account, who did it (or whether it was
/// automated, with the classifier's confidence), about whom, when and why. Entries are
/// never changed; erasing an account replaces its id by `~erased`. Filters combine;
/// a filtered page may hold fewer than `limit` entries and still have a `nextCursor`.
#[utoipa::path(get, path = "/v1/moderation/audit", tag = TAG,
    params(
        ("actorId" = Option<String>, Query, description = "Only what this moderator did"),
        ("userId" = Option<String>, Query, description = "Only what concerned this user's content or account"),
        ("action" = Option<String>, Query, description = "Only this action: hide, hold, approve, remove, warn, mute, suspend, ban or reinstate"),
        ("automated" = Option<bool>, Query, description = "Only the automated entries (true) or only the moderators' (false)"),
        PageParams,
    ),
    responses((status = 200, body = Page<AuditEntry>, description = "A page of the audit log")))]
async fn audit_log(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let user = |field: &str| {
        query
            .get(field)
            .map(|raw| {
                crate::core::ids::UserId::parse(raw)
                    .map_err(|_| AppError::bad_field(field, "is not a user id"))
            })
            .transpose()
    };
    let filter = AuditFilter {
        actor: user("actorId")?,
        user: user("userId")?,
        action: query
            .get("action")
            .map(|raw| {
                AuditAction::parse(raw)
                    .ok_or_else(|| AppError::bad_field("action", "is not an audit action"))
            })
            .transpose()?,
        automated: match query.get("automated") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(AppError::bad_field("automated", "must be true or false").into());
            }
        },
    };
    let limit = query.limit()?;
    platform_moderator(&me)?;
    let page = moderation::audit_log(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &filter,
        limit,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Only the platform's moderators act on accounts: a 403 for everyone else.
fn platform_moderator(me: &Principal) -> AppResult<()> {
    match me.has_role(communities::PLATFORM_MODERATOR_ROLE) {
        true => Ok(()),
        false => Err(AppError::Forbidden(
            "only the platform's moderators act on accounts".into(),
        )),
    }
}

/// The account a path names (400 when malformed), once `me` is a platform moderator
/// (403 otherwise).
fn account_for(me: &Principal, raw: &str) -> AppResult<crate::core::ids::UserId> {
    platform_moderator(me)?;
    super::user_id(raw)
}

/// Act on an account (the platform's moderators): `warn` counts a warning; `mute`
/// refuses its posts (topics, replies, comments, activities, chat messages, community,
/// event and course writes) for `hours`; `suspend` refuses every write and every read
/// beyond its own data for `hours`, and closes its open WebSockets; `ban` suspends it
/// without an end; `reinstate` lifts them all. A restricted account gets a 403 saying
/// until when and why; it may still read its own data (`/v1/me…`,
/// `/v1/notifications`), export it and delete its account. The answer is the account's
/// standing.
#[utoipa::path(post, path = "/v1/moderation/users/{userId}/actions", tag = TAG,
    params(("userId" = String, Path, description = "The account")),
    request_body(content = NewSanction, example = json!({"action": "suspend", "reason": "Repeated scam links", "hours": 72})),
    responses((status = 200, body = AccountStanding, description = "The account's standing now")))]
async fn act_on_account(
    State(api): State<Arc<Api>>,
    Extension(pusher): Extension<Pusher>,
    Caller(me): Caller,
    Path(user): Path<String>,
    Json(input): Json<NewSanction>,
) -> ApiResult {
    let user = account_for(&me, &user)?;
    let standing = moderation::sanction(&api.store, &me.user_id, &user, input).await?;
    let now = crate::core::ids::now_rfc3339();
    if moderation::restriction_of(Some(&standing), &now) == Restriction::Suspended {
        for connection in realtime::connections_of(&api.store, &user).await? {
            pusher.close(&connection.connection_id).await?;
        }
    }
    Ok(HttpResponse::json(200, &standing)?)
}

/// An account's standing (the platform's moderators): its mute, suspension or ban,
/// its warnings and the last action. An account never acted on has a clean standing.
#[utoipa::path(get, path = "/v1/moderation/users/{userId}", tag = TAG,
    params(("userId" = String, Path, description = "The account")),
    responses((status = 200, body = AccountStanding, description = "The account's standing")))]
async fn account_standing(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(user): Path<String>,
) -> ApiResult {
    let user = account_for(&me, &user)?;
    let standing = moderation::standing_of(&api.store, &user)
        .await?
        .unwrap_or_else(|| AccountStanding::clean(user));
    Ok(HttpResponse::json(200, &standing)?)
}

/// Report something you can see, with a reason and an optional note for the
/// moderators: a topic, a reply, a chat message or group name (as a member of the
/// room), an activity, a comment, or a community. Reports are counted once per person
/// and item: reporting it again answers your first report (200) and counts nothing.
/// When `REPORT_THRESHOLD` different people (3 unless the deployment says otherwise)
/// have reported an item, it is hidden from everyone but its author and the
/// moderators until a moderator reviews it, and goes to its review queue; its author
/// is told (`contentHidden`, with `reported: true`). Something you cannot see is a 404
/// (a room you are not in: 403); your own, a 400.
#[utoipa::path(post, path = "/v1/reports", tag = TAG,
    request_body(content = NewReport, example = json!({"content": {"kind": "reply", "topicId": "01J9Z8Q4V6XK2M3N4P5R6S7T8V", "replyId": "01J9Z8Q4V6XK2M3N4P5R6S7T8W"}, "reason": "scam", "note": "Asks for a transfer fee before paying out"})),
    responses(
        (status = 201, body = ReportReceipt, description = "Reported"),
        (status = 200, body = ReportReceipt, description = "You had reported it already: your first report"),
    ))]
async fn report(
    State(api): State<Arc<Api>>,
    Extension(settings): Extension<ReportConfig>,
    Caller(me): Caller,
    Json(input): Json<NewReport>,
) -> ApiResult {
    input.content.check()?;
    may_see(&api, &me, &input.content).await?;
    let (receipt, created) = moderation::report(
        &api.store,
        &REPORTABLE,
        settings.threshold,
        &me.user_id,
        input,
    )
    .await?;
    Ok(HttpResponse::json(
        if created { 201 } else { 200 },
        &receipt,
    )?)
}

/// Whether `me` may see what `content` names, as its own context decides for readers:
/// a 404 (or a 403 for a room one is not in) when not.
async fn may_see(api: &Api, me: &Principal, content: &ReportedContent) -> AppResult<()> {
    let store = &api.store;
    match content {
        ReportedContent::Topic { topic_id } | ReportedContent::Reply { topic_id, .. } => {
            discussions::visible_topic(store, &me.user_id, topic_id).await?;
        }
        ReportedContent::Message { room_id, .. } | ReportedContent::Room { room_id } => {
            chat::require_member(store, &me.user_id, room_id).await?;
        }
        ReportedContent::Activity { activity_id }
        | ReportedContent::Comment { activity_id, .. } => {
            feed::visible_activity(store, &me.user_id, activity_id).await?;
        }
        ReportedContent::Community { community_id } => {
            communities::get_community(store, me, community_id).await?;
        }
        ReportedContent::Profile { user_id } => {
            crate::contexts::profiles::view_profile(store, &me.user_id, user_id).await?;
        }
    }
    Ok(())
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

/// The queue a request names (`communityId`, else the global one) and its page size,
/// once `me` may read it ([`may_review`]); a malformed id is a 400 naming it.
async fn queue_of<'q>(
    api: &Api,
    me: &Principal,
    query: &'q Query,
) -> AppResult<(Option<&'q str>, u32)> {
    let community = query.get("communityId");
    if let Some(id) = community
        && !communities::valid_community_id(id)
    {
        return Err(AppError::bad_field("communityId", "is not a community id"));
    }
    let limit = query.limit()?;
    may_review(api, me, community).await?;
    Ok((community, limit))
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
    responses((status = 200, body = Page<QueueEntry>, description = "A page of the queue")))]
async fn review_queue(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let (community, limit) = queue_of(&api, &me, &query).await?;
    let page = moderation::review_queue(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &REPORTABLE,
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
    responses((status = 200, body = QueueEntry, description = "The decided review item")))]
async fn decide(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(review_id): Path<String>,
    Json(input): Json<NewDecision>,
) -> ApiResult {
    let review = moderation::review_by_id(&api.store, &review_id).await?;
    may_review(&api, &me, review.community_id.as_deref()).await?;
    let decided = moderation::decide(&api.store, &me.user_id, review, input).await?;
    let detail = moderation::review_detail(&api.store, &REPORTABLE, decided).await?;
    Ok(HttpResponse::json(200, &detail.review)?)
}

/// One review item in full, for whoever may read its queue: the item's text now, the
/// verdict that hid it, its reports (the first 100: who, why, when) and its author's
/// moderation history (their 20 latest other hidden items, with what was decided).
#[utoipa::path(get, path = "/v1/moderation/queue/{reviewId}", tag = TAG,
    params(("reviewId" = String, Path, description = "The review item (its `reviewId`)")),
    responses((status = 200, body = ReviewDetail, description = "The review item")))]
async fn review_item(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(review_id): Path<String>,
) -> ApiResult {
    let review = moderation::review_by_id(&api.store, &review_id).await?;
    may_review(&api, &me, review.community_id.as_deref()).await?;
    let detail = moderation::review_detail(&api.store, &REPORTABLE, review).await?;
    Ok(HttpResponse::json(200, &detail)?)
}
