//! End-to-end, in-process: backup collections (issue #17), CockroachDB v20.2–v22.2's
//! `BACKUP … INTO`, `INTO LATEST IN`, `INTO 'subdir' IN`, `SHOW BACKUPS IN`, `SHOW BACKUP …
//! IN`, `RESTORE … FROM LATEST IN` / `FROM 'subdir' IN`:
//!
//! - a full backup goes to a dated subdirectory, LATEST names it, incrementals go under
//!   `incrementals/<subdir>/`, and the chain restores to the source at its last time (and,
//!   with revision history, at a time inside it);
//! - two full backups of other targets in one collection (two schedules sharing it): `INTO
//!   LATEST` refuses to append to the other targets' chain, naming both and the chain to use;
//!   nothing is written onto the other chain;
//! - the older layouts are read (incrementals inside the full's directory, the root `LATEST`),
//!   both layouts at once refused; LATEST in an empty collection, a subdirectory without a
//!   backup, another passphrase, a full backup where one is, refused with nothing written;
//! - `BACKUP … TO '<collection>/<subdir>'` onto a chain whose incrementals are in the collection
//!   layout (which would fork it) refused at planning, naming `INTO '<subdir>' IN`;
//! - the function a scheduler calls ([`backup::exec::backup_into_collection`]) does the same.

use crate::common::*;
use backup::exec::{backup_into_collection, CollectionBackup};
use backup::statement::{BackupOptions, Targets};
use backup::storage::MemStorageProvider;
use backup::targets::SessionContext;
use futures::executor::block_on;
use model::{Datum, Timestamp};
use std::sync::Arc;
use std::time::Duration;

const COLL: &str = "nodelocal://1/coll";
const BANK: [&str; 4] = ["customers", "accounts", "transfer_ids", "transfers"];

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

