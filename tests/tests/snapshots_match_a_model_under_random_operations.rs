//! Model-based test: random operation sequences are applied both to a dizzy
//! runtime (through the public engine API) and to a plain in-memory model.
//! The live world must equal the model at every snapshot and after every
//! reopen, and every snapshot, restored on its own (full snapshot plus its
//! deltas) from the file, must give exactly the model state recorded when it
//! was taken: entities by uid, values, references as target uids, the
//! resource, the tick and the uid allocator.
//!
//! Seeds: by default a fixed set plus one derived from the clock, all printed.
//! `DIZZY_MODEL_SEED=<n>` runs seed `n` (and `n+1`, ... with
//! `DIZZY_MODEL_CASES=<k>`); `DIZZY_MODEL_CASES=<k>` alone runs `k` cases.
//! A failing case is shrunk to a short operation sequence, printed with its
//! seed.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bevy_ecs::entity::{EntityMapper, MapEntities};
use dizzy::prelude::*;
use dizzy::snapshots::{CaptureSettings, RestoreOptions, restore};
use dizzy::{SnapshotKind, Store};
use dizzy_tests::Rng;

mod model;

use model::*;

// ---------------------------------------------------------------------------
// One case.

#[derive(Clone, Debug)]
struct Config {
    /// Spawns before the random operations.
    initial: usize,
    max_chain: u32,
    chunk_bytes: Option<usize>,
    /// Declares archetypes, so that their groups restore with one typed batch.
    declared: bool,
    ops: usize,
}

impl Config {
    fn from_seed(seed: u64) -> Config {
        // Every fourth seed of each kind: a short chain, small chunks, both, neither.
        let (max_chain, chunk_bytes) = match seed % 4 {
            0 => (3, None),
            1 => (3, Some(64)),
            2 => (CaptureSettings::default().max_chain, None),
            _ => (CaptureSettings::default().max_chain, Some(64)),
        };
        let mut r = Rng(seed ^ 0x0D15_EA5E);
        Config {
            initial: if r.below(2) == 0 { 4 } else { 40 },
            max_chain,
            chunk_bytes,
            declared: (seed / 4) % 2 == 1,
            ops: 300 + r.below(300) as usize,
        }
    }

    fn app(&self, path: &Path) -> App {
        let mut settings = CaptureSettings {
            max_chain: self.max_chain,
            ..Default::default()
        };
        if let Some(c) = self.chunk_bytes {
            settings.chunk_bytes = c;
        }
        let app = App::new()
            .db(path)
            .component::<Label>("model.label")
            .component::<Pos>("model.pos")
            .component::<Flag>("model.flag")
            .component::<Link>("model.link")
            .component::<Watch>("model.watch")
            .component::<ChildOf>("model.child_of")
            .resource("model.score", initial_score())
            .systems(drift)
            .snapshot_policy(SnapshotPolicy::OFF)
            .capture_settings(settings);
        if self.declared {
            app.archetype::<(Label, Pos)>()
                .archetype::<(Pos,)>()
                .archetype::<(Label, Pos, Link)>()
        } else {
            app
        }
    }
}

#[derive(Clone, Debug)]
struct Recorded {
    state: State,
    tick: u64,
    uid_next: u64,
    full: bool,
}

#[derive(Clone, Debug, Default)]
struct Stats {
    snapshots: usize,
    full: usize,
    longest_chain: usize,
    reopens: usize,
    time_travels: usize,
    restores: usize,
}

#[derive(Debug)]
struct Failure {
    /// Index of the operation that failed (`ops.len()` for the final checks).
    at: usize,
    message: String,
    trace: Vec<String>,
}

fn fail<T>(message: impl Into<String>) -> Result<T, String> {
    Err(message.into())
}

