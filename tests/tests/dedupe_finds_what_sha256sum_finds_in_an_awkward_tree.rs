//! `dizzy demo dedupe` gives exactly the duplicate sets of `sha256sum` on a
//! tree made to trip a size-then-partial-hash pipeline: files of one size
//! that differ only in the middle or only at the end, files that share a
//! long prefix, empty files, hard links, names that are not UTF-8 (files
//! and a directory); a rerun that resumes a killed run's file agrees.

use std::path::Path;

use dizzy_tests::{dedupe_json, dizzy, dizzy_json, expected_duplicates, reported_duplicates};

fn write(root: &Path, rel: &[u8], data: &[u8]) {
    let path = path(root, rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

#[cfg(unix)]
fn path(root: &Path, rel: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    root.join(std::ffi::OsStr::from_bytes(rel))
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect()
}

/// The awkward tree; returns how many regular files it holds.
fn awkward_tree(root: &Path) -> usize {
    let big = pattern(40_000, 1);
    let mut middle = big.clone();
    middle[20_000] ^= 0xff; // same size, same ends, other middle
    let mut last = big.clone();
    *last.last_mut().unwrap() ^= 1; // same size, differs in the last byte
    let files: Vec<(&[u8], Vec<u8>)> = vec![
        (b"big/a", big.clone()),
        (b"big/b", big.clone()),
        (b"big/middle", middle.clone()),
        (b"big/middle-again", middle),
        (b"big/last", last),
        (b"big/longer", [big.as_slice(), b"tail"].concat()), // shares a prefix
        (b"big/shorter", big[..30_000].to_vec()),
        (b"small/x", b"same size 1".to_vec()),
        (b"small/y", b"same size 2".to_vec()),
        (b"small/z", b"same size 1".to_vec()),
        (b"small/eight-k", pattern(8192, 3)),
        (b"small/eight-k-and-one", pattern(8193, 3)),
        (b"small/eight-k-copy", pattern(8192, 3)),
        (b"empty/one", Vec::new()),
        (b"empty/two", Vec::new()),
        (b"empty/deep/three", Vec::new()),
        (b"unique/only", pattern(12_345, 9)),
        (b"names/caf\xe9-latin1", big.clone()),
        (b"names/\xff\xfe", b"same size 2".to_vec()),
        (b"names/dir-\xfe/inside", pattern(8192, 3)),
        ("names/ünïcode ok".as_bytes(), pattern(12_345, 10)),
        (b"names/with\nnewline", pattern(12_345, 10)),
    ];
    for (rel, data) in &files {
        write(root, rel, data);
    }
    let mut count = files.len();
    // Hard links: one to a duplicated content, one to a unique content
    // (which makes it a duplicate of its own link).
    std::fs::hard_link(root.join("big/a"), root.join("big/a-link")).unwrap();
    std::fs::hard_link(root.join("unique/only"), root.join("unique/only-link")).unwrap();
    count += 2;
    // Symlinks are not files to compare.
    std::os::unix::fs::symlink(root.join("big/a"), root.join("big/symlink")).unwrap();
    count
}

#[test]
fn awkward_tree_gives_the_sets_of_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let files = awkward_tree(&tree);
    let expected = expected_duplicates(&tree);
    // The sets sha256sum gives, spelled out (display: `\xNN` for bytes).
    let paths: Vec<Vec<String>> = expected.iter().map(|(_, p)| p.clone()).collect();
    for set in [
        &["big/a", "big/a-link", "big/b", "names/caf\\xE9-latin1"][..],
        &["big/middle", "big/middle-again"],
        &["empty/deep/three", "empty/one", "empty/two"],
        &["small/x", "small/z"],
        &["names/\\xFF\\xFE", "small/y"],
        &[
            "names/dir-\\xFE/inside",
            "small/eight-k",
            "small/eight-k-copy",
        ],
        &["unique/only", "unique/only-link"],
        &["names/with\\x0Anewline", "names/ünïcode ok"],
    ] {
        assert!(
            paths.iter().any(|p| p == set),
            "sha256sum finds {set:?} in {paths:?}"
        );
    }
    assert_eq!(expected.len(), 8);

    let db = dir.path().join("d.redb");
    let args = [
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ];
    let report = dizzy_json(&[&args[..], &["--json"]].concat());
    assert_eq!(report["files"], files as u64);
    assert_eq!(report["unreadable"], 0);
    assert_eq!(reported_duplicates(&report), expected);
    // Sizes no other file has are never read (the 30,000-, 40,004- and
    // 8,193-byte files); the others are read once (their ends, or all of
    // them up to 8 KiB), and whole again where size and partial hash are
    // shared: the six 40,000-byte files other than `last`, the four of
    // 12,345, and the small files of equal content (`small/x` and `z`,
    // `small/y` and `names/\xff\xfe`, the three 8,192-byte copies, the
    // three empty files).
    assert_eq!(
        report["hashed_this_run"],
        files as u64 - 3 + 6 + 4 + (2 + 2 + 3 + 3)
    );

    // The summary on a terminal says how many files could not be read.
    let again = dizzy().args(args).output().unwrap();
    assert!(again.status.success());
    let text = String::from_utf8(again.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(&format!("{files} files"))
            && first.contains("8 duplicate sets, 0 unreadable"),
        "{first}"
    );
    assert!(text.contains("  names/\\xFF\\xFE\n"), "{text}");
}

#[test]
fn a_file_gone_before_it_is_read_is_counted_and_named() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    write(&tree, b"a", b"twin");
    write(&tree, b"b", b"twin");
    write(&tree, b"c\xff", b"twin");
    // Listing these takes a tick each (--batch 1): the run is killed at its
    // first commit, long before any file is read; the file is removed, and
    // the run resumed.
    for i in 0..200 {
        std::fs::create_dir_all(tree.join(format!("d{i:03}"))).unwrap();
    }
    let db = dir.path().join("d.redb");
    let mut child = dizzy()
        .args(["demo", "dedupe", tree.to_str().unwrap()])
        .args(["--db", db.to_str().unwrap()])
        .args(["--batch", "1", "--snapshot-every", "1"])
        .env("DIZZY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("committed snapshot") {
        line.clear();
    }
    child.kill().unwrap();
    let killed = child.wait_with_output().unwrap();
    assert!(killed.stdout.is_empty(), "killed before it finished");
    {
        use dizzy::snapshots::{RestoreOptions, Store, restore};
        let store = Store::open_to_read(&db).unwrap();
        let app = dizzy_demos::registry_app();
        let mut r = restore(&store, app.registry(), &RestoreOptions::default()).unwrap();
        let world = &mut r.world;
        let stages: Vec<_> = world
            .query::<&dizzy_demos::dedupe::Stage>()
            .iter(world)
            .copied()
            .collect();
        assert!(
            stages
                .iter()
                .all(|s| *s == dizzy_demos::dedupe::Stage::Listed),
            "no file read yet: {stages:?}"
        );
    }
    std::fs::remove_file(path(&tree, b"c\xff")).unwrap();
    let out = dizzy()
        .args(["demo", "dedupe", tree.to_str().unwrap()])
        .args(["--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("3 files, 12 bytes, 1 duplicate sets, 1 unreadable"),
        "{text}"
    );
    assert!(text.contains("unreadable: c\\xFF: "), "{text}");
    assert!(text.contains("  a\n  b\n"), "{text}");
}

/// The SHA-256 of `data`.
fn sha(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// A file as a run lists it (no modification time: an earlier build's).
fn listed(path: &str, size: u64) -> dizzy_demos::dedupe::File {
    dizzy_demos::dedupe::File {
        path: path.into(),
        size,
        modified_ns: 0,
        changed_ns: 0,
        inode: 0,
    }
}

/// Writes to `db` the file a run of an earlier build left of the tree at
/// `root`: its state, the root directory (listed), and what `spawn` spawns.
fn earlier_run(db: &Path, root: &Path, spawn: impl FnOnce(&mut dizzy::Runtime)) {
    use dizzy_demos::dedupe::{Dedupe, DedupePlugin, Dir, Phase};
    let mut rt = dizzy::App::new()
        .db(db)
        .plugin(DedupePlugin::default())
        .open()
        .unwrap();
    rt.world_mut().insert_resource(Dedupe {
        root: std::fs::canonicalize(root)
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        phase: Phase::Scanning,
    });
    rt.spawn(Dir {
        path: String::new(),
    });
    spawn(&mut rt);
    rt.snapshot_full().unwrap();
    rt.close().unwrap();
}

/// A run written by an earlier build (files without a `dedupe.stage`, one
/// hashed, the others not yet) resumes with the stages this build adds:
/// nothing is grouped before every file has been through the pipeline.
#[test]
fn a_run_of_a_build_without_stages_resumes() {
    use dizzy_demos::dedupe::Sha256;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    write(&tree, b"a", b"twin");
    write(&tree, b"b", b"twin");
    write(&tree, b"c", b"other size");
    let db = dir.path().join("old.redb");
    earlier_run(&db, &tree, |rt| {
        rt.spawn((listed("a", 4), Sha256(sha(b"twin"))));
        rt.spawn(listed("b", 4));
        rt.spawn(listed("c", 10));
    });
    let report = dedupe_json(&tree, &db);
    assert_eq!(report["files"], 3);
    assert_eq!(reported_duplicates(&report), expected_duplicates(&tree));
    assert_eq!(reported_duplicates(&report).len(), 1);
}

/// A run of the build before small files had a partial hash: it hashed a
/// small file of a shared size whole (SHA-256) and set it aside as done. A
/// twin of it that run had not read yet is read by this build for its
/// partial hash: the two must still be one duplicate set.
#[test]
fn small_files_an_earlier_build_hashed_whole_meet_their_twins() {
    use dizzy_demos::dedupe::{Sha256, Stage};
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    write(&tree, b"a", b"twin");
    write(&tree, b"b", b"twin");
    write(&tree, b"c", b"diff");
    write(&tree, b"d", b"other size");
    let db = dir.path().join("old.redb");
    // As the earlier build left them: `a` and `c` hashed whole and done,
    // `b` still to read, `d` alone in its size.
    earlier_run(&db, &tree, |rt| {
        rt.spawn((listed("a", 4), Stage::Done, Sha256(sha(b"twin"))));
        rt.spawn((listed("c", 4), Stage::Done, Sha256(sha(b"diff"))));
        rt.spawn((listed("b", 4), Stage::Partial));
        rt.spawn((listed("d", 10), Stage::Done));
    });
    let report = dedupe_json(&tree, &db);
    assert_eq!(report["files"], 4);
    assert_eq!(reported_duplicates(&report), expected_duplicates(&tree));
    assert_eq!(reported_duplicates(&report).len(), 1, "{report}");
}

/// The report's `names` are the files themselves, byte for byte: a program
/// that opens or deletes them reaches each duplicate and nothing else,
/// even beside a file whose name is another's display text (`x\x0Ay`,
/// six characters, beside `x`, newline, `y`), found by a fresh tester.
#[test]
fn json_names_open_the_duplicates_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let a = b"AAAA\n".to_vec();
    for (rel, data) in [
        (&b"x\ny"[..], a.clone()),
        (b"z", a.clone()),
        (b"x\\x0Ay", b"BBBB\n".to_vec()),
        (b"tab\there", b"CCCC\n".to_vec()),
        (b"back\\slash", b"CCCC\n".to_vec()),
        (b"trail ", b"CCCC\n".to_vec()),
        (b"\xff\xfe", b"DDDD\n".to_vec()),
        (b"d\xe9/f", b"DDDD\n".to_vec()),
    ] {
        write(&tree, rel, &data);
    }
    let db = dir.path().join("d.redb");
    let report = dedupe_json(&tree, &db);
    let mut found: Vec<Vec<Vec<u8>>> = Vec::new();
    for set in report["duplicate_sets"].as_array().unwrap() {
        let names = set["names"].as_array().unwrap();
        assert_eq!(names.len(), set["paths"].as_array().unwrap().len(), "{set}");
        let mut members = Vec::new();
        for name in names {
            let bytes: Vec<u8> = match (name.get("text"), name.get("bytes")) {
                (Some(t), None) => t.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(b)) => {
                    let b: Vec<u8> = serde_json::from_value(b.clone()).unwrap();
                    assert!(std::str::from_utf8(&b).is_err(), "{name}: UTF-8 is text");
                    b
                }
                _ => panic!("a name is text or bytes: {name}"),
            };
            let content = std::fs::read(path(&tree, &bytes)).unwrap();
            assert_eq!(
                sha(&content).map(|b| format!("{b:02x}")).concat(),
                set["sha256"]
            );
            members.push(bytes);
        }
        found.push(members);
    }
    found.sort();
    assert_eq!(
        found,
        [
            vec![
                b"back\\slash".to_vec(),
                b"tab\there".to_vec(),
                b"trail ".to_vec()
            ],
            vec![b"d\xe9/f".to_vec(), b"\xff\xfe".to_vec()],
            vec![b"x\ny".to_vec(), b"z".to_vec()],
        ]
    );
    // A file changed since: named exactly too, in `changed_names`.
    std::fs::write(path(&tree, b"\xff\xfe"), b"EEEE\n").unwrap();
    let again = dedupe_json(&tree, &db);
    assert_eq!(again["changed_files"], serde_json::json!(["\\xFF\\xFE"]));
    assert_eq!(
        again["changed_names"],
        serde_json::json!([{ "bytes": [255, 254] }])
    );
    assert_eq!(again["unreadable_names"], serde_json::json!([]));
}
