//! Discussions: categories (a hierarchy created by admins), topics, threaded replies,
//! reactions, Q&A (accepted answers), pinning, edit history and soft delete.
//!
//! Items (keys in [`keys`], documented in `docs/data-model.md`):
//! - `CATEGORY#<id> / META` and `CATEGORIES / <path>` entity "Category": the first
//!   makes ids unique and is what topics check, the second lists the tree in
//!   depth-first order (the path is the ancestors' ids joined by `#`).
//! - `TOPIC#<topicId> / META` entity "Topic", in its category's listings through GSI1
//!   (newest), GSI2 (latest activity) and GSI3 (top), each sort key prefixed by the
//!   pinned flag so pinned topics come first. A soft-deleted topic loses its GSI keys.
//! - `USER#<author> / TOPIC#<topicId>` entity "TopicByAuthor" and
//!   `TAG#<tag> / TOPIC#<topicId>` entity "TopicByTag": listings by author and by tag.
//! - `TOPIC#<topicId> / REPLY#<path>` entity "Reply": the path is the ULIDs of the
//!   reply's ancestors and its own joined by `-`, and it *is* the reply's id, so thread
//!   order is sort-key order and a reply is found by key without a lookup.
//! - `TOPIC#<topicId> / REACT#<targetId>#<userId>` entity "Reaction" (the target is the
//!   topic's id or a reply's id): one per user per target, by key.
//! - `TOPIC#<topicId> / HIST#<targetId>#<editId>` entity "EditHistory": the version
//!   an edit replaced.
//! - `PROCESSED#discussions-stream#<eventId> / PROCESSED`: a stream record already
//!   counted, written in the same transaction as the counter it changed.
//!
//! Reply and reaction counts are never written by the API: the stream function derives
//! them from the Reply and Reaction records ([`counter_change`], [`apply_counter_change`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::contexts::communities::{self, PostAccess};
use crate::contexts::graph;
use crate::contexts::moderation;
use crate::contexts::profiles::{self, Handle};
use crate::core::auth::Principal;
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult, FieldError};
use crate::core::ids::{UserId, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::{Entity, IndexKey};
use crate::table::store::{
    self, AttributeValue, Expr, Index, Item, Key, KeyQuery, Returning, Store,
};
use crate::table::transaction::{Condition, WriteError};

pub mod erasure;

pub mod reactions;

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
