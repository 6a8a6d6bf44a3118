//! What the backup code *says* about a finished backup, against the oracle: SHOW BACKUP's
//! listing (which databases and relations, of which kind, and how many rows each table had at
//! the backup's time) and the row count RESTORE reports. Those numbers come from the backup
//! code's own accounting (each data file's row count in the manifest, the restore's ingest
//! totals); the expectations come from the workload's record of what committed. A relation lost
//! from the listing, a name mangled on its way through the manifest, or a miscount fails the
//! seed, even when the restored rows themselves are right.

use crate::check::expected;
use crate::oracle::Oracle;
use crate::property::Property;
use crate::restore_check::Answer;
use crate::run::Failure;
use crate::workload::VIEW_BIG_ACCOUNTS;
use model::{Datum, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// What a full backup (no revision history) of `tables` at `end` must list.
pub(crate) struct Expected<'a> {
    /// The relations of the backup's targets the oracle follows (`database.name`), the view
    /// among them; a table the oracle has no state for at `end` did not exist then and must
    /// not be listed.
    pub(crate) tables: &'a [String],
    /// The workload's record.
    pub(crate) oracle: &'a Oracle,
    /// The backup's end time.
    pub(crate) end: Timestamp,
    /// Whether the targets were whole databases (a cluster or DATABASE backup): then each of
    /// their databases is listed too.
    pub(crate) whole_databases: bool,
}

/// One listed object: its kind and row count.
#[derive(Debug)]
struct Listed {
    kind: String,
    rows: Option<i64>,
}

fn fail(message: String) -> Failure {
    Failure { property: Property::ShowMatchesOracle, message }
}

fn text(d: &Datum) -> Option<&str> {
    match d {
        Datum::String(s) => Some(s),
        _ => None,
    }
}

/// SHOW BACKUP's rows, sorted: relations by (database, name), the databases listed, and every
/// end time given.
type Listing = (BTreeMap<(String, String), Listed>, BTreeSet<String>, Vec<String>);

/// The listing of `answer`; a relation listed twice is a failure.
fn listing(answer: &Answer) -> Result<Listing, Failure> {
    let (columns, rows) = answer;
    let col = |name: &str| columns.iter().position(|c| c == name).ok_or_else(|| fail(format!("SHOW BACKUP has no column {name:?}: {columns:?}")));
    let (db_col, name_col, kind_col, rows_col, end_col) = (col("database_name")?, col("object_name")?, col("object_type")?, col("rows")?, col("end_time")?);
    let mut relations = BTreeMap::new();
    let mut databases = BTreeSet::new();
    let mut ends = Vec::new();
    for row in rows {
        let cell = |i: usize| row.get(i).ok_or_else(|| fail(format!("SHOW BACKUP row {row:?} is shorter than its {} columns", columns.len())));
        let kind = text(cell(kind_col)?).ok_or_else(|| fail(format!("SHOW BACKUP row {row:?} has no object_type")))?.to_string();
        let name = text(cell(name_col)?).ok_or_else(|| fail(format!("SHOW BACKUP row {row:?} has no object_name")))?.to_string();
        if let Some(end) = text(cell(end_col)?) {
            ends.push(end.to_string());
        }
        if kind == "database" {
            databases.insert(name);
            continue;
        }
        let db = text(cell(db_col)?).ok_or_else(|| fail(format!("SHOW BACKUP lists {kind} {name:?} without a database")))?.to_string();
        let rows = match cell(rows_col)? {
            Datum::Int(n) => Some(*n),
            _ => None,
        };
        let again = format!("SHOW BACKUP lists {db:?}.{name:?} twice");
        if relations.insert((db, name), Listed { kind, rows }).is_some() {
            return Err(fail(again));
        }
    }
    Ok((relations, databases, ends))
}

/// SHOW BACKUP of a full backup without revision history, against the oracle: every relation
/// of the targets that existed at the end time is listed once under its database, with its
/// kind, and each table with the number of rows it had then; nothing else of those databases
/// that is a table or a view is listed (sequences, which the oracle does not follow, may be);
/// whole databases are listed as databases; every row says the backup's end time.
#[cfg(test)]
fn show_matches(answer: &Answer, want: &Expected) -> Result<(), Failure> {
    show_matches_listing(&listing(answer)?, want)
}

/// SHOW BACKUP and RESTORE's reported rows of one backup, checked against the oracle, and
/// their printing as the shell shows it against them ([`crate::render_check`]): SHOW
/// BACKUP's answer is read once for both checks (the listing's, described at [`show_matches`], and
/// RESTORE's row count, at [`restore_rows_match`]).
pub(crate) fn show_and_restore_match(shown: &Answer, restored: &Answer, want: &Expected) -> Result<(), Failure> {
    crate::render_check::answer_prints_true("SHOW BACKUP", &shown.0, &shown.1)?;
    crate::render_check::answer_prints_true("RESTORE", &restored.0, &restored.1)?;
    let listed = listing(shown)?;
    show_matches_listing(&listed, want)?;
    restore_rows_match_listing(restored, &listed, want)
}

