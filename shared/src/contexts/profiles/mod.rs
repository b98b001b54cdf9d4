//! Profiles: create, update, privacy, view-as-another-user, search, export, delete.
//!
//! Privacy first: a new profile is private (only its owner sees it) until the owner
//! opts in, and every optional field carries its own audience.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};
use validator::Validate;

use crate::contexts::graph::{self, Relationship};
use crate::core::cursor::{CursorCodec, Page};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::store::Returning;
use crate::table::store::{self, AttributeValue, Expr, Index, Item, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, WriteError};

pub mod erasure;
pub mod reactions;
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
    fn allows(self, relationship: Relationship) -> bool {
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModerationState {
    pub status: ModerationStatus,
    /// The profile version the verdict is about; a newer edit makes it pending again.
    pub checked_version: u64,
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

    /// Normalized skills that strangers may search by (empty unless the profile and its
    /// skills are public).
    pub fn searchable_skills(&self) -> BTreeSet<String> {
        if self.is_public() && self.privacy.fields.skills == Visibility::Public {
            self.skills.iter().map(|s| normalize_label(s)).collect()
        } else {
            BTreeSet::new()
        }
    }

    /// The normalized occupation strangers may match on: absent unless the profile and
    /// its occupation are public and not hidden by moderation (as [`view_as`] decides).
    pub fn matchable_occupation(&self) -> Option<String> {
        let visible = self.is_public()
            && self.privacy.fields.occupation == Visibility::Public
            && self.moderation.status != ModerationStatus::Flagged;
        self.occupation
            .as_deref()
            .filter(|_| visible)
            .map(normalize_key_part)
            .filter(|o| !o.is_empty())
    }

    /// Normalized learning goals strangers may match on (they are connections-only by
    /// default, so usually none).
    pub fn matchable_learning_goals(&self) -> BTreeSet<String> {
        if self.is_public() && self.privacy.fields.learning_goals == Visibility::Public {
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

/// The `PROFILE` item as stored: the profile plus its keys and index attributes.
#[derive(Debug, Serialize, Deserialize)]
struct ProfileItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(flatten)]
    profile: Profile,
}

impl ProfileItem {
    fn of(profile: &Profile) -> Self {
        let key = keys::profile(&profile.user_id);
        let (gsi1pk, gsi1sk) = if profile.is_public() {
            let (pk, sk) = keys::name_index(&profile.normalized_name(), &profile.user_id);
            (Some(pk), Some(sk))
        } else {
            (None, None)
        };
        Self {
            pk: key.pk,
            sk: key.sk,
            entity: "Profile".into(),
            gsi1pk,
            gsi1sk,
            profile: profile.clone(),
        }
    }
}

/// Reads a profile out of a stored item (a GetItem result or a stream image).
pub fn profile_from_item(item: impl Into<serde_dynamo::Item>) -> AppResult<Profile> {
    store::from_item::<ProfileItem>(item).map(|i| i.profile)
}

/// Whether a stream record's keys are those of a profile item.
pub fn is_profile_key(pk: &str, sk: &str) -> bool {
    pk.starts_with("USER#") && sk == "PROFILE"
}

fn profile_to_item(profile: &Profile) -> AppResult<Item> {
    store::to_item(&ProfileItem::of(profile))
}

pub fn normalize_name(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('#', "")
}

pub fn normalize_label(label: &str) -> String {
    label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A free-text value as part of a key: normalized like a label, without `#` (the key
/// separator).
pub fn normalize_key_part(value: &str) -> String {
    normalize_label(&value.replace('#', " "))
}

/// Keeps the first spelling of each label, dropping case-insensitive repeats.
fn dedupe_labels(labels: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    labels
        .into_iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| seen.insert(normalize_label(l)))
        .collect()
}

// ---------------------------------------------------------------------------------
// Wire DTOs
// ---------------------------------------------------------------------------------

/// `POST /v1/profiles`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProfile {
    pub handle: String,
    #[validate(
        length(min = 1, max = 80),
        custom(function = "validation::single_line")
    )]
    pub display_name: String,
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub bio: Option<String>,
    #[validate(length(max = 120), custom(function = "validation::single_line"))]
    pub headline: Option<String>,
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub occupation: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "validation::labels"))]
    pub skills: Vec<String>,
    #[serde(default)]
    #[validate(custom(function = "validation::labels"))]
    pub interests: Vec<String>,
    #[serde(default)]
    #[validate(custom(function = "validation::sentences"))]
    pub learning_goals: Vec<String>,
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub avatar_url: Option<String>,
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub location: Option<String>,
    #[validate(custom(function = "validation::timezone"))]
    pub timezone: Option<String>,
    /// Optional at creation; absent means the privacy-first defaults.
    pub privacy: Option<PrivacySettings>,
}

