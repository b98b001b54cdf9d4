//! Courses: access patterns: the reads this context serves from the table.

use super::*;

use store::{from_items as decode, sort_key};

/// A course I may see, and my enrollment in it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub course: Course,
    pub enrollment: Option<Enrollment>,
}

impl Loaded {
    pub fn teaches(&self, me: &UserId) -> bool {
        &self.course.instructor_id == me
    }

    /// My enrollment, when it is active at `now`.
    pub fn active_enrollment(&self, now: i64) -> Option<&Enrollment> {
        self.enrollment.as_ref().filter(|e| is_active(e, now))
    }
}

/// The course `course_id` and my enrollment in it, in one BatchGetItem. Missing, or
/// unpublished and not mine: the 404 of a missing course.
pub async fn load(store: &Store, me: &UserId, course_id: &str) -> AppResult<Loaded> {
    if !valid_id(course_id) {
        return Err(no_such_course());
    }
    let keys = [keys::course(course_id), keys::enrollment(course_id, me)];
    let mut course = None;
    let mut enrollment = None;
    for item in store.batch_get_items(&keys).await? {
        match sort_key(&item) {
            Some(keys::META) => course = Some(store::from_item::<Course>(item)?),
            Some(_) => enrollment = Some(store::from_item::<Enrollment>(item)?),
            None => {}
        }
    }
    let course = course
        .filter(|c| may_see(c, me))
        .ok_or_else(no_such_course)?;
    Ok(Loaded { course, enrollment })
}

/// [`load`], for the course's instructor only (403 for others who may see it).
pub async fn load_as_instructor(store: &Store, me: &UserId, course_id: &str) -> AppResult<Loaded> {
    let loaded = load(store, me, course_id).await?;
    if !loaded.teaches(me) {
        return Err(not_instructor());
    }
    Ok(loaded)
}

/// `user`'s enrollment in a course, when it is active now (one GetItem): what a
/// course-linked community admits.
pub async fn active_enrollment(
    store: &Store,
    course_id: &str,
    user: &UserId,
) -> AppResult<Option<Enrollment>> {
    let enrollment: Option<Enrollment> = store.get(&keys::enrollment(course_id, user)).await?;
    Ok(enrollment.filter(|e| is_active(e, now_epoch_seconds())))
}

/// A course by id, whoever may see it or not (one GetItem); for other contexts.
pub async fn course(store: &Store, course_id: &str) -> AppResult<Option<Course>> {
    if !valid_id(course_id) {
        return Ok(None);
    }
    store.get(&keys::course(course_id)).await
}

/// `GET /v1/courses/{courseId}`
#[instrument(skip(store))]
pub async fn get_course(store: &Store, me: &UserId, course_id: &str) -> AppResult<CourseView> {
    Ok(load(store, me, course_id).await?.course.into())
}

