//! `backup-sim sweep-merge --html`: the sweep report of 10,000 seeds in a real browser.
//!
//! Ten thousand JSON lines with a mix like a real sweep's (about 3% failing over four
//! properties, one with a hostile message; every probe reached by some share of the seeds but
//! three reached by none) go through the real binary's `sweep-merge --html`. The page must show
//! the counts, the unreached probes in red, the failure rows capped with "and N more", and
//! render in under a second: the page records `performance.now()` after its script has forced
//! a layout (`data-render-ms`), and Navigation Timing's `loadEventEnd` must be under a second
//! too. Saves target/browser-screenshots/sweep-report.png.

use crate::support::{save_screenshot, Browser, TempDir};
use scenarios::probes::PROBES;
use scenarios::report::SweepLine;
use std::collections::BTreeMap;
use std::process::Command;

const SEEDS: u64 = 10_000;

/// The probes no synthetic seed reaches.
const UNREACHED: [usize; 3] = [4, 17, 30];

/// A small deterministic generator (xorshift64*), so the page is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Seed `seed`'s line: its verdict, its probes and its cost drawn from `rng`.
fn synthetic_line(seed: u64, rng: &mut Rng) -> SweepLine {
    let failure = if rng.chance(0.03) {
        Some(match rng.next() % 4 {
            0 => ("liveness", format!("writers did not finish within 240s of simulated time after faults stopped (seed {seed})")),
            1 => ("reads-match-oracle", format!("read of /Table/52/1/{} at ts {} returned a value the oracle never wrote", seed % 97, seed * 13)),
            2 => ("transient-errors-retried", "statement failed with a transient error: <script>alert('injected')</script> & more\nsecond line".to_string()),
            _ => ("job-accounts-true", "SHOW JOBS says \"succeeded\" for a job whose manifest is missing".to_string()),
        })
    } else {
        None
    };
    let mut probes = BTreeMap::new();
    for (i, p) in PROBES.iter().enumerate() {
        let rate = if UNREACHED.contains(&i) { 0.0 } else { 0.002 + (i % 9) as f64 * 0.11 };
        if rate > 0.0 && rng.chance(rate) {
            probes.insert(p.name.to_string(), 1 + rng.next() % 5);
        }
    }
    SweepLine {
        scenario: "cluster".to_string(),
        seed,
        ok: failure.is_none(),
        property: failure.as_ref().map(|(p, _)| p.to_string()),
        message: failure.map(|(_, m)| m),
        replay: format!("backup-sim replay cluster --seed {seed} --faults swarm"),
        sim_seconds: 60.0 + (rng.next() % 240) as f64,
        committed: 200 + (rng.next() % 100) as usize,
        aborted: (rng.next() % 10) as usize,
        reads_matched: 50 + (rng.next() % 50) as usize,
        gc_refused: (rng.next() % 3) as usize,
        faults: (rng.next() % 40) as usize,
        swarm: "Crash=4/min Pause=12/min Partition=17/min".to_string(),
        detail: String::new(),
        probes,
        wall_seconds: Some(0.1 + (rng.next() % 100) as f64 / 1000.0),
    }
}

#[test]
fn a_ten_thousand_seed_report_shows_its_counts_and_renders_in_under_a_second() {
    let Some(browser) = Browser::start_or_skip("sweep_report") else { return };
    let dir = TempDir::new("sweep-report");
    let mut rng = Rng(0x5eed_5eed);
    let lines: Vec<SweepLine> = (0..SEEDS).map(|s| synthetic_line(s, &mut rng)).collect();
    let failed = lines.iter().filter(|l| !l.ok).count();
    let jsonl: String = lines.iter().map(|l| serde_json::to_string(l).unwrap() + "\n").collect();
    let (input, page) = (dir.0.join("shards.jsonl"), dir.0.join("sweep-report.html"));
    std::fs::write(&input, jsonl).unwrap();
    let merged = Command::new(env!("CARGO_BIN_EXE_backup-sim")).arg("sweep-merge").arg(&input).arg("--html").arg(&page).output().expect("backup-sim runs");
    assert_eq!(merged.status.code(), Some(1), "failing seeds fail the merge: {}", String::from_utf8_lossy(&merged.stderr));
    let bytes = std::fs::metadata(&page).unwrap().len();
    assert!(bytes < 400_000, "the page stays small: {bytes} bytes");

    browser.open_file(&page);
    let render_ms: f64 = browser.attr("html", "data-render-ms").expect("the page's script ran").parse().unwrap();
    let load_ms = browser.js("return performance.getEntriesByType('navigation')[0].loadEventEnd;", vec![]).as_f64().unwrap();
    println!("sweep report of {SEEDS} seeds ({bytes} bytes): rendered in {render_ms:.1} ms, load event ended at {load_ms:.1} ms");
    assert!(render_ms < 1000.0, "rendered in {render_ms} ms");
    assert!(load_ms < 1000.0, "load event ended at {load_ms} ms");

    let number = |css: &str| browser.text(css).replace(',', "");
    assert_eq!(number("#seeds b"), SEEDS.to_string());
    assert_eq!(number("#failed b"), failed.to_string());
    assert_eq!(number("#passed b"), (SEEDS as usize - failed).to_string());
    assert_eq!(browser.count("#properties tr"), 4);
    assert_eq!(browser.count("#probes tr.probe"), PROBES.len());
    assert_eq!(browser.count("#probes tr.unreached"), UNREACHED.len());
    let red = browser.js("return getComputedStyle(document.querySelector('#probes tr.unreached td')).color;", vec![]);
    assert_eq!(red, serde_json::json!("rgb(197, 48, 48)"), "an unreached probe is red");
    assert!(browser.text("#probes tr.unreached").contains(PROBES[UNREACHED[0]].name));
    assert_eq!(browser.count("#failures tr.failure"), failed.min(scenarios::report::sweep_html::FAILURE_ROWS));
    assert!(browser.text("#more-failures").contains(&format!("and {} more", failed - scenarios::report::sweep_html::FAILURE_ROWS)));
    // The hostile message is text, not markup: the page's only script is its own.
    assert_eq!(browser.count("script"), 1);
    assert!(browser.source().contains("&lt;script&gt;alert('injected')&lt;/script&gt;"));
    assert_eq!(browser.text("#failing-seeds .seeds").split_whitespace().count(), failed);
    save_screenshot(&browser, "sweep-report.png", 2400);
    browser.shutdown();
}
