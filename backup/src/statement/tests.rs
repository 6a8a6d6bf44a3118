use super::*;
use proptest::prelude::*;

fn ok(sql: &str) -> Statement {
    match parse(sql) {
        Ok(s) => s,
        Err(e) => panic!("{sql:?} did not parse: {e}"),
    }
}

fn backup(sql: &str) -> BackupStmt {
    match ok(sql) {
        Statement::Backup(b) => b,
        other => panic!("{other:?}"),
    }
}

fn restore(sql: &str) -> RestoreStmt {
    match ok(sql) {
        Statement::Restore(r) => r,
        other => panic!("{other:?}"),
    }
}

fn err(sql: &str) -> ParseError {
    match parse(sql) {
        Ok(s) => panic!("{sql:?} parsed as {s:?}"),
        Err(e) => e,
    }
}

fn table(db: &str, t: &str) -> TablePattern {
    TablePattern::Table { database: Some(db.into()), table: t.into() }
}

/// Every example statement of the seed page, verbatim (without the `> ` prompt), with its
/// shell-style line continuations.
const SEED_EXAMPLES: [&str; 6] = [
    "BACKUP TO \\\n'gs://acme-co-backup/test-cluster' \\\nAS OF SYSTEM TIME '-10s';",
    "BACKUP DATABASE bank \\\nTO 'gs://acme-co-backup/database-bank-2017-03-27-weekly' \\\nAS OF SYSTEM TIME '-10s';",
    "BACKUP DATABASE bank, employees \\\nTO 'gs://acme-co-backup/database-bank-2017-03-27-weekly' \\\nAS OF SYSTEM TIME '-10s';",
    "BACKUP bank.customers \\\nTO 'gs://acme-co-backup/bank-customers-2017-03-27-weekly' \\\nAS OF SYSTEM TIME '-10s';",
    "BACKUP bank.customers, bank.accounts \\\nTO 'gs://acme-co-backup/database-bank-2017-03-27-weekly' \\\nAS OF SYSTEM TIME '-10s';",
    "SHOW JOBS",
];

#[test]
fn seed_examples_parse_verbatim() {
    let as_of = Some(AsOf("-10s".into()));
    let b = backup(SEED_EXAMPLES[0]);
    assert_eq!(b.targets, Targets::Cluster);
    assert_eq!(b.to, vec!["gs://acme-co-backup/test-cluster"]);
    assert_eq!(b.as_of, as_of);
    assert_eq!(b.options, BackupOptions::default());
    assert!(b.incremental_from.is_empty());

    let b = backup(SEED_EXAMPLES[1]);
    assert_eq!(b.targets, Targets::Databases(vec!["bank".into()]));
    assert_eq!(b.to, vec!["gs://acme-co-backup/database-bank-2017-03-27-weekly"]);
    assert_eq!(b.as_of, as_of);

    let b = backup(SEED_EXAMPLES[2]);
    assert_eq!(b.targets, Targets::Databases(vec!["bank".into(), "employees".into()]));

    let b = backup(SEED_EXAMPLES[3]);
    assert_eq!(b.targets, Targets::Tables(vec![table("bank", "customers")]));
    assert_eq!(b.to, vec!["gs://acme-co-backup/bank-customers-2017-03-27-weekly"]);

    let b = backup(SEED_EXAMPLES[4]);
    assert_eq!(b.targets, Targets::Tables(vec![table("bank", "customers"), table("bank", "accounts")]));
    assert_eq!(b.as_of, as_of);

    assert_eq!(ok(SEED_EXAMPLES[5]), Statement::ShowJobs);
    // The job-control table's statements, with an id.
    assert_eq!(ok("PAUSE JOB 27536791415282"), Statement::PauseJob(27536791415282));
    assert_eq!(ok("RESUME JOB 27536791415282;"), Statement::ResumeJob(27536791415282));
    assert_eq!(ok("cancel job 1"), Statement::CancelJob(1));
    assert_eq!(ok("CANCEL JOB 9223372036854775807"), Statement::CancelJob(i64::MAX as u64));
    // The synopsis, filled in.
    let b = backup(
        "BACKUP TABLE bank.customers, bank.* TO 'gs://b/inc2' AS OF SYSTEM TIME '-10s' \
         INCREMENTAL FROM 'gs://b/full', 'gs://b/inc1' WITH revision_history, encryption_passphrase = 'pw'",
    );
    assert_eq!(b.targets, Targets::Tables(vec![table("bank", "customers"), TablePattern::AllTablesIn("bank".into())]));
    assert_eq!(b.incremental_from, vec!["gs://b/full", "gs://b/inc1"]);
    assert!(b.options.revision_history);
    assert_eq!(b.options.encryption_passphrase.as_ref().map(Secret::expose), Some("pw"));
    // The elided `BACKUP...AS OF` of the performance section is not a statement.
    assert!(parse("BACKUP...AS OF SYSTEM TIME '-10s';").is_err());
}

