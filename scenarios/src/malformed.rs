//! Malformed locations: each seed's destination URL spoiled in ways the seed page and
//! CockroachDB's rules forbid, for the backup scenario's refusals. Each must be refused at
//! planning (no job), for the reason it was spoiled, with no secret of the URL shown in the
//! refusal, in the statement the trace logs, or anywhere else the secrets-hidden property reads.
//!
//! Why this is an independent oracle: the spoilings are made here, from the URL's text, with
//! the `url` crate's view of it at most; each carries the phrase its refusal must contain, taken
//! from the rule it breaks, not from the backup's parser. A parser that lets a bad
//! percent-escape through (it would then quietly name another directory, or present another
//! secret), or a redaction that shows a misspelt secret parameter's value, fails a seed.

use backup::storage::url::ExternalIoSettings;
use rand::seq::SliceRandom;
use rand::Rng;
use sim::SeedTree;

/// One spoiled location and what its refusal must say.
#[derive(Clone, Debug)]
pub(crate) struct Malformed {
    /// What was done to the URL, for failure messages.
    pub what: &'static str,
    /// The statement naming it.
    pub sql: String,
    /// A phrase the refusal must contain: the rule it breaks, in the words of the error.
    pub phrase: String,
    /// Secrets the spoiling added (a password before the host, a value under a misspelt name):
    /// they join the run's secrets.
    pub secrets: Vec<String>,
}

/// The secret parameters of the schemes the scenarios draw, and a misspelling of each that no
/// scheme accepts (one letter dropped, as a hurried operator would).
const MISSPELT: [(&str, &str); 3] =
    [("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCES_KEY"), ("CREDENTIALS", "CREDENTIAL"), ("AZURE_ACCOUNT_KEY", "AZURE_ACOUNT_KEY")];

/// Two spoilings of `url` (the seed's destination), drawn from the seed's `backup/malformed`
/// stream, each in a statement drawn among BACKUP TO, BACKUP ... INCREMENTAL FROM and SHOW BACKUP.
pub(crate) fn draw(url: &str, tree: &SeedTree, seed: u64) -> Vec<Malformed> {
    let mut rng = tree.stream("backup/malformed");
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b.trim_end_matches('/').to_string(), Some(q.to_string())),
        None => (url.trim_end_matches('/').to_string(), None),
    };
    let (scheme, after) = base.split_once("://").unwrap_or(("", base.as_str()));
    let with_query = |b: &str| match &query {
        Some(q) => format!("{b}?{q}"),
        None => b.to_string(),
    };
    let fresh = format!("sim-secret-{seed}-malformed-{:08x}", rng.gen::<u32>());
    let mut menu: Vec<(&'static str, String, String, Vec<String>)> = vec![
        ("a bad percent-escape in the path", with_query(&format!("{base}/bad%zzdir")), "invalid percent-escape in the path".into(), vec![]),
        ("an unsupported scheme", with_query(&format!("ftp://{after}")), "unsupported storage scheme \"ftp\"".into(), vec![]),
        (
            "a user and password before the host",
            with_query(&format!("{scheme}://backup:{fresh}@{after}")),
            "must not carry credentials before the host".into(),
            vec![fresh.clone()],
        ),
        ("a fragment", format!("{}#part", with_query(&base)), "must not contain '#'".into(), vec![]),
        ("a dot-dot path component", with_query(&format!("{base}/x/../elsewhere")), "invalid path in".into(), vec![]),
    ];
    // A secret parameter's name misspelt (its value, the real secret, must still not show), or,
    // where the URL has none, one added under a misspelt name.
    match MISSPELT.iter().find(|(right, _)| query.as_deref().is_some_and(|q| q.split('&').any(|p| p.starts_with(&format!("{right}="))))) {
        Some((right, wrong)) => {
            let q = query.as_deref().unwrap_or_default().replacen(&format!("{right}="), &format!("{wrong}="), 1);
            menu.push(("a secret parameter's name misspelt", format!("{base}?{q}"), format!("unknown parameter {wrong}"), vec![]));
        }
        None => {
            let (_, wrong) = MISSPELT[0];
            let q = query.as_deref().map(|q| format!("{q}&")).unwrap_or_default();
            menu.push(("a misspelt secret parameter", format!("{base}?{q}{wrong}={fresh}"), format!("unknown parameter {wrong}"), vec![fresh.clone()]));
        }
    }
    // Not a location but the statement around it: a backslash inside a line, which only a
    // line's end may hold (as a continuation); dropping it silently would run another statement
    // than the one typed.
    menu.push((
        "a backslash inside a line of the statement",
        format!("{url}' \\ AS OF SYSTEM TIME '-1s"),
        "a backslash is accepted only at the end of a line".into(),
        vec![],
    ));
    if let Some(q) = &query {
        let last = q.rsplit('&').next().unwrap_or_default();
        menu.push(("a bad percent-escape in a parameter value", format!("{base}?{q}%g1"), "invalid percent-escape in".into(), vec![]));
        menu.push(("a parameter given twice", format!("{base}?{q}&{last}"), "given more than once".into(), vec![]));
    }
    menu.shuffle(&mut rng);
    menu.into_iter().take(2).map(|(what, url, phrase, secrets)| Malformed { what, sql: naming(&mut rng, &url, seed), phrase, secrets }).collect()
}

