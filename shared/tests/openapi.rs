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

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The schema names the library's `ToSchema` types take: the type's name, or its
/// `#[schema(as = …)]`, with the file each is declared in.
fn schema_names() -> std::io::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    )?;
    let mut names = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            if !(line.trim_start().starts_with("#[derive(") && line.contains("ToSchema")) {
                continue;
            }
            let mut renamed = None;
            for next in &lines[at + 1..] {
                let next = next.trim_start();
                if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                    renamed = rest.split(')').next().map(str::to_owned);
                }
                let declared = next
                    .strip_prefix("pub struct ")
                    .or_else(|| next.strip_prefix("pub enum "))
                    .or_else(|| next.strip_prefix("struct "))
                    .or_else(|| next.strip_prefix("enum "));
                if let Some(declared) = declared {
                    let name: String = declared
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    names.push((renamed.unwrap_or(name), file.display().to_string()));
                    break;
                }
            }
        }
    }
    Ok(names)
}

#[test]
fn no_two_schema_types_share_a_name_in_the_document() -> std::io::Result<()> {
    // Two types of one name would be one component: the document would describe one
    // of them with the other's fields (it said the review queue held course reviews).
    let mut seen: std::collections::BTreeMap<String, String> = Default::default();
    let mut clashes = Vec::new();
    for (name, file) in schema_names()? {
        if let Some(first) = seen.insert(name.clone(), file.clone()) {
            clashes.push(format!("{name}: {first} and {file}"));
        }
    }

    assert!(
        seen.len() > 100,
        "the scan found the schema types: {}",
        seen.len()
    );
    assert!(
        clashes.is_empty(),
        "name them apart with #[schema(as = …)]: {clashes:#?}"
    );
    Ok(())
}
