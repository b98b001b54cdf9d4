//! `docs/openapi.json` is the document the handlers generate. Regenerate it with
//! `UPDATE_OPENAPI=1 cargo test -p agora-shared --test openapi`.

use std::path::Path;

fn committed_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let generated = agora::edge::openapi::document()
        .to_pretty_json()
        .map(|json| json + "\n")
        .unwrap_or_else(|e| panic!("serialize the document: {e}"));
    let path = committed_path();

    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();

    assert!(
        committed == generated,
        "docs/openapi.json differs from the document the handlers generate; regenerate it: \
         UPDATE_OPENAPI=1 cargo test -p agora-shared --test openapi"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_bearer_security() {
    let document = serde_json::to_value(agora::edge::openapi::document())
        .unwrap_or_else(|e| panic!("serialize the document: {e}"));

    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        document["paths"]["/v1/me"]["get"]["security"][0]["bearer"],
        serde_json::json!([])
    );
}
