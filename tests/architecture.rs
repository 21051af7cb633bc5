//! The shape of the house, checked: no circle among `src/`'s modules, the
//! pure modules import nothing that talks to AWS, the surfaces import no
//! domain they should not, and no function is over 80 lines.
//!
//! The module graph is read from the source: each file is a module, and each
//! `crate::` or `super::` path in its non-test code is an arrow to the module
//! the path names. An arrow between a module and one of its ancestors is a
//! module using its parent's items, not a circle; any other arrow counts as
//! one between the two siblings under their nearest common ancestor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that call AWS, directly or through their own modules.
const TALKS_TO_AWS: [&str; 9] = [
    "aws",
    "accounts",
    "observe",
    "execute",
    "reconcile",
    "runtime",
    "ingest::sqs",
    "cli",
    "journal",
];
const LONGEST_FUNCTION: usize = 80;

struct Module {
    /// The module's code without its tests.
    code: String,
}

/// Every module of `src/`, by path (`""` is the crate root).
fn modules() -> BTreeMap<String, Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    collect(&src, &src, &mut found);
    found
}

fn collect(src: &Path, dir: &Path, found: &mut BTreeMap<String, Module>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(src, &path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap().with_extension("");
        let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            parts.pop();
        }
        // A test module of its own, like plan/tests.rs, is test code.
        if parts.last().is_some_and(|p| p == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = match text.find("#[cfg(test)]") {
            Some(at) => text[..at].to_owned(),
            None => text,
        };
        found.insert(parts.join("::"), Module { code });
    }
}

/// The module a path names: the longest prefix of it that is a module.
fn resolve<'a>(path: &[String], modules: &'a BTreeMap<String, Module>) -> Option<&'a str> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find_map(|candidate| modules.get_key_value(&candidate).map(|(k, _)| k.as_str()))
}

/// The modules `name`'s code names through `crate::` and `super::` paths.
fn imports(name: &str, code: &str, modules: &BTreeMap<String, Module>) -> BTreeSet<String> {
    let own: Vec<String> = name.split("::").filter(|p| !p.is_empty()).map(str::to_owned).collect();
    let mut found = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", own[..own.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in paths(&code[at + prefix.len()..]) {
                let full: Vec<String> = base.iter().cloned().chain(path).collect();
                if let Some(target) = resolve(&full, modules).filter(|t| *t != name) {
                    found.insert(target.to_owned());
                }
            }
        }
    }
    found
}

/// The paths after `crate::`: `a::b::C`, or each of a `{x, y::z}` group.
fn paths(rest: &str) -> Vec<Vec<String>> {
    let ident = |text: &str| -> Vec<String> {
        let end = text
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len());
        text[..end]
            .split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let head = ident(rest);
    let after = &rest[head.iter().map(|p| p.len() + 2).sum::<usize>().min(rest.len())..];
    if !after.starts_with('{') {
        return vec![head];
    }
    let group = &after[1..after.find('}').unwrap_or(after.len())];
    group
        .split(',')
        .map(|item| head.iter().cloned().chain(ident(item.trim())).collect())
        .collect()
}

fn ancestor(a: &str, b: &str) -> bool {
    a.is_empty() || b == a || b.starts_with(&format!("{a}::"))
}

