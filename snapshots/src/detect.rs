//! Change detection across a resume.
//!
//! bevy decides what `Added<T>`, `Changed<T>` and `is_changed()` show a
//! system by comparing each value's added and changed ticks with the tick
//! of the system's last run. A restored world's values all carry the tick
//! of the restore, and its systems have never run: without more, every
//! value would look just added to every system after a resume. So each
//! snapshot records, compactly, where change detection stood when it was
//! taken:
//!
//! - `@detect`: the last run of every system of the schedule (by name, in
//!   schedule order) and the ticks of the resources changed in the last
//!   tick, each as an *age* — change ticks before the capture;
//! - `@ages/<name>`: for the values of component `<name>` changed (or
//!   added) in the last tick, their ages: the uids grouped by age, sorted
//!   and stored as gaps (a byte or two each; `docs/FORMAT.md`). Files
//!   written before 2026-11-30 hold `@ticks/<name>` instead, the same
//!   facts keyed by uid (eleven bytes a value), and still read.
//!
//! A resume ([`apply`]) moves the world's change tick past the oldest age
//! recorded, gives those values and every system the same ages again, and
//! leaves every other value older than every system's last run: restored
//! values are old to every system, except those changed in the tick before
//! the snapshot after a system ran, which are still new to it — as in a
//! run that never stopped.

use bevy_ecs::change_detection::{DetectChangesMut, Tick};
use bevy_ecs::component::{ComponentId, StorageType};
use bevy_ecs::entity::Entity;
use bevy_ecs::storage::TableId;
use bevy_ecs::world::World;
use dizzy_components::{Registry, Uid, Uids, codec};
use serde::{Deserialize, Serialize};

use crate::capture::{newer_rows, uid_at, uids_of};
use crate::kept::Kept;

mod ages;
pub(crate) use ages::{decode_ages, encode_ages};

/// Where each system's last run stood before a capture: what the engine
/// hands the capturer (see [`crate::Capturer::set_detection`]).
#[derive(Clone, Debug, Default)]
pub struct SystemRuns {
    /// The world's change tick when the last tick started: values changed
    /// since are recorded with their ticks.
    pub window_start: Option<Tick>,
    /// Each system of the schedule, in schedule order: its name and its
    /// last run.
    pub systems: Vec<(String, Tick)>,
    /// The components each system of [`SystemRuns::systems`] may read, in
    /// the same order (`None`: every component). A value is recorded only
    /// if it changed after the last run of a system that may read it: no
    /// other system can see its change ticks. Empty: unknown, every value
    /// changed in the window is recorded.
    pub reads: Vec<Option<Vec<ComponentId>>>,
    /// Whether the world has never run a tick (its tick count is 0): bevy's
    /// last change tick is then still the world's first, older than every
    /// value, so every value is new to a query run outside a system's
    /// ticks (bevy's sorted iterators); a resume keeps it so ([`WORLD`]).
    pub never_ticked: bool,
}

impl SystemRuns {
    /// Where the window of component `id` starts: the oldest last run of
    /// the systems that may read it (`None`: no system can see its changes,
    /// nothing to record); `start` when which systems read what is unknown.
    fn start_for(&self, id: ComponentId, start: Tick, now: Tick) -> Option<Tick> {
        if self.reads.len() != self.systems.len() {
            return Some(start);
        }
        self.systems
            .iter()
            .zip(&self.reads)
            .filter(|(_, reads)| reads.as_ref().is_none_or(|r| r.contains(&id)))
            .map(|((_, t), _)| *t)
            .filter(|&t| age(now, t) <= MAX_AGE)
            .reduce(|oldest, t| {
                if oldest.is_newer_than(t, now) {
                    t
                } else {
                    oldest
                }
            })
    }
}

/// The rows a delta capture found changed since `since`: what the
/// change-detection record of the same capture reads instead of scanning
/// every table again, when its window starts no earlier than `since`.
#[derive(Clone, Debug)]
pub(crate) struct Scanned {
    /// The start of the delta's window (exclusive).
    pub(crate) since: Tick,
    /// The components whose table columns were scanned.
    pub(crate) columns: Vec<ComponentId>,
    /// Changed rows, by component and table.
    pub(crate) rows: Vec<ScannedRows>,
}

