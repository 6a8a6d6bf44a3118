//! End-to-end, in-process: incremental backups, revision history and point-in-time restore
//! (issue #5). Every sentence of the issue has at least one test here that can fail:
//!
//! - an incremental holds exactly the keys that changed after its base (tombstones included)
//!   and restores, with its base, to the source as of its own time;
//! - chains built with `INCREMENTAL FROM` and with automatic date-named subdirectories restore
//!   (from a list of URLs or from the location) to the source at the last backup's time;
//! - lists out of order, with a gap, without a full backup first, or from another cluster are
//!   refused saying which, and nothing is written; HTTP refuses the automatic form;
//! - a base older than the GC window needs a new full backup; explicit table or database lists
//!   refuse tables created, dropped or truncated since the base; cluster incrementals carry new
//!   tables as introduced spans exported from time zero;
//! - revision history: every revision in the window, descriptor changes in the manifest,
//!   `RESTORE ... AS OF SYSTEM TIME` at any covered time (tables created / dropped before it
//!   included / left out), CockroachDB's three error texts;
//! - SHOW BACKUP of a chain; chains with a missing, reordered or corrupted member refused with
//!   nothing published; incrementals paused, resumed, canceled and adopted; encrypted chains
//!   encrypted throughout.

use crate::common::*;
use backup::crypto::{self, EncryptionInfo};
use backup::format::{DataFile, Manifest};
use backup::jobs::{self, JobLease, JobStatus, JobSummary};
use backup::statement::Secret;
use backup::storage::MemStorageProvider;
use futures::executor::block_on;
use model::catalog::{Catalog, Descriptor};
use model::{Datum, Entry, Key, MvccFilter, Span, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

/// The relations holding data in `bank` and `employees`.
const ALL: [(&str, &str); 5] = [("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers"), ("employees", "staff")];
const BANK: [(&str, &str); 4] = [("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers")];

/// Asserts that every relation `tables` of `dst` holds now exactly what `src` held at `ts`.
fn same_tables(src: &Cluster, dst: &Cluster, tables: &[(&str, &str)], ts: Timestamp, what: &str) {
    for (db, t) in tables {
        let want = src.read(db, t, ts);
        let got = dst.read_now(db, t);
        assert_eq!((&got.columns, &got.rows), (&want.columns, &want.rows), "{what}: {db}.{t} as of {ts}");
    }
}

/// Restores `sql` (a RESTORE statement) into a fresh cluster sharing `src`'s storage and
/// checks `tables` against the source as of `ts`.
fn restores_to(src: &Cluster, sql: &str, tables: &[(&str, &str)], ts: Timestamp) -> Cluster {
    let dst = src.fresh_destination();
    dst.ok(sql);
    same_tables(src, &dst, tables, ts, sql);
    dst
}

fn descriptors(c: &Catalog) -> Vec<Descriptor> {
    c.descriptors().cloned().collect()
}

fn job_count(c: &Cluster) -> usize {
    block_on(jobs::list(&*c.local)).unwrap().len()
}

fn backup_jobs(c: &Cluster) -> Vec<JobSummary> {
    block_on(jobs::list(&*c.local)).unwrap().into_iter().filter(|j| j.job_type == jobs::JobType::Backup).collect()
}

fn job(c: &Cluster, id: i64) -> JobSummary {
    block_on(jobs::load::<serde_json::Value>(&*c.local, id)).unwrap().unwrap()
}

/// The date-named subdirectories (`YYYYMMDD/HHMMSS.nnnnnnnnn[_logical]`) holding a manifest under `loc`,
/// sorted.
fn dated_subdirs(c: &Cluster, loc: &str) -> Vec<String> {
    let mut v: Vec<String> = c
        .store(loc)
        .snapshot()
        .into_keys()
        .filter_map(|k| {
            let d = k.strip_suffix("/BACKUP")?;
            backup::chain::subdir_time(d).is_some().then(|| d.to_string())
        })
        .collect();
    v.sort_by_key(|d| backup::chain::subdir_time(d));
    v
}

/// The subdirectory CockroachDB's layout `/20060102/150405.00`, to the nanosecond, gives an end
/// time, derived from its printed date ("2020-09-13 12:26:53.123456" with wall nanoseconds
/// 123456789 and logical 2 → "20200913/122653.123456789_2").
fn expected_subdir(t: Timestamp) -> String {
    let s = t.to_datetime_string();
    let (date, time) = s.split_once(' ').unwrap();
    let logical = if t.logical == 0 { String::new() } else { format!("_{}", t.logical) };
    format!("{}/{}.{:09}{logical}", date.replace('-', ""), time[..8].replace(':', ""), t.wall % 1_000_000_000)
}

fn sub(loc: &str, dir: &str) -> String {
    format!("{loc}/{dir}")
}

fn quoted(locs: &[&str]) -> String {
    locs.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ")
}

/// Changes to every relation with data — an insert, updates and a delete — distinct per
/// `step` (1, 2, ...), each key changed once; then 2 s pass.
fn change(c: &mut Cluster, step: i64) {
    // Transfers 1, 2, 4 exist at first; each step inserts the next id (5, 6, ...).
    let del = if step == 1 { 1 } else { 3 + step };
    c.sql(&format!(
        "INSERT INTO bank.customers VALUES ({a}, 'c{step}', 'c{step}@bank');
         UPDATE bank.customers SET name = 'ann{step}' WHERE id = 1;
         UPDATE bank.accounts SET balance = balance + {step}.0 WHERE id = 2;
         INSERT INTO bank.accounts VALUES ({a}, {a}, 10.0, 'x');
         INSERT INTO bank.transfers (account_id, amount) VALUES (1, {step}.5);
         DELETE FROM bank.transfers WHERE id = {del};
         UPDATE employees.staff SET dept = 'd{step}' WHERE id = 2;",
        a = 100 + step
    ));
    c.advance(Duration::from_secs(2));
}

/// Every entry of the data files of the (unencrypted) backup at `loc`.
fn backup_entries(c: &Cluster, loc: &str, m: &Manifest) -> Vec<Entry> {
    let store = c.store(loc);
    m.files.iter().flat_map(|f| DataFile::decode(&f.path, &read_obj(&store, &f.path)).unwrap().entries).collect()
}

/// Every version the source holds for `tables` in `(start, end]`.
fn source_history(c: &Cluster, tables: &[(&str, &str)], start: Timestamp, end: Timestamp) -> Vec<Entry> {
    let store = c.local.snapshot();
    let mut out = Vec::new();
    for (db, t) in tables {
        let span = model::encoding::table_span(c.table_id(db, t));
        out.extend(store.export(&span, start, end, MvccFilter::AllRevisions).unwrap().entries);
    }
    out
}

fn as_set(entries: Vec<Entry>) -> BTreeSet<(Key, Timestamp, Option<Vec<u8>>)> {
    entries.into_iter().map(|e| (e.key, e.ts, e.value)).collect()
}

// ---------------------------------------------------------------------------------------------
// Incremental: what it holds, chains, lists.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_incremental_holds_exactly_what_changed_after_its_base_up_to_its_own_time() {
    let mut c = bank();
    c.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/full'");
    let full = c.manifest("nodelocal://1/full");
    let full_files = c.store("nodelocal://1/full").snapshot();
    change(&mut c, 1);
    let own_time = c.now();
    // Changes after the incremental's own time (AS OF SYSTEM TIME) are not in it.
    change(&mut c, 2);
    let (_, rows, index_entries, bytes) = result_row(
        &c.ok(&format!("BACKUP DATABASE bank, employees TO 'nodelocal://1/inc' AS OF SYSTEM TIME '{own_time}' INCREMENTAL FROM 'nodelocal://1/full'")),
    );
    let inc = c.manifest("nodelocal://1/inc");
    assert_eq!(inc.start_time, full.end_time, "starts where its base ends");
    assert_eq!(inc.end_time, own_time, "ends at its own time");
    assert!(inc.end_time > inc.start_time);
    assert_eq!(inc.depends_on, vec!["nodelocal://1/full".to_string()]);
    assert_eq!((inc.mvcc_filter, inc.introduced_spans.len(), &inc.spans), (MvccFilter::Latest, 0, &full.spans));
    assert_eq!(c.store("nodelocal://1/full").snapshot(), full_files, "the base is left as it was");
    // Exactly the keys with a version in (start, end], each once, with its value at the end
    // time — a tombstone (None) for a deleted one.
    let mut want: BTreeMap<Key, Option<Vec<u8>>> = BTreeMap::new();
    for e in source_history(&c, &ALL, inc.start_time, inc.end_time) {
        let id = model::encoding::table_of(&e.key).unwrap();
        let at_end: BTreeMap<Key, Vec<u8>> = c.table_kvs(id, inc.end_time).into_iter().collect();
        want.insert(e.key.clone(), at_end.get(&e.key).cloned());
    }
    let got_entries = backup_entries(&c, "nodelocal://1/inc", &inc);
    for e in &got_entries {
        assert!(e.ts > inc.start_time && e.ts <= inc.end_time, "{e:?} outside the window");
    }
    let got: BTreeMap<Key, Option<Vec<u8>>> = got_entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect();
    assert_eq!(got.len(), got_entries.len(), "one version per key");
    assert_eq!(got, want);
    // Sanity of the expectation: every key whose value differs between the two times is in it,
    // and there are deletions among them.
    for (db, t) in ALL {
        let id = c.table_id(db, t);
        let before: BTreeMap<Key, Vec<u8>> = c.table_kvs(id, inc.start_time).into_iter().collect();
        let after: BTreeMap<Key, Vec<u8>> = c.table_kvs(id, inc.end_time).into_iter().collect();
        for (k, v) in &after {
            if before.get(k) != Some(v) {
                assert_eq!(got.get(k), Some(&Some(v.clone())), "{db}.{t}: changed key {k}");
            }
        }
        for k in before.keys().filter(|k| !after.contains_key(*k)) {
            assert_eq!(got.get(k), Some(&None), "{db}.{t}: deleted key {k} as a tombstone");
        }
    }
    assert!(got.values().filter(|v| v.is_none()).count() >= 1, "the deleted transfer is a tombstone");
    // Primary-index entries: customers 2, accounts 2, the sequence 1, transfers 2, staff 1.
    assert_eq!(inc.entry_counts.rows, 2 + 2 + 1 + 2 + 1, "{}", inc.dump());
    assert!(inc.entry_counts.rows < full.entry_counts.rows);
    assert_eq!((rows, index_entries, bytes), (inc.entry_counts.rows as i64, inc.entry_counts.index_entries as i64, inc.entry_counts.data_size as i64));
    // The chain restores the source as of the incremental's time; the full alone as of its own.
    restores_to(&c, "RESTORE DATABASE bank, employees FROM 'nodelocal://1/full', 'nodelocal://1/inc'", &ALL, inc.end_time);
    restores_to(&c, "RESTORE DATABASE bank, employees FROM 'nodelocal://1/full'", &ALL, full.end_time);
    assert_ne!(c.read("bank", "customers", inc.end_time).rows, c.read("bank", "customers", full.end_time).rows);
    assert_ne!(c.read("bank", "customers", inc.end_time).rows, c.read_now("bank", "customers").rows);
}

