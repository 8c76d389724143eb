//! The schedule as an SVG picture, laid out here (no Graphviz needed):
//! systems in columns by stage, sets as dashed frames around their
//! systems, components and resources in a row below, ordering edges
//! between systems and access edges between systems and data.

use std::fmt::Write as _;

use super::ScheduleDescription;
use super::layout::{Layout, PALETTE, Use, is_resource_name, uses};

/// A node of the picture, as told to the function that gives links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagramNode<'a> {
    /// A system, by its name in the description.
    System(&'a str),
    /// A component, by its name in the description (a Rust type name).
    Component(&'a str),
    /// A resource, by its type name (without `Res<…>`).
    Resource(&'a str),
}

/// Pixels per character of the labels (12px sans-serif, generous).
const CHAR: f64 = 7.2;
const LINE: f64 = 16.0;
const PAD: f64 = 10.0;
const COLUMN_GAP: f64 = 70.0;
const ROW_GAP: f64 = 26.0;
const DATA_GAP: f64 = 18.0;
const MARGIN: f64 = 24.0;
/// Frame padding per level of set nesting.
const FRAME: f64 = 12.0;

/// Text escaped for XML (content and attribute values).
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn cx(&self) -> f64 {
        self.x + self.w / 2.0
    }
    fn cy(&self) -> f64 {
        self.y + self.h / 2.0
    }
    fn right(&self) -> f64 {
        self.x + self.w
    }
    fn bottom(&self) -> f64 {
        self.y + self.h
    }
    fn union(&self, o: &Rect) -> Rect {
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        Rect {
            x,
            y,
            w: self.right().max(o.right()) - x,
            h: self.bottom().max(o.bottom()) - y,
        }
    }
    fn grow(&self, by: f64) -> Rect {
        Rect {
            x: self.x - by,
            y: self.y - by - LINE,
            w: self.w + 2.0 * by,
            h: self.h + 2.0 * by + LINE,
        }
    }
}

fn text_width(lines: &[String]) -> f64 {
    let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    (widest as f64 * CHAR + 2.0 * PAD).max(60.0)
}

/// Where each node of the picture goes.
struct Placement {
    systems: Vec<Rect>,
    sets: Vec<Option<Rect>>,
    data: Vec<Rect>,
    width: f64,
    height: f64,
}

/// The column of each system: its stage, or (without stages) its place in
/// execution order.
fn columns(layout: &Layout<'_>) -> Vec<usize> {
    let d = layout.d;
    let last = d.stages.len();
    d.systems
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if d.stages.is_empty() {
                i
            } else {
                layout
                    .stage_of
                    .get(s.name.as_str())
                    .copied()
                    .unwrap_or(last)
            }
        })
        .collect()
}

fn set_depths(layout: &Layout<'_>) -> Vec<usize> {
    let mut depth = vec![0; layout.d.sets.len()];
    let mut todo: Vec<(usize, usize)> = layout.root_sets.iter().map(|&s| (s, 0)).collect();
    while let Some((set, level)) = todo.pop() {
        depth[set] = level;
        todo.extend(layout.child_sets[set].iter().map(|&c| (c, level + 1)));
    }
    depth
}

