//! Keyed rows (sparse-set components, resources): one value per uid.

use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{Resolver, Uid, Uids};

use crate::error::RestoreError;
use crate::format::{Chunk, Layout, SnapshotMeta, col, parse};
use crate::store::Stored;

use super::{Ctx, Unknown, corrupt, value_error};

impl Ctx<'_> {
    /// Decodes keyed rows of `name`, resolves their references and
    /// inserts them; returns the uids that got a value.
    pub(super) fn apply_keyed(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
        name: &str,
        chunks: &[Stored],
    ) -> Result<Vec<u64>, RestoreError> {
        let snap = meta.id;
        let mut inserted = Vec::new();
        if self.registry.get(name).is_none() {
            if self.unknown == Unknown::Keep {
                let none: [Vec<Uid>; 0] = [];
                self.keep_full(meta, name, chunks, &none)?;
            }
            return Ok(inserted);
        }
        let (ops, _) = self
            .column_ops(world, name)
            .map_err(|r| corrupt(self.store, snap, name, 0, r))?;
        for (ci, bytes) in chunks.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, snap, name, ci as u32, r);
            let chunk: Chunk<'_> = parse(bytes).map_err(bad)?;
            if chunk.layout != Layout::Keyed {
                return Err(bad("not a keyed chunk".into()));
            }
            let payload = self.upgraded(meta, name, chunk.payload, chunk.rows as usize)?;
            let targets: Vec<(u64, Entity)> = {
                let uids = world.resource::<Uids>();
                chunk
                    .uids()
                    .map(|uid| {
                        uids.entity(uid).map(|e| (uid, e)).ok_or_else(|| {
                            bad(format!("a value for uid {uid}, which does not exist"))
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            let reg = self.registry.get(name);
            let type_name = reg.map_or("?", |r| r.type_name());
            let panicked = |what: &str, message: String| RestoreError::Panicked {
                path: self.store.path().to_owned(),
                snapshot: snap,
                component: name.to_owned(),
                what: format!("{what} of {type_name}"),
                message,
            };
            let mut column = super::guard(|| ops.decode_column(&payload, targets.len()))
                .map_err(|m| panicked("`Deserialize`", m))?
                .map_err(|e| super::undecodable(self.store, self.registry, meta, name, e, bad))?;
            // Resolved before the values reach the world: hooks see entities.
            let holders: Vec<u64> = targets.iter().map(|t| t.0).collect();
            {
                let uids = world.resource::<Uids>();
                let lookup = |u: u64| uids.entity(u);
                let policy = reg.and_then(|r| r.refs()).unwrap_or(self.refs);
                let mut resolver = Resolver::new(&lookup, policy);
                ops.resolve_column(&mut column, &holders, &mut resolver)
                    .map_err(|d| super::dangling(self.store, snap, name, d))?;
            }
            let entities: Vec<Entity> = targets.iter().map(|t| t.1).collect();
            super::guard(|| ops.insert_column(world, &entities, column))
                .map_err(|m| panicked("a hook or observer", m))?
                .map_err(|e| value_error(self.store, snap, name, e, bad))?;
            inserted.extend(holders);
        }
        Ok(inserted)
    }

    pub(super) fn apply_resources(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
        which: Resources,
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::RESOURCE))
        {
            let name = &c.name[col::RESOURCE.len()..];
            let refs = self.registry.get(name).is_none_or(|r| r.references().any());
            match which {
                Resources::ReferenceFree if refs => continue,
                Resources::WithReferences if !refs => continue,
                _ => {}
            }
            let bad = |r: String| corrupt(self.store, snap, &c.name, 0, r);
            let Some(ops) = self.registry.get(name).and_then(|r| r.resource()) else {
                if self.registry.get(name).is_none() && self.unknown != Unknown::Fail {
                    if self.unknown == Unknown::Keep {
                        let schema = self.kept_shape(meta, name)?.clone();
                        for bytes in self.chunks(meta, &c.name)? {
                            let chunk = parse(&bytes).map_err(bad)?;
                            self.kept.put_resource(&schema, chunk.payload.to_vec());
                        }
                    }
                    continue;
                }
                return Err(bad(format!("`{name}` is not a registered resource")));
            };
            for bytes in self.chunks(meta, &c.name)? {
                let chunk = parse(&bytes).map_err(bad)?;
                if chunk.layout != Layout::Keyed || chunk.rows != 1 {
                    return Err(bad("not a resource chunk".into()));
                }
                let payload = self.upgraded(meta, name, chunk.payload, 1)?;
                let type_name = self.registry.get(name).map_or("?", |r| r.type_name());
                super::guard(|| {
                    world.resource_scope(|world, uids: bevy_ecs::world::Mut<Uids>| {
                        let lookup = |u: u64| uids.entity(u);
                        let mut resolver = Resolver::new(&lookup, self.refs);
                        ops.decode_insert(world, &payload, &mut resolver)
                    })
                })
                .map_err(|message| RestoreError::Panicked {
                    path: self.store.path().to_owned(),
                    snapshot: snap,
                    component: name.to_owned(),
                    what: format!("`Deserialize`, a hook or an observer of {type_name}"),
                    message,
                })?
                .map_err(|e| match e {
                    // A value that does not decode: a changed type or damage.
                    dizzy_components::ValueError::Codec(e) => {
                        super::undecodable(self.store, self.registry, meta, name, e, bad)
                    }
                    e => value_error(self.store, snap, name, e, bad),
                })?;
            }
        }
        if which == Resources::ReferenceFree {
            return Ok(());
        }
        for name in &meta.removed_resources {
            match self.registry.get(name).and_then(|r| r.resource()) {
                Some(ops) => ops.remove(world),
                None => self.kept.remove_resource(name),
            }
        }
        Ok(())
    }
}

/// Which of a snapshot's resources [`Ctx::apply_resources`] restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resources {
    /// Those whose values hold no entity references: a full restore gives
    /// them back before any entity, so that component hooks and observers
    /// run during the restore find them (a hook that reads a configuration
    /// resource is common bevy code).
    ReferenceFree,
    /// The others (and unregistered ones), once every entity exists and
    /// before the values that hold references; then the resources the
    /// snapshot records as removed (deltas).
    WithReferences,
}
