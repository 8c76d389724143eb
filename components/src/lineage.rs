//! Lineage: which entity's processing produced which, for event-driven work.
//!
//! Two built-in components, persisted for every app under reserved names:
//!
//! - [`CausedBy`] (`dizzy.caused_by`): the entity whose processing produced
//!   this one. It is an entity reference like any other, so on disk it is the
//!   cause's uid.
//! - [`CorrelationId`] (`dizzy.correlation`): shared by every entity that
//!   descends from one root cause. A correlation id is the uid of that root
//!   (or, if the root was gone before its first effect was spawned, a fresh
//!   value from the uid allocator, which no entity will ever have), so
//!   correlation ids never collide with each other.
//!
//! [`CommandsExt::spawn_caused_by`] spawns an entity caused by another: it
//! sets `CausedBy` and copies the cause's correlation. A cause that has no
//! correlation yet becomes the root of a new one: it gets
//! `CorrelationId(its own uid)` (and a uid at once, if it has none yet).
//!
//! `CausedBy` is an entity reference, stored as the cause's uid. Causes are
//! often despawned once processed, so it is registered with its own
//! dangling-reference policy, `RefPolicy::Drop`: an effect whose cause is
//! gone keeps its correlation, and its `CausedBy` becomes "no entity" at
//! the next snapshot instead of failing it.
//!
//! `dizzy trace` prints a correlation as a causal tree.

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::component::Component;
use bevy_ecs::entity::Entity;
use bevy_ecs::system::{Commands, EntityCommands};
use bevy_ecs::world::World;
use serde::{Deserialize, Serialize};

use crate::uid::{Uid, Uids};

/// The correlation an entity belongs to: every entity that descends (by
/// [`CausedBy`]) from one root cause shares it. Persisted as
/// `dizzy.correlation`.
#[derive(
    Component, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct CorrelationId(pub u64);

/// The entity whose processing produced this one. Persisted as
/// `dizzy.caused_by` (the cause's uid on disk).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CausedBy(#[entities] pub Entity);

/// The stable name [`CorrelationId`] is persisted under.
pub const CORRELATION: &str = "dizzy.correlation";
/// The stable name [`CausedBy`] is persisted under.
pub const CAUSED_BY: &str = "dizzy.caused_by";

/// Lineage helpers on bevy's [`Commands`].
pub trait CommandsExt {
    /// Spawns `bundle` as an effect of `cause`: with [`CausedBy`]`(cause)` and
    /// the cause's [`CorrelationId`]. If the cause has no correlation yet, it
    /// starts one: the cause gets `CorrelationId(its uid)` (allocating its
    /// uid now if it has none) and so does the new entity. If the cause no
    /// longer exists when the command is applied, the new entity's
    /// `CausedBy` is `Entity::PLACEHOLDER` (no entity) and it starts a
    /// correlation of its own (a fresh id, taken from the uid allocator so
    /// that it is never another correlation's; not the entity's uid).
    /// `bundle` must not hold a `CausedBy` or a `CorrelationId` of its own.
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use bevy_ecs::system::RunSystemOnce;
    /// use dizzy_components::{CausedBy, CommandsExt, CorrelationId};
    ///
    /// #[derive(Component)]
    /// struct Order;
    /// #[derive(Component)]
    /// struct Invoice;
    ///
    /// fn bill(mut commands: Commands, orders: Query<Entity, With<Order>>) {
    ///     for order in &orders {
    ///         commands.spawn_caused_by(order, Invoice);
    ///     }
    /// }
    /// # let mut world = World::new();
    /// # dizzy_components::init_uids(&mut world);
    /// # let order = world.spawn(Order).id();
    /// # world.run_system_once(bill).unwrap();
    /// # let (_invoice, by, c) = world.query::<(Entity, &CausedBy, &CorrelationId)>().single(&world).unwrap();
    /// # assert_eq!(by.0, order);
    /// # assert_eq!(world.get::<CorrelationId>(order), Some(c));
    /// ```
    fn spawn_caused_by<B: Bundle>(&mut self, cause: Entity, bundle: B) -> EntityCommands<'_>;

