//! A SQL connection of a test file: one client machine per user, with one long-lived task that
//! holds the user's session (its current database, its open transaction) across directives, as
//! a `cockroach sql` connection would.

use super::cluster::Cluster;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use model::kv::NodeId;
use model::sql::Session;
use model::Kv;
use sim::World;
use std::sync::Arc;
use std::time::Duration;

/// How long a BACKUP, RESTORE or other bulk statement of a file may take, in simulated time.
const BULK_TIMEOUT: Duration = Duration::from_secs(3600);

/// One statement's result: its rows (`None` for a statement that returns none), or its error.
pub(crate) type Printed = Result<Option<backup::show::QueryResult>, String>;

struct Request {
    sql: String,
    gateway: NodeId,
    reply: oneshot::Sender<Vec<Printed>>,
}

/// A user's connection.
pub(crate) struct Connection {
    requests: mpsc::UnboundedSender<Request>,
}

impl Connection {
    /// Opens a connection for `user` on a client machine of its own.
    pub(crate) fn open(world: &mut World, user: &str) -> Connection {
        let client = world.add_client(&format!("sql-{user}"));
        let (tx, mut rx) = mpsc::unbounded::<Request>();
        let user = user.to_string();
        // The task lives as long as the world: it ends when the sender is dropped.
        let _task = client.spawn(move |kv| async move {
            let shared: Arc<dyn Kv> = Arc::new(kv.clone());
            let mut session = if user == "root" { Session::root(shared) } else { Session::new(shared, user) };
            while let Some(req) = rx.next().await {
                let mut out = Vec::new();
                match model::sql::split_statements(&req.sql) {
                    Err(e) => out.push(Err(e.to_string())),
                    Ok(stmts) => {
                        for sql in stmts.iter().filter(|s| !s.trim().is_empty()) {
                            let printed = if backup::exec::is_bulk_statement(sql) {
                                kv.bulk_in_session(req.gateway, sql, session.user(), session.database(), session.in_transaction(), BULK_TIMEOUT)
                                    .await
                                    .map(|(columns, rows)| (!columns.is_empty()).then_some(backup::show::QueryResult { columns, rows }))
                            } else {
                                session
                                    .execute(sql)
                                    .await
                                    .map_err(|e| e.to_string())
                                    .map(|r| (!r.columns.is_empty()).then_some(backup::show::QueryResult { columns: r.columns, rows: r.rows }))
                            };
                            let failed = printed.is_err();
                            out.push(printed);
                            if failed {
                                break;
                            }
                        }
                    }
                }
                let _ = req.reply.send(out);
            }
        });
        Connection { requests: tx }
    }

    /// Runs the statements of `sql` in order through gateway `gateway`, ticking the cluster while
    /// they run; stops at the first error. `None` if the connection's task is gone.
    pub(crate) async fn run(&self, cluster: &mut Cluster, sql: &str, gateway: NodeId) -> Option<Vec<Printed>> {
        let (reply, mut answer) = oneshot::channel();
        self.requests.unbounded_send(Request { sql: sql.to_string(), gateway, reply }).ok()?;
        loop {
            match answer.try_recv() {
                Ok(Some(out)) => return Some(out),
                Ok(None) => {}
                Err(_) => return None,
            }
            madsim::time::sleep(Duration::from_millis(50)).await;
            cluster.tick();
        }
    }
}
