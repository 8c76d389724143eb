//! What changed in the code between two descriptions: systems added,
//! removed and changed (version, access, creations), ordering edges, and
//! registered schemas; shown as one readable block.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Edge, ScheduleDescription, SystemDescription};

/// The differences between the code that wrote one description and the code
/// that wrote another; see [`ScheduleDescription::changes_since`]. Its
/// `Display` is one block of lines, one per kind of change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CodeChanges {
    /// Systems only the newer code has, in its execution order.
    pub systems_added: Vec<String>,
    /// Systems only the older code had, in its execution order.
    pub systems_removed: Vec<String>,
    /// Systems both have that differ, in the newer execution order.
    pub systems_changed: Vec<SystemChange>,
    /// Ordering edges only the newer code declares.
    pub order_added: Vec<Edge>,
    /// Ordering edges only the older code declared.
    pub order_removed: Vec<Edge>,
    /// Components and resources only the newer code registers.
    pub schemas_added: Vec<String>,
    /// Components and resources only the older code registered.
    pub schemas_removed: Vec<String>,
    /// Schema versions that differ: (name, older, newer).
    pub schemas_changed: Vec<(String, u32, u32)>,
}

/// How one system differs between two descriptions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SystemChange {
    /// The system's name.
    pub name: String,
    /// The code version, older and newer, if it changed.
    pub version: Option<(u32, u32)>,
    /// Data read now, not before.
    pub reads_added: Vec<String>,
    /// Data read before, not now.
    pub reads_removed: Vec<String>,
    /// Data written now, not before.
    pub writes_added: Vec<String>,
    /// Data written before, not now.
    pub writes_removed: Vec<String>,
    /// Components created now, not before.
    pub creates_added: Vec<String>,
    /// Components created before, not now.
    pub creates_removed: Vec<String>,
    /// Whether the system is exclusive, older and newer, if that changed.
    pub exclusive: Option<(bool, bool)>,
}

impl SystemChange {
    /// Whether the system's access (reads, writes, creations, exclusivity)
    /// changed, as opposed to only its version.
    pub fn access_changed(&self) -> bool {
        !(self.reads_added.is_empty()
            && self.reads_removed.is_empty()
            && self.writes_added.is_empty()
            && self.writes_removed.is_empty()
            && self.creates_added.is_empty()
            && self.creates_removed.is_empty()
            && self.exclusive.is_none())
    }
}

/// Auto-inserted sync points are bevy's business, not the app's code.
fn is_auto_sync(name: &str) -> bool {
    name.starts_with("apply_deferred (auto sync ")
}

/// `new` minus `old`, and `old` minus `new`.
fn sides(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let old: BTreeSet<&String> = old.iter().collect();
    let new: BTreeSet<&String> = new.iter().collect();
    (
        new.difference(&old).map(|s| (*s).clone()).collect(),
        old.difference(&new).map(|s| (*s).clone()).collect(),
    )
}

fn system_change(old: &SystemDescription, new: &SystemDescription) -> SystemChange {
    let (reads_added, reads_removed) = sides(&old.reads, &new.reads);
    let (writes_added, writes_removed) = sides(&old.writes, &new.writes);
    let (creates_added, creates_removed) = sides(&old.creates, &new.creates);
    SystemChange {
        name: new.name.clone(),
        // 0 is "not recorded": no claim either way.
        version: (old.version != new.version && old.version != 0 && new.version != 0)
            .then_some((old.version, new.version)),
        reads_added,
        reads_removed,
        writes_added,
        writes_removed,
        creates_added,
        creates_removed,
        exclusive: (old.exclusive != new.exclusive).then_some((old.exclusive, new.exclusive)),
    }
}

impl ScheduleDescription {
    /// This description without the sync points bevy inserted on its own
    /// (`apply_deferred (auto sync n)`): their edges are dropped (the
    /// orderings that made bevy insert them are declared edges of their
    /// own) and they leave their stages (stages left empty go).
    pub fn without_sync_points(&self) -> ScheduleDescription {
        let mut out = self.clone();
        out.systems.retain(|s| !is_auto_sync(&s.name));
        out.edges
            .retain(|e| !is_auto_sync(&e.from) && !is_auto_sync(&e.to));
        for stage in &mut out.stages {
            stage.retain(|name| !is_auto_sync(name));
        }
        out.stages.retain(|stage| !stage.is_empty());
        out
    }