/// The rows of one table column whose value changed in a delta's window,
/// with what the scan read of each row while it was at hand: its uid and
/// its change ticks.
#[derive(Clone, Debug)]
pub(crate) struct ScannedRows {
    /// The component.
    pub(crate) id: ComponentId,
    /// The table.
    pub(crate) table: TableId,
    /// The rows, ascending.
    pub(crate) rows: Vec<u32>,
    /// The uid at each row.
    pub(crate) uids: Vec<u64>,
    /// The changed and added ticks of the value at each row.
    pub(crate) ticks: Vec<(Tick, Tick)>,
}

impl ScannedRows {
    /// Rows whose uids and ticks were not read ahead.
    pub(crate) fn bare(id: ComponentId, table: TableId, rows: Vec<u32>) -> Self {
        ScannedRows {
            id,
            table,
            rows,
            uids: Vec::new(),
            ticks: Vec::new(),
        }
    }
}

/// What a snapshot records of change detection (`@detect`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// Each system, in schedule order: name and age of its last run.
    pub systems: Vec<(String, u32)>,
    /// Resources changed in the window: name, changed age, added age.
    pub resources: Vec<(String, u32, Option<u32>)>,
    /// Component values changed in the window, by component: its name,
    /// then each value's uid, changed age and added age (`None`: added
    /// before the window). Stored in `@ages/<name>` chunks.
    #[serde(skip)]
    pub values: Vec<(String, Vec<(u64, u32, Option<u32>)>)>,
}

/// The entry of [`Detection::systems`] that records the age of the world's
/// last change tick (`World::last_change_tick`, set by `clear_trackers`
/// after every tick) rather than a system's last run. bevy compares with it
/// where no system's tick is at hand: a query iterated outside a system,
/// and the filters of `QueryIter::sort` and its kind, which filter with
/// the world's ticks. A name no system has; files without it restore the
/// world's last change tick as before (at the restore). A world that has
/// never run a tick records the age [`NEVER`] there.
pub const WORLD: &str = "@world";

/// The age [`WORLD`] records for a world that has never run a tick: after a
/// resume, every restored value is newer than the world's last change tick,
/// as every value of a world that never ticked is.
pub const NEVER: u32 = u32::MAX;

/// The prefix of the name under which the ages of a relationship's target
/// lists (bevy's `Children`, never stored: rebuilt from the relationship)
/// are recorded: `@target/<relationship name>`, in `@ages/` like a
/// registered component's.
pub const TARGET: &str = "@target/";

/// Ages above this are "older than anything recorded": a system that has
/// not run for that long keeps the last run bevy gives a new system. It is
/// just below bevy's `MAX_CHANGE_AGE` (about 3.26 billion change ticks),
/// the oldest last run bevy tells apart from "never": bevy gives a new
/// system that age, and clamps older ones to it (`check_change_ticks`), so
/// a system at least that old sees every value changed within it as new,
/// after a resume as in the run that never stopped.
pub const MAX_AGE: u32 = bevy_ecs::change_detection::MAX_CHANGE_AGE - 1;

fn age(now: Tick, t: Tick) -> u32 {
    now.get().wrapping_sub(t.get())
}

/// Whether tick `t` is in the window (newer than `start`, seen at `now`).
fn recent(t: Tick, start: Tick, now: Tick) -> bool {
    t.is_newer_than(start, now)
}

