//! Locality-aware backups in the simulation (issue #17): the nodes' localities and a BACKUP's
//! list of URLs, one per locality, drawn from the seed ([`LocalityPlan::draw`]), and the
//! property that judges where the data files went ([`check`]) from the trace alone.
//!
//! The property never asks the backup code where it meant a file to go: it reads each storage
//! write of a data file (the key says which URL of the list it is under), the node that
//! exported it (the file's name says `n<node>`, and the trace must show that node serving an
//! export before the write), and that node's locality as the scenario drew it; then applies
//! CockroachDB's rule itself: a node's files go to the URL of its most specific tier that has
//! one (its backup processor walks the node's tiers from the last), the default URL when none
//! has. So a file under a locality's URL came from a node with that tier and no more specific
//! listed one, and a file at the default came from a node no URL matches.

use crate::property::Property;
use crate::run::Failure;
use backup::locality::Locality;
use backup::storage::url::StorageUrl;
use rand::Rng;
use sim::storage::SimStorage;
use sim::SeedTree;
use std::collections::BTreeSet;

/// The runner's event for each data file the check placed: `<key> to <tier or default> by
/// n<node> (<its locality>)`, and `, a node no URL matches` for a file at the default URL.
/// The probes count both kinds.
pub use sim::event::LOCALITY_FILE_PLACED;

/// The regions the drawn nodes are in; a node may also have a zone `<region>-a` or `-b`.
const REGIONS: [&str; 3] = ["us-east", "us-west", "eu-central"];

/// The localities of a run's nodes and the BACKUP's list of URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalityPlan {
    /// Each node's `--locality`, node 1's first (empty for a node started without one).
    pub nodes: Vec<Locality>,
    /// The default URL, as the scenario's destination is (without `COCKROACH_LOCALITY`).
    pub default: String,
    /// The list's other URLs: each locality tier (`key=value`) and its URL.
    pub urls: Vec<(String, String)>,
}

impl LocalityPlan {
    /// Draws from the seed's `backup/localities` stream (its own: no other draw moves): each
    /// node in one of three regions (one in six with no locality), half of them in a zone too;
    /// a URL beside `default` for one to three regions, and one seed in three a URL for one
    /// node's zone as well (its files must go there, not to its region's). A region without a
    /// URL, or a node without a locality, writes to the default.
    pub fn draw(tree: &SeedTree, nodes: usize, default: &str) -> LocalityPlan {
        let mut rng = tree.stream("backup/localities");
        let nodes: Vec<Locality> = (0..nodes)
            .map(|_| {
                if rng.gen_ratio(1, 6) {
                    return Locality::default();
                }
                let region = REGIONS[rng.gen_range(0..REGIONS.len())];
                let mut tiers = vec![("region".to_string(), region.to_string())];
                if rng.gen_ratio(1, 2) {
                    tiers.push(("zone".to_string(), format!("{region}-{}", ["a", "b"][rng.gen_range(0..2)])));
                }
                Locality { tiers }
            })
            .collect();
        let mut urls = Vec::new();
        let listed = rng.gen_range(1..=REGIONS.len());
        let first = rng.gen_range(0..REGIONS.len());
        for i in 0..listed {
            let region = REGIONS[(first + i) % REGIONS.len()];
            urls.push((format!("region={region}"), sibling(default, region)));
        }
        let zones: Vec<&(String, String)> = nodes.iter().filter_map(|l| l.tiers.get(1)).collect();
        if !zones.is_empty() && rng.gen_ratio(1, 3) {
            let (k, v) = zones[rng.gen_range(0..zones.len())];
            urls.push((format!("{k}={v}"), sibling(default, v)));
        }
        LocalityPlan { nodes, default: default.to_string(), urls }
    }

