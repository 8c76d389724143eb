//! Capturing a snapshot from a world, between ticks, on the world's thread.
//!
//! A capture encodes what is to be written into memory ([`Capture`]); the
//! commit to redb happens elsewhere (see [`crate::Writer`]), so the world
//! waits only for encoding. A full capture encodes every registered column
//! straight from bevy's tables, in parallel; a delta encodes only what changed
//! since the previous capture (bevy's change ticks) plus what the
//! [`Journal`] recorded as removed or despawned.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use bevy_ecs::change_detection::{CHECK_TICK_THRESHOLD, Tick};
use bevy_ecs::component::{ComponentId, StorageType};
use bevy_ecs::entity::Entity;
use bevy_ecs::storage::{Table, TableId};
use bevy_ecs::world::World;
use dizzy_components::{
    ColumnOps, Journal, Place, RefLog, RefPolicy, Registration, Registry, Rows, Uid, Uids,
};
use rayon::prelude::*;

use crate::error::CaptureError;
use crate::format::{
    ColumnMeta, GroupMeta, HEADER, Layout, Schema, SnapshotKind, SnapshotMeta, col, header,
};
use crate::kept::Kept;

/// One encoded chunk, ready to be written.
#[derive(Debug)]
pub struct ChunkData {
    /// The column's name.
    pub column: String,
    /// The chunk's number within its column.
    pub index: u32,
    /// The framed bytes.
    pub bytes: Vec<u8>,
}

/// A snapshot encoded in memory, not yet written.
#[derive(Debug)]
pub struct Capture {
    /// Its record.
    pub meta: SnapshotMeta,
    /// Its chunks.
    pub chunks: Vec<ChunkData>,
}

/// When to write a full snapshot instead of a delta, and how to encode.
#[derive(Clone, Debug)]
pub struct CaptureSettings {
    /// Target size of a chunk, in bytes: a chunk ends at the first value
    /// that reaches it (so it holds at least one value).
    pub chunk_bytes: usize,
    /// Dangling references: fail (default) or drop.
    pub refs: RefPolicy,
    /// A full snapshot is written after this many deltas in a chain.
    pub max_chain: u32,
    /// ...or when the chain's deltas together reach this fraction of the
    /// full snapshot's bytes.
    pub max_chain_ratio: f64,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            // Just under 1 MiB, so that a chunk and its page header fit redb's
            // 1 MiB allocation order instead of spilling into 2 MiB.
            chunk_bytes: (1 << 20) - (32 << 10),
            refs: RefPolicy::Fail,
            max_chain: 100,
            max_chain_ratio: 1.0,
        }
    }
}

#[derive(Clone, Debug)]
struct Base {
    /// Change tick of the last capture: a delta holds what is newer.
    since: Tick,
    /// The snapshot the next delta applies to.
    id: u64,
    chain_len: u32,
    chain_bytes: u64,
    full_bytes: u64,
}

/// Whether to write a delta when possible or a full snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A delta if there is a base and the chain is short enough; else full.
    Auto,
    /// A full snapshot.
    Full,
}

/// The capture state of one world: what the next delta is relative to.
#[derive(Debug)]
pub struct Capturer {
    settings: CaptureSettings,
    base: Option<Base>,
    next_id: u64,
    resources: BTreeSet<String>,
    app: String,
}

