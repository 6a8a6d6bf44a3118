//! End-to-end, in-process: no credential of a storage URL shows anywhere a URL can be printed.
//! A table of credentialed URLs (secret parameters; the user-info of `AWS_ENDPOINT`, which is a
//! URL itself; the URL's own user-info, which is refused) against every place: parse errors,
//! URL errors, the job description (SHOW JOBS' description and statement columns), planning
//! errors, a job that fails while running (its error, and SHOW JOBS' error column), SHOW
//! BACKUP, RESTORE, manifests and every stored byte, `Debug` of the statement, and the events.
//! With the `real-storage` feature, a BACKUP to an S3 endpoint that does not answer, whose
//! user-info holds a password, fails without showing it.

use crate::common::*;
use backup::jobs;
use backup::storage::MemStorageProvider;
use futures::executor::block_on;
use model::kv::KvError;
use std::sync::Arc;
use std::time::Duration;

/// base64 of `{"type": "service_account", "private_key": "S3CR3T-gs"}`.
const GS_KEY: &str = "eyJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIsICJwcml2YXRlX2tleSI6ICJTM0NSM1QtZ3MifQ==";

/// (URL, its secrets as they may appear in text, whether the URL is accepted).
const URLS: &[(&str, &[&str], bool)] = &[
    ("s3://bucket/a?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=S3CR3T-key&AWS_SESSION_TOKEN=S3CR3T-token", &["S3CR3T"], true),
    ("s3://bucket/b?AUTH=implicit&AWS_ENDPOINT=http%3A%2F%2Fminio-user%3AS3CR3T-endpoint%40minio.local%3A9000", &["S3CR3T", "minio-user"], true),
    ("s3://bucket/c?AUTH=implicit&AWS_ENDPOINT=https%3A%2F%2FS3CR3T-token-as-user%40minio.local", &["S3CR3T"], true),
    ("azure://container/d?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=S3CR3T-azure", &["S3CR3T"], true),
    (
        "gs://bucket/e?AUTH=specified&CREDENTIALS=eyJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIsICJwcml2YXRlX2tleSI6ICJTM0NSM1QtZ3MifQ%3D%3D",
        &["S3CR3T", "eyJ0eXBl", "ICJTM0NSM1Qt"],
        true,
    ),
    ("https://web-user:S3CR3T-basic@files.local/f", &["S3CR3T", "web-user"], false),
    ("s3://AKIA:S3CR3T-userinfo@bucket/g?AUTH=implicit", &["S3CR3T", "AKIA"], false),
];

fn clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} shows {s:?}: {text}");
    }
}

#[test]
fn no_credential_of_a_storage_url_is_ever_printed() {
    assert!(GS_KEY.ends_with("=="));
    for (url, secrets, accepted) in URLS {
        let c = bank_cluster(Arc::new(MemStorageProvider::new()));
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut err = |what: &str, sql: String| {
            c.advance(Duration::from_millis(1));
            let e = c.exec(&sql).expect_err(&sql);
            seen.push((format!("{what}: error"), e.to_string()));
            seen.push((format!("{what}: error (Debug)"), format!("{e:?}")));
        };
        // A statement that does not parse, one whose URL does not, and a target that does not exist.
        err("parse error", format!("BACKUP DATABASE bank TO '{url}' garbage"));
        err("parse error near the URL", format!("BACKUP DATABASE bank TO '{url}' '{url}'"));
        err("URL error", format!("BACKUP DATABASE bank TO '{url}{}BOGUS=1'", if url.contains('?') { "&" } else { "?" }));
        err("planning error", format!("BACKUP DATABASE nosuch TO '{url}'"));
        err("SHOW BACKUP of nothing", format!("SHOW BACKUP '{url}'"));
        err("RESTORE of nothing", format!("RESTORE DATABASE bank FROM '{url}'"));
        seen.push(("Debug of the statement".into(), format!("{:?}", backup::statement::parse(&format!("BACKUP TO '{url}' INCREMENTAL FROM '{url}'")))));
        seen.push(("the statement's redacted text".into(), backup::statement::parse(&format!("RESTORE FROM '{url}'")).unwrap().redacted()));
        if *accepted {
            // A backup that succeeds, an incremental on it (its manifest records its base), a
            // SHOW BACKUP and a RESTORE of it.
            c.ok(&format!("BACKUP DATABASE bank TO '{url}'"));
            c.advance(Duration::from_secs(1));
            let inc = url.replacen('?', "-inc?", 1);
            c.ok(&format!("BACKUP DATABASE bank TO '{inc}' INCREMENTAL FROM '{url}'"));
            let show = c.ok(&format!("SHOW BACKUP '{url}'"));
            seen.push(("SHOW BACKUP".into(), show.render()));
            let dst = c.fresh_destination();
            dst.ok(&format!("RESTORE DATABASE bank FROM '{url}', '{inc}'"));
            seen.push(("SHOW JOBS of the restore".into(), dst.ok("SHOW JOBS").render()));
            // A job that fails while running: every export refused.
            c.kv.set_hook(Box::new(|_, _| Box::pin(async { Some(KvError::Invalid("export refused by the test".into())) })));
            c.advance(Duration::from_secs(1));
            let other = url.replacen('?', "-fail?", 1);
            let e = c.err(&format!("BACKUP DATABASE bank TO '{other}'"));
            c.kv.clear_hook();
            assert!(e.contains("export refused by the test"), "{e}");
            seen.push(("failed job's error".into(), e));
            let jobs_out = c.ok("SHOW JOBS").render();
            assert!(jobs_out.contains("failed") && jobs_out.contains("redacted"), "{jobs_out}");
            seen.push(("SHOW JOBS".into(), jobs_out));
            for j in block_on(jobs::list(&*c.local)).unwrap() {
                seen.push(("job description".into(), j.description.clone()));
                seen.push(("job error".into(), j.error.clone().unwrap_or_default()));
                seen.push(("job record (Debug)".into(), format!("{j:?}")));
            }
            // What is stored: the manifests (the incremental's records its base) and every file.
            for loc in [*url, inc.as_str()] {
                let store = c.store(loc);
                for (k, _) in store.snapshot() {
                    let bytes = read_obj(&store, &k);
                    for s in *secrets {
                        assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()), "{loc} {k} holds {s:?}");
                    }
                }
                seen.push(("manifest".into(), format!("{:?}", c.manifest(loc))));
            }
        }
        for (what, detail) in c.log.events.lock().unwrap().iter() {
            seen.push(("event".into(), format!("{what}: {detail}")));
        }
        for (what, text) in &seen {
            clean(&format!("{url}: {what}"), text, secrets);
        }
        assert!(seen.len() >= 14, "{url}: {} places", seen.len());
    }
}

