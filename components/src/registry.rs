//! The component registry: which types are persisted, under which stable
//! names and schema versions.
//!
//! The stable name, not the Rust type name, identifies a column on disk, so a
//! type can be renamed or moved between modules without breaking old files.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};

use bevy_ecs::component::{Component, ComponentId};
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::CodecError;
use crate::column::{ColumnOps, Typed};
use crate::refs::RefPolicy;
use crate::refscan::Refs;
use crate::resolve::Unresolved;
use crate::resource::{ResourceOps, TypedResource};
use crate::spawn::{ArchetypeSpawner, ArchetypeTuple, Declared};
use crate::uid::{Uid, init_uids};

mod errors;
use errors::quote;
pub use errors::{RegistryError, ShapeMismatch, UntracedChange, UpgradeError};

/// Whether a registration is a component or a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// A component: one value per entity.
    Component,
    /// A resource: one value per world.
    Resource,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Component => "component",
            Kind::Resource => "resource",
        })
    }
}

/// The type-erased operations of a registration.
pub enum Ops {
    /// A component's.
    Component(Box<dyn ColumnOps>),
    /// A resource's.
    Resource(Box<dyn ResourceOps>),
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ops::Component(o) => write!(f, "Component({})", o.type_name()),
            Ops::Resource(o) => write!(f, "Resource({})", o.type_name()),
        }
    }
}

/// One step of a migration: decodes one value of version `v` at the front
/// of the bytes, converts it and encodes it as version `v + 1`; returns the
/// new bytes and how many it read.
type Step = Box<dyn Fn(&[u8]) -> Result<(Vec<u8>, usize), CodecError> + Send + Sync>;

/// Brings `rows` values stored with a shape (all of the payload) to another
/// layout by field name; see [`crate::resolve`].
type Resolve = Box<dyn Fn(&str, &[u8], usize) -> Result<Vec<u8>, Unresolved> + Send + Sync>;

/// A migration from version `v` to `v + 1`.
struct Migration {
    /// Decodes one old value from the front of the bytes, converts it.
    step: Step,
    /// The old type's shape, and the same step reading values stored with
    /// another shape by field name.
    shape: Option<String>,
    resolve: Resolve,
}

