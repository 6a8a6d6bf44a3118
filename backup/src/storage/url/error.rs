//! The one error type of storage URLs. No variant ever holds a secret value: only parameter
//! names, schemes, hosts and the `AUTH` value are shown.

use super::Scheme;

/// Why a storage URL was refused. No variant ever holds a secret value: parameter names,
/// schemes and hosts are shown, values only for `AUTH`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text is not a URL at all (the `url` crate's reason; the text is not repeated).
    #[error("invalid storage URL: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// A scheme outside the seed's table.
    #[error("unsupported storage scheme {scheme:?} (supported: s3, gs, azure, http, https, nodelocal)")]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// The bucket, container, server or node is missing.
    #[error("{scheme} URL is missing its {what}")]
    MissingHost {
        /// The URL's scheme.
        scheme: Scheme,
        /// What the host stands for in this scheme.
        what: &'static str,
    },
    /// A `nodelocal` host that is neither a node id nor `self`.
    #[error("nodelocal URL host {host:?} must be a node ID (from 1) or \"self\"")]
    BadNodelocalHost {
        /// The host as written.
        host: String,
    },
    /// Credentials in `user:password@`: the services take them as parameters (and http(s)
    /// servers are reached without authentication).
    #[error("{scheme} URL must not carry credentials before the host (user:password@); {}", userinfo_advice(*scheme))]
    UserInfo {
        /// The URL's scheme.
        scheme: Scheme,
    },
    /// A `#fragment`: usually an unencoded `#` inside a parameter value.
    #[error("storage URL must not contain '#' (URI-encode it as %23 in parameter values)")]
    Fragment,
    /// A `%` that does not start a two-digit hexadecimal escape (`%zz`), which would otherwise
    /// be kept as literal text. The place is named; a value never shown.
    #[error("invalid percent-escape in {place} of the {scheme} URL: '%' must be followed by two hexadecimal digits (write a literal '%' as %25)")]
    BadEscape {
        /// The URL's scheme.
        scheme: Scheme,
        /// Where: "the path", "the value of parameter X", "a parameter name".
        place: String,
    },
    /// A `nodelocal` URL without a path (or only `/`): the backup would be written straight
    /// into the external-io directory that every import and export of the node shares.
    #[error("{scheme} URL has no path: name a directory under the external-io directory, as in nodelocal://1/backups/name")]
    EmptyPath {
        /// The URL's scheme.
        scheme: Scheme,
    },
    /// A path with `.`, `..` or empty components.
    #[error("invalid path in {scheme} URL: {reason}")]
    BadPath {
        /// The URL's scheme.
        scheme: Scheme,
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter this scheme does not take.
    #[error("unknown parameter {name} in {scheme} URL (accepted: {accepted})")]
    UnknownParameter {
        /// The URL's scheme.
        scheme: Scheme,
        /// The parameter's name.
        name: String,
        /// The parameters the scheme takes, or "none".
        accepted: String,
    },
    /// The same parameter twice.
    #[error("parameter {name} given more than once")]
    DuplicateParameter {
        /// The parameter's name.
        name: String,
    },
    /// A required parameter is absent or empty.
    #[error("{scheme} URL is missing the {name} parameter ({why})")]
    MissingParameter {
        /// The URL's scheme.
        scheme: Scheme,
        /// The parameter's name.
        name: &'static str,
        /// Why it is required.
        why: &'static str,
    },
    /// A parameter value that cannot be used (the value itself is shown only if not secret).
    #[error("invalid value for {name}: {reason}")]
    BadParameterValue {
        /// The parameter's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `--external-io-disable-http`.
    #[error("external http access disabled")]
    HttpDisabled,
    /// `--external-io-disable-http` also refuses custom S3 endpoints.
    #[error("custom endpoints disallowed")]
    CustomEndpointDisabled,
    /// `--external-io-disable-implicit-credentials`.
    #[error("implicit credentials disallowed")]
    ImplicitCredentialsDisabled,
    /// `--external-io-dir=disabled`.
    #[error("local file access is disabled")]
    LocalFileAccessDisabled,
    /// A `nodelocal` path that leaves the external-io directory.
    #[error("local file access to paths outside of external-io-dir is not allowed: {}", shown_path(path))]
    OutsideExternalIoDir {
        /// The relative path as given.
        path: String,
    },
}

/// What to do instead of user-info, per scheme.
fn userinfo_advice(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Http | Scheme::Https => "basic authentication is not supported",
        Scheme::Nodelocal => "nodelocal takes no credentials",
        Scheme::S3 | Scheme::Gs | Scheme::Azure => "use the URL parameters",
    }
}

/// A relative path in a message; the empty one is the location's own directory.
fn shown_path(path: &str) -> &str {
    if path.is_empty() {
        "the location's own directory"
    } else {
        path
    }
}