fn show_matches_listing((listed, databases, ends): &Listing, want: &Expected) -> Result<(), Failure> {
    let end = want.end.to_datetime_string();
    if let Some(other) = ends.iter().find(|e| **e != end) {
        return Err(fail(format!("SHOW BACKUP says end_time {other}, but the backup ends at {end}")));
    }
    let mut dbs = BTreeSet::new();
    let mut wanted = BTreeSet::new();
    for t in want.tables {
        let (db, name) = t.split_once('.').unwrap_or(("defaultdb", t.as_str()));
        dbs.insert(db.to_string());
        let key = (db.to_string(), name.to_string());
        let Some(state) = expected(want.oracle, t, want.end) else {
            if let Some(l) = listed.get(&key) {
                return Err(fail(format!("SHOW BACKUP lists {} {t:?}, which did not exist at the backup's end time {}", l.kind, want.end)));
            }
            continue;
        };
        let kind = if t == VIEW_BIG_ACCOUNTS { "view" } else { "table" };
        let Some(l) = listed.get(&key) else {
            return Err(fail(format!("SHOW BACKUP does not list {kind} {t:?}, which the backup's targets held at {}", want.end)));
        };
        if l.kind != kind {
            return Err(fail(format!("SHOW BACKUP lists {t:?} as a {}, but it is a {kind}", l.kind)));
        }
        if kind == "table" && l.rows != Some(state.rows.len() as i64) {
            return Err(fail(format!("SHOW BACKUP says {t:?} has {:?} rows, but it had {} at the backup's end time {}", l.rows, state.rows.len(), want.end)));
        }
        wanted.insert(key);
    }
    for ((db, name), l) in listed {
        if dbs.contains(db) && matches!(l.kind.as_str(), "table" | "view") && !wanted.contains(&(db.clone(), name.clone())) {
            return Err(fail(format!("SHOW BACKUP lists {} {db:?}.{name:?}, which the oracle does not know among the backup's targets", l.kind)));
        }
    }
    if want.whole_databases {
        if let Some(missing) = dbs.iter().find(|d| !databases.contains(*d)) {
            return Err(fail(format!("SHOW BACKUP does not list database {missing:?}, which the backup holds whole")));
        }
    }
    Ok(())
}

/// The `rows` a RESTORE of that backup must report: the oracle's rows of every restored table
/// at the backup's end time, plus each sequence's (one value row, counted as SHOW BACKUP lists
/// it: the oracle does not follow sequences).
#[cfg(test)]
fn restore_rows_match(restored: &Answer, shown: &Answer, want: &Expected) -> Result<(), Failure> {
    restore_rows_match_listing(restored, &listing(shown)?, want)
}

