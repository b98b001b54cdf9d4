//! Communities: pure rules: who may do what (the permission matrix of
//! `docs/communities.md`), settings changes and invite codes, with no I/O.

use super::*;

/// The platform-wide role (a token claim) that acts as a moderator in every community.
pub const PLATFORM_MODERATOR_ROLE: &str = "moderator";

/// Where I stand in one community: my membership, my pending request, my ban, and
/// whether my token carries the platform moderator role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub role: Option<Role>,
    pub pending: bool,
    pub banned: bool,
    pub platform_moderator: bool,
    /// A member who follows the community.
    pub following: bool,
    /// My membership of this course-linked community ended with my enrollment: I am
    /// an outsider again (`role` is none).
    pub expired: bool,
    /// The community is linked to a course, whose instructors moderate it.
    pub course_linked: bool,
}

impl Standing {
    pub fn outsider() -> Self {
        Self::default()
    }

    pub fn is_member(&self) -> bool {
        self.role.is_some()
    }

    pub fn status(&self) -> Option<MyStatus> {
        if self.role.is_some() {
            Some(MyStatus::Member)
        } else if self.banned {
            Some(MyStatus::Banned)
        } else if self.pending {
            Some(MyStatus::Pending)
        } else if self.expired {
            Some(MyStatus::Expired)
        } else {
            None
        }
    }

    /// The role my permissions come from: my own, raised to moderator when my token
    /// carries the platform moderator role, or when I am an instructor of a
    /// course-linked community (roles come from the course).
    pub fn acting_role(&self) -> Option<Role> {
        let own = match self.role {
            Some(Role::Instructor) if self.course_linked => Some(Role::Moderator),
            other => other,
        };
        if self.platform_moderator {
            own.max(Some(Role::Moderator))
        } else {
            own
        }
    }

    fn at_least(&self, role: Role) -> bool {
        self.acting_role().is_some_and(|mine| mine >= role)
    }
}

/// What someone may do in a community. `docs/communities.md` has the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the community itself.
    See,
    /// List its members.
    SeeMembers,
    /// Change its name, slug, texts, tags, kind and post approval.
    EditSettings,
    /// Create, list and revoke invite links.
    ManageInvites,
    /// List, approve and deny join requests.
    ReviewJoinRequests,
    /// Ban, unban, list bans and remove members (of a lower role).
    Moderate,
    /// Change members' roles (below my own).
    ChangeRoles,
}

/// Whether `standing` may do `permission` in a community of `kind`.
pub fn allows(kind: CommunityKind, standing: &Standing, permission: Permission) -> bool {
    match permission {
        Permission::See => kind.is_listed() || standing.is_member() || standing.platform_moderator,
        Permission::SeeMembers => {
            kind == CommunityKind::Public || standing.is_member() || standing.platform_moderator
        }
        Permission::ManageInvites | Permission::ReviewJoinRequests | Permission::Moderate => {
            standing.at_least(Role::Moderator)
        }
        Permission::EditSettings | Permission::ChangeRoles => standing.at_least(Role::Admin),
    }
}

/// What someone does with a community's posts (its topics, their replies and reactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostAccess {
    /// Read topics and replies, list the community's topics.
    Read,
    /// Reply and react.
    Reply,
    /// Start a topic.
    Post,
}

/// Who may read, reply to and start a community's posts: members, and for a public
/// community anyone may read and reply; banned users write nothing.
pub fn allows_posts(kind: CommunityKind, standing: &Standing, access: PostAccess) -> bool {
    let open = kind == CommunityKind::Public;
    match access {
        PostAccess::Read => open || standing.is_member() || standing.platform_moderator,
        PostAccess::Reply => !standing.banned && (open || standing.is_member()),
        PostAccess::Post => !standing.banned && standing.is_member(),
    }
}

/// A condition on a community member item (named `name`, for the transaction that
/// checks it): it exists, and its access has not ended at `now` (epoch seconds).
pub fn member_with_access(name: &'static str, now: i64) -> Condition {
    Condition::new(
        name,
        Expr::new(
            "attribute_exists(PK) AND (attribute_not_exists(accessUntil) OR accessUntil > :now)",
        )
        .value(":now", AttributeValue::N(now.to_string())),
    )
}

/// The 404 that a missing community, and one I may not see, both answer.
pub fn no_such_community() -> AppError {
    AppError::NotFound("no such community".into())
}

