//! Connections between users. This module owns the connection item keys; the full
//! endpoint group (requests, accept, block, suggestions) builds on them.

use crate::error::AppResult;
use crate::ids::UserId;
use crate::store::{Key, Store};

pub mod keys {
    use super::*;

    /// `USER#<a> / CONN#<b>`: written for both directions when a request is accepted.
    pub fn connection(a: &UserId, b: &UserId) -> Key {
        Key::new(
            crate::profiles::keys::user_partition(a),
            format!("CONN#{b}"),
        )
    }
}

/// How the viewer relates to the owner of some content: decides what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    SelfView,
    Connection,
    Stranger,
}

/// Access pattern: "are A and B connected?" — one GetItem.
pub async fn relationship(
    store: &Store,
    viewer: &UserId,
    owner: &UserId,
) -> AppResult<Relationship> {
    if viewer == owner {
        return Ok(Relationship::SelfView);
    }
    let found: Option<serde_json::Value> = store.get(&keys::connection(viewer, owner)).await?;
    Ok(if found.is_some() {
        Relationship::Connection
    } else {
        Relationship::Stranger
    })
}
