//! Chains of backups: a full backup and the incrementals built on it, oldest first — how
//! BACKUP finds the base of an incremental, and how RESTORE and SHOW BACKUP read one.
//!
//! A chain is implicit, as in CockroachDB: each incremental's start time equals the previous
//! backup's end time (the manifest's `depends_on` also records the bases, redacted, so errors can
//! name them). A chain is given either as a list of locations (`INCREMENTAL FROM full, inc1, …`;
//! `RESTORE FROM full, inc1, …`) or as one location holding a full backup whose automatic
//! incrementals live in date-named subdirectories (`<YYYYMMDD>/<HHMMSS.ss>`, CockroachDB's Go
//! layout `/20060102/150405.00`), which sort in time order.
//!
//! [`validate`] refuses a chain that does not start with a full backup, has a member out of
//! order or missing, or mixes clusters — with an error naming the backups involved — so no
//! restore is ever planned from a chain with a hole in it.

use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::{Manifest, MANIFEST_NAME};
use crate::plan::open_location;
use crate::restore::read_manifest;
use crate::statement::Secret;
use crate::storage::url::redact_location;
use crate::storage::ExternalStorage;
use model::Timestamp;
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
}

impl Layer {
    /// "full" or "incremental", as SHOW BACKUP prints it.
    pub fn kind(&self) -> &'static str {
        if self.manifest.start_time.is_zero() {
            "full"
        } else {
            "incremental"
        }
    }
}

