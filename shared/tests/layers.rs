//! The library's layers point one way, and its contexts form no cycle.
//!
//! A file's part is its layer (`core`, `table`, `account`, `edge`) or, under
//! `contexts/`, its context. A reference is any `crate::…` path in the file (grouped
//! `use crate::contexts::{a, b}` included). The crate root's short aliases
//! (`crate::feed`, …) are refused inside the library so no dependency hides behind one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 5] = ["core", "table", "contexts", "account", "edge"];

/// Files that still use the DynamoDB SDK outside the table layer. The list only
/// shrinks: a file that stops importing the SDK must leave it, and no file may join it.
const SDK_OUTSIDE_TABLE_STILL: &[&str] = &[];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Part {
    layer: &'static str,
    context: Option<String>,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.context {
            Some(context) => write!(f, "contexts::{context}"),
            None => f.write_str(self.layer),
        }
    }
}

fn rank(layer: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| *l == layer)
        .unwrap_or(usize::MAX)
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {dir:?}: {e}"));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("entry in {dir:?}: {e}"))
            .path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library's files, each with its path relative to `src/` (with `/`).
fn library() -> Vec<(String, String)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
            (relative, without_comments(&text))
        })
        .collect()
}

/// The code of a file without its line comments: a doc link to another layer is no
/// dependency.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn part_of_file(relative: &str) -> Option<Part> {
    let mut segments = relative.split('/');
    let first = segments.next()?;
    let layer = LAYERS
        .iter()
        .find(|l| **l == first.trim_end_matches(".rs"))?;
    let context = if *layer == "contexts" {
        let name = segments.next()?.trim_end_matches(".rs");
        (name != "mod").then(|| name.to_owned())
    } else {
        None
    };
    Some(Part { layer, context })
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every `crate::…` reference in `text`, as the path's first two segments
/// (`("contexts", Some("feed"))`), with grouped imports expanded.
fn references(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        // `agora_crate::`, `$crate::` are not this crate's paths.
        if text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let item = item.trim();
                if !item.is_empty() {
                    found.push((identifier(item).to_owned(), None));
                }
            }
            continue;
        }
        let first = identifier(rest).to_owned();
        let after = &rest[first.len()..];
        let second = after.strip_prefix("::").map(|tail| {
            if let Some(group) = tail.strip_prefix('{') {
                group[..group.find('}').unwrap_or(group.len())].to_owned()
            } else {
                identifier(tail).to_owned()
            }
        });
        match second {
            Some(group) if group.contains(',') || group.contains('{') => {
                for item in group.split(',') {
                    let name = identifier(item.trim());
                    if !name.is_empty() {
                        found.push((first.clone(), Some(name.to_owned())));
                    }
                }
            }
            second => found.push((first, second.filter(|s| !s.is_empty()))),
        }
    }
    found
}

fn part_of_reference(first: &str, second: Option<&str>) -> Option<Part> {
    let layer = LAYERS.iter().find(|l| **l == first)?;
    let context = match (*layer, second) {
        ("contexts", Some(name)) if name != "self" => Some(name.to_owned()),
        _ => None,
    };
    Some(Part { layer, context })
}

/// The parts and the edges between them, with the file that makes each edge.
fn graph() -> (BTreeMap<Part, BTreeSet<Part>>, Vec<String>) {
    let mut edges: BTreeMap<Part, BTreeSet<Part>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (relative, text) in library() {
        if relative == "lib.rs" {
            continue;
        }
        let Some(from) = part_of_file(&relative) else {
            problems.push(format!(
                "{relative} is in no layer: put it under one of {LAYERS:?}"
            ));
            continue;
        };
        for (first, second) in references(&text) {
            if first == "self" || first.is_empty() {
                continue;
            }
            let Some(to) = part_of_reference(&first, second.as_deref()) else {
                problems.push(format!(
                    "{relative} uses `crate::{first}`: use the full path through its layer"
                ));
                continue;
            };
            if to != from {
                edges.entry(from.clone()).or_default().insert(to.clone());
            }
            if rank(to.layer) > rank(from.layer) {
                problems.push(format!(
                    "{relative} ({from}) imports {to}, a layer above it"
                ));
            }
        }
    }
    (edges, problems)
}

