//! Rebuilding a world from a snapshot: the latest full snapshot at or before
//! the target, then its deltas in order (despawns, removals, spawns, values).
//!
//! A full snapshot is restored in bulk: every chunk is decoded in parallel,
//! then each archetype group is spawned whole (see
//! [`dizzy_components::ArchetypeSpawner`]), and entity references are
//! resolved last, when every entity exists. Any error returns no world at
//! all: the caller never sees a half-restored one.

use bevy_ecs::component::ComponentId;
use bevy_ecs::world::World;
use dizzy_components::{ColumnOps, Journal, RefPolicy, Registry, Uid, Uids};
use redb::ReadTransaction;

use crate::error::RestoreError;
use crate::format::{Layout, SnapshotKind, SnapshotMeta, col, parse};
use crate::kept::Kept;
use crate::store::{Store, Stored, read_chunks, read_meta};

mod delta;
mod full;
mod keyed;
mod order;
mod removals;
pub(crate) mod schemas;

pub use schemas::{check_schemas, fields_not_read};
use schemas::{corrupt, dangling, undecodable, unshaped, value_error};

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// The snapshot to restore; the latest if `None`.
    pub snapshot: Option<u64>,
    /// References to entities missing from the snapshot: fail or drop.
    pub refs: RefPolicy,
    /// Components and resources in the file that this build does not register.
    pub unknown: Unknown,
}

/// What to do with a component or resource in a file that this build does
/// not register.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unknown {
    /// Refuse to restore (the default): nothing is lost by accident.
    #[default]
    Fail,
    /// Restore without it; the next full snapshot no longer holds it.
    Skip,
    /// Keep its values, byte for byte, and write them into every later
    /// snapshot, so that a tool built without some plugin never destroys
    /// that plugin's data (needs the value's shape, recorded since format 2).
    /// What the snapshot records beside them is kept too: the change ticks
    /// of those changed in its last tick, and a relationship's lists.
    Keep,
}

/// A restored world and where it came from.
#[derive(Debug)]
pub struct Restored {
    /// The world, with every registered type installed.
    pub world: World,
    /// The snapshot restored.
    pub meta: SnapshotMeta,
    /// Its chain: the full snapshot first, then the deltas up to `meta`.
    pub chain: Vec<SnapshotMeta>,
    /// Where change detection stood when `meta` was taken, if it records
    /// it (see [`crate::detect`]): for a resume to hand on.
    pub detection: Option<crate::detect::Detection>,
    /// The removals `meta` records as made between ticks (`world_mut()`,
    /// imports, before `close()`), not yet made again: bevy's removal
    /// messages hold those for one tick longer than the ones the last
    /// tick's commands made (which the restore has made again), so they are
    /// made after the world's change detection is restored
    /// ([`crate::detect::apply`], which ends a tick), by
    /// [`replay_removals_between_ticks`]. `(name, uid, value bytes)`.
    pub removals_between_ticks: Vec<(String, u64, Vec<u8>)>,
}

/// Makes again the removals `restored` records as made between ticks
/// ([`Restored::removals_between_ticks`], taken from it), as the restore
/// made the others: call it after [`crate::detect::apply`].
///
/// # Errors
/// A hook or an observer panicked as a removal was made again, or `store`
/// cannot be read ([`RestoreError`]).
pub fn replay_removals_between_ticks(
    store: &Store,
    registry: &Registry,
    options: &RestoreOptions,
    world: &mut World,
    meta: &SnapshotMeta,
    entries: &[(String, u64, Vec<u8>)],
) -> Result<(), RestoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let tx = store.begin_read().map_err(|e| store.restore_storage(e))?;
    let ctx = Ctx::new(store, &tx, registry, options);
    guard(|| ctx.replay_removals(world, meta, entries)).unwrap_or_else(|message| {
        Err(RestoreError::Panicked {
            path: store.path().to_owned(),
            snapshot: meta.id,
            component: "(unknown)".into(),
            what: "user code (a hook or an observer)".into(),
            message,
        })
    })
}

