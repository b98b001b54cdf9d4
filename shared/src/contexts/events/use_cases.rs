//! Events: use cases: the operations the edge and the scheduler call, which write.

use super::*;

// The conditions of this context's transactions, by name.
/// The event id is new.
const EVENT_NEW: &str = "event_new";
/// The event is still the version the change was made from.
const EVENT_UNCHANGED: &str = "event_unchanged";
/// My answer is still the one read.
const RSVP_UNCHANGED: &str = "rsvp_unchanged";
/// The occurrence's counts still allow what the answer planned.
const COUNTS_ALLOW: &str = "counts_allow";
/// The waitlist entry is still there.
const ENTRY_THERE: &str = "entry_there";
/// The reminder is still the one read.
const REMINDER_UNCHANGED: &str = "reminder_unchanged";
/// The fan-out step is not stored yet.
const STEP_NEW: &str = "step_new";

/// Attempts of an answer whose occurrence changed while it was made.
const RSVP_ATTEMPTS: u32 = 8;

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn concurrently_changed() -> AppError {
    AppError::Conflict("the event changed while this request was made; retry".into())
}

/// Who may create events in a community, and change or cancel any of its events: its
/// moderators and above (a course-linked community's instructors too).
fn require_organizer(loaded: &communities::Loaded) -> AppResult<()> {
    communities::require(
        loaded.community.kind,
        &loaded.standing,
        Permission::Moderate,
    )
    .map_err(|error| match error {
        AppError::Forbidden(_) => AppError::Forbidden(
            "only the community's moderators, admins and owner organize its events".into(),
        ),
        other => other,
    })
}

/// `host` is a member of the community (one BatchGetItem).
async fn require_member_host(store: &Store, community_id: &str, host: &UserId) -> AppResult<()> {
    let standing = communities::read_as(store, host, false, community_id)
        .await?
        .standing;
    if standing.is_member() {
        Ok(())
    } else {
        Err(AppError::invalid_field(
            "hostId",
            "must be a member of the community",
        ))
    }
}

fn parse_host(raw: Option<&str>, me: &UserId) -> AppResult<UserId> {
    match raw {
        None => Ok(me.clone()),
        Some(raw) => UserId::parse(raw)
            .map_err(|_| AppError::invalid_field("hostId", "is not a valid user id")),
    }
}

fn needs_a_place(online_url: &Option<String>, location: &Option<String>) -> AppResult<()> {
    if online_url.is_none() && location.is_none() {
        return Err(AppError::invalid_field(
            "location",
            "an event needs an onlineUrl or a location (or both)",
        ));
    }
    Ok(())
}

/// The first step of telling attendees of a change or a cancellation.
fn news(event: &Event, kind: FanoutKind, actor: &UserId) -> EventFanout {
    EventFanout {
        event_id: event.event_id.clone(),
        community_id: event.community_id.clone(),
        occurrence: "all".into(),
        kind,
        actor_id: actor.clone(),
        at: event.updated_at.clone(),
        step: 0,
        start: None,
    }
}

/// `POST /v1/communities/{communityId}/events`: its moderators and above. The event and
/// its first reminder in one transaction.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn create_event(
    store: &Store,
    me: &Principal,
    community_id: &str,
    input: NewEvent,
) -> AppResult<EventView> {
    check(&input)?;
    let schedule = schedule(
        &input.start,
        &input.end,
        &input.time_zone,
        input.recurrence.clone(),
    )?;
    let online_url = input.online_url;
    let location = validation::trimmed(input.location);
    needs_a_place(&online_url, &location)?;
    let host = parse_host(input.host_id.as_deref(), &me.user_id)?;
    let loaded = communities::load(store, me, community_id).await?;
    require_organizer(&loaded)?;
    if host != me.user_id {
        require_member_host(store, community_id, &host).await?;
    }
    let now = now_rfc3339();
    let event = Event {
        event_id: new_ulid(),
        community_id: community_id.to_owned(),
        title: input.title.trim().to_owned(),
        description: validation::trimmed(input.description),
        start: schedule.start,
        end: schedule.end,
        time_zone: schedule.time_zone,
        online_url,
        location,
        host_id: host,
        capacity: input.capacity,
        recurrence: schedule.recurrence,
        reminder_minutes: input.reminder_minutes.unwrap_or(DEFAULT_REMINDER_MINUTES),
        occurrences: schedule.occurrences,
        duration_seconds: schedule.duration_seconds,
        cancelled_at: None,
        version: 0,
        created_at: now.clone(),
        updated_at: now,
    };
    let mut transaction = store
        .transaction()
        .put_entity(&event, Some(Condition::absent(EVENT_NEW)));
    if let Some(reminder) = next_reminder(&event, now_epoch_seconds()) {
        transaction = transaction.put_entity(&reminder, None);
    }
    transaction.commit().await?;
    let now = now_epoch_seconds();
    let shown = occurrences_between(&event, now, i64::MAX, 10)
        .into_iter()
        .map(|place| occurrence_view(&event, place))
        .collect();
    Ok(event_view(event, shown))
}

