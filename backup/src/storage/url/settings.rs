//! The node settings that refuse some storage URLs, and the lexical confinement of `nodelocal`
//! paths to the external-io directory. Pure functions: never touches the file system (symlink
//! checks belong to the real backend).

use super::{Auth, Scheme, StorageUrl, UrlError};
use std::path::{Path, PathBuf};

/// The node flags that refuse some URLs (CockroachDB's `--external-io-dir`,
/// `--external-io-disable-http`, `--external-io-disable-implicit-credentials`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExternalIoSettings {
    /// The directory `nodelocal` paths live under; `None` when set to `disabled`.
    pub external_io_dir: Option<PathBuf>,
    /// Refuses http(s) URLs and custom S3 endpoints.
    pub disable_http: bool,
    /// Refuses `AUTH=implicit`.
    pub disable_implicit_credentials: bool,
}

impl Default for ExternalIoSettings {
    /// CockroachDB's defaults: an `extern` directory, http and implicit credentials allowed.
    fn default() -> Self {
        ExternalIoSettings { external_io_dir: Some(PathBuf::from("extern")), disable_http: false, disable_implicit_credentials: false }
    }
}

impl ExternalIoSettings {
    /// Refuses a URL these settings forbid, with CockroachDB's messages. A gs URL without
    /// `AUTH` is not refused here: whether it ends up implicit depends on a cluster setting,
    /// so the backend applies `disable_implicit_credentials` to it when it decides.
    pub fn check(&self, url: &StorageUrl) -> Result<(), UrlError> {
        match url.scheme() {
            Scheme::Http | Scheme::Https if self.disable_http => return Err(UrlError::HttpDisabled),
            Scheme::S3 if self.disable_http && url.param("AWS_ENDPOINT").is_some() => return Err(UrlError::CustomEndpointDisabled),
            Scheme::Nodelocal if self.external_io_dir.is_none() => return Err(UrlError::LocalFileAccessDisabled),
            _ => {}
        }
        if self.disable_implicit_credentials && url.auth() == Some(Auth::Implicit) {
            return Err(UrlError::ImplicitCredentialsDisabled);
        }
        Ok(())
    }
}

/// Joins a `nodelocal` path onto the external-io directory, refusing (lexically) any path that
/// would leave it, as CockroachDB does after `filepath.Join`. `a/../b` stays inside and is
/// fine; `../x` is not. Symlinks are the real backend's concern.
pub fn confine(external_io_dir: &Path, relative: &str) -> Result<PathBuf, UrlError> {
    let outside = || UrlError::OutsideExternalIoDir { path: relative.to_string() };
    if relative.contains('\0') {
        return Err(outside());
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in relative.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(outside)?;
            }
            other => parts.push(other),
        }
    }
    let mut out = external_io_dir.to_path_buf();
    out.extend(parts);
    Ok(out)
}