fn restore_rows_match_listing(restored: &Answer, (listed, _, _): &Listing, want: &Expected) -> Result<(), Failure> {
    let (columns, rows) = restored;
    let reported = columns.iter().position(|c| c == "rows").and_then(|i| rows.first().and_then(|r| r.get(i)));
    let Some(Datum::Int(reported)) = reported else {
        return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("RESTORE reported no row count: {columns:?} {rows:?}") });
    };
    let mut rows_wanted = 0i64;
    for t in want.tables.iter().filter(|t| *t != VIEW_BIG_ACCOUNTS) {
        rows_wanted += expected(want.oracle, t, want.end).map_or(0, |s| s.rows.len() as i64);
    }
    let dbs: BTreeSet<&str> = want.tables.iter().map(|t| t.split_once('.').map_or("defaultdb", |(d, _)| d)).collect();
    rows_wanted += listed.iter().filter(|((db, _), l)| l.kind == "sequence" && dbs.contains(db.as_str())).filter_map(|(_, l)| l.rows).sum::<i64>();
    if *reported != rows_wanted {
        return Err(Failure {
            property: Property::RestoreMatchesOracle,
            message: format!("RESTORE reported {reported} rows, but the restored tables held {rows_wanted} at the backup's end time {}", want.end),
        });
    }
    // Index entries: one per row per secondary index (the oracle follows CREATE INDEX, not the
    // indexes' contents; sequences and views have none).
    let reported = columns.iter().position(|c| c == "index_entries").and_then(|i| rows.first().and_then(|r| r.get(i)));
    let Some(Datum::Int(reported)) = reported else {
        return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("RESTORE reported no index_entries: {columns:?} {rows:?}") });
    };
    let entries_wanted: i64 =
        want.tables.iter().filter(|t| *t != VIEW_BIG_ACCOUNTS).map(|t| expected(want.oracle, t, want.end).map_or(0, |s| s.index_entries() as i64)).sum();
    if *reported != entries_wanted {
        return Err(Failure {
            property: Property::RestoreMatchesOracle,
            message: format!(
                "RESTORE reported {reported} index entries, but the restored tables' rows had {entries_wanted} in their secondary indexes at the backup's end time {}",
                want.end
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::Event;

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    /// An oracle with `db.t` (two rows at 20) and the guest's odd names (one row at 20).
    fn oracle() -> Oracle {
        let mut o = Oracle::new();
        o.record("db.t", ts(10), Event::Created { columns: vec!["id".into()] });
        o.record("db.t", ts(11), Event::Put { row: vec![Datum::Int(1)] });
        o.record("db.t", ts(12), Event::Put { row: vec![Datum::Int(2)] });
        o.record("db.t", ts(13), Event::IndexCreated { name: "t_by_id".into() });
        o.record("say \"hi\".tab\there", ts(10), Event::Created { columns: vec!["id".into()] });
        o.record("say \"hi\".tab\there", ts(11), Event::Put { row: vec![Datum::Int(7)] });
        o.record("db.later", ts(30), Event::Created { columns: vec!["id".into()] });
        o
    }

    fn row(db: Option<&str>, name: &str, kind: &str, rows: Option<i64>) -> Vec<Datum> {
        let s = |v: &str| Datum::String(v.into());
        vec![db.map_or(Datum::Null, s), s(name), s(kind), rows.map_or(Datum::Null, Datum::Int), s(&ts(20).to_datetime_string())]
    }

    fn answer(rows: Vec<Vec<Datum>>) -> Answer {
        (["database_name", "object_name", "object_type", "rows", "end_time"].iter().map(|c| c.to_string()).collect(), rows)
    }

    fn check(rows: Vec<Vec<Datum>>) -> Result<(), String> {
        let o = oracle();
        let tables = ["db.t".to_string(), "say \"hi\".tab\there".to_string(), "db.later".to_string()];
        show_matches(&answer(rows), &Expected { tables: &tables, oracle: &o, end: ts(20), whole_databases: true }).map_err(|f| f.message)
    }

    fn good() -> Vec<Vec<Datum>> {
        vec![
            row(None, "db", "database", None),
            row(None, "say \"hi\"", "database", None),
            row(Some("db"), "t", "table", Some(2)),
            row(Some("db"), "seq", "sequence", Some(1)),
            row(Some("say \"hi\""), "tab\there", "table", Some(1)),
        ]
    }

    #[test]
    fn a_listing_that_matches_the_oracle_passes() {
        assert_eq!(check(good()), Ok(()));
    }

    #[test]
    fn every_difference_from_the_oracle_fails_naming_it() {
        type Change = fn(&mut Vec<Vec<Datum>>);
        let cases: [(&str, Change); 9] = [
            ("does not list table \"db.t\"", |r| r.retain(|x| x[1] != Datum::String("t".into()))),
            ("has Some(3) rows, but it had 2", |r| r[2][3] = Datum::Int(3)),
            ("lists \"db.t\" as a view", |r| r[2][2] = Datum::String("view".into())),
            ("lists \"db\".\"t\" twice", |r| r.push(r[2].clone())),
            ("lists table \"db\".\"extra\"", |r| r.push(row(Some("db"), "extra", "table", Some(0)))),
            ("did not exist at the backup's end time", |r| r.push(row(Some("db"), "later", "table", Some(0)))),
            ("does not list database \"say \\\"hi\\\"\"", |r| {
                r.remove(1);
            }),
            ("does not list table \"say \\\"hi\\\".tab\\there\"", |r| r[4][1] = Datum::String("tab here".into())),
            ("says end_time 1999-01-01", |r| r[0][4] = Datum::String("1999-01-01 00:00:00+00:00".into())),
        ];
        for (want, change) in cases {
            let mut rows = good();
            change(&mut rows);
            let got = check(rows);
            assert!(matches!(&got, Err(e) if e.contains(want)), "want an error containing {want:?}, got {got:?}");
        }
    }

    #[test]
    fn restore_rows_are_the_oracles_plus_the_listed_sequences() {
        let o = oracle();
        let tables = ["db.t".to_string(), "say \"hi\".tab\there".to_string()];
        let want = Expected { tables: &tables, oracle: &o, end: ts(20), whole_databases: true };
        let restored = |n: i64, entries: i64| {
            (vec!["job_id".to_string(), "rows".to_string(), "index_entries".to_string()], vec![vec![Datum::Int(1), Datum::Int(n), Datum::Int(entries)]])
        };
        // 2 + 1 rows, and the sequence's one; db.t's index has an entry for each of its 2 rows.
        assert_eq!(restore_rows_match(&restored(4, 2), &answer(good()), &want).map_err(|f| f.message), Ok(()));
        let e = restore_rows_match(&restored(3, 2), &answer(good()), &want).unwrap_err();
        assert!(e.message.contains("reported 3 rows, but the restored tables held 4"), "{}", e.message);
        let e = restore_rows_match(&restored(4, 0), &answer(good()), &want).unwrap_err();
        assert!(e.message.contains("reported 0 index entries, but the restored tables' rows had 2"), "{}", e.message);
    }
}
