//! `dizzy bench snapshot`: snapshot, restore and tick costs against
//! baselines; given several sizes, a sweep (one child process per size).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use dizzy_bench::SnapshotBench;

use dizzy_cli::{CliError, outln};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Entities in the world (each with a uid and three components); a
    /// list (`100k,1M,4M,10M`) runs a sweep: each size in a process of its
    /// own, one after the other, then one JSON document with the table and
    /// the targets that compare sizes.
    #[arg(long, default_value = "1M", value_parser = dizzy_bench::parse_sizes)]
    entities: Sizes,
    /// Fraction changed by each particles system before the delta (0 to 1).
    #[arg(long, default_value_t = 0.01, value_parser = parse_fraction)]
    changed: f64,
    /// Repetitions (at least 1); medians are reported.
    #[arg(long, default_value_t = 5,
          value_parser = crate::dedupe::parse_at_least_one)]
    reps: usize,
    /// Target chunk size in bytes, at least 64 (default: dizzy's default,
    /// just under 1 MiB).
    #[arg(long, value_parser = parse_chunk_bytes)]
    chunk_bytes: Option<usize>,
    /// An existing directory for the benchmark's files, which go in a new
    /// directory inside it, removed afterwards (default: the system's temp
    /// dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object (the default prints it pretty).
    #[arg(long)]
    json: bool,
}

type Sizes = Vec<usize>;

/// A fraction from 0 to 1.
pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("`{s}`: expected a fraction from 0 to 1"))
}

/// A chunk size: a whole number of bytes, at least 64 (dizzy takes a
/// smaller target as 64).
fn parse_chunk_bytes(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n >= 64)
        .ok_or_else(|| format!("`{s}`: expected a number of bytes, at least 64"))
}

/// What one entity costs the benchmark's process at its peak, about: the
/// world (~190 bytes an entity at 10M), the snapshot's bytes, the peer's
/// copy and a restored world beside it. Measured as the process's maximum
/// RSS (`/usr/bin/time -v dizzy bench snapshot --entities N --reps 1`,
/// build of 2026-12-04): 597 bytes an entity at 1M, 508 at 4M, 553 at 10M
/// (5.5 GB); this is that, plus a sixth for other allocators and layouts.
const BYTES_PER_ENTITY: u64 = 640;

/// Refuses a size whose benchmark would not fit in the memory this machine
/// has available (`MemAvailable` of `/proc/meminfo`, Linux; elsewhere no
/// check), before anything is allocated.
fn check_fits(entities: usize) -> Result<(), CliError> {
    let Some(available) = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    }) else {
        return Ok(());
    };
    let needed = (entities as u64).saturating_mul(BYTES_PER_ENTITY);
    if needed > available {
        return Err(CliError::new(format!(
            "{entities} entities need about {:.1} GiB of memory; {:.1} GiB is available",
            needed as f64 / (1u64 << 30) as f64,
            available as f64 / (1u64 << 30) as f64
        )));
    }
    Ok(())
}

