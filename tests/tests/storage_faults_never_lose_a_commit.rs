//! A storage fault at any point of a snapshot's commit (the Nth write, the
//! Nth sync, a full disk) is an error returned to the caller, never a panic,
//! and never costs a committed snapshot: after the runtime is dropped the
//! file reopens at the last committed snapshot, or at the one that was being
//! committed when a failed sync may still have let its data reach the disk
//! (a failed fsync does not say), and either way the world restored is
//! exactly the world of that snapshot.
//!
//! What the runtime does after a storage error, as these tests pin it down:
//! the error is returned by the next `tick()`, `snapshot()` or `flush()`
//! (see also `writer_errors_reach_the_caller`); the world in memory is
//! intact, and ticks go on. redb, though, refuses every later commit in that
//! process once one of its writes or syncs failed ("Previous I/O error
//! occurred. Please close and re-open the database."), so every later
//! snapshot fails with that error, naming the file, until the file is
//! reopened: drop the runtime and open the app again, which resumes at the
//! last committed snapshot. A fault that redb absorbs (a best-effort write
//! whose failure it does not latch) leaves the commit durable; it is counted
//! apart and checked the same way.
//!
//! Every N from 1 to the number of writes (and syncs) one commit makes, as
//! measured first on the same scenario, is tried, for a delta and for a full
//! snapshot.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use dizzy::prelude::*;
use dizzy::snapshots::Store;
use dizzy::{TickError, WriteError};
use dizzy_tests::{Faults, FaultyBackend};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Count(u64);

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Name(String);

/// Every tick, every count grows and every seventh name changes.
fn work(tick: Res<TickCount>, mut q: Query<(&Uid, &mut Count, &mut Name)>) {
    for (uid, mut c, mut n) in &mut q {
        c.0 += uid.get() % 3;
        if (uid.get() + tick.0).is_multiple_of(7) {
            n.0 = format!("n{}-{}", uid.get(), tick.0);
        }
    }
}

fn app() -> App {
    App::new()
        .component::<Count>("faults.count")
        .component::<Name>("faults.name")
        .systems(work)
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// The persisted state of a world, in uid order.
fn state(world: &mut World) -> Vec<(u64, u64, String)> {
    let mut rows: Vec<_> = world
        .query::<(&Uid, &Count, &Name)>()
        .iter(world)
        .map(|(u, c, n)| (u.get(), c.0, n.0.clone()))
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    rows
}

/// Panics anywhere in this process, the writer thread's included.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, SeqCst);
            default(info);
        }));
    });
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    Write(u64),
    Sync(u64),
    DiskFull,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Delta,
    Full,
}

/// What one scenario saw.
#[derive(Debug)]
struct Seen {
    writes: u64,
    syncs: u64,
    failed: bool,
    absorbed: bool,
    reopened_at_failed: bool,
}

