//! Guards the commands that write a file (`export -o`, `export-table -o`;
//! issue 12, item 3): an output that is the database — by the same path,
//! through a symbolic or a hard link — is refused and the database is left
//! as it was; the temporary file never has a name a user's file could have
//! (`notes.partial` survives), none is left behind, and the written file is
//! whole.

use std::path::{Path, PathBuf};

use dizzy_tests::{dizzy, dizzy_json, dizzy_ok};

/// A dedupe run's file in `dir`.
fn run(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a"), b"same\n").unwrap();
    std::fs::write(tree.join("sub/b"), b"same\n").unwrap();
    std::fs::write(tree.join("c"), b"other\n").unwrap();
    let db = dir.join("run.redb");
    dizzy_json(&[
        "demo",
        "dedupe",
        &tree.to_string_lossy(),
        "--db",
        &db.to_string_lossy(),
        "--json",
    ]);
    db
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn an_output_that_is_the_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = run(dir.path());
    let before = std::fs::read(&db).unwrap();
    let symlink = dir.path().join("link.bundle");
    std::os::unix::fs::symlink(&db, &symlink).unwrap();
    let hard = dir.path().join("hard.redb");
    std::fs::hard_link(&db, &hard).unwrap();
    let same_by_another_path = dir.path().join(".").join("run.redb");
    let mut refused = 0;
    for out in [&db, &symlink, &hard, &same_by_another_path] {
        for args in [
            vec!["export", "--with", "dedupe.file"],
            vec!["export-table", "--with", "dedupe.file"],
        ] {
            let o = dizzy()
                .args(&args)
                .arg("--db")
                .arg(&db)
                .arg("-o")
                .arg(out)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success(), "{args:?} -o {}: {err}", out.display());
            assert!(
                err.contains("is the database") && err.contains(&*out.to_string_lossy()),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
            refused += 1;
        }
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database is as it was"
    );
    dizzy_json(&["snapshots", "--db", &db.to_string_lossy(), "--json"]);
    eprintln!("destructive paths refused: {refused}");
}

#[test]
fn temporary_files_never_replace_a_users_file_and_outputs_are_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = run(dir.path());
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // Files of the user's with the names earlier builds used for
    // temporaries.
    for name in ["notes.partial", "notes.txt.partial", "table.jsonl.partial"] {
        std::fs::write(out_dir.join(name), b"mine").unwrap();
    }
    let bundle = out_dir.join("notes.txt");
    dizzy_json(&[
        "export",
        "--db",
        &db.to_string_lossy(),
        "--with",
        "dedupe.duplicate_set",
        "-o",
        &bundle.to_string_lossy(),
    ]);
    let table = out_dir.join("table.jsonl");
    dizzy_ok(&[
        "export-table",
        "--db",
        &db.to_string_lossy(),
        "--with",
        "dedupe.file",
        "-o",
        &table.to_string_lossy(),
    ]);
    for name in ["notes.partial", "notes.txt.partial", "table.jsonl.partial"] {
        assert_eq!(
            std::fs::read(out_dir.join(name)).unwrap(),
            b"mine",
            "{name}"
        );
    }
    assert_eq!(
        files_in(&out_dir),
        [
            "notes.partial",
            "notes.txt",
            "notes.txt.partial",
            "table.jsonl",
            "table.jsonl.partial"
        ],
        "no temporary file left"
    );
    assert_eq!(std::fs::read_to_string(&table).unwrap().lines().count(), 3);
    // The bundle is whole: it imports.
    let target = dir.path().join("target.redb");
    let imported = dizzy_json(&[
        "import",
        "--db",
        &target.to_string_lossy(),
        &bundle.to_string_lossy(),
    ]);
    assert!(imported["imported"].as_u64().unwrap() >= 3, "{imported}");
}

#[test]
fn a_name_of_250_bytes_works_for_every_file_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = run(dir.path());
    let long = |ext: &str| {
        dir.path()
            .join(format!("{}.{ext}", "n".repeat(250 - ext.len() - 1)))
    };
    let bundle = long("bundle");
    assert_eq!(bundle.file_name().unwrap().len(), 250);
    dizzy_json(&[
        "export",
        "--db",
        &db.to_string_lossy(),
        "--with",
        "dedupe.file",
        "-o",
        &bundle.to_string_lossy(),
    ]);
    let table = long("csv");
    dizzy_ok(&[
        "export-table",
        "--db",
        &db.to_string_lossy(),
        "--with",
        "dedupe.file",
        "--format",
        "csv",
        "-o",
        &table.to_string_lossy(),
    ]);
    // A new database of a 250-byte name: created, and an import into it.
    let new_db = long("redb");
    let imported = dizzy_json(&[
        "import",
        "--db",
        &new_db.to_string_lossy(),
        &bundle.to_string_lossy(),
    ]);
    assert!(imported["imported"].as_u64().unwrap() >= 3, "{imported}");
    let particles = long("particles");
    let p = dizzy_json(&[
        "demo",
        "particles",
        "--entities",
        "100",
        "--ticks",
        "3",
        "--db",
        &particles.to_string_lossy(),
        "--json",
    ]);
    assert_eq!(p["ticks"], 3);
    for f in [&bundle, &table, &new_db, &particles] {
        assert!(f.is_file(), "{}", f.display());
    }
}
