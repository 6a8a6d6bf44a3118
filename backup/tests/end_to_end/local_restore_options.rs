//! End-to-end, in process: CockroachDB's later RESTORE and SHOW BACKUP options (issue #17) —
//! `new_db_name`, `schema_only`, `verify_backup_table_data` and `SHOW BACKUP … WITH
//! check_files` — each checked against what the source held, and each refusal with
//! CockroachDB's words, leaving nothing behind.

use crate::common::*;
use backup::error::ErrorKind;
use backup::storage::MemStorageProvider;
use model::catalog::Catalog;
use model::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// Every descriptor and the id counter: equal before and after a refused or failed restore
/// exactly when it left nothing behind.
fn catalog_state(c: &Catalog) -> (Vec<model::Descriptor>, u32) {
    (c.descriptors().cloned().collect(), c.next_descriptor_id())
}

/// Asserts `dst.db.table` holds exactly what `src.bank.table` held at `ts`.
fn same_as_source(src: &Cluster, dst: &Cluster, db: &str, ts: Timestamp) {
    for (t, n) in BANK_TABLES {
        let want = src.read("bank", t, ts);
        let got = dst.read_now(db, t);
        assert_eq!((got.columns, got.rows.len()), (want.columns, n as usize), "{db}.{t}");
        assert_eq!(got.rows, want.rows, "{db}.{t}");
    }
}

/// Asserts every bank table is in `db` and holds no row. The sequence reads as one never
/// used: its value is data (a key in its own span, as in CockroachDB), which a schema-only
/// restore does not bring.
fn empty_tables(c: &Cluster, db: &str) {
    for (t, _) in BANK_TABLES {
        let want = if t == "transfer_ids" { vec![vec![i(1), i(0), model::Datum::Bool(false)]] } else { Vec::new() };
        assert_eq!(c.read_now(db, t).rows, want, "{db}.{t} is empty");
    }
}

#[test]
fn new_db_name_restores_a_database_beside_the_one_it_came_from() {
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/nd'");
    let end = src.manifest("nodelocal://1/nd").end_time;
    src.sql("UPDATE bank.customers SET name = 'later' WHERE id = 1");
    let (_, rows, _, _) = result_row(&src.ok("RESTORE DATABASE bank FROM 'nodelocal://1/nd' WITH new_db_name = 'bank_copy'"));
    assert_eq!(rows, 13, "every row of the four tables");
    same_as_source(&src, &src, "bank_copy", end);
    // The view reads the restored tables, not the database it came from.
    assert_eq!(src.rows("SELECT id FROM bank_copy.rich_accounts ORDER BY id"), vec![vec![i(2)], vec![i(3)], vec![i(5)]]);
    let view = src.catalog().table_by_name("bank_copy", "rich_accounts").unwrap().clone();
    let accounts = src.table_id("bank_copy", "accounts");
    assert!(matches!(&view.kind, model::catalog::TableKind::View { depends_on, .. } if depends_on == &vec![accounts]), "{view:?}");
    // The original is untouched, and the two are independent.
    assert_eq!(src.rows("SELECT name FROM bank.customers WHERE id = 1"), vec![vec![s("later")]]);
    src.sql("DELETE FROM bank_copy.transfers");
    assert_eq!(src.rows("SELECT count(*) FROM bank.transfers"), vec![vec![i(3)]]);
    // The foreign keys point inside the copy.
    let e = src.sql_err("INSERT INTO bank_copy.accounts VALUES (99, 42, 1.0, NULL)");
    assert!(e.contains("is not present in table \"customers\""), "{e}");
    // A quoted, mixed-case name is taken as written (it is a string, not an identifier).
    src.ok("RESTORE DATABASE employees FROM 'nodelocal://1/nd' WITH new_db_name = 'Staff Copy'");
    assert_eq!(src.read_now("Staff Copy", "staff").rows, src.read("employees", "staff", end).rows);
    // The job's description carries the option.
    let jobs = src.ok("SHOW JOBS");
    assert!(jobs.rows.iter().any(|r| r[2] == s("RESTORE DATABASE bank FROM 'nodelocal://1/nd' WITH new_db_name = 'bank_copy'")), "{}", jobs.render());
}

