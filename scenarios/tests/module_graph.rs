//! No module imports one that imports it back, in any crate of the workspace: the check behind
//! the layering ARCHITECTURE.md describes (within `backup`: storage, statement, format, env and
//! retry at the bottom; crypto, error, jobs, location, lock, targets above them; chain and
//! encryption; plan, restore, show, backup_job; exec on top; in `scenarios`: the run harness and
//! the scenario trait, the scenarios, the registry that lists them, the tools that read it).
//!
//! A module here is a file or directory directly under a crate's `src/` (`format/` and its files
//! are one module). An edge `a -> b` is any `crate::b` path in `a`'s code, outside comment lines
//! and outside its `#[cfg(test)] mod tests` (a unit test may reach across layers). Run it alone:
//! `cargo test -p scenarios --test module_graph`; a failure prints every cycle and its edges.

use std::collections::{BTreeMap, BTreeSet};
mod source_tree;

use source_tree::{rust_files, src_dir};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The code of a file that counts for layering: no comment lines, nothing from its unit-test
/// module on.
fn layered_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.trim_start().starts_with("mod tests")) {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The `crate::<name>` paths in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        // `backup::crate::` cannot occur; `$crate::` (macros) and `some_crate::` are not ours.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn graph(krate: &str) -> Graph {
    let src = src_dir(krate);
    let files = rust_files(&src);
    let mut g = Graph::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a path").as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if first == "lib" || first == "main" {
            continue;
        }
        g.entry(first.clone()).or_default();
        let code = layered_code(&std::fs::read_to_string(f).expect("read source"));
        for m in crate_paths(&code) {
            if m != first {
                g.get_mut(&first).expect("entry made").insert(m);
            }
        }
    }
    // Only edges to modules of this crate (`crate::` may also name a re-exported item at the root).
    let names: BTreeSet<String> = g.keys().cloned().collect();
    for targets in g.values_mut() {
        targets.retain(|t| names.contains(t));
    }
    g
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.g[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on_stack: BTreeSet::new(), out: Vec::new() };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn describe(g: &Graph, comps: &[BTreeSet<String>]) -> String {
    comps
        .iter()
        .map(|c| {
            let edges: Vec<String> = c.iter().flat_map(|a| g[a].iter().filter(|b| c.contains(*b)).map(move |b| format!("{a} -> {b}"))).collect();
            format!("cycle {{{}}}: {}", c.iter().cloned().collect::<Vec<_>>().join(", "), edges.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_module_of_any_crate_imports_one_that_imports_it_back() {
    for krate in ["model", "backup", "sim", "scenarios"] {
        let g = graph(krate);
        assert!(g.len() > 5, "{krate}: found only {} modules; is the source tree where the test looks?", g.len());
        let c = cycles(&g);
        assert!(c.is_empty(), "{krate} has import cycles:\n{}", describe(&g, &c));
    }
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let mut g = Graph::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["c".to_string()].into());
    g.insert("c".into(), ["a".to_string()].into());
    g.insert("d".into(), ["a".to_string()].into());
    assert_eq!(cycles(&g), vec![["a", "b", "c"].iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()]);
    assert_eq!(crate_paths("use crate::x::Y; $crate::z; other_crate::w; (crate::v)"), ["v", "x"].iter().map(|s| s.to_string()).collect());
    assert_eq!(layered_code("use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n"), "use crate::a;\n");
}
