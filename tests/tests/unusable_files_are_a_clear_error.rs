//! Files dizzy cannot use — one that another running process has open, a
//! read-only one, a directory, an empty file, files of other programs (a
//! SQLite database, a PNG, a redb database without dizzy's tables) — give a
//! one-line `error:` naming the path and exit code 1 (never a panic's 101),
//! through the command that resumes a run and the one that lists snapshots,
//! and leave the file exactly as it was. (A text file, a newer format and an
//! unregistered component are in `bad_input_is_a_clear_error`.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use dizzy_tests::{dizzy, file_bytes};

/// Runs `dizzy <args> --db <db>`; asserts a one-line error naming `db` and
/// exit code 1; returns the message.
fn refused(args: &[&str], db: &Path) -> String {
    let out = dizzy()
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("DIZZY_LOG")
        .output()
        .expect("run dizzy");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "dizzy {args:?}: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(&db.display().to_string()),
        "names the path: {err}"
    );
    err
}

const RESUME: [&str; 7] = [
    "demo",
    "particles",
    "--entities",
    "10",
    "--ticks",
    "2",
    "--json",
];
const LIST: [&str; 1] = ["snapshots"];

/// Both commands refuse `db` with a message containing `expect`; `db` is
/// unchanged. Returns how many refusals were checked.
fn both_refuse(db: &Path, expect: &str) -> usize {
    let before = file_bytes(db);
    for args in [&RESUME[..], &LIST[..]] {
        let err = refused(args, db);
        assert!(err.contains(expect), "dizzy {args:?}: {err}");
        assert!(file_bytes(db) == before, "{}: changed", db.display());
    }
    2
}

/// A small dizzy file made by the binary.
fn dizzy_file(db: &Path) {
    let out = dizzy()
        .args(RESUME)
        .arg("--db")
        .arg(db)
        .output()
        .expect("run dizzy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn directory_empty_file_and_other_programs_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut refusals = 0;

    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).expect("mkdir");
    refusals += both_refuse(&sub, "is a directory");
    assert_eq!(std::fs::read_dir(&sub).expect("list").count(), 0);

    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").expect("write");
    refusals += both_refuse(&empty, "empty file");

    let mut sqlite = b"SQLite format 3\0".to_vec();
    sqlite.extend_from_slice(&[0x10, 0x00, 0x01, 0x01, 0x00, 0x40, 0x20, 0x20]);
    sqlite.resize(8192, 0);
    let db = dir.path().join("app.sqlite");
    std::fs::write(&db, &sqlite).expect("write");
    refusals += both_refuse(&db, "not a dizzy file");

    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
    png.resize(600, 0x42);
    let db = dir.path().join("picture.png");
    std::fs::write(&db, &png).expect("write");
    refusals += both_refuse(&db, "not a dizzy file");

    let db = dir.path().join("other.redb");
    {
        let rdb = redb::Database::create(&db).expect("redb");
        let tx = rdb.begin_write().expect("tx");
        {
            let def = redb::TableDefinition::<u64, u64>::new("their.table");
            tx.open_table(def)
                .expect("table")
                .insert(1, 2)
                .expect("insert");
        }
        tx.commit().expect("commit");
    }
    refusals += both_refuse(&db, "not a dizzy file");
    println!("unusable files: {refusals} refusals, each one line naming the path, exit code 1");
}

#[test]
fn a_file_in_use_by_another_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("busy.redb");
    // A run that would go on for a long time, stopped right after its first
    // commit so that the file does not change while it is looked at.
    let mut owner = dizzy()
        .args([
            "demo",
            "particles",
            "--entities",
            "2000",
            "--ticks",
            "100000000",
        ])
        .arg("--db")
        .arg(&db)
        .env("DIZZY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dizzy");
    let stderr = owner.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("committed snapshot"))),
        "the first run commits"
    );
    let pid = owner.id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill -STOP");
    assert!(stopped.success());
    // SIGSTOP lands asynchronously, thread by thread: wait until every
    // thread is stopped, so that no write of the writer thread lands after
    // `before` is read.
    let tasks = format!("/proc/{pid}/task");
    let is_stopped = || {
        std::fs::read_dir(&tasks).is_ok_and(|dir| {
            dir.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat")).is_ok_and(|s| {
                    s.rsplit(')')
                        .next()
                        .is_some_and(|rest| rest.trim_start().starts_with('T'))
                })
            })
        })
    };
    let waited = std::time::Instant::now();
    while !is_stopped() && waited.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(is_stopped(), "the first run is stopped");

    let before = file_bytes(&db);
    let err = refused(&RESUME, &db);
    assert!(err.contains("in use by another process"), "{err}");
    let err = refused(&LIST, &db);
    assert!(err.contains("in use by another process"), "{err}");
    match dizzy::Store::open(&db) {
        Err(e) => assert!(e.to_string().contains("in use by another process"), "{e}"),
        Ok(_) => panic!("opened a file another process has open"),
    }
    assert!(file_bytes(&db) == before, "the file is unchanged");
    println!("file in use by another process: 3 refusals (resume, list, open), file unchanged");

    owner.kill().expect("kill the first run");
    owner.wait().expect("wait");
    drop(lines);
    // Its lock dies with it: the file resumes.
    let out = dizzy()
        .args(RESUME)
        .arg("--db")
        .arg(&db)
        .output()
        .expect("run dizzy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `path` immutable (`chattr +i`) for as long as it lives: as root,
/// permission bits do not stop a write, the immutable attribute does.
struct Immutable<'a>(&'a Path);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .status();
    }
}

#[test]
fn a_read_only_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("ro.redb");
    dizzy_file(&db);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let writable = || std::fs::OpenOptions::new().write(true).open(&db).is_ok();
    let mut guard = None;
    if writable() {
        // Running as root: make it immutable instead, if the file system can.
        let made = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&db)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            guard = Some(Immutable(&db));
        }
    }
    // Listing only reads: it works on a read-only file.
    let out = dizzy()
        .args(LIST)
        .arg("--db")
        .arg(&db)
        .output()
        .expect("run dizzy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if writable() {
        println!(
            "read-only file: skipped the refusal check: this process may write to a 0444 file \
             (root) and the file system has no immutable attribute"
        );
        return;
    }
    let before = file_bytes(&db);
    let err = refused(&RESUME, &db);
    assert!(
        err.contains("Permission denied") || err.contains("not permitted"),
        "{err}"
    );
    assert!(file_bytes(&db) == before, "the file is unchanged");
    println!("read-only file: 1 refusal to resume, listing works, file unchanged");
    drop(guard);
}
