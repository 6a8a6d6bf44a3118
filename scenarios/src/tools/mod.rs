//! The interactive tools, apart from the test bed: the SQL shell on an in-process cluster with
//! real storage (`backup-sim shell`), and the real-storage benchmarks (`bench-local`,
//! `bench-chain`), and the report of a cargo-mutants run (`mutation-report`). None of this runs inside the simulator; it drives the same backup code
//! against the local filesystem or real object stores.

pub mod bench_chain;
pub mod bench_local;
pub mod golden_corpus;
pub mod mutation_report;
pub mod shell;
