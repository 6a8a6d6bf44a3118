//! End-to-end, in-process round trips: BACKUP on one cluster, RESTORE (database, tables with
//! and without `into_db`, full cluster) on a fresh one sharing the storage, then every restored
//! relation read back and compared with the source as of the backup's time.

use crate::common::*;
use backup::storage::MemStorageProvider;
use model::catalog::DEFAULT_ZONE_ID;
use model::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// Asserts that `dst.db.table` now holds exactly what `src.src_db.table` held at `ts`
/// (columns and rows, hidden ones included), and returns the two descriptor ids.
fn same_table(src: &Cluster, src_db: &str, dst: &Cluster, db: &str, table: &str, ts: Timestamp) -> (u32, u32) {
    let want = src.read(src_db, table, ts);
    let got = dst.read_now(db, table);
    assert_eq!(got.columns, want.columns, "{db}.{table}");
    assert_eq!(got.rows, want.rows, "{db}.{table}");
    (want.table_id, got.table_id)
}

#[test]
fn restore_database_round_trips_with_new_ids() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    let (_, rows, index_entries, bytes) = result_row(&src.ok("BACKUP DATABASE bank TO 'nodelocal://1/bank' AS OF SYSTEM TIME '-10s'"));
    let end = src.manifest("nodelocal://1/bank").end_time;
    let mut dst = src.fresh_destination();
    // The destination already has descriptors where the source's ids were.
    dst.sql("CREATE DATABASE other; CREATE TABLE other.t (k INT PRIMARY KEY); CREATE TABLE other.u (k INT PRIMARY KEY); INSERT INTO other.t VALUES (1)");
    let (_, r_rows, r_index, r_bytes) = result_row(&dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/bank'"));
    assert_eq!((r_rows, r_index, r_bytes), (rows, index_entries, bytes), "restore ingested what the backup exported");
    for (t, n) in BANK_TABLES {
        let (old, new) = same_table(&src, "bank", &dst, "bank", t, end);
        assert_ne!(old, new, "{t}: id rewritten");
        assert_eq!(dst.read_now("bank", t).rows.len() as i64, n);
    }
    let (old, new) = same_table(&src, "bank", &dst, "bank", "rich_accounts", end);
    assert_ne!(old, new);
    assert_eq!(dst.rows("SELECT id FROM bank.rich_accounts ORDER BY id"), vec![vec![i(2)], vec![i(3)], vec![i(5)]], "the view works");
    assert_eq!(dst.read_now("other", "t").rows, vec![vec![i(1)]], "existing data untouched");
    // The database is not the source's id either, and its tables all live in it.
    let cat = dst.catalog();
    let bank = cat.database_by_name("bank").unwrap().id;
    assert_ne!(bank, src.catalog().database_by_name("bank").unwrap().id);
    assert_eq!(cat.tables_in(bank).len(), 5);
    // Secondary indexes came along: as many entries as the source, and the unique one enforces.
    let accounts = cat.table_by_name("bank", "accounts").unwrap().clone();
    let idx = accounts.index_by_name("accounts_by_customer").unwrap().id;
    let entries = futures::executor::block_on(model::Kv::scan(&*dst.local, &model::encoding::index_span(accounts.id, idx), dst.now())).unwrap();
    assert_eq!(entries.len(), 5);
    let e = dst.sql_err("INSERT INTO bank.customers VALUES (7, 'dup', 'ann@bank')");
    assert!(e.starts_with("duplicate key value violates unique constraint"), "{e}");
    // The sequence continues from its backed-up value.
    assert_eq!(dst.rows("SELECT last_value FROM bank.transfer_ids"), vec![vec![i(4)]]);
    dst.sql1("INSERT INTO bank.transfers (account_id, amount) VALUES (1, 1.5)");
    assert_eq!(dst.rows("SELECT id FROM bank.transfers WHERE amount = 1.5"), vec![vec![i(5)]]);
    // The foreign keys still enforce, pointing at the restored tables.
    let e = dst.sql_err("INSERT INTO bank.accounts VALUES (99, 42, 1.0, NULL)");
    assert_eq!(e, "insert on table \"accounts\" violates foreign key constraint \"fk_customer_id_ref_customers\": key (customer_id)=(42) is not present in table \"customers\"");
    let e = dst.sql_err("DELETE FROM bank.customers WHERE id = 1");
    assert!(e.contains("still referenced"), "{e}");
    let e = dst.sql_err("INSERT INTO bank.transfers (account_id, amount) VALUES (77, 1.0)");
    assert!(e.contains("is not present in table \"accounts\""), "{e}");
    // New writes work on every restored table.
    dst.sql("INSERT INTO bank.customers VALUES (8, 'new', NULL); INSERT INTO bank.accounts VALUES (8, 8, 2000.0, 'x')");
    assert_eq!(dst.rows("SELECT count(*) FROM bank.rich_accounts"), vec![vec![i(4)]]);
}

