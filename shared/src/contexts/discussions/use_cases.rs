//! Discussions: use cases: the operations the edge calls, which write.

use super::*;

// ---------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------

/// Create a category (admins): TransactWriteItems of the id claim and the tree entry,
/// both `attribute_not_exists`, after a GetItem of the parent.
pub async fn create_category(
    store: &Store,
    principal: &Principal,
    input: NewCategory,
) -> AppResult<Category> {
    if !principal.has_role(ADMIN_ROLE) {
        return Err(AppError::Forbidden("only admins create categories".into()));
    }
    check(&input)?;
    let (path, depth) = match &input.parent_id {
        None => (input.id.clone(), 1),
        Some(parent_id) => {
            let parent: Category = store
                .get(&keys::category(parent_id))
                .await?
                .ok_or_else(|| AppError::invalid_field("parentId", "no such category"))?;
            if parent.depth as usize >= MAX_CATEGORY_DEPTH {
                return Err(AppError::invalid_field(
                    "parentId",
                    "categories nest at most 3 levels deep",
                ));
            }
            (format!("{}#{}", parent.path, input.id), parent.depth + 1)
        }
    };
    let category = Category {
        category_id: input.id,
        name: input.name.trim().to_owned(),
        description: input.description,
        parent_id: input.parent_id,
        path,
        depth,
        created_at: now_rfc3339(),
        created_by: principal.user_id.clone(),
    };
    match store
        .transaction()
        .put_entity(&category, Some(Condition::absent(CATEGORY_NEW)))
        .put_entity(
            &CategoryInTree(&category),
            Some(Condition::absent(CATEGORY_NEW)),
        )
        .commit()
        .await
    {
        Ok(()) => Ok(category),
        Err(error) if error.failed(CATEGORY_NEW) => {
            Err(AppError::Conflict("the category id is taken".into()))
        }
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------------

/// Create a topic: TransactWriteItems — Put the topic, its author and tag index items,
/// and a ConditionCheck that the category exists. A community's topic takes no category:
/// its author must be a member who is not banned (checked before, and again by a
/// ConditionCheck of their member item), and only members are mentioned unless the
/// community is public.
pub async fn create_topic(store: &Store, me: &UserId, input: NewTopic) -> AppResult<Topic> {
    check_with(&input, attachment_errors(&input.attachments, "attachments"))?;
    let (category_id, community_id, status) = match (input.category_id, input.community_id) {
        (Some(category), None) => (category, None, TopicStatus::Published),
        (None, Some(community)) => {
            let loaded = communities::read_as(store, me, false, &community)
                .await
                .map_err(|_| AppError::invalid_field("communityId", "no such community"))?;
            let (kind, standing) = (loaded.community.kind, loaded.standing);
            if !communities::allows(kind, &standing, communities::Permission::See) {
                return Err(AppError::invalid_field("communityId", "no such community"));
            }
            if !communities::allows_posts(kind, &standing, PostAccess::Post) {
                return Err(AppError::Forbidden(
                    "only members who are not banned start topics in a community".into(),
                ));
            }
            let moderates = communities::allows(kind, &standing, communities::Permission::Moderate);
            if input.announcement && !moderates {
                return Err(AppError::Forbidden(
                    "only a community's moderators, admins and owner post announcements".into(),
                ));
            }
            // A community that requires post approval holds its members' topics for
            // its moderators (theirs are published at once).
            let status = if loaded.community.require_post_approval && !moderates {
                TopicStatus::Pending
            } else {
                TopicStatus::Published
            };
            (String::new(), Some(community), status)
        }
        _ => {
            return Err(AppError::invalid_field(
                "categoryId",
                "give exactly one of categoryId and communityId",
            ));
        }
    };
    let announcement = input.announcement;
    if announcement && community_id.is_none() {
        return Err(AppError::invalid_field(
            "announcement",
            "only a community's topics are announcements",
        ));
    }
    let topic_id = new_ulid();
    let now = now_rfc3339();
    let mentions = resolve_mentions(store, me, &input.body).await?;
    let topic = Topic {
        topic_id: topic_id.clone(),
        author_id: me.clone(),
        category_id,
        mentions: mentions_in(store, community_id.as_deref(), mentions).await?,
        community_id,
        status,
        reviewed_by: None,
        rejection_reason: None,
        title: input.title.trim().to_owned(),
        tags: topic_tags(&input.tags, &input.body),
        body: input.body,
        attachments: input.attachments,
        created_at: now.clone(),
        updated_at: now.clone(),
        edited: false,
        last_activity_at: now,
        deleted: false,
        accepted_reply_id: None,
        accepted_reply_author_id: None,
        solved: false,
        pinned: false,
        locked: false,
        locked_at: None,
        announcement,
        reply_count: 0,
        reaction_counts: zero_counts(),
        view_count: 0,
        version: 1,
        screening: None,
    };
    let place = match &topic.community_id {
        Some(community) => (
            communities::keys::member(community, me),
            Condition::present(COMMUNITY_MEMBER),
        ),
        None => (
            keys::category(&topic.category_id),
            Condition::present(CATEGORY_EXISTS),
        ),
    };
    let mut transaction = store
        .transaction()
        .check(&place.0, place.1)
        .put(topic.to_item()?, Some(Condition::absent(TOPIC_NEW)));
    for item in topic.index_items()? {
        transaction = transaction.put(item, None);
    }
    match transaction.commit().await {
        Ok(()) => Ok(topic),
        Err(error) if error.failed(CATEGORY_EXISTS) => {
            Err(AppError::invalid_field("categoryId", "no such category"))
        }
        Err(error) if error.failed(COMMUNITY_MEMBER) => Err(AppError::Forbidden(
            "only members who are not banned start topics in a community".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// Read a topic as a visitor: the topic, its first page of replies and my blocks, read
/// side by side (`topic_with_replies`), then one
/// [`TopicView`] queued; the views worker adds it to `viewCount` with the others of its
/// batch ([`count_views`]), so a read writes nothing to the table. A view that cannot be
/// queued is logged and lost, never the reader's error.
pub async fn view_topic(
    store: &Store,
    cursors: &CursorCodec,
    views: &ViewQueue,
    reader: &Principal,
    topic_id: &str,
    limit: u32,
) -> AppResult<TopicWithReplies> {
    let (topic, replies) =
        topic_with_replies(store, cursors, reader, topic_id, limit, None).await?;
    let view = TopicView {
        topic_id: topic.topic_id.clone(),
        reader_id: Some(reader.user_id.clone()),
        posts: u32::try_from(replies.items.len() + 1).unwrap_or(u32::MAX),
    };
    if let Err(error) = views.send(&view).await {
        tracing::warn!(%error, "a topic view could not be queued");
    }
    Ok(TopicWithReplies {
        topic: topic.for_readers(),
        replies,
    })
}

/// Adds `views` queued views to a topic's `viewCount`: one UpdateItem. A topic that is
/// gone takes none.
#[tracing::instrument(skip(store))]
pub async fn count_views(store: &Store, topic_id: &str, views: usize) -> AppResult<()> {
    let result = store
        .update(
            &keys::topic(topic_id),
            Expr::new("ADD viewCount :views").value(":views", AttributeValue::N(views.to_string())),
            Some(Condition::present(TOPIC_THERE)),
            Returning::Nothing,
        )
        .await;
    ignore_condition(result)
}

/// Edit my topic: TransactWriteItems — Put the replaced version as history, Update the
/// topic (`updatedAt` unchanged since the read, not deleted), and the tag index items
/// that changed.
pub async fn edit_topic(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    patch: TopicPatch,
) -> AppResult<Topic> {
    let attachment_problems = patch
        .attachments
        .as_deref()
        .map(|a| attachment_errors(a, "attachments"))
        .unwrap_or_default();
    check_with(&patch, attachment_problems)?;
    if patch.title.is_none()
        && patch.body.is_none()
        && patch.tags.is_none()
        && patch.attachments.is_none()
    {
        return Err(AppError::bad_field(
            "body",
            "give at least one field to change",
        ));
    }
    let old = visible_topic(store, me, topic_id).await?;
    if &old.author_id != me {
        return Err(AppError::Forbidden("only the author edits a topic".into()));
    }
    if old.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    let now = now_rfc3339();
    let mut topic = old.clone();
    if let Some(title) = patch.title {
        topic.title = title.trim().to_owned();
    }
    if let Some(body) = patch.body {
        let mentions = resolve_mentions(store, me, &body).await?;
        topic.mentions = mentions_in(store, topic.community_id.as_deref(), mentions).await?;
        topic.body = body;
    }
    if let Some(attachments) = patch.attachments {
        topic.attachments = attachments;
    }
    if patch.tags.is_some() || topic.body != old.body {
        // Without new explicit tags, keep the old explicit ones: the old tags minus the
        // hashtags of the old body (those follow the body).
        let explicit = patch.tags.unwrap_or_else(|| {
            let old_hashtags = hashtags(&old.body);
            old.tags
                .iter()
                .filter(|t| !old_hashtags.contains(t))
                .cloned()
                .collect()
        });
        topic.tags = topic_tags(&explicit, &topic.body);
    }
    topic.updated_at = now.clone();
    topic.edited = true;
    let history = HistoryEntry {
        topic_id: old.topic_id.clone(),
        target_id: old.topic_id.clone(),
        edit_id: new_ulid(),
        editor_id: me.clone(),
        edited_at: now.clone(),
        title: Some(old.title.clone()),
        body: old.body.clone(),
        tags: Some(old.tags.clone()),
        attachments: Some(old.attachments.clone()),
    };
    let update = Expr::new(
        "SET title = :title, body = :body, tags = :tags, attachments = :attachments, \
         mentions = :mentions, updatedAt = :now, edited = :true",
    )
    .value(":title", s(&topic.title))
    .value(":body", s(&topic.body))
    .value(":tags", to_value(&topic.tags)?)
    .value(":attachments", to_value(&topic.attachments)?)
    .value(":mentions", to_value(&topic.mentions)?)
    .value(":now", s(&now))
    .value(":true", AttributeValue::Bool(true));
    let unchanged = Expr::new("updatedAt = :read AND deleted = :false")
        .value(":read", s(&old.updated_at))
        .value(":false", AttributeValue::Bool(false));
    let mut transaction = store
        .transaction()
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::new(TOPIC_UNCHANGED, unchanged)),
        )
        .put_entity(&history, None);
    let before: BTreeSet<&String> = old.tags.iter().collect();
    let after: BTreeSet<&String> = topic.tags.iter().collect();
    for removed in before.difference(&after) {
        transaction = transaction.delete(&keys::by_tag(removed, topic_id), None);
    }
    // Added tags get index items with the topic's current listing keys.
    let added: BTreeSet<String> = after
        .difference(&before)
        .map(|tag| keys::by_tag(tag, topic_id).pk)
        .collect();
    for item in topic.index_items()? {
        if item
            .get(store::PK)
            .and_then(|pk| pk.as_s().ok())
            .is_some_and(|pk| added.contains(pk))
        {
            transaction = transaction.put(item, None);
        }
    }
    transaction.commit().await?;
    Ok(topic.for_readers())
}

/// Soft-delete a topic (its author or a moderator): TransactWriteItems — Update
/// `deleted = true` (out of the category listings, `version` bumped so the stream's
/// counter update re-reads it) and Delete its tag index items. The thread stays; readers
/// see a tombstone. Repeating it is a no-op.
pub async fn delete_topic(store: &Store, principal: &Principal, topic_id: &str) -> AppResult<()> {
    let me = &principal.user_id;
    let (topic, moderator) = moderated_topic(store, principal, topic_id).await?;
    if &topic.author_id != me && !moderator {
        return Err(AppError::Forbidden(
            "only the author or a moderator deletes a topic".into(),
        ));
    }
    if topic.deleted {
        return Ok(());
    }
    let update = Expr::new(
        "SET deleted = :true, updatedAt = :now, version = version + :one \
         REMOVE GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK",
    )
    .value(":true", AttributeValue::Bool(true))
    .value(":now", s(&now_rfc3339()))
    .value(":one", n(1));
    let mut transaction = store.transaction().update(
        &keys::topic(topic_id),
        update,
        Some(Condition::present(TOPIC_THERE)),
    );
    for tag in &topic.tags {
        transaction = transaction.delete(&keys::by_tag(tag, topic_id), None);
    }
    transaction.commit().await?;
    Ok(())
}

/// A moderator's decision on a topic held for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    Approve,
    Reject(Option<String>),
}

/// Approve or reject a topic held for its community's approval (its moderators, admins
/// and owner): one UpdateItem of `status`, `reviewedBy` and the listing keys, on the
/// condition that it is still pending. Approving puts it in the community's listings,
/// and the stream then makes its activity (if the community is public) and notifies
/// the author and the users it mentions; rejecting tells the author why.
pub async fn review_topic(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    review: Review,
) -> AppResult<Topic> {
    let (topic, moderator) = moderated_topic(store, principal, topic_id).await?;
    if topic.community_id.is_none() || !moderator {
        return Err(AppError::Forbidden(
            "only the community's moderators review its topics".into(),
        ));
    }
    if topic.status != TopicStatus::Pending || topic.deleted {
        return Err(AppError::Conflict(format!(
            "the topic is {}, not pending",
            if topic.deleted {
                "deleted"
            } else {
                topic.status.as_str()
            }
        )));
    }
    let mut reviewed = topic.clone();
    reviewed.reviewed_by = Some(principal.user_id.clone());
    reviewed.version += 1;
    let (status, reason) = match review {
        Review::Approve => (TopicStatus::Published, None),
        Review::Reject(reason) => (
            TopicStatus::Rejected,
            reason
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty()),
        ),
    };
    reviewed.status = status;
    reviewed.rejection_reason = reason;
    let item = reviewed.to_item()?;
    let attributes = [
        "status",
        "reviewedBy",
        "rejectionReason",
        "version",
        "GSI1PK",
        "GSI1SK",
        "GSI2PK",
        "GSI2SK",
        "GSI3PK",
        "GSI3SK",
    ];
    let update = Expr::set_or_remove(&item, &attributes);
    let result = store
        .transaction()
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::new(
                TOPIC_PENDING,
                Expr::new("#status = :pending AND deleted = :false")
                    .name("#status", "status")
                    .value(":pending", s(TopicStatus::Pending.as_str()))
                    .value(":false", AttributeValue::Bool(false)),
            )),
        )
        .put_entity(
            &TopicReview {
                moderator_id: principal.user_id.clone(),
                topic_id: topic_id.to_owned(),
            },
            None,
        )
        .commit()
        .await;
    match result {
        Ok(()) => Ok(reviewed.for_readers()),
        Err(error) if error.failed(TOPIC_PENDING) => Err(AppError::Conflict(
            "the topic was reviewed or deleted meanwhile".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// Pin or unpin (moderators): UpdateItem of the flag and the three listing sort keys,
/// under `version` (the stream rewrites the same keys).
pub async fn set_pinned(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    pinned: bool,
) -> AppResult<Topic> {
    relist(store, principal, topic_id, |topic| {
        topic.pinned = pinned;
        let mut update = Expr::new(
            "SET pinned = :pinned, GSI1SK = :newest, GSI2SK = :activity, GSI3SK = :top, \
             version = :next",
        )
        .value(":pinned", AttributeValue::Bool(pinned));
        for (name, value) in [
            (":newest", keys::newest_sort(pinned, topic_id)),
            (
                ":activity",
                keys::activity_sort(pinned, &topic.last_activity_at, topic_id),
            ),
            (":top", keys::top_sort(pinned, topic.score(), topic_id)),
        ] {
            update = update.value(name, s(&value));
        }
        update
    })
    .await
}

/// How often a pin is retried when the stream's counters moved the topic's version
/// between its read and its write, and the first pause between tries (doubling:
/// 10 ms to 320 ms, 630 ms in all).
const PIN_ATTEMPTS: u32 = 7;
const PIN_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// A moderator's change to a live topic's listing keys: `change` applies it to the
/// topic as read and answers the update. The UpdateItem holds under the version read
/// (`version = :next` is bound here); when the stream's counters moved the version
/// meanwhile, the topic is read and the change applied again, after a pause.
async fn relist(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    change: impl Fn(&mut Topic) -> Expr,
) -> AppResult<Topic> {
    for attempt in 0..PIN_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(PIN_BACKOFF * 2u32.pow(attempt - 1)).await;
        }
        let mut topic = live_topic_for_moderators(store, principal, topic_id, "pin").await?;
        let update = change(&mut topic);
        let unchanged = Expr::new("version = :read AND deleted = :false")
            .value(":false", AttributeValue::Bool(false))
            .value(":read", n(topic.version));
        let update = update.value(":next", n(topic.version + 1));
        match store
            .update(
                &keys::topic(&topic.topic_id),
                update,
                Some(Condition::new(TOPIC_UNCHANGED, unchanged)),
                Returning::Nothing,
            )
            .await
        {
            Ok(_) => {
                topic.version += 1;
                return Ok(topic.for_readers());
            }
            // The counters moved, or the topic was deleted: read it again.
            Err(error) if error.failed(TOPIC_UNCHANGED) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "the topic kept changing; try again".into(),
    ))
}

/// A topic only its moderators may act on (`action`: "pin", "lock"): 403 for anyone
/// else, 409 once it is deleted.
async fn live_topic_for_moderators(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    action: &str,
) -> AppResult<Topic> {
    let (topic, moderator) = moderated_topic(store, principal, topic_id).await?;
    if !moderator {
        return Err(AppError::Forbidden(format!(
            "only moderators {action} topics"
        )));
    }
    if topic.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    Ok(topic)
}

/// Lock or unlock a topic (moderators: the community's, or the platform's for topics
/// outside communities): UpdateItem under `version`. A locked topic stays readable and
/// takes no new replies (409); its replies can still be edited and deleted by their
/// authors, and reacted to. A repeat changes nothing.
#[tracing::instrument(skip(store, principal), fields(user_id = %principal.user_id))]
pub async fn set_locked(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    locked: bool,
) -> AppResult<Topic> {
    let topic = live_topic_for_moderators(store, principal, topic_id, "lock").await?;
    if topic.locked == locked {
        return Ok(topic.for_readers());
    }
    // No listing key depends on the lock, so the stream's counters may move the topic
    // meanwhile: the version is added to, not compared.
    let update = if locked {
        Expr::new("SET locked = :locked, lockedAt = :now ADD version :one")
            .value(":now", s(&now_rfc3339()))
    } else {
        Expr::new("SET locked = :locked REMOVE lockedAt ADD version :one")
    }
    .value(":locked", AttributeValue::Bool(locked))
    .value(":one", n(1));
    let live = Expr::new("attribute_exists(PK) AND deleted = :false")
        .value(":false", AttributeValue::Bool(false));
    let updated = store
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::new(TOPIC_LIVE, live)),
            Returning::AllNew,
        )
        .await;
    match updated {
        Ok(item) => Ok(store::from_item::<Topic>(item.unwrap_or_default())?.for_readers()),
        Err(error) if error.failed(TOPIC_LIVE) => {
            Err(AppError::Conflict("the topic is deleted".into()))
        }
        Err(error) => Err(error.into()),
    }
}

