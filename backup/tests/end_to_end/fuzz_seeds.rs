//! The seed files of the fuzz targets (`fuzz/seeds/<target>/`): real files of real
//! backups, made here in process by the real job — a backup of two databases, a full cluster
//! backup with revision history and an incremental on top of it (introduced spans, descriptor
//! changes), an encrypted backup, and a backup paused mid-way (its `BACKUP-CHECKPOINT`).
//!
//! The payload targets (`manifest`, `checkpoint`, `data_file`, `encryption_info`) get the
//! payloads (the bytes between the envelope's header and CRC), since they frame their input
//! themselves; `envelope` gets whole files; `crypto_open` gets a mode byte followed by sealed
//! files (even) or by an IV, a position and a plaintext to seal (odd).
//!
//! This test checks that every committed seed is still a file this build reads: seeds that no
//! longer decode would leave the fuzzer starting from nothing. After a change to the format,
//! rewrite them with `BACKUP_FUZZ_WRITE_SEEDS=1 cargo test -p backup --test fuzz_seeds`.

use crate::common::*;
use backup::crypto::{self, EncryptionInfo};
use backup::format::envelope::frame;
use backup::format::{peek_kind, Checkpoint, DataFile, FileKind, Manifest, FORMAT_VERSION};
use backup::storage::MemStorageProvider;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const WRITE: &str = "BACKUP_FUZZ_WRITE_SEEDS";

/// The seed directory of a target.
fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds").join(target)
}

/// The targets whose seeds this test makes.
const TARGETS: [&str; 6] = ["envelope", "manifest", "checkpoint", "data_file", "encryption_info", "crypto_open"];

/// The payload of a whole file (between the 19-byte header and the 4-byte CRC).
fn payload(file: &[u8]) -> Vec<u8> {
    file[19..file.len() - 4].to_vec()
}

/// Every object at a location, sorted by name.
fn objects(c: &Cluster, loc: &str) -> Vec<(String, Vec<u8>)> {
    let store = c.store(loc);
    store.snapshot().into_keys().map(|k| (k.clone(), read_obj(&store, &k))).collect()
}

/// The first `n` data files at a location.
fn data_files(c: &Cluster, loc: &str, n: usize) -> Vec<Vec<u8>> {
    objects(c, loc).into_iter().filter(|(k, _)| k.starts_with("data/")).take(n).map(|(_, b)| b).collect()
}

fn object(c: &Cluster, loc: &str, name: &str) -> Vec<u8> {
    read_obj(&c.store(loc), name)
}

/// The seeds, by target and file name, from backups made now.
fn make_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    c.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/dbs'");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP TO 'nodelocal://1/rev' WITH revision_history");
    c.advance(Duration::from_secs(1));
    c.sql("UPDATE bank.accounts SET balance = balance + 1 WHERE id = 1; CREATE TABLE bank.late (id INT PRIMARY KEY, v STRING); INSERT INTO bank.late VALUES (1, 'one'); DROP TABLE bank.transfers");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP TO 'nodelocal://1/rev-inc' INCREMENTAL FROM 'nodelocal://1/rev' WITH revision_history");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/enc' WITH encryption_passphrase = 'fuzz-seeds'");
    control_mid_backup(&c, 2, &["PAUSE JOB {id}"]);
    let _ = c.exec("BACKUP DATABASE bank TO 'nodelocal://1/paused'");
    c.kv.clear_hook();

    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| seeds.push((target, name.to_string(), bytes));
    let dbs = object(&c, "nodelocal://1/dbs", "BACKUP");
    let rev = object(&c, "nodelocal://1/rev", "BACKUP");
    let inc = object(&c, "nodelocal://1/rev-inc", "BACKUP");
    let checkpoint = object(&c, "nodelocal://1/paused", "BACKUP-CHECKPOINT");
    let info = object(&c, "nodelocal://1/enc", "ENCRYPTION-INFO");
    let data = data_files(&c, "nodelocal://1/dbs", 3);
    let rev_data = data_files(&c, "nodelocal://1/rev-inc", 2);
    for (name, file) in
        [("databases-BACKUP", &dbs), ("incremental-BACKUP", &inc), ("BACKUP-CHECKPOINT", &checkpoint), ("ENCRYPTION-INFO", &info), ("data", &data[0])]
    {
        add("envelope", name, file.clone());
    }
    for (name, file) in [("databases", &dbs), ("cluster-revision-history", &rev), ("cluster-incremental", &inc)] {
        add("manifest", name, payload(file));
    }
    add("checkpoint", "paused", payload(&checkpoint));
    for (i, file) in data.iter().enumerate() {
        add("data_file", &format!("databases-{i}"), payload(file));
    }
    for (i, file) in rev_data.iter().enumerate() {
        add("data_file", &format!("revisions-{i}"), payload(file));
    }
    add("encryption_info", "info", payload(&info));
    let sealed_manifest = object(&c, "nodelocal://1/enc", "BACKUP");
    let sealed_data = data_files(&c, "nodelocal://1/enc", 1).remove(0);
    for (name, file) in [("sealed-BACKUP", &sealed_manifest), ("sealed-data", &sealed_data)] {
        add("crypto_open", name, [&[0u8][..], file].concat());
    }
    // Mode 1: IV, position, then a plaintext (a data file's bytes) to seal and open.
    add("crypto_open", "seal-data", [&[1u8][..], &[7; 12], &[40, 0, 0, 0], &data[0]].concat());
    // Mode 3: the same, stretched past one 64 KiB chunk.
    add("crypto_open", "seal-stretched", [&[3u8][..], &[9; 12], &[41, 1, 0, 0], &data[1]].concat());
    seeds
}

