//! The restore checks shared by the scenarios that back up: a RESTORE (and SHOW BACKUP) into a
//! fresh simulated cluster on the same storage, what it published compared with the oracle, and
//! the refusals a damaged backup must get, naming the file.

use crate::check::{self, Observation};
use crate::cluster_state::ClusterState;
use crate::job_client::Kind;
use crate::oracle::Oracle;
use crate::property::Property;
use crate::run::{drive, Failure, RunOptions};
use crate::workload::{quote_ident, GuestNames, CLUSTER_GRANTEES, VIEW_BIG_ACCOUNTS};
use backup::format::manifest::MANIFEST_NAME;
use model::sql::Session;
use model::Kv;
use sim::storage::SimStorage;
use sim::{Trace, World};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Restores of this run's backup into fresh clusters that share its storage.
pub(crate) struct RestoreProbe<'a> {
    pub(crate) opts: &'a RunOptions,
    pub(crate) trace: &'a Trace,
    pub(crate) storage: &'a SimStorage,
    pub(crate) kind: Kind,
    /// The guest database's names: a table restore needs its database, as the bank's.
    pub(crate) guest: &'a GuestNames,
    pub(crate) restore_sql: &'a str,
    pub(crate) tables: &'a [String],
    /// Added to every network number the probe's clusters take: a second round of restores in
    /// one run (a backup taken again) must not reuse the first round's addresses, which madsim
    /// keeps after their clusters are gone.
    pub(crate) network_offset: u8,
}

/// A statement's answer: its columns and rows.
pub(crate) type Answer = (Vec<String>, Vec<Vec<model::Datum>>);

/// What a RESTORE (and optional SHOW BACKUP) in a fresh cluster did: the statements' answers,
/// what reading every relation afterwards found, and (for a cluster backup) the cluster-wide
/// state read from the restored catalog.
pub(crate) struct Attempt {
    pub(crate) restored: Result<Answer, String>,
    pub(crate) shown: Option<Result<Answer, String>>,
    pub(crate) observations: Vec<Observation>,
    pub(crate) cluster: Option<Result<ClusterState, String>>,
}

