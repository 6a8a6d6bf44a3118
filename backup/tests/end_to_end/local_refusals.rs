//! End-to-end, in-process: every refusal of BACKUP, RESTORE and SHOW BACKUP, each with its
//! error text, and each leaving the cluster and the destination as they were.

use crate::common::*;
use backup::storage::MemStorageProvider;
use futures::executor::block_on;
use model::catalog::Catalog;
use model::kv::{ClusterKv, KvError};
use model::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

/// Descriptors and the id generator: what a refused RESTORE must not change.
fn catalog_state(c: &Catalog) -> (Vec<model::Descriptor>, u32) {
    (c.descriptors().cloned().collect(), c.next_descriptor_id())
}

/// Job records of a cluster.
fn job_count(c: &Cluster) -> usize {
    block_on(backup::jobs::list(&*c.local)).unwrap().len()
}

#[test]
fn backup_refuses_a_missing_dependency_naming_it() {
    let mut c = bank();
    let cases = [
        (
            "BACKUP bank.accounts TO 'nodelocal://1/d1'",
            "cannot back up table bank.accounts without table bank.customers (foreign key constraint \"fk_customer_id_ref_customers\" references it)",
        ),
        (
            "BACKUP bank.customers, bank.accounts, bank.transfers TO 'nodelocal://1/d2'",
            "cannot back up table bank.transfers without sequence bank.transfer_ids (column \"id\" uses the sequence)",
        ),
        ("BACKUP bank.rich_accounts TO 'nodelocal://1/d3'", "cannot back up view bank.rich_accounts without table bank.accounts (the view selects from it)"),
    ];
    for (sql, want) in cases {
        assert_eq!(c.err(sql), want, "{sql}");
    }
    c.sql(
        "CREATE TABLE employees.departments (id INT PRIMARY KEY, name STRING);
         CREATE TABLE employees.desks (dept_id INT, id INT, PRIMARY KEY (dept_id, id)) INTERLEAVE IN PARENT employees.departments (dept_id);",
    );
    assert_eq!(
        c.err("BACKUP employees.desks TO 'nodelocal://1/d4'"),
        "cannot back up table employees.desks without table employees.departments (it is the parent in the interleaved hierarchy)"
    );
    // With their dependencies they all work (the sequence's FK chain included).
    c.ok("BACKUP employees.desks, employees.departments TO 'nodelocal://1/d4'");
    c.ok("BACKUP bank.rich_accounts, bank.accounts, bank.customers TO 'nodelocal://1/d3'");
    c.ok("BACKUP bank.customers, bank.accounts, bank.transfers, bank.transfer_ids TO 'nodelocal://1/d2'");
    // A refused backup wrote nothing and registered no job.
    assert!(c.store("nodelocal://1/d1").snapshot().is_empty());
    assert_eq!(job_count(&c), 3);
    // Targets that do not exist.
    assert_eq!(c.err("BACKUP bank.nope TO 'nodelocal://1/d5'"), "table \"bank.nope\" does not exist");
    assert_eq!(c.err("BACKUP DATABASE nope TO 'nodelocal://1/d5'"), "database \"nope\" does not exist");
}

#[test]
fn only_admins_may_run_bulk_statements() {
    let mut c = bank();
    c.sql("CREATE USER carol; GRANT SELECT ON TABLE bank.customers TO carol");
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/adm'");
    let carol = as_user("carol");
    for (sql, what) in [
        ("BACKUP DATABASE bank TO 'nodelocal://1/carol'", "BACKUP"),
        ("BACKUP bank.customers TO 'nodelocal://1/carol'", "BACKUP"),
        ("RESTORE DATABASE bank FROM 'nodelocal://1/adm'", "RESTORE"),
        ("SHOW BACKUP 'nodelocal://1/adm'", "SHOW BACKUP"),
        ("SHOW JOBS", "SHOW JOBS"),
        ("PAUSE JOB 1", "control jobs"),
    ] {
        let e = c.exec_in(&carol, sql).unwrap_err().to_string();
        assert_eq!(e, format!("only users with the admin role are allowed to {what}"), "{sql}");
    }
    assert!(c.store("nodelocal://1/carol").snapshot().is_empty());
    assert_eq!(job_count(&c), 1, "no job for carol's refused statements");
    // A member of admin may.
    c.sql("GRANT admin TO carol");
    let r = c.exec_in(&carol, "BACKUP bank.customers TO 'nodelocal://1/carol'").unwrap();
    result_row(&r);
}

