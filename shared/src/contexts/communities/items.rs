//! Communities: item types stored in the table (their keys, index keys and entity names),
//! and the views built from them.

use super::*;

pub mod keys {
    use super::*;

    pub const META: &str = "META";
    pub const MEMBER_PREFIX: &str = "MEMBER#";
    pub const JOIN_REQUEST_PREFIX: &str = "JOINREQ#";
    pub const BAN_PREFIX: &str = "BAN#";
    /// My memberships, in my partition.
    pub const MEMBERSHIP_PREFIX: &str = "COMMUNITY#";
    pub const MY_JOIN_REQUEST_PREFIX: &str = "CJOINREQ#";
    pub const MY_BAN_PREFIX: &str = "CBAN#";
    pub const MY_INVITE_PREFIX: &str = "CINVITE#";
    /// GSI2 partition of every listed community, newest first.
    pub const LISTED: &str = "COMMUNITIES";
    pub const RESOURCE_PREFIX: &str = "RESOURCE#";

    /// `COMMUNITY#<id> / RESOURCE#<resourceId>`.
    pub fn resource(community_id: &str, resource_id: &str) -> Key {
        Key::new(
            partition(community_id),
            format!("{RESOURCE_PREFIX}{resource_id}"),
        )
    }

    /// GSI2 partition of the resources a user shared.
    pub fn resources_by(user: &UserId) -> String {
        format!("CRESBY#{user}")
    }

    /// GSI3 partition of the members whose access ends (course-linked communities).
    pub const ACCESS_ENDS: &str = "CACCESS";

    /// GSI3 sort key of a member's access end: the time first (zero-padded), so a
    /// Query up to now finds every access that has ended.
    pub fn access_end(until: i64, community_id: &str, user: &UserId) -> String {
        format!("{:012}#{community_id}#{user}", until.max(0))
    }

    pub fn partition(community_id: &str) -> String {
        format!("COMMUNITY#{community_id}")
    }

    /// `COMMUNITY#<id> / META`.
    pub fn community(community_id: &str) -> Key {
        Key::new(partition(community_id), META)
    }

    /// `CSLUG#<slug> / CSLUG`.
    pub fn slug(slug: &str) -> Key {
        Key::new(format!("CSLUG#{slug}"), "CSLUG")
    }

    pub fn tag_partition(tag: &str) -> String {
        format!("CTAG#{tag}")
    }

    /// `CTAG#<tag> / COMMUNITY#<id>`.
    pub fn by_tag(tag: &str, community_id: &str) -> Key {
        Key::new(tag_partition(tag), format!("COMMUNITY#{community_id}"))
    }

    /// GSI1 partition of a community's followers (their member items), by user id.
    pub fn followers(community_id: &str) -> String {
        format!("CFOLLOWERS#{community_id}")
    }

    /// `COMMUNITY#<id> / MEMBER#<userId>`.
    pub fn member(community_id: &str, user: &UserId) -> Key {
        Key::new(partition(community_id), format!("{MEMBER_PREFIX}{user}"))
    }

    /// `USER#<userId> / COMMUNITY#<id>`.
    pub fn membership(user: &UserId, community_id: &str) -> Key {
        Key::new(
            user_partition(user),
            format!("{MEMBERSHIP_PREFIX}{community_id}"),
        )
    }

    /// The user-side mirror of an item of the community's partition (a member's
    /// membership, a request's, a ban's), which goes with it; `None` for the others.
    pub fn mirror_of(community_id: &str, sort_key: &str) -> Option<Key> {
        let user = |prefix: &str| {
            sort_key
                .strip_prefix(prefix)
                .and_then(|u| UserId::parse(u).ok())
        };
        if let Some(user) = user(MEMBER_PREFIX) {
            Some(membership(&user, community_id))
        } else if let Some(user) = user(JOIN_REQUEST_PREFIX) {
            Some(my_join_request(&user, community_id))
        } else {
            user(BAN_PREFIX).map(|user| my_ban(&user, community_id))
        }
    }

