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

/// The older code under another Rust name (a struct renamed in the code,
/// no `#[serde(rename)]`): values are read by where they sit, so the field
/// the newer code added is found missing all the same. Before, structs were
/// paired by their Rust names, none paired, and the squash dropped the
/// field from every value (found by a fresh tester, a shipping domain).
#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Cargo {
    name: String,
}

/// The newer code: fields added, no version bump, another Rust name.
#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Load {
    name: String,
    #[serde(default)]
    hazmat: bool,
    #[serde(default)]
    un_number: u32,
}

fn loads(db: &Path) -> Vec<(String, bool, u32)> {
    let mut run = App::new()
        .db(db)
        .component::<Load>("ship.cargo")
        .open()
        .unwrap();
    let world = run.world_mut();
    let mut v: Vec<(String, bool, u32)> = world
        .query::<&Load>()
        .iter(world)
        .map(|l| (l.name.clone(), l.hazmat, l.un_number))
        .collect();
    v.sort();
    run.close().unwrap();
    v
}

fn older_tool(db: &Path) -> Runtime {
    App::new()
        .db(db)
        .component::<Cargo>("ship.cargo")
        .as_tool()
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap()
}

#[test]
fn a_struct_renamed_in_the_code_is_paired_by_where_it_sits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ship.redb");
    let mut run = App::new()
        .db(&db)
        .component::<Load>("ship.cargo")
        .open()
        .unwrap();
    run.spawn(Load {
        name: "acid".into(),
        hazmat: true,
        un_number: 1789,
    });
    run.close().unwrap();
    let before = snapshot_ids(&db);
    let want = vec![("acid".to_owned(), true, 1789)];
    assert_eq!(loads(&db), want);

    let mut t = older_tool(&db);
    let e = t.squash().expect_err("a squash losing fields").to_string();
    assert!(
        e.contains("`ship.cargo`") && e.contains("Load.hazmat") && e.contains("Load.un_number"),
        "{e}"
    );
    // A bundle of its values would lack the fields too.
    let e = t
        .export(
            &dizzy::Selection::With("ship.cargo".into()),
            &dizzy::ExportOptions::default(),
        )
        .expect_err("an export losing fields")
        .to_string();
    assert!(
        e.contains("`ship.cargo`") && e.contains("Load.hazmat"),
        "{e}"
    );
    drop(t);
    assert_eq!(snapshot_ids(&db), before, "every snapshot is kept");
    assert_eq!(loads(&db), want, "no value lost its fields");

    // The app's own command line of the older code: its `export` restores
    // the file itself, and refuses as the tool's runtime does (it wrote a
    // bundle without the fields; found by a fresh tester, a lending
    // library). Its squash refuses too; nothing is written.
    let bundle = dir.path().join("older.bundle");
    let cli = |args: &[&str]| {
        let older = App::new().component::<Cargo>("ship.cargo");
        dizzy_cli::Cli::new(older).run_from(std::iter::once("ship").chain(args.iter().copied()))
    };
    let (d, b) = (db.to_str().unwrap(), bundle.to_str().unwrap());
    let failed = std::process::ExitCode::FAILURE;
    assert_eq!(
        cli(&["export", "--db", d, "--with", "ship.cargo", "-o", b]),
        failed
    );
    assert!(!bundle.exists(), "no bundle without the fields");
    assert_eq!(cli(&["compact", "--db", d, "--squash"]), failed);
    assert_eq!(snapshot_ids(&db), before, "every snapshot is kept");
    assert_eq!(loads(&db), want, "no value lost its fields");
}

/// A bundle from newer code imported by a tool of the older code: every
/// value would lose the newer fields in the tool's snapshot. Refused,
/// naming them, and nothing is imported. Before, it was imported and the
/// fields dropped without a word.
#[test]
fn a_tool_of_older_code_refuses_a_newer_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let mut newer = App::new()
        .in_memory()
        .component::<Load>("ship.cargo")
        .open()
        .unwrap();
    newer.spawn(Load {
        name: "lye".into(),
        hazmat: true,
        un_number: 1823,
    });
    let bundle = newer
        .export(
            &dizzy::Selection::With("ship.cargo".into()),
            &dizzy::ExportOptions::default(),
        )
        .unwrap();

    let db = dir.path().join("old.redb");
    let mut app = App::new()
        .db(&db)
        .component::<Cargo>("ship.cargo")
        .open()
        .unwrap();
    app.spawn(Cargo { name: "pre".into() });
    app.close().unwrap();
    let before = snapshot_ids(&db);

    let mut t = older_tool(&db);
    let e = t
        .import(&bundle.bytes, dizzy::OnConflict::Remap, RefPolicy::Fail)
        .expect_err("an import losing fields")
        .to_string();
    assert!(
        e.contains("`ship.cargo`") && e.contains("Load.hazmat") && e.contains("Load.un_number"),
        "{e}"
    );
    let world = t.world_mut();
    let names: Vec<String> = world
        .query::<&Cargo>()
        .iter(world)
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["pre"], "nothing imported");
    t.close().unwrap();
    assert_eq!(snapshot_ids(&db), before, "no snapshot written");
}
