//! dizzy's command line, for any dizzy app.
//!
//! [`Cli`] gives a binary the inspection subcommands (`snapshots`, `show`,
//! `stats`, `diff`, `trace`, `graph`, `export-table`, `export`, `import`,
//! `compact`, `serve`, and with the `replicate` feature `pull`) with the app's
//! component types compiled in and the app's
//! file as the default `--db`, under the binary's own name, version and
//! about text; [`Cli::subcommands`] adds the binary's own subcommands
//! (clap derive). [`on_signals`] connects SIGINT and SIGTERM to a run's
//! [`StopHandle`](dizzy::StopHandle), for as long as its guard lives.
//!
//! ```no_run
//! use dizzy::prelude::*;
//!
//! #[derive(Component, Serialize, Deserialize)]
//! struct Reading(f64);
//!
//! fn main() -> std::process::ExitCode {
//!     // `my-tool show --with lab.reading` decodes `lab.reading` values.
//!     dizzy_cli::run!(App::new().db("lab.redb").component::<Reading>("lab.reading"))
//! }
//! ```
#![warn(missing_docs)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{FromArgMatches, Parser, Subcommand};

use dizzy::App;

/// `println!` that survives a closed pipe (`my-tool show | head`): output
/// that nobody reads is not an error, and never a panic.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::write_line(format_args!($($t)*))
    };
}

/// Writes one line to stdout; a closed pipe ends output quietly (see
/// [`outln!`]).
#[doc(hidden)]
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if OUTPUT_FAILED.load(Ordering::Relaxed) {
        return;
    }
    // Formatted first: stdout's line buffer is 1 KiB, and a long line (a
    // JSON report) would otherwise go out in 1 KiB writes.
    let mut line = std::fmt::format(args);
    line.push('\n');
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
        && !OUTPUT_FAILED.swap(true, Ordering::Relaxed)
    {
        let _ = writeln!(std::io::stderr(), "error: writing the output: {e}");
    }
}

/// Whether a line of output could not be written (a full disk, a device
/// error; not a closed pipe): the command then exits with 1 (said once).
static OUTPUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

mod bundle;
mod diff;
mod error;
mod graph;
mod output;
mod parquet;
#[cfg(feature = "replicate")]
mod pull;
mod remote;
mod serve;
mod show;
mod signal;
mod snapshots;
mod stats;
mod table;
mod trace;
mod view;

pub use error::CliError;
pub use signal::{SignalGuard, on_signals};

/// A clap value parser for an option that counts at least one thing
/// (`--keep-last`, `--batch`, `--reps`): a whole number from 1, refused
/// with a message that says so.
///
/// # Errors
///
/// Not a whole number, 0, or above `usize::MAX`.
pub fn parse_at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(format!(
            "`{s}`: too large, expected a whole number from 1 to {}",
            usize::MAX
        )),
        _ => Err(format!("`{s}`: expected a whole number of at least 1")),
    }
}

/// The inspection subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Apply a retention policy and give free space back to the file system.
    Compact(snapshots::CompactArgs),
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
    /// Components of a snapshot as one table, joined by uid (JSON lines, CSV or Parquet).
    ExportTable(table::Args),
    /// List the snapshots in a file (or replicated to a bucket URL).
    Snapshots(snapshots::ListArgs),
    /// Explore a file in the browser (read-only): snapshots, components,
    /// entities, lineage, diffs, the schedule.
    Serve(serve::Args),
    /// Pull replicated snapshots out of a bucket into a new file.
    #[cfg(feature = "replicate")]
    Pull(pull::Args),
}

// The clap shell of the inspection subcommands. Its name, version and about
// text are the binary's, set at run time: a `///` comment here would become
// the about text of every binary that has none of its own.
#[derive(Debug, Parser)]
#[command(name = "dizzy")]
struct Inspect {
    #[command(subcommand)]
    command: Command,
}

/// A binary's own subcommands: which names they take, and how to run them.
struct Extension {
    has: fn(&str) -> bool,
    run: Box<dyn FnOnce(&clap::ArgMatches, App) -> Result<(), CliError>>,
}

/// A command line for one app: the inspection subcommands, the binary's own
/// subcommands, its name, version and about text.
pub struct Cli {
    app: App,
    name: String,
    version: Option<String>,
    about: Option<String>,
    augment: Vec<fn(clap::Command) -> clap::Command>,
    extensions: Vec<Extension>,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

impl Cli {
    /// A command line for `app`, named after the running executable, with
    /// no version and no about text (see [`run!`], which sets the calling
    /// crate's).
    pub fn new(app: App) -> Self {
        let name = std::env::args_os()
            .next()
            .map(PathBuf::from)
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "dizzy".to_owned());
        Cli {
            app,
            name,
            version: None,
            about: None,
            augment: Vec::new(),
            extensions: Vec::new(),
        }
    }

