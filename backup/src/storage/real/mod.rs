//! Real storage backends (the `real-storage` feature): what a real process (the `backup-sim
//! shell`, the real-backend tests) hands to BACKUP and RESTORE instead of the simulator's
//! storage.
//!
//! - [`NodelocalStorage`]: `nodelocal://` on this machine's file system, under the external-io
//!   directory, with atomic writes (temporary file, fsync, rename, fsync of the directory) and
//!   symlink escapes refused.
//! - [`ObjectStorage`]: `s3`, `gs`, `azure`, `http` and `https` through the `object_store`
//!   crate (no protocol code of our own); [`builders`] turns a [`StorageUrl`] into its client.
//! - [`RealStorageProvider`]: opens either for a URL, after [`ExternalIoSettings::check`].
//!
//! What this module must never do: put a credential in an error or a log line. Every message
//! names paths and redacted URLs only, and text that comes from `object_store` or a server is
//! passed through [`Secrets::scrub`] first, which replaces every secret value of the URL.
//! The simulation runs [`ObjectStorage`] and [`builders`] for every cloud URL, over its own
//! `ObjectStore` (`sim::cloud`) where a real process has the network; [`NodelocalStorage`] and
//! [`RealStorageProvider`] (real files, real clients) it never runs.
//!
//! [`StorageUrl`]: super::StorageUrl
//! [`ExternalIoSettings::check`]: super::ExternalIoSettings::check

pub mod builders;
mod nodelocal;
mod object;
mod provider;

pub use nodelocal::NodelocalStorage;
pub use object::ObjectStorage;
pub use provider::RealStorageProvider;

use super::url::StorageUrl;
use std::time::Duration;

/// What the real backends need besides the URL: CockroachDB takes these from cluster settings
/// or the node's environment, so they are not URL parameters.
#[derive(Clone, Debug, Default)]
pub struct RealStorageOptions {
    /// The Azure Blob service endpoint to use instead of `https://{account}.blob.core.windows.net`
    /// (e.g. `http://127.0.0.1:10000` for the Azurite emulator; the account name is appended,
    /// as the emulator expects). Why: tests and sovereign clouds need another endpoint and the
    /// seed's azure URL has no parameter for it.
    pub azure_endpoint: Option<String>,
    /// The JSON key `AUTH=default` uses for gs (CockroachDB's `cloudstorage.gs.default.key`
    /// cluster setting). A secret: never printed.
    pub gs_default_key: Option<String>,
    /// PEM root certificates trusted in addition to the system's, for https servers and
    /// S3-compatible endpoints with a private CA (CockroachDB's `cloudstorage.http.custom_ca`).
    pub custom_ca_pem: Option<Vec<u8>>,
    /// How `object_store` retries one request (5xx, connection errors, timeouts) before it
    /// reports a failure that the job's own retry loop then sees as transient.
    pub retry: RequestRetry,
}

/// `object_store`'s per-request retry policy, in our terms.
#[derive(Clone, Debug)]
pub struct RequestRetry {
    /// Retries of one request after its first attempt.
    pub max_retries: usize,
    /// Give up retrying one request after this long.
    pub retry_timeout: Duration,
    /// Backoff before the first retry (doubling, with jitter, up to `max_backoff`).
    pub initial_backoff: Duration,
    /// Largest backoff between two retries.
    pub max_backoff: Duration,
    /// Time allowed to connect to the server.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request.
    pub request_timeout: Duration,
}

impl Default for RequestRetry {
    /// A few quick retries: the backup job retries transient failures itself within its retry
    /// budget, so a request need not hold on for minutes.
    fn default() -> Self {
        RequestRetry {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// The secret values of one URL (and of the options it uses), so that any text a library or a
/// server produced can be scrubbed of them before it becomes part of an error.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

impl Secrets {
    /// The secret values of `url` (secret parameters, and the user-info of URL-valued ones such
    /// as `AWS_ENDPOINT`) plus `extra` values (e.g. the gs default key).
    pub fn of(url: &StorageUrl, extra: &[&str]) -> Secrets {
        let mut values: Vec<String> = url.secret_values();
        // An extra value may be a JSON key (the gs default key): its private key too.
        values.extend(extra.iter().flat_map(|s| super::url::json_key_secrets(s)));
        // Percent-encoded forms can appear in request URLs (the key inside gs CREDENTIALS is
        // among the URL's secret values already).
        let mut more = Vec::new();
        for v in &values {
            more.push(percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string());
        }
        values.extend(more);
        values.retain(|v| !v.is_empty());
        // Longest first, so that a secret containing another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets(values)
    }

    /// `text` with every secret value replaced by `redacted`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), super::url::REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
