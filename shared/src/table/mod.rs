//! The table layer: the single DynamoDB table, its keys and the idempotency records
//! kept in it. The only layer that imports `aws-sdk-dynamodb`.

pub mod idempotency;
pub mod jobs;
pub mod keys;
pub mod store;
