//! `dizzy trace`: every entity of a correlation as a causal tree (by
//! `dizzy.caused_by`), with the snapshot in which each first appeared.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use dizzy_components::{CAUSED_BY, CORRELATION, Registry};
use dizzy_snapshots::{
    Decode, Inspection, Inspector, SnapshotRef, Trace, TraceNode, trace, trace_correlation,
};
use serde_json::{Value, json};

use crate::CliError;
use crate::view::{self, cut};

/// Widest component summary in the text form, in characters.
const SUMMARY: usize = 100;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// The world at this snapshot (the latest if not given).
    #[arg(long)]
    snapshot: Option<SnapshotRef>,
    /// A uid (its correlation is traced) or a correlation id; a number that
    /// is both is taken as the uid (see --correlation).
    #[arg(value_name = "CORRELATION|UID")]
    id: u64,
    /// Only the uid's causes and its effects, not the whole correlation.
    #[arg(long)]
    branch: bool,
    /// Take the number as a correlation id, also when an entity has it as
    /// its uid.
    #[arg(long, conflicts_with = "branch")]
    correlation: bool,
    /// Print one JSON object: the correlation and its tree (`roots`, each
    /// node with `uid`, `caused_by`, `first_snapshot`, `components`,
    /// `children`).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), false)?;
    let mut inspector = Inspector::new(&store, registry, Decode::All)?;
    let at = view::snapshot_id(&store, args.snapshot)?;
    let inspection = inspector.at(at)?.clone();
    let snapshot = inspection.meta.id;
    let tree = if args.correlation {
        trace_correlation(&inspection.entities, args.id)
    } else {
        trace(&inspection.entities, args.id, args.branch)
    };
    let tree = tree.ok_or_else(|| {
        let what = if args.correlation {
            "correlation"
        } else {
            "uid or correlation"
        };
        CliError::new(format!(
            "{}: snapshot {snapshot} holds no entity with {what} {}",
            args.db.display(),
            args.id
        ))
    })?;
    // A number that is a uid and another correlation's id: say which was
    // traced, and how to ask for the other.
    if !args.correlation && tree.correlation != Some(args.id) {
        let other = inspection
            .entities
            .values()
            .any(|c| matches!(c.get(CORRELATION), Some(Some(v)) if v.as_u64() == Some(args.id)));
        if other {
            eprintln!(
                "note: {} is a uid and also a correlation id; traced the uid's (`--correlation` traces correlation {})",
                args.id, args.id
            );
        }
    }
    let members = tree.members();
    let first = inspector.first_seen(&members, snapshot)?;
    view::warn_undecodable(&inspection);
    let mut out = view::stdout();
    let written = if args.json {
        let roots: Vec<Value> = tree
            .nodes()
            .into_iter()
            .map(|n| node_json(n, &inspection, &first))
            .collect();
        let value = json!({
            "correlation": tree.correlation,
            "snapshot": snapshot,
            "entities": members.len(),
            "roots": roots,
        });
        writeln!(out, "{}", view::json_text(&value))
    } else {
        text(&mut out, &args, &tree, &inspection, &first)
    };
    view::finish(&mut out, written)
}

fn node_json(node: TraceNode, inspection: &Inspection, first: &BTreeMap<u64, u64>) -> Value {
    let components = inspection.entities.get(&node.uid);
    let caused_by = components.and_then(|c| c.get(CAUSED_BY)).cloned().flatten();
    let shown: serde_json::Map<String, Value> = components
        .into_iter()
        .flatten()
        .filter_map(|(n, v)| Some((n.clone(), v.clone()?)))
        .collect();
    json!({
        "uid": node.uid,
        "caused_by": caused_by,
        "first_snapshot": first.get(&node.uid),
        "components": shown,
        "children": node.children.into_iter().map(|n| node_json(n, inspection, first)).collect::<Vec<_>>(),
    })
}

fn text(
    out: &mut impl Write,
    args: &Args,
    tree: &Trace,
    inspection: &Inspection,
    first: &BTreeMap<u64, u64>,
) -> std::io::Result<()> {
    let what = match tree.correlation {
        Some(c) => format!("correlation {c}"),
        None => format!("uid {} (no correlation)", args.id),
    };
    writeln!(
        out,
        "{}: {what} at snapshot {}: {} entities",
        args.db.display(),
        inspection.meta.id,
        tree.parent.len()
    )?;
    fn line(
        out: &mut dyn Write,
        node: &TraceNode,
        prefix: &str,
        last: Option<bool>,
        inspection: &Inspection,
        first: &BTreeMap<u64, u64>,
        focus: u64,
    ) -> std::io::Result<()> {
        let branch = match last {
            None => "",
            Some(true) => "└── ",
            Some(false) => "├── ",
        };
        let summary = inspection
            .entities
            .get(&node.uid)
            .map(|c| {
                c.iter()
                    .filter(|(n, _)| *n != CORRELATION && *n != CAUSED_BY)
                    .map(|(n, v)| {
                        let v = v.as_ref().map_or_else(|| "?".to_owned(), view::json_text);
                        format!("{} {v}", view::terminal_safe(n))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let seen = first
            .get(&node.uid)
            .map_or_else(|| "snapshot ?".to_owned(), |s| format!("snapshot {s}"));
        let mark = if node.uid == focus { "  <==" } else { "" };
        writeln!(
            out,
            "{prefix}{branch}{} {} ({seen}){mark}",
            node.uid,
            cut(&summary, SUMMARY)
        )?;
        let inner = match last {
            None => prefix.to_owned(),
            Some(true) => format!("{prefix}    "),
            Some(false) => format!("{prefix}│   "),
        };
        for (i, child) in node.children.iter().enumerate() {
            let last = i + 1 == node.children.len();
            line(out, child, &inner, Some(last), inspection, first, focus)?;
        }
        Ok(())
    }
    for root in tree.nodes() {
        line(out, &root, "", None, inspection, first, args.id)?;
    }
    Ok(())
}
