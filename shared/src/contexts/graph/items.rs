//! Graph: item types stored in the table (their keys, index keys and entity names), and the views built from them.

#[allow(unused_imports)]
use super::*;

pub mod keys {
    use super::*;

    /// `USER#<a> / CONN#<b>`: written for both directions when a request is accepted.
    pub fn connection(a: &UserId, b: &UserId) -> Key {
        Key::new(user_partition(a), format!("CONN#{b}"))
    }

    /// `USER#<target> / REQIN#<sender>`: an incoming request, in the target's partition.
    pub fn incoming_request(target: &UserId, sender: &UserId) -> Key {
        Key::new(user_partition(target), format!("REQIN#{sender}"))
    }

    /// `USER#<sender> / REQOUT#<target>`: the sender's copy.
    pub fn outgoing_request(sender: &UserId, target: &UserId) -> Key {
        Key::new(user_partition(sender), format!("REQOUT#{target}"))
    }

    /// `PAIR#<min>#<max> / PAIR`: at most one request or connection per pair, whichever
    /// side asks first.
    pub fn pair(a: &UserId, b: &UserId) -> Key {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        Key::new(format!("PAIR#{low}#{high}"), "PAIR")
    }

    /// `USER#<blocker> / BLOCK#<blocked>`.
    pub fn block(blocker: &UserId, blocked: &UserId) -> Key {
        Key::new(user_partition(blocker), format!("BLOCK#{blocked}"))
    }

    /// `USER#<muter> / MUTE#<muted>`: the muter hears nothing from the muted user and
    /// sees none of their content in feeds (lighter than a block: nothing else changes).
    pub fn mute(muter: &UserId, muted: &UserId) -> Key {
        Key::new(user_partition(muter), format!("MUTE#{muted}"))
    }

    /// `USER#<blocked> / BLOCKEDBY#<blocker>`: lets reads of the blocked user's side hide
    /// the blocker, and is never shown to the blocked user.
    pub fn blocked_by(blocked: &UserId, blocker: &UserId) -> Key {
        Key::new(user_partition(blocked), format!("BLOCKEDBY#{blocker}"))
    }
}

/// How the viewer relates to the owner of some content: decides what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    SelfView,
    Connection,
    Stranger,
}

pub use crate::table::store::sort_key;