/// Mark a reply as the accepted answer (the topic's author or a moderator): GetItem of
/// the reply, then UpdateItem of the topic (`acceptedReplyId`, its author, `solved`).
/// Another reply replaces the previous one.
pub async fn accept_answer(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    reply_id: &str,
) -> AppResult<Topic> {
    let me = &principal.user_id;
    let (mut topic, moderator) = moderated_topic(store, principal, topic_id).await?;
    if &topic.author_id != me && !moderator {
        return Err(AppError::Forbidden(
            "only the topic's author or a moderator accepts an answer".into(),
        ));
    }
    if topic.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    let reply = get_reply(store, topic_id, reply_id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| AppError::invalid_field("replyId", "no such reply in this topic"))?;
    let now = now_rfc3339();
    let update = Expr::new(
        "SET acceptedReplyId = :reply, acceptedReplyAuthorId = :author, solved = :true, \
         updatedAt = :now",
    )
    .value(":reply", s(&reply.reply_id))
    .value(":author", s(reply.author_id.as_str()))
    .value(":true", AttributeValue::Bool(true))
    .value(":now", s(&now));
    let open_topic = Expr::new("attribute_exists(PK) AND deleted = :false")
        .value(":false", AttributeValue::Bool(false));
    store
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::new(TOPIC_OPEN, open_topic)),
            Returning::Nothing,
        )
        .await?;
    topic.accepted_reply_id = Some(reply.reply_id);
    topic.accepted_reply_author_id = Some(reply.author_id);
    topic.solved = true;
    topic.updated_at = now;
    Ok(topic.for_readers())
}

