//! The redb file: capturing snapshots, writing them on a background thread,
//! restoring worlds from them.
#![warn(missing_docs)]

mod capture;
mod error;
mod format;
mod restore;
mod retention;
mod store;
mod writer;

pub use capture::{Capture, CaptureSettings, Capturer, ChunkData, Want, assign_uids};
pub use error::{CaptureError, OpenError, RestoreError, WriteError};
pub use format::{ColumnMeta, FORMAT_VERSION, GroupMeta, Schema, SnapshotKind, SnapshotMeta};
pub use restore::{RestoreOptions, Restored, chain, check_schemas, restore};
pub use retention::{CompactError, Compaction, Links, compact, links, prune, retained};
pub use store::Store;
pub use writer::{Writer, commit};
