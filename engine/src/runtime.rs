//! The runtime: a world, its tick schedule, and the snapshotter behind it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use bevy_ecs::bundle::Bundle;
use bevy_ecs::change_detection::Tick;
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::Schedule;
use bevy_ecs::world::World;
use dizzy_components::{Registry, Uids};
use dizzy_snapshots::detect::Detection;
use dizzy_snapshots::{
    CaptureSettings, Capturer, RestoreOptions, Restored, SnapshotMeta, Store, Want, Writer,
    assign_uids, restore_with,
};
use dizzy_systems::{CodeChanges, ScheduleDescription};

use crate::app::App;
use crate::error::{OpenError, SquashError, TickError};
use crate::policy::{CodeChange, SnapshotPolicy};
use crate::stop::StopHandle;

/// The number of the tick being run (1 for the first tick of a new file);
/// after a resume, ticks continue where the snapshot left off.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickCount(pub u64);

/// How [`Runtime::run_until`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The condition became true.
    Done,
    /// A stop was requested through the runtime's [`StopHandle`].
    Interrupted,
}

/// A running dizzy world. Made by [`App::open`].
pub struct Runtime {
    world: World,
    schedule: Schedule,
    registry: Arc<Registry>,
    store: Option<Store>,
    writer: Option<Writer>,
    capturer: Capturer,
    policy: SnapshotPolicy,
    tick: u64,
    ticks_since_capture: u64,
    last_capture: Instant,
    resumed: Option<SnapshotMeta>,
    poisoned: Option<String>,
    plugins: Vec<String>,
    stop: StopHandle,
    /// The world's change tick when the last tick started (values changed
    /// since are recorded with their ticks in the next snapshot).
    tick_start: Option<bevy_ecs::change_detection::Tick>,
    /// The app's policy for unregistered components (files and bundles).
    unknown: dizzy_snapshots::Unknown,
    /// How the code differs from the code that wrote the snapshot resumed
    /// from (`None`: nothing, or not known).
    code_changes: Option<CodeChanges>,
    /// The components each system may read (the schedule is built once):
    /// what the change-detection record needs of the schedule's access.
    system_reads: Vec<Option<Vec<bevy_ecs::component::ComponentId>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("db", &self.store.as_ref().map(Store::path))
            .field("tick", &self.tick)
            .field("resumed", &self.resumed.as_ref().map(|m| m.id))
            .finish()
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a system panicked".to_owned()
    }
}

/// The world's fallback error handler: bevy hands a system's panic to it
/// with the system's name, and its default only resumes the panic, so the
/// name would be lost; this one resumes it with a message that names the
/// system. Errors that are not panics get bevy's default handling.
fn name_the_panicking_system(
    mut error: bevy_ecs::error::BevyError,
    ctx: bevy_ecs::error::ErrorContext,
) {
    if let Some(payload) = error.take_payload() {
        let message = panic_message(payload.as_ref());
        std::panic::resume_unwind(Box::new(format!(
            "{} `{}` panicked: {message}",
            ctx.kind(),
            ctx.name()
        )));
    }
    bevy_ecs::error::match_severity(error, ctx);
}

/// How the code described by `now` differs from the code that wrote `meta`
/// (`None` when nothing changed, or `meta` does not record its code), and
/// what `policy` makes of it.
fn code_changes(
    meta: &SnapshotMeta,
    now: &ScheduleDescription,
    path: Option<&std::path::Path>,
    policy: CodeChange,
) -> Result<Option<CodeChanges>, OpenError> {
    let Ok(then) = serde_json::from_str::<ScheduleDescription>(&meta.app) else {
        return Ok(None);
    };
    let Some(changes) = now.changes_since(&then).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let path = path.map(std::path::Path::to_owned).unwrap_or_default();
    match policy {
        CodeChange::Refuse => Err(OpenError::CodeChanged {
            path,
            snapshot: meta.id,
            tick: meta.tick,
            changes: Box::new(changes),
        }),
        _ => {
            tracing::warn!(
                "{}: resuming from snapshot {} (tick {}), written by different code:\n{changes}",
                path.display(),
                meta.id,
                meta.tick
            );
            Ok(Some(changes))
        }
    }
}

/// What restoring a file at open needs.
struct Resume<'a> {
    registry: &'a Registry,
    capture: &'a CaptureSettings,
    options: RestoreOptions,
    /// In the world before any value comes back.
    transients: &'a [dizzy_systems::Transient],
}

