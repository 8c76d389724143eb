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
use dizzy::prelude::*;
use dizzy::snapshots::fuzzing::{self, Raw};
use dizzy::snapshots::{RestoreOptions, restore};
use dizzy::{Registry, Store};
use dizzy_demos::{dedupe, particles};

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
    dizzy_demos::registry_app()
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
            modified_ns: 0,
            changed_ns: 0,
            inode: 0,
        },
        dedupe::Sha256([7; 32]),
    ));
    let b = rt.spawn((
        dedupe::File {
            path: "sub/b".into(),
            size: 3,
            modified_ns: 0,
            changed_ns: 0,
            inode: 0,
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
            modified_ns: 0,
            changed_ns: 0,
            inode: 0,
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
static LARGEST: AtomicUsize = AtomicUsize::new(0);

impl CountingAlloc {
    /// Starts a measurement: the peak is reset to what is live now, which
    /// is returned.
    pub fn mark() -> usize {
        let live = LIVE.load(Relaxed);
        PEAK.store(live, Relaxed);
        LARGEST.store(0, Relaxed);
        live
    }

    /// The largest single allocation since [`CountingAlloc::mark`].
    pub fn largest() -> usize {
        LARGEST.load(Relaxed)
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
        LARGEST.fetch_max(size, Relaxed);
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

/// The largest buffer redb allocates to read one page: 2^20 pages of 4 KiB.
///
/// redb sizes a page's read buffer from the page number it finds in the
/// file and allocates it (zero-filled) *before* it reads, so a damaged page
/// number in a 72 KB file makes it allocate up to this much before the read
/// fails beyond the file's end (found by the `file` fuzz target; redb
/// refuses orders above this maximum, not sizes beyond the file). dizzy
/// cannot bound it from outside; the `file` target allows one such buffer
/// and holds everything else to [`budget`].
pub const REDB_PAGE_READ: usize = 4 << 30;

/// Runs `f`, measuring the memory it holds at its peak; panics (the finding
/// a fuzzer reports) if that is beyond [`budget`] for `n` input bytes (plus,
/// with `redb_page`, one buffer of up to [`REDB_PAGE_READ`]) or if `f`
/// returned an unacceptable result.
fn measured(
    what: &str,
    n: usize,
    redb_page: bool,
    f: impl FnOnce() -> Result<Outcome, String>,
) -> Outcome {
    let base = CountingAlloc::mark();
    let outcome = f();
    let mut peak = CountingAlloc::peak_above(base);
    let largest = CountingAlloc::largest();
    if redb_page && largest > budget(n) && largest <= REDB_PAGE_READ {
        peak = peak.saturating_sub(largest);
    }
    assert!(
        peak <= budget(n),
        "{what}: {n} bytes of input held {peak} bytes of memory (budget {}; largest \
         single allocation {largest})",
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
    measured("record", data.len(), false, || {
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
    measured("chunk", data.len(), false, || {
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
    measured("file", data.len(), true, || {
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

/// The fixture's latest world, restored.
pub fn fixture_world() -> World {
    let (fixture, registry) = shared();
    let store = fuzzing::memory_store("fixture").expect("memory store");
    fuzzing::write_raw(&store, fixture).expect("write the fixture");
    restore(&store, registry, &RestoreOptions::default())
        .expect("the fixture restores")
        .world
}

/// Wraps a bundle body's encoded bytes in a valid bundle envelope (header,
/// lengths, checksum), so that a fuzzer's changes reach the body's decoder
/// instead of failing the checksum.
pub fn bundle_envelope(body: &[u8]) -> Vec<u8> {
    fuzzing::bundle_envelope(body)
}

/// The persisted entities of a world, for "unchanged" checks: every uid.
fn uids_of(world: &mut World) -> Vec<u64> {
    let mut v: Vec<u64> = world.query::<&Uid>().iter(world).map(|u| u.get()).collect();
    v.sort_unstable();
    v
}

/// Fuzz entry: a bundle imported into the fixture's world. `data[0]`
/// chooses how: bit 0 clear, the rest is a whole bundle file (envelope
/// parsing, checksum); set, the rest is a bundle *body*, wrapped in a valid
/// envelope so that it reaches the decoder. Bits 1-2 pick the conflict
/// policy, bit 3 the reference policy. An import either succeeds into a
/// valid world or fails leaving the world's entities as they were.
pub fn fuzz_bundle(data: &[u8]) -> Outcome {
    use dizzy::snapshots::{OnConflict, import};
    let (_, registry) = shared();
    let Some((&how, rest)) = data.split_first() else {
        return Outcome::Rejected("no input".into());
    };
    measured("bundle", data.len(), false, || {
        let bytes = if how & 1 == 1 {
            bundle_envelope(rest)
        } else {
            rest.to_vec()
        };
        let policy = match (how >> 1) & 3 {
            0 => OnConflict::Remap,
            1 => OnConflict::Skip,
            2 => OnConflict::Replace,
            _ => OnConflict::Fail,
        };
        let refs = if how & 8 == 0 {
            RefPolicy::Fail
        } else {
            RefPolicy::Drop
        };
        // `import` reads (and checks) the whole bundle before it touches the
        // world: a bundle it cannot read needs no world to be refused.
        if let Err(e) = dizzy::snapshots::read_bundle(&bytes) {
            return Ok(Outcome::Rejected(e.to_string()));
        }
        let mut world = fixture_world();
        let before = uids_of(&mut world);
        match import(&mut world, registry, &bytes, policy, refs) {
            Err(e) => {
                if uids_of(&mut world) != before {
                    return Err(format!("a failed import changed the world: {e}"));
                }
                fuzzing::check_world(&mut world)?;
                Ok(Outcome::Rejected(e.to_string()))
            }
            Ok(_) => {
                fuzzing::check_world(&mut world)?;
                Ok(Outcome::Restored(world.resource::<Uids>().len()))
            }
        }
    })
}

/// Bundles exported from the fixture's world, as seeds: each selection
/// whole (`how` = 0) and as a body (`how` = 1).
pub fn bundle_seeds() -> Vec<Vec<u8>> {
    use dizzy::snapshots::{ExportOptions, Selection, export};
    let (_, registry) = shared();
    let world = fixture_world();
    let mut out = Vec::new();
    for selection in [
        Selection::With("dedupe.file".into()),
        Selection::With("dedupe.duplicate_set".into()),
        Selection::With("particles.position".into()),
        Selection::With("hostile.link".into()),
    ] {
        let Ok(exported) = export(&world, registry, &selection, &ExportOptions::default()) else {
            continue;
        };
        let bytes = exported.bytes;
        let mut whole = vec![0u8];
        whole.extend_from_slice(&bytes);
        out.push(whole);
        // The body sits between the header (16 + codec name + 8) and the
        // checksum (8 bytes of CRC-64 in the current format).
        let n = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        let mut body = vec![1u8];
        body.extend_from_slice(&bytes[16 + n + 8..bytes.len() - 8]);
        out.push(body);
    }
    out
}
