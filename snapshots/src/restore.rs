//! Rebuilding a world from a snapshot: the latest full snapshot at or before
//! the target, then its deltas in order (despawns, removals, spawns, values).
//!
//! A full snapshot is restored in bulk: every chunk is decoded in parallel,
//! then each archetype group is spawned whole (see
//! [`dizzy_components::ArchetypeSpawner`]), and entity references are
//! resolved last, when every entity exists. Any error returns no world at
//! all: the caller never sees a half-restored one.

use std::collections::BTreeMap;

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::storage::TableId;
use bevy_ecs::world::World;
use dizzy_components::{
    ArchetypeSpawner, ColumnOps, DecodedColumn, Journal, Kind, Place, RefPolicy, Registry,
    Resolver, Rows, Uid, Uids, ValueError, spawn_rows,
};
use redb::ReadTransaction;

use crate::error::RestoreError;
use crate::format::{Chunk, GroupMeta, Layout, SnapshotKind, SnapshotMeta, col, parse};
use crate::kept::Kept;
use crate::store::{Store, Stored, read_chunks, read_meta};

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
}

/// The chain that restores snapshot `target` (the latest if `None`): the
/// full snapshot first, `target` last.
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

fn corrupt(
    store: &Store,
    snapshot: u64,
    column: &str,
    chunk: u32,
    reason: impl Into<String>,
) -> RestoreError {
    RestoreError::Corrupt {
        path: store.path().to_owned(),
        snapshot,
        column: column.to_owned(),
        chunk,
        reason: reason.into(),
    }
}

