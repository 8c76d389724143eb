//! Building the tick schedule: bevy's multi-threaded executor, with
//! ambiguity detection as an error unless the app opts out.

use std::collections::HashMap;

use bevy_ecs::change_detection::Tick;
use bevy_ecs::component::ComponentId;
use bevy_ecs::schedule::{
    ConditionWithAccess, LogLevel, MultiThreadedExecutor, Schedule, ScheduleBuildSettings,
    SystemKey,
};
use bevy_ecs::system::System;
use bevy_ecs::world::World;

use crate::conditions::{self, ConditionRuns, Recorded, condition_name};

/// The schedule could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// bevy refused the schedule (ambiguities, cycles, ...).
    #[error("the tick schedule cannot be built: {0}")]
    Build(String),
}

/// What [`build_with`] found out about the schedule it built.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Built {
    /// Where each run condition of its systems last ran.
    pub conditions: ConditionRuns,
    /// The components each system may read ([`component_reads`], read
    /// before the build moved the run conditions into the built schedule).
    pub reads: Vec<Option<Vec<ComponentId>>>,
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
    build_with(schedule, world, ambiguity_is_error, &|_, _| None).map(|_| ())
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
) -> Result<Built, ScheduleError> {
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
            ScheduleError::Build(format!(
                "a system cannot be initialized: {}",
                dizzy_components::panic_message(payload.as_ref()).unwrap_or_default()
            ))
        },
    )?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut recorded: HashMap<SystemKey, Tick> = HashMap::new();
    let mut runs = ConditionRuns::default();
    let keys: Vec<SystemKey> = graph.systems.iter().map(|(k, _, _)| k).collect();
    for key in keys {
        let Some(system) = graph.systems.get_mut(key) else {
            continue;
        };
        let name = system.name().to_string();
        let n = seen.entry(name.clone()).or_default();
        let occurrence = *n;
        *n += 1;
        let tick = last_run(&name, occurrence);
        if let Some(tick) = tick {
            system.set_last_run(tick);
            recorded.insert(key, tick);
        }
        let Some(conditions) = graph.systems.get_conditions_mut(key) else {
            continue;
        };
        // A condition bevy evaluates whole at every run keeps its own last
        // run, recorded by a wrapper; one that short-circuits records its
        // first part's only, and so resumes, as one from a file that
        // recorded none, at the tick just before its system's last run
        // (where bevy evaluated it when the system last ran): never newer
        // than its own, so a part that watches changes misses none.
        let estimate = tick.map(|t| Tick::new(t.get().wrapping_sub(1)));
        wrap_conditions(conditions, &name, occurrence, estimate, last_run, &mut runs);
    }
    resume_set_conditions(schedule, world, &recorded, last_run, &mut runs);
    // Before the build, which moves the run conditions out of the graph.
    let reads = component_reads(schedule);
    match schedule.initialize(world) {
        Ok(_) => Ok(Built {
            conditions: runs,
            reads,
        }),
        Err(e) => Err(ScheduleError::Build(e.to_string(schedule.graph(), world))),
    }
}

/// Wraps the run conditions of system sets (`configure_sets(S.run_if(…))`,
/// and `(a, b).run_if(…)`, which bevy makes a set) so that their last runs
/// are recorded ([`ConditionRuns`], under `run_if #i of set {set:?}`; bevy
/// evaluates them at every run of the schedule, skipped or not), and gives
/// each the last run `last_run` recorded for it. A condition without one (a
/// file that recorded none, a set renamed) and one that short-circuits
/// (whose record is its first part's only) get a last run from their
/// systems' recorded ones: the tick just before the oldest recorded last
/// run of the set's systems (when the set last ran, if they run together):
/// never newer than the conditions' own, so a condition that watches
/// changes (`resource_changed`, a `Changed` query) misses none, also when a
/// combination skipped it meanwhile (`gate.and_then(resource_changed::<R>)`:
/// bevy does not evaluate the second while the first says no, so its own
/// last run can be many ticks old).
fn resume_set_conditions(
    schedule: &mut Schedule,
    world: &World,
    recorded: &HashMap<SystemKey, Tick>,
    last_run: &dyn Fn(&str, usize) -> Option<Tick>,
    runs: &mut ConditionRuns,
) {
    use bevy_ecs::schedule::NodeId;
    use bevy_ecs::schedule::graph::Direction;
    let now = world.read_change_tick();
    let graph = schedule.graph_mut();
    let sets: Vec<_> = graph
        .system_sets
        .iter()
        .filter(|(_, _, conditions)| !conditions.is_empty())
        .map(|(key, set, _)| (key, format!("set {set:?}")))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, set_name) in sets {
        let n = seen.entry(set_name.clone()).or_default();
        let occurrence = *n;
        *n += 1;
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
        let estimate = members
            .iter()
            .filter_map(|s| recorded.get(s))
            .max_by_key(|t| now.get().wrapping_sub(t.get()))
            .map(|oldest| Tick::new(oldest.get().wrapping_sub(1)));
        if let Some(conditions) = graph.system_sets.get_conditions_mut(key) {
            wrap_conditions(conditions, &set_name, occurrence, estimate, last_run, runs);
        }
    }
}

