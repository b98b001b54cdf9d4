//! Courses: use cases: the operations the edge calls, which write.

use super::*;

// The conditions of this context's transactions, by name.
/// The course id is new.
const COURSE_NEW: &str = "course_new";
/// The course exists.
const COURSE_THERE: &str = "course_there";
/// The course is published (a learner's own enrollment).
const PUBLISHED: &str = "published";
/// The course's settings and lessons are still the version the change was made from.
const COURSE_UNCHANGED: &str = "course_unchanged";
/// No one is enrolled and no community is linked (deleting a course).
const COURSE_UNUSED: &str = "course_unused";
/// The lesson id is new.
const LESSON_NEW: &str = "lesson_new";
/// The lesson exists.
const LESSON_THERE: &str = "lesson_there";
/// The learner is not enrolled yet.
const NOT_ENROLLED: &str = "not_enrolled";
/// The learner is enrolled.
const ENROLLED: &str = "enrolled";
/// The enrollment is active (not expired).
const ENROLLMENT_ACTIVE: &str = "enrollment_active";
/// No certificate was set yet.
const NO_CERTIFICATE: &str = "no_certificate";
/// The reviewer has no review yet.
const REVIEW_NEW: &str = "review_new";
/// The review still has the rating it was read with.
const REVIEW_UNCHANGED: &str = "review_unchanged";

/// Attempts of a change that raced another change of the same course.
const CHANGE_ATTEMPTS: u32 = 3;

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn concurrently_changed() -> AppError {
    AppError::Conflict("the course changed while this request was made; retry".into())
}

fn not_enrolled() -> AppError {
    AppError::NotFound("this learner is not enrolled in this course".into())
}

/// The course is still at `version`.
fn at_version(version: u64) -> Condition {
    Condition::new(
        COURSE_UNCHANGED,
        Expr::new("version = :expected").value(":expected", n(version)),
    )
}

/// The enrollment exists and had not expired at `now`.
fn active_at(now: i64) -> Condition {
    Condition::new(
        ENROLLMENT_ACTIVE,
        Expr::new(
            "attribute_exists(PK) AND (attribute_not_exists(expiresAtEpoch) OR expiresAtEpoch > :now)",
        )
        .value(":now", n(now)),
    )
}

fn count_change(delta: i64) -> Expr {
    Expr::new("ADD enrollmentCount :delta").value(":delta", n(delta))
}

/// The attributes a settings change rewrites: each SET from the new course, or REMOVEd
/// when it has none (a cleared text, the index keys of an unpublished course).
const SETTINGS: [&str; 14] = [
    "title",
    "description",
    "level",
    "category",
    "tags",
    "price",
    "published",
    "accessDays",
    "version",
    "updatedAt",
    "GSI1PK",
    "GSI1SK",
    "GSI2PK",
    "GSI2SK",
];

/// `POST /v1/courses`: I become its instructor.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn create_course(
    store: &Store,
    me: &Principal,
    input: NewCourse,
) -> AppResult<CourseView> {
    check(&input)?;
    let now = now_rfc3339();
    let course = Course {
        course_id: new_ulid(),
        title: input.title.trim().to_owned(),
        description: validation::trimmed(input.description),
        level: input.level,
        category: input.category,
        tags: validation::normalized_tags(&input.tags),
        price: input.price,
        published: input.published,
        access_days: input.access_days,
        instructor_id: me.user_id.clone(),
        lesson_ids: Vec::new(),
        enrollment_count: 0,
        rating_sum: 0,
        rating_count: 0,
        community_id: None,
        version: 0,
        created_at: now.clone(),
        updated_at: now,
    };
    store
        .put_if(course.item()?, Condition::absent(COURSE_NEW))
        .await?;
    Ok(course.into())
}

fn apply_patch(mut course: Course, patch: CoursePatch) -> Course {
    if let Some(title) = patch.title {
        course.title = title.trim().to_owned();
    }
    if let Some(description) = patch.description {
        course.description = validation::trimmed(description);
    }
    if let Some(level) = patch.level {
        course.level = level;
    }
    if let Some(category) = patch.category {
        course.category = category;
    }
    if let Some(tags) = patch.tags {
        course.tags = validation::normalized_tags(&tags);
    }
    if let Some(price) = patch.price {
        course.price = price;
    }
    if let Some(published) = patch.published {
        course.published = published;
    }
    if let Some(days) = patch.access_days {
        course.access_days = days;
    }
    course.version += 1;
    course.updated_at = now_rfc3339();
    course
}

