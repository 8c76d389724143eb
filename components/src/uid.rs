//! Stable identity: [`Uid`], the allocator that hands uids out and the index
//! from uid to the live [`Entity`].
//!
//! A bevy `Entity` is a runtime handle: it is never written to disk. Every
//! persisted entity carries an immutable `Uid`, allocated by its world; the
//! allocator's state is persisted with every snapshot, so a uid is never handed
//! out twice in the life of a file. The index is kept exact by the component's
//! hooks, whatever inserts or removes the `Uid`.
//!
//! An entity gets its uid the moment it first gets a persisted component:
//! `Uid` is a *required component* of every registered type, built from the
//! allocator. Spawns are applied in a deterministic order (commands in
//! schedule order, then observers' and hooks'), so the uid an entity gets
//! depends only on what the systems did since the last snapshot — never on
//! archetypes, entity indices or the process's history.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bevy_ecs::component::Component;
use bevy_ecs::entity::Entity;
use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::{DeferredWorld, World};
use serde::{Deserialize, Serialize};

use crate::journal::Journal;

/// The stable identity of a persisted entity.
///
/// Allocated by the world (see [`Uids::allocate`]), immutable, and the same in
/// every snapshot, bundle and process. In serialized entity references a uid is
/// stored as the reference's value. Uids `0` and `1` are reserved (`1` is the
/// null reference), so the first uid a world hands out is `2`.
#[derive(
    Component, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[component(
    immutable,
    clone_behavior = Ignore,
    on_insert = Uid::on_insert,
    on_discard = Uid::on_discard,
    on_remove = Uid::on_remove
)]
#[serde(transparent)]
pub struct Uid(u64);

/// The reference value that stands for "no entity" (`Entity::PLACEHOLDER`).
pub const NULL_REF: u64 = 1;

impl Uid {
    /// Wraps a raw value, or `None` if the value can never be a uid.
    pub fn new(raw: u64) -> Option<Uid> {
        is_valid(raw).then_some(Uid(raw))
    }

    /// The raw value.
    pub const fn get(self) -> u64 {
        self.0
    }

    fn on_insert(mut world: DeferredWorld, ctx: HookContext) {
        if BULK.get() {
            return;
        }
        let Some(&uid) = world.get::<Uid>(ctx.entity) else {
            return;
        };
        if let Some(mut uids) = world.get_resource_mut::<Uids>() {
            uids.index_insert(uid.0, ctx.entity);
        }
    }

    fn on_discard(mut world: DeferredWorld, ctx: HookContext) {
        let Some(&uid) = world.get::<Uid>(ctx.entity) else {
            return;
        };
        if let Some(mut uids) = world.get_resource_mut::<Uids>() {
            uids.index_remove(uid.0, ctx.entity);
        }
    }

    fn on_remove(mut world: DeferredWorld, ctx: HookContext) {
        let Some(&uid) = world.get::<Uid>(ctx.entity) else {
            return;
        };
        if let Some(mut journal) = world.get_resource_mut::<Journal>() {
            journal.departed(uid.0);
        }
        if let Some(mut last) = world.get_resource_mut::<crate::journal::LastRemovals>() {
            last.departed(ctx.entity, uid.0);
        }
    }
}

impl std::fmt::Display for Uid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

thread_local! {
    /// Set while [`Uids::bulk`] runs: the insert hook leaves indexing to it.
    static BULK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether `raw` can be a uid: it must round-trip through an `Entity`'s bits
/// (that is how references are stored) and not be reserved.
pub fn is_valid(raw: u64) -> bool {
    raw > NULL_REF && Entity::try_from_bits(raw).is_some_and(|e| e.to_bits() == raw)
}

/// The placeholder entity a reference to `uid` is written as; see
/// [`Uid`]. `NULL_REF` gives `Entity::PLACEHOLDER`'s stand-in.
pub fn ref_entity(raw: u64) -> Option<Entity> {
    Entity::try_from_bits(raw).filter(|e| e.to_bits() == raw)
}

/// A multiplicative hasher for `u64` keys (uids are sequential; the default
/// SipHash is slow and an identity hash clusters badly).
#[derive(Default, Clone, Copy, Debug)]
pub struct UidHasher(u64);

impl Hasher for UidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }
}

/// A `HashMap` keyed by uid.
pub type UidMap<V> = HashMap<u64, V, BuildHasherDefault<UidHasher>>;

/// How far past the allocator's next uid a uid may lie for keeping it to
/// move the allocator past it (2^40): a uid further ahead is a hostile or
/// foreign value, and following it would waste the uid space.
const PASS_LIMIT: u64 = 1 << 40;

