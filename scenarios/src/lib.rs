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

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3 alike); libmimalloc-sys exports no name
/// for it. A test checks that this index holds that option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells the allocator to keep freed memory instead of returning it to the OS a second later (mimalloc v3's default): each
/// seed frees its whole cluster and the next one allocates it again, and re-faulting those pages
/// (the kernel zeroing them) took 5-30% of a standard sweep's time, varying run to run. Memory
/// stays bounded by the largest seed in flight per thread (about 200 MB for a standard sweep).
/// Call it once at the start of `main`, before threads start.
pub fn keep_freed_memory() {
    // -1 means never purge.
    // SAFETY: sets one integer option; called before other threads exist.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// Turns transparent huge pages off for this process. With them on (`madvise` mode, which
/// mimalloc asks for), each first touch of a 2 MiB region made the kernel zero all of it, and a
/// RESTORE spent two thirds of its time there: 1 GiB restored in 2.0 s with them, 0.65 s
/// without. Best effort: a kernel without the setting leaves things as they are.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

pub mod backup_scenario;
pub mod chain_scenario;
pub mod check;
pub mod cluster_scenario;
pub mod cluster_state;
mod credentials;
pub mod job_client;
pub mod jobs_check;
pub mod knobs;
pub mod locality_check;
mod malformed;
mod manifest_check;
#[cfg(feature = "planted-bugs")]
pub mod mutants;
pub mod oracle;
pub mod parts;
pub mod probes;
pub mod property;
pub mod registry;
mod render_check;
pub mod report;
pub mod restore_check;
pub mod run;
pub mod sabotage;
pub mod schedule_scenario;
pub mod secrets;
pub mod show_check;
pub mod shrink;
pub mod summary;
pub mod testfile;
pub mod timeline;
pub mod tools;
pub mod transient;
pub mod workload;

#[cfg(test)]
mod allocator_tests {
    #[test]
    fn the_purge_delay_option_is_where_keep_freed_memory_sets_it() {
        // 1000 ms is mimalloc v3's default purge delay (src/options.c); no option near it
        // defaults to 1000. A mimalloc update that renumbered its options would fail here
        // rather than silently set another one.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads one integer option.
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) }, 1000);
        }
    }
}
