//! The simulated storage backend: one store outside every node that serves every URL scheme
//! (`s3`, `gs`, `azure`, `http`, `nodelocal`), as the backup sees it through
//! `backup::storage::ExternalStorage`.
//!
//! Fault model. Objects live outside the nodes, so no node crash loses them; each operation
//! takes a random simulated latency and may, per the seed's [`StorageFaults`]:
//! - fail transiently without taking effect (a 503) — the backup must retry;
//! - be slow (hundreds of milliseconds to seconds) — the backup must not time out wrongly;
//! - land but report failure (the write happened, the reply was lost) — retrying must be safe;
//! - list without an object written in the last second (eventually consistent listing) — the
//!   backup must not decide by listing what a read can tell it.
//!
//! Faults that destroy data behind the backup's back — a torn or lost write reported as success,
//! bit rot at rest — are armed by the schedule ([`Trap`], [`SimStorage::bit_rot`]) or injected
//! directly with [`SimStorage::corrupt`] / [`SimStorage::lose`]. No backup can be expected to
//! survive them unnoticed; the properties are that a write the backup verifies (the manifest) is
//! repaired, and that RESTORE and SHOW BACKUP detect every other damaged file and name it, never
//! restore wrong data. The store remembers which objects hold damage ([`SimStorage::damaged`]) so
//! a scenario knows which verdict to expect, and which ever held it ([`SimStorage::ever_damaged`]):
//! a reader that met damage a later write repaired was right to refuse what it read.
//!
//! A trap can also kill the node that makes a chosen write ([`Trap::KillWriter`]): the write
//! hangs, half-landed or not at all, and the world crashes that node at its next tick. That is
//! how a schedule kills the job coordinator at a chosen phase of its job — while exporting,
//! between its last checkpoint and the manifest, in the middle of writing the manifest, or
//! (matched by a delete instead) while removing its own files after its end.
//!
//! Create-only writes (`write_new`: lock files, manifests) are atomic here, as on the real
//! backends: the existence check and the landing are one step. They take the same faults as
//! plain writes: a transient failure writes nothing; slow is slow; lands-but-reports-failure
//! lands, and the writer's retry then meets its own object (`AlreadyExists`) and must compare
//! bytes; a torn or lost trap tears or loses it (a lost create-only write leaves the name
//! free); a kill trap kills its writer as for a plain write. An object already there makes a
//! create-only write fail before any trap springs. Stale listings may omit a lock file written
//! in the last second: the create-only manifest is what must hold then.
//!
//! Objects are keyed by scheme, host and path, and `nodelocal://self` resolves to the opening
//! node's own directory. The cloud schemes reach the store through [`crate::cloud`], which also
//! checks a client's credentials against those registered for its bucket ([`SimStorage::grant`]).

use crate::credential::Credential;
use crate::trace::Trace;
use crate::trace_event;
use async_trait::async_trait;
use backup::storage::url::{NodelocalTarget, StorageUrl};
use backup::storage::{check_path, check_prefix, ExternalStorage, StorageError};
use madsim::time::Instant;
use model::NodeId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fault rates of the storage backend, each in parts per thousand of operations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageFaults {
    /// Chance out of 1000 that an operation fails without taking effect.
    pub transient_per_mille: u32,
    /// Chance out of 1000 that an operation takes 0.2–2 s.
    pub slow_per_mille: u32,
    /// Chance out of 1000 that a write lands but reports failure.
    pub lands_but_fails_per_mille: u32,
    /// Chance out of 1000 that a listing omits objects written in the last second.
    pub stale_list_per_mille: u32,
}

/// Where in a backup job a coordinator-kill trap fires, told apart by the write it is making.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum JobPhase {
    /// At a data file write (the job is exporting): the file never lands.
    Exporting,
    /// At the manifest write, before any of it lands: every span is checkpointed, no manifest.
    BeforeManifest,
    /// Halfway through the manifest write: a torn prefix of it lands.
    WritingManifest,
    /// At the manifest write, once all of it has landed: the backup is published and its job
    /// never hears so (the adopter must find it and record success).
    AfterManifest,
    /// At a delete of the job's own files (its checkpoint, a lock or claim, a data file), before
    /// it lands: a job that has recorded its end (canceled, failed) dies while removing what it
    /// wrote, or one that has published its manifest dies removing its checkpoint. What it left
    /// must be named to whoever meets it, with advice that frees the location.
    CleaningUp,
    /// A RESTORE, once it has recorded a span done (after `skip` such spans): it dies with other
    /// spans in flight, some ingested and not recorded. Timed by the job's events, not its
    /// writes (a restore writes nothing to storage): the node dies at the world's next tick.
    Restoring,
    /// A RESTORE, once every span is recorded done and it is about to publish: it dies before
    /// its publishing commit, or with it in flight, or just after it landed.
    Publishing,
}

