//! Entity references inside components.
//!
//! At runtime a component keeps `Entity` fields (bevy's `#[entities]` /
//! `MapEntities`). On disk every reference is the target's [`Uid`](crate::Uid):
//! a value is encoded through a copy whose references are stand-in entities
//! whose bits *are* the targets' uids (the live value is never written; see
//! [`RefEncoder`](crate::RefEncoder)); on decode each stand-in becomes the
//! local `Entity` of that uid again, before the value reaches the world.
//! `Entity::PLACEHOLDER` (a "no entity" value) is stored as [`NULL_REF`].
//!
//! A reference whose target is not persisted (on encode) or not present (on
//! decode) is a *dangling* reference. It is an error by default
//! ([`RefPolicy::Fail`]); [`RefPolicy::Drop`] replaces it with
//! `Entity::PLACEHOLDER`. It never silently becomes some other entity.

use bevy_ecs::entity::{Entity, EntityMapper};

use crate::uid::{NULL_REF, ref_entity};

/// What to do with a reference to an entity that is not persisted or not present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefPolicy {
    /// Refuse: the snapshot or restore fails with an error naming the reference.
    #[default]
    Fail,
    /// Replace the reference with `Entity::PLACEHOLDER`.
    Drop,
}

/// A reference that could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dangling {
    /// The uid of the entity holding the reference (0 if unknown).
    pub holder: u64,
    /// The missing target: its uid when decoding, its runtime bits when encoding.
    pub target: u64,
}

/// Resolves uid placeholders (as decoded) to local entities.
pub struct Resolver<'a> {
    lookup: &'a dyn Fn(u64) -> Option<Entity>,
    policy: RefPolicy,
    holder: u64,
    dangling: Option<Dangling>,
    seen: bool,
}

impl std::fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("policy", &self.policy)
            .field("dangling", &self.dangling)
            .finish()
    }
}

impl<'a> Resolver<'a> {
    /// A resolver that looks uids up with `lookup`.
    pub fn new(lookup: &'a dyn Fn(u64) -> Option<Entity>, policy: RefPolicy) -> Self {
        Resolver {
            lookup,
            policy,
            holder: 0,
            dangling: None,
            seen: false,
        }
    }

    /// Sets the uid of the entity whose value is being resolved (for errors).
    pub fn holder(&mut self, uid: u64) {
        self.holder = uid;
    }

    /// The first dangling reference met, if the policy is `Fail`.
    pub fn dangling(&self) -> Option<Dangling> {
        self.dangling
    }

    /// Whether any reference was visited.
    pub fn saw_references(&self) -> bool {
        self.seen
    }
}

impl EntityMapper for Resolver<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        self.seen = true;
        let raw = source.to_bits();
        if raw == NULL_REF {
            return Entity::PLACEHOLDER;
        }
        match (self.lookup)(raw) {
            Some(e) => e,
            None => {
                if self.policy == RefPolicy::Fail && self.dangling.is_none() {
                    self.dangling = Some(Dangling {
                        holder: self.holder,
                        target: raw,
                    });
                }
                Entity::PLACEHOLDER
            }
        }
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

pub(crate) fn null_entity() -> Entity {
    // NULL_REF is a valid entity's bits (it is PLACEHOLDER's own bits today,
    // but the on-disk value is ours, not bevy's).
    ref_entity(NULL_REF).unwrap_or(Entity::PLACEHOLDER)
}

/// Leaves out of `values` those of a relationship (`T`) that hold no
/// entity where a reference was: a reference `RefPolicy::Drop` dropped when
/// it was saved (to an entity that was not persisted). bevy cannot hold a
/// relationship to no entity (its hook panics), so the entity comes back
/// without it, as a dropped reference is meant to. (The check is by the
/// value's references, as `map_entities` visits them: a relationship that
/// holds other references as well is left out when any of them was dropped.)
pub(crate) fn drop_relationships_to_no_entity<T: bevy_ecs::component::Component>(
    values: &mut Vec<(Entity, T)>,
) {
    /// Notes whether any reference it is shown is no entity.
    struct NoEntity(bool);
    impl bevy_ecs::entity::EntityMapper for NoEntity {
        fn get_mapped(&mut self, source: Entity) -> Entity {
            self.0 |= source == null_entity();
            source
        }
        fn set_mapped(&mut self, _: Entity, _: Entity) {}
    }
    // Only relationships (a registered type is never a relationship target).
    if T::relationship_accessor().is_none() {
        return;
    }
    values.retain_mut(|(_, v)| {
        let mut found = NoEntity(false);
        T::map_entities(v, &mut found);
        !found.0
    });
}