/// `PATCH /v1/me`: an absent field is unchanged, `null` clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilePatch {
    pub handle: Option<String>,
    #[validate(
        length(min = 1, max = 80),
        custom(function = "validation::single_line")
    )]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000), custom(function = "validation::plain_text"))]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 120), custom(function = "validation::single_line"))]
    pub headline: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub occupation: Option<Option<String>>,
    #[validate(custom(function = "validation::labels"))]
    pub skills: Option<Vec<String>>,
    #[validate(custom(function = "validation::labels"))]
    pub interests: Option<Vec<String>>,
    #[validate(custom(function = "validation::sentences"))]
    pub learning_goals: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 80), custom(function = "validation::single_line"))]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "validation::timezone"))]
    pub timezone: Option<Option<String>>,
}

/// Distinguishes "absent" (outer `None`, via `default`) from `null` (`Some(None)`).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
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
}

/// The owner's own view: everything, plus privacy, moderation and version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnProfile {
    #[serde(flatten)]
    pub profile: Profile,
}

/// Privacy filtering, the one place that decides what a viewer sees. `None` means the
/// profile itself is hidden (reported as 404, so its existence does not leak).
pub fn view_as(profile: &Profile, relationship: Relationship) -> Option<ProfileView> {
    if !profile.privacy.profile_visibility.allows(relationship) {
        return None;
    }
    let fields = profile.privacy.fields;
    // Text a moderator flagged stays visible to its owner only.
    let text_ok = relationship == Relationship::SelfView
        || profile.moderation.status != ModerationStatus::Flagged;
    let show = |v: Visibility| v.allows(relationship);
    let text = |v: Visibility, value: &Option<String>| {
        if show(v) && text_ok {
            value.clone()
        } else {
            None
        }
    };
    let list = |v: Visibility, value: &Vec<String>| show(v).then(|| value.clone());
    Some(ProfileView {
        user_id: profile.user_id.clone(),
        handle: profile.handle.as_str().to_owned(),
        display_name: profile.display_name.clone(),
        avatar_url: profile.avatar_url.clone(),
        bio: text(fields.bio, &profile.bio),
        headline: text(fields.headline, &profile.headline),
        occupation: text(fields.occupation, &profile.occupation),
        skills: list(fields.skills, &profile.skills),
        interests: list(fields.interests, &profile.interests),
        learning_goals: list(fields.learning_goals, &profile.learning_goals),
        location: show(fields.location)
            .then(|| profile.location.clone())
            .flatten(),
        timezone: show(fields.timezone)
            .then(|| profile.timezone.clone())
            .flatten(),
        relationship: match relationship {
            Relationship::SelfView => "self",
            Relationship::Connection => "connection",
            Relationship::Stranger => "none",
        },
    })
}

// ---------------------------------------------------------------------------------
// Access patterns
// ---------------------------------------------------------------------------------

/// Get a user's profile: GetItem `USER#<id> / PROFILE`.
pub async fn get_profile(store: &Store, user: &UserId) -> AppResult<Option<Profile>> {
    let item = store.get_item(&keys::profile(user)).await?;
    item.map(profile_from_item).transpose()
}

pub async fn get_my_profile(store: &Store, me: &UserId) -> AppResult<Profile> {
    get_profile(store, me)
        .await?
        .ok_or_else(|| AppError::NotFound("you have no profile yet; create one first".into()))
}

/// Resolve a handle: GetItem `HANDLE#<handle> / HANDLE`.
pub async fn user_by_handle(store: &Store, handle: &Handle) -> AppResult<Option<UserId>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct HandleItem {
        user_id: UserId,
    }
    let item: Option<HandleItem> = store.get(&keys::handle(handle)).await?;
    Ok(item.map(|i| i.user_id))
}

