//! A build that does not register a type keeps its values byte for byte,
//! each as its snapshot recorded it. When a file holds that type's values
//! at two schemas (a full snapshot from before a version bump or a field
//! added, deltas from after), such a build cannot bring them to one: a
//! squash, an import or an export refuses, naming the type and both
//! schemas, and the file keeps every snapshot. Before, the squash wrote one
//! full snapshot with every value under the first schema and deleted the
//! others (no build could decode it again), an import of an older bundle
//! did the same to the latest snapshot, and an export wrote a bundle no
//! build could import (found by a fresh tester, an orders pipeline).
//! The app that registers the type resumes the file as it was.

use std::path::Path;

use dizzy::prelude::*;
use dizzy_tests::snapshot_ids;

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Customer(String);

/// Version 1: cents.
#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct TotalsV1 {
    orders: u32,
    cents: u64,
}

/// Version 2: euros.
#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Totals {
    orders: u32,
    euros: f64,
}

/// Version 1 with a field added (`#[serde(default)]`, no version bump).
#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct TotalsWide {
    orders: u32,
    cents: u64,
    #[serde(default)]
    largest: u64,
}

fn v1(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Customer>("shop.customer")
        .component::<TotalsV1>("shop.totals")
        .capture_settings(dizzy::CaptureSettings {
            max_chain: 100,
            ..Default::default()
        })
}

fn v2(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Customer>("shop.customer")
        .component_version::<Totals>("shop.totals", 2)
        .migration::<TotalsV1, Totals>("shop.totals", 1, |t| Totals {
            orders: t.orders,
            euros: t.cents as f64 / 100.0,
        })
        .capture_settings(dizzy::CaptureSettings {
            max_chain: 100,
            ..Default::default()
        })
}

fn wide(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Customer>("shop.customer")
        .component::<TotalsWide>("shop.totals")
        .capture_settings(dizzy::CaptureSettings {
            max_chain: 100,
            ..Default::default()
        })
}

fn tool(db: &Path) -> dizzy::Runtime {
    App::new()
        .db(db)
        .component::<Customer>("shop.customer")
        .unknown_components(dizzy::Unknown::Keep)
        .as_tool()
        .snapshot_policy(dizzy::SnapshotPolicy::OFF)
        .open()
        .unwrap()
}

/// Three customers at version 1, then one of them changed by the newer
/// build, in a delta: the file holds both schemas.
fn mixed(db: &Path, newer: &str) -> Vec<u64> {
    let mut run = v1(db).open().unwrap();
    let mut uids = Vec::new();
    for (i, name) in ["ada", "bo", "cy"].into_iter().enumerate() {
        let e = run.spawn((
            Customer(name.into()),
            TotalsV1 {
                orders: i as u32,
                cents: 150 * i as u64,
            },
        ));
        uids.push(run.world().get::<Uid>(e).unwrap().get());
    }
    run.snapshot_full().unwrap();
    run.close().unwrap();
    if newer == "v2" {
        let mut run = v2(db).open().unwrap();
        let mut q = run.world_mut().query::<&mut Totals>();
        if let Some(mut t) = q.iter_mut(run.world_mut()).next() {
            t.orders += 10;
        }
        run.close().unwrap();
    } else {
        let mut run = wide(db).open().unwrap();
        let mut q = run.world_mut().query::<&mut TotalsWide>();
        if let Some(mut t) = q.iter_mut(run.world_mut()).next() {
            t.largest = 99;
        }
        run.close().unwrap();
    }
    uids
}

/// What the newer build restores: each customer's totals, as text.
fn totals(db: &Path, newer: &str) -> Vec<String> {
    let mut run = if newer == "v2" { v2(db) } else { wide(db) }
        .open()
        .unwrap();
    let world = run.world_mut();
    let mut out: Vec<String> = if newer == "v2" {
        let mut q = world.query::<(&Customer, &Totals)>();
        q.iter(world).map(|(c, t)| format!("{c:?} {t:?}")).collect()
    } else {
        let mut q = world.query::<(&Customer, &TotalsWide)>();
        q.iter(world).map(|(c, t)| format!("{c:?} {t:?}")).collect()
    };
    out.sort();
    run.close().unwrap();
    out
}

#[test]
fn a_squash_export_or_import_by_a_tool_refuses_two_schemas_and_keeps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (newer, schemas) in [
        ("v2", "version 1 and version 2"),
        ("wide", "two shapes of version 1"),
    ] {
        let db = dir.path().join(format!("shop-{newer}.redb"));
        let uids = mixed(&db, newer);
        let before = snapshot_ids(&db);
        let want = totals(&db, newer);
        assert_eq!(want.len(), 3);

        // The squash.
        let mut t = tool(&db);
        let e = t.squash().expect_err("a squash of two schemas").to_string();
        assert!(e.contains("`shop.totals`") && e.contains(schemas), "{e}");
        // The export, of every customer.
        let e = t
            .export(&Selection::Uids(uids.clone()), &ExportOptions::default())
            .expect_err("an export of two schemas")
            .to_string();
        assert!(e.contains("`shop.totals`") && e.contains(schemas), "{e}");
        t.close().unwrap();
        assert_eq!(snapshot_ids(&db), before, "{newer}: every snapshot is kept");
        assert_eq!(
            totals(&db, newer),
            want,
            "{newer}: the app resumes as it was"
        );

        // The binary's squash says so too, and keeps the file.
        let out = std::process::Command::new(dizzy_tests::dizzy_bin())
            .args(["compact", "--db"])
            .arg(&db)
            .arg("--squash")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("`shop.totals`"),
            "{err}"
        );
        assert_eq!(
            snapshot_ids(&db),
            before,
            "{newer}: the binary's squash kept the file"
        );
    }
}

#[test]
fn a_tool_refuses_to_import_values_of_another_schema_beside_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // A bundle of a version-1 customer, from a file of its own.
    let old = dir.path().join("old.redb");
    let mut run = v1(&old).open().unwrap();
    let e = run.spawn((
        Customer("dee".into()),
        TotalsV1 {
            orders: 4,
            cents: 400,
        },
    ));
    let uid = run.world().get::<Uid>(e).unwrap().get();
    let bundle = run
        .export(&Selection::Uids(vec![uid]), &ExportOptions::default())
        .unwrap();
    run.close().unwrap();

    // A file the newer build wrote whole (one schema: version 2).
    let db = dir.path().join("new.redb");
    mixed(&db, "v2");
    let mut run = v2(&db).open().unwrap();
    run.snapshot_full().unwrap();
    run.close().unwrap();
    let before = snapshot_ids(&db);
    let want = totals(&db, "v2");

    let mut t = tool(&db);
    let e = t
        .import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .expect_err("an import of another schema")
        .to_string();
    assert!(
        e.contains("`shop.totals`") && e.contains("version 1 and version 2"),
        "{e}"
    );
    t.close().unwrap();
    assert_eq!(snapshot_ids(&db), before);
    assert_eq!(totals(&db, "v2"), want);
}
