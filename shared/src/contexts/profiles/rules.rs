//! Profiles: pure rules: decisions, write plans, visibility and counters, with no I/O.

use super::*;

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
pub(super) fn dedupe_labels(labels: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    labels
        .into_iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| seen.insert(normalize_label(l)))
        .collect()
}

/// Privacy filtering, the one place that decides what a viewer sees. `None` means the
/// profile itself is hidden (reported as 404, so its existence does not leak). A
/// profile a moderator flagged is hidden as a whole from everyone but its owner: its
/// name, avatar and lists are the owner's text as much as its bio.
pub fn view_as(profile: &Profile, relationship: Relationship) -> Option<ProfileView> {
    if !profile.privacy.profile_visibility.allows(relationship) {
        return None;
    }
    if profile.is_flagged() && relationship != Relationship::SelfView {
        return None;
    }
    let fields = profile.privacy.fields;
    let show = |v: Visibility| v.allows(relationship);
    let text = |v: Visibility, value: &Option<String>| show(v).then(|| value.clone()).flatten();
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
        trust_level: None,
    })
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

/// The verdict on a profile's text: the classifier's at the configured threshold, or,
/// with automatic moderation off, clean. Pure.
pub fn moderation_state(profile: &Profile, settings: &ModerationConfig) -> ModerationState {
    let clean = ModerationState {
        status: ModerationStatus::Clean,
        checked_version: profile.version,
        ..ModerationState::default()
    };
    if !settings.enabled {
        return clean;
    }
    let context = moderation::TextContext::with_threshold(settings.threshold);
    let verdict = moderation::classify_all(profile.moderated_text(), &context);
    let status = match verdict.decision {
        moderation::Decision::Hide => ModerationStatus::Flagged,
        moderation::Decision::Allow => ModerationStatus::Clean,
    };
    ModerationState {
        status,
        confidence: Some(verdict.confidence),
        categories: verdict
            .categories
            .iter()
            .filter(|c| status == ModerationStatus::Clean || c.confidence >= settings.threshold)
            .map(|c| c.category)
            .collect(),
        ..clean
    }
}

