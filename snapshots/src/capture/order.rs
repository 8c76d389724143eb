//! The order of relationship targets' lists, for restore to keep it (see
//! `dizzy_components::Relation`).

use bevy_ecs::change_detection::Tick;
use bevy_ecs::world::World;
use dizzy_components::{Registry, Relation, Uid, Uids};

use crate::error::CaptureError;
use crate::format::{col, lists_chunk};
use crate::kept::Kept;

use super::encode::Columns;

/// Writes, for every registered relationship, the lists of two or more
/// entries of its targets: all of them (`changed` is `None`), or those
/// whose list changed in `changed` (a delta).
pub(super) fn encode_orders(
    world: &World,
    registry: &Registry,
    out: &mut Columns,
    changed: Option<(Tick, Tick)>,
) -> Result<(), CaptureError> {
    // A full snapshot writes the column even without a list of two: it
    // tells a build that does not register the type (and keeps its values)
    // that it is a relationship.
    let mut push = |name: &str, lists: Vec<(u64, Vec<u64>)>| {
        if lists.is_empty() && changed.is_some() {
            return Ok(());
        }
        let (rows, chunk) = lists_chunk(lists).map_err(|source| CaptureError::Codec {
            component: name.to_owned(),
            source,
        })?;
        out.push(&format!("{}{name}", col::ORDER), rows, chunk);
        Ok(())
    };
    for reg in registry.iter() {
        let Some(id) = reg.column().and_then(|c| c.component_id(world)) else {
            continue;
        };
        let Some(relation) = Relation::of(world, id) else {
            continue;
        };
        let mut lists = Vec::new();
        for (target, list) in relation.targets(world) {
            if list.len() < 2 {
                continue;
            }
            if let Some((since, now)) = changed {
                let fresh = world
                    .get_entity(target)
                    .ok()
                    .and_then(|e| e.get_change_ticks_by_id(relation.target))
                    .is_some_and(|t| t.is_changed(since, now));
                if !fresh {
                    continue;
                }
            }
            let Some(owner) = world.get::<Uid>(target) else {
                continue;
            };
            // Entries without a uid are not persisted: they are not restored
            // either, and leave no gap.
            let uids: Vec<u64> = list
                .iter()
                .filter_map(|&e| world.get::<Uid>(e).map(|u| u.get()))
                .collect();
            lists.push((owner.get(), uids));
        }
        push(reg.name(), lists)?;
    }
    // Relationships this build keeps without registering them: their lists
    // as recorded, in every full snapshot; in a delta, those an import
    // changed.
    if let Some(kept) = world.get_resource::<Kept>() {
        for (name, lists) in kept.orders(world.resource::<Uids>()) {
            let lists = lists
                .into_iter()
                .filter(|(target, list)| {
                    list.len() >= 2 && (changed.is_none() || kept.order_changed(name, *target))
                })
                .collect();
            push(name, lists)?;
        }
    }
    Ok(())
}
