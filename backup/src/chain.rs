//! Chains of backups: a full backup and the incrementals built on it, oldest first — how
//! BACKUP finds the base of an incremental, and how RESTORE and SHOW BACKUP read one.
//!
//! A chain is implicit, as in CockroachDB: each incremental's start time equals the previous
//! backup's end time (the manifest's `depends_on` also records the bases, redacted, so errors can
//! name them). A chain is given either as a list of locations (`INCREMENTAL FROM full, inc1, …`;
//! `RESTORE FROM full, inc1, …`) or as one location holding a full backup whose automatic
//! incrementals live in date-named subdirectories (`<YYYYMMDD>/<HHMMSS.nnnnnnnnn>`: CockroachDB's
//! Go layout `/20060102/150405.00` to the nanosecond, whose older names are still read), ordered
//! by the time their names encode.
//!
//! [`validate`] refuses a chain that does not start with a full backup, has a member out of
//! order or missing, or mixes clusters — with an error naming the backups involved — so no
//! restore is ever planned from a chain with a hole in it.

use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::{BackupError, ChainError};
use crate::format::manifest::{Manifest, CHECKPOINT_NAME, MANIFEST_NAME};
use crate::location::{self, read_manifest};
use crate::retry::retrying;
use crate::statement::Secret;
use crate::storage::url::redact_location;
use crate::storage::ExternalStorage;
use model::catalog::Descriptor;
use model::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One backup of a chain: where it is and what its manifest says.
pub struct Layer {
    /// The location, credentials included (to open it again; never printed).
    pub location: String,
    /// The location as printed.
    pub shown: String,
    /// Its storage.
    pub storage: Arc<dyn ExternalStorage>,
    /// Its manifest.
    pub manifest: Manifest,
    /// A locality-aware backup's partitions, where the URLs given with it hold them
    /// ([`crate::partitioned::attach`]); empty until found, and for any other backup.
    pub partitions: Vec<PartitionStore>,
}

/// One partition of a locality-aware layer: where its files are now.
#[derive(Clone)]
pub struct PartitionStore {
    /// Its locality tier.
    pub locality: String,
    /// Its location, credentials included.
    pub location: String,
    /// Its location as printed.
    pub shown: String,
    /// Its storage.
    pub storage: Arc<dyn ExternalStorage>,
}

impl Layer {
    /// Where `file` of this layer is: the default location, or the partition of its locality
    /// (refused, naming the partition, when none of the URLs given holds it).
    pub fn file_store(&self, file: &crate::format::manifest::FileInfo) -> Result<(String, Arc<dyn ExternalStorage>), BackupError> {
        let Some(locality) = &file.locality else { return Ok((self.shown.clone(), self.storage.clone())) };
        match self.partitions.iter().find(|p| &p.locality == locality) {
            Some(p) => Ok((p.shown.clone(), p.storage.clone())),
            None => {
                let n = self.manifest.partitions.iter().position(|p| p == locality).map_or(0, |i| i + 1);
                Err(BackupError::MissingPartition {
                    file: crate::locality::partition_file_name(n, locality),
                    locality: locality.clone(),
                    backup: self.shown.clone(),
                    searched: self.shown.clone(),
                })
            }
        }
    }

    /// "full" or "incremental", as SHOW BACKUP prints it.
    pub fn kind(&self) -> &'static str {
        if self.manifest.start_time.is_zero() {
            "full"
        } else {
            "incremental"
        }
    }
}

