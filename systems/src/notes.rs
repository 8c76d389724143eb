//! What the code says about its systems beyond their queries: the
//! components a system creates through `Commands` and its code version, plus
//! the stable names of the registered types. [`Setup::declare`] collects
//! them; the finished setup puts them in the world, where
//! [`describe`](crate::describe) reads them.
//!
//! [`Setup::declare`]: crate::Setup::declare

use std::any::TypeId;
use std::collections::HashMap;

use bevy_ecs::component::Component;
use bevy_ecs::resource::Resource;
use bevy_ecs::system::{IntoSystem, System, SystemInput};
use dizzy_components::{Kind, Registry};

use crate::describe::TypeSchema;

/// A system function, by name: what [`Setup::declare`](crate::Setup::declare)
/// takes. Implemented for everything that converts into a system.
pub trait NamedSystem<Marker> {
    /// bevy's name of the system (its full path).
    fn system_name(self) -> String;
}

impl<S, In, Out, M> NamedSystem<(fn(In) -> Out, M)> for S
where
    S: IntoSystem<In, Out, M>,
    In: SystemInput,
{
    fn system_name(self) -> String {
        IntoSystem::into_system(self).name().to_string()
    }
}

/// The declarations of one system; made by
/// [`Setup::declare`](crate::Setup::declare).
#[derive(Debug)]
pub struct Declare<'a> {
    pub(crate) name: String,
    pub(crate) notes: &'a mut CodeNotes,
}

impl Declare<'_> {
    /// The system creates components `T` through `Commands` (spawns them,
    /// or inserts them into existing entities).
    ///
    /// bevy's access sets show what a system's queries and resources read
    /// and write, not what its commands add when they are applied: the
    /// schedule's diagram draws a declared creation as a `creates` edge from
    /// the system to `T`, so that a pipeline whose stages hand data on by
    /// spawning or inserting reads as one chain.
    pub fn creates<T: Component>(self) -> Self {
        let entry = (
            self.name.clone(),
            TypeId::of::<T>(),
            std::any::type_name::<T>(),
        );
        if !self.notes.creates.contains(&entry) {
            self.notes.creates.push(entry);
        }
        self
    }

    /// The system's code version (1 unless set): bump it when the system's
    /// behaviour changes in a way its access does not show (a new formula,
    /// a fixed bug), so that a run resumed from a snapshot written by the
    /// old code reports the system as changed.
    pub fn version(self, version: u32) -> Self {
        self.notes.versions.insert(self.name.clone(), version);
        self
    }
}

/// The declarations of a whole app, with the stable names of its types.
#[derive(Resource, Clone, Debug, Default)]
pub(crate) struct CodeNotes {
    /// (system's full name, created type, its Rust name).
    pub(crate) creates: Vec<(String, TypeId, &'static str)>,
    /// Code versions by system's full name.
    pub(crate) versions: HashMap<String, u32>,
    /// Stable names of the registered types.
    pub(crate) names: HashMap<TypeId, String>,
    /// The registered types, in registration order.
    pub(crate) schemas: Vec<TypeSchema>,
}

impl CodeNotes {
    /// Takes the stable names and schema versions of `registry`.
    pub(crate) fn learn(&mut self, registry: &Registry) {
        for r in registry.iter() {
            self.names.insert(r.type_id(), r.name().to_owned());
            self.schemas.push(TypeSchema {
                name: r.name().to_owned(),
                version: r.version(),
                resource: r.kind() == Kind::Resource,
            });
        }
    }

    /// The code version of the system named `name` (full name).
    pub(crate) fn version(&self, name: &str) -> u32 {
        self.versions.get(name).copied().unwrap_or(1)
    }
}
