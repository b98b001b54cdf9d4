//! Delivers chat events from the table's stream: a stored message (new, edited or
//! deleted), a read receipt, a member joining or leaving. Each event goes to every
//! connection subscribed to its room through `@connections`; closed connections (410)
//! are forgotten. Once per room per batch, members' inboxes move to the latest message
//! and members with no subscribed connection get a notification (grouped per room).
//!
//! Guarantee: every stored message reaches every connection subscribed when its record
//! is processed, at least once. A record whose posts fail (other than 410) is reported
//! as failed and retried, so connections that already had it may see it again: events
//! carry the message id and version, and clients keep one copy per id.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agora::batch;
use agora::chat::{self, Member, Message, RoomEvent, Subscription};
use agora::ids::UserId;
use agora::push::Pusher;
use agora::store::{self, Store};
use agora::{AppError, AppResult, config, telemetry};
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};
use tokio::sync::Mutex;

struct State {
    store: Store,
    pusher: Pusher,
}

/// Rooms of one batch delivered at the same time.
const ROOMS_AT_ONCE: usize = 16;

/// The partition key of a record: its room (`ROOM#<roomId>`).
fn room_of(record: &EventRecord) -> String {
    store::Item::from(record.change.keys.clone())
        .get(store::PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let table = config::required("TABLE_NAME")?;
    let aws = aws_config::load_from_env().await;
    let state = Arc::new(State {
        store: Store::from_sdk_config(&aws, table),
        pusher: Pusher::from_sdk_config(&aws),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let state = state.clone();
        async move {
            let last_per_room = last_message_per_room(&event.payload);
            // Subscribers are read once per room per batch.
            let subscribers = Mutex::new(HashMap::<String, Vec<Subscription>>::new());
            // Rooms are independent: their records run concurrently, each room's in
            // order (a room's items share a partition, hence a shard).
            let response: DynamoDbEventResponse =
                batch::stream_by_key(&event.payload, room_of, ROOMS_AT_ONCE, |record| {
                    handle(&state, &subscribers, &last_per_room, record)
                })
                .await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

/// What one stream record means for the room's clients.
enum Change {
    Message { message: Message, new: bool },
    Read(Member),
    Joined(Member),
    Left(Member),
}

fn entity(image: &serde_dynamo::Item) -> Option<String> {
    let item: store::Item = image.clone().into();
    item.get("entity")?.as_s().ok().cloned()
}

fn parse<T: serde::de::DeserializeOwned>(image: &serde_dynamo::Item) -> AppResult<T> {
    store::from_item(image.clone())
}

fn change_of(record: &EventRecord) -> AppResult<Option<Change>> {
    let new = &record.change.new_image;
    let old = &record.change.old_image;
    Ok(
        match (
            record.event_name.as_str(),
            entity(new).or_else(|| entity(old)).as_deref(),
        ) {
            ("INSERT", Some("Message")) => Some(Change::Message {
                message: parse(new)?,
                new: true,
            }),
            ("MODIFY", Some("Message")) => Some(Change::Message {
                message: parse(new)?,
                new: false,
            }),
            ("INSERT", Some("RoomMember")) => Some(Change::Joined(parse(new)?)),
            ("REMOVE", Some("RoomMember")) => Some(Change::Left(parse(old)?)),
            ("MODIFY", Some("RoomMember")) => {
                let before: Member = parse(old)?;
                let after: Member = parse(new)?;
                // A read position moved forward by markRead (a send moves the sender's own
                // position too, which is no news to anyone).
                let by_read = store::Item::from(new.clone())
                    .get("readVia")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|v| v == "read");
                (after.read_seq > before.read_seq && by_read).then_some(Change::Read(after))
            }
            _ => None,
        },
    )
}

/// The event id of the last new message of each room in the batch: where the
/// once-per-room work (inboxes, notifications) happens.
fn last_message_per_room(event: &Event) -> HashSet<String> {
    let mut last: HashMap<String, String> = HashMap::new();
    for record in &event.records {
        if let Ok(Some(Change::Message { message, new: true })) = change_of(record) {
            last.insert(message.room_id, record.event_id.clone());
        }
    }
    last.into_values().collect()
}

async fn subscribers_of(
    state: &State,
    cache: &Mutex<HashMap<String, Vec<Subscription>>>,
    room_id: &str,
) -> AppResult<Vec<Subscription>> {
    let mut cache = cache.lock().await;
    if let Some(found) = cache.get(room_id) {
        return Ok(found.clone());
    }
    let found = chat::subscribers(&state.store, room_id).await?;
    cache.insert(room_id.to_owned(), found.clone());
    Ok(found)
}

async fn handle(
    state: &State,
    cache: &Mutex<HashMap<String, Vec<Subscription>>>,
    last_per_room: &HashSet<String>,
    record: EventRecord,
) -> AppResult<()> {
    let Some(change) = change_of(&record)? else {
        return Ok(());
    };
    let (room_id, event) = match &change {
        Change::Message { message, new } => {
            let room_id = message.room_id.clone();
            let message = message.clone();
            let event = match (new, message.deleted) {
                (true, _) => RoomEvent::Message {
                    room_id: room_id.clone(),
                    message,
                },
                (false, true) => RoomEvent::MessageDeleted {
                    room_id: room_id.clone(),
                    message,
                },
                (false, false) => RoomEvent::MessageEdited {
                    room_id: room_id.clone(),
                    message,
                },
            };
            (room_id, event)
        }
        Change::Read(member) => (
            member.room_id.clone(),
            RoomEvent::ReadReceipt {
                room_id: member.room_id.clone(),
                user_id: member.user_id.clone(),
                message_id: member.last_read_message_id.clone().unwrap_or_default(),
                read_at: member.last_read_at.clone().unwrap_or_default(),
            },
        ),
        Change::Joined(member) => (
            member.room_id.clone(),
            RoomEvent::MemberJoined {
                room_id: member.room_id.clone(),
                user_id: member.user_id.clone(),
            },
        ),
        Change::Left(member) => (
            member.room_id.clone(),
            RoomEvent::MemberLeft {
                room_id: member.room_id.clone(),
                user_id: member.user_id.clone(),
            },
        ),
    };
    let subscribers = subscribers_of(state, cache, &room_id).await?;
    let data = serde_json::to_vec(&event).map_err(AppError::internal)?;
    let targets: Vec<String> = subscribers
        .iter()
        .map(|s| s.connection_id.clone())
        .collect();
    let posting = std::time::Instant::now();
    let report = state.pusher.broadcast(&state.store, &targets, &data).await;
    tracing::info!(
        room_id = %room_id,
        subscribers = targets.len(),
        delivered = report.delivered,
        gone = report.gone,
        failed = report.failed,
        post_ms = posting.elapsed().as_millis() as u64,
        "event delivered"
    );
    if report.gone > 0 {
        // Forgotten connections must not be posted to again in this batch.
        cache.lock().await.remove(&room_id);
    }
    if report.failed > 0 {
        return Err(AppError::internal(format!(
            "{} of {} posts failed",
            report.failed,
            targets.len()
        )));
    }
    if let Change::Message { message, new: true } = &change
        && last_per_room.contains(&record.event_id)
    {
        let started = std::time::Instant::now();
        after_latest_message(state, message, &subscribers).await?;
        tracing::info!(
            room_id = %message.room_id,
            after_ms = started.elapsed().as_millis() as u64,
            "inboxes and notifications done"
        );
    }
    Ok(())
}

/// Once per room per batch: inboxes move to the latest message, and members with no
/// subscribed connection are notified (and pushed the notification if connected).
async fn after_latest_message(
    state: &State,
    message: &Message,
    subscribers: &[Subscription],
) -> AppResult<()> {
    let watching: HashSet<UserId> = subscribers.iter().map(|s| s.user_id.clone()).collect();
    let members =
        chat::touch_inboxes(&state.store, &message.room_id, &message.sent_at, &watching).await?;
    for member in members {
        if watching.contains(&member) || member == message.sender_id {
            continue;
        }
        let notified = agora::notifications::notify_message(
            &state.store,
            &member,
            &message.sender_id,
            &message.room_id,
            &message.message_id,
            &message.sent_at,
        )
        .await?;
        if let Some(notification) = notified
            && let Err(error) = state
                .pusher
                .push_notification(&state.store, notification)
                .await
        {
            // Stored: the list and the count are the source of truth.
            tracing::warn!(%error, "pushing a message notification failed");
        }
    }
    Ok(())
}
