//! `dizzy demo dedupe` reports exactly the duplicates `sha256sum` gives, both
//! uninterrupted and when killed with SIGKILL after its first snapshot is
//! committed and run again; the rerun does not hash again what the last
//! snapshot held.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use dizzy::snapshots::{RestoreOptions, Store, restore};
use dizzy_demos::dedupe::Sha256;
use dizzy_tests::{dizzy, dizzy_json, expected_duplicates, make_tree, reported_duplicates};

#[test]
fn uninterrupted_run_matches_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let paths = make_tree(&tree, 120, 4096, 1);
    let db = dir.path().join("d.redb");
    let report = dizzy_json(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        report["files"],
        paths.len() as u64,
        "regular files only, no symlink"
    );
    let expected = expected_duplicates(&tree);
    assert!(!expected.is_empty(), "the tree has duplicates");
    assert_eq!(reported_duplicates(&report), expected);
    assert_eq!(report["hashed_this_run"], paths.len() as u64);
    assert!(report["resumed_from_snapshot"].is_null());
    let bytes: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(tree.join(p)).unwrap().len())
        .sum();
    assert_eq!(report["bytes"], bytes);

    // A finished run, run again: same answer, nothing hashed.
    let again = dizzy_json(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(reported_duplicates(&again), expected);
    assert_eq!(again["hashed_this_run"], 0);
    assert!(again["resumed_from_snapshot"].is_u64());

    // The snapshots listing.
    let list = dizzy_json(&["snapshots", "--db", db.to_str().unwrap(), "--json"]);
    let list = list.as_array().expect("an array");
    assert!(!list.is_empty());
    for s in list {
        for key in ["id", "tick", "kind", "entities", "bytes"] {
            assert!(!s[key].is_null(), "{key} in {s}");
        }
    }
    assert_eq!(list[0]["kind"], "full");
}

#[test]
fn killed_run_resumes_without_hashing_again() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let paths = make_tree(&tree, 300, 32 * 1024, 2);
    let db = dir.path().join("d.redb");
    let mut child = dizzy()
        .args([
            "demo",
            "dedupe",
            tree.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ])
        .args(["--batch", "1", "--snapshot-every", "1", "--json"])
        .env("DIZZY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dizzy");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut committed = false;
    for line in stderr.lines() {
        if line.unwrap().contains("committed snapshot") {
            committed = true;
            break;
        }
    }
    assert!(committed, "the run committed a snapshot");
    child.kill().expect("SIGKILL");
    let out = child.wait_with_output().unwrap();
    assert!(out.stdout.is_empty(), "killed before it finished");

    // What the file holds now.
    let store = Store::open_to_read(&db).unwrap();
    let app = dizzy_demos::registry_app();
    let mut restored = restore(&store, app.registry(), &RestoreOptions::default()).unwrap();
    let hashed_before = restored
        .world
        .query::<&Sha256>()
        .iter(&restored.world)
        .count() as u64;
    drop(store);
    assert!(hashed_before < paths.len() as u64, "the kill came mid-run");

    let report = dizzy_json(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(report["resumed_from_snapshot"], restored.meta.id);
    assert_eq!(report["files"], paths.len() as u64);
    assert_eq!(
        report["hashed_this_run"],
        paths.len() as u64 - hashed_before,
        "files hashed before the snapshot are not hashed again"
    );
    assert_eq!(reported_duplicates(&report), expected_duplicates(&tree));
}
