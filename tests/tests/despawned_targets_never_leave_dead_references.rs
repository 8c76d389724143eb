//! An entity despawned while an unchanged value still names it never comes
//! back as a dead handle: a delta refuses that world as a full snapshot
//! does (`RefPolicy::Fail`, the default) or writes the value again with the
//! reference dropped (`RefPolicy::Drop`). The same holds for the values a
//! tool built without some plugin keeps (`Unknown::Keep`), by their recorded
//! shapes. A refused close loses nothing already committed.

use dizzy::Unknown;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Pallet(String);

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Manifest {
    #[entities]
    items: Vec<Entity>,
    note: String,
}

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Route {
    #[entities]
    from: Entity,
    #[entities]
    to: Option<Entity>,
    km: f32,
}

fn app(path: &std::path::Path, refs: RefPolicy) -> App {
    App::new()
        .db(path)
        .component::<Pallet>("d.pallet")
        .component::<Manifest>("d.manifest")
        .component::<Route>("d.route")
        .refs(refs)
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn names(w: &mut World, items: &[Entity]) -> Vec<String> {
    items
        .iter()
        .map(|&e| {
            if e == Entity::PLACEHOLDER {
                "dropped".to_owned()
            } else {
                w.get::<Pallet>(e)
                    .map_or_else(|| format!("dead {e:?}"), |p| p.0.clone())
            }
        })
        .collect()
}

fn manifests(run: &mut Runtime) -> Vec<Vec<String>> {
    let w = run.world_mut();
    let ms: Vec<Manifest> = w.query::<&Manifest>().iter(w).cloned().collect();
    ms.iter().map(|m| names(w, &m.items)).collect()
}

/// Writes pallets a, b and a manifest of both, then (after a full snapshot
/// when `delta`) despawns a and closes.
fn despawn_a(path: &std::path::Path, refs: RefPolicy, delta: bool) -> Result<(), String> {
    let mut run = app(path, refs).open().unwrap();
    let a = run.spawn(Pallet("a".into()));
    let b = run.spawn(Pallet("b".into()));
    run.spawn(Manifest {
        items: vec![a, b],
        note: "two".into(),
    });
    if delta {
        run.snapshot_full().unwrap();
        run.flush().unwrap();
    }
    run.world_mut().despawn(a);
    run.close().map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn a_delta_refuses_a_dead_reference_as_a_full_snapshot_does() {
    for delta in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.redb");
        let err = despawn_a(&path, RefPolicy::Fail, delta).unwrap_err();
        assert!(err.contains("d.manifest"), "names the component: {err}");
        if delta {
            // The full snapshot taken before is intact.
            let mut run = app(&path, RefPolicy::Fail).open().unwrap();
            assert_eq!(manifests(&mut run), vec![vec!["a", "b"]]);
        }
    }
}

#[test]
fn under_drop_the_reference_is_dropped_in_a_delta_too() {
    for delta in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.redb");
        despawn_a(&path, RefPolicy::Drop, delta).unwrap();
        let mut run = app(&path, RefPolicy::Drop).open().unwrap();
        assert_eq!(
            manifests(&mut run),
            vec![vec!["dropped", "b"]],
            "delta: {delta}"
        );
        // And the world saves again, in full.
        run.snapshot_full().unwrap();
        run.close().unwrap();
    }
}

