//! A particles run replicating to a real S3 server, killed with SIGKILL at
//! random moments (and restarted), resumes in a *different*, empty
//! directory from the bucket alone and ends with the same checksum as an
//! uninterrupted run; after every kill the bucket is consistent (every
//! snapshot its manifest names is whole) and never loses a snapshot it
//! showed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use dizzy_tests::s3::S3;
use dizzy_tests::{Rng, dizzy, dizzy_json};

const ARGS: [&str; 8] = [
    "--entities",
    "20000",
    "--ticks",
    "150",
    "--changed",
    "0.05",
    "--seed",
    "5",
];

fn run(s3: &S3, args: &[&str]) -> Output {
    let mut cmd = dizzy();
    s3.env(&mut cmd).args(args);
    cmd.output().expect("run dizzy")
}

fn json(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn killed_replicating_run_resumes_on_another_machine() {
    let Some(s3) = S3::get("replicated_run_killed_resumes_elsewhere_from_the_bucket") else {
        return;
    };
    let url = s3.url("killed");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    eprintln!("seed {seed}, bucket {url}");
    let mut rng = Rng(seed);

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
    assert_eq!(reference["ticks"], 150);

    // Machine A: a run that replicates, killed three times at random moments.
    let a = here.path().join("machine-a/run.redb");
    std::fs::create_dir_all(a.parent().unwrap()).unwrap();
    let mut shown = 0u64;
    let mut kills = 0;
    for round in 0..3 {
        let wait_for = 1 + rng.below(6);
        let mut cmd: Command = dizzy();
        s3.env(&mut cmd)
            .args([
                "demo",
                "particles",
                "--db",
                a.to_str().unwrap(),
                "--replicate",
                &url,
                "--json",
            ])
            .args(ARGS)
            .env("DIZZY_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut replicated = 0;
        let stderr = BufReader::new(child.stderr.take().unwrap());
        for line in stderr.lines() {
            let line = line.unwrap();
            if line.contains("replicated snapshot") {
                replicated += 1;
                if replicated == wait_for {
                    break;
                }
            }
        }
        // A random moment after that: mid-capture, mid-commit or mid-upload.
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            eprintln!("round {round}: the run finished before the kill");
            break;
        }
        kills += 1;

        // The bucket, after the kill: every named snapshot whole, none lost.
        let bucket = s3.bucket(&url);
        let verified = bucket.verify().expect("a consistent bucket after a kill");
        let listed = dizzy_json_with(&s3, &["snapshots", "--db", &url, "--json"]);
        let ids: Vec<u64> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), verified.snapshots);
        let newest = ids.last().copied().unwrap_or(0);
        assert!(
            newest >= shown,
            "round {round}: the bucket showed snapshot {shown}, now only up to {newest}"
        );
        shown = newest;
        eprintln!(
            "round {round}: killed after {wait_for} replicated snapshots; the bucket holds up to snapshot {newest} ({} unnamed objects left by the kill)",
            verified.unnamed.len()
        );
    }
    assert!(kills >= 1, "no run was killed");
    assert!(shown > 0, "nothing reached the bucket before the kills");

    // Machine B: an empty directory and the bucket, nothing else.
    let b = here.path().join("machine-b/run.redb");
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    let started = Instant::now();
    let resumed = json(
        &run(
            &s3,
            &[
                "demo",
                "particles",
                "--db",
                b.to_str().unwrap(),
                "--restore-from",
                &url,
                "--replicate",
                &url,
                "--ticks",
                "150",
                "--json",
            ],
        ),
        "the resumed run",
    );
    eprintln!("resumed elsewhere in {:?}: {resumed}", started.elapsed());
    assert_eq!(resumed["resumed_from_snapshot"], shown);
    assert_eq!(resumed["ticks"], 150);
    assert_eq!(resumed["checksum"], reference["checksum"]);
    // It replicated on from where the bucket was.
    assert_eq!(resumed["replication"]["replicated"], resumed["snapshot"]);
    assert_eq!(resumed["replication"]["snapshots_behind"], 0);
    s3.bucket(&url).verify().unwrap();
}

fn dizzy_json_with(s3: &S3, args: &[&str]) -> serde_json::Value {
    json(&run(s3, args), &format!("dizzy {args:?}"))
}
