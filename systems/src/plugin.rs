//! Plugins: a domain bundles its component registrations, resources and
//! systems in one place; an app is a list of plugins.

use bevy_ecs::component::Component;
use bevy_ecs::event::EventPattern;
use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::{IntoScheduleConfigs, Schedule, ScheduleLabel, SystemSet};
use bevy_ecs::system::{IntoObserverSystem, ScheduleSystem};
use bevy_ecs::world::World;
use dizzy_components::{
    ArchetypeTuple, CAUSED_BY, CORRELATION, CausedBy, CorrelationId, Registry, RegistryError,
};
use serde::Serialize;

use crate::notes::{CodeNotes, Declare, NamedSystem};
use crate::observers::PendingObserver;
use serde::de::DeserializeOwned;

/// A piece of an app: the components and resources it persists and the
/// systems that work on them.
///
/// ```
/// use bevy_ecs::prelude::*;
/// use dizzy_systems::{Plugin, Setup};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Component, Serialize, Deserialize)]
/// struct Counter(u64);
///
/// fn count(mut q: Query<&mut Counter>) {
///     for mut c in &mut q {
///         c.0 += 1;
///     }
/// }
///
/// struct Counting;
///
/// impl Plugin for Counting {
///     fn build(&self, app: &mut Setup) {
///         app.component::<Counter>("counting.counter").add_systems(count);
///     }
/// }
/// ```
pub trait Plugin: Send + Sync + 'static {
    /// Adds this plugin's registrations, resources and systems.
    fn build(&self, app: &mut Setup);

    /// The plugin's name, for messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

impl<F: Fn(&mut Setup) + Send + Sync + 'static> Plugin for F {
    fn build(&self, app: &mut Setup) {
        self(app)
    }
}

/// The label of the schedule dizzy runs once per tick.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tick;

/// A function run on the world at start.
pub type Init = Box<dyn FnOnce(&mut World) + Send>;

/// A transient resource's value ([`Setup::transient_resource`]): put into
/// the world a restore builds before any value comes back, so that
/// component hooks run by the restore find it, and taken back from a world
/// that is thrown away (a file restored a second time).
pub struct Transient {
    put: Box<dyn Fn(&mut World) + Send + Sync>,
    take: Box<dyn Fn(&mut World) + Send + Sync>,
}

impl Transient {
    fn new<R: Resource>(value: R) -> Self {
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(value)));
        let back = slot.clone();
        Transient {
            put: Box::new(move |world: &mut World| {
                let value = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(value) = value {
                    world.insert_resource(value);
                }
            }),
            take: Box::new(move |world: &mut World| {
                if let Some(value) = world.remove_resource::<R>() {
                    *back.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                }
            }),
        }
    }

    /// Inserts the value into `world`, unless another world holds it.
    pub fn insert(&self, world: &mut World) {
        (self.put)(world);
    }

    /// Takes the value back from `world` (which no longer needs it), so
    /// that [`Transient::insert`] can give it to another.
    pub fn take_back(&self, world: &mut World) {
        (self.take)(world);
    }
}

impl std::fmt::Debug for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transient")
    }
}

/// What plugins fill in: the registry, the tick schedule, and the values of
/// resources that a fresh world starts with.
pub struct Setup {
    registry: Registry,
    schedule: Schedule,
    inits: Vec<(String, Init)>,
    observers: Vec<PendingObserver>,
    defaults: Vec<(String, Init)>,
    transients: Vec<Transient>,
    errors: Vec<RegistryError>,
    ambiguity_is_error: bool,
    plugins: Vec<String>,
    notes: CodeNotes,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("registry", &self.registry)
            .field("plugins", &self.plugins)
            .finish()
    }
}

impl Default for Setup {
    /// An empty setup, whose registry already holds dizzy's built-in
    /// lineage components (`dizzy.correlation`, `dizzy.caused_by`).
    fn default() -> Self {
        Setup {
            registry: builtin_registry(),
            schedule: Schedule::new(Tick),
            inits: Vec::new(),
            observers: Vec::new(),
            defaults: Vec::new(),
            transients: Vec::new(),
            errors: Vec::new(),
            ambiguity_is_error: true,
            plugins: Vec::new(),
            notes: CodeNotes::default(),
        }
    }
}

/// A registry with dizzy's own components, which every app persists.
fn builtin_registry() -> Registry {
    let mut registry = Registry::new();
    // Both names are valid and distinct: these cannot fail.
    let lineage = registry
        .builtin_component::<CorrelationId>(CORRELATION)
        .and_then(|()| registry.builtin_component::<CausedBy>(CAUSED_BY))
        // A cause is often despawned once processed: its effects then lose
        // the link (it becomes "no entity"), not the snapshot.
        .and_then(|()| registry.reference_policy(CAUSED_BY, dizzy_components::RefPolicy::Drop));
    debug_assert!(lineage.is_ok(), "{lineage:?}");
    registry
}