/// A file's world as open found it.
struct Resumed {
    /// Its world, if it holds a snapshot.
    restored: Option<Restored>,
    /// The capturer, numbering new snapshots after the file's newest.
    capturer: Capturer,
    /// The file's newest snapshot.
    newest: Option<u64>,
}

impl Resume<'_> {
    /// No file, or one without snapshots: nothing restored.
    fn fresh(&self) -> Resumed {
        Resumed {
            restored: None,
            capturer: Capturer::new(self.capture.clone(), 1),
            newest: None,
        }
    }

    /// The world `store` holds (at the snapshot asked for, or its newest),
    /// with the transient resources.
    fn file(&self, store: &Store) -> Result<Resumed, OpenError> {
        let Some(latest) = store.latest()? else {
            return Ok(self.fresh());
        };
        Ok(Resumed {
            restored: Some(restore_with(
                store,
                self.registry,
                &self.options,
                &mut |world| {
                    for t in self.transients {
                        t.insert(world);
                    }
                },
            )?),
            capturer: Capturer::new(self.capture.clone(), latest.id + 1),
            newest: Some(latest.id),
        })
    }
}

/// A world restored (with change detection where the snapshot left it)
/// or new, with the start-up functions run: the world, the snapshot it
/// resumed, the change-detection record and the tick it is based on, and
/// the tick from which values count as changed by the first tick.
#[allow(clippy::type_complexity)]
fn prepare_world(
    restored: Option<Restored>,
    registry: &Registry,
    capturer: &mut Capturer,
    defaults: Vec<(String, dizzy_systems::Init)>,
    inits: Vec<dizzy_systems::Init>,
    transients: &[dizzy_systems::Transient],
    tool: bool,
) -> (
    World,
    Option<SnapshotMeta>,
    Option<(Detection, Tick)>,
    Option<Tick>,
) {
    let (mut world, resumed, chain, detection) = match restored {
        Some(r) => (r.world, Some(r.meta), r.chain, r.detection),
        None => {
            let mut world = World::new();
            registry.install(&mut world);
            for t in transients {
                t.insert(&mut world);
            }
            (world, None, Vec::new(), None)
        }
    };
    // Change detection where the snapshot left it: restored values are
    // old to every system, but for those changed in the last tick.
    let detected = detection.map(|d| {
        let base = dizzy_snapshots::detect::apply(&mut world, registry, &d);
        (d, base)
    });
    let tick_start = detected
        .as_ref()
        .map(|(d, base)| Tick::new(base.get().wrapping_sub(d.max_age() + 1)));
    if let Some(meta) = &resumed {
        // Before the start-up functions: what they change in persisted
        // state (a registered resource the snapshot lacks, inserted with
        // its initial value) is a change, so the next delta holds it.
        capturer.resume(&mut world, registry, meta, &chain);
    }
    let held = |name: &str| {
        resumed
            .as_ref()
            .is_some_and(|m| m.schemas.iter().any(|s| s.name == name))
    };
    for (name, init) in defaults {
        if !held(&name) && !tool {
            init(&mut world);
        }
    }
    for init in inits {
        init(&mut world);
    }
    if tool {
        // What start-up functions inserted of this build's resources that
        // the file does not hold is this build's, not the file's.
        let ids = registry.component_ids(&world);
        let added: Vec<_> = registry
            .iter()
            .zip(ids)
            .filter(|(r, _)| r.resource().is_some() && !held(r.name()))
            .filter_map(|(_, id)| id)
            .collect();
        for id in added {
            world.remove_resource_by_id(id);
        }
    }
    (world, resumed, detected, tick_start)
}

