//! Import: a bundle brought into a world, all or nothing.

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{
    ColumnOps, DecodedColumn, RefPolicy, Registration, Registry, Resolver, Uid, UidMap, Uids,
    ValueError, codec,
};

use crate::format::{Chunk, Layout, col, parse};
use crate::kept::{self, Kept};
use crate::restore::Unknown;

use super::{BundleBody, ImportError, OnConflict, read};

/// Reads the recorded lists of relationship targets of a bundle.
fn read_order(
    name: &str,
    chunk: &[u8],
    carried: &BTreeSet<u64>,
) -> Result<Vec<(u64, Vec<u64>)>, ImportError> {
    let corrupt = |reason: String| ImportError::Corrupt {
        component: name.to_owned(),
        reason,
    };
    let chunk = parse(chunk).map_err(corrupt)?;
    if chunk.layout != Layout::Keyed {
        return Err(corrupt("not a keyed chunk".into()));
    }
    let mut lists = Vec::new();
    codec::decode_rows::<Vec<u64>>(chunk.payload, chunk.rows as usize, |l| lists.push(l))
        .map_err(|e| corrupt(e.to_string()))?;
    let out: Vec<(u64, Vec<u64>)> = chunk.uids().zip(lists).collect();
    for (t, l) in &out {
        if let Some(u) = std::iter::once(t).chain(l).find(|u| !carried.contains(u)) {
            return Err(corrupt(format!("uid {u}, which the bundle does not carry")));
        }
    }
    Ok(out)
}

/// Correlation ids follow the bundle's uids: the uid of a carried root
/// becomes its new uid; a root the bundle does not carry keeps its value
/// if no entity of the target world has it as uid (and the allocator is
/// moved past it), else gets a fresh one — the same for every entity of
/// that correlation.
fn remap_correlations(
    column: DecodedColumn,
    map: &BTreeMap<u64, u64>,
    world: &mut World,
) -> DecodedColumn {
    let Some(mut values) = column.into_vec::<dizzy_components::CorrelationId>() else {
        unreachable!("the correlation column holds correlation ids");
    };
    let mut fresh: BTreeMap<u64, u64> = BTreeMap::new();
    let mut uids = world.resource_mut::<Uids>();
    for v in &mut values {
        let new = match map.get(&v.0) {
            Some(&n) => n,
            None => *fresh.entry(v.0).or_insert_with(|| match Uid::new(v.0) {
                Some(u) if uids.entity(v.0).is_none() => {
                    uids.reserve(u);
                    v.0
                }
                _ => uids.allocate().get(),
            }),
        };
        v.0 = new;
    }
    DecodedColumn::from_vec(values)
}

/// How to import.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// What to do with a uid the world already has.
    pub on_conflict: OnConflict,
    /// References to entities the bundle does not carry: fail or drop.
    pub refs: RefPolicy,
    /// Components of the bundle that `registry` does not register: refuse
    /// the bundle (default), leave them out, or keep them byte for byte
    /// (in the world's [`Kept`], written into every later full snapshot).
    pub unknown: Unknown,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// The old-to-new uid of every entity of the bundle.
    pub uids: BTreeMap<u64, u64>,
    /// Components this build does not register, kept byte for byte (those
    /// of which the import wrote values).
    pub kept: Vec<String>,
    /// Components this build does not register, left out.
    pub skipped: Vec<String>,
}

/// Imports a bundle into `world`, all or nothing; returns the old-to-new uid
/// of every entity of the bundle. A component `registry` does not register
/// refuses the bundle ([`import_with`] can skip or keep it).
///
/// # Errors
/// The bundle is invalid, or refused ([`ImportError`]); `world` is unchanged.
pub fn import(
    world: &mut World,
    registry: &Registry,
    bytes: &[u8],
    on_conflict: OnConflict,
    refs: RefPolicy,
) -> Result<BTreeMap<u64, u64>, ImportError> {
    let options = ImportOptions {
        on_conflict,
        refs,
        unknown: Unknown::Fail,
    };
    import_with(world, registry, bytes, &options).map(|i| i.uids)
}

/// Checks everything an import of `bytes` into an empty world checks
/// (the bundle's format and checksums, every value against this build's
/// types, the references), without a world and without running any user
/// code: what a tool refuses before it opens the file to import into.
///
/// # Errors
/// As [`import_with`] into an empty world.
pub fn check_import(
    registry: &Registry,
    bytes: &[u8],
    options: &ImportOptions,
) -> Result<(), ImportError> {
    let body = read(bytes)?;
    let carried: BTreeSet<u64> = body.uids.iter().copied().collect();
    let checked = check_columns(&body, registry, options, &carried)?;
    let mut empty = World::new();
    registry.install(&mut empty);
    let (map, _) = decide_uids(&empty, &body.uids, options.on_conflict)?;
    check_kept_targets(&checked, &map)
}

