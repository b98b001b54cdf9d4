//! Events, end to end: a community's events with recurrence in a time zone, RSVPs with
//! a capacity and an ordered waitlist, attendees, ICS calendars, and reminders the
//! scheduler sends, through the local stack into the real `events`, `scheduler` and
//! `notifier` functions.

use std::time::Duration;

use agora_tests::{
    Reply, TestStack, WsClient, accept, assert_problem, community, field_of_items, give_role,
    id_of, invite, new_user, spawn, spawn_with,
};
use serde_json::{Value, json};

/// A private community with its owner and `members` members: `(community, owner, members)`.
async fn community_with(
    stack: &TestStack,
    members: usize,
) -> anyhow::Result<(String, String, Vec<String>)> {
    let owner = new_user("owner");
    let id = id_of(&community(stack, &owner, "private", json!({})).await?);
    let code = invite(stack, &id, &owner).await?;
    let mut joined = Vec::new();
    for n in 0..members {
        let member = new_user(&format!("member{n}"));
        accept(stack, &code, &member).await?;
        joined.push(member);
    }
    Ok((id, owner, joined))
}

/// `organizer` creates an event in `community` with `extra` fields; returns it.
async fn event(
    stack: &TestStack,
    community: &str,
    organizer: &str,
    extra: Value,
) -> anyhow::Result<Value> {
    let mut body = json!({
        "title": "Budget clinic", "start": "2027-06-03T18:30", "end": "2027-06-03T19:30",
        "timeZone": "Europe/Lisbon", "onlineUrl": "https://meet.example.com/budget",
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    stack
        .post_created(
            &format!("/v1/communities/{community}/events"),
            organizer,
            body,
        )
        .await
}

fn event_id(event: &Value) -> String {
    event["eventId"].as_str().unwrap_or_default().to_owned()
}

async fn answer(
    stack: &TestStack,
    event: &str,
    occurrence: &str,
    user: &str,
    status: &str,
) -> anyhow::Result<Reply> {
    stack
        .put(
            &format!("/v1/events/{event}/occurrences/{occurrence}/rsvp"),
            user,
            json!({"status": status}),
        )
        .await
}

async fn attendees(
    stack: &TestStack,
    event: &str,
    occurrence: &str,
    user: &str,
    status: &str,
) -> anyhow::Result<Vec<String>> {
    let page = stack
        .get(
            &format!("/v1/events/{event}/occurrences/{occurrence}/attendees?status={status}"),
            user,
        )
        .await?;
    anyhow::ensure!(page.status == 200, "{page:?}");
    Ok(field_of_items(&page.body, "userId"))
}

#[tokio::test]
async fn a_weekly_event_has_its_occurrences_at_the_same_local_time_and_members_see_them()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, owner, members) = community_with(&stack, 1).await?;
    let outsider = new_user("outsider");
    let created = event(
        &stack,
        &community,
        &owner,
        json!({"start": "2027-03-18T18:30", "end": "2027-03-18T19:30",
               "recurrence": {"frequency": "weekly", "count": 4}, "capacity": 20}),
    )
    .await?;
    let id = event_id(&created);

    let occurrences = stack
        .get(
            &format!(
                "/v1/events/{id}/occurrences?from=2027-03-01T00:00:00Z&to=2027-05-01T00:00:00Z"
            ),
            &members[0],
        )
        .await?;
    let listed = stack
        .get(
            &format!("/v1/communities/{community}/events?from=2027-03-01T00:00:00Z&to=2027-03-26T00:00:00Z"),
            &members[0],
        )
        .await?;
    let by_outsider = stack.get(&format!("/v1/events/{id}"), &outsider).await?;
    let by_member = stack
        .post(
            &format!("/v1/communities/{community}/events"),
            &members[0],
            json!({"title": "Mine", "start": "2027-06-03T18:30", "end": "2027-06-03T19:30",
                   "timeZone": "UTC", "location": "Room 1"}),
        )
        .await?;

    assert_eq!(created["occurrenceCount"], 4, "{created}");
    let listed_occurrences = json!({"items": occurrences.body});
    // 18:30 in Lisbon: 18:30 UTC before the 28 March change, 17:30 UTC after it.
    assert_eq!(
        field_of_items(&listed_occurrences, "startsAt"),
        vec![
            "2027-03-18T18:30:00.000Z",
            "2027-03-25T18:30:00.000Z",
            "2027-04-01T17:30:00.000Z",
            "2027-04-08T17:30:00.000Z"
        ]
    );
    assert_eq!(
        field_of_items(&listed_occurrences, "occurrenceId"),
        vec!["1", "2", "3", "4"]
    );
    assert_eq!(
        occurrences.body[2]["localStart"],
        "2027-04-01T18:30:00+01:00"
    );
    assert_eq!(occurrences.body[0]["going"], 0);
    assert_eq!(field_of_items(&listed.body, "eventId"), vec![id.clone()]);
    assert_eq!(
        listed.body["items"][0]["occurrences"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_problem(&by_outsider, 403, None);
    assert_problem(&by_member, 403, None);
    Ok(())
}

#[tokio::test]
async fn a_full_occurrence_waitlists_in_order_and_moves_the_head_up_when_a_seat_frees()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, owner, members) = community_with(&stack, 6).await?;
    let id = event_id(&event(&stack, &community, &owner, json!({"capacity": 2})).await?);
    let occurrence = "1";

    let answers = members
        .iter()
        .map(|member| answer(&stack, &id, occurrence, member, "going"));
    let replies = futures_util::future::join_all(answers).await;
    let mut seated = Vec::new();
    for (member, reply) in members.iter().zip(replies) {
        let reply = reply?;
        assert_eq!(reply.status, 200, "{reply:?}");
        if reply.body["status"] == "going" {
            seated.push(member.clone());
        }
    }
    let going = attendees(&stack, &id, occurrence, &owner, "going").await?;
    let queue = attendees(&stack, &id, occurrence, &owner, "waitlisted").await?;

    assert_eq!(seated.len(), 2, "exactly the capacity is seated");
    assert_eq!(going.len(), 2);
    assert_eq!(queue.len(), 4, "the others wait");

    // A seat frees: the head of the line moves up, in order.
    let left = answer(&stack, &id, occurrence, &seated[0], "notGoing").await?;
    let going_after = attendees(&stack, &id, occurrence, &owner, "going").await?;
    let queue_after = attendees(&stack, &id, occurrence, &owner, "waitlisted").await?;
    // Someone in the line gives up their place; then two more seats.
    let gave_up = answer(&stack, &id, occurrence, &queue[2], "maybe").await?;
    let bigger = stack
        .patch(&format!("/v1/events/{id}"), &owner, json!({"capacity": 4}))
        .await?;
    let going_last = attendees(&stack, &id, occurrence, &owner, "going").await?;
    let queue_last = attendees(&stack, &id, occurrence, &owner, "waitlisted").await?;
    let by_outsider = attendees(&stack, &id, occurrence, &new_user("outsider"), "going").await;

    let told = stack
        .eventually("the moved-up member's notice", || async {
            let page = stack.get("/v1/notifications", &queue[0]).await?;
            let kinds: Vec<String> = page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["type"].as_str().map(str::to_owned))
                .collect();
            Ok(kinds
                .contains(&"eventSeatGranted".to_owned())
                .then_some(page))
        })
        .await?;
    let seat_notices = |user: String| {
        let stack = &stack;
        async move {
            let page = stack.get("/v1/notifications", &user).await?;
            anyhow::Ok(
                page.body["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|n| n["type"] == "eventSeatGranted")
                    .count(),
            )
        }
    };
    stack
        .eventually("the notice of a seat the capacity gave", || async {
            Ok((seat_notices(queue[3].clone()).await? == 1).then_some(()))
        })
        .await?;

    assert_eq!(
        told.body["items"][0]["actorId"],
        queue[0].as_str(),
        "the member is the actor: nobody else is named"
    );
    assert_eq!(told.body["items"][0]["object"]["occurrenceId"], "1");
    assert_eq!(told.body["items"][0]["object"]["eventId"], id.as_str());
    assert_eq!(seat_notices(queue[0].clone()).await?, 1, "told once");
    assert_eq!(seat_notices(queue[2].clone()).await?, 0, "gave up: no seat");
    assert_eq!(seat_notices(seated[1].clone()).await?, 0, "seated at once");
    assert_eq!(left.body["going"], 2, "{left:?}");
    assert!(going_after.contains(&queue[0]), "the head moved up");
    assert_eq!(queue_after, queue[1..].to_vec());
    assert_eq!(gave_up.body["status"], "maybe");
    assert_eq!(gave_up.body["waitlisted"], 2);
    assert_eq!(bigger.status, 200, "{bigger:?}");
    assert_eq!(going_last.len(), 4);
    assert!(going_last.contains(&queue[1]) && going_last.contains(&queue[3]));
    assert!(queue_last.is_empty());
    assert!(by_outsider.is_err(), "outsiders do not see attendees");
    Ok(())
}

