//! Export: a selection of a world, with what it references, cut out as
//! a bundle.

use std::collections::HashSet;

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{
    ColumnOps, RefEncoder, RefPolicy, Registration, Registry, Relation, Uid, Uids, ValueError,
};

use crate::format::{HEADER, Layout, Schema, col, header, lists_chunk};
use crate::kept::{self, Kept};

use super::{BundleBody, ExportError, ExportOptions, Exported, Selection, write};

/// Cuts `selection` (and, with the closure, everything it references) out
/// of `world` into a bundle. The world is only read.
///
/// # Errors
/// The selection names a uid that is not in the world or an unregistered
/// component, or selects nothing; a reference leaves the selection without
/// the closure under `RefPolicy::Fail`; a value does not encode.
pub fn export(
    world: &World,
    registry: &Registry,
    selection: &Selection,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        export_unguarded(world, registry, selection, options)
    }))
    .unwrap_or_else(|payload| {
        Err(ExportError::Panicked(
            dizzy_components::panic_message(payload.as_ref()).unwrap_or_default(),
        ))
    })
}

fn export_unguarded(
    world: &World,
    registry: &Registry,
    selection: &Selection,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    let mut chosen = selected(world, registry, selection)?;
    if chosen.is_empty() {
        return Err(ExportError::Empty);
    }
    let columns: Vec<(&str, &dyn ColumnOps, ComponentId)> = registry
        .iter()
        .filter_map(|r| {
            let ops = r.column()?;
            Some((r.name(), ops, ops.component_id(world)?))
        })
        .collect();
    let set = if options.closure {
        close_over_references(world, &columns, &mut chosen)?
    } else {
        chosen.iter().copied().collect()
    };
    chosen.sort_by_key(|&e| uid_of(world, e));
    chosen.dedup();

    let mut body = BundleBody {
        schemas: Vec::new(),
        uids: chosen.iter().map(|&e| uid_of(world, e)).collect(),
        columns: Vec::new(),
        source: options.source.clone(),
    };
    for &(name, ops, id) in &columns {
        let holders: Vec<Entity> = chosen
            .iter()
            .copied()
            .filter(|&e| world.entity(e).contains_id(id))
            .collect();
        if holders.is_empty() {
            continue;
        }
        let reg = registry
            .get(name)
            .unwrap_or_else(|| unreachable!("listed from the registry"));
        let chunk = values_chunk(world, reg, ops, &holders, &set, options.refs)?;
        // A type without a shape: how its first value reads, which the
        // importing build compares with its own reading.
        let trail = reg
            .untraced()
            .and_then(|_| crate::format::parse(&chunk).ok())
            .and_then(|c| ops.first_trail(c.payload));
        body.columns.push((name.to_owned(), chunk));
        body.schemas.push(Schema {
            name: reg.name().to_owned(),
            version: reg.version(),
            kind: reg.kind(),
            type_name: match trail {
                Some(trail) => format!("{} [first: {trail}]", reg.recorded_type_name()),
                None => reg.recorded_type_name(),
            },
            shape: reg.shape().map(str::to_owned),
        });
    }
    // The order of relationship targets' lists, among the entities carried.
    for &(name, _, id) in &columns {
        if let Some(relation) = Relation::of(world, id)
            && let Some(chunk) = order_chunk(world, name, &relation, &chosen, &set)?
        {
            body.columns.push((format!("{}{name}", col::ORDER), chunk));
        }
    }
    if let Some(kept) = world.get_resource::<Kept>() {
        let uids = world.resource::<Uids>();
        let within = |uid: u64| uids.entity(uid).is_some_and(|e| set.contains(&e));
        let mut exported = Vec::new();
        for (schema, chunk) in kept::bundle_columns(kept, &body.uids, &within)? {
            exported.push(schema.name.clone());
            body.columns.push((schema.name.clone(), chunk));
            body.schemas.push(schema);
        }
        // A kept relationship's lists, among the entities carried, as a
        // registered one's (the column even empty: it says what the type is).
        for (name, lists) in kept.orders(uids) {
            if !exported.iter().any(|n| n == name) {
                continue;
            }
            let lists = lists
                .into_iter()
                .filter(|(t, _)| within(*t))
                .map(|(t, list)| (t, list.into_iter().filter(|&u| within(u)).collect()))
                .filter(|(_, list): &(u64, Vec<u64>)| list.len() >= 2);
            let (_, chunk) = lists_chunk(lists).map_err(|source| ExportError::Codec {
                component: name.to_owned(),
                source,
            })?;
            body.columns.push((format!("{}{name}", col::ORDER), chunk));
        }
    }
    let components = body
        .columns
        .iter()
        .filter(|(n, _)| !n.starts_with('@'))
        .map(|(n, _)| n.clone())
        .collect();
    let entities = body.uids.len();
    let bytes = write(&body).map_err(|source| ExportError::Codec {
        component: "@bundle".into(),
        source,
    })?;
    Ok(Exported {
        bytes,
        entities,
        components,
    })
}

/// The uid of entity `e` (0 if it has none).
fn uid_of(world: &World, e: Entity) -> u64 {
    world.get::<Uid>(e).map_or(0, |u| u.get())
}

