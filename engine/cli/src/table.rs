//! `dizzy export-table`: one component of a snapshot as a table, one row
//! per entity (its uid, then the component's fields flattened with dotted
//! names), as JSON lines or CSV: `pandas.read_json(path, lines=True)`,
//! `polars.read_ndjson(path)` or DuckDB's `read_csv(path)` load it as is.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;

use dizzy_components::Registry;
use dizzy_snapshots::{Decode, Inspector};
use serde_json::Value;

use crate::CliError;
use crate::show::check_components;
use crate::view;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180 quoting; arrays
    /// and objects as JSON text).
    Csv,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// The component to export, by stable name.
    #[arg(long = "with", value_name = "COMPONENT")]
    with: String,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// The world at this snapshot (the latest if not given).
    #[arg(long)]
    snapshot: Option<u64>,
}

/// `value`'s columns: an object's fields by dotted path (nested objects
/// flattened, arrays kept whole), or the value itself as `value`.
fn flatten(value: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                for (k, v) in fields {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            v => out.push((prefix.to_owned(), v.clone())),
        }
    }
    let mut out = Vec::new();
    match value {
        Value::Object(fields) if !fields.is_empty() => walk("", value, &mut out),
        v => out.push(("value".to_owned(), v.clone())),
    }
    out
}

/// A CSV field: quoted when it holds a comma, quote, line break or edge
/// space; arrays and objects as JSON text, `null` as an empty field.
fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) || text.trim() != text {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub(crate) fn run(args: Args, registry: &Registry) -> Result<(), CliError> {
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), false)?;
    let only = Decode::Only(BTreeSet::from([args.with.clone()]));
    let mut inspector = Inspector::new(&store, registry, only)?;
    let inspection = inspector.at(args.snapshot)?;
    check_components(
        &args.db,
        inspection,
        registry,
        std::slice::from_ref(&args.with),
    )?;
    if let Some(why) = inspection.undecodable.get(&args.with) {
        return Err(CliError::new(format!(
            "{}: snapshot {}: component `{}` is not decodable by this build ({why})",
            args.db.display(),
            inspection.meta.id,
            args.with
        )));
    }
    let rows: Vec<(u64, Vec<(String, Value)>)> = inspection
        .entities
        .iter()
        .filter_map(|(&uid, c)| {
            let value = c.get(&args.with)?.as_ref()?;
            let mut columns = flatten(value);
            for (key, _) in &mut columns {
                if key == "uid" {
                    // The entity's uid owns the name.
                    *key = format!("{}.uid", args.with);
                }
            }
            Some((uid, columns))
        })
        .collect();
    let mut out = view::stdout();
    let written = match args.format {
        Format::Jsonl => jsonl(&mut out, &rows),
        Format::Csv => csv(&mut out, &rows),
    };
    view::finish(&mut out, written)
}

fn jsonl(out: &mut impl Write, rows: &[(u64, Vec<(String, Value)>)]) -> std::io::Result<()> {
    for (uid, columns) in rows {
        // Written by hand to keep the uid first and the fields in order.
        write!(out, "{{\"uid\":{uid}")?;
        for (key, value) in columns {
            write!(out, ",{}:{value}", Value::from(key.as_str()))?;
        }
        writeln!(out, "}}")?;
    }
    Ok(())
}

fn csv(out: &mut impl Write, rows: &[(u64, Vec<(String, Value)>)]) -> std::io::Result<()> {
    let mut header: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (_, columns) in rows {
        for (key, _) in columns {
            if !index.contains_key(key.as_str()) {
                index.insert(key, header.len());
                header.push(key);
            }
        }
    }
    let mut line = vec!["uid".to_owned()];
    line.extend(header.iter().map(|k| csv_field(&Value::from(*k))));
    writeln!(out, "{}", line.join(","))?;
    for (uid, columns) in rows {
        let mut cells = vec![String::new(); header.len()];
        for (key, value) in columns {
            cells[index[key.as_str()]] = csv_field(value);
        }
        writeln!(out, "{uid},{}", cells.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_flatten_with_dotted_names_and_arrays_stay_whole() {
        let v = json!({"path": "a", "at": {"x": 1, "y": [1, 2]}, "tags": []});
        let cols = flatten(&v);
        let mut keys: Vec<&str> = cols.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["at.x", "at.y", "path", "tags"]);
        assert_eq!(flatten(&json!(7)), [("value".to_owned(), json!(7))]);
        assert_eq!(flatten(&json!(null)), [("value".to_owned(), json!(null))]);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field(&json!("plain")), "plain");
        assert_eq!(csv_field(&json!("a,b")), "\"a,b\"");
        assert_eq!(csv_field(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(&json!([1, 2])), "\"[1,2]\"");
        assert_eq!(csv_field(&json!(null)), "");
        assert_eq!(csv_field(&json!(2.5)), "2.5");
    }

    #[test]
    fn csv_rows_share_one_header() {
        let rows = vec![
            (2, flatten(&json!({"a": 1}))),
            (3, flatten(&json!({"a": 2, "b": "x,y"}))),
        ];
        let mut out = Vec::new();
        csv(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "uid,a,b\n2,1,\n3,2,\"x,y\"\n"
        );
        let mut out = Vec::new();
        jsonl(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"uid\":2,\"a\":1}\n{\"uid\":3,\"a\":2,\"b\":\"x,y\"}\n"
        );
    }
}
