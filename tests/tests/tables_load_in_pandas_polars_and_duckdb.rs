//! Guards `dizzy export-table` for data people: the README's one-liners run
//! as written on a dedupe run (file names with commas, quotes, spaces,
//! newlines and non-ASCII included), and Parquet and CSV of joined
//! components load in the real pandas, polars and DuckDB with the right
//! types and values. Needs `python` with pandas, polars, duckdb and pyarrow
//! (`source .ci/dataout.sh` installs them, as CI does).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dizzy::prelude::*;
use dizzy_tests::{dizzy_bin, dizzy_json, dizzy_ok, make_tree};
use serde_json::{Value, json};

/// Runs a Python script with `args`, in `dir`; it must succeed. Returns its
/// stdout.
fn python(script: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new("python")
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("`python` is needed (source .ci/dataout.sh installs the data tools)");
    assert!(
        out.status.success(),
        "python failed (pandas, polars, duckdb, pyarrow: source .ci/dataout.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Python that prints, as JSON, what each tool reads from the files named
/// in argv: for each file and tool, its column types and its rows (floats
/// that are not finite as "nan", "inf", "-inf"; nulls as null).
const READ_BACK: &str = r#"
import json, math, sys
import duckdb, pandas as pd, polars as pl

def norm(v):
    if v is None or v is pd.NA:
        return None
    if hasattr(v, "tolist"):
        v = v.tolist()
    elif hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    return v

out = {}
for path in sys.argv[1:]:
    parquet = path.endswith(".parquet")
    df = pd.read_parquet(path, dtype_backend="pyarrow") if parquet else pd.read_csv(path)
    pandas = {"types": {c: str(t) for c, t in df.dtypes.items()},
              "rows": [[norm(v) for v in row] for row in df.itertuples(index=False)]}
    pf = pl.read_parquet(path) if parquet else pl.read_csv(path)
    polars = {"types": {c: str(t) for c, t in pf.schema.items()},
              "rows": [[norm(v) for v in row] for row in pf.iter_rows()]}
    rel = duckdb.sql(f"SELECT * FROM '{path}'")
    duck = {"types": dict(zip(rel.columns, [str(t) for t in rel.types])),
            "rows": [[norm(v) for v in row] for row in rel.fetchall()]}
    out[path] = {"pandas": pandas, "polars": polars, "duckdb": duck}
print(json.dumps(out))
"#;

/// What each tool read from `path`, per tool: (column types, rows).
fn read_back(dir: &Path, paths: &[&str]) -> Value {
    let text = python(READ_BACK, dir, paths);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The lines of the README's "Looking inside a file" section that export
/// a table or load one (`dizzy export-table …`, `python -c …`), in order.
fn readme_table_lines() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Looking inside a file")
        .nth(1)
        .expect("the README has a section \"Looking inside a file\"");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut lines = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && (l.starts_with("dizzy export-table") || l.starts_with("python -c")) => {
                lines.push(l.to_owned())
            }
            _ => {}
        }
    }
    lines
}