impl Runtime {
    /// Opens `app`: restores its file through a read-only handle (a file
    /// this build refuses is left as it was), takes the file read-write,
    /// gives change detection back where the snapshot left it, builds the
    /// schedule, checks the code against the snapshot's, and starts the
    /// writer.
    pub(crate) fn open(app: App) -> Result<Runtime, OpenError> {
        let App {
            setup,
            db,
            policy,
            capture,
            snapshot,
            keep_last,
            store: given,
            unknown,
            listeners,
            on_code_change,
            cache_bytes,
            tool,
        } = app;
        let opened = Instant::now();
        let parts = setup.finish()?;
        let registry = Arc::new(parts.registry);
        let transients = parts.transients;
        let resume = Resume {
            registry: &registry,
            capture: &capture,
            options: RestoreOptions {
                snapshot,
                refs: capture.refs,
                unknown,
            },
            transients: &transients,
        };
        let open_rw = |p: &std::path::Path| Store::open_with_cache(p, cache_bytes);
        // An existing file is read (and checked) through a read-only handle
        // first, so that a file this build refuses is left exactly as it was;
        // only a file that needs a crash repair is opened read-write at once.
        let mut store = given;
        // The newest snapshot the restore saw through the read-only handle.
        let mut seen = None;
        let mut resumed = resume.fresh();
        if let Some(s) = &store {
            resumed = resume.file(s)?;
        } else if let Some(path) = db.as_deref().filter(|p| p.exists()) {
            let reader = match Store::open_read_only(path) {
                Ok(s) => s,
                Err(dizzy_snapshots::StoreOpenError::NeedsRepair { .. }) => {
                    let repaired = open_rw(path)?;
                    store = Some(repaired.clone());
                    repaired
                }
                Err(e) => return Err(e.into()),
            };
            resumed = resume.file(&reader)?;
            seen = resumed.newest;
        }
        tracing::debug!("restored in {:?}", opened.elapsed());
        // The file is taken read-write now (so that a second run cannot
        // commit between the read-only restore and the writer), unless a
        // code change may be refused: then only after that check, so that
        // a refusal leaves the file exactly as it was.
        if store.is_none() && on_code_change != CodeChange::Refuse {
            store = db.as_deref().map(open_rw).transpose()?;
            // The read-only handle was closed before this read-write one
            // took the file (redb's lock): another run may have committed
            // in between. This run now owns the file; if it changed, the
            // world is restored again from what it holds, so that new
            // snapshots follow the newest one and never overwrite it.
            if let Some(s) = &store
                && s.latest()?.map(|m| m.id) != seen
            {
                tracing::info!(
                    "{}: another run committed while this one opened it; restoring again",
                    s.path().display()
                );
                if let Some(r) = &mut resumed.restored {
                    for t in &transients {
                        t.take_back(&mut r.world);
                    }
                }
                resumed = resume.file(s)?;
            }
        }
        let Resumed {
            restored,
            mut capturer,
            ..
        } = resumed;
        let (mut world, resumed, detected, tick_start) = prepare_world(
            restored,
            &registry,
            &mut capturer,
            parts.defaults,
            parts.inits,
            &transients,
            tool,
        );
        let tick = resumed.as_ref().map_or(0, |m| m.tick);
        world.insert_resource(TickCount(tick));
        if !world.contains_resource::<bevy_ecs::error::FallbackErrorHandler>() {
            world.insert_resource(bevy_ecs::error::FallbackErrorHandler(
                name_the_panicking_system,
            ));
        }
        let mut schedule = parts.schedule;
        let last_run = |name: &str, occurrence: usize| {
            let (d, base) = detected.as_ref()?;
            let age = d
                .systems
                .iter()
                .filter(|(n, _)| n == name)
                .nth(occurrence)?
                .1;
            (age <= dizzy_snapshots::detect::MAX_AGE)
                .then(|| bevy_ecs::change_detection::Tick::new(base.get().wrapping_sub(age)))
        };
        dizzy_systems::build_with(
            &mut schedule,
            &mut world,
            parts.ambiguity_is_error,
            &last_run,
        )?;
        let description = dizzy_systems::describe(&schedule, &world, &parts.plugins);
        for name in dizzy_systems::declared_but_absent(&schedule, &world) {
            tracing::warn!(
                "`declare({name})`: the schedule has no such system (was it added with `add_systems`?); what is declared of it is ignored"
            );
        }
        let system_reads = dizzy_systems::component_reads(&schedule);
        // Before the file is opened read-write: a refusal leaves it as it was.
        let path = store.as_ref().map(|s| s.path()).or(db.as_deref());
        let code_changes = match &resumed {
            Some(meta) if !tool => code_changes(meta, &description, path, on_code_change)?,
            _ => None,
        };
        if store.is_none() {
            store = db.as_deref().map(open_rw).transpose()?;
            // Another run may have committed since the read-only restore:
            // this run's world is not the newest, and is refused (a commit
            // would be refused too: nothing is ever overwritten).
            if let Some(s) = &store
                && let Some(now) = s.latest()?
                && Some(now.id) != seen
            {
                return Err(dizzy_snapshots::WriteError::Overtaken {
                    path: s.path().to_owned(),
                    snapshot: seen.map_or(1, |id| id + 1),
                    newest: now.id,
                }
                .into());
            }
        }
        // A tool's snapshots record the code of the program whose file it
        // is (none for a file it starts).
        capturer.set_app(if tool {
            resumed.as_ref().map(|m| m.app.clone()).unwrap_or_default()
        } else {
            serde_json::to_string(&description).unwrap_or_default()
        });
        let writer = store
            .as_ref()
            .map(|s| Writer::start_with(s, keep_last, listeners))
            .transpose()?;
        tracing::debug!("opened in {:?}", opened.elapsed());
        Ok(Runtime {
            world,
            schedule,
            registry,
            store,
            writer,
            capturer,
            policy,
            tick,
            ticks_since_capture: 0,
            last_capture: Instant::now(),
            resumed,
            poisoned: None,
            plugins: parts.plugins,
            stop: StopHandle::new(),
            tick_start,
            unknown,
            code_changes,
            system_reads,
        })
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, mutably (between ticks).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// The registry of persisted types.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry, shared: for readers of the file on other threads
    /// (an explorer serving the running app's file decodes with it).
    pub fn shared_registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// The file, if any.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Ticks completed (including those before a resume).
    pub fn tick_count(&self) -> u64 {
        self.tick
    }

    /// The snapshot this runtime was restored from, if any.
    pub fn resumed_from(&self) -> Option<u64> {
        self.resumed.as_ref().map(|m| m.id)
    }

    /// The tick schedule as data: systems, what they read and write, their
    /// order, sets and parallel stages (what every snapshot records, and
    /// what `dizzy graph` draws).
    pub fn describe(&self) -> dizzy_systems::ScheduleDescription {
        dizzy_systems::describe(&self.schedule, &self.world, &self.plugins)
    }

    /// How this code differs from the code that wrote the snapshot this
    /// runtime resumed from: systems added, removed or changed (version,
    /// access, creations), ordering edges, registered types. `None` for a
    /// new file, when nothing changed, or when the snapshot was written
    /// before dizzy recorded what identifies the code. Its `Display` is the
    /// block logged at open.
    pub fn code_changes(&self) -> Option<&CodeChanges> {
        self.code_changes.as_ref()
    }

    /// The record of the snapshot this runtime was restored from, if any.
    pub fn resumed_meta(&self) -> Option<&SnapshotMeta> {
        self.resumed.as_ref()
    }

    /// Spawns an entity with `bundle` and gives it a uid at once (entities
    /// spawned by systems get theirs at the end of the tick).
    pub fn spawn<B: Bundle<Effect: bevy_ecs::bundle::NoBundleEffect>>(
        &mut self,
        bundle: B,
    ) -> Entity {
        let uid = self.world.resource_mut::<Uids>().allocate();
        self.world.spawn((uid, bundle)).id()
    }

    /// Cuts a selection of entities (with what they reference, unless told
    /// otherwise) out of the world into a bundle; the world is only read.
    ///
    /// # Errors
    /// See [`dizzy_snapshots::export`].
    pub fn export(
        &self,
        selection: &dizzy_snapshots::Selection,
        options: &dizzy_snapshots::ExportOptions,
    ) -> Result<dizzy_snapshots::Exported, dizzy_snapshots::ExportError> {
        dizzy_snapshots::export(&self.world, &self.registry, selection, options)
    }

    /// Imports a bundle into the world, all or nothing; returns the
    /// old-to-new uid of each of its entities. The import is part of the
    /// next snapshot. Components the app does not register are refused,
    /// left out or kept byte for byte, as its
    /// [`App::unknown_components`](crate::App::unknown_components) says.
    ///
    /// # Errors
    /// The bundle is invalid or refused
    /// ([`ImportError`](dizzy_snapshots::ImportError)); the world is unchanged.
    pub fn import(
        &mut self,
        bundle: &[u8],
        on_conflict: dizzy_snapshots::OnConflict,
        refs: dizzy_components::RefPolicy,
    ) -> Result<std::collections::BTreeMap<u64, u64>, dizzy_snapshots::ImportError> {
        let options = dizzy_snapshots::ImportOptions {
            on_conflict,
            refs,
            unknown: self.unknown,
        };
        let imported =
            dizzy_snapshots::import_with(&mut self.world, &self.registry, bundle, &options)?;
        if !imported.kept.is_empty() {
            // Kept values are written by full snapshots only.
            self.capturer.reset();
        }
        Ok(imported.uids)
    }

    fn check_writer(&mut self) -> Result<(), TickError> {
        if let Some(e) = self.writer.as_ref().and_then(Writer::take_error) {
            // The failed snapshot may have been the base of the next delta.
            self.capturer.reset();
            return Err(e.into());
        }
        Ok(())
    }

    /// Runs one tick of the schedule, then snapshots if the policy says so
    /// and the writer is not busy (otherwise the changes wait for the next
    /// snapshot, which holds them all).
    ///
    /// # Errors
    /// A system panicked (the tick is not saved and the runtime refuses further
    /// ticks), an earlier tick failed, or the snapshot after the tick failed
    /// ([`TickError`]).
    pub fn tick(&mut self) -> Result<(), TickError> {
        if let Some(p) = &self.poisoned {
            return Err(TickError::Poisoned(p.clone()));
        }
        self.check_writer()?;
        let next = self.tick + 1;
        self.world.resource_mut::<TickCount>().0 = next;
        self.tick_start = Some(self.world.read_change_tick());
        let (world, schedule) = (&mut self.world, &mut self.schedule);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| schedule.run(world))) {
            let message = panic_message(payload.as_ref());
            self.poisoned = Some(format!("tick {next}: {message}"));
            return Err(TickError::SystemPanicked {
                tick: next,
                message,
            });
        }
        self.tick = next;
        self.ticks_since_capture += 1;
        // As bevy's App does after each update: removal messages older than
        // two ticks are dropped (they would pile up otherwise).
        self.world.clear_trackers();
        if let Some(check) = self.world.check_change_ticks() {
            self.schedule.check_change_ticks(check);
        }
        assign_uids(&mut self.world, &self.registry);
        if self
            .policy
            .due(self.ticks_since_capture, self.last_capture.elapsed())
            && self.writer.as_ref().is_some_and(|w| !w.busy())
        {
            self.capture(Want::Auto)?;
        }
        Ok(())
    }

    /// Runs `n` ticks.
    ///
    /// # Errors
    /// The first tick that failed ([`TickError`]), as [`Runtime::tick`].
    pub fn run_ticks(&mut self, n: u64) -> Result<(), TickError> {
        (0..n).try_for_each(|_| self.tick())
    }

    /// This runtime's stop handle: a request made through it (or a clone)
    /// ends [`Runtime::run_until`] after the current tick.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Ticks until `done` returns true (checked before each tick) or a stop
    /// is requested through [`Runtime::stop_handle`]; then writes a final
    /// snapshot and waits until it is durable. While a stop is requested it
    /// returns at once (after the final snapshot); [`StopHandle::reset`]
    /// withdraws the request.
    ///
    /// # Errors
    /// A tick's error ([`TickError`]): a system panicked, or the snapshot
    /// after a tick (or the final one) failed.
    pub fn run_until(
        &mut self,
        mut done: impl FnMut(&mut World) -> bool,
    ) -> Result<RunEnd, TickError> {
        let end = loop {
            if self.stop.is_requested() {
                break RunEnd::Interrupted;
            }
            if done(&mut self.world) {
                break RunEnd::Done;
            }
            self.tick()?;
        };
        self.finish()?;
        Ok(end)
    }

    /// Hands the capturer where change detection stands.
    fn record_detection(&mut self) {
        self.capturer
            .set_detection(dizzy_snapshots::detect::SystemRuns {
                window_start: self.tick_start,
                systems: dizzy_systems::last_runs(&self.schedule),
                reads: self.system_reads.clone(),
            });
    }

    fn capture(&mut self, want: Want) -> Result<Option<u64>, TickError> {
        if self.writer.is_none() {
            return Ok(None);
        }
        self.record_detection();
        let Some(writer) = &self.writer else {
            return Ok(None);
        };
        let capture = self
            .capturer
            .capture(&mut self.world, &self.registry, self.tick, want)?;
        let id = capture.meta.id;
        writer.submit(capture)?;
        self.ticks_since_capture = 0;
        self.last_capture = Instant::now();
        Ok(Some(id))
    }

    /// Captures a snapshot now (a delta when possible) and queues it;
    /// returns its id (durable after [`Runtime::flush`]). `None` in memory.
    ///
    /// # Errors
    /// An earlier tick failed, the capture failed, or the writer reported an
    /// error ([`TickError`]).
    pub fn snapshot(&mut self) -> Result<Option<u64>, TickError> {
        if let Some(p) = &self.poisoned {
            return Err(TickError::Poisoned(p.clone()));
        }
        self.check_writer()?;
        self.capture(Want::Auto)
    }

    /// Captures a full snapshot now.
    ///
    /// # Errors
    /// As [`Runtime::snapshot`].
    pub fn snapshot_full(&mut self) -> Result<Option<u64>, TickError> {
        if let Some(p) = &self.poisoned {
            return Err(TickError::Poisoned(p.clone()));
        }
        self.check_writer()?;
        self.capture(Want::Full)
    }

    /// Writes the world as it is as one full snapshot that replaces every
    /// snapshot of the file, and waits until it is durable; returns its id
    /// (`None` in memory). The new snapshot is committed and the others are
    /// deleted in one write transaction: a crash leaves the file as it was
    /// or squashed, never without a restorable snapshot. The space is given
    /// back to the file system by compaction (`dizzy compact`).
    ///
    /// The squashed snapshot records the code that wrote its state: the
    /// snapshot resumed from's description if no tick ran since (squashing
    /// a file with another program leaves its record true), this code's
    /// otherwise.
    ///
    /// # Errors
    /// The runtime stopped after a failed tick, the capture failed, or the
    /// writer failed ([`SquashError`]); the file holds what it held before.
    pub fn squash(&mut self) -> Result<Option<u64>, SquashError> {
        if let Some(p) = &self.poisoned {
            return Err(SquashError::Poisoned(p.clone()));
        }
        self.check_writer().map_err(|e| match e {
            TickError::Write(e) => SquashError::Write(e),
            other => SquashError::Poisoned(other.to_string()),
        })?;
        if self.writer.is_none() {
            return Ok(None);
        }
        self.record_detection();
        let mut capture =
            self.capturer
                .capture(&mut self.world, &self.registry, self.tick, Want::Full)?;
        if let Some(meta) = self.resumed.as_ref().filter(|m| m.tick == self.tick) {
            capture.meta.app = meta.app.clone();
        }
        let id = capture.meta.id;
        let Some(writer) = &self.writer else {
            return Ok(None);
        };
        writer.squash(capture)?;
        self.ticks_since_capture = 0;
        self.last_capture = Instant::now();
        if let Err(e) = writer.flush() {
            self.capturer.reset();
            return Err(e.into());
        }
        Ok(Some(id))
    }

    /// Waits until every queued snapshot is durable; returns the newest
    /// committed snapshot id.
    ///
    /// # Errors
    /// The writer failed to commit a snapshot ([`TickError::Write`]).
    pub fn flush(&mut self) -> Result<Option<u64>, TickError> {
        let Some(writer) = &self.writer else {
            return Ok(None);
        };
        // A stop requested during the wait ends it (a writer that cannot
        // finish never holds the run); one requested before it is the
        // reason for this final flush, which then completes.
        let stop = self.stop.clone();
        let before = stop.is_requested();
        match writer.flush_unless(&|| !before && stop.is_requested()) {
            // Nothing committed by this run: the newest snapshot of the file.
            Ok(id) => {
                Ok(id.or_else(|| self.capturer.next_id().checked_sub(1).filter(|&id| id > 0)))
            }
            Err(e) => {
                self.capturer.reset();
                Err(e.into())
            }
        }
    }

    /// Snapshots everything that changed since the last snapshot — by the
    /// world's own change ticks, removals and despawns, whether a tick ran
    /// or the world was edited between ticks (`world_mut`, `spawn`,
    /// `import`), resources too — and waits until it is durable; returns
    /// the newest committed id. Nothing is written when nothing changed
    /// and no tick ran.
    ///
    /// # Errors
    /// The capture or the writer failed ([`TickError`]).
    pub fn finish(&mut self) -> Result<Option<u64>, TickError> {
        if self.poisoned.is_none() {
            self.check_writer()?;
            self.record_detection();
            if let Some(writer) = &self.writer {
                let forced = self.ticks_since_capture > 0 || !self.capturer.has_base();
                let capture = if forced {
                    Some(self.capturer.capture(
                        &mut self.world,
                        &self.registry,
                        self.tick,
                        Want::Auto,
                    )?)
                } else {
                    self.capturer
                        .capture_changes(&mut self.world, &self.registry, self.tick)?
                };
                if let Some(capture) = capture {
                    writer.submit(capture)?;
                    self.ticks_since_capture = 0;
                    self.last_capture = Instant::now();
                }
            }
        }
        self.flush()
    }

    /// [`Runtime::finish`], then stops the writer.
    ///
    /// # Errors
    /// As [`Runtime::finish`].
    pub fn close(mut self) -> Result<Option<u64>, TickError> {
        let id = self.finish()?;
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        Ok(id)
    }
}
