//! Events: pure rules: local times in a time zone, recurrence, occurrence ids, RSVP
//! transitions with a capacity and a waitlist, and reminders, with no I/O.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};

use super::*;

/// The most occurrences an event has.
pub const MAX_OCCURRENCES: usize = 100;

/// The longest an occurrence lasts.
pub const MAX_DURATION_SECONDS: i64 = 24 * 3600;

/// The default reminder, in minutes before an occurrence.
pub const DEFAULT_REMINDER_MINUTES: u32 = 60;

/// A local date and time `YYYY-MM-DDTHH:MM` (seconds allowed).
pub fn parse_local(field: &str, text: &str) -> Result<NaiveDateTime, FieldError> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| {
            FieldError::new(
                field,
                "must be a local date and time YYYY-MM-DDTHH:MM (no offset: timeZone says where)",
            )
        })
}

/// An IANA time zone.
pub fn parse_zone(text: &str) -> Result<chrono_tz::Tz, FieldError> {
    text.parse::<chrono_tz::Tz>().map_err(|_| {
        FieldError::new(
            "timeZone",
            "must be an IANA time zone such as Europe/Lisbon",
        )
    })
}

/// The instant a local time stands for in `zone`: a time that does not exist (skipped
/// by a daylight-saving change) is refused; one that exists twice is the first.
pub fn instant(field: &str, local: NaiveDateTime, zone: chrono_tz::Tz) -> Result<i64, FieldError> {
    zone.from_local_datetime(&local)
        .earliest()
        .map(|at| at.timestamp())
        .ok_or_else(|| {
            FieldError::new(
                field,
                "does not exist in that time zone (a daylight-saving change skips it)",
            )
        })
}

/// The occurrences' starts (epoch seconds, ascending) of an event starting at `start`
/// in `zone`, recurring by `recurrence` (RFC 5545 through the `rrule` crate, so
/// occurrences keep their local time across daylight-saving changes).
pub fn expand(
    start: NaiveDateTime,
    zone: chrono_tz::Tz,
    recurrence: Option<&Recurrence>,
) -> Result<Vec<i64>, Vec<FieldError>> {
    let first = instant("start", start, zone).map_err(|e| vec![e])?;
    let Some(recurrence) = recurrence else {
        return Ok(vec![first]);
    };
    let mut errors = Vec::new();
    if !(1..=12).contains(&recurrence.interval) {
        errors.push(FieldError::new("recurrence.interval", "must be 1 to 12"));
    }
    let end_rule = match (recurrence.count, recurrence.until.as_deref()) {
        (Some(count), None) if (1..=MAX_OCCURRENCES as u32).contains(&count) => {
            format!("COUNT={count}")
        }
        (Some(_), None) => {
            errors.push(FieldError::new("recurrence.count", "must be 1 to 100"));
            String::new()
        }
        (None, Some(until)) => match NaiveDate::parse_from_str(until, "%Y-%m-%d") {
            Ok(date) if date >= start.date() => {
                // The end of that local day, in UTC (RFC 5545 wants UNTIL in UTC when
                // DTSTART has a TZID).
                let last = date.and_hms_opt(23, 59, 59).unwrap_or(start);
                let until = zone
                    .from_local_datetime(&last)
                    .latest()
                    .map(|at| at.with_timezone(&chrono::Utc))
                    .unwrap_or_else(|| chrono::Utc.from_utc_datetime(&last));
                format!("UNTIL={}", until.format("%Y%m%dT%H%M%SZ"))
            }
            Ok(_) => {
                errors.push(FieldError::new(
                    "recurrence.until",
                    "must not be before the start",
                ));
                String::new()
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "recurrence.until",
                    "must be a date YYYY-MM-DD",
                ));
                String::new()
            }
        },
        _ => {
            errors.push(FieldError::new(
                "recurrence",
                "needs exactly one of count and until",
            ));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let text = format!(
        "DTSTART;TZID={}:{}\nRRULE:FREQ={};INTERVAL={};{end_rule}",
        zone.name(),
        start.format("%Y%m%dT%H%M%S"),
        recurrence.frequency.rrule(),
        recurrence.interval,
    );
    let set: rrule::RRuleSet = text.parse().map_err(|e| {
        vec![FieldError::new(
            "recurrence",
            format!("is not a valid rule: {e}"),
        )]
    })?;
    let result = set.all(MAX_OCCURRENCES as u16 + 1);
    if result.dates.len() > MAX_OCCURRENCES {
        return Err(vec![FieldError::new(
            "recurrence",
            "gives more than 100 occurrences: end it sooner",
        )]);
    }
    Ok(result.dates.iter().map(|at| at.timestamp()).collect())
}