struct Case<'a> {
    cfg: &'a Config,
    path: PathBuf,
    rt: Option<Runtime>,
    /// Uid -> live entity of the runtime's world.
    ents: BTreeMap<u64, Entity>,
    model: State,
    tick: u64,
    ticks_since_snapshot: u64,
    /// Whether the runtime has a snapshot to base a delta on.
    has_base: bool,
    /// The newest snapshot taken since the runtime was opened.
    session_last: Option<u64>,
    /// The snapshot whose state the live world holds, if unchanged since.
    at: Option<u64>,
    next_id: u64,
    recorded: BTreeMap<u64, Recorded>,
    trace: Vec<String>,
    stats: Stats,
}

impl Case<'_> {
    fn rt(&mut self) -> &mut Runtime {
        self.rt.as_mut().expect("the runtime is open")
    }

    fn world(&mut self) -> &mut World {
        self.rt().world_mut()
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Spawn(seed) => self.spawn(seed),
            Op::Insert(who, what, seed) => self.insert(who, what, seed),
            Op::Mutate(who, what, seed) => self.mutate(who, what, seed),
            Op::Remove(who, what) => self.remove(who, what),
            Op::Despawn(who, seed) => self.despawn(who, seed),
            Op::Relink(who, seed) => self.relink(who, seed),
            Op::Adopt(who, parent, at) => self.adopt(who, parent, at),
            Op::Orphan(who) => self.orphan(who),
            Op::SetResource(seed) => {
                let mut r = Rng(seed);
                let leader = self.target(&mut r);
                let s = Score {
                    n: r.below(1000),
                    note: label(&mut r).text,
                    leader: self.entity(leader),
                };
                self.trace
                    .push(format!("set resource {s:?} (leader {leader:?})"));
                self.model.score = Some(MScore {
                    n: s.n,
                    note: s.note.clone(),
                    leader,
                });
                self.world().insert_resource(s);
                Ok(())
            }
            Op::MutateResource(seed) => {
                let mut r = Rng(seed);
                let choice = r.below(3);
                let leader = self.target(&mut r);
                let leader_e = self.entity(leader);
                let Some(m) = self.model.score.as_mut() else {
                    self.trace.push("mutate resource: absent, skipped".into());
                    return Ok(());
                };
                let world = self.rt.as_mut().expect("open").world_mut();
                let mut s = world.resource_mut::<Score>();
                match choice {
                    0 => {
                        m.n += 1;
                        s.n += 1;
                    }
                    1 => {
                        m.note.push('!');
                        s.note.push('!');
                    }
                    _ => {
                        m.leader = leader;
                        s.leader = leader_e;
                    }
                }
                self.trace
                    .push(format!("mutate resource in place ({choice}) -> {m:?}"));
                Ok(())
            }
            Op::RemoveResource => {
                self.trace.push("remove resource".into());
                self.model.score = None;
                self.world().remove_resource::<Score>();
                Ok(())
            }
            Op::Tick => {
                self.trace.push(format!("tick {}", self.tick + 1));
                self.rt().tick().map_err(|e| format!("tick: {e}"))?;
                self.tick += 1;
                self.ticks_since_snapshot += 1;
                for m in self.model.entities.values_mut() {
                    if let (Some(p), Some(_)) = (&mut m.pos, m.flag) {
                        p.x = p.x.wrapping_add(1);
                    }
                }
                if self.rt().tick_count() != self.tick {
                    return fail(format!(
                        "tick count {} after tick {}",
                        self.rt().tick_count(),
                        self.tick
                    ));
                }
                Ok(())
            }
            Op::Snapshot | Op::SnapshotFull => {
                let full = matches!(op, Op::SnapshotFull);
                let id = if full {
                    self.rt().snapshot_full()
                } else {
                    self.rt().snapshot()
                }
                .map_err(|e| format!("snapshot: {e}"))?;
                self.trace.push(format!(
                    "snapshot{} -> {id:?}",
                    if full { " (full)" } else { "" }
                ));
                let Some(id) = id else {
                    return fail("a snapshot of a runtime with a file returned no id");
                };
                let uid_next = self.rt().world().resource::<Uids>().next_raw();
                let live = dump(self.world())?;
                self.record(id, full, live, uid_next)
            }
            Op::Flush => {
                self.trace.push("flush".into());
                let got = self.rt().flush().map_err(|e| format!("flush: {e}"))?;
                if got != self.session_last {
                    return fail(format!(
                        "flush returned {got:?}, expected {:?}",
                        self.session_last
                    ));
                }
                Ok(())
            }
            Op::Reopen(back) => self.reopen(back),
        }
    }

    fn record(&mut self, id: u64, full: bool, live: State, uid_next: u64) -> Result<(), String> {
        if id != self.next_id {
            return fail(format!("snapshot id {id}, expected {}", self.next_id));
        }
        if live != self.model {
            return fail(format!(
                "the live world differs from the model at snapshot {id}:\n{}",
                diff(&self.model, &live)
            ));
        }
        self.recorded.insert(
            id,
            Recorded {
                state: self.model.clone(),
                tick: self.tick,
                uid_next,
                full,
            },
        );
        self.stats.snapshots += 1;
        self.next_id += 1;
        self.ticks_since_snapshot = 0;
        self.has_base = true;
        self.session_last = Some(id);
        self.at = Some(id);
        Ok(())
    }

    /// Closes the runtime — which snapshots if a tick ran since the last
    /// snapshot, if there is none, or if the world changed between ticks
    /// (and writes nothing otherwise) — checks every snapshot from the file,
    /// and reopens: at the latest snapshot, or at an earlier one.
    fn reopen(&mut self, back: Option<u64>) -> Result<(), String> {
        let must = self.ticks_since_snapshot > 0 || !self.has_base;
        let uid_next = self.rt().world().resource::<Uids>().next_raw();
        let live = dump(self.world())?;
        let closed = self
            .rt
            .take()
            .expect("open")
            .close()
            .map_err(|e| format!("close: {e}"))?;
        if closed == Some(self.next_id) {
            self.trace
                .push(format!("close (final snapshot) -> {closed:?}"));
            self.record(self.next_id, false, live, uid_next)?;
        } else {
            self.trace
                .push(format!("close (nothing to snapshot) -> {closed:?}"));
            if must {
                return fail(format!(
                    "close returned {closed:?}, expected a final snapshot {}",
                    self.next_id
                ));
            }
            if closed != self.session_last {
                return fail(format!(
                    "close returned {closed:?}, expected {:?}",
                    self.session_last
                ));
            }
            // Nothing written: then nothing may have changed since the
            // last snapshot of this session.
            let last = self
                .at
                .and_then(|id| self.recorded.get(&id))
                .map(|r| &r.state);
            if let Some(state) = last
                && *state != live
            {
                return fail(format!(
                    "close wrote nothing, but the world changed since snapshot {:?}:\n{}",
                    self.at,
                    diff(state, &live)
                ));
            }
        }
        self.verify_all()?;

        let target = back.map(|b| {
            *self
                .recorded
                .keys()
                .nth((b % self.recorded.len() as u64) as usize)
                .expect("in range")
        });
        let mut app = self.cfg.app(&self.path);
        if let Some(t) = target {
            app = app.at_snapshot(t);
            self.stats.time_travels += 1;
        }
        let mut rt = app.open().map_err(|e| format!("reopen: {e}"))?;
        let expected = target.unwrap_or_else(|| *self.recorded.keys().last().expect("closed"));
        self.trace.push(format!(
            "reopen at {expected} -> resumed from {:?}",
            rt.resumed_from()
        ));
        if rt.resumed_from() != Some(expected) {
            return fail(format!(
                "reopened from {:?}, expected {expected}",
                rt.resumed_from()
            ));
        }
        let rec = &self.recorded[&expected];
        if rt.tick_count() != rec.tick {
            return fail(format!(
                "reopened at tick {}, expected {}",
                rt.tick_count(),
                rec.tick
            ));
        }
        self.model = rec.state.clone();
        self.tick = rec.tick;
        // A resource the snapshot records as removed stays removed (its
        // initial value is only for worlds that never knew it).
        self.ticks_since_snapshot = 0;
        self.has_base = true;
        // Flush answers with the newest snapshot of the file.
        self.session_last = self.recorded.keys().next_back().copied();
        self.at = target.or(self.session_last);
        self.ents = rt
            .world_mut()
            .query::<(Entity, &Uid)>()
            .iter(rt.world())
            .map(|(e, u)| (u.get(), e))
            .collect();
        let live = dump(rt.world_mut())?;
        self.rt = Some(rt);
        self.stats.reopens += 1;
        if live != self.model {
            return fail(format!(
                "the reopened world differs from the model:\n{}",
                diff(&self.model, &live)
            ));
        }
        Ok(())
    }

    /// Restores every recorded snapshot from the (closed) file and compares
    /// it with the model state recorded for it.
    fn verify_all(&mut self) -> Result<(), String> {
        let store = Store::open_to_read(&self.path).map_err(|e| format!("open to read: {e}"))?;
        let app = self.cfg.app(&self.path);
        let mut full = 0;
        for (&id, rec) in &self.recorded {
            let r = restore(
                &store,
                app.registry(),
                &RestoreOptions {
                    snapshot: Some(id),
                    ..Default::default()
                },
            )
            .map_err(|e| format!("restoring snapshot {id}: {e}"))?;
            self.stats.restores += 1;
            let kinds: Vec<(u64, SnapshotKind)> = r.chain.iter().map(|m| (m.id, m.kind)).collect();
            let chain_ok = r.meta.id == id
                && r.chain.last().is_some_and(|m| m.id == id)
                && kinds.first().is_some_and(|k| k.1 == SnapshotKind::Full)
                && kinds[1..].iter().all(|k| k.1 == SnapshotKind::Delta)
                && kinds.len() <= self.cfg.max_chain as usize + 1
                && (!rec.full || kinds.len() == 1);
            if !chain_ok {
                return fail(format!(
                    "snapshot {id} (full requested: {}): restored {} through the chain {kinds:?} (max chain {})",
                    rec.full, r.meta.id, self.cfg.max_chain
                ));
            }
            if r.meta.kind == SnapshotKind::Full {
                full += 1;
            }
            self.stats.longest_chain = self.stats.longest_chain.max(kinds.len());
            if r.meta.tick != rec.tick {
                return fail(format!(
                    "snapshot {id}: restored tick {}, expected {}",
                    r.meta.tick, rec.tick
                ));
            }
            let mut world = r.world;
            let uid_next = world.resource::<Uids>().next_raw();
            if uid_next != rec.uid_next {
                return fail(format!(
                    "snapshot {id}: restored uid allocator at {uid_next}, expected {}",
                    rec.uid_next
                ));
            }
            let got = dump(&mut world).map_err(|e| format!("snapshot {id}: {e}"))?;
            if got != rec.state {
                return fail(format!(
                    "restoring snapshot {id} (chain {kinds:?}) differs from the model:\n{}",
                    diff(&rec.state, &got)
                ));
            }
        }
        self.stats.full = full;
        Ok(())
    }
}