/// Wraps each of `conditions` (of the system or set `owner`, its
/// `occurrence`-th of that name) that bevy evaluates whole so that its last
/// run is recorded in `runs`, and gives each its recorded last run, or
/// else `estimate`.
fn wrap_conditions(
    conditions: &mut Vec<ConditionWithAccess>,
    owner: &str,
    occurrence: usize,
    estimate: Option<Tick>,
    last_run: &dyn Fn(&str, usize) -> Option<Tick>,
    runs: &mut ConditionRuns,
) {
    let taken = std::mem::take(conditions);
    for (i, ConditionWithAccess { condition, access }) in taken.into_iter().enumerate() {
        let mut c = ConditionWithAccess { condition, access };
        let when = match conditions::evaluated(&c.condition) {
            conditions::Evaluated::Whole => Some(None),
            conditions::Evaluated::SecondWhen(outcome) => Some(Some(outcome)),
            conditions::Evaluated::Unknown => None,
        };
        let own = match when {
            None => None,
            Some(when) => {
                let name = condition_name(owner, i);
                let own = last_run(&name, occurrence);
                let (wrapped, cell) = Recorded::new(c.condition, when);
                c.condition = Box::new(wrapped);
                runs.push(name, cell);
                own
            }
        };
        if let Some(t) = own.or(estimate) {
            c.condition.set_last_run(t);
        }
        conditions.push(c);
    }
}

/// Whether a system of type `system_type` is one of bevy's sync points
/// (`ApplyDeferred`, which bevy inserts between systems with commands and
/// those ordered after them): it never runs as a system, and its last run
/// is a constant (`Tick::MAX`), whose age means nothing.
fn is_sync_point(system_type: std::any::TypeId) -> bool {
    system_type == std::any::TypeId::of::<bevy_ecs::schedule::ApplyDeferred>()
}

/// Each system of a built `schedule` with its last run, in the order the
/// systems were added (what [`build_with`] takes back): the names and
/// occurrences match. bevy's sync points are left out (they have no last
/// run), so the list matches [`component_reads`], taken before the build
/// inserted them.
pub fn last_runs(schedule: &Schedule) -> Vec<(String, Tick)> {
    let Ok(systems) = schedule.systems() else {
        return Vec::new();
    };
    let mut all: Vec<(SystemKey, String, Tick)> = systems
        .filter(|(_, s)| !is_sync_point(s.system_type()))
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
/// set has run conditions, nothing is known (an empty list). Run
/// conditions are seen only before the schedule is built (bevy then moves
/// them into the built schedule): [`Built::reads`] holds what this said
/// then.
pub fn component_reads(schedule: &Schedule) -> Vec<Option<Vec<ComponentId>>> {
    let graph = schedule.graph();
    if graph.system_sets.iter().any(|(_, _, c)| !c.is_empty()) {
        return Vec::new();
    }
    let mut all: Vec<(SystemKey, Option<Vec<ComponentId>>)> = graph
        .systems
        .iter()
        .filter(|(_, system, _)| !is_sync_point(system.system_type()))
        .map(|(key, _, conditions)| {
            let Some(s) = graph.systems.get(key).filter(|_| conditions.is_empty()) else {
                return (key, None);
            };
            (key, reads_of(s.access()))
        })
        .collect();
    all.sort_by_key(|(k, _)| *k);
    all.into_iter().map(|(_, r)| r).collect()
}

/// The components a system with `access` may read (`None`: any, as an
/// exclusive system, or one whose access excludes rather than lists).
pub(crate) fn reads_of(access: &bevy_ecs::system::SystemAccess) -> Option<Vec<ComponentId>> {
    use bevy_ecs::query::InvertibleComponentIdSet;
    use bevy_ecs::system::SystemAccess;
    match access {
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
    }
}
