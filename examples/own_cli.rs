//! A binary with its own command line: dizzy's inspection subcommands
//! (`snapshots`, `show`, `stats`, `diff`, `graph`, `export`, ...) with this
//! app's types compiled in and its file as the default `--db`, plus a
//! subcommand of its own (`work`, a clap derive enum) — all under this
//! binary's name, version and about text. `work` connects SIGINT and
//! SIGTERM to the run: the first finishes the tick and saves (exit code
//! 130 or 143), so the next `work` resumes.
//!
//! ```sh
//! cargo run -p dizzy-examples --bin own_cli -- --help
//! cargo run -p dizzy-examples --bin own_cli -- work --tasks 5000
//! cargo run -p dizzy-examples --bin own_cli -- snapshots
//! cargo run -p dizzy-examples --bin own_cli -- show --with squares.square --limit 3
//! ```
use std::process::ExitCode;

use dizzy::prelude::*;
use dizzy_cli::{Cli, CliError};

#[derive(Component, Serialize, Deserialize)]
struct Task {
    n: u64,
}
#[derive(Component, Serialize, Deserialize)]
struct Square(u64);

fn work(mut commands: Commands, todo: Query<(Entity, &Uid, &Task), Without<Square>>) {
    for (e, _, t) in todo.iter().sort::<&Uid>().take(100) {
        commands.entity(e).insert(Square(t.n * t.n));
    }
}

/// This binary's own subcommands, beside dizzy's.
#[derive(clap::Subcommand)]
enum Own {
    /// Square numbers until all are done (resumes the file's run).
    Work {
        /// The dizzy file.
        #[arg(long, default_value = "squares.redb")]
        db: std::path::PathBuf,
        /// How many numbers a new run squares.
        #[arg(long, default_value_t = 1_000)]
        tasks: u64,
    },
}

fn app() -> App {
    App::new()
        .db("squares.redb")
        .component::<Task>("squares.task")
        .component::<Square>("squares.square")
        .systems(work)
}

fn run_work(app: App, tasks: u64) -> Result<(), CliError> {
    let mut run = app.open()?;
    if run.resumed_from().is_none() {
        for n in 0..tasks {
            run.spawn(Task { n });
        }
    }
    let stop = run.stop_handle();
    let _signals = dizzy_cli::on_signals(&stop)?;
    let end = run.run_until(|w: &mut World| {
        w.query_filtered::<(), (With<Task>, Without<Square>)>()
            .iter(w)
            .next()
            .is_none()
    })?;
    let tick = run.tick_count();
    let saved = run.close()?;
    if end == RunEnd::Interrupted {
        return Err(CliError::stopped(
            format!(
                "stopped at tick {tick}, saved in snapshot {saved:?}; run `work` again to resume"
            ),
            // The signal's number: exit code 128 + it.
            stop.reason(),
        ));
    }
    dizzy_cli::outln!("done at tick {tick}");
    Ok(())
}

fn main() -> ExitCode {
    Cli::new(app())
        .name("own_cli")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Squares numbers, resumably; and looks inside its own file")
        .subcommands(|own: Own, app: App| match own {
            Own::Work { db, tasks } => run_work(app.db(db), tasks),
        })
        .run()
}
