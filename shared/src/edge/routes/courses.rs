//! The courses function: the catalog, lessons, enrollments and progress, and reviews.

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_id;
use crate::contexts::courses::{
    self, Catalog, CoursePatch, CourseView, EnrollmentGrant, EnrollmentView, LessonPatch,
    LessonView, NewCourse, NewLesson, ReviewInput, ReviewView,
};
use crate::core::cursor::Page;
use crate::edge::http::{ApiResult, Caller, Json, JsonOrEmpty, Path, Query};
use crate::edge::openapi::PageParams;
use crate::edge::{Api, HttpResponse};

const TAG: &str = "courses";

/// The function's router.
pub fn router(api: Arc<Api>) -> axum::Router {
    crate::edge::http::router(routes(), api)
}

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(create_course, list_courses))
        .routes(routes!(my_courses))
        .routes(routes!(get_course, update_course, delete_course))
        .routes(routes!(add_lesson, list_lessons))
        .routes(routes!(get_lesson, update_lesson, delete_lesson))
        .routes(routes!(complete_lesson))
        .routes(routes!(enroll, my_enrollment, unenroll))
        .routes(routes!(list_enrollments))
        .routes(routes!(grant_enrollment, revoke_enrollment))
        .routes(routes!(my_enrollments))
        .routes(routes!(put_review, delete_review))
        .routes(routes!(list_reviews))
}

/// Create a course; I become its instructor. It is unpublished unless `published`.
#[utoipa::path(post, path = "/v1/courses", tag = TAG,
    request_body(content = NewCourse, example = json!({
        "title": "Budgeting 101", "description": "Your first budget in four weeks.",
        "level": "beginner", "category": "personal-finance", "tags": ["budgeting"],
        "price": {"amountCents": 0, "currency": "EUR"}, "published": true, "accessDays": 90})),
    responses((status = 201, body = CourseView, description = "The course",
        headers(("location" = String, description = "The course's URL")))))]
async fn create_course(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Json(input): Json<NewCourse>,
) -> ApiResult {
    let course = courses::create_course(&api.store, &me, input).await?;
    let location = format!("/v1/courses/{}", course.course_id);
    Ok(HttpResponse::json(201, &course)?.with_header("location", location))
}

/// The catalog: published courses, newest first, or those of one `category`.
#[utoipa::path(get, path = "/v1/courses", tag = TAG,
    params(
        ("category" = Option<String>, Query, description = "A category (2-40 of a-z, 0-9, -)"),
        PageParams,
    ),
    responses((status = 200, body = Page<CourseView>, description = "A page of courses")))]
async fn list_courses(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let catalog = Catalog::parse(query.get("category"))?;
    let page = courses::catalog(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &catalog,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// The courses I teach, published or not, newest first.
#[utoipa::path(get, path = "/v1/me/courses", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<CourseView>, description = "A page of my courses")))]
async fn my_courses(State(api): State<Arc<Api>>, Caller(me): Caller, query: Query) -> ApiResult {
    let page = courses::my_courses(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// A course. An unpublished course is a 404 to everyone but its instructor.
#[utoipa::path(get, path = "/v1/courses/{courseId}", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    responses((status = 200, body = CourseView, description = "The course")))]
async fn get_course(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
) -> ApiResult {
    let course = courses::get_course(&api.store, &me.user_id, &course_id).await?;
    Ok(HttpResponse::json(200, &course)?)
}

/// Change a course (its instructor). Absent fields are unchanged; `null` clears
/// `description` or `accessDays`. `published: false` takes it out of the catalog.
#[utoipa::path(patch, path = "/v1/courses/{courseId}", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    request_body(content = CoursePatch, example = json!({"published": true, "price": {"amountCents": 1900, "currency": "EUR"}})),
    responses((status = 200, body = CourseView, description = "The changed course")))]
async fn update_course(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
    Json(patch): Json<CoursePatch>,
) -> ApiResult {
    let course = courses::update_course(&api.store, &me, &course_id, patch).await?;
    Ok(HttpResponse::json(200, &course)?)
}

/// Delete a course (its instructor) with its lessons and reviews, while no one is
/// enrolled and no community is linked to it (409 otherwise: unpublish it instead).
#[utoipa::path(delete, path = "/v1/courses/{courseId}", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    responses((status = 204, description = "Deleted")))]
async fn delete_course(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
) -> ApiResult {
    courses::delete_course(&api.store, &me, &course_id).await?;
    Ok(HttpResponse::no_content())
}

/// Add a lesson (the instructor), last or at `position`. At most 200 per course.
#[utoipa::path(post, path = "/v1/courses/{courseId}/lessons", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    request_body(content = NewLesson, example = json!({
        "title": "Where the money goes", "preview": true,
        "videoUrl": "https://videos.example.com/budgeting/1", "durationMinutes": 12})),
    responses((status = 201, body = LessonView, description = "The lesson")))]