    /// The binary's name, in usage and help.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The version `--version` prints.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The text `--help` starts with.
    pub fn about(mut self, about: impl Into<String>) -> Self {
        self.about = Some(about.into()).filter(|s: &String| !s.is_empty());
        self
    }

    /// Adds the subcommands of `S` (a clap `Subcommand` enum); `run` runs
    /// the one the user chose, with the app.
    ///
    /// ```no_run
    /// use dizzy::prelude::*;
    /// use dizzy_cli::{Cli, CliError};
    ///
    /// #[derive(clap::Subcommand)]
    /// enum Mine {
    ///     /// Count the entities of the latest snapshot.
    ///     Count,
    /// }
    ///
    /// fn main() -> std::process::ExitCode {
    ///     Cli::new(App::new())
    ///         .subcommands(|mine: Mine, app: App| match mine {
    ///             Mine::Count => {
    ///                 let run = app.open()?;
    ///                 dizzy_cli::outln!("{}", run.world().resource::<Uids>().len());
    ///                 Ok(())
    ///             }
    ///         })
    ///         .run()
    /// }
    /// ```
    pub fn subcommands<S: Subcommand + 'static>(
        mut self,
        run: impl FnOnce(S, App) -> Result<(), CliError> + 'static,
    ) -> Self {
        self.augment.push(S::augment_subcommands);
        self.extensions.push(Extension {
            has: S::has_subcommand,
            run: Box::new(move |matches, app| {
                S::from_arg_matches(matches)
                    .map_err(|e| CliError::new(e.to_string()))
                    .and_then(|s| run(s, app))
            }),
        });
        self
    }

    /// Parses the process's arguments and runs the chosen subcommand; prints
    /// an error on one line (no backtrace) and returns the exit code: 0, 1
    /// for an error, 2 for a usage error, 128 + the signal's number for a
    /// run stopped by SIGINT (130) or SIGTERM (143).
    pub fn run(self) -> ExitCode {
        self.run_from(std::env::args_os())
    }

    /// [`Cli::run`] with these arguments (the first is the program's name).
    pub fn run_from<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        init_logs();
        quiet_panics();
        let Cli {
            app,
            name,
            version,
            about,
            augment,
            extensions,
        } = self;
        let command = shell(name, version, about, augment, app.db_path());
        let matches = match command.try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) => match usage_error_line(&e) {
                // Help and version go to stdout, whole.
                None => e.exit(),
                Some(line) => {
                    eprintln!("{line}");
                    return ExitCode::from(2);
                }
            },
        };
        let run = || match Command::from_arg_matches(&matches) {
            Ok(c) => dispatch(c, app),
            Err(_) => {
                let chosen = matches.subcommand_name().unwrap_or_default();
                match extensions.into_iter().find(|e| (e.has)(chosen)) {
                    Some(ext) => (ext.run)(&matches, app),
                    None => Err(CliError::new(format!("no such subcommand: `{chosen}`"))),
                }
            }
        };
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
                let message = LAST_PANIC
                    .lock()
                    .ok()
                    .and_then(|mut p| p.take())
                    .unwrap_or_default();
                Err(CliError::new(format!(
                    "internal error (a panic): {message}"
                )))
            });
        flush_logs();
        match result {
            Ok(()) if OUTPUT_FAILED.load(std::sync::atomic::Ordering::Relaxed) => ExitCode::from(1),
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                e.print();
                ExitCode::from(e.exit_code())
            }
        }
    }
}

