//! On a file of the dedupe demo (its plugin, run with a snapshot after
//! every tick), through the real `dizzy` binary: `show` gives
//! the world of any snapshot (full snapshot plus deltas) with references as
//! uids; `stats` counts entities and bytes per component; `diff` between two
//! snapshots taken mid-run gives exactly what changed; `trace` of a
//! duplicate set gives its correlation as a causal tree from the root
//! directory, with the snapshot each entity first appeared in; and
//! `export-table` gives one row per file. Every answer is checked against a
//! world restored with the typed components (an independent reading).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dizzy::prelude::*;
use dizzy::snapshots::{RestoreOptions, Store, restore};
use dizzy_demos::dedupe::{
    self, Dir, DuplicateSet, File, PartialHash, RawPath, Sha256, Stage, Unlisted, Unreadable,
};
use dizzy_tests::{dizzy, dizzy_json, dizzy_ok, make_tree};
use serde_json::{Value, json};

/// The world at `snapshot`, restored with the demo's types, as
/// uid -> {stable name -> JSON}, references mapped to uids by hand.
fn oracle(db: &Path, snapshot: u64) -> BTreeMap<u64, BTreeMap<String, Value>> {
    let store = Store::open_to_read(db).unwrap();
    let app = dizzy_demos::registry_app();
    let options = RestoreOptions {
        snapshot: Some(snapshot),
        ..RestoreOptions::default()
    };
    let mut restored = restore(&store, app.registry(), &options).unwrap();
    let world = &mut restored.world;
    let uid_of = |world: &World, e: Entity| world.get::<Uid>(e).map(|u| u.get());
    let mut out = BTreeMap::new();
    let entities: Vec<(Entity, u64)> = world
        .query::<(Entity, &Uid)>()
        .iter(world)
        .map(|(e, u)| (e, u.get()))
        .collect();
    for (e, uid) in entities {
        let mut c = BTreeMap::new();
        let mut put = |name: &str, v: Value| {
            c.insert(name.to_owned(), v);
        };
        if let Some(v) = world.get::<Dir>(e) {
            put("dedupe.dir", serde_json::to_value(v).unwrap());
        }
        if world.get::<Unlisted>(e).is_some() {
            put("dedupe.unlisted", Value::Null);
        }
        if let Some(v) = world.get::<File>(e) {
            put("dedupe.file", serde_json::to_value(v).unwrap());
        }
        if let Some(v) = world.get::<RawPath>(e) {
            put("dedupe.raw_path", json!(v.0));
        }
        if let Some(v) = world.get::<Stage>(e) {
            put("dedupe.stage", serde_json::to_value(v).unwrap());
        }
        if let Some(v) = world.get::<PartialHash>(e) {
            put("dedupe.partial_hash", json!(v.0));
        }
        if let Some(v) = world.get::<Sha256>(e) {
            put("dedupe.sha256", json!(v.0.to_vec()));
        }
        if let Some(v) = world.get::<Unreadable>(e) {
            put("dedupe.unreadable", serde_json::to_value(v).unwrap());
        }
        if let Some(v) = world.get::<DuplicateSet>(e) {
            let files: Vec<Option<u64>> = v.files.iter().map(|&f| uid_of(world, f)).collect();
            put(
                "dedupe.duplicate_set",
                json!({"sha256": v.sha256.to_vec(), "size": v.size, "files": files}),
            );
        }
        if let Some(v) = world.get::<CausedBy>(e) {
            put("dizzy.caused_by", json!(uid_of(world, v.0)));
        }
        if let Some(v) = world.get::<CorrelationId>(e) {
            put("dizzy.correlation", json!(v.0));
        }
        out.insert(uid, c);
    }
    out
}

/// `show --json` as uid -> {stable name -> JSON}.
fn shown(db: &str, snapshot: u64) -> BTreeMap<u64, BTreeMap<String, Value>> {
    let s = snapshot.to_string();
    let list = dizzy_json(&["show", "--db", db, "--snapshot", &s, "--json"]);
    list.as_array()
        .expect("an array")
        .iter()
        .map(|e| {
            let mut c: BTreeMap<String, Value> =
                serde_json::from_value(e.clone()).expect("an object");
            let uid = c.remove("uid").and_then(|u| u.as_u64()).expect("a uid");
            (uid, c)
        })
        .collect()
}

/// sha256sum of every file under `root`, by relative path, as bytes.
fn sha256sums(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("find . -type f -print0 | xargs -0 sha256sum")
        .current_dir(root)
        .output()
        .expect("run sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let (hex, path) = line.split_once("  ").expect("sha256sum line");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (path.trim_start_matches("./").to_owned(), bytes)
        })
        .collect()
}

