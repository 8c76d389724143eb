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

mod bench;
mod dedupe;
mod particles;
mod snapshots;

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
    };
    let _ = app;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