/// An occurrence's id: its place in the event, `1` for the first. It stays when the
/// event's time or place changes, so answers follow a moved occurrence.
pub fn occurrence_id(index: usize) -> String {
    (index + 1).to_string()
}

/// The place (from 0) and start (epoch seconds) of the occurrence an id names, when it
/// is one of `event`'s.
pub fn occurrence_of(event: &Event, id: &str) -> Option<(usize, i64)> {
    if id.is_empty() || id.starts_with('0') || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index = id.parse::<usize>().ok()?.checked_sub(1)?;
    event.occurrences.get(index).map(|start| (index, *start))
}

/// The id of the occurrence starting at `start`, when `event` has one.
pub fn occurrence_at(event: &Event, start: i64) -> Option<String> {
    event
        .occurrences
        .iter()
        .position(|s| *s == start)
        .map(occurrence_id)
}

fn rfc3339(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .map(crate::core::ids::format_rfc3339)
        .unwrap_or_default()
}

/// The `index`th occurrence as readers see it (counts and my answer added by the
/// caller).
pub fn occurrence_view(event: &Event, index: usize) -> OccurrenceView {
    let start = event.occurrences.get(index).copied().unwrap_or_default();
    let local_start = parse_zone(&event.time_zone)
        .ok()
        .and_then(|zone| {
            chrono::DateTime::from_timestamp(start, 0).map(|at| at.with_timezone(&zone))
        })
        .map(|at| at.to_rfc3339())
        .unwrap_or_default();
    OccurrenceView {
        occurrence_id: occurrence_id(index),
        starts_at: rfc3339(start),
        ends_at: rfc3339(start + event.duration_seconds),
        local_start,
        going: None,
        waitlisted: None,
        my_rsvp: None,
    }
}

/// The places of `event`'s occurrences that overlap `[from, to)` (epoch seconds), at
/// most `limit`.
pub fn occurrences_between(event: &Event, from: i64, to: i64, limit: usize) -> Vec<usize> {
    event
        .occurrences
        .iter()
        .enumerate()
        .filter(|(_, start)| **start + event.duration_seconds > from && **start < to)
        .map(|(index, _)| index)
        .take(limit)
        .collect()
}

/// The view of an event with the occurrences `shown`.
pub fn event_view(event: Event, shown: Vec<OccurrenceView>) -> EventView {
    EventView {
        occurrence_count: event.occurrences.len(),
        cancelled: event.cancelled_at.is_some(),
        event_id: event.event_id,
        community_id: event.community_id,
        title: event.title,
        description: event.description,
        start: event.start,
        end: event.end,
        time_zone: event.time_zone,
        online_url: event.online_url,
        location: event.location,
        host_id: event.host_id,
        capacity: event.capacity,
        recurrence: event.recurrence,
        reminder_minutes: event.reminder_minutes,
        occurrences: shown,
        created_at: event.created_at,
        updated_at: event.updated_at,
    }
}

/// What an RSVP does to an occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsvpPlan {
    /// The answer stored.
    pub status: RsvpStatus,
    /// Changes to the exact counts.
    pub going: i64,
    pub waitlisted: i64,
    /// A `going` that finds room: the count must still be below the capacity with no
    /// one waiting when it commits.
    pub needs_room: bool,
    /// A place taken at the end of the waitlist (the counter's `nextPlace` as read).
    pub takes_place: Option<u64>,
    /// A waitlist place given up.
    pub frees_place: Option<u64>,
    /// A seat given up: the waitlist's head may move up.
    pub frees_seat: bool,
}