fn handle_item(handle: &Handle, user: &UserId) -> AppResult<Item> {
    let key = keys::handle(handle);
    store::to_item(&serde_json::json!({
        "PK": key.pk, "SK": key.sk, "entity": "Handle",
        "handle": handle.as_str(), "userId": user,
    }))
}

/// Create my profile: one transaction puts the profile (if I have none) and claims the
/// handle (if nobody has it), so concurrent creates of one handle have one winner.
pub async fn create_profile(store: &Store, me: &UserId, input: NewProfile) -> AppResult<Profile> {
    check(&input)?;
    let handle = Handle::parse(&input.handle)?;
    let now = now_rfc3339();
    let profile = Profile {
        user_id: me.clone(),
        handle: handle.clone(),
        display_name: input.display_name.trim().to_owned(),
        bio: input.bio,
        headline: input.headline,
        occupation: input.occupation,
        skills: dedupe_labels(input.skills),
        interests: dedupe_labels(input.interests),
        learning_goals: input.learning_goals,
        avatar_url: input.avatar_url,
        location: input.location,
        timezone: input.timezone,
        privacy: input.privacy.unwrap_or_default(),
        moderation: ModerationState::default(),
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    let result = store
        .transaction()
        .put(
            profile_to_item(&profile)?,
            Some(Condition::absent(PROFILE_NEW)),
        )
        .put(
            handle_item(&handle, me)?,
            Some(Condition::absent(HANDLE_FREE)),
        )
        // Someone who deleted their account and comes back is no longer deleted.
        .delete(&keys::deleted_account(me), None)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(profile),
        Err(error) if error.failed(PROFILE_NEW) => Err(AppError::Conflict(
            "you already have a profile; update it with PATCH /v1/me".into(),
        )),
        Err(error) if error.failed(HANDLE_FREE) => Err(AppError::Conflict(format!(
            "the handle '{}' is already taken",
            handle.as_str()
        ))),
        Err(error) => Err(error.into()),
    }
}

/// Applies a validated patch to a profile (pure).
pub fn apply_patch(mut profile: Profile, patch: ProfilePatch) -> AppResult<Profile> {
    if let Some(handle) = &patch.handle {
        profile.handle = Handle::parse(handle)?;
    }
    if let Some(name) = patch.display_name {
        profile.display_name = name.trim().to_owned();
    }
    let set = |target: &mut Option<String>, value: Option<Option<String>>| {
        if let Some(value) = value {
            *target = value;
        }
    };
    set(&mut profile.bio, patch.bio);
    set(&mut profile.headline, patch.headline);
    set(&mut profile.occupation, patch.occupation);
    set(&mut profile.avatar_url, patch.avatar_url);
    set(&mut profile.location, patch.location);
    set(&mut profile.timezone, patch.timezone);
    if let Some(skills) = patch.skills {
        profile.skills = dedupe_labels(skills);
    }
    if let Some(interests) = patch.interests {
        profile.interests = dedupe_labels(interests);
    }
    if let Some(goals) = patch.learning_goals {
        profile.learning_goals = goals;
    }
    Ok(profile)
}

/// Update my profile: read, apply, write back on the version read (optimistic
/// concurrency); a handle change moves the handle claim in the same transaction.
pub async fn update_profile(store: &Store, me: &UserId, patch: ProfilePatch) -> AppResult<Profile> {
    check(&patch)?;
    if let Some(handle) = &patch.handle {
        Handle::parse(handle)?;
    }
    let current = get_my_profile(store, me).await?;
    let updated = apply_patch(current.clone(), patch)?;
    save_revision(store, &current, updated).await
}

/// Replace my privacy settings.
pub async fn set_privacy(
    store: &Store,
    me: &UserId,
    privacy: PrivacySettings,
) -> AppResult<Profile> {
    let current = get_my_profile(store, me).await?;
    let mut updated = current.clone();
    updated.privacy = privacy;
    save_revision(store, &current, updated).await
}

