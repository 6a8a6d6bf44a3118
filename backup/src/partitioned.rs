//! A locality-aware ("partitioned") backup's other destinations: where BACKUP sends the files of
//! the nodes of each locality, and where RESTORE and SHOW BACKUP find them again.
//!
//! BACKUP `TO ('…?COCKROACH_LOCALITY=default', '…?COCKROACH_LOCALITY=region%3Dus-west')`: the
//! default URL is the backup's location as for any backup (manifest, checkpoint, lock,
//! `ENCRYPTION-INFO`, and the files of nodes no other URL matches); each other URL receives the
//! files exported by nodes whose locality has its tier ([`crate::locality::Locality::pick`]),
//! and a partition descriptor `BACKUP_PART_<n>_<locality>` listing them. The manifest lists
//! every file with its locality and the partitions in order, so RESTORE knows which
//! descriptors it must find among the URLs it is given (CockroachDB's
//! `getBackupLocalityInfo`): it may be given them in any order, moved elsewhere, as long as
//! each descriptor is found under one of them.
//!
//! An incremental of a locality-aware backup goes to the same subdirectory of every URL (an
//! automatic incremental's date-named one, as CockroachDB's `getURIsByLocalityKV(to,
//! partName)`); `INCREMENTAL FROM` names only the default URLs of the backups it builds on,
//! whose manifests are all planning needs. RESTORE of such a chain takes each member's list,
//! or one list for an automatic chain, whose members' partitions are then found in the same
//! subdirectories of the list's other URLs.
//!
//! What this module must never do: name a URL with its credentials (every message uses the
//! redacted form), or take a partition descriptor of another backup for this one's.

use crate::chain::{Layer, PartitionStore};
use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::FileInfo;
use crate::format::partition::PartitionDescriptor;
use crate::locality::{partition_file_name, DestinationError, Destinations};
use crate::retry::{read_retrying, retrying};
use crate::storage::url::{redact_location, NodelocalTarget, StorageUrl};
use crate::storage::ExternalStorage;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// One locality's destination of a BACKUP job, in its payload.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDestination {
    /// The locality tier (`region=us-west`).
    pub locality: String,
    /// Where its files go, credentials included (never printed).
    pub location: String,
}

impl fmt::Debug for PartitionDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.locality, redact_location(&self.location))
    }
}

impl PartitionDestination {
    /// Its partition descriptor's file name, as the `n`th partition (from 1).
    pub fn file_name(&self, n: usize) -> String {
        partition_file_name(n, &self.locality)
    }
}

/// The partitions of a BACKUP whose statement gave `dests` and whose files go to `target` (the
/// default URL itself, or a subdirectory of it: an automatic incremental's, a collection's):
/// each other URL with the same subdirectory, `nodelocal://self` pinned to `node` as the default
/// is. Refused when a partition's destination already holds a partition descriptor of that
/// name (another locality-aware backup's, which this one's would replace).
pub async fn plan(env: &Env, dests: &Destinations, target: &str) -> Result<Vec<PartitionDestination>, BackupError> {
    if !dests.is_partitioned() {
        return Ok(Vec::new());
    }
    let suffix =
        subdir_of(&dests.default, target).ok_or(BackupError::NotSupportedYet("a locality-aware BACKUP whose location is not under its default URL"))?;
    let mut out = Vec::new();
    for (n, (locality, url)) in dests.by_locality.iter().enumerate() {
        let location = if suffix.is_empty() { url.clone() } else { crate::location::join(url, &suffix) };
        let location = pin_self(&location, env.node());
        let p = PartitionDestination { locality: locality.clone(), location };
        let (parsed, storage) = crate::location::open(env, &p.location)?;
        let file = p.file_name(n + 1);
        if retrying(env, || storage.exists(&file)).await? {
            return Err(DestinationError::PartitionExists { url: parsed.redacted(), file }.into());
        }
        out.push(p);
    }
    Ok(out)
}

