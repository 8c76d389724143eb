//! Devices, named pipes and links as inputs and outputs (found by a fresh
//! tester attacking the binary): an output that is a device or a named pipe
//! is written in place, never replaced by a regular file (`-o /dev/null` as
//! root once turned the system's `/dev/null` into a file); a link is
//! followed and the file it names keeps its permissions; a named pipe or a
//! device given as a bundle or as `--db` is refused with what it is, never
//! waited on; output that cannot be written makes the command exit 1, with
//! the error said once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use dizzy_tests::{dizzy, dizzy_ok};

fn particles(dir: &Path) -> PathBuf {
    let db = dir.join("p.redb");
    dizzy_ok(&[
        "demo",
        "particles",
        "--entities",
        "500",
        "--ticks",
        "3",
        "--db",
        db.to_str().unwrap(),
    ]);
    db
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn outputs_that_are_devices_pipes_or_links_are_written_in_place() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let db = particles(dir.path());
    let db_s = db.to_str().unwrap();

    // A named pipe: a reader gets the whole bundle; the pipe stays a pipe.
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            bytes
        })
    };
    dizzy_ok(&[
        "export",
        "--db",
        db_s,
        "--with",
        "particles.position",
        "-o",
        fifo.to_str().unwrap(),
    ]);
    let through_pipe = reader.join().unwrap();
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    let file = dir.path().join("x.bundle");
    dizzy_ok(&[
        "export",
        "--db",
        db_s,
        "--with",
        "particles.position",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        through_pipe.len(),
        std::fs::read(&file).unwrap().len(),
        "the pipe carried the whole bundle"
    );

    // /dev/null: written, still a device.
    dizzy_ok(&[
        "export",
        "--db",
        db_s,
        "--with",
        "particles.position",
        "-o",
        "/dev/null",
    ]);
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );

    // /dev/full: an error naming it, exit 1, still a device.
    let out = dizzy()
        .args([
            "export",
            "--db",
            db_s,
            "--with",
            "particles.position",
            "-o",
            "/dev/full",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/full"), "{err}");
    assert!(
        std::fs::metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device()
    );

    // A link to a private file: the file is replaced, keeps 0600, the
    // link stays a link.
    let private = dir.path().join("private.csv");
    std::fs::write(&private, "old").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    dizzy_ok(&[
        "export-table",
        "--db",
        db_s,
        "--with",
        "particles.position",
        "--format",
        "csv",
        "-o",
        link.to_str().unwrap(),
    ]);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&private)
            .unwrap()
            .starts_with("\"uid\"")
    );
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[cfg(unix)]
#[test]
fn inputs_that_are_pipes_or_devices_are_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let target = dir.path().join("t.redb");
    for args in [
        vec![
            "import",
            "--db",
            target.to_str().unwrap(),
            fifo.to_str().unwrap(),
        ],
        vec!["snapshots", "--db", fifo.to_str().unwrap()],
        vec!["snapshots", "--db", "/dev/null"],
        vec!["import", "--db", target.to_str().unwrap(), "/dev/zero"],
    ] {
        let mut child = dizzy()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("{args:?}: still waiting after 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("not a regular file")
                || err.contains("a named pipe")
                || err.contains("a character device"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("empty file"), "{args:?}: {err}");
    }
    assert!(!target.exists(), "no database was made");
}

#[test]
fn output_that_cannot_be_written_exits_1_saying_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = particles(dir.path());
    for args in [
        vec!["snapshots", "--db", db.to_str().unwrap()],
        vec!["snapshots", "--db", db.to_str().unwrap(), "--json"],
        vec!["show", "--db", db.to_str().unwrap()],
    ] {
        let out = dizzy()
            .args(&args)
            .stdout(
                std::fs::File::options()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("No space left"), "{args:?}: {err}");
    }
}

/// A log nobody reads (stderr a pipe that fills up) never stops the run:
/// one SIGTERM ends it, with its final snapshot.
#[cfg(unix)]
#[test]
fn a_log_pipe_nobody_reads_never_blocks_the_run_or_its_stop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.redb");
    let mut child = dizzy()
        .env("DIZZY_LOG", "trace")
        .args([
            "demo",
            "particles",
            "--entities",
            "2000",
            "--ticks",
            "100000000",
            "--snapshot-every",
            "1",
            "--db",
            db.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        // Never read: the pipe's 64 KiB fill within the first ticks.
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("one SIGTERM did not end a run whose log pipe is full");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143));
    // Its snapshots are there.
    let listed = dizzy_ok(&["snapshots", "--db", db.to_str().unwrap()]);
    assert!(listed.lines().count() > 1, "{listed}");
}
