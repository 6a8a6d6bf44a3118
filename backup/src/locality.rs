//! A node's locality, as `cockroach start --locality=region=us-east,zone=us-east-1a` gives it:
//! ordered `key=value` tiers, the widest first. It is a node's own startup flag (like the
//! external-io flags), so it lives in the node's [`crate::env::Env`]; `SHOW LOCALITY` prints the
//! gateway's, and a locality-aware backup matches a node's tiers against each destination's
//! `COCKROACH_LOCALITY`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A node's locality: its tiers in order. The default is no locality (a node started without
/// `--locality`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locality {
    /// `(key, value)` tiers, the widest first, keys distinct.
    pub tiers: Vec<(String, String)>,
}

/// Why a `--locality` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalityError {
    /// A tier without `=`, or with an empty key or value.
    #[error("invalid locality tier {0:?}: a tier is key=value, both non-empty (e.g. region=us-east)")]
    Tier(String),
    /// The same key twice.
    #[error("invalid locality {locality:?}: the key {key:?} appears twice")]
    DuplicateKey {
        /// The whole value.
        locality: String,
        /// The repeated key.
        key: String,
    },
}

impl FromStr for Locality {
    type Err = LocalityError;

    /// Reads `key=value,key=value` (an empty string is no locality).
    fn from_str(text: &str) -> Result<Locality, LocalityError> {
        let mut tiers: Vec<(String, String)> = Vec::new();
        if text.trim().is_empty() {
            return Ok(Locality { tiers });
        }
        for tier in text.split(',') {
            let (k, v) = tier.split_once('=').map(|(k, v)| (k.trim(), v.trim())).ok_or_else(|| LocalityError::Tier(tier.to_string()))?;
            if k.is_empty() || v.is_empty() || v.contains('=') {
                return Err(LocalityError::Tier(tier.to_string()));
            }
            if tiers.iter().any(|(seen, _)| seen == k) {
                return Err(LocalityError::DuplicateKey { locality: text.to_string(), key: k.to_string() });
            }
            tiers.push((k.to_string(), v.to_string()));
        }
        Ok(Locality { tiers })
    }
}

impl fmt::Display for Locality {
    /// `region=us-east,zone=us-east-1a`, as `SHOW LOCALITY` prints it (empty for none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tiers: Vec<String> = self.tiers.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&tiers.join(","))
    }
}

/// The URL parameter that says which locality a destination of a locality-aware BACKUP is for
/// (CockroachDB's `COCKROACH_LOCALITY`): `default`, or one tier `key=value`.
pub const LOCALITY_PARAM: &str = crate::storage::url::LOCALITY_URL_PARAM;
/// The value of [`LOCALITY_PARAM`] that marks the default destination, the one that holds the
/// manifest.
pub const DEFAULT_LOCALITY: &str = "default";
/// The prefix of a partition descriptor's file name (CockroachDB's `BACKUP_PART`).
pub const PARTITION_PREFIX: &str = "BACKUP_PART";

/// A BACKUP's destinations: one URL, or a locality-aware list (CockroachDB's "partitioned
/// backup"), its `COCKROACH_LOCALITY` parameters read and removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destinations {
    /// The default URL: where the manifest, the checkpoint, `ENCRYPTION-INFO` and the lock go,
    /// and the data files of every node whose locality matches no other URL.
    pub default: String,
    /// The other URLs, each with the locality tier (`region=us-west`) of the nodes that write
    /// their files there, in the statement's order; empty for a plain backup.
    pub by_locality: Vec<(String, String)>,
}

