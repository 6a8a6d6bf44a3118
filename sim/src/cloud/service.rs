//! The simulated cloud service itself (the `cloud` feature): the `ObjectStore` the backup's
//! `ObjectStorage` adapter talks to, what a URL's client presents, and the service's answers.
//! See [`crate::cloud`].

use crate::credential::{bucket_of, Credential};
use crate::storage::{SimBucket, SimStorage};
use async_trait::async_trait;
use backup::storage::real::{builders, ObjectStorage, RealStorageOptions, Secrets};
use backup::storage::url::{Auth, ExternalIoSettings, Scheme, StorageUrl};
use backup::storage::{ExternalStorage, StorageError};
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use model::NodeId;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions,
    PutPayload, PutResult,
};
use std::sync::Arc;

/// The credentials a client made from `url` by the backup's own builders presents.
pub fn presented(url: &StorageUrl) -> Result<Credential, StorageError> {
    use object_store::aws::AmazonS3ConfigKey;
    use object_store::azure::AzureConfigKey;
    let opts = RealStorageOptions::default();
    Ok(match url.scheme() {
        // An implicit s3 client reads the process environment; in the simulation that is the
        // node's identity, never the machine's own variables.
        Scheme::S3 if url.auth() == Some(Auth::Implicit) => Credential::NodeIdentity,
        Scheme::S3 => {
            let b = builders::s3(url, &opts)?;
            Credential::AwsKey {
                key_id: b.get_config_value(&AmazonS3ConfigKey::AccessKeyId).unwrap_or_default(),
                secret: b.get_config_value(&AmazonS3ConfigKey::SecretAccessKey).unwrap_or_default(),
                token: b.get_config_value(&AmazonS3ConfigKey::Token),
            }
        }
        Scheme::Gs => match builders::gs_credentials(url, &opts, &ExternalIoSettings::default())? {
            builders::GsCredentials::Key(json) => Credential::GsKey { json },
            builders::GsCredentials::Implicit => Credential::NodeIdentity,
        },
        Scheme::Azure => {
            let b = builders::azure(url, &opts)?;
            Credential::AzureKey {
                account: b.get_config_value(&AzureConfigKey::AccountName).unwrap_or_default(),
                key: b.get_config_value(&AzureConfigKey::AccessKey).unwrap_or_default(),
            }
        }
        Scheme::Http | Scheme::Https => Credential::Anonymous,
        Scheme::Nodelocal => return Err(StorageError::Permanent { path: url.redacted(), reason: "nodelocal is not a cloud bucket".into() }),
    })
}

/// Opens a cloud URL for node `node` as a real process does: `object_store` client (here the
/// simulated service) under the backup's `ObjectStorage`, at the URL's path, scrubbing the URL's
/// secrets from every error.
pub(crate) fn open(storage: &SimStorage, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError> {
    let credential = presented(url)?;
    let denied = storage.authorize(&bucket_of(url), &credential).err();
    let service = SimCloud {
        bucket: SimBucket::new(storage.clone(), url, node),
        prefix: url.path().trim_matches('/').to_string(),
        name: bucket_of(url),
        conditional_put: !matches!(url.scheme(), Scheme::Http | Scheme::Https),
        denied,
        store: store_name(url.scheme()),
    };
    Ok(Arc::new(ObjectStorage::new(Arc::new(service), url.path(), Secrets::of(url, &[]))?))
}

/// The store name `object_store` puts in its `Generic` errors.
fn store_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::S3 => "S3",
        Scheme::Gs => "GCS",
        Scheme::Azure => "MicrosoftAzure",
        _ => "HTTP",
    }
}

/// The longest object key the services accept, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// The statuses a service answers a transient failure with, in turn: S3's 503 SlowDown and
/// 500 InternalError, GCS's 429 rate limit, a proxy's 408. (Every fifth failure is a
/// connection reset instead.)
const TRANSIENT_STATUSES: [&str; 4] = ["503 Service Unavailable", "500 Internal Server Error", "429 Too Many Requests", "408 Request Timeout"];

