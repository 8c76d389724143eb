//! Type-erased operations on one registered type: encode a column straight
//! from bevy's tables, decode a column into a typed buffer, swap entity
//! references for uids and back, insert one value, show a value as JSON.
//!
//! [`ColumnOps`] is implemented once, generically, by [`Typed<T>`]; the
//! registry keeps one per registration so that the snapshot code never needs
//! to know a Rust type.

use std::any::Any;
use std::cell::UnsafeCell;
use std::marker::PhantomData;

use bevy_ecs::change_detection::DetectChangesMut;
use bevy_ecs::component::{Component, ComponentId, StorageType};
use bevy_ecs::entity::Entity;
use bevy_ecs::lifecycle::Remove;
use bevy_ecs::observer::On;
use bevy_ecs::storage::{Table, TableId};
use bevy_ecs::system::{Query, ResMut};
use bevy_ecs::world::World;
use bevy_ecs::world::unsafe_world_cell::UnsafeWorldCell;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, CodecError};
use crate::journal::Journal;
use crate::refs::{Dangling, RefPolicy, Resolver, Restorer, ToPlaceholders};
use crate::uid::Uid;

/// Which rows of a table an operation touches.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    /// Every row.
    All,
    /// These rows, in this order.
    Only(&'a [u32]),
    /// Rows `start..end`.
    Range(u32, u32),
}

/// Where the values an operation touches live.
#[derive(Clone, Copy, Debug)]
pub enum Place<'a> {
    /// Rows of a table (table-stored components).
    Table(TableId, Rows<'a>),
    /// Individual entities (any storage).
    Entities(&'a [Entity]),
}

/// The entities a [`ColumnOps::to_placeholders`] pass replaced, in visit
/// order, to be put back by [`ColumnOps::restore_refs`].
#[derive(Debug, Default)]
pub struct RefLog {
    originals: Vec<Entity>,
}

impl RefLog {
    /// Whether the pass met any entity reference at all.
    pub fn has_refs(&self) -> bool {
        !self.originals.is_empty()
    }
}

/// A column decoded into its typed buffer (`Vec<T>` behind `dyn Any`).
pub struct DecodedColumn {
    vec: Box<dyn ErasedVec>,
}

impl std::fmt::Debug for DecodedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedColumn")
            .field("len", &self.vec.len())
            .finish()
    }
}

impl DecodedColumn {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.vec.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.vec.len() == 0
    }

    /// Appends another column of the same type.
    pub fn append(&mut self, other: DecodedColumn) {
        self.vec.append(other.vec);
    }

    /// The typed buffer, if it holds `T`s.
    pub fn into_vec<T: 'static>(self) -> Option<Vec<T>> {
        self.vec.into_any().downcast::<Vec<T>>().ok().map(|b| *b)
    }

    /// Base pointer and item size, for moving values out by pointer. After
    /// the values are moved out, call [`DecodedColumn::forget_values`].
    pub(crate) fn raw_parts(&mut self) -> (*mut u8, usize) {
        (self.vec.base(), self.vec.stride())
    }

    /// Forgets the values (they were moved out by pointer).
    ///
    /// # Safety
    /// Every value must have been moved out, or may be leaked.
    pub(crate) unsafe fn forget_values(&mut self) {
        self.vec.forget_items();
    }
}

trait ErasedVec: Send {
    fn len(&self) -> usize;
    fn base(&mut self) -> *mut u8;
    fn stride(&self) -> usize;
    fn forget_items(&mut self);
    fn append(&mut self, other: Box<dyn ErasedVec>);
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Send + 'static> ErasedVec for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn base(&mut self) -> *mut u8 {
        self.as_mut_ptr().cast()
    }
    fn stride(&self) -> usize {
        size_of::<T>()
    }
    fn forget_items(&mut self) {
        // SAFETY: shrinking the length never exposes uninitialized values; the
        // caller moved the values out.
        unsafe { self.set_len(0) }
    }
    fn append(&mut self, other: Box<dyn ErasedVec>) {
        match other.into_any().downcast::<Vec<T>>() {
            Ok(mut other) => Vec::append(self, &mut other),
            Err(_) => unreachable!("columns of one registration share a type"),
        }
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// A value failed to decode or resolve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The bytes are not a value of this type.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A reference inside the value points at nothing.
    #[error("dangling entity reference from uid {} to uid {}", .0.holder, .0.target)]
    Dangling(Dangling),
}

