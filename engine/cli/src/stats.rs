//! `dizzy stats`: per snapshot, how many entities have each component and
//! how many bytes each component's column took.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use dizzy_components::{Kind, Registry};
use dizzy_snapshots::{Decode, Inspection, Inspector, SnapshotMeta};
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
    snapshot: Option<u64>,
    /// Print a JSON array, one object per snapshot.
    #[arg(long)]
    json: bool,
}

/// One component (or resource) in one snapshot.
#[derive(Default)]
struct Column {
    /// Entities that have it, in the world at the snapshot.
    entities: u64,
    /// Values this snapshot wrote (all of them in a full snapshot, the
    /// changed ones in a delta).
    written: u64,
    /// Bytes of those values' chunks (framing included), and of the
    /// removals a delta records for it.
    bytes: u64,
}

/// The statistics of one snapshot.
struct Stats {
    components: BTreeMap<String, Column>,
    resources: BTreeMap<String, Column>,
    /// Bytes of dizzy's own columns (uids, spawns, despawns).
    own_bytes: u64,
}

fn stats(inspection: &Inspection) -> Stats {
    let meta = &inspection.meta;
    let mut components: BTreeMap<String, Column> = meta
        .schemas
        .iter()
        .filter(|s| s.kind == Kind::Component)
        .map(|s| (s.name.clone(), Column::default()))
        .collect();
    for c in inspection.entities.values() {
        for name in c.keys() {
            components.entry(name.clone()).or_default().entities += 1;
        }
    }
    let mut resources: BTreeMap<String, Column> = inspection
        .resources
        .keys()
        .map(|n| (n.clone(), Column::default()))
        .collect();
    let mut own_bytes = 0;
    for c in &meta.columns {
        if let Some(name) = c.name.strip_prefix("@res/") {
            let r = resources.entry(name.to_owned()).or_default();
            r.written += c.rows;
            r.bytes += c.bytes;
        } else if let Some(name) = c.name.strip_prefix("@remove/") {
            components.entry(name.to_owned()).or_default().bytes += c.bytes;
        } else if c.name.starts_with('@') {
            own_bytes += c.bytes;
        } else {
            let col = components.entry(c.name.clone()).or_default();
            col.written += c.rows;
            col.bytes += c.bytes;
        }
    }
    Stats {
        components,
        resources,
        own_bytes,
    }
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), args.snapshot.is_none())?;
    let mut inspector = Inspector::new(&store, registry, Decode::Nothing)?;
    let ids: Vec<u64> = match args.snapshot {
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
    let column = |c: &Column, with_entities: bool| {
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
