//! The events function: a community's events, their occurrences, RSVPs and attendees,
//! and ICS calendars.

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contexts::events::{
    self, AttendeeView, CalendarFeedView, EventPatch, EventView, MyEventView, NewEvent,
    OccurrenceView, RsvpInput, RsvpStatus, RsvpView,
};
use crate::core::cursor::Page;
use crate::core::error::AppError;
use crate::edge::http::{ApiResult, Caller, Json, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "events";

/// The media type of an ICS calendar.
const CALENDAR: &str = "text/calendar; charset=utf-8";

/// The function's router.
pub fn router(api: Arc<Api>) -> axum::Router {
    crate::edge::http::router(routes(), api)
}

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(create_event, list_community_events))
        .routes(routes!(get_event, update_event, cancel_event))
        .routes(routes!(list_occurrences))
        .routes(routes!(answer_occurrence))
        .routes(routes!(list_attendees))
        .routes(routes!(event_calendar))
        .routes(routes!(my_events))
        .routes(routes!(my_calendar))
        .routes(routes!(open_calendar_feed, close_calendar_feed))
        .routes(routes!(calendar_feed))
}

fn range(query: &Query) -> Result<(i64, i64), AppError> {
    events::range(query.get("from"), query.get("to"))
}

/// Create an event in a community (its moderators, admins and owner). Times are local
/// to `timeZone`; `recurrence` repeats it daily, weekly or monthly with a `count` or
/// an `until` date (at most 100 occurrences).
#[utoipa::path(post, path = "/v1/communities/{communityId}/events", tag = TAG,
    params(("communityId" = String, Path, description = "The community")),
    request_body(content = NewEvent, example = json!({
        "title": "Budget clinic", "start": "2026-12-03T18:30", "end": "2026-12-03T19:30",
        "timeZone": "Europe/Lisbon", "onlineUrl": "https://meet.example.com/budget",
        "capacity": 20, "recurrence": {"frequency": "weekly", "count": 6}})),
    responses((status = 201, body = EventView, description = "The event",
        headers(("location" = String, description = "The event's URL")))))]
async fn create_event(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    Json(input): Json<NewEvent>,
) -> ApiResult {
    let event = events::create_event(&api.store, &me, &community_id, input).await?;
    let location = format!("/v1/events/{}", event.event_id);
    Ok(HttpResponse::json(201, &event)?.with_header("location", location))
}

/// A community's events with an occurrence in `[from, to)` (default: the next 90 days),
/// soonest ending first, each with those occurrences. Anyone for a public community,
/// members otherwise.
#[utoipa::path(get, path = "/v1/communities/{communityId}/events", tag = TAG,
    params(
        ("communityId" = String, Path, description = "The community"),
        ("from" = Option<String>, Query, description = "RFC 3339; default now"),
        ("to" = Option<String>, Query, description = "RFC 3339; default from + 90 days, at most 366 days after from"),
        PageParams,
    ),
    responses((status = 200, body = Page<EventView>, description = "A page of events")))]
async fn list_community_events(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(community_id): Path<String>,
    query: Query,
) -> ApiResult {
    let (from, to) = range(&query)?;
    let page = events::community_events(
        &api.store,
        api.cursors().await?,
        &me,
        &community_id,
        from,
        to,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// An event, with its next occurrences (their exact counts and my answers).
#[utoipa::path(get, path = "/v1/events/{eventId}", tag = TAG,
    params(("eventId" = String, Path, description = "The event")),
    responses((status = 200, body = EventView, description = "The event")))]
async fn get_event(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(event_id): Path<String>,
) -> ApiResult {
    let event = events::get_event(&api.store, &me, &event_id).await?;
    Ok(HttpResponse::json(200, &event)?)
}

/// Change an event (its host or the community's moderators). A new time, place or
/// recurrence tells its attendees (`eventChanged`); more capacity moves the waitlist up.
#[utoipa::path(patch, path = "/v1/events/{eventId}", tag = TAG,
    params(("eventId" = String, Path, description = "The event")),
    request_body(content = EventPatch, example = json!({"start": "2026-12-03T19:00", "end": "2026-12-03T20:00"})),
    responses((status = 200, body = EventView, description = "The changed event")))]
