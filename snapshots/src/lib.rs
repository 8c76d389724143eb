//! The redb file: capturing snapshots, writing them on a background thread,
//! restoring worlds from them.
//!
//! A [`Store`] is one dizzy file (docs/FORMAT.md describes its bytes). A
//! [`Capturer`] encodes a world's registered columns, in full or as a delta
//! since its last capture, on the world's thread; a [`Writer`] commits the
//! captures on a thread of its own; [`restore`] rebuilds a world from a
//! snapshot and its chain. Bundles ([`export`], [`import`]) move entities
//! between worlds; [`Inspector`], [`diff`], [`stats`], [`trace`] and
//! [`table`] read files without restoring them. The `dizzy` crate's
//! `Runtime` drives all of this; use this crate directly to read or write
//! files outside a runtime.
//!
//! # Example
//!
//! ```
//! use bevy_ecs::prelude::*;
//! use dizzy_components::{Registry, Uids};
//! use dizzy_snapshots::{
//!     CaptureSettings, Capturer, RestoreOptions, Store, Want, Writer, restore,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Component, Serialize, Deserialize)]
//! struct Reading(f32);
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("lab.redb");
//! let mut registry = Registry::new();
//! registry.component::<Reading>("lab.reading")?;
//! let mut world = World::new();
//! registry.install(&mut world);
//! for r in [19.5, 21.0] {
//!     let uid = world.resource_mut::<Uids>().allocate();
//!     world.spawn((uid, Reading(r)));
//! }
//!
//! // Capture (on this thread), commit (on the writer's), durably.
//! let store = Store::open(&path)?;
//! let capture = Capturer::new(CaptureSettings::default(), 1)
//!     .capture(&mut world, &registry, 1, Want::Full)?;
//! let writer = Writer::start(&store, None)?;
//! writer.submit(capture)?;
//! assert_eq!(writer.close()?, Some(1));
//!
//! // A new world from the file.
//! let mut restored = restore(&store, &registry, &RestoreOptions::default())?;
//! let sum: f32 = restored.world.query::<&Reading>().iter(&restored.world).map(|r| r.0).sum();
//! assert_eq!(sum, 40.5);
//! # Ok(()) }
//! ```
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
mod leftovers;
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
    stats, trace, trace_correlation,
};
pub use bundle::{
    BUNDLE_HEADER_MAX, BUNDLE_VERSION, BundleBody, BundleHeader, ExportError, ExportOptions,
    Exported, ImportError, ImportOptions, Imported, OnConflict, Selection,
    check_header as check_bundle_header, check_import, export, import, import_with,
    read as read_bundle, read_file as read_bundle_file, write as write_bundle,
};
pub use capture::{Capture, CaptureSettings, Capturer, ChunkData, Want, assign_uids};
pub use error::{CaptureError, RestoreError, StoreOpenError, WriteError};
pub use format::{ColumnMeta, FORMAT_VERSION, GroupMeta, Schema, SnapshotKind, SnapshotMeta};
pub use inspect::{Components, Decode, Inspection, Inspector, entities_at};
pub use kept::Kept;
pub use leftovers::{left_by_gone_processes, remove_temporaries_of_dead_processes};
pub use raw::{InsertRawError, RawChunk, RawSnapshot, read_raw, write_raw};
pub use restore::{
    RestoreOptions, Restored, Unknown, chain, check_schemas, fields_not_read,
    replay_removals_between_ticks, restore, restore_with,
};
pub use retention::{CompactError, Compaction, Links, compact, links, prune, retained};
pub use snapshot_ref::{SnapshotRef, SnapshotRefError};
pub use store::{Store, default_cache_bytes, file_kind};
pub use table::{Cell, Column, ColumnType, Table, TableError, table};
pub use writer::{CommitListener, Committed, Writer, commit};
