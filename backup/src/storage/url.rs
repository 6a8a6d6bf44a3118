//! Storage URLs: where a backup goes, as the seed's "Backup file URLs" table defines them
//! (`[scheme]://[host]/[path]?[parameters]`), parsed with the `url` crate and checked per
//! scheme; the settings that refuse some of them (`--external-io-dir`,
//! `--external-io-disable-http`, `--external-io-disable-implicit-credentials`); and the lexical
//! confinement of `nodelocal` paths to the external-io directory.
//!
//! What this module must never do: print a secret. Secret parameters (`AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AZURE_ACCOUNT_KEY`, `CREDENTIALS`) and any user-info (the URL's own,
//! which is refused, and that of a URL-valued parameter such as `AWS_ENDPOINT`) appear only
//! through [`StorageUrl::param`], [`StorageUrl::expose`] and [`StorageUrl::secret_values`];
//! `Display`, `Debug`, [`StorageUrl::redacted`], [`StorageUrl::without_credentials`],
//! [`redact_location`] and every [`UrlError`] show them as `redacted` or not at all. It
//! never touches the network or the file system either: that is the backends' job.

mod error;
mod settings;

pub use error::UrlError;
pub use settings::{confine, ExternalIoSettings};

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use std::collections::BTreeMap;
use std::fmt;

/// What replaces a secret in every printed form of a URL (CockroachDB prints the same word).
pub const REDACTED: &str = "redacted";

/// Query parameters whose values are secrets.
pub const SECRET_PARAMS: [&str; 4] = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_ACCOUNT_KEY", "CREDENTIALS"];

/// Query parameters whose values are URLs. Their user-info (`user:password@`) is a secret: it
/// is passed on to the backend but printed as `redacted`.
pub const URL_PARAMS: [&str; 1] = ["AWS_ENDPOINT"];

/// Query parameters that authenticate rather than locate: left out of
/// [`StorageUrl::without_credentials`].
const CREDENTIAL_PARAMS: [&str; 6] = ["AUTH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_ACCOUNT_KEY", "CREDENTIALS"];

const S3_PARAMS: [&str; 6] = ["AUTH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT"];
const GS_PARAMS: [&str; 2] = ["AUTH", "CREDENTIALS"];
const AZURE_PARAMS: [&str; 2] = ["AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_KEY"];

/// Characters escaped in a rendered path segment (everything that would change its meaning).
/// A backslash too: the URL standard reads it as `/` in the path of a special scheme (`http`,
/// `https`), so a path holding one (`%5c` in the text) must render it encoded to parse back to
/// itself (the `storage_url` fuzz target found `https:-/e%5cHoT+c`).
const SEGMENT: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'/').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}').add(b'\\');

/// True if `name` is a query parameter whose value is a secret.
pub fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.contains(&name)
}

/// `value` of parameter `name` as it may be printed: a secret's is `redacted`, a URL's has its
/// user-info replaced ([`redact_userinfo`]), any other is as given.
fn shown_value(name: &str, value: &str) -> String {
    if is_secret_param(name) {
        REDACTED.to_string()
    } else if URL_PARAMS.contains(&name) {
        redact_userinfo(value)
    } else {
        value.to_string()
    }
}

/// A URL-valued parameter as it may be printed: the URL with its user-info (name and password)
/// replaced by `redacted`; unchanged when it has none. Text with an `@` that does not read as a
/// URL with a host might hide a credential, so it prints as `redacted` whole.
pub fn redact_userinfo(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(u) if u.username().is_empty() && u.password().is_none() => {
            if value.contains('@') {
                REDACTED.to_string()
            } else {
                value.to_string()
            }
        }
        Ok(mut u) => {
            if u.set_password(None).is_ok() && u.set_username(REDACTED).is_ok() {
                u.to_string()
            } else {
                REDACTED.to_string()
            }
        }
        Err(_) if value.contains('@') => REDACTED.to_string(),
        Err(_) => value.to_string(),
    }
}

