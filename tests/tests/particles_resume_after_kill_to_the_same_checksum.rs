//! The particles demo, killed with SIGKILL while it snapshots every tick and
//! run again, resumes from its last snapshot and ends in the same state
//! (checksum) as an uninterrupted run; so does a run resumed from an older
//! snapshot (time travel).

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use dizzy_tests::{dizzy, dizzy_json};

const ARGS: [&str; 8] = [
    "--entities",
    "20000",
    "--ticks",
    "60",
    "--changed",
    "0.05",
    "--seed",
    "9",
];

#[test]
fn killed_run_ends_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.redb");
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
    assert_eq!(reference["ticks"], 60);
    assert!(reference["resumed_from_snapshot"].is_null());

    let killed = dir.path().join("killed.redb");
    let mut child = dizzy()
        .args([
            "demo",
            "particles",
            "--db",
            killed.to_str().unwrap(),
            "--json",
        ])
        .args(ARGS)
        .env("DIZZY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut commits = 0;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().contains("committed snapshot") {
            commits += 1;
            if commits == 5 {
                break;
            }
        }
    }
    assert_eq!(commits, 5);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.stdout.is_empty(), "killed before the end");

    let resumed = dizzy_json(&[
        "demo",
        "particles",
        "--db",
        killed.to_str().unwrap(),
        "--json",
        "--ticks",
        "60",
    ]);
    assert!(resumed["resumed_from_snapshot"].is_u64());
    assert_eq!(resumed["ticks"], 60);
    assert_eq!(resumed["checksum"], reference["checksum"]);

    // Time travel: resume the finished file from an early snapshot.
    let again = dizzy_json(&[
        "demo",
        "particles",
        "--db",
        whole.to_str().unwrap(),
        "--json",
        "--ticks",
        "60",
        "--snapshot",
        "3",
    ]);
    assert_eq!(again["resumed_from_snapshot"], 3);
    assert_eq!(again["checksum"], reference["checksum"]);
}
