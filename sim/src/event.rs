//! The names of the trace's events (the word after the time and the actor on each line), as
//! constants: the simulator and the scenarios emit them only through these, and the probes and
//! the trace summary read them only through these, so a reader cannot name an event that
//! nothing emits. The backup code's own job events are [`backup::event`].

/// `append-failed`
pub const APPEND_FAILED: &str = "append-failed";
/// `append-rejected`
pub const APPEND_REJECTED: &str = "append-rejected";
/// `backup-ended`
pub const BACKUP_ENDED: &str = "backup-ended";
/// `backup-plan`
pub const BACKUP_PLAN: &str = "backup-plan";
/// `bit-rot`
pub const BIT_ROT: &str = "bit-rot";
/// `bit-rot-detected`
pub const BIT_ROT_DETECTED: &str = "bit-rot-detected";
/// `bulk`
pub const BULK: &str = "bulk";
/// `bulk-err`
pub const BULK_ERR: &str = "bulk-err";
/// `bulk-ok`
pub const BULK_OK: &str = "bulk-ok";
/// `call-failed`
pub const CALL_FAILED: &str = "call-failed";
/// `chain-layer`
pub const CHAIN_LAYER: &str = "chain-layer";
/// `chain-plan`
pub const CHAIN_PLAN: &str = "chain-plan";
/// `chain-taken`
pub const CHAIN_TAKEN: &str = "chain-taken";
/// `clock`
pub const CLOCK: &str = "clock";
/// `config`
pub const CONFIG: &str = "config";
/// `corrupt`
pub const CORRUPT: &str = "corrupt";
/// `crash`
pub const CRASH: &str = "crash";
/// `damage-detected`
pub const DAMAGE_DETECTED: &str = "damage-detected";
/// `damaged-chain-refused`
pub const DAMAGED_CHAIN_REFUSED: &str = "damaged-chain-refused";
/// `delete`
pub const DELETE: &str = "delete";
/// `denied`
pub const DENIED: &str = "denied";
/// `err`
pub const ERR: &str = "err";
/// `explicit-schedule`
pub const EXPLICIT_SCHEDULE: &str = "explicit-schedule";
/// `export-served`
pub const EXPORT_SERVED: &str = "export-served";
/// `faults`
pub const FAULTS: &str = "faults";
/// `gateway-crash`
pub const GATEWAY_CRASH: &str = "gateway-crash";
/// `gc`
pub const GC: &str = "gc";
/// `gc-past-released`
pub const GC_PAST_RELEASED: &str = "gc-past-released";
/// `gc-request`
pub const GC_REQUEST: &str = "gc-request";
/// `grant`
pub const GRANT: &str = "grant";
/// `heal`
pub const HEAL: &str = "heal";
/// `ingested`
pub const INGESTED: &str = "ingested";
/// `inject`
pub const INJECT: &str = "inject";
/// `job-control`
pub const JOB_CONTROL: &str = "job-control";
/// `knob`: one drawn setting of the run, `name=value` with its unit, at the top of the trace.
pub const KNOB: &str = "knob";
/// `lease-acquire-retry`
pub const LEASE_ACQUIRE_RETRY: &str = "lease-acquire-retry";
/// `lease-acquired`
pub const LEASE_ACQUIRED: &str = "lease-acquired";
/// `lease-expired`
pub const LEASE_EXPIRED: &str = "lease-expired";
/// `lease-transfer`
pub const LEASE_TRANSFER: &str = "lease-transfer";
/// `liveness-phase`
pub const LIVENESS_PHASE: &str = "liveness-phase";
/// `locality-file-placed`
pub const LOCALITY_FILE_PLACED: &str = "locality-file-placed";
/// `lose`
pub const LOSE: &str = "lose";
/// `mid-chain-restore`
pub const MID_CHAIN_RESTORE: &str = "mid-chain-restore";
/// `network`
pub const NETWORK: &str = "network";
/// `ok`
pub const OK: &str = "ok";
/// `outage`
pub const OUTAGE: &str = "outage";
/// `partition`
pub const PARTITION: &str = "partition";
/// `pause`
pub const PAUSE: &str = "pause";
/// `point-in-time-restored`
pub const POINT_IN_TIME_RESTORED: &str = "point-in-time-restored";
/// `restore-canceled-cleanly`: a RESTORE canceled by a fault aimed at it published nothing and
/// left nothing behind.
pub const RESTORE_CANCELED_CLEANLY: &str = "restore-canceled-cleanly";
/// `propose`
pub const PROPOSE: &str = "propose";
/// `protected-records`
pub const PROTECTED_RECORDS: &str = "protected-records";
/// `protection-released`
pub const PROTECTION_RELEASED: &str = "protection-released";
/// `range`
pub const RANGE: &str = "range";
/// `recv`
pub const RECV: &str = "recv";
/// `restart`
pub const RESTART: &str = "restart";
/// `resume`
pub const RESUME: &str = "resume";
/// `rival-backup`
pub const RIVAL_BACKUP: &str = "rival-backup";
/// `rival-ended`
pub const RIVAL_ENDED: &str = "rival-ended";
/// `schedule`
pub const SCHEDULE: &str = "schedule";
/// `schedule-chain`
pub const SCHEDULE_CHAIN: &str = "schedule-chain";
/// `schedule-created`
pub const SCHEDULE_CREATED: &str = "schedule-created";
/// `schedule-restored`
pub const SCHEDULE_RESTORED: &str = "schedule-restored";
/// `schedule-stall`
pub const SCHEDULE_STALL: &str = "schedule-stall";
/// `schedule-cancel`: the schedule scenario canceled a running scheduled backup.
pub const SCHEDULE_CANCEL: &str = "schedule-cancel";
/// `schedule-unprotected-refusal`: a schedule's run refused for a GC threshold before any
/// record could protect it (its first full backup, read as of a due time a GC fault passed).
pub const SCHEDULE_UNPROTECTED_REFUSAL: &str = "schedule-unprotected-refusal";
/// `send`
pub const SEND: &str = "send";
/// `split`
pub const SPLIT: &str = "split";
/// `snapshot-installed`: a node became a replica of a range from the leaseholder's snapshot.
pub const SNAPSHOT_INSTALLED: &str = "snapshot-installed";
/// `replica-added`: the leaseholder recorded a new replica after it installed its snapshot.
pub const REPLICA_ADDED: &str = "replica-added";
/// `rebalance`: a replica set to move from one node to another.
pub const REBALANCE: &str = "rebalance";
/// `replica-removed`: a replica taken out of a range's replica set (rebalancing, or a node
/// down too long).
pub const REPLICA_REMOVED: &str = "replica-removed";
/// `replica-dropped`: a removed replica's node forgot the range.
pub const REPLICA_DROPPED: &str = "replica-dropped";
/// `split-discarded`: a node applied a split after it had been taken out of the range split
/// off, and did not keep that half.
pub const SPLIT_DISCARDED: &str = "split-discarded";
/// `split-request`
pub const SPLIT_REQUEST: &str = "split-request";
/// `start`
pub const START: &str = "start";
/// `swarm`
pub const SWARM: &str = "swarm";
/// `time-jump`
pub const TIME_JUMP: &str = "time-jump";
/// `trap-armed`
pub const TRAP_ARMED: &str = "trap-armed";
/// `txn-abort`
pub const TXN_ABORT: &str = "txn-abort";
/// `txn-abort-abandoned`
pub const TXN_ABORT_ABANDONED: &str = "txn-abort-abandoned";
/// `txn-commit`
pub const TXN_COMMIT: &str = "txn-commit";
/// `verdict`
pub const VERDICT: &str = "verdict";
/// `write`
pub const WRITE: &str = "write";
/// `write-failed`
pub const WRITE_FAILED: &str = "write-failed";
/// `write-landed-reported-failed`
pub const WRITE_LANDED_REPORTED_FAILED: &str = "write-landed-reported-failed";
/// `write-lost`
pub const WRITE_LOST: &str = "write-lost";
/// `write-new-exists`
pub const WRITE_NEW_EXISTS: &str = "write-new-exists";
/// `write-torn`
pub const WRITE_TORN: &str = "write-torn";
/// `writer-doomed`
pub const WRITER_DOOMED: &str = "writer-doomed";