/// A fault armed on the store that fires at the next write it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trap {
    /// The next write lands only a prefix of its bytes and reports success.
    TornWrite,
    /// The next write reports success and never lands (an older object stays).
    LostWrite,
    /// The write of `phase` after the next `skip` such writes hangs and the node making it is
    /// killed (a skip lets a job checkpoint some spans before its coordinator dies).
    KillWriter(JobPhase, u32),
}

struct Object {
    data: Vec<u8>,
    written: Instant,
}

struct State {
    objects: BTreeMap<String, Object>,
    faults: StorageFaults,
    rng: ChaCha8Rng,
    traps: Vec<Trap>,
    /// Objects whose bytes are not what their writer last wrote, and why.
    damaged: BTreeMap<String, &'static str>,
    /// Every object storage damaged at some moment of the run, and the last cause, repaired
    /// since or not: a reader that met the damage before a later write repaired it was right
    /// to refuse it.
    ever_damaged: BTreeMap<String, &'static str>,
    /// A node a [`Trap::KillWriter`] caught, for the world to crash.
    doomed: Option<(NodeId, JobPhase)>,
    /// Until when every operation fails with a 503 (an outage of the whole service).
    outage_until: Option<Instant>,
    /// The credentials each cloud bucket (`scheme://host`) accepts; a bucket not here serves
    /// every client.
    grants: BTreeMap<String, Vec<Credential>>,
    /// Transient failures reported to cloud clients so far ([`SimStorage::next_failure_kind`]).
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))] // used by the simulated cloud only
    failures_reported: usize,
}

impl State {
    /// Records that storage damaged `key` (until a later write or delete repairs it).
    fn damage(&mut self, key: String, cause: &'static str) {
        self.ever_damaged.insert(key.clone(), cause);
        self.damaged.insert(key, cause);
    }
}

/// What a trap decided for one write.
enum Sprung {
    None,
    Torn,
    Lost,
    Kill(JobPhase),
}

/// The shared backend. Cheap to clone.
#[derive(Clone)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
    trace: Trace,
}

impl SimStorage {
    /// An empty store whose faults draw from `seed`.
    pub fn new(seed: u64, trace: Trace) -> Self {
        SimStorage {
            state: Arc::new(Mutex::new(State {
                objects: BTreeMap::new(),
                faults: StorageFaults::default(),
                rng: ChaCha8Rng::seed_from_u64(seed),
                traps: Vec::new(),
                damaged: BTreeMap::new(),
                ever_damaged: BTreeMap::new(),
                doomed: None,
                outage_until: None,
                grants: BTreeMap::new(),
                failures_reported: 0,
            })),
            trace,
        }
    }

    /// Sets the fault rates (a fault of the schedule, or a scenario's choice). Setting the
    /// defaults (no faults) also disarms every trap: the liveness phase starts from here.
    pub fn set_faults(&self, faults: StorageFaults) {
        trace_event!(self.trace, "storage", crate::event::FAULTS, "{faults:?}");
        let mut s = self.state.lock().expect("storage");
        if faults == StorageFaults::default() {
            s.traps.clear();
            s.outage_until = None;
        }
        s.faults = faults;
    }

    /// Makes the whole service unavailable for `length` from now: every operation fails with
    /// a 503 without taking effect, as an object store's regional outage does. Longer than the
    /// backup code's retry budgets, unlike the flaky dice's isolated failures. Ended early by
    /// [`SimStorage::set_faults`] with no faults (the liveness phase).
    pub fn outage(&self, length: Duration) {
        trace_event!(self.trace, "storage", crate::event::OUTAGE, "every operation fails for {} ms", length.as_millis());
        self.state.lock().expect("storage").outage_until = Some(Instant::now() + length);
    }

