//! What dizzy persists, and how it is encoded.
//!
//! - [`Uid`]: the stable identity every persisted entity carries, with the
//!   allocator and index in [`Uids`];
//! - [`Registry`]: the types that are persisted, by stable name and schema
//!   version, each with type-erased [`ColumnOps`] or [`ResourceOps`];
//! - entity references ([`RefPolicy`]): stored as uids, restored as entities;
//! - lineage ([`CausedBy`], [`CorrelationId`]): which entity produced which;
//! - [`codec`]: the only module that knows the binary codec (bincode 2.0.1);
//! - [`json`]: values as JSON for inspection, with NaN and infinities named.
//!
//! This crate depends on no other dizzy crate; most users reach it through
//! the `dizzy` facade.
//!
//! # Example
//!
//! A component registered under a stable name, an entity that gets a uid
//! from the world's allocator, and a value through the codec:
//!
//! ```
//! use bevy_ecs::prelude::*;
//! use dizzy_components::{Registry, Uids, codec};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Component, Serialize, Deserialize, Debug, PartialEq)]
//! struct Reading {
//!     celsius: f32,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = Registry::new();
//! registry.component::<Reading>("lab.reading")?;
//! // One name, one type: a second registration of the name is refused.
//! assert!(registry.component::<Reading>("lab.reading").is_err());
//!
//! let mut world = World::new();
//! registry.install(&mut world);
//! let uid = world.resource_mut::<Uids>().allocate();
//! let e = world.spawn((uid, Reading { celsius: 21.5 })).id();
//! assert_eq!(world.resource::<Uids>().entity(uid.get()), Some(e));
//!
//! let bytes = codec::encode(&Reading { celsius: 21.5 })?;
//! assert_eq!(codec::decode::<Reading>(&bytes)?, Reading { celsius: 21.5 });
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod buffers;
pub mod codec;
mod column;
mod journal;
pub mod json;
mod lineage;
mod panic;
mod prefetch;
mod refs;
mod refscan;
mod registry;
mod relation;
mod resolve;
mod resource;
mod sample;
pub mod shape;
mod spawn;
pub mod text;
mod uid;

pub use codec::CodecError;
pub use column::{ColumnOps, DecodedColumn, Place, RefEncoder, Rows, Typed, ValueError};
pub use journal::{Departures, Journal, LastRemovals, Removed};
pub use lineage::{CAUSED_BY, CORRELATION, CausedBy, CommandsExt, CorrelationId};
#[doc(hidden)]
pub use panic::panic_message;
pub use prefetch::prefetch;
pub use refs::{Dangling, RefPolicy, Resolver};
pub use refscan::{ENTITY, Refs};
pub use registry::{
    Kind, Ops, Registration, Registry, RegistryError, ShapeMismatch, UntracedChange, UpgradeError,
};
pub use relation::Relation;
pub use resolve::Unresolved;
pub use resource::{ResourceOps, TypedResource};
pub use spawn::{ArchetypeSpawner, ArchetypeTuple, NextUnit, spawn_rows};
pub use uid::{
    NULL_REF, Restoring, Uid, UidHasher, UidMap, Uids, init_uids, is_valid as is_valid_uid,
    ref_entity,
};