    /// The list as BACKUP takes it (and as CockroachDB's docs give it to RESTORE too):
    /// `('<default>?COCKROACH_LOCALITY=default', '<url>?COCKROACH_LOCALITY=region%3Dus-west', …)`.
    pub fn list_sql(&self) -> String {
        let mut all = vec![with_param(&self.default, "default")];
        all.extend(self.urls.iter().map(|(tier, url)| with_param(url, tier)));
        format!("({})", all.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", "))
    }

    /// The URL of a file recorded with `locality` (none: the default).
    pub fn url_of(&self, locality: Option<&str>) -> &str {
        locality.and_then(|l| self.urls.iter().find(|(t, _)| t == l)).map_or(self.default.as_str(), |(_, u)| u.as_str())
    }

    /// Where CockroachDB's rule sends node `node`'s files: the tier of its most specific
    /// locality tier that has a URL, `None` for the default.
    pub fn expected(&self, node: model::NodeId) -> Option<&str> {
        let locality = self.nodes.get((node as usize).wrapping_sub(1))?;
        locality.tiers.iter().rev().find_map(|(k, v)| self.urls.iter().find(|(t, _)| *t == format!("{k}={v}")).map(|(t, _)| t.as_str()))
    }

    /// The plan in a knob's words: each node's locality, then the list's tiers.
    pub fn describe(&self) -> String {
        let nodes: Vec<String> =
            self.nodes.iter().enumerate().map(|(i, l)| format!("n{}:{}", i + 1, if l.tiers.is_empty() { "-".into() } else { l.to_string() })).collect();
        let tiers: Vec<&str> = self.urls.iter().map(|(t, _)| t.as_str()).collect();
        format!("{} urls=default,{}", nodes.join(" "), tiers.join(","))
    }

    /// Each URL's storage root (as [`SimStorage::key`] makes keys), its tier (`None` for the
    /// default), the longest first so a nested URL wins over the one it is under.
    fn roots(&self, gateway: model::NodeId) -> Result<Vec<(String, Option<String>)>, String> {
        let mut roots = Vec::new();
        for (tier, url) in std::iter::once((None, &self.default)).chain(self.urls.iter().map(|(t, u)| (Some(t.clone()), u))) {
            let parsed = StorageUrl::parse(url).map_err(|e| format!("the drawn URL for {tier:?} does not parse: {e}"))?;
            roots.push((SimStorage::key(&parsed, gateway, "").trim_end_matches('/').to_string(), tier));
        }
        roots.sort_by_key(|(r, _)| std::cmp::Reverse(r.len()));
        Ok(roots)
    }
}

/// `url` with `COCKROACH_LOCALITY=<value>`, its `=` escaped as CockroachDB's docs write it.
fn with_param(url: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}COCKROACH_LOCALITY={}", value.replace('=', "%3D"))
}

