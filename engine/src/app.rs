//! The builder: plugins, the file, the snapshot policy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy_ecs::component::Component;
use bevy_ecs::event::EventPattern;
use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::IntoScheduleConfigs;
use bevy_ecs::system::{IntoObserverSystem, ScheduleSystem};
use dizzy_components::{ArchetypeTuple, RefPolicy};
use dizzy_snapshots::CaptureSettings;
use dizzy_systems::{Plugin, Setup};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{OpenError, RegistryError};
use crate::policy::{CodeChange, SnapshotPolicy};
use crate::runtime::Runtime;

/// The default file: `dizzy.redb` in the working directory.
pub const DEFAULT_DB: &str = "dizzy.redb";

/// What `Runtime::close` checks once its writer is done: `Err` names what
/// did not finish (a replication that did not catch up).
pub(crate) type CloseCheck = std::sync::Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Builds a [`Runtime`]: what is persisted, which systems run, where the
/// file is and when snapshots are taken.
///
/// ```no_run
/// # use dizzy::prelude::*;
/// # fn main() -> Result<(), dizzy::OpenError> {
/// let runtime = App::new().db("work.redb").open()?;
/// # Ok(()) }
/// ```
pub struct App {
    pub(crate) setup: Setup,
    pub(crate) db: Option<PathBuf>,
    pub(crate) policy: SnapshotPolicy,
    pub(crate) capture: CaptureSettings,
    pub(crate) snapshot: Option<u64>,
    pub(crate) keep_last: Option<usize>,
    pub(crate) store: Option<dizzy_snapshots::Store>,
    pub(crate) unknown: dizzy_snapshots::Unknown,
    pub(crate) listeners: Vec<dizzy_snapshots::CommitListener>,
    /// Checked by `close()` once the writer is done (replication caught up).
    pub(crate) close_checks: Vec<CloseCheck>,
    pub(crate) on_code_change: CodeChange,
    pub(crate) cache_bytes: Option<usize>,
    pub(crate) tool: bool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("setup", &self.setup)
            .field("db", &self.db)
            .field("policy", &self.policy)
            .field("snapshot", &self.snapshot)
            .field("keep_last", &self.keep_last)
            .field("unknown", &self.unknown)
            .field("listeners", &self.listeners.len())
            .field("on_code_change", &self.on_code_change)
            .field("cache_bytes", &self.cache_bytes)
            .field("tool", &self.tool)
            .finish()
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl App {
    /// An app with no plugins, writing to [`DEFAULT_DB`] every 2 seconds.
    pub fn new() -> Self {
        App {
            setup: Setup::new(),
            db: Some(PathBuf::from(DEFAULT_DB)),
            policy: SnapshotPolicy::default(),
            capture: CaptureSettings::default(),
            snapshot: None,
            keep_last: None,
            store: None,
            unknown: dizzy_snapshots::Unknown::Fail,
            listeners: Vec::new(),
            close_checks: Vec::new(),
            on_code_change: CodeChange::default(),
            cache_bytes: None,
            tool: false,
        }
    }

    /// Opens the file as a tool working on another program's file (an
    /// import, a squash, a repair), not as the program that runs it: the
    /// snapshots it writes keep the code the resumed snapshot records (the
    /// program that owns the file then resumes them without a code-change
    /// report), no code change is reported or refused at open, and
    /// resources this build registers that the file does not hold are not
    /// added (neither initial values nor what start-up functions insert), so
    /// a tool built with other plugins never leaves its own resources in
    /// the file. Ticks run as usual; a tool normally runs none.
    pub fn as_tool(mut self) -> Self {
        self.tool = true;
        self
    }

    /// What a resume does when the code differs from the code that wrote
    /// the snapshot (continue, with the changes logged and at
    /// [`Runtime::code_changes`], by default; or refuse).
    pub fn on_code_change(mut self, policy: CodeChange) -> Self {
        self.on_code_change = policy;
        self
    }

    /// Sets the code version of `system` (1 unless set): bump it when the
    /// system's behaviour changes in a way its access does not show; see
    /// [`Setup::system_version`].
    pub fn system_version<M>(
        mut self,
        system: impl dizzy_systems::NamedSystem<M>,
        version: u32,
    ) -> Self {
        self.setup.system_version(system, version);
        self
    }

    /// Bounds the memory of the file's page cache (redb's) to `bytes`. By
    /// default it is a quarter of the file's size at open, between 64 and 256 MiB
    /// ([`dizzy_snapshots::default_cache_bytes`]); a run over big values
    /// that are written once and rarely read again can take less. A run of
    /// a big world can take more, and its full snapshots are durable sooner:
    /// with 256 MiB (`256 << 20`), half of which holds a full snapshot of up
    /// to 128 MiB until its commit, the first full snapshot of 1M entities
    /// (34 MB) was durable in 115–142 ms instead of 169–174 ms. The cost is
    /// memory: redb keeps the pages it wrote, up to the bound.
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_bytes = Some(bytes);
        self
    }

