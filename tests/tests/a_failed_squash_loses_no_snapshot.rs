//! A storage fault at any point of a squash (the Nth write, the Nth sync)
//! is an error returned by `Runtime::squash`, never a panic, and never a
//! half-squashed file: reopened, the file holds either every snapshot it
//! held before or exactly the one squashed snapshot, and either way restores
//! the same world.

use std::path::Path;
use std::sync::Arc;

use dizzy::prelude::*;
use dizzy::snapshots::Store;
use dizzy_tests::{Faults, FaultyBackend};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Count(u64);

/// Every tick, one count in four grows.
fn work(tick: Res<TickCount>, mut q: Query<(&Uid, &mut Count)>) {
    for (uid, mut c) in &mut q {
        if (uid.get() + tick.0).is_multiple_of(4) {
            c.0 += 1;
        }
    }
}

fn app() -> App {
    App::new()
        .component::<Count>("squash.count")
        .systems(work)
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn state(world: &mut World) -> Vec<(u64, u64)> {
    let mut rows: Vec<_> = world
        .query::<(&Uid, &Count)>()
        .iter(world)
        .map(|(u, c)| (u.get(), c.0))
        .collect();
    rows.sort_unstable();
    rows
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    Write(u64),
    Sync(u64),
}

/// A file of several snapshots, then a squash under `fault`; returns the
/// writes and syncs the squash made, and whether it failed.
fn scenario(dir: &Path, name: &str, fault: Fault) -> (u64, u64, bool) {
    let path = dir.join(format!("{name}.redb"));
    let (backend, faults): (FaultyBackend, Arc<Faults>) = FaultyBackend::open(&path);
    let store = Store::open_with_backend(&path, backend).expect("open with the faulty backend");
    let mut rt = app().store(store).open().expect("open");
    for i in 0..50 {
        rt.spawn(Count(i));
    }
    for _ in 0..4 {
        rt.tick().expect("tick");
        rt.snapshot().expect("capture");
        rt.flush().expect("commit");
    }
    let before = rt.store().unwrap().snapshot_ids().unwrap();
    assert_eq!(before.len(), 4, "{name}");
    let world = state(rt.world_mut());

    let (w0, s0) = faults.counts();
    match fault {
        Fault::None => {}
        Fault::Write(n) => faults.fail_write_in(n),
        Fault::Sync(n) => faults.fail_sync_in(n),
    }
    let result = rt.squash();
    let (w1, s1) = faults.counts();
    faults.clear();
    drop(rt);

    let reopened = Store::open(&path).expect("reopen");
    let after = reopened.snapshot_ids().unwrap();
    drop(reopened);
    match &result {
        Ok(Some(id)) => assert_eq!(after, [*id], "{name}: squashed to one"),
        Ok(None) => panic!("{name}: a file-backed runtime squashes"),
        // A failed sync does not say whether the data reached the disk.
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert!(
                after == before || (after.len() == 1 && after[0] > before[3]),
                "{name}: {after:?}, not all of {before:?} nor the squashed one ({e})"
            );
        }
    }
    let mut resumed = app().db(&path).open().expect("resume");
    assert_eq!(state(resumed.world_mut()), world, "{name}: the same world");
    (w1 - w0, s1 - s0, result.is_err())
}

#[test]
fn every_fault_leaves_all_snapshots_or_the_squashed_one() {
    let dir = tempfile::tempdir().unwrap();
    let (writes, syncs, failed) = scenario(dir.path(), "clean", Fault::None);
    assert!(!failed && writes > 0 && syncs > 0, "{writes} {syncs}");
    let mut errors = 0;
    for n in 1..=writes {
        errors += usize::from(scenario(dir.path(), &format!("w{n}"), Fault::Write(n)).2);
    }
    for n in 1..=syncs {
        errors += usize::from(scenario(dir.path(), &format!("s{n}"), Fault::Sync(n)).2);
    }
    assert!(errors > 0, "the faults were injected and reported");
}
