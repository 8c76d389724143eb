//! A world captured (full, then deltas), committed and restored equals the
//! original, compared by uid, component by component.

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use dizzy_components::{Registry, Uid, Uids};
use dizzy_snapshots::{CaptureSettings, Capturer, RestoreOptions, Store, Want, commit, restore};
use serde::{Deserialize, Serialize};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Pos(f32, f32);
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Name(String);
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Link(#[entities] Entity);
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(storage = "SparseSet")]
struct Tag(u8);
#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Clock(u64);

fn registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Pos>("pos").unwrap();
    r.component::<Name>("name").unwrap();
    r.component::<Link>("link").unwrap();
    r.component::<Tag>("tag").unwrap();
    r.resource::<Clock>("clock").unwrap();
    r
}

type Row = (Option<Pos>, Option<Name>, Option<u64>, Option<Tag>);

fn dump(world: &mut World) -> (BTreeMap<u64, Row>, Option<Clock>) {
    let mut out = BTreeMap::new();
    let mut q = world.query::<(
        &Uid,
        Option<&Pos>,
        Option<&Name>,
        Option<&Link>,
        Option<&Tag>,
    )>();
    for (uid, p, n, l, t) in q.iter(world) {
        let link = l.map(|l| world.get::<Uid>(l.0).map_or(0, |u| u.get()));
        out.insert(uid.get(), (p.cloned(), n.cloned(), link, t.cloned()));
    }
    (out, world.get_resource::<Clock>().cloned())
}

/// A new file in `dir`, the registry, and an empty world with it installed.
fn file_and_world(dir: &std::path::Path) -> (std::path::PathBuf, Store, Registry, World) {
    let path = dir.join("w.redb");
    let store = Store::open(&path).unwrap();
    let reg = registry();
    let mut world = World::new();
    reg.install(&mut world);
    (path, store, reg, world)
}

