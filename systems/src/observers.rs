//! Observers whose last run a resume gives back.
//!
//! An observer is a system: its queries' `Changed<T>` and `Added<T>` (and
//! `Ref::is_changed()`) compare change ticks with its last run, which bevy
//! keeps inside the `Observer` component, out of reach (the field is
//! private in bevy_ecs 0.20). A fresh observer's last run is "never", so
//! after a resume its first trigger would see every restored value as
//! changed.
//!
//! [`Setup::add_observer`](crate::Setup::add_observer) wraps the observer
//! system in [`RecordedObserver`], which copies its last run to a shared
//! cell after every run, as [`Recorded`](crate::conditions) does for run
//! conditions; the runtime records it beside the systems' own under
//! [`observer_name`], and a resume gives it back when the observer is
//! added ([`add_observers`]), before it can run.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use bevy_ecs::change_detection::{CheckChangeTicks, Tick};
use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::event::EventPattern;
use bevy_ecs::observer::{Observer, On};
use bevy_ecs::schedule::InternedSystemSet;
use bevy_ecs::system::{RunSystemError, System, SystemAccess, SystemIn, SystemStateFlags};
use bevy_ecs::utils::prelude::DebugName;
use bevy_ecs::world::unsafe_world_cell::UnsafeWorldCell;
use bevy_ecs::world::{DeferredWorld, World};

use crate::conditions::ConditionRuns;
use crate::schedule::{ScheduleError, reads_of};

/// The name under which the last run of the observer system named `system`
/// is recorded (beside the systems' own, in a snapshot's change-detection
/// record): a name no system has. Observers of the same name are told
/// apart by the order they were added in.
pub fn observer_name(system: &str) -> String {
    format!("observer {system}")
}

/// An observer system that copies its last run to a shared cell after
/// every run (and whenever it is set or clamped), and whose first last run
/// (set by bevy's `initialize`, "never") is replaced by the recorded one;
/// everything else is `inner`'s.
pub(crate) struct RecordedObserver<S> {
    inner: S,
    last_run: Arc<AtomicU32>,
    resume_at: Option<Tick>,
    reads: Arc<OnceLock<Option<Vec<ComponentId>>>>,
}

impl<S: System> RecordedObserver<S> {
    fn copy(&self) {
        self.last_run
            .store(self.inner.get_last_run().get(), Ordering::Relaxed);
    }
}

impl<S: System> System for RecordedObserver<S> {
    type In = S::In;
    type Out = S::Out;

    fn name(&self) -> DebugName {
        self.inner.name()
    }

    fn system_type(&self) -> TypeId {
        self.inner.system_type()
    }

    fn flags(&self) -> SystemStateFlags {
        self.inner.flags()
    }

    unsafe fn run_unsafe(
        &mut self,
        input: SystemIn<'_, Self>,
        world: UnsafeWorldCell,
    ) -> Result<Self::Out, RunSystemError> {
        // SAFETY: the caller upholds `run_unsafe`'s contract for this
        // system, whose access is `inner`'s (`initialize` returns it): the
        // same call on `inner` is covered by it.
        let out = unsafe { self.inner.run_unsafe(input, world) };
        self.copy();
        out
    }

    fn apply_deferred(&mut self, world: &mut World) {
        self.inner.apply_deferred(world);
    }

    fn queue_deferred(&mut self, world: DeferredWorld) {
        self.inner.queue_deferred(world);
    }

    fn initialize(&mut self, world: &mut World) -> SystemAccess {
        let access = self.inner.initialize(world);
        // bevy's `initialize` sets "never ran"; a resumed observer goes on
        // from where it stood.
        if let Some(tick) = self.resume_at.take() {
            self.inner.set_last_run(tick);
        }
        self.copy();
        let _ = self.reads.set(reads_of(&access));
        access
    }

    fn check_change_tick(&mut self, check: CheckChangeTicks) {
        self.inner.check_change_tick(check);
        self.copy();
    }

    fn default_system_sets(&self) -> Vec<InternedSystemSet> {
        self.inner.default_system_sets()
    }

    fn get_last_run(&self) -> Tick {
        self.inner.get_last_run()
    }

    fn set_last_run(&mut self, last_run: Tick) {
        self.inner.set_last_run(last_run);
        self.copy();
    }
}

/// An observer added with [`Setup::add_observer`](crate::Setup::add_observer),
/// not yet in a world.
pub struct PendingObserver {
    name: String,
    add: AddObserver,
}

impl PendingObserver {
    /// The name its last run is recorded under ([`observer_name`]).
    pub fn recorded_name(&self) -> String {
        observer_name(&self.name)
    }
}