    /// `COMMUNITY#<id> / JOINREQ#<userId>`.
    pub fn join_request(community_id: &str, user: &UserId) -> Key {
        Key::new(
            partition(community_id),
            format!("{JOIN_REQUEST_PREFIX}{user}"),
        )
    }

    /// `USER#<userId> / CJOINREQ#<id>`.
    pub fn my_join_request(user: &UserId, community_id: &str) -> Key {
        Key::new(
            user_partition(user),
            format!("{MY_JOIN_REQUEST_PREFIX}{community_id}"),
        )
    }

    /// `COMMUNITY#<id> / BAN#<userId>`.
    pub fn ban(community_id: &str, user: &UserId) -> Key {
        Key::new(partition(community_id), format!("{BAN_PREFIX}{user}"))
    }

    /// `USER#<userId> / CBAN#<id>`.
    pub fn my_ban(user: &UserId, community_id: &str) -> Key {
        Key::new(
            user_partition(user),
            format!("{MY_BAN_PREFIX}{community_id}"),
        )
    }

    /// GSI1 partition of the bans a moderator placed.
    pub fn bans_by(moderator: &UserId) -> String {
        format!("CBANNER#{moderator}")
    }

    /// `CINVITE#<code> / INVITE`.
    pub fn invite(code: &str) -> Key {
        Key::new(format!("CINVITE#{code}"), "INVITE")
    }

    /// GSI1 partition of a community's invites.
    pub fn invites_of(community_id: &str) -> String {
        format!("CINVITES#{community_id}")
    }

    /// `USER#<creator> / CINVITE#<code>`.
    pub fn my_invite(creator: &UserId, code: &str) -> Key {
        Key::new(user_partition(creator), format!("{MY_INVITE_PREFIX}{code}"))
    }

    /// GSI1 partition of the names starting with `first` (a normalized name's first
    /// character).
    pub fn name_partition(first: char) -> String {
        format!("CNAME#{first}")
    }
}

// ---------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------

/// Who may find and join a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CommunityKind {
    /// Listed; anyone may join.
    Public,
    /// Listed; joining takes a request that a moderator approves, or an invite.
    Private,
    /// Never listed or shown to outsiders; invite only.
    Secret,
}

impl CommunityKind {
    pub fn is_listed(self) -> bool {
        self != CommunityKind::Secret
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CommunityKind::Public => "public",
            CommunityKind::Private => "private",
            CommunityKind::Secret => "secret",
        }
    }
}

/// A member's role, highest first. What each may do is [`Permission`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Member,
    Instructor,
    Moderator,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Moderator,
        Role::Instructor,
        Role::Member,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Moderator => "moderator",
            Role::Instructor => "instructor",
            Role::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// What makes a community a learning circle: the skill its members learn together and
/// their level. Its meetings are its events; its shared resources are [`Resource`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Circle {
    /// 1-60 characters, one line.
    #[validate(
        length(min = 1, max = 60),
        custom(function = "validation::single_line")
    )]
    pub skill: String,
    pub level: courses::Level,
}

/// `COMMUNITY#<id> / META` (entity `Community`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Community {
    pub community_id: String,
    pub slug: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidelines: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_image_url: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub kind: CommunityKind,
    #[serde(default)]
    pub require_post_approval: bool,
    /// Set for a learning circle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circle: Option<Circle>,
    pub owner_id: UserId,
    /// Changed only in the transactions that add or remove a member.
    #[serde(default)]
    pub member_count: i64,
    /// Bumped by every settings change; a change commits only on the version it read.
    #[serde(default)]
    pub version: u64,
    /// The course it is linked to (for good): joining needs an active enrollment in
    /// it, and a member's access ends with their enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_id: Option<String>,
    /// Set when its owner deleted it: from then on it is a 404 everywhere, and the
    /// stream removes what is left of it, a page per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// The clean-up's step: each page deleted bumps it, and that change continues it.
    #[serde(default)]
    pub cleanup_step: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The automatic moderation verdict on its name, description and guidelines
    /// (absent until checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<crate::contexts::moderation::Screening>,
}