#[test]
fn restore_tables_into_their_database_or_into_db() {
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP bank.customers, bank.accounts TO 'nodelocal://1/tables'");
    let end = src.manifest("nodelocal://1/tables").end_time;
    // Source changes after the backup do not matter.
    src.sql("UPDATE bank.customers SET name = 'later' WHERE id = 1");
    let mut dst = src.fresh_destination();
    let e = dst.err("RESTORE TABLE bank.customers FROM 'nodelocal://1/tables'");
    assert_eq!(e, "a database named \"bank\" needs to exist to restore table \"customers\" into it");
    dst.sql("CREATE DATABASE bank; CREATE DATABASE newbank");
    let (_, rows, idx, _) = result_row(&dst.ok("RESTORE TABLE bank.customers FROM 'nodelocal://1/tables'"));
    assert_eq!(rows, 4);
    assert!(idx >= 3);
    same_table(&src, "bank", &dst, "bank", "customers", end);
    assert!(dst.catalog().table_by_name("bank", "accounts").is_none(), "only what was named");
    // Both tables into another database, by name and with a pattern.
    dst.ok("RESTORE bank.customers, bank.accounts FROM 'nodelocal://1/tables' WITH into_db = 'newbank'");
    same_table(&src, "bank", &dst, "newbank", "customers", end);
    same_table(&src, "bank", &dst, "newbank", "accounts", end);
    // The FK follows into the new database.
    let e = dst.sql_err("INSERT INTO newbank.accounts VALUES (50, 50, 1.0, NULL)");
    assert!(e.contains("is not present in table \"customers\""), "{e}");
    dst.sql("CREATE DATABASE third");
    dst.ok("RESTORE TABLE bank.* FROM 'nodelocal://1/tables' WITH into_db = 'third'");
    same_table(&src, "bank", &dst, "third", "accounts", end);
    let e = dst.err("RESTORE TABLE bank.staff FROM 'nodelocal://1/tables'");
    assert_eq!(e, "table \"bank.staff\" does not exist in the backup");
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/tables'");
    assert!(e.contains("database \"bank\" not found in the backup"), "{e}");
}

#[test]
fn restore_one_table_of_a_database_backup() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/dbs'");
    let end = src.manifest("nodelocal://1/dbs").end_time;
    let mut dst = src.fresh_destination();
    dst.sql("CREATE DATABASE employees");
    dst.ok("RESTORE TABLE employees.staff FROM 'nodelocal://1/dbs'");
    same_table(&src, "employees", &dst, "employees", "staff", end);
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/dbs'");
    for (t, _) in BANK_TABLES {
        same_table(&src, "bank", &dst, "bank", t, end);
    }
}

