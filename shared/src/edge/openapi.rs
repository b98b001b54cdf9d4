//! The OpenAPI 3.1 document of the HTTP API, generated from the routes of
//! [`super::routes`] (each handler's `#[utoipa::path]` is both its route and its
//! operation) plus the conventions every operation shares: bearer JWT security and the
//! problem+json error responses. `docs/openapi.json` is this document, committed
//! (`shared/tests/openapi.rs` fails when they differ); `GET /v1/openapi.json` serves it.

use serde_json::Value;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, Content, OpenApi, Ref, RefOr};
use utoipa::{IntoParams, Modify, OpenApi as _};

use super::routes;
use crate::core::error::{FieldError, Problem};

/// The name of the bearer JWT security scheme.
pub const BEARER: &str = "bearer";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Agora API",
        version = "1.0.0",
        description = "Agora's public HTTP API. Every endpoint except `/v1/health` and \
            `/v1/openapi.json` needs `Authorization: Bearer <JWT>`. Errors are \
            `application/problem+json` (RFC 9457) with field-level `errors[]`. Writes \
            accept an `Idempotency-Key` header.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(Problem, FieldError))
)]
struct Base;

/// The whole HTTP API's document: every function's routes.
pub fn document() -> OpenApi {
    let mut document = Base::openapi();
    for part in [
        routes::health::routes().into_openapi(),
        routes::profiles::routes().into_openapi(),
        routes::connections::routes().into_openapi(),
        routes::discussions::routes().into_openapi(),
        routes::feed::routes().into_openapi(),
        routes::notifications::routes().into_openapi(),
        routes::chat::routes().into_openapi(),
        routes::communities::routes().into_openapi(),
        routes::courses::routes().into_openapi(),
        routes::events::routes().into_openapi(),
        routes::moderation::routes().into_openapi(),
    ] {
        document.merge(part);
    }
    Conventions.modify(&mut document);
    Links.modify(&mut document);
    document
}

/// `limit` and `cursor`, the query parameters of every paginated list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// What every operation shares: bearer security unless it declares its own (the public
/// ones declare an empty requirement), and the problem+json responses of the edge.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, document: &mut OpenApi) {
        let components = document.components.get_or_insert_with(Components::new);
        components.security_schemes.insert(
            BEARER.to_owned(),
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        for item in document.paths.paths.values_mut() {
            for (method, operation) in operations_mut(item) {
                conventions(method, operation);
            }
        }
    }
}

fn conventions(method: HttpMethod, operation: &mut Operation) {
    let public = operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.iter().all(is_anonymous));
    if public {
        return;
    }
    if operation.security.is_none() {
        operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    }
    let write = matches!(
        method,
        HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch | HttpMethod::Delete
    );
    let mut statuses = vec![
        (
            400,
            "Malformed input: path or query parameter, body, `Idempotency-Key`",
        ),
        (401, "Missing, invalid or expired bearer token"),
        (
            403,
            "Not allowed to the caller (role, ownership or membership)",
        ),
        (404, "No such resource, or hidden from the caller"),
        (500, "Unexpected error; quote `instance` when reporting it"),
    ];
    if write {
        statuses.extend([
            (
                409,
                "Conflicts with the current state, or the same `Idempotency-Key` is in flight",
            ),
            (
                422,
                "Breaks a rule, or reuses an `Idempotency-Key` with another body",
            ),
            (
                429,
                "Past the caller's write limit for this endpoint group: retry after \
                 `Retry-After` seconds. Every write's answer carries `RateLimit-Policy` \
                 (`\"<group>\";q=<quota>;w=<window>`) and `RateLimit` \
                 (`\"<group>\";r=<remaining>;t=<seconds to reset>`)",
            ),
        ]);
    }
    if operation.request_body.is_some() {
        statuses.push((413, "The body is larger than 64 KiB"));
    }
    for (status, description) in statuses {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem(description));
    }
}

/// OpenAPI links from each answer that carries an id to the operations that take that
/// id in their path, so a client (and schemathesis's stateful phase) can chain a create
/// to the reads, edits and deletes of what it created. Derived from the document, not
/// written by hand: a write's 2xx body (`$response.body#/topicId`) or the first item of
/// a list (`$response.body#/items/0/topicId`) gives a path parameter of the same name
/// (`targetId` takes a `replyId`, else a `topicId`; `profileRef` takes a `userId`), and
/// the source's own path gives the rest (`$request.path.roomId`). A link needs at least
/// one value from the body, and every path parameter of its target.
struct Links;

/// The body properties a path parameter can take its value from, best first.
fn link_sources(parameter: &str) -> Vec<&str> {
    match parameter {
        "targetId" => vec!["replyId", "topicId"],
        "profileRef" => vec!["userId"],
        other => vec![other],
    }
}