/// Checks that every `%` in `raw` (a path or a query parameter's name or value, as written)
/// starts a valid escape: two hexadecimal digits. The `url` crate and percent decoding keep a
/// bad escape such as `%zz` as literal text, which would quietly name another directory or
/// another secret.
fn check_escapes(raw: &str) -> bool {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// The storage services of the seed's table. `Https` is HTTP over TLS (the seed's footnote 3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Amazon S3 and S3-compatible services: host is the bucket.
    S3,
    /// Google Cloud Storage: host is the bucket.
    Gs,
    /// Azure Blob Storage: host is the container.
    Azure,
    /// A plain HTTP server (PUT / GET / DELETE): host is the server.
    Http,
    /// An HTTPS server.
    Https,
    /// A node's external-io directory (or an NFS mount there): host is a node id or `self`.
    Nodelocal,
}

impl Scheme {
    /// The URL scheme as written.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gs => "gs",
            Scheme::Azure => "azure",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Nodelocal => "nodelocal",
        }
    }

    fn from_str(s: &str) -> Option<Scheme> {
        Some(match s {
            "s3" => Scheme::S3,
            "gs" => Scheme::Gs,
            "azure" => Scheme::Azure,
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "nodelocal" => Scheme::Nodelocal,
            _ => return None,
        })
    }

    fn allowed_params(&self) -> &'static [&'static str] {
        match self {
            Scheme::S3 => &S3_PARAMS,
            Scheme::Gs => &GS_PARAMS,
            Scheme::Azure => &AZURE_PARAMS,
            Scheme::Http | Scheme::Https | Scheme::Nodelocal => &[],
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a cloud connection authenticates (the `AUTH` parameter).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Credentials are in the URL (`AWS_*` keys, or `CREDENTIALS` for gs).
    Specified,
    /// Credentials come from the node's environment; refused when implicit credentials are
    /// disabled.
    Implicit,
    /// gs only: the `cloudstorage.gs.default.key` cluster setting holds the key.
    Default,
}

/// Which node's external-io directory a `nodelocal` URL names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodelocalTarget {
    /// `nodelocal://<id>/…`: that node's directory.
    Node(u32),
    /// `nodelocal://self/…`: whichever node does the I/O (all must share one NFS mount).
    SelfNode,
}

/// A parsed, validated storage URL. The path is percent-decoded and normalised (no leading or
/// trailing `/`; dot segments are resolved by the URL standard, never above the root, and a
/// `..` spelt with encoded slashes is refused); parameters are percent-decoded (`+` is a
/// space, as with Go's `url.QueryEscape`) and kept in a sorted map so every rendering is
/// deterministic.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageUrl {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    path: String,
    params: BTreeMap<String, String>,
}