/// One commit under `fault`: a good snapshot, a tick, then the snapshot the
/// fault hits; then the checks on the runtime and on the reopened file.
fn scenario(dir: &Path, name: &str, kind: Kind, entities: u64, fault: Fault) -> Seen {
    let path = dir.join(format!("{name}.redb"));
    let (backend, faults): (FaultyBackend, Arc<Faults>) = FaultyBackend::open(&path);
    let store = Store::open_with_backend(&path, backend).expect("open with the faulty backend");
    let mut rt = app().store(store).open().expect("open");
    for i in 0..entities {
        rt.spawn((Count(i), Name(format!("n{i}"))));
    }
    rt.run_ticks(2).expect("ticks");
    let good = rt.snapshot().expect("capture").expect("an id");
    assert_eq!(rt.flush().expect("the good commit"), Some(good));
    let good_state = state(rt.world_mut());

    rt.run_ticks(1).expect("tick");
    let (w0, s0) = faults.counts();
    let injected0 = faults.injected.load(SeqCst);
    match fault {
        Fault::None => {}
        Fault::Write(n) => faults.fail_write_in(n),
        Fault::Sync(n) => faults.fail_sync_in(n),
        Fault::DiskFull => faults.disk_full(),
    }
    let hit = match kind {
        Kind::Delta => rt.snapshot(),
        Kind::Full => rt.snapshot_full(),
    }
    .expect("capture")
    .expect("an id");
    let result = rt.flush();
    let (w1, s1) = faults.counts();
    let injected = faults.injected.load(SeqCst) > injected0;
    faults.clear();
    let hit_state = state(rt.world_mut());

    let failed = match result {
        Ok(id) => {
            assert_eq!(id, Some(hit), "{fault:?}: flush names the durable id");
            false
        }
        Err(e) => {
            assert!(injected, "{fault:?}: an error with no fault injected: {e}");
            assert!(
                matches!(e, TickError::Write(WriteError::Storage { snapshot, .. }) if snapshot == hit),
                "{fault:?}: not a storage error of snapshot {hit}: {e:?}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("{name}.redb")),
                "names the file: {msg}"
            );
            assert!(msg.contains("injected fault"), "says what failed: {msg}");
            true
        }
    };
    let absorbed = injected && !failed;
    if matches!(fault, Fault::DiskFull) {
        assert!(failed, "a full disk fails the commit");
    }

    if failed {
        // The world in memory is intact and ticks go on; every later
        // snapshot fails with redb's "re-open" error until the file is
        // reopened.
        assert_eq!(state(rt.world_mut()), hit_state);
        rt.run_ticks(1).expect("a tick after the storage error");
        let later = rt.snapshot().expect("capture").expect("an id");
        let err = rt
            .flush()
            .expect_err("redb refuses commits after an I/O error");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{name}.redb")) && msg.contains("re-open"),
            "snapshot {later}: {msg}"
        );
    }
    drop(rt);

    // The plain file reopens at a whole snapshot.
    let mut again = app().db(&path).open().unwrap_or_else(|e| {
        panic!("{fault:?}: the file does not reopen: {e}");
    });
    let at = again.resumed_from();
    let reopened_at_failed = failed && at == Some(hit);
    match at {
        Some(id) if id == good && failed => {
            assert_eq!(state(again.world_mut()), good_state, "{fault:?}")
        }
        Some(id) if id == hit && (!failed || matches!(fault, Fault::Sync(_))) => {
            assert_eq!(state(again.world_mut()), hit_state, "{fault:?}")
        }
        other => panic!(
            "{fault:?}: reopened at {other:?}; committed {good}, {} {hit}",
            if failed { "failed" } else { "then committed" }
        ),
    }
    // And it takes snapshots again.
    again.run_ticks(1).expect("tick after reopening");
    again.snapshot().expect("capture after reopening");
    again.flush().expect("commit after reopening");
    Seen {
        writes: w1 - w0,
        syncs: s1 - s0,
        failed,
        absorbed,
        reopened_at_failed,
    }
}

fn sweep(kind: Kind) {
    count_panics();
    let dir = tempfile::tempdir().expect("temp dir");
    // A small world's commit grows the file less than a larger one's: the
    // two make different sequences of writes and syncs.
    for entities in [300, 3_000] {
        let clean = scenario(dir.path(), "clean", kind, entities, Fault::None);
        assert!(!clean.failed && !clean.absorbed);
        assert!(clean.writes > 0 && clean.syncs > 0, "{clean:?}");
        let mut faults = Vec::new();
        faults.extend((1..=clean.writes).map(Fault::Write));
        faults.extend((1..=clean.syncs).map(Fault::Sync));
        faults.push(Fault::DiskFull);
        let (mut failed, mut absorbed, mut at_failed) = (0, 0, 0);
        for (i, &fault) in faults.iter().enumerate() {
            let seen = scenario(
                dir.path(),
                &format!("f{entities}-{i}"),
                kind,
                entities,
                fault,
            );
            failed += usize::from(seen.failed);
            absorbed += usize::from(seen.absorbed);
            at_failed += usize::from(seen.reopened_at_failed);
        }
        println!(
            "{kind:?} commit of {entities} entities: {} writes, {} syncs; injected faults \
             survived: {} ({failed} failed the commit, {absorbed} absorbed by redb; reopened \
             at the failed snapshot after a failed sync: {at_failed}); committed snapshots lost: 0",
            clean.writes,
            clean.syncs,
            faults.len()
        );
        assert!(failed > 0);
    }
    assert_eq!(PANICS.load(SeqCst), 0, "no panic, in any thread");
}

#[test]
fn every_fault_in_a_delta_commit() {
    sweep(Kind::Delta);
}

#[test]
fn every_fault_in_a_full_commit() {
    sweep(Kind::Full);
}
