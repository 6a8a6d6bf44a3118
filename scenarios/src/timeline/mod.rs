//! The timeline of one run (`replay … --html FILE`, and a failing seed's link in `sweep --html`):
//! one self-contained HTML page that draws the trace on a shared simulated-time axis, so that a
//! failing seed can be looked at instead of read line by line: a lane per node (down, paused,
//! partitioned away, its clock), a lane per job (each coordinator's run as a bar, with what it
//! did written under it), the injected faults, the storage operations and damage, the SQL
//! statements, the writers' commits as a density strip, and a lane per range (its leaseholder
//! over time, splits, GC threshold moves). The verdict is at the top; a failure is marked where
//! the checks ran and the view opens on it. Every mark is a trace line: hovering shows it,
//! clicking shows the lines around it.
//!
//! The page is built with askama (`templates/timeline.html`); the picture is SVG generated here,
//! laid out once for the whole run and moved by a few lines of script on zoom and pan (each
//! mark carries its simulated start and end). Nothing is fetched: it opens offline, from disk.

pub mod lanes;

use askama::Template;
use lanes::{Picture, Shape};

/// What the page says about the run besides its trace.
#[derive(Clone, Debug)]
pub struct Title {
    /// The scenario's name (or the scenario file's path).
    pub scenario: String,
    pub seed: u64,
    /// The command that replays the run.
    pub replay: String,
    /// The failing property and its message; `None` when every property held.
    pub failure: Option<(String, String)>,
    /// The scenario's one-line summary of a run that passed.
    pub detail: String,
}

impl Title {
    /// The title of a finished run, with the command that replays it.
    pub fn of(report: &crate::run::RunReport, replay: String) -> Title {
        Title {
            scenario: report.scenario.to_string(),
            seed: report.seed,
            replay,
            failure: report.failure.as_ref().map(|f| (f.property.to_string(), f.message.clone())),
            detail: report.detail.clone(),
        }
    }
}

/// The plot's geometry in SVG units; the script uses the same numbers (read from the svg's data attributes).
const LABEL_W: f64 = 250.0;
const PLOT_W: f64 = 1250.0;
const AXIS_H: f64 = 26.0;
const LANE_H: f64 = 16.0;
const TALL_H: f64 = 34.0;
const GROUP_H: f64 = 18.0;
const DENSITY_H: f64 = 28.0;

/// One SVG element of the plot, positioned for the whole-run view.
struct El {
    /// `rect`, `line` or `text`.
    tag: &'static str,
    class: String,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    a: f64,
    b: f64,
    line: usize,
    text: String,
    tip: String,
}

/// A lane's name in the left column, or a group's heading.
struct Label {
    y: f64,
    text: String,
    tip: String,
    heading: bool,
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct Page<'a> {
    title: &'a Title,
    failed: bool,
    property: String,
    message: String,
    stories: &'a [String],
    width: f64,
    height: f64,
    label_w: f64,
    plot_w: f64,
    axis_h: f64,
    end: f64,
    view_a: f64,
    view_b: f64,
    fail_line: i64,
    labels: Vec<Label>,
    els: Vec<El>,
    trace_json: String,
    lines: usize,
}

