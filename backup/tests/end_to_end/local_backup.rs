//! End-to-end, in-process: every BACKUP example of the seed page, `AS OF SYSTEM TIME '-10s'`,
//! SHOW BACKUP's rows and SHOW JOBS (redaction included), through `backup::exec::execute`.

use crate::common::*;
use backup::storage::MemStorageProvider;
use model::{Datum, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The seed's examples, verbatim but for line breaks, each with the relations it backs up.
const EXAMPLES: [(&str, &[(&str, &str)]); 5] = [
    (
        "BACKUP TO 'gs://acme-co-backup/test-cluster' AS OF SYSTEM TIME '-10s';",
        &[("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers"), ("employees", "staff")],
    ),
    (
        "BACKUP DATABASE bank TO 'gs://acme-co-backup/database-bank-2017-03-27-weekly' AS OF SYSTEM TIME '-10s';",
        &[("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers")],
    ),
    (
        "BACKUP DATABASE bank, employees TO 'gs://acme-co-backup/database-bank-2017-03-27-weekly' AS OF SYSTEM TIME '-10s';",
        &[("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers"), ("employees", "staff")],
    ),
    ("BACKUP bank.customers TO 'gs://acme-co-backup/bank-customers-2017-03-27-weekly' AS OF SYSTEM TIME '-10s';", &[("bank", "customers")]),
    (
        "BACKUP bank.customers, bank.accounts TO 'gs://acme-co-backup/database-bank-2017-03-27-weekly' AS OF SYSTEM TIME '-10s';",
        &[("bank", "customers"), ("bank", "accounts")],
    ),
];

fn location_of(sql: &str) -> &str {
    let start = sql.find('\'').unwrap() + 1;
    &sql[start..start + sql[start..].find('\'').unwrap()]
}

#[test]
fn every_seed_backup_example_runs_and_reports_its_totals() {
    for (n, (sql, tables)) in EXAMPLES.iter().enumerate() {
        // Several examples share a destination: each runs against its own storage.
        let c = bank_cluster(Arc::new(MemStorageProvider::new()));
        let clock_now = c.now().wall;
        let r = c.ok(sql);
        let (job, rows, index_entries, bytes) = result_row(&r);
        let m = c.manifest(location_of(sql));
        assert_eq!(m.end_time, Timestamp::from_nanos(clock_now - 10_000_000_000), "{sql}: '-10s' is 10 s before the statement");
        let ids: Vec<u32> = tables.iter().map(|(d, t)| c.table_id(d, t)).collect();
        let (er, ei, eb) = expected_totals(&c, &ids, m.end_time);
        assert_eq!((rows, index_entries, bytes), (er, ei, eb), "{sql}");
        assert!(rows > 0 && bytes > 0);
        assert!(job > 0);
        // The totals match the manifest's.
        assert_eq!((m.entry_counts.rows as i64, m.entry_counts.index_entries as i64, m.entry_counts.data_size as i64), (rows, index_entries, bytes));
        assert_eq!(m.is_full_cluster, n == 0);
        // Descriptor set: the relations plus their databases (and the view for database and
        // cluster backups).
        let mut names: Vec<String> = m.descriptors.iter().map(|d| d.name().to_string()).collect();
        names.sort();
        let mut want: Vec<String> = tables.iter().map(|(_, t)| t.to_string()).collect();
        want.extend(tables.iter().map(|(d, _)| d.to_string()));
        if n <= 2 {
            want.push("rich_accounts".into());
        }
        if n == 0 {
            want.extend(["defaultdb".into(), "postgres".into()]);
        }
        want.sort();
        want.dedup();
        assert_eq!(names, want, "{sql}");
    }
}

#[test]
fn seed_example_row_counts_are_the_data_written() {
    // Concrete numbers for the database example: rows are the primary-index entries of
    // customers (4), accounts (5), the sequence's value (1) and transfers (3); index entries
    // those of customers' unique email index and accounts_by_customer (5).
    let c = bank_cluster(Arc::new(MemStorageProvider::new()));
    let (_, rows, index_entries, _) = result_row(&c.ok(EXAMPLES[1].0));
    assert_eq!(rows, 4 + 5 + 1 + 3);
    let customers_index = c.table_kvs(c.table_id("bank", "customers"), c.now()).len() as i64 - 4;
    assert!(customers_index == 3 || customers_index == 4, "unique index entries of customers: {customers_index}");
    assert_eq!(index_entries, customers_index + 5);
    let (_, rows, index_entries, _) = result_row(&c.ok(EXAMPLES[3].0));
    assert_eq!((rows, index_entries), (4, customers_index));
}

#[test]
fn the_seeds_incremental_example_makes_an_incremental_in_a_date_named_subdirectory() {
    // "If you backup to a destination already containing a full backup, an incremental backup
    // will be produced in a subdirectory with a date-based name": the second statement leaves
    // the full backup as it was and adds `<YYYYMMDD>/<HHMMSS.ss>/BACKUP`, which holds only what
    // changed; RESTORE from the location restores the chain's latest state.
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    let sql = "BACKUP TO 'gs://acme-co-backup/test-cluster' AS OF SYSTEM TIME '-10s';";
    c.ok(sql);
    let before = c.store("gs://acme-co-backup/test-cluster").snapshot();
    c.sql("UPDATE bank.customers SET name = 'changed' WHERE id = 1");
    c.advance(Duration::from_secs(15));
    c.ok(sql);
    let after = c.store("gs://acme-co-backup/test-cluster").snapshot();
    for (path, size) in &before {
        assert_eq!(after.get(path), Some(size), "{path} changed");
    }
    let subdir = after
        .keys()
        .find(|p| p.ends_with("/BACKUP") && p.len() == "20200913/122645.000000000/BACKUP".len())
        .unwrap_or_else(|| panic!("no dated subdirectory: {after:?}"))
        .clone();
    let inc = c.manifest(&format!("gs://acme-co-backup/test-cluster/{}", subdir.trim_end_matches("/BACKUP")));
    let full = c.manifest("gs://acme-co-backup/test-cluster");
    assert_eq!(inc.start_time, full.end_time);
    assert_eq!(inc.entry_counts.rows, 1, "only the changed row: {}", inc.dump());
    let r = c.ok("SHOW BACKUP 'gs://acme-co-backup/test-cluster'");
    let kinds: BTreeSet<String> = r.rows.iter().map(|row| format!("{:?}", row[9])).collect();
    assert_eq!(kinds.len(), 2, "{}", r.render());
}

#[test]
fn as_of_system_time_backs_up_the_older_state() {
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    let old_ts = c.now();
    let old_customers = c.read("bank", "customers", old_ts);
    let old_accounts = c.read("bank", "accounts", old_ts);
    c.advance(Duration::from_secs(3));
    c.sql(
        "UPDATE bank.customers SET name = 'changed' WHERE id = 1;
         INSERT INTO bank.customers VALUES (9, 'new', 'new@bank');
         DELETE FROM bank.transfers WHERE id = 1;
         UPDATE bank.accounts SET balance = 1.0 WHERE id = 2;
         INSERT INTO bank.accounts VALUES (9, 9, 7.0, NULL);
         INSERT INTO bank.transfers (account_id, amount) VALUES (9, 7.0);",
    );
    let new_customers = c.read_now("bank", "customers");
    assert_ne!(new_customers.rows, old_customers.rows);
    c.advance(Duration::from_secs(8));
    // now - 10 s lies 1 s after `old_ts`, before the changes.
    let now = c.now().wall;
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/aost' AS OF SYSTEM TIME '-10s'");
    let m = c.manifest("nodelocal://1/aost");
    assert_eq!(m.end_time, Timestamp::from_nanos(now - 10_000_000_000));
    assert!(m.end_time > old_ts);
    let mut d = c.fresh_destination();
    d.ok("RESTORE DATABASE bank FROM 'nodelocal://1/aost'");
    let got = d.read_now("bank", "customers");
    assert_eq!((&got.columns, &got.rows), (&old_customers.columns, &old_customers.rows));
    let got = d.read_now("bank", "accounts");
    assert_eq!((&got.columns, &got.rows), (&old_accounts.columns, &old_accounts.rows));
    let got = d.read_now("bank", "transfers");
    assert_eq!(got.rows, c.read("bank", "transfers", old_ts).rows);
    assert_eq!(d.rows("SELECT last_value FROM bank.transfer_ids"), vec![vec![i(4)]], "the sequence as of then, not 5");
    assert_eq!(c.rows("SELECT last_value FROM bank.transfer_ids"), vec![vec![i(5)]]);
    // An absolute decimal timestamp works the same way.
    c.ok(&format!("BACKUP DATABASE bank TO 'nodelocal://1/aost-abs' AS OF SYSTEM TIME '{old_ts}'"));
    assert_eq!(c.manifest("nodelocal://1/aost-abs").end_time, old_ts);
}

fn ts_str(t: Timestamp) -> Datum {
    s(&t.to_datetime_string())
}

#[test]
fn show_backup_lists_the_database_and_its_relations() {
    let c = bank_cluster(Arc::new(MemStorageProvider::new()));
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/show' AS OF SYSTEM TIME '-10s'");
    let m = c.manifest("nodelocal://1/show");
    let end = ts_str(m.end_time);
    let size = |t: &str| expected_totals(&c, &[c.table_id("bank", t)], m.end_time).2;
    let r = c.ok("SHOW BACKUP 'nodelocal://1/show'");
    assert_eq!(
        r.columns,
        vec![
            "database_name",
            "parent_schema_name",
            "object_name",
            "object_type",
            "start_time",
            "end_time",
            "size_bytes",
            "rows",
            "is_full_cluster",
            "backup_type",
            "revision_history"
        ]
    );
    let f = Datum::Bool(false);
    let n = Datum::Null;
    let full = s("full");
    assert_eq!(
        r.rows,
        vec![
            vec![n.clone(), n.clone(), s("bank"), s("database"), n.clone(), end.clone(), n.clone(), n.clone(), f.clone(), full.clone(), f.clone()],
            vec![s("bank"), s("public"), s("customers"), s("table"), n.clone(), end.clone(), i(size("customers")), i(4), f.clone(), full.clone(), f.clone()],
            vec![s("bank"), s("public"), s("accounts"), s("table"), n.clone(), end.clone(), i(size("accounts")), i(5), f.clone(), full.clone(), f.clone()],
            vec![
                s("bank"),
                s("public"),
                s("transfer_ids"),
                s("sequence"),
                n.clone(),
                end.clone(),
                i(size("transfer_ids")),
                i(1),
                f.clone(),
                full.clone(),
                f.clone()
            ],
            vec![s("bank"), s("public"), s("transfers"), s("table"), n.clone(), end.clone(), i(size("transfers")), i(3), f.clone(), full.clone(), f.clone()],
            vec![s("bank"), s("public"), s("rich_accounts"), s("view"), n.clone(), end.clone(), i(0), i(0), f.clone(), full.clone(), f.clone()],
        ],
        "{}",
        r.render()
    );
    assert!(size("customers") > 0 && size("accounts") > size("transfer_ids"));
    // A cluster backup says so in every row.
    c.ok("BACKUP TO 'nodelocal://1/show-cluster'");
    let r = c.ok("SHOW BACKUP 'nodelocal://1/show-cluster'");
    assert!(r.rows.iter().all(|row| row[8] == Datum::Bool(true)), "{}", r.render());
    assert!(r.rows.iter().any(|row| row[2] == s("staff")));
}

#[test]
fn show_jobs_lists_the_backup_with_its_secrets_redacted() {
    let c = bank_cluster(Arc::new(MemStorageProvider::new()));
    let url = "s3://acme-co/bank-weekly?AWS_ACCESS_KEY_ID=AKIA123&AWS_SECRET_ACCESS_KEY=supersecret";
    let (job, ..) = result_row(&c.ok(&format!("BACKUP DATABASE bank TO '{url}' AS OF SYSTEM TIME '-10s'")));
    let r = c.ok("SHOW JOBS");
    assert_eq!(
        r.columns,
        vec![
            "job_id",
            "job_type",
            "description",
            "statement",
            "user_name",
            "status",
            "running_status",
            "created",
            "started",
            "finished",
            "modified",
            "fraction_completed",
            "error",
            "coordinator_id"
        ]
    );
    let rendered = r.render();
    assert!(!rendered.contains("supersecret"), "{rendered}");
    let row = r.rows.iter().find(|row| row[0] == i(job)).unwrap_or_else(|| panic!("job {job} not listed:\n{rendered}"));
    assert_eq!(row[1], s("BACKUP"));
    assert_eq!(
        row[2],
        s("BACKUP DATABASE bank TO 's3://acme-co/bank-weekly?AWS_ACCESS_KEY_ID=AKIA123&AWS_SECRET_ACCESS_KEY=redacted' AS OF SYSTEM TIME '-10s'")
    );
    assert_eq!((&row[4], &row[5], &row[11], &row[12], &row[13]), (&s("root"), &s("succeeded"), &f(1.0), &s(""), &Datum::Null));
    assert!(matches!(&row[9], Datum::String(_)), "finished is set");
    // The stored record's description is the redacted one too.
    let rec = futures::executor::block_on(backup::jobs::load::<serde_json::Value>(&*c.local, job)).unwrap().unwrap();
    assert!(rec.description.contains("AWS_SECRET_ACCESS_KEY=redacted") && !rec.description.contains("supersecret"));
    // SHOW BACKUP of that location works and leaks nothing either.
    let shown = c.ok(&format!("SHOW BACKUP '{url}'")).render();
    assert!(!shown.contains("supersecret") && shown.contains("customers"));
    // Errors naming that location do not leak it: a second backup there, a restore and a
    // SHOW BACKUP of an empty location.
    let e = c.err(&format!("BACKUP DATABASE bank TO '{url}' INCREMENTAL FROM '{url}'"));
    assert_eq!(e, "s3://acme-co/bank-weekly?AWS_ACCESS_KEY_ID=AKIA123&AWS_SECRET_ACCESS_KEY=redacted already contains a BACKUP file");
    let empty = "s3://acme-co/nothing?AWS_ACCESS_KEY_ID=AKIA123&AWS_SECRET_ACCESS_KEY=supersecret";
    let e = c.err(&format!("RESTORE DATABASE bank FROM '{empty}'"));
    assert!(e.contains("no BACKUP manifest found") && !e.contains("supersecret"), "{e}");
    let e = c.err(&format!("SHOW BACKUP '{empty}'"));
    assert!(e.contains("no BACKUP manifest found") && !e.contains("supersecret"), "{e}");
    // A restore refused while it is planned (as CockroachDB's is: the backup is read before a
    // job exists) leaves no job behind; SHOW JOBS still shows no secret.
    let r = c.ok("SHOW JOBS");
    let rendered = r.render();
    assert!(!rendered.contains("supersecret"), "{rendered}");
    assert!(!r.rows.iter().any(|row| row[1] == s("RESTORE")), "{rendered}");
    // Nothing anywhere in the cluster's job records holds the secret outside the payload.
    for j in futures::executor::block_on(backup::jobs::list(&*c.local)).unwrap() {
        assert!(!j.description.contains("supersecret") && !j.error.clone().unwrap_or_default().contains("supersecret"), "{j:?}");
    }
}
