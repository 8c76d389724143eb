//! The runtime: a world, its tick schedule, and the snapshotter behind it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use bevy_ecs::bundle::Bundle;
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::Schedule;
use bevy_ecs::world::World;
use dizzy_components::{Registry, Uids};
use dizzy_snapshots::{Capturer, SnapshotMeta, Store, Want, Writer, assign_uids};
use dizzy_systems::CodeChanges;

use crate::error::{SquashError, TickError};
use crate::policy::SnapshotPolicy;
use crate::stop::StopHandle;

mod moves;
mod open;

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

/// A running dizzy world. Made by [`App::open`](crate::App::open).
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
    /// The components each system may read (the schedule is built once),
    /// then each recorded run condition (which may read any): what the
    /// change-detection record needs of the schedule's access.
    system_reads: Vec<Option<Vec<bevy_ecs::component::ComponentId>>>,
    /// Where each run condition of the schedule's systems last ran.
    condition_runs: dizzy_systems::ConditionRuns,
    /// Where each observer of `Setup::add_observer` last ran.
    observer_runs: dizzy_systems::ObserverRuns,
    /// A tool's runtime ([`App::as_tool`](crate::App::as_tool)): the last
    /// runs of the file's own systems, as its snapshot recorded them. A
    /// tool's snapshots record these, not the tool's systems, so that the
    /// app resumes with the change detection it left (and sees what the
    /// tool changed as new).
    file_runs: Option<Vec<(String, bevy_ecs::change_detection::Tick)>>,
    /// What `close()` checks once the writer is done.
    close_checks: Vec<crate::app::CloseCheck>,
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
    dizzy_components::panic_message(payload).unwrap_or_else(|| "a system panicked".to_owned())
}

impl Runtime {
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
    /// spawned by systems get theirs when their spawn is applied, at the
    /// next sync point, so later systems of the same tick see it).
    pub fn spawn<B: Bundle<Effect: bevy_ecs::bundle::NoBundleEffect>>(
        &mut self,
        bundle: B,
    ) -> Entity {
        let uid = self.world.resource_mut::<Uids>().allocate();
        self.world.spawn((uid, bundle)).id()
    }

