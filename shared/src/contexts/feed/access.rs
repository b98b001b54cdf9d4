//! Feed: access patterns: the reads this context serves from the table.

use super::*;

/// The activity if `viewer` may see it: live, not hidden by a block either way, and
/// its visibility allows the viewer. Anything else is a 404 (existence is not revealed).
pub async fn visible_activity(
    store: &Store,
    viewer: &UserId,
    activity_id: &str,
) -> AppResult<Activity> {
    let not_found = || AppError::NotFound(format!("no activity {activity_id}"));
    let activity_id = parse_activity_id(activity_id)?;
    let activity: Activity = store
        .get(&keys::activity(&activity_id))
        .await?
        .filter(|a: &Activity| !a.deleted)
        .ok_or_else(not_found)?;
    if !activity.shown_to(viewer) {
        return Err(not_found());
    }
    let is_author = &activity.author_id == viewer;
    if !is_author {
        if graph::blocked_between(store, viewer, &activity.author_id).await? {
            return Err(not_found());
        }
        let is_connection = activity.visibility == ActivityVisibility::Connections
            && graph::relationship(store, viewer, &activity.author_id).await?
                == graph::Relationship::Connection;
        if !activity.visibility.allows(false, is_connection) {
            return Err(not_found());
        }
    }
    Ok(activity)
}

/// `GET /v1/activities/{id}/comments`: oldest first, one Query per page, commenters the
/// viewer blocks (or is blocked by) hidden.
pub async fn list_comments(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    activity_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Comment>> {
    let activity = visible_activity(store, viewer, activity_id).await?;
    let scope = format!("activity-comments:{}", activity.activity_id);
    let start = cursor
        .map(|c| cursors.open(viewer, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::activity_partition(&activity.activity_id))
                .prefix("COMMENT#")
                .limit(limit)
                .start(start),
        )
        .await?;
    let comments = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<Comment>>>()?;
    let authors: Vec<UserId> = comments.iter().map(|c| c.author_id.clone()).collect();
    let blocked = graph::blocked_among(store, viewer, &authors).await?;
    let items = comments
        .into_iter()
        .filter(|c| !blocked.contains(&c.author_id))
        .map(|c| c.for_viewer(viewer))
        .collect();
    let next_cursor = next
        .map(|key| cursors.seal(viewer, &scope, &key))
        .transpose()?;
    Ok(Page { items, next_cursor })
}
