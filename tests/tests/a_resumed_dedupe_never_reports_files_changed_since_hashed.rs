//! Guards the duplicate finder's report after a resume (issue 12, item 5):
//! files changed since they were listed and hashed (new content of the same
//! size, a new size) are checked again before they are reported and left
//! out of their sets; a file only touched is hashed again and still
//! reported.

use std::path::Path;
use std::time::{Duration, SystemTime};

use dizzy_tests::{dizzy_json, reported_sets};
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
}
