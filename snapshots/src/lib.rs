//! The redb file: capturing snapshots, writing them on a background thread,
//! restoring worlds from them.
#![warn(missing_docs)]

mod bundle;
mod capture;
mod error;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod inspect;
mod kept;
mod raw;
mod restore;
mod retention;
mod store;
mod writer;

pub use bundle::{
    BUNDLE_VERSION, BundleBody, ExportError, ExportOptions, Exported, ImportError, OnConflict,
    Selection, export, import, read as read_bundle, write as write_bundle,
};
pub use capture::{Capture, CaptureSettings, Capturer, ChunkData, Want, assign_uids};
pub use error::{CaptureError, OpenError, RestoreError, WriteError};
pub use format::{ColumnMeta, FORMAT_VERSION, GroupMeta, Schema, SnapshotKind, SnapshotMeta};
pub use inspect::{Components, Decode, Inspection, Inspector, entities_at};
pub use kept::Kept;
pub use raw::{InsertRawError, RawChunk, RawSnapshot, read_raw, write_raw};
pub use restore::{RestoreOptions, Restored, Unknown, chain, check_schemas, restore};
pub use retention::{CompactError, Compaction, Links, compact, links, prune, retained};
pub use store::Store;
pub use writer::{CommitListener, Committed, Writer, commit};