/// What to record for `world` at `now`.
pub(crate) fn record(
    world: &World,
    registry: &Registry,
    runs: &SystemRuns,
    now: Tick,
    scanned: Option<&Scanned>,
) -> Detection {
    let mut out = Detection {
        systems: runs
            .systems
            .iter()
            .map(|(n, t)| (n.clone(), age(now, *t)))
            // The world's own last change tick, which queries run outside
            // a system's own ticks compare with (bevy's sorted query
            // iterators among them): see [`WORLD`].
            .chain([(
                WORLD.to_owned(),
                if runs.never_ticked {
                    NEVER
                } else {
                    age(now, world.last_change_tick())
                },
            )])
            .collect(),
        ..Default::default()
    };
    // A world that never ticked comes back with every value new (see
    // [`NEVER`]), as it is to systems that never ran; an observer that ran
    // meanwhile (spawns before the first tick trigger it) has seen some:
    // then every value is recorded, with its age.
    let every_value =
        runs.never_ticked && runs.systems.iter().any(|(_, t)| age(now, *t) <= MAX_AGE);
    let start = if every_value {
        Tick::new(now.get().wrapping_sub(MAX_AGE))
    } else {
        let Some(start) = window(runs, now) else {
            return out;
        };
        start
    };
    let start_for = |id: ComponentId| {
        if every_value {
            Some(start)
        } else {
            runs.start_for(id, start, now)
        }
    };
    let timer = std::time::Instant::now();
    let Some(uid_id) = world.component_id::<Uid>() else {
        return out;
    };
    for reg in registry.iter() {
        if let Some(ops) = reg.resource() {
            if let Some(id) = world.components().get_id(reg.type_id())
                && let Some(ticks) = world.get_resource_change_ticks_by_id(id)
                && ops.exists(world)
                && recent(ticks.changed, start, now)
            {
                let added = recent(ticks.added, start, now).then(|| age(now, ticks.added));
                out.resources
                    .push((reg.name().to_owned(), age(now, ticks.changed), added));
            }
            continue;
        }
        let Some(id) = reg.column().and_then(|c| c.component_id(world)) else {
            continue;
        };
        let name = reg.name();
        // The target lists of a relationship (bevy's `Children`) are not
        // stored but rebuilt: when they changed is recorded all the same.
        if let Some(relation) = dizzy_components::Relation::of(world, id)
            && let Some(start) = start_for(relation.target)
        {
            let values = any_values(world, relation.target, uid_id, start, now);
            if !values.is_empty() {
                out.values.push((format!("{TARGET}{name}"), values));
            }
        }
        // Only the systems that may read the component can see when its
        // values changed.
        let Some(start) = start_for(id) else {
            continue;
        };
        if world.components().get_info(id).map(|i| i.storage_type()) == Some(StorageType::Table) {
            // The delta's rows hold every value changed in the window when
            // its window starts no later than this one.
            let covered = scanned.filter(|s| {
                s.columns.contains(&id) && (s.since == start || start.is_newer_than(s.since, now))
            });
            let t = std::time::Instant::now();
            let values = match covered {
                Some(s) => scanned_values(id, s, start, now),
                None => table_values(world, id, uid_id, start, now),
            };
            tracing::debug!(
                "detect: {name}: {} values from {} in {:?}",
                values.len(),
                if covered.is_some() {
                    "the delta's rows"
                } else {
                    "a scan of every row"
                },
                t.elapsed()
            );
            if !values.is_empty() {
                out.values.push((name.to_owned(), values));
            }
            continue;
        }
        // A sparse-set component.
        let values = any_values(world, id, uid_id, start, now);
        if !values.is_empty() {
            out.values.push((name.to_owned(), values));
        }
    }
    // Kept values (types this build does not register): their recorded
    // ticks, in the window as the others.
    if let Some(kept) = world.get_resource::<Kept>() {
        for (name, c, a) in kept.recorded_resource_ticks() {
            if recent(c, start, now) {
                let added = a.filter(|&a| recent(a, start, now)).map(|a| age(now, a));
                out.resources.push((name.to_owned(), age(now, c), added));
            }
        }
        let mut kept_values: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
        for (name, uid, c, a) in kept.recorded_ticks(world.resource::<Uids>()) {
            if recent(c, start, now) {
                let added = a.filter(|&a| recent(a, start, now)).map(|a| age(now, a));
                kept_values
                    .entry(name)
                    .or_default()
                    .push((uid, age(now, c), added));
            }
        }
        out.values.extend(
            kept_values
                .into_iter()
                .map(|(name, values)| (name.to_owned(), values)),
        );
    }
    tracing::debug!(
        "detect: {} changed values recorded in {:?}",
        out.values.iter().map(|v| v.1.len()).sum::<usize>(),
        timer.elapsed()
    );
    out
}

