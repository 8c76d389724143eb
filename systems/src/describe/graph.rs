//! The flattened dependency graph: sets replaced by their members, the
//! sync points bevy inserts, and the parallel stages.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use bevy_ecs::schedule::graph::{DiGraph, Direction};
use bevy_ecs::schedule::{NodeId, SystemKey, SystemSetKey, SystemWithAccess};

/// A mutable copy of one of bevy's graphs over systems and sets, in which
/// sets can be replaced by their members the way bevy flattens them.
pub(super) struct Adjacency {
    succ: BTreeMap<NodeId, BTreeSet<NodeId>>,
    pred: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl Adjacency {
    pub(super) fn from_graph(graph: &DiGraph<NodeId>) -> Self {
        let mut this = Adjacency {
            succ: BTreeMap::new(),
            pred: BTreeMap::new(),
        };
        for node in graph.nodes() {
            this.add_node(node);
        }
        for (a, b) in graph.all_edges() {
            this.add_edge(a, b);
        }
        this
    }

    fn add_node(&mut self, node: NodeId) {
        self.succ.entry(node).or_default();
        self.pred.entry(node).or_default();
    }

    fn add_edge(&mut self, a: NodeId, b: NodeId) {
        if a == b {
            return;
        }
        self.add_node(a);
        self.add_node(b);
        self.succ.entry(a).or_default().insert(b);
        self.pred.entry(b).or_default().insert(a);
    }

    pub(super) fn edges(&self) -> Vec<(NodeId, NodeId)> {
        self.succ
            .iter()
            .flat_map(|(&a, bs)| bs.iter().map(move |&b| (a, b)))
            .collect()
    }

    /// Replaces every set for which `which` holds by its direct members
    /// (sets first, so that members that are sets are replaced in turn); an
    /// empty set connects its predecessors to its successors, like bevy.
    pub(super) fn collapse_sets(
        &mut self,
        hierarchy: &DiGraph<NodeId>,
        which: impl Fn(SystemSetKey) -> bool,
    ) {
        let mut sets: Vec<NodeId> = self
            .succ
            .keys()
            .copied()
            .filter(|n| n.as_set().is_some_and(&which))
            .collect();
        let mut depth: HashMap<NodeId, usize> = HashMap::new();
        sets.sort_by_cached_key(|&n| (set_depth(hierarchy, n, &mut depth), n));
        for set in sets {
            let preds = self.pred.remove(&set).unwrap_or_default();
            let succs = self.succ.remove(&set).unwrap_or_default();
            for p in &preds {
                if let Some(s) = self.succ.get_mut(p) {
                    s.remove(&set);
                }
            }
            for s in &succs {
                if let Some(p) = self.pred.get_mut(s) {
                    p.remove(&set);
                }
            }
            let members: Vec<NodeId> = hierarchy
                .neighbors_directed(set, Direction::Outgoing)
                .collect();
            if members.is_empty() {
                for &p in &preds {
                    for &s in &succs {
                        self.add_edge(p, s);
                    }
                }
            } else {
                for &m in &members {
                    self.add_node(m);
                    for &p in &preds {
                        self.add_edge(p, m);
                    }
                    for &s in &succs {
                        self.add_edge(m, s);
                    }
                }
            }
        }
    }
}

/// How deep a node is in the set hierarchy (0 for a top-level node).
fn set_depth(
    hierarchy: &DiGraph<NodeId>,
    node: NodeId,
    memo: &mut HashMap<NodeId, usize>,
) -> usize {
    if let Some(&d) = memo.get(&node) {
        return d;
    }
    let parents: Vec<NodeId> = hierarchy
        .neighbors_directed(node, Direction::Incoming)
        .collect();
    let d = parents
        .into_iter()
        .map(|p| set_depth(hierarchy, p, memo) + 1)
        .max()
        .unwrap_or(0);
    memo.insert(node, d);
    d
}

/// A topological order of `succ`, preferring lower indices (bevy's
/// execution order); `None` on a cycle.
fn toposort(succ: &[BTreeSet<usize>]) -> Option<Vec<usize>> {
    let mut in_degree = vec![0usize; succ.len()];
    for targets in succ {
        for &b in targets {
            in_degree[b] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..succ.len())
        .filter(|&i| in_degree[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(succ.len());
    while let Some(Reverse(a)) = ready.pop() {
        order.push(a);
        for &b in &succ[a] {
            in_degree[b] -= 1;
            if in_degree[b] == 0 {
                ready.push(Reverse(b));
            }
        }
    }
    (order.len() == succ.len()).then_some(order)
}

/// The edges bevy's `AutoInsertApplyDeferredPass` adds to the flattened
/// graph `succ`, recomputed with its algorithm (distances in sync points
/// from the start; an edge between different distances goes through the
/// sync point of the target's distance). `None` when the sync points it
/// would insert do not match the auto-inserted ones in the schedule.
pub(super) fn sync_point_edges(
    systems: &[(SystemKey, &SystemWithAccess)],
    succ: &[BTreeSet<usize>],
    is_sync: &[bool],
    is_auto: &[bool],
) -> Option<Vec<(usize, usize)>> {
    let order = toposort(succ)?;
    let mut distance = vec![0u32; systems.len()];
    let mut explicit: HashMap<u32, usize> = HashMap::new();
    for &a in &order {
        let needs_sync = if is_sync[a] {
            explicit.insert(distance[a], a);
            false
        } else {
            systems[a].1.system().has_deferred()
        };
        for &b in &succ[a] {
            let weight = u32::from(needs_sync || is_sync[b]);
            distance[b] = distance[b].max(distance[a] + weight);
        }
    }
    // (from, to, distance of the sync point between them)
    let mut through: Vec<(usize, usize, u32)> = Vec::new();
    let mut needed: BTreeSet<u32> = BTreeSet::new();
    for &a in &order {
        for &b in &succ[a] {
            if distance[a] == distance[b] || is_sync[b] {
                continue;
            }
            if !explicit.contains_key(&distance[b]) {
                needed.insert(distance[b]);
            }
            through.push((a, b, distance[b]));
        }
    }
    let autos: Vec<usize> = (0..systems.len()).filter(|&i| is_auto[i]).collect();
    if autos.len() != needed.len() {
        return None;
    }
    // Sync points for later distances come later in execution order.
    let auto_at: HashMap<u32, usize> = needed.into_iter().zip(autos).collect();
    let mut out = Vec::new();
    for (a, b, d) in through {
        let sync = explicit.get(&d).or_else(|| auto_at.get(&d)).copied()?;
        out.push((a, sync));
        out.push((sync, b));
    }
    Some(out)
}

/// Whether two systems can never run at the same time on bevy's
/// multi-threaded executor.
fn conflict(a: &SystemWithAccess, b: &SystemWithAccess) -> bool {
    a.access().is_exclusive()
        || b.access().is_exclusive()
        || (!a.system().is_send() && !b.system().is_send())
        || !a.access().is_compatible(b.access())
}

/// Greedy layering of `succ` in execution order: each system goes to the
/// first stage after all its predecessors' that holds nothing it conflicts
/// with.
pub(super) fn stages(
    systems: &[(SystemKey, &SystemWithAccess)],
    succ: &[BTreeSet<usize>],
) -> Vec<Vec<usize>> {
    let Some(order) = toposort(succ) else {
        return Vec::new();
    };
    let mut pred: Vec<Vec<usize>> = vec![Vec::new(); succ.len()];
    for (a, targets) in succ.iter().enumerate() {
        for &b in targets {
            pred[b].push(a);
        }
    }
    let mut stage_of = vec![0usize; succ.len()];
    let mut stages: Vec<Vec<usize>> = Vec::new();
    for a in order {
        let mut s = pred[a].iter().map(|&p| stage_of[p] + 1).max().unwrap_or(0);
        while s < stages.len()
            && stages[s]
                .iter()
                .any(|&b| conflict(systems[a].1, systems[b].1))
        {
            s += 1;
        }
        if s == stages.len() {
            stages.push(Vec::new());
        }
        stages[s].push(a);
        stage_of[a] = s;
    }
    for stage in &mut stages {
        stage.sort_unstable();
    }
    stages
}
