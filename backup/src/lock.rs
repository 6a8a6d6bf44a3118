//! Exclusive use of a backup location: the lock file each BACKUP job writes where it works, and
//! the claim an automatic incremental makes on the backup it appends to.
//!
//! Two BACKUPs to one location (two sessions, two clusters, or a paused automatic incremental
//! and a newer one) used to both pass the "is the destination empty?" check and then overwrite
//! each other's manifest. As CockroachDB does since 22.1, each job now writes
//! `BACKUP-LOCK-<job id>` at its location when its coordinator starts (every run: the first one
//! and every adoption or RESUME), create-only, and then lists `BACKUP-LOCK-`:
//!
//! - only its own lock: it goes on;
//! - another job's lock whose job id is smaller (a lock that sorts first): that job wins, this
//!   one fails naming it;
//! - only locks of jobs with larger ids: those jobs will see this lock and give up (the rule
//!   above), or they saw none and went on. This job waits up to [`LOCK_WAIT`] for their locks
//!   to go away; if they do it goes on, if not it fails naming the first one. So when two jobs
//!   start together and each sees the other, exactly one (the smaller id) goes on, and a job
//!   never goes on while another that went on first still holds its lock.
//!
//! Listings may be stale (an eventually consistent object store, the simulator's stale-listing
//! fault) and both jobs may then see no other lock. The lock is the early, friendly refusal; the
//! guarantee that two jobs never both succeed is the create-only write of what they publish:
//! a claim written create-only just before the manifest: [`MANIFEST_CLAIM`] beside the
//! `BACKUP` manifest of a full backup (or of an incremental with its own destination), and for
//! an automatic incremental, whose manifest lands in its own date-named subdirectory,
//! [`append_claim_name`] at the chain's root, one per base backup. Of two jobs that reach their
//! manifests at one place, only the one whose claim lands publishes; the other fails, so a
//! finished backup is never overwritten and the chain at a location never forks. The claim is
//! also what lets a job replace a torn or damaged `BACKUP` — only its own, from an earlier run
//! that died mid-write — and never another job's manifest that storage damaged later. Claims
//! stay with the finished backup (a few hundred bytes each): while one is there no other job can
//! claim that path, so a job that raced past a stale listing fails at its claim and never
//! touches the manifest. A failed or canceled job removes its claim with the rest of what it
//! wrote, its own torn manifest first.
//!
//! A lock names its job, its cluster and its backup (ids only: no secret), and for an automatic
//! incremental the subdirectory it writes (its lock is at the chain's root, where every
//! incremental of the chain conflicts). A lock is removed when its job succeeds, fails or is
//! canceled; a paused job keeps it. A lock of a job of this cluster that has ended is a leftover
//! (its process died before removing it) and is ignored; any other lock blocks the location
//! until its job ends or the file is deleted, and every refusal says which job holds it, whether
//! that job exists in this cluster and its status, and which files to delete when it is safe.

use crate::env::Env;
use crate::error::BackupError;
use crate::format::checkpoint::Checkpoint;
use crate::format::manifest::CHECKPOINT_NAME;
use crate::jobs::{self, JobId, JobStatus};
use crate::retry::retrying;
use crate::storage::{join_path, ExternalStorage};
use model::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Lock files are `BACKUP-LOCK-<job id>` (CockroachDB's name).
pub const LOCK_PREFIX: &str = "BACKUP-LOCK-";

/// An automatic incremental's claim on its base: `BACKUP-APPENDED-<base end time>` at the
/// chain's root.
pub const APPEND_PREFIX: &str = "BACKUP-APPENDED-";

/// A job's claim on the `BACKUP` manifest path of its own destination, beside it.
pub const MANIFEST_CLAIM: &str = "BACKUP-CLAIM";

/// How long a job waits for the locks of jobs with larger ids to go away (they are giving up
/// after seeing its lock, which takes a few reads, a listing and a delete) before it decides
/// that one of them went on first. Waiting too little only makes both give up (never both go
/// on); it stays well under a job's lease (10 s by default).
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The content of a lock file (and of an append claim): plain JSON, no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    /// The job.
    pub job_id: JobId,
    /// Its cluster.
    pub cluster_id: String,
    /// Its backup: a lock with this job's name and this backup id is this job's own, from an
    /// earlier run of it.
    pub backup_id: String,
    /// Where the job writes, relative to the lock's location: empty for the location itself,
    /// the date-named subdirectory for an automatic incremental.
    #[serde(default)]
    pub subdir: String,
}

