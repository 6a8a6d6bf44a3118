//! Canonical SQL for a parsed statement, with secrets replaced: passphrases by `'redacted'`,
//! locations by their redacted URL form. The output parses back to the same statement
//! (secrets aside), which the tests check.
//!
//! Never prints a [`Secret`]'s text or a location's raw text.

mod schedule;

use super::*;
use crate::storage::url::redact_location;

const REDACTED_LITERAL: &str = "'redacted'";

/// Words the parser will not take as bare identifiers, plus a few SQL reserved words, quoted
/// on output so the text parses back.
const QUOTE_THESE: [&str; 15] =
    ["to", "from", "as", "with", "incremental", "database", "table", "options", "of", "select", "public", "backup", "restore", "system", "into"];

pub(super) fn redacted(stmt: &Statement) -> String {
    match stmt {
        Statement::Backup(b) => {
            let mut out = match &b.into {
                None => format!("BACKUP{} TO ", targets(&b.targets)),
                Some(BackupInto::NewFull) => format!("BACKUP{} INTO ", targets(&b.targets)),
                Some(BackupInto::Chain(which)) => format!("BACKUP{} INTO {}", targets(&b.targets), in_collection(which)),
            };
            match b.to.as_slice() {
                [one] => out.push_str(&location(one)),
                many => out.push_str(&format!("({})", locations(many))),
            }
            out.push_str(&as_of(&b.as_of));
            if !b.incremental_from.is_empty() {
                out.push_str(&format!(" INCREMENTAL FROM {}", locations(&b.incremental_from)));
            }
            let mut opts = Vec::new();
            if b.options.revision_history {
                opts.push("revision_history".to_string());
            }
            if b.options.encryption_passphrase.is_some() {
                opts.push(format!("encryption_passphrase = {REDACTED_LITERAL}"));
            }
            if b.options.detached {
                opts.push("detached".to_string());
            }
            out.push_str(&with(opts));
            out
        }
        Statement::Restore(r) => {
            let which = r.in_collection.as_ref().map(in_collection).unwrap_or_default();
            let from = if r.from_localities.is_empty() { locations(&r.from) } else { backup_lists(&r.from, &r.from_localities) };
            let mut out = format!("RESTORE{} FROM {which}{from}", targets(&r.targets));
            out.push_str(&as_of(&r.as_of));
            let o = &r.options;
            let mut opts = Vec::new();
            if let Some(db) = &o.into_db {
                opts.push(format!("into_db = {}", literal(db)));
            }
            for (on, name) in [
                (o.skip_missing_foreign_keys, "skip_missing_foreign_keys"),
                (o.skip_missing_sequences, "skip_missing_sequences"),
                (o.skip_missing_views, "skip_missing_views"),
            ] {
                if on {
                    opts.push(name.to_string());
                }
            }
            if o.encryption_passphrase.is_some() {
                opts.push(format!("encryption_passphrase = {REDACTED_LITERAL}"));
            }
            if o.detached {
                opts.push("detached".to_string());
            }
            if let Some(db) = &o.new_db_name {
                opts.push(format!("new_db_name = {}", literal(db)));
            }
            if o.schema_only {
                opts.push("schema_only".to_string());
            }
            if o.verify_backup_table_data {
                opts.push("verify_backup_table_data".to_string());
            }
            out.push_str(&with(opts));
            out
        }
        Statement::ShowBackup(s) => {
            let kind = match s.kind {
                ShowBackupKind::Objects => "",
                ShowBackupKind::Schemas => "SCHEMAS ",
                ShowBackupKind::Files => "FILES ",
                ShowBackupKind::Ranges => "RANGES ",
            };
            let which = s.in_collection.as_ref().map(in_collection).unwrap_or_default();
            let shown = if s.location_localities.is_empty() {
                location(&s.location)
            } else {
                format!("({}, {})", location(&s.location), locations(&s.location_localities))
            };
            let mut out = format!("SHOW BACKUP {kind}{which}{shown}");
            let mut opts = Vec::new();
            if s.with_privileges {
                opts.push("privileges".to_string());
            }
            if s.check_files {
                opts.push("check_files".to_string());
            }
            if s.encryption_passphrase.is_some() {
                opts.push(format!("encryption_passphrase = {REDACTED_LITERAL}"));
            }
            out.push_str(&with(opts));
            out
        }
        Statement::ShowBackups(collection) => format!("SHOW BACKUPS IN {}", location(collection)),
        Statement::ShowJobs => "SHOW JOBS".to_string(),
        Statement::PauseJob(id) => format!("PAUSE JOB {id}"),
        Statement::ResumeJob(id) => format!("RESUME JOB {id}"),
        Statement::CancelJob(id) => format!("CANCEL JOB {id}"),
        Statement::SetClusterSetting { name, value } => format!("SET CLUSTER SETTING {name} = {}", literal(value)),
        Statement::ShowClusterSetting(name) => format!("SHOW CLUSTER SETTING {name}"),
        Statement::ShowLocality => "SHOW LOCALITY".to_string(),
        Statement::Schedule(s) => schedule::redacted(s),
    }
}

/// `LATEST IN ` or `'subdir' IN ` (a subdirectory is a path, not a secret).
fn in_collection(which: &InCollection) -> String {
    match which {
        InCollection::Latest => "LATEST IN ".to_string(),
        InCollection::Subdir(dir) => format!("{} IN ", literal(dir)),
    }
}

fn targets(t: &Targets) -> String {
    match t {
        Targets::Cluster => String::new(),
        Targets::Databases(dbs) => format!(" DATABASE {}", dbs.iter().map(|d| ident(d)).collect::<Vec<_>>().join(", ")),
        Targets::Tables(ps) => format!(" TABLE {}", ps.iter().map(pattern).collect::<Vec<_>>().join(", ")),
    }
}

fn pattern(p: &TablePattern) -> String {
    match p {
        TablePattern::Table { database: Some(db), table } => format!("{}.{}", ident(db), ident(table)),
        TablePattern::Table { database: None, table } => ident(table),
        TablePattern::AllTablesIn(db) => format!("{}.*", ident(db)),
    }
}

fn as_of(a: &Option<AsOf>) -> String {
    match a {
        None => String::new(),
        Some(AsOf(text)) => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            let numeric = digits.bytes().any(|b| b.is_ascii_digit())
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && digits.bytes().filter(|b| *b == b'.').count() <= 1
                && !digits.starts_with('.');
            if numeric {
                format!(" AS OF SYSTEM TIME {text}")
            } else {
                format!(" AS OF SYSTEM TIME {}", literal(text))
            }
        }
    }
}

fn with(opts: Vec<String>) -> String {
    if opts.is_empty() {
        String::new()
    } else {
        format!(" WITH {}", opts.join(", "))
    }
}

fn location(text: &str) -> String {
    literal(&redact_location(text))
}

fn locations(list: &[String]) -> String {
    list.iter().map(|l| location(l)).collect::<Vec<_>>().join(", ")
}

/// RESTORE's backups with the URLs given with each: a parenthesised list where there are some.
fn backup_lists(first: &[String], others: &[Vec<String>]) -> String {
    let item = |i: usize, f: &String| match others.get(i) {
        Some(more) if !more.is_empty() => format!("({}, {})", location(f), locations(more)),
        _ => location(f),
    };
    first.iter().enumerate().map(|(i, f)| item(i, f)).collect::<Vec<_>>().join(", ")
}

/// A SQL string literal (`'` doubled).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An identifier, bare if it is a plain lower-case name, else double-quoted.
fn ident(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !QUOTE_THESE.contains(&s);
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}