    /// Spawns every bundle of `batch` as an effect of `cause`, as
    /// [`spawn_caused_by`](Self::spawn_caused_by) does for one, in one
    /// command: bevy's `spawn_batch` puts them in their table together, and
    /// the cause's correlation is looked up once. They are spawned, in the
    /// batch's order, where the command is applied. The lineage is the
    /// same as one `spawn_caused_by` per bundle; only the order in which
    /// uids are handed out may differ: a cause without a uid gets its own
    /// after the batch's entities (one at a time, after the first). An
    /// empty batch changes nothing (the cause gets no correlation).
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use bevy_ecs::system::RunSystemOnce;
    /// use dizzy_components::{CausedBy, CommandsExt, CorrelationId};
    ///
    /// #[derive(Component)]
    /// struct Order;
    /// #[derive(Component)]
    /// struct Line(u32);
    ///
    /// fn lines(mut commands: Commands, orders: Query<Entity, With<Order>>) {
    ///     for order in &orders {
    ///         commands.spawn_batch_caused_by(order, (1..=3).map(Line).collect::<Vec<_>>());
    ///     }
    /// }
    /// # let mut world = World::new();
    /// # dizzy_components::init_uids(&mut world);
    /// # let order = world.spawn(Order).id();
    /// # world.run_system_once(lines).unwrap();
    /// # let c = *world.get::<CorrelationId>(order).unwrap();
    /// # let mut q = world.query::<(&Line, &CausedBy, &CorrelationId)>();
    /// # assert_eq!(q.iter(&world).count(), 3);
    /// # assert!(q.iter(&world).all(|(_, by, id)| by.0 == order && *id == c));
    /// ```
    fn spawn_batch_caused_by<I>(&mut self, cause: Entity, batch: I)
    where
        I: IntoIterator + Send + Sync + 'static,
        I::Item: Bundle<Effect: NoBundleEffect>;
}

/// The correlation an effect is spawned with until its command sets the
/// cause's (in place: spawning with it saves an archetype move per entity).
/// `0` is never a uid, so never a correlation.
const UNSET: CorrelationId = CorrelationId(0);

impl CommandsExt for Commands<'_, '_> {
    fn spawn_caused_by<B: Bundle>(&mut self, cause: Entity, bundle: B) -> EntityCommands<'_> {
        let effect = self.spawn((bundle, CausedBy(cause), UNSET)).id();
        self.queue(move |world: &mut World| inherit(world, cause, effect));
        self.entity(effect)
    }

    fn spawn_batch_caused_by<I>(&mut self, cause: Entity, batch: I)
    where
        I: IntoIterator + Send + Sync + 'static,
        I::Item: Bundle<Effect: NoBundleEffect>,
    {
        self.queue(move |world: &mut World| {
            // No effect, no change: the cause gets no correlation.
            let mut batch = batch.into_iter().peekable();
            if batch.peek().is_none() {
                return;
            }
            // The cause's correlation known (or taken from its uid) before
            // the spawn: the effects are spawned with it, not set one by
            // one after.
            if let Some(id) = known_correlation(world, cause) {
                world
                    .spawn_batch(batch.map(|b| (b, CausedBy(cause), id)))
                    .for_each(drop);
                return;
            }
            let effects: Vec<Entity> = world
                .spawn_batch(batch.map(|b| (b, CausedBy(cause), UNSET)))
                .collect();
            if world.get_entity(cause).is_ok() {
                // The first sets the cause's correlation if it has none;
                // the others find it.
                let Some(&first) = effects.first() else {
                    return;
                };
                inherit(world, cause, first);
                let Some(&id) = world.get::<CorrelationId>(first) else {
                    return;
                };
                for &e in &effects[1..] {
                    if let Some(mut c) = world.get_mut::<CorrelationId>(e) {
                        *c = id;
                    }
                }
            } else {
                for e in effects {
                    inherit(world, cause, e);
                }
            }
        });
    }
}