/// `GET /v1/courses`: the published catalog, newest first (one Query of GSI2) or of a
/// category (one Query of GSI1).
#[instrument(skip(store, cursors))]
pub async fn catalog(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    catalog: &Catalog,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<CourseView>> {
    let scope = catalog.cursor_scope();
    let start = cursor
        .map(|c| cursors.open(viewer, &scope, c))
        .transpose()?;
    let query = match catalog {
        Catalog::Newest => KeyQuery::partition(keys::CATALOG).on(Index::Gsi2),
        Catalog::Category(category) => {
            KeyQuery::partition(keys::category(category)).on(Index::Gsi1)
        }
    };
    let (items, next) = store
        .query(&query.newest_first().limit(limit).start(start))
        .await?;
    let courses: Vec<Course> = decode(items)?;
    Ok(Page {
        items: courses
            .into_iter()
            .filter(|c| c.published)
            .map(CourseView::from)
            .collect(),
        next_cursor: cursors.seal_next(viewer, &scope, next)?,
    })
}

/// `GET /v1/me/courses`: the courses I teach, published or not, newest first (one
/// Query of GSI3).
#[instrument(skip(store, cursors))]
pub async fn my_courses(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<CourseView>> {
    let scope = "courses:taught";
    let start = cursor.map(|c| cursors.open(me, scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::taught_by(me))
                .on(Index::Gsi3)
                .newest_first()
                .limit(limit)
                .start(start),
        )
        .await?;
    let courses: Vec<Course> = decode(items)?;
    Ok(Page {
        items: courses
            .into_iter()
            .filter(|c| &c.instructor_id == me)
            .map(CourseView::from)
            .collect(),
        next_cursor: cursors.seal_next(me, scope, next)?,
    })
}

fn lesson_view(lesson: Lesson, position: usize, open: bool, completed: Option<bool>) -> LessonView {
    LessonView {
        lesson_id: lesson.lesson_id,
        course_id: lesson.course_id,
        position,
        title: lesson.title,
        summary: lesson.summary,
        preview: lesson.preview,
        duration_minutes: lesson.duration_minutes,
        video_url: lesson.video_url.filter(|_| open),
        content_url: lesson.content_url.filter(|_| open),
        locked: !open,
        completed,
    }
}

/// The views of `lessons` in the course's order, as `me` may see them.
fn lesson_views(loaded: &Loaded, me: &UserId, lessons: Vec<Lesson>) -> Vec<LessonView> {
    let now = now_epoch_seconds();
    let teaches = loaded.teaches(me);
    let enrolled = loaded.active_enrollment(now).is_some();
    let completed = loaded.enrollment.as_ref().map(|e| &e.completed_lessons);
    let mut by_id: std::collections::HashMap<String, Lesson> = lessons
        .into_iter()
        .map(|l| (l.lesson_id.clone(), l))
        .collect();
    loaded
        .course
        .lesson_ids
        .iter()
        .enumerate()
        .filter_map(|(index, id)| {
            let lesson = by_id.remove(id)?;
            let open = lesson_open(&lesson, teaches, enrolled);
            Some(lesson_view(
                lesson,
                index + 1,
                open,
                completed.map(|c| c.contains(id)),
            ))
        })
        .collect()
}

/// `GET /v1/courses/{courseId}/lessons`: every lesson in order (at most
/// [`MAX_LESSONS`], one page): one BatchGetItem and one Query.
#[instrument(skip(store))]
pub async fn list_lessons(
    store: &Store,
    me: &UserId,
    course_id: &str,
) -> AppResult<Vec<LessonView>> {
    let loaded = load(store, me, course_id).await?;
    let lessons: Vec<Lesson> = decode(
        store
            .query_matching(
                KeyQuery::partition(keys::partition(course_id)).prefix(keys::LESSON_PREFIX),
            )
            .await?,
    )?;
    Ok(lesson_views(&loaded, me, lessons))
}

/// `GET /v1/courses/{courseId}/lessons/{lessonId}`: one BatchGetItem and one GetItem.
#[instrument(skip(store))]
pub async fn get_lesson(
    store: &Store,
    me: &UserId,
    course_id: &str,
    lesson_id: &str,
) -> AppResult<LessonView> {
    let loaded = load(store, me, course_id).await?;
    if !loaded.course.lesson_ids.iter().any(|l| l == lesson_id) {
        return Err(no_such_lesson());
    }
    let lesson: Lesson = store
        .get(&keys::lesson(course_id, lesson_id))
        .await?
        .ok_or_else(no_such_lesson)?;
    lesson_views(&loaded, me, vec![lesson])
        .pop()
        .ok_or_else(no_such_lesson)
}

/// `GET /v1/courses/{courseId}/enrollment`: my enrollment and progress (one
/// BatchGetItem); 404 when I am not enrolled.
#[instrument(skip(store))]
pub async fn my_enrollment(
    store: &Store,
    me: &UserId,
    course_id: &str,
) -> AppResult<EnrollmentView> {
    let loaded = load(store, me, course_id).await?;
    let enrollment = loaded
        .enrollment
        .ok_or_else(|| AppError::NotFound("you are not enrolled in this course".into()))?;
    Ok(EnrollmentView::of(
        enrollment,
        &loaded.course,
        now_epoch_seconds(),
    ))
}

/// `GET /v1/me/enrollments`: my enrollments, with each course and my progress: one
/// Query of my pointers and one BatchGetItem of the courses and enrollments.
#[instrument(skip(store, cursors))]
pub async fn my_enrollments(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<EnrollmentView>> {
    let scope = "enrollments";
    let start = cursor.map(|c| cursors.open(me, scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(me))
                .prefix(keys::MY_ENROLLMENT_PREFIX)
                .limit(limit.min(50))
                .start(start),
        )
        .await?;
    let pointers: Vec<MyEnrollment> = decode(items)?;
    let wanted: Vec<Key> = pointers
        .iter()
        .flat_map(|p| {
            [
                keys::course(&p.course_id),
                keys::enrollment(&p.course_id, me),
            ]
        })
        .collect();
    let mut courses = std::collections::HashMap::new();
    let mut enrollments = std::collections::HashMap::new();
    for item in store.batch_get_items(&wanted).await? {
        if sort_key(&item) == Some(keys::META) {
            let course: Course = store::from_item(item)?;
            courses.insert(course.course_id.clone(), course);
        } else {
            let enrollment: Enrollment = store::from_item(item)?;
            enrollments.insert(enrollment.course_id.clone(), enrollment);
        }
    }
    let now = now_epoch_seconds();
    let items = pointers
        .into_iter()
        .filter_map(|p| {
            let course = courses.remove(&p.course_id)?;
            let enrollment = enrollments.remove(&p.course_id)?;
            let mut view = EnrollmentView::of(enrollment, &course, now);
            view.course = Some(course.into());
            Some(view)
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: cursors.seal_next(me, scope, next)?,
    })
}

/// `GET /v1/courses/{courseId}/enrollments`: the instructor's list of learners with
/// their progress: one BatchGetItem and one Query.
#[instrument(skip(store, cursors))]
pub async fn course_enrollments(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    course_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<EnrollmentView>> {
    let loaded = load_as_instructor(store, me, course_id).await?;
    let scope = format!("course:{course_id}:enrollments");
    let start = cursor.map(|c| cursors.open(me, &scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::partition(course_id))
                .prefix(keys::ENROLLMENT_PREFIX)
                .limit(limit)
                .start(start),
        )
        .await?;
    let enrollments: Vec<Enrollment> = decode(items)?;
    let now = now_epoch_seconds();
    Ok(Page {
        items: enrollments
            .into_iter()
            .map(|e| EnrollmentView::of(e, &loaded.course, now))
            .collect(),
        next_cursor: cursors.seal_next(me, &scope, next)?,
    })
}

/// `GET /v1/courses/{courseId}/reviews`: newest first: one BatchGetItem and one Query
/// of GSI1.
#[instrument(skip(store, cursors))]
pub async fn reviews(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    course_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ReviewView>> {
    load(store, me, course_id).await?;
    let scope = format!("course:{course_id}:reviews");
    let start = cursor.map(|c| cursors.open(me, &scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::reviews_of(course_id))
                .on(Index::Gsi1)
                .newest_first()
                .limit(limit)
                .start(start),
        )
        .await?;
    let reviews: Vec<Review> = decode(items)?;
    Ok(Page {
        items: reviews.into_iter().map(ReviewView::from).collect(),
        next_cursor: cursors.seal_next(me, &scope, next)?,
    })
}