/// Kept bytes cannot follow a uid that changes (one not in `map` yet gets
/// a fresh uid when the entities are spawned).
fn check_kept_targets(checked: &Checked<'_>, map: &BTreeMap<u64, u64>) -> Result<(), ImportError> {
    for column in &checked.kept {
        for &(holder, target) in &column.refs {
            if !map.contains_key(&target) {
                return Err(ImportError::KeptRemapped {
                    component: column.schema.name.clone(),
                    holder,
                    target,
                });
            }
        }
    }
    Ok(())
}

/// A bundle's chunk of component `name`: keyed, and every value owned by
/// an entity the bundle carries; with its owners' uids.
pub(crate) fn keyed_chunk<'c>(
    name: &str,
    bytes: &'c [u8],
    carried: &BTreeSet<u64>,
) -> Result<(Chunk<'c>, Vec<u64>), ImportError> {
    let corrupt = |reason: String| ImportError::Corrupt {
        component: name.to_owned(),
        reason,
    };
    let chunk = parse(bytes).map_err(corrupt)?;
    if chunk.layout != Layout::Keyed {
        return Err(corrupt("not a keyed chunk".into()));
    }
    let owners: Vec<u64> = chunk.uids().collect();
    if let Some(u) = owners.iter().find(|u| !carried.contains(u)) {
        return Err(corrupt(format!(
            "a value for uid {u}, which the bundle does not carry"
        )));
    }
    Ok((chunk, owners))
}

