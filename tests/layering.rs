//! The layering holds inside each crate too: Cargo forbids cycles between crates, and this
//! test forbids them between the top-level modules of a crate (test code left out). An
//! import that closes a cycle fails here with the cycle named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each crate's source folder, by name.
fn crates() -> Vec<(String, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![("cutoff".to_string(), root.join("src"))];
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let name = dir.file_name().expect("name").to_string_lossy();
        out.push((format!("cutoff-{name}"), dir.join("src")));
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`parse/ahead.rs` → `parse`); the crate root is "".
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    match name.strip_suffix(".rs") {
        Some("lib" | "main") => String::new(),
        Some(m) => m.to_string(),
        None => name.to_string(),
    }
}

/// Top-level modules named after `crate::` in the non-test part of `text`, including those
/// inside `use crate::{a, b::c}` groups.
fn imports(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|s| s.trim().split("::").next().unwrap_or(""))
                .collect()
        } else {
            vec![
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or(""),
            ]
        };
        found.extend(
            names
                .into_iter()
                .filter(|n| modules.contains(*n))
                .map(String::from),
        );
    }
    found
}

fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(src, f))
        .filter(|m| !m.is_empty())
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = module_of(src, f);
        if m.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("readable");
        let deps = graph.entry(m.clone()).or_default();
        deps.extend(imports(&text, &modules).into_iter().filter(|d| *d != m));
    }
    graph
}

/// A cycle through `start`, if any, as the modules along it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut c = path[at..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let mut report = String::new();
    for (name, src) in crates() {
        let graph = module_graph(&src);
        assert!(!graph.is_empty(), "{name}: modules found");
        if let Some(c) = cycle(&graph) {
            panic!("{name}: import cycle {}", c.join(" → "));
        }
        report.push_str(&format!("{name}:\n"));
        for (m, deps) in &graph {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            report.push_str(&format!("  {m} → {}\n", deps.join(", ")));
        }
    }
    // `cargo test -- --nocapture` shows the graph ARCHITECTURE.md lists.
    println!("{report}");
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["c".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(
        cycle(&graph).map(|c| c.join(" ")),
        Some("a b c a".to_string())
    );
    let modules: BTreeSet<String> = ["x", "y", "z"].map(String::from).into();
    assert_eq!(
        imports(
            "use crate::{x::A, y};\nfn f() { crate::z::g() }\n#[cfg(test)]\nuse crate::w;",
            &modules
        ),
        ["x", "y", "z"].map(String::from).into()
    );
}
