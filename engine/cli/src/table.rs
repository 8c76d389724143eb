//! `dizzy export-table`: components of a snapshot as one table, one row per
//! entity (see [`dizzy_snapshots::table`] for the columns and their types),
//! as JSON lines, CSV or Parquet.
//!
//! JSON lines: one object per row, `uid` first, then the columns; bytes as
//! hex strings; NaN and infinities as `"NaN"`, `"Infinity"`, `"-Infinity"`.
//! CSV: a header row; text (strings, hex bytes, lists and other values as
//! JSON) always in double quotes, so DuckDB's sniffer sees the quoting on
//! the first line; numbers and booleans bare; NaN and infinities as `NaN`,
//! `1e999`, `-1e999` (see `float_text`); null as an empty, unquoted
//! field. Parquet: see the `parquet` module.

use std::collections::BTreeSet;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use dizzy_components::Registry;
use dizzy_snapshots::{Cell, Decode, Inspector, Table};

use crate::CliError;
use crate::view;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row (text always quoted).
    Csv,
    /// Apache Parquet, typed columns (binary: give -o or redirect stdout).
    Parquet,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// A component to export, by stable name; repeat to join several by
    /// uid (one row per entity with the first; the others' columns are
    /// empty where an entity lacks them).
    #[arg(long = "with", value_name = "COMPONENT", required = true)]
    with: Vec<String>,
    /// The output format [default: from the -o file's extension, `.csv`,
    /// `.parquet` (`.pq`) or `.jsonl` (`.ndjson`, `.json`); else jsonl].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to this file (default, or `-`: stdout).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// The world at this snapshot (the latest if not given).
    #[arg(long)]
    snapshot: Option<dizzy_snapshots::SnapshotRef>,
}

pub(crate) fn run(mut args: Args, registry: &Registry) -> Result<(), CliError> {
    // `-o -` is stdout, as for most tools that write a file (a file named
    // `-` is `-o ./-`).
    if args.out.as_deref() == Some(std::path::Path::new("-")) {
        args.out = None;
    }
    if let Some(out) = &args.out {
        crate::output::refuse_database(out, &args.db)?;
    }
    let format = args
        .format
        .unwrap_or_else(|| format_of(args.out.as_deref()));
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), false)?;
    let only = Decode::Only(args.with.iter().cloned().collect::<BTreeSet<_>>());
    let mut inspector = Inspector::new(&store, registry, only)?;
    let at = view::snapshot_id(&store, args.snapshot)?;
    let inspection = inspector.at(at)?;
    let table = dizzy_snapshots::table(inspection, registry, &args.with)
        .map_err(|e| CliError::new(format!("{}: {e}", args.db.display())))?;
    for note in &table.notes {
        eprintln!("note: {note}");
    }
    match &args.out {
        Some(path) => crate::output::write_file(path, |w| write(format, &table, w)),
        None => {
            if format == Format::Parquet && std::io::stdout().is_terminal() {
                return Err(CliError::new(
                    "Parquet is binary: give -o FILE, or redirect stdout to a file",
                ));
            }
            let mut out = BufWriter::new(std::io::stdout());
            let written = write(format, &table, &mut out);
            view::finish(&mut out, written)
        }
    }
}

/// The format a file's extension names (case aside); JSON lines for
/// stdout and any other name.
fn format_of(out: Option<&std::path::Path>) -> Format {
    let ext = out
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => Format::Csv,
        Some("parquet" | "pq") => Format::Parquet,
        _ => Format::Jsonl,
    }
}

fn write(format: Format, table: &Table, out: &mut (impl Write + Send)) -> std::io::Result<()> {
    match format {
        Format::Jsonl => jsonl(out, table),
        Format::Csv => csv(out, table),
        Format::Parquet => crate::parquet::write(out, table),
    }
}

fn jsonl(out: &mut impl Write, table: &Table) -> std::io::Result<()> {
    let keys: Vec<String> = table
        .columns
        .iter()
        .map(|c| serde_json::Value::from(c.name.as_str()).to_string())
        .collect();
    for (row, uid) in table.uids.iter().enumerate() {
        // Written by hand to keep the uid first and the columns in order.
        write!(out, "{{\"uid\":{uid}")?;
        for (key, column) in keys.iter().zip(&table.columns) {
            match &column.cells[row] {
                Some(cell) => write!(out, ",{key}:{}", cell.to_json())?,
                None => write!(out, ",{key}:null")?,
            }
        }
        writeln!(out, "}}")?;
    }
    Ok(())
}

