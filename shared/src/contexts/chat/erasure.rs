//! The chat context's part of account erasure and export.
//!
//! - `subscriptions`: every open connection of mine forgets its room subscriptions
//!   (both sides) and its connection records (`forget_connection`).
//! - `rooms`: room by room (my memberships), my messages are deleted through my
//!   client-message-id items (`CMID#<me>#…`, one per message I sent, same lifetime),
//!   bounded per chunk; then the room's preview is cleared if it is my message, my id is
//!   replaced by [`ERASED_USER`] in `createdBy` / `dmUserIds`, a direct room's DM lock
//!   is deleted (a re-created account can open a new conversation with that person),
//!   and my typing, member and membership items go.

use serde::{Deserialize, Serialize};

use crate::contexts::chat::{Room, RoomKind, keys};
use crate::core::cursor::PageKey;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::table::jobs::{
    self, AccountSteps, Chunk, ERASED_USER, ErasureStep, ExportChunk, ExportStep, Next,
};
use crate::table::keys::user_partition;
use crate::table::store::{Expr, Key, KeyQuery, Store};

pub const STEPS: AccountSteps = AccountSteps {
    context: "chat",
    erasure: &[
        ErasureStep {
            name: "subscriptions",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::drain(
                        store,
                        &user_partition(me),
                        &["WSCONN#"],
                        cursor,
                        limit,
                        |item| async move {
                            if let Some(connection_id) =
                                jobs::attr(&item, "SK").and_then(|sk| sk.strip_prefix("WSCONN#"))
                            {
                                crate::contexts::chat::forget_connection(store, connection_id)
                                    .await?;
                                crate::contexts::realtime::remove_connection(store, connection_id)
                                    .await?;
                            }
                            Ok(vec![])
                        },
                    )
                    .await
                })
            },
        },
        ErasureStep {
            name: "rooms",
            run: |store, me, _cursor, limit| Box::pin(rooms(store, me, limit)),
        },
    ],
    export: &[
        ExportStep {
            name: "messages",
            run: |store, me, cursor, limit| Box::pin(export_messages(store, me, cursor, limit)),
        },
        ExportStep {
            name: "preferences",
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_prefixes(
                        store,
                        &user_partition(me),
                        &["CHATPREFS", "PRESENCE"],
                        cursor,
                        limit,
                    )
                    .await
                })
            },
        },
    ],
    nothing_because: None,
};

/// Messages of mine deleted per Query page (each is two keys: message and its CMID).
const MESSAGES_PER_PAGE: u32 = 100;

/// Works through my rooms, one at a time, within `limit` units (a unit is a message or
/// a room). A drain: what is done is deleted, so it needs no cursor.
async fn rooms(store: &Store, me: &UserId, limit: u32) -> AppResult<Chunk> {
    let mut work = 0u32;
    loop {
        if work >= limit {
            return Ok(Chunk {
                work,
                next: Next::Continue(None),
            });
        }
        let (memberships, _) = store
            .query(
                &KeyQuery::partition(user_partition(me))
                    .prefix("ROOM#")
                    .limit(1),
            )
            .await?;
        let Some(room_id) = memberships
            .first()
            .and_then(|item| jobs::attr(item, "SK"))
            .and_then(|sk| sk.strip_prefix("ROOM#"))
            .map(str::to_owned)
        else {
            return Ok(Chunk::done(work));
        };
        let page = (limit - work).clamp(1, MESSAGES_PER_PAGE);
        let (sent, _) = store
            .query(
                &KeyQuery::partition(keys::room_partition(&room_id))
                    .prefix(format!("CMID#{me}#"))
                    .limit(page),
            )
            .await?;
        if sent.is_empty() {
            leave_room(store, me, &room_id).await?;
            work += 1;
            continue;
        }
        work += u32::try_from(sent.len()).unwrap_or(u32::MAX);
        let doomed: Vec<Key> = sent
            .iter()
            .flat_map(|item| {
                let message = jobs::attr(item, "messageId").map(|id| keys::message(&room_id, id));
                message.into_iter().chain(jobs::key_of(item))
            })
            .collect();
        store.batch_delete(&doomed).await?;
    }
}