#[test]
fn new_db_name_is_refused_where_cockroachdb_refuses_it() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/ndr'");
    src.ok("BACKUP TO 'nodelocal://1/ndr-cluster'");
    let mut dst = src.fresh_destination();
    dst.sql("CREATE DATABASE taken; CREATE DATABASE bank");
    let before = catalog_state(&dst.catalog());
    let only_one = "new_db_name can only be used for RESTORE DATABASE with a single target database";
    for (sql, want) in [
        ("RESTORE DATABASE bank, employees FROM 'nodelocal://1/ndr' WITH new_db_name = 'x'", only_one),
        ("RESTORE TABLE bank.customers FROM 'nodelocal://1/ndr' WITH new_db_name = 'x'", only_one),
        ("RESTORE bank.* FROM 'nodelocal://1/ndr' WITH new_db_name = 'x', into_db = 'taken'", only_one),
        ("RESTORE FROM 'nodelocal://1/ndr-cluster' WITH new_db_name = 'x'", only_one),
        // Refused before the location is read: no backup is needed to be told.
        ("RESTORE TABLE bank.customers FROM 'nodelocal://1/nothing-here' WITH new_db_name = 'x'", only_one),
        ("RESTORE DATABASE bank FROM 'nodelocal://1/ndr' WITH new_db_name = 'taken'", "database \"taken\" already exists"),
        ("RESTORE DATABASE nope FROM 'nodelocal://1/ndr' WITH new_db_name = 'x'", "database \"nope\" not found in the backup (or not backed up whole)"),
    ] {
        assert_eq!(dst.err(sql), want, "{sql}");
    }
    assert_eq!(dst.exec("RESTORE DATABASE bank, employees FROM 'nodelocal://1/ndr' WITH new_db_name = 'x'").unwrap_err().kind(), ErrorKind::Option);
    let e = dst.exec("RESTORE DATABASE bank FROM 'nodelocal://1/ndr' WITH new_db_name = ''").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Option, "{e}");
    assert!(e.to_string().contains("option \"new_db_name\" must not be empty"), "{e}");
    assert_eq!(catalog_state(&dst.catalog()), before, "no refusal left anything behind");
    // The database whose name is taken restores under another.
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/ndr' WITH new_db_name = 'bank2'");
    assert_eq!(dst.read_now("bank2", "customers").rows.len(), 4);
}

#[test]
fn new_db_name_with_a_chain_and_a_point_in_time() {
    let loc = "nodelocal://1/ndt";
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history"));
    c.advance(Duration::from_secs(2));
    c.sql("UPDATE bank.customers SET name = 'mid' WHERE id = 1; DELETE FROM bank.transfers WHERE id = 2");
    c.advance(Duration::from_secs(2));
    let t_mid = c.now();
    c.advance(Duration::from_secs(2));
    c.sql("UPDATE bank.customers SET name = 'last' WHERE id = 1; INSERT INTO bank.customers VALUES (9, 'ivy', 'ivy@bank')");
    c.advance(Duration::from_secs(2));
    // An automatic incremental, with revision history too.
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history"));
    c.advance(Duration::from_secs(2));
    c.sql("UPDATE bank.customers SET name = 'after the chain' WHERE id = 1");
    // The chain's end, under a new name, beside the live database.
    c.ok(&format!("RESTORE DATABASE bank FROM '{loc}' WITH new_db_name = 'at_end'"));
    let subs: Vec<String> = {
        let m = c.manifest(loc);
        assert!(m.is_full());
        let listed = c.ok(&format!("SHOW BACKUP FILES '{loc}'"));
        let mut dirs: Vec<String> =
            listed.rows.iter().filter_map(|r| backup::show::render_datum(&r[0]).rsplit_once("/data/").map(|(d, _)| d.to_string())).collect();
        dirs.dedup();
        dirs
    };
    let inc_end = c.manifest(&format!("{loc}/{}", subs.last().expect("the incremental's directory"))).end_time;
    let at_end = c.read_now("at_end", "customers");
    assert_eq!(at_end.rows, c.read("bank", "customers", inc_end).rows);
    assert_eq!(at_end.rows.len(), 5);
    // Between the two backups, inside the incremental's window, where only revision history
    // has the state.
    let mut dst = c.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}' AS OF SYSTEM TIME '{t_mid}' WITH new_db_name = 'then'"));
    for (t, _) in BANK_TABLES {
        assert_eq!(dst.read_now("then", t).rows, c.read("bank", t, t_mid).rows, "then.{t} as of t_mid");
    }
    assert_eq!(dst.rows("SELECT name FROM then.customers WHERE id = 1"), vec![vec![s("mid")]]);
    assert!(dst.catalog().database_by_name("bank").is_none(), "restored under the new name only");
}