/// The chain that restores snapshot `target` (the latest if `None`): the
/// full snapshot first, `target` last.
///
/// # Errors
/// The snapshot does not exist, or its chain is broken (a base is missing)
/// ([`RestoreError`]).
pub fn chain(
    store: &Store,
    tx: &ReadTransaction,
    target: Option<u64>,
) -> Result<Vec<SnapshotMeta>, RestoreError> {
    let last = match target {
        Some(id) => read_meta(store, tx, id)?,
        None => {
            let all = crate::store::read_all_meta(store, tx)?;
            all.into_iter()
                .last()
                .ok_or_else(|| RestoreError::NoSnapshot {
                    path: store.path().to_owned(),
                })?
        }
    };
    let mut chain = vec![last];
    while let Some(m) = chain.last().filter(|m| m.kind == SnapshotKind::Delta) {
        let (id, base) = (m.id, m.base);
        let base = base.ok_or_else(|| corrupt(store, id, "@meta", 0, "a delta without a base"))?;
        if base >= id {
            return Err(corrupt(
                store,
                id,
                "@meta",
                0,
                "a delta whose base is not older",
            ));
        }
        match read_meta(store, tx, base) {
            Ok(m) => chain.push(m),
            Err(RestoreError::UnknownSnapshot { .. }) => {
                return Err(RestoreError::BrokenChain {
                    path: store.path().to_owned(),
                    id,
                    base,
                });
            }
            Err(e) => return Err(e),
        }
    }
    chain.reverse();
    Ok(chain)
}

/// Restores a world from `store`.
///
/// # Errors
/// The file holds no snapshot or not the one asked for, a schema does not match
/// the registry, a chunk is damaged, or a reference dangles under
/// [`RefPolicy::Fail`](dizzy_components::RefPolicy::Fail) ([`RestoreError`]);
/// no world is returned.
pub fn restore(
    store: &Store,
    registry: &Registry,
    options: &RestoreOptions,
) -> Result<Restored, RestoreError> {
    restore_with(store, registry, options, &mut |_| {})
}

/// [`restore`], with `prepare` run on the new world (the registry
/// installed) before any value comes back: what component hooks that run
/// during the restore must find there (transient resources).
///
/// The full snapshot's rows are read from the file while they are spawned.
/// A file whose chunks are not in the order dizzy writes them (each column's
/// in row order), or a damaged one, is restored again on a fresh world with
/// every chunk read and checked first: `prepare`, hooks and observers then
/// run on two worlds, and the first is dropped.
///
/// # Errors
/// As [`restore`]; a panic in `prepare` is reported as user code's.
pub fn restore_with(
    store: &Store,
    registry: &Registry,
    options: &RestoreOptions,
    prepare: &mut dyn FnMut(&mut World),
) -> Result<Restored, RestoreError> {
    // redb's reads are contained where they happen (a damaged page is a
    // `Damaged` error); user code that panics (a `Deserialize`, a hook, an
    // observer) is named where it runs, and anything else is reported as
    // user code too, never as a damaged file. No world is returned either way.
    guard(|| restore_unguarded(store, registry, options, prepare)).unwrap_or_else(|message| {
        Err(RestoreError::Panicked {
            path: store.path().to_owned(),
            snapshot: options.snapshot.unwrap_or(0),
            component: "(unknown)".into(),
            what: "user code (a hook or an observer)".into(),
            message,
        })
    })
}