/// One registered type.
pub struct Registration {
    name: String,
    version: u32,
    type_name: &'static str,
    type_id: TypeId,
    shape: Option<String>,
    /// Why the shape could not be traced (with `shape` `None`).
    untraced: Option<String>,
    /// What the type's `Deserialize` asks for, as far as made-up values get
    /// (see [`Registration::skeleton`]).
    skeleton: String,
    ops: Ops,
    migrations: BTreeMap<u32, Migration>,
    policy: Option<RefPolicy>,
    refs: Refs,
    /// Reads values stored with another shape of this version by name.
    resolve: Resolve,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("type_name", &self.type_name)
            .field(
                "migrations_from",
                &self.migrations.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Registration {
    /// The stable name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The schema version.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Component or resource.
    pub fn kind(&self) -> Kind {
        match self.ops {
            Ops::Component(_) => Kind::Component,
            Ops::Resource(_) => Kind::Resource,
        }
    }
    /// The Rust type's name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
    /// The Rust type's id.
    pub fn type_id(&self) -> TypeId {
        self.type_id
    }
    /// This type's own policy for dangling references, if it has one (else
    /// the app's applies).
    pub fn refs(&self) -> Option<RefPolicy> {
        self.policy
    }
    /// Whether values of this type may hold entity references, and whether
    /// the shape marks where (see [`Refs`]).
    pub fn references(&self) -> Refs {
        self.refs
    }
    /// The serde shape (JSON text), if the type could be traced.
    pub fn shape(&self) -> Option<&str> {
        self.shape.as_deref()
    }
    /// Why the type's shape could not be traced (its `Deserialize` refuses
    /// every value the tracer makes up), when it could not: such a type's
    /// values are read by position, so a change of its fields needs a new
    /// version and a migration.
    pub fn untraced(&self) -> Option<&str> {
        self.untraced.as_deref()
    }
    /// What the type's `Deserialize` asks for, in order, as far as the
    /// tracer's made-up values get: its structs with their fields, its
    /// enums with their variants, its numbers and strings. A snapshot
    /// records it for a type whose shape cannot be traced, so that a build
    /// whose type asks for something else (fields reordered, renamed,
    /// retyped) is refused rather than reading values by position into the
    /// wrong fields.
    pub fn skeleton(&self) -> &str {
        &self.skeleton
    }
    /// The Rust type's name as a snapshot records it: for a type whose
    /// shape cannot be traced, followed by its skeleton
    /// (`brew::Dates [untraced: Dates{seq,brewed,bottled} u64 string]`).
    pub fn recorded_type_name(&self) -> String {
        match self.untraced {
            Some(_) => format!("{} [untraced: {}]", self.type_name, self.skeleton),
            None => self.type_name.to_owned(),
        }
    }
    /// The fields of values stored with `stored_shape` that this type does
    /// not read (`Struct.field`): what a value read and written again by
    /// this build loses (a build older than the one that added them).
    /// Empty when the shapes agree or cannot be read.
    pub fn stored_fields_not_read(&self, stored_shape: &str) -> Vec<String> {
        self.shape()
            .map(|build| crate::resolve::not_read(stored_shape, build))
            .unwrap_or_default()
    }
    /// What reading values stored with `stored_shape` as this type silently
    /// loses: for each struct where stored fields are no longer read while
    /// others get their defaults (a renamed field without
    /// `#[serde(alias = "old")]` looks like this), one sentence naming
    /// both. Empty when the shapes agree or cannot be read.
    pub fn fields_not_read(&self, stored_shape: &str) -> Vec<String> {
        let Some(build) = self.shape() else {
            return Vec::new();
        };
        crate::resolve::dropped_and_defaulted(stored_shape, build)
            .into_iter()
            .map(|(name, dropped, defaulted)| {
                format!(
                    "in `{name}`, the stored field(s) {} are no longer read and {} get their default: if a field was renamed, add `#[serde(alias = \"old_name\")]` (or a migration) so its values are kept",
                    quote(&dropped),
                    quote(&defaulted)
                )
            })
            .collect()
    }
    /// Whether values stored at `version` with `shape` must be brought to
    /// this registration's version and shape before they decode as its
    /// type: another version, or the same version with another shape
    /// (fields reordered, added or removed without a version bump). Equal
    /// shapes take the fast path.
    pub fn needs_upgrade(&self, version: u32, shape: Option<&str>) -> bool {
        version != self.version
            || shape
                .zip(self.shape())
                .is_some_and(|(a, b)| !crate::resolve::same(a, b))
    }
    /// Whether migrations reach the registered version from `stored`.
    pub fn migrates_from(&self, stored: u32) -> bool {
        stored <= self.version && (stored..self.version).all(|v| self.migrations.contains_key(&v))
    }
    /// Brings `rows` values of version `stored` (all of `payload`) to the
    /// registered version, step by step; `stored_shape` names the fields that
    /// differ when a step is missing.
    ///
    /// Values of this version stored with another shape are read by field
    /// name (see [`Registration::needs_upgrade`]); so are values of an older
    /// version whose stored shape differs from the first migration's old
    /// type.
    ///
    /// # Errors
    /// No migration reaches this version, a value does not decode, or a
    /// value cannot be read by name ([`UpgradeError::Unresolved`], naming
    /// the field and both shapes).
    pub fn upgrade(
        &self,
        stored: u32,
        stored_shape: Option<&str>,
        payload: &[u8],
        rows: usize,
    ) -> Result<Vec<u8>, UpgradeError> {
        if stored > self.version || !self.migrates_from(stored) {
            let missing = (stored..self.version)
                .find(|v| !self.migrations.contains_key(v))
                .unwrap_or(stored);
            return Err(UpgradeError::NoMigration {
                name: self.name.clone(),
                stored,
                current: self.version,
                missing,
                fields: crate::shape::differences(stored_shape, self.shape()),
            });
        }
        let unresolved = |current: Option<&str>, problem: Unresolved| {
            UpgradeError::Unresolved(Box::new(ShapeMismatch {
                name: self.name.clone(),
                version: stored,
                stored: stored_shape
                    .map_or_else(|| "an unknown shape".into(), crate::resolve::outline),
                current: current.map_or_else(|| "an unknown shape".into(), crate::resolve::outline),
                problem,
            }))
        };
        // The shape the first step (or this type, at this version) reads.
        let reads = if stored == self.version {
            self.shape()
        } else {
            self.migrations[&stored].shape.as_deref()
        };
        let by_name = stored_shape
            .zip(reads)
            .filter(|(a, b)| !crate::resolve::same(a, b))
            .map(|(a, _)| a);
        if stored == self.version {
            return match by_name {
                Some(shape) => {
                    (self.resolve)(shape, payload, rows).map_err(|p| unresolved(self.shape(), p))
                }
                None => Ok(payload.to_vec()),
            };
        }
        let mut bytes = payload.to_vec();
        for v in stored..self.version {
            let migration = &self.migrations[&v];
            if v == stored
                && let Some(shape) = by_name
            {
                bytes = (migration.resolve)(shape, &bytes, rows)
                    .map_err(|p| unresolved(migration.shape.as_deref(), p))?;
                continue;
            }
            let mut next = Vec::with_capacity(bytes.len());
            let mut at = 0;
            for _ in 0..rows {
                let (out, used) =
                    (migration.step)(&bytes[at..]).map_err(|source| UpgradeError::Codec {
                        name: self.name.clone(),
                        version: v,
                        source,
                    })?;
                next.extend_from_slice(&out);
                at += used;
            }
            if at != bytes.len() {
                return Err(UpgradeError::Codec {
                    name: self.name.clone(),
                    version: v,
                    source: CodecError::Decode(format!(
                        "{} bytes left after {rows} values",
                        bytes.len() - at
                    )),
                });
            }
            bytes = next;
        }
        Ok(bytes)
    }
    /// The operations.
    pub fn ops(&self) -> &Ops {
        &self.ops
    }
    /// The component operations, if a component.
    pub fn column(&self) -> Option<&dyn ColumnOps> {
        match &self.ops {
            Ops::Component(o) => Some(o.as_ref()),
            Ops::Resource(_) => None,
        }
    }
    /// The resource operations, if a resource.
    pub fn resource(&self) -> Option<&dyn ResourceOps> {
        match &self.ops {
            Ops::Resource(o) => Some(o.as_ref()),
            Ops::Component(_) => None,
        }
    }
}

/// Every persisted type of an app, by stable name.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Registration>,
    by_name: HashMap<String, usize>,
    by_type: HashMap<TypeId, usize>,
    archetypes: Vec<Box<dyn ArchetypeSpawner>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("entries", &self.entries)
            .field("archetypes", &self.archetypes.len())
            .finish()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('@')
        && !name.starts_with("dizzy.")
        && name.chars().all(|c| !c.is_control())
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers component `T` under `name`, schema version 1.
    ///
    /// # Errors
    /// The name or the type is already registered, the name is invalid, or `T`
    /// is dizzy's `Uid` ([`RegistryError`]).
    pub fn component<T>(&mut self, name: &str) -> Result<(), RegistryError>
    where
        T: Component + Serialize + DeserializeOwned,
    {
        self.component_version::<T>(name, 1)
    }

    /// Registers component `T` under `name` with a schema version.
    ///
    /// # Errors
    /// The name or the type is already registered, the name is invalid, the
    /// version is 0, or `T` is dizzy's `Uid` ([`RegistryError`]).
    pub fn component_version<T>(&mut self, name: &str, version: u32) -> Result<(), RegistryError>
    where
        T: Component + Serialize + DeserializeOwned,
    {
        if !valid_name(name) {
            return Err(RegistryError::InvalidName(name.to_owned()));
        }
        let traced = crate::shape::trace_component::<T>();
        self.add::<T>(
            name,
            version,
            Ops::Component(Box::new(Typed::<T>::default())),
            traced,
        )
    }

    /// Registers resource `R` under `name`, schema version 1.
    ///
    /// # Errors
    /// The name or the type is already registered, or the name is invalid
    /// ([`RegistryError`]).
    pub fn resource<R>(&mut self, name: &str) -> Result<(), RegistryError>
    where
        R: Resource + Serialize + DeserializeOwned,
    {
        self.resource_version::<R>(name, 1)
    }

    /// Registers resource `R` under `name` with a schema version.
    ///
    /// # Errors
    /// The name or the type is already registered, the name is invalid, or the
    /// version is 0 ([`RegistryError`]).
    pub fn resource_version<R>(&mut self, name: &str, version: u32) -> Result<(), RegistryError>
    where
        R: Resource + Serialize + DeserializeOwned,
    {
        if !valid_name(name) {
            return Err(RegistryError::InvalidName(name.to_owned()));
        }
        let traced = crate::shape::trace_component::<R>();
        self.add::<R>(
            name,
            version,
            Ops::Resource(Box::new(TypedResource::<R>::default())),
            traced,
        )
    }

    /// Registers a type of dizzy's own under a `dizzy.` name.
    ///
    /// # Errors
    /// The name does not start with `dizzy.`, or is already registered.
    #[doc(hidden)]
    pub fn builtin_component<T>(&mut self, name: &str) -> Result<(), RegistryError>
    where
        T: Component + Serialize + DeserializeOwned,
    {
        if !name.starts_with("dizzy.") {
            return Err(RegistryError::InvalidName(name.to_owned()));
        }
        if self.by_type.contains_key(&TypeId::of::<T>()) {
            return Ok(());
        }
        let traced = crate::shape::trace_component::<T>();
        self.add::<T>(
            name,
            1,
            Ops::Component(Box::new(Typed::<T>::default())),
            traced,
        )
    }

    /// Registers how to migrate values of `name` stored as version `from`
    /// (type `Old`) to version `from + 1` (type `New`): a plain Rust
    /// function. A chain `v1 -> v2 -> v3` is two migrations; the last one's
    /// `New` must be the registered type.
    ///
    /// # Errors
    /// [`RegistryError::Migration`]: `name` is not registered, `from` is 0
    /// or not below its registered version, the last step does not produce
    /// the registered type, or a migration from `from` exists.
    pub fn migration<Old, New>(
        &mut self,
        name: &str,
        from: u32,
        f: impl Fn(Old) -> New + Send + Sync + 'static,
    ) -> Result<(), RegistryError>
    where
        Old: DeserializeOwned + 'static,
        New: Serialize + 'static,
    {
        let bad = |reason: String| RegistryError::Migration {
            name: name.to_owned(),
            from,
            reason,
        };
        let i = *self
            .by_name
            .get(name)
            .ok_or_else(|| bad("the name is not registered".into()))?;
        let reg = &mut self.entries[i];
        if from == 0 || from >= reg.version {
            return Err(bad(format!("the registered version is {}", reg.version)));
        }
        if from + 1 == reg.version && TypeId::of::<New>() != reg.type_id {
            return Err(bad(format!(
                "the last step must produce the registered type {}, not {}",
                reg.type_name,
                std::any::type_name::<New>()
            )));
        }
        if reg.migrations.contains_key(&from) {
            return Err(bad("a migration from this version exists".into()));
        }
        let f = std::sync::Arc::new(f);
        let g = f.clone();
        let step: Step = Box::new(move |bytes: &[u8]| {
            let (old, used) = crate::codec::decode_prefix::<Old>(bytes)?;
            Ok((crate::codec::encode(&f(old))?, used))
        });
        let resolve: Resolve = Box::new(move |shape: &str, payload: &[u8], rows: usize| {
            crate::resolve::resolve_with::<Old, New>(shape, payload, rows, &|old| g(old))
        });
        reg.migrations.insert(
            from,
            Migration {
                step,
                shape: crate::shape::trace_de::<Old>(),
                resolve,
            },
        );
        Ok(())
    }

    /// Gives `name` its own policy for references to entities that are not
    /// persisted or not present (e.g. `Drop` for a lineage link whose cause
    /// was despawned), instead of the app's.
    ///
    /// # Errors
    /// `name` is not registered ([`RegistryError::NotRegistered`]).
    pub fn reference_policy(&mut self, name: &str, policy: RefPolicy) -> Result<(), RegistryError> {
        let i = *self
            .by_name
            .get(name)
            .ok_or_else(|| RegistryError::NotRegistered {
                name: name.to_owned(),
                setting: "reference policy",
            })?;
        self.entries[i].policy = Some(policy);
        Ok(())
    }

    fn add<T: Serialize + DeserializeOwned + 'static>(
        &mut self,
        name: &str,
        version: u32,
        ops: Ops,
        (shape, refs): (Option<String>, Refs),
    ) -> Result<(), RegistryError> {
        let resolve: Resolve = Box::new(crate::resolve::resolve::<T>);
        if TypeId::of::<T>() == TypeId::of::<Uid>() {
            return Err(RegistryError::BuiltIn);
        }
        if version == 0 {
            return Err(RegistryError::InvalidVersion(name.to_owned()));
        }
        if let Some(&i) = self.by_name.get(name) {
            return Err(RegistryError::DuplicateName {
                name: name.to_owned(),
                existing: self.entries[i].type_name,
            });
        }
        if let Some(&i) = self.by_type.get(&TypeId::of::<T>()) {
            return Err(RegistryError::DuplicateType {
                type_name: std::any::type_name::<T>(),
                existing: self.entries[i].name.clone(),
            });
        }
        // Why the shape could not be traced (traced once, here).
        let why = shape
            .as_ref()
            .map_or_else(crate::shape::untraced_reason::<T>, |_| None);
        if let Some(serde_reflection::Error::NotSupported(call)) = &why
            && matches!(
                *call,
                "deserialize_any" | "deserialize_identifier" | "deserialize_ignored_any"
            )
        {
            return Err(RegistryError::NotSelfDescribing {
                name: name.to_owned(),
                type_name: std::any::type_name::<T>(),
                call: (*call).to_owned(),
            });
        }
        if let Err(reason) = round_trips::<T>() {
            return Err(RegistryError::RoundTrip {
                name: name.to_owned(),
                type_name: std::any::type_name::<T>(),
                reason,
            });
        }
        let index = self.entries.len();
        self.entries.push(Registration {
            name: name.to_owned(),
            version,
            type_name: std::any::type_name::<T>(),
            type_id: TypeId::of::<T>(),
            skeleton: crate::sample::skeleton::<T>(),
            untraced: shape.is_none().then(|| match why {
                Some(_) => crate::shape::untraced_reasons::<T>(),
                None => "its shape is incomplete".to_owned(),
            }),
            shape,
            ops,
            migrations: BTreeMap::new(),
            policy: None,
            refs,
            resolve,
        });
        self.by_name.insert(name.to_owned(), index);
        self.by_type.insert(TypeId::of::<T>(), index);
        Ok(())
    }

