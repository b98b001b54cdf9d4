//! Events: access patterns: the reads this context serves from the table.

use std::collections::HashMap;

use super::*;

use store::{from_items as decode, sort_key};

/// An event (one GetItem); a missing one is its 404.
pub async fn event(store: &Store, event_id: &str) -> AppResult<Event> {
    if !valid_event_id(event_id) {
        return Err(no_such_event());
    }
    store
        .get(&keys::event(event_id))
        .await?
        .ok_or_else(no_such_event)
}

/// An event and where I stand in its community: one GetItem and the community's
/// BatchGetItem. Whoever may not see the community gets the event's 404; whoever may
/// not read its posts (a private community's outsider) a 403.
pub async fn readable(
    store: &Store,
    me: &Principal,
    event_id: &str,
) -> AppResult<(Event, communities::Loaded)> {
    let event = event(store, event_id).await?;
    let loaded = communities::load(store, me, &event.community_id)
        .await
        .map_err(|error| match error {
            AppError::NotFound(_) => no_such_event(),
            other => other,
        })?;
    if !communities::allows_posts(loaded.community.kind, &loaded.standing, PostAccess::Read) {
        return Err(AppError::Forbidden(
            "join this community to see its events".into(),
        ));
    }
    Ok((event, loaded))
}

/// The occurrences at `places`, with their counts and my answers (one BatchGetItem).
async fn occurrence_views(
    store: &Store,
    me: &UserId,
    event: &Event,
    places: &[usize],
) -> AppResult<Vec<OccurrenceView>> {
    let mut wanted = Vec::new();
    for place in places {
        let id = occurrence_id(*place);
        wanted.push(keys::occurrence(&event.event_id, &id));
        wanted.push(keys::rsvp(&event.event_id, &id, me));
    }
    let mut counts: HashMap<String, OccurrenceCounts> = HashMap::new();
    let mut mine: HashMap<String, RsvpStatus> = HashMap::new();
    for item in store.batch_get_items(&wanted).await? {
        let sk = sort_key(&item).unwrap_or_default().to_owned();
        if let Some(id) = sk.strip_prefix(keys::OCCURRENCE_PREFIX) {
            counts.insert(id.to_owned(), store::from_item(item)?);
        } else {
            let rsvp: Rsvp = store::from_item(item)?;
            mine.insert(rsvp.occurrence_id, rsvp.status);
        }
    }
    Ok(places
        .iter()
        .map(|place| {
            let mut view = occurrence_view(event, *place);
            let found = counts.remove(&view.occurrence_id).unwrap_or_default();
            view.going = Some(found.going.max(0));
            view.waitlisted = Some(found.waitlisted.max(0));
            view.my_rsvp = mine.remove(&view.occurrence_id);
            view
        })
        .collect())
}

/// Occurrences shown with an event read on its own.
const NEXT_SHOWN: usize = 10;

/// `GET /v1/events/{eventId}`: the event with its next occurrences (their counts and my
/// answers): one GetItem and two BatchGetItems.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn get_event(store: &Store, me: &Principal, event_id: &str) -> AppResult<EventView> {
    let (event, _) = readable(store, me, event_id).await?;
    let now = now_epoch_seconds();
    let starts = occurrences_between(&event, now, i64::MAX, NEXT_SHOWN);
    let shown = occurrence_views(store, &me.user_id, &event, &starts).await?;
    Ok(event_view(event, shown))
}

/// `GET /v1/events/{eventId}/occurrences?from=&to=`: the occurrences in the range (at
/// most 100), with their counts and my answers.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn list_occurrences(
    store: &Store,
    me: &Principal,
    event_id: &str,
    from: i64,
    to: i64,
) -> AppResult<Vec<OccurrenceView>> {
    let (event, _) = readable(store, me, event_id).await?;
    let starts = occurrences_between(&event, from, to, MAX_OCCURRENCES);
    occurrence_views(store, &me.user_id, &event, &starts).await
}

