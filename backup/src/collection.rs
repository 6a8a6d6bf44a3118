//! Backup collections (CockroachDB v20.2 on): one URL that holds many chains, each a full
//! backup in its own dated subdirectory with its incrementals, and a `LATEST` pointer to the
//! newest full backup. `BACKUP … INTO 'c'` starts a chain, `BACKUP … INTO LATEST IN 'c'` (or
//! `INTO '/2024/05/01-120000.00' IN 'c'`) appends to one, `SHOW BACKUPS IN 'c'` lists the
//! chains, `RESTORE … FROM LATEST IN 'c'` and `SHOW BACKUP LATEST IN 'c'` read one.
//!
//! Everything a collection adds to a plain location lives here — where a chain's full backup and
//! its incrementals go, how `LATEST` is written and read, how the chains are listed — so that
//! planning, RESTORE and SHOW BACKUP turn a collection statement into the chain locations they
//! already handle ([`crate::chain::read_rooted`]), and so that scheduled backups (a full
//! `INTO` now and then, incrementals `INTO LATEST` in between) need nothing more than
//! [`crate::exec::backup_into_collection`].
//!
//! Layout, as CockroachDB v22.2 writes it (and reads, with the older ones):
//! - a full backup in `<collection>/YYYY/MM/DD-HHMMSS.nnnnnnnnn` from its end time in UTC
//!   ([`full_subdir_name`]: CockroachDB's `/2006/01/02-150405.00` to the nanosecond, for the
//!   reason [`crate::chain::subdir_name`] gives; CockroachDB's `.ss` names are read too);
//! - its incrementals in `<collection>/incrementals/<full's subdir>/<YYYYMMDD>/<HHMMSS…>`
//!   (v21.2 on) — or, when the chain already has incrementals inside the full backup's own
//!   directory (v20.2–v21.1), there, as CockroachDB does; both at once is refused;
//! - `LATEST`: a file `metadata/latest/LATEST-<hex>` per full backup, holding its subdirectory,
//!   named so that the newest sorts first (v22.1 on: never overwritten, so an eventually
//!   consistent store cannot serve an old one), and read with a fallback to the root `LATEST`
//!   older versions wrote; on http, which cannot list, the root `LATEST` only.

use crate::chain::Layer;
use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::{BackupError, CollectionError};
use crate::format::manifest::MANIFEST_NAME;
use crate::location;
use crate::retry::{read_retrying, retrying};
use crate::statement::{BackupInto, InCollection, Secret};
use crate::storage::url::{Scheme, StorageUrl};
use model::Timestamp;

/// The root pointer file older versions (v20.2–v21.2) write, and http collections keep.
pub const LATEST_FILE: &str = "LATEST";
/// Where v22.1 and later write their timestamped `LATEST-<hex>` files.
pub const LATEST_DIR: &str = "metadata/latest";
/// Where a collection's incrementals go (v21.2 on), one directory per full backup.
pub const INCREMENTALS_DIR: &str = "incrementals";

/// The subdirectory of a full backup that ends at `end`: `/YYYY/MM/DD-HHMMSS.nnnnnnnnn` in UTC,
/// with `_<logical>` when the time's logical part is not zero, so two full backups never share
/// one. Leading `/` as CockroachDB prints it (SHOW BACKUPS IN, the LATEST file).
pub fn full_subdir_name(end: Timestamp) -> String {
    let inc = crate::chain::subdir_name(end);
    // `YYYYMMDD/HHMMSS.n…` → `/YYYY/MM/DD-HHMMSS.n…`: the same instant, spelt as collections do.
    let (day, time) = inc.split_once('/').expect("subdir_name is day/time");
    format!("/{}/{}/{}-{time}", &day[..4], &day[4..6], &day[6..8])
}

/// True if `dir` (without a leading `/`) is a full backup's subdirectory name
/// (`YYYY/MM/DD-HHMMSS.ss` or [`full_subdir_name`]'s form).
pub fn is_full_subdir(dir: &str) -> bool {
    let parts: Vec<&str> = dir.split('/').collect();
    let [year, month, rest] = parts.as_slice() else { return false };
    let Some((day, time)) = rest.split_once('-') else { return false };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    digits(year, 4) && digits(month, 2) && digits(day, 2) && crate::chain::subdir_time(&format!("{year}{month}{day}/{time}")).is_some()
}