impl Modify for Links {
    fn modify(&self, document: &mut OpenApi) {
        let Ok(view) = serde_json::to_value(&*document) else {
            return;
        };
        let schemas = &view["components"]["schemas"];
        // (operationId, path parameters) of every operation that takes one.
        let targets: Vec<(String, Vec<String>)> = view["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(path, item)| {
                let parameters = path_parameters(path);
                item.as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, operation)| operation["operationId"].as_str())
                    .filter(|_| !parameters.is_empty())
                    .map(|id| (id.to_owned(), parameters.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (path, item) in document.paths.paths.iter_mut() {
            let own = path_parameters(path);
            for (method, operation) in operations_mut(item) {
                let source = operation.operation_id.clone().unwrap_or_default();
                let spec = &view["paths"][path.as_str()][method_key(&method)]["responses"];
                for (status, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if !status.starts_with('2') {
                        continue;
                    }
                    let schema = resolve(
                        &spec[status.as_str()]["content"]["application/json"]["schema"],
                        schemas,
                    );
                    let (prefix, properties) = if matches!(method, HttpMethod::Get) {
                        let items = resolve(&schema["properties"]["items"], schemas);
                        (
                            "/items/0",
                            properties_of(resolve(&items["items"], schemas), schemas),
                        )
                    } else {
                        ("", properties_of(schema, schemas))
                    };
                    for (target, parameters) in targets.iter().filter(|(t, _)| *t != source) {
                        if let Some(link) = link(target, parameters, &own, prefix, &properties) {
                            response.links.insert(target.clone(), RefOr::T(link));
                        }
                    }
                }
            }
        }
    }
}

/// The link to `target`, whose path takes `parameters`, from an answer with these body
/// `properties` (under `prefix`) to a request whose path took `own`; `None` when a
/// parameter has no value or none comes from the body.
fn link(
    target: &str,
    parameters: &[String],
    own: &[String],
    prefix: &str,
    properties: &[String],
) -> Option<Link> {
    // utoipa 5.5 writes `Link::operation_id` as `operation_id`, not the spec's
    // `operationId`: the name goes in as an extension field, which is written as given.
    let mut link =
        LinkBuilder::new().extensions(Some(Extensions::from_iter([("operationId", target)])));
    let mut from_body = false;
    for parameter in parameters {
        let value = if own.contains(parameter) {
            format!("$request.path.{parameter}")
        } else {
            let name = link_sources(parameter)
                .into_iter()
                .find(|name| properties.iter().any(|p| p == name))?;
            from_body = true;
            format!("$response.body#{prefix}/{name}")
        };
        link = link.parameter(parameter, value);
    }
    from_body.then(|| link.build())
}

fn method_key(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "get",
        HttpMethod::Put => "put",
        HttpMethod::Post => "post",
        HttpMethod::Delete => "delete",
        _ => "patch",
    }
}

/// `{param}` names of a path template, in order.
fn path_parameters(path: &str) -> Vec<String> {
    segments(path)
        .into_iter()
        .filter_map(|s| Some(s.strip_prefix('{')?.strip_suffix('}')?.to_owned()))
        .collect()
}

/// A schema with its `$ref`s followed (`Value::Null` for a missing one).
fn resolve<'a>(mut schema: &'a Value, schemas: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                schema = &schemas[name];
            }
            None => break,
        }
    }
    schema
}

/// The top-level property names of an object schema (through `allOf`).
fn properties_of(schema: &Value, schemas: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(properties_of(resolve(part, schemas), schemas));
    }
    names
}

fn is_anonymous(requirement: &SecurityRequirement) -> bool {
    serde_json::to_value(requirement)
        .is_ok_and(|value| value.as_object().is_some_and(|o| o.is_empty()))
}

/// An error response: `application/problem+json` with the [`Problem`] schema.
pub fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
        .into()
}

fn operations_mut(item: &mut PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
    .collect()
}