/// The values of component `id` (either storage) changed in `(start,
/// now]`: uid, changed age, added age.
fn any_values(
    world: &World,
    id: ComponentId,
    uid_id: ComponentId,
    start: Tick,
    now: Tick,
) -> Vec<(u64, u32, Option<u32>)> {
    if world.components().get_info(id).map(|i| i.storage_type()) == Some(StorageType::Table) {
        return table_values(world, id, uid_id, start, now);
    }
    let mut values = Vec::new();
    for arch in world.archetypes().iter() {
        if !arch.contains(id) || !arch.contains(uid_id) || arch.is_empty() {
            continue;
        }
        for e in arch.entities() {
            let Ok(er) = world.get_entity(e.id()) else {
                continue;
            };
            let (Some(ticks), Some(uid)) = (er.get_change_ticks_by_id(id), er.get::<Uid>()) else {
                continue;
            };
            if recent(ticks.changed, start, now) {
                let added = recent(ticks.added, start, now).then(|| age(now, ticks.added));
                values.push((uid.get(), age(now, ticks.changed), added));
            }
        }
    }
    values
}

/// Rows of one table column scanned per task by [`table_values`].
const SCAN_ROWS: usize = 1 << 16;

/// The values of table component `id` changed in `(start, now]`: uid,
/// changed age, added age (`None`: added before the window). Read from the
/// tables' tick slices in parallel, a block of rows per task, as the delta
/// capture scans them: a lookup per entity cost 36 ms per 1M entities and
/// component at every snapshot.
fn table_values(
    world: &World,
    id: ComponentId,
    uid_id: ComponentId,
    start: Tick,
    now: Tick,
) -> Vec<(u64, u32, Option<u32>)> {
    use rayon::prelude::*;
    let tables = &world.storages().tables;
    let tasks: Vec<(TableId, usize)> = tables
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.is_empty() && t.has_column(id) && t.has_column(uid_id))
        .flat_map(|(i, t)| {
            (0..t.entity_count() as usize)
                .step_by(SCAN_ROWS)
                .map(move |row| (TableId::from_usize(i), row))
        })
        .collect();
    let found: Vec<Vec<(u64, u32, Option<u32>)>> = tasks
        .into_par_iter()
        .map(|(table, first)| {
            let mut out = Vec::new();
            let Some(changed) = world
                .storages()
                .tables
                .get(table)
                .and_then(|t| t.get_changed_ticks_slice_for(id))
            else {
                return out;
            };
            let end = (first + SCAN_ROWS).min(changed.len());
            let mut rows = Vec::new();
            newer_rows(&changed[first..end], start, now, &mut rows);
            let rows = rows.into_iter().map(|r| first + r as usize);
            ages_at(world, (table, id, uid_id), rows, (start, now), &mut out);
            out
        })
        .collect();
    found.into_iter().flatten().collect()
}

/// [`table_values`] from the rows a delta found changed: their uids and
/// ticks were read by the delta's scan, so nothing of the world is read
/// again (a look per scattered row cost a few cache misses each, about
/// 40 ns a value).
fn scanned_values(
    id: ComponentId,
    scanned: &Scanned,
    start: Tick,
    now: Tick,
) -> Vec<(u64, u32, Option<u32>)> {
    scanned
        .rows
        .iter()
        .filter(|r| r.id == id)
        .flat_map(|r| r.uids.iter().zip(&r.ticks))
        .filter(|(_, (c, _))| recent(*c, start, now))
        .map(|(&uid, &(c, a))| {
            let added = recent(a, start, now).then(|| age(now, a));
            (uid, age(now, c), added)
        })
        .collect()
}

