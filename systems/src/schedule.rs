//! Building the tick schedule: bevy's multi-threaded executor, with
//! ambiguity detection as an error unless the app opts out.

use bevy_ecs::schedule::{LogLevel, MultiThreadedExecutor, Schedule, ScheduleBuildSettings};
use bevy_ecs::world::World;

/// The schedule could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// bevy refused the schedule (ambiguities, cycles, ...).
    #[error("the tick schedule cannot be built: {0}")]
    Build(String),
}

/// Configures `schedule` for dizzy and builds it against `world`.
pub fn build(
    schedule: &mut Schedule,
    world: &mut World,
    ambiguity_is_error: bool,
) -> Result<(), ScheduleError> {
    schedule.set_executor(MultiThreadedExecutor::new());
    schedule.set_build_settings(ScheduleBuildSettings {
        ambiguity_detection: if ambiguity_is_error {
            LogLevel::Error
        } else {
            LogLevel::Ignore
        },
        ..ScheduleBuildSettings::default()
    });
    match schedule.initialize(world) {
        Ok(_) => Ok(()),
        Err(e) => Err(ScheduleError::Build(e.to_string(schedule.graph(), world))),
    }
}
