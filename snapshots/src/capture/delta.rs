//! A delta capture: values changed since the previous capture (change
//! ticks), plus removed components and despawned entities (the journal).

use std::collections::BTreeSet;

use bevy_ecs::change_detection::Tick;
use bevy_ecs::component::{ComponentId, StorageType};
use bevy_ecs::entity::Entity;
use bevy_ecs::storage::TableId;
use bevy_ecs::world::World;
use dizzy_components::{
    Journal, Place, RefEncoder, RefPolicy, Registry, Rows, Uid, Uids, ValueError,
};
use rayon::prelude::*;

use crate::detect::ScannedRows;
use crate::error::CaptureError;
use crate::format::{SnapshotKind, SnapshotMeta, col};
use crate::kept::Kept;

use super::encode::{
    Col, Columns, Encoded, check_kept, columns, keyed_chunks, newer_rows, sparse_entities,
    tables_with, uid_at, uid_chunks, uids_of, write_kept,
};
use super::{Capturer, ChunkData};

impl Capturer {
    pub(super) fn delta(
        &mut self,
        world: &mut World,
        registry: &Registry,
        since: Tick,
        now: Tick,
        spawns: bool,
    ) -> Result<(SnapshotMeta, Vec<ChunkData>), CaptureError> {
        let target = self.settings.chunk_target();
        // Kept values naming an entity despawned since the previous capture
        // are refused, or written again with the reference dropped.
        let (departed, removed) = world.resource::<Journal>().peek();
        let kept = if departed.is_empty() {
            Vec::new()
        } else {
            check_kept(world, self.settings.refs)?
        };
        let uid_id = world.register_component::<Uid>();
        let cols = columns(world, registry);
        let mut out = Columns::default();
        let t0 = std::time::Instant::now();

        // One parallel pass over the change ticks, in slices of rows: the
        // uid column's *added* ticks (entities that appeared; only when an
        // entity got a uid since the previous capture, `spawns`) and every
        // table column's *changed* ticks (values written).
        let tables: Vec<TableId> = tables_with(world, uid_id).map(|(tid, _)| tid).collect();
        let (spawned, mut changed) = scan(world, &cols, &tables, uid_id, spawns, since, now);
        // An entity despawned since the previous capture may still be named
        // by a value that did not change: a delta holding only changed
        // values would leave that reference dead in the restored world.
        // Such a value is refused as a full capture refuses it, or (policy
        // `Drop`) written again with the reference dropped.
        let rewrite = if departed.is_empty() {
            Vec::new()
        } else {
            self.dangling_columns(world, &cols, &tables, uid_id)?
        };
        for &i in &rewrite {
            changed.retain(|(j, _)| *j != i);
            let c = &cols[i];
            for &tid in &tables {
                if let Some(t) = world.storages().tables.get(tid)
                    && c.ops.storage() == StorageType::Table
                    && t.has_column(c.id)
                {
                    // Every row, without uids or ticks read ahead: the
                    // encoder reads the uids, and the change-detection
                    // record scans this column itself.
                    let rows = (0..t.entity_count()).collect();
                    changed.push((i, ScannedRows::bare(c.id, tid, rows)));
                }
            }
        }
        lifecycle_chunks(
            world, &cols, &departed, &spawned, &removed, target, &mut out,
        );
        tracing::debug!("delta: spawns and removals in {:?}", t0.elapsed());
        let sparse = sparse_changed(world, &cols, uid_id, &rewrite, since, now);
        tracing::debug!("delta: change scan in {:?}", t0.elapsed());
        self.encode_changed(world, &cols, &changed, &sparse, uid_id, &mut out)?;
        tracing::debug!("delta: encoded in {:?}", t0.elapsed());
        // The change-detection record of this capture looks at these rows,
        // uids and ticks rather than at the world again.
        self.scanned = Some(crate::detect::Scanned {
            since,
            columns: cols
                .iter()
                .enumerate()
                .filter(|(i, _)| !rewrite.contains(i))
                .map(|(_, c)| c.id)
                .collect(),
            rows: changed
                .into_iter()
                .filter(|(i, _)| !rewrite.contains(i))
                .map(|(_, r)| r)
                .collect(),
        });
        if !kept.is_empty()
            && let Some(k) = world.get_resource::<Kept>()
        {
            if let Some((component, schemas)) = k.mixed(Some(&kept)) {
                return Err(CaptureError::KeptMixed { component, schemas });
            }
            write_kept(k, world.resource::<Uids>(), target, &mut out, Some(&kept));
        }
        let mut meta = Self::empty_meta(SnapshotKind::Delta);
        self.encode_resources(world, registry, &mut out, Some((since, now)))?;
        super::order::encode_orders(world, registry, &mut out, Some((since, now)))?;
        let present: BTreeSet<String> = registry
            .iter()
            .filter(|r| r.resource().is_some_and(|o| o.exists(world)))
            .map(|r| r.name().to_owned())
            .collect();
        meta.removed_resources = self.resources.difference(&present).cloned().collect();
        self.resources = present;
        meta.bytes = out.bytes();
        meta.columns = out.meta;
        Ok((meta, out.chunks))
    }
}