#[test]
fn a_full_backup_and_three_incremental_from_backups_restore_to_the_last_time() {
    let mut c = bank();
    let locs = ["nodelocal://1/list/full", "nodelocal://1/list/inc1", "nodelocal://1/list/inc2", "nodelocal://1/list/inc3"];
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{}'", locs[0]));
    for n in 1..=3 {
        change(&mut c, n as i64);
        let (_, rows, ..) = result_row(&c.ok(&format!("BACKUP DATABASE bank, employees TO '{}' INCREMENTAL FROM {}", locs[n], quoted(&locs[..n]))));
        assert_eq!(rows, 8, "incremental {n} holds only its step's changes");
    }
    change(&mut c, 4);
    let ms: Vec<Manifest> = locs.iter().map(|l| c.manifest(l)).collect();
    for n in 1..=3 {
        assert_eq!(ms[n].start_time, ms[n - 1].end_time, "inc{n}");
        assert_eq!(ms[n].depends_on, locs[..n].iter().map(|l| l.to_string()).collect::<Vec<_>>());
    }
    let all = quoted(&locs);
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM {all}"), &ALL, ms[3].end_time);
    // A prefix of the chain restores its own last time.
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM {}", quoted(&locs[..3])), &ALL, ms[2].end_time);
    // Any member's end time is a restorable time without revision history.
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM {all} AS OF SYSTEM TIME '{}'", ms[1].end_time), &ALL, ms[1].end_time);
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM {all} AS OF SYSTEM TIME '{}'", ms[0].end_time), &ALL, ms[0].end_time);
    // A table restore from the chain.
    let mut dst = c.fresh_destination();
    dst.sql("CREATE DATABASE employees");
    dst.ok(&format!("RESTORE TABLE employees.staff FROM {all}"));
    same_tables(&c, &dst, &[("employees", "staff")], ms[3].end_time, "table restore");
}

#[test]
fn a_destination_holding_a_full_backup_gets_incrementals_in_sorted_date_named_subdirectories() {
    let mut c = bank();
    let loc = "nodelocal://1/auto";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let full_files = c.store(loc).snapshot();
    for n in 1..=3 {
        change(&mut c, n);
        // Times with hundredths of a second (.37, .74, then .11 of the next second).
        c.advance(Duration::from_millis(370));
        let (_, rows, ..) = result_row(&c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'")));
        assert_eq!(rows, 8, "automatic incremental {n} holds only its step's changes");
    }
    change(&mut c, 4);
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 3, "one subdirectory per incremental: {:?}", c.store(loc).snapshot());
    let mut prev = c.manifest(loc);
    assert!(prev.is_full());
    let mut members = vec![loc.to_string()];
    for s in &subs {
        let m = c.manifest(&sub(loc, s));
        assert_eq!(s, &expected_subdir(m.end_time), "named after its end time");
        // Sorted by name is sorted by time, and each builds on everything before it.
        assert_eq!(m.start_time, prev.end_time, "{s}");
        assert_eq!(m.depends_on, members, "{s}");
        members.push(sub(loc, s));
        prev = m;
    }
    assert!(subs[0].starts_with("20200913/1226") && subs[0].contains(".370000000") && subs[2].contains(".110000000"), "{subs:?}");
    // The full backup's files are untouched.
    let after = c.store(loc).snapshot();
    for (path, size) in &full_files {
        assert_eq!(after.get(path), Some(size), "{path}");
    }
    // RESTORE from the location restores the whole chain; so does the list of its members.
    let last = prev.end_time;
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, last);
    let list: Vec<&str> = members.iter().map(String::as_str).collect();
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM {}", quoted(&list)), &ALL, last);
    let first_inc = c.manifest(&members[1]).end_time;
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}' AS OF SYSTEM TIME '{first_inc}'"), &ALL, first_inc);
    // One subdirectory per backup, to the nanosecond and logical tick: another incremental
    // one tick after the last (in the same hundredth of a second, which used to collide with
    // it) gets its own subdirectory and chains on.
    let before = c.store(loc).snapshot();
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}' AS OF SYSTEM TIME '{}'", last.next()));
    let after = dated_subdirs(&c, loc);
    assert_eq!(after.len(), 4, "{after:?}");
    assert_eq!(&after[..3], &subs[..]);
    assert_eq!(after[3], expected_subdir(last.next()));
    assert_eq!(c.manifest(&sub(loc, &after[3])).start_time, last);
    for (path, size) in &before {
        assert_eq!(c.store(loc).snapshot().get(path), Some(size), "{path} changed");
    }
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, last.next());
}

#[test]
fn lists_out_of_order_with_a_gap_without_a_full_first_or_from_another_cluster_are_refused_saying_which() {
    let mut c = bank();
    let (f, i1, i2, f2) = ("nodelocal://1/l/full", "nodelocal://1/l/inc1", "nodelocal://1/l/inc2", "nodelocal://1/l/full2");
    c.ok(&format!("BACKUP DATABASE bank TO '{f}'"));
    change(&mut c, 1);
    c.ok(&format!("BACKUP DATABASE bank TO '{i1}' INCREMENTAL FROM '{f}'"));
    change(&mut c, 2);
    c.ok(&format!("BACKUP DATABASE bank TO '{i2}' INCREMENTAL FROM '{f}', '{i1}'"));
    c.ok(&format!("BACKUP DATABASE bank TO '{f2}'"));
    // Another cluster (another id) sharing the storage, with a full backup and an incremental.
    let mut other = c.fresh_destination();
    other.env.cluster_id = "other-cluster-id".into();
    other.sql(SCHEMA);
    other.ok("BACKUP DATABASE bank TO 'nodelocal://1/l/other'");
    other.advance(Duration::from_secs(1));
    other.ok("BACKUP DATABASE bank TO 'nodelocal://1/l/other-inc' INCREMENTAL FROM 'nodelocal://1/l/other'");
    let [mf, m1, m2, _] = [f, i1, i2, f2].map(|l| c.manifest(l));
    let out_of_order = |next: &str, nm: &Manifest, prev: &str, pm: &Manifest| {
        format!("backups listed out of order: {next} (up to {}) is listed after {prev} (up to {})", nm.end_time, pm.end_time)
    };
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec![i1, i2], format!("{i1} is an incremental backup (from {}), not a full backup: a chain must start with the full backup it builds on", m1.start_time)),
        (vec![i1], format!("{i1} is an incremental backup (from {}), not a full backup: a chain must start with the full backup it builds on", m1.start_time)),
        (vec![f, i2, i1], out_of_order(i1, &m1, i2, &m2)),
        (vec![f, i1, i1], out_of_order(i1, &m1, i1, &m1)),
        (
            vec![f, i2],
            format!(
                "invalid previous backups: {i2} starts at {} but {f} ends at {}; a backup between them is missing or they belong to different chains (a new full backup may be required if a table has been created, dropped or truncated)",
                m2.start_time, mf.end_time
            ),
        ),
        (vec![f, i1, f2], format!("{f2} is a full backup: only incrementals may follow the full backup {f}")),
        (vec!["nodelocal://1/l/other"], "previous BACKUP nodelocal://1/l/other belongs to cluster other-cluster-id".to_string()),
        (vec![f, "nodelocal://1/l/other-inc"], format!("previous BACKUP {f} belongs to cluster test-cluster-id, not other-cluster-id")),
    ];
    let jobs_before = job_count(&c);
    for (n, (list, want)) in cases.iter().enumerate() {
        let dest = format!("nodelocal://1/l/refused{n}");
        let e = c.err(&format!("BACKUP DATABASE bank TO '{dest}' INCREMENTAL FROM {}", quoted(list)));
        assert_eq!(&e, want, "INCREMENTAL FROM {list:?}");
        assert!(c.store(&dest).snapshot().is_empty(), "nothing written for {list:?}");
    }
    assert_eq!(job_count(&c), jobs_before, "no job for a refused incremental");
    // RESTORE refuses the same chains (but a lone full backup of another cluster restores).
    let dst = c.fresh_destination();
    let before = descriptors(&dst.catalog());
    for (list, want) in &cases {
        if list == &vec!["nodelocal://1/l/other"] {
            continue;
        }
        assert_eq!(&dst.err(&format!("RESTORE DATABASE bank FROM {}", quoted(list))), want, "RESTORE FROM {list:?}");
        assert_eq!(descriptors(&dst.catalog()), before, "nothing published for {list:?}");
    }
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/l/other'");
    // An incremental must end after its base.
    let e = c.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/l/same-time' AS OF SYSTEM TIME '{}' INCREMENTAL FROM '{f}', '{i1}', '{i2}'", m2.end_time));
    assert_eq!(e, format!("the backup's time {} is not after the end time {} of the previous backup {i2}", m2.end_time, m2.end_time));
    assert!(c.store("nodelocal://1/l/same-time").snapshot().is_empty());
    // The good list works, for BACKUP and RESTORE; nothing changed since inc2, so inc3 is an
    // empty member, which restores like any other.
    let (_, rows, ..) = result_row(&c.ok(&format!("BACKUP DATABASE bank TO 'nodelocal://1/l/inc3' INCREMENTAL FROM '{f}', '{i1}', '{i2}'")));
    let m3 = c.manifest("nodelocal://1/l/inc3");
    assert_eq!((rows, m3.files.len(), m3.start_time), (0, 0, m2.end_time));
    restores_to(&c, &format!("RESTORE DATABASE bank FROM '{f}', '{i1}', '{i2}'"), &BANK, m2.end_time);
    restores_to(&c, &format!("RESTORE DATABASE bank FROM '{f}', '{i1}', '{i2}', 'nodelocal://1/l/inc3'"), &BANK, m3.end_time);
}