fn place(layout: &Layout<'_>, labels: &[Vec<String>]) -> Placement {
    let d = layout.d;
    let depth = set_depths(layout);
    let max_depth = depth.iter().map(|&x| x + 1).max().unwrap_or(0) as f64;
    let top = MARGIN + max_depth * (FRAME + LINE);
    let column_of = columns(layout);
    let ncols = column_of.iter().map(|&c| c + 1).max().unwrap_or(0);
    let mut by_column: Vec<Vec<usize>> = vec![Vec::new(); ncols];
    for (i, &c) in column_of.iter().enumerate() {
        by_column[c].push(i);
    }
    let mut systems = vec![
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        d.systems.len()
    ];
    let mut x = MARGIN + max_depth * FRAME;
    let mut bottom: f64 = top;
    for column in &by_column {
        if column.is_empty() {
            continue;
        }
        let w = column
            .iter()
            .map(|&i| text_width(&labels[i]))
            .fold(0.0, f64::max);
        let mut y = top;
        for &i in column {
            let h = labels[i].len() as f64 * LINE + PAD;
            systems[i] = Rect { x, y, w, h };
            y += h + ROW_GAP + 2.0 * max_depth * FRAME;
        }
        bottom = bottom.max(y);
        x += w + COLUMN_GAP + 2.0 * max_depth * FRAME;
    }
    // Sets: frames around their systems and child sets, innermost first.
    let mut sets: Vec<Option<Rect>> = vec![None; d.sets.len()];
    let mut order: Vec<usize> = (0..d.sets.len()).collect();
    order.sort_by_key(|&s| std::cmp::Reverse(depth[s]));
    for s in order {
        let inner = layout.set_systems[s]
            .iter()
            .map(|&i| systems[i])
            .chain(layout.child_sets[s].iter().filter_map(|&c| sets[c]))
            .reduce(|a, b| a.union(&b));
        sets[s] = inner.map(|r| r.grow(FRAME));
    }
    // Data below, each near the systems that use it, without overlaps.
    let data_y = bottom + 40.0;
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); layout.data.len()];
    for i in 0..d.systems.len() {
        let s = &d.systems[i];
        if s.exclusive {
            continue;
        }
        for (name, _) in uses(s) {
            if let Some(&k) = layout.data_id.get(name.as_str()) {
                users[k].push(i);
            }
        }
    }
    let mut wanted: Vec<(f64, usize)> = users
        .iter()
        .enumerate()
        .map(|(k, u)| {
            let mean = if u.is_empty() {
                0.0
            } else {
                u.iter().map(|&i| systems[i].cx()).sum::<f64>() / u.len() as f64
            };
            (mean, k)
        })
        .collect();
    wanted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut data = vec![
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        layout.data.len()
    ];
    let mut next_free = MARGIN;
    for (cx, k) in wanted {
        let label = data_label(layout.data[k].0);
        let w = text_width(&[label]);
        let x = (cx - w / 2.0).max(next_free);
        data[k] = Rect {
            x,
            y: data_y,
            w,
            h: LINE + 2.0 * PAD,
        };
        next_free = x + w + DATA_GAP;
    }
    let width = systems
        .iter()
        .chain(&data)
        .chain(sets.iter().flatten())
        .map(Rect::right)
        .fold(0.0, f64::max)
        + MARGIN;
    let height = data.iter().map(Rect::bottom).fold(bottom, f64::max) + MARGIN;
    Placement {
        systems,
        sets,
        data,
        width,
        height,
    }
}

const LEGEND_HEIGHT: f64 = 34.0;
const LEGEND_WIDTH: f64 = 660.0;

