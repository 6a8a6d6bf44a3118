//! The cluster scenario over pinned seeds: every fault kind on, reads checked against the oracle.

use scenarios::run::{replay_command, run_cluster, RunOptions, CLUSTER};

#[test]
fn debug_one() {
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut opts = RunOptions::new(seed);
    opts.echo_trace = std::env::var("ECHO").is_ok();
    let r = run_cluster(&opts);
    eprintln!("seed {seed}: committed={} aborted={} reads={} gc_refused={} faults={} sim={:.1}s", r.committed, r.aborted, r.reads_matched, r.gc_refused, r.faults, r.sim_seconds);
    if let Some(f) = &r.failure {
        panic!("seed {seed} failed {}: {}\nreplay: {}", f.property, f.message, replay_command(CLUSTER, seed));
    }
}
