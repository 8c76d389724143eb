//! `/snapshots/{at}/entities/{uid}`: one entity — every component with its
//! value (references as links), the references other entities hold to it,
//! and its lineage (causes and effects, as `dizzy trace --branch`).

use std::collections::BTreeMap;

use dizzy_components::{CAUSED_BY, CORRELATION};
use dizzy_snapshots::{Inspection, TraceNode, trace};
use maud::{Markup, html};
use serde_json::Value;

use crate::error::PageError;
use crate::pages::{Attr, Params, Shown, ValueHtml, entity_href, frame, parse_uid, table_href};
use crate::source::Source;

/// Characters of one component's value shown.
const VALUE: usize = 100_000;
/// Incoming references listed, at most.
const INCOMING: usize = 500;
/// Lineage nodes drawn, at most.
const NODES: usize = 1000;
/// Characters of a lineage node's summary.
const SUMMARY: usize = 120;

pub(crate) fn render(
    source: &Source,
    at: &str,
    uid: &str,
    q: &BTreeMap<String, String>,
) -> Result<String, PageError> {
    let id = source.resolve(at)?;
    let uid = parse_uid(uid)?;
    let p = Params(q);
    p.only(&["whole"])?;
    let whole = p.number("whole", 0, 0..=1)? == 1;
    let world = source.world(id)?;
    let inspection = &world.inspection;
    let components = inspection.entities.get(&uid).ok_or_else(|| {
        PageError::not_found(format!("snapshot {id} holds no entity with uid {uid}"))
    })?;
    let incoming = world.incoming.get(&uid).map_or(&[][..], Vec::as_slice);
    let lineage = trace(&inspection.entities, uid, !whole);
    let first = match &lineage {
        Some(t) => source.first_seen(&t.members(), id)?,
        None => BTreeMap::new(),
    };
    let body = html! {
        h1 { "Entity " (uid) " at snapshot " a href=(format!("/snapshots/{id}")) { (id) } }
        @if let Some(s) = first.get(&uid) { p.muted { "First in snapshot " (s) "." } }
        h2 { "Components" }
        table #components {
            thead { tr { th { "component" } th { "value" } } }
            tbody {
                @for (name, value) in components {
                    tr data-component=(Attr(name)) {
                        td { a href=(format!("{}?uid={uid}", table_href(id, name))) { (Shown(name)) } }
                        td.value {
                            @match value {
                                Some(v) => (ValueHtml::render(v, world.references_of(name, uid), id, VALUE)),
                                None => span.muted { "(not decoded)" },
                            }
                        }
                    }
                }
            }
        }
        h2 { "Referred to by" }
        @if incoming.is_empty() {
            p.muted #incoming-none { "No entity of this snapshot refers to it." }
        } @else {
            table #incoming {
                thead { tr { th.num { "uid" } th { "component" } th { "where" } } }
                tbody {
                    @for r in incoming.iter().take(INCOMING) {
                        tr data-uid=(r.from) {
                            td.num { a href=(entity_href(id, r.from)) { (r.from) } }
                            td { a href=(format!("{}?uid={}", table_href(id, &r.component), r.from)) { (Shown(&r.component)) } }
                            td { code { @if r.pointer.is_empty() { "(the whole value)" } @else { (Shown(&r.pointer)) } } }
                        }
                    }
                }
            }
            @if incoming.len() > INCOMING { p.muted { "… and " (incoming.len() - INCOMING) " more." } }
        }
        h2 { "Lineage" }
        @match &lineage {
            None => p.muted { "No lineage." },
            Some(t) => {
                p.muted {
                    @match t.correlation {
                        Some(c) => { "Correlation " (c) ", " }
                        None => { "No correlation, " }
                    }
                    (t.parent.len()) " entities"
                    @if whole { " (the whole correlation; " a href=(entity_href(id, uid)) { "only its causes and effects" } ")" }
                    @else { " (its causes and effects; " a href=(format!("{}?whole=1", entity_href(id, uid))) { "the whole correlation" } ")" }
                    "."
                }
                @let mut budget = NODES;
                ul.tree #lineage {
                    @for node in t.nodes() { (tree_node(&node, inspection, &first, uid, id, &mut budget)) }
                }
                @if budget == 0 { p.muted { "(the first " (NODES) " entities are drawn)" } }
            }
        }
    };
    Ok(frame(source, &format!("Entity {uid}"), None, body))
}

/// One node of the lineage and its children, while the budget lasts.
fn tree_node(
    node: &TraceNode,
    inspection: &Inspection,
    first: &BTreeMap<u64, u64>,
    focus: u64,
    snapshot: u64,
    budget: &mut usize,
) -> Markup {
    if *budget == 0 {
        return html! {};
    }
    *budget -= 1;
    let summary: String = inspection
        .entities
        .get(&node.uid)
        .map(|c| {
            c.iter()
                .filter(|(n, _)| *n != CORRELATION && *n != CAUSED_BY)
                .map(|(n, v)| {
                    let v = v.as_ref().map_or_else(|| "?".to_owned(), Value::to_string);
                    format!("{n} {v}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let summary: String = if summary.chars().count() > SUMMARY {
        summary.chars().take(SUMMARY - 1).chain(['…']).collect()
    } else {
        summary
    };
    html! {
        li.focus[node.uid == focus] data-uid=(node.uid) {
            span.node {
                a href=(entity_href(snapshot, node.uid)) { (node.uid) }
                " " span.mono { (Shown(&summary)) }
                @if let Some(s) = first.get(&node.uid) { " " span.muted { "(snapshot " (s) ")" } }
            }
            @if !node.children.is_empty() {
                ul { @for child in &node.children { (tree_node(child, inspection, first, focus, snapshot, budget)) } }
            }
        }
    }
}
