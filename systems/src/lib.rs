//! How behaviour is plugged in and scheduled.
//!
//! A [`Plugin`] adds component registrations, resources and systems to a
//! [`Setup`]; the systems run in one tick [`Schedule`](bevy_ecs::schedule::Schedule)
//! on bevy's multi-threaded executor. Ambiguity detection is an error by
//! default: two systems with conflicting access and no order between them
//! would make a resumed run differ from an uninterrupted one.
//!
//! # Example
//!
//! A [`Setup`] filled in, its schedule built for a world and run for one
//! tick (the `dizzy` crate's `App` does this for you):
//!
//! ```
//! use bevy_ecs::prelude::*;
//! use dizzy_systems::{Setup, build};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Component, Serialize, Deserialize)]
//! struct Counter(u64);
//!
//! fn count(mut q: Query<&mut Counter>) {
//!     for mut c in &mut q {
//!         c.0 += 1;
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut setup = Setup::new();
//! setup.component::<Counter>("counting.counter").add_systems(count);
//! let mut parts = setup.finish()?;
//!
//! let mut world = World::new();
//! parts.registry.install(&mut world);
//! let e = world.spawn(Counter(0)).id();
//! build(&mut parts.schedule, &mut world, parts.ambiguity_is_error)?;
//! parts.schedule.run(&mut world);
//! assert_eq!(world.get::<Counter>(e).map(|c| c.0), Some(1));
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod conditions;
mod describe;
mod notes;
mod observers;
mod plugin;
mod schedule;

pub use conditions::{ConditionRuns, condition_name};
pub use describe::{
    CodeChanges, DiagramNode, Edge, ScheduleDescription, SetDescription, SystemChange,
    SystemDescription, TypeSchema, declared_but_absent, describe,
};
pub use notes::{Declare, NamedSystem};
pub use observers::{
    ObserverRuns, PendingObserver, add_observers, observer_name, reserve_observer_slots,
};
pub use plugin::{Init, Parts, Plugin, Setup, Tick, Transient};
pub use schedule::{Built, ScheduleError, build, build_with, component_reads, last_runs};
