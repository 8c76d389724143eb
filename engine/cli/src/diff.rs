//! `dizzy diff`: what changed between two snapshots: entities spawned and
//! despawned, components added, removed or changed (old and new values),
//! and resources changed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use dizzy_components::Registry;
use dizzy_snapshots::{Decode, Inspection, Inspector};
use serde_json::{Value, json};

use crate::CliError;
use crate::view::{self, components_json, entity_json, short};

/// Widest value in the text form, in characters.
const VALUE: usize = 120;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// The earlier snapshot.
    a: u64,
    /// The later snapshot.
    b: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// A component of one entity whose value differs (`None`: not decoded).
struct Change<'a> {
    uid: u64,
    component: &'a str,
    old: Option<&'a Value>,
    new: Option<&'a Value>,
}

/// The differences from `a` to `b`.
struct Diff<'a> {
    spawned: Vec<u64>,
    despawned: Vec<u64>,
    added: Vec<Change<'a>>,
    removed: Vec<Change<'a>>,
    changed: Vec<Change<'a>>,
    /// Resources whose value differs, appeared or disappeared.
    resources: Vec<(&'a str, Option<&'a Value>, Option<&'a Value>)>,
}

fn diff<'a>(a: &'a Inspection, b: &'a Inspection) -> Diff<'a> {
    let mut d = Diff {
        spawned: b
            .entities
            .keys()
            .filter(|u| !a.entities.contains_key(u))
            .copied()
            .collect(),
        despawned: a
            .entities
            .keys()
            .filter(|u| !b.entities.contains_key(u))
            .copied()
            .collect(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        resources: Vec::new(),
    };
    for (&uid, old) in &a.entities {
        let Some(new) = b.entities.get(&uid) else {
            continue;
        };
        for (name, before) in old {
            match new.get(name) {
                None => d.removed.push(Change {
                    uid,
                    component: name,
                    old: before.as_ref(),
                    new: None,
                }),
                Some(after) if after != before => d.changed.push(Change {
                    uid,
                    component: name,
                    old: before.as_ref(),
                    new: after.as_ref(),
                }),
                Some(_) => {}
            }
        }
        for (name, after) in new {
            if !old.contains_key(name) {
                d.added.push(Change {
                    uid,
                    component: name,
                    old: None,
                    new: after.as_ref(),
                });
            }
        }
    }
    let names: std::collections::BTreeSet<&String> =
        a.resources.keys().chain(b.resources.keys()).collect();
    for name in names {
        let (old, new) = (a.resources.get(name), b.resources.get(name));
        if old != new {
            d.resources.push((
                name,
                old.and_then(Option::as_ref),
                new.and_then(Option::as_ref),
            ));
        }
    }
    d
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, &[args.a, args.b], false)?;
    let mut inspector = Inspector::new(&store, registry, Decode::All)?;
    // Check both ids before the (longer) work.
    store.snapshot(args.a)?;
    store.snapshot(args.b)?;
    let a = inspector.at(Some(args.a))?.clone();
    let b = inspector.at(Some(args.b))?;
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
            "from": args.a,
            "to": args.b,
            "spawned": entities(&d.spawned, b),
            "despawned": entities(&d.despawned, &a),
            "added": d.added.iter().map(|c| change(c, false, true)).collect::<Vec<_>>(),
            "removed": d.removed.iter().map(|c| change(c, true, false)).collect::<Vec<_>>(),
            "changed": d.changed.iter().map(|c| change(c, true, true)).collect::<Vec<_>>(),
            "resources": d.resources.iter().map(|(n, old, new)| json!({"resource": n, "old": old, "new": new})).collect::<Vec<_>>(),
            "not_decodable": undecodable,
        });
        writeln!(out, "{value}")
    } else {
        text(&mut out, &args, &a, b, &d)
    };
    view::finish(&mut out, written)
}

fn text(
    out: &mut impl Write,
    args: &Args,
    a: &Inspection,
    b: &Inspection,
    d: &Diff<'_>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: snapshot {} -> {}: {} spawned, {} despawned, {} components added, {} removed, {} changed",
        args.db.display(),
        args.a,
        args.b,
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
        writeln!(
            out,
            "~ uid {} {}: {} -> {}",
            c.uid,
            c.component,
            short(c.old, VALUE / 2),
            short(c.new, VALUE / 2)
        )?;
    }
    for (name, old, new) in &d.resources {
        writeln!(
            out,
            "~ resource {name}: {} -> {}",
            short(*old, VALUE / 2),
            short(*new, VALUE / 2)
        )?;
    }
    Ok(())
}
