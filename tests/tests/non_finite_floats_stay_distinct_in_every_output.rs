//! Guards NaN, +inf and -inf in what dizzy prints: `show` (text and JSON),
//! `diff --json` and `export-table` (JSON lines, CSV, Parquet) keep them
//! apart from each other and from null, for a type the `dizzy` binary
//! registers (`particles.position`) and one it decodes by its recorded
//! shape (`lab.probe`), and pandas, polars and DuckDB read them back as
//! the README says. Needs `python` with pandas, polars, duckdb and pyarrow
//! (`source .ci/dataout.sh`).

use std::path::Path;
use std::process::Command;

use dizzy::prelude::*;
use dizzy_demos::particles::{ParticlesPlugin, Position};
use dizzy_tests::{dizzy_json, dizzy_ok};
use serde_json::{Value, json};

#[derive(Component, Serialize, Deserialize)]
struct Probe {
    label: String,
    value: f64,
    low: f32,
    spare: Option<f64>,
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .plugin(ParticlesPlugin { types_only: true })
        .component::<Probe>("lab.probe")
}

/// Snapshot 1: uid 2 holds every special float, uid 3 plain ones and a
/// `None`. Snapshot 2: uid 2's NaN became +inf, uid 3's `None` became NaN.
fn lab(db: &Path) {
    let mut run = app(db).open().unwrap();
    let special = run.spawn((
        Probe {
            label: "special".into(),
            value: f64::NAN,
            low: f32::NEG_INFINITY,
            spare: Some(f64::INFINITY),
        },
        Position([f32::NAN, f32::INFINITY, f32::NEG_INFINITY]),
    ));
    let plain = run.spawn((
        Probe {
            label: "plain".into(),
            value: 1.5,
            low: 0.25,
            spare: None,
        },
        Position([0.5, 0.0, -1.0]),
    ));
    assert_eq!(run.snapshot().unwrap(), Some(1));
    run.world_mut().get_mut::<Probe>(special).unwrap().value = f64::INFINITY;
    run.world_mut().get_mut::<Probe>(plain).unwrap().spare = Some(f64::NAN);
    assert_eq!(run.snapshot().unwrap(), Some(2));
    run.close().unwrap();
}

