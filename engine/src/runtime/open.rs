//! Opening an app: restore its file (read-only first), give change
//! detection back, run the start-up functions, build the schedule, check
//! the code against the snapshot's, start the writer.

use std::sync::Arc;
use std::time::Instant;

use bevy_ecs::change_detection::Tick;
use bevy_ecs::world::World;
use dizzy_components::Registry;
use dizzy_snapshots::detect::Detection;
use dizzy_snapshots::{
    CaptureSettings, Capturer, RestoreOptions, Restored, SnapshotMeta, Store, Writer, restore_with,
};
use dizzy_systems::{CodeChanges, ScheduleDescription};

use super::moves::Moves;
use super::{Runtime, TickCount, panic_message};
use crate::app::App;
use crate::error::OpenError;
use crate::policy::CodeChange;
use crate::stop::StopHandle;

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
    /// How many observers the app adds (`Setup::add_observer`): their
    /// entities are spawned before any value comes back.
    observers: usize,
}

/// A file's world as open found it.
struct Resumed {
    /// Its world, if it holds a snapshot.
    restored: Option<Restored>,
    /// The tick the restored change-detection record counts from
    /// ([`dizzy_snapshots::detect::apply`], done), if it has one.
    detected_base: Option<Tick>,
    /// The capturer, numbering new snapshots after the file's newest.
    capturer: Capturer,
    /// The file's newest snapshot.
    newest: Option<u64>,
    /// The entities of the app's observers, spawned at the start of the
    /// restore ([`dizzy_systems::reserve_observer_slots`]); empty for a
    /// new world.
    observer_slots: Vec<bevy_ecs::entity::Entity>,
}

impl Resume<'_> {
    /// No file, or one without snapshots: nothing restored.
    fn fresh(&self) -> Resumed {
        Resumed {
            restored: None,
            detected_base: None,
            capturer: Capturer::new(self.capture.clone(), 1),
            newest: None,
            observer_slots: Vec::new(),
        }
    }

    /// The world `store` holds (at the snapshot asked for, or its newest),
    /// with the transient resources.
    fn file(&self, store: &Store) -> Result<Resumed, OpenError> {
        let Some(latest) = store.latest()? else {
            return Ok(self.fresh());
        };
        let mut observer_slots = Vec::new();
        let mut restored = restore_with(store, self.registry, &self.options, &mut |world| {
            // First, as in a new world (`prepare_world`).
            observer_slots = dizzy_systems::reserve_observer_slots(world, self.observers);
            for t in self.transients {
                t.insert(world);
            }
        })?;
        // Change detection where the snapshot left it: restored values are
        // old to every system, but for those changed in the last tick. It
        // ends a tick (bevy's `clear_trackers`): the removals made between
        // ticks are made again after it, so that readers see them for as
        // long as they would have.
        let detected_base = restored
            .detection
            .as_ref()
            .map(|d| dizzy_snapshots::detect::apply(&mut restored.world, self.registry, d));
        let between = std::mem::take(&mut restored.removals_between_ticks);
        dizzy_snapshots::replay_removals_between_ticks(
            store,
            self.registry,
            &self.options,
            &mut restored.world,
            &restored.meta,
            &between,
        )?;
        Ok(Resumed {
            restored: Some(restored),
            detected_base,
            capturer: Capturer::new(self.capture.clone(), latest.id + 1),
            newest: Some(latest.id),
            observer_slots,
        })
    }
}

/// A world restored (with change detection where the snapshot left it)
/// or new, with the start-up functions run: the world, the snapshot it
/// resumed, the change-detection record and the tick it is based on, and
/// the tick from which values count as changed by the first tick.
#[allow(clippy::type_complexity)]
fn prepare_world(
    restored: Option<(Restored, Option<Tick>)>,
    registry: &Registry,
    capturer: &mut Capturer,
    defaults: Vec<(String, dizzy_systems::Init)>,
    mut start: StartUp,
    transients: &[dizzy_systems::Transient],
    tool: bool,
) -> Result<
    (
        World,
        Option<SnapshotMeta>,
        Option<(Detection, Tick)>,
        Option<Tick>,
        dizzy_systems::ObserverRuns,
    ),
    dizzy_systems::ScheduleError,
