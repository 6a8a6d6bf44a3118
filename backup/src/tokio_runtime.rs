//! [`TokioRuntime`]: the [`Runtime`] of a real process (the shell, the real-backend tests):
//! real sleeps on tokio's timer, background work on a tokio runtime, randomness from the
//! operating system. The simulator has its own, on madsim's simulated time; nothing in the
//! simulation ever uses this one (`real-storage` feature only).

use crate::env::Runtime;
use futures::future::BoxFuture;
use std::time::Duration;

/// Sleep and spawn on a tokio runtime, through its handle.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: tokio::runtime::Handle,
}

impl TokioRuntime {
    /// Runs on the runtime `handle` belongs to (it must be a multi-thread runtime with its timer
    /// enabled, or one driven by `block_on` while jobs run).
    pub fn new(handle: tokio::runtime::Handle) -> Self {
        TokioRuntime { handle }
    }
}

impl Runtime for TokioRuntime {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        // Created inside the runtime's context so that the future may be polled anywhere.
        let _entered = self.handle.enter();
        Box::pin(tokio::time::sleep(d))
    }

    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(fut));
    }

    fn start(&self, fut: BoxFuture<'static, ()>) -> BoxFuture<'static, ()> {
        let task = self.handle.spawn(fut);
        Box::pin(async move {
            // A panic in the task is the task's: the caller sees its result channel closed.
            let _ = task.await;
        })
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The OS's generator (getrandom(2)) does not fail on a running Linux system; if it
        // ever did, going on with predictable salts and IVs would silently weaken every
        // encrypted backup, so this stops instead.
        if let Err(e) = getrandom::fill(buf) {
            panic!("the operating system's random number generator failed: {e}");
        }
    }
}