#[test]
fn full_cluster_restore_brings_users_grants_and_zones() {
    let mut src = Cluster::alone();
    src.sql(SCHEMA);
    src.sql(DATA);
    src.sql(
        "CREATE TABLE defaultdb.notes (k INT PRIMARY KEY, v STRING);
         INSERT INTO defaultdb.notes VALUES (1, 'in defaultdb');
         CREATE USER alice WITH PASSWORD 'hunter2';
         CREATE USER bob;
         GRANT SELECT ON TABLE bank.customers TO alice;
         GRANT admin TO bob;
         ALTER TABLE bank.accounts CONFIGURE ZONE USING gc.ttlseconds = 3600;
         ALTER DATABASE employees CONFIGURE ZONE USING gc.ttlseconds = 7200;
         ALTER RANGE default CONFIGURE ZONE USING gc.ttlseconds = 100000;",
    );
    src.advance(Duration::from_secs(11));
    let r = src.ok("BACKUP TO 'nodelocal://1/cluster' AS OF SYSTEM TIME '-10s'");
    result_row(&r);
    let m = src.manifest("nodelocal://1/cluster");
    let end = m.end_time;
    let data = m.cluster_data.clone().expect("cluster data");
    assert!(data.users.iter().any(|u| u.name == "alice"));
    let mut dst = src.fresh_destination();
    dst.ok("RESTORE FROM 'nodelocal://1/cluster'");
    // New descriptors do not collide with restored ones.
    dst.sql("CREATE TABLE defaultdb.after (k INT PRIMARY KEY); INSERT INTO defaultdb.after VALUES (1)");
    assert_eq!(dst.rows("SELECT count(*) FROM defaultdb.notes"), vec![vec![i(1)]]);
    for (t, _) in BANK_TABLES {
        same_table(&src, "bank", &dst, "bank", t, end);
    }
    same_table(&src, "bank", &dst, "bank", "rich_accounts", end);
    same_table(&src, "employees", &dst, "employees", "staff", end);
    same_table(&src, "defaultdb", &dst, "defaultdb", "notes", end);
    let cat = dst.catalog();
    // Users and role memberships.
    let alice = cat.user("alice").expect("alice restored");
    assert!(alice.has_password && !alice.is_role);
    assert!(cat.user("bob").is_some() && cat.is_admin("bob") && !cat.is_admin("alice"));
    // Grants travel with the descriptors: alice reads customers, not accounts.
    let mut alice_s = model::Session::new(dst.local.clone(), "alice");
    let got = futures::executor::block_on(alice_s.execute("SELECT name FROM bank.customers WHERE id = 1")).unwrap();
    assert_eq!(got.rows, vec![vec![s("ann")]]);
    let e = futures::executor::block_on(alice_s.execute("SELECT * FROM bank.accounts")).unwrap_err();
    assert_eq!(e.to_string(), "user alice does not have SELECT privilege on relation accounts");
    // Zone configs, under the restored ids.
    let accounts = cat.table_by_name("bank", "accounts").unwrap().id;
    let staff = cat.table_by_name("employees", "staff").unwrap().id;
    let customers = cat.table_by_name("bank", "customers").unwrap().id;
    assert_eq!(cat.gc_ttl(accounts), Duration::from_secs(3600));
    assert_eq!(cat.gc_ttl(staff), Duration::from_secs(7200), "the database's zone");
    assert_eq!(cat.gc_ttl(customers), Duration::from_secs(100000), "the default zone");
    assert_eq!(cat.zone(DEFAULT_ZONE_ID).map(|z| z.gc_ttl_seconds), Some(100000));
    // A second full cluster restore is refused: the cluster has user data now.
    let e = dst.err("RESTORE FROM 'nodelocal://1/cluster'");
    assert_eq!(e, "full cluster restore can only be run on a cluster with no tables or databases but the system database");
    // A database restore from a cluster backup works too.
    let third = src.fresh_destination();
    third.ok("RESTORE DATABASE employees FROM 'nodelocal://1/cluster'");
    same_table(&src, "employees", &third, "employees", "staff", end);
    assert!(third.catalog().user("alice").is_none(), "users come only with a full cluster restore");
    // A full cluster restore from a database backup is refused.
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/only-bank'");
    let fourth = src.fresh_destination();
    let e = fourth.err("RESTORE FROM 'nodelocal://1/only-bank'");
    assert!(e.contains("is not a full cluster backup"), "{e}");
}