type AddObserver = Box<dyn FnOnce(&mut World, Option<Entity>, Option<Tick>, ObserverCells) + Send>;

/// The cells a [`RecordedObserver`] copies to: its last run, and the
/// components it may read (known once bevy initialized it).
#[derive(Clone)]
struct ObserverCells {
    last_run: Arc<AtomicU32>,
    reads: Arc<OnceLock<Option<Vec<ComponentId>>>>,
}

impl std::fmt::Debug for PendingObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingObserver")
            .field("name", &self.name)
            .finish()
    }
}

impl PendingObserver {
    /// Wraps `system`, an observer system for events `E`.
    pub(crate) fn new<E, S>(system: S) -> Self
    where
        E: EventPattern,
        S: System<In = On<'static, 'static, E>, Out = ()> + Send + 'static,
    {
        let name = system.name().to_string();
        let add: AddObserver = Box::new(move |world, slot, resume_at, cells: ObserverCells| {
            let wrapped = RecordedObserver {
                inner: system,
                last_run: cells.last_run,
                resume_at,
                reads: cells.reads,
            };
            let observer = Observer::new::<E, (), _>(wrapped);
            match slot.and_then(|e| world.get_entity_mut(e).ok()) {
                Some(mut entity) => {
                    entity.insert(observer);
                }
                None => {
                    world.spawn(observer);
                }
            }
            // bevy initializes an observer in a command its hook queues.
            world.flush();
        });
        PendingObserver { name, add }
    }

    /// The observer system's name (bevy's: the function's path).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The observers [`add_observers`] added: each one's recorded name
/// ([`observer_name`]) and the cells its wrapper keeps current.
#[derive(Clone, Debug, Default)]
pub struct ObserverRuns {
    runs: ConditionRuns,
    reads: Vec<Arc<OnceLock<Option<Vec<ComponentId>>>>>,
}

impl ObserverRuns {
    /// Each observer's recorded name and last run, in the order they were
    /// added.
    pub fn last_runs(&self) -> Vec<(String, Tick)> {
        self.runs.last_runs()
    }

    /// The components each observer may read, in the same order (`None`:
    /// any, or not known).
    pub fn reads(&self) -> Vec<Option<Vec<ComponentId>>> {
        self.reads
            .iter()
            .map(|r| r.get().cloned().flatten())
            .collect()
    }

    /// How many observers were added.
    pub fn len(&self) -> usize {
        self.reads.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }
}

/// Spawns `n` empty entities for the observers [`add_observers`] adds
/// later: called at the same point of every start (right after the
/// registry is installed in a new world, before anything is restored), it
/// gives each observer the same entity at every start. bevy runs the
/// observers of an event in the order of a map keyed by their entities:
/// the same entities keep that order (and so the uids of what observers
/// spawn) the same after a resume as in the run that never stopped.
pub fn reserve_observer_slots(world: &mut World, n: usize) -> Vec<Entity> {
    (0..n).map(|_| world.spawn_empty().id()).collect()
}

/// Adds `observers` to `world`, in order, each into its entity of `slots`
/// ([`reserve_observer_slots`]; a new one if it has none), with the last
/// run `last_run` gives for its recorded name ([`observer_name`]) and
/// occurrence (the `n`-th observer of that name), or bevy's "never ran".
///
/// # Errors
/// bevy refused an observer ([`ScheduleError::Build`], naming it and what
/// bevy said): it panics on an observer whose own parameters conflict
/// (B0001: two queries that may touch the same component mutably), or
/// that is exclusive (`&mut World`).
pub fn add_observers(
    world: &mut World,
    observers: Vec<PendingObserver>,
    slots: &[Entity],
    last_run: &dyn Fn(&str, usize) -> Option<Tick>,
) -> Result<ObserverRuns, ScheduleError> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = ObserverRuns::default();
    for (i, observer) in observers.into_iter().enumerate() {
        let name = observer_name(&observer.name);
        let n = seen.entry(name.clone()).or_default();
        let occurrence = *n;
        *n += 1;
        let cells = ObserverCells {
            last_run: Arc::new(AtomicU32::new(0)),
            reads: Arc::new(OnceLock::new()),
        };
        out.runs.push(name.clone(), cells.last_run.clone());
        out.reads.push(cells.reads.clone());
        let slot = slots.get(i).copied();
        let resume_at = last_run(&name, occurrence);
        let add = observer.add;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            add(world, slot, resume_at, cells);
        }))
        .map_err(|payload| {
            ScheduleError::Build(format!(
                "the observer `{}` cannot be added: {}",
                observer.name,
                dizzy_components::panic_message(payload.as_ref()).unwrap_or_default()
            ))
        })?;
    }
    Ok(out)
}