impl LockFile {
    /// The lock file's name.
    pub fn name(&self) -> String {
        lock_name(self.job_id)
    }

    /// The bytes stored: the JSON of the lock with a CRC-32 of that JSON, so that a torn or
    /// rotted lock never reads as some other job's lock.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_string(self).expect("integers and strings always encode");
        serde_json::to_vec(&Stored { crc: crc32fast::hash(json.as_bytes()), lock: json }).expect("strings always encode")
    }

    /// The lock in `bytes`, or `None` if they are not one (torn, damaged, foreign).
    pub fn decode(bytes: &[u8]) -> Option<LockFile> {
        let stored: Stored = serde_json::from_slice(bytes).ok()?;
        (crc32fast::hash(stored.lock.as_bytes()) == stored.crc).then(|| serde_json::from_str(&stored.lock).ok()).flatten()
    }
}

/// A lock as stored: its JSON and the JSON's checksum.
#[derive(Serialize, Deserialize)]
struct Stored {
    lock: String,
    crc: u32,
}

/// The lock file name of job `id`.
pub fn lock_name(id: JobId) -> String {
    format!("{LOCK_PREFIX}{id}")
}

/// The job id in a lock file's name (`None` for a name that is not a lock file's).
pub fn job_of(name: &str) -> Option<JobId> {
    name.strip_prefix(LOCK_PREFIX)?.parse().ok()
}

/// The name of the claim on the base backup ending at `base_end`.
pub fn append_claim_name(base_end: Timestamp) -> String {
    format!("{APPEND_PREFIX}{}.{}", base_end.wall, base_end.logical)
}

/// Who holds a lock, as far as this cluster can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A job of this cluster, with its status.
    ThisCluster(JobStatus),
    /// A job of this cluster that no longer exists (or whose id now names another backup).
    Gone,
    /// A job of another cluster (its id): its status cannot be seen from here.
    OtherCluster(String),
    /// The lock file cannot be read as one.
    Unreadable,
}

/// A lock file found at a location.
#[derive(Clone, Debug)]
pub struct Found {
    /// Its name.
    pub name: String,
    /// Its job's id (from the name).
    pub job_id: JobId,
    /// Its content, if it reads as a lock.
    pub lock: Option<LockFile>,
    /// Its owner.
    pub owner: Owner,
}

impl Found {
    /// False for the leftover lock of a job of this cluster that has ended: it will never
    /// write again, so its lock blocks nothing.
    pub fn is_live(&self) -> bool {
        !matches!(self.owner, Owner::ThisCluster(s) if s.is_terminal())
    }

    /// "job 12 of this cluster, whose status is paused", and the like.
    pub fn describe(&self) -> String {
        let id = self.job_id;
        match &self.owner {
            Owner::ThisCluster(s) => format!("job {id} of this cluster, whose status is {}", s.as_str()),
            Owner::Gone => format!("job {id}, which does not exist in this cluster"),
            Owner::OtherCluster(c) => format!("job {id} of another cluster ({c}), whose status cannot be seen from this one"),
            Owner::Unreadable => format!("job {id} (its lock file {} cannot be read)", self.name),
        }
    }

    /// What the user can do about it, naming the files to delete when that is safe.
    pub fn advice(&self, shown: &str) -> String {
        let id = self.job_id;
        let sub = self.lock.as_ref().map(|l| l.subdir.as_str()).filter(|s| !s.is_empty());
        let files = leftover_files(shown, id, sub);
        match &self.owner {
            Owner::ThisCluster(JobStatus::Paused | JobStatus::PauseRequested) => {
                format!("RESUME JOB {id} to finish that backup, or CANCEL JOB {id} to discard it and free the location")
            }
            Owner::ThisCluster(s) if !s.is_terminal() => format!("wait for job {id} to finish (SHOW JOBS), or CANCEL JOB {id}"),
            Owner::ThisCluster(_) => format!("that job has ended and left its files behind: it is safe to delete {files}"),
            _ => format!(
                "if no backup is running there any more (for example its process was killed), it is safe to delete {files}; if one is, deleting them makes one of the two backups fail at its end, never both succeed"
            ),
        }
    }
}

