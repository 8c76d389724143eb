//! `/`: the snapshots of the file, newest first, with a plot of entities
//! and bytes over snapshots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use dizzy_snapshots::SnapshotMeta;
use maud::{Markup, PreEscaped, html};

use crate::error::PageError;
use crate::pages::{Params, frame, utc};
use crate::source::Source;

/// Rows per page of the list.
const ROWS: u64 = 200;
/// Points plotted, at most (evenly picked from all snapshots).
const POINTS: usize = 600;

pub(crate) fn render(source: &Source, q: &BTreeMap<String, String>) -> Result<String, PageError> {
    let p = Params(q);
    p.only(&["page"])?;
    let metas = source.snapshots()?;
    let pages = (metas.len() as u64).div_ceil(ROWS).max(1);
    let page = p.number("page", 0, 0..=pages - 1)?;
    let latest = metas.last().map(|m| m.id);
    let newest_first: Vec<&Arc<SnapshotMeta>> = metas
        .iter()
        .rev()
        .skip((page * ROWS) as usize)
        .take(ROWS as usize)
        .collect();
    let body = html! {
        h1 { "Snapshots" }
        p.muted {
            (metas.len()) " snapshots"
            @if let Some(l) = metas.last() { ", the newest at tick " (l.tick) " with " (l.entities) " entities" }
            "."
        }
        @if metas.is_empty() {
            p.warn { "This file holds no snapshot yet." }
        } @else {
            div.plots {
                (plot(&metas, "entities", |m| m.entities))
                (plot(&metas, "bytes written", |m| m.bytes))
            }
        }
        table #snapshots {
            thead { tr {
                th.num { "id" } th { "kind" } th.num { "tick" } th { "time (UTC)" }
                th.num { "entities" } th.num { "bytes" } th { "" }
            } }
            tbody {
                @for m in &newest_first {
                    tr data-id=(m.id) {
                        td.num { a href=(format!("/snapshots/{}", m.id)) { (m.id) } }
                        td { (kind(m)) }
                        td.num { (m.tick) }
                        td { (utc(m.unix_ms)) }
                        td.num.entities { (m.entities) }
                        td.num.bytes { (m.bytes) }
                        td {
                            @if let Some(prev) = previous(&metas, m.id) {
                                a href=(format!("/diff?a={prev}&b={}", m.id)) { "diff with " (prev) }
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            div.pager {
                @if page > 0 { a href=(format!("/?page={}", page - 1)) { "← newer" } }
                span { "page " (page + 1) " of " (pages) }
                @if page + 1 < pages { a href=(format!("/?page={}", page + 1)) { "older →" } }
            }
        }
    };
    Ok(frame(source, "Snapshots", Some(latest), body))
}

/// `full`, or `delta on B`.
pub(crate) fn kind(m: &SnapshotMeta) -> Markup {
    html! {
        @match m.base {
            Some(b) => span.tag.delta { "delta on " (b) },
            None => span.tag { (m.kind.as_str()) },
        }
    }
}

/// The snapshot before `id` among `metas`.
pub(crate) fn previous(metas: &[Arc<SnapshotMeta>], id: u64) -> Option<u64> {
    let i = metas.iter().position(|m| m.id == id)?;
    i.checked_sub(1).map(|p| metas[p].id)
}

/// A line plot of one figure over the snapshots, as inline SVG.
fn plot(metas: &[Arc<SnapshotMeta>], what: &str, figure: impl Fn(&SnapshotMeta) -> u64) -> Markup {
    let (w, h, left, right, top, bottom) = (560.0, 170.0, 64.0, 12.0, 22.0, 26.0);
    let step = metas.len().div_ceil(POINTS).max(1);
    let points: Vec<&Arc<SnapshotMeta>> = metas.iter().step_by(step).collect();
    let max = points.iter().map(|m| figure(m)).max().unwrap_or(0).max(1) as f64;
    let n = points.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (w - left - right) * (i as f64 / n);
    let y = |v: u64| top + (h - top - bottom) * (1.0 - v as f64 / max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" data-figure=\"{what}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"14\" font-weight=\"bold\">{what}</text><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#999\"/><line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/><text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{max}</text><text x=\"{lx}\" y=\"{b}\" text-anchor=\"end\">0</text>",
        b = h - bottom,
        r = w - right,
        lx = left - 6.0,
        ty = top + 4.0,
        max = max as u64
    );
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{yb}\">snapshot {}</text><text x=\"{r}\" y=\"{yb}\" text-anchor=\"end\">snapshot {}</text>",
            first.id,
            last.id,
            yb = h - 8.0,
            r = w - right
        );
    }
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{:.1},{:.1}", x(i), y(figure(m))))
        .collect();
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.6\" points=\"{}\"/>",
        line.join(" ")
    );
    if points.len() <= 120 {
        for (i, m) in points.iter().enumerate() {
            let _ = write!(
                svg,
                "<a href=\"/snapshots/{id}\"><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1565c0\"><title>snapshot {id}: {v} {what}</title></circle></a>",
                x(i),
                y(figure(m)),
                id = m.id,
                v = figure(m)
            );
        }
    }
    svg.push_str("</svg>");
    PreEscaped(svg)
}
