//! A table for the library's tests without moto or the local stack: an in-process
//! DynamoDB (dynoxide, SQLite in memory) served on a loopback port of the test's own
//! runtime, with the table the template declares (PK/SK, GSI1..3, projection ALL). The
//! store and every use case run unchanged against it.

#![allow(dead_code)]

use agora::ids::UserId;
use agora::store::Store;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

pub const TABLE: &str = "agora-test";

/// A store on a fresh in-memory table; the server stops when this is dropped.
pub struct MemoryTable {
    pub store: Store,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn memory_table() -> anyhow::Result<MemoryTable> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let database = dynoxide::Database::memory().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(dynoxide::server::serve_with_shutdown(
        listener,
        database,
        async move {
            let _ = stopped.await;
        },
    ));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "memory",
        ))
        .endpoint_url(format!("http://{address}"))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    create_table(&client).await?;
    Ok(MemoryTable {
        store: Store::new(client, TABLE),
        _stop: stop,
    })
}

fn key(name: &str, kind: KeyType) -> anyhow::Result<KeySchemaElement> {
    Ok(KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()?)
}

async fn create_table(client: &aws_sdk_dynamodb::Client) -> anyhow::Result<()> {
    let mut request = client
        .create_table()
        .table_name(TABLE)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?);
    for attribute in [
        "PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK",
    ] {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        );
    }
    for index in ["GSI1", "GSI2", "GSI3"] {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key(&format!("{index}PK"), KeyType::Hash)?)
                .key_schema(key(&format!("{index}SK"), KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        );
    }
    request.send().await?;
    Ok(())
}

pub fn user(raw: &str) -> UserId {
    UserId::parse(raw).unwrap_or_else(|e| panic!("a test user id {raw}: {e}"))
}
