//! Profiles: item types stored in the table (their keys, index keys and entity names), and the views built from them.

use super::*;

pub mod keys {
    use super::*;

    pub use crate::table::keys::user_partition;

    /// `USER#<id> / PROFILE`
    pub fn profile(user: &UserId) -> Key {
        Key::new(user_partition(user), "PROFILE")
    }

    /// `DELETED#<id> / DELETED`: an account deleted in the last two days. Stream
    /// consumers check it in their own transactions, so nothing they write for the user
    /// (notifications) can land after the deletion swept the partition.
    pub fn deleted_account(user: &UserId) -> Key {
        Key::new(format!("DELETED#{user}"), "DELETED")
    }

    /// `HANDLE#<handle> / HANDLE`: makes handles unique across users.
    pub fn handle(handle: &Handle) -> Key {
        Key::new(format!("HANDLE#{}", handle.as_str()), "HANDLE")
    }

    /// GSI1 on a public profile: `PROFILENAME#<first letter>` / `<name>#<id>`, so a
    /// prefix search is one Query and private profiles are absent from the index.
    pub fn name_index(normalized_name: &str, user: &UserId) -> (String, String) {
        let first: String = normalized_name.chars().take(1).collect();
        (
            format!("PROFILENAME#{first}"),
            format!("{normalized_name}#{user}"),
        )
    }

    /// `SKILL#<skill> / <name>#<id>`: one item per public skill, kept by the profiles
    /// stream function from the profile's images.
    pub fn skill_index(skill: &str, normalized_name: &str, user: &UserId) -> Key {
        Key::new(
            format!("SKILL#{skill}"),
            format!("{normalized_name}#{user}"),
        )
    }

    /// `OCCUPATION#<occupation> / <name>#<id>`: public occupations, for suggestions.
    pub fn occupation_index(occupation: &str, normalized_name: &str, user: &UserId) -> Key {
        Key::new(
            format!("OCCUPATION#{occupation}"),
            format!("{normalized_name}#{user}"),
        )
    }

    /// `GOAL#<learning goal> / <name>#<id>`: public learning goals, for suggestions.
    pub fn learning_goal_index(goal: &str, normalized_name: &str, user: &UserId) -> Key {
        Key::new(format!("GOAL#{goal}"), format!("{normalized_name}#{user}"))
    }
}