fn restore_unguarded(
    store: &Store,
    registry: &Registry,
    options: &RestoreOptions,
    prepare: &mut dyn FnMut(&mut World),
) -> Result<Restored, RestoreError> {
    let tx = store.begin_read().map_err(|e| store.restore_storage(e))?;
    let chain = chain(store, &tx, options.snapshot)?;
    for m in &chain {
        check_schemas(store, registry, m, options.unknown)?;
        schemas::check_untraced_values(store, &tx, registry, m)?;
    }
    // The full snapshot's rows are read as they are spawned; a file whose
    // chunks are not where dizzy writes them (or a damaged one) is restored
    // again on a fresh world, every chunk read and checked first.
    let mut read_first = false;
    let (mut world, mut ctx, target_next, t) = loop {
        let mut world = World::new();
        registry.install(&mut world);
        // The restore's own removals (a delta's, a relationship's order) are
        // not the program's: only the snapshot's record of them is made again.
        if let Some(mut last) = world.get_resource_mut::<dizzy_components::LastRemovals>() {
            last.close();
        }
        prepare(&mut world);
        // A uid user code takes while the world is restored (a hook that
        // spawns) is never one of the snapshot's: the allocator starts past
        // them all.
        let target_next = chain.last().map_or(0, |m| m.uid_next);
        world.resource_mut::<Uids>().set_next_raw(target_next);
        world.resource::<Uids>().start_allocation_log();
        world.insert_resource(dizzy_components::Restoring);
        let mut ctx = Ctx::new(store, &tx, registry, options);
        ctx.read_first = read_first;
        let t = std::time::Instant::now();
        match ctx.apply_full(&mut world, &chain[0])? {
            full::Sourced::Whole => break (world, ctx, target_next, t),
            full::Sourced::ReadAgain if !read_first => {
                tracing::debug!(
                    "restore: snapshot {}: chunks not in row order or damaged: read again, checked first",
                    chain[0].id
                );
                read_first = true;
            }
            full::Sourced::ReadAgain => {
                return Err(corrupt(
                    store,
                    chain[0].id,
                    "@meta",
                    0,
                    "its chunks could not be read, even checked first",
                ));
            }
        }
    };
    tracing::debug!(
        "restore: full snapshot {} in {:?}",
        chain[0].id,
        t.elapsed()
    );
    let t = std::time::Instant::now();
    for delta in &chain[1..] {
        ctx.apply_delta(&mut world, delta)?;
    }
    // What the earlier snapshots of the chain record of change detection
    // is not used, but checked like every other chunk of the chain.
    for m in &chain[..chain.len() - 1] {
        ctx.read_detection(m)?;
    }
    tracing::debug!("restore: {} deltas in {:?}", chain.len() - 1, t.elapsed());
    let meta = chain.last().cloned().unwrap_or_else(|| chain[0].clone());
    undo_spawns_of_user_code(&mut world, Some(target_next));
    remove_restoring(&mut world);
    if ctx.unknown == Unknown::Keep {
        let mut kept = std::mem::take(&mut ctx.kept);
        kept.retain_live(world.resource::<Uids>());
        let last = chain.last().unwrap_or(&chain[0]);
        kept.keep_schemas(
            last.schemas
                .iter()
                .filter(|s| registry.get(&s.name).is_none()),
        );
        world.insert_resource(kept);
    }
    world.resource_mut::<Journal>().clear();
    let detection = ctx.read_detection(&meta)?;
    // Restoring removed and replaced components (deltas, relationship
    // order): no system may see those removals as its own.
    world.clear_trackers();
    world.clear_trackers();
    // Then the removals the next tick's readers see, made again: bevy's
    // removal messages hold them (after one `clear_trackers` by the change
    // detection's restore, too, as after the tick that made them).
    let mut removals = ctx.read_last_removals(&meta)?;
    // Those made between ticks come after a marker: made later (see
    // `Restored::removals_between_ticks`).
    let between: Vec<(String, u64, Vec<u8>)> =
        match removals.iter().position(|e| e.0 == col::BETWEEN_TICKS) {
            Some(i) => removals
                .split_off(i)
                .into_iter()
                .filter(|e| e.0 != col::BETWEEN_TICKS)
                .collect(),
            None => Vec::new(),
        };
    if let Some(mut last) = world.get_resource_mut::<dizzy_components::LastRemovals>() {
        last.open();
    }
    if !removals.is_empty() {
        ctx.replay_removals(&mut world, &meta, &removals)?;
    }
    if let Some(mut last) = world.get_resource_mut::<dizzy_components::LastRemovals>() {
        last.settle();
    }
    Ok(Restored {
        world,
        meta,
        chain,
        detection,
        removals_between_ticks: between,
    })
}

struct Ctx<'a> {
    store: &'a Store,
    tx: &'a ReadTransaction,
    registry: &'a Registry,
    refs: RefPolicy,
    unknown: Unknown,
    kept: Kept,
    /// Read and check every chunk of the full snapshot's groups before
    /// spawning (see [`full::Sourced`]).
    read_first: bool,
}

