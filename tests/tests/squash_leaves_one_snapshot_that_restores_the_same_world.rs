//! Squashing writes the latest state as one full snapshot and deletes all
//! the others in one transaction: `Runtime::squash` and `dizzy compact
//! --squash --keep-last 1` leave exactly one snapshot, which restores the
//! same world by uid (references, resources, uids to come), and the run
//! goes on from it.

use std::collections::BTreeMap;
use std::path::Path;

use dizzy::prelude::*;
use dizzy::snapshots::entities_at;
use dizzy::{SnapshotKind, Store};
use dizzy_tests::dizzy_json;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Cell {
    generation: u64,
    value: i64,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Parent {
    #[entities]
    of: Entity,
}

#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
struct Born(u64);

/// Every tick, one cell in sixteen (by uid) lives: its value changes, every
/// third such cell splits (a child referencing it), one whose value reaches
/// a multiple of 7 dies. Cells are
/// taken in uid order, so that spawns (and the uids they get) do not depend
/// on the query's order.
fn life(
    mut commands: Commands,
    mut cells: Query<(Entity, &Uid, &mut Cell)>,
    mut born: ResMut<Born>,
    tick: Res<TickCount>,
) {
    let mut cells: Vec<_> = cells.iter_mut().collect();
    cells.sort_by_key(|(_, uid, _)| uid.get());
    for (e, uid, mut c) in cells {
        if uid.get() % 16 != tick.0 % 16 {
            continue;
        }
        c.value = (c.value * 3 + tick.0 as i64) % 101;
        if c.value % 7 == 0 {
            commands.entity(e).despawn();
        } else if c.value % 3 == 0 {
            born.0 += 1;
            commands.spawn((
                Cell {
                    generation: c.generation + 1,
                    value: c.value + 1,
                },
                Parent { of: e },
            ));
        }
    }
}

fn app(db: &Path) -> App {
    let mut app = App::new()
        .db(db)
        .component::<Cell>("life.cell")
        .component::<Parent>("life.parent")
        .resource("life.born", Born::default())
        .systems(life)
        // A child outlives its parent: the reference is dropped.
        .refs(RefPolicy::Drop)
        .snapshot_every_ticks(1);
    app.setup()
        .declare(life)
        .creates::<Cell>()
        .creates::<Parent>();
    app
}

/// The world by uid: each cell with the uid of its parent.
fn world_by_uid(rt: &mut Runtime) -> (BTreeMap<u64, (Cell, Option<u64>)>, u64) {
    let world = rt.world_mut();
    let cells = world
        .query::<(&Uid, &Cell, Option<&Parent>)>()
        .iter(world)
        .map(|(uid, c, p)| {
            let parent = p.and_then(|p| world.get::<Uid>(p.of)).map(|u| u.get());
            (uid.get(), (c.clone(), parent))
        })
        .collect();
    (cells, world.resource::<Born>().0)
}

#[test]
fn runtime_squash_leaves_one_snapshot_and_the_same_world() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("life.redb");
    let mut rt = app(&db).open().unwrap();
    for value in 1..=200 {
        rt.spawn(Cell {
            generation: 0,
            value,
        });
    }
    // Each tick's snapshot durable before the next: a chain of deltas.
    for _ in 0..12 {
        rt.tick().unwrap();
        rt.flush().unwrap();
    }
    let before = rt.store().unwrap().snapshots().unwrap();
    assert!(
        before.len() > 10 && before.iter().any(|m| m.kind == SnapshotKind::Delta),
        "a chain of deltas: {before:?}"
    );
    let world = world_by_uid(&mut rt);
    assert!(world.0.values().any(|(_, parent)| parent.is_some()));

    let id = rt
        .squash()
        .unwrap()
        .expect("a file-backed runtime squashes");
    let snapshots = rt.store().unwrap().snapshots().unwrap();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(
        (snapshots[0].id, snapshots[0].kind),
        (id, SnapshotKind::Full)
    );
    assert_eq!(snapshots[0].tick, 12);
    rt.close().unwrap();
    assert_eq!(
        Store::open_to_read(&db).unwrap().snapshot_count().unwrap(),
        1
    );

    // The one snapshot restores the same world, and the run goes on from
    // it exactly as an unsquashed run would.
    let mut resumed = app(&db).open().unwrap();
    assert_eq!(resumed.resumed_from(), Some(id));
    assert_eq!(world_by_uid(&mut resumed), world);
    resumed.run_ticks(3).unwrap();
    let after_squash = world_by_uid(&mut resumed);
    resumed.close().unwrap();

    let unsquashed = dir.path().join("plain.redb");
    let mut plain = app(&unsquashed).open().unwrap();
    for value in 1..=200 {
        plain.spawn(Cell {
            generation: 0,
            value,
        });
    }
    plain.run_ticks(15).unwrap();
    assert_eq!(world_by_uid(&mut plain), after_squash);
    plain.close().unwrap();
}

