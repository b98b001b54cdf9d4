//! Connections between users and blocks: requests, accepting, removing, blocking,
//! listings with profiles and suggestions. The keys and reads of the graph itself
//! (who is connected to whom, who blocks whom) live in `graph`; they are re-exported
//! here for the functions.
use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::contexts::profiles::{self, Handle, ProfileView};
use crate::core::cursor::{CursorCodec, Page};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::keys::user_partition;
use crate::table::store::{self, AttributeValue, Expr, Item, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, Transaction};

pub mod erasure;

pub use crate::contexts::graph::{
    Relationship, blocked_among, blocked_between, connection_ids_page, keys, relationship, sort_key,
};

// ---------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------

/// Longest message a connection request may carry.
pub const MAX_MESSAGE_CHARS: u64 = 300;

/// A pending request: stored as `REQIN#<sender>` in the target's partition (entity
/// `ConnectionRequest`) and as `REQOUT#<target>` in the sender's (entity
/// `OutgoingConnectionRequest`), with the same attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRequest {
    pub sender_id: UserId,
    pub target_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created_at: String,
}

/// `USER#<userId> / CONN#<otherUserId>`, one per direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub user_id: UserId,
    pub other_user_id: UserId,
    /// Who sent the request that was accepted.
    pub requested_by: UserId,
    pub created_at: String,
}

/// `USER#<blockerId> / BLOCK#<blockedId>` (entity `Block`) and its mirror
/// `USER#<blockedId> / BLOCKEDBY#<blockerId>` (entity `BlockedBy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub blocker_id: UserId,
    pub blocked_id: UserId,
    pub created_at: String,
}

/// The pair lock's state: one pending request (from `senderId` to `targetId`) or a
/// connection. No lock: the two are strangers and either may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PairState {
    Pending,
    Connected,
}

/// `PAIR#<min>#<max> / PAIR` (entity `ConnectionPair`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairLock {
    pub state: PairState,
    pub sender_id: UserId,
    pub target_id: UserId,
    /// Set when the target ignored the request: it left their incoming list, while the
    /// sender still sees it pending (they are never told).
    #[serde(default)]
    pub ignored: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// Serializes `value` and adds its keys and `entity`.
fn item_of<T: Serialize>(key: &Key, entity: &str, value: &T) -> AppResult<Item> {
    let mut item = store::to_item(value)?;
    item.extend(key.to_item());
    item.insert("entity".into(), AttributeValue::S(entity.into()));
    Ok(item)
}

// ---------------------------------------------------------------------------------
// Transaction parts
// ---------------------------------------------------------------------------------

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The condition "the pair lock holds a pending request from `sender` to `target`".
fn pending_from_to(sender: &UserId, target: &UserId) -> Expr {
    Expr::new("#state = :pending AND senderId = :sender AND targetId = :target")
        .name("#state", "state")
        .value(":pending", s("pending"))
        .value(":sender", s(sender.as_str()))
        .value(":target", s(target.as_str()))
}

fn delete_pending_pair<'a>(
    transaction: Transaction<'a>,
    sender: &UserId,
    target: &UserId,
) -> Transaction<'a> {
    transaction.delete(
        &keys::pair(sender, target),
        Some(Condition::new(
            REQUEST_PENDING,
            pending_from_to(sender, target),
        )),
    )
}

fn update_pending_pair<'a>(
    transaction: Transaction<'a>,
    sender: &UserId,
    target: &UserId,
    update: Expr,
) -> Transaction<'a> {
    transaction.update(
        &keys::pair(sender, target),
        update,
        Some(Condition::new(
            REQUEST_PENDING,
            pending_from_to(sender, target),
        )),
    )
}

// The conditions of this context's transactions, by name.
/// The pair lock holds a pending request from the sender to the target.
const REQUEST_PENDING: &str = "request_pending";
/// The request item (in my incoming list) is there.
const REQUEST_LISTED: &str = "request_listed";
/// The pair lock holds a connection.
const CONNECTED: &str = "connected";
/// No request or connection exists between the two yet.
const PAIR_FREE: &str = "pair_free";
/// Neither user blocks the other.
const NOT_BLOCKED: &str = "not_blocked";

