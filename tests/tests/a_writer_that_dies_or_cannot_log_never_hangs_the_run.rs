//! Guards liveness of the snapshot writer (issue 12, item 2): a writer
//! thread that panics (in a commit listener, a log subscriber, redb) is an
//! error on the next `flush`, never a wait without end; a run whose stderr
//! is unwritable and whose disk fails (`ulimit -f` with SIGXFSZ ignored,
//! `2>/dev/full`) ends with exit code 1 and its file reopens; a failed
//! commit prints one line without colour codes into a file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dizzy::prelude::*;
use dizzy_tests::{dizzy_bin, dizzy_json};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Count(u64);

/// Runs `f` on a thread; fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("still waiting after {limit:?}: the run hangs"))
}

#[test]
fn a_panicking_commit_listener_is_an_error_on_the_next_flush() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("listener.redb");
    let result = within(Duration::from_secs(30), {
        let db = db.clone();
        move || {
            let mut rt = App::new()
                .db(&db)
                .component::<Count>("t.count")
                .snapshot_policy(SnapshotPolicy::OFF)
                .on_commit(|c| {
                    if c.meta.id == 2 {
                        panic!("listener gave up at snapshot {}", c.meta.id)
                    }
                })
                .open()
                .unwrap();
            rt.spawn(Count(1));
            rt.snapshot().unwrap();
            let first = rt.flush().map_err(|e| e.to_string());
            rt.spawn(Count(2));
            rt.snapshot().unwrap();
            let second = rt.flush().map_err(|e| e.to_string());
            // The writer lives on: the next snapshot commits.
            rt.spawn(Count(3));
            rt.snapshot().unwrap();
            let third = rt.flush().map_err(|e| e.to_string());
            drop(rt);
            (first, second, third)
        }
    });
    assert_eq!(result.0, Ok(Some(1)));
    let e = result.1.expect_err("the listener's panic is an error");
    assert!(
        e.contains("panicked") && e.contains("listener gave up") && e.contains("listener.redb"),
        "{e}"
    );
    assert_eq!(result.2, Ok(Some(3)));
    let rt = App::new()
        .db(&db)
        .component::<Count>("t.count")
        .open()
        .unwrap();
    assert_eq!(rt.resumed_from(), Some(3));
}

/// A directory tree of `n` small files, many of them equal.
fn tree(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(dir.join(format!("f{i}")), format!("file {}\n", i % 50)).unwrap();
    }
}

/// `dizzy demo dedupe` with the file size limited to `blocks` (as a full
/// disk: SIGXFSZ ignored, writes fail with EFBIG) and stderr as `stderr`.
fn limited_dedupe(tree: &Path, db: &Path, blocks: u32, stderr: &str) -> Command {
    let script = format!(
        "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" demo dedupe \"$1\" --db \"$2\" --batch 100 --snapshot-every 1 2>{stderr}"
    );
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .arg(dizzy_bin())
        .arg(tree)
        .arg(db)
        .stdout(Stdio::null());
    c
}

#[test]
fn a_run_on_a_full_disk_with_an_unwritable_stderr_ends_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("tree");
    tree(&files, 3000);
    let mut deaths = 0;
    // File size limits (512-byte blocks) that fail the creation, the first
    // commit and later commits.
    for (i, blocks) in [64u32, 300, 400, 600, 1000].into_iter().enumerate() {
        let db = dir.path().join(format!("full-{i}.redb"));
        let mut child = limited_dedupe(&files, &db, blocks, "/dev/full")
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("limit {blocks}: the run hangs (killed after 60 s)");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            status.code(),
            Some(1),
            "limit {blocks}: an error exit, not a panic (101) or a signal: {status:?}"
        );
        deaths += 1;
        // Whatever was committed is there: the file (if any) reopens.
        if db.exists() {
            let list = dizzy_json(&["snapshots", "--db", &db.to_string_lossy(), "--json"]);
            assert!(list.is_array(), "{list}");
        }
    }
    eprintln!("writer deaths survived: {deaths}");
}

#[test]
fn a_failed_commit_is_one_line_without_colour_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("tree");
    tree(&files, 3000);
    let db = dir.path().join("one-line.redb");
    let log = dir.path().join("stderr.txt");
    let status = limited_dedupe(&files, &db, 400, &format!("'{}'", log.display()))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\x1b'), "colour codes in a file: {text:?}");
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    assert!(
        text.starts_with("error: ") && text.contains("one-line.redb"),
        "{text:?}"
    );
}
