//! Trace events are emitted and read only through the named constants of `sim::event` and
//! `backup::event`: no emitter spells an event name as a string literal, so the probes and the
//! trace summary, which read the same constants, cannot name an event nothing emits.

mod source_tree;

use source_tree::{rust_files, src_dir};

/// The argument `index` (0-based) of each call of `call` in `code`, trimmed (top-level commas
/// only; good enough for the calls checked here, whose first arguments are plain expressions).
fn call_arguments(code: &str, call: &str, index: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(call) {
        rest = &rest[i + call.len()..];
        let (mut depth, mut arg, mut current) = (0i32, 0usize, String::new());
        for c in rest.chars() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => break,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    if arg == index {
                        break;
                    }
                    arg += 1;
                    current.clear();
                    continue;
                }
                _ => {}
            }
            if arg == index {
                current.push(c);
            }
        }
        found.push(current.trim().to_string());
    }
    found
}

fn literal_event_names(krate: &str, call: &str, index: usize) -> Vec<String> {
    let src = src_dir(krate);
    let files = rust_files(&src);
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        for arg in call_arguments(&text, call, index) {
            if arg.starts_with('"') {
                bad.push(format!("{}: {call}... {arg}", f.display()));
            }
        }
    }
    bad
}

#[test]
fn every_event_is_emitted_through_a_named_constant() {
    let mut bad = Vec::new();
    for krate in ["sim", "scenarios"] {
        bad.extend(literal_event_names(krate, "trace_event!(", 2));
    }
    bad.extend(literal_event_names("backup", "env.event(", 0));
    assert!(bad.is_empty(), "event names spelled as literals (add a constant to sim::event or backup::event):\n{}", bad.join("\n"));
}

#[test]
fn the_scan_sees_a_literal_and_a_constant() {
    let code = "trace_event!(t, \"n1\", \"lease-expired\", \"r{}\", r); trace_event!(t, who, crate::event::GC, \"x\"); env.event(\"job-x\", d);";
    assert_eq!(call_arguments(code, "trace_event!(", 2), ["\"lease-expired\"", "crate::event::GC"]);
    assert_eq!(call_arguments(code, "env.event(", 0), ["\"job-x\""]);
}