/// A subdirectory as a statement names it, checked (a relative path inside the collection:
/// no empty, `.` or `..` component, no `?` or `#` that would change the URL) and spelt with
/// a leading `/`, as SHOW BACKUPS IN lists it.
pub fn normalize_subdir(subdir: &str) -> Result<String, CollectionError> {
    let bad = |reason: &str| CollectionError::BadSubdir { subdir: subdir.to_string(), reason: reason.to_string() };
    let path = subdir.trim_start_matches('/').trim_end_matches('/');
    if path.is_empty() {
        return Err(bad("it is empty: name a full backup as SHOW BACKUPS IN lists it, or use LATEST"));
    }
    if path.contains(['?', '#', '\\']) || path.chars().any(char::is_control) {
        return Err(bad("it may not contain ?, #, \\ or control characters"));
    }
    crate::storage::url::check_components(path).map_err(|reason| bad(&reason))?;
    if path.split('/').next() == Some(INCREMENTALS_DIR) || path.starts_with("metadata/") {
        return Err(bad("it names the collection's own incrementals or metadata directory, not a full backup"));
    }
    Ok(format!("/{path}"))
}

/// The full backup's location for a subdirectory of `collection` (credentials kept).
pub fn full_location(collection: &str, subdir: &str) -> String {
    location::join(collection, subdir.trim_start_matches('/'))
}

/// Where a full backup's incrementals go in the v21.2-on layout.
pub fn incrementals_location(collection: &str, subdir: &str) -> String {
    location::join(collection, &format!("{INCREMENTALS_DIR}/{}", subdir.trim_start_matches('/')))
}

/// The name of the LATEST file written at `at`: `metadata/latest/LATEST-<hex>`, the hex of
/// the bitwise complement of the time (wall, logical) big-endian, so that names sort newest
/// first (CockroachDB encodes its write time descending the same way).
pub fn latest_file_name(at: Timestamp) -> String {
    format!("{LATEST_DIR}/{LATEST_FILE}-{:016x}{:08x}", !at.wall, !at.logical)
}

fn is_http(url: &StorageUrl) -> bool {
    matches!(url.scheme(), Scheme::Http | Scheme::Https)
}

/// Records `subdir` as the collection's newest full backup. Written after the full backup's
/// manifest, so LATEST never names a backup that is not there. Writing it again (a job that
/// runs again after a crash) adds a newer file naming the same subdirectory: harmless.
pub async fn write_latest(env: &Env, collection: &str, subdir: &str) -> Result<(), BackupError> {
    let (url, storage) = location::open(env, collection)?;
    let name = if is_http(&url) { LATEST_FILE.to_string() } else { latest_file_name(env.kv.now()) };
    let data = subdir.as_bytes().to_vec();
    retrying(env, || storage.write(&name, data.clone())).await?;
    Ok(())
}

/// The subdirectory the collection's LATEST names: the first `metadata/latest/LATEST-*` file
/// in name order (the newest), else the root `LATEST` of older versions.
pub async fn read_latest(env: &Env, collection: &str) -> Result<String, BackupError> {
    let (url, storage) = location::open(env, collection)?;
    let shown = url.redacted();
    let mut name = LATEST_FILE.to_string();
    if !is_http(&url) {
        let prefix = format!("{LATEST_DIR}/{LATEST_FILE}-");
        let dir = format!("{LATEST_DIR}/");
        let listed = retrying(env, || storage.list(&dir)).await?;
        if let Some(newest) = listed.iter().filter(|p| p.starts_with(&prefix)).min() {
            name = newest.clone();
        }
    }
    let bytes = match read_retrying(env, &*storage, &name).await {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Err(CollectionError::NoLatest { collection: shown }.into()),
        Err(e) => return Err(e.into()),
    };
    let malformed = || CollectionError::MalformedLatest { file: location::join(&shown, &name) };
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let subdir = normalize_subdir(text.trim()).map_err(|_| malformed())?;
    Ok(subdir)
}

