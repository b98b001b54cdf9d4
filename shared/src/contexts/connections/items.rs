//! Connections: item types stored in the table (their keys, index keys and entity names), and the views built from them.

use super::*;

/// `USER#<userId> / CONN#<otherUserId>`, one per direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub user_id: UserId,
    pub other_user_id: UserId,
    /// Who sent the request that was accepted.
    pub requested_by: UserId,
    pub created_at: String,
}

impl Entity for Connection {
    const NAME: &'static str = "Connection";

    fn key(&self) -> Key {
        keys::connection(&self.user_id, &self.other_user_id)
    }
}

/// A pending request: stored as `REQIN#<sender>` in the target's partition (this type,
/// entity `ConnectionRequest`) and as `REQOUT#<target>` in the sender's
/// ([`OutgoingConnectionRequest`]), with the same attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRequest {
    pub sender_id: UserId,
    pub target_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created_at: String,
}

/// `USER#<targetId> / REQIN#<senderId>`: the request in its target's incoming list.
impl Entity for ConnectionRequest {
    const NAME: &'static str = "ConnectionRequest";

    fn key(&self) -> Key {
        keys::incoming_request(&self.target_id, &self.sender_id)
    }
}

/// `USER#<senderId> / REQOUT#<targetId>`: the sender's copy of a request, with the same
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutgoingConnectionRequest(pub ConnectionRequest);

impl Entity for OutgoingConnectionRequest {
    const NAME: &'static str = "OutgoingConnectionRequest";

    fn key(&self) -> Key {
        keys::outgoing_request(&self.0.sender_id, &self.0.target_id)
    }
}

/// `USER#<blockerId> / BLOCK#<blockedId>` (entity `Block`) and its mirror
/// [`BlockedBy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub blocker_id: UserId,
    pub blocked_id: UserId,
    pub created_at: String,
}

impl Entity for Block {
    const NAME: &'static str = "Block";

    fn key(&self) -> Key {
        keys::block(&self.blocker_id, &self.blocked_id)
    }
}

/// `USER#<blockedId> / BLOCKEDBY#<blockerId>`: the mirror of a [`Block`] in the blocked
/// user's partition, with the same attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockedBy(pub Block);

impl Entity for BlockedBy {
    const NAME: &'static str = "BlockedBy";

    fn key(&self) -> Key {
        keys::blocked_by(&self.0.blocked_id, &self.0.blocker_id)
    }
}

/// The pair lock's state: one pending request (from `senderId` to `targetId`) or a
/// connection. No lock: the two are strangers and either may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PairState {
    Pending,
    Connected,
}

/// `PAIR#<min>#<max> / PAIR` (entity `ConnectionPair`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairLock {
    pub state: PairState,
    pub sender_id: UserId,
    pub target_id: UserId,
    /// Set when the target ignored the request: it left their incoming list, while the
    /// sender still sees it pending (they are never told).
    #[serde(default)]
    pub ignored: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// Either side may have asked first: the lock's key is the same from both.
impl Entity for PairLock {
    const NAME: &'static str = "ConnectionPair";

    fn key(&self) -> Key {
        keys::pair(&self.sender_id, &self.target_id)
    }
}

// ---------------------------------------------------------------------------------
// Transaction parts
// ---------------------------------------------------------------------------------

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The condition "the pair lock holds a pending request from `sender` to `target`".
pub(super) fn pending_from_to(sender: &UserId, target: &UserId) -> Expr {
    Expr::new("#state = :pending AND senderId = :sender AND targetId = :target")
        .name("#state", "state")
        .value(":pending", s("pending"))
        .value(":sender", s(sender.as_str()))
        .value(":target", s(target.as_str()))
}

/// A connection as its owner lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub user_id: UserId,
    pub requested_by: UserId,
    pub connected_at: String,
    /// The other user's profile as I may see it; absent when they hide it from me.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

/// A pending request as one of its two users lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    /// The other user: the sender of an incoming request, the target of an outgoing one.
    pub user_id: UserId,
    pub direction: RequestDirection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

impl RequestView {
    pub fn of(request: ConnectionRequest, direction: RequestDirection) -> Self {
        let user_id = match direction {
            RequestDirection::Incoming => request.sender_id,
            RequestDirection::Outgoing => request.target_id,
        };
        Self {
            user_id,
            direction,
            message: request.message,
            created_at: request.created_at,
            profile: None,
        }
    }
}

/// `USER#<muterId> / MUTE#<mutedId>` (entity `Mute`): I hear nothing from the muted
/// user (no notifications) and see none of their content in my feeds. They are not
/// told, and nothing else changes (we stay connected; their topics, replies and
/// messages stay readable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mute {
    pub muter_id: UserId,
    pub muted_id: UserId,
    pub created_at: String,
}

impl Entity for Mute {
    const NAME: &'static str = "Mute";

    fn key(&self) -> Key {
        keys::mute(&self.muter_id, &self.muted_id)
    }
}

/// A user I mute, as I list them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MuteView {
    pub user_id: UserId,
    pub muted_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

/// A user I block, as I list them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    pub user_id: UserId,
    pub blocked_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

/// Why someone is suggested; only what the viewer may see of them is cited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SuggestionReason {
    SharedSkills { skills: Vec<String> },
    SameLearningGoal { goals: Vec<String> },
    SameOccupation { occupation: String },
    MutualConnections { count: usize },
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub user_id: UserId,
    pub score: u32,
    pub reasons: Vec<SuggestionReason>,
    pub profile: ProfileView,
}

/// What of my own profile suggestions match on (normalized).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchBasis {
    pub skills: BTreeSet<String>,
    pub occupation: Option<String>,
    pub goals: BTreeSet<String>,
}

impl MatchBasis {
    pub fn of(profile: &profiles::Profile) -> Self {
        Self {
            skills: profile
                .skills
                .iter()
                .map(|s| profiles::normalize_label(s))
                .take(suggestion_bounds::SKILLS)
                .collect(),
            occupation: profile
                .occupation
                .as_deref()
                .map(profiles::normalize_key_part)
                .filter(|o| !o.is_empty()),
            goals: profile
                .learning_goals
                .iter()
                .map(|g| profiles::normalize_key_part(g))
                .filter(|g| !g.is_empty())
                .take(suggestion_bounds::GOALS)
                .collect(),
        }
    }
}

/// `USER#<userId> / SUGGESTED` (entity `SuggestedPeople`): the people suggested to a
/// user, best first, as last computed (by the first read, then by the table's stream on
/// a change: see [`crate::contexts::connections::reactions`]). A read re-checks its
/// first candidates (relationship, blocks, public profile) and scores them on what is
/// public now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedPeople {
    pub user_id: UserId,
    pub candidates: Vec<SuggestedCandidate>,
    pub computed_at_ms: i64,
    /// Set when the list should be computed again (a connection of the user changed,
    /// their profile's matching attributes changed, or a read found it old); the
    /// stream computes it then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_requested_at_ms: Option<i64>,
}

/// One suggested person and how many of the user's connections they share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedCandidate {
    pub user_id: UserId,
    pub mutual: usize,
}

/// The key of a user's [`SuggestedPeople`].
pub fn suggested_key(user: &UserId) -> Key {
    Key::new(user_partition(user), "SUGGESTED")
}

impl Entity for SuggestedPeople {
    const NAME: &'static str = "SuggestedPeople";

    fn key(&self) -> Key {
        suggested_key(&self.user_id)
    }
}
