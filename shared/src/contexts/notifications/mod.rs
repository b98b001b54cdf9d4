//! Notifications: derived only from the table's stream (never by the write path), stored
//! in the recipient's partition, with an exact unread counter.
//!
//! Items (all in `USER#<recipient>`, so account deletion removes them with the partition):
//! - `NOTIF#<notificationId>` entity "Notification": GSI2 `NOTIFS#<user>` /
//!   `<updatedAt>#<id>` (every notification, newest activity first) and, while unread
//!   only, GSI1 `UNREAD#<user>` / `<updatedAt>#<id>` (a sparse index: reading removes it).
//! - `NOTIFCOUNT` entity "NotificationCounter" `{unread}`: one GetItem for the badge.
//! - `NOTIFPREFS` entity "NotificationPreferences" `{muted: [types]}`.
//! - `NOTIFACTOR#<groupId>#<actor>` entity "NotificationActor": who already counts in a
//!   grouped notification (reactions), so a redelivered reaction adds nobody twice.
//!
//! Exactness under redelivery: a notification's id is a hash of its source (the stream
//! record's item key and the recipient), so a redelivered record targets the same key;
//! the put is conditional (`attribute_not_exists`) and the counter's `ADD` is in the same
//! transaction, so a duplicate changes nothing. Grouped notifications are updated under
//! optimistic concurrency (`version`), with the actor marker in the same transaction.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contexts::graph::{self, Relationship};
use crate::contexts::realtime::push::{Pusher, Report};
use crate::contexts::{communities, connections, discussions, events, moderation, profiles};
use crate::core::cursor::{CursorCodec, Page};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_epoch_seconds, now_rfc3339};
use crate::table::entity::{Entity, IndexKey};
use crate::table::keys::user_partition;
use crate::table::store::{self, AttributeValue, Expr, Index, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, Transaction};

pub mod erasure;

pub mod reactions;

/// The stream's typed change (one type for every context).
pub use crate::table::stream::{Change, ChangeKind};

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