impl StorageUrl {
    /// Parses and validates `text` against the seed's table: scheme, host, known parameters
    /// only, required parameters present. Errors never contain secret values.
    pub fn parse(text: &str) -> Result<StorageUrl, UrlError> {
        if text.trim().is_empty() {
            return Err(UrlError::Invalid { reason: "the URL is empty".into() });
        }
        let u = url::Url::parse(text.trim()).map_err(|e| UrlError::Invalid {
            reason: match e {
                url::ParseError::RelativeUrlWithoutBase => "it has no scheme (expected scheme://host/path, as in nodelocal://1/backups)".into(),
                other => other.to_string(),
            },
        })?;
        let scheme = Scheme::from_str(u.scheme()).ok_or_else(|| UrlError::UnsupportedScheme { scheme: u.scheme().to_string() })?;
        if !u.username().is_empty() || u.password().is_some() {
            return Err(UrlError::UserInfo { scheme });
        }
        if u.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        if !check_escapes(u.path()) {
            return Err(UrlError::BadEscape { scheme, place: "the path".into() });
        }
        // The URL standard resolves `.` and `..` segments (`nodelocal://1/../x` would become
        // `nodelocal://1/x`): a location written that way is refused rather than moved.
        if let Some(segment) = dot_segment(text.trim()) {
            return Err(UrlError::BadPath { scheme, reason: format!("{segment:?} path component") });
        }
        for pair in u.query().unwrap_or("").split('&') {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            if !check_escapes(raw_name) {
                // The name is not shown: it might be a misplaced secret.
                return Err(UrlError::BadEscape { scheme, place: "a parameter name".into() });
            }
            if !check_escapes(raw_value) {
                let name = percent_decode_str(&raw_name.replace('+', " ")).decode_utf8_lossy().into_owned();
                let known = scheme.allowed_params().contains(&name.as_str());
                let place = if known { format!("the value of parameter {name}") } else { "a parameter value".to_string() };
                return Err(UrlError::BadEscape { scheme, place });
            }
        }
        let host = u.host_str().unwrap_or("").to_string();
        if host.is_empty() {
            let what = match scheme {
                Scheme::S3 | Scheme::Gs => "bucket name",
                Scheme::Azure => "container name",
                Scheme::Http | Scheme::Https => "host",
                Scheme::Nodelocal => "node ID (use nodelocal://1/path or nodelocal://self/path)",
            };
            return Err(UrlError::MissingHost { scheme, what });
        }
        if host.contains('%') {
            return Err(UrlError::Invalid { reason: format!("{scheme} host must not contain percent-encoded characters") });
        }
        let port = u.port();
        if port.is_some() && !matches!(scheme, Scheme::Http | Scheme::Https) {
            return Err(UrlError::Invalid { reason: format!("{scheme} URL must not have a port") });
        }
        let path = normalise_path(scheme, u.path())?;
        if path.is_empty() && scheme == Scheme::Nodelocal {
            return Err(UrlError::EmptyPath { scheme });
        }
        let mut params = BTreeMap::new();
        for (k, v) in u.query_pairs() {
            let name = k.into_owned();
            if !scheme.allowed_params().contains(&name.as_str()) {
                let accepted = if scheme.allowed_params().is_empty() { "none".to_string() } else { scheme.allowed_params().join(", ") };
                return Err(UrlError::UnknownParameter { scheme, name, accepted });
            }
            if params.insert(name.clone(), v.into_owned()).is_some() {
                return Err(UrlError::DuplicateParameter { name });
            }
        }
        let url = StorageUrl { scheme, host, port, path, params };
        url.validate()?;
        Ok(url)
    }

