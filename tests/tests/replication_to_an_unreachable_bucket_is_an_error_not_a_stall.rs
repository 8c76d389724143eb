//! Replication to a bucket that nobody answers for: the run finishes at its
//! own pace with every snapshot committed locally, the log warns of each
//! retry with the lag; once the failures have lasted longer than the bound,
//! the run ends with a one-line error naming the bucket (never a panic,
//! never a hang, never a credential in a message), and the local file
//! resumes as usual.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use dizzy_tests::{dizzy, dizzy_json};

#[test]
fn an_unreachable_bucket_fails_the_replication_not_the_run() {
    // A loopback port with nothing listening on it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.redb");
    let started = Instant::now();
    let out = dizzy()
        .args([
            "demo",
            "particles",
            "--entities",
            "5000",
            "--ticks",
            "40",
            "--db",
            db.to_str().unwrap(),
            "--replicate",
            "s3://nowhere/run",
            "--replicate-give-up",
            "1",
            "--json",
        ])
        .env("AWS_ACCESS_KEY_ID", "someone")
        .env("AWS_SECRET_ACCESS_KEY", "very-secret-key")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // The log warned of each retry with the lag; the error is the last
    // line, and one line.
    assert!(err.contains("replication failed, retrying"), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{err}");
    assert!(
        last.contains("s3://nowhere/run") && last.contains("unreachable"),
        "{last}"
    );
    assert!(last.contains("saved locally"), "{last}");
    assert!(
        !err.contains("very-secret-key") && !err.contains("panicked"),
        "{err}"
    );

    // Every tick was snapshotted locally, and the file resumes.
    let listed = dizzy_json(&["snapshots", "--db", db.to_str().unwrap(), "--json"]);
    assert_eq!(listed.as_array().unwrap().last().unwrap()["tick"], 40);
    let resumed = dizzy_json(&[
        "demo",
        "particles",
        "--db",
        db.to_str().unwrap(),
        "--ticks",
        "40",
        "--json",
    ]);
    assert_eq!(resumed["ticks"], 40);
    assert!(resumed["resumed_from_snapshot"].is_u64());
}

/// A `file://` bucket below a regular file can never be written: the first
/// failure ends replication with the reason ("Not a directory"), without
/// retrying until `--replicate-give-up` (found by a fresh tester: 31 s of
/// retries); the run's snapshots are saved locally.
#[test]
fn a_bucket_below_a_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let db = dir.path().join("run.redb");
    let url = format!("file://{}/bucket", file.display());
    let started = Instant::now();
    let out = dizzy()
        .args(["demo", "particles", "--entities", "1000", "--ticks", "5"])
        .args(["--replicate", &url, "--replicate-give-up", "600", "--json"])
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}: retried");
    assert!(!err.contains("retrying"), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(&url) && last.contains("Not a directory"),
        "{last}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    let list = dizzy_json(&["snapshots", "--db", db.to_str().unwrap(), "--json"]);
    assert!(!list.as_array().unwrap().is_empty(), "{list}");
}
