//! End-to-end, in-process: a locality-aware BACKUP (`TO ('…?COCKROACH_LOCALITY=default',
//! '…?COCKROACH_LOCALITY=region%3D…')`). The node's locality picks where its files go; the
//! default URL keeps the manifest, which lists each file with its locality; the other URL holds
//! the files and a `BACKUP_PART_1_<locality>` descriptor. RESTORE and SHOW BACKUP take the same
//! list (in any order after the default, moved elsewhere), restore exactly the source, and refuse
//! a list that lacks a partition, naming it. Incrementals (automatic, and `INCREMENTAL FROM` the
//! default URL) and encryption work the same way.

use crate::common::*;
use backup::format::partition::PartitionDescriptor;
use backup::storage::MemStorageProvider;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT: &str = "nodelocal://1/east";
const WEST: &str = "nodelocal://1/west";
const TABLES: [(&str, &str); 4] = [("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers")];

/// The bank cluster on a node started with `--locality=<locality>`.
fn node_in(locality: &str) -> Cluster {
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    let l: backup::locality::Locality = locality.parse().unwrap();
    c.env.locality = l.clone();
    c.local.set_locality(l.tiers);
    c.advance(Duration::from_secs(1));
    c
}

fn to_list(default: &str, west: &str) -> String {
    format!("('{default}?COCKROACH_LOCALITY=default', '{west}?COCKROACH_LOCALITY=region%3Dus-west')")
}

/// Data files stored at a location.
fn data_files(c: &Cluster, loc: &str) -> Vec<String> {
    c.store(loc).snapshot().into_keys().filter(|k| k.starts_with("data/") || k.contains("/data/")).collect()
}

/// Restores `bank` from `from` on a fresh cluster over the same storage and checks every table
/// against the source at `ts`.
fn restores_to_source(src: &Cluster, from: &str, with: &str, ts: model::Timestamp) {
    let dst = src.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE bank FROM {from}{with}"));
    for (db, t) in TABLES {
        assert_eq!(dst.read_now(db, t), src.read(db, t, ts), "{db}.{t} from {from}");
    }
}

#[test]
fn a_node_in_a_listed_locality_writes_there_and_the_backup_restores_from_the_list() {
    let src = node_in("region=us-west,zone=us-west-2a");
    src.ok(&format!("BACKUP DATABASE bank TO {}", to_list(DEFAULT, WEST)));
    let m = src.manifest(DEFAULT);
    assert_eq!(m.format_version, backup::format::LOCALITY_FORMAT_VERSION);
    assert_eq!(m.partitions, vec!["region=us-west".to_string()]);
    assert!(!m.files.is_empty() && m.files.iter().all(|f| f.locality.as_deref() == Some("region=us-west")), "{}", m.dump());
    // Every data file is at the west URL, none at the default; the descriptor lists them.
    assert!(data_files(&src, DEFAULT).is_empty(), "{:?}", data_files(&src, DEFAULT));
    let mut west = data_files(&src, WEST);
    west.sort();
    let mut listed: Vec<String> = m.files.iter().map(|f| f.path.clone()).collect();
    listed.sort();
    assert_eq!(west, listed);
    let part = PartitionDescriptor::decode("p", &read_obj(&src.store(WEST), "BACKUP_PART_1_region=us-west")).unwrap();
    assert_eq!((part.backup_id.as_str(), part.locality.as_str(), part.files.len()), (m.backup_id.as_str(), "region=us-west", m.files.len()));
    restores_to_source(&src, &format!("('{DEFAULT}', '{WEST}')"), "", m.end_time);
    // SHOW BACKUP reads the manifest alone; FILES says where each file is; check_files needs the list.
    assert!(src.ok(&format!("SHOW BACKUP '{DEFAULT}'")).render().contains("customers"));
    let files = src.ok(&format!("SHOW BACKUP FILES ('{DEFAULT}', '{WEST}') WITH check_files"));
    assert_eq!(files.columns.last().map(String::as_str), Some("locality"));
    assert!(files.render().contains("region=us-west"), "{}", files.render());
    let e = src.err(&format!("SHOW BACKUP FILES '{DEFAULT}' WITH check_files"));
    assert!(e.contains("expected manifest BACKUP_PART_1_region=us-west not found in backup locations"), "{e}");
    // A list without the west URL is refused naming the partition; nothing is restored.
    let dst = src.fresh_destination();
    let e = dst.err(&format!("RESTORE DATABASE bank FROM '{DEFAULT}'"));
    assert!(e.contains("BACKUP_PART_1_region=us-west") && e.contains("locality region=us-west"), "{e}");
    assert!(dst.catalog().database_by_name("bank").is_none());
}