impl RestoreProbe<'_> {
    /// Runs the RESTORE in a fresh cluster on `network` (and `show`, a SHOW BACKUP, first), then
    /// reads every relation of the backup there.
    pub(crate) async fn attempt(&self, network: u8, show: Option<&str>) -> Result<Attempt, String> {
        let network = network + self.network_offset;
        let mut world =
            World::start_with(self.opts.world_config(network), self.opts.seed ^ 0x7a_46e7 ^ network as u64, self.trace.clone(), self.storage.clone());
        let client = world.add_client("restorer");
        let (kind, restore_sql, tables, show) = (self.kind, self.restore_sql.to_string(), self.tables.to_vec(), show.map(str::to_string));
        let guest_db = quote_ident(&self.guest.database);
        let task = client.spawn(move |kv| async move {
            let shared: Arc<dyn Kv> = Arc::new(kv.clone());
            model::catalog::bootstrap(&*shared).await.map_err(|e| format!("bootstrap of the restore target: {e}"))?;
            if kind == Kind::Tables {
                let mut s = Session::root(shared.clone());
                for db in ["bank", guest_db.as_str()] {
                    s.execute(&format!("CREATE DATABASE {db}")).await.map_err(|e| format!("CREATE DATABASE {db}: {e}"))?;
                }
            }
            let shown = match show {
                Some(sql) => Some(kv.bulk(1, &sql, "root", "defaultdb", Duration::from_secs(300)).await),
                None => None,
            };
            let restored = kv.bulk(1, &restore_sql, "root", "defaultdb", Duration::from_secs(900)).await;
            let now = kv.now();
            let mut observations = Vec::new();
            for t in &tables {
                observations.push(check::observe_restored(&*shared, t, now).await);
            }
            // Only a cluster restore that succeeded is held to the cluster-wide state.
            let cluster = if kind == Kind::Cluster && restored.is_ok() {
                let grantees: BTreeSet<String> = CLUSTER_GRANTEES.iter().map(|g| g.to_string()).collect();
                Some(
                    model::Catalog::read(&*shared, now)
                        .await
                        .map(|c| ClusterState::read(&c, &grantees))
                        .map_err(|e| format!("reading the restored catalog: {e}")),
                )
            } else {
                None
            };
            Ok::<_, String>(Attempt { restored, shown, observations, cluster })
        });
        drive(&mut world, task).await
    }

    /// A damaged manifest: RESTORE and `show_sql` (SHOW BACKUP) must both refuse it naming it;
    /// the refusal goes into the trace.
    pub(crate) async fn manifest_refused(&self, show_sql: &str, cause: &str) -> Result<(), Failure> {
        let refusal = self.refused(1, &[MANIFEST_NAME.to_string()], Some(show_sql), cause).await?;
        sim::trace_event!(self.trace, "runner", sim::event::DAMAGE_DETECTED, "{MANIFEST_NAME} ({cause}): {refusal}");
        Ok(())
    }

    /// A RESTORE that must be refused — with an error naming one of `names` (any error when
    /// empty) — publishing nothing; with `show`, SHOW BACKUP must be refused the same way.
    /// Returns the RESTORE's error.
    pub(crate) async fn refused(&self, network: u8, names: &[String], show: Option<&str>, why: &str) -> Result<String, Failure> {
        let fail = |message: String| Failure { property: Property::DamageDetected, message };
        let Attempt { restored, shown, observations, .. } = self.attempt(network, show).await.map_err(fail)?;
        let names_one = |e: &str| names.is_empty() || names.iter().any(|n| names_file(e, n));
        let error = match restored {
            Err(e) if names_one(&e) => e,
            other => return Err(fail(format!("after a {why} of {names:?}, RESTORE gave {other:?} instead of an error naming the file"))),
        };
        if let Some(shown) = shown {
            match shown {
                Err(e) if names_one(&e) => {}
                other => return Err(fail(format!("after a {why} of {names:?}, SHOW BACKUP gave {other:?} instead of an error naming the file"))),
            }
        }
        let visible: Vec<&str> = observations.iter().filter(|o| o.result.is_ok()).map(|o| o.table.as_str()).collect();
        if !visible.is_empty() {
            return Err(fail(format!("a refused RESTORE ({why}) published {visible:?}")));
        }
        Ok(error)
    }
}

/// True when error text `e` names the backup file at `path` (relative to the destination): its
/// last path segment appears as a whole word (`BACKUP` is not named by `BACKUP-CHECKPOINT`).
pub(crate) fn names_file(e: &str, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let part = |c: Option<char>| matches!(c, Some(c) if c.is_alphanumeric() || c == '-' || c == '_');
    e.match_indices(name).any(|(i, _)| !part(e[i + name.len()..].chars().next()) && !part(e[..i].chars().next_back()))
}

/// Compares every observed relation of a restored cluster with the oracle at `ts`; returns
/// (rows, relations) matched. `what` says what was restored (for the message).
pub(crate) fn compare_with_oracle(observations: &[Observation], oracle: &Oracle, ts: model::Timestamp, what: &str) -> Result<(usize, usize), Failure> {
    let mut rows = 0;
    for ob in observations {
        let want = check::expected(oracle, &ob.table, ts);
        match (&ob.result, want) {
            (Ok((columns, got)), Some(want)) => {
                if let Some(d) = crate::oracle::diff(&ob.table, ts, &want, columns, got) {
                    return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("after restoring {what} {ts}: {d}") });
                }
                if let Some(schema) = ob.schema.as_ref().filter(|_| ob.table != VIEW_BIG_ACCOUNTS) {
                    let wanted = check::Schema { indexes: want.indexes.clone(), zone_gc_ttl_seconds: want.zone_gc_ttl_seconds };
                    if *schema != wanted {
                        return Err(Failure {
                            property: Property::RestoreMatchesOracle,
                            message: format!(
                                "after restoring {what} {ts}: {} has secondary indexes {:?} and zone GC TTL {:?}, but the oracle says {:?} and {:?} then",
                                ob.table, schema.indexes, schema.zone_gc_ttl_seconds, wanted.indexes, wanted.zone_gc_ttl_seconds
                            ),
                        });
                    }
                }
                rows += got.len();
            }
            (Err(model::sql::SqlError::UndefinedRelation(_)), None) => {}
            (Ok(_), None) => {
                return Err(Failure {
                    property: Property::RestoreMatchesOracle,
                    message: format!("{} was restored but did not exist at {ts} ({what})", ob.table),
                })
            }
            (Err(e), _) => return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("reading restored {}: {e}", ob.table) }),
        }
    }
    Ok((rows, observations.len()))
}