/// Refuses what `standing` may not do: a 404 when it may not even see the community
/// (so a secret community never shows it exists), a 403 otherwise.
pub fn require(kind: CommunityKind, standing: &Standing, permission: Permission) -> AppResult<()> {
    if !allows(kind, standing, Permission::See) {
        return Err(no_such_community());
    }
    if allows(kind, standing, permission) {
        return Ok(());
    }
    let what = match permission {
        Permission::See => "see this community",
        Permission::SeeMembers => "see this community's members (join it first)",
        Permission::EditSettings => "change this community's settings",
        Permission::ManageInvites => "manage this community's invites",
        Permission::ReviewJoinRequests => "review this community's join requests",
        Permission::Moderate => "moderate this community",
        Permission::ChangeRoles => "change roles in this community",
    };
    Err(AppError::Forbidden(format!(
        "your role does not allow you to {what}"
    )))
}

/// A moderator acts on members of a lower role only: `actor` must outrank `target`
/// (a non-member has no role and is outranked by every moderator).
pub fn require_outranks(actor: &Standing, target: Option<Role>) -> AppResult<()> {
    match (actor.acting_role(), target) {
        (Some(mine), Some(theirs)) if mine <= theirs => Err(AppError::Forbidden(format!(
            "you cannot act on a member whose role ({}) is at or above yours",
            theirs.as_str()
        ))),
        (None, _) => Err(AppError::Forbidden(
            "your role does not allow you to moderate this community".into(),
        )),
        _ => Ok(()),
    }
}

/// What a role change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// The member gets `Role` (never owner).
    Set(Role),
    /// The owner hands the community over: the member becomes owner, the owner admin.
    TransferOwnership,
    /// The member already has the role.
    Unchanged,
}

/// Decides a role change by `actor` of a member whose role is `current` to `wanted`:
/// only the owner makes an owner (by handing ownership over); otherwise an admin or the
/// owner gives roles below their own to members below their own.
pub fn role_change(actor: &Standing, current: Role, wanted: Role) -> AppResult<RoleChange> {
    if wanted == Role::Owner {
        if actor.role != Some(Role::Owner) {
            return Err(AppError::Forbidden(
                "only the owner can hand over ownership".into(),
            ));
        }
        if current == Role::Owner {
            return Ok(RoleChange::Unchanged);
        }
        return Ok(RoleChange::TransferOwnership);
    }
    if !actor.at_least(Role::Admin) {
        return Err(AppError::Forbidden(
            "your role does not allow you to change roles in this community".into(),
        ));
    }
    require_outranks(actor, Some(current))?;
    if actor.acting_role().is_some_and(|mine| mine <= wanted) {
        return Err(AppError::Forbidden(format!(
            "you can only give roles below your own, not {}",
            wanted.as_str()
        )));
    }
    if current == wanted {
        return Ok(RoleChange::Unchanged);
    }
    Ok(RoleChange::Set(wanted))
}

/// The tags under which a community is listed: none when it is secret.
pub fn listed_tags(community: &Community) -> Vec<String> {
    if community.kind.is_listed() {
        community.tags.clone()
    } else {
        Vec::new()
    }
}

/// The slug a community claims: none when it is secret (so no one can learn that a
/// secret community uses a slug).
pub fn claimed_slug(community: &Community) -> Option<&str> {
    community
        .kind
        .is_listed()
        .then_some(community.slug.as_str())
}

/// A new community, owned by its creator (its first member).
pub fn new_community(id: String, owner: &UserId, input: NewCommunity, now: &str) -> Community {
    Community {
        community_id: id,
        slug: input.slug,
        name: input.name.trim().to_owned(),
        description: validation::trimmed(input.description),
        guidelines: validation::trimmed(input.guidelines),
        cover_image_url: input.cover_image_url,
        tags: validation::normalized_tags(&input.tags),
        kind: input.kind,
        require_post_approval: input.require_post_approval,
        circle: input.circle,
        owner_id: owner.clone(),
        course_id: None,
        member_count: 1,
        version: 1,
        deleted_at: None,
        cleanup_step: 0,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        screening: None,
    }
}

/// The community after a settings change, with its version bumped.
pub fn apply_patch(mut community: Community, patch: CommunityPatch, now: &str) -> Community {
    if let Some(name) = patch.name {
        community.name = name.trim().to_owned();
    }
    if let Some(slug) = patch.slug {
        community.slug = slug;
    }
    if let Some(description) = patch.description {
        community.description = validation::trimmed(description);
    }
    if let Some(guidelines) = patch.guidelines {
        community.guidelines = validation::trimmed(guidelines);
    }
    if let Some(url) = patch.cover_image_url {
        community.cover_image_url = url;
    }
    if let Some(tags) = patch.tags {
        community.tags = validation::normalized_tags(&tags);
    }
    if let Some(circle) = patch.circle {
        community.circle = circle;
    }
    if let Some(kind) = patch.kind {
        community.kind = kind;
    }
    if let Some(flag) = patch.require_post_approval {
        community.require_post_approval = flag;
    }
    community.version += 1;
    community.updated_at = now.to_owned();
    community
}

