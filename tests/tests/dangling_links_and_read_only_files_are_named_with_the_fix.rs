//! Guards two unusable paths (issue 12, item 5): a dangling symbolic link
//! as `--db` is named as a link with its missing target; a killed run's file
//! that needs a repair but cannot be written (no write permission on the
//! file and its directory) says so and how to inspect it, and is left as it
//! was. A finished dedupe run rerun while a directory of its sets cannot
//! be read names those files unreadable for that report, and finds them
//! again in their set once access is back (not "changed since listed"). As
//! root, permissions do not bind: the process then runs as `nobody`
//! (setpriv), as a user would meet read-only media.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use dizzy_tests::{dizzy, dizzy_bin, dizzy_json};

#[test]
fn a_dangling_link_as_db_names_the_link_and_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("run.redb");
    let gone = dir.path().join("moved-away.redb");
    std::os::unix::fs::symlink(&gone, &link).unwrap();
    for args in [
        vec!["show", "--db"],
        vec!["snapshots", "--db"],
        vec!["demo", "particles", "--ticks", "1", "--db"],
    ] {
        let o = dizzy().args(&args).arg(&link).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            err.contains(&*link.to_string_lossy())
                && err.contains("symbolic link")
                && err.contains("moved-away.redb"),
            "{args:?}: {err}"
        );
        assert!(!gone.exists(), "nothing created behind the link");
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `dizzy args` as a user without write access (`nobody` when run as root).
fn dizzy_unprivileged(args: &[&str]) -> std::process::Output {
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(dizzy_bin());
        c
    } else {
        Command::new(dizzy_bin())
    };
    c.args(args).output().unwrap()
}

/// A particles run killed with SIGKILL while it commits (the file then
/// needs redb's repair).
fn killed_run(db: &Path) {
    let mut child = Command::new(dizzy_bin())
        .args([
            "demo",
            "particles",
            "--entities",
            "5000",
            "--ticks",
            "100000",
        ])
        .arg("--db")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    while std::fs::metadata(db).map_or(0, |m| m.len()) < 200_000 {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_killed_runs_file_without_write_access_says_it_needs_a_repair_and_how() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let db = ro.join("killed.redb");
    killed_run(&db);
    let before = std::fs::read(&db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db_arg = db.to_string_lossy().into_owned();
    for args in [
        vec!["show", "--db", &db_arg],
        vec!["snapshots", "--db", &db_arg],
        vec!["stats", "--db", &db_arg],
    ] {
        let o = dizzy_unprivileged(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}: {err}");
        assert!(
            err.contains(&db_arg) && err.contains("needs a repair") && err.contains("copy"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is as it was");
    // What the message says works: a copy opens, with the committed
    // snapshots.
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&db, &copy).unwrap();
    let list = dizzy_json(&["snapshots", "--db", &copy.to_string_lossy(), "--json"]);
    assert!(!list.as_array().unwrap().is_empty(), "{list}");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A finished run's file without write permission: running on it (the
/// same root or another) says it cannot be opened for writing, why, and
/// that reading needs no write access; reading it works; its bytes are as
/// they were.
#[test]
fn a_read_only_db_given_to_a_run_says_it_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(a.join("f"), b"x").unwrap();
    let db = dir.path().join("run.redb");
    let db_arg = db.to_string_lossy().into_owned();
    let particles = dir.path().join("particles.redb");
    let particles_arg = particles.to_string_lossy().into_owned();
    dizzy_json(&[
        "demo",
        "dedupe",
        a.to_str().unwrap(),
        "--db",
        &db_arg,
        "--json",
    ]);
    dizzy_json(&[
        "demo",
        "particles",
        "--entities",
        "100",
        "--ticks",
        "2",
        "--db",
        &particles_arg,
        "--json",
    ]);
    for f in [&db, &particles] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::read(&db).unwrap();
    for args in [
        vec!["demo", "dedupe", a.to_str().unwrap(), "--db", &db_arg],
        vec!["demo", "dedupe", b.to_str().unwrap(), "--db", &db_arg],
        vec!["demo", "particles", "--ticks", "3", "--db", &particles_arg],
    ] {
        let db_arg = args[args.len() - 1];
        let o = dizzy_unprivileged(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}: {err}");
        assert!(
            err.contains(db_arg)
                && err.contains("cannot be opened for writing")
                && err.contains("ermission denied"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let o = dizzy_unprivileged(&["snapshots", "--db", &db_arg, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is as it was");
}

/// `dizzy demo dedupe TREE --db DB --json` as [`dizzy_unprivileged`]: its
/// report.
fn dedupe_unprivileged(tree: &Path, db: &Path) -> serde_json::Value {
    let (tree, db) = (tree.to_str().unwrap(), db.to_str().unwrap());
    let o = dizzy_unprivileged(&["demo", "dedupe", tree, "--db", db, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The paths of the report's sets, and its `changed` count.
fn sets_and_changed(report: &serde_json::Value) -> (Vec<Vec<String>>, u64) {
    let sets = report["duplicate_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    (sets, report["changed"].as_u64().unwrap())
}

#[test]
fn a_file_that_cannot_be_checked_again_is_unreadable_until_access_returns() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let sub = tree.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("a"), b"the same content").unwrap();
    std::fs::write(sub.join("b"), b"the same content").unwrap();
    std::fs::write(tree.join("c"), b"the same content").unwrap();
    std::fs::write(tree.join("d"), b"other content").unwrap();
    if is_root() {
        for p in [dir.path(), &tree, &sub, &sub.join("a"), &sub.join("b")] {
            std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
        }
        for p in [tree.join("c"), tree.join("d")] {
            std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
        }
    }
    let db = dir.path().join("run.redb");
    let all = vec![vec!["c".to_owned(), "sub/a".to_owned(), "sub/b".to_owned()]];
    assert_eq!(
        sets_and_changed(&dedupe_unprivileged(&tree, &db)),
        (all.clone(), 0)
    );

    // The directory cannot be searched now: its files are not checked, not
    // changed.
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o000)).unwrap();
    let report = dedupe_unprivileged(&tree, &db);
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(sets_and_changed(&report), (vec![], 0), "{report}");
    let unreadable = report["unreadable_files"].to_string();
    assert!(
        unreadable.contains("sub/a")
            && unreadable.contains("sub/b")
            && unreadable.contains("not checked again")
            && unreadable.contains("ermission denied"),
        "{report}"
    );
    assert_eq!(report["unreadable"], 2, "{report}");

    // Access is back: the set is whole again.
    assert_eq!(
        sets_and_changed(&dedupe_unprivileged(&tree, &db)),
        (all.clone(), 0)
    );

    // A file made unreadable itself (its change time moves, so it is
    // opened to be hashed again): not checked, then found the same.
    let a = sub.join("a");
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o000)).unwrap();
    let report = dedupe_unprivileged(&tree, &db);
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o644)).unwrap();
    let expected = vec![vec!["c".to_owned(), "sub/b".to_owned()]];
    assert_eq!(sets_and_changed(&report), (expected, 0), "{report}");
    assert!(
        report["unreadable_files"].to_string().contains("sub/a"),
        "{report}"
    );
    assert_eq!(sets_and_changed(&dedupe_unprivileged(&tree, &db)), (all, 0));

    // A file that did change is still found changed.
    std::fs::write(sub.join("b"), b"THE SAME CONTENT").unwrap();
    let report = dedupe_unprivileged(&tree, &db);
    let expected = vec![vec!["c".to_owned(), "sub/a".to_owned()]];
    assert_eq!(sets_and_changed(&report), (expected, 1), "{report}");
}