impl Entity for Community {
    const NAME: &'static str = "Community";

    fn key(&self) -> Key {
        keys::community(&self.community_id)
    }

    /// Listed communities only: a secret (or deleted) one is in no index.
    fn index_keys(&self) -> Vec<IndexKey> {
        if !self.kind.is_listed() || self.deleted_at.is_some() {
            return Vec::new();
        }
        let name = profiles::normalize_name(&self.name);
        let first = name.chars().next().unwrap_or('_');
        vec![
            IndexKey::new(
                Index::Gsi1,
                keys::name_partition(first),
                format!("{name}#{}", self.community_id),
            ),
            IndexKey::new(Index::Gsi2, keys::LISTED, &self.community_id),
        ]
    }
}

/// `CSLUG#<slug> / CSLUG` (entity `CommunitySlug`): a listed community's slug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlugClaim {
    pub slug: String,
    pub community_id: String,
}

impl Entity for SlugClaim {
    const NAME: &'static str = "CommunitySlug";

    fn key(&self) -> Key {
        keys::slug(&self.slug)
    }
}

/// `CTAG#<tag> / COMMUNITY#<id>` (entity `CommunityByTag`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagEntry {
    pub tag: String,
    pub community_id: String,
}

impl Entity for TagEntry {
    const NAME: &'static str = "CommunityByTag";

    fn key(&self) -> Key {
        keys::by_tag(&self.tag, &self.community_id)
    }
}

/// `COMMUNITY#<id> / MEMBER#<userId>` (entity `CommunityMember`); its mirror in the
/// member's partition is [`Membership`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CommunityMember)]
pub struct Member {
    pub community_id: String,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: String,
    /// The moderator who approved their join request (the notifier tells the member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<UserId>,
    /// They follow the community: each new topic in it notifies them (`communityPost`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub following: bool,
    /// In a course-linked community, a learner's access ends when their enrollment
    /// does (epoch seconds; none: it does not end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_until: Option<i64>,
}

impl Member {
    /// Whether the member's access is still open at `now` (epoch seconds).
    pub fn has_access(&self, now: i64) -> bool {
        self.access_until.is_none_or(|until| until > now)
    }
}

impl Entity for Member {
    const NAME: &'static str = "CommunityMember";

    fn key(&self) -> Key {
        keys::member(&self.community_id, &self.user_id)
    }

    /// A follower is listed under the community's followers (GSI1 `CFOLLOWERS#<id>`);
    /// a learner whose access ends, under the ends (GSI3 `CACCESS`, by time), where the
    /// scheduled sweep finds them.
    fn index_keys(&self) -> Vec<IndexKey> {
        let mut index = Vec::new();
        if self.following {
            index.push(IndexKey::new(
                Index::Gsi1,
                keys::followers(&self.community_id),
                self.user_id.as_str(),
            ));
        }
        if let Some(until) = self.access_until {
            index.push(IndexKey::new(
                Index::Gsi3,
                keys::ACCESS_ENDS,
                keys::access_end(until, &self.community_id, &self.user_id),
            ));
        }
        index
    }
}

/// `USER#<userId> / COMMUNITY#<id>` (entity `CommunityMembership`): the mirror of a
/// [`Member`], with the same attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Membership(pub Member);

impl Entity for Membership {
    const NAME: &'static str = "CommunityMembership";

    fn key(&self) -> Key {
        keys::membership(&self.0.user_id, &self.0.community_id)
    }
}

/// `COMMUNITY#<id> / JOINREQ#<userId>` (entity `CommunityJoinRequest`), mirrored as
/// [`MyJoinRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub community_id: String,
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created_at: String,
}

impl Entity for JoinRequest {
    const NAME: &'static str = "CommunityJoinRequest";

    fn key(&self) -> Key {
        keys::join_request(&self.community_id, &self.user_id)
    }
}

/// `USER#<userId> / CJOINREQ#<id>` (entity `CommunityJoinRequestByUser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MyJoinRequest(pub JoinRequest);