/// Runs the dedupe demo's plugin on `tree` into `db` (as `dizzy demo
/// dedupe --batch 2` does), with a durable snapshot after every tick, so
/// that the file holds many snapshots taken mid-run.
fn write_run(tree: &Path, db: &Path) {
    let mut rt = dizzy_tests::dedupe_runtime(tree, db, 2);
    while !dedupe::done(rt.world()) {
        rt.tick().unwrap();
        rt.snapshot().unwrap();
        rt.flush().unwrap();
    }
    rt.close().unwrap();
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

#[test]
fn show_stats_diff_trace_and_export_table_tell_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 60, 2048, 11);
    let db_path = dir.path().join("d.redb");
    let db = db_path.to_str().unwrap();
    write_run(&tree, &db_path);
    let metas = Store::open_to_read(&db_path).unwrap().snapshots().unwrap();
    let ids: Vec<u64> = metas.iter().map(|m| m.id).collect();
    assert!(ids.len() >= 4, "a run with several snapshots: {ids:?}");
    let last = *ids.last().unwrap();

    // show: the world of a snapshot, at the start, in the middle, at the end.
    for &id in &[ids[0], ids[ids.len() / 2], last] {
        assert_eq!(shown(db, id), oracle(&db_path, id), "show at snapshot {id}");
    }
    let world = shown(db, last);
    let sums = sha256sums(&tree);
    let by_path: BTreeMap<&str, u64> = world
        .iter()
        .filter_map(|(u, c)| Some((c.get("dedupe.file")?["path"].as_str()?, *u)))
        .collect();
    assert_eq!(by_path.len(), sums.len(), "every regular file is an entity");
    let dirs: BTreeMap<&str, u64> = world
        .iter()
        .filter_map(|(u, c)| Some((c.get("dedupe.dir")?["path"].as_str()?, *u)))
        .collect();
    let root = dirs[""];
    let mut hashed = 0;
    for (path, sum) in &sums {
        let c = &world[&by_path[path.as_str()]];
        assert_eq!(c["dedupe.stage"], "Done", "{path}");
        // Hashed whole where another file may share the content (small
        // files whole at once), and then rightly.
        if let Some(got) = c.get("dedupe.sha256") {
            assert_eq!(got, &json!(sum), "{path}");
            hashed += 1;
        } else {
            let twins = sums.values().filter(|s| *s == sum).count();
            assert_eq!(twins, 1, "{path} has a duplicate and was not hashed");
        }
        let size = std::fs::metadata(tree.join(path)).unwrap().len();
        assert_eq!(c["dedupe.file"]["size"], size, "{path}");
        // Each file is caused by the directory that listed it.
        assert_eq!(c["dizzy.caused_by"], dirs[parent(path)], "{path}");
        assert_eq!(c["dizzy.correlation"], root, "{path}");
    }
    assert!(
        hashed > 0 && hashed < sums.len(),
        "{hashed} of {}",
        sums.len()
    );
    let sets: Vec<(u64, &BTreeMap<String, Value>)> = world
        .iter()
        .filter(|(_, c)| c.contains_key("dedupe.duplicate_set"))
        .map(|(u, c)| (*u, c))
        .collect();
    assert!(!sets.is_empty(), "the tree has duplicates");
    for (_, c) in &sets {
        let files: Vec<u64> = c["dedupe.duplicate_set"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().expect("references are uids"))
            .collect();
        let sum = &world[&files[0]]["dedupe.sha256"];
        assert!(files.iter().all(|f| &world[f]["dedupe.sha256"] == sum));
        assert_eq!(c["dedupe.duplicate_set"]["sha256"], *sum);
        // A set is caused by its first file.
        assert_eq!(c["dizzy.caused_by"], files[0]);
    }
    // --uid and --with select.
    let one = dizzy_json(&["show", "--db", db, "--uid", &root.to_string(), "--json"]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["uid"], root);
    let with = dizzy_json(&[
        "show",
        "--db",
        db,
        "--with",
        "dedupe.duplicate_set",
        "--json",
    ]);
    assert_eq!(with.as_array().unwrap().len(), sets.len());
    let text = dizzy_ok(&["show", "--db", db, "--uid", &root.to_string()]);
    assert!(text.contains(&format!("uid {root}")), "{text}");
    assert!(text.contains("dedupe.dir: {\"path\":\"\"}"), "{text}");

    // stats: entities and bytes per component, for every snapshot.
    let stats = dizzy_json(&["stats", "--db", db, "--json"]);
    let stats = stats.as_array().unwrap();
    assert_eq!(stats.len(), ids.len());
    for (s, meta) in stats.iter().zip(&metas) {
        assert_eq!(s["id"], meta.id);
        assert_eq!(s["entities"], meta.entities);
        let world = oracle(&db_path, meta.id);
        for (name, c) in s["components"].as_object().unwrap() {
            let having = world.values().filter(|c| c.contains_key(name)).count();
            assert_eq!(c["entities"], having, "{name} at snapshot {}", meta.id);
            let column = meta.column(name);
            assert_eq!(c["values_written"], column.map_or(0, |c| c.rows));
            let removed = meta
                .column(&format!("@remove/{name}"))
                .map_or(0, |c| c.bytes);
            assert_eq!(c["bytes"], column.map_or(0, |c| c.bytes) + removed);
        }
    }

    // diff between two snapshots taken mid-run.
    let (a, b) = (ids[1], ids[ids.len() - 2]);
    let state_at_b = dizzy_json(&["show", "--db", db, "--snapshot", &b.to_string(), "--json"]);
    assert!(!state_at_b.as_array().unwrap().is_empty());
    let (wa, wb) = (oracle(&db_path, a), oracle(&db_path, b));
    let d = dizzy_json(&["diff", "--db", db, &a.to_string(), &b.to_string(), "--json"]);
    let uids = |v: &Value| -> BTreeSet<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["uid"].as_u64().unwrap())
            .collect()
    };
    let spawned: BTreeSet<u64> = wb.keys().filter(|u| !wa.contains_key(u)).copied().collect();
    let despawned: BTreeSet<u64> = wa.keys().filter(|u| !wb.contains_key(u)).copied().collect();
    assert!(
        !spawned.is_empty(),
        "the run spawned entities between {a} and {b}"
    );
    assert_eq!(uids(&d["spawned"]), spawned);
    assert_eq!(uids(&d["despawned"]), despawned);
    for e in d["spawned"].as_array().unwrap() {
        let uid = e["uid"].as_u64().unwrap();
        for (name, v) in &wb[&uid] {
            assert_eq!(&e[name], v, "spawned {uid} {name}");
        }
    }
    // (uid, component) -> (old, new), from the restored worlds.
    type Changes = BTreeMap<(u64, String), (Value, Value)>;
    let (mut added, mut removed, mut changed) = (Changes::new(), Changes::new(), Changes::new());
    for (uid, old) in wa.iter().filter(|(u, _)| wb.contains_key(u)) {
        let new = &wb[uid];
        for (name, v) in new {
            let key = (*uid, name.clone());
            match old.get(name) {
                None => added.insert(key, (Value::Null, v.clone())),
                Some(o) if o != v => changed.insert(key, (o.clone(), v.clone())),
                Some(_) => None,
            };
        }
        for (name, v) in old {
            if !new.contains_key(name) {
                removed.insert((*uid, name.clone()), (v.clone(), Value::Null));
            }
        }
    }
    let changes = |key: &str, old: &str, new: &str| -> Changes {
        d[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let at = (
                    c["uid"].as_u64().unwrap(),
                    c["component"].as_str().unwrap().to_owned(),
                );
                let old = c.get(old).cloned().unwrap_or(Value::Null);
                (at, (old, c.get(new).cloned().unwrap_or(Value::Null)))
            })
            .collect()
    };
    assert!(!added.is_empty(), "files were hashed between {a} and {b}");
    assert_eq!(changes("added", "-", "value"), added);
    assert_eq!(changes("removed", "value", "-"), removed);
    assert_eq!(changes("changed", "old", "new"), changed);
    let text = dizzy_ok(&["diff", "--db", db, &a.to_string(), &b.to_string()]);
    assert!(
        text.starts_with(&format!(
            "{db}: snapshot {a} -> {b}: {} spawned",
            spawned.len()
        )),
        "{text}"
    );

    // trace of a duplicate set: the whole run is one correlation, rooted at
    // the root directory; the set hangs under its first file.
    let (set, set_c) = sets[0];
    let t = dizzy_json(&["trace", "--db", db, &set.to_string(), "--json"]);
    assert_eq!(t["correlation"], root);
    assert_eq!(t["entities"], world.len());
    let roots = t["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 1, "one root: {t}");
    assert_eq!(roots[0]["uid"], root);
    // First appearance, from the restored worlds of every snapshot.
    let mut first: BTreeMap<u64, u64> = BTreeMap::new();
    for &id in &ids {
        for uid in oracle(&db_path, id).keys() {
            first.entry(*uid).or_insert(id);
        }
    }
    let mut seen = 0;
    let mut stack: Vec<(&Value, Option<u64>)> = vec![(&roots[0], None)];
    while let Some((node, cause)) = stack.pop() {
        seen += 1;
        let uid = node["uid"].as_u64().unwrap();
        assert_eq!(node["caused_by"].as_u64(), cause, "{uid}");
        assert_eq!(node["first_snapshot"], first[&uid], "{uid}");
        assert_eq!(node["components"], json!(world[&uid]), "{uid}");
        for child in node["children"].as_array().unwrap() {
            stack.push((child, Some(uid)));
        }
    }
    assert_eq!(seen, world.len(), "every entity once in the tree");
    // --branch: only the chain of causes, root to set.
    let t = dizzy_json(&["trace", "--db", db, &set.to_string(), "--branch", "--json"]);
    let mut chain = Vec::new();
    let mut node = &t["roots"][0];
    loop {
        chain.push(node["uid"].as_u64().unwrap());
        match node["children"].as_array().unwrap().as_slice() {
            [] => break,
            [only] => node = only,
            more => panic!("a branch, not a tree: {more:?}"),
        }
    }
    let first_file = set_c["dizzy.caused_by"].as_u64().unwrap();
    let path = world[&first_file]["dedupe.file"]["path"].as_str().unwrap();
    let mut expected = vec![set, first_file];
    let mut at = parent(path);
    loop {
        expected.push(dirs[at]);
        if at.is_empty() {
            break;
        }
        at = parent(at);
    }
    expected.reverse();
    assert_eq!(chain, expected);
    let text = dizzy_ok(&["trace", "--db", db, &set.to_string(), "--branch"]);
    assert!(
        text.contains(&format!("{set} dedupe.duplicate_set")),
        "{text}"
    );
    assert!(text.contains("└── "), "{text}");

    // export-table: one row per file, fields flattened.
    let jsonl = dizzy_ok(&["export-table", "--db", db, "--with", "dedupe.file"]);
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), by_path.len());
    for r in &rows {
        let uid = r["uid"].as_u64().unwrap();
        assert_eq!(r["path"], world[&uid]["dedupe.file"]["path"]);
        assert_eq!(r["size"], world[&uid]["dedupe.file"]["size"]);
    }
    let csv = dizzy_ok(&[
        "export-table",
        "--db",
        db,
        "--with",
        "dedupe.file",
        "--format",
        "csv",
    ]);
    let mut lines = csv.lines();
    // Text always quoted (DuckDB's sniffer needs to see it), numbers bare.
    assert_eq!(
        lines.next(),
        Some(r#""uid","path","size","modified_ns","changed_ns","inode""#)
    );
    let csv_rows: Vec<String> = lines.map(str::to_owned).collect();
    let expected: Vec<String> = rows
        .iter()
        .map(|r| {
            let path = r["path"].as_str().unwrap().replace('"', "\"\"");
            format!(
                "{},\"{path}\",{},{},{},{}",
                r["uid"], r["size"], r["modified_ns"], r["changed_ns"], r["inode"]
            )
        })
        .collect();
    assert_eq!(csv_rows, expected);
    // `-o -` is stdout, as for most tools: the same rows, no file named `-`.
    let cwd = tempfile::tempdir().unwrap();
    let db_abs = std::fs::canonicalize(db).unwrap();
    let dashed = dizzy()
        .current_dir(cwd.path())
        .args(["export-table", "--db"])
        .arg(&db_abs)
        .args(["--with", "dedupe.file", "-o", "-"])
        .output()
        .unwrap();
    assert!(dashed.status.success(), "{dashed:?}");
    assert_eq!(String::from_utf8(dashed.stdout).unwrap(), jsonl);
    assert!(
        !cwd.path().join("-").exists(),
        "`-o -` wrote a file named `-`"
    );
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 5, 100, 12);
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
    let missing = dir.path().join("missing.redb");
    let cases: [(&[&str], &str); 8] = [
        (&["show", "--db", missing.to_str().unwrap()], "no such file"),
        (&["show", "--db", db, "--snapshot", "99"], "no snapshot 99"),
        (
            &["show", "--db", db, "--with", "no.such"],
            "no component `no.such`",
        ),
        (
            &["show", "--db", db, "--uid", "12345"],
            "no entity with uid 12345",
        ),
        (&["diff", "--db", db, "1", "99"], "no snapshot 99"),
        (&["trace", "--db", db, "12345"], "uid or correlation 12345"),
        (
            &["export-table", "--db", db, "--with", "no.such"],
            "no.such",
        ),
        (
            &["export-table", "--db", db, "--with", "dedupe.state"],
            "`dedupe.state` is a resource, not a component",
        ),
    ];
    for (args, needle) in cases {
        let out = dizzy().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    assert!(!missing.exists(), "inspection creates no file");
}