#[test]
fn a_node_no_url_matches_writes_to_the_default_and_a_moved_partition_is_found() {
    let src = node_in("region=eu-central");
    src.ok(&format!("BACKUP DATABASE bank TO {}", to_list(DEFAULT, WEST)));
    let m = src.manifest(DEFAULT);
    assert!(m.files.iter().all(|f| f.locality.is_none()));
    assert!(data_files(&src, WEST).is_empty());
    // The partition's descriptor is written even with no file, and RESTORE needs it listed.
    assert!(PartitionDescriptor::decode("p", &read_obj(&src.store(WEST), "BACKUP_PART_1_region=us-west")).unwrap().files.is_empty());
    restores_to_source(&src, &format!("('{DEFAULT}', '{WEST}')"), "", m.end_time);

    // A west node's backup whose west directory was moved: found at its new URL.
    let src = node_in("region=us-west");
    src.ok(&format!("BACKUP DATABASE bank TO {}", to_list(DEFAULT, WEST)));
    let m = src.manifest(DEFAULT);
    let (from, to) = (src.store(WEST), src.store("nodelocal://1/moved"));
    for k in from.snapshot().into_keys() {
        write_obj(&to, &k, read_obj(&from, &k));
        delete_obj(&from, &k);
    }
    restores_to_source(&src, &format!("('{DEFAULT}', 'nodelocal://1/elsewhere', 'nodelocal://1/moved')"), "", m.end_time);
}

#[test]
fn incrementals_and_encryption_follow_the_localities() {
    let mut src = node_in("region=us-west");
    let with = " WITH encryption_passphrase = 'pw-for-localities'";
    src.ok(&format!("BACKUP DATABASE bank TO {}{with}", to_list(DEFAULT, WEST)));
    src.sql("INSERT INTO bank.customers VALUES (900, 'after the full', NULL)");
    src.advance(Duration::from_secs(2));
    // An automatic incremental: the same subdirectory of both URLs.
    src.ok(&format!("BACKUP DATABASE bank TO {}{with}", to_list(DEFAULT, WEST)));
    let subdirs: Vec<String> = src.store(WEST).snapshot().into_keys().filter(|k| k.contains("/BACKUP_PART_1_")).collect();
    assert_eq!(subdirs.len(), 1, "{subdirs:?}");
    // Everything at the west URL is encrypted; ENCRYPTION-INFO is only at the default.
    let west = src.store(WEST);
    for k in west.snapshot().into_keys() {
        assert!(read_obj(&west, &k).starts_with(b"encrypt"), "{k} is encrypted");
    }
    assert!(!src.store(WEST).snapshot().contains_key("ENCRYPTION-INFO"));
    let ts = src.now();
    // One list serves the automatic chain.
    restores_to_source(&src, &format!("('{DEFAULT}', '{WEST}')"), with, ts);
    let e = src.fresh_destination().err(&format!("RESTORE DATABASE bank FROM ('{DEFAULT}', '{WEST}')"));
    assert!(e.contains("encryption_passphrase"), "{e}");

    // `INCREMENTAL FROM` names the default URL of its base; the new backup's list is its own.
    src.sql("INSERT INTO bank.customers VALUES (901, 'after the automatic one', NULL)");
    src.advance(Duration::from_secs(2));
    src.ok(&format!("BACKUP DATABASE bank TO {} INCREMENTAL FROM '{DEFAULT}'{with}", to_list("nodelocal://1/inc-east", "nodelocal://1/inc-west")));
    let ts2 = src.now();
    // The explicit chain lists each member with its own URLs; without the incremental's west
    // URL it is refused, naming that partition.
    let e = src.fresh_destination().err(&format!("RESTORE DATABASE bank FROM ('{DEFAULT}', '{WEST}'), 'nodelocal://1/inc-east'{with}"));
    assert!(e.contains("nodelocal://1/inc-east") && e.contains("locality region=us-west"), "{e}");
    restores_to_source(&src, &format!("('{DEFAULT}', '{WEST}'), ('nodelocal://1/inc-east', 'nodelocal://1/inc-west')"), with, ts2);
    assert!(ts2 > ts);
}
