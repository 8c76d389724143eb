//! The engine's errors: one per fallible operation, each naming the file,
//! snapshot, component or system involved.

pub use dizzy_components::RegistryError;
pub use dizzy_snapshots::{CaptureError, RestoreError, WriteError};
pub use dizzy_systems::ScheduleError;

/// [`App::open`](crate::App::open) failed; the file is as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A plugin's registration was refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The file could not be opened.
    #[error(transparent)]
    Store(#[from] dizzy_snapshots::StoreOpenError),
    /// The latest snapshot could not be restored.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The schedule could not be built.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The writer thread could not start.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The code differs from the code that wrote the snapshot to resume
    /// from, and the app refuses to resume then
    /// ([`CodeChange::Refuse`](crate::CodeChange::Refuse)).
    #[error(
        "{path}: the code changed since snapshot {snapshot} was written (tick {tick}); refusing to resume (CodeChange::Refuse):\n{changes}"
    )]
    CodeChanged {
        /// The file.
        path: std::path::PathBuf,
        /// The snapshot that would have been resumed from.
        snapshot: u64,
        /// Its tick.
        tick: u64,
        /// What changed.
        changes: Box<dizzy_systems::CodeChanges>,
    },
}

/// A squash ([`Runtime::squash`](crate::Runtime::squash)) failed; the file
/// holds what it held before.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SquashError {
    /// An earlier tick failed; the runtime stopped.
    #[error("the runtime stopped after a failed tick: {0}")]
    Poisoned(String),
    /// The full snapshot could not be captured.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The writer failed; the file is at its last committed snapshot.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A tick, or the snapshot after it, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TickError {
    /// A system panicked; the tick is not snapshotted and the runtime
    /// refuses further ticks. The file stays at its last good snapshot.
    #[error("tick {tick}: {message}")]
    SystemPanicked {
        /// The tick that was running.
        tick: u64,
        /// The panic's message (it names the system).
        message: String,
    },
    /// An earlier tick failed (see its error); the runtime stopped.
    #[error("the runtime stopped after a failed tick: {0}")]
    Poisoned(String),
    /// The snapshot could not be captured.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The background writer failed; the file is at its last committed snapshot.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// `close()` saved everything locally, but what the app also sends its
    /// snapshots to (replication, `App::replicate`) did not catch up: the
    /// bucket was unreachable past its bound, or refused the file's
    /// snapshots (it holds a newer state). The local file is complete.
    #[error("the run is saved locally, but its replication failed: {0}")]
    Replication(String),
}
