//! From a [`StorageUrl`] to the `object_store` client it names: one function per scheme that
//! returns the configured builder (so tests can inspect exactly what a URL turns into without a
//! server — the only coverage `gs` gets, since no GCS emulator accepts `object_store`'s uploads),
//! and [`open`], which builds it.
//!
//! The URL's parameters map as CockroachDB maps them: s3 `AUTH=specified` (the default) takes
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` from the URL and nothing
//! from the environment, `AUTH=implicit` takes the node's environment (`AWS_*` variables,
//! instance credentials); `AWS_ENDPOINT` selects an S3-compatible service, addressed path-style;
//! gs `AUTH=specified` decodes `CREDENTIALS`, `AUTH=default` uses the
//! `cloudstorage.gs.default.key` setting ([`RealStorageOptions::gs_default_key`]), no `AUTH`
//! uses that key when set and implicit credentials otherwise; azure uses the account name and
//! key; http(s) reaches the server with PUT / GET / DELETE (and WebDAV PROPFIND / MKCOL).
//!
//! What it must never do: let a secret into an error. Builder failures are scrubbed.

use super::{RealStorageOptions, RequestRetry, Secrets};
use crate::storage::url::{decode_base64, Auth, ExternalIoSettings, Scheme, StorageUrl, UrlError};
use crate::storage::StorageError;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, Certificate, ClientOptions, ObjectStore, RetryConfig};
use std::sync::Arc;

/// A permanent error about the URL as a whole (named by its redacted form).
fn refused(url: &StorageUrl, secrets: &Secrets, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Permanent { path: url.redacted(), reason: secrets.scrub(&reason.to_string()) }
}

/// `object_store`'s retry policy from ours.
pub fn retry_config(r: &RequestRetry) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig { init_backoff: r.initial_backoff, max_backoff: r.max_backoff, base: 2.0 },
        max_retries: r.max_retries,
        retry_timeout: r.retry_timeout,
    }
}

/// The HTTP client options every scheme shares: timeouts, plain http where the URL asks for it,
/// and the custom root CA.
pub fn client_options(url: &StorageUrl, opts: &RealStorageOptions, allow_http: bool) -> Result<ClientOptions, StorageError> {
    let mut c = ClientOptions::new().with_connect_timeout(opts.retry.connect_timeout).with_timeout(opts.retry.request_timeout).with_allow_http(allow_http);
    if let Some(pem) = &opts.custom_ca_pem {
        let certs = Certificate::from_pem_bundle(pem).map_err(|e| refused(url, &Secrets::default(), format!("the custom root CA is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(refused(url, &Secrets::default(), "the custom root CA holds no certificate"));
        }
        for cert in certs {
            c = c.with_root_certificate(cert);
        }
    }
    Ok(c)
}

/// The S3 client configuration for an `s3://` URL.
pub fn s3(url: &StorageUrl, opts: &RealStorageOptions) -> Result<AmazonS3Builder, StorageError> {
    let secrets = Secrets::of(url, &[]);
    let implicit = url.auth() == Some(Auth::Implicit);
    let mut b = if implicit { AmazonS3Builder::from_env() } else { AmazonS3Builder::new() };
    b = b.with_bucket_name(url.host());
    if !implicit {
        let key = url.param("AWS_ACCESS_KEY_ID").unwrap_or_default();
        let secret = url.param("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
        b = b.with_access_key_id(key).with_secret_access_key(secret);
        if let Some(token) = url.param("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()) {
            b = b.with_token(token);
        }
    }
    match url.param("AWS_REGION").filter(|r| !r.is_empty()) {
        Some(region) => b = b.with_region(region),
        // CockroachDB's default region when neither the URL nor (implicitly) the
        // environment names one.
        None if !implicit || std::env::var_os("AWS_REGION").is_none() => b = b.with_region("us-east-1"),
        None => {}
    }
    let mut allow_http = false;
    if let Some(endpoint) = url.param("AWS_ENDPOINT").filter(|e| !e.is_empty()) {
        let parsed = url::Url::parse(endpoint).map_err(|e| refused(url, &secrets, format!("AWS_ENDPOINT: {e}")))?;
        allow_http = parsed.scheme() == "http";
        // S3-compatible services are addressed path-style: http://endpoint/bucket/key.
        b = b.with_endpoint(endpoint.trim_end_matches('/')).with_virtual_hosted_style_request(false);
    }
    Ok(b.with_client_options(client_options(url, opts, allow_http)?).with_retry(retry_config(&opts.retry)))
}

/// How a gs URL authenticates once `AUTH` and the default-key setting are considered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GsCredentials {
    /// A JSON service-account key (from `CREDENTIALS` or the default-key setting).
    Key(String),
    /// The node's environment (application default credentials, `GOOGLE_*` variables).
    Implicit,
}