/// What answering `wanted` does, from my current answer, the occurrence's counts and
/// its capacity. `None`: nothing changes. A `going` is seated while there is room and no
/// one waits, and waitlisted otherwise; a waitlisted `going` keeps its place.
pub fn plan_rsvp(
    current: Option<(RsvpStatus, Option<u64>)>,
    wanted: RsvpStatus,
    counts: &OccurrenceCounts,
    capacity: Option<u32>,
) -> Option<RsvpPlan> {
    let status = current.map(|(s, _)| s);
    let place = current.and_then(|(_, p)| p);
    let stays = matches!(
        (status, wanted),
        (Some(RsvpStatus::Going), RsvpStatus::Going)
            | (Some(RsvpStatus::Waitlisted), RsvpStatus::Going)
            | (Some(RsvpStatus::Maybe), RsvpStatus::Maybe)
            | (Some(RsvpStatus::NotGoing), RsvpStatus::NotGoing)
    );
    if stays {
        return None;
    }
    let mut plan = RsvpPlan {
        status: wanted,
        going: 0,
        waitlisted: 0,
        needs_room: false,
        takes_place: None,
        frees_place: None,
        frees_seat: false,
    };
    match status {
        Some(RsvpStatus::Going) => {
            plan.going -= 1;
            plan.frees_seat = true;
        }
        Some(RsvpStatus::Waitlisted) => {
            plan.waitlisted -= 1;
            plan.frees_place = place;
        }
        _ => {}
    }
    if wanted == RsvpStatus::Going {
        let room = capacity.is_none_or(|cap| counts.going < i64::from(cap));
        if room && counts.waitlisted == 0 {
            plan.going += 1;
            plan.needs_room = capacity.is_some();
        } else {
            plan.status = RsvpStatus::Waitlisted;
            plan.waitlisted += 1;
            plan.takes_place = Some(counts.next_place);
        }
    }
    Some(plan)
}

/// The reminder of `event`'s first occurrence whose reminder is still to come at `now`
/// (its due time clamped to now when it falls between now and the start); none for a
/// cancelled event, one without reminders, or when no occurrence is left.
pub fn next_reminder(event: &Event, now: i64) -> Option<Reminder> {
    if event.cancelled_at.is_some() || event.reminder_minutes == 0 {
        return None;
    }
    let lead = i64::from(event.reminder_minutes) * 60;
    let start = event
        .occurrences
        .iter()
        .copied()
        .find(|start| *start > now)?;
    Some(Reminder {
        event_id: event.event_id.clone(),
        starts_at: start,
        due: (start - lead).max(now),
    })
}

/// The reminder after the one for `sent` (the next occurrence's), if any.
pub fn reminder_after(event: &Event, sent: i64) -> Option<Reminder> {
    if event.cancelled_at.is_some() || event.reminder_minutes == 0 {
        return None;
    }
    let lead = i64::from(event.reminder_minutes) * 60;
    let start = event
        .occurrences
        .iter()
        .copied()
        .find(|start| *start > sent)?;
    Some(Reminder {
        event_id: event.event_id.clone(),
        starts_at: start,
        due: start - lead,
    })
}

pub fn no_such_event() -> AppError {
    AppError::NotFound("no such event".into())
}

pub fn no_such_occurrence() -> AppError {
    AppError::NotFound("no such occurrence of this event".into())
}

/// An event id: a ULID, checked before it becomes part of a key.
pub fn valid_event_id(raw: &str) -> bool {
    ulid::Ulid::from_string(raw).is_ok_and(|id| id.to_string() == raw)
}

/// Events: ICS calendars (RFC 5545) through the `icalendar` crate: one event with its
/// recurrence, or my upcoming occurrences, each its own VEVENT.
pub mod calendar {
    use chrono::{NaiveDateTime, TimeZone};
    use icalendar::{Calendar, CalendarDateTime, Component, EventLike, EventStatus};

    use super::super::*;

    /// The product identifier of Agora's calendars.
    const PRODID: &str = "-//Agora//Events//EN";

    fn local_time(event: &Event, field: &str, text: &str) -> Option<CalendarDateTime> {
        let at: NaiveDateTime = parse_local(field, text).ok()?;
        Some(CalendarDateTime::WithTimezone {
            date_time: at,
            tzid: event.time_zone.clone(),
        })
    }

    fn utc(epoch: i64) -> Option<CalendarDateTime> {
        chrono::Utc
            .timestamp_opt(epoch, 0)
            .single()
            .map(CalendarDateTime::Utc)
    }

    fn base(event: &Event, uid: String) -> icalendar::Event {
        let mut vevent = icalendar::Event::new();
        vevent.uid(&uid).summary(&event.title);
        if let Some(description) = &event.description {
            vevent.description(description);
        }
        match (&event.location, &event.online_url) {
            (Some(location), _) => {
                vevent.location(location);
            }
            (None, Some(url)) => {
                vevent.location(url);
            }
            (None, None) => {}
        }
        if let Some(url) = &event.online_url {
            vevent.url(url);
        }
        if event.cancelled_at.is_some() {
            vevent.status(EventStatus::Cancelled);
        }
        vevent.timestamp(chrono::Utc::now());
        vevent
    }

