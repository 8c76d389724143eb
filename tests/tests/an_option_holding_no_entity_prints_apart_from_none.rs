//! An `Option` holding a value that prints as `null` — a reference to no
//! entity (`Some(Entity::PLACEHOLDER)`, what `RefPolicy::Drop` leaves of a
//! reference to a despawned entity), `Some(None)` — prints as
//! `{"Some": null}`, never as `None`'s `null`, whether the reader registers
//! the type or reads it by its recorded shape; so `dizzy diff` sees a value
//! go from `None` to a dropped reference (found by a fresh tester, a
//! ride-sharing dispatcher). Typed table columns keep both null.

use dizzy::prelude::*;
use dizzy::snapshots::{Decode, Inspector, Store, diff};
use serde_json::{Value, json};

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Driver(String);

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Trip {
    #[entities]
    driver: Option<Entity>,
    hold: Option<Option<u32>>,
    n: u32,
}

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Driver>("r.driver")
        .component::<Trip>("r.trip")
        .refs(RefPolicy::Drop)
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// Snapshot 1: trip 1 without a driver, trip 2 with one. Snapshot 2: trip
/// 1 given driver b, trip 2 kept; both drivers despawned (references
/// dropped), and trip 2's `hold` set to `Some(None)`.
fn write(path: &std::path::Path) {
    let mut run = app(path).open().unwrap();
    let a = run.spawn(Driver("a".into()));
    let b = run.spawn(Driver("b".into()));
    let t1 = run.spawn(Trip {
        driver: None,
        hold: None,
        n: 1,
    });
    let t2 = run.spawn(Trip {
        driver: Some(a),
        hold: Some(Some(4)),
        n: 2,
    });
    run.snapshot_full().unwrap();
    run.flush().unwrap();
    let w = run.world_mut();
    w.get_mut::<Trip>(t1).unwrap().driver = Some(b);
    w.get_mut::<Trip>(t2).unwrap().hold = Some(None);
    w.despawn(a);
    w.despawn(b);
    run.close().unwrap();
}

fn trips(values: &Inspection) -> Vec<Value> {
    let mut out: Vec<Value> = values
        .entities
        .values()
        .filter_map(|c| c.get("r.trip").cloned().flatten())
        .collect();
    out.sort_by_key(|v| v["n"].as_u64());
    out
}

use dizzy::snapshots::Inspection;

#[test]
fn a_dropped_reference_and_some_none_print_apart_from_none_by_type_and_by_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.redb");
    write(&path);

    // The program itself sees `Some(PLACEHOLDER)` for trip 1.
    let mut run = app(&path).open().unwrap();
    let w = run.world_mut();
    let mut seen: Vec<Trip> = w.query::<&Trip>().iter(w).cloned().collect();
    seen.sort_by_key(|t| t.n);
    assert_eq!(seen[0].driver, Some(Entity::PLACEHOLDER));
    assert_eq!(seen[1].hold, Some(None));
    run.close().unwrap();

    let store = Store::open_to_read(&path).unwrap();
    let typed = app(&path).registry_owned();
    let by_shape = dizzy::Registry::new();
    for (registry, how) in [(&typed, "registered"), (&by_shape, "by shape")] {
        let mut inspector = Inspector::new(&store, registry, Decode::All).unwrap();
        let first = inspector.at(Some(1)).unwrap().clone();
        let second = inspector.at(Some(2)).unwrap().clone();
        assert_eq!(
            trips(&first),
            vec![
                json!({"driver": null, "hold": null, "n": 1}),
                json!({"driver": trips(&first)[1]["driver"], "hold": 4, "n": 2}),
            ],
            "{how}"
        );
        assert!(trips(&first)[1]["driver"].is_u64(), "{how}");
        assert_eq!(
            trips(&second),
            vec![
                json!({"driver": {"Some": null}, "hold": null, "n": 1}),
                json!({"driver": {"Some": null}, "hold": {"Some": null}, "n": 2}),
            ],
            "{how}"
        );
        let d = diff(&first, &second);
        assert_eq!(d.changed.len(), 2, "both trips changed ({how}): {d:?}");
    }
}

#[test]
fn typed_table_columns_keep_a_dropped_reference_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.redb");
    write(&path);
    let out = std::process::Command::new(dizzy_tests::dizzy_bin())
        .args(["export-table", "--db"])
        .arg(&path)
        .args(["--with", "r.trip", "--format", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two trips; the dropped reference is an empty cell, as `None` is.
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[0].contains("driver"), "{text}");
    assert!(!text.contains("Some"), "typed columns hold no JSON: {text}");
    let driver = rows[0]
        .split(',')
        .position(|c| c.contains("driver"))
        .unwrap();
    for row in &rows[1..] {
        assert_eq!(row.split(',').nth(driver), Some(""), "{text}");
    }
}