/// Imports a bundle into `world`, all or nothing, as `options` say.
///
/// In two steps: everything is checked and every uid decided while the
/// world is untouched; then the entities are spawned and the values
/// inserted, reference-free values first, which cannot fail.
///
/// # Errors
/// The bundle is invalid, or refused ([`ImportError`]); `world` is unchanged.
pub fn import_with(
    world: &mut World,
    registry: &Registry,
    bytes: &[u8],
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let body = read(bytes)?;
    let carried: BTreeSet<u64> = body.uids.iter().copied().collect();

    // 1. Check everything; decide every uid. Nothing changes yet.
    let checked = check_columns(&body, registry, options, &carried)?;
    let (mut map, skipped) = decide_uids(world, &body.uids, options.on_conflict)?;
    check_kept_targets(&checked, &map)?;
    if let Some(store) = world.get_resource::<Kept>() {
        for column in &checked.kept {
            if let Some(schemas) = store.differs(column.schema) {
                return Err(ImportError::KeptSchema {
                    component: column.schema.name.clone(),
                    schemas,
                });
            }
        }
    }

    // 2. Apply: cannot fail from here on. Fields of the bundle's values
    // this build's types do not read (newer code's) are left out: said.
    for s in &body.schemas {
        let lost = match (registry.get(&s.name), s.shape.as_deref()) {
            (Some(reg), Some(shape)) if s.version == reg.version() => {
                reg.stored_fields_not_read(shape)
            }
            _ => continue,
        };
        if !lost.is_empty() {
            tracing::warn!(
                "import: `{}`: the bundle's values hold field(s) `{}` that this build's type does not read; they are left out",
                s.name,
                lost.join("`, `")
            );
        }
    }
    let entity = spawn_carried(world, &body.uids, &mut map);
    // Hooks and observers run as the values go in: as in a restore, they
    // see `Restoring`, and persisted entities they spawn are despawned
    // again (the bundle carries what the source world held).
    let marked = !world.contains_resource::<dizzy_components::Restoring>();
    if marked {
        world.resource::<Uids>().start_allocation_log();
        world.insert_resource(dizzy_components::Restoring);
    }
    let requires = crate::restore::registered_requires(world, registry);
    let before: Vec<(Entity, Vec<ComponentId>)> = if requires.is_empty() {
        Vec::new()
    } else {
        entity
            .values()
            .map(|&e| (e, world.entity(e).archetype().components().to_vec()))
            .collect()
    };
    let mut inserted: Vec<(Entity, ComponentId)> = Vec::new();
    for column in checked.columns {
        insert_column(
            world,
            column,
            &Placement {
                entity: &entity,
                map: &map,
                skipped: &skipped,
                orders: &checked.orders,
                refs: options.refs,
            },
            &mut inserted,
        )?;
    }
    // Registered components bevy added as required, that the bundle does
    // not carry and the entity did not have, are removed again.
    for (e, had) in before {
        let Ok(now) = world.get_entity(e) else {
            continue;
        };
        let extra: Vec<ComponentId> = requires
            .values()
            .flatten()
            .copied()
            .filter(|r| now.contains_id(*r) && !had.contains(r) && !inserted.contains(&(e, *r)))
            .collect();
        crate::restore::drop_components(world, e, &extra);
    }
    if marked {
        // Unlike a restore's, they were in this world for a moment: their
        // despawns are recorded (`RemovedComponents` readers see them, in
        // this process and after a resume alike), and so their uids stay
        // used; the allocator does not go back.
        crate::restore::undo_spawns_of_user_code(world, None);
        crate::restore::remove_restoring(world);
    }
    // The kept components of which values were written (none when every
    // holder was skipped).
    let mut kept_written = Vec::new();
    if !checked.kept.is_empty() {
        let mut store = world.remove_resource::<Kept>().unwrap_or_default();
        // Imported between ticks: new to every system, as a value inserted
        // now would be (changed now; added now unless it replaces one).
        let now = world.change_tick();
        for column in &checked.kept {
            let name = &column.schema.name;
            // A relationship's values go in as the app's own import puts
            // them: in the order the bundle records for each target, each
            // to the end of its target's list.
            let order = checked.orders.get(name.as_str());
            let relationship = order.is_some() || store.is_relationship(name);
            let mut rows: Vec<usize> = (0..column.owners.len())
                .filter(|&i| !skipped.contains(&column.owners[i]))
                .collect();
            if let Some(lists) = order {
                let position: UidMap<usize> = lists
                    .iter()
                    .flat_map(|(_, l)| l.iter().enumerate().map(|(i, &u)| (u, i)))
                    .collect();
                rows.sort_by_key(|&i| {
                    position
                        .get(&column.owners[i])
                        .copied()
                        .unwrap_or(usize::MAX)
                });
            }
            // The lists this import touches, with their lengths before it
            // (a list of fewer than two entries is not recorded: it is
            // made from the values first). A list that was empty is added
            // by the import, as bevy adds `Children`.
            let mut lengths: UidMap<usize> = UidMap::default();
            if relationship {
                for &i in &rows {
                    let new = kept::first_target(column.schema, column.values[i]);
                    let old = store.target_of(name, map[&column.owners[i]]);
                    for t in new.into_iter().chain(old) {
                        store.list_before_writes(name, t);
                        lengths.insert(t, store.list_len(name, t));
                    }
                }
            }
            let mut written = Vec::new();
            for i in rows {
                let uid = map[&column.owners[i]];
                let fresh = store.get(name, uid).is_none();
                store.put(column.schema, uid, column.values[i].to_vec());
                written.push((uid, fresh));
                if relationship && let Some(t) = store.target_of(name, uid) {
                    store.relate(name, uid, t);
                }
            }
            if !written.is_empty() {
                kept_written.push(name.clone());
            }
            store.note_written(name, &written, now);
            // The targets' lists (bevy's `Children`) changed now.
            let lists: Vec<(u64, bool)> = lengths
                .iter()
                .filter(|&(&t, _)| store.list_len(name, t) > 0)
                .map(|(&t, &before)| (t, before == 0))
                .collect();
            store.note_written(&format!("{}{name}", crate::detect::TARGET), &lists, now);
        }
        world.insert_resource(store);
    }
    Ok(Imported {
        uids: map,
        kept: kept_written,
        skipped: checked.skipped,
    })
}

/// One registered component of a bundle, checked: its values (at this
/// build's version and shape) and their owners.
struct CheckedColumn<'a> {
    name: &'a String,
    reg: &'a Registration,
    ops: &'a dyn ColumnOps,
    owners: Vec<u64>,
    payload: Vec<u8>,
}

/// Every column of a bundle, checked.
struct Checked<'a> {
    /// Registered components, reference-free ones first.
    columns: Vec<CheckedColumn<'a>>,
    /// Each relationship's recorded order: target, then its sources.
    orders: BTreeMap<&'a str, Vec<(u64, Vec<u64>)>>,
    /// Components this build does not register, kept as bytes.
    kept: Vec<kept::Column<'a>>,
    /// Components this build does not register, left out.
    skipped: Vec<String>,
}

