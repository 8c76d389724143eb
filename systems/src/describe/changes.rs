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
        let old_systems: BTreeMap<&str, &SystemDescription> =
            old.systems.iter().map(|s| (s.name.as_str(), s)).collect();
        let new_names: BTreeSet<&str> = new.systems.iter().map(|s| s.name.as_str()).collect();
        let mut out = CodeChanges::default();
        for s in &new.systems {
            match old_systems.get(s.name.as_str()) {
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
            .filter(|s| !new_names.contains(s.name.as_str()))
            .map(|s| s.name.clone())
            .collect();
        let pairs = |d: &ScheduleDescription| -> BTreeSet<(String, String)> {
            d.edges
                .iter()
                .map(|e| (e.from.clone(), e.to.clone()))
                .collect()
        };
        let (old_edges, new_edges) = (pairs(&old), pairs(&new));
        let edge = |(from, to): &(String, String)| Edge {
            from: from.clone(),
            to: to.clone(),
        };
        out.order_added = new_edges.difference(&old_edges).map(edge).collect();
        out.order_removed = old_edges.difference(&new_edges).map(edge).collect();
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