#[test]
fn backup_forms() {
    let b = backup("backup to ('nodelocal://1/a', 'nodelocal://2/b') as of system time 1585000000000000000.0000000001");
    assert_eq!(b.to, vec!["nodelocal://1/a", "nodelocal://2/b"]);
    assert_eq!(b.as_of, Some(AsOf("1585000000000000000.0000000001".into())));
    let b = backup("BACKUP TABLE \"Bank\".\"My Table\", t, db.public.u, db.public.* TO 'x' WITH OPTIONS (revision_history)");
    assert_eq!(
        b.targets,
        Targets::Tables(vec![
            table("Bank", "My Table"),
            TablePattern::Table { database: None, table: "t".into() },
            table("db", "u"),
            TablePattern::AllTablesIn("db".into()),
        ])
    );
    assert!(b.options.revision_history);
    let b = backup("BACKUP DATABASE BANK TO 'x' WITH 'revision_history';;");
    assert_eq!(b.targets, Targets::Databases(vec!["bank".into()]));
    assert!(b.options.revision_history);
    let b = backup("BACKUP TO 'x' AS OF SYSTEM TIME -5 -- comment\n");
    assert_eq!(b.as_of, Some(AsOf("-5".into())));
    let b = backup("/* c */ BACKUP TO E'it''s' AS OF SYSTEM TIME '2020-03-27 10:00:00'");
    assert_eq!(b.to, vec!["it's"]);
    assert_eq!(b.as_of, Some(AsOf("2020-03-27 10:00:00".into())));
    // Line continuations with trailing blanks and CRLF.
    backup("BACKUP TO \\  \r\n'x' \\\r\nAS OF SYSTEM TIME '-10s'");
}