#[test]
fn full_and_deltas_restore_to_the_same_world() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, reg, mut world) = file_and_world(dir.path());
    world.insert_resource(Clock(7));
    let mut ents = Vec::new();
    for i in 0..500u32 {
        let mut e = world.spawn((Pos(i as f32, 1.0), Name(format!("e{i}"))));
        if i % 3 == 0 {
            e.insert(Tag(i as u8));
        }
        ents.push(e.id());
    }
    for i in 0..500usize {
        if i % 2 == 0 {
            world
                .entity_mut(ents[i])
                .insert(Link(ents[(i * 7 + 1) % 500]));
        }
    }
    let mut cap = Capturer::new(
        CaptureSettings {
            chunk_bytes: 512,
            ..Default::default()
        },
        1,
    );
    let db = store.database().unwrap().clone();
    let c = cap.capture(&mut world, &reg, 1, Want::Auto).unwrap();
    assert_eq!(c.meta.kind, dizzy_snapshots::SnapshotKind::Full);
    assert!(c.chunks.len() > 4, "small chunks: {}", c.chunks.len());
    commit(&db, &path, &c).unwrap();
    let expect1 = dump(&mut world);
    // The capture put the references back.
    assert_eq!(world.get::<Link>(ents[0]).unwrap().0, ents[1]);

    // Mutate: change, remove, despawn, spawn, resource.
    world.get_mut::<Pos>(ents[5]).unwrap().0 = -5.0;
    world.entity_mut(ents[6]).remove::<Name>();
    world.entity_mut(ents[9]).remove::<Tag>();
    world.despawn(ents[8]);
    let new = world.spawn((Name("new".into()), Link(ents[4]))).id();
    world.entity_mut(ents[4]).insert(Link(new));
    world.resource_mut::<Clock>().0 = 8;
    let d = cap.capture(&mut world, &reg, 2, Want::Auto).unwrap();
    assert_eq!(d.meta.kind, dizzy_snapshots::SnapshotKind::Delta);
    assert!(
        d.meta.bytes * 10 < c.meta.bytes,
        "delta {} vs full {}",
        d.meta.bytes,
        c.meta.bytes
    );
    commit(&db, &path, &d).unwrap();
    let expect2 = dump(&mut world);

    // A second delta with nothing changed.
    let e = cap.capture(&mut world, &reg, 3, Want::Auto).unwrap();
    commit(&db, &path, &e).unwrap();

    let r = restore(
        &store,
        &reg,
        &RestoreOptions {
            snapshot: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let mut w1 = r.world;
    assert_eq!(dump(&mut w1), expect1);
    let r = restore(&store, &reg, &RestoreOptions::default()).unwrap();
    assert_eq!(r.meta.id, 3);
    assert_eq!(r.chain.len(), 3);
    let mut w2 = r.world;
    assert_eq!(dump(&mut w2), expect2);
    assert!(w2.resource_mut::<Uids>().allocate().get() > 501);
}

#[test]
fn dangling_reference_fails_capture_and_leaves_world_unchanged() {
    let reg = registry();
    let mut world = World::new();
    reg.install(&mut world);
    let ghost = world.spawn_empty().id();
    let a = world.spawn((Name("a".into()), Link(ghost))).id();
    let mut cap = Capturer::new(CaptureSettings::default(), 1);
    let err = cap.capture(&mut world, &reg, 1, Want::Full).unwrap_err();
    assert!(err.to_string().contains("`link`"), "{err}");
    assert_eq!(world.get::<Link>(a).unwrap().0, ghost);
}

/// A delta looks for new entities only when the world's uid index moved
/// since the previous capture ([`Uids::insert_stamp`]): every way an entity
/// gets a uid moves it, also after a resume, so each delta of a chain holds
/// the entities that appeared, and one with none holds none.
#[test]
fn a_delta_finds_the_entities_of_every_way_of_getting_a_uid() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, reg, mut world) = file_and_world(dir.path());
    for i in 0..50u32 {
        world.spawn(Pos(i as f32, 0.0));
    }
    let mut cap = Capturer::new(CaptureSettings::default(), 1);
    let db = store.database().unwrap().clone();
    let mut tick = 1;
    let mut step = |world: &mut World, cap: &mut Capturer, spawns: usize| {
        let d = cap.capture(world, &reg, tick, Want::Auto).unwrap();
        tick += 1;
        let spawned: u64 = d
            .meta
            .columns
            .iter()
            .filter(|c| c.name == "@spawn")
            .map(|c| c.rows)
            .sum();
        assert_eq!(spawned, spawns as u64, "step {tick}");
        commit(&db, &path, &d).unwrap();
        let mut restored = restore(&store, &reg, &RestoreOptions::default())
            .unwrap()
            .world;
        assert_eq!(dump(&mut restored), dump(world), "step {tick}");
    };
    step(&mut world, &mut cap, 0); // full
    step(&mut world, &mut cap, 0); // nothing appeared
    world.spawn(Name("spawned".into()));
    step(&mut world, &mut cap, 1);
    // In bulk, as restores and imports spawn.
    Uids::bulk(&mut world, |w| {
        let uids = w.resource_mut::<Uids>().allocate_many(3);
        let entities = uids
            .iter()
            .map(|&u| w.spawn((u, Name(format!("bulk {u}")))).id())
            .collect();
        (uids, entities)
    });
    step(&mut world, &mut cap, 3);
    // By commands, in a system.
    world
        .run_system_cached(|mut c: Commands| {
            c.spawn(Pos(-1.0, -1.0));
            c.spawn(Pos(-2.0, -2.0));
        })
        .unwrap();
    step(&mut world, &mut cap, 2);
    // A value change alone is no spawn.
    let mut q = world.query::<&mut Pos>();
    q.iter_mut(&mut world).next().unwrap().0 = 99.0;
    step(&mut world, &mut cap, 0);

    // After a resume, the stamp is the restored world's own.
    let r = restore(&store, &reg, &RestoreOptions::default()).unwrap();
    let mut resumed = r.world;
    let mut cap = Capturer::new(CaptureSettings::default(), r.meta.id + 1);
    cap.resume(&mut resumed, &reg, &r.meta, &r.chain);
    step(&mut resumed, &mut cap, 0);
    resumed.spawn(Tag(1));
    step(&mut resumed, &mut cap, 1);
}