/// `GET /v1/communities/{communityId}/events?from=&to=`: the community's events that
/// have an occurrence in the range, soonest ending first, each with those occurrences
/// (at most 20 each): the community's BatchGetItem and one Query of GSI1.
#[instrument(skip(store, cursors, me), fields(user = %me.user_id))]
#[allow(clippy::too_many_arguments)]
pub async fn community_events(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    community_id: &str,
    from: i64,
    to: i64,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<EventView>> {
    let loaded = communities::load(store, me, community_id).await?;
    if !communities::allows_posts(loaded.community.kind, &loaded.standing, PostAccess::Read) {
        return Err(AppError::Forbidden(
            "join this community to see its events".into(),
        ));
    }
    let scope = format!("events:{community_id}:{from}:{to}");
    let start = cursor
        .map(|c| cursors.open(&me.user_id, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::of_community(community_id))
                .on(Index::Gsi1)
                .between(format!("{:012}", from.max(0)), "~")
                .limit(limit)
                .start(start),
        )
        .await?;
    let events: Vec<Event> = decode(items)?;
    let items = events
        .into_iter()
        .filter(|e| e.cancelled_at.is_none() && e.occurrences.first().is_some_and(|s| *s < to))
        .map(|event| {
            let shown = occurrences_between(&event, from, to, 20)
                .into_iter()
                .map(|place| occurrence_view(&event, place))
                .collect();
            event_view(event, shown)
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: next
            .map(|key| cursors.seal(&me.user_id, &scope, &key))
            .transpose()?,
    })
}

/// `GET /v1/events/{eventId}/occurrences/{occurrenceId}/attendees?status=`: members
/// only. `going` and `maybe` by user id, `waitlisted` in the waitlist's order: one
/// GetItem, one BatchGetItem and one Query.
#[instrument(skip(store, cursors, me), fields(user = %me.user_id))]
#[allow(clippy::too_many_arguments)]
pub async fn attendees(
    store: &Store,
    cursors: &CursorCodec,
    me: &Principal,
    event_id: &str,
    occurrence: &str,
    status: RsvpStatus,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<AttendeeView>> {
    let (event, loaded) = readable(store, me, event_id).await?;
    if !(loaded.standing.is_member() || loaded.standing.platform_moderator) {
        return Err(AppError::Forbidden(
            "only the community's members see who attends".into(),
        ));
    }
    occurrence_of(&event, occurrence).ok_or_else(no_such_occurrence)?;
    let scope = format!("attendees:{event_id}:{occurrence}:{}", status.as_str());
    let start = cursor
        .map(|c| cursors.open(&me.user_id, &scope, c))
        .transpose()?;
    let partition = keys::partition(event_id);
    let (items, next) = if status == RsvpStatus::Waitlisted {
        let (items, next) = store
            .query(
                &KeyQuery::partition(partition)
                    .prefix(keys::waitlist_of(occurrence))
                    .limit(limit)
                    .start(start),
            )
            .await?;
        let entries: Vec<WaitEntry> = decode(items)?;
        let rsvp_keys: Vec<Key> = entries
            .iter()
            .map(|e| keys::rsvp(event_id, occurrence, &e.user_id))
            .collect();
        let mut rsvps: HashMap<UserId, Rsvp> = store
            .batch_get::<Rsvp>(&rsvp_keys)
            .await?
            .into_iter()
            .map(|r| (r.user_id.clone(), r))
            .collect();
        let views = entries
            .into_iter()
            .filter_map(|e| {
                let rsvp = rsvps.remove(&e.user_id)?;
                Some(AttendeeView {
                    user_id: e.user_id,
                    status: RsvpStatus::Waitlisted,
                    responded_at: rsvp.responded_at,
                })
            })
            .collect::<Vec<_>>();
        (views, next)
    } else {
        let (items, next) = store
            .query(
                &KeyQuery::partition(partition)
                    .prefix(keys::rsvps_of(occurrence))
                    .filter(
                        Expr::new("#status = :status")
                            .name("#status", "status")
                            .value(":status", AttributeValue::S(status.as_str().to_owned())),
                    )
                    .limit(limit)
                    .start(start),
            )
            .await?;
        let rsvps: Vec<Rsvp> = decode(items)?;
        let views = rsvps
            .into_iter()
            .map(|r| AttendeeView {
                user_id: r.user_id,
                status: r.status,
                responded_at: r.responded_at,
            })
            .collect();
        (views, next)
    };
    Ok(Page {
        items,
        next_cursor: next
            .map(|key| cursors.seal(&me.user_id, &scope, &key))
            .transpose()?,
    })
}

/// My upcoming occurrences (going, maybe or waitlisted), soonest first: one Query of my
/// RSVPs from now and one BatchGetItem of their events.
pub async fn my_upcoming(
    store: &Store,
    me: &UserId,
    limit: u32,
    start: Option<PageKey>,
) -> AppResult<(Vec<MyEventView>, Vec<Event>, Option<PageKey>)> {
    let now = now_epoch_seconds();
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(me))
                .between(
                    format!("{}{:012}", keys::MY_RSVP_PREFIX, (now - 24 * 3600).max(0)),
                    format!("{}~", keys::MY_RSVP_PREFIX),
                )
                .limit(limit)
                .start(start),
        )
        .await?;
    let rsvps: Vec<Rsvp> = decode(items)?;
    let rsvps: Vec<Rsvp> = rsvps.into_iter().filter(|r| r.status.attends()).collect();
    // Each event once: BatchGetItem refuses a list with a key twice, and one event's
    // occurrences interleave with others' in time.
    let mut ids: Vec<&str> = rsvps.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let wanted: Vec<Key> = ids.into_iter().map(keys::event).collect();
    let events: HashMap<String, Event> = store
        .batch_get::<Event>(&wanted)
        .await?
        .into_iter()
        .map(|e| (e.event_id.clone(), e))
        .collect();
    let mut views = Vec::new();
    for rsvp in rsvps {
        let Some(event) = events.get(&rsvp.event_id) else {
            continue;
        };
        // The occurrence where it is now (an event's time may have changed since).
        let Some((place, start)) = occurrence_of(event, &rsvp.occurrence_id) else {
            continue;
        };
        if event.cancelled_at.is_some() || start + event.duration_seconds <= now {
            continue;
        }
        views.push(MyEventView {
            status: rsvp.status,
            occurrence: occurrence_view(event, place),
            event: event_view(event.clone(), Vec::new()),
        });
    }
    Ok((views, events.into_values().collect(), next))
}

/// `GET /v1/me/events`: [`my_upcoming`], a page.
#[instrument(skip(store, cursors))]
pub async fn my_events(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<MyEventView>> {
    let scope = "my-events";
    let start = cursor.map(|c| cursors.open(me, scope, c)).transpose()?;
    let (items, _, next) = my_upcoming(store, me, limit, start).await?;
    Ok(Page {
        items,
        next_cursor: next.map(|key| cursors.seal(me, scope, &key)).transpose()?,
    })
}

/// Whose calendar a secret URL opens: one GetItem of its digest. A malformed, replaced
/// or closed secret is a 404 (which says nothing about whether it ever worked).
pub async fn calendar_feed_owner(store: &Store, token: &str) -> AppResult<UserId> {
    let unknown = || AppError::NotFound("no such calendar".into());
    if !crate::core::ids::is_secret(token) {
        return Err(unknown());
    }
    let digest = crate::core::ids::secret_digest(token);
    store
        .get::<CalendarFeed>(&keys::calendar_feed(&digest))
        .await?
        .map(|feed| feed.user_id)
        .ok_or_else(unknown)
}