fn run_case(cfg: &Config, ops: &[Op]) -> Result<Stats, Failure> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.redb");
    let mut case = Case {
        cfg,
        path: path.clone(),
        rt: None,
        ents: BTreeMap::new(),
        model: State::default(),
        tick: 0,
        ticks_since_snapshot: 0,
        has_base: false,
        session_last: None,
        at: None,
        next_id: 1,
        recorded: BTreeMap::new(),
        trace: Vec::new(),
        stats: Stats::default(),
    };
    let mut at = 0;
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        let mut rt = cfg.app(&path).open().map_err(|e| format!("open: {e}"))?;
        case.model = dump(rt.world_mut())?;
        if case.model.score.as_ref().map(|s| (s.n, s.leader)) != Some((0, None)) {
            return fail(format!("a new world starts with {:?}", case.model.score));
        }
        case.rt = Some(rt);
        for op in ops {
            case.apply(op)?;
            at += 1;
        }
        // The end: close (with its final snapshot) and check every snapshot
        // once more; then the file reopens at the latest one.
        case.reopen(None)?;
        if let Some(rt) = case.rt.take() {
            rt.close().map_err(|e| format!("final close: {e}"))?;
        }
        Ok(())
    }));
    let message = match result {
        Ok(Ok(())) => return Ok(case.stats),
        Ok(Err(m)) => m,
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            format!("panicked: {text}")
        }
    };
    Err(Failure {
        at,
        message,
        trace: std::mem::take(&mut case.trace),
    })
}

