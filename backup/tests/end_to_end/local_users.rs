//! End-to-end, in process: the seed's procedure for restoring users from a `system.users`
//! backup (issue #17) — `BACKUP TABLE system.users`, `RESTORE system.users … WITH into_db`,
//! then `INSERT INTO system.users SELECT … FROM newdb.users WHERE username NOT IN (SELECT
//! username FROM system.users)` — after which the restored users exist: an admin can make
//! them members of roles again, and their sessions read what those roles may read. Checked
//! against the source cluster's own `system.users`, in a fresh cluster, in the same cluster
//! after a drop, as of points in an incremental chain's history, and through every refusal.

use crate::common::*;
use backup::storage::{ExternalStorage, MemStorageProvider};
use futures::executor::block_on;
use model::catalog::Catalog;
use model::Datum;
use std::sync::Arc;
use std::time::Duration;

/// What `user` gets from `sql` in its own session on `c` (the rows, or the error's text).
fn as_session(c: &Cluster, user: &str, sql: &str) -> Result<Vec<Vec<Datum>>, String> {
    let mut s = model::Session::new(c.local.clone(), user);
    block_on(s.execute(sql)).map(|r| r.rows).map_err(|e| e.to_string())
}

/// The user names of `c`'s `system.users`, sorted.
fn usernames(c: &mut Cluster) -> Vec<String> {
    c.rows("SELECT username FROM system.users ORDER BY username")
        .into_iter()
        .map(|r| match &r[0] {
            Datum::String(s) => s.clone(),
            other => panic!("username {other:?}"),
        })
        .collect()
}

fn catalog_state(c: &Catalog) -> (Vec<model::Descriptor>, Vec<model::catalog::UserRecord>, u32) {
    (c.descriptors().cloned().collect(), c.users().cloned().collect(), c.next_descriptor_id())
}

const COPY_BACK: &str = "INSERT INTO system.users SELECT * FROM newdb.users WHERE username NOT IN (SELECT username FROM system.users)";