/// The collection's full backups, oldest first, as SHOW BACKUPS IN lists them: every
/// `YYYY/MM/DD-HHMMSS…/BACKUP` manifest at the collection's root.
pub async fn list_full_backups(env: &Env, collection: &str) -> Result<Vec<String>, BackupError> {
    let (_, storage) = location::open(env, collection)?;
    let paths = retrying(env, || storage.list("")).await?;
    // Sorted by the time each name encodes (the `.ss` and nanosecond forms mixed).
    let mut out: Vec<(Option<SubdirTime>, String)> = paths
        .iter()
        .filter_map(|p| p.strip_suffix(&format!("/{MANIFEST_NAME}")))
        .filter(|dir| is_full_subdir(dir))
        .map(|dir| {
            let (ym, rest) = dir.rsplit_once('/').expect("a full subdir has three parts");
            let day = format!("{}{}", ym.replace('/', ""), rest.split('-').next().unwrap_or(""));
            let time = rest.split_once('-').map(|(_, t)| t).unwrap_or("");
            (crate::chain::subdir_time(&format!("{day}/{time}")), format!("/{dir}"))
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out.into_iter().map(|(_, d)| d).collect())
}

/// A subdirectory's time as [`crate::chain::subdir_time`] reads it.
type SubdirTime = (u32, u32, u32, u32);

/// The subdirectory (with its leading `/`) a statement's `LATEST IN` or `'subdir' IN` names.
pub async fn resolve(env: &Env, collection: &str, which: &InCollection) -> Result<String, BackupError> {
    match which {
        InCollection::Latest => read_latest(env, collection).await,
        InCollection::Subdir(dir) => Ok(normalize_subdir(dir)?),
    }
}

/// Where the incrementals of the full backup in `subdir` are (and the next one goes): the full
/// backup's own directory when it already holds incrementals (v20.2–v21.1), else the
/// collection's `incrementals/<subdir>` (CockroachDB's `ResolveIncrementalsBackupLocation`).
/// Both at once is refused: neither chain can be trusted to be the whole one.
pub async fn incrementals_root(env: &Env, collection: &str, subdir: &str) -> Result<String, BackupError> {
    let full = full_location(collection, subdir);
    let new = incrementals_location(collection, subdir);
    let old_has = has_incrementals(env, &full).await?;
    let new_has = has_incrementals(env, &new).await?;
    match (old_has, new_has) {
        (true, true) => {
            Err(CollectionError::BothLayouts { old: crate::storage::url::redact_location(&full), new: crate::storage::url::redact_location(&new) }.into())
        }
        (true, false) => Ok(full),
        _ => Ok(new),
    }
}

/// Refuses `BACKUP … TO '<collection>/<subdir>'` onto a collection's full backup whose chain
/// already has incrementals in the collection layout (`<collection>/incrementals/<subdir>/`).
/// The plain form appends inside the full backup's own directory (the v20.2–v21.1 layout): it
/// would start a second chain from the full backup's end time beside the first, both would
/// then be refused by every `… IN` statement as incrementals in both layouts, and the new one
/// would silently leave out what the first one's incrementals hold. CockroachDB looks for the
/// plain form's incrementals in `<location>/incrementals` and so forks the chain without a
/// word; here it is refused at planning, before anything is written, naming the statement
/// that appends to the chain. A location whose path does not end in a full backup's dated
/// subdirectory, or over http (whose chains cannot be appended to automatically), is left
/// alone; so is a chain whose incrementals are all in the old layout, which the collection
/// statements append to there too.
pub async fn refuse_plain_append_to_collection_chain(env: &Env, location: &str) -> Result<(), BackupError> {
    let url = StorageUrl::parse(location)?;
    if is_http(&url) {
        return Ok(());
    }
    let mut parts = url.path().rsplitn(4, '/');
    let (Some(day_time), Some(month), Some(year)) = (parts.next(), parts.next(), parts.next()) else { return Ok(()) };
    let subdir = format!("{year}/{month}/{day_time}");
    if !is_full_subdir(&subdir) {
        return Ok(());
    }
    let collection = url.root().join(parts.next().unwrap_or(""))?;
    let incrementals = collection.join(&format!("{INCREMENTALS_DIR}/{subdir}"))?;
    if !has_incrementals(env, &incrementals.expose()).await? {
        return Ok(());
    }
    Err(CollectionError::PlainAppendForksChain {
        location: url.redacted(),
        incrementals: incrementals.redacted(),
        subdir: format!("/{subdir}"),
        collection: collection.redacted(),
    }
    .into())
}

/// True if `root` holds anything in a date-named incremental subdirectory.
async fn has_incrementals(env: &Env, root: &str) -> Result<bool, BackupError> {
    let (_, storage) = location::open(env, root)?;
    let listed = match retrying(env, || storage.list("")).await {
        Ok(listed) => listed,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    Ok(listed.iter().any(|p| {
        let mut parts = p.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(day), Some(time), Some(_)) => crate::chain::subdir_time(&format!("{day}/{time}")).is_some(),
            _ => false,
        }
    }))
}

/// A chain of a collection, read: the full backup `which` names and its incrementals, with the
/// cipher and the subdirectory (for messages). Not validated: the caller does, as for a chain
/// named by its locations.
pub async fn read_chain(
    env: &Env,
    collection: &str,
    which: &InCollection,
    passphrase: Option<&Secret>,
) -> Result<(Vec<Layer>, FileCipher, String), BackupError> {
    let subdir = resolve(env, collection, which).await?;
    let root = incrementals_root(env, collection, &subdir).await?;
    let (layers, cipher) = crate::chain::read_rooted(env, &full_location(collection, &subdir), &root, passphrase).await?;
    Ok((layers, cipher, subdir))
}

/// What a full backup into a collection does once its manifest is written: make LATEST name
/// it. Part of the job's payload, so a node that adopts the job does it too.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatestUpdate {
    /// The collection (credentials kept: never printed).
    pub collection: String,
    /// The full backup's subdirectory, with its leading `/`.
    pub subdir: String,
}

