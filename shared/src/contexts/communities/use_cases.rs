//! Communities: use cases: the operations the edge calls, which write.

use super::*;

// The conditions of this context's transactions, by name.
/// The community id is new.
const COMMUNITY_NEW: &str = "community_new";
/// No listed community claims the slug.
const SLUG_FREE: &str = "slug_free";
/// The community still exists.
const COMMUNITY_LIVE: &str = "community_live";
/// The community still exists and is public.
const OPEN_TO_ALL: &str = "open_to_all";
/// The settings are still the version the change was made from.
const SETTINGS_UNCHANGED: &str = "settings_unchanged";
/// The user is not a member yet.
const NOT_MEMBER: &str = "not_member";
/// The user is not banned.
const NOT_BANNED: &str = "not_banned";
/// The user is banned.
const BANNED: &str = "banned";
/// A join request from the user waits.
const REQUEST_PENDING: &str = "request_pending";
/// No join request from the user waits yet.
const REQUEST_NEW: &str = "request_new";
/// The member still has the role the decision was made on.
const MEMBER_UNCHANGED: &str = "member_unchanged";
/// The user is (still) a member.
const MEMBER_THERE: &str = "member_there";
/// The invite still works.
const INVITE_WORKS: &str = "invite_works";
/// The invite code is new (128 random bits: a collision is a bug, not bad luck).
const INVITE_NEW: &str = "invite_new";
/// The caller still owns the community.
const STILL_OWNER: &str = "still_owner";
/// The resource id is new.
const RESOURCE_NEW: &str = "resource_new";
/// The enrollment that admits a learner is as it was read.
const ENROLLMENT_UNCHANGED: &str = "enrollment_unchanged";
/// The community is linked to no course yet.
const COMMUNITY_UNLINKED: &str = "community_unlinked";
/// The course is linked to no community yet, and the caller still teaches it.
const COURSE_UNLINKED: &str = "course_unlinked";

/// The community exists and was not deleted.
fn live() -> Condition {
    Condition::new(
        COMMUNITY_LIVE,
        "attribute_exists(PK) AND attribute_not_exists(deletedAt)",
    )
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn count_change(delta: i64) -> Expr {
    Expr::new("ADD memberCount :delta").value(":delta", AttributeValue::N(delta.to_string()))
}

fn role_is(role: Role) -> Condition {
    Condition::new(
        MEMBER_UNCHANGED,
        Expr::new("#role = :held")
            .name("#role", "role")
            .value(":held", s(role.as_str())),
    )
}

/// Sets a member's role. A role above member needs no enrollment: its access end (and
/// the sweep's index entry) goes.
fn set_role(role: Role) -> Expr {
    let text = if role > Role::Member {
        "SET #role = :role REMOVE accessUntil, GSI3PK, GSI3SK"
    } else {
        "SET #role = :role"
    };
    Expr::new(text)
        .name("#role", "role")
        .value(":role", s(role.as_str()))
}

/// Adds `member`: both member items, +1 on the count (under `community`, a condition
/// on the community item), a check that they are not banned, and what `admission`
/// checks.
fn add_member<'a>(
    transaction: Transaction<'a>,
    member: &Member,
    community: Condition,
    admission: &Admission,
) -> Transaction<'a> {
    let transaction = transaction
        .put_entity(member, Some(Condition::absent(NOT_MEMBER)))
        .put_entity(&Membership(member.clone()), None)
        .update(
            &keys::community(&member.community_id),
            count_change(1),
            Some(community),
        )
        .check(
            &keys::ban(&member.community_id, &member.user_id),
            Condition::absent(NOT_BANNED),
        );
    admission.checked(transaction)
}

/// What admits a learner to a course-linked community: their active enrollment, which
/// the joining transaction checks is unchanged, and whose end becomes the end of their
/// access. Any other community admits without one.
#[derive(Debug, Clone, Default)]
pub(super) struct Admission {
    access_until: Option<i64>,
    enrollment: Option<(Key, Condition)>,
}

impl Admission {
    fn checked<'a>(&self, transaction: Transaction<'a>) -> Transaction<'a> {
        match &self.enrollment {
            Some((key, condition)) => transaction.check(key, condition.clone()),
            None => transaction,
        }
    }

    /// A new member admitted by this: a member whose access ends with the enrollment.
    fn member(&self, community_id: &str, user: &UserId) -> Member {
        Member {
            access_until: self.access_until,
            ..new_member(community_id, user, Role::Member)
        }
    }
}

fn enroll_first() -> AppError {
    AppError::Forbidden(
        "this community is for the learners of its course: enroll in the course first".into(),
    )
}

fn enrollment_changed() -> AppError {
    AppError::Conflict("the enrollment changed while this request was made; retry".into())
}

/// The [`Admission`] of `user` to `community`: 403 without an active enrollment in the
/// community's course (one GetItem; none for a community without a course).
async fn admission(store: &Store, community: &Community, user: &UserId) -> AppResult<Admission> {
    let Some(course_id) = &community.course_id else {
        return Ok(Admission::default());
    };
    let enrollment = courses::active_enrollment(store, course_id, user)
        .await?
        .ok_or_else(enroll_first)?;
    let unchanged = match enrollment.expires_at_epoch {
        Some(until) => Condition::new(
            ENROLLMENT_UNCHANGED,
            Expr::new("expiresAtEpoch = :until")
                .value(":until", AttributeValue::N(until.to_string())),
        ),
        None => Condition::new(
            ENROLLMENT_UNCHANGED,
            "attribute_exists(PK) AND attribute_not_exists(expiresAtEpoch)",
        ),
    };
    Ok(Admission {
        access_until: enrollment.expires_at_epoch,
        enrollment: Some((courses::keys::enrollment(course_id, user), unchanged)),
    })
}

