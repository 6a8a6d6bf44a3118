//! End-to-end, in-process: scheduled backups (issue #17), CockroachDB v21.1–v22.2's `CREATE
//! SCHEDULE … FOR BACKUP`, `SHOW SCHEDULES`, `PAUSE / RESUME / DROP SCHEDULE`, on the manual
//! clock of `common`'s cluster, the scheduler ticked by hand (`executor::tick`, what every node's
//! loop runs) and the jobs it spawns run by the test runtime:
//!
//! - the pair of schedules (incremental paused until the first full), their columns, a full at
//!   once, incrementals at each cron time, restores of the chain equal to the source;
//! - protected timestamps: a chain's record follows its newest backup, so an incremental a day
//!   after the last backup works under a TTL of minutes; without a schedule the same incremental
//!   is refused at the GC threshold; the GC queue never passes a record;
//! - PAUSE / RESUME / DROP, `on_previous_running`, `on_execution_failure`;
//! - secrets: the passphrase is redacted in every column.

use crate::common::*;
use backup::jobs::{self, JobStatus};
use backup::schedule::{self, executor, ScheduleRecord};
use backup::storage::MemStorageProvider;
use futures::executor::block_on;
use model::protected_ts::{self, Holder};
use model::{Datum, Timestamp};
use std::sync::Arc;
use std::time::Duration;

const COLL: &str = "nodelocal://1/sched";
const BANK: [&str; 4] = ["customers", "accounts", "transfer_ids", "transfers"];

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

fn tick(c: &Cluster) -> executor::Tick {
    block_on(executor::tick(&c.env)).unwrap()
}

/// Ticks, runs what the tick started, ticks again (the ends handled): what a few scheduler
/// paces do.
fn tick_and_run(c: &Cluster) -> executor::Tick {
    let t = tick(c);
    c.runtime.run_spawned();
    let ended = tick(c);
    executor::Tick { started: t.started, ended: ended.ended }
}

fn schedules(c: &Cluster) -> Vec<ScheduleRecord> {
    block_on(schedule::list_at(&*c.env.kv, c.now())).unwrap()
}

fn records(c: &Cluster) -> Vec<protected_ts::ProtectedRecord> {
    block_on(protected_ts::read_all(&*c.local, c.now())).unwrap()
}

fn status(c: &Cluster, job: i64) -> JobStatus {
    block_on(jobs::load::<serde_json::Value>(&*c.env.kv, job)).unwrap().unwrap().status
}

/// Advances the clock to just past `ts`.
fn advance_to(c: &Cluster, ts: Timestamp) {
    let now = c.now();
    if ts > now {
        c.advance(Duration::from_nanos(ts.wall - now.wall) + Duration::from_secs(1));
    }
}

fn next_run(c: &Cluster, id: i64) -> Timestamp {
    schedules(c).into_iter().find(|s| s.id == id).and_then(|s| s.next_run).expect("a next run")
}

fn int(d: &Datum) -> i64 {
    match d {
        Datum::Int(i) => *i,
        other => panic!("{other:?}"),
    }
}

fn text(d: &Datum) -> String {
    match d {
        Datum::String(s) => s.clone(),
        Datum::Null => "NULL".into(),
        other => panic!("{other:?}"),
    }
}

/// Creates the daily schedule of `bank` (fulls weekly, picked); returns (incremental, full).
fn daily(c: &Cluster, extra: &str) -> (i64, i64) {
    let r = c.ok(&format!("CREATE SCHEDULE 'nightly' FOR BACKUP DATABASE bank INTO '{COLL}' RECURRING '@daily'{extra}"));
    assert_eq!(r.columns, ["schedule_id", "label", "status", "first_run", "schedule", "backup_stmt"]);
    assert_eq!(r.rows.len(), 2, "{}", r.render());
    (int(&r.rows[0][0]), int(&r.rows[1][0]))
}

