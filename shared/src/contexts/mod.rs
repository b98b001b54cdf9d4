//! The bounded contexts, one folder each. A context may use the core, the table layer
//! and contexts below it; `tests/layers.rs` keeps the graph between them acyclic.

pub mod chat;
pub mod communities;
pub mod connections;
pub mod courses;
pub mod discussions;
pub mod events;
pub mod feed;
pub mod graph;
pub mod moderation;
pub mod notifications;
pub mod profiles;
pub mod realtime;
pub mod trust;
