//! `dizzy bench snapshot`: what a snapshot costs, against baselines measured
//! in the same process on the same data.
//!
//! The world is the particles demo's: `entities` entities with a uid and
//! three components (`Position`, `Velocity`, `Label`). Each repetition uses a
//! fresh file and reports, as medians:
//!
//! - `full_pause_ms`: the world thread blocked by a full snapshot (capture);
//!   `full_durable_ms`: until it is committed; `full_bytes`;
//! - `delta_*`: the same for a delta after one particles tick at `changed`;
//! - `restore_ms`: open the file read-only (as `App::open` restores: no page
//!   verification, which `Store::open_to_read` and the read-write open add)
//!   and rebuild the world (full + delta);
//!   `full_restore_ms`: the full snapshot alone (what the peer restores);
//!   `resume_ms`: `App::open` of that file (restore, then the verified
//!   read-write open and the writer thread);
//! - `spawn_baseline_ms`: plain bevy_ecs `spawn_batch` of the same rows from
//!   memory (a plain `u64` id component, no hooks);
//! - `fsync_baseline_ms`: write `full_bytes` to a plain file and fsync;
//! - `tick_ms` / `raw_tick_ms`: a particles tick through the engine (snapshot
//!   policy off) against a plain bevy `Schedule` with the same systems;
//! - `sorted_iter_ms`: iterating every entity of the world in uid order
//!   (`query.iter().sort::<&Uid>()`), what code that must not depend on
//!   query order pays;
//! - `rss_before_bytes` / `rss_peak_bytes` / `rss_after_bytes`: the
//!   process's resident memory before a full snapshot, at its peak during
//!   the snapshot until it is durable, and after (Linux only; 0
//!   elsewhere); `world_rss_bytes`: what populating the world added;
//! - `hecs_save_ms` / `hecs_restore_ms`: the peer, hecs' column serializer.

use std::path::Path;
use std::time::Instant;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::MultiThreadedExecutor;
use dizzy_components::{Uid, Uids};
use serde_json::{Value, json};

use dizzy::App;
use dizzy::SnapshotPolicy;
use dizzy::TickCount;
use dizzy_demos::particles::{self, Label, Params, ParticlesPlugin, Position, Velocity};

use crate::peer::hecs_column_peer;

/// What to measure.
#[derive(Clone, Debug)]
pub struct SnapshotBench {
    /// Entities in the world.
    pub entities: usize,
    /// Fraction changed by each particles system before the delta.
    pub changed: f64,
    /// Repetitions (the median is reported).
    pub reps: usize,
    /// Ticks timed per repetition for `tick_ms`.
    pub ticks: usize,
    /// Target chunk size of the snapshots.
    pub chunk_bytes: usize,
}

impl Default for SnapshotBench {
    fn default() -> Self {
        SnapshotBench {
            entities: 1_000_000,
            changed: 0.01,
            reps: 5,
            ticks: 10,
            chunk_bytes: dizzy_snapshots::CaptureSettings::default().chunk_bytes,
        }
    }
}

