//! Guards the duplicate finder's report after a resume (issue 12, item 5):
//! files changed since they were listed and hashed (new content of the same
//! size, a new size) are checked again before they are reported and left
//! out of their sets; a file only touched is hashed again and still
//! reported. What the check finds is recorded in the file, so that `dizzy
//! export-table` and the next run answer as the report did; and a file
//! hashed mid-run that changes before the run ends, in no set, is named as
//! changed rather than silently left out (both found by a fresh tester).

use std::path::Path;
use std::time::{Duration, SystemTime};

use dizzy::prelude::*;
use dizzy_demos::dedupe::{self, Stage};
use dizzy_tests::{dizzy_json, dizzy_ok, reported_sets};
use serde_json::Value;

fn dedupe(tree: &Path, db: &Path) -> Value {
    dizzy_json(&[
        "demo",
        "dedupe",
        &tree.to_string_lossy(),
        "--db",
        &db.to_string_lossy(),
        "--json",
    ])
}

#[test]
fn files_changed_after_hashing_are_not_reported_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for (name, content) in [
        ("a1", "alpha\n"),
        ("a2", "alpha\n"),
        ("a3", "alpha\n"),
        ("b1", "bravo!\n"),
        ("b2", "bravo!\n"),
        ("c1", "charlie\n"),
        ("c2", "charlie\n"),
    ] {
        std::fs::write(tree.join(name), content).unwrap();
    }
    let db = dir.path().join("run.redb");
    let first = dedupe(&tree, &db);
    assert_eq!(
        reported_sets(&first),
        [vec!["a1", "a2", "a3"], vec!["b1", "b2"], vec!["c1", "c2"]]
    );

    // Same size, new content; a new size; only a new modification time.
    std::fs::write(tree.join("a3"), "ALPHA\n").unwrap();
    std::fs::write(tree.join("b2"), "bravo, longer\n").unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(tree.join("c2"))
        .unwrap()
        .set_modified(later)
        .unwrap();

    let resumed = dedupe(&tree, &db);
    assert!(resumed["resumed_from_snapshot"].is_u64(), "{resumed}");
    // Nothing left to hash; a3 and c2 are read again to check them (b2's
    // size tells it changed), and counted as read by this run.
    assert_eq!(resumed["hashed_this_run"], 2, "{resumed}");
    assert_eq!(
        reported_sets(&resumed),
        [vec!["a1", "a2"], vec!["c1", "c2"]],
        "{resumed}"
    );
    assert_eq!(resumed["changed"], 2, "{resumed}");
    assert_eq!(
        resumed["changed_files"],
        serde_json::json!(["a3", "b2"]),
        "named, as unreadable files are"
    );

    // The file answers as the report: the sets it holds no longer name a3
    // (nor b2, whose set had one file left and is gone).
    let table = dizzy_ok(&[
        "export-table",
        "--db",
        &db.to_string_lossy(),
        "--with",
        "dedupe.duplicate_set",
    ]);
    assert_eq!(table.lines().count(), 2, "two sets: {table}");
    let marked = dizzy_ok(&[
        "export-table",
        "--db",
        &db.to_string_lossy(),
        "--with",
        "dedupe.changed_since_listed",
        "--with",
        "dedupe.file",
    ]);
    let mut paths: Vec<String> = marked
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    paths.sort();
    assert_eq!(paths, ["a3", "b2"], "{marked}");

    // And the next run says the same, reading nothing: the touched c2,
    // read again and found the same, is listed as it is now.
    let again = dedupe(&tree, &db);
    assert_eq!(reported_sets(&again), reported_sets(&resumed), "{again}");
    assert_eq!(again["changed_files"], resumed["changed_files"], "{again}");
    assert_eq!(again["hashed_this_run"], 0, "{again}");
}

#[test]
fn a_file_changed_between_its_partial_and_its_full_hash_is_named_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    // g1 and g2 share a content, h has another of the same size.
    std::fs::write(tree.join("g1"), "gamma\n").unwrap();
    std::fs::write(tree.join("g2"), "gamma\n").unwrap();
    std::fs::write(tree.join("h"), "hotel\n").unwrap();
    let mut rt = dizzy_tests::dedupe_runtime(&tree, &dir.path().join("run.redb"), 1);
    let count =
        |w: &mut World, stage: Stage| w.query::<&Stage>().iter(w).filter(|s| **s == stage).count();
    let hashed = |w: &mut World| {
        w.query_filtered::<(), With<dedupe::PartialHash>>()
            .iter(w)
            .count()
    };
    while hashed(rt.world_mut()) < 3 {
        assert!(
            !dedupe::done(rt.world()),
            "the ends are hashed before the end"
        );
        rt.tick().unwrap();
    }
    // g1 and g2 are to be hashed whole, neither is yet. g1 now holds h's
    // content (same size): by its ends it was g2's twin, by its content it
    // is h's, which is never hashed whole.
    assert_eq!(count(rt.world_mut(), Stage::Full), 2);
    std::fs::write(tree.join("g1"), "hotel\n").unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(tree.join("g1"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    while !dedupe::done(rt.world()) {
        rt.tick().unwrap();
    }
    let report = dedupe::report(rt.world_mut());
    assert!(report.duplicate_sets.is_empty(), "{report:?}");
    assert_eq!(report.unreadable_files.len(), 1, "{report:?}");
    let (path, error) = &report.unreadable_files[0];
    assert_eq!(path, "g1");
    assert!(error.contains("changed since it was listed"), "{error}");
    rt.close().unwrap();
}

#[test]
fn a_file_changed_before_its_partial_hash_is_found_by_its_full_hash() {
    // The ends are read without checking the file against its listing (a
    // partial hash only sorts out candidates); a file that changed before
    // them and now matches another file's ends is found when it is hashed
    // whole, and named, not reported as that file's duplicate.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), "alpha1\n").unwrap();
    std::fs::write(tree.join("b"), "bravo1\n").unwrap();
    let mut rt = dizzy_tests::dedupe_runtime(&tree, &dir.path().join("run.redb"), 1);
    let partial = |w: &mut World| {
        w.query_filtered::<(), With<dedupe::PartialHash>>()
            .iter(w)
            .count()
    };
    while !dedupe::listed(rt.world_mut()) {
        rt.tick().unwrap();
    }
    assert_eq!(partial(rt.world_mut()), 0, "listed, nothing read yet");
    // a now holds b's content (the same size), written after its listing.
    std::fs::write(tree.join("a"), "bravo1\n").unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(tree.join("a"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    while !dedupe::done(rt.world()) {
        rt.tick().unwrap();
    }
    let report = dedupe::report(rt.world_mut());
    assert!(report.duplicate_sets.is_empty(), "{report:?}");
    assert_eq!(report.unreadable_files.len(), 1, "{report:?}");
    let (path, error) = &report.unreadable_files[0];
    assert_eq!(path, "a");
    assert!(error.contains("changed since it was listed"), "{error}");
    rt.close().unwrap();
}