/// An event and the right to change it: its host or the community's organizers.
async fn changeable(store: &Store, me: &Principal, event_id: &str) -> AppResult<Event> {
    let (event, loaded) = readable(store, me, event_id).await?;
    if event.cancelled_at.is_some() {
        return Err(AppError::Conflict("this event was cancelled".into()));
    }
    if event.host_id != me.user_id {
        require_organizer(&loaded).map_err(|error| match error {
            AppError::Forbidden(_) => AppError::Forbidden(
                "only the event's host and the community's moderators change it".into(),
            ),
            other => other,
        })?;
    }
    Ok(event)
}

/// Replaces `old` by `new` (on `old`'s version) with its reminder and, when `news` says
/// so, the first step of telling its attendees.
async fn replace_event(
    store: &Store,
    old: &Event,
    new: &Event,
    news: Option<EventFanout>,
) -> Result<(), WriteError> {
    let mut transaction = store.transaction().put_entity(
        new,
        Some(Condition::new(
            EVENT_UNCHANGED,
            Expr::new("version = :read").value(":read", n(old.version)),
        )),
    );
    transaction = match next_reminder(new, now_epoch_seconds()) {
        Some(reminder) => transaction.put_entity(&reminder, None),
        None => transaction.delete(&keys::reminder(&new.event_id), None),
    };
    if let Some(news) = news {
        transaction = transaction.put_entity(&news, Some(Condition::absent(STEP_NEW)));
    }
    transaction.commit().await
}

