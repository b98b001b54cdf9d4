//! Notifications: use cases: the operations the edge calls, which write.

use super::*;

// ---------------------------------------------------------------------------------
// Access patterns: the notifier (stream side)
// ---------------------------------------------------------------------------------

/// Applies one stream record: creates or updates the notifications it calls for and
/// returns those that are new or changed (to push), or, for a removed unread
/// notification (TTL expiry), keeps the counter exact.
pub async fn apply_change(store: &Store, change: &Change) -> AppResult<Vec<Notification>> {
    if change.kind == ChangeKind::Remove {
        forget_removed(store, change).await?;
        for intent in withdrawn_of(change)? {
            withdraw(store, &intent).await?;
        }
        return Ok(vec![]);
    }
    if change.kind == ChangeKind::Insert && change.entity() == Some(PostFanout::NAME) {
        let job: PostFanout = store::from_item(change.new.clone().unwrap_or_default())?;
        return fan_out_post(store, &job).await;
    }
    if change.kind == ChangeKind::Insert && change.entity() == Some(events::EventFanout::NAME) {
        let job: events::EventFanout = store::from_item(change.new.clone().unwrap_or_default())?;
        return fan_out_event(store, &job).await;
    }
    if change.entity() == Some(moderation::Appeal::NAME) {
        return Ok(match appeal_notice(change)? {
            Some(intent) => deliver(store, &intent).await?.into_iter().collect(),
            None => vec![],
        });
    }
    if change.entity() == Some(moderation::AuditEntry::NAME) {
        return Ok(match account_notice(change)? {
            Some(intent) => deliver(store, &intent).await?.into_iter().collect(),
            None => vec![],
        });
    }
    if change.entity() == Some(moderation::ReviewItem::NAME) {
        return Ok(match hidden_notice(change)? {
            Some(intent) => deliver(store, &intent).await?.into_iter().collect(),
            None => vec![],
        });
    }
    if let Some(job) = post_fanout_of(change)? {
        // Started once: a redelivered topic record finds the first step there (or, after
        // the fan-out ended, starts it again; the notifications are the same ones).
        match store.put_if(job.item()?, Condition::absent(STEP_NEW)).await {
            Ok(()) => {}
            Err(error) if error.failed(STEP_NEW) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let mut delivered = Vec::new();
    for intent in intents_of(change)? {
        if let Some(notification) = deliver(store, &intent).await? {
            delivered.push(notification);
        }
    }
    Ok(delivered)
}

/// Creates (or folds into its group) one notification unless the recipient muted its
/// type or either user blocks the other. `None`: nothing changed (muted, blocked, or a
/// redelivered record).
pub async fn deliver(store: &Store, intent: &Intent) -> AppResult<Option<Notification>> {
    let preferences = get_preferences(store, &intent.recipient).await?;
    if preferences.muted.contains(&intent.kind) {
        return Ok(None);
    }
    if graph::silenced(store, &intent.recipient, &intent.actor).await? {
        return Ok(None);
    }
    if intent.grouped {
        return deliver_grouped(store, intent).await;
    }
    let notification = fresh(intent);
    let result = naming(
        store,
        &notification.user_id,
        &intent.actor,
        &notification.notification_id,
    )?
    .put_entity(&notification, Some(Condition::absent(NOTIFICATION_NEW)))
    .update(&keys::counter(&notification.user_id), count(1), None)
    .commit()
    .await;
    match result {
        Ok(()) => Ok(Some(notification)),
        // The recipient or the actor deleted their account.
        Err(error) if error.failed(ACCOUNT_ALIVE) || error.failed(ACTOR_ALIVE) => Ok(None),
        // The notification exists: this record was applied before, perhaps by an
        // attempt that died before pushing. Push it again while unread.
        Err(error) if error.failed(NOTIFICATION_NEW) => {
            unread_again(store, &notification.user_id, &notification.notification_id).await
        }
        Err(error) => Err(error.into()),
    }
}

/// A chat message for a member who had no connection subscribed to its room: one
/// notification per (recipient, room), unread again with each newer message. Applied in
/// message-id order (a room's records share a stream shard), so a message no newer than
/// the group's latest was applied before: a redelivery, which only re-pushes. `None`:
/// nothing to push (muted, blocked, or already read).
pub async fn notify_message(
    store: &Store,
    recipient: &UserId,
    sender: &UserId,
    room_id: &str,
    message_id: &str,
    at: &str,
) -> AppResult<Option<Notification>> {
    if recipient == sender {
        return Ok(None);
    }
    let preferences = get_preferences(store, recipient).await?;
    if preferences.muted.contains(&NotificationType::Message)
        || graph::blocked_between(store, recipient, sender).await?
    {
        return Ok(None);
    }
    let intent = Intent {
        recipient: recipient.clone(),
        actor: sender.clone(),
        kind: NotificationType::Message,
        object: NotificationObject {
            room_id: Some(room_id.to_owned()),
            message_id: Some(message_id.to_owned()),
            ..NotificationObject::default()
        },
        at: at.to_owned(),
        identity: format!("room|{room_id}"),
        grouped: true,
    };
    let group_id = intent.notification_id();
    let key = keys::notification(recipient, &group_id);
    for _ in 0..GROUP_ATTEMPTS {
        let existing: Option<Notification> = store.get(&key).await?;
        if let Some(group) = &existing
            && group.object.message_id.as_deref() >= Some(message_id)
        {
            return Ok(existing.filter(|g| !g.read));
        }
        let turns_unread = existing.as_ref().is_none_or(|g| g.read);
        let condition = group_unchanged(existing.as_ref());
        let group = match existing {
            None => fresh(&intent),
            Some(group) => {
                // Counts distinct senders (among those it remembers), not messages.
                let known_sender = group.recent_actor_ids.contains(sender);
                let mut folded = fold_into_group(Some(group), &intent);
                if known_sender {
                    folded.actor_count = folded.actor_count.saturating_sub(1).max(1);
                }
                folded
            }
        };
        // The sender's marker: every sender of the group is known to account erasure.
        let mut transaction = naming(store, recipient, sender, &group_id)?
            .put_entity(&group, Some(condition))
            .put_entity(&actor_marker(recipient, &group_id, sender), None);
        if turns_unread {
            transaction = transaction.update(&keys::counter(recipient), count(1), None);
        }
        match transaction.commit().await {
            Ok(()) => return Ok(Some(group)),
            Err(error) if error.failed(ACCOUNT_ALIVE) || error.failed(ACTOR_ALIVE) => {
                return Ok(None);
            }
            // Someone changed the group since we read it: read again.
            Err(error) if error.failed(GROUP_UNCHANGED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the message notification kept changing; the record is retried".into(),
    ))
}

pub(super) async fn deliver_grouped(
    store: &Store,
    intent: &Intent,
) -> AppResult<Option<Notification>> {
    let group_id = intent.notification_id();
    let key = keys::notification(&intent.recipient, &group_id);
    let marker = actor_marker(&intent.recipient, &group_id, &intent.actor);
    for _ in 0..GROUP_ATTEMPTS {
        let existing: Option<Notification> = store.get(&key).await?;
        // The counter moves only when the group turns unread (new, or read before).
        let turns_unread = existing.as_ref().is_none_or(|g| g.read);
        let condition = group_unchanged(existing.as_ref());
        let group = fold_into_group(existing, intent);
        let mut transaction = naming(store, &intent.recipient, &intent.actor, &group_id)?
            .put_entity(&marker, Some(Condition::absent(ACTOR_NEW)))
            .put_entity(&group, Some(condition));
        if turns_unread {
            transaction = transaction.update(&keys::counter(&group.user_id), count(1), None);
        }
        match transaction.commit().await {
            Ok(()) => return Ok(Some(group)),
            // The recipient deleted their account.
            Err(error) if error.failed(ACCOUNT_ALIVE) || error.failed(ACTOR_ALIVE) => {
                return Ok(None);
            }
            // This actor already counts: a redelivered reaction (re-pushed while
            // unread, as above).
            Err(error) if error.failed(ACTOR_NEW) => {
                return unread_again(store, &intent.recipient, &group_id).await;
            }
            // Someone changed the group since we read it: read again.
            Err(error) if error.failed(GROUP_UNCHANGED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the grouped notification kept changing; the record is retried".into(),
    ))
}

/// Takes one actor out of their group: TransactWriteItems — Delete the actor's marker
/// (`attribute_exists`: an actor leaves once, so a redelivered REMOVE changes nothing)
/// and Put the smaller group, or Delete it when nobody is left, under `version`. A deleted
/// unread group leaves the unread count through its own REMOVE record
/// ([`forget_removed`]), like an expired one.
pub(super) async fn withdraw(store: &Store, intent: &Intent) -> AppResult<()> {
    let group_id = intent.notification_id();
    let key = keys::notification(&intent.recipient, &group_id);
    let marker = keys::group_actor(&intent.recipient, &group_id, &intent.actor);
    for _ in 0..GROUP_ATTEMPTS {
        let existing: Option<Notification> = store.get(&key).await?;
        let mut transaction = store
            .transaction()
            .delete(&marker, Some(Condition::present(ACTOR_COUNTED)));
        if let Some(group) = existing {
            let unchanged = group_unchanged(Some(&group));
            let others = if group.recent_actor_ids.iter().all(|a| a == &intent.actor) {
                group_actors(store, &intent.recipient, &group_id).await?
            } else {
                vec![]
            };
            transaction = match shrink_group(group, &intent.actor, &others) {
                Some(smaller) => transaction.put_entity(&smaller, Some(unchanged)),
                None => transaction.delete(&key, Some(unchanged)),
            };
        }
        match transaction.commit().await {
            Ok(()) => return Ok(()),
            // Not (or no longer) counted: withdrawn before, or never notified.
            Err(error) if error.failed(ACTOR_COUNTED) => return Ok(()),
            // Someone changed the group since we read it: read again.
            Err(error) if error.failed(GROUP_UNCHANGED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the grouped notification kept changing; the record is retried".into(),
    ))
}

/// Account erasure: takes `actor` out of `recipient`'s notification `notification_id`
/// (its marker, its recent actors, its count), or deletes the notification when
/// nobody else is left in it. A notification that no longer names the actor (withdrawn
/// before, or a redelivered erasure chunk) is left as it is.
#[tracing::instrument(skip(store))]
pub async fn forget_actor(
    store: &Store,
    recipient: &UserId,
    notification_id: &str,
    actor: &UserId,
) -> AppResult<()> {
    let key = keys::notification(recipient, notification_id);
    let marker = keys::group_actor(recipient, notification_id, actor);
    for _ in 0..GROUP_ATTEMPTS {
        let counted = store.get_item(&marker).await?.is_some();
        let Some(group) = store.get::<Notification>(&key).await? else {
            if counted {
                store.batch_delete(&[marker]).await?;
            }
            return Ok(());
        };
        if !counted && group.actor_id != *actor && !group.recent_actor_ids.contains(actor) {
            return Ok(());
        }
        let unchanged = group_unchanged(Some(&group));
        let others = if group.recent_actor_ids.iter().all(|a| a == actor) {
            group_actors(store, recipient, notification_id).await?
        } else {
            vec![]
        };
        let mut transaction = store.transaction();
        if counted {
            transaction = transaction.delete(&marker, Some(Condition::present(ACTOR_COUNTED)));
        }
        transaction = match shrink_group(group, actor, &others) {
            Some(smaller) => transaction.put_entity(&smaller, Some(unchanged)),
            None => transaction.delete(&key, Some(unchanged)),
        };
        match transaction.commit().await {
            Ok(()) => return Ok(()),
            // Someone changed the group or the marker since we read them: read again.
            Err(error) if error.failed(GROUP_UNCHANGED) || error.failed(ACTOR_COUNTED) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the notification kept changing; the erasure chunk is retried".into(),
    ))
}

/// A removed notification (TTL expiry) that was unread leaves the count. The processed
/// marker is written in the same transaction as the decrement, so a redelivered REMOVE
/// changes nothing; a missing counter (the account was deleted) is left missing.
pub(super) async fn forget_removed(store: &Store, change: &Change) -> AppResult<()> {
    let Some(old) = change.old.as_ref().filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    let Ok(removed) = store::from_item::<Notification>(old.clone()) else {
        return Ok(());
    };
    if removed.read {
        return Ok(());
    }
    let marker = ProcessedRecord {
        event_id: change.event_id.clone(),
        expires_at: now_epoch_seconds() + PROCESSED_TTL_SECONDS,
    };
    let result = store
        .transaction()
        .put_entity(&marker, Some(Condition::absent(RECORD_NEW)))
        .update(
            &keys::counter(&removed.user_id),
            Expr::new("ADD unread :delta").value(":delta", AttributeValue::N("-1".into())),
            Some(Condition::new(
                COUNTER_POSITIVE,
                Expr::new("attribute_exists(PK) AND unread > :zero")
                    .value(":zero", AttributeValue::N("0".into())),
            )),
        )
        .commit()
        .await;
    match result {
        Ok(()) => Ok(()),
        // Applied before, or nothing left to count down.
        Err(error) if error.failed(RECORD_NEW) || error.failed(COUNTER_POSITIVE) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

// The conditions of the notifier's transactions, by name.
/// The recipient has no deletion tombstone.
pub(super) const ACCOUNT_ALIVE: &str = "account_alive";

/// The actor has no deletion tombstone: once it is written, nothing new names them.
pub(super) const ACTOR_ALIVE: &str = "actor_alive";

/// The notification is not stored yet.
pub(super) const NOTIFICATION_NEW: &str = "notification_new";

/// The actor's marker in a group is not stored yet.
pub(super) const ACTOR_NEW: &str = "actor_new";

/// The actor's marker in a group is stored.
pub(super) const ACTOR_COUNTED: &str = "actor_counted";

/// The group is as it was read (absent, or at the version read).
pub(super) const GROUP_UNCHANGED: &str = "group_unchanged";

/// The stream record has not been applied before.
pub(super) const RECORD_NEW: &str = "record_new";

/// The unread counter exists and is above zero.
pub(super) const COUNTER_POSITIVE: &str = "counter_positive";

/// A notification being marked read is still unread.
pub(super) const STILL_UNREAD: &str = "still_unread";

/// Mark one read: TransactWriteItems — Update the notification (`read = false` →
/// true, leaves the unread index, bumps `version`) + `ADD unread -1`. Already read is a
/// no-op; another user's or a missing notification is a 404.
pub async fn mark_read(store: &Store, me: &UserId, notification_id: &str) -> AppResult<()> {
    if !valid_notification_id(notification_id) {
        return Err(AppError::NotFound("no such notification".into()));
    }
    let key = keys::notification(me, notification_id);
    match mark_read_items(store, me, std::slice::from_ref(&key)).await {
        Ok(()) => Ok(()),
        Err(AppError::Conflict(_)) => match store.get::<Notification>(&key).await? {
            Some(_) => Ok(()),
            None => Err(AppError::NotFound("no such notification".into())),
        },
        Err(other) => Err(other),
    }
}

/// Mark all read, bounded: one Query of GSI1 `UNREAD#<me>` (at most [`MARK_ALL_PAGE`])
/// and transactions of 24 notifications + the counter. Work per call is constant; a
/// user with more unread calls again while `more` is true (the client loops), so the
/// total is O(unread) spread over calls that each stay far below the API timeout.
pub async fn mark_all_read(store: &Store, me: &UserId) -> AppResult<MarkAllResult> {
    let mut query = KeyQuery::partition(keys::unread_partition(me))
        .on(Index::Gsi1)
        .limit(MARK_ALL_PAGE);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let keys_found: Vec<Key> = items
        .iter()
        .filter_map(|item| {
            let pk = item.get(store::PK)?.as_s().ok()?;
            let sk = item.get(store::SK)?.as_s().ok()?;
            Some(Key::new(pk.clone(), sk.clone()))
        })
        .collect();
    let mut marked = 0u32;
    for chunk in keys_found.chunks(MARK_ALL_CHUNK) {
        match mark_read_items(store, me, chunk).await {
            Ok(()) => marked += u32::try_from(chunk.len()).unwrap_or(0),
            // One of them was read meanwhile (or the index lagged): go one by one.
            Err(AppError::Conflict(_)) => {
                for key in chunk {
                    match mark_read_items(store, me, std::slice::from_ref(key)).await {
                        Ok(()) => marked += 1,
                        Err(AppError::Conflict(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
            Err(other) => return Err(other),
        }
    }
    Ok(MarkAllResult {
        marked,
        more: next.is_some(),
    })
}

/// One transaction: each notification read (if it was unread), the counter lowered by
/// their number. Any already read cancels all (a 409), so the count stays exact.
pub(super) async fn mark_read_items(
    store: &Store,
    me: &UserId,
    notifications: &[Key],
) -> AppResult<()> {
    let mut transaction = store.transaction();
    for key in notifications {
        let update = Expr::new("SET #read = :true, version = version + :one REMOVE GSI1PK, GSI1SK")
            .name("#read", "read")
            .value(":true", AttributeValue::Bool(true))
            .value(":one", AttributeValue::N("1".into()));
        let unread = Expr::new("#read = :false").value(":false", AttributeValue::Bool(false));
        transaction = transaction.update(key, update, Some(Condition::new(STILL_UNREAD, unread)));
    }
    let delta = -i64::try_from(notifications.len()).unwrap_or(0);
    // Any already read fails `STILL_UNREAD`: a 409, and the caller goes one by one.
    Ok(transaction
        .update(&keys::counter(me), count(delta), None)
        .commit()
        .await?)
}

/// Replace my preferences: PutItem `USER#<me> / NOTIFPREFS`.
pub async fn set_preferences(
    store: &Store,
    me: &UserId,
    input: PreferencesInput,
) -> AppResult<Preferences> {
    let stored = NotificationPreferences {
        user_id: me.clone(),
        preferences: Preferences {
            muted: input.muted.into_iter().collect(),
        },
    };
    store.put(stored.item()?).await?;
    Ok(stored.preferences)
}

/// Pushes a stored notification to every open connection of its recipient, with the
/// recipient's unread count.
pub async fn push(pusher: &Pusher, store: &Store, notification: Notification) -> AppResult<Report> {
    let recipient: UserId = notification.user_id.clone();
    let open = crate::contexts::realtime::connections_of(store, &recipient).await?;
    if open.is_empty() {
        return Ok(Report::default());
    }
    let unread = unread_count(store, &recipient).await?;
    let view = views(store, &recipient, vec![notification])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("a rendered notification went missing"))?;
    let frame = NotificationFrame::new(view, unread.unread);
    let data = serde_json::to_vec(&frame).map_err(AppError::internal)?;
    let targets: Vec<_> = open.iter().map(|c| c.target()).collect();
    Ok(pusher.broadcast(store, &targets, &data).await)
}

/// The fan-out step is not stored yet.
const STEP_NEW: &str = "step_new";

/// The fan-out step is still there (not run before).
const STEP_THERE: &str = "step_there";

/// One step of an [`events::EventFanout`]: a page of the occurrence's (or the
/// event's) attendees is told (16 at a time, the actor, muted types and blocks left
/// out), then the next step is written and this one deleted in one transaction
/// conditioned on this one, as [`fan_out_post`] does.
#[tracing::instrument(skip(store), fields(event_id = %job.event_id, step = job.step))]
pub async fn fan_out_event(
    store: &Store,
    job: &events::EventFanout,
) -> AppResult<Vec<Notification>> {
    use futures_util::StreamExt;
    let (recipients, next) = events::audience_page(
        store,
        &job.event_id,
        &job.occurrence,
        events::EVENT_FANOUT_PAGE,
        job.start.clone(),
    )
    .await?;
    let reminder = job.kind == events::FanoutKind::Reminder;
    let results: Vec<AppResult<Option<Notification>>> = futures_util::stream::iter(
        recipients
            .into_iter()
            .filter(|r| reminder || r != &job.actor_id),
    )
    .map(|recipient| async move { deliver(store, &event_intent(job, recipient)).await })
    .buffer_unordered(16)
    .collect()
    .await;
    let mut delivered = Vec::new();
    for result in results {
        if let Some(notification) = result? {
            delivered.push(notification);
        }
    }
    let mut transaction = store
        .transaction()
        .delete(&job.key(), Some(Condition::present(STEP_THERE)));
    if let Some(start) = next {
        let following = events::EventFanout {
            step: job.step + 1,
            start: Some(start),
            ..job.clone()
        };
        transaction = transaction.put_entity(&following, None);
    }
    match transaction.commit().await {
        Ok(()) => Ok(delivered),
        Err(error) if error.failed(STEP_THERE) => Ok(vec![]),
        Err(error) => Err(error.into()),
    }
}

/// One step of a [`PostFanout`]: a page of the community's followers (or members) is
/// notified (16 at a time; the author, muted types and blocks left out as everywhere),
/// then the next step is written and this one deleted in one transaction, conditioned
/// on this one being there, so a step is run to its end once.
#[tracing::instrument(skip(store), fields(topic_id = %job.topic_id, step = job.step))]
pub async fn fan_out_post(store: &Store, job: &PostFanout) -> AppResult<Vec<Notification>> {
    use futures_util::StreamExt;
    let (recipients, next) = communities::audience_page(
        store,
        &job.community_id,
        job.announcement,
        POST_FANOUT_PAGE,
        job.start.clone(),
    )
    .await?;
    let results: Vec<AppResult<Option<Notification>>> =
        futures_util::stream::iter(recipients.into_iter().filter(|r| r != &job.author_id))
            .map(|recipient| async move { deliver(store, &post_intent(job, recipient)).await })
            .buffer_unordered(16)
            .collect()
            .await;
    let mut delivered = Vec::new();
    for result in results {
        if let Some(notification) = result? {
            delivered.push(notification);
        }
    }
    let mut transaction = store.transaction().delete(
        &keys::post_fanout(&job.topic_id, job.step),
        Some(Condition::present(STEP_THERE)),
    );
    if let Some(start) = next {
        let following = PostFanout {
            step: job.step + 1,
            start: Some(start),
            ..job.clone()
        };
        transaction = transaction.put_entity(&following, None);
    }
    match transaction.commit().await {
        Ok(()) => Ok(delivered),
        // Run to its end before (a redelivered record): nothing new to push.
        Err(error) if error.failed(STEP_THERE) => Ok(vec![]),
        Err(error) => Err(error.into()),
    }
}
