//! What a finished backup's manifest says, beyond what a restore reads from it:
//!
//! - **The manifest's dump shows every list whole.** `backup-sim` and the snapshots show an
//!   operator a manifest as its text dump. Read back by the layout it documents (each list a
//!   `title: N` line, or `title: none`, then its items indented two spaces under the title,
//!   an item's detail lines deeper), each list must show exactly as many items as the manifest
//!   holds. A dump that hides an item, or indents it where it reads as a detail of another, fails.
//! - **A backup records the history of its targets only.** A DATABASE or table backup with
//!   revision history keeps the descriptor changes in its window of what it backs up: every
//!   database it names there must be one of its target databases (for a table backup, one
//!   that holds a target), and every table of a DATABASE backup must live in one of them. A
//!   backup that records another database's history (one created and dropped while it ran)
//!   hands a restore objects it was not asked for; the names come from the statement, not
//!   from the backup code's resolution of it.

use crate::property::Property;
use crate::run::Failure;
use backup::format::manifest::Manifest;
use model::catalog::Descriptor;
use std::collections::BTreeMap;

/// The dump's list titles in the order it prints them, each with its indent (the cluster
/// data's lists sit under `cluster data:`) and how many items that list of `m` holds.
fn lists(m: &Manifest) -> Vec<(&'static str, usize, usize)> {
    let mut l = vec![
        ("depends on", 0, m.depends_on.len()),
        ("spans", 0, m.spans.len()),
        ("introduced spans", 0, m.introduced_spans.len()),
        ("descriptors", 0, m.descriptors.len()),
        ("complete databases", 0, m.complete_dbs.len()),
        ("descriptor changes", 0, m.descriptor_changes.len()),
        ("files", 0, m.files.len()),
    ];
    if let Some(cd) = &m.cluster_data {
        l.extend([("users", 2, cd.users.len()), ("role memberships", 2, cd.role_memberships.len()), ("zones", 2, cd.zones.len())]);
    }
    l
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Checks `m`'s dump (see the module comment); `what` names the backup in a failure.
pub(crate) fn dump_shows_every_list(what: &str, m: &Manifest) -> Result<(), Failure> {
    let dump = m.dump();
    let lines: Vec<&str> = dump.lines().collect();
    let bad = |why: String| Failure { property: Property::BackupComplete, message: format!("the manifest dump of {what} {why}\n{dump}") };
    // Each title is looked for after the one before it, at its own indent: an item's detail
    // line may read like a title (a view's `depends on: [..]`).
    let mut from = 0;
    for (title, depth, held) in lists(m) {
        let heading = format!("{}{title}: ", " ".repeat(depth));
        let Some(at) = lines[from..].iter().position(|l| l.starts_with(&heading)).map(|i| from + i) else {
            return Err(bad(format!("has no {title:?} list after line {from}")));
        };
        from = at + 1;
        let head = lines[at];
        let count = head.trim_start()[title.len() + 2..].trim();
        let shown = if count == "none" { 0 } else { count.parse::<usize>().map_err(|_| bad(format!("counts its {title:?} as {count:?}")))? };
        if shown != held {
            return Err(bad(format!("says {shown} {title}, but the manifest holds {held}")));
        }
        // Items sit two spaces under the title; deeper lines are an item's details.
        let mut items = 0;
        for l in &lines[at + 1..] {
            match indent(l) {
                d if d == depth + 2 => items += 1,
                d if d > depth + 2 && items > 0 => {}
                _ => break,
            }
        }
        if items != held {
            return Err(bad(format!("shows {items} of its {held} {title} under the title")));
        }
    }
    Ok(())
}

/// Checks that `m`'s descriptor history names only objects of its targets (see the module
/// comment): `databases` are the target databases (a DATABASE backup's, or those holding a
/// table backup's tables), `whole` whether they are backed up whole. A cluster backup is not
/// checked: every user object is its target.
pub(crate) fn history_within_targets(what: &str, m: &Manifest, databases: &[String], whole: bool) -> Result<(), Failure> {
    let bad = |why: String| Failure { property: Property::IncrementalHoldsItsChanges, message: format!("{what} {why}") };
    // Every database id the manifest knows a name for, from its descriptors and its history.
    let mut names: BTreeMap<u32, &str> = BTreeMap::new();
    for d in m.descriptors.iter().chain(m.descriptor_changes.iter().filter_map(|c| c.desc.as_ref())) {
        if let Descriptor::Database(db) = d {
            names.insert(db.id, &db.name);
        }
    }
    let target = |name: &str| databases.iter().any(|d| d == name);
    for c in &m.descriptor_changes {
        match &c.desc {
            Some(Descriptor::Database(db)) if !target(&db.name) => {
                return Err(bad(format!("records a change at {} of database {:?}, which is not among its targets {databases:?}", c.time, db.name)));
            }
            Some(Descriptor::Table(t)) if whole => match names.get(&t.parent_id) {
                Some(db) if target(db) => {}
                parent => {
                    return Err(bad(format!(
                        "records a change at {} of {:?} in database {parent:?} (id {}), which is not among its targets {databases:?}",
                        c.time, t.name, t.parent_id
                    )))
                }
            },
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use backup::format::manifest::DescriptorChange;
    use model::catalog::DatabaseDescriptor;
    use model::{MvccFilter, Timestamp};

    fn db(id: u32, name: &str) -> Descriptor {
        Descriptor::Database(DatabaseDescriptor { id, name: name.into(), privileges: Default::default(), offline: false })
    }

    fn manifest() -> Manifest {
        Manifest {
            format_version: backup::format::FORMAT_VERSION,
            backup_id: "b".into(),
            cluster_id: "c".into(),
            start_time: Timestamp::from_nanos(1),
            end_time: Timestamp::from_nanos(9),
            mvcc_filter: MvccFilter::AllRevisions,
            revision_start_time: Timestamp::from_nanos(1),
            spans: Vec::new(),
            introduced_spans: Vec::new(),
            descriptors: vec![db(52, "bank")],
            complete_dbs: vec![52],
            descriptor_changes: vec![DescriptorChange { time: Timestamp::from_nanos(5), id: 52, desc: Some(db(52, "bank")) }],
            files: Vec::new(),
            depends_on: vec!["mem://b/full".into()],
            entry_counts: Default::default(),
            is_full_cluster: false,
            cluster_data: Some(Default::default()),
            targets_description: "DATABASE bank".into(),
            partitions: Vec::new(),
        }
    }

    #[test]
    fn a_dump_shows_every_list_whole() {
        let m = manifest();
        dump_shows_every_list("b", &m).unwrap();
        let mut other = m.clone();
        other.descriptor_changes.push(DescriptorChange { time: Timestamp::from_nanos(6), id: 53, desc: None });
        dump_shows_every_list("b", &other).unwrap();
    }

    #[test]
    fn history_of_another_database_is_caught() {
        let mut m = manifest();
        history_within_targets("b", &m, &["bank".into()], true).unwrap();
        m.descriptor_changes.push(DescriptorChange { time: Timestamp::from_nanos(6), id: 60, desc: Some(db(60, "scratch")) });
        assert_eq!(history_within_targets("b", &m, &["bank".into()], true).unwrap_err().property, Property::IncrementalHoldsItsChanges);
        history_within_targets("b", &m, &["bank".into(), "scratch".into()], true).unwrap();
    }
}
