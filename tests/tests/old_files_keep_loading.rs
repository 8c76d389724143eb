//! Files written by earlier dizzy formats keep opening: `tests/fixtures`
//! holds a small file of each past format, written by the code of that time
//! with the types below, and this test restores each one exactly.
//!
//! To add a fixture for a new format: run this test once with
//! `DIZZY_WRITE_FIXTURE=<format>` (it writes `tests/fixtures/format-<format>.redb`
//! with the current code), commit the file, and list it in `FIXTURES`.

use std::path::PathBuf;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Place {
    name: String,
    height: i32,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Road {
    #[entities]
    to: Entity,
    km: f32,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(storage = "SparseSet")]
struct Capital;

#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Atlas {
    edition: u32,
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Place>("atlas.place")
        .component::<Road>("atlas.road")
        .component::<Capital>("atlas.capital")
        .resource("atlas.atlas", Atlas { edition: 0 })
        .snapshot_policy(SnapshotPolicy::OFF)
}

const FIXTURES: [u32; 3] = [1, 2, 3];

fn fixture(format: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/format-{format}.redb"))
}

/// Writes the fixture: a full snapshot, then a delta.
fn write(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    let mut rt = app(path).open().unwrap();
    let names = ["Lyon", "Paris", "Nantes", "Lille"];
    let ids: Vec<Entity> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            rt.spawn(Place {
                name: (*n).into(),
                height: 10 * i as i32,
            })
        })
        .collect();
    rt.world_mut().entity_mut(ids[1]).insert(Capital);
    rt.world_mut().entity_mut(ids[0]).insert(Road {
        to: ids[1],
        km: 465.0,
    });
    rt.world_mut().insert_resource(Atlas { edition: 1 });
    rt.snapshot_full().unwrap();
    rt.world_mut().entity_mut(ids[2]).insert(Road {
        to: ids[0],
        km: 683.5,
    });
    rt.world_mut().get_mut::<Place>(ids[3]).unwrap().height = 99;
    rt.world_mut().despawn(ids[3]);
    rt.world_mut().resource_mut::<Atlas>().edition = 2;
    rt.snapshot().unwrap();
    rt.close().unwrap();
}

/// What every fixture holds: (place name, height, road to, km, capital), and the atlas edition.
fn contents(rt: &mut Runtime) -> (Vec<(String, i32, Option<(String, f32)>, bool)>, u32) {
    let world = rt.world_mut();
    let mut rows: Vec<_> = world
        .query::<(&Place, Option<&Road>, Option<&Capital>)>()
        .iter(world)
        .map(|(p, r, c)| {
            let road = r.map(|r| {
                (
                    world
                        .get::<Place>(r.to)
                        .map(|p| p.name.clone())
                        .unwrap_or_default(),
                    r.km,
                )
            });
            (p.name.clone(), p.height, road, c.is_some())
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    (rows, world.resource::<Atlas>().edition)
}

#[test]
fn every_past_format_still_opens() {
    if let Ok(f) = std::env::var("DIZZY_WRITE_FIXTURE") {
        write(&fixture(f.parse().expect("a format number")));
    }
    for format in FIXTURES {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("old.redb");
        std::fs::copy(fixture(format), &copy).unwrap();
        let mut rt = app(&copy)
            .open()
            .unwrap_or_else(|e| panic!("format {format}: {e}"));
        assert_eq!(rt.resumed_from(), Some(2), "format {format}");
        let expected = vec![
            (
                "Lyon".to_owned(),
                0,
                Some(("Paris".to_owned(), 465.0)),
                false,
            ),
            (
                "Nantes".to_owned(),
                20,
                Some(("Lyon".to_owned(), 683.5)),
                false,
            ),
            ("Paris".to_owned(), 10, None, true),
        ];
        assert_eq!(contents(&mut rt), (expected.clone(), 2), "format {format}");
        // And it keeps working: snapshots of this format on top of the old
        // ones (a delta that spawns and despawns, then a full snapshot), read
        // back along with them.
        rt.world_mut().resource_mut::<Atlas>().edition = 3;
        rt.spawn(Place {
            name: "Brest".into(),
            height: 30,
        });
        let nantes = {
            let w = rt.world_mut();
            let mut q = w.query::<(Entity, &Place)>();
            q.iter(w).find(|(_, p)| p.name == "Nantes").unwrap().0
        };
        rt.world_mut().despawn(nantes);
        rt.tick().unwrap();
        let delta = rt.snapshot().unwrap().expect("a delta");
        let mut now = expected.clone();
        now.retain(|r| r.0 != "Nantes");
        now.insert(0, ("Brest".to_owned(), 30, None, false));
        assert_eq!(contents(&mut rt), (now.clone(), 3), "format {format}");
        rt.snapshot_full().unwrap();
        rt.close().unwrap();
        let mut again = app(&copy).open().unwrap();
        assert_eq!(contents(&mut again), (now.clone(), 3), "format {format}");
        again.close().unwrap();
        // The delta on the old full snapshot, without the new full one.
        let mut at_delta = app(&copy).at_snapshot(delta).open().unwrap();
        assert_eq!(contents(&mut at_delta), (now, 3), "format {format}");
    }
}
