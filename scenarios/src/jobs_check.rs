//! The job-accounts-true property: what the cluster tells a user about a backup job is true.
//!
//! Two accounts, both read once a seed has run to its end (faults off, every job finished):
//!
//! - **SHOW JOBS describes each BACKUP job by the statement that started it.** Its description
//!   must parse, and equal (as a statement: targets, locations, time, incremental bases,
//!   options) one of the BACKUP statements the run's clients actually sent, with each secret
//!   shown as `redacted` and never as itself. The statements come from the simulator's log of
//!   what the clients sent ([`sim::kv_client::StatementLog`]), not from the backup code's own
//!   rendering: the clients that follow a job match it by that rendering, so a renderer that
//!   drops an option or garbles a name would go unseen by them.
//! - **A refusal for a location in use names its holder truthfully and advises what its state
//!   allows.** Every statement that failed because another job's lock, checkpoint or claim is at
//!   the location (read from the trace's statement outcomes) must name a BACKUP job that SHOW
//!   JOBS shows writing to that same location; a status it calls final (succeeded, failed,
//!   canceled) must be that job's final status; its advice must fit the status it gives: never
//!   "safe to delete" while the job may still write (deleting a live job's lock lets two backups
//!   race for one location), RESUME for a paused one, waiting or CANCEL for a running one, and
//!   for one that has ended, deleting its files without the condition an unknown holder's advice
//!   carries ("if no backup is running there"); and
//!   a claim's holder must be named with the subdirectory it writes, inside the location. A job
//!   it calls nonexistent must not be a backup to that location.
//! - **An operator's PAUSE, RESUME or CANCEL JOB is refused only for what the job's status
//!   forbids.** The operator names a job SHOW JOBS listed, in a well-formed statement (dressed
//!   as any client's), so a refusal as malformed or for an unknown job is untrue; a refusal for
//!   the job's status must name that job and action and a status that forbids it, and a final
//!   status it gives must be the job's final status. (Outages may refuse any statement.)
//!
//! Locations are compared as URLs (scheme, host, path, and query parameters as a set), with the
//! `url` crate, not the backup code's URL parser: the description of an Azure URL sorts its
//! parameters, and the parser under test is not its own witness.

use crate::property::Property;
use crate::run::Failure;
use backup::statement::{self, BackupStmt, Statement};
use model::Datum;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The text a description shows in place of a secret.
const REDACTED: &str = "redacted";

/// Reads SHOW JOBS once through any node that answers (faults are off when this runs).
pub(crate) async fn final_jobs(world: &mut sim::World) -> Result<(Vec<String>, Vec<Vec<Datum>>), Failure> {
    let nodes = world.cfg.nodes as u32;
    let client = world.add_client("auditor");
    let task = client.spawn(move |kv| async move {
        let mut last = String::new();
        for attempt in 0..nodes * 5 {
            match kv.bulk(attempt % nodes + 1, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(10)).await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = e,
            }
            madsim::time::sleep(Duration::from_secs(1)).await;
        }
        Err(last)
    });
    crate::run::drive(world, task)
        .await
        .map_err(|e| Failure { property: Property::Liveness, message: format!("SHOW JOBS found no node to answer it after faults stopped: {e}") })
}

/// Reads SHOW JOBS at the end of a run and holds every account of a job to the truth (see the
/// module comment). `secrets` are the run's; `trace` its lines so far.
pub(crate) async fn check_run(world: &mut sim::World, secrets: &[String]) -> Result<(), Failure> {
    let (columns, rows) = final_jobs(world).await?;
    crate::render_check::answer_prints_true("SHOW JOBS", &columns, &rows)?;
    check(&rows, &world.statements.all(), &world.trace.lines(), secrets)
}

/// One BACKUP job as SHOW JOBS lists it.
#[derive(Debug)]
struct JobRow {
    description: String,
    status: String,
    /// Its statement, parsed from the description.
    stmt: BackupStmt,
}

