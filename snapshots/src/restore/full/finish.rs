//! The last steps of a full restore, once every entity exists: values
//! that hold references are resolved and inserted (relationships in the
//! order the snapshot records), then the required components the snapshot
//! does not record are dropped.

use std::collections::BTreeMap;

use bevy_ecs::component::ComponentId;
use bevy_ecs::world::World;
use dizzy_components::{DecodedColumn, Resolver, Uids};

use super::super::{Ctx, corrupt, dangling, drop_components, guard, registered_requires};
use super::{Deferred, Plan};
use crate::error::RestoreError;
use crate::format::SnapshotMeta;

impl Ctx<'_> {
    /// Resolves the references of the deferred values (every entity exists
    /// now) and inserts them; a relationship is inserted in the order the
    /// snapshot records for each target, so that bevy rebuilds the target's
    /// list (`Children`) in the order the user gave it.
    pub(super) fn insert_deferred(
        &self,
        world: &mut World,
        meta: &SnapshotMeta,
        deferred: Vec<Deferred>,
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        let mut by_name: BTreeMap<String, Vec<Deferred>> = BTreeMap::new();
        for d in deferred {
            by_name.entry(d.name.clone()).or_default().push(d);
        }
        for (name, parts) in by_name {
            let (ops, _) = self
                .column_ops(world, &name)
                .map_err(|r| corrupt(self.store, snap, &name, 0, r))?;
            let policy = self
                .registry
                .get(&name)
                .and_then(|r| r.refs())
                .unwrap_or(self.refs);
            // One column of every group, resolved.
            let mut entities = Vec::new();
            let mut holders = Vec::new();
            let mut column: Option<DecodedColumn> = None;
            for mut part in parts {
                world
                    .resource_scope(|_, uids: bevy_ecs::world::Mut<Uids>| {
                        let lookup = |u: u64| uids.entity(u);
                        let mut resolver = Resolver::new(&lookup, policy);
                        ops.resolve_column(&mut part.column, &part.holders, &mut resolver)
                    })
                    .map_err(|d| dangling(self.store, snap, &name, d))?;
                entities.extend(part.entities);
                holders.extend(part.holders);
                match &mut column {
                    Some(c) => c.append(part.column),
                    None => column = Some(part.column),
                }
            }
            let Some(mut column) = column else { continue };
            let order = self.order(meta, &name, &holders)?;
            if let Some(order) = order {
                column.reorder(&order);
                entities = order.iter().map(|&i| entities[i]).collect();
            }
            guard(|| ops.insert_column(world, &entities, column))
                .map_err(|message| RestoreError::Panicked {
                    path: self.store.path().to_owned(),
                    snapshot: snap,
                    component: name.clone(),
                    what: format!("a hook or observer of {}", ops.type_name()),
                    message,
                })?
                .map_err(|e| corrupt(self.store, snap, &name, 0, e.to_string()))?;
        }
        Ok(())
    }

    /// Removes from the restored entities the registered components that
    /// bevy added as *required* by another one but the snapshot does not
    /// record (the user had removed them). `sparse`: the uids that got each
    /// sparse-set component.
    pub(super) fn drop_unrecorded_requires(
        &self,
        world: &mut World,
        plan: &Plan<'_>,
        sparse: &[(&str, Vec<u64>)],
    ) {
        let requires = registered_requires(world, self.registry);
        if requires.is_empty() {
            return;
        }
        let id_of = |world: &World, n: &str| self.registry.get(n)?.column()?.component_id(world);
        let sparse: Vec<(ComponentId, std::collections::HashSet<u64>)> = sparse
            .iter()
            .filter_map(|(n, uids)| Some((id_of(world, n)?, uids.iter().copied().collect())))
            .collect();
        let holds_sparse = |id: ComponentId, uid: u64| {
            sparse
                .iter()
                .any(|(s, uids)| *s == id && uids.contains(&uid))
        };
        for (gi, g) in plan.groups.iter().enumerate() {
            let recorded: Vec<ComponentId> = g
                .components
                .iter()
                .filter_map(|n| id_of(world, n))
                .collect();
            for uid in &plan.uids[gi] {
                let mine: Vec<ComponentId> = recorded
                    .iter()
                    .copied()
                    .chain(
                        sparse
                            .iter()
                            .filter(|(_, uids)| uids.contains(&uid.get()))
                            .map(|(id, _)| *id),
                    )
                    .collect();
                let extra: Vec<ComponentId> = mine
                    .iter()
                    .filter_map(|id| requires.get(id))
                    .flatten()
                    .copied()
                    .filter(|r| !recorded.contains(r) && !holds_sparse(*r, uid.get()))
                    .collect();
                if extra.is_empty() {
                    continue;
                }
                if let Some(e) = world.resource::<Uids>().entity(uid.get()) {
                    drop_components(world, e, &extra);
                }
            }
        }
    }
}
