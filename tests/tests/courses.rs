//! Courses, end to end: the catalog, ordered lessons, enrollments that expire,
//! progress with its certificate and activities, and reviews with an exact average,
//! through the local stack's HTTP API into the real `courses` function.

use agora_tests::{Reply, TestStack, assert_problem, field_of_items, new_user, spawn};
use serde_json::{Value, json};

/// `instructor` creates a course (free, published, in `category`) with `extra` fields.
async fn course(stack: &TestStack, instructor: &str, extra: Value) -> anyhow::Result<String> {
    let mut body = json!({
        "title": format!("Budgeting {}", ulid::Ulid::new()),
        "level": "beginner", "category": "personal-finance",
        "price": {"amountCents": 0, "currency": "EUR"}, "published": true,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = stack.post_created("/v1/courses", instructor, body).await?;
    Ok(created["courseId"].as_str().unwrap_or_default().to_owned())
}

/// `instructor` adds a lesson and returns its id.
async fn lesson(
    stack: &TestStack,
    instructor: &str,
    course: &str,
    body: Value,
) -> anyhow::Result<String> {
    let created = stack
        .post_created(&format!("/v1/courses/{course}/lessons"), instructor, body)
        .await?;
    Ok(created["lessonId"].as_str().unwrap_or_default().to_owned())
}

async fn complete(
    stack: &TestStack,
    learner: &str,
    course: &str,
    lesson: &str,
) -> anyhow::Result<Reply> {
    stack
        .put(
            &format!("/v1/courses/{course}/lessons/{lesson}/completion"),
            learner,
            json!({}),
        )
        .await
}

fn ids(reply: &Reply, field: &str) -> Vec<String> {
    field_of_items(&reply.body, field)
}

fn lesson_ids(reply: &Reply) -> Vec<String> {
    reply
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["lessonId"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_instructor_orders_lessons_and_only_previews_are_open_before_enrolling()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (teacher, visitor) = (new_user("teacher"), new_user("visitor"));
    let category = format!("cat-{}", ulid::Ulid::new().to_string().to_lowercase());
    let id = course(
        &stack,
        &teacher,
        json!({"category": category, "accessDays": 30}),
    )
    .await?;
    let draft = course(
        &stack,
        &teacher,
        json!({"published": false, "category": category}),
    )
    .await?;
    let first = lesson(
        &stack,
        &teacher,
        &id,
        json!({"title": "Where the money goes", "preview": true,
        "videoUrl": "https://videos.example.com/1", "durationMinutes": 12}),
    )
    .await?;
    let second = lesson(
        &stack,
        &teacher,
        &id,
        json!({"title": "Envelopes",
        "contentUrl": "https://docs.example.com/2"}),
    )
    .await?;
    let intro = lesson(
        &stack,
        &teacher,
        &id,
        json!({"title": "Welcome", "position": 1,
        "videoUrl": "https://videos.example.com/0"}),
    )
    .await?;

    let as_teacher = stack
        .get(&format!("/v1/courses/{id}/lessons"), &teacher)
        .await?;
    let as_visitor = stack
        .get(&format!("/v1/courses/{id}/lessons"), &visitor)
        .await?;
    let catalog = stack
        .get(&format!("/v1/courses?category={category}"), &visitor)
        .await?;
    let draft_seen = stack.get(&format!("/v1/courses/{draft}"), &visitor).await?;
    let mine = stack.get("/v1/me/courses", &teacher).await?;
    let moved = stack
        .patch(
            &format!("/v1/courses/{id}/lessons/{second}"),
            &teacher,
            json!({"position": 1}),
        )
        .await?;
    let reordered = stack
        .get(&format!("/v1/courses/{id}/lessons"), &visitor)
        .await?;
    let one_locked = stack
        .get(&format!("/v1/courses/{id}/lessons/{second}"), &visitor)
        .await?;
    let not_theirs = stack
        .post(
            &format!("/v1/courses/{id}/lessons"),
            &visitor,
            json!({"title": "Mine now"}),
        )
        .await?;

    assert_eq!(as_teacher.status, 200, "{as_teacher:?}");
    assert_eq!(
        lesson_ids(&as_teacher),
        vec![intro.clone(), first.clone(), second.clone()]
    );
    assert_eq!(
        as_teacher.body[0]["videoUrl"],
        "https://videos.example.com/0"
    );
    assert_eq!(as_visitor.body[0]["locked"], true);
    assert_eq!(
        as_visitor.body[0].get("videoUrl"),
        None,
        "a locked lesson has no URL"
    );
    assert_eq!(as_visitor.body[1]["locked"], false, "a preview is open");
    assert_eq!(
        as_visitor.body[1]["videoUrl"],
        "https://videos.example.com/1"
    );
    assert_eq!(as_visitor.body[1]["position"], 2);
    assert_eq!(
        ids(&catalog, "courseId"),
        vec![id.clone()],
        "the draft is not listed"
    );
    assert_eq!(catalog.body["items"][0]["lessonCount"], 3);
    assert_problem(&draft_seen, 404, None);
    assert_eq!(ids(&mine, "courseId"), vec![draft.clone(), id.clone()]);
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.body["position"], 1);
    assert_eq!(lesson_ids(&reordered), vec![second.clone(), intro, first]);
    assert_eq!(one_locked.body["locked"], true);
    assert_eq!(one_locked.body.get("contentUrl"), None);
    assert_problem(&not_theirs, 403, None);
    Ok(())
}

#[tokio::test]
async fn a_learner_completes_every_lesson_earns_the_certificate_and_their_activities_follow()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (teacher, learner) = (new_user("teacher"), new_user("learner"));
    let id = course(&stack, &teacher, json!({"accessDays": 90})).await?;
    let one = lesson(&stack, &teacher, &id, json!({"title": "Needs and wants"})).await?;
    let two = lesson(&stack, &teacher, &id, json!({"title": "The 50/30/20 rule"})).await?;

    let before = complete(&stack, &learner, &id, &one).await?;
    let enrolled = stack
        .post(&format!("/v1/courses/{id}/enrollment"), &learner, json!({}))
        .await?;
    let again = stack
        .post(&format!("/v1/courses/{id}/enrollment"), &learner, json!({}))
        .await?;
    let halfway = complete(&stack, &learner, &id, &one).await?;
    let repeated = complete(&stack, &learner, &id, &one).await?;
    let done = complete(&stack, &learner, &id, &two).await?;
    let open = stack
        .get(&format!("/v1/courses/{id}/lessons"), &learner)
        .await?;
    let mine = stack.get("/v1/me/enrollments", &learner).await?;
    let counted = stack.get(&format!("/v1/courses/{id}"), &learner).await?;

    assert_problem(&before, 403, None);
    assert_eq!(enrolled.status, 201, "{enrolled:?}");
    assert_eq!(enrolled.body["active"], true);
    assert!(
        enrolled.body["expiresAt"].as_str().is_some(),
        "90 days of access: {enrolled:?}"
    );
    assert_eq!(again.status, 200);
    assert_eq!(halfway.body["progressPercent"], 50);
    assert_eq!(halfway.body["certificate"], false);
    assert_eq!(repeated.body["completedLessons"], json!([one.clone()]));
    assert_eq!(done.body["progressPercent"], 100, "{done:?}");
    assert_eq!(done.body["certificate"], true);
    assert_eq!(
        open.body[1]["locked"], false,
        "enrolled: every lesson is open"
    );
    assert_eq!(open.body[1]["completed"], true);
    assert_eq!(ids(&mine, "courseId"), vec![id.clone()]);
    assert_eq!(mine.body["items"][0]["course"]["courseId"], id.as_str());
    assert_eq!(counted.body["enrollmentCount"], 1);

    let activities = stack
        .eventually("the learner's course activities", || async {
            let items = stack.partition(&format!("USER#{learner}")).await?;
            let authored: Vec<String> = items
                .iter()
                .filter(|i| i["entity"] == "AuthoredActivity")
                .filter_map(|i| i["activityId"].as_str().map(str::to_owned))
                .collect();
            Ok((authored.len() >= 3).then_some(authored))
        })
        .await?;
    let mut verbs = Vec::new();
    for activity in &activities {
        let read = stack
            .get(&format!("/v1/activities/{activity}"), &learner)
            .await?;
        verbs.push((
            read.body["verb"].as_str().unwrap_or_default().to_owned(),
            read.body["object"]["title"].as_str().map(str::to_owned),
        ));
    }
    verbs.sort();
    assert_eq!(
        verbs,
        vec![
            ("courseCompleted".to_owned(), None),
            (
                "lessonCompleted".to_owned(),
                Some("Needs and wants".to_owned())
            ),
            (
                "lessonCompleted".to_owned(),
                Some("The 50/30/20 rule".to_owned())
            ),
        ],
        "one activity per lesson and one for the course, none for the repeat"
    );
    Ok(())
}

#[tokio::test]
async fn a_paid_courses_instructor_enrolls_learners_and_an_expired_enrollment_locks_the_course()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (teacher, learner, stranger) = (
        new_user("teacher"),
        new_user("learner"),
        new_user("stranger"),
    );
    let id = course(
        &stack,
        &teacher,
        json!({"price": {"amountCents": 1900, "currency": "EUR"}}),
    )
    .await?;
    let only = lesson(
        &stack,
        &teacher,
        &id,
        json!({"title": "Compound interest",
        "videoUrl": "https://videos.example.com/ci"}),
    )
    .await?;
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(3))
        .format(&time::format_description::well_known::Rfc3339)?;

    let self_enrolled = stack
        .post(&format!("/v1/courses/{id}/enrollment"), &learner, json!({}))
        .await?;
    let by_stranger = stack
        .put(
            &format!("/v1/courses/{id}/enrollments/{learner}"),
            &stranger,
            json!({}),
        )
        .await?;
    let granted = stack
        .put(
            &format!("/v1/courses/{id}/enrollments/{learner}"),
            &teacher,
            json!({"expiresAt": soon}),
        )
        .await?;
    let open_now = stack
        .get(&format!("/v1/courses/{id}/lessons/{only}"), &learner)
        .await?;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let expired = stack
        .get(&format!("/v1/courses/{id}/enrollment"), &learner)
        .await?;
    let locked = stack
        .get(&format!("/v1/courses/{id}/lessons/{only}"), &learner)
        .await?;
    let completion = complete(&stack, &learner, &id, &only).await?;
    let extended = stack
        .put(
            &format!("/v1/courses/{id}/enrollments/{learner}"),
            &teacher,
            json!({"expiresAt": null}),
        )
        .await?;
    let after_extension = complete(&stack, &learner, &id, &only).await?;
    let learners = stack
        .get(&format!("/v1/courses/{id}/enrollments"), &teacher)
        .await?;
    let learners_by_learner = stack
        .get(&format!("/v1/courses/{id}/enrollments"), &learner)
        .await?;
    let revoked = stack
        .delete(&format!("/v1/courses/{id}/enrollments/{learner}"), &teacher)
        .await?;
    let gone = stack
        .get(&format!("/v1/courses/{id}/enrollment"), &learner)
        .await?;
    let counted = stack.get(&format!("/v1/courses/{id}"), &teacher).await?;

    assert_problem(&self_enrolled, 403, None);
    assert_problem(&by_stranger, 403, None);
    assert_eq!(granted.status, 201, "{granted:?}");
    assert_eq!(granted.body["grantedBy"], teacher.as_str());
    assert_eq!(open_now.body["locked"], false);
    assert_eq!(expired.body["active"], false, "{expired:?}");
    assert_eq!(locked.body["locked"], true);
    assert_problem(&completion, 403, None);
    assert_eq!(extended.status, 200, "{extended:?}");
    assert_eq!(extended.body.get("expiresAt"), None);
    assert_eq!(after_extension.body["progressPercent"], 100);
    assert_eq!(ids(&learners, "userId"), vec![learner.clone()]);
    assert_problem(&learners_by_learner, 403, None);
    assert_eq!(revoked.status, 204);
    assert_problem(&gone, 404, None);
    assert_eq!(counted.body["enrollmentCount"], 0);
    Ok(())
}

