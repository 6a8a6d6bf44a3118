//! The restore checks shared by the scenarios that back up: a RESTORE (and SHOW BACKUP) into a
//! fresh simulated cluster on the same storage, what it published compared with the oracle, and
//! the refusals a damaged backup must get, naming the file.

use crate::check::{self, Observation};
use crate::cluster_state::ClusterState;
use crate::job_client::Kind;
use crate::oracle::Oracle;
use crate::property::Property;
use crate::run::{drive, Failure, RunOptions};
use crate::workload::{quote_ident, GuestNames, CLUSTER_GRANTEES, VIEW_BIG_ACCOUNTS};
use backup::format::manifest::MANIFEST_NAME;
use model::sql::Session;
use model::Kv;
use sim::faults::ScheduledFault;
use sim::storage::SimStorage;
use sim::{Trace, World};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Restores of this run's backup into fresh clusters that share its storage.
pub(crate) struct RestoreProbe<'a> {
    pub(crate) opts: &'a RunOptions,
    pub(crate) trace: &'a Trace,
    pub(crate) storage: &'a SimStorage,
    pub(crate) kind: Kind,
    /// The guest database's names: a table restore needs its database, as the bank's.
    pub(crate) guest: &'a GuestNames,
    pub(crate) restore_sql: &'a str,
    pub(crate) tables: &'a [String],
    /// Added to every network number the probe's clusters take: a second round of restores in
    /// one run (a backup taken again) must not reuse the first round's addresses, which madsim
    /// keeps after their clusters are gone.
    pub(crate) network_offset: u8,
    /// Faults aimed at the RESTORE of [`RestoreProbe::attempt_under_faults`], timed from its
    /// statement ([`sim::faults::Swarm::aimed_at_restore`]); the other attempts run none.
    pub(crate) aimed: &'a [ScheduledFault],
}

/// A statement's answer: its columns and rows.
pub(crate) type Answer = (Vec<String>, Vec<Vec<model::Datum>>);

/// What a RESTORE (and optional SHOW BACKUP) in a fresh cluster did: the statements' answers,
/// what reading every relation afterwards found, and (for a cluster backup) the cluster-wide
/// state read from the restored catalog.
pub(crate) struct Attempt {
    pub(crate) restored: Result<Answer, String>,
    pub(crate) shown: Option<Result<Answer, String>>,
    pub(crate) observations: Vec<Observation>,
    pub(crate) cluster: Option<Result<ClusterState, String>>,
    /// The restore ended canceled (a fault aimed at it asked so).
    pub(crate) canceled: bool,
    /// What a restore that did not finish left behind (offline descriptors, data), if anything.
    pub(crate) left_behind: Option<String>,
}

/// Runs `task` like [`drive`], injecting `aimed` at their times from now.
async fn drive_with<T>(world: &mut World, task: madsim::task::JoinHandle<T>, aimed: &[ScheduledFault]) -> T {
    let start = madsim::time::Instant::now();
    let mut next = 0;
    while !task.is_finished() {
        while next < aimed.len() && start.elapsed() >= aimed[next].at {
            sim::faults::inject(world, &aimed[next].fault);
            next += 1;
        }
        madsim::time::sleep(Duration::from_millis(50)).await;
        world.tick();
    }
    drive(world, task).await
}

/// How long a restore under faults may take to end once its statement returned.
const FOLLOW_FOR: Duration = Duration::from_secs(600);