/// A fresh invite code: 128 random bits as 26 characters of Crockford base32.
pub fn new_invite_code() -> AppResult<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(AppError::internal)?;
    Ok(ulid::Ulid::from(u128::from_be_bytes(bytes)).to_string())
}

/// An invite of `community_id` by `creator` that works for `hours` from `now`.
pub fn new_invite(
    code: String,
    community_id: &str,
    creator: &UserId,
    now: time::OffsetDateTime,
    hours: u32,
) -> Invite {
    let until = now + time::Duration::hours(i64::from(hours));
    Invite {
        code,
        community_id: community_id.to_owned(),
        created_by: creator.clone(),
        created_at: format_rfc3339(now),
        valid_until: format_rfc3339(until),
        valid_until_epoch: until.unix_timestamp(),
    }
}

/// Whether an invite still works at `now` (epoch seconds).
pub fn invite_works(invite: &Invite, now: i64) -> bool {
    invite.valid_until_epoch > now
}

/// Who takes over a community when its owner's account is erased: the highest role,
/// then the longest membership. `None`: the owner was its only member.
pub fn successor<'a>(members: &'a [Member], owner: &UserId) -> Option<&'a Member> {
    members
        .iter()
        .filter(|m| &m.user_id != owner)
        .max_by(|a, b| {
            a.role
                .cmp(&b.role)
                .then_with(|| b.joined_at.cmp(&a.joined_at))
                .then_with(|| b.user_id.cmp(&a.user_id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_request_or_ban_goes_with_its_mirror_and_nothing_else_has_one() {
        let mirror = |sk: &str| keys::mirror_of("C1", sk).map(|k| (k.pk, k.sk));

        assert_eq!(
            mirror("MEMBER#ana"),
            Some(("USER#ana".to_owned(), "COMMUNITY#C1".to_owned()))
        );
        assert_eq!(
            mirror("JOINREQ#bo"),
            Some(("USER#bo".to_owned(), "CJOINREQ#C1".to_owned()))
        );
        assert_eq!(
            mirror("BAN#cy"),
            Some(("USER#cy".to_owned(), "CBAN#C1".to_owned()))
        );
        assert_eq!(mirror("META"), None);
        assert_eq!(mirror("MEMBER#"), None);
    }

    fn as_role(role: Role) -> Standing {
        Standing {
            role: Some(role),
            ..Standing::default()
        }
    }

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_outsider_sees_listed_communities_but_not_a_secret_one() {
        let outsider = Standing::outsider();

        assert!(allows(CommunityKind::Public, &outsider, Permission::See));
        assert!(allows(CommunityKind::Private, &outsider, Permission::See));
        assert!(!allows(CommunityKind::Secret, &outsider, Permission::See));
    }

    #[test]
    fn an_outsider_is_refused_a_secret_community_with_the_404_of_a_missing_one() {
        let refused = require(
            CommunityKind::Secret,
            &Standing::outsider(),
            Permission::Moderate,
        );

        assert!(matches!(refused, Err(AppError::NotFound(_))));
    }

    #[test]
    fn members_of_a_private_community_see_its_members_and_outsiders_do_not() {
        assert!(allows(
            CommunityKind::Private,
            &as_role(Role::Member),
            Permission::SeeMembers
        ));
        assert!(!allows(
            CommunityKind::Private,
            &Standing::outsider(),
            Permission::SeeMembers
        ));
        assert!(allows(
            CommunityKind::Public,
            &Standing::outsider(),
            Permission::SeeMembers
        ));
    }

    #[test]
    fn moderators_moderate_and_only_admins_and_the_owner_change_settings() {
        let moderator = as_role(Role::Moderator);

        assert!(allows(
            CommunityKind::Public,
            &moderator,
            Permission::Moderate
        ));
        assert!(!allows(
            CommunityKind::Public,
            &moderator,
            Permission::EditSettings
        ));
        assert!(allows(
            CommunityKind::Public,
            &as_role(Role::Admin),
            Permission::EditSettings
        ));
        assert!(!allows(
            CommunityKind::Public,
            &as_role(Role::Instructor),
            Permission::Moderate
        ));
    }

    #[test]
    fn the_platform_moderator_role_moderates_in_every_community() {
        let platform = Standing {
            platform_moderator: true,
            ..Standing::default()
        };

        assert!(allows(CommunityKind::Secret, &platform, Permission::See));
        assert!(allows(
            CommunityKind::Secret,
            &platform,
            Permission::Moderate
        ));
        assert!(!allows(
            CommunityKind::Secret,
            &platform,
            Permission::EditSettings
        ));
    }

    #[test]
    fn a_moderator_cannot_act_on_another_moderator_but_an_admin_can() {
        assert!(require_outranks(&as_role(Role::Moderator), Some(Role::Moderator)).is_err());
        assert!(require_outranks(&as_role(Role::Moderator), Some(Role::Instructor)).is_ok());
        assert!(require_outranks(&as_role(Role::Admin), Some(Role::Moderator)).is_ok());
        assert!(require_outranks(&as_role(Role::Moderator), None).is_ok());
    }

    #[test]
    fn an_admin_gives_roles_below_their_own_and_only_the_owner_hands_over_ownership() {
        let admin = as_role(Role::Admin);
        let owner = as_role(Role::Owner);

        assert_eq!(
            role_change(&admin, Role::Member, Role::Moderator).ok(),
            Some(RoleChange::Set(Role::Moderator))
        );
        assert!(role_change(&admin, Role::Member, Role::Admin).is_err());
        assert!(role_change(&admin, Role::Admin, Role::Member).is_err());
        assert!(role_change(&admin, Role::Member, Role::Owner).is_err());
        assert_eq!(
            role_change(&owner, Role::Member, Role::Admin).ok(),
            Some(RoleChange::Set(Role::Admin))
        );
        assert_eq!(
            role_change(&owner, Role::Admin, Role::Owner).ok(),
            Some(RoleChange::TransferOwnership)
        );
        assert!(role_change(&as_role(Role::Moderator), Role::Member, Role::Instructor).is_err());
    }

    #[test]
    fn a_secret_community_claims_no_slug_and_no_tags() {
        let mut community = new_community(
            new_ulid(),
            &user("ana"),
            NewCommunity {
                name: "  Budget  Club ".into(),
                slug: "budget-club".into(),
                description: Some("  ".into()),
                guidelines: None,
                cover_image_url: None,
                tags: vec!["#Money".into(), "money".into(), "saving".into()],
                kind: CommunityKind::Public,
                require_post_approval: false,
                circle: None,
            },
            "2026-11-26T00:00:00.000Z",
        );
        assert_eq!(community.tags, vec!["money", "saving"]);
        assert_eq!(community.description, None);
        assert_eq!(claimed_slug(&community), Some("budget-club"));

        community.kind = CommunityKind::Secret;

        assert_eq!(claimed_slug(&community), None);
        assert!(listed_tags(&community).is_empty());
        assert!(community.index_keys().is_empty());
    }

    #[test]
    fn invite_codes_are_26_base32_characters_and_differ() -> AppResult<()> {
        let a = new_invite_code()?;
        let b = new_invite_code()?;

        assert!(valid_invite_code(&a));
        assert_ne!(a, b);
        Ok(())
    }

    #[test]
    fn an_invite_works_until_its_expiry_and_not_after() {
        let now = time::macros::datetime!(2026-11-26 10:00 UTC);
        let invite = new_invite("C".repeat(26), "c1", &user("ana"), now, 2);

        assert_eq!(invite.valid_until, "2026-11-26T12:00:00.000Z");
        assert!(invite_works(&invite, now.unix_timestamp() + 7199));
        assert!(!invite_works(&invite, now.unix_timestamp() + 7200));
    }

    #[test]
    fn a_course_linked_communitys_instructor_moderates_and_an_ended_learner_is_an_outsider() {
        let instructor = |course_linked| Standing {
            role: Some(Role::Instructor),
            course_linked,
            ..Standing::default()
        };
        let ended = Standing {
            expired: true,
            course_linked: true,
            ..Standing::default()
        };

        assert!(allows(
            CommunityKind::Private,
            &instructor(true),
            Permission::Moderate
        ));
        assert!(!allows(
            CommunityKind::Private,
            &instructor(false),
            Permission::Moderate
        ));
        assert!(!allows(
            CommunityKind::Private,
            &instructor(true),
            Permission::EditSettings
        ));
        assert_eq!(ended.status(), Some(MyStatus::Expired));
        assert!(!allows(
            CommunityKind::Private,
            &ended,
            Permission::SeeMembers
        ));
        assert!(!allows(CommunityKind::Secret, &ended, Permission::See));
    }

    #[test]
    fn the_successor_is_the_highest_role_then_the_longest_member() {
        let member = |id: &str, role: Role, joined: &str| Member {
            community_id: "c".into(),
            user_id: user(id),
            role,
            joined_at: joined.into(),
            approved_by: None,
            following: false,
            access_until: None,
        };
        let members = vec![
            member("owner", Role::Owner, "2026-01-01"),
            member("early", Role::Member, "2026-01-02"),
            member("mod-late", Role::Moderator, "2026-03-01"),
            member("mod-early", Role::Moderator, "2026-02-01"),
        ];

        let next = successor(&members, &user("owner")).map(|m| m.user_id.as_str());

        assert_eq!(next, Some("mod-early"));
        assert!(successor(&members[..1], &user("owner")).is_none());
    }
}