#[test]
fn http_destinations_refuse_automatic_incrementals_with_the_seeds_advice() {
    let mut c = bank();
    for scheme in ["http", "https"] {
        let full = format!("{scheme}://backups.example.com/full");
        c.ok(&format!("BACKUP DATABASE bank TO '{full}'"));
        change(&mut c, if scheme == "http" { 1 } else { 2 });
        let before = c.store(&full).snapshot();
        let e = c.err(&format!("BACKUP DATABASE bank TO '{full}'"));
        assert_eq!(
            e,
            format!("{full} already contains a BACKUP file: automatic incremental backups do not work with HTTP storage; use BACKUP ... INCREMENTAL FROM to say where each incremental goes")
        );
        assert_eq!(c.store(&full).snapshot(), before, "nothing written");
        // INCREMENTAL FROM works over HTTP, and the chain restores.
        let inc = format!("{scheme}://backups.example.com/inc");
        c.ok(&format!("BACKUP DATABASE bank TO '{inc}' INCREMENTAL FROM '{full}'"));
        let end = c.manifest(&inc).end_time;
        restores_to(&c, &format!("RESTORE DATABASE bank FROM '{full}', '{inc}'"), &BANK, end);
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals of the base: GC window, changed tables.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_base_older_than_the_gc_window_of_any_span_needs_a_new_full_backup() {
    let mut c = bank();
    let loc = "nodelocal://1/gc";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    // Inside the window (default TTL), an incremental works.
    change(&mut c, 1);
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let inc1 = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[0]));
    // One table gets a 5 s TTL; a minute later GC runs: its history before now - 5 s is gone.
    c.sql("ALTER TABLE bank.customers CONFIGURE ZONE USING gc.ttlseconds = 5");
    change(&mut c, 2);
    c.advance(Duration::from_secs(60));
    block_on(c.local.run_gc()).unwrap();
    let span = model::encoding::table_span(c.table_id("bank", "customers"));
    let threshold = block_on(model::ClusterKv::gc_threshold(&*c.local, &span)).unwrap();
    assert!(threshold > inc1.end_time);
    let want = format!(
        "the previous backup's end time {} is at or below the GC threshold {threshold} of {span}: the changes since it may already be garbage collected, so a new full backup is needed",
        inc1.end_time
    );
    let before = c.store(loc).snapshot();
    let jobs_before = job_count(&c);
    assert_eq!(c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'")), want, "automatic");
    let from = format!("'{loc}', '{}'", sub(loc, &dated_subdirs(&c, loc)[0]));
    assert_eq!(c.err(&format!("BACKUP DATABASE bank, employees TO 'nodelocal://1/gc-inc' INCREMENTAL FROM {from}")), want, "INCREMENTAL FROM");
    assert_eq!(c.store(loc).snapshot(), before);
    assert!(c.store("nodelocal://1/gc-inc").snapshot().is_empty());
    assert_eq!(job_count(&c), jobs_before);
    // The spans whose TTL is long are fine on their own (the GC window is per span).
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/gc-emp' AS OF SYSTEM TIME '-60s'");
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/gc-emp'");
    assert_eq!(dated_subdirs(&c, "nodelocal://1/gc-emp").len(), 1);
    // A new full backup starts a chain that incrementals can build on again.
    c.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/gc-new'");
    change(&mut c, 3);
    c.ok("BACKUP DATABASE bank, employees TO 'nodelocal://1/gc-new'");
    let end = c.manifest(&sub("nodelocal://1/gc-new", &dated_subdirs(&c, "nodelocal://1/gc-new")[0])).end_time;
    restores_to(&c, "RESTORE DATABASE bank, employees FROM 'nodelocal://1/gc-new'", &ALL, end);
}

/// The seed's note on `full_backup_location`, as the refusals word it.
const ADVICE: &str =
    "a new full backup is required after tables are created, dropped or truncated (or back up the whole cluster, whose incrementals carry new tables)";

#[test]
fn table_and_database_list_incrementals_refuse_tables_created_dropped_or_truncated_since_the_base() {
    let mut c = bank();
    c.sql(
        "CREATE TABLE employees.desks (id INT PRIMARY KEY, room STRING);
         INSERT INTO employees.desks VALUES (1, 'a'), (2, 'b');
         CREATE TABLE employees.temp (id INT PRIMARY KEY);
         INSERT INTO employees.temp VALUES (1);",
    );
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP employees.staff, employees.desks, employees.temp TO 'nodelocal://1/t/full'");
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/d/full'");
    let jobs_before = job_count(&c);
    // Created: a table named in the list (or added to the database) that the base lacks.
    c.sql("CREATE TABLE employees.extra (id INT PRIMARY KEY); INSERT INTO employees.extra VALUES (1)");
    c.advance(Duration::from_secs(1));
    let created = [
        (
            "BACKUP employees.staff, employees.desks, employees.temp, employees.extra TO 'nodelocal://1/t/inc' INCREMENTAL FROM 'nodelocal://1/t/full'",
            "nodelocal://1/t/full",
        ),
        ("BACKUP employees.staff, employees.desks, employees.temp, employees.extra TO 'nodelocal://1/t/full'", "nodelocal://1/t/full"),
        ("BACKUP DATABASE employees TO 'nodelocal://1/d/inc' INCREMENTAL FROM 'nodelocal://1/d/full'", "nodelocal://1/d/full"),
        ("BACKUP DATABASE employees TO 'nodelocal://1/d/full'", "nodelocal://1/d/full"),
    ];
    for (sql, base) in created {
        assert_eq!(c.err(sql), format!("previous backup {base} does not contain table \"employees.extra\": {ADVICE}"), "{sql}");
    }
    c.sql("DROP TABLE employees.extra");
    // Dropped: a table of the base that is gone (from the database, or left out of the list
    // because it no longer exists).
    c.sql("DROP TABLE employees.temp");
    c.advance(Duration::from_secs(1));
    assert_eq!(
        c.err("BACKUP employees.staff, employees.desks, employees.temp TO 'nodelocal://1/t/inc' INCREMENTAL FROM 'nodelocal://1/t/full'"),
        "table \"employees.temp\" does not exist"
    );
    let dropped = [
        ("BACKUP employees.staff, employees.desks TO 'nodelocal://1/t/inc' INCREMENTAL FROM 'nodelocal://1/t/full'", "nodelocal://1/t/full"),
        ("BACKUP employees.staff, employees.desks TO 'nodelocal://1/t/full'", "nodelocal://1/t/full"),
        ("BACKUP DATABASE employees TO 'nodelocal://1/d/inc' INCREMENTAL FROM 'nodelocal://1/d/full'", "nodelocal://1/d/full"),
        ("BACKUP DATABASE employees TO 'nodelocal://1/d/full'", "nodelocal://1/d/full"),
    ];
    for (sql, base) in dropped {
        assert_eq!(
            c.err(sql),
            format!("table \"temp\" of the previous backup {base} is no longer among the targets (dropped or truncated since): {ADVICE}"),
            "{sql}"
        );
    }
    // Truncated: same name, new id — the base holds another table.
    c.ok("BACKUP employees.staff, employees.desks TO 'nodelocal://1/t2/full'");
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/d2/full'");
    let jobs_mid = job_count(&c);
    let old_desks = c.table_id("employees", "desks");
    c.sql("TRUNCATE employees.desks; INSERT INTO employees.desks VALUES (3, 'c')");
    c.advance(Duration::from_secs(1));
    assert_ne!(c.table_id("employees", "desks"), old_desks, "TRUNCATE gives a new id");
    let truncated = [
        ("BACKUP employees.staff, employees.desks TO 'nodelocal://1/t2/inc' INCREMENTAL FROM 'nodelocal://1/t2/full'", "nodelocal://1/t2/full"),
        ("BACKUP employees.staff, employees.desks TO 'nodelocal://1/t2/full'", "nodelocal://1/t2/full"),
        ("BACKUP DATABASE employees TO 'nodelocal://1/d2/inc' INCREMENTAL FROM 'nodelocal://1/d2/full'", "nodelocal://1/d2/full"),
        ("BACKUP DATABASE employees TO 'nodelocal://1/d2/full'", "nodelocal://1/d2/full"),
    ];
    for (sql, base) in truncated {
        assert_eq!(c.err(sql), format!("previous backup {base} does not contain table \"employees.desks\": {ADVICE}"), "{sql}");
    }
    // Nothing written by any refusal, no job registered.
    for loc in ["nodelocal://1/t/inc", "nodelocal://1/d/inc", "nodelocal://1/t2/inc", "nodelocal://1/d2/inc"] {
        assert!(c.store(loc).snapshot().is_empty(), "{loc}");
    }
    for loc in ["nodelocal://1/t/full", "nodelocal://1/d/full", "nodelocal://1/t2/full", "nodelocal://1/d2/full"] {
        assert!(dated_subdirs(&c, loc).is_empty(), "{loc}");
        assert!(!c.store(loc).snapshot().keys().any(|k| k.ends_with("BACKUP-CHECKPOINT")), "{loc}");
    }
    assert_eq!(job_count(&c), jobs_mid);
    assert_eq!(jobs_mid, jobs_before + 2);
    // The same tables, unchanged since a base, make an incremental fine.
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/d3/full'");
    c.sql("INSERT INTO employees.desks VALUES (4, 'd')");
    c.advance(Duration::from_secs(1));
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/d3/full'");
    let end = c.manifest(&sub("nodelocal://1/d3/full", &dated_subdirs(&c, "nodelocal://1/d3/full")[0])).end_time;
    restores_to(&c, "RESTORE DATABASE employees FROM 'nodelocal://1/d3/full'", &[("employees", "staff"), ("employees", "desks")], end);
}

// ---------------------------------------------------------------------------------------------
// Cluster incrementals: introduced spans.
// ---------------------------------------------------------------------------------------------

#[test]
fn cluster_incrementals_carry_created_and_truncated_tables_and_drop_dropped_ones() {
    let mut c = bank();
    let loc = "nodelocal://1/cl";
    c.ok(&format!("BACKUP TO '{loc}'"));
    let full = c.manifest(loc);
    c.sql(
        "CREATE TABLE bank.late (k INT PRIMARY KEY, v STRING);
         INSERT INTO bank.late VALUES (1, 'one'), (2, 'two');
         TRUNCATE employees.staff;
         INSERT INTO employees.staff VALUES (9, 'zed', 'new');
         DROP TABLE bank.transfers;",
    );
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP TO '{loc}'"));
    let inc = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[0]));
    assert_eq!(inc.start_time, full.end_time);
    let late = model::encoding::table_span(c.table_id("bank", "late"));
    let staff = model::encoding::table_span(c.table_id("employees", "staff"));
    assert_eq!(inc.introduced_spans, vec![late.clone(), staff.clone()], "{}", inc.dump());
    for f in &inc.files {
        let introduced = inc.introduced_spans.iter().any(|s| s.contains(&f.span));
        assert_eq!(f.start_time, introduced.then_some(Timestamp::ZERO), "{f:?}: introduced spans are exported from time zero");
    }
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE FROM '{loc}'"));
    same_tables(&c, &dst, &[("bank", "customers"), ("bank", "accounts"), ("bank", "late"), ("employees", "staff")], inc.end_time, "cluster chain");
    assert!(dst.catalog().table_by_name("bank", "transfers").is_none(), "dropped before the incremental");
    assert_eq!(dst.read_now("employees", "staff").rows.len(), 1, "the truncated table's new rows only");
    // The next incremental builds on both: nothing is introduced again.
    c.sql("INSERT INTO bank.late VALUES (3, 'three'); INSERT INTO employees.staff VALUES (10, 'yan', NULL)");
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP TO '{loc}'"));
    let inc2 = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[1]));
    assert_eq!(inc2.start_time, inc.end_time);
    assert!(inc2.introduced_spans.is_empty(), "{}", inc2.dump());
    assert!(inc2.files.iter().all(|f| f.start_time.is_none()));
    assert_eq!(inc2.entry_counts.rows, 2, "only the two new rows");
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE FROM '{loc}'"));
    same_tables(&c, &dst, &[("bank", "customers"), ("bank", "late"), ("employees", "staff")], inc2.end_time, "cluster chain of three");
}

#[test]
fn an_introduced_span_is_restored_with_its_rows_from_before_the_base() {
    // A table whose rows predate the base's time but whose descriptor became visible after it:
    // a RESTORE ingests the rows at one time and publishes the table at a later one. A cluster
    // backup as of the ingest time does not contain the table; the next incremental must export
    // its span from time zero, or those rows are lost.
    let mut c = bank();
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/emp'");
    c.sql("CREATE DATABASE emp2");
    c.advance(Duration::from_secs(1));
    c.ok("RESTORE employees.staff FROM 'nodelocal://1/emp' WITH into_db = 'emp2'");
    let id = c.table_id("emp2", "staff");
    let versions = c.local.snapshot().export(&model::encoding::table_span(id), Timestamp::ZERO, c.now(), MvccFilter::AllRevisions).unwrap().entries;
    let ingested = versions.iter().map(|e| e.ts).min().unwrap();
    assert!(versions.iter().all(|e| e.ts == ingested), "one ingest");
    assert!(c.catalog_at(ingested).table_by_name("emp2", "staff").is_none(), "published after its rows were ingested");
    assert_eq!(c.table_kvs(id, ingested).len(), versions.len());
    let loc = "nodelocal://1/intro";
    c.ok(&format!("BACKUP TO '{loc}' AS OF SYSTEM TIME '{ingested}'"));
    let full = c.manifest(loc);
    assert!(full.descriptors.iter().all(|d| d.id() != id), "the base lacks the table");
    c.advance(Duration::from_secs(1));
    c.sql("INSERT INTO emp2.staff VALUES (4, 'dan', 'ops')");
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP TO '{loc}'"));
    let inc = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[0]));
    assert_eq!(inc.start_time, ingested);
    assert_eq!(inc.introduced_spans, vec![model::encoding::table_span(id)]);
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE FROM '{loc}'"));
    same_tables(&c, &dst, &[("emp2", "staff"), ("employees", "staff"), ("bank", "customers")], inc.end_time, "introduced span");
    assert_eq!(dst.read_now("emp2", "staff").rows.len(), 4, "3 rows from before the base and 1 after");
}