/// Appends the uid, changed age and added age (`None`: added before the
/// window) of each value of table component `id` at `rows` of `table`
/// that changed in the window `(start, now]`; `at` is (table, component,
/// uid component).
fn ages_at(
    world: &World,
    at: (TableId, ComponentId, ComponentId),
    rows: impl Iterator<Item = usize>,
    (start, now): (Tick, Tick),
    out: &mut Vec<(u64, u32, Option<u32>)>,
) {
    let (table, id, uid_id) = at;
    let Some(t) = world.storages().tables.get(table) else {
        return;
    };
    let (Some(changed), Some(added)) = (
        t.get_changed_ticks_slice_for(id),
        t.get_added_ticks_slice_for(id),
    ) else {
        return;
    };
    let uids = uids_of(t, uid_id);
    for row in rows {
        let Some(c) = changed.get(row) else { continue };
        // SAFETY: ticks are read between ticks (`&World`), no writer.
        let (c, a) = unsafe { (*c.get(), added.get(row).map(|a| *a.get())) };
        if !recent(c, start, now) {
            continue;
        }
        let added = a.filter(|&a| recent(a, start, now)).map(|a| age(now, a));
        out.push((uid_at(uids, row), age(now, c), added));
    }
}

/// Where the recorded window starts: when the last tick started, or the
/// last run of a system that has not run since (a run condition skipped
/// it), whichever is older — every value changed after a system's last run
/// is still new to that system, so it is recorded. Systems that have not
/// run for more than [`MAX_AGE`] ticks (or never) see everything as new
/// anyway.
fn window(runs: &SystemRuns, now: Tick) -> Option<Tick> {
    let start = runs.window_start?;
    Some(
        runs.systems
            .iter()
            .map(|s| s.1)
            .filter(|&t| age(now, t) <= MAX_AGE)
            .fold(start, |oldest, t| {
                if oldest.is_newer_than(t, now) {
                    t
                } else {
                    oldest
                }
            }),
    )
}

impl Detection {
    /// The oldest age recorded (systems older than [`MAX_AGE`] aside).
    pub fn max_age(&self) -> u32 {
        self.systems
            .iter()
            .map(|s| s.1)
            .filter(|&a| a <= MAX_AGE)
            .chain(
                self.resources
                    .iter()
                    .flat_map(|r| [Some(r.1), r.2])
                    .flatten(),
            )
            .chain(
                self.values
                    .iter()
                    .flat_map(|(_, v)| v)
                    .flat_map(|v| [Some(v.1), v.2])
                    .flatten(),
            )
            .max()
            .unwrap_or(0)
    }

    /// Encodes the record (systems and resources) for `@detect`.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, codec::CodecError> {
        codec::encode(self)
    }
}

/// Gives the values and resources of a restored world the ages `recorded`
/// holds, and every other value an age older than every recorded system's
/// last run; returns the world's change tick the ages count from (a
/// system's last run is that tick minus its recorded age).
pub fn apply(world: &mut World, registry: &Registry, recorded: &Detection) -> Tick {
    let span = recorded.max_age().saturating_add(1);
    let world_age = recorded
        .systems
        .iter()
        .find(|(n, _)| n == WORLD)
        .map(|&(_, age)| age);
    // The world's last change tick goes where the record puts it: as
    // `clear_trackers` sets it, at the tick whose age it records; first, for
    // a world that never ticked (every value is then made newer than it).
    let never = world_age == Some(NEVER);
    let clear_at = match world_age {
        Some(NEVER) => Some(0),
        Some(age) => Some(span.saturating_add(1).saturating_sub(age).min(span)),
        None => None,
    };
    // Up to `MAX_AGE` ticks: `increment_change_tick` with `&mut World` is
    // a plain add, which an optimized build folds into one.
    let advance = |world: &mut World, n: u32| {
        for _ in 0..n {
            world.increment_change_tick();
        }
    };
    match clear_at {
        Some(at) => {
            advance(world, at);
            world.clear_trackers();
            advance(world, span - at);
        }
        None => advance(world, span.saturating_add(1)),
    }
    let now = world.read_change_tick();
    if never {
        touch_every_value(world, registry, now);
    }
    let at = |age: u32| Tick::new(now.get().wrapping_sub(age));
    for (name, values) in &recorded.values {
        let target_of = name.strip_prefix(TARGET).and_then(|relationship| {
            let id = registry.get(relationship)?.column()?.component_id(world)?;
            Some(dizzy_components::Relation::of(world, id)?.target)
        });
        let Some(id) = target_of.or_else(|| {
            registry
                .get(name)
                .and_then(|r| r.column())
                .and_then(|c| c.component_id(world))
        }) else {
            // Values this build keeps without registering their type keep
            // their ticks beside them, for the next snapshots' records.
            if registry.get(name).is_none()
                && let Some(mut kept) = world.get_resource_mut::<Kept>()
            {
                let ticks = values
                    .iter()
                    .map(|&(uid, c, a)| (uid, at(c), a.map(at)))
                    .collect();
                kept.keep_ticks(name, ticks);
            }
            continue;
        };
        for (uid, changed, added) in values {
            let Some(entity) = world.resource::<Uids>().entity(*uid) else {
                continue;
            };
            set_ticks(world, entity, id, at(*changed), added.map(at));
        }
    }
    for (name, changed, added) in &recorded.resources {
        let Some(id) = registry
            .get(name)
            .and_then(|r| world.components().get_id(r.type_id()))
        else {
            // A resource this build keeps without registering its type.
            if registry.get(name).is_none()
                && let Some(mut kept) = world.get_resource_mut::<Kept>()
            {
                kept.keep_resource_ticks(name, at(*changed), added.map(at));
            }
            continue;
        };
        if let Some(mut r) = world.get_resource_mut_by_id(id) {
            if let Some(a) = added {
                r.set_last_added(at(*a));
            }
            r.set_last_changed(at(*changed));
        }
    }
    now
}

