//! Communities: access patterns: the reads this context serves from the table.

use super::*;

/// A community and where the caller stands in it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub community: Community,
    pub standing: Standing,
}

use store::{from_items as decode, sort_key};

/// The community `community_id` and my standing in it, in one BatchGetItem (the
/// community, my member item, my join request and my ban). Missing, or secret and I
/// am not in it: the 404 of a missing community.
pub async fn load(store: &Store, me: &Principal, community_id: &str) -> AppResult<Loaded> {
    let loaded = read(store, me, community_id).await?;
    if !allows(loaded.community.kind, &loaded.standing, Permission::See) {
        return Err(no_such_community());
    }
    Ok(loaded)
}

/// [`load`], and the check that I may do `permission` there (`403`, or the `404` of a
/// missing community to whoever may not see it).
pub async fn load_for(
    store: &Store,
    me: &Principal,
    community_id: &str,
    permission: Permission,
) -> AppResult<Loaded> {
    let loaded = load(store, me, community_id).await?;
    require(loaded.community.kind, &loaded.standing, permission)?;
    Ok(loaded)
}

/// [`load`] without the check that I may see the community.
pub(super) async fn read(store: &Store, me: &Principal, community_id: &str) -> AppResult<Loaded> {
    read_as(
        store,
        &me.user_id,
        me.has_role(PLATFORM_MODERATOR_ROLE),
        community_id,
    )
    .await
}

/// A community and `user`'s standing in it (one BatchGetItem), seen by a user whose
/// token does (`platform_moderator`) or does not carry the platform moderator role.
pub async fn read_as(
    store: &Store,
    user: &UserId,
    platform_moderator: bool,
    community_id: &str,
) -> AppResult<Loaded> {
    if !valid_community_id(community_id) {
        return Err(no_such_community());
    }
    let keys = [
        keys::community(community_id),
        keys::member(community_id, user),
        keys::join_request(community_id, user),
        keys::ban(community_id, user),
    ];
    let mut community = None;
    let mut standing = Standing {
        platform_moderator,
        ..Standing::default()
    };
    for item in store.batch_get_items(&keys).await? {
        match sort_key(&item) {
            Some(keys::META) => community = Some(store::from_item::<Community>(item)?),
            Some(sk) if sk.starts_with(keys::MEMBER_PREFIX) => {
                let member = store::from_item::<Member>(item)?;
                if member.has_access(now_epoch_seconds()) {
                    standing.role = Some(member.role);
                    standing.following = member.following;
                } else {
                    standing.expired = true;
                }
            }
            Some(sk) if sk.starts_with(keys::JOIN_REQUEST_PREFIX) => standing.pending = true,
            Some(sk) if sk.starts_with(keys::BAN_PREFIX) => standing.banned = true,
            _ => {}
        }
    }
    let community = community
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(no_such_community)?;
    standing.course_linked = community.course_id.is_some();
    Ok(Loaded {
        community,
        standing,
    })
}

/// The community an id or a listed community's slug names: an id is used as it is; a
/// slug is one GetItem of its claim.
pub async fn resolve(store: &Store, reference: &str) -> AppResult<String> {
    if valid_community_id(reference) {
        return Ok(reference.to_owned());
    }
    if validation::slug(reference).is_err() {
        return Err(no_such_community());
    }
    let claim: Option<SlugClaim> = store.get(&keys::slug(reference)).await?;
    claim.map(|c| c.community_id).ok_or_else(no_such_community)
}

/// `GET /v1/communities/{community}`: by id or slug.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn get_community(
    store: &Store,
    me: &Principal,
    reference: &str,
) -> AppResult<CommunityView> {
    let id = resolve(store, reference).await?;
    let loaded = load(store, me, &id).await?;
    Ok(CommunityView::of(loaded.community, &loaded.standing))
}