/// Runs one README line with `sh`, in `dir`, with the `dizzy` binary first
/// on PATH; it must succeed. Returns its stdout.
fn run_readme_line(line: &str, dir: &Path) -> String {
    let bin = dizzy_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's line failed: {line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Files whose names trip up CSV readers, with some shared contents.
const ODD_NAMES: [&str; 8] = [
    "comma, in the name.txt",
    "say \"hi\".txt",
    "it's.txt",
    "two  spaces .txt",
    " leading space.txt",
    "new\nline.txt",
    "Főtanúsítvány ünïcödé.crt",
    "tab\there;semi|pipe.txt",
];

/// The hash as the tables show it: hex, or null for a file the demo never
/// hashed (no other file has its size or its ends).
fn hex(bytes: &Value) -> Value {
    let Some(bytes) = bytes.as_array() else {
        assert!(bytes.is_null(), "{bytes}");
        return Value::Null;
    };
    Value::String(
        bytes
            .iter()
            .map(|b| format!("{:02x}", b.as_u64().unwrap()))
            .collect(),
    )
}

#[test]
fn the_readme_one_liners_run_on_a_dedupe_run_and_read_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 60, 300, 16);
    for (i, name) in ODD_NAMES.iter().enumerate() {
        std::fs::write(tree.join(name), format!("content {}", i % 3)).unwrap();
    }
    let db = dir.path().join("dizzy.redb");
    let report = dizzy_json(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);

    // The truth: every file with its path, size, modification and change
    // times (ns), inode and hash, from `show`.
    let shown = dizzy_json(&[
        "show",
        "--db",
        db.to_str().unwrap(),
        "--with",
        "dedupe.file",
        "--json",
    ]);
    type Row = (String, u64, u64, u64, u64, Value);
    let mut truth: BTreeMap<u64, Row> = BTreeMap::new();
    for e in shown.as_array().unwrap() {
        let file = &e["dedupe.file"];
        truth.insert(
            e["uid"].as_u64().unwrap(),
            (
                file["path"].as_str().unwrap().to_owned(),
                file["size"].as_u64().unwrap(),
                file["modified_ns"].as_u64().unwrap(),
                file["changed_ns"].as_u64().unwrap(),
                file["inode"].as_u64().unwrap(),
                hex(&e["dedupe.sha256"]),
            ),
        );
    }
    assert_eq!(truth.len() as u64, report["files"].as_u64().unwrap());
    for name in ODD_NAMES {
        assert!(truth.values().any(|(p, ..)| p == name), "{name:?} listed");
    }

    // The README's lines, as written.
    let lines = readme_table_lines();
    for needed in [
        "--format parquet",
        "--format csv",
        "import pandas",
        "import polars",
        "import duckdb",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(needed)),
            "the README's table lines use {needed}: {lines:#?}"
        );
    }
    let files = truth.len();
    let bytes = report["bytes"].as_u64().unwrap();
    for line in &lines {
        let out = run_readme_line(line, dir.path());
        if line.contains("import duckdb") && line.contains("count(*), sum(size)") {
            assert_eq!(out.trim(), format!("[({files}, {bytes})]"), "{line}");
        }
        if line.contains("import pandas") && line.contains(".dtypes") {
            for column in ["uid", "path", "size", "sha256"] {
                assert!(out.contains(column), "{line}: {out}");
            }
        }
        if line.contains("group_by('sha256')") {
            let sets = report["duplicate_sets"].as_array().unwrap().len();
            assert_eq!(out.trim(), format!("{sets} duplicate sets"), "{line}");
        }
    }

    // What each tool reads: types and every value.
    let read = read_back(dir.path(), &["files.parquet", "files.csv"]);
    let expected_parquet = [
        (
            "pandas",
            [
                "uint64[pyarrow]",
                "string[pyarrow]",
                "uint64[pyarrow]",
                "string[pyarrow]",
            ],
        ),
        ("polars", ["UInt64", "String", "UInt64", "String"]),
        ("duckdb", ["UBIGINT", "VARCHAR", "UBIGINT", "VARCHAR"]),
    ];
    for (tool, types) in expected_parquet {
        let got = &read["files.parquet"][tool];
        let columns: Vec<(&str, &str)> = ["uid", "path", "size", "sha256"]
            .into_iter()
            .zip(types)
            .collect();
        for (column, ty) in columns {
            assert_eq!(
                got["types"][column], ty,
                "{tool}: {column} in {}",
                got["types"]
            );
        }
        let rows: Vec<Value> = truth
            .iter()
            .map(|(uid, (path, size, modified, changed, inode, sha))| {
                json!([uid, path, size, modified, changed, inode, sha])
            })
            .collect();
        assert_eq!(
            got["rows"].as_array().unwrap(),
            &rows,
            "{tool} reads the parquet"
        );
    }
    let expected_csv = [
        ("pandas", ["int64", "str", "int64"]),
        ("polars", ["Int64", "String", "Int64"]),
        ("duckdb", ["BIGINT", "VARCHAR", "BIGINT"]),
    ];
    for (tool, types) in expected_csv {
        let got = &read["files.csv"][tool];
        for (column, ty) in ["uid", "path", "size"].into_iter().zip(types) {
            assert_eq!(
                got["types"][column], ty,
                "{tool}: {column} in {}",
                got["types"]
            );
        }
        let rows: Vec<Value> = truth
            .iter()
            .map(|(uid, (path, size, modified, changed, inode, _))| {
                json!([uid, path, size, modified, changed, inode])
            })
            .collect();
        assert_eq!(
            got["rows"].as_array().unwrap(),
            &rows,
            "{tool} reads the CSV"
        );
    }
}

/// A sample of a user's lab: every kind of field a table has to type.
#[derive(Component, Serialize, Deserialize)]
struct Sample {
    name: String,
    mass: f32,
    count: i32,
    ok: bool,
    at: Pos,
    tags: Vec<String>,
    digest: [u8; 4],
    #[entities]
    parent: Option<Entity>,
}

#[derive(Serialize, Deserialize)]
struct Pos {
    x: f64,
    y: f64,
}

#[derive(Component, Serialize, Deserialize)]
struct Reading(f64);