/// The arrow as one between two siblings: the children of the nearest
/// common ancestor that lead to each end.
fn siblings(from: &str, to: &str) -> (String, String) {
    let (a, b): (Vec<&str>, Vec<&str>) = (from.split("::").collect(), to.split("::").collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    (a[..=common].join("::"), b[..=common].join("::"))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    modules
        .iter()
        .map(|(name, module)| (name.clone(), imports(name, &module.code, &modules)))
        .collect()
}

#[test]
fn no_circle_among_the_modules() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph() {
        for to in targets {
            if ancestor(&from, &to) || ancestor(&to, &from) {
                continue;
            }
            let (a, b) = siblings(&from, &to);
            edges.entry(a).or_default().insert(b);
        }
    }
    let mut circles = Vec::new();
    for start in edges.keys() {
        // Every module reachable from `start`: a circle if `start` is among them.
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = edges[start].iter().collect();
        while let Some(next) = stack.pop() {
            if next == start {
                circles.push(start.clone());
                break;
            }
            if seen.insert(next) {
                stack.extend(edges.get(next).into_iter().flatten());
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules on a circle: {circles:?}\narrows: {edges:#?}"
    );
}

#[test]
fn policy_and_plan_import_nothing_that_talks_to_aws() {
    let graph = graph();
    for pure in [
        "policy", "plan", "state", "document", "work", "account", "outcome", "shard",
    ] {
        let mut reached = BTreeSet::new();
        let mut stack = vec![pure.to_owned()];
        for (name, _) in graph.iter().filter(|(name, _)| ancestor(pure, name)) {
            stack.push(name.clone());
        }
        while let Some(next) = stack.pop() {
            if reached.insert(next.clone()) {
                stack.extend(graph.get(&next).into_iter().flatten().cloned());
            }
        }
        let talking: Vec<&String> = reached
            .iter()
            .filter(|m| TALKS_TO_AWS.iter().any(|aws| ancestor(aws, m)))
            .collect();
        assert!(talking.is_empty(), "{pure} reaches {talking:?}, which talk to AWS");
    }
    for (name, module) in modules()
        .iter()
        .filter(|(name, _)| ancestor("policy", name) || ancestor("plan", name))
    {
        assert!(!module.code.contains("aws_sdk"), "{name} names an AWS SDK");
    }
}

#[test]
fn the_surfaces_import_no_domain_they_should_not() {
    let graph = graph();
    let bans = [
        ("metrics", &["execute", "reconcile", "runtime"][..]),
        ("ingest", &["runtime", "reconcile", "execute"][..]),
        ("http", &["runtime", "reconcile", "execute"][..]),
    ];
    for (surface, banned) in bans {
        for (name, imports) in graph.iter().filter(|(name, _)| ancestor(surface, name)) {
            let wrong: Vec<&String> = imports
                .iter()
                .filter(|to| banned.iter().any(|b| ancestor(b, to)))
                .collect();
            assert!(wrong.is_empty(), "{name} imports {wrong:?}");
        }
    }
}

#[test]
fn no_function_is_over_80_lines() {
    let mut long = Vec::new();
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p))
                || trimmed.starts_with("pub(crate) async fn ")
                || trimmed.starts_with("pub(super) async fn ");
            if !is_fn {
                continue;
            }
            // The body ends at the first line closing at the fn's own indentation.
            let indent = line.len() - trimmed.len();
            let closing = format!("{}}}", " ".repeat(indent));
            let Some(end) = lines[start..].iter().position(|l| l.trim_end() == closing) else {
                continue;
            };
            if end + 1 > LONGEST_FUNCTION {
                long.push(format!("{}:{} ({} lines)", file.display(), start + 1, end + 1));
            }
        }
    }
    assert!(long.is_empty(), "functions over {LONGEST_FUNCTION} lines: {long:#?}");
}

/// Every Rust file below `dir`, tests included.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level modules in the order the `# Layout` of src/lib.rs lists
/// them: each bullet names its modules before its colon.
fn layout_order() -> Vec<String> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let order: Vec<String> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("//! - "))
        .flat_map(|bullet| {
            let head = bullet.split(':').next().unwrap_or_default();
            head.split(',')
                .map(|name| name.trim().trim_matches('`').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for name in modules().keys().filter(|name| !name.is_empty() && !name.contains("::")) {
        assert!(
            order.contains(name),
            "the `# Layout` of src/lib.rs does not list `{name}`"
        );
    }
    order
}

#[test]
fn the_layout_names_every_module_and_its_arrows_run_down() {
    let order = layout_order();
    let rank = |module: &str| {
        order
            .iter()
            .position(|m| m == module.split("::").next().unwrap_or(module))
    };
    for (from, targets) in graph() {
        for to in targets {
            let (Some(a), Some(b)) = (rank(&from), rank(&to)) else {
                continue;
            };
            assert!(
                a <= b,
                "{from} uses {to}, which the `# Layout` lists above it: {order:?}"
            );
        }
    }
}
