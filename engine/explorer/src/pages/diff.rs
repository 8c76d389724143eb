//! `/diff?a=A&b=B`: what changed from snapshot A to snapshot B (as `dizzy
//! diff`): entities spawned and despawned, components added, removed and
//! changed (old → new), resources changed.

use std::collections::BTreeMap;

use dizzy_snapshots::{Change, diff};
use maud::{Markup, html};
use serde_json::Value;

use crate::error::PageError;
use crate::pages::timeline::previous;
use crate::pages::{Attr, Params, Shown, ValueHtml, entity_href, frame, table_href};
use crate::source::Source;

/// Rows listed per kind of change unless asked, and at most.
const DEFAULT_LIMIT: u64 = 200;
const MAX_LIMIT: u64 = 5000;
/// Characters of one value shown.
const VALUE: usize = 300;

pub(crate) fn render(source: &Source, q: &BTreeMap<String, String>) -> Result<String, PageError> {
    let p = Params(q);
    p.only(&["a", "b", "limit"])?;
    let limit = p.number("limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)? as usize;
    let metas = source.snapshots()?;
    let b = match p.text("b")? {
        Some(b) => source.resolve(b)?,
        None => match metas.last() {
            Some(m) => m.id,
            None => return Err(PageError::not_found("this file holds no snapshot yet")),
        },
    };
    let a = match p.text("a")? {
        Some(a) => source.resolve(a)?,
        None => previous(&metas, b).unwrap_or(b),
    };
    let old = source.world(a)?;
    let new = source.world(b)?;
    let d = diff(&old.inspection, &new.inspection);
    let form = html! {
        form.inline method="get" action="/diff" {
            label { "from " input type="text" name="a" size="10" value=(a); }
            label { "to " input type="text" name="b" size="10" value=(b); }
            button type="submit" { "diff" }
            span.muted { "(ids, latest or latest~N)" }
        }
    };
    let entity_row = |class: &str, uid: u64, snapshot: u64, from: &dizzy_snapshots::Inspection| {
        let components: Value = Value::Object(
            from.entities
                .get(&uid)
                .into_iter()
                .flatten()
                .filter_map(|(n, v)| Some((n.clone(), v.clone()?)))
                .collect(),
        );
        html! {
            tr class=(class) data-uid=(uid) {
                td.num { a href=(entity_href(snapshot, uid)) { (uid) } }
                td.value { (ValueHtml::render(&components, &[], snapshot, VALUE)) }
            }
        }
    };
    let shown = |n: usize| -> Markup {
        html! { @if n > limit { p.muted { "The first " (limit) " of " (n) " are listed." } } }
    };
    let body = html! {
        h1 { "Diff" }
        (form)
        p #summary {
            "snapshot " a href=(format!("/snapshots/{a}")) { (a) } " → " a href=(format!("/snapshots/{b}")) { (b) } ": "
            span #spawned-count { (d.spawned.len()) } " spawned, "
            span #despawned-count { (d.despawned.len()) } " despawned, "
            span #added-count { (d.added.len()) } " components added, "
            span #removed-count { (d.removed.len()) } " removed, "
            span #changed-count { (d.changed.len()) } " changed"
        }
        @if !d.spawned.is_empty() || !d.despawned.is_empty() {
            h2 { "Entities" }
            table #entities {
                thead { tr { th.num { "uid" } th { "components" } } }
                tbody {
                    @for &uid in d.spawned.iter().take(limit) { (entity_row("spawned", uid, b, &new.inspection)) }
                    @for &uid in d.despawned.iter().take(limit) { (entity_row("despawned", uid, a, &old.inspection)) }
                }
            }
            (shown(d.spawned.len().max(d.despawned.len())))
        }
        (changes("Components added", "added", &d.added, limit, a, b))
        (changes("Components removed", "removed", &d.removed, limit, a, b))
        (changes("Values changed", "changed", &d.changed, limit, a, b))
        @if !d.resources.is_empty() {
            h2 { "Resources" }
            table #resources {
                thead { tr { th { "resource" } th { "old" } th { "new" } } }
                tbody {
                    @for r in &d.resources {
                        tr.changed data-resource=(r.resource) {
                            td { (Shown(r.resource)) }
                            td.value { (opt(r.old, a)) }
                            td.value { (opt(r.new, b)) }
                        }
                    }
                }
            }
        }
        @if a == b { p.muted { "Both sides are the same snapshot." } }
    };
    Ok(frame(source, &format!("Diff {a} → {b}"), None, body))
}

fn opt(v: Option<&Value>, snapshot: u64) -> Markup {
    match v {
        Some(v) => ValueHtml::render(v, &[], snapshot, VALUE),
        None => html! { span.muted { "—" } },
    }
}

/// One kind of component change, as a table.
fn changes(title: &str, class: &str, list: &[Change<'_>], limit: usize, a: u64, b: u64) -> Markup {
    if list.is_empty() {
        return html! {};
    }
    html! {
        h2 { (title) }
        table id=(class) {
            thead { tr { th.num { "uid" } th { "component" } th { "old" } th { "new" } } }
            tbody {
                @for c in list.iter().take(limit) {
                    tr class=(class) data-uid=(c.uid) data-component=(Attr(c.component)) {
                        td.num { a href=(entity_href(b, c.uid)) { (c.uid) } }
                        td { a href=(format!("{}?uid={}", table_href(b, c.component), c.uid)) { (Shown(c.component)) } }
                        td.value { (opt(c.old, a)) }
                        td.value { (opt(c.new, b)) }
                    }
                }
            }
        }
        @if list.len() > limit { p.muted { "The first " (limit) " of " (list.len()) " are listed." } }
    }
}
