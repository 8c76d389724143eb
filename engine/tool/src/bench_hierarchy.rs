//! `dizzy bench hierarchy`: restoring a bevy hierarchy (`ChildOf` and the
//! `Children` lists) against plain bevy building it.

use std::path::PathBuf;

use dizzy_bench::HierarchyBench;
use dizzy_cli::{CliError, outln};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Children, each with a `ChildOf` to a parent (`100k`, `1M`, `250000`).
    #[arg(long, default_value = "1M", value_parser = crate::bench::one_size, allow_hyphen_values = true)]
    children: usize,
    /// Parents (`10k`, `500`).
    #[arg(long, default_value = "10k", value_parser = crate::bench::one_size, allow_hyphen_values = true)]
    parents: usize,
    /// Rounds of moves before the snapshot, each of 1% of the children to
    /// a random parent (half of them to the front of its list).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Repetitions (at least 1); medians are reported.
    #[arg(long, default_value_t = 3,
          value_parser = dizzy_cli::parse_at_least_one)]
    reps: usize,
    /// An existing directory for the benchmark's files, which go in a new
    /// directory inside it, removed afterwards (default: the system's temp
    /// dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object (the default prints it pretty).
    #[arg(long)]
    json: bool,
}

/// What a child or parent costs the benchmark's process at its peak, about:
/// measured as its maximum RSS (`/usr/bin/time -v`, build of 2026-12-04),
/// 362 bytes at 1M children and 10k parents, 430 at 100k of each; this is
/// that, plus a sixth.
const BYTES_PER_ENTITY: u64 = 512;

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    crate::bench_dir::check_fits(args.children.saturating_add(args.parents), BYTES_PER_ENTITY)?;
    let dir = crate::bench_dir::BenchDir::new(args.dir.as_deref(), "hierarchy")?;
    let bench = HierarchyBench {
        children: args.children,
        parents: args.parents,
        rounds: args.rounds,
        reps: args.reps,
    };
    let report = bench
        .run(dir.path(), &mut |msg| eprintln!("bench: {msg}"))
        .map_err(|e| CliError::new(e.to_string()))?;
    if args.json {
        outln!("{report}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