fn python(script: &str, dir: &Path) -> Value {
    let out = Command::new("python")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("`python` is needed (source .ci/dataout.sh installs the data tools)");
    assert!(
        out.status.success(),
        "python failed (pandas, polars, duckdb, pyarrow: source .ci/dataout.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn show_and_diff_name_each_special_float() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    lab(&db);
    let db = db.to_str().unwrap();

    let first = dizzy_json(&["show", "--db", db, "--snapshot", "1", "--json"]);
    assert_eq!(
        first,
        json!([
            {"uid": 2, "lab.probe": {"label": "special", "value": "NaN", "low": "-Infinity", "spare": "Infinity"},
             "particles.position": ["NaN", "Infinity", "-Infinity"]},
            {"uid": 3, "lab.probe": {"label": "plain", "value": 1.5, "low": 0.25, "spare": null},
             "particles.position": [0.5, 0.0, -1.0]},
        ])
    );
    // Fields in declaration order, in the text as printed.
    let text = dizzy_ok(&["show", "--db", db, "--snapshot", "1"]);
    assert!(
        text.contains(
            r#"lab.probe: {"label":"special","value":"NaN","low":"-Infinity","spare":"Infinity"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"particles.position: ["NaN","Infinity","-Infinity"]"#),
        "{text}"
    );
    assert!(text.contains(r#""spare":null"#), "{text}");

    // Both changes show, old and new; the unchanged NaNs do not.
    let diff = dizzy_json(&["diff", "--db", db, "1", "2", "--json"]);
    let changed = diff["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 2, "{diff}");
    let of = |uid: u64| {
        changed
            .iter()
            .find(|c| c["uid"] == uid && c["component"] == "lab.probe")
            .unwrap_or_else(|| panic!("uid {uid} changed: {diff}"))
    };
    assert_eq!(of(2)["old"]["value"], "NaN");
    assert_eq!(of(2)["new"]["value"], "Infinity");
    assert_eq!(of(3)["old"]["spare"], Value::Null);
    assert_eq!(of(3)["new"]["spare"], "NaN");
}

/// Reads t.parquet, t.csv and t.jsonl with each tool, the way the README
/// says; prints the rows of value, low, spare (and position where the
/// format has lists), not-finite floats as "nan", "inf", "-inf".
const READ_BACK: &str = r#"
import json, math
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

def rows(df):
    return [[norm(v) for v in row] for row in df.itertuples(index=False)]

def table(rows_):
    return [[norm(v) for v in row] for row in rows_]

all4 = ["value", "low", "spare", "position"]
all3 = ["value", "low", "spare"]
typed = "columns={uid: 'UBIGINT', label: 'VARCHAR', value: 'DOUBLE', low: 'FLOAT', spare: 'DOUBLE', position: 'FLOAT[]'}"
out = {
    "parquet": {
        "pandas": rows(pd.read_parquet("t.parquet", dtype_backend="pyarrow")[all4]),
        "polars": table(pl.read_parquet("t.parquet").select(all4).rows()),
        "duckdb": table(duckdb.sql("SELECT value, low, spare, position FROM 't.parquet' ORDER BY uid").fetchall()),
    },
    "csv": {
        "pandas": rows(pd.read_csv("t.csv")[all3]),
        "polars": table(pl.read_csv("t.csv").select(all3).rows()),
        "duckdb": table(duckdb.sql("SELECT value, low, spare FROM 't.csv' ORDER BY uid").fetchall()),
    },
    "jsonl": {
        "pandas": rows(pd.read_json("t.jsonl", lines=True)[all3]),
        "polars": table(pl.read_ndjson("t.jsonl").select(
            pl.col(all3).cast(pl.Float64), pl.col("position").cast(pl.List(pl.Float64))).rows()),
        "duckdb": table(duckdb.sql(f"SELECT value, low, spare, position FROM read_json('t.jsonl', {typed}) ORDER BY uid").fetchall()),
    },
}
print(json.dumps(out))
"#;

#[test]
fn tables_keep_them_apart_and_the_tools_read_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    lab(&db);
    let db = db.to_str().unwrap();
    for (format, file) in [
        ("parquet", "t.parquet"),
        ("csv", "t.csv"),
        ("jsonl", "t.jsonl"),
    ] {
        let out = dir.path().join(file);
        dizzy_ok(&[
            "export-table",
            "--db",
            db,
            "--snapshot",
            "1",
            "--with",
            "lab.probe",
            "--with",
            "particles.position",
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
        ]);
    }
    let csv = std::fs::read_to_string(dir.path().join("t.csv")).unwrap();
    assert_eq!(
        csv,
        "\"uid\",\"label\",\"value\",\"low\",\"spare\",\"position\"\n\
         2,\"special\",NaN,-1e999,1e999,\"[\"\"NaN\"\",\"\"Infinity\"\",\"\"-Infinity\"\"]\"\n\
         3,\"plain\",1.5,0.25,,\"[0.5,0.0,-1.0]\"\n"
    );
    let jsonl = std::fs::read_to_string(dir.path().join("t.jsonl")).unwrap();
    assert_eq!(
        jsonl,
        "{\"uid\":2,\"label\":\"special\",\"value\":\"NaN\",\"low\":\"-Infinity\",\"spare\":\"Infinity\",\"position\":[\"NaN\",\"Infinity\",\"-Infinity\"]}\n\
         {\"uid\":3,\"label\":\"plain\",\"value\":1.5,\"low\":0.25,\"spare\":null,\"position\":[0.5,0.0,-1.0]}\n"
    );

    let read = python(READ_BACK, dir.path());
    let special = json!(["nan", "-inf", "inf", ["nan", "inf", "-inf"]]);
    let plain = json!([1.5, 0.25, null, [0.5, 0.0, -1.0]]);
    let three = |row: &Value| Value::Array(row.as_array().unwrap()[..3].to_vec());
    for tool in ["pandas", "polars", "duckdb"] {
        assert_eq!(
            read["parquet"][tool],
            json!([special, plain]),
            "{tool} parquet"
        );
    }
    for tool in ["polars", "duckdb"] {
        assert_eq!(
            read["csv"][tool],
            json!([three(&special), three(&plain)]),
            "{tool} csv"
        );
        assert_eq!(read["jsonl"][tool], json!([special, plain]), "{tool} jsonl");
    }
    // pandas' float64 has one NaN for missing values too (the README says
    // so): the null reads as NaN, everything else as it was.
    let pandas_plain = json!([1.5, 0.25, "nan"]);
    assert_eq!(
        read["csv"]["pandas"],
        json!([three(&special), pandas_plain]),
        "pandas csv"
    );
    assert_eq!(
        read["jsonl"]["pandas"],
        json!([three(&special), pandas_plain]),
        "pandas jsonl"
    );
}