/// Type-erased operations on one registered component type.
///
/// Implemented by [`Typed<T>`]; the methods that read tables are only called
/// by dizzy between ticks, with no system running.
pub trait ColumnOps: Send + Sync + 'static {
    /// The Rust type's name, for messages.
    fn type_name(&self) -> &'static str;
    /// The type's storage.
    fn storage(&self) -> StorageType;
    /// The type's id in `world`, if registered there.
    fn component_id(&self, world: &World) -> Option<ComponentId>;
    /// Registers the type in `world` and, for components, the observer that
    /// journals removals; returns its id.
    fn install(&self, world: &mut World, journal_removals: bool) -> ComponentId;

    /// Encodes the values at `place`, in order, appending them to `out`;
    /// returns how many were encoded.
    fn encode(
        &self,
        world: &World,
        id: ComponentId,
        place: Place<'_>,
        out: &mut Vec<u8>,
    ) -> Result<usize, CodecError>;
    /// Encodes the values at `place` in order into chunks of about `target`
    /// bytes: each buffer handed to `emit` starts with `prefix` zero bytes
    /// (room for a header), then the values; `emit` also gets the number of
    /// values in it.
    fn encode_chunked(
        &self,
        world: &World,
        id: ComponentId,
        place: Place<'_>,
        target: usize,
        prefix: usize,
        emit: &mut dyn FnMut(Vec<u8>, usize),
    ) -> Result<(), CodecError>;
    /// Replaces entity references at `place` by uid placeholders.
    /// On `Err` the world is unchanged.
    fn to_placeholders(
        &self,
        world: &mut World,
        id: ComponentId,
        places: &[Place<'_>],
        policy: RefPolicy,
    ) -> Result<RefLog, Dangling> {
        self.to_placeholders_within(world, id, places, policy, None)
    }
    /// [`ColumnOps::to_placeholders`], where a reference to an entity
    /// outside `within` counts as dangling (bundles without their closure).
    fn to_placeholders_within(
        &self,
        world: &mut World,
        id: ComponentId,
        places: &[Place<'_>],
        policy: RefPolicy,
        within: Option<&dyn Fn(Entity) -> bool>,
    ) -> Result<RefLog, Dangling>;
    /// Appends the entities referenced by the values of `entities`.
    fn collect_refs(
        &self,
        world: &mut World,
        id: ComponentId,
        entities: &[Entity],
        out: &mut Vec<Entity>,
    );
    /// Decodes `rows` values (all of `payload`) and checks that every
    /// reference is null or satisfies `known` (a uid); under
    /// `RefPolicy::Drop` unknown references are allowed (they will be dropped).
    fn check(
        &self,
        payload: &[u8],
        rows: usize,
        known: &dyn Fn(u64) -> bool,
        policy: RefPolicy,
    ) -> Result<(), ValueError>;
    /// Puts back what [`ColumnOps::to_placeholders`] replaced.
    fn restore_refs(&self, world: &mut World, id: ComponentId, places: &[Place<'_>], log: RefLog);
    /// Resolves uid placeholders at `place` to local entities.
    fn resolve_refs(
        &self,
        world: &mut World,
        id: ComponentId,
        place: Place<'_>,
        resolver: &mut Resolver<'_>,
    ) -> Result<(), Dangling>;

    /// Decodes `rows` values from `payload`, which must be used exactly.
    fn decode_column(&self, payload: &[u8], rows: usize) -> Result<DecodedColumn, CodecError>;
    /// Decodes one value per `(holder uid, entity)` from all of `payload`,
    /// resolves their references and inserts them, in one batch.
    fn decode_insert(
        &self,
        world: &mut World,
        targets: &[(u64, Entity)],
        payload: &[u8],
        resolver: &mut Resolver<'_>,
    ) -> Result<(), ValueError>;
    /// Removes the type from `entity`.
    fn remove(&self, world: &mut World, entity: Entity);
    /// Decodes one value from the front of `payload` as JSON; returns the bytes used.
    fn to_json(&self, payload: &[u8]) -> Result<(serde_json::Value, usize), CodecError>;
    /// Skips one value at the front of `payload`; returns the bytes used.
    fn skip(&self, payload: &[u8]) -> Result<usize, CodecError>;
}

/// The [`ColumnOps`] of `T`.
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Typed(PhantomData)
    }
}

impl<T> std::fmt::Debug for Typed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Typed<{}>", std::any::type_name::<T>())
    }
}

