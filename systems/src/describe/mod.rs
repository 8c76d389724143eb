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
//!
//! The modules: `access` turns bevy's access sets into names, `graph`
//! flattens the declared graphs and computes sync points and stages,
//! `layout` holds what the renderings share, `mermaid` and `dot` write
//! them.

mod access;
mod changes;
#[cfg(test)]
mod check;
mod dot;
mod graph;
mod layout;
mod mermaid;
mod svg;
#[cfg(test)]
mod tests;

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap, HashSet};

use bevy_ecs::component::ComponentId;
use bevy_ecs::schedule::graph::{DiGraph, Direction};
use bevy_ecs::schedule::{ApplyDeferred, NodeId, Schedule, SystemSetKey};
use bevy_ecs::world::World;
use serde::{Deserialize, Serialize};

pub use changes::{CodeChanges, SystemChange};
pub use svg::DiagramNode;

use crate::notes::CodeNotes;
use access::{Target, access_targets};
use graph::{Adjacency, stages, sync_point_edges};

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
    /// Whether this description identifies the code that wrote it (every
    /// system's [`version`](SystemDescription::version) and
    /// [`creates`](SystemDescription::creates), and [`schemas`](Self::schemas)
    /// are recorded): false in descriptions recorded before they were, which
    /// [`ScheduleDescription::changes_since`] does not compare.
    #[serde(default)]
    pub identifies_code: bool,
    /// The registered components and resources, by stable name, in
    /// registration order.
    #[serde(default)]
    pub schemas: Vec<TypeSchema>,
}

/// A registered component or resource, as a [`ScheduleDescription`]
/// records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TypeSchema {
    /// The stable name.
    pub name: String,
    /// The schema version.
    pub version: u32,
    /// A resource (not a component).
    #[serde(default)]
    pub resource: bool,
}

/// One system of a [`ScheduleDescription`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SystemDescription {
    /// The system's name: bevy's name without module paths, or the full
    /// name where the short one is shared by several systems, with ` #n`
    /// appended where even that is not unique. Auto-inserted sync points are
    /// named `apply_deferred (auto sync n)`.
    pub name: String,
    /// bevy's full name of the system (with module paths): what identifies
    /// it when two descriptions are compared, whatever [`name`] it is shown
    /// with (a short name becomes a long one when another system with the
    /// same short name is added). Empty for sync points and in
    /// descriptions recorded before it was.
    ///
    /// [`name`]: SystemDescription::name
    #[serde(default)]
    pub path: String,
    /// The user-visible sets the system is directly in (through anonymous
    /// sets, which are skipped).
    pub sets: Vec<String>,
    /// What the system reads but does not write, by name, sorted.
    ///
    /// Registered components are named by their stable name
    /// (`dedupe.file`), others by type (without module path, or with it
    /// where the short name is ambiguous); resources are written
    /// `Res<name>`;
    /// `*` means every component (`&World`, `EntityRef`, ...), and
    /// `* except A, B` all but those.
    pub reads: Vec<String>,
    /// What the system writes (and may read), by name, sorted; same naming
    /// as [`SystemDescription::reads`].
    pub writes: Vec<String>,
    /// Whether the system needs the whole world (`&mut World`): it runs
    /// alone.
    pub exclusive: bool,
    /// The components the system creates through `Commands` (spawns or
    /// inserts), as the code declares them
    /// ([`Setup::declare`](crate::Setup::declare)), sorted; same naming as
    /// [`SystemDescription::reads`].
    #[serde(default)]
    pub creates: Vec<String>,
    /// The system's code version (1 unless the code sets it with
    /// [`Setup::system_version`](crate::Setup::system_version)); 0 where
    /// not recorded (sync points, older descriptions).
    #[serde(default)]
    pub version: u32,
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

/// The systems that [`Setup::declare`](crate::Setup::declare) named but
/// `schedule` does not hold (declared, never added with `add_systems`):
/// what is declared of them describes nothing. By bevy's full name, sorted.
pub fn declared_but_absent(schedule: &Schedule, world: &World) -> Vec<String> {
    let Some(notes) = world.get_resource::<CodeNotes>() else {
        return Vec::new();
    };
    let Ok(systems) = schedule.systems() else {
        return Vec::new();
    };
    let present: HashSet<String> = systems.map(|(_, s)| s.name().to_string()).collect();
    let declared: BTreeSet<&String> = notes
        .creates
        .iter()
        .map(|c| &c.0)
        .chain(notes.versions.keys())
        .filter(|name| !present.contains(*name))
        .collect();
    declared.into_iter().cloned().collect()
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
    // Declared creations name components too (perhaps not in any access).
    let notes = world.get_resource::<CodeNotes>();
    if let Some(notes) = notes {
        ids.extend(
            notes
                .creates
                .iter()
                .filter_map(|(_, type_id, _)| world.components().get_id(*type_id)),
        );
    }
    let ids: Vec<ComponentId> = ids.into_iter().collect();
    let stable = |id: ComponentId| -> Option<&String> {
        let info = world.components().get_info(id)?;
        notes?.names.get(&info.type_id()?)
    };
    let component_names = unique_names(
        ids.iter()
            .map(|&id| match (stable(id), world.components().get_info(id)) {
                (Some(name), _) => (name.clone(), name.clone()),
                (None, Some(info)) => {
                    (info.name().shortname().to_string(), info.name().to_string())
                }
                (None, None) => (format!("{id:?}"), format!("{id:?}")),
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
            let full_name = s.system().name().to_string();
            let creates: BTreeSet<String> = notes
                .map(|notes| {
                    notes
                        .creates
                        .iter()
                        .filter(|(system, _, _)| *system == full_name)
                        .map(|(_, type_id, type_name)| {
                            world
                                .components()
                                .get_id(*type_id)
                                .and_then(|id| component_name.get(&id))
                                .map_or_else(|| (*type_name).to_owned(), |n| (*n).clone())
                        })
                        .collect()
                })
                .unwrap_or_default();
            SystemDescription {
                name: system_names[i].clone(),
                path: if is_auto[i] {
                    String::new()
                } else {
                    full_name.clone()
                },
                sets: if is_auto[i] {
                    Vec::new()
                } else {
                    parents_of(NodeId::System(*key))
                },
                reads: reads.difference(&writes).cloned().collect(),
                writes: writes.into_iter().collect(),
                exclusive: s.access().is_exclusive(),
                creates: creates.into_iter().collect(),
                version: match notes {
                    Some(notes) if !is_sync[i] => notes.version(&full_name),
                    _ => 0,
                },
            }
        })
        .collect();
    if let Some(notes) = notes {
        out.identifies_code = true;
        out.schemas = notes.schemas.clone();
    }

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
