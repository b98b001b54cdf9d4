//! Profiles: use cases: the operations the edge calls, which write.

use super::*;

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
        screening: None,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    let result = store
        .transaction()
        .put_entity(&profile, Some(Condition::absent(PROFILE_NEW)))
        .put_entity(
            &HandleClaim {
                handle: handle.clone(),
                user_id: me.clone(),
            },
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

pub(super) async fn save_revision(
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
            ..ModerationState::default()
        };
    }
    // A report's hold or a moderator's decision (`screening`) does not bump the version:
    // a revision read before one must not write it away.
    let screening_as_read = match &current.screening {
        Some(screening) => Expr::new("screening.#ss = :ss")
            .name("#ss", "status")
            .value(
                ":ss",
                serde_dynamo::to_attribute_value::<_, AttributeValue>(screening.status)
                    .map_err(AppError::internal)?,
            ),
        None => Expr::new("attribute_not_exists(screening)"),
    };
    let unchanged = Expr::new("#version = :expected")
        .name("#version", "version")
        .value(":expected", AttributeValue::N(current.version.to_string()))
        .and(screening_as_read);
    let mut transaction = store
        .transaction()
        .put_entity(&updated, Some(Condition::new(PROFILE_UNCHANGED, unchanged)));
    if updated.handle != current.handle {
        let mine =
            Expr::new("userId = :me").value(":me", AttributeValue::S(current.user_id.to_string()));
        transaction = transaction
            .delete(
                &keys::handle(&current.handle),
                Some(Condition::new(PROFILE_UNCHANGED, mine)),
            )
            .put_entity(
                &HandleClaim {
                    handle: updated.handle.clone(),
                    user_id: updated.user_id.clone(),
                },
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
pub(super) const PROFILE_NEW: &str = "profile_new";

/// The handle is not claimed.
pub(super) const HANDLE_FREE: &str = "handle_free";

/// The profile (and the handle it claims) is as it was read.
pub(super) const PROFILE_UNCHANGED: &str = "profile_unchanged";

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
            .map(|skill| SkillIndex {
                skill,
                user_id: p.user_id.clone(),
                normalized_name: p.normalized_name(),
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
        p.matchable_occupation()
            .map(|occupation| OccupationIndex {
                occupation,
                user_id: p.user_id.clone(),
                normalized_name: p.normalized_name(),
            })
            .into_iter()
            .collect()
    })
    .await?;
    reindex_derived(store, old, new, |p| {
        p.matchable_learning_goals()
            .into_iter()
            .map(|learning_goal| LearningGoalIndex {
                learning_goal,
                user_id: p.user_id.clone(),
                normalized_name: p.normalized_name(),
            })
            .collect()
    })
    .await
}

/// Diffs the derived index items of the old and new images: deletes the stale ones and
/// puts the wanted ones (puts are idempotent).
pub(super) async fn reindex_derived<E: Entity>(
    store: &Store,
    old: Option<&Profile>,
    new: Option<&Profile>,
    derive: impl Fn(&Profile) -> Vec<E>,
) -> AppResult<()> {
    let wanted = new.map(&derive).unwrap_or_default();
    let wanted_keys: Vec<Key> = wanted.iter().map(Entity::key).collect();
    let stale: Vec<Key> = old
        .map(&derive)
        .unwrap_or_default()
        .iter()
        .map(Entity::key)
        .filter(|k| !wanted_keys.contains(k))
        .collect();
    store.batch_delete(&stale).await?;
    for entry in &wanted {
        store.put(entry.item()?).await?;
    }
    Ok(())
}

/// Moderate one profile version (the moderation queue's job): checks its text and
/// records the verdict. `None` when the version is no longer current (the job of the
/// newer version gives the verdict) or the profile is gone.
pub async fn moderate_profile(
    store: &Store,
    settings: &ModerationConfig,
    user: &UserId,
    version: u64,
) -> AppResult<Option<ModerationStatus>> {
    let Some(profile) = get_profile(store, user).await? else {
        return Ok(None);
    };
    if profile.version != version {
        return Ok(None);
    }
    let state = moderation_state(&profile, settings);
    let status = state.status;
    let recorded = record_moderation(store, user, state).await?;
    Ok(recorded.then_some(status))
}

/// Record a moderation verdict for one profile version. A verdict about an older version
/// than the stored one is dropped (a newer job will follow), so jobs may arrive twice or
/// out of order.
pub async fn record_moderation(
    store: &Store,
    user: &UserId,
    state: ModerationState,
) -> AppResult<bool> {
    let version = state.checked_version;
    let state = serde_dynamo::to_attribute_value::<_, AttributeValue>(&state)
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