    /// Sets the file.
    pub fn db(mut self, path: impl AsRef<Path>) -> Self {
        self.db = Some(path.as_ref().to_owned());
        self
    }

    /// Uses an already opened store (for example one on a custom redb
    /// storage backend) instead of a path.
    pub fn store(mut self, store: dizzy_snapshots::Store) -> Self {
        self.db = Some(store.path().to_owned());
        self.store = Some(store);
        self
    }

    /// No file: nothing is persisted (tests, benchmarks).
    pub fn in_memory(mut self) -> Self {
        self.db = None;
        self.store = None;
        self
    }

    /// Adds a plugin.
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        self.setup.add_plugin(&plugin);
        self
    }

    /// Persists component `T` under a stable name.
    pub fn component<T: Component + Serialize + DeserializeOwned>(mut self, name: &str) -> Self {
        self.setup.component::<T>(name);
        self
    }

    /// Persists resource `R` under a stable name, starting from `initial`.
    pub fn resource<R: Resource + Serialize + DeserializeOwned>(
        mut self,
        name: &str,
        initial: R,
    ) -> Self {
        self.setup.resource(name, initial);
        self
    }

    /// Declares an archetype for fast restores; see
    /// [`Registry::archetype`](dizzy_components::Registry::archetype).
    pub fn archetype<B: ArchetypeTuple>(mut self) -> Self {
        self.setup.archetype::<B>();
        let with_refs: Vec<&str> = B::type_ids()
            .into_iter()
            .filter_map(|t| self.registry().get_by_type(t))
            .filter(|r| r.references().any())
            .map(|r| r.name())
            .collect();
        if !with_refs.is_empty() {
            tracing::warn!(
                "archetype {}: values of `{}` that name entities are restored once every entity exists, so a restore does not use this archetype for the entities that have them; declare it without them",
                std::any::type_name::<B>(),
                with_refs.join("`, `")
            );
        }
        self
    }

    /// Adds systems to the tick schedule.
    pub fn systems<M>(mut self, systems: impl IntoScheduleConfigs<ScheduleSystem, M>) -> Self {
        self.setup.add_systems(systems);
        self
    }

    /// Adds an observer whose change detection survives a resume; see
    /// [`Setup::add_observer`].
    pub fn add_observer<E: EventPattern, M>(
        mut self,
        observer: impl IntoObserverSystem<E, M>,
    ) -> Self {
        self.setup.add_observer(observer);
        self
    }

    /// The setup, for anything the shorthands above do not cover.
    pub fn setup(&mut self) -> &mut Setup {
        &mut self.setup
    }

    /// Sets when snapshots are taken.
    pub fn snapshot_policy(mut self, policy: SnapshotPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Snapshots every `n` ticks (`n` of 0 counts as 1), in addition to the
    /// time policy: the default policy's snapshot every 2 seconds stays on
    /// (turn it off with `snapshot_policy(SnapshotPolicy { every_ticks:
    /// Some(n), every: None })`). A policy skips a due snapshot while the
    /// writer is still committing the previous one; the next snapshot then
    /// holds both ticks' changes.
    pub fn snapshot_every_ticks(mut self, n: u64) -> Self {
        self.policy.every_ticks = Some(n.max(1));
        self
    }

    /// Snapshots at least every `t` (in addition to the tick policy, if any);
    /// replaces the default 2 seconds.
    pub fn snapshot_every(mut self, t: Duration) -> Self {
        self.policy.every = Some(t);
        self
    }

    /// References to entities that are not persisted: fail (default) or drop.
    pub fn refs(mut self, policy: RefPolicy) -> Self {
        self.capture.refs = policy;
        self
    }

    /// Capture settings (chunk size, delta chain limits).
    pub fn capture_settings(mut self, settings: CaptureSettings) -> Self {
        self.capture = settings;
        self
    }

    /// Keeps only the newest `k` snapshots (and the older ones their delta
    /// chains need); each commit deletes the rest. `dizzy compact` then
    /// gives the space back.
    pub fn keep_last(mut self, k: usize) -> Self {
        self.keep_last = Some(k.max(1));
        self
    }

    /// What to do with components and resources in the file that this app
    /// does not register: fail (default), skip them, or keep them byte for
    /// byte in every later snapshot.
    pub fn unknown_components(mut self, policy: dizzy_snapshots::Unknown) -> Self {
        self.unknown = policy;
        self
    }

    /// The policy set by [`App::unknown_components`].
    pub fn unknown_policy(&self) -> dizzy_snapshots::Unknown {
        self.unknown
    }

    /// Registers a migration of `name` from version `from` to `from + 1`;
    /// see [`Registry::migration`](dizzy_components::Registry::migration).
    pub fn migration<Old, New>(
        mut self,
        name: &str,
        from: u32,
        f: impl Fn(Old) -> New + Send + Sync + 'static,
    ) -> Self
    where
        Old: DeserializeOwned + 'static,
        New: Serialize + 'static,
    {
        self.setup.migration(name, from, f);
        self
    }

    /// Persists component `T` under a stable name and schema version.
    pub fn component_version<T: Component + Serialize + DeserializeOwned>(
        mut self,
        name: &str,
        version: u32,
    ) -> Self {
        self.setup.component_version::<T>(name, version);
        self
    }

    /// Calls `listener` after every durable commit of a snapshot (on the
    /// writer thread, in commit order), with the snapshot's record and the
    /// snapshots retention deleted meanwhile. Replication to object storage
    /// and live explorers are built on this. A listener must return quickly:
    /// the next commit waits for it.
    pub fn on_commit(
        mut self,
        listener: impl Fn(&dizzy_snapshots::Committed) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.push(std::sync::Arc::new(listener));
        self
    }

    /// Restores snapshot `id` instead of the latest (time travel).
    pub fn at_snapshot(mut self, id: u64) -> Self {
        self.snapshot = Some(id);
        self
    }

    /// The registry the plugins built so far.
    pub fn registry(&self) -> &dizzy_components::Registry {
        self.setup.registry()
    }

    /// The registry the plugins built, on its own (to read files with
    /// [`dizzy_snapshots::restore`]), or the first registration error.
    ///
    /// # Errors
    /// The first registration a plugin made that was refused
    /// ([`RegistryError`]).
    pub fn try_registry(self) -> Result<dizzy_components::Registry, RegistryError> {
        self.try_parts().map(|p| p.registry)
    }

    /// What the plugins built, finished ([`Setup::finish`]): the registry,
    /// the schedule, the start-up functions and the transient resources,
    /// for tools that read an app's file without [`App::open`] (restore it
    /// with [`dizzy_snapshots::restore_with`], the transient resources in
    /// the world first, so that the app's hooks find them).
    ///
    /// # Errors
    /// The first registration a plugin made that was refused
    /// ([`RegistryError`]).
    pub fn try_parts(self) -> Result<dizzy_systems::Parts, RegistryError> {
        self.setup.finish()
    }

    /// [`App::try_registry`] for tests and tools that already know their
    /// registrations are valid: on a registration error it returns a
    /// registry with dizzy's built-in types only (the error itself shows up
    /// at [`App::open`]).
    pub fn registry_owned(self) -> dizzy_components::Registry {
        self.try_registry().unwrap_or_else(|_| {
            Setup::new()
                .finish()
                .map(|p| p.registry)
                .unwrap_or_default()
        })
    }

    /// The file, if any.
    pub fn db_path(&self) -> Option<&Path> {
        self.db.as_deref()
    }

    /// Opens the file (creating it if needed), restores its latest snapshot
    /// if it has one, and builds the schedule: the runtime continues at the
    /// tick after the restored one.
    ///
    /// # Errors
    /// A registration was refused, the file cannot be opened or restored, the
    /// schedule is ambiguous, or the writer cannot start ([`OpenError`]); the
    /// file is left as it was.
    pub fn open(self) -> Result<Runtime, OpenError> {
        Runtime::open(self)
    }
}