#[tokio::test]
async fn bad_event_input_is_refused_naming_the_field() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (community, owner, members) = community_with(&stack, 1).await?;
    let base = json!({"title": "T", "start": "2027-06-03T18:30", "end": "2027-06-03T19:30",
                      "timeZone": "Europe/Lisbon", "location": "Library"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("end", json!("2027-06-03T18:00")), 422, "end"),
        (with("end", json!("2027-06-05T18:00")), 422, "end"),
        (with("start", json!("2027-06-03 18:30")), 422, "start"),
        (with("start", json!("2027-03-28T01:30")), 422, "start"),
        (with("timeZone", json!("Mars/Olympus")), 422, "timeZone"),
        (with("location", json!(null)), 422, "location"),
        (
            with("recurrence", json!({"frequency": "weekly"})),
            422,
            "recurrence",
        ),
        (
            with("recurrence", json!({"frequency": "weekly", "count": 500})),
            422,
            "recurrence.count",
        ),
        (
            with("recurrence", json!({"frequency": "yearly", "count": 2})),
            400,
            "recurrence.frequency",
        ),
        (with("capacity", json!(0)), 422, "capacity"),
        (with("hostId", json!(new_user("stranger"))), 422, "hostId"),
        (with("onlineUrl", json!("ftp://x")), 422, "onlineUrl"),
    ];
    for (body, status, field) in cases {
        let reply = stack
            .post(
                &format!("/v1/communities/{community}/events"),
                &owner,
                body.clone(),
            )
            .await?;
        assert_problem(&reply, status, Some(field));
    }
    let id = event_id(&event(&stack, &community, &owner, json!({})).await?);
    let waitlisted = answer(&stack, &id, "1", &members[0], "waitlisted").await?;
    let not_an_occurrence = answer(&stack, &id, "2", &members[0], "going").await?;
    let not_an_id = answer(&stack, &id, "01", &members[0], "going").await?;
    let bad_range = stack
        .get(
            &format!("/v1/events/{id}/occurrences?from=yesterday"),
            &owner,
        )
        .await?;
    let listed = stack
        .get(&format!("/v1/communities/{community}/events?from=2027-01-01T00:00:00Z&to=2027-12-31T00:00:00Z"), &owner)
        .await?;

    assert_problem(&waitlisted, 422, Some("status"));
    assert_problem(&not_an_occurrence, 404, None);
    assert_problem(&not_an_id, 404, None);
    assert_problem(&bad_range, 400, Some("from"));
    assert_eq!(
        field_of_items(&listed.body, "eventId"),
        vec![id],
        "nothing refused was written"
    );
    Ok(())
}

