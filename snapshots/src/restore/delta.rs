//! Applying a delta on top of the restored world, in order.

use bevy_ecs::component::ComponentId;
use bevy_ecs::world::World;
use dizzy_components::{Uid, Uids};

use crate::error::RestoreError;
use crate::format::{SnapshotMeta, col};

use super::keyed::Resources;
use super::{Ctx, corrupt};

impl Ctx<'_> {
    pub(super) fn apply_delta(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        // As in a full restore: hooks of the values below find the
        // delta's reference-free resources.
        self.apply_resources(world, meta, Resources::ReferenceFree)?;
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
        // Every entity a resource of the delta may name exists now: hooks
        // of the values below find those resources too.
        self.apply_resources(world, meta, Resources::WithReferences)?;
        // Registered components that bevy adds as required by a value
        // inserted here, and that the entity had not: removed again unless
        // this delta inserts them too.
        let requires = super::registered_requires(world, self.registry);
        let mut present_before: Vec<(u64, ComponentId, bool)> = Vec::new();
        if !requires.is_empty() {
            for c in meta.columns.iter().filter(|c| !c.name.starts_with('@')) {
                let Some(id) = self.id_of(world, &c.name) else {
                    continue;
                };
                let Some(required) = requires.get(&id) else {
                    continue;
                };
                for uid in self.keyed_uids(meta, &c.name)? {
                    let e = world.resource::<Uids>().entity(uid);
                    for &r in required {
                        let had = e.is_some_and(|e| world.entity(e).contains_id(r));
                        present_before.push((uid, r, had));
                    }
                }
            }
        }
        let mut inserted: Vec<(u64, ComponentId)> = Vec::new();
        // Values without references first: when a value that references an
        // entity is inserted (and its hooks run), every entity of the delta
        // holds its reference-free components.
        let mut columns: Vec<_> = meta
            .columns
            .iter()
            .filter(|c| !c.name.starts_with('@'))
            .collect();
        columns.sort_by_key(|c| {
            self.registry
                .get(&c.name)
                .is_some_and(|r| r.references().any())
        });
        for c in columns {
            let chunks = self.chunks(meta, &c.name)?;
            let uids = self.apply_keyed(world, meta, &c.name, &chunks)?;
            if let Some(id) = self.id_of(world, &c.name)
                && !present_before.is_empty()
            {
                inserted.extend(uids.into_iter().map(|u| (u, id)));
            }
        }
        for (uid, r, had) in present_before {
            if had || inserted.contains(&(uid, r)) {
                continue;
            }
            if let Some(e) = world.resource::<Uids>().entity(uid) {
                super::drop_components(world, e, &[r]);
            }
        }
        self.apply_orders(world, meta)?;
        // Despawns last: by then every value is as the delta left it, so a
        // despawn takes with it (bevy's linked despawn of `Children`) only
        // what the live despawn took — never a child that was moved or
        // taken out of the list before its parent went.
        for uid in self.uid_list(meta, col::DESPAWN)? {
            self.kept.despawn(uid);
            if let Some(e) = world.resource::<Uids>().entity(uid) {
                world.despawn(e);
            }
        }
        world.flush();
        Ok(())
    }

    /// The component id of registered component `name` in `world`.
    fn id_of(&self, world: &World, name: &str) -> Option<ComponentId> {
        self.registry.get(name)?.column()?.component_id(world)
    }

    /// The uids of the keyed chunks of column `name`.
    fn keyed_uids(&self, meta: &SnapshotMeta, name: &str) -> Result<Vec<u64>, RestoreError> {
        let mut out = Vec::new();
        for (i, bytes) in self.chunks(meta, name)?.iter().enumerate() {
            let chunk = crate::format::parse(bytes)
                .map_err(|r| super::corrupt(self.store, meta.id, name, i as u32, r))?;
            out.extend(chunk.uids());
        }
        Ok(out)
    }
}