/// The typed data slice of `id` in `table`.
///
/// # Safety
/// `T` must be the type of `id`.
unsafe fn slice<T: 'static>(table: &Table, id: ComponentId) -> &[UnsafeCell<T>] {
    // SAFETY: the caller guarantees the type; the length is the table's.
    unsafe { table.get_data_slice_for::<T>(id) }.unwrap_or(&[])
}

/// Hints the CPU to load `ptr` into the cache (a no-op elsewhere than x86-64).
#[inline(always)]
fn prefetch<T>(ptr: Option<*mut T>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = ptr {
        // SAFETY: a prefetch never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

fn table(world: &World, id: TableId) -> Option<&Table> {
    world.storages().tables.get(id)
}

impl<T: Component + Serialize + DeserializeOwned> Typed<T> {
    /// Calls `f` on each value at `place` in order; stops at the first error.
    fn for_each(
        world: &World,
        id: ComponentId,
        place: Place<'_>,
        f: &mut dyn FnMut(&T) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        match place {
            Place::Table(tid, rows) => {
                let Some(table) = table(world, tid) else {
                    return Ok(());
                };
                // SAFETY: `id` is `T`'s; dizzy reads between ticks, with `&World`
                // and no system running, so there is no writer.
                let data = unsafe { slice::<T>(table, id) };
                let get = |r: usize| data.get(r).map(|c| unsafe { &*c.get() });
                match rows {
                    Rows::All => data.iter().try_for_each(|c| f(unsafe { &*c.get() })),
                    Rows::Range(a, b) => (a as usize..b as usize).filter_map(get).try_for_each(f),
                    Rows::Only(rows) => {
                        // Scattered rows miss the cache: ask for the values a
                        // few rows ahead while encoding this one.
                        const AHEAD: usize = 8;
                        for (i, &r) in rows.iter().enumerate() {
                            if let Some(&next) = rows.get(i + AHEAD) {
                                prefetch(data.get(next as usize).map(UnsafeCell::get));
                            }
                            if let Some(v) = get(r as usize) {
                                f(v)?;
                            }
                        }
                        Ok(())
                    }
                }
            }
            Place::Entities(entities) => entities
                .iter()
                .filter_map(|&e| world.get::<T>(e))
                .try_for_each(f),
        }
    }

    /// Calls `f` on each value at `place` in order, mutably.
    ///
    /// # Safety
    /// `cell` must allow writing `T` (and reading tables and entities); no
    /// other reference to `T` values may be live; `id` must be `T`'s.
    ///
    /// Generic over `F` (not `dyn`), so that for a type without entity
    /// references the whole loop compiles away.
    unsafe fn for_each_mut<F: FnMut(Entity, &mut T)>(
        cell: UnsafeWorldCell<'_>,
        id: ComponentId,
        place: Place<'_>,
        f: &mut F,
    ) {
        match place {
            Place::Table(tid, rows) => {
                // SAFETY: tables are only read here.
                let Some(table) = unsafe { cell.storages() }.tables.get(tid) else {
                    return;
                };
                // SAFETY: `id` is `T`'s, and the caller grants write access to `T`.
                let data = unsafe { slice::<T>(table, id) };
                let entities = table.entities();
                let mut visit = |r: usize| {
                    if let (Some(c), Some(&e)) = (data.get(r), entities.get(r)) {
                        // SAFETY: as above.
                        f(e, unsafe { &mut *c.get() });
                    }
                };
                match rows {
                    Rows::All => (0..data.len()).for_each(&mut visit),
                    Rows::Range(a, b) => (a as usize..b as usize).for_each(&mut visit),
                    Rows::Only(rows) => rows.iter().for_each(|&r| visit(r as usize)),
                }
            }
            Place::Entities(entities) => {
                for &e in entities {
                    // SAFETY: the caller grants write access to `T`; values are
                    // put back by the caller's protocol, so immutability holds.
                    if let Ok(ent) = cell.get_entity(e)
                        && let Some(mut v) = unsafe { ent.get_mut_assume_mutable::<T>() }
                    {
                        f(e, v.bypass_change_detection());
                    }
                }
            }
        }
    }
}

impl<T: Component + Serialize + DeserializeOwned> ColumnOps for Typed<T> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn storage(&self) -> StorageType {
        T::STORAGE_TYPE
    }

    fn component_id(&self, world: &World) -> Option<ComponentId> {
        world.component_id::<T>()
    }

    fn install(&self, world: &mut World, journal_removals: bool) -> ComponentId {
        let id = world.register_component::<T>();
        if journal_removals {
            world.add_observer(
                move |event: On<Remove<T>>, uids: Query<&Uid>, journal: Option<ResMut<Journal>>| {
                    if let (Ok(uid), Some(mut journal)) = (uids.get(event.entity), journal) {
                        journal.removed(id, uid.get());
                    }
                },
            );
        }
        id
    }

    fn encode(
        &self,
        world: &World,
        id: ComponentId,
        place: Place<'_>,
        out: &mut Vec<u8>,
    ) -> Result<usize, CodecError> {
        let mut n = 0;
        Self::for_each(world, id, place, &mut |v| {
            n += 1;
            codec::encode_into(v, out)
        })?;
        Ok(n)
    }

    fn encode_chunked(
        &self,
        world: &World,
        id: ComponentId,
        place: Place<'_>,
        target: usize,
        prefix: usize,
        emit: &mut dyn FnMut(Vec<u8>, usize),
    ) -> Result<(), CodecError> {
        let fresh = || {
            let mut b = Vec::with_capacity(target + target / 8 + prefix);
            b.resize(prefix, 0);
            b
        };
        let mut buf = fresh();
        let mut rows = 0;
        Self::for_each(world, id, place, &mut |v| {
            codec::encode_into(v, &mut buf)?;
            rows += 1;
            if buf.len() - prefix >= target {
                emit(std::mem::replace(&mut buf, fresh()), rows);
                rows = 0;
            }
            Ok(())
        })?;
        if rows > 0 {
            emit(buf, rows);
        }
        Ok(())
    }

    fn collect_refs(
        &self,
        world: &mut World,
        id: ComponentId,
        entities: &[Entity],
        out: &mut Vec<Entity>,
    ) {
        struct Collect<'a>(&'a mut Vec<Entity>);
        impl bevy_ecs::entity::EntityMapper for Collect<'_> {
            fn get_mapped(&mut self, source: Entity) -> Entity {
                if source != Entity::PLACEHOLDER {
                    self.0.push(source);
                }
                source
            }
            fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
        }
        let mut c = Collect(out);
        let cell = world.as_unsafe_world_cell();
        // SAFETY: exclusive access; the identity mapping changes nothing.
        unsafe {
            Self::for_each_mut(cell, id, Place::Entities(entities), &mut |_, v| {
                T::map_entities(v, &mut c)
            })
        };
    }

    fn check(
        &self,
        payload: &[u8],
        rows: usize,
        known: &dyn Fn(u64) -> bool,
        policy: RefPolicy,
    ) -> Result<(), ValueError> {
        let lookup = |u: u64| known(u).then_some(Entity::PLACEHOLDER);
        let mut resolver = Resolver::new(&lookup, policy);
        let mut dangling = None;
        codec::decode_rows::<T>(payload, rows, |mut v| {
            if dangling.is_none() {
                T::map_entities(&mut v, &mut resolver);
                dangling = resolver.dangling();
            }
        })?;
        match dangling {
            Some(d) => Err(ValueError::Dangling(d)),
            None => Ok(()),
        }
    }

    fn to_placeholders_within(
        &self,
        world: &mut World,
        id: ComponentId,
        places: &[Place<'_>],
        policy: RefPolicy,
        within: Option<&dyn Fn(Entity) -> bool>,
    ) -> Result<RefLog, Dangling> {
        let cell = world.as_unsafe_world_cell();
        // SAFETY: the pass reads `Uid` only, while it writes `T` only (`T` is
        // never `Uid`: the registry refuses to register it).
        let uid_of = |e: Entity| -> Option<Uid> {
            if within.is_some_and(|w| !w(e)) {
                return None;
            }
            unsafe { cell.get_entity(e).ok()?.get::<Uid>() }.copied()
        };
        let mut mapper = ToPlaceholders {
            uid_of: &uid_of,
            policy,
            originals: Vec::new(),
            dangling: None,
        };
        let mut holder = None;
        for &place in places {
            let mut visit = |e: Entity, v: &mut T| {
                let before = mapper.dangling.is_some();
                T::map_entities(v, &mut mapper);
                if !before && mapper.dangling.is_some() {
                    holder = Some(e);
                }
            };
            // SAFETY: see above; `id` is `T`'s.
            unsafe { Self::for_each_mut(cell, id, place, &mut visit) };
        }
        let log = RefLog {
            originals: mapper.originals,
        };
        if let Some(target) = mapper.dangling {
            let holder = holder
                .and_then(|e| world.get::<Uid>(e))
                .map_or(0, |u| u.get());
            self.restore_refs(world, id, places, log);
            return Err(Dangling { holder, target });
        }
        Ok(log)
    }

    fn restore_refs(&self, world: &mut World, id: ComponentId, places: &[Place<'_>], log: RefLog) {
        if !log.has_refs() {
            return;
        }
        let mut mapper = Restorer {
            originals: log.originals.iter(),
        };
        let cell = world.as_unsafe_world_cell();
        for &place in places {
            // SAFETY: exclusive access; `id` is `T`'s.
            unsafe {
                Self::for_each_mut(cell, id, place, &mut |_, v| T::map_entities(v, &mut mapper))
            };
        }
    }

    fn resolve_refs(
        &self,
        world: &mut World,
        id: ComponentId,
        place: Place<'_>,
        resolver: &mut Resolver<'_>,
    ) -> Result<(), Dangling> {
        // SAFETY: exclusive access; `id` is `T`'s.
        let cell = world.as_unsafe_world_cell();
        let mut visit = |e: Entity, v: &mut T| {
            // SAFETY: reads `Uid` while `T` is written; `T` is never `Uid`.
            let holder = cell
                .get_entity(e)
                .ok()
                .and_then(|c| unsafe { c.get::<Uid>() })
                .map_or(0, |u| u.get());
            resolver.holder(holder);
            T::map_entities(v, resolver);
        };
        // SAFETY: exclusive access; `id` is `T`'s and only `Uid` is read besides.
        unsafe { Self::for_each_mut(cell, id, place, &mut visit) };
        match resolver.dangling() {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    fn decode_column(&self, payload: &[u8], rows: usize) -> Result<DecodedColumn, CodecError> {
        let mut values: Vec<T> = Vec::with_capacity(rows.min(payload.len().max(1)));
        codec::decode_rows::<T>(payload, rows, |v| values.push(v))?;
        Ok(DecodedColumn {
            vec: Box::new(values),
        })
    }

    fn decode_insert(
        &self,
        world: &mut World,
        targets: &[(u64, Entity)],
        payload: &[u8],
        resolver: &mut Resolver<'_>,
    ) -> Result<(), ValueError> {
        let mut values = Vec::with_capacity(targets.len());
        let mut dangling = None;
        let mut next = targets.iter();
        codec::decode_rows::<T>(payload, targets.len(), |mut v| {
            let Some(&(holder, entity)) = next.next() else {
                return;
            };
            if dangling.is_none() {
                resolver.holder(holder);
                T::map_entities(&mut v, resolver);
                dangling = resolver.dangling();
            }
            values.push((entity, v));
        })?;
        if let Some(d) = dangling {
            return Err(ValueError::Dangling(d));
        }
        world
            .try_insert_batch(values)
            .map_err(|e| ValueError::Codec(CodecError::Decode(e.to_string())))
    }

    fn remove(&self, world: &mut World, entity: Entity) {
        if let Ok(mut e) = world.get_entity_mut(entity) {
            e.remove::<T>();
        }
    }

    fn to_json(&self, payload: &[u8]) -> Result<(serde_json::Value, usize), CodecError> {
        let (v, used) = codec::decode_prefix::<T>(payload)?;
        Ok((stored_json(v)?, used))
    }

    fn skip(&self, payload: &[u8]) -> Result<usize, CodecError> {
        codec::decode_prefix::<T>(payload).map(|(_, used)| used)
    }
}

/// A decoded value as JSON: its entity references are uids as stored, and
/// the null reference ([`NULL_REF`](crate::NULL_REF)) is `null`.
///
/// serde shows an `Entity` as its bits, which for a decoded value are the
/// target's uid, or `1` for "no entity" — indistinguishable from a plain `1`.
/// So null references are marked twice, with two different marker entities:
/// where the two renderings differ, exactly there, is a null reference (a
/// plain number cannot change between them).
pub(crate) fn stored_json<T: Component + Serialize>(
    mut value: T,
) -> Result<serde_json::Value, CodecError> {
    use bevy_ecs::entity::EntityMapper;
    struct Remap {
        from: u64,
        to: Entity,
        seen: bool,
    }
    impl EntityMapper for Remap {
        fn get_mapped(&mut self, source: Entity) -> Entity {
            if source.to_bits() == self.from {
                self.seen = true;
                self.to
            } else {
                source
            }
        }
        fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
    }
    const MARK_A: u64 = 0xFFFF_FFFE_FFFF_FFFE;
    const MARK_B: u64 = 0xFFFF_FFFD_FFFF_FFFD;
    // Non-finite floats as "NaN", "Infinity", "-Infinity" (see `crate::json`).
    let to_json = |v: &T| crate::json::to_value(v).map_err(|e| CodecError::Encode(e.to_string()));
    let (Some(a), Some(b)) = (crate::ref_entity(MARK_A), crate::ref_entity(MARK_B)) else {
        return to_json(&value);
    };
    let mut first = Remap {
        from: crate::NULL_REF,
        to: a,
        seen: false,
    };
    T::map_entities(&mut value, &mut first);
    if !first.seen {
        return to_json(&value);
    }
    let marked_a = to_json(&value)?;
    let mut second = Remap {
        from: MARK_A,
        to: b,
        seen: false,
    };
    T::map_entities(&mut value, &mut second);
    let marked_b = to_json(&value)?;
    fn merge(a: serde_json::Value, b: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y))
                if x.as_u64() == Some(MARK_A) && y.as_u64() == Some(MARK_B) =>
            {
                Value::Null
            }
            (Value::Array(xs), Value::Array(ys)) if xs.len() == ys.len() => {
                Value::Array(xs.into_iter().zip(ys).map(|(x, y)| merge(x, y)).collect())
            }
            (Value::Object(xs), Value::Object(ys)) => Value::Object(
                xs.into_iter()
                    .map(|(k, x)| {
                        let merged = match ys.get(&k) {
                            Some(y) => merge(x, y),
                            None => x,
                        };
                        (k, merged)
                    })
                    .collect(),
            ),
            (a, _) => a,
        }
    }
    Ok(merge(marked_a, &marked_b))
}
