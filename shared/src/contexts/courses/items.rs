//! Courses: item types stored in the table (their keys, index keys and entity names),
//! and the views built from them.

use std::collections::BTreeSet;

use super::*;

pub mod keys {
    use super::*;

    pub const META: &str = "META";
    pub const LESSON_PREFIX: &str = "LESSON#";
    pub const ENROLLMENT_PREFIX: &str = "ENROLL#";
    pub const REVIEW_PREFIX: &str = "REVIEW#";
    /// My enrollments, in my partition.
    pub const MY_ENROLLMENT_PREFIX: &str = "ENROLLMENT#";
    /// My reviews, in my partition.
    pub const MY_REVIEW_PREFIX: &str = "CREVIEW#";
    /// GSI2 partition of the published catalog, newest first.
    pub const CATALOG: &str = "COURSES";

    pub fn partition(course_id: &str) -> String {
        format!("COURSE#{course_id}")
    }

    /// `COURSE#<id> / META`.
    pub fn course(course_id: &str) -> Key {
        Key::new(partition(course_id), META)
    }

    /// `COURSE#<id> / LESSON#<lessonId>`.
    pub fn lesson(course_id: &str, lesson_id: &str) -> Key {
        Key::new(partition(course_id), format!("{LESSON_PREFIX}{lesson_id}"))
    }

    /// `COURSE#<id> / ENROLL#<userId>`.
    pub fn enrollment(course_id: &str, user: &UserId) -> Key {
        Key::new(partition(course_id), format!("{ENROLLMENT_PREFIX}{user}"))
    }

    /// `USER#<userId> / ENROLLMENT#<id>`.
    pub fn my_enrollment(user: &UserId, course_id: &str) -> Key {
        Key::new(
            user_partition(user),
            format!("{MY_ENROLLMENT_PREFIX}{course_id}"),
        )
    }

    /// `COURSE#<id> / REVIEW#<userId>`.
    pub fn review(course_id: &str, user: &UserId) -> Key {
        Key::new(partition(course_id), format!("{REVIEW_PREFIX}{user}"))
    }

    /// `USER#<userId> / CREVIEW#<id>`.
    pub fn my_review(user: &UserId, course_id: &str) -> Key {
        Key::new(
            user_partition(user),
            format!("{MY_REVIEW_PREFIX}{course_id}"),
        )
    }

    /// GSI1 partition of a category's published courses.
    pub fn category(category: &str) -> String {
        format!("COURSECAT#{category}")
    }

    /// GSI3 partition of the courses a user teaches.
    pub fn taught_by(instructor: &UserId) -> String {
        format!("TEACHES#{instructor}")
    }

    /// GSI1 partition of a course's reviews, newest first.
    pub fn reviews_of(course_id: &str) -> String {
        format!("CREVIEWS#{course_id}")
    }

    /// The user-side pointer of an item of a course's partition (an enrollment's, a
    /// review's), which goes with it; `None` for the others.
    pub fn pointer_of(course_id: &str, sort_key: &str) -> Option<Key> {
        let user = |prefix: &str| {
            sort_key
                .strip_prefix(prefix)
                .and_then(|u| UserId::parse(u).ok())
        };
        if let Some(user) = user(ENROLLMENT_PREFIX) {
            Some(my_enrollment(&user, course_id))
        } else {
            user(REVIEW_PREFIX).map(|user| my_review(&user, course_id))
        }
    }
}

// ---------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------

/// Who a course is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    Beginner,
    Intermediate,
    Advanced,
}

/// A price in the currency's minor unit (cents); `0` is a free course.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Price {
    /// 0 to 100,000,000 (a million in major units).
    #[validate(range(min = 0, max = 100_000_000, message = "must be 0 to 100000000"))]
    pub amount_cents: i64,
    /// An ISO 4217 code: three capital letters, such as `EUR`.
    #[validate(custom(function = "currency_code"))]
    pub currency: String,
}

impl Price {
    pub fn is_free(&self) -> bool {
        self.amount_cents == 0
    }
}

fn currency_code(code: &str) -> Result<(), validator::ValidationError> {
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        let mut error = validator::ValidationError::new("currency");
        error.message = Some("must be an ISO 4217 code such as EUR".into());
        Err(error)
    }
}

/// `COURSE#<id> / META` (entity `Course`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Course {
    pub course_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub level: Level,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub price: Price,
    #[serde(default)]
    pub published: bool,
    /// How long a learner's own enrollment lasts; none: it does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_days: Option<u32>,
    pub instructor_id: UserId,
    /// The lessons, in order. A lesson's place is its index here.
    #[serde(default)]
    pub lesson_ids: Vec<String>,
    /// Changed only in the transactions that enroll and unenroll.
    #[serde(default)]
    pub enrollment_count: i64,
    /// Changed only in the transactions that write reviews: the average is exact.
    #[serde(default)]
    pub rating_sum: i64,
    #[serde(default)]
    pub rating_count: i64,
    /// The community linked to it, whose members must be enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// Bumped by every change of the settings or the lesson order.
    #[serde(default)]
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Entity for Course {
    const NAME: &'static str = "Course";

    fn key(&self) -> Key {
        keys::course(&self.course_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        let mut index = vec![IndexKey::new(
            Index::Gsi3,
            keys::taught_by(&self.instructor_id),
            &self.course_id,
        )];
        if self.published {
            index.push(IndexKey::new(
                Index::Gsi1,
                keys::category(&self.category),
                &self.course_id,
            ));
            index.push(IndexKey::new(Index::Gsi2, keys::CATALOG, &self.course_id));
        }
        index
    }
}

/// `COURSE#<id> / LESSON#<lessonId>` (entity `Lesson`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lesson {
    pub course_id: String,
    pub lesson_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Open to everyone who may see the course, enrolled or not.
    #[serde(default)]
    pub preview: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
}