impl Setup {
    /// An empty setup (with dizzy's built-in components registered).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin.
    pub fn add_plugin(&mut self, plugin: &dyn Plugin) -> &mut Self {
        self.plugins.push(plugin.name().to_owned());
        plugin.build(self);
        self
    }

    /// Persists component `T` under a stable name (schema version 1).
    pub fn component<T: Component + Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> &mut Self {
        self.component_version::<T>(name, 1)
    }

    /// Persists component `T` under a stable name and schema version.
    pub fn component_version<T: Component + Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        version: u32,
    ) -> &mut Self {
        if let Err(e) = self.registry.component_version::<T>(name, version) {
            self.errors.push(e);
        }
        self
    }

    /// Registers how to migrate stored values of `name` from version `from`
    /// (type `Old`) to `from + 1` (type `New`); see
    /// [`Registry::migration`].
    pub fn migration<Old, New>(
        &mut self,
        name: &str,
        from: u32,
        f: impl Fn(Old) -> New + Send + Sync + 'static,
    ) -> &mut Self
    where
        Old: DeserializeOwned + 'static,
        New: Serialize + 'static,
    {
        if let Err(e) = self.registry.migration(name, from, f) {
            self.errors.push(e);
        }
        self
    }

    /// Persists resource `R` under a stable name; a fresh world starts with
    /// `initial`, a restored one with the stored value.
    pub fn resource<R: Resource + Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        initial: R,
    ) -> &mut Self {
        self.resource_version(name, 1, initial)
    }

    /// [`Setup::resource`] with a schema version.
    pub fn resource_version<R: Resource + Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        version: u32,
        initial: R,
    ) -> &mut Self {
        match self.registry.resource_version::<R>(name, version) {
            Ok(()) => self.defaults.push((
                name.to_owned(),
                Box::new(move |world: &mut World| {
                    if !world.contains_resource::<R>() {
                        world.insert_resource(initial);
                    }
                }),
            )),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Inserts a resource that is not persisted (rebuilt on every start).
    /// It is in the world before anything else: before a restore gives
    /// back any value (component hooks that run during the restore find
    /// it), and before the [`Setup::on_start`] functions.
    pub fn transient_resource<R: Resource>(&mut self, value: R) -> &mut Self {
        self.transients.push(Transient::new(value));
        self
    }

    /// The transient resources added so far ([`Setup::transient_resource`]).
    pub fn transients(&self) -> &[Transient] {
        &self.transients
    }

    /// Declares a set of components restored with a typed bulk spawn; see
    /// [`Registry::archetype`].
    pub fn archetype<B: ArchetypeTuple>(&mut self) -> &mut Self {
        if let Err(e) = self.registry.archetype::<B>() {
            self.errors.push(e);
        }
        self
    }

    /// Adds systems to the tick schedule.
    pub fn add_systems<M>(
        &mut self,
        systems: impl IntoScheduleConfigs<ScheduleSystem, M>,
    ) -> &mut Self {
        self.schedule.add_systems(systems);
        self
    }

    /// Configures system sets of the tick schedule.
    pub fn configure_sets<M>(
        &mut self,
        sets: impl IntoScheduleConfigs<bevy_ecs::schedule::InternedSystemSet, M>,
    ) -> &mut Self {
        self.schedule.configure_sets(sets);
        self
    }

    /// What the code says about `system` beyond its queries: the components
    /// it creates through `Commands` and its code version; see [`Declare`].
    ///
    /// `system` is the function added with [`Setup::add_systems`] (every
    /// system of that name gets the declarations).
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use dizzy_systems::Setup;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Component, Serialize, Deserialize)]
    /// # struct Reading(f64);
    /// # #[derive(Component, Serialize, Deserialize)]
    /// # struct HeatIndex(f64);
    ///
    /// fn heat(mut commands: Commands, readings: Query<(Entity, &Reading), Without<HeatIndex>>) {
    ///     for (e, r) in &readings {
    ///         commands.entity(e).insert(HeatIndex(r.0 * 1.1));
    ///     }
    /// }
    ///
    /// let mut app = Setup::new();
    /// app.component::<Reading>("weather.reading")
    ///     .component::<HeatIndex>("weather.heat_index")
    ///     .add_systems(heat);
    /// app.declare(heat).creates::<HeatIndex>().version(2);
    /// ```
    pub fn declare<M>(&mut self, system: impl NamedSystem<M>) -> Declare<'_> {
        Declare {
            name: system.system_name(),
            notes: &mut self.notes,
        }
    }

    /// Sets the code version of `system` (1 unless set); the same as
    /// `declare(system).version(version)`, see [`Declare::version`].
    pub fn system_version<M>(&mut self, system: impl NamedSystem<M>, version: u32) -> &mut Self {
        self.declare(system).version(version);
        self
    }

    /// Allows two sets (or systems) to be ambiguous with each other.
    pub fn ignore_ambiguity<S1: SystemSet + Clone, S2: SystemSet + Clone>(
        &mut self,
        a: S1,
        b: S2,
    ) -> &mut Self {
        self.schedule.ignore_ambiguity(a, b);
        self
    }

    /// Turns ambiguity detection off for the whole schedule (it is an error
    /// by default, so that a resumed run equals an uninterrupted one).
    pub fn allow_ambiguities(&mut self) -> &mut Self {
        self.ambiguity_is_error = false;
        self
    }

    /// Runs `f` on the world at every start, after restore (for state that
    /// is not persisted).
    pub fn on_start(&mut self, f: impl FnOnce(&mut World) + Send + 'static) -> &mut Self {
        self.inits.push(("on_start".to_owned(), Box::new(f)));
        self
    }

    /// Adds a global observer (bevy's `World::add_observer`) whose change
    /// detection survives a resume: its queries' `Changed<T>`, `Added<T>`
    /// and `Ref::is_changed()` compare with its last run, which a snapshot
    /// records (under `observer {name}`, the `n`-th observer of a name
    /// being told apart by the order observers were added in) and a resume
    /// gives back, so its first trigger after a resume sees what it would
    /// have seen in the run that never stopped, not every restored value
    /// as changed.
    ///
    /// Observers are added at every start, after the restore (they do not
    /// see it) and before the [`Setup::on_start`] functions. An observer
    /// added otherwise (`world.add_observer` in `on_start`, an entity's
    /// `observe`, one with bevy's `.run_if`) starts as bevy starts it, as
    /// if it had never run.
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use dizzy_systems::Setup;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Component, Serialize, Deserialize)]
    /// # struct Reading(f64);
    ///
    /// fn alarm(_: On<Add<Reading>>, readings: Query<&Reading, Changed<Reading>>) {
    ///     let _changed = readings.iter().count();
    /// }
    ///
    /// let mut app = Setup::new();
    /// app.component::<Reading>("weather.reading").add_observer(alarm);
    /// ```
    pub fn add_observer<E: EventPattern, M>(
        &mut self,
        observer: impl IntoObserverSystem<E, M>,
    ) -> &mut Self {
        self.observers
            .push(PendingObserver::new(IntoObserverSystem::into_system(
                observer,
            )));
        self
    }

    /// The registry so far.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The names of the plugins added.
    pub fn plugins(&self) -> &[String] {
        &self.plugins
    }

    /// Consumes the setup: the registry, the schedule (not yet built),
    /// the start-up functions, and the first registration error if any.
    ///
    /// # Errors
    /// The first registration a plugin made that the registry refused.
    pub fn finish(self) -> Result<Parts, RegistryError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        let mut notes = self.notes;
        notes.learn(&self.registry);
        let mut inits: Vec<Init> = vec![Box::new(move |world: &mut World| {
            world.insert_resource(notes);
        })];
        inits.extend(self.inits.into_iter().map(|(_, f)| f));
        Ok(Parts {
            registry: self.registry,
            schedule: self.schedule,
            inits,
            observers: self.observers,
            defaults: self.defaults,
            transients: self.transients,
            ambiguity_is_error: self.ambiguity_is_error,
            plugins: self.plugins,
        })
    }
}

/// A finished [`Setup`].
pub struct Parts {
    /// Every persisted type.
    pub registry: Registry,
    /// The tick schedule, not yet built.
    pub schedule: Schedule,
    /// Functions to run on the world at every start, after restore
    /// (`on_start`), in the order they were added.
    pub inits: Vec<Init>,
    /// The observers of [`Setup::add_observer`], in the order they were
    /// added: [`crate::add_observers`] adds them to a world.
    pub observers: Vec<PendingObserver>,
    /// The transient resources, for the world before anything else (see
    /// [`Transient`]).
    pub transients: Vec<Transient>,
    /// The initial value of each persisted resource, by stable name: a fresh
    /// world gets them; a restored one only for resources its snapshot does
    /// not know (registered since), never one the snapshot records as
    /// removed.
    pub defaults: Vec<(String, Init)>,
    /// Whether ambiguities are errors.
    pub ambiguity_is_error: bool,
    /// Plugin names.
    pub plugins: Vec<String>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("registry", &self.registry)
            .finish()
    }
}
