//! Guards two unusable paths (issue 12, item 5): a dangling symbolic link
//! as `--db` is named as a link with its missing target; a killed run's file
//! that needs a repair but cannot be written (no write permission on the
//! file and its directory) says so and how to inspect it, and is left as it
//! was. As root, permissions do not bind: the inspecting process then runs
//! as `nobody` (setpriv), as a user would meet read-only media.

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
