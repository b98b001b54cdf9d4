//! The table stream's wiring: the entity names in each stream reader's `FilterCriteria`
//! (template.yaml) are exactly the entities its reactions declare in the code, so a
//! renamed entity or a new reaction cannot silently miss its records.

use std::collections::BTreeSet;

use agora_local::model::{EventSource, StackModel};
use agora_local::template::{ResolveContext, Template};
use agora_tests::repo_root;
use serde_json::Value;

fn model() -> anyhow::Result<StackModel> {
    let template = Template::from_path(&repo_root().join("template.yaml"))?;
    let mut ctx = ResolveContext::new("wiring");
    ctx.parameter_overrides
        .insert("JwtIssuer".into(), "https://issuer.example".into());
    ctx.parameter_overrides
        .insert("JwtAudience".into(), "agora".into());
    ctx.parameter_overrides
        .insert("JwtHs256SecretName".into(), "agora/jwt-hs256".into());
    let storage = template.storage(&ctx)?;
    for secret in &storage.secrets {
        let arn = format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-AbCdEf",
            secret.physical_name
        );
        ctx.facts.secret_arns.insert(secret.logical_id.clone(), arn);
    }
    for queue in &storage.queues {
        let url = format!("http://127.0.0.1:5000/123456789012/{}", queue.physical_name);
        ctx.facts.queue_urls.insert(queue.logical_id.clone(), url);
    }
    for table in &storage.tables {
        let arn = format!(
            "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/2024",
            table.physical_name
        );
        ctx.facts
            .table_stream_arns
            .insert(table.logical_id.clone(), arn);
    }
    Ok(template.resolve(&ctx)?)
}

/// Every string an `entity` attribute is matched against, anywhere in a pattern.
fn entities_in(pattern: &Value, found: &mut BTreeSet<String>) {
    match pattern {
        Value::Object(fields) => {
            for (name, value) in fields {
                if name == "entity" {
                    let names = value["S"].as_array().into_iter().flatten();
                    found.extend(names.filter_map(Value::as_str).map(str::to_owned));
                } else {
                    entities_in(value, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| entities_in(i, found)),
        _ => {}
    }
}

/// The entity names each function's table-stream filters match.
fn filtered_entities(model: &StackModel, function: &str) -> anyhow::Result<BTreeSet<String>> {
    let spec = model
        .functions
        .iter()
        .find(|f| f.logical_id == function)
        .ok_or_else(|| anyhow::anyhow!("no {function} in the template"))?;
    let mut found = BTreeSet::new();
    for source in &spec.event_sources {
        if let EventSource::DynamoDbStream(stream) = source {
            for pattern in &stream.filter_patterns {
                entities_in(pattern, &mut found);
            }
        }
    }
    Ok(found)
}

fn declared(entities: Vec<&'static str>) -> BTreeSet<String> {
    entities.into_iter().map(str::to_owned).collect()
}

#[test]
fn the_fan_out_functions_filters_name_exactly_the_entities_its_reactions_declare()
-> anyhow::Result<()> {
    let model = model()?;

    let filtered = filtered_entities(&model, "StreamFanoutFunction")?;

    assert_eq!(filtered, declared(agora::reactions::fanout_entities()));
    Ok(())
}

#[test]
fn the_notifiers_filters_name_exactly_the_entities_its_reaction_declares() -> anyhow::Result<()> {
    let model = model()?;

    let filtered = filtered_entities(&model, "NotifierFunction")?;

    assert_eq!(
        filtered,
        declared(agora::reactions::notification_entities())
    );
    Ok(())
}

#[test]
fn entity_names_are_found_wherever_a_pattern_matches_them() {
    let pattern = serde_json::json!({
        "eventName": ["REMOVE"],
        "dynamodb": {
            "OldImage": {"entity": {"S": ["Reply", "Reaction"]}},
            "Keys": {"SK": {"S": [{"prefix": "CONN#"}]}}
        }
    });
    let mut found = BTreeSet::new();

    entities_in(&pattern, &mut found);

    assert_eq!(found, declared(vec!["Reaction", "Reply"]));
}
