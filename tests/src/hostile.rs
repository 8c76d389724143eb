//! Hostile input, shared by the mutation tests (`hostile_files_are_rejected_cleanly`)
//! and the fuzz targets (`tests/fuzz`): a small real dizzy file to mutate,
//! the registry that reads it, a restore that classifies what happened, and
//! an allocator that measures what a decoder asked for.
//!
//! The fixture world holds every chunk layout dizzy writes: table columns of
//! the particles and dedupe demos (floats, strings, byte arrays, a `Vec` of
//! entity references), a sparse-set component with a reference, two
//! resources, and a delta with spawns, despawns, removals and changes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use bevy_ecs::prelude::*;
use dizzy::demos::{dedupe, particles};
use dizzy::prelude::*;
use dizzy::snapshots::fuzzing::{self, Raw};
use dizzy::snapshots::{RestoreOptions, restore};
use dizzy::{Registry, Store};

/// A sparse-set component with an entity reference and a string: the
/// fixture's keyed chunks in full snapshots.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(storage = "SparseSet")]
pub struct Link {
    /// The referenced entity.
    #[entities]
    pub to: Entity,
    /// A note.
    pub note: String,
}

/// The app that writes and reads the fixture: the demos' types and [`Link`],
/// no systems, no automatic snapshots.
pub fn app() -> App {
    dizzy::demos::registry_app()
        .component::<Link>("hostile.link")
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// The registry of [`app`].
pub fn registry() -> Registry {
    app().in_memory().registry_owned()
}

/// Fills `rt` with the fixture world, taking a full snapshot and then a
/// delta; returns both ids once durable.
pub fn populate(rt: &mut Runtime) -> (u64, u64) {
    let world = rt.world_mut();
    world.insert_resource(particles::Params {
        seed: 5,
        changed: 0.5,
    });
    particles::populate(world, 6, 5);
    let root = rt.spawn(dedupe::Dir {
        path: String::new(),
    });
    let sub = rt.spawn((dedupe::Dir { path: "sub".into() }, dedupe::Unlisted));
    let a = rt.spawn((
        dedupe::File {
            path: "a".into(),
            size: 3,
        },
        dedupe::Sha256([7; 32]),
    ));
    let b = rt.spawn((
        dedupe::File {
            path: "sub/b".into(),
            size: 3,
        },
        dedupe::Sha256([7; 32]),
    ));
    rt.spawn(dedupe::DuplicateSet {
        sha256: [7; 32],
        size: 3,
        files: vec![a, b],
    });
    rt.world_mut().entity_mut(root).insert(Link {
        to: sub,
        note: "root -> sub".into(),
    });
    rt.world_mut().insert_resource(dedupe::Dedupe {
        root: "/data".into(),
        phase: dedupe::Phase::Scanning,
    });
    let full = rt.snapshot_full().expect("full snapshot").expect("a file");
    rt.flush().expect("durable");

    // A delta: changes, a removal, a despawn, a spawn, a new sparse value.
    rt.run_ticks(1).expect("tick");
    let mut q = rt.world_mut().query::<&mut particles::Position>();
    let world = rt.world_mut();
    for mut p in q.iter_mut(world).take(3) {
        p.0[0] += 1.0;
    }
    rt.world_mut().entity_mut(b).remove::<dedupe::Sha256>();
    rt.world_mut().despawn(sub);
    rt.world_mut().entity_mut(root).remove::<Link>();
    let c = rt.spawn((
        dedupe::File {
            path: "c".into(),
            size: 9,
        },
        dedupe::Unreadable {
            error: "denied".into(),
        },
    ));
    rt.world_mut().entity_mut(a).insert(Link {
        to: c,
        note: "a -> c".into(),
    });
    rt.world_mut().resource_mut::<dedupe::Dedupe>().phase = dedupe::Phase::Done;
    let delta = rt.snapshot().expect("delta").expect("a file");
    rt.flush().expect("durable");
    (full, delta)
}

/// The fixture file's records and chunks (a full snapshot and a delta on it).
pub fn fixture() -> Raw {
    let store = fuzzing::memory_store("fixture").expect("memory store");
    let mut rt = app().store(store.clone()).open().expect("open");
    populate(&mut rt);
    rt.close().expect("close");
    fuzzing::read_raw(&store).expect("read back")
}

/// How a restore of hostile bytes ended, when it ended acceptably.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A clear error.
    Rejected(String),
    /// A world that passed [`fuzzing::check_world`], with this many uids.
    Restored(usize),
}

/// Restores the latest snapshot of `store` with `registry`; `Err` when the
/// result is unacceptable (a world that breaks dizzy's invariants).
pub fn restore_store(store: &Store, registry: &Registry) -> Result<Outcome, String> {
    match restore(store, registry, &RestoreOptions::default()) {
        Err(e) => Ok(Outcome::Rejected(e.to_string())),
        Ok(mut r) => {
            fuzzing::check_world(&mut r.world)?;
            Ok(Outcome::Restored(r.world.resource::<Uids>().len()))
        }
    }
}

/// Writes `raw` into a new in-memory file and restores its latest snapshot.
pub fn restore_raw(raw: &Raw, registry: &Registry) -> Result<Outcome, String> {
    let store = fuzzing::memory_store("hostile").map_err(|e| e.to_string())?;
    fuzzing::write_raw(&store, raw).map_err(|e| format!("writing the fixture: {e}"))?;
    restore_store(&store, registry)
}