/// RESTORE and SHOW BACKUP take a locality-aware backup as a parenthesised list whose first
/// URL holds the manifest; RESTORE's backups may mix lists and single URLs, and a list of one
/// is that URL.
#[test]
fn locality_aware_lists() {
    let r = restore("RESTORE FROM ('nodelocal://1/a', 'nodelocal://2/a'), 'nodelocal://1/b', ('nodelocal://1/c', 'nodelocal://2/c', 'nodelocal://3/c')");
    assert_eq!(r.from, vec!["nodelocal://1/a", "nodelocal://1/b", "nodelocal://1/c"]);
    assert_eq!(r.from_localities, vec![vec!["nodelocal://2/a".to_string()], vec![], vec!["nodelocal://2/c".to_string(), "nodelocal://3/c".to_string()]]);
    let r = restore("RESTORE FROM ('nodelocal://1/a'), 'nodelocal://1/b'");
    assert_eq!((r.from.len(), r.from_localities.len()), (2, 0));
    let s = match ok("SHOW BACKUP FILES ('nodelocal://1/a', 'nodelocal://2/a') WITH check_files") {
        Statement::ShowBackup(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!((s.location.as_str(), s.location_localities.clone()), ("nodelocal://1/a", vec!["nodelocal://2/a".to_string()]));
    // The list as BACKUP took it (CockroachDB's docs restore from it so): the parameters are
    // dropped and the URL marked default holds the manifest, wherever it stands.
    let r = restore("RESTORE FROM ('s3://w/p?AUTH=implicit&COCKROACH_LOCALITY=region%3Dus-west', 's3://e/p?COCKROACH_LOCALITY=default&AUTH=implicit')");
    assert_eq!((r.from, r.from_localities), (vec!["s3://e/p?AUTH=implicit".to_string()], vec![vec!["s3://w/p?AUTH=implicit".to_string()]]));
    let s = match ok("SHOW BACKUP ('nodelocal://1/w?COCKROACH_LOCALITY=region%3Dus-west', 'nodelocal://1/e?COCKROACH_LOCALITY=default')") {
        Statement::ShowBackup(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!((s.location.as_str(), s.location_localities.clone()), ("nodelocal://1/e", vec!["nodelocal://1/w".to_string()]));
    for sql in [
        "RESTORE FROM ('nodelocal://1/a', 'nodelocal://2/a'), 'nodelocal://1/b'",
        "SHOW BACKUP ('nodelocal://1/a', 'nodelocal://2/a')",
        "BACKUP TO ('nodelocal://1/a?COCKROACH_LOCALITY=default', 'nodelocal://2/a?COCKROACH_LOCALITY=region%3Dus-west')",
    ] {
        let stmt = ok(sql);
        assert_eq!(stmt.redacted(), sql, "renders as written");
        assert_eq!(ok(&stmt.redacted()), stmt);
    }
}

#[test]
fn restore_and_show_forms() {
    let r = restore("RESTORE FROM 'gs://b/full', 'gs://b/inc' AS OF SYSTEM TIME '-1h'");
    assert_eq!(r.targets, Targets::Cluster);
    assert_eq!(r.from, vec!["gs://b/full", "gs://b/inc"]);
    assert_eq!(r.as_of, Some(AsOf("-1h".into())));
    let r = restore(
        "RESTORE TABLE bank.customers FROM 'x' WITH into_db = 'newdb', skip_missing_foreign_keys, \
         skip_missing_sequences, skip_missing_views, encryption_passphrase = 'pw', detached",
    );
    assert_eq!(r.targets, Targets::Tables(vec![table("bank", "customers")]));
    assert_eq!(
        r.options,
        RestoreOptions {
            into_db: Some("newdb".into()),
            skip_missing_foreign_keys: true,
            skip_missing_sequences: true,
            skip_missing_views: true,
            encryption_passphrase: Some(Secret::new("pw")),
            detached: true,
            new_db_name: None,
            schema_only: false,
            verify_backup_table_data: false,
        }
    );
    let r = restore("RESTORE DATABASE bank, other FROM 'x'");
    assert_eq!(r.targets, Targets::Databases(vec!["bank".into(), "other".into()]));
    let r = restore("RESTORE bank.* FROM 'x'");
    assert_eq!(r.targets, Targets::Tables(vec![TablePattern::AllTablesIn("bank".into())]));

    let show = |sql| match ok(sql) {
        Statement::ShowBackup(s) => s,
        other => panic!("{other:?}"),
    };
    let s = show("SHOW BACKUP 'gs://b/x'");
    assert_eq!((s.kind, s.location.as_str(), s.with_privileges), (ShowBackupKind::Objects, "gs://b/x", false));
    let s = show("show backup schemas 'x' with privileges, encryption_passphrase = 'pw'");
    assert_eq!(s.kind, ShowBackupKind::Schemas);
    assert!(s.with_privileges);
    assert_eq!(s.encryption_passphrase, Some(Secret::new("pw")));
    assert_eq!(show("SHOW BACKUP FILES 'x'").kind, ShowBackupKind::Files);
    assert_eq!(show("SHOW BACKUP RANGES 'x'").kind, ShowBackupKind::Ranges);
}

/// Each error case: the statement, the token it must be near, and a piece of the message.
#[test]
fn errors_name_the_offending_token() {
    let cases: &[(&str, &str, &str)] = &[
        ("BACKUP TO 'x' WITH revision_histroy", "revision_histroy", "unknown option \"revision_histroy\""),
        ("BACKUP TO 'x' WITH revision_history, revision_history", "revision_history", "more than once"),
        ("BACKUP TO 'x' WITH encryption_passphrase", "EOF", "requires a value"),
        ("BACKUP TO 'x' WITH encryption_passphrase, revision_history", ",", "requires a value"),
        ("BACKUP TO 'x' WITH revision_history = 'yes'", "=", "takes no value"),
        ("BACKUP TO 'x' WITH detached = 'true'", "=", "takes no value"),
        ("RESTORE FROM 'x' WITH detached = 'on'", "=", "takes no value"),
        ("RESTORE FROM 'x' WITH skip_missing_views = 'true'", "=", "takes no value"),
        ("RESTORE FROM 'x' WITH into_db", "EOF", "requires a value"),
        ("RESTORE FROM 'x' WITH into_db = newdb", "newdb", "requires a string value"),
        ("RESTORE FROM 'x' WITH revision_history", "revision_history", "unknown option"),
        ("SHOW BACKUP 'x' WITH revision_history", "revision_history", "unknown option"),
        ("BACKUP TO 'x' WITH", "EOF", "expected an option name"),
        ("BACKUP TO 'x' WITH OPTIONS (revision_history", "EOF", "expected , or )"),
        ("BACKUP DATABASE bank", "EOF", "expected TO"),
        ("BACKUP bank.customers 'gs://x'", "'…'", "expected TO"),
        ("RESTORE DATABASE bank", "EOF", "expected FROM"),
        ("BACKUP DATABASE TO 'x'", "TO", "expected a database name"),
        ("BACKUP TABLE TO 'x'", "TO", "expected a table name"),
        ("BACKUP DATABASE bank, TO 'x'", "TO", "expected a database name"),
        ("BACKUP TO", "EOF", "expected a destination URL"),
        ("BACKUP TO ()", ")", "expected a destination URL"),
        ("BACKUP TO ('a' 'b')", "'…'", "expected , or )"),
        ("BACKUP TO 'x' garbage", "garbage", "unexpected text after the end"),
        ("BACKUP TO 'x'; SELECT 1", "SELECT", "unexpected text after the end"),
        ("BACKUP TO 'x' AS OF SYSTEM '-10s'", "'…'", "expected AS OF SYSTEM TIME"),
        ("BACKUP TO 'x' AS OF SYSTEM TIME now()", "now", "AS OF SYSTEM TIME expects"),
        ("BACKUP TO 'x' INCREMENTAL 'y'", "'…'", "expected FROM after INCREMENTAL"),
        ("BACKUP TO 'x' INCREMENTAL FROM", "EOF", "previous backup"),
        ("BACKUP TO 'x' WITH revision_history AS OF SYSTEM TIME '-1s'", "AS", "unexpected text"),
        ("BACKUP * TO 'x'", "*", "bare *"),
        ("BACKUP db.sch.t TO 'x'", "sch", "user-defined schemas"),
        ("BACKUP db. TO 'x'", "TO", "after '.'"),
        ("RESTORE FROM ('a' 'b')", "'…'", "expected , or ) in the locality-aware list"),
        ("SHOW BACKUP ('a', 'b'", "EOF", "expected , or ) in the locality-aware list"),
        ("SHOW BACKUP", "EOF", "the backup's location"),
        ("SHOW BACKUPS 'x'", "'…'", "expected IN"),
        ("BACKUP INTO LATEST 'x'", "'…'", "expected IN"),
        ("BACKUP INTO '' IN 'x'", "'…'", "must not be empty"),
        ("BACKUP INTO 'x' INCREMENTAL FROM 'y'", "INCREMENTAL", "cannot be used with BACKUP INTO"),
        ("RESTORE FROM LATEST IN 'a', 'b'", ",", "unexpected text"),
        ("SHOW BACKUP LATEST 'x'", "'…'", "expected IN"),
        ("SHOW TABLES", "TABLES", "expected BACKUP, JOBS, CLUSTER SETTING or LOCALITY"),
        ("PAUSE JOB", "EOF", "expected a job ID"),
        ("PAUSE JOBS 1", "JOBS", "expected JOB"),
        ("CANCEL JOB 1.5", "1.5", "non-negative integer"),
        ("CANCEL JOB 9223372036854775808", "9223372036854775808", "of at most 9223372036854775807"),
        ("RESUME JOB -1", "-", "expected a job ID"),
        ("SELECT 1", "SELECT", "expected BACKUP, RESTORE"),
        ("", "EOF", "expected BACKUP"),
        ("BACKUP TO \\ 'x'", "\\", "line continuation"),
    ];
    for (sql, near, msg) in cases {
        let e = err(sql);
        assert_eq!(e.near, *near, "{sql:?}: {e}");
        assert!(e.message.contains(msg), "{sql:?}: {e}");
        assert!(e.to_string().contains(&format!("at or near {near:?}")), "{sql:?}: {e}");
    }
}

#[test]
fn option_errors_are_their_own_kind() {
    for sql in [
        "BACKUP TO 'x' WITH revision_histroy",
        "BACKUP TO 'x' WITH revision_history, revision_history",
        "BACKUP TO 'x' WITH encryption_passphrase",
        "BACKUP TO 'x' WITH revision_history = 'yes'",
        "RESTORE FROM 'x' WITH into_db = newdb",
        "RESTORE FROM 'x' WITH into_db = ''",
        "SHOW BACKUP 'x' WITH encryption_passphrase = ''",
    ] {
        assert_eq!(err(sql).kind, ParseErrorKind::Option, "{sql}");
    }
    for sql in ["BACKUP DATABASE TO 'x'", "BACKUP TO 'x' WITH", "SHOW BACKUP", "BACKUP TO 'unterminated"] {
        assert_eq!(err(sql).kind, ParseErrorKind::Syntax, "{sql}");
    }
}

#[test]
fn an_empty_or_blank_passphrase_is_refused_for_every_statement() {
    for stmt in ["BACKUP DATABASE bank TO 'x'", "RESTORE DATABASE bank FROM 'x'", "SHOW BACKUP 'x'", "SHOW BACKUP FILES 'x'"] {
        for value in ["''", "'   '", "E'\\t'", "'\n'"] {
            let sql = format!("{stmt} WITH encryption_passphrase = {value}");
            let e = err(&sql);
            assert_eq!(e.kind, ParseErrorKind::Option, "{sql}");
            assert!(e.message.contains("\"encryption_passphrase\" must not be empty"), "{sql}: {e}");
            assert_eq!(e.near, "redacted", "{sql}: {e}");
        }
        // A passphrase with spaces around text is a passphrase.
        ok(&format!("{stmt} WITH encryption_passphrase = ' pw '"));
    }
    let e = err("RESTORE DATABASE bank FROM 'x' WITH into_db = ''");
    assert!(e.message.contains("\"into_db\" must not be empty"), "{e}");
}

#[test]
fn doubled_quotes_in_quoted_identifiers_are_one_quote() {
    let b = backup("BACKUP DATABASE \"bank\"\"quote\" TO 'x'");
    assert_eq!(b.targets, Targets::Databases(vec!["bank\"quote".into()]));
    let b = backup("BACKUP TABLE \"a\"\"b\".\"c\"\"\"\"d\" TO 'nodelocal://1/x'");
    assert_eq!(b.targets, Targets::Tables(vec![table("a\"b", "c\"\"d")]));
    assert_eq!(ok(&Statement::Backup(b.clone()).redacted()), Statement::Backup(b));
    let r = restore("RESTORE DATABASE \"bank\"\"quote\" FROM 'x'");
    assert_eq!(r.targets, Targets::Databases(vec!["bank\"quote".into()]));
    // An error near such a name shows it as written.
    let e = err("BACKUP DATABASE bank \"q\"\"x\" TO 'x'");
    assert_eq!(e.near, "\"q\"\"x\"", "{e}");
}

#[test]
fn errors_point_at_line_and_column() {
    let e = err("BACKUP DATABASE bank\nTO 'x' WITH frobnicate");
    assert_eq!((e.line, e.column), (2, 13));
    assert_eq!(
        e.to_string(),
        "syntax error at or near \"frobnicate\" (line 2, column 13): unknown option \"frobnicate\" \
         (expected one of: revision_history, encryption_passphrase, detached)"
    );
    let e = err("BACKUP TO 'unterminated");
    assert!(e.near.is_empty());
    assert!(e.to_string().starts_with("syntax error (line 1, column"), "{e}");
}

#[test]
fn errors_never_echo_a_passphrase() {
    for sql in [
        "BACKUP TO 'x' WITH encryption_passphrase hunter2",
        "BACKUP TO 'x' WITH encryption_passphrase = hunter2",
        "BACKUP TO 'x' WITH encryption_passphrase = 'hunter2' hunter2",
        "BACKUP TO 'x' WITH encryption_passphrase 'hunter2'",
        "BACKUP TO 'x' WITH encryption_passphrase = 'hunter2', encryption_passphrase = 'hunter2'",
        "BACKUP TO 'x' WITH encryption_passphrase = 'hunter2', 'hunter2'",
        "BACKUP TO 'x' WITH encryption_passphrase = 'hunter2' AS OF SYSTEM TIME '-1s'",
        "BACKUP TO 'x' WITH encryption_passphrase = 'hunter2",
        "BACKUP TO 'x' WITH encryption_passphrase = U&'hunter2\\zzzz'",
        "BACKUP TO 's3://b/p?AWS_SECRET_ACCESS_KEY=hunter2' 'hunter2'",
        "RESTORE FROM 'x' WITH encryption_passphrase = $hunter2$",
        "SHOW BACKUP 'x' WITH encryption_passphrase = 1234hunter2",
    ] {
        let e = err(sql);
        assert!(!e.to_string().contains("hunter2"), "{sql:?}: {e}");
    }
}

#[test]
fn redacted_hides_every_secret() {
    let s = ok("BACKUP DATABASE bank TO 's3://bucket/path?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=hunter2' \
               AS OF SYSTEM TIME '-10s' INCREMENTAL FROM 'azure://c/p?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=hunter2' \
               WITH revision_history, encryption_passphrase = 'hunter2'");
    let text = s.redacted();
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(
        text,
        "BACKUP DATABASE bank TO 's3://bucket/path?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=redacted' \
         AS OF SYSTEM TIME '-10s' INCREMENTAL FROM 'azure://c/p?AZURE_ACCOUNT_KEY=redacted&AZURE_ACCOUNT_NAME=acct' \
         WITH revision_history, encryption_passphrase = 'redacted'"
    );
    assert_eq!(s.to_string(), text);
    assert!(!format!("{s:?}").contains("hunter2"));
    let r = ok("RESTORE FROM 'gs://b/p?AUTH=specified&CREDENTIALS=aHVudGVyMg%3D%3D' WITH encryption_passphrase = 'hunter2'");
    assert!(!r.redacted().contains("hunter2") && !r.redacted().contains("aHVudGVyMg"), "{}", r.redacted());
    let show = ok("SHOW BACKUP 'x' WITH encryption_passphrase = 'hunter2'");
    assert_eq!(show.redacted(), "SHOW BACKUP 'redacted' WITH encryption_passphrase = 'redacted'");
    // A location that is not a valid storage URL still has its secrets removed.
    let bad = ok("BACKUP TO 's3://bucket/p?AWS_SECRET_ACCESS_KEY=hunter2&BOGUS=hunter2'");
    assert!(!bad.redacted().contains("hunter2"), "{}", bad.redacted());
    let bad = ok("BACKUP TO 'http://user:hunter2@host/p'");
    assert!(!bad.redacted().contains("hunter2"), "{}", bad.redacted());
}

#[test]
fn redacted_text_parses_back() {
    for sql in [
        "BACKUP TO 'gs://acme-co-backup/test-cluster' AS OF SYSTEM TIME '-10s'",
        "BACKUP TABLE \"My DB\".\"t\"\"x\", a.*, \"to\" TO ('nodelocal://1/a', 'nodelocal://self/b') \
         AS OF SYSTEM TIME 1585000000000000000.0000000001 INCREMENTAL FROM 'http://h:8080/full' WITH revision_history",
        "RESTORE DATABASE bank FROM 'gs://b/x', 'gs://b/y' WITH into_db = 'it''s', skip_missing_views",
        "SHOW BACKUP FILES 'nodelocal://1/x' WITH privileges",
        "SHOW BACKUP 'nodelocal://1/x' WITH check_files, privileges",
        "RESTORE DATABASE bank FROM 'gs://b/x' WITH new_db_name = 'Bank''s copy', schema_only, verify_backup_table_data",
        "SHOW JOBS",
        "CANCEL JOB 7",
        "BACKUP DATABASE bank INTO 'nodelocal://1/c' AS OF SYSTEM TIME '-1s' WITH revision_history, detached",
        "BACKUP TABLE \"into\" INTO LATEST IN 's3://b/c' WITH revision_history",
        "BACKUP INTO '/2024/05/01-120000.00' IN ('nodelocal://1/a', 'nodelocal://2/b')",
        "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/c' AS OF SYSTEM TIME '-5s' WITH new_db_name = 'b2'",
        "RESTORE FROM 'it''s' IN 'nodelocal://1/c'",
        "SHOW BACKUP FILES LATEST IN 'nodelocal://1/c' WITH check_files",
        "SHOW BACKUP '/2024/05/01-120000.00' IN 'nodelocal://1/c'",
        "SHOW BACKUPS IN 'gs://b/c'",
    ] {
        let s = ok(sql);
        let again = ok(&s.redacted());
        assert_eq!(again, s, "{sql:?} -> {}", s.redacted());
        assert_eq!(again.redacted(), s.redacted());
    }
}

#[test]
fn secret_type_never_prints_its_text() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "redacted redacted");
    assert_eq!(s.expose(), "hunter2");
}

#[test]
fn bulk_statements_are_recognised() {
    for sql in [
        "BACKUP TO 'x'",
        "restore from 'x'",
        "SHOW BACKUP 'x'",
        "show jobs",
        "PAUSE JOB 1",
        "resume job 1",
        "CANCEL JOB 1",
        "  -- c\n BACKUP TO 'unterminated",
        "SHOW BACKUPS IN 'x'",
        "show locality",
    ] {
        assert!(is_bulk_statement(sql), "{sql:?}");
    }
    for sql in ["SELECT 1", "SHOW TABLES", "CANCEL QUERY 'x'", "", "'BACKUP'", "\"backup\" TO"] {
        assert!(!is_bulk_statement(sql), "{sql:?}");
    }
}

fn sql_fragment() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "BACKUP",
        "RESTORE",
        "SHOW",
        "JOBS",
        "JOB",
        "PAUSE",
        "DATABASE",
        "TABLE",
        "TO",
        "FROM",
        "AS",
        "OF",
        "SYSTEM",
        "TIME",
        "INCREMENTAL",
        "WITH",
        "OPTIONS",
        "(",
        ")",
        ",",
        ".",
        "*",
        "=",
        ";",
        "'x'",
        "'-10s'",
        "123",
        "-",
        "1.5",
        "bank",
        "\"Q\"",
        "revision_history",
        "encryption_passphrase",
        "into_db",
        "skip_missing_views",
        "privileges",
        "\\\n",
        "\\",
        "'",
        "\"",
        "E'",
        "U&'\\",
        "$$",
        "/*",
        "--",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = parse(&s);
        let _ = is_bulk_statement(&s);
    }

    #[test]
    fn parse_never_panics_on_token_soup(parts in prop::collection::vec(sql_fragment(), 0..16)) {
        let sql = parts.join(" ");
        if let Ok(stmt) = parse(&sql) {
            // Whatever parses prints as text that parses again.
            let text = stmt.redacted();
            prop_assert!(parse(&text).is_ok(), "{} -> {}", sql, text);
        }
        let _ = is_bulk_statement(&sql);
    }

    #[test]
    fn passphrase_never_in_errors_or_redacted_text(secret in "[a-zA-Z0-9]{10,16}", tail in prop::collection::vec(sql_fragment(), 0..4)) {
        let secret = format!("Pw{secret}");
        let sql = format!("BACKUP TO 'x' WITH encryption_passphrase = '{secret}' {}", tail.join(" "));
        match parse(&sql) {
            Ok(s) => {
                let shown = format!("{} {:?}", s.redacted(), s);
                prop_assert!(!shown.contains(&secret), "{}", shown);
            }
            Err(e) => prop_assert!(!e.to_string().contains(&secret), "{}", e),
        }
    }
}

