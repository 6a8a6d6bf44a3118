//! The destinations the backup and chain scenarios write to, and the credentials their buckets
//! accept. Each seed issues its own credentials (as an operator creates a key for a backup
//! bucket), registers them with the simulated cloud, and writes them into the URL the way a user
//! must: percent-escaped where they hold `/`, `+` or `=`, a gs key as base64 of its JSON (padded
//! or not), `AUTH` spelled out or left to its default. The cloud then serves the backup only if
//! the backup's own URL parsing and client configuration hand it exactly those credentials, so
//! every step from the statement's text to the request is checked by a party that did not
//! compute it: these bytes were made here, with crates the backup does not use to read them.

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sim::credential::Credential;
use sim::seed_tree::SeedTree;
use sim::storage::SimStorage;

/// A destination URL and what its bucket accepts.
#[derive(Clone, Debug)]
pub(crate) struct DestinationUrl {
    /// The URL the statements name.
    pub url: String,
    /// The bucket (`scheme://host`) and the credentials it accepts (none for `nodelocal`).
    pub grant: Option<(String, Credential)>,
    /// Every secret value in the URL, raw and as the URL spells it: none may reach a trace,
    /// a report or SHOW JOBS.
    pub secrets: Vec<String>,
    /// The same URL with a credential the bucket does not accept (none for `nodelocal` and
    /// `AUTH=implicit`), and its secrets: a statement naming it must be refused for its
    /// credentials, without showing them.
    pub wrong: Option<(String, Vec<String>)>,
}

impl DestinationUrl {
    /// Tells the simulated cloud what the bucket accepts (before any statement names it).
    pub(crate) fn register(&self, storage: &SimStorage) {
        if let Some((bucket, credential)) = &self.grant {
            storage.grant(bucket, credential.clone());
        }
    }
}