/// One client's view of the service: the bucket, reached for one URL by one node.
#[derive(Clone)]
struct SimCloud {
    /// The store, rooted at the URL (scheme, host and path): keys below arrive relative to the
    /// bucket and are taken relative to the URL's path.
    bucket: SimBucket,
    /// The URL's path, which every key the client sends starts with.
    prefix: String,
    /// `scheme://host`, for messages.
    name: String,
    /// False for http(s) (WebDAV): no conditional PUT.
    conditional_put: bool,
    /// Why every request is refused (with the echoed credentials), if the client's
    /// credentials are not the bucket's.
    denied: Option<String>,
    store: &'static str,
}

impl std::fmt::Display for SimCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimCloud({})", self.name)
    }
}

impl std::fmt::Debug for SimCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimCloud({}, at {:?})", self.name, self.prefix)
    }
}

/// A server's answer that is only text.
#[derive(Debug)]
struct Said(String);

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Said {}

fn said(text: impl Into<String>) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(Said(text.into()))
}

impl SimCloud {
    /// The key relative to the URL's path, decoded as the server decodes a request's path. A
    /// key longer than the services' limit (1024 bytes on S3, GCS and Azure) is refused with
    /// S3's `400 KeyTooLongError`, a permanent answer the backup must not retry.
    fn relative(&self, location: &Path) -> Result<String, object_store::Error> {
        let key = percent_encoding::percent_decode_str(location.as_ref()).decode_utf8_lossy().into_owned();
        if key.len() > MAX_KEY_BYTES {
            return Err(self.bad_request(location, &format!("KeyTooLongError: your key is too long ({} bytes; the limit is {MAX_KEY_BYTES})", key.len())));
        }
        let rel = if self.prefix.is_empty() { Some(key.as_str()) } else { key.strip_prefix(&self.prefix).and_then(|r| r.strip_prefix('/')) };
        match rel {
            Some(r) if !r.is_empty() => Ok(r.to_string()),
            _ => Err(self.bad_request(location, "the key lies outside the location this client was opened for")),
        }
    }

    /// The bucket key of a path relative to the URL's path.
    fn location(&self, rel: &str) -> Path {
        let full = if self.prefix.is_empty() { rel.to_string() } else { format!("{}/{rel}", self.prefix) };
        Path::from_iter(full.split('/'))
    }

    fn bad_request(&self, location: &Path, why: &str) -> object_store::Error {
        object_store::Error::Generic { store: self.store, source: said(format!("Server returned non-2xx status code: 400 Bad Request: {location}: {why}")) }
    }

    /// The refusal of an unauthorized client, after the request's latency.
    async fn check_access(&self, location: &Path) -> Result<(), object_store::Error> {
        match &self.denied {
            None => Ok(()),
            // GCS refuses a bad key at its token exchange with a 401, which object_store reports
            // as Unauthenticated; S3 and Azure answer the request itself with a 403.
            Some(why) if self.store == "GCS" => {
                self.bucket.round_trip().await;
                Err(object_store::Error::Unauthenticated { path: location.to_string(), source: said(format!("401 Unauthorized: {why}")) })
            }
            Some(why) => {
                self.bucket.round_trip().await;
                Err(object_store::Error::PermissionDenied { path: location.to_string(), source: said(format!("403 Forbidden: {why}")) })
            }
        }
    }

    /// The simulated store's error as the `object_store` client would have reported the
    /// server's answer.
    fn error(&self, location: &Path, e: StorageError) -> object_store::Error {
        let path = location.to_string();
        match e {
            StorageError::NotFound { .. } => object_store::Error::NotFound { path, source: said("404 Not Found: NoSuchKey") },
            StorageError::AlreadyExists { .. } => {
                object_store::Error::AlreadyExists { path, source: said("412 Precondition Failed: an object already exists at this key") }
            }
            StorageError::Transient { reason, .. } => match TRANSIENT_STATUSES.get(self.bucket.storage.next_failure_kind(TRANSIENT_STATUSES.len() + 1)) {
                None => object_store::Error::Generic {
                    store: self.store,
                    source: Box::new(HttpError::new(HttpErrorKind::Request, std::io::Error::new(std::io::ErrorKind::ConnectionReset, reason))),
                },
                Some(status) => {
                    object_store::Error::Generic { store: self.store, source: said(format!("Server returned non-2xx status code: {status}: {reason}")) }
                }
            },
            StorageError::Permanent { reason, .. } => self.bad_request(location, &reason),
            StorageError::Refused(r) => self.bad_request(location, &r.to_string()),
        }
    }

