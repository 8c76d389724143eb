//! `dizzy graph`: the tick schedule as a diagram — systems, their sets and
//! ordering edges, what each reads and writes, and which run at the same
//! time. Every snapshot records the schedule of the app that wrote it, so a
//! file alone gives its diagram; without a file, the diagram is this
//! program's own.

use std::io::Write;
use std::path::PathBuf;

use dizzy_snapshots::SnapshotRef;
use dizzy_systems::ScheduleDescription;

use crate::CliError;
use crate::view;
use dizzy::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// A Mermaid flowchart (renders on GitHub, in Markdown).
    Mermaid,
    /// A Graphviz digraph (`dizzy graph --format dot | dot -Tsvg > schedule.svg`).
    Dot,
    /// An SVG picture, laid out by dizzy (no Graphviz needed).
    Svg,
    /// The description itself, as JSON.
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A dizzy file: draw the schedule of the app that wrote it (its latest
    /// snapshot's); without it, this program's schedule.
    #[arg(long)]
    db: Option<PathBuf>,
    /// The snapshot whose recorded schedule to draw.
    #[arg(long, requires = "db")]
    snapshot: Option<SnapshotRef>,
    /// The diagram's format.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
}

/// The schedule `app` builds, on an empty world with no file.
fn own(app: App) -> Result<ScheduleDescription, CliError> {
    Ok(app.in_memory().open()?.describe())
}

/// The schedule recorded in `db` (at `snapshot`, or the latest); `None`
/// when the file holds no snapshot or the snapshot no description.
fn recorded(
    db: &std::path::Path,
    snapshot: Option<SnapshotRef>,
) -> Result<Option<ScheduleDescription>, CliError> {
    let store = crate::remote::open(db, snapshot.as_slice(), false)?;
    let meta = match view::snapshot_id(&store, snapshot)? {
        Some(id) => Some(store.snapshot(id)?),
        None => store.latest()?,
    };
    let Some(meta) = meta else {
        return Ok(None);
    };
    if meta.app.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&meta.app).map(Some).map_err(|e| {
        CliError::new(format!(
            "{}: snapshot {}: the recorded schedule is not readable: {e}",
            db.display(),
            meta.id
        ))
    })
}

pub(crate) fn run(args: Args, app: App) -> Result<(), CliError> {
    let description = match &args.db {
        Some(db) => match recorded(db, args.snapshot)? {
            Some(d) => d,
            None => {
                eprintln!(
                    "note: {} records no schedule; this is this program's own",
                    db.display()
                );
                own(app)?
            }
        },
        None => own(app)?,
    };
    let text = match args.format {
        Format::Mermaid => description.to_mermaid(),
        Format::Dot => description.to_dot(),
        Format::Svg => description.to_svg(),
        Format::Json => serde_json::to_string_pretty(&description)? + "\n",
    };
    let mut out = view::stdout();
    let written = out.write_all(text.as_bytes());
    view::finish(&mut out, written)
}