#[test]
fn bulk_statements_are_refused_inside_a_transaction() {
    let c = bank();
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/tx'");
    let jobs = job_count(&c);
    let e = c.exec_in(&in_txn(), "BACKUP DATABASE bank TO 'nodelocal://1/tx2'").unwrap_err();
    assert_eq!(e.to_string(), "BACKUP cannot be used inside a transaction");
    let e = c.exec_in(&in_txn(), "RESTORE DATABASE bank FROM 'nodelocal://1/tx'").unwrap_err();
    assert_eq!(e.to_string(), "RESTORE cannot be used inside a transaction");
    assert!(c.store("nodelocal://1/tx2").snapshot().is_empty());
    // Neither registered a job.
    assert_eq!(job_count(&c), jobs);
}

#[test]
fn as_of_system_time_in_the_future_or_unparseable_is_refused() {
    let c = bank();
    let now = c.now();
    let future = Timestamp::from_nanos(now.wall + 3_600_000_000_000);
    let e = c.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/f' AS OF SYSTEM TIME '{future}'"));
    assert!(e.starts_with(&format!("AS OF SYSTEM TIME: cannot specify timestamp in the future ({future} > ")), "{e}");
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/f' AS OF SYSTEM TIME '2099-01-01 00:00:00'");
    assert!(e.starts_with("AS OF SYSTEM TIME: cannot specify timestamp in the future"), "{e}");
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/f' AS OF SYSTEM TIME 'yesterday'");
    assert!(e.starts_with("AS OF SYSTEM TIME: invalid timestamp \"yesterday\": expected a decimal HLC timestamp"), "{e}");
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/f' AS OF SYSTEM TIME '10s'");
    assert_eq!(e, "AS OF SYSTEM TIME: interval \"10s\" must be negative: AS OF SYSTEM TIME takes a time in the past");
    assert!(c.store("nodelocal://1/f").snapshot().is_empty());
    assert_eq!(job_count(&c), 0);
}

#[test]
fn backup_older_than_the_gc_threshold_is_refused() {
    let mut c = bank();
    c.sql("ALTER TABLE bank.customers CONFIGURE ZONE USING gc.ttlseconds = 5");
    c.advance(Duration::from_secs(60));
    let stats = block_on(c.local.run_gc()).unwrap();
    assert!(stats.versions_removed > 0, "the updates and deletes left versions to collect");
    let span = model::encoding::table_span(c.table_id("bank", "customers"));
    let threshold = block_on(c.local.gc_threshold(&span)).unwrap();
    assert!(!threshold.is_zero());
    let now = c.now().wall;
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/gc' AS OF SYSTEM TIME '-30s'");
    let end = Timestamp::from_nanos(now - 30_000_000_000);
    assert_eq!(e, format!("batch timestamp {end} must be after replica GC threshold {threshold}"));
    assert!(c.store("nodelocal://1/gc").snapshot().is_empty());
    // A table with the default TTL can still be backed up that far back, and customers
    // after its threshold.
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/gc-emp' AS OF SYSTEM TIME '-30s'");
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/gc' AS OF SYSTEM TIME '-2s'");
}

/// Makes a backup of `bank, employees` to `location` fail after its first span: the second
/// export fails for good. Returns the error text.
fn failed_backup(c: &Cluster, location: &str) -> String {
    c.kv.set_hook(Box::new(|n, _req| {
        let fail = n >= 1;
        Box::pin(async move { fail.then(|| KvError::Invalid("injected export failure".into())) })
    }));
    let e = c.err(&format!("BACKUP DATABASE bank, employees TO '{location}'"));
    c.kv.clear_hook();
    e
}