#[tokio::test]
async fn calendars_export_one_event_with_its_rule_and_my_upcoming_occurrences() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let (community, owner, members) = community_with(&stack, 1).await?;
    let weekly = event_id(
        &event(
            &stack,
            &community,
            &owner,
            json!({"recurrence": {"frequency": "weekly", "count": 3},
                                                   "title": "Weekly clinic"}),
        )
        .await?,
    );
    let once = event_id(
        &event(
            &stack,
            &community,
            &owner,
            json!({"title": "Kick-off", "start": "2027-05-01T10:00",
                                                   "end": "2027-05-01T11:00", "timeZone": "UTC",
                                                   "location": "Library"}),
        )
        .await?,
    );
    answer(&stack, &weekly, "2", &members[0], "going").await?;
    answer(&stack, &once, "1", &members[0], "maybe").await?;

    let one = stack
        .get(&format!("/v1/events/{weekly}/calendar"), &members[0])
        .await?;
    let mine = stack.get("/v1/me/events/calendar", &members[0]).await?;
    let mine_json = stack.get("/v1/me/events", &members[0]).await?;

    let text = one.body.as_str().unwrap_or_default().to_owned();
    assert_eq!(one.status, 200);
    assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
    assert!(
        text.contains("DTSTART;TZID=Europe/Lisbon:20270603T183000"),
        "{text}"
    );
    assert!(
        text.contains("RRULE:FREQ=WEEKLY;INTERVAL=1;COUNT=3"),
        "{text}"
    );
    assert!(text.contains("SUMMARY:Weekly clinic"), "{text}");
    let text = mine.body.as_str().unwrap_or_default().to_owned();
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 2, "{text}");
    assert!(text.contains("DTSTART:20270501T100000Z"), "{text}");
    assert!(text.contains("DTSTART:20270610T173000Z"), "{text}");
    let statuses: Vec<&str> = mine_json.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["maybe", "going"], "soonest first");
    // Another occurrence of the weekly event after the one-off: the same event twice,
    // not side by side, in the page (a regression: its read asked for a key twice).
    let between = event_id(
        &event(
            &stack,
            &community,
            &owner,
            json!({"title": "Mid-week", "start": "2027-06-05T10:00",
                                                   "end": "2027-06-05T11:00", "timeZone": "UTC",
                                                   "location": "Library"}),
        )
        .await?,
    );
    answer(&stack, &between, "1", &members[0], "going").await?;
    answer(&stack, &weekly, "1", &members[0], "going").await?;
    answer(&stack, &weekly, "3", &members[0], "going").await?;
    let interleaved = stack.get("/v1/me/events", &members[0]).await?;
    assert_eq!(interleaved.status, 200, "{interleaved:?}");
    assert_eq!(interleaved.body["items"].as_array().map(Vec::len), Some(5));
    Ok(())
}