/// Gives a uid to every entity that has a registered component but no uid
/// yet; returns how many got one.
pub fn assign_uids(world: &mut World, registry: &Registry) -> usize {
    let Some(uid_id) = world.component_id::<Uid>() else {
        return 0;
    };
    let ids: Vec<ComponentId> = registry
        .iter()
        .filter_map(|r| r.column().and_then(|c| c.component_id(world)))
        .collect();
    let mut pending: Vec<Entity> = Vec::new();
    for arch in world.archetypes().iter() {
        if arch.is_empty() || arch.contains(uid_id) {
            continue;
        }
        if ids.iter().any(|&id| arch.contains(id)) {
            pending.extend(arch.entities().iter().map(|e| e.id()));
        }
    }
    if pending.is_empty() {
        return 0;
    }
    let n = pending.len();
    let uids = world.resource_mut::<Uids>().allocate_many(n);
    world.insert_batch(pending.into_iter().zip(uids));
    n
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn tables_with<'w>(
    world: &'w World,
    uid_id: ComponentId,
) -> impl Iterator<Item = (TableId, &'w Table)> + 'w {
    world
        .storages()
        .tables
        .iter()
        .enumerate()
        .filter(move |(_, t)| !t.is_empty() && t.has_column(uid_id))
        .map(|(i, t)| (TableId::from_usize(i), t))
}

/// Entities with a uid and sparse-set component `id`.
fn sparse_entities(world: &World, uid_id: ComponentId, id: ComponentId) -> Vec<Entity> {
    world
        .archetypes()
        .iter()
        .filter(|a| a.contains(uid_id) && a.contains(id))
        .flat_map(|a| a.entities().iter().map(|e| e.id()))
        .collect()
}

fn uids_of(table: &Table, uid_id: ComponentId) -> &[std::cell::UnsafeCell<Uid>] {
    // SAFETY: `uid_id` is `Uid`'s id; read between ticks, no writer.
    unsafe { table.get_data_slice_for::<Uid>(uid_id) }.unwrap_or(&[])
}

fn uid_at(uids: &[std::cell::UnsafeCell<Uid>], row: usize) -> u64 {
    // SAFETY: see `uids_of`.
    uids.get(row).map_or(0, |c| unsafe { (*c.get()).get() })
}

/// A registered component as present in this world.
struct Col<'r> {
    reg: &'r Registration,
    ops: &'r dyn ColumnOps,
    id: ComponentId,
}

fn columns<'r>(world: &World, registry: &'r Registry) -> Vec<Col<'r>> {
    registry
        .iter()
        .filter_map(|reg| {
            let ops = reg.column()?;
            Some(Col {
                reg,
                ops,
                id: ops.component_id(world)?,
            })
        })
        .collect()
}

/// Swaps references for uid placeholders on every column; undone by
/// [`unswap`]. On error, what was swapped is put back.
fn swap<'a>(
    world: &mut World,
    cols: &[(&Col<'_>, Vec<Place<'a>>)],
    policy: RefPolicy,
) -> Result<Vec<RefLog>, CaptureError> {
    let mut logs = Vec::with_capacity(cols.len());
    for (c, places) in cols {
        match c
            .ops
            .to_placeholders(world, c.id, places, c.reg.refs().unwrap_or(policy))
        {
            Ok(log) => logs.push(log),
            Err(d) => {
                unswap(world, &cols[..logs.len()], logs);
                return Err(CaptureError::Dangling {
                    component: c.reg.name().to_owned(),
                    holder: d.holder,
                    target: d.target,
                });
            }
        }
    }
    Ok(logs)
}

fn unswap(world: &mut World, cols: &[(&Col<'_>, Vec<Place<'_>>)], logs: Vec<RefLog>) {
    for ((c, places), log) in cols.iter().zip(logs) {
        c.ops.restore_refs(world, c.id, places, log);
    }
}

/// Appends the rows whose tick is newer than `since` (seen at `now`), as
/// `Tick::is_newer_than` decides, in blocks of 64 that the compiler turns
/// into vector compares: a delta scans every row of every column, so this
/// loop is most of a delta's cost.
///
/// The capturer writes a full snapshot long before `since` could age past
/// `CHECK_TICK_THRESHOLD`, so `horizon` is small; a tick older than
/// `MAX_CHANGE_AGE` (not clamped yet) has an age above it either way, so
/// bevy's clamping of both ages changes nothing here.
fn newer_rows(ticks: &[std::cell::UnsafeCell<Tick>], since: Tick, now: Tick, out: &mut Vec<u32>) {
    let n = now.get();
    let horizon = n.wrapping_sub(since.get());
    debug_assert!(horizon < CHECK_TICK_THRESHOLD);
    for (block, chunk) in ticks.chunks(64).enumerate() {
        let mut mask = 0u64;
        for (i, t) in chunk.iter().enumerate() {
            // SAFETY: ticks are read between ticks, no writer.
            let age = n.wrapping_sub(unsafe { *t.get() }.get());
            mask |= u64::from(age < horizon) << i;
        }
        while mask != 0 {
            let i = mask.trailing_zeros();
            out.push((block * 64) as u32 + i);
            mask &= mask - 1;
        }
    }
}

/// Encoded chunks of one column: (rows, framed bytes) each.
type Encoded = Vec<(u64, Vec<u8>)>;