impl<'a> Ctx<'a> {
    fn new(
        store: &'a Store,
        tx: &'a ReadTransaction,
        registry: &'a Registry,
        options: &RestoreOptions,
    ) -> Self {
        Ctx {
            store,
            tx,
            registry,
            refs: options.refs,
            unknown: options.unknown,
            kept: Kept::default(),
            read_first: false,
        }
    }
}

/// Rows `start..end` of a group, restored as one piece: for each of the
/// group's components (in the group's order), the chunks that hold them.
struct Unit {
    group: usize,
    start: usize,
    end: usize,
    columns: Vec<Vec<usize>>,
}

impl Ctx<'_> {
    fn chunks(&self, meta: &SnapshotMeta, column: &str) -> Result<Vec<Stored>, RestoreError> {
        let expected = meta.column(column).map_or(0, |c| c.chunks);
        if expected == 0 {
            return Ok(Vec::new());
        }
        read_chunks(self.store, self.tx, meta.id, column, expected)
    }

    fn column_ops(
        &self,
        world: &World,
        name: &str,
    ) -> Result<(&dyn ColumnOps, ComponentId), String> {
        let ops = self
            .registry
            .get(name)
            .and_then(|r| r.column())
            .ok_or_else(|| format!("`{name}` is not a registered component"))?;
        let id = ops
            .component_id(world)
            .ok_or_else(|| format!("`{name}` is not installed"))?;
        Ok((ops, id))
    }

    /// The payload of `rows` values of `name` at the registered version.
    fn upgraded<'p>(
        &self,
        meta: &SnapshotMeta,
        name: &str,
        payload: &'p [u8],
        rows: usize,
    ) -> Result<std::borrow::Cow<'p, [u8]>, RestoreError> {
        let (Some(reg), Some(s)) = (
            self.registry.get(name),
            meta.schemas.iter().find(|s| s.name == name),
        ) else {
            return Ok(std::borrow::Cow::Borrowed(payload));
        };
        if !reg.needs_upgrade(s.version, s.shape.as_deref()) {
            return Ok(std::borrow::Cow::Borrowed(payload));
        }
        guard(|| reg.upgrade(s.version, s.shape.as_deref(), payload, rows))
            .map_err(|message| RestoreError::Panicked {
                path: self.store.path().to_owned(),
                snapshot: meta.id,
                component: name.to_owned(),
                what: match s.version == reg.version() {
                    true => format!("`Deserialize` of {}", reg.type_name()),
                    false => format!(
                        "a migration from version {} to {} (or the `Deserialize` of an old version's type)",
                        s.version,
                        reg.version()
                    ),
                },
                message,
            })?
            .map(std::borrow::Cow::Owned)
            .map_err(|source| RestoreError::Incompatible {
                path: self.store.path().to_owned(),
                snapshot: meta.id,
                source,
            })
    }

    /// The shape of an unregistered `name`, to keep its values.
    fn kept_shape<'m>(
        &self,
        meta: &'m SnapshotMeta,
        name: &str,
    ) -> Result<&'m crate::format::Schema, RestoreError> {
        meta.schemas
            .iter()
            .find(|s| s.name == name && s.shape.is_some())
            .ok_or_else(|| RestoreError::Unkeepable {
                path: self.store.path().to_owned(),
                snapshot: meta.id,
                name: name.to_owned(),
            })
    }

    /// Keeps the values of unregistered `name` from a full snapshot.
    fn keep_full(
        &mut self,
        meta: &SnapshotMeta,
        name: &str,
        chunks: &[Stored],
        uids: &[Vec<Uid>],
    ) -> Result<(), RestoreError> {
        let schema = self.kept_shape(meta, name)?.clone();
        let shape = schema.shape.as_deref().unwrap_or_default();
        for (ci, bytes) in chunks.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, meta.id, name, ci as u32, r);
            let chunk = parse(bytes).map_err(bad)?;
            let values = dizzy_components::shape::split(shape, chunk.payload, chunk.rows as usize)
                .map_err(bad)?;
            let owners: Vec<u64> = match chunk.layout {
                Layout::Rows { group, start } => {
                    let g = uids
                        .get(group as usize)
                        .ok_or_else(|| bad(format!("group {group} does not exist")))?;
                    let rows = (start as usize)..(start as usize + values.len());
                    g.get(rows)
                        .ok_or_else(|| bad("rows beyond the group".into()))?
                        .iter()
                        .map(|u| u.get())
                        .collect()
                }
                Layout::Keyed => chunk.uids().collect(),
                Layout::Uids { .. } => return Err(bad("not a value chunk".into())),
            };
            for (uid, v) in owners.into_iter().zip(values) {
                self.kept.put(&schema, uid, v.to_vec());
            }
        }
        Ok(())
    }

    /// The change detection `meta` records, if any.
    fn read_detection(
        &self,
        meta: &SnapshotMeta,
    ) -> Result<Option<crate::detect::Detection>, RestoreError> {
        let chunks = self.chunks(meta, col::DETECT)?;
        let Some(first) = chunks.first() else {
            return Ok(None);
        };
        let bad = |r: String| corrupt(self.store, meta.id, col::DETECT, 0, r);
        let chunk = parse(first).map_err(bad)?;
        let mut detection: crate::detect::Detection =
            dizzy_components::codec::decode(chunk.payload).map_err(|e| bad(e.to_string()))?;
        for c in &meta.columns {
            // `@ages/<name>`, or `@ticks/<name>` in files written before
            // 2026-11-30.
            let (name, grouped) = if let Some(name) = c.name.strip_prefix(col::AGES) {
                (name, true)
            } else if let Some(name) = c.name.strip_prefix(col::TICKS) {
                (name, false)
            } else {
                continue;
            };
            let mut values = Vec::new();
            for (ci, bytes) in self.chunks(meta, &c.name)?.iter().enumerate() {
                let bad = |r: String| corrupt(self.store, meta.id, &c.name, ci as u32, r);
                let chunk = parse(bytes).map_err(bad)?;
                if !matches!(chunk.layout, Layout::Keyed) {
                    return Err(bad("not a keyed chunk".into()));
                }
                if grouped {
                    if chunk.rows != 1 {
                        return Err(bad(format!("{} values, not one", chunk.rows)));
                    }
                    crate::detect::decode_ages(chunk.payload, &mut values).map_err(bad)?;
                    continue;
                }
                let mut ages = Vec::new();
                dizzy_components::codec::decode_rows::<(u32, Option<u32>)>(
                    chunk.payload,
                    chunk.rows as usize,
                    |a| ages.push(a),
                )
                .map_err(|e| bad(e.to_string()))?;
                for (uid, (changed, added)) in chunk.uids().zip(ages) {
                    values.push((uid, changed, added));
                }
            }
            detection.values.push((name.to_owned(), values));
        }
        Ok(Some(detection))
    }

    fn uid_list(&self, meta: &SnapshotMeta, column: &str) -> Result<Vec<u64>, RestoreError> {
        let mut out = Vec::new();
        for (i, bytes) in self.chunks(meta, column)?.iter().enumerate() {
            let chunk =
                parse(bytes).map_err(|r| corrupt(self.store, meta.id, column, i as u32, r))?;
            if !matches!(chunk.layout, Layout::Uids { .. }) {
                return Err(corrupt(
                    self.store,
                    meta.id,
                    column,
                    i as u32,
                    "not a uid chunk",
                ));
            }
            out.extend(chunk.uids());
        }
        Ok(out)
    }
}