#[tokio::test]
async fn attendees_are_reminded_by_the_scheduler_and_told_of_changes_and_cancellation()
-> anyhow::Result<()> {
    let stack = spawn_with(|options| {
        options.pump_options.schedule_period = Some(Duration::from_secs(1));
    })
    .await?;
    let (community, owner, members) = community_with(&stack, 2).await?;
    let (going, declined) = (&members[0], &members[1]);
    let host = new_user("host");
    let code = invite(&stack, &community, &owner).await?;
    accept(&stack, &code, &host).await?;
    give_role(&stack, &community, &owner, &host, "moderator").await?;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::minutes(30);
    let local = |at: time::OffsetDateTime| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute()
        )
    };
    // No reminder until the answers are in.
    let created = event(
        &stack,
        &community,
        &host,
        json!({"start": local(soon), "end": local(soon + time::Duration::hours(1)),
               "timeZone": "UTC", "reminderMinutes": 0}),
    )
    .await?;
    let id = event_id(&created);
    let occurrence = created["occurrences"][0]["occurrenceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    answer(&stack, &id, &occurrence, going, "going").await?;
    answer(&stack, &id, &occurrence, declined, "notGoing").await?;
    answer(&stack, &id, &occurrence, &host, "going").await?;
    let mut socket = WsClient::connect(&stack, going).await?;

    let remind = stack
        .patch(
            &format!("/v1/events/{id}"),
            &host,
            json!({"reminderMinutes": 60}),
        )
        .await?;
    assert_eq!(remind.status, 200, "{remind:?}");
    let pushed = socket
        .expect_within("the reminder's push", Duration::from_secs(20), |frame| {
            frame["type"] == "notification" && frame["notification"]["type"] == "eventReminder"
        })
        .await?;
    let moved = stack
        .patch(
            &format!("/v1/events/{id}"),
            &host,
            json!({"start": local(soon + time::Duration::minutes(15)),
                   "end": local(soon + time::Duration::minutes(75))}),
        )
        .await?;
    let types = |user: &str| {
        let stack = &stack;
        let user = user.to_owned();
        async move {
            let page = stack.get("/v1/notifications", &user).await?;
            let mut kinds: Vec<String> = page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["type"].as_str().map(str::to_owned))
                .collect();
            kinds.sort();
            anyhow::Ok(kinds)
        }
    };
    stack
        .eventually(
            "the change notice and a reminder of the new time",
            || async {
                let kinds = types(going).await?;
                let reminders = kinds.iter().filter(|k| *k == "eventReminder").count();
                let hosts = types(&host).await?;
                Ok((kinds.contains(&"eventChanged".to_owned())
                    && reminders == 2
                    && hosts.len() == 2)
                    .then_some(()))
            },
        )
        .await?;
    let cancelled = stack.delete(&format!("/v1/events/{id}"), &host).await?;
    stack
        .eventually("the cancellation notice", || async {
            Ok(types(going)
                .await?
                .contains(&"eventCancelled".to_owned())
                .then_some(()))
        })
        .await?;
    let after = stack.get(&format!("/v1/events/{id}"), going).await?;
    let late_answer = answer(&stack, &id, &occurrence, declined, "going").await?;

    assert_eq!(pushed["notification"]["object"]["eventId"], id.as_str());
    assert_eq!(
        pushed["notification"]["object"]["occurrenceId"],
        occurrence.as_str()
    );
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(cancelled.status, 204);
    assert_eq!(
        types(going).await?,
        vec![
            "eventCancelled",
            "eventChanged",
            "eventReminder",
            "eventReminder"
        ],
        "a reminder, the change and a reminder of the new time, the cancellation"
    );
    assert!(types(declined).await?.is_empty(), "notGoing hears nothing");
    assert_eq!(
        types(&host).await?,
        vec!["eventReminder", "eventReminder"],
        "the host, going, is reminded but not told of their own change"
    );
    assert_eq!(after.body["cancelled"], true);
    assert_problem(&late_answer, 409, None);
    Ok(())
}