/// The subdirectory an automatic incremental ending at `end` goes to: `YYYYMMDD/HHMMSS.ss` in
/// UTC (CockroachDB's `/20060102/150405.00`), so names sort in time order.
pub fn subdir_name(end: Timestamp) -> String {
    let secs = (end.wall / 1_000_000_000) as i64;
    let centis = (end.wall % 1_000_000_000) / 10_000_000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}/{:02}{:02}{:02}.{centis:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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

/// True for a path `YYYYMMDD/HHMMSS.ss/BACKUP` (an automatic incremental's manifest).
fn is_auto_manifest(path: &str) -> Option<&str> {
    let dir = path.strip_suffix(&format!("/{MANIFEST_NAME}"))?;
    let (day, time) = dir.split_once('/')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let ok = day.len() == 8 && digits(day) && time.len() == 9 && digits(&time[..6]) && &time[6..7] == "." && digits(&time[7..]);
    ok.then_some(dir)
}

/// `location` with `sub` appended to its path (before any query string).
pub fn join_location(location: &str, sub: &str) -> String {
    match location.split_once('?') {
        Some((base, query)) => format!("{}/{sub}?{query}", base.trim_end_matches('/')),
        None => format!("{}/{sub}", location.trim_end_matches('/')),
    }
}

/// The automatic incrementals' subdirectories under a location, in time order.
pub async fn auto_subdirs(env: &Env, storage: &dyn ExternalStorage) -> Result<Vec<String>, BackupError> {
    let mut dirs: Vec<String> = crate::restore::retrying(env, || storage.list("")).await?.iter().filter_map(|p| is_auto_manifest(p).map(str::to_string)).collect();
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

/// The chain's locations: a single location is its full backup followed by its automatic
/// incrementals; several are taken as given (oldest first).
pub async fn expand(env: &Env, from: &[String]) -> Result<Vec<String>, BackupError> {
    match from {
        [one] => {
            let (_, storage) = open_location(env, one)?;
            let mut out = vec![one.clone()];
            out.extend(auto_subdirs(env, &*storage).await?.iter().map(|d| join_location(one, d)));
            Ok(out)
        }
        many => Ok(many.to_vec()),
    }
}

/// Reads every manifest of a chain. The chain's `ENCRYPTION-INFO` is in its first (full)
/// backup's directory; every member must open with that key (an encrypted chain is encrypted
/// throughout). Returns the layers, not yet validated, and the cipher.
pub async fn read_chain(env: &Env, locations: &[String], passphrase: Option<&Secret>) -> Result<(Vec<Layer>, FileCipher), BackupError> {
    let first = locations.first().ok_or_else(|| BackupError::Internal("an empty chain".into()))?;
    let (url, storage) = open_location(env, first)?;
    let cipher = crate::crypto::cipher_for_reading(env, &url.redacted(), &*storage, passphrase).await?;
    let mut layers = Vec::new();
    for location in locations {
        let (url, storage) = open_location(env, location)?;
        let shown = url.redacted();
        let manifest = read_manifest(env, &shown, &*storage, &cipher).await?;
        layers.push(Layer { location: location.clone(), shown, storage, manifest });
    }
    Ok((layers, cipher))
}

/// Refuses a chain that does not start with a full backup, whose members are out of order or
/// leave a gap, or that mixes clusters.
pub fn validate(layers: &[Layer]) -> Result<(), BackupError> {
    let Some(first) = layers.first() else { return Err(BackupError::Internal("an empty chain".into())) };
    if !first.manifest.start_time.is_zero() {
        return Err(BackupError::BadChain(format!(
            "{} is an incremental backup (from {}), not a full backup: a chain must start with the full backup it builds on",
            first.shown, first.manifest.start_time
        )));
    }
    // Order first, over the whole list: a chain whose members are all there but listed in the
    // wrong order is "out of order", not "missing a backup" (the first pair of [full, inc2,
    // inc1] leaves a gap only because inc1 comes after inc2).
    for w in layers.windows(2) {
        let (prev, next) = (&w[0], &w[1]);
        if next.manifest.cluster_id != prev.manifest.cluster_id {
            return Err(BackupError::BadChain(format!("previous BACKUP {} belongs to cluster {}, not {}", prev.shown, prev.manifest.cluster_id, next.manifest.cluster_id)));
        }
        if next.manifest.start_time.is_zero() {
            return Err(BackupError::BadChain(format!("{} is a full backup: only incrementals may follow the full backup {}", next.shown, first.shown)));
        }
        if next.manifest.end_time <= prev.manifest.end_time || next.manifest.start_time < prev.manifest.end_time && next.manifest.start_time < prev.manifest.start_time {
            return Err(BackupError::BadChain(format!(
                "backups listed out of order: {} (up to {}) is listed after {} (up to {})",
                next.shown, next.manifest.end_time, prev.shown, prev.manifest.end_time
            )));
        }
    }
    for w in layers.windows(2) {
        let (prev, next) = (&w[0], &w[1]);
        if next.manifest.start_time != prev.manifest.end_time {
            return Err(BackupError::BadChain(format!(
                "invalid previous backups: {} starts at {} but {} ends at {}; a backup between them is missing or they belong to different chains (a new full backup may be required if a table has been created, dropped or truncated)",
                next.shown, next.manifest.start_time, prev.shown, prev.manifest.end_time
            )));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdirectories_follow_cockroachdbs_layout_and_sort_in_time_order() {
        // 2020-03-27 10:00:09.363393 UTC
        let t = Timestamp::from_nanos(1_585_303_209_363_393_000);
        assert_eq!(subdir_name(t), "20200327/100009.36");
        assert_eq!(subdir_name(Timestamp::from_nanos(0)), "19700101/000000.00");
        assert_eq!(subdir_name(Timestamp::from_nanos(951_782_400_000_000_000)), "20000229/000000.00");
        let later = Timestamp::from_nanos(1_585_303_209_363_393_000 + 50_000_000);
        assert!(subdir_name(later) > subdir_name(t));
        assert_eq!(is_auto_manifest("20200327/100009.36/BACKUP"), Some("20200327/100009.36"));
        assert_eq!(is_auto_manifest("20200327/100009.36/BACKUP-CHECKPOINT"), None);
        assert_eq!(is_auto_manifest("data/1/x.sst"), None);
        assert_eq!(is_auto_manifest("2020032/100009.36/BACKUP"), None);
    }

    #[test]
    fn subdirectories_join_before_the_query_string() {
        assert_eq!(join_location("s3://b/p?AWS_REGION=x", "20200327/100009.36"), "s3://b/p/20200327/100009.36?AWS_REGION=x");
        assert_eq!(join_location("nodelocal://1/p/", "d/t"), "nodelocal://1/p/d/t");
    }
}
