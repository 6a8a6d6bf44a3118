//! End-to-end, in-process: SHOW BACKUP SCHEMAS | FILES | RANGES with CockroachDB v20.2's
//! columns, on a single backup, on a chain with an automatic incremental, and on an encrypted
//! backup; and result tables whose cells or column names are wider than 65,535 characters
//! (which made `format!`'s width argument panic and killed the shell).

use crate::common::*;
use backup::format::Manifest;
use backup::show::{QueryResult, FILE_COLUMNS, RANGE_COLUMNS};
use backup::storage::MemStorageProvider;
use model::{Datum, Key};
use std::sync::Arc;
use std::time::Duration;

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

fn text(d: &Datum) -> &str {
    match d {
        Datum::String(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn int(d: &Datum) -> i64 {
    match d {
        Datum::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

fn bytes(d: &Datum) -> Key {
    match d {
        Datum::Bytes(b) => Key(b.clone()),
        other => panic!("not bytes: {other:?}"),
    }
}

/// Checks SHOW BACKUP FILES rows against the manifests of the layers they list, and that each
/// path names a stored object from the location SHOW BACKUP was given.
fn check_files(c: &Cluster, loc: &str, shown: &QueryResult, layers: &[(&str, &Manifest)]) {
    assert_eq!(shown.columns, FILE_COLUMNS);
    let want: usize = layers.iter().map(|(_, m)| m.files.len()).sum();
    assert_eq!(shown.rows.len(), want, "{}", shown.render());
    let store = c.store(loc);
    let mut rows = shown.rows.iter();
    for (dir, m) in layers {
        let kind = if m.start_time.is_zero() { "full" } else { "incremental" };
        for f in &m.files {
            let row = rows.next().unwrap();
            let path = if dir.is_empty() { f.path.clone() } else { format!("{dir}/{}", f.path) };
            assert_eq!(text(&row[0]), path);
            assert!(store.snapshot().contains_key(&path), "{path} is stored");
            assert_eq!(text(&row[1]), kind);
            assert_eq!((text(&row[2]), text(&row[3])), (f.span.start.to_string().as_str(), f.span.end.to_string().as_str()));
            assert_eq!((bytes(&row[4]), bytes(&row[5])), (f.span.start.clone(), f.span.end.clone()));
            assert_eq!((int(&row[6]), int(&row[7])), (f.data_size as i64, f.rows as i64));
        }
    }
}

#[test]
fn show_backup_files_ranges_and_schemas_of_a_database_backup() {
    let c = bank();
    let loc = "nodelocal://1/bank";
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' AS OF SYSTEM TIME '-10s'"));
    let m = c.manifest(loc);

    let files = c.ok(&format!("SHOW BACKUP FILES '{loc}'"));
    check_files(&c, loc, &files, &[("", &m)]);
    // The files' sizes and rows add up to the backup's totals.
    let size: i64 = files.rows.iter().map(|r| int(&r[6])).sum();
    let rows: i64 = files.rows.iter().map(|r| int(&r[7])).sum();
    assert_eq!((size, rows), (m.entry_counts.data_size as i64, m.entry_counts.rows as i64));

    let ranges = c.ok(&format!("SHOW BACKUP RANGES '{loc}'"));
    assert_eq!(ranges.columns, RANGE_COLUMNS);
    assert_eq!(
        ranges.render(),
        // One span per relation holding data (customers 53, accounts 54, the sequence 55,
        // transfers 56; the view has none), each the table's whole key range.
        "start_pretty | end_pretty | start_key           | end_key
-------------+------------+---------------------+--------------------
/Table/53    | /Table/54  | b'\\x00\\x00\\x00\\x35' | b'\\x00\\x00\\x00\\x36'
/Table/54    | /Table/55  | b'\\x00\\x00\\x00\\x36' | b'\\x00\\x00\\x00\\x37'
/Table/55    | /Table/56  | b'\\x00\\x00\\x00\\x37' | b'\\x00\\x00\\x00\\x38'
/Table/56    | /Table/57  | b'\\x00\\x00\\x00\\x38' | b'\\x00\\x00\\x00\\x39'
(4 rows)
"
    );

    let schemas = c.ok(&format!("SHOW BACKUP SCHEMAS '{loc}'"));
    let plain = c.ok(&format!("SHOW BACKUP '{loc}'"));
    // SHOW BACKUP's columns and rows, plus create_statement.
    assert_eq!(schemas.columns[..plain.columns.len()], plain.columns[..]);
    assert_eq!(schemas.columns.last().map(String::as_str), Some("create_statement"));
    for (s, p) in schemas.rows.iter().zip(&plain.rows) {
        assert_eq!(s[..p.len()], p[..]);
    }
    let create = |name: &str| {
        let row = schemas.rows.iter().find(|r| r[2] == Datum::String(name.into())).unwrap_or_else(|| panic!("{name}"));
        row.last().unwrap().clone()
    };
    assert_eq!(create("bank"), Datum::Null, "a database has no CREATE statement here");
    assert_eq!(
        create("customers"),
        s("CREATE TABLE customers (\n\tid INT8 NOT NULL,\n\tname STRING NOT NULL,\n\temail STRING NULL,\n\tCONSTRAINT \"primary\" PRIMARY KEY (id ASC),\n\tUNIQUE INDEX customers_email_key (email ASC)\n)")
    );
    assert!(text(&create("accounts")).contains("CONSTRAINT fk_customer_id_ref_customers FOREIGN KEY (customer_id) REFERENCES customers(id)"));
    assert_eq!(create("transfer_ids"), s("CREATE SEQUENCE transfer_ids MINVALUE 1 MAXVALUE 9223372036854775807 INCREMENT 1 START 1"));
    assert!(text(&create("transfers")).contains("DEFAULT nextval('transfer_ids')"));
    assert!(text(&create("rich_accounts")).starts_with("CREATE VIEW rich_accounts AS SELECT"));
    // WITH privileges comes after create_statement, as in CockroachDB.
    let with_privs = c.ok(&format!("SHOW BACKUP SCHEMAS '{loc}' WITH privileges"));
    let n = with_privs.columns.len();
    assert_eq!(with_privs.columns[n - 2..], ["create_statement".to_string(), "privileges".to_string()]);
}

#[test]
fn show_backup_files_and_ranges_of_a_chain_list_every_layer() {
    let mut c = bank();
    let loc = "nodelocal://1/chain";
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    c.advance(Duration::from_secs(2));
    c.sql("INSERT INTO bank.customers VALUES (9, 'ivy', 'ivy@bank'); UPDATE bank.accounts SET balance = 7 WHERE id = 1");
    c.advance(Duration::from_secs(2));
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    let full = c.manifest(loc);
    let store = c.store(loc);
    let inc_dir = store.snapshot().into_keys().find_map(|k| k.strip_suffix("/BACKUP").map(str::to_string)).expect("an automatic incremental");
    let inc = c.manifest(&format!("{loc}/{inc_dir}"));
    assert!(!inc.start_time.is_zero());
    let files = c.ok(&format!("SHOW BACKUP FILES '{loc}'"));
    check_files(&c, loc, &files, &[("", &full), (&inc_dir, &inc)]);
    assert!(files.rows.iter().any(|r| text(&r[1]) == "incremental"));
    let ranges = c.ok(&format!("SHOW BACKUP RANGES '{loc}'"));
    assert_eq!(ranges.rows.len(), full.spans.len() + inc.spans.len());
    let schemas = c.ok(&format!("SHOW BACKUP SCHEMAS '{loc}'"));
    assert_eq!(schemas.rows.len(), full.descriptors.len() + inc.descriptors.len());
    // Listing the incremental on its own: its files are named from there.
    let files = c.ok(&format!("SHOW BACKUP FILES '{loc}/{inc_dir}'"));
    check_files(&c, &format!("{loc}/{inc_dir}"), &files, &[("", &inc)]);
}

#[test]
fn show_backup_files_ranges_and_schemas_of_an_encrypted_backup_need_its_passphrase() {
    let c = bank();
    let loc = "nodelocal://1/enc";
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH encryption_passphrase = 'pw'"));
    for kind in ["FILES", "RANGES", "SCHEMAS"] {
        let e = c.err(&format!("SHOW BACKUP {kind} '{loc}'"));
        assert!(e.contains("file appears encrypted"), "{kind}: {e}");
        let e = c.err(&format!("SHOW BACKUP {kind} '{loc}' WITH encryption_passphrase = 'nope'"));
        assert!(e.contains("maybe incorrect key"), "{kind}: {e}");
        let shown = c.ok(&format!("SHOW BACKUP {kind} '{loc}' WITH encryption_passphrase = 'pw'"));
        assert!(!shown.rows.is_empty(), "{kind}");
    }
    let files = c.ok(&format!("SHOW BACKUP FILES '{loc}' WITH encryption_passphrase = 'pw'"));
    let store = c.store(loc);
    for r in &files.rows {
        assert!(store.snapshot().contains_key(text(&r[0])), "{}", text(&r[0]));
    }
}

#[test]
fn cells_and_column_names_wider_than_65535_characters_render() {
    let wide = "w".repeat(70_000);
    let r = QueryResult { columns: vec![wide.clone(), "b".into()], rows: vec![vec![s(&"v".repeat(70_001)), Datum::Int(1)], vec![Datum::Null, Datum::Int(22)]] };
    let out = r.render();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{wide}  | b"), "the name padded by one to the 70,001-character cell");
    assert_eq!(lines[1], format!("{}-+---", "-".repeat(70_001)));
    assert_eq!(lines[2], format!("{} | 1", "v".repeat(70_001)));
    assert_eq!(lines[3], format!("NULL{} | 22", " ".repeat(70_001 - 4)));
    assert_eq!(lines[4], "(2 rows)");
    // Columns line up by displayed width, not bytes: 'é' and '日' are one and two columns.
    let r = QueryResult { columns: vec!["a".into(), "b".into()], rows: vec![vec![s("é"), s("x")], vec![s("日"), s("y")], vec![s("abc"), s("z")]] };
    assert_eq!(r.render(), "a   | b\n----+--\né   | x\n日  | y\nabc | z\n(3 rows)\n");
    // A cell of several lines takes as many lines; its widest line sets the column's width.
    let r = QueryResult {
        columns: vec!["name".into(), "create_statement".into(), "n".into()],
        rows: vec![vec![s("t"), s("CREATE TABLE t (\n\tid INT8\n)"), Datum::Int(1)]],
    };
    assert_eq!(
        r.render(),
        "name | create_statement | n\n-----+------------------+--\nt    | CREATE TABLE t ( | 1\n     |     id INT8      |\n     | )                |\n(1 row)\n"
    );
    // A row with more cells than columns does not panic either.
    let r = QueryResult { columns: vec!["a".into()], rows: vec![vec![s("x"), s("extra")]] };
    assert_eq!(r.render(), "a\n-\nx | extra\n(1 row)\n");
}

#[test]
fn a_database_named_with_70000_characters_backs_up_and_shows() {
    let mut c = bank();
    let name = "d".repeat(70_000);
    c.sql(&format!("CREATE DATABASE {name}; CREATE TABLE {name}.t (id INT PRIMARY KEY, v STRING); INSERT INTO {name}.t VALUES (1, '{}')", "v".repeat(70_000)));
    c.advance(Duration::from_secs(1));
    let loc = "nodelocal://1/wide";
    c.ok(&format!("BACKUP DATABASE {name} TO '{loc}'"));
    for kind in ["", "SCHEMAS ", "FILES ", "RANGES "] {
        let shown = c.ok(&format!("SHOW BACKUP {kind}'{loc}'"));
        let out = shown.render();
        assert!(out.ends_with("rows)\n") || out.ends_with("row)\n"), "{kind}");
        if kind.is_empty() || kind == "SCHEMAS " {
            assert!(out.contains(&name), "{kind}");
        }
    }
    let jobs = c.ok("SHOW JOBS").render();
    assert!(jobs.contains(&name));
    // And the table restores, name and all.
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE {name} FROM '{loc}'"));
    assert_eq!(dst.read_now(&name, "t").rows, c.read_now(&name, "t").rows);
}
