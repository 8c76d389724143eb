//! A storage failure in the background writer (a failed write, a failed
//! sync, a full disk) is returned by the next `tick()`/`flush()`, never
//! lost and never a panic; the file then opens at the last committed
//! snapshot. `flush()` returns the id of what is durable.

use dizzy::prelude::*;
use dizzy::snapshots::Store;
use dizzy_tests::{Faults, FaultyBackend};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Count(u64);

fn count(mut q: Query<&mut Count>) {
    for mut c in &mut q {
        c.0 += 1;
    }
}

fn app() -> App {
    App::new()
        .component::<Count>("t.count")
        .systems(count)
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn total(rt: &mut Runtime) -> u64 {
    rt.world_mut()
        .query::<&Count>()
        .iter(rt.world())
        .map(|c| c.0)
        .sum()
}

fn faulty(path: &std::path::Path) -> (Runtime, std::sync::Arc<Faults>) {
    let (backend, faults) = FaultyBackend::open(path);
    let store = Store::open_with_backend(path, backend).unwrap();
    (app().store(store).open().unwrap(), faults)
}

fn check(arm: impl Fn(&Faults)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.redb");
    let (mut rt, faults) = faulty(&path);
    for _ in 0..100 {
        rt.spawn(Count(0));
    }
    rt.tick().unwrap();
    let good = rt.snapshot().unwrap().unwrap();
    assert_eq!(
        rt.flush().unwrap(),
        Some(good),
        "flush returns the durable id"
    );
    let good_total = total(&mut rt);

    arm(&faults);
    rt.tick().unwrap();
    let failed = rt.snapshot().unwrap().unwrap();
    let failed_total = total(&mut rt);
    let err = rt.flush().expect_err("the failed commit is reported");
    assert!(err.to_string().contains("f.redb"), "{err}");
    assert!(faults.injected.load(std::sync::atomic::Ordering::SeqCst) > 0);
    faults.clear();
    // Later snapshots in this process: either they commit again, or the
    // error is reported again; never a panic.
    rt.tick().ok();
    if let Ok(Some(_)) = rt.snapshot() {
        eprintln!(
            "after the fault: {:?}",
            rt.flush().map_err(|e| e.to_string())
        );
    }
    // Dropping the runtime must not panic, whatever state redb is in.
    drop(rt);

    // The file opens at the last committed snapshot, or at the failed one
    // if its data reached the disk before the sync failed (a failed fsync
    // does not say whether the data is there): either is a whole snapshot.
    let mut again = app().db(&path).open().unwrap();
    match again.resumed_from() {
        Some(id) if id == good => assert_eq!(total(&mut again), good_total),
        Some(id) if id == failed => assert_eq!(total(&mut again), failed_total),
        other => panic!("opened at {other:?}, expected {good} or {failed}"),
    }
}

#[test]
fn failed_write() {
    check(|f| f.fail_write_in(1));
}

#[test]
fn failed_sync() {
    check(|f| f.fail_sync_in(1));
}

#[test]
fn failed_write_keeps_the_last_committed_snapshot_exactly() {
    // A failed write (unlike a failed sync) leaves the commit undone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.redb");
    let (mut rt, faults) = faulty(&path);
    rt.spawn(Count(5));
    let good = rt.snapshot().unwrap();
    rt.flush().unwrap();
    faults.fail_write_in(1);
    rt.tick().unwrap();
    rt.snapshot().unwrap();
    assert!(rt.flush().is_err());
    drop(rt);
    let mut again = app().db(&path).open().unwrap();
    assert_eq!(again.resumed_from(), good);
    assert_eq!(total(&mut again), 5);
}

#[test]
fn full_disk() {
    check(|f| f.disk_full());
}

#[test]
fn error_reaches_the_next_tick_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let (mut rt, faults) = faulty(&path);
    rt.spawn(Count(0));
    rt.snapshot().unwrap();
    rt.flush().unwrap();
    faults.fail_sync_in(1);
    rt.tick().unwrap();
    rt.snapshot().unwrap();
    // Wait for the writer without taking its error, then tick.
    while rt.store().is_some() && faults.injected.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let err = rt
        .tick()
        .expect_err("the next tick reports the writer's error");
    assert!(err.to_string().contains("g.redb"), "{err}");
}