impl Entity for Lesson {
    const NAME: &'static str = "Lesson";

    fn key(&self) -> Key {
        keys::lesson(&self.course_id, &self.lesson_id)
    }
}

/// `COURSE#<id> / ENROLL#<userId>` (entity `Enrollment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub course_id: String,
    pub user_id: UserId,
    /// The learner themself (a free course) or the instructor who granted it.
    pub granted_by: UserId,
    pub enrolled_at: String,
    /// RFC 3339, and as epoch seconds for conditions; none: it does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_epoch: Option<i64>,
    /// A string set, grown by `ADD` (so a repeated completion changes nothing).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub completed_lessons: BTreeSet<String>,
    /// When every lesson was first complete: the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_at: Option<String>,
    pub updated_at: String,
}

impl Entity for Enrollment {
    const NAME: &'static str = "Enrollment";

    fn key(&self) -> Key {
        keys::enrollment(&self.course_id, &self.user_id)
    }
}

/// `USER#<userId> / ENROLLMENT#<id>` (entity `EnrollmentOfUser`): points at an
/// [`Enrollment`], which holds the progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyEnrollment {
    pub course_id: String,
    pub user_id: UserId,
    pub enrolled_at: String,
}

impl Entity for MyEnrollment {
    const NAME: &'static str = "EnrollmentOfUser";

    fn key(&self) -> Key {
        keys::my_enrollment(&self.user_id, &self.course_id)
    }
}

/// `COURSE#<id> / REVIEW#<userId>` (entity `CourseReview`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub course_id: String,
    pub user_id: UserId,
    /// 1 to 5.
    pub rating: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Entity for Review {
    const NAME: &'static str = "CourseReview";

    fn key(&self) -> Key {
        keys::review(&self.course_id, &self.user_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        vec![IndexKey::new(
            Index::Gsi1,
            keys::reviews_of(&self.course_id),
            format!("{}#{}", self.updated_at, self.user_id),
        )]
    }
}

/// `USER#<userId> / CREVIEW#<id>` (entity `CourseReviewOfUser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyReview {
    pub course_id: String,
    pub user_id: UserId,
}

impl Entity for MyReview {
    const NAME: &'static str = "CourseReviewOfUser";

    fn key(&self) -> Key {
        keys::my_review(&self.user_id, &self.course_id)
    }
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

/// A course as a reader sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseView {
    pub course_id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub level: Level,
    pub category: String,
    pub tags: Vec<String>,
    pub price: Price,
    pub published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_days: Option<u32>,
    pub instructor_id: UserId,
    pub lesson_count: usize,
    /// Exact: it changes in the same transaction as each enrollment.
    pub enrollment_count: i64,
    /// The mean of the reviews' ratings to two decimals; absent with no reviews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_rating: Option<f64>,
    pub rating_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Course> for CourseView {
    fn from(course: Course) -> Self {
        Self {
            average_rating: average_rating(course.rating_sum, course.rating_count),
            lesson_count: course.lesson_ids.len(),
            course_id: course.course_id,
            title: course.title,
            description: course.description,
            level: course.level,
            category: course.category,
            tags: course.tags,
            price: course.price,
            published: course.published,
            access_days: course.access_days,
            instructor_id: course.instructor_id,
            enrollment_count: course.enrollment_count.max(0),
            rating_count: course.rating_count.max(0),
            community_id: course.community_id,
            created_at: course.created_at,
            updated_at: course.updated_at,
        }
    }
}

/// A lesson, in its course's order. A locked lesson (not a preview, and I am neither
/// enrolled nor its instructor) has no URLs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LessonView {
    pub lesson_id: String,
    pub course_id: String,
    /// 1 for the first lesson.
    pub position: usize,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub preview: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    pub locked: bool,
    /// Whether I completed it (when I am enrolled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
}

/// An enrollment and its progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentView {
    pub course_id: String,
    pub user_id: UserId,
    pub granted_by: UserId,
    pub enrolled_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Not expired: lessons, completions and the course's community are open.
    pub active: bool,
    /// The completed lessons that are still in the course, in its order.
    pub completed_lessons: Vec<String>,
    pub lesson_count: usize,
    /// 0 to 100, rounded down.
    pub progress_percent: u8,
    /// Every lesson was complete once; it stays when lessons are added later.
    pub certificate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_at: Option<String>,
    /// The course (in my enrollments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course: Option<CourseView>,
}

impl EnrollmentView {
    pub fn of(enrollment: Enrollment, course: &Course, now: i64) -> Self {
        let progress = progress(&course.lesson_ids, &enrollment.completed_lessons);
        Self {
            active: is_active(&enrollment, now),
            course_id: enrollment.course_id,
            user_id: enrollment.user_id,
            granted_by: enrollment.granted_by,
            enrolled_at: enrollment.enrolled_at,
            expires_at: enrollment.expires_at,
            completed_lessons: progress.completed,
            lesson_count: course.lesson_ids.len(),
            progress_percent: progress.percent,
            certificate: enrollment.certificate_at.is_some(),
            certificate_at: enrollment.certificate_at,
            course: None,
        }
    }
}

/// A review as readers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub course_id: String,
    pub user_id: UserId,
    pub rating: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Review> for ReviewView {
    fn from(review: Review) -> Self {
        Self {
            course_id: review.course_id,
            user_id: review.user_id,
            rating: review.rating,
            text: review.text,
            created_at: review.created_at,
            updated_at: review.updated_at,
        }
    }
}