    /// Per-scheme rules: required parameters, `AUTH` values, node ids.
    fn validate(&self) -> Result<(), UrlError> {
        match self.scheme {
            Scheme::S3 => {
                let auth = self.parse_auth(&[Auth::Specified, Auth::Implicit])?;
                if auth.unwrap_or(Auth::Specified) == Auth::Specified {
                    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
                        if self.param(name).is_none_or(str::is_empty) {
                            return Err(UrlError::MissingParameter { scheme: self.scheme, name, why: "required unless AUTH=implicit" });
                        }
                    }
                }
                if let Some(endpoint) = self.param("AWS_ENDPOINT") {
                    let ok = url::Url::parse(endpoint).is_ok_and(|e| matches!(e.scheme(), "http" | "https") && e.has_host());
                    if !ok {
                        return Err(UrlError::BadParameterValue { name: "AWS_ENDPOINT".into(), reason: "must be an http:// or https:// URL".into() });
                    }
                }
            }
            Scheme::Gs => {
                if self.parse_auth(&[Auth::Default, Auth::Implicit, Auth::Specified])? == Some(Auth::Specified) {
                    let creds = match self.param("CREDENTIALS") {
                        Some(c) if !c.is_empty() => c,
                        _ => return Err(UrlError::MissingParameter { scheme: self.scheme, name: "CREDENTIALS", why: "required when AUTH=specified" }),
                    };
                    check_gs_credentials(creds)?;
                }
            }
            Scheme::Azure => {
                for name in ["AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_KEY"] {
                    if self.param(name).is_none_or(str::is_empty) {
                        return Err(UrlError::MissingParameter { scheme: self.scheme, name, why: "always required" });
                    }
                }
            }
            Scheme::Http | Scheme::Https => {}
            Scheme::Nodelocal => {
                self.nodelocal_target_checked()?;
            }
        }
        Ok(())
    }

    fn parse_auth(&self, allowed: &[Auth]) -> Result<Option<Auth>, UrlError> {
        let Some(raw) = self.param("AUTH") else { return Ok(None) };
        let auth = match raw.to_ascii_lowercase().as_str() {
            "specified" => Some(Auth::Specified),
            "implicit" => Some(Auth::Implicit),
            "default" => Some(Auth::Default),
            _ => None,
        };
        match auth {
            Some(a) if allowed.contains(&a) => Ok(Some(a)),
            _ => {
                let names: Vec<&str> = allowed.iter().map(|a| auth_name(*a)).collect();
                Err(UrlError::BadParameterValue {
                    name: "AUTH".into(),
                    reason: format!("unsupported value {raw:?} for {} (expected {})", self.scheme, names.join(" or ")),
                })
            }
        }
    }

    fn nodelocal_target_checked(&self) -> Result<NodelocalTarget, UrlError> {
        if self.host.eq_ignore_ascii_case("self") {
            return Ok(NodelocalTarget::SelfNode);
        }
        let all_digits = !self.host.is_empty() && self.host.bytes().all(|b| b.is_ascii_digit());
        match self.host.parse::<u32>() {
            Ok(n) if n >= 1 && all_digits => Ok(NodelocalTarget::Node(n)),
            _ => Err(UrlError::BadNodelocalHost { host: self.host.clone() }),
        }
    }

    /// The service.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The bucket (s3, gs), container (azure), server (http) or node (`1`, `self`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port of an http(s) server, if given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The decoded path inside the bucket / server / directory, without leading or trailing
    /// `/` (empty for the root). Storage paths are relative to it.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// One decoded parameter (a secret one too: this is how a backend gets its credentials).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// How the connection authenticates: s3 defaults to `Specified` (the seed's footnote 1);
    /// gs gives `None` when `AUTH` is absent, because then the backend must choose between the
    /// `cloudstorage.gs.default.key` setting and implicit credentials (footnote 2); other
    /// schemes have no `AUTH`.
    pub fn auth(&self) -> Option<Auth> {
        let parsed = match self.param("AUTH").map(str::to_ascii_lowercase).as_deref() {
            Some("specified") => Some(Auth::Specified),
            Some("implicit") => Some(Auth::Implicit),
            Some("default") => Some(Auth::Default),
            _ => None,
        };
        match self.scheme {
            Scheme::S3 => Some(parsed.unwrap_or(Auth::Specified)),
            Scheme::Gs => parsed,
            _ => None,
        }
    }

    /// For `nodelocal` URLs, which node's directory they name.
    pub fn nodelocal_target(&self) -> Option<NodelocalTarget> {
        match self.scheme {
            Scheme::Nodelocal => self.nodelocal_target_checked().ok(),
            _ => None,
        }
    }

    /// The same storage one directory level (or several, `a/b`) further down, as for an
    /// automatic incremental backup's `dest/20200327/100000.00`. Refuses `.`, `..` and empty
    /// components so that a join can never climb out of the URL's path.
    pub fn join(&self, relative: &str) -> Result<StorageUrl, UrlError> {
        let rel = relative.trim_matches('/');
        if rel.is_empty() {
            return Ok(self.clone());
        }
        check_components(rel).map_err(|reason| UrlError::BadPath { scheme: self.scheme, reason })?;
        let mut out = self.clone();
        out.path = if self.path.is_empty() { rel.to_string() } else { format!("{}/{}", self.path, rel) };
        Ok(out)
    }

    /// The same location with an empty path: the bucket, container, server or node itself.
    pub fn root(&self) -> StorageUrl {
        StorageUrl { path: String::new(), ..self.clone() }
    }

    /// The URL text with every secret parameter's value replaced by `redacted`: what job
    /// descriptions, errors and traces show. Parameters are in sorted order.
    pub fn redacted(&self) -> String {
        self.render(shown_value)
    }

    /// The full URL text, secrets included, for handing the location on to where it is needed
    /// again (a job's private details). Never log it.
    pub fn expose(&self) -> String {
        self.render(|_, v| v.to_string())
    }

    /// The URL without any credential parameter (`AUTH`, keys, tokens, `CREDENTIALS`) and with
    /// the user-info of URL-valued parameters redacted: the identity of the storage location,
    /// e.g. to key an in-memory store.
    pub fn without_credentials(&self) -> String {
        let mut clone = self.clone();
        clone.params.retain(|k, _| !CREDENTIAL_PARAMS.contains(&k.as_str()));
        clone.render(shown_value)
    }

    /// Every secret value the URL holds, so that text from elsewhere (a library's or a server's
    /// error) can be scrubbed of them: secret parameters' values, the key inside gs
    /// `CREDENTIALS` ([`json_key_secrets`]: a server may echo the key it was given, not its
    /// base64), and the user-info of URL-valued parameters (name, password, and both as
    /// written, percent-encoded). Empty values are left out.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out: Vec<String> = SECRET_PARAMS.iter().filter_map(|p| self.param(p)).map(str::to_string).collect();
        if let Some(json) = self.param("CREDENTIALS").and_then(decode_base64).and_then(|b| String::from_utf8(b).ok()) {
            out.extend(json_key_secrets(&json));
        }
        for value in URL_PARAMS.iter().filter_map(|p| self.param(p)) {
            let Ok(u) = url::Url::parse(value) else { continue };
            let (user, password) = (u.username(), u.password().unwrap_or(""));
            for raw in [user, password] {
                out.push(raw.to_string());
                out.push(percent_decode_str(raw).decode_utf8_lossy().into_owned());
            }
            if !password.is_empty() {
                out.push(format!("{user}:{password}"));
            }
        }
        out.retain(|v| !v.is_empty());
        out.sort();
        out.dedup();
        out
    }

    fn render(&self, value: impl Fn(&str, &str) -> String) -> String {
        let mut out = format!("{}://{}", self.scheme, self.host);
        if let Some(p) = self.port {
            out.push_str(&format!(":{p}"));
        }
        for seg in self.path.split('/').filter(|s| !s.is_empty()) {
            out.push('/');
            out.extend(utf8_percent_encode(seg, SEGMENT));
        }
        if !self.params.is_empty() {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.params {
                ser.append_pair(k, &value(k, v));
            }
            out.push('?');
            out.push_str(&ser.finish());
        }
        out
    }
}

