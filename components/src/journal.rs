//! What left the world since the last capture: the part of a delta that
//! change ticks cannot show.
//!
//! Filled by the [`Uid`](crate::Uid) hooks (entities that departed) and by one
//! observer per registered component (components removed from live entities);
//! emptied by each capture.

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
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

/// Whose value a [`LastRemovals`] entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A registered component, by its id in this world.
    Component(ComponentId),
    /// A component this build does not register, by its stable name
    /// (carried from a snapshot by a build that keeps such values).
    Named(String),
}

/// The removals every `RemovedComponents<T>` reader sees at the next tick:
/// those made after the last tick's systems (commands applied at the end of
/// the schedule) and between ticks (`world_mut()`, imports), in the order
/// they were made, each with the removed value (codec bytes, references as
/// uids). A snapshot records them, and a restore makes them again, so a
/// reader sees after a resume the removals it would have seen. Removals
/// made while the schedule runs (at its sync points, by exclusive systems)
/// are not recorded: whether a reader saw them depends on its place in the
/// schedule.
#[derive(Resource, Debug, Default)]
pub struct LastRemovals {
    closed: bool,
    entries: Vec<(Removed, u64, Vec<u8>)>,
    /// How many of `entries` were made before the last tick ended (bevy's
    /// `clear_trackers`, which ages removal messages): the rest were made
    /// between ticks, and readers see them for one tick longer.
    settled: usize,
    /// Entities despawned while recording, with their uids: what a later
    /// removed value that names one of them refers to.
    departed: Vec<(Entity, u64)>,
}

impl LastRemovals {
    /// A tick's systems start: what was recorded is forgotten (the readers
    /// see it in this tick) and nothing is recorded until [`Self::open`].
    pub fn close(&mut self) {
        self.closed = true;
        self.entries.clear();
        self.departed.clear();
        self.settled = 0;
    }

    /// The tick ended (bevy's `clear_trackers` aged the removal messages):
    /// the removals recorded so far were made in the tick; later ones are
    /// made between ticks, and readers see them at the next two ticks
    /// rather than the next one.
    pub fn settle(&mut self) {
        self.settled = self.entries.len();
    }

    /// How many of [`Self::entries`] were made in the last tick (before it
    /// ended); the rest were made between ticks.
    pub fn settled(&self) -> usize {
        self.settled.min(self.entries.len())
    }

    /// Records that `entity`, which had `uid`, left the world.
    pub fn departed(&mut self, entity: Entity, uid: u64) {
        if !self.closed {
            self.departed.push((entity, uid));
        }
    }

    /// The uid `entity` had, if it left the world while recording.
    pub fn departed_uid(&self, entity: Entity) -> Option<u64> {
        self.departed
            .iter()
            .rev()
            .find(|(e, _)| *e == entity)
            .map(|&(_, u)| u)
    }

    /// The tick's systems are done: removals are recorded again.
    pub fn open(&mut self) {
        self.closed = false;
    }

    /// Whether removals are being recorded.
    pub fn is_open(&self) -> bool {
        !self.closed
    }

    /// Records a removal of `what` from the entity with `uid`, whose value
    /// was `value`.
    pub fn push(&mut self, what: Removed, uid: u64, value: Vec<u8>) {
        if !self.closed {
            self.entries.push((what, uid, value));
        }
    }

    /// Forgets the removals recorded from entities of `uids` (entities a
    /// restore spawned for user code and took out again: they were never
    /// the world's, and a removal recorded from one would be made again on
    /// whatever entity holds that uid later).
    pub fn forget(&mut self, uids: &std::collections::HashSet<u64>) {
        // Those made in the last tick stay before those made after it.
        let settled = self.settled;
        let (mut i, mut kept) = (0, 0);
        self.entries.retain(|(_, uid, _)| {
            let keep = !uids.contains(uid);
            kept += usize::from(keep && i < settled);
            i += 1;
            keep
        });
        self.settled = kept;
    }

    /// The removals recorded, in order.
    pub fn entries(&self) -> &[(Removed, u64, Vec<u8>)] {
        &self.entries
    }
}
