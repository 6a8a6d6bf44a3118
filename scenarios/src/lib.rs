//! Scenarios for the simulated cluster: workloads, the oracle, property checks, the runner and
//! the `backup-sim` command line.
//!
//! A scenario is setup → run under faults → check, and it never trusts the system under test:
//! every check compares what the database answered with what the workload itself recorded.

/// The simulation allocates small objects (MVCC versions, log entries, messages) at a high rate
/// from every sweep thread. With glibc's allocator a standard seed spent a fifth of its time in
/// `malloc`/`free` and arena growth; mimalloc made the standard sweep 16.2 → 20.5 seeds/s. It
/// is declared here, not in the binary, so the test binaries (which link this crate) get it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod backup_scenario;
pub mod bench_chain;
pub mod chain_scenario;
pub mod bench_local;
pub mod check;
#[cfg(feature = "planted-bugs")]
pub mod mutants;
pub mod oracle;
pub mod probes;
pub mod run;
pub mod sabotage;
pub mod shell;
pub mod shrink;
pub mod summary;
pub mod workload;
