//! `latest` and `latest~N` name a snapshot wherever a command takes one
//! (`show`, `stats`, `diff`, `trace`, `graph`, `export`, `export-table`,
//! `serve`), counting back through the snapshots the file holds; a name
//! past the oldest is a one-line error. `show --limit/--offset` pages
//! through a large world.

use std::path::Path;

use serde_json::Value;

use dizzy_tests::{dizzy, dizzy_json, dizzy_ok, make_tree};

fn dedupe_file(dir: &Path) -> String {
    let tree = dir.join("tree");
    make_tree(&tree, 80, 800, 9);
    let db = dir.join("d.redb");
    dizzy_ok(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--batch",
        "8",
        "--snapshot-every",
        "1",
    ]);
    db.to_str().unwrap().to_owned()
}

#[test]
fn latest_counts_back_from_the_newest_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dedupe_file(dir.path());
    let ids: Vec<u64> = dizzy_json(&["snapshots", "--db", &db, "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let (last, before) = (ids[ids.len() - 1], ids[ids.len() - 2]);
    let (last_s, before_s) = (last.to_string(), before.to_string());

    // show
    assert_eq!(
        dizzy_ok(&["show", "--db", &db, "--snapshot", "latest", "--json"]),
        dizzy_ok(&["show", "--db", &db, "--json"])
    );
    assert_eq!(
        dizzy_ok(&["show", "--db", &db, "--snapshot", "latest~1", "--json"]),
        dizzy_ok(&["show", "--db", &db, "--snapshot", &before_s, "--json"])
    );
    // stats
    let stats = dizzy_json(&["stats", "--db", &db, "--snapshot", "latest~1", "--json"]);
    assert_eq!(stats[0]["id"], before);
    // diff
    let diff = dizzy_json(&["diff", "--db", &db, "latest~1", "latest", "--json"]);
    assert_eq!(
        (diff["from"].as_u64(), diff["to"].as_u64()),
        (Some(before), Some(last))
    );
    assert_eq!(
        diff,
        dizzy_json(&["diff", "--db", &db, &before_s, &last_s, "--json"])
    );
    // trace, graph, export-table, export
    let trace = dizzy_json(&[
        "trace",
        "--db",
        &db,
        "--snapshot",
        "latest~1",
        "2",
        "--json",
    ]);
    assert_eq!(trace["snapshot"], before);
    dizzy_ok(&[
        "graph",
        "--db",
        &db,
        "--snapshot",
        "latest",
        "--format",
        "json",
    ]);
    assert_eq!(
        dizzy_ok(&[
            "export-table",
            "--db",
            &db,
            "--with",
            "dedupe.dir",
            "--snapshot",
            "latest~1"
        ]),
        dizzy_ok(&[
            "export-table",
            "--db",
            &db,
            "--with",
            "dedupe.dir",
            "--snapshot",
            &before_s
        ])
    );
    let bundle = dir.path().join("b.bundle");
    dizzy_ok(&[
        "export",
        "--db",
        &db,
        "--snapshot",
        "latest~1",
        "--with",
        "dedupe.dir",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert!(bundle.exists());

    // Past the oldest: one line naming the file and how many it holds.
    let back = format!("latest~{}", ids.len());
    let out = dizzy()
        .args(["show", "--db", &db, "--snapshot", &back])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "no snapshot {back} (the file holds {} snapshots)",
            ids.len()
        )),
        "{err}"
    );
    // Not a snapshot name at all: a usage error.
    let out = dizzy()
        .args(["diff", "--db", &db, "latest-1", "latest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected an id (42), `latest` or `latest~N`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn show_pages_with_limit_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let db = dedupe_file(dir.path());
    let all = dizzy_json(&["show", "--db", &db, "--with", "dedupe.file", "--json"]);
    let all = all.as_array().unwrap();
    assert!(all.len() > 20);
    let page = dizzy_json(&[
        "show",
        "--db",
        &db,
        "--with",
        "dedupe.file",
        "--json",
        "--offset",
        "5",
        "--limit",
        "7",
    ]);
    assert_eq!(page.as_array().unwrap().as_slice(), &all[5..12]);
    let tail = dizzy_json(&[
        "show",
        "--db",
        &db,
        "--with",
        "dedupe.file",
        "--json",
        "--offset",
        "9999",
    ]);
    assert_eq!(tail, Value::Array(Vec::new()));
    let text = dizzy_ok(&["show", "--db", &db, "--with", "dedupe.file", "--limit", "3"]);
    let head = text.lines().next().unwrap();
    assert!(
        head.ends_with(&format!("(from entity 1 of {} selected)", all.len())),
        "{head}"
    );
    assert!(head.contains(": 3 of "), "{head}");
    assert_eq!(text.lines().filter(|l| l.starts_with("uid ")).count(), 3);
}
