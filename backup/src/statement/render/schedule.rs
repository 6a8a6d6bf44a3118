//! The schedule statements printed back as canonical SQL, secrets replaced (the collection's
//! URL redacted, a passphrase as `'redacted'`), in CockroachDB's clause order.

use super::{literal, locations, targets, with, REDACTED_LITERAL};
use crate::statement::schedule::*;

pub(super) fn redacted(s: &ScheduleStmt) -> String {
    match s {
        ScheduleStmt::Create(c) => create(c),
        ScheduleStmt::Show(None) => "SHOW SCHEDULES".to_string(),
        ScheduleStmt::Show(Some(id)) => format!("SHOW SCHEDULE {id}"),
        ScheduleStmt::Control(op, id) => format!("{} SCHEDULE {id}", op.verb()),
    }
}

fn create(c: &CreateScheduleStmt) -> String {
    let mut out = "CREATE SCHEDULE ".to_string();
    if c.if_not_exists {
        out.push_str("IF NOT EXISTS ");
    }
    if let Some(label) = &c.label {
        out.push_str(&literal(label));
        out.push(' ');
    }
    out.push_str(&format!("FOR BACKUP{} INTO ", targets(&c.targets)));
    match c.collection.as_slice() {
        [one] => out.push_str(&locations(std::slice::from_ref(one))),
        many => out.push_str(&format!("({})", locations(many))),
    }
    let mut opts = Vec::new();
    if c.backup_options.revision_history {
        opts.push("revision_history".to_string());
    }
    if c.backup_options.encryption_passphrase.is_some() {
        opts.push(format!("encryption_passphrase = {REDACTED_LITERAL}"));
    }
    if c.backup_options.detached {
        opts.push("detached".to_string());
    }
    out.push_str(&with(opts));
    match &c.recurring {
        Recurring::Cron(expr) => out.push_str(&format!(" RECURRING {}", literal(expr))),
        Recurring::Never => out.push_str(" RECURRING NEVER"),
    }
    match &c.full_backup {
        None => {}
        Some(FullBackup::Always) => out.push_str(" FULL BACKUP ALWAYS"),
        Some(FullBackup::Cron(expr)) => out.push_str(&format!(" FULL BACKUP {}", literal(expr))),
    }
    let o = &c.options;
    let mut sched = Vec::new();
    for (name, value) in [("first_run", &o.first_run), ("on_execution_failure", &o.on_execution_failure), ("on_previous_running", &o.on_previous_running)] {
        if let Some(v) = value {
            sched.push(format!("{name} = {}", literal(v)));
        }
    }
    if o.ignore_existing_backups {
        sched.push("ignore_existing_backups".to_string());
    }
    if !sched.is_empty() {
        out.push_str(&format!(" WITH SCHEDULE OPTIONS {}", sched.join(", ")));
    }
    out
}