/// The property over SHOW JOBS's `rows`, the statements `issued` and the trace's `lines`.
pub(crate) fn check(rows: &[Vec<Datum>], issued: &[String], lines: &[String], secrets: &[String]) -> Result<(), Failure> {
    let fail = |message: String| Failure { property: Property::JobAccountsTrue, message };
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    let sent: Vec<BackupStmt> = issued
        .iter()
        .filter_map(|s| match statement::parse(s) {
            Ok(Statement::Backup(b)) => Some(b),
            _ => None,
        })
        .collect();

    let mut jobs: BTreeMap<i64, JobRow> = BTreeMap::new();
    for row in rows {
        let text = |i: usize| match row.get(i) {
            Some(Datum::String(s)) => s.clone(),
            _ => String::new(),
        };
        if text(1) != "BACKUP" {
            continue;
        }
        let Some(Datum::Int(id)) = row.first() else {
            return Err(fail(format!("SHOW JOBS lists a BACKUP job without an id: {row:?}")));
        };
        let description = text(2);
        if let Some(i) = secrets.iter().position(|s| description.contains(s) || text(12).contains(s)) {
            return Err(Failure { property: Property::SecretsHidden, message: format!("secret #{} of the run appears in SHOW JOBS (job {id})", i + 1) });
        }
        let stmt = match statement::parse(&description) {
            Ok(Statement::Backup(b)) => b,
            Ok(other) => return Err(fail(format!("SHOW JOBS describes BACKUP job {id} as another kind of statement: {description:?} ({other:?})"))),
            Err(e) => return Err(fail(format!("SHOW JOBS describes BACKUP job {id} as {description:?}, which does not parse: {e}"))),
        };
        if !sent.iter().any(|s| same_statement(s, &stmt, &secrets)) {
            return Err(fail(format!(
                "SHOW JOBS describes BACKUP job {id} as {description:?}, which is none of the {} BACKUP statements the run's clients sent",
                sent.len()
            )));
        }
        jobs.insert(*id, JobRow { description, status: text(5), stmt });
    }

    for (n, line) in lines.iter().enumerate() {
        if let Some(error) = statement_error(line) {
            if let Some(why) = refusal_is_false(error, &jobs) {
                return Err(fail(format!("trace line {}: a refusal for a location in use {why}: {}", n + 1, line.trim_start())));
            }
        }
        if let Some(control) = event_text(line, sim::event::JOB_CONTROL) {
            if let Some(why) = control_refusal_is_false(control, &jobs) {
                return Err(fail(format!("trace line {}: the operator's {why}: {}", n + 1, line.trim_start())));
            }
        }
    }
    Ok(())
}

/// What is false in the outcome of an operator's `PAUSE` / `RESUME` / `CANCEL JOB` (the text of
/// a job-control trace event: `<VERB> JOB <id> via n<node>: ok | refused: <error>`), if it was
/// refused for anything but the job's status (or the cluster being unreachable, which any
/// statement may meet). The operator names a job SHOW JOBS listed, in a well-formed statement,
/// so a refusal as malformed or for an unknown job is false; a refusal for the job's status
/// must name that job, the action, and a status CockroachDB refuses that action in (PAUSE:
/// cancel-requested or ended; RESUME: the same; CANCEL: ended), and a status it calls final
/// must be the job's final status.
fn control_refusal_is_false(text: &str, jobs: &BTreeMap<i64, JobRow>) -> Option<String> {
    let (verb, rest) = text.split_once(" JOB ")?;
    let (id, rest) = rest.split_once(" via ")?;
    let id: i64 = id.parse().ok()?;
    let (_, error) = rest.split_once(": refused: ")?;
    let statement = format!("{verb} JOB {id}");
    if error.contains("syntax error") {
        return Some(format!("{statement} was refused as malformed: {error}"));
    }
    if let Some(named) = error.strip_prefix("job with ID ").and_then(|r| r.strip_suffix(" does not exist")) {
        if named != id.to_string() {
            return Some(format!("{statement} was refused as though it named job {named}"));
        }
        return jobs.contains_key(&id).then(|| format!("{statement} was refused for a job that does not exist, but SHOW JOBS lists job {id}"));
    }
    let (named, rest) = error.strip_prefix("job ")?.split_once(": cannot ")?;
    let (action, status) = rest.split_once(" a job whose status is ")?;
    if named != id.to_string() || !action.eq_ignore_ascii_case(verb) {
        return Some(format!("{statement} was refused as though it were {action} of job {named}"));
    }
    let ended = matches!(status, "succeeded" | "failed" | "canceled");
    let refusable = match verb {
        "PAUSE" | "RESUME" => ended || status == "cancel-requested",
        _ => ended,
    };
    if !refusable {
        return Some(format!("{statement} was refused for status {status}, which allows it"));
    }
    match jobs.get(&id) {
        Some(job) if ended && job.status != status => {
            Some(format!("{statement} was refused because job {id} had ended as {status}, but SHOW JOBS ends it as {}", job.status))
        }
        _ => None,
    }
}

/// The text of a trace line of event `event` (`<time> <who> <event> <text>`), if it is one.
fn event_text<'a>(line: &'a str, event: &str) -> Option<&'a str> {
    let rest = line.trim_start();
    let (_time, rest) = rest.split_once(' ')?;
    let (_who, rest) = rest.split_once(' ')?;
    rest.strip_prefix(event)?.strip_prefix(' ')
}

