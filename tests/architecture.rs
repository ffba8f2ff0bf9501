//! The module graph (docs/contributing/architecture.md): data flows one way, so a module imports only modules of
//! its own layer or below, and no two modules import each other, directly or round a loop. Read from
//! the sources' `crate::` and `super::` paths, test code left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module's layer, from the bottom.
const LAYERS: &[(&str, u8)] = &[
    ("token", 0),
    ("repo_url", 0),
    ("requirements", 0),
    ("config", 0),
    ("credential", 0),
    ("logsink", 0),
    ("logfmt", 0),
    ("certs", 0),
    ("grant", 1),
    ("uses", 1),
    ("policy", 2),
    ("providers", 2),
    ("cache", 2),
    ("engine", 3),
    ("render", 4),
    ("metrics", 4),
    ("cluster", 5),
    ("admin", 5),
    ("server", 5),
    ("check", 5),
    ("audit", 5),
    ("watch", 5),
    ("cli", 6),
    ("run", 6),
    ("fuzzing", 6),
    ("reference", 6),
];

/// Source without `#[cfg(test)]` items (a `mod tests { … }` block or a `mod tests;` line).
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            let Some(next) = lines.next() else { break };
            if next.trim_end().ends_with('{') {
                let mut depth = next.matches('{').count() as i64 - next.matches('}').count() as i64;
                while depth > 0 {
                    let Some(l) = lines.next() else { break };
                    depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `src/a/b.rs` → `["a", "b"]`; `mod.rs` and `lib.rs` name their directory.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") && p.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(p);
        }
    }
}

/// Module → the modules it names, at the granularity of top-level modules and their children.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut modules: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for f in files {
        modules.insert(
            module_path(&src, &f),
            without_tests(&std::fs::read_to_string(&f).unwrap()),
        );
    }
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    // The deepest known module a path names, at most two levels deep.
    let resolve = |path: Vec<String>| -> Option<String> {
        (1..=path.len().min(2))
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| known.contains(p))
            .map(|p| p.join("::"))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let path_re = |text: &str, prefix: &str| -> Vec<Vec<String>> {
        text.match_indices(prefix)
            .map(|(i, _)| {
                text[i + prefix.len()..]
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or_default()
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    };
    for (path, text) in &modules {
        if path.is_empty() {
            continue;
        }
        let from = path[..path.len().min(2)].join("::");
        let mut targets: Vec<Vec<String>> = path_re(text, "crate::");
        // `super::x` from `a::b` (a file) names `a::x`; from `a` (a mod.rs) the crate root's `x`.
        let parent: Vec<String> = path[..path.len() - 1].to_vec();
        for rel in path_re(text, "super::") {
            targets.push(parent.iter().cloned().chain(rel).collect());
        }
        for t in targets {
            if let Some(to) = resolve(t) {
                let related =
                    to == from || to.starts_with(&format!("{from}::")) || from.starts_with(&format!("{to}::"));
                if !related {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    edges
}

fn layer(module: &str) -> u8 {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS
        .iter()
        .find(|(m, _)| *m == top)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| {
            panic!(
                "module {top} has no layer: add it to LAYERS and the module map of docs/contributing/architecture.md"
            )
        })
}

#[test]
fn modules_import_only_their_layer_or_below() {
    let mut wrong = Vec::new();
    for (from, tos) in graph() {
        for to in tos {
            if layer(&to) > layer(&from) {
                wrong.push(format!(
                    "{from} (layer {}) imports {to} (layer {})",
                    layer(&from),
                    layer(&to)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that go up:\n{}", wrong.join("\n"));
}

#[test]
fn there_is_no_import_cycle() {
    let g = graph();
    // Depth-first search for a back edge, reporting the loop.
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in g.keys() {
        if let Some(cycle) = visit(&g, node, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}
