//! A missing directory, a file that is not a dizzy file, a file of a newer
//! format and a snapshot naming an unregistered component each give a
//! one-line error naming the thing and a non-zero exit, and leave the file
//! exactly as it was.

use std::path::Path;

use dizzy::prelude::*;
use dizzy_tests::{dizzy, file_bytes, make_tree};

/// Compares without printing megabytes on failure.
fn same(a: &[u8], b: &[u8]) -> bool {
    a == b
}

fn fails(args: &[&str]) -> String {
    let out = dizzy().args(args).output().expect("run dizzy");
    assert!(!out.status.success(), "dizzy {args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn dedupe_fails(tree: &Path, db: &Path) -> String {
    fails(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ])
}

#[test]
fn missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.redb");
    let err = dedupe_fails(&dir.path().join("nope"), &db);
    assert!(err.contains("nope"), "{err}");
    assert!(!db.exists(), "no file is created");
}

/// A `--db` whose name holds a newline, a carriage return or a terminal
/// escape is named in the error with those written `\xNN`: one line that
/// cannot recolour or rewrite the terminal, and two paths never print alike.
#[test]
fn a_db_path_with_control_characters_is_named_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let cases = [
        ("no\nsuch/x.redb", "no\\x0Asuch"),
        ("e\u{1b}[31mred/x.redb", "e\\x1B[31mred"),
        ("c\rr/x.redb", "c\\x0Dr"),
        ("rtl\u{202E}gpj.exe/x.redb", "rtl\\u{202E}gpj.exe"),
    ];
    for (name, shown) in cases {
        let err = dedupe_fails(&tree, &dir.path().join(name));
        assert!(err.contains(shown), "{name:?}: {err}");
        assert!(err.contains("does not exist"), "{name:?}: {err}");
        assert!(
            !err.trim_end().contains(['\u{1b}', '\r', '\u{202E}']),
            "{err:?}"
        );
    }
    // A directory given as --db: `a b` and `a<newline>b` are told apart.
    std::fs::create_dir(dir.path().join("a b")).unwrap();
    std::fs::create_dir(dir.path().join("a\nb")).unwrap();
    let space = dedupe_fails(&tree, &dir.path().join("a b"));
    let newline = dedupe_fails(&tree, &dir.path().join("a\nb"));
    assert_ne!(space, newline);
    assert!(newline.contains("a\\x0Ab: is a directory"), "{newline}");
}

#[test]
fn not_a_redb_file() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 5, 100, 3);
    let db = dir.path().join("notes.txt");
    std::fs::write(&db, "these are my notes, not a database\n".repeat(300)).unwrap();
    let before = file_bytes(&db);
    let err = dedupe_fails(&tree, &db);
    assert!(
        err.contains("notes.txt") && err.contains("not a dizzy file"),
        "{err}"
    );
    assert!(same(&file_bytes(&db), &before), "the file is unchanged");

    let err = fails(&["snapshots", "--db", db.to_str().unwrap()]);
    assert!(err.contains("not a dizzy file"), "{err}");
    // What redb said, once: its own "Not a redb database: " is not repeated.
    assert!(
        err.contains("(not a redb database: magic number mismatch)")
            && err.to_lowercase().matches("not a redb database").count() == 1,
        "{err}"
    );
    let err = fails(&["snapshots", "--db", dir.path().to_str().unwrap()]);
    assert!(err.contains("is a directory"), "{err}");
}

#[test]
fn newer_format() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 5, 100, 4);
    let db = dir.path().join("d.redb");
    drop(dizzy::Store::open(&db).unwrap());
    {
        let rdb = redb::Database::open(&db).unwrap();
        let tx = rdb.begin_write().unwrap();
        {
            let mut meta = tx
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("dizzy.meta"))
                .unwrap();
            meta.insert("format", 99u32.to_le_bytes().as_slice())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let before = file_bytes(&db);
    let err = dedupe_fails(&tree, &db);
    assert!(err.contains("format 99"), "{err}");
    assert!(same(&file_bytes(&db), &before), "the file is unchanged");
}

