//! The order of relationship targets' lists (bevy's `Children`), which a
//! snapshot records beside the relationship component (`@order/<name>`):
//! a full restore inserts the relationship in that order; after a delta,
//! a list that came out in another order is put right by inserting its
//! entries' relationship again, in order (each moves to the end).

use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{Relation, UidMap, Uids, codec};

use crate::error::RestoreError;
use crate::format::{Layout, SnapshotMeta, col, parse};

use super::{Ctx, corrupt};

/// Indices into a column's rows, in the order to insert them.
pub(super) type Order = Vec<usize>;

impl Ctx<'_> {
    /// The lists recorded for relationship `name`: (target uid, entries' uids).
    fn recorded_lists(
        &self,
        meta: &SnapshotMeta,
        name: &str,
    ) -> Result<Vec<(u64, Vec<u64>)>, RestoreError> {
        let column = format!("{}{name}", col::ORDER);
        let mut out = Vec::new();
        for (ci, bytes) in self.chunks(meta, &column)?.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, meta.id, &column, ci as u32, r);
            let chunk = parse(bytes).map_err(bad)?;
            if chunk.layout != Layout::Keyed {
                return Err(bad("not a keyed chunk".into()));
            }
            let mut lists = Vec::new();
            codec::decode_rows::<Vec<u64>>(chunk.payload, chunk.rows as usize, |l| lists.push(l))
                .map_err(|e| bad(e.to_string()))?;
            out.extend(chunk.uids().zip(lists));
        }
        Ok(out)
    }

    /// The order in which to insert the rows of relationship `name` (held
    /// by `holders`, by uid) so that every target's list comes out as the
    /// snapshot records it; `None` when the snapshot records no order.
    pub(super) fn order(
        &self,
        meta: &SnapshotMeta,
        name: &str,
        holders: &[u64],
    ) -> Result<Option<Order>, RestoreError> {
        if meta.column(&format!("{}{name}", col::ORDER)).is_none() {
            return Ok(None);
        }
        let mut position: UidMap<usize> = UidMap::default();
        for (_, list) in self.recorded_lists(meta, name)? {
            for (i, uid) in list.into_iter().enumerate() {
                position.insert(uid, i);
            }
        }
        let mut order: Order = (0..holders.len()).collect();
        // Stable: rows of one target keep their recorded positions' order,
        // rows outside any recorded list keep theirs.
        order.sort_by_key(|&i| position.get(&holders[i]).copied().unwrap_or(usize::MAX));
        Ok(Some(order))
    }

    /// Puts every recorded list of `meta` in its recorded order.
    pub(super) fn apply_orders(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
        // Relationship hooks add to lists through commands: apply them first.
        world.flush();
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::ORDER))
        {
            let name = &c.name[col::ORDER.len()..];
            let Some(ops) = self.registry.get(name).and_then(|r| r.column()) else {
                // A relationship this build does not register, kept: its
                // lists are kept too, for the next snapshots.
                if self.unknown == crate::Unknown::Keep && self.registry.get(name).is_none() {
                    self.kept.mark_relationship(name);
                    for (target, list) in self.recorded_lists(meta, name)? {
                        self.kept.set_order(name, target, list);
                    }
                }
                continue;
            };
            let Some(relation) = ops
                .component_id(world)
                .and_then(|id| Relation::of(world, id))
            else {
                continue;
            };
            for (target, list) in self.recorded_lists(meta, name)? {
                let (wanted, target): (Vec<Entity>, Option<Entity>) = {
                    let uids = world.resource::<Uids>();
                    (
                        list.iter().filter_map(|&u| uids.entity(u)).collect(),
                        uids.entity(target),
                    )
                };
                let Some(target) = target else { continue };
                if relation.list(world, target).as_ref() != Some(&wanted) {
                    for e in wanted {
                        ops.reinsert(world, e);
                    }
                }
            }
        }
        Ok(())
    }
}
