//! `dizzy demo dedupe` reports exactly the duplicates `sha256sum` gives, both
//! uninterrupted and when killed with SIGKILL while it hashes and run
//! again; it reads only files whose size another file has, and the rerun
//! does not read again what the last snapshot held.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use dizzy::snapshots::{RestoreOptions, Store, restore};
use dizzy_demos::dedupe::{PartialHash, Sha256};
use dizzy_tests::{dizzy, dizzy_json, expected_duplicates, make_tree, reported_duplicates};

/// The latest snapshot of `db`: its id and the file reads it records (a
/// partial hash or a SHA-256 is one read each).
fn reads_recorded(db: &Path) -> (u64, u64) {
    let (id, reads, _) = recorded(db);
    (id, reads)
}

/// [`reads_recorded`], and whether the run it holds is finished.
fn recorded(db: &Path) -> (u64, u64, bool) {
    let store = Store::open_to_read(db).unwrap();
    let app = dizzy_demos::registry_app();
    let mut restored = restore(&store, app.registry(), &RestoreOptions::default()).unwrap();
    let world = &mut restored.world;
    let partial = world.query::<&PartialHash>().iter(world).count() as u64;
    let full = world.query::<&Sha256>().iter(world).count() as u64;
    let finished = dizzy_demos::dedupe::done(world);
    (restored.meta.id, partial + full, finished)
}

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
    let (_, reads) = reads_recorded(&db);
    assert_eq!(report["hashed_this_run"], reads);
    let sizes: Vec<u64> = paths
        .iter()
        .map(|p| std::fs::metadata(tree.join(p)).unwrap().len())
        .collect();
    let shared = sizes
        .iter()
        .filter(|s| sizes.iter().filter(|t| t == s).count() > 1)
        .count() as u64;
    assert!(
        reads >= shared && reads <= 2 * shared,
        "files of a shared size are read once or twice, the others never: {reads} reads, {shared} shared"
    );
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
    // Killed with SIGKILL at its first commit, run again and killed again,
    // until the file holds a run that is reading files. Snapshots are
    // skipped while the writer is busy, so which tick a commit holds
    // depends on timing; each round still gets at least one commit further.
    let mut rounds = 0;
    let (killed_at, reads_before) = loop {
        rounds += 1;
        assert!(rounds <= 500, "no snapshot held a run that reads files");
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
        assert!(committed, "round {rounds} committed a snapshot");
        child.kill().expect("SIGKILL");
        let out = child.wait_with_output().unwrap();
        assert!(out.stdout.is_empty(), "killed before it finished");
        // What the file holds now. A kill that came after the run's last
        // snapshot (the run got that far before the signal, on a loaded
        // machine) holds nothing to resume: start again on a new file.
        let (at, reads, finished) = recorded(&db);
        if finished {
            std::fs::remove_file(&db).unwrap();
            continue;
        }
        if reads > 0 {
            break (at, reads);
        }
    };
    assert!(rounds > 1, "the first round only lists directories");

    let report = dizzy_json(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(report["resumed_from_snapshot"], killed_at);
    assert_eq!(report["files"], paths.len() as u64);
    let (_, reads) = reads_recorded(&db);
    assert!(reads_before < reads, "the kill came before the end");
    assert_eq!(
        report["hashed_this_run"],
        reads - reads_before,
        "files read before the snapshot are not read again"
    );
    assert_eq!(reported_duplicates(&report), expected_duplicates(&tree));
}
