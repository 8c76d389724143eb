//! What the Mermaid and DOT renderings share: node ids, the set tree,
//! the stage of each system, labels.

use std::collections::{HashMap, HashSet};

use super::{ScheduleDescription, SystemDescription};

/// How a system uses a data node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Use {
    /// Reads it (queries, `Res`).
    Read,
    /// Writes it (queries, `ResMut`).
    Write,
    /// Creates it through `Commands` (declared by the code).
    Create,
}

impl Use {
    /// The edge's label.
    pub(super) fn verb(self) -> &'static str {
        match self {
            Use::Read => "reads",
            Use::Write => "writes",
            Use::Create => "creates",
        }
    }
}

/// What `s` reads, writes and creates (a component both written and
/// created is drawn once, as created).
pub(super) fn uses(s: &SystemDescription) -> impl Iterator<Item = (&String, Use)> {
    s.reads
        .iter()
        .map(|n| (n, Use::Read))
        .chain(
            s.writes
                .iter()
                .filter(|n| !s.creates.contains(n))
                .map(|n| (n, Use::Write)),
        )
        .chain(s.creates.iter().map(|n| (n, Use::Create)))
}

/// Stage fill colours, cycled.
pub(super) const PALETTE: [&str; 6] = [
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
pub(super) fn is_resource_name(name: &str) -> bool {
    name.starts_with("Res<") && name.ends_with('>')
}

/// What the renderings share: ids, set tree, stage of each system.
pub(super) struct Layout<'a> {
    pub(super) d: &'a ScheduleDescription,
    pub(super) system_ids: Vec<String>,
    pub(super) set_ids: Vec<String>,
    /// Data names in order of first use, with their ids.
    pub(super) data: Vec<(&'a str, String)>,
    pub(super) data_id: HashMap<&'a str, usize>,
    pub(super) stage_of: HashMap<&'a str, usize>,
    /// Systems (`false`) and sets (`true`) by name.
    pub(super) endpoints: HashMap<&'a str, (usize, bool)>,
    /// Child sets of each set (by primary parent), and the top-level sets.
    pub(super) child_sets: Vec<Vec<usize>>,
    pub(super) root_sets: Vec<usize>,
    /// Systems directly in each set (by primary set), and the top-level ones.
    pub(super) set_systems: Vec<Vec<usize>>,
    pub(super) root_systems: Vec<usize>,
}

impl<'a> Layout<'a> {
    pub(super) fn new(d: &'a ScheduleDescription) -> Self {
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
            for (name, _) in uses(s) {
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
    pub(super) fn endpoint(&self, name: &str) -> Option<(&str, Option<usize>)> {
        match *self.endpoints.get(name)? {
            (i, false) => Some((&self.system_ids[i], None)),
            (i, true) => Some((&self.set_ids[i], Some(i))),
        }
    }

    /// The data accesses drawn for system `i`: (data node id, use).
    pub(super) fn accesses(&self, i: usize) -> Vec<(&str, Use)> {
        let s = &self.d.systems[i];
        if s.exclusive {
            return Vec::new();
        }
        let id = |name: &String| self.data[self.data_id[name.as_str()]].1.as_str();
        uses(s).map(|(n, u)| (id(n), u)).collect()
    }

    /// The label of a system: name, stage, other sets.
    pub(super) fn system_label(&self, i: usize) -> Vec<String> {
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

/// A comment line's text: no line breaks.
pub(super) fn comment(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}
