//! An entity spawned or imported between a resume and its first tick is in
//! the world at the next open. Before, when the resume made again the
//! despawn of an entity whose `on_add` hook spawns (without looking at
//! `Restoring`, which the README allows: what a hook spawns during a
//! restore is taken out when it ends), the hook's entity took the next uid,
//! and taking it out was recorded as a removal; the next snapshot carried
//! that record, and the next restore made it again on the entity that got
//! the uid since — a relationship put on it, then its target despawned
//! with it (found by a fresh tester, a bee meadow).

use std::path::Path;

use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug, PartialEq)]
struct Note(String);

#[derive(Component, Serialize, Deserialize)]
#[component(on_add = sprout)]
struct Sprout;

#[derive(Component, Serialize, Deserialize)]
struct Leaf;

/// A leaf for every sprout, during a restore too.
fn sprout(mut world: DeferredWorld, ctx: HookContext) {
    world.commands().spawn((Leaf, ChildOf(ctx.entity)));
}

#[derive(Resource, Serialize, Deserialize, Default)]
struct Tick(u64);

/// Despawns every sprout (and so its leaf) at tick 2.
fn reaper(mut commands: Commands, q: Query<Entity, With<Sprout>>, mut t: ResMut<Tick>) {
    t.0 += 1;
    if t.0 == 2 {
        for e in &q {
            commands.entity(e).despawn();
        }
    }
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Note>("meadow.note")
        .component::<Sprout>("meadow.sprout")
        .component::<Leaf>("meadow.leaf")
        .component::<ChildOf>("meadow.child_of")
        .resource("meadow.tick", Tick(0))
        .systems(reaper)
}

fn notes(run: &mut dizzy::Runtime) -> Vec<(u64, String)> {
    let world = run.world_mut();
    let mut q = world.query::<(&Uid, &Note)>();
    let mut v: Vec<(u64, String)> = q.iter(world).map(|(u, n)| (u.get(), n.0.clone())).collect();
    v.sort();
    v
}

#[test]
fn a_spawn_or_an_import_before_the_first_tick_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    for (k, how) in ["spawn", "import", "spawn, then a tick"]
        .into_iter()
        .enumerate()
    {
        let db = dir.path().join(format!("meadow-{k}.redb"));
        let mut run = app(&db).open().unwrap();
        run.spawn(Note("first".into()));
        run.spawn(Sprout);
        run.run_ticks(2).unwrap();
        run.close().unwrap();

        let mut run = app(&db).open().unwrap();
        let first = notes(&mut run)[0].0;
        let uid = if how == "import" {
            let bundle = run
                .export(&Selection::Uids(vec![first]), &ExportOptions::default())
                .unwrap();
            let map = run
                .import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
                .unwrap();
            map[&first]
        } else {
            let e = run.spawn(Note("second".into()));
            run.world().get::<Uid>(e).unwrap().get()
        };
        if how == "spawn, then a tick" {
            run.run_ticks(1).unwrap();
        }
        let before = notes(&mut run);
        assert!(before.iter().any(|n| n.0 == uid), "{how}");
        run.close().unwrap();

        for _ in 0..2 {
            let mut run = app(&db).open().unwrap();
            assert_eq!(notes(&mut run), before, "{how}: the next open");
            run.close().unwrap();
        }
    }
}
