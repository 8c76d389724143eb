//! `dizzy show`: the entities of a snapshot with their components decoded.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use dizzy_components::Registry;
use dizzy_snapshots::{Components, Decode, Inspection, Inspector, SnapshotRef};

use crate::CliError;
use crate::view::{self, entity_line, short};

/// Widest cell of the terminal table, in characters.
const CELL: usize = 40;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// The world at this snapshot (its full snapshot and deltas up to it);
    /// the latest if not given.
    #[arg(long)]
    snapshot: Option<SnapshotRef>,
    /// Only the entity with this uid (repeat for several).
    #[arg(long = "uid", value_name = "U")]
    uids: Vec<u64>,
    /// Only entities that have this component, by stable name (repeat: all of them).
    #[arg(long = "with", value_name = "COMPONENT")]
    with: Vec<String>,
    /// Show at most N of the selected entities (by uid order).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Skip the first M selected entities (by uid order).
    #[arg(long, value_name = "M", default_value_t = 0)]
    offset: usize,
    /// Print a JSON array, one object per entity: its `uid` and its
    /// components under their stable names (entity references as uids);
    /// components this build cannot decode are listed under `@undecoded`.
    #[arg(long)]
    json: bool,
}

/// Checks that every name in `with` is a component of the snapshot (or of
/// this build); the error lists the components the snapshot has.
pub(crate) fn check_components(
    db: &Path,
    inspection: &Inspection,
    registry: &Registry,
    with: &[String],
) -> Result<(), CliError> {
    for name in with {
        let registered = registry
            .get(name)
            .is_some_and(|r| r.kind() == dizzy_components::Kind::Component);
        if !registered && !inspection.knows_component(name) {
            let known: BTreeSet<&str> = inspection
                .meta
                .schemas
                .iter()
                .filter(|s| s.kind == dizzy_components::Kind::Component)
                .map(|s| s.name.as_str())
                .collect();
            let known: Vec<&str> = known.into_iter().collect();
            return Err(CliError::new(format!(
                "{}: snapshot {} has no component `{name}` (components: {})",
                db.display(),
                inspection.meta.id,
                known.join(", ")
            )));
        }
    }
    Ok(())
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), false)?;
    let mut inspector = Inspector::new(&store, registry, Decode::All)?;
    if !args.uids.is_empty() {
        inspector = inspector.only_uids(args.uids.iter().copied().collect());
    }
    let at = view::snapshot_id(&store, args.snapshot)?;
    let inspection = inspector.at(at)?;
    check_components(&args.db, inspection, registry, &args.with)?;
    for uid in &args.uids {
        if !inspection.entities.contains_key(uid) {
            return Err(CliError::new(format!(
                "{}: snapshot {} holds no entity with uid {uid}",
                args.db.display(),
                inspection.meta.id
            )));
        }
    }
    let matching = inspection
        .entities
        .iter()
        .filter(|(uid, _)| args.uids.is_empty() || args.uids.contains(uid))
        .filter(|(_, c)| args.with.iter().all(|n| c.contains_key(n)));
    let mut total = 0;
    let mut selected: Vec<(u64, &Components)> = Vec::new();
    for (i, (&uid, c)) in matching.enumerate() {
        total += 1;
        if i >= args.offset && args.limit.is_none_or(|n| selected.len() < n) {
            selected.push((uid, c));
        }
    }
    let page = (args.limit.is_some() || args.offset > 0).then_some(Page {
        offset: args.offset,
        selected: total,
    });
    view::warn_undecodable(inspection);
    let mut out = view::stdout();
    let written = if args.json {
        json(&mut out, &selected)
    } else {
        let whole = args.uids.is_empty() && args.with.is_empty() && page.is_none();
        text(&mut out, &args.db, inspection, &selected, whole, page)
    };
    view::finish(&mut out, written)
}

/// Where a page of `--limit`/`--offset` starts, and how many entities
/// matched before paging.
#[derive(Clone, Copy)]
struct Page {
    offset: usize,
    selected: usize,
}

fn json(out: &mut impl Write, selected: &[(u64, &Components)]) -> std::io::Result<()> {
    // One entity per line inside the array: valid JSON, and greppable.
    writeln!(out, "[")?;
    for (i, (uid, components)) in selected.iter().enumerate() {
        let comma = if i + 1 < selected.len() { "," } else { "" };
        writeln!(out, "{}{comma}", entity_line(*uid, components))?;
    }
    writeln!(out, "]")
}

fn text(
    out: &mut impl Write,
    db: &Path,
    inspection: &Inspection,
    selected: &[(u64, &Components)],
    whole: bool,
    page: Option<Page>,
) -> std::io::Result<()> {
    let meta = &inspection.meta;
    let paged = page.map_or_else(String::new, |p| {
        if p.offset < p.selected {
            format!(" (from entity {} of {} selected)", p.offset + 1, p.selected)
        } else {
            format!(
                " (--offset {} is past the {} selected)",
                p.offset, p.selected
            )
        }
    });
    writeln!(
        out,
        "{}: snapshot {} (tick {}): {} of {} entities{paged}",
        db.display(),
        meta.id,
        meta.tick,
        selected.len(),
        inspection.entities.len()
    )?;
    if view::on_terminal() {
        let names: BTreeSet<&String> = selected.iter().flat_map(|(_, c)| c.keys()).collect();
        let mut header = vec!["uid".to_owned()];
        header.extend(names.iter().map(|n| (*n).clone()));
        let rows: Vec<Vec<String>> = selected
            .iter()
            .map(|(uid, c)| {
                let mut row = vec![uid.to_string()];
                row.extend(names.iter().map(|n| match c.get(*n) {
                    Some(v) => short(v.as_ref(), CELL),
                    None => String::new(),
                }));
                row
            })
            .collect();
        view::table(out, &header, &rows)?;
    } else {
        for (uid, components) in selected {
            writeln!(out, "uid {uid}")?;
            for (name, value) in *components {
                let value = value
                    .as_ref()
                    .map_or_else(|| "(not decoded)".to_owned(), view::json_text);
                writeln!(out, "  {}: {value}", view::terminal_safe(name))?;
            }
        }
    }
    if whole {
        for (name, value) in &inspection.resources {
            let value = value
                .as_ref()
                .map_or_else(|| "(not decoded)".to_owned(), view::json_text);
            writeln!(out, "resource {}: {value}", view::terminal_safe(name))?;
        }
    }
    Ok(())
}