impl Entity for MyJoinRequest {
    const NAME: &'static str = "CommunityJoinRequestByUser";

    fn key(&self) -> Key {
        keys::my_join_request(&self.0.user_id, &self.0.community_id)
    }
}

/// `COMMUNITY#<id> / BAN#<userId>` (entity `CommunityBan`), mirrored as [`MyBan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ban {
    pub community_id: String,
    pub user_id: UserId,
    pub banned_by: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
}

impl Entity for Ban {
    const NAME: &'static str = "CommunityBan";

    fn key(&self) -> Key {
        keys::ban(&self.community_id, &self.user_id)
    }

    /// Under its moderator on GSI1, so erasing their account finds the bans they placed.
    fn index_keys(&self) -> Vec<IndexKey> {
        vec![IndexKey::new(
            Index::Gsi1,
            keys::bans_by(&self.banned_by),
            format!("{}#{}", self.community_id, self.user_id),
        )]
    }
}

/// `USER#<userId> / CBAN#<id>` (entity `CommunityBanOfUser`): finds a ban when the
/// banned user's account is erased. It does not name the moderator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyBan {
    pub community_id: String,
    pub user_id: UserId,
    pub created_at: String,
}

impl MyBan {
    pub fn of(ban: &Ban) -> Self {
        Self {
            community_id: ban.community_id.clone(),
            user_id: ban.user_id.clone(),
            created_at: ban.created_at.clone(),
        }
    }
}

impl Entity for MyBan {
    const NAME: &'static str = "CommunityBanOfUser";

    fn key(&self) -> Key {
        keys::my_ban(&self.user_id, &self.community_id)
    }
}

/// `CINVITE#<code> / INVITE` (entity `CommunityInvite`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub code: String,
    pub community_id: String,
    pub created_by: UserId,
    pub created_at: String,
    /// RFC 3339; `expiresAt` is the TTL attribute (epoch seconds).
    pub valid_until: String,
    pub valid_until_epoch: i64,
}

/// TTL removes an invite a day after it stops working; reads check the time themselves.
const INVITE_TTL_GRACE_SECONDS: i64 = 24 * 3600;

impl Entity for Invite {
    const NAME: &'static str = "CommunityInvite";

    fn key(&self) -> Key {
        keys::invite(&self.code)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        vec![IndexKey::new(
            Index::Gsi1,
            keys::invites_of(&self.community_id),
            format!("{}#{}", self.created_at, self.code),
        )]
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.valid_until_epoch + INVITE_TTL_GRACE_SECONDS)
    }
}

/// `USER#<creator> / CINVITE#<code>` (entity `CommunityInviteByCreator`): finds the
/// invites a user made when their account is erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyInvite {
    pub code: String,
    pub community_id: String,
    pub created_by: UserId,
    pub valid_until_epoch: i64,
}

impl Entity for MyInvite {
    const NAME: &'static str = "CommunityInviteByCreator";

    fn key(&self) -> Key {
        keys::my_invite(&self.created_by, &self.code)
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.valid_until_epoch + INVITE_TTL_GRACE_SECONDS)
    }
}

/// What a shared resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ResourceKind {
    /// A web page (`url`).
    Link,
    /// A file hosted elsewhere (`url`).
    File,
    /// A text (`note`).
    Note,
}

/// `COMMUNITY#<id> / RESOURCE#<resourceId>` (entity `CommunityResource`): something a
/// member shared with a community (a learning circle's resources), listed newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub resource_id: String,
    pub community_id: String,
    pub kind: ResourceKind,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub added_by: UserId,
    pub created_at: String,
}

impl Entity for Resource {
    const NAME: &'static str = "CommunityResource";

    fn key(&self) -> Key {
        keys::resource(&self.community_id, &self.resource_id)
    }

    /// Under who shared it (GSI2 `CRESBY#<userId>`), for their account's erasure.
    fn index_keys(&self) -> Vec<IndexKey> {
        vec![IndexKey::new(
            Index::Gsi2,
            keys::resources_by(&self.added_by),
            format!("{}#{}", self.community_id, self.resource_id),
        )]
    }
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

/// My standing in a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum MyStatus {
    Member,
    /// My join request waits for a moderator.
    Pending,
    Banned,
    /// I was a member of this course-linked community, and my enrollment has ended.
    Expired,
}