#[test]
fn a_destination_already_holding_a_backup_or_a_checkpoint_is_refused() {
    let c = bank();
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/full'");
    let before = c.store("nodelocal://1/full").snapshot();
    // Writing into the full backup's own directory is refused; backing up other tables to it
    // would be an automatic incremental with a different table set, refused as such.
    assert_eq!(
        c.err("BACKUP DATABASE bank TO 'nodelocal://1/full' INCREMENTAL FROM 'nodelocal://1/full'"),
        "nodelocal://1/full already contains a BACKUP file"
    );
    assert!(c
        .err("BACKUP DATABASE employees TO 'nodelocal://1/full'")
        .starts_with("cannot append a backup of DATABASE employees to nodelocal://1/full, a backup of DATABASE bank"));
    assert_eq!(c.store("nodelocal://1/full").snapshot(), before);
    // A backup that failed half-way removes what it wrote (its data files, checkpoint and lock),
    // so it never blocks the location.
    let e = failed_backup(&c, "nodelocal://1/half");
    assert!(e.starts_with("job ") && e.ends_with(" failed: invalid request: injected export failure"), "{e}");
    assert_eq!(c.store("nodelocal://1/half").snapshot(), BTreeMap::new(), "a failed backup cleans up after itself");
    assert_eq!(c.log.named("job-cleanup").iter().filter(|e| e.contains("data files")).count(), 1);
    let dst = c.fresh_destination();
    assert_eq!(dst.err("SHOW BACKUP 'nodelocal://1/half'"), "nodelocal://1/half: no BACKUP manifest found: not a backup location");
    // A checkpoint alone (what a killed backup of an older version leaves) is an incomplete
    // backup to RESTORE and SHOW BACKUP.
    write_obj(&c.store("nodelocal://1/half"), "BACKUP-CHECKPOINT", b"cp".to_vec());
    let incomplete = "nodelocal://1/half: the backup is incomplete: BACKUP-CHECKPOINT is present but no BACKUP manifest (the backup job did not finish)";
    assert_eq!(dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/half'"), incomplete);
    assert_eq!(dst.err("SHOW BACKUP 'nodelocal://1/half'"), incomplete);
    assert!(dst.catalog().database_by_name("bank").is_none());
    // SHOW JOBS shows the failed backup with its error.
    let jobs = c.ok("SHOW JOBS");
    let failed: Vec<_> = jobs.rows.iter().filter(|r| r[5] == s("failed")).collect();
    assert_eq!(failed.len(), 1, "{}", jobs.render());
    assert_eq!(failed[0][12], s("invalid request: injected export failure"));
    // Nothing at all there: not a backup.
    assert_eq!(dst.err("SHOW BACKUP 'nodelocal://1/empty'"), "nodelocal://1/empty: no BACKUP manifest found: not a backup location");
}

/// A database backup of bank at `location`, a fresh destination, and the manifest.
fn backup_for_damage(location: &str) -> (Cluster, Cluster, backup::format::Manifest) {
    let src = bank();
    src.ok(&format!("BACKUP DATABASE bank TO '{location}'"));
    let m = src.manifest(location);
    assert_eq!(m.files.len(), 4, "one file per table with data: {:?}", m.files);
    let dst = src.fresh_destination();
    (src, dst, m)
}

fn flip(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x40;
}

#[test]
fn a_corrupted_manifest_is_an_error_naming_it() {
    let (_src, dst, _) = backup_for_damage("nodelocal://1/cm");
    let store = dst.store("nodelocal://1/cm");
    let good = read_obj(&store, "BACKUP");
    let mut bad = good.clone();
    flip(&mut bad, good.len() / 2);
    write_obj(&store, "BACKUP", bad);
    let before = catalog_state(&dst.catalog());
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/cm'");
    assert!(e.starts_with("nodelocal://1/cm/BACKUP: checksum mismatch (expected 0x"), "{e}");
    let e = dst.err("SHOW BACKUP 'nodelocal://1/cm'");
    assert!(e.starts_with("nodelocal://1/cm/BACKUP: checksum mismatch"), "{e}");
    assert_eq!(catalog_state(&dst.catalog()), before, "nothing restored");
    // Truncated.
    write_obj(&store, "BACKUP", good[..good.len() / 2].to_vec());
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/cm'");
    assert!(e.starts_with("nodelocal://1/cm/BACKUP: truncated ("), "{e}");
    let e = dst.err("SHOW BACKUP 'nodelocal://1/cm'");
    assert!(e.starts_with("nodelocal://1/cm/BACKUP: truncated ("), "{e}");
    // A data file where the manifest should be.
    assert_eq!(catalog_state(&dst.catalog()), before);
    // Repaired, it restores.
    write_obj(&store, "BACKUP", good);
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/cm'");
}

#[test]
fn a_corrupted_truncated_or_missing_data_file_fails_the_restore_and_publishes_nothing() {
    let (src, dst, m) = backup_for_damage("nodelocal://1/cd");
    let store = dst.store("nodelocal://1/cd");
    // Damage the last file the restore reads, so earlier files were ingested already.
    let last = m.files.last().unwrap().path.clone();
    let good = read_obj(&store, &last);
    let before = catalog_state(&dst.catalog());
    let mut bad = good.clone();
    flip(&mut bad, good.len() - 10);
    write_obj(&store, &last, bad);
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/cd'");
    assert!(e.starts_with(&format!("nodelocal://1/cd/{last}: checksum mismatch (expected 0x")), "{e}");
    let (descs, _) = catalog_state(&dst.catalog());
    assert_eq!(descs, before.0, "no descriptor published");
    assert!(dst.catalog().database_by_name("bank").is_none());
    // Truncated.
    write_obj(&store, &last, good[..good.len() - 5].to_vec());
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/cd'");
    assert!(e.starts_with(&format!("nodelocal://1/cd/{last}: checksum mismatch")) || e.starts_with(&format!("nodelocal://1/cd/{last}: truncated")), "{e}");
    // Missing.
    delete_obj(&store, &last);
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/cd'");
    assert_eq!(e, format!("nodelocal://1/cd: data file {last} listed in the manifest is missing"));
    // Another valid data file in its place: still caught by the manifest's checksum.
    let other = m.files[0].path.clone();
    write_obj(&store, &last, read_obj(&store, &other));
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/cd'");
    assert!(e.starts_with(&format!("nodelocal://1/cd/{last}: checksum mismatch")), "{e}");
    assert_eq!(catalog_state(&dst.catalog()).0, before.0);
    // SHOW BACKUP reads only the manifest: it still lists the backup.
    assert_eq!(dst.ok("SHOW BACKUP 'nodelocal://1/cd'").rows.len(), 6);
    // The failed restores are failed jobs.
    let jobs = dst.ok("SHOW JOBS");
    assert_eq!(jobs.rows.iter().filter(|r| r[1] == s("RESTORE") && r[5] == s("failed")).count(), 4, "{}", jobs.render());
    // Repaired, the restore succeeds and the partial ingests of the failed attempts do not
    // show through.
    write_obj(&store, &last, good);
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/cd'");
    for (t, _) in BANK_TABLES {
        assert_eq!(dst.read_now("bank", t).rows, src.read("bank", t, m.end_time).rows, "{t}");
    }
}

#[test]
fn bad_urls_are_refused_without_their_secrets() {
    let c = bank();
    let cases = [
        ("ftp://host/path", "unsupported storage scheme \"ftp\""),
        ("nodelocal://1/x?FOO=bar", "unknown parameter FOO in nodelocal URL"),
        ("s3://bucket/x?AWS_SECRET_ACCESS_KEY=supersecret", "AWS_ACCESS_KEY_ID"),
        ("s3://bucket/x?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=supersecret&BOGUS=1", "unknown parameter BOGUS in s3 URL"),
        ("s3://bucket/x", "AWS_ACCESS_KEY_ID"),
        ("gs://bucket/x?AUTH=specified&CREDENTIALS=supersecret&EXTRA=1", "unknown parameter EXTRA in gs URL"),
        ("azure://container/x?AZURE_ACCOUNT_KEY=supersecret", "AZURE_ACCOUNT_NAME"),
        ("nodelocal://1/a%2F..%2Fescape", "invalid path in nodelocal URL"),
    ];
    for (url, want) in cases {
        for sql in [format!("BACKUP DATABASE bank TO '{url}'"), format!("RESTORE DATABASE bank FROM '{url}'"), format!("SHOW BACKUP '{url}'")] {
            let e = c.err(&sql);
            assert!(e.contains(want), "{sql}: {e}");
            assert!(!e.contains("supersecret"), "{sql}: {e}");
        }
    }
    let jobs = c.ok("SHOW JOBS").render();
    assert!(!jobs.contains("supersecret"), "{jobs}");
    for j in block_on(backup::jobs::list(&*c.local)).unwrap() {
        assert_eq!(j.job_type, backup::jobs::JobType::Restore, "no backup job for a refused URL");
        assert!(!j.description.contains("supersecret") && !j.error.unwrap_or_default().contains("supersecret"));
    }
}

#[test]
fn restore_over_existing_objects_is_refused_and_changes_nothing() {
    let src = bank();
    src.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/ex'");
    // Into the source itself: everything exists.
    let before = catalog_state(&src.catalog());
    let rows_before = src.read_now("bank", "customers");
    assert_eq!(src.err("RESTORE DATABASE bank FROM 'nodelocal://1/ex'"), "database \"bank\" already exists");
    assert_eq!(src.err("RESTORE DATABASE employees, bank FROM 'nodelocal://1/ex'"), "database \"employees\" already exists");
    assert_eq!(src.err("RESTORE TABLE bank.customers FROM 'nodelocal://1/ex'"), "relation \"bank.customers\" already exists");
    assert_eq!(src.err("RESTORE TABLE bank.* FROM 'nodelocal://1/ex'"), "relation \"bank.customers\" already exists");
    assert_eq!(catalog_state(&src.catalog()), before);
    assert_eq!(src.read_now("bank", "customers"), rows_before);
    // A destination with one of the tables: the whole restore is refused.
    let mut dst = src.fresh_destination();
    dst.sql("CREATE DATABASE employees; CREATE TABLE employees.staff (x INT PRIMARY KEY); INSERT INTO employees.staff VALUES (42)");
    let before = catalog_state(&dst.catalog());
    assert_eq!(dst.err("RESTORE TABLE employees.staff FROM 'nodelocal://1/ex'"), "relation \"employees.staff\" already exists");
    assert_eq!(dst.err("RESTORE DATABASE employees FROM 'nodelocal://1/ex'"), "database \"employees\" already exists");
    assert_eq!(catalog_state(&dst.catalog()), before);
    assert_eq!(dst.read_now("employees", "staff").rows, vec![vec![i(42)]]);
    assert_eq!(dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/ex' WITH into_db = 'x'"), "cannot use \"into_db\" option when restoring database(s)");
    assert!(dst.catalog().database_by_name("bank").is_none());
}

#[test]
fn restore_without_dependencies_needs_the_skip_options() {
    let src = bank();
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/deps'");
    let end = src.manifest("nodelocal://1/deps").end_time;
    let mut dst = src.fresh_destination();
    dst.sql("CREATE DATABASE bank");
    let before = catalog_state(&dst.catalog());
    // Foreign keys.
    assert_eq!(
        dst.err("RESTORE TABLE bank.accounts FROM 'nodelocal://1/deps'"),
        "cannot restore table bank.accounts without referenced table bank.customers (use the \"skip_missing_foreign_keys\" option to restore without the constraint)"
    );
    assert_eq!(catalog_state(&dst.catalog()), before);
    dst.ok("RESTORE TABLE bank.accounts FROM 'nodelocal://1/deps' WITH skip_missing_foreign_keys");
    assert_eq!(dst.read_now("bank", "accounts").rows, src.read("bank", "accounts", end).rows);
    assert!(dst.catalog().table_by_name("bank", "accounts").unwrap().foreign_keys.is_empty());
    dst.sql1("INSERT INTO bank.accounts VALUES (100, 12345, 1.0, NULL)");
    // Sequences (transfers also references accounts, which this restore does not bring).
    assert_eq!(
        dst.err("RESTORE TABLE bank.transfers FROM 'nodelocal://1/deps' WITH skip_missing_foreign_keys"),
        "cannot restore table bank.transfers without sequence bank.transfer_ids (use the \"skip_missing_sequences\" option to restore without the column default)"
    );
    dst.ok("RESTORE TABLE bank.transfers FROM 'nodelocal://1/deps' WITH skip_missing_foreign_keys, skip_missing_sequences");
    assert_eq!(dst.read_now("bank", "transfers").rows, src.read("bank", "transfers", end).rows);
    let t = dst.catalog().table_by_name("bank", "transfers").unwrap().clone();
    assert!(t.column_by_name("id").unwrap().default.is_none(), "the default is gone");
    assert_eq!(dst.sql_err("INSERT INTO bank.transfers (account_id, amount) VALUES (1, 1.0)"), "null value in column \"id\" violates not-null constraint");
    dst.sql1("INSERT INTO bank.transfers VALUES (10, 1, 1.0)");
    // Views.
    let mut dst2 = src.fresh_destination();
    dst2.sql("CREATE DATABASE bank");
    assert_eq!(
        dst2.err("RESTORE TABLE bank.rich_accounts FROM 'nodelocal://1/deps'"),
        "cannot restore view bank.rich_accounts without relation bank.accounts (use the \"skip_missing_views\" option to skip the view)"
    );
    dst2.ok("RESTORE TABLE bank.rich_accounts, bank.customers FROM 'nodelocal://1/deps' WITH skip_missing_views");
    assert!(dst2.catalog().table_by_name("bank", "rich_accounts").is_none(), "the view was skipped");
    assert_eq!(dst2.read_now("bank", "customers").rows, src.read("bank", "customers", end).rows);
    // With what it selects from, the view comes along and works.
    dst2.ok("RESTORE TABLE bank.rich_accounts, bank.accounts FROM 'nodelocal://1/deps' WITH skip_missing_foreign_keys");
    assert_eq!(dst2.read_now("bank", "rich_accounts").rows, src.read("bank", "rich_accounts", end).rows);
}

#[test]
fn a_superfluous_passphrase_and_a_missing_chain_member_are_refused_by_name() {
    let c = bank();
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/base'");
    let cases = [
        // A passphrase for a backup that is not encrypted (encryption itself: local_encryption.rs).
        (
            "RESTORE DATABASE bank FROM 'nodelocal://1/base' WITH encryption_passphrase = 'hunter2'",
            "nodelocal://1/base/BACKUP: file does not appear to be encrypted",
        ),
        ("RESTORE DATABASE bank FROM 'nodelocal://1/base', 'nodelocal://1/r'", "nodelocal://1/r: no BACKUP manifest found: not a backup location"),
        (
            "BACKUP DATABASE bank TO 'nodelocal://1/r' INCREMENTAL FROM 'nodelocal://1/base', 'nodelocal://1/missing'",
            "nodelocal://1/missing: no BACKUP manifest found: not a backup location",
        ),
        ("SHOW BACKUP 'nodelocal://1/base' WITH encryption_passphrase = 'hunter2'", "nodelocal://1/base/BACKUP: file does not appear to be encrypted"),
    ];
    for (sql, want) in cases {
        let e = c.err(sql);
        assert_eq!(e, want, "{sql}");
    }
    assert!(c.store("nodelocal://1/r").snapshot().is_empty());
    let jobs = c.ok("SHOW JOBS").render();
    assert!(!jobs.contains("hunter2"), "{jobs}");
    assert_eq!(block_on(backup::jobs::list(&*c.local)).unwrap().iter().filter(|j| j.job_type == backup::jobs::JobType::Backup).count(), 1);
}

#[test]
fn a_backup_as_of_before_a_tables_creation_does_not_see_it() {
    let mut c = bank();
    c.sql("CREATE TABLE bank.recent (k INT PRIMARY KEY); INSERT INTO bank.recent VALUES (1)");
    c.advance(Duration::from_secs(5));
    assert_eq!(c.err("BACKUP bank.recent TO 'nodelocal://1/recent' AS OF SYSTEM TIME '-10s'"), "table \"bank.recent\" does not exist");
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/recent' AS OF SYSTEM TIME '-10s'");
    let m = c.manifest("nodelocal://1/recent");
    assert!(m.descriptors.iter().all(|d| d.name() != "recent"), "the database as it was then");
    c.ok("BACKUP bank.recent TO 'nodelocal://1/recent-now'");
}
