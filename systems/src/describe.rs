//! The tick schedule as data: which systems exist, what they read and
//! write, how they are ordered and grouped in sets, and which of them can
//! run at the same time — plus renderings as Mermaid and Graphviz DOT.
//!
//! Everything comes from bevy's public API on a built schedule:
//! [`Schedule::systems_with_access`] (systems in execution order with their
//! [`SystemAccess`]), [`Schedule::graph`] (the hierarchy and dependency
//! graphs of systems and sets as declared) and [`World::components`] (names).
//!
//! # Limitations of bevy's public API
//!
//! bevy keeps the *flattened* dependency graph it actually executes (sets
//! expanded to systems, build-pass edges added, weak edges resolved) in a
//! `pub(crate)` field, so [`describe`] rebuilds it from the declared graphs:
//!
//! - Sync points that bevy inserts on its own (`ApplyDeferred` after systems
//!   with `Commands` and an ordering edge) are visible as systems but their
//!   edges are not; they are reconstructed with bevy's own algorithm. The
//!   reconstruction cannot see edges marked `IgnoreDeferred` nor run
//!   conditions (bevy moves them out of the graph when it builds). If the
//!   number of reconstructed sync points does not match the schedule's,
//!   `stages` is left empty rather than guessed.
//! - Weak orderings (`before_weak`, `after_weak`, `chain_weak`) cannot be
//!   told apart from strict ones; they are reported as ordering edges, and
//!   the stages treat them as strict (a possibly more serial layering than
//!   bevy's at run time).
//! - Run conditions, and the access of run conditions, are not visible after
//!   the build: they are neither listed nor counted in the stages.

use std::any::TypeId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::fmt::Write as _;

use bevy_ecs::component::ComponentId;
use bevy_ecs::query::{FilteredAccess, InvertibleComponentIdSet};
use bevy_ecs::resource::IS_RESOURCE;
use bevy_ecs::schedule::graph::{DiGraph, Direction};
use bevy_ecs::schedule::{
    ApplyDeferred, NodeId, Schedule, SystemKey, SystemSetKey, SystemWithAccess,
};
use bevy_ecs::system::SystemAccess;
use bevy_ecs::world::World;
use serde::{Deserialize, Serialize};

/// A built schedule as data; see [`describe`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScheduleDescription {
    /// The names of the plugins the app was made of, in order.
    pub plugins: Vec<String>,
    /// Every system of the schedule, in bevy's execution (topological)
    /// order, including the `ApplyDeferred` sync points bevy inserted.
    pub systems: Vec<SystemDescription>,
    /// The user-visible system sets (not bevy's anonymous sets nor the
    /// per-system-function sets).
    pub sets: Vec<SetDescription>,
    /// Ordering edges between systems and/or sets: `from` runs before `to`.
    ///
    /// These are the edges as declared (`before`, `after`, `chain`, set
    /// orderings), with edges to a system function (`.after(my_system)`)
    /// resolved to that system, plus the edges to and from the sync points
    /// bevy inserts.
    pub edges: Vec<Edge>,
    /// Groups of systems that can run at the same time, in order: a
    /// layering of the flattened dependency graph in which every ordering
    /// edge goes from an earlier stage to a later one and no two systems of
    /// one stage have conflicting access (exclusive systems are alone in
    /// their stage; two systems that must run on the main thread never
    /// share one).
    ///
    /// Where bevy leaves the order of two conflicting systems open (allowed
    /// ambiguities), the one later in execution order is put in a later
    /// stage. Empty if the layering could not be computed faithfully (see
    /// the module documentation).
    pub stages: Vec<Vec<String>>,
}

/// One system of a [`ScheduleDescription`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SystemDescription {
    /// The system's name: bevy's name without module paths, or the full
    /// name where the short one is shared by several systems, with ` #n`
    /// appended where even that is not unique. Auto-inserted sync points are
    /// named `apply_deferred (auto sync n)`.
    pub name: String,
    /// The user-visible sets the system is directly in (through anonymous
    /// sets, which are skipped).
    pub sets: Vec<String>,
    /// What the system reads but does not write, by name, sorted.
    ///
    /// Components are named by type (without module path, or with it where
    /// the short name is ambiguous); resources are written `Res<Name>`;
    /// `*` means every component (`&World`, `EntityRef`, ...), and
    /// `* except A, B` all but those.
    pub reads: Vec<String>,
    /// What the system writes (and may read), by name, sorted; same naming
    /// as [`SystemDescription::reads`].
    pub writes: Vec<String>,
    /// Whether the system needs the whole world (`&mut World`): it runs
    /// alone.
    pub exclusive: bool,
}

/// One user-visible system set of a [`ScheduleDescription`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SetDescription {
    /// The set's name (its `Debug` form, as bevy reports it).
    pub name: String,
    /// The user-visible sets this set is directly in.
    pub parents: Vec<String>,
}

/// An ordering edge between two systems or sets, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Edge {
    /// The system or set that runs first.
    pub from: String,
    /// The system or set that runs after `from`.
    pub to: String,
}