/// For each registered component, the registered components (`Uid` aside)
/// it requires: what bevy inserts on its own when the first is inserted.
pub(crate) fn registered_requires(
    world: &World,
    registry: &Registry,
) -> std::collections::HashMap<ComponentId, Vec<ComponentId>> {
    let ids: Vec<ComponentId> = registry
        .iter()
        .filter_map(|r| r.column()?.component_id(world))
        .collect();
    let mut out = std::collections::HashMap::new();
    for &id in &ids {
        let Some(info) = world.components().get_info(id) else {
            continue;
        };
        let required: Vec<ComponentId> = info
            .required_components()
            .iter_ids()
            .filter(|r| ids.contains(r))
            .collect();
        if !required.is_empty() {
            out.insert(id, required);
        }
    }
    out
}

/// Removes each of `ids` that `entity` has.
pub(crate) fn drop_components(
    world: &mut World,
    entity: bevy_ecs::entity::Entity,
    ids: &[ComponentId],
) {
    if let Ok(mut e) = world.get_entity_mut(entity) {
        for &id in ids {
            if e.contains_id(id) {
                e.remove_by_id(id);
            }
        }
    }
}

/// Runs user code (a `Deserialize`, a hook, an observer); its panic becomes
/// `Err` with the panic's message.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        dizzy_components::panic_message(payload.as_ref()).unwrap_or_else(|| "a panic".to_owned())
    })
}