fn restores_bank_at(src: &Cluster, sql: &str, ts: Timestamp) {
    let dst = src.fresh_destination();
    dst.ok(sql);
    for t in BANK {
        assert_eq!(dst.read_now("bank", t).rows, src.read("bank", t, ts).rows, "{sql}: bank.{t} as of {ts}");
    }
}

#[test]
fn a_daily_schedule_takes_a_full_at_once_then_an_incremental_each_midnight_and_restores() {
    let mut c = bank();
    let r = c.ok(&format!("CREATE SCHEDULE 'nightly' FOR BACKUP DATABASE bank INTO '{COLL}' RECURRING '@daily'"));
    let rows: Vec<Vec<String>> = r.rows.iter().map(|row| row[1..].iter().map(text).collect()).collect();
    // The incremental schedule first, paused until a full exists; the full weekly, first now.
    assert_eq!(rows[0][..4], ["nightly", "PAUSED: Waiting for initial backup to complete", "NULL", "@daily"]);
    assert_eq!(rows[0][4], format!("BACKUP DATABASE bank INTO LATEST IN '{COLL}' WITH detached"));
    assert_eq!((rows[1][1].as_str(), rows[1][3].as_str()), ("ACTIVE", "@weekly"));
    assert_eq!(rows[1][4], format!("BACKUP DATABASE bank INTO '{COLL}' WITH detached"));
    let (inc, full) = (int(&r.rows[0][0]), int(&r.rows[1][0]));

    let t = tick_and_run(&c);
    assert_eq!(t.started.len(), 1);
    assert_eq!(t.started[0].0, full);
    let full_job = t.started[0].1;
    assert_eq!(status(&c, full_job), JobStatus::Succeeded);
    assert_eq!(t.ended, vec![(full, full_job, JobStatus::Succeeded)]);
    let after_full = c.now();
    // The first full unpaused the incrementals: next midnight (T0 is 2020-09-13 12:26:41 UTC).
    let s = schedules(&c);
    let inc_rec = s.iter().find(|s| s.id == inc).unwrap();
    assert!(!inc_rec.paused && inc_rec.status.is_empty());
    assert_eq!(schedule::cron::show_time(inc_rec.next_run.unwrap()), "2020-09-14 00:00:00+00:00");
    // One record: the chain's, at the full's end time, held by the incremental schedule.
    let recs = records(&c);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].holder, Holder::Schedule(inc));
    let full_end = recs[0].ts;
    assert!(full_end <= after_full);

    // Nothing is due before midnight.
    c.sql("UPDATE bank.accounts SET balance = balance + 1 WHERE id = 1");
    assert!(tick_and_run(&c).started.is_empty());
    advance_to(&c, next_run(&c, inc));
    let t = tick_and_run(&c);
    assert_eq!(t.started.iter().map(|s| s.0).collect::<Vec<_>>(), vec![inc]);
    let inc_job = t.started[0].1;
    assert_eq!(status(&c, inc_job), JobStatus::Succeeded);
    // The incremental read AS OF its scheduled time, midnight, and moved the chain's record there.
    let recs = records(&c);
    assert_eq!(recs.len(), 1);
    assert_eq!(schedule::cron::show_time(recs[0].ts), "2020-09-14 00:00:00+00:00");
    assert!(recs[0].ts > full_end);
    let desc = block_on(jobs::load::<serde_json::Value>(&*c.env.kv, inc_job)).unwrap().unwrap().description;
    assert!(desc.starts_with(&format!("BACKUP DATABASE bank INTO LATEST IN '{COLL}' AS OF SYSTEM TIME ")), "{desc}");

    let shown = c.ok(&format!("SHOW BACKUPS IN '{COLL}'"));
    assert_eq!(shown.rows.len(), 1, "{}", shown.render());
    restores_bank_at(&c, &format!("RESTORE DATABASE bank FROM LATEST IN '{COLL}'"), recs[0].ts);
    // SHOW SCHEDULES lists both, the full's next run a week of Sundays away.
    let show = c.ok("SHOW SCHEDULES");
    assert_eq!(show.rows.len(), 2);
    let full_row = show.rows.iter().find(|r| int(&r[0]) == full).unwrap();
    assert_eq!(text(&full_row[3]), "2020-09-20 00:00:00+00:00");
    assert_eq!(c.ok(&format!("SHOW SCHEDULE {inc}")).rows.len(), 1);
}

