//! Lineage: the entities of a correlation as a causal tree (by
//! `dizzy.caused_by`), as `dizzy trace` prints it.

use std::collections::{BTreeMap, BTreeSet};

use dizzy_components::{CAUSED_BY, CORRELATION};

use crate::inspect::Components;

/// Deeper causes than this are shown as roots of their own (a file could
/// hold an absurdly long chain; renderers walk the tree recursively).
pub const MAX_TRACE_DEPTH: usize = 256;

/// A uid's decoded `u64` component, if any.
fn number(components: &Components, name: &str) -> Option<u64> {
    components.get(name)?.as_ref()?.as_u64()
}

/// The traced entities and their causal tree; see [`trace`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The correlation traced; `None` when a uid without one was asked
    /// for (then the tree is the uid and its effects).
    pub correlation: Option<u64>,
    /// Members by uid, with their parent (cause) if it is a member too.
    pub parent: BTreeMap<u64, Option<u64>>,
    /// Members' children (effects) among the members, by uid.
    pub children: BTreeMap<u64, Vec<u64>>,
    /// Members without a cause among the members (a cycle of causes has
    /// none; [`Trace::nodes`] still reaches it).
    pub roots: Vec<u64>,
}

/// A node of a walked [`Trace`]: a uid and its children, depth-first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceNode {
    /// The entity.
    pub uid: u64,
    /// Its effects among the members.
    pub children: Vec<TraceNode>,
}

/// The causal tree of `id` in `entities` (the world at a snapshot, values
/// decoded): when `id` is a uid with a correlation, or a correlation id,
/// every entity of that correlation, with the effects (by `CausedBy`) of
/// its members that have no correlation of their own; when it is a uid
/// without one, the uid and its effects. With `branch`, only the uid's
/// causes and its effects. A number that is both a uid and a correlation
/// id is taken as the uid ([`trace_correlation`] takes it as the other).
/// `None` when nothing matches.
pub fn trace(entities: &BTreeMap<u64, Components>, id: u64, branch: bool) -> Option<Trace> {
    walk(entities, id, branch, false)
}

/// The causal tree of correlation `correlation` in `entities`, as
/// [`trace`] gives it for a correlation id, also when an entity has that
/// number as its uid (correlations set by hand, not by
/// `spawn_caused_by`, may be any number). `None` when no entity has it.
pub fn trace_correlation(entities: &BTreeMap<u64, Components>, correlation: u64) -> Option<Trace> {
    walk(entities, correlation, false, true)
}