/// Strongly connected components with more than one part (Tarjan).
fn cycles(edges: &BTreeMap<Part, BTreeSet<Part>>) -> Vec<Vec<Part>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Part, BTreeSet<Part>>,
        index: BTreeMap<Part, usize>,
        low: BTreeMap<Part, usize>,
        stack: Vec<Part>,
        on_stack: BTreeSet<Part>,
        found: Vec<Vec<Part>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, v: &Part) {
            let i = self.index.len();
            self.index.insert(v.clone(), i);
            self.low.insert(v.clone(), i);
            self.stack.push(v.clone());
            self.on_stack.insert(v.clone());
            let next: Vec<Part> = self
                .edges
                .get(v)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            for w in next {
                if !self.index.contains_key(&w) {
                    self.visit(&w);
                    let low = self.low[v].min(self.low[&w]);
                    self.low.insert(v.clone(), low);
                } else if self.on_stack.contains(&w) {
                    let low = self.low[v].min(self.index[&w]);
                    self.low.insert(v.clone(), low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(&w);
                    let done = &w == v;
                    component.push(w);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn part(layer: &'static str, context: Option<&str>) -> Part {
    Part {
        layer,
        context: context.map(str::to_owned),
    }
}

#[test]
fn every_import_points_down_the_layers_and_through_no_alias() {
    let (_, problems) = graph();

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_two_contexts_or_layers_import_each_other_in_a_circle() {
    let (edges, _) = graph();

    let found = cycles(&edges);

    let described: Vec<String> = found
        .iter()
        .map(|c| {
            c.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ↔ ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles: {described:#?}");
}

#[test]
fn the_checker_sees_a_cycle_and_an_upward_import_when_there_is_one() {
    let feed = part("contexts", Some("feed"));
    let chat = part("contexts", Some("chat"));
    let mut edges = BTreeMap::new();
    edges.insert(feed.clone(), BTreeSet::from([chat.clone()]));
    edges.insert(chat.clone(), BTreeSet::from([feed.clone()]));

    let found = cycles(&edges);
    let refs = references("use crate::contexts::{feed, chat};\nlet x = crate::edge::ws::X;");

    assert_eq!(found, vec![vec![chat, feed]]);
    assert_eq!(
        refs,
        vec![
            ("contexts".to_owned(), Some("feed".to_owned())),
            ("contexts".to_owned(), Some("chat".to_owned())),
            ("edge".to_owned(), Some("ws".to_owned())),
        ]
    );
    assert!(rank("edge") > rank("contexts"));
}

#[test]
fn only_the_table_layer_and_a_shrinking_list_use_the_dynamodb_sdk() {
    let using: BTreeSet<String> = library()
        .into_iter()
        .filter(|(_, text)| text.contains("aws_sdk_dynamodb"))
        .map(|(relative, _)| relative)
        .filter(|relative| !relative.starts_with("table/"))
        .collect();
    let allowed: BTreeSet<String> = SDK_OUTSIDE_TABLE_STILL
        .iter()
        .map(|s| (*s).to_owned())
        .collect();

    let new: Vec<&String> = using.difference(&allowed).collect();
    let cleaned: Vec<&String> = allowed.difference(&using).collect();

    assert!(
        new.is_empty(),
        "only the table layer may use aws_sdk_dynamodb; these files started to: {new:?}"
    );
    assert!(
        cleaned.is_empty(),
        "these files no longer use the SDK: remove them from SDK_OUTSIDE_TABLE_STILL: {cleaned:?}"
    );
}

#[test]
fn no_function_crate_depends_on_the_dynamodb_sdk() {
    let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut offenders = Vec::new();
    let crates = std::fs::read_dir(&functions).unwrap_or_else(|e| panic!("{functions:?}: {e}"));
    for entry in crates {
        let dir = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.contains("aws-sdk-dynamodb") {
            offenders.push(manifest.display().to_string());
        }
        let mut sources = Vec::new();
        rust_files(&dir.join("src"), &mut sources);
        for source in sources {
            let code = std::fs::read_to_string(&source).unwrap_or_default();
            if without_comments(&code).contains("aws_sdk_dynamodb") {
                offenders.push(source.display().to_string());
            }
        }
    }

    assert!(
        offenders.is_empty(),
        "functions reach DynamoDB only through the library's table layer: {offenders:?}"
    );
}

/// The files a context folder may hold: the same inside in every context. `mod.rs`
/// declares the others and the imports they share, and holds no item of its own.
const CONTEXT_FILES: [&str; 8] = [
    "mod.rs",       // declarations and the imports the files below share
    "items.rs",     // item types: keys, index keys, entity names; views built from them
    "input.rs",     // input types and their validation
    "rules.rs",     // pure rules: decisions, write plans, visibility, counters
    "access.rs",    // access patterns: the reads served from the table
    "use_cases.rs", // use cases: the operations the edge calls, which write
    "reactions.rs", // stream reactions, registered with one of the two stream readers
    "erasure.rs",   // this context's steps of account erasure and export
];

/// Ports to services other than the table, one per context that needs one.
const CONTEXT_PORTS: [&str; 3] = ["realtime/push.rs", "feed/queue.rs", "discussions/queue.rs"];

#[test]
fn every_context_folder_has_the_same_inside_and_its_mod_file_holds_no_items() {
    let contexts = src().join("contexts");
    let mut strays = Vec::new();
    let mut busy_mod_files = Vec::new();
    let folders = std::fs::read_dir(&contexts).unwrap_or_else(|e| panic!("{contexts:?}: {e}"));
    for folder in folders {
        let folder = folder.unwrap_or_else(|e| panic!("{e}")).path();
        if !folder.is_dir() {
            continue;
        }
        let name = folder
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let files = std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{folder:?}: {e}"));
        for file in files {
            let file = file.unwrap_or_else(|e| panic!("{e}")).path();
            let file_name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let relative = format!("{name}/{file_name}");
            if !CONTEXT_FILES.contains(&file_name) && !CONTEXT_PORTS.contains(&relative.as_str()) {
                strays.push(relative);
            }
        }
        let module = std::fs::read_to_string(folder.join("mod.rs"))
            .unwrap_or_else(|e| panic!("{name}/mod.rs: {e}"));
        let code = without_comments(&module);
        let items: Vec<&str> = code
            .lines()
            .filter(|line| !line.starts_with(' ') && !line.trim().is_empty())
            .filter(|line| !line.starts_with("use ") && !line.starts_with("pub use "))
            .filter(|line| !line.starts_with("mod ") && !line.starts_with("pub mod "))
            .filter(|line| !line.starts_with("#[") && !line.starts_with("//"))
            .filter(|line| !line.starts_with('}'))
            .collect();
        if !items.is_empty() {
            busy_mod_files.push(format!("{name}/mod.rs: {items:?}"));
        }
    }

    assert!(
        strays.is_empty(),
        "a context folder holds only {CONTEXT_FILES:?} (and the ports {CONTEXT_PORTS:?}); move these: {strays:?}"
    );
    assert!(
        busy_mod_files.is_empty(),
        "a context's mod.rs only declares its files; move these items into them: {busy_mod_files:?}"
    );
}
