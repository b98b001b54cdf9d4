//! Connections: keeps users' suggestion lists ([`SuggestedPeople`]) fresh from the
//! table's stream, so a read of suggestions is two requests, not the ~40 their
//! computation takes:
//!
//! - a connection made or removed (either side's `Connection` item) and a change to the
//!   attributes suggestions match on (skills, occupation, learning goals) ask for the
//!   user's list to be computed again, if they have one;
//! - a list whose refresh was asked for (by those, or by a read that found it old) is
//!   computed again here and replaced.
//!
//! Both are idempotent: asking twice, or computing twice, leaves the same list.

use futures_util::future::LocalBoxFuture;
use tracing::instrument;

use crate::contexts::connections::{
    self, Connection, MatchBasis, SuggestedPeople, refresh_pending,
};
use crate::contexts::profiles::{self, Profile};
use crate::core::error::AppResult;
use crate::table::entity::Entity;
use crate::table::store::{self, Store};
use crate::table::stream::{Change, Reaction, ReactionBatch};

pub const ENTITIES: &[&str] = &[Connection::NAME, SuggestedPeople::NAME, Profile::NAME];

pub struct SuggestionRefresh {
    store: Store,
}

impl SuggestionRefresh {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    #[instrument(skip_all, fields(event_id = %change.event_id))]
    async fn on_change(&self, change: &Change) -> AppResult<()> {
        match change.entity() {
            // Social connections only (`CONN#`): WebSocket connection items share the name.
            Some(name) if name == Connection::NAME && change.sk.starts_with("CONN#") => {
                let Some(image) = change.new.clone().or_else(|| change.old.clone()) else {
                    return Ok(());
                };
                let connection: Connection = store::from_item(image)?;
                connections::request_suggestions_refresh(&self.store, &connection.user_id).await
            }
            Some(name) if name == SuggestedPeople::NAME => {
                let Some(image) = change.new.clone() else {
                    return Ok(());
                };
                let list: SuggestedPeople = store::from_item(image)?;
                if refresh_pending(&list) {
                    connections::refresh_suggestions(&self.store, &list.user_id).await
                } else {
                    Ok(())
                }
            }
            Some(name) if name == Profile::NAME => {
                let basis = |image: &Option<serde_dynamo::Item>| {
                    image
                        .clone()
                        .and_then(|i| profiles::profile_from_item(i).ok())
                        .map(|p| (p.user_id.clone(), MatchBasis::of(&p)))
                };
                match (basis(&change.old), basis(&change.new)) {
                    (Some((user, old)), Some((_, new))) if old != new => {
                        connections::request_suggestions_refresh(&self.store, &user).await
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

impl Reaction for SuggestionRefresh {
    fn name(&self) -> &'static str {
        "suggestions"
    }

    fn entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
        Box::new(self)
    }
}

impl ReactionBatch for &SuggestionRefresh {
    fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
        Box::pin(self.on_change(change))
    }
}