/// The legend: what the shapes and lines mean.
fn svg_legend(out: &mut String, y: f64) {
    let mid = y + LEGEND_HEIGHT / 2.0;
    let _ = write!(
        out,
        "<g class=\"legend\" font-size=\"11\" fill=\"#333\"><title>legend</title>\
<rect x=\"{x0:.1}\" y=\"{ry:.1}\" width=\"22\" height=\"14\" rx=\"3\" fill=\"#e3f2fd\" stroke=\"#555\"/><text x=\"{t0:.1}\" y=\"{ty:.1}\">system</text>\
<ellipse cx=\"{c1:.1}\" cy=\"{mid:.1}\" rx=\"11\" ry=\"7\" fill=\"#fffde7\" stroke=\"#555\"/><text x=\"{t1:.1}\" y=\"{ty:.1}\">component</text>\
<path d=\"M{h0:.1},{mid:.1} l5,-7 h12 l5,7 l-5,7 h-12 z\" fill=\"#f1f8e9\" stroke=\"#555\"/><text x=\"{t2:.1}\" y=\"{ty:.1}\">resource</text>\
<line x1=\"{l0:.1}\" y1=\"{mid:.1}\" x2=\"{l0e:.1}\" y2=\"{mid:.1}\" stroke=\"#444\" stroke-width=\"1.4\" marker-end=\"url(#arrow)\"/><text x=\"{t3:.1}\" y=\"{ty:.1}\">runs before</text>\
<line x1=\"{l1:.1}\" y1=\"{mid:.1}\" x2=\"{l1e:.1}\" y2=\"{mid:.1}\" stroke=\"#1565c0\" stroke-width=\"1.2\" stroke-dasharray=\"4,3\" marker-end=\"url(#arrow-read)\"/><text x=\"{t4:.1}\" y=\"{ty:.1}\">reads</text>\
<line x1=\"{l2:.1}\" y1=\"{mid:.1}\" x2=\"{l2e:.1}\" y2=\"{mid:.1}\" stroke=\"#b71c1c\" stroke-width=\"2\" marker-end=\"url(#arrow-write)\"/><text x=\"{t5:.1}\" y=\"{ty:.1}\">writes</text>\
<line x1=\"{l3:.1}\" y1=\"{mid:.1}\" x2=\"{l3e:.1}\" y2=\"{mid:.1}\" stroke=\"#2e7d32\" stroke-width=\"2\" marker-end=\"url(#arrow-create)\"/><text x=\"{t6:.1}\" y=\"{ty:.1}\">creates (Commands)</text></g>",
        x0 = MARGIN,
        ry = mid - 7.0,
        t0 = MARGIN + 28.0,
        ty = mid + 4.0,
        c1 = MARGIN + 95.0,
        t1 = MARGIN + 110.0,
        h0 = MARGIN + 180.0,
        t2 = MARGIN + 208.0,
        l0 = MARGIN + 265.0,
        l0e = MARGIN + 295.0,
        t3 = MARGIN + 300.0,
        l1 = MARGIN + 375.0,
        l1e = MARGIN + 405.0,
        t4 = MARGIN + 410.0,
        l2 = MARGIN + 450.0,
        l2e = MARGIN + 480.0,
        t5 = MARGIN + 485.0,
        l3 = MARGIN + 530.0,
        l3e = MARGIN + 560.0,
        t6 = MARGIN + 565.0,
    );
}

/// A data node's label: a resource without `Res<…>`.
fn data_label(name: &str) -> String {
    if is_resource_name(name) {
        name[4..name.len() - 1].to_owned()
    } else {
        name.to_owned()
    }
}

/// A cubic curve from `(x1, y1)` to `(x2, y2)`, leaving and arriving
/// horizontally (`horizontal`) or vertically.
fn curve(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), horizontal: bool) {
    let (c1, c2) = if horizontal {
        let dx = ((x2 - x1) / 2.0).abs().max(20.0);
        ((x1 + dx, y1), (x2 - dx, y2))
    } else {
        let dy = ((y2 - y1) / 2.0).abs().max(20.0);
        let sign = if y2 >= y1 { 1.0 } else { -1.0 };
        ((x1, y1 + sign * dy), (x2, y2 - sign * dy))
    };
    let _ = write!(
        out,
        "M{x1:.1},{y1:.1} C{:.1},{:.1} {:.1},{:.1} {x2:.1},{y2:.1}",
        c1.0, c1.1, c2.0, c2.1
    );
}

/// Opens a link around a node, if it has one; returns the closing tag.
fn link_open(out: &mut String, href: Option<String>) -> &'static str {
    match href {
        Some(h) => {
            let _ = write!(out, "<a href=\"{}\">", xml(&h));
            "</a>"
        }
        None => "",
    }
}

impl ScheduleDescription {
    /// The schedule as an SVG picture (a standalone `<svg>` element, no
    /// script, no external resources).
    ///
    /// Systems are boxes in columns by stage (systems of one column can
    /// run at the same time, and share a fill colour; exclusive ones have a
    /// double border), sets are dashed frames around their systems (a
    /// system in several sets is framed by the first; its label names the
    /// others), ordering edges are arrows between systems or sets,
    /// components (cylinders) and resources (hexagons) are in a row below,
    /// joined to the systems that read them (dashed, towards the system)
    /// and write them (solid, towards the data). Each node carries its
    /// diagram id (`sys_…`, `c_…`, `r_…`, `set_…`, as in the Mermaid and DOT
    /// renderings) and a tooltip.
    pub fn to_svg(&self) -> String {
        self.to_svg_linked(&|_| None)
    }

