//! The client side of a backup job, shared by the scenarios that run one: what is backed up
//! ([`Kind`]), how the job ended as its client saw it ([`JobEnd`]), and the client that runs a
//! BACKUP and follows its job through SHOW JOBS on any node whatever happens to its gateway.

use crate::workload::{quote_ident, GuestNames};
use model::Datum;
use sim::SimKv;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What is backed up: the seed picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Cluster,
    Database,
    Tables,
}

impl Kind {
    /// The statement's targets followed by a space (nothing for the cluster): the bank's and the
    /// guest database's, so that names that work only quoted pass through every target form
    /// (`DATABASE bank, "Guest Book"`; `bank.customers, ..., "o'brien"."日本語"`).
    pub(crate) fn targets(self, guest: &GuestNames) -> String {
        match self {
            Kind::Cluster => String::new(),
            Kind::Database => format!("DATABASE bank, {} ", quote_ident(&guest.database)),
            Kind::Tables => format!("bank.customers, bank.accounts, bank.big_accounts, {} ", guest.sql_table()),
        }
    }
}

/// How the backup job ended, as its client saw it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JobEnd {
    Succeeded,
    Failed(String),
    /// CANCEL JOB took effect.
    Canceled,
}

/// True for a statement error that is a verdict, not a reason to retry: the planner refused the
/// backup (a GC threshold, a chain that does not line up, another backup at the destination)
/// and will refuse it again.
fn is_refusal(e: &str) -> bool {
    if is_transient_storage(e) {
        return false;
    }
    [
        "GC threshold",
        "invalid previous backups",
        "listed out of order",
        "does not contain table",
        "no longer among the targets",
        "new full backup is needed",
        "belongs to cluster",
        "is not after the end time",
    ]
    .iter()
    .any(|p| e.contains(p))
        || is_conflict(e)
        || is_damage(e)
}

/// True for a storage error that outlasted the backup code's retries (a storage outage): no
/// verdict on the backup, whatever path it names. Matching on the path misread one: a listing
/// of a destination's `BACKUP-LOCK-` files that failed through an outage read as another
/// backup's lock, and the client gave up a BACKUP it should have re-issued (swarm seed 12559,
/// found by `sweep --first 10000 --seeds 4000`).
pub(crate) fn is_transient_storage(e: &str) -> bool {
    e.contains(crate::transient::STORAGE_TRANSIENT)
}

/// True for an error that names a backup file storage damaged: refused now, refused again.
pub(crate) fn is_damage(e: &str) -> bool {
    // "file is damaged": an encrypted file whose chunk fails its authentication check (the
    // cipher's word for a checksum mismatch). Missing from this list, a client re-issued a
    // BACKUP refused for a rotted encrypted manifest until the run's liveness bound (swarm seeds
    // 2425 and 4414, once the guest database rode every backup).
    ["checksum mismatch", "truncated (", "bad magic", "undecodable payload", "bytes beyond the length", "file is damaged"].iter().any(|p| e.contains(p))
}

/// True for the refusal of a backup because another backup holds or held its destination (a
/// manifest already there, another job's lock, targets that do not match the backup there).
pub(crate) fn is_conflict(e: &str) -> bool {
    if is_transient_storage(e) {
        return false;
    }
    // A backup at the destination that this one cannot build on is a conflict too: one of
    // other targets (refused as an incremental of it), or one newer than this one's time.
    [
        "already contains",
        "another backup",
        "another incremental backup",
        "BACKUP-LOCK",
        "cannot append",
        "do not match",
        "no longer among the targets",
        "does not contain table",
        "is not after the end time",
    ]
    .iter()
    .any(|p| e.contains(p))
}

/// The newest BACKUP job's row in SHOW JOBS that is not among `known` and, when `description`
/// is given, was recorded for that statement: (id, status, error). Two clients backing up at
/// once each follow their own job.
fn backup_job(rows: &[Vec<Datum>], known: &BTreeSet<i64>, description: Option<&str>) -> Option<(i64, String, String)> {
    let ours = |r: &Vec<Datum>| description.is_none_or(|d| matches!(r.get(2), Some(Datum::String(t)) if t == d));
    rows.iter()
        .rev()
        .find(|r| matches!(r.get(1), Some(Datum::String(t)) if t == "BACKUP") && !matches!(r.first(), Some(Datum::Int(i)) if known.contains(i)) && ours(r))
        .map(|r| {
            let id = match r.first() {
                Some(Datum::Int(i)) => *i,
                _ => 0,
            };
            let text = |i: usize| match r.get(i) {
                Some(Datum::String(s)) => s.clone(),
                _ => String::new(),
            };
            (id, text(5), text(12))
        })
}

/// Runs the BACKUP statement on `gateway` and follows the job until it ends, whatever happens to
/// the gateway: if the statement's connection fails or the job is paused, it watches SHOW JOBS
/// through any reachable node until the job succeeds, fails or is canceled. A paused job is
/// resumed once `calm` is set (the liveness phase: the operator lets jobs finish).
pub(crate) async fn run_and_follow(kv: &SimKv, gateway: model::NodeId, nodes: u32, sql: &str, calm: &AtomicBool) -> JobEnd {
    // The jobs that exist before this statement: following must never mistake one of them
    // (an earlier backup of a chain) for this statement's job.
    let mut known: BTreeSet<i64> = BTreeSet::new();
    for n in (0..nodes * 3).map(|i| (gateway + i - 1) % nodes + 1) {
        if let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(5)).await {
            known = rows
                .iter()
                .filter_map(|r| match r.first() {
                    Some(Datum::Int(i)) => Some(*i),
                    _ => None,
                })
                .collect();
            break;
        }
    }
    // The job's description is the statement, redacted: what tells this statement's job apart
    // from another client's.
    let description = backup::statement::parse(sql).ok().map(|s| s.redacted());
    let description = description.as_deref();
    // A gateway that dies never answers (there is no connection to reset): stop waiting after
    // a while and follow the job through SHOW JOBS instead.
    match kv.bulk(gateway, sql, "root", "defaultdb", Duration::from_secs(20)).await {
        Ok(_) => return JobEnd::Succeeded,
        Err(e) if is_refusal(&e) => return JobEnd::Failed(e),
        Err(_) => {}
    }
    let mut n = gateway;
    let mut without_job = 0;
    loop {
        madsim::time::sleep(Duration::from_secs(1)).await;
        n = n % nodes + 1;
        let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(30)).await else { continue };
        if backup_job(&rows, &known, description).is_none() {
            // The gateway died before it recorded the job: nothing ran, so run the statement
            // again elsewhere, as a client whose connection broke would.
            without_job += 1;
            if without_job >= 10 {
                without_job = 0;
                match kv.bulk(n, sql, "root", "defaultdb", Duration::from_secs(20)).await {
                    Ok(_) => return JobEnd::Succeeded,
                    Err(e) if is_refusal(&e) => return JobEnd::Failed(e),
                    Err(_) => {}
                }
            }
            continue;
        }
        match backup_job(&rows, &known, description) {
            Some((_, status, _)) if status == "succeeded" => return JobEnd::Succeeded,
            Some((_, status, _)) if status == "canceled" => return JobEnd::Canceled,
            Some((_, status, error)) if status == "failed" => return JobEnd::Failed(format!("{status}: {error}")),
            Some((id, status, _)) if status == "paused" && calm.load(Ordering::Relaxed) => {
                let _ = kv.bulk(n, &format!("RESUME JOB {id}"), "root", "defaultdb", Duration::from_secs(30)).await;
            }
            _ => {}
        }
    }
}
