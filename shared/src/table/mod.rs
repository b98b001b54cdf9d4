//! The table layer: the single DynamoDB table, its keys and the idempotency records
//! kept in it. The only layer that imports `aws-sdk-dynamodb`.

pub mod counter;
pub mod entity;
pub mod idempotency;
pub mod jobs;
pub mod keys;
pub mod rate_limit;
pub mod store;
pub mod stream;
pub mod transaction;