async fn add_lesson(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
    Json(input): Json<NewLesson>,
) -> ApiResult {
    let lesson = courses::add_lesson(&api.store, &me, &course_id, input).await?;
    Ok(HttpResponse::json(201, &lesson)?)
}

/// The lessons, in order (one page). A lesson that is not a preview is `locked`, without
/// its URLs, unless I am enrolled (and not expired) or teach the course.
#[utoipa::path(get, path = "/v1/courses/{courseId}/lessons", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    responses((status = 200, body = Vec<LessonView>, description = "The lessons, in order")))]
async fn list_lessons(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
) -> ApiResult {
    let lessons = courses::list_lessons(&api.store, &me.user_id, &course_id).await?;
    Ok(HttpResponse::json(200, &lessons)?)
}

/// A lesson, locked as in the list.
#[utoipa::path(get, path = "/v1/courses/{courseId}/lessons/{lessonId}", tag = TAG,
    params(
        ("courseId" = String, Path, description = "The course"),
        ("lessonId" = String, Path, description = "The lesson"),
    ),
    responses((status = 200, body = LessonView, description = "The lesson")))]
async fn get_lesson(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((course_id, lesson_id)): Path<(String, String)>,
) -> ApiResult {
    let lesson = courses::get_lesson(&api.store, &me.user_id, &course_id, &lesson_id).await?;
    Ok(HttpResponse::json(200, &lesson)?)
}

/// Change or move a lesson (the instructor). Absent fields are unchanged; `null`
/// clears an optional one.
#[utoipa::path(patch, path = "/v1/courses/{courseId}/lessons/{lessonId}", tag = TAG,
    params(
        ("courseId" = String, Path, description = "The course"),
        ("lessonId" = String, Path, description = "The lesson"),
    ),
    request_body(content = LessonPatch, example = json!({"position": 1, "preview": false})),
    responses((status = 200, body = LessonView, description = "The changed lesson")))]
async fn update_lesson(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((course_id, lesson_id)): Path<(String, String)>,
    Json(patch): Json<LessonPatch>,
) -> ApiResult {
    let lesson = courses::update_lesson(&api.store, &me, &course_id, &lesson_id, patch).await?;
    Ok(HttpResponse::json(200, &lesson)?)
}

/// Remove a lesson (the instructor); completions of it stop counting towards progress.
#[utoipa::path(delete, path = "/v1/courses/{courseId}/lessons/{lessonId}", tag = TAG,
    params(
        ("courseId" = String, Path, description = "The course"),
        ("lessonId" = String, Path, description = "The lesson"),
    ),
    responses((status = 204, description = "Removed")))]
async fn delete_lesson(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((course_id, lesson_id)): Path<(String, String)>,
) -> ApiResult {
    courses::delete_lesson(&api.store, &me, &course_id, &lesson_id).await?;
    Ok(HttpResponse::no_content())
}

/// Mark a lesson complete (repeatable): my progress, with the certificate once every
/// lesson is complete. Needs an active enrollment (403). Each completion posts a
/// `lessonCompleted` activity, and the certificate a `courseCompleted` one.
#[utoipa::path(put, path = "/v1/courses/{courseId}/lessons/{lessonId}/completion", tag = TAG,
    params(
        ("courseId" = String, Path, description = "The course"),
        ("lessonId" = String, Path, description = "The lesson"),
    ),
    responses((status = 200, body = EnrollmentView, description = "My enrollment and progress")))]
async fn complete_lesson(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((course_id, lesson_id)): Path<(String, String)>,
) -> ApiResult {
    let enrollment = courses::complete_lesson(&api.store, &me, &course_id, &lesson_id).await?;
    Ok(HttpResponse::json(200, &enrollment)?)
}

/// Enroll in a published free course (201), for its `accessDays`. Enrolled already:
/// 200, renewed when it had expired. A paid course's instructor enrolls its learners
/// (403 here).
#[utoipa::path(post, path = "/v1/courses/{courseId}/enrollment", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    responses(
        (status = 200, body = EnrollmentView, description = "I was enrolled already"),
        (status = 201, body = EnrollmentView, description = "I am enrolled now"),
    ))]
async fn enroll(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
) -> ApiResult {
    let (status, enrollment) = courses::enroll(&api.store, &me, &course_id).await?;
    Ok(HttpResponse::json(status, &enrollment)?)
}

/// My enrollment in a course and my progress (404 when I am not enrolled).
#[utoipa::path(get, path = "/v1/courses/{courseId}/enrollment", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    responses((status = 200, body = EnrollmentView, description = "My enrollment")))]
async fn my_enrollment(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
) -> ApiResult {
    let enrollment = courses::my_enrollment(&api.store, &me.user_id, &course_id).await?;
    Ok(HttpResponse::json(200, &enrollment)?)
}