/// The uid allocator and the `uid -> Entity` index of one world.
///
/// The index is dense (a vector indexed by uid) for the uids this world
/// allocates, which are sequential, and falls back to a map for uids that came
/// from elsewhere (bundles).
#[derive(Resource, Debug)]
pub struct Uids {
    /// The next raw value to consider; shared with the constructors of the
    /// required `Uid` component (see [`take_from`]).
    next: Arc<AtomicU64>,
    /// The uids those constructors hand out while a log is on (a restore
    /// finds what user code spawned with it).
    log: Arc<AllocationLog>,
    dense: Vec<Entity>,
    sparse: UidMap<Entity>,
    live: usize,
    /// This index's number in the process, and how many times it indexed
    /// an entity (see [`Uids::insert_stamp`]).
    instance: u64,
    inserts: u64,
    /// Uids indexed for an entity while another entity held them, with
    /// that other entity (see [`Uids::shared`]).
    shared: Vec<(u64, Entity)>,
}

impl Default for Uids {
    fn default() -> Self {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        Uids {
            next: Arc::new(AtomicU64::new(NULL_REF + 1)),
            log: Arc::default(),
            dense: Vec::new(),
            sparse: UidMap::default(),
            live: 0,
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            inserts: 0,
            shared: Vec::new(),
        }
    }
}

/// The uids the required `Uid` component's constructor handed out while
/// the log was on.
#[derive(Debug, Default)]
pub(crate) struct AllocationLog {
    on: std::sync::atomic::AtomicBool,
    uids: std::sync::Mutex<Vec<u64>>,
}

impl AllocationLog {
    /// Records `uid` if the log is on.
    pub(crate) fn note(&self, uid: Uid) {
        if self.on.load(Ordering::Relaxed) {
            self.uids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(uid.0);
        }
    }
}

/// Takes the next valid uid from an allocator's shared counter. This is
/// what the required `Uid` component is built with: it cannot see the
/// index, so a uid imported from elsewhere far (2^40) ahead of the
/// allocator could in principle be met again after 2^40 allocations.
pub(crate) fn take_from(next: &AtomicU64) -> Uid {
    loop {
        let raw = next.fetch_add(1, Ordering::Relaxed);
        if is_valid(raw) {
            return Uid(raw);
        }
    }
}

const DENSE_SLACK: u64 = 1 << 16;

/// The dense index never holds more than this many slots for `live`
/// entities: however spaced the uids a file or bundle holds, the index
/// stays a small multiple of the entities it indexes (uids beyond go to
/// the sparse map).
fn dense_room(live: usize) -> u64 {
    4 * live as u64 + DENSE_SLACK
}

impl Uids {
    /// Hands out a fresh uid.
    pub fn allocate(&mut self) -> Uid {
        // A uid that came from elsewhere (a bundle) may sit ahead of the
        // allocator: skip every uid that is taken.
        loop {
            let uid = take_from(&self.next);
            if self.entity(uid.0).is_none() {
                return uid;
            }
        }
    }

    /// The counter the required `Uid` component is built from, and the log
    /// it writes to.
    pub(crate) fn shared_counter(&self) -> (Arc<AtomicU64>, Arc<AllocationLog>) {
        (self.next.clone(), self.log.clone())
    }

    /// Starts recording the uids handed to entities that get a persisted
    /// component without one (what user code spawns), for
    /// [`Uids::take_allocation_log`].
    #[doc(hidden)]
    pub fn start_allocation_log(&self) {
        self.log.on.store(true, Ordering::Relaxed);
    }

