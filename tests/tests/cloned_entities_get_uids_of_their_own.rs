//! bevy's entity cloning never copies a `Uid`: a clone gets a fresh uid
//! from the allocator, like any new persisted entity, and a clone onto an
//! existing entity keeps that entity's own. Found by a fresh tester (a
//! brewery): `clone_and_spawn()` copied the uid, two live entities shared
//! it, the snapshot was written, and every later open refused the file as
//! corrupt ("a uid appears more than once").

use std::collections::BTreeMap;
use std::path::Path;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Keg(u32);

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Spare;

/// Every tick: each keg of an odd volume is cloned into a new entity, and
/// the first spare gets the components of the first keg cloned onto it.
fn refill(
    mut commands: Commands,
    kegs: Query<(Entity, &Uid, &Keg), Without<Spare>>,
    spares: Query<(Entity, &Uid), With<Spare>>,
) {
    let mut kegs: Vec<_> = kegs.iter().collect();
    kegs.sort_by_key(|(_, u, _)| **u);
    for (e, _, k) in &kegs {
        if k.0 % 2 == 1 {
            commands.entity(*e).clone_and_spawn().insert(Keg(k.0 + 1));
        }
    }
    let first_spare = spares.iter().min_by_key(|(_, u)| **u);
    if let (Some((keg, ..)), Some((spare, _))) = (kegs.first(), first_spare) {
        commands.entity(*keg).clone_with_opt_out(spare, |_| {});
    }
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Keg>("brewery.keg")
        .component::<Spare>("brewery.spare")
        .systems(refill)
        .snapshot_every_ticks(1)
}

/// Every entity with a uid, by uid; panics on a uid held twice or an index
/// that names another entity.
fn world_by_uid(rt: &mut Runtime) -> BTreeMap<u64, (Option<Keg>, bool)> {
    let world = rt.world_mut();
    let mut out = BTreeMap::new();
    let rows: Vec<(Entity, Uid, Option<Keg>, bool)> = world
        .query::<(Entity, &Uid, Option<&Keg>, Has<Spare>)>()
        .iter(world)
        .map(|(e, u, k, s)| (e, *u, k.cloned(), s))
        .collect();
    let uids = world.resource::<Uids>();
    for (e, u, k, s) in rows {
        assert_eq!(
            uids.entity(u.get()),
            Some(e),
            "the index names uid {u}'s entity"
        );
        assert!(out.insert(u.get(), (k, s)).is_none(), "uid {u} held twice");
    }
    out
}

#[test]
fn a_clone_gets_a_fresh_uid_and_the_file_reopens_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight.redb");
    let stepped = dir.path().join("stepped.redb");
    let seed = |rt: &mut Runtime| {
        rt.spawn(Keg(1));
        rt.spawn(Keg(3));
        rt.spawn(Spare);
    };

    let mut rt = app(&straight).open().unwrap();
    seed(&mut rt);
    for _ in 0..4 {
        rt.tick().unwrap();
    }
    let expected = world_by_uid(&mut rt);
    rt.close().unwrap();
    // Clones of clones: 3 seeds, and new kegs at every tick.
    assert!(expected.len() > 6, "{expected:?}");
    // The spare kept its uid and got the first keg's value.
    let spare = expected.values().filter(|(_, s)| *s).count();
    assert_eq!(spare, 1, "{expected:?}");
    assert!(
        expected.values().any(|(k, s)| *s && k.is_some()),
        "{expected:?}"
    );

    let mut reopened = app(&straight).open().expect("a file with clones reopens");
    assert_eq!(world_by_uid(&mut reopened), expected);
    reopened.close().unwrap();

    // Closed and reopened after every tick: the same world, by uid.
    let mut rt = app(&stepped).open().unwrap();
    seed(&mut rt);
    rt.close().unwrap();
    for _ in 0..4 {
        let mut rt = app(&stepped).open().unwrap();
        rt.tick().unwrap();
        rt.close().unwrap();
    }
    let mut rt = app(&stepped).open().unwrap();
    assert_eq!(world_by_uid(&mut rt), expected);
}

/// A `Uid` inserted by hand on a second entity while the first holds it is
/// refused by every later snapshot, `close()`'s too, with an error naming
/// the uid, and nothing of it is written: the file reopens at the snapshot
/// before.
#[test]
fn a_uid_held_by_two_entities_is_refused_by_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.redb");
    let app = || App::new().db(&db).component::<Keg>("brewery.keg");
    let mut rt = app().open().unwrap();
    let a = rt.spawn(Keg(1));
    let b = rt.spawn(Keg(2));
    rt.snapshot().unwrap();
    let committed = rt.flush().unwrap();
    let before = world_by_uid(&mut rt);
    let uid = *rt.world().get::<Uid>(a).unwrap();
    rt.world_mut().entity_mut(b).insert(uid);
    rt.world_mut().entity_mut(b).insert(Keg(3));
    let err = rt.snapshot().unwrap_err().to_string();
    assert!(
        err.contains(&format!("two live entities hold uid {uid}")),
        "{err}"
    );
    assert!(rt.snapshot().is_err(), "refused again");
    assert!(rt.close().is_err(), "close() writes nothing of it");

    let mut reopened = app().open().expect("the file reopens");
    assert_eq!(reopened.resumed_from(), committed);
    assert_eq!(world_by_uid(&mut reopened), before);
}