/// Follows the newest RESTORE job (through any node that answers) until it ends: a success is
/// its result row, as the statement would have returned it; a cancel is reported as such, with
/// what it left behind checked ([`left_behind`]); any other end is the statement's error. A job
/// still paused at `calm_at` (every fault in) is resumed.
async fn follow_restore(
    kv: &sim::kv_client::SimKv,
    shared: &dyn Kv,
    nodes: Vec<model::NodeId>,
    statement: Result<Answer, String>,
    calm_at: madsim::time::Instant,
) -> (Result<Answer, String>, bool, Option<String>) {
    let deadline = madsim::time::Instant::now() + FOLLOW_FOR;
    while madsim::time::Instant::now() < deadline {
        for &n in &nodes {
            let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(5)).await else { continue };
            let Some(id) = sim::faults::jobs::newest(&rows, "RESTORE") else {
                // No job: the statement failed before it recorded one.
                return (statement, false, None);
            };
            let Ok(Some(job)) = backup::jobs::load::<backup::restore::RestoreDetails>(shared, id).await else { break };
            use backup::jobs::JobStatus;
            match job.status {
                JobStatus::Succeeded => {
                    let r = backup::exec::result_row(id, "succeeded", 1.0, job.totals);
                    return (Ok((r.columns, r.rows)), false, None);
                }
                JobStatus::Canceled | JobStatus::Failed => {
                    let left = left_behind(shared, &job.payload).await;
                    let canceled = job.status == JobStatus::Canceled;
                    let end = format!("job {id} ended {}: {}", job.status.as_str(), job.error.unwrap_or_default());
                    return (if canceled { Err(end) } else { statement.and(Err(end)) }, canceled, left);
                }
                JobStatus::Paused if madsim::time::Instant::now() >= calm_at => {
                    let _ = kv.bulk(n, &format!("RESUME JOB {id}"), "root", "defaultdb", Duration::from_secs(5)).await;
                    break;
                }
                _ => break,
            }
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
    }
    (Err(format!("the RESTORE did not end within {FOLLOW_FOR:?} of its statement ({statement:?})")), false, None)
}

/// What a RESTORE that did not finish left behind: a descriptor of it (offline or not), or a
/// key in a restored relation's span. `None` when it left no trace.
async fn left_behind(kv: &dyn Kv, d: &backup::restore::RestoreDetails) -> Option<String> {
    let now = kv.now();
    let catalog = match model::Catalog::read(kv, now).await {
        Ok(c) => c,
        Err(e) => return Some(format!("the catalog after a canceled RESTORE could not be read: {e}")),
    };
    for desc in &d.publication.descriptors {
        if catalog.descriptor(desc.id()).is_some() {
            return Some(format!("a RESTORE that ended without finishing left descriptor {} behind", desc.id()));
        }
        if let Ok(rows) = kv.scan(&model::encoding::table_span(desc.id()), now).await {
            if !rows.is_empty() {
                return Some(format!("a RESTORE that ended without finishing left {} keys of relation {} behind", rows.len(), desc.id()));
            }
        }
    }
    None
}

