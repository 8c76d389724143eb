//! The schedule as a Graphviz digraph.

use std::fmt::Write as _;

use super::ScheduleDescription;
use super::layout::{Layout, PALETTE, Use, comment, is_resource_name};

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

/// What the shapes and edges mean (ids that no schedule node can take).
const LEGEND: &str = r##"  subgraph "cluster_legend" {
    label="legend"; style=rounded; color="#888888";
    "legend_system" [shape=box, label="system"];
    "legend_exclusive" [shape=box, peripheries=2, label="exclusive system"];
    "legend_component" [shape=cylinder, label="component"];
    "legend_resource" [shape=hexagon, label="resource"];
    "legend_system" -> "legend_exclusive" [label="runs before"];
    "legend_component" -> "legend_system" [style=dashed, label="reads", color="#777777"];
    "legend_system" -> "legend_resource" [style=bold, label="writes"];
    "legend_system" -> "legend_component" [style=bold, color="#2e7d32", label="creates"];
  }
"##;

impl ScheduleDescription {
    /// The schedule as a Graphviz digraph (`digraph schedule { ... }`).
    ///
    /// Systems are boxes (exclusive ones with a double border), sets are
    /// `cluster_*` subgraphs (a set's ordering edges attach to its cluster),
    /// components are cylinders and resources hexagons; ordering edges are
    /// solid, reads dashed (data to system), writes bold (system to data).
    /// Each system's label gives its stage; systems of one stage share a
    /// fill colour. Declared creations through `Commands` are bold green
    /// `creates` edges; a `legend` cluster says what all of it means.
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
            for (data, used) in layout.accesses(i) {
                let data = dot_str(data);
                if used == Use::Create {
                    let _ = writeln!(
                        out,
                        "  {system} -> {data} [style=bold, color=\"#2e7d32\", label=\"creates\"];"
                    );
                } else if used == Use::Write {
                    let _ = writeln!(out, "  {system} -> {data} [style=bold, label=\"writes\"];");
                } else {
                    let _ = writeln!(
                        out,
                        "  {data} -> {system} [style=dashed, label=\"reads\", color=\"#777777\"];"
                    );
                }
            }
        }
        out.push_str(LEGEND);
        out.push_str("}\n");
        out
    }
}