/// The timeline page of `trace`.
pub fn render(trace: &str, title: &Title) -> String {
    let picture = lanes::build(trace);
    let page = page(&picture, trace, title);
    page.render().unwrap_or_else(|e| format!("<!doctype html><title>timeline</title><p>cannot render the timeline: {}</p>", escape(&e.to_string())))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn page<'a>(p: &'a Picture, trace: &str, title: &'a Title) -> Page<'a> {
    let x_of = |t: f64| LABEL_W + t / p.end * PLOT_W;
    let mut els: Vec<El> = Vec::new();
    let mut labels: Vec<Label> = Vec::new();
    let mut y = AXIS_H;

    // The writers' commits (and aborts) per bin.
    labels.push(Label {
        y: y + DENSITY_H / 2.0,
        text: "commits / aborts".into(),
        tip: "the writers' commits (up) and aborts (down) per time bin".into(),
        heading: false,
    });
    let max = p.density.commits.iter().chain(&p.density.aborts).copied().max().unwrap_or(0).max(1) as f64;
    for (i, (&c, &ab)) in p.density.commits.iter().zip(&p.density.aborts).enumerate() {
        let a = i as f64 * p.density.bin;
        let b = a + p.density.bin;
        for (n, class, up) in [(c, "commits", true), (ab, "aborts", false)] {
            if n == 0 {
                continue;
            }
            let h = (n as f64 / max * (DENSITY_H / 2.0 - 1.0)).max(1.0);
            let top = if up { y + DENSITY_H / 2.0 - h } else { y + DENSITY_H / 2.0 };
            els.push(El {
                tag: "rect",
                class: format!("m dens {class}"),
                x: x_of(a),
                y: top,
                w: (x_of(b) - x_of(a)).max(0.5),
                h,
                a,
                b,
                line: usize::MAX,
                text: String::new(),
                tip: format!("{n} {class} between {a:.2}s and {b:.2}s"),
            });
        }
    }
    y += DENSITY_H;

    let mut group = "";
    for lane in &p.lanes {
        if lane.group != group {
            group = lane.group;
            labels.push(Label { y: y + GROUP_H * 0.7, text: group.to_string(), tip: String::new(), heading: true });
            y += GROUP_H;
        }
        let h = if lane.tall { TALL_H } else { LANE_H };
        labels.push(Label { y: y + 11.0, text: lane.label.clone(), tip: lane.tip.clone(), heading: false });
        for m in &lane.marks {
            let line = m.line;
            match m.shape {
                Shape::Bar | Shape::Overlay => {
                    let (top, bh) = match (m.shape, lane.tall) {
                        (Shape::Overlay, _) => (y + 1.0, 5.0),
                        (_, true) => (y + 2.0, 13.0),
                        _ => (y + 2.0, LANE_H - 4.0),
                    };
                    els.push(El {
                        tag: "rect",
                        class: format!("m bar {}", m.class),
                        x: x_of(m.a),
                        y: top,
                        w: (x_of(m.b) - x_of(m.a)).max(1.0),
                        h: bh,
                        a: m.a,
                        b: m.b,
                        line,
                        text: String::new(),
                        tip: m.tip.clone(),
                    });
                    if !m.label.is_empty() {
                        let (ty, class) = if lane.tall { (y + 28.0, "m lbl story") } else { (y + 11.5, "m lbl") };
                        // A job's story runs on under the lane until the next coordinator's bar.
                        let fit_to = if lane.tall {
                            lane.marks.iter().filter(|o| o.shape == Shape::Bar && o.a > m.a).map(|o| o.a).fold(p.end * 1.02, f64::min)
                        } else {
                            m.b
                        };
                        els.push(El {
                            tag: "text",
                            class: class.into(),
                            x: x_of(m.a) + 2.0,
                            y: ty,
                            w: x_of(m.b) - x_of(m.a),
                            h: 0.0,
                            a: m.a,
                            b: fit_to,
                            line,
                            text: m.label.clone(),
                            tip: m.tip.clone(),
                        });
                    }
                }
                Shape::Tick => els.push(El {
                    tag: "line",
                    class: format!("m tick {}", m.class),
                    x: x_of(m.a),
                    y: y + 1.0,
                    w: 0.0,
                    h: if lane.tall { 15.0 } else { LANE_H - 2.0 },
                    a: m.a,
                    b: m.a,
                    line,
                    text: String::new(),
                    tip: m.tip.clone(),
                }),
            }
        }
        y += h;
    }
    let height = y + 8.0;

    // Each fresh cluster's start: a divider across every lane.
    for w in p.worlds.iter().skip(1) {
        els.push(El {
            tag: "line",
            class: "m world".into(),
            x: x_of(w.start),
            y: AXIS_H - 6.0,
            w: 0.0,
            h: height - AXIS_H,
            a: w.start,
            b: w.start,
            line: w.line,
            text: String::new(),
            tip: w.label.clone(),
        });
        els.push(El {
            tag: "text",
            class: "m worldlbl".into(),
            x: x_of(w.start) + 3.0,
            y: AXIS_H - 12.0,
            w: 0.0,
            h: 0.0,
            a: w.start,
            b: w.start,
            line: w.line,
            text: w.label.clone(),
            tip: w.label.clone(),
        });
    }

    // The failure: the checks run at the end of the run, after the last trace line.
    let failed = title.failure.is_some();
    let (property, message) = title.failure.clone().unwrap_or_default();
    let fail_t = p.end;
    if failed {
        els.push(El {
            tag: "line",
            class: "m failmark".into(),
            x: x_of(fail_t),
            y: AXIS_H - 6.0,
            w: 0.0,
            h: height - AXIS_H,
            a: fail_t,
            b: fail_t,
            line: p.last_line,
            text: String::new(),
            tip: format!("{property} fails here: {}", message.lines().next().unwrap_or("")),
        });
        els.push(El {
            tag: "text",
            class: "m faillbl".into(),
            x: x_of(fail_t) - 4.0,
            y: AXIS_H + 10.0,
            w: 0.0,
            h: 0.0,
            a: fail_t,
            b: fail_t,
            line: p.last_line,
            text: format!("✕ {property}"),
            tip: message.clone(),
        });
    }
    // A failing run opens on its jobs through the failure; a passing one on the whole run.
    let first_job = p.lanes.iter().filter(|l| l.group == "jobs").flat_map(|l| l.marks.iter().map(|m| m.a)).fold(f64::INFINITY, f64::min);
    // (A failing run without jobs opens on its last third, where the checks that failed ran.)
    let (view_a, view_b) = match (failed, first_job.is_finite()) {
        (true, true) => ((first_job - 0.05 * p.end).max(0.0), fail_t + 0.02 * p.end),
        (true, false) => (fail_t * 2.0 / 3.0, fail_t + 0.02 * p.end),
        (false, _) => (0.0, p.end),
    };

    // The trace, for the hover and click panels: JSON inside a script element, with '<' escaped so
    // that no line can close the element.
    let all: Vec<&str> = trace.lines().collect();
    let trace_json = serde_json::to_string(&all).unwrap_or_else(|_| "[]".into()).replace('<', "\\u003c");
    Page {
        title,
        failed,
        property,
        message,
        stories: &p.job_stories,
        width: LABEL_W + PLOT_W + 10.0,
        height,
        label_w: LABEL_W,
        plot_w: PLOT_W,
        axis_h: AXIS_H,
        end: p.end,
        view_a,
        view_b,
        fail_line: if failed { p.last_line as i64 } else { -1 },
        labels,
        els,
        trace_json,
        lines: all.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_verdict_the_lanes_and_an_escaped_trace() {
        let trace =
            "   0.000000s world config network=x seed=0 nodes=2\n   1.000000s n1 bulk BACKUP TO '</script><b>'\n   2.000000s n1 job-claimed job 5 by n1\n";
        let title = Title {
            scenario: "backup".into(),
            seed: 7,
            replay: "backup-sim replay backup --seed 7".into(),
            failure: Some(("restore-matches-oracle".into(), "key 4: expected <x>".into())),
            detail: String::new(),
        };
        let html = render(trace, &title);
        assert!(html.contains("FAILED restore-matches-oracle"), "{html}");
        assert!(html.contains("key 4: expected &lt;x&gt;") || html.contains("key 4: expected &#60;x&#62;"), "the message is escaped");
        assert!(!html.contains("</script><b>"), "a trace line cannot close the script element");
        assert!(html.contains(">n1<") && html.contains(">n2<"), "a lane per node");
        assert!(html.contains("class=\"m failmark\""), "the failure is marked");
        assert!(html.contains("backup-sim replay backup --seed 7"));
    }
}