impl RestoreProbe<'_> {
    /// [`RestoreProbe::attempt`] with the faults aimed at the restore ([`RestoreProbe::aimed`]):
    /// its coordinator killed, PAUSE / RESUME / CANCEL JOB. A statement that did not return the
    /// restore's end (its gateway died, it was paused) is followed to the job's end. A restore
    /// canceled must have published nothing and left no descriptor or data behind; it is then
    /// run again without faults, and that run is what the caller judges.
    pub(crate) async fn attempt_under_faults(&self, network: u8, show: Option<&str>) -> Result<Attempt, Failure> {
        let fail = |message: String| Failure { property: Property::RestoreSucceeds, message };
        let attempt = self.run(network, show, self.aimed).await;
        self.storage.disarm_restore_kills();
        let attempt = attempt.map_err(fail)?;
        if let Some(left) = &attempt.left_behind {
            return Err(Failure { property: Property::RestoreAllOrNothing, message: left.clone() });
        }
        if !attempt.canceled {
            return Ok(attempt);
        }
        let visible: Vec<&str> = attempt.observations.iter().filter(|o| o.result.is_ok()).map(|o| o.table.as_str()).collect();
        if !visible.is_empty() {
            return Err(Failure { property: Property::RestoreAllOrNothing, message: format!("a canceled RESTORE published {visible:?}") });
        }
        sim::trace_event!(self.trace, "runner", sim::event::RESTORE_CANCELED_CLEANLY, "{}", self.tables.len());
        self.run(network + 100, show, &[]).await.map_err(fail)
    }

    /// Runs the RESTORE in a fresh cluster on `network` (and `show`, a SHOW BACKUP, first), then
    /// reads every relation of the backup there.
    pub(crate) async fn attempt(&self, network: u8, show: Option<&str>) -> Result<Attempt, String> {
        self.run(network, show, &[]).await
    }

    async fn run(&self, network: u8, show: Option<&str>, aimed: &[ScheduledFault]) -> Result<Attempt, String> {
        let network = network + self.network_offset;
        let mut world =
            World::start_with(self.opts.world_config(network), self.opts.seed ^ 0x7a_46e7 ^ network as u64, self.trace.clone(), self.storage.clone());
        let client = world.add_client("restorer");
        let (follow, nodes) = (!aimed.is_empty(), world.node_ids());
        // Once every fault aimed at the restore is in, a restore left paused (a PAUSE that
        // arrived after its RESUME) is resumed, as the liveness phase of a run does.
        let calm_after = aimed.iter().map(|f| f.at).max().unwrap_or_default() + Duration::from_secs(2);
        let (kind, restore_sql, tables, show) = (self.kind, self.restore_sql.to_string(), self.tables.to_vec(), show.map(str::to_string));
        let guest_db = quote_ident(&self.guest.database);
        let task = client.spawn(move |kv| async move {
            let shared: Arc<dyn Kv> = Arc::new(kv.clone());
            model::catalog::bootstrap(&*shared).await.map_err(|e| format!("bootstrap of the restore target: {e}"))?;
            if kind == Kind::Tables {
                let mut s = Session::root(shared.clone());
                for db in ["bank", guest_db.as_str()] {
                    s.execute(&format!("CREATE DATABASE {db}")).await.map_err(|e| format!("CREATE DATABASE {db}: {e}"))?;
                }
            }
            let shown = match show {
                Some(sql) => Some(kv.bulk(1, &sql, "root", "defaultdb", Duration::from_secs(300)).await),
                None => None,
            };
            // A gateway that dies never answers: under faults aimed at the restore, stop waiting
            // after a while and follow the job instead.
            let wait = if follow { Duration::from_secs(20) } else { Duration::from_secs(900) };
            let started = madsim::time::Instant::now();
            let restored = kv.bulk(1, &restore_sql, "root", "defaultdb", wait).await;
            // Under faults aimed at it, a statement that ended without the job's end (its gateway
            // died; it was paused) is followed to the end the job records.
            let (restored, canceled, left_behind) =
                if follow && restored.is_err() { follow_restore(&kv, &*shared, nodes, restored, started + calm_after).await } else { (restored, false, None) };
            let now = kv.now();
            let mut observations = Vec::new();
            for t in &tables {
                observations.push(check::observe_restored(&*shared, t, now).await);
            }
            // Only a cluster restore that succeeded is held to the cluster-wide state.
            let cluster = if kind == Kind::Cluster && restored.is_ok() {
                let grantees: BTreeSet<String> = CLUSTER_GRANTEES.iter().map(|g| g.to_string()).collect();
                Some(
                    model::Catalog::read(&*shared, now)
                        .await
                        .map(|c| ClusterState::read(&c, &grantees))
                        .map_err(|e| format!("reading the restored catalog: {e}")),
                )
            } else {
                None
            };
            Ok::<_, String>(Attempt { restored, shown, observations, cluster, canceled, left_behind })
        });
        drive_with(&mut world, task, aimed).await
    }

    /// A damaged manifest: RESTORE and `show_sql` (SHOW BACKUP) must both refuse it naming it;
    /// the refusal goes into the trace.
    pub(crate) async fn manifest_refused(&self, show_sql: &str, cause: &str) -> Result<(), Failure> {
        let refusal = self.refused(1, &[MANIFEST_NAME.to_string()], Some(show_sql), cause).await?;
        sim::trace_event!(self.trace, "runner", sim::event::DAMAGE_DETECTED, "{MANIFEST_NAME} ({cause}): {refusal}");
        Ok(())
    }

    /// A RESTORE that must be refused — with an error naming one of `names` (any error when
    /// empty) — publishing nothing; with `show`, SHOW BACKUP must be refused the same way.
    /// Returns the RESTORE's error.
    pub(crate) async fn refused(&self, network: u8, names: &[String], show: Option<&str>, why: &str) -> Result<String, Failure> {
        let fail = |message: String| Failure { property: Property::DamageDetected, message };
        let Attempt { restored, shown, observations, .. } = self.attempt(network, show).await.map_err(fail)?;
        let names_one = |e: &str| names.is_empty() || names.iter().any(|n| names_file(e, n));
        let error = match restored {
            Err(e) if names_one(&e) => e,
            other => return Err(fail(format!("after a {why} of {names:?}, RESTORE gave {other:?} instead of an error naming the file"))),
        };
        if let Some(shown) = shown {
            match shown {
                Err(e) if names_one(&e) => {}
                other => return Err(fail(format!("after a {why} of {names:?}, SHOW BACKUP gave {other:?} instead of an error naming the file"))),
            }
        }
        let visible: Vec<&str> = observations.iter().filter(|o| o.result.is_ok()).map(|o| o.table.as_str()).collect();
        if !visible.is_empty() {
            return Err(fail(format!("a refused RESTORE ({why}) published {visible:?}")));
        }
        Ok(error)
    }
}

