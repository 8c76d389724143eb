//! A system that panics in the middle of a tick: the tick returns
//! `TickError::SystemPanicked` naming the system; no snapshot of the
//! half-run tick is written (not by that tick, not by a later `snapshot()`,
//! not by `close()`), so the file stays at the last good snapshot; every
//! later tick returns `TickError::Poisoned`; and the next run resumes from
//! the last good snapshot.

use dizzy::TickError;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Count(u64);

/// Runs every tick, before and after the panicking system's turn.
fn count(mut q: Query<&mut Count>) {
    for mut c in &mut q {
        c.0 += 1;
    }
}

/// When to panic (a transient resource, so that a resumed run can differ).
#[derive(Resource)]
struct PanicAt(u64);

/// Changes the world, then panics at tick `PanicAt`: the tick is half run.
fn fragile_system(tick: Res<TickCount>, at: Res<PanicAt>, mut q: Query<&mut Count>) {
    for mut c in &mut q {
        c.0 += 1_000;
    }
    if tick.0 == at.0 {
        panic!("fragile failed at tick {}", tick.0);
    }
}

fn app(path: &std::path::Path, panic_at: u64) -> App {
    let mut app = App::new()
        .db(path)
        .component::<Count>("t.count")
        .systems((count, fragile_system).chain())
        .snapshot_policy(SnapshotPolicy::EVERY_TICK);
    app.setup().transient_resource(PanicAt(panic_at));
    app
}

fn total(rt: &mut Runtime) -> u64 {
    rt.world_mut()
        .query::<&Count>()
        .iter(rt.world())
        .map(|c| c.0)
        .sum()
}

#[test]
fn panicking_system() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("p.redb");
    let mut rt = app(&path, 4).open().expect("open");
    for _ in 0..10 {
        rt.spawn(Count(0));
    }
    rt.run_ticks(3).expect("three good ticks");
    // The policy snapshots after every tick when the writer is free; make
    // sure the last good tick's snapshot is the one on disk.
    rt.flush().expect("durable");
    let good = rt.snapshot().expect("capture").expect("an id");
    assert_eq!(rt.flush().expect("durable"), Some(good));
    let good_total = total(&mut rt);
    let good_tick = rt.tick_count();
    assert_eq!(good_tick, 3);

    let err = rt.tick().expect_err("tick 4 panics");
    let msg = err.to_string();
    println!("the panicking tick returned: {msg}");
    match &err {
        TickError::SystemPanicked { tick, message } => {
            assert_eq!(*tick, 4);
            assert!(
                message.contains("fragile_system"),
                "the message names the system: {message}"
            );
            assert!(message.contains("fragile failed at tick 4"), "{message}");
        }
        other => panic!("not SystemPanicked: {other:?}"),
    }
    assert_eq!(
        rt.tick_count(),
        good_tick,
        "the half-run tick does not count"
    );

    // Every later tick, and any snapshot, refuses.
    for _ in 0..2 {
        assert!(
            matches!(rt.tick(), Err(TickError::Poisoned(ref m)) if m.contains("fragile_system")),
            "later ticks are refused"
        );
    }
    assert!(matches!(rt.snapshot(), Err(TickError::Poisoned(_))));
    assert!(matches!(rt.snapshot_full(), Err(TickError::Poisoned(_))));
    // Closing writes nothing more and returns the last durable snapshot.
    assert_eq!(rt.close().expect("close"), Some(good));

    // The file holds nothing of the half-run tick.
    let store = dizzy::Store::open_to_read(&path).expect("reopen");
    let latest = store.latest().expect("records").expect("a snapshot");
    assert_eq!((latest.id, latest.tick), (good, good_tick));
    drop(store);

    // The next run resumes at the last good snapshot (and, not panicking
    // this time, goes on from there).
    let mut again = app(&path, 0).open().expect("resume");
    assert_eq!(again.resumed_from(), Some(good));
    assert_eq!(total(&mut again), good_total);
    again.run_ticks(1).expect("tick 4, run again");
    assert_eq!(again.tick_count(), 4);
    assert_eq!(total(&mut again), good_total + 10 * 1_001);
}
