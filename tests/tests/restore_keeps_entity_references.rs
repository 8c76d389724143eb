//! A world with several component types, resources and entity references,
//! snapshotted and restored through the engine, equals the original —
//! compared by uid, component by component — at the latest snapshot and at
//! an earlier one.

use std::collections::BTreeMap;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Position {
    x: f32,
    y: f32,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Label(String);

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Friends {
    #[entities]
    best: Entity,
    #[entities]
    others: Vec<Entity>,
    note: Option<String>,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(storage = "SparseSet")]
struct Rare(u8);

#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(map_entities)]
struct Census {
    count: u64,
    oldest: Entity,
}

impl bevy_ecs::entity::MapEntities for Census {
    fn map_entities<M: bevy_ecs::entity::EntityMapper>(&mut self, m: &mut M) {
        self.oldest = m.get_mapped(self.oldest);
    }
}

/// Moves everything, and every 3rd tick rewires a friendship.
fn drift(mut q: Query<&mut Position>, ticks: Res<TickCount>, mut f: Query<&mut Friends>) {
    for mut p in &mut q {
        p.x += 1.0;
    }
    if ticks.0.is_multiple_of(3) {
        let all: Vec<Entity> = f.iter().map(|f| f.best).collect();
        for (mut friends, best) in f.iter_mut().zip(all.into_iter().rev()) {
            friends.best = best;
        }
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Position>("t.position")
        .component::<Label>("t.label")
        .component::<Friends>("t.friends")
        .component::<Rare>("t.rare")
        .resource(
            "t.census",
            Census {
                count: 0,
                oldest: Entity::PLACEHOLDER,
            },
        )
        .systems(drift)
        .snapshot_policy(SnapshotPolicy::OFF)
}

type Row = (
    Option<Position>,
    Option<Label>,
    Option<(u64, Vec<u64>, Option<String>)>,
    Option<Rare>,
);

fn dump(world: &mut World) -> (BTreeMap<u64, Row>, (u64, u64)) {
    let uid = |w: &World, e: Entity| w.get::<Uid>(e).map_or(0, |u| u.get());
    let mut rows = BTreeMap::new();
    let mut q = world.query::<(
        &Uid,
        Option<&Position>,
        Option<&Label>,
        Option<&Friends>,
        Option<&Rare>,
    )>();
    for (u, p, l, f, r) in q.iter(world) {
        let f = f.map(|f| {
            (
                uid(world, f.best),
                f.others.iter().map(|&e| uid(world, e)).collect(),
                f.note.clone(),
            )
        });
        rows.insert(u.get(), (p.cloned(), l.cloned(), f, r.cloned()));
    }
    let c = world.resource::<Census>();
    (rows, (c.count, uid(world, c.oldest)))
}

#[test]
fn restored_world_equals_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    let mut rt = app(&db).open().unwrap();
    let mut ents = Vec::new();
    for i in 0..200u32 {
        let e = rt.spawn((
            Position {
                x: i as f32,
                y: 0.5,
            },
            Label(format!("n{i}")),
        ));
        if i % 10 == 0 {
            rt.world_mut().entity_mut(e).insert(Rare(i as u8));
        }
        ents.push(e);
    }
    for i in 0..200 {
        if i % 2 == 1 {
            let f = Friends {
                best: ents[(i * 31) % 200],
                others: vec![ents[(i + 1) % 200], ents[(i + 7) % 200]],
                note: (i % 4 == 1).then(|| format!("note {i}")),
            };
            rt.world_mut().entity_mut(ents[i]).insert(f);
        }
    }
    rt.world_mut().insert_resource(Census {
        count: 200,
        oldest: ents[0],
    });
    rt.run_ticks(4).unwrap();
    let first = rt.snapshot().unwrap().unwrap();
    let at_first = dump(rt.world_mut());

    // Change, remove, despawn, spawn — then a delta.
    rt.run_ticks(2).unwrap();
    rt.world_mut().entity_mut(ents[3]).remove::<Friends>();
    rt.world_mut().entity_mut(ents[10]).remove::<Rare>();
    rt.world_mut().despawn(ents[7]);
    // Nobody may point at the despawned entity any more.
    let mut q = rt.world_mut().query::<&mut Friends>();
    for mut f in q.iter_mut(rt.world_mut()) {
        if f.best == ents[7] {
            f.best = ents[0];
        }
        f.others.retain(|&e| e != ents[7]);
    }
    let late = rt.spawn((
        Label("late".into()),
        Friends {
            best: ents[1],
            others: vec![],
            note: None,
        },
    ));
    rt.world_mut().resource_mut::<Census>().oldest = late;
    rt.run_ticks(1).unwrap();
    let second = rt.snapshot().unwrap().unwrap();
    assert!(second > first);
    let at_second = dump(rt.world_mut());
    let ticks = rt.tick_count();
    rt.close().unwrap();

    let mut again = app(&db).open().unwrap();
    assert_eq!(again.resumed_from(), Some(second));
    assert_eq!(again.tick_count(), ticks);
    assert_eq!(dump(again.world_mut()), at_second);
    // New uids never collide with restored ones.
    let fresh = again.spawn(Label("fresh".into()));
    let fresh_uid = again.world().get::<Uid>(fresh).unwrap().get();
    assert!(!at_second.0.contains_key(&fresh_uid));
    drop(again);

    let mut old = app(&db).at_snapshot(first).open().unwrap();
    assert_eq!(old.resumed_from(), Some(first));
    assert_eq!(dump(old.world_mut()), at_first);
}