/// A global allocator that counts live bytes and their peak, so that a test
/// can tell how much memory a decoder asked for (whatever thread it used),
/// and that refuses, loudly, any single allocation above a limit.
#[derive(Debug)]
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static OVER: AtomicBool = AtomicBool::new(false);

impl CountingAlloc {
    /// Starts a measurement: the peak is reset to what is live now, which
    /// is returned.
    pub fn mark() -> usize {
        let live = LIVE.load(Relaxed);
        PEAK.store(live, Relaxed);
        live
    }

    /// The most bytes live at once since [`CountingAlloc::mark`] returned `base`,
    /// above `base`.
    pub fn peak_above(base: usize) -> usize {
        PEAK.load(Relaxed).saturating_sub(base)
    }

    /// Any single allocation above `bytes` aborts the process with a message
    /// (an allocator may not unwind): a test or fuzz target that sets it
    /// fails loudly on an absurd allocation instead of thrashing.
    pub fn limit_each(bytes: usize) {
        LIMIT.store(bytes, Relaxed);
    }

    fn add(size: usize) {
        Self::check(size);
        let live = LIVE.fetch_add(size, Relaxed) + size;
        PEAK.fetch_max(live, Relaxed);
    }

    fn check(size: usize) {
        if size > LIMIT.load(Relaxed) && !OVER.swap(true, Relaxed) {
            // Writing to stderr allocates nothing here: a fixed message.
            let msg = b"CountingAlloc: one allocation is above the limit set by the test\n";
            // SAFETY: `write` on fd 2 with a valid buffer.
            unsafe { write_stderr(msg) };
            std::process::abort();
        }
    }
}

unsafe extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
}

/// # Safety
/// `msg` is a valid buffer (always true for a slice).
unsafe fn write_stderr(msg: &[u8]) {
    // SAFETY: fd 2 is stderr; the buffer is valid for its length.
    unsafe { write(2, msg.as_ptr(), msg.len()) };
}

// SAFETY: every call is passed on to the system allocator unchanged; only
// counters are updated around it.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::add(layout.size());
        // SAFETY: as the caller promised.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::add(layout.size());
        // SAFETY: as the caller promised.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as the caller promised.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::check(new_size);
        if new_size > layout.size() {
            Self::add(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        // SAFETY: as the caller promised.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The memory a decoder may ask for, at most, to read `n` bytes of input:
/// a fixed allowance for an empty world and an open file (about 0.3 MiB is
/// used by the fixture's whole restore), plus a small multiple of the input
/// (the codec lets a value claim 16 bytes per input byte; growing buffers
/// hold old and new storage for a moment).
pub fn budget(n: usize) -> usize {
    (8 << 20) + 64 * n
}

/// The fixture and its registry, built once per process.
pub fn shared() -> &'static (Raw, Registry) {
    static SHARED: std::sync::OnceLock<(Raw, Registry)> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| (fixture(), registry()))
}

/// Runs `f`, measuring the memory it holds at its peak; panics (the finding
/// a fuzzer reports) if that is beyond [`budget`] for `n` input bytes or if
/// `f` returned an unacceptable result.
fn measured(what: &str, n: usize, f: impl FnOnce() -> Result<Outcome, String>) -> Outcome {
    let base = CountingAlloc::mark();
    let outcome = f();
    let peak = CountingAlloc::peak_above(base);
    assert!(
        peak <= budget(n),
        "{what}: {n} bytes of input held {peak} bytes of memory (budget {})",
        budget(n)
    );
    match outcome {
        Ok(o) => o,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Fuzz entry: `data` is a snapshot record. It is decoded; if it decodes,
/// it replaces (or joins) the fixture's record of its id and the fixture
/// is restored, so that a hostile record is read against real chunks.
pub fn fuzz_meta(data: &[u8]) -> Outcome {
    let (fixture, registry) = shared();
    measured("record", data.len(), || {
        let meta = match fuzzing::decode_meta(data) {
            Ok(m) => m,
            Err(e) => return Ok(Outcome::Rejected(e)),
        };
        let mut raw = fixture.clone();
        raw.records.retain(|(id, _)| *id != meta.id);
        raw.records.push((meta.id, data.to_vec()));
        restore_raw(&raw, registry)
    })
}

/// Fuzz entry: `data[0]` picks one of the fixture's chunks and the rest
/// replaces its bytes; the fixture is then restored (chunk framing, column
/// decoding, uid lists, keyed values, resources, references).
pub fn fuzz_chunk(data: &[u8]) -> Outcome {
    let (fixture, registry) = shared();
    let Some((&pick, bytes)) = data.split_first() else {
        return Outcome::Rejected("no input".into());
    };
    measured("chunk", data.len(), || {
        let mut raw = fixture.clone();
        let n = raw.chunks.len();
        raw.chunks[pick as usize % n].1 = bytes.to_vec();
        restore_raw(&raw, registry)
    })
}

/// Fuzz entry: `data` is a whole file. It is written to `scratch`, opened
/// the way `dizzy snapshots` opens a file (read-only, or repaired when it
/// was not closed cleanly) and restored, then opened read-write the way a
/// resumed run opens it.
pub fn fuzz_file(data: &[u8], scratch: &std::path::Path) -> Outcome {
    let (_, registry) = shared();
    std::fs::write(scratch, data).expect("write the scratch file");
    measured("file", data.len(), || {
        let outcome = match Store::open_to_read(scratch) {
            Ok(store) => restore_store(&store, registry)?,
            Err(e) => Outcome::Rejected(e.to_string()),
        };
        if let Ok(store) = Store::open(scratch) {
            drop(store);
        }
        Ok(outcome)
    })
}