/// `nodelocal://self/…` as `nodelocal://<node>/…`: a node adopting the job later writes where
/// the gateway would have.
fn pin_self(location: &str, node: model::NodeId) -> String {
    match StorageUrl::parse(location).ok().and_then(|u| u.nodelocal_target()) {
        Some(NodelocalTarget::SelfNode) => location.replacen("nodelocal://self", &format!("nodelocal://{node}"), 1),
        _ => location.to_string(),
    }
}

/// The path of `target` below `base` (`""` when they are the same place), or `None` when
/// `target` is not under `base`.
fn subdir_of(base: &str, target: &str) -> Option<String> {
    let (b, t) = (StorageUrl::parse(base).ok()?, StorageUrl::parse(target).ok()?);
    if b.scheme() != t.scheme() {
        return None;
    }
    let (bp, tp) = (b.path().trim_matches('/'), t.path().trim_matches('/'));
    if bp == tp {
        return Some(String::new());
    }
    let rest = if bp.is_empty() { Some(tp) } else { tp.strip_prefix(bp).and_then(|r| r.strip_prefix('/')) };
    rest.map(str::to_string)
}

/// A BACKUP job's open sinks: the default destination and each partition's, opened once per run.
pub struct Sinks {
    /// The default destination.
    pub default: Arc<dyn ExternalStorage>,
    /// Each partition's locality, destination and storage, in the statement's order.
    pub partitions: Vec<(String, String, Arc<dyn ExternalStorage>)>,
}

impl Sinks {
    /// Opens every partition's destination.
    pub fn open(env: &Env, default: Arc<dyn ExternalStorage>, partitions: &[PartitionDestination]) -> Result<Sinks, BackupError> {
        let mut out = Vec::new();
        for p in partitions {
            let (_, storage) = crate::location::open(env, &p.location)?;
            out.push((p.locality.clone(), p.location.clone(), storage));
        }
        Ok(Sinks { default, partitions: out })
    }

    /// Where a file exported by a node of locality `tiers` goes: the partition of its most
    /// specific tier that has one, or the default (`None`).
    pub fn pick(&self, tiers: &[(String, String)]) -> (Arc<dyn ExternalStorage>, Option<String>) {
        let by: Vec<(String, String)> = self.partitions.iter().map(|(l, loc, _)| (l.clone(), loc.clone())).collect();
        let node = crate::locality::Locality { tiers: tiers.to_vec() };
        match node.pick(&by) {
            Some((locality, _)) => {
                let storage = self.partitions.iter().find(|(l, _, _)| l == locality).map(|(_, _, s)| s.clone()).unwrap_or_else(|| self.default.clone());
                (storage, Some(locality.clone()))
            }
            None => (self.default.clone(), None),
        }
    }
}

/// Writes each partition's descriptor (the files of `files` the backup sent there) before
/// the manifest: a manifest is only ever published once every partition it names can be found.
pub async fn write_descriptors(
    env: &Env,
    backup_id: &str,
    partitions: &[PartitionDestination],
    files: &[FileInfo],
    cipher: &FileCipher,
) -> Result<(), BackupError> {
    for (n, p) in partitions.iter().enumerate() {
        let desc = PartitionDescriptor {
            backup_id: backup_id.to_string(),
            locality: p.locality.clone(),
            files: files.iter().filter(|f| f.locality.as_deref() == Some(p.locality.as_str())).map(|f| f.path.clone()).collect(),
        };
        let (_, storage) = crate::location::open(env, &p.location)?;
        let name = p.file_name(n + 1);
        let sealed = cipher.seal(&*env.runtime, &name, desc.encode())?;
        retrying(env, || storage.write(&name, sealed.clone())).await?;
    }
    Ok(())
}

