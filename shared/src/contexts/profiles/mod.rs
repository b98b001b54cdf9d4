//! Profiles: create, update, privacy, view-as-another-user, search, export, delete.
//!
//! Privacy first: a new profile is private (only its owner sees it) until the owner
//! opts in, and every optional field carries its own audience.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::contexts::graph::{self, Relationship};
use crate::contexts::moderation;
use crate::core::config::ModerationConfig;
use crate::core::cursor::{CursorCodec, Page};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::{Entity, IndexKey};
use crate::table::store::Returning;
use crate::table::store::{self, AttributeValue, Expr, Index, Key, KeyQuery, Store};
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
