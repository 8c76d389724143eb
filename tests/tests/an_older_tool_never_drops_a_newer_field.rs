//! A tool built from older code than the file's (the app's own command
//! line, `App::as_tool`, built before a field was added with
//! `#[serde(default)]`) reads the file's values without that field: a
//! snapshot it wrote (an import's, a squash) would drop the field from
//! every value it writes. It refuses, naming the component and the field,
//! and the file keeps every snapshot. Before, the import and the squash
//! succeeded and every value lost the field (found by a fresh tester, an
//! orders pipeline). The app itself, run with code that dropped a field,
//! still drops it (the README's rule for a removed field).

use std::path::Path;

use dizzy::prelude::*;
use dizzy_tests::snapshot_ids;

/// The older code.
#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Totals {
    orders: u32,
}

/// The newer code: a field added, no version bump.
#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename = "Totals")]
struct TotalsNew {
    orders: u32,
    #[serde(default)]
    largest: u64,
}

fn newer(db: &Path) -> App {
    App::new().db(db).component::<TotalsNew>("shop.totals")
}

fn largest(db: &Path) -> Vec<u64> {
    let mut run = newer(db).open().unwrap();
    let world = run.world_mut();
    let mut v: Vec<u64> = world
        .query::<&TotalsNew>()
        .iter(world)
        .map(|t| t.largest)
        .collect();
    v.sort();
    run.close().unwrap();
    v
}

#[test]
fn a_tool_of_older_code_refuses_to_write_and_keeps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.redb");
    let mut run = newer(&db).open().unwrap();
    for i in 0..3 {
        run.spawn(TotalsNew {
            orders: i,
            largest: 100 + u64::from(i),
        });
    }
    run.close().unwrap();
    let before = snapshot_ids(&db);
    assert_eq!(largest(&db), vec![100, 101, 102]);

    let tool = || {
        App::new()
            .db(&db)
            .component::<Totals>("shop.totals")
            .as_tool()
            .snapshot_policy(SnapshotPolicy::OFF)
            .open()
            .unwrap()
    };
    let mut t = tool();
    let e = t.squash().expect_err("a squash losing a field").to_string();
    assert!(
        e.contains("`shop.totals`") && e.contains("Totals.largest"),
        "{e}"
    );
    t.spawn(Totals { orders: 9 });
    let e = t
        .snapshot_full()
        .expect_err("a snapshot losing a field")
        .to_string();
    assert!(e.contains("Totals.largest"), "{e}");
    drop(t);
    assert_eq!(snapshot_ids(&db), before, "every snapshot is kept");
    assert_eq!(largest(&db), vec![100, 101, 102], "no value lost its field");

    // The app's own older code, run as the app (not a tool), drops the
    // field as the README says a removed field is dropped.
    let mut app = App::new()
        .db(&db)
        .component::<Totals>("shop.totals")
        .open()
        .unwrap();
    app.snapshot_full().unwrap();
    app.close().unwrap();
    assert_eq!(largest(&db), vec![0, 0, 0]);
}
