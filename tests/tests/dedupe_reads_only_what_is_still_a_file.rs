//! What a resumed `dizzy demo dedupe` finds on disk may not be what it
//! listed: a file replaced by a FIFO or by a symlink (to `/dev/zero`), a
//! directory that vanished, another root that differs only in bytes that
//! are not UTF-8. None of it hangs, is followed, or is silently dropped;
//! and the files it reads again to check them are counted.
#![cfg(unix)]

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dizzy::App;
use dizzy_demos::dedupe::{Dedupe, DedupePlugin, Dir, File, Phase, Stage, Unlisted};
use dizzy_tests::{dedupe_json, dizzy, reported_sets};

/// A dedupe file of a run at `root` that listed `files` (path, size) and
/// stopped before reading any, with `unlisted` directories still to list.
fn listed_run(db: &Path, root: &Path, files: &[(&str, u64)], unlisted: &[&str]) {
    let mut rt = App::new()
        .db(db)
        .plugin(DedupePlugin::default())
        .open()
        .unwrap();
    let root = std::fs::canonicalize(root).unwrap();
    rt.world_mut().insert_resource(Dedupe {
        root: dizzy_demos::dedupe::display(root.as_os_str().as_bytes()),
        phase: Phase::Scanning,
    });
    rt.spawn(Dir {
        path: String::new(),
    });
    for path in unlisted {
        rt.spawn((
            Dir {
                path: (*path).into(),
            },
            Unlisted,
        ));
    }
    for (path, size) in files {
        let file = File {
            path: (*path).into(),
            size: *size,
            modified_ns: 0,
            changed_ns: 0,
            inode: 0,
        };
        rt.spawn((file, Stage::Listed));
    }
    rt.snapshot_full().unwrap();
    rt.close().unwrap();
}

/// The paths the report names as unreadable, in order.
fn unreadable_named(report: &serde_json::Value) -> Vec<&str> {
    report["unreadable_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u[0].as_str().unwrap())
        .collect()
}

/// Runs the demo on `root` with `db`; it must end (successfully) within a
/// minute. Returns the JSON report.
fn run(root: &Path, db: &Path) -> serde_json::Value {
    let mut child = dizzy()
        .args(["demo", "dedupe"])
        .arg(root)
        .arg("--db")
        .arg(db)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("dizzy demo dedupe did not end within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_listed_file_that_is_now_a_fifo_or_a_symlink_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for name in ["a", "d", "e"] {
        std::fs::write(tree.join(name), b"hello").unwrap();
    }
    let db = dir.path().join("d.redb");
    listed_run(
        &db,
        &tree,
        &[("a", 5), ("b", 5), ("c", 5), ("d", 5), ("e", 5)],
        &["gone"],
    );
    // Since it was listed: `b` is a FIFO nobody writes to, `c` a symlink
    // to an endless device, `e` a symlink to a regular file of the same
    // content, and the directory `gone` is gone.
    let status = std::process::Command::new("mkfifo")
        .arg(tree.join("b"))
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("/dev/zero", tree.join("c")).unwrap();
    std::fs::remove_file(tree.join("e")).unwrap();
    std::fs::write(dir.path().join("target"), b"hello").unwrap();
    std::os::unix::fs::symlink(dir.path().join("target"), tree.join("e")).unwrap();

    let report = run(&tree, &db);
    let sets = report["duplicate_sets"].as_array().unwrap();
    assert_eq!(sets.len(), 1, "{report}");
    assert_eq!(sets[0]["paths"], serde_json::json!(["a", "d"]));
    let named = unreadable_named(&report);
    assert_eq!(named, ["b", "c", "e", "gone/"], "{report}");
    assert_eq!(report["unreadable"], 4);

    // On a terminal, the summary counts them and names each.
    let out = dizzy()
        .args(["demo", "dedupe"])
        .arg(&tree)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("1 duplicate sets, 4 unreadable"), "{text}");
    assert!(text.contains("unreadable: gone/: "), "{text}");
}

