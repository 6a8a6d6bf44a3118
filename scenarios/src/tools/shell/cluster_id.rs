//! The shell's cluster id: what the manifests of its backups name as their cluster. A backup
//! chain is refused across clusters, and every shell process starts a new in-memory cluster, so
//! without a stable id a later session could RESTORE an earlier session's backup but never add
//! an incremental to it. The id is therefore kept with the backups it belongs to: in a small file
//! inside the external-io directory, created once with a random id (the OS's generator, never
//! the clock), or given with `--cluster-id`.
//!
//! One id is one live cluster: a shell holds an exclusive lock on the id file for as long as it
//! runs. Two shells running at once on one directory are two clusters with two histories; had
//! they shared the id, each could append incrementals to the other's backups, exporting only its
//! own changes since the other's end time (a restore would then mix the two clusters' rows). A
//! second shell therefore gets an id of its own while the first runs, and says so.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file inside the external-io directory that holds the id.
pub const ID_FILE: &str = ".backup-sim-cluster-id";

/// Longest accepted id: a manifest field, a prompt banner, an error text; never a blob.
const MAX_LEN: usize = 128;

/// Why no cluster id could be settled on.
#[derive(Debug, thiserror::Error)]
pub enum ClusterIdError {
    /// `--cluster-id` is not an acceptable id.
    #[error("invalid --cluster-id {shown}: {reason}")]
    InvalidFlag {
        /// The value, quoted and cut short for printing.
        shown: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The id file exists but does not hold an acceptable id: using another id would silently
    /// split the backups' chains, so the shell stops instead.
    #[error("the cluster id file {path} does not hold a valid id ({reason}): fix or delete it, or pass --cluster-id", path = path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: &'static str,
    },
    /// The id file exists but cannot be read.
    #[error("cannot read the cluster id file {path}: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The id file could not be created (a read-only or missing directory).
    #[error("cannot record the cluster id in {path}: {source}", path = path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the session's id came from: the banner says it, so that a user who expects a chain to
/// continue can see why it will or will not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--cluster-id`.
    Flag,
    /// Read from the id file an earlier session created.
    File(PathBuf),
    /// Generated now and recorded in the id file for later sessions.
    Created(PathBuf),
    /// Generated now for this session only (no external-io directory to keep it in).
    SessionOnly,
    /// Generated now for this session only, because another running shell holds the id in this
    /// file.
    Busy(PathBuf),
}