    /// What changed in the code from the one that wrote `old` to the one
    /// that wrote `self`; `None` when either description does not identify
    /// its code (recorded before dizzy recorded versions and schemas: no
    /// report, no error). Sync points bevy inserted are not compared.
    pub fn changes_since(&self, old: &ScheduleDescription) -> Option<CodeChanges> {
        (self.identifies_code && old.identifies_code).then(|| self.diff_from(old))
    }

    /// What differs between the schedule `old` describes and this one,
    /// whatever either records (versions and schemas are compared where
    /// both record them).
    pub fn diff_from(&self, old: &ScheduleDescription) -> CodeChanges {
        let old = old.without_sync_points();
        let new = self.without_sync_points();
        // Systems are matched by identity (bevy's full name, and which of
        // the systems with that name it is), not by the name shown, which
        // depends on what else is in the schedule; descriptions recorded
        // before full names were are matched by the names shown.
        let by_path = old
            .systems
            .iter()
            .chain(&new.systems)
            .all(|s| !s.path.is_empty());
        let old_ids = identities(&old, by_path);
        let mut new_ids = identities(&new, by_path);
        if by_path {
            follow_moves(&old_ids, &mut new_ids);
        }
        let old_systems: BTreeMap<&str, &SystemDescription> = old
            .systems
            .iter()
            .map(|s| (old_ids[s.name.as_str()].as_str(), s))
            .collect();
        let new_known: BTreeSet<&str> = new_ids.values().map(String::as_str).collect();
        let mut out = CodeChanges::default();
        for s in &new.systems {
            match old_systems.get(new_ids[s.name.as_str()].as_str()) {
                None => out.systems_added.push(s.name.clone()),
                Some(before) => {
                    let change = system_change(before, s);
                    if change.version.is_some() || change.access_changed() {
                        out.systems_changed.push(change);
                    }
                }
            }
        }
        out.systems_removed = old
            .systems
            .iter()
            .filter(|s| !new_known.contains(old_ids[s.name.as_str()].as_str()))
            .map(|s| s.name.clone())
            .collect();
        // Edges by identity; shown with the names of the side they are on.
        let pairs = |d: &ScheduleDescription, ids: &BTreeMap<&str, String>| {
            d.edges
                .iter()
                .map(|e| {
                    let id = |n: &str| ids.get(n).cloned().unwrap_or_else(|| n.to_owned());
                    ((id(&e.from), id(&e.to)), e.clone())
                })
                .collect::<BTreeMap<(String, String), Edge>>()
        };
        let (old_edges, new_edges) = (pairs(&old, &old_ids), pairs(&new, &new_ids));
        out.order_added = new_edges
            .iter()
            .filter(|(k, _)| !old_edges.contains_key(*k))
            .map(|(_, e)| e.clone())
            .collect();
        out.order_removed = old_edges
            .iter()
            .filter(|(k, _)| !new_edges.contains_key(*k))
            .map(|(_, e)| e.clone())
            .collect();
        if !old.schemas.is_empty() && !new.schemas.is_empty() {
            let versions = |d: &ScheduleDescription| -> BTreeMap<String, u32> {
                d.schemas
                    .iter()
                    .map(|s| (s.name.clone(), s.version))
                    .collect()
            };
            let (before, after) = (versions(&old), versions(&new));
            for (name, &v) in &after {
                match before.get(name) {
                    None => out.schemas_added.push(name.clone()),
                    Some(&w) if w != v => out.schemas_changed.push((name.clone(), w, v)),
                    Some(_) => {}
                }
            }
            out.schemas_removed = before
                .keys()
                .filter(|name| !after.contains_key(*name))
                .cloned()
                .collect();
        }
        out
    }
}

