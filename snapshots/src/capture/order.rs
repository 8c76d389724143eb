//! The order of relationship targets' lists, for restore to keep it (see
//! `dizzy_components::Relation`).

use bevy_ecs::change_detection::Tick;
use bevy_ecs::world::World;
use dizzy_components::{Registry, Relation, Uid, Uids, codec};

use crate::error::CaptureError;
use crate::format::{HEADER, Layout, col};
use crate::kept::Kept;

use super::encode::{Columns, finish};

/// Writes, for every registered relationship, the lists of two or more
/// entries of its targets: all of them (`changed` is `None`), or those
/// whose list changed in `changed` (a delta).
pub(super) fn encode_orders(
    world: &World,
    registry: &Registry,
    out: &mut Columns,
    changed: Option<(Tick, Tick)>,
) -> Result<(), CaptureError> {
    for reg in registry.iter() {
        let Some(id) = reg.column().and_then(|c| c.component_id(world)) else {
            continue;
        };
        let Some(relation) = Relation::of(world, id) else {
            continue;
        };
        let mut buf = vec![0u8; HEADER];
        let mut owners: Vec<u64> = Vec::new();
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
            codec::encode_into(&uids, &mut buf).map_err(|source| CaptureError::Codec {
                component: reg.name().to_owned(),
                source,
            })?;
            owners.push(owner.get());
        }
        // A full snapshot writes the column even without a list of two: it
        // tells a build that does not register the type (and keeps its
        // values) that it is a relationship.
        if owners.is_empty() && changed.is_some() {
            continue;
        }
        for u in &owners {
            buf.extend_from_slice(&u.to_le_bytes());
        }
        finish(&mut buf, Layout::Keyed, owners.len() as u32);
        out.push(
            &format!("{}{}", col::ORDER, reg.name()),
            owners.len() as u64,
            buf,
        );
    }
    // Relationships this build keeps without registering them: their lists
    // as recorded, in every full snapshot; in a delta, those an import
    // changed.
    if let Some(kept) = world.get_resource::<Kept>() {
        for (name, lists) in kept.orders(world.resource::<Uids>()) {
            let mut buf = vec![0u8; HEADER];
            let mut owners: Vec<u64> = Vec::new();
            let wanted = |(target, list): &(u64, Vec<u64>)| {
                list.len() >= 2 && (changed.is_none() || kept.order_changed(name, *target))
            };
            for (target, list) in lists.into_iter().filter(wanted) {
                codec::encode_into(&list, &mut buf).map_err(|source| CaptureError::Codec {
                    component: name.to_owned(),
                    source,
                })?;
                owners.push(target);
            }
            if owners.is_empty() && changed.is_some() {
                continue;
            }
            for u in &owners {
                buf.extend_from_slice(&u.to_le_bytes());
            }
            finish(&mut buf, Layout::Keyed, owners.len() as u32);
            out.push(&format!("{}{name}", col::ORDER), owners.len() as u64, buf);
        }
    }
    Ok(())
}