#[test]
fn schema_only_restores_every_descriptor_and_no_row() {
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.sql(
        "CREATE USER alice; GRANT SELECT ON TABLE bank.customers TO alice;
         ALTER TABLE bank.accounts CONFIGURE ZONE USING gc.ttlseconds = 3600;",
    );
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/so'");
    src.ok("BACKUP TO 'nodelocal://1/so-cluster'");
    let mut dst = src.fresh_destination();
    let r = dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/so' WITH schema_only");
    let (_, rows, index_entries, bytes) = result_row(&r);
    assert_eq!((rows, index_entries, bytes), (0, 0, 0), "nothing ingested");
    empty_tables(&dst, "bank");
    // Every relation is there, public, with the backup's columns, indexes and constraints.
    let (theirs, ours) = (src.catalog(), dst.catalog());
    for t in ["customers", "accounts", "transfer_ids", "transfers", "rich_accounts"] {
        let (a, b) = (theirs.table_by_name("bank", t).unwrap(), ours.table_by_name("bank", t).unwrap());
        assert_eq!((&a.columns, &a.indexes, a.kind_name()), (&b.columns, &b.indexes, b.kind_name()), "{t}");
        assert!(b.is_public(), "{t}");
    }
    // Usable at once: constraints enforce, the view reads the empty tables, writes land.
    assert_eq!(dst.rows("SELECT count(*) FROM bank.rich_accounts"), vec![vec![i(0)]]);
    let e = dst.sql_err("INSERT INTO bank.accounts VALUES (1, 1, 2000.0, NULL)");
    assert!(e.contains("is not present in table \"customers\""), "{e}");
    dst.sql("INSERT INTO bank.customers VALUES (1, 'ann', NULL); INSERT INTO bank.accounts VALUES (1, 1, 2000.0, NULL)");
    assert_eq!(dst.rows("SELECT id FROM bank.rich_accounts"), vec![vec![i(1)]]);
    // Beside the database it came from, with new_db_name, as CockroachDB's validation example.
    src.ok("RESTORE DATABASE bank FROM 'nodelocal://1/so' WITH schema_only, new_db_name = 'bank_schema'");
    empty_tables(&src, "bank_schema");
    // A cluster restore with schema_only brings users, grants and zone configs (the cluster's
    // own records, as CockroachDB restores its system tables), no row of a user table.
    let fresh = src.fresh_destination();
    fresh.ok("RESTORE FROM 'nodelocal://1/so-cluster' WITH schema_only");
    empty_tables(&fresh, "bank");
    assert!(fresh.catalog().database_by_name("employees").is_some());
    assert_eq!(fresh.read_now("employees", "staff").rows.len(), 0);
    let cat = fresh.catalog();
    assert!(cat.user("alice").is_some(), "alice restored");
    let customers = cat.table_by_name("bank", "customers").unwrap();
    assert!(customers.privileges.users.iter().any(|u| u.user == "alice"), "{:?}", customers.privileges);
    assert_eq!(cat.gc_ttl(cat.table_by_name("bank", "accounts").unwrap().id), Duration::from_secs(3600));
}

#[test]
fn schema_only_does_not_read_the_data_files() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/sod'");
    let m = src.manifest("nodelocal://1/sod");
    let dst = src.fresh_destination();
    let store = dst.store("nodelocal://1/sod");
    for f in &m.files {
        delete_obj(&store, &f.path);
    }
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/sod' WITH schema_only");
    empty_tables(&dst, "bank");
    // A real restore of the same backup needs them.
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/sod' WITH new_db_name = 'b2'");
    assert!(e.ends_with("listed in the manifest is missing"), "{e}");
}

