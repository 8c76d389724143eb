//! A component that holds entity references, in a file opened by a build
//! that does not register it: `Unknown::Skip` opens without it;
//! `Unknown::Keep` carries its values through every later snapshot (full
//! and delta) with their references still naming the right entities, and a
//! later build that registers the type reads them back. Also: correlation
//! ids follow the uids of an import, and a version-2 build shows version-1
//! values migrated.

use dizzy::prelude::*;
use dizzy::snapshots::{ExportOptions, OnConflict, Selection};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Name(String);

/// A plugin's component, with a reference.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Follows {
    #[entities]
    target: Entity,
    since: u32,
}

fn with_plugin(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Name>("core.name")
        .component::<Follows>("plugin.follows")
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn without_plugin(db: &std::path::Path, unknown: dizzy::Unknown) -> App {
    App::new()
        .db(db)
        .component::<Name>("core.name")
        .unknown_components(unknown)
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn named(rt: &mut Runtime, name: &str) -> Entity {
    rt.world_mut()
        .query::<(Entity, &Name)>()
        .iter(rt.world())
        .find(|(_, n)| n.0 == name)
        .map(|(e, _)| e)
        .unwrap()
}

fn write(db: &std::path::Path) {
    let mut rt = with_plugin(db).open().unwrap();
    // Entities before the pair, so that uids and entity indices differ.
    for i in 0..5 {
        rt.spawn(Name(format!("filler{i}")));
    }
    let star = rt.spawn(Name("star".into()));
    rt.spawn((
        Name("fan".into()),
        Follows {
            target: star,
            since: 7,
        },
    ));
    rt.snapshot_full().unwrap();
    rt.close().unwrap();
}

#[test]
fn skip_opens_without_the_unknown_component() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.redb");
    write(&db);
    let mut rt = without_plugin(&db, dizzy::Unknown::Skip).open().unwrap();
    assert_eq!(rt.world().resource::<Uids>().len(), 7);
    let _ = named(&mut rt, "fan");
}

#[test]
fn keep_carries_references_through_later_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.redb");
    write(&db);
    {
        let mut rt = without_plugin(&db, dizzy::Unknown::Keep).open().unwrap();
        // Churn: despawn fillers and spawn new entities, with a full
        // snapshot and a delta written by this build.
        for i in 0..3 {
            let e = named(&mut rt, &format!("filler{i}"));
            rt.world_mut().despawn(e);
        }
        rt.spawn(Name("newcomer".into()));
        rt.snapshot_full().unwrap();
        rt.spawn(Name("another".into()));
        rt.snapshot().unwrap();
        rt.close().unwrap();
    }
    let mut rt = with_plugin(&db).open().unwrap();
    let fan = named(&mut rt, "fan");
    let star = named(&mut rt, "star");
    assert_eq!(
        rt.world().get::<Follows>(fan),
        Some(&Follows {
            target: star,
            since: 7
        }),
        "the kept value's reference still names the star"
    );
}

#[test]
fn imports_remap_correlation_ids_like_uids() {
    #[derive(Component, Serialize, Deserialize, Clone, Debug)]
    struct Experiment;
    #[derive(Component, Serialize, Deserialize, Clone, Debug)]
    struct Sample;
    let dir = tempfile::tempdir().unwrap();
    let app = |db: &str| {
        App::new()
            .db(dir.path().join(db))
            .component::<Experiment>("lab.experiment")
            .component::<Sample>("lab.sample")
    };
    let mut from = app("a.redb").open().unwrap();
    let exp = from.spawn(Experiment);
    from.world_mut()
        .run_system_once(move |mut c: Commands| {
            c.spawn_caused_by(exp, Sample);
            c.spawn_caused_by(exp, Sample);
        })
        .unwrap();
    let exp_uid = from.world().get::<Uid>(exp).unwrap().get();
    let bundle = from
        .export(&Selection::Correlation(exp_uid), &ExportOptions::default())
        .unwrap();
    assert_eq!(bundle.entities, 3);

    let mut to = app("b.redb").open().unwrap();
    // The target's own entities take the uids the bundle used.
    for _ in 0..5 {
        to.spawn(Sample);
    }
    let map = to
        .import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    let new_root = map[&exp_uid];
    assert_ne!(new_root, exp_uid, "the root's uid was taken and remapped");
    let world = to.world_mut();
    let mut q = world.query::<(&Uid, Option<&CorrelationId>)>();
    let with: Vec<(u64, Option<u64>)> = q
        .iter(world)
        .map(|(u, c)| (u.get(), c.map(|c| c.0)))
        .collect();
    let imported: Vec<&(u64, Option<u64>)> = with
        .iter()
        .filter(|(u, _)| map.values().any(|v| v == u))
        .collect();
    assert_eq!(imported.len(), 3);
    for (uid, c) in imported {
        assert_eq!(*c, Some(new_root), "uid {uid} follows its root's new uid");
    }
    for (uid, c) in with.iter().filter(|(u, _)| !map.values().any(|v| v == u)) {
        assert_ne!(
            *c,
            Some(new_root),
            "uid {uid} of the target is not in the tree"
        );
    }
}

use bevy_ecs::system::RunSystemOnce;
