//! What left the world since the last capture: the part of a delta that
//! change ticks cannot show.
//!
//! Filled by the [`Uid`](crate::Uid) hooks (entities that departed) and by one
//! observer per registered component (components removed from live entities);
//! emptied by each capture.

use bevy_ecs::component::ComponentId;
use bevy_ecs::resource::Resource;

/// Removals and departures since the last [`Journal::take`].
#[derive(Resource, Debug, Default)]
pub struct Journal {
    departed: Vec<u64>,
    removed: Vec<(ComponentId, u64)>,
}

/// The contents of a [`Journal`], taken.
#[derive(Debug, Default)]
pub struct Departures {
    /// Uids of entities that were despawned or lost their `Uid`.
    pub departed: Vec<u64>,
    /// `(component, uid)` for components removed from entities; an entity may
    /// since have departed too.
    pub removed: Vec<(ComponentId, u64)>,
}

impl Journal {
    /// Records that the entity with `uid` left the world.
    pub fn departed(&mut self, uid: u64) {
        self.departed.push(uid);
    }

    /// The uids of entities that left since the journal was last cleared
    /// (the last capture): taken by no one until a snapshot records them
    /// as gone, so an import does not give one to a new entity.
    pub fn departed_uids(&self) -> &[u64] {
        &self.departed
    }

    /// Records that component `id` was removed from the entity with `uid`.
    pub fn removed(&mut self, id: ComponentId, uid: u64) {
        self.removed.push((id, uid));
    }

    /// Takes everything recorded so far.
    pub fn take(&mut self) -> Departures {
        Departures {
            departed: std::mem::take(&mut self.departed),
            removed: std::mem::take(&mut self.removed),
        }
    }

    /// A copy of what was recorded so far: departed uids and removals.
    pub fn peek(&self) -> (Vec<u64>, Vec<(ComponentId, u64)>) {
        (self.departed.clone(), self.removed.clone())
    }

    /// Forgets everything recorded so far.
    pub fn clear(&mut self) {
        self.departed.clear();
        self.removed.clear();
    }
}
