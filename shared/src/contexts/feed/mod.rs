//! The activity feed: activities, fan-out on write into home feeds and the public
//! timeline, likes, comments, shares and deletion.
//!
//! Items (see `docs/data-model.md`):
//! - `ACT#<activityId> / META` — the activity (entity `Activity`), GSI1
//!   `USER#<author> / ACT#<activityId>`; its likes `ACT#<id> / LIKE#<userId>` and comments
//!   `ACT#<id> / COMMENT#<commentId>` live in the same partition. The comment and
//!   share counters on META change in the same transaction as the comment or share,
//!   so they are exact; likes are counted on write shards `ACT#<id>#likeCount#<k>`
//!   that the stream settles onto META (`LikeTally`, see [`crate::table::counter`]).
//! - `USER#<author> / ACTIVITY#<activityId>` — points the author's partition at the
//!   activity, so deleting the account deletes the activity (see [`owned_elsewhere`]).
//! - `FEED#<userId> / <activityId>` — a home-feed entry, TTL 30 days after the activity.
//! - `TIMELINE#<yyyy-mm-dd> / <activityId>` — a public-timeline entry, TTL 7 days.
//! - `FANOUT#<activityId> / <put|delete>#<step>` — fan-out progress, TTL 1 day.
//! - Fan-out queue messages ([`FeedDelivery`]): `{entry, op, recipients}`, one page of an
//!   audience each.
//!
//! Activity ids are ULIDs, so a feed partition sorted by sort key is sorted by time.
//! Activities generated from the stream (a topic, reply, connection or accepted answer)
//! get a *derived* ULID: the source's timestamp plus 80 bits of a hash of the source, so a
//! redelivered record derives the same id and the conditional put creates nothing twice.
//! Deleting is a soft delete (a tombstone with a TTL longer than the stream's 24 h
//! retention), so a late redelivery of the source cannot resurrect a deleted activity.
//!
//! ## Fan-out (the feed reaction of `StreamFanoutFunction`, deliveries by `FeedWorkerFunction`)
//! An Activity INSERT starts a *put* fan-out; an Activity turning `deleted` (or removed
//! with the account) starts a *delete* fan-out, the same way. Step 0 writes (or deletes)
//! the author's own entry and the timeline entry, then pages through the author's
//! connections (`graph::connection_ids_page`, one Query of
//! [`FanoutSettings::connections_per_page`] per page) and queues each page as up to
//! [`DELIVERIES_PER_PAGE`] [`FeedDelivery`] messages of `page_size` recipients on the
//! fan-out queue (one SendMessageBatch). The feed worker writes each delivery's entries
//! with concurrent BatchWriteItems, the messages of a batch concurrently and Lambda's
//! batches in parallel, so an audience lands in parallel, not in sequential stream steps.
//! Reading the audience is bounded: an invocation reads at most
//! `max_pages_per_invocation` pages in total (a [`FanoutBudget`] shared by every record
//! of the stream batch); when the budget runs out, the job writes a progress item
//! `FANOUT#<id> / <op>#<step+1>` holding the connection cursor, with
//! `attribute_not_exists`, and its own INSERT record continues in a later invocation.
//! Everything is idempotent under retries and redelivery:
//! - feed keys are deterministic and their contents derive only from the activity, so a
//!   repeated delivery writes the same items (never a second entry) and a repeated
//!   delete is a no-op; a delivery names its recipients, so a redelivered stream record
//!   or SQS message does the same writes again;
//! - the continuation of step n is step n+1 by key; a redelivered step finds it existing
//!   (conditional put fails) and stops, so the chain never forks into duplicates;
//! - a put step, and every put delivery (one BatchGetItem), re-reads the activity (and
//!   the author's deleted-account marker) first and stops if it was deleted meanwhile:
//!   SQS keeps no order, so a put delivery may arrive after the delete's;
//! - the worker reports each failed message (`ReportBatchItemFailures`); after 5
//!   receives a delivery lands in the fan-out dead-letter queue.
//!
//! Reads re-check every entry against its activity (one BatchGetItem per page), so an
//! entry that a racing put re-created after a delete, or one left in the feed of a user
//! who is no longer a connection, is never shown; TTL removes it later.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tracing::instrument;
use validator::{Validate, ValidationError};

use crate::contexts::{communities, courses, discussions, graph, moderation};
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult, FieldError};
use crate::core::ids::{UserId, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::counter::ShardedCounter;
use crate::table::entity::{Entity, IndexKey};
use crate::table::store::{
    self, AttributeValue, BatchWrite, Expr, Index, Item, Key, KeyQuery, Returning, Store,
};
use crate::table::transaction::{Condition, Transaction, WriteError};

pub mod erasure;

pub mod reactions;

/// The stream's typed change (one type for every context).
pub use crate::table::stream::{Change, ChangeKind};

mod access;
mod input;
mod items;
mod queue;
mod rules;
mod use_cases;

pub use access::*;
pub use input::*;
pub use items::*;
pub use queue::*;
pub use rules::*;
pub use use_cases::*;