/// The correlation effects of `cause` get, if `cause` is alive and has a
/// correlation or a uid (a correlation started at `cause` is its uid, as in
/// [`inherit`], and is given to it now); `None` otherwise.
fn known_correlation(world: &mut World, cause: Entity) -> Option<CorrelationId> {
    let c = world.get_entity(cause).ok()?;
    if let Some(&id) = c.get::<CorrelationId>()
        && id != UNSET
    {
        return Some(id);
    }
    let id = CorrelationId(c.get::<Uid>()?.get());
    world.entity_mut(cause).insert(id);
    Some(id)
}

/// Gives `effect` the correlation of `cause`, starting one at `cause` if it
/// has none.
fn inherit(world: &mut World, cause: Entity, effect: Entity) {
    let correlation = match world.get_entity(cause) {
        Ok(c) => match c.get::<CorrelationId>() {
            Some(&id) if id != UNSET => id,
            _ => {
                let uid = match c.get::<Uid>() {
                    Some(&uid) => uid,
                    None => {
                        let uid = fresh(world);
                        world.entity_mut(cause).insert(uid);
                        uid
                    }
                };
                let id = CorrelationId(uid.get());
                world.entity_mut(cause).insert(id);
                id
            }
        },
        Err(_) => {
            if let Ok(mut e) = world.get_entity_mut(effect) {
                e.insert(CausedBy(Entity::PLACEHOLDER));
            }
            CorrelationId(fresh(world).get())
        }
    };
    if let Ok(mut e) = world.get_entity_mut(effect) {
        match e.get_mut::<CorrelationId>() {
            Some(mut c) => *c = correlation,
            None => {
                e.insert(correlation);
            }
        }
    }
}

