//! The modules of `src/` form layers that run one way: no file reaches, through the files it uses,
//! back to itself, and the low layers (a resource's key, reports, AWS access, the state) use nothing
//! of the layers above them. Read from the source: every `crate::`, `super::` and child-module path
//! outside comments and test modules is an edge from its file to the file of the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module, by its path from the crate root (`[]` is `main.rs`).
type Module = Vec<String>;

/// The layers, lowest first; a module in one may use nothing in a later one. Modules not listed
/// sit between `state` and `resources` or above `graph` as their imports allow; the cycle check
/// covers them.
const LAYERS: &[&[&str]] = &[
    &["key", "report", "files", "aws", "ec2", "elb"],
    &["state"],
    &["resources"],
    &["decision"],
    &["graph"],
    &["commands"],
];

fn modules() -> BTreeMap<Module, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.insert(module_of(&root, &path), source(&path));
            }
        }
    }
    found
}

fn module_of(root: &Path, path: &Path) -> Module {
    let relative = path.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "main")) {
        parts.pop();
    }
    parts
}

/// The file's code without its test module and comments.
fn source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap();
    code.lines()
        .map(|line| match line.find("//") {
            // `//` inside a string (a URL) is kept: it names no module either way.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path written in `code` that starts at `crate::`, `super::` or one of `children`, as
/// segments resolved from the crate root; `use` trees are expanded.
fn paths(module: &Module, code: &str, children: &BTreeSet<String>) -> Vec<Module> {
    let mut found = Vec::new();
    for statement in code.split(';') {
        if let Some(tree) = statement.trim().strip_prefix("use ").or_else(|| {
            statement
                .trim()
                .strip_prefix("pub use ")
                .or_else(|| statement.trim().strip_prefix("pub(crate) use "))
        }) {
            let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
            expand(&tree, &mut Vec::new(), &mut found);
        }
    }
    let mut rest = code;
    while let Some(at) = rest.find("::") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(rest.len(), |i| at + i);
        let path: Module = rest[start..end].split("::").map(str::to_string).collect();
        // `a::{b, c}` is a `use` tree, read whole above.
        if path.last().is_some_and(|s| !s.is_empty()) {
            found.push(path);
        }
        rest = &rest[end.max(at + 2)..];
    }
    // `super::` from `a/b.rs` (module `a::b`) is `a`; from `a/mod.rs` (module `a`) the root. Each
    // further `super::` is one module up again.
    let up = |path: &Module| {
        let supers = path.iter().take_while(|s| *s == "super").count();
        [
            &module[..module.len().saturating_sub(supers)],
            &path[supers..],
        ]
        .concat()
    };
    found
        .into_iter()
        .filter_map(|path| match path.first().map(String::as_str) {
            Some("crate") => Some(path[1..].to_vec()),
            Some("super") => Some(up(&path)),
            Some(first) if children.contains(first) => Some([&module[..], &path[..]].concat()),
            _ => None,
        })
        .collect()
}

/// Expands a `use` tree (`crate::a::{b,c::{d,e}}`) into its paths.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Module>) {
    let (head, group) = match tree.find('{') {
        Some(open) => (&tree[..open], Some(&tree[open + 1..tree.len() - 1])),
        None => (tree, None),
    };
    let depth = prefix.len();
    prefix.extend(
        head.split("::")
            .filter(|s| !s.is_empty())
            .map(|s| s.split(" as ").next().unwrap().to_string()),
    );
    match group {
        None => out.push(prefix.clone()),
        Some(group) => {
            let mut level = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        expand(&group[start..i], prefix, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if start < group.len() {
                expand(&group[start..], prefix, out);
            }
        }
    }
    prefix.truncate(depth);
}

/// Each module's file and the modules its code names (the longest module prefix of each path).
fn edges() -> BTreeMap<Module, BTreeSet<Module>> {
    let sources = modules();
    sources
        .iter()
        .map(|(module, code)| {
            let children: BTreeSet<String> = sources
                .keys()
                .filter(|c| c.len() == module.len() + 1 && c.starts_with(module))
                .map(|c| c.last().unwrap().clone())
                .collect();
            let used = paths(module, code, &children)
                .into_iter()
                .filter_map(|path| {
                    (1..=path.len())
                        .rev()
                        .map(|n| path[..n].to_vec())
                        .find(|prefix| sources.contains_key(prefix))
                })
                .filter(|target| target != module)
                .collect();
            (module.clone(), used)
        })
        .collect()
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "main".into()
    } else {
        module.join("::")
    }
}

/// A path from `from` back to itself, if there is one.
fn circle(from: &Module, edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![vec![from.clone()]];
    while let Some(path) = stack.pop() {
        for next in &edges[path.last().unwrap()] {
            if next == from {
                return Some([path.clone(), vec![from.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push([path.clone(), vec![next.clone()]].concat());
            }
        }
    }
    None
}

#[test]
fn no_module_reaches_back_to_itself() {
    let edges = edges();
    assert!(edges.len() > 40, "the source tree was not read");
    let circles: Vec<String> = edges
        .keys()
        .filter_map(|m| circle(m, &edges))
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" -> "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn low_layers_use_nothing_above_them() {
    let edges = edges();
    let layer_of = |m: &Module| {
        LAYERS
            .iter()
            .position(|layer| m.first().is_some_and(|top| layer.contains(&top.as_str())))
    };
    let mut upward = Vec::new();
    for (module, used) in &edges {
        let Some(low) = layer_of(module) else {
            continue;
        };
        for target in used {
            if layer_of(target).is_some_and(|high| high > low) {
                upward.push(format!("{} uses {}", name(module), name(target)));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "layers used upwards:\n{}",
        upward.join("\n")
    );
}

/// The check itself sees an edge of each kind it relies on.
#[test]
fn the_reader_sees_crate_super_and_child_paths() {
    let edges = edges();
    let of = |m: &str| &edges[&m.split("::").map(str::to_string).collect::<Module>()];
    let module = |m: &str| m.split("::").map(str::to_string).collect::<Module>();
    assert!(of("graph").contains(&module("resources")), "crate:: path");
    assert!(
        of("state::backend").contains(&module("state::s3")),
        "super:: path"
    );
    assert!(
        of("resources::iam::role").contains(&module("resources::resource")),
        "super::super:: path"
    );
    assert!(
        of("resources").contains(&module("resources::vpc")),
        "child path"
    );
}