impl Capturer {
    /// The columns (by index in `cols`) with a value that references an
    /// entity that no longer exists, under policy `Drop`: every value of
    /// them is written again. Under policy `Fail` such a value is an error,
    /// as in a full capture. Only columns whose type can hold references
    /// are read, and only when entities were despawned since the previous
    /// capture.
    fn dangling_columns(
        &self,
        world: &World,
        cols: &[Col<'_>],
        tables: &[TableId],
        uid_id: ComponentId,
    ) -> Result<Vec<usize>, CaptureError> {
        let mut out = Vec::new();
        for (i, c) in cols.iter().enumerate() {
            let Some(encoder) = c.encoder(world, self.settings.refs) else {
                continue;
            };
            let drop = c.reg.refs().unwrap_or(self.settings.refs) == RefPolicy::Drop;
            let strict = encoder.with_policy(RefPolicy::Fail);
            let sparse;
            let places: Vec<Place<'_>> = if c.ops.storage() == StorageType::SparseSet {
                sparse = sparse_entities(world, uid_id, c.id);
                vec![Place::Entities(&sparse)]
            } else {
                tables
                    .iter()
                    .filter(|&&tid| {
                        world
                            .storages()
                            .tables
                            .get(tid)
                            .is_some_and(|t| t.has_column(c.id))
                    })
                    .map(|&tid| Place::Table(tid, Rows::All))
                    .collect()
            };
            // Only the check is wanted: each chunk's buffer goes back for
            // the next capture (dropped, it would be a kept buffer lost and
            // a lent one never returned).
            let found = places.par_iter().try_for_each(|&p| {
                c.ops
                    .encode_chunked(world, p, 1 << 20, 0, 0, 0, Some(&strict), &mut |b, _| {
                        dizzy_components::buffers::recycle(b);
                    })
            });
            match found {
                Ok(()) => {}
                Err(ValueError::Dangling(_)) if drop => out.push(i),
                Err(e) => return Err(c.error(e)),
            }
        }
        Ok(out)
    }
}

