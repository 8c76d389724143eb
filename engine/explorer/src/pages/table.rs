//! `/snapshots/{at}/components/{name}`: the entities that have one
//! component, a page at a time: uid and the value's fields, sortable by
//! any column, filtered by uid and by a field's value.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use maud::html;
use serde_json::Value;

use crate::error::PageError;
use crate::pages::{
    Attr, Params, Shown, ValueHtml, enc, entity_href, frame, parse_uid, refs_within, table_href,
};
use crate::source::Source;

/// Rows per page unless asked, and at most.
const DEFAULT_SIZE: u64 = 50;
const MAX_SIZE: u64 = 500;
/// Characters of one cell shown.
const CELL: usize = 2000;
/// Columns shown, at most (a value with more fields shows the first).
const MAX_COLUMNS: usize = 64;
/// The column of values that are not objects.
const WHOLE: &str = "value";

/// The part of `v` a column shows: a field of an object, or the whole of
/// anything else.
fn cell<'v>(v: &'v Value, column: &str) -> Option<&'v Value> {
    match v {
        Value::Object(o) => o.get(column),
        other if column == WHOLE => Some(other),
        _ => None,
    }
}

/// The references of a value that lie in one of its cells, re-rooted at
/// the cell.
fn cell_refs(v: &Value, refs: &[(String, u64)], column: &str) -> Vec<(String, u64)> {
    match v {
        Value::Object(_) => refs_within(refs, column),
        _ => refs.to_vec(),
    }
}

/// Text a filter looks in: strings without quotes, the rest as JSON.
fn filter_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sort key: numbers by value, then strings, then the rest as JSON.
#[derive(PartialEq, PartialOrd)]
enum Key {
    Missing,
    Number(f64),
    Text(String),
}

fn key(v: Option<&Value>) -> Key {
    match v {
        None | Some(Value::Null) => Key::Missing,
        Some(Value::Number(n)) => n.as_f64().map_or(Key::Missing, Key::Number),
        Some(Value::String(s)) => Key::Text(s.clone()),
        Some(other) => Key::Text(other.to_string()),
    }
}

