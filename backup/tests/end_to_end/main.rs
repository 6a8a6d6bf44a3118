//! `backup`'s end-to-end tests, in process, as one test binary: every file here was its own
//! binary once, and each linked the whole crate and its dependencies again (13 links, about
//! 280 s of a fresh build's CPU on 2 cores). One binary links once, and its tests run in one
//! pool of threads instead of binary after binary.
//!
//! Run one file's tests with a filter on its module name:
//!
//!   cargo test -p backup --test end_to_end local_secrets::
//!   scripts/test-servers.sh run cargo test -p backup --features real-storage --test end_to_end real_backends::

mod common;

mod bad_inputs;
mod fuzz_seeds;
mod local_backup;
mod local_collections;
mod local_encryption;
mod local_incremental;
mod local_jobs;
mod local_locality;
mod local_locks;
mod local_refusals;
mod local_restore;
mod local_restore_job;
mod local_restore_options;
mod local_schedules;
mod local_secrets;
mod local_show;
mod local_users;
mod plan_props;
// The real backends (nodelocal on disk, S3/Azure/http servers) need the `real-storage` feature,
// which the workspace build turns on through `scenarios`; `cargo test -p backup` alone leaves
// them out.
#[cfg(feature = "real-storage")]
mod real_backends;
#[cfg(feature = "real-storage")]
mod real_nodelocal_locks;
