//! Restoring a full snapshot, in steps: read the uids and the sparse-set
//! and kept columns, and set up where the groups' units come from
//! ([`Ctx::plan_full`]); restore the resources whose values hold no entity
//! references; read and decode the groups' units on rayon's workers while
//! this thread spawns each unit with the components whose values hold no
//! entity references ([`Ctx::spawn_groups`], and `units` for how units are
//! read); then, when every entity exists,
//! restore the other resources, and resolve the values that hold
//! references and insert them ([`Ctx::insert_deferred`]), so that no hook,
//! observer or relationship ever sees a stand-in entity; then drop the
//! required components the snapshot does not record.

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{
    ArchetypeSpawner, ColumnOps, DecodedColumn, Registration, Uid, Uids, spawn_rows,
};

use crate::error::RestoreError;
use crate::format::{GroupMeta, Layout, SnapshotMeta, col, parse};
use crate::store::Stored;

mod finish;
mod units;

use super::keyed::Resources;
use super::{Ctx, Unknown, corrupt};
pub(super) use units::Sourced;
use units::{Preloaded, Rows, Source, Stream, UnitChunks, Units, in_order};

/// What a full snapshot holds, read and checked, before anything is spawned.
pub(super) struct Plan<'m> {
    /// The snapshot's id.
    snap: u64,
    /// Its groups, with the components this build registers only.
    groups: Vec<GroupMeta>,
    /// Each group's uids, in row order.
    uids: Vec<Vec<Uid>>,
    /// The distinct components of the groups.
    names: Vec<&'m str>,
    /// Columns outside the groups (sparse-set components): keyed chunks.
    keyed: Vec<(&'m str, Vec<Stored>)>,
    /// The groups' rows, unit by unit: read as they are spawned, or read
    /// and checked up front.
    units: Units,
}

/// One column of one group whose values hold references: decoded, waiting
/// for every entity to exist.
pub(super) struct Deferred {
    name: String,
    entities: Vec<Entity>,
    holders: Vec<u64>,
    column: DecodedColumn,
}

/// How this build reads each column of a full snapshot's groups (indexed
/// as [`Plan`]'s names).
struct Columns<'c> {
    /// Its registration.
    regs: Vec<&'c Registration>,
    /// Its operations and component id.
    ops: Vec<(&'c dyn ColumnOps, ComponentId)>,
    /// Whether its values hold references: they wait for every entity.
    waits: Vec<bool>,
    /// The registration, stored version and stored shape of a column that
    /// must be brought to this build's version or shape.
    upgrades: Vec<Option<(&'c Registration, u32, Option<&'c str>)>>,
    /// Whether its values have no shape, in the file or this build, to be
    /// checked against: values that do not decode mean a changed type.
    unshaped: Vec<bool>,
}

impl Columns<'_> {
    /// Values of column `ni` that did not decode: a changed type when its
    /// `Deserialize` refused a well-formed value or it has no shape to be
    /// checked by, else damage.
    fn undecodable(&self, ni: usize, e: dizzy_components::CodecError) -> UnitError {
        let reg = self.regs[ni];
        match super::schemas::changed_type(reg, self.unshaped[ni], e) {
            Ok(source) => UnitError::Incompatible(source),
            Err(e) => UnitError::Corrupt(super::schemas::damage(reg, &e)),
        }
    }

    /// Decodes the chunks of one unit (on any thread): each column's
    /// pieces, upgraded where needed, appended in row order.
    fn decode(&self, unit: &UnitChunks) -> Decoded {
        unit.columns
            .iter()
            .map(|pieces| {
                let mut column: Option<DecodedColumn> = None;
                for (ni, ci, bytes) in pieces {
                    let at = |e: UnitError| (*ni, *ci, e);
                    let chunk = parse(bytes).map_err(|r| at(UnitError::Corrupt(r)))?;
                    let rows = chunk.rows as usize;
                    let migrated;
                    let payload = match self.upgrades[*ni] {
                        Some((reg, stored, shape)) => {
                            migrated =
                                super::guard(|| reg.upgrade(stored, shape, chunk.payload, rows))
                                    .map_err(|m| at(UnitError::UpgradePanicked(m)))?
                                    .map_err(|e| at(UnitError::Incompatible(e)))?;
                            &migrated[..]
                        }
                        None => chunk.payload,
                    };
                    let piece = super::guard(|| self.ops[*ni].0.decode_column(payload, rows))
                        .map_err(|m| at(UnitError::Panicked(m)))?
                        .map_err(|e| at(self.undecodable(*ni, e)))?;
                    match &mut column {
                        Some(c) => c.append(piece),
                        None => column = Some(piece),
                    }
                }
                column.ok_or((0, 0, UnitError::Corrupt("an empty unit".to_owned())))
            })
            .collect()
    }
}

