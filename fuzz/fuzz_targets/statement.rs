//! `backup::statement::parse`: BACKUP / RESTORE / SHOW BACKUP / SHOW JOBS / PAUSE, RESUME,
//! CANCEL JOB, as typed in the shell. Never panics; whatever parses is recognised by
//! `is_bulk_statement` (how the shell routes statements here). A parsed statement's redacted
//! rendering (what job descriptions and logs show) parses again to the same statement, secrets
//! and locations aside: the same targets, time and options; every location that is a valid
//! storage URL shows as the same URL (secret parameters redacted); and a passphrase never shows.
//!
//! Locations that are not valid storage URLs are redacted as well as can be (the statement
//! fails at planning anyway), so for them only the parse-back is required: a fragment, for one,
//! is dropped, which can make the shown text a valid URL.
#![no_main]

use backup::statement::{is_bulk_statement, parse, ScheduleStmt, Secret, Statement};
use backup::storage::url::StorageUrl;
use libfuzzer_sys::fuzz_target;

/// The statement's locations, in order.
fn locations(s: &Statement) -> Vec<String> {
    match s {
        Statement::Backup(b) => b.to.iter().chain(&b.incremental_from).cloned().collect(),
        Statement::Restore(r) => r.from.iter().chain(r.from_localities.iter().flatten()).cloned().collect(),
        Statement::ShowBackup(s) => std::iter::once(&s.location).chain(&s.location_localities).cloned().collect(),
        Statement::ShowBackups(c) => vec![c.clone()],
        Statement::Schedule(ScheduleStmt::Create(c)) => c.collection.clone(),
        _ => Vec::new(),
    }
}

/// The passphrase, if the statement has one.
fn passphrase(s: &Statement) -> Option<String> {
    let p = match s {
        Statement::Backup(b) => b.options.encryption_passphrase.as_ref(),
        Statement::Restore(r) => r.options.encryption_passphrase.as_ref(),
        Statement::ShowBackup(s) => s.encryption_passphrase.as_ref(),
        Statement::Schedule(ScheduleStmt::Create(c)) => c.backup_options.encryption_passphrase.as_ref(),
        _ => None,
    };
    p.map(|p| p.expose().to_string())
}

/// The statement with every location and passphrase blanked (kept present or absent).
fn shape(s: &Statement) -> Statement {
    let blank = |v: &Vec<String>| vec![String::new(); v.len()];
    let secret = |p: &Option<Secret>| p.as_ref().map(|_| Secret::new(""));
    let mut s = s.clone();
    match &mut s {
        Statement::Backup(b) => {
            b.to = blank(&b.to);
            b.incremental_from = blank(&b.incremental_from);
            b.options.encryption_passphrase = secret(&b.options.encryption_passphrase);
        }
        Statement::Restore(r) => {
            r.from = blank(&r.from);
            r.from_localities = r.from_localities.iter().map(blank).collect();
            r.options.encryption_passphrase = secret(&r.options.encryption_passphrase);
        }
        Statement::ShowBackup(sb) => {
            sb.location = String::new();
            sb.location_localities = blank(&sb.location_localities);
            sb.encryption_passphrase = secret(&sb.encryption_passphrase);
        }
        Statement::ShowBackups(c) => *c = String::new(),
        Statement::Schedule(ScheduleStmt::Create(c)) => {
            c.collection = blank(&c.collection);
            c.backup_options.encryption_passphrase = secret(&c.backup_options.encryption_passphrase);
        }
        _ => {}
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    let bulk = is_bulk_statement(sql);
    let Ok(stmt) = parse(sql) else { return };
    // The shell routes a statement here only if it looks like one of these.
    assert!(bulk, "{sql:?} parses, but is_bulk_statement says it is not a bulk statement");
    let text = stmt.redacted();
    assert_eq!(format!("{stmt}"), text);
    let again = parse(&text).unwrap_or_else(|e| panic!("the rendering {text:?} of {sql:?} does not parse: {e}"));
    assert_eq!(shape(&again), shape(&stmt), "{sql:?} renders as {text:?}, which means something else");
    for (original, shown) in locations(&stmt).iter().zip(locations(&again)) {
        if let Ok(url) = StorageUrl::parse(original) {
            let shown_url = StorageUrl::parse(&shown).unwrap_or_else(|e| panic!("valid location {:?} shows as {shown:?}, which is not: {e}", url.redacted()));
            assert_eq!(shown_url.redacted(), url.redacted(), "{sql:?} renders as {text:?}");
        }
    }
    // A passphrase that appears nowhere else in the statement (and is not a word the rendering
    // itself writes) must not appear in the rendering.
    if let Some(p) = passphrase(&stmt) {
        let lower = sql.to_lowercase();
        let distinctive = p.chars().count() >= 8 && p.chars().any(|c| !c.is_alphabetic() && c != '_') && lower.matches(&p.to_lowercase()).count() == 1;
        assert!(!distinctive || !text.contains(&p), "the passphrase of {sql:?} shows in {text:?}");
    }
});
