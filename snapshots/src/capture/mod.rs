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
use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{Journal, RefPolicy, Registry, Uid, Uids, ValueError};

use crate::error::CaptureError;
use crate::format::{HEADER, Layout, Schema, SnapshotKind, SnapshotMeta, col};
use crate::kept::Kept;

mod delta;
mod encode;
pub(crate) use encode::{newer_rows, uid_at, uids_of};
mod full;
mod order;

use encode::*;

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

/// The Rust type's name as the snapshot records it: for a type whose
/// shape cannot be traced, with its skeleton and the trail of the first
/// value of its column's first chunk in `chunks` (what a restore or an
/// import reads back and compares; see `dizzy_components::shape::value_trail`).
fn recorded_type_name(reg: &dizzy_components::Registration, chunks: &[ChunkData]) -> String {
    let name = reg.recorded_type_name();
    if reg.untraced().is_none() {
        return name;
    }
    let column = match reg.kind() {
        dizzy_components::Kind::Component => reg.name().to_owned(),
        dizzy_components::Kind::Resource => format!("{}{}", col::RESOURCE, reg.name()),
    };
    let trail = chunks
        .iter()
        .find(|c| c.index == 0 && c.column == column)
        .and_then(|c| crate::format::parse(&c.bytes).ok())
        .and_then(|chunk| match (reg.column(), reg.resource()) {
            (Some(ops), _) => ops.first_trail(chunk.payload),
            (_, Some(ops)) => ops.first_trail(chunk.payload),
            _ => None,
        });
    match trail {
        Some(trail) => format!("{name} [first: {trail}]"),
        None => name,
    }
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
    /// that reaches it (so it holds at least one value). Targets below 64
    /// bytes are taken as 64, above 1 GiB as 1 GiB (a chunk is one redb
    /// value, whose length redb keeps in 32 bits).
    pub chunk_bytes: usize,
    /// Dangling references: fail (default) or drop.
    pub refs: RefPolicy,
    /// A full snapshot is written after this many deltas in a chain.
    pub max_chain: u32,
    /// ...or when the chain's deltas together reach this fraction of the
    /// full snapshot's bytes.
    pub max_chain_ratio: f64,
}