#[derive(Component, Serialize, Deserialize)]
struct Extra(u32);

#[test]
fn unregistered_component() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 5, 100, 5);
    let db = dir.path().join("d.redb");
    let mut rt = App::new()
        .db(&db)
        .component::<Extra>("test.extra")
        .open()
        .unwrap();
    rt.spawn(Extra(1));
    rt.snapshot().unwrap();
    rt.close().unwrap();
    let before = file_bytes(&db);
    let err = dedupe_fails(&tree, &db);
    assert!(
        err.contains("`test.extra`") && err.contains("not a dedupe run"),
        "{err}"
    );
    assert!(same(&file_bytes(&db), &before), "the file is unchanged");
}

/// Each demo given the other's file says the file is not a run of it and
/// names a component it holds, instead of advice to register the type.
#[test]
fn a_file_of_the_other_demo_is_named_not_a_run_of_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 10, 100, 7);
    let particles = dir.path().join("p.redb");
    let dedupe = dir.path().join("d.redb");
    let (p, d) = (particles.to_str().unwrap(), dedupe.to_str().unwrap());
    let out = dizzy()
        .args([
            "demo",
            "particles",
            "--entities",
            "50",
            "--ticks",
            "2",
            "--db",
            p,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = dizzy()
        .args([
            "demo",
            "dedupe",
            tree.to_str().unwrap(),
            "--db",
            d,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = dedupe_fails(&tree, &particles);
    assert!(
        err.contains(p) && err.contains("not a dedupe run") && err.contains("`particles."),
        "{err}"
    );
    let err = fails(&["demo", "particles", "--ticks", "3", "--db", d]);
    assert!(
        err.contains(d) && err.contains("not a particles run") && err.contains("`dedupe."),
        "{err}"
    );
}

/// A `--db` that cannot name a file says which part of it is wrong, and a
/// file of /proc (0 bytes by its size, data when read) is not called an
/// empty file to remove (found by a fresh tester: "Not a directory (os
/// error 20)" for a path ending in `/` that did not exist, and for a file
/// below a regular file, without saying which part).
#[test]
fn a_db_path_that_cannot_name_a_file_says_which_part() {
    let dir = tempfile::tempdir().unwrap();
    let slash = format!("{}/newdir/", dir.path().display());
    let err = fails(&[
        "demo",
        "particles",
        "--db",
        &slash,
        "--entities",
        "10",
        "--ticks",
        "1",
    ]);
    assert!(err.contains("ends in `/`"), "{err}");
    assert!(!dir.path().join("newdir").exists(), "nothing made");
    let file = dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let below = format!("{}/x.redb", file.display());
    let err = fails(&[
        "demo",
        "particles",
        "--db",
        &below,
        "--entities",
        "10",
        "--ticks",
        "1",
    ]);
    assert!(
        err.contains(&format!("`{}` is a file, not a directory", file.display())),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    let err = fails(&["snapshots", "--db", "/proc/self/status"]);
    assert!(
        err.contains("special file") && !err.contains("remove it"),
        "{err}"
    );
}

/// A bundle cut inside its header says it is truncated (found by a fresh
/// tester: "a codec name of 22 bytes", the real length of a valid name).
#[test]
fn a_bundle_cut_inside_its_header_is_named_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.redb");
    let p = db.to_str().unwrap();
    let out = dizzy()
        .args([
            "demo",
            "particles",
            "--db",
            p,
            "--entities",
            "50",
            "--ticks",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let bundle = dir.path().join("all.bundle");
    let out = dizzy()
        .args(["export", "--db", p, "--with", "particles.position", "-o"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&bundle).unwrap();
    for n in [37, 46, 53] {
        let cut = dir.path().join(format!("cut{n}.bundle"));
        std::fs::write(&cut, &bytes[..n]).unwrap();
        let target = dir.path().join(format!("t{n}.redb"));
        let err = fails(&[
            "import",
            "--db",
            target.to_str().unwrap(),
            cut.to_str().unwrap(),
        ]);
        assert!(err.contains("truncated"), "{n} bytes: {err}");
    }
}
