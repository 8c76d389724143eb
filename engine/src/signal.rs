//! SIGINT and SIGTERM: the first asks the running loop to finish its tick,
//! write a final snapshot and return; a second one ends the process at once.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process-wide stop flag, with the signal handlers installed on first use.
pub(crate) fn stop_flag() -> &'static Arc<AtomicBool> {
    STOP.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Order matters: the conditional exit sees the flag before the
            // first signal sets it, so only a second signal exits.
            let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        flag
    })
}

/// Whether a stop was requested.
pub(crate) fn stop_requested() -> bool {
    STOP.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// Requests a stop, as SIGINT would (for tests and embedding).
pub fn request_stop() {
    stop_flag().store(true, Ordering::Relaxed);
}