    /// The RRULE of an event's recurrence (the same rule its occurrences were expanded by).
    fn rrule(event: &Event) -> Option<String> {
        let recurrence = event.recurrence.as_ref()?;
        let end = match (&recurrence.count, &recurrence.until) {
            (Some(count), _) => format!("COUNT={count}"),
            (None, Some(_)) => {
                let last = event.occurrences.last()?;
                let at = chrono::DateTime::from_timestamp(*last, 0)?;
                format!("UNTIL={}", at.format("%Y%m%dT%H%M%SZ"))
            }
            (None, None) => return None,
        };
        Some(format!(
            "FREQ={};INTERVAL={};{end}",
            recurrence.frequency.rrule(),
            recurrence.interval
        ))
    }

    /// One event as an ICS calendar: its first occurrence in its time zone and its rule.
    pub fn event_calendar(event: &Event) -> String {
        let mut vevent = base(event, format!("{}@agora", event.event_id));
        if let Some(start) = local_time(event, "start", &event.start) {
            vevent.starts(start);
        }
        if let Some(end) = local_time(event, "end", &event.end) {
            vevent.ends(end);
        }
        if let Some(rule) = rrule(event) {
            vevent.add_property("RRULE", rule);
        }
        let mut calendar = Calendar::new();
        calendar.append_property(("PRODID", PRODID));
        calendar.push(vevent.done());
        calendar.done().to_string()
    }