/// `PATCH /v1/courses/{courseId}`: the instructor. Made on the version it read, again
/// from the new one after a race.
#[instrument(skip(store, me, patch), fields(user = %me.user_id))]
pub async fn update_course(
    store: &Store,
    me: &Principal,
    course_id: &str,
    patch: CoursePatch,
) -> AppResult<CourseView> {
    check(&patch)?;
    for _ in 0..CHANGE_ATTEMPTS {
        let old = load_as_instructor(store, &me.user_id, course_id)
            .await?
            .course;
        let version = old.version;
        let new = apply_patch(old, patch.clone());
        match store
            .update(
                &keys::course(course_id),
                Expr::set_or_remove(&new.item()?, &SETTINGS),
                Some(at_version(version)),
                Returning::Nothing,
            )
            .await
        {
            Ok(_) => return Ok(new.into()),
            Err(error) if error.failed(COURSE_UNCHANGED) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// `DELETE /v1/courses/{courseId}`: the instructor, while no one is enrolled and no
/// community is linked (409 otherwise: unpublish it instead). The course goes first,
/// so it is a 404 at once; then its lessons and reviews.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn delete_course(store: &Store, me: &Principal, course_id: &str) -> AppResult<()> {
    load_as_instructor(store, &me.user_id, course_id).await?;
    match store
        .delete_if(
            &keys::course(course_id),
            Condition::new(
                COURSE_UNUSED,
                Expr::new(
                    "attribute_exists(PK) AND enrollmentCount = :zero AND attribute_not_exists(communityId)",
                )
                .value(":zero", n(0)),
            ),
        )
        .await
    {
        Ok(()) => {}
        Err(error) if error.failed(COURSE_UNUSED) => {
            return Err(AppError::Conflict(
                "this course has enrollments or a linked community: unpublish it instead, or revoke them and unlink it first".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    }
    remove_contents(store, course_id).await
}

/// Deletes what is left in a course's partition, with each item's user-side pointer.
pub(super) async fn remove_contents(store: &Store, course_id: &str) -> AppResult<()> {
    let items = store.query_all(&keys::partition(course_id)).await?;
    let mut doomed = Vec::new();
    for item in &items {
        let Some(sk) = store::sort_key(item) else {
            continue;
        };
        doomed.push(Key::new(keys::partition(course_id), sk));
        doomed.extend(keys::pointer_of(course_id, sk));
    }
    store.batch_delete(&doomed).await
}

/// Writes `lesson` (new or changed) and, when its place changes, the course's new
/// order, on the version the course was read at; a race is retried from the start by
/// the caller.
async fn write_lesson(
    store: &Store,
    course: &Course,
    lesson: &Lesson,
    order: Option<Vec<String>>,
    lesson_condition: Condition,
) -> Result<(), WriteError> {
    let mut transaction = store
        .transaction()
        .put_entity(lesson, Some(lesson_condition));
    transaction = match order {
        Some(order) => transaction.update(
            &keys::course(&course.course_id),
            Expr::new("SET lessonIds = :order, updatedAt = :at ADD version :one")
                .value(":order", store::to_attribute(&order)?)
                .value(":at", s(&lesson.updated_at))
                .value(":one", n(1)),
            Some(at_version(course.version)),
        ),
        None => transaction.check(&keys::course(&course.course_id), at_version(course.version)),
    };
    transaction.commit().await
}

/// `POST /v1/courses/{courseId}/lessons`: the instructor; at most [`MAX_LESSONS`].
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn add_lesson(
    store: &Store,
    me: &Principal,
    course_id: &str,
    input: NewLesson,
) -> AppResult<LessonView> {
    check(&input)?;
    let now = now_rfc3339();
    let lesson = Lesson {
        course_id: course_id.to_owned(),
        lesson_id: new_ulid(),
        title: input.title.trim().to_owned(),
        summary: validation::trimmed(input.summary),
        preview: input.preview,
        video_url: input.video_url,
        content_url: input.content_url,
        duration_minutes: input.duration_minutes,
        created_at: now.clone(),
        updated_at: now,
    };
    for _ in 0..CHANGE_ATTEMPTS {
        let course = load_as_instructor(store, &me.user_id, course_id)
            .await?
            .course;
        if course.lesson_ids.len() >= MAX_LESSONS {
            return Err(AppError::Conflict(format!(
                "a course holds at most {MAX_LESSONS} lessons"
            )));
        }
        let order = placed(&course.lesson_ids, &lesson.lesson_id, input.position);
        let position = order
            .iter()
            .position(|l| l == &lesson.lesson_id)
            .unwrap_or(0)
            + 1;
        match write_lesson(
            store,
            &course,
            &lesson,
            Some(order),
            Condition::absent(LESSON_NEW),
        )
        .await
        {
            Ok(()) => return Ok(owned_view(lesson, position)),
            Err(error) if error.failed(COURSE_UNCHANGED) => continue,
            Err(WriteError::Contended) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// A lesson as its instructor sees it.
fn owned_view(lesson: Lesson, position: usize) -> LessonView {
    LessonView {
        lesson_id: lesson.lesson_id,
        course_id: lesson.course_id,
        position,
        title: lesson.title,
        summary: lesson.summary,
        preview: lesson.preview,
        duration_minutes: lesson.duration_minutes,
        video_url: lesson.video_url,
        content_url: lesson.content_url,
        locked: false,
        completed: None,
    }
}

/// `PATCH /v1/courses/{courseId}/lessons/{lessonId}`: the instructor.
#[instrument(skip(store, me, patch), fields(user = %me.user_id))]
pub async fn update_lesson(
    store: &Store,
    me: &Principal,
    course_id: &str,
    lesson_id: &str,
    patch: LessonPatch,
) -> AppResult<LessonView> {
    check(&patch)?;
    for _ in 0..CHANGE_ATTEMPTS {
        let course = load_as_instructor(store, &me.user_id, course_id)
            .await?
            .course;
        if !course.lesson_ids.iter().any(|l| l == lesson_id) {
            return Err(no_such_lesson());
        }
        let mut lesson: Lesson = store
            .get(&keys::lesson(course_id, lesson_id))
            .await?
            .ok_or_else(no_such_lesson)?;
        let patch = patch.clone();
        if let Some(title) = patch.title {
            lesson.title = title.trim().to_owned();
        }
        if let Some(summary) = patch.summary {
            lesson.summary = validation::trimmed(summary);
        }
        if let Some(preview) = patch.preview {
            lesson.preview = preview;
        }
        if let Some(url) = patch.video_url {
            lesson.video_url = url;
        }
        if let Some(url) = patch.content_url {
            lesson.content_url = url;
        }
        if let Some(minutes) = patch.duration_minutes {
            lesson.duration_minutes = minutes;
        }
        lesson.updated_at = now_rfc3339();
        let order = patch
            .position
            .map(|p| placed(&course.lesson_ids, lesson_id, Some(p)));
        let position = order
            .as_ref()
            .unwrap_or(&course.lesson_ids)
            .iter()
            .position(|l| l == lesson_id)
            .unwrap_or(0)
            + 1;
        match write_lesson(
            store,
            &course,
            &lesson,
            order,
            Condition::present(LESSON_THERE),
        )
        .await
        {
            Ok(()) => return Ok(owned_view(lesson, position)),
            Err(error) if error.failed(LESSON_THERE) => return Err(no_such_lesson()),
            Err(error) if error.failed(COURSE_UNCHANGED) => continue,
            Err(WriteError::Contended) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// `DELETE /v1/courses/{courseId}/lessons/{lessonId}`: the instructor. Completions of
/// it stop counting towards progress.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn delete_lesson(
    store: &Store,
    me: &Principal,
    course_id: &str,
    lesson_id: &str,
) -> AppResult<()> {
    for _ in 0..CHANGE_ATTEMPTS {
        let course = load_as_instructor(store, &me.user_id, course_id)
            .await?
            .course;
        if !course.lesson_ids.iter().any(|l| l == lesson_id) {
            return Err(no_such_lesson());
        }
        let order: Vec<String> = course
            .lesson_ids
            .iter()
            .filter(|l| *l != lesson_id)
            .cloned()
            .collect();
        let result = store
            .transaction()
            .delete(&keys::lesson(course_id, lesson_id), None)
            .update(
                &keys::course(course_id),
                Expr::new("SET lessonIds = :order, updatedAt = :at ADD version :one")
                    .value(":order", store::to_attribute(&order)?)
                    .value(":at", s(now_rfc3339()))
                    .value(":one", n(1)),
                Some(at_version(course.version)),
            )
            .commit()
            .await;
        match result {
            Ok(()) => return Ok(()),
            Err(error) if error.failed(COURSE_UNCHANGED) => continue,
            Err(WriteError::Contended) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// A new enrollment, its pointer and +1 on the course's count, in one transaction
/// (retried when other enrollments hold the course item). `published` requires the
/// course to be published (a learner enrolling themself).
async fn insert_enrollment(
    store: &Store,
    enrollment: &Enrollment,
    published: bool,
) -> Result<(), WriteError> {
    let pointer = MyEnrollment {
        course_id: enrollment.course_id.clone(),
        user_id: enrollment.user_id.clone(),
        enrolled_at: enrollment.enrolled_at.clone(),
    };
    let course_condition = || {
        if published {
            Condition::new(
                PUBLISHED,
                Expr::new("attribute_exists(PK) AND published = :true")
                    .value(":true", AttributeValue::Bool(true)),
            )
        } else {
            Condition::present(COURSE_THERE)
        }
    };
    commit_retrying(|| {
        store
            .transaction()
            .put_entity(enrollment, Some(Condition::absent(NOT_ENROLLED)))
            .put_entity(&pointer, None)
            .update(
                &keys::course(&enrollment.course_id),
                count_change(1),
                Some(course_condition()),
            )
    })
    .await
}

/// Sets when an enrollment ends (`None`: never), on an enrollment that exists.
async fn set_expiry(
    store: &Store,
    course_id: &str,
    user: &UserId,
    expires: Option<i64>,
) -> AppResult<Enrollment> {
    let now = now_rfc3339();
    let update = match expires {
        Some(epoch) => Expr::new("SET expiresAt = :at, expiresAtEpoch = :epoch, updatedAt = :now")
            .value(":at", s(expiry_text(epoch)?))
            .value(":epoch", n(epoch)),
        None => Expr::new("SET updatedAt = :now REMOVE expiresAt, expiresAtEpoch"),
    }
    .value(":now", s(now));
    match store
        .update(
            &keys::enrollment(course_id, user),
            update,
            Some(Condition::present(ENROLLED)),
            Returning::AllNew,
        )
        .await
    {
        Ok(Some(item)) => store::from_item(item),
        Ok(None) => Err(not_enrolled()),
        Err(error) if error.failed(ENROLLED) => Err(not_enrolled()),
        Err(error) => Err(error.into()),
    }
}

fn new_enrollment(
    course_id: &str,
    user: &UserId,
    by: &UserId,
    expires: Option<i64>,
) -> AppResult<Enrollment> {
    let now = now_rfc3339();
    Ok(Enrollment {
        course_id: course_id.to_owned(),
        user_id: user.clone(),
        granted_by: by.clone(),
        enrolled_at: now.clone(),
        expires_at: expires.map(expiry_text).transpose()?,
        expires_at_epoch: expires,
        completed_lessons: Default::default(),
        certificate_at: None,
        updated_at: now,
    })
}

/// `POST /v1/courses/{courseId}/enrollment`: I enroll in a published free course
/// (201), for its `accessDays`. Enrolled already: my enrollment (200), renewed for
/// `accessDays` from now when it had expired. A paid course's enrollments come from
/// its instructor (403).
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn enroll(
    store: &Store,
    me: &Principal,
    course_id: &str,
) -> AppResult<(u16, EnrollmentView)> {
    let loaded = load(store, &me.user_id, course_id).await?;
    let course = loaded.course;
    if !course.published {
        return Err(AppError::Conflict(
            "this course is not published yet".into(),
        ));
    }
    if !course.price.is_free() {
        return Err(AppError::Forbidden(
            "this course is paid: its instructor enrolls learners once they have paid".into(),
        ));
    }
    let now = now_epoch_seconds();
    let expires = expiry(None, course.access_days, now);
    match loaded.enrollment {
        Some(enrollment) if is_active(&enrollment, now) => {
            Ok((200, EnrollmentView::of(enrollment, &course, now)))
        }
        Some(_) => {
            let renewed = set_expiry(store, course_id, &me.user_id, expires).await?;
            Ok((200, EnrollmentView::of(renewed, &course, now)))
        }
        None => {
            let enrollment = new_enrollment(course_id, &me.user_id, &me.user_id, expires)?;
            match insert_enrollment(store, &enrollment, true).await {
                Ok(()) => Ok((201, EnrollmentView::of(enrollment, &course, now))),
                // A concurrent request enrolled me.
                Err(error) if error.failed(NOT_ENROLLED) => {
                    Box::pin(enroll(store, me, course_id)).await
                }
                Err(error) if error.failed(PUBLISHED) => Err(no_such_course()),
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// `PUT /v1/courses/{courseId}/enrollments/{userId}`: the instructor enrolls a learner
/// (201), or changes when an existing enrollment ends (200).
#[instrument(skip(store, me, grant), fields(user = %me.user_id))]
pub async fn grant_enrollment(
    store: &Store,
    me: &Principal,
    course_id: &str,
    learner: &UserId,
    grant: EnrollmentGrant,
) -> AppResult<(u16, EnrollmentView)> {
    let now = now_epoch_seconds();
    let chosen = grant.parse(now)?;
    let course = load_as_instructor(store, &me.user_id, course_id)
        .await?
        .course;
    let expires = expiry(chosen, course.access_days, now);
    let existing: Option<Enrollment> = store.get(&keys::enrollment(course_id, learner)).await?;
    if existing.is_some() {
        let changed = set_expiry(store, course_id, learner, expires).await?;
        return Ok((200, EnrollmentView::of(changed, &course, now)));
    }
    let enrollment = new_enrollment(course_id, learner, &me.user_id, expires)?;
    match insert_enrollment(store, &enrollment, false).await {
        Ok(()) => Ok((201, EnrollmentView::of(enrollment, &course, now))),
        Err(error) if error.failed(NOT_ENROLLED) => {
            let changed = set_expiry(store, course_id, learner, expires).await?;
            Ok((200, EnrollmentView::of(changed, &course, now)))
        }
        Err(error) if error.failed(COURSE_THERE) => Err(no_such_course()),
        Err(error) => Err(error.into()),
    }
}

/// Ends an enrollment: it, its pointer and −1 on the course's count. Its progress goes
/// with it; a review stays.
async fn remove_enrollment(store: &Store, course_id: &str, learner: &UserId) -> AppResult<()> {
    let result = commit_retrying(|| {
        store
            .transaction()
            .delete(
                &keys::enrollment(course_id, learner),
                Some(Condition::present(ENROLLED)),
            )
            .delete(&keys::my_enrollment(learner, course_id), None)
            .update(&keys::course(course_id), count_change(-1), None)
    })
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(ENROLLED) => Err(not_enrolled()),
        Err(error) => Err(error.into()),
    }
}

/// `DELETE /v1/courses/{courseId}/enrollments/{userId}`: the instructor revokes an
/// enrollment.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn revoke_enrollment(
    store: &Store,
    me: &Principal,
    course_id: &str,
    learner: &UserId,
) -> AppResult<()> {
    load_as_instructor(store, &me.user_id, course_id).await?;
    remove_enrollment(store, course_id, learner).await
}

/// `DELETE /v1/courses/{courseId}/enrollment`: I leave a course.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn unenroll(store: &Store, me: &Principal, course_id: &str) -> AppResult<()> {
    if !valid_id(course_id) {
        return Err(no_such_course());
    }
    remove_enrollment(store, course_id, &me.user_id)
        .await
        .map_err(|error| match error {
            AppError::NotFound(_) => {
                AppError::NotFound("you are not enrolled in this course".into())
            }
            other => other,
        })
}

fn enrollment_needed(enrollment: Option<&Enrollment>) -> AppError {
    match enrollment {
        Some(_) => AppError::Forbidden("your enrollment in this course has expired".into()),
        None => AppError::Forbidden("enroll in this course first".into()),
    }
}

/// `PUT /v1/courses/{courseId}/lessons/{lessonId}/completion`: I completed a lesson
/// (repeatable). My active enrollment gains it in one UpdateItem; when every lesson is
/// complete the certificate is set once. The stream turns each into an activity.
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn complete_lesson(
    store: &Store,
    me: &Principal,
    course_id: &str,
    lesson_id: &str,
) -> AppResult<EnrollmentView> {
    let loaded = load(store, &me.user_id, course_id).await?;
    let course = &loaded.course;
    if !course.lesson_ids.iter().any(|l| l == lesson_id) {
        return Err(no_such_lesson());
    }
    let now = now_epoch_seconds();
    let Some(enrollment) = loaded.active_enrollment(now).cloned() else {
        return Err(enrollment_needed(loaded.enrollment.as_ref()));
    };
    let mut enrollment = enrollment;
    if !enrollment.completed_lessons.contains(lesson_id) {
        let added = store
            .update(
                &keys::enrollment(course_id, &me.user_id),
                Expr::new("ADD completedLessons :lesson SET updatedAt = :at")
                    .value(":lesson", AttributeValue::Ss(vec![lesson_id.to_owned()]))
                    .value(":at", s(now_rfc3339())),
                Some(active_at(now)),
                Returning::AllNew,
            )
            .await;
        enrollment = match added {
            Ok(Some(item)) => store::from_item(item)?,
            Ok(None) => return Err(AppError::internal("no enrollment returned")),
            Err(error) if error.failed(ENROLLMENT_ACTIVE) => {
                return Err(enrollment_needed(Some(&enrollment)));
            }
            Err(error) => return Err(error.into()),
        };
    }
    if enrollment.certificate_at.is_none()
        && progress(&course.lesson_ids, &enrollment.completed_lessons).is_complete()
    {
        match store
            .update(
                &keys::enrollment(course_id, &me.user_id),
                Expr::new("SET certificateAt = :at").value(":at", s(now_rfc3339())),
                Some(Condition::new(
                    NO_CERTIFICATE,
                    "attribute_exists(PK) AND attribute_not_exists(certificateAt)",
                )),
                Returning::AllNew,
            )
            .await
        {
            Ok(Some(item)) => enrollment = store::from_item(item)?,
            Ok(None) => {}
            // A concurrent completion set it.
            Err(error) if error.failed(NO_CERTIFICATE) => {
                if let Some(fresh) = store.get(&keys::enrollment(course_id, &me.user_id)).await? {
                    enrollment = fresh;
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(EnrollmentView::of(enrollment, course, now))
}

/// `PUT /v1/courses/{courseId}/review`: my review, new (201) or changed (200). Enrolled
/// learners only (an expired enrollment still counts); not the instructor. The course's
/// rating sum and count change in the same transaction.
#[instrument(skip(store, me, input), fields(user = %me.user_id))]
pub async fn put_review(
    store: &Store,
    me: &Principal,
    course_id: &str,
    input: ReviewInput,
) -> AppResult<(u16, ReviewView)> {
    check(&input)?;
    let loaded = load(store, &me.user_id, course_id).await?;
    if loaded.teaches(&me.user_id) {
        return Err(AppError::Forbidden(
            "you cannot review your own course".into(),
        ));
    }
    if loaded.enrollment.is_none() {
        return Err(AppError::Forbidden(
            "only learners enrolled in this course may review it".into(),
        ));
    }
    let text = validation::trimmed(input.text);
    for _ in 0..CHANGE_ATTEMPTS {
        let old: Option<Review> = store.get(&keys::review(course_id, &me.user_id)).await?;
        let now = now_rfc3339();
        let review = Review {
            course_id: course_id.to_owned(),
            user_id: me.user_id.clone(),
            rating: input.rating,
            text: text.clone(),
            created_at: old
                .as_ref()
                .map_or_else(|| now.clone(), |o| o.created_at.clone()),
            updated_at: now,
        };
        let (condition, sum, count) = match &old {
            None => (Condition::absent(REVIEW_NEW), i64::from(input.rating), 1),
            Some(old) => (
                rating_was(old.rating),
                i64::from(input.rating) - i64::from(old.rating),
                0,
            ),
        };
        let result = commit_retrying(|| {
            store
                .transaction()
                .put_entity(&review, Some(condition.clone()))
                .put_entity(
                    &MyReview {
                        course_id: course_id.to_owned(),
                        user_id: me.user_id.clone(),
                    },
                    None,
                )
                .update(
                    &keys::course(course_id),
                    rating_change(sum, count),
                    Some(Condition::present(COURSE_THERE)),
                )
        })
        .await;
        match result {
            Ok(()) => return Ok((if old.is_none() { 201 } else { 200 }, review.into())),
            Err(error) if error.failed(REVIEW_NEW) || error.failed(REVIEW_UNCHANGED) => continue,
            Err(error) if error.failed(COURSE_THERE) => return Err(no_such_course()),
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

fn rating_was(rating: u8) -> Condition {
    Condition::new(
        REVIEW_UNCHANGED,
        Expr::new("rating = :old").value(":old", n(rating)),
    )
}

fn rating_change(sum: i64, count: i64) -> Expr {
    Expr::new("ADD ratingSum :sum, ratingCount :count")
        .value(":sum", n(sum))
        .value(":count", n(count))
}

/// Deletes `user`'s review of a course, taking its rating out of the course's sum and
/// count in the same transaction. False when there was none.
pub(super) async fn remove_review(
    store: &Store,
    course_id: &str,
    user: &UserId,
) -> AppResult<bool> {
    for _ in 0..CHANGE_ATTEMPTS {
        let Some(old) = store.get::<Review>(&keys::review(course_id, user)).await? else {
            return Ok(false);
        };
        let result = commit_retrying(|| {
            store
                .transaction()
                .delete(&keys::review(course_id, user), Some(rating_was(old.rating)))
                .delete(&keys::my_review(user, course_id), None)
                .update(
                    &keys::course(course_id),
                    rating_change(-i64::from(old.rating), -1),
                    None,
                )
        })
        .await;
        match result {
            Ok(()) => return Ok(true),
            Err(error) if error.failed(REVIEW_UNCHANGED) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrently_changed())
}

/// `DELETE /v1/courses/{courseId}/review`: my review goes (404 when I have none).
#[instrument(skip(store, me), fields(user = %me.user_id))]
pub async fn delete_review(store: &Store, me: &Principal, course_id: &str) -> AppResult<()> {
    if !valid_id(course_id) {
        return Err(no_such_course());
    }
    if remove_review(store, course_id, &me.user_id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound(
            "you have not reviewed this course".into(),
        ))
    }
}

// ---------------------------------------------------------------------------------
// Account erasure
// ---------------------------------------------------------------------------------

/// Erasure: my enrollment in a course goes (with the count); nothing when it is gone.
pub async fn leave_on_erasure(store: &Store, me: &UserId, course_id: &str) -> AppResult<()> {
    match remove_enrollment(store, course_id, me).await {
        Ok(()) => Ok(()),
        Err(AppError::NotFound(_)) => store.delete(&keys::my_enrollment(me, course_id)).await,
        Err(error) => Err(error),
    }
}

/// Erasure: my review of a course goes, out of its rating; then its pointer.
pub async fn forget_review(store: &Store, me: &UserId, course_id: &str) -> AppResult<()> {
    remove_review(store, course_id, me).await?;
    store.delete(&keys::my_review(me, course_id)).await
}

/// Erasure of an instructor: deletes up to `limit` items of a course's partition with
/// their learners' pointers, and the course itself once nothing else is left (which
/// takes it out of its instructor's GSI3 partition). Returns the items deleted.
pub async fn erase_course_page(store: &Store, course_id: &str, limit: u32) -> AppResult<u32> {
    let page = limit.clamp(2, 100);
    let (items, _) = store
        .query(&KeyQuery::partition(keys::partition(course_id)).limit(page))
        .await?;
    let mut doomed = Vec::new();
    for item in &items {
        match store::sort_key(item) {
            Some(keys::META) | None => {}
            Some(sk) => {
                doomed.push(Key::new(keys::partition(course_id), sk));
                doomed.extend(keys::pointer_of(course_id, sk));
            }
        }
    }
    if doomed.is_empty() {
        store.delete(&keys::course(course_id)).await?;
        return Ok(1);
    }
    store.batch_delete(&doomed).await?;
    Ok(u32::try_from(doomed.len()).unwrap_or(u32::MAX))
}
