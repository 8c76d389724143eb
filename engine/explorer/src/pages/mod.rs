//! The pages, as HTML (maud): each module makes one kind of page from the
//! [`Source`](crate::source::Source); this one holds what they share — the
//! frame around every page, values as HTML with entity references as
//! links, query parameters read with limits, addresses.

pub(crate) mod diff;
pub(crate) mod entity;
pub(crate) mod schedule;
pub(crate) mod snapshot;
pub(crate) mod table;
pub(crate) mod timeline;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use crate::error::PageError;
use crate::source::Source;

/// Longest text of one query parameter.
const MAX_PARAM: usize = 512;

/// A page around `body`: the header with the file and the way around.
/// `follow`: the page shows the newest snapshot (given, if any), and on a
/// running app's file reloads when a newer one lands.
pub(crate) fn frame(
    source: &Source,
    title: &str,
    follow: Option<Option<u64>>,
    body: Markup,
) -> String {
    let file = source.store().path().display().to_string();
    let live = if source.live() && follow.is_some() {
        "1"
    } else {
        "0"
    };
    let latest = follow.flatten().map_or_else(String::new, |l| l.to_string());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · dizzy explorer" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/explorer.js" defer {}
            }
            body data-live=(live) data-latest=(latest) {
                header {
                    a.brand href="/" { "dizzy explorer" }
                    a href="/" { "Snapshots" }
                    a href="/snapshots/latest" { "Latest" }
                    a href="/snapshots/latest/schedule" { "Schedule" }
                    a href="/diff" { "Diff" }
                    span.file title="the file explored" { (file) }
                    @if source.live() {
                        span #live-status { "live" }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The page of a request that gets none: its status and why.
pub(crate) fn error(e: &PageError) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "error " (e.status) " · dizzy explorer" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                header { a.brand href="/" { "dizzy explorer" } a href="/" { "Snapshots" } }
                main {
                    h1 { "Error " (e.status) }
                    p #error { (e.message) }
                }
            }
        }
    }
    .into_string()
}

/// Milliseconds since the epoch as UTC, to the millisecond.
pub(crate) fn utc(ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

/// `s` percent-encoded for a path segment or a query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The address of an entity's page.
pub(crate) fn entity_href(snapshot: u64, uid: u64) -> String {
    format!("/snapshots/{snapshot}/entities/{uid}")
}

/// The address of a component's table.
pub(crate) fn table_href(snapshot: u64, component: &str) -> String {
    format!("/snapshots/{snapshot}/components/{}", enc(component))
}

/// Query parameters, read with limits: unknown names, values that are too
/// long and values that do not parse are a 400.
pub(crate) struct Params<'a>(pub(crate) &'a BTreeMap<String, String>);

impl Params<'_> {
    /// A 400 naming the parameters not in `known` (a page never drops a
    /// parameter without saying so: `limit=` carried over from
    /// `dizzy show` would otherwise show the first page as if obeyed).
    pub(crate) fn only(&self, known: &[&str]) -> Result<(), PageError> {
        let unknown: Vec<String> = self
            .0
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| format!("`{}`", k.chars().take(40).collect::<String>()))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        Err(PageError::bad_request(format!(
            "this page takes no parameter {} (it takes {})",
            unknown.join(", "),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )))
    }

    /// The text of `name`, if given and not empty.
    pub(crate) fn text(&self, name: &str) -> Result<Option<&str>, PageError> {
        match self.0.get(name).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(v) if v.chars().count() > MAX_PARAM => Err(PageError::bad_request(format!(
                "`{name}` is longer than {MAX_PARAM} characters"
            ))),
            Some(v) => Ok(Some(v)),
        }
    }

    /// The number `name`, within `range`; `default` when not given.
    pub(crate) fn number(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, PageError> {
        let Some(text) = self.text(name)? else {
            return Ok(default);
        };
        let n: u64 = text.trim().parse().map_err(|_| {
            PageError::bad_request(format!(
                "`{name}` must be a whole number, not `{}`",
                text.chars().take(40).collect::<String>()
            ))
        })?;
        if !range.contains(&n) {
            return Err(PageError::bad_request(format!(
                "`{name}` must be between {} and {}, not {n}",
                range.start(),
                range.end()
            )));
        }
        Ok(n)
    }
}

