//! `/snapshots/{at}/schedule`: the schedule the app that wrote a snapshot
//! ran, as a diagram drawn in the page (SVG), each system linked to the
//! components it reads and writes.

use dizzy_components::Kind;
use dizzy_snapshots::SnapshotMeta;
use dizzy_systems::{DiagramNode, ScheduleDescription};
use maud::{Markup, PreEscaped, html};

use crate::error::PageError;
use crate::pages::{Shown, enc, frame, table_href};
use crate::source::Source;

/// The stable name of the component a schedule names by Rust type
/// (`DuplicateSet`, or a path where the short name is ambiguous).
fn stable_name<'m>(meta: &'m SnapshotMeta, type_name: &str, kind: Kind) -> Option<&'m str> {
    meta.schemas
        .iter()
        .filter(|s| s.kind == kind)
        .find(|s| {
            // Schedules recorded since stable names were used name them.
            s.name == type_name
                || s.rust_type() == type_name
                || s.rust_type()
                    .strip_suffix(type_name)
                    .is_some_and(|rest| rest.ends_with("::"))
        })
        .map(|s| s.name.as_str())
}

fn system_anchor(name: &str) -> String {
    format!("system-{}", enc(name))
}

pub(crate) fn render(source: &Source, at: &str) -> Result<String, PageError> {
    let id = source.resolve(at)?;
    let meta = source.meta(id)?;
    let title = format!("Schedule at snapshot {id}");
    if meta.app.trim().is_empty() {
        let body = html! {
            h1 { (title) }
            p.warn { "Snapshot " (id) " records no schedule (the app that wrote it described none)." }
        };
        return Ok(frame(source, &title, None, body));
    }
    let d: ScheduleDescription = serde_json::from_str(&meta.app).map_err(|e| {
        PageError::internal(format!(
            "snapshot {id}: the recorded schedule is not readable: {e}"
        ))
    })?;
    let link = |node: DiagramNode<'_>| -> Option<String> {
        match node {
            DiagramNode::System(name) => Some(format!("#{}", system_anchor(name))),
            DiagramNode::Component(name) => {
                stable_name(&meta, name, Kind::Component).map(|n| table_href(id, n))
            }
            DiagramNode::Resource(name) => stable_name(&meta, name, Kind::Resource)
                .map(|_| format!("/snapshots/{id}#resources")),
            _ => None,
        }
    };
    let svg = d.without_sync_points().to_svg_linked(&link);
    let data = |names: &[String]| -> Markup {
        html! {
            @for (i, n) in names.iter().enumerate() {
                @if i > 0 { ", " }
                @let resource = n.strip_prefix("Res<").and_then(|r| r.strip_suffix('>'));
                @match resource {
                    Some(r) => @match stable_name(&meta, r, Kind::Resource) {
                        Some(stable) => a href=(format!("/snapshots/{id}#resources")) title=(n) { (stable) },
                        None => code { (Shown(n)) },
                    },
                    None => @match stable_name(&meta, n, Kind::Component) {
                        Some(stable) => a.component href=(table_href(id, stable)) title=(n) { (stable) },
                        None => code { (Shown(n)) },
                    },
                }
            }
        }
    };
    let body = html! {
        h1 { (title) }
        p.muted {
            @if !d.plugins.is_empty() { "Plugins: " (d.plugins.join(", ")) ". " }
            "Systems in one column can run at the same time; dashed blue lines are reads, solid red lines writes, solid green lines what a system creates through commands (as its code declares)."
        }
        div.schedule-box { (PreEscaped(svg)) }
        h2 { "Systems" }
        table #systems {
            thead { tr { th { "system" } th.num { "stage" } th { "reads" } th { "writes" } th { "creates" } th { "sets" } } }
            tbody {
                @for s in &d.without_sync_points().systems {
                    tr id=(system_anchor(&s.name)) {
                        td { code { (Shown(&s.name)) } @if s.exclusive { " " span.tag { "exclusive" } } }
                        td.num { @if let Some(st) = d.stages.iter().position(|g| g.contains(&s.name)) { (st) } }
                        td { (data(&s.reads)) }
                        td { (data(&s.writes)) }
                        td { (data(&s.creates)) }
                        td { (s.sets.join(", ")) }
                    }
                }
            }
        }
    };
    Ok(frame(source, &title, None, body))
}