/// Sets when a learner's access ends (`None`: it does not), on both member items and
/// the sweep's index, while they hold the role they were read with; `admission`'s check
/// joins the transaction. Returns their role, or `None` when they are not a member.
async fn set_access(
    store: &Store,
    community_id: &str,
    user: &UserId,
    access_until: Option<i64>,
    admission: &Admission,
) -> AppResult<Option<Role>> {
    for _ in 0..3 {
        let Some(member) = member_of(store, community_id, user).await? else {
            return Ok(None);
        };
        let role = member.role;
        let renewed = Member {
            access_until,
            ..member
        };
        let transaction = store
            .transaction()
            .put_entity(&renewed, Some(role_is(role)))
            .put_entity(&Membership(renewed.clone()), None);
        match admission.checked(transaction).commit().await {
            Ok(()) => return Ok(Some(role)),
            Err(error) if error.failed(MEMBER_UNCHANGED) => continue,
            Err(WriteError::Contended) => continue,
            Err(error) if error.failed(ENROLLMENT_UNCHANGED) => return Err(enrollment_changed()),
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// A member whose access ended comes back with a renewed enrollment: 200 with their
/// role, 403 without one.
async fn renew(
    store: &Store,
    community: &Community,
    user: &UserId,
) -> AppResult<(u16, JoinOutcome)> {
    let admission = admission(store, community, user).await?;
    match set_access(
        store,
        &community.community_id,
        user,
        admission.access_until,
        &admission,
    )
    .await?
    {
        Some(role) => Ok((200, member_outcome(role))),
        None => Err(concurrently_changed()),
    }
}

/// Removes `member` (who must still hold their role): both member items and −1 on the
/// count.
fn remove_member_ops<'a>(transaction: Transaction<'a>, member: &Member) -> Transaction<'a> {
    transaction
        .delete(
            &keys::member(&member.community_id, &member.user_id),
            Some(role_is(member.role)),
        )
        .delete(
            &keys::membership(&member.user_id, &member.community_id),
            None,
        )
        .update(
            &keys::community(&member.community_id),
            count_change(-1),
            None,
        )
}

/// Drops a join request, on both sides.
fn drop_request<'a>(
    transaction: Transaction<'a>,
    community_id: &str,
    user: &UserId,
    condition: Option<Condition>,
) -> Transaction<'a> {
    transaction
        .delete(&keys::join_request(community_id, user), condition)
        .delete(&keys::my_join_request(user, community_id), None)
}

fn new_member(community_id: &str, user: &UserId, role: Role) -> Member {
    Member {
        community_id: community_id.to_owned(),
        user_id: user.clone(),
        role,
        joined_at: now_rfc3339(),
        approved_by: None,
        following: false,
        access_until: None,
    }
}

fn slug_taken(slug: &str) -> AppError {
    AppError::Conflict(format!("the slug '{slug}' is taken; choose another"))
}

fn banned_here() -> AppError {
    AppError::Forbidden("you are banned from this community".into())
}

fn concurrently_changed() -> AppError {
    AppError::Conflict("the community changed while this request was made; retry".into())
}

fn member_outcome(role: Role) -> JoinOutcome {
    JoinOutcome {
        status: MyStatus::Member,
        role: Some(role),
    }
}

/// `POST /v1/communities`: the community, its slug claim and tag entries (when it is
/// listed) and its owner's membership, in one transaction.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn create_community(
    store: &Store,
    me: &Principal,
    input: NewCommunity,
) -> AppResult<CommunityView> {
    check(&input)?;
    let now = now_rfc3339();
    let community = new_community(new_ulid(), &me.user_id, input, &now);
    let owner = new_member(&community.community_id, &me.user_id, Role::Owner);
    let mut transaction = store
        .transaction()
        .put_entity(&community, Some(Condition::absent(COMMUNITY_NEW)))
        .put_entity(&owner, None)
        .put_entity(&Membership(owner.clone()), None);
    if let Some(slug) = claimed_slug(&community) {
        transaction = transaction.put_entity(
            &SlugClaim {
                slug: slug.to_owned(),
                community_id: community.community_id.clone(),
            },
            Some(Condition::absent(SLUG_FREE)),
        );
    }
    for tag in listed_tags(&community) {
        transaction = transaction.put_entity(
            &TagEntry {
                tag,
                community_id: community.community_id.clone(),
            },
            None,
        );
    }
    match transaction.commit().await {
        Ok(()) => {}
        Err(error) if error.failed(SLUG_FREE) => return Err(slug_taken(&community.slug)),
        Err(error) => return Err(error.into()),
    }
    let standing = Standing {
        role: Some(Role::Owner),
        ..Standing::default()
    };
    Ok(CommunityView::of(community, &standing))
}

/// The settings attributes a change rewrites: each is SET from the new community, or
/// REMOVEd when the new community has none (a cleared text, the index keys of a
/// community that became secret).
const SETTINGS: [&str; 15] = [
    "name",
    "circle",
    "slug",
    "description",
    "guidelines",
    "coverImageUrl",
    "tags",
    "kind",
    "requirePostApproval",
    "version",
    "updatedAt",
    "GSI1PK",
    "GSI1SK",
    "GSI2PK",
    "GSI2SK",
];