    /// Registers `credential` as one the cloud bucket `bucket` (`scheme://host`, see
    /// [`crate::credential::bucket_of`]) accepts. A bucket with no credentials registered serves every
    /// client; one with some refuses every request of a client presenting none of them.
    pub fn grant(&self, bucket: &str, credential: Credential) {
        trace_event!(self.trace, "storage", crate::event::GRANT, "{bucket} accepts {credential:?}");
        self.state.lock().expect("storage").grants.entry(bucket.to_string()).or_default().push(credential);
    }

    /// Whether `bucket` accepts `presented`: the refusal its requests get, if not.
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))] // used by the simulated cloud only
    pub(crate) fn authorize(&self, bucket: &str, presented: &Credential) -> Result<(), String> {
        let s = self.state.lock().expect("storage");
        match crate::credential::refusal(bucket, s.grants.get(bucket), presented) {
            None => Ok(()),
            Some(why) => {
                drop(s);
                trace_event!(self.trace, "storage", crate::event::DENIED, "{bucket} refuses a client presenting {presented:?}");
                Err(why)
            }
        }
    }

    /// Which of `kinds` ways to report it the next transient failure a cloud client meets
    /// takes: they take turns, so every way is met in any run with a few failures.
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))] // used by the simulated cloud only
    pub(crate) fn next_failure_kind(&self, kinds: usize) -> usize {
        let mut s = self.state.lock().expect("storage");
        s.failures_reported += 1;
        s.failures_reported % kinds.max(1)
    }

    /// Arms `trap` for the next write it matches.
    pub fn arm(&self, trap: Trap) {
        trace_event!(self.trace, "storage", crate::event::TRAP_ARMED, "{trap:?}");
        self.state.lock().expect("storage").traps.push(trap);
    }

    /// The node a [`Trap::KillWriter`] caught since the last call, with the phase it was in.
    pub fn take_doomed(&self) -> Option<(NodeId, JobPhase)> {
        self.state.lock().expect("storage").doomed.take()
    }

    /// Objects whose bytes are not what their writer last wrote (torn, lost, rotted), by key,
    /// with the cause. A later successful write of the key repairs it.
    pub fn damaged(&self) -> BTreeMap<String, &'static str> {
        self.state.lock().expect("storage").damaged.clone()
    }

    /// Objects storage damaged at any moment of the run (torn, lost, rotted), repaired since or
    /// not, by key, with the last cause.
    pub fn ever_damaged(&self) -> BTreeMap<String, &'static str> {
        self.state.lock().expect("storage").ever_damaged.clone()
    }

    /// Bit rot at rest: flips bit `bit` (modulo its size) of the `pick`-th stored object (modulo
    /// their count, in key order). Returns the object's key, or `None` when nothing is stored.
    pub fn bit_rot(&self, pick: u32, bit: u64) -> Option<String> {
        let mut s = self.state.lock().expect("storage");
        let keys: Vec<String> = s.objects.iter().filter(|(_, o)| !o.data.is_empty()).map(|(k, _)| k.clone()).collect();
        if keys.is_empty() {
            return None;
        }
        let key = keys[pick as usize % keys.len()].clone();
        let o = s.objects.get_mut(&key).expect("picked from the map");
        let at = (bit / 8) as usize % o.data.len();
        o.data[at] ^= 1 << (bit % 8);
        s.damage(key.clone(), "bit rot");
        trace_event!(self.trace, "storage", crate::event::BIT_ROT, "{key} byte {at} bit {}", bit % 8);
        Some(key)
    }

    /// Takes the first armed trap that a write of `path` springs.
    fn spring(&self, path: &str) -> Sprung {
        let mut s = self.state.lock().expect("storage");
        let manifest = path == backup::format::manifest::MANIFEST_NAME;
        let data = path.starts_with("data/");
        let Some(i) = s.traps.iter().position(|t| match t {
            Trap::TornWrite | Trap::LostWrite => true,
            Trap::KillWriter(JobPhase::Exporting, _) => data,
            Trap::KillWriter(JobPhase::CleaningUp | JobPhase::Restoring | JobPhase::Publishing, _) => false,
            Trap::KillWriter(..) => manifest,
        }) else {
            return Sprung::None;
        };
        if let Trap::KillWriter(_, skip) = &mut s.traps[i] {
            if *skip > 0 {
                *skip -= 1;
                return Sprung::None;
            }
        }
        match s.traps.remove(i) {
            Trap::TornWrite => Sprung::Torn,
            Trap::LostWrite => Sprung::Lost,
            Trap::KillWriter(phase, _) => Sprung::Kill(phase),
        }
    }

    /// True if a delete of `path` springs an armed [`JobPhase::CleaningUp`] kill: a job's own
    /// file (its checkpoint, a lock or claim, a data file). Sets the doomed node.
    fn spring_delete(&self, path: &str, node: NodeId) -> bool {
        let mut s = self.state.lock().expect("storage");
        let owned = path == backup::format::manifest::CHECKPOINT_NAME || path.starts_with("data/") || path.starts_with("BACKUP-");
        let Some(i) = s.traps.iter().position(|t| owned && matches!(t, Trap::KillWriter(JobPhase::CleaningUp, _))) else { return false };
        if let Trap::KillWriter(_, skip) = &mut s.traps[i] {
            if *skip > 0 {
                *skip -= 1;
                return false;
            }
        }
        s.traps.remove(i);
        s.doomed = Some((node, JobPhase::CleaningUp));
        true
    }

    /// Removes the armed RESTORE kills that nothing sprang (their restore ended first), so that
    /// no later restore of the run meets them.
    pub fn disarm_restore_kills(&self) {
        self.state.lock().expect("storage").traps.retain(|t| !matches!(t, Trap::KillWriter(JobPhase::Restoring | JobPhase::Publishing, _)));
    }

    /// Springs an armed RESTORE kill ([`JobPhase::Restoring`], [`JobPhase::Publishing`]) that
    /// the job event `what` of node `node` matches: the node is doomed, and the world crashes it
    /// at its next tick.
    pub fn on_job_event(&self, what: &str, node: NodeId) {
        let phase = match what {
            backup::event::RESTORE_SPAN_INGESTED => JobPhase::Restoring,
            backup::event::RESTORE_PUBLISHING => JobPhase::Publishing,
            _ => return,
        };
        let mut s = self.state.lock().expect("storage");
        if s.doomed.is_some() {
            return;
        }
        let Some(i) = s.traps.iter().position(|t| matches!(t, Trap::KillWriter(p, _) if *p == phase)) else { return };
        if let Trap::KillWriter(_, skip) = &mut s.traps[i] {
            if *skip > 0 {
                *skip -= 1;
                return;
            }
        }
        s.traps.remove(i);
        s.doomed = Some((node, phase));
        trace_event!(self.trace, "storage", crate::event::WRITER_DOOMED, "n{node} at {phase:?} after {what}");
    }

    /// Every object key with its size, in key order (for checks and snapshots).
    pub fn list_all(&self) -> Vec<(String, usize)> {
        self.state.lock().expect("storage").objects.iter().map(|(k, o)| (k.clone(), o.data.len())).collect()
    }

    /// Deletes, as an operator would with the store's own tools, the object `key` or, for a key
    /// ending in `/`, every object under that directory. Returns how many it deleted.
    pub fn operator_delete(&self, key: &str) -> usize {
        let mut s = self.state.lock().expect("storage");
        let doomed: Vec<String> = if key.ends_with('/') {
            s.objects.range(key.to_string()..).take_while(|(k, _)| k.starts_with(key)).map(|(k, _)| k.clone()).collect()
        } else {
            s.objects.contains_key(key).then(|| key.to_string()).into_iter().collect()
        };
        for k in &doomed {
            s.objects.remove(k);
            s.damaged.remove(k);
        }
        drop(s);
        trace_event!(self.trace, "storage", crate::event::DELETE, "{key} by the operator ({} objects)", doomed.len());
        doomed.len()
    }

    /// The bytes of an object by its full key.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.state.lock().expect("storage").objects.get(key).map(|o| o.data.clone())
    }

    /// Replaces an object's bytes behind the backup's back (bit rot, a torn write): returns
    /// false if there is no such object.
    pub fn corrupt(&self, key: &str, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        let mut s = self.state.lock().expect("storage");
        match s.objects.get_mut(key) {
            Some(o) => {
                f(&mut o.data);
                trace_event!(self.trace, "storage", crate::event::CORRUPT, "{key} now {} bytes", o.data.len());
                s.damage(key.to_string(), "corrupted");
                true
            }
            None => false,
        }
    }

    /// Removes an object behind the backup's back (a lost write).
    pub fn lose(&self, key: &str) -> bool {
        let mut s = self.state.lock().expect("storage");
        let removed = s.objects.remove(key).is_some();
        if removed {
            s.damage(key.to_string(), "lost write");
        }
        drop(s);
        if removed {
            trace_event!(self.trace, "storage", crate::event::LOSE, "{key}");
        }
        removed
    }

    /// The full key under which the storage a URL names keeps `path`.
    pub fn key(url: &StorageUrl, node: NodeId, path: &str) -> String {
        root_of(url, node) + "/" + path
    }

    /// Draws the fate of one operation: its latency and whether it fails.
    fn draw(&self) -> (Duration, Fate) {
        let mut s = self.state.lock().expect("storage");
        let f = s.faults.clone();
        let mut latency = Duration::from_micros(s.rng.gen_range(500..5_000));
        if s.rng.gen_range(0..1000) < f.slow_per_mille {
            latency += Duration::from_millis(s.rng.gen_range(200..2_000));
        }
        let roll = s.rng.gen_range(0..1000);
        let fate = if roll < f.transient_per_mille {
            Fate::Fail
        } else if roll < f.transient_per_mille + f.lands_but_fails_per_mille {
            Fate::LandThenFail
        } else {
            Fate::Succeed
        };
        let stale = s.rng.gen_range(0..1000) < f.stale_list_per_mille;
        if s.outage_until.is_some_and(|until| Instant::now() < until) {
            return (latency, Fate::Fail);
        }
        (latency, if stale && fate == Fate::Succeed { Fate::StaleList } else { fate })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Succeed,
    Fail,
    LandThenFail,
    StaleList,
}