#[test]
fn the_chains_protected_timestamp_keeps_an_incremental_possible_past_the_ttl_and_without_one_it_is_refused() {
    let mut c = bank();
    c.sql("ALTER TABLE bank.accounts CONFIGURE ZONE USING gc.ttlseconds = 600");
    let (inc, _) = daily(&c, "");
    tick_and_run(&c);
    // The same chain by hand, in another collection, with no schedule to protect it.
    c.ok("BACKUP DATABASE bank INTO 'nodelocal://1/manual'");
    for round in 1..=3 {
        c.sql(&format!("UPDATE bank.accounts SET balance = balance + {round} WHERE id = 1"));
        c.sql(&format!("UPDATE bank.accounts SET balance = balance + {round} WHERE id = 2"));
        advance_to(&c, next_run(&c, inc));
        // A day later the GC queue has run: without the record, history before now - 10 min
        // would be gone.
        block_on(c.local.run_gc()).unwrap();
        let span = model::encoding::table_span(c.table_id("bank", "accounts"));
        let threshold = block_on(model::ClusterKv::gc_threshold(&*c.local, &span)).unwrap();
        let record = records(&c).into_iter().find(|r| r.holder == Holder::Schedule(inc)).unwrap();
        assert!(threshold < record.ts, "round {round}: GC passed the chain's record");
        let t = tick_and_run(&c);
        assert_eq!(t.ended.len(), 1, "round {round}");
        assert_eq!(status(&c, t.started[0].1), JobStatus::Succeeded, "round {round}");
        // At most one chain record, and the job's own released.
        assert_eq!(records(&c).len(), 1, "round {round}: {:?}", records(&c));
    }
    let last = records(&c)[0].ts;
    restores_bank_at(&c, &format!("RESTORE DATABASE bank FROM LATEST IN '{COLL}'"), last);
    // The manual chain: its base is a day and more behind a 10-minute TTL.
    let e = c.err("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/manual'");
    assert!(e.contains("GC threshold") && e.contains("a new full backup is needed"), "{e}");
}

#[test]
fn pause_resume_and_drop() {
    let c = bank();
    let (inc, full) = daily(&c, " WITH SCHEDULE OPTIONS first_run = '2020-09-13 18:00:00'");
    // first_run given: the full waits for it.
    assert_eq!(schedule::cron::show_time(next_run(&c, full)), "2020-09-13 18:00:00+00:00");
    assert!(tick_and_run(&c).started.is_empty());
    c.ok(&format!("PAUSE SCHEDULE {full}"));
    c.advance(Duration::from_secs(86_400));
    assert!(tick_and_run(&c).started.is_empty(), "a paused schedule runs nothing");
    assert_eq!(text(&c.ok(&format!("SHOW SCHEDULE {full}")).rows[0][2]), "PAUSED");
    c.ok(&format!("RESUME SCHEDULE {full}"));
    // Resumed: at its next cron time (Sunday midnight), not at once.
    assert_eq!(schedule::cron::show_time(next_run(&c, full)), "2020-09-20 00:00:00+00:00");
    advance_to(&c, next_run(&c, full));
    let t = tick_and_run(&c);
    assert_eq!(t.started.len(), 1);
    assert_eq!(records(&c).len(), 1);
    // DROP releases the chain's record and unlinks the pair.
    c.ok(&format!("DROP SCHEDULE {inc}"));
    assert!(records(&c).is_empty());
    let left = schedules(&c);
    assert_eq!(left.iter().map(|s| (s.id, s.dependent)).collect::<Vec<_>>(), vec![(full, None)]);
    assert_eq!(c.err(&format!("PAUSE SCHEDULE {inc}")), format!("schedule with ID {inc} does not exist"));
    c.ok(&format!("DROP SCHEDULE {full}"));
    assert!(schedules(&c).is_empty());
}