/// A statement naming `url`, drawn among BACKUP TO, BACKUP ... INCREMENTAL FROM (the location
/// as the base, the destination sound) and SHOW BACKUP.
fn naming(rng: &mut impl Rng, url: &str, seed: u64) -> String {
    match rng.gen_range(0..3) {
        0 => format!("BACKUP DATABASE bank TO '{url}'"),
        1 => format!("BACKUP DATABASE bank TO 'nodelocal://1/malformed/{seed}' INCREMENTAL FROM '{url}'"),
        _ => format!("SHOW BACKUP '{url}'"),
    }
}

/// The node flags a backup seed starts its nodes with (stream `backup/io-flags`): http(s)
/// locations and custom S3 endpoints refused one seed in two, implicit credentials one in three
/// unless the seed's own destination (`dest`) uses them. The seed's own destination is never
/// refused by them: the sim's cloud has no http store and no custom endpoints.
pub(crate) fn draw_io_flags(dest: &str, tree: &SeedTree) -> ExternalIoSettings {
    let mut rng = tree.stream("backup/io-flags");
    let disable_http = rng.gen_ratio(1, 2);
    let implicit = rng.gen_ratio(1, 3);
    ExternalIoSettings { disable_http, disable_implicit_credentials: implicit && !dest.contains("AUTH=implicit"), ..ExternalIoSettings::default() }
}

/// The node flags' refusals in CockroachDB's words: http(s) refused, a custom S3 endpoint
/// refused, implicit credentials refused.
pub(crate) const FLAG_REFUSALS: [&str; 3] = ["external http access disabled", "custom endpoints disallowed", "implicit credentials disallowed"];

/// Locations the nodes' flags `io` forbid, each in a statement that must be refused at planning
/// with the flag's own message (CockroachDB's): an http(s) location or an S3 location with a
/// custom endpoint under `--external-io-disable-http`, `AUTH=implicit` under
/// `--external-io-disable-implicit-credentials`. None when no flag is set.
pub(crate) fn forbidden_by_flags(io: &ExternalIoSettings, tree: &SeedTree, seed: u64) -> Vec<Malformed> {
    let mut rng = tree.stream("backup/io-flags/statements");
    let mut out = Vec::new();
    if io.disable_http {
        let secret = format!("sim-secret-{seed}-endpoint-{:08x}", rng.gen::<u32>());
        let (what, url, phrase, secrets) = match rng.gen_range(0..3) {
            0 => ("an http location on nodes that refuse http", format!("http://backups.acme.test/seed-{seed}"), FLAG_REFUSALS[0], vec![]),
            1 => ("an https location on nodes that refuse http", format!("https://backups.acme.test/seed-{seed}"), FLAG_REFUSALS[0], vec![]),
            _ => (
                "an S3 location with a custom endpoint on nodes that refuse http",
                format!(
                    "s3://acme-co/seed-{seed}?AWS_ENDPOINT=http%3A%2F%2Fminio.acme.test%3A9000&AWS_ACCESS_KEY_ID=AKIAENDPOINT&AWS_SECRET_ACCESS_KEY={secret}"
                ),
                FLAG_REFUSALS[1],
                vec![secret],
            ),
        };
        out.push(Malformed { what, sql: naming(&mut rng, &url, seed), phrase: phrase.into(), secrets });
    }
    if io.disable_implicit_credentials {
        let url =
            if rng.gen_ratio(1, 2) { format!("gs://acme-co-backup/seed-{seed}?AUTH=implicit") } else { format!("s3://acme-co/seed-{seed}?AUTH=implicit") };
        out.push(Malformed {
            what: "implicit credentials on nodes that refuse them",
            sql: naming(&mut rng, &url, seed),
            phrase: FLAG_REFUSALS[2].into(),
            secrets: vec![],
        });
    }
    out
}