/// Two clusters sharing a cluster id, one after the other (two shell sessions on one
/// external-io directory): the second creates its own `shop.items`, under the same table id as
/// the first's, and backs up to the first's location. Its table did not exist in it at the
/// base's end time, so the incremental exports it from time zero as an introduced span, and
/// the restored chain is the second cluster's table. Before, the incremental exported only the
/// second cluster's rows as changes since the first's backup, and the restore mixed the two
/// clusters' rows (1 and 2 came back beside 3).
#[test]
fn a_later_cluster_with_the_same_id_appends_its_own_tables_whole() {
    let mut first = Cluster::alone();
    first.sql("CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING); INSERT INTO shop.items VALUES (1, 'a1'), (2, 'a2')");
    first.advance(Duration::from_secs(1));
    let loc = "nodelocal://1/shop";
    first.ok(&format!("BACKUP DATABASE shop TO '{loc}'"));
    let mut second = first.fresh_destination();
    second.advance(Duration::from_secs(60));
    second.sql("CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING); INSERT INTO shop.items VALUES (3, 'b3')");
    assert_eq!(second.table_id("shop", "items"), first.table_id("shop", "items"), "the same table id in both clusters");
    second.advance(Duration::from_secs(1));
    second.ok(&format!("BACKUP DATABASE shop TO '{loc}'"));
    let inc = second.manifest(&sub(loc, &dated_subdirs(&second, loc)[0]));
    assert_eq!(inc.introduced_spans, vec![model::encoding::table_span(second.table_id("shop", "items"))]);
    let mut dst = second.fresh_destination();
    dst.advance(Duration::from_secs(120));
    dst.ok(&format!("RESTORE DATABASE shop FROM '{loc}'"));
    assert_eq!(dst.rows("SELECT id, name FROM shop.items ORDER BY id"), vec![vec![i(3), s("b3")]], "the second cluster's table, alone");
    // A restore to the first backup's time still gives the first cluster's rows.
    let mut then = second.fresh_destination();
    then.advance(Duration::from_secs(120));
    let full = second.manifest(loc);
    then.ok(&format!("RESTORE DATABASE shop FROM '{loc}' AS OF SYSTEM TIME '{}'", full.end_time));
    assert_eq!(then.rows("SELECT id FROM shop.items ORDER BY id"), vec![vec![i(1)], vec![i(2)]]);
}

// ---------------------------------------------------------------------------------------------
// Revision history and point-in-time restore.
// ---------------------------------------------------------------------------------------------

#[test]
fn revision_history_backups_hold_every_revision_and_restore_any_time_they_cover() {
    let mut c = bank();
    let loc = "nodelocal://1/rh";
    let tick = |c: &mut Cluster, sql: &str| -> Timestamp {
        c.sql(sql);
        c.advance(Duration::from_secs(2));
        let t = c.now();
        c.advance(Duration::from_secs(2));
        t
    };
    let t_a = tick(&mut c, "UPDATE bank.customers SET name = 'a1' WHERE id = 1");
    let t_b = tick(&mut c, "UPDATE bank.customers SET name = 'a2' WHERE id = 1; DELETE FROM bank.transfers WHERE id = 2");
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history"));
    let t_c = tick(&mut c, "UPDATE bank.customers SET name = 'b1' WHERE id = 1; INSERT INTO bank.customers VALUES (7, 'gil', 'gil@bank')");
    tick(&mut c, "UPDATE bank.customers SET name = 'b2' WHERE id = 1; DELETE FROM bank.customers WHERE id = 7");
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history"));
    let t_d = tick(&mut c, "UPDATE bank.customers SET name = 'c1' WHERE id = 1; INSERT INTO bank.transfers (account_id, amount) VALUES (2, 2.5)");
    tick(&mut c, "UPDATE bank.accounts SET balance = 1.0 WHERE id = 1; UPDATE bank.customers SET name = 'c2' WHERE id = 1");
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history"));
    tick(&mut c, "UPDATE bank.customers SET name = 'later' WHERE id = 1");
    let subs = dated_subdirs(&c, loc);
    let full = c.manifest(loc);
    let inc1 = c.manifest(&sub(loc, &subs[0]));
    let inc2 = c.manifest(&sub(loc, &subs[1]));
    for m in [&full, &inc1, &inc2] {
        assert_eq!(m.mvcc_filter, MvccFilter::AllRevisions);
    }
    // Every revision of the window, tombstones included, is in each backup.
    for (m, at) in [(&full, loc.to_string()), (&inc1, sub(loc, &subs[0])), (&inc2, sub(loc, &subs[1]))] {
        assert_eq!(as_set(backup_entries(&c, &at, m)), as_set(source_history(&c, &BANK, m.start_time, m.end_time)), "{at}");
    }
    let customer = |id: i64| model::encoding::encode_index_key(c.table_id("bank", "customers"), 1, &[Datum::Int(id)]);
    let inc1_entries = backup_entries(&c, &sub(loc, &subs[0]), &inc1);
    let of = |k: &Key| inc1_entries.iter().filter(|e| &e.key == k).map(|e| e.value.is_some()).collect::<Vec<_>>();
    assert_eq!(of(&customer(1)).len(), 2, "both updates of customer 1 in the window");
    assert_eq!(of(&customer(7)), vec![false, true], "customer 7's insert and its tombstone (newest first)");
    // Restores at any covered time: inside the full backup's window, at its end, inside each
    // incremental's window (between two incrementals), at each end.
    for (what, t) in
        [("t_a", t_a), ("t_b", t_b), ("full end", full.end_time), ("t_c", t_c), ("inc1 end", inc1.end_time), ("t_d", t_d), ("inc2 end", inc2.end_time)]
    {
        let dst = c.fresh_destination();
        dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}' AS OF SYSTEM TIME '{t}'"));
        same_tables(&c, &dst, &BANK, t, what);
    }
    // The states differ: the restores above are not all the same.
    let names: BTreeSet<_> = [t_a, t_b, t_c, t_d, inc2.end_time].iter().map(|t| format!("{:?}", c.read("bank", "customers", *t).rows)).collect();
    assert_eq!(names.len(), 5);
    // Without AS OF SYSTEM TIME: the last backup's time.
    restores_to(&c, &format!("RESTORE DATABASE bank FROM '{loc}'"), &BANK, inc2.end_time);
}

#[test]
fn a_point_in_time_restore_leaves_out_tables_dropped_before_it_and_brings_tables_created_before_it() {
    let mut c = bank();
    let loc = "nodelocal://1/rhc";
    c.ok(&format!("BACKUP TO '{loc}' WITH revision_history"));
    let full = c.manifest(loc);
    c.advance(Duration::from_secs(2));
    let t_before = c.now();
    c.advance(Duration::from_secs(2));
    // staff changes in the window before it is dropped: a restore to a time before the drop
    // needs those revisions, so the incremental must back up the dropped table's span.
    c.sql(
        "CREATE TABLE bank.late (k INT PRIMARY KEY, v STRING); INSERT INTO bank.late VALUES (1, 'one'), (2, 'two');
         UPDATE employees.staff SET dept = 'moved' WHERE id = 1; INSERT INTO employees.staff VALUES (4, 'dora', 'qa')",
    );
    c.advance(Duration::from_secs(2));
    let t_created = c.now();
    c.advance(Duration::from_secs(2));
    c.sql("INSERT INTO bank.late VALUES (3, 'three'); DROP TABLE employees.staff");
    c.advance(Duration::from_secs(2));
    let t_dropped = c.now();
    c.advance(Duration::from_secs(2));
    c.ok(&format!("BACKUP TO '{loc}' WITH revision_history"));
    let inc = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[0]));
    // A second incremental, with a table of its own: a restore to a time in the first one's
    // window must use the chain up to that one only.
    c.sql("CREATE TABLE bank.later2 (k INT PRIMARY KEY); INSERT INTO bank.later2 VALUES (1)");
    c.advance(Duration::from_secs(2));
    c.ok(&format!("BACKUP TO '{loc}' WITH revision_history"));
    let inc2 = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[1]));
    assert_eq!(inc2.start_time, inc.end_time);
    // The manifest records the descriptor changes of its window.
    let late_id = c.table_id("bank", "late");
    let staff_id = c.catalog_at(t_created).table_by_name("employees", "staff").unwrap().id;
    assert!(inc.descriptor_changes.iter().all(|ch| ch.time > full.end_time && ch.time <= inc.end_time));
    let created = inc.descriptor_changes.iter().find(|ch| ch.id == late_id).expect("the creation of late");
    assert!(created.time > t_before && created.time < t_created && matches!(&created.desc, Some(Descriptor::Table(t)) if t.is_public()));
    let dropped = inc.descriptor_changes.iter().find(|ch| ch.id == staff_id).expect("the drop of staff");
    assert!(dropped.time > t_created && dropped.time < t_dropped && matches!(&dropped.desc, Some(Descriptor::Table(t)) if !t.is_public()));
    assert!(full.descriptor_changes.iter().any(|ch| ch.id == staff_id), "the full backup's history has staff's creation");
    let tables_then = |t: Timestamp| -> Vec<(&'static str, &'static str)> {
        let cat = c.catalog_at(t);
        [("bank", "customers"), ("bank", "late"), ("bank", "later2"), ("employees", "staff")]
            .into_iter()
            .filter(|(d, n)| cat.table_by_name(d, n).is_some())
            .collect()
    };
    for (t, has_late, has_staff) in
        [(t_before, false, true), (t_created, true, true), (t_dropped, true, false), (inc.end_time, true, false), (inc2.end_time, true, false)]
    {
        let dst = c.fresh_destination();
        dst.ok(&format!("RESTORE FROM '{loc}' AS OF SYSTEM TIME '{t}'"));
        let cat = dst.catalog();
        assert_eq!(cat.table_by_name("bank", "late").is_some(), has_late, "late at {t}");
        assert_eq!(cat.table_by_name("employees", "staff").is_some(), has_staff, "staff at {t}");
        assert_eq!(cat.table_by_name("bank", "later2").is_some(), t == inc2.end_time, "later2 at {t}");
        assert!(cat.database_by_name("employees").is_some());
        same_tables(&c, &dst, &tables_then(t), t, "cluster restore as of");
    }
    // A database restore as of a time before the drop brings the dropped table and its rows.
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE employees FROM '{loc}' AS OF SYSTEM TIME '{t_created}'"));
    same_tables(&c, &dst, &[("employees", "staff")], t_created, "database as of");
    assert_eq!(dst.read_now("employees", "staff").rows.len(), 4);
    let staff_span = model::encoding::table_span(staff_id);
    assert!(inc.spans.contains(&staff_span), "the dropped table's span is in the revision-history incremental");
}

