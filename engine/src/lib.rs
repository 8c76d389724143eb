//! dizzy: an entity-component-system **data runtime** whose worlds survive
//! being killed.
//!
//! Every domain object is an entity with serializable components; systems
//! run in parallel schedules ([bevy_ecs](https://docs.rs/bevy_ecs/0.20));
//! a snapshotter persists the world into an embedded
//! [redb](https://docs.rs/redb) file, so that a killed script, pipeline or
//! simulation resumes where its last snapshot left off.
//!
//! # Concepts
//!
//! - **[`App`]** says what is persisted (components and resources under a
//!   *stable name*, e.g. `"squares.task"`, not the Rust type name), which
//!   systems run each tick, where the file is and when snapshots are taken.
//!   [`App::open`] gives a [`Runtime`]: a new world, or the world of the
//!   file's latest snapshot.
//! - **[`Uid`]**: a bevy `Entity` is a runtime handle and never reaches the
//!   disk; every persisted entity carries an immutable uid, allocated by the
//!   world. `Entity` fields marked `#[entities]` are written as uids and
//!   restored as the new entities ([`RefPolicy`] says what happens to a
//!   reference to an entity that is not persisted).
//! - **Ticks and snapshots**: [`Runtime::tick`], [`Runtime::run_ticks`] and
//!   [`Runtime::run_until`] run the schedule; between ticks, the
//!   [`SnapshotPolicy`] decides when a snapshot is captured (a full one, or
//!   a delta of what changed). Capture happens on the world's thread, the
//!   commit on a background writer; [`Runtime::close`] writes a last one.
//! - **[`Plugin`]**: a domain's registrations and systems, added with
//!   [`App::plugin`]. Ambiguity between systems is an error, so a resumed
//!   run equals an uninterrupted one.
//! - **Bundles**: [`Runtime::export`] cuts a [`Selection`] of entities (with
//!   what they reference) out of a world, [`Runtime::import`] puts it into
//!   another, references remapped.
//! - **Schema versions and migrations** ([`App::component_version`],
//!   [`App::migration`]): old files keep loading after a type changes.
//!
//! Nothing here changes the process behind your back: no signal handlers
//! (a [`StopHandle`] asks a run to stop; `dizzy-cli`'s `on_signals`
//! connects SIGINT and SIGTERM to it), no panic hook, no log subscriber.
//!
//! # Example
//!
//! A component, a system, a file, a loop: kill the program at any point and
//! the next run continues from the latest snapshot.
//!
//! ```
//! use dizzy::prelude::*;
//!
//! /// A task, and its result once done.
//! #[derive(Component, Serialize, Deserialize)]
//! struct Task { n: u64 }
//! #[derive(Component, Serialize, Deserialize)]
//! struct Square(u64);
//!
//! /// Each tick, the next 100 tasks, in uid order.
//! fn work(mut commands: Commands, todo: Query<(Entity, &Uid, &Task), Without<Square>>) {
//!     for (e, _, t) in todo.iter().sort::<&Uid>().take(100) {
//!         commands.entity(e).insert(Square(t.n * t.n));
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     # let dir = tempfile::tempdir()?;
//!     # let path = dir.path().join("squares.redb");
//!     let app = || App::new()
//!         .db(&path)
//!         .component::<Task>("squares.task")
//!         .component::<Square>("squares.square")
//!         .systems(work);
//!
//!     let mut run = app().open()?;
//!     if run.resumed_from().is_none() {
//!         for n in 0..1_000 {
//!             run.spawn(Task { n });
//!         }
//!     }
//!     run.run_until(|w: &mut World| {
//!         w.query_filtered::<(), (With<Task>, Without<Square>)>().iter(w).next().is_none()
//!     })?;
//!     run.close()?;
//!
//!     // Opening the file again restores the world of its latest snapshot.
//!     let mut again = app().open()?;
//!     assert!(again.resumed_from().is_some());
//!     let total: u64 = again.world_mut().query::<&Square>().iter(again.world()).map(|s| s.0).sum();
//!     assert_eq!(total, (0..1_000u64).map(|n| n * n).sum::<u64>());
//!     Ok(())
//! }
//! ```
//!
//! # Crates
//!
//! This crate is a thin facade: [`components`] (uids, the registry, the
//! codec), [`systems`] (plugins and the schedule) and [`snapshots`] (the
//! file: capture, writer, restore, bundles, inspection) hold the pieces.
//! The command line for your own binary is the separate crate `dizzy-cli`;
//! replication to object storage is the `replicate` feature.
//!
//! # Dependencies in your crate
//!
//! Besides `dizzy`, add `serde = { version = "1", features = ["derive"] }`:
//! serde's derives name the `serde` crate itself. bevy's derives
//! (`Component`, `Resource`) find `bevy_ecs` through [`prelude`], which
//! re-exports it.
#![warn(missing_docs)]

// The README's examples compile and run as doctests (`cargo test --doc -p
// dizzy`), so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme_doctest {}

mod app;
mod error;
mod policy;
#[cfg(feature = "replicate")]
mod replication;
mod runtime;
mod stop;

pub use app::{App, DEFAULT_DB};
pub use error::{
    CaptureError, OpenError, RegistryError, RestoreError, ScheduleError, SquashError, TickError,
    WriteError,
};
pub use policy::{CodeChange, SnapshotPolicy};
pub use runtime::{RunEnd, Runtime, TickCount};
pub use stop::StopHandle;

pub use bevy_ecs;
pub use dizzy_components as components;
/// Replication to object storage (feature `replicate`).
#[cfg(feature = "replicate")]
pub use dizzy_replicate as replicate;
pub use dizzy_snapshots as snapshots;
pub use dizzy_systems as systems;
pub use serde;

pub use dizzy_components::{RefPolicy, Registry, Uid, Uids};
pub use dizzy_snapshots::{
    CaptureSettings, ExportError, ExportOptions, Exported, ImportError, OnConflict, Selection,
    SnapshotKind, SnapshotMeta, Store, Unknown,
};
pub use dizzy_systems::{CodeChanges, Plugin, Setup};

/// What a user touches: the builder and runtime, plugins, the settings the
/// README names (`Unknown`, `CodeChange`, export's `Selection`,
/// `ExportOptions` and `OnConflict`), uids, lineage
/// (`CausedBy`, `CorrelationId`, `spawn_caused_by`), and bevy's and serde's
/// everyday items.
///
/// It also names the `bevy_ecs` crate: bevy's derives (`Component`,
/// `Resource`) write paths that start with `bevy_ecs::`, so with this
/// prelude imported they work in a crate whose only ECS dependency is
/// `dizzy`.
pub mod prelude {
    pub use crate::{
        App, CodeChange, ExportOptions, OnConflict, Plugin, RefPolicy, RunEnd, Runtime, Selection,
        Setup, SnapshotPolicy, StopHandle, TickCount, Uid, Uids, Unknown,
    };
    pub use bevy_ecs;
    pub use bevy_ecs::entity::MapEntities;
    pub use bevy_ecs::prelude::*;
    pub use dizzy_components::{CausedBy, CommandsExt, CorrelationId};
    pub use serde::{Deserialize, Serialize};
}
