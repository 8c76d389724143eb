//! The `dizzy` binary: dizzy's command line with the demos and the
//! benchmark built in (`dizzy demo dedupe DIR`, `dizzy bench snapshot`), and
//! every inspection subcommand able to decode the demos' files.

use std::process::ExitCode;

use dizzy_cli::{Cli, CliError};

mod bench;
mod bench_dir;
mod bench_hierarchy;
mod bench_replicate;
mod dedupe;
mod particles;
mod replicate;

/// The binary's own subcommands, beside the inspection ones.
#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Run a built-in demo.
    #[command(subcommand)]
    Demo(Demo),
    /// Measure snapshot, restore and tick costs (prints JSON).
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Debug, clap::Subcommand)]
enum Demo {
    /// Find duplicate files under DIR, resumably.
    Dedupe(dedupe::Args),
    /// A deterministic particle simulation that snapshots every tick.
    Particles(particles::Args),
}

#[derive(Debug, clap::Subcommand)]
enum Bench {
    /// Full and delta snapshots, restore and ticks, against baselines and hecs.
    Snapshot(bench::Args),
    /// Replication's lag and its cost to a particles run (with and without).
    Replicate(bench_replicate::Args),
    /// Restoring a bevy hierarchy (`ChildOf`, `Children` in order) against
    /// plain bevy building it.
    Hierarchy(bench_hierarchy::Args),
}

fn main() -> ExitCode {
    // The binary registers none of an app's types: it keeps them byte for
    // byte (as `compact` does), so `dizzy import` of an app's bundle works
    // without `--unknown keep` (`--unknown fail|skip` still choose).
    Cli::new(dizzy_demos::registry_app().unknown_components(dizzy::Unknown::Keep))
        .name("dizzy")
        .version(env!("CARGO_PKG_VERSION"))
        .about("dizzy: an entity-component-system data runtime whose worlds survive being killed")
        .subcommands(|tool: Tool, _app| match tool {
            Tool::Demo(Demo::Dedupe(args)) => dedupe::run(args),
            Tool::Demo(Demo::Particles(args)) => particles::run(args),
            Tool::Bench(Bench::Snapshot(args)) => bench::run(args),
            Tool::Bench(Bench::Replicate(args)) => bench_replicate::run(args),
            Tool::Bench(Bench::Hierarchy(args)) => bench_hierarchy::run(args),
        })
        .run()
}

/// The error of a run that a stop request (a signal) ended: its progress is
/// saved in `db` at `snapshot`.
fn stopped(
    rt: &dizzy::Runtime,
    what: &str,
    db: &std::path::Path,
    snapshot: Option<u64>,
    json: bool,
) -> CliError {
    if json {
        // What a script reading stdout learns of a run that stopped early
        // (the message goes to stderr, the exit status says why).
        dizzy_cli::outln!(
            "{}",
            serde_json::json!({
                "stopped": what,
                "db": db.display().to_string(),
                "snapshot": snapshot,
                "tick": rt.tick_count(),
                "resume": "run the same command",
            })
        );
    }
    CliError::stopped(
        format!(
            "{what}; progress is saved in {} (snapshot {}), run the same command to resume",
            db.display(),
            snapshot.map_or_else(|| "none".to_owned(), |s| s.to_string())
        ),
        rt.stop_handle().reason(),
    )
}

/// Opens a demo's app. A file whose snapshot holds a component the demo
/// does not have (another demo's run, an app's file) is named as not a run
/// of this demo, rather than with the library's advice to register it.
fn open_demo(app: dizzy::App, demo: &str, db: &str) -> Result<dizzy::Runtime, CliError> {
    app.open().map_err(|e| match e {
        dizzy::OpenError::Restore(dizzy::RestoreError::Unregistered { snapshot, name, .. }) => {
            CliError::new(format!(
                "{db}: not a {demo} run: its snapshot {snapshot} holds `{name}`, which the {demo} demo does not have; use another --db"
            ))
        }
        other => other.into(),
    })
}

/// A demo's `--serve` address: this machine's only (the explorer has no
/// authentication), checked before the run's file is touched.
fn parse_loopback(s: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = s
        .trim()
        .parse()
        .map_err(|e| format!("`{s}`: expected an address and port (127.0.0.1:8740): {e}"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "`{s}`: not a loopback address; a demo's explorer serves this machine only (127.0.0.1:PORT, [::1]:PORT); to serve others, run `dizzy serve --db FILE --allow-remote` on its file"
        ))
    }
}

/// Serves an explorer over the run's file, at `addr` if given; tells where
/// on stderr.
fn serve_explorer(
    rt: &dizzy::Runtime,
    db: &std::path::Path,
    addr: Option<std::net::SocketAddr>,
) -> Result<Option<dizzy_explorer::Serving>, CliError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let serving = dizzy_explorer::serve(rt, addr)?;
    eprintln!("{}: explorer at {}", db.display(), serving.url());
    Ok(Some(serving))
}
