//! Creates the template's tables and queues in moto, as CloudFormation would in AWS.
//!
//! Provisioning returns the [`PhysicalFacts`] only the services know (stream ARNs, queue
//! URLs); the template's remaining intrinsics are resolved with them afterwards.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::model::{BucketSpec, IndexSpec, QueueSpec, SecretSpec, SecretValue, TableSpec};
use crate::template::{PhysicalFacts, StorageSpecs};

/// moto accepts any credentials; these keep the SDK from looking for real ones.
pub const TEST_ACCESS_KEY_ID: &str = "test";
pub const TEST_SECRET_ACCESS_KEY: &str = "test";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{action} {resource}: {message}")]
    Service {
        action: &'static str,
        resource: String,
        message: String,
    },
    #[error("invalid {resource}: {message}")]
    Spec { resource: String, message: String },
}

fn service_error(
    action: &'static str,
    resource: &str,
    error: impl std::error::Error,
) -> ProvisionError {
    ProvisionError::Service {
        action,
        resource: resource.to_owned(),
        message: DisplayErrorContext(error).to_string(),
    }
}

fn spec_error(resource: &str, error: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Spec {
        resource: resource.to_owned(),
        message: error.to_string(),
    }
}

fn credentials() -> Credentials {
    Credentials::new(
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
        None,
        None,
        "agora-local",
    )
}

/// A DynamoDB client for moto, independent of the developer's AWS profile and env.
pub fn dynamodb_client(endpoint: &str, region: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An SQS client for moto.
pub fn sqs_client(endpoint: &str, region: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// An S3 client for moto: path-style, as moto serves every bucket on one host.
pub fn s3_client(endpoint: &str, region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A Secrets Manager client for moto.
pub fn secrets_client(endpoint: &str, region: &str) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A DynamoDB Streams client for moto.
pub fn dynamodb_streams_client(endpoint: &str, region: &str) -> aws_sdk_dynamodbstreams::Client {
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials())
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// Creates every table and queue of `storage` in the moto at `endpoint`.
///
/// Resources that already exist (a reused moto) are adopted rather than failing, so
/// `agora-local up` can be restarted against a long-running moto.
pub async fn provision(
    endpoint: &str,
    region: &str,
    storage: &StorageSpecs,
) -> Result<PhysicalFacts, ProvisionError> {
    let mut facts = PhysicalFacts::default();
    let dynamodb = dynamodb_client(endpoint, region);
    for table in &storage.tables {
        if let Some(stream_arn) = create_table(&dynamodb, table).await? {
            facts
                .table_stream_arns
                .insert(table.logical_id.clone(), stream_arn);
        }
    }
    let sqs = sqs_client(endpoint, region);
    for queue in queues_dead_letter_first(&storage.queues)? {
        let arns = facts.queue_arns.clone();
        let (url, arn) = create_queue(&sqs, queue, &arns).await?;
        facts.queue_urls.insert(queue.logical_id.clone(), url);
        facts.queue_arns.insert(queue.logical_id.clone(), arn);
    }
    let s3 = s3_client(endpoint, region);
    for bucket in &storage.buckets {
        create_bucket(&s3, region, bucket).await?;
    }
    let secrets = secrets_client(endpoint, region);
    for secret in &storage.secrets {
        let arn = create_template_secret(&secrets, secret).await?;
        facts.secret_arns.insert(secret.logical_id.clone(), arn);
    }
    Ok(facts)
}

/// Creates a template's secret and returns its ARN. A secret of that name that already
/// exists (a restarted stack on a long-running moto) is adopted with its value, as a
/// generated value must not change under the running functions.
async fn create_template_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret: &SecretSpec,
) -> Result<String, ProvisionError> {
    let value = match &secret.value {
        SecretValue::String(value) => value.clone(),
        SecretValue::Generated { length } => {
            generated_secret(*length).map_err(|e| spec_error(&secret.physical_name, e))?
        }
    };
    let created = client
        .create_secret()
        .name(&secret.physical_name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(output) => Ok(output.arn().unwrap_or_default().to_owned()),
        Err(error) if is_resource_exists(&error) => secret_arn(client, &secret.physical_name).await,
        Err(error) => Err(service_error("CreateSecret", &secret.physical_name, error)),
    }
}

/// Creates (or sets the value of) a secret that exists before the stack, as an operator
/// creates one before deploying; returns its ARN.
pub async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<String, ProvisionError> {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(output) => Ok(output.arn().unwrap_or_default().to_owned()),
        Err(error) if is_resource_exists(&error) => {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| service_error("PutSecretValue", name, e))?;
            secret_arn(client, name).await
        }
        Err(error) => Err(service_error("CreateSecret", name, error)),
    }
}

