//! Who may use a simulated cloud bucket: the credentials an operator issued for it
//! ([`crate::storage::SimStorage::grant`]) and the check of what a client presents against them
//! ([`crate::cloud`] reads what it presents from the backup's own client configuration).

use backup::storage::url::StorageUrl;

/// Credentials the cloud accepts for a bucket (what an operator issued), or a client presents.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An s3 access key pair, with the session token of temporary credentials.
    AwsKey {
        /// `AWS_ACCESS_KEY_ID`.
        key_id: String,
        /// `AWS_SECRET_ACCESS_KEY`.
        secret: String,
        /// `AWS_SESSION_TOKEN`, for temporary credentials.
        token: Option<String>,
    },
    /// A gs service account's JSON key.
    GsKey {
        /// The key, as JSON text.
        json: String,
    },
    /// An Azure storage account's name and key.
    AzureKey {
        /// `AZURE_ACCOUNT_NAME`.
        account: String,
        /// `AZURE_ACCOUNT_KEY`.
        key: String,
    },
    /// The node's own identity (an instance role, application default credentials):
    /// `AUTH=implicit`.
    NodeIdentity,
    /// No credentials (an http server).
    Anonymous,
}

impl std::fmt::Debug for Credential {
    /// The kind and the public part only: credentials are secrets, and this reaches traces.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::AwsKey { key_id, token, .. } => write!(f, "AwsKey({key_id}{})", if token.is_some() { ", temporary" } else { "" }),
            Credential::GsKey { .. } => write!(f, "GsKey"),
            Credential::AzureKey { account, .. } => write!(f, "AzureKey({account})"),
            Credential::NodeIdentity => write!(f, "NodeIdentity"),
            Credential::Anonymous => write!(f, "Anonymous"),
        }
    }
}

impl Credential {
    /// Every secret value in it, as a server echoing a request would show them.
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))] // used by the simulated cloud only
    fn echo(&self) -> String {
        match self {
            Credential::AwsKey { key_id, secret, token } => format!("AWSAccessKeyId={key_id} secret={secret} token={}", token.as_deref().unwrap_or("")),
            Credential::GsKey { json } => format!("key={json}"),
            Credential::AzureKey { account, key } => format!("account={account} key={key}"),
            Credential::NodeIdentity => "the node's identity".into(),
            Credential::Anonymous => "no credentials".into(),
        }
    }
}

/// The bucket a URL names, as the cloud keys its grants: `scheme://host`.
pub fn bucket_of(url: &StorageUrl) -> String {
    format!("{}://{}", url.scheme().as_str(), url.host())
}

/// Why `presented` may not use `bucket`, if it may not, given `granted` (none: a bucket nobody
/// registered, which serves everyone, as a test bucket open to all).
#[cfg_attr(not(feature = "cloud"), allow(dead_code))] // used by the simulated cloud only
pub(crate) fn refusal(bucket: &str, granted: Option<&Vec<Credential>>, presented: &Credential) -> Option<String> {
    let granted = granted?;
    if granted.contains(presented) {
        return None;
    }
    Some(format!("AccessDenied: the credentials presented ({}) are not valid for {bucket}", presented.echo()))
}
