//! Discussions: access patterns: the reads this context serves from the table.

use super::*;

/// Resolves `@handles` to user ids: one BatchGetItem of the handle claims. Unknown
/// handles and the author are dropped.
pub(super) async fn resolve_mentions(
    store: &Store,
    author: &UserId,
    body: &str,
) -> AppResult<Vec<UserId>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct HandleClaim {
        user_id: UserId,
    }
    let handles = mentioned_handles(body);
    if handles.is_empty() {
        return Ok(vec![]);
    }
    let keys: Vec<Key> = handles.iter().map(profiles::keys::handle).collect();
    let claims: Vec<HandleClaim> = store.batch_get(&keys).await?;
    let mut seen = BTreeSet::new();
    Ok(claims
        .into_iter()
        .map(|c| c.user_id)
        .filter(|id| id != author && seen.insert(id.clone()))
        .collect())
}

pub(super) async fn get_topic(store: &Store, topic_id: &str) -> AppResult<Option<Topic>> {
    if !valid_topic_id(topic_id) {
        return Ok(None);
    }
    store.get(&keys::topic(topic_id)).await
}

/// A topic the viewer may see: absent, hidden by a block either way, or in a community
/// whose posts the viewer may not read, is a 404.
pub async fn visible_topic(store: &Store, viewer: &UserId, topic_id: &str) -> AppResult<Topic> {
    visible_topic_for(store, viewer, false, topic_id, PostAccess::Read).await
}

/// [`visible_topic`] for `access`: a community topic also needs the viewer's standing in
/// the community to allow it ([`communities::allows_posts`]). A viewer who may read it
/// but not reply is refused with a 403; one who may not read it gets the 404.
pub(super) async fn visible_topic_for(
    store: &Store,
    viewer: &UserId,
    platform_moderator: bool,
    topic_id: &str,
    access: PostAccess,
) -> AppResult<Topic> {
    let topic = get_topic(store, topic_id)
        .await?
        .ok_or_else(|| not_found("topic"))?;
    let (blocked, allowed) = futures_util::try_join!(
        graph::blocked_between(store, viewer, &topic.author_id),
        community_gate(store, viewer, platform_moderator, &topic, access),
    )?;
    if blocked || !topic_shown_to(&topic, viewer, platform_moderator) {
        return Err(not_found("topic"));
    }
    allowed?;
    Ok(topic)
}

/// A topic moderation hid is shown only to its author and the platform's moderators
/// (a community's moderators see it in their review queue).
fn topic_shown_to(topic: &Topic, viewer: &UserId, platform_moderator: bool) -> bool {
    moderation::shown_to(
        topic.screening.as_ref(),
        &topic.author_id == viewer,
        platform_moderator,
    )
}

/// A topic as someone who may moderate sees it, and whether they may: the platform
/// `moderator` role moderates every topic; in a community, its moderators, admins and
/// owner moderate its topics too (the same checks as [`communities::Permission::Moderate`]).
/// A topic the caller may not read is its 404, as in [`visible_topic`].
pub(super) async fn moderated_topic(
    store: &Store,
    principal: &Principal,
    topic_id: &str,
) -> AppResult<(Topic, bool)> {
    let viewer = &principal.user_id;
    let platform = is_moderator(principal);
    let topic = get_topic(store, topic_id)
        .await?
        .ok_or_else(|| not_found("topic"))?;
    let standing = async {
        match &topic.community_id {
            Some(community) => {
                match communities::read_as(store, viewer, platform, community).await {
                    Ok(loaded) => Ok(Some(loaded)),
                    Err(AppError::NotFound(_)) => Ok(None),
                    Err(error) => Err(error),
                }
            }
            None => Ok(None),
        }
    };
    let (blocked, loaded) = futures_util::try_join!(
        graph::blocked_between(store, viewer, &topic.author_id),
        standing,
    )?;
    if blocked {
        return Err(not_found("topic"));
    }
    let may_moderate = match (&topic.community_id, loaded) {
        (None, _) => platform,
        (Some(_), None) => return Err(not_found("topic")),
        (Some(_), Some(loaded)) => {
            let (kind, standing) = (loaded.community.kind, loaded.standing);
            if !communities::allows_posts(kind, &standing, PostAccess::Read) {
                return Err(not_found("topic"));
            }
            communities::allows(kind, &standing, communities::Permission::Moderate)
        }
    };
    if topic.status != TopicStatus::Published && !may_moderate && &topic.author_id != viewer {
        return Err(not_found("topic"));
    }
    Ok((topic, may_moderate))
}

