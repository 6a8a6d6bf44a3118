//! End-to-end, in-process: `WITH encryption_passphrase` on BACKUP, RESTORE and SHOW BACKUP.
//! An encrypted backup restores to exactly the source; a missing, wrong or superfluous
//! passphrase is refused in CockroachDB's words, naming the file, with nothing published; no
//! stored byte reveals a row; any changed byte of any stored file fails the restore naming
//! that file; `ENCRYPTION-INFO` is written once and never overwritten; a paused job resumes
//! encrypting from its encrypted checkpoint with only what its job record holds; and the
//! passphrase shows nowhere (SHOW JOBS, job records, errors, events).

use crate::common::*;
use backup::crypto::{self, EncryptionInfo};
use backup::format::Manifest;
use backup::jobs::{self, JobStatus};
use backup::statement::Secret;
use backup::storage::MemStorageProvider;
use futures::executor::block_on;
use model::kv::KvError;
use std::sync::Arc;
use std::time::Duration;

const PW: &str = "correct-horse-PASSPHRASE-7731";
/// In every row value of `bank.secrets`: searched for in the stored bytes.
const MARKER: &str = "ZEBRA-MARKER-9f1c";
const LOC: &str = "nodelocal://1/enc";
const TABLES: [(&str, &str); 6] =
    [("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers"), ("bank", "secrets"), ("employees", "staff")];

/// The bank cluster plus `bank.secrets`, whose values hold [`MARKER`].
fn source() -> Cluster {
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    c.sql(&format!(
        "CREATE TABLE bank.secrets (id INT PRIMARY KEY, v STRING); INSERT INTO bank.secrets VALUES (1, '{MARKER}-one'), (2, '{MARKER}-two'), (3, 'x{MARKER}')"
    ));
    c.advance(Duration::from_secs(1));
    c
}

fn backup_sql(loc: &str, pw: &str) -> String {
    format!("BACKUP DATABASE bank, employees TO '{loc}' WITH encryption_passphrase = '{pw}'")
}

/// Every object at a location, with its bytes.
fn objects(c: &Cluster, loc: &str) -> Vec<(String, Vec<u8>)> {
    let store = c.store(loc);
    store.snapshot().into_keys().filter(|k| !is_coordination_file(k)).map(|k| (k.clone(), read_obj(&store, &k))).collect()
}

/// Lock and claim files: plain JSON holding ids only, readable without the passphrase so that
/// anyone can tell whose they are, and never read by RESTORE (backup/src/lock.rs).
fn is_coordination_file(name: &str) -> bool {
    name == backup::lock::MANIFEST_CLAIM || name.starts_with(backup::lock::LOCK_PREFIX) || name.starts_with(backup::lock::APPEND_PREFIX)
}