/// True when error text `e` names the backup file at `path` (relative to the destination): its
/// last path segment appears as a whole word (`BACKUP` is not named by `BACKUP-CHECKPOINT`).
pub(crate) fn names_file(e: &str, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let part = |c: Option<char>| matches!(c, Some(c) if c.is_alphanumeric() || c == '-' || c == '_');
    e.match_indices(name).any(|(i, _)| !part(e[i + name.len()..].chars().next()) && !part(e[..i].chars().next_back()))
}

/// Compares every observed relation of a restored cluster with the oracle at `ts`; returns
/// (rows, relations) matched. `what` says what was restored (for the message).
pub(crate) fn compare_with_oracle(observations: &[Observation], oracle: &Oracle, ts: model::Timestamp, what: &str) -> Result<(usize, usize), Failure> {
    let mut rows = 0;
    for ob in observations {
        let want = check::expected(oracle, &ob.table, ts);
        match (&ob.result, want) {
            (Ok((columns, got)), Some(want)) => {
                if let Some(d) = crate::oracle::diff(&ob.table, ts, &want, columns, got) {
                    return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("after restoring {what} {ts}: {d}") });
                }
                if let Some(schema) = ob.schema.as_ref().filter(|_| ob.table != VIEW_BIG_ACCOUNTS) {
                    let wanted = check::Schema { indexes: want.indexes.clone(), zone_gc_ttl_seconds: want.zone_gc_ttl_seconds };
                    if *schema != wanted {
                        return Err(Failure {
                            property: Property::RestoreMatchesOracle,
                            message: format!(
                                "after restoring {what} {ts}: {} has secondary indexes {:?} and zone GC TTL {:?}, but the oracle says {:?} and {:?} then",
                                ob.table, schema.indexes, schema.zone_gc_ttl_seconds, wanted.indexes, wanted.zone_gc_ttl_seconds
                            ),
                        });
                    }
                }
                rows += got.len();
            }
            (Err(model::sql::SqlError::UndefinedRelation(_) | model::sql::SqlError::UndefinedDatabase(_)), None) => {}
            (Ok(_), None) => {
                return Err(Failure {
                    property: Property::RestoreMatchesOracle,
                    message: format!("{} was restored but did not exist at {ts} ({what})", ob.table),
                })
            }
            (Err(e), _) => return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("reading restored {}: {e}", ob.table) }),
        }
    }
    Ok((rows, observations.len()))
}

