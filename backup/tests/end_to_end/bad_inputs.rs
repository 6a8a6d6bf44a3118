//! The table of bad inputs: every statement here goes through the front door
//! (`backup::exec::execute` on the in-process cluster of `common`, or the SQL layer's
//! `Session`) and must fail with the class of error its row names (an [`ErrorKind`], not prose),
//! with a message that names the problem (a piece of it is in the row), that never starts
//! without saying what it is about (`": …"`), that holds no secret, and without publishing
//! anything: no new manifest, no new descriptor, no job that succeeded.
//!
//! A new bad input is one line in [`BULK`] or [`SQL`]. A row's statement may start with
//! `as alice: ` (run by a user without the admin role) or `in txn: ` (inside BEGIN … COMMIT),
//! and `{job}` stands for the id of a BACKUP job that succeeded. Secrets in rows contain
//! `S3CR3T`, which no message, job record or event may ever show.
//!
//! Fixtures, in `nodelocal://1/`: `plain` (a backup of `bank`), `enc` (one encrypted with
//! [`FIXTURE_PASSPHRASE`]), `incomplete` (only a `BACKUP-CHECKPOINT`), `none` (nothing), `lad`
//! and `law` (a locality-aware backup's default and `region=us-west` destinations); a
//! database `empty` with no tables.

use crate::common::*;
use backup::error::{BackupError, ErrorKind};
use backup::jobs::{self, JobStatus};
use backup::storage::{MemStorage, MemStorageProvider, StorageUrl};
use backup::targets::SessionContext;
use futures::executor::block_on;
use model::sql::SqlError;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use ErrorKind::*;

/// The marker every secret in a row contains.
const SECRET: &str = "S3CR3T";
/// The passphrase of the `enc` fixture.
const FIXTURE_PASSPHRASE: &str = "fixture-S3CR3T-pass";