/// The manifest of an encrypted backup, decrypted through the public API alone: the salt from
/// `ENCRYPTION-INFO`, the key from the passphrase, then the chunked format.
fn decrypted_manifest(c: &Cluster, loc: &str, pw: &str) -> Manifest {
    let store = c.store(loc);
    let info = EncryptionInfo::decode("ENCRYPTION-INFO", &read_obj(&store, "ENCRYPTION-INFO")).unwrap();
    let key = info.key("ENCRYPTION-INFO", &Secret::new(pw)).unwrap();
    let plain = crypto::open("BACKUP", &key, &read_obj(&store, "BACKUP")).unwrap();
    Manifest::decode("BACKUP", &plain).unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_encrypted_backup_restores_to_the_source_and_shows_with_its_passphrase() {
    let src = source();
    let (_, rows, index_entries, bytes) = result_row(&src.ok(&backup_sql(LOC, PW)));
    let m = decrypted_manifest(&src, LOC, PW);
    assert_eq!((m.entry_counts.rows as i64, m.entry_counts.index_entries as i64, m.entry_counts.data_size as i64), (rows, index_entries, bytes));
    let ids: Vec<u32> = TABLES.iter().map(|(d, t)| src.table_id(d, t)).collect();
    assert_eq!(expected_totals(&src, &ids, m.end_time), (rows, index_entries, bytes));
    // What is stored: ENCRYPTION-INFO in the envelope, everything else in the chunked format;
    // the checkpoint is gone.
    let stored = objects(&src, LOC);
    // The claim stays, plain: it names the job and the backup, never a secret.
    let claim = read_obj(&src.store(LOC), backup::lock::MANIFEST_CLAIM);
    assert!(claim.starts_with(b"{") && !String::from_utf8_lossy(&claim).contains(PW), "{}", String::from_utf8_lossy(&claim));
    let names: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"ENCRYPTION-INFO") && names.contains(&"BACKUP") && !names.contains(&"BACKUP-CHECKPOINT"), "{names:?}");
    assert_eq!(stored.iter().filter(|(k, _)| k.starts_with("data/")).count(), m.files.len());
    for (k, v) in &stored {
        if k == "ENCRYPTION-INFO" {
            assert!(v.starts_with(&backup::format::MAGIC), "{k}");
        } else {
            assert!(v.starts_with(b"encrypt\x02"), "{k} is encrypted");
        }
    }
    // SHOW BACKUP with the passphrase: the manifest's rows.
    let shown = src.ok(&format!("SHOW BACKUP '{LOC}' WITH encryption_passphrase = '{PW}'"));
    assert_eq!(shown, backup::show::backup_rows(&m, false));
    assert!(shown.render().contains("secrets"));
    // RESTORE on a fresh cluster: every relation as the source held it at the backup's time.
    let dst = src.fresh_destination();
    let (_, r_rows, r_index, r_bytes) = result_row(&dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{LOC}' WITH encryption_passphrase = '{PW}'")));
    assert_eq!((r_rows, r_index, r_bytes), (rows, index_entries, bytes));
    for (db, t) in TABLES {
        let want = src.read(db, t, m.end_time);
        let got = dst.read_now(db, t);
        assert_eq!((got.columns, got.rows), (want.columns, want.rows), "{db}.{t}");
    }
    // A table restore reads only what it needs, with the same key.
    let mut dst2 = src.fresh_destination();
    dst2.sql("CREATE DATABASE bank");
    dst2.ok(&format!("RESTORE TABLE bank.secrets FROM '{LOC}' WITH encryption_passphrase = '{PW}'"));
    assert_eq!(dst2.read_now("bank", "secrets").rows, src.read("bank", "secrets", m.end_time).rows);
}

