use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;
use crate::{CaptureSettings, Capturer, Want, commit};

#[derive(Component, Serialize, Deserialize)]
struct Name(String);
#[derive(Component, Serialize, Deserialize)]
struct Link(#[entities] Entity);
#[derive(Component, Serialize, Deserialize)]
#[component(storage = "SparseSet")]
struct Tag(u8);
#[derive(Resource, Serialize, Deserialize)]
struct Clock(u64);

fn registry(with_name: bool) -> Registry {
    let mut r = Registry::new();
    if with_name {
        r.component::<Name>("name").unwrap();
    }
    r.component::<Link>("link").unwrap();
    r.component::<Tag>("tag").unwrap();
    r.resource::<Clock>("clock").unwrap();
    r
}

/// Snapshot 1 (full): a; b -> a; c, tagged, -> no entity. Snapshot 2
/// (delta): c despawned, b renamed and unlinked, d spawned tagged, the
/// clock ticks.
fn file(dir: &std::path::Path) -> Store {
    let store = Store::open(dir.join("i.redb")).unwrap();
    let reg = registry(true);
    let mut world = World::new();
    reg.install(&mut world);
    world.insert_resource(Clock(1));
    let a = world.spawn(Name("a".into())).id();
    let b = world.spawn((Name("b".into()), Link(a))).id();
    let c = world
        .spawn((Name("c".into()), Link(Entity::PLACEHOLDER), Tag(7)))
        .id();
    let settings = CaptureSettings {
        chunk_bytes: 64,
        ..CaptureSettings::default()
    };
    let mut cap = Capturer::new(settings, 1);
    let db = store.database().unwrap().clone();
    let full = cap.capture(&mut world, &reg, 1, Want::Full).unwrap();
    commit(&db, store.path(), &full).unwrap();
    world.despawn(c);
    world
        .entity_mut(b)
        .remove::<Link>()
        .insert(Name("b2".into()));
    world.spawn((Name("d".into()), Tag(9)));
    world.resource_mut::<Clock>().0 = 2;
    let delta = cap.capture(&mut world, &reg, 2, Want::Auto).unwrap();
    assert_eq!(delta.meta.kind, SnapshotKind::Delta);
    commit(&db, store.path(), &delta).unwrap();
    store
}

fn entity(i: &Inspection, uid: u64) -> Value {
    let c = &i.entities[&uid];
    Value::Object(
        c.iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or(json!("?"))))
            .collect(),
    )
}

#[test]
fn full_then_delta_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = file(dir.path());
    let reg = registry(true);
    let first = entities_at(&store, &reg, Some(1)).unwrap();
    assert_eq!(first.entities.len(), 3);
    assert_eq!(entity(&first, 2), json!({"name": "a"}));
    assert_eq!(entity(&first, 3), json!({"name": "b", "link": 2}));
    assert_eq!(
        entity(&first, 4),
        json!({"name": "c", "link": null, "tag": 7}),
        "a null reference is null; sparse components are read"
    );
    assert_eq!(first.resources["clock"], Some(json!(1)));

    let last = entities_at(&store, &reg, None).unwrap();
    assert_eq!(last.meta.id, 2);
    assert_eq!(last.chain, [1, 2]);
    let uids: Vec<u64> = last.entities.keys().copied().collect();
    assert_eq!(uids, [2, 3, 5]);
    assert_eq!(entity(&last, 3), json!({"name": "b2"}));
    assert_eq!(entity(&last, 5), json!({"name": "d", "tag": 9}));
    assert_eq!(last.resources["clock"], Some(json!(2)));
    assert!(last.undecodable.is_empty());

    // One inspector going forward applies the delta to what it has.
    let mut inspector = Inspector::new(&store, &reg, Decode::All).unwrap();
    inspector.at(Some(1)).unwrap();
    let again = inspector.at(Some(2)).unwrap();
    assert_eq!(again.entities, last.entities);
    let seen = inspector
        .first_seen(&BTreeSet::from([2, 5, 99]), 2)
        .unwrap();
    assert_eq!(seen, BTreeMap::from([(2, 1), (5, 2)]));
}

#[test]
fn only_the_uids_asked_for_are_kept_with_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = file(dir.path());
    let reg = registry(true);
    let whole = entities_at(&store, &reg, None).unwrap();
    let wanted = BTreeSet::from([3, 5, 4, 99]);
    let mut some = Inspector::new(&store, &reg, Decode::All)
        .unwrap()
        .only_uids(wanted);
    let first = some.at(Some(1)).unwrap();
    assert_eq!(first.entities.keys().copied().collect::<Vec<_>>(), [3, 4]);
    assert_eq!(
        entity(first, 4),
        json!({"name": "c", "link": null, "tag": 7})
    );
    // Forward to the delta: 4 despawned, 5 spawned, 3 changed.
    let last = some.at(Some(2)).unwrap();
    assert_eq!(last.entities.keys().copied().collect::<Vec<_>>(), [3, 5]);
    for uid in [3, 5] {
        assert_eq!(last.entities[&uid], whole.entities[&uid], "uid {uid}");
    }
    assert_eq!(last.resources, whole.resources);
}

#[test]
fn types_this_build_lacks_decode_by_their_recorded_shape() {
    let dir = tempfile::tempdir().unwrap();
    let store = file(dir.path());
    let reg = registry(false);
    let i = entities_at(&store, &reg, None).unwrap();
    assert_eq!(entity(&i, 3), json!({"name": "b2"}));
    assert!(i.undecodable.is_empty(), "{:?}", i.undecodable);

    // Nothing asked: presence only, and nothing reported missing.
    let mut presence = Inspector::new(&store, &reg, Decode::Nothing).unwrap();
    let p = presence.at(None).unwrap();
    assert!(p.undecodable.is_empty());
    assert_eq!(p.entities[&5].get("tag"), Some(&None));
    assert_eq!(p.entities[&5].get("name"), Some(&None));
    assert_eq!(p.entities[&2].len(), 1);
    assert_eq!(p.resources.get("clock"), Some(&None));

    // A reference read by its shape is the target's uid, and a
    // reference to no entity is null, as the registered type shows them.
    let mut no_link = Registry::new();
    no_link.component::<Name>("name").unwrap();
    no_link.component::<Tag>("tag").unwrap();
    let by_shape = entities_at(&store, &no_link, Some(1)).unwrap();
    let typed = entities_at(&store, &registry(true), Some(1)).unwrap();
    assert_eq!(entity(&by_shape, 3)["link"], json!(2));
    assert_eq!(entity(&by_shape, 4)["link"], Value::Null);
    for uid in [2, 3, 4] {
        assert_eq!(entity(&by_shape, uid), entity(&typed, uid), "uid {uid}");
    }
}

#[test]
fn unknown_snapshots_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = file(dir.path());
    let err = entities_at(&store, &registry(true), Some(9)).unwrap_err();
    assert!(
        matches!(err, RestoreError::UnknownSnapshot { id: 9, .. }),
        "{err}"
    );
}
