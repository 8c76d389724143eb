//! `dizzy bench hierarchy`: restoring a bevy hierarchy (`ChildOf` and the
//! `Children` lists) against plain bevy building it.

use std::path::PathBuf;

use dizzy_bench::HierarchyBench;
use dizzy_cli::{CliError, outln};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Children, each with a `ChildOf` to a parent (`100k`, `1M`, `250000`).
    #[arg(long, default_value = "1M", value_parser = one_size)]
    children: usize,
    /// Parents (`10k`, `500`).
    #[arg(long, default_value = "10k", value_parser = one_size)]
    parents: usize,
    /// Rounds of moves before the snapshot, each of 1% of the children to
    /// a random parent (half of them to the front of its list).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Repetitions (at least 1); medians are reported.
    #[arg(long, default_value_t = 3,
          value_parser = crate::dedupe::parse_at_least_one)]
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

/// One count, as `dizzy bench snapshot --entities` reads one.
fn one_size(s: &str) -> Result<usize, String> {
    match dizzy_bench::parse_sizes(s)?[..] {
        [n] => Ok(n),
        _ => Err(format!("`{s}`: expected one number")),
    }
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let base = crate::bench::base_dir(args.dir.as_deref())?;
    let dir = tempfile::tempdir_in(&base).map_err(|e| {
        CliError::new(format!(
            "a directory for the benchmark in {}: {e}",
            base.display()
        ))
    })?;
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