/// Finds every partition the layers' manifests name among the URLs given with them, and
/// attaches it to its layer. `others[i]` are the URLs given with layer `i`'s default URL; a
/// single list (`others.len() == 1`) serves a whole automatic chain, each member's partitions
/// then being in that member's subdirectory of each URL. Refused, naming the descriptor and its
/// locality, when one is not found (CockroachDB: "expected manifest … not found in backup
/// locations"), or when what is found belongs to another backup.
pub async fn attach(env: &Env, layers: &mut [Layer], others: &[Vec<String>], cipher: &FileCipher) -> Result<(), BackupError> {
    let root = layers.first().map(|l| l.location.clone()).unwrap_or_default();
    for (i, layer) in layers.iter_mut().enumerate() {
        if layer.manifest.partitions.is_empty() {
            continue;
        }
        let candidates: Vec<String> = match others {
            [] => Vec::new(),
            [one] if i > 0 => {
                let sub = subdir_of(&root, &layer.location).unwrap_or_default();
                one.iter().map(|u| if sub.is_empty() { u.clone() } else { crate::location::join(u, &sub) }).collect()
            }
            many => many.get(i).cloned().unwrap_or_default(),
        };
        // The default URL may hold a partition's files too (a backup whose directories were
        // consolidated into one), so it is searched last.
        let mut search = candidates.clone();
        search.push(layer.location.clone());
        let mut found = Vec::new();
        for (n, locality) in layer.manifest.partitions.iter().enumerate() {
            let name = partition_file_name(n + 1, locality);
            let mut hit = None;
            for location in &search {
                let (url, storage) = crate::location::open(env, location)?;
                let shown = url.redacted();
                let bytes = match read_retrying(env, &*storage, &name).await {
                    Ok(b) => b,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                };
                let path = crate::location::join(&shown, &name);
                let desc = PartitionDescriptor::decode(&path, &cipher.open(&path, bytes)?)?;
                if desc.backup_id != layer.manifest.backup_id {
                    return Err(BackupError::NotABackup {
                        url: shown,
                        reason: format!(
                            "expected backup part to have backup ID {}, found {} ({name} belongs to another backup)",
                            layer.manifest.backup_id, desc.backup_id
                        ),
                    });
                }
                hit = Some(PartitionStore { locality: locality.clone(), location: location.clone(), shown, storage });
                break;
            }
            match hit {
                Some(p) => found.push(p),
                None => {
                    return Err(BackupError::MissingPartition {
                        file: name,
                        locality: locality.clone(),
                        backup: layer.shown.clone(),
                        searched: search.iter().map(|l| redact_location(l)).collect::<Vec<_>>().join(", "),
                    })
                }
            }
        }
        layer.partitions = found;
    }
    Ok(())
}

/// The URLs given with each layer besides its default one, as a job's payload keeps them.
pub fn payload(layers: &[Layer]) -> Vec<Vec<(String, String)>> {
    layers.iter().map(|l| l.partitions.iter().map(|p| (p.locality.clone(), p.location.clone())).collect()).collect()
}

/// Opens a layer's partitions again from a job's payload (an adopting node's restore).
pub fn reopen(env: &Env, partitions: &[(String, String)]) -> Result<Vec<PartitionStore>, BackupError> {
    partitions
        .iter()
        .map(|(locality, location)| {
            let (url, storage) = crate::location::open(env, location)?;
            Ok(PartitionStore { locality: locality.clone(), location: location.clone(), shown: url.redacted(), storage })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_under_the_default_url_gives_its_subdirectory() {
        assert_eq!(subdir_of("nodelocal://1/a", "nodelocal://1/a").as_deref(), Some(""));
        assert_eq!(subdir_of("nodelocal://1/a", "nodelocal://1/a/20240101/101010.00").as_deref(), Some("20240101/101010.00"));
        assert_eq!(subdir_of("nodelocal://self/a", "nodelocal://2/a/x").as_deref(), Some("x"));
        assert_eq!(subdir_of("nodelocal://1/a", "nodelocal://1/ab"), None);
        assert_eq!(subdir_of("s3://b?AUTH=implicit", "s3://b/x?AUTH=implicit").as_deref(), Some("x"));
    }
}