/// A URL beside `default` for `name`: a directory `loc-<name>` at the front of its path, in the
/// same bucket (whose grant covers it) with the same parameters.
fn sibling(default: &str, name: &str) -> String {
    let (base, query) = default.split_once('?').map_or((default, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let path = if path.is_empty() { format!("loc-{name}") } else { format!("loc-{name}/{path}") };
    let url = format!("{scheme}://{host}/{path}");
    query.map_or(url.clone(), |q| format!("{url}?{q}"))
}

/// The storage events that name, first, the key a write was for (landed, torn, lost, or
/// landed and reported failed): every attempt to put a file somewhere.
const WRITES: [&str; 4] = [sim::event::WRITE, sim::event::WRITE_LANDED_REPORTED_FAILED, sim::event::WRITE_TORN, sim::event::WRITE_LOST];

/// The node a data file's name says exported it (`…/data/<job>/n<coord>-<attempt>-n<node>-<seq>[.<page>].sst`).
fn exporter(key: &str) -> Option<model::NodeId> {
    let (dir, name) = key.rsplit_once('/')?;
    if !name.ends_with(".sst") || !dir.contains("/data/") && !dir.starts_with("data/") {
        return None;
    }
    name.split('-').nth(2)?.strip_prefix('n')?.parse().ok()
}

/// Judges, from the trace's lines, where every data file under the plan's URLs went (see the
/// module's doc): returns one placement line per file for the runner's
/// [`LOCALITY_FILE_PLACED`] events, or the first file out of place.
pub fn check(lines: &[String], plan: &LocalityPlan, gateway: model::NodeId) -> Result<Vec<String>, Failure> {
    let fail = |message: String| Failure { property: Property::WritesInTheirLocality, message };
    let roots = plan.roots(gateway).map_err(fail)?;
    let mut exported: BTreeSet<String> = BTreeSet::new();
    let mut placed = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(_), Some(who), Some(event)) = (words.next(), words.next(), words.next()) else { continue };
        if event == sim::event::EXPORT_SERVED {
            exported.insert(who.to_string());
            continue;
        }
        if !WRITES.contains(&event) {
            continue;
        }
        let Some(key) = words.next() else { continue };
        let Some((_, tier)) = roots.iter().find(|(root, _)| key.starts_with(&format!("{root}/"))) else { continue };
        let Some(node) = exporter(key) else { continue };
        if !exported.contains(&format!("n{node}")) {
            return Err(fail(format!("data file {key} is named for n{node}, but the trace shows no export served by n{node} before it was written")));
        }
        let locality = plan.nodes.get((node as usize).wrapping_sub(1)).map(|l| l.to_string()).unwrap_or_default();
        let want = plan.expected(node);
        if want != tier.as_deref() {
            return Err(fail(format!(
                "data file {key} exported by n{node} (locality {:?}) went to the {} URL; CockroachDB's rule sends that node's files to the {} URL",
                locality,
                tier.as_deref().unwrap_or("default"),
                want.unwrap_or("default")
            )));
        }
        placed.push(match tier {
            Some(t) => format!("{key} to {t} by n{node} ({locality})"),
            None => format!("{key} to default by n{node} ({locality}), a node no URL matches"),
        });
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LocalityPlan {
        let nodes = ["region=us-east", "region=us-west,zone=us-west-a", "region=eu-central", "", "region=us-west,zone=us-west-b"];
        LocalityPlan {
            nodes: nodes.iter().map(|l| l.parse().unwrap()).collect(),
            default: "nodelocal://1/backups/seed-7".into(),
            urls: vec![
                ("region=us-west".into(), "nodelocal://1/loc-us-west/backups/seed-7".into()),
                ("region=us-east".into(), "nodelocal://1/loc-us-east/backups/seed-7".into()),
                ("zone=us-west-a".into(), "nodelocal://1/loc-us-west-a/backups/seed-7".into()),
            ],
        }
    }

    fn trace(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_most_specific_listed_tier_wins_and_the_default_takes_the_rest() {
        let p = plan();
        assert_eq!(
            (p.expected(1), p.expected(2), p.expected(3), p.expected(4), p.expected(5)),
            (Some("region=us-east"), Some("zone=us-west-a"), None, None, Some("region=us-west"))
        );
        assert_eq!(
            p.list_sql(),
            "('nodelocal://1/backups/seed-7?COCKROACH_LOCALITY=default', 'nodelocal://1/loc-us-west/backups/seed-7?COCKROACH_LOCALITY=region%3Dus-west', \
             'nodelocal://1/loc-us-east/backups/seed-7?COCKROACH_LOCALITY=region%3Dus-east', 'nodelocal://1/loc-us-west-a/backups/seed-7?COCKROACH_LOCALITY=zone%3Dus-west-a')"
        );
        assert_eq!(sibling("s3://acme-co?AUTH=implicit", "us-west"), "s3://acme-co/loc-us-west?AUTH=implicit");
        assert_eq!(sibling("gs://b/seed-3?AUTH=implicit", "eu-central"), "gs://b/loc-eu-central/seed-3?AUTH=implicit");
    }

    #[test]
    fn files_where_the_rule_sends_them_pass_and_are_placed() {
        let lines = trace(&[
            "1.0 n2 export-served r4 3 entries as-leaseholder=true",
            "1.1 storage write nodelocal://1/loc-us-west-a/backups/seed-7/data/9/n1-1-n2-0.sst 100 bytes",
            "1.2 n3 export-served r5 3 entries as-leaseholder=true",
            "1.3 storage write nodelocal://1/backups/seed-7/data/9/n1-1-n3-1.sst 100 bytes",
            "1.4 storage write nodelocal://1/backups/seed-7/BACKUP 100 bytes",
            "1.5 n5 export-served r6 3 entries as-leaseholder=true",
            "1.6 storage write-torn nodelocal://1/loc-us-west/backups/seed-7/data/9/n1-1-n5-2.1.sst 10 of 100 bytes landed, reported written",
        ]);
        let placed = check(&lines, &plan(), 1).unwrap();
        assert_eq!(placed.len(), 3, "{placed:?}");
        assert!(
            placed[0].contains(" to zone=us-west-a by n2 ") && placed[1].ends_with("a node no URL matches") && placed[2].contains(" to region=us-west by n5 "),
            "{placed:?}"
        );
    }

    #[test]
    fn a_file_outside_its_nodes_locality_fails_the_property() {
        // A us-west file exported by the us-east node.
        let lines = trace(&[
            "1.0 n1 export-served r4 3 entries as-leaseholder=true",
            "1.1 storage write nodelocal://1/loc-us-west/backups/seed-7/data/9/n1-1-n1-0.sst 100 bytes",
        ]);
        let f = check(&lines, &plan(), 1).unwrap_err();
        assert_eq!(f.property, Property::WritesInTheirLocality);
        assert!(f.message.contains("went to the region=us-west URL") && f.message.contains("to the region=us-east URL"), "{}", f.message);
        // A default file from a node whose region has a URL.
        let lines =
            trace(&["1.0 n1 export-served r4 3 entries as-leaseholder=true", "1.1 storage write nodelocal://1/backups/seed-7/data/9/n2-1-n1-0.sst 100 bytes"]);
        assert!(check(&lines, &plan(), 1).unwrap_err().message.contains("went to the default URL"));
        // The zone's node at its region's URL: the more specific zone URL was listed.
        let lines = trace(&[
            "1.0 n2 export-served r4 3 entries as-leaseholder=true",
            "1.1 storage write nodelocal://1/loc-us-west/backups/seed-7/data/9/n2-1-n2-0.sst 100 bytes",
        ]);
        assert!(check(&lines, &plan(), 1).unwrap_err().message.contains("to the zone=us-west-a URL"));
        // A file named for a node the trace never saw export.
        let lines = trace(&["1.1 storage write nodelocal://1/backups/seed-7/data/9/n2-1-n3-0.sst 100 bytes"]);
        assert!(check(&lines, &plan(), 1).unwrap_err().message.contains("no export served by n3"));
    }
}