impl Capturer {
    /// Encodes the changed values (table rows and sparse-set entities) of
    /// every column as keyed chunks, in parallel pieces of at most
    /// [`ENCODE_ROWS`] rows, so that every core gets a share even when few
    /// columns changed; pieces of one column come back in order.
    fn encode_changed(
        &self,
        read: &World,
        cols: &[Col<'_>],
        changed: &[(usize, ScannedRows)],
        sparse: &[(usize, Vec<Entity>)],
        uid_id: ComponentId,
        out: &mut Columns,
    ) -> Result<(), CaptureError> {
        let target = self.settings.chunk_target();
        // Per column: its places, each with the uids of its rows when the
        // scan read them.
        type Placed<'a> = (Place<'a>, Option<&'a [u64]>);
        let places: Vec<(&Col<'_>, Vec<Placed<'_>>)> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p: Vec<Placed<'_>> = changed
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .map(|(_, r)| {
                        let uids = (r.uids.len() == r.rows.len()).then_some(&r.uids[..]);
                        (Place::Table(r.table, Rows::Only(&r.rows)), uids)
                    })
                    .collect();
                p.extend(
                    sparse
                        .iter()
                        .filter(|(j, _)| *j == i)
                        .map(|(_, e)| (Place::Entities(e), None)),
                );
                (c, p)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let jobs: Vec<(usize, Placed<'_>)> = places
            .iter()
            .enumerate()
            .flat_map(|(pi, (_, ps))| {
                ps.iter().flat_map(move |&(p, uids)| match (p, uids) {
                    (Place::Table(tid, Rows::Only(rows)), Some(uids)) => rows
                        .chunks(ENCODE_ROWS)
                        .zip(uids.chunks(ENCODE_ROWS))
                        .map(|(piece, u)| (pi, (Place::Table(tid, Rows::Only(piece)), Some(u))))
                        .collect::<Vec<_>>(),
                    (Place::Table(tid, Rows::Only(rows)), None) => rows
                        .chunks(ENCODE_ROWS)
                        .map(|piece| (pi, (Place::Table(tid, Rows::Only(piece)), None)))
                        .collect::<Vec<_>>(),
                    _ => vec![(pi, (p, uids))],
                })
            })
            .collect();
        let encoders: Vec<Option<RefEncoder<'_>>> = places
            .iter()
            .map(|(c, _)| c.encoder(read, self.settings.refs))
            .collect();
        let encoded: Result<Vec<(usize, Encoded)>, CaptureError> = jobs
            .par_iter()
            .map(|&(pi, (p, known))| {
                let read_uids: Vec<u64>;
                let uids: &[u64] = match (p, known) {
                    (_, Some(u)) => u,
                    (Place::Table(tid, Rows::Only(rows)), None) => {
                        let t = read.storages().tables.get(tid);
                        let u = t.map(|t| uids_of(t, uid_id)).unwrap_or(&[]);
                        read_uids = rows.iter().map(|&r| uid_at(u, r as usize)).collect();
                        &read_uids
                    }
                    (Place::Entities(es), None) => {
                        read_uids = es
                            .iter()
                            .map(|&e| read.get::<Uid>(e).map_or(0, |u| u.get()))
                            .collect();
                        &read_uids
                    }
                    (Place::Table(..), None) => &[],
                };
                let refs = encoders[pi].as_ref();
                Ok((pi, keyed_chunks(read, places[pi].0, p, uids, target, refs)?))
            })
            .collect();
        let has_refs: Vec<bool> = encoders
            .iter()
            .map(|e| e.as_ref().is_some_and(RefEncoder::saw_references))
            .collect();
        for (pi, chunks) in encoded? {
            let name = places[pi].0.reg.name();
            for (rows, bytes) in chunks {
                out.push(name, rows, bytes);
            }
            if has_refs[pi] {
                out.mark_refs(name);
            }
        }
        Ok(())
    }
}

/// The uid chunks of a delta's lifecycle: entities despawned and spawned
/// since the previous capture, and, per column, the entities that lost the
/// component (and still live without it).
fn lifecycle_chunks(
    world: &World,
    cols: &[Col<'_>],
    departed: &[u64],
    spawned: &[u64],
    removed: &[(ComponentId, u64)],
    target: usize,
    out: &mut Columns,
) {
    let mut buf = Vec::new();
    let mut push = |name: &str, uids: &mut dyn Iterator<Item = u64>, out: &mut Columns| {
        uid_chunks(uids, (0, 0), target, &mut buf);
        for (rows, c) in buf.drain(..) {
            out.push(name, rows, c);
        }
    };
    if !departed.is_empty() {
        push(col::DESPAWN, &mut departed.iter().copied(), out);
    }
    if !spawned.is_empty() {
        push(col::SPAWN, &mut spawned.iter().copied(), out);
    }
    let uids = world.resource::<Uids>();
    for c in cols {
        let gone: Vec<u64> = removed
            .iter()
            .filter(|(id, uid)| {
                *id == c.id
                    && uids
                        .entity(*uid)
                        .is_some_and(|e| !world.entity(e).contains_id(c.id))
            })
            .map(|(_, uid)| *uid)
            .collect();
        if !gone.is_empty() {
            let name = format!("{}{}", col::REMOVE, c.reg.name());
            push(&name, &mut gone.into_iter(), out);
        }
    }
}

/// For each sparse-set column, the entities whose value changed in
/// `(since, now]` (every holder for a column in `rewrite`).
fn sparse_changed(
    read: &World,
    cols: &[Col<'_>],
    uid_id: ComponentId,
    rewrite: &[usize],
    since: Tick,
    now: Tick,
) -> Vec<(usize, Vec<Entity>)> {
    cols.iter()
        .enumerate()
        .filter(|(_, c)| c.ops.storage() == StorageType::SparseSet)
        .map(|(i, c)| {
            let all = rewrite.contains(&i);
            let es: Vec<Entity> = sparse_entities(read, uid_id, c.id)
                .into_iter()
                .filter(|&e| {
                    all || read
                        .entity(e)
                        .get_change_ticks_by_id(c.id)
                        .is_some_and(|t| t.is_changed(since, now))
                })
                .collect();
            (i, es)
        })
        .filter(|(_, e)| !e.is_empty())
        .collect()
}

/// `read` at each of `rows` (scattered), asking the cache a few rows ahead
/// for what `ahead` points at.
fn gather<'a, T, P: 'a>(
    rows: &[u32],
    ahead: impl Fn(usize) -> Option<&'a P>,
    read: impl Fn(usize) -> T,
) -> Vec<T> {
    const AHEAD: usize = 8;
    let mut out = Vec::with_capacity(rows.len());
    for (i, &r) in rows.iter().enumerate() {
        if let Some(&next) = rows.get(i + AHEAD) {
            dizzy_components::prefetch(ahead(next as usize).map(std::ptr::from_ref));
        }
        out.push(read(r as usize));
    }
    out
}

/// Changed rows per encoding task.
const ENCODE_ROWS: usize = 4096;

/// Rows per scanning task: small enough to spread a column over every core.
const SCAN_ROWS: usize = 1 << 17;

/// Uids of the entities that appeared in `(since, now]` (none looked for
/// unless `spawns`), and for each table column (by index in `cols`) and
/// table, the rows changed in that window, with the uid and change ticks of
/// each, read while the scan is at them.
fn scan(
    world: &World,
    cols: &[Col<'_>],
    tables: &[TableId],
    uid_id: ComponentId,
    spawns: bool,
    since: Tick,
    now: Tick,
) -> (Vec<u64>, Vec<(usize, ScannedRows)>) {
    // (column index, or None for the uid column's added ticks; table; first row)
    let mut tasks: Vec<(Option<usize>, ComponentId, TableId, usize)> = Vec::new();
    for &tid in tables {
        let Some(t) = world.storages().tables.get(tid) else {
            continue;
        };
        let rows = t.entity_count() as usize;
        let columns = spawns.then_some((None, uid_id)).into_iter().chain(
            cols.iter()
                .enumerate()
                .filter(|(_, c)| c.ops.storage() == StorageType::Table && t.has_column(c.id))
                .map(|(i, c)| (Some(i), c.id)),
        );
        for (i, id) in columns {
            tasks.extend(
                (0..rows)
                    .step_by(SCAN_ROWS)
                    .map(|start| (i, id, tid, start)),
            );
        }
    }
    let found: Vec<(Option<usize>, ScannedRows)> = tasks
        .into_par_iter()
        .filter_map(|(i, id, tid, start)| {
            let t = world.storages().tables.get(tid)?;
            let ticks = match i {
                None => t.get_added_ticks_slice_for(id)?,
                Some(_) => t.get_changed_ticks_slice_for(id)?,
            };
            let end = (start + SCAN_ROWS).min(ticks.len());
            let mut rows = Vec::new();
            newer_rows(ticks.get(start..end)?, since, now, &mut rows);
            if rows.is_empty() {
                return None;
            }
            let offset = start as u32;
            rows.iter_mut().for_each(|r| *r += offset);
            let column_uids = uids_of(t, uid_id);
            let uids = gather(&rows, |r| column_uids.get(r), |r| uid_at(column_uids, r));
            let ticks = match i {
                None => Vec::new(),
                Some(_) => {
                    let added = t.get_added_ticks_slice_for(id).unwrap_or(&[]);
                    // SAFETY: ticks are read between ticks (`&World`), no
                    // writer: the same reads as `newer_rows`.
                    let tick = |s: &[std::cell::UnsafeCell<Tick>], r: usize| {
                        s.get(r).map_or(Tick::new(0), |c| unsafe { *c.get() })
                    };
                    // The changed ticks were just scanned (in the cache); the
                    // added ticks are read at scattered rows.
                    gather(
                        &rows,
                        |r| added.get(r),
                        |r| (tick(ticks, r), tick(added, r)),
                    )
                }
            };
            let found = ScannedRows {
                id,
                table: tid,
                rows,
                uids,
                ticks,
            };
            Some((i, found))
        })
        .collect();
    // Tasks come back in order: pieces of one (column, table) are adjacent.
    let mut spawned = Vec::new();
    let mut changed: Vec<(usize, ScannedRows)> = Vec::new();
    for (i, found) in found {
        match i {
            None => spawned.extend(found.uids),
            Some(i) => match changed.last_mut() {
                Some((j, all)) if *j == i && all.table == found.table => {
                    all.rows.extend(found.rows);
                    all.uids.extend(found.uids);
                    all.ticks.extend(found.ticks);
                }
                _ => changed.push((i, found)),
            },
        }
    }
    (spawned, changed)
}
