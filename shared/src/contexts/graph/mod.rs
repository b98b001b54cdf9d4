//! The social graph: who is connected to whom and who blocks whom. It owns the keys of
//! connection, request, pair-lock and block items and the reads every other context
//! asks: "how do these two relate?" and "whom does this viewer block or get blocked
//! by?". The connections context writes these items; this one only names and reads them.

use std::collections::{BTreeSet, HashSet};

use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::keys::user_partition;
use crate::table::store::{self, Item, Key, KeyQuery, Store};

pub mod erasure;

mod access;
mod items;

pub use access::*;
pub use items::*;