async fn update_event(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(event_id): Path<String>,
    Json(patch): Json<EventPatch>,
) -> ApiResult {
    let event = events::update_event(&api.store, &me, &event_id, patch).await?;
    Ok(HttpResponse::json(200, &event)?)
}

/// Cancel an event (its host or the community's moderators): it stays readable with
/// `cancelled: true`, takes no answers and sends no reminders; its attendees are told
/// (`eventCancelled`).
#[utoipa::path(delete, path = "/v1/events/{eventId}", tag = TAG,
    params(("eventId" = String, Path, description = "The event")),
    responses((status = 204, description = "Cancelled")))]
async fn cancel_event(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(event_id): Path<String>,
) -> ApiResult {
    events::cancel_event(&api.store, &me, &event_id).await?;
    Ok(HttpResponse::no_content())
}

/// The event's occurrences in `[from, to)` (default: the next 90 days; at most 100),
/// with their exact counts and my answers.
#[utoipa::path(get, path = "/v1/events/{eventId}/occurrences", tag = TAG,
    params(
        ("eventId" = String, Path, description = "The event"),
        ("from" = Option<String>, Query, description = "RFC 3339; default now"),
        ("to" = Option<String>, Query, description = "RFC 3339; default from + 90 days"),
    ),
    responses((status = 200, body = Vec<OccurrenceView>, description = "The occurrences")))]
async fn list_occurrences(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(event_id): Path<String>,
    query: Query,
) -> ApiResult {
    let (from, to) = range(&query)?;
    let occurrences = events::list_occurrences(&api.store, &me, &event_id, from, to).await?;
    Ok(HttpResponse::json(200, &occurrences)?)
}

/// Answer an occurrence that has not started (members): `going` takes a seat while
/// there is room and no one waits, else the end of the waitlist (`waitlisted`);
/// `maybe` and `notGoing` give a seat or place back, and the waitlist moves up in order.
#[utoipa::path(put, path = "/v1/events/{eventId}/occurrences/{occurrenceId}/rsvp", tag = TAG,
    params(
        ("eventId" = String, Path, description = "The event"),
        ("occurrenceId" = String, Path, description = "The occurrence: its place in the event, 1 for the first"),
    ),
    request_body(content = RsvpInput, example = json!({"status": "going"})),
    responses((status = 200, body = RsvpView, description = "My answer and the exact counts")))]
async fn answer_occurrence(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((event_id, occurrence)): Path<(String, String)>,
    Json(input): Json<RsvpInput>,
) -> ApiResult {
    let answer = events::rsvp(&api.store, &me, &event_id, &occurrence, input).await?;
    Ok(HttpResponse::json(200, &answer)?)
}

/// Who answered an occurrence (the community's members): `status=going` (default),
/// `maybe`, `notGoing`, or `waitlisted` (in the waitlist's order).
#[utoipa::path(get, path = "/v1/events/{eventId}/occurrences/{occurrenceId}/attendees", tag = TAG,
    params(
        ("eventId" = String, Path, description = "The event"),
        ("occurrenceId" = String, Path, description = "The occurrence"),
        ("status" = Option<RsvpStatus>, Query, description = "Default going"),
        PageParams,
    ),
    responses((status = 200, body = Page<AttendeeView>, description = "A page of attendees")))]
async fn list_attendees(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((event_id, occurrence)): Path<(String, String)>,
    query: Query,
) -> ApiResult {
    let status = match query.get("status") {
        None | Some("going") => RsvpStatus::Going,
        Some("maybe") => RsvpStatus::Maybe,
        Some("notGoing") => RsvpStatus::NotGoing,
        Some("waitlisted") => RsvpStatus::Waitlisted,
        Some(_) => {
            return Err(AppError::bad_field(
                "status",
                "must be going, maybe, notGoing or waitlisted",
            )
            .into());
        }
    };
    let page = events::attendees(
        &api.store,
        api.cursors().await?,
        &me,
        &event_id,
        &occurrence,
        status,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// The event as an ICS calendar (RFC 5545): its first occurrence in its time zone and
/// its RRULE.
#[utoipa::path(get, path = "/v1/events/{eventId}/calendar", tag = TAG,
    params(("eventId" = String, Path, description = "The event")),
    responses((status = 200, content_type = "text/calendar", body = String, description = "An ICS calendar")))]
