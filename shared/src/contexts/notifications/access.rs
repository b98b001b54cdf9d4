//! Notifications: access patterns: the reads this context serves from the table.

use super::*;

/// The stored notification if it is still unread (a redelivered record re-pushes it).
pub(super) async fn unread_again(
    store: &Store,
    user: &UserId,
    notification_id: &str,
) -> AppResult<Option<Notification>> {
    let stored: Option<Notification> = store
        .get(&keys::notification(user, notification_id))
        .await?;
    Ok(stored.filter(|n| !n.read))
}

/// Up to a few actors still counted in a group: Query `PK=USER#<r> AND
/// begins_with(SK, NOTIFACTOR#<groupId>#)`.
pub(super) async fn group_actors(
    store: &Store,
    recipient: &UserId,
    group_id: &str,
) -> AppResult<Vec<UserId>> {
    let prefix = format!("NOTIFACTOR#{group_id}#");
    let (items, _) = store
        .query(
            &KeyQuery::partition(crate::table::keys::user_partition(recipient))
                .prefix(prefix.clone())
                .limit(u32::try_from(RECENT_ACTORS + 1).unwrap_or(4)),
        )
        .await?;
    Ok(items
        .iter()
        .filter_map(|item| item.get(store::SK)?.as_s().ok()?.strip_prefix(&prefix))
        .filter_map(|id| UserId::parse(id).ok())
        .collect())
}

// ---------------------------------------------------------------------------------
// Access patterns: the recipient (API side)
// ---------------------------------------------------------------------------------

/// Unread count: GetItem `USER#<me> / NOTIFCOUNT`.
pub async fn unread_count(store: &Store, me: &UserId) -> AppResult<UnreadCount> {
    let unread = store
        .get_item(&keys::counter(me))
        .await?
        .and_then(|item| item.get("unread").and_then(|v| v.as_n().ok()).cloned())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(UnreadCount {
        unread: u64::try_from(unread).unwrap_or(0),
    })
}

/// My notifications, newest activity first: Query GSI2 `NOTIFS#<me>` (or, unread only,
/// GSI1 `UNREAD#<me>`), descending; then one BatchGetItem that both hides users blocked
/// either way and names the actors as I may see them.
pub async fn list_notifications(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    unread_only: bool,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<NotificationView>> {
    let scope = format!("notifications:{me}:unread={unread_only}");
    let start = cursor.map(|c| cursors.open(me, &scope, c)).transpose()?;
    let (index, partition) = if unread_only {
        (Index::Gsi1, keys::unread_partition(me))
    } else {
        (Index::Gsi2, keys::all_partition(me))
    };
    let mut query = KeyQuery::partition(partition)
        .on(index)
        .limit(limit)
        .start(start);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let notifications: Vec<Notification> = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<_>>()?;
    let items = render(store, me, notifications, HideBlocked(true)).await?;
    let next_cursor = next.map(|k| cursors.seal(me, &scope, &k)).transpose()?;
    Ok(Page { items, next_cursor })
}

/// Renders notifications for their recipient: one BatchGetItem reads the actors'
/// profiles and my connection items with them, so each name is shown as I may see it.
pub async fn views(
    store: &Store,
    me: &UserId,
    notifications: Vec<Notification>,
) -> AppResult<Vec<NotificationView>> {
    render(store, me, notifications, HideBlocked(false)).await
}

/// Whether [`render`] also reads blocks and drops the notifications of blocked actors.
struct HideBlocked(bool);

/// [`views`], and with [`HideBlocked`] the blocks between me and the actors in the same
/// BatchGetItem.
async fn render(
    store: &Store,
    me: &UserId,
    notifications: Vec<Notification>,
    hide_blocked: HideBlocked,
) -> AppResult<Vec<NotificationView>> {
    let actors: Vec<UserId> = notifications
        .iter()
        .map(|n| n.actor_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut keys_to_read = Vec::with_capacity(actors.len() * 4);
    for actor in &actors {
        keys_to_read.push(profiles::keys::profile(actor));
        keys_to_read.push(graph::keys::connection(me, actor));
    }
    if hide_blocked.0 {
        keys_to_read.extend(graph::block_keys(me, &actors));
        keys_to_read.extend(graph::mute_keys(me, &actors));
    }
    let found = store.batch_get_items(&keys_to_read).await?;
    // Blocked either way, or muted by me: notifications from before stay out of sight.
    let blocked = if hide_blocked.0 {
        let mut hidden = graph::blocked_in(me, found.iter());
        hidden.extend(graph::muted_in(me, found.iter()));
        hidden
    } else {
        HashSet::new()
    };
    let notifications: Vec<Notification> = notifications
        .into_iter()
        .filter(|n| !blocked.contains(&n.actor_id))
        .collect();
    let mut connected = HashSet::new();
    let mut profiles_by_user = HashMap::new();
    for item in found {
        let sk = item
            .get(store::SK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if let Some(other) = sk.strip_prefix("CONN#") {
            connected.insert(other.to_owned());
        } else if sk == "PROFILE"
            && let Ok(profile) = profiles::profile_from_item(item)
        {
            profiles_by_user.insert(profile.user_id.clone(), profile);
        }
    }
    Ok(notifications
        .into_iter()
        .map(|n| {
            let relationship = if &n.actor_id == me {
                Relationship::SelfView
            } else if connected.contains(n.actor_id.as_str()) {
                Relationship::Connection
            } else {
                Relationship::Stranger
            };
            let name = profiles_by_user
                .get(&n.actor_id)
                .and_then(|p| profiles::view_as(p, relationship))
                .map(|v| v.display_name);
            NotificationView {
                summary: summary(&n, name.as_deref()),
                notification_id: n.notification_id,
                kind: n.kind,
                actor_id: n.actor_id,
                actor_ids: n.recent_actor_ids,
                actor_count: n.actor_count,
                object: n.object,
                read: n.read,
                created_at: n.created_at,
                updated_at: n.updated_at,
                version: n.version,
            }
        })
        .collect())
}

/// My preferences: GetItem `USER#<me> / NOTIFPREFS` (absent: nothing muted).
pub async fn get_preferences(store: &Store, user: &UserId) -> AppResult<Preferences> {
    Ok(store
        .get(&keys::preferences(user))
        .await?
        .unwrap_or_default())
}