fn root_of(url: &StorageUrl, node: NodeId) -> String {
    let scheme = url.scheme().as_str();
    let host = match url.nodelocal_target() {
        Some(NodelocalTarget::SelfNode) => node.to_string(),
        Some(NodelocalTarget::Node(n)) => n.to_string(),
        None => url.host().to_string(),
    };
    let path = url.path().trim_matches('/');
    if path.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    }
}

/// One location on the backend.
#[derive(Clone)]
pub(crate) struct SimBucket {
    pub(crate) storage: SimStorage,
    root: String,
    shown: String,
    /// The node that opened it (the one a kill trap kills).
    node: NodeId,
}

impl SimBucket {
    /// The location `url` names, opened by `node`.
    pub(crate) fn new(storage: SimStorage, url: &StorageUrl, node: NodeId) -> SimBucket {
        SimBucket { storage, root: root_of(url, node), shown: url.redacted(), node }
    }

    /// One request's latency, with no effect (a request refused before it touches anything).
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))] // used by the simulated cloud only
    pub(crate) async fn round_trip(&self) {
        let (latency, _) = self.storage.draw();
        madsim::time::sleep(latency).await;
    }

    fn key(&self, path: &str) -> String {
        format!("{}/{path}", self.root)
    }

    fn transient(&self, path: &str, what: &str) -> StorageError {
        StorageError::Transient { path: format!("{}/{path}", self.shown), reason: format!("simulated {what} failure (503)") }
    }

    /// A whole-object write: plain (`create_only` false) or create-only. Both draw their fate
    /// and spring traps the same way; a create-only write checks for an existing object at the
    /// moment it would land, in the same step as landing (nothing else runs in between), so it
    /// is atomic, and an existing object makes it fail with `AlreadyExists` before any trap is
    /// sprung or anything lands.
    pub(crate) async fn put(&self, path: &str, data: Vec<u8>, create_only: bool) -> Result<(), StorageError> {
        check_path(path)?;
        let (latency, fate) = self.storage.draw();
        madsim::time::sleep(latency).await;
        if fate == Fate::Fail {
            trace_event!(self.storage.trace, "storage", crate::event::WRITE_FAILED, "{}", self.key(path));
            return Err(self.transient(path, "write"));
        }
        let key = self.key(path);
        if create_only && self.storage.state.lock().expect("storage").objects.contains_key(&key) {
            trace_event!(self.storage.trace, "storage", crate::event::WRITE_NEW_EXISTS, "{key}");
            return Err(StorageError::AlreadyExists { path: format!("{}/{path}", self.shown) });
        }
        let mut data = data;
        match self.storage.spring(path) {
            Sprung::None => {}
            Sprung::Lost => {
                trace_event!(self.storage.trace, "storage", crate::event::WRITE_LOST, "{key} {} bytes reported written, none landed", data.len());
                self.storage.state.lock().expect("storage").damage(key, "lost write");
                return Ok(());
            }
            Sprung::Torn => {
                let mut s = self.storage.state.lock().expect("storage");
                let keep = if data.is_empty() { 0 } else { s.rng.gen_range(0..data.len()) };
                trace_event!(self.storage.trace, "storage", crate::event::WRITE_TORN, "{key} {keep} of {} bytes landed, reported written", data.len());
                data.truncate(keep);
                s.objects.insert(key.clone(), Object { data, written: Instant::now() });
                s.damage(key, "torn write");
                return Ok(());
            }
            Sprung::Kill(phase) => {
                {
                    let mut s = self.storage.state.lock().expect("storage");
                    if phase == JobPhase::WritingManifest {
                        let keep = s.rng.gen_range(0..data.len().max(1));
                        data.truncate(keep);
                        s.objects.insert(key.clone(), Object { data, written: Instant::now() });
                        s.damage(key.clone(), "torn write");
                    } else if phase == JobPhase::AfterManifest {
                        s.damaged.remove(&key);
                        s.objects.insert(key.clone(), Object { data: std::mem::take(&mut data), written: Instant::now() });
                    }
                    trace_event!(self.storage.trace, "storage", crate::event::WRITER_DOOMED, "n{} at {phase:?} writing {key}", self.node);
                    s.doomed = Some((self.node, phase));
                }
                // The node dies before this write returns.
                std::future::pending::<()>().await;
                unreachable!("a pending future never completes");
            }
        }
        let len = data.len();
        {
            let mut s = self.storage.state.lock().expect("storage");
            s.damaged.remove(&key);
            s.objects.insert(key, Object { data, written: Instant::now() });
        }
        if fate == Fate::LandThenFail {
            trace_event!(self.storage.trace, "storage", crate::event::WRITE_LANDED_REPORTED_FAILED, "{} {len} bytes", self.key(path));
            return Err(self.transient(path, "write reply"));
        }
        trace_event!(self.storage.trace, "storage", crate::event::WRITE, "{} {len} bytes", self.key(path));
        Ok(())
    }
}