#[test]
fn detached_is_a_backup_flag_kept_in_the_description() {
    let b = backup("BACKUP DATABASE bank TO 'nodelocal://1/b' WITH detached, revision_history");
    assert!(b.options.detached && b.options.revision_history);
    let stmt = parse("BACKUP DATABASE bank TO 'nodelocal://1/b' WITH detached").unwrap();
    assert_eq!(stmt.redacted(), "BACKUP DATABASE bank TO 'nodelocal://1/b' WITH detached");
    assert!(!backup("BACKUP DATABASE bank TO 'nodelocal://1/b'").options.detached);
}

/// The later RESTORE and SHOW BACKUP options (issue #17): parsed into their fields, in any order
/// and in the `WITH OPTIONS (…)` form, printed back in the job's description, and refused as
/// options when misspelt, repeated, given a value they do not take or lacking one they need.
#[test]
fn later_restore_and_show_options() {
    let r = restore("RESTORE DATABASE bank FROM 'x' WITH schema_only, new_db_name = 'bank2', verify_backup_table_data");
    assert_eq!(r.options.new_db_name.as_deref(), Some("bank2"));
    assert!(r.options.schema_only && r.options.verify_backup_table_data);
    let r = restore("RESTORE DATABASE bank FROM 'x' WITH OPTIONS (new_db_name = 'Bank Copy')");
    assert_eq!(r.options.new_db_name.as_deref(), Some("Bank Copy"), "kept as written: it is a string, not an identifier");
    assert!(!r.options.schema_only && !r.options.verify_backup_table_data);
    let plain = restore("RESTORE DATABASE bank FROM 'x'");
    assert_eq!((plain.options.new_db_name, plain.options.schema_only, plain.options.verify_backup_table_data), (None, false, false));
    // verify_backup_table_data without schema_only parses: planning refuses it, with
    // CockroachDB's words, as CockroachDB's planner does.
    assert!(restore("RESTORE DATABASE bank FROM 'x' WITH verify_backup_table_data").options.verify_backup_table_data);

    let stmt = ok("RESTORE DATABASE bank FROM 'nodelocal://1/b' WITH verify_backup_table_data, new_db_name = 'b2', schema_only");
    assert_eq!(stmt.redacted(), "RESTORE DATABASE bank FROM 'nodelocal://1/b' WITH new_db_name = 'b2', schema_only, verify_backup_table_data");

    let show = match ok("SHOW BACKUP 'x' WITH check_files") {
        Statement::ShowBackup(s) => s,
        other => panic!("{other:?}"),
    };
    assert!(show.check_files && !show.with_privileges);
    assert_eq!(ok("SHOW BACKUP 'nodelocal://1/b' WITH check_files").redacted(), "SHOW BACKUP 'nodelocal://1/b' WITH check_files");

    for (sql, near, message) in [
        ("RESTORE DATABASE bank FROM 'x' WITH new_db_name", "EOF", "option \"new_db_name\" requires a value"),
        ("RESTORE DATABASE bank FROM 'x' WITH new_db_name = bank2", "bank2", "requires a string value"),
        ("RESTORE DATABASE bank FROM 'x' WITH new_db_name = ''", "'…'", "option \"new_db_name\" must not be empty"),
        ("RESTORE DATABASE bank FROM 'x' WITH schema_only = 'true'", "=", "option \"schema_only\" takes no value"),
        ("RESTORE DATABASE bank FROM 'x' WITH schema_only, schema_only", "schema_only", "specified more than once"),
        ("RESTORE DATABASE bank FROM 'x' WITH verify_backup_table_data = 'yes'", "=", "takes no value"),
        ("RESTORE DATABASE bank FROM 'x' WITH check_files", "check_files", "unknown option \"check_files\""),
        ("SHOW BACKUP 'x' WITH check_files = 'on'", "=", "option \"check_files\" takes no value"),
        ("SHOW BACKUP 'x' WITH schema_only", "schema_only", "unknown option \"schema_only\""),
        ("BACKUP TO 'x' WITH new_db_name = 'y'", "new_db_name", "unknown option"),
    ] {
        let e = err(sql);
        assert_eq!(e.kind, ParseErrorKind::Option, "{sql}: {e}");
        assert_eq!(e.near, near, "{sql}: {e}");
        assert!(e.message.contains(message), "{sql}: {e}");
    }
}