/// Leave a course: my enrollment and progress go (a course-linked community drops me).
#[utoipa::path(delete, path = "/v1/courses/{courseId}/enrollment", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    responses((status = 204, description = "No longer enrolled")))]
async fn unenroll(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
) -> ApiResult {
    courses::unenroll(&api.store, &me, &course_id).await?;
    Ok(HttpResponse::no_content())
}

/// The course's learners and their progress (its instructor).
#[utoipa::path(get, path = "/v1/courses/{courseId}/enrollments", tag = TAG,
    params(("courseId" = String, Path, description = "The course"), PageParams),
    responses((status = 200, body = Page<EnrollmentView>, description = "A page of enrollments")))]
async fn list_enrollments(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = courses::course_enrollments(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &course_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Enroll a learner (the instructor; 201), or change when their enrollment ends (200).
/// Published or not, free or paid.
#[utoipa::path(put, path = "/v1/courses/{courseId}/enrollments/{userId}", tag = TAG,
    params(
        ("courseId" = String, Path, description = "The course"),
        ("userId" = String, Path, description = "The learner"),
    ),
    request_body(content = EnrollmentGrant, example = json!({"expiresAt": "2027-06-30T00:00:00Z"})),
    responses(
        (status = 200, body = EnrollmentView, description = "The changed enrollment"),
        (status = 201, body = EnrollmentView, description = "The new enrollment"),
    ))]
async fn grant_enrollment(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((course_id, user)): Path<(String, String)>,
    JsonOrEmpty(grant): JsonOrEmpty<EnrollmentGrant>,
) -> ApiResult {
    let (status, enrollment) =
        courses::grant_enrollment(&api.store, &me, &course_id, &user_id(&user)?, grant).await?;
    Ok(HttpResponse::json(status, &enrollment)?)
}

/// Revoke a learner's enrollment (the instructor): their progress goes, and a
/// course-linked community drops them.
#[utoipa::path(delete, path = "/v1/courses/{courseId}/enrollments/{userId}", tag = TAG,
    params(
        ("courseId" = String, Path, description = "The course"),
        ("userId" = String, Path, description = "The learner"),
    ),
    responses((status = 204, description = "Revoked")))]
async fn revoke_enrollment(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path((course_id, user)): Path<(String, String)>,
) -> ApiResult {
    courses::revoke_enrollment(&api.store, &me, &course_id, &user_id(&user)?).await?;
    Ok(HttpResponse::no_content())
}

/// My enrollments, each with its course and my progress (at most 50 per page).
#[utoipa::path(get, path = "/v1/me/enrollments", tag = TAG, params(PageParams),
    responses((status = 200, body = Page<EnrollmentView>, description = "A page of my enrollments")))]
async fn my_enrollments(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    query: Query,
) -> ApiResult {
    let page = courses::my_enrollments(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}

/// Review a course I am (or was) enrolled in: new (201) or changed (200). One review
/// per learner; the course's average rating stays exact.
#[utoipa::path(put, path = "/v1/courses/{courseId}/review", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    request_body(content = ReviewInput, example = json!({"rating": 5, "text": "Clear and practical."})),
    responses(
        (status = 200, body = ReviewView, description = "My changed review"),
        (status = 201, body = ReviewView, description = "My new review"),
    ))]
async fn put_review(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
    Json(input): Json<ReviewInput>,
) -> ApiResult {
    let (status, review) = courses::put_review(&api.store, &me, &course_id, input).await?;
    Ok(HttpResponse::json(status, &review)?)
}

/// Delete my review; it leaves the average.
#[utoipa::path(delete, path = "/v1/courses/{courseId}/review", tag = TAG,
    params(("courseId" = String, Path, description = "The course")),
    responses((status = 204, description = "Deleted")))]
async fn delete_review(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
) -> ApiResult {
    courses::delete_review(&api.store, &me, &course_id).await?;
    Ok(HttpResponse::no_content())
}

/// The course's reviews, newest first.
#[utoipa::path(get, path = "/v1/courses/{courseId}/reviews", tag = TAG,
    params(("courseId" = String, Path, description = "The course"), PageParams),
    responses((status = 200, body = Page<ReviewView>, description = "A page of reviews")))]
async fn list_reviews(
    State(api): State<Arc<Api>>,
    Caller(me): Caller,
    Path(course_id): Path<String>,
    query: Query,
) -> ApiResult {
    let page = courses::reviews(
        &api.store,
        api.cursors().await?,
        &me.user_id,
        &course_id,
        query.limit()?,
        query.cursor(),
    )
    .await?;
    Ok(HttpResponse::json(200, &page)?)
}
