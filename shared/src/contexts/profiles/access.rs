//! Profiles: access patterns: the reads this context serves from the table.

use super::*;

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

/// The other users' profiles, as `viewer` may see them, keyed by user id: one
/// BatchGetItem. Hidden profiles are absent.
pub async fn views_for(
    store: &Store,
    viewer: &UserId,
    others: &[UserId],
    relationship: Relationship,
) -> AppResult<HashMap<UserId, ProfileView>> {
    let keys: Vec<Key> = others.iter().map(keys::profile).collect();
    let mut views = HashMap::new();
    for item in store.batch_get_items(&keys).await? {
        let profile = profile_from_item(item)?;
        let relationship = if &profile.user_id == viewer {
            Relationship::SelfView
        } else {
            relationship
        };
        if let Some(view) = view_as(&profile, relationship) {
            views.insert(profile.user_id.clone(), view);
        }
    }
    Ok(views)
}

/// Resolve a handle: GetItem `HANDLE#<handle> / HANDLE`.
pub async fn user_by_handle(store: &Store, handle: &Handle) -> AppResult<Option<UserId>> {
    let item: Option<HandleClaim> = store.get(&keys::handle(handle)).await?;
    Ok(item.map(|i| i.user_id))
}

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
    let start = cursor
        .map(|c| cursors.open(viewer, &scope, c))
        .transpose()?;
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
    let next_cursor = next
        .map(|key| cursors.seal(viewer, &scope, &key))
        .transpose()?;
    Ok(Page { items, next_cursor })
}