/// A uid from a path or a parameter, or a 400.
pub(crate) fn parse_uid(text: &str) -> Result<u64, PageError> {
    text.trim().parse().map_err(|_| {
        PageError::bad_request(format!(
            "`{}` is not a uid (a whole number)",
            text.chars().take(40).collect::<String>()
        ))
    })
}

/// Text from a file (a name, a summary) as HTML: escaped, with the
/// characters that hide or reorder text and controls shown as `\uXXXX`,
/// as `dizzy show` shows them, so that no name can change what a page shows.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl maud::Render for Shown<'_> {
    fn render_to(&self, buffer: &mut String) {
        let _ = maud::Escaper::new(buffer).write_str(&dizzy_components::text::escape_risky(self.0));
    }
}

/// Text from a file in an attribute (a field name in a filter's option, a
/// `data-` attribute): escaped, with the characters [`Shown`] escapes
/// written as numeric character references, so that the page holds none of
/// them raw while the browser still sends the text itself back.
pub(crate) struct Attr<'a>(pub(crate) &'a str);

impl maud::Render for Attr<'_> {
    fn render_to(&self, buffer: &mut String) {
        for c in self.0.chars() {
            if dizzy_components::text::is_risky(c) {
                let _ = write!(buffer, "&#x{:x};", u32::from(c));
            } else {
                let mut b = [0u8; 4];
                let _ = maud::Escaper::new(&mut *buffer).write_str(c.encode_utf8(&mut b));
            }
        }
    }
}

/// A JSON value as HTML, compact, entity references as links to their
/// entities' pages, at most `budget` characters (`…` marks a cut).
pub(crate) struct ValueHtml<'a> {
    snapshot: u64,
    refs: HashMap<&'a str, u64>,
    budget: usize,
    out: String,
}

impl<'a> ValueHtml<'a> {
    /// `refs`: the JSON pointers of the references within the value, with
    /// their targets.
    pub(crate) fn render(
        value: &Value,
        refs: &'a [(String, u64)],
        snapshot: u64,
        budget: usize,
    ) -> Markup {
        let mut v = ValueHtml {
            snapshot,
            refs: refs.iter().map(|(p, u)| (p.as_str(), *u)).collect(),
            budget,
            out: String::new(),
        };
        let mut pointer = String::new();
        v.value(value, &mut pointer);
        PreEscaped(v.out)
    }

    /// Appends plain text (escaped), within the budget; false when spent.
    /// Characters that hide or reorder text (bidirectional overrides, line
    /// separators, invisible ones) and controls are shown as `\uXXXX`, as
    /// `dizzy show` shows them: the page shows every string as it is.
    fn text(&mut self, s: &str) -> bool {
        if self.budget == 0 {
            return false;
        }
        let s = &*dizzy_components::text::escape_risky(s);
        let n = s.chars().count();
        let shown: String = if n > self.budget {
            let mut t: String = s.chars().take(self.budget.saturating_sub(1)).collect();
            t.push('…');
            t
        } else {
            s.to_owned()
        };
        self.budget = self.budget.saturating_sub(n);
        let _ = maud::Escaper::new(&mut self.out).write_str(&shown);
        self.budget > 0
    }

    fn value(&mut self, v: &Value, pointer: &mut String) -> bool {
        if let Some(&uid) = self.refs.get(pointer.as_str()) {
            let text = uid.to_string();
            if self.budget < text.len() {
                return self.text(&text);
            }
            self.budget -= text.len();
            let _ = write!(
                self.out,
                "<a class=\"ref\" data-uid=\"{uid}\" href=\"{}\">{uid}</a>",
                entity_href(self.snapshot, uid)
            );
            return self.budget > 0;
        }
        match v {
            Value::Array(items) => {
                if !self.text("[") {
                    return false;
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 && !self.text(",") {
                        return false;
                    }
                    let len = pointer.len();
                    let _ = write!(pointer, "/{i}");
                    let more = self.value(item, pointer);
                    pointer.truncate(len);
                    if !more {
                        return false;
                    }
                }
                self.text("]")
            }
            Value::Object(fields) => {
                if !self.text("{") {
                    return false;
                }
                for (i, (k, item)) in fields.iter().enumerate() {
                    if i > 0 && !self.text(",") {
                        return false;
                    }
                    if !self.text(&format!("{}:", Value::from(k.as_str()))) {
                        return false;
                    }
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    let more = self.value(item, pointer);
                    pointer.truncate(len);
                    if !more {
                        return false;
                    }
                }
                self.text("}")
            }
            other => self.text(&other.to_string()),
        }
    }
}