/// The error of a statement outcome line (`<time> <node> bulk-err <error>`), if it is one.
fn statement_error(line: &str) -> Option<&str> {
    event_text(line, sim::event::BULK_ERR)
}

/// True if `a` (sent, with secrets) and `b` (a description, secrets redacted) are one statement.
fn same_statement(a: &BackupStmt, b: &BackupStmt, secrets: &[&str]) -> bool {
    let passphrase_shown = match (&a.options.encryption_passphrase, &b.options.encryption_passphrase) {
        (None, None) => true,
        (Some(_), Some(shown)) => shown.expose() == REDACTED,
        _ => false,
    };
    let same_places = |x: &[String], y: &[String]| x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_location(x, y, secrets));
    a.targets == b.targets
        && a.as_of == b.as_of
        && a.options.revision_history == b.options.revision_history
        && passphrase_shown
        && same_places(&a.to, &b.to)
        && same_places(&a.incremental_from, &b.incremental_from)
}

/// A location as a comparable value: scheme, host, port, path without trailing slashes, and its
/// query parameters as a set, each secret value written as `redacted`.
#[derive(PartialEq, Eq)]
struct Place {
    /// Scheme, host and port.
    origin: (String, String, Option<u16>),
    path: String,
    params: BTreeSet<(String, String)>,
}

impl Place {
    /// `text` as a place, with the values among `secrets` redacted; `None` if it is not a URL.
    fn of(text: &str, secrets: &[&str]) -> Option<Place> {
        let u = url::Url::parse(text).ok()?;
        // A locality-aware BACKUP's `COCKROACH_LOCALITY` says which locality a URL of its list
        // is for, not where it is: a refusal names the location without it.
        let params = u
            .query_pairs()
            .filter(|(k, _)| k != backup::storage::url::LOCALITY_URL_PARAM)
            .map(|(k, v)| (k.into_owned(), if secrets.contains(&v.as_ref()) { REDACTED.to_string() } else { v.into_owned() }))
            .collect();
        Some(Place {
            origin: (u.scheme().to_string(), u.host_str().unwrap_or_default().to_string(), u.port()),
            path: u.path().trim_end_matches('/').to_string(),
            params,
        })
    }
}

