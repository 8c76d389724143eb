//! bevy relationships (`ChildOf` → `Children`, or a user's
//! `#[relationship]`): only the relationship component is persisted; bevy's
//! hooks rebuild the target's list (`Children`) as the relationship is
//! inserted, in insertion order. That order is the user's (`insert_children`
//! places children where it is told), so snapshots record it for targets
//! with two or more entries, and restore inserts relationships in it.

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::relationship::RelationshipAccessor;
use bevy_ecs::world::World;

/// A relationship component and the target component whose list it feeds.
#[derive(Clone, Copy)]
pub struct Relation {
    /// The relationship component (held by the source, e.g. `ChildOf`).
    pub relationship: ComponentId,
    /// The target component (held by the target, e.g. `Children`).
    pub target: ComponentId,
    iter: for<'a> unsafe fn(bevy_ecs::ptr::Ptr<'a>) -> Box<dyn Iterator<Item = Entity> + 'a>,
}

impl std::fmt::Debug for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relation")
            .field("relationship", &self.relationship)
            .field("target", &self.target)
            .finish()
    }
}

impl Relation {
    /// Whether component `id` is a relationship (its target component need
    /// not be registered yet: bevy registers it when a first value goes in).
    pub fn is_relationship(world: &World, id: ComponentId) -> bool {
        matches!(
            world
                .components()
                .get_info(id)
                .and_then(|i| i.relationship_accessor()),
            Some(RelationshipAccessor::Relationship { .. })
        )
    }

    /// The relation of component `id`, if it is a relationship whose target
    /// component is registered in `world`.
    pub fn of(world: &World, id: ComponentId) -> Option<Relation> {
        let components = world.components();
        let RelationshipAccessor::Relationship {
            relationship_target,
            ..
        } = components.get_info(id)?.relationship_accessor()?
        else {
            return None;
        };
        let RelationshipAccessor::RelationshipTarget { iter, .. } = components
            .get_info(*relationship_target)?
            .relationship_accessor()?
        else {
            return None;
        };
        Some(Relation {
            relationship: id,
            target: *relationship_target,
            iter: *iter,
        })
    }

    /// The list of `target` (the entities whose relationship points at it),
    /// in its order; `None` if it has none.
    pub fn list(&self, world: &World, target: Entity) -> Option<Vec<Entity>> {
        let ptr = world.get_entity(target).ok()?.get_by_id(self.target).ok()?;
        // SAFETY: `ptr` points at a value of component `self.target`, the
        // component whose accessor `iter` is (see `Relation::of`).
        Some(unsafe { (self.iter)(ptr) }.collect())
    }

    /// The entities that hold the target component, with their list.
    pub fn targets(&self, world: &World) -> Vec<(Entity, Vec<Entity>)> {
        world
            .archetypes()
            .iter()
            .filter(|a| a.contains(self.target))
            .flat_map(|a| a.entities().iter().map(|e| e.id()))
            .filter_map(|e| Some((e, self.list(world, e)?)))
            .collect()
    }
}