/// Removes operations while the case still fails (any failure), within `budget`.
fn shrink(
    cfg: &Config,
    mut ops: Vec<Op>,
    mut failure: Failure,
    budget: Duration,
) -> (Vec<Op>, Failure) {
    let deadline = Instant::now() + budget;
    ops.truncate(failure.at + 1);
    let mut chunk = (ops.len() / 2).max(1);
    loop {
        let mut i = 0;
        while i < ops.len() && Instant::now() < deadline {
            let end = (i + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..i].iter().chain(&ops[end..]).cloned().collect();
            match run_case(cfg, &candidate) {
                Err(f) => {
                    ops = candidate;
                    ops.truncate(f.at + 1);
                    failure = f;
                }
                Ok(_) => i += chunk,
            }
        }
        if chunk == 1 || Instant::now() >= deadline {
            return (ops, failure);
        }
        chunk /= 2;
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
    )
}

/// The seeds to run: `DIZZY_MODEL_SEED` and the `DIZZY_MODEL_CASES - 1`
/// seeds after it; otherwise the first `DIZZY_MODEL_CASES - 1` fixed seeds
/// (all of them by default) and then seeds derived from the clock (one by
/// default).
fn seeds() -> Vec<u64> {
    const FIXED: [u64; 16] = [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        0x5EED_0001,
        0x5EED_0002,
        0x5EED_0003,
        0x5EED_0004,
        0xD1_2201,
        0xD1_2202,
        0xD1_2203,
        0xD1_2204,
    ];
    let cases = env_u64("DIZZY_MODEL_CASES");
    if let Some(seed) = env_u64("DIZZY_MODEL_SEED") {
        return (0..cases.unwrap_or(1))
            .map(|i| seed.wrapping_add(i))
            .collect();
    }
    let cases = cases.unwrap_or(FIXED.len() as u64 + 1) as usize;
    let fixed = cases.saturating_sub(1).min(FIXED.len());
    let mut seeds = FIXED[..fixed].to_vec();
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut clock = Rng(clock);
    while seeds.len() < cases {
        seeds.push(clock.next_u64());
    }
    seeds
}