#[test]
fn a_view_restored_into_another_database_reads_the_restored_table() {
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.sql("CREATE VIEW employees.big AS SELECT id, balance FROM bank.accounts WHERE balance > 200");
    src.ok("BACKUP bank.customers, bank.accounts, employees.big TO 'nodelocal://1/xview'");
    let end = src.manifest("nodelocal://1/xview").end_time;
    let mut dst = src.fresh_destination();
    // The destination has its own bank.accounts, which the restored view must not read.
    dst.sql("CREATE DATABASE bank; CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance FLOAT); INSERT INTO bank.accounts VALUES (1000, 9999.0); CREATE DATABASE x");
    dst.ok("RESTORE bank.accounts, employees.big FROM 'nodelocal://1/xview' WITH into_db = 'x', skip_missing_foreign_keys");
    assert_eq!(dst.read_now("x", "big").rows, src.read("employees", "big", end).rows);
    // Restored into its own database, the view reads the restored table too; and a view of
    // the same database keeps working when both move.
    dst.sql("CREATE DATABASE employees; CREATE DATABASE y");
    dst.ok("RESTORE bank.accounts, employees.big FROM 'nodelocal://1/xview' WITH into_db = 'y', skip_missing_foreign_keys");
    assert_eq!(dst.read_now("y", "big").rows, src.read("employees", "big", end).rows);
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/xview-bank'");
    dst.ok("RESTORE bank.rich_accounts, bank.accounts FROM 'nodelocal://1/xview-bank' WITH into_db = 'employees', skip_missing_foreign_keys");
    assert_eq!(dst.rows("SELECT count(*) FROM employees.rich_accounts"), vec![vec![i(3)]]);
    assert_eq!(dst.read_now("bank", "accounts").rows, vec![vec![i(1000), f(9999.0)]], "the destination's own table untouched");
}

#[test]
fn a_full_cluster_restore_gives_zone_configs_only_to_the_objects_they_belong_to() {
    let mut src = Cluster::alone();
    // A table created first (id 52 in the source), given a short GC TTL, then dropped: its zone
    // config stays in the catalog, but nothing restored is that table.
    src.sql("CREATE DATABASE scratch; CREATE TABLE scratch.tmp (k INT PRIMARY KEY); ALTER TABLE scratch.tmp CONFIGURE ZONE USING gc.ttlseconds = 5");
    let tmp = src.table_id("scratch", "tmp");
    src.sql("DROP TABLE scratch.tmp");
    src.sql(SCHEMA);
    src.sql(DATA);
    src.sql("ALTER DATABASE defaultdb CONFIGURE ZONE USING gc.ttlseconds = 1234");
    let zones_before: Vec<u32> = src.catalog().zones().map(|(id, _)| id).collect();
    src.ok("BACKUP TO 'nodelocal://1/zones'");
    let dst = src.fresh_destination();
    dst.ok("RESTORE FROM 'nodelocal://1/zones'");
    let cat = dst.catalog();
    for t in cat.all_tables() {
        assert_eq!(
            cat.gc_ttl(t.id),
            std::time::Duration::from_secs(model::catalog::DEFAULT_GC_TTL_SECONDS),
            "{} (id {}) got another object's zone config (source zones {zones_before:?}, dropped table {tmp})",
            t.name,
            t.id
        );
    }
    for d in cat.databases() {
        let want = (d.name == "defaultdb").then_some(1234);
        assert_eq!(cat.zone(d.id).map(|z| z.gc_ttl_seconds), want, "database {}", d.name);
    }
}

#[test]
fn restore_as_of_system_time_must_be_the_backups_time() {
    let src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/rt' AS OF SYSTEM TIME '-10s'");
    let end = src.manifest("nodelocal://1/rt").end_time;
    let dst = src.fresh_destination();
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/rt' AS OF SYSTEM TIME '-1s'");
    assert_eq!(
        e,
        format!(
            "invalid RESTORE timestamp: restoring to arbitrary time requires that BACKUP for requested time be created with 'revision_history' option. nearest backup time is {}",
            end.to_datetime_string()
        )
    );
    assert!(dst.catalog().database_by_name("bank").is_none());
    dst.ok(&format!("RESTORE DATABASE bank FROM 'nodelocal://1/rt' AS OF SYSTEM TIME '{end}'"));
    same_table(&src, "bank", &dst, "bank", "customers", end);
}
