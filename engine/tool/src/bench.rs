//! `dizzy bench snapshot`: snapshot, restore and tick costs against baselines.

use std::path::PathBuf;

use dizzy_bench::SnapshotBench;

use dizzy_cli::{CliError, outln};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Entities in the world (each with a uid and three components).
    #[arg(long, default_value_t = 1_000_000)]
    entities: usize,
    /// Fraction changed by each particles system before the delta.
    #[arg(long, default_value_t = 0.01)]
    changed: f64,
    /// Repetitions; medians are reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Target chunk size in bytes (default: dizzy's default).
    #[arg(long)]
    chunk_bytes: Option<usize>,
    /// Directory for the benchmark's files (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object (the default prints it pretty).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let base = args.dir.unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("dizzy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| CliError::new(format!("{}: {e}", dir.display())))?;
    let bench = SnapshotBench {
        entities: args.entities,
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
