//! SIGTERM (or SIGINT) asks a running `run_until` to finish its tick, write a
//! final snapshot and return: the process exits cleanly (status 143 for
//! SIGTERM, 130 for SIGINT: 128 + the signal, as shells expect; a one-line
//! note, no panic), the file's latest snapshot is the tick it
//! reached, and the next run resumes from there to the same end state.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use dizzy_tests::{dizzy, dizzy_json};

#[test]
fn sigterm_saves_a_final_snapshot_and_exits_cleanly() {
    stop_with("-TERM", 143);
}

#[test]
fn sigint_saves_a_final_snapshot_and_exits_cleanly() {
    stop_with("-INT", 130);
}

fn stop_with(signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.redb");
    let args = [
        "--entities",
        "20000",
        "--ticks",
        "100000",
        "--changed",
        "0.05",
        "--snapshot-every",
        "1",
    ];
    let mut child = dizzy()
        .args(["demo", "particles", "--db", db.to_str().unwrap(), "--json"])
        .args(args)
        .env("DIZZY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it commit once (the snapshot of its start), then ask it to stop.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("committed snapshot") {
        line.clear();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "a clean exit, not death by signal: {rest}"
    );
    let note = rest
        .lines()
        .find(|l| l.contains("interrupted at tick"))
        .expect("the note");
    let tick: u64 = note
        .split("interrupted at tick ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("a tick number");
    assert!(tick > 0);
    assert!(!rest.contains("panicked"));
    // With `--json`, stdout says the same in one JSON line.
    let stopped: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(stopped["stopped"], format!("interrupted at tick {tick}"));
    assert_eq!(stopped["tick"], tick);
    assert_eq!(stopped["db"], db.to_str().unwrap());

    let list = dizzy_json(&["snapshots", "--db", db.to_str().unwrap(), "--json"]);
    let last = list.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["tick"], tick,
        "the final snapshot holds the tick it reached"
    );

    // It resumes from there; the end state equals an uninterrupted run's.
    let target = (tick + 3).to_string();
    let resumed = dizzy_json(&[
        "demo",
        "particles",
        "--db",
        db.to_str().unwrap(),
        "--json",
        "--ticks",
        &target,
    ]);
    assert_eq!(resumed["resumed_from_snapshot"], last["id"]);
    let fresh = dir.path().join("fresh.redb");
    let mut whole_args = args.to_vec();
    whole_args[3] = &target;
    let whole = dizzy_json(
        &[
            &[
                "demo",
                "particles",
                "--db",
                fresh.to_str().unwrap(),
                "--json",
            ][..],
            &whole_args,
        ]
        .concat(),
    );
    assert_eq!(resumed["checksum"], whole["checksum"]);
}
