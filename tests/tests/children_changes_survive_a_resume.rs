//! bevy's `Children` (a relationship's target list) is never stored: a
//! restore rebuilds it from `ChildOf`. When it changed is carried all the
//! same: a `Changed<Children>` or `Added<Children>` reader that runs before
//! the system that adopts sees the adoption at the next tick, after a
//! resume too (found by a fresh tester: resumed right after the adoption,
//! the reader saw nothing). Also through a squash by the `dizzy` binary,
//! which does not register the app's types.

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
struct Ship(u32);
#[derive(Component, Serialize, Deserialize)]
struct Crate(u32);
#[derive(Resource, Serialize, Deserialize, Default)]
struct Journal(Vec<String>);

fn watch(
    tick: Res<TickCount>,
    changed: Query<&Ship, Changed<Children>>,
    added: Query<&Ship, Added<Children>>,
    mut j: ResMut<Journal>,
) {
    let mut c: Vec<u32> = changed.iter().map(|s| s.0).collect();
    let mut a: Vec<u32> = added.iter().map(|s| s.0).collect();
    c.sort();
    a.sort();
    j.0.push(format!("{} changed {c:?} added {a:?}", tick.0));
}

/// Runs after the watcher: a crate for ship 0 at tick 4, one for a new
/// ship 2 at tick 6, and crate 1 moves to ship 0 at tick 7.
fn adopt(
    tick: Res<TickCount>,
    ships: Query<(Entity, &Ship)>,
    crates: Query<(Entity, &Crate)>,
    mut commands: Commands,
) {
    let ship = |n: u32| ships.iter().find(|(_, s)| s.0 == n).map(|(e, _)| e);
    match tick.0 {
        4 => {
            commands.spawn((Crate(9), ChildOf(ship(0).unwrap())));
        }
        6 => {
            let s = commands.spawn(Ship(2)).id();
            commands.spawn((Crate(7), ChildOf(s)));
        }
        7 => {
            let (c, _) = crates.iter().find(|(_, c)| c.0 == 1).unwrap();
            commands.entity(c).insert(ChildOf(ship(0).unwrap()));
        }
        _ => {}
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Ship>("cc.ship")
        .component::<Crate>("cc.crate")
        .component::<ChildOf>("cc.child_of")
        .resource("cc.journal", Journal::default())
        .systems((watch, adopt).chain())
}

const TICKS: u64 = 9;

fn journal(dir: &std::path::Path, stop: Option<u64>, squash: bool) -> Vec<String> {
    let db = dir.join(format!("c-{stop:?}-{squash}.redb"));
    let mut run = app(&db).open().unwrap();
    for i in 0..2 {
        let s = run.spawn(Ship(i));
        run.spawn((Crate(i), ChildOf(s)));
    }
    if let Some(stop) = stop {
        run.run_ticks(stop).unwrap();
        run.close().unwrap();
        if squash {
            dizzy_tests::squash_without_the_apps_types(&db);
        }
        run = app(&db).open().unwrap();
        run.run_ticks(TICKS - stop).unwrap();
    } else {
        run.run_ticks(TICKS).unwrap();
    }
    let j = run.world().resource::<Journal>().0.clone();
    run.close().unwrap();
    j
}

#[test]
fn a_reader_of_children_sees_the_same_changes_after_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let want = journal(dir.path(), None, false);
    assert!(
        want.contains(&"5 changed [0] added []".to_owned()),
        "{want:?}"
    );
    assert!(
        want.contains(&"7 changed [2] added [2]".to_owned()),
        "{want:?}"
    );
    for squash in [false, true] {
        for stop in 1..TICKS {
            assert_eq!(
                journal(dir.path(), Some(stop), squash),
                want,
                "closed after tick {stop} (squashed by a tool: {squash})"
            );
        }
    }
}