    /// Declares a set of registered components that restore spawns with a
    /// typed `spawn_batch` (see [`ArchetypeSpawner`]). Optional: every set of
    /// components restores without it, about 2x slower for large groups.
    ///
    /// A restore uses the set for the entities whose components *that hold
    /// no entity references* are exactly `B`: values with references
    /// (`ChildOf`, any relationship, a field marked `#[entities]`) are
    /// inserted once every entity exists. So declare bags and planets as
    /// `(Bag, Weight)`, not `(Bag, Weight, ChildOf)`: a set that names a
    /// component with references never matches (`dizzy::App` warns of it).
    ///
    /// # Errors
    /// A member of `B` is not a registered component
    /// ([`RegistryError::UnregisteredInArchetype`]).
    pub fn archetype<B: ArchetypeTuple>(&mut self) -> Result<(), RegistryError> {
        for (t, name) in B::type_ids().into_iter().zip(type_names::<B>()) {
            match self.by_type.get(&t).map(|&i| self.entries[i].kind()) {
                Some(Kind::Component) => {}
                _ => {
                    return Err(RegistryError::UnregisteredInArchetype {
                        archetype: std::any::type_name::<B>(),
                        type_name: name,
                    });
                }
            }
        }
        self.archetypes.push(Box::new(Declared::<B>::default()));
        Ok(())
    }

