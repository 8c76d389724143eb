//! `dizzy graph` draws the schedule of the app that wrote a file from the
//! file alone: on the dedupe demo's file it shows the three systems, what
//! each reads and writes and which run at the same time; the Mermaid output
//! is well-formed and the DOT output renders with Graphviz's `dot`. Without
//! a file it draws the running program's own schedule.

use dizzy::prelude::*;
use dizzy::systems::ScheduleDescription;
use dizzy_demos::dedupe::{DedupePlugin, Settings};
use dizzy_tests::{dizzy, dizzy_ok, make_tree};

/// The renderings' checks, shared with `dizzy-systems`' unit tests.
#[path = "../../systems/src/describe/check.rs"]
mod check;

#[test]
fn the_dedupe_file_gives_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 8, 100, 21);
    let db_path = dir.path().join("d.redb");
    let db = db_path.to_str().unwrap();
    dizzy_ok(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db,
        "--json",
    ]);

    // The description recorded in the file is the demo's own schedule.
    let json = dizzy_ok(&["graph", "--db", db, "--format", "json"]);
    let recorded: ScheduleDescription = serde_json::from_str(&json).unwrap();
    let settings = Settings {
        root: tree.clone(),
        batch: 1,
        batch_bytes: 1,
    };
    let own = App::new()
        .in_memory()
        .plugin(DedupePlugin {
            settings: Some(settings),
        })
        .open()
        .unwrap()
        .describe();
    assert_eq!(recorded, own);
    let names: Vec<&str> = recorded.systems.iter().map(|s| s.name.as_str()).collect();
    for system in [
        "discover",
        "by_size",
        "hash_partial",
        "by_partial",
        "hash_full",
        "group",
    ] {
        assert!(names.contains(&system), "{system} in {names:?}");
    }

    let mermaid = dizzy_ok(&["graph", "--db", db]);
    check::check_mermaid(&mermaid);
    for line in [
        "c_dedupe_dir -.->|reads| sys_discover",
        "c_dedupe_file -.->|reads| sys_hash_partial",
        "sys_hash_partial ==>|writes| r_HashedThisRun",
        "c_dedupe_partial_hash -.->|reads| sys_by_partial",
        "c_dedupe_sha256 -.->|reads| sys_group",
        "sys_group ==>|writes| r_dedupe_state",
        "sys_hash_full --> sys_stage_older_files",
        "sys_by_partial --> sys_group",
        "class sys_hash_partial,sys_discover stage0",
    ] {
        assert!(mermaid.contains(line), "{line:?} in\n{mermaid}");
    }

    let dot = dizzy_ok(&["graph", "--db", db, "--format", "dot"]);
    assert!(dot.contains("\"sys_discover\""), "{dot}");
    assert!(
        check::check_dot(&dot),
        "Graphviz's `dot` is needed to check the DOT output (apt-get install graphviz)"
    );

    // An SVG picture, laid out without Graphviz.
    let svg = dizzy_ok(&["graph", "--db", db, "--format", "svg"]);
    check::check_svg(
        &svg,
        &[
            "sys_discover",
            "sys_hash_partial",
            "sys_hash_full",
            "sys_group",
            "c_dedupe_file",
            "c_dedupe_sha256",
            "r_dedupe_state",
        ],
    );

    // An explicit snapshot gives the same schedule (one app wrote them all).
    let first = dizzy_ok(&["graph", "--db", db, "--snapshot", "1", "--format", "json"]);
    assert_eq!(first, json);
}

#[test]
fn without_a_file_it_draws_the_programs_schedule() {
    let mermaid = dizzy_ok(&["graph"]);
    check::check_mermaid(&mermaid);
    assert!(
        mermaid.contains("%% plugins: dizzy_demos::dedupe::DedupePlugin"),
        "{mermaid}"
    );
    let dot = dizzy_ok(&["graph", "--format", "dot"]);
    assert!(check::check_dot(&dot), "`dot` renders it");

    // A file without snapshots: the program's schedule, with a note.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.redb");
    drop(dizzy::Store::open(&db).unwrap());
    let out = dizzy()
        .args(["graph", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), mermaid);
    assert!(String::from_utf8_lossy(&out.stderr).contains("records no schedule"));
}