#[test]
fn point_in_time_restores_outside_what_the_backups_cover_are_refused_in_cockroachdbs_words() {
    let mut c = bank();
    // Without revision history: only the backups' own times.
    let loc = "nodelocal://1/pit";
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    change(&mut c, 1);
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    change(&mut c, 2);
    let e0 = c.manifest(loc).end_time;
    let e1 = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[0])).end_time;
    let dst = c.fresh_destination();
    let before = descriptors(&dst.catalog());
    let between = Timestamp::from_nanos(e0.wall + 1_000_000_000);
    assert!(between < e1);
    let within_full = Timestamp::from_nanos(e0.wall - 1_000_000_000);
    let after = Timestamp::from_nanos(e1.wall + 1_000_000_000);
    let dt = |t: Timestamp| t.to_datetime_string();
    let arbitrary = "invalid RESTORE timestamp: restoring to arbitrary time requires that BACKUP for requested time be created with 'revision_history' option.";
    assert_eq!(
        dst.err(&format!("RESTORE DATABASE bank FROM '{loc}' AS OF SYSTEM TIME '{between}'")),
        format!("{arbitrary} nearest BACKUP times are {} or {}", dt(e0), dt(e1))
    );
    assert_eq!(
        dst.err(&format!("RESTORE DATABASE bank FROM '{loc}' AS OF SYSTEM TIME '{within_full}'")),
        format!("{arbitrary} nearest backup time is {}", dt(e0))
    );
    assert_eq!(
        dst.err(&format!("RESTORE DATABASE bank FROM '{loc}' AS OF SYSTEM TIME '{after}'")),
        format!("invalid RESTORE timestamp: supplied backups do not cover requested time {} (they cover their start to {})", dt(after), dt(e1))
    );
    assert_eq!(descriptors(&dst.catalog()), before, "nothing published");
    // With revision history after GC: the history starts at the GC threshold.
    c.sql("ALTER TABLE bank.customers CONFIGURE ZONE USING gc.ttlseconds = 5");
    change(&mut c, 3);
    c.advance(Duration::from_secs(60));
    block_on(c.local.run_gc()).unwrap();
    let span = model::encoding::table_span(c.table_id("bank", "customers"));
    let threshold = block_on(model::ClusterKv::gc_threshold(&*c.local, &span)).unwrap();
    c.advance(Duration::from_secs(2));
    let rh = "nodelocal://1/pit-rh";
    c.ok(&format!("BACKUP DATABASE bank TO '{rh}' WITH revision_history"));
    let m = c.manifest(rh);
    assert_eq!(m.revision_start_time, threshold, "{}", m.dump());
    let too_early = Timestamp::from_nanos(threshold.wall - 1_000_000_000);
    assert_eq!(
        dst.err(&format!("RESTORE DATABASE bank FROM '{rh}' AS OF SYSTEM TIME '{too_early}'")),
        format!("invalid RESTORE timestamp: BACKUP for requested time only has revision history from {}", dt(threshold))
    );
    let too_late = Timestamp::from_nanos(m.end_time.wall + 1_000_000_000);
    assert_eq!(
        dst.err(&format!("RESTORE DATABASE bank FROM '{rh}' AS OF SYSTEM TIME '{too_late}'")),
        format!(
            "invalid RESTORE timestamp: supplied backups do not cover requested time {} (they cover {} to {})",
            dt(too_late),
            dt(threshold),
            dt(m.end_time)
        )
    );
    assert_eq!(descriptors(&dst.catalog()), before, "nothing published");
    // Inside the covered window it restores.
    let inside = Timestamp::from_nanos(threshold.wall + 1_000_000_000);
    dst.ok(&format!("RESTORE DATABASE bank FROM '{rh}' AS OF SYSTEM TIME '{inside}'"));
    same_tables(&c, &dst, &BANK, inside, "inside the revision window");
}

// ---------------------------------------------------------------------------------------------
// SHOW BACKUP of chains; damaged chains.
// ---------------------------------------------------------------------------------------------

#[test]
fn show_backup_of_a_chain_lists_each_backup_with_its_kind_window_and_revision_history() {
    let mut c = bank();
    let loc = "nodelocal://1/show";
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    change(&mut c, 1);
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history"));
    change(&mut c, 2);
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    let subs = dated_subdirs(&c, loc);
    let ms = [c.manifest(loc), c.manifest(&sub(loc, &subs[0])), c.manifest(&sub(loc, &subs[1]))];
    let r = c.ok(&format!("SHOW BACKUP '{loc}'"));
    assert_eq!(r.rows.len(), 3 * 6, "{}", r.render());
    let ts = |t: Timestamp| s(&t.to_datetime_string());
    let kinds = [("full", false), ("incremental", true), ("incremental", false)];
    for (n, block) in r.rows.chunks(6).enumerate() {
        let (kind, history) = kinds[n];
        let start = if n == 0 { Datum::Null } else { ts(ms[n - 1].end_time) };
        let names: Vec<&Datum> = block.iter().map(|row| &row[2]).collect();
        assert_eq!(names, [s("bank"), s("customers"), s("accounts"), s("transfer_ids"), s("transfers"), s("rich_accounts")].iter().collect::<Vec<_>>());
        for row in block {
            assert_eq!((&row[4], &row[5]), (&start, &ts(ms[n].end_time)), "layer {n}: {}", r.render());
            assert_eq!((&row[9], &row[10]), (&s(kind), &Datum::Bool(history)), "layer {n}: {}", r.render());
        }
        // Rows: the full backup's table rows; each incremental's changed rows only.
        let customers_rows = &block[1][7];
        assert_eq!(customers_rows, &i(if n == 0 { 4 } else { 2 }), "layer {n}: {}", r.render());
        assert_eq!(&block[4][7], &i(if n == 0 { 3 } else { 2 }), "transfers, layer {n}");
    }
    assert_eq!(ms[1].start_time, ms[0].end_time);
    // An incremental's own location shows it alone.
    let alone = c.ok(&format!("SHOW BACKUP '{}'", sub(loc, &subs[1])));
    assert_eq!(alone.rows, r.rows[12..].to_vec());
}

#[test]
fn a_chain_with_a_missing_reordered_or_corrupted_member_is_refused_and_nothing_is_published() {
    let mut c = bank();
    let loc = "nodelocal://1/dmg";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    for n in 1..=3 {
        change(&mut c, n);
        c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    }
    let subs = dated_subdirs(&c, loc);
    let [s1, s2, s3] = [0, 1, 2].map(|n| sub(loc, &subs[n]));
    let [m1, m2, m3] = [&s1, &s2, &s3].map(|l| c.manifest(l));
    let dst = c.fresh_destination();
    let before = descriptors(&dst.catalog());
    let restore = format!("RESTORE DATABASE bank, employees FROM '{loc}'");
    let refused = |sql: &str| -> String {
        let e = dst.err(sql);
        assert_eq!(descriptors(&dst.catalog()), before, "nothing published: {sql}: {e}");
        e
    };
    // Reordered or missing in a list.
    assert_eq!(
        refused(&format!("RESTORE DATABASE bank, employees FROM '{loc}', '{s2}', '{s1}', '{s3}'")),
        format!("backups listed out of order: {s1} (up to {}) is listed after {s2} (up to {})", m1.end_time, m2.end_time)
    );
    let gap = format!(
        "invalid previous backups: {s3} starts at {} but {s1} ends at {}; a backup between them is missing or they belong to different chains (a new full backup may be required if a table has been created, dropped or truncated)",
        m3.start_time, m1.end_time
    );
    assert_eq!(refused(&format!("RESTORE DATABASE bank, employees FROM '{loc}', '{s1}', '{s3}'")), gap);
    // The middle incremental's manifest gone from the location: the gap is found.
    let store = c.store(loc);
    let manifest2 = format!("{}/BACKUP", subs[1]);
    let good = read_obj(&store, &manifest2);
    delete_obj(&store, &manifest2);
    // Its directory still holds its data files: an incomplete layer, refused by name.
    let s2_dir = sub(loc, &subs[1]);
    let incomplete = format!(
        "{s2_dir}: an incomplete incremental backup: it holds 5 data files but no BACKUP manifest (an incremental that failed, was canceled or was killed before it finished, or a damaged one). RESTORE and SHOW BACKUP refuse the location while it is there, rather than restore older data than it claims to hold; if no backup job is running there, delete the directory {s2_dir} and run the statement again"
    );
    assert_eq!(refused(&restore), incomplete);
    assert_eq!(dst.err(&format!("SHOW BACKUP '{loc}'")), incomplete);
    // Nor is an automatic incremental built onto it.
    let files_before = c.store(loc).snapshot();
    assert_eq!(c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'")), incomplete);
    assert_eq!(c.store(loc).snapshot(), files_before);
    // With the directory gone as well, what is left is a chain with a gap.
    let s2_files: Vec<(String, Vec<u8>)> =
        files_before.keys().filter(|k| k.starts_with(&format!("{}/", subs[1]))).map(|k| (k.clone(), read_obj(&store, k))).collect();
    for (k, _) in &s2_files {
        delete_obj(&store, k);
    }
    assert_eq!(refused(&restore), gap);
    assert_eq!(dst.err(&format!("SHOW BACKUP '{loc}'")), gap);
    let files_before = c.store(loc).snapshot();
    assert_eq!(c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'")), gap);
    assert_eq!(c.store(loc).snapshot(), files_before);
    for (k, bytes) in s2_files {
        write_obj(&store, &k, bytes);
    }
    // Corrupted.
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x40;
    write_obj(&store, &manifest2, bad);
    let e = refused(&restore);
    assert!(e.starts_with(&format!("{s2}/BACKUP: checksum mismatch")), "{e}");
    let e = dst.err(&format!("SHOW BACKUP '{loc}'"));
    assert!(e.starts_with(&format!("{s2}/BACKUP: checksum mismatch")), "{e}");
    write_obj(&store, &manifest2, good);
    // A damaged data file of the last incremental (read last): no row of the chain published.
    let last_file = format!("{}/{}", subs[2], m3.files.last().unwrap().path);
    let good = read_obj(&store, &last_file);
    let mut bad = good.clone();
    let at = good.len() - 10;
    bad[at] ^= 0x40;
    write_obj(&store, &last_file, bad);
    let e = refused(&restore);
    assert!(e.starts_with(&format!("{s3}/{}: checksum mismatch", m3.files.last().unwrap().path)), "{e}");
    assert!(dst.catalog().database_by_name("bank").is_none());
    write_obj(&store, &last_file, good);
    // A data file of the first incremental missing.
    let first_file = format!("{}/{}", subs[0], m1.files[0].path);
    let good = read_obj(&store, &first_file);
    delete_obj(&store, &first_file);
    assert_eq!(refused(&restore), format!("{s1}: data file {} listed in the manifest is missing", m1.files[0].path));
    write_obj(&store, &first_file, good);
    // The full backup's manifest gone: no chain at all.
    let good = read_obj(&store, "BACKUP");
    delete_obj(&store, "BACKUP");
    assert_eq!(refused(&restore), format!("{loc}: no BACKUP manifest found: not a backup location"));
    write_obj(&store, "BACKUP", good);
    // Repaired, the chain restores to its last time, the failed attempts leaving no trace.
    dst.ok(&restore);
    same_tables(&c, &dst, &ALL, m3.end_time, "repaired chain");
}

// ---------------------------------------------------------------------------------------------
// Jobs: pause, resume, cancel, adoption.
// ---------------------------------------------------------------------------------------------

/// The dated subdirectories under `loc` holding a checkpoint but no manifest.
fn in_progress(c: &Cluster, loc: &str) -> Vec<String> {
    let files = c.store(loc).snapshot();
    files.keys().filter_map(|k| k.strip_suffix("/BACKUP-CHECKPOINT")).filter(|d| !files.contains_key(&format!("{d}/BACKUP"))).map(str::to_string).collect()
}

/// Successful exports since the log was last cleared, by span.
fn ok_exports(c: &Cluster) -> BTreeMap<Span, usize> {
    let mut out = BTreeMap::new();
    for (span, ok) in c.kv.exports.lock().unwrap().iter() {
        if *ok {
            *out.entry(span.clone()).or_default() += 1;
        }
    }
    out
}

#[test]
fn an_incremental_paused_mid_way_resumes_from_its_checkpoint_and_a_canceled_one_leaves_the_chain_intact() {
    let mut c = bank();
    let loc = "nodelocal://1/jobs";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let full = c.manifest(loc);
    change(&mut c, 1);
    c.kv.exports.lock().unwrap().clear();
    control_mid_backup(&c, 2, &["PAUSE JOB {id}"]);
    let e = c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.kv.clear_hook();
    let id = backup_jobs(&c).iter().map(|j| j.id).max().unwrap();
    assert_eq!(e, format!("job {id} was paused before it completed; RESUME JOB {id} to continue it"));
    let j = job(&c, id);
    assert_eq!((j.status, j.lease, j.progress_millis), (JobStatus::Paused, None, 400));
    // Its subdirectory holds a checkpoint and two data files, no manifest: not yet a member of
    // the chain — RESTORE and SHOW BACKUP see the full backup alone.
    let pending = in_progress(&c, loc);
    assert_eq!(pending.len(), 1);
    assert!(dated_subdirs(&c, loc).is_empty());
    let files = c.store(loc).snapshot();
    assert_eq!(files.keys().filter(|k| k.starts_with(&format!("{}/data/", pending[0]))).count(), 2, "{files:?}");
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, full.end_time);
    assert!(c.ok(&format!("SHOW BACKUP '{loc}'")).rows.iter().all(|r| r[9] == s("full")));
    // Resumed: finishes from its checkpoint, each span exported successfully exactly once.
    c.ok(&format!("RESUME JOB {id}"));
    assert!(c.runtime.run_spawned() >= 2);
    let j = job(&c, id);
    assert_eq!((j.status, j.progress_millis), (JobStatus::Succeeded, 1000), "{:?}", j.error);
    assert_eq!(c.log.named("job-resumed-from-checkpoint").len(), 1);
    assert_eq!(dated_subdirs(&c, loc), pending);
    let inc = c.manifest(&sub(loc, &pending[0]));
    assert_eq!(inc.start_time, full.end_time);
    let exports = ok_exports(&c);
    assert_eq!(exports.keys().cloned().collect::<Vec<_>>(), inc.spans);
    assert!(exports.values().all(|n| *n == 1), "{exports:?}");
    assert_eq!(inc.entry_counts.rows, 8);
    assert_eq!(j.totals.rows, 8);
    assert!(in_progress(&c, loc).is_empty(), "the manifest replaced the checkpoint");
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, inc.end_time);
    // A canceled incremental removes its checkpoint, data files and lock (a half-written date
    // directory would make the chain refuse to restore), and the next incremental chains onto
    // the last finished one.
    change(&mut c, 2);
    control_mid_backup(&c, 1, &["CANCEL JOB {id}"]);
    let e = c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.kv.clear_hook();
    let canceled = backup_jobs(&c).iter().map(|j| j.id).max().unwrap();
    assert_eq!(e, format!("job {canceled} was canceled"));
    assert_eq!(job(&c, canceled).status, JobStatus::Canceled);
    assert!(in_progress(&c, loc).is_empty());
    let left: Vec<String> =
        c.store(loc).snapshot().into_keys().filter(|k| k.contains(&format!("/data/{canceled}/")) || k.starts_with("BACKUP-LOCK-")).collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(dated_subdirs(&c, loc).len(), 1);
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 2);
    let inc2 = c.manifest(&sub(loc, &subs[1]));
    assert_eq!(inc2.start_time, inc.end_time);
    assert_eq!(c.ok(&format!("SHOW BACKUP '{loc}'")).rows.len(), 3 * 8);
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, inc2.end_time);
}

