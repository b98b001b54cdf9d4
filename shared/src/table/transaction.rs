//! TransactWriteItems with named conditions: a cancelled transaction says which rules
//! broke by name ("handle_free", "account_alive"), never by position, so adding an
//! operation to a transaction cannot silently change what a failure means.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::core::error::AppError;
use crate::table::entity::Entity;
use crate::table::store::{Expr, Item, Key, Store, dynamo_error};

/// DynamoDB's limit on the operations of one transaction.
pub const MAX_OPERATIONS: usize = 100;

/// A condition expression with the name a failure reports.
#[derive(Debug, Clone)]
pub struct Condition {
    name: &'static str,
    expr: Expr,
}

impl Condition {
    pub fn new(name: &'static str, expr: impl Into<Expr>) -> Self {
        Self {
            name,
            expr: expr.into(),
        }
    }

    /// `attribute_not_exists(PK)`: the item is not there yet.
    pub fn absent(name: &'static str) -> Self {
        Self::new(name, "attribute_not_exists(PK)")
    }

    /// `attribute_exists(PK)`: the item is there.
    pub fn present(name: &'static str) -> Self {
        Self::new(name, "attribute_exists(PK)")
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn into_parts(self) -> (&'static str, Expr) {
        (self.name, self.expr)
    }
}

/// Why a transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// These named conditions failed (an unnamed failing operation is reported as
    /// `"unnamed"`); nothing was written.
    #[error("transaction conditions failed: {0:?}")]
    ConditionsFailed(Vec<&'static str>),
    /// Another transaction on the same items was under way; retrying may succeed.
    #[error("a concurrent transaction touched the same items")]
    Contended,
    /// Anything else: throttling, a bad request, an outage.
    #[error(transparent)]
    Store(#[from] AppError),
}

impl WriteError {
    /// Did the condition with this name fail?
    pub fn failed(&self, name: &str) -> bool {
        matches!(self, Self::ConditionsFailed(names) if names.contains(&name))
    }
}

impl From<WriteError> for AppError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::ConditionsFailed(_) => {
                AppError::Conflict("the resource already exists or was changed concurrently".into())
            }
            WriteError::Contended => {
                AppError::Conflict("a concurrent request changed the same resource; retry".into())
            }
            WriteError::Store(error) => error,
        }
    }
}

/// A TransactWriteItems being built. Building never fails on its own: the first bad
/// operation is reported by [`Transaction::commit`].
#[derive(Debug)]
pub struct Transaction<'a> {
    store: &'a Store,
    operations: Vec<TransactWriteItem>,
    names: Vec<Option<&'static str>>,
    error: Option<AppError>,
}