/// The lock a shell holds on the id file while it runs (released when dropped, or when the
/// process ends however it ends).
#[derive(Debug)]
pub struct IdLock(#[allow(dead_code)] std::fs::File);

/// Checks an id: 1 to 128 characters of letters, digits, `-`, `_` and `.` (a UUID fits), so that
/// it prints safely everywhere a manifest's cluster id is shown.
pub fn check(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("it is empty");
    }
    if id.len() > MAX_LEN {
        return Err("it is longer than 128 characters");
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

/// A random version-4 UUID in its usual text form, from 16 bytes of `random`.
pub fn generate(random: impl FnOnce(&mut [u8])) -> String {
    let mut b = [0u8; 16];
    random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn shown(value: &str) -> String {
    let cut: String = value.chars().take(40).collect();
    if cut.len() < value.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// The session's id: `flag` if given; else the one recorded in `dir`'s id file, creating the
/// file (and `dir`) with a fresh id the first time, and locked for this session (while another
/// running shell holds it, a fresh id for this session only); else, with no directory, a fresh
/// id for this session only. `random` fills the bytes of a fresh id.
pub fn resolve(flag: Option<&str>, dir: Option<&Path>, random: impl FnOnce(&mut [u8])) -> Result<(String, Origin, Option<IdLock>), ClusterIdError> {
    if let Some(id) = flag {
        check(id).map_err(|reason| ClusterIdError::InvalidFlag { shown: shown(id), reason })?;
        return Ok((id.to_string(), Origin::Flag, None));
    }
    let Some(dir) = dir else { return Ok((generate(random), Origin::SessionOnly, None)) };
    let path = dir.join(ID_FILE);
    let fresh = generate(random);
    let (id, origin) = match read(&path)? {
        Some(id) => (id, Origin::File(path.clone())),
        None => match create(dir, &path, &fresh) {
            Ok(true) => (fresh.clone(), Origin::Created(path.clone())),
            // Another shell created it first: its id is the directory's.
            Ok(false) => {
                (read(&path)?.ok_or(ClusterIdError::Corrupt { path: path.clone(), reason: "it vanished while being read" })?, Origin::File(path.clone()))
            }
            Err(source) => return Err(ClusterIdError::Write { path, source }),
        },
    };
    let file = std::fs::File::open(&path).map_err(|source| ClusterIdError::Read { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok((id, origin, Some(IdLock(file)))),
        Err(std::fs::TryLockError::WouldBlock) => Ok((fresh, Origin::Busy(path), None)),
        Err(std::fs::TryLockError::Error(source)) => Err(ClusterIdError::Read { path, source }),
    }
}

/// The id in `path`, or `None` if there is no such file.
fn read(path: &Path) -> Result<Option<String>, ClusterIdError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        // No file, or no directory to hold one (creating it will say why).
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => return Ok(None),
        Err(source) => return Err(ClusterIdError::Read { path: path.to_path_buf(), source }),
    };
    let text = String::from_utf8(bytes).map_err(|_| ClusterIdError::Corrupt { path: path.to_path_buf(), reason: "it is not UTF-8 text" })?;
    let id = text.trim();
    check(id).map_err(|reason| ClusterIdError::Corrupt { path: path.to_path_buf(), reason })?;
    Ok(Some(id.to_string()))
}

/// Writes `id` to `path` whole or not at all: to a temporary file first, then linked into place
/// (which fails if the file appeared meanwhile, so two shells starting at once agree on one id).
/// Returns false if the file already existed.
fn create(dir: &Path, path: &Path, id: &str) -> std::io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{ID_FILE}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{id}\n").as_bytes())?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        Dir(std::env::temp_dir().join(format!("backup-sim-cluster-id-{name}-{}", std::process::id())))
    }
    fn bytes(v: u8) -> impl FnOnce(&mut [u8]) {
        move |b: &mut [u8]| b.fill(v)
    }

    #[test]
    fn generated_ids_are_v4_uuids_of_the_given_bytes() {
        assert_eq!(generate(bytes(0xff)), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(generate(bytes(0)), "00000000-0000-4000-8000-000000000000");
        assert!(check(&generate(bytes(7))).is_ok());
    }

    #[test]
    fn the_file_is_created_once_and_then_read() {
        let d = dir("once");
        let ext = d.0.join("extern");
        let (a, origin, lock) = resolve(None, Some(&ext), bytes(1)).unwrap();
        assert_eq!(origin, Origin::Created(ext.join(ID_FILE)));
        assert!(lock.is_some());
        // While that session runs, another gets an id of its own: one id, one live cluster.
        let (busy, origin, none) = resolve(None, Some(&ext), bytes(5)).unwrap();
        assert_eq!((origin, none.is_none()), (Origin::Busy(ext.join(ID_FILE)), true));
        assert_ne!(busy, a);
        drop(lock);
        let (b, origin, _lock) = resolve(None, Some(&ext), bytes(2)).unwrap();
        assert_eq!((b, origin), (a.clone(), Origin::File(ext.join(ID_FILE))));
        // The flag wins over the file; no directory means a session-only id.
        let (flag, origin, _) = resolve(Some("prod-1"), Some(&ext), bytes(3)).unwrap();
        assert_eq!((flag.as_str(), origin), ("prod-1", Origin::Flag));
        let (c, origin, _) = resolve(None, None, bytes(4)).unwrap();
        assert_eq!(origin, Origin::SessionOnly);
        assert_ne!(c, a);
    }

    #[test]
    fn bad_ids_are_refused_with_the_reason() {
        let e = resolve(Some("a b"), None, bytes(0)).unwrap_err().to_string();
        assert!(e.contains("\"a b\"") && e.contains("only letters"), "{e}");
        assert!(resolve(Some(""), None, bytes(0)).unwrap_err().to_string().contains("empty"));
        let d = dir("corrupt");
        std::fs::create_dir_all(&d.0).unwrap();
        std::fs::write(d.0.join(ID_FILE), "not an id!\n").unwrap();
        let e = resolve(None, Some(&d.0), bytes(0)).unwrap_err().to_string();
        assert!(e.contains(ID_FILE) && e.contains("fix or delete it"), "{e}");
        std::fs::write(d.0.join(ID_FILE), [0xff, 0xfe]).unwrap();
        assert!(resolve(None, Some(&d.0), bytes(0)).unwrap_err().to_string().contains("not UTF-8"));
    }

    #[test]
    fn an_unwritable_directory_is_an_error_not_a_silent_fresh_id() {
        let d = dir("unwritable");
        std::fs::write(&d.0, "a file where the directory should be").unwrap();
        let e = resolve(None, Some(&d.0.join("extern")), bytes(0)).unwrap_err();
        assert!(matches!(e, ClusterIdError::Write { .. }), "{e}");
        let _ = std::fs::remove_file(&d.0);
    }
}
