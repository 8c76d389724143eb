//! Criterion benches of dizzy's snapshot paths at small sizes (the
//! 1M-entity figures come from `dizzy bench snapshot`, which also measures
//! the baselines in the same run). Run with `cargo bench -p dizzy-tests`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dizzy::prelude::*;
use dizzy::snapshots::{RestoreOptions, Store, restore};
use dizzy_demos::particles::{self, Params, ParticlesPlugin};

const SIZES: [usize; 2] = [10_000, 100_000];

fn runtime(path: &std::path::Path, n: usize) -> Runtime {
    let mut rt = App::new()
        .db(path)
        .plugin(ParticlesPlugin::default())
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .expect("open");
    let params = Params {
        seed: 7,
        changed: 0.01,
    };
    rt.world_mut().insert_resource(params);
    particles::populate(rt.world_mut(), n, params.seed);
    rt
}

fn snapshots(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    for n in SIZES {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rt = runtime(&dir.path().join("b.redb"), n);
        g.bench_with_input(BenchmarkId::new("full_durable", n), &n, |b, _| {
            b.iter(|| {
                rt.snapshot_full().expect("full");
                rt.flush().expect("flush")
            })
        });
        g.bench_with_input(BenchmarkId::new("delta_durable_1pct", n), &n, |b, _| {
            b.iter(|| {
                rt.tick().expect("tick");
                rt.snapshot().expect("delta");
                rt.flush().expect("flush")
            })
        });
    }
    g.finish();
}

fn restores(c: &mut Criterion) {
    let mut g = c.benchmark_group("restore");
    g.sample_size(10);
    for n in SIZES {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.redb");
        let mut rt = runtime(&path, n);
        rt.snapshot_full().expect("full");
        rt.close().expect("close");
        let registry = App::new()
            .plugin(ParticlesPlugin { types_only: true })
            .registry_owned();
        let store = Store::open_to_read(&path).expect("store");
        g.bench_with_input(BenchmarkId::new("full", n), &n, |b, _| {
            b.iter(|| {
                black_box(restore(&store, &registry, &RestoreOptions::default()).expect("restore"))
            })
        });
    }
    g.finish();
}

fn ticks(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick");
    g.sample_size(10);
    for n in SIZES {
        let mut rt = App::new()
            .in_memory()
            .plugin(ParticlesPlugin::default())
            .snapshot_policy(SnapshotPolicy::OFF)
            .open()
            .expect("open");
        particles::populate(rt.world_mut(), n, 7);
        g.bench_with_input(BenchmarkId::new("particles", n), &n, |b, _| {
            b.iter(|| rt.tick().expect("tick"))
        });
    }
    g.finish();
}

criterion_group!(benches, snapshots, restores, ticks);
criterion_main!(benches);
