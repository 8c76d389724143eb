//! `/snapshots/{at}`: one snapshot — its record, each component with the
//! entities that have it and the bytes it took, its resources.

use dizzy_snapshots::stats;
use maud::html;

use crate::error::PageError;
use crate::pages::timeline::{kind, previous};
use crate::pages::{Attr, Shown, ValueHtml, frame, table_href, utc};
use crate::source::Source;

/// Characters of a resource's value shown.
const RESOURCE_VALUE: usize = 2000;

pub(crate) fn render(source: &Source, at: &str) -> Result<String, PageError> {
    let id = source.resolve(at)?;
    let metas = source.snapshots()?;
    let world = source.world(id)?;
    let inspection = &world.inspection;
    let meta = &inspection.meta;
    let s = stats(inspection);
    let prev = previous(&metas, id);
    let next = metas
        .iter()
        .position(|m| m.id == id)
        .and_then(|i| metas.get(i + 1))
        .map(|m| m.id);
    let latest = metas.last().map(|m| m.id);
    let chain: Vec<String> = inspection.chain.iter().map(u64::to_string).collect();
    let body = html! {
        h1 { "Snapshot " (id) " " (kind(meta)) }
        div.pager {
            @if let Some(p) = prev { a href=(format!("/snapshots/{p}")) { "← snapshot " (p) } }
            @if let Some(n) = next { a href=(format!("/snapshots/{n}")) { "snapshot " (n) " →" } }
            @if let Some(p) = prev { a href=(format!("/diff?a={p}&b={id}")) { "diff with " (p) } }
            a href=(format!("/snapshots/{id}/schedule")) { "schedule" }
        }
        dl.facts {
            dt { "tick" } dd { (meta.tick) }
            dt { "time (UTC)" } dd { (utc(meta.unix_ms)) }
            dt { "entities" } dd #entity-count { (inspection.entities.len()) }
            dt { "bytes written" } dd { (meta.bytes) }
            dt { "chain" } dd { (chain.join(" → ")) }
            dt { "next uid" } dd { (meta.uid_next) }
        }
        @if !inspection.undecodable.is_empty() {
            div.warn {
                "Not decodable by this build (shown without values): "
                @for (name, why) in &inspection.undecodable { code { (Shown(name)) } " (" (Shown(why)) ") " }
            }
        }
        h2 { "Components" }
        table #components {
            thead { tr {
                th { "component" } th.num { "entities" } th.num { "values written" }
                th.num { "bytes" } th { "" }
            } }
            tbody {
                @for (name, c) in &s.components {
                    tr data-component=(Attr(name)) {
                        td { a href=(table_href(id, name)) { (Shown(name)) } }
                        td.num { (c.entities) }
                        td.num { (c.written) }
                        td.num { (c.bytes) }
                        td.muted { @if world.marked.contains(name) { "holds entity references" } }
                    }
                }
                tr { td.muted { "(uids, spawns, despawns)" } td {} td {} td.num { (s.own_bytes) } td {} }
            }
        }
        h2 { "Resources" }
        @if s.resources.is_empty() {
            p.muted { "None." }
        } @else {
            table #resources {
                thead { tr { th { "resource" } th.num { "values written" } th.num { "bytes" } th { "value" } } }
                tbody {
                    @for (name, c) in &s.resources {
                        tr {
                            td { (Shown(name)) }
                            td.num { (c.written) }
                            td.num { (c.bytes) }
                            td.value {
                                @match inspection.resources.get(name).and_then(Option::as_ref) {
                                    Some(v) => (ValueHtml::render(v, &[], id, RESOURCE_VALUE)),
                                    None => span.muted { "(not decoded)" },
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let follow = at.starts_with("latest").then_some(latest);
    Ok(frame(source, &format!("Snapshot {id}"), follow, body))
}
