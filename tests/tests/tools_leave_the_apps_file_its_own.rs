//! A tool working on an app's file — `dizzy import` and `dizzy compact
//! --squash` run by the `dizzy` binary, which registers its demos' types and
//! resources and has a schedule of its own — leaves the file the app's: no
//! resource of the tool's is added, the recorded code stays the app's, so
//! the app resumes it without a code-change report (even under
//! `CodeChange::Refuse`); `compact --squash` reports the file's size before.

use std::path::Path;

use dizzy::prelude::*;
use dizzy::{CodeChange, Store};
use dizzy_tests::{dizzy_json, dizzy_ok};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Order {
    total: u32,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Invoice {
    #[entities]
    order: Entity,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Invoiced;

#[derive(Resource, Serialize, Deserialize, Clone, Debug, Default)]
struct Day(u32);

fn invoice(mut commands: Commands, orders: Query<Entity, (With<Order>, Without<Invoiced>)>) {
    for e in &orders {
        commands.spawn(Invoice { order: e });
        commands.entity(e).insert(Invoiced);
    }
}

fn clock(mut day: ResMut<Day>) {
    day.0 += 1;
}

fn app(db: &Path) -> App {
    let mut app = App::new()
        .db(db)
        .component::<Order>("billing.order")
        .component::<Invoice>("billing.invoice")
        .component::<Invoiced>("billing.invoiced")
        .resource::<Day>("billing.day", Day(0))
        .systems((clock, invoice).chain())
        .on_code_change(CodeChange::Refuse)
        .snapshot_every_ticks(1);
    app.setup()
        .declare(invoice)
        .creates::<Invoice>()
        .creates::<Invoiced>();
    app
}

/// The resources the file's newest snapshot holds.
fn resource_names(db: &Path) -> Vec<String> {
    let store = Store::open_to_read(db).unwrap();
    let registry = dizzy::Registry::new();
    let mut inspector =
        dizzy::snapshots::Inspector::new(&store, &registry, dizzy::snapshots::Decode::All).unwrap();
    inspector
        .at(None)
        .unwrap()
        .resources
        .keys()
        .cloned()
        .collect()
}

#[test]
fn an_import_and_a_squash_by_the_dizzy_binary_leave_the_file_the_apps() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.redb");
    let dst = dir.path().join("dst.redb");
    // The app's own file has no entities yet: kept values (this binary does
    // not register the app's types) cannot follow uids that change.
    for (db, orders) in [(&src, 3), (&dst, 0)] {
        let mut rt = app(db).open().unwrap();
        for i in 0..orders {
            rt.spawn(Order { total: 10 + i });
        }
        rt.run_ticks(2).unwrap();
        rt.close().unwrap();
    }
    let bundle = dir.path().join("x.bundle");
    let (src_s, dst_s, bundle_s) = (
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        bundle.to_str().unwrap(),
    );
    dizzy_ok(&[
        "export",
        "--db",
        src_s,
        "--with",
        "billing.invoice",
        "-o",
        bundle_s,
    ]);
    dizzy_ok(&["import", "--db", dst_s, bundle_s, "--unknown", "keep"]);
    assert_eq!(
        resource_names(&dst),
        ["billing.day"],
        "only the app's resource"
    );

    // The app resumes its file: no code change, its resource as it was.
    let mut rt = app(&dst).open().expect("the app resumes after the import");
    assert!(rt.code_changes().is_none());
    assert_eq!(rt.world().resource::<Day>().0, 2);
    let invoices = rt.world_mut().query::<&Invoice>().iter(rt.world()).count();
    assert_eq!(invoices, 3, "the imported");
    rt.run_ticks(1).unwrap();
    rt.close().unwrap();

    // A squash by the binary: the same.
    let size = std::fs::metadata(&dst).unwrap().len();
    let report = dizzy_json(&["compact", "--db", dst_s, "--squash", "--json"]);
    assert_eq!(report["bytes_before"], size, "{report}");
    assert_eq!(
        Store::open_to_read(&dst).unwrap().snapshot_count().unwrap(),
        1
    );
    assert_eq!(resource_names(&dst), ["billing.day"]);
    let rt = app(&dst).open().expect("the app resumes after the squash");
    assert!(rt.code_changes().is_none());
    assert_eq!(rt.world().resource::<Day>().0, 3);
    rt.close().unwrap();

    // A new file made by an import holds none of the tool's resources.
    let fresh = dir.path().join("fresh.redb");
    dizzy_ok(&[
        "import",
        "--db",
        fresh.to_str().unwrap(),
        bundle_s,
        "--unknown",
        "keep",
    ]);
    assert!(
        resource_names(&fresh).is_empty(),
        "{:?}",
        resource_names(&fresh)
    );
}
