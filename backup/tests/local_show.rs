//! End-to-end, in-process: result tables whose cells or column names are wider than 65,535
//! characters (which made `format!`'s width argument panic and killed the shell).

mod common;

use backup::show::QueryResult;
use backup::storage::MemStorageProvider;
use common::*;
use model::Datum;
use std::sync::Arc;
use std::time::Duration;

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

#[test]
fn cells_and_column_names_wider_than_65535_characters_render() {
    let wide = "w".repeat(70_000);
    let r = QueryResult { columns: vec![wide.clone(), "b".into()], rows: vec![vec![s(&"v".repeat(70_001)), Datum::Int(1)], vec![Datum::Null, Datum::Int(22)]] };
    let out = r.render();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{wide}{} | b", " ".repeat(1)));
    assert_eq!(lines[1], format!("{}-+---", "-".repeat(70_001)));
    assert_eq!(lines[2], format!("{} | 1", "v".repeat(70_001)));
    assert_eq!(lines[3], format!("NULL{} | 22", " ".repeat(70_001 - 4)));
    assert_eq!(lines[4], "(2 rows)");
    // Columns line up by displayed width, not bytes: 'é' and '日' are one and two columns.
    let r = QueryResult { columns: vec!["a".into(), "b".into()], rows: vec![vec![s("é"), s("x")], vec![s("日"), s("y")], vec![s("abc"), s("z")]] };
    assert_eq!(r.render(), "a   | b\n----+--\né   | x\n日  | y\nabc | z\n(3 rows)\n");
    // A cell of several lines takes as many lines; its widest line sets the column's width.
    let r = QueryResult { columns: vec!["name".into(), "create_statement".into(), "n".into()], rows: vec![vec![s("t"), s("CREATE TABLE t (\n\tid INT8\n)"), Datum::Int(1)]] };
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
    for kind in [""] {
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