#[test]
fn compact_squash_keeps_exactly_one_snapshot_of_a_file_the_tool_cannot_decode() {
    // A file of this test's app: the `dizzy` binary registers none of its
    // types, and keeps their values byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("life.redb");
    let mut rt = app(&db).open().unwrap();
    for value in 1..=200 {
        rt.spawn(Cell {
            generation: 0,
            value,
        });
    }
    for _ in 0..5 {
        rt.tick().unwrap();
        rt.flush().unwrap();
    }
    // A chain whose deltas reach the size of its full snapshot ends with a
    // full one: tick on until the latest snapshot is a delta.
    let latest_kind = |rt: &Runtime| rt.store().unwrap().latest().unwrap().unwrap().kind;
    for _ in 0..20 {
        if latest_kind(&rt) == SnapshotKind::Delta {
            break;
        }
        rt.tick().unwrap();
        rt.flush().unwrap();
    }
    let world = world_by_uid(&mut rt);
    rt.close().unwrap();

    let registry = app(&db).registry_owned();
    let read = |db: &Path| {
        let store = Store::open_to_read(db).unwrap();
        let count = store.snapshot_count().unwrap();
        let latest = store.latest().unwrap().unwrap();
        let seen = entities_at(&store, &registry, None).unwrap();
        (count, latest, seen.entities, seen.resources)
    };
    let (_, latest, entities, resources) = read(&db);
    assert_eq!(latest.kind, SnapshotKind::Delta);
    let db_arg = db.to_str().unwrap();

    // Retention alone keeps the chain the latest delta needs.
    let kept = dizzy_json(&["compact", "--db", db_arg, "--keep-last", "1", "--json"]);
    assert!(kept["snapshots"].as_u64().unwrap() > 1, "{kept}");

    let squashed = dizzy_json(&[
        "compact",
        "--db",
        db_arg,
        "--squash",
        "--keep-last",
        "1",
        "--json",
    ]);
    assert_eq!(squashed["snapshots"], 1, "{squashed}");
    let (count, meta, entities_after, resources_after) = read(&db);
    assert_eq!(count, 1);
    assert_eq!(squashed["squashed"], meta.id, "{squashed}");
    assert_eq!(meta.kind, SnapshotKind::Full);
    assert_eq!((meta.tick, meta.uid_next), (latest.tick, latest.uid_next));
    // The record of the code that wrote the state is carried over.
    assert_eq!(meta.app, latest.app);
    assert_eq!(entities_after, entities, "the same world by uid");
    assert_eq!(resources_after, resources);
    let list = dizzy_json(&["snapshots", "--db", db_arg, "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // The app resumes the squashed file into the same world, with no code
    // change to report.
    let mut resumed = app(&db).open().unwrap();
    assert_eq!(resumed.resumed_from(), Some(meta.id));
    assert_eq!(resumed.code_changes(), None);
    assert_eq!(world_by_uid(&mut resumed), world);
    resumed.tick().unwrap();
    resumed.close().unwrap();
}