/// A cluster restore's cluster-wide state (users, roles, memberships, database and default
/// zones, grants) against what the workload set up, which no backup taken after its setup may
/// lose. `None` (not a cluster restore) passes, and so does a restore to a time before the
/// workload had set it all up (a revision-history restore may go back that far).
pub(crate) fn compare_cluster_state(cluster: &Option<Result<ClusterState, String>>, oracle: &Oracle, ts: model::Timestamp, what: &str) -> Result<(), Failure> {
    let fail = |message: String| Failure { property: Property::RestoreMatchesOracle, message };
    if oracle.cluster_state_since().is_none_or(|since| ts < since) {
        return Ok(());
    }
    match cluster {
        None => Ok(()),
        Some(Err(e)) => Err(fail(format!("after restoring {what} {ts}: {e}"))),
        Some(Ok(got)) => match got.diff(&crate::workload::cluster_state()) {
            None => Ok(()),
            Some(d) => Err(fail(format!("after restoring {what} {ts}, the restored cluster has {d}"))),
        },
    }
}

/// Flips bit `bit` (modulo the object's size) of the stored object `key`: bit rot after the
/// fact, which a RESTORE must refuse naming the file.
pub(crate) fn flip_bit(storage: &SimStorage, key: &str, bit: u64) {
    storage.corrupt(key, |bytes| {
        if !bytes.is_empty() {
            let at = (bit / 8) as usize % bytes.len();
            bytes[at] ^= 1 << (bit % 8);
        }
    });
}

/// The key of an encrypted backup: what `passphrase` and the ENCRYPTION-INFO stored at
/// `info_key` give (`None` without a passphrase). Derived once per check: PBKDF2 is slow on
/// purpose.
pub(crate) fn backup_key(storage: &SimStorage, info_key: &str, passphrase: Option<&str>) -> Result<Option<backup::crypto::EncryptionKey>, String> {
    use backup::format::manifest::ENCRYPTION_INFO_NAME;
    let Some(passphrase) = passphrase else { return Ok(None) };
    let info = storage.get(info_key).ok_or_else(|| format!("the backup is encrypted but the destination holds no {ENCRYPTION_INFO_NAME}"))?;
    let info = backup::crypto::EncryptionInfo::decode(ENCRYPTION_INFO_NAME, &info).map_err(|e| e.to_string())?;
    let key = info
        .key(ENCRYPTION_INFO_NAME, &backup::statement::Secret::new(passphrase))
        .map_err(|e| format!("the seed's passphrase does not open the backup: {e}"))?;
    Ok(Some(key))
}

/// The plaintext of a stored backup file (`path` names it in errors): `bytes` as they are
/// without a key. What the scenarios read manifests and data files through.
pub(crate) fn plaintext(key: Option<&backup::crypto::EncryptionKey>, path: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    match key {
        None => Ok(bytes.to_vec()),
        Some(key) => backup::crypto::open(path, key, bytes).map_err(|e| format!("{path} does not decrypt with the backup's key: {e}")),
    }
}
