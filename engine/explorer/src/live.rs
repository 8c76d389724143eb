//! Serving the file of a running app, from inside its process.

use std::net::SocketAddr;

use dizzy::Runtime;

use crate::error::ServeError;
use crate::server::{Explorer, Serving};

/// Serves an explorer over the file `runtime` writes, on `addr`, from a
/// thread of its own: pages read through the runtime's own store handle
/// (read transactions run beside its writer, so ticks and commits go on
/// undisturbed) and show each committed snapshot as it lands. Serving lasts
/// as long as the returned [`Serving`]; meanwhile another process that
/// tries to open the file is told the explorer's address.
///
/// # Errors
/// [`ServeError::NoFile`] for an app without a file; the errors of
/// [`Explorer::start`].
pub fn serve(runtime: &Runtime, addr: SocketAddr) -> Result<Serving, ServeError> {
    let store = runtime.store().ok_or(ServeError::NoFile)?.clone();
    Explorer::new(store, runtime.shared_registry())
        .addr(addr)
        .live(true)
        .start()
}
