//! Restoring decodes on rayon's threads while the calling thread spawns. A
//! restore started from inside a rayon pool — even a pool of one thread, the
//! one doing the restore — finishes with every entity, for declared
//! archetypes (one batch per group) and for any other set of components.

use dizzy::prelude::*;
use dizzy::snapshots::CaptureSettings;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Label(String);

#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
struct Weight(u32);

const ENTITIES: u32 = 5_000;

fn app(db: &std::path::Path, declared: bool) -> App {
    let app = App::new()
        .db(db)
        .component::<Label>("pool.label")
        .component::<Weight>("pool.weight")
        .snapshot_policy(SnapshotPolicy::OFF)
        // Small chunks: many units to decode.
        .capture_settings(CaptureSettings {
            chunk_bytes: 4096,
            ..Default::default()
        });
    if declared {
        app.archetype::<(Label, Weight)>()
    } else {
        app
    }
}

/// The labels and weights by uid.
fn contents(rt: &mut Runtime) -> Vec<(u64, String, u32)> {
    let mut q = rt.world_mut().query::<(&Uid, &Label, &Weight)>();
    let mut all: Vec<(u64, String, u32)> = q
        .iter(rt.world())
        .map(|(u, l, w)| (u.get(), l.0.clone(), w.0))
        .collect();
    all.sort();
    all
}

#[test]
fn restore_inside_a_pool_of_one_finishes_with_every_entity() {
    for declared in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pool.redb");
        let mut rt = app(&db, declared).open().unwrap();
        for i in 0..ENTITIES {
            rt.world_mut()
                .spawn((Label(format!("entity {i}")), Weight(i * 7)));
        }
        rt.snapshot_full().unwrap();
        rt.flush().unwrap();
        let expected = contents(&mut rt);
        rt.close().unwrap();
        assert_eq!(expected.len(), ENTITIES as usize);

        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut restored = pool.install(|| app(&db, declared).open().unwrap());
        assert_eq!(contents(&mut restored), expected, "declared: {declared}");
    }
}
