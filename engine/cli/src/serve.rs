//! `dizzy serve`: a read-only explorer of a file, in the browser.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dizzy::{App, StopHandle};
use dizzy_explorer::{DEFAULT_ADDR, Explorer};
use dizzy_snapshots::{SnapshotRef, Store};

use crate::CliError;
use crate::view;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// The address to listen on (port 0: any free port).
    #[arg(long, default_value = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Listen on an address that is not loopback: whoever reaches it can
    /// read the whole file (the explorer has no authentication).
    #[arg(long)]
    allow_remote: bool,
    /// The snapshot the printed address opens at (an id, `latest` or
    /// `latest~N`); the list of snapshots if not given.
    #[arg(long)]
    snapshot: Option<SnapshotRef>,
}

pub(crate) fn run(args: Args, app: App) -> Result<(), CliError> {
    // A bucket URL is pulled whole into a temporary file, kept while serving.
    let opened = crate::remote::open(&args.db, &[], true)?;
    let store = Store::clone(&opened);
    // The records of every snapshot are read once before serving, as
    // `dizzy snapshots` reads them: a file whose records are damaged is
    // refused here rather than served as pages that all fail.
    store.snapshots()?;
    let at = view::snapshot_id(&store, args.snapshot)?;
    let registry = app.try_registry()?;
    let serving = Explorer::new(store, Arc::new(registry))
        .addr(args.addr)
        .allow_remote(args.allow_remote)
        .start()?;
    let url = match at {
        Some(id) => format!("{}snapshots/{id}", serving.url()),
        None => serving.url().to_owned(),
    };
    outln!("{}: explorer at {url} (Ctrl-C to stop)", args.db.display());
    let stop = StopHandle::new();
    let _signals = crate::on_signals(&stop)?;
    while !stop.is_requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(serving);
    Ok(())
}
