//! `@removed`: the removals the next tick's `RemovedComponents` readers
//! see, made again at the end of a restore so that bevy's removal messages
//! hold them (bevy has no other way to write one: a removal message is
//! written only by removing a component).
//!
//! Each entry is `(name, uid, value)`, in the order the removals were made:
//! - the entity lives: the value is inserted again and removed (or, when
//!   the entity holds a newer value of that component, that value is taken
//!   out, removed and put back);
//! - the entity was despawned: a stand-in with its uid is spawned; its
//!   removals before the despawn are made on it (the value inserted when
//!   the stand-in lacks it, then removed), then it is given the values of
//!   the components its despawn removed (the longest tail of its last
//!   consecutive entries in which each component comes once) and
//!   despawned.
//!
//! Hooks run meanwhile under `Restoring`, as during the rest of a restore;
//! persisted entities they spawn are despawned after. A relationship whose
//! target no longer exists is not made again (bevy refuses such a value).

use std::ops::Range;

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::error::FallbackErrorHandler;
use bevy_ecs::world::{Mut, World};
use dizzy_components::{ColumnOps, LastRemovals, RefPolicy, Removed, Resolver, Uid, Uids};

use super::{Ctx, Unknown};
use crate::error::RestoreError;
use crate::format::{Layout, SnapshotMeta, col, parse};

/// `(name, uid, value bytes)`.
type Entry = (String, u64, Vec<u8>);

