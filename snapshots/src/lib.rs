//! The redb file: capturing snapshots, writing them on a background thread,
//! restoring worlds from them.
#![warn(missing_docs)]

mod analysis;
mod bundle;
mod capture;
mod checksum;
pub mod detect;
mod error;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod inspect;
mod kept;
mod raw;
mod restore;
mod retention;
pub mod served;
mod snapshot_ref;
mod store;
mod table;
mod writer;

pub use analysis::{
    Change, ColumnStats, Diff, MAX_TRACE_DEPTH, ResourceChange, Stats, Trace, TraceNode, diff,
    stats, trace,
};
pub use bundle::{
    BUNDLE_HEADER_MAX, BUNDLE_VERSION, BundleBody, BundleHeader, ExportError, ExportOptions,
    Exported, ImportError, ImportOptions, Imported, OnConflict, Selection,
    check_header as check_bundle_header, export, import, import_with, read as read_bundle,
    read_file as read_bundle_file, write as write_bundle,
};
pub use capture::{Capture, CaptureSettings, Capturer, ChunkData, Want, assign_uids};
pub use error::{CaptureError, OpenError, RestoreError, WriteError};
pub use format::{ColumnMeta, FORMAT_VERSION, GroupMeta, Schema, SnapshotKind, SnapshotMeta};
pub use inspect::{Components, Decode, Inspection, Inspector, entities_at};
pub use kept::Kept;
pub use raw::{InsertRawError, RawChunk, RawSnapshot, read_raw, write_raw};
pub use restore::{RestoreOptions, Restored, Unknown, chain, check_schemas, restore};
pub use retention::{CompactError, Compaction, Links, compact, links, prune, retained};
pub use snapshot_ref::{SnapshotRef, SnapshotRefError};
pub use store::{Store, default_cache_bytes};
pub use table::{Cell, Column, ColumnType, Table, TableError, table};
pub use writer::{CommitListener, Committed, Writer, commit};