/// Describes a built schedule: systems with their access, sets, ordering
/// edges and parallel stages.
///
/// `schedule` must have been initialized (for example by
/// [`build`](crate::build)) against `world`; an uninitialized schedule gives
/// a description with only the plugins. See the module documentation for
/// what bevy's public API does not show.
pub fn describe(schedule: &Schedule, world: &World, plugins: &[String]) -> ScheduleDescription {
    let mut out = ScheduleDescription {
        plugins: plugins.to_vec(),
        ..ScheduleDescription::default()
    };
    let Ok(systems) = schedule.systems_with_access() else {
        return out;
    };
    let systems: Vec<_> = systems.collect();
    let graph = schedule.graph();
    let hierarchy = graph.hierarchy().graph();
    let dependency = graph.dependency().graph();

    // Systems: index in execution order, names, auto sync points.
    let index_of: HashMap<NodeId, usize> = systems
        .iter()
        .enumerate()
        .map(|(i, (key, _))| (NodeId::System(*key), i))
        .collect();
    let is_sync: Vec<bool> = systems
        .iter()
        .map(|(_, s)| s.system().system_type() == TypeId::of::<ApplyDeferred>())
        .collect();
    let is_auto: Vec<bool> = systems
        .iter()
        .zip(&is_sync)
        .map(|((key, _), &sync)| sync && !dependency.contains_node(NodeId::System(*key)))
        .collect();
    let mut auto_count = 0;
    let system_names = unique_names(
        systems.iter().zip(&is_auto).map(|((_, s), &auto)| {
            let name = s.system().name();
            if auto {
                auto_count += 1;
                let n = format!("apply_deferred (auto sync {auto_count})");
                (n.clone(), n)
            } else {
                (name.shortname().to_string(), name.to_string())
            }
        }),
        &HashSet::new(),
    );

    // User-visible sets.
    let visible = |key: SystemSetKey| {
        graph
            .system_sets
            .get(key)
            .is_some_and(|s| s.system_type().is_none() && !s.is_anonymous())
    };
    let set_keys: Vec<SystemSetKey> = graph
        .system_sets
        .iter()
        .map(|(key, _, _)| key)
        .filter(|&key| visible(key))
        .collect();
    let taken: HashSet<String> = system_names.iter().cloned().collect();
    let set_names = unique_names(
        set_keys.iter().map(|&key| {
            let name = graph
                .system_sets
                .get(key)
                .map(|s| format!("{s:?}"))
                .unwrap_or_default();
            (name.clone(), name)
        }),
        &taken,
    );
    let set_name: HashMap<SystemSetKey, &String> =
        set_keys.iter().copied().zip(&set_names).collect();
    let node_name = |node: NodeId| -> Option<&String> {
        match node {
            NodeId::System(_) => index_of.get(&node).map(|&i| &system_names[i]),
            NodeId::Set(key) => set_name.get(&key).copied(),
        }
    };
    let parents_of = |node: NodeId| -> Vec<String> {
        visible_parents(hierarchy, node, &visible)
            .into_iter()
            .filter_map(|key| set_name.get(&key).map(|n| (*n).clone()))
            .collect()
    };

    out.sets = set_keys
        .iter()
        .zip(&set_names)
        .map(|(&key, name)| SetDescription {
            name: name.clone(),
            parents: parents_of(NodeId::Set(key)),
        })
        .collect();

    // Access, by component name.
    let accesses: Vec<Vec<(Target, bool)>> = systems
        .iter()
        .map(|(_, s)| access_targets(s.access()))
        .collect();
    let mut ids: BTreeSet<ComponentId> = BTreeSet::new();
    for targets in &accesses {
        for (target, _) in targets {
            match target {
                Target::One(id, _) => {
                    ids.insert(*id);
                }
                Target::All(except, _) => ids.extend(except.iter().copied()),
            }
        }
    }
    let ids: Vec<ComponentId> = ids.into_iter().collect();
    let component_names = unique_names(
        ids.iter().map(|&id| match world.components().get_info(id) {
            Some(info) => (info.name().shortname().to_string(), info.name().to_string()),
            None => (format!("{id:?}"), format!("{id:?}")),
        }),
        &HashSet::new(),
    );
    let component_name: HashMap<ComponentId, &String> =
        ids.iter().copied().zip(&component_names).collect();

    out.systems = systems
        .iter()
        .enumerate()
        .map(|(i, (key, s))| {
            let mut reads = BTreeSet::new();
            let mut writes = BTreeSet::new();
            for (target, write) in &accesses[i] {
                let name = target.name(&component_name);
                if *write {
                    writes.insert(name);
                } else {
                    reads.insert(name);
                }
            }
            SystemDescription {
                name: system_names[i].clone(),
                sets: if is_auto[i] {
                    Vec::new()
                } else {
                    parents_of(NodeId::System(*key))
                },
                reads: reads.difference(&writes).cloned().collect(),
                writes: writes.into_iter().collect(),
                exclusive: s.access().is_exclusive(),
            }
        })
        .collect();

    // Declared edges, with bevy's anonymous and per-function sets collapsed.
    let mut declared = Adjacency::from_graph(dependency);
    declared.collapse_sets(hierarchy, |key| !visible(key));
    let mut edges: Vec<Edge> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut push_edge = |from: &String, to: &String, edges: &mut Vec<Edge>| {
        if seen.insert((from.clone(), to.clone())) {
            edges.push(Edge {
                from: from.clone(),
                to: to.clone(),
            });
        }
    };
    for (from, to) in declared.edges() {
        if let (Some(from), Some(to)) = (node_name(from), node_name(to)) {
            push_edge(from, to, &mut edges);
        }
    }

    // The flattened system graph bevy runs, and its sync points.
    let mut flat = declared;
    flat.collapse_sets(hierarchy, |_| true);
    let n = systems.len();
    let mut succ: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (from, to) in flat.edges() {
        if let (Some(&a), Some(&b)) = (index_of.get(&from), index_of.get(&to)) {
            succ[a].insert(b);
        }
    }
    let sync_edges =
        if schedule.get_build_settings().auto_insert_apply_deferred || is_auto.contains(&true) {
            sync_point_edges(&systems, &succ, &is_sync, &is_auto)
        } else {
            Some(Vec::new())
        };
    if let Some(sync_edges) = &sync_edges {
        for &(a, b) in sync_edges {
            succ[a].insert(b);
            push_edge(&system_names[a], &system_names[b], &mut edges);
        }
    }
    out.edges = edges;
    if sync_edges.is_some() {
        out.stages = stages(&systems, &succ)
            .into_iter()
            .map(|stage| stage.into_iter().map(|i| system_names[i].clone()).collect())
            .collect();
    }
    out
}