/// The directory a benchmark makes its own directory in: `--dir`, which
/// must be an existing directory (a benchmark never creates the one named:
/// a mistyped path would be left behind), or the system's temp dir.
///
/// # Errors
///
/// `--dir` missing, not a directory, or not readable, named.
pub(crate) fn base_dir(dir: Option<&std::path::Path>) -> Result<PathBuf, CliError> {
    let Some(dir) = dir else {
        return Ok(std::env::temp_dir());
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(dir.to_owned()),
        Ok(_) => Err(CliError::new(format!(
            "--dir {}: not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::new(format!(
            "--dir {}: no such directory (the benchmark creates none; make it first)",
            dir.display()
        ))),
        Err(e) => Err(CliError::new(format!("--dir {}: {e}", dir.display()))),
    }
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    base_dir(args.dir.as_deref())?;
    for &n in &args.entities {
        check_fits(n)?;
    }
    if let [entities] = args.entities[..] {
        return run_one(args, entities);
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find this program to rerun it: {e}")))?;
    let mut reports = Vec::new();
    for &n in &args.entities {
        eprintln!("bench: {n} entities (a process of its own)");
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "snapshot", "--json"])
            .args(["--entities", &n.to_string()])
            .args(["--changed", &args.changed.to_string()])
            .args(["--reps", &args.reps.to_string()]);
        if let Some(c) = args.chunk_bytes {
            cmd.args(["--chunk-bytes", &c.to_string()]);
        }
        if let Some(d) = &args.dir {
            cmd.arg("--dir").arg(d);
        }
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| CliError::new(format!("{}: {e}", exe.display())))?;
        if !out.status.success() {
            return Err(CliError::new(format!(
                "the benchmark at {n} entities failed ({})",
                out.status
            )));
        }
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            CliError::new(format!(
                "the benchmark at {n} entities printed no JSON: {e}"
            ))
        })?;
        reports.push(report);
    }
    let summary = dizzy_bench::summarize(reports);
    if args.json {
        outln!("{summary}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

/// The file that marks a benchmark's own directory (only such directories
/// are ever removed as left behind).
const MARKER: &str = ".dizzy-bench";

/// Removes the directories `dizzy-bench-<pid>` in `base` that a benchmark
/// killed before it could clean up left behind (up to a gigabyte at 10M
/// entities): those holding [`MARKER`] whose process `<pid>` is gone
/// ([`dizzy::snapshots::left_by_gone_processes`]).
fn remove_dirs_of_dead_benchmarks(base: &std::path::Path) {
    for path in dizzy::snapshots::left_by_gone_processes(base, "dizzy-bench-", "") {
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir())
            && std::fs::symlink_metadata(path.join(MARKER)).is_ok_and(|m| m.is_file());
        if !ours {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => eprintln!(
                "bench: removed {}, left by a benchmark that was stopped",
                path.display()
            ),
            Err(e) => eprintln!("bench: {} cannot be removed: {e}", path.display()),
        }
    }
}

fn run_one(args: Args, entities: usize) -> Result<(), CliError> {
    let base = base_dir(args.dir.as_deref())?;
    remove_dirs_of_dead_benchmarks(&base);
    let dir = base.join(format!("dizzy-bench-{}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| CliError::new(format!("{}: {e}", dir.display())))?;
    std::fs::write(dir.join(MARKER), b"")
        .map_err(|e| CliError::new(format!("{}: {e}", dir.display())))?;
    let bench = SnapshotBench {
        entities,
        changed: args.changed,
        reps: args.reps,
        chunk_bytes: args
            .chunk_bytes
            .unwrap_or(SnapshotBench::default().chunk_bytes),
        ..SnapshotBench::default()
    };
    let result = bench.run(&dir, &mut |msg| eprintln!("bench: {msg}"));
    let _ = std::fs::remove_dir_all(&dir);
    let report = result.map_err(|e| CliError::new(e.to_string()))?;
    if args.json {
        outln!("{report}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marked_directories_of_gone_processes_are_removed() {
        let base = std::env::temp_dir().join(format!("dizzy-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        // A pid no process has (above the kernel's limit), ours, and a
        // directory of that name without the marker (not a benchmark's).
        let gone = base.join("dizzy-bench-4294967295");
        let live = base.join(format!("dizzy-bench-{}", std::process::id()));
        let foreign = base.join("dizzy-bench-4294967294");
        for (dir, marked) in [(&gone, true), (&live, true), (&foreign, false)] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("bench-0.redb"), b"x").unwrap();
            if marked {
                std::fs::write(dir.join(MARKER), b"").unwrap();
            }
        }
        remove_dirs_of_dead_benchmarks(&base);
        if std::path::Path::new("/proc/self").exists() {
            assert!(!gone.exists(), "left by a process that is gone");
        }
        assert!(live.exists(), "a running benchmark's");
        assert!(foreign.exists(), "not a benchmark's");
        let _ = std::fs::remove_dir_all(&base);
    }
}