#[test]
fn an_incremental_whose_coordinator_died_is_adopted_and_finishes_from_its_checkpoint() {
    let mut c = bank();
    let loc = "nodelocal://1/adopt";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let full = c.manifest(loc);
    change(&mut c, 1);
    c.kv.exports.lock().unwrap().clear();
    // The coordinator stops after two spans (paused)...
    control_mid_backup(&c, 2, &["PAUSE JOB {id}"]);
    c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.kv.clear_hook();
    c.runtime.drop_spawned();
    let id = backup_jobs(&c).iter().map(|j| j.id).max().unwrap();
    // ... and its record is made to look like a running job whose coordinator (node 7) died
    // and whose lease lapsed: what the adoption loop looks for.
    let now = c.now();
    block_on(jobs::update::<serde_json::Value, _>(&*c.local, id, |r, _| {
        r.status = JobStatus::Running;
        r.running_status.clear();
        r.lease = Some(JobLease { node: 7, run: 1, expires: now });
        Ok(())
    }))
    .unwrap()
    .unwrap();
    c.advance(Duration::from_secs(1));
    // What `adopt_forever` runs for it.
    let outcome = block_on(backup::backup_job::run(&c.env, id)).unwrap();
    assert!(matches!(outcome, backup::backup_job::RunOutcome::Succeeded(_)), "{outcome:?}");
    assert_eq!(job(&c, id).status, JobStatus::Succeeded);
    assert_eq!(c.log.named("job-resumed-from-checkpoint").len(), 1);
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 1);
    let inc = c.manifest(&sub(loc, &subs[0]));
    assert_eq!(inc.start_time, full.end_time);
    let exports = ok_exports(&c);
    assert_eq!(exports.keys().cloned().collect::<Vec<_>>(), inc.spans);
    assert!(exports.values().all(|n| *n == 1), "{exports:?}");
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, inc.end_time);
}

// ---------------------------------------------------------------------------------------------
// Encrypted chains.
// ---------------------------------------------------------------------------------------------

const PW: &str = "chain-passphrase-0451";

/// The manifest of an encrypted member, decrypted with the chain's `ENCRYPTION-INFO` (in the
/// full backup's directory `info_loc`).
fn decrypted_manifest(c: &Cluster, info_loc: &str, loc: &str) -> Manifest {
    let info = EncryptionInfo::decode("ENCRYPTION-INFO", &read_obj(&c.store(info_loc), "ENCRYPTION-INFO")).unwrap();
    let key = info.key("ENCRYPTION-INFO", &Secret::new(PW)).unwrap();
    let plain = crypto::open("BACKUP", &key, &read_obj(&c.store(loc), "BACKUP")).unwrap();
    Manifest::decode("BACKUP", &plain).unwrap()
}