/// Whether `viewer` may do `access` with a topic: always outside communities; in one,
/// as [`communities::allows_posts`] says (one BatchGetItem of the community and the
/// viewer's standing). The inner result is the refusal: the topic's 404 when the viewer
/// may not read it, a 403 when they may read but not write.
pub(super) async fn community_gate(
    store: &Store,
    viewer: &UserId,
    platform_moderator: bool,
    topic: &Topic,
    access: PostAccess,
) -> AppResult<AppResult<()>> {
    let Some(community_id) = &topic.community_id else {
        return Ok(Ok(()));
    };
    let loaded = match communities::read_as(store, viewer, platform_moderator, community_id).await {
        Ok(loaded) => loaded,
        Err(AppError::NotFound(_)) => return Ok(Err(not_found("topic"))),
        Err(error) => return Err(error),
    };
    let (kind, standing) = (loaded.community.kind, loaded.standing);
    if !communities::allows_posts(kind, &standing, PostAccess::Read) {
        return Ok(Err(not_found("topic")));
    }
    if topic.status != TopicStatus::Published {
        // Held for approval (or turned down): its author and the moderators only, and
        // no one takes part in it yet.
        let moderator = communities::allows(kind, &standing, communities::Permission::Moderate);
        if &topic.author_id != viewer && !moderator {
            return Ok(Err(not_found("topic")));
        }
        if access != PostAccess::Read {
            return Ok(Err(AppError::Conflict(format!(
                "the topic is {}: no one replies or reacts until a moderator approves it",
                topic.status.as_str()
            ))));
        }
    }
    if !communities::allows_posts(kind, &standing, access) {
        return Ok(Err(AppError::Forbidden(if standing.banned {
            "you are banned from this topic's community".into()
        } else {
            "join this topic's community to take part".into()
        })));
    }
    Ok(Ok(()))
}

pub(super) async fn get_reply(
    store: &Store,
    topic_id: &str,
    reply_id: &str,
) -> AppResult<Option<Reply>> {
    if parse_reply_id(reply_id).is_none() {
        return Ok(None);
    }
    store.get(&keys::reply(topic_id, reply_id)).await
}

/// Drops what authors the viewer blocks or is blocked by wrote: one BatchGetItem.
pub(super) async fn without_blocked<T>(
    store: &Store,
    viewer: &UserId,
    items: Vec<T>,
    author: impl Fn(&T) -> &UserId,
) -> AppResult<Vec<T>> {
    let authors: Vec<UserId> = items.iter().map(|i| author(i).clone()).collect();
    if authors.is_empty() {
        return Ok(items);
    }
    let blocked = graph::blocked_among(store, viewer, &authors).await?;
    Ok(items
        .into_iter()
        .filter(|i| !blocked.contains(author(i)))
        .collect())
}

