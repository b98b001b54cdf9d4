//! The courses context's part of account erasure and export: my enrollments (with
//! their progress), my reviews (out of each course's rating), and the courses I teach
//! (each goes with its lessons, its learners' enrollments and its reviews).

use crate::contexts::courses::{self, keys};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ErasureStep, ExportStep, Next};
use crate::table::keys::user_partition;
use crate::table::store::{Index, Key, KeyQuery, Store};

const PREFIXES: &[&str] = &[keys::MY_ENROLLMENT_PREFIX, keys::MY_REVIEW_PREFIX];

pub const STEPS: AccountSteps = AccountSteps {
    context: "courses",
    erasure: &[
        ErasureStep {
            name: "enrollments-and-reviews",
            run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
        },
        ErasureStep {
            name: "courses-taught",
            run: |store, me, _cursor, limit| Box::pin(erase_taught(store, me, limit)),
        },
    ],
    export: &[
        ExportStep {
            name: "enrollments-and-reviews",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_pointed(
                        store,
                        &user_partition(me),
                        PREFIXES,
                        cursor,
                        limit,
                        |sk| {
                            if let Some(course) = sk.strip_prefix(keys::MY_ENROLLMENT_PREFIX) {
                                Some(keys::enrollment(course, me))
                            } else {
                                sk.strip_prefix(keys::MY_REVIEW_PREFIX)
                                    .map(|course| keys::review(course, me))
                            }
                        },
                    )
                    .await
                })
            },
        },
        ExportStep {
            name: "courses-taught",
            run: |store, me, cursor, limit| Box::pin(export_taught(store, me, cursor, limit)),
        },
    ],
    nothing_because: None,
};

/// Drains my pointers: an enrollment leaves its course (with the count), a review
/// leaves its course's rating.
async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        PREFIXES,
        cursor,
        limit,
        |item| async move {
            let sk = jobs::attr(&item, "SK").unwrap_or_default();
            let course = jobs::attr(&item, "courseId").unwrap_or_default();
            if sk.starts_with(keys::MY_ENROLLMENT_PREFIX) {
                courses::leave_on_erasure(store, me, course).await?;
            } else if sk.starts_with(keys::MY_REVIEW_PREFIX) {
                courses::forget_review(store, me, course).await?;
            }
            Ok(Vec::<Key>::new())
        },
    )
    .await
}

/// The courses I teach, one at a time from GSI3: each is deleted with everything in
/// its partition (a page per call).
async fn erase_taught(store: &Store, me: &UserId, limit: u32) -> AppResult<Chunk> {
    let (items, _) = store
        .query(
            &KeyQuery::partition(keys::taught_by(me))
                .on(Index::Gsi3)
                .limit(1),
        )
        .await?;
    let Some(course) = items.first().and_then(|i| jobs::attr(i, "courseId")) else {
        return Ok(Chunk::done(0));
    };
    let work = courses::erase_course_page(store, course, limit).await?;
    Ok(Chunk {
        work,
        next: Next::Continue(None),
    })
}

/// The courses I teach, each with its lessons: a page of GSI3 (ten courses) per call.
async fn export_taught(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<jobs::ExportChunk> {
    let query = KeyQuery::partition(keys::taught_by(me))
        .on(Index::Gsi3)
        .limit(limit.clamp(1, 10))
        .start(jobs::decode_page_key(cursor.as_deref())?);
    let (items, next) = store.query(&query).await?;
    let mut records = Vec::new();
    for item in items {
        let course = jobs::attr(&item, "courseId").unwrap_or_default().to_owned();
        records.push(jobs::export_record(item)?);
        let lessons = store
            .query_matching(
                KeyQuery::partition(keys::partition(&course)).prefix(keys::LESSON_PREFIX),
            )
            .await?;
        for lesson in lessons {
            records.push(jobs::export_record(lesson)?);
        }
    }
    Ok(jobs::ExportChunk {
        records,
        next: match next {
            Some(key) => Next::Continue(jobs::encode_page_key(Some(key))?),
            None => Next::Done,
        },
    })
}
