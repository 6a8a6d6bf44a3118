//! Pages checked in a real browser: headless Chromium driven through chromedriver
//! ([`support`]). Each module is one page's story; a test where Chromium or chromedriver is not
//! installed prints `skipped:` and passes, unless `BACKUP_SIM_REQUIRE_BROWSER=1`.
//!
//! `cargo test -p scenarios --test browser` runs them; screenshots land in
//! `target/browser-screenshots/` (and, with `BACKUP_SIM_SCREENSHOTS_TO=docs/screenshots`, in the
//! README's pictures as well).

mod jobs_page;
pub mod support;
mod sweep_report;
mod timeline;

/// The shell tests' helpers: the in-memory http object server (it can refuse data files after
/// the first, which keeps a backup job running), a child's output collected as it comes, the
/// temporary directory and the plain HTTP client.
#[path = "../shell_support/mod.rs"]
#[allow(dead_code)]
mod shell_support;
