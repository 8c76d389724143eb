//! What hooks see while a world is put together outside a plain open.
//! Found by a fresh tester (a library loans desk):
//! - a registered resource that names an entity (the clerk on duty) was
//!   absent for every hook of a full restore, though every entity existed
//!   before the values that hold references went in;
//! - `Runtime::import` ran hooks without `Restoring`, so once-only side
//!   effects (a receipt spawned by `on_add`) happened again;
//! - the app's own command line (`dizzy_cli::Cli`) restored and imported
//!   without the app's transient resources, so a hook that reads one made
//!   `export` and `import` fail.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::components::Restoring;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Book(String);

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Clerk(String);

/// A loan names its book; its hook reads the clerk on duty.
#[derive(Component, Serialize, Deserialize, Clone, Debug)]
#[component(on_add = stamp)]
struct Loan {
    #[entities]
    book: Entity,
}

/// A receipt, spawned by the loan's hook (a once-only side effect).
#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Receipt(u64);

#[derive(Resource, MapEntities, Serialize, Deserialize, Clone, Debug)]
struct OnDuty {
    #[entities]
    clerk: Entity,
}

/// Not persisted: the desk's stamp.
#[derive(Resource, Debug)]
struct Stamp(&'static str);

/// What the hook saw: the clerk's name and whether `Restoring` existed.
static SEEN: Mutex<Vec<(String, bool)>> = Mutex::new(Vec::new());
static LOCK: Mutex<()> = Mutex::new(());

fn stamp(mut world: DeferredWorld, ctx: HookContext) {
    let clerk = world.resource::<OnDuty>().clerk;
    let name = world
        .get::<Clerk>(clerk)
        .map_or("(none)".to_owned(), |c| c.0.clone());
    let restoring = world.contains_resource::<Restoring>();
    let stamp = world.resource::<Stamp>().0;
    SEEN.lock()
        .unwrap()
        .push((format!("{stamp}:{name}"), restoring));
    // A hook that forgets to check `Restoring`: its receipts must not
    // multiply in restores and imports.
    let n = ctx.entity.to_bits();
    world.commands().spawn(Receipt(n));
}

fn app(db: &Path) -> App {
    let mut app = App::new()
        .db(db)
        .component::<Book>("desk.book")
        .component::<Clerk>("desk.clerk")
        .component::<Loan>("desk.loan")
        .component::<Receipt>("desk.receipt")
        .resource(
            "desk.on_duty",
            OnDuty {
                clerk: Entity::PLACEHOLDER,
            },
        )
        .snapshot_every_ticks(1);
    app.setup().transient_resource(Stamp("desk"));
    app
}

fn seen() -> Vec<(String, bool)> {
    std::mem::take(&mut *SEEN.lock().unwrap())
}

fn count<T: Component>(rt: &mut Runtime) -> usize {
    let world = rt.world_mut();
    world.query::<&T>().iter(world).count()
}

/// A desk with one clerk on duty and two loans; `full` takes a full
/// snapshot after the first loan (the second is in a delta).
fn desk(db: &Path) {
    let mut rt = app(db).open().unwrap();
    let clerk = rt.spawn(Clerk("Ada".into()));
    rt.world_mut().resource_mut::<OnDuty>().clerk = clerk;
    let a = rt.spawn(Book("Dune".into()));
    let b = rt.spawn(Book("Emma".into()));
    rt.spawn(Loan { book: a });
    rt.tick().unwrap();
    rt.snapshot_full().unwrap();
    rt.spawn(Loan { book: b });
    rt.tick().unwrap();
    rt.close().unwrap();
}

#[test]
fn hooks_of_values_that_hold_references_find_resources_that_name_entities() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.redb");
    seen();
    desk(&db);
    assert_eq!(
        seen(),
        vec![
            ("desk:Ada".to_owned(), false),
            ("desk:Ada".to_owned(), false)
        ]
    );
    let mut rt = app(&db).open().expect("the desk reopens");
    // The full snapshot's loan, then the delta's: both hooks found the
    // clerk on duty, and knew they ran in a restore.
    assert_eq!(
        seen(),
        vec![("desk:Ada".to_owned(), true), ("desk:Ada".to_owned(), true)]
    );
    assert_eq!(count::<Receipt>(&mut rt), 2, "no receipt twice");
    rt.close().unwrap();
}

#[test]
fn an_import_runs_hooks_as_a_restore_does() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.redb");
    desk(&source);
    seen();
    let bundle = {
        let rt = app(&source).open().unwrap();
        let out = rt
            .export(
                &dizzy::snapshots::Selection::With("desk.loan".into()),
                &dizzy::snapshots::ExportOptions::default(),
            )
            .unwrap();
        rt.close().unwrap();
        out.bytes
    };
    seen();
    let target = dir.path().join("target.redb");
    let mut rt = app(&target).open().unwrap();
    let clerk = rt.spawn(Clerk("Bo".into()));
    rt.world_mut().resource_mut::<OnDuty>().clerk = clerk;
    rt.import(
        &bundle,
        dizzy::snapshots::OnConflict::Remap,
        RefPolicy::Fail,
    )
    .unwrap();
    assert_eq!(
        seen(),
        vec![("desk:Bo".to_owned(), true), ("desk:Bo".to_owned(), true)],
        "the import's hooks see `Restoring`"
    );
    assert_eq!(count::<Loan>(&mut rt), 2);
    assert_eq!(
        count::<Receipt>(&mut rt),
        0,
        "no receipt spawned by an import"
    );
    assert!(!rt.world().contains_resource::<Restoring>());
    rt.close().unwrap();
}

#[test]
fn the_apps_own_command_line_gives_hooks_its_transient_resources() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.redb");
    desk(&source);
    let bundle = dir.path().join("loans.bundle");
    let target = dir.path().join("target.redb");
    desk(&target);
    let (s, b, t) = (
        source.to_str().unwrap(),
        bundle.to_str().unwrap(),
        target.to_str().unwrap(),
    );
    let cli = |args: &[&str]| {
        dizzy_cli::Cli::new(app(&source))
            .run_from(std::iter::once("desk").chain(args.iter().copied()))
    };
    assert_eq!(
        cli(&["export", "--db", s, "--with", "desk.loan", "-o", b]),
        ExitCode::SUCCESS,
        "export"
    );
    assert_eq!(cli(&["import", "--db", t, b]), ExitCode::SUCCESS, "import");
    assert!(seen().iter().all(|(s, _)| s.starts_with("desk:")));
}