/// Checks that every column with data in `meta` is registered, as the same
/// kind and version.
pub fn check_schemas(
    store: &Store,
    registry: &Registry,
    meta: &SnapshotMeta,
    unknown: Unknown,
) -> Result<(), RestoreError> {
    for c in &meta.columns {
        let (name, kind) = column_type(&c.name);
        let Some(name) = name else { continue };
        let stored = meta.schemas.iter().find(|s| s.name == name);
        let Some(reg) = registry.get(name) else {
            if unknown == Unknown::Keep && stored.is_none_or(|s| s.shape.is_none()) {
                return Err(RestoreError::Unkeepable {
                    path: store.path().to_owned(),
                    snapshot: meta.id,
                    name: name.to_owned(),
                });
            }
            if unknown != Unknown::Fail {
                continue;
            }
            return Err(RestoreError::Unregistered {
                path: store.path().to_owned(),
                snapshot: meta.id,
                kind: stored.map_or(kind, |s| s.kind),
                name: name.to_owned(),
            });
        };
        if reg.kind() != kind {
            return Err(RestoreError::KindMismatch {
                path: store.path().to_owned(),
                snapshot: meta.id,
                name: name.to_owned(),
                stored: kind,
                current: reg.kind(),
            });
        }
        if let Some(s) = stored
            && !reg.migrates_from(s.version)
        {
            let fields = dizzy_components::shape::differences(s.shape.as_deref(), reg.shape());
            return Err(RestoreError::VersionMismatch {
                path: store.path().to_owned(),
                snapshot: meta.id,
                name: name.to_owned(),
                stored: s.version,
                current: reg.version(),
                fields: if fields.is_empty() {
                    String::new()
                } else {
                    format!("; fields that differ: {}", fields.join(", "))
                },
            });
        }
    }
    for name in &meta.removed_resources {
        if registry.get(name).is_none() && unknown == Unknown::Fail {
            return Err(RestoreError::Unregistered {
                path: store.path().to_owned(),
                snapshot: meta.id,
                kind: Kind::Resource,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// The registered name a column holds data of, and its kind.
fn column_type(column: &str) -> (Option<&str>, Kind) {
    if let Some(n) = column.strip_prefix(col::RESOURCE) {
        (Some(n), Kind::Resource)
    } else if let Some(n) = column.strip_prefix(col::REMOVE) {
        (Some(n), Kind::Component)
    } else if column.starts_with('@') {
        (None, Kind::Component)
    } else {
        (Some(column), Kind::Component)
    }
}

/// Restores a world from `store`.
pub fn restore(
    store: &Store,
    registry: &Registry,
    options: &RestoreOptions,
) -> Result<Restored, RestoreError> {
    // A damaged page can make redb's reader panic: an error, and no world.
    crate::store::contain(|| restore_unguarded(store, registry, options))
        .unwrap_or_else(|reason| Err(store.damaged(reason)))
}

fn restore_unguarded(
    store: &Store,
    registry: &Registry,
    options: &RestoreOptions,
) -> Result<Restored, RestoreError> {
    let tx = store.begin_read().map_err(|e| store.restore_storage(e))?;
    let chain = chain(store, &tx, options.snapshot)?;
    for m in &chain {
        check_schemas(store, registry, m, options.unknown)?;
    }
    let mut world = World::new();
    registry.install(&mut world);
    let mut ctx = Ctx {
        store,
        tx: &tx,
        registry,
        refs: options.refs,
        unknown: options.unknown,
        kept: Kept::default(),
    };
    let t = std::time::Instant::now();
    ctx.apply_full(&mut world, &chain[0])?;
    tracing::debug!(
        "restore: full snapshot {} in {:?}",
        chain[0].id,
        t.elapsed()
    );
    let t = std::time::Instant::now();
    for delta in &chain[1..] {
        ctx.apply_delta(&mut world, delta)?;
    }
    tracing::debug!("restore: {} deltas in {:?}", chain.len() - 1, t.elapsed());
    let meta = chain.last().cloned().unwrap_or_else(|| chain[0].clone());
    world.resource_mut::<Uids>().set_next_raw(meta.uid_next);
    if ctx.unknown == Unknown::Keep {
        let mut kept = std::mem::take(&mut ctx.kept);
        kept.retain_live(world.resource::<Uids>());
        world.insert_resource(kept);
    }
    world.resource_mut::<Journal>().clear();
    Ok(Restored { world, meta, chain })
}

struct Ctx<'a> {
    store: &'a Store,
    tx: &'a ReadTransaction,
    registry: &'a Registry,
    refs: RefPolicy,
    unknown: Unknown,
    kept: Kept,
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

    /// Checks every chunk header and cuts each group into units: the rows
    /// between places where every column of the group starts a chunk.
    fn units(
        &self,
        snap: u64,
        groups: &[GroupMeta],
        names: &[&str],
        raw: &[(usize, u32, Stored)],
    ) -> Result<Vec<Unit>, RestoreError> {
        // (group, column) -> [(start, rows, raw index)]
        let mut by: BTreeMap<(usize, usize), Vec<(usize, usize, usize)>> = BTreeMap::new();
        for (i, (ni, ci, bytes)) in raw.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, snap, names[*ni], *ci, r);
            let chunk = parse(bytes).map_err(bad)?;
            let Layout::Rows { group, start } = chunk.layout else {
                return Err(bad("not a row chunk".into()));
            };
            let rows = groups
                .get(group as usize)
                .map(|g| g.rows)
                .ok_or_else(|| bad(format!("group {group} does not exist")))?;
            if u64::from(start) + u64::from(chunk.rows) > rows {
                return Err(bad(format!(
                    "rows {start}+{} beyond the group's {rows}",
                    chunk.rows
                )));
            }
            by.entry((group as usize, *ni)).or_default().push((
                start as usize,
                chunk.rows as usize,
                i,
            ));
        }
        let mut units = Vec::new();
        for (gi, g) in groups.iter().enumerate() {
            let rows = g.rows as usize;
            let mut cols = Vec::with_capacity(g.components.len());
            for name in &g.components {
                let ni = names.iter().position(|n| n == name).unwrap_or(usize::MAX);
                let mut pieces = by.remove(&(gi, ni)).unwrap_or_default();
                pieces.sort_unstable();
                let mut at = 0;
                for &(start, n, _) in &pieces {
                    if start != at {
                        return Err(corrupt(
                            self.store,
                            snap,
                            name,
                            0,
                            format!("group {gi}: rows from {start} follow {at} rows"),
                        ));
                    }
                    at += n;
                }
                if at != rows {
                    return Err(corrupt(
                        self.store,
                        snap,
                        name,
                        0,
                        format!("group {gi}: the column covers {at} of its {rows} rows"),
                    ));
                }
                cols.push(pieces);
            }
            if rows == 0 {
                continue;
            }
            // Cut where every column starts a chunk.
            let mut cuts: Vec<usize> = vec![0, rows];
            if let Some(first) = cols.first() {
                cuts.extend(
                    first
                        .iter()
                        .map(|p| p.0)
                        .filter(|s| cols.iter().all(|c| c.iter().any(|p| p.0 == *s))),
                );
            }
            cuts.sort_unstable();
            cuts.dedup();
            for w in cuts.windows(2) {
                let (start, end) = (w[0], w[1]);
                units.push(Unit {
                    group: gi,
                    start,
                    end,
                    columns: cols
                        .iter()
                        .map(|c| {
                            c.iter()
                                .filter(|p| p.0 >= start && p.0 < end)
                                .map(|p| p.2)
                                .collect()
                        })
                        .collect(),
                });
            }
        }
        Ok(units)
    }

    fn apply_full(&mut self, world: &mut World, meta: &SnapshotMeta) -> Result<(), RestoreError> {
        let snap = meta.id;
        // The groups as this build spawns them: registered components only
        // (the others are skipped or kept, per the policy).
        let registered = |n: &str| self.registry.get(n).and_then(|r| r.column()).is_some();
        let groups: Vec<GroupMeta> = meta
            .groups
            .iter()
            .map(|g| GroupMeta {
                components: g
                    .components
                    .iter()
                    .filter(|n| registered(n))
                    .cloned()
                    .collect(),
                rows: g.rows,
            })
            .collect();
        let groups = &groups;
        if groups.len() > u32::MAX as usize {
            return Err(corrupt(self.store, snap, "@meta", 0, "too many groups"));
        }

        // Uids of every group.
        // Row counts come from the file: reserve no more than the uid
        // chunks actually hold.
        let uid_chunks = self.chunks(meta, col::UID)?;
        let mut left = uid_chunks.iter().map(|c| c.len() as u64 / 8).sum::<u64>();
        let mut uids: Vec<Vec<Uid>> = groups
            .iter()
            .map(|g| {
                let n = g.rows.min(left);
                left -= n;
                Vec::with_capacity(n as usize)
            })
            .collect();
        for (i, bytes) in uid_chunks.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, snap, col::UID, i as u32, r);
            let chunk = parse(bytes).map_err(bad)?;
            let Layout::Uids { group, start } = chunk.layout else {
                return Err(bad("not a uid chunk".into()));
            };
            let g = uids
                .get_mut(group as usize)
                .ok_or_else(|| bad(format!("group {group} does not exist")))?;
            if g.len() != start as usize {
                return Err(bad(format!("rows from {start} follow {} rows", g.len())));
            }
            for raw in chunk.uids() {
                g.push(Uid::new(raw).ok_or_else(|| bad(format!("{raw} is not a valid uid")))?);
            }
        }
        for (gi, (g, u)) in groups.iter().zip(&uids).enumerate() {
            if u.len() as u64 != g.rows {
                return Err(corrupt(
                    self.store,
                    snap,
                    col::UID,
                    0,
                    format!("group {gi} has {} uids for {} rows", u.len(), g.rows),
                ));
            }
        }

        let t0 = std::time::Instant::now();
        // Every chunk of the groups' columns; headers are checked first.
        let mut names: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.components.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut raw: Vec<(usize, u32, Stored)> = Vec::new();
        let mut keyed: Vec<(&str, Vec<Stored>)> = Vec::new();
        for c in &meta.columns {
            if c.name.starts_with('@') {
                continue;
            }
            let chunks = self.chunks(meta, &c.name)?;
            if !registered(&c.name) {
                if self.unknown == Unknown::Keep {
                    self.keep_full(meta, &c.name, &chunks, &uids)?;
                }
                continue;
            }
            match names.iter().position(|n| *n == c.name) {
                Some(ni) => raw.extend(
                    chunks
                        .into_iter()
                        .enumerate()
                        .map(|(i, b)| (ni, i as u32, b)),
                ),
                None => keyed.push((c.name.as_str(), chunks)),
            }
        }
        let ops: Vec<(&dyn ColumnOps, ComponentId)> = names
            .iter()
            .map(|n| {
                self.column_ops(world, n)
                    .map_err(|r| corrupt(self.store, snap, n, 0, r))
            })
            .collect::<Result<_, _>>()?;
        let units = self.units(snap, groups, &names, &raw)?;
        // Columns stored at another version are migrated chunk by chunk.
        let upgrades: Vec<Option<(&dizzy_components::Registration, u32, Option<&str>)>> = names
            .iter()
            .map(|n| {
                let reg = self.registry.get(n)?;
                let s = meta.schemas.iter().find(|s| s.name == *n)?;
                (s.version != reg.version()).then_some((reg, s.version, s.shape.as_deref()))
            })
            .collect();
        let upgrades = &upgrades;
        tracing::debug!("restore: read {} chunks in {:?}", raw.len(), t0.elapsed());

        // Decode units on rayon's workers while this thread spawns them, in
        // order, as they arrive: decoding and spawning overlap, and the
        // decoded buffers are reused by the allocator unit after unit.
        let t0 = std::time::Instant::now();
        let uid_id = world.register_component::<Uid>();
        let declared: Vec<Option<(&dyn ArchetypeSpawner, Vec<usize>)>> = groups
            .iter()
            .map(|g| {
                let types: Vec<std::any::TypeId> = g
                    .components
                    .iter()
                    .map(|n| {
                        self.registry
                            .get(n)
                            .map_or_else(std::any::TypeId::of::<()>, |r| r.type_id())
                    })
                    .collect();
                self.registry.declared_archetype(&types)
            })
            .collect();
        let (tx, rx) = crossbeam_channel::unbounded::<(
            usize,
            Result<Vec<DecodedColumn>, (usize, u32, String)>,
        )>();
        let mut failure: Option<RestoreError> = None;
        let raw_ref = &raw;
        let ops_ref = &ops;
        rayon::in_place_scope(|scope| {
            for (ui, unit) in units.iter().enumerate() {
                let tx = tx.clone();
                scope.spawn(move |_| {
                    let decoded = unit
                        .columns
                        .iter()
                        .map(|pieces| {
                            let mut column: Option<DecodedColumn> = None;
                            for &p in pieces {
                                let (ni, ci, bytes) = &raw_ref[p];
                                let bad = |r: String| (*ni, *ci, r);
                                let chunk = parse(bytes).map_err(bad)?;
                                let rows = chunk.rows as usize;
                                let migrated;
                                let payload = match upgrades[*ni] {
                                    Some((reg, stored, shape)) => {
                                        migrated = reg
                                            .upgrade(stored, shape, chunk.payload, rows)
                                            .map_err(|e| bad(e.to_string()))?;
                                        &migrated[..]
                                    }
                                    None => chunk.payload,
                                };
                                let piece = ops_ref[*ni]
                                    .0
                                    .decode_column(payload, rows)
                                    .map_err(|e| bad(e.to_string()))?;
                                match &mut column {
                                    Some(c) => c.append(piece),
                                    None => column = Some(piece),
                                }
                            }
                            column.ok_or((0, 0, "an empty unit".to_owned()))
                        })
                        .collect();
                    let _ = tx.send((ui, decoded));
                });
            }
            drop(tx);
            // Decoded units, taken in order whatever order they arrive in.
            let mut ready = BTreeMap::new();
            let mut next = 0;
            let mut take = || loop {
                if let Some(result) = ready.remove(&next) {
                    next += 1;
                    return Some(result);
                }
                let (ui, result) = rx.recv().ok()?;
                ready.insert(ui, result);
            };
            let mut ui = 0;
            while ui < units.len() {
                let gi = units[ui].group;
                let count = units[ui..].iter().take_while(|u| u.group == gi).count();
                ui += count;
                if failure.is_some() {
                    continue;
                }
                let g = &groups[gi];
                let guids = &uids[gi][..];
                let mut columns_of = |result: Result<Vec<DecodedColumn>, (usize, u32, String)>| {
                    result
                        .map_err(|(ni, ci, reason)| {
                            failure = Some(corrupt(self.store, snap, names[ni], ci, reason));
                        })
                        .ok()
                };
                Uids::bulk(world, |world| match &declared[gi] {
                    // One batch for the whole group, fed unit by unit.
                    Some((spawner, order)) => {
                        let mut left = count;
                        let mut units = || {
                            if left == 0 {
                                return None;
                            }
                            left -= 1;
                            let columns = columns_of(take()?)?;
                            let mut slots: Vec<Option<DecodedColumn>> =
                                columns.into_iter().map(Some).collect();
                            Some(order.iter().filter_map(|&i| slots[i].take()).collect())
                        };
                        let entities = spawner.spawn(world, guids, &mut units);
                        // Units the batch did not need stay out of the next group.
                        for _ in 0..left {
                            take();
                        }
                        (guids[..entities.len()].to_vec(), entities)
                    }
                    None => {
                        let ids: Vec<ComponentId> = g
                            .components
                            .iter()
                            .map(|n| {
                                let ni = names.iter().position(|x| x == n).unwrap_or(0);
                                ops[ni].1
                            })
                            .collect();
                        let mut spawned_uids = Vec::new();
                        let mut entities = Vec::new();
                        for unit in &units[ui - count..ui] {
                            let Some(columns) = take().and_then(&mut columns_of) else {
                                break;
                            };
                            let guids = &guids[unit.start..unit.end];
                            let ids = ids.iter().copied().zip(columns).collect();
                            entities.extend(spawn_rows(world, uid_id, guids, ids));
                            spawned_uids.extend_from_slice(guids);
                        }
                        (spawned_uids, entities)
                    }
                });
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        drop(raw);
        tracing::debug!("restore: decoded and spawned in {:?}", t0.elapsed());
        let spawned: usize = uids.iter().map(Vec::len).sum();
        if world.resource::<Uids>().len() != spawned {
            return Err(corrupt(
                self.store,
                snap,
                col::UID,
                0,
                "a uid appears more than once",
            ));
        }

        tracing::debug!("restore: spawned in {:?}", t0.elapsed());
        // Sparse-set components: keyed rows.
        for (name, chunks) in keyed {
            self.apply_keyed(world, meta, name, &chunks)?;
        }
        // References, now that every entity exists.
        for c in meta
            .columns
            .iter()
            .filter(|c| c.has_refs && !c.name.starts_with('@'))
        {
            let (ops, id) = self
                .column_ops(world, &c.name)
                .map_err(|r| corrupt(self.store, snap, &c.name, 0, r))?;
            let tables: Vec<TableId> = world
                .storages()
                .tables
                .iter()
                .enumerate()
                .filter(|(_, t)| t.has_column(id))
                .map(|(i, _)| TableId::from_usize(i))
                .collect();
            // Table columns only: sparse-set values were resolved when their
            // keyed rows were inserted, and resolving them again would read
            // local entities as uids.
            let places: Vec<Place<'_>> =
                tables.iter().map(|&t| Place::Table(t, Rows::All)).collect();
            // Resolving changes values only, never uids: the index can be
            // taken out of the world meanwhile.
            world
                .resource_scope(|world, uids: bevy_ecs::world::Mut<Uids>| {
                    let lookup = |u: u64| uids.entity(u);
                    let policy = self
                        .registry
                        .get(&c.name)
                        .and_then(|r| r.refs())
                        .unwrap_or(self.refs);
                    let mut resolver = Resolver::new(&lookup, policy);
                    places
                        .iter()
                        .try_for_each(|&p| ops.resolve_refs(world, id, p, &mut resolver))
                })
                .map_err(|d| RestoreError::Dangling {
                    path: self.store.path().to_owned(),
                    snapshot: snap,
                    component: c.name.clone(),
                    holder: d.holder,
                    target: d.target,
                })?;
        }
        self.apply_resources(world, meta)
    }

    /// The payload of `rows` values of `name` at the registered version.
    fn upgraded<'p>(
        &self,
        meta: &SnapshotMeta,
        name: &str,
        payload: &'p [u8],
        rows: usize,
    ) -> Result<std::borrow::Cow<'p, [u8]>, String> {
        let (Some(reg), Some(s)) = (
            self.registry.get(name),
            meta.schemas.iter().find(|s| s.name == name),
        ) else {
            return Ok(std::borrow::Cow::Borrowed(payload));
        };
        if s.version == reg.version() {
            return Ok(std::borrow::Cow::Borrowed(payload));
        }
        reg.upgrade(s.version, s.shape.as_deref(), payload, rows)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| e.to_string())
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

    fn apply_keyed(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
        name: &str,
        chunks: &[Stored],
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        if self.registry.get(name).is_none() {
            if self.unknown == Unknown::Keep {
                let none: [Vec<Uid>; 0] = [];
                self.keep_full(meta, name, chunks, &none)?;
            }
            return Ok(());
        }
        let (ops, _) = self
            .column_ops(world, name)
            .map_err(|r| corrupt(self.store, snap, name, 0, r))?;
        for (ci, bytes) in chunks.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, snap, name, ci as u32, r);
            let chunk: Chunk<'_> = parse(bytes).map_err(bad)?;
            if chunk.layout != Layout::Keyed {
                return Err(bad("not a keyed chunk".into()));
            }
            let payload = self
                .upgraded(meta, name, chunk.payload, chunk.rows as usize)
                .map_err(bad)?;
            let targets: Vec<(u64, Entity)> = {
                let uids = world.resource::<Uids>();
                chunk
                    .uids()
                    .map(|uid| {
                        uids.entity(uid).map(|e| (uid, e)).ok_or_else(|| {
                            bad(format!("a value for uid {uid}, which does not exist"))
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            // Inserting a registered component never changes uids: the index
            // can be taken out of the world meanwhile.
            world
                .resource_scope(|world, uids: bevy_ecs::world::Mut<Uids>| {
                    let lookup = |u: u64| uids.entity(u);
                    let policy = self
                        .registry
                        .get(name)
                        .and_then(|r| r.refs())
                        .unwrap_or(self.refs);
                    let mut resolver = Resolver::new(&lookup, policy);
                    ops.decode_insert(world, &targets, &payload, &mut resolver)
                })
                .map_err(|e| match e {
                    ValueError::Dangling(d) => RestoreError::Dangling {
                        path: self.store.path().to_owned(),
                        snapshot: snap,
                        component: name.to_owned(),
                        holder: d.holder,
                        target: d.target,
                    },
                    other => bad(other.to_string()),
                })?;
        }
        Ok(())
    }

    fn apply_resources(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::RESOURCE))
        {
            let name = &c.name[col::RESOURCE.len()..];
            let bad = |r: String| corrupt(self.store, snap, &c.name, 0, r);
            let Some(ops) = self.registry.get(name).and_then(|r| r.resource()) else {
                if self.registry.get(name).is_none() && self.unknown != Unknown::Fail {
                    if self.unknown == Unknown::Keep {
                        let schema = self.kept_shape(meta, name)?.clone();
                        for bytes in self.chunks(meta, &c.name)? {
                            let chunk = parse(&bytes).map_err(bad)?;
                            self.kept.put_resource(&schema, chunk.payload.to_vec());
                        }
                    }
                    continue;
                }
                return Err(bad(format!("`{name}` is not a registered resource")));
            };
            for bytes in self.chunks(meta, &c.name)? {
                let chunk = parse(&bytes).map_err(bad)?;
                if chunk.layout != Layout::Keyed || chunk.rows != 1 {
                    return Err(bad("not a resource chunk".into()));
                }
                let payload = self.upgraded(meta, name, chunk.payload, 1).map_err(bad)?;
                world
                    .resource_scope(|world, uids: bevy_ecs::world::Mut<Uids>| {
                        let lookup = |u: u64| uids.entity(u);
                        let mut resolver = Resolver::new(&lookup, self.refs);
                        ops.decode_insert(world, &payload, &mut resolver)
                    })
                    .map_err(|e| match e {
                        ValueError::Dangling(d) => RestoreError::Dangling {
                            path: self.store.path().to_owned(),
                            snapshot: snap,
                            component: name.to_owned(),
                            holder: d.holder,
                            target: d.target,
                        },
                        other => bad(other.to_string()),
                    })?;
            }
        }
        for name in &meta.removed_resources {
            match self.registry.get(name).and_then(|r| r.resource()) {
                Some(ops) => ops.remove(world),
                None => self.kept.remove_resource(name),
            }
        }
        Ok(())
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

    fn apply_delta(&mut self, world: &mut World, meta: &SnapshotMeta) -> Result<(), RestoreError> {
        let snap = meta.id;
        for uid in self.uid_list(meta, col::DESPAWN)? {
            self.kept.despawn(uid);
            if let Some(e) = world.resource::<Uids>().entity(uid) {
                world.despawn(e);
            }
        }
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::REMOVE))
        {
            let name = &c.name[col::REMOVE.len()..];
            if self.registry.get(name).is_none() {
                for uid in self.uid_list(meta, &c.name)? {
                    self.kept.remove(name, uid);
                }
                continue;
            }
            let (ops, _) = self
                .column_ops(world, name)
                .map_err(|r| corrupt(self.store, snap, &c.name, 0, r))?;
            for uid in self.uid_list(meta, &c.name)? {
                if let Some(e) = world.resource::<Uids>().entity(uid) {
                    ops.remove(world, e);
                }
            }
        }
        for uid in self.uid_list(meta, col::SPAWN)? {
            let uid = Uid::new(uid).ok_or_else(|| {
                corrupt(
                    self.store,
                    snap,
                    col::SPAWN,
                    0,
                    format!("{uid} is not a valid uid"),
                )
            })?;
            if world.resource::<Uids>().entity(uid.get()).is_none() {
                world.spawn(uid);
            }
        }
        for c in meta.columns.iter().filter(|c| !c.name.starts_with('@')) {
            let chunks = self.chunks(meta, &c.name)?;
            self.apply_keyed(world, meta, &c.name, &chunks)?;
        }
        self.apply_resources(world, meta)
    }
}