/// Why a BACKUP's destination list was refused, in CockroachDB's words (its
/// `getURIsByLocalityKV`), each with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// A single destination whose `COCKROACH_LOCALITY` is not `default`.
    #[error("COCKROACH_LOCALITY {value} is invalid for a single BACKUP location (a single destination holds every file; list several, one of them COCKROACH_LOCALITY=default, for a locality-aware backup)")]
    SingleNotDefault {
        /// The value given.
        value: String,
    },
    /// A URL of a list without `COCKROACH_LOCALITY`.
    #[error("multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified (in {url}): give each URL COCKROACH_LOCALITY=default or COCKROACH_LOCALITY=key%3Dvalue")]
    Unspecified {
        /// The URL, redacted.
        url: String,
    },
    /// Two URLs marked `default`.
    #[error("multiple default URLs provided for partition backup: exactly one URL has COCKROACH_LOCALITY=default")]
    MultipleDefaults,
    /// No URL marked `default`.
    #[error("no default URL provided for partitioned backup: one URL must have COCKROACH_LOCALITY=default (it holds the manifest and the files of nodes no other URL matches)")]
    NoDefault,
    /// A locality that is not one `key=value` tier.
    #[error("failed to parse backup locality: tier must be in the form \"key=value\" not {value:?}")]
    BadTier {
        /// The value given.
        value: String,
    },
    /// The same locality on two URLs.
    #[error("duplicate URIs for locality {locality}: each locality may have only one URL")]
    Duplicate {
        /// The locality given twice.
        locality: String,
    },
    /// A locality's destination already holds a partition descriptor of that name: another
    /// locality-aware backup's, which this one's would replace.
    #[error("{url} already contains a {file} file: another locality-aware backup wrote its partition there; back up to an empty directory")]
    PartitionExists {
        /// The destination, redacted.
        url: String,
        /// The descriptor's name.
        file: String,
    },
}

impl Destinations {
    /// Reads BACKUP's `TO` list: a single URL (whose `COCKROACH_LOCALITY`, if any, must be
    /// `default`), or a list where every URL names its locality and exactly one is the default.
    /// The URLs come back without the parameter, otherwise as written.
    pub fn parse(to: &[String]) -> Result<Destinations, DestinationError> {
        if let [one] = to {
            let (locality, url) = split_locality(one);
            return match locality {
                Some(value) if value != DEFAULT_LOCALITY => Err(DestinationError::SingleNotDefault { value }),
                _ => Ok(Destinations { default: url, by_locality: Vec::new() }),
            };
        }
        let mut default = None;
        let mut by_locality: Vec<(String, String)> = Vec::new();
        for text in to {
            match split_locality(text) {
                (None, url) => return Err(DestinationError::Unspecified { url: crate::storage::url::redact_location(&url) }),
                (Some(value), url) if value == DEFAULT_LOCALITY => {
                    if default.replace(url).is_some() {
                        return Err(DestinationError::MultipleDefaults);
                    }
                }
                (Some(value), url) => {
                    let tier = parse_tier(&value)?;
                    if by_locality.iter().any(|(seen, _)| *seen == tier) {
                        return Err(DestinationError::Duplicate { locality: tier });
                    }
                    by_locality.push((tier, url));
                }
            }
        }
        let default = default.ok_or(DestinationError::NoDefault)?;
        Ok(Destinations { default, by_locality })
    }

    /// True for a locality-aware list.
    pub fn is_partitioned(&self) -> bool {
        !self.by_locality.is_empty()
    }
}

/// One locality tier as a destination names it: `key=value`, both non-empty (CockroachDB's
/// `roachpb.Tier.FromString`).
fn parse_tier(value: &str) -> Result<String, DestinationError> {
    match value.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() && !v.contains('=') => Ok(format!("{}={}", k.trim(), v.trim())),
        _ => Err(DestinationError::BadTier { value: value.to_string() }),
    }
}

/// A URL's `COCKROACH_LOCALITY` value (percent-decoded) and the URL without that parameter.
pub fn split_locality(text: &str) -> (Option<String>, String) {
    crate::storage::url::split_locality_param(text)
}

impl Locality {
    /// The tier of this node's locality that picks its destination among `by_locality`'s, or
    /// `None` for the default: the most specific tier that has a URL wins (CockroachDB's backup
    /// processor walks the node's tiers from the last, the narrowest, to the first).
    pub fn pick<'a>(&self, by_locality: &'a [(String, String)]) -> Option<&'a (String, String)> {
        self.tiers.iter().rev().find_map(|(k, v)| {
            let tier = format!("{k}={v}");
            by_locality.iter().find(|(t, _)| *t == tier)
        })
    }
}