fn walk(
    entities: &BTreeMap<u64, Components>,
    id: u64,
    branch: bool,
    as_correlation: bool,
) -> Option<Trace> {
    let caused_by = |uid: u64| entities.get(&uid).and_then(|c| number(c, CAUSED_BY));
    let uid = entities.get(&id).filter(|_| !as_correlation);
    let (correlation, mut members): (Option<u64>, BTreeSet<u64>) = match uid {
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
    if correlation.is_some() {
        // Effects given a `CausedBy` by hand, without a correlation (one
        // `spawn_caused_by` would have copied): members too, as `CausedBy`
        // says, with theirs.
        let mut todo: Vec<u64> = members.iter().copied().collect();
        while let Some(u) = todo.pop() {
            for &child in children.get(&u).into_iter().flatten() {
                let loose = entities
                    .get(&child)
                    .is_some_and(|c| number(c, CORRELATION).is_none());
                if loose && members.insert(child) {
                    todo.push(child);
                }
            }
        }
    }
    if correlation.is_none() || (branch && uid.is_some()) {
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
    // Roots: no cause among the members (see `nodes` for cycles).
    let roots: Vec<u64> = parent
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(&u, _)| u)
        .collect();
    Some(Trace {
        correlation,
        parent,
        children: kids,
        roots,
    })
}

impl Trace {
    /// The members, by uid.
    pub fn members(&self) -> BTreeSet<u64> {
        self.parent.keys().copied().collect()
    }

    /// The tree as nodes, depth-first, at most [`MAX_TRACE_DEPTH`] deep:
    /// what the depth limit cuts off, or a cycle of causes leaves
    /// unreached, is walked again from a new root (the top of the cut-off
    /// part, or a cycle's smallest uid). Every member appears once.
    pub fn nodes(&self) -> Vec<TraceNode> {
        fn build(t: &Trace, uid: u64, depth: usize, seen: &mut BTreeSet<u64>) -> TraceNode {
            let mut children = Vec::new();
            if depth + 1 < MAX_TRACE_DEPTH {
                for &k in t.children.get(&uid).into_iter().flatten() {
                    if seen.insert(k) {
                        children.push(build(t, k, depth + 1, seen));
                    }
                }
            }
            TraceNode { uid, children }
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut starts = self.roots.clone();
        loop {
            for root in starts.drain(..) {
                if seen.insert(root) {
                    out.push(build(self, root, 0, &mut seen));
                }
            }
            let unreached = |u: &&u64| !seen.contains(*u);
            let top = self
                .parent
                .iter()
                .find(|(u, p)| unreached(u) && p.is_none_or(|p| seen.contains(&p)))
                .map(|(&u, _)| u);
            match top.or_else(|| self.parent.keys().find(unreached).copied()) {
                Some(u) => starts.push(u),
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

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

    fn count(nodes: &[TraceNode]) -> usize {
        nodes.iter().map(|n| 1 + count(&n.children)).sum()
    }

    fn depth(nodes: &[TraceNode]) -> usize {
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
        let t = trace(&w, 5, false).unwrap();
        assert_eq!(t.correlation, Some(2));
        assert_eq!(t.roots, [2]);
        assert_eq!(count(&t.nodes()), 4);
        let b = trace(&w, 3, true).unwrap();
        assert_eq!(b.members().into_iter().collect::<Vec<_>>(), [2, 3, 5]);
        assert!(trace(&w, 77, false).is_none());
        // A correlation id alone (its root may be gone).
        assert_eq!(trace(&w, 9, false).unwrap().roots, [6]);
    }

    #[test]
    fn effects_given_a_cause_by_hand_follow_it() {
        // 7: caused by 3 without a correlation; 8: caused by 7, without.
        let w = world(&[
            (2, Some(2), None),
            (3, Some(2), Some(2)),
            (7, None, Some(3)),
            (8, None, Some(7)),
            (9, Some(4), Some(3)),
        ]);
        let t = trace(&w, 2, false).unwrap();
        assert_eq!(t.members().into_iter().collect::<Vec<_>>(), [2, 3, 7, 8]);
        let b = trace(&w, 3, true).unwrap();
        assert_eq!(b.members().into_iter().collect::<Vec<_>>(), [2, 3, 7, 8]);
    }

    #[test]
    fn a_number_that_is_a_uid_and_a_correlation_is_either_on_request() {
        // Uid 9 belongs to correlation 100; correlation 9 is 3's and 4's.
        let w = world(&[
            (9, Some(100), None),
            (3, Some(9), None),
            (4, Some(9), Some(3)),
        ]);
        assert_eq!(trace(&w, 9, false).unwrap().correlation, Some(100));
        let c = trace_correlation(&w, 9).unwrap();
        assert_eq!(c.correlation, Some(9));
        assert_eq!(c.members().into_iter().collect::<Vec<_>>(), [3, 4]);
        assert!(trace_correlation(&w, 77).is_none());
    }

    #[test]
    fn without_correlations_a_uid_gives_its_effects_and_causes() {
        let w = world(&[(2, None, None), (3, None, Some(2)), (4, None, Some(3))]);
        let t = trace(&w, 3, false).unwrap();
        assert_eq!(t.members().into_iter().collect::<Vec<_>>(), [3, 4]);
        let b = trace(&w, 3, true).unwrap();
        assert_eq!(b.members().into_iter().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(b.roots, [2]);
    }

    #[test]
    fn cycles_and_long_chains_are_walked_whole_and_bounded() {
        let w = world(&[(2, Some(7), Some(3)), (3, Some(7), Some(2))]);
        let t = trace(&w, 7, false).unwrap();
        assert!(t.roots.is_empty(), "a cycle has no root");
        assert_eq!(count(&t.nodes()), 2);
        let n = 3 * MAX_TRACE_DEPTH as u64;
        let rows: Vec<_> = (2..2 + n)
            .map(|u| (u, Some(2), (u > 2).then(|| u - 1)))
            .collect();
        let t = trace(&world(&rows), 2, false).unwrap();
        let nodes = t.nodes();
        assert_eq!(count(&nodes), n as usize);
        assert!(depth(&nodes) <= MAX_TRACE_DEPTH);
    }
}
