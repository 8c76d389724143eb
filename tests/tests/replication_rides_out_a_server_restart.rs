//! The S3 server killed with SIGKILL in the middle of a replicating run and
//! started again: the run goes on at its own pace, replication falls
//! behind (the lag it logs grows), then catches up; nothing in the bucket
//! is half-written, and the bucket alone resumes the run elsewhere to the
//! checksum of an uninterrupted run.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dizzy_tests::s3::S3;
use dizzy_tests::{dizzy, dizzy_json};

const ARGS: [&str; 8] = [
    "--entities",
    "20000",
    "--ticks",
    "400",
    "--changed",
    "0.05",
    "--seed",
    "3",
];

/// `N` in a log line's "… (N snapshots and S s behind)".
fn behind(line: &str) -> Option<u64> {
    let (head, _) = line.split_once(" snapshots and ")?;
    head.rsplit(['(', ' ']).next()?.parse().ok()
}

#[test]
fn replication_survives_the_server_being_killed_mid_upload() {
    if dizzy_tests::s3::skipped("replication_rides_out_a_server_restart") {
        return;
    }
    // A server of this test's own: it is killed and restarted.
    let mut s3 = S3::own("restart");
    let url = s3.url("restart");
    let here = tempfile::tempdir().unwrap();
    let whole = here.path().join("whole.redb");
    let reference = dizzy_json(
        &[
            &[
                "demo",
                "particles",
                "--db",
                whole.to_str().unwrap(),
                "--json",
            ][..],
            &ARGS,
        ]
        .concat(),
    );

    let db = here.path().join("run.redb");
    let mut cmd = dizzy();
    s3.env(&mut cmd)
        .args([
            "demo",
            "particles",
            "--db",
            db.to_str().unwrap(),
            "--replicate",
            &url,
            "--json",
        ])
        .args(ARGS)
        .env("DIZZY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (lines, log) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        log.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no log line while waiting for {what}"))
    };

    // Replication is under way: kill the server between two uploads or in
    // the middle of one.
    let mut replicated = 0;
    while replicated < 3 {
        if next("replication").contains("replicated snapshot") {
            replicated += 1;
        }
    }
    s3.own.as_mut().unwrap().kill();
    let down = Instant::now();

    // The run goes on; replication retries and falls behind.
    let mut failures = Vec::new();
    let mut commits_while_down = 0;
    while failures.len() < 4 || down.elapsed() < Duration::from_millis(1500) {
        let line = next("retries");
        if line.contains("replication failed, retrying") {
            failures.push(behind(&line).unwrap_or_else(|| panic!("no lag in: {line}")));
        }
        if line.contains("committed snapshot") {
            commits_while_down += 1;
        }
        assert!(!line.contains("panicked"), "{line}");
    }
    assert!(
        commits_while_down >= 3,
        "the run stalled while the server was down"
    );
    assert!(
        failures.last() > failures.first(),
        "the lag did not grow while the server was down: {failures:?}"
    );
    s3.own.as_mut().unwrap().restart();

    // It catches up once the server answers.
    let mut caught_up = false;
    for line in log.iter() {
        assert!(!line.contains("panicked"), "{line}");
        if line.contains("replicated snapshot") {
            caught_up = true;
        }
    }
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    assert!(
        out.status.success(),
        "the run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(caught_up, "no snapshot was replicated after the restart");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("{report}");
    let r = &report["replication"];
    assert_eq!(report["checksum"], reference["checksum"]);
    assert_eq!(r["replicated"], report["snapshot"]);
    assert_eq!(r["snapshots_behind"], 0);
    assert!(r["failures"].as_u64().unwrap() >= failures.len() as u64);
    assert!(r["max_snapshots_behind"].as_u64().unwrap() >= *failures.last().unwrap());

    // Nothing half-written: every snapshot the manifest names is whole, and
    // no object is left that it does not name.
    let verified = s3.bucket(&url).verify().unwrap();
    assert!(verified.snapshots > 0);
    assert!(verified.unnamed.is_empty(), "{:?}", verified.unnamed);

    // The bucket alone resumes the run elsewhere, at its final snapshot.
    let elsewhere = here.path().join("elsewhere.redb");
    let mut pull = dizzy();
    s3.env(&mut pull)
        .args(["pull", &url, "--db", elsewhere.to_str().unwrap(), "--json"]);
    let pulled = pull.output().unwrap();
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let pulled: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(pulled["snapshot"], report["snapshot"]);
    assert_eq!(pulled["tick"], 400);
    let resumed = dizzy_json(&[
        "demo",
        "particles",
        "--db",
        elsewhere.to_str().unwrap(),
        "--ticks",
        "400",
        "--json",
    ]);
    assert_eq!(resumed["checksum"], reference["checksum"]);
}