#[test]
fn verify_backup_table_data_reads_every_file_and_publishes_only_the_schema() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/vd' WITH revision_history");
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/vd' WITH revision_history");
    let m = src.manifest("nodelocal://1/vd");
    let mut dst = src.fresh_destination();
    let e = dst.exec("RESTORE DATABASE bank FROM 'nodelocal://1/vd' WITH verify_backup_table_data").unwrap_err();
    assert_eq!(e.to_string(), "to set the verify_backup_table_data option, the schema_only option must be set");
    assert_eq!(e.kind(), ErrorKind::Option);
    let before = catalog_state(&dst.catalog());
    let r = dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/vd' WITH schema_only, verify_backup_table_data");
    assert_eq!(result_row(&r).1, 0, "no row restored");
    empty_tables(&dst, "bank");
    let jobs = dst.ok("SHOW JOBS");
    assert_eq!(jobs.rows.last().unwrap()[5], s("succeeded"), "{}", jobs.render());
    // A damaged data file fails it naming the file, and it leaves nothing behind.
    dst.sql("DROP DATABASE bank CASCADE");
    let after_drop = catalog_state(&dst.catalog()).0;
    let store = dst.store("nodelocal://1/vd");
    let last = m.files.last().unwrap().path.clone();
    let good = read_obj(&store, &last);
    let mut bad = good.clone();
    bad[good.len() - 10] ^= 0x40;
    write_obj(&store, &last, bad);
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/vd' WITH schema_only, verify_backup_table_data");
    assert!(e.starts_with(&format!("nodelocal://1/vd/{last}: checksum mismatch (expected 0x")), "{e}");
    assert_eq!(catalog_state(&dst.catalog()).0, after_drop, "nothing published, nothing offline left");
    assert!(dst.catalog().database_by_name("bank").is_none());
    let jobs = dst.ok("SHOW JOBS");
    assert_eq!(jobs.rows.last().unwrap()[5], s("failed"), "{}", jobs.render());
    // schema_only alone does not read the file, so it misses the damage (CockroachDB's
    // restore-validation-only test shows the same).
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/vd' WITH schema_only, new_db_name = 'unread'");
    // Missing: named as a restore names it.
    delete_obj(&store, &last);
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/vd' WITH schema_only, verify_backup_table_data");
    assert_eq!(e, format!("nodelocal://1/vd: data file {last} listed in the manifest is missing"));
    assert!(dst.catalog().database_by_name("bank").is_none());
    write_obj(&store, &last, good);
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/vd' WITH schema_only, verify_backup_table_data");
    empty_tables(&dst, "bank");
    assert_ne!(catalog_state(&dst.catalog()), before);
}

#[test]
fn verify_backup_table_data_of_an_encrypted_chain_needs_its_passphrase() {
    let loc = "nodelocal://1/vde";
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH encryption_passphrase = 'pw-vde'"));
    src.advance(Duration::from_secs(1));
    src.sql("UPDATE bank.customers SET name = 'inc' WHERE id = 2");
    src.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH encryption_passphrase = 'pw-vde'"));
    let dst = src.fresh_destination();
    let e = dst.err(&format!("RESTORE DATABASE bank FROM '{loc}' WITH schema_only, verify_backup_table_data"));
    assert!(e.contains("encryption_passphrase"), "{e}");
    assert!(!e.contains("pw-vde"));
    dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}' WITH schema_only, verify_backup_table_data, encryption_passphrase = 'pw-vde'"));
    empty_tables(&dst, "bank");
    let jobs = dst.ok("SHOW JOBS").render();
    assert!(!jobs.contains("pw-vde"), "{jobs}");
}

