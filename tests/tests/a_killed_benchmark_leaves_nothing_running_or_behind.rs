//! A benchmark killed with `kill -9` leaves nothing running and, after the
//! next benchmark, nothing on disk (found by a fresh tester): a sweep's
//! child stops once the sweep is gone, removing its directory, instead of
//! running its sizes for nobody; the directory of any kind of benchmark
//! killed (`bench replicate`, `bench hierarchy`) is removed by the next.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use dizzy_tests::dizzy;

/// The benchmark directories (`dizzy-bench-*`) in `dir`.
fn bench_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("dizzy-bench-"))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Waits up to `limit` for `what` to hold.
fn wait_for(limit: Duration, mut what: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    what()
}

/// Whether process `pid` is gone (or a zombie no one reaped yet).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

fn spawn(args: &[&str]) -> Child {
    dizzy()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run dizzy")
}

#[test]
fn a_sweeps_child_stops_when_the_sweep_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut sweep = spawn(&[
        "bench",
        "snapshot",
        "--entities",
        "1k,300k",
        "--reps",
        "100",
        "--dir",
        d,
    ]);
    // The 300k size's child: its directory is named after its pid.
    let mut child_pid = None;
    assert!(
        wait_for(Duration::from_secs(120), || {
            child_pid = bench_dirs(dir.path()).iter().find_map(|p| {
                let name = p.file_name()?.to_str()?;
                let pid: u32 = name.strip_prefix("dizzy-bench-")?.parse().ok()?;
                // The first size's child may still be ending.
                (!gone(pid) && std::fs::read_dir(p).ok()?.count() > 1).then_some(pid)
            });
            child_pid.is_some()
        }),
        "no child benchmark started"
    );
    let child_pid = child_pid.unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sweep.kill().unwrap();
    sweep.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || gone(child_pid)),
        "the child {child_pid} still runs after its sweep was killed"
    );
    assert!(
        wait_for(Duration::from_secs(5), || bench_dirs(dir.path()).is_empty()),
        "left behind: {:?}",
        bench_dirs(dir.path())
    );
}

#[test]
fn a_killed_replicate_benchmarks_directory_is_removed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket.path().display());
    let mut bench = spawn(&[
        "bench",
        "replicate",
        "--to",
        &url,
        "--entities",
        "20k",
        "--ticks",
        "1000000",
        "--reps",
        "1",
        "--dir",
        d,
    ]);
    let name = format!("dizzy-bench-{}-replicate", bench.id());
    assert!(
        wait_for(Duration::from_secs(60), || {
            std::fs::read_dir(dir.path().join(&name)).is_ok_and(|r| r.count() > 1)
        }),
        "the benchmark made no {name}"
    );
    bench.kill().unwrap();
    bench.wait().unwrap();
    assert_eq!(bench_dirs(dir.path()), vec![dir.path().join(&name)]);
    let out = dizzy()
        .args([
            "bench",
            "snapshot",
            "--entities",
            "1k",
            "--reps",
            "1",
            "--json",
            "--dir",
            d,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&name) && said.contains("removed"), "{said}");
    assert!(
        bench_dirs(dir.path()).is_empty(),
        "{:?}",
        bench_dirs(dir.path())
    );
}