/// Checks that `bytes`, a seed of `target`, is what the target's decoder reads.
fn check_seed(target: &str, name: &str, bytes: &[u8]) -> Result<(), String> {
    let what = format!("{target}/{name}");
    let e = |e: &dyn std::fmt::Display| format!("{what}: {e}");
    match target {
        "envelope" => match peek_kind(&what, bytes).map_err(|x| e(&x))? {
            FileKind::Manifest => Manifest::decode(&what, bytes).map(drop),
            FileKind::Checkpoint => Checkpoint::decode(&what, bytes).map(drop),
            FileKind::Data => DataFile::decode(&what, bytes).map(drop),
            FileKind::EncryptionInfo => EncryptionInfo::decode(&what, bytes).map(drop),
            FileKind::Partition => backup::format::partition::PartitionDescriptor::decode(&what, bytes).map(drop),
        }
        .map_err(|x| e(&x)),
        "manifest" => Manifest::decode(&what, &frame(FileKind::Manifest.to_byte(), FORMAT_VERSION, bytes)).map(drop).map_err(|x| e(&x)),
        "checkpoint" => Checkpoint::decode(&what, &frame(FileKind::Checkpoint.to_byte(), FORMAT_VERSION, bytes)).map(drop).map_err(|x| e(&x)),
        "data_file" => DataFile::decode(&what, &frame(FileKind::Data.to_byte(), FORMAT_VERSION, bytes)).map(drop).map_err(|x| e(&x)),
        "encryption_info" => EncryptionInfo::decode(&what, &frame(FileKind::EncryptionInfo.to_byte(), FORMAT_VERSION, bytes)).map(drop).map_err(|x| e(&x)),
        "crypto_open" => match bytes.split_first() {
            Some((mode, rest)) if mode % 2 == 0 && crypto::appears_encrypted(rest) => Ok(()),
            Some((mode, rest)) if mode % 2 == 1 && rest.len() >= 16 => Ok(()),
            _ => Err(format!("{what}: neither a sealed file nor an IV, position and plaintext")),
        },
        _ => Err(format!("{what}: no such target")),
    }
}

#[test]
fn fuzz_seeds_are_files_this_build_reads() {
    if std::env::var_os(WRITE).is_some() {
        for target in TARGETS {
            let d = dir(target);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
        }
        for (target, name, bytes) in make_seeds() {
            std::fs::write(dir(target).join(name), bytes).unwrap();
        }
    }
    let mut problems = Vec::new();
    for target in TARGETS {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir(target)).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        entries.sort();
        if entries.is_empty() {
            problems.push(format!("{target}: no seeds in {}", dir(target).display()));
        }
        for path in entries {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if let Err(p) = check_seed(target, &name, &std::fs::read(&path).unwrap()) {
                problems.push(p);
            }
        }
    }
    assert!(problems.is_empty(), "stale fuzz seeds (rewrite them with {WRITE}=1 cargo test -p backup --test fuzz_seeds):\n{}", problems.join("\n"));
}

#[test]
fn fresh_seeds_pass_the_check() {
    let seeds = make_seeds();
    for target in TARGETS {
        assert!(seeds.iter().any(|(t, _, _)| *t == target), "no seed made for {target}");
    }
    for (target, name, bytes) in &seeds {
        check_seed(target, name, bytes).unwrap();
    }
}