> {
    let (mut world, resumed, chain, detection, detected_base) = match restored {
        Some((r, base)) => (r.world, Some(r.meta), r.chain, r.detection, base),
        None => {
            let mut world = World::new();
            registry.install(&mut world);
            // The observers' entities, at the point of a restore's
            // `prepare` ([`Resume::file`]): the same entities at every start.
            start.slots = dizzy_systems::reserve_observer_slots(&mut world, start.observers.len());
            for t in transients {
                t.insert(&mut world);
            }
            (world, None, Vec::new(), None, None)
        }
    };
    // Change detection where the snapshot left it: restored values are
    // old to every system, but for those changed in the last tick.
    let detected = detection.zip(detected_base);
    let tick_start = detected
        .as_ref()
        .map(|(d, base)| Tick::new(base.get().wrapping_sub(d.max_age() + 1)));
    if let Some(meta) = &resumed {
        // Before the start-up functions: what they change in persisted
        // state (a registered resource the snapshot lacks, inserted with
        // its initial value) is a change, so the next delta holds it.
        capturer.resume(&mut world, registry, meta, &chain);
    }
    // A tool of older code than the file's (the app's own command line,
    // built before a field was added) reads values without their newer
    // fields: what it writes would lose them (found by a fresh tester: an
    // import and a squash dropped a field from every value). An app's own
    // run drops what its code no longer has, as the README says.
    if tool && let Some((component, fields)) = dizzy_snapshots::fields_not_read(&chain, registry) {
        capturer.refuse_losing(component, fields);
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
    // The app's observers, each from where it stood, before the start-up
    // functions (which may trigger them).
    let moves = recorded_names(detected.as_ref(), |recorded| {
        Moves::new(
            recorded,
            start.observers.iter().map(|o| o.recorded_name()),
            "observer ",
        )
    });
    let observers =
        dizzy_systems::add_observers(&mut world, start.observers, &start.slots, &|name, n| {
            recorded_run(detected.as_ref(), &moves.recorded_name(name), n)
        })?;
    for init in start.inits {
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
    Ok((world, resumed, detected, tick_start, observers))
}

/// What runs on the world at every start, after the restore: the app's
/// observers, then its start-up functions.
struct StartUp {
    inits: Vec<dizzy_systems::Init>,
    observers: Vec<dizzy_systems::PendingObserver>,
    /// The observers' entities (spawned before the restore).
    slots: Vec<bevy_ecs::entity::Entity>,
}

/// The moves `f` finds between the names the change-detection record
/// `detected` holds and the build's (none without a record).
fn recorded_names<'d>(
    detected: Option<&'d (Detection, Tick)>,
    f: impl FnOnce(&mut dyn Iterator<Item = &'d str>) -> Moves,
) -> Moves {
    detected.map_or_else(Moves::default, |(d, _)| {
        f(&mut d.systems.iter().map(|(n, _)| n.as_str()))
    })
}

/// The last run the change-detection record `detected` gives the
/// `occurrence`-th system (or run condition, or observer) recorded under
/// `name`, in the restored world's ticks; `None` if it records none, or
/// one older than anything change detection can tell apart.
fn recorded_run(
    detected: Option<&(Detection, Tick)>,
    name: &str,
    occurrence: usize,
) -> Option<Tick> {
    let (d, base) = detected?;
    let age = d
        .systems
        .iter()
        .filter(|(n, _)| n == name)
        .nth(occurrence)?
        .1;
    (age <= dizzy_snapshots::detect::MAX_AGE).then(|| Tick::new(base.get().wrapping_sub(age)))
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
            close_checks,
            on_code_change,
            cache_bytes,
            tool,
        } = app;
        let opened = Instant::now();
        let parts = setup.finish()?;
        let registry = Arc::new(parts.registry);
        // Before anything is restored: a registered relationship target
        // would take the relationships off their sources as it came back.
        {
            let mut scratch = World::new();
            registry.install(&mut scratch);
            registry.check_relationship_targets(&scratch)?;
        }
        for reg in registry.iter() {
            if let Some(why) = reg.untraced() {
                tracing::warn!(
                    "`{}` ({}): its serde shape cannot be traced ({why}), so its values are read by position: a change of its fields needs a new version (`App::component_version`) and a migration",
                    reg.name(),
                    reg.type_name()
                );
            }
        }
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
            observers: parts.observers.len(),
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
            resumed = match resume.file(&reader) {
                Ok(r) => r,
                // The read-only restore does not verify pages (a
                // read-write open does, after it): a value that does not
                // decode as its type, or a record that makes no sense, may
                // be a damaged page, which is named as such (found by a
                // fresh tester: one flipped bit was taken for a changed
                // type, with advice to write a migration).
                Err(OpenError::Restore(e)) if store.is_none() && !user_code(&e) => {
                    reader.check_pages()?;
                    return Err(e.into());
                }
                Err(e) => return Err(e),
            };
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
            detected_base,
            mut capturer,
            observer_slots,
            ..
        } = resumed;
        let (mut world, resumed, detected, tick_start, observer_runs) = prepare_world(
            restored.map(|r| (r, detected_base)),
            &registry,
            &mut capturer,
            parts.defaults,
            StartUp {
                inits: parts.inits,
                observers: parts.observers,
                slots: observer_slots,
            },
            &transients,
            tool,
        )?;
        let tick = resumed.as_ref().map_or(0, |m| m.tick);
        world.insert_resource(TickCount(tick));
        if !world.contains_resource::<bevy_ecs::error::FallbackErrorHandler>() {
            world.insert_resource(bevy_ecs::error::FallbackErrorHandler(
                name_the_panicking_system,
            ));
        }
        let mut schedule = parts.schedule;
        let moves = recorded_names(detected.as_ref(), |recorded| {
            let current = schedule
                .graph()
                .systems
                .iter()
                .map(|(_, s, _)| s.name().to_string());
            Moves::new(recorded, current, "")
        });
        let last_run = |name: &str, occurrence: usize| {
            recorded_run(detected.as_ref(), &moves.recorded_name(name), occurrence)
        };
        let built = dizzy_systems::build_with(
            &mut schedule,
            &mut world,
            parts.ambiguity_is_error,
            &last_run,
        )?;
        // Again with the schedule's types registered: a target registered
        // without its relationship (which a system's query registers).
        registry.check_relationship_targets(&world)?;
        // `Runtime::tick` applies the commands left at the end of the
        // schedule itself, so that it knows which removals came after every
        // system (see `LastRemovals`).
        schedule.set_apply_final_deferred(false);
        // A tool records the file's systems where the snapshot left them.
        let file_runs = tool.then(|| {
            detected.as_ref().map_or_else(Vec::new, |(d, base)| {
                d.systems
                    .iter()
                    .filter(|(n, _)| n != dizzy_snapshots::detect::WORLD)
                    .map(|(n, age)| {
                        // Older than anything recorded stays so, without
                        // wrapping around.
                        let age = (*age).min(dizzy_snapshots::detect::MAX_AGE + 1);
                        (
                            n.clone(),
                            bevy_ecs::change_detection::Tick::new(base.get().wrapping_sub(age)),
                        )
                    })
                    .collect()
            })
        });
        let description = dizzy_systems::describe(&schedule, &world, &parts.plugins);
        for name in dizzy_systems::declared_but_absent(&schedule, &world) {
            tracing::warn!(
                "`declare({name})`: the schedule has no such system (was it added with `add_systems`?); what is declared of it is ignored"
            );
        }
        // The run conditions' entries follow the systems' in the record,
        // as readers of any component (unknown reads stay unknown).
        let mut system_reads = built.reads;
        // Then the observers', as far as bevy tells what they read.
        if !system_reads.is_empty() {
            system_reads.extend((0..built.conditions.len()).map(|_| None));
            system_reads.extend(observer_runs.reads());
        }
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
        // is (none for a file it starts), and its types.
        if tool {
            capturer.keep_file_schemas(
                resumed
                    .iter()
                    .flat_map(|m| &m.schemas)
                    .map(|s| s.name.clone())
                    .collect(),
            );
        }
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
            condition_runs: built.conditions,
            observer_runs,
            file_runs,
            close_checks,
        })
    }
}

/// Whether a restore failed in user code (a panicking hook, migration or
/// `Deserialize`), which says nothing about the file.
fn user_code(e: &dizzy_snapshots::RestoreError) -> bool {
    matches!(e, dizzy_snapshots::RestoreError::Panicked { .. })
}