/// The files a job `id` leaves at a location `shown` (its work in `sub` for an incremental).
pub fn leftover_files(shown: &str, id: JobId, sub: Option<&str>) -> String {
    let at = |p: &str| join_path(shown, p);
    match sub {
        Some(sub) => format!("{} and the directory {}", at(&lock_name(id)), at(sub)),
        None => format!("{}, {} and {}", at(&lock_name(id)), at(CHECKPOINT_NAME), at(&format!("data/{id}/"))),
    }
}

/// Who job `id` of a lock or checkpoint with backup `backup_id` of cluster `cluster_id` is.
async fn owner(env: &Env, id: Option<JobId>, cluster_id: &str, backup_id: &str) -> Result<(Option<JobId>, Owner), BackupError> {
    if cluster_id != env.cluster_id {
        return Ok((id, Owner::OtherCluster(cluster_id.to_string())));
    }
    let same_backup = |j: &jobs::JobSummary| j.payload.get("backup_id").and_then(|b| b.as_str()) == Some(backup_id);
    match id {
        Some(id) => Ok((
            Some(id),
            match jobs::load::<serde_json::Value>(&*env.kv, id).await? {
                Some(j) if same_backup(&j) => Owner::ThisCluster(j.status),
                _ => Owner::Gone,
            },
        )),
        None => Ok(match jobs::list(&*env.kv).await?.into_iter().find(|j| j.job_type == jobs::JobType::Backup && same_backup(j)) {
            Some(j) => (Some(j.id), Owner::ThisCluster(j.status)),
            None => (None, Owner::Gone),
        }),
    }
}

/// Every lock file at a location, read, with its owner.
pub async fn found_locks(env: &Env, storage: &dyn ExternalStorage) -> Result<Vec<Found>, BackupError> {
    let names = retrying(env, || storage.list(LOCK_PREFIX)).await?;
    read_locks(env, storage, names.iter().map(String::as_str)).await
}

/// The locks among `names` (a listing of the location's top), read, with their owners. A lock
/// deleted since the listing is left out.
pub async fn read_locks<'a>(env: &Env, storage: &dyn ExternalStorage, names: impl Iterator<Item = &'a str>) -> Result<Vec<Found>, BackupError> {
    let mut out = Vec::new();
    for name in names {
        let Some(job_id) = job_of(name) else { continue };
        let bytes = match retrying(env, || storage.read(name)).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let lock = LockFile::decode(&bytes).filter(|l| l.job_id == job_id);
        let owner = match &lock {
            Some(l) => owner(env, Some(job_id), &l.cluster_id, &l.backup_id).await?.1,
            None => Owner::Unreadable,
        };
        out.push(Found { name: name.to_string(), job_id, lock, owner });
    }
    Ok(out)
}

/// The refusal for a location `shown` that `found` holds.
pub fn in_use(shown: &str, found: &Found) -> BackupError {
    BackupError::DestinationInUse {
        url: shown.to_string(),
        file: found.name.clone(),
        detail: format!("it belongs to {}; {}", found.describe(), found.advice(shown)),
    }
}