/// The clap command of a [`Cli`]: the inspection subcommands and the
/// binary's own, under the binary's name, version and about text (or none),
/// with the app's file as every `--db`'s default.
fn shell(
    name: String,
    version: Option<String>,
    about: Option<String>,
    augment: Vec<fn(clap::Command) -> clap::Command>,
    db: Option<&std::path::Path>,
) -> clap::Command {
    let mut command = <Inspect as clap::CommandFactory>::command();
    command = command.name(name.clone()).bin_name(name);
    if let Some(v) = version {
        command = command.version(v);
    }
    for f in augment {
        command = f(command);
    }
    // The binary's about text, or none: never a doc comment of ours, nor
    // that of the binary's subcommand enum (clap's derive sets the about
    // text from it when it adds the subcommands).
    command = match about {
        Some(a) => command.about(a),
        None => command.about(None::<&'static str>),
    }
    .long_about(None::<&'static str>);
    if let Some(db) = db.map(|p| p.to_string_lossy().into_owned()) {
        let names: Vec<String> = command
            .get_subcommands()
            .filter(|s| s.get_name() != "graph" && s.get_arguments().any(|a| a.get_id() == "db"))
            .map(|s| s.get_name().to_owned())
            .collect();
        for n in names {
            // Not required any more: clap does not count a default as given.
            command = command.mut_subcommand(n, |s| {
                s.mut_arg("db", |a| a.default_value(db.clone()).required(false))
            });
        }
    }
    negative_numbers_as_values(command)
}

/// Lets a value that looks like a negative number (`-1`, `-0.5`) reach the
/// parser of the option it follows, in every subcommand, so that the error
/// names the option and what it expects (`--reps -1`: "expected at least
/// 1"), where clap would take it for an unknown flag ("unexpected argument
/// '-1'").
fn negative_numbers_as_values(command: clap::Command) -> clap::Command {
    command
        .mut_args(|a| {
            if a.get_action().takes_values() {
                a.allow_negative_numbers(true)
            } else {
                a
            }
        })
        .mut_subcommands(negative_numbers_as_values)
}

fn dispatch(command: Command, app: App) -> Result<(), CliError> {
    match command {
        Command::Compact(args) => snapshots::compact(args, app),
        Command::Snapshots(args) => snapshots::list(args),
        Command::Graph(args) => graph::run(args, app),
        Command::Show(args) => show::run(args, app.registry()),
        Command::Stats(args) => stats::run(args, app.registry()),
        Command::Diff(args) => diff::run(args, app.registry()),
        Command::Trace(args) => trace::run(args, app.registry()),
        Command::ExportTable(args) => table::run(args, app.registry()),
        Command::Export(args) => bundle::export(app, args),
        Command::Import(args) => bundle::import(app, args),
        Command::Serve(args) => serve::run(args, app),
        #[cfg(feature = "replicate")]
        Command::Pull(args) => pull::run(args),
    }
}

/// Runs the command line of an app with the calling crate's binary name
/// (`CARGO_BIN_NAME`, else the executable's), version and description:
/// `dizzy_cli::run!(app)` is
/// `Cli::new(app).name(env!("CARGO_BIN_NAME")).version(env!("CARGO_PKG_VERSION")).about(env!("CARGO_PKG_DESCRIPTION")).run()`.
#[macro_export]
macro_rules! run {
    ($app:expr) => {{
        let mut cli = $crate::Cli::new($app);
        if let Some(name) = option_env!("CARGO_BIN_NAME") {
            cli = cli.name(name);
        }
        cli.version(env!("CARGO_PKG_VERSION"))
            .about(env!("CARGO_PKG_DESCRIPTION"))
            .run()
    }};
}

/// The last panic's message and place (of any thread), for the one-line error.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// A command line prints one line per error: a panic's message is kept
/// (not printed with a backtrace) and becomes the error's line if it ends
/// the command; a panic that dizzy contains (a damaged page redb's reader
/// gave up on) is reported in its error instead.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = dizzy_components::panic_message(info.payload()).unwrap_or_default();
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = Some(format!("{message}{at}"));
            }
        }));
    });
}

/// Installs the log subscriber: warnings by default, `DIZZY_LOG` to change
/// (`DIZZY_LOG=info` shows each commit, `debug` timings); colour only on a
/// terminal. Does nothing if the program installed its own.
///
/// Lines are written by a thread of their own and never block the program:
/// when stderr cannot take them (a pipe nobody reads, a full disk), lines
/// beyond a queue of [`LOG_QUEUE_LINES`] are dropped rather than stopping
/// the run (and its response to a stop request). [`flush_logs`] writes what is queued
/// (at most a second's wait); [`Cli::run`] calls it before returning.
pub fn init_logs() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIZZY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::stderr());
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        // A failed write to stderr (full, closed) is not reported on
        // stderr again: tracing-subscriber's report would panic there.
        .log_internal_errors(false)
        .with_target(false)
        .try_init();
    if installed.is_ok()
        && let Ok(mut g) = LOG_GUARD.lock()
    {
        *g = Some(guard);
    }
}

/// Writes the log lines still queued (see [`init_logs`]), waiting at most a
/// second; later lines are no longer written.
pub fn flush_logs() {
    let guard = LOG_GUARD.lock().ok().and_then(|mut g| g.take());
    drop(guard);
}