/// `GET /v1/communities`: listed communities, never secret ones. Newest is one Query
/// of GSI2, a name prefix one Query of GSI1; a tag is one Query of the tag's partition
/// and one BatchGetItem of the communities.
#[instrument(skip(store, cursors))]
pub async fn discover(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    discovery: &Discovery,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<CommunityView>> {
    let scope = discovery.cursor_scope();
    let start = cursor
        .map(|c| cursors.open(viewer, &scope, c))
        .transpose()?;
    let (communities, next): (Vec<Community>, _) = match discovery {
        Discovery::Newest => {
            let (items, next) = store
                .query(
                    &KeyQuery::partition(keys::LISTED)
                        .on(Index::Gsi2)
                        .newest_first()
                        .limit(limit)
                        .start(start),
                )
                .await?;
            (decode(items)?, next)
        }
        Discovery::NamePrefix(prefix) => {
            let first = prefix.chars().next().unwrap_or('_');
            let (items, next) = store
                .query(
                    &KeyQuery::partition(keys::name_partition(first))
                        .on(Index::Gsi1)
                        .prefix(prefix.clone())
                        .limit(limit)
                        .start(start),
                )
                .await?;
            (decode(items)?, next)
        }
        Discovery::Tag(tag) => {
            let (items, next) = store
                .query(
                    &KeyQuery::partition(keys::tag_partition(tag))
                        .newest_first()
                        .limit(limit)
                        .start(start),
                )
                .await?;
            let entries: Vec<TagEntry> = decode(items)?;
            let keys: Vec<Key> = entries
                .iter()
                .map(|e| keys::community(&e.community_id))
                .collect();
            (store.batch_get(&keys).await?, next)
        }
    };
    Ok(Page {
        items: communities
            .into_iter()
            .filter(|c| {
                c.kind.is_listed()
                    && c.deleted_at.is_none()
                    && !crate::contexts::moderation::is_hidden(c.screening.as_ref())
            })
            .map(|c| CommunityView::of(c, &Standing::outsider()))
            .collect(),
        next_cursor: cursors.seal_next(viewer, &scope, next)?,
    })
}

/// `GET /v1/me/communities`: the communities I belong to, with my role: one Query of my
/// memberships and one BatchGetItem of the communities.
#[instrument(skip(store, cursors))]
pub async fn my_communities(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<CommunityView>> {
    let scope = "my-communities";
    let start = cursor.map(|c| cursors.open(me, scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(me))
                .prefix(keys::MEMBERSHIP_PREFIX)
                .limit(limit)
                .start(start),
        )
        .await?;
    let memberships: Vec<Member> = decode(items)?;
    let keys: Vec<Key> = memberships
        .iter()
        .map(|m| keys::community(&m.community_id))
        .collect();
    let communities: Vec<Community> = store.batch_get(&keys).await?;
    let mut roles: std::collections::HashMap<String, Role> = memberships
        .into_iter()
        .map(|m| (m.community_id, m.role))
        .collect();
    Ok(Page {
        items: communities
            .into_iter()
            .filter(|c| c.deleted_at.is_none())
            .map(|c| {
                let standing = Standing {
                    role: roles.remove(&c.community_id),
                    ..Standing::default()
                };
                CommunityView::of(c, &standing)
            })
            .collect(),
        next_cursor: cursors.seal_next(me, scope, next)?,
    })
}

/// A list kept in a community's partition: its sort-key prefix and who may read it.
struct Section {
    prefix: &'static str,
    permission: Permission,
}

const MEMBERS: Section = Section {
    prefix: keys::MEMBER_PREFIX,
    permission: Permission::SeeMembers,
};

const JOIN_REQUESTS: Section = Section {
    prefix: keys::JOIN_REQUEST_PREFIX,
    permission: Permission::ReviewJoinRequests,
};

const BANS: Section = Section {
    prefix: keys::BAN_PREFIX,
    permission: Permission::Moderate,
};

/// One page of a community's `section`, after checking who may read it: one
/// BatchGetItem ([`load`]) and one Query.
async fn community_page<T: serde::de::DeserializeOwned>(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    community_id: &str,
    section: Section,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<(Vec<T>, Option<String>)> {
    let loaded = load(store, me, community_id).await?;
    require(loaded.community.kind, &loaded.standing, section.permission)?;
    let prefix = section.prefix;
    let scope = format!("community:{community_id}:{prefix}");
    let start = cursor
        .map(|c| cursors.open(&me.user_id, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::partition(community_id))
                .prefix(prefix)
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok((
        decode(items)?,
        cursors.seal_next(&me.user_id, &scope, next)?,
    ))
}

/// `GET /v1/communities/{communityId}/members`: members with their roles and
/// profiles (as a stranger sees them): one BatchGetItem, one Query, one BatchGetItem.
#[instrument(skip(store, cursors, me), fields(user = %me.user_id))]
pub async fn list_members(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    community_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<MemberView>> {
    let (members, next_cursor): (Vec<Member>, _) =
        community_page(store, cursors, me, community_id, MEMBERS, limit, cursor).await?;
    let ids: Vec<UserId> = members.iter().map(|m| m.user_id.clone()).collect();
    let mut views =
        profiles::views_for(store, &me.user_id, &ids, graph::Relationship::Stranger).await?;
    Ok(Page {
        items: members
            .into_iter()
            .map(|m| MemberView {
                profile: views.remove(&m.user_id),
                access_until: m
                    .access_until
                    .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
                    .map(format_rfc3339),
                user_id: m.user_id,
                role: m.role,
                joined_at: m.joined_at,
            })
            .collect(),
        next_cursor,
    })
}

/// `GET /v1/communities/{communityId}/join-requests`: oldest first, for moderators.
#[instrument(skip(store, cursors, me), fields(user = %me.user_id))]
pub async fn list_join_requests(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    community_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<JoinRequestView>> {
    let (requests, next_cursor): (Vec<JoinRequest>, _) = community_page(
        store,
        cursors,
        me,
        community_id,
        JOIN_REQUESTS,
        limit,
        cursor,
    )
    .await?;
    let ids: Vec<UserId> = requests.iter().map(|r| r.user_id.clone()).collect();
    let mut views =
        profiles::views_for(store, &me.user_id, &ids, graph::Relationship::Stranger).await?;
    Ok(Page {
        items: requests
            .into_iter()
            .map(|r| JoinRequestView {
                profile: views.remove(&r.user_id),
                user_id: r.user_id,
                message: r.message,
                created_at: r.created_at,
            })
            .collect(),
        next_cursor,
    })
}

/// `GET /v1/communities/{communityId}/bans`: for moderators.
#[instrument(skip(store, cursors, me), fields(user = %me.user_id))]
pub async fn list_bans(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    community_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<BanView>> {
    let (bans, next_cursor): (Vec<Ban>, _) =
        community_page(store, cursors, me, community_id, BANS, limit, cursor).await?;
    Ok(Page {
        items: bans.into_iter().map(BanView::from).collect(),
        next_cursor,
    })
}

/// `GET /v1/communities/{communityId}/invites`: the invites that still work, newest
/// first, for moderators: one BatchGetItem and one Query of GSI1.
#[instrument(skip(store, cursors, me), fields(user = %me.user_id))]
pub async fn list_invites(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    community_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<InviteView>> {
    load_for(store, me, community_id, Permission::ManageInvites).await?;
    let scope = format!("community:{community_id}:invites");
    let start = cursor
        .map(|c| cursors.open(&me.user_id, &scope, c))
        .transpose()?;
    let now = now_epoch_seconds();
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::invites_of(community_id))
                .on(Index::Gsi1)
                .newest_first()
                .filter(
                    Expr::new("validUntilEpoch > :now")
                        .value(":now", AttributeValue::N(now.to_string())),
                )
                .limit(limit)
                .start(start),
        )
        .await?;
    let invites: Vec<Invite> = decode(items)?;
    Ok(Page {
        items: invites.into_iter().map(InviteView::from).collect(),
        next_cursor: cursors.seal_next(&me.user_id, &scope, next)?,
    })
}

/// An invite that still works: absent, malformed, revoked and expired codes are all
/// the same 404.
pub(super) async fn working_invite(store: &Store, code: &str) -> AppResult<Invite> {
    let gone = || AppError::NotFound("no such invite, or it has expired or been revoked".into());
    if !valid_invite_code(code) {
        return Err(gone());
    }
    let invite: Invite = store.get(&keys::invite(code)).await?.ok_or_else(gone)?;
    if !invite_works(&invite, now_epoch_seconds()) {
        return Err(gone());
    }
    Ok(invite)
}

/// `GET /v1/invites/{code}`: what the invite is to. Its holder sees the community even
/// when it is secret.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn preview_invite(store: &Store, me: &Principal, code: &str) -> AppResult<InvitePreview> {
    let invite = working_invite(store, code).await?;
    let loaded = read(store, me, &invite.community_id).await?;
    Ok(InvitePreview {
        code: invite.code,
        expires_at: invite.valid_until,
        community: CommunityView::of(loaded.community, &loaded.standing),
    })
}

/// Every member of a community, all pages (for handing ownership over at erasure).
pub(super) async fn all_members(store: &Store, community_id: &str) -> AppResult<Vec<Member>> {
    let items = store
        .query_matching(
            KeyQuery::partition(keys::partition(community_id)).prefix(keys::MEMBER_PREFIX),
        )
        .await?;
    decode(items)
}

/// A member's item, if they are one.
pub(super) async fn member_of(
    store: &Store,
    community_id: &str,
    user: &UserId,
) -> AppResult<Option<Member>> {
    store.get(&keys::member(community_id, user)).await
}

/// Of `users`, those who are members of `community_id`: one BatchGetItem of their
/// member items.
pub async fn members_among(
    store: &Store,
    community_id: &str,
    users: &[UserId],
) -> AppResult<std::collections::HashSet<UserId>> {
    if users.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let keys: Vec<Key> = users
        .iter()
        .map(|u| keys::member(community_id, u))
        .collect();
    let members: Vec<Member> = store.batch_get(&keys).await?;
    Ok(members.into_iter().map(|m| m.user_id).collect())
}

/// Whether a community is public now (absent: not public): one GetItem.
pub async fn is_public(store: &Store, community_id: &str) -> AppResult<bool> {
    if !valid_community_id(community_id) {
        return Ok(false);
    }
    let community: Option<Community> = store.get(&keys::community(community_id)).await?;
    Ok(community.is_some_and(|c| c.kind == CommunityKind::Public && c.deleted_at.is_none()))
}

/// Whether a community is there and listed (public or private) now; a secret, deleted
/// or missing one is not: one GetItem.
pub async fn is_listed(store: &Store, community_id: &str) -> AppResult<bool> {
    if !valid_community_id(community_id) {
        return Ok(false);
    }
    let community: Option<Community> = store.get(&keys::community(community_id)).await?;
    Ok(community.is_some_and(|c| c.kind.is_listed() && c.deleted_at.is_none()))
}

/// Who hears of a community's new topic: its followers (GSI1 `CFOLLOWERS#<id>`) or,
/// for an announcement, all its members; one Query page of `limit` from `start`.
pub async fn audience_page(
    store: &Store,
    community_id: &str,
    everyone: bool,
    limit: u32,
    start: Option<PageKey>,
) -> AppResult<(Vec<UserId>, Option<PageKey>)> {
    let query = if everyone {
        KeyQuery::partition(keys::partition(community_id)).prefix(keys::MEMBER_PREFIX)
    } else {
        KeyQuery::partition(keys::followers(community_id)).on(Index::Gsi1)
    };
    let (items, next) = store.query(&query.limit(limit).start(start)).await?;
    let users = items
        .into_iter()
        .map(|item| store::from_item::<Member>(item).map(|m| m.user_id))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((users, next))
}

/// `GET /v1/communities/{communityId}/resources`: newest first, for those who may read
/// its posts: one BatchGetItem and one Query.
#[instrument(skip(store, cursors, me), fields(user = %me.user_id))]
pub async fn list_resources(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    community_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Resource>> {
    let loaded = load(store, me, community_id).await?;
    if !allows_posts(loaded.community.kind, &loaded.standing, PostAccess::Read) {
        return Err(AppError::Forbidden(
            "join this community to see its resources".into(),
        ));
    }
    let scope = format!("community:{community_id}:resources");
    let start = cursor
        .map(|c| cursors.open(&me.user_id, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::partition(community_id))
                .prefix(keys::RESOURCE_PREFIX)
                .newest_first()
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok(Page {
        items: decode(items)?,
        next_cursor: cursors.seal_next(&me.user_id, &scope, next)?,
    })
}