#[test]
fn check_files_names_missing_and_damaged_files() {
    let loc = "nodelocal://1/cf";
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    src.advance(Duration::from_secs(1));
    src.sql("UPDATE bank.customers SET name = 'inc' WHERE id = 2");
    src.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    let full = src.manifest(loc);
    let store = src.store(loc);
    // Intact: the listing, with each table's stored bytes.
    let plain = src.ok(&format!("SHOW BACKUP '{loc}'"));
    let checked = src.ok(&format!("SHOW BACKUP '{loc}' WITH check_files"));
    assert_eq!(checked.columns.last().map(String::as_str), Some("file_bytes"));
    assert_eq!(checked.rows.len(), plain.rows.len());
    for (p, c) in plain.rows.iter().zip(&checked.rows) {
        assert_eq!(&c[..p.len()], &p[..], "the usual columns unchanged");
    }
    let customers =
        full.files.iter().find(|f| full.descriptors.iter().any(|d| d.as_table().is_some_and(|t| t.name == "customers" && t.span().contains(&f.span))));
    let customers = customers.expect("a customers file");
    let stored = read_obj(&store, &customers.path).len() as i64;
    let row = checked.rows.iter().find(|r| r[2] == s("customers")).unwrap();
    assert_eq!(row.last(), Some(&i(stored)), "customers' file as stored");
    let db_row = checked.rows.iter().find(|r| r[3] == s("database")).unwrap();
    assert_eq!(db_row.last(), Some(&model::Datum::Null));
    // FILES with check_files lists as without, once the files check out.
    assert_eq!(src.ok(&format!("SHOW BACKUP FILES '{loc}' WITH check_files")), src.ok(&format!("SHOW BACKUP FILES '{loc}'")));
    // One data file of the full backup missing, one damaged.
    let (gone, hurt) = (full.files[0].path.clone(), full.files[1].path.clone());
    delete_obj(&store, &gone);
    let mut bad = read_obj(&store, &hurt);
    let at = bad.len() / 2;
    bad[at] ^= 1;
    write_obj(&store, &hurt, bad);
    let e = src.exec(&format!("SHOW BACKUP '{loc}' WITH check_files")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotABackup);
    let text = e.to_string();
    let (missing, damaged) = text.split_once("\nThe following files do not match the backup's manifest:\n\t").expect(&text);
    assert_eq!(missing, format!("The following files are missing from the backup:\n\t{loc}/{gone}"));
    assert!(damaged.starts_with(&format!("{loc}/{hurt} (checksum 0x")), "{damaged}");
    assert!(damaged.contains(&format!(", the manifest records {:#010x})", full.files[1].checksum)), "{damaged}");
    // Without check_files SHOW BACKUP reads only the manifests.
    assert_eq!(src.ok(&format!("SHOW BACKUP '{loc}'")), plain);
}

#[test]
fn check_files_names_an_incrementals_file_by_its_directory_and_hides_credentials() {
    let loc = "nodelocal://1/cfi";
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH encryption_passphrase = 'pw-cfi'"));
    src.advance(Duration::from_secs(1));
    src.sql("UPDATE bank.customers SET name = 'inc' WHERE id = 2");
    src.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH encryption_passphrase = 'pw-cfi'"));
    let files = src.ok(&format!("SHOW BACKUP FILES '{loc}' WITH encryption_passphrase = 'pw-cfi'"));
    let inc_file = files.rows.iter().map(|r| backup::show::render_datum(&r[0])).find(|p| !p.starts_with("data/")).expect("an incremental's file");
    src.ok(&format!("SHOW BACKUP '{loc}' WITH check_files, encryption_passphrase = 'pw-cfi'"));
    // Damage the incremental's file: still encrypted, it fails its authentication.
    let (dir, rel) = inc_file.rsplit_once("/data/").map(|(d, f)| (d.to_string(), format!("data/{f}"))).unwrap();
    let store = src.store(&format!("{loc}/{dir}"));
    let mut bad = read_obj(&store, &rel);
    let at = bad.len() / 2;
    bad[at] ^= 1;
    write_obj(&store, &rel, bad);
    let e = src.err(&format!("SHOW BACKUP '{loc}' WITH check_files, encryption_passphrase = 'pw-cfi'"));
    let head = format!("The following files do not match the backup's manifest:\n\t{loc}/{inc_file} (");
    assert!(e.starts_with(&head), "{e}");
    assert!(!e[head.len()..].contains(&inc_file), "the reason does not repeat the file's name: {e}");
    assert!(!e.contains("pw-cfi"), "{e}");
    delete_obj(&store, &rel);
    let e = src.err(&format!("SHOW BACKUP '{loc}' WITH check_files, encryption_passphrase = 'pw-cfi'"));
    assert_eq!(e, format!("The following files are missing from the backup:\n\t{loc}/{inc_file}"));
}

/// The options ride in the RESTORE job's record only when set: a plain restore's record is what
/// it was before they existed (so nothing a simulation records about it moves), and a record
/// without them reads as a plain restore.
#[test]
fn the_job_record_carries_the_options_only_when_set() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/rec'");
    let dst = src.fresh_destination();
    let payload = |sql: &str| {
        let id = result_row(&dst.ok(sql)).0;
        futures::executor::block_on(backup::jobs::load::<serde_json::Value>(&*dst.local, id)).unwrap().unwrap().payload
    };
    let plain = payload("RESTORE DATABASE bank FROM 'nodelocal://1/rec'");
    assert!(plain.get("schema_only").is_none() && plain.get("verify_data").is_none(), "{plain}");
    let details: backup::restore::RestoreDetails = serde_json::from_value(plain).unwrap();
    assert!(!details.schema_only && !details.verify_data);
    let verified = payload("RESTORE DATABASE bank FROM 'nodelocal://1/rec' WITH schema_only, verify_backup_table_data, new_db_name = 'b2'");
    assert_eq!((verified.get("schema_only"), verified.get("verify_data")), (Some(&serde_json::json!(true)), Some(&serde_json::json!(true))));
}