/// A quoted CSV field (RFC 4180: quotes doubled).
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A float as CSV: the shortest text that reads back as it; NaN as `NaN`,
/// and the infinities as `1e999` and `-1e999`, numbers too large for any
/// float, which every reader rounds to infinity. (`inf` would be natural,
/// but DuckDB's sniffer types a column whose first value is `inf` as a date
/// or as text; pandas, polars and DuckDB all read `1e999` as infinity.)
fn float_text(x: f64, text: impl FnOnce() -> String) -> String {
    if x == f64::INFINITY {
        "1e999".to_owned()
    } else if x == f64::NEG_INFINITY {
        "-1e999".to_owned()
    } else {
        text()
    }
}

/// A cell as a CSV field. Text is always quoted, numbers never: readers
/// type columns by what they see, DuckDB's sniffer finds the quoting on the
/// first row, and it keeps a quoted `"007"` as text (pandas and polars type
/// by content either way); an empty, unquoted field is null.
fn csv_field(cell: Option<&Cell>) -> String {
    let Some(cell) = cell else {
        return String::new();
    };
    match cell {
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::UInt(u) => u.to_string(),
        Cell::F32(f) => float_text(f64::from(*f), || format!("{f:?}")),
        Cell::F64(f) => float_text(*f, || format!("{f:?}")),
        Cell::Text(s) => quoted(s),
        // JSON text whatever the value (a unit variant is `"Open"`), so
        // that every value of the column parses as JSON.
        Cell::Json(v) => quoted(&v.to_string()),
        // Bytes as hex; lists as JSON text.
        other => match other.to_json() {
            serde_json::Value::String(s) => quoted(&s),
            v => quoted(&v.to_string()),
        },
    }
}

fn csv(out: &mut impl Write, table: &Table) -> std::io::Result<()> {
    let mut header = vec![quoted("uid")];
    header.extend(table.columns.iter().map(|c| quoted(&c.name)));
    writeln!(out, "{}", header.join(","))?;
    let mut line = String::new();
    for (row, uid) in table.uids.iter().enumerate() {
        line.clear();
        line.push_str(&uid.to_string());
        for column in &table.columns {
            line.push(',');
            line.push_str(&csv_field(column.cells[row].as_ref()));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dizzy_snapshots::{Column, ColumnType};

    #[test]
    fn without_format_the_file_name_says_it() {
        let of = |p: &str| format_of(Some(std::path::Path::new(p)));
        assert_eq!(of("files.parquet"), Format::Parquet);
        assert_eq!(of("FILES.PQ"), Format::Parquet);
        assert_eq!(of("a/files.csv"), Format::Csv);
        assert_eq!(of("files.jsonl"), Format::Jsonl);
        assert_eq!(of("files"), Format::Jsonl);
        assert_eq!(of("parquet"), Format::Jsonl);
        assert_eq!(format_of(None), Format::Jsonl);
    }

    fn table() -> Table {
        let col = |name: &str, ty: ColumnType, cells: Vec<Option<Cell>>| Column {
            name: name.into(),
            component: "t.c".into(),
            ty,
            cells,
        };
        Table {
            snapshot: 1,
            uids: vec![2, 3],
            columns: vec![
                col(
                    "path",
                    ColumnType::Text,
                    vec![
                        Some(Cell::Text("a,\"b\"\nc".into())),
                        Some(Cell::Text("7".into())),
                    ],
                ),
                col(
                    "x",
                    ColumnType::F64,
                    vec![
                        Some(Cell::F64(f64::NAN)),
                        Some(Cell::F64(f64::NEG_INFINITY)),
                    ],
                ),
                col("y", ColumnType::F32, vec![Some(Cell::F32(1.1)), None]),
                col(
                    "h",
                    ColumnType::Bytes,
                    vec![Some(Cell::Bytes(vec![0xab, 1])), None],
                ),
                col(
                    "l",
                    ColumnType::List(Box::new(ColumnType::UInt { bits: 64 })),
                    vec![Some(Cell::List(vec![Some(Cell::UInt(4)), None])), None],
                ),
            ],
            notes: vec![],
        }
    }

    #[test]
    fn csv_quotes_text_and_names_non_finite_floats() {
        let mut out = Vec::new();
        csv(&mut out, &table()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"uid\",\"path\",\"x\",\"y\",\"h\",\"l\"\n\
             2,\"a,\"\"b\"\"\nc\",NaN,1.1,\"ab01\",\"[4,null]\"\n\
             3,\"7\",-1e999,,,\n"
        );
    }

    #[test]
    fn jsonl_keeps_order_and_names_non_finite_floats() {
        let mut out = Vec::new();
        jsonl(&mut out, &table()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"uid\":2,\"path\":\"a,\\\"b\\\"\\nc\",\"x\":\"NaN\",\"y\":1.1,\"h\":\"ab01\",\"l\":[4,null]}\n\
             {\"uid\":3,\"path\":\"7\",\"x\":\"-Infinity\",\"y\":null,\"h\":null,\"l\":null}\n"
        );
    }
}
