//! The `dizzy` command line, for any app: `dizzy::cli::run(app)` gives a
//! binary every subcommand with the app's component types compiled in.
//!
//! ```no_run
//! # use dizzy::prelude::*;
//! fn main() -> std::process::ExitCode {
//!     dizzy::cli::run(App::new() /* .plugin(MyPlugin) */)
//! }
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{App, DEFAULT_DB};

/// `println!` that survives a closed pipe (`dizzy ... | head`): output that
/// nobody reads is not an error, and never a panic.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::write_line(format_args!($($t)*))
    };
}

/// Writes one line to stdout; a closed pipe ends output quietly.
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}").and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: writing the output: {e}");
    }
}

mod bench;
mod bundle;
mod dedupe;
mod diff;
mod graph;
mod particles;
mod show;
mod snapshots;
mod stats;
mod table;
mod trace;
mod view;

/// dizzy: an entity-component-system data runtime whose worlds survive being killed.
#[derive(Debug, Parser)]
#[command(name = "dizzy", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a built-in demo.
    #[command(subcommand)]
    Demo(Demo),
    /// Measure snapshot, restore and tick costs (prints JSON).
    #[command(subcommand)]
    Bench(Bench),
    /// Apply a retention policy and give free space back to the file system.
    Compact {
        /// The dizzy file.
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        /// Keep the newest K snapshots (and what their delta chains need).
        #[arg(long)]
        keep_last: Option<usize>,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Export entities (and what they reference) into a bundle file.
    Export(bundle::ExportArgs),
    /// Import a bundle file into a dizzy file, as a new snapshot.
    Import(bundle::ImportArgs),
    /// Draw the tick schedule: systems, sets, order, reads and writes.
    Graph(graph::Args),
    /// Show the entities of a snapshot, components decoded.
    Show(show::Args),
    /// Per snapshot: entities and bytes per component.
    Stats(stats::Args),
    /// What changed between snapshots A and B.
    Diff(diff::Args),
    /// A correlation (or a uid's) as a causal tree.
    Trace(trace::Args),
    /// One component of a snapshot as a table (JSON lines or CSV).
    ExportTable(table::Args),
    /// List the snapshots in a file.
    Snapshots {
        /// The dizzy file.
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Full and delta snapshots, restore and ticks, against baselines and hecs.
    Snapshot(bench::Args),
}

#[derive(Debug, Subcommand)]
enum Demo {
    /// Find duplicate files under DIR, resumably.
    Dedupe(dedupe::Args),
    /// A deterministic particle simulation that snapshots every tick.
    Particles(particles::Args),
}

/// How the message of a run stopped by a signal starts.
pub(crate) const INTERRUPTED: &str = "interrupted";

/// A command failed: the message is printed on one line, without a backtrace.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

/// Installs the log subscriber: warnings by default, `DIZZY_LOG` to change.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIZZY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Parses the command line and runs it against `app` (whose registry
/// decodes files); prints errors on one line and returns the exit code.
pub fn run(app: App) -> ExitCode {
    init_logs();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(Demo::Dedupe(args)) => dedupe::run(args),
        Command::Demo(Demo::Particles(args)) => particles::run(args),
        Command::Bench(Bench::Snapshot(args)) => bench::run(args),
        Command::Compact {
            db,
            keep_last,
            json,
        } => snapshots::compact(&db, keep_last, json),
        Command::Snapshots { db, json } => snapshots::list(&db, json),
        Command::Graph(args) => graph::run(args, app),
        Command::Show(args) => show::run(args, app.registry()),
        Command::Stats(args) => stats::run(args, app.registry()),
        Command::Diff(args) => diff::run(args, app.registry()),
        Command::Trace(args) => trace::run(args, app.registry()),
        Command::ExportTable(args) => table::run(args, app.registry()),
        Command::Export(args) => bundle::export(app, args),
        Command::Import(args) => bundle::import(app, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A run stopped by SIGINT/SIGTERM saved its progress: not an error,
        // but not done either (128 + SIGINT, as shells expect).
        Err(CliError(msg)) if msg.starts_with(INTERRUPTED) => {
            eprintln!("dizzy: {msg}");
            ExitCode::from(130)
        }
        Err(CliError(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