#[test]
fn snapshots_match_a_model_under_random_operations() {
    let started = Instant::now();
    let seeds = seeds();
    println!(
        "model cases: {}; each prints its seed (rerun one with DIZZY_MODEL_SEED=<seed>)",
        seeds.len()
    );
    for &seed in &seeds {
        let cfg = Config::from_seed(seed);
        let ops = generate(&mut Rng(seed), &cfg);
        let t = Instant::now();
        match run_case(&cfg, &ops) {
            Ok(stats) => println!("seed {seed}: ok in {:?}: {cfg:?} {stats:?}", t.elapsed()),
            Err(failure) => {
                println!(
                    "seed {seed}: FAILED after op {} of {}: {}\nshrinking...",
                    failure.at,
                    ops.len(),
                    failure.message
                );
                let original = format!("op {}: {}", failure.at, failure.message);
                // The shrinker's runs fail on purpose; keep their panics quiet.
                let hook = std::panic::take_hook();
                std::panic::set_hook(Box::new(|_| {}));
                let (small, failure) = shrink(&cfg, ops, failure, Duration::from_secs(120));
                std::panic::set_hook(hook);
                panic!(
                    "model test failed: seed {seed} ({cfg:?})\n\
                     rerun: DIZZY_MODEL_SEED={seed} cargo test -p dizzy-tests --test snapshots_match_a_model_under_random_operations -- --nocapture\n\
                     original failure: {original}\n\
                     shrunk to {} ops: {small:?}\n\
                     which do:\n  {}\n\
                     and fail with: {}",
                    small.len(),
                    failure.trace.join("\n  "),
                    failure.message
                );
            }
        }
    }
    println!("{} model cases in {:?}", seeds.len(), started.elapsed());
}
