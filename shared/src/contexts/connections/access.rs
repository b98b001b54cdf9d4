//! Connections: access patterns: the reads this context serves from the table.

use super::*;

/// The other user a request names: by id or by handle.
pub(super) async fn resolve_target(
    store: &Store,
    input: &NewConnectionRequest,
) -> AppResult<(String, Option<UserId>)> {
    match (input.user_id.as_deref(), input.handle.as_deref()) {
        (Some(id), None) => {
            let id = UserId::parse(id)
                .map_err(|_| AppError::invalid_field("userId", "is not a valid user id"))?;
            Ok((id.to_string(), Some(id)))
        }
        (None, Some(handle)) => {
            let handle = Handle::parse(handle)?;
            let user = profiles::user_by_handle(store, &handle).await?;
            Ok((format!("@{}", handle.as_str()), user))
        }
        (Some(_), Some(_)) => Err(AppError::bad_field(
            "userId",
            "name the user by userId or by handle, not both",
        )),
        (None, None) => Err(AppError::bad_field(
            "userId",
            "name the user to connect with by userId or handle",
        )),
    }
}

// ---------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------

/// One page of `prefix` items of my partition, decoded, with the users the viewer
/// blocks or is blocked by left out.
pub(super) async fn my_page<T: serde::de::DeserializeOwned>(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    prefix: &str,
    other_of: impl Fn(&T) -> UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<(Vec<T>, Option<String>)> {
    // The user is part of the scope: a cursor names a key in one user's partition.
    let scope = format!("connections/{prefix}/{me}");
    let start = cursor.map(|c| cursors.open(me, &scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(me))
                .prefix(prefix)
                .limit(limit)
                .start(start),
        )
        .await?;
    let records = items
        .into_iter()
        .map(store::from_item::<T>)
        .collect::<AppResult<Vec<T>>>()?;
    let others: Vec<UserId> = records.iter().map(&other_of).collect();
    let blocked = blocked_among(store, me, &others).await?;
    let records = records
        .into_iter()
        .filter(|r| !blocked.contains(&other_of(r)))
        .collect();
    let next_cursor = next.map(|key| cursors.seal(me, &scope, &key)).transpose()?;
    Ok((records, next_cursor))
}

/// `GET /v1/connections`: Query `USER#<me>` `begins_with(SK, CONN#)` + one BatchGetItem
/// of blocks + one of profiles per page.
pub async fn list_connections(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ConnectionView>> {
    let (records, next_cursor) = my_page(
        store,
        cursors,
        me,
        "CONN#",
        |c: &Connection| c.other_user_id.clone(),
        limit,
        cursor,
    )
    .await?;
    let others: Vec<UserId> = records.iter().map(|c| c.other_user_id.clone()).collect();
    let mut views = profiles::views_for(store, me, &others, Relationship::Connection).await?;
    let items = records
        .into_iter()
        .map(|c| ConnectionView {
            profile: views.remove(&c.other_user_id),
            user_id: c.other_user_id,
            requested_by: c.requested_by,
            connected_at: c.created_at,
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// `GET /v1/connections/requests?direction=`: Query `USER#<me>` `begins_with(SK,
/// REQIN#|REQOUT#)` + one BatchGetItem of blocks + one of profiles per page.
pub async fn list_requests(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    direction: RequestDirection,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<RequestView>> {
    let (prefix, other_of): (&str, fn(&ConnectionRequest) -> UserId) = match direction {
        RequestDirection::Incoming => ("REQIN#", |r| r.sender_id.clone()),
        RequestDirection::Outgoing => ("REQOUT#", |r| r.target_id.clone()),
    };
    let (records, next_cursor) =
        my_page(store, cursors, me, prefix, other_of, limit, cursor).await?;
    let others: Vec<UserId> = records.iter().map(other_of).collect();
    let mut views = profiles::views_for(store, me, &others, Relationship::Stranger).await?;
    let items = records
        .into_iter()
        .map(|r| {
            let mut view = RequestView::of(r, direction);
            view.profile = views.remove(&view.user_id);
            view
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// `GET /v1/blocks`: Query `USER#<me>` `begins_with(SK, BLOCK#)` (which `BLOCKEDBY#`
/// does not match, so who blocks me never shows) + one BatchGetItem of profiles.
pub async fn list_blocks(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<BlockView>> {
    let page = PlacedPage {
        scope: "blocks",
        prefix: "BLOCK#",
        limit,
        cursor,
    };
    placed_by_me(
        store,
        cursors,
        me,
        page,
        |b: &Block| &b.blocked_id,
        |b, profile| BlockView {
            profile,
            user_id: b.blocked_id,
            blocked_at: b.created_at,
        },
    )
    .await
}

/// `GET /v1/mutes`: the users I mute — one Query of `MUTE#` in my partition, and their
/// profiles as a stranger sees them.
pub async fn list_mutes(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<MuteView>> {
    let page = PlacedPage {
        scope: "mutes",
        prefix: "MUTE#",
        limit,
        cursor,
    };
    placed_by_me(
        store,
        cursors,
        me,
        page,
        |m: &Mute| &m.muted_id,
        |m, profile| MuteView {
            profile,
            user_id: m.muted_id,
            muted_at: m.created_at,
        },
    )
    .await
}

/// Which page of my blocks or mutes to read.
struct PlacedPage<'a> {
    scope: &'static str,
    prefix: &'static str,
    limit: u32,
    cursor: Option<&'a str>,
}

/// One page of the items I placed on others under `prefix` of my partition (blocks,
/// mutes), each shown with the other user's profile as a stranger sees it: one Query
/// and one BatchGetItem of profiles.
async fn placed_by_me<T, V>(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    page: PlacedPage<'_>,
    other_of: impl Fn(&T) -> &UserId,
    view: impl Fn(T, Option<ProfileView>) -> V,
) -> AppResult<Page<V>>
where
    T: serde::de::DeserializeOwned,
{
    let scope = format!("{}/{me}", page.scope);
    let start = page
        .cursor
        .map(|c| cursors.open(me, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(me))
                .prefix(page.prefix)
                .limit(page.limit)
                .start(start),
        )
        .await?;
    let placed = items
        .into_iter()
        .map(store::from_item::<T>)
        .collect::<AppResult<Vec<_>>>()?;
    let others: Vec<UserId> = placed.iter().map(|p| other_of(p).clone()).collect();
    let mut views = profiles::views_for(store, me, &others, Relationship::Stranger).await?;
    let items = placed
        .into_iter()
        .map(|p| {
            let profile = views.remove(other_of(&p));
            view(p, profile)
        })
        .collect();
    let next_cursor = next.map(|key| cursors.seal(me, &scope, &key)).transpose()?;
    Ok(Page { items, next_cursor })
}

/// The user ids of one page of a derived index partition (`SKILL#`, `OCCUPATION#`,
/// `GOAL#`): one Query.
pub(super) async fn index_users(store: &Store, partition: String) -> AppResult<Vec<UserId>> {
    let (items, _) = store
        .query(&KeyQuery::partition(partition).limit(suggestion_bounds::INDEX_PAGE))
        .await?;
    Ok(items
        .iter()
        .filter_map(|item| item.get("userId")?.as_s().ok())
        .filter_map(|id| UserId::parse(id).ok())
        .collect())
}

/// Computes the people `me` may know, best first (up to what a read of the largest
/// limit checks), or `None` without a profile. Candidates come from bounded Queries only: the
/// skill, occupation and learning-goal indexes of my attributes (public profiles only)
/// and the first connection page of a bounded number of my connections (mutual
/// connections). The best candidates by those hits are then checked in bulk: a pair
/// lock (connected, or a request pending either way) or a block either way excludes
/// them, and only public profiles are kept and scored on what a stranger sees.
pub async fn compute_suggestions(store: &Store, me: &UserId) -> AppResult<Option<SuggestedPeople>> {
    use suggestion_bounds::*;
    let Some(mine) = profiles::get_profile(store, me).await? else {
        return Ok(None);
    };
    let basis = MatchBasis::of(&mine);
    // Preliminary hits per candidate, only to choose which candidates to check.
    let mut hits: HashMap<UserId, u32> = HashMap::new();
    for skill in &basis.skills {
        for user in index_users(store, format!("SKILL#{skill}")).await? {
            *hits.entry(user).or_default() += suggestion_weights::SHARED_SKILL;
        }
    }
    if let Some(occupation) = &basis.occupation {
        for user in index_users(store, format!("OCCUPATION#{occupation}")).await? {
            *hits.entry(user).or_default() += suggestion_weights::SAME_OCCUPATION;
        }
    }
    for goal in &basis.goals {
        for user in index_users(store, format!("GOAL#{goal}")).await? {
            *hits.entry(user).or_default() += suggestion_weights::SAME_LEARNING_GOAL;
        }
    }
    let mut mutual: HashMap<UserId, usize> = HashMap::new();
    let (my_connections, _) = connection_ids_page(store, me, MUTUAL_SOURCES, None).await?;
    for friend in &my_connections {
        let (theirs, _) = connection_ids_page(store, friend, MUTUAL_PAGE, None).await?;
        for user in theirs {
            *mutual.entry(user.clone()).or_default() += 1;
            *hits.entry(user).or_default() += suggestion_weights::MUTUAL_CONNECTION;
        }
    }
    hits.remove(me);
    for friend in &my_connections {
        hits.remove(friend);
    }
    let mut pool: Vec<(UserId, u32)> = hits.into_iter().collect();
    pool.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pool.truncate(CANDIDATES);
    let pool: Vec<UserId> = pool.into_iter().map(|(user, _)| user).collect();

    let pair_keys: Vec<Key> = pool.iter().map(|other| keys::pair(me, other)).collect();
    let related: HashSet<UserId> = store
        .batch_get::<PairLock>(&pair_keys)
        .await?
        .into_iter()
        .flat_map(|lock| [lock.sender_id, lock.target_id])
        .collect();
    let blocked = blocked_among(store, me, &pool).await?;
    let candidates: Vec<UserId> = pool
        .into_iter()
        .filter(|user| !related.contains(user) && !blocked.contains(user))
        .collect();
    let profile_keys: Vec<Key> = candidates.iter().map(profiles::keys::profile).collect();
    let found = store
        .batch_get_items(&profile_keys)
        .await?
        .into_iter()
        .map(profiles::profile_from_item)
        .collect::<AppResult<Vec<_>>>()?;
    let mut scored = rank(&basis, found, |user| mutual.get(user).copied().unwrap_or(0));
    scored.truncate(candidates_to_check(MAX_RESULTS));
    Ok(Some(SuggestedPeople {
        user_id: me.clone(),
        candidates: scored
            .into_iter()
            .map(|s| SuggestedCandidate {
                mutual: mutual.get(&s.user_id).copied().unwrap_or(0),
                user_id: s.user_id,
            })
            .collect(),
        computed_at_ms: now_epoch_millis(),
        refresh_requested_at_ms: None,
    }))
}

/// People I may know, best first: from my stored [`SuggestedPeople`] (computed now if I
/// have none yet), its first candidates checked again in bulk — a pair lock (connected,
/// or a request pending either way) or a block either way drops them, and only public
/// profiles are kept, scored on what a stranger sees now. Two requests at the default
/// limit: one BatchGetItem of my list and my profile, one of the candidates' pair
/// locks, blocks and profiles. A list older than `max_age_ms` also asks the stream for
/// a new one (one UpdateItem, once).
pub async fn suggestions(
    store: &Store,
    me: &UserId,
    limit: u32,
    max_age_ms: i64,
) -> AppResult<Vec<Suggestion>> {
    let mut list = None;
    let mut mine = None;
    for item in store
        .batch_get_items(&[suggested_key(me), profiles::keys::profile(me)])
        .await?
    {
        if sort_key(&item) == Some("SUGGESTED") {
            list = Some(store::from_item::<SuggestedPeople>(item)?);
        } else {
            mine = Some(profiles::profile_from_item(item)?);
        }
    }
    let mine =
        mine.ok_or_else(|| AppError::NotFound("you have no profile yet; create one first".into()))?;
    let list = match list {
        Some(list) => {
            if refresh_due(&list, now_epoch_millis(), max_age_ms) {
                request_suggestions_refresh(store, me).await?;
            }
            list
        }
        None => {
            let Some(list) = compute_suggestions(store, me).await? else {
                return Ok(vec![]);
            };
            store.put(list.item()?).await?;
            list
        }
    };
    let basis = MatchBasis::of(&mine);
    let candidates: Vec<&SuggestedCandidate> = list
        .candidates
        .iter()
        .filter(|c| &c.user_id != me)
        .take(candidates_to_check(limit))
        .collect();
    let ids: Vec<UserId> = candidates.iter().map(|c| c.user_id.clone()).collect();
    let mut wanted: Vec<Key> = ids.iter().map(|other| keys::pair(me, other)).collect();
    wanted.extend(ids.iter().map(profiles::keys::profile));
    wanted.extend(crate::contexts::graph::block_keys(me, &ids));
    let found = store.batch_get_items(&wanted).await?;
    // Blocks either way, and pair locks (connected, or a request pending either way).
    let mut excluded = crate::contexts::graph::blocked_in(me, found.iter());
    let mut profiles_found = Vec::new();
    for item in found {
        match sort_key(&item) {
            Some("PAIR") => {
                let lock = store::from_item::<PairLock>(item)?;
                excluded.insert(lock.sender_id);
                excluded.insert(lock.target_id);
            }
            Some("PROFILE") => profiles_found.push(profiles::profile_from_item(item)?),
            _ => {}
        }
    }
    let mutual: HashMap<&UserId, usize> =
        candidates.iter().map(|c| (&c.user_id, c.mutual)).collect();
    let still_strangers = profiles_found
        .into_iter()
        .filter(|p| !excluded.contains(&p.user_id));
    let mut scored = rank(&basis, still_strangers, |user| {
        mutual.get(user).copied().unwrap_or(0)
    });
    scored.truncate(usize::try_from(limit.min(suggestion_bounds::MAX_RESULTS)).unwrap_or(20));
    Ok(scored)
}
