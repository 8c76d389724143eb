//! What the inspection commands share: opening a file, entities as JSON
//! objects, short renderings of values, tables, and writing to stdout
//! without panicking when the reader goes away (`dizzy show | head`).

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, StdoutLock, Write};

use dizzy_snapshots::{Components, Inspection, SnapshotRef, Store};
use serde_json::Value;

use crate::CliError;

/// The id of the snapshot `at` names in `store` (`None` stays `None`: the
/// latest, for the callers).
pub(crate) fn snapshot_id(store: &Store, at: Option<SnapshotRef>) -> Result<Option<u64>, CliError> {
    match at {
        None => Ok(None),
        Some(SnapshotRef::Id(id)) => {
            // Checked here, as `latest~N` is: no command starts on an id
            // the file does not hold.
            store.snapshot(id)?;
            Ok(Some(id))
        }
        Some(r) => Ok(Some(r.resolve(store)?)),
    }
}

/// Buffered stdout.
pub(crate) fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::new(std::io::stdout().lock())
}

/// Whether stdout is a terminal (tables) or not (plain text).
pub(crate) fn on_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Ends writing: flushes, and treats a closed pipe as done, not an error.
pub(crate) fn finish(out: &mut impl Write, written: std::io::Result<()>) -> Result<(), CliError> {
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(format!("writing the output: {e}"))),
        Ok(()) => Ok(()),
    }
}

/// An entity as one JSON object: `{"uid": U, "<stable name>": value, ...}`;
/// components whose values were not decoded are left out.
pub(crate) fn entity_json(uid: u64, components: &Components) -> Value {
    // The uid first (objects keep their order), as in [`entity_line`].
    let mut object = serde_json::Map::new();
    object.insert("uid".to_owned(), Value::from(uid));
    if let Value::Object(o) = components_json(components) {
        object.extend(o.into_iter().filter(|(k, _)| k != "uid"));
    }
    Value::Object(object)
}

/// An entity's decoded components as one JSON object, by stable name.
pub(crate) fn components_json(components: &Components) -> Value {
    Value::Object(
        components
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.clone()?)))
            .collect(),
    )
}

/// The key under which [`entity_line`] lists the components an entity
/// has whose values were not decoded (no stable name starts with `@`).
pub(crate) const UNDECODED: &str = "@undecoded";

/// [`entity_json`] as text, with the uid first (as people read it), and
/// the names of its components whose values were not decoded under
/// [`UNDECODED`].
pub(crate) fn entity_line(uid: u64, components: &Components) -> String {
    let mut line = format!("{{\"uid\":{uid}");
    let mut undecoded = Vec::new();
    for (name, value) in components {
        match value {
            Some(value) => line.push_str(&format!(
                ",{}:{}",
                json_text(&Value::from(name.as_str())),
                json_text(value)
            )),
            None => undecoded.push(name.as_str()),
        }
    }
    if !undecoded.is_empty() {
        line.push_str(&format!(
            ",\"{UNDECODED}\":{}",
            serde_json::json!(undecoded)
        ));
    }
    line.push('}');
    line
}

/// A value on one line, at most `max` characters (`…` marks a cut).
pub(crate) fn short(value: Option<&Value>, max: usize) -> String {
    let text = match value {
        Some(v) => json_text(v),
        None => "?".to_owned(),
    };
    cut(&text, max)
}

/// Two values of a change, each at most `max` characters, cut so that
/// where they differ shows: when the first difference lies past the cut,
/// both are shown from a little before it (`…` marks each cut).
pub(crate) fn short_pair(old: Option<&Value>, new: Option<&Value>, max: usize) -> (String, String) {
    let text = |v: Option<&Value>| v.map_or_else(|| "?".to_owned(), json_text);
    let (a, b) = (text(old), text(new));
    let first = a
        .chars()
        .zip(b.chars())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.chars().count().min(b.chars().count()));
    if first + 1 < max {
        return (cut(&a, max), cut(&b, max));
    }
    let start = first.saturating_sub(max / 3);
    let window = |t: &str| {
        let rest: String = t.chars().skip(start).collect();
        format!("…{}", cut(&rest, max.saturating_sub(1)))
    };
    (window(&a), window(&b))
}

/// `value` as JSON text that a terminal shows as it is, whatever the
/// strings in it hold: besides the control characters JSON escapes, DEL,
/// the C1 controls (one of them starts terminal escape sequences), line
/// and paragraph separators, bidirectional controls and invisible format
/// characters are written `\uXXXX` — the same JSON value.
pub(crate) fn json_text(value: &Value) -> String {
    terminal_safe(&value.to_string())
}

