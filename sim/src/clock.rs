//! Per-node physical clocks and hybrid-logical clocks.
//!
//! madsim has one global virtual clock. A real cluster does not: each node reads its own
//! oscillator. Each node's physical clock here is madsim's clock plus an offset that follows a
//! [`ClockShape`] drawn from the seed (constant, drifting, periodic, stepping, noisy) and is always
//! clamped to half the configured maximum offset, so any two nodes differ by at most the maximum
//! offset — the bound CockroachDB's correctness rests on. Faults change a node's shape at run
//! time (skew, jumps), still inside that bound.
//!
//! The wall-clock origin is fixed ([`BASE_WALL_NANOS`], 2020-03-27 10:00:00 UTC) so timestamps in
//! traces and snapshots are the same on every run.

use model::Timestamp;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Wall time at simulated time zero: 2020-03-27 10:00:00 UTC.
pub const BASE_WALL_NANOS: u64 = 1_585_303_200_000_000_000;

/// How a node's clock offset evolves over simulated time. Offsets are in nanoseconds, positive
/// meaning the node's clock runs ahead; every value is clamped to ±max_offset/2.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ClockShape {
    /// A fixed offset.
    Constant { offset_ns: i64 },
    /// Starts at `start_ns` and drifts by `ppm` parts per million of elapsed time.
    Drift { start_ns: i64, ppm: i64 },
    /// A sine-like triangle wave of `amplitude_ns` with period `period_ms`.
    Periodic { amplitude_ns: i64, period_ms: u64 },
    /// Piecewise constant: at each (time in ms, offset) the offset jumps to the new value.
    Steps { steps: Vec<(u64, i64)> },
    /// A new pseudo-random offset within ±`amplitude_ns` every `bucket_ms`, from `seed`.
    Noise { amplitude_ns: i64, bucket_ms: u64, seed: u64 },
}

impl ClockShape {
    /// Draws a shape whose offsets stay within ±`bound_ns`.
    pub fn random(rng: &mut impl Rng, bound_ns: i64) -> ClockShape {
        let b = bound_ns.max(1);
        match rng.gen_range(0..5) {
            0 => ClockShape::Constant { offset_ns: rng.gen_range(-b..=b) },
            1 => ClockShape::Drift { start_ns: rng.gen_range(-b..=b) / 2, ppm: rng.gen_range(-200..=200) },
            2 => ClockShape::Periodic { amplitude_ns: rng.gen_range(0..=b), period_ms: rng.gen_range(1_000..60_000) },
            3 => {
                let mut t = 0;
                let steps = (0..rng.gen_range(1..6))
                    .map(|_| {
                        t += rng.gen_range(500..20_000);
                        (t, rng.gen_range(-b..=b))
                    })
                    .collect();
                ClockShape::Steps { steps }
            }
            _ => ClockShape::Noise { amplitude_ns: rng.gen_range(0..=b), bucket_ms: rng.gen_range(10..1_000), seed: rng.gen() },
        }
    }

    /// The unclamped offset at `elapsed` simulated time.
    fn raw_offset(&self, elapsed: Duration) -> i64 {
        let ms = elapsed.as_millis() as u64;
        match self {
            ClockShape::Constant { offset_ns } => *offset_ns,
            ClockShape::Drift { start_ns, ppm } => start_ns.saturating_add((elapsed.as_nanos() as i64 / 1_000_000).saturating_mul(*ppm)),
            ClockShape::Periodic { amplitude_ns, period_ms } => {
                let p = (*period_ms).max(1);
                let phase = (ms % p) as i64;
                let half = (p / 2).max(1) as i64;
                let tri = if phase < half { phase } else { 2 * half - phase };
                amplitude_ns.saturating_mul(2 * tri - half) / half
            }
            ClockShape::Steps { steps } => steps.iter().take_while(|(at, _)| *at <= ms).last().map(|(_, o)| *o).unwrap_or(0),
            ClockShape::Noise { amplitude_ns, bucket_ms, seed } => {
                let bucket = ms / (*bucket_ms).max(1);
                let mut rng = crate::seed_tree::SeedTree::new(*seed).indexed("bucket", bucket);
                let a = (*amplitude_ns).max(0);
                rng.gen_range(-a..=a)
            }
        }
    }
}

/// One node's physical clock: the global simulated clock plus a bounded, shaped offset.
#[derive(Clone, Debug)]
pub struct PhysicalClock {
    shape: Arc<Mutex<ClockShape>>,
    bound_ns: i64,
    trace: crate::trace::Trace,
}

impl PhysicalClock {
    /// A clock following `shape`, clamped to ±`max_offset`/2.
    pub fn new(shape: ClockShape, max_offset: Duration, trace: crate::trace::Trace) -> Self {
        PhysicalClock { shape: Arc::new(Mutex::new(shape)), bound_ns: (max_offset.as_nanos() / 2) as i64, trace }
    }

    /// The offset from true (simulated) time right now, clamped.
    pub fn offset_ns(&self) -> i64 {
        let raw = self.shape.lock().expect("clock lock").raw_offset(self.trace.elapsed());
        raw.clamp(-self.bound_ns, self.bound_ns)
    }

    /// This node's reading of wall time, in nanoseconds since the Unix epoch.
    pub fn now_nanos(&self) -> u64 {
        let truth = BASE_WALL_NANOS + self.trace.elapsed().as_nanos() as u64;
        (truth as i64 + self.offset_ns()) as u64
    }

    /// Replaces the shape (a skew or jump fault). Offsets stay clamped.
    pub fn set_shape(&self, shape: ClockShape) {
        *self.shape.lock().expect("clock lock") = shape;
    }

    /// The current shape.
    pub fn shape(&self) -> ClockShape {
        self.shape.lock().expect("clock lock").clone()
    }
}

/// A hybrid-logical clock over a [`PhysicalClock`]: never goes backwards, and moves past any
/// timestamp it receives, so causally later events get later timestamps across nodes.
#[derive(Clone, Debug)]
pub struct Hlc {
    physical: PhysicalClock,
    last: Arc<Mutex<Timestamp>>,
}

impl Hlc {
    /// A clock starting at the physical reading.
    pub fn new(physical: PhysicalClock) -> Self {
        Hlc { physical, last: Arc::new(Mutex::new(Timestamp::ZERO)) }
    }

    /// A fresh timestamp, greater than every one this clock returned or received before.
    pub fn now(&self) -> Timestamp {
        let phys = self.physical.now_nanos();
        let mut last = self.last.lock().expect("hlc lock");
        *last = if phys > last.wall { Timestamp::from_nanos(phys) } else { last.next() };
        *last
    }

    /// Advances the clock to at least `remote` (a timestamp carried by a message, or a push from
    /// a leaseholder's timestamp cache), so later timestamps from this clock are above it.
    pub fn update(&self, remote: Timestamp) {
        let mut last = self.last.lock().expect("hlc lock");
        if remote > *last {
            *last = remote;
        }
    }

    /// The physical clock underneath.
    pub fn physical(&self) -> &PhysicalClock {
        &self.physical
    }
}