async fn event_calendar(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(event_id): Path<String>,
) -> ApiResult {
    let (event, _) = events::readable(&api.store, &me, &event_id).await?;
    Ok(HttpResponse::text(
        200,
        CALENDAR,
        events::calendar::event_calendar(&event),
    ))
}

/// My upcoming occurrences (going, maybe or waitlisted), soonest first.
#[utoipa::path(get, path = "/v1/me/events", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<MyEventView>, description = "A page of my upcoming occurrences")))]
async fn my_events(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let page = events::my_events(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// My next 100 upcoming occurrences as an ICS calendar, one VEVENT each.
#[utoipa::path(get, path = "/v1/me/events/calendar", tag = TAG,
    responses((status = 200, content_type = "text/calendar", body = String, description = "An ICS calendar")))]
async fn my_calendar(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let (mine, events_read, _) = events::my_upcoming(&api.store, &me.user_id, 100, None).await?;
    Ok(HttpResponse::text(
        200,
        CALENDAR,
        events::calendar::upcoming_calendar(&mine, &events_read),
    ))
}

/// A secret URL of my upcoming occurrences for calendar apps, which cannot send a
/// bearer token. It replaces the one I had, which stops working. The secret is shown
/// only now: keep it like a password.
#[utoipa::path(post, path = "/v1/me/events/calendar-feed", tag = TAG,
    responses((status = 201, body = CalendarFeedView, description = "The new URL (the old one no longer works)",
        headers(("location" = String, description = "The feed's URL")))))]
async fn open_calendar_feed(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    let feed = events::open_calendar_feed(&api.store, &me.user_id).await?;
    let location = feed.path.clone();
    Ok(HttpResponse::json(201, &feed)?.with_header("location", location))
}

/// Turns my secret calendar URL off (also when I have none).
#[utoipa::path(delete, path = "/v1/me/events/calendar-feed", tag = TAG,
    responses((status = 204, description = "No URL opens my calendar")))]
async fn close_calendar_feed(State(api): State<Arc<Api>>, Caller(me): Caller) -> ApiResult {
    events::close_calendar_feed(&api.store, &me.user_id).await?;
    Ok(HttpResponse::no_content())
}

/// The calendar a secret URL opens: its owner's next 100 upcoming occurrences, as
/// `GET /v1/me/events/calendar` gives them. No token: the secret in the path is the
/// credential. An unknown, replaced or closed secret is a 404.
#[utoipa::path(get, path = "/v1/calendars/{token}", tag = TAG, security(()),
    params(("token" = String, Path, description = "The secret from `POST /v1/me/events/calendar-feed`")),
    responses(
        (status = 200, content_type = "text/calendar", body = String, description = "An ICS calendar"),
        (status = 404, content_type = "application/problem+json", body = crate::core::error::Problem, description = "No such calendar: unknown, replaced or turned off"),
        (status = 500, content_type = "application/problem+json", body = crate::core::error::Problem, description = "Unexpected error; quote `instance` when reporting it"),
    ))]
async fn calendar_feed(State(api): State<Arc<Api>>, Path(token): Path<String>) -> ApiResult {
    let owner = events::calendar_feed_owner(&api.store, &token).await?;
    let (mine, events_read, _) = events::my_upcoming(&api.store, &owner, 100, None).await?;
    Ok(HttpResponse::text(
        200,
        CALENDAR,
        events::calendar::upcoming_calendar(&mine, &events_read),
    )
    .with_header("cache-control", "private, max-age=300"))
}
