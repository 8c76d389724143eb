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

/// Version 1: cents, and a field the next version drops.
#[derive(Component, Serialize, Deserialize)]
struct TotalsV1 {
    orders: u32,
    cents: u64,
    region: String,
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
    assert_eq!(keys, ["uid", "orders", "euros", "cents", "region"], "{ada}");
    for field in ["cents", "region"] {
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
        Some(r#""uid","orders","euros","cents","region""#)
    );
    assert!(
        lines.any(|l| l.ends_with(",1,,150,\"r1\"")),
        "Bo's row keeps its cents and region: {csv}"
    );
}
