//! Events: ICS calendars (RFC 5545) through the `icalendar` crate: one event with its
//! recurrence, or my upcoming occurrences, each its own VEVENT.

use chrono::{NaiveDateTime, TimeZone};
use icalendar::{Calendar, CalendarDateTime, Component, EventLike, EventStatus};

use super::*;

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
