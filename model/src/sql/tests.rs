//! Unit tests of the SQL layer over [`crate::local::LocalKv`] with a [`ManualClock`]: a
//! realistic session, transactions, history, TRUNCATE / DROP, privileges, GC, and every error
//! path.

use super::*;
use crate::catalog::{self, Catalog, DependencyReason, DescriptorState, Privilege, TableKind};
use crate::datum::Datum;
use crate::encoding;
use crate::kv::{Kv, WriteOp};
use crate::local::{LocalKv, ManualClock};
use crate::timestamp::Timestamp;
use futures::executor::block_on;
use std::sync::Arc;
use std::time::Duration;

const T0: u64 = 1_600_000_000_000_000_000;

struct Env {
    clock: Arc<ManualClock>,
    kv: Arc<LocalKv>,
}

impl Env {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let kv = Arc::new(LocalKv::new(clock.clone()));
        block_on(catalog::bootstrap(&*kv)).unwrap();
        Env { clock, kv }
    }

    fn session(&self, user: &str) -> Session {
        Session::new(self.kv.clone(), user)
    }

    fn tick(&self) {
        self.clock.advance(Duration::from_millis(10));
    }

    fn catalog(&self) -> Catalog {
        block_on(Catalog::read(&*self.kv, self.kv.now())).unwrap()
    }
}