/// Checks every column of `body`: chunks whole, owners carried, values
/// decodable at this build's version, references to carried entities (or
/// allowed by the policy); unknown components refused, skipped or kept as
/// `options.unknown` says.
fn check_columns<'a>(
    body: &'a BundleBody,
    registry: &'a Registry,
    options: &ImportOptions,
    carried: &BTreeSet<u64>,
) -> Result<Checked<'a>, ImportError> {
    let mut checked = Checked {
        columns: Vec::with_capacity(body.columns.len()),
        orders: BTreeMap::new(),
        kept: Vec::new(),
        skipped: Vec::new(),
    };
    for (name, chunk) in &body.columns {
        if let Some(relationship) = name.strip_prefix(col::ORDER) {
            checked
                .orders
                .insert(relationship, read_order(name, chunk, carried)?);
            continue;
        }
        let Some((reg, ops)) = registry
            .get(name)
            .and_then(|r| r.column().map(|ops| (r, ops)))
        else {
            match options.unknown {
                Unknown::Skip => checked.skipped.push(name.clone()),
                Unknown::Keep => checked
                    .kept
                    .push(kept::bundle_column(body, name, chunk, carried)?),
                _ => return Err(ImportError::Unregistered(name.clone())),
            }
            continue;
        };
        let corrupt = |reason: String| ImportError::Corrupt {
            component: name.clone(),
            reason,
        };
        let (chunk, owners) = keyed_chunk(name, chunk, carried)?;
        let schema = body.schemas.iter().find(|s| &s.name == name);
        let version = schema.map_or(reg.version(), |s| s.version);
        let shape = schema.and_then(|s| s.shape.as_deref());
        // A type without a traceable shape that changed since the bundle
        // was written (its skeleton, or how the bundle's first value reads,
        // differs): by position its values would land in wrong fields.
        let changed = schema.filter(|s| s.version == reg.version()).and_then(|s| {
            let skeleton = s
                .untraced_skeleton()
                .filter(|&then| then != reg.skeleton())
                .map(|then| (then, reg.skeleton().to_owned()));
            skeleton.or_else(|| {
                let (then, now) = (s.first_trail()?, ops.first_trail(chunk.payload)?);
                (then != now).then_some((then, now))
            })
        });
        if let Some((then, now)) = changed {
            return Err(ImportError::Version(
                dizzy_components::UpgradeError::UntracedChanged(Box::new(
                    dizzy_components::UntracedChange {
                        name: name.clone(),
                        type_name: reg.type_name(),
                        stored: then.to_owned(),
                        now,
                    },
                )),
            ));
        }
        let payload = if reg.needs_upgrade(version, shape) {
            reg.upgrade(version, shape, chunk.payload, owners.len())?
        } else {
            chunk.payload.to_vec()
        };
        ops.check(
            &payload,
            owners.len(),
            &|u| carried.contains(&u),
            reg.refs().unwrap_or(options.refs),
        )
        .map_err(|e| match e {
            ValueError::Dangling(d) => ImportError::Dangling {
                component: name.clone(),
                holder: d.holder,
                target: d.target,
            },
            ValueError::Codec(e) => {
                let unshaped = reg.shape().is_none() || shape.is_none();
                match crate::restore::schemas::changed_type(reg, unshaped, e) {
                    Ok(changed) => ImportError::Version(changed),
                    Err(e) => corrupt(e.to_string()),
                }
            }
            other => corrupt(other.to_string()),
        })?;
        checked.columns.push(CheckedColumn {
            name,
            reg,
            ops,
            owners,
            payload,
        });
    }
    // Values without references first: an entity is complete, but for the
    // references it holds, when the first reference to it is inserted.
    checked.columns.sort_by_key(|c| c.reg.references().any());
    Ok(checked)
}

/// The uid each carried entity keeps (`map`; the ones missing get a fresh
/// uid when applied) and the carried uids whose values are left out, as
/// `on_conflict` says for uids the world already has.
fn decide_uids(
    world: &World,
    carried: &[u64],
    on_conflict: OnConflict,
) -> Result<(BTreeMap<u64, u64>, BTreeSet<u64>), ImportError> {
    let mut map: BTreeMap<u64, u64> = BTreeMap::new();
    let mut skipped: BTreeSet<u64> = BTreeSet::new();
    let index = world.resource::<Uids>();
    for &u in carried {
        // A uid this world handed out and no entity holds any more (its
        // entity left) is never free again: which uids an import keeps
        // depends only on the world's history, never on whether a snapshot
        // has recorded the departure yet (that depends on the writer's
        // pace), and no delta ever records one uid as gone and here again.
        // Such a carried uid gets a fresh one, whatever the policy (no
        // entity holds it to conflict with).
        if index.entity(u).is_none() && !index.never_given(u) {
            continue;
        }
        if index.entity(u).is_some() {
            match on_conflict {
                OnConflict::Fail => return Err(ImportError::Conflict(u)),
                OnConflict::Skip => {
                    skipped.insert(u);
                    map.insert(u, u);
                }
                OnConflict::Replace => {
                    map.insert(u, u);
                }
                OnConflict::Remap => {}
            }
        } else {
            map.insert(u, u);
        }
    }
    Ok((map, skipped))
}