/// The category tree, depth-first: Query `PK=CATEGORIES`.
pub async fn list_categories(
    store: &Store,
    cursors: &CursorCodec,
    viewer: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Category>> {
    let scope = "categories";
    let start = cursor.map(|c| cursors.open(viewer, scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::CATEGORIES)
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok(Page {
        items: items
            .into_iter()
            .map(store::from_item)
            .collect::<AppResult<_>>()?,
        next_cursor: cursors.seal_next(viewer, scope, next)?,
    })
}

/// One page of topics. A category is one Query on GSI1 (newest), GSI2 (latest
/// activity) or GSI3 (top), descending, pinned first; the solved filter is a
/// FilterExpression of the same Query. A tag or an author is one Query of the index
/// partition plus one BatchGetItem of the topics. Blocked authors' topics are dropped
/// (one BatchGetItem). Filters may leave a page shorter than `limit`; `nextCursor`
/// continues.
pub async fn list_topics(
    store: &Store,
    cursors: &CursorCodec,
    reader: &Principal,
    query: &TopicQuery,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Topic>> {
    let viewer = &reader.user_id;
    let platform = is_moderator(reader);
    let scope = query.cursor_scope();
    let start = cursor
        .map(|c| cursors.open(viewer, &scope, c))
        .transpose()?;
    let (topics, next) = match &query.scope {
        TopicScope::Category(_) | TopicScope::Community(_) | TopicScope::Pending(_) => {
            let index = match (&query.scope, query.sort) {
                // The approval queue is on GSI1 only.
                (TopicScope::Pending(_), _) | (_, TopicSort::Newest) => Index::Gsi1,
                (_, TopicSort::Activity) => Index::Gsi2,
                (_, TopicSort::Top) => Index::Gsi3,
            };
            let partition = match &query.scope {
                TopicScope::Community(community) => {
                    community_listing_gate(store, viewer, platform, community).await?;
                    keys::community_partition(community)
                }
                TopicScope::Pending(community) => {
                    pending_listing_gate(store, viewer, platform, community).await?;
                    keys::pending_partition(community)
                }
                TopicScope::Category(category) => keys::category_partition(category),
                _ => unreachable_scope()?,
            };
            let (items, next) =
                query_category(store, index, &partition, query.solved, limit, start).await?;
            let topics = items
                .into_iter()
                .map(store::from_item)
                .collect::<AppResult<Vec<Topic>>>()?;
            (topics, next)
        }
        TopicScope::Tag(_) | TopicScope::Author(_) => {
            let listing = match &query.scope {
                TopicScope::Tag(tag) => keys::tag_listing(tag),
                TopicScope::Author(author) => keys::author_listing(author),
                TopicScope::Category(_) | TopicScope::Community(_) | TopicScope::Pending(_) => {
                    unreachable_scope()?
                }
            };
            let partition_query = match (query.sort, &query.scope) {
                (TopicSort::Activity, _) => KeyQuery::partition(listing).on(Index::Gsi2),
                (TopicSort::Top, _) => KeyQuery::partition(listing).on(Index::Gsi3),
                (TopicSort::Newest, TopicScope::Tag(tag)) => {
                    KeyQuery::partition(keys::by_tag(tag, "").pk)
                }
                (TopicSort::Newest, TopicScope::Author(author)) => {
                    KeyQuery::partition(crate::table::keys::user_partition(author)).prefix("TOPIC#")
                }
                (
                    TopicSort::Newest,
                    TopicScope::Category(_) | TopicScope::Community(_) | TopicScope::Pending(_),
                ) => unreachable_scope()?,
            };
            let mut partition_query = partition_query.limit(limit).start(start);
            partition_query.newest_first = true;
            let (items, next) = store.query(&partition_query).await?;
            let keys: Vec<Key> = items
                .iter()
                .filter_map(|i| i.get("topicId")?.as_s().ok())
                .map(|id| keys::topic(id))
                .collect();
            let topics = store
                .batch_get::<Topic>(&keys)
                .await?
                .into_iter()
                .filter(|t| !t.deleted && query.solved.is_none_or(|s| t.solved == s))
                // A user's community topics are listed in their communities, not under
                // their name (except to themselves).
                .filter(|t| t.community_id.is_none() || &t.author_id == viewer)
                .collect();
            (topics, next)
        }
    };
    let topics: Vec<Topic> = topics
        .into_iter()
        .filter(|t| topic_shown_to(t, viewer, platform))
        .collect();
    let topics = without_blocked(store, viewer, topics, |t| &t.author_id).await?;
    Ok(Page {
        items: topics.into_iter().map(Topic::for_readers).collect(),
        next_cursor: cursors.seal_next(viewer, &scope, next)?,
    })
}

/// One Query of a category's listing index, descending, with the optional solved filter.
/// (The store's `KeyQuery` has no filter; this is the same single Query with one.)
pub(super) async fn query_category(
    store: &Store,
    index: Index,
    partition: &str,
    solved: Option<bool>,
    limit: u32,
    start: Option<PageKey>,
) -> AppResult<(Vec<Item>, Option<PageKey>)> {
    let mut query = KeyQuery::partition(partition)
        .on(index)
        .newest_first()
        .limit(limit)
        .start(start);
    if let Some(solved) = solved {
        query = query
            .filter(Expr::new("solved = :solved").value(":solved", AttributeValue::Bool(solved)));
    }
    store.query(&query).await
}

/// A page of a topic's replies in thread order: Query `PK=TOPIC#<t> AND
/// begins_with(SK, REPLY#)`, blocked authors dropped (see [`topic_with_replies`]).
pub async fn list_replies(
    store: &Store,
    cursors: &CursorCodec,
    reader: &Principal,
    topic_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<Reply>> {
    let (_, replies) = topic_with_replies(store, cursors, reader, topic_id, limit, cursor).await?;
    Ok(replies)
}

/// A topic the viewer may see and a page of its replies, in three requests side by side
/// (one round trip): the GetItem of the topic, the Query of the page, and the Query of
/// the viewer's own block items ([`graph::blocks_of`]: whom they block and who blocks
/// them, usually none, so cheaper than two keys per author). A topic that is
/// missing or whose author blocks the viewer (or is blocked) is a 404, and nothing of
/// the page leaves.
pub(super) async fn topic_with_replies(
    store: &Store,
    cursors: &CursorCodec,
    reader: &Principal,
    topic_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<(Topic, Page<Reply>)> {
    let viewer = &reader.user_id;
    let scope = format!("replies:{topic_id}");
    let start = cursor
        .map(|c| cursors.open(viewer, &scope, c))
        .transpose()?;
    let page_query = KeyQuery::partition(keys::topic_partition(topic_id))
        .prefix(keys::REPLY_PREFIX)
        .limit(limit)
        .start(start);
    // One round trip: the topic, its replies and everyone I block or am blocked by
    // (one Query of my own block items, cheaper than two keys per author).
    let (topic, (items, next), blocked) = tokio::try_join!(
        get_topic(store, topic_id),
        store.query(&page_query),
        graph::blocks_of(store, viewer)
    )?;
    let topic = topic.ok_or_else(|| not_found("topic"))?;
    let replies = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<Reply>>>()?;
    let moderator = is_moderator(reader);
    if blocked.contains(&topic.author_id) || !topic_shown_to(&topic, viewer, moderator) {
        return Err(not_found("topic"));
    }
    // A community topic: nothing of it leaves unless the viewer may read it (one more
    // BatchGetItem, after the round trip, since the topic names the community).
    community_gate(store, viewer, moderator, &topic, PostAccess::Read).await??;
    let page = Page {
        items: replies
            .into_iter()
            .filter(|r| !blocked.contains(&r.author_id))
            .map(|r| r.for_viewer(viewer, moderator))
            .collect(),
        next_cursor: cursors.seal_next(viewer, &scope, next)?,
    };
    Ok((topic, page))
}

// ---------------------------------------------------------------------------------
// Reactions
// ---------------------------------------------------------------------------------

/// The author of a reaction target (the topic or one of its replies) the viewer may see.
pub(super) async fn target_author(
    store: &Store,
    viewer: &UserId,
    topic: &Topic,
    target_id: &str,
) -> AppResult<UserId> {
    let (author, deleted) = if target_id == topic.topic_id {
        (topic.author_id.clone(), topic.deleted)
    } else {
        let reply = get_reply(store, &topic.topic_id, target_id)
            .await?
            .ok_or_else(|| not_found("reply"))?;
        if graph::blocked_between(store, viewer, &reply.author_id).await? {
            return Err(not_found("reply"));
        }
        (reply.author_id, reply.deleted)
    };
    if deleted {
        return Err(AppError::Conflict(
            "deleted content takes no reactions".into(),
        ));
    }
    Ok(author)
}

// ---------------------------------------------------------------------------------
// Edit history
// ---------------------------------------------------------------------------------

/// The versions edits replaced, oldest first: Query `PK=TOPIC#<t> AND
/// begins_with(SK, HIST#<target>#)`. Deleted content has no readable history.
pub async fn list_history(
    store: &Store,
    cursors: &CursorCodec,
    reader: &Principal,
    topic_id: &str,
    reply_id: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<HistoryEntry>> {
    let viewer = &reader.user_id;
    let topic = visible_topic_for(
        store,
        viewer,
        is_moderator(reader),
        topic_id,
        PostAccess::Read,
    )
    .await?;
    let target_id = match reply_id {
        None => {
            if topic.deleted {
                return Err(not_found("topic"));
            }
            topic.topic_id.clone()
        }
        Some(reply_id) => {
            let reply = get_reply(store, topic_id, reply_id)
                .await?
                .filter(|r| !r.deleted)
                .ok_or_else(|| not_found("reply"))?;
            if graph::blocked_between(store, viewer, &reply.author_id).await? {
                return Err(not_found("reply"));
            }
            reply.reply_id
        }
    };
    let scope = format!("history:{topic_id}:{target_id}");
    let start = cursor
        .map(|c| cursors.open(viewer, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(keys::topic_partition(topic_id))
                .prefix(keys::history_prefix(&target_id))
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok(Page {
        items: items
            .into_iter()
            .map(store::from_item)
            .collect::<AppResult<_>>()?,
        next_cursor: cursors.seal_next(viewer, &scope, next)?,
    })
}

/// May `viewer` list a community's topics? A community they may not see is its 404; one
/// whose posts they may not read (private, not a member) a 403.
async fn community_listing_gate(
    store: &Store,
    viewer: &UserId,
    platform_moderator: bool,
    community: &str,
) -> AppResult<()> {
    let loaded = communities::read_as(store, viewer, platform_moderator, community).await?;
    let (kind, standing) = (loaded.community.kind, loaded.standing);
    if !communities::allows(kind, &standing, communities::Permission::See) {
        return Err(communities::no_such_community());
    }
    if !communities::allows_posts(kind, &standing, PostAccess::Read) {
        return Err(AppError::Forbidden(
            "join this community to read its topics".into(),
        ));
    }
    Ok(())
}

/// Of the users a post in `topic`'s community mentions, those who may read it: all of
/// them in a public community (or outside communities), its members otherwise (one
/// GetItem of the community, and one BatchGetItem of the mentioned users' member items).
pub(super) async fn mentions_in(
    store: &Store,
    community_id: Option<&str>,
    mentions: Vec<UserId>,
) -> AppResult<Vec<UserId>> {
    let Some(community) = community_id else {
        return Ok(mentions);
    };
    if mentions.is_empty() || communities::is_public(store, community).await? {
        return Ok(mentions);
    }
    let members = communities::members_among(store, community, &mentions).await?;
    Ok(mentions
        .into_iter()
        .filter(|m| members.contains(m))
        .collect())
}

/// May `viewer` list the topics waiting for a community's approval? Its moderators only
/// (a community they may not see is its 404; otherwise a 403).
async fn pending_listing_gate(
    store: &Store,
    viewer: &UserId,
    platform_moderator: bool,
    community: &str,
) -> AppResult<()> {
    let loaded = communities::read_as(store, viewer, platform_moderator, community).await?;
    communities::require(
        loaded.community.kind,
        &loaded.standing,
        communities::Permission::Moderate,
    )
}