impl CaptureSettings {
    /// [`CaptureSettings::chunk_bytes`] as it is used: from 64 bytes to 1 GiB.
    pub(crate) fn chunk_target(&self) -> usize {
        self.chunk_bytes.clamp(64, 1 << 30)
    }
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
    /// The world's [`Uids::insert_stamp`] at `since`: while it has not
    /// moved, no entity appeared, and a delta does not look for any.
    uids_stamp: (u64, u64),
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
    /// See [`Capturer::keep_file_schemas`].
    file_schemas: Option<BTreeSet<String>>,
    runs: crate::detect::SystemRuns,
    /// The rows the last delta found changed, for the change-detection
    /// record of the same capture (see [`crate::detect::Scanned`]).
    scanned: Option<crate::detect::Scanned>,
    /// See [`Capturer::refuse_losing`].
    not_read: Option<(String, String)>,
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

/// Whether `world` holds a value of registered type `r`.
fn holds_a_value(world: &World, r: &dizzy_components::Registration) -> bool {
    if let Some(ops) = r.resource() {
        return ops.exists(world);
    }
    r.column()
        .and_then(|c| c.component_id(world))
        .is_some_and(|id| {
            world
                .archetypes()
                .iter()
                .any(|a| !a.is_empty() && a.contains(id))
        })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
            file_schemas: None,
            runs: crate::detect::SystemRuns::default(),
            scanned: None,
            not_read: None,
        }
    }

    /// Refuses every capture ([`CaptureError::FieldsNotRead`]): the file
    /// holds values of `component` with `fields` this build does not read,
    /// which a snapshot written by a tool (a build of other code than the
    /// file's) would lose from every value it writes.
    pub fn refuse_losing(&mut self, component: String, fields: Vec<String>) {
        self.not_read = Some((component, fields.join("`, `")));
    }

    /// The component and fields (`` Struct.field`, `Other.field ``) set by
    /// [`Capturer::refuse_losing`], if any.
    pub fn losing(&self) -> Option<(&str, &str)> {
        self.not_read
            .as_ref()
            .map(|(c, f)| (c.as_str(), f.as_str()))
    }

    /// Where the systems' last runs stand, recorded with the next capture
    /// so that a resume restores change detection (see [`crate::detect`]).
    pub fn set_detection(&mut self, runs: crate::detect::SystemRuns) {
        self.runs = runs;
    }

    /// The settings.
    pub fn settings(&self) -> &CaptureSettings {
        &self.settings
    }

    /// Sets the app description recorded in every snapshot (JSON text).
    pub fn set_app(&mut self, app: String) {
        self.app = app;
    }

    /// For a tool writing another program's file: snapshots record the
    /// schemas of the types `names` (the file's), and of registered types
    /// only when the world holds a value of them, not every type the tool
    /// registers (the `dizzy` binary registers its demos').
    pub fn keep_file_schemas(&mut self, names: BTreeSet<String>) {
        self.file_schemas = Some(names);
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
            uids_stamp: uids_stamp(world),
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
    ///
    /// # Errors
    /// A value could not be encoded or holds a dangling reference under
    /// `RefPolicy::Fail`; the world is unchanged (a capture only reads it).
    pub fn capture(
        &mut self,
        world: &mut World,
        registry: &Registry,
        tick: u64,
        want: Want,
    ) -> Result<Capture, CaptureError> {
        self.capture_if(world, registry, tick, want, true)
            .map(|c| c.unwrap_or_else(|| unreachable!("a forced capture always gives one")))
    }

    /// Captures what changed in `world` since the last capture — values
    /// (by bevy's change ticks), spawns, despawns, removals, resources — as
    /// a delta (or a full snapshot when one is due); `None`, and nothing
    /// consumed, if nothing changed.
    ///
    /// # Errors
    /// As [`Capturer::capture`].
    pub fn capture_changes(
        &mut self,
        world: &mut World,
        registry: &Registry,
        tick: u64,
    ) -> Result<Option<Capture>, CaptureError> {
        self.capture_if(world, registry, tick, Want::Auto, false)
    }

    fn capture_if(
        &mut self,
        world: &mut World,
        registry: &Registry,
        tick: u64,
        want: Want,
        forced: bool,
    ) -> Result<Option<Capture>, CaptureError> {
        if let Some((component, fields)) = &self.not_read {
            return Err(CaptureError::FieldsNotRead {
                component: component.clone(),
                fields: fields.clone(),
            });
        }
        // Encoding only reads the world, so a panic of user code leaves it
        // as it was; the next capture is a full one.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.capture_unguarded(world, registry, tick, want, forced)
        }));
        result.unwrap_or_else(|payload| {
            self.base = None;
            let message = dizzy_components::panic_message(payload.as_ref()).unwrap_or_default();
            Err(CaptureError::Panicked { message })
        })
    }

    fn capture_unguarded(
        &mut self,
        world: &mut World,
        registry: &Registry,
        tick: u64,
        want: Want,
        forced: bool,
    ) -> Result<Option<Capture>, CaptureError> {
        assign_uids(world, registry);
        refuse_shared_uids(world)?;
        let stamp = uids_stamp(world);
        let before = world.read_change_tick();
        let now = world.increment_change_tick();
        // A delta looks for new entities only if one got a uid since the base.
        let spawns = self.base.as_ref().is_none_or(|b| b.uids_stamp != stamp);
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
        // A full snapshot is due (the chain is long) but only if something
        // changed: what changed since the base is looked at first.
        if !forced
            && delta_base.is_none()
            && matches!(want, Want::Auto)
            && let Some(base) = self.base.clone()
        {
            let (probe, _) = self.delta(world, registry, base.since, now, spawns)?;
            self.scanned = None;
            if probe.columns.is_empty() && probe.removed_resources.is_empty() {
                return Ok(None);
            }
        }
        let (mut meta, chunks) = match &delta_base {
            Some(base) => self.delta(world, registry, base.since, now, spawns)?,
            None => self.full(world, registry)?,
        };
        if !forced
            && delta_base.is_some()
            && meta.columns.is_empty()
            && meta.removed_resources.is_empty()
        {
            return Ok(None);
        }
        let mut chunks = chunks;
        let scanned = self.scanned.take();
        let detection =
            crate::detect::record(world, registry, &self.runs, before, scanned.as_ref());
        let mut extra = Columns::default();
        encode_detection(&detection, &mut extra, self.settings.chunk_target())?;
        encode_last_removals(world, registry, &mut extra)?;
        meta.bytes += extra.bytes();
        meta.columns.extend(extra.meta);
        chunks.extend(extra.chunks);
        meta.id = self.next_id;
        meta.tick = tick;
        meta.base = delta_base.as_ref().map(|b| b.id);
        meta.unix_ms = now_ms();
        meta.entities = world.resource::<Uids>().len() as u64;
        meta.uid_next = world.resource::<Uids>().next_raw();
        let recorded = |r: &&dizzy_components::Registration| match &self.file_schemas {
            None => true,
            Some(names) => names.contains(r.name()) || holds_a_value(world, r),
        };
        meta.schemas = registry
            .iter()
            .filter(recorded)
            .map(|r| Schema {
                name: r.name().to_owned(),
                version: r.version(),
                kind: r.kind(),
                type_name: recorded_type_name(r, &chunks),
                shape: r.shape().map(str::to_owned),
            })
            .collect();
        if let Some(kept) = world.get_resource::<Kept>() {
            meta.schemas.extend(kept.recorded_schemas().cloned());
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
                uids_stamp: stamp,
            },
            None => Base {
                since: now,
                id: meta.id,
                chain_len: 0,
                chain_bytes: 0,
                full_bytes: meta.bytes,
                uids_stamp: stamp,
            },
        });
        world.resource_mut::<Journal>().clear();
        if let Some(mut kept) = world.get_resource_mut::<Kept>() {
            kept.orders_captured();
        }
        Ok(Some(Capture { meta, chunks }))
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

    /// Encodes every registered resource (full) or those changed in
    /// `(since, now]` (delta).
    fn encode_resources(
        &mut self,
        world: &mut World,
        registry: &Registry,
        out: &mut Columns,
        changed: Option<(Tick, Tick)>,
    ) -> Result<(), CaptureError> {
        // An entity despawned since the previous capture may be named by a
        // resource that did not change: a delta leaving it out would
        // restore that reference dead. Such a resource is refused as a
        // full capture refuses it, or (policy `Drop`) written again with
        // the reference dropped (found by a fresh tester: a favourite
        // entity despawned after a snapshot came back as a dead handle).
        let departed = changed.is_some()
            && world
                .get_resource::<Journal>()
                .is_some_and(|j| !j.peek().0.is_empty());
        for reg in registry.iter() {
            let Some(ops) = reg.resource() else { continue };
            let policy = reg.refs().unwrap_or(self.settings.refs);
            if let Some((since, now)) = changed
                && !ops.changed(world, since, now)
            {
                if !(departed && reg.references().any()) {
                    continue;
                }
                match ops.encode(world, RefPolicy::Fail, &mut Vec::new()) {
                    Ok(_) => continue,
                    Err(ValueError::Dangling(_)) if policy == RefPolicy::Drop => {}
                    Err(e) => return Err(value_error(reg.name(), e)),
                }
            }
            let mut buf = vec![0u8; HEADER];
            let present = ops
                .encode(world, policy, &mut buf)
                .map_err(|e| value_error(reg.name(), e))?;
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

/// Writes `@removed`: the removals the next tick's `RemovedComponents`
/// readers see ([`LastRemovals`](dizzy_components::LastRemovals)), as one
/// keyed value (uid 0): `(name, uid, value bytes)` in order. Nothing when
/// there are none.
fn encode_last_removals(
    world: &World,
    registry: &Registry,
    out: &mut Columns,
) -> Result<(), CaptureError> {
    let Some(last) = world.get_resource::<dizzy_components::LastRemovals>() else {
        return Ok(());
    };
    if last.entries().is_empty() {
        return Ok(());
    }
    let names: Vec<(ComponentId, &str)> = registry
        .iter()
        .filter_map(|r| Some((r.column()?.component_id(world)?, r.name())))
        .collect();
    // Borrowed: encoded as `(String, u64, Vec<u8>)` are (serde writes a
    // `&str` as a string and a `&[u8]` as a sequence, as it does those).
    // The removals made between ticks follow a marker entry
    // ([`col::BETWEEN_TICKS`]): readers see them one tick longer.
    let settled = last.settled();
    let mut entries: Vec<(&str, u64, &[u8])> = Vec::with_capacity(last.entries().len() + 1);
    for (i, (what, uid, value)) in last.entries().iter().enumerate() {
        if i == settled {
            entries.push((col::BETWEEN_TICKS, 0, &[]));
        }
        let name = match what {
            dizzy_components::Removed::Component(id) => match names.iter().find(|(i, _)| i == id) {
                Some(n) => n.1,
                None => continue,
            },
            dizzy_components::Removed::Named(name) => name.as_str(),
        };
        entries.push((name, *uid, value.as_slice()));
    }
    let payload =
        dizzy_components::codec::encode(&entries).map_err(|source| CaptureError::Codec {
            component: col::REMOVED.to_owned(),
            source,
        })?;
    out.push(col::REMOVED, 1, keyed_record(payload));
    Ok(())
}

/// One keyed value whose uid is 0: records belong to no entity.
fn keyed_record(payload: Vec<u8>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER + payload.len() + 8);
    buf.resize(HEADER, 0);
    buf.extend(payload);
    buf.extend_from_slice(&0u64.to_le_bytes());
    finish(&mut buf, Layout::Keyed, 1);
    buf
}

/// Writes `@detect` and the `@ages/<name>` columns of `detection`.
fn encode_detection(
    detection: &crate::detect::Detection,
    out: &mut Columns,
    target: usize,
) -> Result<(), CaptureError> {
    let codec_error = |component: &str, source| CaptureError::Codec {
        component: component.to_owned(),
        source,
    };
    let keyed = keyed_record;
    let record = detection
        .encode()
        .map_err(|e| codec_error(col::DETECT, e))?;
    out.push(col::DETECT, 1, keyed(record));
    for (name, values) in &detection.values {
        let column = format!("{}{name}", col::AGES);
        crate::detect::encode_ages(values, target, |payload| {
            out.push(&column, 1, keyed(payload));
            Ok(())
        })
        .map_err(|e| codec_error(&column, e))?;
    }
    Ok(())
}

/// The world's [`Uids::insert_stamp`] (a stamp no index has when the world
/// has none).
fn uids_stamp(world: &World) -> (u64, u64) {
    world
        .get_resource::<Uids>()
        .map_or((u64::MAX, u64::MAX), Uids::insert_stamp)
}

/// Refuses a world in which two live entities hold one uid (see
/// [`Uids::shared`]), every time until one lets go of it; pairs of which
/// one let go of the uid since are forgotten.
fn refuse_shared_uids(world: &mut World) -> Result<(), CaptureError> {
    let Some(uids) = world.get_resource::<Uids>() else {
        return Ok(());
    };
    if uids.shared().is_empty() {
        return Ok(());
    }
    let holds = |e: Entity, uid: u64| world.get::<Uid>(e).is_some_and(|u| u.get() == uid);
    if let Some(&(uid, _)) = uids.shared().iter().find(|&&(uid, before)| {
        uids.entity(uid)
            .is_some_and(|now| now != before && holds(now, uid) && holds(before, uid))
    }) {
        return Err(CaptureError::SharedUid { uid });
    }
    world.resource_mut::<Uids>().clear_shared();
    Ok(())
}