async fn save_revision(
    store: &Store,
    current: &Profile,
    mut updated: Profile,
) -> AppResult<Profile> {
    updated.version = current.version + 1;
    updated.updated_at = now_rfc3339();
    if updated.moderated_text() != current.moderated_text() {
        updated.moderation = ModerationState {
            status: ModerationStatus::Pending,
            checked_version: current.moderation.checked_version,
        };
    }
    let unchanged = Expr::new("#version = :expected")
        .name("#version", "version")
        .value(":expected", AttributeValue::N(current.version.to_string()));
    let mut transaction = store.transaction().put(
        profile_to_item(&updated)?,
        Some(Condition::new(PROFILE_UNCHANGED, unchanged)),
    );
    if updated.handle != current.handle {
        let mine =
            Expr::new("userId = :me").value(":me", AttributeValue::S(current.user_id.to_string()));
        transaction = transaction
            .delete(
                &keys::handle(&current.handle),
                Some(Condition::new(PROFILE_UNCHANGED, mine)),
            )
            .put(
                handle_item(&updated.handle, &updated.user_id)?,
                Some(Condition::absent(HANDLE_FREE)),
            );
    }
    match transaction.commit().await {
        Ok(()) => Ok(updated),
        Err(error) if error.failed(HANDLE_FREE) => Err(AppError::Conflict(format!(
            "the handle '{}' is already taken",
            updated.handle.as_str()
        ))),
        Err(WriteError::ConditionsFailed(_)) => Err(AppError::Conflict(
            "the profile was changed by another request; retry".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

// The conditions of this context's transactions, by name.
/// No profile is stored for the user yet.
const PROFILE_NEW: &str = "profile_new";
/// The handle is not claimed.
const HANDLE_FREE: &str = "handle_free";
/// The profile (and the handle it claims) is as it was read.
const PROFILE_UNCHANGED: &str = "profile_unchanged";

/// A profile reference in a URL: a user id, or `@handle`.
pub async fn resolve_ref(store: &Store, reference: &str) -> AppResult<Option<UserId>> {
    match reference.strip_prefix('@') {
        Some(handle) => match Handle::parse(handle) {
            Ok(handle) => user_by_handle(store, &handle).await,
            Err(_) => Ok(None),
        },
        None => Ok(UserId::parse(reference).ok()),
    }
}

/// Get a profile as `viewer` sees it: one BatchGetItem for blocks, one GetItem for the
/// profile, one for the relationship. Hidden, blocked and missing profiles are all 404.
pub async fn view_profile(
    store: &Store,
    viewer: &UserId,
    reference: &str,
) -> AppResult<ProfileView> {
    let not_found = || AppError::NotFound(format!("no profile '{reference}'"));
    let owner = resolve_ref(store, reference).await?.ok_or_else(not_found)?;
    // A block either way hides the profile exactly as if it did not exist.
    if graph::blocked_between(store, viewer, &owner).await? {
        return Err(not_found());
    }
    let profile = get_profile(store, &owner).await?.ok_or_else(not_found)?;
    let relationship = graph::relationship(store, viewer, &owner).await?;
    view_as(&profile, relationship).ok_or_else(not_found)
}

/// What to search public profiles by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSearch {
    NamePrefix(String),
    Skill(String),
}

impl ProfileSearch {
    pub fn parse(name: Option<&str>, skill: Option<&str>) -> AppResult<Self> {
        match (name, skill) {
            (Some(_), Some(_)) => Err(AppError::bad_field(
                "q",
                "search by q or by skill, not both",
            )),
            (Some(q), None) => {
                let normalized = normalize_name(q);
                if normalized.is_empty() || normalized.chars().count() > 80 {
                    return Err(AppError::bad_field("q", "must be 1 to 80 characters"));
                }
                Ok(Self::NamePrefix(normalized))
            }
            (None, Some(skill)) => {
                let normalized = normalize_label(skill);
                if normalized.is_empty()
                    || normalized.chars().count() > 40
                    || normalized.contains('#')
                {
                    return Err(AppError::bad_field("skill", "must be 1 to 40 characters"));
                }
                Ok(Self::Skill(normalized))
            }
            (None, None) => Err(AppError::bad_field("q", "give q (name prefix) or skill")),
        }
    }

    fn scope(&self) -> String {
        match self {
            Self::NamePrefix(q) => format!("profiles/search/name/{q}"),
            Self::Skill(s) => format!("profiles/search/skill/{s}"),
        }
    }
}

/// Search public profiles: by name prefix, one Query on GSI1; by skill, one Query on the
/// skill's partition plus one BatchGetItem; then one BatchGetItem of blocks, so users
/// who block the viewer or whom the viewer blocks are left out. Results show what a
/// stranger may see.
pub async fn search_profiles(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    search: &ProfileSearch,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ProfileView>> {
    let scope = search.scope();
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (profiles, next) = match search {
        ProfileSearch::NamePrefix(prefix) => {
            let (partition, _) = keys::name_index(prefix, &UserId::parse("x")?);
            let (items, next) = store
                .query(
                    &KeyQuery::partition(partition)
                        .on(Index::Gsi1)
                        .prefix(prefix.clone())
                        .limit(limit)
                        .start(start),
                )
                .await?;
            let profiles = items
                .into_iter()
                .map(profile_from_item)
                .collect::<AppResult<Vec<_>>>()?;
            (profiles, next)
        }
        ProfileSearch::Skill(skill) => {
            let (items, next) = store
                .query(
                    &KeyQuery::partition(format!("SKILL#{skill}"))
                        .limit(limit)
                        .start(start),
                )
                .await?;
            let users: Vec<Key> = items
                .iter()
                .filter_map(|item| item.get("userId")?.as_s().ok())
                .filter_map(|id| UserId::parse(id).ok())
                .map(|id| keys::profile(&id))
                .collect();
            let found = store.batch_get_items(&users).await?;
            let profiles = found
                .into_iter()
                .map(profile_from_item)
                .collect::<AppResult<Vec<_>>>()?;
            (profiles, next)
        }
    };
    let found: Vec<UserId> = profiles.iter().map(|p| p.user_id.clone()).collect();
    let blocked = graph::blocked_among(store, viewer, &found).await?;
    let items = profiles
        .iter()
        .filter(|p| !blocked.contains(&p.user_id))
        // The index may briefly lag a privacy change; the profile itself decides.
        .filter(|p| match search {
            ProfileSearch::Skill(skill) => p.searchable_skills().contains(skill),
            ProfileSearch::NamePrefix(_) => p.is_public(),
        })
        .filter_map(|p| view_as(p, Relationship::Stranger))
        .collect();
    let next_cursor = next.map(|key| cursors.seal(&scope, &key)).transpose()?;
    Ok(Page { items, next_cursor })
}

/// Keep the skill index in step with one profile change (stream function). Pure diff
/// of the old and new images, so a redelivered record does no harm.
pub async fn reindex_skills(
    store: &Store,
    old: Option<&Profile>,
    new: Option<&Profile>,
) -> AppResult<()> {
    reindex_derived(store, old, new, |p| {
        p.searchable_skills()
            .into_iter()
            .map(|skill| {
                let key = keys::skill_index(&skill, &p.normalized_name(), &p.user_id);
                (key, "SkillIndex", "skill", skill)
            })
            .collect()
    })
    .await
}

/// Keep the occupation and learning-goal indexes (connection suggestions) in step with
/// one profile change (stream function), like [`reindex_skills`].
pub async fn reindex_match_attributes(
    store: &Store,
    old: Option<&Profile>,
    new: Option<&Profile>,
) -> AppResult<()> {
    reindex_derived(store, old, new, |p| {
        let name = p.normalized_name();
        let occupation = p.matchable_occupation().map(|occupation| {
            let key = keys::occupation_index(&occupation, &name, &p.user_id);
            (key, "OccupationIndex", "occupation", occupation)
        });
        let goals = p.matchable_learning_goals().into_iter().map(|goal| {
            let key = keys::learning_goal_index(&goal, &name, &p.user_id);
            (key, "LearningGoalIndex", "learningGoal", goal)
        });
        occupation.into_iter().chain(goals).collect()
    })
    .await
}

/// One derived index item: its key, entity, and the indexed value's attribute name and
/// value (the item also carries the profile's `userId`).
type DerivedItem = (Key, &'static str, &'static str, String);

/// Diffs the derived index items of the old and new images: deletes the stale ones and
/// puts the wanted ones (puts are idempotent).
async fn reindex_derived(
    store: &Store,
    old: Option<&Profile>,
    new: Option<&Profile>,
    derive: impl Fn(&Profile) -> Vec<DerivedItem>,
) -> AppResult<()> {
    let wanted = new.map(&derive).unwrap_or_default();
    let stale: Vec<Key> = old
        .map(&derive)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, ..)| k)
        .filter(|k| !wanted.iter().any(|(w, ..)| w == k))
        .collect();
    store.batch_delete(&stale).await?;
    if let Some(profile) = new {
        for (key, entity, attribute, value) in wanted {
            let item = store::to_item(&serde_json::json!({
                "PK": key.pk, "SK": key.sk, "entity": entity,
                attribute: value, "userId": profile.user_id,
            }))?;
            store.put(item).await?;
        }
    }
    Ok(())
}

/// Whether a profile change needs a (new) moderation verdict.
pub fn needs_moderation(old: Option<&Profile>, new: Option<&Profile>) -> bool {
    match (old, new) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(old), Some(new)) => old.moderated_text() != new.moderated_text(),
    }
}