#[test]
fn collection_forms() {
    let b = backup("BACKUP DATABASE bank INTO 'nodelocal://1/c' AS OF SYSTEM TIME '-10s' WITH revision_history");
    assert_eq!((b.to.as_slice(), &b.into, b.as_of.is_some()), (&["nodelocal://1/c".to_string()][..], &Some(BackupInto::NewFull), true));
    let b = backup("BACKUP INTO LATEST IN 'nodelocal://1/c'");
    assert_eq!((b.targets, b.into), (Targets::Cluster, Some(BackupInto::Chain(InCollection::Latest))));
    // CockroachDB takes the string 'LATEST' as LATEST.
    let b = backup("BACKUP TABLE bank.t INTO 'LATEST' IN 'nodelocal://1/c'");
    assert_eq!(b.into, Some(BackupInto::Chain(InCollection::Latest)));
    let b = backup("backup database bank into '/2024/05/01-120000.00' in 'nodelocal://1/c' with detached");
    assert_eq!(b.into, Some(BackupInto::Chain(InCollection::Subdir("/2024/05/01-120000.00".into()))));
    assert!(b.options.detached);
    assert_eq!(backup("BACKUP TO 'x'").into, None);
    let r = restore("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/c' AS OF SYSTEM TIME '-1s'");
    assert_eq!((r.from, r.in_collection), (vec!["nodelocal://1/c".to_string()], Some(InCollection::Latest)));
    let r = restore("RESTORE FROM '2024/05/01-120000.00' IN 'nodelocal://1/c'");
    assert_eq!(r.in_collection, Some(InCollection::Subdir("2024/05/01-120000.00".into())));
    assert_eq!(restore("RESTORE FROM 'a', 'b'").in_collection, None);
    match ok("SHOW BACKUP SCHEMAS LATEST IN 'nodelocal://1/c'") {
        Statement::ShowBackup(s) => {
            assert_eq!((s.kind, s.in_collection, s.location.as_str()), (ShowBackupKind::Schemas, Some(InCollection::Latest), "nodelocal://1/c"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ok("show backups in 'nodelocal://1/c'"), Statement::ShowBackups("nodelocal://1/c".into()));
    // A secret in the collection's URL is redacted in the description, as for TO.
    let text = ok("BACKUP INTO LATEST IN 's3://b/c?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=S3CR3T'").redacted();
    assert!(!text.contains("S3CR3T") && text.starts_with("BACKUP INTO LATEST IN 's3://b/c?"), "{text}");
}
