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
}
