//! Spawning restored entities in bulk.
//!
//! Restore decodes each column of an archetype group into a typed buffer and
//! then spawns whole rows. Two ways exist:
//!
//! - **declared archetypes** ([`Registry::archetype`](crate::Registry::archetype)):
//!   the app names a tuple of registered components, `(A, B, C)`, and rows of
//!   exactly that set are spawned with bevy's typed `spawn_batch` — as fast as
//!   spawning from memory;
//! - **any other set**: each row is spawned with `insert_by_ids`, moving the
//!   decoded values in by pointer. Correct for every set of components, about
//!   2x slower than `spawn_batch` (bevy has no public bulk spawn of a set of
//!   components known only at run time).

use std::any::TypeId;
use std::ptr::NonNull;

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::component::{Component, ComponentId};
use bevy_ecs::entity::Entity;
use bevy_ecs::ptr::OwningPtr;
use bevy_ecs::world::World;

use crate::column::DecodedColumn;
use crate::uid::Uid;

/// Spawns rows of one declared set of components with a typed `spawn_batch`.
pub trait ArchetypeSpawner: Send + Sync + 'static {
    /// The component types, in tuple order.
    fn type_ids(&self) -> Vec<TypeId>;
    /// Spawns one entity per uid; `columns` are in [`ArchetypeSpawner::type_ids`]
    /// order and as long as `uids`. Returns the entities in row order.
    fn spawn(&self, world: &mut World, uids: &[Uid], columns: Vec<DecodedColumn>) -> Vec<Entity>;
}

/// A tuple of components that can be declared as an archetype.
pub trait ArchetypeTuple: Send + Sync + 'static {
    /// The component types, in tuple order.
    fn type_ids() -> Vec<TypeId>;
    /// See [`ArchetypeSpawner::spawn`].
    fn spawn(world: &mut World, uids: &[Uid], columns: Vec<DecodedColumn>) -> Vec<Entity>;
}

pub(crate) struct Declared<B>(std::marker::PhantomData<fn() -> B>);

impl<B> Default for Declared<B> {
    fn default() -> Self {
        Declared(std::marker::PhantomData)
    }
}

impl<B: ArchetypeTuple> ArchetypeSpawner for Declared<B> {
    fn type_ids(&self) -> Vec<TypeId> {
        B::type_ids()
    }
    fn spawn(&self, world: &mut World, uids: &[Uid], columns: Vec<DecodedColumn>) -> Vec<Entity> {
        B::spawn(world, uids, columns)
    }
}

macro_rules! tuple_spawner {
    ($($t:ident),+) => {
        impl<$($t: Component),+> ArchetypeTuple for ($($t,)+)
        where
            (Uid, $($t,)+): Bundle<Effect: NoBundleEffect>,
        {
            fn type_ids() -> Vec<TypeId> {
                vec![$(TypeId::of::<$t>()),+]
            }

            #[allow(non_snake_case)]
            fn spawn(world: &mut World, uids: &[Uid], columns: Vec<DecodedColumn>) -> Vec<Entity> {
                let mut columns = columns.into_iter();
                $(let $t = columns
                    .next()
                    .and_then(|c| c.into_vec::<$t>())
                    .expect("columns match the declared archetype")
                    .into_iter();)+
                let rows = uids.iter().copied();
                $(let rows = rows.zip($t);)+
                let rows = rows.map(|nested| {
                    let flat = tuple_spawner!(@flatten nested; $($t),+);
                    flat
                });
                world.spawn_batch(rows).collect()
            }
        }
    };
    (@flatten $n:ident; $a:ident) => {{ let (u, $a) = $n; (u, $a) }};
    (@flatten $n:ident; $a:ident, $b:ident) => {{ let ((u, $a), $b) = $n; (u, $a, $b) }};
    (@flatten $n:ident; $a:ident, $b:ident, $c:ident) => {{ let (((u, $a), $b), $c) = $n; (u, $a, $b, $c) }};
    (@flatten $n:ident; $a:ident, $b:ident, $c:ident, $d:ident) => {{ let ((((u, $a), $b), $c), $d) = $n; (u, $a, $b, $c, $d) }};
    (@flatten $n:ident; $a:ident, $b:ident, $c:ident, $d:ident, $e:ident) => {{ let (((((u, $a), $b), $c), $d), $e) = $n; (u, $a, $b, $c, $d, $e) }};
    (@flatten $n:ident; $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident) => {{ let ((((((u, $a), $b), $c), $d), $e), $f) = $n; (u, $a, $b, $c, $d, $e, $f) }};
    (@flatten $n:ident; $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident) => {{ let (((((((u, $a), $b), $c), $d), $e), $f), $g) = $n; (u, $a, $b, $c, $d, $e, $f, $g) }};
    (@flatten $n:ident; $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {{ let ((((((((u, $a), $b), $c), $d), $e), $f), $g), $h) = $n; (u, $a, $b, $c, $d, $e, $f, $g, $h) }};
}

tuple_spawner!(A);
tuple_spawner!(A, B);
tuple_spawner!(A, B, C);
tuple_spawner!(A, B, C, D);
tuple_spawner!(A, B, C, D, E);
tuple_spawner!(A, B, C, D, E, F);
tuple_spawner!(A, B, C, D, E, F, G);
tuple_spawner!(A, B, C, D, E, F, G, H);

/// Spawns one entity per uid with `columns` (component id, decoded values,
/// each as long as `uids`), for any set of components. Returns the entities
/// in row order.
pub fn spawn_rows(
    world: &mut World,
    uid_id: ComponentId,
    uids: &[Uid],
    columns: Vec<(ComponentId, DecodedColumn)>,
) -> Vec<Entity> {
    let mut ids = Vec::with_capacity(columns.len() + 1);
    ids.push(uid_id);
    let mut parts = Vec::with_capacity(columns.len());
    let mut owned = Vec::with_capacity(columns.len());
    for (id, mut column) in columns {
        assert_eq!(column.len(), uids.len(), "a column is as long as its group");
        ids.push(id);
        parts.push(column.raw_parts());
        owned.push(column);
    }
    // From here on the values are moved out by pointer: forget them first, so
    // that a panic leaks the rest instead of dropping moved-out values.
    for column in &mut owned {
        // SAFETY: every value is moved out below (or leaked on panic).
        unsafe { column.forget_values() };
    }
    let mut entities = Vec::with_capacity(uids.len());
    for (row, &uid) in uids.iter().enumerate() {
        let mut uid = std::mem::ManuallyDrop::new(uid);
        let uid_ptr = NonNull::from(&mut *uid).cast::<u8>();
        let ptrs = std::iter::once(uid_ptr).chain(parts.iter().map(|&(base, stride)| {
            // SAFETY: `row < len`, so the pointer is inside the buffer.
            unsafe { NonNull::new_unchecked(base.add(row * stride)) }
        }));
        // SAFETY: each pointer holds a live value of its component id's type,
        // moved out exactly once (the buffers' lengths were set to zero).
        let ptrs = ptrs.map(|p| unsafe { OwningPtr::new(p) });
        let mut entity = world.spawn_empty();
        // SAFETY: ids and pointers match one to one, from this world.
        unsafe { entity.insert_by_ids(&ids, ptrs) };
        entities.push(entity.id());
    }
    entities
}