/// The nearest user-visible sets containing `node`, looking through bevy's
/// anonymous and per-function sets.
fn visible_parents(
    hierarchy: &DiGraph<NodeId>,
    node: NodeId,
    visible: &impl Fn(SystemSetKey) -> bool,
) -> Vec<SystemSetKey> {
    let mut out = Vec::new();
    for parent in hierarchy.neighbors_directed(node, Direction::Incoming) {
        let Some(key) = parent.as_set() else { continue };
        if visible(key) {
            if !out.contains(&key) {
                out.push(key);
            }
        } else {
            for key in visible_parents(hierarchy, parent, visible) {
                if !out.contains(&key) {
                    out.push(key);
                }
            }
        }
    }
    out
}

/// Names made unique: the short form, the long form where short forms
/// collide, then a ` #n` suffix; names in `taken` count as collisions too.
fn unique_names(
    names: impl Iterator<Item = (String, String)>,
    taken: &HashSet<String>,
) -> Vec<String> {
    let names: Vec<(String, String)> = names.collect();
    let mut short_count: HashMap<&str, usize> = HashMap::new();
    for (short, _) in &names {
        *short_count.entry(short).or_default() += 1;
    }
    let chosen: Vec<&String> = names
        .iter()
        .map(|(short, long)| {
            if short_count[short.as_str()] > 1 || taken.contains(short) {
                long
            } else {
                short
            }
        })
        .collect();
    let mut used: HashSet<String> = taken.clone();
    chosen
        .into_iter()
        .map(|name| {
            let mut candidate = name.clone();
            let mut n = 1;
            while used.contains(&candidate) {
                n += 1;
                candidate = format!("{name} #{n}");
            }
            used.insert(candidate.clone());
            candidate
        })
        .collect()
}

/// What one piece of access is about.
enum Target {
    /// One component, or (`true`) one resource.
    One(ComponentId, bool),
    /// Every component except these; (`true`) every resource.
    All(Vec<ComponentId>, bool),
}

impl Target {
    fn name(&self, names: &HashMap<ComponentId, &String>) -> String {
        let name_of = |id: &ComponentId| {
            names
                .get(id)
                .map_or_else(|| format!("{id:?}"), |n| (*n).clone())
        };
        let (base, resource) = match self {
            Target::One(id, resource) => (name_of(id), *resource),
            Target::All(except, resource) if except.is_empty() => ("*".to_owned(), *resource),
            Target::All(except, resource) => {
                let except: Vec<String> = except.iter().map(name_of).collect();
                (format!("* except {}", except.join(", ")), *resource)
            }
        };
        if resource {
            format!("Res<{base}>")
        } else {
            base
        }
    }
}

/// The components and resources a system accesses, each with whether it
/// is written.
fn access_targets(access: &SystemAccess) -> Vec<(Target, bool)> {
    let mut out = Vec::new();
    match access {
        SystemAccess::None => {}
        SystemAccess::Exclusive => out.push((Target::All(Vec::new(), false), true)),
        SystemAccess::Shared(set) => {
            for filtered in set.filtered_accesses() {
                add_targets(filtered, &mut out);
            }
        }
    }
    out
}

fn add_targets(filtered: &FilteredAccess, out: &mut Vec<(Target, bool)>) {
    // `Res`/`ResMut` (resources are components on an entity) filter on the
    // resource marker.
    let resource = !filtered.filter_sets().is_empty()
        && filtered
            .filter_sets()
            .iter()
            .all(|f| f.with().contains(IS_RESOURCE));
    let access = filtered.access();
    let writes = access.writes();
    match access.reads() {
        InvertibleComponentIdSet::Included(reads) => {
            for id in reads.iter() {
                out.push((Target::One(id, resource), writes.contains(id)));
            }
        }
        InvertibleComponentIdSet::Excluded(except) => {
            let except: Vec<ComponentId> = except.iter().collect();
            match writes {
                InvertibleComponentIdSet::Included(written) => {
                    out.push((Target::All(except, resource), false));
                    for id in written.iter() {
                        out.push((Target::One(id, resource), true));
                    }
                }
                InvertibleComponentIdSet::Excluded(not_written) => {
                    out.push((Target::All(not_written.iter().collect(), resource), true));
                    // Read but not written: the difference of the exclusions.
                    for id in not_written.iter() {
                        if !except.contains(&id) {
                            out.push((Target::One(id, resource), false));
                        }
                    }
                }
            }
        }
    }
}