/// The refusal for a location `shown` holding a `BACKUP-CHECKPOINT` (read as `bytes`) that no
/// live lock explains: a job killed before locks existed, or one whose lock was deleted. Names
/// the job its backup id belongs to when the checkpoint can be read (an encrypted one cannot).
pub async fn leftover_checkpoint(env: &Env, shown: &str, bytes: Option<Vec<u8>>) -> Result<BackupError, BackupError> {
    let plan = bytes.and_then(|b| Checkpoint::decode(CHECKPOINT_NAME, &b).ok()).map(|c| c.plan);
    let detail = match plan {
        Some(p) => {
            let (id, who) = owner(env, None, &p.cluster_id, &p.backup_id).await?;
            let found = Found { name: CHECKPOINT_NAME.into(), job_id: id.unwrap_or_default(), lock: None, owner: who };
            match (&found.owner, id) {
                (Owner::ThisCluster(_), Some(_)) => format!("it belongs to {}; {}", found.describe(), found.advice(shown)),
                (Owner::OtherCluster(c), _) => format!(
                    "it belongs to backup {} of another cluster ({c}); if no backup is running there any more (for example its process was killed), it is safe to delete {} and its data/ files",
                    p.backup_id,
                    join_path(shown, CHECKPOINT_NAME)
                ),
                _ => format!(
                    "it belongs to backup {}, whose job does not exist in this cluster; if no backup is running there any more (for example its process was killed), it is safe to delete {} and its data/ files",
                    p.backup_id,
                    join_path(shown, CHECKPOINT_NAME)
                ),
            }
        }
        None => format!(
            "it cannot be read to tell which job it belongs to (encrypted or damaged); if no backup is running there any more (for example its process was killed), it is safe to delete {} and its data/ files",
            join_path(shown, CHECKPOINT_NAME)
        ),
    };
    Ok(BackupError::DestinationInUse { url: shown.to_string(), file: CHECKPOINT_NAME.into(), detail })
}

/// Takes the location for `mine` (see the module comment): writes its lock create-only (its
/// own lock from an earlier run is taken as is), then checks for other jobs' locks.
///
/// `claim` names where this job claims its manifest path (storage and file). A job that already
/// holds that claim (a run of it got as far as publishing and died, and this is its adoption or
/// RESUME) keeps the location whatever other locks it finds: no other job can publish there
/// while the claim stands, so standing aside would only leave both refused (a smaller-id job
/// that arrived while this one's coordinator was dead waits for this lock and gives up).
/// `went_on` says the same of a job whose earlier run exported files under this lock (it is
/// resuming past the point where it held the location): it keeps the location too. Without it,
/// a smaller-id job that waited out [`LOCK_WAIT`] for this one's lock and this one's adoption can
/// meet, each stand aside for the other, and neither backup is taken (swarm seed 50657).
pub async fn acquire(
    env: &Env,
    storage: &dyn ExternalStorage,
    shown: &str,
    mine: &LockFile,
    claim: Option<(&dyn ExternalStorage, &str)>,
    went_on: bool,
) -> Result<(), BackupError> {
    let name = mine.name();
    match retrying(env, || storage.write_new(&name, mine.encode())).await {
        Ok(()) => {}
        Err(e) if e.is_already_exists() => match retrying(env, || storage.read(&name)).await.ok().and_then(|b| LockFile::decode(&b)) {
            Some(l) if l.backup_id == mine.backup_id => {}
            Some(_) => {
                let found = read_locks(env, storage, std::iter::once(name.as_str())).await?;
                return Err(found.first().map(|f| in_use(shown, f)).unwrap_or_else(|| BackupError::Job(format!("{shown}: {name} belongs to another backup"))));
            }
            // Unreadable: this job's own lock torn by a fault (a job id is unique in its
            // cluster, and another cluster's job with the same id would have written its
            // backup id): write it whole.
            None => retrying(env, || storage.write(&name, mine.encode())).await?,
        },
        Err(e) => return Err(e.into()),
    }
    // Read it back: a write that reported success may not have landed (or landed torn), and a
    // job whose lock is missing would go on unseen by the others.
    for _ in 0..10 {
        match retrying(env, || storage.read(&name)).await {
            Ok(bytes) if LockFile::decode(&bytes).is_some_and(|l| l.backup_id == mine.backup_id) => break,
            Ok(_) => retrying(env, || storage.write(&name, mine.encode())).await?,
            Err(e) if e.is_not_found() => retrying(env, || storage.write(&name, mine.encode())).await?,
            Err(e) => return Err(e.into()),
        }
    }
    let mut waited = Duration::ZERO;
    let step = Duration::from_millis(500);
    loop {
        let others: Vec<Found> = found_locks(env, storage).await?.into_iter().filter(|f| f.name != name && f.is_live()).collect();
        let Some(first) = others.iter().min_by_key(|f| f.job_id) else { return Ok(()) };
        if first.job_id < mine.job_id || waited >= LOCK_WAIT {
            if went_on {
                return Ok(());
            }
            if let Some((claim_storage, claim_name)) = claim {
                if owns_claim(env, claim_storage, claim_name, mine).await {
                    return Ok(());
                }
            }
            return Err(in_use(shown, first));
        }
        env.sleep(step).await;
        waited += step;
    }
}