/// The file name of the partition descriptor a locality-aware backup writes at the destination
/// of its `n`th locality (from 1, in the statement's order), as CockroachDB names it:
/// `BACKUP_PART_<n>_<locality>` with every character but letters, digits, `-` and `=` made `_`.
pub fn partition_file_name(n: usize, locality: &str) -> String {
    let sanitized: String = locality.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '=' { c } else { '_' }).collect();
    format!("{PARTITION_PREFIX}_{n}_{sanitized}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_read_and_print_in_order() {
        let l: Locality = "region=us-east, zone=us-east-1a".parse().unwrap();
        assert_eq!(l.tiers, vec![("region".into(), "us-east".into()), ("zone".into(), "us-east-1a".into())]);
        assert_eq!(l.to_string(), "region=us-east,zone=us-east-1a");
        assert_eq!("".parse::<Locality>().unwrap(), Locality::default());
        assert_eq!(Locality::default().to_string(), "");
    }

    #[test]
    fn a_malformed_locality_is_refused_naming_the_tier() {
        for (bad, why) in [
            ("us-east", "invalid locality tier \"us-east\""),
            ("region=", "invalid locality tier \"region=\""),
            ("=us-east", "invalid locality tier \"=us-east\""),
            ("region=a,,zone=b", "invalid locality tier \"\""),
            ("region=a=b", "invalid locality tier \"region=a=b\""),
            ("region=a,region=b", "the key \"region\" appears twice"),
        ] {
            let e = bad.parse::<Locality>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_destination_list_is_read_as_cockroachdb_reads_it() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let d = Destinations::parse(&v(&["s3://a/p?COCKROACH_LOCALITY=default&AUTH=implicit", "s3://b/p?AUTH=implicit&COCKROACH_LOCALITY=region%3Dus-west"]))
            .unwrap();
        assert_eq!(d.default, "s3://a/p?AUTH=implicit");
        assert_eq!(d.by_locality, vec![("region=us-west".to_string(), "s3://b/p?AUTH=implicit".to_string())]);
        assert_eq!(Destinations::parse(&v(&["nodelocal://1/x?COCKROACH_LOCALITY=default"])).unwrap().default, "nodelocal://1/x");
        assert!(!Destinations::parse(&v(&["nodelocal://1/x"])).unwrap().is_partitioned());
        for (to, want) in [
            (v(&["nodelocal://1/x?COCKROACH_LOCALITY=region%3Da"]), "is invalid for a single BACKUP location"),
            (v(&["nodelocal://1/x?COCKROACH_LOCALITY=default", "nodelocal://1/y"]), "COCKROACH_LOCALITY is not specified (in nodelocal://1/y)"),
            (v(&["nodelocal://1/x?COCKROACH_LOCALITY=default", "nodelocal://1/y?COCKROACH_LOCALITY=default"]), "multiple default URLs"),
            (v(&["nodelocal://1/x?COCKROACH_LOCALITY=region%3Da", "nodelocal://1/y?COCKROACH_LOCALITY=region%3Db"]), "no default URL"),
            (v(&["nodelocal://1/x?COCKROACH_LOCALITY=default", "nodelocal://1/y?COCKROACH_LOCALITY=us-west"]), "not \"us-west\""),
            (
                v(&[
                    "nodelocal://1/x?COCKROACH_LOCALITY=default",
                    "nodelocal://1/y?COCKROACH_LOCALITY=region%3Da",
                    "nodelocal://1/z?COCKROACH_LOCALITY=region%3Da",
                ]),
                "duplicate URIs for locality region=a",
            ),
        ] {
            let e = Destinations::parse(&to).unwrap_err().to_string();
            assert!(e.contains(want), "{to:?}: {e}");
        }
    }

    #[test]
    fn the_most_specific_matching_tier_picks_the_destination() {
        let by = vec![("region=us-west".to_string(), "w".to_string()), ("zone=us-west-2a".to_string(), "z".to_string())];
        let node: Locality = "region=us-west,zone=us-west-2a".parse().unwrap();
        assert_eq!(node.pick(&by).map(|(_, u)| u.as_str()), Some("z"));
        let node: Locality = "region=us-west,zone=us-west-2b".parse().unwrap();
        assert_eq!(node.pick(&by).map(|(_, u)| u.as_str()), Some("w"));
        let node: Locality = "region=eu-central".parse().unwrap();
        assert_eq!(node.pick(&by), None);
        assert_eq!(Locality::default().pick(&by), None);
        assert_eq!(partition_file_name(2, "region=us west/x"), "BACKUP_PART_2_region=us_west_x");
    }
}