    /// The registration with this stable name.
    pub fn get(&self, name: &str) -> Option<&Registration> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// The registration of this Rust type.
    pub fn get_by_type(&self, type_id: TypeId) -> Option<&Registration> {
        self.by_type.get(&type_id).map(|&i| &self.entries[i])
    }

    /// Every registration, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.entries.iter()
    }

    /// Number of registrations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The declared archetype whose component types are exactly `types` (any
    /// order), with the permutation from its tuple order to `types`' order.
    pub fn declared_archetype(
        &self,
        types: &[TypeId],
    ) -> Option<(&dyn ArchetypeSpawner, Vec<usize>)> {
        self.archetypes.iter().find_map(|a| {
            let declared = a.type_ids();
            if declared.len() != types.len() {
                return None;
            }
            let order: Option<Vec<usize>> = declared
                .iter()
                .map(|t| types.iter().position(|x| x == t))
                .collect();
            order.map(|o| (a.as_ref(), o))
        })
    }

    /// Makes `world` ready: registers `Uid` and every type, inserts the uid
    /// index and the journal, and installs the removal observers.
    pub fn install(&self, world: &mut World) {
        init_uids(world);
        for r in &self.entries {
            match &r.ops {
                Ops::Component(o) => {
                    o.install(world);
                }
                Ops::Resource(o) => {
                    o.install(world);
                }
            }
        }
    }

    /// Refuses a registered component that is the target side of a bevy
    /// relationship (`Children`, a `#[relationship_target]`): bevy builds
    /// it from the relationship's values, and a restored one would replace
    /// the list bevy rebuilt, whose hooks then take the relationship off its
    /// sources. Sees the relationships whose two sides `world` has
    /// registered (install the registry first).
    ///
    /// # Errors
    /// [`RegistryError::RelationshipTarget`], naming the first such type and
    /// its relationship.
    pub fn check_relationship_targets(&self, world: &World) -> Result<(), RegistryError> {
        use bevy_ecs::relationship::RelationshipAccessor;
        for (r, id) in self.entries.iter().zip(self.component_ids(world)) {
            let Some(info) = id.and_then(|id| world.components().get_info(id)) else {
                continue;
            };
            if let Some(RelationshipAccessor::RelationshipTarget { relationship, .. }) =
                info.relationship_accessor()
            {
                let relationship = world
                    .components()
                    .get_info(*relationship)
                    .map_or_else(|| "its relationship".to_owned(), |i| i.name().to_string());
                return Err(RegistryError::RelationshipTarget {
                    name: r.name.clone(),
                    type_name: r.type_name,
                    relationship,
                });
            }
        }
        Ok(())
    }

    /// The component id of each registration in `world` (None if not installed).
    pub fn component_ids(&self, world: &World) -> Vec<Option<ComponentId>> {
        self.entries
            .iter()
            .map(|r| match &r.ops {
                Ops::Component(o) => o.component_id(world),
                Ops::Resource(_) => world.components().get_id(r.type_id),
            })
            .collect()
    }
}

fn type_names<B: ArchetypeTuple>() -> Vec<&'static str> {
    // Type names are only used for the error message; the tuple's own name
    // lists its members.
    let full = std::any::type_name::<B>();
    let inner = full.trim_start_matches('(').trim_end_matches(')');
    inner.split(", ").map(|s| s.trim_end_matches(',')).collect()
}

#[cfg(test)]
mod tests;

/// Checks that made-up values of `T` (one per variant choice, and one with
/// every option `None` and every sequence empty) read back from what the
/// codec wrote, using every byte; types that refuse the made-up values are
/// not checked.
fn round_trips<T: Serialize + DeserializeOwned>() -> Result<(), String> {
    let values = crate::sample::samples::<T>()
        .unwrap_or_default()
        .into_iter()
        .chain(crate::sample::minimal::<T>());
    for value in values {
        let bytes = match crate::codec::encode(&value) {
            Ok(bytes) => bytes,
            Err(e) => return Err(e.to_string()),
        };
        let (_, used) = crate::codec::decode_prefix::<T>(&bytes).map_err(|e| e.to_string())?;
        if used != bytes.len() {
            return Err(format!("{used} of its {} bytes read", bytes.len()));
        }
    }
    Ok(())
}
