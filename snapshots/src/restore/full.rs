//! Restoring a full snapshot: uids, then every group decoded on rayon's
//! workers while this thread spawns it, then references and resources.

use std::collections::BTreeMap;

use bevy_ecs::component::ComponentId;
use bevy_ecs::storage::TableId;
use bevy_ecs::world::World;
use dizzy_components::{
    ArchetypeSpawner, ColumnOps, DecodedColumn, Place, Resolver, Rows, Uid, Uids, spawn_rows,
};

use crate::error::RestoreError;
use crate::format::{GroupMeta, Layout, SnapshotMeta, col, parse};
use crate::store::Stored;

use super::*;

impl Ctx<'_> {
    /// Checks every chunk header and cuts each group into units: the rows
    /// between places where every column of the group starts a chunk.
    pub(super) fn units(
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

    pub(super) fn apply_full(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
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
        // Where the time goes, for `DIZZY_LOG=debug`: decoding (summed over
        // workers) and this thread waiting for decoded units.
        let decode_ns = std::sync::atomic::AtomicU64::new(0);
        let decode_ns = &decode_ns;
        let mut waited = std::time::Duration::ZERO;
        // Units are claimed in order by the decoders (the cores this thread
        // leaves free) and by this thread itself whenever the next unit it
        // must spawn is not decoded yet: spawning and decoding share the
        // cores without oversubscribing them.
        let claimed = std::sync::atomic::AtomicUsize::new(0);
        let claimed = &claimed;
        let units_ref = &units;
        let decode_unit = |unit: &Unit| -> Result<Vec<DecodedColumn>, (usize, u32, String)> {
            let started = std::time::Instant::now();
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
            decode_ns.fetch_add(
                started.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            decoded
        };
        let decode_unit = &decode_unit;
        let claim = || {
            let ui = claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            units_ref.get(ui).map(|unit| (ui, unit))
        };
        let decoders = rayon::current_num_threads()
            .saturating_sub(1)
            .clamp(1, units.len().max(1));
        rayon::in_place_scope(|scope| {
            for _ in 0..decoders {
                let tx = tx.clone();
                scope.spawn(move |_| {
                    while let Some((ui, unit)) = claim() {
                        if tx.send((ui, decode_unit(unit))).is_err() {
                            break;
                        }
                    }
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
                if let Ok((ui, result)) = rx.try_recv() {
                    ready.insert(ui, result);
                    continue;
                }
                // Not decoded yet: decode the next unclaimed unit here. Once
                // every unit is claimed, the rest are being decoded by running
                // decoders, so waiting for them cannot deadlock.
                if let Some((ui, unit)) = claim() {
                    ready.insert(ui, decode_unit(unit));
                    continue;
                }
                let t = std::time::Instant::now();
                let received = rx.recv();
                waited += t.elapsed();
                let (ui, result) = received.ok()?;
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
        tracing::debug!(
            "restore: decoded and spawned in {:?} (decoding {:?} summed over threads, waiting for decoders {:?})",
            t0.elapsed(),
            std::time::Duration::from_nanos(decode_ns.load(std::sync::atomic::Ordering::Relaxed)),
            waited
        );
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
        // References, now that every entity exists. (Kept values of
        // unregistered types keep their references as the uids they are.)
        for c in meta
            .columns
            .iter()
            .filter(|c| c.has_refs && !c.name.starts_with('@') && registered(&c.name))
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
                .map_err(|d| dangling(self.store, snap, &c.name, d))?;
        }
        self.apply_resources(world, meta)
    }
}