#[test]
fn a_missing_wrong_or_superfluous_passphrase_is_refused_by_name_and_nothing_is_published() {
    let src = source();
    src.ok(&backup_sql(LOC, PW));
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/plain'");
    let dst = src.fresh_destination();
    let before = dst.catalog().databases().len();
    let appears = "nodelocal://1/enc/BACKUP: file appears encrypted -- try specifying one of \"encryption_passphrase\" or \"kms\"";
    let wrong = "nodelocal://1/enc/ENCRYPTION-INFO: failed to decrypt — maybe incorrect key";
    assert_eq!(dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}'")), appears);
    assert_eq!(dst.err(&format!("SHOW BACKUP '{LOC}'")), appears);
    assert_eq!(dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = 'nope'")), wrong);
    assert_eq!(dst.err(&format!("SHOW BACKUP '{LOC}' WITH encryption_passphrase = 'nope'")), wrong);
    assert_eq!(
        dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH encryption_passphrase = 'nope'"),
        "nodelocal://1/plain/BACKUP: file does not appear to be encrypted"
    );
    assert_eq!(
        dst.err("SHOW BACKUP 'nodelocal://1/plain' WITH encryption_passphrase = 'nope'"),
        "nodelocal://1/plain/BACKUP: file does not appear to be encrypted"
    );
    // Nothing published: no database, no relation.
    let cat = dst.catalog();
    assert_eq!(cat.databases().len(), before);
    assert!(cat.database_by_name("bank").is_none());
    // The wrong passphrase is told from ENCRYPTION-INFO alone, before any other file is read:
    // with the manifest and every data file gone, the answer is the same.
    let store = src.store(LOC);
    for (k, _) in objects(&src, LOC) {
        if k != "ENCRYPTION-INFO" {
            delete_obj(&store, &k);
        }
    }
    assert_eq!(dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = 'nope'")), wrong);
    // Refused while planned, before any job exists: no restore job was recorded.
    let restores = block_on(jobs::list(&*dst.local)).unwrap().into_iter().filter(|j| j.job_type == jobs::JobType::Restore).count();
    assert_eq!(restores, 0);
}

#[test]
fn a_backup_without_its_encryption_info_names_the_missing_file() {
    let src = source();
    src.ok(&backup_sql(LOC, PW));
    delete_obj(&src.store(LOC), "ENCRYPTION-INFO");
    let e = src.err(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = '{PW}'"));
    assert_eq!(e, "nodelocal://1/enc/ENCRYPTION-INFO: missing: the backup is encrypted and its key cannot be derived without this file");
    // An empty location is still "no backup", passphrase or not.
    let e = src.err(&format!("RESTORE DATABASE bank FROM 'nodelocal://1/empty' WITH encryption_passphrase = '{PW}'"));
    assert!(e.contains("no BACKUP manifest found"), "{e}");
}

#[test]
fn no_stored_byte_reveals_a_row_value_or_a_name() {
    let src = source();
    src.ok(&backup_sql(LOC, PW));
    let stored = objects(&src, LOC);
    assert!(stored.len() >= 3);
    for (k, v) in &stored {
        for needle in [MARKER, "secrets", "customers", "ann@bank", PW] {
            assert!(!contains(v, needle.as_bytes()), "{k} holds {needle:?}");
        }
    }
    // The same backup unencrypted does hold them: the search above can find what it looks for.
    src.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/plain'");
    let plain = objects(&src, "nodelocal://1/plain");
    assert!(plain.iter().any(|(_, v)| contains(v, MARKER.as_bytes())));
    assert!(plain.iter().any(|(_, v)| contains(v, b"secrets")));
}

#[test]
fn any_changed_byte_of_any_stored_file_fails_the_restore_naming_that_file() {
    let src = source();
    src.ok(&backup_sql(LOC, PW));
    let dst = src.fresh_destination();
    let store = src.store(LOC);
    let restore = format!("RESTORE DATABASE bank, employees FROM '{LOC}' WITH encryption_passphrase = '{PW}'");
    let mut tried = 0;
    for (name, original) in objects(&src, LOC) {
        let len = original.len();
        // The preamble, the version, the IV, the first ciphertext byte, the middle and the
        // final tag (for ENCRYPTION-INFO: its envelope's magic, kind, length, salt, payload and
        // checksum). Every byte of each kind of file is flipped in the unit tests of `crypto`;
        // each restore here pays a full key derivation.
        let mut positions = vec![0, 7, 8, 12, 20, len / 2, len - 1];
        positions.retain(|p| *p < len);
        positions.sort();
        positions.dedup();
        for i in positions {
            let mut b = original.clone();
            b[i] ^= 0x20;
            write_obj(&store, &name, b);
            // Job ids are the clock's microseconds: move it on between restores.
            dst.advance(Duration::from_millis(1));
            let e = dst.err(&restore);
            let path = format!("nodelocal://1/enc/{name}");
            assert!(e.starts_with(&format!("{path}: ")) || e.contains(&format!("{path}: ")), "byte {i} of {name}: {e}");
            tried += 1;
        }
        write_obj(&store, &name, original);
    }
    assert!(tried >= 40, "{tried}");
    assert!(dst.catalog().database_by_name("bank").is_none() && dst.catalog().database_by_name("employees").is_none(), "nothing published");
    // Intact again: it restores.
    dst.ok(&restore);
}

#[test]
fn encryption_info_is_written_once_per_chain_and_never_overwritten() {
    let src = source();
    let chain = "nodelocal://1/chain";
    // A first attempt whose job fails at its first export: planning wrote ENCRYPTION-INFO, and
    // nothing else is there.
    src.kv.set_hook(Box::new(|_, _| Box::pin(async { Some(KvError::Invalid("injected".into())) })));
    let e = src.err(&backup_sql(chain, PW));
    src.kv.clear_hook();
    assert!(e.contains("injected"), "{e}");
    let store = src.store(chain);
    assert_eq!(store.snapshot().into_keys().collect::<Vec<_>>(), vec!["ENCRYPTION-INFO".to_string()]);
    let info = read_obj(&store, "ENCRYPTION-INFO");
    let drawn = *src.runtime.random_bytes.lock().unwrap();
    assert_eq!(drawn, 16, "the salt only: no file was sealed");
    // Another passphrase for that chain is refused, and the file is untouched.
    assert_eq!(src.err(&backup_sql(chain, "another one")), "nodelocal://1/chain/ENCRYPTION-INFO: failed to decrypt — maybe incorrect key");
    assert_eq!(read_obj(&store, "ENCRYPTION-INFO"), info);
    // The same passphrase: the backup reuses the salt; the file is the very same bytes.
    src.ok(&backup_sql(chain, PW));
    assert_eq!(read_obj(&store, "ENCRYPTION-INFO"), info);
    // A backup into a subdirectory is a chain of its own, with its own salt; the parent's
    // file stays as it was.
    src.ok(&backup_sql("nodelocal://1/chain/sub", PW));
    assert_eq!(read_obj(&store, "ENCRYPTION-INFO"), info);
    let sub = read_obj(&src.store("nodelocal://1/chain/sub"), "ENCRYPTION-INFO");
    let salt = |b: &[u8]| EncryptionInfo::decode("f", b).unwrap().salt;
    assert_ne!(salt(&sub), salt(&info));
    // Both restore with the passphrase.
    for loc in [chain, "nodelocal://1/chain/sub"] {
        let dst = src.fresh_destination();
        dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}' WITH encryption_passphrase = '{PW}'"));
        assert_eq!(dst.read_now("bank", "secrets").rows.len(), 3);
    }
}

#[test]
fn a_paused_encrypted_backup_resumes_from_its_encrypted_checkpoint_with_the_key_its_job_holds() {
    let src = source();
    control_mid_backup(&src, 2, &["PAUSE JOB {id}"]);
    let e = src.err(&backup_sql(LOC, PW));
    src.kv.clear_hook();
    let id = block_on(jobs::list(&*src.local)).unwrap().into_iter().find(|j| j.job_type == jobs::JobType::Backup).unwrap().id;
    assert!(e.contains("was paused"), "{e}");
    let store = src.store(LOC);
    let files = store.snapshot();
    assert!(files.contains_key("BACKUP-CHECKPOINT") && !files.contains_key("BACKUP"), "{files:?}");
    assert!(read_obj(&store, "BACKUP-CHECKPOINT").starts_with(b"encrypt\x02"), "the checkpoint is encrypted");
    assert_eq!(files.keys().filter(|k| k.starts_with("data/")).count(), 2);
    // The job record holds the key (so any node can carry on), never the passphrase.
    let rec = block_on(jobs::load::<serde_json::Value>(&*src.local, id)).unwrap().unwrap();
    assert!(rec.payload["encryption"]["key"].is_array(), "{}", rec.payload["encryption"]);
    assert!(!rec.payload.to_string().contains(PW));
    // Resumed by a coordinator that knows only the job record: it reads the encrypted
    // checkpoint, keeps its two files, and seals the rest with the same key.
    src.ok(&format!("RESUME JOB {id}"));
    assert!(src.runtime.run_spawned() >= 1);
    let j = block_on(jobs::load::<serde_json::Value>(&*src.local, id)).unwrap().unwrap();
    assert_eq!(j.status, JobStatus::Succeeded, "{:?}", j.error);
    assert_eq!(src.log.named("job-resumed-from-checkpoint").len(), 1);
    let m = decrypted_manifest(&src, LOC, PW);
    assert_eq!(m.files.len(), 6, "one file per table with data");
    let dst = src.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{LOC}' WITH encryption_passphrase = '{PW}'"));
    for (db, t) in TABLES {
        assert_eq!(dst.read_now(db, t).rows, src.read(db, t, m.end_time).rows, "{db}.{t}");
    }
}

#[test]
fn the_passphrase_shows_nowhere() {
    let src = source();
    src.ok(&backup_sql(LOC, PW));
    let mut errors = vec![
        src.err(&format!("BACKUP DATABASE bank, employees TO '{LOC}' INCREMENTAL FROM '{LOC}' WITH encryption_passphrase = '{PW}'")),
        src.err(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = '{PW}-wrong'")),
        src.err(&format!("SHOW BACKUP 'nodelocal://1/none' WITH encryption_passphrase = '{PW}'")),
        src.err(&format!("BACKUP DATABASE nosuch TO 'nodelocal://1/x' WITH encryption_passphrase = '{PW}'")),
        src.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH encryption_passphrase = {PW}")),
    ];
    let dst = src.fresh_destination();
    errors.push(dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = 'x{PW}'")));
    dst.ok(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = '{PW}'"));
    for e in &errors {
        assert!(!e.contains(PW), "{e}");
    }
    for c in [&src, &dst] {
        let jobs_out = c.ok("SHOW JOBS").render();
        assert!(!jobs_out.contains(PW), "{jobs_out}");
        assert!(jobs_out.contains("encryption_passphrase = 'redacted'"), "{jobs_out}");
        for j in block_on(jobs::list(&*c.local)).unwrap() {
            let shown = format!("{j:?}");
            assert!(!shown.contains(PW), "{shown}");
            assert!(!j.payload.to_string().contains(PW));
        }
        // Not in the raw system.jobs rows either.
        for (_, v) in block_on(model::Kv::scan(&*c.local, &model::catalog::jobs_span(), c.now())).unwrap() {
            assert!(!contains(&v, PW.as_bytes()));
        }
        for (what, detail) in c.log.events.lock().unwrap().iter() {
            assert!(!what.contains(PW) && !detail.contains(PW), "{what}: {detail}");
        }
    }
    let backup_job = block_on(jobs::list(&*src.local)).unwrap().into_iter().find(|j| j.job_type == jobs::JobType::Backup).unwrap();
    assert_eq!(backup_job.description, "BACKUP DATABASE bank, employees TO 'nodelocal://1/enc' WITH encryption_passphrase = 'redacted'");
    for (k, v) in objects(&src, LOC) {
        assert!(!contains(&v, PW.as_bytes()), "{k}");
    }
}

#[test]
fn encrypted_backups_are_deterministic_and_plain_ones_draw_no_randomness() {
    // Two clusters doing the same thing write the same bytes: the randomness is the runtime's.
    let a = source();
    let b = source();
    a.ok(&backup_sql(LOC, PW));
    b.ok(&backup_sql(LOC, PW));
    assert_eq!(objects(&a, LOC), objects(&b, LOC));
    assert!(*a.runtime.random_bytes.lock().unwrap() > 16);
    // Unencrypted: no randomness drawn at all, backup or restore.
    let c = source();
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/plain'");
    let dst = c.fresh_destination();
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/plain'");
    c.ok("SHOW BACKUP 'nodelocal://1/plain'");
    assert_eq!((*c.runtime.random_bytes.lock().unwrap(), *dst.runtime.random_bytes.lock().unwrap()), (0, 0));
    assert!(!c.store("nodelocal://1/plain").snapshot().contains_key("ENCRYPTION-INFO"));
}

#[test]
fn with_the_right_passphrase_a_changed_file_is_called_damaged_and_a_wrong_passphrase_wrong() {
    let src = source();
    src.ok(&backup_sql(LOC, PW));
    let store = src.store(LOC);
    let dst = src.fresh_destination();
    let data = store.snapshot().into_keys().find(|k| k.starts_with("data/")).unwrap();
    let wrong = "nodelocal://1/enc/ENCRYPTION-INFO: failed to decrypt — maybe incorrect key";
    for name in ["BACKUP".to_string(), data] {
        let original = read_obj(&store, &name);
        // One flipped bit in the first ciphertext byte, then one in the last tag byte.
        for at in [crypto::HEADER_LEN, original.len() - 1] {
            let mut b = original.clone();
            b[at] ^= 0x01;
            write_obj(&store, &name, b);
            for sql in [
                format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = '{PW}'"),
                format!("SHOW BACKUP FILES '{LOC}' WITH encryption_passphrase = '{PW}'"),
            ] {
                // Only the manifest is read by SHOW BACKUP.
                if sql.starts_with("SHOW") && name != "BACKUP" {
                    continue;
                }
                dst.advance(Duration::from_millis(1));
                let e = dst.exec(&sql).unwrap_err();
                let text = e.to_string();
                assert!(
                    matches!(e, backup::error::BackupError::Encryption(crypto::EncryptionError::Damaged { chunk: 1, chunks: 1, .. })),
                    "{name} byte {at}: {text}"
                );
                assert!(text.starts_with(&format!("nodelocal://1/enc/{name}: file is damaged: chunk 1 of 1")), "{text}");
                assert!(!text.contains("incorrect key") && !text.contains(PW), "{text}");
                // The wrong passphrase is still told apart, at ENCRYPTION-INFO, whatever the
                // state of the other files.
                let w = sql.replace(PW, "not-the-passphrase");
                assert_eq!(dst.err(&w), wrong);
            }
        }
        write_obj(&store, &name, original);
    }
    dst.ok(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH encryption_passphrase = '{PW}'"));
}