#[test]
fn an_endpoints_user_info_prints_as_redacted_in_the_job_description() {
    let c = bank_cluster(Arc::new(MemStorageProvider::new()));
    let url = "s3://bucket/p?AUTH=implicit&AWS_ENDPOINT=http%3A%2F%2Fminio-user%3AS3CR3T%40minio.local%3A9000";
    c.ok(&format!("BACKUP DATABASE bank TO '{url}'"));
    let job = block_on(jobs::list(&*c.local)).unwrap().pop().unwrap();
    assert_eq!(job.description, "BACKUP DATABASE bank TO 's3://bucket/p?AUTH=implicit&AWS_ENDPOINT=http%3A%2F%2Fredacted%40minio.local%3A9000%2F'");
    // It reads back through the same URL.
    assert!(c.ok(&format!("SHOW BACKUP '{url}'")).rows.iter().any(|r| r[2] == s("customers")));
}

#[cfg(feature = "real-storage")]
#[test]
fn a_backup_to_an_unreachable_endpoint_with_user_info_fails_without_showing_it() {
    use crate::common::real::{quick_jobs, tokio_runtime, RealCluster};
    use backup::env::JobSettings;
    use backup::storage::real::{RealStorageOptions, RequestRetry};
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rt = tokio_runtime();
    let dir = std::env::temp_dir().join(format!("backup-sim-secrets-{}", std::process::id()));
    let retry = RequestRetry { max_retries: 0, retry_timeout: Duration::from_millis(500), ..RequestRetry::default() };
    let options = RealStorageOptions { retry, ..RealStorageOptions::default() };
    let io = backup::storage::ExternalIoSettings { external_io_dir: Some(dir.clone()), ..Default::default() };
    let c = RealCluster::new(&rt, io, options, JobSettings { storage_retries: 1, ..quick_jobs(Duration::from_secs(2)) }).with_bank();
    let endpoint = format!("http%3A%2F%2Fminio-user%3AS3CR3T-endpoint%40127.0.0.1%3A{port}");
    let url = format!("s3://bucket/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=S3CR3T-key&AWS_ENDPOINT={endpoint}");
    let e = c.err(&format!("BACKUP DATABASE bank TO '{url}'"));
    let jobs_out = c.ok("SHOW JOBS").render();
    let _ = std::fs::remove_dir_all(&dir);
    for (what, text) in [("error", e.as_str()), ("SHOW JOBS", jobs_out.as_str())] {
        clean(what, text, &["S3CR3T", "minio-user"]);
    }
    assert!(e.contains("127.0.0.1") || e.contains("storage"), "the error says where it failed: {e}");
    for (what, detail) in c.log.events.lock().unwrap().iter() {
        clean("event", &format!("{what}: {detail}"), &["S3CR3T", "minio-user"]);
    }
}