    fn not_implemented(&self, operation: &str) -> object_store::Error {
        object_store::Error::NotImplemented { operation: operation.into(), implementer: "the simulated object service".into() }
    }
}

#[async_trait]
impl ObjectStore for SimCloud {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        let create_only = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create if self.conditional_put => true,
            PutMode::Create => return Err(self.not_implemented("put_opts with PutMode::Create")),
            PutMode::Update(_) => return Err(self.not_implemented("put_opts with PutMode::Update")),
        };
        let rel = self.relative(location)?;
        self.check_access(location).await?;
        let data: Vec<u8> = payload.iter().flat_map(|b| b.iter().copied()).collect();
        self.bucket.put(&rel, data, create_only).await.map_err(|e| self.error(location, e))?;
        Ok(PutResult { e_tag: None, version: None, extensions: Default::default() })
    }

    async fn put_multipart_opts(&self, _location: &Path, _opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(self.not_implemented("put_multipart_opts"))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        if options.range.is_some() || options.if_match.is_some() || options.if_none_match.is_some() || options.version.is_some() {
            return Err(self.not_implemented("get_opts with a range, a precondition or a version"));
        }
        let rel = self.relative(location)?;
        self.check_access(location).await?;
        let data = self.bucket.read(&rel).await.map_err(|e| self.error(location, e))?;
        let size = data.len() as u64;
        let meta = ObjectMeta { location: location.clone(), last_modified: chrono::DateTime::UNIX_EPOCH, size, e_tag: None, version: None };
        let body: Bytes = if options.head { Bytes::new() } else { Bytes::from(data) };
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(body) }).boxed()),
            meta,
            range: 0..size,
            attributes: Default::default(),
            extensions: Default::default(),
        })
    }

    fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<Path>>) -> BoxStream<'static, object_store::Result<Path>> {
        let me = Arc::new(self.clone());
        locations
            .then(move |location| {
                let me = me.clone();
                async move {
                    let location = location?;
                    let rel = me.relative(&location)?;
                    me.check_access(&location).await?;
                    me.bucket.delete(&rel).await.map_err(|e| me.error(&location, e))?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let me = Arc::new(self.clone());
        let prefix = prefix.cloned();
        stream::once(async move {
            // The listing's directory relative to the URL's path (empty: the whole location).
            let dir = match &prefix {
                None => String::new(),
                Some(p) => {
                    let key = percent_encoding::percent_decode_str(p.as_ref()).decode_utf8_lossy().into_owned();
                    if key == me.prefix {
                        String::new()
                    } else {
                        me.relative(p)?
                    }
                }
            };
            let shown = prefix.clone().unwrap_or_default();
            me.check_access(&shown).await?;
            let under = if dir.is_empty() { String::new() } else { format!("{dir}/") };
            let found = me.bucket.list(&under).await.map_err(|e| me.error(&shown, e))?;
            let metas: Vec<object_store::Result<ObjectMeta>> = found
                .iter()
                .map(|rel| Ok(ObjectMeta { location: me.location(rel), last_modified: chrono::DateTime::UNIX_EPOCH, size: 0, e_tag: None, version: None }))
                .collect();
            Ok::<_, object_store::Error>(stream::iter(metas))
        })
        .map(|r| match r {
            Ok(s) => s.boxed(),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, _prefix: Option<&Path>) -> object_store::Result<ListResult> {
        Err(self.not_implemented("list_with_delimiter"))
    }

    async fn copy_opts(&self, _from: &Path, _to: &Path, _options: CopyOptions) -> object_store::Result<()> {
        Err(self.not_implemented("copy_opts"))
    }
}