/// Collects chunks per column and numbers them.
#[derive(Default)]
struct Columns {
    meta: Vec<ColumnMeta>,
    chunks: Vec<ChunkData>,
}

impl Columns {
    fn push(&mut self, column: &str, rows: u64, bytes: Vec<u8>) {
        let i = match self.meta.iter().position(|c| c.name == column) {
            Some(i) => i,
            None => {
                self.meta.push(ColumnMeta {
                    name: column.to_owned(),
                    chunks: 0,
                    rows: 0,
                    bytes: 0,
                    has_refs: false,
                });
                self.meta.len() - 1
            }
        };
        let m = &mut self.meta[i];
        m.rows += rows;
        m.bytes += bytes.len() as u64;
        self.chunks.push(ChunkData {
            column: column.to_owned(),
            index: m.chunks,
            bytes,
        });
        m.chunks += 1;
    }

    fn mark_refs(&mut self, column: &str) {
        if let Some(m) = self.meta.iter_mut().find(|c| c.name == column) {
            m.has_refs = true;
        }
    }

    fn bytes(&self) -> u64 {
        self.meta.iter().map(|c| c.bytes).sum()
    }
}

/// Frames uids as `Uids` chunks; `at` is (group, first row) for full snapshots.
fn uid_chunks(
    uids: impl Iterator<Item = u64>,
    at: (u32, u32),
    target: usize,
    out: &mut Vec<Vec<u8>>,
) {
    let per = (target / 8).max(1);
    let mut buf = Vec::new();
    let mut n = 0u32;
    let (group, mut start) = at;
    for uid in uids {
        if n == 0 {
            buf = Vec::with_capacity(HEADER + per * 8);
            buf.resize(HEADER, 0);
        }
        buf.extend_from_slice(&uid.to_le_bytes());
        n += 1;
        if n as usize == per {
            finish(&mut buf, Layout::Uids { group, start }, n);
            out.push(std::mem::take(&mut buf));
            start += n;
            n = 0;
        }
    }
    if n > 0 {
        finish(&mut buf, Layout::Uids { group, start }, n);
        out.push(buf);
    }
}

/// Writes the header into the `HEADER` bytes reserved at the front.
fn finish(buf: &mut [u8], layout: Layout, rows: u32) {
    let mut h = Vec::with_capacity(HEADER);
    header(&mut h, layout, rows);
    buf[..HEADER].copy_from_slice(&h);
}

/// Writes what a [`Kept`] holds (values of unregistered types), byte for
/// byte, for the entities still alive.
fn write_kept(kept: &Kept, uids: &Uids, target: usize, out: &mut Columns) {
    for (name, rows) in kept.component_values() {
        let mut buf = vec![0u8; HEADER];
        let mut owners: Vec<u64> = Vec::new();
        let mut flush = |buf: &mut Vec<u8>, owners: &mut Vec<u64>| {
            if owners.is_empty() {
                return;
            }
            for u in owners.iter() {
                buf.extend_from_slice(&u.to_le_bytes());
            }
            finish(buf, Layout::Keyed, owners.len() as u32);
            out.push(
                name,
                owners.len() as u64,
                std::mem::replace(buf, vec![0u8; HEADER]),
            );
            owners.clear();
        };
        for (uid, bytes) in rows.into_iter().filter(|(u, _)| uids.entity(*u).is_some()) {
            buf.extend_from_slice(bytes);
            owners.push(uid);
            if buf.len() - HEADER >= target {
                flush(&mut buf, &mut owners);
            }
        }
        flush(&mut buf, &mut owners);
    }
    for (name, bytes) in kept.resource_values() {
        let mut buf = vec![0u8; HEADER];
        buf.extend_from_slice(bytes);
        buf.extend_from_slice(&0u64.to_le_bytes());
        finish(&mut buf, Layout::Keyed, 1);
        out.push(&format!("{}{}", col::RESOURCE, name), 1, buf);
    }
}

/// Encodes `place` of one column as keyed chunks (values, then uids).
fn keyed_chunks(
    world: &World,
    c: &Col<'_>,
    place: Place<'_>,
    uids: &[u64],
    target: usize,
) -> Result<Encoded, CaptureError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    c.ops
        .encode_chunked(world, c.id, place, target, HEADER, &mut |mut buf, rows| {
            for &u in &uids[at..at + rows] {
                buf.extend_from_slice(&u.to_le_bytes());
            }
            at += rows;
            finish(&mut buf, Layout::Keyed, rows as u32);
            out.push((rows as u64, buf));
        })
        .map_err(|source| CaptureError::Codec {
            component: c.reg.name().to_owned(),
            source,
        })?;
    Ok(out)
}

