//! The simulation's half of a mutation run (`scripts/mutants.sh`, `.cargo/mutants.toml`): a
//! fixed sweep of the scenarios that run the backup code, with swarm faults, on seeds no other
//! test pins. cargo-mutants runs it next to `backup`'s own tests; a mutant of `backup/src` that
//! this test fails is a bug the simulation caught without anyone writing a test for it.
//!
//! It checks only the scenarios' properties (what was restored equals the oracle, damage is
//! refused, jobs end, ...), never coverage or trace text: a mutant that merely takes another
//! path through a seed is not a bug. Seeds and scenarios are fixed so that every mutant meets the
//! same runs; the report (`MUTANTS.md`) says which mutants only this test caught.

use scenarios::registry::sweep_seeds;
use scenarios::run::{replay_command, FaultMix};

/// (scenario, seeds): about a minute of debug-build wall time on two cores.
const SWEEP: &[(&str, std::ops::Range<u64>)] = &[("backup", 7_000..7_090), ("chain", 7_000..7_060)];

#[test]
fn a_fixed_sweep_of_the_backup_scenarios_keeps_every_property() {
    let mut failures = Vec::new();
    for (scenario, seeds) in SWEEP {
        for r in sweep_seeds(scenario, seeds.clone(), FaultMix::Swarm, 2, |_| {}) {
            if let Some(f) = &r.failure {
                failures.push(format!(
                    "{scenario} seed {} failed {}: {}\n  replay: {}",
                    r.seed,
                    f.property,
                    f.message,
                    replay_command(scenario, r.seed, FaultMix::Swarm)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// `.cargo/mutants.toml` selects test targets by name (so that a mutant's build skips the rest of
/// `scenarios`); a new test target in `backup/tests` (a `*.rs` file, or a directory with a
/// `main.rs`, as cargo finds them) that no pattern names would silently leave the mutation run.
#[test]
fn the_mutation_run_selects_every_test_target_of_backup() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = std::fs::read_to_string(root.join(".cargo/mutants.toml")).expect("read .cargo/mutants.toml");
    let patterns: Vec<String> = config
        .split("\"--test\",")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()).map(str::to_string))
        .collect();
    assert!(patterns.contains(&"mutation_sweep".to_string()), "the simulation's sweep is not selected: {patterns:?}");
    let matches = |name: &str| patterns.iter().any(|p| p.strip_suffix('*').map_or(p == name, |prefix| name.starts_with(prefix)));
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(root.join("backup/tests")).expect("read backup/tests") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").is_file() {
            targets.push(name);
        }
    }
    assert!(!targets.is_empty(), "no test target found in backup/tests");
    let unselected: Vec<&String> = targets.iter().filter(|name| !matches(name)).collect();
    assert!(unselected.is_empty(), "backup/tests targets that .cargo/mutants.toml does not select: {unselected:?}");
}