/// Withdraw the accepted answer: the topic is unsolved again.
pub async fn clear_accepted_answer(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
) -> AppResult<Topic> {
    let me = &principal.user_id;
    let (mut topic, moderator) = moderated_topic(store, principal, topic_id).await?;
    if &topic.author_id != me && !moderator {
        return Err(AppError::Forbidden(
            "only the topic's author or a moderator changes the accepted answer".into(),
        ));
    }
    let now = now_rfc3339();
    let update = Expr::new(
        "SET solved = :false, updatedAt = :now REMOVE acceptedReplyId, acceptedReplyAuthorId",
    )
    .value(":false", AttributeValue::Bool(false))
    .value(":now", s(&now));
    store
        .update(
            &keys::topic(topic_id),
            update,
            Some(Condition::present(TOPIC_THERE)),
            Returning::Nothing,
        )
        .await?;
    topic.accepted_reply_id = None;
    topic.accepted_reply_author_id = None;
    topic.solved = false;
    topic.updated_at = now;
    Ok(topic.for_readers())
}

// ---------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------

/// Reply to a topic or to a reply: GetItem topic (+ parent reply), block checks, then
/// TransactWriteItems — Put the reply + ConditionCheck the topic is not deleted. The
/// reply count and the topic's activity are the stream function's job.
pub async fn create_reply(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    input: NewReply,
) -> AppResult<Reply> {
    check(&input)?;
    let topic = visible_topic_for(store, me, false, topic_id, PostAccess::Reply).await?;
    if topic.deleted {
        return Err(AppError::Conflict("the topic is deleted".into()));
    }
    if topic.locked {
        return Err(locked_topic());
    }
    let own_id = new_ulid();
    let (reply_id, parent_author, depth) = match &input.parent_reply_id {
        None => (own_id, topic.author_id.clone(), 1u32),
        Some(parent_id) => {
            let parent = get_reply(store, topic_id, parent_id)
                .await?
                .ok_or_else(|| {
                    AppError::invalid_field("parentReplyId", "no such reply in this topic")
                })?;
            if parent.deleted {
                return Err(AppError::invalid_field(
                    "parentReplyId",
                    "the reply was deleted",
                ));
            }
            if parent.depth as usize >= MAX_REPLY_DEPTH {
                return Err(AppError::invalid_field(
                    "parentReplyId",
                    "the thread is too deep to answer this reply",
                ));
            }
            if graph::blocked_between(store, me, &parent.author_id).await? {
                return Err(AppError::invalid_field(
                    "parentReplyId",
                    "no such reply in this topic",
                ));
            }
            (
                format!("{}-{own_id}", parent.reply_id),
                parent.author_id,
                parent.depth + 1,
            )
        }
    };
    let now = now_rfc3339();
    let reply = Reply {
        reply_id,
        topic_id: topic.topic_id.clone(),
        author_id: me.clone(),
        parent_reply_id: input.parent_reply_id,
        parent_author_id: parent_author,
        topic_author_id: topic.author_id.clone(),
        mentions: mentions_in(
            store,
            topic.community_id.as_deref(),
            resolve_mentions(store, me, &input.body).await?,
        )
        .await?,
        body: input.body,
        depth,
        created_at: now.clone(),
        updated_at: now,
        edited: false,
        deleted: false,
        reaction_counts: zero_counts(),
        version: 1,
        screening: None,
    };
    let open_topic = Expr::new(
        "attribute_exists(PK) AND deleted = :false AND (attribute_not_exists(locked) OR locked = :false)",
    )
    .value(":false", AttributeValue::Bool(false));
    match store
        .transaction()
        .check(
            &keys::topic(topic_id),
            Condition::new(TOPIC_OPEN, open_topic),
        )
        .put(reply.to_item()?, Some(Condition::absent(REPLY_NEW)))
        .put_entity(
            &ReplyByAuthor {
                author_id: me.clone(),
                topic_id: topic_id.to_owned(),
                reply_id: reply.reply_id.clone(),
            },
            None,
        )
        .commit()
        .await
    {
        Ok(()) => Ok(reply),
        // Deleted or locked between the read and the write.
        Err(error) if error.failed(TOPIC_OPEN) => Err(AppError::Conflict(
            "the topic is deleted or locked: it takes no new replies".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// Edit my reply: TransactWriteItems — Put the replaced version as history + Update the
/// reply under `version`.
pub async fn edit_reply(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    reply_id: &str,
    patch: ReplyPatch,
) -> AppResult<Reply> {
    check(&patch)?;
    let topic = visible_topic_for(store, me, false, topic_id, PostAccess::Reply).await?;
    let old = get_reply(store, topic_id, reply_id)
        .await?
        .ok_or_else(|| not_found("reply"))?;
    if &old.author_id != me {
        return Err(AppError::Forbidden("only the author edits a reply".into()));
    }
    if old.deleted {
        return Err(AppError::Conflict("the reply is deleted".into()));
    }
    let now = now_rfc3339();
    let mut reply = old.clone();
    let mentions = resolve_mentions(store, me, &patch.body).await?;
    reply.mentions = mentions_in(store, topic.community_id.as_deref(), mentions).await?;
    reply.body = patch.body;
    reply.updated_at = now.clone();
    reply.edited = true;
    reply.version += 1;
    let history = HistoryEntry {
        topic_id: topic_id.to_owned(),
        target_id: reply_id.to_owned(),
        edit_id: new_ulid(),
        editor_id: me.clone(),
        edited_at: now.clone(),
        title: None,
        body: old.body.clone(),
        tags: None,
        attachments: None,
    };
    let update = Expr::new(
        "SET body = :body, mentions = :mentions, updatedAt = :now, edited = :true, \
         version = :next",
    )
    .value(":body", s(&reply.body))
    .value(":mentions", to_value(&reply.mentions)?)
    .value(":now", s(&now))
    .value(":true", AttributeValue::Bool(true))
    .value(":next", n(reply.version));
    let unchanged = Expr::new("version = :read AND deleted = :false")
        .value(":read", n(old.version))
        .value(":false", AttributeValue::Bool(false));
    store
        .transaction()
        .update(
            &keys::reply(topic_id, reply_id),
            update,
            Some(Condition::new(REPLY_UNCHANGED, unchanged)),
        )
        .put_entity(&history, None)
        .commit()
        .await?;
    Ok(reply)
}

/// Soft-delete a reply (its author or a moderator): UpdateItem `deleted = true`. Its
/// answers stay in the thread; readers see a tombstone. If it was the accepted answer,
/// the topic is unsolved again (same transaction). Repeating it is a no-op.
pub async fn delete_reply(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
    reply_id: &str,
) -> AppResult<()> {
    let me = &principal.user_id;
    let (topic, moderator) = moderated_topic(store, principal, topic_id).await?;
    let reply = get_reply(store, topic_id, reply_id)
        .await?
        .ok_or_else(|| not_found("reply"))?;
    if &reply.author_id != me && !moderator {
        return Err(AppError::Forbidden(
            "only the author or a moderator deletes a reply".into(),
        ));
    }
    if reply.deleted {
        return Ok(());
    }
    let update = Expr::new("SET deleted = :true, updatedAt = :now, version = version + :one")
        .value(":true", AttributeValue::Bool(true))
        .value(":now", s(&now_rfc3339()))
        .value(":one", n(1));
    let mut transaction = store.transaction().update(
        &keys::reply(topic_id, reply_id),
        update,
        Some(Condition::present(TARGET_THERE)),
    );
    if topic.accepted_reply_id.as_deref() == Some(reply_id) {
        let unsolve = Expr::new(
            "SET solved = :false, updatedAt = :now REMOVE acceptedReplyId, acceptedReplyAuthorId",
        )
        .value(":false", AttributeValue::Bool(false))
        .value(":now", s(&now_rfc3339()));
        let accepted = Expr::new("acceptedReplyId = :reply").value(":reply", s(reply_id));
        transaction = transaction.update(
            &keys::topic(topic_id),
            unsolve,
            Some(Condition::new(ACCEPTED_IS_THIS, accepted)),
        );
    }
    transaction.commit().await?;
    Ok(())
}

/// React to a topic or a reply, or change my reaction: PutItem
/// `TOPIC#<t> / REACT#<target>#<me>` (one per user per target by key).
pub async fn set_reaction(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    target_id: &str,
    input: ReactionInput,
) -> AppResult<Reaction> {
    let topic = visible_topic_for(store, me, false, topic_id, PostAccess::Reply).await?;
    let author = target_author(store, me, &topic, target_id).await?;
    let reaction = Reaction {
        topic_id: topic.topic_id.clone(),
        target_id: target_id.to_owned(),
        target_author_id: author,
        user_id: me.clone(),
        reaction: input.reaction,
        created_at: now_rfc3339(),
    };
    let by_user = ReactionByUser {
        user_id: me.clone(),
        topic_id: topic_id.to_owned(),
        target_id: target_id.to_owned(),
    };
    store
        .transaction()
        .put_entity(&reaction, None)
        .put_entity(&by_user, None)
        .commit()
        .await?;
    Ok(reaction)
}

/// Remove my reaction: DeleteItem by key (absent is fine).
pub async fn remove_reaction(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    target_id: &str,
) -> AppResult<()> {
    let topic = visible_topic(store, me, topic_id).await?;
    if target_id != topic.topic_id && parse_reply_id(target_id).is_none() {
        return Err(not_found("reply"));
    }
    store
        .batch_delete(&[
            keys::reaction(topic_id, target_id, me),
            keys::reaction_by_user(me, topic_id, target_id),
        ])
        .await
}

// ---------------------------------------------------------------------------------
// Account deletion
// ---------------------------------------------------------------------------------

/// Erases what one item of a deleted user's partition points at: the text of their
/// topics and replies is wiped (the items stay as tombstones so other people's threads
/// keep their shape), their edit history is deleted, and their reactions are removed
/// (the stream then corrects the counts). Safe to repeat.
pub async fn erase_for_account(store: &Store, me: &UserId, sort_key: &str) -> AppResult<()> {
    if let Some(topic_id) = sort_key.strip_prefix("TOPIC#") {
        erase_topic(store, me, topic_id).await
    } else if let Some((topic_id, reply_id)) = sort_key
        .strip_prefix("REPLY#")
        .and_then(|rest| rest.split_once('#'))
    {
        erase_reply(store, me, topic_id, reply_id).await
    } else if let Some((topic_id, target_id)) = sort_key
        .strip_prefix("REACT#")
        .and_then(|rest| rest.split_once('#'))
    {
        store
            .batch_delete(&[keys::reaction(topic_id, target_id, me)])
            .await
    } else {
        Ok(())
    }
}

/// The edit history of one target: Query `PK=TOPIC#<t> AND begins_with(SK, HIST#<target>#)`.
pub(super) async fn delete_history(
    store: &Store,
    topic_id: &str,
    target_id: &str,
) -> AppResult<()> {
    store
        .delete_matching(
            KeyQuery::partition(keys::topic_partition(topic_id))
                .prefix(keys::history_prefix(target_id))
                .limit(100),
        )
        .await
}

/// Wipes a topic's text and takes it out of every listing. Only the author's own topic
/// is touched (the condition), so a stray pointer can't erase someone else's content.
pub(super) async fn erase_topic(store: &Store, me: &UserId, topic_id: &str) -> AppResult<()> {
    let Some(topic) = get_topic(store, topic_id).await? else {
        return Ok(());
    };
    if &topic.author_id != me {
        return Ok(());
    }
    // Tags and history first: once the author id is erased, a repeat finds nothing.
    let tags: Vec<Key> = topic
        .tags
        .iter()
        .map(|tag| keys::by_tag(tag, topic_id))
        .collect();
    store.batch_delete(&tags).await?;
    delete_history(store, topic_id, topic_id).await?;
    let erase = Expr::new(
        "SET deleted = :true, #title = :erased, #body = :empty, tags = :none, \
         attachments = :none, mentions = :none, updatedAt = :now, authorId = :nobody \
         REMOVE GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK",
    )
    .name("#title", "title")
    .name("#body", "body")
    .value(":true", AttributeValue::Bool(true))
    .value(":erased", s(ERASED))
    .value(":empty", s(""))
    .value(":none", AttributeValue::L(vec![]))
    .value(":now", s(&now_rfc3339()))
    .value(":nobody", s(crate::table::jobs::ERASED_USER));
    ignore_condition(
        store
            .update(
                &keys::topic(topic_id),
                erase,
                Some(mine(me)),
                Returning::Nothing,
            )
            .await,
    )
}

/// Wipes a reply's text; the reply stays as a tombstone in its thread.
pub(super) async fn erase_reply(
    store: &Store,
    me: &UserId,
    topic_id: &str,
    reply_id: &str,
) -> AppResult<()> {
    delete_history(store, topic_id, reply_id).await?;
    let erase = Expr::new(
        "SET deleted = :true, #body = :empty, mentions = :none, updatedAt = :now, \
         authorId = :nobody",
    )
    .name("#body", "body")
    .value(":true", AttributeValue::Bool(true))
    .value(":empty", s(""))
    .value(":none", AttributeValue::L(vec![]))
    .value(":now", s(&now_rfc3339()))
    .value(":nobody", s(crate::table::jobs::ERASED_USER));
    ignore_condition(
        store
            .update(
                &keys::reply(topic_id, reply_id),
                erase,
                Some(mine(me)),
                Returning::Nothing,
            )
            .await,
    )
}

// The conditions of this context's transactions, by name.
/// The stream record has not been counted before.
pub(super) const RECORD_NEW: &str = "record_new";

/// The counted item (a reply) is still there.
pub(super) const TARGET_THERE: &str = "target_there";

/// The topic is at the version read.
pub(super) const TOPIC_UNCHANGED: &str = "topic_unchanged";
const TOPIC_LIVE: &str = "topic_live";

/// The topic's category exists.
pub(super) const CATEGORY_EXISTS: &str = "category_exists";

/// The author of a community's topic is still its member.
pub(super) const COMMUNITY_MEMBER: &str = "community_member";

/// The topic still waits for a moderator's review.
pub(super) const TOPIC_PENDING: &str = "topic_pending";

/// The topic is not stored yet.
pub(super) const TOPIC_NEW: &str = "topic_new";

/// The topic exists.
pub(super) const TOPIC_THERE: &str = "topic_there";

/// The topic exists and is not deleted.
pub(super) const TOPIC_OPEN: &str = "topic_open";

/// The category id is not taken.
pub(super) const CATEGORY_NEW: &str = "category_new";

/// The reply is not stored yet.
pub(super) const REPLY_NEW: &str = "reply_new";

/// The reply is at the version read and not deleted.
pub(super) const REPLY_UNCHANGED: &str = "reply_unchanged";

/// The topic's accepted answer is the reply being deleted.
pub(super) const ACCEPTED_IS_THIS: &str = "accepted_is_this";

/// The item exists and its author is the caller.
pub(super) const MINE: &str = "mine";

/// Applies one record's counter change exactly once: the `PROCESSED#…` marker is put
/// (`attribute_not_exists`) in the same TransactWriteItems as the counter update, so a
/// redelivered record changes nothing. A topic's counters feed its listing keys, so they
/// are read, recomputed and written under `version` (retried on a concurrent change).
pub async fn apply_counter_change(
    store: &Store,
    event_id: &str,
    change: &CounterChange,
) -> AppResult<()> {
    let marker = marker(event_id, change);
    match &change.target {
        CounterTarget::Reply { topic_id, reply_id } => {
            let set: Vec<String> = (0..change.reactions.len())
                .map(|i| format!("#counts.#k{i} = if_not_exists(#counts.#k{i}, :zero) + :d{i}"))
                .collect();
            let mut update = Expr::new(format!("SET {}", set.join(", ")))
                .name("#counts", "reactionCounts")
                .value(":zero", n(0));
            for (i, (kind, delta)) in change.reactions.iter().enumerate() {
                update = update
                    .name(format!("#k{i}"), kind.as_str())
                    .value(format!(":d{i}"), n(*delta));
            }
            let sent = store
                .transaction()
                .put_entity(&marker, Some(Condition::absent(RECORD_NEW)))
                .update(
                    &keys::reply(topic_id, reply_id),
                    update,
                    Some(Condition::present(TARGET_THERE)),
                )
                .commit()
                .await;
            match sent {
                Ok(()) => Ok(()),
                // Already counted, or the reply is gone: nothing to do.
                Err(error) if error.failed(RECORD_NEW) || error.failed(TARGET_THERE) => Ok(()),
                Err(error) => Err(error.into()),
            }
        }
        CounterTarget::Topic(topic_id) => {
            for _ in 0..COUNTER_ATTEMPTS {
                let Some(mut topic) = store.get::<Topic>(&keys::topic(topic_id)).await? else {
                    return Ok(());
                };
                let read_version = topic.version;
                topic.reply_count = (topic.reply_count + change.replies).max(0);
                for (kind, delta) in &change.reactions {
                    let count = topic
                        .reaction_counts
                        .entry(kind.as_str().to_owned())
                        .or_insert(0);
                    *count = (*count + delta).max(0);
                }
                if let Some(at) = &change.activity_at
                    && at.as_str() > topic.last_activity_at.as_str()
                {
                    topic.last_activity_at = at.clone();
                }
                topic.version += 1;
                let mut set = vec![
                    "replyCount = :replies",
                    "reactionCounts = :reactions",
                    "lastActivityAt = :activity",
                    "version = :next",
                ];
                if !topic.deleted {
                    set.extend(["GSI2SK = :activitySort", "GSI3SK = :topSort"]);
                }
                let mut update = Expr::new(format!("SET {}", set.join(", ")))
                    .value(":replies", n(topic.reply_count))
                    .value(":reactions", to_value(&topic.reaction_counts)?)
                    .value(":activity", s(&topic.last_activity_at))
                    .value(":next", n(topic.version));
                if !topic.deleted {
                    update = update
                        .value(
                            ":activitySort",
                            s(&keys::activity_sort(
                                topic.pinned,
                                &topic.last_activity_at,
                                topic_id,
                            )),
                        )
                        .value(
                            ":topSort",
                            s(&keys::top_sort(topic.pinned, topic.score(), topic_id)),
                        );
                }
                let unchanged = Expr::new("version = :read").value(":read", n(read_version));
                let sent = store
                    .transaction()
                    .put_entity(&marker, Some(Condition::absent(RECORD_NEW)))
                    .update(
                        &keys::topic(topic_id),
                        update,
                        Some(Condition::new(TOPIC_UNCHANGED, unchanged)),
                    )
                    .commit()
                    .await;
                match sent {
                    Ok(()) => return refresh_index_listings(store, &topic).await,
                    // Counted before; the index refresh may not have finished.
                    Err(error) if error.failed(RECORD_NEW) => {
                        return match store.get::<Topic>(&keys::topic(topic_id)).await? {
                            Some(topic) => refresh_index_listings(store, &topic).await,
                            None => Ok(()),
                        };
                    }
                    Err(error) if error.failed(TOPIC_UNCHANGED) => continue,
                    Err(error) => return Err(error.into()),
                }
            }
            Err(AppError::Conflict(
                "the topic kept changing; the record is retried".into(),
            ))
        }
    }
}

/// Copies a topic's activity and top sort keys to its tag and author index items (one
/// UpdateItem each, concurrently). Derived from the topic alone, so repeating it is
/// harmless; an index item that an edit or delete removed meanwhile is left alone.
pub(super) async fn refresh_index_listings(store: &Store, topic: &Topic) -> AppResult<()> {
    if topic.deleted {
        return Ok(());
    }
    let updates = topic.index_items()?.into_iter().map(|item| async move {
        let key = Key::new(
            item.get(store::PK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            item.get(store::SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
        );
        let mut update = Expr::new("SET GSI2PK = :p2, GSI2SK = :s2, GSI3PK = :p3, GSI3SK = :s3");
        for (attribute, placeholder) in [
            ("GSI2PK", ":p2"),
            ("GSI2SK", ":s2"),
            ("GSI3PK", ":p3"),
            ("GSI3SK", ":s3"),
        ] {
            if let Some(value) = item.get(attribute) {
                update = update.value(placeholder, value.clone());
            }
        }
        ignore_condition(
            store
                .update(
                    &key,
                    update,
                    Some(Condition::present(TARGET_THERE)),
                    Returning::Nothing,
                )
                .await,
        )
    });
    for result in futures_util::future::join_all(updates).await {
        result?;
    }
    Ok(())
}

/// A locked topic's answer to a new reply.
fn locked_topic() -> AppError {
    AppError::Conflict("the topic is locked: it takes no new replies".into())
}
