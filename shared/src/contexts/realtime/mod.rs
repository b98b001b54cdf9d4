//! WebSocket connections. The connection item is written on `$connect` and removed on
//! `$disconnect`; notifications and chat find a user's open connections through the
//! mirror item in the user's partition.

use serde::{Deserialize, Serialize};

use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_epoch_seconds, now_rfc3339};
use crate::table::entity::Entity;
use crate::table::store::{self, Key, KeyQuery, Store};

pub mod erasure;

pub mod push;

mod access;
mod input;
mod items;
mod use_cases;

pub use access::*;
pub use input::*;
pub use items::*;
pub use use_cases::*;
