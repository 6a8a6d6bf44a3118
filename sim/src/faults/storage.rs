//! Storage faults that destroy data, and coordinator kills timed by the job's writes.
//!
//! Fault model. The storage service can tear a write (a prefix lands, success is reported), lose
//! one (success is reported, nothing lands) and rot a stored object (one bit flips at rest). A
//! backup cannot prevent these; what it must do is repair what it verifies (the manifest is read
//! back after writing) and never let damage through silently: RESTORE and SHOW BACKUP must fail
//! naming the damaged file, publishing nothing.
//!
//! The job's coordinator can die at any point of its job; three points matter most and are
//! aimed at directly, recognised by the write the coordinator is making: while exporting (a
//! data file write), between its last checkpoint and the manifest (the manifest write, before
//! anything lands), and while writing the manifest (a torn prefix of it lands). The node dies
//! with the write in flight and restarts later; another node must adopt the job, resume from
//! the checkpoint and finish, and a torn manifest must never be taken for a finished backup.

use crate::storage::{JobPhase, Trap};
use crate::world::World;
use std::time::Duration;

/// Arms a trap that kills the node making the write of `phase` after the next `skip` such
/// writes; the world crashes it at its next tick and restarts it `down` later.
pub fn kill_coordinator(world: &mut World, phase: JobPhase, skip: u32, down: Duration) -> bool {
    world.storage.arm(Trap::KillWriter(phase, skip));
    world.set_doomed_downtime(down);
    true
}

/// The whole storage service fails every operation for `length`.
pub fn outage(world: &mut World, length: Duration) -> bool {
    world.storage.outage(length);
    true
}

/// The next write lands torn and reports success.
pub fn torn_write(world: &mut World) -> bool {
    world.storage.arm(Trap::TornWrite);
    true
}

/// The next write reports success and never lands.
pub fn lost_write(world: &mut World) -> bool {
    world.storage.arm(Trap::LostWrite);
    true
}

/// Flips one bit of one stored object now.
pub fn bit_rot(world: &mut World, pick: u32, bit: u64) -> bool {
    world.storage.bit_rot(pick, bit).is_some()
}