/// Where a `BACKUP … INTO` goes, decided at planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A new full backup at `location`, the collection's `subdir`.
    Full {
        /// The new full backup's location (credentials kept).
        location: String,
        /// Its subdirectory, for LATEST.
        subdir: String,
    },
    /// An incremental onto the chain of the full backup at `full`, whose incrementals (their
    /// locks and claims) are under `root`.
    Incremental {
        /// The chain's full backup.
        full: String,
        /// Where its incrementals are.
        root: String,
        /// The full backup's subdirectory (for messages).
        subdir: String,
    },
}

/// Resolves a `BACKUP … INTO` of `collection` ending at `end`: a new full backup's subdirectory
/// (refused if a backup is already there), or the chain `LATEST IN` / `'subdir' IN` names
/// (refused if no full backup is there, in CockroachDB v22.2's words).
pub async fn plan_destination(env: &Env, collection: &str, into: &BackupInto, end: Timestamp) -> Result<Destination, BackupError> {
    let (url, _) = location::open(env, collection)?;
    let shown = url.redacted();
    match into {
        BackupInto::NewFull => {
            let subdir = full_subdir_name(end);
            let at = full_location(collection, &subdir);
            let (at_url, storage) = location::open(env, &at)?;
            if retrying(env, || storage.exists(MANIFEST_NAME)).await? {
                return Err(CollectionError::FullExists { location: at_url.redacted(), subdir, collection: shown }.into());
            }
            Ok(Destination::Full { location: at, subdir })
        }
        BackupInto::Chain(which) => {
            let subdir = resolve(env, collection, which).await?;
            let full = full_location(collection, &subdir);
            let (_, storage) = location::open(env, &full)?;
            if !retrying(env, || storage.exists(MANIFEST_NAME)).await? {
                return Err(CollectionError::NoFullInSubdir { subdir, collection: shown }.into());
            }
            let root = incrementals_root(env, collection, &subdir).await?;
            Ok(Destination::Incremental { full, root, subdir })
        }
    }
}

/// The hint a refusal to append to a chain of other targets carries: the newest full backup of
/// the collection backing up `targets` (as [`crate::targets::describe_targets`] prints them),
/// to append to instead, or how to start one. Two schedules of different targets sharing a
/// collection move LATEST under each other (a CockroachDB bug): this says where each one's
/// chain is, rather than letting either write onto the other's.
pub async fn targets_hint(env: &Env, collection: &str, targets: &str, passphrase: Option<&Secret>) -> String {
    let shown = crate::storage::url::redact_location(collection);
    let fulls = list_full_backups(env, collection).await.unwrap_or_default();
    for subdir in fulls.iter().rev() {
        let at = full_location(collection, subdir);
        let Ok((layers, _)) = crate::chain::read_chain(env, std::slice::from_ref(&at), passphrase).await else { continue };
        if layers.first().is_some_and(|l| l.manifest.targets_description == targets) {
            return format!(". The newest full backup of {targets} in the collection is {subdir}: append to it with BACKUP … INTO '{subdir}' IN '{shown}'");
        }
    }
    format!(". The collection holds no full backup of {targets}: take one with BACKUP … INTO '{shown}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_subdirs_are_dated_and_read_back() {
        // 2020-03-27 10:00:09.36 UTC.
        let t = Timestamp { wall: 1_585_303_209_360_000_000, logical: 0 };
        let name = full_subdir_name(t);
        assert_eq!(name, "/2020/03/27-100009.360000000");
        assert!(is_full_subdir(name.trim_start_matches('/')));
        assert!(is_full_subdir("2020/03/27-100009.36"), "CockroachDB's own names");
        assert!(!is_full_subdir("2020/03/27"));
        assert!(!is_full_subdir("20200327/100009.36"));
        assert_eq!(full_subdir_name(Timestamp { logical: 3, ..t }), "/2020/03/27-100009.360000000_3");
    }

    #[test]
    fn latest_names_sort_newest_first() {
        let a = latest_file_name(Timestamp { wall: 5, logical: 0 });
        let b = latest_file_name(Timestamp { wall: 5, logical: 1 });
        let c = latest_file_name(Timestamp { wall: 6, logical: 0 });
        assert!(c < b && b < a, "{a} {b} {c}");
        assert!(a.starts_with("metadata/latest/LATEST-"));
    }

    #[test]
    fn subdirs_are_checked_and_spelt_with_a_slash() {
        assert_eq!(normalize_subdir("2020/03/27-100009.36").unwrap(), "/2020/03/27-100009.36");
        assert_eq!(normalize_subdir("/x/y/").unwrap(), "/x/y");
        for bad in ["", "/", "../x", "a/../b", "a//b", "a?b=1", "incrementals/2020", "metadata/latest"] {
            assert!(normalize_subdir(bad).is_err(), "{bad:?}");
        }
    }
}