pub(crate) fn render(
    source: &Source,
    at: &str,
    name: &str,
    q: &BTreeMap<String, String>,
) -> Result<String, PageError> {
    let id = source.resolve(at)?;
    let p = Params(q);
    p.only(&["size", "desc", "uid", "field", "value", "sort", "page"])?;
    let size = p.number("size", DEFAULT_SIZE, 1..=MAX_SIZE)?;
    let desc = p.number("desc", 0, 0..=1)? == 1;
    let uid_filter = p.text("uid")?.map(parse_uid).transpose()?;
    let field = p.text("field")?;
    let value_filter = p.text("value")?;
    let sort = p.text("sort")?.unwrap_or("uid");
    let world = source.world(id)?;
    let inspection = &world.inspection;
    if !inspection.knows_component(name) {
        let known: BTreeSet<&str> = inspection
            .meta
            .schemas
            .iter()
            .filter(|s| s.kind == dizzy_components::Kind::Component)
            .map(|s| s.name.as_str())
            .collect();
        return Err(PageError::not_found(format!(
            "snapshot {id} has no component `{}` (components: {})",
            name.chars().take(80).collect::<String>(),
            known.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let all: Vec<(u64, Option<&Value>)> = inspection
        .entities
        .iter()
        .filter_map(|(&uid, c)| c.get(name).map(|v| (uid, v.as_ref())))
        .collect();
    let undecoded = all.iter().filter(|(_, v)| v.is_none()).count();
    // Columns: the fields of object values (in order of first appearance),
    // and `value` for values that are not objects.
    let mut columns: Vec<String> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (_, v) in &all {
        match v {
            Some(Value::Object(o)) => {
                for k in o.keys() {
                    if columns.len() < MAX_COLUMNS && seen.insert(k.clone()) {
                        columns.push(k.clone());
                    }
                }
            }
            Some(_) if columns.len() < MAX_COLUMNS && seen.insert(WHOLE.to_owned()) => {
                columns.push(WHOLE.to_owned());
            }
            _ => {}
        }
    }
    if sort != "uid" && !seen.contains(sort) {
        return Err(PageError::bad_request(format!(
            "cannot sort by `{}`: `{name}` has no such field (fields: {})",
            sort.chars().take(80).collect::<String>(),
            columns.join(", ")
        )));
    }
    if let Some(f) = field
        && !seen.contains(f)
    {
        return Err(PageError::bad_request(format!(
            "cannot filter by `{}`: `{name}` has no such field (fields: {})",
            f.chars().take(80).collect::<String>(),
            columns.join(", ")
        )));
    }
    let mut rows: Vec<(u64, Option<&Value>)> = all
        .iter()
        .copied()
        .filter(|(uid, _)| uid_filter.is_none_or(|u| u == *uid))
        .filter(|(_, v)| match (field, value_filter) {
            (Some(f), Some(text)) => v
                .and_then(|v| cell(v, f))
                .is_some_and(|c| filter_text(c).contains(text)),
            // No field chosen: the text may be in any of them.
            (None, Some(text)) => v.is_some_and(|v| {
                columns
                    .iter()
                    .filter_map(|c| cell(v, c))
                    .any(|c| filter_text(c).contains(text))
            }),
            (_, None) => true,
        })
        .collect();
    if sort != "uid" {
        let mut keyed: Vec<(Key, (u64, Option<&Value>))> = rows
            .into_iter()
            .map(|r| (key(r.1.and_then(|v| cell(v, sort))), r))
            .collect();
        keyed.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(Ordering::Equal)
                .then(a.1.0.cmp(&b.1.0))
        });
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    if desc {
        rows.reverse();
    }
    let total = rows.len() as u64;
    let pages = total.div_ceil(size).max(1);
    let page = p.number("page", 0, 0..=pages - 1)?;
    let shown = &rows[(page * size) as usize..((page + 1) * size).min(total) as usize];
    let unlocated = world.marked.contains(name) && !world.references.contains_key(name);
    // The address of this table with some parameters changed.
    let here = |changes: &[(&str, String)]| -> String {
        let mut params: BTreeMap<&str, String> = BTreeMap::new();
        for (k, v) in [
            ("size", (size != DEFAULT_SIZE).then(|| size.to_string())),
            ("sort", (sort != "uid").then(|| sort.to_owned())),
            ("desc", desc.then(|| "1".to_owned())),
            ("uid", uid_filter.map(|u| u.to_string())),
            ("field", field.map(str::to_owned)),
            ("value", value_filter.map(str::to_owned)),
            ("page", (page > 0).then(|| page.to_string())),
        ] {
            if let Some(v) = v {
                params.insert(k, v);
            }
        }
        for (k, v) in changes {
            if v.is_empty() {
                params.remove(k);
            } else {
                params.insert(k, v.clone());
            }
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        let base = table_href(id, name);
        if query.is_empty() {
            base
        } else {
            format!("{base}?{}", query.join("&"))
        }
    };
    let sort_link = |column: &str| -> String {
        let again = sort == column && !desc;
        here(&[
            (
                "sort",
                if column == "uid" {
                    String::new()
                } else {
                    column.to_owned()
                },
            ),
            ("desc", if again { "1".to_owned() } else { String::new() }),
            ("page", String::new()),
        ])
    };
    let arrow = |column: &str| -> &str {
        match (sort == column, desc) {
            (true, false) => " ▲",
            (true, true) => " ▼",
            _ => "",
        }
    };
    let body = html! {
        h1 { "Component " code { (Shown(name)) } " at snapshot " a href=(format!("/snapshots/{id}")) { (id) } }
        p.muted {
            (all.len()) " entities have it"
            @if total != all.len() as u64 { ", " (total) " match the filter" }
            "."
            @if undecoded > 0 { " " (undecoded) " values are not decodable by this build (see the snapshot's page)." }
        }
        @if unlocated {
            p.warn #refs-unlocated {
                "The file marks this component's values as holding entity references, but this build cannot locate them in the values (its shape reader marks none): they are shown as plain numbers."
            }
        }
        form.inline method="get" action=(table_href(id, name)) {
            label { "uid " input type="text" name="uid" size="10" value=[uid_filter.map(|u| u.to_string())]; }
            label { "field "
                select name="field" {
                    option value="" { "any" }
                    @for c in &columns { option value=(Attr(c)) selected[field == Some(c.as_str())] { (Shown(c)) } }
                }
            }
            label { "contains " input type="text" name="value" size="16" value=[value_filter.map(Attr)]; }
            label { "rows "
                select name="size" {
                    @for n in [20u64, 50, 100, 200, 500] { option value=(n) selected[n == size] { (n) } }
                }
            }
            @if sort != "uid" { input type="hidden" name="sort" value=(Attr(sort)); }
            @if desc { input type="hidden" name="desc" value="1"; }
            button type="submit" { "filter" }
            a href=(table_href(id, name)) { "clear" }
        }
        table #rows data-component=(Attr(name)) {
            thead { tr {
                th.num { a href=(sort_link("uid")) { "uid" (arrow("uid")) } }
                @for c in &columns { th { a href=(sort_link(c)) { (Shown(c)) (arrow(c)) } } }
            } }
            tbody {
                @for (uid, v) in shown {
                    tr data-uid=(uid) {
                        td.num { a.entity href=(entity_href(id, *uid)) { (uid) } }
                        @for c in &columns {
                            td.value data-field=(Attr(c)) {
                                @match v {
                                    None => span.muted { "(not decoded)" },
                                    Some(v) => @match cell(v, c) {
                                        Some(x) => (ValueHtml::render(x, &cell_refs(v, world.references_of(name, *uid), c), id, CELL)),
                                        None => "",
                                    },
                                }
                            }
                        }
                    }
                }
            }
        }
        div.pager {
            @if page > 0 { a #prev href=(here(&[("page", (page - 1).to_string())])) { "← previous" } }
            span { "page " (page + 1) " of " (pages) " (" (total) " rows)" }
            @if page + 1 < pages { a #next href=(here(&[("page", (page + 1).to_string())])) { "next →" } }
        }
    };
    Ok(frame(source, &format!("{name} at {id}"), None, body))
}