/// Decides gs authentication, applying `--external-io-disable-implicit-credentials` where the
/// choice turns out implicit (a URL without `AUTH` and no default key).
pub fn gs_credentials(url: &StorageUrl, opts: &RealStorageOptions, settings: &ExternalIoSettings) -> Result<GsCredentials, StorageError> {
    let default_key = opts.gs_default_key.as_deref().filter(|k| !k.trim().is_empty());
    let implicit = || {
        if settings.disable_implicit_credentials {
            Err(StorageError::Refused(UrlError::ImplicitCredentialsDisabled))
        } else {
            Ok(GsCredentials::Implicit)
        }
    };
    match url.auth() {
        Some(Auth::Specified) => {
            let raw = url.param("CREDENTIALS").unwrap_or_default();
            let json = decode_base64(raw).and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                StorageError::Refused(UrlError::BadParameterValue { name: "CREDENTIALS".into(), reason: "not valid base64 of a JSON key".into() })
            })?;
            Ok(GsCredentials::Key(json))
        }
        Some(Auth::Default) => match default_key {
            Some(k) => Ok(GsCredentials::Key(k.to_string())),
            None => Err(StorageError::Refused(UrlError::BadParameterValue {
                name: "AUTH".into(),
                reason: "AUTH=default needs the cloudstorage.gs.default.key setting, which is not set; \
                         use AUTH=implicit or AUTH=specified with CREDENTIALS"
                    .into(),
            })),
        },
        Some(Auth::Implicit) => implicit(),
        None => match default_key {
            Some(k) => Ok(GsCredentials::Key(k.to_string())),
            None => implicit(),
        },
    }
}

/// The GCS client configuration for a `gs://` URL.
pub fn gs(url: &StorageUrl, opts: &RealStorageOptions, settings: &ExternalIoSettings) -> Result<GoogleCloudStorageBuilder, StorageError> {
    let b = match gs_credentials(url, opts, settings)? {
        GsCredentials::Key(json) => GoogleCloudStorageBuilder::new().with_service_account_key(json),
        GsCredentials::Implicit => GoogleCloudStorageBuilder::from_env(),
    };
    Ok(b.with_bucket_name(url.host()).with_client_options(client_options(url, opts, false)?).with_retry(retry_config(&opts.retry)))
}

/// The Azure Blob client configuration for an `azure://` URL (host = container).
pub fn azure(url: &StorageUrl, opts: &RealStorageOptions) -> Result<MicrosoftAzureBuilder, StorageError> {
    let secrets = Secrets::of(url, &[]);
    let account = url.param("AZURE_ACCOUNT_NAME").unwrap_or_default();
    let mut b =
        MicrosoftAzureBuilder::new().with_container_name(url.host()).with_account(account).with_access_key(url.param("AZURE_ACCOUNT_KEY").unwrap_or_default());
    let mut allow_http = false;
    if let Some(endpoint) = opts.azure_endpoint.as_deref().filter(|e| !e.is_empty()) {
        let parsed = url::Url::parse(endpoint).map_err(|e| refused(url, &secrets, format!("azure endpoint: {e}")))?;
        allow_http = parsed.scheme() == "http";
        // Emulators address the account in the path: http://host:port/<account>/<container>.
        b = b.with_endpoint(format!("{}/{}", endpoint.trim_end_matches('/'), account));
    }
    Ok(b.with_client_options(client_options(url, opts, allow_http)?).with_retry(retry_config(&opts.retry)))
}

/// The HTTP client configuration for an `http://` or `https://` URL, at the server's root (the
/// URL's path is the key prefix, so missing collections are created on the way).
pub fn http(url: &StorageUrl, opts: &RealStorageOptions) -> Result<HttpBuilder, StorageError> {
    let base = match url.port() {
        Some(p) => format!("{}://{}:{p}/", url.scheme(), url.host()),
        None => format!("{}://{}/", url.scheme(), url.host()),
    };
    Ok(HttpBuilder::new().with_url(base).with_client_options(client_options(url, opts, url.scheme() == Scheme::Http)?).with_retry(retry_config(&opts.retry)))
}

/// Builds the `object_store` client for a cloud or http(s) URL (not nodelocal). Assumes
/// [`ExternalIoSettings::check`] already passed.
pub fn open(url: &StorageUrl, opts: &RealStorageOptions, settings: &ExternalIoSettings) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let secrets = Secrets::of(url, &[opts.gs_default_key.as_deref().unwrap_or_default()]);
    let fail = |e: object_store::Error| refused(url, &secrets, format!("cannot configure the {} client: {e}", url.scheme()));
    Ok(match url.scheme() {
        Scheme::S3 => Arc::new(s3(url, opts)?.build().map_err(fail)?),
        Scheme::Gs => Arc::new(gs(url, opts, settings)?.build().map_err(fail)?),
        Scheme::Azure => Arc::new(azure(url, opts)?.build().map_err(fail)?),
        Scheme::Http | Scheme::Https => Arc::new(http(url, opts)?.build().map_err(fail)?),
        Scheme::Nodelocal => return Err(refused(url, &secrets, "nodelocal is not an object store")),
    })
}
