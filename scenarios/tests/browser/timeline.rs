//! `replay … --html`: a run's timeline in a real browser.
//!
//! Two real runs, rendered by `scenarios::timeline` exactly as `replay --html` renders them:
//! backup seed 6 with swarm faults (its coordinator is killed while exporting and the job
//! resumes from its checkpoint on a node that came back: the README walkthrough's seed, here
//! without the planted bug) and a cluster run whose KV layer drops tombstones (a real failing
//! property, `reads-match-oracle`). The page must show the verdict, a lane per node and per
//! range, the jobs' stories, the failure marked inside the view it opens on with the failure's
//! trace lines in the panel; a hover shows a mark's trace line, a click the lines around it, and
//! zoom and the address's `#view=` move the axis. Saves target/browser-screenshots/timeline.png
//! and timeline-failed.png.

use crate::support::{save_screenshot, Browser, TempDir};
use scenarios::run::{FaultMix, RunOptions, RunReport};
use scenarios::timeline::{render, Title};

fn page_of(dir: &TempDir, name: &str, r: &RunReport) -> std::path::PathBuf {
    let replay = scenarios::run::replay_command(r.scenario, r.seed, FaultMix::Swarm);
    let path = dir.0.join(name);
    std::fs::write(&path, render(&r.trace, &Title::of(r, replay))).expect("write the page");
    path
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_runs_timeline_shows_its_nodes_ranges_jobs_and_the_trace_behind_each_mark() {
    let Some(browser) = Browser::start_or_skip("a_runs_timeline_shows_its_nodes_ranges_jobs_and_the_trace_behind_each_mark") else { return };
    let dir = TempDir::new("timeline");
    let r = scenarios::registry::run_named("backup", &RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(6) }).expect("backup scenario");
    assert!(r.failure.is_none(), "backup seed 6 must pass: {:?}", r.failure);
    let trace: Vec<&str> = r.trace.lines().collect();
    browser.open_file(&page_of(&dir, "backup-6.html", &r));

    assert!(browser.text("#verdict").starts_with("ok"), "{}", browser.text("#verdict"));
    let labels = browser.texts("#labels text");
    for want in ["NODES", "JOBS", "FAULTS", "STORAGE", "RANGES", "n1", "n5", "r1", "operations", "injected"] {
        assert!(labels.iter().any(|l| l == want), "no lane {want:?} in {labels:?}");
    }
    // The story the trace tells, in words, without the trace being read.
    let stories = browser.text("#stories");
    assert!(stories.contains("✕ coordinator killed at Exporting; then n3 · resumed: 3 spans done, 1 to go"), "{stories}");
    assert!(browser.count("rect.down") >= 1, "a node is drawn down");
    assert!(browser.count("rect.lease") >= 10, "leaseholders are drawn");
    assert!(browser.count("line.tick.f-crash") >= 1, "the crashes are marked");

    // Hover: the mark's own trace line.
    let hovered = browser.js(
        "var m = document.querySelector('rect.down'); var b = m.getBoundingClientRect();
         m.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: b.left + 2, clientY: b.top + 2}));
         return [document.getElementById('tip').textContent, +m.dataset.l];",
        vec![],
    );
    let line = hovered[1].as_u64().expect("data-l") as usize;
    assert!(hovered[0].as_str().unwrap_or("").contains(trace[line].trim()), "the tip shows line {line}: {hovered}");

    // Click: the lines around the mark, the mark's own highlighted.
    let lease_line: usize = browser.attr("rect.lease", "data-l").and_then(|l| l.parse().ok()).expect("a lease bar's line");
    browser.click("rect.lease");
    assert_eq!(browser.attr("#panel", "data-line").as_deref(), Some(lease_line.to_string().as_str()));
    assert!(browser.text("#panel .hit").contains(trace[lease_line].trim()), "{}", browser.text("#panel .hit"));

    // Zoom moves the axis; the address keeps the view and a link opens there.
    let axis_before = browser.texts("#axis text");
    browser.click("#zin");
    browser.click("#zin");
    let axis_after = browser.texts("#axis text");
    assert_ne!(axis_before, axis_after, "zooming in changes the axis");
    let url = browser.url();
    assert!(url.contains("#view="), "{url}");
    let zoomed = format!("file://{}#view=11,26", std::fs::canonicalize(dir.0.join("backup-6.html")).expect("path").display());
    browser.goto("about:blank");
    browser.goto(&zoomed);
    let ticks = browser.texts("#axis text");
    assert!(ticks.first().is_some_and(|t| t.starts_with("12s") || t.starts_with("11s")), "the view starts at 11 s: {ticks:?}");
    save_screenshot(&browser, "timeline.png", 1400);
    browser.shutdown();
}

#[test]
fn a_failing_runs_timeline_opens_on_the_failure() {
    let Some(browser) = Browser::start_or_skip("a_failing_runs_timeline_opens_on_the_failure") else { return };
    let dir = TempDir::new("timeline-failed");
    let opts = RunOptions { faults: FaultMix::None, sabotage: Some(scenarios::sabotage::Sabotage::DropTombstones), ..RunOptions::new(1) };
    let r = scenarios::cluster_scenario::run_cluster(&opts);
    let f = r.failure.as_ref().expect("dropped tombstones fail a property");
    browser.open_file(&page_of(&dir, "failed.html", &r));

    let verdict = browser.text("#verdict");
    assert_eq!(verdict, format!("FAILED {}", f.property));
    assert!(browser.text(".msg").contains(f.message.lines().next().unwrap_or("")), "the message is shown");
    // The failure mark is inside the plot in the view the page opens on, and its lines are shown.
    let geometry = browser.js(
        "var s = document.getElementById('plot'); var m = document.querySelector('line.failmark');
         return [+m.getAttribute('x1'), +s.dataset.labelw, +s.dataset.plotw];",
        vec![],
    );
    let (x, left, width) = (num(&geometry[0]), num(&geometry[1]), num(&geometry[2]));
    assert!(x > left && x <= left + width, "the failure mark at x={x} is outside the plot [{left}, {}]", left + width);
    let last = r.trace.lines().last().expect("a trace").trim();
    assert!(browser.text("#panel .hit").contains(last), "the panel opens on the failure's line");
    // "whole run" and "the failure" move the view and back.
    browser.click("#whole");
    let whole = browser.texts("#axis text");
    browser.click("#tofail");
    assert_ne!(whole, browser.texts("#axis text"));
    save_screenshot(&browser, "timeline-failed.png", 1400);
    browser.shutdown();
}
