//! Entity references inside components.
//!
//! At runtime a component keeps `Entity` fields (bevy's `#[entities]` /
//! `MapEntities`). On disk every reference is the target's [`Uid`]: before a
//! column is encoded its references are swapped, in place, for placeholder
//! entities whose bits *are* the target's uid, and swapped back right after;
//! on decode each placeholder becomes the local `Entity` of that uid again.
//! `Entity::PLACEHOLDER` (a "no entity" value) is stored as [`NULL_REF`].
//!
//! A reference whose target is not persisted (on encode) or not present (on
//! decode) is a *dangling* reference. It is an error by default
//! ([`RefPolicy::Fail`]); [`RefPolicy::Drop`] replaces it with
//! `Entity::PLACEHOLDER`. It never silently becomes some other entity.

use bevy_ecs::entity::{Entity, EntityMapper};

use crate::uid::{NULL_REF, Uid, ref_entity};

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

/// Maps live entities to their uid placeholders, remembering the originals so
/// that [`Restorer`] can put them back exactly.
pub(crate) struct ToPlaceholders<'a> {
    pub(crate) uid_of: &'a dyn Fn(Entity) -> Option<Uid>,
    pub(crate) policy: RefPolicy,
    pub(crate) originals: Vec<Entity>,
    pub(crate) dangling: Option<u64>,
}

impl EntityMapper for ToPlaceholders<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        self.originals.push(source);
        if source == Entity::PLACEHOLDER {
            return null_entity();
        }
        match (self.uid_of)(source) {
            Some(uid) => ref_entity(uid.get()).unwrap_or_else(null_entity),
            None => {
                if self.policy == RefPolicy::Fail && self.dangling.is_none() {
                    self.dangling = Some(source.to_bits());
                }
                null_entity()
            }
        }
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Puts back the entities a [`ToPlaceholders`] pass replaced, in visit order.
pub(crate) struct Restorer<'a> {
    pub(crate) originals: std::slice::Iter<'a, Entity>,
}

impl EntityMapper for Restorer<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        self.originals.next().copied().unwrap_or(source)
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
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

fn null_entity() -> Entity {
    // NULL_REF is a valid entity's bits (it is PLACEHOLDER's own bits today,
    // but the on-disk value is ours, not bevy's).
    ref_entity(NULL_REF).unwrap_or(Entity::PLACEHOLDER)
}