fn tool(path: &std::path::Path, refs: RefPolicy) -> App {
    App::new()
        .db(path)
        .component::<Pallet>("d.pallet")
        .unknown_components(Unknown::Keep)
        .refs(refs)
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn routes(run: &mut Runtime) -> Vec<(String, Vec<String>, f32)> {
    let w = run.world_mut();
    let mut rs: Vec<Route> = w.query::<&Route>().iter(w).cloned().collect();
    rs.sort_by(|a, b| a.km.total_cmp(&b.km));
    rs.iter()
        .map(|r| {
            let from = names(w, &[r.from]).remove(0);
            let to = names(w, &r.to.into_iter().collect::<Vec<_>>());
            (from, to, r.km)
        })
        .collect()
}

#[test]
fn kept_values_of_an_unregistered_type_follow_the_policy() {
    for full in [false, true] {
        for refs in [RefPolicy::Fail, RefPolicy::Drop] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("w.redb");
            let mut run = app(&path, refs).open().unwrap();
            let a = run.spawn(Pallet("a".into()));
            let b = run.spawn(Pallet("b".into()));
            let c = run.spawn(Pallet("c".into()));
            run.spawn(Route {
                from: a,
                to: Some(b),
                km: 1.5,
            });
            run.spawn(Route {
                from: b,
                to: Some(a),
                km: 2.5,
            });
            run.spawn(Route {
                from: c,
                to: None,
                km: 3.5,
            });
            run.close().unwrap();

            // A tool without `Route` despawns pallet a.
            let mut t = tool(&path, refs).open().unwrap();
            let w = t.world_mut();
            let a = w
                .query::<(Entity, &Pallet)>()
                .iter(w)
                .find(|(_, p)| p.0 == "a")
                .map(|(e, _)| e)
                .unwrap();
            w.despawn(a);
            let closed = if full {
                t.snapshot_full().map(|_| ()).map_err(|e| e.to_string())
            } else {
                Ok(())
            }
            .and_then(|()| t.close().map(|_| ()).map_err(|e| e.to_string()));
            match refs {
                RefPolicy::Fail => {
                    let err = closed.unwrap_err();
                    assert!(err.contains("d.route"), "names the kept component: {err}");
                    // What was committed before still restores, whole.
                    let mut run = app(&path, refs).open().unwrap();
                    assert_eq!(routes(&mut run).len(), 3);
                }
                _ => {
                    closed.unwrap();
                    let mut run = app(&path, refs).open().unwrap();
                    assert_eq!(
                        routes(&mut run),
                        vec![
                            ("dropped".to_owned(), vec!["b".to_owned()], 1.5),
                            ("b".to_owned(), vec!["dropped".to_owned()], 2.5),
                            ("c".to_owned(), vec![], 3.5),
                        ],
                        "full snapshot in the tool: {full}"
                    );
                }
            }
        }
    }
}

/// A resource naming an entity (`#[entities]`).
#[derive(Resource, MapEntities, Serialize, Deserialize, Debug, Default)]
struct Favourite {
    #[entities]
    pallet: Option<Entity>,
}

/// A resource that did not change since the last snapshot, naming an
/// entity despawned since: a delta refuses it as a full snapshot does, or
/// under `Drop` writes it again with the reference dropped. Before, the
/// delta left it out, and the resumed world held a dead handle (found by a
/// fresh tester, a favourite flower).
#[test]
fn an_unchanged_resource_naming_a_despawned_entity_follows_the_policy_in_a_delta() {
    let dir = tempfile::tempdir().unwrap();
    for (k, refs) in [RefPolicy::Fail, RefPolicy::Drop].into_iter().enumerate() {
        let path = dir.path().join(format!("fav-{k}.redb"));
        let app = || app(&path, refs).resource("wh.favourite", Favourite::default());
        let mut run = app().open().unwrap();
        let p = run.spawn(Pallet("p1".into()));
        run.world_mut().resource_mut::<Favourite>().pallet = Some(p);
        run.snapshot().unwrap();
        run.flush().unwrap();
        run.world_mut().despawn(p);
        run.spawn(Pallet("p2".into()));
        let closed = run.close();
        let run = app().open().unwrap();
        let fav = run.world().resource::<Favourite>().pallet;
        match refs {
            RefPolicy::Fail => {
                let e = closed.expect_err("the delta is refused").to_string();
                assert!(e.contains("resource `wh.favourite`"), "{e}");
                // The file keeps the snapshot before: the favourite is p1.
                let fav = fav.expect("p1");
                assert_eq!(run.world().get::<Pallet>(fav), Some(&Pallet("p1".into())));
            }
            _ => {
                closed.unwrap();
                assert_eq!(fav, Some(Entity::PLACEHOLDER));
            }
        }
        run.close().unwrap();
    }
}
