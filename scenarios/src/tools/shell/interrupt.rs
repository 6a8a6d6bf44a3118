//! Ctrl-C while a BACKUP, RESTORE or SHOW BACKUP runs, as `cockroach sql` has it: the statement
//! is canceled and the prompt comes back. Before this, SIGINT killed the whole shell and left the
//! backup's `BACKUP-CHECKPOINT` behind.
//!
//! How a statement is canceled depends on how far it got:
//! - no job yet (planning, or waiting on an unreachable endpoint before the job is recorded; SHOW
//!   BACKUP never has one): the statement's future is dropped — it has written nothing;
//! - a BACKUP job: `CANCEL JOB` is issued for it and the statement keeps running until its
//!   coordinator sees the request and ends the job `canceled`, cleaning up as CANCEL JOB does (a
//!   second Ctrl-C gives up waiting and exits the shell);
//! - a RESTORE job: a restore publishes nothing until its last step, so its future is dropped (its
//!   coordinator stops mid-flight, as if its node died), the offline descriptors and data it
//!   wrote are removed, and the job is recorded `canceled` at once
//!   ([`backup::restore::job::cancel_stopped`]).
//!
//! Which job is the statement's: the one created after the statement started (the shell runs
//! one statement at a time; background adoption creates no jobs). While the statement runs, [`Attended::run`] also prints what it waits for
//! ([`super::progress`]) every few seconds, and on a terminal draws its job's progress bar
//! ([`super::job_bar`]), with those notes printed above it.
//!
//! Signals: the shell listens to SIGINT through tokio. A script (`-e`, `-f`, standard input)
//! keeps SIGINT's default action — ending the process — whenever no bulk statement runs, so that
//! Ctrl-C still stops a script that waits for input; the prompt never needs it (the line editor
//! reads Ctrl-C as a key).

use super::job_bar::{self, JobBar};
use super::progress::Activity;
use backup::env::Env;
use backup::error::BackupError;
use backup::exec;
use backup::jobs::{self, JobId, JobType};
use backup::show::QueryResult;
use backup::targets::SessionContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// How long a statement runs before the shell says what it waits for, and how often it repeats.
const FIRST_NOTE_AFTER: Duration = Duration::from_secs(2);
const NOTE_EVERY: Duration = Duration::from_secs(5);

/// Whether SIGINT between statements ends the process (scripts) or is ignored (the prompt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Between {
    /// SIGINT's default action: the process ends.
    Terminate,
    /// Ignored (it can only arrive in the instant between two statements).
    Ignore,
}

/// The shell's SIGINT handling, installed once.
pub struct Interrupts {
    signal: Signal,
    /// True while SIGINT should act as by default (a script between statements).
    idle_default: Option<Arc<AtomicBool>>,
}

impl Interrupts {
    /// Starts listening to SIGINT on `rt`.
    pub fn install(rt: &tokio::runtime::Handle, between: Between) -> std::io::Result<Interrupts> {
        let idle_default = match between {
            Between::Terminate => {
                let flag = Arc::new(AtomicBool::new(true));
                signal_hook::flag::register_conditional_default(signal_hook::consts::SIGINT, flag.clone())?;
                Some(flag)
            }
            Between::Ignore => None,
        };
        let _entered = rt.enter();
        Ok(Interrupts { signal: signal(SignalKind::interrupt())?, idle_default })
    }

    fn statement_running(&mut self, running: bool) {
        if running {
            // A SIGINT that arrived between statements is not meant for this one.
            while let Some(Some(())) = futures::FutureExt::now_or_never(self.signal.recv()) {}
        }
        if let Some(flag) = &self.idle_default {
            flag.store(!running, Ordering::SeqCst);
        }
    }
}

/// How an attended statement ended.
pub enum Ended {
    /// It ran to its end (successfully or not).
    Finished(Result<QueryResult, BackupError>),
    /// Ctrl-C canceled it; the message says what became of it.
    Canceled(String),
    /// A second Ctrl-C while its job was being canceled: the user wants out.
    Abandoned(String),
}

/// A bulk statement run with Ctrl-C and progress notes.
pub struct Attended<'a> {
    /// The node's environment.
    pub env: &'a Env,
    /// The session running it.
    pub ctx: &'a SessionContext,
    /// SIGINT.
    pub interrupts: &'a mut Interrupts,
    /// What storage is doing.
    pub activity: &'a Activity,
    /// Whether to draw the job's progress bar ([`super::job_bar`]: only on a terminal).
    pub bar: bool,
}