#[tokio::test]
async fn concurrent_reviews_keep_the_average_rating_exact() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let teacher = new_user("teacher");
    let id = course(&stack, &teacher, json!({})).await?;
    let learners: Vec<String> = (0..6).map(|i| new_user(&format!("learner{i}"))).collect();
    for learner in &learners {
        let enrolled = stack
            .post(&format!("/v1/courses/{id}/enrollment"), learner, json!({}))
            .await?;
        anyhow::ensure!(enrolled.status == 201, "{enrolled:?}");
    }
    let ratings = [5, 4, 4, 3, 5, 2];

    let writes = learners.iter().zip(ratings).map(|(learner, rating)| {
        let stack = &stack;
        let id = &id;
        async move {
            stack
                .put(
                    &format!("/v1/courses/{id}/review"),
                    learner,
                    json!({"rating": rating, "text": "Useful."}),
                )
                .await
        }
    });
    let results = futures_util::future::join_all(writes).await;
    let changed = stack
        .put(
            &format!("/v1/courses/{id}/review"),
            &learners[5],
            json!({"rating": 5}),
        )
        .await?;
    let deleted = stack
        .delete(&format!("/v1/courses/{id}/review"), &learners[3])
        .await?;
    let outsider = stack
        .put(
            &format!("/v1/courses/{id}/review"),
            &new_user("outsider"),
            json!({"rating": 1}),
        )
        .await?;
    let own = stack
        .put(
            &format!("/v1/courses/{id}/review"),
            &teacher,
            json!({"rating": 5}),
        )
        .await?;
    let course_now = stack.get(&format!("/v1/courses/{id}"), &teacher).await?;
    let listed = stack
        .get(&format!("/v1/courses/{id}/reviews"), &teacher)
        .await?;

    for result in results {
        let result = result?;
        assert_eq!(result.status, 201, "{result:?}");
    }
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(deleted.status, 204);
    assert_problem(&outsider, 403, None);
    assert_problem(&own, 403, None);
    // 5 + 4 + 4 + 5 + 5 = 23 over 5 reviews.
    assert_eq!(course_now.body["ratingCount"], 5, "{course_now:?}");
    assert_eq!(course_now.body["averageRating"], 4.6);
    assert_eq!(ids(&listed, "userId")[0], learners[5], "the newest first");
    assert_eq!(ids(&listed, "userId").len(), 5);
    Ok(())
}