/// Log lines queued for stderr at most ([`init_logs`]). The queue is
/// allocated and written whole when logging starts, so it is sized for
/// what a blocked stderr should hold, not more: tracing-appender's default
/// of 128,000 lines is 4 MiB touched before `main` does anything, about
/// 3 ms of every command's start on the machines of this project.
pub const LOG_QUEUE_LINES: usize = 8192;

/// What keeps the log thread's queue until it is flushed.
static LOG_GUARD: std::sync::Mutex<Option<tracing_appender::non_blocking::WorkerGuard>> =
    std::sync::Mutex::new(None);

/// A usage error as one line, as every other error prints (`error:
/// unexpected argument '--nope' found (see `dizzy show --help`)`); `None`
/// for help and version, which clap prints whole.
fn usage_error_line(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let text = e.render().to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error: invalid arguments");
    // clap's integer parsers say what Rust's `parse` says ("invalid digit
    // found in string"): say what the option takes instead.
    let first = match std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::num::ParseIntError>())
    {
        Some(p) => first.replace(
            &p.to_string(),
            match p.kind() {
                std::num::IntErrorKind::PosOverflow => "too large a number",
                _ => "expected a whole number, 0 or more",
            },
        ),
        None => first.to_owned(),
    };
    // "the following required arguments were not provided:" names them on
    // the lines after: name them on this one.
    let first = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::MissingRequiredArgument, Some(ContextValue::Strings(missing))) => {
            format!("{} {}", first.trim_end(), missing.join(", "))
        }
        _ => first,
    };
    let first = first.as_str();
    let usage = match e.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(u)) => u.to_string(),
        _ => String::new(),
    };
    // `Usage: dizzy show [OPTIONS]` names the command the help is for.
    let command: Vec<&str> = usage
        .trim()
        .trim_start_matches("Usage:")
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    Some(if command.is_empty() {
        format!("{first} (see --help)")
    } else {
        format!("{first} (see `{} --help`)", command.join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::{shell, usage_error_line};

    /// The binary's own subcommands (this comment must not become the
    /// binary's about text).
    #[derive(Debug, clap::Subcommand)]
    enum Own {
        /// Do the work.
        Work,
    }

    fn help(about: Option<&str>) -> String {
        let mut command = shell(
            "my-tool".into(),
            Some("1.2.3".into()),
            about.map(str::to_owned),
            vec![<Own as clap::Subcommand>::augment_subcommands],
            Some(std::path::Path::new("lab.redb")),
        );
        command.render_long_help().to_string()
    }

    #[test]
    fn a_usage_error_is_one_line_naming_the_help_to_read() {
        let command = || {
            shell(
                "my-tool".into(),
                Some("1.2.3".into()),
                None,
                vec![<Own as clap::Subcommand>::augment_subcommands],
                None,
            )
        };
        let e = command()
            .try_get_matches_from(["my-tool", "show", "--nope"])
            .unwrap_err();
        let line = usage_error_line(&e).unwrap();
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("error: unexpected argument '--nope'"),
            "{line}"
        );
        assert!(line.ends_with("(see `my-tool show --help`)"), "{line}");
        let help = command()
            .try_get_matches_from(["my-tool", "--help"])
            .unwrap_err();
        assert_eq!(usage_error_line(&help), None);
    }

    #[test]
    fn a_binary_without_about_text_shows_none_of_ours() {
        // `run!` in a crate with no `description` passes an empty one.
        let text = help(None);
        assert!(text.starts_with("Usage: my-tool <COMMAND>"), "{text}");
        assert!(!text.contains("clap shell"), "{text}");
        assert!(!text.contains("set at run time"), "{text}");
        assert!(!text.contains("must not become"), "{text}");
        assert!(text.contains("  work "), "{text}");
    }

    #[test]
    fn a_binary_with_about_text_shows_it_and_its_file() {
        let text = help(Some("Looks after the lab."));
        assert!(text.starts_with("Looks after the lab.\n"), "{text}");
        let mut command = shell(
            "my-tool".into(),
            None,
            None,
            Vec::new(),
            Some("lab.redb".as_ref()),
        );
        let show = command
            .find_subcommand_mut("show")
            .map(|s| s.render_long_help().to_string());
        assert!(show.is_some_and(|h| h.contains("[default: lab.redb]")));
        // The default is used: `show` without `--db` parses.
        let matches = command.try_get_matches_from(["my-tool", "show"]);
        let db = matches.ok().and_then(|m| {
            m.subcommand_matches("show")?
                .get_one::<std::path::PathBuf>("db")
                .cloned()
        });
        assert_eq!(db, Some("lab.redb".into()));
    }
}
