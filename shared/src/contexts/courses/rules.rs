//! Courses: pure rules: progress, expiry, visibility, lesson order and ratings, with no
//! I/O.

use std::collections::BTreeSet;

use super::*;

/// The most lessons a course holds (its order lives on the course item).
pub const MAX_LESSONS: usize = 200;

/// The longest an enrollment may be granted for, in days.
pub const MAX_ACCESS_DAYS: u32 = 3650;

/// A learner's progress through a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The completed lessons that are still in the course, in its order.
    pub completed: Vec<String>,
    /// 0 to 100, rounded down; 0 for a course without lessons.
    pub percent: u8,
}

impl Progress {
    /// Every lesson of a course with lessons is complete.
    pub fn is_complete(&self) -> bool {
        self.percent == 100
    }
}

/// Progress through `lessons` (in order) of a learner who completed `completed`. A
/// lesson removed from the course no longer counts.
pub fn progress(lessons: &[String], completed: &BTreeSet<String>) -> Progress {
    let done: Vec<String> = lessons
        .iter()
        .filter(|l| completed.contains(*l))
        .cloned()
        .collect();
    let percent = if lessons.is_empty() {
        0
    } else {
        u8::try_from(done.len() * 100 / lessons.len()).unwrap_or(100)
    };
    Progress {
        completed: done,
        percent,
    }
}

/// Whether an enrollment is active at `now` (epoch seconds): it has no expiry, or has
/// not reached it.
pub fn is_active(enrollment: &Enrollment, now: i64) -> bool {
    enrollment.expires_at_epoch.is_none_or(|at| at > now)
}

/// The mean rating to two decimals, from the exact sum and count.
pub fn average_rating(sum: i64, count: i64) -> Option<f64> {
    if count <= 0 {
        return None;
    }
    // Integer arithmetic first, so 13/3 is 4.33 on every machine.
    let hundredths = (sum * 1000 / count + 5) / 10;
    Some(hundredths as f64 / 100.0)
}

/// When an enrollment made at `now` (epoch seconds) ends: the expiry the instructor
/// chose (`Some(None)` for none), or else the course's `accessDays` from now.
pub fn expiry(
    chosen: Option<Option<time::OffsetDateTime>>,
    access_days: Option<u32>,
    now: i64,
) -> Option<i64> {
    match chosen {
        Some(at) => at.map(|at| at.unix_timestamp()),
        None => access_days.map(|days| now + i64::from(days) * 86_400),
    }
}

/// The RFC 3339 form of an expiry.
pub fn expiry_text(epoch: i64) -> AppResult<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(epoch)
        .map_err(|e| AppError::internal(format!("bad expiry {epoch}: {e}")))?;
    Ok(format_rfc3339(at))
}

/// Who may see a course: everyone once it is published; before that, its instructor.
pub fn may_see(course: &Course, me: &UserId) -> bool {
    course.published || &course.instructor_id == me
}

/// Whether a lesson's content is open to me: a preview, or I teach the course, or my
/// enrollment is active.
pub fn lesson_open(lesson: &Lesson, teaches: bool, enrolled: bool) -> bool {
    lesson.preview || teaches || enrolled
}

/// The lesson order after putting `lesson` at `position` (1-based; past the end or
/// none: last). A lesson already in the order moves.
pub fn placed(order: &[String], lesson: &str, position: Option<usize>) -> Vec<String> {
    let mut order: Vec<String> = order.iter().filter(|l| *l != lesson).cloned().collect();
    let at = position
        .map(|p| p.saturating_sub(1).min(order.len()))
        .unwrap_or(order.len());
    order.insert(at, lesson.to_owned());
    order
}

/// The 404 of a course that does not exist and of one I may not see.
pub fn no_such_course() -> AppError {
    AppError::NotFound("no such course".into())
}

pub fn no_such_lesson() -> AppError {
    AppError::NotFound("no such lesson in this course".into())
}

pub fn not_instructor() -> AppError {
    AppError::Forbidden("only the course's instructor may do this".into())
}

/// A course or lesson id: a ULID, checked before it becomes part of a key.
pub fn valid_id(raw: &str) -> bool {
    ulid::Ulid::from_string(raw).is_ok_and(|id| id.to_string() == raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lessons(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn progress_counts_only_lessons_still_in_the_course_in_its_order() {
        let progress = progress(&lessons(&["a", "b", "c"]), &set(&["c", "gone", "a"]));

        assert_eq!(progress.completed, lessons(&["a", "c"]));
        assert_eq!(progress.percent, 66);
        assert!(!progress.is_complete());
    }

    #[test]
    fn every_lesson_complete_is_one_hundred_percent_and_no_lessons_is_zero() {
        assert!(progress(&lessons(&["a", "b"]), &set(&["b", "a"])).is_complete());
        assert_eq!(progress(&[], &set(&["a"])).percent, 0);
        assert!(!progress(&[], &set(&[])).is_complete());
    }

    #[test]
    fn the_average_rating_is_rounded_to_two_decimals_from_the_exact_sum() {
        assert_eq!(average_rating(13, 3), Some(4.33));
        assert_eq!(average_rating(14, 3), Some(4.67));
        assert_eq!(average_rating(5, 1), Some(5.0));
        assert_eq!(average_rating(0, 0), None);
    }

    #[test]
    fn an_enrollment_is_active_until_the_second_it_expires() {
        let enrollment = |expires| Enrollment {
            course_id: "c".into(),
            user_id: UserId::parse("u1").unwrap(),
            granted_by: UserId::parse("u1").unwrap(),
            enrolled_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: None,
            expires_at_epoch: expires,
            completed_lessons: BTreeSet::new(),
            certificate_at: None,
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        };

        assert!(is_active(&enrollment(None), 100));
        assert!(is_active(&enrollment(Some(101)), 100));
        assert!(!is_active(&enrollment(Some(100)), 100));
    }

    #[test]
    fn an_expiry_is_the_chosen_one_or_the_courses_access_days() {
        let at = time::OffsetDateTime::from_unix_timestamp(5_000).unwrap();

        assert_eq!(expiry(Some(Some(at)), Some(3), 1_000), Some(5_000));
        assert_eq!(expiry(Some(None), Some(3), 1_000), None);
        assert_eq!(expiry(None, Some(3), 1_000), Some(1_000 + 3 * 86_400));
        assert_eq!(expiry(None, None, 1_000), None);
    }

    #[test]
    fn placing_a_lesson_inserts_or_moves_it_and_clamps_the_position() {
        let order = lessons(&["a", "b", "c"]);

        assert_eq!(placed(&order, "d", None), lessons(&["a", "b", "c", "d"]));
        assert_eq!(placed(&order, "d", Some(1)), lessons(&["d", "a", "b", "c"]));
        assert_eq!(placed(&order, "c", Some(1)), lessons(&["c", "a", "b"]));
        assert_eq!(placed(&order, "a", Some(99)), lessons(&["b", "c", "a"]));
        assert_eq!(placed(&order, "b", Some(0)), lessons(&["b", "a", "c"]));
    }
}