/// A community as a reader sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommunityView {
    pub community_id: String,
    pub slug: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidelines: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cover_image_url: Option<String>,
    pub tags: Vec<String>,
    pub kind: CommunityKind,
    pub require_post_approval: bool,
    /// Present for a learning circle: its skill and level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circle: Option<Circle>,
    pub owner_id: UserId,
    /// The course it is linked to: joining needs an active enrollment in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course_id: Option<String>,
    /// Exact: it changes in the same transaction as each join and leave.
    pub member_count: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Present when I am a member, have asked to join, or am banned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_status: Option<MyStatus>,
    /// My role, when I am a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_role: Option<Role>,
    /// Whether I follow it (members only; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub following: Option<bool>,
    /// The automatic moderation verdict on its texts: a hidden community's name,
    /// description and guidelines are read only by its owner, admins and moderators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screening: Option<crate::contexts::moderation::Screening>,
}

impl CommunityView {
    pub fn of(community: Community, standing: &Standing) -> Self {
        let moderates = matches!(
            standing.role,
            Some(Role::Owner | Role::Admin | Role::Moderator)
        );
        let shown =
            crate::contexts::moderation::shown_to(community.screening.as_ref(), moderates, false);
        let hidden = |text: Option<String>| if shown { text } else { None };
        Self {
            community_id: community.community_id,
            slug: community.slug,
            name: if shown {
                community.name
            } else {
                crate::contexts::moderation::HIDDEN_TEXT.into()
            },
            description: hidden(community.description),
            guidelines: hidden(community.guidelines),
            cover_image_url: community.cover_image_url,
            tags: community.tags,
            kind: community.kind,
            require_post_approval: community.require_post_approval,
            circle: community.circle,
            owner_id: community.owner_id,
            course_id: community.course_id,
            member_count: community.member_count.max(0),
            created_at: community.created_at,
            updated_at: community.updated_at,
            my_status: standing.status(),
            my_role: standing.role,
            following: standing.role.map(|_| standing.following),
            screening: community.screening,
        }
    }
}

/// A member in a community's member list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: String,
    /// In a course-linked community: when the member's access ends with their
    /// enrollment (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_until: Option<String>,
    /// Their profile as I may see it; absent when they have none or hide it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

/// A pending join request, as the community's moderators list it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestView {
    pub user_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

/// A ban, as the community's moderators list it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BanView {
    pub user_id: UserId,
    pub banned_by: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
}

impl From<Ban> for BanView {
    fn from(ban: Ban) -> Self {
        Self {
            user_id: ban.user_id,
            banned_by: ban.banned_by,
            reason: ban.reason,
            created_at: ban.created_at,
        }
    }
}

/// An invite link's code and how long it works.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteView {
    pub code: String,
    pub community_id: String,
    pub created_by: UserId,
    pub created_at: String,
    pub expires_at: String,
}

impl From<Invite> for InviteView {
    fn from(invite: Invite) -> Self {
        Self {
            code: invite.code,
            community_id: invite.community_id,
            created_by: invite.created_by,
            created_at: invite.created_at,
            expires_at: invite.valid_until,
        }
    }
}

/// What an invite's holder sees before accepting it: the community and the expiry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitePreview {
    pub code: String,
    pub expires_at: String,
    pub community: CommunityView,
}

/// What joining did: I am a member now, or my request waits for a moderator.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinOutcome {
    pub status: MyStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// The text of communities, screened by moderation (their own queue).
pub const SCREENED: &[crate::contexts::moderation::Screened] =
    &[crate::contexts::moderation::Screened {
        entity: Community::NAME,
        text: &["name", "description", "guidelines"],
        author: &["ownerId"],
        community: crate::contexts::moderation::CommunityOf::Own("communityId"),
        posts: false,
    }];