/// A mutable copy of one of bevy's graphs over systems and sets, in which
/// sets can be replaced by their members the way bevy flattens them.
struct Adjacency {
    succ: BTreeMap<NodeId, BTreeSet<NodeId>>,
    pred: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl Adjacency {
    fn from_graph(graph: &DiGraph<NodeId>) -> Self {
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

    fn edges(&self) -> Vec<(NodeId, NodeId)> {
        self.succ
            .iter()
            .flat_map(|(&a, bs)| bs.iter().map(move |&b| (a, b)))
            .collect()
    }

    /// Replaces every set for which `which` holds by its direct members
    /// (sets first, so that members that are sets are replaced in turn); an
    /// empty set connects its predecessors to its successors, like bevy.
    fn collapse_sets(&mut self, hierarchy: &DiGraph<NodeId>, which: impl Fn(SystemSetKey) -> bool) {
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
fn sync_point_edges(
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
fn stages(systems: &[(SystemKey, &SystemWithAccess)], succ: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
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

// ---------------------------------------------------------------------------
// Renderings

/// Stage fill colours, cycled.
const PALETTE: [&str; 6] = [
    "#e3f2fd", "#e8f5e9", "#fff3e0", "#f3e5f5", "#e0f7fa", "#fce4ec",
];

/// Identifiers for diagram nodes: `[A-Za-z0-9_]+`, unique.
#[derive(Default)]
struct Ids {
    used: HashSet<String>,
}

impl Ids {
    fn make(&mut self, prefix: &str, name: &str) -> String {
        let mut base = String::from(prefix);
        let mut last_underscore = prefix.ends_with('_');
        for c in name.chars() {
            if c == '*' {
                if !last_underscore && base.len() > prefix.len() {
                    base.push('_');
                }
                base.push_str("all");
                last_underscore = false;
            } else if c.is_ascii_alphanumeric() {
                base.push(c);
                last_underscore = false;
            } else if !last_underscore {
                base.push('_');
                last_underscore = true;
            }
        }
        while base.len() > prefix.len() && base.ends_with('_') {
            base.pop();
        }
        let mut id = base.clone();
        let mut n = 1;
        while self.used.contains(&id) {
            n += 1;
            id = format!("{base}_{n}");
        }
        self.used.insert(id.clone());
        id
    }
}

/// A resource name as written in [`SystemDescription::reads`].
fn is_resource_name(name: &str) -> bool {
    name.starts_with("Res<") && name.ends_with('>')
}

/// What the renderings share: ids, set tree, stage of each system.
struct Layout<'a> {
    d: &'a ScheduleDescription,
    system_ids: Vec<String>,
    set_ids: Vec<String>,
    /// Data names in order of first use, with their ids.
    data: Vec<(&'a str, String)>,
    data_id: HashMap<&'a str, usize>,
    stage_of: HashMap<&'a str, usize>,
    /// Systems (`false`) and sets (`true`) by name.
    endpoints: HashMap<&'a str, (usize, bool)>,
    /// Child sets of each set (by primary parent), and the top-level sets.
    child_sets: Vec<Vec<usize>>,
    root_sets: Vec<usize>,
    /// Systems directly in each set (by primary set), and the top-level ones.
    set_systems: Vec<Vec<usize>>,
    root_systems: Vec<usize>,
}

impl<'a> Layout<'a> {
    fn new(d: &'a ScheduleDescription) -> Self {
        let mut ids = Ids::default();
        let system_ids = d
            .systems
            .iter()
            .map(|s| ids.make("sys_", &s.name))
            .collect();
        let set_ids = d.sets.iter().map(|s| ids.make("set_", &s.name)).collect();
        let mut data = Vec::new();
        let mut data_id = HashMap::new();
        // An exclusive system's access is the whole world: its double
        // border says so, without an edge to every data node.
        for s in d.systems.iter().filter(|s| !s.exclusive) {
            for name in s.reads.iter().chain(&s.writes) {
                if !data_id.contains_key(name.as_str()) {
                    let prefix = if is_resource_name(name) { "r_" } else { "c_" };
                    let display = if is_resource_name(name) {
                        &name[4..name.len() - 1]
                    } else {
                        name.as_str()
                    };
                    data_id.insert(name.as_str(), data.len());
                    data.push((name.as_str(), ids.make(prefix, display)));
                }
            }
        }
        let stage_of = d
            .stages
            .iter()
            .enumerate()
            .flat_map(|(i, stage)| stage.iter().map(move |name| (name.as_str(), i)))
            .collect();
        let set_index: HashMap<&str, usize> = d
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        // A set's primary parent must be drawn around it; guard against
        // (malformed) cycles by only accepting a parent already reachable
        // from the top.
        let mut child_sets = vec![Vec::new(); d.sets.len()];
        let mut root_sets = Vec::new();
        let mut placed = vec![false; d.sets.len()];
        let mut progress = true;
        while progress {
            progress = false;
            for (i, set) in d.sets.iter().enumerate() {
                if placed[i] {
                    continue;
                }
                let parent = set
                    .parents
                    .iter()
                    .find_map(|p| set_index.get(p.as_str()).copied());
                match parent {
                    None => root_sets.push(i),
                    Some(p) if placed[p] => child_sets[p].push(i),
                    Some(_) => continue,
                }
                placed[i] = true;
                progress = true;
            }
        }
        // Whatever is left is in a parent cycle: draw it at the top.
        root_sets.extend((0..d.sets.len()).filter(|&i| !placed[i]));
        let mut set_systems = vec![Vec::new(); d.sets.len()];
        let mut root_systems = Vec::new();
        for (i, s) in d.systems.iter().enumerate() {
            match s
                .sets
                .iter()
                .find_map(|n| set_index.get(n.as_str()).copied())
            {
                Some(set) => set_systems[set].push(i),
                None => root_systems.push(i),
            }
        }
        let mut endpoints: HashMap<&str, (usize, bool)> = HashMap::new();
        for (i, set) in d.sets.iter().enumerate() {
            endpoints.insert(&set.name, (i, true));
        }
        // Systems win over sets of the same name.
        for (i, s) in d.systems.iter().enumerate() {
            endpoints.insert(&s.name, (i, false));
        }
        Layout {
            d,
            endpoints,
            system_ids,
            set_ids,
            data,
            data_id,
            stage_of,
            child_sets,
            root_sets,
            set_systems,
            root_systems,
        }
    }

    /// The id of a system or set, and whether it is a set (index).
    fn endpoint(&self, name: &str) -> Option<(&str, Option<usize>)> {
        match *self.endpoints.get(name)? {
            (i, false) => Some((&self.system_ids[i], None)),
            (i, true) => Some((&self.set_ids[i], Some(i))),
        }
    }

    /// The data accesses drawn for system `i`: (data node id, written).
    fn accesses(&self, i: usize) -> Vec<(&str, bool)> {
        let s = &self.d.systems[i];
        if s.exclusive {
            return Vec::new();
        }
        let id = |name: &String| self.data[self.data_id[name.as_str()]].1.as_str();
        s.reads
            .iter()
            .map(|n| (id(n), false))
            .chain(s.writes.iter().map(|n| (id(n), true)))
            .collect()
    }

    /// The label of a system: name, stage, other sets.
    fn system_label(&self, i: usize) -> Vec<String> {
        let s = &self.d.systems[i];
        let mut lines = vec![s.name.clone()];
        let mut info = Vec::new();
        if let Some(stage) = self.stage_of.get(s.name.as_str()) {
            let n = self.d.stages[*stage].len();
            if n > 1 {
                info.push(format!("stage {stage} (parallel with {})", n - 1));
            } else {
                info.push(format!("stage {stage}"));
            }
        }
        if s.exclusive {
            info.push("exclusive".to_owned());
        }
        if !info.is_empty() {
            lines.push(info.join(", "));
        }
        if s.sets.len() > 1 {
            lines.push(format!("also in {}", s.sets[1..].join(", ")));
        }
        lines
    }
}

/// Text for a quoted Mermaid label: entity codes for the characters Mermaid
/// or HTML would interpret.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mermaid_lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| mermaid_text(l))
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// A double-quoted DOT string.
fn dot_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment line's text: no line breaks.
fn comment(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

impl ScheduleDescription {
    /// The schedule as a Mermaid flowchart (`flowchart LR`).
    ///
    /// Systems are nodes (exclusive ones with a double border), sets are
    /// subgraphs (a system or set in several sets is drawn in the first and
    /// its label names the others), ordering edges are `-->`, components are
    /// cylinders and resources hexagons, linked by dotted `reads` edges
    /// (data to system) and thick `writes` edges (system to data). Each
    /// system's label gives its stage; systems of one stage share a fill
    /// colour (class `stageN`).
    pub fn to_mermaid(&self) -> String {
        let layout = Layout::new(self);
        let mut out = String::from("flowchart LR\n");
        if !self.plugins.is_empty() {
            let _ = writeln!(out, "  %% plugins: {}", comment(&self.plugins.join(", ")));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let _ = writeln!(out, "  %% stage {i}: {}", comment(&stage.join(", ")));
        }
        let system_node = |out: &mut String, i: usize, indent: usize| {
            let label = mermaid_lines(&layout.system_label(i));
            let (open, close) = if self.systems[i].exclusive {
                ("[[", "]]")
            } else {
                ("[", "]")
            };
            let _ = writeln!(
                out,
                "{:indent$}{}{open}\"{label}\"{close}",
                "", layout.system_ids[i]
            );
        };
        fn set_block(
            out: &mut String,
            layout: &Layout<'_>,
            set: usize,
            indent: usize,
            system_node: &dyn Fn(&mut String, usize, usize),
        ) {
            let _ = writeln!(
                out,
                "{:indent$}subgraph {} [\"{}\"]",
                "",
                layout.set_ids[set],
                mermaid_text(&layout.d.sets[set].name)
            );
            for &child in &layout.child_sets[set] {
                set_block(out, layout, child, indent + 2, system_node);
            }
            for &system in &layout.set_systems[set] {
                system_node(out, system, indent + 2);
            }
            let _ = writeln!(out, "{:indent$}end", "");
        }
        for &set in &layout.root_sets {
            set_block(&mut out, &layout, set, 2, &system_node);
        }
        for &system in &layout.root_systems {
            system_node(&mut out, system, 2);
        }
        for (name, id) in &layout.data {
            if is_resource_name(name) {
                let _ = writeln!(out, "  {id}{{{{\"{}\"}}}}", mermaid_text(name));
            } else {
                let _ = writeln!(out, "  {id}[(\"{}\")]", mermaid_text(name));
            }
        }
        for edge in &self.edges {
            if let (Some((from, _)), Some((to, _))) =
                (layout.endpoint(&edge.from), layout.endpoint(&edge.to))
            {
                let _ = writeln!(out, "  {from} --> {to}");
            }
        }
        for (i, system) in layout.system_ids.iter().enumerate() {
            for (data, write) in layout.accesses(i) {
                if write {
                    let _ = writeln!(out, "  {system} ==>|writes| {data}");
                } else {
                    let _ = writeln!(out, "  {data} -.->|reads| {system}");
                }
            }
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let members: Vec<&str> = stage
                .iter()
                .filter_map(|name| layout.endpoint(name))
                .filter(|(_, set)| set.is_none())
                .map(|(id, _)| id)
                .collect();
            if members.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  classDef stage{i} fill:{},stroke:#555555",
                PALETTE[i % PALETTE.len()]
            );
            let _ = writeln!(out, "  class {} stage{i}", members.join(","));
        }
        out
    }

    /// The schedule as a Graphviz digraph (`digraph schedule { ... }`).
    ///
    /// Systems are boxes (exclusive ones with a double border), sets are
    /// `cluster_*` subgraphs (a set's ordering edges attach to its cluster),
    /// components are cylinders and resources hexagons; ordering edges are
    /// solid, reads dashed (data to system), writes bold (system to data).
    /// Each system's label gives its stage; systems of one stage share a
    /// fill colour.
    pub fn to_dot(&self) -> String {
        let layout = Layout::new(self);
        let mut out = String::from("digraph schedule {\n");
        out.push_str("  rankdir=LR;\n  compound=true;\n  newrank=true;\n");
        out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
        if !self.plugins.is_empty() {
            let _ = writeln!(out, "  // plugins: {}", comment(&self.plugins.join(", ")));
        }
        let system_node = |out: &mut String, i: usize, indent: usize| {
            let mut attrs = vec![
                "shape=box".to_owned(),
                format!("label={}", dot_str(&layout.system_label(i).join("\n"))),
            ];
            if let Some(stage) = layout.stage_of.get(self.systems[i].name.as_str()) {
                attrs.push("style=filled".to_owned());
                attrs.push(format!(
                    "fillcolor={}",
                    dot_str(PALETTE[stage % PALETTE.len()])
                ));
            }
            if self.systems[i].exclusive {
                attrs.push("peripheries=2".to_owned());
            }
            let _ = writeln!(
                out,
                "{:indent$}{} [{}];",
                "",
                dot_str(&layout.system_ids[i]),
                attrs.join(", ")
            );
        };
        fn cluster(
            out: &mut String,
            layout: &Layout<'_>,
            set: usize,
            indent: usize,
            system_node: &dyn Fn(&mut String, usize, usize),
        ) {
            let id = &layout.set_ids[set];
            let _ = writeln!(
                out,
                "{:indent$}subgraph {} {{",
                "",
                dot_str(&format!("cluster_{id}"))
            );
            let inner = indent + 2;
            let _ = writeln!(
                out,
                "{:inner$}label={}; style=rounded; color=\"#888888\";",
                "",
                dot_str(&layout.d.sets[set].name)
            );
            // An anchor for edges to and from the set (also keeps an empty
            // set's cluster from vanishing).
            let _ = writeln!(
                out,
                "{:inner$}{} [shape=point, style=invis, width=0.01, height=0.01, label=\"\"];",
                "",
                dot_str(id)
            );
            for &child in &layout.child_sets[set] {
                cluster(out, layout, child, inner, system_node);
            }
            for &system in &layout.set_systems[set] {
                system_node(out, system, inner);
            }
            let _ = writeln!(out, "{:indent$}}}", "");
        }
        for &set in &layout.root_sets {
            cluster(&mut out, &layout, set, 2, &system_node);
        }
        for &system in &layout.root_systems {
            system_node(&mut out, system, 2);
        }
        for (name, id) in &layout.data {
            let shape = if is_resource_name(name) {
                "hexagon"
            } else {
                "cylinder"
            };
            let _ = writeln!(
                out,
                "  {} [shape={shape}, label={}];",
                dot_str(id),
                dot_str(name)
            );
        }
        for edge in &self.edges {
            let (Some((from, from_set)), Some((to, to_set))) =
                (layout.endpoint(&edge.from), layout.endpoint(&edge.to))
            else {
                continue;
            };
            let mut attrs = Vec::new();
            if from_set.is_some() {
                attrs.push(format!("ltail={}", dot_str(&format!("cluster_{from}"))));
            }
            if to_set.is_some() {
                attrs.push(format!("lhead={}", dot_str(&format!("cluster_{to}"))));
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            let _ = writeln!(out, "  {} -> {}{attrs};", dot_str(from), dot_str(to));
        }
        for (i, system) in layout.system_ids.iter().enumerate() {
            let system = dot_str(system);
            for (data, write) in layout.accesses(i) {
                let data = dot_str(data);
                if write {
                    let _ = writeln!(out, "  {system} -> {data} [style=bold, label=\"writes\"];");
                } else {
                    let _ = writeln!(
                        out,
                        "  {data} -> {system} [style=dashed, label=\"reads\", color=\"#777777\"];"
                    );
                }
            }
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy_ecs::prelude::*;
    use bevy_ecs::schedule::{IntoScheduleConfigs, ScheduleLabel, SystemSet};

    #[derive(Component)]
    struct A(u32);
    #[derive(Component)]
    struct B(u32);
    #[derive(Component)]
    struct C(u32);
    #[derive(Resource, Default)]
    struct Counter(u64);

    #[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
    struct Logic;

    #[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
    struct Test;

    fn write_a(mut q: Query<&mut A>) {
        for mut a in &mut q {
            a.0 += 1;
        }
    }

    fn write_b(mut q: Query<&mut B>) {
        for mut b in &mut q {
            b.0 += 1;
        }
    }

    fn follow(mut q: Query<(&A, &mut C)>) {
        for (a, mut c) in &mut q {
            c.0 = a.0;
        }
    }

    fn count(mut counter: ResMut<Counter>, q: Query<&B>) {
        counter.0 += q.iter().count() as u64;
    }

    fn spawn(mut commands: Commands) {
        commands.spawn(A(0));
    }

    fn everything(world: &mut World) {
        world.insert_resource(Counter(0));
    }

    fn built(add: impl FnOnce(&mut Schedule)) -> (Schedule, World) {
        let mut world = World::new();
        world.init_resource::<Counter>();
        let mut schedule = Schedule::new(Test);
        add(&mut schedule);
        crate::build(&mut schedule, &mut world, true).expect("schedule builds");
        (schedule, world)
    }

    fn sample() -> ScheduleDescription {
        let (schedule, world) = built(|s| {
            s.configure_sets(Logic.after(write_b));
            s.add_systems((write_a, write_b, follow.after(write_a), count.in_set(Logic)));
        });
        describe(&schedule, &world, &["test".to_owned()])
    }

    fn system<'a>(d: &'a ScheduleDescription, name: &str) -> &'a SystemDescription {
        d.systems
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no system {name} in {d:#?}"))
    }

    fn stage(d: &ScheduleDescription, name: &str) -> usize {
        d.stages
            .iter()
            .position(|s| s.iter().any(|n| n == name))
            .unwrap_or_else(|| panic!("{name} in no stage: {:?}", d.stages))
    }

    fn has_edge(d: &ScheduleDescription, from: &str, to: &str) -> bool {
        d.edges.iter().any(|e| e.from == from && e.to == to)
    }

    #[test]
    fn systems_access_edges_sets_stages() {
        let d = sample();
        assert_eq!(d.plugins, ["test"]);
        assert_eq!(d.systems.len(), 4, "{d:#?}");

        let a = system(&d, "write_a");
        assert_eq!(a.writes, ["A"]);
        assert!(a.reads.is_empty());
        assert!(!a.exclusive);
        assert_eq!(system(&d, "write_b").writes, ["B"]);
        let f = system(&d, "follow");
        assert_eq!(f.reads, ["A"]);
        assert_eq!(f.writes, ["C"]);
        let c = system(&d, "count");
        assert_eq!(c.reads, ["B"]);
        assert_eq!(c.writes, ["Res<Counter>"]);
        assert_eq!(c.sets, ["Logic"]);
        assert!(a.sets.is_empty());

        assert_eq!(
            d.sets,
            [SetDescription {
                name: "Logic".to_owned(),
                parents: vec![]
            }]
        );
        assert!(has_edge(&d, "write_a", "follow"), "{:?}", d.edges);
        assert!(has_edge(&d, "write_b", "Logic"), "{:?}", d.edges);
        assert_eq!(d.edges.len(), 2, "{:?}", d.edges);

        assert_eq!(stage(&d, "write_a"), stage(&d, "write_b"));
        assert!(stage(&d, "follow") > stage(&d, "write_a"));
        assert!(stage(&d, "count") > stage(&d, "write_b"));
        assert_eq!(d.stages.len(), 2, "{:?}", d.stages);
        assert_eq!(d.stages.iter().map(Vec::len).sum::<usize>(), 4);

        let json = serde_json::to_string(&d).unwrap();
        let back: ScheduleDescription = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn conflicting_access_splits_stages() {
        // Ambiguity allowed: the two writers of A are unordered, yet can
        // never run together.
        let mut world = World::new();
        let mut schedule = Schedule::new(Test);
        fn write_a_too(mut q: Query<&mut A>) {
            for mut a in &mut q {
                a.0 *= 2;
            }
        }
        schedule.add_systems((write_a, write_a_too, write_b));
        crate::build(&mut schedule, &mut world, false).unwrap();
        let d = describe(&schedule, &world, &[]);
        assert!(d.edges.is_empty());
        assert_ne!(stage(&d, "write_a"), stage(&d, "write_a_too"));
        assert_eq!(d.stages.iter().map(Vec::len).sum::<usize>(), 3);
    }

    #[test]
    fn sync_points_and_exclusive_systems() {
        let (schedule, world) = built(|s| {
            s.add_systems((spawn, follow.after(spawn), everything.after(follow)));
        });
        let d = describe(&schedule, &world, &[]);
        assert_eq!(d.systems.len(), 4, "{d:#?}");
        let sync = d
            .systems
            .iter()
            .find(|s| s.name.starts_with("apply_deferred (auto sync"))
            .expect("auto sync point");
        assert!(sync.exclusive);
        assert!(has_edge(&d, "spawn", &sync.name), "{:?}", d.edges);
        assert!(has_edge(&d, &sync.name, "follow"), "{:?}", d.edges);
        assert!(has_edge(&d, "spawn", "follow"));
        assert!(has_edge(&d, "follow", "everything"));
        let e = system(&d, "everything");
        assert!(e.exclusive);
        assert_eq!(e.writes, ["*"]);
        assert_eq!(d.stages.len(), 4, "{:?}", d.stages);
        assert!(stage(&d, "spawn") < stage(&d, &sync.name));
        assert!(stage(&d, &sync.name) < stage(&d, "follow"));
    }

    #[test]
    fn nested_sets_and_set_edges() {
        #[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
        enum Phase {
            Input,
            Sim,
        }
        let (schedule, world) = built(|s| {
            s.configure_sets((Phase::Input, Phase::Sim).chain());
            s.configure_sets(Logic.in_set(Phase::Sim));
            s.add_systems((write_a.in_set(Phase::Input), (follow, count).in_set(Logic)));
        });
        let d = describe(&schedule, &world, &[]);
        let logic = d.sets.iter().find(|s| s.name == "Logic").unwrap();
        assert_eq!(logic.parents, ["Sim"]);
        assert!(has_edge(&d, "Input", "Sim"), "{:?}", d.edges);
        assert!(stage(&d, "follow") > stage(&d, "write_a"));
        assert!(stage(&d, "count") > stage(&d, "write_a"));
        assert_eq!(stage(&d, "follow"), stage(&d, "count"));
        check_mermaid(&d.to_mermaid());
        check_dot(&d.to_dot());
    }

    /// Builds like [`built`] but also records the edges bevy's build
    /// passes really added (system names), from the `ScheduleBuilt` event.
    fn built_with_pass_edges(
        ambiguity_is_error: bool,
        add: impl FnOnce(&mut Schedule),
    ) -> (ScheduleDescription, BTreeSet<(String, String)>) {
        use bevy_ecs::schedule::ScheduleBuilt;
        use std::sync::{Arc, Mutex};
        let mut world = World::new();
        world.init_resource::<Counter>();
        let added = Arc::new(Mutex::new(Vec::new()));
        let sink = added.clone();
        world.add_observer(move |built: On<ScheduleBuilt>| {
            let edges = &built.event().build_metadata.edges_added_by_build_passes;
            sink.lock().unwrap().extend(edges.iter().copied());
        });
        let mut schedule = Schedule::new(Test);
        add(&mut schedule);
        crate::build(&mut schedule, &mut world, ambiguity_is_error).expect("schedule builds");
        let d = describe(&schedule, &world, &[]);
        let names: HashMap<SystemKey, String> = schedule
            .systems_with_access()
            .unwrap()
            .zip(&d.systems)
            .map(|((key, _), s)| (key, s.name.clone()))
            .collect();
        let added = added
            .lock()
            .unwrap()
            .iter()
            .map(|(a, b)| (names[a].clone(), names[b].clone()))
            .collect();
        (d, added)
    }

    #[test]
    fn sync_points_match_bevys_build_pass() {
        fn spawn_more(mut commands: Commands) {
            commands.spawn(B(0));
        }
        fn on(counter: Res<Counter>) -> bool {
            counter.0 < 10
        }
        type Setup = fn(&mut Schedule);
        let cases: [(&str, Setup); 5] = [
            ("nested chain", |s| {
                s.add_systems(((spawn, write_b), follow).chain());
            }),
            ("two sync distances", |s| {
                s.add_systems((spawn, spawn_more, follow, count).chain());
            }),
            ("explicit sync point", |s| {
                s.add_systems((spawn, ApplyDeferred, follow).chain());
            }),
            ("run conditions and sets", |s| {
                s.configure_sets(Logic.after(spawn));
                s.add_systems((spawn, (follow, count).in_set(Logic).run_if(on)));
            }),
            ("no sync needed", |s| {
                s.add_systems((write_a, follow).chain());
            }),
        ];
        for (case, add) in cases {
            let (d, added) = built_with_pass_edges(true, add);
            assert!(!d.stages.is_empty(), "{case}: stages not computed: {d:#?}");
            let autos = d
                .systems
                .iter()
                .filter(|s| s.name.starts_with("apply_deferred (auto"))
                .count();
            for (from, to) in &added {
                assert!(
                    has_edge(&d, from, to),
                    "{case}: missing pass edge {from} -> {to}: {:?}",
                    d.edges
                );
            }
            // Every sync edge described is one bevy added (or declared).
            for e in &d.edges {
                if e.from.starts_with("apply_deferred") || e.to.starts_with("apply_deferred") {
                    let declared = case == "explicit sync point";
                    assert!(
                        declared || added.contains(&(e.from.clone(), e.to.clone())),
                        "{case}: invented edge {} -> {}",
                        e.from,
                        e.to
                    );
                }
            }
            assert_eq!(
                d.stages.iter().map(Vec::len).sum::<usize>(),
                d.systems.len(),
                "{case}"
            );
            if case == "no sync needed" {
                assert_eq!(autos, 0);
                assert!(added.is_empty());
            }
            if case == "two sync distances" {
                assert_eq!(autos, 2, "{d:#?}");
            }
            if case == "run conditions and sets" {
                assert_eq!(system(&d, "follow").sets, ["Logic"]);
                assert_eq!(d.sets.len(), 1, "{:?}", d.sets);
                assert!(has_edge(&d, "spawn", "Logic"));
                assert_eq!(stage(&d, "follow"), stage(&d, "count"));
            }
        }
    }

    #[test]
    fn uninitialized_schedule_gives_plugins_only() {
        let world = World::new();
        let mut schedule = Schedule::new(Test);
        schedule.add_systems(write_a);
        let d = describe(&schedule, &world, &["p".to_owned()]);
        assert_eq!(d.plugins, ["p"]);
        assert!(d.systems.is_empty());
    }

    fn is_id(s: &str) -> bool {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Structural checks of a Mermaid flowchart.
    fn check_mermaid(text: &str) {
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("flowchart LR"));
        let mut declared = HashSet::new();
        let mut edges = Vec::new();
        let mut depth = 0i32;
        for line in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with("%%") || line.starts_with("classDef ") {
                continue;
            }
            if let Some(rest) = line.strip_prefix("subgraph ") {
                let id: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '[')
                    .collect();
                assert!(is_id(&id), "bad subgraph id in {line:?}");
                assert!(declared.insert(id), "duplicate id in {line:?}");
                depth += 1;
            } else if line == "end" {
                depth -= 1;
                assert!(depth >= 0, "unbalanced end");
            } else if let Some(rest) = line.strip_prefix("class ") {
                let (ids, _) = rest.split_once(' ').unwrap();
                edges.extend(ids.split(',').map(str::to_owned));
            } else if line.contains("-->") || line.contains("-.->") || line.contains("==>") {
                let parts: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(parts.len(), 3, "edge {line:?}");
                edges.push(parts[0].to_owned());
                edges.push(parts[2].to_owned());
            } else {
                let id: String = line
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(is_id(&id), "bad node line {line:?}");
                let rest = &line[id.len()..];
                assert!(
                    ["[\"", "[(\"", "[[\"", "{{\""]
                        .iter()
                        .any(|p| rest.starts_with(p)),
                    "bad node shape {line:?}"
                );
                assert_eq!(rest.matches('"').count(), 2, "unescaped quote in {line:?}");
                assert!(declared.insert(id), "duplicate id in {line:?}");
            }
        }
        assert_eq!(depth, 0, "unbalanced subgraph/end");
        for id in edges {
            assert!(is_id(&id), "bad id {id:?}");
            assert!(declared.contains(&id), "undeclared id {id:?} in\n{text}");
        }
    }

    /// Runs `dot -Tsvg` on the text if Graphviz is installed.
    fn check_dot(text: &str) {
        use std::io::Write;
        use std::process::{Command, Stdio};
        assert!(text.starts_with("digraph schedule {"));
        let child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                println!("note: `dot` not available ({e}); DOT output not validated");
                return;
            }
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "dot failed: {stderr}\n{text}");
        assert!(stderr.trim().is_empty(), "dot warned: {stderr}\n{text}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("<svg"));
    }

    #[test]
    fn mermaid_is_well_formed() {
        let d = sample();
        let text = d.to_mermaid();
        check_mermaid(&text);
        assert!(text.contains("c_A[(\"A\")]"), "{text}");
        assert!(
            text.contains("r_Counter{{\"Res#lt;Counter#gt;\"}}"),
            "{text}"
        );
        assert!(text.contains("subgraph set_Logic [\"Logic\"]"), "{text}");
        assert!(text.contains("sys_write_a --> sys_follow"), "{text}");
        assert!(text.contains("sys_write_b --> set_Logic"), "{text}");
        assert!(text.contains("c_A -.->|reads| sys_follow"), "{text}");
        assert!(text.contains("sys_follow ==>|writes| c_C"), "{text}");
    }

    #[test]
    fn dot_is_valid() {
        let d = sample();
        let text = d.to_dot();
        assert!(text.contains("subgraph \"cluster_set_Logic\""), "{text}");
        assert!(text.contains("style=dashed"));
        assert!(text.contains("style=bold"));
        check_dot(&text);
    }

    #[test]
    fn renderings_escape_awkward_names() {
        let d = ScheduleDescription {
            plugins: vec!["p\nq".to_owned()],
            systems: vec![
                SystemDescription {
                    name: "gen::<\"x\">#1 \\ end".to_owned(),
                    sets: vec!["Set \"S\"".to_owned(), "Other".to_owned()],
                    reads: vec!["Res<Map<K, V>>".to_owned(), "* except A, B".to_owned()],
                    writes: vec!["end".to_owned()],
                    exclusive: false,
                },
                SystemDescription {
                    name: "end".to_owned(),
                    exclusive: true,
                    writes: vec!["*".to_owned()],
                    ..SystemDescription::default()
                },
            ],
            sets: vec![
                SetDescription {
                    name: "Set \"S\"".to_owned(),
                    parents: vec!["Other".to_owned()],
                },
                SetDescription {
                    name: "Other".to_owned(),
                    parents: vec![],
                },
                SetDescription {
                    name: "Empty".to_owned(),
                    parents: vec![],
                },
            ],
            edges: vec![
                Edge {
                    from: "gen::<\"x\">#1 \\ end".to_owned(),
                    to: "end".to_owned(),
                },
                Edge {
                    from: "Empty".to_owned(),
                    to: "Other".to_owned(),
                },
            ],
            stages: vec![
                vec!["gen::<\"x\">#1 \\ end".to_owned()],
                vec!["end".to_owned()],
            ],
        };
        check_mermaid(&d.to_mermaid());
        check_dot(&d.to_dot());
    }
}