/// The UpdateItem of a settings change: it leaves `memberCount` and `ownerId` alone, so
/// joins and leaves never conflict with it.
fn settings_update(new: &Community) -> AppResult<Expr> {
    Ok(Expr::set_or_remove(&new.item()?, &SETTINGS))
}

/// `PATCH /v1/communities/{communityId}`: admins and the owner. One transaction moves
/// the settings (on the version they were read at), the slug claim and the tag entries;
/// a change that raced another is made again from the new version.
#[instrument(skip(store, me, patch), fields(user = %me.user_id))]
pub async fn update_community(
    store: &Store,
    me: &Principal,
    community_id: &str,
    patch: CommunityPatch,
) -> AppResult<CommunityView> {
    check(&patch)?;
    for _ in 0..3 {
        let loaded = load_for(store, me, community_id, Permission::EditSettings).await?;
        let old = loaded.community;
        let new = apply_patch(old.clone(), patch.clone(), &now_rfc3339());
        let mut transaction = store.transaction().update(
            &keys::community(community_id),
            settings_update(&new)?,
            Some(Condition::new(
                SETTINGS_UNCHANGED,
                Expr::new("version = :expected")
                    .value(":expected", AttributeValue::N(old.version.to_string())),
            )),
        );
        let (old_slug, new_slug) = (claimed_slug(&old), claimed_slug(&new));
        if old_slug != new_slug {
            if let Some(slug) = old_slug {
                transaction = transaction.delete(&keys::slug(slug), None);
            }
            if let Some(slug) = new_slug {
                transaction = transaction.put_entity(
                    &SlugClaim {
                        slug: slug.to_owned(),
                        community_id: community_id.to_owned(),
                    },
                    Some(Condition::absent(SLUG_FREE)),
                );
            }
        }
        let (old_tags, new_tags) = (listed_tags(&old), listed_tags(&new));
        for tag in old_tags.iter().filter(|t| !new_tags.contains(t)) {
            transaction = transaction.delete(&keys::by_tag(tag, community_id), None);
        }
        for tag in new_tags.iter().filter(|t| !old_tags.contains(t)) {
            transaction = transaction.put_entity(
                &TagEntry {
                    tag: tag.clone(),
                    community_id: community_id.to_owned(),
                },
                None,
            );
        }
        match transaction.commit().await {
            Ok(()) => return Ok(CommunityView::of(new, &loaded.standing)),
            Err(error) if error.failed(SLUG_FREE) => return Err(slug_taken(&new.slug)),
            Err(error) if error.failed(SETTINGS_UNCHANGED) => continue,
            Err(WriteError::Contended) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// `POST /v1/communities/{communityId}/join`. A member gets their membership back
/// (200). A public community adds me (201); a private one records my request for its
/// moderators (202, and again 202 while it waits). A secret community is invite only.
/// Banned users are refused (403).
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn join(
    store: &Store,
    me: &Principal,
    community_id: &str,
    input: JoinInput,
) -> AppResult<(u16, JoinOutcome)> {
    check(&input)?;
    let loaded = load(store, me, community_id).await?;
    let standing = loaded.standing;
    if let Some(role) = standing.role {
        return Ok((200, member_outcome(role)));
    }
    if standing.banned {
        return Err(banned_here());
    }
    let user = &me.user_id;
    if standing.expired {
        return renew(store, &loaded.community, user).await;
    }
    match loaded.community.kind {
        CommunityKind::Secret => Err(AppError::Forbidden("this community is invite only".into())),
        CommunityKind::Public => {
            let admission = admission(store, &loaded.community, user).await?;
            let member = admission.member(community_id, user);
            let open = || {
                Condition::new(
                    OPEN_TO_ALL,
                    Expr::new(
                        "attribute_exists(PK) AND attribute_not_exists(deletedAt) AND kind = :public",
                    )
                        .value(":public", s(CommunityKind::Public.as_str())),
                )
            };
            let result = commit_retrying(|| {
                drop_request(
                    add_member(store.transaction(), &member, open(), &admission),
                    community_id,
                    user,
                    None,
                )
            })
            .await;
            match result {
                Ok(()) => Ok((201, member_outcome(Role::Member))),
                Err(error) if error.failed(NOT_MEMBER) => Ok((200, member_outcome(Role::Member))),
                Err(error) if error.failed(NOT_BANNED) => Err(banned_here()),
                Err(error) if error.failed(ENROLLMENT_UNCHANGED) => Err(enrollment_changed()),
                Err(error) if error.failed(OPEN_TO_ALL) => Err(concurrently_changed()),
                Err(error) => Err(error.into()),
            }
        }
        CommunityKind::Private => {
            let pending = JoinOutcome {
                status: MyStatus::Pending,
                role: None,
            };
            if standing.pending {
                return Ok((202, pending));
            }
            // A learner asks only with an enrollment, which approval checks again.
            admission(store, &loaded.community, user).await?;
            let request = JoinRequest {
                community_id: community_id.to_owned(),
                user_id: user.clone(),
                message: input
                    .message
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty()),
                created_at: now_rfc3339(),
            };
            let result = store
                .transaction()
                .put_entity(&request, Some(Condition::absent(REQUEST_NEW)))
                .put_entity(&MyJoinRequest(request.clone()), None)
                .check(
                    &keys::member(community_id, user),
                    Condition::absent(NOT_MEMBER),
                )
                .check(
                    &keys::ban(community_id, user),
                    Condition::absent(NOT_BANNED),
                )
                .check(&keys::community(community_id), live())
                .commit()
                .await;
            match result {
                Ok(()) => Ok((202, pending)),
                Err(error) if error.failed(REQUEST_NEW) => Ok((202, pending)),
                Err(error) if error.failed(NOT_BANNED) => Err(banned_here()),
                Err(error) if error.failed(NOT_MEMBER) => Err(concurrently_changed()),
                Err(error) if error.failed(COMMUNITY_LIVE) => Err(no_such_community()),
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// `POST /v1/communities/{communityId}/join-requests/{userId}/approve`: moderators.
/// The request goes and the member comes, in one transaction.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn approve_join_request(
    store: &Store,
    me: &Principal,
    community_id: &str,
    user: &UserId,
) -> AppResult<Member> {
    let loaded = load_for(store, me, community_id, Permission::ReviewJoinRequests).await?;
    let admission =
        admission(store, &loaded.community, user)
            .await
            .map_err(|error| match error {
                AppError::Forbidden(_) => AppError::Conflict(
                    "this user has no active enrollment in the community's course".into(),
                ),
                other => other,
            })?;
    let member = Member {
        approved_by: Some(me.user_id.clone()),
        ..admission.member(community_id, user)
    };
    let result = commit_retrying(|| {
        drop_request(
            add_member(store.transaction(), &member, live(), &admission),
            community_id,
            user,
            Some(Condition::present(REQUEST_PENDING)),
        )
    })
    .await;
    match result {
        Ok(()) => Ok(member),
        Err(error) if error.failed(REQUEST_PENDING) => Err(AppError::NotFound(
            "no pending join request from this user".into(),
        )),
        Err(error) if error.failed(NOT_BANNED) => Err(AppError::Conflict(
            "this user is banned from the community; unban them first".into(),
        )),
        Err(error) if error.failed(NOT_MEMBER) => {
            Err(AppError::Conflict("this user is a member already".into()))
        }
        Err(error) if error.failed(ENROLLMENT_UNCHANGED) => Err(enrollment_changed()),
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /v1/communities/{communityId}/join-requests/{userId}`: a moderator denies
/// the request, or its sender withdraws it.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn drop_join_request(
    store: &Store,
    me: &Principal,
    community_id: &str,
    user: &UserId,
) -> AppResult<()> {
    let loaded = load(store, me, community_id).await?;
    if user != &me.user_id {
        require(
            loaded.community.kind,
            &loaded.standing,
            Permission::ReviewJoinRequests,
        )?;
    }
    let result = drop_request(
        store.transaction(),
        community_id,
        user,
        Some(Condition::present(REQUEST_PENDING)),
    )
    .commit()
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(REQUEST_PENDING) => Err(AppError::NotFound(
            "no pending join request from this user".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /v1/communities/{communityId}/members/{userId}`: my own id leaves (the
/// owner must hand ownership over first); another member is removed by a moderator
/// who outranks them.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn remove_member(
    store: &Store,
    me: &Principal,
    community_id: &str,
    user: &UserId,
) -> AppResult<()> {
    let loaded = load(store, me, community_id).await?;
    let target = if user == &me.user_id {
        let role = loaded
            .standing
            .role
            .ok_or_else(|| AppError::NotFound("you are not a member of this community".into()))?;
        if role == Role::Owner {
            return Err(AppError::Conflict(
                "the owner cannot leave; hand ownership over to another member first".into(),
            ));
        }
        new_member(community_id, user, role)
    } else {
        require(
            loaded.community.kind,
            &loaded.standing,
            Permission::Moderate,
        )?;
        let target = member_of(store, community_id, user)
            .await?
            .ok_or_else(|| AppError::NotFound("no such member".into()))?;
        require_outranks(&loaded.standing, Some(target.role))?;
        target
    };
    let result = commit_retrying(|| remove_member_ops(store.transaction(), &target)).await;
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(MEMBER_UNCHANGED) => Err(concurrently_changed()),
        Err(error) => Err(error.into()),
    }
}

/// `PUT /v1/communities/{communityId}/members/{userId}/role`: see [`role_change`].
/// Handing ownership over makes the member the owner and the old owner an admin, in
/// one transaction.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn change_role(
    store: &Store,
    me: &Principal,
    community_id: &str,
    user: &UserId,
    input: RoleInput,
) -> AppResult<Member> {
    let loaded = load(store, me, community_id).await?;
    if user == &me.user_id {
        return Err(AppError::Forbidden(
            "you cannot change your own role".into(),
        ));
    }
    if !loaded.standing.is_member() && !loaded.standing.platform_moderator {
        return Err(AppError::Forbidden(
            "your role does not allow you to change roles in this community".into(),
        ));
    }
    let target = member_of(store, community_id, user)
        .await?
        .ok_or_else(|| AppError::NotFound("no such member".into()))?;
    let change = role_change(&loaded.standing, target.role, input.role)?;
    let transaction = match change {
        RoleChange::Unchanged => return Ok(target),
        RoleChange::Set(role) => store
            .transaction()
            .update(
                &keys::member(community_id, user),
                set_role(role),
                Some(role_is(target.role)),
            )
            .update(&keys::membership(user, community_id), set_role(role), None),
        RoleChange::TransferOwnership => store
            .transaction()
            .update(
                &keys::member(community_id, user),
                set_role(Role::Owner),
                Some(role_is(target.role)),
            )
            .update(
                &keys::membership(user, community_id),
                set_role(Role::Owner),
                None,
            )
            .update(
                &keys::member(community_id, &me.user_id),
                set_role(Role::Admin),
                None,
            )
            .update(
                &keys::membership(&me.user_id, community_id),
                set_role(Role::Admin),
                None,
            )
            .update(
                &keys::community(community_id),
                Expr::new("SET ownerId = :next").value(":next", s(user.as_str())),
                Some(Condition::new(
                    STILL_OWNER,
                    Expr::new("ownerId = :me").value(":me", s(me.user_id.as_str())),
                )),
            ),
    };
    match transaction.commit().await {
        Ok(()) => Ok(Member {
            role: input.role,
            ..target
        }),
        Err(error) if error.failed(MEMBER_UNCHANGED) || error.failed(STILL_OWNER) => {
            Err(concurrently_changed())
        }
        Err(error) => Err(error.into()),
    }
}

/// `PUT /v1/communities/{communityId}/bans/{userId}`: a moderator bans a member of a
/// lower role, or anyone who is not a member. The ban, the removal (with the count)
/// and the end of a pending request are one transaction. Banning again updates the
/// reason.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn ban(
    store: &Store,
    me: &Principal,
    community_id: &str,
    user: &UserId,
    input: BanInput,
) -> AppResult<BanView> {
    check(&input)?;
    if user == &me.user_id {
        return Err(AppError::invalid_field("userId", "you cannot ban yourself"));
    }
    let loaded = load_for(store, me, community_id, Permission::Moderate).await?;
    let ban = Ban {
        community_id: community_id.to_owned(),
        user_id: user.clone(),
        banned_by: me.user_id.clone(),
        reason: input
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty()),
        created_at: now_rfc3339(),
    };
    for _ in 0..3 {
        let target = member_of(store, community_id, user).await?;
        require_outranks(&loaded.standing, target.as_ref().map(|m| m.role))?;
        let result = commit_retrying(|| {
            let transaction = drop_request(
                store
                    .transaction()
                    .put_entity(&ban, None)
                    .put_entity(&MyBan::of(&ban), None),
                community_id,
                user,
                None,
            );
            match &target {
                Some(member) => remove_member_ops(transaction, member),
                None => transaction.check(
                    &keys::member(community_id, user),
                    Condition::absent(NOT_MEMBER),
                ),
            }
        })
        .await;
        match result {
            Ok(()) => return Ok(BanView::from(ban)),
            Err(error) if error.failed(NOT_MEMBER) || error.failed(MEMBER_UNCHANGED) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// `DELETE /v1/communities/{communityId}/bans/{userId}`: moderators. The user may join
/// (or ask to) again.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn unban(
    store: &Store,
    me: &Principal,
    community_id: &str,
    user: &UserId,
) -> AppResult<()> {
    load_for(store, me, community_id, Permission::Moderate).await?;
    let result = store
        .transaction()
        .delete(
            &keys::ban(community_id, user),
            Some(Condition::present(BANNED)),
        )
        .delete(&keys::my_ban(user, community_id), None)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(BANNED) => {
            Err(AppError::NotFound("this user is not banned".into()))
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /v1/communities/{communityId}/invites`: moderators make an invite link that
/// works for `expiresInHours`.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn create_invite(
    store: &Store,
    me: &Principal,
    community_id: &str,
    input: NewInvite,
) -> AppResult<InviteView> {
    check(&input)?;
    load_for(store, me, community_id, Permission::ManageInvites).await?;
    let hours = input.expires_in_hours.unwrap_or(DEFAULT_INVITE_HOURS);
    let invite = new_invite(
        new_invite_code()?,
        community_id,
        &me.user_id,
        time::OffsetDateTime::now_utc(),
        hours,
    );
    let pointer = MyInvite {
        code: invite.code.clone(),
        community_id: community_id.to_owned(),
        created_by: me.user_id.clone(),
        valid_until_epoch: invite.valid_until_epoch,
    };
    store
        .transaction()
        .put_entity(&invite, Some(Condition::absent(INVITE_NEW)))
        .put_entity(&pointer, None)
        .commit()
        .await?;
    Ok(InviteView::from(invite))
}

/// `DELETE /v1/communities/{communityId}/invites/{code}`: moderators revoke a link.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn revoke_invite(
    store: &Store,
    me: &Principal,
    community_id: &str,
    code: &str,
) -> AppResult<()> {
    load_for(store, me, community_id, Permission::ManageInvites).await?;
    let invite = working_invite(store, code)
        .await
        .ok()
        .filter(|i| i.community_id == community_id)
        .ok_or_else(|| AppError::NotFound("no such invite".into()))?;
    store
        .transaction()
        .delete(&keys::invite(code), None)
        .delete(&keys::my_invite(&invite.created_by, code), None)
        .commit()
        .await?;
    Ok(())
}

/// `POST /v1/invites/{code}/accept`: the invite's holder joins as a member, whatever
/// the community's kind (201); a member gets their membership back (200). Banned users
/// are refused (403). The invite must still work when the membership is written.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn accept_invite(
    store: &Store,
    me: &Principal,
    code: &str,
) -> AppResult<(u16, JoinOutcome)> {
    let invite = working_invite(store, code).await?;
    let community_id = invite.community_id.as_str();
    let loaded = read(store, me, community_id).await?;
    if let Some(role) = loaded.standing.role {
        return Ok((200, member_outcome(role)));
    }
    if loaded.standing.banned {
        return Err(banned_here());
    }
    let user = &me.user_id;
    if loaded.standing.expired {
        return renew(store, &loaded.community, user).await;
    }
    let admission = admission(store, &loaded.community, user).await?;
    let member = admission.member(community_id, user);
    let works = || {
        Condition::new(
            INVITE_WORKS,
            Expr::new("attribute_exists(PK) AND validUntilEpoch > :now")
                .value(":now", AttributeValue::N(now_epoch_seconds().to_string())),
        )
    };
    let result = commit_retrying(|| {
        drop_request(
            add_member(store.transaction(), &member, live(), &admission),
            community_id,
            user,
            None,
        )
        .check(&keys::invite(code), works())
    })
    .await;
    match result {
        Ok(()) => Ok((201, member_outcome(Role::Member))),
        Err(error) if error.failed(NOT_MEMBER) => Ok((200, member_outcome(Role::Member))),
        Err(error) if error.failed(NOT_BANNED) => Err(banned_here()),
        Err(error) if error.failed(ENROLLMENT_UNCHANGED) => Err(enrollment_changed()),
        Err(error) if error.failed(INVITE_WORKS) || error.failed(COMMUNITY_LIVE) => Err(
            AppError::NotFound("no such invite, or it has expired or been revoked".into()),
        ),
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /v1/communities/{communityId}`: the owner deletes the community. One
/// transaction marks it deleted (from then on every read and write is its 404), takes it
/// out of discovery and drops its slug claim and tag entries; the stream then removes
/// its members, requests, bans and invites a page at a time ([`clean_up_deleted`]).
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn delete_community_by_owner(
    store: &Store,
    me: &Principal,
    community_id: &str,
) -> AppResult<()> {
    let loaded = load(store, me, community_id).await?;
    if loaded.standing.role != Some(Role::Owner) {
        return Err(AppError::Forbidden(
            "only the owner deletes a community".into(),
        ));
    }
    let community = loaded.community;
    let mut transaction = store.transaction().update(
        &keys::community(community_id),
        Expr::new(
            "SET deletedAt = :now, cleanupStep = :zero \
             REMOVE GSI1PK, GSI1SK, GSI2PK, GSI2SK",
        )
        .value(":now", s(now_rfc3339()))
        .value(":zero", AttributeValue::N("0".into())),
        Some(Condition::new(
            STILL_OWNER,
            Expr::new("ownerId = :me AND attribute_not_exists(deletedAt)")
                .value(":me", s(me.user_id.as_str())),
        )),
    );
    if let Some(slug) = claimed_slug(&community) {
        transaction = transaction.delete(&keys::slug(slug), None);
    }
    for tag in listed_tags(&community) {
        transaction = transaction.delete(&keys::by_tag(&tag, community_id), None);
    }
    match transaction.commit().await {
        Ok(()) => Ok(()),
        Err(error) if error.failed(STILL_OWNER) => Err(concurrently_changed()),
        Err(error) => Err(error.into()),
    }
}

/// Items the clean-up of a deleted community removes per step.
const CLEANUP_PAGE: u32 = 200;

/// One step of a deleted community's clean-up (the stream runs it on each change of
/// the deleted community's item): a page of its members, requests and bans with their
/// mirrors, else a page of its invites with their creators' pointers; then a bump of
/// `cleanupStep`, whose record runs the next step. With nothing left, the community
/// item goes. Idempotent: a redelivered step deletes what is already gone.
pub async fn clean_up_deleted(store: &Store, community_id: &str) -> AppResult<()> {
    let (items, _) = store
        .query(&KeyQuery::partition(keys::partition(community_id)).limit(CLEANUP_PAGE + 1))
        .await?;
    let mut doomed = Vec::new();
    for item in &items {
        let Some(sk) = item.get("SK").and_then(|v| v.as_s().ok()) else {
            continue;
        };
        if sk == keys::META {
            continue;
        }
        doomed.push(Key::new(keys::partition(community_id), sk.clone()));
        doomed.extend(keys::mirror_of(community_id, sk));
    }
    if doomed.is_empty() {
        let (invites, _) = store
            .query(
                &KeyQuery::partition(keys::invites_of(community_id))
                    .on(Index::Gsi1)
                    .limit(CLEANUP_PAGE),
            )
            .await?;
        for invite in invites {
            let invite: Invite = store::from_item(invite)?;
            doomed.push(keys::invite(&invite.code));
            doomed.push(keys::my_invite(&invite.created_by, &invite.code));
        }
    }
    if doomed.is_empty() {
        return store.delete(&keys::community(community_id)).await;
    }
    store.batch_delete(&doomed).await?;
    store
        .transaction()
        .update(
            &keys::community(community_id),
            Expr::new("ADD cleanupStep :one").value(":one", AttributeValue::N("1".into())),
            Some(Condition::new(
                COMMUNITY_LIVE,
                "attribute_exists(deletedAt)",
            )),
        )
        .commit()
        .await
        .or_else(|error| {
            if error.failed(COMMUNITY_LIVE) {
                Ok(())
            } else {
                Err(error.into())
            }
        })
}

/// Account erasure: I leave `community_id`. An owner hands the community to the member
/// [`successor`] names in the same transaction; an owner who was its only member takes
/// the community with them ([`delete_community`]). Idempotent: not a member, nothing.
pub async fn leave_on_erasure(store: &Store, me: &UserId, community_id: &str) -> AppResult<()> {
    for _ in 0..5 {
        let Some(mine) = member_of(store, community_id, me).await? else {
            return Ok(());
        };
        let transaction = if mine.role == Role::Owner {
            let members = all_members(store, community_id).await?;
            let Some(next) = successor(&members, me) else {
                return delete_community(store, community_id).await;
            };
            store
                .transaction()
                .update(
                    &keys::member(community_id, &next.user_id),
                    set_role(Role::Owner),
                    Some(role_is(next.role)),
                )
                .update(
                    &keys::membership(&next.user_id, community_id),
                    set_role(Role::Owner),
                    None,
                )
                .delete(&keys::member(community_id, me), None)
                .delete(&keys::membership(me, community_id), None)
                .update(
                    &keys::community(community_id),
                    Expr::new("SET ownerId = :next ADD memberCount :delta")
                        .value(":next", s(next.user_id.as_str()))
                        .value(":delta", AttributeValue::N("-1".into())),
                    None,
                )
        } else {
            remove_member_ops(store.transaction(), &mine)
        };
        match transaction.commit().await {
            Ok(()) => return Ok(()),
            Err(WriteError::Contended) => continue,
            Err(error) if error.failed(MEMBER_UNCHANGED) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// Deletes a community with everything in its partition (members, requests, bans, with
/// their mirrors), its slug claim and tag entries. Its invites stop working at once
/// (they point at nothing) and TTL removes them.
pub(super) async fn delete_community(store: &Store, community_id: &str) -> AppResult<()> {
    let items = store.query_all(&keys::partition(community_id)).await?;
    let mut doomed = Vec::with_capacity(items.len() * 2);
    for item in &items {
        let Some(sk) = item.get("SK").and_then(|v| v.as_s().ok()) else {
            continue;
        };
        doomed.push(Key::new(keys::partition(community_id), sk.clone()));
        if sk == keys::META {
            let community: Community = store::from_item(item.clone())?;
            if let Some(slug) = claimed_slug(&community) {
                doomed.push(keys::slug(slug));
            }
            for tag in listed_tags(&community) {
                doomed.push(keys::by_tag(&tag, community_id));
            }
        }
        doomed.extend(keys::mirror_of(community_id, sk));
    }
    store.batch_delete(&doomed).await
}

/// `PUT /v1/communities/{id}/following`: a member follows the community (each new topic
/// in it notifies them) or stops. One UpdateItem of the member item, which carries the
/// followers' index key while following; the mirror is not touched. Repeatable.
#[instrument(skip(store))]
pub async fn set_following(
    store: &Store,
    me: &Principal,
    community_id: &str,
    following: bool,
) -> AppResult<bool> {
    let loaded = load(store, me, community_id).await?;
    if !loaded.standing.is_member() {
        return Err(AppError::Forbidden(
            "only members follow a community".into(),
        ));
    }
    let update = if following {
        Expr::new("SET following = :true, GSI1PK = :followers, GSI1SK = :me")
            .value(":true", AttributeValue::Bool(true))
            .value(":followers", s(keys::followers(community_id)))
            .value(":me", s(me.user_id.as_str()))
    } else {
        Expr::new("REMOVE following, GSI1PK, GSI1SK")
    };
    match store
        .update(
            &keys::member(community_id, &me.user_id),
            update,
            Some(Condition::present(MEMBER_THERE)),
            Returning::Nothing,
        )
        .await
    {
        Ok(_) => Ok(following),
        // Left meanwhile.
        Err(error) if error.failed(MEMBER_THERE) => Err(AppError::Forbidden(
            "only members follow a community".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------
// Course-linked communities
// ---------------------------------------------------------------------------------

/// `PUT /v1/communities/{communityId}/course`: links the community to a course, one to
/// one and for good. The caller must be an admin or the owner of the community and the
/// course's instructor. From then on joining needs an active enrollment; members from
/// before stay. Linking the same course again changes nothing.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn link_course(
    store: &Store,
    me: &Principal,
    community_id: &str,
    input: CourseLink,
) -> AppResult<CommunityView> {
    let loaded = load_for(store, me, community_id, Permission::EditSettings).await?;
    let course = courses::course(store, &input.course_id)
        .await?
        .filter(|c| courses::may_see(c, &me.user_id))
        .ok_or_else(|| AppError::invalid_field("courseId", "no such course"))?;
    if course.instructor_id != me.user_id {
        return Err(AppError::Forbidden(
            "only the course's instructor may link it to a community".into(),
        ));
    }
    let mut community = loaded.community;
    match (&community.course_id, &course.community_id) {
        (Some(linked), _) if linked == &course.course_id => {
            return Ok(CommunityView::of(community, &loaded.standing));
        }
        (Some(_), _) => {
            return Err(AppError::Conflict(
                "this community is linked to another course".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(AppError::Conflict(
                "this course is linked to another community".into(),
            ));
        }
        (None, None) => {}
    }
    let result = store
        .transaction()
        .update(
            &keys::community(community_id),
            Expr::new("SET courseId = :course").value(":course", s(&course.course_id)),
            Some(Condition::new(
                COMMUNITY_UNLINKED,
                "attribute_exists(PK) AND attribute_not_exists(deletedAt) AND attribute_not_exists(courseId)",
            )),
        )
        .update(
            &courses::keys::course(&course.course_id),
            Expr::new("SET communityId = :community").value(":community", s(community_id)),
            Some(Condition::new(
                COURSE_UNLINKED,
                Expr::new(
                    "attribute_exists(PK) AND attribute_not_exists(communityId) AND instructorId = :me",
                )
                .value(":me", s(me.user_id.as_str())),
            )),
        )
        .commit()
        .await;
    match result {
        Ok(()) => {}
        Err(error) if error.failed(COMMUNITY_UNLINKED) || error.failed(COURSE_UNLINKED) => {
            return Err(concurrently_changed());
        }
        Err(error) => return Err(error.into()),
    }
    community.course_id = Some(course.course_id);
    let standing = Standing {
        course_linked: true,
        ..loaded.standing
    };
    Ok(CommunityView::of(community, &standing))
}

/// The stream's reaction to a changed or ended enrollment: in the course's community, a
/// learner's access now ends when the enrollment does, and a revoked or left
/// enrollment removes them. Members above `member` (who need no enrollment) are left
/// alone. One GetItem of the course, then the member's.
pub async fn follow_enrollment(
    store: &Store,
    course_id: &str,
    user: &UserId,
    now_ends: Option<Option<i64>>,
) -> AppResult<()> {
    let Some(community_id) = courses::course(store, course_id)
        .await?
        .and_then(|c| c.community_id)
    else {
        return Ok(());
    };
    let Some(member) = member_of(store, &community_id, user).await? else {
        return Ok(());
    };
    if member.role != Role::Member {
        return Ok(());
    }
    match now_ends {
        Some(until) if member.access_until != until => {
            set_access(store, &community_id, user, until, &Admission::default()).await?;
            Ok(())
        }
        Some(_) => Ok(()),
        None => {
            match commit_retrying(|| remove_member_ops(store.transaction(), &member)).await {
                Ok(()) => Ok(()),
                // Their role changed meanwhile, or they left: nothing to do.
                Err(error) if error.failed(MEMBER_UNCHANGED) => Ok(()),
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// The scheduled sweep: removes up to `limit` learners whose access ended before `now`
/// (GSI3 `CACCESS`, oldest first), each only if their access end is still the one
/// found. Returns how many it removed.
pub async fn sweep_ended_access(store: &Store, now: i64, limit: u32) -> AppResult<u32> {
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::ACCESS_ENDS)
                .on(Index::Gsi3)
                .limit(limit.clamp(1, 100)),
        )
        .await?;
    let mut removed = 0;
    for item in items {
        let member: Member = store::from_item(item)?;
        let Some(until) = member.access_until else {
            continue;
        };
        if until > now {
            break;
        }
        let ended = Condition::new(
            MEMBER_UNCHANGED,
            Expr::new("accessUntil = :until AND #role = :member")
                .name("#role", "role")
                .value(":until", AttributeValue::N(until.to_string()))
                .value(":member", s(Role::Member.as_str())),
        );
        let result = commit_retrying(|| {
            store
                .transaction()
                .delete(
                    &keys::member(&member.community_id, &member.user_id),
                    Some(ended.clone()),
                )
                .delete(
                    &keys::membership(&member.user_id, &member.community_id),
                    None,
                )
                .update(
                    &keys::community(&member.community_id),
                    count_change(-1),
                    None,
                )
        })
        .await;
        match result {
            Ok(()) => removed += 1,
            Err(error) if error.failed(MEMBER_UNCHANGED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------
// Shared resources (a learning circle's)
// ---------------------------------------------------------------------------------

/// `POST /v1/communities/{communityId}/resources`: members share a link, a file URL or
/// a note (those who may start topics there).
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn add_resource(
    store: &Store,
    me: &Principal,
    community_id: &str,
    input: NewResource,
) -> AppResult<Resource> {
    check(&input)?;
    input.check_kind()?;
    let loaded = load(store, me, community_id).await?;
    if !allows_posts(loaded.community.kind, &loaded.standing, PostAccess::Post) {
        return Err(AppError::Forbidden(
            "only the community's members share resources".into(),
        ));
    }
    let resource = Resource {
        resource_id: new_ulid(),
        community_id: community_id.to_owned(),
        kind: input.kind,
        title: input.title.trim().to_owned(),
        url: input.url,
        note: validation::trimmed(input.note),
        added_by: me.user_id.clone(),
        created_at: now_rfc3339(),
    };
    let result = store
        .transaction()
        .put_entity(&resource, Some(Condition::absent(RESOURCE_NEW)))
        .check(&keys::community(community_id), live())
        .commit()
        .await;
    match result {
        Ok(()) => Ok(resource),
        Err(error) if error.failed(COMMUNITY_LIVE) => Err(no_such_community()),
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /v1/communities/{communityId}/resources/{resourceId}`: whoever shared it,
/// or the community's moderators.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn delete_resource(
    store: &Store,
    me: &Principal,
    community_id: &str,
    resource_id: &str,
) -> AppResult<()> {
    let loaded = load(store, me, community_id).await?;
    let missing = || AppError::NotFound("no such resource".into());
    if !valid_community_id(resource_id) {
        return Err(missing());
    }
    let resource: Resource = store
        .get(&keys::resource(community_id, resource_id))
        .await?
        .ok_or_else(missing)?;
    if resource.added_by != me.user_id {
        require(
            loaded.community.kind,
            &loaded.standing,
            Permission::Moderate,
        )?;
    }
    store.delete(&resource.key()).await
}