/// The methods of a path item, upper case (`GET`, …).
pub fn methods(item: &PathItem) -> Vec<&'static str> {
    [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// The paths of a document and their methods, matched as API Gateway matches route
/// paths: segment by segment, a `{param}` takes one non-empty segment.
#[derive(Debug, Clone, Default)]
pub struct RouteIndex {
    routes: Vec<(Vec<String>, Vec<&'static str>)>,
}

impl RouteIndex {
    pub fn new(document: &OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| (segments(path), methods(item)))
            .collect();
        Self { routes }
    }

    /// The methods a path allows (`None` for a path no route has): those of every route
    /// whose template matches it, as API Gateway would route any of them.
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let parts = segments(path);
        let mut allowed: Vec<&'static str> = Vec::new();
        let mut known = false;
        for (template, methods) in &self.routes {
            let matches = template.len() == parts.len()
                && template.iter().zip(&parts).all(|(t, p)| {
                    (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p
                });
            if matches {
                known = true;
                for method in methods {
                    if !allowed.contains(method) {
                        allowed.push(method);
                    }
                }
            }
        }
        known.then_some(allowed)
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> RouteIndex {
        RouteIndex::new(&document())
    }

    #[test]
    fn a_known_path_lists_its_methods_and_an_unknown_one_is_none() {
        let index = index();

        assert_eq!(
            index.allowed("/v1/me"),
            Some(vec!["GET", "DELETE", "PATCH"])
        );
        assert_eq!(
            index.allowed("/v1/connections/requests"),
            Some(vec!["DELETE", "GET", "POST"]),
            "API Gateway routes DELETE to /v1/connections/{{userId}}"
        );
        assert_eq!(index.allowed("/v1/nowhere"), None);
        assert_eq!(index.allowed("/v1/me/"), None);
        assert_eq!(index.allowed("/v1/profiles//"), None);
    }

    #[test]
    fn a_literal_and_a_variable_segment_both_count() {
        let allowed = index().allowed("/v1/rooms/dm");

        assert_eq!(allowed, Some(vec!["POST", "GET", "PATCH"]));
    }

    #[test]
    fn operation_ids_are_unique_and_every_link_names_one_with_all_its_path_parameters() {
        let document = serde_json::to_value(document()).unwrap();
        let mut operations = std::collections::HashMap::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(
                    operations.insert(id, path_parameters(path)).is_none(),
                    "two operations are {id}"
                );
            }
        }
        let mut links = 0;
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for response in operation["responses"].as_object().unwrap().values() {
                    for link in response["links"].as_object().into_iter().flatten() {
                        let target = link.1["operationId"].as_str().unwrap();
                        let mut given: Vec<String> = link.1["parameters"]
                            .as_object()
                            .unwrap()
                            .keys()
                            .cloned()
                            .collect();
                        let mut wanted = operations[target].clone();
                        given.sort();
                        wanted.sort();
                        assert_eq!(given, wanted, "{link:?}");
                        links += 1;
                    }
                }
            }
        }
        assert!(links > 100, "{links} links");
    }

    #[test]
    fn a_create_links_to_what_takes_its_id_from_its_body_and_its_own_path() {
        let document = serde_json::to_value(document()).unwrap();
        let topic = &document["paths"]["/v1/topics"]["post"]["responses"]["201"]["links"];
        let reply =
            &document["paths"]["/v1/topics/{topicId}/replies"]["post"]["responses"]["201"]["links"];

        assert_eq!(topic["view_topic"]["operationId"], "view_topic");
        assert_eq!(
            topic["view_topic"]["parameters"]["topicId"],
            "$response.body#/topicId"
        );
        assert_eq!(
            reply["edit_reply"]["parameters"],
            serde_json::json!({
                "topicId": "$request.path.topicId",
                "replyId": "$response.body#/replyId",
            })
        );
        assert_eq!(
            reply["set_reaction"]["parameters"]["targetId"],
            "$response.body#/replyId"
        );
        assert!(topic.get("create_topic").is_none(), "no link to itself");
    }

    #[test]
    fn a_topic_category_and_a_moderation_category_are_separate_schemas() {
        // Components share one namespace: a second type named `Category` replaced the
        // topic category's schema, and schemathesis found `POST /v1/categories`
        // answering against the moderation enum.
        let document = serde_json::to_value(document()).unwrap_or_default();
        let schemas = &document["components"]["schemas"];

        assert!(
            schemas["Category"]["properties"]["categoryId"].is_object(),
            "{}",
            schemas["Category"]
        );
        assert!(schemas["ModerationCategory"]["enum"].is_array());
    }

    #[test]
    fn every_authenticated_operation_has_bearer_security_and_problem_responses() {
        let document = document();

        for (path, item) in &document.paths.paths {
            let mut item = item.clone();
            for (_, operation) in operations_mut(&mut item) {
                let name = operation.operation_id.clone().unwrap_or_default();
                let responses = &operation.responses.responses;
                if ["/v1/health", "/v1/openapi.json", "/v1/calendars/{token}"]
                    .contains(&path.as_str())
                {
                    assert!(!responses.contains_key("401"), "{path}");
                    continue;
                }
                assert!(operation.security.is_some(), "{name} {path}");
                assert!(responses.contains_key("401"), "{name} {path}");
                assert!(responses.contains_key("500"), "{name} {path}");
            }
        }
    }
}
