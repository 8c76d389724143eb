//! A resumed world holds the same entities as a run that never stopped,
//! counted with a plain `Query<Entity>` (resources are entities in bevy
//! 0.20). Found by a fresh tester: every resume left one entity holding
//! only `IsResource`, the remains of the marker a restore inserts while it
//! runs (`Restoring`), because bevy's `remove_resource` keeps the entity.

use std::path::Path;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Lamp(u32);

fn brighten(mut lamps: Query<&mut Lamp>) {
    for mut l in &mut lamps {
        l.0 += 1;
    }
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Lamp>("hall.lamp")
        .systems(brighten)
        .snapshot_every_ticks(1)
}

fn entities(rt: &mut Runtime) -> usize {
    let world = rt.world_mut();
    world.query::<Entity>().iter(world).count()
}

#[test]
fn resumes_add_no_entity() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight.redb");
    let mut rt = app(&straight).open().unwrap();
    for i in 0..3 {
        rt.spawn(Lamp(i));
    }
    rt.run_ticks(4).unwrap();
    let expected = entities(&mut rt);
    rt.close().unwrap();

    let resumed = dir.path().join("resumed.redb");
    let mut rt = app(&resumed).open().unwrap();
    for i in 0..3 {
        rt.spawn(Lamp(i));
    }
    rt.run_ticks(1).unwrap();
    rt.close().unwrap();
    for _ in 0..3 {
        let mut rt = app(&resumed).open().unwrap();
        rt.run_ticks(1).unwrap();
        rt.close().unwrap();
    }
    let mut rt = app(&resumed).open().unwrap();
    assert_eq!(entities(&mut rt), expected, "entities after four resumes");
    rt.close().unwrap();
}