/// A handle: 3-30 of `a-z 0-9 _`, compared case-insensitively (stored lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Handle(String);

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let lowered = raw.trim().trim_start_matches('@').to_ascii_lowercase();
        let valid = (3..=30).contains(&lowered.len())
            && lowered
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(Self(lowered))
        } else {
            Err(AppError::invalid_field(
                "handle",
                "must be 3 to 30 characters of a-z, 0-9 and _",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who may see a profile or one of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Visibility {
    Public,
    Connections,
    #[default]
    Private,
}

impl Visibility {
    pub(super) fn allows(self, relationship: Relationship) -> bool {
        matches!(
            (self, relationship),
            (_, Relationship::SelfView)
                | (Visibility::Public, _)
                | (Visibility::Connections, Relationship::Connection)
        )
    }
}

/// Per-field audiences. Display name, handle and avatar are the identity of a visible
/// profile and always shown with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FieldVisibility {
    pub bio: Visibility,
    pub headline: Visibility,
    pub occupation: Visibility,
    pub skills: Visibility,
    pub interests: Visibility,
    pub learning_goals: Visibility,
    pub location: Visibility,
    pub timezone: Visibility,
}

impl Default for FieldVisibility {
    fn default() -> Self {
        Self {
            bio: Visibility::Public,
            headline: Visibility::Public,
            occupation: Visibility::Public,
            skills: Visibility::Public,
            interests: Visibility::Public,
            learning_goals: Visibility::Connections,
            location: Visibility::Connections,
            timezone: Visibility::Private,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivacySettings {
    /// The profile as a whole: private (default) until the owner opts in.
    #[serde(default)]
    pub profile_visibility: Visibility,
    #[serde(default)]
    pub fields: FieldVisibility,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ModerationStatus {
    #[default]
    Pending,
    Clean,
    Flagged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModerationState {
    pub status: ModerationStatus,
    /// The profile version the verdict is about; a newer edit makes it pending again.
    pub checked_version: u64,
    /// The classifier's confidence (0–1) in its verdict: its most confident category's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Why: the categories the classifier matched (for a flagged profile, at or above
    /// the threshold), most confident first. Shown only to the owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<moderation::Category>,
}

/// The stored profile (the `PROFILE` item, minus its keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub user_id: UserId,
    pub handle: Handle,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupation: Option<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub interests: Vec<String>,
    #[serde(default)]
    pub learning_goals: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default)]
    pub privacy: PrivacySettings,
    #[serde(default)]
    pub moderation: ModerationState,
    /// Held by reports, or decided by a moderator (the review queue's verdict; the
    /// classifier's is `moderation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<moderation::Screening>,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Profile {
    pub fn normalized_name(&self) -> String {
        normalize_name(&self.display_name)
    }

    pub fn is_public(&self) -> bool {
        self.privacy.profile_visibility == Visibility::Public
    }

    /// Whether moderation hides it: the classifier flagged this version (until an edit
    /// passes), enough people reported it (until a moderator approves it), or a
    /// moderator removed it (for good). It is then hidden from everyone but its owner,
    /// and out of every search and suggestion index.
    pub fn is_flagged(&self) -> bool {
        self.moderation.status == ModerationStatus::Flagged
            || self
                .screening
                .as_ref()
                .is_some_and(|s| s.status != moderation::ScreeningStatus::Clean)
    }

    /// Whether strangers may find this profile at all: public and not flagged. Every
    /// search and suggestion index keys off this.
    pub fn is_discoverable(&self) -> bool {
        self.is_public() && !self.is_flagged()
    }

    /// Normalized skills that strangers may search by (empty unless the profile and its
    /// skills are public).
    pub fn searchable_skills(&self) -> BTreeSet<String> {
        if self.is_discoverable() && self.privacy.fields.skills == Visibility::Public {
            self.skills.iter().map(|s| normalize_label(s)).collect()
        } else {
            BTreeSet::new()
        }
    }

    /// The normalized occupation strangers may match on: absent unless the profile and
    /// its occupation are public and the profile is not flagged (as [`view_as`] decides).
    pub fn matchable_occupation(&self) -> Option<String> {
        let visible =
            self.is_discoverable() && self.privacy.fields.occupation == Visibility::Public;
        self.occupation
            .as_deref()
            .filter(|_| visible)
            .map(normalize_key_part)
            .filter(|o| !o.is_empty())
    }

    /// Normalized learning goals strangers may match on (they are connections-only by
    /// default, so usually none).
    pub fn matchable_learning_goals(&self) -> BTreeSet<String> {
        if self.is_discoverable() && self.privacy.fields.learning_goals == Visibility::Public {
            self.learning_goals
                .iter()
                .map(|g| normalize_key_part(g))
                .filter(|g| !g.is_empty())
                .collect()
        } else {
            BTreeSet::new()
        }
    }

    /// The free text moderation looks at.
    pub fn moderated_text(&self) -> Vec<&str> {
        [
            Some(self.display_name.as_str()),
            self.bio.as_deref(),
            self.headline.as_deref(),
            self.occupation.as_deref(),
            self.location.as_deref(),
        ]
        .into_iter()
        .flatten()
        .chain(self.skills.iter().map(String::as_str))
        .chain(self.interests.iter().map(String::as_str))
        .chain(self.learning_goals.iter().map(String::as_str))
        .collect()
    }
}

/// `USER#<id> / PROFILE`; a discoverable profile (public, not flagged) is also in the
/// name index (GSI1), so private and flagged profiles are absent from searches.
impl Entity for Profile {
    const NAME: &'static str = "Profile";

    fn key(&self) -> Key {
        keys::profile(&self.user_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        if !self.is_discoverable() {
            return vec![];
        }
        let (pk, sk) = keys::name_index(&self.normalized_name(), &self.user_id);
        vec![IndexKey::new(Index::Gsi1, pk, sk)]
    }
}

/// Reads a profile out of a stored item (a GetItem result or a stream image).
pub fn profile_from_item(item: impl Into<serde_dynamo::Item>) -> AppResult<Profile> {
    store::from_item::<Profile>(item)
}

/// Whether a stream record's keys are those of a profile item.
pub fn is_profile_key(pk: &str, sk: &str) -> bool {
    pk.starts_with("USER#") && sk == "PROFILE"
}

/// A profile as one viewer may see it: hidden fields are absent, not null.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub user_id: UserId,
    pub handle: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occupation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interests: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_goals: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How the viewer relates to the owner: `self`, `connection` or `none`.
    pub relationship: &'static str,
    /// The owner's trust level (0 new to 3 regular), on a single profile
    /// (`GET /v1/profiles/{profileRef}`), not in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_level: Option<crate::core::trust::TrustLevel>,
}

/// The owner's own view: everything, plus privacy, moderation and version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnProfile {
    #[serde(flatten)]
    pub profile: Profile,
}

/// `HANDLE#<handle> / HANDLE`: a handle claimed by its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandleClaim {
    pub handle: Handle,
    pub user_id: UserId,
}

impl Entity for HandleClaim {
    const NAME: &'static str = "Handle";

    fn key(&self) -> Key {
        keys::handle(&self.handle)
    }
}

/// `SKILL#<skill> / <name>#<id>`: a public skill of a profile, in the skill search index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillIndex {
    pub skill: String,
    pub user_id: UserId,
    /// The profile's normalized name, which orders the index (part of the key only).
    #[serde(skip)]
    pub normalized_name: String,
}

impl Entity for SkillIndex {
    const NAME: &'static str = "SkillIndex";

    fn key(&self) -> Key {
        keys::skill_index(&self.skill, &self.normalized_name, &self.user_id)
    }
}

/// `OCCUPATION#<occupation> / <name>#<id>`: a public occupation, for suggestions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OccupationIndex {
    pub occupation: String,
    pub user_id: UserId,
    #[serde(skip)]
    pub normalized_name: String,
}

impl Entity for OccupationIndex {
    const NAME: &'static str = "OccupationIndex";

    fn key(&self) -> Key {
        keys::occupation_index(&self.occupation, &self.normalized_name, &self.user_id)
    }
}

/// `GOAL#<learning goal> / <name>#<id>`: a public learning goal, for suggestions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LearningGoalIndex {
    pub learning_goal: String,
    pub user_id: UserId,
    #[serde(skip)]
    pub normalized_name: String,
}

impl Entity for LearningGoalIndex {
    const NAME: &'static str = "LearningGoalIndex";

    fn key(&self) -> Key {
        keys::learning_goal_index(&self.learning_goal, &self.normalized_name, &self.user_id)
    }
}

/// Where a profile's text is for the review queue: reports hold a profile as they hold
/// a post (`screening`), and its moderators approve or remove it. Not screened through
/// the queue's text jobs: the classifier checks profiles by version (`moderation`).
pub const REPORTABLE: &[moderation::Screened] = &[moderation::Screened {
    entity: Profile::NAME,
    text: &["displayName", "headline", "bio"],
    author: &["userId"],
    community: moderation::CommunityOf::Nowhere,
    posts: false,
}];
