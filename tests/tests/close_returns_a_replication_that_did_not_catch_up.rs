//! `close()` of an app that replicates returns the replication's error when
//! the bucket did not catch up, as the README promises ("past that the run
//! ends with the replication error"), rather than `Ok` with the error only
//! in a log line (found by a fresh tester, a drone fleet). Here the bucket
//! holds a newer state of the same run than the file (an old copy of the
//! file put back): it refuses the file's snapshots, the run goes on
//! locally, and `close()` says so. A `file://` bucket needs no server.

use std::time::Duration;

use dizzy::TickError;
use dizzy::prelude::*;
use dizzy::replicate::{ReplicateOptions, Replication};

#[derive(Resource, Serialize, Deserialize, Default)]
struct Count(u64);

fn count(mut c: ResMut<Count>) {
    c.0 += 1;
}

fn app(db: &std::path::Path, replication: &Replication) -> App {
    App::new()
        .db(db)
        .resource("fleet.count", Count::default())
        .systems(count)
        .snapshot_every_ticks(1)
        .replicate_to(replication)
}

fn replication(url: &str) -> Replication {
    Replication::start(
        url,
        ReplicateOptions::default().give_up_after(Duration::from_secs(1)),
    )
    .unwrap()
}

#[test]
fn close_returns_the_error_of_a_bucket_that_refused_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    std::fs::create_dir(&bucket).unwrap();
    let url = format!("file://{}", bucket.display());
    let db = dir.path().join("fleet.redb");

    // The run replicates 3 ticks, an old copy of its file is kept, then it
    // replicates 3 more.
    let mut run = app(&db, &replication(&url)).open().unwrap();
    run.run_ticks(3).unwrap();
    run.close().unwrap();
    let old = dir.path().join("old.redb");
    std::fs::copy(&db, &old).unwrap();
    let mut run = app(&db, &replication(&url)).open().unwrap();
    run.run_ticks(3).unwrap();
    run.close().expect("the bucket caught up");

    // The old copy, back in place, replicating to the same bucket.
    std::fs::copy(&old, &db).unwrap();
    let mut run = app(&db, &replication(&url)).open().unwrap();
    run.run_ticks(1).unwrap();
    let err = run.close().expect_err("the bucket refused the file");
    assert!(matches!(err, TickError::Replication(_)), "{err:?}");
    let text = err.to_string();
    for needle in ["saved locally", "newer", url.as_str()] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
    // Saved locally: the file resumes at the tick it reached.
    let run = App::new()
        .db(&db)
        .resource("fleet.count", Count::default())
        .systems(count)
        .open()
        .unwrap();
    assert_eq!(run.world().resource::<Count>().0, 4);
}

/// A bucket that keeps failing (a `file://` path below `/proc`, where no
/// directory can be made), with the close's wait ending before the
/// replication gives up: `close()` says how long it waited and why the last
/// attempt failed. Before, it said "after waiting 0.0 s", without the cause
/// (found by a fresh tester, an orders pipeline).
#[test]
fn close_says_how_long_it_waited_and_why_the_last_attempt_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.redb");
    let url = format!("file:///proc/dizzy-no-such-bucket-{}", std::process::id());
    let replication = Replication::start(
        &url,
        ReplicateOptions::default().give_up_after(Duration::from_secs(2)),
    )
    .unwrap();
    let mut run = app(&db, &replication).open().unwrap();
    run.run_ticks(2).unwrap();
    let text = run.close().expect_err("the bucket failed").to_string();
    assert!(!text.contains("0.0 s"), "{text}");
    for needle in [
        "saved locally",
        url.as_str(),
        "last attempt failed",
        "/proc/",
    ] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
}