fn auth_name(a: Auth) -> &'static str {
    match a {
        Auth::Specified => "specified",
        Auth::Implicit => "implicit",
        Auth::Default => "default",
    }
}

impl fmt::Display for StorageUrl {
    /// The redacted form: a URL can be printed anywhere without leaking a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageUrl({})", self.redacted())
    }
}

/// The parameter of a locality-aware BACKUP's destination URLs that names the locality each is
/// for ([`crate::locality`]): not a storage parameter, so a storage URL never holds it.
pub const LOCALITY_URL_PARAM: &str = "COCKROACH_LOCALITY";

/// A URL's `COCKROACH_LOCALITY` value (percent-decoded) and the URL without that parameter,
/// every other parameter kept as written ([`crate::locality`] reads it; a storage URL has no
/// such parameter). A text without a query string is returned whole.
pub fn split_locality_param(text: &str) -> (Option<String>, String) {
    let Some((base, query)) = text.split_once('?') else { return (None, text.to_string()) };
    let mut locality = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        if name == LOCALITY_URL_PARAM {
            locality = Some(percent_decode_str(&raw.replace('+', " ")).decode_utf8_lossy().into_owned());
        } else {
            kept.push(pair);
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (locality, url)
}

/// Redacts a location string that may or may not parse as a [`StorageUrl`]: the canonical
/// redacted form if it does; otherwise, if the `url` crate can read it, the text with secret
/// parameters and any user-info password replaced; otherwise just `redacted`. Used where a
/// statement's raw text is printed (job descriptions, logs) before its URLs were validated.
pub fn redact_location(text: &str) -> String {
    // A locality-aware destination's `COCKROACH_LOCALITY` is no secret, and no storage
    // parameter either: the rest is redacted, and the locality kept, so that a printed
    // statement still says which URL is for which locality.
    if let (Some(locality), rest) = split_locality_param(text) {
        let value: String = url::form_urlencoded::byte_serialize(locality.as_bytes()).collect();
        let rest = redact_location(&rest);
        let sep = if rest.contains('?') { '&' } else { '?' };
        return format!("{rest}{sep}{LOCALITY_URL_PARAM}={value}");
    }
    if let Ok(u) = StorageUrl::parse(text) {
        return u.redacted();
    }
    let Ok(mut u) = url::Url::parse(text.trim()) else { return REDACTED.to_string() };
    if u.password().is_some() && u.set_password(Some(REDACTED)).is_err() {
        return REDACTED.to_string();
    }
    if !u.username().is_empty() && u.set_username(REDACTED).is_err() {
        return REDACTED.to_string();
    }
    if u.fragment().is_some() {
        u.set_fragment(None);
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                // Unknown names might be misspelt secrets: keep only names we know to be safe.
                let safe = S3_PARAMS.iter().chain(&GS_PARAMS).chain(&AZURE_PARAMS).any(|p| *p == k) && !is_secret_param(&k);
                let shown = if safe { shown_value(&k, &v) } else { REDACTED.to_string() };
                (k.into_owned(), shown)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Decodes the URL path, strips the leading and one trailing `/`, and refuses `.`, `..` and
/// empty components.
fn normalise_path(scheme: Scheme, raw: &str) -> Result<String, UrlError> {
    let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| UrlError::BadPath { scheme, reason: "path is not valid UTF-8 once decoded".into() })?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    check_components(trimmed).map_err(|reason| UrlError::BadPath { scheme, reason })?;
    Ok(trimmed.to_string())
}

/// The first `.` or `..` segment (also percent-encoded, as `%2e%2E`) of the path of URL
/// text `text`, before the URL standard resolves it away.
fn dot_segment(text: &str) -> Option<&'static str> {
    let after_scheme = text.split_once("://").map(|(_, rest)| rest)?;
    let path = after_scheme.find('/').map(|i| &after_scheme[i..])?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/').find_map(|seg| match percent_decode_str(seg).decode_utf8_lossy().as_ref() {
        "." => Some("."),
        ".." => Some(".."),
        _ => None,
    })
}

