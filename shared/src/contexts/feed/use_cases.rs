//! Feed: use cases: the operations the edge calls, which write.

use super::*;

// The conditions of the feed's transactions, by name.
/// The activity exists and is not deleted.
pub(super) const ACTIVITY_LIVE: &str = "activity_live";

/// No answerAccepted activity was published for this reply in this topic yet.
pub(super) const ANSWER_UNPUBLISHED: &str = "answer_unpublished";

/// The activity is not stored yet (a redelivered source finds it).
pub(super) const ACTIVITY_NEW: &str = "activity_new";

/// The like, or the comment, is not stored yet.
pub(super) const REACTION_NEW: &str = "reaction_new";

/// The like, or the comment, is stored.
pub(super) const REACTION_THERE: &str = "reaction_there";

/// The fan-out step is not queued yet.
pub(super) const STEP_NEW: &str = "step_new";

/// Puts a new activity and its pointer in the author's partition, plus `extra` items, in
/// one transaction. Returns false when the activity already exists (a redelivered
/// source); a failed `ACTIVITY_LIVE` condition of `extra` (the shared activity is gone)
/// is a 404.
pub(super) async fn insert_activity<'a>(
    store: &'a Store,
    activity: &Activity,
    extra: impl FnOnce(Transaction<'a>) -> Transaction<'a>,
) -> AppResult<bool> {
    let transaction = store
        .transaction()
        .put_entity(activity, Some(Condition::absent(ACTIVITY_NEW)))
        .put_entity(&AuthoredActivity::of(activity), None);
    match extra(transaction).commit().await {
        Ok(()) => Ok(true),
        Err(error) if error.failed(ACTIVITY_LIVE) => Err(AppError::NotFound(
            "the activity does not exist or was deleted".into(),
        )),
        Err(error) if error.failed(ACTIVITY_NEW) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Soft-deletes an activity: content scrubbed, `deleted` set, TTL set. Returns false when
/// it was already deleted or does not exist (or is not `author`'s).
pub(super) async fn tombstone(
    store: &Store,
    activity_id: &str,
    author: Option<&UserId>,
) -> AppResult<bool> {
    let update =
        Expr::new("SET #deleted = :true, #object = :empty, #expires = :expires REMOVE #text")
            .name("#object", "object")
            .name("#text", "text")
            .name("#expires", store::TTL_ATTRIBUTE)
            .value(":true", AttributeValue::Bool(true))
            .value(":empty", AttributeValue::M(HashMap::new()))
            .value(":expires", n(now_epoch_seconds() + TOMBSTONE_TTL_SECONDS));
    let mut live = Expr::new(match author {
        Some(_) => "attribute_exists(PK) AND #deleted = :false AND authorId = :author",
        None => "attribute_exists(PK) AND #deleted = :false",
    })
    .name("#deleted", "deleted")
    .value(":false", AttributeValue::Bool(false));
    if let Some(author) = author {
        live = live.value(":author", s(author.as_str()));
    }
    match store
        .update(
            &keys::activity(activity_id),
            update,
            Some(Condition::new(ACTIVITY_LIVE, live)),
            Returning::Nothing,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error.failed(ACTIVITY_LIVE) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------
// Client writes
// ---------------------------------------------------------------------------------

/// `POST /v1/activities`: a client-posted activity.
pub async fn post_activity(
    store: &Store,
    me: &UserId,
    input: NewActivity,
) -> AppResult<ActivityView> {
    let ValidActivity {
        verb,
        visibility,
        object,
        text,
    } = validate_new_activity(input)?;
    let activity = Activity {
        activity_id: new_ulid(),
        author_id: me.clone(),
        verb,
        visibility,
        object,
        text,
        created_at: now_rfc3339(),
        deleted: false,
        like_count: 0,
        like_count_shards: BTreeMap::new(),
        comment_count: 0,
        share_count: 0,
        screening: None,
    };
    insert_activity(store, &activity, |t| t).await?;
    Ok(ActivityView::of(activity, Some(false)))
}

/// `GET /v1/activities/{id}`
pub async fn get_activity(
    store: &Store,
    viewer: &UserId,
    activity_id: &str,
) -> AppResult<ActivityView> {
    let activity = visible_activity(store, viewer, activity_id).await?;
    render(store, viewer, vec![activity.entry()], Mutes::Show)
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("no activity {activity_id}")))
}

/// `DELETE /v1/activities/{id}`: only the author; repeatable. The stream then removes it
/// from every feed.
pub async fn delete_activity(store: &Store, me: &UserId, activity_id: &str) -> AppResult<()> {
    let id = parse_activity_id(activity_id)?;
    let activity: Activity = store
        .get(&keys::activity(&id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no activity {activity_id}")))?;
    if &activity.author_id != me {
        // Someone who may see it learns they may not delete it; others learn nothing.
        visible_activity(store, me, &id).await?;
        return Err(AppError::Forbidden(
            "only the author may delete an activity".into(),
        ));
    }
    tombstone(store, &id, Some(me)).await?;
    Ok(())
}

/// `PUT /v1/activities/{id}/like`: at most one like per user (by key); the counter moves
/// in the same transaction, so it is exact. Liking twice is a no-op.
pub async fn like(store: &Store, me: &UserId, activity_id: &str) -> AppResult<()> {
    let activity = visible_activity(store, me, activity_id).await?;
    let id = activity.activity_id;
    let like = ActivityLike {
        activity_id: id.clone(),
        user_id: me.clone(),
        created_at: now_rfc3339(),
    };
    let pointer = ActivityPointer {
        user_id: me.clone(),
        pointed_at: PointedAt::Like,
        activity_id: id.clone(),
    };
    let transaction = store
        .transaction()
        .put_entity(&like, Some(Condition::absent(REACTION_NEW)));
    let result = count_like(transaction, &id, me, 1)
        .put_entity(&pointer, None)
        .commit()
        .await;
    counted_write(result, REACTION_NEW, &id)
}

/// `DELETE /v1/activities/{id}/like`: unliking what I do not like is a no-op.
pub async fn unlike(store: &Store, me: &UserId, activity_id: &str) -> AppResult<()> {
    let activity = visible_activity(store, me, activity_id).await?;
    let id = activity.activity_id;
    let transaction = store.transaction().delete(
        &keys::like(&id, me),
        Some(Condition::present(REACTION_THERE)),
    );
    let result = count_like(transaction, &id, me, -1)
        .delete(&keys::liked_by(me, &id), None)
        .commit()
        .await;
    counted_write(result, REACTION_THERE, &id)
}

/// `POST /v1/activities/{id}/comments`
pub async fn add_comment(
    store: &Store,
    me: &UserId,
    activity_id: &str,
    input: NewComment,
) -> AppResult<Comment> {
    check(&input)?;
    let activity = visible_activity(store, me, activity_id).await?;
    let comment = Comment {
        comment_id: new_ulid(),
        activity_id: activity.activity_id.clone(),
        author_id: me.clone(),
        text: input.text,
        created_at: now_rfc3339(),
        screening: None,
    };
    let pointer = ActivityPointer {
        user_id: me.clone(),
        pointed_at: PointedAt::Comment {
            comment_id: comment.comment_id.clone(),
        },
        activity_id: comment.activity_id.clone(),
    };
    let transaction = store
        .transaction()
        .put_entity(&comment, Some(Condition::absent(REACTION_NEW)));
    let result = bump_counter(transaction, &comment.activity_id, "commentCount", 1)
        .put_entity(&pointer, None)
        .commit()
        .await;
    match result {
        Ok(()) => Ok(comment),
        Err(error) if error.failed(ACTIVITY_LIVE) => {
            Err(AppError::NotFound(format!("no activity {activity_id}")))
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /v1/activities/{id}/shares`: re-posts a public activity (a share of a share
/// shares its original) with an optional message; the original's share count moves in
/// the same transaction.
pub async fn share(
    store: &Store,
    me: &UserId,
    activity_id: &str,
    input: NewShare,
) -> AppResult<ActivityView> {
    check(&input)?;
    let mut target = visible_activity(store, me, activity_id).await?;
    if let Some(original) = target.original() {
        target = visible_activity(store, me, &original).await?;
    }
    if target.visibility != ActivityVisibility::Public {
        return Err(AppError::Forbidden(
            "only public activities can be shared".into(),
        ));
    }
    let mut object = Map::new();
    object.insert(
        "originalActivityId".into(),
        Value::String(target.activity_id.clone()),
    );
    let activity = Activity {
        activity_id: new_ulid(),
        author_id: me.clone(),
        verb: Verb::Share,
        visibility: input.visibility.unwrap_or(ActivityVisibility::Connections),
        object,
        text: input.text,
        created_at: now_rfc3339(),
        deleted: false,
        like_count: 0,
        like_count_shards: BTreeMap::new(),
        comment_count: 0,
        share_count: 0,
        screening: None,
    };
    insert_activity(store, &activity, |t| {
        bump_counter(t, &target.activity_id, "shareCount", 1)
    })
    .await?;
    target.share_count += 1;
    let mut view = ActivityView::of(activity, Some(false));
    view.original = Some(Box::new(ActivityView::of(target, None)));
    Ok(view)
}

// ---------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------

/// Whether a rendering leaves out the authors the viewer mutes: feeds do; an activity
/// opened by its link does not (a mute is lighter than a block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mutes {
    Hide,
    Show,
}

/// Turns a page of entries into what the viewer may see, with a constant number of
/// requests: one BatchGetItem (per 100 keys) for the activities, the viewer's likes,
/// shared originals, the topics discussion activities are about, blocks between the
/// viewer and the authors and, for connections-only activities, the connection item;
/// a second one only for blocks with the authors of shared originals that are not
/// authors on the page (they are known once the originals are read). Deleted
/// activities, hidden authors and activities the viewer may no longer see (e.g. after a
/// connection was removed) are dropped. A discussion activity shows its topic's current
/// title, none once the topic is deleted.
pub(super) async fn render(
    store: &Store,
    viewer: &UserId,
    entries: Vec<FeedEntry>,
    mutes: Mutes,
) -> AppResult<Vec<ActivityView>> {
    let mut wanted: Vec<Key> = Vec::new();
    let mut seen = HashSet::new();
    let mut want = |key: Key| {
        if seen.insert(key.clone()) {
            wanted.push(key);
        }
    };
    for entry in &entries {
        want(keys::activity(&entry.activity_id));
        want(keys::like(&entry.activity_id, viewer));
        if let Some(original) = &entry.original_activity_id {
            want(keys::activity(original));
        }
        if let Some(topic) = &entry.topic_id {
            want(discussions::keys::topic(topic));
        }
        if &entry.author_id != viewer && entry.visibility == ActivityVisibility::Connections {
            want(graph::keys::connection(viewer, &entry.author_id));
        }
    }
    let authors: Vec<UserId> = entries.iter().map(|e| e.author_id.clone()).collect();
    for key in graph::block_keys(viewer, &authors) {
        want(key);
    }
    if mutes == Mutes::Hide {
        for key in graph::mute_keys(viewer, &authors) {
            want(key);
        }
    }
    let found: HashMap<(String, String), Item> = store
        .batch_get_items(&wanted)
        .await?
        .into_iter()
        .filter_map(|item| {
            let pk = item.get(store::PK)?.as_s().ok()?.clone();
            let sk = item.get(store::SK)?.as_s().ok()?.clone();
            Some(((pk, sk), item))
        })
        .collect();
    let has = |key: &Key| found.contains_key(&(key.pk.clone(), key.sk.clone()));
    let activity_of = |id: &str| -> AppResult<Option<Activity>> {
        let key = keys::activity(id);
        found
            .get(&(key.pk, key.sk))
            .cloned()
            .map(store::from_item::<Activity>)
            .transpose()
            .map(|a| a.filter(|a| !a.deleted))
    };
    let title_of = |topic_id: &str| -> Option<String> {
        let key = discussions::keys::topic(topic_id);
        let topic: TopicImage = store::from_item(found.get(&(key.pk, key.sk))?.clone()).ok()?;
        (!topic.deleted && !moderation::is_hidden(topic.screening.as_ref())).then_some(topic.title)
    };
    let mut originals: HashMap<String, Activity> = HashMap::new();
    for entry in &entries {
        if let Some(id) = &entry.original_activity_id
            && let Some(original) = activity_of(id)?
        {
            originals.insert(id.clone(), original);
        }
    }
    // Blocks between the viewer and the authors came with the batch; the authors of
    // shared originals are known only now, and need a second batch when not among them.
    let mut blocked = graph::blocked_in(viewer, found.values());
    let original_authors: Vec<UserId> = originals
        .values()
        .map(|o| o.author_id.clone())
        .filter(|author| !authors.contains(author))
        .collect();
    match mutes {
        Mutes::Hide => {
            blocked.extend(graph::muted_in(viewer, found.values()));
            blocked.extend(graph::hidden_among(store, viewer, &original_authors).await?);
        }
        Mutes::Show => {
            blocked.extend(graph::blocked_among(store, viewer, &original_authors).await?)
        }
    }
    let mut views = Vec::with_capacity(entries.len());
    for entry in &entries {
        let Some(mut activity) = activity_of(&entry.activity_id)? else {
            continue;
        };
        let original = entry
            .original_activity_id
            .as_ref()
            .and_then(|id| originals.get(id));
        if blocked.contains(&activity.author_id)
            || original.is_some_and(|o| blocked.contains(&o.author_id))
            || !activity.shown_to(viewer)
            || original.is_some_and(|o| !o.shown_to(viewer))
        {
            continue;
        }
        let is_author = &activity.author_id == viewer;
        let is_connection = has(&graph::keys::connection(viewer, &activity.author_id));
        if !activity.visibility.allows(is_author, is_connection) {
            continue;
        }
        match entry.topic_id.as_deref().and_then(title_of) {
            Some(title) => {
                activity.object.insert("title".into(), Value::String(title));
            }
            None if entry.topic_id.is_some() => {
                activity.object.remove("title");
            }
            None => {}
        }
        let liked = has(&keys::like(&activity.activity_id, viewer));
        let original = original
            .filter(|o| o.visibility == ActivityVisibility::Public)
            .map(|o| Box::new(ActivityView::of(o.clone(), None)));
        let mut view = ActivityView::of(activity, Some(liked));
        view.original = original;
        views.push(view);
    }
    Ok(views)
}

/// `GET /v1/feed`: my home feed, newest first — one Query on `FEED#<me>` per page.
pub async fn home_feed(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ActivityView>> {
    const SCOPE: &str = "feed";
    let start = cursor.map(|c| cursors.open(me, SCOPE, c)).transpose()?;
    let mut query = KeyQuery::partition(keys::feed_partition(me))
        .limit(limit)
        .start(start);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let entries = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<FeedEntry>>>()?;
    let items = render(store, me, entries, Mutes::Hide).await?;
    let next_cursor = next.map(|key| cursors.seal(me, SCOPE, &key)).transpose()?;
    Ok(Page { items, next_cursor })
}

/// `GET /v1/timeline`: public activities, newest first — one Query per page on one day's
/// partition (`TIMELINE#<day>`); when a day is exhausted the cursor moves to the day
/// before, back to [`TIMELINE_DAYS`] days. A page may therefore hold fewer than `limit`
/// items (even none) while `nextCursor` is present.
pub async fn public_timeline(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ActivityView>> {
    const SCOPE: &str = "timeline";
    const DAY: &str = "day";
    let now = now_epoch_seconds();
    let oldest_day = day_bucket(now - (TIMELINE_DAYS - 1) * 86_400);
    let mut position = cursor
        .map(|c| cursors.open(viewer, SCOPE, c))
        .transpose()?
        .unwrap_or_default();
    let day = position.remove(DAY).unwrap_or_else(|| day_bucket(now));
    let start = (!position.is_empty()).then_some(position);
    let mut query = KeyQuery::partition(keys::timeline_partition(&day))
        .limit(limit)
        .start(start);
    query.newest_first = true;
    let (items, next) = store.query(&query).await?;
    let entries = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<FeedEntry>>>()?;
    let items = render(store, viewer, entries, Mutes::Hide).await?;
    let next_position: Option<PageKey> = match next {
        Some(mut key) => {
            key.insert(DAY.into(), day.clone());
            Some(key)
        }
        None => {
            let previous = day_before(&day)?;
            (previous >= oldest_day).then(|| BTreeMap::from([(DAY.to_owned(), previous)]))
        }
    };
    let next_cursor = next_position
        .map(|key| cursors.seal(viewer, SCOPE, &key))
        .transpose()?;
    Ok(Page { items, next_cursor })
}

/// Handles one stream change: generates activities from topics, replies, connections
/// and accepted answers, and fans activities out (or their deletion) into feeds.
pub async fn on_change(
    store: &Store,
    queue: &DeliveryQueue,
    settings: FanoutSettings,
    budget: &FanoutBudget,
    change: &Change,
) -> AppResult<()> {
    let (pk, sk) = (change.pk.as_str(), change.sk.as_str());
    if pk.starts_with("ACT#") && sk == "META" {
        let old: Option<Activity> = image(change.old.as_ref())?;
        let new: Option<Activity> = image(change.new.as_ref())?;
        let job = |activity: &Activity, op| FanoutJob {
            entry: activity.entry(),
            op,
            step: 0,
            cursor: None,
        };
        let job = match (change.kind, old, new) {
            (ChangeKind::Insert, _, Some(new)) if !new.deleted => job(&new, FanoutOp::Put),
            (ChangeKind::Modify, Some(old), Some(new)) if !old.deleted && new.deleted => {
                job(&new, FanoutOp::Delete)
            }
            (ChangeKind::Remove, Some(old), _) if !old.deleted => job(&old, FanoutOp::Delete),
            _ => return Ok(()),
        };
        return fan_out(store, queue, settings, budget, job).await;
    }
    if pk.starts_with("FANOUT#") {
        if change.kind == ChangeKind::Insert
            && let Some(job) = image::<FanoutJob>(change.new.as_ref())?
        {
            return fan_out(store, queue, settings, budget, job).await;
        }
        return Ok(());
    }
    if pk.starts_with("TOPIC#") && sk == "META" {
        return on_topic(store, change).await;
    }
    if pk.starts_with("TOPIC#") && sk.starts_with("REPLY#") {
        return on_reply(store, change).await;
    }
    if pk.starts_with("USER#") && sk.starts_with("CONN#") && change.kind == ChangeKind::Insert {
        return on_connection(store, change).await;
    }
    if pk.starts_with("COURSE#") && sk.starts_with(courses::keys::ENROLLMENT_PREFIX) {
        return on_enrollment(store, change).await;
    }
    Ok(())
}

/// A learner's progress becomes activities (seen by their connections): one
/// `lessonCompleted` per lesson newly complete, and `courseCompleted` when the
/// certificate is set. Ids derive from the change, so a redelivery adds nothing. Only
/// for a published course (an unpublished one's title stays with its instructor).
pub(super) async fn on_enrollment(store: &Store, change: &Change) -> AppResult<()> {
    let old: Option<courses::Enrollment> = image(change.old.as_ref())?;
    let Some(new) = image::<courses::Enrollment>(change.new.as_ref())? else {
        return Ok(());
    };
    let milestones = course_milestones(old.as_ref(), &new);
    if milestones.is_empty() {
        return Ok(());
    }
    let Some(course) = courses::course(store, &new.course_id).await? else {
        return Ok(());
    };
    if !course.published {
        return Ok(());
    }
    let lesson_keys: Vec<Key> = milestones
        .iter()
        .filter_map(|m| match m {
            Milestone::Lesson(lesson) => Some(courses::keys::lesson(&course.course_id, lesson)),
            Milestone::Course => None,
        })
        .collect();
    let lessons: HashMap<String, courses::Lesson> = store
        .batch_get::<courses::Lesson>(&lesson_keys)
        .await?
        .into_iter()
        .map(|l| (l.lesson_id.clone(), l))
        .collect();
    for milestone in milestones {
        let (verb, object, source) = match &milestone {
            Milestone::Lesson(lesson_id) => {
                let Some(lesson) = lessons.get(lesson_id) else {
                    continue;
                };
                (
                    Verb::LessonCompleted,
                    serde_json::json!({
                        "courseId": course.course_id, "courseTitle": course.title,
                        "lessonId": lesson.lesson_id, "title": lesson.title,
                    }),
                    format!(
                        "lessonCompleted#{}#{}#{}",
                        course.course_id, lesson_id, new.user_id
                    ),
                )
            }
            Milestone::Course => (
                Verb::CourseCompleted,
                serde_json::json!({"courseId": course.course_id, "courseTitle": course.title}),
                format!("courseCompleted#{}#{}", course.course_id, new.user_id),
            ),
        };
        let activity = generated(
            derived_activity_id(&new.updated_at, &source)?,
            new.user_id.clone(),
            verb,
            ActivityVisibility::Connections,
            object,
            new.updated_at.clone(),
        );
        insert_activity(store, &activity, |t| t).await?;
    }
    Ok(())
}

/// Whether a topic may become public activities: outside communities always; in one,
/// while it is public (one GetItem of the community). Activities are public, so a topic
/// of a private or secret community never reaches a feed, the timeline or a push.
async fn open_to_all(store: &Store, topic: &TopicImage) -> AppResult<bool> {
    match &topic.community_id {
        None => Ok(true),
        Some(community) => communities::is_public(store, community).await,
    }
}

pub(super) async fn on_topic(store: &Store, change: &Change) -> AppResult<()> {
    let old: Option<TopicImage> = image(change.old.as_ref())?;
    let Some(new) = image::<TopicImage>(change.new.as_ref())? else {
        return Ok(());
    };
    // A topic held for approval becomes an activity when a moderator publishes it.
    let published_now = change.kind == ChangeKind::Modify
        && old.as_ref().is_some_and(|o| !o.published())
        && new.published();
    match change.kind {
        ChangeKind::Insert | ChangeKind::Modify
            if !new.deleted && (change.kind == ChangeKind::Insert || published_now) =>
        {
            if !new.published() || !open_to_all(store, &new).await? {
                return Ok(());
            }
            let activity = generated(
                discussion_activity_id(&new)?,
                new.author_id.clone(),
                Verb::DiscussionPosted,
                ActivityVisibility::Public,
                serde_json::json!({
                    "topicId": new.topic_id, "categoryId": new.category_id,
                }),
                new.created_at.clone(),
            );
            insert_activity(store, &activity, |t| t).await?;
        }
        ChangeKind::Modify => {
            let old_accepted = old.as_ref().and_then(|o| o.accepted_reply_id.clone());
            if old_accepted != new.accepted_reply_id
                && let Some(previous) = &old_accepted
            {
                retract_answer(store, &new.topic_id, previous).await?;
            }
            if let (Some(reply_id), Some(reply_author)) =
                (&new.accepted_reply_id, &new.accepted_reply_author_id)
                && old_accepted.as_ref() != Some(reply_id)
                && !new.deleted
                && open_to_all(store, &new).await?
            {
                let at = new
                    .updated_at
                    .clone()
                    .unwrap_or_else(|| new.created_at.clone());
                let activity = generated(
                    derived_activity_id(
                        &at,
                        &format!("answerAccepted#{}#{reply_id}", new.topic_id),
                    )?,
                    reply_author.clone(),
                    Verb::AnswerAccepted,
                    ActivityVisibility::Public,
                    serde_json::json!({
                        "topicId": new.topic_id, "replyId": reply_id,
                    }),
                    at,
                );
                publish_answer(store, &activity, &new.topic_id, reply_id).await?;
            }
            let hidden_now = moderation::became_hidden(
                old.as_ref().and_then(|o| o.screening.as_ref()),
                new.screening.as_ref(),
            );
            if (new.deleted && old.as_ref().is_some_and(|o| !o.deleted)) || hidden_now {
                tombstone(store, &discussion_activity_id(&new)?, None).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Publishes the answerAccepted activity of `reply_id` once: the activity and its
/// [`PublishedAnswer`] marker in one transaction, so accepting the same reply again
/// (toggling, or a redelivered record) publishes nothing more.
async fn publish_answer(
    store: &Store,
    activity: &Activity,
    topic_id: &str,
    reply_id: &str,
) -> AppResult<()> {
    let marker = PublishedAnswer {
        topic_id: topic_id.to_owned(),
        reply_id: reply_id.to_owned(),
        activity_id: activity.activity_id.clone(),
    };
    let result = store
        .transaction()
        .put_entity(activity, Some(Condition::absent(ACTIVITY_NEW)))
        .put_entity(&AuthoredActivity::of(activity), None)
        .put_entity(&marker, Some(Condition::absent(ANSWER_UNPUBLISHED)))
        .commit()
        .await;
    match result {
        Ok(()) => Ok(()),
        // Published before: by this record (redelivered) or an earlier acceptance.
        Err(error) if error.failed(ANSWER_UNPUBLISHED) || error.failed(ACTIVITY_NEW) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// An accepted answer cleared or replaced: its activity is taken back (tombstoned, and
/// so removed from feeds). The marker stays, so accepting it again does not republish.
async fn retract_answer(store: &Store, topic_id: &str, reply_id: &str) -> AppResult<()> {
    let published: Option<PublishedAnswer> = store
        .get(&keys::published_answer(topic_id, reply_id))
        .await?;
    if let Some(published) = published {
        tombstone(store, &published.activity_id, None).await?;
    }
    Ok(())
}

pub(super) async fn on_reply(store: &Store, change: &Change) -> AppResult<()> {
    let old: Option<ReplyImage> = image(change.old.as_ref())?;
    let Some(new) = image::<ReplyImage>(change.new.as_ref())? else {
        return Ok(());
    };
    match change.kind {
        ChangeKind::Insert if !new.deleted => {
            // No activity for a reply in a deleted discussion (its title is read when
            // the activity is shown).
            let topic = store
                .get::<TopicImage>(&discussions::keys::topic(&new.topic_id))
                .await?;
            let Some(topic) = topic.filter(|t| !t.deleted) else {
                return Ok(());
            };
            // Nor for a reply in a community that is not public.
            if !open_to_all(store, &topic).await? {
                return Ok(());
            }
            let excerpt: String = new.body.chars().take(280).collect();
            let activity = generated(
                reply_activity_id(&new)?,
                new.author_id.clone(),
                Verb::ReplyPosted,
                ActivityVisibility::Public,
                serde_json::json!({
                    "topicId": new.topic_id, "replyId": new.reply_id,
                    "parentReplyId": new.parent_reply_id, "excerpt": excerpt,
                }),
                new.created_at.clone(),
            );
            insert_activity(store, &activity, |t| t).await?;
        }
        // Deleted, or hidden by moderation: its activity (which quotes it) goes.
        ChangeKind::Modify
            if (new.deleted && old.as_ref().is_some_and(|o| !o.deleted))
                || moderation::became_hidden(
                    old.as_ref().and_then(|o| o.screening.as_ref()),
                    new.screening.as_ref(),
                ) =>
        {
            tombstone(store, &reply_activity_id(&new)?, None).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Both mirror items of a connection arrive; only the accepter's one (the side that did
/// not send the request) generates the activity, so there is one per pair.
pub(super) async fn on_connection(store: &Store, change: &Change) -> AppResult<()> {
    let Some(connection) = image::<ConnectionImage>(change.new.as_ref())? else {
        return Ok(());
    };
    let accepter_side = match &connection.requested_by {
        Some(sender) => sender == &connection.other_user_id,
        None => connection.user_id < connection.other_user_id,
    };
    if !accepter_side {
        return Ok(());
    }
    let (low, high) = if connection.user_id <= connection.other_user_id {
        (&connection.user_id, &connection.other_user_id)
    } else {
        (&connection.other_user_id, &connection.user_id)
    };
    let activity = generated(
        derived_activity_id(
            &connection.created_at,
            &format!("connectionMade#{low}#{high}"),
        )?,
        connection.user_id.clone(),
        Verb::ConnectionMade,
        ActivityVisibility::Connections,
        serde_json::json!({ "otherUserId": connection.other_user_id }),
        connection.created_at.clone(),
    );
    insert_activity(store, &activity, |t| t).await?;
    Ok(())
}

/// Runs (or continues) a fan-out within the invocation's budget; see the module docs.
/// The audience is read a page at a time and queued as deliveries (pages of
/// `page_size` recipients) that the feed worker writes in parallel.
#[instrument(skip_all, fields(activity_id = %job.entry.activity_id, op = ?job.op, step = job.step))]
pub async fn fan_out(
    store: &Store,
    queue: &DeliveryQueue,
    settings: FanoutSettings,
    budget: &FanoutBudget,
    job: FanoutJob,
) -> AppResult<()> {
    let entry = &job.entry;
    // A deleted account's erasure removes its activities' entries itself (and nothing
    // it writes may name the account afterwards): no fan-out for it, either way.
    if store
        .get_item(&crate::contexts::profiles::keys::deleted_account(
            &entry.author_id,
        ))
        .await?
        .is_some()
    {
        return Ok(());
    }
    if job.op == FanoutOp::Put {
        // A put that started before a delete must not keep writing after it.
        let live = store
            .get::<Activity>(&keys::activity(&entry.activity_id))
            .await?
            .is_some_and(|a| !a.deleted);
        if !live {
            return Ok(());
        }
    }
    if job.step == 0 {
        let home = HomeFeedEntry::new(&entry.author_id, entry)?;
        let mut own = vec![(home.key(), home.item()?)];
        if entry.visibility == ActivityVisibility::Public {
            let timeline = TimelineEntry::new(entry)?;
            own.push((timeline.key(), timeline.item()?));
        }
        let requests = own
            .into_iter()
            .map(|(key, item)| match job.op {
                FanoutOp::Put => put_request(item),
                FanoutOp::Delete => delete_request(&key),
            })
            .collect::<AppResult<Vec<_>>>()?;
        store.batch_write(requests).await?;
        if job.op == FanoutOp::Delete {
            delete_children(store, &entry.activity_id).await?;
        }
    }
    if entry.visibility == ActivityVisibility::Private {
        return Ok(());
    }
    let mut cursor = job.cursor.clone();
    loop {
        if !budget.take() {
            return continue_later(store, &job, cursor).await;
        }
        let (ids, next) = graph::connection_ids_page(
            store,
            &entry.author_id,
            settings.connections_per_page(),
            cursor,
        )
        .await?;
        queue
            .send(&deliveries(entry, job.op, &ids, settings.page_size))
            .await?;
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// The feed worker's job: writes (or deletes) one delivery's home-feed entries with
/// concurrent BatchWriteItems. A put first checks, with one BatchGetItem, that the
/// activity is still live and its author's account not deleted, so a delivery that
/// arrives after the activity's delete (SQS keeps no order) or during its author's
/// erasure writes nothing. Safe to repeat: the same delivery writes the same items.
#[instrument(skip_all, fields(activity_id = %delivery.entry.activity_id, op = ?delivery.op, recipients = delivery.recipients.len()))]
pub async fn deliver(store: &Store, delivery: &FeedDelivery) -> AppResult<()> {
    let writes = delivery_writes(delivery)?;
    if delivery.op == FanoutOp::Put {
        let activity_key = keys::activity(&delivery.entry.activity_id);
        let found = store
            .batch_get_items(&[
                activity_key.clone(),
                crate::contexts::profiles::keys::deleted_account(&delivery.entry.author_id),
            ])
            .await?;
        let mut live = false;
        for item in found {
            let is_activity = item.get(store::PK).and_then(|v| v.as_s().ok())
                == Some(&activity_key.pk)
                && item.get(store::SK).and_then(|v| v.as_s().ok()) == Some(&activity_key.sk);
            if !is_activity {
                // The author's account was deleted.
                return Ok(());
            }
            live = !store::from_item::<Activity>(item)?.deleted;
        }
        if !live {
            return Ok(());
        }
    }
    store.batch_write(writes).await
}

/// Writes the next step's progress item; if a previous delivery already wrote it, that
/// one carries on and this delivery stops here.
pub(super) async fn continue_later(
    store: &Store,
    job: &FanoutJob,
    cursor: Option<PageKey>,
) -> AppResult<()> {
    let next = FanoutProgress::queued(FanoutJob {
        entry: job.entry.clone(),
        op: job.op,
        step: job.step + 1,
        cursor,
    });
    match store
        .put_if(next.item()?, Condition::absent(STEP_NEW))
        .await
    {
        // Queued before by an attempt of this same step: once is enough.
        Ok(()) => Ok(()),
        Err(error) if error.failed(STEP_NEW) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A deleted activity's likes, like shards and comments go with it (the tombstone
/// stays).
pub(super) async fn delete_children(store: &Store, activity_id: &str) -> AppResult<()> {
    let items = store
        .query_all(&keys::activity_partition(activity_id))
        .await?;
    let doomed: Vec<Key> = items
        .iter()
        .filter_map(|item| {
            let pk = item.get(store::PK)?.as_s().ok()?;
            let sk = item.get(store::SK)?.as_s().ok()?;
            (sk != "META").then(|| Key::new(pk.clone(), sk.clone()))
        })
        .chain(keys::like_counter(activity_id).shard_keys())
        .collect();
    store.batch_delete(&doomed).await
}

// ---------------------------------------------------------------------------------
// Account deletion
// ---------------------------------------------------------------------------------

/// Removes what one item of a deleted user's partition points at in the feed: a like
/// or a comment on someone's activity goes, and the activity's counter drops in the
/// same transaction (when the activity is gone or deleted, the item alone goes). Safe
/// to repeat: a like or comment already removed changes nothing.
pub async fn erase_for_account(store: &Store, me: &UserId, sort_key: &str) -> AppResult<()> {
    let (activity_id, key, counter, condition) =
        if let Some(activity_id) = sort_key.strip_prefix("ACTLIKE#") {
            (
                activity_id,
                keys::like(activity_id, me),
                "likeCount",
                Expr::from("attribute_exists(PK)"),
            )
        } else if let Some((activity_id, comment_id)) = sort_key
            .strip_prefix("ACTCOMMENT#")
            .and_then(|rest| rest.split_once('#'))
        {
            (
                activity_id,
                keys::comment(activity_id, comment_id),
                "commentCount",
                Expr::new("attribute_exists(PK) AND authorId = :me").value(":me", s(me.as_str())),
            )
        } else {
            return Ok(());
        };
    let transaction = store
        .transaction()
        .delete(&key, Some(Condition::new(REACTION_THERE, condition)));
    let transaction = if counter == "likeCount" {
        count_like(transaction, activity_id, me, -1)
    } else {
        bump_counter(transaction, activity_id, counter, -1)
    };
    match transaction.commit().await {
        Ok(()) => Ok(()),
        // No live activity to count on: the item alone goes (if it is mine).
        Err(error) if error.failed(ACTIVITY_LIVE) && !error.failed(REACTION_THERE) => {
            if counter == "likeCount" {
                store.batch_delete(&[key]).await
            } else {
                delete_own_comment(store, me, &key).await
            }
        }
        // Removed before: nothing to do.
        Err(error) if error.failed(REACTION_THERE) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

pub(super) async fn delete_own_comment(store: &Store, me: &UserId, key: &Key) -> AppResult<()> {
    let mine = Condition::new(
        REACTION_THERE,
        Expr::new("authorId = :me").value(":me", s(me.as_str())),
    );
    match store.delete_if(key, mine).await {
        // Gone, or not mine: nothing of mine to delete.
        Ok(()) => Ok(()),
        Err(error) if error.failed(REACTION_THERE) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Deletes a user's home feed: Query `PK=FEED#<user>` page by page.
pub async fn delete_home_feed(store: &Store, user: &UserId) -> AppResult<()> {
    store
        .delete_matching(KeyQuery::partition(keys::feed_partition(user)).limit(500))
        .await
}