/// `len` characters of `alphabet`.
fn chars(rng: &mut ChaCha8Rng, alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect()
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The characters of an AWS secret key: base64's, `/` and `+` among them.
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The made-up private key material of a gs key.
/// (Those three are a fifth of the alphabet, so most keys give both sextets.)
const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~?>~?>~?>~?>~?>";

/// A query value as a URL must carry it.
fn escaped(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// The destination of seed `seed`: the scheme from `rng` (the scenario's own stream, one draw,
/// so its other draws stay where they were), the credentials and the URL's dress from the seed
/// tree's `credentials` stream.
pub(crate) fn destination(rng: &mut ChaCha8Rng, tree: &SeedTree, seed: u64) -> DestinationUrl {
    let scheme = rng.gen_range(0..4);
    let mut c = tree.stream("credentials");
    // One cloud destination in four is a bucket's (container's) root, which CockroachDB allows
    // and the seed page's own azure example uses: keys then have no prefix.
    let path = if tree.stream("credentials/root").gen_ratio(1, 4) { String::new() } else { format!("/backups/seed-{seed}") };
    let short_path = if path.is_empty() { String::new() } else { format!("/seed-{seed}") };
    let mut secrets = Vec::new();
    let secret = |raw: String, secrets: &mut Vec<String>| {
        secrets.push(raw.clone());
        secrets.push(escaped(&raw));
        raw
    };
    match scheme {
        0 => DestinationUrl { url: format!("nodelocal://1/backups/seed-{seed}"), grant: None, secrets, wrong: None },
        1 => {
            let key_id = format!("AKIA{}", chars(&mut c, UPPER_DIGITS, 16));
            let secret_key = secret(format!("sim-secret-{seed}/{}", chars(&mut c, SECRET_CHARS, 30)), &mut secrets);
            let token = c.gen_ratio(1, 3).then(|| secret(format!("sim-token-{seed}+{}", chars(&mut c, SECRET_CHARS, 40)), &mut secrets));
            let mut url = format!("s3://acme-co{path}?AWS_ACCESS_KEY_ID={key_id}&AWS_SECRET_ACCESS_KEY={}", escaped(&secret_key));
            if let Some(t) = &token {
                url += &format!("&AWS_SESSION_TOKEN={}", escaped(t));
            }
            if c.gen_ratio(1, 2) {
                url += "&AUTH=specified";
            }
            let credential = Credential::AwsKey { key_id, secret: secret_key.clone(), token };
            let bad = format!("sim-wrong-{seed}/{}", chars(&mut c, SECRET_CHARS, 30));
            let wrong = (url.replace(&escaped(&secret_key), &escaped(&bad)), vec![bad.clone(), escaped(&bad)]);
            DestinationUrl { url, grant: Some(("s3://acme-co".into(), credential)), secrets, wrong: Some(wrong) }
        }
        2 if c.gen_ratio(1, 2) => {
            let url = format!("gs://acme-co-backup{short_path}?AUTH=implicit");
            DestinationUrl { url, grant: Some(("gs://acme-co-backup".into(), Credential::NodeIdentity)), secrets, wrong: None }
        }
        2 => {
            // Made-up key material with `~`, `?` and `>`: the only ASCII whose place in a JSON
            // text puts the sextets `+` and `/` (62, 63) into its base64.
            let private_key = secret(format!("sim-secret-{seed}-{}", chars(&mut c, KEY_CHARS, 40)), &mut secrets);
            let json = format!(
                r#"{{"type":"service_account","project_id":"acme-{seed}","client_email":"backup@acme-{seed}.iam.gserviceaccount.com","private_key":"{private_key}"}}"#
            );
            // Standard base64 (CockroachDB reads it with Go's StdEncoding), padded or not.
            let encoded = if c.gen_ratio(1, 2) {
                base64::engine::general_purpose::STANDARD.encode(&json)
            } else {
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(&json)
            };
            let encoded = secret(encoded, &mut secrets);
            let url = format!("gs://acme-co-backup{short_path}?AUTH=specified&CREDENTIALS={}", escaped(&encoded));
            let bad_key = format!("sim-wrong-{seed}-{}", chars(&mut c, KEY_CHARS, 40));
            let bad = base64::engine::general_purpose::STANDARD.encode(json.replace(&private_key, &bad_key));
            let wrong = (url.replace(&escaped(&encoded), &escaped(&bad)), vec![bad_key, bad.clone(), escaped(&bad)]);
            DestinationUrl { url, grant: Some(("gs://acme-co-backup".into(), Credential::GsKey { json })), secrets, wrong: Some(wrong) }
        }
        _ => {
            let account = format!("acme{}", c.gen_range(100..1000));
            let mut raw = [0u8; 32];
            c.fill(&mut raw);
            // A storage account key is base64 (of 64 bytes in Azure, 32 here), led by the seed's
            // marker so a leak is easy to spot.
            let key = secret(format!("sim-secret-{seed}{}", base64::engine::general_purpose::STANDARD.encode(raw)), &mut secrets);
            let url = format!("azure://backups{short_path}?AZURE_ACCOUNT_NAME={account}&AZURE_ACCOUNT_KEY={}", escaped(&key));
            c.fill(&mut raw);
            let bad = format!("sim-wrong-{seed}{}", base64::engine::general_purpose::STANDARD.encode(raw));
            let wrong = (url.replace(&escaped(&key), &escaped(&bad)), vec![bad.clone(), escaped(&bad)]);
            DestinationUrl { url, grant: Some(("azure://backups".into(), Credential::AzureKey { account, key })), secrets, wrong: Some(wrong) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Every seed's URL parses, and the backup's own reading of it presents what was granted:
    /// the scenarios' buckets would otherwise refuse every backup of the seed, which the
    /// sweeps report only as failed backups.
    #[test]
    fn every_drawn_url_carries_its_granted_credentials_and_shows_no_secret() {
        let mut schemes = std::collections::BTreeSet::new();
        let mut roots = 0;
        for seed in 0..200 {
            let tree = SeedTree::new(seed);
            let d = destination(&mut ChaCha8Rng::seed_from_u64(seed), &tree, seed);
            let url = backup::storage::url::StorageUrl::parse(&d.url).unwrap_or_else(|e| panic!("seed {seed}: {}: {e}", d.url));
            schemes.insert(format!("{:?}", d.grant.as_ref().map(|(_, c)| std::mem::discriminant(c))));
            roots += usize::from(url.path().trim_matches('/').is_empty());
            let shown = url.redacted();
            for s in &d.secrets {
                assert!(!shown.contains(s.as_str()), "seed {seed}: {shown} shows a secret");
            }
            if let Some((wrong, bad)) = &d.wrong {
                let w = backup::storage::url::StorageUrl::parse(wrong).unwrap_or_else(|e| panic!("seed {seed}: {wrong}: {e}"));
                let presented = sim::cloud::presented(&w).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                assert!(d.grant.as_ref().is_some_and(|(_, g)| g != &presented), "seed {seed}: the wrong credentials are the granted ones");
                assert!(wrong != &d.url && bad.iter().any(|b| wrong.contains(b.as_str())), "seed {seed}: {wrong} is not the URL with a wrong credential");
            }
            if let Some((bucket, granted)) = &d.grant {
                assert_eq!(bucket, &sim::credential::bucket_of(&url), "seed {seed}");
                let presented = sim::cloud::presented(&url).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                assert!(&presented == granted, "seed {seed}: {} presents {presented:?}, the bucket accepts {granted:?}", url.redacted());
            }
        }
        // nodelocal (no grant), an s3 key pair, a gs key, gs implicit, an azure key.
        assert_eq!(schemes.len(), 5, "{schemes:?}");
        assert!(roots > 0, "no destination at a bucket's root");
    }
}
