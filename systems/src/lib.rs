//! How behaviour is plugged in and scheduled.
//!
//! A [`Plugin`] adds component registrations, resources and systems to a
//! [`Setup`]; the systems run in one tick [`Schedule`](bevy_ecs::schedule::Schedule)
//! on bevy's multi-threaded executor. Ambiguity detection is an error by
//! default: two systems with conflicting access and no order between them
//! would make a resumed run differ from an uninterrupted one.
#![warn(missing_docs)]

mod describe;
mod notes;
mod plugin;
mod schedule;

pub use describe::{
    CodeChanges, DiagramNode, Edge, ScheduleDescription, SetDescription, SystemChange,
    SystemDescription, TypeSchema, describe,
};
pub use notes::{Declare, NamedSystem};
pub use plugin::{Init, Parts, Plugin, Setup, Tick};
pub use schedule::{ScheduleError, build, build_with, last_runs};