    /// [`ScheduleDescription::to_svg`], with each node a link where
    /// `link` gives its address.
    pub fn to_svg_linked(&self, link: &dyn Fn(DiagramNode<'_>) -> Option<String>) -> String {
        let layout = Layout::new(self);
        let labels: Vec<Vec<String>> = (0..self.systems.len())
            .map(|i| layout.system_label(i))
            .collect();
        let mut p = place(&layout, &labels);
        // The legend is a band below the drawing.
        let legend_y = p.height;
        p.height += LEGEND_HEIGHT;
        p.width = p.width.max(LEGEND_WIDTH);
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"schedule\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"sans-serif\" font-size=\"12\">",
            w = p.width,
            h = p.height
        );
        out.push_str(concat!(
            "<defs>",
            "<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#444\"/></marker>",
            "<marker id=\"arrow-write\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#b71c1c\"/></marker>",
            "<marker id=\"arrow-create\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#2e7d32\"/></marker>",
            "<marker id=\"arrow-read\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1565c0\"/></marker>",
            "</defs>"
        ));
        let _ = write!(
            out,
            "<rect x=\"0\" y=\"0\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#ffffff\"/>",
            p.width, p.height
        );
        self.svg_sets(&mut out, &layout, &p);
        self.svg_edges(&mut out, &layout, &p);
        self.svg_systems(&mut out, &layout, &p, &labels, link);
        Self::svg_data(&mut out, &layout, &p, link);
        svg_legend(&mut out, legend_y);
        out.push_str("</svg>\n");
        out
    }

    fn svg_sets(&self, out: &mut String, layout: &Layout<'_>, p: &Placement) {
        for (i, set) in self.sets.iter().enumerate() {
            let Some(r) = p.sets[i] else { continue };
            let _ = write!(
                out,
                "<g id=\"{}\" class=\"set\"><title>set {}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"8\" fill=\"none\" stroke=\"#777\" stroke-dasharray=\"5,4\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{}</text></g>",
                layout.set_ids[i],
                xml(&set.name),
                r.x,
                r.y,
                r.w,
                r.h,
                r.x + 6.0,
                r.y + LINE - 3.0,
                xml(&set.name)
            );
        }
    }

    fn svg_edges(&self, out: &mut String, layout: &Layout<'_>, p: &Placement) {
        let rect_of = |name: &str| -> Option<Rect> {
            match *layout.endpoints.get(name)? {
                (i, false) => Some(p.systems[i]),
                (i, true) => p.sets[i],
            }
        };
        for edge in &self.edges {
            let (Some(a), Some(b)) = (rect_of(&edge.from), rect_of(&edge.to)) else {
                continue;
            };
            let mut d = String::new();
            if b.x >= a.right() {
                curve(&mut d, (a.right(), a.cy()), (b.x, b.cy()), true);
            } else {
                // Same column (or backwards): leave below, arrive above.
                curve(&mut d, (a.cx(), a.bottom()), (b.cx(), b.y), false);
            }
            let _ = write!(
                out,
                "<path class=\"order\" d=\"{d}\" fill=\"none\" stroke=\"#444\" stroke-width=\"1.4\" marker-end=\"url(#arrow)\"><title>{} before {}</title></path>",
                xml(&edge.from),
                xml(&edge.to)
            );
        }
        for (i, s) in self.systems.iter().enumerate() {
            if s.exclusive {
                continue;
            }
            let sys = p.systems[i];
            for (name, used) in uses(s) {
                let Some(&k) = layout.data_id.get(name.as_str()) else {
                    continue;
                };
                let data = p.data[k];
                let mut d = String::new();
                let (colour, style, marker, verb) = if used == Use::Create {
                    curve(&mut d, (sys.cx(), sys.bottom()), (data.cx(), data.y), false);
                    ("#2e7d32", "stroke-width=\"2\"", "arrow-create", "creates")
                } else if used == Use::Write {
                    curve(&mut d, (sys.cx(), sys.bottom()), (data.cx(), data.y), false);
                    ("#b71c1c", "stroke-width=\"2\"", "arrow-write", "writes")
                } else {
                    curve(&mut d, (data.cx(), data.y), (sys.cx(), sys.bottom()), false);
                    (
                        "#1565c0",
                        "stroke-width=\"1.2\" stroke-dasharray=\"4,3\"",
                        "arrow-read",
                        "reads",
                    )
                };
                let _ = write!(
                    out,
                    "<path class=\"{verb}\" d=\"{d}\" fill=\"none\" stroke=\"{colour}\" {style} marker-end=\"url(#{marker})\" opacity=\"0.8\"><title>{} {verb} {}</title></path>",
                    xml(&s.name),
                    xml(&data_label(name))
                );
            }
        }
    }

