//! A hook that panics while a bundle's values go in leaves part of the
//! bundle in the world. Before, `Runtime::import` let the panic through
//! and a caller that caught it could snapshot the half-imported world.
//! Now the import says so (`ImportError::Panicked`), and the runtime, as
//! after a system's panic, refuses further ticks and snapshots: the file
//! never holds half a bundle.

use std::path::Path;

use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::prelude::*;
use dizzy::snapshots::{ExportOptions, ImportError, OnConflict, Selection};

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
#[component(on_add = check)]
struct Crate(u32);

fn check(world: DeferredWorld, ctx: HookContext) {
    let n = world.get::<Crate>(ctx.entity).map_or(0, |c| c.0);
    if n == 13 && world.contains_resource::<dizzy::components::Restoring>() {
        panic!("crate 13 is unlucky");
    }
}

fn app(db: &Path) -> App {
    App::new().db(db).component::<Crate>("dock.crate")
}

fn crates(rt: &mut Runtime) -> Vec<u32> {
    let w = rt.world_mut();
    let mut v: Vec<u32> = w.query::<&Crate>().iter(w).map(|c| c.0).collect();
    v.sort_unstable();
    v
}

#[test]
fn the_file_keeps_the_world_before_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let mut other = App::new()
        .component::<Crate>("dock.crate")
        .in_memory()
        .open()
        .unwrap();
    for n in [12, 13, 14] {
        other.spawn(Crate(n));
    }
    let bundle = other
        .export(
            &Selection::With("dock.crate".into()),
            &ExportOptions::default(),
        )
        .unwrap();

    let db = dir.path().join("dock.redb");
    let mut rt = app(&db).open().unwrap();
    rt.spawn(Crate(1));
    rt.tick().unwrap();
    rt.snapshot().unwrap();
    let err = rt
        .import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap_err();
    assert!(
        matches!(err, ImportError::Panicked(ref m) if m.contains("unlucky")),
        "{err}"
    );
    assert!(rt.tick().is_err(), "no tick after a half import");
    assert!(rt.snapshot().is_err(), "no snapshot of a half import");
    assert!(
        rt.import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
            .is_err()
    );
    rt.close().unwrap();

    let mut again = app(&db).open().unwrap();
    assert_eq!(
        crates(&mut again),
        [1],
        "the file holds the world before the import"
    );
    again.close().unwrap();
}