#[tokio::test]
async fn a_secret_calendar_url_opens_my_calendar_without_a_token_until_i_replace_or_close_it()
-> anyhow::Result<()> {
    let stack = agora_tests::spawn_counting_requests().await?;
    let (community, owner, members) = community_with(&stack, 2).await?;
    let (me, other) = (&members[0], &members[1]);
    let clinic = event_id(&event(&stack, &community, &owner, json!({})).await?);
    answer(&stack, &clinic, "1", me, "going").await?;
    let anonymous = |path: String| {
        let stack = &stack;
        async move { stack.call(reqwest::Method::GET, &path, None, None).await }
    };

    let first = stack
        .post("/v1/me/events/calendar-feed", me, json!({}))
        .await?;
    let first_path = first.body["path"].as_str().unwrap_or_default().to_owned();
    let opened = anonymous(first_path.clone()).await?;
    let second = stack
        .post("/v1/me/events/calendar-feed", me, json!({}))
        .await?;
    let second_path = second.body["path"].as_str().unwrap_or_default().to_owned();
    let replaced = anonymous(first_path.clone()).await?;
    let current = anonymous(second_path.clone()).await?;
    // One GetItem of the secret's digest, then my events as `GET /v1/me/events` reads
    // them (one Query, one BatchGetItem): 3 whatever the calendar holds.
    let requests = stack.dynamodb_requests_of_get(&second_path, me).await?;
    let others = stack
        .post("/v1/me/events/calendar-feed", other, json!({}))
        .await?;
    let others_calendar =
        anonymous(others.body["path"].as_str().unwrap_or_default().to_owned()).await?;
    let closed = stack.delete("/v1/me/events/calendar-feed", me).await?;
    let after_close = anonymous(second_path.clone()).await?;
    let closed_again = stack.delete("/v1/me/events/calendar-feed", me).await?;
    let guessed = anonymous(format!("/v1/calendars/{}", "A".repeat(43))).await?;
    let malformed = anonymous("/v1/calendars/not-a-secret".into()).await?;

    assert_eq!(first.status, 201, "{first:?}");
    assert!(first_path.starts_with("/v1/calendars/"), "{first:?}");
    assert_eq!(opened.status, 200, "{opened:?}");
    let text = opened.body.as_str().unwrap_or_default();
    assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 1, "{text}");
    assert!(text.contains("SUMMARY:Budget clinic"), "{text}");
    assert_ne!(first_path, second_path, "a new secret each time");
    assert_problem(&replaced, 404, None);
    assert_eq!(current.status, 200);
    assert_eq!(requests, 3, "a constant number of requests");
    assert_eq!(
        others_calendar
            .body
            .as_str()
            .unwrap_or_default()
            .matches("BEGIN:VEVENT")
            .count(),
        0,
        "each URL opens its owner's calendar"
    );
    assert_eq!(closed.status, 204);
    assert_problem(&after_close, 404, None);
    assert_eq!(closed_again.status, 204);
    assert_problem(&guessed, 404, None);
    assert_problem(&malformed, 404, None);
    let secret = second_path.trim_start_matches("/v1/calendars/");
    let stored = stack.partition(&format!("USER#{me}")).await?;
    assert!(
        !serde_json::to_string(&stored)?.contains(secret),
        "only the secret's digest is stored"
    );
    Ok(())
}
