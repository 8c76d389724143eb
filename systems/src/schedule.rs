//! Building the tick schedule: bevy's multi-threaded executor, with
//! ambiguity detection as an error unless the app opts out.

use std::collections::HashMap;

use bevy_ecs::change_detection::Tick;
use bevy_ecs::component::ComponentId;
use bevy_ecs::schedule::{
    LogLevel, MultiThreadedExecutor, Schedule, ScheduleBuildSettings, SystemKey,
};
use bevy_ecs::system::System;
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
///
/// # Errors
/// bevy refused the schedule (an ambiguity, a cycle, ...).
pub fn build(
    schedule: &mut Schedule,
    world: &mut World,
    ambiguity_is_error: bool,
) -> Result<(), ScheduleError> {
    build_with(schedule, world, ambiguity_is_error, &|_, _| None)
}

/// [`build`], where each system (and its run conditions) gets the last run
/// `last_run` gives for its name and occurrence (the `n`-th system of that
/// name, in the order systems were added), instead of bevy's "never ran":
/// a resumed run hands on where change detection stood; the run conditions
/// of system sets resume from their systems' last runs.
///
/// # Errors
/// As [`build`].
pub fn build_with(
    schedule: &mut Schedule,
    world: &mut World,
    ambiguity_is_error: bool,
    last_run: &dyn Fn(&str, usize) -> Option<Tick>,
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
    // Initialize the systems (bevy gives each a last run of "never"), then
    // hand on the recorded ones, before the schedule is built.
    let graph = schedule.graph_mut();
    // bevy panics on a system whose own parameters conflict (B0001: two
    // queries of one system that may touch the same component mutably):
    // an error of the schedule here, naming what bevy said.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| graph.initialize(world))).map_err(
        |payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ScheduleError::Build(format!("a system cannot be initialized: {message}"))
        },
    )?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut recorded: HashMap<SystemKey, Tick> = HashMap::new();
    let keys: Vec<SystemKey> = graph.systems.iter().map(|(k, _, _)| k).collect();
    for key in keys {
        let Some(system) = graph.systems.get_mut(key) else {
            continue;
        };
        let name = system.name().to_string();
        let n = seen.entry(name.clone()).or_default();
        let occurrence = *n;
        *n += 1;
        let Some(tick) = last_run(&name, occurrence) else {
            continue;
        };
        system.set_last_run(tick);
        recorded.insert(key, tick);
        // A system's run conditions were evaluated just before it ran: at
        // the tick before its own, so the system's own writes are new to
        // them, as in a run that never stopped (bevy gives no access to a
        // condition's own last run once the schedule is built).
        if let Some(conditions) = graph.systems.get_conditions_mut(key) {
            for c in conditions {
                c.condition
                    .set_last_run(Tick::new(tick.get().wrapping_sub(1)));
            }
        }
    }
    resume_set_conditions(schedule, world, &recorded);
    match schedule.initialize(world) {
        Ok(_) => Ok(()),
        Err(e) => Err(ScheduleError::Build(e.to_string(schedule.graph(), world))),
    }
}

/// Gives the run conditions of system sets (`configure_sets(S.run_if(…))`,
/// and `(a, b).run_if(…)`, which bevy makes a set) a last run from their
/// systems' recorded ones: bevy keeps a set condition's own last run inside
/// the built schedule, out of reach. It is the tick just before the oldest
/// recorded last run of the set's systems (when the set last ran, if they
/// run together): never newer than the conditions' own, so a condition that
/// watches changes (`resource_changed`, a `Changed` query) misses none, also
/// when a combination skipped it meanwhile (`gate.and_then(
/// resource_changed::<R>)`: bevy does not evaluate the second while the
/// first says no, so its own last run can be many ticks old).
fn resume_set_conditions(
    schedule: &mut Schedule,
    world: &World,
    recorded: &HashMap<SystemKey, Tick>,
) {
    use bevy_ecs::schedule::NodeId;
    use bevy_ecs::schedule::graph::Direction;
    let now = world.read_change_tick();
    let graph = schedule.graph_mut();
    let sets: Vec<_> = graph
        .system_sets
        .iter()
        .filter(|(_, _, conditions)| !conditions.is_empty())
        .map(|(key, _, _)| key)
        .collect();
    for key in sets {
        // The set's systems, through nested sets.
        let mut members = Vec::new();
        let mut todo = vec![NodeId::Set(key)];
        let mut visited = std::collections::HashSet::new();
        while let Some(node) = todo.pop() {
            if !visited.insert(node) {
                continue;
            }
            for child in graph
                .hierarchy()
                .graph()
                .neighbors_directed(node, Direction::Outgoing)
            {
                match child {
                    NodeId::System(s) => members.push(s),
                    NodeId::Set(_) => todo.push(child),
                }
            }
        }
        let Some(oldest) = members
            .iter()
            .filter_map(|s| recorded.get(s))
            .max_by_key(|t| now.get().wrapping_sub(t.get()))
        else {
            continue;
        };
        let tick = Tick::new(oldest.get().wrapping_sub(1));
        if let Some(conditions) = graph.system_sets.get_conditions_mut(key) {
            for c in conditions {
                c.condition.set_last_run(tick);
            }
        }
    }
}

/// Each system of a built `schedule` with its last run, in the order the
/// systems were added (what [`build_with`] takes back): the names and
/// occurrences match.
pub fn last_runs(schedule: &Schedule) -> Vec<(String, Tick)> {
    let Ok(systems) = schedule.systems() else {
        return Vec::new();
    };
    let mut all: Vec<(SystemKey, String, Tick)> = systems
        .map(|(key, s)| (key, s.name().to_string(), s.get_last_run()))
        .collect();
    all.sort_by_key(|(k, _, _)| *k);
    all.into_iter().map(|(_, n, t)| (n, t)).collect()
}

/// The components each system of `schedule` may read (its change ticks
/// included), in the order of [`last_runs`]: `None` for a system that may
/// read every component (`&World`, `EntityRef`, an exclusive system).
/// Resources are not listed. A system with run conditions counts as
/// reading every component (its conditions may read any); when a system
/// set has run conditions, nothing is known (an empty list).
pub fn component_reads(schedule: &Schedule) -> Vec<Option<Vec<ComponentId>>> {
    use bevy_ecs::query::InvertibleComponentIdSet;
    use bevy_ecs::system::SystemAccess;
    let graph = schedule.graph();
    if graph.system_sets.iter().any(|(_, _, c)| !c.is_empty()) {
        return Vec::new();
    }
    let mut all: Vec<(SystemKey, Option<Vec<ComponentId>>)> = graph
        .systems
        .iter()
        .map(|(key, _, conditions)| {
            let Some(s) = graph.systems.get(key).filter(|_| conditions.is_empty()) else {
                return (key, None);
            };
            let reads = match s.access() {
                SystemAccess::None => Some(Vec::new()),
                SystemAccess::Exclusive => None,
                SystemAccess::Shared(set) => {
                    let mut ids = Vec::new();
                    let mut every = false;
                    for filtered in set.filtered_accesses() {
                        match filtered.access().reads() {
                            InvertibleComponentIdSet::Included(reads) => ids.extend(reads.iter()),
                            InvertibleComponentIdSet::Excluded(_) => every = true,
                        }
                    }
                    (!every).then_some(ids)
                }
            };
            (key, reads)
        })
        .collect();
    all.sort_by_key(|(k, _)| *k);
    all.into_iter().map(|(_, r)| r).collect()
}