/// A cluster restore's cluster-wide state (users, roles, memberships, database and default
/// zones, grants) against what the workload set up, which no backup taken after its setup may
/// lose. `None` (not a cluster restore) passes, and so does a restore to a time before the
/// workload had set it all up (a revision-history restore may go back that far).
pub(crate) fn compare_cluster_state(cluster: &Option<Result<ClusterState, String>>, oracle: &Oracle, ts: model::Timestamp, what: &str) -> Result<(), Failure> {
    let fail = |message: String| Failure { property: Property::RestoreMatchesOracle, message };
    if oracle.cluster_state_since().is_none_or(|since| ts < since) {
        return Ok(());
    }
    match cluster {
        None => Ok(()),
        Some(Err(e)) => Err(fail(format!("after restoring {what} {ts}: {e}"))),
        Some(Ok(got)) => {
            // Users created after the setup are there exactly from their commit on: a restore
            // to a time before it must not have them, one after must (with their role). Where
            // the commit time is unknown (an ambiguous commit), either is right.
            let mut want = crate::workload::cluster_state();
            let mut got = got.clone();
            for (lo, hi, user) in oracle.late_users() {
                let membership = ("analysts".to_string(), user.clone(), false);
                if ts >= *hi {
                    want.users.insert(user.clone(), false);
                    want.memberships.insert(membership);
                } else if ts >= *lo {
                    got.users.remove(user);
                    got.memberships.remove(&membership);
                }
            }
            match got.diff(&want) {
                None => Ok(()),
                Some(d) => Err(fail(format!("after restoring {what} {ts}, the restored cluster has {d}"))),
            }
        }
    }
}

/// Where a bit was flipped: the byte's offset and the file's length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flip {
    pub at: usize,
    pub len: usize,
}

/// Flips bit `bit` (modulo the object's size) of the stored object `key`: bit rot after the
/// fact, which a RESTORE must refuse naming the file (and, where it says where, saying truly).
pub(crate) fn flip_bit(storage: &SimStorage, key: &str, bit: u64) -> Option<Flip> {
    let mut flip = None;
    storage.corrupt(key, |bytes| {
        if !bytes.is_empty() {
            let at = (bit / 8) as usize % bytes.len();
            bytes[at] ^= 1 << (bit % 8);
            flip = Some(Flip { at, len: bytes.len() });
        }
    });
    flip
}

/// CockroachDB's chunked encryption format as REFERENCE.md gives it, written out here rather
/// than taken from the backup's constants: a 20-byte header (the 7-byte preamble `encrypt`, a
/// version byte, a 12-byte IV), then chunks of 64 KiB of ciphertext and a 16-byte tag each, the
/// last always shorter.
const ENCRYPTED_HEADER: usize = 7 + 1 + 12;
/// One full chunk as stored: 64 KiB of ciphertext and its tag.
const ENCRYPTED_CHUNK: usize = (64 << 10) + 16;

/// What is untrue in `error`, a refusal after the flip `flip`, where it says where the damage
/// is: an encrypted file's refusal names the chunk that failed, its byte range and how many
/// chunks the file has. The chunk must be the one holding the flipped byte (the first for a
/// flip in the header's IV, which every chunk's nonce comes from), its range must hold that
/// byte, and the count must be what the file's length makes. An operator who is told the wrong
/// place looks at the wrong bytes, or concludes a cut where there was a flip.
pub(crate) fn damage_misplaced(error: &str, flip: Flip) -> Option<String> {
    let re = regex::Regex::new(r"chunk (\d+) of (\d+) \(bytes (\d+) to (\d+)\)").expect("a valid pattern");
    let c = re.captures(error)?;
    let n = |i: usize| c[i].parse::<usize>().unwrap_or(usize::MAX);
    let (chunk, chunks, start, end) = (n(1), n(2), n(3), n(4));
    let want_chunks = flip.len.saturating_sub(ENCRYPTED_HEADER) / ENCRYPTED_CHUNK + 1;
    let want_chunk = if flip.at < ENCRYPTED_HEADER { 1 } else { (flip.at - ENCRYPTED_HEADER) / ENCRYPTED_CHUNK + 1 };
    let want_start = ENCRYPTED_HEADER + (want_chunk - 1) * ENCRYPTED_CHUNK;
    let want_end = (want_start + ENCRYPTED_CHUNK).min(flip.len);
    if (chunk, chunks, start, end) != (want_chunk, want_chunks, want_start, want_end) {
        return Some(format!(
            "a bit flipped at byte {} of a {}-byte encrypted file was refused as damage in chunk {chunk} of {chunks} (bytes {start} to {end}); \
             the file's length makes {want_chunks} chunks and the flip lies in chunk {want_chunk} (bytes {want_start} to {want_end})",
            flip.at, flip.len
        ));
    }
    None
}