fn is_resource_exists(
    error: &aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::create_secret::CreateSecretError,
    >,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_resource_exists_exception())
}

async fn secret_arn(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<String, ProvisionError> {
    let described = client
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| service_error("DescribeSecret", name, e))?;
    Ok(described.arn().unwrap_or_default().to_owned())
}

/// `length` random alphanumeric characters, as `GenerateSecretString` with
/// `ExcludePunctuation` makes them.
fn generated_secret(length: usize) -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; length];
    getrandom::fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// Creates a bucket (adopting one this account already owns).
async fn create_bucket(
    client: &aws_sdk_s3::Client,
    region: &str,
    bucket: &BucketSpec,
) -> Result<(), ProvisionError> {
    let mut request = client.create_bucket().bucket(&bucket.physical_name);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(error) => Err(ProvisionError::Service {
            action: "CreateBucket",
            resource: bucket.physical_name.clone(),
            message: aws_sdk_s3::error::DisplayErrorContext(&error).to_string(),
        }),
    }
}

/// Creates the table (with indexes, stream and TTL) and returns its stream ARN.
async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &TableSpec,
) -> Result<Option<String>, ProvisionError> {
    let name = table.physical_name.as_str();
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attribute_definitions(table)?))
        .set_key_schema(Some(key_schema(name, &table.key_schema)?));
    for index in &table.global_secondary_indexes {
        request = request.global_secondary_indexes(global_secondary_index(name, index)?);
    }
    if let Some(view_type) = &table.stream_view_type {
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(view_type.as_str()))
            .build()
            .map_err(|e| spec_error(name, e))?;
        request = request.stream_specification(stream);
    }
    let description = match request.send().await {
        Ok(output) => output.table_description,
        Err(error) if error.code() == Some("ResourceInUseException") => {
            tracing::info!(table = name, "table exists; reusing it");
            client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| service_error("describing table", name, e))?
                .table
        }
        Err(error) => return Err(service_error("creating table", name, error)),
    };
    if let Some(attribute) = &table.ttl_attribute {
        enable_ttl(client, name, attribute).await?;
    }
    Ok(description.and_then(|d| d.latest_stream_arn))
}

async fn enable_ttl(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    attribute: &str,
) -> Result<(), ProvisionError> {
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(true)
        .build()
        .map_err(|e| spec_error(table, e))?;
    match client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // A reused table already has it: the state we want.
        Err(error)
            if error
                .message()
                .is_some_and(|m| m.contains("already enabled")) =>
        {
            Ok(())
        }
        Err(error) => Err(service_error("enabling TTL on", table, error)),
    }
}

fn attribute_definitions(table: &TableSpec) -> Result<Vec<AttributeDefinition>, ProvisionError> {
    table
        .attribute_definitions
        .iter()
        .map(|(name, kind)| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|e| spec_error(&table.physical_name, e))
        })
        .collect()
}

fn key_schema(
    resource: &str,
    keys: &[(String, String)],
) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    keys.iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()
                .map_err(|e| spec_error(resource, e))
        })
        .collect()
}