#[test]
fn a_failed_run_follows_on_execution_failure_and_a_running_one_on_previous_running() {
    let c = bank();
    // Hourly fulls, every backup a full (FULL BACKUP ALWAYS: one schedule, no chain record).
    let r = c.ok("CREATE SCHEDULE 'h' FOR BACKUP DATABASE bank INTO 'nodelocal://1/p' RECURRING '@hourly' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS on_execution_failure = 'pause'");
    assert_eq!(r.rows.len(), 1);
    let id = int(&r.rows[0][0]);
    c.ok("CREATE SCHEDULE 'r' FOR BACKUP DATABASE bank INTO 'nodelocal://1/q' RECURRING '@hourly' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS on_previous_running = 'skip'");
    let skip = schedules(&c).into_iter().find(|s| s.label == "r").unwrap().id;
    advance_to(&c, next_run(&c, id).max(next_run(&c, skip)));
    let t = tick(&c);
    assert_eq!(t.started.len(), 2);
    // Cancel the first before it runs: its end pauses the schedule, with the reason.
    let job = t.started.iter().find(|s| s.0 == id).unwrap().1;
    c.ok(&format!("CANCEL JOB {job}"));
    // The other is still running when its next hour comes: skipped to the hour after.
    let before = next_run(&c, skip);
    advance_to(&c, before);
    tick(&c);
    let s = schedules(&c).into_iter().find(|s| s.id == skip).unwrap();
    assert_eq!(s.status, "rescheduled due to 1 already running");
    assert!(s.next_run.unwrap() > before);
    c.runtime.run_spawned();
    tick(&c);
    let paused = schedules(&c).into_iter().find(|s| s.id == id).unwrap();
    assert!(paused.paused, "{paused:?}");
    assert!(paused.status.starts_with(&format!("schedule paused: backup job {job} failed")), "{}", paused.status);
    // No job's record is left behind.
    assert!(records(&c).iter().all(|r| !matches!(r.holder, Holder::Job(_))), "{:?}", records(&c));
}

#[test]
fn the_passphrase_is_redacted_everywhere_and_refusals_say_why() {
    let c = bank();
    let r = c.ok(&format!("CREATE SCHEDULE 'e' FOR BACKUP DATABASE bank INTO '{COLL}' WITH encryption_passphrase = 'pw-S3CR3T' RECURRING '@daily'"));
    let all = format!("{}{}", r.render(), c.ok("SHOW SCHEDULES").render());
    assert!(!all.contains("S3CR3T") && all.contains("encryption_passphrase = 'redacted'"), "{all}");
    let t = tick_and_run(&c);
    let desc = block_on(jobs::load::<serde_json::Value>(&*c.env.kv, t.started[0].1)).unwrap().unwrap().description;
    assert!(!desc.contains("S3CR3T"));
    assert!(!format!("{:?}", schedules(&c)).contains("S3CR3T"));
    // The collection now holds a backup: another schedule there is refused unless told.
    let e = c.err(&format!("CREATE SCHEDULE 'again' FOR BACKUP DATABASE bank INTO '{COLL}' WITH encryption_passphrase = 'pw-S3CR3T' RECURRING '@daily'"));
    assert_eq!(
        e,
        format!("backups already created in {COLL}; to ignore existing backups, the schedule can be created with the 'ignore_existing_backups' option")
    );
    c.ok(&format!(
        "CREATE SCHEDULE 'again' FOR BACKUP DATABASE bank INTO '{COLL}' WITH encryption_passphrase = 'pw-S3CR3T' RECURRING '@daily' WITH SCHEDULE OPTIONS ignore_existing_backups"
    ));
    // IF NOT EXISTS of a label taken: nothing created, no error.
    let n = schedules(&c).len();
    assert!(c.ok(&format!("CREATE SCHEDULE IF NOT EXISTS 'again' FOR BACKUP DATABASE bank INTO '{COLL}' RECURRING '@daily'")).rows.is_empty());
    assert_eq!(schedules(&c).len(), n);
}