#[test]
fn the_documented_procedure_brings_users_back_into_a_fresh_cluster() {
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.sql(
        "CREATE USER alice WITH PASSWORD 'correct horse'; CREATE USER bob; CREATE ROLE readers;
         GRANT SELECT ON TABLE bank.customers TO readers; GRANT readers TO alice",
    );
    let (_, rows, _, _) = result_row(&src.ok("BACKUP TABLE system.users TO 'nodelocal://1/system_users'"));
    assert_eq!(rows, 5, "admin, alice, bob, readers, root");
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/bank'");
    let m = src.manifest("nodelocal://1/system_users");
    let names: Vec<&str> = m.descriptors.iter().map(|d| d.name()).collect();
    assert_eq!(names, vec!["system", "users"], "the system database and its table, nothing else");
    assert!(!m.is_full_cluster && m.cluster_data.is_none());
    // No password reaches the backup: the cluster never stored one.
    let store = src.store("nodelocal://1/system_users");
    for path in block_on(store.list("")).unwrap() {
        let bytes = read_obj(&store, &path);
        assert!(!bytes.windows(13).any(|w| w == b"correct horse"), "{path}");
    }
    // SHOW BACKUP lists it as CockroachDB does.
    let shown = src.ok("SHOW BACKUP 'nodelocal://1/system_users'").render();
    assert!(shown.contains("system") && shown.contains("users"), "{shown}");

    let mut dst = src.fresh_destination();
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/bank'");
    // Before: nobody to grant the role to, and alice reads nothing.
    assert_eq!(dst.sql_err("GRANT readers TO alice"), "role/user \"readers\" does not exist");
    assert!(as_session(&dst, "alice", "SELECT name FROM bank.customers").is_err());

    dst.sql("CREATE DATABASE newdb");
    let (_, rows, _, _) = result_row(&dst.ok("RESTORE system.users FROM 'nodelocal://1/system_users' WITH into_db = 'newdb'"));
    assert_eq!(rows, 5);
    // newdb.users is an ordinary table holding exactly the source's system.users.
    let restored = dst.catalog().table_by_name("newdb", "users").cloned().expect("newdb.users");
    assert!(restored.is_table() && restored.id >= model::encoding::FIRST_USER_TABLE_ID);
    assert_eq!(dst.rows("SELECT * FROM newdb.users ORDER BY username"), src.rows("SELECT * FROM system.users ORDER BY username"));
    dst.sql("UPDATE newdb.users SET \"isRole\" = \"isRole\" WHERE username = 'bob'");
    // The documented copy without a filter trips over the users every cluster has.
    let e = dst.sql_err("INSERT INTO system.users SELECT * FROM newdb.users");
    assert_eq!(e, "duplicate key value violates unique constraint \"primary\": key (username)=('admin') already exists");
    assert_eq!(usernames(&mut dst), vec!["admin", "root"], "a failed INSERT adds no one");
    assert_eq!(dst.sql1(COPY_BACK).rows_affected, 3);
    assert_eq!(usernames(&mut dst), vec!["admin", "alice", "bob", "readers", "root"]);
    let cat = dst.catalog();
    let alice = cat.user("alice").expect("alice");
    assert!(alice.has_password && !alice.is_role, "{alice:?}");
    assert!(cat.user("readers").is_some_and(|r| r.is_role) && cat.user("bob").is_some_and(|b| !b.is_role && !b.has_password));
    // Role memberships live in system.role_members, not system.users: granted again, and the
    // restored grant on the restored table does the rest.
    dst.sql("GRANT readers TO alice");
    assert_eq!(as_session(&dst, "alice", "SELECT count(*) FROM bank.customers"), Ok(vec![vec![i(4)]]));
    assert_eq!(as_session(&dst, "bob", "SELECT count(*) FROM bank.customers"), Err("user bob does not have SELECT privilege on relation customers".into()));
    // Running the copy again adds no one; the temporary table goes.
    assert_eq!(dst.sql1(COPY_BACK).rows_affected, 0);
    dst.sql("DROP TABLE newdb.users");
}

#[test]
fn users_dropped_in_the_same_cluster_come_back_as_of_any_time_of_a_chain() {
    let mut c = Cluster::alone();
    c.sql("CREATE USER alice WITH PASSWORD 'x'; CREATE ROLE auditors");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP TABLE system.users TO 'nodelocal://1/u' WITH revision_history");
    let full_end = c.manifest("nodelocal://1/u").end_time;
    c.advance(Duration::from_secs(1));
    c.sql("CREATE USER carol");
    c.advance(Duration::from_secs(1));
    let both = c.now();
    c.advance(Duration::from_secs(1));
    c.sql("DROP USER alice; DROP ROLE auditors");
    c.advance(Duration::from_secs(1));
    // An automatic incremental: its window carries carol's creation and alice's drop.
    c.ok("BACKUP TABLE system.users TO 'nodelocal://1/u' WITH revision_history");
    c.advance(Duration::from_secs(1));
    let restore_into = |c: &mut Cluster, db: &str, as_of: Option<model::Timestamp>| -> Vec<Vec<Datum>> {
        c.sql(&format!("CREATE DATABASE {db}"));
        let aost = as_of.map(|t| format!(" AS OF SYSTEM TIME '{t}'")).unwrap_or_default();
        c.ok(&format!("RESTORE system.users FROM 'nodelocal://1/u'{aost} WITH into_db = '{db}'"));
        c.rows(&format!("SELECT username, \"hashedPassword\", \"isRole\" FROM {db}.users ORDER BY username"))
    };
    let b = Datum::Bool;
    let (admin, root) = (vec![s("admin"), Datum::Null, b(true)], vec![s("root"), Datum::Null, b(false)]);
    let (alice, auditors, carol) = (vec![s("alice"), b(true), b(false)], vec![s("auditors"), Datum::Null, b(true)], vec![s("carol"), Datum::Null, b(false)]);
    assert_eq!(restore_into(&mut c, "at_end", None), vec![admin.clone(), carol.clone(), root.clone()]);
    assert_eq!(restore_into(&mut c, "at_full", Some(full_end)), vec![admin.clone(), alice.clone(), auditors.clone(), root.clone()]);
    assert_eq!(restore_into(&mut c, "between", Some(both)), vec![admin, alice, auditors, carol, root]);
    // The restored rows are the history's, and the cluster's own records are what they are now.
    assert_eq!(usernames(&mut c), vec!["admin", "carol", "root"]);
    let copied = c.sql1("INSERT INTO system.users SELECT * FROM between.users WHERE username NOT IN (SELECT username FROM system.users)");
    assert_eq!(copied.rows_affected, 2);
    let cat = c.catalog();
    assert!(cat.user("alice").is_some_and(|u| u.has_password && !u.is_role) && cat.user("auditors").is_some_and(|u| u.is_role));
    c.sql("GRANT auditors TO alice");
    assert!(c.catalog().roles_of("alice").contains("auditors"));
}