#[test]
fn an_encrypted_chain_is_encrypted_throughout() {
    let mut c = bank();
    let loc = "nodelocal://1/enc";
    let with = format!("WITH encryption_passphrase = '{PW}'");
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' {with}"));
    change(&mut c, 1);
    // An unencrypted incremental onto the encrypted base is refused, automatic or explicit;
    // so is another passphrase.
    let before = c.store(loc).snapshot();
    let appears = format!("{loc}/BACKUP: file appears encrypted -- try specifying one of \"encryption_passphrase\" or \"kms\"");
    let wrong = format!("{loc}/ENCRYPTION-INFO: failed to decrypt — maybe incorrect key");
    assert_eq!(c.err(&format!("BACKUP DATABASE bank TO '{loc}'")), appears);
    assert_eq!(c.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/enc-x' INCREMENTAL FROM '{loc}'")), appears);
    assert_eq!(c.err(&format!("BACKUP DATABASE bank TO '{loc}' WITH encryption_passphrase = 'other'")), wrong);
    assert_eq!(c.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/enc-x' INCREMENTAL FROM '{loc}' WITH encryption_passphrase = 'other'")), wrong);
    assert_eq!(c.store(loc).snapshot(), before);
    assert!(c.store("nodelocal://1/enc-x").snapshot().is_empty());
    // With the passphrase: an encrypted incremental in a subdirectory, keyed by the chain's
    // one ENCRYPTION-INFO.
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' {with}"));
    change(&mut c, 2);
    c.ok(&format!("BACKUP DATABASE bank TO 'nodelocal://1/enc-inc2' INCREMENTAL FROM '{loc}', '{}' {with}", sub(loc, &dated_subdirs(&c, loc)[0])));
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 1);
    let files = c.store(loc).snapshot();
    assert_eq!(
        files.keys().filter(|k| k.ends_with("ENCRYPTION-INFO")).collect::<Vec<_>>(),
        vec!["ENCRYPTION-INFO"],
        "one per chain, in the full backup's directory"
    );
    assert!(!c.store("nodelocal://1/enc-inc2").snapshot().contains_key("ENCRYPTION-INFO"));
    for (store, k) in files
        .keys()
        .map(|k| (c.store(loc), k.clone()))
        .chain(c.store("nodelocal://1/enc-inc2").snapshot().into_keys().map(|k| (c.store("nodelocal://1/enc-inc2"), k)))
    {
        if k.starts_with("BACKUP-LOCK-") || k.starts_with("BACKUP-APPENDED-") || k == backup::lock::MANIFEST_CLAIM {
            // Lock files and claims hold ids only (job, cluster, backup), readable without
            // the passphrase so that anyone can tell whose they are.
            assert!(backup::lock::LockFile::decode(&read_obj(&store, &k)).is_some(), "{k}");
        } else if k != "ENCRYPTION-INFO" {
            assert!(read_obj(&store, &k).starts_with(b"encrypt\x02"), "{k} is encrypted");
        }
    }
    let inc1 = decrypted_manifest(&c, loc, &sub(loc, &subs[0]));
    let inc2 = decrypted_manifest(&c, loc, "nodelocal://1/enc-inc2");
    assert_eq!(inc2.start_time, inc1.end_time);
    // RESTORE and SHOW BACKUP need the passphrase, for the location and for the list.
    let list = format!("'{loc}', '{}', 'nodelocal://1/enc-inc2'", sub(loc, &subs[0]));
    let dst = c.fresh_destination();
    assert_eq!(dst.err(&format!("RESTORE DATABASE bank FROM {list}")), appears);
    assert_eq!(dst.err(&format!("RESTORE DATABASE bank FROM '{loc}'")), appears);
    assert_eq!(dst.err(&format!("RESTORE DATABASE bank FROM {list} WITH encryption_passphrase = 'other'")), wrong);
    assert_eq!(dst.err(&format!("SHOW BACKUP '{loc}'")), appears);
    assert!(dst.catalog().database_by_name("bank").is_none());
    assert_eq!(dst.ok(&format!("SHOW BACKUP '{loc}' {with}")).rows.len(), 2 * 6);
    restores_to(&c, &format!("RESTORE DATABASE bank FROM '{loc}' {with}"), &BANK, inc1.end_time);
    restores_to(&c, &format!("RESTORE DATABASE bank FROM {list} {with}"), &BANK, inc2.end_time);
}

#[test]
fn encrypted_and_unencrypted_backups_never_mix_in_a_chain() {
    let mut c = bank();
    let with = format!("WITH encryption_passphrase = '{PW}'");
    // An unencrypted full backup and an encrypted one of the same time.
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/mix/plain'");
    let end = c.manifest("nodelocal://1/mix/plain").end_time;
    c.ok(&format!("BACKUP DATABASE bank TO 'nodelocal://1/mix/enc' AS OF SYSTEM TIME '{end}' {with}"));
    change(&mut c, 1);
    // An encrypted incremental onto the unencrypted base is refused.
    let e = c.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/mix/inc-enc' INCREMENTAL FROM 'nodelocal://1/mix/plain' {with}"));
    assert_eq!(e, "nodelocal://1/mix/plain/BACKUP: file does not appear to be encrypted");
    assert!(c.store("nodelocal://1/mix/inc-enc").snapshot().is_empty());
    let e = c.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/mix/plain' {with}"));
    assert_eq!(e, "nodelocal://1/mix/plain/BACKUP: file does not appear to be encrypted");
    assert!(dated_subdirs(&c, "nodelocal://1/mix/plain").is_empty());
    // An unencrypted incremental of the plain chain starts where the encrypted full ends too;
    // listed after the encrypted full it is still refused: the chain is encrypted throughout.
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/mix/inc-plain' INCREMENTAL FROM 'nodelocal://1/mix/plain'");
    assert_eq!(c.manifest("nodelocal://1/mix/inc-plain").start_time, end);
    let dst = c.fresh_destination();
    let e = dst.err(&format!("RESTORE DATABASE bank FROM 'nodelocal://1/mix/enc', 'nodelocal://1/mix/inc-plain' {with}"));
    assert!(e.starts_with("nodelocal://1/mix/inc-plain/BACKUP: "), "{e}");
    let e = dst.err("RESTORE DATABASE bank FROM 'nodelocal://1/mix/enc', 'nodelocal://1/mix/inc-plain'");
    assert!(e.starts_with("nodelocal://1/mix/enc/BACKUP: file appears encrypted"), "{e}");
    let e = dst.err(&format!("RESTORE DATABASE bank FROM 'nodelocal://1/mix/plain', 'nodelocal://1/mix/inc-plain' {with}"));
    assert_eq!(e, "nodelocal://1/mix/plain/BACKUP: file does not appear to be encrypted");
    assert!(dst.catalog().database_by_name("bank").is_none());
    // Each chain alone restores.
    let inc_end = c.manifest("nodelocal://1/mix/inc-plain").end_time;
    restores_to(&c, "RESTORE DATABASE bank FROM 'nodelocal://1/mix/plain', 'nodelocal://1/mix/inc-plain'", &BANK, inc_end);
    restores_to(&c, &format!("RESTORE DATABASE bank FROM 'nodelocal://1/mix/enc' {with}"), &BANK, end);
}

#[test]
fn a_revision_history_incremental_whose_base_is_older_than_the_gc_window_needs_a_new_full_backup_too() {
    // With every TTL at its default (25 h) and the base older than that, the descriptors'
    // history is gone as well as the rows': the refusal is the same as without revision
    // history, not the KV layer's bare export error.
    let mut c = bank();
    let loc = "nodelocal://1/gc-rh";
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history"));
    let base_end = c.manifest(loc).end_time;
    change(&mut c, 1);
    c.advance(Duration::from_secs(26 * 3600));
    block_on(c.local.run_gc()).unwrap();
    let span = model::encoding::table_span(c.table_id("bank", "customers"));
    let threshold = block_on(model::ClusterKv::gc_threshold(&*c.local, &span)).unwrap();
    let want = format!(
        "the previous backup's end time {base_end} is at or below the GC threshold {threshold} of {span}: the changes since it may already be garbage collected, so a new full backup is needed"
    );
    let before = c.store(loc).snapshot();
    assert_eq!(c.err(&format!("BACKUP DATABASE bank TO '{loc}'")), want);
    assert_eq!(c.err(&format!("BACKUP DATABASE bank TO '{loc}' WITH revision_history")), want);
    assert_eq!(c.err(&format!("BACKUP DATABASE bank TO 'nodelocal://1/gc-rh-inc' INCREMENTAL FROM '{loc}' WITH revision_history")), want);
    assert_eq!(c.store(loc).snapshot(), before);
    assert!(c.store("nodelocal://1/gc-rh-inc").snapshot().is_empty());
}

#[test]
fn a_paused_automatic_incremental_holds_the_chain_so_a_newer_one_cannot_fork_it() {
    // Incremental A is planned onto the full backup (start = full's end) and paused with its
    // checkpoint in its subdirectory. The chain at the location still ends at the full backup,
    // so incremental B would be planned onto it too and, once A resumed and finished, the
    // location would hold full, A (full.end, tA], B (full.end, tB] and refuse every RESTORE,
    // SHOW BACKUP and automatic incremental for good ("invalid previous backups"). A's lock at
    // the chain's root refuses B instead, naming A; A resumes and finishes; the location stays
    // restorable and takes the next incremental.
    let mut c = bank();
    let loc = "nodelocal://1/overtake";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    change(&mut c, 1);
    control_mid_backup(&c, 2, &["PAUSE JOB {id}"]);
    c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.kv.clear_hook();
    let a = backup_jobs(&c).iter().map(|j| j.id).max().unwrap();
    change(&mut c, 2);
    let before = c.store(loc).snapshot();
    let b = c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    assert_eq!(
        b,
        format!(
            "{loc} already contains a BACKUP-LOCK-{a} file (is another operation already in progress?): it belongs to job {a} of this cluster, whose status is paused; RESUME JOB {a} to finish that backup, or CANCEL JOB {a} to discard it and free the location"
        )
    );
    assert_eq!(c.store(loc).snapshot(), before, "the refused backup wrote nothing");
    c.ok(&format!("RESUME JOB {a}"));
    c.runtime.run_spawned();
    assert_eq!(job(&c, a).status, JobStatus::Succeeded);
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 1);
    let newest = c.manifest(&sub(loc, &subs[0])).end_time;
    assert!(!c.store(loc).snapshot().keys().any(|k| k.starts_with("BACKUP-LOCK-")), "A's lock is gone");
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{loc}'"));
    same_tables(&c, &dst, &ALL, newest, "after the overtaken incremental finished");
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
}

#[test]
fn a_point_in_time_restore_of_a_cluster_chain_sees_databases_dropped_or_created_and_dropped_in_the_window() {
    // DROP DATABASE ... CASCADE removes the database descriptor: the catalog as of the
    // incremental's time no longer names it or its tables, yet a restore to a time before the
    // drop needs them — with the revisions they had in the window.
    let mut c = bank();
    let loc = "nodelocal://1/dropdb";
    c.ok(&format!("BACKUP TO '{loc}' WITH revision_history"));
    c.advance(Duration::from_secs(2));
    c.sql(
        "UPDATE employees.staff SET dept = 'moved' WHERE id = 1;
         CREATE DATABASE scratch; CREATE TABLE scratch.notes (k INT PRIMARY KEY, v STRING); INSERT INTO scratch.notes VALUES (1, 'tmp'), (2, 'tmp2');",
    );
    c.advance(Duration::from_secs(2));
    let t_mid = c.now();
    c.advance(Duration::from_secs(2));
    c.sql("DROP DATABASE employees CASCADE; DROP DATABASE scratch CASCADE");
    c.advance(Duration::from_secs(2));
    let t_after = c.now();
    c.advance(Duration::from_secs(2));
    c.ok(&format!("BACKUP TO '{loc}' WITH revision_history"));
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE FROM '{loc}' AS OF SYSTEM TIME '{t_mid}'"));
    same_tables(&c, &dst, &[("employees", "staff"), ("scratch", "notes"), ("bank", "customers")], t_mid, "before the drops");
    assert_eq!(dst.read_now("employees", "staff").rows[0][2], s("moved"), "the update made in the window");
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE FROM '{loc}' AS OF SYSTEM TIME '{t_after}'"));
    let cat = dst.catalog();
    assert!(cat.database_by_name("employees").is_none() && cat.database_by_name("scratch").is_none(), "dropped before the time");
    same_tables(&c, &dst, &BANK, t_after, "after the drops");
    // A database restore as of before the drop.
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE employees FROM '{loc}' AS OF SYSTEM TIME '{t_mid}'"));
    same_tables(&c, &dst, &[("employees", "staff")], t_mid, "database restore before the drop");
}

#[test]
fn a_point_in_time_cluster_restore_restores_users_roles_grants_and_zone_configs_as_of_that_time() {
    // The manifest records users, role memberships and zone configs as of its end time only; a
    // revision-history cluster backup carries their history as data (their system tables'
    // spans), and a restore to a time inside its window reads them as of that time.
    let mut c = bank();
    let loc = "nodelocal://1/users-at";
    c.sql("CREATE USER early_user; CREATE ROLE readers; GRANT readers TO early_user");
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP TO '{loc}' WITH revision_history"));
    c.advance(Duration::from_secs(2));
    c.sql("CREATE USER mid_user");
    c.advance(Duration::from_secs(2));
    let t = c.now();
    c.advance(Duration::from_secs(2));
    c.sql("CREATE USER late_user; GRANT readers TO late_user; REVOKE readers FROM early_user; DROP USER mid_user");
    c.sql("ALTER TABLE bank.customers CONFIGURE ZONE USING gc.ttlseconds = 3600; GRANT SELECT ON TABLE bank.customers TO early_user");
    c.advance(Duration::from_secs(2));
    c.ok(&format!("BACKUP TO '{loc}' WITH revision_history"));
    let inc = c.manifest(&sub(loc, &dated_subdirs(&c, loc)[0]));
    for span in model::catalog::cluster_data_spans() {
        assert!(inc.spans.contains(&span), "the incremental carries {span}");
    }
    let roles = |cat: &model::catalog::Catalog, u: &str| cat.roles_of(u).contains("readers");
    let select = |cat: &model::catalog::Catalog, u: &str| {
        let id = cat.table_by_name("bank", "customers").unwrap().id;
        cat.has_privilege(u, id, model::catalog::Privilege::Select)
    };
    // As of t: mid_user exists, late_user does not; early_user is a reader without SELECT;
    // the zone config is the default one.
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE FROM '{loc}' AS OF SYSTEM TIME '{t}'"));
    let cat = dst.catalog();
    assert!(cat.user("late_user").is_none(), "late_user was created after the requested time");
    assert!(cat.user("mid_user").is_some() && cat.user("early_user").is_some());
    assert!(roles(&cat, "early_user") && !select(&cat, "early_user"));
    let customers = cat.table_by_name("bank", "customers").unwrap().id;
    assert_eq!(cat.gc_ttl(customers), Duration::from_secs(model::catalog::DEFAULT_GC_TTL_SECONDS), "the zone config as of the requested time");
    // As of the end: the other way round.
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE FROM '{loc}'"));
    let cat = dst.catalog();
    assert!(cat.user("late_user").is_some() && cat.user("mid_user").is_none());
    assert!(roles(&cat, "late_user") && !roles(&cat, "early_user") && select(&cat, "early_user"));
    let customers = cat.table_by_name("bank", "customers").unwrap().id;
    assert_eq!(cat.gc_ttl(customers), Duration::from_secs(3600));
}

