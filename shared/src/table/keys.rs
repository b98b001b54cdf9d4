//! Key parts shared by every context: the user's partition, where each context keeps
//! the items a user owns.

use crate::core::ids::UserId;

/// `USER#<id>`: the partition of everything a user owns.
pub fn user_partition(user: &UserId) -> String {
    format!("USER#{user}")
}