#[test]
fn a_parquet_of_two_joined_components_keeps_types_and_values_in_every_tool() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    let mut run = App::new()
        .db(&db)
        .component::<Sample>("lab.sample")
        .component::<Reading>("lab.reading")
        .open()
        .unwrap();
    let first = run.spawn((
        Sample {
            name: "first, \"one\"".into(),
            mass: 1.25,
            count: -3,
            ok: true,
            at: Pos { x: 0.5, y: -2.0 },
            tags: vec!["a".into(), "b".into()],
            digest: [0xde, 0xad, 0xbe, 0xef],
            parent: None,
        },
        Reading(f64::NAN),
    ));
    run.spawn((
        Sample {
            name: "second".into(),
            mass: 0.1,
            count: 7,
            ok: false,
            at: Pos { x: 1.0, y: 1e-7 },
            tags: vec![],
            digest: [0, 1, 2, 3],
            parent: Some(first),
        },
        Reading(f64::INFINITY),
    ));
    run.spawn(Sample {
        name: "ünïcödé".into(),
        mass: -0.0,
        count: 0,
        ok: true,
        at: Pos { x: -1.5, y: 2.5 },
        tags: vec!["z".into()],
        digest: [255; 4],
        parent: Some(first),
    });
    run.close().unwrap();

    // The `dizzy` binary does not register lab.*: it decodes by the shapes
    // the file records, and exports them typed all the same.
    let db = db.to_str().unwrap();
    let out = dir.path().join("lab.parquet");
    dizzy_ok(&[
        "export-table",
        "--db",
        db,
        "--with",
        "lab.sample",
        "--with",
        "lab.reading",
        "--format",
        "parquet",
        "-o",
        out.to_str().unwrap(),
    ]);
    let read = read_back(dir.path(), &["lab.parquet"]);
    let columns = [
        "uid", "name", "mass", "count", "ok", "at.x", "at.y", "tags", "digest", "parent", "reading",
    ];
    let types = [
        (
            "pandas",
            [
                "uint64[pyarrow]",
                "string[pyarrow]",
                "float[pyarrow]",
                "int32[pyarrow]",
                "bool[pyarrow]",
                "double[pyarrow]",
                "double[pyarrow]",
                "list<item: string>[pyarrow]",
                "string[pyarrow]",
                "uint64[pyarrow]",
                "double[pyarrow]",
            ],
        ),
        (
            "polars",
            [
                "UInt64",
                "String",
                "Float32",
                "Int32",
                "Boolean",
                "Float64",
                "Float64",
                "List(String)",
                "String",
                "UInt64",
                "Float64",
            ],
        ),
        (
            "duckdb",
            [
                "UBIGINT",
                "VARCHAR",
                "FLOAT",
                "INTEGER",
                "BOOLEAN",
                "DOUBLE",
                "DOUBLE",
                "VARCHAR[]",
                "VARCHAR",
                "UBIGINT",
                "DOUBLE",
            ],
        ),
    ];
    // f32 values come back as the f32 they were (0.1f32 is 0.10000000149…).
    let rows = json!([
        [
            2,
            "first, \"one\"",
            1.25,
            -3,
            true,
            0.5,
            -2.0,
            ["a", "b"],
            "deadbeef",
            null,
            "nan"
        ],
        [
            3,
            "second",
            f64::from(0.1f32),
            7,
            false,
            1.0,
            1e-7,
            [],
            "00010203",
            2,
            "inf"
        ],
        [
            4,
            "ünïcödé",
            -0.0,
            0,
            true,
            -1.5,
            2.5,
            ["z"],
            "ffffffff",
            2,
            null
        ],
    ]);
    for (tool, types) in types {
        let got = &read["lab.parquet"][tool];
        let names: Vec<&String> = got["types"].as_object().unwrap().keys().collect();
        assert_eq!(names, columns, "{tool}: columns in declaration order");
        for (column, ty) in columns.iter().zip(types) {
            assert_eq!(got["types"][column], ty, "{tool}: {column}");
        }
        assert_eq!(got["rows"], rows, "{tool}");
    }
}

#[test]
fn duckdb_sniffs_a_quoted_name_far_down_a_large_csv() {
    #[derive(Component, Serialize, Deserialize)]
    struct Entry {
        path: String,
        size: u64,
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("many.redb");
    let mut run = App::new()
        .db(&db)
        .component::<Entry>("many.entry")
        .open()
        .unwrap();
    // DuckDB samples the first rows of a CSV to guess its dialect: the
    // first name that needs quotes comes after 25,000 plain ones.
    let n = 30_000u64;
    for i in 0..n {
        let path = match i {
            25_000 => "i18n/charmaps/ISO_8859-1,GL.gz".to_owned(),
            27_000 => "say \"hi\"\nagain.txt".to_owned(),
            _ => format!("dir{}/file{i}.txt", i % 7),
        };
        run.spawn(Entry { path, size: i });
    }
    run.close().unwrap();
    let csv = dir.path().join("many.csv");
    dizzy_ok(&[
        "export-table",
        "--db",
        db.to_str().unwrap(),
        "--with",
        "many.entry",
        "--format",
        "csv",
        "-o",
        csv.to_str().unwrap(),
    ]);
    let script = r#"
import duckdb, sys
print(duckdb.sql("SELECT count(*), sum(size), max(length(path)) FROM 'many.csv'").fetchall())
print(duckdb.sql("SELECT path FROM 'many.csv' WHERE size IN (25000, 27000) ORDER BY size").fetchall())
"#;
    let out = python(script, dir.path(), &[]);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(format!("[({n}, {}, 30)]", n * (n - 1) / 2).as_str())
    );
    assert_eq!(
        lines.next(),
        Some(r#"[('i18n/charmaps/ISO_8859-1,GL.gz',), ('say "hi"\nagain.txt',)]"#)
    );
}