    /// My upcoming occurrences as an ICS calendar, one VEVENT each (in UTC).
    pub fn upcoming_calendar(mine: &[MyEventView], events: &[Event]) -> String {
        let mut calendar = Calendar::new();
        calendar.append_property(("PRODID", PRODID));
        calendar.name("My Agora events");
        for view in mine {
            let Some(event) = events.iter().find(|e| e.event_id == view.event.event_id) else {
                continue;
            };
            let Some((_, start)) = occurrence_of(event, &view.occurrence.occurrence_id) else {
                continue;
            };
            let mut vevent = base(
                event,
                format!("{}-{}@agora", event.event_id, view.occurrence.occurrence_id),
            );
            if let (Some(from), Some(to)) = (utc(start), utc(start + event.duration_seconds)) {
                vevent.starts(from).ends(to);
            }
            if view.status == RsvpStatus::Maybe {
                vevent.add_property("X-AGORA-RSVP", "maybe");
            }
            calendar.push(vevent.done());
        }
        calendar.done().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(text: &str) -> NaiveDateTime {
        parse_local("start", text).unwrap()
    }

    fn utc(epoch: i64) -> String {
        chrono::DateTime::from_timestamp(epoch, 0)
            .unwrap()
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    }

    fn weekly(count: Option<u32>, until: Option<&str>) -> Recurrence {
        Recurrence {
            frequency: Frequency::Weekly,
            interval: 1,
            count,
            until: until.map(str::to_owned),
        }
    }

    #[test]
    fn a_weekly_meeting_keeps_its_local_time_across_a_daylight_saving_change() {
        let zone = parse_zone("Europe/Lisbon").unwrap();

        let starts = expand(
            local("2026-10-15T18:00"),
            zone,
            Some(&weekly(Some(3), None)),
        )
        .unwrap();

        let ids: Vec<String> = starts.iter().map(|s| utc(*s)).collect();
        // 18:00 in Lisbon is 17:00 UTC in summer time and 18:00 UTC after 25 October.
        assert_eq!(
            ids,
            vec!["20261015T170000Z", "20261022T170000Z", "20261029T180000Z"]
        );
    }

    #[test]
    fn until_is_the_last_local_day_an_occurrence_may_start() {
        let zone = parse_zone("America/New_York").unwrap();

        let starts = expand(
            local("2026-12-01T19:00"),
            zone,
            Some(&Recurrence {
                frequency: Frequency::Daily,
                interval: 2,
                count: None,
                until: Some("2026-12-07".into()),
            }),
        )
        .unwrap();

        assert_eq!(starts.len(), 4, "the 1st, 3rd, 5th and 7th");
    }

    #[test]
    fn a_monthly_rule_and_a_one_off_event_expand_as_expected() {
        let zone = parse_zone("UTC").unwrap();
        let monthly = Recurrence {
            frequency: Frequency::Monthly,
            interval: 1,
            count: Some(2),
            until: None,
        };

        let months = expand(local("2027-01-10T09:00"), zone, Some(&monthly)).unwrap();
        let once = expand(local("2027-01-10T09:00"), zone, None).unwrap();

        assert_eq!(
            months.iter().map(|s| utc(*s)).collect::<Vec<_>>(),
            vec!["20270110T090000Z", "20270210T090000Z"]
        );
        assert_eq!(once.len(), 1);
    }

    #[test]
    fn a_recurrence_without_an_end_or_with_too_many_occurrences_is_refused_naming_the_field() {
        let zone = parse_zone("UTC").unwrap();
        let fields = |r: Recurrence| {
            expand(local("2027-01-01T09:00"), zone, Some(&r))
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };

        assert_eq!(fields(weekly(None, None)), vec!["recurrence"]);
        assert_eq!(
            fields(weekly(Some(3), Some("2027-02-01"))),
            vec!["recurrence"]
        );
        assert_eq!(fields(weekly(Some(101), None)), vec!["recurrence.count"]);
        assert_eq!(fields(weekly(None, Some("2030-01-01"))), vec!["recurrence"]);
        assert_eq!(
            fields(weekly(None, Some("2026-01-01"))),
            vec!["recurrence.until"]
        );
    }

    #[test]
    fn a_local_time_skipped_by_daylight_saving_is_refused() {
        let zone = parse_zone("Europe/Lisbon").unwrap();

        let error = instant("start", local("2027-03-28T01:30"), zone).unwrap_err();

        assert_eq!(error.field, "start");
    }

    fn counts(going: i64, waitlisted: i64, next_place: u64) -> OccurrenceCounts {
        OccurrenceCounts {
            going,
            waitlisted,
            next_place,
        }
    }

    #[test]
    fn going_is_seated_while_there_is_room_and_no_one_waits() {
        let seated = plan_rsvp(None, RsvpStatus::Going, &counts(1, 0, 0), Some(2)).unwrap();
        let full = plan_rsvp(None, RsvpStatus::Going, &counts(2, 0, 0), Some(2)).unwrap();
        let queue = plan_rsvp(None, RsvpStatus::Going, &counts(1, 1, 7), Some(2)).unwrap();
        let open = plan_rsvp(None, RsvpStatus::Going, &counts(500, 0, 0), None).unwrap();

        assert_eq!(
            (seated.status, seated.going, seated.needs_room),
            (RsvpStatus::Going, 1, true)
        );
        assert_eq!(
            (full.status, full.takes_place),
            (RsvpStatus::Waitlisted, Some(0))
        );
        assert_eq!(
            (queue.status, queue.takes_place),
            (RsvpStatus::Waitlisted, Some(7)),
            "no one jumps the line, even with a seat free"
        );
        assert_eq!((open.status, open.needs_room), (RsvpStatus::Going, false));
    }

    #[test]
    fn leaving_a_seat_or_a_place_frees_it_and_repeats_change_nothing() {
        let left = plan_rsvp(
            Some((RsvpStatus::Going, None)),
            RsvpStatus::NotGoing,
            &counts(2, 1, 1),
            Some(2),
        )
        .unwrap();
        let unqueued = plan_rsvp(
            Some((RsvpStatus::Waitlisted, Some(4))),
            RsvpStatus::Maybe,
            &counts(2, 1, 5),
            Some(2),
        )
        .unwrap();

        assert_eq!((left.going, left.frees_seat), (-1, true));
        assert_eq!((unqueued.waitlisted, unqueued.frees_place), (-1, Some(4)));
        assert_eq!(
            plan_rsvp(
                Some((RsvpStatus::Going, None)),
                RsvpStatus::Going,
                &counts(2, 0, 0),
                Some(2)
            ),
            None
        );
        assert_eq!(
            plan_rsvp(
                Some((RsvpStatus::Waitlisted, Some(1))),
                RsvpStatus::Going,
                &counts(2, 1, 2),
                Some(2)
            ),
            None
        );
    }

    #[test]
    fn the_next_reminder_is_the_first_occurrence_still_ahead() {
        let event = Event {
            event_id: "e".into(),
            community_id: "c".into(),
            title: "t".into(),
            description: None,
            start: "2027-01-01T09:00".into(),
            end: "2027-01-01T10:00".into(),
            time_zone: "UTC".into(),
            online_url: None,
            location: None,
            host_id: UserId::parse("h").unwrap(),
            capacity: None,
            recurrence: None,
            reminder_minutes: 60,
            occurrences: vec![1_000, 10_000, 20_000],
            duration_seconds: 3600,
            cancelled_at: None,
            version: 0,
            created_at: String::new(),
            updated_at: String::new(),
        };

        let next = next_reminder(&event, 9_000).unwrap();
        let after = reminder_after(&event, 10_000).unwrap();

        assert_eq!(
            (next.starts_at, next.due),
            (10_000, 9_000),
            "due already: now"
        );
        assert_eq!((after.starts_at, after.due), (20_000, 16_400));
        assert_eq!(reminder_after(&event, 20_000), None);
    }
}