/// After my messages are gone: the room forgets me (preview, creator, namer, DM pair, lock),
/// then my typing, member and membership items go. Safe to repeat.
async fn leave_room(store: &Store, me: &UserId, room_id: &str) -> AppResult<()> {
    let room: Option<Room> = store.get(&keys::room(room_id)).await?;
    let channel = room.as_ref().is_some_and(|r| r.kind == RoomKind::Channel);
    if let Some(room) = room {
        if room.kind == RoomKind::Dm
            && let [a, b] = room.dm_user_ids.as_slice()
        {
            store.batch_delete(&[keys::dm_lock(a, b)]).await?;
        }
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        if room
            .last_message
            .as_ref()
            .is_some_and(|p| &p.sender_id == me)
        {
            removes.push("lastMessage");
        }
        let named_by_me = room.name_by.as_ref() == Some(me);
        if &room.created_by == me {
            sets.push("createdBy = :nobody");
        }
        if named_by_me {
            sets.push("nameBy = :nobody");
        }
        if room.dm_user_ids.contains(me) {
            sets.push("dmUserIds = :pair");
        }
        if !sets.is_empty() || !removes.is_empty() {
            let mut text = String::new();
            if !sets.is_empty() {
                text.push_str(&format!("SET {}", sets.join(", ")));
            }
            if !removes.is_empty() {
                text.push_str(&format!(" REMOVE {}", removes.join(", ")));
            }
            let mut update = Expr::new(text.trim());
            if &room.created_by == me || named_by_me {
                update = update.value(":nobody", jobs::text(ERASED_USER));
            }
            if room.dm_user_ids.contains(me) {
                let pair = room.dm_user_ids.iter().map(|id| {
                    if id == me {
                        ERASED_USER.to_owned()
                    } else {
                        id.as_str().to_owned()
                    }
                });
                update = update.value(":pair", jobs::text_list(pair));
            }
            store
                .update_where(
                    &keys::room(room_id),
                    update,
                    Expr::new("attribute_exists(PK)"),
                )
                .await?;
        }
    }
    // Members I added keep their membership; who added them no longer names me. (A
    // channel's members added themselves, on their first use of it.)
    if !channel {
        let members = KeyQuery::partition(keys::room_partition(room_id))
            .prefix("MEMBER#")
            .limit(100);
        jobs::anonymize_matching(store, members, &["addedBy"], me).await?;
    }
    store
        .batch_delete(&[
            keys::typing(room_id, me),
            keys::member(room_id, me),
            keys::membership(me, room_id),
        ])
        .await?;
    // Who the room's messages reach changed: lists kept at the old version go.
    crate::contexts::chat::subscriptions_changed(store, room_id).await
}

/// Where the message export stands: which membership page, room and message page.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MessagesCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rooms: Option<PageKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent: Option<PageKey>,
}

/// My rooms (membership records) and, room by room, every message I sent, with its
/// text (through my client-message-id items, one BatchGetItem per page).
async fn export_messages(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<ExportChunk> {
    let mut at: MessagesCursor = match cursor.as_deref() {
        Some(raw) => serde_json::from_str(raw).map_err(AppError::internal)?,
        None => MessagesCursor::default(),
    };
    let mut records = Vec::new();
    let room_id = match at.room.clone() {
        Some(room_id) => room_id,
        None => {
            let (memberships, next) = store
                .query(
                    &KeyQuery::partition(user_partition(me))
                        .prefix("ROOM#")
                        .limit(1)
                        .start(at.rooms.clone()),
                )
                .await?;
            let Some(item) = memberships.into_iter().next() else {
                return Ok(ExportChunk {
                    records,
                    next: Next::Done,
                });
            };
            let room_id = jobs::attr(&item, "roomId").unwrap_or_default().to_owned();
            at.rooms = next;
            records.push(jobs::export_record(item)?);
            room_id
        }
    };
    let (sent, next) = store
        .query(
            &KeyQuery::partition(keys::room_partition(&room_id))
                .prefix(format!("CMID#{me}#"))
                .limit(limit.clamp(1, 100))
                .start(at.sent.take()),
        )
        .await?;
    let messages: Vec<Key> = sent
        .iter()
        .filter_map(|item| jobs::attr(item, "messageId"))
        .map(|id| keys::message(&room_id, id))
        .collect();
    for item in store.batch_get_items(&messages).await? {
        records.push(jobs::export_record(item)?);
    }
    match next {
        Some(next) => {
            at.room = Some(room_id);
            at.sent = Some(next);
        }
        None => {
            at.room = None;
            if at.rooms.is_none() {
                return Ok(ExportChunk {
                    records,
                    next: Next::Done,
                });
            }
        }
    }
    let raw = serde_json::to_string(&at).map_err(AppError::internal)?;
    Ok(ExportChunk {
        records,
        next: Next::Continue(Some(raw)),
    })
}
