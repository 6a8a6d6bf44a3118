//! The schedule statements' grammar (CockroachDB v21.1–v22.2):
//! ```text
//! create   := CREATE SCHEDULE (IF NOT EXISTS)? (str | name)? FOR BACKUP targets? INTO locations with?
//!             RECURRING (NEVER | str) (FULL BACKUP (ALWAYS | str))?
//!             (WITH SCHEDULE OPTIONS ('(' option (',' option)* ')' | option (',' option)*))?
//! show     := SHOW SCHEDULES | SHOW SCHEDULE integer
//! control  := (PAUSE | RESUME | DROP) SCHEDULE integer
//! ```

use super::{take_str, OptKind, Parser, Result};
use crate::statement::schedule::*;
use crate::statement::*;
use sqlparser::tokenizer::Token;
use std::collections::BTreeMap;

impl Parser {
    /// After `CREATE`: `SCHEDULE …`.
    pub(super) fn create_schedule(&mut self) -> Result<Statement> {
        self.expect_kw("SCHEDULE", "expected SCHEDULE after CREATE: only CREATE SCHEDULE … FOR BACKUP is supported")?;
        let mut if_not_exists = false;
        if self.eat_kw("IF") {
            self.expect_kw("NOT", "expected IF NOT EXISTS")?;
            self.expect_kw("EXISTS", "expected IF NOT EXISTS")?;
            if_not_exists = true;
        }
        // The label is CockroachDB's `non_reserved_word_or_sconst`: a string, or a name as its
        // docs write it (`CREATE SCHEDULE schedule_label FOR BACKUP …`), folded to lower case
        // unless double-quoted.
        let label = match self.peek() {
            Some(Token::SingleQuotedString(_)) | Some(Token::EscapedStringLiteral(_)) => Some(self.string("the schedule's label")?),
            Some(Token::Word(w)) if w.quote_style.is_some() || !w.value.eq_ignore_ascii_case("FOR") => Some(self.ident("the schedule's label")?),
            _ if if_not_exists => return Err(self.error("CREATE SCHEDULE IF NOT EXISTS needs the schedule's label")),
            _ => None,
        };
        self.expect_kw("FOR", "expected FOR BACKUP after the schedule's label")?;
        self.expect_kw("BACKUP", "expected BACKUP after FOR: only backup schedules are supported")?;
        let targets = self.targets(&["INTO", "TO"])?;
        if self.is_kw("TO") {
            return Err(self.error("a backup schedule writes into a collection: use INTO, not TO"));
        }
        self.expect_kw("INTO", "expected INTO and the collection's URL")?;
        let collection = if self.eat(&Token::LParen) {
            let list = self.string_list("a collection URL")?;
            if !self.eat(&Token::RParen) {
                return Err(self.error("expected , or ) in the collection list"));
            }
            list
        } else {
            vec![self.string("the collection's URL")?]
        };
        let mut opts = BTreeMap::new();
        if self.is_kw("WITH") && !self.next_is_kw("SCHEDULE") {
            opts = self.with_options(&[("revision_history", OptKind::Flag), ("encryption_passphrase", OptKind::Value), ("detached", OptKind::Flag)])?;
        }
        let backup_options = BackupOptions {
            revision_history: opts.remove("revision_history").is_some(),
            encryption_passphrase: take_str(&mut opts, "encryption_passphrase").map(Secret),
            detached: opts.remove("detached").is_some(),
        };
        self.expect_kw("RECURRING", "expected RECURRING and the schedule's cron expression (or NEVER)")?;
        let recurring = if self.eat_kw("NEVER") { Recurring::Never } else { Recurring::Cron(self.string("a cron expression, or NEVER")?) };
        let full_backup = if self.eat_kw("FULL") {
            self.expect_kw("BACKUP", "expected BACKUP after FULL")?;
            Some(if self.eat_kw("ALWAYS") { FullBackup::Always } else { FullBackup::Cron(self.string("the full backups' cron expression, or ALWAYS")?) })
        } else {
            None
        };
        let mut sched = BTreeMap::new();
        if self.eat_kw("WITH") {
            self.expect_kw("SCHEDULE", "expected SCHEDULE OPTIONS after WITH")?;
            if !self.is_kw("OPTIONS") {
                return Err(self.error("expected OPTIONS after WITH SCHEDULE"));
            }
            sched = self.options_after_with(
                &[
                    ("first_run", OptKind::Value),
                    ("on_execution_failure", OptKind::Value),
                    ("on_previous_running", OptKind::Value),
                    ("ignore_existing_backups", OptKind::Flag),
                ],
                true,
            )?;
        }
        let options = ScheduleOptions {
            first_run: take_str(&mut sched, "first_run"),
            on_execution_failure: take_str(&mut sched, "on_execution_failure"),
            on_previous_running: take_str(&mut sched, "on_previous_running"),
            ignore_existing_backups: sched.remove("ignore_existing_backups").is_some(),
        };
        Ok(Statement::Schedule(ScheduleStmt::Create(Box::new(CreateScheduleStmt {
            if_not_exists,
            label,
            targets,
            collection,
            backup_options,
            recurring,
            full_backup,
            options,
        }))))
    }

