//! `dizzy diff`: what changed between two snapshots: entities spawned and
//! despawned, components added, removed or changed (old and new values),
//! and resources changed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use dizzy_components::Registry;
use dizzy_snapshots::{Change, Decode, Diff, Inspection, Inspector, SnapshotRef, diff};
use serde_json::{Value, json};

use crate::CliError;
use crate::view::{self, components_json, entity_json, short, short_pair};

/// Widest value in the text form, in characters.
const VALUE: usize = 120;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// The earlier snapshot (an id, `latest` or `latest~N`).
    a: SnapshotRef,
    /// The later snapshot.
    b: SnapshotRef,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, &[args.a, args.b], false)?;
    let mut inspector = Inspector::new(&store, registry, Decode::All)?;
    // Check both ids before the (longer) work.
    let (from, to) = (args.a.resolve(&store)?, args.b.resolve(&store)?);
    let a = inspector.at(Some(from))?.clone();
    let b = inspector.at(Some(to))?;
    let mut undecodable: BTreeMap<String, String> = a.undecodable.clone();
    undecodable.extend(b.undecodable.clone());
    if let Some(note) = view::undecodable_note(&undecodable) {
        eprintln!("{note}; changes to their values are not shown");
    }
    let d = diff(&a, b);
    let mut out = view::stdout();
    let written = if args.json {
        let change = |c: &Change<'_>, old: bool, new: bool| {
            let mut v = json!({ "uid": c.uid, "component": c.component });
            match (old, new) {
                (true, true) => {
                    v["old"] = json!(c.old);
                    v["new"] = json!(c.new);
                }
                (true, false) => v["value"] = json!(c.old),
                _ => v["value"] = json!(c.new),
            }
            v
        };
        let entities = |uids: &[u64], from: &Inspection| -> Vec<Value> {
            uids.iter()
                .filter_map(|u| from.entities.get(u).map(|c| entity_json(*u, c)))
                .collect()
        };
        let value = json!({
            "from": from,
            "to": to,
            "spawned": entities(&d.spawned, b),
            "despawned": entities(&d.despawned, &a),
            "added": d.added.iter().map(|c| change(c, false, true)).collect::<Vec<_>>(),
            "removed": d.removed.iter().map(|c| change(c, true, false)).collect::<Vec<_>>(),
            "changed": d.changed.iter().map(|c| change(c, true, true)).collect::<Vec<_>>(),
            "resources": d.resources.iter().map(|r| json!({"resource": r.resource, "old": r.old, "new": r.new})).collect::<Vec<_>>(),
            "not_decodable": undecodable,
        });
        writeln!(out, "{}", view::json_text(&value))
    } else {
        text(&mut out, &args.db, &a, b, &d)
    };
    view::finish(&mut out, written)
}

fn text(
    out: &mut impl Write,
    db: &std::path::Path,
    a: &Inspection,
    b: &Inspection,
    d: &Diff<'_>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: snapshot {} -> {}: {} spawned, {} despawned, {} components added, {} removed, {} changed",
        db.display(),
        a.meta.id,
        b.meta.id,
        d.spawned.len(),
        d.despawned.len(),
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    )?;
    for (sign, uids, from) in [("+", &d.spawned, b), ("-", &d.despawned, a)] {
        for uid in uids {
            let components = from.entities.get(uid).map(components_json);
            writeln!(
                out,
                "{sign} uid {uid} {}",
                short(components.as_ref(), VALUE)
            )?;
        }
    }
    for c in &d.added {
        writeln!(
            out,
            "+ uid {} {}: {}",
            c.uid,
            c.component,
            short(c.new, VALUE)
        )?;
    }
    for c in &d.removed {
        writeln!(
            out,
            "- uid {} {} (was {})",
            c.uid,
            c.component,
            short(c.old, VALUE)
        )?;
    }
    for c in &d.changed {
        let (old, new) = short_pair(c.old, c.new, VALUE / 2);
        writeln!(out, "~ uid {} {}: {old} -> {new}", c.uid, c.component)?;
    }
    for r in &d.resources {
        let (old, new) = short_pair(r.old, r.new, VALUE / 2);
        writeln!(out, "~ resource {}: {old} -> {new}", r.resource)?;
    }
    Ok(())
}