fn run(s: &mut Session, sql: &str) -> ExecResult {
    block_on(s.execute(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn err(s: &mut Session, sql: &str) -> SqlError {
    match block_on(s.execute(sql)) {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => e,
    }
}

fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Datum>> {
    run(s, sql).rows
}

fn i(v: i64) -> Datum {
    Datum::Int(v)
}
fn f(v: f64) -> Datum {
    Datum::Float(v)
}
fn st(v: &str) -> Datum {
    Datum::String(v.into())
}

const SHOP: &str = "
    CREATE DATABASE shop;
    USE shop;
    CREATE TABLE customers (id INT PRIMARY KEY, name STRING NOT NULL, email STRING UNIQUE);
    CREATE SEQUENCE order_ids;
    CREATE TABLE orders (
        id INT PRIMARY KEY DEFAULT nextval('order_ids'),
        customer_id INT NOT NULL REFERENCES customers (id),
        total FLOAT DEFAULT 0.0,
        note STRING
    );
    CREATE INDEX orders_by_customer ON orders (customer_id);
    CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
";

fn shop(env: &Env) -> Session {
    let mut s = env.session("root");
    block_on(s.execute_script(SHOP)).unwrap();
    s
}

#[test]
fn realistic_session() {
    let env = Env::new();
    let mut s = shop(&env);
    assert_eq!(s.database(), "shop");
    let r = run(&mut s, "INSERT INTO customers VALUES (1, 'ann', 'ann@x'), (2, 'bob', NULL)");
    assert_eq!((r.tag.as_str(), r.rows_affected), ("INSERT 2", 2));
    assert!(r.commit_ts.is_some());
    env.tick();
    run(&mut s, "INSERT INTO orders (customer_id, total) VALUES (1, 50), (1, 150.5), (2, 300)");
    assert_eq!(
        rows(&mut s, "SELECT id, customer_id, total FROM orders ORDER BY id"),
        vec![vec![i(1), i(1), f(50.0)], vec![i(2), i(1), f(150.5)], vec![i(3), i(2), f(300.0)]]
    );
    assert_eq!(rows(&mut s, "SELECT * FROM big_orders ORDER BY total DESC"), vec![vec![i(3), f(300.0)], vec![i(2), f(150.5)]]);
    assert_eq!(rows(&mut s, "SELECT last_value FROM order_ids"), vec![vec![i(3)]]);
    env.tick();
    let r = run(&mut s, "UPDATE orders SET total = total * 2, note = 'double' WHERE customer_id = 1");
    assert_eq!(r.tag, "UPDATE 2");
    let before_delete = r.commit_ts.unwrap();
    env.tick();
    assert_eq!(run(&mut s, "DELETE FROM orders WHERE id = 3").tag, "DELETE 1");
    assert_eq!(rows(&mut s, "SELECT count(*) FROM orders"), vec![vec![i(2)]]);
    // History: the deleted order is visible as of before the delete.
    let q = format!("SELECT id, total FROM orders AS OF SYSTEM TIME '{before_delete}' WHERE id = 3");
    assert_eq!(rows(&mut s, &q), vec![vec![i(3), f(300.0)]]);
    let q = format!("SELECT id FROM orders AS OF SYSTEM TIME {before_delete} ORDER BY id DESC LIMIT 1");
    assert_eq!(rows(&mut s, &q), vec![vec![i(3)]]);
    // Secondary index entries follow the rows.
    let cat = env.catalog();
    let orders = cat.table_by_name("shop", "orders").unwrap().clone();
    let idx = orders.index_by_name("orders_by_customer").unwrap().id;
    let entries = block_on(env.kv.scan(&encoding::index_span(orders.id, idx), env.kv.now())).unwrap();
    assert_eq!(entries.len(), 2);
    // UPSERT replaces by primary key and keeps unnamed columns.
    env.tick();
    assert_eq!(run(&mut s, "UPSERT INTO customers (id, name) VALUES (1, 'annie'), (3, 'cid')").tag, "INSERT 2");
    assert_eq!(
        rows(&mut s, "SELECT * FROM customers ORDER BY id"),
        vec![vec![i(1), st("annie"), st("ann@x")], vec![i(2), st("bob"), Datum::Null], vec![i(3), st("cid"), Datum::Null]]
    );
    // Expressions, IN, IS NULL, LIMIT / OFFSET, aliases.
    assert_eq!(rows(&mut s, "SELECT name AS n FROM customers WHERE email IS NULL AND id IN (2, 3) ORDER BY n LIMIT 1 OFFSET 1"), vec![vec![st("cid")]]);
    assert_eq!(rows(&mut s, "SELECT 1 + 2, 'a' || 'b'"), vec![vec![i(3), st("ab")]]);
    assert_eq!(rows(&mut s, "SHOW TABLES"), vec![vec![st("big_orders")], vec![st("customers")], vec![st("order_ids")], vec![st("orders")]]);
    // The oracle's reader: every column in order, by primary key.
    let tr = block_on(s.read_table("shop", "customers", env.kv.now())).unwrap();
    assert_eq!(tr.columns, vec!["id", "name", "email"]);
    assert_eq!(tr.rows.len(), 3);
}

#[test]
fn hidden_rowid_serial_and_alter_table() {
    let env = Env::new();
    let mut s = env.session("root");
    run(&mut s, "CREATE TABLE logs (msg STRING, n SERIAL)");
    run(&mut s, "INSERT INTO logs (msg) VALUES ('a'), ('b')");
    env.tick();
    run(&mut s, "INSERT INTO logs (msg) VALUES ('c')");
    assert_eq!(rows(&mut s, "SELECT msg FROM logs ORDER BY msg"), vec![vec![st("a")], vec![st("b")], vec![st("c")]]);
    let r = run(&mut s, "SELECT * FROM logs");
    assert_eq!(r.columns, vec!["msg", "n"], "rowid is hidden from *");
    let all = block_on(s.read_table("defaultdb", "logs", env.kv.now())).unwrap();
    assert_eq!(all.columns, vec!["msg", "n", "rowid"]);
    let mut ids: Vec<&Datum> = all.rows.iter().map(|r| &r[2]).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "rowids are unique");
    // ADD COLUMN backfills its default; old rows stay readable; DROP COLUMN rewrites.
    run(&mut s, "ALTER TABLE logs ADD COLUMN level INT DEFAULT 3");
    run(&mut s, "ALTER TABLE logs ADD COLUMN extra STRING");
    assert_eq!(rows(&mut s, "SELECT msg, level, extra FROM logs WHERE msg = 'a'"), vec![vec![st("a"), i(3), Datum::Null]]);
    run(&mut s, "ALTER TABLE logs DROP COLUMN n");
    assert_eq!(run(&mut s, "SELECT * FROM logs WHERE msg = 'b'").rows, vec![vec![st("b"), i(3), Datum::Null]]);
    assert!(matches!(err(&mut s, "ALTER TABLE logs ADD COLUMN must INT NOT NULL"), SqlError::NotNullViolation(_)));
}

#[test]
fn explicit_transactions() {
    let env = Env::new();
    let mut s = shop(&env);
    let mut other = env.session("root");
    run(&mut other, "USE shop");
    run(&mut s, "INSERT INTO customers VALUES (1, 'ann', NULL)");
    assert_eq!(run(&mut s, "BEGIN").tag, "BEGIN");
    assert!(s.in_transaction());
    let r = run(&mut s, "INSERT INTO customers VALUES (2, 'tx', NULL)");
    assert_eq!(r.commit_ts, None, "nothing commits before COMMIT");
    run(&mut s, "CREATE TABLE tx_made (k INT PRIMARY KEY)");
    run(&mut s, "INSERT INTO tx_made VALUES (1)");
    assert_eq!(rows(&mut s, "SELECT count(*) FROM customers"), vec![vec![i(2)]], "reads see own writes");
    assert_eq!(rows(&mut other, "SELECT count(*) FROM customers"), vec![vec![i(1)]], "others do not");
    assert!(matches!(err(&mut other, "SELECT * FROM tx_made"), SqlError::UndefinedRelation(_)));
    env.tick();
    let c = run(&mut s, "COMMIT");
    assert!(c.commit_ts.is_some());
    assert!(!s.in_transaction());
    assert_eq!(rows(&mut other, "SELECT count(*) FROM customers"), vec![vec![i(2)]]);
    assert_eq!(rows(&mut other, "SELECT k FROM tx_made"), vec![vec![i(1)]]);
    // First committer wins: the explicit transaction loses at COMMIT.
    run(&mut s, "BEGIN");
    run(&mut s, "UPDATE customers SET name = 'mine' WHERE id = 1");
    env.tick();
    run(&mut other, "UPDATE customers SET name = 'theirs' WHERE id = 1");
    let e = err(&mut s, "COMMIT");
    assert!(matches!(e, SqlError::TxnAborted(_)) && e.is_retryable(), "{e}");
    assert_eq!(rows(&mut s, "SELECT name FROM customers WHERE id = 1"), vec![vec![st("theirs")]]);
    // An error poisons the transaction until ROLLBACK.
    run(&mut s, "BEGIN");
    err(&mut s, "SELECT * FROM nope");
    assert!(matches!(err(&mut s, "SELECT 1"), SqlError::InFailedTransaction));
    assert_eq!(run(&mut s, "ROLLBACK").tag, "ROLLBACK");
    assert_eq!(rows(&mut s, "SELECT 1"), vec![vec![i(1)]]);
    // ROLLBACK discards; transaction control outside a transaction is an error.
    run(&mut s, "BEGIN");
    run(&mut s, "DELETE FROM customers");
    run(&mut s, "ROLLBACK");
    assert_eq!(rows(&mut s, "SELECT count(*) FROM customers"), vec![vec![i(2)]]);
    assert!(matches!(err(&mut s, "COMMIT"), SqlError::NoTransaction));
    run(&mut s, "BEGIN");
    assert!(matches!(err(&mut s, "BEGIN"), SqlError::AlreadyInTransaction));
    run(&mut s, "ROLLBACK");
    run(&mut s, "BEGIN");
    assert!(matches!(err(&mut s, "SELECT * FROM customers AS OF SYSTEM TIME '-1s'"), SqlError::Invalid(_)));
    run(&mut s, "ROLLBACK");
}

#[test]
fn truncate_gives_a_new_id_and_drop_respects_dependencies() {
    let env = Env::new();
    let mut s = shop(&env);
    run(&mut s, "INSERT INTO customers VALUES (1, 'ann', NULL)");
    run(&mut s, "INSERT INTO orders (customer_id, total) VALUES (1, 500)");
    let before = env.catalog();
    let old = before.table_by_name("shop", "orders").unwrap().clone();
    assert!(matches!(err(&mut s, "TRUNCATE customers"), SqlError::DependentObjects(_)));
    env.tick();
    assert_eq!(run(&mut s, "TRUNCATE orders").tag, "TRUNCATE");
    let after = env.catalog();
    let new = after.table_by_name("shop", "orders").unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(after.table(old.id).unwrap().state, DescriptorState::Dropped);
    assert_eq!(rows(&mut s, "SELECT count(*) FROM orders"), vec![vec![i(0)]]);
    let old_rows = block_on(env.kv.scan(&encoding::table_span(old.id), env.kv.now())).unwrap();
    assert!(old_rows.is_empty(), "old rows tombstoned: {old_rows:?}");
    // The view follows the new id.
    let view = after.table_by_name("shop", "big_orders").unwrap();
    assert!(matches!(&view.kind, TableKind::View { depends_on, .. } if depends_on == &vec![new.id]));
    run(&mut s, "INSERT INTO orders (customer_id, total) VALUES (1, 700)");
    assert_eq!(rows(&mut s, "SELECT total FROM big_orders"), vec![vec![f(700.0)]]);
    // Dependencies BACKUP's planner sees.
    let deps = after.dependencies(new.id);
    assert!(deps.iter().any(|d| d.reason == DependencyReason::ForeignKey { constraint: "fk_customer_id_ref_customers".into() }));
    assert!(deps.iter().any(|d| matches!(d.reason, DependencyReason::SequenceDefault { .. })));
    // DROP refuses what others need unless CASCADE.
    let e = err(&mut s, "DROP TABLE customers");
    assert_eq!(e.to_string(), "\"customers\" is referenced by foreign key from table \"orders\"");
    assert!(matches!(err(&mut s, "DROP TABLE orders"), SqlError::DependentObjects(_)), "the view depends on it");
    assert!(matches!(err(&mut s, "DROP SEQUENCE order_ids"), SqlError::DependentObjects(_)));
    assert!(matches!(err(&mut s, "DROP TABLE big_orders"), SqlError::Invalid(_)), "a view is not a table");
    run(&mut s, "DROP TABLE customers CASCADE");
    let cat = env.catalog();
    assert!(cat.table_by_name("shop", "orders").unwrap().foreign_keys.is_empty());
    run(&mut s, "DROP TABLE orders CASCADE");
    assert!(env.catalog().table_by_name("shop", "big_orders").is_none(), "the view went with it");
    assert!(matches!(err(&mut s, "DROP DATABASE shop"), SqlError::DependentObjects(_)));
    run(&mut s, "DROP DATABASE shop CASCADE");
    assert!(env.catalog().database_by_name("shop").is_none());
    run(&mut s, "DROP TABLE IF EXISTS nothing_here");
}

#[test]
fn interleave_and_foreign_keys() {
    let env = Env::new();
    let mut s = env.session("root");
    block_on(s.execute_script(
        "CREATE TABLE p (id INT PRIMARY KEY, code STRING UNIQUE);
         CREATE TABLE c (pid INT, id INT, code STRING REFERENCES p (code), PRIMARY KEY (pid, id), FOREIGN KEY (pid) REFERENCES p) INTERLEAVE IN PARENT p (pid);",
    ))
    .unwrap();
    let cat = env.catalog();
    let (p, c) = (cat.table_by_name("defaultdb", "p").unwrap(), cat.table_by_name("defaultdb", "c").unwrap());
    assert_eq!(c.interleave_parent, Some(p.id));
    assert!(cat.dependencies(c.id).iter().any(|d| d.on == p.id && d.reason == DependencyReason::InterleaveParent));
    run(&mut s, "INSERT INTO p VALUES (1, 'one')");
    run(&mut s, "INSERT INTO c VALUES (1, 1, 'one'), (1, 2, NULL)");
    let e = err(&mut s, "INSERT INTO c VALUES (2, 1, NULL)");
    assert!(matches!(&e, SqlError::ForeignKeyViolation(m) if m.contains("is not present in table \"p\"")), "{e}");
    assert!(matches!(err(&mut s, "INSERT INTO c VALUES (1, 3, 'two')"), SqlError::ForeignKeyViolation(_)));
    let e = err(&mut s, "DELETE FROM p WHERE id = 1");
    assert!(matches!(&e, SqlError::ForeignKeyViolation(m) if m.contains("still referenced")), "{e}");
    assert!(matches!(err(&mut s, "UPDATE p SET code = 'uno'"), SqlError::ForeignKeyViolation(_)));
    run(&mut s, "DELETE FROM c");
    run(&mut s, "DELETE FROM p WHERE id = 1");
    assert!(matches!(err(&mut s, "CREATE TABLE bad (a INT, b INT, PRIMARY KEY (a, b)) INTERLEAVE IN PARENT p (b)"), SqlError::Invalid(_)));
}

#[test]
fn privileges_for_non_admins() {
    let env = Env::new();
    let mut root = env.session("root");
    run(&mut root, "CREATE TABLE t (k INT PRIMARY KEY, v STRING)");
    run(&mut root, "INSERT INTO t VALUES (1, 'x')");
    run(&mut root, "CREATE USER alice WITH PASSWORD 'hunter2'");
    let cat = env.catalog();
    let alice = cat.user("alice").unwrap();
    assert!(alice.has_password && !alice.is_role);
    let stored = env.kv.snapshot();
    assert!(stored.all_versions().all(|e| !String::from_utf8_lossy(e.value.as_deref().unwrap_or_default()).contains("hunter2")), "no password stored anywhere");
    assert!(!cat.is_admin("alice") && cat.is_admin("root"));
    let mut a = env.session("alice");
    assert_eq!(err(&mut a, "SELECT * FROM t").to_string(), "user alice does not have SELECT privilege on relation t");
    assert_eq!(err(&mut a, "CREATE TABLE mine (k INT PRIMARY KEY)").to_string(), "user alice does not have CREATE privilege on database defaultdb");
    assert!(matches!(err(&mut a, "CREATE DATABASE x"), SqlError::AdminRequired { .. }));
    assert!(matches!(err(&mut a, "GRANT SELECT ON TABLE t TO alice"), SqlError::PrivilegeDenied { privilege: Privilege::Grant, .. }));
    run(&mut root, "GRANT SELECT ON TABLE t TO alice");
    assert_eq!(rows(&mut a, "SELECT v FROM t"), vec![vec![st("x")]]);
    assert_eq!(err(&mut a, "INSERT INTO t VALUES (2, 'y')").to_string(), "user alice does not have INSERT privilege on relation t");
    run(&mut root, "GRANT CREATE ON DATABASE defaultdb TO alice");
    run(&mut a, "CREATE TABLE mine (k INT PRIMARY KEY)");
    run(&mut a, "INSERT INTO mine VALUES (1)");
    run(&mut root, "REVOKE SELECT ON TABLE t FROM alice");
    assert!(matches!(err(&mut a, "SELECT * FROM t"), SqlError::PrivilegeDenied { .. }));
    run(&mut root, "GRANT admin TO alice");
    assert!(env.catalog().is_admin("alice"));
    run(&mut a, "INSERT INTO t VALUES (2, 'y')");
    assert!(matches!(err(&mut root, "GRANT admin TO nobody"), SqlError::UndefinedUser(_)));
    assert!(matches!(err(&mut root, "CREATE USER alice"), SqlError::DuplicateObject { .. }));
    assert!(matches!(err(&mut root, "DROP USER alice"), SqlError::DependentObjects(_)), "grants remain");
    run(&mut root, "REVOKE admin FROM alice");
    assert!(!env.catalog().is_admin("alice"));
}

#[test]
fn gc_makes_old_reads_fail() {
    let env = Env::new();
    let mut s = env.session("root");
    run(&mut s, "CREATE TABLE g (k INT PRIMARY KEY, v INT)");
    let ts1 = run(&mut s, "INSERT INTO g VALUES (1, 1)").commit_ts.unwrap();
    env.clock.advance(Duration::from_secs(1));
    run(&mut s, "UPDATE g SET v = 2");
    run(&mut s, "ALTER TABLE g CONFIGURE ZONE USING gc.ttlseconds = 60");
    let cat = env.catalog();
    let g = cat.table_by_name("defaultdb", "g").unwrap().id;
    assert_eq!(cat.gc_ttl(g), Duration::from_secs(60));
    assert_eq!(cat.gc_ttl(catalog::DEFAULT_ZONE_ID), Duration::from_secs(catalog::DEFAULT_GC_TTL_SECONDS));
    let q = format!("SELECT v FROM g AS OF SYSTEM TIME '{ts1}'");
    assert_eq!(rows(&mut s, &q), vec![vec![i(1)]]);
    env.clock.advance(Duration::from_secs(120));
    let stats = block_on(env.kv.run_gc()).unwrap();
    assert!(stats.versions_removed >= 1);
    let e = err(&mut s, &q);
    let text = e.to_string();
    assert!(text.starts_with("batch timestamp") && text.contains("must be after replica GC threshold"), "{text}");
    assert_eq!(rows(&mut s, "SELECT v FROM g"), vec![vec![i(2)]]);
    assert_eq!(rows(&mut s, "SELECT v FROM g AS OF SYSTEM TIME '-10s'"), vec![vec![i(2)]]);
}

#[test]
fn error_paths() {
    let env = Env::new();
    let mut s = env.session("root");
    run(&mut s, "CREATE TABLE t (k INT PRIMARY KEY, v STRING NOT NULL, u INT UNIQUE)");
    run(&mut s, "INSERT INTO t VALUES (1, 'a', 10)");
    assert!(matches!(err(&mut s, "SELEC 1"), SqlError::Parse { .. }));
    assert!(matches!(err(&mut s, "SELECT 'unterminated"), SqlError::Parse { line: Some(1), .. }));
    let e = err(&mut s, "SELECT * FROM nope");
    assert_eq!(e.to_string(), "relation \"nope\" does not exist");
    assert!(matches!(err(&mut s, "SELECT nope FROM t"), SqlError::UndefinedColumn(_)));
    assert!(matches!(err(&mut s, "SELECT * FROM nodb.t"), SqlError::UndefinedDatabase(_)));
    let e = err(&mut s, "INSERT INTO t VALUES ('x', 'b', 2)");
    assert_eq!(e.to_string(), "value type string doesn't match type int of column \"k\"");
    assert!(matches!(err(&mut s, "SELECT * FROM t WHERE v = 1"), SqlError::Type(_)));
    assert!(matches!(err(&mut s, "SELECT * FROM t WHERE k"), SqlError::Type(_)));
    assert!(matches!(err(&mut s, "INSERT INTO t (k) VALUES (2)"), SqlError::NotNullViolation(_)));
    assert!(matches!(err(&mut s, "INSERT INTO t VALUES (1, 'dup', NULL)"), SqlError::UniqueViolation { .. }));
    assert!(matches!(err(&mut s, "INSERT INTO t VALUES (2, 'b', 10)"), SqlError::UniqueViolation { .. }));
    assert!(matches!(err(&mut s, "INSERT INTO t VALUES (2, 'b', 10, 4)"), SqlError::Invalid(_)));
    assert!(matches!(err(&mut s, "SELECT k / 0 FROM t"), SqlError::Invalid(_)));
    assert!(matches!(err(&mut s, "CREATE TABLE t (k INT PRIMARY KEY)"), SqlError::DuplicateObject { .. }));
    assert!(matches!(err(&mut s, "SELECT k FROM t GROUP BY k"), SqlError::Unsupported(_)));
    let e = err(&mut s, "EXPLAIN SELECT 1");
    assert!(matches!(&e, SqlError::Unsupported(m) if m.contains("EXPLAIN")), "{e}");
    assert!(matches!(err(&mut s, "CREATE TABLE chk (a INT CHECK (a > 0))"), SqlError::Unsupported(_)));
    assert!(matches!(err(&mut s, "SELECT * FROM t AS OF SYSTEM TIME 'yesterday'"), SqlError::AsOf(_)));
    assert!(matches!(err(&mut s, "SELECT 1; SELECT 2"), SqlError::Invalid(_)));
    for (sql, kw) in [
        ("BACKUP DATABASE defaultdb TO 'nodelocal://1/b'", "BACKUP"),
        ("RESTORE TABLE t FROM 'nodelocal://1/b'", "RESTORE"),
        ("SHOW BACKUP 'nodelocal://1/b'", "SHOW BACKUP"),
        ("SHOW JOBS", "SHOW JOBS"),
        ("PAUSE JOB 1", "PAUSE JOB"),
        ("RESUME JOB 1", "RESUME JOB"),
        ("CANCEL JOB 1", "CANCEL JOB"),
    ] {
        match err(&mut s, sql) {
            SqlError::NotSqlLayer { statement } => assert_eq!(statement, kw),
            other => panic!("{sql}: {other}"),
        }
    }
    // The state is unchanged by all of that.
    assert_eq!(rows(&mut s, "SELECT * FROM t"), vec![vec![i(1), st("a"), i(10)]]);
}

#[test]
fn corrupt_descriptor_is_an_error_naming_the_key() {
    let env = Env::new();
    let mut s = env.session("root");
    run(&mut s, "CREATE TABLE t (k INT PRIMARY KEY)");
    let id = env.catalog().table_by_name("defaultdb", "t").unwrap().id;
    block_on(env.kv.commit(vec![WriteOp::Put(catalog::descriptor_key(id), b"{not json".to_vec())], None)).unwrap();
    let e = err(&mut s, "SELECT * FROM t");
    assert!(e.to_string().contains(&format!("/Table/3/1/{id}")), "{e}");
    // A row value that does not decode is an error too.
    let mut s2 = env.session("root");
    block_on(env.kv.commit(vec![WriteOp::Delete(catalog::descriptor_key(id))], None)).unwrap();
    run(&mut s2, "CREATE TABLE u (k INT PRIMARY KEY, v INT)");
    let u = env.catalog().table_by_name("defaultdb", "u").unwrap().id;
    block_on(env.kv.commit(vec![WriteOp::Put(encoding::encode_index_key(u, 1, &[i(1)]), vec![0x77])], None)).unwrap();
    assert!(matches!(err(&mut s2, "SELECT * FROM u"), SqlError::Corrupt { .. }));
}

#[test]
fn session_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let env = Env::new();
    let mut s = env.session("root");
    assert_send(s.execute("SELECT 1"));
    let _ = Timestamp::ZERO;
}

#[test]
fn databases_indexes_sequences_and_views() {
    let env = Env::new();
    let mut s = env.session("root");
    run(&mut s, "CREATE DATABASE IF NOT EXISTS app");
    run(&mut s, "CREATE DATABASE IF NOT EXISTS app");
    assert_eq!(rows(&mut s, "SHOW DATABASES"), vec![vec![st("app")], vec![st("defaultdb")], vec![st("postgres")]]);
    run(&mut s, "SET DATABASE = app");
    assert_eq!(s.database(), "app");
    assert!(matches!(err(&mut s, "USE nowhere"), SqlError::UndefinedDatabase(_)));
    run(&mut s, "CREATE TABLE kv (k STRING PRIMARY KEY, v INT)");
    run(&mut s, "INSERT INTO kv VALUES ('a', 1), ('b', 1), ('c', 2)");
    assert!(matches!(err(&mut s, "CREATE UNIQUE INDEX kv_v ON kv (v)"), SqlError::UniqueViolation { .. }));
    run(&mut s, "CREATE INDEX kv_v ON kv (v)");
    let t = env.catalog().table_by_name("app", "kv").unwrap().clone();
    let idx = t.index_by_name("kv_v").unwrap().id;
    assert_eq!(block_on(env.kv.scan(&encoding::index_span(t.id, idx), env.kv.now())).unwrap().len(), 3, "backfilled");
    run(&mut s, "UPDATE kv SET v = 5 WHERE k = 'a'");
    assert_eq!(block_on(env.kv.scan(&encoding::index_span(t.id, idx), env.kv.now())).unwrap().len(), 3, "stale entry removed");
    run(&mut s, "DROP INDEX kv_v");
    assert!(block_on(env.kv.scan(&encoding::index_span(t.id, idx), env.kv.now())).unwrap().is_empty());
    // Sequences: nextval in SELECT commits; START / INCREMENT.
    run(&mut s, "CREATE SEQUENCE s INCREMENT BY 5 START WITH 10");
    let r = run(&mut s, "SELECT nextval('s')");
    assert_eq!((r.rows.clone(), r.commit_ts.is_some()), (vec![vec![i(10)]], true));
    assert_eq!(rows(&mut s, "SELECT nextval('app.s')"), vec![vec![i(15)]]);
    // A view in another database keeps working from anywhere.
    run(&mut s, "CREATE VIEW small AS SELECT k FROM kv WHERE v < 5 ORDER BY k");
    run(&mut s, "CREATE VIEW defaultdb.smaller AS SELECT * FROM app.small WHERE k <> 'b'");
    run(&mut s, "USE defaultdb");
    assert_eq!(rows(&mut s, "SELECT * FROM smaller"), vec![vec![st("c")]]);
    assert_eq!(rows(&mut s, "SELECT * FROM app.small"), vec![vec![st("b")], vec![st("c")]]);
    let tr = block_on(read_table(&*env.kv, "defaultdb", "smaller", env.kv.now())).unwrap();
    assert_eq!(tr.rows, vec![vec![st("c")]]);
    // A statement that fails leaves no trace (implicit transactions are all-or-nothing).
    assert!(matches!(err(&mut s, "INSERT INTO app.kv VALUES ('d', 1), ('a', 1)"), SqlError::UniqueViolation { .. }));
    assert_eq!(rows(&mut s, "SELECT count(*) FROM app.kv"), vec![vec![i(3)]]);
}

#[test]
fn show_tables_from_a_database_lists_that_database() {
    let env = Env::new();
    let mut s = env.session("root");
    run(&mut s, "CREATE DATABASE shop");
    run(&mut s, "CREATE TABLE shop.items (id INT PRIMARY KEY)");
    run(&mut s, "CREATE TABLE shop.orders (id INT PRIMARY KEY)");
    run(&mut s, "CREATE DATABASE \"Odd\"\"Name\"");
    run(&mut s, "CREATE TABLE \"Odd\"\"Name\".t (id INT PRIMARY KEY)");
    let shop = vec![vec![st("items")], vec![st("orders")]];
    // From defaultdb: the named database's tables, whatever the session's database is.
    assert_eq!(s.database(), "defaultdb");
    assert_eq!(rows(&mut s, "SHOW TABLES"), Vec::<Vec<Datum>>::new());
    for sql in ["SHOW TABLES FROM shop", "SHOW TABLES IN shop", "SHOW TABLES FROM shop.public", "show tables from SHOP"] {
        assert_eq!(rows(&mut s, sql), shop, "{sql}");
    }
    assert_eq!(rows(&mut s, "SHOW TABLES FROM \"Odd\"\"Name\""), vec![vec![st("t")]]);
    // `public` alone is the current database's schema.
    run(&mut s, "USE shop");
    assert_eq!(rows(&mut s, "SHOW TABLES"), shop);
    assert_eq!(rows(&mut s, "SHOW TABLES FROM public"), shop);
    assert_eq!(rows(&mut s, "SHOW TABLES FROM defaultdb"), Vec::<Vec<Datum>>::new());
    // An unknown database or schema is an error naming it.
    let e = err(&mut s, "SHOW TABLES FROM nosuch");
    assert_eq!(e, SqlError::UndefinedDatabase("nosuch".into()));
    assert_eq!(e.to_string(), "database \"nosuch\" does not exist");
    assert!(err(&mut s, "SHOW TABLES FROM shop.private").to_string().contains("schema \"shop.private\" does not exist"));
    assert_eq!(err(&mut s, "SHOW TABLES FROM nosuch.public"), SqlError::UndefinedDatabase("nosuch".into()));
    // Filters are refused rather than ignored.
    for sql in ["SHOW TABLES LIKE 'i%'", "SHOW TABLES FROM shop LIMIT 1", "SHOW DATABASES LIKE 's%'"] {
        assert!(matches!(err(&mut s, sql), SqlError::Unsupported(_)), "{sql}");
    }
}

#[test]
fn create_statements_read_back_the_schema() {
    let env = Env::new();
    let mut s = env.session("root");
    for sql in [
        "CREATE DATABASE bank",
        "USE bank",
        "CREATE TABLE customers (id INT PRIMARY KEY, name STRING NOT NULL, email STRING UNIQUE)",
        "CREATE TABLE accounts (id INT PRIMARY KEY, customer_id INT NOT NULL REFERENCES customers (id), balance FLOAT DEFAULT 0.0, kind STRING)",
        "CREATE INDEX accounts_by_customer ON accounts (customer_id)",
        "CREATE SEQUENCE transfer_ids",
        "CREATE TABLE transfers (id INT PRIMARY KEY DEFAULT nextval('transfer_ids'), account_id INT NOT NULL REFERENCES accounts (id), amount FLOAT)",
        "CREATE VIEW rich_accounts AS SELECT id, balance FROM accounts WHERE balance > 1000",
        "CREATE TABLE \"Odd \"\"t\"\"\" (\"select\" STRING DEFAULT 'it''s', b BYTES, ok BOOL DEFAULT true)",
        "CREATE SEQUENCE down INCREMENT BY -2 START WITH 7",
    ] {
        run(&mut s, sql);
    }
    let cat = env.catalog();
    let show = |name: &str| create_statement(&cat, cat.table_by_name("bank", name).unwrap());
    assert_eq!(
        show("customers"),
        "CREATE TABLE customers (\n\tid INT8 NOT NULL,\n\tname STRING NOT NULL,\n\temail STRING NULL,\n\tCONSTRAINT \"primary\" PRIMARY KEY (id ASC),\n\tUNIQUE INDEX customers_email_key (email ASC)\n)"
    );
    assert_eq!(
        show("accounts"),
        "CREATE TABLE accounts (\n\tid INT8 NOT NULL,\n\tcustomer_id INT8 NOT NULL,\n\tbalance FLOAT8 NULL DEFAULT 0.0,\n\tkind STRING NULL,\n\t\
         CONSTRAINT \"primary\" PRIMARY KEY (id ASC),\n\tCONSTRAINT fk_customer_id_ref_customers FOREIGN KEY (customer_id) REFERENCES customers(id),\n\t\
         INDEX accounts_by_customer (customer_id ASC)\n)"
    );
    assert_eq!(
        show("transfers"),
        "CREATE TABLE transfers (\n\tid INT8 NOT NULL DEFAULT nextval('transfer_ids'),\n\taccount_id INT8 NOT NULL,\n\tamount FLOAT8 NULL,\n\t\
         CONSTRAINT \"primary\" PRIMARY KEY (id ASC),\n\tCONSTRAINT fk_account_id_ref_accounts FOREIGN KEY (account_id) REFERENCES accounts(id)\n)"
    );
    assert_eq!(show("transfer_ids"), "CREATE SEQUENCE transfer_ids MINVALUE 1 MAXVALUE 9223372036854775807 INCREMENT 1 START 1");
    assert_eq!(show("down"), "CREATE SEQUENCE down MINVALUE -9223372036854775808 MAXVALUE -1 INCREMENT -2 START 7");
    assert!(show("rich_accounts").starts_with("CREATE VIEW rich_accounts AS SELECT id, balance FROM"), "{}", show("rich_accounts"));
    // Names are quoted when they must be; the implicit rowid key is not shown.
    assert_eq!(
        show("Odd \"t\""),
        "CREATE TABLE \"Odd \"\"t\"\"\" (\n\t\"select\" STRING NULL DEFAULT 'it''s',\n\tb BYTES NULL,\n\tok BOOL NULL DEFAULT true\n)"
    );
    // A foreign key to a table the catalog does not hold is left out, as CockroachDB does.
    let mut partial = cat.table_by_name("bank", "accounts").unwrap().clone();
    partial.foreign_keys[0].referenced_table_id = 9_999;
    assert!(!create_statement(&cat, &partial).contains("FOREIGN KEY"));
}

#[test]
fn insert_select_copies_rows_with_column_counts_and_types_checked() {
    let env = Env::new();
    let mut s = env.session("root");
    block_on(s.execute_script(
        "CREATE TABLE src (a INT, b STRING);
         INSERT INTO src VALUES (1, 'one'), (2, 'two'), (3, NULL);
         CREATE TABLE dst (a INT PRIMARY KEY, b STRING NOT NULL DEFAULT 'none')",
    ))
    .unwrap();
    // A filtered copy, then the rest with an uncorrelated NOT IN subquery over the target.
    assert_eq!(run(&mut s, "INSERT INTO dst SELECT a, b FROM src WHERE a = 1").tag, "INSERT 1");
    assert_eq!(run(&mut s, "INSERT INTO dst (a) SELECT a FROM src WHERE a NOT IN (SELECT a FROM dst)").rows_affected, 2);
    assert_eq!(rows(&mut s, "SELECT * FROM dst ORDER BY a"), vec![vec![i(1), st("one")], vec![i(2), st("none")], vec![i(3), st("none")]]);
    // Again: every row is filtered out, nothing is written.
    assert_eq!(run(&mut s, "INSERT INTO dst SELECT a, 'x' FROM src WHERE a NOT IN (SELECT a FROM dst)").tag, "INSERT 0");
    // Column counts, whatever the SELECT returns (here: no rows at all).
    assert_eq!(
        err(&mut s, "INSERT INTO dst SELECT a, b, a FROM src WHERE a > 100").to_string(),
        "INSERT has more expressions than target columns, 3 expressions for 2 targets"
    );
    assert_eq!(
        err(&mut s, "INSERT INTO dst (a, b) SELECT a FROM src").to_string(),
        "INSERT has more target columns than expressions, 1 expressions for 2 targets"
    );
    assert_eq!(err(&mut s, "INSERT INTO dst (a, b) VALUES (9)").to_string(), "INSERT has more target columns than expressions, 1 expressions for 2 targets");
    // Types and constraints apply to selected values as to VALUES.
    assert!(matches!(err(&mut s, "INSERT INTO dst SELECT b, a FROM src WHERE a = 2"), SqlError::Type(_)));
    assert!(matches!(err(&mut s, "INSERT INTO dst SELECT a + 10, b FROM src WHERE a = 3"), SqlError::NotNullViolation(c) if c == "b"));
    assert!(matches!(err(&mut s, "INSERT INTO dst SELECT a, b FROM src WHERE a = 1"), SqlError::UniqueViolation { .. }));
    // A failed statement writes nothing, even the rows before the bad one.
    assert_eq!(rows(&mut s, "SELECT count(*) FROM dst"), vec![vec![i(3)]]);
    // A subquery gives one column; NOT IN over a list with NULL is NULL (the row is dropped).
    assert_eq!(err(&mut s, "SELECT a FROM src WHERE a IN (SELECT a, b FROM dst)").to_string(), "subquery must return only one column, found 2");
    assert!(err(&mut s, "SELECT a FROM src WHERE a NOT IN (SELECT b FROM src)").to_string().contains("<int> IN <string>"));
    assert_eq!(rows(&mut s, "SELECT a FROM src WHERE 'four' NOT IN (SELECT b FROM src)"), Vec::<Vec<Datum>>::new());
    assert_eq!(rows(&mut s, "SELECT a FROM src WHERE 'four' NOT IN (SELECT b FROM src WHERE b IS NOT NULL)").len(), 3);
    assert_eq!(rows(&mut s, "SELECT a FROM src WHERE a IN (SELECT a FROM dst WHERE b = 'one')"), vec![vec![i(1)]]);
    // The SELECT reads as the user: no SELECT privilege on the source, no copy.
    run(&mut s, "CREATE USER alice");
    run(&mut s, "GRANT INSERT ON TABLE dst TO alice");
    let mut a = env.session("alice");
    assert_eq!(err(&mut a, "INSERT INTO dst SELECT a + 10, 'x' FROM src").to_string(), "user alice does not have SELECT privilege on relation src");
    assert_eq!(
        err(&mut a, "INSERT INTO dst SELECT 50, 'x' WHERE 1 IN (SELECT a FROM src)").to_string(),
        "user alice does not have SELECT privilege on relation src"
    );
    run(&mut s, "GRANT SELECT ON TABLE src TO alice");
    assert_eq!(run(&mut a, "INSERT INTO dst SELECT a + 10, 'x' FROM src").rows_affected, 3);
    // A view cannot hold a subquery (it records one relation it reads).
    assert!(matches!(err(&mut s, "CREATE VIEW v AS SELECT a FROM src WHERE a IN (SELECT a FROM dst)"), SqlError::Unsupported(_)));
}

#[test]
fn system_users_reads_and_writes_the_user_records() {
    let env = Env::new();
    let mut s = env.session("root");
    block_on(s.execute_script("CREATE USER alice WITH PASSWORD 'hunter2'; CREATE ROLE readers")).unwrap();
    let all = run(&mut s, "SELECT * FROM system.users ORDER BY username");
    assert_eq!(all.columns, vec!["username", "hashedPassword", "isRole"]);
    let b = Datum::Bool;
    assert_eq!(
        all.rows,
        vec![
            vec![st("admin"), Datum::Null, b(true)],
            vec![st("alice"), b(true), b(false)],
            vec![st("readers"), Datum::Null, b(true)],
            vec![st("root"), Datum::Null, b(false)],
        ]
    );
    assert_eq!(rows(&mut s, "SELECT username FROM system.users WHERE \"isRole\" AND username <> 'admin'"), vec![vec![st("readers")]]);
    let before_bob = env.kv.now();
    env.tick();
    // INSERT writes user records: bob exists for everything that reads users.
    assert_eq!(run(&mut s, "INSERT INTO system.users VALUES ('bob', true, false)").tag, "INSERT 1");
    assert!(env.catalog().user("bob").is_some_and(|u| u.has_password && !u.is_role));
    run(&mut s, "GRANT readers TO bob");
    assert!(env.catalog().roles_of("bob").contains("readers"));
    // Named columns take the defaults: no password, not a role.
    run(&mut s, "INSERT INTO system.users (username) VALUES ('carol')");
    assert_eq!(env.catalog().user("carol").cloned(), Some(catalog::UserRecord { name: "carol".into(), is_role: false, has_password: false }));
    // History reads as of a time before bob.
    let q = format!("SELECT username FROM system.users AS OF SYSTEM TIME '{before_bob}' WHERE username = 'bob'");
    assert!(rows(&mut s, &q).is_empty());
    // A name taken, before or within the statement, is the primary key's violation; nothing lands.
    assert_eq!(
        err(&mut s, "INSERT INTO system.users VALUES ('dave', NULL, false), ('root', NULL, false)").to_string(),
        "duplicate key value violates unique constraint \"primary\": key (username)=('root') already exists"
    );
    assert!(matches!(err(&mut s, "INSERT INTO system.users VALUES ('erin', NULL, false), ('erin', NULL, true)"), SqlError::UniqueViolation { .. }));
    assert!(env.catalog().user("dave").is_none() && env.catalog().user("erin").is_none());
    // The documented procedure's copy back, from an ordinary table of the same shape.
    block_on(s.execute_script(
        "CREATE DATABASE newdb;
         CREATE TABLE newdb.users (username STRING PRIMARY KEY, \"hashedPassword\" BOOL, \"isRole\" BOOL NOT NULL DEFAULT false);
         INSERT INTO newdb.users VALUES ('root', NULL, false), ('admin', NULL, true), ('frank', NULL, false), ('auditors', NULL, true)",
    ))
    .unwrap();
    assert!(matches!(err(&mut s, "INSERT INTO system.users SELECT * FROM newdb.users"), SqlError::UniqueViolation { .. }));
    let copied = run(&mut s, "INSERT INTO system.users SELECT * FROM newdb.users WHERE username NOT IN (SELECT username FROM system.users)");
    assert_eq!(copied.rows_affected, 2);
    let cat = env.catalog();
    assert!(cat.user("frank").is_some_and(|u| !u.is_role) && cat.user("auditors").is_some_and(|u| u.is_role));
    // Bad rows: wrong width, wrong type, no name, no isRole.
    assert_eq!(
        err(&mut s, "INSERT INTO system.users SELECT username, \"isRole\", \"isRole\", 1 FROM newdb.users").to_string(),
        "INSERT has more expressions than target columns, 4 expressions for 3 targets"
    );
    assert!(matches!(err(&mut s, "INSERT INTO system.users VALUES ('gina', 'secret', false)"), SqlError::Type(_)));
    assert!(matches!(err(&mut s, "INSERT INTO system.users VALUES ('', NULL, false)"), SqlError::Invalid(_)));
    assert!(matches!(err(&mut s, "INSERT INTO system.users VALUES (NULL, NULL, false)"), SqlError::NotNullViolation(c) if c == "username"));
    assert!(matches!(err(&mut s, "INSERT INTO system.users VALUES ('gina', NULL, NULL)"), SqlError::NotNullViolation(c) if c == "isRole"));
    assert!(matches!(err(&mut s, "UPSERT INTO system.users VALUES ('root', NULL, true)"), SqlError::Unsupported(_)));
    // Admins only, for reading and writing.
    let mut a = env.session("alice");
    assert_eq!(err(&mut a, "SELECT * FROM system.users").to_string(), "user alice does not have SELECT privilege on relation users");
    assert_eq!(
        err(&mut a, "INSERT INTO system.users VALUES ('mallory', NULL, false)").to_string(),
        "user alice does not have INSERT privilege on relation users"
    );
    // `system` is not a name a user database can take.
    assert!(matches!(err(&mut s, "CREATE DATABASE system"), SqlError::DuplicateObject { kind: "database", .. }));
    // No password material anywhere, as before.
    assert!(env.kv.snapshot().all_versions().all(|e| !String::from_utf8_lossy(e.value.as_deref().unwrap_or_default()).contains("hunter2")));
}
