//! SIGINT and SIGTERM for one run: the first asks the run to finish its tick,
//! write a final snapshot and return; a second one ends the process at once
//! (exit code 128 + the signal's number). Installed only when asked for, and
//! removed when the guard is dropped.

use std::sync::atomic::Ordering;

use dizzy::StopHandle;
use signal_hook::SigId;
use signal_hook::consts::{SIGINT, SIGTERM};

/// Keeps SIGINT and SIGTERM connected to a run's [`StopHandle`]; dropping it
/// disconnects them (the process's previous handling comes back).
#[derive(Debug)]
#[must_use = "the signals are connected only while the guard lives"]
pub struct SignalGuard {
    ids: Vec<SigId>,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Connects SIGINT and SIGTERM to `stop`: the first signal requests a stop
/// with the signal's number as the reason; a second one exits the process
/// at once with 128 + its number.
///
/// # Errors
/// The handlers could not be installed (the operating system refused).
pub fn on_signals(stop: &StopHandle) -> std::io::Result<SignalGuard> {
    let mut guard = SignalGuard { ids: Vec::new() };
    for sig in [SIGINT, SIGTERM] {
        let flag = stop.as_atomic().clone();
        let action = move || {
            // Only an atomic swap and `_exit`: both async-signal-safe.
            if flag
                .compare_exchange(0, sig as usize, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                signal_hook::low_level::exit(128 + sig);
            }
        };
        // SAFETY: the action only touches an atomic and calls `_exit`, which
        // are async-signal-safe; it allocates nothing and takes no lock.
        let id = unsafe { signal_hook::low_level::register(sig, action) }?;
        guard.ids.push(id);
    }
    Ok(guard)
}
