//! `dizzy stats`: per snapshot, how many entities have each component and
//! how many bytes each component's column took.

use std::io::Write;
use std::path::PathBuf;

use dizzy_components::Registry;
use dizzy_snapshots::{ColumnStats, Decode, Inspector, SnapshotMeta, SnapshotRef, Stats, stats};
use serde_json::{Value, json};

use crate::CliError;
use crate::snapshots::utc;
use crate::view;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// Only this snapshot (all of them if not given).
    #[arg(long)]
    snapshot: Option<SnapshotRef>,
    /// Print a JSON array, one object per snapshot.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), args.snapshot.is_none())?;
    let mut inspector = Inspector::new(&store, registry, Decode::Nothing)?;
    let ids: Vec<u64> = match view::snapshot_id(&store, args.snapshot)? {
        Some(id) => vec![store.snapshot(id)?.id],
        None => inspector.snapshots()?.iter().map(|m| m.id).collect(),
    };
    if ids.is_empty() {
        return Err(CliError::new(format!(
            "{}: holds no snapshot",
            args.db.display()
        )));
    }
    let mut out = view::stdout();
    let mut all = Vec::new();
    let mut written = Ok(());
    for id in ids {
        let inspection = inspector.at(Some(id))?;
        let s = stats(inspection);
        if args.json {
            all.push(to_json(&inspection.meta, inspection.entities.len(), &s));
        } else {
            let entities = inspection.entities.len();
            written = written.and_then(|()| text(&mut out, &inspection.meta, entities, &s));
        }
    }
    if args.json {
        written = writeln!(out, "{}", Value::Array(all));
    }
    view::finish(&mut out, written)
}

fn to_json(meta: &SnapshotMeta, entities: usize, s: &Stats) -> Value {
    let column = |c: &ColumnStats, with_entities: bool| {
        let mut v = json!({ "values_written": c.written, "bytes": c.bytes });
        if with_entities {
            v["entities"] = json!(c.entities);
        }
        v
    };
    json!({
        "id": meta.id,
        "kind": meta.kind.as_str(),
        "base": meta.base,
        "tick": meta.tick,
        "time_unix_ms": meta.unix_ms,
        "entities": entities,
        "bytes": meta.bytes,
        "components": s.components.iter().map(|(n, c)| (n.clone(), column(c, true))).collect::<serde_json::Map<_, _>>(),
        "resources": s.resources.iter().map(|(n, c)| (n.clone(), column(c, false))).collect::<serde_json::Map<_, _>>(),
        "own_bytes": s.own_bytes,
    })
}

fn text(
    out: &mut impl Write,
    meta: &SnapshotMeta,
    entities: usize,
    s: &Stats,
) -> std::io::Result<()> {
    let kind = match meta.base {
        Some(base) => format!("delta on {base}"),
        None => meta.kind.as_str().to_owned(),
    };
    writeln!(
        out,
        "snapshot {} ({kind}), tick {}, {}: {} entities, {} bytes",
        meta.id,
        meta.tick,
        utc(meta.unix_ms),
        entities,
        meta.bytes
    )?;
    let header: Vec<String> = ["  component", "entities", "values written", "bytes"]
        .map(str::to_owned)
        .to_vec();
    let mut rows: Vec<Vec<String>> = s
        .components
        .iter()
        .map(|(n, c)| {
            vec![
                format!("  {n}"),
                c.entities.to_string(),
                c.written.to_string(),
                c.bytes.to_string(),
            ]
        })
        .collect();
    rows.extend(s.resources.iter().map(|(n, c)| {
        vec![
            format!("  {n} (resource)"),
            String::new(),
            c.written.to_string(),
            c.bytes.to_string(),
        ]
    }));
    rows.push(vec![
        "  (uids, spawns, despawns)".to_owned(),
        String::new(),
        String::new(),
        s.own_bytes.to_string(),
    ]);
    view::table(out, &header, &rows)?;
    writeln!(out)
}
