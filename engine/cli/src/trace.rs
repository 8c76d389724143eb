//! `dizzy trace`: every entity of a correlation as a causal tree (by
//! `dizzy.caused_by`), with the snapshot in which each first appeared.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use dizzy_components::{CAUSED_BY, CORRELATION, Registry};
use dizzy_snapshots::{Components, Decode, Inspection, Inspector};
use serde_json::{Value, json};

use crate::CliError;
use crate::view::{self, cut};

/// Deeper causes than this are shown as roots of their own (a file could
/// hold an absurdly long chain; the tree is printed recursively).
const MAX_DEPTH: usize = 256;
/// Widest component summary in the text form, in characters.
const SUMMARY: usize = 100;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// The world at this snapshot (the latest if not given).
    #[arg(long)]
    snapshot: Option<u64>,
    /// A uid (its correlation is traced) or a correlation id.
    #[arg(value_name = "CORRELATION|UID")]
    id: u64,
    /// Only the uid's causes and its effects, not the whole correlation.
    #[arg(long)]
    branch: bool,
    /// Print one JSON object: the correlation and its tree (`roots`, each
    /// node with `uid`, `caused_by`, `first_snapshot`, `components`,
    /// `children`).
    #[arg(long)]
    json: bool,
}

/// A uid's decoded `u64` component, if any.
fn number(components: &Components, name: &str) -> Option<u64> {
    components.get(name)?.as_ref()?.as_u64()
}

/// The traced entities and their tree.
struct Tree {
    correlation: Option<u64>,
    /// Members by uid, with their parent (cause) if it is a member too.
    parent: BTreeMap<u64, Option<u64>>,
    children: BTreeMap<u64, Vec<u64>>,
    roots: Vec<u64>,
}

/// The tree of `id`'s correlation (or of `id` and its effects when it has
/// none; or `id`'s causes and effects only, with `branch`); `None` when
/// nothing matches.
fn tree(entities: &BTreeMap<u64, Components>, id: u64, branch: bool) -> Option<Tree> {
    let caused_by = |uid: u64| entities.get(&uid).and_then(|c| number(c, CAUSED_BY));
    let (correlation, mut members): (Option<u64>, BTreeSet<u64>) = match entities.get(&id) {
        Some(c) => match number(c, CORRELATION) {
            Some(corr) => (Some(corr), BTreeSet::new()),
            // No correlation: the uid and what it caused.
            None => (None, BTreeSet::from([id])),
        },
        None => (Some(id), BTreeSet::new()),
    };
    if let Some(corr) = correlation {
        members.extend(
            entities
                .iter()
                .filter(|(_, c)| number(c, CORRELATION) == Some(corr))
                .map(|(&u, _)| u),
        );
    }
    let mut children: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (&uid, c) in entities {
        if let Some(cause) = number(c, CAUSED_BY) {
            children.entry(cause).or_default().push(uid);
        }
    }
    if correlation.is_none() || (branch && entities.contains_key(&id)) {
        // Effects of `id`, transitively (members of the correlation, or any
        // entity when there is none).
        let mut effects = BTreeSet::from([id]);
        let mut todo = vec![id];
        while let Some(u) = todo.pop() {
            for &child in children.get(&u).into_iter().flatten() {
                if (correlation.is_none() || members.contains(&child)) && effects.insert(child) {
                    todo.push(child);
                }
            }
        }
        if branch {
            // ...and its causes.
            let mut at = id;
            let traced = |c: &u64| match correlation {
                Some(_) => members.contains(c),
                None => entities.contains_key(c),
            };
            while let Some(cause) = caused_by(at).filter(traced) {
                if !effects.insert(cause) {
                    break;
                }
                at = cause;
            }
        }
        members = effects;
    }
    if members.is_empty() {
        return None;
    }
    let parent: BTreeMap<u64, Option<u64>> = members
        .iter()
        .map(|&u| (u, caused_by(u).filter(|c| members.contains(c) && *c != u)))
        .collect();
    let mut kids: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (&u, p) in &parent {
        if let Some(p) = p {
            kids.entry(*p).or_default().push(u);
        }
    }
    // Roots: no cause among the members (see `walk` for cycles).
    let roots: Vec<u64> = parent
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(&u, _)| u)
        .collect();
    Some(Tree {
        correlation,
        parent,
        children: kids,
        roots,
    })
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), false)?;
    let mut inspector = Inspector::new(&store, registry, Decode::All)?;
    let inspection = inspector.at(args.snapshot)?.clone();
    let snapshot = inspection.meta.id;
    let tree = tree(&inspection.entities, args.id, args.branch).ok_or_else(|| {
        CliError::new(format!(
            "{}: snapshot {snapshot} holds no entity with uid or correlation {}",
            args.db.display(),
            args.id
        ))
    })?;
    let members: BTreeSet<u64> = tree.parent.keys().copied().collect();
    let first = inspector.first_seen(&members, snapshot)?;
    view::warn_undecodable(&inspection);
    let mut out = view::stdout();
    let written = if args.json {
        let roots: Vec<Value> = walk(&tree)
            .into_iter()
            .map(|n| node_json(n, &inspection, &first))
            .collect();
        let value = json!({
            "correlation": tree.correlation,
            "snapshot": snapshot,
            "entities": members.len(),
            "roots": roots,
        });
        writeln!(out, "{value}")
    } else {
        text(&mut out, &args, &tree, &inspection, &first)
    };
    view::finish(&mut out, written)
}