/// The entities `selection` names.
fn selected(
    world: &World,
    registry: &Registry,
    selection: &Selection,
) -> Result<Vec<Entity>, ExportError> {
    let with = |id: ComponentId| -> Vec<Entity> {
        let Some(uid_id) = world.component_id::<Uid>() else {
            return Vec::new();
        };
        world
            .archetypes()
            .iter()
            .filter(|a| a.contains(id) && a.contains(uid_id))
            .flat_map(|a| a.entities().iter().map(|e| e.id()))
            .collect()
    };
    Ok(match selection {
        Selection::Uids(uids) => uids
            .iter()
            .map(|&u| {
                world
                    .resource::<Uids>()
                    .entity(u)
                    .ok_or(ExportError::UnknownUid(u))
            })
            .collect::<Result<_, _>>()?,
        Selection::With(name) => match registry.get(name).and_then(|r| r.column()) {
            Some(ops) => with(
                ops.component_id(world)
                    .ok_or_else(|| ExportError::UnknownComponent(name.clone()))?,
            ),
            // A component this build does not register, kept from the file.
            None => {
                let kept = world
                    .get_resource::<Kept>()
                    .filter(|k| k.component_names().any(|n| n == name))
                    .ok_or_else(|| ExportError::UnknownComponent(name.clone()))?;
                let uids = world.resource::<Uids>();
                let mut holders = kept.holders(name);
                holders.sort_unstable();
                holders.into_iter().filter_map(|u| uids.entity(u)).collect()
            }
        },
        Selection::Correlation(c) => {
            match world.component_id::<dizzy_components::CorrelationId>() {
                Some(corr_id) => with(corr_id)
                    .into_iter()
                    .filter(|&e| {
                        world
                            .get::<dizzy_components::CorrelationId>(e)
                            .is_some_and(|id| id.0 == *c)
                    })
                    .collect(),
                None => Vec::new(),
            }
        }
    })
}

/// Adds to `chosen` what its values reference, until nothing new appears;
/// the set of every entity carried.
fn close_over_references(
    world: &World,
    columns: &[(&str, &dyn ColumnOps, ComponentId)],
    chosen: &mut Vec<Entity>,
) -> Result<HashSet<Entity>, ExportError> {
    let mut set: HashSet<Entity> = chosen.iter().copied().collect();
    let mut frontier = chosen.clone();
    while !frontier.is_empty() {
        let mut found = Vec::new();
        for (name, ops, _) in columns {
            ops.referenced(world, &frontier, &mut found)
                .map_err(|source| ExportError::Codec {
                    component: (*name).to_owned(),
                    source,
                })?;
        }
        found.extend(kept::references(world, &frontier));
        frontier = found
            .into_iter()
            .filter(|e| world.get::<Uid>(*e).is_some() && set.insert(*e))
            .collect();
        chosen.extend(frontier.iter().copied());
    }
    Ok(set)
}

/// The keyed chunk of one component's values on `holders` (references as
/// uids of entities in `set`, or as `refs` says), then their uids.
fn values_chunk(
    world: &World,
    reg: &Registration,
    ops: &dyn ColumnOps,
    holders: &[Entity],
    set: &HashSet<Entity>,
    refs: RefPolicy,
) -> Result<Vec<u8>, ExportError> {
    let name = reg.name();
    let within = |e: Entity| set.contains(&e);
    let encoder = RefEncoder::new(world, reg.refs().unwrap_or(refs)).within(&within);
    let refs = reg.references().any().then_some(&encoder);
    let mut chunk = vec![0u8; HEADER];
    let rows = ops
        .encode(
            world,
            dizzy_components::Place::Entities(holders),
            refs,
            &mut chunk,
        )
        .map_err(|e| match e {
            ValueError::Dangling(d) => ExportError::Dangling {
                component: name.to_owned(),
                holder: d.holder,
            },
            ValueError::Codec(source) => ExportError::Codec {
                component: name.to_owned(),
                source,
            },
            other => ExportError::Codec {
                component: name.to_owned(),
                source: dizzy_components::CodecError::Encode(other.to_string()),
            },
        })?;
    for &e in holders {
        chunk.extend_from_slice(&uid_of(world, e).to_le_bytes());
    }
    let mut h = Vec::with_capacity(HEADER);
    header(&mut h, Layout::Keyed, rows as u32);
    chunk[..HEADER].copy_from_slice(&h);
    Ok(chunk)
}

/// The keyed chunk of relationship `name`'s target lists (of two or more
/// carried sources) of the carried targets, or `None` if there is none.
fn order_chunk(
    world: &World,
    name: &str,
    relation: &Relation,
    chosen: &[Entity],
    set: &HashSet<Entity>,
) -> Result<Option<Vec<u8>>, ExportError> {
    let mut lists = Vec::new();
    for &target in chosen {
        let Some(list) = relation.list(world, target) else {
            continue;
        };
        let uids: Vec<u64> = list
            .iter()
            .filter(|e| set.contains(e))
            .map(|&e| uid_of(world, e))
            .collect();
        if uids.len() >= 2 {
            lists.push((uid_of(world, target), uids));
        }
    }
    // Written even without a list of two: it tells a build that does not
    // register the type (and keeps its values) that it is a relationship.
    lists_chunk(lists)
        .map(|(_, chunk)| Some(chunk))
        .map_err(|source| ExportError::Codec {
            component: name.to_owned(),
            source,
        })
}
