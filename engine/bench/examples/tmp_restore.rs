use dizzy::{App, SnapshotPolicy};
use dizzy_demos::particles::{self, Params, ParticlesPlugin};
use std::time::Instant;
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.redb");
    let params = Params {
        seed: 42,
        changed: 0.01,
    };
    let mut rt = App::new()
        .db(&path)
        .plugin(ParticlesPlugin::default())
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    rt.world_mut().insert_resource(params);
    particles::populate(rt.world_mut(), 1_000_000, 42);
    let full = rt.snapshot_full().unwrap();
    rt.flush().unwrap();
    rt.close().unwrap();
    let registry = App::new()
        .plugin(ParticlesPlugin { types_only: true })
        .try_registry()
        .unwrap();
    let n: usize = std::env::args().nth(1).map_or(10, |s| s.parse().unwrap());
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let store = dizzy_snapshots::Store::open_to_read(&path).unwrap();
        let r = dizzy_snapshots::restore(
            &store,
            &registry,
            &dizzy_snapshots::RestoreOptions {
                snapshot: full,
                ..Default::default()
            },
        )
        .unwrap();
        v.push(t.elapsed().as_secs_f64() * 1e3);
        drop((r, store));
    }
    println!(
        "{:?}",
        v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>()
    );
}
