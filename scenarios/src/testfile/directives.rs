//! The directives a test file may use, following CockroachDB's names where it has them
//! (`pkg/ccl/backupccl/testdata/backup-restore`). Each is documented, with an example, in
//! `scenarios/testdata/README.md`.
//!
//! - `exec-sql [user=NAME] [node=N] [expect-error-regex=RE]`: runs the input's statements (SQL,
//!   BACKUP, RESTORE, SHOW, job control) in order through node `N`'s gateway as `NAME` (root by
//!   default); prints nothing on success, `ERROR: <message>` for the first statement that fails.
//!   With `expect-error-regex`, a statement must fail with a message the regex matches (the output
//!   is the error), or the directive fails.
//! - `query-sql [user=NAME] [node=N]`: the same, printing each statement's rows as the shell does.
//! - `advance-time d=DURATION`: lets simulated time pass (`10s`, `2h`, `3days`), the cluster ticking:
//!   GC, leases and jobs go on.
//! - `crash node=N`, `restart node=N`: a node dies (its unsynced state lost) or comes back.
//! - `partition a=N b=M`, `heal`: cut the network between two nodes; restore every link.

use super::session::{Connection, Printed};
use model::kv::NodeId;
use sim::World;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a directive gave: its output, or why it could not run (an unknown directive or argument,
/// a bad value).
pub enum Outcome {
    /// The output to compare with the file's.
    Output(String),
    /// The directive could not run.
    Broken(String),
}

/// The directives, for the error naming an unknown one.
pub const DIRECTIVES: [&str; 8] = ["exec-sql", "query-sql", "advance-time", "crash", "restart", "partition", "heal", "#"];

/// The cluster a file runs in and its open connections.
pub struct State {
    /// The simulated cluster.
    pub world: World,
    connections: BTreeMap<String, Connection>,
    /// Why the catalog could not be bootstrapped (every directive then fails saying so).
    bootstrap: Option<String>,
}

impl State {
    /// A started cluster with its catalog bootstrapped.
    pub async fn new(mut world: World) -> State {
        let setup = world.add_client("setup");
        let task = setup.spawn(move |kv| async move { model::catalog::bootstrap(&kv).await.map_err(|e| e.to_string()) });
        // A fresh cluster always bootstraps; if it did not, the first statement says why.
        let bootstrapped = super::until_done(&mut world, task).await;
        // Another client's clock may lag the bootstrap's commit by up to the clocks' offset (the
        // simulated cluster has no uncertainty intervals): wait it out before the file's first
        // statement, so that every connection sees the bootstrapped catalog.
        let settle = world.cfg.max_clock_offset * 2;
        let until = madsim::time::Instant::now() + settle;
        while madsim::time::Instant::now() < until {
            madsim::time::sleep(Duration::from_millis(50)).await;
            world.tick();
        }
        State { world, connections: BTreeMap::new(), bootstrap: bootstrapped.err() }
    }

    /// Runs one directive.
    pub async fn run(&mut self, mut case: datadriven::TestCase) -> Outcome {
        if let Some(e) = &self.bootstrap {
            return Outcome::Broken(format!("the simulated cluster could not bootstrap its catalog: {e}"));
        }
        match self.dispatch(&mut case).await {
            Ok(out) => match case.expect_empty() {
                Ok(()) => Outcome::Output(out),
                Err(e) => Outcome::Broken(format!("{}: {e}", case.directive)),
            },
            Err(why) => Outcome::Broken(why),
        }
    }

    async fn dispatch(&mut self, case: &mut datadriven::TestCase) -> Result<String, String> {
        let name = case.directive.clone();
        let arg = |e: datadriven::DataDrivenError| format!("{name}: {e}");
        match name.as_str() {
            "exec-sql" | "query-sql" => {
                let user: String = case.try_take_arg("user").map_err(arg)?.unwrap_or_else(|| "root".into());
                let node: NodeId = case.try_take_arg("node").map_err(arg)?.unwrap_or(1);
                let expect: Option<String> = case.try_take_arg("expect-error-regex").map_err(arg)?;
                let expect = expect.map(|re| regex::Regex::new(&re).map_err(|e| format!("expect-error-regex: {e}"))).transpose()?;
                self.check_node(node)?;
                let world = &mut self.world;
                let conn = self.connections.entry(user.clone()).or_insert_with(|| Connection::open(world, &user));
                let results = conn.run(&mut self.world, &case.input, node).await.ok_or("the connection's task ended")?;
                print(name == "query-sql", &results, expect.as_ref())
            }
            "advance-time" => {
                let d: String = case.take_arg("d").map_err(arg)?;
                let d = humantime::parse_duration(&d).map_err(|e| format!("advance-time: d={d}: {e}"))?;
                let until = madsim::time::Instant::now() + d;
                while madsim::time::Instant::now() < until {
                    madsim::time::sleep(Duration::from_millis(50).min(until - madsim::time::Instant::now())).await;
                    self.world.tick();
                }
                Ok(String::new())
            }
            "crash" | "restart" => {
                let node: NodeId = case.take_arg("node").map_err(arg)?;
                self.check_node(node)?;
                let done = if name == "crash" { self.world.crash(node) } else { self.world.restart(node) };
                Ok(if done { String::new() } else { format!("n{node} was already {}\n", if name == "crash" { "down" } else { "up" }) })
            }
            "partition" => {
                let (a, b): (NodeId, NodeId) = (case.take_arg("a").map_err(arg)?, case.take_arg("b").map_err(arg)?);
                self.check_node(a)?;
                self.check_node(b)?;
                self.world.partition(a, b);
                Ok(String::new())
            }
            "heal" => {
                self.world.heal();
                Ok(String::new())
            }
            other => Err(format!("unknown directive {other:?}; the directives are {}", DIRECTIVES[..7].join(", "))),
        }
    }

    fn check_node(&self, node: NodeId) -> Result<(), String> {
        if self.world.node_ids().contains(&node) {
            Ok(())
        } else {
            Err(format!("there is no node n{node}; the cluster has n1..n{}", self.world.cfg.nodes))
        }
    }
}

/// The output of `exec-sql` (`rows` false) or `query-sql`: each statement's rows for a query,
/// and the first error as `ERROR: <message>`. With `expect`, that error must exist and match.
fn print(rows: bool, results: &[Printed], expect: Option<&regex::Regex>) -> Result<String, String> {
    let mut out = String::new();
    let mut error = None;
    for r in results {
        match r {
            Ok(table) if rows => out.push_str(table),
            Ok(_) => {}
            Err(e) => error = Some(e.clone()),
        }
    }
    match (error, expect) {
        (Some(e), Some(re)) if re.is_match(&e) => Ok(format!("{out}ERROR: {e}\n")),
        (Some(e), Some(re)) => Err(format!("expected an error matching {:?}, got: {e}", re.as_str())),
        (None, Some(re)) => Err(format!("expected an error matching {:?}, and every statement succeeded", re.as_str())),
        (Some(e), None) => Ok(format!("{out}ERROR: {e}\n")),
        (None, None) => Ok(out),
    }
}
