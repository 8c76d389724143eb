//! `dizzy bench snapshot`: snapshot, restore and tick costs against
//! baselines; given several sizes, a sweep (one child process per size).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use dizzy_bench::SnapshotBench;

use dizzy_cli::{CliError, outln};

use crate::bench_dir::{
    BenchDir, base_dir, check_fits, exit_with_parent, remove_dirs_of_dead_benchmarks,
};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Entities in the world (each with a uid and three components); a
    /// list (`100k,1M,4M,10M`) runs a sweep: each size in a process of its
    /// own, one after the other, then one JSON document with the table and
    /// the targets that compare sizes (against 1M, or the smallest size
    /// when 1M is not in the list: the document's `base`).
    #[arg(long, default_value = "1M", value_parser = dizzy_bench::parse_sizes, allow_hyphen_values = true)]
    entities: Sizes,
    /// Fraction changed by each particles system before the delta (0 to 1).
    #[arg(long, default_value_t = 0.01, value_parser = parse_fraction)]
    changed: f64,
    /// Repetitions (at least 1); medians are reported.
    #[arg(long, default_value_t = 5,
          value_parser = dizzy_cli::parse_at_least_one)]
    reps: usize,
    /// Target chunk size in bytes, from 64 to 1 GiB (default: dizzy's
    /// default, just under 1 MiB).
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
    /// A sweep's child: stop when the sweep is gone (stdin closes).
    #[arg(long, hide = true)]
    exit_with_parent: bool,
}

type Sizes = Vec<usize>;

/// One count, as `dizzy bench snapshot --entities` reads one.
pub(crate) fn one_size(s: &str) -> Result<usize, String> {
    match dizzy_bench::parse_sizes(s)?[..] {
        [n] => Ok(n),
        _ => Err(format!("`{s}`: expected one number")),
    }
}

/// A fraction from 0 to 1.
pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        // `-0` is 0 (not printed as -0.0).
        .map(|f| f + 0.0)
        .ok_or_else(|| format!("`{s}`: expected a fraction from 0 to 1"))
}

/// A chunk size: a whole number of bytes from 64 to 1 GiB (what dizzy
/// uses: it takes a target outside as the nearer end).
fn parse_chunk_bytes(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (64..=1 << 30).contains(n))
        .ok_or_else(|| {
            format!("`{s}`: expected a number of bytes, at least 64 and at most 1073741824 (1 GiB)")
        })
}

/// What one entity costs the benchmark's process at its peak, about: the
/// world (~190 bytes an entity at 10M), the snapshot's bytes, the peer's
/// copy and a restored world beside it. Measured as the process's maximum
/// RSS (`/usr/bin/time -v dizzy bench snapshot --entities N --reps 1`,
/// build of 2026-12-04): 597 bytes an entity at 1M, 508 at 4M, 553 at 10M
/// (5.5 GB); this is that, plus a sixth for other allocators and layouts.
const BYTES_PER_ENTITY: u64 = 640;

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let base = base_dir(args.dir.as_deref())?;
    for &n in &args.entities {
        check_fits(n, BYTES_PER_ENTITY)?;
    }
    if let [entities] = args.entities[..] {
        return run_one(args, entities);
    }
    // The children each make a directory there: one that cannot be made
    // is said before the first size runs, not by the first child.
    drop(BenchDir::new(args.dir.as_deref(), "sweep")?);
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find this program to rerun it: {e}")))?;
    let mut reports = Vec::new();
    for &n in &args.entities {
        eprintln!("bench: {n} entities (a process of its own)");
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "snapshot", "--json", "--exit-with-parent"])
            .args(["--entities", &n.to_string()])
            .args(["--changed", &args.changed.to_string()])
            .args(["--reps", &args.reps.to_string()]);
        if let Some(c) = args.chunk_bytes {
            cmd.args(["--chunk-bytes", &c.to_string()]);
        }
        if let Some(d) = &args.dir {
            cmd.arg("--dir").arg(d);
        }
        // The child's stdin is a pipe this process holds open and never
        // writes to: when this process dies (even by `kill -9`) it closes,
        // and the child stops ([`exit_with_parent`]).
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| CliError::new(format!("{}: {e}", exe.display())))?;
        let held = child.stdin.take();
        let out = child
            .wait_with_output()
            .map_err(|e| CliError::new(format!("{}: {e}", exe.display())))?;
        drop(held);
        if !out.status.success() {
            // A child killed (or stopped by a signal) left its directory.
            remove_dirs_of_dead_benchmarks(&base);
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

fn run_one(args: Args, entities: usize) -> Result<(), CliError> {
    let dir = BenchDir::new(args.dir.as_deref(), "")?;
    if args.exit_with_parent {
        exit_with_parent(dir.path().to_owned());
    }
    let bench = SnapshotBench {
        entities,
        changed: args.changed,
        reps: args.reps,
        chunk_bytes: args
            .chunk_bytes
            .unwrap_or(SnapshotBench::default().chunk_bytes),
        ..SnapshotBench::default()
    };
    let result = bench.run(dir.path(), &mut |msg| eprintln!("bench: {msg}"));
    drop(dir);
    let report = result.map_err(|e| CliError::new(e.to_string()))?;
    if args.json {
        outln!("{report}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
