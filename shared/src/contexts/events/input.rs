//! Events: input types and their validation.

use super::*;

/// `POST /v1/communities/{communityId}/events`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEvent {
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: String,
    #[validate(length(max = 5000), custom(function = "validation::plain_text"))]
    pub description: Option<String>,
    /// Local date and time `YYYY-MM-DDTHH:MM` in `timeZone`.
    pub start: String,
    /// Local, after `start`, at most 24 hours later.
    pub end: String,
    /// IANA, such as `Europe/Lisbon`.
    pub time_zone: String,
    /// An online meeting link; an event needs it or a `location` (or both).
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub online_url: Option<String>,
    #[validate(
        length(min = 1, max = 300),
        custom(function = "validation::single_line")
    )]
    pub location: Option<String>,
    /// A member of the community (default: me).
    pub host_id: Option<String>,
    /// 1 to 10,000 seats per occurrence; absent: no limit.
    #[validate(range(min = 1, max = 10000, message = "must be 1 to 10000"))]
    pub capacity: Option<u32>,
    pub recurrence: Option<Recurrence>,
    /// 0 (none) to 10,080 (a week); default 60.
    #[validate(range(max = 10080, message = "must be 0 to 10080"))]
    pub reminder_minutes: Option<u32>,
}

/// `PATCH /v1/events/{eventId}`: absent fields are unchanged; `null` clears
/// `description`, `onlineUrl`, `location`, `capacity` or `recurrence`. A change of the
/// time, the place or the recurrence tells every attendee (`eventChanged`).
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventPatch {
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 5000), custom(function = "validation::plain_text"))]
    pub description: Option<Option<String>>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub time_zone: Option<String>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(length(max = 2048), custom(function = "validation::web_url"))]
    pub online_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(
        length(min = 1, max = 300),
        custom(function = "validation::single_line")
    )]
    pub location: Option<Option<String>>,
    pub host_id: Option<String>,
    #[serde(default, deserialize_with = "validation::nullable")]
    #[validate(range(min = 1, max = 10000, message = "must be 1 to 10000"))]
    pub capacity: Option<Option<u32>>,
    #[serde(default, deserialize_with = "validation::nullable")]
    pub recurrence: Option<Option<Recurrence>>,
    #[validate(range(max = 10080, message = "must be 0 to 10080"))]
    pub reminder_minutes: Option<u32>,
}

/// `PUT /v1/events/{eventId}/occurrences/{occurrenceId}/rsvp`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RsvpInput {
    /// `going`, `maybe` or `notGoing` (`waitlisted` is where a full occurrence puts a
    /// `going`).
    pub status: RsvpStatus,
}

/// What an event's time fields come to once checked.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub start: String,
    pub end: String,
    pub time_zone: String,
    pub recurrence: Option<Recurrence>,
    pub occurrences: Vec<i64>,
    pub duration_seconds: i64,
}

/// Checks an event's time fields together: local times in the zone, an end after the
/// start within a day, and the recurrence; every broken rule is reported.
pub fn schedule(
    start: &str,
    end: &str,
    time_zone: &str,
    recurrence: Option<Recurrence>,
) -> AppResult<Schedule> {
    let mut errors = Vec::new();
    let zone = parse_zone(time_zone).map_err(|e| errors.push(e)).ok();
    let starts = parse_local("start", start).map_err(|e| errors.push(e)).ok();
    let ends = parse_local("end", end).map_err(|e| errors.push(e)).ok();
    let (Some(zone), Some(starts), Some(ends)) = (zone, starts, ends) else {
        return Err(AppError::Validation(errors));
    };
    let duration = match (instant("start", starts, zone), instant("end", ends, zone)) {
        (Ok(a), Ok(b)) if b > a && b - a <= MAX_DURATION_SECONDS => b - a,
        (Ok(_), Ok(_)) => {
            return Err(AppError::invalid_field(
                "end",
                "must be after the start, at most 24 hours later",
            ));
        }
        (a, b) => {
            errors.extend(a.err());
            errors.extend(b.err());
            return Err(AppError::Validation(errors));
        }
    };
    let occurrences = expand(starts, zone, recurrence.as_ref()).map_err(AppError::Validation)?;
    Ok(Schedule {
        start: start.to_owned(),
        end: end.to_owned(),
        time_zone: time_zone.to_owned(),
        recurrence,
        occurrences,
        duration_seconds: duration,
    })
}

/// A range `[from, to)` of RFC 3339 query parameters; absent: from now, for 90 days.
pub fn range(from: Option<&str>, to: Option<&str>) -> AppResult<(i64, i64)> {
    let parse = |field: &str, text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|at| at.unix_timestamp())
            .map_err(|_| AppError::bad_field(field, "must be an RFC 3339 date and time"))
    };
    let from = from
        .map(|f| parse("from", f))
        .transpose()?
        .unwrap_or_else(now_epoch_seconds);
    let to = to
        .map(|t| parse("to", t))
        .transpose()?
        .unwrap_or(from + 90 * 86_400);
    if to <= from {
        return Err(AppError::bad_field("to", "must be after from"));
    }
    if to - from > 366 * 86_400 {
        return Err(AppError::bad_field(
            "to",
            "must be at most 366 days after from",
        ));
    }
    Ok((from, to))
}