    /// Copies a selection of entities (with what they reference, unless
    /// told otherwise) into a bundle; the world is only read, and the
    /// entities stay in it. To *move* them, despawn them after the export
    /// (the despawns are part of the next snapshot), and see the README's
    /// "Moving entities between worlds" for a move between two files that a
    /// kill cannot tear.
    ///
    /// # Errors
    /// See [`dizzy_snapshots::export`].
    pub fn export(
        &self,
        selection: &dizzy_snapshots::Selection,
        options: &dizzy_snapshots::ExportOptions,
    ) -> Result<dizzy_snapshots::Exported, dizzy_snapshots::ExportError> {
        // A tool of older code than the file's read its values without
        // their newer fields: a bundle of them would lack those.
        if let Some((component, fields)) = self.capturer.losing() {
            return Err(dizzy_snapshots::ExportError::FieldsNotRead {
                component: component.to_owned(),
                fields: fields.to_owned(),
            });
        }
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
    /// A hook or an observer that panics while the values go in
    /// (`ImportError::Panicked`) leaves part of the bundle in the world: the
    /// runtime then refuses further ticks, snapshots and imports, as after
    /// a system's panic, and `close` saves nothing more.
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
        if let Some(p) = &self.poisoned {
            return Err(dizzy_snapshots::ImportError::Panicked(format!(
                "not imported: the runtime stopped at {p}"
            )));
        }
        self.check_bundle_fields(bundle)?;
        let (world, registry) = (&mut self.world, &self.registry);
        let imported = match catch_unwind(AssertUnwindSafe(|| {
            dizzy_snapshots::import_with(world, registry, bundle, &options)
        })) {
            Ok(result) => result?,
            // The world holds part of the bundle: it is never saved (as
            // after a system's panic, no more ticks or snapshots).
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                self.poisoned = Some(format!("an import: {message}"));
                return Err(dizzy_snapshots::ImportError::Panicked(message));
            }
        };
        if !imported.kept.is_empty() {
            // Kept values are written by full snapshots only.
            self.capturer.reset();
        }
        Ok(imported.uids)
    }

    /// A bundle whose values hold fields the registered types do not read
    /// (written by newer code at the same version): a tool refuses it, as
    /// every value would lose them. (An app, whose code may have dropped
    /// them on purpose, imports it; the import warns, naming them.)
    fn check_bundle_fields(&self, bundle: &[u8]) -> Result<(), dizzy_snapshots::ImportError> {
        if self.file_runs.is_none() {
            return Ok(());
        }
        let body = dizzy_snapshots::read_bundle(bundle)?;
        for s in &body.schemas {
            let Some(reg) = self.registry.get(&s.name) else {
                continue;
            };
            let fields = match s.shape.as_deref() {
                Some(shape) if s.version == reg.version() => reg.stored_fields_not_read(shape),
                _ => continue,
            };
            if fields.is_empty() {
                continue;
            }
            return Err(dizzy_snapshots::ImportError::FieldsNotRead {
                component: s.name.clone(),
                fields: fields.join("`, `"),
            });
        }
        Ok(())
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
        // Removals made while the systems run are seen by the readers after
        // them in this tick; those made after (the commands applied at the
        // end of the schedule) and between ticks by every reader in the
        // next one, so a snapshot records those (`LastRemovals`) and a
        // restore makes them again.
        if let Some(mut last) = self
            .world
            .get_resource_mut::<dizzy_components::LastRemovals>()
        {
            last.close();
        }
        // The schedule leaves its last commands to us (set at open).
        let (world, schedule) = (&mut self.world, &mut self.schedule);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
            schedule.run(world);
            if let Some(mut last) = world.get_resource_mut::<dizzy_components::LastRemovals>() {
                last.open();
            }
            schedule.apply_deferred(world);
        })) {
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
        if let Some(mut last) = self
            .world
            .get_resource_mut::<dizzy_components::LastRemovals>()
        {
            last.settle();
        }
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
        let runs = match &self.file_runs {
            // Which of the file's systems reads what is not known here:
            // every value changed after one of them ran is recorded.
            Some(runs) => dizzy_snapshots::detect::SystemRuns {
                window_start: self.tick_start,
                systems: runs.clone(),
                reads: Vec::new(),
                never_ticked: self.tick == 0,
            },
            None => {
                // The systems, then their run conditions and the observers
                // (under names no system has), in the order of
                // `system_reads`.
                let mut systems = dizzy_systems::last_runs(&self.schedule);
                systems.extend(self.condition_runs.last_runs());
                systems.extend(self.observer_runs.last_runs());
                dizzy_snapshots::detect::SystemRuns {
                    window_start: self.tick_start,
                    systems,
                    reads: self.system_reads.clone(),
                    never_ticked: self.tick == 0,
                }
            }
        };
        self.capturer.set_detection(runs);
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
    /// otherwise. A tool ([`App::as_tool`](crate::App::as_tool)) squashing
    /// a file that holds no snapshot (its program died before the first)
    /// writes nothing and returns `None`: there is no state of the
    /// program's to keep, and a made-up one would make the program resume
    /// from an empty world instead of starting.
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
        if self.tool_on_a_file_without_state() {
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
    /// and no tick ran, except in a file without a snapshot yet: its first
    /// holds the world as it starts (its resources at least) — unless
    /// this is a tool ([`App::as_tool`](crate::App::as_tool)) that put
    /// nothing into it. It is [`Runtime::snapshot_changes`], then
    /// [`Runtime::flush`].
    ///
    /// # Errors
    /// The capture or the writer failed ([`TickError`]).
    pub fn finish(&mut self) -> Result<Option<u64>, TickError> {
        self.snapshot_changes()?;
        self.flush()
    }

    /// Queues the snapshot [`Runtime::finish`] writes — everything that
    /// changed since the last snapshot, if anything did or a tick ran —
    /// without waiting for it: the caller can go on (build a report, say)
    /// while the writer makes it durable, then [`Runtime::flush`]. Returns
    /// its id (`None`: nothing changed since the last snapshot, queued or
    /// committed; in memory; or after a failed tick). A file without a
    /// snapshot yet always gets one, as with [`Runtime::finish`], except
    /// from a tool that put nothing into it.
    ///
    /// # Errors
    /// The capture failed, or the writer reported an error ([`TickError`]).
    pub fn snapshot_changes(&mut self) -> Result<Option<u64>, TickError> {
        if self.poisoned.is_some() {
            return Ok(None);
        }
        self.check_writer()?;
        self.record_detection();
        let Some(writer) = &self.writer else {
            return Ok(None);
        };
        if self.tool_on_a_file_without_state() {
            return Ok(None);
        }
        let forced = self.ticks_since_capture > 0 || !self.capturer.has_base();
        let capture = if forced {
            Some(
                self.capturer
                    .capture(&mut self.world, &self.registry, self.tick, Want::Auto)?,
            )
        } else {
            self.capturer
                .capture_changes(&mut self.world, &self.registry, self.tick)?
        };
        let Some(capture) = capture else {
            return Ok(None);
        };
        let id = capture.meta.id;
        writer.submit(capture)?;
        self.ticks_since_capture = 0;
        self.last_capture = Instant::now();
        Ok(Some(id))
    }

    /// Whether this is a tool on a file that holds no snapshot, and the
    /// tool put nothing persisted into the world: it has no state of the
    /// file's program to write (a first snapshot made up by a tool would
    /// make that program resume from an empty world instead of starting).
    fn tool_on_a_file_without_state(&self) -> bool {
        self.file_runs.is_some()
            && self.resumed.is_none()
            && !self.capturer.has_base()
            && self.world.resource::<dizzy_components::Uids>().is_empty()
            && !self
                .registry
                .iter()
                .any(|r| r.resource().is_some_and(|o| o.exists(&self.world)))
    }

    /// [`Runtime::finish`], then stops the writer. With replication
    /// ([`App::replicate`](crate::App::replicate), feature `replicate`) it
    /// then waits for the bucket to catch up, at most the replication's
    /// `give_up_after` + 1 s.
    ///
    /// # Errors
    /// As [`Runtime::finish`]; [`TickError::Replication`] when the bucket
    /// did not catch up (unreachable past the bound, or it refused the
    /// file's snapshots): the local file is complete.
    pub fn close(mut self) -> Result<Option<u64>, TickError> {
        let id = self.finish()?;
        if let Some(mut w) = self.writer.take() {
            // The writer's thread, left the only one holding the file,
            // closes it (redb's last syncs) while this thread drops the
            // world.
            self.store = None;
            w.close_queue();
            drop(std::mem::replace(&mut self.world, World::new()));
            w.close()?;
        }
        // The writer's listeners are gone: a replication has waited for
        // its bucket (bounded) and says now whether it caught up.
        for check in &self.close_checks {
            check().map_err(TickError::Replication)?;
        }
        Ok(id)
    }
}