    /// After `SHOW`, at `SCHEDULES` or `SCHEDULE`.
    pub(super) fn show_schedules(&mut self) -> Result<Statement> {
        if self.eat_kw("SCHEDULES") {
            return Ok(Statement::Schedule(ScheduleStmt::Show(None)));
        }
        self.expect_kw("SCHEDULE", "expected SCHEDULE or SCHEDULES")?;
        Ok(Statement::Schedule(ScheduleStmt::Show(Some(self.schedule_id()?))))
    }

    /// After `PAUSE`, `RESUME` or `DROP`, at `SCHEDULE`.
    pub(super) fn control_schedule(&mut self, op: ScheduleControl) -> Result<Statement> {
        if self.is_kw("SCHEDULES") {
            return Err(self.error(format!("{} SCHEDULES with a selection is not supported: name one schedule, {} SCHEDULE id", op.verb(), op.verb())));
        }
        self.expect_kw("SCHEDULE", &format!("expected SCHEDULE after {}", op.verb()))?;
        Ok(Statement::Schedule(ScheduleStmt::Control(op, self.schedule_id()?)))
    }

    /// True when the token after the current one is the unquoted keyword `k`.
    fn next_is_kw(&self, k: &str) -> bool {
        matches!(self.toks.get(self.pos + 1).map(|t| &t.token), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k))
    }

    /// A schedule id: an INT8, as CockroachDB's.
    fn schedule_id(&mut self) -> Result<i64> {
        match self.peek() {
            Some(Token::Number(n, _)) => match n.parse::<i64>().ok().filter(|id| *id >= 0) {
                Some(id) => {
                    self.pos += 1;
                    Ok(id)
                }
                None => Err(self.error(format!("a schedule ID is a non-negative integer of at most {}", i64::MAX))),
            },
            _ => Err(self.error("expected a schedule ID")),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::statement::schedule::*;
    use crate::statement::*;

    fn create(sql: &str) -> CreateScheduleStmt {
        match parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}")) {
            Statement::Schedule(ScheduleStmt::Create(c)) => *c,
            other => panic!("{sql}: parsed as {other:?}"),
        }
    }

    #[test]
    fn create_schedule_takes_cockroachdbs_clauses() {
        let c = create(
            "CREATE SCHEDULE IF NOT EXISTS 'nightly' FOR BACKUP DATABASE bank INTO 's3://b/coll?AWS_SECRET_ACCESS_KEY=S3CR3T' \
             WITH revision_history, encryption_passphrase = 'pw-S3CR3T' RECURRING '@daily' FULL BACKUP '@weekly' \
             WITH SCHEDULE OPTIONS first_run = 'now', on_execution_failure = 'pause', on_previous_running = 'skip', ignore_existing_backups",
        );
        assert!(c.if_not_exists);
        assert_eq!(c.label.as_deref(), Some("nightly"));
        assert_eq!(c.targets, Targets::Databases(vec!["bank".into()]));
        assert!(c.backup_options.revision_history);
        assert_eq!(c.backup_options.encryption_passphrase.as_ref().map(Secret::expose), Some("pw-S3CR3T"));
        assert_eq!(c.recurring, Recurring::Cron("@daily".into()));
        assert_eq!(c.full_backup, Some(FullBackup::Cron("@weekly".into())));
        assert_eq!(c.options.first_run.as_deref(), Some("now"));
        assert_eq!(c.options.on_execution_failure.as_deref(), Some("pause"));
        assert_eq!(c.options.on_previous_running.as_deref(), Some("skip"));
        assert!(c.options.ignore_existing_backups);
        let shown = Statement::Schedule(ScheduleStmt::Create(Box::new(c.clone()))).redacted();
        assert!(!shown.contains("S3CR3T"), "{shown}");
        assert!(!format!("{c:?}").contains("S3CR3T"));
        // The redacted text parses back to the same statement, secrets aside.
        let back = create(&shown);
        assert_eq!(back.recurring, c.recurring);
        assert_eq!(back.options, c.options);
        assert_eq!(back.targets, c.targets);
    }

    #[test]
    fn the_short_forms_parse() {
        let c = create("CREATE SCHEDULE FOR BACKUP INTO 'nodelocal://1/c' RECURRING '*/5 * * * *' FULL BACKUP ALWAYS");
        assert_eq!((c.label, c.targets, c.full_backup), (None, Targets::Cluster, Some(FullBackup::Always)));
        let c = create("create schedule 'x' for backup table bank.customers into ('nodelocal://1/a', 'nodelocal://1/b') recurring never with schedule options (first_run = '2024-01-01 00:00:00')");
        assert_eq!(c.recurring, Recurring::Never);
        assert_eq!(c.collection.len(), 2);
        assert_eq!(c.options.first_run.as_deref(), Some("2024-01-01 00:00:00"));
        // A label written as a name, as CockroachDB's docs do: folded unless double-quoted.
        for (sql, label) in [
            ("CREATE SCHEDULE Schedule_Label FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily'", "schedule_label"),
            ("CREATE SCHEDULE IF NOT EXISTS \"Nightly Run\" FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily'", "Nightly Run"),
        ] {
            let c = create(sql);
            assert_eq!(c.label.as_deref(), Some(label), "{sql}");
            let parsed = parse(sql).unwrap();
            assert_eq!(parse(&parsed.redacted()).unwrap(), parsed, "{sql} renders and parses back");
        }
        for (sql, want) in [
            ("SHOW SCHEDULES", ScheduleStmt::Show(None)),
            ("SHOW SCHEDULE 42", ScheduleStmt::Show(Some(42))),
            ("PAUSE SCHEDULE 7", ScheduleStmt::Control(ScheduleControl::Pause, 7)),
            ("resume schedule 7;", ScheduleStmt::Control(ScheduleControl::Resume, 7)),
            ("DROP SCHEDULE 7", ScheduleStmt::Control(ScheduleControl::Drop, 7)),
        ] {
            let parsed = parse(sql).unwrap();
            assert_eq!(parsed, Statement::Schedule(want.clone()), "{sql}");
            assert_eq!(parse(&parsed.redacted()).unwrap(), parsed);
        }
        assert_eq!(parse("PAUSE JOB 7").unwrap(), Statement::PauseJob(7));
        assert!(is_bulk_statement("create schedule 'x' for backup into 'a' recurring '@daily'"));
        assert!(is_bulk_statement("DROP SCHEDULE 1") && !is_bulk_statement("CREATE TABLE t (a INT)") && !is_bulk_statement("DROP TABLE t"));
    }

    #[test]
    fn malformed_schedules_are_refused_where_they_go_wrong() {
        for (sql, piece) in [
            ("CREATE TABLE t (a INT)", "expected SCHEDULE after CREATE"),
            ("CREATE SCHEDULE IF NOT EXISTS FOR BACKUP INTO 'a' RECURRING '@daily'", "needs the schedule's label"),
            ("CREATE SCHEDULE 'x' BACKUP INTO 'a' RECURRING '@daily'", "expected FOR BACKUP"),
            ("CREATE SCHEDULE 'x' FOR BACKUP TO 'a' RECURRING '@daily'", "use INTO, not TO"),
            ("CREATE SCHEDULE 'x' FOR BACKUP INTO 'a'", "expected RECURRING"),
            ("CREATE SCHEDULE 'x' FOR BACKUP INTO 'a' RECURRING daily", "a cron expression, or NEVER"),
            ("CREATE SCHEDULE 'x' FOR BACKUP INTO 'a' RECURRING '@daily' FULL '@weekly'", "expected BACKUP after FULL"),
            ("CREATE SCHEDULE 'x' FOR BACKUP INTO 'a' RECURRING '@daily' WITH SCHEDULE OPTIONS first_runn = 'now'", "unknown option \"first_runn\""),
            ("CREATE SCHEDULE 'x' FOR BACKUP INTO 'a' RECURRING '@daily' WITH OPTIONS first_run = 'now'", "expected SCHEDULE OPTIONS"),
            ("CREATE SCHEDULE 'x' FOR BACKUP INTO 'a' WITH kms = 'k' RECURRING '@daily'", "unknown option \"kms\""),
            ("PAUSE SCHEDULES SELECT 1", "not supported"),
            ("DROP SCHEDULE x", "expected a schedule ID"),
            ("SHOW SCHEDULE", "expected a schedule ID"),
        ] {
            let e = parse(sql).unwrap_err();
            assert!(e.to_string().contains(piece), "{sql}: {e}");
        }
    }
}