/// A decoded unit, or where it failed: (name index, chunk, what).
type Decoded = Result<Vec<DecodedColumn>, (usize, u32, UnitError)>;

/// Why a unit could not be decoded.
enum UnitError {
    /// The bytes are damaged.
    Corrupt(String),
    /// The values cannot be read as this build's type (shape or version).
    Incompatible(dizzy_components::UpgradeError),
    /// The type's `Deserialize` panicked.
    Panicked(String),
    /// A migration (or the `Deserialize` of a stored version's type) panicked.
    UpgradePanicked(String),
}

impl Ctx<'_> {
    pub(super) fn apply_full(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
    ) -> Result<Sourced, RestoreError> {
        let plan = self.plan_full(meta)?;
        self.apply_resources(world, meta, Resources::ReferenceFree)?;
        let Some(deferred) = self.spawn_groups(world, meta, &plan)? else {
            return Ok(Sourced::ReadAgain);
        };
        // Every entity exists by now: the resources that name entities
        // come back before the values that hold references (and the
        // sparse-set components), whose hooks then find them.
        self.apply_resources(world, meta, Resources::WithReferences)?;
        // Keyed rows (sparse-set components, and values a build that did
        // not register the type kept): references resolved as they are
        // decoded (every entity exists by now). Every reference-free value
        // goes in before any value that holds references, so that the
        // hooks of those find each entity they name with its own
        // reference-free components.
        let holds_refs = |name: &str| self.registry.get(name).is_none_or(|r| r.references().any());
        let mut sparse: Vec<(&str, Vec<u64>)> = Vec::new();
        for (name, chunks) in plan.keyed.iter().filter(|(n, _)| !holds_refs(n)) {
            sparse.push((name, self.apply_keyed(world, meta, name, chunks)?));
        }
        for (name, chunks) in plan.keyed.iter().filter(|(n, _)| holds_refs(n)) {
            sparse.push((name, self.apply_keyed(world, meta, name, chunks)?));
        }
        self.insert_deferred(world, meta, deferred)?;
        self.drop_unrecorded_requires(world, &plan, &sparse);
        self.apply_orders(world, meta)?;
        Ok(Sourced::Whole)
    }

    /// Reads the uids and chunk headers of `meta` and cuts its groups into
    /// units; keeps the values of unregistered components if asked to.
    fn plan_full<'m>(&mut self, meta: &'m SnapshotMeta) -> Result<Plan<'m>, RestoreError> {
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
        if groups.len() > u32::MAX as usize {
            return Err(corrupt(self.store, snap, "@meta", 0, "too many groups"));
        }
        let uids = self.group_uids(meta, &groups)?;

        // Every chunk of the groups' columns; headers are checked first.
        let mut names: Vec<&str> = meta
            .groups
            .iter()
            .flat_map(|g| g.components.iter().map(String::as_str))
            .filter(|n| registered(n))
            .collect();
        names.sort_unstable();
        names.dedup();
        // A file that names a column twice is read the way that checks it.
        let twice = meta
            .columns
            .iter()
            .enumerate()
            .any(|(i, c)| meta.columns[..i].iter().any(|d| d.name == c.name));
        let preload = self.read_first || twice;
        let mut raw: Vec<(usize, u32, Stored)> = Vec::new();
        let mut keyed: Vec<(&str, Vec<Stored>)> = Vec::new();
        for c in &meta.columns {
            if c.name.starts_with('@') {
                continue;
            }
            let in_groups = names.iter().position(|n| *n == c.name);
            if registered(&c.name) && in_groups.is_some() && !preload {
                // Read as the units are spawned.
                continue;
            }
            let chunks = self.chunks(meta, &c.name)?;
            if !registered(&c.name) {
                if self.unknown == Unknown::Keep {
                    self.keep_full(meta, &c.name, &chunks, &uids)?;
                }
                continue;
            }
            match in_groups {
                Some(ni) => raw.extend(
                    chunks
                        .into_iter()
                        .enumerate()
                        .map(|(i, b)| (ni, i as u32, b)),
                ),
                None => keyed.push((c.name.as_str(), chunks)),
            }
        }
        let source = if preload {
            let units = self.units(snap, &groups, &names, &raw)?;
            Source::Preloaded(Preloaded::new(raw, units))
        } else {
            let expected = names
                .iter()
                .map(|n| meta.column(n).map_or(0, |c| c.chunks))
                .collect();
            Source::Streamed(Box::new(Stream::new(
                self, snap, &groups, &names, expected,
            )?))
        };
        Ok(Plan {
            snap,
            groups,
            uids,
            names,
            keyed,
            units: Units::new(source),
        })
    }

    /// The uids of every group, checked against the groups' row counts.
    fn group_uids(
        &self,
        meta: &SnapshotMeta,
        groups: &[GroupMeta],
    ) -> Result<Vec<Vec<Uid>>, RestoreError> {
        let snap = meta.id;
        // Row counts come from the file: reserve no more than the uid
        // chunks can hold (a uid takes at least one byte).
        let uid_chunks = self.chunks(meta, col::UID)?;
        let mut left = uid_chunks.iter().map(|c| c.len() as u64).sum::<u64>();
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
        Ok(uids)
    }

    /// Decodes the units on rayon's workers while this thread spawns them,
    /// in order, as they arrive: decoding and spawning overlap, and the
    /// decoded buffers are reused by the allocator unit after unit. Values
    /// that hold references are kept aside ([`Deferred`]) for
    /// [`Ctx::insert_deferred`]. `None`: the units were read as they were
    /// spawned and the file held something unexpected; restore again.
    fn spawn_groups(
        &self,
        world: &mut World,
        meta: &SnapshotMeta,
        plan: &Plan<'_>,
    ) -> Result<Option<Vec<Deferred>>, RestoreError> {
        let snap = meta.id;
        let t0 = std::time::Instant::now();
        let cols = self.columns(world, meta, &plan.names)?;
        let declared = self.declared_spawners(&plan.groups, &plan.names, &cols);
        let decode_ns = std::sync::atomic::AtomicU64::new(0);
        let decode_unit = |unit: &UnitChunks| -> Decoded {
            let started = std::time::Instant::now();
            let decoded = cols.decode(unit);
            decode_ns.fetch_add(
                started.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            decoded
        };
        let mut failure: Option<RestoreError> = None;
        let mut deferred: Vec<Deferred> = Vec::new();
        let mut waited = (std::time::Duration::ZERO, 0);
        in_order(&plan.units, &decode_unit, &mut waited, |take| {
            let mut next = take();
            while let Some(first) = next.take() {
                let gi = first.0.group;
                // The group's units: the first, then those that follow it
                // in the same group (the next group's first is kept).
                let mut first = Some(first);
                let mut ended = false;
                let mut in_group = || {
                    if let Some(unit) = first.take() {
                        return Some(unit);
                    }
                    if ended {
                        return None;
                    }
                    match take() {
                        Some(unit) if unit.0.group == gi => Some(unit),
                        other => {
                            ended = true;
                            next = other;
                            None
                        }
                    }
                };
                if failure.is_none() {
                    let declared = declared.get(gi).and_then(Option::as_ref);
                    match self.spawn_group(world, plan, &cols, gi, declared, &mut in_group) {
                        Ok(waiting) => deferred.extend(waiting),
                        Err(e) => {
                            failure = Some(e);
                            plan.units.cancel();
                        }
                    }
                }
                // Units the group did not use stay out of the next group.
                while in_group().is_some() {}
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        tracing::debug!(
            "restore: decoded and spawned in {:?} (decoding {:?} summed over threads, waiting for decoders {:?}, {} units decoded by the spawning thread)",
            t0.elapsed(),
            std::time::Duration::from_nanos(decode_ns.load(std::sync::atomic::Ordering::Relaxed)),
            waited.0,
            waited.1
        );
        if let Sourced::ReadAgain = plan.units.sourced() {
            return Ok(None);
        }
        let spawned: usize = plan.uids.iter().map(Vec::len).sum();
        if world.resource::<Uids>().len() != spawned {
            return Err(corrupt(
                self.store,
                snap,
                col::UID,
                0,
                "a uid appears more than once",
            ));
        }
        Ok(Some(deferred))
    }

    /// How this build reads each column of the groups: its registration,
    /// operations, whether it waits for every entity, its upgrade.
    fn columns<'c>(
        &'c self,
        world: &World,
        meta: &'c SnapshotMeta,
        names: &[&str],
    ) -> Result<Columns<'c>, RestoreError> {
        let snap = meta.id;
        let regs: Vec<&Registration> = names
            .iter()
            .map(|n| {
                self.registry
                    .get(n)
                    .ok_or_else(|| corrupt(self.store, snap, n, 0, "not a registered component"))
            })
            .collect::<Result<_, _>>()?;
        let ops: Vec<(&dyn ColumnOps, ComponentId)> = names
            .iter()
            .map(|n| {
                self.column_ops(world, n)
                    .map_err(|r| corrupt(self.store, snap, n, 0, r))
            })
            .collect::<Result<_, _>>()?;
        // A column waits for every entity when its values hold references.
        let waits: Vec<bool> = names
            .iter()
            .zip(&regs)
            .map(|(n, r)| r.references().any() && meta.column(n).is_some_and(|c| c.has_refs))
            .collect();
        // Columns stored at another version or shape are brought to this
        // build's, chunk by chunk.
        let upgrades = names
            .iter()
            .zip(&regs)
            .map(|(n, reg)| {
                let s = meta.schemas.iter().find(|s| s.name == *n)?;
                if s.version == reg.version()
                    && let Some(stored) = s.shape.as_deref()
                {
                    for lost in reg.fields_not_read(stored) {
                        tracing::warn!("{}: `{n}`: {lost}", self.store.path().display());
                    }
                }
                reg.needs_upgrade(s.version, s.shape.as_deref()).then_some((
                    *reg,
                    s.version,
                    s.shape.as_deref(),
                ))
            })
            .collect();
        let unshaped = regs.iter().map(|r| super::unshaped(r, meta)).collect();
        Ok(Columns {
            regs,
            ops,
            waits,
            upgrades,
            unshaped,
        })
    }

    /// For each group whose reference-free components form an archetype
    /// the app declared, its spawner and the order of its columns.
    fn declared_spawners<'c>(
        &'c self,
        groups: &[GroupMeta],
        names: &[&str],
        cols: &Columns<'_>,
    ) -> Vec<Option<(&'c dyn ArchetypeSpawner, Vec<usize>)>> {
        groups
            .iter()
            .map(|g| {
                let types: Option<Vec<std::any::TypeId>> = g
                    .components
                    .iter()
                    .map(|n| {
                        let ni = names.iter().position(|x| x == n)?;
                        (!cols.waits[ni]).then(|| cols.regs[ni].type_id())
                    })
                    .collect();
                self.registry.declared_archetype(&types?)
            })
            .collect()
    }

    /// Spawns one group, unit by unit as `take` hands them out decoded, with
    /// its reference-free components; returns its values that hold
    /// references, for [`Ctx::insert_deferred`].
    fn spawn_group(
        &self,
        world: &mut World,
        plan: &Plan<'_>,
        cols: &Columns<'_>,
        gi: usize,
        declared: Option<&(&dyn ArchetypeSpawner, Vec<usize>)>,
        take: &mut dyn FnMut() -> Option<(Rows, Decoded)>,
    ) -> Result<Vec<Deferred>, RestoreError> {
        let snap = plan.snap;
        let g = &plan.groups[gi];
        let guids = &plan.uids[gi][..];
        let mut failure: Option<RestoreError> = None;
        let mut columns_of = |result: Decoded| {
            result
                .map_err(|e| failure = Some(self.unit_error(snap, &plan.names, cols, e)))
                .ok()
        };
        let idx: Vec<usize> = g
            .components
            .iter()
            .map(|n| plan.names.iter().position(|x| x == n).unwrap_or(0))
            .collect();
        let mut waiting: Vec<(usize, DecodedColumn)> = Vec::new();
        let spawned = super::guard(|| {
            Uids::bulk(world, |world| match declared {
                // One batch for the whole group, fed unit by unit.
                Some((spawner, order)) => {
                    let mut units = || {
                        let columns = columns_of(take()?.1)?;
                        let mut slots: Vec<Option<DecodedColumn>> =
                            columns.into_iter().map(Some).collect();
                        Some(order.iter().filter_map(|&i| slots[i].take()).collect())
                    };
                    let entities = spawner.spawn(world, guids, &mut units);
                    (guids[..entities.len()].to_vec(), entities)
                }
                None => {
                    let mut spawned_uids = Vec::new();
                    let mut entities = Vec::new();
                    while let Some((unit, result)) = take() {
                        let Some(columns) = columns_of(result) else {
                            break;
                        };
                        let mut direct = Vec::with_capacity(columns.len());
                        for ((k, column), &ni) in columns.into_iter().enumerate().zip(&idx) {
                            if cols.waits[ni] {
                                match waiting.iter_mut().find(|(j, _)| *j == k) {
                                    Some((_, acc)) => acc.append(column),
                                    None => waiting.push((k, column)),
                                }
                            } else {
                                direct.push((cols.ops[ni].1, column));
                            }
                        }
                        let guids = &guids[unit.start..unit.end];
                        entities.extend(spawn_rows(world, guids, direct));
                        spawned_uids.extend_from_slice(guids);
                    }
                    (spawned_uids, entities)
                }
            })
        });
        let entities = match spawned {
            Ok(entities) => entities,
            Err(message) => {
                return Err(RestoreError::Panicked {
                    path: self.store.path().to_owned(),
                    snapshot: snap,
                    component: g.components.join("`, `"),
                    what: format!(
                        "a hook or observer of one of these components ({})",
                        idx.iter()
                            .map(|&ni| cols.regs[ni].type_name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    message,
                });
            }
        };
        if let Some(e) = failure {
            return Err(e);
        }
        let holders: Vec<u64> = guids.iter().map(|u| u.get()).collect();
        Ok(waiting
            .into_iter()
            .map(|(k, column)| Deferred {
                name: g.components[k].clone(),
                entities: entities.clone(),
                holders: holders.clone(),
                column,
            })
            .collect())
    }

    /// The error of a unit that could not be decoded.
    fn unit_error(
        &self,
        snap: u64,
        names: &[&str],
        cols: &Columns<'_>,
        (ni, ci, e): (usize, u32, UnitError),
    ) -> RestoreError {
        match e {
            UnitError::Corrupt(reason) => corrupt(self.store, snap, names[ni], ci, reason),
            UnitError::Incompatible(source) => RestoreError::Incompatible {
                path: self.store.path().to_owned(),
                snapshot: snap,
                source,
            },
            UnitError::Panicked(message) => RestoreError::Panicked {
                path: self.store.path().to_owned(),
                snapshot: snap,
                component: names[ni].to_owned(),
                what: format!("`Deserialize` of {}", cols.regs[ni].type_name()),
                message,
            },
            UnitError::UpgradePanicked(message) => RestoreError::Panicked {
                path: self.store.path().to_owned(),
                snapshot: snap,
                component: names[ni].to_owned(),
                what: match cols.upgrades[ni] {
                    Some((reg, stored, _)) if stored != reg.version() => format!(
                        "a migration from version {stored} to {} (or the `Deserialize` of an old version's type)",
                        reg.version()
                    ),
                    _ => format!("`Deserialize` of {}", cols.regs[ni].type_name()),
                },
                message,
            },
        }
    }
}