/// The references whose pointer lies within field `field` of a value,
/// re-rooted at the field (for a table's cells).
pub(crate) fn refs_within(refs: &[(String, u64)], field: &str) -> Vec<(String, u64)> {
    let prefix = format!("/{}", field.replace('~', "~0").replace('/', "~1"));
    refs.iter()
        .filter_map(|(p, u)| {
            let rest = p.strip_prefix(&prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (rest.to_owned(), *u))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_link_their_references_and_stay_within_budget() {
        let v = json!({"files": [5, 6], "name": "a<b"});
        let refs = vec![("/files/0".to_owned(), 5), ("/files/1".to_owned(), 6)];
        let html = ValueHtml::render(&v, &refs, 3, 1000).into_string();
        assert_eq!(
            html,
            "{&quot;files&quot;:[<a class=\"ref\" data-uid=\"5\" href=\"/snapshots/3/entities/5\">5</a>,<a class=\"ref\" data-uid=\"6\" href=\"/snapshots/3/entities/6\">6</a>],&quot;name&quot;:&quot;a&lt;b&quot;}"
        );
        let short = ValueHtml::render(&json!("x".repeat(100)), &[], 1, 10).into_string();
        assert_eq!(short, "&quot;xxxxxxxx…", "ten characters of text");
        let within = refs_within(&refs, "files");
        assert_eq!(within, [("/0".to_owned(), 5), ("/1".to_owned(), 6)]);
        assert!(refs_within(&refs, "file").is_empty());
    }

    /// A value cannot reorder or hide what the page shows: bidirectional
    /// overrides, line separators, C1 controls and DEL are escapes, in
    /// strings and in keys, as `dizzy show` prints them.
    #[test]
    fn values_show_every_character_that_reorders_or_hides_text_escaped() {
        let v = json!({"k\u{202e}": "red\u{202e}evil\u{2028}|\u{1b}[31m\u{7f}\u{85}\u{200b}é蟻"});
        let html = ValueHtml::render(&v, &[], 1, 1000).into_string();
        for raw in [
            '\u{202e}', '\u{2028}', '\u{1b}', '\u{7f}', '\u{85}', '\u{200b}',
        ] {
            assert!(!html.contains(raw), "{raw:?} raw in {html}");
        }
        assert_eq!(
            html,
            "{&quot;k\\u202e&quot;:&quot;red\\u202eevil\\u2028|\\u001b[31m\\u007f\\u0085\\u200bé蟻&quot;}"
        );
    }

    /// Names and summaries from a file (field names, component names, a
    /// lineage's summary) cannot reorder or hide what a page shows.
    #[test]
    fn names_show_every_character_that_reorders_or_hides_text_escaped() {
        let html = html! { th { (Shown("k\u{202e}<x>\u{2028}\u{200b}\u{1b}")) } }.into_string();
        assert_eq!(html, "<th>k\\u202e&lt;x&gt;\\u2028\\u200b\\u001b</th>");
    }

    /// In attributes, the same characters are character references: none
    /// raw in the page, the same text for the browser.
    #[test]
    fn attributes_hold_no_character_that_reorders_or_hides_text_raw() {
        let html = html! { option value=(Attr("f\u{1b}[31m\u{202e}\u{2028}\u{200b}\"<é")) { "x" } }
            .into_string();
        assert_eq!(
            html,
            "<option value=\"f&#x1b;[31m&#x202e;&#x2028;&#x200b;&quot;&lt;é\">x</option>"
        );
    }

    #[test]
    fn parameters_are_bounded() {
        let mut m = BTreeMap::new();
        m.insert("size".to_owned(), "100000".to_owned());
        m.insert("page".to_owned(), "x".to_owned());
        m.insert("q".to_owned(), "y".repeat(MAX_PARAM + 1));
        let p = Params(&m);
        assert_eq!(p.only(&["size"]).unwrap_err().status, 400);
        assert!(p.only(&["size", "page", "q"]).is_ok());
        assert_eq!(p.number("size", 50, 1..=500).unwrap_err().status, 400);
        assert_eq!(p.number("page", 0, 0..=10).unwrap_err().status, 400);
        assert_eq!(p.number("missing", 7, 0..=10).unwrap(), 7);
        assert_eq!(p.text("q").unwrap_err().status, 400);
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(utc(1_795_000_000_123), "2026-11-18 11:06:40.123");
    }
}