#[derive(Component)]
struct PlainId(#[allow(dead_code)] u64);

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A target's ratio as printed: two decimals, unless rounding would put it
/// on the other side of `limit` from the ratio itself (1.0504 against 1.05
/// printed 1.05 with `met` false): then unrounded, so the printed ratio and
/// `met` always agree.
pub(crate) fn shown_ratio(ratio: f64, limit: f64) -> f64 {
    let rounded = round(ratio);
    if (rounded <= limit) == (ratio <= limit) {
        rounded
    } else {
        ratio
    }
}

#[derive(Default)]
struct Samples {
    full_pause: Vec<f64>,
    full_durable: Vec<f64>,
    full_bytes: u64,
    delta_pause: Vec<f64>,
    delta_durable: Vec<f64>,
    delta_bytes: u64,
    restore: Vec<f64>,
    full_restore: Vec<f64>,
    resume: Vec<f64>,
    spawn: Vec<f64>,
    fsync: Vec<f64>,
    tick: Vec<f64>,
    raw_tick: Vec<f64>,
    hecs_save: Vec<f64>,
    hecs_restore: Vec<f64>,
    file_bytes: u64,
    sorted_iter: Vec<f64>,
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
    world_rss: u64,
}

type BenchError = Box<dyn std::error::Error>;

impl SnapshotBench {
    /// Runs the benchmark in `dir` (files are created and removed there) and
    /// returns the JSON report. `progress` is told what runs.
    pub fn run(&self, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Value, BenchError> {
        let params = Params {
            seed: 42,
            changed: self.changed,
        };
        let rows = particles::initial(self.entities, params.seed);
        let mut s = Samples::default();
        for rep in 0..self.reps.max(1) {
            progress(&format!("repetition {}/{}", rep + 1, self.reps.max(1)));
            self.snapshot_rep(dir, rep, params, &mut s)?;
            s.spawn.push(spawn_baseline(&rows));
            s.fsync
                .push(fsync_baseline(&dir.join("fsync.bin"), s.full_bytes)?);
            let (tick, raw) = self.tick_rep(params, &rows)?;
            s.tick.push(tick);
            s.raw_tick.push(raw);
            let peer_rows: Vec<(u64, [f32; 3], [f32; 3], String)> = rows
                .iter()
                .enumerate()
                .map(|(i, (p, v, l))| (i as u64 + 2, p.0, v.0, l.0.clone()))
                .collect();
            let peer = hecs_column_peer(&peer_rows, dir)?;
            s.hecs_save.push(peer.save_ms);
            s.hecs_restore.push(peer.restore_ms);
        }
        Ok(self.report(s))
    }

    fn snapshot_rep(
        &self,
        dir: &Path,
        rep: usize,
        params: Params,
        s: &mut Samples,
    ) -> Result<(), BenchError> {
        let path = dir.join(format!("bench-{rep}.redb"));
        let _ = std::fs::remove_file(&path);
        let settings = dizzy_snapshots::CaptureSettings {
            chunk_bytes: self.chunk_bytes,
            ..Default::default()
        };
        let app = || {
            App::new()
                .db(&path)
                .plugin(ParticlesPlugin::default())
                .snapshot_policy(SnapshotPolicy::OFF)
                .capture_settings(settings.clone())
        };
        let mut rt = app().open()?;
        rt.world_mut().insert_resource(params);
        let empty = memory::rss();
        particles::populate(rt.world_mut(), self.entities, params.seed);
        let before = memory::rss();
        memory::reset_peak();

        let t = Instant::now();
        let full_id = rt.snapshot_full()?;
        s.full_pause.push(ms(t));
        rt.flush()?;
        s.full_durable.push(ms(t));
        if rep == 0 {
            s.rss_before = before;
            s.rss_peak = memory::peak();
            s.rss_after = memory::rss();
            s.world_rss = before.saturating_sub(empty);
        }
        s.sorted_iter.push(sorted_iter(rt.world_mut()));
        s.full_bytes = rt
            .store()
            .and_then(|st| st.latest().ok().flatten())
            .map_or(0, |m| m.bytes);

        rt.tick()?;
        let t = Instant::now();
        rt.snapshot()?;
        s.delta_pause.push(ms(t));
        rt.flush()?;
        s.delta_durable.push(ms(t));
        s.delta_bytes = rt
            .store()
            .and_then(|st| st.latest().ok().flatten())
            .map_or(0, |m| m.bytes);
        rt.close()?;
        s.file_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());

        // Restore: open the file and rebuild the world (what a reader, or
        // time travel, pays).
        let registry = App::new()
            .plugin(ParticlesPlugin { types_only: true })
            .try_registry()?;
        // The latest state (full snapshot and delta), and the full snapshot
        // alone (what the peer's restore does); the order alternates between
        // repetitions, so that neither always runs on a fresher heap.
        let full_only = dizzy_snapshots::RestoreOptions {
            snapshot: full_id,
            ..Default::default()
        };
        let latest = dizzy_snapshots::RestoreOptions::default();
        let order = if rep.is_multiple_of(2) {
            [(&latest, false), (&full_only, true)]
        } else {
            [(&full_only, true), (&latest, false)]
        };
        for (options, full) in order {
            let t = Instant::now();
            // Read-only, as `App::open` restores (its read-write open then
            // verifies every page, which `resume_ms` includes).
            let store = dizzy_snapshots::Store::open_read_only(&path)?;
            let restored = dizzy_snapshots::restore(&store, &registry, options)?;
            let elapsed = ms(t);
            let n = restored.world.resource::<Uids>().len();
            if n != self.entities {
                return Err(format!("restored {n} entities, expected {}", self.entities).into());
            }
            drop((restored, store));
            if full {
                s.full_restore.push(elapsed);
            } else {
                s.restore.push(elapsed);
            }
        }
        // Resume: the same, then the verified read-write open and the writer,
        // by the code that wrote the file (its systems too: a resume by other
        // code would report the difference).
        let t = Instant::now();
        let resumed = app().open()?;
        s.resume.push(ms(t));
        drop(resumed);
        let _ = std::fs::remove_file(&path);
        Ok(())
    }

    fn tick_rep(
        &self,
        params: Params,
        rows: &[(Position, Velocity, Label)],
    ) -> Result<(f64, f64), BenchError> {
        let mut rt = App::new()
            .in_memory()
            .plugin(ParticlesPlugin::default())
            .snapshot_policy(SnapshotPolicy::OFF)
            .open()?;
        rt.world_mut().insert_resource(params);
        particles::populate(rt.world_mut(), self.entities, params.seed);

        let mut raw = World::new();
        raw.insert_resource(params);
        raw.insert_resource(TickCount(0));
        raw.spawn_batch(rows.iter().enumerate().map(|(i, (p, v, l))| {
            (
                Uid::new(i as u64 + 2).unwrap_or_else(|| unreachable!()),
                *p,
                *v,
                l.clone(),
            )
        }));
        let mut schedule = Schedule::default();
        schedule.set_executor(MultiThreadedExecutor::new());
        schedule.add_systems((particles::drift, particles::steer, particles::relabel));

        // Warm up both, then alternate so that noise hits both alike.
        rt.tick()?;
        raw.resource_mut::<TickCount>().0 += 1;
        schedule.run(&mut raw);
        let (mut engine, mut plain) = (Vec::new(), Vec::new());
        for _ in 0..self.ticks.max(1) {
            let t = Instant::now();
            rt.tick()?;
            engine.push(ms(t));
            let t = Instant::now();
            raw.resource_mut::<TickCount>().0 += 1;
            schedule.run(&mut raw);
            plain.push(ms(t));
        }
        Ok((median(engine), median(plain)))
    }

    fn report(&self, s: Samples) -> Value {
        let full_pause = median(s.full_pause);
        let full_durable = median(s.full_durable);
        let delta_pause = median(s.delta_pause);
        let delta_durable = median(s.delta_durable);
        let restore = median(s.restore);
        let full_restore = median(s.full_restore);
        let spawn = median(s.spawn);
        let fsync = median(s.fsync);
        let tick = median(s.tick);
        let raw_tick = median(s.raw_tick);
        let hecs_save = median(s.hecs_save);
        let hecs_restore = median(s.hecs_restore);
        let target = |name: &str, value: f64, base: f64, limit: f64| {
            let ratio = if base > 0.0 {
                value / base
            } else {
                f64::INFINITY
            };
            json!({ "name": name, "ratio": shown_ratio(ratio, limit), "limit": limit, "met": ratio <= limit })
        };
        json!({
            "entities": self.entities,
            "changed": self.changed,
            "reps": self.reps,
            "chunk_bytes": self.chunk_bytes,
            "full_pause_ms": round(full_pause),
            "full_durable_ms": round(full_durable),
            "full_bytes": s.full_bytes,
            "delta_pause_ms": round(delta_pause),
            "delta_durable_ms": round(delta_durable),
            "delta_bytes": s.delta_bytes,
            "file_bytes": s.file_bytes,
            "restore_ms": round(restore),
            "full_restore_ms": round(full_restore),
            "resume_ms": round(median(s.resume)),
            "spawn_baseline_ms": round(spawn),
            "fsync_baseline_ms": round(fsync),
            "tick_ms": round(tick),
            "raw_tick_ms": round(raw_tick),
            "sorted_iter_ms": round(median(s.sorted_iter)),
            "rss_before_bytes": s.rss_before,
            "rss_peak_bytes": s.rss_peak,
            "rss_after_bytes": s.rss_after,
            "world_rss_bytes": s.world_rss,
            "hecs_save_ms": round(hecs_save),
            "hecs_restore_ms": round(hecs_restore),
            "targets": [
                target("full_durable_ms <= 2.0 * fsync_baseline_ms", full_durable, fsync, 2.0),
                target("restore_ms <= 1.5 * spawn_baseline_ms", restore, spawn, 1.5),
                target("delta_durable_ms <= 0.05 * full_durable_ms", delta_durable, full_durable, 0.05),
                target("delta_pause_ms <= 0.1 * full_pause_ms", delta_pause, full_pause, 0.1),
                target("tick_ms <= 1.05 * raw_tick_ms", tick, raw_tick, 1.05),
                target("full_durable_ms <= hecs_save_ms", full_durable, hecs_save, 1.0),
                target("full_restore_ms <= hecs_restore_ms", full_restore, hecs_restore, 1.0),
                target("delta_durable_ms <= hecs_save_ms / 20", delta_durable, hecs_save, 0.05),
                target(
                    "rss_peak_bytes - rss_before_bytes <= 1.5 * full_bytes",
                    s.rss_peak.saturating_sub(s.rss_before) as f64,
                    s.full_bytes as f64,
                    1.5,
                ),
            ],
        })
    }
}

/// Iterates every particle in uid order (summing positions, so that the
/// work is not optimized away).
fn sorted_iter(world: &mut World) -> f64 {
    let mut query = world.query::<(&Uid, &Position)>();
    let t = Instant::now();
    let mut sum = 0.0f32;
    let mut n = 0usize;
    for (_, p) in query.iter(world).sort::<&Uid>() {
        sum += p.0[0];
        n += 1;
    }
    let elapsed = ms(t);
    std::hint::black_box((sum, n));
    elapsed
}

/// The process's resident memory, on Linux (`/proc/self/status`).
mod memory {
    fn status(key: &str) -> u64 {
        let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
            return 0;
        };
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Resident bytes now.
    pub(super) fn rss() -> u64 {
        status("VmRSS:")
    }

    /// The peak of resident bytes since the last [`reset_peak`].
    pub(super) fn peak() -> u64 {
        status("VmHWM:")
    }

    /// Starts a new peak (`clear_refs` value 5 resets the high-water mark).
    pub(super) fn reset_peak() {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
}

fn spawn_baseline(rows: &[(Position, Velocity, Label)]) -> f64 {
    let bundles: Vec<(PlainId, Position, Velocity, Label)> = rows
        .iter()
        .enumerate()
        .map(|(i, (p, v, l))| (PlainId(i as u64 + 2), *p, *v, l.clone()))
        .collect();
    let mut world = World::new();
    let t = Instant::now();
    world.spawn_batch(bundles);
    let elapsed = ms(t);
    drop(world);
    elapsed
}

fn fsync_baseline(path: &Path, bytes: u64) -> std::io::Result<f64> {
    use std::io::Write;
    let data: Vec<u8> = (0..bytes).map(|i| (i * 31 % 251) as u8).collect();
    let _ = std::fs::remove_file(path);
    let t = Instant::now();
    let mut f = std::fs::File::create(path)?;
    f.write_all(&data)?;
    f.sync_all()?;
    let elapsed = ms(t);
    drop(f);
    std::fs::remove_file(path)?;
    Ok(elapsed)
}
