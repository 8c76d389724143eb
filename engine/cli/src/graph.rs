//! `dizzy graph`: the tick schedule as a diagram — systems, their sets and
//! ordering edges, what each reads and writes, and which run at the same
//! time. Every snapshot records the schedule of the app that wrote it, so a
//! file alone gives its diagram; without a file, the diagram is this
//! program's own. Sync points bevy inserts are left out unless `--sync`;
//! `--diff A B` shows what changed between two recorded schedules.

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
    /// Also draw the sync points bevy inserts (`apply_deferred (auto sync
    /// n)`), where commands are applied (the JSON always has them).
    #[arg(long)]
    sync: bool,
    /// Show what changed between two schedules instead: each is a snapshot
    /// of `--db` (an id, `latest`, `latest~N`) or another dizzy file (its
    /// latest snapshot). With `--format json`, the changes as JSON.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "snapshot")]
    diff: Option<Vec<String>>,
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

/// The recorded schedule `which` names: a snapshot of `db`, or a file.
fn side(db: Option<&std::path::Path>, which: &str) -> Result<ScheduleDescription, CliError> {
    let (file, snapshot) = match (db, which.parse::<SnapshotRef>()) {
        (Some(db), Ok(r)) => (db.to_owned(), Some(r)),
        _ => (PathBuf::from(which), None),
    };
    if !crate::remote::is_url(&file) && !file.exists() {
        return Err(CliError::new(format!(
            "{which}: neither a snapshot of --db (an id, latest, latest~N) nor an existing file"
        )));
    }
    recorded(&file, snapshot)?.ok_or_else(|| {
        CliError::new(format!(
            "{}: {} records no schedule",
            file.display(),
            snapshot.map_or_else(
                || "the latest snapshot".to_owned(),
                |r| format!("snapshot {r}")
            )
        ))
    })
}

fn diff(args: &Args, sides: &[String]) -> Result<(), CliError> {
    let [a, b] = sides else {
        return Err(CliError::new("--diff takes two schedules: A B"));
    };
    let old = side(args.db.as_deref(), a)?;
    let new = side(args.db.as_deref(), b)?;
    let changes = new.diff_from(&old);
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&changes)? + "\n",
        _ if changes.is_empty() => format!("no changes from {a} to {b}\n"),
        _ => format!("changes from {a} to {b}:\n{changes}\n"),
    };
    let mut out = view::stdout();
    let written = out.write_all(text.as_bytes());
    view::finish(&mut out, written)
}

pub(crate) fn run(args: Args, app: App) -> Result<(), CliError> {
    if let Some(sides) = &args.diff {
        return diff(&args, sides);
    }
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
    // JSON is the record itself; the drawings leave bevy's sync points out.
    let description = if args.sync || args.format == Format::Json {
        description
    } else {
        description.without_sync_points()
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