fn paths(r: &backup::show::QueryResult) -> Vec<String> {
    r.rows
        .iter()
        .map(|row| match &row[0] {
            Datum::String(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Restores `sql` into a fresh cluster and checks every `bank` table against the source at `ts`.
fn restores_bank_at(src: &Cluster, sql: &str, ts: Timestamp) {
    let dst = src.fresh_destination();
    dst.ok(sql);
    for t in BANK {
        assert_eq!(dst.read_now("bank", t).rows, src.read("bank", t, ts).rows, "{sql}: bank.{t} as of {ts}");
    }
}

/// The end time of the newest layer SHOW BACKUP … IN lists (its `end_time` column).
fn last_end(c: &Cluster, show: &str) -> (usize, String) {
    let r = c.ok(show);
    let col = r.columns.iter().position(|c| c == "end_time").unwrap();
    let ends: std::collections::BTreeSet<String> = r.rows.iter().map(|row| row[col].to_string()).collect();
    (ends.len(), ends.into_iter().next_back().unwrap())
}

#[test]
fn a_collection_holds_a_dated_full_backup_latest_and_incrementals_that_restore() {
    let mut c = bank();
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll'");
    let listed = paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/coll'"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    let subdir = listed[0].clone();
    assert!(subdir.starts_with("/19") || subdir.starts_with("/20"), "{subdir}");
    let full = c.manifest(&format!("{COLL}{subdir}"));
    assert!(full.start_time.is_zero());
    assert_eq!(backup::collection::full_subdir_name(full.end_time), subdir, "the subdirectory is the full backup's end time");
    let files: Vec<String> = c.store(COLL).snapshot().keys().cloned().collect();
    let latest: Vec<&String> = files.iter().filter(|f| f.starts_with("metadata/latest/LATEST-")).collect();
    assert_eq!(latest.len(), 1, "{files:?}");
    assert_eq!(read_obj(&c.store(COLL), latest[0]), subdir.as_bytes());

    c.sql("UPDATE bank.accounts SET balance = balance + 1 WHERE id = 1; INSERT INTO bank.customers VALUES (9, 'ivy', NULL)");
    c.advance(Duration::from_secs(2));
    c.ok("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll'");
    c.sql("DELETE FROM bank.transfers WHERE id = 1");
    c.advance(Duration::from_secs(2));
    c.ok("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll'");
    let files: Vec<String> = c.store(COLL).snapshot().keys().cloned().collect();
    let inc_manifests: Vec<&String> = files.iter().filter(|f| f.starts_with(&format!("incrementals{subdir}/")) && f.ends_with("/BACKUP")).collect();
    assert_eq!(inc_manifests.len(), 2, "incrementals go under incrementals/<subdir>/ (v22.2): {files:?}");
    assert_eq!(paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/coll'")), vec![subdir.clone()], "incrementals are not listed as full backups");
    // The whole chain, by LATEST and by its subdirectory.
    let (layers, _) = last_end(&c, "SHOW BACKUP LATEST IN 'nodelocal://1/coll'");
    assert_eq!(layers, 3);
    assert_eq!(c.ok("SHOW BACKUP LATEST IN 'nodelocal://1/coll'").rows, c.ok(&format!("SHOW BACKUP '{subdir}' IN 'nodelocal://1/coll'")).rows);
    let files_rows = c.ok("SHOW BACKUP FILES LATEST IN 'nodelocal://1/coll'");
    let path_col = files_rows.columns.iter().position(|c| c == "path").unwrap();
    assert!(files_rows.rows.iter().any(|r| backup::show::render_datum(&r[path_col]).starts_with("incrementals/")), "{}", files_rows.render());
    let now = c.now();
    restores_bank_at(&c, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll'", now);
    restores_bank_at(&c, &format!("RESTORE DATABASE bank FROM '{}' IN 'nodelocal://1/coll'", subdir.trim_start_matches('/')), now);
}

#[test]
fn a_newer_full_backup_moves_latest_and_an_older_chain_stays_restorable_by_its_subdirectory() {
    let mut c = bank();
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll' WITH revision_history");
    let first_end = c.now();
    c.sql("UPDATE bank.customers SET name = 'zed' WHERE id = 1");
    c.advance(Duration::from_secs(3));
    let mid = c.now();
    c.advance(Duration::from_secs(3));
    c.sql("UPDATE bank.customers SET name = 'zoe' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll' WITH revision_history");
    c.advance(Duration::from_secs(5));
    c.sql("UPDATE bank.customers SET name = 'new' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll'");
    let listed = paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/coll'"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed[0] < listed[1], "oldest first: {listed:?}");
    // LATEST is the newer full backup alone; the older chain is there under its name.
    assert_eq!(last_end(&c, "SHOW BACKUP LATEST IN 'nodelocal://1/coll'").0, 1);
    assert_eq!(last_end(&c, &format!("SHOW BACKUP '{}' IN 'nodelocal://1/coll'", listed[0])).0, 2);
    let now = c.now();
    restores_bank_at(&c, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll'", now);
    // A time inside the older chain's revision history, and a time the newer full does not have.
    restores_bank_at(&c, &format!("RESTORE DATABASE bank FROM '{}' IN 'nodelocal://1/coll' AS OF SYSTEM TIME '{}'", listed[0], mid), mid);
    let e = c.err(&format!("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll' AS OF SYSTEM TIME '{first_end}'"));
    assert!(e.contains("invalid RESTORE timestamp"), "{e}");
    // An incremental into the older chain by its subdirectory.
    c.sql("UPDATE bank.customers SET name = 'old-chain' WHERE id = 2");
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP DATABASE bank INTO '{}' IN 'nodelocal://1/coll' WITH revision_history", listed[0]));
    assert_eq!(last_end(&c, &format!("SHOW BACKUP '{}' IN 'nodelocal://1/coll'", listed[0])).0, 3);
    assert_eq!(last_end(&c, "SHOW BACKUP LATEST IN 'nodelocal://1/coll'").0, 1, "an incremental does not move LATEST");
}

/// Two schedules of different targets writing one collection (a real CockroachDB bug): the
/// second's full backup moves LATEST to a backup of other targets, and the first's next `INTO
/// LATEST` must not silently become an incremental of that.
#[test]
fn into_latest_refuses_a_chain_of_other_targets_and_names_the_one_to_use() {
    let mut c = bank();
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll'");
    let bank_subdir = paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/coll'"))[0].clone();
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE employees INTO 'nodelocal://1/coll'");
    let listed = paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/coll'"));
    let employees_subdir = listed[1].clone();
    c.sql("UPDATE bank.customers SET name = 'x' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    let before = c.store(COLL).snapshot();
    let e = c.exec("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll'").unwrap_err();
    assert_eq!(e.kind(), backup::error::ErrorKind::Chain, "{e}");
    let e = e.to_string();
    assert!(e.contains("DATABASE employees") && e.contains("DATABASE bank"), "names both target lists: {e}");
    assert!(e.contains(&format!("INTO '{bank_subdir}' IN 'nodelocal://1/coll'")), "names bank's chain: {e}");
    let after = c.store(COLL).snapshot();
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "nothing written");
    // Appending to bank's own chain by its name works, and leaves the employees chain alone.
    c.ok(&format!("BACKUP DATABASE bank INTO '{bank_subdir}' IN 'nodelocal://1/coll'"));
    assert_eq!(last_end(&c, &format!("SHOW BACKUP '{employees_subdir}' IN 'nodelocal://1/coll'")).0, 1);
    let now = c.now();
    restores_bank_at(&c, &format!("RESTORE DATABASE bank FROM '{bank_subdir}' IN 'nodelocal://1/coll'"), now);
    // A target list no full backup of the collection has.
    let e = c.err("BACKUP TABLE bank.customers INTO LATEST IN 'nodelocal://1/coll'");
    assert!(e.contains("holds no full backup of TABLE bank.customers") && e.contains("INTO 'nodelocal://1/coll'"), "{e}");
}

#[test]
fn collection_refusals_name_the_collection_and_write_nothing() {
    let c = bank();
    let e = c.err("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/empty'");
    assert!(e.starts_with("path does not contain a completed latest backup"), "{e}");
    assert!(e.contains("nodelocal://1/empty"), "{e}");
    let e = c.err("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/empty'");
    assert!(e.starts_with("path does not contain a completed latest backup"), "{e}");
    let e = c.err("SHOW BACKUP LATEST IN 'nodelocal://1/empty'");
    assert!(e.starts_with("path does not contain a completed latest backup"), "{e}");
    assert!(paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/empty'")).is_empty());

    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll' WITH encryption_passphrase = 'right'");
    let before = c.store(COLL).snapshot();
    let e = c.err("BACKUP DATABASE bank INTO '/2001/01/01-000000.00' IN 'nodelocal://1/coll' WITH encryption_passphrase = 'right'");
    assert!(e.starts_with("A full backup cannot be written to \"/2001/01/01-000000.00\", a user defined subdirectory"), "{e}");
    let e = c.err("RESTORE DATABASE bank FROM '/2001/01/01-000000.00' IN 'nodelocal://1/coll'");
    assert!(e.contains("nodelocal://1/coll/2001/01/01-000000.00") && e.contains("not a backup location"), "{e}");
    let e = c.err("BACKUP DATABASE bank INTO '../other' IN 'nodelocal://1/coll'");
    assert!(e.starts_with("invalid subdirectory \"../other\""), "{e}");
    let e = c.err("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll' WITH encryption_passphrase = 'wrong'");
    assert!(e.contains("failed to decrypt"), "{e}");
    let e = c.err("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll'");
    assert!(e.contains("encryption_passphrase"), "an encrypted chain without its passphrase: {e}");
    assert_eq!(before.keys().collect::<Vec<_>>(), c.store(COLL).snapshot().keys().collect::<Vec<_>>(), "nothing written");
    // Nothing changed since the backup: it restores to the data as it is now.
    let now = c.now();
    restores_bank_at(&c, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll' WITH encryption_passphrase = 'right'", now);
    // Two full backups of one time: the second would land in the first's subdirectory.
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/plain'");
    let t = c.manifest(&format!("nodelocal://1/plain{}", paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/plain'"))[0])).end_time;
    let e = c.err(&format!("BACKUP DATABASE bank INTO 'nodelocal://1/plain' AS OF SYSTEM TIME '{t}'"));
    assert!(e.starts_with("A full backup already exists in nodelocal://1/plain/") && e.contains("BACKUP INTO '/"), "{e}");
    assert_eq!(paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/plain'")).len(), 1);
}

/// Collections written by older versions: incrementals inside the full backup's directory
/// (v20.2–v21.1, which a `BACKUP … TO` of that directory also writes) are read and appended to
/// there; a LATEST at the root (before v22.1) is read; both incremental layouts at once refused.
#[test]
fn older_layouts_are_read_and_appended_to_in_place() {
    let mut c = bank();
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll'");
    let subdir = paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/coll'"))[0].clone();
    c.sql("UPDATE bank.customers SET name = 'old1' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    // The v21.1 layout: an automatic incremental inside the full's own directory.
    c.ok(&format!("BACKUP DATABASE bank TO 'nodelocal://1/coll{subdir}'"));
    // The root LATEST of older versions, instead of metadata/latest/.
    let store = c.store(COLL);
    for f in store.snapshot().keys().filter(|f| f.starts_with("metadata/latest/")) {
        delete_obj(&store, f);
    }
    write_obj(&store, "LATEST", subdir.as_bytes().to_vec());
    c.sql("UPDATE bank.customers SET name = 'old2' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll'");
    let files: Vec<String> = store.snapshot().keys().cloned().collect();
    assert!(!files.iter().any(|f| f.starts_with("incrementals/")), "appended in the old layout: {files:?}");
    assert_eq!(last_end(&c, "SHOW BACKUP LATEST IN 'nodelocal://1/coll'").0, 3);
    let now = c.now();
    restores_bank_at(&c, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll'", now);
    // A copy of one old-layout incremental in the new layout: which chain is meant is unclear.
    let inside = subdir.trim_start_matches('/');
    for f in files.iter().filter(|f| f.starts_with(&format!("{inside}/")) && f.split('/').count() > 5) {
        let rest = &f[inside.len() + 1..];
        write_obj(&store, &format!("incrementals{subdir}/{rest}"), read_obj(&store, f));
    }
    let e = c.err("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll'");
    assert!(e.starts_with("Incremental layers found in both old and new default locations"), "{e}");
}

/// `BACKUP … TO '<collection>/<subdir>'` onto a full backup whose incrementals are in the
/// collection layout would start a second chain inside the full's directory (CockroachDB forks
/// it silently): refused at planning, naming the statement to use, with nothing written; the
/// collection's chain goes on. Onto a full backup with no incrementals yet it appends in the
/// old layout, as `older_layouts_are_read_and_appended_to_in_place` shows.
#[test]
fn backup_to_a_collection_full_whose_incrementals_are_in_the_collection_layout_is_refused() {
    let mut c = bank();
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll'");
    let subdir = paths(&c.ok("SHOW BACKUPS IN 'nodelocal://1/coll'"))[0].clone();
    c.sql("UPDATE bank.customers SET name = 'inc1' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll'");
    c.sql("UPDATE bank.customers SET name = 'inc2' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    let before = c.store(COLL).snapshot();
    let e = c.exec(&format!("BACKUP DATABASE bank TO 'nodelocal://1/coll{subdir}'")).unwrap_err();
    assert_eq!(e.kind(), backup::error::ErrorKind::Chain, "{e}");
    let e = e.to_string();
    assert!(e.starts_with(&format!("nodelocal://1/coll{subdir} is the full backup {subdir} of the collection nodelocal://1/coll")), "{e}");
    assert!(e.contains(&format!("incrementals are in nodelocal://1/coll/incrementals{subdir}")), "{e}");
    assert!(e.contains(&format!("BACKUP … INTO '{subdir}' IN 'nodelocal://1/coll'")), "names the statement to use: {e}");
    assert_eq!(before.keys().collect::<Vec<_>>(), c.store(COLL).snapshot().keys().collect::<Vec<_>>(), "nothing written");
    // The statement it names appends to the chain, which restores whole.
    c.ok(&format!("BACKUP DATABASE bank INTO '{subdir}' IN 'nodelocal://1/coll'"));
    assert_eq!(last_end(&c, "SHOW BACKUP LATEST IN 'nodelocal://1/coll'").0, 3);
    let now = c.now();
    restores_bank_at(&c, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll'", now);
    // A plain location whose path merely looks dated but is no collection's full backup with
    // collection-layout incrementals appends as before.
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/plain/2020/01/02-030405.00'");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/plain/2020/01/02-030405.00'");
    assert_eq!(last_end(&c, "SHOW BACKUP 'nodelocal://1/plain/2020/01/02-030405.00'").0, 2);
}

/// What a scheduler calls: a full, then incrementals onto it, each a BACKUP job described as
/// the statement would be.
#[test]
fn backup_into_collection_takes_a_full_then_incrementals() {
    let mut c = bank();
    let ctx = SessionContext::root();
    let targets = Targets::Databases(vec!["bank".into()]);
    block_on(backup_into_collection(&c.env, &ctx, targets.clone(), COLL, CollectionBackup::Full, None, BackupOptions::default())).unwrap();
    for i in 0..2 {
        c.sql(&format!("UPDATE bank.accounts SET balance = {i} WHERE id = 1"));
        c.advance(Duration::from_secs(1));
        block_on(backup_into_collection(&c.env, &ctx, targets.clone(), COLL, CollectionBackup::Incremental, None, BackupOptions::default())).unwrap();
    }
    assert_eq!(last_end(&c, "SHOW BACKUP LATEST IN 'nodelocal://1/coll'").0, 3);
    let descriptions: Vec<String> = block_on(backup::jobs::list(&*c.env.kv)).unwrap().into_iter().map(|j| j.description).collect();
    assert!(descriptions.contains(&"BACKUP DATABASE bank INTO 'nodelocal://1/coll'".to_string()), "{descriptions:?}");
    assert!(descriptions.contains(&"BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll'".to_string()), "{descriptions:?}");
    // Detached: the job id at once, LATEST written once the job has run.
    let r = c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/coll2' WITH detached");
    assert_eq!(r.columns, vec!["job_id".to_string()]);
    assert!(c.err("SHOW BACKUP LATEST IN 'nodelocal://1/coll2'").starts_with("path does not contain a completed latest backup"));
    c.runtime.run_spawned();
    assert_eq!(last_end(&c, "SHOW BACKUP LATEST IN 'nodelocal://1/coll2'").0, 1);
    let now = c.now();
    restores_bank_at(&c, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll'", now);
}
