//! The library API, as an app uses it: `App::replicate` ships every
//! committed snapshot to a bucket (here a `file://` directory, as for users
//! without a cloud), and `App::restore_from` on a fresh directory resumes
//! the world from the bucket alone, at the tick of the newest replicated
//! snapshot, with the same entities; a stale file is refused, not resumed.

use dizzy::prelude::*;
use dizzy::replicate::PullError;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Counter(u64);

fn count(mut q: Query<&mut Counter>) {
    for mut c in &mut q {
        c.0 += 1;
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Counter>("t.counter")
        .systems(count)
        .snapshot_every_ticks(5)
}

fn counters(run: &mut Runtime) -> Vec<(u64, u64)> {
    let mut all: Vec<(u64, u64)> = run
        .world_mut()
        .query::<(&Uid, &Counter)>()
        .iter(run.world())
        .map(|(u, c)| (u.get(), c.0))
        .collect();
    all.sort_unstable();
    all
}

#[test]
fn an_app_resumes_elsewhere_from_what_it_replicated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/bucket/counters", dir.path().display());
    let here = dir.path().join("machine-a/counters.redb");
    std::fs::create_dir_all(here.parent().unwrap()).unwrap();

    let mut run = app(&here).replicate(&url).unwrap().open().unwrap();
    for n in 0..100 {
        run.spawn(Counter(n));
    }
    run.run_ticks(42).unwrap();
    let expected = counters(&mut run);
    // Closing waits for the bucket: it holds the final snapshot.
    run.close().unwrap();

    let there = dir.path().join("machine-b/counters.redb");
    std::fs::create_dir_all(there.parent().unwrap()).unwrap();
    let mut resumed = app(&there).restore_from(&url).unwrap().open().unwrap();
    assert_eq!(resumed.tick_count(), 42);
    assert!(resumed.resumed_from().is_some());
    assert_eq!(counters(&mut resumed), expected);
    resumed.run_ticks(3).unwrap();
    assert_eq!(
        counters(&mut resumed)[0],
        (expected[0].0, expected[0].1 + 3)
    );
    drop(resumed);

    // Machine A's own file is as new as the bucket: it is used as it is.
    let again = app(&here).restore_from(&url).unwrap().open().unwrap();
    assert_eq!(again.tick_count(), 42);
    drop(again);

    // Machine B replicates on; A's file is then behind the bucket, and
    // resuming from it would fork the history: refused, file unchanged.
    let mut b = app(&there).replicate(&url).unwrap().open().unwrap();
    b.run_ticks(10).unwrap();
    b.close().unwrap();
    let before = std::fs::read(&here).unwrap();
    let e = app(&here).restore_from(&url).unwrap_err();
    assert!(matches!(e, PullError::Behind { .. }), "{e}");
    assert!(e.to_string().contains("move the file away"), "{e}");
    assert_eq!(std::fs::read(&here).unwrap(), before);
}
