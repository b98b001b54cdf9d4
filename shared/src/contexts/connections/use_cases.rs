//! Connections: use cases: the operations the edge calls, which write.

use super::*;

// The conditions of this context's transactions, by name.
/// The pair lock holds a pending request from the sender to the target.
pub(super) const REQUEST_PENDING: &str = "request_pending";

/// The request item (in my incoming list) is there.
pub(super) const REQUEST_LISTED: &str = "request_listed";

/// The pair lock holds a connection.
pub(super) const CONNECTED: &str = "connected";

/// No request or connection exists between the two yet.
pub(super) const PAIR_FREE: &str = "pair_free";

/// Neither user blocks the other.
pub(super) const NOT_BLOCKED: &str = "not_blocked";

/// Commits; a failed condition among `missing` means "there is no such request or
/// connection" (404). Other failures map as every store error does.
pub(super) async fn commit_or_not_found(
    transaction: Transaction<'_>,
    missing: &[&str],
    not_found: impl FnOnce() -> AppError,
) -> AppResult<()> {
    match transaction.commit().await {
        Ok(()) => Ok(()),
        Err(error) if missing.iter().any(|name| error.failed(name)) => Err(not_found()),
        Err(error) => Err(error.into()),
    }
}

/// Send a connection request. One transaction claims the pair lock (so a second
/// request from either side is a 409), writes both request items and checks that
/// neither user blocks the other (so a block that commits first stops it). A blocked
/// sender gets exactly the 404 of a user that does not exist.
pub async fn send_request(
    store: &Store,
    me: &UserId,
    input: NewConnectionRequest,
) -> AppResult<ConnectionRequest> {
    check(&input)?;
    let (reference, target) = resolve_target(store, &input).await?;
    let no_such_user = || AppError::NotFound(format!("no user '{reference}'"));
    let target = target.ok_or_else(no_such_user)?;
    if &target == me {
        return Err(AppError::invalid_field(
            "userId",
            "you cannot send a connection request to yourself",
        ));
    }
    profiles::get_my_profile(store, me).await?;
    if blocked_between(store, me, &target).await?
        || profiles::get_profile(store, &target).await?.is_none()
    {
        return Err(no_such_user());
    }
    let now = now_rfc3339();
    let request = ConnectionRequest {
        sender_id: me.clone(),
        target_id: target.clone(),
        message: input
            .message
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty()),
        created_at: now.clone(),
    };
    let lock = PairLock {
        state: PairState::Pending,
        sender_id: me.clone(),
        target_id: target.clone(),
        ignored: false,
        created_at: now.clone(),
        updated_at: now,
    };
    let result = store
        .transaction()
        .put_entity(&lock, Some(Condition::absent(PAIR_FREE)))
        .put_entity(&request, Some(Condition::absent(PAIR_FREE)))
        .put_entity(
            &OutgoingConnectionRequest(request.clone()),
            Some(Condition::absent(PAIR_FREE)),
        )
        .check(&keys::block(me, &target), Condition::absent(NOT_BLOCKED))
        .check(&keys::block(&target, me), Condition::absent(NOT_BLOCKED))
        .commit()
        .await;
    match result {
        Ok(()) => Ok(request),
        Err(error) if error.failed(NOT_BLOCKED) => Err(no_such_user()),
        Err(error) if error.failed(PAIR_FREE) => Err(AppError::Conflict(
            "a connection or a pending request between you and this user already exists".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// Accept a request sent to me (also one I ignored earlier): the pair lock turns into
/// the connection's lock, both request items go and both connection items appear, in
/// one transaction.
pub async fn accept_request(store: &Store, me: &UserId, sender: &UserId) -> AppResult<Connection> {
    not_myself(me, sender)?;
    let now = now_rfc3339();
    let connection = |a: &UserId, b: &UserId| Connection {
        user_id: a.clone(),
        other_user_id: b.clone(),
        requested_by: sender.clone(),
        created_at: now.clone(),
    };
    let mine = connection(me, sender);
    let transaction = update_pending_pair(
        store.transaction(),
        sender,
        me,
        Expr::new("SET #state = :connected, updatedAt = :now REMOVE ignored")
            .value(":connected", s("connected"))
            .value(":now", s(now.clone())),
    )
    .delete(&keys::incoming_request(me, sender), None)
    .delete(&keys::outgoing_request(sender, me), None)
    .put_entity(&mine, None)
    .put_entity(&connection(sender, me), None);
    commit_or_not_found(transaction, &[REQUEST_PENDING], || no_request_from(sender)).await?;
    Ok(mine)
}

/// Reject a request sent to me: both request items and the lock go, so the sender sees
/// it gone and may ask again later.
pub async fn reject_request(store: &Store, me: &UserId, sender: &UserId) -> AppResult<()> {
    not_myself(me, sender)?;
    let transaction = delete_pending_pair(store.transaction(), sender, me)
        .delete(&keys::incoming_request(me, sender), None)
        .delete(&keys::outgoing_request(sender, me), None);
    commit_or_not_found(transaction, &[REQUEST_PENDING], || no_request_from(sender)).await
}

/// Ignore a request sent to me: it leaves my incoming list, but the sender is not told —
/// their outgoing copy and the pair lock stay, so neither side can send another request
/// until the sender cancels it or I accept or reject it after all.
pub async fn ignore_request(store: &Store, me: &UserId, sender: &UserId) -> AppResult<()> {
    not_myself(me, sender)?;
    let transaction = update_pending_pair(
        store.transaction(),
        sender,
        me,
        Expr::new("SET ignored = :true, updatedAt = :now")
            .value(":true", AttributeValue::Bool(true))
            .value(":now", s(now_rfc3339())),
    )
    // Ignoring twice is a 404: the request is no longer in my list.
    .delete(
        &keys::incoming_request(me, sender),
        Some(Condition::present(REQUEST_LISTED)),
    );
    commit_or_not_found(transaction, &[REQUEST_PENDING, REQUEST_LISTED], || {
        no_request_from(sender)
    })
    .await
}

/// Cancel a request I sent (ignored or not).
pub async fn cancel_request(store: &Store, me: &UserId, target: &UserId) -> AppResult<()> {
    not_myself(me, target)?;
    let transaction = delete_pending_pair(store.transaction(), me, target)
        .delete(&keys::incoming_request(target, me), None)
        .delete(&keys::outgoing_request(me, target), None);
    commit_or_not_found(transaction, &[REQUEST_PENDING], || {
        AppError::NotFound(format!("no pending connection request to '{target}'"))
    })
    .await
}

/// Remove a connection, from either side: both connection items and the pair lock, in
/// one transaction.
pub async fn remove_connection(store: &Store, me: &UserId, other: &UserId) -> AppResult<()> {
    not_myself(me, other)?;
    let connected = Expr::new("#state = :connected")
        .name("#state", "state")
        .value(":connected", s("connected"));
    let transaction = store
        .transaction()
        .delete(
            &keys::pair(me, other),
            Some(Condition::new(CONNECTED, connected)),
        )
        .delete(&keys::connection(me, other), None)
        .delete(&keys::connection(other, me), None);
    commit_or_not_found(transaction, &[CONNECTED], || {
        AppError::NotFound(format!("you are not connected with '{other}'"))
    })
    .await
}

// ---------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------

/// Before I block or mute `other` (`verb`): not myself (422 naming `userId`), the
/// block or mute at `key` if I placed it before (a repeat keeps the first), else a
/// 404 unless `other` has a profile.
async fn placed_before<T: serde::de::DeserializeOwned>(
    store: &Store,
    me: &UserId,
    other: &UserId,
    verb: &str,
    key: &Key,
) -> AppResult<Option<T>> {
    if me == other {
        return Err(AppError::invalid_field(
            "userId",
            format!("you cannot {verb} yourself"),
        ));
    }
    if let Some(existing) = store.get::<T>(key).await? {
        return Ok(Some(existing));
    }
    if profiles::get_profile(store, other).await?.is_none() {
        return Err(AppError::NotFound(format!("no user '{other}'")));
    }
    Ok(None)
}

/// Block a user: one transaction writes the block and its mirror and deletes whatever
/// connection, requests and pair lock exist between the two. Requests check for blocks
/// in their own transaction, so none can slip in around it. Blocking again keeps the
/// first block. The blocked user is never told.
pub async fn block_user(store: &Store, me: &UserId, other: &UserId) -> AppResult<Block> {
    if let Some(existing) =
        placed_before(store, me, other, "block", &keys::block(me, other)).await?
    {
        return Ok(existing);
    }
    let block = Block {
        blocker_id: me.clone(),
        blocked_id: other.clone(),
        created_at: now_rfc3339(),
    };
    let mut transaction = store
        .transaction()
        .put_entity(&block, None)
        .put_entity(&BlockedBy(block.clone()), None);
    for key in relationship_keys(me, other) {
        transaction = transaction.delete(&key, None);
    }
    transaction.commit().await?;
    Ok(block)
}

/// Mute a user: one PutItem (muting again keeps the first mute). They are not told.
pub async fn mute_user(store: &Store, me: &UserId, other: &UserId) -> AppResult<Mute> {
    if let Some(existing) = placed_before(store, me, other, "mute", &keys::mute(me, other)).await? {
        return Ok(existing);
    }
    let mute = Mute {
        muter_id: me.clone(),
        muted_id: other.clone(),
        created_at: now_rfc3339(),
    };
    store.put(mute.item()?).await?;
    Ok(mute)
}

/// Unmute (repeatable).
pub async fn unmute_user(store: &Store, me: &UserId, other: &UserId) -> AppResult<()> {
    store.delete(&keys::mute(me, other)).await
}

/// Unblock: removes my block and its mirror (a block the other placed on me stays).
/// Repeatable.
pub async fn unblock_user(store: &Store, me: &UserId, other: &UserId) -> AppResult<()> {
    not_myself(me, other)?;
    Ok(store
        .transaction()
        .delete(&keys::block(me, other), None)
        .delete(&keys::blocked_by(other, me), None)
        .commit()
        .await?)
}

/// Asks the stream to compute a user's suggestions again, if they have a list: one
/// UpdateItem (nothing for a user who never read theirs).
pub async fn request_suggestions_refresh(store: &Store, user: &UserId) -> AppResult<()> {
    let result = store
        .update(
            &suggested_key(user),
            Expr::new("SET refreshRequestedAtMs = :now")
                .value(":now", AttributeValue::N(now_epoch_millis().to_string())),
            Some(Condition::present(SUGGESTIONS_KEPT)),
            crate::table::store::Returning::Nothing,
        )
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.failed(SUGGESTIONS_KEPT) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Computes a user's suggestions again and replaces their list (only if they still
/// have one: an erased account's list is not brought back).
#[tracing::instrument(skip(store))]
pub async fn refresh_suggestions(store: &Store, user: &UserId) -> AppResult<()> {
    let Some(list) = compute_suggestions(store, user).await? else {
        return Ok(());
    };
    let result = store
        .put_if(list.item()?, Condition::present(SUGGESTIONS_KEPT))
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(SUGGESTIONS_KEPT) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The user's suggestion list is stored.
pub(super) const SUGGESTIONS_KEPT: &str = "suggestions_kept";