impl Attended<'_> {
    /// Runs `sql` until it ends or Ctrl-C cancels it (see the module doc).
    pub async fn run(mut self, sql: &str) -> Ended {
        self.interrupts.statement_running(true);
        let ended = self.run_inner(sql).await;
        self.interrupts.statement_running(false);
        ended
    }

    async fn run_inner(&mut self, sql: &str) -> Ended {
        // The statement's job, if it makes one, is created after this (the HLC only moves on).
        let started_at = self.env.kv.now();
        self.activity.forget_failures();
        let mut notes = Notes::new(self.activity);
        // Cleared when this returns, before the caller prints the statement's result.
        let mut bar = JobBar::new(self.bar, started_at);
        let mut bar_ticks = tokio::time::interval_at(tokio::time::Instant::now() + job_bar::SHOW_AFTER, job_bar::REFRESH_EVERY);
        bar_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Boxed, so that dropping it (a restore or a job-less statement being canceled) ends it.
        let mut statement = Box::pin(exec::execute(self.env, self.ctx, sql));
        loop {
            tokio::select! {
                r = &mut statement => return Ended::Finished(r),
                _ = self.interrupts.signal.recv() => break,
                () = notes.next(&bar) => {}
                _ = bar_ticks.tick() => bar.refresh(&*self.env.kv).await,
            }
        }
        // Ctrl-C. Which job is the statement's?
        let all = jobs::list(&*self.env.kv).await.unwrap_or_default();
        let job = all.iter().rev().find(|j| j.created >= started_at).map(|j| (j.id, j.job_type, j.status.is_terminal()));
        match job {
            None => Ended::Canceled("query canceled before it started a job: nothing was written".into()),
            // Its job has just ended: the statement is reporting how.
            Some((_, _, true)) => Ended::Finished(statement.await),
            Some((id, JobType::Restore, _)) => {
                drop(statement);
                Ended::Canceled(cancel_restore(self.env, id).await)
            }
            Some((id, JobType::Backup, _)) => {
                bar.note(&format!("canceling job {id}: waiting for it to stop (Ctrl-C again exits the shell)"));
                if let Err(e) = exec::execute(self.env, self.ctx, &format!("CANCEL JOB {id}")).await {
                    // It ended meanwhile (succeeded or failed): the statement reports how.
                    bar.note(&format!("could not cancel job {id}: {e}"));
                }
                loop {
                    tokio::select! {
                        r = &mut statement => return match r {
                            Ok(result) => Ended::Finished(Ok(result)),
                            Err(e) => Ended::Canceled(format!("query canceled: {e}")),
                        },
                        _ = self.interrupts.signal.recv() => return Ended::Abandoned(format!(
                            "job {id} was still being canceled; its destination may keep a BACKUP-CHECKPOINT file"
                        )),
                        // The coordinator notices the cancel between storage calls: say what
                        // it is still waiting for.
                        () = notes.next(&bar) => {}
                        _ = bar_ticks.tick() => bar.refresh(&*self.env.kv).await,
                    }
                }
            }
        }
    }
}

/// The progress notes of one statement: the first after [`FIRST_NOTE_AFTER`], then at most one
/// every [`NOTE_EVERY`] while there is something to say.
struct Notes<'a> {
    activity: &'a Activity,
    ticks: tokio::time::Interval,
    last: Option<tokio::time::Instant>,
}

impl<'a> Notes<'a> {
    fn new(activity: &'a Activity) -> Self {
        let ticks = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_NOTE_AFTER, Duration::from_secs(1));
        Notes { activity, ticks, last: None }
    }

    /// Waits for the next tick and prints a note if one is due, above `bar` (cancel-safe: a tick
    /// not taken is taken by the next call).
    async fn next(&mut self, bar: &JobBar) {
        let now = self.ticks.tick().await;
        if self.last.is_none_or(|t| now - t >= NOTE_EVERY) {
            if let Some(what) = self.activity.describe(now.into_std(), FIRST_NOTE_AFTER) {
                bar.note(&format!("{what} (Ctrl-C cancels)"));
                self.last = Some(now);
            }
        }
    }
}

/// Records restore job `id` canceled (its statement's future is already dropped).
async fn cancel_restore(env: &Env, id: JobId) -> String {
    match backup::restore::job::cancel_stopped(env, id).await {
        Ok(true) => format!("query canceled: job {id} was canceled; nothing was restored"),
        Ok(false) => format!(
            "query canceled: job {id} is being canceled; what it restored could not all be removed yet, and the cluster's job loop will finish removing it"
        ),
        Err(why) => format!("query canceled; job {id} was not marked canceled: {why}"),
    }
}