/// Reserves the uids kept, gives the others fresh ones (completing `map`)
/// and spawns the carried entities the world lacks; the entity of each
/// carried uid.
fn spawn_carried(
    world: &mut World,
    carried: &[u64],
    map: &mut BTreeMap<u64, u64>,
) -> UidMap<Entity> {
    {
        let mut uids = world.resource_mut::<Uids>();
        for &u in carried {
            if let Some(uid) = Uid::new(u) {
                uids.reserve(uid);
            }
        }
        let remapped: Vec<u64> = carried
            .iter()
            .copied()
            .filter(|u| !map.contains_key(u))
            .collect();
        for u in remapped {
            let fresh = uids.allocate();
            map.insert(u, fresh.get());
        }
    }
    let mut entity: UidMap<Entity> = UidMap::default();
    for &u in carried {
        let new = map[&u];
        let e = match world.resource::<Uids>().entity(new) {
            Some(e) => e,
            None => world
                .spawn(Uid::new(new).unwrap_or_else(|| unreachable!("checked or allocated")))
                .id(),
        };
        entity.insert(u, e);
    }
    entity
}

/// Where the values of an import go.
struct Placement<'p, 'a> {
    /// The entity of each carried uid.
    entity: &'p UidMap<Entity>,
    /// The uid each carried uid became.
    map: &'p BTreeMap<u64, u64>,
    /// Carried uids whose values are left out.
    skipped: &'p BTreeSet<u64>,
    /// The recorded order of each relationship.
    orders: &'p BTreeMap<&'a str, Vec<(u64, Vec<u64>)>>,
    refs: RefPolicy,
}

/// Decodes one checked column, resolves its references to the entities of
/// the import, and inserts its values (relationships in their recorded
/// order); notes what it inserted in `inserted`.
fn insert_column(
    world: &mut World,
    c: CheckedColumn<'_>,
    to: &Placement<'_, '_>,
    inserted: &mut Vec<(Entity, ComponentId)>,
) -> Result<(), ImportError> {
    let corrupt = |reason: String| ImportError::Corrupt {
        component: c.name.clone(),
        reason,
    };
    // Checked above: decoding again cannot fail; if it did, no value of
    // this column is inserted.
    let mut column = c
        .ops
        .decode_column(&c.payload, c.owners.len())
        .map_err(|e| corrupt(e.to_string()))?;
    let lookup = |u: u64| to.entity.get(&u).copied();
    let mut resolver = Resolver::new(&lookup, c.reg.refs().unwrap_or(to.refs));
    c.ops
        .resolve_column(&mut column, &c.owners, &mut resolver)
        .map_err(|d| ImportError::Dangling {
            component: c.name.clone(),
            holder: d.holder,
            target: d.target,
        })?;
    if c.name == dizzy_components::CORRELATION {
        column = remap_correlations(column, to.map, world);
    }
    // Values of skipped entities are dropped; a relationship is inserted
    // in the order its bundle records for each target.
    let mut keep: Vec<usize> = (0..c.owners.len())
        .filter(|&i| !to.skipped.contains(&c.owners[i]))
        .collect();
    if let Some(lists) = to.orders.get(c.name.as_str()) {
        let position: UidMap<usize> = lists
            .iter()
            .flat_map(|(_, l)| l.iter().enumerate().map(|(i, &u)| (u, i)))
            .collect();
        keep.sort_by_key(|&i| position.get(&c.owners[i]).copied().unwrap_or(usize::MAX));
    }
    column.reorder(&keep);
    let targets: Vec<Entity> = keep.iter().map(|&i| to.entity[&c.owners[i]]).collect();
    if let Some(id) = c.ops.component_id(world) {
        inserted.extend(targets.iter().map(|&e| (e, id)));
    }
    c.ops
        .insert_column(world, &targets, column)
        .map_err(|e| corrupt(e.to_string()))
}