/// Removes the [`Restoring`](dizzy_components::Restoring) marker and the
/// entity bevy keeps a resource on (`remove_resource` leaves it, holding
/// only `IsResource`): a restored world holds no entity that a run that
/// never stopped does not.
pub(crate) fn remove_restoring(world: &mut World) {
    remove_resource_entirely::<dizzy_components::Restoring>(world);
}

/// Removes resource `R` and the entity bevy keeps it on (a world with no
/// entity it did not have before).
pub(crate) fn remove_resource_entirely<R: bevy_ecs::resource::Resource>(world: &mut World) {
    let entity = world.resource_entity::<R>();
    world.remove_resource::<R>();
    let Some(entity) = entity else {
        return;
    };
    if let Ok(mut e) = world.get_entity_mut(entity) {
        // bevy's hook for `IsResource` forgets the resource's entity.
        e.remove::<bevy_ecs::resource::IsResource>();
    }
    world.flush();
    if world
        .get_entity(entity)
        .is_ok_and(|e| e.archetype().component_count() == 0)
    {
        world.despawn(entity);
    }
}

/// Despawns the persisted entities user code (hooks, observers) spawned
/// while the world was restored — the snapshot holds them already — and,
/// with `next` (where the snapshot left the allocator), gives the allocator
/// back the uids they took; without, it stays where it is (an import's:
/// those entities were in the world for a moment). They are the entities
/// that got their uid from the allocator (the snapshot's own entities get
/// theirs from the snapshot), which the allocation log recorded.
pub(crate) fn undo_spawns_of_user_code(
    world: &mut World,
    next: Option<u64>,
) -> std::collections::HashSet<u64> {
    let taken = world.resource::<Uids>().take_allocation_log();
    if taken.is_empty() {
        return std::collections::HashSet::new();
    }
    let taken: std::collections::HashSet<u64> = taken.into_iter().collect();
    // Found by their uids, not through the index: an entity a hook spawned
    // in the middle of a bulk insert may not be indexed. Read archetype by
    // archetype, not by a query: a query leaves out disabled entities
    // (bevy's default query filters).
    let mut spawned = Vec::new();
    let mut newest = None;
    let uid_id = world.component_id::<dizzy_components::Uid>();
    let holders: Vec<(bevy_ecs::entity::Entity, u64)> = world
        .archetypes()
        .iter()
        .filter(|a| uid_id.is_some_and(|id| a.contains(id)))
        .flat_map(|a| a.entities().iter().map(|ae| ae.id()))
        .filter_map(|e| world.get::<dizzy_components::Uid>(e).map(|u| (e, u.get())))
        .collect();
    for (e, u) in holders {
        if taken.contains(&u) {
            spawned.push(e);
        } else if let Some(next) = next
            && u >= next
            && u - next < 1 << 40
        {
            newest = newest.max(Some(u));
        }
    }
    for e in spawned {
        if let Ok(e) = world.get_entity_mut(e) {
            e.despawn();
        }
    }
    world.flush();
    // Back to where the snapshot left the allocator, or just past the
    // newest uid the snapshot itself holds beyond it (a file written with
    // uids ahead of its counter keeps them unique; uids 2^40 or more ahead
    // are skipped by the allocator, as `Uids::reserve` says).
    if let Some(next) = next {
        let next = newest.map_or(next, |u| next.max(u.saturating_add(1)));
        world.resource_mut::<Uids>().reset_next_raw(next);
    }
    taken
}
