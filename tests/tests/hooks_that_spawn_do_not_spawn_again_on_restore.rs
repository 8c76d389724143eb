//! A component hook that spawns an entity (a receipt for each shipped
//! crate) runs as values are restored too; what it spawns while a world is
//! restored is undone, since the snapshot holds those entities already. So
//! reopening never adds receipts, uids stay unique, and the file keeps
//! opening, round after round, from full snapshots and deltas. `Restoring`
//! exists while a world is restored (a hook can skip side effects), and is
//! gone when user code starts.

use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::world::DeferredWorld;
use dizzy::components::Restoring;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug)]
#[component(on_add = shipped_added)]
struct Shipped;

#[derive(Component, Serialize, Deserialize, Debug)]
struct Receipt {
    #[entities]
    of: Entity,
}

#[derive(Component, Serialize, Deserialize, Debug)]
struct Crate(u32);

fn shipped_added(mut world: DeferredWorld, ctx: HookContext) {
    world.commands().spawn(Receipt { of: ctx.entity });
}

/// Each tick: a new crate; ship the oldest unshipped one.
fn work(
    mut commands: Commands,
    tick: Res<TickCount>,
    q: Query<(Entity, &Crate), Without<Shipped>>,
) {
    commands.spawn(Crate(tick.0 as u32));
    if let Some((e, _)) = q.iter().min_by_key(|(_, c)| c.0) {
        commands.entity(e).insert(Shipped);
    }
}

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Crate>("h.crate")
        .component::<Shipped>("h.shipped")
        .component::<Receipt>("h.receipt")
        .snapshot_policy(SnapshotPolicy::OFF)
        .systems(work)
}

/// (shipped, receipts, receipts naming a shipped crate)
fn counts(run: &mut Runtime) -> (usize, usize, usize) {
    let w = run.world_mut();
    let shipped = w.query::<&Shipped>().iter(w).count();
    let receipts: Vec<Entity> = w.query::<&Receipt>().iter(w).map(|r| r.of).collect();
    let good = receipts
        .iter()
        .filter(|&&e| w.get::<Shipped>(e).is_some())
        .count();
    (shipped, receipts.len(), good)
}

#[test]
fn reopening_never_adds_receipts() {
    for full in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.redb");
        for round in 1..=5 {
            let mut run = app(&path)
                .open()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let before = counts(&mut run);
            assert_eq!(before.0, before.1, "round {round}: one receipt per crate");
            assert_eq!(before.1, before.2, "round {round}: receipts name crates");
            run.run_ticks(3).unwrap();
            let after = counts(&mut run);
            // The first tick has nothing to ship yet.
            let shipped = if round == 1 { 2 } else { 3 };
            assert_eq!(after.0, before.0 + shipped, "round {round}");
            assert_eq!(after.0, after.1, "round {round}: one receipt per crate");
            if full && round % 2 == 0 {
                run.snapshot_full().unwrap();
            }
            run.close().unwrap();
        }
    }
}

#[test]
fn hooks_can_tell_a_restore_from_live_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.redb");
    let mut run = app(&path).open().unwrap();
    run.run_ticks(3).unwrap();
    run.snapshot_full().unwrap();
    run.close().unwrap();
    let mut app = app(&path);
    app.setup().on_start(|w: &mut World| {
        assert!(!w.contains_resource::<Restoring>(), "gone once restored");
    });
    let mut run = app.open().unwrap();
    assert_eq!(counts(&mut run), (2, 2, 2));
}