#[async_trait]
impl ExternalStorage for SimBucket {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.put(path, data, false).await
    }

    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.put(path, data, true).await
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        check_path(path)?;
        let (latency, fate) = self.storage.draw();
        madsim::time::sleep(latency).await;
        if matches!(fate, Fate::Fail | Fate::LandThenFail) {
            return Err(self.transient(path, "read"));
        }
        let data = self.storage.state.lock().expect("storage").objects.get(&self.key(path)).map(|o| o.data.clone());
        data.ok_or_else(|| StorageError::NotFound { path: format!("{}/{path}", self.shown) })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        check_prefix(prefix)?;
        let (latency, fate) = self.storage.draw();
        madsim::time::sleep(latency).await;
        if matches!(fate, Fate::Fail | Fate::LandThenFail) {
            return Err(self.transient(prefix, "list"));
        }
        let root = format!("{}/", self.root);
        let full = format!("{root}{prefix}");
        let now = Instant::now();
        let s = self.storage.state.lock().expect("storage");
        Ok(s.objects
            .range(full.clone()..)
            .take_while(|(k, _)| k.starts_with(&full))
            .filter(|(_, o)| fate != Fate::StaleList || now.duration_since(o.written) >= Duration::from_secs(1))
            .map(|(k, _)| k[root.len()..].to_string())
            .collect())
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let (latency, fate) = self.storage.draw();
        madsim::time::sleep(latency).await;
        if fate == Fate::Fail {
            return Err(self.transient(path, "delete"));
        }
        if self.storage.spring_delete(path, self.node) {
            trace_event!(
                self.storage.trace,
                "storage",
                crate::event::WRITER_DOOMED,
                "n{} at {:?} deleting {}",
                self.node,
                JobPhase::CleaningUp,
                self.key(path)
            );
            // The node dies before this delete lands or returns.
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes");
        }
        {
            let mut s = self.storage.state.lock().expect("storage");
            s.objects.remove(&self.key(path));
            s.damaged.remove(&self.key(path));
        }
        trace_event!(self.storage.trace, "storage", crate::event::DELETE, "{}", self.key(path));
        if fate == Fate::LandThenFail {
            return Err(self.transient(path, "delete reply"));
        }
        Ok(())
    }
}
