//! `export-table` by a build that does not know a type reads each value
//! at the shape its snapshot recorded. When a chain holds values at two
//! shapes (a full snapshot from before a struct changed, a delta from
//! after), the table has a column for every field any value holds: the
//! snapshot's shape's columns, then the fields only earlier values hold,
//! each named in a note. Before, the fields the latest shape lacks were
//! left out of the table, and with them every older value's data.

use std::path::Path;

use dizzy::prelude::*;
use dizzy_tests::dizzy_bin;
use serde_json::Value;

#[derive(Component, Serialize, Deserialize)]
struct Customer(String);

/// Version 1: cents, and fields the next version drops.
#[derive(Component, Serialize, Deserialize)]
struct TotalsV1 {
    orders: u32,
    cents: u64,
    region: String,
    /// Typed by the shape: 32-bit floats, NaN and infinities kept.
    rate: f32,
    /// Unsigned, though these values all fit an i64 too.
    visits: u16,
    /// Nested: flattened as the snapshot's own fields are.
    home: Place,
}

#[derive(Serialize, Deserialize)]
struct Place {
    zip: u32,
    city: String,
}

/// Version 2: euros.
#[derive(Component, Serialize, Deserialize)]
struct Totals {
    orders: u32,
    euros: f64,
}

fn settings() -> dizzy::CaptureSettings {
    dizzy::CaptureSettings {
        max_chain: 100,
        ..Default::default()
    }
}

/// Three customers at version 1 in a full snapshot; the newer build
/// changes the first one, in a delta.
fn mixed(db: &Path) {
    let mut run = App::new()
        .db(db)
        .component::<Customer>("shop.customer")
        .component::<TotalsV1>("shop.totals")
        .capture_settings(settings())
        .open()
        .unwrap();
    for (i, name) in ["ada", "bo", "cy"].into_iter().enumerate() {
        run.spawn((
            Customer(name.into()),
            TotalsV1 {
                orders: i as u32,
                cents: 150 * i as u64,
                region: format!("r{i}"),
                rate: [0.1, f32::NAN, f32::INFINITY][i],
                visits: 7 * i as u16,
                home: Place {
                    zip: 1000 + i as u32,
                    city: format!("c{i}"),
                },
            },
        ));
    }
    run.snapshot_full().unwrap();
    run.close().unwrap();
    let mut run = App::new()
        .db(db)
        .component::<Customer>("shop.customer")
        .component_version::<Totals>("shop.totals", 2)
        .migration::<TotalsV1, Totals>("shop.totals", 1, |t| Totals {
            orders: t.orders,
            euros: t.cents as f64 / 100.0,
        })
        .capture_settings(settings())
        .open()
        .unwrap();
    let world = run.world_mut();
    let mut q = world.query::<(&Customer, &mut Totals)>();
    for (c, mut t) in q.iter_mut(world) {
        if c.0 == "ada" {
            t.orders = 10;
        }
    }
    run.close().unwrap();
}

fn export(db: &Path, format: &str) -> (String, String) {
    let out = std::process::Command::new(dizzy_bin())
        .args(["export-table", "--db"])
        .arg(db)
        .args(["--with", "shop.totals", "--format", format])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn every_field_of_every_value_has_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.redb");
    mixed(&db);

    let (jsonl, notes) = export(&db, "jsonl");
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{jsonl}");
    let by_orders = |n: u64| {
        rows.iter()
            .find(|r| r["orders"] == n)
            .unwrap_or_else(|| panic!("no row of {n} orders: {jsonl}"))
    };
    // Ada, changed by version 2: euros, nothing of version 1's fields.
    let ada = by_orders(10);
    assert_eq!(ada["euros"], 0.0);
    assert!(ada["cents"].is_null() && ada["region"].is_null(), "{ada}");
    // Bo and Cy, still at version 1: every field they hold.
    for (orders, cents, region) in [(1, 150, "r1"), (2, 300, "r2")] {
        let r = by_orders(orders);
        assert_eq!(r["cents"], cents, "{r}");
        assert_eq!(r["region"], region, "{r}");
        assert!(r["euros"].is_null(), "{r}");
    }
    // The snapshot's shape's columns first, then the earlier ones, named.
    let keys: Vec<&str> = ada
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "uid",
            "orders",
            "euros",
            "cents",
            "region",
            "rate",
            "visits",
            "home.zip",
            "home.city"
        ],
        "{ada}"
    );
    // Values at two versions, read each as stored: said, naming both.
    assert!(
        notes.contains("`shop.totals`: the chain holds values written at versions 1 and 2"),
        "{notes}"
    );
    for field in ["cents", "region", "rate", "visits", "home"] {
        assert!(
            notes.contains(&format!("`shop.totals` field `{field}`")),
            "{notes}"
        );
    }

    // CSV: the same columns, typed (numbers bare, text quoted).
    let (csv, _) = export(&db, "csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(r#""uid","orders","euros","cents","region","rate","visits","home.zip","home.city""#)
    );
    // NaN is a float (bare), not text (quoted), as in any float column.
    assert!(
        lines.any(|l| l.ends_with(",1,,150,\"r1\",NaN,7,1001,\"c1\"")),
        "Bo's row keeps its cents and region: {csv}"
    );
}

/// The columns of fields only earlier values hold are typed by the shape
/// their snapshot recorded (the width and signedness of the Rust field, a
/// 32-bit float), as the snapshot's own fields are, not guessed from the
/// values.
#[test]
fn earlier_fields_are_typed_by_their_recorded_shape() {
    use dizzy_snapshots::{Cell, ColumnType, Decode, Inspector, Store, table};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.redb");
    mixed(&db);
    let store = Store::open(&db).unwrap();
    // As the CLI reads it: without the types.
    let registry = dizzy_components::Registry::default();
    let mut inspector = Inspector::new(&store, &registry, Decode::All).unwrap();
    inspector.at(None).unwrap();
    let inspection = inspector.into_inspection().unwrap();
    let t = table(&inspection, &registry, &["shop.totals".to_owned()]).unwrap();
    let ty = |name: &str| {
        let c = t.columns.iter().find(|c| c.name == name);
        c.unwrap_or_else(|| panic!("no column {name}: {t:?}"))
    };
    assert_eq!(ty("orders").ty, ColumnType::UInt { bits: 32 });
    assert_eq!(ty("euros").ty, ColumnType::F64);
    assert_eq!(ty("cents").ty, ColumnType::UInt { bits: 64 });
    assert_eq!(ty("region").ty, ColumnType::Text);
    assert_eq!(ty("rate").ty, ColumnType::F32);
    assert_eq!(ty("visits").ty, ColumnType::UInt { bits: 16 });
    assert_eq!(ty("home.zip").ty, ColumnType::UInt { bits: 32 });
    assert_eq!(ty("home.city").ty, ColumnType::Text);
    let rates: Vec<String> = ty("rate")
        .cells
        .iter()
        .map(|c| match c {
            Some(Cell::F32(f)) => f.to_string(),
            None => "null".into(),
            other => panic!("{other:?} in a column of f32"),
        })
        .collect();
    // Ada (changed by version 2) holds none; Bo NaN, Cy infinity.
    let mut sorted = rates.clone();
    sorted.sort();
    assert_eq!(sorted, ["NaN", "inf", "null"], "{rates:?}");
}