impl<'a> Transaction<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self {
            store,
            operations: Vec::new(),
            names: Vec::new(),
            error: None,
        }
    }

    fn push(
        mut self,
        operation: Result<TransactWriteItem, AppError>,
        name: Option<&'static str>,
    ) -> Self {
        match operation {
            Ok(operation) => {
                self.operations.push(operation);
                self.names.push(name);
            }
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
        self
    }

    /// Puts an item, replacing what is there unless `condition` says otherwise.
    pub fn put(self, item: Item, condition: Option<Condition>) -> Self {
        let (name, expr) = split(condition);
        let operation = self.store.put_op(item, expr);
        self.push(operation, name)
    }

    /// Puts a serializable value as an item.
    pub fn put_value<T: serde::Serialize>(self, value: &T, condition: Option<Condition>) -> Self {
        match crate::table::store::to_item(value) {
            Ok(item) => self.put(item, condition),
            Err(error) => self.push(Err(error), None),
        }
    }

    /// Puts an entity's whole item (see [`Entity::item`]).
    pub fn put_entity<E: Entity>(self, value: &E, condition: Option<Condition>) -> Self {
        match value.item() {
            Ok(item) => self.put(item, condition),
            Err(error) => self.push(Err(error), None),
        }
    }

    /// Deletes an item (deleting an absent item unconditionally is a no-op).
    pub fn delete(self, key: &Key, condition: Option<Condition>) -> Self {
        let (name, expr) = split(condition);
        let operation = self.store.delete_op(key, expr);
        self.push(operation, name)
    }

    /// A condition on an item the transaction does not write.
    pub fn check(self, key: &Key, condition: Condition) -> Self {
        let operation = self.store.check_op(key, condition.expr);
        self.push(operation, Some(condition.name))
    }

    /// Updates an item with an update expression, optionally conditional.
    pub fn update(self, key: &Key, update: impl Into<Expr>, condition: Option<Condition>) -> Self {
        let (name, expr) = split(condition);
        let operation = self.store.update_op(key, update, expr);
        self.push(operation, name)
    }

    /// Adds an operation built elsewhere (by [`Store::put_op`] and its siblings) under a
    /// condition name, or none.
    pub fn operation(self, operation: TransactWriteItem, name: Option<&'static str>) -> Self {
        self.push(Ok(operation), name)
    }

    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Sends the transaction: all of it is written, or nothing.
    pub async fn commit(self) -> Result<(), WriteError> {
        if let Some(error) = self.error {
            return Err(WriteError::Store(error));
        }
        if self.operations.is_empty() {
            return Ok(());
        }
        if self.operations.len() > MAX_OPERATIONS {
            return Err(WriteError::Store(AppError::internal(format!(
                "a transaction of {} operations is over DynamoDB's {MAX_OPERATIONS}",
                self.operations.len()
            ))));
        }
        let result = self
            .store
            .client()
            .transact_write_items()
            .set_transact_items(Some(self.operations))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let failed = failed_names(&error, &self.names);
                if !failed.is_empty() {
                    Err(WriteError::ConditionsFailed(failed))
                } else if contended(&error) {
                    Err(WriteError::Contended)
                } else {
                    Err(WriteError::Store(dynamo_error(error)))
                }
            }
        }
    }
}

/// Attempts of a transaction that DynamoDB cancels because another one held the same
/// items (joins and leaves of one community all change its member count; reviews of one
/// course all change its rating).
pub const CONTENTION_ATTEMPTS: u32 = 6;

/// Commits the transaction `make` builds, building it again after a contention
/// cancellation (with a growing, jittered pause).
pub async fn commit_retrying<'a>(make: impl Fn() -> Transaction<'a>) -> Result<(), WriteError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match make().commit().await {
            Err(WriteError::Contended) if attempt < CONTENTION_ATTEMPTS => {
                let mut jitter = [0u8; 1];
                let _ = getrandom::fill(&mut jitter);
                let pause = 10u64 * (1 << attempt.min(5)) + u64::from(jitter[0] % 20);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

fn split(condition: Option<Condition>) -> (Option<&'static str>, Option<Expr>) {
    match condition {
        Some(Condition { name, expr }) => (Some(name), Some(expr)),
        None => (None, None),
    }
}

/// A transaction cancelled, or refused, because another one held its items.
fn contended<R>(error: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>) -> bool {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled
                .cancellation_reasons()
                .iter()
                .any(|reason| reason.code() == Some("TransactionConflict"))
                || cancelled
                    .message()
                    .is_some_and(|m| m.contains("TransactionConflict"))
        }
        Some(other) => other.code() == Some("TransactionConflictException"),
        None => false,
    }
}

/// The names of the operations whose condition failed in a cancelled transaction.
fn failed_names<R>(
    error: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
    names: &[Option<&'static str>],
) -> Vec<&'static str> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return Vec::new();
    };
    cancelled
        .cancellation_reasons()
        .iter()
        .enumerate()
        .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
        .map(|(at, _)| names.get(at).copied().flatten().unwrap_or("unnamed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_its_conditions_and_becomes_a_conflict() {
        let error = WriteError::ConditionsFailed(vec!["handle_free"]);

        assert!(error.failed("handle_free"));
        assert!(!error.failed("profile_absent"));
        assert!(matches!(AppError::from(error), AppError::Conflict(_)));
    }

    #[test]
    fn a_store_error_passes_through_unchanged() {
        let error = WriteError::Store(AppError::RateLimited {
            retry_after_seconds: 1,
        });

        assert!(!error.failed("anything"));
        assert!(matches!(
            AppError::from(error),
            AppError::RateLimited {
                retry_after_seconds: 1
            }
        ));
    }
}
