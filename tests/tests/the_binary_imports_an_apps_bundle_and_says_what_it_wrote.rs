//! `dizzy import` of a bundle of an app's own types (found by a fresh
//! tester, a tram depot):
//! - the binary registers none of them and keeps them byte for byte, so a
//!   plain `dizzy import` works (before, it refused unless given
//!   `--unknown keep`); `--unknown fail` still refuses;
//! - `--on-conflict skip` reports the entities it wrote (`"imported"`) and
//!   those it left as they were (`"skipped"`), and an import that wrote
//!   nothing adds no snapshot (before: `"imported"` counted the skipped
//!   ones, and an identical snapshot was added).

use std::path::Path;

use dizzy::prelude::*;
use dizzy::{ExportOptions, Selection, Store};
use dizzy_tests::{dizzy, dizzy_json};

#[derive(Component, Serialize, Deserialize, Debug, PartialEq)]
struct Tram(u32);

fn depot(db: &Path) -> App {
    App::new().db(db).component::<Tram>("depot.tram")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn snapshot_ids(db: &Path) -> Vec<u64> {
    let store = Store::open_to_read(db).unwrap();
    store.snapshots().unwrap().iter().map(|m| m.id).collect()
}

#[test]
fn the_binary_imports_an_apps_bundle_without_being_told_to_keep_its_types() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.redb");
    let mut a = depot(&src).open().unwrap();
    a.spawn(Tram(4));
    a.spawn(Tram(9));
    let bundle = dir.path().join("trams.bundle");
    let b = a
        .export(
            &Selection::With("depot.tram".into()),
            &ExportOptions::default(),
        )
        .unwrap();
    std::fs::write(&bundle, &b.bytes).unwrap();
    a.close().unwrap();

    let db = dir.path().join("b.redb");
    depot(&db).open().unwrap().close().unwrap();

    // Told to fail on types it does not register, it refuses, naming one.
    let out = dizzy()
        .args(["import", "--unknown", "fail", "--db", s(&db), s(&bundle)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("depot.tram"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let report = dizzy_json(&["import", "--db", s(&db), s(&bundle)]);
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["skipped"], 0, "{report}");
    let run = depot(&db).open().unwrap();
    let mut trams: Vec<u32> = run
        .world()
        .iter_entities()
        .filter_map(|e| e.get::<Tram>().map(|t| t.0))
        .collect();
    trams.sort_unstable();
    assert_eq!(trams, vec![4, 9]);
    run.close().unwrap();
}

/// `dizzy import --on-conflict skip`: its report.
fn import_skipping(db: &Path, bundle: &Path) -> serde_json::Value {
    dizzy_json(&["import", "--on-conflict", "skip", "--db", s(db), s(bundle)])
}

#[test]
fn an_import_that_skips_every_entity_says_so_and_adds_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.redb");
    let mut a = depot(&db).open().unwrap();
    a.spawn(Tram(1));
    a.spawn(Tram(2));
    let b = a
        .export(
            &Selection::With("depot.tram".into()),
            &ExportOptions::default(),
        )
        .unwrap();
    a.close().unwrap();
    let bundle = dir.path().join("trams.bundle");
    std::fs::write(&bundle, &b.bytes).unwrap();

    // Every uid of the bundle is in the file already.
    let before = snapshot_ids(&db);
    let report = import_skipping(&db, &bundle);
    assert_eq!(report["imported"], 0, "{report}");
    assert_eq!(report["skipped"], 2, "{report}");
    assert!(report["snapshot"].is_null(), "{report}");
    assert_eq!(snapshot_ids(&db), before);

    // One of them gone: one imported, one skipped, one snapshot more.
    let mut a = depot(&db).open().unwrap();
    let first = a
        .world_mut()
        .query::<(Entity, &Tram)>()
        .iter(a.world())
        .find(|(_, t)| t.0 == 1)
        .map(|(e, _)| e)
        .unwrap();
    a.world_mut().despawn(first);
    a.close().unwrap();
    let before = snapshot_ids(&db);
    let report = import_skipping(&db, &bundle);
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["skipped"], 1, "{report}");
    let after = snapshot_ids(&db);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(report["snapshot"], *after.last().unwrap(), "{report}");
}