/// A verifying restore is a RESTORE job like any other: it ingests nothing at all (the cluster
/// sees no ingest), records each span verified, pauses at a pausepoint with every span done
/// and its names offline, and RESUME publishes the empty schema; CANCEL of a paused one leaves
/// nothing behind.
#[test]
fn a_verifying_restore_ingests_nothing_pauses_resumes_and_cancels_as_a_job() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/vj'");
    let mut dst = src.fresh_destination();
    let before = catalog_state(&dst.catalog());
    dst.ok("SET CLUSTER SETTING jobs.debug.pausepoints = 'restore.before_publish'");
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/vj' WITH schema_only, verify_backup_table_data");
    assert!(e.contains("was paused before it completed"), "{e}");
    let jobs = dst.ok("SHOW JOBS");
    let row = jobs.rows.last().unwrap().clone();
    let id = match row[0] {
        model::Datum::Int(id) => id,
        ref other => panic!("{other:?}"),
    };
    let d = futures::executor::block_on(backup::jobs::load::<backup::restore::RestoreDetails>(&*dst.local, id)).unwrap().unwrap().payload;
    assert!(d.span_count > 0 && d.done_count == d.span_count, "every span verified before publishing: {d:?}");
    assert_eq!((&row[5], &row[11]), (&s("paused"), &f(0.999)), "all spans done, not yet published: {}", jobs.render());
    assert_eq!(dst.sql_err("SELECT * FROM bank.accounts"), "database \"bank\" is offline: restoring");
    dst.ok("SET CLUSTER SETTING jobs.debug.pausepoints = ''");
    dst.ok(&format!("RESUME JOB {id}"));
    dst.runtime.run_spawned();
    assert_eq!(dst.ok("SHOW JOBS").rows.last().unwrap()[5], s("succeeded"));
    empty_tables(&dst, "bank");
    assert!(dst.kv.ingested.lock().unwrap().is_empty(), "a verifying restore ingests nothing");
    // Paused again, then canceled: its offline names go, nothing is left.
    dst.sql("DROP DATABASE bank CASCADE");
    let dropped = catalog_state(&dst.catalog()).0;
    dst.ok("SET CLUSTER SETTING jobs.debug.pausepoints = 'restore.before_publish'");
    dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/vj' WITH schema_only, verify_backup_table_data");
    dst.ok("SET CLUSTER SETTING jobs.debug.pausepoints = ''");
    let id = match dst.ok("SHOW JOBS").rows.last().unwrap()[0] {
        model::Datum::Int(id) => id,
        ref other => panic!("{other:?}"),
    };
    dst.ok(&format!("CANCEL JOB {id}"));
    dst.runtime.run_spawned();
    assert_eq!(dst.ok("SHOW JOBS").rows.last().unwrap()[5], s("canceled"));
    assert_eq!(catalog_state(&dst.catalog()).0, dropped, "nothing of the canceled restore is left");
    assert_ne!(dropped, before.0);
}

/// Past ten bad files check_files stops reading and names ten, as CockroachDB's does ("Multiple
/// files cannot be read from the backup including:"), sorted.
#[test]
fn check_files_names_at_most_ten_files() {
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.env.jobs.file_target_bytes = 40;
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/cf10'");
    let m = src.manifest("nodelocal://1/cf10");
    assert!(m.files.len() > 10, "small files: {}", m.files.len());
    let store = src.store("nodelocal://1/cf10");
    for f in &m.files {
        delete_obj(&store, &f.path);
    }
    let e = src.err("SHOW BACKUP 'nodelocal://1/cf10' WITH check_files");
    let (head, names) = e.split_once("\n\t").expect(&e);
    assert_eq!(head, "Multiple files cannot be read from the backup including:");
    let names: Vec<&str> = names.split("\n\t").collect();
    assert_eq!(names.len(), 10, "{e}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.iter().all(|n| n.starts_with("nodelocal://1/cf10/data/")), "{e}");
}
