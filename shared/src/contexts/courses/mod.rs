//! Courses: a catalog of courses with ordered lessons, enrollments that expire, lesson
//! progress and certificates, and reviews with an exact average rating. The contract is
//! `docs/courses.md`; the items are in `docs/data-model.md`.
//!
//! Items (keys in [`keys`]):
//! - `COURSE#<id> / META` entity "Course": the course, its ordered `lessonIds`, its
//!   exact `enrollmentCount`, `ratingSum` and `ratingCount`. A published course carries
//!   GSI2 `COURSES` / `<id>` (the catalog, newest first) and GSI1
//!   `COURSECAT#<category>` / `<id>`; every course carries GSI3 `TEACHES#<instructor>`
//!   / `<id>` (the courses I teach, and erasure).
//! - `COURSE#<id> / LESSON#<lessonId>` entity "Lesson".
//! - `COURSE#<id> / ENROLL#<userId>` entity "Enrollment": its expiry and the lessons
//!   completed; its pointer `USER#<userId> / ENROLLMENT#<id>` entity
//!   "EnrollmentOfUser" (my enrollments, and erasure).
//! - `COURSE#<id> / REVIEW#<userId>` entity "CourseReview", on GSI1 `CREVIEWS#<id>` /
//!   `<updatedAt>#<userId>` (newest first); its pointer `USER#<userId> / CREVIEW#<id>`
//!   entity "CourseReviewOfUser".
//!
//! Courses depend on no other context: communities link to them, and the feed turns
//! completed lessons and courses into activities from the stream.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use validator::Validate;

use crate::core::auth::Principal;
use crate::core::cursor::{CursorCodec, Page};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, format_rfc3339, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::{Entity, IndexKey};
use crate::table::keys::user_partition;
use crate::table::store::{self, AttributeValue, Expr, Index, Key, KeyQuery, Returning, Store};
use crate::table::transaction::{Condition, WriteError, commit_retrying};

pub mod erasure;

mod access;
mod input;
mod items;
mod rules;
mod use_cases;

pub use access::*;
pub use input::*;
pub use items::*;
pub use rules::*;
pub use use_cases::*;