/// Sets the ticks of `entity`'s value of component `id`.
/// Gives every value of a registered component, and every registered
/// resource, `now` as its added and changed tick: newer than the world's
/// last change tick, older than every later change.
fn touch_every_value(world: &mut World, registry: &Registry, now: Tick) {
    let ids: Vec<ComponentId> = registry
        .iter()
        .filter_map(|r| r.column().and_then(|c| c.component_id(world)))
        .collect();
    for &id in &ids {
        match world.components().get_info(id).map(|i| i.storage_type()) {
            Some(StorageType::Table) => {
                for t in world.storages().tables.iter() {
                    let (Some(changed), Some(added)) = (
                        t.get_changed_ticks_slice_for(id),
                        t.get_added_ticks_slice_for(id),
                    ) else {
                        continue;
                    };
                    for cell in changed.iter().chain(added) {
                        // SAFETY: the caller holds `&mut World`, so no other
                        // reference to these ticks exists while they are
                        // written.
                        unsafe { *cell.get() = now };
                    }
                }
            }
            Some(StorageType::SparseSet) => {
                let entities: Vec<Entity> = world
                    .archetypes()
                    .iter()
                    .filter(|a| a.contains(id))
                    .flat_map(|a| a.entities().iter().map(|e| e.id()))
                    .collect();
                for e in entities {
                    set_ticks(world, e, id, now, Some(now));
                }
            }
            None => {}
        }
    }
    for reg in registry.iter().filter(|r| r.resource().is_some()) {
        let Some(id) = world.components().get_id(reg.type_id()) else {
            continue;
        };
        if let Some(mut r) = world.get_resource_mut_by_id(id) {
            r.set_last_added(now);
            r.set_last_changed(now);
        }
    }
}

fn set_ticks(
    world: &mut World,
    entity: Entity,
    id: ComponentId,
    changed: Tick,
    added: Option<Tick>,
) {
    let Some(location) = world.entities().get_spawned(entity).ok() else {
        return;
    };
    let storage = world.components().get_info(id).map(|i| i.storage_type());
    let cells = match storage {
        Some(StorageType::Table) => world
            .storages()
            .tables
            .get(location.table_id)
            .and_then(|t| {
                Some((
                    t.get_changed_tick(id, location.table_row)?,
                    t.get_added_tick(id, location.table_row)?,
                ))
            }),
        Some(StorageType::SparseSet) => world
            .storages()
            .sparse_sets
            .get(id)
            .and_then(|s| Some((s.get_changed_tick(entity)?, s.get_added_tick(entity)?))),
        None => None,
    };
    if let Some((changed_cell, added_cell)) = cells {
        // SAFETY: the caller holds `&mut World`, so no other reference to
        // these ticks exists while they are written.
        unsafe {
            *changed_cell.get() = changed;
            if let Some(a) = added {
                *added_cell.get() = a;
            }
        }
    }
}