impl Ctx<'_> {
    /// The removals `meta` records (none in files written before them).
    pub(super) fn read_last_removals(
        &self,
        meta: &SnapshotMeta,
    ) -> Result<Vec<Entry>, RestoreError> {
        let mut out = Vec::new();
        for (i, bytes) in self.chunks(meta, col::REMOVED)?.iter().enumerate() {
            let bad = |r: String| super::corrupt(self.store, meta.id, col::REMOVED, i as u32, r);
            let chunk = parse(bytes).map_err(bad)?;
            if chunk.layout != Layout::Keyed || chunk.rows != 1 {
                return Err(bad("not a record chunk".into()));
            }
            let entries: Vec<Entry> =
                dizzy_components::codec::decode(chunk.payload).map_err(|e| bad(e.to_string()))?;
            out.extend(entries);
        }
        Ok(out)
    }

    /// Makes the removals of `entries` again in `world` (see the module).
    pub(super) fn replay_removals(
        &self,
        world: &mut World,
        meta: &SnapshotMeta,
        entries: &[Entry],
    ) -> Result<(), RestoreError> {
        // Types this build does not register: a build that keeps such
        // values carries their removals on, for the next snapshots.
        for (name, uid, value) in entries {
            if self.registry.get(name).is_none()
                && self.unknown == Unknown::Keep
                && let Some(mut last) = world.get_resource_mut::<LastRemovals>()
            {
                last.push(Removed::Named(name.clone()), *uid, value.clone());
            }
        }
        world.insert_resource(dizzy_components::Restoring);
        // Stand-ins take uids that are gone: the allocator stays where the
        // snapshot left it.
        let allocator = world.resource::<Uids>().next_raw();
        world.resource::<Uids>().start_allocation_log();
        // A value removed after its relationship's target went names no
        // entity: bevy's relationship hooks then fail a command (the
        // target's list), which must not fail the restore: such errors are
        // logged at debug level while the removals are made again.
        let handler = world.get_resource::<FallbackErrorHandler>().copied();
        world.insert_resource(FallbackErrorHandler(bevy_ecs::error::debug));
        // A stand-in for every uid that is gone, with the values its
        // entries hold, before any removal is made: a despawn that takes
        // others with it (bevy's `linked_spawn`, a relationship target's
        // hooks) finds them as it did, and references between them resolve.
        let mut stand_ins: Vec<(u64, Entity)> = Vec::new();
        for (_, uid, _) in entries {
            if world.resource::<Uids>().entity(*uid).is_none()
                && let Some(u) = Uid::new(*uid)
            {
                let e = world.spawn(u).id();
                stand_ins.push((*uid, e));
            }
        }
        let stand_in = |uid: u64| stand_ins.iter().find(|s| s.0 == uid).map(|s| s.1);
        let mut upfront = vec![false; entries.len()];
        for (i, entry) in entries.iter().enumerate() {
            let Some((ops, bytes)) = self.replayable(world, meta, entry) else {
                continue;
            };
            let Some(id) = ops.component_id(world) else {
                continue;
            };
            match stand_in(entry.1) {
                Some(e) => {
                    if !world.entity(e).contains_id(id) {
                        self.put(world, meta.id, ops, (entry.1, e), &bytes)?;
                    }
                }
                // A live entity's relationship to one that is gone: the
                // target's despawn removed it (bevy's relationship hooks),
                // so it is there before the despawn is made again.
                None => {
                    let Some(e) = world.resource::<Uids>().entity(entry.1) else {
                        continue;
                    };
                    if dizzy_components::Relation::is_relationship(world, id)
                        && !world.entity(e).contains_id(id)
                    {
                        upfront[i] = self.put_resolved(
                            world,
                            meta.id,
                            ops,
                            (entry.1, e),
                            &bytes,
                            Some(&stand_ins),
                        )?;
                    }
                }
            }
        }
        // The removals, in order. A removal made again can make others
        // (a despawn runs the hooks it ran: a relationship target's takes
        // the relationship off its sources); an entry those made already is
        // not made a second time.
        let mut made = Made::new(self, world, entries);
        let mut i = 0;
        while i < entries.len() {
            let uid = entries[i].1;
            if let Some(e) = stand_in(uid) {
                let end = entries[i..]
                    .iter()
                    .position(|x| x.1 != uid)
                    .map_or(entries.len(), |n| i + n);
                let group = &entries[i..end];
                // The entity's last entries end with its despawn: their
                // longest tail in which each component comes once (a
                // despawn removes each component once). Entries before it
                // are removals made before the despawn (`remove`, insert
                // again, `despawn` in one tick removes twice).
                let despawn_from = if entries[end..].iter().any(|x| x.1 == uid) {
                    group.len()
                } else {
                    let mut seen = std::collections::HashSet::new();
                    let mut from = group.len();
                    while from > 0 && seen.insert(group[from - 1].0.as_str()) {
                        from -= 1;
                    }
                    from
                };
                for (k, entry) in group[..despawn_from].iter().enumerate() {
                    if world.get_entity(e).is_err() {
                        break;
                    }
                    if made.before(world, i + k) {
                        continue;
                    }
                    if let Some((ops, id)) = self.held_by_stand_in(world, meta, e, entry)?
                        && world.entity(e).contains_id(id)
                    {
                        self.remove_again(world, meta.id, ops, e)?;
                    }
                    made.after(world, i + k..i + k + 1);
                }
                if despawn_from < group.len() && world.get_entity(e).is_ok() {
                    let tail = i + despawn_from..end;
                    for (k, entry) in group[despawn_from..].iter().enumerate() {
                        if world.get_entity(e).is_ok() && !made.before(world, tail.start + k) {
                            self.held_by_stand_in(world, meta, e, entry)?;
                        }
                    }
                    self.guarded(meta.id, &group[despawn_from].0, "a despawn", || {
                        if let Ok(e) = world.get_entity_mut(e) {
                            e.despawn();
                        }
                        world.flush();
                    })?;
                    made.after(world, tail);
                }
                // Entries left when the stand-in went (a hook's despawn):
                // not made again.
                made.skip(i..end);
                i = end;
                continue;
            }
            if made.before(world, i) {
                i += 1;
                continue;
            }
            if let Some(entity) = world.resource::<Uids>().entity(uid) {
                if upfront[i] {
                    // Still there unless a despawn took it meanwhile.
                    if let Ok((ops, id)) = self.column_ops(world, &entries[i].0)
                        && world.entity(entity).contains_id(id)
                    {
                        self.remove_again(world, meta.id, ops, entity)?;
                    }
                } else {
                    self.replay_on(world, meta, entity, &entries[i])?;
                }
            }
            made.after(world, i..i + 1);
            i += 1;
        }
        let taken = super::undo_spawns_of_user_code(world, None);
        // The uids hooks took here go back to the allocator: the removals
        // of those entities (their despawn just now, any a hook made on
        // them) are not the world's. Recorded, the next snapshot would
        // carry them, and the restore after it would make them again on
        // the entity that holds the uid by then (found by a fresh tester:
        // a spawn between a resume and its first tick took the uid, and
        // was lost at the next open). An import keeps its hooks' uids
        // used, and their removals.
        if let Some(mut last) = world.get_resource_mut::<LastRemovals>() {
            last.forget(&taken);
        }
        world.resource_mut::<Uids>().reset_next_raw(allocator);
        super::remove_restoring(world);
        match handler {
            Some(h) => world.insert_resource(h),
            None => super::remove_resource_entirely::<FallbackErrorHandler>(world),
        }
        world.resource_mut::<dizzy_components::Journal>().clear();
        Ok(())
    }

    /// The column of `name` and its value at the registered version, or
    /// `None` (the entry is carried, or left out).
    fn replayable<'e>(
        &self,
        world: &mut World,
        meta: &SnapshotMeta,
        entry: &'e Entry,
    ) -> Option<(&dyn ColumnOps, std::borrow::Cow<'e, [u8]>)> {
        let (name, uid, value) = entry;
        let Ok((ops, _)) = self.column_ops(world, name) else {
            return None;
        };
        match self.upgraded(meta, name, value, 1) {
            Ok(bytes) => Some((ops, bytes)),
            Err(e) => {
                tracing::debug!("a removal of `{name}` (uid {uid}) is not made again: {e}");
                None
            }
        }
    }

    /// Inserts `bytes` (one value of `ops`) into `entity` of `uid`: false
    /// when it could not be (a relationship to an entity that is gone, a
    /// value that does not decode).
    fn put(
        &self,
        world: &mut World,
        snapshot: u64,
        ops: &dyn ColumnOps,
        target: (u64, Entity),
        bytes: &[u8],
    ) -> Result<bool, RestoreError> {
        self.put_resolved(world, snapshot, ops, target, bytes, None)
    }

    /// [`Self::put`]; with `only`, references resolve to those entities
    /// alone (by uid) and any other makes it fail.
    fn put_resolved(
        &self,
        world: &mut World,
        snapshot: u64,
        ops: &dyn ColumnOps,
        (uid, entity): (u64, Entity),
        bytes: &[u8],
        only: Option<&[(u64, Entity)]>,
    ) -> Result<bool, RestoreError> {
        // A reference to an entity that is gone stands for no entity, as
        // when the value was removed; with `only`, it must resolve.
        let policy = if only.is_some() {
            RefPolicy::Fail
        } else {
            RefPolicy::Drop
        };
        let inserted = self.guarded(snapshot, ops.type_name(), "a removal", || {
            world.resource_scope(|world, uids: Mut<Uids>| {
                let lookup = |u: u64| match only {
                    Some(only) => only.iter().find(|s| s.0 == u).map(|s| s.1),
                    None => uids.entity(u),
                };
                let mut resolver = Resolver::new(&lookup, policy);
                ops.decode_insert(world, &[(uid, entity)], bytes, &mut resolver)
            })
        })?;
        Ok(inserted.is_ok())
    }

    /// Removes `ops`' component from `entity` (its hooks run).
    fn remove_again(
        &self,
        world: &mut World,
        snapshot: u64,
        ops: &dyn ColumnOps,
        entity: Entity,
    ) -> Result<(), RestoreError> {
        self.guarded(snapshot, ops.type_name(), "a removal", || {
            ops.remove(world, entity)
        })
    }

    /// Runs `f`, where user code runs (hooks, observers): its panic is the
    /// restore's error, naming `component` of `snapshot` and `what` was
    /// being made again.
    fn guarded<T>(
        &self,
        snapshot: u64,
        component: &str,
        what: &str,
        f: impl FnOnce() -> T,
    ) -> Result<T, RestoreError> {
        super::guard(f).map_err(|message| RestoreError::Panicked {
            path: self.store.path().to_owned(),
            snapshot,
            component: component.to_owned(),
            what: format!("a hook or an observer, as {what} was made again"),
            message,
        })
    }

    /// Gives the stand-in `entity` the value of `entry` unless it holds
    /// that component already (an earlier entry's value); the column, or
    /// `None` when the entry is not made again.
    fn held_by_stand_in<'r>(
        &'r self,
        world: &mut World,
        meta: &SnapshotMeta,
        entity: Entity,
        entry: &Entry,
    ) -> Result<Option<(&'r dyn ColumnOps, bevy_ecs::component::ComponentId)>, RestoreError> {
        let Some((ops, bytes)) = self.replayable(world, meta, entry) else {
            return Ok(None);
        };
        let Some(id) = ops.component_id(world) else {
            return Ok(None);
        };
        if !world.entity(entity).contains_id(id) {
            self.put(world, meta.id, ops, (entry.1, entity), &bytes)?;
        }
        Ok(Some((ops, id)))
    }

    /// A removal from an entity that lives.
    fn replay_on(
        &self,
        world: &mut World,
        meta: &SnapshotMeta,
        entity: Entity,
        entry: &Entry,
    ) -> Result<(), RestoreError> {
        let Some((ops, bytes)) = self.replayable(world, meta, entry) else {
            return Ok(());
        };
        let Some(id) = ops.component_id(world) else {
            return Ok(());
        };
        let uid = entry.1;
        if world.entity(entity).contains_id(id) {
            // Removed, then given a value again: that value goes out and
            // comes back, so the removal is made and the value kept.
            let mut now = Vec::new();
            if ops
                .encode(
                    world,
                    dizzy_components::Place::Entities(&[entity]),
                    Some(&dizzy_components::RefEncoder::new(world, RefPolicy::Drop)),
                    &mut now,
                )
                .is_err()
            {
                return Ok(());
            }
            self.remove_again(world, meta.id, ops, entity)?;
            self.put(world, meta.id, ops, (uid, entity), &now)?;
        } else if self.put(world, meta.id, ops, (uid, entity), &bytes)? {
            self.remove_again(world, meta.id, ops, entity)?;
        }
        Ok(())
    }
}