/// The subdirectory an automatic incremental ending at `end` goes to: `YYYYMMDD/HHMMSS.nnnnnnnnn`
/// in UTC, to the nanosecond, with `_<logical>` appended when the time's logical part is not
/// zero, so two different end times always get different names (CockroachDB's
/// `/20060102/150405.00` has 10 ms precision, and two quick incrementals collided in it).
/// Members are ordered by the time their name encodes ([`subdir_time`]), which also reads the
/// older `HHMMSS.ss` names.
pub fn subdir_name(end: Timestamp) -> String {
    let secs = (end.wall / 1_000_000_000) as i64;
    let nanos = end.wall % 1_000_000_000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let logical = if end.logical == 0 { String::new() } else { format!("_{}", end.logical) };
    format!("{y:04}{m:02}{d:02}/{:02}{:02}{:02}.{nanos:09}{logical}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The time a date-named subdirectory's name (`YYYYMMDD/HHMMSS.ff…`) encodes, as a sort key:
/// (day, second of the day, nanoseconds, logical). Reads both CockroachDB's `HHMMSS.ss` and
/// [`subdir_name`]'s `HHMMSS.nnnnnnnnn[_logical]`; `None` for any other name.
pub fn subdir_time(dir: &str) -> Option<(u32, u32, u32, u32)> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (day, time) = dir.split_once('/')?;
    let (clock, frac) = time.split_once('.')?;
    let (frac, logical) = match frac.split_once('_') {
        Some((f, l)) if digits(l) => (f, l.parse().ok()?),
        Some(_) => return None,
        None => (frac, 0),
    };
    if !(day.len() == 8 && digits(day) && clock.len() == 6 && digits(clock) && (frac.len() == 2 || frac.len() == 9) && digits(frac)) {
        return None;
    }
    let nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
    Some((day.parse().ok()?, clock.parse().ok()?, nanos, logical))
}

/// A path inside an automatic incremental's subdirectory, split into that subdirectory and the
/// rest (`20200327/100009.360000000/data/1.sst` → its directory and `data/1.sst`).
fn in_subdir(path: &str) -> Option<(&str, &str)> {
    let day_end = path.find('/')?;
    let time_end = day_end + 1 + path[day_end + 1..].find('/')?;
    let dir = &path[..time_end];
    subdir_time(dir)?;
    Some((dir, &path[time_end + 1..]))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A date-named subdirectory's time as its name spells it: date, hour-minute-second,
/// nanoseconds, logical (the order the chain's members sort in).
type SubdirTime = (u32, u32, u32, u32);

/// The automatic incrementals' subdirectories under a location `shown`, in the time order
/// their names encode.
///
/// Every date-named subdirectory is looked at, not only those holding a manifest: one that
/// holds files but no `BACKUP` manifest (or whose `BACKUP` is a directory) is an incremental
/// that failed, was canceled or killed before it finished, or a damaged one, and skipping it
/// would silently restore older data than the location claims to hold. It is refused, naming
/// it and saying what to do — unless a lock at the location names it: a live one's is an
/// incremental still running (or paused), not part of the chain yet, and one of this cluster's
/// jobs that failed or was canceled left it behind when its cleanup was cut short; both are
/// left out.
/// (A failed or canceled incremental removes its own subdirectory, so only a killed process or
/// damage leaves one behind.)
pub async fn auto_subdirs(env: &Env, storage: &dyn ExternalStorage, shown: &str) -> Result<Vec<String>, BackupError> {
    let paths = retrying(env, || storage.list("")).await?;
    let mut dirs: BTreeMap<(SubdirTime, &str), Vec<&str>> = BTreeMap::new();
    for p in &paths {
        if let Some((dir, rest)) = in_subdir(p) {
            dirs.entry((subdir_time(dir).expect("in_subdir checked it"), dir)).or_default().push(rest);
        }
    }
    let incomplete: Vec<&str> = dirs.iter().filter(|(_, rest)| !rest.contains(&MANIFEST_NAME)).map(|((_, d), _)| *d).collect();
    // The subdirectories a lock names: a live job's (running or paused: not part of the chain
    // yet), and one of this cluster's jobs that failed or was canceled and whose cleanup did not
    // finish (its process died removing its files): its record proves that it never published
    // and never will (a job publishes before it records success, and a fenced run cannot write
    // after its end), so the directory is its leftover, not a layer.
    let (mut running, mut abandoned) = (BTreeSet::new(), BTreeSet::new());
    if !incomplete.is_empty() {
        let locks = paths.iter().map(String::as_str).filter(|p| p.starts_with(crate::lock::LOCK_PREFIX));
        for found in crate::lock::read_locks(env, storage, locks).await? {
            let ended_unpublished = matches!(found.owner, crate::lock::Owner::ThisCluster(crate::jobs::JobStatus::Failed | crate::jobs::JobStatus::Canceled));
            if let Some(lock) = found.lock.as_ref().filter(|l| !l.subdir.is_empty()) {
                if found.is_live() {
                    running.insert(lock.subdir.clone());
                } else if ended_unpublished {
                    abandoned.insert(lock.subdir.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((_, dir), rest) in &dirs {
        if rest.contains(&MANIFEST_NAME) {
            out.push(dir.to_string());
        } else if !running.contains(*dir) && !abandoned.contains(*dir) {
            // Asked for by name before the subdirectory is called incomplete: a listing may be
            // stale (an eventually consistent store, or one answered from a lagging replica)
            // and miss a manifest written a moment ago, and a complete incremental must not be
            // refused for it. A manifest that cannot be read (a directory on nodelocal) is
            // named as such.
            let manifest = format!("{dir}/{MANIFEST_NAME}");
            match retrying(env, || storage.exists(&manifest)).await {
                Ok(true) if !rest.iter().any(|r| r.starts_with(&format!("{MANIFEST_NAME}/"))) => {
                    out.push(dir.to_string());
                    continue;
                }
                Err(e @ crate::storage::StorageError::Permanent { .. }) => {
                    return Err(BackupError::NotABackup {
                        url: location::join(shown, dir),
                        reason: format!("its {MANIFEST_NAME} manifest cannot be read: {}", e.to_string().replacen(&format!("{dir}/"), "", 1)),
                    });
                }
                _ => {}
            }
            return Err(incomplete_layer(shown, dir, rest));
        }
    }
    Ok(out)
}

/// The first automatic incremental at a location whose name says it ends after `after`, other
/// than `except`: one that was appended after the base `after` ends (a plain listing of the
/// manifests, so it may miss one written in the last moment; the create-only claim on the base
/// is what guarantees a single successor, this check names it when it can).
pub async fn member_after(env: &Env, storage: &dyn ExternalStorage, after: Timestamp, except: &str) -> Result<Option<String>, BackupError> {
    let base = subdir_time(&subdir_name(after)).expect("subdir_name makes names subdir_time reads");
    let paths = retrying(env, || storage.list("")).await?;
    Ok(paths
        .iter()
        .filter_map(|p| in_subdir(p))
        .find(|(dir, rest)| *rest == MANIFEST_NAME && *dir != except && subdir_time(dir) > Some(base))
        .map(|(dir, _)| dir.to_string()))
}

/// The refusal of a date-named subdirectory without a manifest, saying what it holds.
fn incomplete_layer(shown: &str, dir: &str, rest: &[&str]) -> BackupError {
    let at = location::join(shown, dir);
    let manifest_dir = format!("{MANIFEST_NAME}/");
    let reason = if rest.iter().any(|r| r.starts_with(&manifest_dir)) {
        format!("its {MANIFEST_NAME} is a directory, not a manifest: a damaged or tampered incremental backup")
    } else {
        let data = rest.iter().filter(|r| r.starts_with("data/")).count();
        let mut held = Vec::new();
        if rest.contains(&CHECKPOINT_NAME) {
            held.push(CHECKPOINT_NAME.to_string());
        }
        if data > 0 {
            held.push(format!("{data} data file{}", if data == 1 { "" } else { "s" }));
        }
        let others = rest.len() - data - usize::from(rest.contains(&CHECKPOINT_NAME));
        if others > 0 {
            held.push(format!("{others} other file{}", if others == 1 { "" } else { "s" }));
        }
        format!(
            "an incomplete incremental backup: it holds {} but no {MANIFEST_NAME} manifest (an incremental that failed, was canceled or was killed before it finished, or a damaged one)",
            held.join(" and ")
        )
    };
    BackupError::NotABackup {
        url: at.clone(),
        reason: format!(
            "{reason}. RESTORE and SHOW BACKUP refuse the location while it is there, rather than restore older data than it claims to hold; if no backup job is running there, delete the directory {at} and run the statement again"
        ),
    }
}

/// The chain's locations: a single location is its full backup followed by its automatic
/// incrementals; several are taken as given (oldest first).
pub async fn expand(env: &Env, from: &[String]) -> Result<Vec<String>, BackupError> {
    match from {
        [one] => {
            let (url, storage) = location::open(env, one)?;
            let mut out = vec![one.clone()];
            out.extend(auto_subdirs(env, &*storage, &url.redacted()).await?.iter().map(|d| location::join(one, d)));
            Ok(out)
        }
        many => Ok(many.to_vec()),
    }
}

/// The chain the statement's locations name, read: [`expand`] then [`read_chain`], and for a
/// single location, linked member to member by the incrementals' claims, which also finds
/// the members its listing did not show (see [`link_by_claims`]).
pub async fn read_location(env: &Env, from: &[String], passphrase: Option<&Secret>) -> Result<(Vec<Layer>, FileCipher), BackupError> {
    match from {
        [root] => read_rooted(env, root, root, passphrase).await,
        _ => read_chain(env, from, passphrase).await,
    }
}

/// The chain of the full backup at `full` whose automatic incrementals (and their claims) are
/// in the date-named subdirectories of `root`: `root` is `full` itself for `BACKUP … TO`, and a
/// collection's `incrementals/<subdir>` for `BACKUP … INTO` ([`crate::collection`]).
pub async fn read_rooted(env: &Env, full: &str, root: &str, passphrase: Option<&Secret>) -> Result<(Vec<Layer>, FileCipher), BackupError> {
    let (url, storage) = location::open(env, root)?;
    let mut locations = vec![full.to_string()];
    locations.extend(auto_subdirs(env, &*storage, &url.redacted()).await?.iter().map(|d| location::join(root, d)));
    let (layers, cipher) = read_chain(env, &locations, passphrase).await?;
    let layers = link_by_claims(env, root, layers, &cipher).await?;
    Ok((layers, cipher))
}

/// An automatic chain put in order link by link, with the members a listing missed. A listing
/// may be stale (an eventually consistent store, a caching proxy) and leave out an incremental
/// written a moment ago — every one of its files — and a chain built from it alone stops before
/// that member, or leaves a gap: it restores older data than the location holds, silently, or
/// is refused. Each incremental's create-only claim on its base (`BACKUP-APPENDED-<base end
/// time>`, at the root) names its subdirectory and is read by name, not listed: from the full
/// backup, the claim on the last member's end time leads to the next one. Where there is no
/// claim (a chain written before claims), the listed member that starts where the last one
/// ends is next. The walk ends at a member with no successor, or at a claimed subdirectory with
/// no manifest yet (an incremental still running, or one that died before it finished: not
/// part of the chain, as when listed). Listed members the walk did not reach follow it, in
/// their listed order, so that [`validate`] names a fork or a gap as before.
async fn link_by_claims(env: &Env, root: &str, listed: Vec<Layer>, cipher: &FileCipher) -> Result<Vec<Layer>, BackupError> {
    let (_, storage) = location::open(env, root)?;
    let mut rest: Vec<Option<Layer>> = listed.into_iter().map(Some).collect();
    let Some(first) = rest.first_mut().and_then(Option::take) else { return Ok(Vec::new()) };
    let mut chain = vec![first];
    loop {
        let end = chain.last().expect("the chain starts with its first member").manifest.end_time;
        let claim = crate::lock::append_claim_name(end);
        let claimed = match retrying(env, || storage.read(&claim)).await {
            Ok(bytes) => crate::lock::LockFile::decode(&bytes).map(|c| c.subdir).filter(|d| !d.is_empty()),
            Err(crate::storage::StorageError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let next = match claimed {
            Some(subdir) => {
                let at = location::join(root, &subdir);
                if chain.iter().any(|l| l.location == at) {
                    break;
                }
                if let Some(slot) = rest.iter_mut().find(|l| l.as_ref().is_some_and(|l| l.location == at)) {
                    slot.take()
                } else {
                    let (url, sub) = location::open(env, &at)?;
                    if !retrying(env, || sub.exists(MANIFEST_NAME)).await? {
                        None
                    } else {
                        let shown = url.redacted();
                        let manifest = read_manifest(env, &shown, &*sub, cipher).await?;
                        Some(Layer { location: at, shown, storage: sub, manifest, partitions: Vec::new() })
                    }
                }
            }
            None => rest.iter_mut().find(|l| l.as_ref().is_some_and(|l| l.manifest.start_time == end)).and_then(Option::take),
        };
        match next {
            Some(layer) => chain.push(layer),
            None => break,
        }
    }
    chain.extend(rest.into_iter().flatten());
    Ok(chain)
}

/// Reads every manifest of a chain. The chain's `ENCRYPTION-INFO` is in its first (full)
/// backup's directory; every member must open with that key (an encrypted chain is encrypted
/// throughout). Returns the layers, not yet validated, and the cipher.
pub async fn read_chain(env: &Env, locations: &[String], passphrase: Option<&Secret>) -> Result<(Vec<Layer>, FileCipher), BackupError> {
    let first = locations.first().ok_or_else(|| BackupError::Internal("an empty chain".into()))?;
    let (url, storage) = location::open(env, first)?;
    let cipher = crate::encryption::cipher_for_reading(env, &url.redacted(), &*storage, passphrase).await?;
    let mut layers = Vec::new();
    for location in locations {
        let (url, storage) = location::open(env, location)?;
        let shown = url.redacted();
        let manifest = read_manifest(env, &shown, &*storage, &cipher).await?;
        layers.push(Layer { location: location.clone(), shown, storage, manifest, partitions: Vec::new() });
    }
    Ok((layers, cipher))
}

/// Refuses a chain that does not start with a full backup, whose members are out of order or
/// leave a gap, or that mixes clusters.
pub fn validate(layers: &[Layer]) -> Result<(), BackupError> {
    let Some(first) = layers.first() else { return Err(BackupError::Internal("an empty chain".into())) };
    if !first.manifest.start_time.is_zero() {
        return Err(ChainError::StartsWithIncremental { member: first.shown.clone(), start: first.manifest.start_time }.into());
    }
    // Order first, over the whole list: a chain whose members are all there but listed in the
    // wrong order is "out of order", not "missing a backup" (the first pair of [full, inc2,
    // inc1] leaves a gap only because inc1 comes after inc2).
    for w in layers.windows(2) {
        let (prev, next) = (&w[0], &w[1]);
        if next.manifest.cluster_id != prev.manifest.cluster_id {
            return Err(ChainError::MixedClusters {
                previous: prev.shown.clone(),
                cluster: prev.manifest.cluster_id.clone(),
                other: next.manifest.cluster_id.clone(),
            }
            .into());
        }
        if next.manifest.start_time.is_zero() {
            return Err(ChainError::FullAfterFull { member: next.shown.clone(), full: first.shown.clone() }.into());
        }
        if next.manifest.end_time <= prev.manifest.end_time
            || next.manifest.start_time < prev.manifest.end_time && next.manifest.start_time < prev.manifest.start_time
        {
            return Err(ChainError::OutOfOrder {
                member: next.shown.clone(),
                end: next.manifest.end_time,
                previous: prev.shown.clone(),
                previous_end: prev.manifest.end_time,
            }
            .into());
        }
    }
    for w in layers.windows(2) {
        let (prev, next) = (&w[0], &w[1]);
        if next.manifest.start_time != prev.manifest.end_time {
            return Err(ChainError::Gap {
                member: next.shown.clone(),
                start: next.manifest.start_time,
                previous: prev.shown.clone(),
                previous_end: prev.manifest.end_time,
            }
            .into());
        }
    }
    Ok(())
}

/// The base of a new incremental: the chain its statement names (`INCREMENTAL FROM`), or the
/// full backup at the destination with its automatic incrementals. Validated.
pub async fn base_chain(env: &Env, locations: &[String], passphrase: Option<&Secret>) -> Result<Vec<Layer>, BackupError> {
    let (layers, _) = read_chain(env, locations, passphrase).await?;
    validate(&layers)?;
    Ok(layers)
}

/// The locations of `layers`, redacted, for the manifest's `depends_on`.
pub fn depends_on(layers: &[Layer]) -> Vec<String> {
    layers.iter().map(|l| redact_location(&l.location)).collect()
}

/// Which prefix of the chain a restore to `wanted` needs, and the time it restores to. CockroachDB's
/// rules and texts: the backup whose window `(start, end]` holds the time; its end time, or any
/// time its revision history covers.
pub fn pick_time(layers: &[Layer], wanted: Option<Timestamp>) -> Result<(usize, Timestamp), BackupError> {
    let last = layers.last().ok_or_else(|| BackupError::Internal("an empty chain".into()))?;
    let Some(t) = wanted else { return Ok((layers.len(), last.manifest.end_time)) };
    let Some(i) = layers.iter().position(|l| l.manifest.start_time < t && t <= l.manifest.end_time) else {
        let from = layers[0].manifest.revision_start_time;
        return Err(BackupError::BadRestoreTime(format!(
            "supplied backups do not cover requested time {} (they cover {} to {})",
            t.to_datetime_string(),
            if from.is_zero() { "their start".to_string() } else { from.to_datetime_string() },
            last.manifest.end_time.to_datetime_string()
        )));
    };
    let m = &layers[i].manifest;
    if t != m.end_time {
        if m.mvcc_filter != model::MvccFilter::AllRevisions {
            let nearest = if i == 0 {
                format!("nearest backup time is {}", m.end_time.to_datetime_string())
            } else {
                format!("nearest BACKUP times are {} or {}", layers[i - 1].manifest.end_time.to_datetime_string(), m.end_time.to_datetime_string())
            };
            return Err(BackupError::BadRestoreTime(format!(
                "restoring to arbitrary time requires that BACKUP for requested time be created with 'revision_history' option. {nearest}"
            )));
        }
        if !m.revision_start_time.is_zero() && t <= m.revision_start_time {
            return Err(BackupError::BadRestoreTime(format!(
                "BACKUP for requested time only has revision history from {}",
                m.revision_start_time.to_datetime_string()
            )));
        }
    }
    Ok((i + 1, t))
}

/// The backup as of `ts` (the last layer's time window holds it): the last layer's manifest
/// with the descriptors of that time — its own when `ts` is its end time, else the previous
/// layer's replayed forward through its descriptor changes up to `ts`. Dropped descriptors are
/// left out: a table dropped by `ts` is not restored, one created by then is.
pub fn state_at(layers: &[Layer], ts: Timestamp) -> Manifest {
    let top = &layers[layers.len() - 1].manifest;
    let mut m = top.clone();
    if ts != top.end_time {
        let mut by_id: BTreeMap<u32, Descriptor> = BTreeMap::new();
        if layers.len() > 1 {
            for d in &layers[layers.len() - 2].manifest.descriptors {
                by_id.insert(d.id(), d.clone());
            }
        }
        for c in top.descriptor_changes.iter().filter(|c| c.time <= ts) {
            match &c.desc {
                Some(d) => by_id.insert(c.id, d.clone()),
                None => by_id.remove(&c.id),
            };
        }
        m.descriptors = by_id
            .into_values()
            .filter(|d| match d {
                Descriptor::Table(t) => t.is_public(),
                Descriptor::Database(_) => true,
            })
            .collect();
        // A cluster backup holds every database whole: those of that time (a database dropped
        // after it is still restorable by name; one created after it is not there).
        if m.is_full_cluster {
            m.complete_dbs = m.descriptors.iter().filter_map(|d| d.as_database().map(|db| db.id)).collect();
        }
        m.end_time = ts;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdirectories_follow_cockroachdbs_layout_to_the_nanosecond() {
        // 2020-03-27 10:00:09.363393 UTC
        let t = Timestamp::from_nanos(1_585_303_209_363_393_000);
        assert_eq!(subdir_name(t), "20200327/100009.363393000");
        assert_eq!(subdir_name(Timestamp { logical: 3, ..t }), "20200327/100009.363393000_3");
        assert_eq!(subdir_name(Timestamp::from_nanos(0)), "19700101/000000.000000000");
        assert_eq!(subdir_name(Timestamp::from_nanos(951_782_400_000_000_000)), "20000229/000000.000000000");
        // Two end times 1 ns or one logical tick apart get different names (10 ms apart used
        // to be needed).
        let next = Timestamp::from_nanos(1_585_303_209_363_393_001);
        assert_ne!(subdir_name(next), subdir_name(t));
        assert_ne!(subdir_name(Timestamp { logical: 1, ..t }), subdir_name(t));
        assert_eq!(subdir_time("20200327/100009.36"), Some((20200327, 100009, 360_000_000, 0)));
        assert_eq!(subdir_time("20200327/100009.363393000_3"), Some((20200327, 100009, 363_393_000, 3)));
        for bad in ["2020032/100009.36", "20200327/100009", "20200327/100009.3", "20200327/100009.36_", "20200327/10000a.36", "data/1"] {
            assert_eq!(subdir_time(bad), None, "{bad}");
        }
        assert_eq!(in_subdir("20200327/100009.36/BACKUP"), Some(("20200327/100009.36", "BACKUP")));
        assert_eq!(in_subdir("20200327/100009.363393000/data/1/x.sst"), Some(("20200327/100009.363393000", "data/1/x.sst")));
        assert_eq!(in_subdir("data/1/x.sst"), None);
        assert_eq!(in_subdir("20200327/100009.36"), None);
    }

    #[test]
    fn old_and_new_names_sort_by_the_time_they_encode() {
        // As strings, "100009.36" sorts after "100009.355000000" and "100009.4_1" style
        // names would mislead; by time, the order is the end times' order.
        let mut names =
            vec!["20200327/100009.36", "20200327/100009.355000000", "20200327/100009.360000001", "20200327/100009.360000001_2", "20200326/235959.99"];
        names.sort_by_key(|n| subdir_time(n).unwrap());
        assert_eq!(
            names,
            vec!["20200326/235959.99", "20200327/100009.355000000", "20200327/100009.36", "20200327/100009.360000001", "20200327/100009.360000001_2"]
        );
        let mut times: Vec<Timestamp> = (0..50).map(|i| Timestamp { wall: 1_585_303_209_000_000_000 + i / 3 * 7, logical: (i % 3) as u32 }).collect();
        times.reverse();
        let mut by_name: Vec<String> = times.iter().map(|t| subdir_name(*t)).collect();
        by_name.sort_by_key(|n| subdir_time(n).unwrap());
        times.sort();
        assert_eq!(by_name, times.iter().map(|t| subdir_name(*t)).collect::<Vec<_>>());
    }

    #[test]
    fn subdirectories_join_before_the_query_string() {
        assert_eq!(location::join("s3://b/p?AWS_REGION=x", "20200327/100009.36"), "s3://b/p/20200327/100009.36?AWS_REGION=x");
        assert_eq!(location::join("nodelocal://1/p/", "d/t"), "nodelocal://1/p/d/t");
    }

    fn layer(name: &str, cluster: &str, start: u64, end: u64) -> Layer {
        let m = Manifest::new(name, cluster, Timestamp::from_nanos(start), Timestamp::from_nanos(end), model::MvccFilter::Latest);
        Layer { location: name.into(), shown: name.into(), storage: Arc::new(crate::storage::MemStorage::new()), manifest: m, partitions: Vec::new() }
    }

    #[test]
    fn validate_says_which_way_a_chain_is_broken() {
        use crate::error::ChainError as C;
        let kind = |layers: &[Layer]| match validate(layers) {
            Err(BackupError::Chain(e)) => e,
            other => panic!("expected a chain error, got {other:?}"),
        };
        assert!(validate(&[layer("f", "c", 0, 10), layer("i1", "c", 10, 20), layer("i2", "c", 20, 30)]).is_ok());
        assert!(matches!(kind(&[layer("i1", "c", 10, 20)]), C::StartsWithIncremental { .. }));
        assert!(matches!(kind(&[layer("f", "c", 0, 10), layer("i1", "d", 10, 20)]), C::MixedClusters { .. }));
        assert!(matches!(kind(&[layer("f", "c", 0, 10), layer("f2", "c", 0, 20)]), C::FullAfterFull { .. }));
        assert!(matches!(kind(&[layer("f", "c", 0, 10), layer("i2", "c", 20, 30), layer("i1", "c", 10, 20)]), C::OutOfOrder { .. }));
        assert!(matches!(kind(&[layer("f", "c", 0, 10), layer("i2", "c", 20, 30)]), C::Gap { .. }));
    }
}
