//! Applying a delta on top of the restored world, in order.

use bevy_ecs::world::World;
use dizzy_components::{Uid, Uids};

use crate::error::RestoreError;
use crate::format::{SnapshotMeta, col};

use super::*;

impl Ctx<'_> {
    pub(super) fn apply_delta(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        for uid in self.uid_list(meta, col::DESPAWN)? {
            self.kept.despawn(uid);
            if let Some(e) = world.resource::<Uids>().entity(uid) {
                world.despawn(e);
            }
        }
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::REMOVE))
        {
            let name = &c.name[col::REMOVE.len()..];
            if self.registry.get(name).is_none() {
                for uid in self.uid_list(meta, &c.name)? {
                    self.kept.remove(name, uid);
                }
                continue;
            }
            let (ops, _) = self
                .column_ops(world, name)
                .map_err(|r| corrupt(self.store, snap, &c.name, 0, r))?;
            for uid in self.uid_list(meta, &c.name)? {
                if let Some(e) = world.resource::<Uids>().entity(uid) {
                    ops.remove(world, e);
                }
            }
        }
        for uid in self.uid_list(meta, col::SPAWN)? {
            let uid = Uid::new(uid).ok_or_else(|| {
                corrupt(
                    self.store,
                    snap,
                    col::SPAWN,
                    0,
                    format!("{uid} is not a valid uid"),
                )
            })?;
            if world.resource::<Uids>().entity(uid.get()).is_none() {
                world.spawn(uid);
            }
        }
        for c in meta.columns.iter().filter(|c| !c.name.starts_with('@')) {
            let chunks = self.chunks(meta, &c.name)?;
            self.apply_keyed(world, meta, &c.name, &chunks)?;
        }
        self.apply_resources(world, meta)
    }
}
