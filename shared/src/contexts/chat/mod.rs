//! Chat: rooms (direct messages, groups, and community channels later), members,
//! messages, read receipts, typing, presence and live-event subscriptions.
//!
//! Ordering: a room's META item holds the id of its latest message, and a message is
//! written in one transaction with a conditional update of that id (it must still be the
//! one read). Ids are ULIDs made strictly greater than the previous one, so a room's
//! messages commit in id order: a client that saw message X and fetches "after X" can
//! never miss a message committed later with a smaller id. The transaction also carries
//! the client message id item (`attribute_not_exists`), so a retried send is stored once
//! and acked with the original id.
//!
//! Delivery: the WebSocket route that stores a change (a message sent, edited or
//! deleted, a read receipt) pushes it to the room's subscribers itself, under a claim
//! stored with the change ([`LIVE_PUSH_UNTIL`]), and then marks it pushed
//! ([`LIVE_PUSHED`]). The table's stream backs it up (the fan-out function's chat
//! reaction, [`reactions::ChatDelivery`]): it pushes changes nobody claimed (REST) at
//! once, and a claimed change the route has not marked by the end of its claim (the
//! route died between its write and its posts). Whoever marks the change pushes it, so
//! a change acked to its sender reaches every subscribed connection, and without a
//! failure exactly once.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tracing::instrument;
use validator::{Validate, ValidationError};

use crate::contexts::communities;
use crate::contexts::graph::{self, Relationship};
use crate::contexts::profiles;
use crate::contexts::realtime::push::{Pusher, Report};
use crate::core::auth::Principal;
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, new_ulid, now_epoch_millis, now_epoch_seconds, now_rfc3339};
use crate::core::rate_limit::RatePolicy;
use crate::core::trust::TrustLevel;
use crate::core::validation::{self, check};
use crate::table::entity::{Entity, IndexKey};
use crate::table::store::Returning;
use crate::table::store::{self, AttributeValue, Expr, Index, Item, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, WriteError};

pub mod erasure;

pub mod reactions;

mod access;
mod input;
mod items;
mod rules;
mod use_cases;

pub use access::*;
pub use input::*;
pub use items::*;
pub use rules::*;
pub use use_cases::*;