/// Commits; a failed condition among `missing` means "there is no such request or
/// connection" (404). Other failures map as every store error does.
async fn commit_or_not_found(
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

// ---------------------------------------------------------------------------------
// Requests and connections
// ---------------------------------------------------------------------------------

/// `POST /v1/connections/requests`: exactly one of `userId` and `handle`.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConnectionRequest {
    pub user_id: Option<String>,
    pub handle: Option<String>,
    #[validate(
        length(max = "MAX_MESSAGE_CHARS"),
        custom(function = "validation::plain_text")
    )]
    pub message: Option<String>,
}

/// The other user a request names: by id or by handle.
async fn resolve_target(
    store: &Store,
    input: &NewConnectionRequest,
) -> AppResult<(String, Option<UserId>)> {
    match (input.user_id.as_deref(), input.handle.as_deref()) {
        (Some(id), None) => {
            let id = UserId::parse(id)
                .map_err(|_| AppError::invalid_field("userId", "is not a valid user id"))?;
            Ok((id.to_string(), Some(id)))
        }
        (None, Some(handle)) => {
            let handle = Handle::parse(handle)?;
            let user = profiles::user_by_handle(store, &handle).await?;
            Ok((format!("@{}", handle.as_str()), user))
        }
        (Some(_), Some(_)) => Err(AppError::bad_field(
            "userId",
            "name the user by userId or by handle, not both",
        )),
        (None, None) => Err(AppError::bad_field(
            "userId",
            "name the user to connect with by userId or handle",
        )),
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
        .put(
            item_of(&keys::pair(me, &target), "ConnectionPair", &lock)?,
            Some(Condition::absent(PAIR_FREE)),
        )
        .put(
            item_of(
                &keys::incoming_request(&target, me),
                "ConnectionRequest",
                &request,
            )?,
            Some(Condition::absent(PAIR_FREE)),
        )
        .put(
            item_of(
                &keys::outgoing_request(me, &target),
                "OutgoingConnectionRequest",
                &request,
            )?,
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

fn no_request_from(sender: &UserId) -> AppError {
    AppError::NotFound(format!("no pending connection request from '{sender}'"))
}

/// Accept a request sent to me (also one I ignored earlier): the pair lock turns into
/// the connection's lock, both request items go and both connection items appear, in
/// one transaction.
pub async fn accept_request(store: &Store, me: &UserId, sender: &UserId) -> AppResult<Connection> {
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
    .put(
        item_of(&keys::connection(me, sender), "Connection", &mine)?,
        None,
    )
    .put(
        item_of(
            &keys::connection(sender, me),
            "Connection",
            &connection(sender, me),
        )?,
        None,
    );
    commit_or_not_found(transaction, &[REQUEST_PENDING], || no_request_from(sender)).await?;
    Ok(mine)
}

/// Reject a request sent to me: both request items and the lock go, so the sender sees
/// it gone and may ask again later.
pub async fn reject_request(store: &Store, me: &UserId, sender: &UserId) -> AppResult<()> {
    let transaction = delete_pending_pair(store.transaction(), sender, me)
        .delete(&keys::incoming_request(me, sender), None)
        .delete(&keys::outgoing_request(sender, me), None);
    commit_or_not_found(transaction, &[REQUEST_PENDING], || no_request_from(sender)).await
}

/// Ignore a request sent to me: it leaves my incoming list, but the sender is not told —
/// their outgoing copy and the pair lock stay, so neither side can send another request
/// until the sender cancels it or I accept or reject it after all.
pub async fn ignore_request(store: &Store, me: &UserId, sender: &UserId) -> AppResult<()> {
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

/// Block a user: one transaction writes the block and its mirror and deletes whatever
/// connection, requests and pair lock exist between the two. Requests check for blocks
/// in their own transaction, so none can slip in around it. Blocking again keeps the
/// first block. The blocked user is never told.
pub async fn block_user(store: &Store, me: &UserId, other: &UserId) -> AppResult<Block> {
    if me == other {
        return Err(AppError::invalid_field(
            "userId",
            "you cannot block yourself",
        ));
    }
    if let Some(existing) = store.get::<Block>(&keys::block(me, other)).await? {
        return Ok(existing);
    }
    if profiles::get_profile(store, other).await?.is_none() {
        return Err(AppError::NotFound(format!("no user '{other}'")));
    }
    let block = Block {
        blocker_id: me.clone(),
        blocked_id: other.clone(),
        created_at: now_rfc3339(),
    };
    let mut transaction = store
        .transaction()
        .put(item_of(&keys::block(me, other), "Block", &block)?, None)
        .put(
            item_of(&keys::blocked_by(other, me), "BlockedBy", &block)?,
            None,
        );
    for key in relationship_keys(me, other) {
        transaction = transaction.delete(&key, None);
    }
    transaction.commit().await?;
    Ok(block)
}

/// Every item that relates two users through connections and requests.
fn relationship_keys(a: &UserId, b: &UserId) -> Vec<Key> {
    vec![
        keys::pair(a, b),
        keys::connection(a, b),
        keys::connection(b, a),
        keys::incoming_request(a, b),
        keys::incoming_request(b, a),
        keys::outgoing_request(a, b),
        keys::outgoing_request(b, a),
    ]
}

/// Unblock: removes my block and its mirror (a block the other placed on me stays).
/// Repeatable.
pub async fn unblock_user(store: &Store, me: &UserId, other: &UserId) -> AppResult<()> {
    Ok(store
        .transaction()
        .delete(&keys::block(me, other), None)
        .delete(&keys::blocked_by(other, me), None)
        .commit()
        .await?)
}

/// Items outside my partition that an item inside it points at, deleted with my
/// account: the other side of connections and requests, their pair locks, and the
/// mirrors of my blocks. A block someone placed on me (`BLOCKEDBY#`) is theirs and
/// stays in their partition.
pub fn owned_elsewhere(me: &UserId, sort_key: &str) -> Vec<Key> {
    let other = |prefix: &str| {
        sort_key
            .strip_prefix(prefix)
            .and_then(|id| UserId::parse(id).ok())
    };
    if let Some(other) = other("CONN#") {
        vec![keys::connection(&other, me), keys::pair(me, &other)]
    } else if let Some(other) = other("REQIN#") {
        vec![keys::outgoing_request(&other, me), keys::pair(me, &other)]
    } else if let Some(other) = other("REQOUT#") {
        vec![keys::incoming_request(&other, me), keys::pair(me, &other)]
    } else if let Some(other) = other("BLOCK#") {
        vec![keys::blocked_by(&other, me)]
    } else {
        vec![]
    }
}

// ---------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------

/// The other users' profiles, as `viewer` may see them, keyed by user id: one
/// BatchGetItem. Hidden profiles are absent.
async fn profile_views(
    store: &Store,
    viewer: &UserId,
    others: &[UserId],
    relationship: Relationship,
) -> AppResult<HashMap<UserId, ProfileView>> {
    let keys: Vec<Key> = others.iter().map(profiles::keys::profile).collect();
    let mut views = HashMap::new();
    for item in store.batch_get_items(&keys).await? {
        let profile = profiles::profile_from_item(item)?;
        let relationship = if &profile.user_id == viewer {
            Relationship::SelfView
        } else {
            relationship
        };
        if let Some(view) = profiles::view_as(&profile, relationship) {
            views.insert(profile.user_id.clone(), view);
        }
    }
    Ok(views)
}

/// One page of `prefix` items of my partition, decoded, with the users the viewer
/// blocks or is blocked by left out.
async fn my_page<T: serde::de::DeserializeOwned>(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    prefix: &str,
    other_of: impl Fn(&T) -> UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<(Vec<T>, Option<String>)> {
    // The user is part of the scope: a cursor names a key in one user's partition.
    let scope = format!("connections/{prefix}/{me}");
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(me))
                .prefix(prefix)
                .limit(limit)
                .start(start),
        )
        .await?;
    let records = items
        .into_iter()
        .map(store::from_item::<T>)
        .collect::<AppResult<Vec<T>>>()?;
    let others: Vec<UserId> = records.iter().map(&other_of).collect();
    let blocked = blocked_among(store, me, &others).await?;
    let records = records
        .into_iter()
        .filter(|r| !blocked.contains(&other_of(r)))
        .collect();
    let next_cursor = next.map(|key| cursors.seal(&scope, &key)).transpose()?;
    Ok((records, next_cursor))
}

/// A connection as its owner lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub user_id: UserId,
    pub requested_by: UserId,
    pub connected_at: String,
    /// The other user's profile as I may see it; absent when they hide it from me.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

/// `GET /v1/connections`: Query `USER#<me>` `begins_with(SK, CONN#)` + one BatchGetItem
/// of blocks + one of profiles per page.
pub async fn list_connections(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ConnectionView>> {
    let (records, next_cursor) = my_page(
        store,
        cursors,
        me,
        "CONN#",
        |c: &Connection| c.other_user_id.clone(),
        limit,
        cursor,
    )
    .await?;
    let others: Vec<UserId> = records.iter().map(|c| c.other_user_id.clone()).collect();
    let mut views = profile_views(store, me, &others, Relationship::Connection).await?;
    let items = records
        .into_iter()
        .map(|c| ConnectionView {
            profile: views.remove(&c.other_user_id),
            user_id: c.other_user_id,
            requested_by: c.requested_by,
            connected_at: c.created_at,
        })
        .collect();
    Ok(Page { items, next_cursor })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RequestDirection {
    Incoming,
    Outgoing,
}

impl RequestDirection {
    /// `?direction=incoming|outgoing`, incoming when absent.
    pub fn parse(raw: Option<&str>) -> AppResult<Self> {
        match raw {
            None | Some("incoming") => Ok(Self::Incoming),
            Some("outgoing") => Ok(Self::Outgoing),
            Some(_) => Err(AppError::bad_field(
                "direction",
                "must be incoming or outgoing",
            )),
        }
    }
}

/// A pending request as one of its two users lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    /// The other user: the sender of an incoming request, the target of an outgoing one.
    pub user_id: UserId,
    pub direction: RequestDirection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

impl RequestView {
    pub fn of(request: ConnectionRequest, direction: RequestDirection) -> Self {
        let user_id = match direction {
            RequestDirection::Incoming => request.sender_id,
            RequestDirection::Outgoing => request.target_id,
        };
        Self {
            user_id,
            direction,
            message: request.message,
            created_at: request.created_at,
            profile: None,
        }
    }
}

/// `GET /v1/connections/requests?direction=`: Query `USER#<me>` `begins_with(SK,
/// REQIN#|REQOUT#)` + one BatchGetItem of blocks + one of profiles per page.
pub async fn list_requests(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    direction: RequestDirection,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<RequestView>> {
    let (prefix, other_of): (&str, fn(&ConnectionRequest) -> UserId) = match direction {
        RequestDirection::Incoming => ("REQIN#", |r| r.sender_id.clone()),
        RequestDirection::Outgoing => ("REQOUT#", |r| r.target_id.clone()),
    };
    let (records, next_cursor) =
        my_page(store, cursors, me, prefix, other_of, limit, cursor).await?;
    let others: Vec<UserId> = records.iter().map(other_of).collect();
    let mut views = profile_views(store, me, &others, Relationship::Stranger).await?;
    let items = records
        .into_iter()
        .map(|r| {
            let mut view = RequestView::of(r, direction);
            view.profile = views.remove(&view.user_id);
            view
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// A user I block, as I list them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    pub user_id: UserId,
    pub blocked_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileView>,
}

/// `GET /v1/blocks`: Query `USER#<me>` `begins_with(SK, BLOCK#)` (which `BLOCKEDBY#`
/// does not match, so who blocks me never shows) + one BatchGetItem of profiles.
pub async fn list_blocks(
    store: &Store,
    cursors: &CursorCodec,
    me: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<BlockView>> {
    let scope = format!("blocks/{me}");
    let start = cursor.map(|c| cursors.open(&scope, c)).transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(user_partition(me))
                .prefix("BLOCK#")
                .limit(limit)
                .start(start),
        )
        .await?;
    let blocks = items
        .into_iter()
        .map(store::from_item::<Block>)
        .collect::<AppResult<Vec<_>>>()?;
    let others: Vec<UserId> = blocks.iter().map(|b| b.blocked_id.clone()).collect();
    let mut views = profile_views(store, me, &others, Relationship::Stranger).await?;
    let items = blocks
        .into_iter()
        .map(|b| BlockView {
            profile: views.remove(&b.blocked_id),
            user_id: b.blocked_id,
            blocked_at: b.created_at,
        })
        .collect();
    let next_cursor = next.map(|key| cursors.seal(&scope, &key)).transpose()?;
    Ok(Page { items, next_cursor })
}

// ---------------------------------------------------------------------------------
// Suggestions
// ---------------------------------------------------------------------------------

/// Bounds that keep a suggestions request a constant number of small reads, whatever
/// the size of the network: index pages read per attribute, how many of my skills and
/// goals are looked up, how many of my connections' networks are read for mutual
/// connections, and how many candidates are checked and scored.
pub mod suggestion_bounds {
    pub const INDEX_PAGE: u32 = 50;
    pub const SKILLS: usize = 10;
    pub const GOALS: usize = 5;
    pub const MUTUAL_SOURCES: u32 = 20;
    pub const MUTUAL_PAGE: u32 = 50;
    pub const CANDIDATES: usize = 100;
    pub const MAX_RESULTS: u32 = 50;
}

/// Score weights: a mutual connection is the strongest sign of knowing someone.
pub mod suggestion_weights {
    pub const MUTUAL_CONNECTION: u32 = 4;
    pub const SHARED_SKILL: u32 = 2;
    pub const SAME_LEARNING_GOAL: u32 = 3;
    pub const SAME_OCCUPATION: u32 = 2;
}

/// Why someone is suggested; only what the viewer may see of them is cited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SuggestionReason {
    SharedSkills { skills: Vec<String> },
    SameLearningGoal { goals: Vec<String> },
    SameOccupation { occupation: String },
    MutualConnections { count: usize },
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub user_id: UserId,
    pub score: u32,
    pub reasons: Vec<SuggestionReason>,
    pub profile: ProfileView,
}

/// What of my own profile suggestions match on (normalized).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchBasis {
    pub skills: BTreeSet<String>,
    pub occupation: Option<String>,
    pub goals: BTreeSet<String>,
}

impl MatchBasis {
    pub fn of(profile: &profiles::Profile) -> Self {
        Self {
            skills: profile
                .skills
                .iter()
                .map(|s| profiles::normalize_label(s))
                .take(suggestion_bounds::SKILLS)
                .collect(),
            occupation: profile
                .occupation
                .as_deref()
                .map(profiles::normalize_key_part)
                .filter(|o| !o.is_empty()),
            goals: profile
                .learning_goals
                .iter()
                .map(|g| profiles::normalize_key_part(g))
                .filter(|g| !g.is_empty())
                .take(suggestion_bounds::GOALS)
                .collect(),
        }
    }
}

/// Scores a candidate from what the viewer may see of them (`view`, a stranger's view of
/// a public profile) and their number of mutual connections. Pure.
pub fn score_candidate(
    basis: &MatchBasis,
    view: &ProfileView,
    mutual: usize,
) -> (u32, Vec<SuggestionReason>) {
    use suggestion_weights::*;
    let mut score = 0u32;
    let mut reasons = Vec::new();
    if mutual > 0 {
        score += MUTUAL_CONNECTION * u32::try_from(mutual).unwrap_or(u32::MAX / 8);
        reasons.push(SuggestionReason::MutualConnections { count: mutual });
    }
    let skills: Vec<String> = view
        .skills
        .iter()
        .flatten()
        .filter(|s| basis.skills.contains(&profiles::normalize_label(s)))
        .cloned()
        .collect();
    if !skills.is_empty() {
        score += SHARED_SKILL * u32::try_from(skills.len()).unwrap_or(0);
        reasons.push(SuggestionReason::SharedSkills { skills });
    }
    let goals: Vec<String> = view
        .learning_goals
        .iter()
        .flatten()
        .filter(|g| basis.goals.contains(&profiles::normalize_key_part(g)))
        .cloned()
        .collect();
    if !goals.is_empty() {
        score += SAME_LEARNING_GOAL * u32::try_from(goals.len()).unwrap_or(0);
        reasons.push(SuggestionReason::SameLearningGoal { goals });
    }
    if let Some(occupation) = view
        .occupation
        .as_ref()
        .filter(|o| basis.occupation.as_deref() == Some(profiles::normalize_key_part(o).as_str()))
    {
        score += SAME_OCCUPATION;
        reasons.push(SuggestionReason::SameOccupation {
            occupation: occupation.clone(),
        });
    }
    (score, reasons)
}

/// The user ids of one page of a derived index partition (`SKILL#`, `OCCUPATION#`,
/// `GOAL#`): one Query.
async fn index_users(store: &Store, partition: String) -> AppResult<Vec<UserId>> {
    let (items, _) = store
        .query(&KeyQuery::partition(partition).limit(suggestion_bounds::INDEX_PAGE))
        .await?;
    Ok(items
        .iter()
        .filter_map(|item| item.get("userId")?.as_s().ok())
        .filter_map(|id| UserId::parse(id).ok())
        .collect())
}

/// People I may know, best first. Candidates come from bounded Queries only: the
/// skill, occupation and learning-goal indexes of my attributes (public profiles only)
/// and the first connection page of a bounded number of my connections (mutual
/// connections). The best candidates by those hits are then checked in bulk: a pair
/// lock (connected, or a request pending either way) or a block either way excludes
/// them, and only public profiles are kept and scored on what a stranger sees.
pub async fn suggestions(store: &Store, me: &UserId, limit: u32) -> AppResult<Vec<Suggestion>> {
    use suggestion_bounds::*;
    let mine = profiles::get_my_profile(store, me).await?;
    let basis = MatchBasis::of(&mine);
    // Preliminary hits per candidate, only to choose which candidates to check.
    let mut hits: HashMap<UserId, u32> = HashMap::new();
    for skill in &basis.skills {
        for user in index_users(store, format!("SKILL#{skill}")).await? {
            *hits.entry(user).or_default() += suggestion_weights::SHARED_SKILL;
        }
    }
    if let Some(occupation) = &basis.occupation {
        for user in index_users(store, format!("OCCUPATION#{occupation}")).await? {
            *hits.entry(user).or_default() += suggestion_weights::SAME_OCCUPATION;
        }
    }
    for goal in &basis.goals {
        for user in index_users(store, format!("GOAL#{goal}")).await? {
            *hits.entry(user).or_default() += suggestion_weights::SAME_LEARNING_GOAL;
        }
    }
    let mut mutual: HashMap<UserId, usize> = HashMap::new();
    let (my_connections, _) = connection_ids_page(store, me, MUTUAL_SOURCES, None).await?;
    for friend in &my_connections {
        let (theirs, _) = connection_ids_page(store, friend, MUTUAL_PAGE, None).await?;
        for user in theirs {
            *mutual.entry(user.clone()).or_default() += 1;
            *hits.entry(user).or_default() += suggestion_weights::MUTUAL_CONNECTION;
        }
    }
    hits.remove(me);
    for friend in &my_connections {
        hits.remove(friend);
    }
    let mut pool: Vec<(UserId, u32)> = hits.into_iter().collect();
    pool.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pool.truncate(CANDIDATES);
    let pool: Vec<UserId> = pool.into_iter().map(|(user, _)| user).collect();

    let pair_keys: Vec<Key> = pool.iter().map(|other| keys::pair(me, other)).collect();
    let related: HashSet<UserId> = store
        .batch_get::<PairLock>(&pair_keys)
        .await?
        .into_iter()
        .flat_map(|lock| [lock.sender_id, lock.target_id])
        .collect();
    let blocked = blocked_among(store, me, &pool).await?;
    let candidates: Vec<UserId> = pool
        .into_iter()
        .filter(|user| !related.contains(user) && !blocked.contains(user))
        .collect();
    let profile_keys: Vec<Key> = candidates.iter().map(profiles::keys::profile).collect();
    let mut scored: Vec<Suggestion> = Vec::new();
    for item in store.batch_get_items(&profile_keys).await? {
        let profile = profiles::profile_from_item(item)?;
        if !profile.is_public() {
            continue;
        }
        let Some(view) = profiles::view_as(&profile, Relationship::Stranger) else {
            continue;
        };
        let common = mutual.get(&profile.user_id).copied().unwrap_or(0);
        let (score, reasons) = score_candidate(&basis, &view, common);
        if score > 0 {
            scored.push(Suggestion {
                user_id: profile.user_id,
                score,
                reasons,
                profile: view,
            });
        }
    }
    scored.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    scored.truncate(usize::try_from(limit.min(MAX_RESULTS)).unwrap_or(20));
    Ok(scored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    fn view(skills: &[&str], occupation: Option<&str>, goals: Option<&[&str]>) -> ProfileView {
        ProfileView {
            user_id: id("them"),
            handle: "them".into(),
            display_name: "Them".into(),
            avatar_url: None,
            bio: None,
            headline: None,
            occupation: occupation.map(str::to_owned),
            skills: Some(skills.iter().map(|s| (*s).to_owned()).collect()),
            interests: None,
            learning_goals: goals.map(|g| g.iter().map(|s| (*s).to_owned()).collect()),
            location: None,
            timezone: None,
            relationship: "none",
        }
    }

    fn basis() -> MatchBasis {
        MatchBasis {
            skills: BTreeSet::from(["rust".to_owned(), "sql".to_owned()]),
            occupation: Some("data engineer".into()),
            goals: BTreeSet::from(["ship a lambda".to_owned()]),
        }
    }

    #[test]
    fn the_pair_lock_is_the_same_from_either_side() {
        assert_eq!(
            keys::pair(&id("a"), &id("b")),
            keys::pair(&id("b"), &id("a"))
        );
        assert_eq!(keys::pair(&id("b"), &id("a")).pk, "PAIR#a#b");
    }

    #[test]
    fn a_candidate_scores_on_every_shared_attribute_with_its_reasons() {
        let candidate = view(
            &["RUST", "Go", "sql"],
            Some("Data  Engineer"),
            Some(&["Ship a Lambda"]),
        );

        let (score, reasons) = score_candidate(&basis(), &candidate, 2);

        assert_eq!(score, 2 * 4 + 2 * 2 + 3 + 2);
        assert_eq!(
            reasons,
            vec![
                SuggestionReason::MutualConnections { count: 2 },
                SuggestionReason::SharedSkills {
                    skills: vec!["RUST".into(), "sql".into()]
                },
                SuggestionReason::SameLearningGoal {
                    goals: vec!["Ship a Lambda".into()]
                },
                SuggestionReason::SameOccupation {
                    occupation: "Data  Engineer".into()
                },
            ]
        );
    }

    #[test]
    fn hidden_fields_give_no_reason_and_nothing_shared_scores_zero() {
        let (score, reasons) = score_candidate(&basis(), &view(&["cobol"], None, None), 0);

        assert_eq!(score, 0);
        assert!(reasons.is_empty());
    }

    #[test]
    fn my_match_basis_is_normalized_and_bounded() {
        let mut profile: profiles::Profile = serde_json::from_value(serde_json::json!({
            "userId": "me", "handle": "mee", "displayName": "Me", "version": 1,
            "createdAt": "t", "updatedAt": "t", "occupation": "Data #Engineer",
            "learningGoals": ["Ship  a Lambda"],
        }))
        .unwrap();
        profile.skills = (0..15).map(|i| format!("Skill {i}")).collect();

        let basis = MatchBasis::of(&profile);

        assert_eq!(basis.skills.len(), suggestion_bounds::SKILLS);
        assert!(basis.skills.contains("skill 0"));
        assert_eq!(basis.occupation.as_deref(), Some("data engineer"));
        assert!(basis.goals.contains("ship a lambda"));
    }

    #[test]
    fn account_deletion_reaches_the_other_side_of_every_relationship_but_not_blocks_on_me() {
        let (me, other) = (id("me"), id("other"));

        assert_eq!(
            owned_elsewhere(&me, "CONN#other"),
            vec![keys::connection(&other, &me), keys::pair(&me, &other)]
        );
        assert_eq!(
            owned_elsewhere(&me, "REQIN#other"),
            vec![keys::outgoing_request(&other, &me), keys::pair(&me, &other)]
        );
        assert_eq!(
            owned_elsewhere(&me, "REQOUT#other"),
            vec![keys::incoming_request(&other, &me), keys::pair(&me, &other)]
        );
        assert_eq!(
            owned_elsewhere(&me, "BLOCK#other"),
            vec![keys::blocked_by(&other, &me)]
        );
        assert!(owned_elsewhere(&me, "BLOCKEDBY#other").is_empty());
        assert!(owned_elsewhere(&me, "PROFILE").is_empty());
    }

    #[test]
    fn a_block_clears_every_relationship_item_between_the_two() {
        let keys = relationship_keys(&id("a"), &id("b"));
        let sort_keys: BTreeSet<&str> = keys.iter().map(|k| k.sk.as_str()).collect();

        assert_eq!(keys.len(), 7);
        assert_eq!(
            sort_keys,
            BTreeSet::from([
                "PAIR", "CONN#a", "CONN#b", "REQIN#a", "REQIN#b", "REQOUT#a", "REQOUT#b"
            ])
        );
    }

    #[test]
    fn the_request_direction_defaults_to_incoming_and_refuses_others() {
        assert_eq!(
            RequestDirection::parse(None).unwrap(),
            RequestDirection::Incoming
        );
        assert_eq!(
            RequestDirection::parse(Some("outgoing")).unwrap(),
            RequestDirection::Outgoing
        );
        assert!(RequestDirection::parse(Some("both")).is_err());
    }

    #[test]
    fn a_request_message_is_at_most_300_characters() {
        let request = |message: String| NewConnectionRequest {
            user_id: Some("x".into()),
            handle: None,
            message: Some(message),
        };

        assert!(check(&request("é".repeat(300))).is_ok());
        assert!(check(&request("é".repeat(301))).is_err());
    }

    #[test]
    fn stored_items_carry_their_keys_and_entity() {
        let block = Block {
            blocker_id: id("a"),
            blocked_id: id("b"),
            created_at: "t".into(),
        };

        let item = item_of(&keys::block(&id("a"), &id("b")), "Block", &block).unwrap();

        assert_eq!(item["PK"].as_s().unwrap(), "USER#a");
        assert_eq!(item["SK"].as_s().unwrap(), "BLOCK#b");
        assert_eq!(item["entity"].as_s().unwrap(), "Block");
        assert_eq!(item["blockedId"].as_s().unwrap(), "b");
    }
}