/// Bulk statements: (statement, class of error, a piece of the message).
const BULK: &[(&str, ErrorKind, &str)] = &[
    // Statements that do not parse.
    ("", Syntax, "expected BACKUP, RESTORE"),
    ("SELECT 1", Syntax, "expected BACKUP, RESTORE"),
    ("BACKUP", Syntax, "expected a table name"),
    ("BACKUP DATABASE bank", Syntax, "expected TO"),
    ("BACKUP DATABASE bank TO", Syntax, "expected a destination URL"),
    ("BACKUP DATABASE bank TO nodelocal", Syntax, "expected a destination URL"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' garbage", Syntax, "unexpected text after the end"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x'; SELECT 1", Syntax, "unexpected text after the end"),
    ("BACKUP DATABASE \"\" TO 'nodelocal://1/x'", Syntax, "expected a database name"),
    ("BACKUP DATABASE bank, TO 'nodelocal://1/x'", Syntax, "expected a database name"),
    ("BACKUP * TO 'nodelocal://1/x'", Syntax, "bare *"),
    ("BACKUP bank.sch.t TO 'nodelocal://1/x'", Syntax, "user-defined schemas"),
    ("BACKUP TO 'unterminated", Syntax, "line 1"),
    ("BACKUP TO \\ 'nodelocal://1/x'", Syntax, "line continuation"),
    ("BACKUP TO ('nodelocal://1/a' 'nodelocal://1/b')", Syntax, "expected , or )"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' AS OF SYSTEM TIME now()", Syntax, "AS OF SYSTEM TIME expects"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' AS OF SYSTEM '-1s'", Syntax, "expected AS OF SYSTEM TIME"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' INCREMENTAL 'nodelocal://1/plain'", Syntax, "expected FROM after INCREMENTAL"),
    ("RESTORE DATABASE bank", Syntax, "expected FROM"),
    ("RESTORE DATABASE bank FROM ('nodelocal://1/a' 'nodelocal://1/b')", Syntax, "expected , or ) in the locality-aware list"),
    ("SHOW BACKUP", Syntax, "the backup's location"),
    ("SHOW BACKUPS 'nodelocal://1/plain'", Syntax, "expected IN"),
    ("BACKUP DATABASE bank INTO LATEST 'nodelocal://1/plain'", Syntax, "expected IN"),
    ("BACKUP DATABASE bank INTO 'nodelocal://1/x' INCREMENTAL FROM 'nodelocal://1/plain'", Syntax, "cannot be used with BACKUP INTO"),
    // Collections.
    ("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/none'", NotABackup, "path does not contain a completed latest backup"),
    ("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/none'", NotABackup, "path does not contain a completed latest backup"),
    ("SHOW BACKUP LATEST IN 'nodelocal://1/none'", NotABackup, "path does not contain a completed latest backup"),
    ("BACKUP DATABASE bank INTO '/2001/01/01-000000.00' IN 'nodelocal://1/plain'", NotABackup, "A full backup cannot be written to \"/2001/01/01-000000.00\""),
    ("RESTORE DATABASE bank FROM '/2001/01/01-000000.00' IN 'nodelocal://1/plain'", NotABackup, "not a backup location"),
    ("BACKUP DATABASE bank INTO '../up' IN 'nodelocal://1/plain'", Url, "invalid subdirectory \"../up\""),
    ("RESTORE DATABASE bank FROM 'incrementals/x' IN 'nodelocal://1/plain'", Url, "incrementals or metadata directory"),
    ("SHOW JOBS now", Syntax, "unexpected text after the end"),
    ("PAUSE JOB", Syntax, "expected a job ID"),
    ("PAUSE JOBS 1", Syntax, "expected JOB"),
    ("CANCEL JOB 1.5", Syntax, "non-negative integer"),
    ("RESUME JOB -1", Syntax, "expected a job ID"),
    ("CANCEL JOB 99999999999999999999", Syntax, "non-negative integer"),
    ("RESUME JOB 'x'", Syntax, "expected a job ID"),
    // Options.
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH revision_histroy", Option, "unknown option \"revision_histroy\""),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH revision_history, revision_history", Option, "specified more than once"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH revision_history = 'yes'", Option, "takes no value"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH encryption_passphrase", Option, "requires a value"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH encryption_passphrase = S3CR3T", Option, "requires a string value"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH encryption_passphrase = ''", Option, "must not be empty"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH encryption_passphrase = '   '", Option, "must not be empty"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH encryption_passphrase = 'S3CR3T', encryption_passphrase = 'S3CR3T'", Option, "more than once"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH 'S3CR3T'", Option, "unknown option"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' WITH OPTIONS (revision_history", Syntax, "expected , or )"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH encryption_passphrase = ''", Option, "must not be empty"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH into_db = newdb", Option, "requires a string value"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH into_db = ''", Option, "\"into_db\" must not be empty"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH new_db_name = ''", Option, "\"new_db_name\" must not be empty"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH schema_only = 'yes'", Option, "takes no value"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH verify_backup_table_data", Option, "the schema_only option must be set"),
    ("RESTORE TABLE bank.customers FROM 'nodelocal://1/plain' WITH new_db_name = 'b2'", Option, "single target database"),
    ("RESTORE FROM 'nodelocal://1/plain' WITH new_db_name = 'b2', schema_only", Option, "single target database"),
    ("SHOW BACKUP 'nodelocal://1/plain' WITH check_files = 'on'", Option, "takes no value"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH skip_missing_views = 'true'", Option, "takes no value"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH revision_history", Option, "unknown option"),
    ("SHOW BACKUP 'nodelocal://1/enc' WITH encryption_passphrase = ''", Option, "must not be empty"),
    ("SHOW BACKUP FILES 'nodelocal://1/enc' WITH encryption_passphrase = ' '", Option, "must not be empty"),
    ("SHOW BACKUP 'nodelocal://1/plain' WITH revision_history", Option, "unknown option"),
    // Storage URLs.
    ("BACKUP DATABASE bank TO ''", Url, "the URL is empty"),
    ("BACKUP DATABASE bank TO 'not a url'", Url, "it has no scheme"),
    ("BACKUP DATABASE bank TO 'ftp://h/p'", Url, "unsupported storage scheme \"ftp\""),
    ("BACKUP DATABASE bank TO 'nodelocal://1'", Url, "nodelocal URL has no path"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/'", Url, "nodelocal URL has no path"),
    ("BACKUP DATABASE bank TO 'nodelocal://self//'", Url, "nodelocal URL has no path"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/back%zzup'", Url, "invalid percent-escape in the path"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/a%2'", Url, "invalid percent-escape in the path"),
    ("BACKUP DATABASE bank TO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=S3CR3T%zz'", Url, "the value of parameter AWS_SECRET_ACCESS_KEY"),
    ("BACKUP DATABASE bank TO 's3://b/p?AUTH=implicit&S3CR3T%zz=1'", Url, "invalid percent-escape in a parameter name"),
    ("BACKUP DATABASE bank TO 'nodelocal:///p'", Url, "missing its node ID"),
    ("BACKUP DATABASE bank TO 'nodelocal://0/p'", Url, "must be a node ID"),
    ("BACKUP DATABASE bank TO 'nodelocal://node1/p'", Url, "must be a node ID"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/a%2F..%2Fb'", Url, "\"..\" path component"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/../outside'", Url, "\"..\" path component"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/a/%2e%2E/b'", Url, "\"..\" path component"),
    ("BACKUP DATABASE bank TO 's3://bucket/./p?AUTH=implicit'", Url, "\".\" path component"),
    ("BACKUP DATABASE bank TO 'gs://b/a//c'", Url, "empty path component"),
    ("BACKUP DATABASE bank TO 'gs://b/p#frag'", Url, "must not contain '#'"),
    ("BACKUP DATABASE bank TO 's3://b/p'", Url, "missing the AWS_ACCESS_KEY_ID parameter"),
    ("BACKUP DATABASE bank TO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY='", Url, "missing the AWS_SECRET_ACCESS_KEY parameter"),
    ("BACKUP DATABASE bank TO 's3://b/p?AUTH=implicit&BOGUS=S3CR3T'", Url, "unknown parameter BOGUS in s3 URL"),
    ("BACKUP DATABASE bank TO 's3://b/p?AUTH=implicit&AUTH=implicit'", Url, "parameter AUTH given more than once"),
    ("BACKUP DATABASE bank TO 's3://b/p?AUTH=sometimes'", Url, "unsupported value \"sometimes\""),
    ("BACKUP DATABASE bank TO 's3://b:99/p?AUTH=implicit'", Url, "must not have a port"),
    ("BACKUP DATABASE bank TO 's3://b/p?AUTH=implicit&AWS_ENDPOINT=minio'", Url, "AWS_ENDPOINT: must be an http"),
    ("BACKUP DATABASE bank TO 's3://b/p?AUTH=implicit&AWS_ENDPOINT=u%3AS3CR3T%40minio'", Url, "AWS_ENDPOINT: must be an http"),
    ("BACKUP DATABASE bank TO 's3://key:S3CR3T@b/p?AUTH=implicit'", Url, "must not carry credentials"),
    ("BACKUP DATABASE bank TO 'https://user:S3CR3T@h/p'", Url, "basic authentication is not supported"),
    ("BACKUP DATABASE bank TO 'gs://b/p?AUTH=specified'", Url, "missing the CREDENTIALS parameter"),
    ("BACKUP DATABASE bank TO 'gs://b/p?AUTH=specified&CREDENTIALS=S3CR3T!'", Url, "invalid value for CREDENTIALS"),
    ("BACKUP DATABASE bank TO 'azure://c/p?AZURE_ACCOUNT_KEY=S3CR3T'", Url, "missing the AZURE_ACCOUNT_NAME parameter"),
    ("BACKUP DATABASE bank TO 'http://h/p?x=1'", Url, "unknown parameter x in http URL"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/x' INCREMENTAL FROM 'nodelocal://1'", Url, "nodelocal URL has no path"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1'", Url, "nodelocal URL has no path"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/pl%zzain'", Url, "invalid percent-escape"),
    ("SHOW BACKUP 'nodelocal://1/%'", Url, "invalid percent-escape in the path"),
    ("SHOW BACKUP 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=S3CR3T&AWS_REGION=x&AWS_REGION=y'", Url, "given more than once"),
    // Targets that do not exist.
    ("BACKUP DATABASE nosuch TO 'nodelocal://1/t1'", TargetNotFound, "database \"nosuch\" does not exist"),
    ("BACKUP bank.nosuch TO 'nodelocal://1/t2'", TargetNotFound, "table \"bank.nosuch\" does not exist"),
    ("BACKUP nosuch.* TO 'nodelocal://1/t3'", TargetNotFound, "database \"nosuch\" does not exist"),
    ("BACKUP empty.* TO 'nodelocal://1/t4'", TargetNotFound, "no tables match \"empty.*\""),
    ("RESTORE DATABASE nosuch FROM 'nodelocal://1/plain'", TargetNotFound, "\"nosuch\""),
    ("RESTORE TABLE bank.nosuch FROM 'nodelocal://1/plain' WITH into_db = 'empty'", TargetNotFound, "bank.nosuch"),
    ("RESTORE TABLE bank.customers FROM 'nodelocal://1/plain' WITH into_db = 'nosuch'", TargetNotFound, "\"nosuch\" needs to exist"),
    // system.users: backed up as a table, restored only into a user database.
    ("BACKUP DATABASE system TO 'nodelocal://1/t5'", TargetNotFound, "database \"system\" cannot be backed up whole"),
    ("RESTORE system.users FROM 'nodelocal://1/plain' WITH into_db = 'empty'", TargetNotFound, "table \"system.users\" does not exist in the backup"),
    ("RESTORE system.users FROM 'nodelocal://1/users'", Conflict, "a system table cannot be restored into the system database"),
    ("RESTORE TABLE system.* FROM 'nodelocal://1/users'", Conflict, "relation \"system.users\" already exists"),
    // Dependencies left out.
    ("BACKUP bank.accounts TO 'nodelocal://1/d1'", Dependency, "customers"),
    ("BACKUP bank.rich_accounts TO 'nodelocal://1/d2'", Dependency, "accounts"),
    ("RESTORE TABLE bank.accounts FROM 'nodelocal://1/plain' WITH into_db = 'empty'", Dependency, "customers"),
    // Times.
    ("BACKUP DATABASE bank TO 'nodelocal://1/a1' AS OF SYSTEM TIME 'yesterday'", Timestamp, "AS OF SYSTEM TIME"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/a2' AS OF SYSTEM TIME '+10s'", Timestamp, "AS OF SYSTEM TIME"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/a3' AS OF SYSTEM TIME '2099-01-01 00:00:00'", Timestamp, "in the future"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/a4' AS OF SYSTEM TIME 99999999999999999999", Timestamp, "invalid timestamp"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/a5' AS OF SYSTEM TIME '-10x'", Timestamp, "AS OF SYSTEM TIME"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' AS OF SYSTEM TIME '-1000h'", Timestamp, "invalid RESTORE timestamp"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' AS OF SYSTEM TIME 'soon'", Timestamp, "AS OF SYSTEM TIME"),
    // Destinations and locations.
    ("BACKUP DATABASE bank TO 'nodelocal://1/incomplete'", DestinationInUse, "safe to delete nodelocal://1/incomplete/BACKUP-CHECKPOINT"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/none'", NotABackup, "no BACKUP manifest found"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/incomplete'", NotABackup, "the backup is incomplete"),
    ("SHOW BACKUP 'nodelocal://1/none'", NotABackup, "nodelocal://1/none: no BACKUP manifest found"),
    ("SHOW BACKUP RANGES 'nodelocal://1/incomplete'", NotABackup, "the backup is incomplete"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/i1' INCREMENTAL FROM 'nodelocal://1/none'", NotABackup, "no BACKUP manifest found"),
    // Chains.
    ("BACKUP DATABASE employees TO 'nodelocal://1/plain'", Chain, "employees"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain', 'nodelocal://1/plain'", Chain, "nodelocal://1/plain"),
    // Encryption.
    ("RESTORE DATABASE bank FROM 'nodelocal://1/enc'", Encryption, "file appears encrypted"),
    ("SHOW BACKUP SCHEMAS 'nodelocal://1/enc'", Encryption, "file appears encrypted"),
    ("SHOW BACKUP 'nodelocal://1/enc' WITH encryption_passphrase = 'wrong-S3CR3T'", Encryption, "ENCRYPTION-INFO: failed to decrypt — maybe incorrect key"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/enc' WITH encryption_passphrase = 'wrong-S3CR3T'", Encryption, "maybe incorrect key"),
    ("BACKUP DATABASE bank TO 'nodelocal://1/enc' WITH encryption_passphrase = 'other-S3CR3T'", Encryption, "maybe incorrect key"),
    ("SHOW BACKUP 'nodelocal://1/plain' WITH encryption_passphrase = 'S3CR3T'", Encryption, "does not appear to be encrypted"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH encryption_passphrase = 'S3CR3T'", Encryption, "does not appear to be encrypted"),
    // Restores onto what exists.
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain'", Conflict, "already exists"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/plain' WITH new_db_name = 'empty'", Conflict, "database \"empty\" already exists"),
    ("RESTORE TABLE bank.customers FROM 'nodelocal://1/plain'", Conflict, "already exists"),
    ("RESTORE bank.* FROM 'nodelocal://1/plain'", Conflict, "already exists"),
    // Who and where.
    ("as alice: BACKUP DATABASE bank TO 'nodelocal://1/u1'", Privilege, "admin role"),
    ("as alice: RESTORE DATABASE bank FROM 'nodelocal://1/plain'", Privilege, "admin role"),
    ("as alice: SHOW BACKUP 'nodelocal://1/plain'", Privilege, "admin role"),
    ("as alice: SHOW JOBS", Privilege, "admin role"),
    ("as alice: PAUSE JOB {job}", Privilege, "admin role"),
    ("in txn: BACKUP DATABASE bank TO 'nodelocal://1/x1'", Transaction, "inside a transaction"),
    ("in txn: RESTORE DATABASE bank FROM 'nodelocal://1/plain'", Transaction, "inside a transaction"),
    // Jobs.
    ("PAUSE JOB 12345", Job, "job with ID 12345 does not exist"),
    ("RESUME JOB 0", Job, "does not exist"),
    ("CANCEL JOB 9223372036854775807", Job, "job with ID 9223372036854775807 does not exist"),
    ("CANCEL JOB 18446744073709551615", Syntax, "non-negative integer of at most 9223372036854775807"),
    ("PAUSE JOB 9223372036854775808", Syntax, "non-negative integer of at most"),
    ("PAUSE JOB {job}", Job, "succeeded"),
    ("CANCEL JOB {job}", Job, "succeeded"),
    ("RESUME JOB {job}", Job, "succeeded"),
    // Locality-aware destination lists, refused in CockroachDB's words.
    ("BACKUP DATABASE bank TO ('nodelocal://1/l1', 'nodelocal://1/l2')", Url, "multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified"),
    ("BACKUP DATABASE bank TO ('nodelocal://1/l1?COCKROACH_LOCALITY=default', 'nodelocal://1/l2')", Url, "COCKROACH_LOCALITY is not specified (in nodelocal://1/l2)"),
    ("BACKUP DATABASE bank TO ('nodelocal://1/l1?COCKROACH_LOCALITY=region%3Da', 'nodelocal://1/l2?COCKROACH_LOCALITY=region%3Db')", Url, "no default URL provided for partitioned backup"),
    ("BACKUP DATABASE bank TO ('nodelocal://1/l1?COCKROACH_LOCALITY=default', 'nodelocal://1/l2?COCKROACH_LOCALITY=default')", Url, "multiple default URLs provided"),
    ("BACKUP DATABASE bank TO ('nodelocal://1/l1?COCKROACH_LOCALITY=default', 'nodelocal://1/l2?COCKROACH_LOCALITY=region%3Da', 'nodelocal://1/l3?COCKROACH_LOCALITY=region%3Da')", Url, "duplicate URIs for locality region=a"),
    ("BACKUP DATABASE bank TO ('nodelocal://1/l1?COCKROACH_LOCALITY=default', 'nodelocal://1/l2?COCKROACH_LOCALITY=us-west')", Url, "failed to parse backup locality: tier must be in the form \"key=value\" not \"us-west\""),
    ("BACKUP DATABASE bank TO 'nodelocal://1/l1?COCKROACH_LOCALITY=region%3Da'", Url, "COCKROACH_LOCALITY region=a is invalid for a single BACKUP location"),
    ("BACKUP DATABASE bank TO ('nodelocal://1/new?COCKROACH_LOCALITY=default', 'nodelocal://1/law?COCKROACH_LOCALITY=region%3Dus-west')", DestinationNotEmpty, "already contains a BACKUP_PART_1_region=us-west file"),
    ("RESTORE DATABASE bank FROM 'nodelocal://1/lad'", NotABackup, "expected manifest BACKUP_PART_1_region=us-west not found in backup locations"),
    ("RESTORE DATABASE bank FROM ('nodelocal://1/lad', 'nodelocal://1/none')", NotABackup, "locality region=us-west"),
    ("SHOW BACKUP FILES 'nodelocal://1/lad' WITH check_files", NotABackup, "expected manifest BACKUP_PART_1_region=us-west not found"),
    // Backup schedules, refused in CockroachDB's words; nothing scheduled, nothing run.
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING 'every day'", Option, "error parsing schedule expression: \"every day\"; it must be a valid cron expression"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '0 0 0 * * *'", Option, "it must be a valid cron expression"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '@daily' FULL BACKUP '61 * * * *'", Option, "error parsing schedule expression: \"61 * * * *\""),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING NEVER", Option, "RECURRING clause required"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '@daily' WITH SCHEDULE OPTIONS on_execution_failure = 'explode'", Option, "\"explode\" is not a valid on_execution_error; valid values are [retry|reschedule|pause]"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '@daily' WITH SCHEDULE OPTIONS on_previous_running = 'maybe'", Option, "\"maybe\" is not a valid on_previous_running; valid values are [start|skip|wait]"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '@daily' WITH SCHEDULE OPTIONS first_run = 'soonish'", Option, "first_run: invalid timestamp"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '@daily' WITH SCHEDULE OPTIONS first_runn = 'now'", Option, "unknown option \"first_runn\""),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' WITH encryption_passphrase = 'pw-S3CR3T' RECURRING '@dialy'", Option, "must be a valid cron expression"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE nope INTO 'nodelocal://1/s' RECURRING '@daily'", TargetNotFound, "nope"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank TO 'nodelocal://1/s' RECURRING '@daily'", Syntax, "use INTO, not TO"),
    ("CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s'", Syntax, "expected RECURRING"),
    ("as alice: CREATE SCHEDULE 's' FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '@daily'", Privilege, "admin role"),
    ("PAUSE SCHEDULE 12345", Job, "schedule with ID 12345 does not exist"),
    ("DROP SCHEDULE 12345", Job, "schedule with ID 12345 does not exist"),
    ("SHOW SCHEDULE 12345", Job, "schedule with ID 12345 does not exist"),
    ("DROP SCHEDULE x", Syntax, "expected a schedule ID"),
];

/// SQL-layer statements: (statement, the error expected, a piece of the message).
type SqlRow = (&'static str, fn(&SqlError) -> bool, &'static str);

fn sql_rows() -> Vec<SqlRow> {
    vec![
        ("SHOW TABLES FROM nosuch", |e| matches!(e, SqlError::UndefinedDatabase(_)), "database \"nosuch\" does not exist"),
        ("SHOW TABLES FROM nosuch.public", |e| matches!(e, SqlError::UndefinedDatabase(_)), "\"nosuch\""),
        ("SHOW TABLES FROM bank.private", |e| matches!(e, SqlError::Invalid(_)), "schema \"bank.private\" does not exist"),
        ("SHOW TABLES LIKE 'c%'", |e| matches!(e, SqlError::Unsupported(_)), "LIKE"),
        ("SHOW DATABASES LIKE 'b%'", |e| matches!(e, SqlError::Unsupported(_)), "LIKE"),
        ("USE nosuch", |e| matches!(e, SqlError::UndefinedDatabase(_)), "nosuch"),
        ("SELECT * FROM bank.nosuch", |e| matches!(e, SqlError::UndefinedRelation(_)), "nosuch"),
        ("SELECT nosuch FROM bank.customers", |e| matches!(e, SqlError::UndefinedColumn(_)), "nosuch"),
        ("SELEC 1", |e| matches!(e, SqlError::Parse { .. }), "syntax error"),
        ("SELECT 'unterminated", |e| matches!(e, SqlError::Parse { .. }), "syntax error"),
        ("CREATE DATABASE bank", |e| matches!(e, SqlError::DuplicateObject { .. }), "database \"bank\" already exists"),
        ("CREATE DATABASE \"bank\"\"quote\" garbage", |e| matches!(e, SqlError::Parse { .. }), "syntax error"),
        ("CREATE USER u WITH PASSWORD 'S3CR3T' garbage", |e| matches!(e, SqlError::Parse { .. }), "syntax error"),
        ("INSERT INTO bank.customers VALUES (1, 'dup', NULL)", |e| matches!(e, SqlError::UniqueViolation { .. }), "duplicate"),
        ("INSERT INTO bank.customers (id) VALUES (77)", |e| matches!(e, SqlError::NotNullViolation(_)), "name"),
        // INSERT … SELECT and system.users (issue #17's users procedure).
        ("INSERT INTO bank.customers SELECT id, name, email, id FROM bank.customers", |e| matches!(e, SqlError::Invalid(_)), "4 expressions for 3 targets"),
        ("INSERT INTO bank.customers (id, name) SELECT id FROM bank.customers", |e| matches!(e, SqlError::Invalid(_)), "more target columns than expressions"),
        ("INSERT INTO bank.customers SELECT name, id FROM bank.customers", |e| matches!(e, SqlError::Type(_)), "id"),
        (
            "SELECT * FROM bank.customers WHERE id IN (SELECT id, name FROM bank.customers)",
            |e| matches!(e, SqlError::Invalid(_)),
            "subquery must return only one column, found 2",
        ),
        ("INSERT INTO system.users SELECT * FROM system.users", |e| matches!(e, SqlError::UniqueViolation { .. }), "(username)=('admin') already exists"),
        ("INSERT INTO system.users VALUES ('', NULL, false)", |e| matches!(e, SqlError::Invalid(_)), "username cannot be empty"),
        ("UPSERT INTO system.users VALUES ('root', NULL, true)", |e| matches!(e, SqlError::Unsupported(_)), "UPSERT INTO system.users"),
        ("CREATE DATABASE system", |e| matches!(e, SqlError::DuplicateObject { .. }), "database \"system\" already exists"),
        ("CREATE TABLE bank.c (a INT CHECK (a > 0))", |e| matches!(e, SqlError::Unsupported(_)), "CHECK"),
        ("SELECT * FROM bank.customers AS OF SYSTEM TIME 'nonsense'", |e| matches!(e, SqlError::AsOf(_)), "nonsense"),
        ("BACKUP DATABASE bank TO 'nodelocal://1/sql'", |e| matches!(e, SqlError::NotSqlLayer { .. }), "handled by the backup crate"),
        ("COMMIT", |e| matches!(e, SqlError::NoTransaction), "transaction"),
    ]
}

/// The cluster every row runs on, with its fixtures, and the id of a succeeded BACKUP job.
fn fixture() -> (Cluster, i64) {
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    c.sql("CREATE DATABASE empty; CREATE USER alice");
    c.advance(Duration::from_secs(1));
    let job = result_row(&c.ok("BACKUP DATABASE bank TO 'nodelocal://1/plain'")).0;
    c.ok(&format!("BACKUP DATABASE bank TO 'nodelocal://1/enc' WITH encryption_passphrase = '{FIXTURE_PASSPHRASE}'"));
    // `users`: a backup of system.users.
    c.ok("BACKUP TABLE system.users TO 'nodelocal://1/users'");
    write_obj(&c.store("nodelocal://1/incomplete"), "BACKUP-CHECKPOINT", b"left over".to_vec());
    c.ok("BACKUP DATABASE bank TO ('nodelocal://1/lad?COCKROACH_LOCALITY=default', 'nodelocal://1/law?COCKROACH_LOCALITY=region%3Dus-west')");
    c.advance(Duration::from_secs(1));
    (c, job)
}

/// Every manifest stored under `nodelocal://1`.
fn manifests(store: &MemStorage) -> BTreeSet<String> {
    store.snapshot().into_keys().filter(|k| k == "BACKUP" || k.ends_with("/BACKUP")).collect()
}

/// Ids of the jobs that succeeded.
fn succeeded(c: &Cluster) -> BTreeSet<i64> {
    block_on(jobs::list(&*c.local)).unwrap().into_iter().filter(|j| j.status == JobStatus::Succeeded).map(|j| j.id).collect()
}

/// Fails unless `text` holds no secret of the rows or the fixtures.
fn no_secret(what: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    assert!(!lower.contains(&SECRET.to_ascii_lowercase()), "{what}: a secret shows in {text:?}");
}

/// Fails unless `message` says what it is about.
fn says_what(row: &str, message: &str) {
    assert!(!message.trim().is_empty(), "{row}: empty message");
    assert!(!message.starts_with(':') && !message.contains(" : "), "{row}: a message about nothing: {message:?}");
}

#[test]
fn every_bad_bulk_statement_fails_with_its_class_names_the_problem_and_publishes_nothing() {
    assert!(BULK.len() >= 100, "{} rows", BULK.len());
    let (c, job) = fixture();
    let root = c.storage.store(&StorageUrl::parse("nodelocal://1/plain").unwrap(), 1).unwrap();
    let before_manifests = manifests(&root);
    let mut failures = Vec::new();
    for (row, kind, needle) in BULK {
        let sql = row.replace("{job}", &job.to_string());
        let (ctx, sql) = if let Some(rest) = sql.strip_prefix("as alice: ") {
            (as_user("alice"), rest.to_string())
        } else if let Some(rest) = sql.strip_prefix("in txn: ") {
            (in_txn(), rest.to_string())
        } else {
            (SessionContext::root(), sql.clone())
        };
        let descriptors = c.catalog().descriptors().count();
        let done = succeeded(&c);
        // Job ids are the clock's microseconds: move it on between statements.
        c.advance(Duration::from_millis(1));
        let result = c.exec_in(&ctx, &sql);
        c.runtime.run_spawned();
        let e: BackupError = match result {
            Ok(r) => {
                failures.push(format!("{row}: succeeded:\n{}", r.render()));
                continue;
            }
            Err(e) => e,
        };
        let message = e.to_string();
        if e.kind() != *kind || !message.contains(needle) {
            failures.push(format!("{row}\n    got {:?}: {message}\n    want {kind:?} with {needle:?}", e.kind()));
        }
        says_what(row, &message);
        no_secret(row, &message);
        no_secret(row, &format!("{e:?}"));
        assert_eq!(c.catalog().descriptors().count(), descriptors, "{row}: a descriptor was published");
        assert_eq!(succeeded(&c), done, "{row}: a job succeeded");
        assert_eq!(manifests(&root), before_manifests, "{row}: a manifest was written");
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), BULK.len(), failures.join("\n"));
    // Nothing any row did shows a secret: not the job records (SHOW JOBS' description,
    // statement and error columns), not the events.
    let shown = c.ok("SHOW JOBS").render();
    no_secret("SHOW JOBS", &shown);
    for j in block_on(jobs::list(&*c.local)).unwrap() {
        no_secret("a job record", &format!("{j:?}"));
    }
    for (what, detail) in c.log.events.lock().unwrap().iter() {
        no_secret("an event", &format!("{what}: {detail}"));
    }
}

#[test]
fn every_bad_sql_statement_fails_with_its_error_and_names_the_problem() {
    let (mut c, _) = fixture();
    let rows = sql_rows();
    assert!(rows.len() >= 15, "{} rows", rows.len());
    let mut failures = Vec::new();
    for (sql, is_expected, needle) in rows {
        let descriptors = c.catalog().descriptors().count();
        let e = block_on(c.session.execute(sql)).expect_err(sql);
        let message = e.to_string();
        if !is_expected(&e) || !message.contains(needle) {
            failures.push(format!("{sql}\n    got {e:?}: {message}\n    want one with {needle:?}"));
        }
        says_what(sql, &message);
        no_secret(sql, &message);
        no_secret(sql, &format!("{e:?}"));
        assert_eq!(c.catalog().descriptors().count(), descriptors, "{sql}: a descriptor was published");
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn no_error_message_starts_without_saying_what_it_is_about() {
    // The empty path is the location's own directory (a listing of its top).
    let location_itself = [
        backup::storage::StorageError::NotFound { path: String::new() }.to_string(),
        backup::storage::StorageError::Transient { path: String::new(), reason: "file-system task failed".into() }.to_string(),
        backup::storage::StorageError::Permanent { path: String::new(), reason: "cannot list: permission denied".into() }.to_string(),
        backup::storage::UrlError::OutsideExternalIoDir { path: String::new() }.to_string(),
    ];
    for m in &location_itself {
        says_what("an error about the location itself", m);
        assert!(m.contains("own directory"), "{m}");
    }
    assert_eq!(
        backup::storage::StorageError::Permanent { path: "BACKUP".into(), reason: "x".into() }.to_string(),
        "BACKUP: storage error: x",
        "a named path still comes first"
    );
    let e = futures::executor::block_on(backup::storage::ExternalStorage::read(&MemStorage::new(), "")).unwrap_err();
    assert_eq!(e.to_string(), "the storage location's own directory: storage error: an object path must not be empty");
}
