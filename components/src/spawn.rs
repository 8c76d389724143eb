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

/// The next piece of a group, in row order: its decoded columns, or `None`
/// when there is no more (or decoding failed: the caller knows why).
pub type NextUnit<'a> = dyn FnMut() -> Option<Vec<DecodedColumn>> + 'a;

/// Spawns rows of one declared set of components with a typed `spawn_batch`.
pub trait ArchetypeSpawner: Send + Sync + 'static {
    /// The component types, in tuple order.
    fn type_ids(&self) -> Vec<TypeId>;
    /// Spawns one entity per uid, in one batch: the rows come from `units`,
    /// called until the uids are used up, each piece's columns in
    /// [`ArchetypeSpawner::type_ids`] order and of equal length. Storage for
    /// every row is reserved once, up front. Returns the entities in row
    /// order (fewer than the uids if `units` ran out early).
    fn spawn(&self, world: &mut World, uids: &[Uid], units: &mut NextUnit<'_>) -> Vec<Entity>;
}

/// A tuple of components that can be declared as an archetype.
pub trait ArchetypeTuple: Send + Sync + 'static {
    /// The component types, in tuple order.
    fn type_ids() -> Vec<TypeId>;
    /// See [`ArchetypeSpawner::spawn`].
    fn spawn(world: &mut World, uids: &[Uid], units: &mut NextUnit<'_>) -> Vec<Entity>;
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
    fn spawn(&self, world: &mut World, uids: &[Uid], units: &mut NextUnit<'_>) -> Vec<Entity> {
        B::spawn(world, uids, units)
    }
}

/// At most `left` items of `inner`, announced as exactly `left`: bevy's
/// `spawn_batch` reserves table and entity storage from the size hint, so
/// one reservation covers the whole group instead of one per piece.
struct Announced<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator> Iterator for Announced<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        if self.left == 0 {
            return None;
        }
        let item = self.inner.next()?;
        self.left -= 1;
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
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
            fn spawn(world: &mut World, uids: &[Uid], units: &mut NextUnit<'_>) -> Vec<Entity> {
                let mut current: Option<($(std::vec::IntoIter<$t>,)+)> = None;
                let mut ids = uids.iter().copied();
                let rows = std::iter::from_fn(move || loop {
                    if let Some(($($t,)+)) = current.as_mut() {
                        if let ($(Some($t),)+) = ($($t.next(),)+) {
                            return Some((ids.next()?, $($t,)+));
                        }
                    }
                    let mut columns = units()?.into_iter();
                    current = Some(($(
                        columns
                            .next()
                            .and_then(|c| c.into_vec::<$t>())
                            .expect("columns match the declared archetype")
                            .into_iter(),
                    )+));
                });
                world
                    .spawn_batch(Announced { inner: rows, left: uids.len() })
                    .collect()
            }
        }
    };
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
///
/// # Panics
/// If a column's values are not of its component id's type, or a column is
/// not as long as `uids` (checked before anything is spawned: a broken
/// invariant of the caller, never undefined behaviour).
pub fn spawn_rows(
    world: &mut World,
    uids: &[Uid],
    columns: Vec<(ComponentId, DecodedColumn)>,
) -> Vec<Entity> {
    let uid_id = world.register_component::<Uid>();
    for (id, column) in &columns {
        let stored = world.components().get_info(*id).and_then(|i| i.type_id());
        assert_eq!(
            stored,
            Some(column.value_type()),
            "component {id:?} holds another type than its decoded column"
        );
    }
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
        // SAFETY: ids and pointers match one to one, from this world, and
        // each pointer holds a value of its id's type (checked above).
        unsafe { entity.insert_by_ids(&ids, ptrs) };
        entities.push(entity.id());
    }
    entities
}