fn global_secondary_index(
    table: &str,
    index: &IndexSpec,
) -> Result<GlobalSecondaryIndex, ProvisionError> {
    let resource = format!("{table} index {}", index.name);
    let projection = Projection::builder()
        .projection_type(ProjectionType::from(index.projection_type.as_str()))
        .set_non_key_attributes(
            (!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()),
        )
        .build();
    GlobalSecondaryIndex::builder()
        .index_name(&index.name)
        .set_key_schema(Some(key_schema(&resource, &index.key_schema)?))
        .projection(projection)
        .build()
        .map_err(|e| spec_error(&resource, e))
}

/// Orders queues so every dead-letter queue exists before the queue redriving to it.
fn queues_dead_letter_first(queues: &[QueueSpec]) -> Result<Vec<&QueueSpec>, ProvisionError> {
    let mut ordered: Vec<&QueueSpec> = Vec::with_capacity(queues.len());
    let mut remaining: Vec<&QueueSpec> = queues.iter().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|queue| {
            let ready = queue
                .redrive
                .as_ref()
                .is_none_or(|(dlq, _)| ordered.iter().any(|created| &created.logical_id == dlq));
            if ready {
                ordered.push(queue);
            }
            !ready
        });
        if remaining.len() == before {
            let names = remaining
                .iter()
                .map(|q| q.logical_id.as_str())
                .collect::<Vec<_>>();
            return Err(spec_error(
                &names.join(", "),
                "redrive policies name a queue that is missing or form a cycle",
            ));
        }
    }
    Ok(ordered)
}

/// Creates the queue and returns its URL and ARN.
async fn create_queue(
    client: &aws_sdk_sqs::Client,
    queue: &QueueSpec,
    arns: &BTreeMap<String, String>,
) -> Result<(String, String), ProvisionError> {
    let name = queue.physical_name.as_str();
    let created = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(queue_attributes(queue, arns)?))
        .send()
        .await
        .map_err(|e| service_error("creating queue", name, e))?;
    let url = created
        .queue_url
        .ok_or_else(|| spec_error(name, "CreateQueue returned no URL"))?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| service_error("reading attributes of queue", name, e))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| spec_error(name, "GetQueueAttributes returned no QueueArn"))?;
    Ok((url, arn))
}

fn queue_attributes(
    queue: &QueueSpec,
    arns: &BTreeMap<String, String>,
) -> Result<HashMap<QueueAttributeName, String>, ProvisionError> {
    let mut attributes = HashMap::new();
    if let Some(seconds) = queue.visibility_timeout_seconds {
        attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
    }
    if let Some(seconds) = queue.message_retention_seconds {
        attributes.insert(
            QueueAttributeName::MessageRetentionPeriod,
            seconds.to_string(),
        );
    }
    if queue.fifo {
        attributes.insert(QueueAttributeName::FifoQueue, "true".to_owned());
    }
    if let Some((dead_letter, max_receive_count)) = &queue.redrive {
        let target = arns
            .get(dead_letter)
            .ok_or_else(|| spec_error(&queue.physical_name, "dead-letter queue not created"))?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": target,
            "maxReceiveCount": max_receive_count,
        });
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(id: &str, redrive: Option<&str>) -> QueueSpec {
        QueueSpec {
            logical_id: id.to_owned(),
            physical_name: format!("s-{id}"),
            visibility_timeout_seconds: None,
            message_retention_seconds: None,
            redrive: redrive.map(|dlq| (dlq.to_owned(), 5)),
            fifo: false,
        }
    }

    #[test]
    fn dead_letter_queues_are_created_before_the_queues_that_use_them() {
        let queues = [queue("Main", Some("Dlq")), queue("Dlq", None)];

        let ordered = queues_dead_letter_first(&queues).unwrap();

        let ids: Vec<_> = ordered.iter().map(|q| q.logical_id.as_str()).collect();
        assert_eq!(ids, ["Dlq", "Main"]);
    }

    #[test]
    fn a_redrive_to_a_missing_queue_is_an_error() {
        let queues = [queue("Main", Some("Nowhere"))];

        assert!(queues_dead_letter_first(&queues).is_err());
    }
}