    /// Stops recording (see [`Uids::start_allocation_log`]) and returns
    /// what was recorded.
    #[doc(hidden)]
    pub fn take_allocation_log(&self) -> Vec<u64> {
        self.log.on.store(false, Ordering::Relaxed);
        std::mem::take(
            &mut *self
                .log
                .uids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Moves the allocator past `uid`, unless `uid` is so far ahead that
    /// following it would waste the uid space (a hostile or foreign value):
    /// such uids stay unique because `allocate` skips live ones.
    fn pass(&mut self, uid: u64) {
        let next = self.next.load(Ordering::Relaxed);
        if uid >= next && uid - next < PASS_LIMIT {
            self.next.store(uid + 1, Ordering::Relaxed);
        }
    }

    /// Whether this world never handed `uid` out: no live entity holds it
    /// and it is at or past the allocator's next uid (and within
    /// [`Uids::reserve`]'s reach, so that keeping it moves the allocator
    /// past it). A uid whose entity left is never free again, and whether a
    /// uid is free depends only on the world's history (which uids it
    /// handed out), never on when snapshots were taken: an import keeps a
    /// bundle's uid only where this says so.
    pub fn never_given(&self, uid: u64) -> bool {
        let next = self.next.load(Ordering::Relaxed);
        self.entity(uid).is_none() && uid >= next && uid - next < PASS_LIMIT
    }

    /// Hands out `n` consecutive fresh uids' worth of values.
    pub fn allocate_many(&mut self, n: usize) -> Vec<Uid> {
        (0..n).map(|_| self.allocate()).collect()
    }

    /// The allocator's state: the next raw value it will consider.
    pub fn next_raw(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// Restores the allocator's state (never moves it backwards).
    pub fn set_next_raw(&mut self, next: u64) {
        self.next.fetch_max(next, Ordering::Relaxed);
    }

    /// Sets the allocator's state exactly, backwards too: for a restore that
    /// undoes what user code allocated while it ran.
    #[doc(hidden)]
    pub fn reset_next_raw(&mut self, next: u64) {
        self.next.store(next, Ordering::Relaxed);
    }

    /// Makes sure `uid` will never be allocated again (after an import).
    pub fn reserve(&mut self, uid: Uid) {
        self.pass(uid.0);
    }

    /// The live entity with this uid.
    pub fn entity(&self, uid: u64) -> Option<Entity> {
        match self.dense.get(uid as usize) {
            Some(&e) if e != Entity::PLACEHOLDER => Some(e),
            _ if self.sparse.is_empty() => None,
            _ => self.sparse.get(&uid).copied(),
        }
    }

    /// How many live entities have a uid.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no live entity has a uid.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Runs `spawn` (which spawns entities with uids and returns each uid
    /// with its entity) with the per-entity index hook suspended on this
    /// thread, then indexes the returned pairs in one pass. Restoring a
    /// million entities this way avoids a million resource lookups.
    pub fn bulk<F>(world: &mut World, spawn: F) -> Vec<Entity>
    where
        F: FnOnce(&mut World) -> (Vec<Uid>, Vec<Entity>),
    {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                BULK.set(false);
            }
        }
        BULK.set(true);
        let reset = Reset;
        let (uids, entities) = spawn(world);
        drop(reset);
        let mut index = world.resource_mut::<Uids>();
        index.reserve_index(uids.len());
        for (uid, &e) in uids.iter().zip(&entities) {
            index.index_insert(uid.0, e);
        }
        entities
    }

    /// Reserves index room for `n` more uids.
    pub fn reserve_index(&mut self, n: usize) {
        let want = (self.next_raw() as usize).saturating_add(n);
        if want <= self.dense.len() + DENSE_SLACK as usize * 64
            && want as u64 <= dense_room(self.live.saturating_add(n))
        {
            self.dense.reserve(want.saturating_sub(self.dense.len()));
        }
    }

    /// A stamp that changes whenever an entity is given a uid (spawned,
    /// restored, imported, or its `Uid` inserted again), and differs
    /// between two `Uids` of one process: equal stamps mean that no entity
    /// got a uid in between. A delta capture looks for new entities only
    /// when the stamp moved since the previous capture.
    pub fn insert_stamp(&self) -> (u64, u64) {
        (self.instance, self.inserts)
    }

    fn index_insert(&mut self, uid: u64, entity: Entity) {
        self.inserts = self.inserts.wrapping_add(1);
        self.pass(uid);
        let slot = uid as usize;
        if uid < self.dense.len() as u64
            || (uid < self.dense.len() as u64 + DENSE_SLACK && uid < dense_room(self.live + 1))
        {
            if slot >= self.dense.len() {
                self.dense.resize(slot + 1, Entity::PLACEHOLDER);
            }
            let before = std::mem::replace(&mut self.dense[slot], entity);
            if before == Entity::PLACEHOLDER {
                self.live += 1;
            } else if before != entity {
                self.shared.push((uid, before));
            }
        } else {
            match self.sparse.insert(uid, entity) {
                None => self.live += 1,
                Some(before) if before != entity => self.shared.push((uid, before)),
                Some(_) => {}
            }
        }
    }

    /// The uids given to an entity while another entity held them (a `Uid`
    /// inserted by hand), each with the entity that held it before, since
    /// [`Uids::clear_shared`]. The other entity may have let go of it
    /// since: a capture checks each pair in the world.
    #[doc(hidden)]
    pub fn shared(&self) -> &[(u64, Entity)] {
        &self.shared
    }

    /// Forgets [`Uids::shared`] (a capture found none of them held twice).
    #[doc(hidden)]
    pub fn clear_shared(&mut self) {
        self.shared.clear();
    }

    fn index_remove(&mut self, uid: u64, entity: Entity) {
        if let Some(slot) = self.dense.get_mut(uid as usize)
            && *slot == entity
        {
            *slot = Entity::PLACEHOLDER;
            self.live -= 1;
        } else if self.sparse.get(&uid) == Some(&entity) {
            self.sparse.remove(&uid);
            self.live -= 1;
        }
    }
}

/// Present while dizzy restores a world (from a file, or a bundle into a
/// world): component hooks and observers run as values are inserted, and
/// one with side effects that must happen once (spawning an entity,
/// writing to another entity) can skip them while this resource exists.
/// Persisted entities that user code spawns while a world is restored are
/// despawned when the restore ends (they are in the snapshot already).
///
/// While a file is restored, transient resources and the snapshot's
/// registered resources whose values hold no entity references exist
/// before any component is inserted; resources that name entities come
/// once every entity exists (before the values that hold references), and
/// resources the snapshot does not hold only after the restore: a hook
/// that reads one of those uses `world.get_resource`. A delta is restored
/// as its chain (the full snapshot, then each delta), so hooks run at each
/// step of it.
#[derive(Resource, Debug, Default)]
pub struct Restoring;

/// Makes `world` ready for uids: registers [`Uid`] and inserts [`Uids`],
/// the [`Journal`] and [`LastRemovals`](crate::LastRemovals).
pub fn init_uids(world: &mut World) {
    world.register_component::<Uid>();
    if !world.contains_resource::<Uids>() {
        world.insert_resource(Uids::default());
    }
    if !world.contains_resource::<Journal>() {
        world.insert_resource(Journal::default());
    }
    if !world.contains_resource::<crate::journal::LastRemovals>() {
        world.insert_resource(crate::journal::LastRemovals::default());
    }
}

/// Registers `Uid` as required by `T`, constructed from `world`'s allocator.
pub(crate) fn require_uid<T: Component>(world: &mut World) {
    let Some((counter, log)) = world.get_resource::<Uids>().map(Uids::shared_counter) else {
        return;
    };
    // Already required (a second install), or `T` already used: nothing to do.
    let _ = world.try_register_required_components_with::<T, Uid>(move || {
        let uid = crate::uid::take_from(&counter);
        log.note(uid);
        uid
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_follows_spawn_replace_and_despawn() {
        let mut world = World::new();
        init_uids(&mut world);
        let uid = world.resource_mut::<Uids>().allocate();
        assert_eq!(uid.get(), 2, "0 and 1 are reserved");
        let e = world.spawn(uid).id();
        assert_eq!(world.resource::<Uids>().entity(uid.get()), Some(e));

        let other = world.resource_mut::<Uids>().allocate();
        world.entity_mut(e).insert(other);
        assert_eq!(world.resource::<Uids>().entity(uid.get()), None);
        assert_eq!(world.resource::<Uids>().entity(other.get()), Some(e));

        world.despawn(e);
        assert_eq!(world.resource::<Uids>().entity(other.get()), None);
        assert_eq!(world.resource::<Uids>().len(), 0);
        assert_eq!(
            world.resource_mut::<Journal>().take().departed,
            vec![other.get()]
        );
    }

    #[test]
    fn far_uids_use_the_sparse_index() {
        let mut world = World::new();
        init_uids(&mut world);
        let far = Uid::new(5_000_000_003).unwrap();
        let e = world.spawn(far).id();
        assert_eq!(world.resource::<Uids>().entity(far.get()), Some(e));
        assert!(world.resource_mut::<Uids>().allocate().get() > far.get());
        // A uid at the end of the space does not exhaust the allocator.
        let last = Uid::new(u64::MAX).unwrap();
        world.spawn(last);
        let next = world.resource_mut::<Uids>().allocate();
        assert!(next.get() > far.get() && next != last);
    }

    #[test]
    fn uids_round_trip_through_entity_bits() {
        for raw in [2u64, 3, 1 << 31, (1 << 32) + 1, u64::MAX >> 1] {
            assert!(is_valid(raw), "{raw}");
            assert_eq!(ref_entity(raw).unwrap().to_bits(), raw);
        }
        assert!(!is_valid(0));
        assert!(!is_valid(NULL_REF));
        assert!(!is_valid(1 << 32), "low half zero is not an entity index");
        assert_eq!(ref_entity(NULL_REF), Some(Entity::PLACEHOLDER));
    }
}