/// Each system's identity, by the name it is shown with: its full name
/// (or, if `by_path` is false, the name shown), with `#n` for the n-th
/// system of that name after the first (the same function added twice).
fn identities(d: &ScheduleDescription, by_path: bool) -> BTreeMap<&str, String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    d.systems
        .iter()
        .map(|s| {
            let base = if by_path {
                s.path.as_str()
            } else {
                s.name.as_str()
            };
            let n = seen.entry(base).or_default();
            *n += 1;
            let id = if *n == 1 {
                base.to_owned()
            } else {
                format!("{base}#{n}")
            };
            (s.name.as_str(), id)
        })
        .collect()
}

/// A system moved to another module (or whose module was renamed) keeps
/// its identity: a system of `new` whose full name `old` lacks takes the
/// identity of the one system of `old` with the same short name whose full
/// name `new` lacks, when there is exactly one on each side.
fn follow_moves(old: &BTreeMap<&str, String>, new: &mut BTreeMap<&str, String>) {
    let short = |id: &str| -> String {
        let (base, n) = id.split_once('#').unwrap_or((id, ""));
        let name = base.rsplit("::").next().unwrap_or(base);
        format!("{name}#{n}")
    };
    let old_known: BTreeSet<&String> = old.values().collect();
    let new_known: BTreeSet<String> = new.values().cloned().collect();
    let mut gone: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for id in old.values().filter(|id| !new_known.contains(*id)) {
        gone.entry(short(id)).or_default().push(id);
    }
    let mut came: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, id) in new.iter().filter(|(_, id)| !old_known.contains(id)) {
        came.entry(short(id)).or_default().push(name);
    }
    for (key, names) in came {
        if let (Some([from]), [name]) = (gone.get(&key).map(Vec::as_slice), names.as_slice()) {
            new.insert(name, (*from).clone());
        }
    }
}

impl CodeChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == CodeChanges::default()
    }
}

/// `+a, +b, -c` for what was added and removed.
fn signed(added: &[String], removed: &[String]) -> String {
    added
        .iter()
        .map(|s| format!("+{s}"))
        .chain(removed.iter().map(|s| format!("-{s}")))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for SystemChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some((old, new)) = self.version {
            parts.push(format!("version {old} -> {new}"));
        }
        for (what, added, removed) in [
            ("reads", &self.reads_added, &self.reads_removed),
            ("writes", &self.writes_added, &self.writes_removed),
            ("creates", &self.creates_added, &self.creates_removed),
        ] {
            if !added.is_empty() || !removed.is_empty() {
                parts.push(format!("{what} {}", signed(added, removed)));
            }
        }
        if let Some((old, new)) = self.exclusive {
            parts.push(format!("exclusive {old} -> {new}"));
        }
        write!(f, "{}: {}", self.name, parts.join("; "))
    }
}

impl fmt::Display for CodeChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no code changes");
        }
        let mut lines: Vec<String> = Vec::new();
        if !self.systems_added.is_empty() {
            lines.push(format!("systems added: {}", self.systems_added.join(", ")));
        }
        if !self.systems_removed.is_empty() {
            lines.push(format!(
                "systems removed: {}",
                self.systems_removed.join(", ")
            ));
        }
        for change in &self.systems_changed {
            lines.push(format!("system changed: {change}"));
        }
        let edges = |edges: &[Edge]| {
            edges
                .iter()
                .map(|e| format!("{} -> {}", e.from, e.to))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.order_added.is_empty() {
            lines.push(format!("order added: {}", edges(&self.order_added)));
        }
        if !self.order_removed.is_empty() {
            lines.push(format!("order removed: {}", edges(&self.order_removed)));
        }
        if !self.schemas_added.is_empty() {
            lines.push(format!("types added: {}", self.schemas_added.join(", ")));
        }
        if !self.schemas_removed.is_empty() {
            lines.push(format!(
                "types removed: {}",
                self.schemas_removed.join(", ")
            ));
        }
        for (name, old, new) in &self.schemas_changed {
            lines.push(format!(
                "type changed: {name}: schema version {old} -> {new}"
            ));
        }
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  {line}")?;
        }
        Ok(())
    }
}