    fn svg_systems(
        &self,
        out: &mut String,
        layout: &Layout<'_>,
        p: &Placement,
        labels: &[Vec<String>],
        link: &dyn Fn(DiagramNode<'_>) -> Option<String>,
    ) {
        for (i, s) in self.systems.iter().enumerate() {
            let r = p.systems[i];
            let fill = layout
                .stage_of
                .get(s.name.as_str())
                .map_or("#f5f5f5", |&st| PALETTE[st % PALETTE.len()]);
            let close = link_open(out, link(DiagramNode::System(&s.name)));
            let mut tip = format!("system {}", s.name);
            if !s.reads.is_empty() {
                let _ = write!(tip, "\nreads {}", s.reads.join(", "));
            }
            if !s.writes.is_empty() {
                let _ = write!(tip, "\nwrites {}", s.writes.join(", "));
            }
            let _ = write!(
                out,
                "<g id=\"{}\" class=\"system\"><title>{}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\" fill=\"{fill}\" stroke=\"#555\"/>",
                layout.system_ids[i],
                xml(&tip),
                r.x,
                r.y,
                r.w,
                r.h
            );
            if s.exclusive {
                let _ = write!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"none\" stroke=\"#555\"/>",
                    r.x + 3.0,
                    r.y + 3.0,
                    r.w - 6.0,
                    r.h - 6.0
                );
            }
            for (n, line) in labels[i].iter().enumerate() {
                let weight = if n == 0 { " font-weight=\"bold\"" } else { "" };
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\"{weight}>{}</text>",
                    r.x + PAD,
                    r.y + PAD / 2.0 + LINE * (n as f64 + 1.0) - 4.0,
                    xml(line)
                );
            }
            out.push_str("</g>");
            out.push_str(close);
        }
    }

    fn svg_data(
        out: &mut String,
        layout: &Layout<'_>,
        p: &Placement,
        link: &dyn Fn(DiagramNode<'_>) -> Option<String>,
    ) {
        for (k, (name, id)) in layout.data.iter().enumerate() {
            let r = p.data[k];
            let label = data_label(name);
            let resource = is_resource_name(name);
            let node = if resource {
                DiagramNode::Resource(&label)
            } else {
                DiagramNode::Component(name)
            };
            let close = link_open(out, link(node));
            let kind = if resource { "resource" } else { "component" };
            let _ = write!(
                out,
                "<g id=\"{id}\" class=\"{kind}\"><title>{kind} {}</title>",
                xml(&label)
            );
            if resource {
                let e = 8.0;
                let _ = write!(
                    out,
                    "<path d=\"M{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} z\" fill=\"#fff8e1\" stroke=\"#8d6e63\"/>",
                    r.x,
                    r.cy(),
                    r.x + e,
                    r.y,
                    r.right() - e,
                    r.y,
                    r.right(),
                    r.cy(),
                    r.right() - e,
                    r.bottom(),
                    r.x + e,
                    r.bottom()
                );
            } else {
                let ry = 5.0;
                let _ = write!(
                    out,
                    "<path d=\"M{x:.1},{t:.1} L{x:.1},{b:.1} A{rx:.1},{ry} 0 0 0 {xr:.1},{b:.1} L{xr:.1},{t:.1}\" fill=\"#eceff1\" stroke=\"#546e7a\"/><ellipse cx=\"{cx:.1}\" cy=\"{t:.1}\" rx=\"{rx:.1}\" ry=\"{ry}\" fill=\"#eceff1\" stroke=\"#546e7a\"/>",
                    x = r.x,
                    xr = r.right(),
                    t = r.y + ry,
                    b = r.bottom() - ry,
                    rx = r.w / 2.0,
                    cx = r.cx(),
                );
            }
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>{close}",
                r.cx(),
                r.cy() + 5.0,
                xml(&label)
            );
        }
    }
}
