//! A component hook that spawns a persisted entity without checking
//! `Restoring` (the README's `Shipped`/`Receipt` example, check left out),
//! run during `Runtime::import`: dizzy despawns what it spawned. The
//! allocator was then put back below the uid the hook had taken, so the
//! run that went on handed that uid out again, while a resume (whose file
//! records the despawn, and whose restore made it again with a stand-in
//! that moved the allocator past it) handed out the next one: the worlds
//! differed by uid (found by a fresh tester, an epidemic). The hook's
//! entity was in the world for a moment: its uid stays used, its despawn
//! is seen by `RemovedComponents` readers, in the run that goes on and
//! after a resume alike.

use std::path::Path;

use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::prelude::*;
use dizzy::{ExportOptions, OnConflict, Selection};

#[derive(Component, Serialize, Deserialize)]
#[component(on_add = shipped)]
struct Shipped;

#[derive(Component, Serialize, Deserialize)]
struct Receipt(#[entities] Entity);

#[derive(Component, Serialize, Deserialize)]
struct Marker(u32);

#[derive(Resource, Serialize, Deserialize, Default, Debug)]
struct Seen(u64);

/// No `Restoring` check: it spawns during imports too.
fn shipped(mut world: DeferredWorld, ctx: HookContext) {
    world.commands().spawn(Receipt(ctx.entity));
}

fn watch(mut r: RemovedComponents<Receipt>, mut seen: ResMut<Seen>) {
    seen.0 += r.read().count() as u64;
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Shipped>("t.shipped")
        .component::<Receipt>("t.receipt")
        .component::<Marker>("t.marker")
        .resource("t.seen", Seen::default())
        .systems(watch)
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// Every entity by uid (what it holds), and the removals seen.
fn state(rt: &mut Runtime) -> (Vec<String>, u64) {
    let w = rt.world_mut();
    let mut v: Vec<String> = w
        .query::<(&Uid, Option<&Marker>, Has<Shipped>, Has<Receipt>)>()
        .iter(w)
        .map(|(u, m, s, r)| format!("{} {:?} {s} {r}", u.get(), m.map(|m| m.0)))
        .collect();
    v.sort();
    (v, w.resource::<Seen>().0)
}

fn run(dir: &Path, name: &str, reopen: bool) -> (Vec<String>, u64) {
    let bundle = {
        let mut src = app(&dir.join("src.redb")).in_memory().open().unwrap();
        src.spawn(Shipped);
        src.export(
            &Selection::With("t.shipped".into()),
            &ExportOptions::default(),
        )
        .unwrap()
        .bytes
    };
    let db = dir.join(format!("{name}.redb"));
    let mut rt = app(&db).open().unwrap();
    rt.spawn(Marker(1));
    rt.run_ticks(2).unwrap();
    rt.import(&bundle, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    if reopen {
        rt.close().unwrap();
        rt = app(&db).open().unwrap();
    }
    for k in 2..6 {
        rt.tick().unwrap();
        rt.spawn(Marker(k));
        rt.snapshot().unwrap();
        rt.flush().unwrap();
    }
    rt.close().unwrap();
    // And what the file gives back.
    let mut again = app(&db).open().unwrap();
    let out = state(&mut again);
    again.close().unwrap();
    out
}

#[test]
fn the_run_that_goes_on_and_the_resumed_one_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (world, seen) = run(dir.path(), "on", false);
    // The hook's receipt went, and its removal was seen.
    assert_eq!(seen, 1, "{world:?}");
    assert!(world.iter().all(|l| !l.ends_with("true")), "{world:?}");
    // Nothing lost: the import and every marker.
    assert_eq!(world.len(), 6, "{world:?}");
    assert_eq!(run(dir.path(), "resumed", true), (world, seen));
}