/// `text` with the characters [`json_text`] names (and the C0 controls but
/// tab and newline) written as JSON `\uXXXX` escapes (a pair of them above
/// U+FFFF).
pub(crate) fn terminal_safe(text: &str) -> String {
    dizzy_components::text::escape_risky(text).into_owned()
}

/// `text`, cut to at most `max` characters.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The note printed (on stderr) when some values could not be decoded.
pub(crate) fn undecodable_note(undecodable: &BTreeMap<String, String>) -> Option<String> {
    if undecodable.is_empty() {
        return None;
    }
    let names: Vec<String> = undecodable
        .iter()
        .map(|(name, why)| format!("{name} ({why})"))
        .collect();
    Some(format!(
        "note: not decodable by this build: {}",
        names.join(", ")
    ))
}

/// Prints the undecodable note of `inspection` on stderr, if any.
pub(crate) fn warn_undecodable(inspection: &Inspection) {
    if let Some(note) = undecodable_note(&inspection.undecodable) {
        eprintln!("{note}");
    }
}

/// Writes `rows` as a table with a header, columns padded to their widest
/// cell; numbers are right-aligned.
pub(crate) fn table(
    out: &mut impl Write,
    header: &[String],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .all(|c| c.is_empty() || c.parse::<f64>().is_ok())
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        s
    };
    writeln!(out, "{}", line(header))?;
    for row in rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two long values that differ past the cut show where they differ.
    #[test]
    fn a_change_past_the_cut_shows_where_it_is() {
        let old = serde_json::json!({"a": "x".repeat(80), "m": {"k": 0.0}});
        let new = serde_json::json!({"a": "x".repeat(80), "m": {"k": -0.0}});
        let (a, b) = short_pair(Some(&old), Some(&new), 30);
        assert_ne!(a, b);
        assert!(a.ends_with("0.0}}") && b.ends_with("-0.0}}"), "{a} / {b}");
        assert!(
            a.chars().count() <= 30 && b.chars().count() <= 30,
            "{a} / {b}"
        );
        // A difference within the cut: cut as one value is.
        let (a, b) = short_pair(Some(&serde_json::json!(1)), Some(&serde_json::json!(2)), 30);
        assert_eq!((a.as_str(), b.as_str()), ("1", "2"));
        let (a, _) = short_pair(Some(&old), None, 30);
        assert_eq!(a, short(Some(&old), 30));
    }

    #[test]
    fn entities_leave_out_values_not_decoded() {
        let mut c = Components::new();
        c.insert("a".into(), Some(Value::from(3)));
        c.insert("b".into(), None);
        assert_eq!(entity_json(7, &c), serde_json::json!({"uid": 7, "a": 3}));
        assert_eq!(entity_json(7, &c).to_string(), r#"{"uid":7,"a":3}"#);
        assert_eq!(entity_line(7, &c), r#"{"uid":7,"a":3,"@undecoded":["b"]}"#);
        let parsed: Value = serde_json::from_str(&entity_line(7, &c)).unwrap();
        assert_eq!(parsed["a"], 3);
    }

    #[test]
    fn cuts_count_characters() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo world", 5), "héll…");
        assert_eq!(short(None, 5), "?");
    }

    #[test]
    fn what_a_terminal_would_act_on_is_escaped_as_json() {
        let v = serde_json::json!({"p": "a\u{9b}31m\u{202e}b\u{2028}c\u{7f}\u{e0041}é\n"});
        let text = json_text(&v);
        assert_eq!(
            text,
            r#"{"p":"a\u009b31m\u202eb\u2028c\u007f\udb40\udc41é\n"}"#
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "the same value");
        assert_eq!(terminal_safe("plain ü\tx"), "plain ü\tx");
        assert_eq!(terminal_safe("esc\u{1b}[2J"), "esc\\u001b[2J");
    }

    #[test]
    fn tables_align() {
        let mut out = Vec::new();
        let header = vec!["uid".to_owned(), "name".to_owned()];
        let rows = vec![
            vec!["2".to_owned(), "a".to_owned()],
            vec!["100".to_owned(), "bcd".to_owned()],
        ];
        table(&mut out, &header, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "uid  name\n  2  a\n100  bcd\n"
        );
    }
}