/// Whether a profile change needs a moderation job: every new version of a profile
/// whose verdict is pending. The worker drops a job about a version that is no longer
/// current, so a non-text edit right after a text edit must queue a job of its own, or
/// the pending text would never get a verdict. A verdict itself keeps the version, so
/// it queues nothing.
pub fn needs_moderation(old: Option<&Profile>, new: Option<&Profile>) -> bool {
    match (old, new) {
        (_, None) => false,
        (None, Some(new)) => new.moderation.status == ModerationStatus::Pending,
        (Some(old), Some(new)) => {
            new.moderation.status == ModerationStatus::Pending && new.version != old.version
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::store::Item;

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
            screening: None,
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
    fn a_flagged_profile_is_hidden_whole_from_others_but_not_from_the_owner() {
        let mut p = public(profile());
        p.privacy.fields.skills = Visibility::Public;
        p.privacy.fields.learning_goals = Visibility::Public;
        p.occupation = Some("Engineer".into());
        p.moderation.status = ModerationStatus::Flagged;

        assert!(view_as(&p, Relationship::Stranger).is_none());
        assert!(view_as(&p, Relationship::Connection).is_none());
        assert!(view_as(&p, Relationship::SelfView).unwrap().bio.is_some());
        assert!(p.index_keys().is_empty(), "out of the name index");
        assert!(p.searchable_skills().is_empty());
        assert!(p.matchable_learning_goals().is_empty());
        assert_eq!(p.matchable_occupation(), None);
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

        let item = p.item().unwrap();

        assert_eq!(item["PK"].as_s().unwrap(), "USER#u1");
        assert_eq!(item["GSI1PK"].as_s().unwrap(), "PROFILENAME#a");
        assert_eq!(item["GSI1SK"].as_s().unwrap(), "ana lima#u1");
        assert_eq!(profile_from_item(item).unwrap(), p);
        assert!(!profile().item().unwrap().contains_key("GSI1PK"));
    }

    /// An item as the hand-written code stored it, written out attribute by attribute.
    fn stored(value: serde_json::Value) -> Item {
        store::to_item(&value).unwrap()
    }

    /// The attributes of [`profile`] besides its keys, index keys and entity name.
    fn profile_attributes(visibility: &str) -> serde_json::Value {
        serde_json::json!({
            "userId": "u1", "handle": "ana", "displayName": "Ana Lima",
            "bio": "I teach Rust", "headline": "Engineer",
            "skills": ["Rust"], "interests": [], "learningGoals": ["Learn Go"],
            "location": "Lisbon", "timezone": "Europe/Lisbon",
            "privacy": {
                "profileVisibility": visibility,
                "fields": {
                    "bio": "public", "headline": "public", "occupation": "public",
                    "skills": "public", "interests": "public",
                    "learningGoals": "connections", "location": "connections",
                    "timezone": "private",
                },
            },
            "moderation": {"status": "pending", "checkedVersion": 0},
            "version": 1,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
        })
    }

    fn with(mut attributes: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
        for (name, value) in more.as_object().unwrap() {
            attributes[name] = value.clone();
        }
        attributes
    }

    #[test]
    fn a_public_profile_is_stored_as_before_with_its_name_index_keys() {
        let item = public(profile()).item().unwrap();

        assert_eq!(
            item,
            stored(with(
                profile_attributes("public"),
                serde_json::json!({
                    "PK": "USER#u1", "SK": "PROFILE", "entity": "Profile",
                    "GSI1PK": "PROFILENAME#a", "GSI1SK": "ana lima#u1",
                })
            ))
        );
    }

    #[test]
    fn a_private_profile_is_stored_as_before_without_index_keys() {
        let item = profile().item().unwrap();

        assert_eq!(
            item,
            stored(with(
                profile_attributes("private"),
                serde_json::json!({"PK": "USER#u1", "SK": "PROFILE", "entity": "Profile"})
            ))
        );
    }

    #[test]
    fn a_handle_claim_is_stored_as_before() {
        let claim = HandleClaim {
            handle: Handle::parse("ana").unwrap(),
            user_id: UserId::parse("u1").unwrap(),
        };

        let item = claim.item().unwrap();

        assert_eq!(
            item,
            stored(serde_json::json!({
                "PK": "HANDLE#ana", "SK": "HANDLE", "entity": "Handle",
                "handle": "ana", "userId": "u1",
            }))
        );
    }

    #[test]
    fn derived_index_items_are_stored_as_before() {
        let user = UserId::parse("u1").unwrap();
        let name = "ana lima".to_owned();

        let skill = SkillIndex {
            skill: "rust".into(),
            user_id: user.clone(),
            normalized_name: name.clone(),
        }
        .item()
        .unwrap();
        let occupation = OccupationIndex {
            occupation: "data engineer".into(),
            user_id: user.clone(),
            normalized_name: name.clone(),
        }
        .item()
        .unwrap();
        let goal = LearningGoalIndex {
            learning_goal: "learn go".into(),
            user_id: user,
            normalized_name: name,
        }
        .item()
        .unwrap();

        assert_eq!(
            skill,
            stored(serde_json::json!({
                "PK": "SKILL#rust", "SK": "ana lima#u1", "entity": "SkillIndex",
                "skill": "rust", "userId": "u1",
            }))
        );
        assert_eq!(
            occupation,
            stored(serde_json::json!({
                "PK": "OCCUPATION#data engineer", "SK": "ana lima#u1",
                "entity": "OccupationIndex", "occupation": "data engineer", "userId": "u1",
            }))
        );
        assert_eq!(
            goal,
            stored(serde_json::json!({
                "PK": "GOAL#learn go", "SK": "ana lima#u1", "entity": "LearningGoalIndex",
                "learningGoal": "learn go", "userId": "u1",
            }))
        );
    }

    fn revised(old: &Profile, status: ModerationStatus, change: impl Fn(&mut Profile)) -> Profile {
        let mut new = old.clone();
        change(&mut new);
        new.version = old.version + 1;
        new.moderation.status = status;
        new
    }

    #[test]
    fn every_new_version_of_a_pending_profile_needs_a_moderation_job() {
        let mut clean = profile();
        clean.moderation.status = ModerationStatus::Clean;
        let text_edit = revised(&clean, ModerationStatus::Pending, |p| {
            p.bio = Some("x".into())
        });
        let then_timezone = revised(&text_edit, ModerationStatus::Pending, |p| {
            p.timezone = Some("UTC".into())
        });

        assert!(needs_moderation(None, Some(&profile())));
        assert!(needs_moderation(Some(&clean), Some(&text_edit)));
        assert!(
            needs_moderation(Some(&text_edit), Some(&then_timezone)),
            "the job of the text edit is dropped, so this version needs its own"
        );
    }

    #[test]
    fn a_verdict_a_deletion_or_an_edit_of_a_checked_profile_needs_no_job() {
        let pending = profile();
        let mut verdict = pending.clone();
        verdict.moderation.status = ModerationStatus::Clean;
        let privacy_edit = revised(&verdict, ModerationStatus::Clean, |p| {
            p.privacy.profile_visibility = Visibility::Public
        });

        assert!(!needs_moderation(Some(&pending), Some(&verdict)));
        assert!(!needs_moderation(Some(&verdict), Some(&privacy_edit)));
        assert!(!needs_moderation(Some(&pending), None));
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