/// A node of the printed tree: a uid and its children, depth-first.
struct Node {
    uid: u64,
    children: Vec<Node>,
}

/// The tree as nodes, depth-first, at most `MAX_DEPTH` deep: what the
/// depth limit cuts off, or a cycle of causes leaves unreached, is walked
/// again from a new root (the top of the cut-off part, or a cycle's
/// smallest uid).
fn walk(tree: &Tree) -> Vec<Node> {
    fn build(tree: &Tree, uid: u64, depth: usize, seen: &mut BTreeSet<u64>) -> Node {
        let mut children = Vec::new();
        if depth + 1 < MAX_DEPTH {
            for &k in tree.children.get(&uid).into_iter().flatten() {
                if seen.insert(k) {
                    children.push(build(tree, k, depth + 1, seen));
                }
            }
        }
        Node { uid, children }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut starts = tree.roots.clone();
    loop {
        for root in starts.drain(..) {
            if seen.insert(root) {
                out.push(build(tree, root, 0, &mut seen));
            }
        }
        let unreached = |u: &&u64| !seen.contains(*u);
        let top = tree
            .parent
            .iter()
            .find(|(u, p)| unreached(u) && p.is_none_or(|p| seen.contains(&p)))
            .map(|(&u, _)| u);
        match top.or_else(|| tree.parent.keys().find(unreached).copied()) {
            Some(u) => starts.push(u),
            None => break,
        }
    }
    out
}

fn node_json(node: Node, inspection: &Inspection, first: &BTreeMap<u64, u64>) -> Value {
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
    tree: &Tree,
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
        node: &Node,
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
                        let v = v.as_ref().map_or_else(|| "?".to_owned(), Value::to_string);
                        format!("{n} {v}")
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
    for root in walk(tree) {
        line(out, &root, "", None, inspection, first, args.id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entities by uid: (correlation, cause).
    fn world(rows: &[(u64, Option<u64>, Option<u64>)]) -> BTreeMap<u64, Components> {
        rows.iter()
            .map(|&(uid, corr, cause)| {
                let mut c = Components::new();
                if let Some(corr) = corr {
                    c.insert(CORRELATION.to_owned(), Some(Value::from(corr)));
                }
                if let Some(cause) = cause {
                    c.insert(CAUSED_BY.to_owned(), Some(Value::from(cause)));
                }
                (uid, c)
            })
            .collect()
    }

    fn count(nodes: &[Node]) -> usize {
        nodes.iter().map(|n| 1 + count(&n.children)).sum()
    }

    fn depth(nodes: &[Node]) -> usize {
        nodes
            .iter()
            .map(|n| 1 + depth(&n.children))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_correlation_is_one_tree_and_a_branch_its_path() {
        let w = world(&[
            (2, Some(2), None),
            (3, Some(2), Some(2)),
            (4, Some(2), Some(2)),
            (5, Some(2), Some(3)),
            (6, Some(9), None),
        ]);
        let t = tree(&w, 5, false).unwrap();
        assert_eq!(t.correlation, Some(2));
        assert_eq!(t.roots, [2]);
        assert_eq!(count(&walk(&t)), 4);
        let b = tree(&w, 3, true).unwrap();
        assert_eq!(b.parent.keys().copied().collect::<Vec<_>>(), [2, 3, 5]);
        assert!(tree(&w, 77, false).is_none());
        // A correlation id alone (its root may be gone).
        assert_eq!(tree(&w, 9, false).unwrap().roots, [6]);
    }

    #[test]
    fn without_correlations_a_uid_gives_its_effects_and_causes() {
        let w = world(&[(2, None, None), (3, None, Some(2)), (4, None, Some(3))]);
        let t = tree(&w, 3, false).unwrap();
        assert_eq!(t.parent.keys().copied().collect::<Vec<_>>(), [3, 4]);
        let b = tree(&w, 3, true).unwrap();
        assert_eq!(b.parent.keys().copied().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(b.roots, [2]);
    }

    #[test]
    fn cycles_and_long_chains_are_printed_whole_and_bounded() {
        let w = world(&[(2, Some(7), Some(3)), (3, Some(7), Some(2))]);
        let t = tree(&w, 7, false).unwrap();
        assert!(t.roots.is_empty(), "a cycle has no root");
        assert_eq!(count(&walk(&t)), 2);
        let n = 3 * MAX_DEPTH as u64;
        let rows: Vec<_> = (2..2 + n)
            .map(|u| (u, Some(2), (u > 2).then(|| u - 1)))
            .collect();
        let t = tree(&world(&rows), 2, false).unwrap();
        let nodes = walk(&t);
        assert_eq!(count(&nodes), n as usize);
        assert!(depth(&nodes) <= MAX_DEPTH);
    }
}