#[tokio::test]
async fn hostile_course_input_is_refused_naming_the_field_and_writes_nothing() -> anyhow::Result<()>
{
    let stack = spawn().await?;
    let teacher = new_user("teacher");
    let base = json!({"title": "T", "level": "beginner", "category": "money",
        "price": {"amountCents": 0, "currency": "EUR"}});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (
            with("price", json!({"amountCents": -1, "currency": "EUR"})),
            422,
            "price.amountCents",
        ),
        (
            with("price", json!({"amountCents": 100, "currency": "euro"})),
            422,
            "price.currency",
        ),
        (with("category", json!("Money Matters")), 422, "category"),
        (with("accessDays", json!(0)), 422, "accessDays"),
        (with("title", json!("")), 422, "title"),
        (with("level", json!("expert")), 400, "level"),
        (with("surprise", json!(true)), 400, "surprise"),
    ];
    for (body, status, field) in cases {
        let reply = stack.post("/v1/courses", &teacher, body.clone()).await?;
        assert_problem(&reply, status, Some(field));
    }
    let id = course(&stack, &teacher, json!({})).await?;
    let bad_lesson = stack
        .post(
            &format!("/v1/courses/{id}/lessons"),
            &teacher,
            json!({"title": "L", "videoUrl": "javascript:alert(1)"}),
        )
        .await?;
    let bad_review = stack
        .put(
            &format!("/v1/courses/{id}/review"),
            &teacher,
            json!({"rating": 6}),
        )
        .await?;
    let past = stack
        .put(
            &format!("/v1/courses/{id}/enrollments/{}", new_user("l")),
            &teacher,
            json!({"expiresAt": "2020-01-01T00:00:00Z"}),
        )
        .await?;
    let not_a_date = stack
        .put(
            &format!("/v1/courses/{id}/enrollments/{}", new_user("l")),
            &teacher,
            json!({"expiresAt": "tomorrow"}),
        )
        .await?;
    let no_course = stack.get("/v1/courses/not-a-course", &teacher).await?;
    let bad_category = stack.get("/v1/courses?category=NOPE!", &teacher).await?;
    let mine = stack.get("/v1/me/courses", &teacher).await?;

    assert_problem(&bad_lesson, 422, Some("videoUrl"));
    assert_problem(&bad_review, 422, Some("rating"));
    assert_problem(&past, 422, Some("expiresAt"));
    assert_problem(&not_a_date, 422, Some("expiresAt"));
    assert_problem(&no_course, 404, None);
    assert_problem(&bad_category, 400, Some("category"));
    assert_eq!(
        ids(&mine, "courseId"),
        vec![id],
        "no refused course was written"
    );
    Ok(())
}

#[tokio::test]
async fn a_course_with_learners_cannot_be_deleted_and_an_empty_one_goes_with_its_lessons()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (teacher, learner) = (new_user("teacher"), new_user("learner"));
    let busy = course(&stack, &teacher, json!({})).await?;
    let empty = course(&stack, &teacher, json!({})).await?;
    lesson(&stack, &teacher, &empty, json!({"title": "Only"})).await?;
    stack
        .post(
            &format!("/v1/courses/{busy}/enrollment"),
            &learner,
            json!({}),
        )
        .await?;

    let refused = stack
        .delete(&format!("/v1/courses/{busy}"), &teacher)
        .await?;
    let by_other = stack
        .delete(&format!("/v1/courses/{empty}"), &learner)
        .await?;
    let deleted = stack
        .delete(&format!("/v1/courses/{empty}"), &teacher)
        .await?;
    let after = stack.get(&format!("/v1/courses/{empty}"), &teacher).await?;

    assert_problem(&refused, 409, None);
    assert_problem(&by_other, 403, None);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_problem(&after, 404, None);
    assert!(
        stack
            .partition(&format!("COURSE#{empty}"))
            .await?
            .is_empty(),
        "its lessons went too"
    );
    Ok(())
}
