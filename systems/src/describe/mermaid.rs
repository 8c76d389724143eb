//! The schedule as a Mermaid flowchart.

use std::fmt::Write as _;

use super::ScheduleDescription;
use super::layout::{Layout, PALETTE, Use, comment, is_resource_name};

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

/// What the shapes and edges mean (ids that no schedule node can take:
/// those start with `sys_`, `set_`, `c_` or `r_`).
const LEGEND: &str = r#"  subgraph legend ["legend"]
    legend_system["system"]
    legend_exclusive[["exclusive system"]]
    legend_component[("component")]
    legend_resource{{"resource"}}
  end
  legend_system -->|before| legend_exclusive
  legend_component -.->|reads| legend_system
  legend_system ==>|writes| legend_resource
  legend_system ==>|creates| legend_component
"#;

impl ScheduleDescription {
    /// The schedule as a Mermaid flowchart (`flowchart LR`).
    ///
    /// Systems are nodes (exclusive ones with a double border), sets are
    /// subgraphs (a system or set in several sets is drawn in the first and
    /// its label names the others), ordering edges are `-->`, components are
    /// cylinders and resources hexagons, linked by dotted `reads` edges
    /// (data to system) and thick `writes` edges (system to data). Each
    /// system's label gives its stage; systems of one stage share a fill
    /// colour (class `stageN`). Components a system creates through
    /// `Commands` (as declared) are joined by thick `creates` edges. A
    /// `legend` subgraph says what the shapes and edges mean.
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
            for (data, used) in layout.accesses(i) {
                match used {
                    Use::Read => {
                        let _ = writeln!(out, "  {data} -.->|reads| {system}");
                    }
                    Use::Write | Use::Create => {
                        let _ = writeln!(out, "  {system} ==>|{}| {data}", used.verb());
                    }
                }
            }
        }
        out.push_str(LEGEND);
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
}