/// True if the lock at the location is `mine` (this job still holds the location and may
/// remove what it wrote there). A lock with this job's name that cannot be read (torn or
/// rotted) is taken for its own, as [`acquire`] does.
pub async fn holds(env: &Env, storage: &dyn ExternalStorage, mine: &LockFile) -> bool {
    lock_state(env, storage, mine).await == LockState::Mine
}

/// Whose the lock file named after a job is, as [`lock_state`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// This job's (or unreadable, torn or rotted, which [`acquire`] also takes for its own).
    Mine,
    /// No lock file of that name.
    Absent,
    /// Another backup's lock under the same name: a job of another cluster whose id is this
    /// job's (ids are clock-derived, so two clusters starting a job in the same microsecond
    /// share one). This job never got the location, and nothing there is its own.
    Another,
    /// Storage did not answer (other than "not found"): not worth a round of retried removals.
    Unreachable,
}

/// Whose the lock named after `mine` is, in one read.
pub async fn lock_state(env: &Env, storage: &dyn ExternalStorage, mine: &LockFile) -> LockState {
    let name = mine.name();
    match retrying(env, || storage.read(&name)).await {
        Ok(bytes) if LockFile::decode(&bytes).is_none_or(|l| l.backup_id == mine.backup_id) => LockState::Mine,
        Ok(_) => LockState::Another,
        Err(e) if e.is_not_found() => LockState::Absent,
        Err(_) => LockState::Unreachable,
    }
}

/// Claims the base ending at `base_end` for the automatic incremental `mine`, at the chain's
/// root: create-only, so of two incrementals planned onto one base only one ever publishes. Its
/// own claim from an earlier run is taken as is.
pub async fn claim_append(env: &Env, root: &dyn ExternalStorage, shown: &str, mine: &LockFile, base_end: Timestamp) -> Result<(), BackupError> {
    claim(env, root, shown, &append_claim_name(base_end), mine, None, |by| {
        crate::error::ChainError::BaseClaimed { base_end, location: shown.to_string(), by }.into()
    })
    .await
}

/// Claims the `BACKUP` manifest path of the destination `storage` for `mine` ([`MANIFEST_CLAIM`],
/// create-only): of two jobs that reach their manifests at one destination (listings that hid
/// each other's locks, or one that started after the other finished), only one publishes. Its
/// own claim from an earlier run is taken as is.
pub async fn claim_manifest(env: &Env, storage: &dyn ExternalStorage, shown: &str, mine: &LockFile) -> Result<(), BackupError> {
    claim(env, storage, shown, MANIFEST_CLAIM, mine, Some(crate::format::manifest::MANIFEST_NAME), |by| BackupError::DestinationInUse {
        url: shown.to_string(),
        file: MANIFEST_CLAIM.to_string(),
        detail: format!("another backup {by} claimed this location's BACKUP manifest while this one ran; that backup is left as it is and this one is abandoned: back up to another location"),
    })
    .await
}

/// True if the claim `name` at `storage` is `mine`: this job may then replace a torn or damaged
/// manifest that the claim guards, which can only be its own.
pub async fn owns_claim(env: &Env, storage: &dyn ExternalStorage, name: &str, mine: &LockFile) -> bool {
    claim_state(env, storage, name, mine).await == ClaimState::Mine
}

/// What a claim file says about who may publish where it guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// This job's.
    Mine,
    /// Another job's.
    Another,
    /// There, but unreadable (torn, or damaged at rest): its owner cannot be told.
    Unreadable,
    /// Not there (or storage would not say).
    Absent,
}