/// Found by a fresh tester: a listed file of more than 8 KiB whose size
/// no other file shares once its ends are hashed was never read whole, so
/// a device put in its place (`mknod c 1 5`, `/dev/zero`) between a kill
/// and the resume, or a file grown since, was done without a word.
#[test]
fn a_listed_file_grown_or_now_a_device_is_named_changed_at_its_partial_hash() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    const SIZE: u64 = 20_000;
    std::fs::write(tree.join("kept"), vec![1u8; SIZE as usize]).unwrap();
    std::fs::write(tree.join("grown"), vec![2u8; SIZE as usize + 1]).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(tree.join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    // A character device needs CAP_MKNOD (CI runs as root).
    let device = std::process::Command::new("mknod")
        .arg(tree.join("device"))
        .args(["c", "1", "5"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let db = dir.path().join("d.redb");
    let mut listed = vec![("kept", SIZE), ("grown", SIZE), ("fifo", SIZE)];
    if device {
        listed.push(("device", SIZE));
    }
    listed_run(&db, &tree, &listed, &[]);

    let report = run(&tree, &db);
    assert_eq!(report["duplicate_sets"], serde_json::json!([]), "{report}");
    let named: Vec<(&str, &str)> = report["unreadable_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u[0].as_str().unwrap(), u[1].as_str().unwrap()))
        .collect();
    let mut expected = vec![];
    if device {
        expected.push((
            "device",
            "changed since it was listed: 20000 bytes listed, 20001 or more read",
        ));
    }
    expected.push((
        "fifo",
        "changed since it was listed: not a regular file any more",
    ));
    expected.push((
        "grown",
        "changed since it was listed: 20000 bytes listed, 20001 or more read",
    ));
    assert_eq!(named, expected, "{report}");
}

#[test]
fn roots_that_differ_only_in_bytes_that_are_not_utf8_are_two_roots() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join(std::ffi::OsStr::from_bytes(b"mix\xff"));
    let other = dir.path().join(std::ffi::OsStr::from_bytes(b"mix\xfe"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(one.join("x"), b"same").unwrap();
    std::fs::write(one.join("y"), b"same").unwrap();
    std::fs::write(other.join("x"), b"diff").unwrap();
    let db = dir.path().join("d.redb");
    let report = run(&one, &db);
    assert_eq!(report["duplicate_sets"].as_array().unwrap().len(), 1);
    let out = dizzy()
        .args(["demo", "dedupe"])
        .arg(&other)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("holds a dedupe run of")
            && err.contains("mix\\xFF")
            && err.contains("mix\\xFE"),
        "{err}"
    );
}

#[test]
fn files_read_again_to_check_them_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a"), b"twin").unwrap();
    std::fs::write(tree.join("b"), b"twin").unwrap();
    let db = dir.path().join("d.redb");
    let first = run(&tree, &db);
    // Each twin read twice: for its partial hash (all of it, it is small),
    // and for its SHA-256, as the partial hashes are equal.
    assert_eq!(first["hashed_this_run"], 4);
    // Same content, a new modification time: read again at report time.
    let file = std::fs::File::options()
        .write(true)
        .open(tree.join("a"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(file);
    let again = dedupe_json(&tree, &db);
    assert_eq!(again["hashed_this_run"], 1, "{again}");
    assert_eq!(again["changed"], 0);
    assert_eq!(again["duplicate_sets"], first["duplicate_sets"]);
}

#[test]
fn a_directory_that_is_now_a_symlink_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    for sub in ["sub", "deep/er", "later"] {
        std::fs::create_dir_all(tree.join(sub)).unwrap();
    }
    // Elsewhere, outside the tree: twins that the tree never held.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("er")).unwrap();
    for name in ["x", "y", "er/x", "er/y"] {
        std::fs::write(elsewhere.join(name), b"twin").unwrap();
    }
    let db = dir.path().join("d.redb");
    listed_run(
        &db,
        &tree,
        &[("sub/x", 4), ("sub/y", 4)],
        &["later", "deep/er"],
    );
    // Since they were listed: `sub` (whose files were listed) and `deep`
    // (above a directory still to list) and `later` (to list) are symlinks
    // to directories outside the tree.
    for (name, to) in [
        ("sub", elsewhere.clone()),
        ("deep", elsewhere.clone()),
        ("later", elsewhere.clone()),
    ] {
        std::fs::remove_dir_all(tree.join(name)).unwrap();
        std::os::unix::fs::symlink(to, tree.join(name)).unwrap();
    }
    let report = run(&tree, &db);
    assert_eq!(report["duplicate_sets"], serde_json::json!([]), "{report}");
    let named = unreadable_named(&report);
    assert_eq!(named, ["deep/er/", "later/", "sub/x", "sub/y"], "{report}");
    assert_eq!(report["hashed_this_run"], 0, "nothing was read: {report}");
}

/// Files of equal size and equal modification time (as `tar`, `cp -p` or
/// `rsync -a` leave them) swapped by renames after a finished run, and one
/// rewritten in place with its modification time set back: the next run
/// of the same file puts none of them in a set its content is not.
#[test]
fn a_file_moved_or_rewritten_behind_its_times_is_checked_again() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for (name, data) in [
        ("a", "AAAA content 0123456789"),
        ("c", "AAAA content 0123456789"),
        ("b", "BBBB content 0123456789"),
        ("d", "BBBB content 0123456789"),
        ("e", "EEEE content 0123456789"),
        ("f", "EEEE content 0123456789"),
    ] {
        std::fs::write(tree.join(name), data).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(tree.join(name))
            .unwrap();
        f.set_modified(when).unwrap();
    }
    let db = dir.path().join("d.redb");
    let first = run(&tree, &db);
    assert_eq!(
        reported_sets(&first),
        [vec!["a", "c"], vec!["b", "d"], vec!["e", "f"]]
    );
    // Swap a and b by renames; rewrite e as a copy of b, times set back.
    std::fs::rename(tree.join("a"), tree.join("t")).unwrap();
    std::fs::rename(tree.join("b"), tree.join("a")).unwrap();
    std::fs::rename(tree.join("t"), tree.join("b")).unwrap();
    std::fs::write(tree.join("e"), "BBBB content 0123456789").unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(tree.join("e"))
        .unwrap();
    f.set_modified(when).unwrap();
    drop(f);
    let again = dedupe_json(&tree, &db);
    // Each set keeps only files that still hold its content.
    assert_eq!(reported_sets(&again), Vec::<Vec<String>>::new(), "{again}");
    let mut changed: Vec<&str> = again["changed_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    changed.sort();
    assert_eq!(changed, ["a", "b", "e"], "{again}");
    assert_eq!(again["hashed_this_run"], 3, "the three read again: {again}");
}

/// After a finished run, a directory above listed files is replaced by a
/// symlink to a copy of it outside the tree: the next run never vouches for
/// paths that now lead outside (they are changed), and reads nothing there.
#[test]
fn a_symlink_put_above_listed_files_is_not_followed_at_report_time() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("d")).unwrap();
    for (name, data) in [("d/a", "twin"), ("d/c", "twin"), ("top", "twin")] {
        std::fs::write(tree.join(name), data).unwrap();
    }
    let db = dir.path().join("d.redb");
    let first = run(&tree, &db);
    assert_eq!(reported_sets(&first), [vec!["d/a", "d/c", "top"]]);
    let outside = dir.path().join("outside");
    std::fs::rename(tree.join("d"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("d")).unwrap();
    let again = dedupe_json(&tree, &db);
    assert_eq!(reported_sets(&again), Vec::<Vec<String>>::new(), "{again}");
    assert_eq!(again["changed"], 2, "{again}");
    assert_eq!(again["hashed_this_run"], 0, "nothing read outside: {again}");
}