/// True if two location texts name one place (either may have its secrets redacted).
fn same_location(a: &str, b: &str, secrets: &[&str]) -> bool {
    match (Place::of(a, secrets), Place::of(b, secrets)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// True if `inner` lies strictly inside the location `outer` (same place, longer path).
fn strictly_inside(inner: &str, outer: &str) -> bool {
    match (Place::of(inner, &[]), Place::of(outer, &[])) {
        (Some(i), Some(o)) => i.origin == o.origin && i.params == o.params && i.path.starts_with(&format!("{}/", o.path)),
        _ => false,
    }
}

/// What is false in `error`, a statement's error, if it is a refusal for a location in use whose
/// account of the holder is untrue; `None` for a true one or any other error.
fn refusal_is_false(error: &str, jobs: &BTreeMap<i64, JobRow>) -> Option<String> {
    // A job's failure reads "job N failed: <its error>".
    let error = match error.strip_prefix("job ").and_then(|r| r.split_once(" failed: ")) {
        Some((id, rest)) if id.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => error,
    };
    let holder_writes_to = |id: i64, url: &str| jobs.get(&id).is_some_and(|j| j.stmt.to.iter().any(|t| same_location(t, url, &[])));

    // A claim's holder: "(job N)" or "(job N, in <subdirectory>)".
    if let Some((_, rest)) = error.split_once("(job ") {
        if let Some((inside, _)) = rest.split_once(')') {
            let (id, sub) = match inside.split_once(", in ") {
                Some((id, sub)) => (id, Some(sub)),
                None => (inside, None),
            };
            if let Ok(id) = id.parse::<i64>() {
                let Some(job) = jobs.get(&id) else { return Some(format!("names job {id}, which SHOW JOBS does not list as a BACKUP job")) };
                if let Some(sub) = sub {
                    if !job.stmt.to.iter().any(|t| strictly_inside(sub, t)) {
                        return Some(format!("says job {id} writes in {sub}, which is not inside that job's destination ({})", job.description));
                    }
                }
            }
        }
    }

    let (url, rest) = error.split_once(" already contains a ")?;
    let (file, rest) = rest.split_once(" file (is another operation already in progress?): ")?;
    let detail = rest.strip_prefix("it belongs to ")?;
    let lock_id = file.strip_prefix("BACKUP-LOCK-").and_then(|id| id.parse::<i64>().ok());
    if let Some((id, rest)) = detail.strip_prefix("job ").and_then(|d| d.split_once(' ')) {
        let Ok(id) = id.trim_end_matches(',').parse::<i64>() else { return Some(format!("names a job whose id does not read: {detail:?}")) };
        if lock_id.is_some_and(|l| l != id) {
            return Some(format!("finds {file} but names job {id} as its owner"));
        }
        if rest.starts_with("which does not exist in this cluster") {
            return holder_writes_to(id, url).then(|| format!("says job {id} does not exist, but SHOW JOBS lists it backing up to {url}"));
        }
        let (status, advice) = rest.strip_prefix("of this cluster, whose status is ")?.split_once("; ")?;
        if !holder_writes_to(id, url) {
            return Some(format!("names job {id}, which SHOW JOBS does not list as a BACKUP to {url}"));
        }
        let finally = &jobs[&id].status;
        let terminal = matches!(status, "succeeded" | "failed" | "canceled");
        if terminal && finally != status {
            return Some(format!("says job {id} has ended as {status}, but SHOW JOBS ends it as {finally}"));
        }
        let deletes = advice.contains("safe to delete");
        let fits = match status {
            // Known to have ended, it will never write again: deleting is safe without the
            // condition an unknown holder's advice carries ("if no backup is running there").
            _ if terminal => deletes && advice.contains(file) && !advice.split_whitespace().any(|w| w == "if"),
            "paused" | "pause-requested" => !deletes && advice.contains(&format!("RESUME JOB {id}")) && advice.contains(&format!("CANCEL JOB {id}")),
            _ => !deletes && advice.contains(&format!("wait for job {id}")) && advice.contains(&format!("CANCEL JOB {id}")),
        };
        if !fits {
            return Some(format!("gives job {id}'s status as {status} and advises {advice:?}, which does not fit it"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, description: &str, status: &str) -> Vec<Datum> {
        let mut r = vec![Datum::Int(id), Datum::String("BACKUP".into()), Datum::String(description.into())];
        r.extend((3..13).map(|i| Datum::String(if i == 5 { status.into() } else { String::new() })));
        r
    }

    const SENT: &str = "BACKUP DATABASE bank TO 'azure://backups/seed-1?AZURE_ACCOUNT_NAME=acme&AZURE_ACCOUNT_KEY=s3cr3t' AS OF SYSTEM TIME '-1s' WITH revision_history, encryption_passphrase = 'pw'";
    const SHOWN: &str = "BACKUP DATABASE bank TO 'azure://backups/seed-1?AZURE_ACCOUNT_KEY=redacted&AZURE_ACCOUNT_NAME=acme' AS OF SYSTEM TIME '-1s' WITH revision_history, encryption_passphrase = 'redacted'";
    const SECRETS: [&str; 2] = ["s3cr3t", "pw"];

    fn run(rows: &[Vec<Datum>], lines: &[&str]) -> Result<(), Failure> {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        check(rows, &[SENT.to_string()], &lines, &SECRETS.map(String::from))
    }

    #[test]
    fn a_description_is_the_statement_sent_with_its_secrets_redacted() {
        run(&[row(7, SHOWN, "succeeded")], &[]).unwrap();
        // The backup code's own rendering of what was sent is such a description.
        let rendered = statement::parse(SENT).unwrap().redacted();
        run(&[row(7, &rendered, "succeeded")], &[]).unwrap();
    }

    #[test]
    fn a_description_that_drops_an_option_or_garbles_the_text_is_caught() {
        for wrong in [
            SHOWN.replace("revision_history, ", ""),
            SHOWN.replace("DATABASE bank", "DATABASE bunk"),
            SHOWN.replace("seed-1", "seed-2"),
            SHOWN.replace("'-1s'", "'-2s'"),
            SHOWN.replace(" WITH", "xyzzy WITH"),
        ] {
            let e = run(&[row(7, &wrong, "succeeded")], &[]).unwrap_err();
            assert_eq!(e.property, Property::JobAccountsTrue, "{wrong}: {e:?}");
        }
        let leaked = SHOWN.replace("encryption_passphrase = 'redacted'", "encryption_passphrase = 'pw'");
        assert_eq!(run(&[row(7, &leaked, "succeeded")], &[]).unwrap_err().property, Property::SecretsHidden);
    }

    const URL: &str = "azure://backups/seed-1?AZURE_ACCOUNT_KEY=redacted&AZURE_ACCOUNT_NAME=acme";

    fn refusal(id: i64, status: &str, advice: &str) -> String {
        format!(
            "  21.5s n2 bulk-err job 99 failed: {URL} already contains a BACKUP-LOCK-{id} file (is another operation already in progress?): it belongs to job {id} of this cluster, whose status is {status}; {advice}"
        )
    }

    #[test]
    fn a_refusal_must_name_its_holder_and_advise_what_its_status_allows() {
        let rows = [row(7, SHOWN, "succeeded")];
        let wait = "wait for job 7 to finish (SHOW JOBS), or CANCEL JOB 7";
        let resume = "RESUME JOB 7 to finish that backup, or CANCEL JOB 7 to discard it and free the location";
        let delete = format!("that job has ended and left its files behind: it is safe to delete {URL}/BACKUP-LOCK-7");
        for (status, advice) in [("running", wait), ("paused", resume), ("pause-requested", resume), ("succeeded", delete.as_str())] {
            run(&rows, &[&refusal(7, status, advice)]).unwrap();
        }
        let hedged = format!("if no backup is running there any more (for example its process was killed), it is safe to delete {URL}/BACKUP-LOCK-7");
        for (status, advice) in [
            ("running", resume),
            ("running", delete.as_str()),
            ("paused", wait),
            ("succeeded", wait),
            ("failed", delete.as_str()),
            ("succeeded", hedged.as_str()),
        ] {
            let e = run(&rows, &[&refusal(7, status, advice)]).unwrap_err();
            assert_eq!(e.property, Property::JobAccountsTrue, "{status}: {advice}");
        }
        // A holder SHOW JOBS does not list, or lists at another location.
        assert!(run(&rows, &[&refusal(8, "running", &wait.replace('7', "8"))]).is_err());
        let elsewhere = [row(7, &SHOWN.replace("seed-1", "seed-3"), "succeeded")];
        let sent_elsewhere = [SENT.replace("seed-1", "seed-3")];
        assert!(check(&elsewhere, &sent_elsewhere, &[refusal(7, "running", wait)], &SECRETS.map(String::from)).is_err());
    }

    #[test]
    fn an_operator_control_is_refused_only_for_what_the_status_forbids() {
        let rows = [row(7, SHOWN, "succeeded")];
        let control = |outcome: &str| format!("  4.2s operator job-control PAUSE JOB 7 via n3: {outcome}");
        for outcome in [
            "ok",
            "refused: job 7: cannot pause a job whose status is succeeded",
            "refused: job 7: cannot pause a job whose status is cancel-requested",
            "refused: gateway n3 unreachable: timeout",
        ] {
            run(&rows, &[&control(outcome)]).unwrap();
        }
        for outcome in [
            "refused: syntax error at or near \"7\" (line 1, column 11): expected the end of the statement",
            "refused: job with ID 7 does not exist",
            "refused: job with ID 8 does not exist",
            "refused: job 8: cannot pause a job whose status is succeeded",
            "refused: job 7: cannot resume a job whose status is succeeded",
            "refused: job 7: cannot pause a job whose status is running",
            "refused: job 7: cannot pause a job whose status is failed",
        ] {
            let e = run(&rows, &[&control(outcome)]).unwrap_err();
            assert_eq!(e.property, Property::JobAccountsTrue, "{outcome}");
        }
        let cancel = "  4.2s operator job-control CANCEL JOB 7 via n3: refused: job 7: cannot cancel a job whose status is cancel-requested";
        assert!(run(&rows, &[cancel]).is_err());
    }

    #[test]
    fn a_claim_names_its_holder_with_a_subdirectory_inside_its_destination() {
        let rows = [row(7, SHOWN, "running")];
        let claim = |inside: &str| {
            format!("  3.0s n1 bulk-err another incremental backup was appended to the backup ending at 5.0 at {URL} (job 7{inside}) while this one ran")
        };
        run(&rows, &[&claim("")]).unwrap();
        run(&rows, &[&claim(", in azure://backups/seed-1/2026/12/03-120000.00?AZURE_ACCOUNT_KEY=redacted&AZURE_ACCOUNT_NAME=acme")]).unwrap();
        assert!(run(&rows, &[&claim(", in azure://backups/seed-1?AZURE_ACCOUNT_KEY=redacted&AZURE_ACCOUNT_NAME=acme")]).is_err());
        assert!(run(&rows, &[&claim(", in azure://backups/seed-2/x?AZURE_ACCOUNT_KEY=redacted&AZURE_ACCOUNT_NAME=acme")]).is_err());
        assert!(run(&rows, &[&claim("").replace("job 7", "job 8")]).is_err());
    }
}