/// Which entries' removals the replay has made, read from what the world
/// records ([`LastRemovals`], open while a restore makes removals again).
/// Each removal recorded since the last look belongs to the step that made
/// it (one of the entries that step makes, each once), or else to the first
/// later entry of that component and uid not made yet: a hook of an earlier
/// step made it, and the entry is not made again. With the record closed,
/// nothing is learned and every entry is made.
struct Made {
    /// Each entry's component in this world and uid (`None`: not made
    /// again).
    keys: Vec<Option<(ComponentId, u64)>>,
    done: Vec<bool>,
    /// How much of the record was looked at.
    seen: usize,
}

impl Made {
    fn new(ctx: &Ctx<'_>, world: &World, entries: &[Entry]) -> Made {
        Made {
            keys: entries
                .iter()
                .map(|(name, uid, _)| ctx.column_ops(world, name).ok().map(|(_, id)| (id, *uid)))
                .collect(),
            done: vec![false; entries.len()],
            seen: Self::recorded(world).len(),
        }
    }

    fn recorded(world: &World) -> &[(Removed, u64, Vec<u8>)] {
        world
            .get_resource::<LastRemovals>()
            .map_or(&[], LastRemovals::entries)
    }

    /// Whether entry `i` was made by an earlier step's hooks (and so is
    /// not to be made now).
    fn before(&mut self, world: &World, i: usize) -> bool {
        self.learn(world, 0..0);
        self.done[i]
    }

    /// The step that makes the entries `own` is over: the removals it
    /// recorded are theirs first, then later entries'; `own` is done.
    fn after(&mut self, world: &World, own: Range<usize>) {
        self.learn(world, own.clone());
        for d in &mut self.done[own] {
            *d = true;
        }
    }

    /// The entries `range` are done, made or not.
    fn skip(&mut self, range: Range<usize>) {
        for d in &mut self.done[range] {
            *d = true;
        }
    }

    fn learn(&mut self, world: &World, own: Range<usize>) {
        let recorded = Self::recorded(world);
        let mut claimed = vec![false; own.len()];
        for (what, uid, _) in recorded.iter().skip(self.seen) {
            let Removed::Component(id) = what else {
                continue;
            };
            let key = Some((*id, *uid));
            if let Some(k) = own
                .clone()
                .position(|j| !claimed[j - own.start] && !self.done[j] && self.keys[j] == key)
            {
                claimed[k] = true;
            } else if let Some(j) =
                (own.end..self.keys.len()).find(|&j| !self.done[j] && self.keys[j] == key)
            {
                self.done[j] = true;
            }
        }
        self.seen = recorded.len().max(self.seen);
    }
}