/// `PATCH /v1/events/{eventId}`: its host or the community's organizers. A change of
/// the time, the place or the recurrence tells its attendees (`eventChanged`); more
/// capacity moves waitlisted attendees up.
#[instrument(skip(store, me, patch), fields(user = %me.user_id))]
pub async fn update_event(
    store: &Store,
    me: &Principal,
    event_id: &str,
    patch: EventPatch,
) -> AppResult<EventView> {
    check(&patch)?;
    for _ in 0..3 {
        let old = changeable(store, me, event_id).await?;
        let patch = patch.clone();
        let mut new = old.clone();
        if let Some(title) = patch.title {
            new.title = title.trim().to_owned();
        }
        if let Some(description) = patch.description {
            new.description = validation::trimmed(description);
        }
        if let Some(url) = patch.online_url {
            new.online_url = url;
        }
        if let Some(location) = patch.location {
            new.location = validation::trimmed(location);
        }
        needs_a_place(&new.online_url, &new.location)?;
        if let Some(capacity) = patch.capacity {
            new.capacity = capacity;
        }
        if let Some(minutes) = patch.reminder_minutes {
            new.reminder_minutes = minutes;
        }
        if let Some(host) = patch.host_id.as_deref() {
            let host = parse_host(Some(host), &me.user_id)?;
            if host != new.host_id {
                require_member_host(store, &new.community_id, &host).await?;
                new.host_id = host;
            }
        }
        let timing_changed = patch.start.is_some()
            || patch.end.is_some()
            || patch.time_zone.is_some()
            || patch.recurrence.is_some();
        if timing_changed {
            let recurrence = match patch.recurrence {
                Some(recurrence) => recurrence,
                None => new.recurrence.clone(),
            };
            let schedule = schedule(
                patch.start.as_deref().unwrap_or(&new.start),
                patch.end.as_deref().unwrap_or(&new.end),
                patch.time_zone.as_deref().unwrap_or(&new.time_zone),
                recurrence,
            )?;
            new.start = schedule.start;
            new.end = schedule.end;
            new.time_zone = schedule.time_zone;
            new.recurrence = schedule.recurrence;
            new.occurrences = schedule.occurrences;
            new.duration_seconds = schedule.duration_seconds;
        }
        new.version += 1;
        new.updated_at = now_rfc3339();
        let moved = new.occurrences != old.occurrences
            || new.duration_seconds != old.duration_seconds
            || new.online_url != old.online_url
            || new.location != old.location;
        let tell = moved.then(|| news(&new, FanoutKind::Changed, &me.user_id));
        match replace_event(store, &old, &new, tell).await {
            Ok(()) => {}
            Err(error) if error.failed(EVENT_UNCHANGED) => continue,
            Err(WriteError::Contended) => continue,
            Err(error) => return Err(error.into()),
        }
        // Only more seats (or none limited any more) can move a waitlist up.
        let more_seats = match (old.capacity, new.capacity) {
            (Some(before), Some(after)) => after > before,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if more_seats {
            let now = now_epoch_seconds();
            for place in occurrences_between(&new, now, i64::MAX, MAX_OCCURRENCES) {
                fill(store, &new, &occurrence_id(place)).await?;
            }
        }
        let now = now_epoch_seconds();
        let shown = occurrences_between(&new, now, i64::MAX, 10)
            .into_iter()
            .map(|place| occurrence_view(&new, place))
            .collect();
        return Ok(event_view(new, shown));
    }
    Err(concurrently_changed())
}

/// `DELETE /v1/events/{eventId}`: its host or the community's organizers cancel it. It
/// stays readable (`cancelled`), leaves the community's list, sends no more reminders,
/// takes no more answers, and its attendees are told (`eventCancelled`).
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn cancel_event(store: &Store, me: &Principal, event_id: &str) -> AppResult<()> {
    for _ in 0..3 {
        let old = match changeable(store, me, event_id).await {
            Ok(event) => event,
            // Cancelled already: a repeat changes nothing.
            Err(AppError::Conflict(_)) => return Ok(()),
            Err(error) => return Err(error),
        };
        let mut new = old.clone();
        new.cancelled_at = Some(now_rfc3339());
        new.version += 1;
        new.updated_at = now_rfc3339();
        let tell = news(&new, FanoutKind::Cancelled, &me.user_id);
        match replace_event(store, &old, &new, Some(tell)).await {
            Ok(()) => return Ok(()),
            Err(error) if error.failed(EVENT_UNCHANGED) => continue,
            Err(WriteError::Contended) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// The update of an occurrence's counter by an answer: the changes, the item's identity
/// (an ADD creates it), and the condition the plan needs.
fn counter_change(
    event: &Event,
    occurrence: &str,
    plan: &RsvpPlan,
    counts: &OccurrenceCounts,
) -> (Expr, Option<Condition>) {
    let update = Expr::new(
        "SET entity = :entity, eventId = :event, occurrenceId = :occurrence \
         ADD going :going, waitlisted :waitlisted, nextPlace :place",
    )
    .value(":entity", s("EventOccurrence"))
    .value(":event", s(&event.event_id))
    .value(":occurrence", s(occurrence))
    .value(":going", n(plan.going))
    .value(":waitlisted", n(plan.waitlisted))
    .value(":place", n(u8::from(plan.takes_place.is_some())));
    let condition = if plan.needs_room {
        let capacity = event.capacity.unwrap_or(u32::MAX);
        Some(Condition::new(
            COUNTS_ALLOW,
            Expr::new(
                "(attribute_not_exists(going) OR going < :capacity) \
                 AND (attribute_not_exists(waitlisted) OR waitlisted = :zero)",
            )
            .value(":capacity", n(capacity))
            .value(":zero", n(0)),
        ))
    } else if plan.takes_place.is_some() {
        Some(Condition::new(
            COUNTS_ALLOW,
            Expr::new(if counts.next_place == 0 {
                "attribute_not_exists(nextPlace) OR nextPlace = :read"
            } else {
                "nextPlace = :read"
            })
            .value(":read", n(counts.next_place)),
        ))
    } else {
        None
    };
    (update, condition)
}

/// `PUT /v1/events/{eventId}/occurrences/{occurrenceId}/rsvp`: members answer an
/// occurrence that has not started. `going` takes a seat while there is room and no one
/// waits, else the end of the waitlist; leaving a seat moves the waitlist's head up.
/// Each answer is one transaction with the occurrence's exact counts.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn rsvp(
    store: &Store,
    me: &Principal,
    event_id: &str,
    occurrence: &str,
    input: RsvpInput,
) -> AppResult<RsvpView> {
    if input.status == RsvpStatus::Waitlisted {
        return Err(AppError::invalid_field(
            "status",
            "must be going, maybe or notGoing (a full occurrence waitlists a going)",
        ));
    }
    let (event, loaded) = readable(store, me, event_id).await?;
    if !loaded.standing.is_member() {
        return Err(AppError::Forbidden(
            "join the community to answer its events".into(),
        ));
    }
    if event.cancelled_at.is_some() {
        return Err(AppError::Conflict("this event was cancelled".into()));
    }
    let (_, starts_at) = occurrence_of(&event, occurrence).ok_or_else(no_such_occurrence)?;
    if starts_at <= now_epoch_seconds() {
        return Err(AppError::Conflict("this occurrence has started".into()));
    }
    let user = &me.user_id;
    for _ in 0..RSVP_ATTEMPTS {
        let wanted = [
            keys::occurrence(event_id, occurrence),
            keys::rsvp(event_id, occurrence, user),
        ];
        let mut counts = OccurrenceCounts::default();
        let mut current: Option<Rsvp> = None;
        for item in store.batch_get_items(&wanted).await? {
            if item
                .get("entity")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(Rsvp::NAME)
            {
                current = Some(store::from_item(item)?);
            } else {
                counts = store::from_item(item)?;
            }
        }
        let Some(plan) = plan_rsvp(
            current.as_ref().map(|r| (r.status, r.place)),
            input.status,
            &counts,
            event.capacity,
        ) else {
            return Ok(rsvp_view(
                &event,
                occurrence,
                current.map_or(input.status, |r| r.status),
                &counts,
            ));
        };
        let answer = Rsvp {
            event_id: event_id.to_owned(),
            occurrence_id: occurrence.to_owned(),
            starts_at,
            user_id: user.clone(),
            status: plan.status,
            place: plan.takes_place,
            responded_at: now_rfc3339(),
        };
        let unchanged = match &current {
            None => Condition::absent(RSVP_UNCHANGED),
            Some(current) => Condition::new(
                RSVP_UNCHANGED,
                Expr::new("#status = :old")
                    .name("#status", "status")
                    .value(":old", s(current.status.as_str())),
            ),
        };
        let (update, condition) = counter_change(&event, occurrence, &plan, &counts);
        let mut transaction = store
            .transaction()
            .put_entity(&answer, Some(unchanged))
            .put_entity(&MyRsvp(answer.clone()), None)
            .update(&keys::occurrence(event_id, occurrence), update, condition);
        if let Some(place) = plan.takes_place {
            transaction = transaction.put_entity(
                &WaitEntry {
                    event_id: event_id.to_owned(),
                    occurrence_id: occurrence.to_owned(),
                    place,
                    user_id: user.clone(),
                },
                None,
            );
        }
        if let Some(place) = plan.frees_place {
            transaction = transaction.delete(&keys::wait_entry(event_id, occurrence, place), None);
        }
        match transaction.commit().await {
            Ok(()) => {}
            Err(error) if error.failed(RSVP_UNCHANGED) || error.failed(COUNTS_ALLOW) => continue,
            Err(WriteError::Contended) => {
                pause().await;
                continue;
            }
            Err(error) => return Err(error.into()),
        }
        if plan.frees_seat {
            fill(store, &event, occurrence).await?;
        }
        let counts: OccurrenceCounts = store
            .get(&keys::occurrence(event_id, occurrence))
            .await?
            .unwrap_or_default();
        return Ok(rsvp_view(&event, occurrence, plan.status, &counts));
    }
    Err(AppError::Conflict(
        "this occurrence is busy; retry your answer".into(),
    ))
}

async fn pause() {
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    tokio::time::sleep(std::time::Duration::from_millis(
        10 + u64::from(jitter[0] % 40),
    ))
    .await;
}

fn rsvp_view(
    event: &Event,
    occurrence: &str,
    status: RsvpStatus,
    counts: &OccurrenceCounts,
) -> RsvpView {
    RsvpView {
        event_id: event.event_id.clone(),
        occurrence_id: occurrence.to_owned(),
        status,
        going: counts.going.max(0),
        waitlisted: counts.waitlisted.max(0),
        capacity: event.capacity,
    }
}

/// Moves the waitlist's head up while the occurrence has room: each move is one
/// transaction (the entry goes, the answer becomes `going`, the counts change under the
/// capacity), so the waitlist is served in order and never past the capacity.
pub async fn fill(store: &Store, event: &Event, occurrence: &str) -> AppResult<()> {
    for _ in 0..(MAX_OCCURRENCES * 2) {
        let counts: OccurrenceCounts = store
            .get(&keys::occurrence(&event.event_id, occurrence))
            .await?
            .unwrap_or_default();
        let room = event
            .capacity
            .is_none_or(|cap| counts.going < i64::from(cap));
        if counts.waitlisted <= 0 || !room {
            return Ok(());
        }
        let (items, _) = store
            .query(
                &KeyQuery::partition(keys::partition(&event.event_id))
                    .prefix(keys::waitlist_of(occurrence))
                    .consistent()
                    .limit(1),
            )
            .await?;
        let Some(head) = items.into_iter().next() else {
            return Ok(());
        };
        let head: WaitEntry = store::from_item(head)?;
        let Some(mut answer) = store
            .get::<Rsvp>(&keys::rsvp(&event.event_id, occurrence, &head.user_id))
            .await?
        else {
            store.delete(&head.key()).await?;
            continue;
        };
        answer.status = RsvpStatus::Going;
        answer.place = None;
        let capacity = event.capacity.unwrap_or(u32::MAX);
        let result = store
            .transaction()
            .delete(&head.key(), Some(Condition::present(ENTRY_THERE)))
            .put_entity(
                &answer,
                Some(Condition::new(
                    RSVP_UNCHANGED,
                    Expr::new("#status = :waitlisted AND place = :place")
                        .name("#status", "status")
                        .value(":waitlisted", s(RsvpStatus::Waitlisted.as_str()))
                        .value(":place", n(head.place)),
                )),
            )
            .put_entity(&MyRsvp(answer.clone()), None)
            .update(
                &keys::occurrence(&event.event_id, occurrence),
                Expr::new("ADD going :one, waitlisted :less")
                    .value(":one", n(1))
                    .value(":less", n(-1)),
                Some(Condition::new(
                    COUNTS_ALLOW,
                    Expr::new("going < :capacity").value(":capacity", n(capacity)),
                )),
            )
            .commit()
            .await;
        match result {
            Ok(()) => {}
            Err(error)
                if error.failed(ENTRY_THERE)
                    || error.failed(RSVP_UNCHANGED)
                    || error.failed(COUNTS_ALLOW) => {}
            Err(WriteError::Contended) => pause().await,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// The scheduler's tick: each reminder due by `now` (GSI3 `EVREMIND`, oldest first, at
/// most `limit`) starts its fan-out to the occurrence's attendees and moves on to the
/// next occurrence, in one transaction conditioned on the reminder as read (a tick that
/// runs twice sends nothing twice). Returns how many it sent.
pub async fn send_due_reminders(store: &Store, now: i64, limit: u32) -> AppResult<u32> {
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::REMINDERS_DUE)
                .on(Index::Gsi3)
                .between("0", format!("{now:012}~"))
                .limit(limit.clamp(1, 100)),
        )
        .await?;
    let mut sent = 0;
    for item in items {
        let reminder: Reminder = store::from_item(item)?;
        if reminder.due > now {
            break;
        }
        let Some(event) = store.get::<Event>(&keys::event(&reminder.event_id)).await? else {
            store.delete(&reminder.key()).await?;
            continue;
        };
        let occurrence = occurrence_at(&event, reminder.starts_at);
        let step = EventFanout {
            event_id: event.event_id.clone(),
            community_id: event.community_id.clone(),
            occurrence: occurrence.clone().unwrap_or_default(),
            kind: FanoutKind::Reminder,
            actor_id: event.host_id.clone(),
            at: now_rfc3339(),
            step: 0,
            start: None,
        };
        let read = Condition::new(
            REMINDER_UNCHANGED,
            Expr::new("startsAt = :starts AND due = :due")
                .value(":starts", n(reminder.starts_at))
                .value(":due", n(reminder.due)),
        );
        let mut transaction = store.transaction();
        transaction = match reminder_after(&event, reminder.starts_at) {
            Some(next) => transaction.put_entity(&next, Some(read)),
            None => transaction.delete(&reminder.key(), Some(read)),
        };
        let stale =
            event.cancelled_at.is_some() || !event.occurrences.contains(&reminder.starts_at);
        if !stale {
            transaction = transaction.put_entity(&step, Some(Condition::absent(STEP_NEW)));
        }
        match transaction.commit().await {
            Ok(()) => sent += u32::from(!stale),
            Err(error) if error.failed(REMINDER_UNCHANGED) || error.failed(STEP_NEW) => {}
            Err(WriteError::Contended) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(sent)
}

/// One page of who an event's news reaches: the answers going, maybe or waitlisted of
/// one occurrence, or of every occurrence (`all`), with where the next page starts.
pub async fn audience_page(
    store: &Store,
    event_id: &str,
    occurrence: &str,
    limit: u32,
    start: Option<PageKey>,
) -> AppResult<(Vec<UserId>, Option<PageKey>)> {
    let prefix = if occurrence == "all" {
        keys::RSVP_PREFIX.to_owned()
    } else {
        keys::rsvps_of(occurrence)
    };
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::partition(event_id))
                .prefix(prefix)
                .filter(
                    Expr::new("#status <> :not")
                        .name("#status", "status")
                        .value(":not", s(RsvpStatus::NotGoing.as_str())),
                )
                .limit(limit)
                .start(start),
        )
        .await?;
    let mut users: Vec<UserId> = Vec::new();
    for item in items {
        let rsvp: Rsvp = store::from_item(item)?;
        if !users.contains(&rsvp.user_id) {
            users.push(rsvp.user_id);
        }
    }
    Ok((users, next))
}

/// Erasure: my answers go (each seat or waitlist place given back, the waitlist moved
/// up), then their pointers.
pub async fn forget_rsvp(
    store: &Store,
    me: &UserId,
    event_id: &str,
    occurrence: &str,
) -> AppResult<()> {
    let Some(event) = store.get::<Event>(&keys::event(event_id)).await? else {
        return Ok(());
    };
    for _ in 0..RSVP_ATTEMPTS {
        let Some(current) = store
            .get::<Rsvp>(&keys::rsvp(event_id, occurrence, me))
            .await?
        else {
            return Ok(());
        };
        let counts: OccurrenceCounts = store
            .get(&keys::occurrence(event_id, occurrence))
            .await?
            .unwrap_or_default();
        let plan = plan_rsvp(
            Some((current.status, current.place)),
            RsvpStatus::NotGoing,
            &counts,
            event.capacity,
        );
        let mut transaction = store.transaction().delete(
            &current.key(),
            Some(Condition::new(
                RSVP_UNCHANGED,
                Expr::new("#status = :old")
                    .name("#status", "status")
                    .value(":old", s(current.status.as_str())),
            )),
        );
        if let Some(plan) = &plan {
            let (update, condition) = counter_change(&event, occurrence, plan, &counts);
            transaction =
                transaction.update(&keys::occurrence(event_id, occurrence), update, condition);
            if let Some(place) = plan.frees_place {
                transaction =
                    transaction.delete(&keys::wait_entry(event_id, occurrence, place), None);
            }
        }
        match transaction.commit().await {
            Ok(()) => {
                if plan.is_some_and(|p| p.frees_seat) && event.cancelled_at.is_none() {
                    fill(store, &event, occurrence).await?;
                }
                return Ok(());
            }
            Err(error) if error.failed(RSVP_UNCHANGED) || error.failed(COUNTS_ALLOW) => continue,
            Err(WriteError::Contended) => pause().await,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

// ---------------------------------------------------------------------------------
// My calendar feed: a secret URL for calendar apps, which send no bearer token
// ---------------------------------------------------------------------------------

/// The feed about to be replaced is still the one read (absent, or this digest).
const FEED_UNCHANGED: &str = "feed_unchanged";
/// The account has no deletion tombstone.
const ACCOUNT_ALIVE: &str = "account_alive";

/// My feed pointer still names the feed of `digest`.
fn feed_unchanged(digest: &str) -> Condition {
    Condition::new(
        FEED_UNCHANGED,
        Expr::new("digest = :digest").value(":digest", s(digest)),
    )
}

/// Where a feed's secret goes in the API.
pub const CALENDAR_FEED_PATH: &str = "/v1/calendars";

/// A new secret calendar URL for me, replacing the one I had (which stops working at
/// once): TransactWriteItems — Put the feed under its digest, Put my pointer (as read),
/// Delete the old feed, ConditionCheck that my account is not being erased.
#[instrument(skip(store))]
pub async fn open_calendar_feed(store: &Store, me: &UserId) -> AppResult<CalendarFeedView> {
    let token = crate::core::ids::new_secret()?;
    let feed = CalendarFeed {
        digest: crate::core::ids::secret_digest(&token),
        user_id: me.clone(),
        created_at: now_rfc3339(),
    };
    let previous: Option<CalendarFeed> = store.get(&keys::my_calendar_feed(me)).await?;
    let unchanged = match &previous {
        None => Condition::absent(FEED_UNCHANGED),
        Some(old) => feed_unchanged(&old.digest),
    };
    let mut transaction = store
        .transaction()
        .check(
            &crate::contexts::profiles::keys::deleted_account(me),
            Condition::absent(ACCOUNT_ALIVE),
        )
        .put_entity(&feed, None)
        .put_entity(&MyCalendarFeed(feed.clone()), Some(unchanged));
    if let Some(old) = &previous {
        transaction = transaction.delete(&keys::calendar_feed(&old.digest), None);
    }
    match transaction.commit().await {
        Ok(()) => Ok(CalendarFeedView {
            path: format!("{CALENDAR_FEED_PATH}/{token}"),
            token,
            created_at: feed.created_at,
        }),
        Err(error) if error.failed(FEED_UNCHANGED) => Err(AppError::Conflict(
            "another calendar URL was made at the same time: ask again".into(),
        )),
        Err(error) if error.failed(ACCOUNT_ALIVE) => {
            Err(AppError::NotFound("this account is being deleted".into()))
        }
        Err(error) => Err(error.into()),
    }
}

/// Turns my calendar URL off (nothing to do when I have none).
#[instrument(skip(store))]
pub async fn close_calendar_feed(store: &Store, me: &UserId) -> AppResult<()> {
    let Some(feed) = store
        .get::<CalendarFeed>(&keys::my_calendar_feed(me))
        .await?
    else {
        return Ok(());
    };
    let result = store
        .transaction()
        .delete(
            &keys::my_calendar_feed(me),
            Some(feed_unchanged(&feed.digest)),
        )
        .delete(&keys::calendar_feed(&feed.digest), None)
        .commit()
        .await;
    match result {
        // Replaced or closed meanwhile: the URL read is gone either way.
        Err(error) if error.failed(FEED_UNCHANGED) => Ok(()),
        other => other.map_err(Into::into),
    }
}
