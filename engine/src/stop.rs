//! Asking a run to stop: a [`StopHandle`] per runtime, never a process-wide
//! flag. dizzy installs no signal handler of its own: a binary that wants
//! SIGINT/SIGTERM to end a run cleanly connects them to the handle (the
//! `dizzy-cli` crate does, for the runs it starts).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Asks one [`Runtime`](crate::Runtime)'s [`run_until`](crate::Runtime::run_until)
/// to stop after its current tick (it then writes a final snapshot and
/// returns [`RunEnd::Interrupted`](crate::RunEnd::Interrupted)).
///
/// Clones share one request. The request holds a *reason*: any non-zero
/// number, `1` for [`StopHandle::request`]; a signal handler may store its
/// signal's number, so that the caller can tell SIGINT from SIGTERM.
///
/// ```
/// # use dizzy::prelude::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut run = App::new().in_memory().open()?;
/// let stop = run.stop_handle();
/// stop.request();
/// assert_eq!(run.run_until(|_| false)?, RunEnd::Interrupted);
/// assert_eq!(run.tick_count(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicUsize>);

impl StopHandle {
    /// A handle with no stop requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a stop (reason `1`), unless one is already requested.
    pub fn request(&self) {
        self.request_with(1);
    }

    /// Requests a stop with a reason (non-zero; `0` is taken as `1`), unless
    /// one is already requested: the first reason wins.
    pub fn request_with(&self, reason: usize) {
        let _ = self
            .0
            .compare_exchange(0, reason.max(1), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether a stop is requested.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst) != 0
    }

    /// The reason of the request, if one is made.
    pub fn reason(&self) -> Option<usize> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            r => Some(r),
        }
    }

    /// Withdraws the request, so that the runtime can run again.
    pub fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }

    /// The shared cell behind the handle, for code that may only touch
    /// atomics (a signal handler): storing a non-zero value requests a stop
    /// with that reason.
    pub fn as_atomic(&self) -> &Arc<AtomicUsize> {
        &self.0
    }
}