/// Record a moderation verdict for one profile version. A verdict about an older version
/// than the stored one is dropped (a newer job will follow), so jobs may arrive twice or
/// out of order.
pub async fn record_moderation(
    store: &Store,
    user: &UserId,
    version: u64,
    status: ModerationStatus,
) -> AppResult<bool> {
    let state = serde_dynamo::to_attribute_value::<_, AttributeValue>(&ModerationState {
        status,
        checked_version: version,
    })
    .map_err(AppError::internal)?;
    let update = Expr::new("SET #moderation = :state")
        .name("#moderation", "moderation")
        .value(":state", state);
    let same_version = Condition::new(
        PROFILE_UNCHANGED,
        Expr::new("attribute_exists(PK) AND #version = :version")
            .name("#version", "version")
            .value(":version", AttributeValue::N(version.to_string())),
    );
    match store
        .update(
            &keys::profile(user),
            update,
            Some(same_version),
            Returning::Nothing,
        )
        .await
    {
        Ok(_) => Ok(true),
        // A newer version (or no profile): this verdict no longer applies.
        Err(error) if error.failed(PROFILE_UNCHANGED) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            user_id: UserId::parse("u1").unwrap(),
            handle: Handle::parse("ana").unwrap(),
            display_name: "Ana Lima".into(),
            bio: Some("I teach Rust".into()),
            headline: Some("Engineer".into()),
            occupation: None,
            skills: vec!["Rust".into()],
            interests: vec![],
            learning_goals: vec!["Learn Go".into()],
            avatar_url: None,
            location: Some("Lisbon".into()),
            timezone: Some("Europe/Lisbon".into()),
            privacy: PrivacySettings::default(),
            moderation: ModerationState::default(),
            version: 1,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn public(mut p: Profile) -> Profile {
        p.privacy.profile_visibility = Visibility::Public;
        p
    }

    #[test]
    fn a_new_profile_is_private_and_hidden_from_everyone_but_its_owner() {
        let p = profile();

        assert!(view_as(&p, Relationship::Stranger).is_none());
        assert!(view_as(&p, Relationship::Connection).is_none());
        assert!(view_as(&p, Relationship::SelfView).is_some());
    }

    #[test]
    fn a_public_profile_shows_strangers_only_public_fields() {
        let view = view_as(&public(profile()), Relationship::Stranger).unwrap();

        assert_eq!(view.bio.as_deref(), Some("I teach Rust"));
        assert_eq!(view.skills, Some(vec!["Rust".to_owned()]));
        assert_eq!(view.learning_goals, None);
        assert_eq!(view.location, None);
        assert_eq!(view.timezone, None);
        assert_eq!(view.relationship, "none");
    }

    #[test]
    fn connections_see_connection_fields_but_not_private_ones() {
        let view = view_as(&public(profile()), Relationship::Connection).unwrap();

        assert_eq!(view.location.as_deref(), Some("Lisbon"));
        assert_eq!(view.learning_goals, Some(vec!["Learn Go".to_owned()]));
        assert_eq!(view.timezone, None);
    }

    #[test]
    fn a_connections_only_profile_is_hidden_from_strangers() {
        let mut p = profile();
        p.privacy.profile_visibility = Visibility::Connections;

        assert!(view_as(&p, Relationship::Stranger).is_none());
        assert!(view_as(&p, Relationship::Connection).is_some());
    }

    #[test]
    fn flagged_text_is_hidden_from_others_but_not_from_the_owner() {
        let mut p = public(profile());
        p.moderation.status = ModerationStatus::Flagged;

        assert_eq!(view_as(&p, Relationship::Stranger).unwrap().bio, None);
        assert!(view_as(&p, Relationship::SelfView).unwrap().bio.is_some());
    }

    #[test]
    fn skills_are_searchable_only_when_profile_and_skills_are_public() {
        let mut p = public(profile());
        assert_eq!(p.searchable_skills(), BTreeSet::from(["rust".to_owned()]));

        p.privacy.fields.skills = Visibility::Connections;
        assert!(p.searchable_skills().is_empty());
        assert!(profile().searchable_skills().is_empty());
    }

    #[test]
    fn occupation_and_goals_are_matchable_only_when_public_and_visible() {
        let mut p = public(profile());
        p.occupation = Some("Data #Engineer".into());
        assert_eq!(p.matchable_occupation().as_deref(), Some("data engineer"));
        assert!(
            p.matchable_learning_goals().is_empty(),
            "connections-only by default"
        );

        p.privacy.fields.learning_goals = Visibility::Public;
        assert_eq!(
            p.matchable_learning_goals(),
            BTreeSet::from(["learn go".to_owned()])
        );

        p.moderation.status = ModerationStatus::Flagged;
        assert_eq!(
            p.matchable_occupation(),
            None,
            "flagged text is not matched"
        );
        assert_eq!(profile().matchable_occupation(), None);
    }

    #[test]
    fn handles_are_case_insensitive_and_restricted() {
        assert_eq!(Handle::parse("@Ana_Lima").unwrap().as_str(), "ana_lima");
        assert!(Handle::parse("ab").is_err());
        assert!(Handle::parse("ana lima").is_err());
        assert!(Handle::parse("ana#x").is_err());
    }

    #[test]
    fn a_patch_distinguishes_absent_from_null() {
        let patch: ProfilePatch =
            serde_json::from_str(r#"{"bio": null, "displayName": "Ana L."}"#).unwrap();

        let updated = apply_patch(profile(), patch).unwrap();

        assert_eq!(updated.bio, None);
        assert_eq!(updated.headline.as_deref(), Some("Engineer"));
        assert_eq!(updated.display_name, "Ana L.");
    }

    #[test]
    fn a_profile_item_round_trips_with_its_index_keys() {
        let p = public(profile());

        let item = profile_to_item(&p).unwrap();

        assert_eq!(item["PK"].as_s().unwrap(), "USER#u1");
        assert_eq!(item["GSI1PK"].as_s().unwrap(), "PROFILENAME#a");
        assert_eq!(item["GSI1SK"].as_s().unwrap(), "ana lima#u1");
        assert_eq!(profile_from_item(item).unwrap(), p);
        assert!(!profile_to_item(&profile()).unwrap().contains_key("GSI1PK"));
    }

    #[test]
    fn a_text_edit_needs_moderation_but_a_privacy_change_does_not() {
        let old = profile();
        let mut edited = old.clone();
        edited.bio = Some("new".into());
        edited.version = 2;
        let mut private = old.clone();
        private.privacy.profile_visibility = Visibility::Public;

        assert!(needs_moderation(None, Some(&old)));
        assert!(needs_moderation(Some(&old), Some(&edited)));
        assert!(!needs_moderation(Some(&old), Some(&private)));
        assert!(!needs_moderation(Some(&old), None));
    }

    #[test]
    fn searches_need_exactly_one_valid_criterion() {
        assert_eq!(
            ProfileSearch::parse(Some("  Ana  "), None).unwrap(),
            ProfileSearch::NamePrefix("ana".into())
        );
        assert!(ProfileSearch::parse(None, None).is_err());
        assert!(ProfileSearch::parse(Some("a"), Some("rust")).is_err());
        assert!(ProfileSearch::parse(Some(" "), None).is_err());
    }
}
