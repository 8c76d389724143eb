#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]

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
pub use dizzy_snapshots::{SnapshotKind, SnapshotMeta, Store, Unknown};
pub use dizzy_systems::{CodeChanges, Plugin, Setup};

/// What a user touches: the builder and runtime, plugins, uids, lineage
/// (`CausedBy`, `CorrelationId`, `spawn_caused_by`), and bevy's and serde's
/// everyday items.
pub mod prelude {
    pub use crate::{
        App, CodeChange, Plugin, RefPolicy, RunEnd, Runtime, Setup, SnapshotPolicy, StopHandle,
        TickCount, Uid, Uids,
    };
    pub use bevy_ecs::prelude::*;
    pub use dizzy_components::{CausedBy, CommandsExt, CorrelationId};
    pub use serde::{Deserialize, Serialize};
}