/// A value from the uid allocator (which then never hands it out again).
fn fresh(world: &mut World) -> Uid {
    if !world.contains_resource::<Uids>() {
        world.insert_resource(Uids::default());
    }
    world.resource_mut::<Uids>().allocate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy_ecs::system::RunSystemOnce;

    #[derive(Component)]
    struct Job(u32);

    fn setup() -> World {
        let mut world = World::new();
        crate::init_uids(&mut world);
        world
    }

    #[test]
    fn effects_inherit_the_root_uid_as_correlation() {
        let mut world = setup();
        let uid = world.resource_mut::<Uids>().allocate();
        let root = world.spawn((uid, Job(0))).id();
        world
            .run_system_once(move |mut c: Commands| {
                let child = c.spawn_caused_by(root, Job(1)).id();
                c.spawn_caused_by(child, Job(2));
            })
            .unwrap();
        let mut q = world.query::<(&Job, &CorrelationId, Option<&CausedBy>)>();
        let rows: Vec<(u32, u64, Option<Entity>)> = q
            .iter(&world)
            .map(|(j, c, b)| (j.0, c.0, b.map(|b| b.0)))
            .collect();
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows.iter().all(|r| r.1 == uid.get()), "{rows:?}");
        let child = rows.iter().find(|r| r.0 == 1).unwrap();
        assert_eq!(child.2, Some(root));
        let grandchild = rows.iter().find(|r| r.0 == 2).unwrap();
        assert!(grandchild.2.is_some_and(|e| e != root));
    }

    #[test]
    fn a_cause_without_uid_gets_one_and_roots_the_correlation() {
        let mut world = setup();
        let root = world.spawn(Job(0)).id();
        world
            .run_system_once(move |mut c: Commands| {
                c.spawn_caused_by(root, Job(1));
            })
            .unwrap();
        let uid = *world.get::<Uid>(root).expect("the cause got a uid");
        assert_eq!(
            world.get::<CorrelationId>(root),
            Some(&CorrelationId(uid.get()))
        );
        let (_, corr) = world
            .query::<(&CausedBy, &CorrelationId)>()
            .single(&world)
            .unwrap();
        assert_eq!(corr.0, uid.get());
    }

    #[test]
    fn a_vanished_cause_gives_a_fresh_correlation() {
        let mut world = setup();
        let gone = world.spawn(Job(0)).id();
        world.despawn(gone);
        world
            .run_system_once(move |mut c: Commands| {
                c.spawn_caused_by(gone, Job(1));
            })
            .unwrap();
        let (by, corr) = world
            .query::<(&CausedBy, &CorrelationId)>()
            .single(&world)
            .unwrap();
        assert_eq!(by.0, Entity::PLACEHOLDER);
        assert!(crate::is_valid_uid(corr.0));
    }

    #[test]
    fn a_batch_of_effects_is_as_many_single_effects() {
        // A cause without a correlation (nor a uid), a batch of three, and a
        // batch whose cause is gone: as `spawn_caused_by` one at a time.
        let mut world = setup();
        let root = world.spawn(Job(0)).id();
        let gone = world.spawn(Job(0)).id();
        world.despawn(gone);
        world
            .run_system_once(move |mut c: Commands| {
                c.spawn_batch_caused_by(root, vec![Job(1), Job(2), Job(3)]);
                c.spawn_batch_caused_by(gone, vec![Job(4), Job(5)]);
                c.spawn_batch_caused_by(root, Vec::<Job>::new());
            })
            .unwrap();
        let uid = *world.get::<Uid>(root).expect("the cause got a uid");
        assert_eq!(
            world.get::<CorrelationId>(root),
            Some(&CorrelationId(uid.get()))
        );
        let mut q = world.query::<(&Job, &CausedBy, &CorrelationId)>();
        let mut rows: Vec<(u32, Entity, u64)> =
            q.iter(&world).map(|(j, b, c)| (j.0, b.0, c.0)).collect();
        rows.sort();
        assert_eq!(rows.len(), 5, "{rows:?}");
        for r in &rows[..3] {
            assert_eq!((r.1, r.2), (root, uid.get()), "{rows:?}");
        }
        // Gone: no cause, and each starts a correlation of its own.
        for r in &rows[3..] {
            assert_eq!(r.1, Entity::PLACEHOLDER);
            assert!(crate::is_valid_uid(r.2));
        }
        assert_ne!(rows[3].2, rows[4].2);
    }

    #[test]
    fn an_empty_batch_changes_nothing() {
        let mut world = setup();
        let cause = world.spawn(Job(0)).id();
        let uid = world.get::<Uid>(cause).copied();
        world
            .run_system_once(move |mut c: Commands| {
                c.spawn_batch_caused_by(cause, Vec::<Job>::new());
            })
            .unwrap();
        assert_eq!(world.get::<CorrelationId>(cause), None);
        assert_eq!(world.get::<Uid>(cause).copied(), uid);
        assert_eq!(world.query::<&CausedBy>().iter(&world).count(), 0);
    }

    #[test]
    fn null_references_show_as_null_and_plain_ones_stay() {
        use crate::{ColumnOps, Typed, codec};
        #[derive(Component, Serialize, Deserialize)]
        struct Pair {
            count: u64,
            #[entities]
            refs: Vec<Entity>,
        }
        let value = Pair {
            count: 1,
            refs: vec![
                crate::ref_entity(crate::NULL_REF).unwrap(),
                crate::ref_entity(7).unwrap(),
            ],
        };
        let bytes = codec::encode(&value).unwrap();
        let (json, used) = Typed::<Pair>::default().to_json(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(json, serde_json::json!({"count": 1, "refs": [null, 7]}));
        let bytes = codec::encode(&CausedBy(crate::ref_entity(9).unwrap())).unwrap();
        let (json, _) = Typed::<CausedBy>::default().to_json(&bytes).unwrap();
        assert_eq!(json, serde_json::json!(9));
    }
}