/// Whose the claim `name` at `storage` is.
pub async fn claim_state(env: &Env, storage: &dyn ExternalStorage, name: &str, mine: &LockFile) -> ClaimState {
    match retrying(env, || storage.read(name)).await {
        Ok(bytes) => match LockFile::decode(&bytes) {
            Some(l) if l.backup_id == mine.backup_id => ClaimState::Mine,
            Some(_) => ClaimState::Another,
            None => ClaimState::Unreadable,
        },
        Err(_) => ClaimState::Absent,
    }
}

/// Writes the claim `name` for `mine` create-only and reads it back until it holds `mine`: an
/// existing claim of this job is its own, anyone else's is refused with `refusal` given who
/// holds it. A claim that cannot be read (torn or rotted) is this job's own only if this call
/// created it (storage reported success and then showed a torn copy: it is written whole), or —
/// for a claim that `guards` a manifest path — if that manifest does not exist yet: whoever
/// wrote the damaged claim has published nothing, and the manifest's create-only write still
/// lets only one of them publish. Otherwise it is refused: its owner cannot be told.
async fn claim(
    env: &Env,
    storage: &dyn ExternalStorage,
    shown: &str,
    name: &str,
    mine: &LockFile,
    guards: Option<&str>,
    refusal: impl Fn(String) -> BackupError,
) -> Result<(), BackupError> {
    let mut created = false;
    for _ in 0..10 {
        match retrying(env, || storage.write_new(name, mine.encode())).await {
            Ok(()) => created = true,
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e.into()),
        }
        let bytes = match retrying(env, || storage.read(name)).await {
            Ok(b) => b,
            // A write that reported success and never landed: write it again.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        match LockFile::decode(&bytes) {
            Some(l) if l.backup_id == mine.backup_id => return Ok(()),
            Some(l) if !l.subdir.is_empty() => return Err(refusal(format!("(job {}, in {})", l.job_id, join_path(shown, &l.subdir)))),
            Some(l) => return Err(refusal(format!("(job {})", l.job_id))),
            None => {
                let unpublished = match guards {
                    Some(manifest) => !retrying(env, || storage.exists(manifest)).await?,
                    None => false,
                };
                if !(created || unpublished) {
                    return Err(refusal(format!("({} cannot be read)", join_path(shown, name))));
                }
                retrying(env, || storage.write(name, mine.encode())).await?;
            }
        }
    }
    Err(BackupError::Job(format!("could not write {}: storage kept failing", join_path(shown, name))))
}

/// Deletes `path` if it holds `mine` (a lock or claim of this job), retrying a while. Best
/// effort: a leftover is reported by name to whoever meets it later.
pub async fn remove_if_mine(env: &Env, storage: &dyn ExternalStorage, path: &str, mine: &LockFile) {
    if owns_claim(env, storage, path, mine).await {
        remove(env, storage, path).await;
    }
}

/// Deletes `path`, retrying transient failures a while (best effort).
pub async fn remove(env: &Env, storage: &dyn ExternalStorage, path: &str) {
    let mut backoff = crate::retry::Backoff::new();
    for _ in 0..20 {
        match storage.delete(path).await {
            Ok(()) => return,
            Err(e) if !e.is_retryable() => return,
            Err(_) => backoff.wait(env).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_and_contents_round_trip() {
        let l = LockFile { job_id: 42, cluster_id: "c".into(), backup_id: "c-1-2".into(), subdir: String::new() };
        assert_eq!(l.name(), "BACKUP-LOCK-42");
        assert_eq!(job_of(&l.name()), Some(42));
        assert_eq!(job_of("BACKUP-LOCK-x"), None);
        assert_eq!(job_of("BACKUP-CHECKPOINT"), None);
        assert_eq!(LockFile::decode(&l.encode()), Some(l.clone()));
        assert_eq!(LockFile::decode(b"{\"job_id\""), None);
        // Any flipped bit of the JSON is caught, so damage never reads as another job's lock.
        let good = l.encode();
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 1;
            assert_ne!(LockFile::decode(&bad), Some(LockFile { backup_id: "c-1-3".into(), ..l.clone() }));
            assert!(LockFile::decode(&bad).is_none_or(|d| d == l), "byte {at}");
        }
        assert_eq!(append_claim_name(Timestamp { wall: 5, logical: 2 }), "BACKUP-APPENDED-5.2");
    }
}