#[test]
fn system_users_restores_are_refused_where_they_cannot_be_done() {
    let mut src = bank_cluster(Arc::new(MemStorageProvider::new()));
    src.sql("CREATE USER alice");
    src.ok("BACKUP TABLE system.users TO 'nodelocal://1/su'");
    let mut dst = src.fresh_destination();
    dst.sql("CREATE USER mallory; CREATE DATABASE newdb; CREATE TABLE newdb.users (k INT PRIMARY KEY)");
    let before = catalog_state(&dst.catalog());
    let into_system = "relation \"system.users\" already exists: a system table cannot be restored into the system database";
    for (sql, want) in [
        ("RESTORE system.users FROM 'nodelocal://1/su'", into_system),
        ("RESTORE TABLE system.* FROM 'nodelocal://1/su'", into_system),
        ("RESTORE system.users FROM 'nodelocal://1/su' WITH into_db = 'newdb'", "relation \"newdb.users\" already exists"),
        ("RESTORE system.users FROM 'nodelocal://1/su' WITH into_db = 'nope'", "a database named \"nope\" needs to exist to restore table \"users\" into it"),
        ("RESTORE DATABASE system FROM 'nodelocal://1/su'", "database \"system\" not found in the backup"),
        ("RESTORE FROM 'nodelocal://1/su'", "is not a full cluster backup"),
    ] {
        let e = dst.err(sql);
        assert!(e.contains(want), "{sql}: {e}");
        assert_eq!(catalog_state(&dst.catalog()), before, "{sql} left nothing behind");
    }
    // Not an admin: neither the restore nor the copy back.
    let e = dst.exec_in(&as_user("mallory"), "RESTORE system.users FROM 'nodelocal://1/su' WITH into_db = 'newdb'").unwrap_err().to_string();
    assert_eq!(e, "only users with the admin role are allowed to RESTORE");
    assert_eq!(
        as_session(&dst, "mallory", "INSERT INTO system.users VALUES ('eve', NULL, false)"),
        Err("user mallory does not have INSERT privilege on relation users".into())
    );
    // A backup without system.users does not have it.
    src.ok("BACKUP DATABASE bank TO 'nodelocal://1/only-bank'");
    let e = dst.err("RESTORE system.users FROM 'nodelocal://1/only-bank' WITH into_db = 'newdb'");
    assert!(e.contains("table \"system.users\" does not exist in the backup"), "{e}");
    // The system database is backed up only as its table, or with the cluster.
    let e = src.err("BACKUP DATABASE system TO 'nodelocal://1/sys'");
    assert!(e.contains("database \"system\" cannot be backed up whole"), "{e}");
    // A schema-only restore gives the empty table.
    dst.sql("CREATE DATABASE schema_only");
    dst.ok("RESTORE system.users FROM 'nodelocal://1/su' WITH into_db = 'schema_only', schema_only");
    assert_eq!(dst.rows("SELECT count(*) FROM schema_only.users"), vec![vec![i(0)]]);
    assert!(dst.catalog().user("alice").is_none());
}