/// The key of an encrypted backup: what `passphrase` and the ENCRYPTION-INFO stored at
/// `info_key` give (`None` without a passphrase). Derived once per check: PBKDF2 is slow on
/// purpose.
pub(crate) fn backup_key(storage: &SimStorage, info_key: &str, passphrase: Option<&str>) -> Result<Option<backup::crypto::EncryptionKey>, String> {
    use backup::format::manifest::ENCRYPTION_INFO_NAME;
    let Some(passphrase) = passphrase else { return Ok(None) };
    let info = storage.get(info_key).ok_or_else(|| format!("the backup is encrypted but the destination holds no {ENCRYPTION_INFO_NAME}"))?;
    let info = backup::crypto::EncryptionInfo::decode(ENCRYPTION_INFO_NAME, &info).map_err(|e| e.to_string())?;
    let key = info
        .key(ENCRYPTION_INFO_NAME, &backup::statement::Secret::new(passphrase))
        .map_err(|e| format!("the seed's passphrase does not open the backup: {e}"))?;
    Ok(Some(key))
}

/// The plaintext of a stored backup file (`path` names it in errors): `bytes` as they are
/// without a key. What the scenarios read manifests and data files through.
pub(crate) fn plaintext(key: Option<&backup::crypto::EncryptionKey>, path: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    match key {
        None => Ok(bytes.to_vec()),
        Some(key) => backup::crypto::open(path, key, bytes).map_err(|e| format!("{path} does not decrypt with the backup's key: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(chunk: usize, chunks: usize, start: usize, end: usize) -> String {
        format!("data/1.sst: file is damaged: chunk {chunk} of {chunks} (bytes {start} to {end}) fails its authentication check")
    }

    #[test]
    fn a_damage_refusal_must_place_the_flip_truly() {
        // A one-chunk file of 500 bytes: any flip from the IV on is chunk 1, bytes 20 to 500.
        for at in [8, 19, 20, 499] {
            assert_eq!(damage_misplaced(&refusal(1, 1, 20, 500), Flip { at, len: 500 }), None, "flip at {at}");
        }
        assert!(damage_misplaced(&refusal(1, 0, 20, 500), Flip { at: 30, len: 500 }).is_some(), "a wrong chunk count");
        assert!(damage_misplaced(&refusal(1, 1, 0, 500), Flip { at: 30, len: 500 }).is_some(), "a wrong start");
        // Three chunks: two full ones (65,552 bytes stored each) and a short last one.
        let len = 20 + 2 * 65_552 + 100;
        assert_eq!(damage_misplaced(&refusal(2, 3, 65_572, 131_124), Flip { at: 70_000, len }), None);
        assert_eq!(damage_misplaced(&refusal(3, 3, 131_124, len), Flip { at: len - 1, len }), None);
        assert!(damage_misplaced(&refusal(1, 3, 20, 65_572), Flip { at: 70_000, len }).is_some(), "the wrong chunk");
        // A refusal that does not say where (an envelope's checksum) is not judged here.
        assert_eq!(damage_misplaced("BACKUP_MANIFEST: checksum mismatch (expected 0x1, found 0x2)", Flip { at: 3, len: 9 }), None);
    }
}