/// Refuses empty, `.` and `..` components and NUL bytes in a `/`-separated relative path.
pub(crate) fn check_components(path: &str) -> Result<(), String> {
    if path.contains('\0') {
        return Err("NUL byte in path".into());
    }
    for c in path.split('/') {
        match c {
            "" => return Err("empty path component".into()),
            "." | ".." => return Err(format!("{c:?} path component")),
            _ => {}
        }
    }
    Ok(())
}

/// The secret values of a JSON service-account key (gs `CREDENTIALS`, the default-key setting):
/// the key text itself, and its `private_key` and `private_key_id` both as the JSON spells them
/// and unescaped (a PEM key's newlines are `\n` in JSON). Public fields (`client_email`,
/// `project_id`) are not secrets. Text that is not a JSON object gives only itself.
pub fn json_key_secrets(json: &str) -> Vec<String> {
    let mut out = vec![json.to_string()];
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(json) {
        for name in ["private_key", "private_key_id"] {
            if let Some(serde_json::Value::String(v)) = fields.get(name) {
                out.push(v.clone());
                out.push(serde_json::Value::String(v.clone()).to_string().trim_matches('"').to_string());
            }
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

/// Standard base64 (RFC 4648, `+/`, padding optional) as CockroachDB expects for gs
/// `CREDENTIALS`, by the `base64` crate. Returns `None` on any invalid character or length.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const STANDARD_PADDING_OPTIONAL: GeneralPurpose =
        GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));
    STANDARD_PADDING_OPTIONAL.decode(text).ok()
}

/// `CREDENTIALS` must be base64 of a JSON key object. Only its shape is checked here (the
/// real backend parses it); the error never shows the value.
fn check_gs_credentials(creds: &str) -> Result<(), UrlError> {
    let bad = |reason: &str| UrlError::BadParameterValue { name: "CREDENTIALS".into(), reason: reason.into() };
    let bytes =
        decode_base64(creds).ok_or_else(|| bad("not valid base64 (standard encoding, RFC 4648); URI-encode it, since '+' in a query decodes to a space"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("does not decode to a JSON key object"))?;
    let t = text.trim();
    if !(t.starts_with('{') && t.ends_with('}')) {
        return Err(bad("does not decode to a JSON key object"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
