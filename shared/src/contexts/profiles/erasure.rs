//! The profiles context's part of account erasure and export: the profile, its handle
//! claim and the search indexes derived from it.

use crate::contexts::profiles::{self, keys};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::table::jobs::{AccountSteps, Chunk, ErasureStep, ExportChunk, ExportStep, Next};
use crate::table::store::{Expr, Store};

pub const STEPS: AccountSteps = AccountSteps {
    context: "profiles",
    erasure: &[ErasureStep {
        name: "profile",
        run: |store, me, _cursor, _limit| Box::pin(erase_profile(store, me)),
    }],
    export: &[ExportStep {
        name: "profile",
        run: |store, me, _cursor, _limit| Box::pin(export_profile(store, me)),
    }],
    nothing_because: None,
};

/// Deletes the skill / occupation / learning-goal index items of my profile, then the
/// profile and my handle claim in one transaction (the handle only while it is still
/// mine). Safe to repeat: without a profile there is nothing left to do.
async fn erase_profile(store: &Store, me: &UserId) -> AppResult<Chunk> {
    let Some(profile) = profiles::get_profile(store, me).await? else {
        return Ok(Chunk::done(1));
    };
    profiles::reindex_skills(store, Some(&profile), None).await?;
    profiles::reindex_match_attributes(store, Some(&profile), None).await?;
    let unclaimed_or_mine = Expr::new("attribute_not_exists(PK) OR userId = :me")
        .value(":me", crate::table::jobs::text(me.as_str()));
    let both = store
        .transact(vec![
            store.delete_op(&keys::profile(me), None)?,
            store.delete_op(&keys::handle(&profile.handle), Some(unclaimed_or_mine))?,
        ])
        .await;
    match both {
        Ok(()) => {}
        // The handle is someone else's by now: only the profile goes.
        Err(AppError::Conflict(_)) => store.batch_delete(&[keys::profile(me)]).await?,
        Err(other) => return Err(other),
    }
    Ok(Chunk::done(4))
}

async fn export_profile(store: &Store, me: &UserId) -> AppResult<ExportChunk> {
    let profile = profiles::get_profile(store, me).await?;
    let records = profile
        .map(|p| serde_json::to_value(&p).map_err(AppError::internal))
        .transpose()?
        .into_iter()
        .collect();
    Ok(ExportChunk {
        records,
        next: Next::Done,
    })
}