#[test]
fn forty_one_back_to_back_automatic_incrementals_all_succeed_and_restore() {
    // Each one right after the previous, with no time passing in between but the clock's own
    // ticks: their end times differ by a logical tick or a few nanoseconds. CockroachDB's 10 ms
    // names made the 23rd of 41 such incrementals collide with its predecessor ("already
    // contains a BACKUP file"); nanosecond names with the logical part never collide.
    let mut c = bank();
    let loc = "nodelocal://1/quick";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    for i in 0..41 {
        c.sql(&format!("UPDATE employees.staff SET dept = 'd{i}' WHERE id = 1"));
        c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    }
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 41);
    let mut prev = c.manifest(loc);
    for s in &subs {
        let m = c.manifest(&sub(loc, s));
        assert_eq!(s, &expected_subdir(m.end_time));
        assert_eq!(m.start_time, prev.end_time, "{s}");
        prev = m;
    }
    let dst = restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, prev.end_time);
    assert_eq!(dst.read_now("employees", "staff").rows.len(), 3);
}

#[test]
fn locations_written_with_centisecond_names_still_read_and_take_new_incrementals() {
    // A location written by an earlier version: its incrementals named `HHMMSS.ss`. Renamed
    // here to what that version wrote; the chain reads in time order with new names mixed in.
    let mut c = bank();
    let loc = "nodelocal://1/old-names";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    for n in 1..=2 {
        change(&mut c, n);
        c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    }
    let store = c.store(loc);
    for s in dated_subdirs(&c, loc) {
        let old = format!("{}{}", &s[..16], &s[16..18]);
        assert!(backup::chain::subdir_time(&old).is_some(), "{old}");
        for (k, _) in store.snapshot() {
            if let Some(rest) = k.strip_prefix(&format!("{s}/")) {
                let bytes = read_obj(&store, &k);
                delete_obj(&store, &k);
                write_obj(&store, &format!("{old}/{rest}"), bytes);
            }
        }
    }
    let subs = dated_subdirs(&c, loc);
    assert!(subs.iter().all(|s| s.len() == "20200913/122655.37".len()), "{subs:?}");
    change(&mut c, 3);
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 3);
    assert_eq!(subs[2].len(), "20200913/122655.370000000_1".len(), "{subs:?}");
    assert_eq!(c.manifest(&sub(loc, &subs[2])).start_time, c.manifest(&sub(loc, &subs[1])).end_time);
    assert_eq!(c.ok(&format!("SHOW BACKUP '{loc}'")).rows.len(), 4 * 8);
    restores_to(&c, &format!("RESTORE DATABASE bank, employees FROM '{loc}'"), &ALL, c.manifest(&sub(loc, &subs[2])).end_time);
}

#[test]
fn an_incremental_must_back_up_what_its_chain_backs_up() {
    // Issue #11's examples: each used to be appended, after which the location's RESTORE
    // failed until the next incremental of the original targets.
    let mut c = bank();
    let refused = |c: &Cluster, sql: &str, loc: &str| {
        let before = c.store(loc).snapshot();
        let e = c.err(sql);
        assert_eq!(c.store(loc).snapshot(), before, "{sql}: nothing written");
        e
    };
    // Naming every user database is not a cluster backup.
    c.ok("BACKUP TO 'nodelocal://1/cl'");
    change(&mut c, 1);
    assert_eq!(
        refused(&c, "BACKUP DATABASE bank, employees TO 'nodelocal://1/cl'", "nodelocal://1/cl"),
        "cannot append a backup of specific tables or databases to a cluster backup: nodelocal://1/cl is a backup of the cluster, this one of DATABASE bank, employees; back up the cluster to append to it, or back up DATABASE bank, employees to a new location"
    );
    c.ok("BACKUP TO 'nodelocal://1/cl'");
    c.fresh_destination().ok("RESTORE FROM 'nodelocal://1/cl'");
    // A database's tables listed one by one are not the database.
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/db'");
    change(&mut c, 2);
    assert_eq!(
        refused(&c, "BACKUP bank.customers, bank.accounts TO 'nodelocal://1/db'", "nodelocal://1/db"),
        "cannot append a backup of TABLE bank.customers, bank.accounts to nodelocal://1/db, a backup of DATABASE bank: it backs up the complete database bank, this one only tables; an incremental must back up the same targets as the backups it builds on (back up DATABASE bank to append to it, or use a new location)"
    );
    assert_eq!(
        refused(&c, "BACKUP DATABASE bank, employees TO 'nodelocal://1/db'", "nodelocal://1/db"),
        "cannot append a backup of DATABASE bank, employees to nodelocal://1/db, a backup of DATABASE bank: it backs up the complete database bank, this one bank, employees; an incremental must back up the same targets as the backups it builds on (back up DATABASE bank to append to it, or use a new location)"
    );
    assert!(refused(&c, "BACKUP TO 'nodelocal://1/db'", "nodelocal://1/db")
        .starts_with("cannot append a cluster backup to a backup of specific tables or databases: nodelocal://1/db is a backup of DATABASE bank"));
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/db'");
    let bank_tables: Vec<(&str, &str)> = ALL.iter().copied().filter(|(db, _)| *db == "bank").collect();
    restores_to(
        &c,
        "RESTORE DATABASE bank FROM 'nodelocal://1/db'",
        &bank_tables,
        c.manifest(&sub("nodelocal://1/db", &dated_subdirs(&c, "nodelocal://1/db")[0])).end_time,
    );
    // Tables: the same tables append; the database they are in does not.
    c.ok("BACKUP bank.customers, bank.accounts TO 'nodelocal://1/tb'");
    change(&mut c, 3);
    assert!(refused(&c, "BACKUP DATABASE bank TO 'nodelocal://1/tb'", "nodelocal://1/tb").starts_with("cannot append a backup of DATABASE bank to nodelocal://1/tb, a backup of TABLE bank.customers, bank.accounts: it backs up tables, this one the complete database bank"));
    c.ok("BACKUP bank.customers, bank.accounts TO 'nodelocal://1/tb'");
    assert_eq!(dated_subdirs(&c, "nodelocal://1/tb").len(), 1);
}

#[test]
fn a_newest_incremental_without_its_manifest_is_refused_naming_it_not_skipped() {
    // What a killed incremental whose lock is gone (or a damaged one) leaves: a date directory
    // with a checkpoint and data files but no manifest. It used to be skipped, and RESTORE
    // returned the previous backup's data as the location's newest.
    let mut c = bank();
    let loc = "nodelocal://1/newest";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    change(&mut c, 1);
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let store = c.store(loc);
    let dir = "20991231/235959.000000000";
    write_obj(&store, &format!("{dir}/BACKUP-CHECKPOINT"), b"cp".to_vec());
    write_obj(&store, &format!("{dir}/data/7/n1-1-n1-0.sst"), b"x".to_vec());
    let at = sub(loc, dir);
    let want = format!(
        "{at}: an incomplete incremental backup: it holds BACKUP-CHECKPOINT and 1 data file but no BACKUP manifest (an incremental that failed, was canceled or was killed before it finished, or a damaged one). RESTORE and SHOW BACKUP refuse the location while it is there, rather than restore older data than it claims to hold; if no backup job is running there, delete the directory {at} and run the statement again"
    );
    let dst = c.fresh_destination();
    assert_eq!(dst.err(&format!("RESTORE DATABASE bank, employees FROM '{loc}'")), want);
    assert_eq!(dst.err(&format!("SHOW BACKUP '{loc}'")), want);
    assert_eq!(c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'")), want);
    assert!(dst.catalog().database_by_name("bank").is_none());
    // Following the advice: the chain reads again.
    delete_obj(&store, &format!("{dir}/BACKUP-CHECKPOINT"));
    delete_obj(&store, &format!("{dir}/data/7/n1-1-n1-0.sst"));
    dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{loc}'"));
}

/// Listings that leave out every file whose path contains `hidden` (or, with `manifest_only`,
/// only the `BACKUP` manifest there): what a stale listing (an eventually consistent store, a
/// caching proxy) does to an incremental written a moment ago. Reads by name see everything.
struct StaleListing {
    inner: Arc<MemStorageProvider>,
    hidden: String,
    manifest_only: bool,
}

struct StaleListingStorage {
    inner: Arc<dyn backup::storage::ExternalStorage>,
    hidden: String,
    manifest_only: bool,
}

impl backup::storage::StorageProvider for StaleListing {
    fn open(
        &self,
        url: &backup::storage::url::StorageUrl,
        node: model::NodeId,
    ) -> Result<Arc<dyn backup::storage::ExternalStorage>, backup::storage::StorageError> {
        Ok(Arc::new(StaleListingStorage { inner: self.inner.open(url, node)?, hidden: self.hidden.clone(), manifest_only: self.manifest_only }))
    }
}

#[async_trait::async_trait]
impl backup::storage::ExternalStorage for StaleListingStorage {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), backup::storage::StorageError> {
        self.inner.write(path, data).await
    }
    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), backup::storage::StorageError> {
        self.inner.write_new(path, data).await
    }
    async fn read(&self, path: &str) -> Result<Vec<u8>, backup::storage::StorageError> {
        self.inner.read(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, backup::storage::StorageError> {
        let hides = |p: &str| p.contains(&self.hidden) && (!self.manifest_only || p.ends_with("/BACKUP"));
        Ok(self.inner.list(prefix).await?.into_iter().filter(|p| !hides(p)).collect())
    }
    async fn delete(&self, path: &str) -> Result<(), backup::storage::StorageError> {
        self.inner.delete(path).await
    }
    async fn exists(&self, path: &str) -> Result<bool, backup::storage::StorageError> {
        self.inner.exists(path).await
    }
}

#[test]
fn a_listing_that_misses_the_newest_incremental_does_not_restore_older_data_or_refuse_it() {
    // Found by sweeping scenarios/testdata/encryption/incremental.txt under swarm faults
    // (`backup-sim run FILE --seeds 200`): with stale listings, a RESTORE right after an
    // incremental restored the full backup alone, silently (1 row of 2), or refused the
    // incremental as incomplete when only its manifest was missing from the listing.
    let mut c = bank();
    let loc = "nodelocal://1/stale";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    change(&mut c, 1);
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    change(&mut c, 2);
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    change(&mut c, 3);
    let subs = dated_subdirs(&c, loc);
    assert_eq!(subs.len(), 2, "{subs:?}");
    let last = c.manifest(&sub(loc, &subs[1])).end_time;
    for (hidden, manifest_only, what) in [
        (&subs[1], false, "the newest incremental unlisted"),
        (&subs[0], false, "the first incremental unlisted"),
        (&subs[1], true, "the newest manifest unlisted"),
    ] {
        let mut dst = c.fresh_destination();
        dst.env.storage = Arc::new(StaleListing { inner: c.storage.clone(), hidden: hidden.clone(), manifest_only });
        dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{loc}'"));
        same_tables(&c, &dst, &ALL, last, what);
        // SHOW BACKUP shows the whole chain too, as through a listing that misses nothing.
        let shown = dst.ok(&format!("SHOW BACKUP '{loc}'")).render();
        assert_eq!(shown, c.fresh_destination().ok(&format!("SHOW BACKUP '{loc}'")).render(), "{what}");
    }
    // The next incremental, planned through the stale listing, appends to the real end of the
    // chain (not to an older member, where its claim would collide).
    c.env.storage = Arc::new(StaleListing { inner: c.storage.clone(), hidden: subs[1].clone(), manifest_only: false });
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    let now = dated_subdirs(&c.fresh_destination(), loc);
    assert_eq!(now.len(), 3, "{now:?}");
    assert_eq!(c.manifest(&sub(loc, &now[2])).start_time, last);
}