/// What is wrong with `outcome`, the answer to `m`'s statement, if anything: it must be an
/// error, given at planning (not a job's failure), containing `m`'s phrase.
pub(crate) fn judge(m: &Malformed, outcome: Result<usize, &str>) -> Option<String> {
    match outcome {
        Err(e) if e.contains(&m.phrase) && !e.starts_with("job ") => None,
        Err(e) if e.starts_with("job ") => Some(format!("a statement naming a location with {} started a job before refusing it: {e}", m.what)),
        Err(e) => Some(format!("a statement naming a location with {} was refused, but not for it (the refusal must say {:?}): {e}", m.what, m.phrase)),
        Ok(rows) => Some(format!("a statement naming a location with {} was not refused ({rows} rows)", m.what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backup::storage::url::StorageUrl;

    /// Every spoiling of every scheme's URL is refused by the URL rules for the reason drawn,
    /// and the intact URL is not: the menu is not refused by accident.
    #[test]
    fn every_spoiling_breaks_the_rule_it_names() {
        let urls = [
            "nodelocal://1/backups/seed-1",
            "s3://acme-co/backups/seed-1?AWS_ACCESS_KEY_ID=AKIA1&AWS_SECRET_ACCESS_KEY=s%2Fk&AUTH=specified",
            "gs://acme-co-backup?AUTH=implicit",
            "gs://acme-co-backup/seed-1?AUTH=specified&CREDENTIALS=e30%3D",
            "azure://backups?AZURE_ACCOUNT_NAME=acme&AZURE_ACCOUNT_KEY=a%2Bb",
        ];
        let mut whats = std::collections::BTreeSet::new();
        for url in urls {
            StorageUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            for seed in 0..40 {
                for m in draw(url, &SeedTree::new(seed), seed) {
                    let located = m.sql.split('\'').rfind(|l| l.contains("://")).expect("a quoted location");
                    let e = match backup::statement::parse(&m.sql) {
                        Err(e) => e.to_string(),
                        Ok(_) => StorageUrl::parse(located).expect_err(&m.sql).to_string(),
                    };
                    assert!(e.contains(&m.phrase), "{}: {e:?} does not say {:?}", m.sql, m.phrase);
                    whats.insert(m.what);
                }
            }
        }
        assert_eq!(whats.len(), 10, "{whats:?}");
    }

    #[test]
    fn a_refusal_must_be_for_the_reason_and_before_any_job() {
        let m = Malformed { what: "a fragment", sql: String::new(), phrase: "must not contain '#'".into(), secrets: vec![] };
        assert_eq!(judge(&m, Err("storage URL must not contain '#' (URI-encode it as %23 in parameter values)")), None);
        assert!(judge(&m, Err("job 7 failed: storage URL must not contain '#'")).is_some());
        assert!(judge(&m, Err("BACKUP-CHECKPOINT not found")).is_some());
        assert!(judge(&m, Ok(1)).is_some());
    }

    /// Each flag's statements name a location that flag refuses, with the phrase drawn, and
    /// that nodes without the flags accept; the seed's own destination is never refused.
    #[test]
    fn the_flags_refuse_what_they_name_and_never_the_destination() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..60 {
            let tree = SeedTree::new(seed);
            for dest in ["nodelocal://1/backups/seed-1", "gs://acme-co-backup?AUTH=implicit", "s3://acme-co/p?AWS_ACCESS_KEY_ID=A&AWS_SECRET_ACCESS_KEY=k"] {
                let io = draw_io_flags(dest, &tree);
                io.check(&StorageUrl::parse(dest).unwrap()).unwrap_or_else(|e| panic!("{dest} refused by {io:?}: {e}"));
                for m in forbidden_by_flags(&io, &tree, seed) {
                    let located = m.sql.split('\'').rfind(|l| l.contains("://")).expect("a quoted location");
                    let url = StorageUrl::parse(located).unwrap_or_else(|e| panic!("{located}: {e}"));
                    let refusal = io.check(&url).expect_err(located).to_string();
                    assert!(refusal.contains(&m.phrase), "{located}: {refusal} lacks {:?}", m.phrase);
                    ExternalIoSettings::default().check(&url).unwrap_or_else(|e| panic!("{located} refused without flags: {e}"));
                    seen.insert(m.what);
                }
            }
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
    }
}