impl Capturer {
    /// A capturer whose first snapshot will get id `next_id`.
    pub fn new(settings: CaptureSettings, next_id: u64) -> Self {
        Capturer {
            settings,
            base: None,
            next_id,
            resources: BTreeSet::new(),
            app: String::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CaptureSettings {
        &self.settings
    }

    /// Sets the app description recorded in every snapshot (JSON text).
    pub fn set_app(&mut self, app: String) {
        self.app = app;
    }

    /// The id the next capture will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// After restoring `meta` into `world`: the next delta applies to it.
    /// Clears the journal (restoring despawns things too).
    pub fn resume(
        &mut self,
        world: &mut World,
        registry: &Registry,
        meta: &SnapshotMeta,
        chain: &[SnapshotMeta],
    ) {
        let full_bytes = chain.first().map_or(meta.bytes, |m| m.bytes);
        let chain_bytes = chain.iter().skip(1).map(|m| m.bytes).sum();
        self.base = Some(Base {
            since: world.increment_change_tick(),
            id: meta.id,
            chain_len: chain.len().saturating_sub(1) as u32,
            chain_bytes,
            full_bytes,
        });
        self.next_id = self.next_id.max(meta.id + 1);
        self.resources = registry
            .iter()
            .filter(|r| r.resource().is_some_and(|o| o.exists(world)))
            .map(|r| r.name().to_owned())
            .collect();
        if let Some(mut j) = world.get_resource_mut::<Journal>() {
            j.clear();
        }
    }

    /// Forgets the base: the next capture is full (after a failed write).
    pub fn reset(&mut self) {
        self.base = None;
    }

    /// Whether the next `Want::Auto` capture would be a delta.
    pub fn has_base(&self) -> bool {
        self.base.is_some()
    }

    /// Captures a snapshot of `world` after engine tick `tick`.
    pub fn capture(
        &mut self,
        world: &mut World,
        registry: &Registry,
        tick: u64,
        want: Want,
    ) -> Result<Capture, CaptureError> {
        assign_uids(world, registry);
        let now = world.increment_change_tick();
        let delta_base = match (&self.base, want) {
            (Some(b), Want::Auto)
                if b.chain_len < self.settings.max_chain
                    && (b.chain_bytes as f64)
                        < self.settings.max_chain_ratio * b.full_bytes.max(1) as f64
                    && now.get().wrapping_sub(b.since.get()) < CHECK_TICK_THRESHOLD =>
            {
                Some(b.clone())
            }
            _ => None,
        };
        let (mut meta, chunks) = match &delta_base {
            Some(base) => self.delta(world, registry, base.since, now)?,
            None => self.full(world, registry)?,
        };
        meta.id = self.next_id;
        meta.tick = tick;
        meta.base = delta_base.as_ref().map(|b| b.id);
        meta.unix_ms = now_ms();
        meta.entities = world.resource::<Uids>().len() as u64;
        meta.uid_next = world.resource::<Uids>().next_raw();
        meta.schemas = registry
            .iter()
            .map(|r| Schema {
                name: r.name().to_owned(),
                version: r.version(),
                kind: r.kind(),
                type_name: r.type_name().to_owned(),
                shape: r.shape().map(str::to_owned),
            })
            .collect();
        if let Some(kept) = world.get_resource::<Kept>() {
            meta.schemas.extend(kept.schemas().cloned());
        }
        meta.app = self.app.clone();
        self.next_id += 1;
        self.base = Some(match delta_base {
            Some(b) => Base {
                since: now,
                id: meta.id,
                chain_len: b.chain_len + 1,
                chain_bytes: b.chain_bytes + meta.bytes,
                full_bytes: b.full_bytes,
            },
            None => Base {
                since: now,
                id: meta.id,
                chain_len: 0,
                chain_bytes: 0,
                full_bytes: meta.bytes,
            },
        });
        world.resource_mut::<Journal>().clear();
        Ok(Capture { meta, chunks })
    }

    fn empty_meta(kind: SnapshotKind) -> SnapshotMeta {
        SnapshotMeta {
            id: 0,
            kind,
            base: None,
            tick: 0,
            unix_ms: 0,
            entities: 0,
            bytes: 0,
            uid_next: 0,
            schemas: Vec::new(),
            columns: Vec::new(),
            groups: Vec::new(),
            removed_resources: Vec::new(),
            app: String::new(),
        }
    }

    fn full(
        &mut self,
        world: &mut World,
        registry: &Registry,
    ) -> Result<(SnapshotMeta, Vec<ChunkData>), CaptureError> {
        let target = self.settings.chunk_bytes.max(64);
        let uid_id = world.register_component::<Uid>();
        let cols = columns(world, registry);

        // Groups: every non-empty table whose rows have a uid.
        struct Group {
            table: TableId,
            rows: u32,
            cols: Vec<usize>,
        }
        let groups: Vec<Group> = tables_with(world, uid_id)
            .map(|(tid, t)| Group {
                table: tid,
                rows: t.entity_count(),
                cols: cols
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.ops.storage() == StorageType::Table && t.has_column(c.id))
                    .map(|(i, _)| i)
                    .collect(),
            })
            .collect();
        let sparse: Vec<(usize, Vec<Entity>)> = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ops.storage() == StorageType::SparseSet)
            .map(|(i, c)| (i, sparse_entities(world, uid_id, c.id)))
            .filter(|(_, e)| !e.is_empty())
            .collect();

        let places: Vec<(&Col<'_>, Vec<Place<'_>>)> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p: Vec<Place<'_>> = groups
                    .iter()
                    .filter(|g| g.cols.contains(&i))
                    .map(|g| Place::Table(g.table, Rows::All))
                    .collect();
                p.extend(
                    sparse
                        .iter()
                        .filter(|(j, _)| *j == i)
                        .map(|(_, e)| Place::Entities(e)),
                );
                (c, p)
            })
            .collect();
        let logs = swap(world, &places, self.settings.refs)?;

        // Encode in parallel: tasks of up to SPAN rows of one column of one group.
        const SPAN: u32 = 1 << 16;
        enum Task<'a> {
            Uids(u32, TableId, u32, u32),
            Rows(u32, usize, TableId, u32, u32),
            Sparse(usize, &'a [Entity]),
        }
        let mut tasks = Vec::new();
        for (gi, g) in groups.iter().enumerate() {
            let gi = gi as u32;
            for start in (0..g.rows).step_by(SPAN as usize) {
                let end = (start + SPAN).min(g.rows);
                tasks.push(Task::Uids(gi, g.table, start, end));
                for &c in &g.cols {
                    tasks.push(Task::Rows(gi, c, g.table, start, end));
                }
            }
        }
        for (i, e) in &sparse {
            tasks.push(Task::Sparse(*i, e));
        }
        let read: &World = world;
        let results: Vec<Result<(String, Encoded), CaptureError>> = tasks
            .par_iter()
            .map(|task| match *task {
                Task::Uids(gi, tid, a, b) => {
                    let uids = read
                        .storages()
                        .tables
                        .get(tid)
                        .map(|t| uids_of(t, uid_id))
                        .unwrap_or(&[]);
                    let mut out = Vec::new();
                    uid_chunks(
                        (a..b).map(|r| uid_at(uids, r as usize)),
                        (gi, a),
                        target,
                        &mut out,
                    );
                    let out = out
                        .into_iter()
                        .map(|c| (((c.len() - HEADER) / 8) as u64, c))
                        .collect();
                    Ok((col::UID.to_owned(), out))
                }
                Task::Rows(gi, ci, tid, a, b) => {
                    let c = &cols[ci];
                    let mut out = Vec::new();
                    let mut at = a;
                    c.ops
                        .encode_chunked(
                            read,
                            c.id,
                            Place::Table(tid, Rows::Range(a, b)),
                            target,
                            HEADER,
                            &mut |mut buf, rows| {
                                finish(
                                    &mut buf,
                                    Layout::Rows {
                                        group: gi,
                                        start: at,
                                    },
                                    rows as u32,
                                );
                                at += rows as u32;
                                out.push((rows as u64, buf));
                            },
                        )
                        .map_err(|source| CaptureError::Codec {
                            component: c.reg.name().to_owned(),
                            source,
                        })?;
                    Ok((c.reg.name().to_owned(), out))
                }
                Task::Sparse(ci, entities) => {
                    let c = &cols[ci];
                    let uids: Vec<u64> = entities
                        .iter()
                        .map(|&e| read.get::<Uid>(e).map_or(0, |u| u.get()))
                        .collect();
                    Ok((
                        c.reg.name().to_owned(),
                        keyed_chunks(read, c, Place::Entities(entities), &uids, target)?,
                    ))
                }
            })
            .collect();
        let has_refs: Vec<bool> = logs.iter().map(RefLog::has_refs).collect();
        unswap(world, &places, logs);

        let mut out = Columns::default();
        for r in results {
            let (name, chunks) = r?;
            for (rows, bytes) in chunks {
                out.push(&name, rows, bytes);
            }
        }
        for (i, c) in cols.iter().enumerate() {
            if has_refs[i] {
                out.mark_refs(c.reg.name());
            }
        }
        let mut meta = Self::empty_meta(SnapshotKind::Full);
        meta.groups = groups
            .iter()
            .map(|g| GroupMeta {
                components: g
                    .cols
                    .iter()
                    .map(|&i| cols[i].reg.name().to_owned())
                    .collect(),
                rows: u64::from(g.rows),
            })
            .collect();
        self.resources.clear();
        self.encode_resources(world, registry, &mut out, None)?;
        if let Some(kept) = world.get_resource::<Kept>() {
            write_kept(kept, world.resource::<Uids>(), target, &mut out);
        }
        meta.bytes = out.bytes();
        meta.columns = out.meta;
        Ok((meta, out.chunks))
    }

    fn delta(
        &mut self,
        world: &mut World,
        registry: &Registry,
        since: Tick,
        now: Tick,
    ) -> Result<(SnapshotMeta, Vec<ChunkData>), CaptureError> {
        let target = self.settings.chunk_bytes.max(64);
        let uid_id = world.register_component::<Uid>();
        let cols = columns(world, registry);
        let mut out = Columns::default();
        let t0 = std::time::Instant::now();

        // Entities that appeared: their uid was added since the last capture.
        let mut spawned = Vec::new();
        for (_, t) in tables_with(world, uid_id) {
            let uids = uids_of(t, uid_id);
            if let Some(added) = t.get_added_ticks_slice_for(uid_id) {
                let mut rows = Vec::new();
                newer_rows(added, since, now, &mut rows);
                spawned.extend(rows.into_iter().map(|r| uid_at(uids, r as usize)));
            }
        }
        let (departed, removed) = world.resource::<Journal>().peek();
        let mut buf = Vec::new();
        if !departed.is_empty() {
            uid_chunks(departed.iter().copied(), (0, 0), target, &mut buf);
            for c in buf.drain(..) {
                out.push(col::DESPAWN, ((c.len() - HEADER) / 8) as u64, c);
            }
        }
        if !spawned.is_empty() {
            uid_chunks(spawned.iter().copied(), (0, 0), target, &mut buf);
            for c in buf.drain(..) {
                out.push(col::SPAWN, ((c.len() - HEADER) / 8) as u64, c);
            }
        }
        {
            let uids = world.resource::<Uids>();
            for c in &cols {
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
                    uid_chunks(gone.into_iter(), (0, 0), target, &mut buf);
                    let name = format!("{}{}", col::REMOVE, c.reg.name());
                    for ch in buf.drain(..) {
                        out.push(&name, ((ch.len() - HEADER) / 8) as u64, ch);
                    }
                }
            }
        }

        tracing::debug!("delta: spawns and removals in {:?}", t0.elapsed());
        // Changed values: scan change ticks, per table, in parallel.
        let tables: Vec<TableId> = tables_with(world, uid_id).map(|(tid, _)| tid).collect();
        let read: &World = world;
        let changed: Vec<(usize, TableId, Vec<u32>)> = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ops.storage() == StorageType::Table)
            .flat_map(|(i, c)| tables.iter().map(move |&t| (i, c.id, t)))
            .collect::<Vec<_>>()
            .into_par_iter()
            .filter_map(|(i, id, tid)| {
                let t = read.storages().tables.get(tid)?;
                let ticks = t.get_changed_ticks_slice_for(id)?;
                let mut rows = Vec::new();
                newer_rows(ticks, since, now, &mut rows);
                (!rows.is_empty()).then_some((i, tid, rows))
            })
            .collect();
        let sparse: Vec<(usize, Vec<Entity>)> = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ops.storage() == StorageType::SparseSet)
            .map(|(i, c)| {
                let es: Vec<Entity> = sparse_entities(read, uid_id, c.id)
                    .into_iter()
                    .filter(|&e| {
                        read.entity(e)
                            .get_change_ticks_by_id(c.id)
                            .is_some_and(|t| t.is_changed(since, now))
                    })
                    .collect();
                (i, es)
            })
            .filter(|(_, e)| !e.is_empty())
            .collect();

        let places: Vec<(&Col<'_>, Vec<Place<'_>>)> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p: Vec<Place<'_>> = changed
                    .iter()
                    .filter(|(j, _, _)| *j == i)
                    .map(|(_, t, rows)| Place::Table(*t, Rows::Only(rows)))
                    .collect();
                p.extend(
                    sparse
                        .iter()
                        .filter(|(j, _)| *j == i)
                        .map(|(_, e)| Place::Entities(e)),
                );
                (c, p)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect();
        tracing::debug!("delta: change scan in {:?}", t0.elapsed());
        let logs = swap(world, &places, self.settings.refs)?;
        tracing::debug!("delta: references swapped in {:?}", t0.elapsed());
        let read: &World = world;
        let encoded: Result<Vec<(usize, Encoded)>, CaptureError> = places
            .par_iter()
            .enumerate()
            .map(|(pi, (c, ps))| {
                let mut all = Vec::new();
                for &p in ps {
                    let uids: Vec<u64> = match p {
                        Place::Table(tid, Rows::Only(rows)) => {
                            let t = read.storages().tables.get(tid);
                            let u = t.map(|t| uids_of(t, uid_id)).unwrap_or(&[]);
                            rows.iter().map(|&r| uid_at(u, r as usize)).collect()
                        }
                        Place::Entities(es) => es
                            .iter()
                            .map(|&e| read.get::<Uid>(e).map_or(0, |u| u.get()))
                            .collect(),
                        Place::Table(..) => Vec::new(),
                    };
                    all.extend(keyed_chunks(read, c, p, &uids, target)?);
                }
                Ok((pi, all))
            })
            .collect();
        let has_refs: Vec<bool> = logs.iter().map(RefLog::has_refs).collect();
        unswap(world, &places, logs);
        for (pi, chunks) in encoded? {
            let name = places[pi].0.reg.name();
            for (rows, bytes) in chunks {
                out.push(name, rows, bytes);
            }
            if has_refs[pi] {
                out.mark_refs(name);
            }
        }

        tracing::debug!("delta: encoded in {:?}", t0.elapsed());
        let mut meta = Self::empty_meta(SnapshotKind::Delta);
        self.encode_resources(world, registry, &mut out, Some((since, now)))?;
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

    /// Encodes every registered resource (full) or those changed in
    /// `(since, now]` (delta).
    fn encode_resources(
        &mut self,
        world: &mut World,
        registry: &Registry,
        out: &mut Columns,
        changed: Option<(Tick, Tick)>,
    ) -> Result<(), CaptureError> {
        for reg in registry.iter() {
            let Some(ops) = reg.resource() else { continue };
            if let Some((since, now)) = changed
                && !ops.changed(world, since, now)
            {
                continue;
            }
            let mut buf = vec![0u8; HEADER];
            let present = ops
                .encode(world, self.settings.refs, &mut buf)
                .map_err(|e| match e {
                    dizzy_components::ValueError::Dangling(d) => CaptureError::Dangling {
                        component: reg.name().to_owned(),
                        holder: d.holder,
                        target: d.target,
                    },
                    dizzy_components::ValueError::Codec(source) => CaptureError::Codec {
                        component: reg.name().to_owned(),
                        source,
                    },
                    _ => CaptureError::Codec {
                        component: reg.name().to_owned(),
                        source: dizzy_components::CodecError::Encode(e.to_string()),
                    },
                })?;
            if present {
                buf.extend_from_slice(&0u64.to_le_bytes());
                finish(&mut buf, Layout::Keyed, 1);
                out.push(&format!("{}{}", col::RESOURCE, reg.name()), 1, buf);
                self.resources.insert(reg.name().to_owned());
            }
        }
        Ok(())
    }
}
